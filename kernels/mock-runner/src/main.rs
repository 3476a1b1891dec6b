//! `mock-runner`: runs one of the test kernels natively on the SDK's
//! `MockHost` (tezos-smart-rollup-mock 0.2.2) over an inbox, and prints the
//! resulting durable storage and outbox as JSON (for differential tests
//! against the wasm PVM).
//!
//! Usage: `mock-runner --kernel NAME --inputs inputs.json [--prefix /p]...
//! [--preimages-dir DIR]`
//!
//! * `inputs.json`: Octez debugger format, a list of levels, each a list of
//!   messages; only `{"external": "<hex>"}` is supported (the kernel reads
//!   `01 ‖ payload`).
//! * Each level is one `MockHost::run_level` (the mock appends EndOfLevel; it
//!   adds StartOfLevel and InfoPerLevel from the second level on, not on the
//!   first, and its levels start at 3_760_129).
//! * `--preimages-dir`: every file is added as a preimage (MockHost hashes it).
//!   For `host-functions`, its known preimage is always added.
//! * Output: `{"kernel", "levels": [{"level", "outbox": [hex], "panic"}],
//!   "durable": {"/key": "hex"}}`; `durable` lists every value whose key
//!   starts with one of the prefixes (default: all keys but `/readonly`).
//!   A panicking run is caught and reported in `panic` (null otherwise).
//!
//! MockHost has no public API to list keys: the durable tree is recovered
//! from its `Debug` output (format of 0.2.2, pinned in Cargo.lock).

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tezos_data_encoding::enc::{BinResult, BinWriter};
use tezos_smart_rollup_mock::MockHost;

/// External payload written verbatim (no length prefix).
struct Raw(Vec<u8>);

impl BinWriter for Raw {
    fn bin_write(&self, output: &mut Vec<u8>) -> BinResult {
        output.extend_from_slice(&self.0);
        Ok(())
    }
}

fn kernel_fn(name: &str) -> Option<fn(&mut MockHost)> {
    Some(match name {
        "counter" => counter::kernel_run::<MockHost>,
        "host-functions" => host_functions::kernel_run::<MockHost>,
        "panic" => panic::kernel_run::<MockHost>,
        "recursion" => recursion::kernel_run::<MockHost>,
        "floats" => floats::kernel_run::<MockHost>,
        "upgrade" => upgrade::kernel_run::<MockHost>,
        _ => return None,
    })
}

fn usage() -> ! {
    eprintln!(
        "usage: mock-runner --kernel counter|host-functions|panic|recursion|floats|upgrade \
         --inputs inputs.json [--prefix /p]... [--preimages-dir DIR]"
    );
    std::process::exit(2)
}

fn main() {
    let mut kernel = None;
    let mut inputs = None;
    let mut prefixes: Vec<String> = vec![];
    let mut preimages = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--kernel" => kernel = Some(val()),
            "--inputs" => inputs = Some(val()),
            "--prefix" => prefixes.push(val()),
            "--preimages-dir" => preimages = Some(val()),
            _ => usage(),
        }
    }
    let (Some(kernel), Some(inputs)) = (kernel, inputs) else {
        usage()
    };
    let run = kernel_fn(&kernel).unwrap_or_else(|| usage());
    let inputs: serde_json::Value = serde_json::from_slice(
        &std::fs::read(&inputs).unwrap_or_else(|e| die(&format!("{inputs}: {e}"))),
    )
    .unwrap_or_else(|e| die(&format!("inputs: {e}")));
    let levels = inputs
        .as_array()
        .unwrap_or_else(|| die("inputs: expected a list of levels"));

    let mut host = MockHost::default();
    if kernel == "host-functions" {
        host.set_preimage(host_functions::KNOWN_PREIMAGE.to_vec());
    }
    if let Some(dir) = preimages {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| die(&format!("{dir}: {e}")));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| die(&e.to_string())).path();
            if path.is_file() {
                host.set_preimage(std::fs::read(&path).unwrap_or_else(|e| die(&e.to_string())));
            }
        }
    }
    // Panics are reported in the JSON: silence the default hook's message.
    std::panic::set_hook(Box::new(|_| {}));

    let mut out_levels = vec![];
    for level in levels {
        let msgs = level
            .as_array()
            .unwrap_or_else(|| die("inputs: a level must be a list of messages"));
        for m in msgs {
            let hex_payload = m
                .get("external")
                .and_then(|v| v.as_str())
                .unwrap_or_else(|| die(&format!("unsupported message {m} (only external)")));
            let payload = hex::decode(hex_payload).unwrap_or_else(|e| die(&format!("hex: {e}")));
            host.add_external(Raw(payload));
        }
        let mut panic_msg = None;
        let at = host.level();
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| host.run_level(run))) {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic_msg = Some(msg);
            // run_level did not finish: move on to the next level by hand.
            host.run_level(|_| {});
        }
        let outbox: Vec<String> = host.outbox_at(at).iter().map(hex::encode).collect();
        out_levels.push(serde_json::json!({
            "level": at,
            "outbox": outbox,
            "panic": panic_msg,
        }));
    }

    let debug = format!("{host:?}");
    let tree = parse_durable(&debug).unwrap_or_else(|e| die(&format!("cannot list keys: {e}")));
    let durable: serde_json::Map<String, serde_json::Value> = tree
        .into_iter()
        .filter(|(k, _)| {
            if prefixes.is_empty() {
                !(k == "/readonly" || k.starts_with("/readonly/"))
            } else {
                prefixes.iter().any(|p| under(k, p))
            }
        })
        .map(|(k, v)| (k, serde_json::Value::String(hex::encode(v))))
        .collect();
    let result = serde_json::json!({
        "kernel": kernel,
        "levels": out_levels,
        "durable": durable,
    });
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
}

/// `key` is `prefix` or below it (`prefix` "/" or "" matches everything).
fn under(key: &str, prefix: &str) -> bool {
    let p = prefix.trim_end_matches('/');
    p.is_empty() || key == p || key.strip_prefix(p).is_some_and(|r| r.starts_with('/'))
}

fn die(msg: &str) -> ! {
    eprintln!("mock-runner: {msg}");
    std::process::exit(1)
}

/// Extracts all `(key, value)` pairs of the durable tree from MockHost's
/// derived `Debug` output: `durable: Node { value: None | Some([u8, ...]),
/// inner: {"step": Node {...}, ...} }`.
fn parse_durable(s: &str) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let start = s
        .find("durable: Node")
        .ok_or("no `durable: Node` in Debug output")?;
    let mut p = Parser {
        s: s.as_bytes(),
        i: start + "durable: ".len(),
    };
    let mut out = BTreeMap::new();
    p.node("", &mut out)?;
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, tok: &str) -> Result<(), String> {
        self.ws();
        if self.s[self.i..].starts_with(tok.as_bytes()) {
            self.i += tok.len();
            Ok(())
        } else {
            let end = (self.i + 40).min(self.s.len());
            Err(format!(
                "expected {tok:?} at {:?}",
                String::from_utf8_lossy(&self.s[self.i..end])
            ))
        }
    }

    fn peek(&mut self, tok: &str) -> bool {
        self.ws();
        self.s[self.i..].starts_with(tok.as_bytes())
    }

    fn node(&mut self, path: &str, out: &mut BTreeMap<String, Vec<u8>>) -> Result<(), String> {
        self.eat("Node")?;
        self.eat("{")?;
        self.eat("value:")?;
        if self.peek("None") {
            self.eat("None")?;
        } else {
            self.eat("Some(")?;
            self.eat("[")?;
            let mut bytes = vec![];
            while !self.peek("]") {
                self.ws();
                let st = self.i;
                while self.s[self.i].is_ascii_digit() {
                    self.i += 1;
                }
                let n: u8 = std::str::from_utf8(&self.s[st..self.i])
                    .unwrap()
                    .parse()
                    .map_err(|e| format!("byte: {e}"))?;
                bytes.push(n);
                if self.peek(",") {
                    self.eat(",")?;
                }
            }
            self.eat("]")?;
            self.eat(")")?;
            out.insert(
                if path.is_empty() {
                    "/".into()
                } else {
                    path.into()
                },
                bytes,
            );
        }
        self.eat(",")?;
        self.eat("inner:")?;
        self.eat("{")?;
        while !self.peek("}") {
            self.eat("\"")?;
            let st = self.i;
            while self.s[self.i] != b'"' {
                self.i += 1;
            }
            let step = String::from_utf8_lossy(&self.s[st..self.i]).into_owned();
            self.i += 1;
            self.eat(":")?;
            self.node(&format!("{path}/{step}"), out)?;
            if self.peek(",") {
                self.eat(",")?;
            }
        }
        self.eat("}")?;
        self.eat("}")?;
        Ok(())
    }
}
