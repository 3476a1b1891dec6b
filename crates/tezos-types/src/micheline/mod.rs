//! Micheline expressions with Michelson primitives: binary, JSON and text forms.
//!
//! Binary (`Micheline_encoding`, Octez `lib_micheline`): 1-byte tag
//! 0 int (`z`), 1 string (dynamic), 2 sequence (dynamic list), 3 prim, 4 prim + annots,
//! 5 prim + 1 arg, 6 prim + 1 arg + annots, 7 prim + 2 args, 8 prim + 2 args + annots,
//! 9 prim + args (dynamic list) + annots (dynamic string, possibly empty), 10 bytes (dynamic).
//! Annotations are one space-separated string. A primitive is one byte (see [`Prim`]).
//!
//! JSON: `{"int":"1"}`, `{"string":"…"}`, `{"bytes":"<hex>"}`,
//! `{"prim":"Pair","args":[…],"annots":[…]}` (`args`/`annots` omitted when empty), arrays for
//! sequences.
//!
//! Text: Michelson concrete syntax (`Pair 1 "abc" 0x00ff`, `(Left Unit)`, `{ 1 ; 2 }`), see
//! [`Micheline::parse_text`] and the `Display` impl.

mod prim;
mod text;

pub use text::TextError;

use crate::encoding::{BinDecode, BinEncode, DecodeErrorKind, DecodeResult, Reader, Writer};
use num_bigint::BigInt;
use std::fmt;

/// Maximum nesting depth accepted by the recursive decoders (binary, JSON, text), to bound
/// recursion on untrusted input. [`skip_binary`] (used for inbox payloads) has no such limit.
pub const MAX_DEPTH: usize = 256;

/// A Michelson primitive, identified by its binary code.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prim(u8);

impl Prim {
    /// From a binary code, if known.
    pub fn from_code(code: u8) -> Option<Self> {
        (usize::from(code) < prim::NAMES.len()).then_some(Prim(code))
    }
    /// From a name, if known (case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        prim::NAMES
            .iter()
            .position(|n| *n == name)
            .and_then(|i| u8::try_from(i).ok())
            .map(Prim)
    }
    /// The binary code.
    pub fn code(self) -> u8 {
        self.0
    }
    /// The primitive name.
    pub fn name(self) -> &'static str {
        prim::NAMES[usize::from(self.0)]
    }
}

impl fmt::Debug for Prim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for Prim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Micheline node (without locations).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Micheline {
    /// Arbitrary-precision integer.
    Int(BigInt),
    /// A string (Michelson strings are printable ASCII, but any UTF-8 is carried).
    String(String),
    /// A byte sequence.
    Bytes(Vec<u8>),
    /// A primitive application.
    Prim {
        /// The primitive.
        prim: Prim,
        /// Arguments.
        args: Vec<Micheline>,
        /// Annotations (each with its `%`/`@`/`:` sigil).
        annots: Vec<String>,
    },
    /// A sequence `{ … }`.
    Seq(Vec<Micheline>),
}

impl Micheline {
    /// An integer node.
    pub fn int(v: impl Into<BigInt>) -> Self {
        Self::Int(v.into())
    }
    /// A string node.
    pub fn string(s: impl Into<String>) -> Self {
        Self::String(s.into())
    }
    /// A bytes node.
    pub fn bytes(b: impl Into<Vec<u8>>) -> Self {
        Self::Bytes(b.into())
    }
    /// A primitive application without annotations.
    pub fn prim(prim: Prim, args: Vec<Micheline>) -> Self {
        Self::Prim {
            prim,
            args,
            annots: Vec::new(),
        }
    }
    /// `Pair a b`.
    pub fn pair(a: Micheline, b: Micheline) -> Self {
        Self::prim(Prim::D_PAIR, vec![a, b])
    }
    /// `Unit`.
    pub fn unit() -> Self {
        Self::prim(Prim::D_UNIT, vec![])
    }
    /// `Left v`.
    pub fn left(v: Micheline) -> Self {
        Self::prim(Prim::D_LEFT, vec![v])
    }
    /// `Right v`.
    pub fn right(v: Micheline) -> Self {
        Self::prim(Prim::D_RIGHT, vec![v])
    }

    /// Parses the Michelson text syntax.
    pub fn parse_text(s: &str) -> Result<Self, TextError> {
        text::parse(s)
    }

    /// The JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value, json};
        match self {
            Self::Int(i) => json!({ "int": i.to_string() }),
            Self::String(s) => json!({ "string": s }),
            Self::Bytes(b) => json!({ "bytes": hex::encode(b) }),
            Self::Seq(items) => Value::Array(items.iter().map(Self::to_json).collect()),
            Self::Prim { prim, args, annots } => {
                let mut m = serde_json::Map::new();
                m.insert("prim".into(), Value::String(prim.name().into()));
                if !args.is_empty() {
                    m.insert(
                        "args".into(),
                        Value::Array(args.iter().map(Self::to_json).collect()),
                    );
                }
                if !annots.is_empty() {
                    m.insert(
                        "annots".into(),
                        Value::Array(annots.iter().cloned().map(Value::String).collect()),
                    );
                }
                Value::Object(m)
            }
        }
    }

    /// Parses the JSON form.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        Self::from_json_depth(v, 0)
    }

    fn from_json_depth(v: &serde_json::Value, depth: usize) -> Result<Self, String> {
        use serde_json::Value;
        if depth > MAX_DEPTH {
            return Err("Micheline JSON too deep".into());
        }
        match v {
            Value::Array(items) => items
                .iter()
                .map(|x| Self::from_json_depth(x, depth + 1))
                .collect::<Result<_, _>>()
                .map(Self::Seq),
            Value::Object(m) => {
                let only = |k: &str| m.len() == 1 && m.contains_key(k);
                if only("int") {
                    let s = m["int"].as_str().ok_or("\"int\" must be a string")?;
                    parse_int(s)
                        .map(Self::Int)
                        .ok_or_else(|| format!("invalid int {s:?}"))
                } else if only("string") {
                    m["string"]
                        .as_str()
                        .map(Self::string)
                        .ok_or_else(|| "\"string\" must be a string".into())
                } else if only("bytes") {
                    let s = m["bytes"].as_str().ok_or("\"bytes\" must be a string")?;
                    hex::decode(s)
                        .map(Self::Bytes)
                        .map_err(|e| format!("invalid bytes: {e}"))
                } else if let Some(p) = m.get("prim") {
                    if m.keys()
                        .any(|k| !matches!(k.as_str(), "prim" | "args" | "annots"))
                    {
                        return Err("unexpected field in Micheline prim".into());
                    }
                    let name = p.as_str().ok_or("\"prim\" must be a string")?;
                    let prim =
                        Prim::from_name(name).ok_or_else(|| format!("unknown primitive {name}"))?;
                    let args = match m.get("args") {
                        None => Vec::new(),
                        Some(Value::Array(a)) => a
                            .iter()
                            .map(|x| Self::from_json_depth(x, depth + 1))
                            .collect::<Result<_, _>>()?,
                        Some(_) => return Err("\"args\" must be an array".into()),
                    };
                    let annots = match m.get("annots") {
                        None => Vec::new(),
                        Some(Value::Array(a)) => a
                            .iter()
                            .map(|x| {
                                x.as_str()
                                    .map(str::to_owned)
                                    .ok_or_else(|| "annotation must be a string".to_owned())
                            })
                            .collect::<Result<_, _>>()?,
                        Some(_) => return Err("\"annots\" must be an array".into()),
                    };
                    Ok(Self::Prim { prim, args, annots })
                } else {
                    Err("not a Micheline node".into())
                }
            }
            _ => Err("not a Micheline node".into()),
        }
    }

    fn read_depth(r: &mut Reader<'_>, depth: usize) -> DecodeResult<Self> {
        if depth > MAX_DEPTH {
            return Err(r.invalid("Micheline nesting too deep"));
        }
        let start = r.position();
        let tag = r.u8()?;
        let read_prim = |r: &mut Reader<'_>| -> DecodeResult<Prim> {
            let at = r.position();
            let c = r.u8()?;
            Prim::from_code(c).ok_or(crate::encoding::DecodeError {
                offset: at,
                kind: DecodeErrorKind::InvalidTag {
                    what: "Michelson primitive",
                    tag: c.into(),
                },
            })
        };
        let read_annots = |r: &mut Reader<'_>| -> DecodeResult<Vec<String>> {
            let s = r.dyn_string()?;
            Ok(s.split(' ')
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect())
        };
        Ok(match tag {
            0 => Self::Int(r.z_big()?),
            1 => Self::String(r.dyn_string()?),
            2 => Self::Seq(r.dyn_list(|r| Self::read_depth(r, depth + 1))?),
            3..=8 => {
                let prim = read_prim(r)?;
                let nargs = usize::from((tag - 3) / 2);
                let mut args = Vec::with_capacity(nargs);
                for _ in 0..nargs {
                    args.push(Self::read_depth(r, depth + 1)?);
                }
                let annots = if tag % 2 == 0 {
                    read_annots(r)?
                } else {
                    Vec::new()
                };
                Self::Prim { prim, args, annots }
            }
            9 => {
                let prim = read_prim(r)?;
                let args = r.dyn_list(|r| Self::read_depth(r, depth + 1))?;
                let annots = read_annots(r)?;
                Self::Prim { prim, args, annots }
            }
            10 => Self::Bytes(r.dyn_bytes()?.to_vec()),
            t => {
                return Err(crate::encoding::DecodeError {
                    offset: start,
                    kind: DecodeErrorKind::InvalidTag {
                        what: "Micheline node",
                        tag: t.into(),
                    },
                });
            }
        })
    }
}

/// Skips one binary Micheline expression without building it, iteratively (no depth limit),
/// checking tags, primitive codes, Zarith canonicity and that dynamic sections are in bounds.
///
/// Sequence and generic-prim argument lists are skipped by their byte length (their content is
/// not re-validated); use [`Micheline::from_bin`] for a full check.
pub fn skip_binary(r: &mut Reader<'_>) -> DecodeResult<()> {
    enum Task {
        Node,
        Annots,
    }
    let mut stack = vec![Task::Node];
    while let Some(task) = stack.pop() {
        if let Task::Annots = task {
            r.dyn_bytes()?;
            continue;
        }
        let start = r.position();
        let tag = r.u8()?;
        match tag {
            0 => {
                r.z_big()?;
            }
            1 | 2 | 10 => {
                r.dyn_bytes()?;
            }
            3..=9 => {
                let at = r.position();
                let c = r.u8()?;
                if Prim::from_code(c).is_none() {
                    return Err(crate::encoding::DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::InvalidTag {
                            what: "Michelson primitive",
                            tag: c.into(),
                        },
                    });
                }
                if tag == 9 {
                    r.dyn_bytes()?;
                    r.dyn_bytes()?;
                } else {
                    if tag % 2 == 0 {
                        stack.push(Task::Annots);
                    }
                    for _ in 0..(tag - 3) / 2 {
                        stack.push(Task::Node);
                    }
                }
            }
            t => {
                return Err(crate::encoding::DecodeError {
                    offset: start,
                    kind: DecodeErrorKind::InvalidTag {
                        what: "Micheline node",
                        tag: t.into(),
                    },
                });
            }
        }
    }
    Ok(())
}

/// A binary Micheline expression kept as its bytes (validated by [`skip_binary`]).
///
/// Used where bytes must be carried exactly and decoding depth must not be limited (inbox
/// transfer payloads, `parameters_ty`, outbox parameters).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BinMicheline(Vec<u8>);

impl BinMicheline {
    /// Encodes an expression.
    pub fn from_micheline(m: &Micheline) -> Self {
        Self(m.to_bin())
    }
    /// Wraps bytes that must be exactly one binary Micheline expression.
    pub fn from_bytes(bytes: Vec<u8>) -> DecodeResult<Self> {
        let mut r = Reader::new(&bytes);
        skip_binary(&mut r)?;
        r.finish()?;
        Ok(Self(bytes))
    }
    /// The binary bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// Decodes the expression (subject to [`MAX_DEPTH`]).
    pub fn decode(&self) -> DecodeResult<Micheline> {
        Micheline::from_bin(&self.0)
    }
}

impl From<&Micheline> for BinMicheline {
    fn from(m: &Micheline) -> Self {
        Self::from_micheline(m)
    }
}

impl fmt::Debug for BinMicheline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.decode() {
            Ok(m) => write!(f, "BinMicheline({m})"),
            Err(_) => write!(f, "BinMicheline(0x{})", hex::encode(&self.0)),
        }
    }
}

impl BinEncode for BinMicheline {
    fn bin_write(&self, w: &mut Writer) {
        w.bytes(&self.0);
    }
}

impl BinDecode for BinMicheline {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        skip_binary(r)?;
        let end = r.position();
        let mut all = r.clone();
        // Re-read the skipped span from a copy positioned at `start`.
        all.rewind_to(start);
        Ok(Self(all.bytes(end - start)?.to_vec()))
    }
}

/// JSON: the Micheline JSON of the decoded expression.
impl serde::Serialize for BinMicheline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.decode()
            .map_err(serde::ser::Error::custom)?
            .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for BinMicheline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Micheline::deserialize(d).map(|m| Self::from_micheline(&m))
    }
}

/// Parses a decimal integer with an optional leading `-` (no `+`, no leading spaces).
pub(crate) fn parse_int(s: &str) -> Option<BigInt> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl BinEncode for Micheline {
    fn bin_write(&self, w: &mut Writer) {
        match self {
            Self::Int(i) => {
                w.u8(0);
                w.z_big(i);
            }
            Self::String(s) => {
                w.u8(1);
                w.dyn_bytes(s.as_bytes());
            }
            Self::Seq(items) => {
                w.u8(2);
                w.dyn_list(items, |w, x| x.bin_write(w));
            }
            Self::Bytes(b) => {
                w.u8(10);
                w.dyn_bytes(b);
            }
            Self::Prim { prim, args, annots } => {
                let has_annots = !annots.is_empty();
                if args.len() <= 2 {
                    let tag = 3 + 2 * args.len() as u8 + u8::from(has_annots);
                    w.u8(tag);
                    w.u8(prim.code());
                    for a in args {
                        a.bin_write(w);
                    }
                    if has_annots {
                        w.dyn_bytes(annots.join(" ").as_bytes());
                    }
                } else {
                    w.u8(9);
                    w.u8(prim.code());
                    w.dyn_list(args, |w, x| x.bin_write(w));
                    w.dyn_bytes(annots.join(" ").as_bytes());
                }
            }
        }
    }
}

impl BinDecode for Micheline {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Self::read_depth(r, 0)
    }
}

/// Serializes in Octez field order (`prim`, `args`, `annots`).
impl serde::Serialize for Micheline {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Int(i) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("int", &i.to_string())?;
                m.end()
            }
            Self::String(x) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("string", x)?;
                m.end()
            }
            Self::Bytes(b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("bytes", &hex::encode(b))?;
                m.end()
            }
            Self::Seq(items) => s.collect_seq(items),
            Self::Prim { prim, args, annots } => {
                let n = 1 + usize::from(!args.is_empty()) + usize::from(!annots.is_empty());
                let mut m = s.serialize_map(Some(n))?;
                m.serialize_entry("prim", prim.name())?;
                if !args.is_empty() {
                    m.serialize_entry("args", args)?;
                }
                if !annots.is_empty() {
                    m.serialize_entry("annots", annots)?;
                }
                m.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for Micheline {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        Self::from_json(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hexb(m: &Micheline) -> String {
        hex::encode(m.to_bin())
    }

    #[test]
    fn prim_table() {
        assert_eq!(Prim::T_PAIR.code(), 0x65);
        assert_eq!(Prim::T_BYTES.code(), 0x69);
        assert_eq!(Prim::T_STRING.code(), 0x68);
        assert_eq!(Prim::D_PAIR.code(), 7);
        assert_eq!(Prim::D_TICKET.name(), "Ticket");
        assert_eq!(Prim::from_name("ticket"), Some(Prim::T_TICKET));
        assert_eq!(Prim::from_name("Foo"), None);
        assert_eq!(Prim::from_code(158), None);
    }

    #[test]
    fn binary_vectors() {
        // l1-and-signer.md §2.3: parameters_ty {"prim":"bytes"} = 0369, string = 0368.
        assert_eq!(hexb(&Micheline::prim(Prim::T_BYTES, vec![])), "0369");
        // Unit = 030b; Pair 1 "a" = 0707 0001 0100000001 61.
        assert_eq!(hexb(&Micheline::unit()), "030b");
        assert_eq!(
            hexb(&Micheline::pair(Micheline::int(1), Micheline::string("a"))),
            "070700010100000001".to_owned() + "61"
        );
        // Annotated type: (nat %x) = 04 62 00000002 2578.
        let ann = Micheline::Prim {
            prim: Prim::T_NAT,
            args: vec![],
            annots: vec!["%x".into()],
        };
        assert_eq!(hexb(&ann), "04620000000225".to_owned() + "78");
        // 3-ary Pair uses the generic tag 9 with an empty annotation string.
        let p3 = Micheline::prim(
            Prim::D_PAIR,
            vec![Micheline::int(1), Micheline::int(2), Micheline::int(3)],
        );
        assert_eq!(hexb(&p3), "09070000000600010002000300000000");
        assert_eq!(hexb(&Micheline::Seq(vec![])), "0200000000");
        assert_eq!(hexb(&Micheline::bytes(vec![0xab])), "0a00000001ab");
        assert_eq!(hexb(&Micheline::int(-64)), "00c001");
        for m in [ann, p3] {
            assert_eq!(Micheline::from_bin(&m.to_bin()).unwrap(), m);
        }
    }

    /// `octez-client convert script/data … from Michelson to binary` outputs quoted in
    /// `sdk/rust/protocol/src/operation.rs` (octez-codec test vectors).
    #[test]
    fn octez_client_convert_vectors() {
        for (text, hex_expected) in [
            (
                "{ parameter nat ; storage nat ; code { UNPAIR ; ADD ; NIL operation ; PAIR } }",
                "020000001905000362050103620502020000000a037a0312053d036d0342",
            ),
            (
                "{ parameter unit ; storage bool ; code { DROP ; SELF_ADDRESS ; SELF ; ADDRESS ; COMPARE ; EQ ; NIL operation ; PAIR } }",
                "02000000210500036c0501035905020200000012032003770349035403190325053d036d0342",
            ),
            (
                "{ parameter (list bytes) ; storage bytes ; code { UNPAIR ; SWAP ; CONS ; CONCAT ; NIL operation ; PAIR } }",
                "020000001f0500055f0369050103690502020000000e037a034c031b031a053d036d0342",
            ),
            (
                "\"tz3j873xGK219DrCKYL4usxM8EQgHUmDdbJB\"",
                "0100000024747a336a38373378474b3231394472434b594c347573784d3845516748556d4464624a42",
            ),
            ("False", "0303"),
            ("0", "0000"),
            ("Unit", "030b"),
        ] {
            let m = Micheline::parse_text(text).unwrap();
            assert_eq!(hexb(&m), hex_expected, "{text}");
            let back = Micheline::from_bin(&hex::decode(hex_expected).unwrap()).unwrap();
            assert_eq!(back.to_string(), text);
        }
    }

    #[test]
    fn binary_malformed() {
        for bad in [
            &b""[..],
            &[11],
            &[3, 200],
            &[5, 7],
            &[1, 0, 0, 0, 2, 0xff, 0xfe],
            &[2, 0, 0, 0, 1, 3],
            &[0, 0x80],
        ] {
            assert!(Micheline::from_bin(bad).is_err(), "{bad:?}");
        }
        // Deep nesting is rejected, not a stack overflow.
        let mut deep = Vec::new();
        for _ in 0..100_000 {
            deep.extend_from_slice(&[5, 9]);
        }
        deep.extend_from_slice(&[3, 11]);
        assert!(Micheline::from_bin(&deep).is_err());
        // ... but can be skipped.
        let mut r = Reader::new(&deep);
        skip_binary(&mut r).unwrap();
        r.finish().unwrap();
    }

    #[test]
    fn json_form() {
        let m = Micheline::Prim {
            prim: Prim::D_PAIR,
            args: vec![
                Micheline::int(1),
                Micheline::Seq(vec![Micheline::bytes(vec![0, 0xff])]),
            ],
            annots: vec![],
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(
            j,
            r#"{"prim":"Pair","args":[{"int":"1"},[{"bytes":"00ff"}]]}"#
        );
        assert_eq!(serde_json::from_str::<Micheline>(&j).unwrap(), m);
        for bad in [
            r#"{"int":1}"#,
            r#"{"int":"1x"}"#,
            r#"{"prim":"Nope"}"#,
            r#"{"prim":"Pair","args":{}}"#,
            r#"{"bytes":"0"}"#,
            r#"{"int":"1","string":"a"}"#,
            r#"3"#,
        ] {
            assert!(serde_json::from_str::<Micheline>(bad).is_err(), "{bad}");
        }
    }

    pub(crate) fn arb_micheline() -> impl Strategy<Value = Micheline> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Micheline::int),
            "[a-zA-Z0-9 _\"\\\\\n]{0,8}".prop_map(Micheline::string),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(Micheline::Bytes),
            (0u8..158).prop_map(|c| Micheline::prim(Prim(c), vec![])),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Micheline::Seq),
                (
                    0u8..158,
                    proptest::collection::vec(inner, 0..4),
                    proptest::collection::vec("[%@:][a-z]{0,4}", 0..3)
                )
                    .prop_map(|(c, args, annots)| Micheline::Prim {
                        prim: Prim(c),
                        args,
                        annots
                    }),
            ]
        })
    }

    proptest! {
        #[test]
        fn binary_roundtrip(m in arb_micheline()) {
            let b = m.to_bin();
            prop_assert_eq!(Micheline::from_bin(&b).unwrap(), m);
        }

        #[test]
        fn json_roundtrip(m in arb_micheline()) {
            let j = serde_json::to_string(&m).unwrap();
            prop_assert_eq!(serde_json::from_str::<Micheline>(&j).unwrap(), m);
        }

        #[test]
        fn text_roundtrip(m in arb_micheline()) {
            let t = m.to_string();
            prop_assert_eq!(Micheline::parse_text(&t).unwrap(), m, "text was {}", t);
        }

        #[test]
        fn decode_never_panics(data: Vec<u8>) {
            let _ = Micheline::from_bin(&data);
            let mut r = Reader::new(&data);
            let _ = skip_binary(&mut r);
        }

        #[test]
        fn skip_matches_decode(m in arb_micheline(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut b = m.to_bin();
            let len = b.len();
            b.extend_from_slice(&tail);
            let mut r = Reader::new(&b);
            skip_binary(&mut r).unwrap();
            prop_assert_eq!(r.position(), len);
        }
    }
}
