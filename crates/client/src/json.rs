//! JSON printed as octez-client prints RPC answers (`rpc get`): the `Json_repr.pp` layout of
//! the `json-data-encoding` library under OCaml's `Format` with its default margin of 78
//! columns. Objects are `{ "k": v, "k2": v2 }` and arrays `[ a, b ]`, each a packing box
//! indented by 2 (`@[<hov 2>{ … }@]`), fields `@[<hov 2>"k":@ v@]`; a box that fits on the rest
//! of the line is printed flat, otherwise each break hint starts a new line when the item up to
//! the next hint of the same box does not fit. Fields keep the node's order.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// `Format`'s default margin.
const MARGIN: usize = 78;

/// A layout document: text, a break hint (a space or a new line), or a packing box.
enum Doc {
    Text(String),
    Break,
    Box(Vec<Doc>),
}

/// Octez's string escaping (`Json_repr.pp_string`): `"`, `\`, `\n`, `\r`, `\b`, `\t`, other
/// control characters as `\u00XX`, everything else as is.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A JSON value that keeps the order of its fields (the workspace's `serde_json` sorts them).
#[derive(Debug, Clone, PartialEq)]
enum Json {
    /// `null`, booleans and numbers, as printed.
    Atom(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Atom("null".into()))
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Atom(b.to_string()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::Atom(n.to_string()))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::Atom(n.to_string()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Json::Atom(
            serde_json::Number::from_f64(n).map_or_else(|| "null".into(), |n| n.to_string()),
        ))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::String(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut l = Vec::new();
        while let Some(v) = seq.next_element()? {
            l.push(v);
        }
        Ok(Json::Array(l))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut l = Vec::new();
        while let Some(kv) = map.next_entry()? {
            l.push(kv);
        }
        Ok(Json::Object(l))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

fn doc(v: &Json) -> Doc {
    match v {
        Json::Object(m) if !m.is_empty() => {
            let mut items = vec![Doc::Text("{ ".into())];
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    items.push(Doc::Text(",".into()));
                    items.push(Doc::Break);
                }
                items.push(Doc::Box(vec![
                    Doc::Text(format!("{}:", quote(k))),
                    Doc::Break,
                    doc(v),
                ]));
            }
            items.push(Doc::Text(" }".into()));
            Doc::Box(items)
        }
        Json::Array(l) if !l.is_empty() => {
            let mut items = vec![Doc::Text("[ ".into())];
            for (i, v) in l.iter().enumerate() {
                if i > 0 {
                    items.push(Doc::Text(",".into()));
                    items.push(Doc::Break);
                }
                items.push(doc(v));
            }
            items.push(Doc::Text(" ]".into()));
            Doc::Box(items)
        }
        Json::Object(_) => Doc::Text("{}".into()),
        Json::Array(_) => Doc::Text("[]".into()),
        Json::String(s) => Doc::Text(quote(s)),
        Json::Atom(a) => Doc::Text(a.clone()),
    }
}

/// Width of `d` printed flat.
fn width(d: &Doc) -> usize {
    match d {
        Doc::Text(t) => t.chars().count(),
        Doc::Break => 1,
        Doc::Box(items) => items.iter().map(width).sum(),
    }
}

struct Printer {
    out: String,
    column: usize,
}

impl Printer {
    fn text(&mut self, t: &str) {
        self.out.push_str(t);
        self.column = self.column.saturating_add(t.chars().count());
    }

    fn flat(&mut self, d: &Doc) {
        match d {
            Doc::Text(t) => self.text(t),
            Doc::Break => self.text(" "),
            Doc::Box(items) => items.iter().for_each(|i| self.flat(i)),
        }
    }

    fn print(&mut self, d: &Doc) {
        let Doc::Box(items) = d else {
            return self.flat(d);
        };
        if width(d) <= MARGIN.saturating_sub(self.column) {
            return self.flat(d);
        }
        let indent = self.column.saturating_add(2);
        for (i, item) in items.iter().enumerate() {
            match item {
                Doc::Break => {
                    // The hint's size: itself and what follows up to the next hint of this box.
                    let next: usize = items[i.saturating_add(1)..]
                        .iter()
                        .take_while(|d| !matches!(d, Doc::Break))
                        .map(width)
                        .sum();
                    if next.saturating_add(1) > MARGIN.saturating_sub(self.column) {
                        self.out.push('\n');
                        self.out.push_str(&" ".repeat(indent));
                        self.column = indent;
                    } else {
                        self.text(" ");
                    }
                }
                other => self.print(other),
            }
        }
    }
}

/// The JSON text `text` as octez-client prints it (no final new line).
///
/// # Errors
/// When `text` is not JSON.
pub fn pretty(text: &str) -> Result<String, serde_json::Error> {
    let v: Json = serde_json::from_str(text)?;
    let mut p = Printer {
        out: String::new(),
        column: 0,
    };
    p.print(&doc(&v));
    Ok(p.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pp(v: &serde_json::Value) -> String {
        pretty(&v.to_string()).unwrap()
    }

    /// `tezt/tests/expected/RPC_test.ml/Alpha- (mode client) RPC regression tests-
    /// adaptive_issuance.out` (Octez): `rpc get …/issuance/expected_issuance`, first two cycles.
    #[test]
    fn layout_as_octez_client() {
        let cycle = |n: u32| {
            format!(
                r#"{{"cycle": {n}, "baking_reward_fixed_portion": "300010",
                   "baking_reward_bonus_per_block": "300010",
                   "attesting_reward_per_block": "600020",
                   "seed_nonce_revelation_tip": "234", "vdf_revelation_tip": "234",
                   "dal_attesting_reward_per_shard": "520"}}"#
            )
        };
        let want = r#"[ { "cycle": 0, "baking_reward_fixed_portion": "300010",
    "baking_reward_bonus_per_block": "300010",
    "attesting_reward_per_block": "600020",
    "seed_nonce_revelation_tip": "234", "vdf_revelation_tip": "234",
    "dal_attesting_reward_per_shard": "520" },
  { "cycle": 1, "baking_reward_fixed_portion": "300010",
    "baking_reward_bonus_per_block": "300010",
    "attesting_reward_per_block": "600020",
    "seed_nonce_revelation_tip": "234", "vdf_revelation_tip": "234",
    "dal_attesting_reward_per_shard": "520" } ]"#;
        let list = format!("[{}, {}]", cycle(0), cycle(1));
        assert_eq!(pretty(&list).unwrap(), want);
        assert!(pretty("{").is_err());
        // Same file: flat when it fits, nested objects, scalars.
        let v = r#"{"static": {"numerator": "42052105987200", "denominator": "200000010001"},
                    "dynamic": {"numerator": "0", "denominator": "1"}}"#;
        assert_eq!(
            pretty(v).unwrap(),
            "{ \"static\": { \"numerator\": \"42052105987200\", \"denominator\": \"200000010001\" },\n  \"dynamic\": { \"numerator\": \"0\", \"denominator\": \"1\" } }"
        );
        assert_eq!(pp(&json!("0")), "\"0\"");
        assert_eq!(pp(&json!(0)), "0");
        assert_eq!(pp(&json!(null)), "null");
        assert_eq!(pp(&json!([])), "[]");
        assert_eq!(pp(&json!("a\"\n\u{1}é")), "\"a\\\"\\n\\u0001é\"");
        let list: Vec<String> = (0..3)
            .map(|i| format!("tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZS{i}"))
            .collect();
        assert_eq!(
            pp(&json!(list)),
            "[ \"tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZS0\",\n  \"tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZS1\",\n  \"tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZS2\" ]"
        );
    }
}
