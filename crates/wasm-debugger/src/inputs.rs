//! `--inputs <inputs.json>`: inboxes given as a JSON list of levels, each a list of
//! messages (`wasm-pvm.md` §10.1, Octez `src/lib_wasm_debugger/messages.ml`):
//!
//! * `{"payload": "<Michelson>", "sender"?: "KT1…", "source"?: "tz…", "destination"?: "sr1…"}`
//!   → internal transfer (`00 00` · Micheline · sender 20 B · source 21 B · destination 20 B);
//! * `{"external": "<hex>"}` → `01` · bytes;
//! * `{"serialized": "<hex>"}` → the bytes as given (any inbox message).
//!
//! Each level is wrapped with Start_of_level, Info_per_level (epoch timestamp, zero
//! block hash), the messages and End_of_level (`wasm-pvm.md` §3.4, §4.1).

use serde_json::Value;
use tezos_types::{ContractHash, PublicKeyHash, SmartRollupAddress};

use tezos_types::{BinEncode, Micheline, Writer};

/// Default values of the optional transfer fields (Octez `Config`: zero hashes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferDefaults {
    /// Default `sender` (KT1 zero).
    pub sender: ContractHash,
    /// Default `source` (tz1 zero).
    pub source: PublicKeyHash,
    /// Default `destination` (the `--rollup` address, zero by default).
    pub destination: SmartRollupAddress,
}

impl TransferDefaults {
    /// Zero sender and source, the given destination.
    #[must_use]
    pub fn with_destination(destination: SmartRollupAddress) -> Self {
        Self {
            sender: ContractHash::ZERO,
            source: PublicKeyHash::Ed25519([0; 20]),
            destination,
        }
    }
}

/// Why an inputs file is invalid. The message names the level and message index.
#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    /// Not JSON.
    #[error("inputs file is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Structure or field error.
    #[error("inputs file: {0}")]
    Invalid(String),
}

fn invalid(level: usize, index: usize, msg: impl std::fmt::Display) -> InputsError {
    InputsError::Invalid(format!("level {level}, message {index}: {msg}"))
}

/// Parses an inputs file into, per level, the serialized user messages (without the
/// SOL/IPL/EOL wrapping, see [`wrap_level`]).
pub fn parse_inputs(
    text: &str,
    defaults: &TransferDefaults,
) -> Result<Vec<Vec<Vec<u8>>>, InputsError> {
    let json: Value = serde_json::from_str(text)?;
    let Value::Array(levels) = json else {
        return Err(InputsError::Invalid(
            "expected a list of levels (a JSON array of arrays)".into(),
        ));
    };
    levels
        .iter()
        .enumerate()
        .map(|(l, level)| {
            let Value::Array(msgs) = level else {
                return Err(InputsError::Invalid(format!(
                    "level {l}: expected a list of messages"
                )));
            };
            msgs.iter()
                .enumerate()
                .map(|(i, m)| parse_message(m, defaults).map_err(|e| invalid(l, i, e)))
                .collect()
        })
        .collect()
}

fn field<'a>(
    obj: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, String> {
    match obj.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("field \"{name}\" must be a string")),
    }
}

fn parse_message(m: &Value, defaults: &TransferDefaults) -> Result<Vec<u8>, String> {
    let Value::Object(obj) = m else {
        return Err("expected an object".into());
    };
    let allowed: &[&str] = if obj.contains_key("payload") {
        &["payload", "sender", "source", "destination"]
    } else if obj.contains_key("external") {
        &["external"]
    } else if obj.contains_key("serialized") {
        &["serialized"]
    } else {
        return Err(
            "expected one of the fields \"payload\", \"external\" or \"serialized\"".into(),
        );
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unexpected field \"{k}\""));
    }
    if let Some(payload) = field(obj, "payload")? {
        let expr = Micheline::parse_text(payload)
            .map_err(|e| format!("invalid Michelson payload {payload:?}: {e}"))?;
        let mut w = Writer::new();
        expr.bin_write(&mut w);
        let micheline = w.into_bytes();
        let sender = match field(obj, "sender")? {
            Some(s) => ContractHash::from_b58check(s)
                .map_err(|e| format!("invalid sender {s:?} (expected KT1…): {e}"))?,
            None => defaults.sender,
        };
        let source = match field(obj, "source")? {
            Some(s) => PublicKeyHash::from_b58check(s)
                .map_err(|e| format!("invalid source {s:?} (expected tz…): {e}"))?,
            None => defaults.source,
        };
        let destination = match field(obj, "destination")? {
            Some(s) => SmartRollupAddress::from_b58check(s)
                .map_err(|e| format!("invalid destination {s:?} (expected sr1…): {e}"))?,
            None => defaults.destination,
        };
        Ok(transfer(&micheline, &sender, &source, &destination))
    } else if let Some(h) = field(obj, "external")? {
        let bytes = hex::decode(h).map_err(|e| format!("\"external\" is not hexadecimal: {e}"))?;
        let mut out = Vec::with_capacity(bytes.len() + 1);
        out.push(0x01);
        out.extend_from_slice(&bytes);
        Ok(out)
    } else {
        let h = field(obj, "serialized")?.unwrap_or_default();
        hex::decode(h).map_err(|e| format!("\"serialized\" is not hexadecimal: {e}"))
    }
}

/// Serialized internal transfer (`wasm-pvm.md` §4.1).
#[must_use]
pub fn transfer(
    micheline: &[u8],
    sender: &ContractHash,
    source: &PublicKeyHash,
    destination: &SmartRollupAddress,
) -> Vec<u8> {
    let mut out = vec![0x00, 0x00];
    out.extend_from_slice(micheline);
    out.extend_from_slice(sender.as_bytes());
    out.extend_from_slice(&source.to_bytes());
    out.extend_from_slice(destination.as_bytes());
    out
}

/// `Start_of_level`.
pub const START_OF_LEVEL: [u8; 2] = [0x00, 0x01];
/// `End_of_level`.
pub const END_OF_LEVEL: [u8; 2] = [0x00, 0x02];

/// `Info_per_level` with the epoch timestamp and the zero block hash, as the debugger
/// sends it.
#[must_use]
pub fn info_per_level_epoch() -> Vec<u8> {
    let mut out = vec![0x00, 0x03];
    out.extend_from_slice(&0i64.to_be_bytes());
    out.extend_from_slice(&[0u8; 32]);
    out
}

/// The full list of messages of one level: SOL, IPL, `messages`, EOL.
#[must_use]
pub fn wrap_level(messages: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(messages.len() + 3);
    out.push(START_OF_LEVEL.to_vec());
    out.push(info_per_level_epoch());
    out.extend(messages.iter().cloned());
    out.push(END_OF_LEVEL.to_vec());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> TransferDefaults {
        TransferDefaults::with_destination(SmartRollupAddress::ZERO)
    }

    #[test]
    fn parse_all_kinds() {
        let text = r#"[
          [ {"external": "0102"}, {"serialized": "0001"} ],
          [],
          [ {"payload": "Unit"},
            {"payload": "Pair 1 2", "destination": "sr1UNDWPUYVeomgG15wn5jSw689EJ4RNnVQa"} ]
        ]"#;
        let levels = parse_inputs(text, &defaults()).unwrap();
        assert_eq!(levels.len(), 3);
        assert_eq!(levels[0], vec![vec![1, 1, 2], vec![0, 1]]);
        assert!(levels[1].is_empty());
        let unit = &levels[2][0];
        assert_eq!(&unit[..4], &[0, 0, 3, 11]);
        assert_eq!(unit.len(), 2 + 2 + 20 + 21 + 20);
        assert!(
            unit[4..].iter().all(|b| *b == 0),
            "zero sender/source/destination"
        );
        let dest =
            SmartRollupAddress::from_b58check("sr1UNDWPUYVeomgG15wn5jSw689EJ4RNnVQa").unwrap();
        assert_eq!(&levels[2][1][levels[2][1].len() - 20..], dest.as_bytes());
    }

    #[test]
    fn errors_are_clear() {
        let cases = [
            ("{", "not valid JSON"),
            ("{}", "list of levels"),
            ("[1]", "level 0: expected a list"),
            (
                "[[{\"external\": \"zz\"}]]",
                "level 0, message 0: \"external\" is not hexadecimal",
            ),
            (
                "[[], [{\"foo\": 1}]]",
                "level 1, message 0: expected one of",
            ),
            ("[[{\"payload\": \"Foo\"}]]", "invalid Michelson payload"),
            (
                "[[{\"payload\": \"Unit\", \"sender\": \"tz1x\"}]]",
                "invalid sender",
            ),
            (
                "[[{\"external\": \"00\", \"x\": 1}]]",
                "unexpected field \"x\"",
            ),
        ];
        for (text, expected) in cases {
            let e = parse_inputs(text, &defaults()).unwrap_err().to_string();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }

    /// Payload encodings (Micheline binary, the PACK body without `05`).
    #[test]
    fn michelson_payloads() {
        let d = defaults();
        for (text, hex) in [
            ("Unit", "030b"),
            ("-1", "0041"),
            ("64", "008001"),
            ("\"hello\"", "010000000568656c6c6f"),
            ("0x0102", "0a000000020102"),
            ("Pair 1 2", "070700010002"),
            ("(Pair 1 2)", "070700010002"),
            ("{ 1 ; 2 }", "020000000400010002"),
            ("Pair 1 2 3", "09070000000600010002000300000000"),
            ("Left (Pair \"a\" 0x)", "050507070100000001610a00000000"),
        ] {
            let json = format!("[[{{\"payload\": {}}}]]", serde_json::Value::from(text));
            let msg = &parse_inputs(&json, &d).unwrap()[0][0];
            assert_eq!(hex::encode(&msg[2..msg.len() - 61]), hex, "{text}");
        }
    }

    #[test]
    fn level_wrapping() {
        let w = wrap_level(&[vec![1, 9]]);
        assert_eq!(w.len(), 4);
        assert_eq!(w[0], START_OF_LEVEL);
        assert_eq!(w[1].len(), 42);
        assert_eq!(&w[1][..2], &[0, 3]);
        assert_eq!(w[3], END_OF_LEVEL);
    }
}
