//! The BSON form of JSON values that Octez's binary error traces carry (`Data_encoding.json` in
//! binary: a BSON document; docs/reference/l1-and-signer.md §5.2, "error trace").
//!
//! Only what JSON needs: documents (0x03), arrays (0x04), strings (0x02), doubles (0x01),
//! booleans (0x08) and null (0x0A). A top-level non-object is wrapped as `{"0": v}`, as arrays are.

use serde_json::{Map, Value};

/// BSON decoding failures.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BsonError {
    /// The document ends early or its lengths disagree.
    #[error("truncated or inconsistent BSON document at byte {0}")]
    Truncated(usize),
    /// An element type this decoder does not know.
    #[error("unsupported BSON element type 0x{0:02x}")]
    UnsupportedType(u8),
    /// A string or name is not UTF-8.
    #[error("BSON text is not UTF-8")]
    Utf8,
    /// Documents nested deeper than [`MAX_DEPTH`] (a hostile peer's stack exhaustion).
    #[error("BSON documents nested deeper than {MAX_DEPTH}")]
    TooDeep,
}

/// How deep documents and arrays may nest: error traces nest a few levels.
pub const MAX_DEPTH: usize = 64;

/// Encodes a JSON object (or any value, wrapped) as a BSON document.
pub fn encode(v: &Value) -> Vec<u8> {
    match v {
        Value::Object(m) => document(m.iter().map(|(k, v)| (k.clone(), v))),
        other => document(std::iter::once(("0".to_owned(), other))),
    }
}

fn document<'a>(items: impl Iterator<Item = (String, &'a Value)>) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, v) in items {
        let (tag, payload) = element(v);
        body.push(tag);
        body.extend(name.bytes().filter(|b| *b != 0));
        body.push(0);
        body.extend(payload);
    }
    body.push(0);
    let len = u32::try_from(body.len().saturating_add(4)).unwrap_or(u32::MAX);
    let mut out = len.to_le_bytes().to_vec();
    out.extend(body);
    out
}

fn element(v: &Value) -> (u8, Vec<u8>) {
    match v {
        Value::Null => (0x0A, vec![]),
        Value::Bool(b) => (0x08, vec![u8::from(*b)]),
        Value::Number(n) => (0x01, n.as_f64().unwrap_or(0.0).to_le_bytes().to_vec()),
        Value::String(s) => {
            let len = u32::try_from(s.len().saturating_add(1)).unwrap_or(u32::MAX);
            let mut p = len.to_le_bytes().to_vec();
            p.extend(s.as_bytes());
            p.push(0);
            (0x02, p)
        }
        Value::Array(a) => (
            0x04,
            document(a.iter().enumerate().map(|(i, v)| (i.to_string(), v))),
        ),
        Value::Object(m) => (0x03, document(m.iter().map(|(k, v)| (k.clone(), v)))),
    }
}

/// Decodes a BSON document that must span exactly `b`.
///
/// # Errors
/// [`BsonError`] on malformed input.
pub fn decode(b: &[u8]) -> Result<Value, BsonError> {
    let (m, used) = read_document(b, 0, 0)?;
    if used != b.len() {
        return Err(BsonError::Truncated(used));
    }
    Ok(Value::Object(m))
}

fn u32_at(b: &[u8], at: usize) -> Result<usize, BsonError> {
    let end = at.checked_add(4).ok_or(BsonError::Truncated(at))?;
    let s = b.get(at..end).ok_or(BsonError::Truncated(at))?;
    let n = u32::from_le_bytes([s[0], s[1], s[2], s[3]]);
    usize::try_from(n).map_err(|_| BsonError::Truncated(at))
}

fn read_document(
    b: &[u8],
    start: usize,
    depth: usize,
) -> Result<(Map<String, Value>, usize), BsonError> {
    if depth > MAX_DEPTH {
        return Err(BsonError::TooDeep);
    }
    let len = u32_at(b, start)?;
    let end = start.checked_add(len).ok_or(BsonError::Truncated(start))?;
    if len < 5 || end > b.len() || b[end - 1] != 0 {
        return Err(BsonError::Truncated(start));
    }
    let mut m = Map::new();
    let mut at = start + 4;
    while at < end - 1 {
        let tag = b[at];
        at += 1;
        let nul = b[at..end]
            .iter()
            .position(|c| *c == 0)
            .ok_or(BsonError::Truncated(at))?;
        let name = std::str::from_utf8(&b[at..at + nul]).map_err(|_| BsonError::Utf8)?;
        at += nul + 1;
        let (v, next) = read_element(b, tag, at, end, depth)?;
        m.insert(name.to_owned(), v);
        at = next;
    }
    Ok((m, end))
}

fn read_element(
    b: &[u8],
    tag: u8,
    at: usize,
    end: usize,
    depth: usize,
) -> Result<(Value, usize), BsonError> {
    let take = |n: usize| -> Result<&[u8], BsonError> {
        let e = at.checked_add(n).ok_or(BsonError::Truncated(at))?;
        if e > end {
            return Err(BsonError::Truncated(at));
        }
        Ok(&b[at..e])
    };
    match tag {
        0x0A => Ok((Value::Null, at)),
        0x08 => Ok((Value::Bool(take(1)?[0] != 0), at + 1)),
        0x01 => {
            let s = take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(s);
            let f = f64::from_le_bytes(a);
            let v = serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
            Ok((v, at + 8))
        }
        0x02 => {
            let n = u32_at(b, at)?;
            let body = at + 4;
            let e = body.checked_add(n).ok_or(BsonError::Truncated(at))?;
            if n == 0 || e > end {
                return Err(BsonError::Truncated(at));
            }
            let s = std::str::from_utf8(&b[body..e - 1]).map_err(|_| BsonError::Utf8)?;
            Ok((Value::String(s.to_owned()), e))
        }
        0x03 => {
            let (m, e) = read_document(&b[..end], at, depth + 1)?;
            Ok((Value::Object(m), e))
        }
        0x04 => {
            let (m, e) = read_document(&b[..end], at, depth + 1)?;
            Ok((Value::Array(m.into_iter().map(|(_, v)| v).collect()), e))
        }
        t => Err(BsonError::UnsupportedType(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deep_nesting_is_refused_without_recursing_further() {
        let mut v = json!("leaf");
        for _ in 0..=MAX_DEPTH + 1 {
            v = json!({ "a": v });
        }
        assert_eq!(decode(&encode(&v)), Err(BsonError::TooDeep));
        let mut ok = json!("leaf");
        for _ in 0..MAX_DEPTH {
            ok = json!({ "a": ok });
        }
        assert_eq!(decode(&encode(&ok)).unwrap(), ok);
    }

    #[test]
    fn round_trips_an_error_object() {
        let v = json!({"kind": "generic", "error": "magic byte 0x03 not allowed",
                       "list": [1.5, true, null, {"a": "b"}]});
        let b = encode(&v);
        assert_eq!(u32_at(&b, 0).unwrap(), b.len());
        assert_eq!(decode(&b).unwrap(), v);
    }

    #[test]
    fn a_string_element_is_bson() {
        // {"a": "b"}: len 14, 0x02 'a' 0, len 2, 'b' 0, 0.
        assert_eq!(
            encode(&json!({"a": "b"})),
            [14, 0, 0, 0, 2, b'a', 0, 2, 0, 0, 0, b'b', 0, 0]
        );
    }

    #[test]
    fn malformed_documents_are_errors() {
        for b in [
            &[][..],
            &[5, 0, 0, 0],
            &[200, 0, 0, 0, 0],
            &[6, 0, 0, 0, 0x02, 0],
        ] {
            assert!(decode(b).is_err(), "{b:?}");
        }
    }
}
