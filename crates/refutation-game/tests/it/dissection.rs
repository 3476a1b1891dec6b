//! `check_dissection`: every rule and its error (`sc_rollup_dissection_chunk_repr.ml`).

use refutation_game::{
    DissectionRule, GameError, WASM_TICKS_PER_SNAPSHOT, check_dissection, find_choice,
};
use tezos_types::Tick;
use tezos_types::operation::DissectionChunk;

use crate::c;

/// The section `[(1, 0), (2, 10000)]` refined into `n` equal sections (last state `None`).
fn even(n: u64, stop: u64) -> Vec<DissectionChunk> {
    (0..=n)
        .map(|i| {
            let tick = stop * i / n;
            let state = if i == 0 {
                Some(1)
            } else if i == n {
                None
            } else {
                Some(u8::try_from(10 + i).unwrap())
            };
            c(state, tick)
        })
        .collect()
}

fn check(d: &[DissectionChunk]) -> Result<(), GameError> {
    check_dissection(
        DissectionRule::Default,
        32,
        &c(Some(1), 0),
        &c(Some(2), 10_000),
        d,
    )
}

#[test]
fn valid_dissection_of_32_sections() {
    // test_single_valid_game_move: 32 sections of 312 ticks, the last one up to 10000.
    check(&even(32, 10_000)).unwrap();
    // The WASM rule is the default one below one snapshot.
    check_dissection(
        DissectionRule::Wasm,
        32,
        &c(Some(1), 0),
        &c(Some(2), 10_000),
        &even(32, 10_000),
    )
    .unwrap();
}

#[test]
fn number_of_sections() {
    let e = check(&even(31, 10_000)).unwrap_err();
    assert_eq!(
        e,
        GameError::NumberOfSectionsMismatch {
            expected: 32,
            given: 31
        }
    );
    assert_eq!(
        e.to_string(),
        "The number of sections must be equal to 32 instead of 31"
    );
    assert_eq!(
        e.id(),
        "smart_rollup_dissection_number_of_sections_mismatch"
    );
    // Fewer ticks than 32: exactly one section per tick.
    let e = check_dissection(
        DissectionRule::Default,
        32,
        &c(Some(1), 0),
        &c(Some(2), 5),
        &even(4, 5),
    )
    .unwrap_err();
    assert_eq!(
        e,
        GameError::NumberOfSectionsMismatch {
            expected: 5,
            given: 4
        }
    );
    check_dissection(
        DissectionRule::Default,
        32,
        &c(Some(1), 0),
        &c(Some(2), 5),
        &even(5, 5),
    )
    .unwrap();
    // A one-tick section cannot be dissected.
    let e = check_dissection(
        DissectionRule::Default,
        32,
        &c(Some(1), 0),
        &c(Some(2), 1),
        &even(1, 1),
    )
    .unwrap_err();
    assert_eq!(e, GameError::InvalidNumberOfSections(1));
    assert_eq!(
        e.to_string(),
        "A dissection with 1 sections can never be valid"
    );
}

#[test]
fn start_hash() {
    let mut d = even(32, 10_000);
    d[0].state = Some(crate::h(9));
    let e = check(&d).unwrap_err();
    assert!(matches!(e, GameError::StartHashMismatch { .. }));
    assert!(
        e.to_string()
            .starts_with("The start hash should be equal to srs1"),
        "{e}"
    );
    d[0].state = None;
    let e = check(&d).unwrap_err();
    assert_eq!(e.to_string(), "The start hash must not be None");
    // The start must not be `None` even if the agreed start is.
    let e = check_dissection(
        DissectionRule::Default,
        32,
        &c(None, 0),
        &c(None, 10_000),
        &d,
    )
    .unwrap_err();
    assert_eq!(e.id(), "smart_rollup_dissection_start_hash_mismatch");
}

#[test]
fn stop_hash() {
    let mut d = even(32, 10_000);
    d[32].state = Some(crate::h(2));
    let e = check(&d).unwrap_err();
    assert_eq!(e, GameError::StopHashMismatch(Some(crate::h(2))));
    assert!(
        e.to_string()
            .starts_with("The stop hash should not be equal to srs1")
    );
    // Against a `None` stop (the initial dissection's last chunk), `None` is agreement.
    let e = check_dissection(
        DissectionRule::Default,
        32,
        &c(Some(1), 0),
        &c(None, 10_000),
        &even(32, 10_000),
    )
    .unwrap_err();
    assert_eq!(e.to_string(), "The stop hash should not be equal to None");
}

#[test]
fn edge_ticks() {
    let mut d = even(32, 10_000);
    d[32].tick = Tick::new(10_001);
    let e = check(&d).unwrap_err();
    assert_eq!(
        e.to_string(),
        "We should have dissection_start_tick(0) = 0 and dissection_stop_tick(10001) = 10000"
    );
}

#[test]
fn ticks_increase() {
    let mut d = even(32, 10_000);
    d[5].tick = d[4].tick;
    assert_eq!(check(&d).unwrap_err(), GameError::TicksNotIncreasing);
    assert_eq!(
        GameError::TicksNotIncreasing.to_string(),
        "Ticks should only increase in dissection"
    );
}

#[test]
fn poorly_distributed() {
    // test_poorly_distributed_dissection: ticks 0..31 then one section of 9969 ticks.
    let mut d: Vec<_> = (0..32)
        .map(|i| c(Some(if i == 0 { 1 } else { 50 }), i))
        .collect();
    d.push(c(None, 10_000));
    let e = check(&d).unwrap_err();
    assert_eq!(e, GameError::InvalidDistribution(Tick::new(5000)));
    assert_eq!(
        e.to_string(),
        "Maximum tick increment in a section cannot be more than 5000 ticks"
    );
}

#[test]
fn no_state_after_none() {
    let mut d = even(32, 10_000);
    d[3].state = None;
    assert_eq!(
        check(&d).unwrap_err(),
        GameError::InvalidSuccessiveStatesShape
    );
    // `None` up to the end is fine.
    for x in &mut d[3..] {
        x.state = None;
    }
    check(&d).unwrap();
}

#[test]
fn wasm_sections_are_snapshot_aligned() {
    let s = u64::try_from(WASM_TICKS_PER_SNAPSHOT.get()).unwrap();
    let start = c(Some(1), 0);
    let stop = c(Some(2), 64 * s);
    let mk = |ticks: Vec<u64>| -> Vec<DissectionChunk> {
        let n = ticks.len() - 1;
        ticks
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                c(
                    if i == 0 {
                        Some(1)
                    } else if i == n {
                        None
                    } else {
                        Some(3)
                    },
                    t,
                )
            })
            .collect()
    };
    let aligned: Vec<u64> = (0..=32).map(|i| i * 2 * s).collect();
    check_dissection(
        DissectionRule::Wasm,
        32,
        &start,
        &stop,
        &mk(aligned.clone()),
    )
    .unwrap();
    let mut off = aligned;
    off[1] += 1;
    assert_eq!(
        check_dissection(DissectionRule::Wasm, 32, &start, &stop, &mk(off)).unwrap_err(),
        GameError::WasmInvalidDissectionDistribution
    );
    // Three snapshots and a stuck remainder: 4 sections, not 32.
    let stop = c(Some(2), 3 * s + 7);
    let e = check_dissection(
        DissectionRule::Wasm,
        32,
        &start,
        &stop,
        &even(32, 3 * s + 7),
    )
    .unwrap_err();
    assert_eq!(
        e,
        GameError::NumberOfSectionsMismatch {
            expected: 4,
            given: 32
        }
    );
    check_dissection(
        DissectionRule::Wasm,
        32,
        &start,
        &stop,
        &mk(vec![0, s, 2 * s, 3 * s, 3 * s + 7]),
    )
    .unwrap();
}

#[test]
fn choice() {
    let d = vec![c(Some(1), 0), c(Some(2), 10), c(None, 11)];
    assert_eq!(
        find_choice(&d, Tick::new(10)).unwrap(),
        (c(Some(2), 10), c(None, 11))
    );
    let e = find_choice(&d, Tick::new(11)).unwrap_err();
    assert_eq!(e.to_string(), "No section starting with tick 11 found");
    assert_eq!(e.id(), "Dissection_choice_not_found");
}
