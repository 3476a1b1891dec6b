//! The Octez WASM PVM state tree of the conformance scenario
//! (`testdata/conformance/README.md`), built by hand following `LAYOUT.md`,
//! must hash to the recorded Octez values.

use context_hash::{from_context_b58, to_context_b58};

use crate::tree::T;

/// Octez's state-hash vectors, copied into the repository (`testdata/README.md`).
const CONFORMANCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/conformance");

fn vectors(name: &str) -> Vec<String> {
    let path = format!("{CONFORMANCE}/{name}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {path}: {e}; the conformance vectors must be present")
    });
    text.lines().map(str::to_owned).collect()
}

/// Data_encoding `n` (unsigned LEB128-style, 7 bits per byte, little-endian groups).
fn enc_n(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// Data_encoding `z` (first byte: continuation, sign, 6 bits; then 7 bits per byte).
fn enc_z(v: i64) -> Vec<u8> {
    let neg = v < 0;
    let mut m = v.unsigned_abs();
    let mut first = (m & 0x3f) as u8;
    if neg {
        first |= 0x40;
    }
    m >>= 6;
    let mut out = Vec::new();
    if m == 0 {
        out.push(first);
        return out;
    }
    out.push(first | 0x80);
    out.extend(enc_n(m));
    out
}

fn enc_i32(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

/// Data_encoding `string` (u32 BE length prefix).
fn enc_string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(s.as_bytes());
    out
}

/// A chunked byte vector with every chunk materialised (`of_string`/`of_bytes`):
/// `length` (int64 BE) and `contents/<i>` (512 bytes, zero-padded).
fn cbv(bytes: &[u8]) -> T {
    let mut t = T::empty();
    t.set("length", (bytes.len() as u64).to_be_bytes());
    for (i, chunk) in bytes.chunks(512).enumerate() {
        let mut c = chunk.to_vec();
        c.resize(512, 0);
        t.set(&format!("contents/{i}"), c);
    }
    t
}

fn leb_u32(out: &mut Vec<u8>, mut v: u32) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

/// 5-byte padded LEB128 (`patch_gap32` of `lib_webassembly/binary/encode.ml`).
fn gap32(n: usize) -> [u8; 5] {
    let n = n as u32;
    [
        (n as u8) | 0x80,
        ((n >> 7) as u8) | 0x80,
        ((n >> 14) as u8) | 0x80,
        ((n >> 21) as u8) | 0x80,
        (n >> 28) as u8,
    ]
}

fn section(out: &mut Vec<u8>, id: u8, body: &[u8]) {
    out.push(id);
    out.extend(gap32(body.len()));
    out.extend_from_slice(body);
}

fn name(out: &mut Vec<u8>, s: &str) {
    leb_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

/// The `link_<fn>` kernel of `tezos_scoru_wasm_regressions.ml`, as encoded by the reference
/// encoder (`src/lib_webassembly/binary/encode.ml`: section and code sizes as 5-byte LEB128).
/// `import_type_first`: whether the import's type is type 0 (else kernel_run's `[]->[]` is).
fn link_kernel(import: &str, params: usize, import_type_first: bool) -> Vec<u8> {
    let mut m = vec![0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    let mut imp_ty = vec![0x60];
    leb_u32(&mut imp_ty, params as u32);
    imp_ty.extend(std::iter::repeat_n(0x7f, params));
    imp_ty.extend([0x01, 0x7f]);
    let run_ty = vec![0x60, 0x00, 0x00];
    let (imp_idx, run_idx) = if import_type_first { (0, 1) } else { (1, 0) };
    let mut types = vec![0x02];
    if import_type_first {
        types.extend(&imp_ty);
        types.extend(&run_ty);
    } else {
        types.extend(&run_ty);
        types.extend(&imp_ty);
    }
    section(&mut m, 1, &types);
    let mut imports = vec![0x01];
    name(&mut imports, "smart_rollup_core");
    name(&mut imports, import);
    imports.extend([0x00, imp_idx]);
    section(&mut m, 2, &imports);
    section(&mut m, 3, &[0x01, run_idx]);
    section(&mut m, 5, &[0x01, 0x00, 0x01]);
    let mut exports = vec![0x02];
    name(&mut exports, "mem");
    exports.extend([0x02, 0x00]);
    name(&mut exports, "kernel_run");
    exports.extend([0x00, 0x01]);
    section(&mut m, 7, &exports);
    let body = [0x00, 0x01, 0x0b];
    let mut code = vec![0x01];
    code.extend(gap32(body.len()));
    code.extend(body);
    section(&mut m, 10, &code);
    m
}

/// Which point of the run to build.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    /// Tick 5000: start of the first `kernel_run` window.
    Snapshot,
    /// Ticks 5001+k after the kernel ran (Padding), given the current tick.
    Padding(u64),
}

/// The PVM state tree (see `LAYOUT.md`).
fn pvm_state(kernel: &[u8], phase: Phase) -> T {
    let mut t = T::empty();
    // Durable storage.
    t.set_tree("durable/readonly/wasm_version/@", cbv(b"2.0.0-r6"));
    t.set_tree("durable/kernel/boot.wasm/@", cbv(kernel));
    // `install_boot_sector` wrote the reboot flag (empty value: `length` only, no chunk);
    // the window-end Reboot deleted it, and Irmin pruned the emptied `kernel/env` node.
    t.set_tree("durable/kernel/env/reboot/@", cbv(b""));
    t.remove("durable/kernel/env/reboot");
    assert!(t.get("durable/kernel/env").is_none());
    // Reboot counter written at the window end (Reboot): 1000, i32 LE, one 512-byte chunk.
    t.set_tree(
        "durable/readonly/kernel/env/reboot_counter/@",
        cbv(&1000i32.to_le_bytes()),
    );
    let (tick, tag) = match phase {
        Phase::Snapshot => (5000, "snapshot"),
        Phase::Padding(tick) => {
            // `save_fallback_kernel` copied the kernel during Init.
            t.set_tree("durable/readonly/kernel/boot.wasm/@", cbv(kernel));
            (tick, "padding")
        }
    };
    // wasm/
    t.set("wasm/input", [enc_i32(0), enc_n(2)].concat());
    t.set("wasm/current_tick", enc_n(tick));
    t.set("wasm/reboot_counter", enc_n(1000));
    t.set("wasm/tag", enc_string(tag));
    // pvm/
    t.set("pvm/last_top_level_call", enc_n(5000));
    t.set("pvm/max_nb_ticks", enc_n(5000));
    t.set("pvm/maximum_reboots_per_input", enc_n(1000));
    t.set("pvm/outbox_validity_period", enc_i32(10));
    t.set("pvm/outbox_message_limit", enc_z(100));
    // Buffers: `option` tagged union at the root (`tag` / `value`).
    t.set("tag", enc_string("Some"));
    let ipl = {
        let mut p = vec![0x00, 0x03];
        p.extend([0u8; 8]);
        p.extend([0u8; 32]);
        p
    };
    let msgs: [&[u8]; 3] = [&[0x00, 0x01], &ipl, &[0x00, 0x02]];
    for (i, payload) in msgs.iter().enumerate() {
        let mut m = cbv(payload);
        m.set("raw-level", enc_i32(0));
        m.set("message-counter", enc_z(i as i64));
        t.set_tree(&format!("value/pvm/buffers/input/contents/{i}"), m);
    }
    t.set("value/pvm/buffers/input/length", enc_z(3));
    t.set("value/pvm/buffers/input/head", enc_z(0));
    t.set("value/pvm/buffers/output/1/outboxes/0/length", enc_z(0));
    t.set("value/pvm/buffers/output/1/outboxes/0/head", enc_z(0));
    t.set("value/pvm/buffers/output/2/last_level", enc_i32(0));
    t.set("value/pvm/buffers/output/3/validity_period", enc_i32(10));
    t.set("value/pvm/buffers/output/4/message_limit", enc_z(100));
    t
}

#[test]
fn encodings() {
    assert_eq!(enc_n(5000), [0x88, 0x27]);
    assert_eq!(enc_z(100), [0xa4, 0x01]);
    assert_eq!(enc_z(3), [0x03]);
    assert_eq!(enc_string("Some"), b"\0\0\0\x04Some");
}

fn check(file: &str, import: &str, params: usize) {
    let v = vectors(file);
    assert_eq!(
        v.len(),
        5000,
        "{file}: expected 5000 lines (ticks 5000..=9999)"
    );
    let kernel = link_kernel(import, params, true);
    // Line 1: tick 5000, Snapshot.
    let snap = pvm_state(&kernel, Phase::Snapshot);
    let got = to_context_b58(&snap.hash());
    if got != v[0] {
        let mut dump = String::new();
        snap.dump("", &mut dump);
        panic!(
            "{file}: Snapshot hash {got} != expected {}\ntree:\n{dump}",
            v[0]
        );
    }
    // Padding tail: every line from the end backwards must match until the first
    // non-Padding tick (the kernel_run window's Decode/Link/Init/Eval ticks).
    let mut padding_ticks = 0;
    for tick in (5001..=9999u64).rev() {
        let line = &v[(tick - 5000) as usize];
        let st = pvm_state(&kernel, Phase::Padding(tick));
        if &to_context_b58(&st.hash()) != line {
            break;
        }
        padding_ticks += 1;
    }
    // The kernel is tiny: decode + link + init + eval take far fewer than 4000 ticks.
    eprintln!("{file}: {padding_ticks} trailing Padding ticks match");
    assert!(
        padding_ticks > 4000,
        "{file}: only {padding_ticks} trailing Padding ticks matched"
    );
    // Round trip of the base58check rendering on every line.
    for line in &v {
        let h = from_context_b58(line).expect("valid Co… hash");
        assert_eq!(&to_context_b58(&h), line);
    }
}

#[test]
fn link_store_exists_v6() {
    check("link_store_exists.v6.hashes", "store_exists", 2);
}

#[test]
fn link_reveal_v6() {
    check("link_reveal.v6.hashes", "reveal", 4);
}
