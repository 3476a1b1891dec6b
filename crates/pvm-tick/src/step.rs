//! One step of the PVM on a [`StepTree`]: the protocol's proof step (`sc_rollup_wasm.ml`
//! `step_transition`) and `Wasm_vm.compute_step` / `set_input_step` / `reveal_step` for the
//! states that need no interpreter (`docs/reference/wasm-ticks.md` §1.1;
//! `docs/reference/wasm-pvm.md` §3.3, §3.6).

use durable_tree::proof::partial::StepTree;
use wasm_pvm::{PvmVersion, StuckError};

use crate::state::{self, Decoded, InputInfo, Message, Payload, TickTag, malformed};
use crate::{Input, TickError};

/// What the state asks for (`is_input_state`, `Sc_rollup_PVM_sig.input_request`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// A computation tick (`No_input_required`).
    NoInputRequired,
    /// The first input (`Initial`: no input read yet).
    Initial,
    /// The input after `(level, counter)` (`First_after`).
    FirstAfter(u32, u128),
}

/// Chunk size of chunked byte vectors (`Chunk.size`).
const CHUNK: usize = 512;

/// Durable keys (`src/lib_scoru_wasm/constants.ml`).
const VERSION_KEY: [&str; 3] = ["durable", "readonly", "wasm_version"];
const REBOOT_FLAG: [&str; 4] = ["durable", "kernel", "env", "reboot"];
const TOO_MANY_REBOOT_FLAG: [&str; 5] = ["durable", "readonly", "kernel", "env", "too_many_reboot"];
const REBOOT_COUNTER: [&str; 5] = ["durable", "readonly", "kernel", "env", "reboot_counter"];
const KERNEL: [&str; 3] = ["durable", "kernel", "boot.wasm"];
const FALLBACK: [&str; 4] = ["durable", "readonly", "kernel", "boot.wasm"];
const UPGRADE_ERROR_FLAG: [&str; 5] = ["durable", "readonly", "kernel", "env", "upgrade_error"];

fn with(base: &[&'static str], rest: &[&'static str]) -> Vec<&'static str> {
    let mut v = base.to_vec();
    v.extend_from_slice(rest);
    v
}

/// `Durable.find_value` then `Chunked_byte_vector.to_bytes`: the `@/length` of the value and
/// each of its chunks.
fn durable_read(t: &StepTree, key: &[&'static str]) -> Result<Option<Vec<u8>>, TickError> {
    if t.find_kind(&with(key, &["@"]))?.is_none() {
        return Ok(None);
    }
    let lp = with(key, &["@", "length"]);
    let len = t
        .find_value(&lp)?
        .ok_or_else(|| malformed(&lp, "durable value without length"))?;
    let len: [u8; 8] = len
        .try_into()
        .map_err(|_| malformed(&lp, "durable length is not an int64"))?;
    let len = usize::try_from(u64::from_be_bytes(len)).map_err(|_| malformed(&lp, "too long"))?;
    let mut out = Vec::with_capacity(len);
    let mut i = 0usize;
    while out.len() < len {
        let idx = i.to_string();
        let cp = [key, &["@", "contents", idx.as_str()]].concat();
        match t.find_value(&cp)? {
            Some(c) => out.extend_from_slice(&c),
            // A chunk never written reads as zeros (`get_chunk`).
            None => out.resize(out.len().saturating_add(CHUNK), 0),
        }
        i = i
            .checked_add(1)
            .ok_or_else(|| malformed(&cp, "too many chunks"))?;
    }
    out.truncate(len);
    Ok(Some(out))
}

/// `Durable.find_value … <> None`: decoding the value reads its length only.
fn durable_exists(t: &StepTree, key: &[&'static str]) -> Result<bool, TickError> {
    if t.find_kind(&with(key, &["@"]))?.is_none() {
        return Ok(false);
    }
    t.find_value(&with(key, &["@", "length"]))?;
    t.find_kind(&with(key, &["@", "contents"]))?;
    Ok(true)
}

/// `Durable.write_value_exn key 0 bytes` on a value just deleted or absent: a fresh chunked
/// byte vector (its `contents` removed, the written chunks added, then `length`).
fn durable_write_fresh(
    t: &mut StepTree,
    key: &[&'static str],
    bytes: &[u8],
) -> Result<(), TickError> {
    t.remove(&with(key, &["@", "contents"]))?;
    for (i, c) in bytes.chunks(CHUNK).enumerate() {
        let mut chunk = c.to_vec();
        chunk.resize(CHUNK, 0);
        let idx = i.to_string();
        t.add(&[key, &["@", "contents", idx.as_str()]].concat(), chunk)?;
    }
    t.add(
        &with(key, &["@", "length"]),
        (bytes.len() as u64).to_be_bytes().to_vec(),
    )?;
    Ok(())
}

/// `write_value_exn key 0 ""` on an existing or absent value: its contents stay, the length
/// (0 if absent) is written back.
fn durable_touch_empty(t: &mut StepTree, key: &[&'static str]) -> Result<(), TickError> {
    let lp = with(key, &["@", "length"]);
    let len = if t.find_kind(&with(key, &["@"]))?.is_some() {
        let l = t
            .find_value(&lp)?
            .ok_or_else(|| malformed(&lp, "no length"))?;
        let cp = with(key, &["@", "contents"]);
        t.copy_from_before(&cp, &cp)?;
        l
    } else {
        t.remove(&with(key, &["@", "contents"]))?;
        0u64.to_be_bytes().to_vec()
    };
    t.add(&lp, len)?;
    Ok(())
}

/// The tick's outcome for the driver (`computation_status`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Running,
    Failing,
    Reboot,
    ForcingYield,
    Yielding,
}

fn stuck(s: &mut Decoded, e: &StuckError) {
    s.tag = TickTag::Stuck;
    s.stuck = Some(e.encode());
}

/// `Wasm_vm.compute_step` on a decoded state (reads the version first).
fn compute_step(t: &mut StepTree, s: &mut Decoded) -> Result<(), TickError> {
    let version_bytes =
        durable_read(t, &VERSION_KEY)?.ok_or_else(|| malformed(&VERSION_KEY, "no PVM version"))?;
    // Picks the host functions and the stack limit: neither is used by these states.
    PvmVersion::parse(&version_bytes).ok_or_else(|| malformed(&VERSION_KEY, "unknown version"))?;
    let ticks_to_snapshot = i128::try_from(s.max_nb_ticks)
        .ok()
        .and_then(|m| {
            let used = i128::try_from(s.current_tick).ok()?
                - i128::try_from(s.last_top_level_call).ok()?;
            m.checked_sub(1)?.checked_sub(used)
        })
        .ok_or_else(|| malformed(&["wasm", "current_tick"], "tick counters out of range"))?;
    let status = match s.tag {
        TickTag::Stuck => {
            let bytes = s.stuck.clone().unwrap_or_default();
            let e = StuckError::decode(&bytes)
                .ok_or_else(|| malformed(&["wasm", "value"], "not a Wasm_pvm_errors encoding"))?;
            match e {
                StuckError::Decode(..) | StuckError::Link(_) | StuckError::Init(..) => {
                    // `has_fallback_kernel`: the two value hashes (found, not loaded).
                    let kernel = t.find_hash(&with(&KERNEL, &["@"]))?;
                    let fallback = t.find_hash(&with(&FALLBACK, &["@"]))?;
                    if fallback.is_some() && fallback != kernel {
                        // `Durable.copy_tree_exn fallback kernel` (the whole subtree), the
                        // upgrade-error flag (`write_value_exn … 0L ""`), then `Padding`.
                        let saved = t.subtree(&FALLBACK)?.ok_or_else(|| {
                            malformed(&FALLBACK, "fallback kernel found then missing")
                        })?;
                        t.put_subtree(&KERNEL, saved)?;
                        durable_touch_empty(t, &UPGRADE_ERROR_FLAG)?;
                        s.tag = TickTag::Padding;
                        s.stuck = None;
                        Status::Running
                    } else {
                        stuck(s, &StuckError::NoFallbackKernel(Box::new(e)));
                        Status::Failing
                    }
                }
                _ => Status::Failing,
            }
        }
        TickTag::Snapshot => {
            // `initial_boot_state`: `Decode (initial_decode_kont ~name:"main")`.
            s.tag = TickTag::Decode;
            Status::Running
        }
        TickTag::Collect => {
            stuck(
                s,
                &StuckError::InvalidState("Collect is a input tick".into()),
            );
            Status::Failing
        }
        TickTag::Padding if ticks_to_snapshot <= 0 => {
            // `maybe_activate_nds`: the NDS gate is closed (empty `Wasm_pvm_config`): no read.
            if durable_exists(t, &REBOOT_FLAG)? {
                if s.reboot_counter == 0 {
                    s.tag = TickTag::Collect;
                    Status::ForcingYield
                } else {
                    s.tag = TickTag::Snapshot;
                    Status::Reboot
                }
            } else {
                s.tag = TickTag::Collect;
                Status::Yielding
            }
        }
        TickTag::Padding => Status::Running,
        // Rule 6 of `unsafe_next_tick_state`: the window is over in the middle of a
        // computation (the payload is dropped: `encode_with` removes `wasm/`).
        TickTag::Decode | TickTag::Link | TickTag::Init | TickTag::Eval
            if ticks_to_snapshot <= 0 =>
        {
            stuck(s, &StuckError::TooManyTicks);
            Status::Failing
        }
        TickTag::Decode | TickTag::Link | TickTag::Init | TickTag::Eval => {
            // The interpreter's tick on the same partial tree (crate `wasm-interp`): it
            // decodes the payload lazily and writes the next tick state back.
            let next = wasm_interp::tick::step_tree(&wasm_interp::codec::Tree::step(t.clone()))?;
            match next {
                wasm_interp::codec::Tree::Step(n) => *t = *n,
                wasm_interp::codec::Tree::Plain(_) => {
                    return Err(TickError::Unsupported(
                        "the interpreter left the partial tree (window end)",
                    ));
                }
            }
            return Ok(());
        }
    };
    let current = s.current_tick;
    s.current_tick = current
        .checked_add(1)
        .ok_or_else(|| malformed(&["wasm", "current_tick"], "overflow"))?;
    let max_plus_one = s
        .maximum_reboots_per_input
        .checked_add(1)
        .ok_or_else(|| malformed(&["pvm", "maximum_reboots_per_input"], "overflow"))?;
    match status {
        Status::Running | Status::Failing => {}
        Status::ForcingYield | Status::Yielding | Status::Reboot => {
            s.last_top_level_call = s.current_tick
        }
    }
    s.reboot_counter = match status {
        Status::Reboot => s.reboot_counter.saturating_sub(1),
        Status::ForcingYield | Status::Yielding | Status::Failing => max_plus_one,
        Status::Running => s.reboot_counter,
    };
    // patch_too_many_reboot_flag
    match status {
        Status::Yielding => t.remove(&TOO_MANY_REBOOT_FLAG)?,
        Status::ForcingYield => durable_touch_empty(t, &TOO_MANY_REBOOT_FLAG)?,
        _ => {}
    }
    // patch_reboot_flag
    match status {
        Status::Reboot => t.remove(&REBOOT_FLAG)?,
        Status::ForcingYield | Status::Yielding => durable_touch_empty(t, &REBOOT_FLAG)?,
        _ => {}
    }
    // patch_reboot_counter: delete then write 4 bytes (int32 little-endian).
    if matches!(
        status,
        Status::Reboot | Status::ForcingYield | Status::Yielding
    ) {
        t.remove(&REBOOT_COUNTER)?;
        // `Z.to_int32`.
        let c = i32::try_from(s.reboot_counter)
            .map_err(|_| malformed(&["wasm", "reboot_counter"], "not an int32"))?;
        durable_write_fresh(t, &REBOOT_COUNTER, &c.to_le_bytes())?;
    }
    // clean_up_input_buffer: a fresh empty vector.
    let reset = matches!(status, Status::ForcingYield | Status::Yielding);
    state::encode_with(t, s, reset)
}

/// `Wasm_vm.set_input_step` for the states that need no interpreter.
fn set_input_step(
    t: &mut StepTree,
    s: &mut Decoded,
    level: u32,
    counter: u64,
    payload: &[u8],
) -> Result<(), TickError> {
    let mut appended = None;
    match s.tag {
        TickTag::Collect => {
            let b = s
                .buffers
                .as_ref()
                .ok_or(TickError::Invalid("input tick without buffers"))?;
            let (first, num) = state::input_vector(b)?;
            if num > 0 {
                // `enqueue` reads the last message to check the new one comes after it.
                let last = first
                    .checked_add(num - 1)
                    .ok_or(TickError::Invalid("input index overflow"))?;
                let m = state::read_message(t, last)?;
                if !(level > m.level || (level == m.level && u128::from(counter) > m.counter)) {
                    return Err(TickError::Unsupported(
                        "an input older than the last one (Cannot_store_an_earlier_message)",
                    ));
                }
                s.messages.push((last, m));
            }
            let index = first
                .checked_add(num)
                .ok_or(TickError::Invalid("input index overflow"))?;
            appended = Some(index);
            match payload {
                // `Pvm_input_kind.from_raw_input`: `Start_of_level` and `End_of_level` are
                // exactly two bytes; anything else stays in `Collect`.
                [0x00, 0x02] => s.tag = TickTag::Padding,
                [0x00, 0x01] => state::update_output_buffer(s, level)?,
                [0x00, 0x04, ..] => {
                    return Err(TickError::Unsupported(
                        "the input tick of a protocol migration",
                    ));
                }
                _ => {}
            }
        }
        TickTag::Stuck => {}
        TickTag::Snapshot => stuck(
            s,
            &StuckError::InvalidState("No input required during start".into()),
        ),
        TickTag::Padding => stuck(
            s,
            &StuckError::InvalidState("No input required during padding".into()),
        ),
        TickTag::Decode | TickTag::Link | TickTag::Init | TickTag::Eval => {
            let during = match s.tag {
                TickTag::Decode => "decoding",
                TickTag::Link => "link",
                TickTag::Init => "initialization",
                _ => "evaluation",
            };
            stuck(
                s,
                &StuckError::InvalidState(format!("No input required during {during}")),
            )
        }
    }
    s.current_tick = s
        .current_tick
        .checked_add(1)
        .ok_or_else(|| malformed(&["wasm", "current_tick"], "overflow"))?;
    s.input = Some(InputInfo {
        level,
        counter: u128::from(counter),
    });
    if let Some(index) = appended {
        s.messages.push((
            index,
            Message {
                level,
                counter: u128::from(counter),
                payload: payload.to_vec(),
            },
        ));
        state::set_input_length(s, index)?;
    }
    state::encode_with(t, s, false)
}

/// `Wasm_vm.reveal_step`: the states that refuse a reveal, and the interpreter's answer in
/// `Eval`.
fn reveal_step(t: &mut StepTree, s: &mut Decoded, input: &Input) -> Result<(), TickError> {
    let msg = match s.tag {
        TickTag::Snapshot => "No reveal expected during start",
        TickTag::Collect => "No reveal expected during collecting",
        TickTag::Stuck | TickTag::Padding => "",
        TickTag::Decode => "No reveal expected during decoding",
        TickTag::Link => "No reveal expected during link",
        TickTag::Init => "No reveal expected during initialization",
        // The answer to a reveal tick: the interpreter's (`Eval.reveal_step`), on the same
        // partial tree, as on a plain one (`crate::set_input`).
        TickTag::Eval => {
            let Input::Reveal(payload) = input else {
                return Err(TickError::Invalid("reveal_step without a reveal"));
            };
            let next = wasm_interp::tick::reveal_step_tree(
                &wasm_interp::codec::Tree::step(t.clone()),
                payload,
            )?;
            return match next {
                wasm_interp::codec::Tree::Step(n) => {
                    *t = *n;
                    Ok(())
                }
                wasm_interp::codec::Tree::Plain(_) => Err(TickError::Unsupported(
                    "the interpreter left the partial tree (reveal step)",
                )),
            };
        }
    };
    if !msg.is_empty() {
        stuck(s, &StuckError::InvalidState(msg.into()));
    }
    s.current_tick = s
        .current_tick
        .checked_add(1)
        .ok_or_else(|| malformed(&["wasm", "current_tick"], "overflow"))?;
    state::encode_with(t, s, false)
}

/// What the state asks for, with the reveal requests (`Sc_rollup_PVM_sig.input_request`);
/// [`Request`] without `Needs_reveal`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepRequest {
    /// A computation tick (`No_input_required`).
    NoInputRequired,
    /// The first input (`Initial`).
    Initial,
    /// The input after `(level, counter)` (`First_after`).
    FirstAfter(u32, u128),
    /// A reveal (`Needs_reveal`), as the request's bytes (`Reveal_required`: `0x00 ‖ hash`,
    /// `0x01` for the metadata, the raw payload of `reveal`).
    Reveal(Vec<u8>),
}

/// [`step_transition_request`] for a state that does not wait for a reveal; at a reveal
/// tick, [`TickError::RevealRequired`] (the request is then
/// [`step_transition_request`]'s).
pub fn step_transition(t: &mut StepTree, input: Option<&Input>) -> Result<Request, TickError> {
    match step_transition_request(t, input)? {
        StepRequest::NoInputRequired => Ok(Request::NoInputRequired),
        StepRequest::Initial => Ok(Request::Initial),
        StepRequest::FirstAfter(l, c) => Ok(Request::FirstAfter(l, c)),
        StepRequest::Reveal(r) => Err(TickError::RevealRequired(r)),
    }
}

/// The protocol's proof step (`sc_rollup_wasm.ml` `step_transition`): read the current level,
/// decide whether the state takes an input (`is_input_state`: at an `Eval` reveal tick,
/// `Needs_reveal`), then run a computation tick or the input tick (with `input`: a message
/// is `set_input_step`, a reveal `reveal_step`; without it the state is unchanged).
pub fn step_transition_request(
    t: &mut StepTree,
    input: Option<&Input>,
) -> Result<StepRequest, TickError> {
    // `get_current_level`, `is_input_state` and `eval`/`set_input` each decode the state:
    // the same reads, done once here.
    let mut s = state::decode(t, Payload::Skip)?;
    let request = match s.tag {
        TickTag::Collect => match s.input {
            Some(i) => StepRequest::FirstAfter(i.level, i.counter),
            None => StepRequest::Initial,
        },
        TickTag::Stuck => {
            let e = StuckError::decode(s.stuck.as_deref().unwrap_or_default())
                .ok_or_else(|| malformed(&["wasm", "value"], "not a Wasm_pvm_errors encoding"))?;
            match e {
                StuckError::Decode(..) | StuckError::Link(_) | StuckError::Init(..) => {
                    StepRequest::NoInputRequired
                }
                _ => match s.input {
                    Some(i) => StepRequest::FirstAfter(i.level, i.counter),
                    None => StepRequest::Initial,
                },
            }
        }
        // `Eval.is_reveal_tick` of the configuration (decoded on the same partial tree).
        TickTag::Eval => match wasm_interp::tick::reveal_request_tree(
            &wasm_interp::codec::Tree::step(t.clone()),
        )? {
            Some(r) => StepRequest::Reveal(r),
            None => StepRequest::NoInputRequired,
        },
        _ => StepRequest::NoInputRequired,
    };
    match (&request, input) {
        (StepRequest::NoInputRequired, _) => compute_step(t, &mut s)?,
        (_, None) => {}
        (
            _,
            Some(Input::Message {
                level,
                counter,
                payload,
            }),
        ) => set_input_step(t, &mut s, *level, *counter, payload)?,
        (_, Some(r @ Input::Reveal(_))) => reveal_step(t, &mut s, r)?,
    }
    Ok(request)
}

/// `Wasm_vm.compute_step` (one computation tick, whatever the state asks for) for the states
/// that need no interpreter, and the window end (`Too_many_ticks`) of those that do.
pub(crate) fn eval_tick(t: &mut StepTree) -> Result<(), TickError> {
    let mut s = state::decode(t, Payload::Skip)?;
    compute_step(t, &mut s)
}

/// `Wasm_vm.set_input_step` (a message) or `reveal_step` (a reveal answer), whatever the
/// state asks for; in an interpreter state other than a reveal in `Eval`, the refusal.
pub(crate) fn input_tick(t: &mut StepTree, input: &Input) -> Result<(), TickError> {
    let mut s = state::decode(t, Payload::Skip)?;
    match input {
        Input::Message {
            level,
            counter,
            payload,
        } => set_input_step(t, &mut s, *level, *counter, payload),
        Input::Reveal(_) => reveal_step(t, &mut s, input),
    }
}
