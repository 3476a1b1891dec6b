//! Octez state-hash vectors (`testdata/conformance/README.md`): the `link_*`
//! kernels at PVM 2.0.0-r6, M = 5000. Line 1 = Snapshot at tick 5000; line n = tick 4999 + n;
//! the Padding tail ends at tick 9999.

use context_hash::{Hash, to_context_b58};
use pvm_fixtures::{
    CONFORMANCE_DIR as DIR, NoReveal, NopEngine, at_first_snapshot, link_kernel,
    link_kernel_imports, trace_params, tx_payloads,
};
use wasm_pvm::{
    EngineError, HostState, KernelEngine, PvmState, PvmVersion, RunOutcome, StuckError, TickState,
};

fn read_vectors(file: &str) -> Vec<String> {
    let path = format!("{DIR}/{file}");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("cannot read {path} ({e}): the shared reference conformance vectors are required")
    });
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    assert_eq!(
        lines.len(),
        5000,
        "{path}: expected 5000 lines (ticks 5000..=9999)"
    );
    lines
}

fn b58(s: &PvmState) -> String {
    to_context_b58(&s.hash().expect("hash"))
}

/// Runs the scenario and checks line 1 and the whole Padding tail; returns how many tail lines
/// matched.
fn check(file: &str, import: &str, nparams: usize) -> usize {
    let expected = read_vectors(file);
    let mut s = PvmState::genesis(
        PvmVersion::V6,
        &link_kernel(import, nparams),
        &trace_params(),
    )
    .unwrap();
    let mut ipl = vec![0x00, 0x03];
    ipl.extend([0u8; 40]);
    s.set_input(0, 0, &[0x00, 0x01]).unwrap();
    s.set_input(0, 1, &ipl).unwrap();
    s.set_input(0, 2, &[0x00, 0x02]).unwrap();
    assert_eq!(s.current_tick(), 3);
    assert_eq!(s.tick_state(), &TickState::Padding);
    s.finish_window().unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (5000, &TickState::Snapshot)
    );
    assert_eq!(b58(&s), expected[0], "{file}: line 1 (Snapshot, tick 5000)");

    s.run_kernel(&mut NopEngine, &mut NoReveal, None).unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (9999, &TickState::Padding)
    );
    assert_eq!(
        b58(&s),
        expected[4999],
        "{file}: last line (Padding, tick 9999)"
    );
    // Earlier Padding ticks: same state, other tick, until the slow PVM's eval phase.
    let mut matched = 1;
    for line in (1..4999).rev() {
        let tick = 4999 + line as u128 + 1;
        let p = s.at_padding_tick(tick).unwrap();
        if b58(&p) != expected[line] {
            break;
        }
        matched += 1;
    }
    // The rest of the window: the reboot flag is absent, so the window ends with a yield.
    s.finish_window().unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (10000, &TickState::Collect)
    );
    eprintln!("{file}: {matched} Padding lines matched");
    matched
}

#[test]
fn link_reveal_v6() {
    // Ticks 5199..=9999 are Padding in Octez (earlier ones are decode/link/init/eval states).
    assert_eq!(check("link_reveal.v6.hashes", "reveal", 4), 4801);
}

#[test]
fn link_store_exists_v6() {
    assert_eq!(
        check("link_store_exists.v6.hashes", "store_exists", 2),
        4797
    );
}

/// An engine that reports a link error, as an engine does for a kernel whose import does not
/// link: the PVM places the stuck state (message and tick) itself.
struct LinkErrorEngine;

impl KernelEngine for LinkErrorEngine {
    fn run(
        &mut self,
        _kernel: &[u8],
        _kernel_hash: &Hash,
        _host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError> {
        Ok(RunOutcome::LinkError("reported by the engine".into()))
    }
}

fn version(name: &str) -> PvmVersion {
    match name {
        "v0" => PvmVersion::V0,
        "v1" => PvmVersion::V1,
        "v2" => PvmVersion::V2,
        "v3" => PvmVersion::V3,
        "v4" => PvmVersion::V4,
        "v5" => PvmVersion::V5,
        "v6" => PvmVersion::V6,
        other => panic!("unknown version {other} in link_errors.tsv"),
    }
}

/// Octez's traces of the `link_*` kernels at the versions that lack their import end in the
/// `Link_error` state: same message, same tick, same state hash.
#[test]
fn link_errors_match_octez_traces() {
    let path = format!("{DIR}/link_errors.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    let tx = tx_payloads();
    assert_eq!(tx.len(), 2, "{DIR}/tx_messages.hex: deposit and withdrawal");
    let mut rows = 0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = line.split('\t').collect();
        let [import, nparams, v, inputs, snapshot, tick, stuck] = f[..] else {
            panic!("{path}: malformed line {line:?}");
        };
        let what = format!("{import} at {v}");
        let transfers: &[Vec<u8>] = if inputs == "tx" { &tx } else { &[] };
        let kernel = link_kernel(import, nparams.parse().unwrap());
        let mut s = at_first_snapshot(version(v), &kernel, transfers);
        assert_eq!(b58(&s), snapshot, "{what}: Snapshot at tick 5000");
        s.run_kernel(&mut LinkErrorEngine, &mut NoReveal, None)
            .unwrap();
        let message = format!("Unexpected import: smart_rollup_core.{import}");
        assert_eq!(
            s.tick_state(),
            &TickState::Stuck(StuckError::Link(message.clone())),
            "{what}"
        );
        assert_eq!(s.current_tick().to_string(), tick, "{what}: stuck tick");
        assert_eq!(b58(&s), stuck, "{what}: stuck state hash");
        // No fallback kernel yet: the next tick is stuck for good.
        let ticks = s
            .step_kernel_run(&mut LinkErrorEngine, &mut NoReveal, None)
            .unwrap();
        assert_eq!(ticks, 1, "{what}");
        assert_eq!(
            s.tick_state(),
            &TickState::Stuck(StuckError::NoFallbackKernel(Box::new(StuckError::Link(
                message
            )))),
            "{what}"
        );
        rows += 1;
    }
    assert_eq!(rows, 8, "{path}: rows");
}

/// Per PVM version, an import that the version lacks (and, from r6, one no version has), and
/// an import from another module: Octez's message, at the tick its link step reaches the
/// import. Decoding ticks of these kernels: 93 + Σ (26 + length of the item name) + params
/// − 3 + (length of the module name − 17) (the Octez traces of `link_errors.tsv` give it for
/// one import; see `wasm_pvm::decode_ticks`).
#[test]
fn link_error_tick_per_version() {
    let lacking = [
        (PvmVersion::V0, "store_create"),
        (PvmVersion::V1, "store_exists"),
        (PvmVersion::V2, "reveal"),
        (PvmVersion::V3, "nds_store_exists"),
        (PvmVersion::V4, "nds_store_exists"),
        (PvmVersion::V5, "nds_store_exists"),
        (PvmVersion::V6, "nope"),
        (PvmVersion::Experimental, "nope"),
    ];
    let host = "smart_rollup_core";
    for (v, missing) in lacking {
        // Two imports: `read_input` links at every version, the second is the failing one.
        let cases = [
            (
                host,
                missing,
                format!("Unexpected import: {host}.{missing}"),
            ),
            (
                "env",
                "read_input",
                "Unexpected module import: env".to_owned(),
            ),
        ];
        for (module, item, message) in cases {
            let imports = [(host, "read_input"), (module, item)];
            let kernel = link_kernel_imports(&imports, 2);
            let decode: u128 = 93
                + imports
                    .iter()
                    .map(|(m, i)| 26 + i.len() as u128 + m.len() as u128 - 17)
                    .sum::<u128>()
                + 2
                - 3;
            let mut s = at_first_snapshot(v, &kernel, &[]);
            s.run_kernel(&mut LinkErrorEngine, &mut NoReveal, None)
                .unwrap();
            let what = format!("{module}.{item} at {v}");
            assert_eq!(
                s.tick_state(),
                &TickState::Stuck(StuckError::Link(message)),
                "{what}"
            );
            // Snapshot → Decode, decoding, MKStop → Link, `read_input`, the failing import.
            assert_eq!(s.current_tick(), 5000 + 1 + decode + 1 + 1 + 1, "{what}");
            assert_eq!(s.reboot_counter(), 1001, "{what}");
        }
    }
    // The `nds_*` functions link from r6 on: the kernel gets to `kernel_run`, here a `nop`.
    let kernel = link_kernel("nds_store_exists", 3);
    let mut s = at_first_snapshot(PvmVersion::V6, &kernel, &[]);
    s.run_kernel(&mut NopEngine, &mut NoReveal, None).unwrap();
    assert_eq!(s.tick_state(), &TickState::Padding);
}

/// A window too short for decoding and linking: `Too_many_ticks` at the window's last tick
/// (`wasm_vm.ml`: any `Decode`/`Link` step from a tick `t` with `t - L >= M - 1`).
#[test]
fn link_error_beyond_the_window_is_too_many_ticks() {
    let kernel = link_kernel("store_create", 3);
    // 131 decoding ticks: the link step from tick L + 133 needs M - 1 > 133.
    for (m, expected) in [(135u128, None), (134, Some(5000 + 134))] {
        let params = wasm_pvm::GenesisParams {
            ticks_per_snapshot: m,
            ..trace_params()
        };
        let mut s = PvmState::genesis(PvmVersion::V0, &kernel, &params).unwrap();
        s.set_input(0, 0, &[0x00, 0x01]).unwrap();
        s.set_input(0, 1, &[0x00, 0x02]).unwrap();
        s.finish_window().unwrap();
        let l = s.current_tick();
        assert_eq!((l, s.tick_state()), (m, &TickState::Snapshot));
        s.run_kernel(&mut LinkErrorEngine, &mut NoReveal, None)
            .unwrap();
        match expected {
            None => {
                assert!(matches!(
                    s.tick_state(),
                    TickState::Stuck(StuckError::Link(_))
                ));
                assert_eq!(s.current_tick(), l + 134);
            }
            Some(t) => {
                assert_eq!(s.tick_state(), &TickState::Stuck(StuckError::TooManyTicks));
                assert_eq!(s.current_tick(), t - 5000 + l);
            }
        }
    }
}
