//! SQLite store `<data-dir>/store.sqlite` with Octez's table layout (octez-rollup-node.md §5.3:
//! store version `v5_sqlite`, migrations `000_initial`, `001_add_state_hash_and_status`,
//! `002_optional_context`, WAL journal). Hashes are stored as base58 strings, Zarith values as
//! decimal strings, PVM statuses with Octez's one-byte tags.
//!
//! Writes of one block go through [`Store::transaction`], one SQL transaction per block.
//! The pure GC policy over the store is in [`gc`].

pub mod gc;
pub mod pool;

use std::path::Path;
use std::str::FromStr;

use num_bigint::BigUint;
use rusqlite::{Connection, OptionalExtension, params};
/// The context hash of an L2 block (`l2_blocks.context`).
pub use tezos_types::SmartRollupContextHash;
use tezos_types::{
    BlockHash, CommitmentHash, InboxHash, Level, MerkelizedPayloadHashesHash, ProtocolHash,
    StateHash, Tick,
};

use node_config::HistoryMode;

/// The store version reported by `GET /version`.
pub const STORE_VERSION: &str = "v5_sqlite";

/// Operational store errors (I/O, corruption).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failure.
    #[error("store error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored value does not decode.
    #[error("corrupted store: {0}")]
    Corrupted(String),
    /// A value the store's columns cannot hold (a tick count above `i64::MAX`).
    #[error("value not storable: {0}")]
    Unstorable(String),
    /// A store written by a newer node.
    #[error("Cannot use a store with {applied} migrations applied when only {known} are known")]
    FutureStore {
        /// Migrations recorded in the store.
        applied: i64,
        /// Migrations this node knows.
        known: i64,
    },
}

pub use pool::ReadPool;

type Result<T> = std::result::Result<T, StoreError>;

/// The commitment rows of table `commitments` are `tezos_types::Commitment` (one type for the
/// quantity; docs/reference/octez-rollup-node.md §5.3).
pub use tezos_types::Commitment;

/// Header + execution summary of an L2 block (one row of `l2_blocks`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Block {
    /// L1 block hash.
    pub block_hash: BlockHash,
    /// L1 level.
    pub level: Level,
    /// L1 predecessor.
    pub predecessor: BlockHash,
    /// Commitment computed at this block, if any.
    pub commitment_hash: Option<CommitmentHash>,
    /// Last commitment before or at this block.
    pub previous_commitment_hash: CommitmentHash,
    /// Context hash, absent when the context was not committed.
    pub context: Option<SmartRollupContextHash>,
    /// Inbox level witness.
    pub inbox_witness: MerkelizedPayloadHashesHash,
    /// Inbox hash.
    pub inbox_hash: InboxHash,
    /// Tick at the start of the block (stored as a decimal string, Octez `Z`).
    pub initial_tick: Tick,
    /// Ticks executed in the block (stored as an SQLite `INTEGER`, so at most `i64::MAX`).
    pub num_ticks: Tick,
    /// PVM state hash after the block.
    pub state_hash: Option<StateHash>,
    /// PVM status after the block.
    pub pvm_status: Option<PvmStatus>,
}

/// Outbox message indexes of one outbox level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxLevel {
    /// Outbox level.
    pub outbox_level: Level,
    /// Indexes of the messages.
    pub messages: Vec<u32>,
    /// Indexes already executed.
    pub executed: Vec<u32>,
}

/// A protocol activation entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolInfo {
    /// Protocol hash.
    pub hash: ProtocolHash,
    /// Protocol level.
    pub proto_level: i32,
    /// First level of the protocol.
    pub first_level: Level,
    /// Whether `first_level` is the activation level.
    pub first_is_activation: bool,
}

/// Migrations in Octez's numbering (the `migrations` table records `(id, name)`).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        "initial",
        "CREATE TABLE rollup_node_state (name VARCHAR PRIMARY KEY, value VARCHAR, level INTEGER);
         CREATE TABLE commitments (hash VARCHAR(54) PRIMARY KEY,
           compressed_state VARCHAR(54) NOT NULL, inbox_level INTEGER NOT NULL,
           predecessor VARCHAR(54) NOT NULL, number_of_ticks INTEGER NOT NULL);
         CREATE INDEX idx_commitments_inbox_level ON commitments(inbox_level);
         CREATE TABLE commitments_published_at_levels (commitment_hash VARCHAR(54) PRIMARY KEY,
           first_published_at_level INTEGER NOT NULL, published_at_level INTEGER);
         CREATE TABLE inboxes (hash VARCHAR(55) PRIMARY KEY, inbox_level INTEGER NOT NULL,
           history_proof BLOB NOT NULL);
         CREATE INDEX idx_inboxes_inbox_level ON inboxes(inbox_level);
         CREATE TABLE messages (payload_hashes_hash VARCHAR(55) PRIMARY KEY,
           inbox_level INTEGER NOT NULL, message_list BLOB NOT NULL);
         CREATE INDEX idx_messages_inbox_level ON messages(inbox_level);
         CREATE TABLE outbox_messages (outbox_level INTEGER PRIMARY KEY,
           messages VARCHAR NOT NULL, executed_messages VARCHAR NOT NULL);
         CREATE INDEX idx_outbox_messages_outbox_level ON outbox_messages(outbox_level);
         CREATE TABLE protocols (hash VARCHAR(51) PRIMARY KEY, proto_level INTEGER NOT NULL,
           first_level INTEGER NOT NULL, first_is_activation BOOLEAN NOT NULL);
         CREATE INDEX idx_protocols_first_level ON protocols(first_level);
         CREATE TABLE dal_slots_headers (block_hash VARCHAR(51) NOT NULL,
           slot_index INTEGER NOT NULL, published_level INTEGER NOT NULL,
           slot_commitment VARCHAR NOT NULL, PRIMARY KEY(block_hash, slot_index));
         CREATE TABLE dal_slots_statuses (block_hash VARCHAR(51) NOT NULL,
           slot_index INTEGER NOT NULL, attested BOOLEAN NOT NULL,
           PRIMARY KEY(block_hash, slot_index));
         CREATE TABLE l2_blocks (block_hash VARCHAR(51) PRIMARY KEY, level INTEGER NOT NULL,
           predecessor VARCHAR(51) NOT NULL, commitment_hash VARCHAR(54),
           previous_commitment_hash VARCHAR(54) NOT NULL, context VARCHAR(54) NOT NULL,
           inbox_witness VARCHAR(55) NOT NULL, inbox_hash VARCHAR(55) NOT NULL,
           initial_tick VARCHAR NOT NULL, num_ticks INTEGER NOT NULL);
         CREATE INDEX idx_l2_blocks_level ON l2_blocks(level);
         CREATE TABLE l2_levels (level INTEGER PRIMARY KEY, block_hash VARCHAR(51) NOT NULL);",
    ),
    (
        "add_state_hash_and_status",
        "ALTER TABLE l2_blocks ADD COLUMN state_hash VARCHAR(54);
         ALTER TABLE l2_blocks ADD COLUMN pvm_status BLOB;",
    ),
    (
        "optional_context",
        // SQLite cannot drop a NOT NULL constraint: copy the column.
        "ALTER TABLE l2_blocks ADD COLUMN context2 VARCHAR(54);
         UPDATE l2_blocks SET context2 = context;
         ALTER TABLE l2_blocks DROP COLUMN context;
         ALTER TABLE l2_blocks RENAME COLUMN context2 TO context;",
    ),
];

/// The status of the PVM after a block, as stored in `l2_blocks.pvm_status` and answered by
/// the `status` RPC (its text). The first nine have a one-byte tag in the store (Octez
/// `sql_store.ml` compact status encoding, tags 1 to 9 in this order); any other status is
/// stored as `0` followed by its text (docs/reference/octez-rollup-node.md §5.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PvmStatus {
    /// `Computing` (tag 1).
    Computing,
    /// `Waiting for input message` (tag 2).
    WaitingForInputMessage,
    /// `Waiting for metadata` (tag 3).
    WaitingForMetadata,
    /// `Waiting for DAL parameters` (tag 4).
    WaitingForDalParameters,
    /// `Halted` (tag 5).
    Halted,
    /// `Parsing` (tag 6).
    Parsing,
    /// `Evaluating` (tag 7).
    Evaluating,
    /// `WaitingForInput` (tag 8).
    WaitingForInput,
    /// `WaitingForReveal` (tag 9).
    WaitingForReveal,
    /// Any other status, by its text (e.g. `Waiting for preimage reveal <hash>`).
    Other(String),
}

impl PvmStatus {
    /// The statuses with a one-byte tag, tag `i + 1` at index `i`.
    const TAGGED: [PvmStatus; 9] = [
        Self::Computing,
        Self::WaitingForInputMessage,
        Self::WaitingForMetadata,
        Self::WaitingForDalParameters,
        Self::Halted,
        Self::Parsing,
        Self::Evaluating,
        Self::WaitingForInput,
        Self::WaitingForReveal,
    ];

    /// The status text (`status` RPC).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Computing => "Computing",
            Self::WaitingForInputMessage => "Waiting for input message",
            Self::WaitingForMetadata => "Waiting for metadata",
            Self::WaitingForDalParameters => "Waiting for DAL parameters",
            Self::Halted => "Halted",
            Self::Parsing => "Parsing",
            Self::Evaluating => "Evaluating",
            Self::WaitingForInput => "WaitingForInput",
            Self::WaitingForReveal => "WaitingForReveal",
            Self::Other(s) => s,
        }
    }

    /// The status of a text: a tagged status when the text is one, else [`PvmStatus::Other`].
    pub fn from_text(text: &str) -> Self {
        Self::TAGGED
            .into_iter()
            .find(|s| s.as_str() == text)
            .unwrap_or_else(|| Self::Other(text.to_string()))
    }

    /// The bytes stored in `l2_blocks.pvm_status`.
    pub fn encode(&self) -> Vec<u8> {
        match Self::TAGGED.iter().position(|s| s == self) {
            Some(i) => vec![u8::try_from(i).map_or(0, |i| i.saturating_add(1))],
            None => {
                let text = self.as_str().as_bytes();
                let mut v = Vec::with_capacity(text.len().saturating_add(1));
                v.push(0u8);
                v.extend_from_slice(text);
                v
            }
        }
    }

    /// Decodes `l2_blocks.pvm_status`; an unknown tag is the text of the whole value (stores
    /// written before the compact encoding).
    pub fn decode(b: &[u8]) -> Result<Self> {
        match b.split_first() {
            None => Err(StoreError::Corrupted("Empty pvm_status in database".into())),
            Some((0, rest)) => Ok(Self::from_text(&String::from_utf8_lossy(rest))),
            Some((t, _)) => match usize::from(*t)
                .checked_sub(1)
                .and_then(|i| Self::TAGGED.get(i))
            {
                Some(s) => Ok(s.clone()),
                None => Ok(Self::from_text(&String::from_utf8_lossy(b))),
            },
        }
    }
}

impl std::fmt::Display for PvmStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for PvmStatus {
    fn from(text: &str) -> Self {
        Self::from_text(text)
    }
}

/// The text stored in `l2_blocks.context`: base58 `SRCo…`, as Octez writes it (`sql_store.ml`,
/// `context_hash`).
fn encode_context(c: &SmartRollupContextHash) -> String {
    c.to_b58check()
}

/// Decodes `l2_blocks.context`: base58 `SRCo…`, or 64 hex digits (stores written by earlier
/// versions of this node).
fn decode_context(text: &str) -> Result<SmartRollupContextHash> {
    if let Ok(h) = text.parse() {
        return Ok(h);
    }
    let hex_digits = |s: &str| -> Option<SmartRollupContextHash> {
        let mut out = [0u8; 32];
        if s.len() != 64 || !s.is_ascii() {
            return None;
        }
        for (o, pair) in out.iter_mut().zip(s.as_bytes().chunks(2)) {
            *o = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
        }
        Some(SmartRollupContextHash::new(out))
    };
    hex_digits(text).ok_or_else(|| StoreError::Corrupted(format!("invalid context hash {text:?}")))
}

fn bitset_to_z(indexes: &[u32]) -> String {
    let mut n = BigUint::default();
    for i in indexes {
        n.set_bit(u64::from(*i), true);
    }
    n.to_string()
}

fn z_to_bitset(s: &str) -> Result<Vec<u32>> {
    let n = BigUint::from_str(s)
        .map_err(|_| StoreError::Corrupted(format!("Invalid Z.t value in database: {s}")))?;
    let bits = u32::try_from(n.bits()).unwrap_or(u32::MAX);
    Ok((0..bits).filter(|i| n.bit(u64::from(*i))).collect())
}

/// The `message_list` blob: `count (u32 BE) ‖ (len (u32 BE) ‖ bytes)*`.
/// (Octez raw-deflates a binary list of hex strings; no deflate implementation is available
/// here, so the list is stored uncompressed.)
pub fn encode_message_list(messages: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(
        &u32::try_from(messages.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    for m in messages {
        out.extend_from_slice(&u32::try_from(m.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(m);
    }
    out
}

/// Decodes [`encode_message_list`].
pub fn decode_message_list(b: &[u8]) -> Result<Vec<Vec<u8>>> {
    let bad = || StoreError::Corrupted("invalid message list".into());
    let mut rest = b;
    let mut take = |n: usize| -> Result<&[u8]> {
        if rest.len() < n {
            return Err(bad());
        }
        let (a, r) = rest.split_at(n);
        rest = r;
        Ok(a)
    };
    let u32_of = |s: &[u8]| -> usize {
        usize::try_from(u32::from_be_bytes([s[0], s[1], s[2], s[3]])).unwrap_or(usize::MAX)
    };
    let count = u32_of(take(4)?);
    let mut out = Vec::new();
    for _ in 0..count {
        let len = u32_of(take(4)?);
        out.push(take(len)?.to_vec());
    }
    Ok(out)
}

/// A stored level, refused when negative (a corrupt row, never read as another level).
fn stored_level(l: i32) -> Result<Level> {
    Level::new(l).ok_or_else(|| StoreError::Corrupted(format!("negative level {l} in database")))
}

/// A stored tick count (`num_ticks`), refused when negative (a corrupt row, never read as 0).
fn stored_ticks(n: i64) -> Result<Tick> {
    Tick::from_i64(n)
        .ok_or_else(|| StoreError::Corrupted(format!("negative tick count {n} in database")))
}

/// A tick count for an SQLite `INTEGER` column; above `i64::MAX` it cannot be stored.
fn ticks_column(t: Tick) -> Result<i64> {
    i64::try_from(t).map_err(|e| StoreError::Unstorable(e.to_string()))
}

fn parse_hash<T: FromStr>(s: &str, what: &str) -> Result<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupted(format!("invalid {what} {s:?}")))
}

/// The SQLite store.
pub struct Store {
    conn: Connection,
}

/// Singleton rows of `rollup_node_state`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateKey {
    /// `l2_head` (block hash, level)
    L2Head,
    /// `finalized_level` (block hash, level)
    Finalized,
    /// `lcc` (commitment hash, level)
    Lcc,
    /// `lpc` (commitment hash, level)
    Lpc,
    /// `open_conflicts` (this node's addition, ignored by Octez: the conflicts with our
    /// commitments not settled by a cementation, `;`-separated `level ours theirs staker`;
    /// level: the L1 level that last changed them)
    OpenConflicts,
}

impl StateKey {
    fn name(self) -> &'static str {
        match self {
            Self::L2Head => "l2_head",
            Self::Finalized => "finalized_level",
            Self::Lcc => "lcc",
            Self::Lpc => "lpc",
            Self::OpenConflicts => "open_conflicts",
        }
    }
}

/// Level-only rows of `rollup_node_state` (value NULL, `level` set), §5.3–§5.4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelKey {
    /// `last_gc_target`: target of the last GC started (Octez's "successful GC"
    /// accessors reuse this name).
    LastGcTarget,
    /// `last_gc_triggered_at`: head level when the last GC started.
    LastGcTriggeredAt,
    /// `last_context_split`.
    LastContextSplit,
    /// `last_context_gc_target` (this node only): target of the last context GC that
    /// completed. Behind `last_gc_target` after a crash during a context GC, which is then
    /// resumed on restart.
    LastContextGcTarget,
}

impl LevelKey {
    fn name(self) -> &'static str {
        match self {
            Self::LastGcTarget => "last_gc_target",
            Self::LastGcTriggeredAt => "last_gc_triggered_at",
            Self::LastContextSplit => "last_context_split",
            Self::LastContextGcTarget => "last_context_gc_target",
        }
    }
}

/// Rows deleted by [`Writer::delete_before`], per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GcDeleted {
    /// `l2_blocks` rows.
    pub l2_blocks: usize,
    /// `commitments` rows.
    pub commitments: usize,
    /// `inboxes` rows.
    pub inboxes: usize,
    /// `messages` rows.
    pub messages: usize,
    /// `commitments_published_at_levels` rows.
    pub published: usize,
    /// `l2_levels` rows.
    pub l2_levels: usize,
}

const BLOCK_COLUMNS: &str = "block_hash, level, predecessor, commitment_hash, \
    previous_commitment_hash, context, inbox_witness, inbox_hash, initial_tick, num_ticks, \
    state_hash, pvm_status";

impl Store {
    /// Opens (creating if needed) the store at `path`, in WAL mode, applying migrations.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory store (tests).
    pub fn open_in_memory() -> Result<Store> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Store> {
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            let _: String = conn.query_row("PRAGMA journal_mode=wal", [], |r| r.get(0))?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Savepoint sub-journals (one per level inside a batch) in memory, not temp files.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        let mut store = Store { conn };
        store.migrate()?;
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "CREATE TABLE IF NOT EXISTS migrations (id SERIAL PRIMARY KEY, name TEXT)",
            [],
        )?;
        let current: Option<i64> = tx
            .query_row(
                "SELECT id FROM migrations ORDER BY id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        let applied = current.map_or(0, |c| c + 1);
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        if applied > known {
            return Err(StoreError::FutureStore { applied, known });
        }
        for (i, (name, sql)) in MIGRATIONS.iter().enumerate() {
            let id = i64::try_from(i).unwrap_or(i64::MAX);
            if id < applied {
                continue;
            }
            tx.execute_batch(sql)?;
            tx.execute(
                "INSERT INTO migrations (id, name) VALUES (?1, ?2)",
                params![id, name],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Runs `f` in one SQL transaction (one per processed block); rolled back on error.
    pub fn transaction<T>(&mut self, f: impl FnOnce(&Writer<'_>) -> Result<T>) -> Result<T> {
        // Outside a batch, a `BEGIN IMMEDIATE` transaction: the write lock is taken before
        // the first read, so another writer (the GC thread) cannot invalidate what was read.
        // Inside a batch ([`Store::begin_batch`]), a nested savepoint. Rolled back on error
        // either way.
        if self.conn.is_autocommit() {
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let out = f(&Writer { conn: &tx })?;
            tx.commit()?;
            return Ok(out);
        }
        let tx = self.conn.savepoint()?;
        let out = f(&Writer { conn: &tx })?;
        tx.commit()?;
        Ok(out)
    }

    /// How long a write waits for another connection's write lock (SQLite `busy_timeout`).
    pub fn set_busy_timeout(&mut self, d: std::time::Duration) -> Result<()> {
        Ok(self.conn.busy_timeout(d)?)
    }

    /// [`Store::transaction`] made durable at commit even on power loss (`synchronous=FULL`
    /// for its commit; the store otherwise runs with `NORMAL`, durable on process crashes).
    /// Used before deleting what the committed rows stop referencing (GC).
    pub fn durable_transaction<T>(
        &mut self,
        f: impl FnOnce(&Writer<'_>) -> Result<T>,
    ) -> Result<T> {
        self.conn.pragma_update(None, "synchronous", "FULL")?;
        let out = self.transaction(f);
        let restored = self.conn.pragma_update(None, "synchronous", "NORMAL");
        let out = out?;
        restored?;
        Ok(out)
    }

    /// Starts a batch: the next [`Store::transaction`]s (each still atomic) are committed
    /// together by [`Store::commit_batch`], one SQLite commit for many levels while catching
    /// up. Other connections see the batch only once committed. No-op inside a batch.
    pub fn begin_batch(&mut self) -> Result<()> {
        if self.conn.is_autocommit() {
            // Immediate: see [`Store::transaction`].
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        Ok(())
    }

    /// Commits the current batch (no-op outside a batch).
    pub fn commit_batch(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }

    /// Abandons the current batch (no-op outside a batch).
    pub fn rollback_batch(&mut self) -> Result<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("ROLLBACK")?;
        }
        Ok(())
    }

    /// The [`Writer`] accessors on the plain connection, outside any transaction: the reads
    /// of `Store` go through them (a statement outside a batch commits on its own, and the
    /// read-only connections of the pool refuse writes).
    pub(crate) fn accessors(&self) -> Writer<'_> {
        Writer { conn: &self.conn }
    }

    /// L2 block by L1 hash.
    pub fn block_by_hash(&self, hash: &BlockHash) -> Result<Option<L2Block>> {
        self.block_by_b58(&hash.to_b58check())
    }

    /// L2 block by L1 hash as the store writes it (b58): no decoding and encoding again of a
    /// hash read from the store.
    fn block_by_b58(&self, hash: &str) -> Result<Option<L2Block>> {
        self.accessors().query_block(
            &format!("SELECT {BLOCK_COLUMNS} FROM l2_blocks WHERE block_hash = ?1"),
            hash,
        )
    }

    /// L2 block of the canonical chain at `level`.
    pub fn block_by_level(&self, level: Level) -> Result<Option<L2Block>> {
        let hash: Option<String> = self
            .conn
            .query_row(
                "SELECT block_hash FROM l2_levels WHERE level = ?1",
                [level.get()],
                |r| r.get(0),
            )
            .optional()?;
        match hash {
            None => Ok(None),
            Some(h) => self.block_by_hash(&parse_hash(&h, "block hash")?),
        }
    }

    /// The L2 head.
    pub fn head(&self) -> Result<Option<L2Block>> {
        match self.state(StateKey::L2Head)? {
            Some((h, _)) => self.block_of_state(&h),
            None => Ok(None),
        }
    }

    /// The block a state row names; a value that is not a block hash is corruption.
    fn block_of_state(&self, h: &str) -> Result<Option<L2Block>> {
        match self.block_by_b58(h)? {
            Some(b) => Ok(Some(b)),
            None => {
                parse_hash::<BlockHash>(h, "block hash")?;
                Ok(None)
            }
        }
    }

    /// The last finalized L2 block.
    pub fn finalized(&self) -> Result<Option<L2Block>> {
        match self.state(StateKey::Finalized)? {
            Some((h, _)) => self.block_of_state(&h),
            None => Ok(None),
        }
    }

    /// A singleton `(value, level)` row of `rollup_node_state`.
    pub fn state(&self, key: StateKey) -> Result<Option<(String, Level)>> {
        self.accessors().state(key)
    }

    /// Last cemented commitment `(hash, level)`.
    pub fn lcc(&self) -> Result<Option<(CommitmentHash, Level)>> {
        self.commitment_state(StateKey::Lcc)
    }

    /// Last published commitment `(hash, level)`.
    pub fn lpc(&self) -> Result<Option<(CommitmentHash, Level)>> {
        self.commitment_state(StateKey::Lpc)
    }

    fn commitment_state(&self, key: StateKey) -> Result<Option<(CommitmentHash, Level)>> {
        self.state(key)?
            .map(|(h, l)| Ok((parse_hash(&h, "commitment hash")?, l)))
            .transpose()
    }

    /// Commitment by hash.
    pub fn commitment(&self, hash: &CommitmentHash) -> Result<Option<Commitment>> {
        self.conn
            .query_row(
                "SELECT compressed_state, inbox_level, predecessor, number_of_ticks \
                 FROM commitments WHERE hash = ?1",
                [hash.to_b58check()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i32>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                },
            )
            .optional()?
            .map(|(s, l, p, n)| {
                Ok(Commitment {
                    compressed_state: parse_hash(&s, "state hash")?,
                    inbox_level: stored_level(l)?,
                    predecessor: parse_hash(&p, "commitment hash")?,
                    // `Commitment` keeps Octez's `int64`; a negative count is corruption.
                    number_of_ticks: stored_ticks(n).map(|_| n)?,
                })
            })
            .transpose()
    }

    /// `(first_published_at_level, published_at_level)` of a commitment.
    pub fn commitment_published_at(
        &self,
        hash: &CommitmentHash,
    ) -> Result<Option<(Level, Option<Level>)>> {
        self.conn
            .query_row(
                "SELECT first_published_at_level, published_at_level \
                 FROM commitments_published_at_levels WHERE commitment_hash = ?1",
                [hash.to_b58check()],
                |r| Ok((r.get::<_, i32>(0)?, r.get::<_, Option<i32>>(1)?)),
            )
            .optional()?
            .map(|(f, p)| Ok((stored_level(f)?, p.map(stored_level).transpose()?)))
            .transpose()
    }

    /// Outbox message indexes at an outbox level.
    pub fn outbox_messages(&self, outbox_level: Level) -> Result<Option<OutboxLevel>> {
        self.conn
            .query_row(
                "SELECT messages, executed_messages FROM outbox_messages WHERE outbox_level = ?1",
                [outbox_level.get()],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?
            .map(|(m, e)| {
                Ok(OutboxLevel {
                    outbox_level,
                    messages: z_to_bitset(&m)?,
                    executed: z_to_bitset(&e)?,
                })
            })
            .transpose()
    }

    /// The messages not executed yet of the outbox levels in `[min_level, max_level]`, by
    /// level ascending, levels with none left out (Octez `Outbox_messages.pending`;
    /// docs/reference/octez-rollup-node.md §6.3).
    pub fn pending_outbox_messages(
        &self,
        min_level: Level,
        max_level: Level,
    ) -> Result<Vec<(Level, Vec<u32>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT outbox_level, messages, executed_messages FROM outbox_messages \
             WHERE outbox_level >= ?1 AND outbox_level <= ?2 ORDER BY outbox_level ASC",
        )?;
        let rows = stmt.query_map([min_level.get(), max_level.get()], |r| {
            Ok((
                r.get::<_, i32>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (level, m, e) = row?;
            let executed = z_to_bitset(&e)?;
            let pending: Vec<u32> = z_to_bitset(&m)?
                .into_iter()
                .filter(|i| !executed.contains(i))
                .collect();
            if !pending.is_empty() {
                out.push((stored_level(level)?, pending));
            }
        }
        Ok(out)
    }

    /// History mode recorded in the store.
    pub fn history_mode(&self) -> Result<Option<HistoryMode>> {
        let v: Option<Option<String>> = self
            .conn
            .query_row(
                "SELECT value FROM rollup_node_state WHERE name = 'history_mode'",
                [],
                |r| r.get(0),
            )
            .optional()?;
        v.flatten()
            .map(|s| {
                s.parse()
                    .map_err(|_| StoreError::Corrupted(format!("Invalid history mode: {s}")))
            })
            .transpose()
    }

    /// Protocol whose first level is the greatest ≤ `level`.
    pub fn protocol_of_level(&self, level: Level) -> Result<Option<ProtocolInfo>> {
        self.conn
            .query_row(
                "SELECT hash, proto_level, first_level, first_is_activation FROM protocols \
                 WHERE first_level <= ?1 ORDER BY first_level DESC LIMIT 1",
                [level.get()],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, i32>(1)?,
                        r.get::<_, i32>(2)?,
                        r.get::<_, bool>(3)?,
                    ))
                },
            )
            .optional()?
            .map(|(h, pl, fl, a)| {
                Ok(ProtocolInfo {
                    hash: parse_hash(&h, "protocol hash")?,
                    proto_level: pl,
                    first_level: stored_level(fl)?,
                    first_is_activation: a,
                })
            })
            .transpose()
    }

    /// Raw message list blob of an inbox level witness (raw-deflated binary list).
    pub fn messages_blob(&self, witness: &MerkelizedPayloadHashesHash) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .query_row(
                "SELECT message_list FROM messages WHERE payload_hashes_hash = ?1",
                [witness.to_b58check()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Raw history-proof blob of an inbox.
    pub fn inbox_blob(&self, hash: &InboxHash) -> Result<Option<(Level, Vec<u8>)>> {
        self.conn
            .query_row(
                "SELECT inbox_level, history_proof FROM inboxes WHERE hash = ?1",
                [hash.to_b58check()],
                |r| Ok((r.get::<_, i32>(0)?, r.get::<_, Vec<u8>>(1)?)),
            )
            .optional()?
            .map(|(l, b)| Ok((stored_level(l)?, b)))
            .transpose()
    }

    /// The canonical chain `level → hash` for levels `>= from`.
    pub fn levels_from(&self, from: Level) -> Result<Vec<(Level, BlockHash)>> {
        let mut st = self
            .conn
            .prepare("SELECT level, block_hash FROM l2_levels WHERE level >= ?1 ORDER BY level")?;
        let rows = st.query_map([from.get()], |r| {
            Ok((r.get::<_, i32>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = vec![];
        for row in rows {
            let (l, h) = row?;
            out.push((stored_level(l)?, parse_hash(&h, "block hash")?));
        }
        Ok(out)
    }

    /// Messages of an inbox level (decoded from [`encode_message_list`]).
    pub fn messages(&self, witness: &MerkelizedPayloadHashesHash) -> Result<Option<Vec<Vec<u8>>>> {
        self.messages_blob(witness)?
            .map(|b| decode_message_list(&b))
            .transpose()
    }

    /// A level-only state row ([`LevelKey`]).
    pub fn level_state(&self, key: LevelKey) -> Result<Option<Level>> {
        self.accessors().level_state(key)
    }

    /// Lowest level of the canonical chain still stored (`None` if none).
    pub fn first_stored_level(&self) -> Result<Option<Level>> {
        self.conn
            .query_row("SELECT MIN(level) FROM l2_levels", [], |r| {
                r.get::<_, Option<i32>>(0)
            })?
            .map(stored_level)
            .transpose()
    }

    /// Distinct committed contexts of the stored L2 blocks at levels `>= level` (all
    /// branches, not only the canonical chain): the context roots a GC keeps.
    pub fn contexts_from(&self, level: Level) -> Result<Vec<SmartRollupContextHash>> {
        let mut st = self.conn.prepare(
            "SELECT DISTINCT context FROM l2_blocks WHERE level >= ?1 AND context IS NOT NULL",
        )?;
        let rows = st.query_map([level.get()], |r| r.get::<_, String>(0))?;
        let mut out = vec![];
        for r in rows {
            out.push(decode_context(&r?)?);
        }
        // Rows written in both encodings name the same context twice.
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// Table names and their SQL, as in Octez's store-schema regression (without
    /// `sqlite_*` and `*migrations` entries).
    pub fn schema(&self) -> Result<Vec<String>> {
        let mut st = self.conn.prepare(
            "SELECT sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' \
             AND name NOT LIKE '%migrations'",
        )?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The inbox stored under `hash` (decoded [`Writer::insert_inbox`] blob). Its
    /// `old_levels_messages` is the inbox history cell of that hash, what an inbox proof's
    /// `history` reads (`refutation_game::produce_inbox_proof`; octez-rollup-node.md §6.4,
    /// Octez `Node_context.find_inbox` then `take_snapshot`).
    pub fn inbox(&self, hash: &InboxHash) -> Result<Option<tezos_types::inbox::Inbox>> {
        self.inbox_blob(hash)?
            .map(|(_, blob)| {
                <tezos_types::inbox::Inbox as tezos_types::BinDecode>::from_bin(&blob)
                    .map_err(|e| StoreError::Corrupted(format!("stored inbox {hash}: {e}")))
            })
            .transpose()
    }
}

/// Accessors valid inside a transaction (and reads on the plain connection).
pub struct Writer<'a> {
    conn: &'a Connection,
}

impl Writer<'_> {
    /// Runs a statement through the connection's prepared statement cache (the follower
    /// writes the same statements for every level).
    fn exec<P: rusqlite::Params>(&self, sql: &str, params: P) -> rusqlite::Result<usize> {
        self.conn.prepare_cached(sql)?.execute(params)
    }

    fn query_block(&self, sql: &str, key: &str) -> Result<Option<L2Block>> {
        let row = self
            .conn
            .prepare_cached(sql)?
            .query_row([key], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i32>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, String>(6)?,
                    r.get::<_, String>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, i64>(9)?,
                    r.get::<_, Option<String>>(10)?,
                    r.get::<_, Option<Vec<u8>>>(11)?,
                ))
            })
            .optional()?;
        let Some((h, level, pred, ch, pch, ctx, iw, ih, it, nt, sh, st)) = row else {
            return Ok(None);
        };
        Ok(Some(L2Block {
            block_hash: parse_hash(&h, "block hash")?,
            level: stored_level(level)?,
            predecessor: parse_hash(&pred, "block hash")?,
            commitment_hash: ch.map(|c| parse_hash(&c, "commitment hash")).transpose()?,
            previous_commitment_hash: parse_hash(&pch, "commitment hash")?,
            context: ctx.as_deref().map(decode_context).transpose()?,
            inbox_witness: parse_hash(&iw, "inbox witness")?,
            inbox_hash: parse_hash(&ih, "inbox hash")?,
            initial_tick: it
                .parse()
                .map_err(|_| StoreError::Corrupted(format!("Invalid Z.t value: {it}")))?,
            num_ticks: stored_ticks(nt)?,
            state_hash: sh.map(|s| parse_hash(&s, "state hash")).transpose()?,
            pvm_status: st.map(|s| PvmStatus::decode(&s)).transpose()?,
        }))
    }

    fn state(&self, key: StateKey) -> Result<Option<(String, Level)>> {
        self.conn
            .prepare_cached("SELECT value, level FROM rollup_node_state WHERE name = ?1")?
            .query_row([key.name()], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i32>(1)?))
            })
            .optional()?
            .map(|(v, l)| Ok((v, stored_level(l)?)))
            .transpose()
    }

    fn level_state(&self, key: LevelKey) -> Result<Option<Level>> {
        self.conn
            .query_row(
                "SELECT level FROM rollup_node_state WHERE name = ?1",
                [key.name()],
                |r| r.get::<_, Option<i32>>(0),
            )
            .optional()?
            .flatten()
            .map(stored_level)
            .transpose()
    }

    /// Sets a level-only state row.
    pub fn set_level_state(&self, key: LevelKey, level: Level) -> Result<()> {
        self.exec(
            "REPLACE INTO rollup_node_state (name, value, level) VALUES (?1, NULL, ?2)",
            params![key.name(), level.get()],
        )?;
        Ok(())
    }

    /// The SQL part of a GC (§5.4, Octez `Store.gc`): deletes the rows of levels `< level`
    /// from `l2_blocks`, `commitments` (by inbox level), `inboxes`, `messages`,
    /// `commitments_published_at_levels` (by first publication level) and `l2_levels`.
    /// Outbox rows, protocols and DAL rows are kept.
    pub fn delete_before(&self, level: Level) -> Result<GcDeleted> {
        let del = |sql: &str| self.exec(sql, [level.get()]);
        Ok(GcDeleted {
            l2_blocks: del("DELETE FROM l2_blocks WHERE level < ?1")?,
            commitments: del("DELETE FROM commitments WHERE inbox_level < ?1")?,
            inboxes: del("DELETE FROM inboxes WHERE inbox_level < ?1")?,
            messages: del("DELETE FROM messages WHERE inbox_level < ?1")?,
            published: del(
                "DELETE FROM commitments_published_at_levels WHERE first_published_at_level < ?1",
            )?,
            l2_levels: del("DELETE FROM l2_levels WHERE level < ?1")?,
        })
    }

    /// Inserts (or replaces) an L2 block.
    pub fn insert_block(&self, b: &L2Block) -> Result<()> {
        self.exec(
            &format!(
                "REPLACE INTO l2_blocks ({BLOCK_COLUMNS}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
            ),
            params![
                b.block_hash.to_b58check(),
                b.level.get(),
                b.predecessor.to_b58check(),
                b.commitment_hash.map(|c| c.to_b58check()),
                b.previous_commitment_hash.to_b58check(),
                b.context.as_ref().map(encode_context),
                b.inbox_witness.to_b58check(),
                b.inbox_hash.to_b58check(),
                b.initial_tick.to_string(),
                ticks_column(b.num_ticks)?,
                b.state_hash.map(|s| s.to_b58check()),
                b.pvm_status.as_ref().map(PvmStatus::encode),
            ],
        )?;
        Ok(())
    }

    /// Marks `hash` as the canonical block at `level`.
    pub fn set_level(&self, level: Level, hash: &BlockHash) -> Result<()> {
        self.exec(
            "REPLACE INTO l2_levels (level, block_hash) VALUES (?1, ?2)",
            params![level.get(), hash.to_b58check()],
        )?;
        Ok(())
    }

    /// Hash of the canonical block at `level`.
    pub fn level_hash(&self, level: Level) -> Result<Option<BlockHash>> {
        let h: Option<String> = self
            .conn
            .query_row(
                "SELECT block_hash FROM l2_levels WHERE level = ?1",
                [level.get()],
                |r| r.get(0),
            )
            .optional()?;
        h.map(|h| parse_hash(&h, "block hash")).transpose()
    }

    /// Forgets canonical levels above `level` (a reorg to a shorter chain).
    pub fn truncate_levels_above(&self, level: Level) -> Result<()> {
        self.conn
            .execute("DELETE FROM l2_levels WHERE level > ?1", [level.get()])?;
        Ok(())
    }

    /// Sets a singleton state row.
    pub fn set_state(&self, key: StateKey, value: &str, level: Level) -> Result<()> {
        self.exec(
            "REPLACE INTO rollup_node_state (name, value, level) VALUES (?1, ?2, ?3)",
            params![key.name(), value, level.get()],
        )?;
        Ok(())
    }

    /// Sets the L2 head.
    pub fn set_head(&self, hash: &BlockHash, level: Level) -> Result<()> {
        self.set_state(StateKey::L2Head, &hash.to_b58check(), level)
    }

    /// Sets the finalized block.
    pub fn set_finalized(&self, hash: &BlockHash, level: Level) -> Result<()> {
        self.set_state(StateKey::Finalized, &hash.to_b58check(), level)
    }

    /// Sets the last cemented commitment.
    pub fn set_lcc(&self, hash: &CommitmentHash, level: Level) -> Result<()> {
        self.set_state(StateKey::Lcc, &hash.to_b58check(), level)
    }

    /// Sets the last published commitment.
    pub fn set_lpc(&self, hash: &CommitmentHash, level: Level) -> Result<()> {
        self.set_state(StateKey::Lpc, &hash.to_b58check(), level)
    }

    /// Records the history mode.
    pub fn set_history_mode(&self, mode: HistoryMode) -> Result<()> {
        self.exec(
            "REPLACE INTO rollup_node_state (name, value) VALUES ('history_mode', ?1)",
            [mode.as_str()],
        )?;
        Ok(())
    }

    /// Stores a commitment under its hash.
    pub fn insert_commitment(&self, hash: &CommitmentHash, c: &Commitment) -> Result<()> {
        self.exec(
            "REPLACE INTO commitments (hash, compressed_state, inbox_level, predecessor, \
             number_of_ticks) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![
                hash.to_b58check(),
                c.compressed_state.to_b58check(),
                i32::from(c.inbox_level),
                c.predecessor.to_b58check(),
                c.number_of_ticks
            ],
        )?;
        Ok(())
    }

    /// Records publication levels of a commitment.
    pub fn set_commitment_published_at(
        &self,
        hash: &CommitmentHash,
        first_published_at_level: Level,
        published_at_level: Option<Level>,
    ) -> Result<()> {
        self.exec(
            "REPLACE INTO commitments_published_at_levels (commitment_hash, \
             first_published_at_level, published_at_level) VALUES (?1, ?2, ?3)",
            params![
                hash.to_b58check(),
                first_published_at_level.get(),
                published_at_level.map(Level::get)
            ],
        )?;
        Ok(())
    }

    /// Stores an inbox (binary history proof).
    pub fn insert_inbox(&self, hash: &InboxHash, level: Level, history_proof: &[u8]) -> Result<()> {
        self.exec(
            "REPLACE INTO inboxes (hash, inbox_level, history_proof) VALUES (?1, ?2, ?3)",
            params![hash.to_b58check(), level.get(), history_proof],
        )?;
        Ok(())
    }

    /// Stores an inbox level's message list (raw-deflated binary list).
    pub fn insert_messages(
        &self,
        witness: &MerkelizedPayloadHashesHash,
        level: Level,
        message_list: &[u8],
    ) -> Result<()> {
        self.exec(
            "REPLACE INTO messages (payload_hashes_hash, inbox_level, message_list) \
             VALUES (?1, ?2, ?3)",
            params![witness.to_b58check(), level.get(), message_list],
        )?;
        Ok(())
    }

    /// Stores the outbox message indexes of a level. A level already registered (the level
    /// processed again) keeps the messages it has marked executed, added to `o.executed`
    /// (Octez `register_outbox_messages`: "messages marked as executed are preserved").
    pub fn set_outbox_messages(&self, o: &OutboxLevel) -> Result<()> {
        let mut executed = o.executed.clone();
        let before: Option<String> = self
            .conn
            .query_row(
                "SELECT executed_messages FROM outbox_messages WHERE outbox_level = ?1",
                [o.outbox_level.get()],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(before) = before {
            for i in z_to_bitset(&before)? {
                if !executed.contains(&i) {
                    executed.push(i);
                }
            }
        }
        self.exec(
            "REPLACE INTO outbox_messages (outbox_level, messages, executed_messages) \
             VALUES (?1, ?2, ?3)",
            params![
                o.outbox_level.get(),
                bitset_to_z(&o.messages),
                bitset_to_z(&executed)
            ],
        )?;
        Ok(())
    }

    /// Forgets the outbox messages of a level (processed again with an empty outbox, after a
    /// reorganisation; Octez `delete_outbox_messages`).
    pub fn delete_outbox_messages(&self, outbox_level: Level) -> Result<()> {
        self.exec(
            "DELETE FROM outbox_messages WHERE outbox_level = ?1",
            [outbox_level.get()],
        )?;
        Ok(())
    }

    /// Marks message `index` of outbox `outbox_level` executed (an execution of it was
    /// included on L1); `false` when the level has no registered messages (Octez
    /// `set_outbox_message_executed`; docs/reference/octez-rollup-node.md §6.3).
    pub fn set_outbox_message_executed(&self, outbox_level: Level, index: u32) -> Result<bool> {
        let executed: Option<String> = self
            .conn
            .query_row(
                "SELECT executed_messages FROM outbox_messages WHERE outbox_level = ?1",
                [outbox_level.get()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(executed) = executed else {
            return Ok(false);
        };
        let mut executed = z_to_bitset(&executed)?;
        if !executed.contains(&index) {
            executed.push(index);
        }
        self.exec(
            "UPDATE outbox_messages SET executed_messages = ?1 WHERE outbox_level = ?2",
            params![bitset_to_z(&executed), outbox_level.get()],
        )?;
        Ok(true)
    }

    /// Records a protocol.
    pub fn insert_protocol(&self, p: &ProtocolInfo) -> Result<()> {
        self.exec(
            "REPLACE INTO protocols (hash, proto_level, first_level, first_is_activation) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                p.hash.to_b58check(),
                p.proto_level,
                p.first_level.get(),
                p.first_is_activation
            ],
        )?;
        Ok(())
    }
}

/// Rows for the tests of this crate and of the crates above it (feature `test-fixtures`).
#[cfg(any(test, feature = "test-fixtures"))]
pub mod fixtures {
    use super::*;

    /// A block at `level` (non-negative) whose hashes are made of the byte `level`.
    pub fn sample_block(level: i32) -> L2Block {
        let byte = u8::try_from(level).unwrap_or(0);
        L2Block {
            block_hash: BlockHash::new([byte; 32]),
            level: Level::new(level).expect("sample blocks have non-negative levels"),
            predecessor: BlockHash::new([byte.wrapping_sub(1); 32]),
            commitment_hash: (level % 2 == 0).then(|| CommitmentHash::new([byte; 32])),
            previous_commitment_hash: CommitmentHash::ZERO,
            context: None,
            inbox_witness: MerkelizedPayloadHashesHash::new([byte; 32]),
            inbox_hash: InboxHash::new([byte; 32]),
            initial_tick: Tick::new(11_000_000_000)
                .checked_mul(u128::from(byte))
                .expect("255 × 11e9 fits"),
            num_ticks: Tick::new(11_000_000_000),
            state_hash: Some(StateHash::new([byte; 32])),
            pvm_status: Some("Waiting for input message".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::sample_block;
    use super::*;

    fn lv(v: i32) -> Level {
        Level::new(v).unwrap()
    }

    #[test]
    fn blocks_head_and_levels_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        {
            let mut s = Store::open(&path).unwrap();
            for l in 1..=3 {
                let b = sample_block(l);
                s.transaction(|w| {
                    w.insert_block(&b)?;
                    w.set_level(lv(l), &b.block_hash)?;
                    w.set_head(&b.block_hash, lv(l))
                })
                .unwrap();
            }
            s.transaction(|w| w.set_finalized(&sample_block(1).block_hash, lv(1)))
                .unwrap();
        }
        assert!(dir.path().join("store.sqlite-wal").exists() || path.exists());
        // Reopen: migrations are not re-applied and data persists.
        let s = Store::open(&path).unwrap();
        assert_eq!(s.head().unwrap(), Some(sample_block(3)));
        assert_eq!(s.finalized().unwrap(), Some(sample_block(1)));
        assert_eq!(s.block_by_level(lv(2)).unwrap(), Some(sample_block(2)));
        assert_eq!(s.block_by_level(lv(9)).unwrap(), None);
        let b = sample_block(2);
        assert_eq!(s.block_by_hash(&b.block_hash).unwrap(), Some(b));
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let n: i64 = s
            .conn
            .query_row("SELECT count(*) FROM migrations", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 3);
    }

    #[test]
    fn failed_transaction_rolls_back() {
        let mut s = Store::open_in_memory().unwrap();
        let b = sample_block(4);
        let r: Result<()> = s.transaction(|w| {
            w.insert_block(&b)?;
            Err(StoreError::Corrupted("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(s.block_by_hash(&b.block_hash).unwrap(), None);
    }

    #[test]
    fn pending_outbox_messages_leave_executed_ones_out() {
        let mut s = Store::open_in_memory().unwrap();
        s.transaction(|w| {
            for (l, m) in [
                (10, vec![0, 1]),
                (11, vec![0]),
                (12, vec![0, 2]),
                (20, vec![5]),
            ] {
                w.set_outbox_messages(&OutboxLevel {
                    outbox_level: lv(l),
                    messages: m,
                    executed: vec![],
                })?;
            }
            assert!(w.set_outbox_message_executed(lv(11), 0)?);
            assert!(w.set_outbox_message_executed(lv(12), 2)?);
            // Twice is once.
            assert!(w.set_outbox_message_executed(lv(12), 2)?);
            // No messages registered at that level.
            assert!(!w.set_outbox_message_executed(lv(13), 0)?);
            Ok(())
        })
        .unwrap();
        assert_eq!(
            s.pending_outbox_messages(lv(0), lv(100)).unwrap(),
            vec![(lv(10), vec![0, 1]), (lv(12), vec![0]), (lv(20), vec![5])]
        );
        assert_eq!(
            s.pending_outbox_messages(lv(11), lv(12)).unwrap(),
            vec![(lv(12), vec![0])]
        );
        assert_eq!(s.pending_outbox_messages(lv(13), lv(19)).unwrap(), vec![]);
        assert_eq!(
            s.outbox_messages(lv(12)).unwrap().unwrap().executed,
            vec![2]
        );
        // Level 12 processed again (same messages): its executed message stays executed.
        // Level 20 processed again with an empty outbox: forgotten.
        s.transaction(|w| {
            w.set_outbox_messages(&OutboxLevel {
                outbox_level: lv(12),
                messages: vec![0, 2],
                executed: vec![],
            })?;
            w.delete_outbox_messages(lv(20))
        })
        .unwrap();
        assert_eq!(
            s.pending_outbox_messages(lv(0), lv(100)).unwrap(),
            vec![(lv(10), vec![0, 1]), (lv(12), vec![0])]
        );
    }

    #[track_caller]
    fn corrupt(r: Result<()>) -> String {
        match r {
            Err(StoreError::Corrupted(m)) => m,
            other => panic!("expected Corrupted, got {other:?}"),
        }
    }

    /// Negative levels and tick counts in the integer columns are corrupt rows, never read
    /// as another level or as 0 ticks; a tick count above `i64::MAX` is refused on write.
    #[test]
    fn negative_stored_levels_and_ticks_are_corruption() {
        let mut s = Store::open_in_memory().unwrap();
        let b = sample_block(3);
        s.transaction(|w| {
            w.insert_block(&b)?;
            w.set_level(b.level, &b.block_hash)?;
            w.set_head(&b.block_hash, b.level)?;
            w.set_level_state(LevelKey::LastGcTarget, lv(2))
        })
        .unwrap();
        assert_eq!(s.head().unwrap(), Some(b.clone()));
        s.conn
            .execute("UPDATE l2_blocks SET num_ticks = -1", [])
            .unwrap();
        let m = corrupt(s.head().map(|_| ()));
        assert!(m.contains("negative tick count -1"), "{m}");
        s.conn
            .execute("UPDATE l2_blocks SET num_ticks = 1, level = -3", [])
            .unwrap();
        let m = corrupt(s.block_by_hash(&b.block_hash).map(|_| ()));
        assert!(m.contains("negative level -3"), "{m}");
        s.conn
            .execute("UPDATE rollup_node_state SET level = -1", [])
            .unwrap();
        corrupt(s.level_state(LevelKey::LastGcTarget).map(|_| ()));
        corrupt(s.state(StateKey::L2Head).map(|_| ()));
        s.conn
            .execute("UPDATE l2_levels SET level = -7", [])
            .unwrap();
        corrupt(s.first_stored_level().map(|_| ()));
        // Range reads start at a level ≥ 0: such a row is never returned by them.
        assert_eq!(s.levels_from(Level::ZERO).unwrap(), vec![]);
        let mut big = sample_block(4);
        big.num_ticks = Tick::new(u128::from(u64::MAX));
        let e = s.transaction(|w| w.insert_block(&big)).unwrap_err();
        assert!(matches!(e, StoreError::Unstorable(_)), "{e:?}");
        assert_eq!(s.block_by_hash(&big.block_hash).unwrap(), None);
    }

    #[test]
    fn commitments_lcc_outbox_protocols() {
        let mut s = Store::open_in_memory().unwrap();
        let h = CommitmentHash::new([7; 32]);
        let c = Commitment {
            compressed_state: StateHash::new([1; 32]),
            inbox_level: tezos_types::Level::new(42).unwrap(),
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 1234,
        };
        let o = OutboxLevel {
            outbox_level: lv(42),
            messages: vec![0, 1, 2, 130],
            executed: vec![1],
        };
        let p = ProtocolInfo {
            hash: ProtocolHash::new([3; 32]),
            proto_level: 25,
            first_level: lv(10),
            first_is_activation: true,
        };
        s.transaction(|w| {
            w.insert_commitment(&h, &c)?;
            w.set_commitment_published_at(&h, lv(44), None)?;
            w.set_lcc(&h, lv(42))?;
            w.set_outbox_messages(&o)?;
            w.insert_protocol(&p)?;
            w.set_history_mode(HistoryMode::Archive)
        })
        .unwrap();
        assert_eq!(s.commitment(&h).unwrap(), Some(c));
        assert_eq!(s.commitment_published_at(&h).unwrap(), Some((lv(44), None)));
        assert_eq!(s.lcc().unwrap(), Some((h, lv(42))));
        assert_eq!(s.lpc().unwrap(), None);
        assert_eq!(s.outbox_messages(lv(42)).unwrap(), Some(o));
        assert_eq!(s.protocol_of_level(lv(100)).unwrap(), Some(p));
        assert_eq!(s.protocol_of_level(lv(5)).unwrap(), None);
        assert_eq!(s.history_mode().unwrap(), Some(HistoryMode::Archive));
        let stored: String = s
            .conn
            .query_row("SELECT messages FROM outbox_messages", [], |r| r.get(0))
            .unwrap();
        assert_eq!(
            stored,
            (BigUint::from(7u8) + (BigUint::from(1u8) << 130u32)).to_string()
        );
    }

    #[test]
    fn schema_has_octez_tables_and_final_columns() {
        let s = Store::open_in_memory().unwrap();
        let schema = s.schema().unwrap().join("\n");
        for t in [
            "rollup_node_state",
            "commitments_published_at_levels",
            "inboxes",
            "messages",
            "outbox_messages",
            "protocols",
            "dal_slots_headers",
            "dal_slots_statuses",
            "l2_blocks",
            "l2_levels",
        ] {
            assert!(schema.contains(&format!("CREATE TABLE {t} ")), "{t}");
        }
        assert!(schema.contains("pvm_status BLOB"));
        assert!(!schema.contains("context VARCHAR(54) NOT NULL"));
    }

    #[test]
    fn message_lists_round_trip_and_reject_truncation() {
        let msgs = vec![vec![0, 1], vec![], vec![1; 300]];
        let b = encode_message_list(&msgs);
        assert_eq!(decode_message_list(&b).unwrap(), msgs);
        assert!(decode_message_list(&b[..b.len() - 1]).is_err());
        assert!(decode_message_list(&[0, 0, 0, 1]).is_err());
        assert_eq!(
            decode_message_list(&encode_message_list(&[])).unwrap(),
            Vec::<Vec<u8>>::new()
        );
    }

    #[test]
    fn pvm_status_tags() {
        assert_eq!(PvmStatus::Computing.encode(), vec![1]);
        assert_eq!(PvmStatus::WaitingForInputMessage.encode(), vec![2]);
        assert_eq!(PvmStatus::from("Computing"), PvmStatus::Computing);
        let custom = PvmStatus::from("Waiting for preimage reveal abc");
        assert_eq!(
            custom,
            PvmStatus::Other("Waiting for preimage reveal abc".into())
        );
        let bytes = custom.encode();
        assert_eq!(bytes[0], 0);
        assert_eq!(PvmStatus::decode(&bytes).unwrap(), custom);
        assert_eq!(
            PvmStatus::decode(&[9]).unwrap(),
            PvmStatus::WaitingForReveal
        );
        assert_eq!(
            PvmStatus::decode(&[9]).unwrap().as_str(),
            "WaitingForReveal"
        );
        assert_eq!(PvmStatus::decode(b"Halted").unwrap(), PvmStatus::Halted);
        for (i, s) in PvmStatus::TAGGED.iter().enumerate() {
            assert_eq!(usize::from(s.encode()[0]), i + 1);
            assert_eq!(&PvmStatus::decode(&s.encode()).unwrap(), s);
        }
        assert!(PvmStatus::decode(&[]).is_err());
    }

    #[test]
    fn context_hashes_are_stored_in_base58_and_read_back_in_both_encodings() {
        let mut s = Store::open_in_memory().unwrap();
        let c = SmartRollupContextHash::new([7; 32]);
        let mut b = sample_block(2);
        b.context = Some(c);
        s.transaction(|w| w.insert_block(&b)).unwrap();
        let text: String = s
            .conn
            .query_row("SELECT context FROM l2_blocks WHERE level = 2", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(text, c.to_b58check());
        assert!(text.starts_with("SRCo"), "{text}");
        assert_eq!(
            s.block_by_hash(&b.block_hash).unwrap().unwrap().context,
            Some(c)
        );
        // A row written by an earlier version of this node (hex), for the same context.
        let mut legacy = sample_block(3);
        legacy.context = Some(c);
        s.transaction(|w| w.insert_block(&legacy)).unwrap();
        s.conn
            .execute(
                "UPDATE l2_blocks SET context = ?1 WHERE level = 3",
                ["07".repeat(32)],
            )
            .unwrap();
        assert_eq!(
            s.block_by_hash(&legacy.block_hash)
                .unwrap()
                .unwrap()
                .context,
            Some(c)
        );
        assert_eq!(s.contexts_from(Level::ZERO).unwrap(), vec![c]);
        s.conn
            .execute("UPDATE l2_blocks SET context = 'zz' WHERE level = 3", [])
            .unwrap();
        assert!(matches!(
            s.block_by_hash(&legacy.block_hash),
            Err(StoreError::Corrupted(m)) if m.contains("context")
        ));
    }

    #[test]
    fn batches_are_committed_together() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("batch.sqlite");
        let mut w = Store::open(&path).unwrap();
        let r = Store::open(&path).unwrap();
        let (b3, b4, b5) = (sample_block(3), sample_block(4), sample_block(5));
        w.begin_batch().unwrap();
        w.begin_batch().unwrap();
        w.transaction(|t| t.insert_block(&b3)).unwrap();
        // A failing transaction inside the batch is undone alone.
        let e = w.transaction(|t| {
            t.insert_block(&b4)?;
            Err::<(), _>(StoreError::FutureStore {
                applied: 9,
                known: 1,
            })
        });
        assert!(e.is_err());
        w.transaction(|t| t.insert_block(&b5)).unwrap();
        // The writer sees its batch, another connection does not until the commit.
        assert!(w.block_by_hash(&b3.block_hash).unwrap().is_some());
        assert!(r.block_by_hash(&b3.block_hash).unwrap().is_none());
        w.commit_batch().unwrap();
        assert!(r.block_by_hash(&b3.block_hash).unwrap().is_some());
        assert!(r.block_by_hash(&b4.block_hash).unwrap().is_none());
        assert!(r.block_by_hash(&b5.block_hash).unwrap().is_some());
        // A rolled back batch leaves nothing; outside a batch each transaction commits.
        w.begin_batch().unwrap();
        w.transaction(|t| t.insert_block(&b4)).unwrap();
        w.rollback_batch().unwrap();
        assert!(w.block_by_hash(&b4.block_hash).unwrap().is_none());
        w.commit_batch().unwrap();
        w.transaction(|t| t.insert_block(&b4)).unwrap();
        assert!(r.block_by_hash(&b4.block_hash).unwrap().is_some());
    }

    #[test]
    fn inboxes_decode_to_their_history_cell() {
        use tezos_types::BinEncode;
        use tezos_types::inbox::{Inbox, InboxHistoryCell};
        let genesis = InboxHistoryCell {
            witness: MerkelizedPayloadHashesHash::new([1; 32]),
            level: lv(4),
            index: 0,
            back_pointers: vec![],
        };
        let cell = genesis
            .next(MerkelizedPayloadHashesHash::new([2; 32]), lv(5))
            .unwrap();
        let inbox = Inbox {
            level: lv(5),
            old_levels_messages: cell,
        };
        let hash = inbox.hash();
        let mut s = Store::open_in_memory().unwrap();
        assert!(s.inbox(&hash).unwrap().is_none());
        s.transaction(|w| w.insert_inbox(&hash, lv(5), &inbox.to_bin()))
            .unwrap();
        let read = s.inbox(&hash).unwrap().unwrap();
        assert_eq!(read, inbox);
        // The inbox's hash is its history cell's: the cell a proof's history reads by hash.
        assert_eq!(read.old_levels_messages.hash(), hash);
        // A blob that does not decode is reported as corruption.
        let other = InboxHash::new([9; 32]);
        s.transaction(|w| w.insert_inbox(&other, lv(6), b"inbox"))
            .unwrap();
        assert!(matches!(s.inbox(&other), Err(StoreError::Corrupted(_))));
    }
}
