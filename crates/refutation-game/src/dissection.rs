//! Dissection rules (`sc_rollup_dissection_chunk_repr.ml` `default_check`,
//! `default_check_sections_number`; the WASM PVM's `check_dissection` of `sc_rollup_wasm.ml`).
//! A new dissection refines the section `[start_chunk, stop_chunk]` the player chose in the
//! opponent's dissection (`docs/reference/octez-rollup-node.md` §6.4).

use tezos_types::Tick;
use tezos_types::operation::DissectionChunk;

use crate::GameError;

/// `number_of_sections_in_dissection` (32 on every network, octez-rollup-node.md §6.5).
pub const DEFAULT_NUMBER_OF_SECTIONS: u8 = 32;

/// `ticks_per_snapshot` of the WASM PVM (`sc_rollup_wasm.ml`, `V2_0_0`): the ticks of one
/// `kernel_run`.
pub const WASM_TICKS_PER_SNAPSHOT: Tick = Tick::new(50_000_000_000_000);

/// Which PVM's dissection predicate applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DissectionRule {
    /// The default predicate (`Internal_for_tests.check_dissection`; the arith PVM).
    Default,
    /// `wasm_2_0_0`: the default predicate below one snapshot, snapshot-aligned sections above.
    Wasm,
}

/// `Sc_rollup_tick_repr.distance`: the absolute difference.
pub fn distance(a: Tick, b: Tick) -> Tick {
    Tick::new(a.get().abs_diff(b.get()))
}

/// A number of sections as a `u64`, `u64::MAX` when larger (only compared with counts that
/// fit: the `u8` default or a list length).
fn section_count(n: u128) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn default_sections_number(default: u64, given: u64, dist: Tick) -> Result<(), GameError> {
    let dist = section_count(dist.get());
    if default <= dist {
        if given != default {
            return Err(GameError::NumberOfSectionsMismatch {
                expected: default,
                given,
            });
        }
        Ok(())
    } else if dist > 1 {
        if given != dist {
            return Err(GameError::NumberOfSectionsMismatch {
                expected: dist,
                given,
            });
        }
        Ok(())
    } else {
        Err(GameError::InvalidNumberOfSections(given))
    }
}

fn wasm_sections_number(default: u64, given: u64, dist: Tick) -> Result<(), GameError> {
    let (dist, snapshot) = (dist.get(), WASM_TICKS_PER_SNAPSHOT.get());
    let aligned = dist.is_multiple_of(snapshot);
    let max = dist
        .checked_div(snapshot)
        .ok_or(GameError::Overflow("number of sections"))?;
    let bound = if aligned {
        max
    } else {
        max.checked_add(1)
            .ok_or(GameError::Overflow("number of sections"))?
    };
    let expected = default.min(section_count(bound));
    if given != expected {
        return Err(GameError::NumberOfSectionsMismatch { expected, given });
    }
    Ok(())
}

/// `default_check`: the number of sections, the edges (first state = the agreed start, not
/// `None`; last state ≠ the refuted stop; same edge ticks), then every section: no state after
/// a `None` state, strictly increasing ticks, at most `section_maximum_size` ticks each.
fn default_check(
    section_maximum_size: Tick,
    check_sections_number: fn(u64, u64, Tick) -> Result<(), GameError>,
    default_number_of_sections: u8,
    start_chunk: &DissectionChunk,
    stop_chunk: &DissectionChunk,
    dissection: &[DissectionChunk],
) -> Result<(), GameError> {
    let number_of_sections = u64::try_from(dissection.len().saturating_sub(1))
        .map_err(|_| GameError::Overflow("number of sections"))?;
    let dist = distance(start_chunk.tick, stop_chunk.tick);
    check_sections_number(
        u64::from(default_number_of_sections),
        number_of_sections,
        dist,
    )?;
    let (Some(first), Some(last)) = (dissection.first(), dissection.last()) else {
        return Err(GameError::InvalidNumberOfSections(number_of_sections));
    };
    if first.state.is_none() || first.state != start_chunk.state {
        return Err(GameError::StartHashMismatch {
            expected: start_chunk.state,
            given: first.state,
        });
    }
    if last.state == stop_chunk.state {
        return Err(GameError::StopHashMismatch(stop_chunk.state));
    }
    if first.tick != start_chunk.tick || last.tick != stop_chunk.tick {
        return Err(GameError::EdgeTicksMismatch {
            dissection_start_tick: first.tick,
            dissection_stop_tick: last.tick,
            chunk_start_tick: start_chunk.tick,
            chunk_stop_tick: stop_chunk.tick,
        });
    }
    for pair in dissection.windows(2) {
        let [a, b] = pair else { continue };
        if a.state.is_none() && b.state.is_some() {
            return Err(GameError::InvalidSuccessiveStatesShape);
        }
        if a.tick >= b.tick {
            return Err(GameError::TicksNotIncreasing);
        }
        if distance(a.tick, b.tick) > section_maximum_size {
            return Err(GameError::InvalidDistribution(section_maximum_size));
        }
    }
    Ok(())
}

/// `check_dissection`: is `dissection` a valid refinement of `[start_chunk, stop_chunk]`?
pub fn check_dissection(
    rule: DissectionRule,
    default_number_of_sections: u8,
    start_chunk: &DissectionChunk,
    stop_chunk: &DissectionChunk,
    dissection: &[DissectionChunk],
) -> Result<(), GameError> {
    let dist = distance(start_chunk.tick, stop_chunk.tick);
    let default = |max| {
        default_check(
            max,
            default_sections_number,
            default_number_of_sections,
            start_chunk,
            stop_chunk,
            dissection,
        )
    };
    let half = |t: Tick| t.checked_div(2).ok_or(GameError::Overflow("section size"));
    let snapshot = WASM_TICKS_PER_SNAPSHOT.get();
    match rule {
        DissectionRule::Default => default(half(dist)?),
        DissectionRule::Wasm if dist <= WASM_TICKS_PER_SNAPSHOT => default(half(dist)?),
        DissectionRule::Wasm => {
            let aligned = dist.get().is_multiple_of(snapshot);
            let considered = if aligned {
                dist
            } else {
                let last_valid_stop = stop_chunk
                    .tick
                    .checked_div(snapshot)
                    .and_then(|t| t.checked_mul(snapshot))
                    .ok_or(GameError::Overflow("last valid stop tick"))?;
                distance(start_chunk.tick, last_valid_stop)
            };
            let max = WASM_TICKS_PER_SNAPSHOT.max(half(considered)?);
            default_check(
                max,
                wasm_sections_number,
                default_number_of_sections,
                start_chunk,
                stop_chunk,
                dissection,
            )?;
            let aligned_chunk = |c: &DissectionChunk| {
                c.tick.get().is_multiple_of(snapshot)
                    || c.tick == start_chunk.tick
                    || c.tick == stop_chunk.tick
            };
            if dissection.iter().all(aligned_chunk) {
                Ok(())
            } else {
                Err(GameError::WasmInvalidDissectionDistribution)
            }
        }
    }
}

/// `find_choice`: the section of `dissection` that starts at tick `choice`.
pub fn find_choice(
    dissection: &[DissectionChunk],
    choice: Tick,
) -> Result<(DissectionChunk, DissectionChunk), GameError> {
    dissection
        .windows(2)
        .find_map(|w| match w {
            [a, b] if a.tick == choice => Some((a.clone(), b.clone())),
            _ => None,
        })
        .ok_or(GameError::ChoiceNotFound(choice))
}
