//! Ordered JSON values printed byte-for-byte like Octez's `Data_encoding.Json.to_string`
//! (non-minified), which is OCaml's `Format` pretty-printer (margin 78, max indent 68) driving
//! `hov 2` boxes: `{ "k": v,@ "k2": v2 }` and `[ a,@ b ]` (octez-rollup-node.md §2: this is how
//! `config.json` is written).
//!
//! The printer below is an implementation of the Oppen-style algorithm used by OCaml's
//! `Format` module (token queue, scan stack of unknown sizes, format stack of open boxes),
//! restricted to what the JSON printer needs: text, `hov` boxes and `@ ` break hints.

use std::collections::VecDeque;

/// A JSON value whose objects keep their insertion order (Octez encodings fix the order).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, already rendered (integers as digits, floats like OCaml's `%g`/`%.0f`).
    Number(String),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Json>),
    /// An object with ordered fields.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Self {
        Self::String(s.into())
    }

    /// An integer value.
    pub fn int(i: i64) -> Self {
        Self::Number(i.to_string())
    }

    /// A float rendered as Data_encoding does: integral values without decimals, others `%g`.
    pub fn float(f: f64) -> Self {
        Self::Number(format_float(f))
    }

    /// Converts to a `serde_json::Value` (object order is lost unless serde_json preserves it).
    pub fn to_value(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Json::Null => Value::Null,
            Json::Bool(b) => Value::Bool(*b),
            Json::Number(n) => serde_json::from_str(n).unwrap_or(Value::Null),
            Json::String(s) => Value::String(s.clone()),
            Json::Array(a) => Value::Array(a.iter().map(Json::to_value).collect()),
            Json::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_value())).collect())
            }
        }
    }

    /// Converts from a `serde_json::Value` (objects in the value's iteration order).
    pub fn from_value(v: &serde_json::Value) -> Self {
        use serde_json::Value;
        match v {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Number(n) => match n.as_f64() {
                Some(f) if !n.is_i64() && !n.is_u64() => Json::float(f),
                _ => Json::Number(n.to_string()),
            },
            Value::String(s) => Json::String(s.clone()),
            Value::Array(a) => Json::Array(a.iter().map(Json::from_value).collect()),
            Value::Object(o) => Json::Object(
                o.iter()
                    .map(|(k, v)| (k.clone(), Json::from_value(v)))
                    .collect(),
            ),
        }
    }

    /// Compact rendering (`Data_encoding.Json.to_string ~minify:true`-like, used for RPCs).
    pub fn to_compact(&self) -> String {
        let mut out = String::new();
        self.write_compact(&mut out);
        out
    }

    fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(n),
            Json::String(s) => out.push_str(&escape(s)),
            Json::Array(a) => {
                out.push('[');
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_compact(out);
                }
                out.push(']');
            }
            Json::Object(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&escape(k));
                    out.push(':');
                    v.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    /// The pretty rendering Octez writes to files (no trailing newline).
    pub fn to_ocaml_pretty(&self) -> String {
        let mut pp = Pp::new();
        self.emit(&mut pp);
        pp.flush()
    }

    fn emit(&self, pp: &mut Pp) {
        match self {
            Json::Object(o) if o.is_empty() => pp.text("{}"),
            Json::Object(o) => {
                pp.open_box(2);
                pp.text("{ ");
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        pp.text(",");
                        pp.brk(1, 0);
                    }
                    pp.open_box(2);
                    emit_string(pp, k);
                    pp.text(":");
                    pp.brk(1, 0);
                    v.emit(pp);
                    pp.close_box();
                }
                pp.text(" }");
                pp.close_box();
            }
            Json::Array(a) if a.is_empty() => pp.text("[]"),
            Json::Array(a) => {
                pp.open_box(2);
                pp.text("[ ");
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        pp.text(",");
                        pp.brk(1, 0);
                    }
                    v.emit(pp);
                }
                pp.text(" ]");
                pp.close_box();
            }
            Json::String(s) => emit_string(pp, s),
            other => pp.text(&other.to_compact()),
        }
    }
}

/// `Json_repr.pp_string`: a quote token, one token per (escaped) character, a quote token.
fn emit_string(pp: &mut Pp, s: &str) {
    pp.text("\"");
    for c in s.chars() {
        pp.text(&escape_char(c));
    }
    pp.text("\"");
}

fn escape_char(c: char) -> String {
    match c {
        '"' => "\\\"".into(),
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\u{8}' => "\\b".into(),
        '\t' => "\\t".into(),
        '\\' => "\\\\".into(),
        c if (c as u32) < 0x20 => format!("\\u{:04x}", c as u32),
        c => c.to_string(),
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        out.push_str(&escape_char(c));
    }
    out.push('"');
    out
}

/// Float rendering of `Json_repr.pp`: `%.0f` when integral, else C's `%g`.
pub fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.is_finite() {
        return format!("{f:.0}");
    }
    // C `%g`: 6 significant digits, scientific when exponent < -4 or >= 6, no trailing zeros.
    if f == 0.0 || !f.is_finite() {
        return format!("{f}");
    }
    let exp = f.abs().log10().floor() as i32;
    if !(-4..6).contains(&exp) {
        let s = format!("{f:.5e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let mant = trim_zeros(mant);
        let e: i32 = e.parse().unwrap_or(0);
        let sign = if e < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", e.abs())
    } else {
        let decimals = usize::try_from(5 - exp).unwrap_or(0);
        trim_zeros(&format!("{f:.decimals$}")).to_string()
    }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

// ---------------------------------------------------------------------------------------------
// The Format engine.

const MARGIN: isize = 78;
const MAX_INDENT: isize = 68;
const INFINITY: isize = 1_000_000_010;

#[derive(Debug, Clone, Copy, PartialEq)]
enum BoxType {
    Hov,
    Fits,
}

#[derive(Debug)]
enum Token {
    Text(String),
    Begin(isize),
    End,
    Break { width: isize, offset: isize },
}

#[derive(Debug)]
struct Elem {
    size: isize,
    token: Token,
    length: isize,
}

struct Scan {
    left_total: isize,
    /// Index into `Pp::elems`; `None` is the sentinel.
    elem: Option<usize>,
}

struct Pp {
    elems: Vec<Elem>,
    queue: VecDeque<usize>,
    scan: Vec<Scan>,
    format: Vec<(BoxType, isize)>,
    space_left: isize,
    left_total: isize,
    right_total: isize,
    depth: usize,
    out: String,
}

impl Pp {
    fn new() -> Self {
        let mut pp = Pp {
            elems: Vec::new(),
            queue: VecDeque::new(),
            scan: vec![Scan {
                left_total: -1,
                elem: None,
            }],
            format: Vec::new(),
            space_left: MARGIN,
            left_total: 1,
            right_total: 1,
            depth: 1,
            out: String::new(),
        };
        // The system box opened when the formatter is created.
        pp.elems.push(Elem {
            size: -1,
            token: Token::Begin(0),
            length: 0,
        });
        pp.queue.push_back(0);
        pp.scan.push(Scan {
            left_total: 1,
            elem: Some(0),
        });
        pp
    }

    fn enqueue(&mut self, e: Elem) -> usize {
        self.right_total += e.length;
        self.elems.push(e);
        let idx = self.elems.len() - 1;
        self.queue.push_back(idx);
        idx
    }

    fn init_scan(&mut self) {
        self.scan.clear();
        self.scan.push(Scan {
            left_total: -1,
            elem: None,
        });
    }

    fn set_size(&mut self, is_break: bool) {
        let Some(top) = self.scan.last() else { return };
        if top.left_total < self.left_total {
            self.init_scan();
            return;
        }
        let Some(idx) = top.elem else { return };
        let right_total = self.right_total;
        let e = &mut self.elems[idx];
        match e.token {
            Token::Break { .. } if is_break => {
                e.size += right_total;
                self.scan.pop();
            }
            Token::Begin(_) if !is_break => {
                e.size += right_total;
                self.scan.pop();
            }
            _ => {}
        }
    }

    fn scan_push(&mut self, is_break: bool, e: Elem) {
        let idx = self.enqueue(e);
        if is_break {
            self.set_size(true);
        }
        self.scan.push(Scan {
            left_total: self.right_total,
            elem: Some(idx),
        });
    }

    fn open_box(&mut self, indent: isize) {
        self.depth += 1;
        let size = -self.right_total;
        self.scan_push(
            false,
            Elem {
                size,
                token: Token::Begin(indent),
                length: 0,
            },
        );
    }

    fn close_box(&mut self) {
        if self.depth > 1 {
            self.enqueue(Elem {
                size: 0,
                token: Token::End,
                length: 0,
            });
            self.set_size(true);
            self.set_size(false);
            self.depth -= 1;
        }
    }

    fn brk(&mut self, width: isize, offset: isize) {
        let size = -self.right_total;
        self.scan_push(
            true,
            Elem {
                size,
                token: Token::Break { width, offset },
                length: width,
            },
        );
    }

    fn text(&mut self, s: &str) {
        let len = isize::try_from(s.chars().count()).unwrap_or(INFINITY);
        self.enqueue(Elem {
            size: len,
            token: Token::Text(s.to_string()),
            length: len,
        });
        self.advance_left();
    }

    fn advance_left(&mut self) {
        while let Some(&idx) = self.queue.front() {
            let (size, length) = (self.elems[idx].size, self.elems[idx].length);
            let pending = self.right_total - self.left_total;
            if size >= 0 || pending >= self.space_left {
                self.queue.pop_front();
                let size = if size >= 0 { size } else { INFINITY };
                self.format_token(idx, size);
                self.left_total += length;
            } else {
                break;
            }
        }
    }

    fn newline(&mut self, width: isize, offset: isize) {
        self.out.push('\n');
        let indent = (MARGIN - width + offset).min(MAX_INDENT);
        self.space_left = MARGIN - indent;
        for _ in 0..indent {
            self.out.push(' ');
        }
    }

    fn format_token(&mut self, idx: usize, size: isize) {
        match &self.elems[idx].token {
            Token::Text(s) => {
                self.space_left -= size;
                let s = s.clone();
                self.out.push_str(&s);
            }
            Token::Begin(off) => {
                let off = *off;
                let insertion_point = MARGIN - self.space_left;
                if insertion_point > MAX_INDENT
                    && let Some(&(ty, width)) = self.format.last()
                    && width > self.space_left
                    && ty == BoxType::Hov
                {
                    self.newline(width, 0);
                }
                let width = self.space_left - off;
                let ty = if size > self.space_left {
                    BoxType::Hov
                } else {
                    BoxType::Fits
                };
                self.format.push((ty, width));
            }
            Token::End => {
                self.format.pop();
            }
            Token::Break { width, offset } => {
                let (bw, off) = (*width, *offset);
                if let Some(&(ty, box_width)) = self.format.last() {
                    if ty == BoxType::Hov && size > self.space_left {
                        self.newline(box_width, off);
                    } else {
                        self.space_left -= bw;
                        for _ in 0..bw {
                            self.out.push(' ');
                        }
                    }
                }
            }
        }
    }

    fn flush(mut self) -> String {
        while self.depth > 1 {
            self.close_box();
        }
        self.right_total = INFINITY;
        self.advance_left();
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_object_on_one_line() {
        let j = Json::Object(vec![
            ("a".into(), Json::int(1)),
            ("b".into(), Json::Array(vec![Json::str("x")])),
            ("c".into(), Json::Object(vec![])),
        ]);
        assert_eq!(j.to_ocaml_pretty(), r#"{ "a": 1, "b": [ "x" ], "c": {} }"#);
        assert_eq!(j.to_compact(), r#"{"a":1,"b":["x"],"c":{}}"#);
    }

    #[test]
    fn long_object_breaks_with_two_space_indent() {
        // Shape of an `octez-node config init` file: breaks between fields in a hov box.
        let j = Json::Object(vec![
            (
                "data-dir".into(),
                Json::str("/home/user/.tezos-node-xxxxxxxxxxxxxxxxxx"),
            ),
            (
                "rpc".into(),
                Json::Object(vec![(
                    "listen-addrs".into(),
                    Json::Array(vec![Json::str("127.0.0.1:8732")]),
                )]),
            ),
            ("p2p".into(), Json::Object(vec![])),
        ]);
        let s = j.to_ocaml_pretty();
        assert_eq!(
            s,
            "{ \"data-dir\": \"/home/user/.tezos-node-xxxxxxxxxxxxxxxxxx\",\n  \"rpc\": { \"listen-addrs\": [ \"127.0.0.1:8732\" ] }, \"p2p\": {} }"
        );
    }

    #[test]
    fn floats_like_ocaml() {
        assert_eq!(format_float(2.0), "2");
        assert_eq!(format_float(0.5), "0.5");
        assert_eq!(format_float(1.25), "1.25");
        assert_eq!(format_float(0.1), "0.1");
        assert_eq!(format_float(1e-7), "1e-07");
    }

    #[test]
    fn escapes_strings() {
        assert_eq!(Json::str("a\"b\n").to_compact(), r#""a\"b\n""#);
    }
}
