//! One type per quantity: [`Level`] (an L1 level, Octez `Raw_level`: a non-negative `int32`)
//! and [`Tick`] (a PVM tick count, Octez `Z`, non-negative; 128 bits here, as the WASM PVM
//! stores `current_tick`). Arithmetic is checked and returns `Option` (`None` on overflow or
//! underflow); conversions to and from machine integers never wrap (`docs/reference/
//! l1-and-signer.md` §0, `docs/reference/wasm-pvm.md` §7).

use std::fmt;

/// An L1 block level: `0 ..= i32::MAX` (Octez `Raw_level.t`, encoded as `int32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Level(i32);

impl Level {
    /// Level 0 (genesis).
    pub const ZERO: Level = Level(0);

    /// The level `v`, `None` when negative.
    pub const fn new(v: i32) -> Option<Level> {
        if v < 0 { None } else { Some(Level(v)) }
    }

    /// The level as Octez encodes it (`int32`).
    pub const fn get(self) -> i32 {
        self.0
    }

    /// The level as a `u32` (lossless: levels are non-negative).
    pub const fn to_u32(self) -> u32 {
        self.0.unsigned_abs()
    }

    /// The level `v`, `None` above `i32::MAX`.
    pub fn from_u32(v: u32) -> Option<Level> {
        i32::try_from(v).ok().map(Level)
    }

    /// The level `v`, `None` when negative or above `i32::MAX`.
    pub fn from_i64(v: i64) -> Option<Level> {
        i32::try_from(v).ok().and_then(Level::new)
    }

    /// `self + n`, `None` past `i32::MAX`.
    pub fn checked_add(self, n: u32) -> Option<Level> {
        self.0
            .checked_add(i32::try_from(n).ok()?)
            .and_then(Level::new)
    }

    /// `self - n`, `None` below 0.
    pub fn checked_sub(self, n: u32) -> Option<Level> {
        self.0
            .checked_sub(i32::try_from(n).ok()?)
            .and_then(Level::new)
    }

    /// The next level, `None` past `i32::MAX`.
    pub fn succ(self) -> Option<Level> {
        self.checked_add(1)
    }

    /// `self - earlier` as a distance, `None` when `earlier > self`.
    pub fn distance_from(self, earlier: Level) -> Option<u32> {
        u32::try_from(self.0.checked_sub(earlier.0)?).ok()
    }
}

impl From<Level> for i32 {
    fn from(l: Level) -> i32 {
        l.0
    }
}

impl From<Level> for i64 {
    fn from(l: Level) -> i64 {
        i64::from(l.0)
    }
}

impl From<Level> for u32 {
    fn from(l: Level) -> u32 {
        l.to_u32()
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A number of PVM ticks (or a tick index): non-negative, 128 bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Tick(u128);

impl Tick {
    /// No tick.
    pub const ZERO: Tick = Tick(0);
    /// One tick.
    pub const ONE: Tick = Tick(1);

    /// `v` ticks.
    pub const fn new(v: u128) -> Tick {
        Tick(v)
    }

    /// The count.
    pub const fn get(self) -> u128 {
        self.0
    }

    /// `self + other`, `None` past `u128::MAX`.
    pub fn checked_add(self, other: Tick) -> Option<Tick> {
        self.0.checked_add(other.0).map(Tick)
    }

    /// `self - other`, `None` below 0.
    pub fn checked_sub(self, other: Tick) -> Option<Tick> {
        self.0.checked_sub(other.0).map(Tick)
    }

    /// The count as an `i64` (the node's SQLite column, Octez JSON `int64` strings), `None`
    /// above `i64::MAX`.
    pub fn to_i64(self) -> Option<i64> {
        i64::try_from(self.0).ok()
    }

    /// The count `v`, `None` when negative (a corrupt stored value, never read as 0).
    pub fn from_i64(v: i64) -> Option<Tick> {
        u128::try_from(v).ok().map(Tick)
    }
}

impl From<u64> for Tick {
    fn from(v: u64) -> Tick {
        Tick(u128::from(v))
    }
}

impl From<Tick> for u128 {
    fn from(t: Tick) -> u128 {
        t.0
    }
}

impl fmt::Display for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_never_wrap() {
        assert_eq!(Level::new(-1), None);
        let max = Level::new(i32::MAX).unwrap();
        assert_eq!(max.succ(), None);
        assert_eq!(max.to_u32(), 2_147_483_647);
        assert_eq!(Level::ZERO.checked_sub(1), None);
        assert_eq!(Level::from_u32(u32::MAX), None);
        assert_eq!(Level::from_i64(-5), None);
        assert_eq!(Level::from_i64(i64::MAX), None);
        let l = Level::new(152).unwrap();
        assert_eq!(l.checked_add(150), Level::new(302));
        assert_eq!(l.checked_sub(150), Level::new(2));
        assert_eq!(l.checked_add(u32::MAX), None);
        assert_eq!(l.distance_from(Level::new(2).unwrap()), Some(150));
        assert_eq!(Level::new(2).unwrap().distance_from(l), None);
        assert_eq!(i64::from(l), 152);
        assert_eq!(l.to_string(), "152");
    }

    #[test]
    fn ticks_never_wrap() {
        assert_eq!(Tick::new(u128::MAX).checked_add(Tick::ONE), None);
        assert_eq!(Tick::ZERO.checked_sub(Tick::ONE), None);
        assert_eq!(
            Tick::from(7u64).checked_sub(Tick::new(2)),
            Some(Tick::new(5))
        );
        assert_eq!(Tick::from_i64(-1), None);
        assert_eq!(
            Tick::from_i64(11_000_000_000),
            Some(Tick::new(11_000_000_000))
        );
        assert_eq!(Tick::new(u128::from(u64::MAX)).to_i64(), None);
        assert_eq!(Tick::new(42).to_i64(), Some(42));
    }
}
