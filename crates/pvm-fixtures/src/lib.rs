//! Octez's PVM regression-trace fixtures, for the tests and benchmarks of the PVM crates
//! (`wasm-pvm`, `pvm-wasmtime`, `wasm-interp`, `pvm-tick`, `bench`): one copy of the kernels,
//! the scenario and the file locations that several test binaries use
//! (`docs/reference/wasm-ticks.md` §3, `crates/wasm-pvm/tests/fixtures/ticks/README.md`,
//! `testdata/conformance/README.md`).
//!
//! * [`link_kernel`]: Octez's `link_kernel <import>` test module, encoded as Octez's encoder
//!   writes it (section and code-entry sizes as 5-byte LEB128, `gap32` in
//!   `src/lib_webassembly/binary/encode.ml`), so that its decoding ticks and hashes are the
//!   traces';
//! * [`ECHO_OCTEZ_WASM`]: the `echo` kernel's bytes of the `echo` traces;
//! * [`at_first_snapshot`]: genesis with the traces' parameters, one level of inputs, padded to
//!   the first `Snapshot` (tick 5000); [`at_first_snapshot_with`], [`tx_no_verify`] and
//!   [`tx_no_verify_params`] for the `tx_no_verify` traces (tick 6 000 000);
//! * [`CONFORMANCE_DIR`], [`TICKS_DIR`], [`lines`]: the copied hash and proof-size files.

use context_hash::Hash;
use wasm_pvm::{
    EngineError, GenesisParams, HostState, KernelEngine, PvmState, PvmVersion, RevealError,
    RevealHandler, RunOutcome, TickState,
};

/// `testdata/conformance/` (Octez state-hash vectors, `tx_messages.hex`, `link_errors.tsv`).
pub const CONFORMANCE_DIR: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/conformance");

/// `crates/wasm-pvm/tests/fixtures/ticks/` (per-tick hashes, proof sizes, refutation proofs).
pub const TICKS_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../wasm-pvm/tests/fixtures/ticks"
);

/// The `echo` kernel as Octez's encoder writes it (the bytes of the `echo` traces).
pub const ECHO_OCTEZ_WASM: &[u8] =
    include_bytes!("../../wasm-pvm/tests/fixtures/ticks/echo.octez.wasm");

/// The lines of a fixture file (panics with the path when it cannot be read).
pub fn lines(path: &str) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read the fixture {path}: {e}"))
        .lines()
        .map(str::to_owned)
        .collect()
}

/// LEB128 of `v`, the form of WASM vector lengths and indices.
pub fn leb(mut v: usize, out: &mut Vec<u8>) {
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

/// `body` preceded by its size as a 5-byte padded LEB128, as Octez's encoder writes section
/// and code-entry sizes (`gap32`/`patch_gap32`).
pub fn gap32(out: &mut Vec<u8>, body: &[u8]) {
    let n = u32::try_from(body.len()).expect("a test module section fits in 4 GiB");
    for i in 0..4 {
        out.push(((n >> (7 * i)) & 0x7f) as u8 | 0x80);
    }
    out.push((n >> 28) as u8);
    out.extend_from_slice(body);
}

/// A WASM name: LEB128 length, then the UTF-8 bytes.
pub fn name(s: &str, out: &mut Vec<u8>) {
    leb(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

/// Section `id` with `body`, its size written as [`gap32`] does.
pub fn section(m: &mut Vec<u8>, id: u8, body: Vec<u8>) {
    m.push(id);
    gap32(m, &body);
}

/// Octez's `link_kernel <import>`: `(module (import "smart_rollup_core" "<import>" (func
/// (param i32…) (result i32))) (memory 1) (export "mem" (memory 0)) (func (export
/// "kernel_run") (nop)))` with `nparams` parameters.
pub fn link_kernel(import: &str, nparams: usize) -> Vec<u8> {
    link_kernel_imports(&[("smart_rollup_core", import)], nparams)
}

/// [`link_kernel`] with the imports `(module, name)`, all of type 0 (`nparams` × i32 → i32).
pub fn link_kernel_imports(imports: &[(&str, &str)], nparams: usize) -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    let mut types = vec![2, 0x60];
    leb(nparams, &mut types);
    types.extend(std::iter::repeat_n(0x7f, nparams));
    types.extend([1, 0x7f, 0x60, 0, 0]);
    section(&mut m, 1, types);
    let mut section_imports = Vec::new();
    leb(imports.len(), &mut section_imports);
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
    leb(imports.len(), &mut exports);
    section(&mut m, 7, exports);
    let mut code = vec![1];
    gap32(&mut code, &[0x00, 0x01, 0x0b]);
    section(&mut m, 10, code);
    m
}

/// The traces' genesis parameters: 5000 ticks per snapshot, outbox validity 10, message
/// limit 100, 1000 reboots per input.
pub fn trace_params() -> GenesisParams {
    GenesisParams {
        ticks_per_snapshot: 5000,
        outbox_validity_period: 10,
        outbox_message_limit: 100,
        maximum_reboots_per_input: 1000,
    }
}

/// The payloads of the two Transfers of `testdata/conformance/tx_messages.hex` (the inputs of
/// the `link_store_create` trace).
pub fn tx_payloads() -> Vec<Vec<u8>> {
    lines(&format!("{CONFORMANCE_DIR}/tx_messages.hex"))
        .iter()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("tx_messages.hex: hex"))
                .collect()
        })
        .collect()
}

/// The traces' scenario: genesis at `version` with [`trace_params`], one level of inputs at
/// level 0 (`Start_of_level`, `Info_per_level` with timestamp 0 and the zero block hash, each of
/// `transfers` as an internal Transfer `00 00 ‖ payload`, `End_of_level`), padded to the first
/// `Snapshot` (tick 5000).
pub fn at_first_snapshot(version: PvmVersion, kernel: &[u8], transfers: &[Vec<u8>]) -> PvmState {
    at_first_snapshot_with(version, kernel, transfers, &trace_params())
}

/// The `tx_no_verify` traces' parameters: [`trace_params`] with 6 000 000 ticks per snapshot
/// (`~ticks_per_snapshot:6_000_000L` in
/// `src/lib_scoru_wasm/regressions/tezos_scoru_wasm_regressions.ml`).
pub fn tx_no_verify_params() -> GenesisParams {
    GenesisParams {
        ticks_per_snapshot: 6_000_000,
        ..trace_params()
    }
}

/// The `tx_no_verify` kernel (`src/lib_scoru_wasm/test/wasm_kernels/tx-kernel-no-verif.wasm`)
/// and its two inputs (`src/lib_scoru_wasm/test/messages/{deposit,withdrawal}.out`, the
/// Transfer payloads), read from [`TICKS_DIR`].
pub fn tx_no_verify() -> (Vec<u8>, Vec<Vec<u8>>) {
    let read = |f: &str| {
        let p = format!("{TICKS_DIR}/{f}");
        std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read the fixture {p}: {e}"))
    };
    (
        read("tx_no_verify.wasm"),
        vec![
            read("tx_no_verify.deposit.out"),
            read("tx_no_verify.withdrawal.out"),
        ],
    )
}

/// [`at_first_snapshot`] with other genesis parameters: the first `Snapshot` is at tick
/// `params.ticks_per_snapshot`.
pub fn at_first_snapshot_with(
    version: PvmVersion,
    kernel: &[u8],
    transfers: &[Vec<u8>],
    params: &GenesisParams,
) -> PvmState {
    let mut s = PvmState::genesis(version, kernel, params).expect("genesis");
    let mut ipl = vec![0x00, 0x03];
    ipl.extend([0u8; 40]);
    let mut messages = vec![vec![0x00, 0x01], ipl];
    messages.extend(
        transfers
            .iter()
            .map(|t| [&[0x00, 0x00], t.as_slice()].concat()),
    );
    messages.push(vec![0x00, 0x02]);
    for (i, m) in (0u64..).zip(&messages) {
        s.set_input(0, i, m).expect("input");
    }
    s.finish_window().expect("padding");
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (params.ticks_per_snapshot, &TickState::Snapshot)
    );
    s
}

/// An engine for a kernel whose `kernel_run` is a single `nop` (the `link_*` kernels).
pub struct NopEngine;

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

/// A reveal handler that refuses every reveal.
pub struct NoReveal;

impl RevealHandler for NoReveal {
    fn reveal(&mut self, _request: &[u8]) -> Result<Vec<u8>, RevealError> {
        Err(RevealError("no reveal in this test".into()))
    }
}
