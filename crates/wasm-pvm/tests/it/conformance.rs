//! Octez state-hash vectors (`testdata/conformance/README.md`): the `link_*`
//! kernels at PVM 2.0.0-r6, M = 5000. Line 1 = Snapshot at tick 5000; line n = tick 4999 + n;
//! the Padding tail ends at tick 9999.

use context_hash::{Hash, to_context_b58};
use wasm_pvm::{
    EngineError, GenesisParams, HostState, KernelEngine, PvmState, PvmVersion, RevealError,
    RevealHandler, RunOutcome, TickState,
};

/// Octez's state-hash vectors, copied into the repository (`testdata/README.md`).
const DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/conformance"
);

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
    let mut imports = vec![1];
    name("smart_rollup_core", &mut imports);
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
