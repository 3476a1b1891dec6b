//! Octez `Data_encoding` binary primitives: a bounded [`Reader`] and an append-only [`Writer`].
//!
//! Rules (l1-and-signer.md §0): integers are big-endian; `bool` is `0x00`/`0xff`; Zarith `n`/`z`
//! are 7 bits per byte with the high bit as continuation (`z` keeps the sign in bit 6 of the
//! first byte) and no trailing zero byte; dynamic sizes (`bytes`, `string`, `list`, `dynamic`)
//! are a 4-byte big-endian byte length (≤ 2^30 − 1); `opt` object fields use `0x00`/`0xff`
//! while stand-alone `option` uses `0x00`/`0x01` (§8 gotcha 4).
//!
//! Decoding never panics: every failure is a [`DecodeError`] carrying the byte offset.

use context_hash::data_encoding;
use num_bigint::{BigInt, BigUint, Sign};

/// Largest length accepted by a 4-byte dynamic size prefix (`uint30`).
pub const MAX_DYNAMIC_LEN: usize = (1 << 30) - 1;

/// What went wrong while decoding.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The input ended early.
    #[error("unexpected end of input: needed {needed} bytes, {available} available")]
    UnexpectedEnd {
        /// Bytes the field needed.
        needed: usize,
        /// Bytes left in the current (possibly dynamic) section.
        available: usize,
    },
    /// Bytes were left after the value (or after a dynamic section's content).
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// An unknown union tag / enum index.
    #[error("invalid tag {tag} for {what}")]
    InvalidTag {
        /// The type being decoded.
        what: &'static str,
        /// The tag read.
        tag: u32,
    },
    /// A boolean byte other than `0x00`/`0xff`.
    #[error("invalid boolean byte {0:#04x}")]
    InvalidBool(u8),
    /// A Zarith number with a trailing zero byte (non-canonical).
    #[error("non-canonical Zarith number (trailing zero)")]
    NonCanonicalZarith,
    /// A number too large for its target type.
    #[error("number out of range for {0}")]
    Overflow(&'static str),
    /// A length prefix larger than `2^30 − 1`.
    #[error("length {0} exceeds the uint30 limit")]
    LengthTooLarge(u64),
    /// Any other semantic check (invalid UTF-8, bad key, ...).
    #[error("invalid {0}")]
    Invalid(String),
}

/// A decoding failure at a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("decode error at byte {offset}: {kind}")]
pub struct DecodeError {
    /// Offset in the input where the failing field started.
    pub offset: usize,
    /// The failure.
    pub kind: DecodeErrorKind,
}

/// Result alias for decoding.
pub type DecodeResult<T> = Result<T, DecodeError>;

/// A cursor over input bytes with a movable end (for dynamic-size sections).
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `data` from its first byte.
    pub fn new(data: &'a [u8]) -> Self {
        Reader {
            data,
            pos: 0,
            end: data.len(),
        }
    }

    /// Current offset from the start of the input.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Moves back to an earlier offset (within the current section).
    pub(crate) fn rewind_to(&mut self, pos: usize) {
        debug_assert!(pos <= self.pos);
        self.pos = pos.min(self.pos);
    }

    /// Bytes left in the current section.
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    /// Whether the current section is exhausted.
    pub fn is_empty(&self) -> bool {
        self.pos == self.end
    }

    /// An error at the current position.
    pub fn error(&self, kind: DecodeErrorKind) -> DecodeError {
        DecodeError {
            offset: self.pos,
            kind,
        }
    }

    /// An [`DecodeErrorKind::Invalid`] error at the current position.
    pub fn invalid(&self, what: impl Into<String>) -> DecodeError {
        self.error(DecodeErrorKind::Invalid(what.into()))
    }

    /// Fails unless the current section is exhausted.
    pub fn finish(&self) -> DecodeResult<()> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self.error(DecodeErrorKind::TrailingBytes(self.remaining())))
        }
    }

    /// Takes the next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> DecodeResult<&'a [u8]> {
        if n > self.remaining() {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd {
                needed: n,
                available: self.remaining(),
            }));
        }
        let out = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes the rest of the current section (`Variable.bytes`).
    pub fn rest(&mut self) -> &'a [u8] {
        let out = &self.data[self.pos..self.end];
        self.pos = self.end;
        out
    }

    /// Takes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> DecodeResult<[u8; N]> {
        let b = self.bytes(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// Looks at the next byte without consuming it.
    pub fn peek_u8(&self) -> DecodeResult<u8> {
        self.data[..self.end].get(self.pos).copied().ok_or_else(|| {
            self.error(DecodeErrorKind::UnexpectedEnd {
                needed: 1,
                available: 0,
            })
        })
    }

    /// `uint8`.
    pub fn u8(&mut self) -> DecodeResult<u8> {
        Ok(self.array::<1>()?[0])
    }
    /// `int8`.
    pub fn i8(&mut self) -> DecodeResult<i8> {
        Ok(i8::from_be_bytes(self.array()?))
    }
    /// `uint16`.
    pub fn u16(&mut self) -> DecodeResult<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    /// `int16`.
    pub fn i16(&mut self) -> DecodeResult<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }
    /// `int32`.
    pub fn i32(&mut self) -> DecodeResult<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    /// Unsigned 32-bit big-endian.
    pub fn u32(&mut self) -> DecodeResult<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    /// `int31`: an `int32` that must lie in `[-2^30, 2^30 - 1]`.
    pub fn int31(&mut self) -> DecodeResult<i32> {
        let start = self.pos;
        let v = self.i32()?;
        if !(-(1 << 30)..(1 << 30)).contains(&v) {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::Overflow("int31"),
            });
        }
        Ok(v)
    }
    /// `int64`.
    pub fn i64(&mut self) -> DecodeResult<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// Unsigned 64-bit big-endian.
    pub fn u64(&mut self) -> DecodeResult<u64> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// `bool`: `0x00` false, `0xff` true.
    pub fn bool(&mut self) -> DecodeResult<bool> {
        let start = self.pos;
        match self.u8()? {
            0x00 => Ok(false),
            0xff => Ok(true),
            b => Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::InvalidBool(b),
            }),
        }
    }

    /// A 4-byte dynamic-size length (`uint30`), checked against the section.
    pub fn dynamic_len(&mut self) -> DecodeResult<usize> {
        let start = self.pos;
        let len = self.u32()?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_DYNAMIC_LEN {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::LengthTooLarge(len as u64),
            });
        }
        if len > self.remaining() {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::UnexpectedEnd {
                    needed: len,
                    available: self.remaining(),
                },
            });
        }
        Ok(len)
    }

    /// Runs `f` on a section of exactly `len` bytes, which it must consume entirely.
    pub fn sized<T>(
        &mut self,
        len: usize,
        f: impl FnOnce(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<T> {
        if len > self.remaining() {
            return Err(self.error(DecodeErrorKind::UnexpectedEnd {
                needed: len,
                available: self.remaining(),
            }));
        }
        let saved_end = self.end;
        self.end = self.pos + len;
        let out = f(self);
        let out = out.and_then(|v| self.finish().map(|()| v));
        self.end = saved_end;
        out
    }

    /// `dynamic_size e`: a 4-byte length then `e` over exactly that many bytes.
    pub fn dynamic<T>(&mut self, f: impl FnOnce(&mut Self) -> DecodeResult<T>) -> DecodeResult<T> {
        let len = self.dynamic_len()?;
        self.sized(len, f)
    }

    /// `bytes` (dynamic): 4-byte length + raw bytes.
    pub fn dyn_bytes(&mut self) -> DecodeResult<&'a [u8]> {
        let len = self.dynamic_len()?;
        self.bytes(len)
    }

    /// `string` (dynamic), checked as UTF-8.
    pub fn dyn_string(&mut self) -> DecodeResult<String> {
        let start = self.pos;
        let b = self.dyn_bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError {
            offset: start,
            kind: DecodeErrorKind::Invalid("UTF-8 string".into()),
        })
    }

    /// `list e` (dynamic): a 4-byte byte length then elements until the section ends.
    pub fn dyn_list<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        self.dynamic(|r| r.list_to_end(&mut f))
    }

    /// `Variable.list e`: elements until the end of the current section.
    pub fn list_to_end<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Vec<T>> {
        let mut out = Vec::new();
        while !self.is_empty() {
            let before = self.pos;
            out.push(f(self)?);
            if self.pos == before {
                return Err(self.invalid("list element of size zero"));
            }
        }
        Ok(out)
    }

    /// `opt` object field: `0x00` absent, `0xff` present.
    pub fn opt_field<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Option<T>> {
        let start = self.pos;
        match self.u8()? {
            0x00 => Ok(None),
            0xff => f(self).map(Some),
            t => Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::InvalidTag {
                    what: "optional field",
                    tag: t.into(),
                },
            }),
        }
    }

    /// Stand-alone `option e`: `0x00` None, `0x01` Some.
    pub fn option<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> DecodeResult<T>,
    ) -> DecodeResult<Option<T>> {
        let start = self.pos;
        match self.u8()? {
            0x00 => Ok(None),
            0x01 => f(self).map(Some),
            t => Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::InvalidTag {
                    what: "option",
                    tag: t.into(),
                },
            }),
        }
    }

    /// Reads the raw 7-bit groups of a Zarith number (shared by `n` and `z`), returning
    /// the bytes with continuation bits as read.
    fn zarith_raw(&mut self) -> DecodeResult<&'a [u8]> {
        let start = self.pos;
        let mut i = self.pos;
        loop {
            let Some(&b) = self.data[..self.end].get(i) else {
                return Err(DecodeError {
                    offset: start,
                    kind: DecodeErrorKind::UnexpectedEnd {
                        needed: i - start + 1,
                        available: self.end - start,
                    },
                });
            };
            i += 1;
            if b & 0x80 == 0 {
                if b == 0 && i - start > 1 {
                    return Err(DecodeError {
                        offset: start,
                        kind: DecodeErrorKind::NonCanonicalZarith,
                    });
                }
                break;
            }
        }
        self.bytes(i - start)
    }

    /// Zarith `n` as an arbitrary-precision natural.
    pub fn n_big(&mut self) -> DecodeResult<BigUint> {
        let raw = self.zarith_raw()?;
        Ok(groups_to_biguint(raw.iter().map(|b| b & 0x7f)))
    }

    /// Zarith `n` that must fit in a `u64`.
    pub fn n_u64(&mut self) -> DecodeResult<u64> {
        let start = self.pos;
        // Canonical and complete (checked by `zarith_raw`): only the range can fail.
        let raw = self.zarith_raw()?;
        data_encoding::read_n_u64(raw)
            .map(|(v, _)| v)
            .map_err(|_| DecodeError {
                offset: start,
                kind: DecodeErrorKind::Overflow("u64"),
            })
    }

    /// Zarith `z` as an arbitrary-precision integer.
    pub fn z_big(&mut self) -> DecodeResult<BigInt> {
        let raw = self.zarith_raw()?;
        let negative = raw[0] & 0x40 != 0;
        let first = u64::from(raw[0] & 0x3f);
        let rest = groups_to_biguint(raw[1..].iter().map(|b| b & 0x7f));
        let mag = (rest << 6u32) | BigUint::from(first);
        Ok(BigInt::from_biguint(
            if negative { Sign::Minus } else { Sign::Plus },
            mag,
        ))
    }

    /// Zarith `z` that must fit in an `i64`.
    pub fn z_i64(&mut self) -> DecodeResult<i64> {
        let start = self.pos;
        let v = self.z_big()?;
        i64::try_from(&v).map_err(|_| DecodeError {
            offset: start,
            kind: DecodeErrorKind::Overflow("i64"),
        })
    }
}

/// Assembles little-endian 7-bit groups (continuation bits already masked) into a natural.
fn groups_to_biguint(groups: impl DoubleEndedIterator<Item = u8>) -> BigUint {
    let mut v = BigUint::default();
    for g in groups.rev() {
        v = (v << 7u32) | BigUint::from(g);
    }
    v
}

/// An append-only output buffer.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes written so far.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// Number of bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Raw bytes.
    pub fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    /// `uint8`.
    pub fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    /// `int8`.
    pub fn i8(&mut self, v: i8) {
        self.bytes(&v.to_be_bytes());
    }
    /// `uint16`.
    pub fn u16(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    /// `int16`.
    pub fn i16(&mut self, v: i16) {
        self.bytes(&v.to_be_bytes());
    }
    /// `int32` / `int31`.
    pub fn i32(&mut self, v: i32) {
        self.bytes(&v.to_be_bytes());
    }
    /// Unsigned 32-bit big-endian.
    pub fn u32(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    /// `int64`.
    pub fn i64(&mut self, v: i64) {
        self.bytes(&v.to_be_bytes());
    }
    /// Unsigned 64-bit big-endian.
    pub fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
    /// `bool`.
    pub fn bool(&mut self, v: bool) {
        self.u8(if v { 0xff } else { 0x00 });
    }

    /// `dynamic_size e`: writes `f`'s output prefixed by its 4-byte length.
    ///
    /// # Panics
    /// If the section exceeds 2^30 − 1 bytes (no Tezos value comes close; it is a caller bug).
    pub fn dynamic(&mut self, f: impl FnOnce(&mut Self)) {
        let at = self.buf.len();
        self.buf.extend_from_slice(&[0; 4]);
        f(self);
        let len = self.buf.len() - at - 4;
        assert!(len <= MAX_DYNAMIC_LEN, "dynamic section too large: {len}");
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        self.buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
    }

    /// `bytes`/`string` (dynamic): 4-byte length + bytes.
    pub fn dyn_bytes(&mut self, b: &[u8]) {
        self.dynamic(|w| w.bytes(b));
    }

    /// `list e` (dynamic).
    pub fn dyn_list<T>(&mut self, items: &[T], mut f: impl FnMut(&mut Self, &T)) {
        self.dynamic(|w| {
            for it in items {
                f(w, it);
            }
        });
    }

    /// `opt` object field (`0x00` / `0xff` + value).
    pub fn opt_field<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0x00),
            Some(x) => {
                self.u8(0xff);
                f(self, x);
            }
        }
    }

    /// Stand-alone `option` (`0x00` / `0x01` + value).
    pub fn option<T>(&mut self, v: Option<&T>, f: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.u8(0x00),
            Some(x) => {
                self.u8(0x01);
                f(self, x);
            }
        }
    }

    /// Zarith `n` from a `u64` (`context_hash::data_encoding`, the workspace's one
    /// implementation).
    pub fn n_u64(&mut self, v: u64) {
        data_encoding::write_n_u64(&mut self.buf, v);
    }

    /// Zarith `n` from an arbitrary-precision natural.
    pub fn n_big(&mut self, v: &BigUint) {
        let mut v = v.clone();
        let mask = BigUint::from(0x7fu8);
        loop {
            let group = (&v & &mask).iter_u32_digits().next().unwrap_or(0) as u8;
            v >>= 7u32;
            if v == BigUint::default() {
                self.u8(group);
                return;
            }
            self.u8(group | 0x80);
        }
    }

    /// Zarith `z` from an arbitrary-precision integer.
    pub fn z_big(&mut self, v: &BigInt) {
        let negative = v.sign() == Sign::Minus;
        let mut mag = v.magnitude().clone();
        let first = (&mag & BigUint::from(0x3fu8))
            .iter_u32_digits()
            .next()
            .unwrap_or(0) as u8;
        mag >>= 6u32;
        let sign_bit = if negative { 0x40 } else { 0 };
        if mag == BigUint::default() {
            self.u8(first | sign_bit);
            return;
        }
        self.u8(first | sign_bit | 0x80);
        self.n_big(&mag);
    }

    /// Zarith `z` of a non-negative `u64` (`context_hash::data_encoding`).
    pub fn z_u64(&mut self, v: u64) {
        data_encoding::write_z(&mut self.buf, false, u128::from(v));
    }

    /// Zarith `z` from an `i64` (`context_hash::data_encoding`).
    pub fn z_i64(&mut self, v: i64) {
        data_encoding::write_z(&mut self.buf, v < 0, u128::from(v.unsigned_abs()));
    }
}

/// A type with an Octez binary encoding.
pub trait BinEncode {
    /// Appends the binary encoding to `w`.
    fn bin_write(&self, w: &mut Writer);

    /// The binary encoding as a fresh vector.
    fn to_bin(&self) -> Vec<u8> {
        let mut w = Writer::new();
        self.bin_write(&mut w);
        w.into_bytes()
    }
}

/// A type decodable from its Octez binary encoding.
pub trait BinDecode: Sized {
    /// Reads one value from `r` (leaving following bytes).
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self>;

    /// Decodes a value that must span exactly `bytes`.
    fn from_bin(bytes: &[u8]) -> DecodeResult<Self> {
        let mut r = Reader::new(bytes);
        let v = Self::bin_read(&mut r)?;
        r.finish()?;
        Ok(v)
    }
}

/// JSON conventions of `Data_encoding` as serde helpers (l1-and-signer.md §0):
/// `int64`, Zarith and mutez are decimal strings; bytes are lowercase hex strings.
pub mod json {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum StrOrNum {
        Str(String),
        U(u64),
        I(i64),
    }

    fn parse_num<T: std::str::FromStr, E: serde::de::Error>(v: StrOrNum) -> Result<T, E> {
        let s = match v {
            StrOrNum::Str(s) => s,
            StrOrNum::U(u) => u.to_string(),
            StrOrNum::I(i) => i.to_string(),
        };
        s.parse()
            .map_err(|_| E::custom(format!("invalid decimal number {s:?}")))
    }

    /// `u64` as a decimal string (Zarith `n`, mutez, counters, limits); accepts a JSON number too.
    pub mod u64_string {
        use super::*;
        /// Serializes as a decimal string.
        pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(v)
        }
        /// Deserializes from a decimal string or number.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            parse_num(StrOrNum::deserialize(d)?)
        }
    }

    /// `i64` as a decimal string (`int64`); accepts a JSON number too.
    pub mod i64_string {
        use super::*;
        /// Serializes as a decimal string.
        pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(v)
        }
        /// Deserializes from a decimal string or number.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
            parse_num(StrOrNum::deserialize(d)?)
        }
    }

    /// Bytes as a hex string.
    pub mod hex_bytes {
        use super::*;
        /// Serializes as lowercase hex.
        pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&hex::encode(v))
        }
        /// Deserializes from hex (either case).
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
            let s = String::deserialize(d)?;
            hex::decode(&s).map_err(|e| D::Error::custom(format!("invalid hex: {e}")))
        }
    }

    /// A list of byte strings as a list of hex strings.
    pub mod hex_bytes_list {
        use super::*;
        use serde::ser::SerializeSeq;
        /// Serializes as a list of lowercase hex strings.
        pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for b in v {
                seq.serialize_element(&hex::encode(b))?;
            }
            seq.end()
        }
        /// Deserializes from a list of hex strings.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
            let v = Vec::<String>::deserialize(d)?;
            v.iter()
                .map(|s| hex::decode(s).map_err(|e| D::Error::custom(format!("invalid hex: {e}"))))
                .collect()
        }
    }
}

/// An amount in mutez: binary Zarith `n`, JSON decimal string (l1-and-signer.md §0, `Tez`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Mutez(#[serde(with = "json::u64_string")] pub u64);

impl std::fmt::Display for Mutez {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl BinEncode for Mutez {
    fn bin_write(&self, w: &mut Writer) {
        w.n_u64(self.0);
    }
}

impl BinDecode for Mutez {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        let v = r.n_u64()?;
        // Tez_repr: mutez is an int64 ≥ 0.
        if v > i64::MAX as u64 {
            return Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::Overflow("mutez"),
            });
        }
        Ok(Mutez(v))
    }
}

/// Protocol time (`Time.Protocol`): binary `int64` seconds since the epoch; JSON an RFC 3339
/// string such as `"2025-06-01T12:00:08Z"` (l1-and-signer.md §0). JSON input also accepts a
/// decimal integer (string or number) and RFC 3339 with a numeric offset or fractional
/// seconds (truncated). Years outside 0000–9999 are printed as decimal strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

impl Timestamp {
    /// RFC 3339 in UTC (`YYYY-MM-DDTHH:MM:SSZ`), or `None` if the year is outside 0000–9999.
    pub fn to_rfc3339(&self) -> Option<String> {
        let days = self.0.div_euclid(86_400);
        let secs = self.0.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        (0..=9999).contains(&y).then(|| {
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            )
        })
    }

    /// Parses RFC 3339 (`Z` or `±HH:MM` offset, optional fraction) or a decimal integer.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(v) = s.parse::<i64>() {
            return Some(Self(v));
        }
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<i64> {
            let t = s.get(r)?;
            t.bytes()
                .all(|c| c.is_ascii_digit())
                .then(|| t.parse().ok())?
        };
        if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        if b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
        let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
        if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let mut i = 19;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return None;
            }
        }
        let offset = match (b.get(i), b.len() - i) {
            (Some(b'Z' | b'z'), 1) => 0,
            (Some(sign @ (b'+' | b'-')), 6) if b[i + 3] == b':' => {
                let o = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
                if *sign == b'+' { o } else { -o }
            }
            _ => return None,
        };
        let days = days_from_civil(y, mo, d);
        Some(Self(days * 86_400 + h * 3600 + mi * 60 + se - offset))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.to_rfc3339() {
            Some(s) => f.write_str(&s),
            None => write!(f, "{}", self.0),
        }
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum T {
            S(String),
            I(i64),
        }
        match T::deserialize(d)? {
            T::I(i) => Ok(Self(i)),
            T::S(s) => Self::parse(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid timestamp {s:?}"))),
        }
    }
}

impl BinEncode for Timestamp {
    fn bin_write(&self, w: &mut Writer) {
        w.i64(self.0);
    }
}

impl BinDecode for Timestamp {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        r.i64().map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n_hex(v: u64) -> String {
        let mut w = Writer::new();
        w.n_u64(v);
        hex::encode(w.into_bytes())
    }

    #[test]
    fn zarith_n_vectors() {
        // l1-and-signer.md §2.4: fee 401 = 9103, gas 1100 = cc08; §2.2: 374 = f602.
        assert_eq!(n_hex(0), "00");
        assert_eq!(n_hex(401), "9103");
        assert_eq!(n_hex(1100), "cc08");
        assert_eq!(n_hex(374), "f602");
        assert_eq!(n_hex(127), "7f");
        assert_eq!(n_hex(128), "8001");
        assert_eq!(n_hex(u64::MAX), "ffffffffffffffffff01");
        let mut w = Writer::new();
        w.n_big(&BigUint::from(401u32));
        assert_eq!(hex::encode(w.into_bytes()), "9103");
    }

    #[test]
    fn zarith_z_vectors() {
        let z = |v: i64| {
            let mut w = Writer::new();
            w.z_i64(v);
            hex::encode(w.into_bytes())
        };
        assert_eq!(z(0), "00");
        assert_eq!(z(1), "01");
        assert_eq!(z(-1), "41");
        assert_eq!(z(63), "3f");
        assert_eq!(z(64), "8001");
        assert_eq!(z(-64), "c001");
        assert_eq!(z(16), "10");
        let zu = |v: u64| {
            let mut w = Writer::new();
            w.z_u64(v);
            hex::encode(w.into_bytes())
        };
        assert_eq!(zu(64), "8001");
        assert_eq!(zu(u64::MAX), "bfffffffffffffffff03");
    }

    #[test]
    fn zarith_malformed() {
        // Trailing zero byte is non-canonical.
        let mut r = Reader::new(&[0x80, 0x00]);
        assert_eq!(
            r.n_u64().unwrap_err().kind,
            DecodeErrorKind::NonCanonicalZarith
        );
        // Unterminated.
        let mut r = Reader::new(&[0x80, 0x80]);
        assert!(matches!(
            r.n_u64().unwrap_err().kind,
            DecodeErrorKind::UnexpectedEnd { .. }
        ));
        // Overflow of u64.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]);
        assert_eq!(
            r.n_u64().unwrap_err().kind,
            DecodeErrorKind::Overflow("u64")
        );
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(r.n_u64().unwrap(), u64::MAX);
    }

    #[test]
    fn dynamic_sections() {
        let mut w = Writer::new();
        w.dyn_list(&[b"Hello".to_vec(), vec![0x00, 0xff]], |w, m| {
            w.dyn_bytes(m)
        });
        // l1-and-signer.md §2.4 message list.
        assert_eq!(
            hex::encode(w.to_owned().into_bytes()),
            "0000000f0000000548656c6c6f0000000200ff"
        );
        let bytes = w.into_bytes();
        let mut r = Reader::new(&bytes);
        let l = r.dyn_list(|r| r.dyn_bytes().map(<[u8]>::to_vec)).unwrap();
        assert_eq!(l, vec![b"Hello".to_vec(), vec![0, 0xff]]);
        r.finish().unwrap();

        // Inner content not fully consumed.
        let mut r = Reader::new(&[0, 0, 0, 2, 1, 2]);
        let e = r.dynamic(|r| r.u8()).unwrap_err();
        assert_eq!(e.kind, DecodeErrorKind::TrailingBytes(1));
        // Length beyond input.
        let mut r = Reader::new(&[0, 0, 0, 9, 1]);
        assert!(matches!(
            r.dyn_bytes().unwrap_err().kind,
            DecodeErrorKind::UnexpectedEnd { .. }
        ));
        // Length beyond uint30.
        let mut r = Reader::new(&[0x40, 0, 0, 0]);
        assert!(matches!(
            r.dyn_bytes().unwrap_err().kind,
            DecodeErrorKind::LengthTooLarge(_)
        ));
        // Inner reads cannot cross the section end.
        let mut r = Reader::new(&[0, 0, 0, 1, 1, 2]);
        assert!(r.dynamic(|r| r.u16()).is_err());
    }

    #[test]
    fn options_and_bools() {
        let mut r = Reader::new(&[0xff, 7, 0x01, 8, 0x00, 0x02]);
        assert_eq!(r.opt_field(|r| r.u8()).unwrap(), Some(7));
        assert_eq!(r.option(|r| r.u8()).unwrap(), Some(8));
        assert_eq!(r.option(|r| r.u8()).unwrap(), None);
        assert!(r.bool().is_err());
        let mut r = Reader::new(&[0x01]);
        assert!(r.opt_field(|r| r.u8()).is_err());
    }

    #[test]
    fn timestamps() {
        let t = Timestamp(1_735_689_600);
        assert_eq!(t.to_string(), "2025-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::parse("2025-06-01T12:00:08Z").unwrap().0,
            1_748_779_208
        );
        assert_eq!(
            Timestamp::parse("2025-06-01T14:00:08+02:00").unwrap().0,
            1_748_779_208
        );
        assert_eq!(
            Timestamp::parse("2025-06-01T12:00:08.999Z").unwrap().0,
            1_748_779_208
        );
        assert_eq!(Timestamp::parse("1748779208").unwrap().0, 1_748_779_208);
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(-1).to_string(), "1969-12-31T23:59:59Z");
        assert_eq!(Timestamp(951_782_400).to_string(), "2000-02-29T00:00:00Z");
        assert_eq!(Timestamp(i64::MAX).to_string(), i64::MAX.to_string());
        for bad in [
            "",
            "2025-13-01T00:00:00Z",
            "2025-01-01T00:00:00",
            "2025-01-01T00:00:00Zx",
            "x",
        ] {
            assert!(Timestamp::parse(bad).is_none(), "{bad}");
        }
        let j = serde_json::to_string(&t).unwrap();
        assert_eq!(j, "\"2025-01-01T00:00:00Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&j).unwrap(), t);
        assert_eq!(serde_json::from_str::<Timestamp>("1735689600").unwrap(), t);
    }

    #[test]
    fn mutez_json() {
        let m: Mutez = serde_json::from_str("\"401\"").unwrap();
        assert_eq!(m, Mutez(401));
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"401\"");
        assert!(serde_json::from_str::<Mutez>("\"-1\"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn n_roundtrip(v: u64) {
            let mut w = Writer::new();
            w.n_u64(v);
            let b = w.into_bytes();
            let mut r = Reader::new(&b);
            proptest::prop_assert_eq!(r.n_u64().unwrap(), v);
            let mut r = Reader::new(&b);
            proptest::prop_assert_eq!(r.n_big().unwrap(), BigUint::from(v));
            let mut w2 = Writer::new();
            w2.n_big(&BigUint::from(v));
            proptest::prop_assert_eq!(w2.into_bytes(), b);
        }

        #[test]
        fn z_roundtrip(v: i64) {
            let mut w = Writer::new();
            w.z_i64(v);
            let b = w.into_bytes();
            let mut r = Reader::new(&b);
            proptest::prop_assert_eq!(r.z_i64().unwrap(), v);
            r.finish().unwrap();
        }

        #[test]
        fn timestamp_roundtrip(v in -62_135_596_800i64..253_402_300_799) {
            let t = Timestamp(v);
            let s = t.to_rfc3339().unwrap();
            proptest::prop_assert_eq!(Timestamp::parse(&s), Some(t), "{}", s);
        }

        #[test]
        fn reader_never_panics(data: Vec<u8>) {
            let mut r = Reader::new(&data);
            let _ = r.dyn_list(|r| r.z_big());
            let mut r = Reader::new(&data);
            let _ = r.n_big();
            let mut r = Reader::new(&data);
            let _ = r.opt_field(|r| r.dyn_string());
            let _ = Timestamp::parse(&String::from_utf8_lossy(&data));
        }
    }
}
