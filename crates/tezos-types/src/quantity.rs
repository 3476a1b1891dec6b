//! One type per quantity: [`Level`] (an L1 level, Octez `Raw_level`: a non-negative `int32`)
//! and [`Tick`] (a PVM tick count, Octez `Z`, non-negative; 128 bits here, as the WASM PVM
//! stores `current_tick`). Arithmetic is checked and returns `Option` (`None` on overflow or
//! underflow); conversions to and from machine integers never wrap (`docs/reference/
//! l1-and-signer.md` §0, `docs/reference/wasm-pvm.md` §7).
//!
//! Formats, as Octez prints them (`docs/reference/octez-rollup-node.md` §4.2 and §6.1, the
//! OpenAPI file `testdata/octez-rollup-node-openapi.json`): a level is a JSON integer and a
//! binary `int32`; a tick count is a decimal JSON string (`Z`/`N`, or `int64` for a
//! commitment's `number_of_ticks`) and a binary Zarith `n`. A negative level or tick is a
//! decode error.

// The types that make the other crates' level and tick arithmetic checked: none here either.
#![deny(clippy::arithmetic_side_effects, clippy::cast_possible_wrap)]

use std::fmt;

use num_bigint::BigUint;
use serde::{Deserialize, Deserializer, Serialize, Serializer, de::Error as _};

use crate::encoding::{
    BinDecode, BinEncode, DecodeError, DecodeErrorKind, DecodeResult, Reader, Writer,
};

/// A machine integer that is not a valid [`Level`] or [`Tick`] (negative, or too large).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{value} is not a valid {what} (expected 0 ..= {max})")]
pub struct OutOfRange {
    /// `"level"` or `"tick count"`.
    pub what: &'static str,
    /// The value, in decimal.
    pub value: i128,
    /// The largest valid value, in decimal.
    pub max: u128,
}

impl OutOfRange {
    fn level(value: i128) -> Self {
        OutOfRange {
            what: "level",
            value,
            max: i32::MAX.unsigned_abs().into(),
        }
    }
}

/// An L1 block level: `0 ..= i32::MAX` (Octez `Raw_level.t`, encoded as `int32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Level(i32);

impl Level {
    /// Level 0 (genesis).
    pub const ZERO: Level = Level(0);
    /// The largest level, `i32::MAX`.
    pub const MAX: Level = Level(i32::MAX);

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

    /// `self + n`, clamped at `i32::MAX` (for bounds such as "LCC + lookahead" that only
    /// compare with other levels).
    pub fn saturating_add(self, n: u32) -> Level {
        Level(
            i32::try_from(n)
                .ok()
                .and_then(|n| self.0.checked_add(n))
                .unwrap_or(i32::MAX),
        )
    }

    /// The next level, `None` past `i32::MAX`.
    pub fn succ(self) -> Option<Level> {
        self.checked_add(1)
    }

    /// The previous level, `None` at level 0.
    pub fn pred(self) -> Option<Level> {
        self.checked_sub(1)
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

/// Lossless: every `u8` is a level.
impl From<u8> for Level {
    fn from(v: u8) -> Level {
        Level(i32::from(v))
    }
}

/// Lossless: every `u16` is a level.
impl From<u16> for Level {
    fn from(v: u16) -> Level {
        Level(i32::from(v))
    }
}

impl TryFrom<i32> for Level {
    type Error = OutOfRange;
    fn try_from(v: i32) -> Result<Level, OutOfRange> {
        Level::new(v).ok_or(OutOfRange::level(v.into()))
    }
}

impl TryFrom<u32> for Level {
    type Error = OutOfRange;
    fn try_from(v: u32) -> Result<Level, OutOfRange> {
        Level::from_u32(v).ok_or(OutOfRange::level(v.into()))
    }
}

impl TryFrom<i64> for Level {
    type Error = OutOfRange;
    fn try_from(v: i64) -> Result<Level, OutOfRange> {
        Level::from_i64(v).ok_or(OutOfRange::level(v.into()))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    /// A decimal level, as typed on a command line or in an RPC path.
    fn from_str(s: &str) -> Result<Level, String> {
        let v: i64 = s
            .trim()
            .parse()
            .map_err(|_| format!("invalid level {s:?}: expected a decimal integer"))?;
        Level::try_from(v).map_err(|e| e.to_string())
    }
}

/// JSON: an integer, as Octez prints `Raw_level` (l1-and-signer.md §0).
impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(self.0)
    }
}

/// JSON: an `int32` integer; a negative level is an error.
impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Level, D::Error> {
        let v = i32::deserialize(d)?;
        Level::try_from(v).map_err(D::Error::custom)
    }
}

/// Binary: `int32` big-endian.
impl BinEncode for Level {
    fn bin_write(&self, w: &mut Writer) {
        w.i32(self.0);
    }
}

/// Binary: `int32` big-endian; a negative level is [`DecodeErrorKind::Overflow`].
impl BinDecode for Level {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Level> {
        let offset = r.position();
        let v = r.i32()?;
        Level::new(v).ok_or(DecodeError {
            offset,
            kind: DecodeErrorKind::Overflow("level (negative)"),
        })
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

    /// `self * n`, `None` past `u128::MAX`.
    pub fn checked_mul(self, n: u128) -> Option<Tick> {
        self.0.checked_mul(n).map(Tick)
    }

    /// `self / n`, `None` when `n` is 0.
    pub fn checked_div(self, n: u128) -> Option<Tick> {
        self.0.checked_div(n).map(Tick)
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

impl TryFrom<i64> for Tick {
    type Error = OutOfRange;
    fn try_from(v: i64) -> Result<Tick, OutOfRange> {
        Tick::from_i64(v).ok_or(OutOfRange {
            what: "tick count",
            value: v.into(),
            max: u128::MAX,
        })
    }
}

/// For a commitment's `number_of_ticks` (`int64`, docs/reference/octez-rollup-node.md §6.1).
impl TryFrom<Tick> for i64 {
    type Error = OutOfRange;
    fn try_from(t: Tick) -> Result<i64, OutOfRange> {
        t.to_i64().ok_or(OutOfRange {
            what: "int64 tick count",
            value: i128::try_from(t.0).unwrap_or(i128::MAX),
            max: i64::MAX.unsigned_abs().into(),
        })
    }
}

impl fmt::Display for Tick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Tick {
    type Err = String;
    /// A decimal tick count (no sign).
    fn from_str(s: &str) -> Result<Tick, String> {
        let t = s.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "invalid tick count {s:?}: expected a non-negative decimal integer"
            ));
        }
        t.parse::<u128>()
            .map(Tick)
            .map_err(|_| format!("tick count {s:?} exceeds {}", u128::MAX))
    }
}

/// JSON: a decimal string, as Octez prints `Z`/`N`/`int64` tick counts.
impl Serialize for Tick {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// JSON: a decimal string (or a JSON number); a negative count is an error.
impl<'de> Deserialize<'de> for Tick {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Tick, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum StrOrNum {
            Str(String),
            U(u64),
            I(i64),
        }
        match StrOrNum::deserialize(d)? {
            StrOrNum::Str(s) => s.parse().map_err(D::Error::custom),
            StrOrNum::U(u) => Ok(Tick::from(u)),
            StrOrNum::I(i) => Tick::try_from(i).map_err(D::Error::custom),
        }
    }
}

/// Binary: Zarith `n` (`Sc_rollup_tick_repr`).
impl BinEncode for Tick {
    fn bin_write(&self, w: &mut Writer) {
        w.n_big(&BigUint::from(self.0));
    }
}

/// Binary: Zarith `n`; above `u128::MAX` is [`DecodeErrorKind::Overflow`].
impl BinDecode for Tick {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Tick> {
        let offset = r.position();
        let v = r.n_big()?;
        u128::try_from(v).map(Tick).map_err(|_| DecodeError {
            offset,
            kind: DecodeErrorKind::Overflow("tick (u128)"),
        })
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
        assert_eq!(l.saturating_add(u32::MAX), max);
        assert_eq!(l.saturating_add(3), Level::new(155).unwrap());
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
        assert!(i64::try_from(Tick::new(1 << 63)).is_err());
        assert_eq!(
            i64::try_from(Tick::new(880_000_000_000)),
            Ok(880_000_000_000)
        );
        assert!(Tick::try_from(-3i64).is_err());
        assert_eq!(Tick::new(10).checked_div(0), None);
        assert_eq!(Tick::new(u128::MAX).checked_mul(2), None);
    }

    #[test]
    fn level_conversions_reject_out_of_range() {
        assert!(Level::try_from(-1i32).is_err());
        assert!(Level::try_from(u32::MAX).is_err());
        assert!(Level::try_from(1i64 << 31).is_err());
        assert_eq!(Level::try_from(7u32), Ok(Level::new(7).unwrap()));
        assert_eq!(Level::from(u16::MAX).to_u32(), 65_535);
        assert_eq!(Level::ZERO.pred(), None);
        assert_eq!(Level::new(1).unwrap().pred(), Some(Level::ZERO));
        assert_eq!("42".parse::<Level>(), Ok(Level::new(42).unwrap()));
        let e = "-1".parse::<Level>().unwrap_err();
        assert!(e.contains("not a valid level"), "{e}");
    }

    #[test]
    fn level_json_and_binary_match_octez() {
        let l = Level::new(64).unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), "64");
        assert_eq!(serde_json::from_str::<Level>("64").unwrap(), l);
        let e = serde_json::from_str::<Level>("-2").unwrap_err().to_string();
        assert!(e.contains("not a valid level"), "{e}");
        assert!(serde_json::from_str::<Level>("\"64\"").is_err());
        assert_eq!(l.to_bin(), [0, 0, 0, 64]);
        assert_eq!(
            Level::from_bin(&[0, 0, 1, 0]).unwrap(),
            Level::new(256).unwrap()
        );
        let e = Level::from_bin(&[0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert!(matches!(e.kind, DecodeErrorKind::Overflow(_)), "{e}");
    }

    #[test]
    fn tick_json_and_binary_match_octez() {
        let t = Tick::new(450_000_000_000_000);
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"450000000000000\"");
        assert_eq!(
            serde_json::from_str::<Tick>("\"450000000000000\"").unwrap(),
            t
        );
        assert_eq!(serde_json::from_str::<Tick>("28").unwrap(), Tick::new(28));
        assert!(serde_json::from_str::<Tick>("\"-1\"").is_err());
        assert!(serde_json::from_str::<Tick>("-1").is_err());
        assert!(serde_json::from_str::<Tick>("\"+1\"").is_err());
        // Zarith `n`: 7-bit groups, little-endian, high bit = continuation.
        assert_eq!(Tick::new(300).to_bin(), [0xac, 0x02]);
        assert_eq!(Tick::from_bin(&[0xac, 0x02]).unwrap(), Tick::new(300));
        let big = Tick::new(u128::MAX);
        assert_eq!(Tick::from_bin(&big.to_bin()).unwrap(), big);
        let mut over = vec![0xff; 19];
        over.push(0x7f);
        assert!(Tick::from_bin(&over).is_err());
    }
}
