//! One-tick proofs of the `link_reveal` regression run (`docs/reference/wasm-ticks.md` §3.2):
//! the proof sizes Octez printed (`link_reveal.v6.proof_sizes.csv`, `.v0.`) for the ticks
//! that need no interpreter, each proof verified and tampered with.
//!
//! The kernel and the scenario are the traces' (crate `pvm-fixtures`: Octez's `link_kernel
//! "reveal"`, M = 5000, one level of inputs, run to tick 5000).

use context_hash::Hash;
use durable_tree::Tree;
pub(crate) use pvm_fixtures::{NoReveal, NopEngine};
use pvm_fixtures::{TICKS_DIR as DIR, at_first_snapshot, link_kernel, tx_payloads};
use pvm_tick::{produce_proof, verify_proof};
use wasm_pvm::{
    EngineError, GenesisParams, HostState, KernelEngine, PvmState, PvmVersion, RunOutcome,
    StuckError, TickState,
};

/// `tick → size` of a proof-size trace.
pub(crate) fn sizes(file: &str) -> std::collections::BTreeMap<u128, usize> {
    let text = std::fs::read_to_string(format!("{DIR}/{file}")).expect("fixture");
    text.lines()
        .map(|l| {
            let (t, s) = l.split_once(',').expect("tick, size");
            (t.trim().parse().unwrap(), s.trim().parse().unwrap())
        })
        .collect()
}

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

/// Octez's `link_kernel "reveal"`.
pub(crate) fn link_reveal_kernel() -> Vec<u8> {
    link_kernel("reveal", 4)
}

/// The state at tick 5000 (`Snapshot`) of the regression scenario at `v`.
pub(crate) fn at_snapshot(v: PvmVersion) -> PvmState {
    at_first_snapshot(v, &link_reveal_kernel(), &[])
}

/// Flip ~50 bytes spread over the proof: each must be refused or change before/after.
fn tampering_is_caught(bytes: &[u8], good: (Hash, Hash)) {
    let step = (bytes.len() / 50).max(1);
    for pos in (0..bytes.len()).step_by(step) {
        let mut b = bytes.to_vec();
        b[pos] ^= 0x5a;
        if let Ok(got) = verify_proof(&b, None) {
            assert_ne!(got, good, "flipping byte {pos} went unnoticed");
        }
    }
}

fn check_tick(tree: &Tree, tick: u128, expected: usize, tamper: bool) -> Tree {
    let (bytes, new) = produce_proof(tree, None).unwrap_or_else(|e| panic!("tick {tick}: {e}"));
    assert_eq!(bytes.len(), expected, "tick {tick}: proof size");
    let (before, after) = verify_proof(&bytes, None).unwrap_or_else(|e| panic!("tick {tick}: {e}"));
    assert_eq!(before, tree.hash().unwrap(), "tick {tick}: before");
    assert_eq!(after, new.hash().unwrap(), "tick {tick}: after");
    if tamper {
        tampering_is_caught(&bytes, (before, after));
    }
    new
}

#[test]
fn padding_tail_of_link_reveal_v6_has_octez_proof_sizes() {
    let sizes = sizes("link_reveal.v6.proof_sizes.csv");
    let mut s = at_snapshot(PvmVersion::V6);
    s.run_kernel(&mut NopEngine, &mut NoReveal, None).unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (9999, &TickState::Padding)
    );
    let mut checked = 0;
    for tick in 5199..9999u128 {
        let tree = s.at_padding_tick(tick).unwrap().to_tree().unwrap();
        let new = check_tick(&tree, tick, sizes[&tick], tick % 500 == 0);
        // The step is the PVM's: the next Padding tick.
        let next = s.at_padding_tick(tick + 1).unwrap().to_tree().unwrap();
        assert_eq!(
            new.hash().unwrap(),
            next.hash().unwrap(),
            "tick {tick}: new state"
        );
        checked += 1;
    }
    assert_eq!(checked, 4800);
    // Tick 9999: the window end (no reboot flag: a yield to `Collect`).
    let tree = s.to_tree().unwrap();
    let new = check_tick(&tree, 9999, sizes[&9999], true);
    s.finish_window().unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (10000, &TickState::Collect)
    );
    assert_eq!(
        new.hash().unwrap(),
        s.hash().unwrap(),
        "tick 9999: the yield"
    );
    // The next level's `Start_of_level` moves the outbox window forward.
    let sol = pvm_tick::Input::Message {
        level: 1,
        counter: 0,
        payload: vec![0x00, 0x01],
    };
    let (bytes, new) = produce_proof(&s.to_tree().unwrap(), Some(&sol)).unwrap();
    s.set_input(1, 0, &[0x00, 0x01]).unwrap();
    assert_eq!(
        new.hash().unwrap(),
        s.hash().unwrap(),
        "Start_of_level of level 1"
    );
    verify_proof(&bytes, Some(&sol)).unwrap();
}

#[test]
fn stuck_link_error_of_link_reveal_v0_has_octez_proof_size() {
    let sizes = sizes("link_reveal.v0.proof_sizes.csv");
    let mut s = at_snapshot(PvmVersion::V0);
    s.run_kernel(&mut LinkErrorEngine, &mut NoReveal, None)
        .unwrap();
    assert_eq!(s.current_tick(), 5129);
    assert!(
        matches!(s.tick_state(), TickState::Stuck(StuckError::Link(_))),
        "{:?}",
        s.tick_state()
    );
    let tree = s.to_tree().unwrap();
    let new = check_tick(&tree, 5129, sizes[&5129], true);
    // No fallback kernel was saved: stuck for good.
    let (_, again) = produce_proof(&new, None).unwrap();
    assert!(matches!(
        PvmState::from_tree(&again).unwrap().tick_state(),
        TickState::Stuck(StuckError::NoFallbackKernel(_))
    ));
}

/// Tick 5000 (`Snapshot` → the initial `Decode` state): Octez's proof size and the state
/// hash of tick 5001 (`testdata/conformance/link_reveal.v6.hashes`, line 2).
#[test]
fn snapshot_tick_gives_the_initial_decode_state() {
    let sizes = sizes("link_reveal.v6.proof_sizes.csv");
    let hashes = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/conformance/link_reveal.v6.hashes"
    ))
    .expect("testdata/conformance/link_reveal.v6.hashes");
    let line2 = hashes.lines().nth(1).expect("line 2");
    let s = at_snapshot(PvmVersion::V6);
    let new = check_tick(&s.to_tree().unwrap(), 5000, sizes[&5000], true);
    assert_eq!(context_hash::to_context_b58(&new.hash().unwrap()), line2);
    // The next tick decodes, on the interpreter over the proof tree (issue 13): Octez's size,
    // and the state of `testdata/conformance/link_reveal.v6.hashes`, line 3.
    let next = check_tick(&new, 5001, sizes[&5001], true);
    let line3 = hashes.lines().nth(2).expect("line 3");
    assert_eq!(context_hash::to_context_b58(&next.hash().unwrap()), line3);
}

/// The first window of the scenario, tick by tick where no interpreter is needed, against
/// the eager `wasm_pvm::PvmState`: the input ticks (`Start_of_level` initialises the outbox,
/// `Info_per_level` stays in `Collect`, `End_of_level` → `Padding`), a Padding tick, and the
/// window end with the reboot flag set (→ `Snapshot`).
#[test]
fn input_ticks_and_reboot_agree_with_the_eager_pvm() {
    let params = GenesisParams {
        ticks_per_snapshot: 5000,
        outbox_validity_period: 10,
        outbox_message_limit: 100,
        maximum_reboots_per_input: 1000,
    };
    let mut s = PvmState::genesis(PvmVersion::V6, &link_reveal_kernel(), &params).unwrap();
    // No input given to an input tick: nothing changes.
    let tree = s.to_tree().unwrap();
    let (bytes, same) = produce_proof(&tree, None).unwrap();
    assert_eq!(same.hash().unwrap(), tree.hash().unwrap());
    assert_eq!(verify_proof(&bytes, None).unwrap().1, tree.hash().unwrap());
    let mut ipl = vec![0x00, 0x03];
    ipl.extend([0u8; 40]);
    for (counter, payload) in [vec![0x00, 0x01], ipl, vec![0x00, 0x02]]
        .into_iter()
        .enumerate()
    {
        let tree = s.to_tree().unwrap();
        let input = pvm_tick::Input::Message {
            level: 0,
            counter: counter as u64,
            payload: payload.clone(),
        };
        let (bytes, new) = produce_proof(&tree, Some(&input)).unwrap();
        s.set_input(0, counter as u64, &payload).unwrap();
        assert_eq!(new.hash().unwrap(), s.hash().unwrap(), "input {counter}");
        let (before, after) = verify_proof(&bytes, Some(&input)).unwrap();
        assert_eq!((before, after), (tree.hash().unwrap(), s.hash().unwrap()));
        // The same proof with no input or another input does not verify.
        assert!(verify_proof(&bytes, None).is_err());
    }
    assert_eq!((s.current_tick(), s.tick_state()), (3, &TickState::Padding));
    // A Padding tick, then the window end (tick 4999: the reboot flag is set → Snapshot).
    let (_, new) = produce_proof(&s.to_tree().unwrap(), None).unwrap();
    assert_eq!(
        new.hash().unwrap(),
        s.at_padding_tick(4).unwrap().hash().unwrap()
    );
    let end = s.at_padding_tick(4999).unwrap();
    let (bytes, new) = produce_proof(&end.to_tree().unwrap(), None).unwrap();
    s.finish_window().unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (5000, &TickState::Snapshot)
    );
    assert_eq!(new.hash().unwrap(), s.hash().unwrap(), "reboot");
    verify_proof(&bytes, None).unwrap();
    // A computation tick asked in `Collect` is the input tick: refused without an input by
    // the PVM, unchanged state here (`step_transition` with no input).
    let mut c = PvmState::genesis(PvmVersion::V6, &link_reveal_kernel(), &params).unwrap();
    c.set_input(0, 0, &[0x00, 0x01]).unwrap();
    let t = c.to_tree().unwrap();
    assert_eq!(
        produce_proof(&t, None).unwrap().1.hash().unwrap(),
        t.hash().unwrap()
    );
}

/// `link_store_create` v6: a 5-message input buffer stays in the state; Padding from tick
/// 5204, the window end (9999) resets the buffer.
#[test]
fn padding_tail_of_link_store_create_v6_has_octez_proof_sizes() {
    let sizes = sizes("link_store_create.v6.proof_sizes.csv");
    let kernel = link_kernel("store_create", 3);
    let mut s = at_first_snapshot(PvmVersion::V6, &kernel, &tx_payloads());
    s.run_kernel(&mut NopEngine, &mut NoReveal, None).unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (9999, &TickState::Padding)
    );
    assert_eq!(s.input_buffer().len(), 5);
    for tick in 5204..9999u128 {
        let tree = s.at_padding_tick(tick).unwrap().to_tree().unwrap();
        check_tick(&tree, tick, sizes[&tick], tick % 1000 == 0);
    }
    let new = check_tick(&s.to_tree().unwrap(), 9999, sizes[&9999], true);
    s.finish_window().unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (10000, &TickState::Collect)
    );
    assert_eq!(
        new.hash().unwrap(),
        s.hash().unwrap(),
        "tick 9999: the yield"
    );
}
