//! The DAL injection queue: messages sent to `POST /local/dal/batcher/injection`, packed into
//! DAL slots at each L1 head, each slot posted to the DAL node and its commitment published on
//! L1 (docs/reference/octez-rollup-node.md §4.3, modes table of §2; Octez
//! `src/lib_smart_rollup_node/dal_injection_queue.ml`).
//!
//! [`DalQueue`] is the state: pending messages (oldest first), the slot indices set with
//! `POST /local/dal/slot/indices` (cycled from one slot to the next), and the injector ids of
//! the recent publications (`GET /local/dal/injected/operations/statuses`). The node drives it
//! in two steps so that no lock is held while the DAL node answers: [`DalQueue::plan_slots`]
//! packs the slots without removing anything, then, once a slot is posted and its
//! `publish_dal_commitment` is in the injector, [`DalQueue::commit_slot`] removes its messages.
//!
//! Crash safety (Octez keeps pending messages in memory only; this node keeps them): every
//! change is appended to a journal (`<data-dir>/dal_injection_queue`) and synced before the
//! call returns, so a message accepted by the RPC survives a crash; a slot whose publication
//! was queued in the injector but not yet recorded here is posted again after a restart (at
//! least once, never lost). The journal is rewritten compactly (atomically) when opened and
//! when it grows beyond twice its live content.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use tezos_types::InjectorOperationId;

/// Most pending messages (Octez `etherlink_max_pending_messages_size`: 128 chunks per
/// blueprint × 2 blueprints per second × 600 s).
pub const MAX_PENDING_MESSAGES: usize = 128 * 2 * 600;

/// File of the journal in the data directory.
pub const JOURNAL_FILE: &str = "dal_injection_queue";

/// The DAL constants the queue needs (`dal_parametric` of the L1 constants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DalParams {
    /// Bytes in a slot (`cryptobox_parameters.slot_size`).
    pub slot_size: usize,
    /// Slots per level (`number_of_slots`).
    pub number_of_slots: usize,
    /// Attestation lag (`attestation_lag`).
    pub attestation_lag: usize,
}

impl DalParams {
    /// Publications remembered for the statuses RPC (Octez
    /// `max_remembered_recent_injections`: number of slots × attestation lag × 5).
    pub fn remembered_injections(&self) -> usize {
        self.number_of_slots
            .saturating_mul(self.attestation_lag)
            .saturating_mul(5)
            .max(1)
    }
}

/// Why the queue refused a request or could not keep its journal.
#[derive(Debug, thiserror::Error)]
pub enum DalError {
    /// No slot index set yet (Octez's text).
    #[error(
        "DAL message registration rejected because the rollup cannot publish on the DAL. \
         Please use the POST /local/dal/slot/indices RPC to set the slot indices on which the \
         rollup node should publish."
    )]
    NoSlotIndices,
    /// The node has not read the DAL constants from the L1 yet.
    #[error(
        "the DAL parameters are not known yet (the node reads them from the L1 at each head): \
         retry once the node has processed a block"
    )]
    ParamsUnknown,
    /// A message longer than a slot (Octez `Dal_message_too_big`'s text).
    #[error(
        "The DAL injection worker received a {message_size} bytes message length, but a DAL \
         slot size is {slot_size} bytes."
    )]
    TooBig {
        /// The slot size.
        slot_size: usize,
        /// The message's size.
        message_size: usize,
    },
    /// The queue holds [`MAX_PENDING_MESSAGES`] messages already.
    #[error(
        "the DAL injection queue is full ({capacity} pending messages): retry once the node \
         has published some slots"
    )]
    QueueFull {
        /// The capacity.
        capacity: usize,
    },
    /// A slot index not below `number_of_slots` (Octez's text).
    #[error("Slot index {index} out of range (the L1 has {number_of_slots} DAL slots)")]
    IndexOutOfRange {
        /// The index.
        index: u8,
        /// Slots per level.
        number_of_slots: usize,
    },
    /// The journal could not be read or written.
    #[error("DAL injection queue {}: {source}; check the data directory's disk and permissions", path.display())]
    Io {
        /// The journal.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The journal has a line this node does not understand.
    #[error(
        "DAL injection queue {} is damaged at line {line} ({reason}): move the file away to \
         start with an empty queue (its pending messages are then lost)",
        path.display()
    )]
    Corrupt {
        /// The journal.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// One slot to post: its index, its data (the concatenation of its messages, as Octez packs
/// them) and how many messages it takes from the front of the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedSlot {
    /// The slot index.
    pub slot_index: u8,
    /// Messages it carries (the first ones of the queue, after the previous planned slots).
    pub messages: usize,
    /// The slot's data.
    pub content: Vec<u8>,
}

/// A record of the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    /// `m <hex>`: a message queued.
    Message(Vec<u8>),
    /// `t <n>`: the first `n` messages were published.
    Take(usize),
    /// `s <i,j,…>`: the slot indices.
    Indices(Vec<u8>),
    /// `i <iop…>`: a publication queued in the injector.
    Injected(InjectorOperationId),
    /// `f <iop…>`: a publication forgotten.
    Forget(InjectorOperationId),
}

impl Record {
    fn line(&self) -> String {
        match self {
            Self::Message(m) => format!("m {}\n", hex::encode(m)),
            Self::Take(n) => format!("t {n}\n"),
            Self::Indices(v) => format!(
                "s {}\n",
                v.iter().map(u8::to_string).collect::<Vec<_>>().join(",")
            ),
            Self::Injected(id) => format!("i {}\n", id.to_b58check()),
            Self::Forget(id) => format!("f {}\n", id.to_b58check()),
        }
    }

    fn parse(line: &str) -> Result<Self, String> {
        let (tag, arg) = line.split_once(' ').unwrap_or((line, ""));
        let id = |s: &str| {
            InjectorOperationId::from_b58check(s).map_err(|e| format!("bad injector id: {e}"))
        };
        match tag {
            "m" => hex::decode(arg)
                .map(Self::Message)
                .map_err(|e| format!("bad message hex: {e}")),
            "t" => arg
                .parse()
                .map(Self::Take)
                .map_err(|e| format!("bad count: {e}")),
            "s" if arg.is_empty() => Ok(Self::Indices(vec![])),
            "s" => arg
                .split(',')
                .map(str::parse)
                .collect::<Result<Vec<u8>, _>>()
                .map(Self::Indices)
                .map_err(|e| format!("bad slot index: {e}")),
            "i" => id(arg).map(Self::Injected),
            "f" => id(arg).map(Self::Forget),
            _ => Err(format!("unknown record `{tag}`")),
        }
    }
}

/// The DAL injection queue.
#[derive(Debug)]
pub struct DalQueue {
    pending: VecDeque<Vec<u8>>,
    /// Slot indices, sorted, without duplicates.
    indices: Vec<u8>,
    /// Position in `indices` of the next slot's index (Octez cycles through them so that
    /// successive levels use different indices).
    next_index: usize,
    injections: VecDeque<InjectorOperationId>,
    params: Option<DalParams>,
    journal: Option<Journal>,
}

#[derive(Debug)]
struct Journal {
    path: PathBuf,
    file: File,
    /// Records in the file.
    records: usize,
}

impl DalQueue {
    /// An empty queue without journal (nothing survives the process).
    pub fn in_memory() -> Self {
        Self {
            pending: VecDeque::new(),
            indices: vec![],
            next_index: 0,
            injections: VecDeque::new(),
            params: None,
            journal: None,
        }
    }

    /// The queue kept in `data_dir`/[`JOURNAL_FILE`]: replays the journal (a last line cut by
    /// a crash is dropped), then rewrites it compactly.
    ///
    /// # Errors
    /// An unreadable or damaged journal ([`DalError::Io`], [`DalError::Corrupt`]).
    pub fn open(data_dir: &Path) -> Result<Self, DalError> {
        let path = data_dir.join(JOURNAL_FILE);
        let mut q = Self::in_memory();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                // Only newline-terminated lines were completely written.
                let complete = text.rfind('\n').map_or("", |i| &text[..i]);
                for (n, line) in complete.lines().enumerate() {
                    if line.is_empty() {
                        continue;
                    }
                    let r = Record::parse(line).map_err(|reason| DalError::Corrupt {
                        path: path.clone(),
                        line: n.saturating_add(1),
                        reason,
                    })?;
                    q.apply(r);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(DalError::Io { path, source }),
        }
        q.journal = Some(Journal::compact(path, &q.snapshot())?);
        Ok(q)
    }

    fn snapshot(&self) -> Vec<Record> {
        let mut v = Vec::with_capacity(
            self.pending
                .len()
                .saturating_add(self.injections.len())
                .saturating_add(1),
        );
        if !self.indices.is_empty() {
            v.push(Record::Indices(self.indices.clone()));
        }
        v.extend(self.injections.iter().copied().map(Record::Injected));
        v.extend(self.pending.iter().cloned().map(Record::Message));
        v
    }

    /// Applies a record to the state (no journal).
    fn apply(&mut self, r: Record) {
        match r {
            Record::Message(m) => self.pending.push_back(m),
            Record::Take(n) => {
                let n = n.min(self.pending.len());
                self.pending.drain(..n);
            }
            Record::Indices(v) => {
                self.indices = v;
                self.next_index = 0;
            }
            Record::Injected(id) => {
                self.injections.retain(|x| *x != id);
                self.injections.push_back(id);
                let keep = self
                    .params
                    .map_or(usize::MAX, |p| p.remembered_injections());
                while self.injections.len() > keep {
                    self.injections.pop_front();
                }
            }
            Record::Forget(id) => self.injections.retain(|x| *x != id),
        }
    }

    /// Appends `records` to the journal (synced), then applies them.
    fn log(&mut self, records: Vec<Record>) -> Result<(), DalError> {
        if let Some(j) = &mut self.journal {
            let text: String = records.iter().map(Record::line).collect();
            j.append(text.as_bytes(), records.len())?;
        }
        for r in records {
            self.apply(r);
        }
        let live = self
            .pending
            .len()
            .saturating_add(self.injections.len())
            .saturating_add(1);
        if let Some(j) = &self.journal
            && j.records > live.saturating_mul(2).saturating_add(1024)
        {
            let path = j.path.clone();
            self.journal = Some(Journal::compact(path, &self.snapshot())?);
        }
        Ok(())
    }

    /// Sets the DAL constants (read by the node from the L1).
    pub fn set_params(&mut self, params: DalParams) {
        self.params = Some(params);
        let keep = params.remembered_injections();
        while self.injections.len() > keep {
            self.injections.pop_front();
        }
    }

    /// The DAL constants, once known.
    pub fn params(&self) -> Option<DalParams> {
        self.params
    }

    /// Messages waiting for a slot.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// The slot indices, sorted.
    pub fn slot_indices(&self) -> &[u8] {
        &self.indices
    }

    /// The publications remembered, oldest first.
    pub fn injections(&self) -> impl Iterator<Item = &InjectorOperationId> {
        self.injections.iter()
    }

    /// `POST /local/dal/batcher/injection` (Octez `on_register`): refused without slot
    /// indices, or if a message is longer than a slot; all messages are checked before any
    /// is queued.
    ///
    /// # Errors
    /// [`DalError::NoSlotIndices`], [`DalError::ParamsUnknown`], [`DalError::TooBig`],
    /// [`DalError::QueueFull`], or the journal's failure.
    pub fn register(&mut self, messages: Vec<Vec<u8>>) -> Result<(), DalError> {
        // Octez registers message by message: an empty request asks nothing.
        if messages.is_empty() {
            return Ok(());
        }
        if self.indices.is_empty() {
            return Err(DalError::NoSlotIndices);
        }
        let params = self.params.ok_or(DalError::ParamsUnknown)?;
        if let Some(m) = messages.iter().find(|m| m.len() > params.slot_size) {
            return Err(DalError::TooBig {
                slot_size: params.slot_size,
                message_size: m.len(),
            });
        }
        if self.pending.len().saturating_add(messages.len()) > MAX_PENDING_MESSAGES {
            return Err(DalError::QueueFull {
                capacity: MAX_PENDING_MESSAGES,
            });
        }
        self.log(messages.into_iter().map(Record::Message).collect())
    }

    /// `POST /local/dal/slot/indices` (Octez `Slot_index_queue.replace`): duplicates removed,
    /// each index below `number_of_slots`; kept across restarts.
    ///
    /// # Errors
    /// [`DalError::ParamsUnknown`], [`DalError::IndexOutOfRange`], or the journal's failure.
    pub fn set_slot_indices(&mut self, indices: &[u8]) -> Result<(), DalError> {
        let params = self.params.ok_or(DalError::ParamsUnknown)?;
        let mut v = indices.to_vec();
        v.sort_unstable();
        v.dedup();
        if let Some(&index) = v
            .iter()
            .find(|i| usize::from(**i) >= params.number_of_slots)
        {
            return Err(DalError::IndexOutOfRange {
                index,
                number_of_slots: params.number_of_slots,
            });
        }
        self.log(vec![Record::Indices(v)])
    }

    /// The slots to post at this head (Octez `fill_slots`): at most one per slot index, each
    /// filled with the oldest messages whose concatenation fits a slot. Nothing is removed:
    /// call [`Self::commit_slot`] for each slot once its publication is queued. Empty when no
    /// message is pending, no slot index is set or the DAL constants are unknown.
    pub fn plan_slots(&mut self) -> Vec<PlannedSlot> {
        let Some(params) = self.params else {
            return vec![];
        };
        if self.indices.is_empty() {
            return vec![];
        }
        let mut slots = vec![];
        let mut next = self.pending.iter().peekable();
        while slots.len() < self.indices.len() {
            let mut content = Vec::new();
            let mut messages = 0usize;
            while let Some(m) = next.peek() {
                if content.len().saturating_add(m.len()) > params.slot_size {
                    break;
                }
                content.extend_from_slice(m);
                messages = messages.saturating_add(1);
                next.next();
            }
            if messages == 0 {
                break;
            }
            let i = self.next_index % self.indices.len();
            self.next_index = i.saturating_add(1) % self.indices.len();
            slots.push(PlannedSlot {
                slot_index: self.indices[i],
                messages,
                content,
            });
        }
        slots
    }

    /// Records that the first `messages` pending messages were posted in a slot whose
    /// publication the injector queued as `operation`.
    ///
    /// # Errors
    /// The journal's failure.
    pub fn commit_slot(
        &mut self,
        messages: usize,
        operation: InjectorOperationId,
    ) -> Result<(), DalError> {
        self.log(vec![Record::Take(messages), Record::Injected(operation)])
    }

    /// `POST /local/dal/injection/<id>/forget`.
    ///
    /// # Errors
    /// The journal's failure.
    pub fn forget(&mut self, operation: &InjectorOperationId) -> Result<(), DalError> {
        if !self.injections.contains(operation) {
            return Ok(());
        }
        self.log(vec![Record::Forget(*operation)])
    }
}

impl Journal {
    /// Writes `records` to a fresh file replacing `path` atomically, then opens it for
    /// appending.
    fn compact(path: PathBuf, records: &[Record]) -> Result<Self, DalError> {
        let text: String = records.iter().map(Record::line).collect();
        let io = |source| DalError::Io {
            path: path.clone(),
            source,
        };
        atomic_file::write(&path, text.as_bytes()).map_err(io)?;
        let file = OpenOptions::new().append(true).open(&path).map_err(io)?;
        Ok(Self {
            path,
            file,
            records: records.len(),
        })
    }

    fn append(&mut self, bytes: &[u8], records: usize) -> Result<(), DalError> {
        self.file
            .write_all(bytes)
            .and_then(|()| self.file.sync_data())
            .map_err(|source| DalError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.records = self.records.saturating_add(records);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(slot_size: usize) -> DalParams {
        DalParams {
            slot_size,
            number_of_slots: 4,
            attestation_lag: 2,
        }
    }

    fn op(n: u8) -> InjectorOperationId {
        InjectorOperationId::new([n; 32])
    }

    #[test]
    fn registration_needs_indices_and_small_messages() {
        let mut q = DalQueue::in_memory();
        q.set_params(params(8));
        assert!(matches!(
            q.register(vec![b"a".to_vec()]),
            Err(DalError::NoSlotIndices)
        ));
        assert!(matches!(
            q.set_slot_indices(&[4]),
            Err(DalError::IndexOutOfRange { index: 4, .. })
        ));
        q.set_slot_indices(&[2, 0, 2]).unwrap();
        assert_eq!(q.slot_indices(), &[0, 2]);
        let e = q
            .register(vec![b"ok".to_vec(), b"123456789".to_vec()])
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "The DAL injection worker received a 9 bytes message length, but a DAL slot size \
             is 8 bytes."
        );
        // Nothing of a refused request is queued.
        assert_eq!(q.pending(), 0);
        q.register(vec![b"12345678".to_vec()]).unwrap();
        assert_eq!(q.pending(), 1);
    }

    #[test]
    fn slots_pack_messages_in_order_and_cycle_indices() {
        let mut q = DalQueue::in_memory();
        q.set_params(params(8));
        q.set_slot_indices(&[1, 3]).unwrap();
        q.register(
            ["abc", "def", "gh", "ijklmn", "o", "pqrstuvw", "x"]
                .map(|s| s.into())
                .to_vec(),
        )
        .unwrap();
        let slots = q.plan_slots();
        assert_eq!(slots.len(), 2, "one slot per index at most");
        assert_eq!(slots[0].slot_index, 1);
        assert_eq!(slots[0].content, b"abcdefgh");
        assert_eq!(slots[0].messages, 3);
        assert_eq!(slots[1].slot_index, 3);
        assert_eq!(slots[1].content, b"ijklmno");
        // Planning removes nothing; committing does.
        assert_eq!(q.pending(), 7);
        q.commit_slot(3, op(1)).unwrap();
        q.commit_slot(2, op(2)).unwrap();
        assert_eq!(q.pending(), 2);
        let slots = q.plan_slots();
        assert_eq!(slots.len(), 2);
        // The indices go on cycling.
        assert_eq!(slots[0].slot_index, 1);
        assert_eq!(slots[0].content, b"pqrstuvw");
        assert_eq!(slots[1].content, b"x");
        assert_eq!(
            q.injections().copied().collect::<Vec<_>>(),
            vec![op(1), op(2)]
        );
        q.forget(&op(1)).unwrap();
        assert_eq!(q.injections().copied().collect::<Vec<_>>(), vec![op(2)]);
    }

    #[test]
    fn the_queue_survives_a_restart_and_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = DalQueue::open(dir.path()).unwrap();
            q.set_params(params(8));
            q.set_slot_indices(&[2]).unwrap();
            q.register(vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()])
                .unwrap();
            q.commit_slot(1, op(7)).unwrap();
        }
        // A crash in the middle of an append leaves a line without its newline.
        let path = dir.path().join(JOURNAL_FILE);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"m 6675").unwrap();
        drop(f);
        let mut q = DalQueue::open(dir.path()).unwrap();
        q.set_params(params(8));
        assert_eq!(q.slot_indices(), &[2]);
        assert_eq!(q.pending(), 2);
        assert_eq!(q.injections().copied().collect::<Vec<_>>(), vec![op(7)]);
        let slots = q.plan_slots();
        assert_eq!(slots[0].content, b"twothree");
        // The journal was compacted: no torn line left.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with('\n'), "{text:?}");
        assert!(!text.contains("6675"), "{text:?}");
    }

    #[test]
    fn a_damaged_journal_is_reported_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(JOURNAL_FILE), "m zz\n").unwrap();
        let e = DalQueue::open(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("line 1") && e.contains("move the file away"),
            "{e}"
        );
    }

    #[test]
    fn the_journal_is_compacted_when_it_grows() {
        let dir = tempfile::tempdir().unwrap();
        let mut q = DalQueue::open(dir.path()).unwrap();
        q.set_params(params(4));
        q.set_slot_indices(&[0]).unwrap();
        for i in 0..700u32 {
            q.register(vec![i.to_le_bytes().to_vec()]).unwrap();
            q.commit_slot(1, op(1)).unwrap();
        }
        let text = std::fs::read_to_string(dir.path().join(JOURNAL_FILE)).unwrap();
        assert!(text.lines().count() < 1100, "{}", text.lines().count());
        drop(q);
        let q = DalQueue::open(dir.path()).unwrap();
        assert_eq!(q.pending(), 0);
    }
}
