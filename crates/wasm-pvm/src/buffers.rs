//! Native input and output buffers of the PVM (`src/lib_webassembly/runtime/{input_buffer,
//! output_buffer}.ml`; `wasm-pvm.md` §3.4, §3.8, §4.2).
//!
//! They mirror Octez's lazy containers closely enough that the tree encoding (`state.rs`) is the
//! same: the input FIFO keeps its `head` key (popped entries are removed, a reset restarts at 0),
//! outboxes are keyed by level and slide with the validity window.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use durable_tree::{Tree, TreeError};

/// One inbox message as stored in the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputMessage {
    /// Inbox level (`raw_level`, non-negative `int32`).
    pub level: u32,
    /// Index of the message within its level (`message_counter`, a `Z`).
    pub counter: u64,
    /// Raw message bytes (≤ 4096 by protocol).
    pub payload: Vec<u8>,
}

/// Errors of the input FIFO (deterministic).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    /// `(level, counter)` is not strictly after the last enqueued message
    /// (`Cannot_store_an_earlier_message`).
    #[error("cannot store an earlier message")]
    EarlierMessage,
    /// Key arithmetic overflowed.
    #[error("input buffer overflow")]
    Overflow,
}

/// The input FIFO (`Input_buffer.t`, a `Lazy_vector.ZVector`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InputBuffer {
    /// Key of the oldest element (`head` in the tree).
    first: u64,
    /// Elements keyed by absolute key, `first .. first + len`.
    values: BTreeMap<u64, InputMessage>,
}

impl InputBuffer {
    /// Empty buffer (`Vector.create Z.zero`).
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuild from encoded parts (used by the tree decoder).
    pub(crate) fn from_parts(first: u64, values: BTreeMap<u64, InputMessage>) -> Self {
        Self { first, values }
    }

    /// Key of the oldest element (`head`).
    pub fn head(&self) -> u64 {
        self.first
    }

    /// Number of queued messages.
    pub fn len(&self) -> u64 {
        self.values.len() as u64
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Queued messages with their absolute keys, oldest first.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &InputMessage)> {
        self.values.iter().map(|(k, v)| (*k, v))
    }

    /// Append a message; it must be strictly after the last one in `(level, counter)` order.
    pub fn enqueue(&mut self, msg: InputMessage) -> Result<(), InputError> {
        if let Some((_, last)) = self.values.last_key_value()
            && (msg.level, msg.counter) <= (last.level, last.counter)
        {
            return Err(InputError::EarlierMessage);
        }
        let key = self
            .first
            .checked_add(self.len())
            .ok_or(InputError::Overflow)?;
        self.values.insert(key, msg);
        Ok(())
    }

    /// Remove and return the oldest message (`Vector.pop`: the head key advances).
    pub fn dequeue(&mut self) -> Option<InputMessage> {
        let next = self.first.checked_add(1)?;
        let msg = self.values.remove(&self.first)?;
        self.first = next;
        Some(msg)
    }

    /// Drop everything and restart at key 0 (`Vector.reset`, done on yield).
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// Errors of the output buffer visible to the kernel or the node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputError {
    /// The current outbox already holds `message_limit` messages (`FULL_OUTBOX` = -11).
    #[error("full outbox")]
    FullOutbox,
    /// No outbox level yet (no `Start_of_level` seen).
    #[error("outbox not initialised")]
    NotInitialised,
    /// The level is outside the validity window.
    #[error("outdated or invalid outbox level")]
    OutdatedLevel,
    /// Level arithmetic overflowed.
    #[error("outbox level overflow")]
    Overflow,
}

/// The outboxes (`Output_buffer.t`): one message list per level of the validity window.
///
/// The encoded `outboxes` subtree (one node per level, up to the validity period, 241 920 on
/// mainnet) is cached and updated incrementally: mutations mark levels dirty.
#[derive(Debug, Clone)]
pub struct OutputBuffer {
    /// Messages per outbox level (keys are `int32` levels, non-negative). Only non-empty
    /// outboxes are kept: a started level of the window without an entry is empty. The map
    /// is cloned with the PVM state (twice per level), so its size must not grow with the
    /// validity window (241 920 levels); each outbox is shared between clones until changed.
    pub(crate) outboxes: BTreeMap<u32, Arc<Vec<Vec<u8>>>>,
    /// Level of the current outbox (`None` before the first `Start_of_level`).
    pub(crate) last_level: Option<u32>,
    /// Number of levels kept (`validity_period`, `int32`).
    pub(crate) validity_period: u32,
    /// Maximum messages per outbox level (`message_limit`, a `Z`).
    pub(crate) message_limit: u64,
    /// Encoded `outboxes` subtree as of the last [`OutputBuffer::refresh_tree`], if any.
    cache: Option<Tree>,
    /// Levels changed since `cache` was computed.
    dirty: BTreeSet<u32>,
}

impl OutputBuffer {
    /// Fresh buffer with no outbox level (`Output_buffer.alloc ~last_level:None`).
    pub fn new(validity_period: u32, message_limit: u64) -> Self {
        Self {
            outboxes: BTreeMap::new(),
            last_level: None,
            validity_period,
            message_limit,
            cache: None,
            dirty: BTreeSet::new(),
        }
    }

    /// Install an already encoded `outboxes` subtree matching `outboxes` (decoder).
    pub(crate) fn set_cache(&mut self, t: Tree) {
        self.cache = Some(t);
        self.dirty.clear();
    }

    /// The encoded `outboxes` subtree (`Lazy_map` of `Lazy_vector.ZVector` of `bytes`):
    /// `<level>/{head, length, contents/<i>}`.
    pub(crate) fn outboxes_tree(&self) -> Result<Tree, TreeError> {
        let mut t;
        // Every level started or changed since `cache` was computed is dirty, so without a
        // cache (a new buffer) the started levels are the dirty ones plus the non-empty ones.
        let levels: Box<dyn Iterator<Item = &u32>> = match &self.cache {
            Some(c) => {
                t = c.clone();
                Box::new(self.dirty.iter())
            }
            None => {
                t = Tree::empty();
                Box::new(
                    self.dirty
                        .iter()
                        .chain(self.outboxes.keys().filter(|l| !self.dirty.contains(l))),
                )
            }
        };
        for level in levels {
            let name = level.to_string();
            if self.in_window(*level) {
                let msgs = self.outboxes.get(level).map_or(&[][..], |m| m.as_slice());
                t.set_tree(&[&name], encode_outbox(msgs)?)?;
            } else {
                t.remove(&[&name])?;
            }
        }
        Ok(t)
    }

    /// Whether `level` is inside the current validity window `[last − period + 1, last]`.
    fn in_window(&self, level: u32) -> bool {
        let Some(last) = self.last_level else {
            return false;
        };
        let first = first_level(last, self.validity_period);
        level <= last && i64::from(level) >= first
    }

    /// Fold pending changes into the cached encoding.
    pub fn refresh_tree(&mut self) -> Result<(), TreeError> {
        let t = self.outboxes_tree()?;
        self.set_cache(t);
        Ok(())
    }

    /// Current outbox level.
    pub fn last_level(&self) -> Option<u32> {
        self.last_level
    }

    /// Validity period in levels.
    pub fn validity_period(&self) -> u32 {
        self.validity_period
    }

    /// Per-level message limit.
    pub fn message_limit(&self) -> u64 {
        self.message_limit
    }

    /// The non-empty outboxes, by level (a started level of the window without an entry is
    /// empty; see [`OutputBuffer::outbox`]).
    pub fn outboxes(&self) -> &BTreeMap<u32, Arc<Vec<Vec<u8>>>> {
        &self.outboxes
    }

    /// Advance on `Start_of_level` at inbox level `level`: initialise the outbox at `level` the
    /// first time, otherwise move to `last_level + 1` and drop the level that leaves the window
    /// (`update_output_buffer` in `wasm_vm.ml`, `move_outbox_forward`).
    pub fn start_level(&mut self, level: u32) -> Result<(), OutputError> {
        match self.last_level {
            None => {
                self.last_level = Some(level);
                self.dirty.insert(level);
            }
            Some(last) => {
                let next = last.checked_add(1).ok_or(OutputError::Overflow)?;
                // first_level = last - validity_period + 1, computed in i64 (int32 in Octez).
                let first = first_level(last, self.validity_period);
                self.last_level = Some(next);
                // A new level starts empty (no entry).
                self.outboxes.remove(&next);
                self.dirty.insert(next);
                if let Ok(first) = u32::try_from(first) {
                    self.outboxes.remove(&first);
                    self.dirty.insert(first);
                }
            }
        }
        Ok(())
    }

    /// Append a message to the current outbox (`push_message`).
    pub fn push(&mut self, msg: Vec<u8>) -> Result<(u32, u64), OutputError> {
        let level = self.last_level.ok_or(OutputError::NotInitialised)?;
        let limit = self.message_limit;
        let outbox = Arc::make_mut(self.outboxes.entry(level).or_default());
        if outbox.len() as u64 >= limit {
            return Err(OutputError::FullOutbox);
        }
        let index = outbox.len() as u64;
        outbox.push(msg);
        self.dirty.insert(level);
        Ok((level, index))
    }

    /// Messages of outbox `level`, if that level is inside the validity window.
    pub fn outbox(&self, level: u32) -> Result<&[Vec<u8>], OutputError> {
        let last = self.last_level.ok_or(OutputError::OutdatedLevel)?;
        let first = first_level(last, self.validity_period);
        if level > last || i64::from(level) < first {
            return Err(OutputError::OutdatedLevel);
        }
        Ok(self.outboxes.get(&level).map_or(&[][..], |m| m.as_slice()))
    }
}

/// Tree of one outbox (`Lazy_vector.ZVector` of Data_encoding `bytes`).
fn encode_outbox(msgs: &[Vec<u8>]) -> Result<Tree, TreeError> {
    let mut t = Tree::empty();
    for (i, m) in msgs.iter().enumerate() {
        t.set_contents(&["contents", &i.to_string()], crate::enc::string(m))?;
    }
    t.set_contents(&["length"], crate::enc::z(msgs.len() as u128))?;
    t.set_contents(&["head"], crate::enc::z(0))?;
    Ok(t)
}

/// First level of the validity window ending at `last`: `last - validity_period + 1`, in
/// `i64` (Octez computes it in `int32`, where it may be negative).
#[expect(
    clippy::arithmetic_side_effects,
    reason = "two u32 operands in i64: the result lies in (-2^32, 2^32]"
)]
fn first_level(last: u32, validity_period: u32) -> i64 {
    i64::from(last) - i64::from(validity_period) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(level: u32, counter: u64) -> InputMessage {
        InputMessage {
            level,
            counter,
            payload: vec![level as u8, counter as u8],
        }
    }

    #[test]
    fn input_fifo_order_and_keys() {
        let mut b = InputBuffer::new();
        b.enqueue(msg(0, 0)).unwrap();
        b.enqueue(msg(0, 1)).unwrap();
        assert_eq!(b.enqueue(msg(0, 1)), Err(InputError::EarlierMessage));
        b.enqueue(msg(1, 0)).unwrap();
        assert_eq!(b.dequeue(), Some(msg(0, 0)));
        assert_eq!(b.head(), 1);
        assert_eq!(b.len(), 2);
        b.enqueue(msg(1, 1)).unwrap();
        assert_eq!(b.entries().map(|(k, _)| k).collect::<Vec<_>>(), [1, 2, 3]);
        b.reset();
        assert_eq!((b.head(), b.len()), (0, 0));
        assert_eq!(b.dequeue(), None);
    }

    #[test]
    fn outbox_window_and_limit() {
        let mut o = OutputBuffer::new(2, 2);
        assert_eq!(o.push(vec![1]), Err(OutputError::NotInitialised));
        o.start_level(5).unwrap();
        assert_eq!(o.push(vec![1]), Ok((5, 0)));
        assert_eq!(o.push(vec![2]), Ok((5, 1)));
        assert_eq!(o.push(vec![3]), Err(OutputError::FullOutbox));
        o.start_level(9).unwrap(); // level of SOL is ignored once initialised
        assert_eq!(o.last_level(), Some(6));
        assert_eq!(o.outbox(5).unwrap().len(), 2);
        o.start_level(0).unwrap();
        assert_eq!(o.last_level(), Some(7));
        assert_eq!(o.outbox(5), Err(OutputError::OutdatedLevel));
        assert!(!o.outboxes().contains_key(&5));
        assert_eq!(o.outbox(6).unwrap().len(), 0);
    }

    #[test]
    fn empty_outboxes_are_encoded_but_not_kept() {
        let mut o = OutputBuffer::new(3, 10);
        o.start_level(2).unwrap();
        let fresh = o.outboxes_tree().unwrap();
        o.refresh_tree().unwrap();
        o.start_level(0).unwrap();
        o.push(vec![7]).unwrap();
        o.start_level(0).unwrap();
        o.refresh_tree().unwrap();
        let names = |o: &OutputBuffer| {
            let t = o.outboxes_tree().unwrap();
            ["1", "2", "3", "4", "5"]
                .into_iter()
                .filter(|n| t.get(&[n]).unwrap().is_some())
                .collect::<Vec<_>>()
        };
        assert!(fresh.get(&["2"]).unwrap().is_some());
        assert_eq!(names(&o), ["2", "3", "4"]);
        assert_eq!(o.outboxes().keys().copied().collect::<Vec<_>>(), [3]);
        o.start_level(0).unwrap();
        assert_eq!(names(&o), ["3", "4", "5"]);
        assert_eq!(
            o.outboxes_tree()
                .unwrap()
                .get(&["4"])
                .unwrap()
                .unwrap()
                .hash()
                .unwrap(),
            encode_outbox(&[]).unwrap().hash().unwrap()
        );
        assert_eq!(o.outbox(4).unwrap().len(), 0);
        assert_eq!(o.outbox(3).unwrap(), [vec![7]]);
    }

    #[test]
    fn incremental_outbox_tree_equals_full_encoding() {
        let mut o = OutputBuffer::new(3, 10);
        o.start_level(2).unwrap();
        o.push(vec![1, 2]).unwrap();
        o.refresh_tree().unwrap();
        for l in 0..6 {
            o.start_level(0).unwrap();
            o.push(vec![l]).unwrap();
            if l % 2 == 0 {
                o.refresh_tree().unwrap();
            }
        }
        let incremental = o.outboxes_tree().unwrap().hash().unwrap();
        let mut fresh = o.clone();
        fresh.cache = None;
        assert_eq!(fresh.outboxes_tree().unwrap().hash().unwrap(), incremental);
        assert_eq!(o.outboxes().len(), 3);
    }
}
