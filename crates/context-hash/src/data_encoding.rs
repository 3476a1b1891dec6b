//! Data_encoding's variable-length integers, the one implementation of the workspace.
//!
//! `n` is unsigned LEB128 (7-bit groups, least significant first, bit 7 set on every byte but
//! the last); Irmin's `Type.int` lengths in the hash pre-images are the same bytes. `z` puts the
//! sign in bit 6 of the first byte, which carries only 6 bits of the magnitude; the remaining
//! magnitude follows as `n` (`src/lib_data_encoding` `binary_writer.ml`/`binary_reader.ml`;
//! `docs/reference/wasm-pvm.md` conventions). The readers here accept a non-canonical trailing
//! zero group (callers that must reject it, as Data_encoding does, check it themselves).
//!
//! This module has no dependency at all, so every crate (`tezos-types`, `durable-tree`,
//! `wasm-pvm`) can use it without linking cryptography.

/// Why a variable-length integer could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarIntError {
    /// The input ended before a byte without the continuation bit.
    Truncated,
    /// The value does not fit the requested integer type (or has a group past bit 127).
    Overflow,
}

impl std::fmt::Display for VarIntError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VarIntError::Truncated => "truncated variable-length integer",
            VarIntError::Overflow => "variable-length integer out of range",
        })
    }
}

impl std::error::Error for VarIntError {}

/// Append `Data_encoding.n` (unsigned LEB128) of `v`.
pub fn write_n(out: &mut Vec<u8>, mut v: u128) {
    loop {
        // Truncation intended: the low 7 bits.
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Append `Data_encoding.n` of a `u64` ([`write_n`]).
#[inline]
pub fn write_n_u64(out: &mut Vec<u8>, v: u64) {
    // Hash pre-images and stored objects write several per object, nearly
    // all below 128 (one byte): that case is inlined at the caller.
    if v < 0x80 {
        // Fits: below 128.
        out.push(v as u8);
    } else {
        write_n_u64_long(out, v);
    }
}

/// [`write_n_u64`] of a value of two bytes or more: the same loop as
/// `write_n` on 64 bits.
#[inline(never)]
fn write_n_u64_long(out: &mut Vec<u8>, mut v: u64) {
    loop {
        // Truncation intended: the low 7 bits.
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Append `Data_encoding.z` of the integer with sign `negative` and absolute value `magnitude`
/// (a negative zero is written as zero).
pub fn write_z(out: &mut Vec<u8>, negative: bool, magnitude: u128) {
    // Truncation intended: the low 6 bits.
    let first = (magnitude & 0x3f) as u8;
    let sign = if negative && magnitude != 0 { 0x40 } else { 0 };
    let rest = magnitude >> 6;
    if rest == 0 {
        out.push(first | sign);
    } else {
        out.push(first | sign | 0x80);
        write_n(out, rest);
    }
}

/// Read `Data_encoding.n` at the start of `buf`: the value and the number of bytes it took.
pub fn read_n(buf: &[u8]) -> Result<(u128, usize), VarIntError> {
    let mut v: u128 = 0;
    for (i, &byte) in buf.iter().enumerate() {
        let group = u128::from(byte & 0x7f);
        // Bit position of this group: a group starting past bit 127 is refused, zero or not.
        let shift = u32::try_from(i)
            .ok()
            .and_then(|i| i.checked_mul(7))
            .filter(|&s| s < u128::BITS)
            .ok_or(VarIntError::Overflow)?;
        let part = group << shift;
        if part >> shift != group {
            return Err(VarIntError::Overflow);
        }
        v |= part;
        if byte & 0x80 == 0 {
            return Ok((v, i.checked_add(1).ok_or(VarIntError::Overflow)?));
        }
    }
    Err(VarIntError::Truncated)
}

/// [`read_n`] of a value that must fit a `u64`.
pub fn read_n_u64(buf: &[u8]) -> Result<(u64, usize), VarIntError> {
    let (v, len) = read_n(buf)?;
    Ok((u64::try_from(v).map_err(|_| VarIntError::Overflow)?, len))
}

/// Read `Data_encoding.z` at the start of `buf`: `(negative, magnitude, bytes taken)`.
pub fn read_z(buf: &[u8]) -> Result<(bool, u128, usize), VarIntError> {
    let (&first, rest) = buf.split_first().ok_or(VarIntError::Truncated)?;
    let negative = first & 0x40 != 0;
    let low = u128::from(first & 0x3f);
    if first & 0x80 == 0 {
        return Ok((negative, low, 1));
    }
    let (high, len) = read_n(rest)?;
    let shifted = high.checked_shl(6).ok_or(VarIntError::Overflow)?;
    if shifted >> 6 != high {
        return Err(VarIntError::Overflow);
    }
    Ok((
        negative,
        shifted | low,
        len.checked_add(1).ok_or(VarIntError::Overflow)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(v: u128) -> Vec<u8> {
        let mut out = Vec::new();
        write_n(&mut out, v);
        out
    }

    fn z(negative: bool, v: u128) -> Vec<u8> {
        let mut out = Vec::new();
        write_z(&mut out, negative, v);
        out
    }

    #[test]
    fn vectors() {
        assert_eq!(n(0), [0]);
        assert_eq!(n(127), [0x7f]);
        assert_eq!(n(128), [0x80, 0x01]);
        assert_eq!(n(5000), [0x88, 0x27]);
        assert_eq!(z(false, 0), [0]);
        assert_eq!(z(false, 63), [0x3f]);
        assert_eq!(z(false, 64), [0x80, 0x01]);
        assert_eq!(z(false, 100), [0xa4, 0x01]);
        assert_eq!(z(true, 1), [0x41]);
        assert_eq!(z(true, 64), [0xc0, 0x01]);
        assert_eq!(z(true, 0), [0]);
        for v in [0, 1, 127, 128, 300, 16_383, 16_384, 1 << 63, u64::MAX] {
            let mut u = Vec::new();
            write_n_u64(&mut u, v);
            assert_eq!(u, n(u128::from(v)), "{v}");
        }
    }

    #[test]
    fn round_trips_and_errors() {
        for v in [
            0u128,
            1,
            63,
            64,
            127,
            128,
            5000,
            u128::from(u64::MAX),
            u128::MAX,
        ] {
            let b = n(v);
            assert_eq!(read_n(&b), Ok((v, b.len())));
            for neg in [false, true] {
                let b = z(neg, v);
                assert_eq!(read_z(&b), Ok((neg && v != 0, v, b.len())));
            }
        }
        assert_eq!(read_n(&[0x80]), Err(VarIntError::Truncated));
        assert_eq!(read_n(&[]), Err(VarIntError::Truncated));
        assert_eq!(read_z(&[]), Err(VarIntError::Truncated));
        // Trailing bytes are left to the caller; a non-canonical zero group is accepted.
        assert_eq!(read_n(&[0x05, 0xff]), Ok((5, 1)));
        assert_eq!(read_n(&[0x80, 0x00]), Ok((0, 2)));
        // One bit past u128, and past u64.
        let mut big = vec![0xff; 18];
        big.push(0x04);
        assert_eq!(read_n(&big), Err(VarIntError::Overflow));
        let b = n(u128::from(u64::MAX) + 1);
        assert_eq!(read_n_u64(&b), Err(VarIntError::Overflow));
        assert_eq!(read_n_u64(&n(7)), Ok((7, 1)));
    }
}
