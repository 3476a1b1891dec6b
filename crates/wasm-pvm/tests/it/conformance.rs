//! Octez state-hash vectors (`testdata/conformance/README.md`): the `link_*`
//! kernels at PVM 2.0.0-r6, M = 5000. Line 1 = Snapshot at tick 5000; line n = tick 4999 + n;
//! the Padding tail ends at tick 9999.

use context_hash::{Hash, to_context_b58};
use wasm_pvm::{
    EngineError, GenesisParams, HostState, KernelEngine, PvmState, PvmVersion, RevealError,
    RevealHandler, RunOutcome, StuckError, TickState,
};

/// Octez's state-hash vectors, copied into the repository (`testdata/README.md`).
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/conformance");

/// The engine for a kernel whose `kernel_run` is a single `nop`.
struct NopEngine;

impl KernelEngine for NopEngine {
    fn run(
        &mut self,
        _kernel: &[u8],
        _kernel_hash: &Hash,
        host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError> {
        host.kernel_instantiated()?;
        Ok(RunOutcome::Returned)
    }
}

struct NoReveal;

impl RevealHandler for NoReveal {
    fn reveal(&mut self, _request: &[u8]) -> Result<Vec<u8>, RevealError> {
        Err(RevealError("no reveal in this test".into()))
    }
}

/// LEB128 `u32`, the form of WASM vector lengths and indices.
fn leb(mut v: u32, out: &mut Vec<u8>) {
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

/// A section (or code body) whose size is a 5-byte padded LEB128, as the reference OCaml
/// encoder writes it (`gap32`/`patch_gap32` in `src/lib_webassembly/binary/encode.ml`).
fn gap32(out: &mut Vec<u8>, body: &[u8]) {
    let n = body.len() as u32;
    for i in 0..4 {
        out.push(((n >> (7 * i)) & 0x7f) as u8 | 0x80);
    }
    out.push((n >> 28) as u8);
    out.extend_from_slice(body);
}

fn name(s: &str, out: &mut Vec<u8>) {
    leb(s.len() as u32, out);
    out.extend_from_slice(s.as_bytes());
}

/// Binary of `(module (import "smart_rollup_core" "<f>" (func (param i32…) (result i32)))
/// (memory 1) (export "mem" (memory 0)) (func (export "kernel_run") (nop)))`.
fn link_kernel(import: &str, nparams: usize) -> Vec<u8> {
    link_kernel_imports(&[("smart_rollup_core", import)], nparams)
}

/// [`link_kernel`] with several imports, all of type 0 (`nparams` × i32 → i32).
fn link_kernel_imports(imports: &[(&str, &str)], nparams: usize) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let section = |m: &mut Vec<u8>, id: u8, body: Vec<u8>| {
        m.push(id);
        gap32(m, &body);
    };
    let mut types = vec![2, 0x60];
    leb(nparams as u32, &mut types);
    types.extend(std::iter::repeat_n(0x7f, nparams));
    types.extend([1, 0x7f, 0x60, 0, 0]);
    section(&mut m, 1, types);
    let mut section_imports = Vec::new();
    leb(imports.len() as u32, &mut section_imports);
    for (module, import) in imports {
        name(module, &mut section_imports);
        name(import, &mut section_imports);
        section_imports.extend([0x00, 0x00]);
    }
    section(&mut m, 2, section_imports);
    section(&mut m, 3, vec![1, 1]);
    section(&mut m, 5, vec![1, 0x00, 0x01]);
    let mut exports = vec![2];
    name("mem", &mut exports);
    exports.extend([0x02, 0x00]);
    name("kernel_run", &mut exports);
    exports.push(0x00);
    leb(imports.len() as u32, &mut exports);
    section(&mut m, 7, exports);
    let mut code = vec![1];
    gap32(&mut code, &[0x00, 0x01, 0x0b]);
    section(&mut m, 10, code);
    m
}

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
    let params = GenesisParams {
        ticks_per_snapshot: 5000,
        outbox_validity_period: 10,
        outbox_message_limit: 100,
        maximum_reboots_per_input: 1000,
    };
    let mut s = PvmState::genesis(PvmVersion::V6, &link_kernel(import, nparams), &params).unwrap();
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

/// The Transfer payloads of Octez's test messages (`tx_messages.hex`).
fn tx_payloads() -> Vec<Vec<u8>> {
    let path = format!("{DIR}/tx_messages.hex");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

/// Octez's regression set-up (README.md): genesis, one level of inputs (`Start_of_level`,
/// `Info_per_level`, the `transfers` as internal Transfers, `End_of_level`), then the window
/// padded to the `Snapshot` at tick 5000.
fn at_first_snapshot(v: PvmVersion, kernel: &[u8], transfers: &[Vec<u8>]) -> PvmState {
    let params = GenesisParams {
        ticks_per_snapshot: 5000,
        outbox_validity_period: 10,
        outbox_message_limit: 100,
        maximum_reboots_per_input: 1000,
    };
    let mut s = PvmState::genesis(v, kernel, &params).unwrap();
    let mut ipl = vec![0x00, 0x03];
    ipl.extend([0u8; 40]);
    let mut messages = vec![vec![0x00, 0x01], ipl];
    for t in transfers {
        let mut m = vec![0x00, 0x00];
        m.extend(t);
        messages.push(m);
    }
    messages.push(vec![0x00, 0x02]);
    for (i, m) in messages.iter().enumerate() {
        s.set_input(0, i as u64, m).unwrap();
    }
    s.finish_window().unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (5000, &TickState::Snapshot)
    );
    s
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
        let params = GenesisParams {
            ticks_per_snapshot: m,
            outbox_validity_period: 10,
            outbox_message_limit: 100,
            maximum_reboots_per_input: 1000,
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
