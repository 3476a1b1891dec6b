//! Decoding and encoding the PVM state on a [`StepTree`] the way Octez's tree-encoding does
//! (`src/lib_scoru_wasm/tree_state.ml` `pvm_state_encoding`; `docs/reference/wasm-ticks.md`
//! §2.1–2.2): decoding reads each value (or only finds a lazy structure's subtree), encoding
//! removes `wasm/` then writes every value back and puts every lazy structure's subtree back.

use context_hash::data_encoding::{read_n, read_z, write_n, write_z};
use durable_tree::proof::partial::StepTree;

use crate::TickError;

/// `wasm/input` (`Wasm_pvm_sig.input_info_encoding`: int32 level ‖ n counter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputInfo {
    /// Inbox level of the last input.
    pub level: u32,
    /// Its message counter.
    pub counter: u128,
}

/// The tick state's tag (`wasm/tag`; absent = `collect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickTag {
    /// `snapshot`.
    Snapshot,
    /// `decode`.
    Decode,
    /// `link`.
    Link,
    /// `init`.
    Init,
    /// `eval`.
    Eval,
    /// `stuck` (the error is in [`Decoded::stuck`]).
    Stuck,
    /// `collect`.
    Collect,
    /// `padding`.
    Padding,
}

impl TickTag {
    /// The tag as written (`tagged_union` case name).
    pub fn name(self) -> &'static str {
        match self {
            TickTag::Snapshot => "snapshot",
            TickTag::Decode => "decode",
            TickTag::Link => "link",
            TickTag::Init => "init",
            TickTag::Eval => "eval",
            TickTag::Stuck => "stuck",
            TickTag::Collect => "collect",
            TickTag::Padding => "padding",
        }
    }

    pub(crate) fn parse(s: &[u8]) -> Option<TickTag> {
        Some(match s {
            b"snapshot" => TickTag::Snapshot,
            b"decode" => TickTag::Decode,
            b"link" => TickTag::Link,
            b"init" => TickTag::Init,
            b"eval" => TickTag::Eval,
            b"stuck" => TickTag::Stuck,
            b"collect" => TickTag::Collect,
            b"padding" => TickTag::Padding,
            _ => return None,
        })
    }
}

/// The buffers' values (`wasm_encoding.ml` `buffers_encoding`), kept as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Buffers {
    /// `input/head` (z, as stored).
    pub input_head: Vec<u8>,
    /// `input/length` (z, as stored).
    pub input_length: Vec<u8>,
    /// `output/2/last_level` (int32).
    pub last_level: Option<u32>,
    /// `output/3/validity_period` (as stored).
    pub validity_period: Vec<u8>,
    /// `output/4/message_limit` (as stored).
    pub message_limit: Vec<u8>,
}

/// The PVM state outside the tick state's payload (`pvm_state` of `wasm_pvm_state.ml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// `wasm/input`.
    pub input: Option<InputInfo>,
    /// `wasm/current_tick`.
    pub current_tick: u128,
    /// `wasm/reboot_counter` (absent: `maximum_reboots_per_input + 1`).
    pub reboot_counter: u128,
    /// The buffers (absent in the tree only before the boot sector is installed).
    pub buffers: Option<Buffers>,
    /// `wasm/tag`.
    pub tag: TickTag,
    /// `wasm/value` of a `stuck` state (`Wasm_pvm_errors.encoding`).
    pub stuck: Option<Vec<u8>>,
    /// `pvm/last_top_level_call`.
    pub last_top_level_call: u128,
    /// `pvm/max_nb_ticks`.
    pub max_nb_ticks: u128,
    /// `pvm/maximum_reboots_per_input`.
    pub maximum_reboots_per_input: u128,
    /// `pvm/outbox_validity_period` (int32, as stored).
    pub outbox_validity_period: Vec<u8>,
    /// `pvm/outbox_message_limit` (z, as stored).
    pub outbox_message_limit: Vec<u8>,
    /// Input messages loaded by the step (read or appended): re-encoded at `contents/<index>`.
    pub messages: Vec<(u128, Message)>,
    /// Outboxes set (`Some`: a fresh empty one) or removed (`None`) by the step, by level.
    pub outboxes: Vec<(i64, bool)>,
}

/// An input message (`Input_buffer.message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// `raw-level`.
    pub level: u32,
    /// `message-counter`.
    pub counter: u128,
    /// The payload.
    pub payload: Vec<u8>,
}

/// Chunk size of chunked byte vectors (`Chunk.size`).
const CHUNK: usize = 512;

/// Default `maximum_reboots_per_input` (`Constants.maximum_reboots_per_input`).
const DEFAULT_MAX_REBOOTS: u128 = 1000;

pub(crate) fn malformed(path: &[&str], reason: &'static str) -> TickError {
    TickError::Malformed {
        path: path.join("/"),
        reason,
    }
}

fn value(t: &StepTree, path: &[&str]) -> Result<Vec<u8>, TickError> {
    t.find_value(path)?
        .ok_or_else(|| malformed(path, "missing value"))
}

pub(crate) fn n_of(path: &[&str], b: &[u8]) -> Result<u128, TickError> {
    match read_n(b) {
        Ok((v, used)) if used == b.len() => Ok(v),
        _ => Err(malformed(path, "not a Data_encoding.n")),
    }
}

pub(crate) fn n_bytes(v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    write_n(&mut out, v);
    out
}

fn n_value(t: &StepTree, path: &[&str], default: Option<u128>) -> Result<u128, TickError> {
    match (t.find_value(path)?, default) {
        (Some(b), _) => n_of(path, &b),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(malformed(path, "missing value")),
    }
}

fn int32_of(path: &[&str], b: &[u8]) -> Result<u32, TickError> {
    let a: [u8; 4] = b.try_into().map_err(|_| malformed(path, "not an int32"))?;
    Ok(u32::from_be_bytes(a))
}

/// `Data_encoding.string`: 4-byte big-endian length, bytes.
pub(crate) fn string_of<'a>(path: &[&str], b: &'a [u8]) -> Result<&'a [u8], TickError> {
    let (len, rest) = b
        .split_first_chunk::<4>()
        .ok_or_else(|| malformed(path, "not a Data_encoding.string"))?;
    if usize::try_from(u32::from_be_bytes(*len)).ok() != Some(rest.len()) {
        return Err(malformed(path, "not a Data_encoding.string"));
    }
    Ok(rest)
}

pub(crate) fn string_bytes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len().saturating_add(4));
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s);
    out
}

const IN: [&str; 4] = ["value", "pvm", "buffers", "input"];
const OUT: [&str; 4] = ["value", "pvm", "buffers", "output"];

fn at<'a>(base: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend_from_slice(rest);
    v
}

/// What [`decode`] does with the payload of an interpreter tick state (`decode`, `link`,
/// `init`, `eval`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Payload {
    /// Refuse the state ([`TickError::NeedsInterpreter`]): the proof path, whose reads must be
    /// exactly Octez's (which decodes the payload).
    Refuse,
    /// Leave it unread: the plain-tree driver, for the ticks that drop the payload (the
    /// window end `Too_many_ticks`, an input or reveal refused in that state).
    Skip,
}

/// Decode the state as `Tree_encoding_runner.decode pvm_state_encoding` does: the tick
/// state's payload is read only for `stuck`.
pub(crate) fn decode(t: &StepTree, payload: Payload) -> Result<Decoded, TickError> {
    let input = match t.find_value(&["wasm", "input"])? {
        None => None,
        Some(b) => {
            let p = ["wasm", "input"];
            if b.len() < 5 {
                return Err(malformed(&p, "not an input_info"));
            }
            Some(InputInfo {
                level: int32_of(&p, &b[..4])?,
                counter: n_of(&p, &b[4..])?,
            })
        }
    };
    let current_tick = n_value(t, &["wasm", "current_tick"], Some(0))?;
    let reboot_counter = match t.find_value(&["wasm", "reboot_counter"])? {
        Some(b) => Some(n_of(&["wasm", "reboot_counter"], &b)?),
        None => None,
    };
    // `durable`: a wrapped tree, found, not loaded.
    t.find_kind(&["durable"])?;
    let buffers = match t.find_value(&["tag"])? {
        None => None,
        Some(tag) => match string_of(&["tag"], &tag)? {
            b"None" => None,
            b"Some" => {
                let input_head = value(t, &at(&IN, &["head"]))?;
                let input_length = value(t, &at(&IN, &["length"]))?;
                t.find_kind(&at(&IN, &["contents"]))?;
                t.find_kind(&at(&OUT, &["1", "outboxes"]))?;
                let p = at(&OUT, &["2", "last_level"]);
                let last_level = match t.find_value(&p)? {
                    Some(b) => Some(int32_of(&p, &b)?),
                    None => None,
                };
                let validity_period = value(t, &at(&OUT, &["3", "validity_period"]))?;
                let message_limit = value(t, &at(&OUT, &["4", "message_limit"]))?;
                Some(Buffers {
                    input_head,
                    input_length,
                    last_level,
                    validity_period,
                    message_limit,
                })
            }
            _ => return Err(malformed(&["tag"], "option tag neither Some nor None")),
        },
    };
    let tag = match t.find_value(&["wasm", "tag"])? {
        None => TickTag::Collect,
        Some(b) => TickTag::parse(string_of(&["wasm", "tag"], &b)?)
            .ok_or_else(|| malformed(&["wasm", "tag"], "unknown tick state"))?,
    };
    let stuck = match tag {
        TickTag::Stuck => Some(value(t, &["wasm", "value"])?),
        TickTag::Decode | TickTag::Link | TickTag::Init | TickTag::Eval
            if payload == Payload::Refuse =>
        {
            return Err(TickError::NeedsInterpreter(tag.name()));
        }
        _ => None,
    };
    let last_top_level_call = n_value(t, &["pvm", "last_top_level_call"], Some(0))?;
    let max_nb_ticks = n_value(t, &["pvm", "max_nb_ticks"], None)?;
    let maximum_reboots_per_input = n_value(
        t,
        &["pvm", "maximum_reboots_per_input"],
        Some(DEFAULT_MAX_REBOOTS),
    )?;
    let outbox_validity_period = value(t, &["pvm", "outbox_validity_period"])?;
    let outbox_message_limit = value(t, &["pvm", "outbox_message_limit"])?;
    let reboot_counter = match reboot_counter {
        Some(r) => r,
        None => maximum_reboots_per_input
            .checked_add(1)
            .ok_or_else(|| malformed(&["pvm", "maximum_reboots_per_input"], "too large"))?,
    };
    Ok(Decoded {
        input,
        current_tick,
        reboot_counter,
        buffers,
        tag,
        stuck,
        last_top_level_call,
        max_nb_ticks,
        maximum_reboots_per_input,
        outbox_validity_period,
        outbox_message_limit,
        messages: Vec::new(),
        outboxes: Vec::new(),
    })
}

fn z_of(path: &[&str], b: &[u8]) -> Result<i128, TickError> {
    match read_z(b) {
        Ok((neg, mag, used)) if used == b.len() => {
            let m = i128::try_from(mag).map_err(|_| malformed(path, "z too large"))?;
            Ok(if neg { -m } else { m })
        }
        _ => Err(malformed(path, "not a Data_encoding.z")),
    }
}

fn z_bytes(v: i128) -> Vec<u8> {
    let mut out = Vec::new();
    write_z(&mut out, v < 0, v.unsigned_abs());
    out
}

/// `(first, num_elements)` of the input buffer (`head`, `length`).
pub(crate) fn input_vector(b: &Buffers) -> Result<(u128, u128), TickError> {
    let head = z_of(&at(&IN, &["head"]), &b.input_head)?;
    let len = z_of(&at(&IN, &["length"]), &b.input_length)?;
    let first = u128::try_from(head).map_err(|_| malformed(&at(&IN, &["head"]), "negative"))?;
    let num = u128::try_from(len).map_err(|_| malformed(&at(&IN, &["length"]), "negative"))?;
    Ok((first, num))
}

/// `length` of the input buffer after appending at `index`.
pub(crate) fn set_input_length(s: &mut Decoded, index: u128) -> Result<(), TickError> {
    let b = s
        .buffers
        .as_mut()
        .ok_or(TickError::Invalid("input tick without buffers"))?;
    let (first, _) = input_vector(b)?;
    let len = index
        .checked_add(1)
        .and_then(|e| e.checked_sub(first))
        .and_then(|l| i128::try_from(l).ok())
        .ok_or(TickError::Invalid("input buffer length overflow"))?;
    b.input_length = z_bytes(len);
    Ok(())
}

/// Read (decode) the input message at `index` (`Vector.get`: raw level, counter, then the
/// payload's chunked byte vector, every chunk loaded by `to_bytes`).
pub(crate) fn read_message(t: &StepTree, index: u128) -> Result<Message, TickError> {
    let k = index.to_string();
    let base = at(&IN, &["contents", k.as_str()]);
    let lp = at(&base, &["raw-level"]);
    let level = int32_of(&lp, &value(t, &lp)?)?;
    let cp = at(&base, &["message-counter"]);
    let counter = z_of(&cp, &value(t, &cp)?)?;
    let counter = u128::try_from(counter).map_err(|_| malformed(&cp, "negative"))?;
    let len_p = at(&base, &["length"]);
    let len: [u8; 8] = value(t, &len_p)?
        .try_into()
        .map_err(|_| malformed(&len_p, "not an int64"))?;
    let len =
        usize::try_from(u64::from_be_bytes(len)).map_err(|_| malformed(&len_p, "too long"))?;
    let mut payload = Vec::with_capacity(len);
    let mut i = 0usize;
    while payload.len() < len {
        let idx = i.to_string();
        let p = at(&base, &["contents", idx.as_str()]);
        match t.find_value(&p)? {
            Some(c) => payload.extend_from_slice(&c),
            None => payload.resize(payload.len().saturating_add(CHUNK), 0),
        }
        i = i
            .checked_add(1)
            .ok_or_else(|| malformed(&p, "too many chunks"))?;
    }
    payload.truncate(len);
    Ok(Message {
        level,
        counter,
        payload,
    })
}

/// `update_output_buffer` at a `Start_of_level` of `level` (`output_buffer.ml`:
/// `initialize_outbox` the first time, else `move_outbox_forward`).
pub(crate) fn update_output_buffer(s: &mut Decoded, level: u32) -> Result<(), TickError> {
    let b = s
        .buffers
        .as_mut()
        .ok_or(TickError::Invalid("input tick without buffers"))?;
    match b.last_level {
        None => {
            if i32::try_from(level).is_err() {
                return Err(TickError::Invalid("negative inbox level"));
            }
            b.last_level = Some(level);
            s.outboxes.push((i64::from(level), true));
        }
        Some(last) => {
            let vp = at(&OUT, &["3", "validity_period"]);
            let period = i64::from(int32_of(&vp, &b.validity_period)? as i32);
            let last = i64::from(last as i32);
            let first = last
                .checked_add(1)
                .and_then(|x| x.checked_sub(period))
                .ok_or_else(|| malformed(&vp, "out of range"))?;
            let next = last
                .checked_add(1)
                .ok_or_else(|| malformed(&vp, "out of range"))?;
            let next32 = i32::try_from(next).map_err(|_| malformed(&vp, "level overflow"))?;
            b.last_level = Some(next32 as u32);
            s.outboxes.push((next, true));
            s.outboxes.push((first, false));
        }
    }
    Ok(())
}

/// `Decode.initial_decode_kont ~name:"main"` under `wasm/value/`
/// (`binary_parser_encodings.ml` `Decode.encoding`, `docs/reference/wasm-ticks.md` §2.5):
/// every lazy vector empty and without origin (its `contents` removed, `length` and `head`
/// int32 0), no `start` nor `data_count`, `module_kont` = `MKStart` (an empty blob), the
/// allocation tables of one empty block and one empty data segment, `stream_pos` 0, `stream_name` `main`.
fn encode_initial_decode(t: &mut StepTree) -> Result<(), TickError> {
    let empty_vector = |t: &mut StepTree, base: &[&str]| -> Result<(), TickError> {
        t.remove(&at(base, &["contents"]))?;
        t.add(&at(base, &["length"]), 0u32.to_be_bytes().to_vec())?;
        t.add(&at(base, &["head"]), 0u32.to_be_bytes().to_vec())?;
        Ok(())
    };
    // `Building_state.encoding`: one scope per field.
    let bs = ["wasm", "value", "building_state"];
    for field in [
        "types", "imports", "vars", "tables", "memories", "globals", "exports",
    ] {
        empty_vector(t, &at(&bs, &[field]))?;
    }
    t.remove(&at(&bs, &["start"]))?;
    empty_vector(t, &at(&bs, &["elems"]))?;
    t.remove(&at(&bs, &["data_count"]))?;
    empty_vector(t, &at(&bs, &["code"]))?;
    empty_vector(t, &at(&bs, &["datas"]))?;
    t.add(
        &["wasm", "value", "module_kont", "tag"],
        string_bytes(b"MKStart"),
    )?;
    t.add(&["wasm", "value", "module_kont", "value"], Vec::new())?;
    // `Ast.empty_allocations`: one empty block, one empty data segment (singletons: a
    // loaded binding at index 0 each).
    let blocks = ["wasm", "value", "allocation_state", "1", "block-table"];
    t.remove(&at(&blocks, &["contents"]))?;
    empty_vector(t, &at(&blocks, &["contents", "0", "instructions"]))?;
    t.add(&at(&blocks, &["length"]), 1u32.to_be_bytes().to_vec())?;
    t.add(&at(&blocks, &["head"]), 0u32.to_be_bytes().to_vec())?;
    let datas = ["wasm", "value", "allocation_state", "2", "datas-table"];
    t.remove(&at(&datas, &["contents"]))?;
    t.add(
        &at(&datas, &["contents", "0", "length"]),
        0u64.to_be_bytes().to_vec(),
    )?;
    t.add(&at(&datas, &["length"]), 1u32.to_be_bytes().to_vec())?;
    t.add(&at(&datas, &["head"]), 0u32.to_be_bytes().to_vec())?;
    t.add(
        &["wasm", "value", "stream_pos"],
        0u32.to_be_bytes().to_vec(),
    )?;
    t.add(&["wasm", "value", "stream_name"], string_bytes(b"main"))?;
    Ok(())
}

/// Encode the state back (`Encoding_runner.encode`: remove `wasm/`, then every field in the
/// order of `pvm_state_encoding`). The durable storage and the input buffer's messages are
/// changed in place by the caller; here their subtrees stay.
/// With `reset`, the input buffer is a fresh empty vector (`Input_buffer.reset`).
pub(crate) fn encode_with(t: &mut StepTree, s: &Decoded, reset: bool) -> Result<(), TickError> {
    if matches!(s.tag, TickTag::Link | TickTag::Init | TickTag::Eval) {
        // Their payload is the interpreter's (crate `wasm-interp`): never written here.
        return Err(TickError::NeedsInterpreter(s.tag.name()));
    }
    t.remove(&["wasm"])?;
    match s.input {
        Some(i) => {
            let mut b = i.level.to_be_bytes().to_vec();
            b.extend(n_bytes(i.counter));
            t.add(&["wasm", "input"], b)?;
        }
        None => t.remove(&["wasm", "input"])?,
    }
    t.add(&["wasm", "current_tick"], n_bytes(s.current_tick))?;
    t.add(&["wasm", "reboot_counter"], n_bytes(s.reboot_counter))?;
    if let Some(b) = &s.buffers {
        t.add(&["tag"], string_bytes(b"Some"))?;
        let contents = at(&IN, &["contents"]);
        if reset {
            t.remove(&contents)?;
            t.add(&at(&IN, &["length"]), z_bytes(0))?;
            t.add(&at(&IN, &["head"]), z_bytes(0))?;
        } else {
            t.copy_from_before(&contents, &contents)?;
            let mut msgs: Vec<&(u128, Message)> = s.messages.iter().collect();
            msgs.sort_by_key(|(i, _)| *i);
            for (index, m) in msgs {
                let k = index.to_string();
                let base = at(&contents, &[k.as_str()]);
                t.remove(&base)?;
                t.add(&at(&base, &["raw-level"]), m.level.to_be_bytes().to_vec())?;
                let c = i128::try_from(m.counter).map_err(|_| malformed(&base, "counter"))?;
                t.add(&at(&base, &["message-counter"]), z_bytes(c))?;
                // A chunked byte vector made from bytes: no origin, every chunk loaded.
                t.remove(&at(&base, &["contents"]))?;
                for (i, chunk) in m.payload.chunks(CHUNK).enumerate() {
                    let mut c = chunk.to_vec();
                    c.resize(CHUNK, 0);
                    let idx = i.to_string();
                    t.add(&at(&base, &["contents", idx.as_str()]), c)?;
                }
                t.add(
                    &at(&base, &["length"]),
                    (m.payload.len() as u64).to_be_bytes().to_vec(),
                )?;
            }
            t.add(&at(&IN, &["length"]), b.input_length.clone())?;
            t.add(&at(&IN, &["head"]), b.input_head.clone())?;
        }
        let outboxes = at(&OUT, &["1", "outboxes"]);
        t.copy_from_before(&outboxes, &outboxes)?;
        let mut ops = s.outboxes.clone();
        ops.sort_by_key(|(l, _)| *l);
        for (level, set) in ops {
            let k = level.to_string();
            let base = at(&outboxes, &[k.as_str()]);
            t.remove(&base)?;
            if set {
                t.remove(&at(&base, &["contents"]))?;
                t.add(&at(&base, &["length"]), z_bytes(0))?;
                t.add(&at(&base, &["head"]), z_bytes(0))?;
            }
        }
        let p = at(&OUT, &["2", "last_level"]);
        match b.last_level {
            Some(l) => t.add(&p, l.to_be_bytes().to_vec())?,
            None => t.remove(&p)?,
        }
        t.add(
            &at(&OUT, &["3", "validity_period"]),
            b.validity_period.clone(),
        )?;
        t.add(&at(&OUT, &["4", "message_limit"]), b.message_limit.clone())?;
    }
    t.add(&["wasm", "tag"], string_bytes(s.tag.name().as_bytes()))?;
    if let Some(v) = &s.stuck {
        t.add(&["wasm", "value"], v.clone())?;
    }
    if s.tag == TickTag::Decode {
        // Only made here from `Snapshot`: the initial decoding state.
        encode_initial_decode(t)?;
    }
    t.add(
        &["pvm", "last_top_level_call"],
        n_bytes(s.last_top_level_call),
    )?;
    t.add(&["pvm", "max_nb_ticks"], n_bytes(s.max_nb_ticks))?;
    t.add(
        &["pvm", "maximum_reboots_per_input"],
        n_bytes(s.maximum_reboots_per_input),
    )?;
    t.add(
        &["pvm", "outbox_validity_period"],
        s.outbox_validity_period.clone(),
    )?;
    t.add(
        &["pvm", "outbox_message_limit"],
        s.outbox_message_limit.clone(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use durable_tree::Tree;

    use super::*;

    #[test]
    fn encodings_round_trip() {
        for v in [0u128, 1, 127, 128, 11_000_000_000, u128::from(u64::MAX)] {
            assert_eq!(n_of(&["x"], &n_bytes(v)).unwrap(), v);
        }
        for v in [0i128, 1, -1, 63, 64, -64, 1 << 40] {
            assert_eq!(z_of(&["x"], &z_bytes(v)).unwrap(), v);
        }
        assert_eq!(
            string_of(&["x"], &string_bytes(b"padding")).unwrap(),
            b"padding"
        );
        assert!(string_of(&["x"], b"\0\0\0\x09padding").is_err());
        for tag in [
            TickTag::Snapshot,
            TickTag::Stuck,
            TickTag::Collect,
            TickTag::Padding,
        ] {
            assert_eq!(TickTag::parse(tag.name().as_bytes()), Some(tag));
        }
    }

    #[test]
    fn missing_or_malformed_values_are_reported_with_their_path() {
        let mut t = Tree::empty();
        t.set_contents(&["wasm", "tag"], string_bytes(b"padding"))
            .unwrap();
        let st = StepTree::of_tree(&t).unwrap();
        match decode(&st, Payload::Refuse) {
            Err(TickError::Malformed { path, .. }) => assert_eq!(path, "pvm/max_nb_ticks"),
            other => panic!("{other:?}"),
        }
        t.set_contents(&["wasm", "current_tick"], vec![0x80])
            .unwrap();
        let st = StepTree::of_tree(&t).unwrap();
        match decode(&st, Payload::Refuse) {
            Err(TickError::Malformed { path, .. }) => assert_eq!(path, "wasm/current_tick"),
            other => panic!("{other:?}"),
        }
        t.set_contents(&["wasm", "tag"], string_bytes(b"eval"))
            .unwrap();
        t.set_contents(&["wasm", "current_tick"], vec![0]).unwrap();
        let st = StepTree::of_tree(&t).unwrap();
        assert!(matches!(
            decode(&st, Payload::Refuse),
            Err(TickError::NeedsInterpreter("eval"))
        ));
        // The plain-tree driver reads the outer fields of an interpreter state.
        t.set_contents(&["pvm", "max_nb_ticks"], n_bytes(5000))
            .unwrap();
        t.set_contents(&["pvm", "outbox_validity_period"], vec![0, 0, 0, 10])
            .unwrap();
        t.set_contents(&["pvm", "outbox_message_limit"], vec![100])
            .unwrap();
        let st = StepTree::of_tree(&t).unwrap();
        let d = decode(&st, Payload::Skip).unwrap();
        assert_eq!(
            (d.tag, d.stuck, d.max_nb_ticks),
            (TickTag::Eval, None, 5000)
        );
    }
}
