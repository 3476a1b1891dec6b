//! Kernels whose import does not link, run by the wasmtime engine through the PVM: stuck with
//! Octez's `Link_error` message at Octez's tick, in the state Octez's regression traces record
//! (`testdata/conformance/link_errors.tsv`, `README.md` there).

use context_hash::to_context_b58;
use pvm_fixtures::{CONFORMANCE_DIR as DIR, at_first_snapshot, link_kernel_imports, tx_payloads};
use wasm_pvm::{GenesisParams, PvmState, PvmVersion, StuckError, TickState};

use crate::common::{Reveals, engine};

/// Octez's `link_kernel` with its one import from `module`.
fn link_kernel(module: &str, import: &str, nparams: usize) -> Vec<u8> {
    link_kernel_imports(&[(module, import)], nparams)
}

fn version(name: &str) -> PvmVersion {
    PvmVersion::ALL
        .into_iter()
        .find(|v| format!("v{}", v.as_str().strip_prefix("2.0.0-r").unwrap_or("0")) == name)
        .unwrap_or_else(|| panic!("unknown version {name} in link_errors.tsv"))
}

#[test]
fn stuck_states_match_octez_traces() {
    let read = |file: &str| {
        let path = format!("{DIR}/{file}");
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
    };
    let tx = tx_payloads();
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
