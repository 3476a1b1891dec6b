//! `compute_step` on plain trees against Octez's per-tick state hashes of the `link_*`
//! regression traces (`crates/wasm-pvm/tests/fixtures/ticks/README.md`,
//! `testdata/conformance/README.md`; line `n` = tick `4999 + n`, the `Snapshot` at tick 5000).
//! The interpreter's ticks (`wasm-interp`) are checked as far as it goes: the v6 run stops at
//! the first tick it reports `Unsupported` and extends by itself when `Init`/`Eval` land.

use context_hash::to_context_b58;
use durable_tree::Tree;
use pvm_tick::{
    Input, TickError, TickTag, compute_step, compute_step_many, current_tick, set_input, tick_tag,
};
use wasm_pvm::{PvmState, PvmVersion, StuckError, TickState};

use crate::ticks::{NoReveal, NopEngine, at_snapshot};

use pvm_fixtures::{
    CONFORMANCE_DIR as CONFORMANCE, TICKS_DIR as FIXTURES, at_first_snapshot, lines, link_kernel,
    tx_payloads,
};

fn b58(t: &Tree) -> String {
    to_context_b58(&t.hash().unwrap())
}

fn stuck_of(t: &Tree) -> StuckError {
    let b = t.get_contents(&["wasm", "value"]).unwrap().unwrap();
    StuckError::decode(&b).unwrap()
}

/// Every tick of `link_reveal` v0 (5000 → 5129: Snapshot, decoding, linking, `Link_error`),
/// then the next tick: no fallback kernel was saved (`No_fallback_kernel`).
#[test]
fn link_reveal_v0_every_tick_through_compute_step() {
    let expected = lines(&format!("{FIXTURES}/link_reveal.v0.hashes"));
    let mut t = at_snapshot(PvmVersion::V0).to_tree().unwrap();
    assert_eq!(b58(&t), expected[0], "Snapshot at tick 5000");
    for (i, line) in expected.iter().enumerate().skip(1) {
        let tick = 5000 + i;
        t = compute_step(&t).unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        assert_eq!(&b58(&t), line, "first mismatch at tick {tick}");
    }
    assert_eq!(current_tick(&t).unwrap(), 5129);
    assert_eq!(tick_tag(&t).unwrap(), TickTag::Stuck);
    assert_eq!(
        stuck_of(&t),
        StuckError::Link("Unexpected import: smart_rollup_core.reveal".into())
    );
    assert!(!pvm_tick::is_input_state(&t).unwrap(), "falls back next");
    let t = compute_step(&t).unwrap();
    assert!(matches!(stuck_of(&t), StuckError::NoFallbackKernel(_)));
    assert!(pvm_tick::is_input_state(&t).unwrap());
}

/// A whole-window trace (`file`: ticks 5000…9999) from the first Snapshot of `kernel` with
/// `transfers`, tick by tick through `compute_step` as far as the interpreter goes (at least to
/// tick `at_least`: the whole window for the `link_*` traces); any hash mismatch or any error
/// other than "not implemented yet" fails. If the run reaches the end of the trace, the window end (tick
/// 9999 → `Collect`) is checked too. Returns the last tick checked.
fn trace_through_compute_step(
    file: &str,
    kernel: &[u8],
    transfers: &[Vec<u8>],
    at_least: usize,
) -> usize {
    let expected = lines(file);
    assert_eq!(expected.len(), 5000, "{file}: ticks 5000..=9999");
    let mut t = at_first_snapshot(PvmVersion::V6, kernel, transfers)
        .to_tree()
        .unwrap();
    assert_eq!(b58(&t), expected[0], "{file}: Snapshot at 5000");
    let mut last = 5000;
    for (i, line) in expected.iter().enumerate().skip(1) {
        let tick = 5000 + i;
        match compute_step(&t) {
            Ok(next) => t = next,
            Err(e) if e.is_unsupported() => {
                eprintln!("{file}: stops at tick {tick}: {e}");
                break;
            }
            Err(e) => panic!("{file}: tick {tick}: {e}"),
        }
        assert_eq!(&b58(&t), line, "{file}: first mismatch at tick {tick}");
        last = tick;
    }
    eprintln!("{file}: {} ticks checked through compute_step", last - 5000);
    assert!(
        last >= at_least,
        "{file}: to tick {at_least} at least: {last}"
    );
    if last == 9999 {
        let end = compute_step(&t).unwrap();
        assert_eq!(tick_tag(&end).unwrap(), TickTag::Collect);
    }
    last
}

#[test]
fn link_reveal_v6_through_compute_step() {
    trace_through_compute_step(
        &format!("{CONFORMANCE}/link_reveal.v6.hashes"),
        &link_kernel("reveal", 4),
        &[],
        9999,
    );
}

#[test]
fn link_store_exists_v6_through_compute_step() {
    trace_through_compute_step(
        &format!("{CONFORMANCE}/link_store_exists.v6.hashes"),
        &link_kernel("store_exists", 2),
        &[],
        9999,
    );
}

/// The two Transfers of `tx_messages.hex` in the input buffer; `store_create` is called.
#[test]
fn link_store_create_v6_through_compute_step() {
    trace_through_compute_step(
        &format!("{FIXTURES}/link_store_create.v6.hashes"),
        &link_kernel("store_create", 3),
        &tx_payloads(),
        9999,
    );
}

/// The Padding tail of `link_reveal` v6 (5199 → 9999) tick by tick against the trace, the
/// window end (no reboot flag: a yield to `Collect`) against the eager PVM, and
/// `compute_step_many` (bulk Padding) against both.
#[test]
fn link_reveal_v6_padding_tail_and_window_end() {
    let expected = lines(&format!("{CONFORMANCE}/link_reveal.v6.hashes"));
    let mut s = at_snapshot(PvmVersion::V6);
    s.run_kernel(&mut NopEngine, &mut NoReveal, None).unwrap();
    let start = s.at_padding_tick(5199).unwrap().to_tree().unwrap();
    assert_eq!(b58(&start), expected[199], "Padding at tick 5199");
    let mut t = start.clone();
    for tick in 5200..=9999usize {
        t = compute_step(&t).unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        assert_eq!(
            b58(&t),
            expected[tick - 5000],
            "first mismatch at tick {tick}"
        );
    }
    let end = compute_step(&t).unwrap();
    s.finish_window().unwrap();
    assert_eq!(
        (s.current_tick(), s.tick_state()),
        (10000, &TickState::Collect)
    );
    assert_eq!(
        end.hash().unwrap(),
        s.hash().unwrap(),
        "the yield at tick 9999"
    );
    // Bulk: to tick 9999 exactly, then on through the window end, stopping at `Collect`.
    let (many, n) = compute_step_many(&start, 4800).unwrap();
    assert_eq!((n, b58(&many)), (4800, expected[4999].clone()));
    let (many, n) = compute_step_many(&start, 1_000_000).unwrap();
    assert_eq!(n, 4801, "stops at the input state");
    assert_eq!(many.hash().unwrap(), s.hash().unwrap());
    // A computation tick in `Collect` is the kernel's error, as in Octez.
    let c = compute_step(&many).unwrap();
    assert_eq!(
        stuck_of(&c),
        StuckError::InvalidState("Collect is a input tick".into())
    );
    assert!(compute_step_many(&start, 0).is_err());
}

/// The window ends in the middle of decoding: `Too_many_ticks` (pvm-tick's rule), the same
/// state as the one `wasm_interp::step` writes for it; inputs and reveals given to an
/// interpreter state are refused with Octez's messages.
#[test]
fn interpreter_states_at_window_end_and_refused_inputs() {
    let snap = at_snapshot(PvmVersion::V6).to_tree().unwrap();
    let decode = compute_step(&snap).unwrap();
    assert_eq!(tick_tag(&decode).unwrap(), TickTag::Decode);
    // Move the window's start back so that tick 5001 is its last tick.
    let mut late = decode.clone();
    let mut last = Vec::new();
    context_hash::data_encoding::write_n(&mut last, 5001 - 4999);
    late.set_contents(&["pvm", "last_top_level_call"], last)
        .unwrap();
    let ours = compute_step(&late).unwrap();
    assert_eq!(stuck_of(&ours), StuckError::TooManyTicks);
    assert_eq!(current_tick(&ours).unwrap(), 5002);
    let theirs = wasm_interp::step(&late).unwrap();
    assert_eq!(ours.hash().unwrap(), theirs.hash().unwrap());
    assert!(pvm_tick::is_input_state(&ours).unwrap());

    let msg = Input::Message {
        level: 1,
        counter: 0,
        payload: vec![0x00, 0x01],
    };
    let t = set_input(&decode, &msg).unwrap();
    assert_eq!(
        stuck_of(&t),
        StuckError::InvalidState("No input required during decoding".into())
    );
    assert_eq!(current_tick(&t).unwrap(), 5002);
    let t = pvm_tick::reveal_step(&decode, b"answer").unwrap();
    assert_eq!(
        stuck_of(&t),
        StuckError::InvalidState("No reveal expected during decoding".into())
    );
    // The eager PVM reads the stuck state back.
    assert!(matches!(
        PvmState::from_tree(&t).unwrap().tick_state(),
        TickState::Stuck(StuckError::InvalidState(_))
    ));
    // A reveal in `Eval` is the interpreter's: a state whose tag says `eval` over a decoding
    // payload does not decode there.
    let mut eval = decode;
    eval.set_contents(&["wasm", "tag"], b"\0\0\0\x04eval".to_vec())
        .unwrap();
    assert!(matches!(
        pvm_tick::reveal_step(&eval, b"answer"),
        Err(TickError::Interpreter(_))
    ));
}

/// A kernel upgrade that does not decode: the small-step run gets stuck on a `Decode_error`,
/// and the next tick restores the saved kernel (`has_fallback_kernel`, `copy_tree_exn`, the
/// upgrade-error flag, `Padding`); then the window ends as the eager PVM's recovery does.
#[test]
fn decode_error_falls_back_to_the_saved_kernel() {
    use durable_tree::durable::Key;
    let key = |k: &str| Key::from_str_checked(k).unwrap();
    let mut s = at_snapshot(PvmVersion::V6);
    s.run_kernel(&mut NopEngine, &mut NoReveal, None).unwrap();
    let saved = s.durable().read_all(&key("/kernel/boot.wasm")).unwrap();
    assert_eq!(
        s.durable()
            .read_all(&key("/readonly/kernel/boot.wasm"))
            .unwrap(),
        saved,
        "the fast path saved the fallback kernel"
    );
    s.durable_mut()
        .set(&key("/kernel/boot.wasm"), b"\0asm\x02\0\0\0")
        .unwrap();
    s.durable_mut()
        .set(&key("/kernel/env/reboot"), b"")
        .unwrap();
    s.finish_window().unwrap();
    assert_eq!(s.tick_state(), &TickState::Snapshot);
    let mut t = s.to_tree().unwrap();
    for _ in 0..100 {
        if tick_tag(&t).unwrap() == TickTag::Stuck {
            break;
        }
        t = compute_step(&t).unwrap();
    }
    assert!(
        matches!(stuck_of(&t), StuckError::Decode(..)),
        "{:?}",
        stuck_of(&t)
    );
    let back = compute_step(&t).unwrap();
    assert_eq!(tick_tag(&back).unwrap(), TickTag::Padding);
    // The one-tick proof of the fallback verifies and is produced again from its partial
    // tree (its size is not checked against an Octez trace: none has this tick).
    let (bytes, proved) = pvm_tick::produce_proof(&t, None).unwrap();
    assert_eq!(proved.hash().unwrap(), back.hash().unwrap());
    let (before, after) = pvm_tick::verify_proof(&bytes, None).unwrap();
    assert_eq!((before, after), (t.hash().unwrap(), back.hash().unwrap()));
    assert_eq!(pvm_tick::reproduce_proof(&bytes, None).unwrap(), bytes);
    let d = PvmState::from_tree(&back).unwrap();
    assert_eq!(
        d.durable().read_all(&key("/kernel/boot.wasm")).unwrap(),
        saved
    );
    assert_eq!(
        d.durable()
            .read_all(&key("/readonly/kernel/env/upgrade_error"))
            .unwrap(),
        Some(Vec::new())
    );
    // The eager PVM's recovery from the same stuck state: fallback, then the window end.
    let mut eager = PvmState::from_tree(&t).unwrap();
    eager
        .step_kernel_run(&mut NopEngine, &mut NoReveal, None)
        .unwrap();
    let (end, _) = compute_step_many(&back, u64::MAX).unwrap();
    assert_eq!(tick_tag(&end).unwrap(), TickTag::Collect);
    assert_eq!(end.hash().unwrap(), eager.hash().unwrap());
}
