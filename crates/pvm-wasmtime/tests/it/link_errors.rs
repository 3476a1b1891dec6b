//! Kernels whose import does not link, run by the wasmtime engine through the PVM: stuck with
//! Octez's `Link_error` message at Octez's tick, in the state Octez's regression traces record
//! (`testdata/conformance/link_errors.tsv`, `README.md` there).

use context_hash::to_context_b58;
use wasm_pvm::{GenesisParams, PvmState, PvmVersion, StuckError, TickState};

use crate::common::{Reveals, engine};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/conformance");

fn leb(mut v: usize, out: &mut Vec<u8>) {
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

/// A size as the reference OCaml encoder writes it: a 5-byte padded LEB128 (`gap32`).
fn gap32(out: &mut Vec<u8>, body: &[u8]) {
    let n = body.len() as u32;
    for i in 0..4 {
        out.push(((n >> (7 * i)) & 0x7f) as u8 | 0x80);
    }
    out.push((n >> 28) as u8);
    out.extend_from_slice(body);
}

fn name(s: &str, out: &mut Vec<u8>) {
    leb(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// Octez's `link_kernel` (`src/lib_scoru_wasm/regressions/tezos_scoru_wasm_regressions.ml`)
/// as its reference encoder writes it: one import of `nparams` i32 → i32, memory 1 exported as
/// `mem`, `kernel_run` a `nop`.
fn link_kernel(module: &str, import: &str, nparams: usize) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let section = |m: &mut Vec<u8>, id: u8, body: Vec<u8>| {
        m.push(id);
        gap32(m, &body);
    };
    let mut types = vec![2, 0x60];
    leb(nparams, &mut types);
    types.extend(std::iter::repeat_n(0x7f, nparams));
    types.extend([1, 0x7f, 0x60, 0, 0]);
    section(&mut m, 1, types);
    let mut imports = vec![1];
    name(module, &mut imports);
    name(import, &mut imports);
    imports.extend([0x00, 0x00]);
    section(&mut m, 2, imports);
    section(&mut m, 3, vec![1, 1]);
    section(&mut m, 5, vec![1, 0x00, 0x01]);
    let mut exports = vec![2];
    name("mem", &mut exports);
    exports.extend([0x02, 0x00]);
    name("kernel_run", &mut exports);
    exports.extend([0x00, 0x01]);
    section(&mut m, 7, exports);
    let mut code = vec![1];
    gap32(&mut code, &[0x00, 0x01, 0x0b]);
    section(&mut m, 10, code);
    m
}

fn version(name: &str) -> PvmVersion {
    PvmVersion::ALL
        .into_iter()
        .find(|v| format!("v{}", v.as_str().strip_prefix("2.0.0-r").unwrap_or("0")) == name)
        .unwrap_or_else(|| panic!("unknown version {name} in link_errors.tsv"))
}

fn hex(line: &str) -> Vec<u8> {
    (0..line.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&line[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Genesis at `v`, one level (`Start_of_level`, `Info_per_level`, the transfers,
/// `End_of_level`), padded to the `Snapshot` at tick 5000 (M = 5000).
fn at_first_snapshot(v: PvmVersion, kernel: &[u8], transfers: &[Vec<u8>]) -> PvmState {
    let params = GenesisParams {
        ticks_per_snapshot: 5000,
        outbox_validity_period: 10,
        outbox_message_limit: 100,
        maximum_reboots_per_input: 1000,
    };
    let mut s = PvmState::genesis(v, kernel, &params).expect("genesis");
    let mut ipl = vec![0x00, 0x03];
    ipl.extend([0u8; 40]);
    let mut messages = vec![vec![0x00, 0x01], ipl];
    messages.extend(
        transfers
            .iter()
            .map(|t| [&[0x00, 0x00], t.as_slice()].concat()),
    );
    messages.push(vec![0x00, 0x02]);
    for (i, m) in messages.iter().enumerate() {
        s.set_input(0, i as u64, m).expect("input");
    }
    s.finish_window().expect("padding");
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (5000, &TickState::Snapshot)
    );
    s
}

#[test]
fn stuck_states_match_octez_traces() {
    let read = |file: &str| {
        let path = format!("{DIR}/{file}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    };
    let tx: Vec<Vec<u8>> = read("tx_messages.hex")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(hex)
        .collect();
    let mut e = engine();
    let mut rows = 0;
    for line in read("link_errors.tsv")
        .lines()
        .filter(|l| !l.starts_with('#'))
    {
        let f: Vec<&str> = line.split('\t').collect();
        let [import, nparams, v, inputs, snapshot, tick, stuck] = f[..] else {
            panic!("link_errors.tsv: malformed line {line:?}");
        };
        let what = format!("{import} at {v}");
        let transfers: &[Vec<u8>] = if inputs == "tx" { &tx } else { &[] };
        let kernel = link_kernel(
            "smart_rollup_core",
            import,
            nparams.parse().expect("params"),
        );
        let mut s = at_first_snapshot(version(v), &kernel, transfers);
        assert_eq!(to_context_b58(&s.hash().expect("hash")), snapshot, "{what}");
        s.run_kernel(&mut e, &mut Reveals::default(), None)
            .expect("run");
        let message = format!("Unexpected import: smart_rollup_core.{import}");
        assert_eq!(
            s.tick_state(),
            &TickState::Stuck(StuckError::Link(message)),
            "{what}"
        );
        assert_eq!(s.current_tick().to_string(), tick, "{what}: tick");
        assert_eq!(
            to_context_b58(&s.hash().expect("hash")),
            stuck,
            "{what}: state hash"
        );
        rows += 1;
    }
    assert_eq!(rows, 8);
}

/// A kernel importing from another module: Octez's message, and the same tick as an import of
/// the host module with names of the same lengths.
#[test]
fn other_module_at_its_tick() {
    let mut e = engine();
    // "smart_rollup_core" and "smart_rollup_kore" have the same length.
    let kernel = link_kernel("smart_rollup_kore", "read_input", 3);
    let mut s = at_first_snapshot(PvmVersion::V6, &kernel, &[]);
    s.run_kernel(&mut e, &mut Reveals::default(), None)
        .expect("run");
    assert_eq!(
        s.tick_state(),
        &TickState::Stuck(StuckError::Link(
            "Unexpected module import: smart_rollup_kore".into()
        ))
    );
    // `read_input` is 2 characters shorter than `store_create`, which Octez gets stuck on at
    // tick 5134 (`link_errors.tsv`).
    assert_eq!(s.current_tick(), 5134 - 2);
    // No fallback kernel: stuck for good on the next tick, then inputs cost a tick each.
    s.step_kernel_run(&mut e, &mut Reveals::default(), None)
        .expect("step");
    assert!(matches!(
        s.tick_state(),
        TickState::Stuck(StuckError::NoFallbackKernel(_))
    ));
    assert_eq!(s.current_tick(), 5134 - 1);
}

/// The decoder-tick walk (`wasm_pvm::decode_ticks`) goes through kernels built by rustc with
/// the SDK and finds the imports wasmparser finds; a float kernel is rejected, as Octez's
/// decoder rejects it.
#[test]
fn sdk_kernels_walk() {
    let installer = std::fs::read(crate::kernels::artifact("installer/counter-installer.wasm"))
        .expect("installer kernel");
    let kernels = ["counter", "host-functions", "panic", "recursion", "upgrade"]
        .map(|k| (k, crate::kernels::kernel_wasm(k)));
    for (name, bytes) in kernels.iter().chain([("installer", installer)].iter()) {
        let summary = wasm_pvm::decode_ticks(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut imports = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            if let Ok(wasmparser::Payload::ImportSection(reader)) = payload {
                for import in reader.into_imports() {
                    let import = import.expect("import");
                    imports.push((import.module.to_owned(), import.name.to_owned()));
                }
            }
        }
        assert!(!imports.is_empty(), "{name}");
        assert_eq!(summary.imports, imports, "{name}");
        // At least one step per byte of code would be far too many: a sanity bound.
        assert!(summary.decode_ticks > 100, "{name}");
    }
    let floats = crate::kernels::kernel_wasm("floats");
    assert!(wasm_pvm::decode_ticks(&floats).is_err());
}

/// The SDK host-functions kernel imports `reveal`, which r2 lacks: stuck where Octez's link
/// phase reaches it.
#[test]
fn sdk_kernel_lacking_an_import_at_its_tick() {
    let kernel = crate::kernels::kernel_wasm("host-functions");
    let failure = wasm_pvm::first_link_failure(&kernel, PvmVersion::V2)
        .expect("walk")
        .expect("`reveal` does not link at r2");
    assert_eq!(
        failure.message,
        "Unexpected import: smart_rollup_core.reveal"
    );
    // Mainnet's window (M = 50·10^12): decoding this kernel takes more than 5000 ticks.
    let mut s =
        PvmState::genesis(PvmVersion::V2, &kernel, &GenesisParams::default()).expect("genesis");
    s.set_input(0, 0, &[0x00, 0x01]).expect("input");
    s.set_input(0, 1, &[0x00, 0x02]).expect("input");
    s.finish_window().expect("padding");
    let l = s.current_tick();
    assert_eq!(s.tick_state(), &TickState::Snapshot);
    s.run_kernel(&mut engine(), &mut Reveals::default(), None)
        .expect("run");
    assert_eq!(
        s.tick_state(),
        &TickState::Stuck(StuckError::Link(failure.message.clone()))
    );
    assert_eq!(
        s.current_tick(),
        l + failure.decode_ticks + u128::from(failure.import_index) + 3
    );
    // With Octez's regression window (M = 5000) the same kernel runs out of ticks first.
    let mut s = at_first_snapshot(PvmVersion::V2, &kernel, &[]);
    s.run_kernel(&mut engine(), &mut Reveals::default(), None)
        .expect("run");
    assert_eq!(s.tick_state(), &TickState::Stuck(StuckError::TooManyTicks));
    assert_eq!(s.current_tick(), 5000 + 5000);
}
