//! The few Data_encoding binary forms used by the PVM state tree (`wasm-pvm.md` conventions):
//! `n` (unsigned LEB128), `z` (Zarith: sign bit 6 of the first byte), `int32` big-endian,
//! `string`/`bytes` with a 4-byte big-endian length prefix. `n` and `z` are
//! `context_hash::data_encoding`'s (the one implementation of the workspace).

use context_hash::data_encoding::{read_n, read_z, write_n, write_z};

/// Encode a natural number (`Data_encoding.n`).
pub(crate) fn n(v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    write_n(&mut out, v);
    out
}

/// Decode `Data_encoding.n`; the whole slice must be consumed.
pub(crate) fn de_n(b: &[u8]) -> Option<u128> {
    let (v, len) = read_n(b).ok()?;
    (len == b.len()).then_some(v)
}

/// Encode a non-negative integer as `Data_encoding.z`.
pub(crate) fn z(v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    write_z(&mut out, false, v);
    out
}

/// Decode a `Data_encoding.z` that must be non-negative; the whole slice must be consumed.
pub(crate) fn de_z(b: &[u8]) -> Option<u128> {
    let (negative, v, len) = read_z(b).ok()?;
    (!negative && len == b.len()).then_some(v)
}

/// `Data_encoding.string`/`bytes`: 4-byte BE length then the bytes.
pub(crate) fn string(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().saturating_add(4));
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
    out
}

/// Decode a length-prefixed string that spans the whole slice.
pub(crate) fn de_string(b: &[u8]) -> Option<&[u8]> {
    let (len, rest) = b.split_first_chunk::<4>()?;
    (u32::from_be_bytes(*len) as usize == rest.len()).then_some(rest)
}

/// Decode a big-endian `int32` spanning the whole slice.
pub(crate) fn de_i32(b: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes(b.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn n_and_z_vectors() {
        assert_eq!(n(0), [0]);
        assert_eq!(n(127), [0x7f]);
        assert_eq!(n(128), [0x80, 0x01]);
        assert_eq!(n(5000), [0x88, 0x27]);
        assert_eq!(z(0), [0]);
        assert_eq!(z(63), [0x3f]);
        assert_eq!(z(64), [0x80, 0x01]);
        assert_eq!(z(100), [0xa4, 0x01]);
        for v in [
            0u128,
            1,
            63,
            64,
            127,
            128,
            1001,
            5000,
            50_000_000_000_000,
            u64::MAX as u128,
        ] {
            assert_eq!(de_n(&n(v)), Some(v));
            assert_eq!(de_z(&z(v)), Some(v));
        }
        assert_eq!(de_n(&[0x80]), None);
        assert_eq!(de_n(&[0x00, 0x00]), None);
        assert_eq!(de_z(&[0x41]), None);
        assert_eq!(string(b"Some"), b"\0\0\0\x04Some");
        assert_eq!(de_string(b"\0\0\0\x04Some"), Some(&b"Some"[..]));
    }
}
