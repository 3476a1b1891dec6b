//! The honest player's strategy (the node side: Octez `src/lib_smart_rollup_node/
//! refutation_game.ml` `next_move`, `generate_next_dissection`, and
//! `src/proto_alpha/lib_sc_rollup/game_helpers.ml` `default_new_dissection`,
//! `Wasm.new_dissection`, `make_dissection`; `docs/reference/octez-rollup-node.md` §6.4).
//!
//! Pure: the player's own computation is asked through a [`StateOracle`] (the node replays its
//! PVM), so the move is a function of the game and of what the node computed.

use tezos_types::operation::DissectionChunk;
use tezos_types::{StateHash, Tick};

use crate::dissection::{DissectionRule, WASM_TICKS_PER_SNAPSHOT, distance};
use crate::game::GameState;

/// The player's own computation over the commitment period of the game.
pub trait StateOracle {
    /// Operational failure of the oracle (store, replay).
    type Error;
    /// The state hash at `tick` (ticks counted from the start of the commitment period), or
    /// `None` beyond the last tick of the player's own commitment.
    ///
    /// # Errors
    /// The oracle's failure.
    fn state_hash(&mut self, tick: Tick) -> Result<Option<StateHash>, Self::Error>;
}

/// The move the strategy picks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextMove {
    /// Refine the section starting at `choice` with `dissection`.
    Dissection {
        /// Start tick of the chosen section.
        choice: Tick,
        /// The new dissection.
        dissection: Vec<DissectionChunk>,
    },
    /// The section starting at `choice` is one tick long: prove the step from `choice`.
    Proof {
        /// The agreed tick the proof starts from.
        choice: Tick,
    },
}

/// Why no move could be computed.
#[derive(Debug, thiserror::Error)]
pub enum StrategyError<E> {
    /// The oracle failed (operational: retry later).
    #[error("computing our own states: {0}")]
    Oracle(E),
    /// The game contradicts its own invariants (Octez
    /// `Unreliable_tezos_node_returning_inconsistent_game`): the L1 node is not trusted.
    #[error("the L1 node returned an inconsistent game: {0}")]
    InconsistentGame(&'static str),
    /// Tick arithmetic overflowed.
    #[error("tick arithmetic overflow in {0}")]
    Overflow(&'static str),
}

/// `next_move`: where we disagree with the opponent's last dissection, and our refinement of
/// it, or the final move when the disputed section is one tick long.
///
/// # Errors
/// [`StrategyError`].
pub fn next_move<O: StateOracle>(
    state: &GameState,
    rule: DissectionRule,
    oracle: &mut O,
) -> Result<NextMove, StrategyError<O::Error>> {
    let (dissection, sections) = match state {
        GameState::FinalMove {
            agreed_start_chunk, ..
        } => {
            return Ok(NextMove::Proof {
                choice: agreed_start_chunk.tick,
            });
        }
        GameState::Dissecting {
            dissection,
            default_number_of_sections,
        } => (dissection, *default_number_of_sections),
    };
    let Some((first, rest)) = dissection.split_first() else {
        return Err(StrategyError::InconsistentGame("empty dissection"));
    };
    let Some(first_hash) = first.state else {
        return Err(StrategyError::InconsistentGame(
            "a dissection that starts without a state",
        ));
    };
    // Walk the opponent's chunks: the last one we agree with, the first one we do not.
    let (mut ok_tick, mut ok_hash) = (first.tick, first_hash);
    let mut ko = None;
    for c in rest {
        let ours = oracle.state_hash(c.tick).map_err(StrategyError::Oracle)?;
        match (c.state, ours) {
            (None, None) => {
                return Err(StrategyError::InconsistentGame(
                    "both players agree that the computation stopped",
                ));
            }
            (Some(theirs), Some(ours)) if theirs == ours => {
                ok_tick = c.tick;
                ok_hash = ours;
            }
            _ => {
                ko = Some((c.tick, ours));
                break;
            }
        }
    }
    let Some((ko_tick, ko_ours)) = ko else {
        return Err(StrategyError::InconsistentGame(
            "a dissection we agree with everywhere",
        ));
    };
    if distance(ok_tick, ko_tick) == Tick::ONE {
        return Ok(NextMove::Proof { choice: ok_tick });
    }
    let ticks = new_dissection_ticks(rule, sections, ok_tick, ko_tick)
        .ok_or(StrategyError::Overflow("new dissection"))?;
    let mut chunks = Vec::with_capacity(ticks.len().saturating_add(2));
    chunks.push(DissectionChunk {
        state: Some(ok_hash),
        tick: ok_tick,
    });
    for t in ticks {
        let state = oracle.state_hash(t).map_err(StrategyError::Oracle)?;
        chunks.push(DissectionChunk { state, tick: t });
    }
    chunks.push(DissectionChunk {
        state: ko_ours,
        tick: ko_tick,
    });
    Ok(NextMove::Dissection {
        choice: ok_tick,
        dissection: chunks,
    })
}

/// The inner ticks of a new dissection of `[start, stop]` (`PVM.new_dissection`; the edges are
/// added by the caller). `None` on overflow.
pub fn new_dissection_ticks(
    rule: DissectionRule,
    default_number_of_sections: u8,
    start: Tick,
    stop: Tick,
) -> Option<Vec<Tick>> {
    let dist = distance(start, stop);
    match rule {
        DissectionRule::Wasm if dist > WASM_TICKS_PER_SNAPSHOT => {
            wasm_new_dissection(default_number_of_sections, start, stop)
        }
        _ => default_new_dissection(default_number_of_sections, start, stop),
    }
}

/// `default_new_dissection`: `min(default, length)` sections as even as possible; when
/// sections would be one tick long with a remainder, the first section takes the remainder.
fn default_new_dissection(default: u8, start: Tick, stop: Tick) -> Option<Vec<Tick>> {
    let max = u128::from(default);
    let length = distance(stop, start).get();
    let n = max.min(length);
    if n == 0 {
        return Some(Vec::new());
    }
    let rem = length.checked_rem(n)?;
    let (first_len, len) = if length <= max {
        (1, 1)
    } else {
        let len = length.checked_div(n)?.max(1);
        if len == 1 && rem != 0 {
            (rem, len)
        } else {
            (len, len)
        }
    };
    let mut out = Vec::new();
    let mut tick = start.get().checked_add(first_len)?;
    let mut k = 1u128;
    while k < n {
        out.push(Tick::new(tick));
        tick = tick.checked_add(len)?;
        k = k.checked_add(1)?;
    }
    Some(out)
}

/// `Wasm.new_dissection` above one snapshot: sections aligned on snapshot boundaries, as even
/// as possible, plus one for the unaligned surplus before `stop`.
fn wasm_new_dissection(default: u8, start: Tick, stop: Tick) -> Option<Vec<Tick>> {
    let snapshot = WASM_TICKS_PER_SNAPSHOT.get();
    let aligned = stop.get().is_multiple_of(snapshot);
    let final_tick = stop.get().checked_div(snapshot)?.checked_mul(snapshot)?;
    let dist = final_tick.checked_sub(start.get())?;
    let max_sections = dist.checked_div(snapshot)?;
    let wanted = if aligned {
        u128::from(default)
    } else {
        u128::from(default).checked_sub(1)?
    };
    let mut remaining = wanted.min(max_sections);
    let mut out = Vec::new();
    let (mut last, mut dist) = (start.get(), dist);
    while remaining > 1 {
        let len = dist
            .checked_div(snapshot.checked_mul(remaining)?)?
            .checked_mul(snapshot)?;
        last = last.checked_add(len)?;
        dist = dist.checked_sub(len)?;
        out.push(Tick::new(last));
        remaining = remaining.checked_sub(1)?;
    }
    if !aligned {
        out.push(Tick::new(final_tick));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissection::check_dissection;

    fn h(n: u8) -> StateHash {
        StateHash([n; 32])
    }

    /// The honest states: `h(1)` up to tick 1000, the opponent diverges from tick 700 on.
    struct Honest {
        last: u128,
    }

    impl StateOracle for Honest {
        type Error = std::convert::Infallible;
        fn state_hash(&mut self, t: Tick) -> Result<Option<StateHash>, Self::Error> {
            Ok((t.get() <= self.last).then(|| h(u8::try_from(t.get() % 200).unwrap())))
        }
    }

    fn theirs(t: u128) -> Option<StateHash> {
        if t < 700 {
            Some(h(u8::try_from(t % 200).unwrap()))
        } else {
            Some(h(250))
        }
    }

    #[test]
    fn dissections_are_valid_and_converge_on_the_first_wrong_tick() {
        let mut oracle = Honest { last: 1000 };
        let mut state = GameState::Dissecting {
            dissection: vec![
                DissectionChunk {
                    state: Some(h(0)),
                    tick: Tick::ZERO,
                },
                DissectionChunk {
                    state: theirs(1000),
                    tick: Tick::new(1000),
                },
                DissectionChunk {
                    state: None,
                    tick: Tick::new(1001),
                },
            ],
            default_number_of_sections: 32,
        };
        let mut moves = 0;
        loop {
            moves += 1;
            match next_move(&state, DissectionRule::Default, &mut oracle).unwrap() {
                NextMove::Proof { choice } => {
                    assert_eq!(choice, Tick::new(699));
                    break;
                }
                NextMove::Dissection { choice, dissection } => {
                    let GameState::Dissecting { dissection: d, .. } = &state else {
                        unreachable!()
                    };
                    let (a, b) = crate::dissection::find_choice(d, choice).unwrap();
                    check_dissection(DissectionRule::Default, 32, &a, &b, &dissection).unwrap();
                    // The opponent answers with its own states over our dissection's
                    // first section we disagree on... here: it keeps its wrong states.
                    let theirs_d: Vec<DissectionChunk> = dissection
                        .iter()
                        .map(|c| DissectionChunk {
                            state: if c.tick == dissection[0].tick {
                                c.state
                            } else {
                                theirs(c.tick.get())
                            },
                            tick: c.tick,
                        })
                        .collect();
                    state = GameState::Dissecting {
                        dissection: theirs_d,
                        default_number_of_sections: 32,
                    };
                }
            }
            assert!(moves < 10);
        }
    }

    #[test]
    fn wasm_dissections_are_snapshot_aligned() {
        let s = WASM_TICKS_PER_SNAPSHOT.get();
        for (start, stop) in [(0, 7 * s), (0, 40 * s + 5), (3 * s, 100 * s), (0, s + 1)] {
            let ticks =
                new_dissection_ticks(DissectionRule::Wasm, 32, Tick::new(start), Tick::new(stop))
                    .unwrap();
            let mut d = vec![DissectionChunk {
                state: Some(h(0)),
                tick: Tick::new(start),
            }];
            d.extend(ticks.into_iter().map(|t| DissectionChunk {
                state: Some(h(1)),
                tick: t,
            }));
            d.push(DissectionChunk {
                state: Some(h(2)),
                tick: Tick::new(stop),
            });
            let a = DissectionChunk {
                state: Some(h(0)),
                tick: Tick::new(start),
            };
            let b = DissectionChunk {
                state: Some(h(3)),
                tick: Tick::new(stop),
            };
            check_dissection(DissectionRule::Wasm, 32, &a, &b, &d)
                .unwrap_or_else(|e| panic!("[{start}, {stop}]: {e:?}"));
        }
    }

    #[test]
    fn small_sections_are_one_tick_each() {
        let t = new_dissection_ticks(DissectionRule::Default, 32, Tick::new(10), Tick::new(15))
            .unwrap();
        assert_eq!(t, (11..15).map(Tick::new).collect::<Vec<_>>());
        // 60 ticks in 32 sections: the first takes the remainder (28), then 31 of 1.
        let t =
            new_dissection_ticks(DissectionRule::Default, 32, Tick::ZERO, Tick::new(60)).unwrap();
        assert_eq!(t.len(), 31);
        assert_eq!(t[0], Tick::new(28));
    }
}
