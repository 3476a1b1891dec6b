//! The rollup node's batcher: a bounded queue of L2 messages sent to
//! `POST /local/batcher/injection`, cut into `smart_rollup_add_messages` batches handed to the
//! injector (docs/reference/octez-rollup-node.md §9 "Batcher" and §4.3; Octez
//! `src/lib_smart_rollup_node/batcher.ml`, `src/lib_smart_rollup/l2_message.ml`,
//! `src/lib_stdlib/bounded_min_heap.ml`).
//!
//! Pure: no I/O, no clock. [`Queue`] is the state machine; [`Batcher`] drives it and hands
//! each batch to a [`BatchSink`] (the injector, implemented by the node).
//!
//! * [`message_id`]: `scmsg…` ids as Octez computes them.
//! * [`protocol_max_batch_size`]: 32 KiB minus the size of an empty `add_messages` operation,
//!   computed from the `tezos_types` encoding.
//! * [`status`]: the message status of `GET /local/batcher/queue/<id>`, combined with the
//!   injector's status of the batch's operation.
//! * [`dal`]: the DAL injection queue (`POST /local/dal/batcher/injection`), kept in a journal
//!   in the data directory.

pub mod dal;
pub mod status;

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Value, json};
use tezos_types::{
    BinEncode, BlockHash, InjectorOperationId, L2MessageId, ManagerOperation, Mutez,
    OperationContent, PublicKeyHash, Signature, SignedOperation, Writer,
};

/// Largest L2 message, in bytes (`sc_rollup_message_size_limit`).
pub const MESSAGE_SIZE_LIMIT: usize = 4096;

/// Largest operation, in bytes (`max_operation_data_length`).
pub const MAX_OPERATION_DATA_LENGTH: usize = 32 * 1024;

/// Messages the queue holds, and batched messages remembered (`batcher.ml`
/// `init_batcher_state`: `Message_heap.create 100_000`).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Size a message takes in a batch: its 4-byte length then its bytes (`batcher.ml`
/// `message_size`).
pub fn message_size(content: &[u8]) -> usize {
    content.len().saturating_add(4)
}

/// The id of an L2 message: Blake2b-256 of the binary `obj2 (opt "counter" z) (req "content"
/// string)` of `(counter, content)`, `scmsg…` (`l2_message.ml` `id`). The counter is included
/// unless the message was sent with `drop_duplicate=true`, so that identical messages get the
/// same id only then.
pub fn message_id(counter: Option<u64>, content: &[u8]) -> L2MessageId {
    let mut w = Writer::new();
    w.opt_field(counter.as_ref(), |w, c| w.z_u64(*c));
    w.dyn_bytes(content);
    L2MessageId::hash_bytes(&w.into_bytes())
}

/// Octez's `max_int` on 64-bit machines (2^62 − 1), used for the maximal fields of the empty
/// operation below.
const OCAML_MAX_INT: u64 = (1 << 62) - 1;

/// The protocol's largest batch: [`MAX_OPERATION_DATA_LENGTH`] minus the size of a signed
/// `smart_rollup_add_messages` carrying one empty message with the largest fee, counter and
/// limits (`batcher_constants.ml` `protocol_max_batch_size`). Messages then count
/// [`message_size`] each; the empty message's 4 bytes are part of the overhead, as in Octez.
pub fn protocol_max_batch_size() -> usize {
    let op = SignedOperation {
        branch: BlockHash::ZERO,
        contents: vec![ManagerOperation {
            content: OperationContent::SmartRollupAddMessages {
                message: vec![vec![]],
            },
            source: PublicKeyHash::Ed25519([0; 20]),
            fee: Mutez(i64::MAX.unsigned_abs()),
            counter: OCAML_MAX_INT,
            gas_limit: (OCAML_MAX_INT - 1) / 1000,
            storage_limit: OCAML_MAX_INT,
        }],
        signature: Signature::Generic([0; 64]),
    };
    MAX_OPERATION_DATA_LENGTH.saturating_sub(op.to_bin().len())
}

/// Limits of the batcher, from the configuration (`batcher` of `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A full batch is produced as soon as this many messages are queued.
    pub min_batch_elements: usize,
    /// Most messages in one batch.
    pub max_batch_elements: usize,
    /// Most bytes in one batch, each message counted as [`message_size`].
    pub max_batch_size: usize,
    /// Most messages queued.
    pub capacity: usize,
}

/// A configuration the batcher refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `batcher.max_batch_size` above the protocol's maximum (Octez's text).
    #[error(
        "batcher.max_batch_size must be smaller than {max} (config.json has {got}): lower it \
         or remove it to use the protocol maximum"
    )]
    MaxBatchSize {
        /// The protocol maximum.
        max: usize,
        /// The configured value.
        got: i64,
    },
    /// A negative or zero count or size.
    #[error("batcher.{field} must be positive (config.json has {got})")]
    NotPositive {
        /// The option.
        field: &'static str,
        /// Its value.
        got: i64,
    },
}

impl Limits {
    /// The limits of `config` (`batcher.ml` `check_batcher_config`, `max_batch_size`): the
    /// batch size is the configured one or [`protocol_max_batch_size`].
    pub fn from_config(config: &node_config::BatcherConfig) -> Result<Self, ConfigError> {
        let positive = |field, v: i64| {
            usize::try_from(v)
                .ok()
                .filter(|v| *v > 0)
                .ok_or(ConfigError::NotPositive { field, got: v })
        };
        let max = protocol_max_batch_size();
        let max_batch_size = match config.max_batch_size {
            None => max,
            Some(m) => {
                let m2 = positive("max_batch_size", m)?;
                if m2 > max {
                    return Err(ConfigError::MaxBatchSize { max, got: m });
                }
                m2
            }
        };
        Ok(Self {
            min_batch_elements: positive("min_batch_elements", config.min_batch_elements)?,
            max_batch_elements: positive("max_batch_elements", config.max_batch_elements)?,
            max_batch_size,
            capacity: DEFAULT_CAPACITY,
        })
    }

    /// Largest accepted message, counted as [`message_size`]: the protocol's message limit (+4)
    /// or the batch size if smaller (`batcher.ml` `make_l2_messages`).
    pub fn max_message_size(&self) -> usize {
        (MESSAGE_SIZE_LIMIT + 4).min(self.max_batch_size)
    }
}

/// A queued L2 message (`L2_message.t`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Message {
    /// Priority given by the sender (`order=`): lower first, before messages without one.
    pub order: Option<i64>,
    /// Insertion counter.
    pub counter: u64,
    /// Its id.
    pub id: L2MessageId,
    /// The message.
    pub content: Vec<u8>,
}

impl L2Message {
    /// `{"order"?, "id", "message": {"content", "counter"}}` (`l2_message.ml` `encoding`).
    pub fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        if let Some(order) = self.order {
            o.insert("order".into(), json!(order.to_string()));
        }
        o.insert("id".into(), json!(self.id.to_b58check()));
        o.insert(
            "message".into(),
            json!({"content": hex::encode(&self.content), "counter": self.counter.to_string()}),
        );
        Value::Object(o)
    }

    fn key(&self) -> Key {
        Key {
            no_order: self.order.is_none(),
            order: self.order.unwrap_or(0),
            counter: self.counter,
        }
    }
}

/// Queue order (`l2_message.ml` `compare`): messages with an order first, by order then
/// counter; then the others by counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    no_order: bool,
    order: i64,
    counter: u64,
}

/// A refused injection request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// A message above [`Limits::max_message_size`] (Octez's text; `i` counts from 0).
    #[error("Message {index} is too large (max size is {max})")]
    TooLarge {
        /// Position of the message in the request.
        index: usize,
        /// The limit.
        max: usize,
    },
    /// The queue is full (`batcher.heap_insertion_failed`).
    #[error("Heap insertion failed with no space left in heap.")]
    QueueFull,
    /// The insertion counter overflowed.
    #[error("the batcher's message counter overflowed")]
    CounterOverflow,
}

/// One batch: messages for one `smart_rollup_add_messages`, in queue order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// The order of its first message (the batch's smallest), given to the injector.
    pub order: Option<i64>,
    /// The messages.
    pub messages: Vec<L2Message>,
}

impl Batch {
    /// The message contents, as the operation carries them.
    pub fn contents(&self) -> Vec<Vec<u8>> {
        self.messages.iter().map(|m| m.content.clone()).collect()
    }
}

/// What the batcher knows of a message (`batcher.ml` `message_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Known<'a> {
    /// Not queued and not batched (or forgotten).
    Unknown,
    /// Queued.
    PendingBatch {
        /// The message.
        content: &'a [u8],
    },
    /// Handed to the injector as operation `operation`.
    Batched {
        /// The message.
        content: &'a [u8],
        /// The injector operation carrying it.
        operation: InjectorOperationId,
    },
}

/// The queue and the batched messages (Octez's `Message_heap` and `Batched_messages`).
#[derive(Debug, Clone)]
pub struct Queue {
    limits: Limits,
    next_counter: u64,
    queue: BTreeMap<Key, L2Message>,
    by_id: HashMap<L2MessageId, Key>,
    batched: HashMap<L2MessageId, (Vec<u8>, InjectorOperationId)>,
    /// Batched ids, oldest first: the oldest are forgotten beyond the capacity.
    batched_order: VecDeque<L2MessageId>,
}

impl Queue {
    /// An empty queue.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            next_counter: 0,
            queue: BTreeMap::new(),
            by_id: HashMap::new(),
            batched: HashMap::new(),
            batched_order: VecDeque::new(),
        }
    }

    /// The limits.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Messages queued.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no message is queued.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queued messages in queue order (`GET /local/batcher/queue`).
    pub fn elements(&self) -> impl Iterator<Item = &L2Message> {
        self.queue.values()
    }

    /// `GET /local/batcher/queue` JSON.
    pub fn queue_json(&self) -> Value {
        Value::Array(self.elements().map(L2Message::to_json).collect())
    }

    /// Adds `messages` (`batcher.ml` `on_register` before batching): all are checked first
    /// (none is added if one is too large, but the counters of those before it are used, as
    /// in Octez); with `drop_duplicate`, ids omit the counter and a
    /// message already batched in an operation the injector still knows (`injector_knows`) is
    /// skipped. Returns the ids, one per message.
    pub fn register(
        &mut self,
        order: Option<i64>,
        drop_duplicate: bool,
        messages: Vec<Vec<u8>>,
        injector_knows: impl Fn(&InjectorOperationId) -> bool,
    ) -> Result<Vec<L2MessageId>, RegisterError> {
        let max = self.limits.max_message_size();
        if let Some(index) = messages.iter().position(|m| message_size(m) > max) {
            // Octez made (and counted) the messages before the refused one.
            let skipped = u64::try_from(index).map_err(|_| RegisterError::CounterOverflow)?;
            self.next_counter = self
                .next_counter
                .checked_add(skipped)
                .ok_or(RegisterError::CounterOverflow)?;
            return Err(RegisterError::TooLarge { index, max });
        }
        let mut ids = Vec::with_capacity(messages.len());
        for content in messages {
            let counter = self.next_counter;
            self.next_counter = counter
                .checked_add(1)
                .ok_or(RegisterError::CounterOverflow)?;
            let id = message_id((!drop_duplicate).then_some(counter), &content);
            ids.push(id);
            let already = drop_duplicate
                && self
                    .batched
                    .get(&id)
                    .is_some_and(|(_, op)| injector_knows(op));
            if !already {
                self.insert(L2Message {
                    order,
                    counter,
                    id,
                    content,
                })?;
            }
        }
        Ok(ids)
    }

    /// `Bounded_min_heap.insert`: a message with the id of a queued one replaces it only if
    /// it comes first; a new id needs room.
    fn insert(&mut self, m: L2Message) -> Result<(), RegisterError> {
        let key = m.key();
        if let Some(old) = self.by_id.get(&m.id).copied() {
            if key < old {
                self.queue.remove(&old);
                self.by_id.insert(m.id, key);
                self.queue.insert(key, m);
            }
            return Ok(());
        }
        if self.queue.len() >= self.limits.capacity {
            return Err(RegisterError::QueueFull);
        }
        self.by_id.insert(m.id, key);
        self.queue.insert(key, m);
        Ok(())
    }

    /// Takes the next batches out of the queue (`batcher.ml` `get_batches`): with `only_full`,
    /// batches are cut only while at least `min_batch_elements` messages are queued; else
    /// everything queued is cut. A batch ends before the message that would exceed
    /// `max_batch_size` or `max_batch_elements`.
    pub fn take_batches(&mut self, only_full: bool) -> Vec<Batch> {
        let mut batches = vec![];
        loop {
            if self.queue.is_empty()
                || (only_full && self.queue.len() < self.limits.min_batch_elements)
            {
                break;
            }
            let mut batch = Batch {
                order: None,
                messages: vec![],
            };
            let mut size = 0usize;
            while let Some(entry) = self.queue.first_entry() {
                let new_size = size.saturating_add(message_size(&entry.get().content));
                if new_size > self.limits.max_batch_size
                    || batch.messages.len() >= self.limits.max_batch_elements
                {
                    break;
                }
                let m = entry.remove();
                self.by_id.remove(&m.id);
                if batch.messages.is_empty() {
                    batch.order = m.order;
                }
                size = new_size;
                batch.messages.push(m);
            }
            if batch.messages.is_empty() {
                // Cannot happen with checked messages; never loop forever.
                break;
            }
            batches.push(batch);
        }
        batches
    }

    /// Records that `batch` was handed to the injector as `operation` (`Batched_messages`,
    /// bounded: the oldest are forgotten beyond the capacity).
    pub fn record_batched(&mut self, batch: &Batch, operation: InjectorOperationId) {
        for m in &batch.messages {
            if self
                .batched
                .insert(m.id, (m.content.clone(), operation))
                .is_none()
            {
                self.batched_order.push_back(m.id);
            }
        }
        while self.batched_order.len() > self.limits.capacity {
            if let Some(old) = self.batched_order.pop_front() {
                self.batched.remove(&old);
            }
        }
    }

    /// Puts back a batch the injector refused (its messages keep their place).
    pub fn requeue(&mut self, batch: Batch) {
        for m in batch.messages {
            let key = m.key();
            if let std::collections::hash_map::Entry::Vacant(e) = self.by_id.entry(m.id) {
                e.insert(key);
                self.queue.insert(key, m);
            }
        }
    }

    /// What the batcher knows of message `id`.
    pub fn known(&self, id: &L2MessageId) -> Known<'_> {
        if let Some(m) = self.by_id.get(id).and_then(|k| self.queue.get(k)) {
            return Known::PendingBatch {
                content: &m.content,
            };
        }
        match self.batched.get(id) {
            Some((content, operation)) => Known::Batched {
                content,
                operation: *operation,
            },
            None => Known::Unknown,
        }
    }

    /// `DELETE /admin/batcher/queue` (`batcher.ml` `clear_queues`, `remove_messages`): without
    /// `order_below`, empties the queue and forgets batched messages; with it, removes the
    /// queued messages whose order is ≤ `order_below`, and those without order when
    /// `drop_no_order`.
    pub fn clear(&mut self, order_below: Option<i64>, drop_no_order: bool) {
        match order_below {
            None => {
                self.queue.clear();
                self.by_id.clear();
                self.batched.clear();
                self.batched_order.clear();
            }
            Some(below) => {
                let by_id = &mut self.by_id;
                self.queue.retain(|_, m| {
                    let drop = m.order.map_or(drop_no_order, |o| o <= below);
                    if drop {
                        by_id.remove(&m.id);
                    }
                    !drop
                });
            }
        }
    }
}

/// Why the sink did not take a batch.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub Box<dyn std::error::Error + Send + Sync>);

/// Where batches go: the injector, as one `smart_rollup_add_messages` each.
pub trait BatchSink: Send {
    /// Queues an `add_messages` operation with `messages` and the injector `order`; returns the
    /// injector's id of that operation.
    fn add_messages(
        &mut self,
        messages: Vec<Vec<u8>>,
        order: Option<i64>,
    ) -> Result<InjectorOperationId, SinkError>;

    /// Whether the injector still knows operation `id` (pending, injected or included within
    /// its retention period): `drop_duplicate` skips messages batched in such an operation.
    fn knows(&self, id: &InjectorOperationId) -> bool;
}

/// A batch the sink refused; its messages and the later batches are back in the queue.
#[derive(Debug, thiserror::Error)]
#[error("the injector refused a batch of {messages} L2 messages: {source}")]
pub struct BatchError {
    /// Messages in the refused batch.
    pub messages: usize,
    /// The sink's error.
    #[source]
    pub source: SinkError,
}

/// The batcher: the [`Queue`] and the [`BatchSink`] it feeds.
pub struct Batcher {
    queue: Queue,
    sink: Box<dyn BatchSink>,
}

impl std::fmt::Debug for Batcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

/// Why `register` failed.
#[derive(Debug, thiserror::Error)]
pub enum InjectionError {
    /// The request was refused.
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// The messages are queued but a full batch could not be handed over.
    #[error(transparent)]
    Batch(#[from] BatchError),
}

impl Batcher {
    /// A batcher with an empty queue.
    pub fn new(limits: Limits, sink: Box<dyn BatchSink>) -> Self {
        Self {
            queue: Queue::new(limits),
            sink,
        }
    }

    /// The queue.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// `POST /local/batcher/injection`: queues the messages, then hands over full batches.
    pub fn register(
        &mut self,
        order: Option<i64>,
        drop_duplicate: bool,
        messages: Vec<Vec<u8>>,
    ) -> Result<Vec<L2MessageId>, InjectionError> {
        let sink = &self.sink;
        let ids = self
            .queue
            .register(order, drop_duplicate, messages, |op| sink.knows(op))?;
        self.produce_batches(true)?;
        Ok(ids)
    }

    /// On each new L1 head: hands over everything queued.
    pub fn on_new_head(&mut self) -> Result<(), BatchError> {
        self.produce_batches(false)
    }

    /// Cuts batches and hands them to the sink; on a refusal, that batch and the later ones go
    /// back to the queue.
    pub fn produce_batches(&mut self, only_full: bool) -> Result<(), BatchError> {
        let mut batches = self.queue.take_batches(only_full).into_iter();
        while let Some(batch) = batches.next() {
            match self.sink.add_messages(batch.contents(), batch.order) {
                Ok(op) => self.queue.record_batched(&batch, op),
                Err(source) => {
                    let messages = batch.messages.len();
                    self.queue.requeue(batch);
                    for b in batches {
                        self.queue.requeue(b);
                    }
                    return Err(BatchError { messages, source });
                }
            }
        }
        Ok(())
    }

    /// `DELETE /admin/batcher/queue`.
    pub fn clear(&mut self, order_below: Option<i64>, drop_no_order: bool) {
        self.queue.clear(order_below, drop_no_order);
    }

    /// What the batcher knows of message `id`.
    pub fn known(&self, id: &L2MessageId) -> Known<'_> {
        self.queue.known(id)
    }
}

#[cfg(test)]
mod tests;
