//! The chain: blocks (each with the state after it), the mempool, baking and reorgs.
//!
//! Pure: timestamps are inputs. Level 0 is the mainnet-style genesis block
//! (`BLockGenesis…`, chain id `NetXdQprcVkpaWU`, as the Octez sandbox), level 1 activates the
//! protocol (funded bootstrap accounts, genesis rollup inbox), level ≥ 2 are protocol blocks
//! holding manager operations in validation pass 3.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value, json};
use tezos_types::{
    BlockHash, BlockPayloadHash, ChainId, ContextHash, OperationHash, ProtocolHash, SecretKey,
};

use crate::accounts::{BOOTSTRAP_BALANCE, bootstrap_accounts};
use crate::block::{Header, empty_operations_hash, fitness, operations_hash};
use crate::constants::Constants;
use crate::ops::Operation;
use crate::state::{AppliedOperation, BlockCtx, ProtoError, State, finish_metadata, state_digest};

/// Hash of the genesis block (Octez sandbox = mainnet genesis).
pub const GENESIS_BLOCK: &str = "BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2";
/// Genesis protocol.
pub const GENESIS_PROTOCOL: &str = "ProtoGenesisGenesisGenesisGenesisGenesisGenesk612im";
/// The protocol run by the sandbox (Ushuaia, U025).
pub const PROTOCOL: &str = "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY";
/// Level of the protocol activation block.
pub const ACTIVATION_LEVEL: i32 = 1;

/// A block with its receipts and resulting state.
#[derive(Debug, Clone)]
pub struct Block {
    /// Hash.
    pub hash: BlockHash,
    /// Header.
    pub header: Header,
    /// Manager operations with receipts.
    pub operations: Vec<AppliedOperation>,
    /// State after the block.
    pub state: Arc<State>,
    /// Block-level balance updates (fees to the baker).
    pub balance_updates: Vec<Value>,
}

impl Block {
    /// Protocol of this block (`protocol` field).
    pub fn protocol(&self) -> &'static str {
        if self.header.level <= ACTIVATION_LEVEL {
            GENESIS_PROTOCOL
        } else {
            PROTOCOL
        }
    }
    /// Protocol of the next block.
    pub fn next_protocol(&self) -> &'static str {
        if self.header.level < ACTIVATION_LEVEL {
            GENESIS_PROTOCOL
        } else {
            PROTOCOL
        }
    }
    /// Round of the block (last fitness element).
    pub fn round(&self) -> i32 {
        self.header
            .fitness
            .get(4)
            .and_then(|b| <[u8; 4]>::try_from(b.as_slice()).ok())
            .map(i32::from_be_bytes)
            .unwrap_or(0)
    }
}

/// `max_operations_ttl`: the live window, in blocks, of branches and included operations.
pub const MAX_OPERATIONS_TTL: i32 = 240;

/// A block identifier as Octez parses it (`Block_services.parse_block`,
/// l1-and-signer.md §1.1): `head`, `genesis`, `checkpoint` / `savepoint` / `caboose`, a level
/// or a block hash, with at most one suffix `~n` or `-n` (n-th predecessor) or `+n` (n-th
/// successor; not after `head`; after `genesis` it names level n).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockId {
    /// `head~n` (n ≥ 0 predecessors of the head).
    Head(i64),
    /// `genesis` (level 0).
    Genesis,
    /// `checkpoint`, `savepoint` or `caboose` with an offset (positive: predecessors).
    Alias(i64),
    /// A level, offset already applied (may be negative: names no block).
    Level(i64),
    /// A block hash with an offset (positive: predecessors, negative: successors).
    Hash(BlockHash, i64),
}

/// A string that is not a block identifier (answered `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Cannot parse block identifier: {0}")]
pub struct BadBlockId(pub String);

impl BlockId {
    /// Parses a block identifier with Octez's rules (`parse_block` in
    /// `src/lib_shell_services/block_services.ml`): levels are non-negative int32, offsets
    /// non-negative integers, and a level `0` is genesis whatever its offset.
    pub fn parse(s: &str) -> Result<Self, BadBlockId> {
        Self::parse_opt(s).ok_or_else(|| BadBlockId(s.to_string()))
    }

    fn parse_opt(s: &str) -> Option<Self> {
        let delims: Vec<char> = s.chars().filter(|c| matches!(c, '~' | '-' | '+')).collect();
        let (parts, delim): (Vec<&str>, Option<char>) = match delims.as_slice() {
            [] => (vec![s], None),
            [d] => (s.split(*d).filter(|p| !p.is_empty()).collect(), Some(*d)),
            _ => return None,
        };
        let offset = |n: &str| n.parse::<u32>().ok().map(i64::from);
        let level = |l: &str| l.parse::<i32>().ok().filter(|l| *l >= 0).map(i64::from);
        let back = matches!(delim, Some('~' | '-'));
        let hash = |h: &str| h.parse::<BlockHash>().ok();
        match parts.as_slice() {
            ["genesis"] => Some(Self::Genesis),
            ["genesis", n] if delim == Some('+') => level(n).map(Self::Level),
            ["head"] => Some(Self::Head(0)),
            ["head", n] if back => offset(n).map(Self::Head),
            ["checkpoint" | "savepoint" | "caboose"] => Some(Self::Alias(0)),
            ["checkpoint" | "savepoint" | "caboose", n] => {
                offset(n).map(|n| Self::Alias(if back { n } else { -n }))
            }
            // A lone level is read from the whole string, so `-1` or `7~` do not parse.
            [hol] => match hash(hol) {
                Some(h) => Some(Self::Hash(h, 0)),
                None => level(s).map(|l| {
                    if l == 0 {
                        Self::Genesis
                    } else {
                        Self::Level(l)
                    }
                }),
            },
            [hol, n] => {
                let n = offset(n)?;
                let signed = if back { n } else { -n };
                match hash(hol) {
                    Some(h) => Some(Self::Hash(h, signed)),
                    None => {
                        let l = level(hol)?;
                        Some(if l == 0 {
                            Self::Genesis
                        } else {
                            Self::Level(l.checked_sub(signed)?)
                        })
                    }
                }
            }
            _ => None,
        }
    }
}

/// What a bake produced, as recorded in the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BakeRecord {
    /// Block timestamp.
    pub timestamp: i64,
    /// Round.
    pub round: i32,
    /// Included operations (signed bytes).
    pub operations: Vec<Vec<u8>>,
}

/// Errors of chain manipulation.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ChainError {
    /// Reorg deeper than the protocol blocks.
    #[error("cannot reorg {depth} blocks: only {available} protocol blocks")]
    ReorgTooDeep {
        /// Requested depth.
        depth: u32,
        /// Blocks above the activation block.
        available: u32,
    },
    /// A journaled block no longer validates (corrupted journal).
    #[error("journaled operation {0} is invalid on replay")]
    Replay(String),
    /// Level arithmetic overflow.
    #[error("level overflow")]
    Overflow,
}

/// The chain and its mempool.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Chain id.
    pub chain_id: ChainId,
    /// Constants.
    pub constants: Constants,
    blocks: Vec<Block>,
    /// Pending operations (validated at injection, re-validated at baking).
    pub mempool: Vec<(OperationHash, Operation)>,
    /// Blocks dropped by reorgs, still served by hash.
    orphans: BTreeMap<BlockHash, Block>,
    baker: SecretKey,
}

impl Chain {
    /// Genesis (level 0) and activation (level 1) blocks.
    pub fn new(constants: Constants, genesis_timestamp: i64) -> Self {
        let genesis_hash: BlockHash = GENESIS_BLOCK.parse().unwrap_or(BlockHash::ZERO);
        let chain_id = ChainId::of_block_hash(&genesis_hash);
        let accounts = bootstrap_accounts();
        let baker = accounts[0].secret_key.clone();
        let genesis_header = Header {
            level: 0,
            proto: 0,
            predecessor: genesis_hash,
            timestamp: genesis_timestamp,
            validation_pass: 0,
            operations_hash: empty_operations_hash(),
            fitness: vec![],
            context: ContextHash::ZERO,
            payload_hash: BlockPayloadHash::ZERO,
            payload_round: 0,
            proof_of_work_nonce: [0; 8],
            signature: None,
        };
        let funded: Vec<_> = accounts
            .iter()
            .map(|a| (a.pkh, BOOTSTRAP_BALANCE))
            .collect();
        let ctx = BlockCtx {
            level: crate::state::chain_level(ACTIVATION_LEVEL),
            predecessor: genesis_hash,
            predecessor_timestamp: genesis_timestamp,
            first_block_of_protocol: false,
        };
        let genesis = Block {
            hash: genesis_hash,
            header: genesis_header,
            operations: vec![],
            state: Arc::new(State {
                accounts: Default::default(),
                bridge_balance: 0,
                rollups: Default::default(),
                inbox: None,
                contract_storage: Default::default(),
                dal: Default::default(),
            }),
            balance_updates: vec![],
        };
        let mut chain = Self {
            chain_id,
            constants,
            blocks: vec![genesis],
            mempool: vec![],
            orphans: BTreeMap::new(),
            baker,
        };
        let state = State::genesis(&funded, &ctx);
        let ts = genesis_timestamp.saturating_add(1);
        chain.push_block(state, vec![], vec![], ts, 0);
        chain
    }

    /// The current head.
    pub fn head(&self) -> &Block {
        // `blocks` always holds genesis and activation.
        &self.blocks[self.blocks.len() - 1]
    }

    /// All blocks of the current chain, by level.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Block at a level.
    pub fn block_at(&self, level: i64) -> Option<&Block> {
        usize::try_from(level).ok().and_then(|l| self.blocks.get(l))
    }

    /// Block with this hash in the current chain, or a block dropped by a reorg.
    pub fn block_by_hash(&self, h: &BlockHash) -> Option<&Block> {
        self.blocks
            .iter()
            .rev()
            .find(|b| b.hash == *h)
            .or_else(|| self.orphans.get(h))
    }

    /// Whether `b` is on the current chain.
    fn is_current(&self, b: &Block) -> bool {
        self.block_at(i64::from(b.header.level))
            .is_some_and(|c| c.hash == b.hash)
    }

    /// The `n`-th predecessor of `b` (following predecessor links for dropped blocks).
    pub fn ancestor<'a>(&'a self, mut b: &'a Block, mut n: i64) -> Option<&'a Block> {
        while n > 0 {
            if self.is_current(b) {
                return self.block_at(i64::from(b.header.level).checked_sub(n)?);
            }
            b = self.block_by_hash(&b.header.predecessor)?;
            n -= 1;
        }
        Some(b)
    }

    /// Resolves a block id string (see [`BlockId::parse`]); `None` when it does not parse or
    /// names no block.
    pub fn resolve(&self, id: &str) -> Option<&Block> {
        self.lookup(&BlockId::parse(id).ok()?)
    }

    /// The block a parsed id names, if any: offsets follow the current chain (successors only
    /// exist there), or the predecessor links of a block dropped by a reorg.
    pub fn lookup(&self, id: &BlockId) -> Option<&Block> {
        let (base, offset) = match *id {
            BlockId::Genesis => return self.block_at(0),
            BlockId::Level(l) => return self.block_at(l),
            BlockId::Head(n) => (self.head(), n),
            // The sandbox keeps every block: its checkpoint, savepoint and caboose are genesis.
            BlockId::Alias(n) => (self.block_at(0)?, n),
            BlockId::Hash(ref h, n) => (self.block_by_hash(h)?, n),
        };
        if offset >= 0 {
            self.ancestor(base, offset)
        } else if self.is_current(base) {
            self.block_at(i64::from(base.header.level).checked_sub(offset)?)
        } else {
            None
        }
    }

    fn next_ctx(&self) -> BlockCtx {
        let head = self.head();
        let level = head.header.level.saturating_add(1);
        BlockCtx {
            level: crate::state::chain_level(level),
            predecessor: head.hash,
            predecessor_timestamp: head.header.timestamp,
            first_block_of_protocol: level == ACTIVATION_LEVEL + 1,
        }
    }

    /// The state the next operation would see: head state plus the mempool.
    fn mempool_state(&self) -> State {
        let ctx = self.next_ctx();
        let mut st = (*self.head().state).clone();
        for (h, op) in &self.mempool {
            if st.validate(op, &self.constants, false).is_ok() {
                st.apply_operation(op, h, &ctx, &self.constants);
            }
        }
        st
    }

    /// Validates and adds an operation to the mempool (`/injection/operation`).
    ///
    /// An operation already known (pending in the mempool, or included in one of the last
    /// [`MAX_OPERATIONS_TTL`] blocks of the current chain) is not validated again and its hash
    /// is answered, as Octez's prevalidator does (`on_inject`: `already_handled` returns
    /// `unit`, so `/injection/operation` answers `200` with the hash; l1-and-signer.md §1.8 step 6).
    pub fn inject(&mut self, op: Operation) -> Result<OperationHash, ProtoError> {
        let hash = op.hash();
        if self.is_known(&hash) {
            return Ok(hash);
        }
        self.mempool_state().validate(&op, &self.constants, true)?;
        self.mempool.push((hash, op));
        Ok(hash)
    }

    /// Whether an operation is pending or included in a live block of the current chain
    /// (Octez `already_handled`: classified in the mempool or in `live_operations`).
    pub fn is_known(&self, hash: &OperationHash) -> bool {
        let live = usize::try_from(MAX_OPERATIONS_TTL).unwrap_or(usize::MAX);
        self.mempool.iter().any(|(h, _)| h == hash)
            || self
                .blocks
                .iter()
                .rev()
                .take(live)
                .any(|b| b.operations.iter().any(|a| a.hash == *hash))
    }

    /// Simulates an operation on top of head and mempool (`run_operation`,
    /// `simulate_operation`, `preapply`); returns its JSON with receipts.
    pub fn simulate(&self, op: &Operation, check_signature: bool) -> Result<Value, ProtoError> {
        let mut st = self.mempool_state();
        st.validate(op, &self.constants, check_signature)?;
        let ctx = self.next_ctx();
        let (applied, _) = st.apply_operation(op, &op.hash(), &ctx, &self.constants);
        let mut j = applied.to_json(PROTOCOL, &self.chain_id.to_b58check());
        finish_contents(&mut j);
        Ok(j)
    }

    /// Bakes a block with the mempool at `max(now, predecessor + minimal_block_delay)`.
    pub fn bake(&mut self, now: i64) -> BakeRecord {
        let delay = i64::try_from(self.constants.minimal_block_delay).unwrap_or(1);
        let ts = now.max(self.head().header.timestamp.saturating_add(delay));
        let ops = std::mem::take(&mut self.mempool);
        self.bake_ops(ts, 0, ops.into_iter().map(|(_, o)| o).collect(), false)
            .unwrap_or_else(|_| BakeRecord {
                timestamp: ts,
                round: 0,
                operations: vec![],
            })
    }

    /// Bakes a block with exactly `ops` (those failing validation are dropped, or rejected
    /// when `strict`, for journal replay).
    pub fn bake_ops(
        &mut self,
        timestamp: i64,
        round: i32,
        ops: Vec<Operation>,
        strict: bool,
    ) -> Result<BakeRecord, ChainError> {
        let ctx = self.next_ctx();
        let mut st = (*self.head().state).clone();
        let mut messages = State::begin_level(&ctx);
        let mut applied = Vec::new();
        let mut included = Vec::new();
        for op in ops {
            let h = op.hash();
            if let Err(e) = st.validate(&op, &self.constants, true) {
                if strict {
                    return Err(ChainError::Replay(format!("{h}: {}", e.id)));
                }
                continue;
            }
            let (a, msgs) = st.apply_operation(&op, &h, &ctx, &self.constants);
            messages.extend(msgs);
            included.push(op.signed_bytes());
            applied.push(a);
        }
        // The DAL: this level's skip-list cells, then their `Dal_attested_slots` messages
        // after the operations' messages (docs/reference/dal.md §2.1 step 5).
        st.dal.finalize(
            ctx.level.into(),
            &self.constants.dal_parametric,
            &self.constants.sandbox_dal_unattested_slots,
        );
        messages.extend(self.dal_messages(&st));
        st.finalize_level(ctx.level, messages);
        // Fees go to the baker (bootstrap1).
        let fees: u64 = applied
            .iter()
            .flat_map(|a| a.operation.contents.iter().map(|c| c.fee.0))
            .fold(0u64, u64::saturating_add);
        let mut balance_updates = vec![];
        if fees > 0 {
            let baker = self.baker.public_key_hash();
            if let Some(a) = st.accounts.get_mut(&baker) {
                a.balance = a.balance.saturating_add(fees);
            }
            balance_updates.push(json!({"kind":"accumulator","category":"block fees","change":format!("-{fees}"),"origin":"block"}));
            balance_updates.push(json!({"kind":"contract","contract":baker.to_b58check(),"change":fees.to_string(),"origin":"block"}));
        }
        self.push_block(st, applied, balance_updates, timestamp, round);
        Ok(BakeRecord {
            timestamp,
            round,
            operations: included,
        })
    }

    /// The `Dal_attested_slots` messages of the cells `st` recorded, built by the node's own
    /// code (`inbox::dal`) from the JSON the sandbox serves, so both sides agree by
    /// construction on everything but the cells themselves.
    fn dal_messages(&self, st: &State) -> Vec<tezos_types::InboxMessage> {
        if st.dal.level_cells.is_empty() {
            return Vec::new();
        }
        let built = inbox::dal::skip_list_cells_of_json(&st.dal.cells_json()).and_then(|cells| {
            let p = inbox::dal::DalParameters::from_json(
                &self.constants.to_rpc_json()["dal_parametric"],
            )?;
            let params = inbox::dal::levels_needing_parameters(&cells)
                .into_iter()
                .map(|l| (l, p.clone()))
                .collect();
            inbox::dal::dal_attested_slots_messages(&cells, &params)
        });
        built.unwrap_or_else(|e| {
            tracing::error!("sandbox bug: cannot build the DAL inbox messages: {e}");
            Vec::new()
        })
    }

    fn push_block(
        &mut self,
        state: State,
        operations: Vec<AppliedOperation>,
        balance_updates: Vec<Value>,
        timestamp: i64,
        round: i32,
    ) {
        let head = self.head();
        let level = head.header.level.saturating_add(1);
        let op_hashes: Vec<OperationHash> = operations.iter().map(|a| a.hash).collect();
        let mut payload = head.hash.0.to_vec();
        payload.extend_from_slice(&round.to_be_bytes());
        for h in &op_hashes {
            payload.extend_from_slice(&h.0);
        }
        let mut header = Header {
            level,
            proto: 1,
            predecessor: head.hash,
            timestamp,
            validation_pass: 4,
            operations_hash: operations_hash(&op_hashes),
            fitness: fitness(level, head.round(), round),
            context: ContextHash(state_digest(&state)),
            payload_hash: BlockPayloadHash(tezos_types::hash::blake2b::<32>(&[&payload])),
            payload_round: round,
            proof_of_work_nonce: [0; 8],
            signature: None,
        };
        header.sign(&self.chain_id, &self.baker);
        let hash = header.hash();
        self.blocks.push(Block {
            hash,
            header,
            operations,
            state: Arc::new(state),
            balance_updates,
        });
    }

    /// Removes the last `depth` blocks; their operations go back to the front of the
    /// mempool (in block order).
    pub fn pop(&mut self, depth: u32) -> Result<(), ChainError> {
        let available = u32::try_from(self.blocks.len().saturating_sub(2)).unwrap_or(0);
        if depth > available {
            return Err(ChainError::ReorgTooDeep { depth, available });
        }
        let keep = self.blocks.len() - depth as usize;
        let dropped = self.blocks.split_off(keep);
        let mut back: Vec<(OperationHash, Operation)> = dropped
            .iter()
            .flat_map(|b| b.operations.iter().map(|a| (a.hash, a.operation.clone())))
            .collect();
        for b in dropped {
            self.orphans.insert(b.hash, b);
        }
        back.append(&mut self.mempool);
        self.mempool = back;
        Ok(())
    }

    /// Replaces the last `depth` blocks by a new branch of `depth` empty round-1 blocks at the
    /// same levels (higher fitness); dropped operations wait in the mempool.
    pub fn reorg(&mut self, depth: u32) -> Result<Vec<BakeRecord>, ChainError> {
        let old: Vec<i64> = self
            .blocks
            .iter()
            .rev()
            .take(depth as usize)
            .map(|b| b.header.timestamp)
            .collect();
        self.pop(depth)?;
        let mut records = vec![];
        for ts in old.into_iter().rev() {
            records.push(self.bake_ops(ts.saturating_add(1), 1, vec![], false)?);
        }
        Ok(records)
    }

    /// Full block JSON with receipts (`/chains/<c>/blocks/<id>`, §1.3.1).
    pub fn block_json(&self, b: &Block) -> Value {
        let chain_id = self.chain_id.to_b58check();
        let protocol = b.protocol();
        let managers: Vec<Value> = b
            .operations
            .iter()
            .map(|a| {
                let mut j = a.to_json(protocol, &chain_id);
                finish_contents(&mut j);
                j
            })
            .collect();
        json!({
            "protocol": protocol,
            "chain_id": chain_id,
            "hash": b.hash.to_b58check(),
            "header": b.header.full_json(&b.hash, protocol, &self.chain_id)
                .as_object()
                .map(|m| {
                    let mut m = m.clone();
                    m.remove("protocol");
                    m.remove("chain_id");
                    m.remove("hash");
                    Value::Object(m)
                })
                .unwrap_or(Value::Null),
            "metadata": {
                "protocol": protocol,
                "next_protocol": b.next_protocol(),
                "test_chain_status": {"status":"not_running"},
                "max_operations_ttl": MAX_OPERATIONS_TTL,
                "max_operation_data_length": 32768,
                "max_block_header_length": 289,
                "max_operation_list_length": [
                    {"max_size":4194304,"max_op":2048},{"max_size":32768},
                    {"max_size":135168,"max_op":132},{"max_size":524288}
                ],
                "proposer": self.baker.public_key_hash().to_b58check(),
                "baker": self.baker.public_key_hash().to_b58check(),
                "level_info": {
                    "level": b.header.level,
                    "level_position": b.header.level.saturating_sub(1).max(0),
                    "cycle": 0, "cycle_position": b.header.level.saturating_sub(1).max(0),
                    "expected_commitment": false
                },
                "balance_updates": b.balance_updates,
                "consumed_milligas": "0",
            },
            "operations": [[], [], [], managers],
        })
    }

    /// `protocol_hash` of the current protocol.
    pub fn protocol_hash() -> ProtocolHash {
        PROTOCOL.parse().unwrap_or(ProtocolHash::ZERO)
    }
}

fn finish_contents(op: &mut Value) {
    if let Some(cs) = op.get_mut("contents").and_then(Value::as_array_mut) {
        for c in cs {
            if let Some(m) = c.get_mut("metadata") {
                finish_metadata(m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::{ManagerOperation, OperationContent};
    use tezos_types::PublicKeyHash;
    use tezos_types::{Contract, Mutez};

    fn transfer(
        chain: &Chain,
        from: usize,
        to: PublicKeyHash,
        amount: u64,
        counter: u64,
        reveal: bool,
    ) -> Operation {
        let acc = &bootstrap_accounts()[from];
        let mut contents = vec![];
        let mut counter = counter;
        if reveal {
            contents.push(ManagerOperation {
                source: acc.pkh,
                fee: Mutez(1000),
                counter,
                gas_limit: 1000,
                storage_limit: 0,
                content: OperationContent::Reveal {
                    public_key: acc.secret_key.public_key(),
                    proof: None,
                },
            });
            counter += 1;
        }
        contents.push(ManagerOperation {
            source: acc.pkh,
            fee: Mutez(1000),
            counter,
            gas_limit: 3000,
            storage_limit: 300,
            content: OperationContent::Transaction {
                amount: Mutez(amount),
                destination: Contract::Implicit(to),
                parameters: None,
            },
        });
        let mut op = Operation {
            branch: chain.head().hash,
            contents,
            signature: None,
        };
        op.signature = Some(acc.secret_key.sign_operation(&op.unsigned_bytes()));
        op
    }

    #[test]
    fn genesis_and_activation() {
        let c = Chain::new(Constants::test(), 1_700_000_000);
        assert_eq!(c.chain_id.to_b58check(), "NetXdQprcVkpaWU");
        assert_eq!(c.head().header.level, 1);
        assert_eq!(c.blocks()[0].hash.to_b58check(), GENESIS_BLOCK);
        assert_eq!(c.head().header.predecessor, c.blocks()[0].hash);
        assert_eq!(c.head().state.accounts.len(), 5);
        assert_eq!(
            c.head().state.inbox.as_ref().unwrap().level,
            crate::state::chain_level(1)
        );
    }

    #[test]
    fn transfer_then_counter_replay_refused() {
        let mut c = Chain::new(Constants::test(), 1_700_000_000);
        let b = bootstrap_accounts();
        let op = transfer(&c, 1, b[2].pkh, 5_000_000, 1, true);
        c.inject(op).unwrap();
        c.bake(1_700_000_010);
        let st = &c.head().state;
        assert_eq!(
            st.accounts[&b[1].pkh].balance,
            BOOTSTRAP_BALANCE - 5_000_000 - 2000
        );
        assert_eq!(
            st.accounts[&b[2].pkh].balance,
            BOOTSTRAP_BALANCE + 5_000_000
        );
        assert_eq!(st.accounts[&b[1].pkh].counter, 2);
        // Same counter again: counter in the past.
        let again = transfer(&c, 1, b[2].pkh, 1, 3, false);
        let err = c
            .inject(transfer(&c, 1, b[2].pkh, 1, 2, false))
            .unwrap_err();
        assert!(err.id.ends_with("counter_in_the_past"), "{}", err.id);
        c.inject(again).unwrap();
    }

    #[test]
    fn bad_signature_and_unrevealed_refused() {
        let mut c = Chain::new(Constants::test(), 1_700_000_000);
        let b = bootstrap_accounts();
        let mut op = transfer(&c, 1, b[2].pkh, 5, 1, true);
        op.signature = Some(b[3].secret_key.sign_operation(&op.unsigned_bytes()));
        assert!(c.inject(op).unwrap_err().id.ends_with("invalid_signature"));
        let op = transfer(&c, 1, b[2].pkh, 5, 1, false);
        assert!(c.inject(op).unwrap_err().id.ends_with("unrevealed_key"));
        assert!(c.mempool.is_empty());
    }

    #[test]
    fn reorg_returns_ops_to_mempool() {
        let mut c = Chain::new(Constants::test(), 1_700_000_000);
        let b = bootstrap_accounts();
        c.inject(transfer(&c, 1, b[2].pkh, 5, 1, true)).unwrap();
        c.bake(0);
        let old_head = c.head().hash;
        let level = c.head().header.level;
        c.reorg(1).unwrap();
        assert_eq!(c.head().header.level, level);
        assert_ne!(c.head().hash, old_head);
        assert_eq!(c.mempool.len(), 1);
        assert_eq!(c.head().state.accounts[&b[1].pkh].counter, 0);
        c.bake(0);
        assert_eq!(c.head().operations.len(), 1);
        assert!(c.reorg(100).is_err());
        // The dropped block is still served by hash, with its own ancestry.
        let old = c.resolve(&old_head.to_b58check()).unwrap();
        assert_eq!(old.header.level, level);
        assert!(!c.is_current(old));
        let parent = c.resolve(&format!("{old_head}~1")).unwrap();
        assert_eq!(parent.hash, old.header.predecessor);
        assert!(c.is_current(parent));
        assert_eq!(
            c.resolve(&format!("{old_head}~2")).unwrap().header.level,
            level - 2
        );
    }

    #[test]
    fn block_ids_parse_as_octez_does() {
        let h: BlockHash = GENESIS_BLOCK.parse().unwrap();
        let ok = |s: &str| BlockId::parse(s).unwrap();
        assert_eq!(ok("head"), BlockId::Head(0));
        assert_eq!(ok("head~3"), BlockId::Head(3));
        assert_eq!(ok("head-3"), BlockId::Head(3));
        assert_eq!(ok("genesis"), BlockId::Genesis);
        assert_eq!(ok("genesis+4"), BlockId::Level(4));
        assert_eq!(ok("0"), BlockId::Genesis);
        assert_eq!(ok("0~5"), BlockId::Genesis);
        assert_eq!(ok("7"), BlockId::Level(7));
        assert_eq!(ok("7~2"), BlockId::Level(5));
        assert_eq!(ok("7+2"), BlockId::Level(9));
        assert_eq!(ok("3~5"), BlockId::Level(-2));
        assert_eq!(ok("checkpoint"), BlockId::Alias(0));
        assert_eq!(ok("savepoint+2"), BlockId::Alias(-2));
        assert_eq!(ok(GENESIS_BLOCK), BlockId::Hash(h, 0));
        assert_eq!(ok(&format!("{GENESIS_BLOCK}~1")), BlockId::Hash(h, 1));
        assert_eq!(ok(&format!("{GENESIS_BLOCK}+1")), BlockId::Hash(h, -1));
        for bad in [
            "",
            "xyz",
            "head+1",
            "head~x",
            "head~-1",
            "-1",
            "7~",
            "genesis~1",
            "2147483648",
            "BLnope",
            "1~2~3",
        ] {
            assert!(BlockId::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn block_ids_resolve_on_the_chain() {
        let mut c = Chain::new(Constants::test(), 1_700_000_000);
        c.bake(0);
        c.bake(0);
        let level = |s: &str| c.resolve(s).map(|b| b.header.level);
        assert_eq!(level("head"), Some(3));
        assert_eq!(level("head~1"), Some(2));
        assert_eq!(level("head~4"), None);
        assert_eq!(level("genesis+2"), Some(2));
        assert_eq!(level("3~5"), None);
        assert_eq!(level("9"), None);
        assert_eq!(level("savepoint+3"), Some(3));
        assert_eq!(level("caboose~1"), None);
        let h1 = c.block_at(1).unwrap().hash;
        assert_eq!(level(&format!("{h1}+2")), Some(3));
        assert_eq!(level(&format!("{h1}+3")), None);
        assert_eq!(level(&format!("{h1}~1")), Some(0));
        // A hash that is no block of the chain.
        assert_eq!(level(&BlockHash([7; 32]).to_b58check()), None);
    }

    #[test]
    fn known_operations_are_answered_without_revalidation() {
        let mut c = Chain::new(Constants::test(), 1_700_000_000);
        let b = bootstrap_accounts();
        let op = transfer(&c, 1, b[2].pkh, 5, 1, true);
        let h = c.inject(op.clone()).unwrap();
        // Pending: same hash, still one operation in the mempool.
        assert_eq!(c.inject(op.clone()), Ok(h));
        assert_eq!(c.mempool.len(), 1);
        c.bake(0);
        // Included in a live block: known, not put back (it would fail: counter in the past).
        assert!(c.is_known(&h));
        assert_eq!(c.inject(op.clone()), Ok(h));
        assert!(c.mempool.is_empty());
        // Once out of the live window, it is validated again, and refused.
        for _ in 0..MAX_OPERATIONS_TTL {
            c.bake(0);
        }
        assert!(!c.is_known(&h));
        let e = c.inject(op).unwrap_err();
        assert!(e.id.ends_with("counter_in_the_past"), "{}", e.id);
    }
}
