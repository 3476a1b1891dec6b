//! The pure state transition of the sandbox L1: accounts, the bridge contract, smart rollups
//! (commitments, stakes, cementation, outbox execution) and the rollup inbox of the current
//! level.
//!
//! No clock, no I/O: the block context (level, timestamps) is passed in. Deterministic
//! failures are values ([`ProtoError`]). Rules: l1-and-signer.md §2 (operations, receipts
//! §2.11; outbox execution §2.9), §3.2 (inbox order) and octez-rollup-node.md §6.2
//! (publish/cement/recover).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tezos_types::inbox::{Inbox, InboxHistoryCell, InfoPerLevel, Transfer, level_witness};
use tezos_types::micheline::BinMicheline;
use tezos_types::{
    BinDecode, BinEncode, BlockHash, CommitmentHash, ContractHash, InboxMessage, InternalMessage,
    Level, Micheline, OperationHash, Prim, PublicKey, PublicKeyHash, SmartRollupAddress, StateHash,
    Watermark,
};

use crate::constants::Constants;
use crate::ops::{
    Commitment, ManagerOperation, Operation, OperationContent, PvmKind, content_json, pvm_kind_name,
};
use tezos_types::Contract;

/// Error-id prefix of the current protocol (`proto.<version>.`).
pub const PROTO_ERROR_PREFIX: &str = "proto.025-PsUshuai";

/// Protocol-migration message payload of Ushuaia (l1-and-signer.md §3.1).
pub const PROTOCOL_MIGRATION_VERSION: &str = "u025_025";

/// Storage bytes of a new rollup beyond `smart_rollup_origination_size` (6552 − 6314).
const ORIGINATION_EXTRA_SIZE: u64 = 238;

/// Bytes burnt per allocated implicit account (`origination_size` × `cost_per_byte`).
const ALLOCATION_SIZE: u64 = 257;

/// Gas costs (milligas) charged per content kind. The sandbox uses a flat model; what matters
/// is that simulation and application agree (`consumed_milligas ≤ gas_limit × 1000`).
mod gas {
    pub(super) const REVEAL: u64 = 1_000_000;
    pub(super) const TRANSFER_IMPLICIT: u64 = 2_101_000;
    pub(super) const TRANSFER_CONTRACT: u64 = 3_000_000;
    pub(super) const ORIGINATE: u64 = 2_850_000;
    pub(super) const ADD_MESSAGES_BASE: u64 = 1_000_000;
    pub(super) const PER_BYTE: u64 = 100;
    pub(super) const PUBLISH: u64 = 6_000_000;
    pub(super) const CEMENT: u64 = 5_000_000;
    pub(super) const RECOVER_BOND: u64 = 4_000_000;
    /// `smart_rollup_execute_outbox_message`: proof decoding and verification.
    pub(super) const EXECUTE_OUTBOX_MESSAGE: u64 = 8_000_000;
    /// Each transaction an outbox message emits.
    pub(super) const OUTBOX_TRANSACTION: u64 = 2_000_000;
    /// `dal_publish_commitment` (U025 `dal_costs_generated.ml`, `cost_Dal_publish_commitment`).
    pub(super) const DAL_PUBLISH_COMMITMENT: u64 = 1_160_000;
    /// `smart_rollup_refute` (plus `PER_BYTE` of a proof's PVM step).
    pub(super) const REFUTE: u64 = 6_000_000;
    /// `smart_rollup_timeout`.
    pub(super) const TIMEOUT: u64 = 4_000_000;
}

/// Error category of a protocol error (`"kind"` of the JSON error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCategory {
    /// Will never succeed.
    Permanent,
    /// May succeed later.
    Temporary,
    /// Depends on the branch.
    Branch,
}

/// A Tezos-style error: `{"kind":"permanent","id":"proto.….x", …fields}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtoError {
    /// Category.
    pub category: ErrorCategory,
    /// Full id.
    pub id: String,
    /// Extra fields.
    pub fields: Map<String, Value>,
}

impl ProtoError {
    /// A permanent protocol error `proto.025-PsUshuai.<id>`.
    pub fn permanent(id: &str) -> Self {
        Self::new(
            ErrorCategory::Permanent,
            &format!("{PROTO_ERROR_PREFIX}.{id}"),
        )
    }
    /// A temporary protocol error `proto.025-PsUshuai.<id>`.
    pub fn temporary(id: &str) -> Self {
        Self::new(
            ErrorCategory::Temporary,
            &format!("{PROTO_ERROR_PREFIX}.{id}"),
        )
    }
    /// An error with an explicit category and full id.
    pub fn new(category: ErrorCategory, id: &str) -> Self {
        Self {
            category,
            id: id.to_string(),
            fields: Map::new(),
        }
    }
    /// Adds a field.
    pub fn with(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.fields.insert(k.to_string(), v.into());
        self
    }
    /// The JSON error object.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(
            "kind".into(),
            json!(match self.category {
                ErrorCategory::Permanent => "permanent",
                ErrorCategory::Temporary => "temporary",
                ErrorCategory::Branch => "branch",
            }),
        );
        m.insert("id".into(), json!(self.id));
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// JSON array of errors.
pub fn errors_json(errs: &[ProtoError]) -> Value {
    Value::Array(errs.iter().map(ProtoError::to_json).collect())
}

/// An implicit account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Account {
    /// Balance (mutez).
    pub balance: u64,
    /// Last used counter.
    pub counter: u64,
    /// Revealed public key.
    pub manager_key: Option<PublicKey>,
}

/// A stored commitment and its publication data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitmentInfo {
    /// The commitment.
    pub commitment: Commitment,
    /// Level of its first publication.
    pub first_published_at_level: Level,
    /// Stakers on it.
    pub stakers: BTreeSet<PublicKeyHash>,
}

/// A smart rollup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollup {
    /// PVM kind.
    pub kind: PvmKind,
    /// Boot sector.
    pub boot_sector: Arc<Vec<u8>>,
    /// Parameter type.
    pub parameters_ty: BinMicheline,
    /// Whitelist of a private rollup.
    pub whitelist: Option<Vec<PublicKeyHash>>,
    /// Origination level.
    pub origination_level: Level,
    /// Genesis commitment hash.
    pub genesis_commitment: CommitmentHash,
    /// Known commitments.
    pub commitments: BTreeMap<CommitmentHash, CommitmentInfo>,
    /// Last commitment staked on by each staker (with a frozen bond).
    pub stakers: BTreeMap<PublicKeyHash, CommitmentHash>,
    /// Last cemented commitment.
    pub lcc: CommitmentHash,
    /// Inbox level of the LCC.
    pub lcc_level: Level,
    /// The cemented commitments still stored, oldest first, the LCC last (at most
    /// `smart_rollup_max_number_of_cemented_commitments`): outbox messages are executed
    /// against one of them (`check_if_commitments_are_related`).
    pub cemented: Vec<CommitmentHash>,
    /// Executed outbox messages: slot `level mod max_active_outbox_levels` → (that level,
    /// executed message indices) (`sc_rollup_outbox_storage.ml`).
    pub applied_outbox: BTreeMap<i32, (i32, BTreeSet<u64>)>,
    /// Amount of the bridge's tickets the rollup holds (deposits mint them, withdrawals
    /// burn them).
    pub ticket_balance: u64,
    /// Last whitelist update executed `(outbox level, message index)` (private rollups).
    pub last_whitelist_update: Option<(i32, u64)>,
    /// Ongoing refutation games (`crate::refutation`).
    pub games: BTreeMap<refutation_game::Index, refutation_game::Game>,
    /// The players' clocks of each game.
    pub game_timeouts: BTreeMap<refutation_game::Index, refutation_game::Timeout>,
}

/// The protocol's inbox message size rule: the serialized message (union tag `00` internal /
/// `01` external, then its body) must fit `smart_rollup_message_size_limit` bytes, limit
/// included (`Sc_rollup_inbox_message_repr.encoding` is `check_size limit`, and `serialize`
/// fails with `smart_rollup_inbox_message_encoding`; l1-and-signer.md §3.1). An external
/// payload can thus be at most `limit - 1` bytes (4095 on mainnet).
pub fn check_message_size(msg: &InboxMessage, constants: &Constants) -> Result<(), ProtoError> {
    let size = msg.to_bin().len();
    let limit = usize::try_from(constants.smart_rollup_message_size_limit).unwrap_or(usize::MAX);
    if size > limit {
        return Err(ProtoError::permanent("smart_rollup_inbox_message_encoding"));
    }
    Ok(())
}

/// Checks a `dal_publish_commitment` as `Dal_apply.validate_publish_commitment` does: the DAL
/// is enabled, the slot index is below `number_of_slots`, the proof matches the commitment
/// (`Cryptobox.verify_commitment`, with Octez's test SRS: `crate::dal`).
fn validate_dal_publish(
    h: &tezos_types::operation::DalSlotHeader,
    constants: &Constants,
) -> Result<(), ProtoError> {
    let d = &constants.dal_parametric;
    if !d.feature_enable {
        return Err(ProtoError::permanent("operation.dal_disabled").with(
            "msg",
            "the DAL is disabled: start the sandbox with constants that set \
             dal_parametric.feature_enable to true",
        ));
    }
    if u16::from(h.slot_index) >= d.number_of_slots {
        return Err(
            ProtoError::permanent("dal_publish_commitment_invalid_index")
                .with("given", h.slot_index)
                .with("got", d.number_of_slots.saturating_sub(1))
                .with(
                    "msg",
                    format!(
                        "slot index {} is out of range: the slots are 0 to {}",
                        h.slot_index,
                        d.number_of_slots.saturating_sub(1)
                    ),
                ),
        );
    }
    if !crate::dal::commitment_proof_is_valid(d, &h.commitment, &h.commitment_proof) {
        return Err(
            ProtoError::permanent("dal_publish_commitment_invalid_proof")
                .with("commitment", h.commitment.to_b58check())
                .with("commitment_proof", h.commitment_proof.to_string())
                .with(
                    "msg",
                    "the commitment proof does not match the commitment: take both from the \
                 sandbox's DAL node (POST /slots)",
                ),
        );
    }
    Ok(())
}

/// Fixed address of the built-in bridge contract.
pub fn bridge_address() -> ContractHash {
    ContractHash::hash_bytes(b"smart-rollup-sandbox bridge")
}

/// The whole L1 state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Implicit accounts.
    pub accounts: BTreeMap<PublicKeyHash, Account>,
    /// Balance of the bridge contract (tez locked by deposits).
    pub bridge_balance: u64,
    /// Smart rollups.
    pub rollups: BTreeMap<SmartRollupAddress, Rollup>,
    /// The rollup inbox (after the last finalized level).
    pub inbox: Option<Inbox>,
    /// Storage of the built-in recorder contracts (every originated address other than the
    /// bridge): the last parameter each received from an outbox message.
    pub contract_storage: BTreeMap<ContractHash, BinMicheline>,
    /// The DAL: pending slot headers and the skip list (`crate::dal`).
    pub dal: crate::dal::DalState,
}

/// A level of the sandbox's own chain as a [`Level`]: its levels start at
/// [`crate::chain::ACTIVATION_LEVEL`] and only grow, so a negative one is a bug of the sandbox.
pub(crate) fn chain_level(l: i32) -> Level {
    Level::new(l).unwrap_or_else(|| {
        panic!("sandbox level {l} is negative: the sandbox's levels start at 1 and only grow")
    })
}

/// A constant counted in blocks (period, window, lookahead) as the `u32` the pure crates take:
/// the sandbox's constants are positive, a negative one reads as 0 (no block).
pub(crate) fn blocks(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// Context of the block being applied.
#[derive(Debug, Clone)]
pub struct BlockCtx {
    /// Level of the block.
    pub level: Level,
    /// Predecessor hash.
    pub predecessor: BlockHash,
    /// Predecessor timestamp (seconds).
    pub predecessor_timestamp: i64,
    /// First block of the protocol (activation level + 1): adds `Protocol_migration`.
    pub first_block_of_protocol: bool,
}

/// Result of one content.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentReceipt {
    /// `metadata` JSON.
    pub metadata: Value,
}

/// An operation as included in a block.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedOperation {
    /// Hash.
    pub hash: OperationHash,
    /// The operation.
    pub operation: Operation,
    /// Receipts per content.
    pub receipts: Vec<ContentReceipt>,
}

impl AppliedOperation {
    /// Block JSON of the operation with receipts (l1-and-signer.md §1.3.1).
    pub fn to_json(&self, protocol: &str, chain_id: &str) -> Value {
        let contents: Vec<Value> = self
            .operation
            .contents
            .iter()
            .zip(&self.receipts)
            .map(|(c, r)| {
                let mut j = content_json(c);
                if let Value::Object(m) = &mut j {
                    m.insert("metadata".into(), r.metadata.clone());
                }
                j
            })
            .collect();
        let mut m = Map::new();
        m.insert("protocol".into(), json!(protocol));
        m.insert("chain_id".into(), json!(chain_id));
        m.insert("hash".into(), json!(self.hash.to_b58check()));
        m.insert("branch".into(), json!(self.operation.branch.to_b58check()));
        m.insert("contents".into(), Value::Array(contents));
        if let Some(s) = &self.operation.signature {
            m.insert("signature".into(), json!(s.to_b58check()));
        }
        Value::Object(m)
    }
}

fn contract_update(c: &str, change: i128) -> Value {
    json!({"kind":"contract","contract":c,"change":change.to_string(),"origin":"block"})
}

/// The genesis PVM state hash of a boot sector (`Sc_rollup.genesis_state_hash_of`,
/// wasm-pvm.md §7.1). One call to change when the PVM evolves.
pub fn genesis_state_hash(kind: PvmKind, boot_sector: &[u8]) -> Result<StateHash, ProtoError> {
    match kind {
        PvmKind::Wasm => {
            let st = wasm_pvm::PvmState::genesis(
                wasm_pvm::PvmVersion::V6,
                boot_sector,
                &wasm_pvm::GenesisParams::default(),
            )
            .map_err(|e| {
                ProtoError::permanent("smart_rollup.invalid_boot_sector").with("msg", e.to_string())
            })?;
            let h = st.hash().map_err(|e| {
                ProtoError::permanent("smart_rollup.invalid_boot_sector").with("msg", e.to_string())
            })?;
            Ok(StateHash(h.0))
        }
        PvmKind::Arith | PvmKind::Riscv => {
            Err(ProtoError::permanent("smart_rollup.unsupported_pvm_kind")
                .with("pvm_kind", pvm_kind_name(kind)))
        }
    }
}

/// Outcome of applying one content.
type ApplyResult = Result<(Map<String, Value>, Vec<InboxMessage>), ProtoError>;

impl State {
    /// Activation state: funded bootstrap accounts and the genesis inbox (SOL, IPL, migration,
    /// EOL at the activation level; l1-and-signer.md §3.3, Octez `init_inbox`).
    pub fn genesis(bootstrap: &[(PublicKeyHash, u64)], ctx: &BlockCtx) -> Self {
        let accounts = bootstrap
            .iter()
            .map(|(pkh, balance)| {
                (
                    *pkh,
                    Account {
                        balance: *balance,
                        ..Account::default()
                    },
                )
            })
            .collect();
        let msgs = [
            InboxMessage::SOL,
            InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
                predecessor_timestamp: ctx.predecessor_timestamp,
                predecessor: ctx.predecessor,
            })),
            InboxMessage::Internal(InternalMessage::ProtocolMigration(
                PROTOCOL_MIGRATION_VERSION.into(),
            )),
            InboxMessage::EOL,
        ];
        let witness = level_witness(&msgs);
        let inbox = witness.map(|witness| Inbox {
            level: ctx.level,
            old_levels_messages: InboxHistoryCell {
                witness,
                level: ctx.level,
                index: 0,
                back_pointers: Vec::new(),
            },
        });
        Self {
            accounts,
            bridge_balance: 0,
            rollups: BTreeMap::new(),
            inbox,
            contract_storage: BTreeMap::new(),
            dal: crate::dal::DalState::default(),
        }
    }

    /// Balance of a contract (`None` if unknown).
    pub fn balance(&self, c: &Contract) -> Option<u64> {
        match c {
            Contract::Implicit(p) => self.accounts.get(p).map(|a| a.balance),
            Contract::Originated(k) if *k == bridge_address() => Some(self.bridge_balance),
            _ => None,
        }
    }

    /// First inbox messages of a level: SOL, Info_per_level, optional `Protocol_migration` (§3.2).
    pub fn begin_level(ctx: &BlockCtx) -> Vec<InboxMessage> {
        let mut m = vec![
            InboxMessage::SOL,
            InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
                predecessor_timestamp: ctx.predecessor_timestamp,
                predecessor: ctx.predecessor,
            })),
        ];
        if ctx.first_block_of_protocol {
            m.push(InboxMessage::Internal(InternalMessage::ProtocolMigration(
                PROTOCOL_MIGRATION_VERSION.into(),
            )));
        }
        m
    }

    /// Appends EOL and finalizes the inbox level (§3.2 step 6, §3.3).
    pub fn finalize_level(&mut self, level: Level, mut messages: Vec<InboxMessage>) {
        messages.push(InboxMessage::EOL);
        if let (Some(witness), Some(inbox)) = (level_witness(&messages), self.inbox.as_mut())
            && let Some(cell) = inbox.old_levels_messages.next(witness, level)
        {
            inbox.level = level;
            inbox.old_levels_messages = cell;
        }
    }

    /// Checks an operation without applying it (`validate.ml`): same source, counters,
    /// reveal, signature (unless `check_signature` is false, for simulation), limits, fees.
    pub fn validate(
        &self,
        op: &Operation,
        constants: &Constants,
        check_signature: bool,
    ) -> Result<(), ProtoError> {
        let first = op
            .contents
            .first()
            .ok_or_else(|| ProtoError::permanent("operation.empty_batch"))?;
        let source = first.source;
        let src = source.to_b58check();
        let Some(account) = self.accounts.get(&source) else {
            return Err(
                ProtoError::permanent("implicit.empty_implicit_contract").with("implicit", src)
            );
        };
        let mut revealed = account.manager_key;
        let mut fees: u64 = 0;
        for (i, c) in op.contents.iter().enumerate() {
            if c.source != source {
                return Err(ProtoError::permanent("validate.inconsistent_sources"));
            }
            let expected = account
                .counter
                .checked_add(1)
                .and_then(|x| x.checked_add(i as u64))
                .ok_or_else(|| ProtoError::permanent("contract.counter_overflow"))?;
            if c.counter < expected {
                return Err(ProtoError::new(
                    ErrorCategory::Branch,
                    &format!("{PROTO_ERROR_PREFIX}.contract.counter_in_the_past"),
                )
                .with("contract", src)
                .with("expected", expected.to_string())
                .with("found", c.counter.to_string()));
            }
            if c.counter > expected {
                return Err(ProtoError::new(
                    ErrorCategory::Temporary,
                    &format!("{PROTO_ERROR_PREFIX}.contract.counter_in_the_future"),
                )
                .with("contract", src)
                .with("expected", expected.to_string())
                .with("found", c.counter.to_string()));
            }
            if let OperationContent::Reveal { public_key, proof } = &c.content {
                // tz4 reveals carry a proof of possession (l1-and-signer.md §2.2).
                if matches!(public_key, PublicKey::Bls(_))
                    && !proof.as_ref().is_some_and(|p| public_key.verify_bls_pop(p))
                {
                    return Err(ProtoError::permanent(
                        "validate.operation.incorrect_bls_proof",
                    ));
                }
                if i != 0 {
                    return Err(ProtoError::permanent(
                        "validate.manager.incorrect_reveal_position",
                    ));
                }
                if revealed.is_some() {
                    return Err(ProtoError::new(
                        ErrorCategory::Branch,
                        &format!("{PROTO_ERROR_PREFIX}.contract.previously_revealed_key"),
                    )
                    .with("contract", src));
                }
                if public_key.hash() != source {
                    return Err(ProtoError::permanent("contract.manager.inconsistent_hash")
                        .with("public_key", public_key.to_b58check())
                        .with("expected_hash", src)
                        .with("provided_hash", public_key.hash().to_b58check()));
                }
                revealed = Some(*public_key);
            }
            if c.gas_limit > constants.hard_gas_limit_per_operation {
                return Err(ProtoError::permanent("gas_limit_too_high"));
            }
            if c.storage_limit > constants.hard_storage_limit_per_operation {
                return Err(ProtoError::permanent("storage_limit_too_high"));
            }
            if let OperationContent::SmartRollupAddMessages { message: messages } = &c.content
                && messages.is_empty()
            {
                return Err(ProtoError::permanent("smart_rollup_add_zero_messages"));
            }
            if let OperationContent::DalPublishCommitment { slot_header } = &c.content {
                validate_dal_publish(slot_header, constants)?;
            }
            fees = fees
                .checked_add(c.fee.0)
                .ok_or_else(|| ProtoError::permanent("tez.addition_overflow"))?;
        }
        let Some(pk) = revealed else {
            return Err(ProtoError::new(
                ErrorCategory::Branch,
                &format!("{PROTO_ERROR_PREFIX}.contract.unrevealed_key"),
            )
            .with("contract", src));
        };
        if check_signature {
            let ok = op.signature.as_ref().is_some_and(|s| {
                pk.verify(Some(&Watermark::GenericOperation), &op.unsigned_bytes(), s)
            });
            if !ok {
                return Err(ProtoError::permanent("operation.invalid_signature"));
            }
        }
        if fees > account.balance {
            return Err(ProtoError::new(
                ErrorCategory::Temporary,
                &format!("{PROTO_ERROR_PREFIX}.contract.balance_too_low"),
            )
            .with("contract", src)
            .with("balance", account.balance.to_string())
            .with("amount", fees.to_string()));
        }
        Ok(())
    }

    /// Applies a validated operation: fees and counters first, then each content; on the
    /// first failure the earlier contents are backtracked and later ones skipped (§2.11).
    /// Returns the receipts and the inbox messages it produced (in order).
    pub fn apply_operation(
        &mut self,
        op: &Operation,
        hash: &OperationHash,
        ctx: &BlockCtx,
        constants: &Constants,
    ) -> (AppliedOperation, Vec<InboxMessage>) {
        let mut fee_updates = Vec::new();
        for c in &op.contents {
            if let Some(a) = self.accounts.get_mut(&c.source) {
                a.balance = a.balance.saturating_sub(c.fee.0);
                a.counter = c.counter;
                if let OperationContent::Reveal { public_key, .. } = &c.content {
                    // Reveal takes effect even if a later content fails (as in Octez).
                    a.manager_key = Some(*public_key);
                }
            }
            let src = c.source.to_b58check();
            fee_updates.push(if c.fee.0 == 0 {
                json!([])
            } else {
                json!([
                    contract_update(&src, -i128::from(c.fee.0)),
                    {"kind":"accumulator","category":"block fees","change":c.fee.0.to_string(),"origin":"block"}
                ])
            });
        }
        let snapshot = self.clone();
        let mut results: Vec<Value> = Vec::new();
        let mut messages = Vec::new();
        let mut failed = false;
        let mut origination_index: i32 = 0;
        for c in &op.contents {
            if failed {
                results.push(json!({"status":"skipped"}));
                continue;
            }
            match self.apply_content(c, hash, &mut origination_index, ctx, constants) {
                Ok((mut r, msgs)) => {
                    r.insert("status".into(), json!("applied"));
                    results.push(Value::Object(r));
                    messages.extend(msgs);
                }
                Err(e) => {
                    failed = true;
                    results.push(json!({"status":"failed","errors":[e.to_json()]}));
                }
            }
        }
        if failed {
            let keep: Vec<(PublicKeyHash, Account)> = op
                .contents
                .iter()
                .filter_map(|c| {
                    snapshot
                        .accounts
                        .get(&c.source)
                        .map(|a| (c.source, a.clone()))
                })
                .collect();
            *self = snapshot;
            for (k, a) in keep {
                self.accounts.insert(k, a);
            }
            messages.clear();
            // Reveals are never backtracked (Octez `mark_backtracked`).
            for (r, c) in results.iter_mut().zip(&op.contents) {
                if r["status"] == "applied"
                    && !matches!(c.content, OperationContent::Reveal { .. })
                    && let Value::Object(m) = r
                {
                    m.insert("status".into(), json!("backtracked"));
                }
            }
        }
        let receipts = fee_updates
            .into_iter()
            .zip(results)
            .map(|(fees, result)| {
                let mut m = Map::new();
                m.insert("balance_updates".into(), fees);
                m.insert("operation_result".into(), result);
                ContentReceipt {
                    metadata: Value::Object(m),
                }
            })
            .collect();
        (
            AppliedOperation {
                hash: *hash,
                operation: op.clone(),
                receipts,
            },
            messages,
        )
    }

    fn debit(&mut self, who: &PublicKeyHash, amount: u64) -> Result<(), ProtoError> {
        let a = self.accounts.get_mut(who).ok_or_else(|| {
            ProtoError::permanent("contract.non_existing_contract")
                .with("contract", who.to_b58check())
        })?;
        a.balance = a.balance.checked_sub(amount).ok_or_else(|| {
            ProtoError::permanent("contract.balance_too_low")
                .with("contract", who.to_b58check())
                .with("balance", a.balance.to_string())
                .with("amount", amount.to_string())
        })?;
        Ok(())
    }

    pub(crate) fn credit(&mut self, who: &PublicKeyHash, amount: u64) -> Result<(), ProtoError> {
        let a = self.accounts.entry(*who).or_default();
        a.balance = a
            .balance
            .checked_add(amount)
            .ok_or_else(|| ProtoError::permanent("tez.addition_overflow"))?;
        Ok(())
    }

    fn apply_content(
        &mut self,
        c: &ManagerOperation,
        hash: &OperationHash,
        origination_index: &mut i32,
        ctx: &BlockCtx,
        constants: &Constants,
    ) -> ApplyResult {
        let gas = |milligas: u64| -> Result<u64, ProtoError> {
            if milligas > c.gas_limit.saturating_mul(1000) {
                Err(ProtoError::permanent("gas_exhausted.operation"))
            } else {
                Ok(milligas)
            }
        };
        let src = c.source.to_b58check();
        let mut r = Map::new();
        let mut msgs = Vec::new();
        match &c.content {
            OperationContent::Reveal { .. } => {
                r.insert(
                    "consumed_milligas".into(),
                    json!(gas(gas::REVEAL)?.to_string()),
                );
            }
            OperationContent::Transaction {
                amount,
                destination,
                parameters,
            } => match destination {
                Contract::Implicit(dst) => {
                    let used = gas(gas::TRANSFER_IMPLICIT)?;
                    if amount.0 == 0 && parameters.is_none() {
                        return Err(ProtoError::permanent("contract.empty_transaction")
                            .with("contract", dst.to_b58check()));
                    }
                    self.debit(&c.source, amount.0)?;
                    let allocated = !self.accounts.contains_key(dst);
                    let mut updates = vec![
                        contract_update(&src, -i128::from(amount.0)),
                        contract_update(&dst.to_b58check(), i128::from(amount.0)),
                    ];
                    if allocated {
                        if c.storage_limit < ALLOCATION_SIZE {
                            return Err(ProtoError::permanent("storage_exhausted.operation"));
                        }
                        let burn = ALLOCATION_SIZE.saturating_mul(constants.cost_per_byte);
                        self.debit(&c.source, burn)?;
                        updates.push(contract_update(&src, -i128::from(burn)));
                        updates.push(json!({"kind":"burned","category":"storage fees","change":burn.to_string(),"origin":"block"}));
                        r.insert("allocated_destination_contract".into(), json!(true));
                    }
                    self.credit(dst, amount.0)?;
                    r.insert("balance_updates".into(), Value::Array(updates));
                    r.insert("consumed_milligas".into(), json!(used.to_string()));
                }
                Contract::Originated(k) if *k == bridge_address() => {
                    let used = gas(gas::TRANSFER_CONTRACT)?;
                    let (rollup, payload) = bridge_call(parameters.as_ref(), amount.0)?;
                    if !self.rollups.contains_key(&rollup) {
                        return Err(ProtoError::temporary("smart_rollup_does_not_exist")
                            .with("rollup", rollup.to_b58check()));
                    }
                    self.debit(&c.source, amount.0)?;
                    self.bridge_balance = self
                        .bridge_balance
                        .checked_add(amount.0)
                        .ok_or_else(|| ProtoError::permanent("tez.addition_overflow"))?;
                    if parameters
                        .as_ref()
                        .is_some_and(|p| p.entrypoint == "deposit")
                    {
                        let r = self.rollup_mut(&rollup)?;
                        r.ticket_balance = r
                            .ticket_balance
                            .checked_add(amount.0)
                            .ok_or_else(|| ProtoError::permanent("tez.addition_overflow"))?;
                    }
                    let updates = if amount.0 == 0 {
                        vec![]
                    } else {
                        vec![
                            contract_update(&src, -i128::from(amount.0)),
                            contract_update(&k.to_b58check(), i128::from(amount.0)),
                        ]
                    };
                    r.insert("balance_updates".into(), Value::Array(updates));
                    r.insert("consumed_milligas".into(), json!(used.to_string()));
                    r.insert("storage_size".into(), json!("0"));
                    let value_json = payload.decode().map(|m| m.to_json()).unwrap_or(Value::Null);
                    let msg = InboxMessage::Internal(InternalMessage::Transfer(Transfer {
                        payload,
                        sender: *k,
                        source: c.source,
                        destination: rollup,
                    }));
                    check_message_size(&msg, constants)?;
                    msgs.push(msg);
                    r.insert(
                        "__internal".into(),
                        json!([{
                            "kind":"transaction","source":k.to_b58check(),"nonce":0,"amount":"0",
                            "destination":rollup.to_b58check(),
                            "parameters":{"entrypoint":"default","value":value_json},
                            "result":{"status":"applied","consumed_milligas":"1000000"}
                        }]),
                    );
                }
                Contract::Originated(k) => {
                    return Err(ProtoError::permanent("contract.non_existing_contract")
                        .with("contract", k.to_b58check()));
                }
            },
            OperationContent::SmartRollupOriginate {
                pvm_kind,
                kernel,
                parameters_ty,
                whitelist,
            } => {
                let used = gas(gas::ORIGINATE
                    .saturating_add(gas::PER_BYTE.saturating_mul(kernel.len() as u64)))?;
                let genesis_state = genesis_state_hash(*pvm_kind, kernel)?;
                // The boot sector is not stored on L1; the paid size is the origination size
                // plus the rollup's fixed context entries (6552 bytes in total for the tezt
                // "origination of a SCORU" receipt, l1-and-signer.md §2.3).
                let size = constants
                    .smart_rollup_origination_size
                    .saturating_add(ORIGINATION_EXTRA_SIZE);
                if c.storage_limit < size {
                    return Err(ProtoError::permanent("storage_exhausted.operation"));
                }
                let burn = size.saturating_mul(constants.cost_per_byte);
                self.debit(&c.source, burn)?;
                let mut nonce = hash.0.to_vec();
                nonce.extend_from_slice(&origination_index.to_be_bytes());
                *origination_index = origination_index.saturating_add(1);
                let address = SmartRollupAddress::hash_bytes(&nonce);
                let commitment = Commitment {
                    compressed_state: genesis_state,
                    inbox_level: ctx.level,
                    predecessor: CommitmentHash::ZERO,
                    number_of_ticks: 0,
                };
                let genesis = commitment.hash();
                let mut commitments = BTreeMap::new();
                commitments.insert(
                    genesis,
                    CommitmentInfo {
                        commitment,
                        first_published_at_level: ctx.level,
                        stakers: BTreeSet::new(),
                    },
                );
                self.rollups.insert(
                    address,
                    Rollup {
                        kind: *pvm_kind,
                        boot_sector: Arc::new(kernel.clone()),
                        parameters_ty: parameters_ty.clone(),
                        whitelist: whitelist.clone(),
                        origination_level: ctx.level,
                        genesis_commitment: genesis,
                        commitments,
                        stakers: BTreeMap::new(),
                        lcc: genesis,
                        lcc_level: ctx.level,
                        cemented: vec![genesis],
                        applied_outbox: BTreeMap::new(),
                        ticket_balance: 0,
                        last_whitelist_update: None,
                        games: BTreeMap::new(),
                        game_timeouts: BTreeMap::new(),
                    },
                );
                r.insert(
                    "balance_updates".into(),
                    json!([
                        contract_update(&src, -i128::from(burn)),
                        {"kind":"burned","category":"storage fees","change":burn.to_string(),"origin":"block"}
                    ]),
                );
                r.insert("address".into(), json!(address.to_b58check()));
                r.insert(
                    "genesis_commitment_hash".into(),
                    json!(genesis.to_b58check()),
                );
                r.insert("consumed_milligas".into(), json!(used.to_string()));
                r.insert("size".into(), json!(size.to_string()));
            }
            OperationContent::SmartRollupAddMessages { message: messages } => {
                let total: usize = messages.iter().map(Vec::len).sum();
                let used = gas(gas::ADD_MESSAGES_BASE
                    .saturating_add(gas::PER_BYTE.saturating_mul(total as u64)))?;
                for m in messages {
                    let msg = InboxMessage::External(m.clone());
                    check_message_size(&msg, constants)?;
                    msgs.push(msg);
                }
                r.insert("consumed_milligas".into(), json!(used.to_string()));
            }
            OperationContent::SmartRollupPublish { rollup, commitment } => {
                let used = gas(gas::PUBLISH)?;
                let updates = self.publish(&c.source, rollup, commitment, ctx, constants)?;
                let h = commitment.hash();
                let published = self.rollups[rollup].commitments[&h].first_published_at_level;
                r.insert("consumed_milligas".into(), json!(used.to_string()));
                r.insert("staked_hash".into(), json!(h.to_b58check()));
                r.insert("published_at_level".into(), json!(published));
                r.insert("balance_updates".into(), Value::Array(updates));
            }
            OperationContent::SmartRollupCement { rollup } => {
                let used = gas(gas::CEMENT)?;
                let (h, level) = self.cement(rollup, ctx, constants)?;
                r.insert("consumed_milligas".into(), json!(used.to_string()));
                r.insert("inbox_level".into(), json!(level));
                r.insert("commitment_hash".into(), json!(h.to_b58check()));
            }
            OperationContent::SmartRollupExecuteOutboxMessage {
                rollup,
                cemented_commitment,
                output_proof,
            } => {
                let used = gas::EXECUTE_OUTBOX_MESSAGE
                    .saturating_add(gas::PER_BYTE.saturating_mul(output_proof.len() as u64));
                gas(used)?;
                let out = self.execute_outbox_message(
                    rollup,
                    cemented_commitment,
                    output_proof,
                    constants,
                )?;
                let used = gas(used.saturating_add(
                    gas::OUTBOX_TRANSACTION.saturating_mul(out.internal.len() as u64),
                ))?;
                if !out.balance_updates.is_empty() {
                    r.insert("balance_updates".into(), Value::Array(out.balance_updates));
                }
                if !out.ticket_updates.is_empty() {
                    r.insert("ticket_updates".into(), Value::Array(out.ticket_updates));
                }
                if let Some(w) = out.whitelist_update {
                    r.insert("whitelist_update".into(), w);
                }
                r.insert("consumed_milligas".into(), json!(used.to_string()));
                r.insert("paid_storage_size_diff".into(), json!("0"));
                if !out.internal.is_empty() {
                    r.insert("__internal".into(), Value::Array(out.internal));
                }
            }
            OperationContent::SmartRollupRefute {
                rollup,
                opponent,
                refutation,
            } => {
                let step_bytes = match refutation {
                    tezos_types::operation::Refutation::Move {
                        step: tezos_types::operation::RefutationStep::Proof { pvm_step, .. },
                        ..
                    } => pvm_step.len() as u64,
                    _ => 0,
                };
                let used =
                    gas(gas::REFUTE.saturating_add(gas::PER_BYTE.saturating_mul(step_bytes)))?;
                let res = self.refute(&c.source, rollup, opponent, refutation, ctx, constants)?;
                crate::refutation::receipt(&mut r, used, res);
            }
            OperationContent::SmartRollupTimeout { rollup, stakers } => {
                let used = gas(gas::TIMEOUT)?;
                let res = self.timeout(rollup, stakers, ctx, constants)?;
                crate::refutation::receipt(&mut r, used, res);
            }
            OperationContent::DalPublishCommitment { slot_header } => {
                let used = gas(gas::DAL_PUBLISH_COMMITMENT)?;
                validate_dal_publish(slot_header, constants)?;
                let header = crate::dal::PublishedHeader {
                    commitment: slot_header.commitment,
                    publisher: c.source,
                };
                let header_json = |h: &crate::dal::PublishedHeader| {
                    json!({"version": "0", "level": ctx.level, "index": slot_header.slot_index,
                           "commitment": h.commitment.to_b58check()})
                };
                if let Err(crate::dal::PublishError::Duplicate(existing)) =
                    self.dal
                        .publish(ctx.level.into(), slot_header.slot_index, header)
                {
                    return Err(ProtoError::permanent("dal_publish_commitment_duplicate")
                        .with("proposed", header_json(&existing))
                        .with(
                            "msg",
                            format!(
                                "slot {} already has a commitment published at level {}: \
                                 publish on another slot or at the next level",
                                slot_header.slot_index, ctx.level
                            ),
                        ));
                }
                r.insert("slot_header".into(), header_json(&header));
                r.insert("consumed_milligas".into(), json!(used.to_string()));
            }
            OperationContent::SmartRollupRecoverBond { rollup, staker } => {
                let used = gas(gas::RECOVER_BOND)?;
                let updates = self.recover_bond(rollup, staker, constants)?;
                r.insert("balance_updates".into(), Value::Array(updates));
                r.insert("consumed_milligas".into(), json!(used.to_string()));
            }
        }
        Ok((r, msgs))
    }

    pub(crate) fn rollup_mut(
        &mut self,
        rollup: &SmartRollupAddress,
    ) -> Result<&mut Rollup, ProtoError> {
        self.rollups.get_mut(rollup).ok_or_else(|| {
            ProtoError::temporary("smart_rollup_does_not_exist")
                .with("rollup", rollup.to_b58check())
        })
    }

    /// `smart_rollup_publish` (octez-rollup-node.md §6.2, protocol `sc_rollup_stake_storage.ml`).
    fn publish(
        &mut self,
        staker: &PublicKeyHash,
        rollup_addr: &SmartRollupAddress,
        commitment: &Commitment,
        ctx: &BlockCtx,
        constants: &Constants,
    ) -> Result<Vec<Value>, ProtoError> {
        let period = constants.smart_rollup_commitment_period_in_blocks;
        let stake = constants.smart_rollup_stake_amount;
        let r = self.rollup_mut(rollup_addr)?;
        if let Some(wl) = &r.whitelist
            && !wl.contains(staker)
        {
            return Err(ProtoError::permanent(
                "smart_rollup_staker_not_in_whitelist",
            ));
        }
        if commitment.number_of_ticks <= 0 {
            return Err(ProtoError::permanent("smart_rollup_zero_tick_commitment"));
        }
        let pred = r.commitments.get(&commitment.predecessor).ok_or_else(|| {
            ProtoError::permanent("smart_rollup_unknown_commitment")
                .with("commitment", commitment.predecessor.to_b58check())
        })?;
        if pred.commitment.inbox_level < r.lcc_level {
            return Err(ProtoError::permanent("smart_rollup_parent_not_lcc"));
        }
        let expected = pred.commitment.inbox_level.checked_add(blocks(period));
        if Some(commitment.inbox_level) != expected {
            return Err(ProtoError::permanent("smart_rollup_bad_inbox_level"));
        }
        if commitment.inbox_level >= ctx.level {
            return Err(ProtoError::permanent("smart_rollup_commitment_from_future")
                .with("current_level", i32::from(ctx.level))
                .with("inbox_level", i32::from(commitment.inbox_level)));
        }
        if commitment.inbox_level
            > r.lcc_level
                .saturating_add(blocks(constants.smart_rollup_max_lookahead_in_blocks))
        {
            return Err(ProtoError::permanent(
                "smart_rollup_commitment_too_far_ahead",
            ));
        }
        let h = commitment.hash();
        if let Some(existing) = r.commitments.get(&h)
            && ctx
                .level
                .distance_from(existing.first_published_at_level)
                .is_some_and(|d| d > blocks(constants.smart_rollup_challenge_window_in_blocks))
        {
            return Err(ProtoError::permanent("smart_rollup_commitment_past_curfew"));
        }
        // A staker only moves forward: its current commitment must be an ancestor of (or the
        // parent of) the new one.
        let current = r.stakers.get(staker).copied();
        if let Some(cur) = current {
            if cur == h {
                return Err(ProtoError::permanent("smart_rollup_staker_double_stake"));
            }
            let cur_level = r
                .commitments
                .get(&cur)
                .map(|i| i.commitment.inbox_level)
                .unwrap_or(Level::ZERO);
            if cur_level > r.lcc_level && !is_ancestor(r, &cur, &commitment.predecessor) {
                return Err(ProtoError::permanent("smart_rollup_staker_backtracked"));
            }
        }
        let first_stake = current.is_none();
        let info = r.commitments.entry(h).or_insert_with(|| CommitmentInfo {
            commitment: *commitment,
            first_published_at_level: ctx.level,
            stakers: BTreeSet::new(),
        });
        info.stakers.insert(*staker);
        r.stakers.insert(*staker, h);
        if first_stake {
            self.debit(staker, stake)?;
            let who = staker.to_b58check();
            return Ok(vec![
                contract_update(&who, -i128::from(stake)),
                json!({"kind":"freezer","category":"bonds","contract":who,
                       "bond_id":{"smart_rollup":rollup_addr.to_b58check()},
                       "change":stake.to_string(),"origin":"block"}),
            ]);
        }
        Ok(vec![])
    }

    /// `smart_rollup_cement`: the unique successor of the LCC once its challenge window passed.
    fn cement(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        ctx: &BlockCtx,
        constants: &Constants,
    ) -> Result<(CommitmentHash, i32), ProtoError> {
        let r = self.rollup_mut(rollup_addr)?;
        let candidates: Vec<(CommitmentHash, &CommitmentInfo)> = r
            .commitments
            .iter()
            .filter(|(_, i)| i.commitment.predecessor == r.lcc && !i.stakers.is_empty())
            .map(|(h, i)| (*h, i))
            .collect();
        let (h, info) = match candidates.as_slice() {
            [] => {
                return Err(ProtoError::permanent(
                    "smart_rollup_no_commitment_to_cement",
                ));
            }
            [one] => *one,
            _ => return Err(ProtoError::permanent("smart_rollup_disputed")),
        };
        let deadline = info
            .first_published_at_level
            .saturating_add(blocks(constants.smart_rollup_challenge_window_in_blocks));
        if ctx.level < deadline {
            return Err(ProtoError::permanent("smart_rollup_commitment_too_recent")
                .with("current_level", i32::from(ctx.level))
                .with("min_level", i32::from(deadline)));
        }
        let level = info.commitment.inbox_level;
        r.lcc = h;
        r.lcc_level = level;
        r.cemented.push(h);
        let keep = usize::try_from(constants.smart_rollup_max_number_of_cemented_commitments)
            .unwrap_or(1)
            .max(1);
        if r.cemented.len() > keep {
            let drop = r.cemented.len().saturating_sub(keep);
            r.cemented.drain(..drop);
        }
        Ok((h, level.into()))
    }

    /// `smart_rollup_recover_bond`: only when the staker's last commitment is cemented.
    fn recover_bond(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        staker: &PublicKeyHash,
        constants: &Constants,
    ) -> Result<Vec<Value>, ProtoError> {
        let stake = constants.smart_rollup_stake_amount;
        let r = self.rollup_mut(rollup_addr)?;
        let cur = *r
            .stakers
            .get(staker)
            .ok_or_else(|| ProtoError::permanent("smart_rollup_not_staked"))?;
        let level = r
            .commitments
            .get(&cur)
            .map(|i| i.commitment.inbox_level)
            .unwrap_or(Level::MAX);
        if level > r.lcc_level {
            return Err(ProtoError::permanent(
                "smart_rollup_not_staked_on_lcc_or_ancestor",
            ));
        }
        r.stakers.remove(staker);
        self.credit(staker, stake)?;
        let who = staker.to_b58check();
        Ok(vec![
            json!({"kind":"freezer","category":"bonds","contract":who,
                   "bond_id":{"smart_rollup":rollup_addr.to_b58check()},
                   "change":(-i128::from(stake)).to_string(),"origin":"block"}),
            contract_update(&who, i128::from(stake)),
        ])
    }
}

/// `sc_rollup_max_outbox_messages_per_level`: message indices an outbox level can hold
/// (protocol constant, `sc_rollup_outbox_storage.ml` `record_applied_message`).
const MAX_OUTBOX_MESSAGES_PER_LEVEL: u64 = 100;

/// What executing one outbox message produced: the parts of its receipt.
#[derive(Default)]
struct OutboxReceipt {
    balance_updates: Vec<Value>,
    ticket_updates: Vec<Value>,
    whitelist_update: Option<Value>,
    /// Internal operation results (one per transaction).
    internal: Vec<Value>,
}

impl State {
    /// `smart_rollup_execute_outbox_message` (protocol `sc_rollup_operations.ml`
    /// `execute_outbox_message`; l1-and-signer.md §2.9): `cemented` must be the LCC or one
    /// of the cemented commitments still stored; the output proof must verify
    /// (`wasm_pvm::output_proof`) from that commitment's `compressed_state`; the outbox level
    /// must lie in `(lcc_level - max_active_outbox_levels, lcc_level]`; a message executes
    /// once (a set of indices per level, slot `level mod max_active_outbox_levels`); then its
    /// transactions or whitelist update apply. Built-in destinations: the bridge's `burn` /
    /// `withdraw` entrypoints take `Pair <tz receiver> <ticket>` and pay the ticket's amount
    /// in tez out of the bridge; any other KT1 records the parameter as its storage.
    fn execute_outbox_message(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        cemented: &CommitmentHash,
        proof: &[u8],
        constants: &Constants,
    ) -> Result<OutboxReceipt, ProtoError> {
        let invalid_proof = || ProtoError::permanent("smart_rollup_invalid_output_proof");
        let r = self.rollup_mut(rollup_addr)?;
        let lcc_level = i32::from(r.lcc_level);
        let commitment = r
            .cemented
            .contains(cemented)
            .then(|| r.commitments.get(cemented).map(|i| i.commitment))
            .flatten()
            .ok_or_else(|| {
                ProtoError::permanent("smart_rollup_invalid_last_cemented_commitment")
            })?;
        if r.kind != PvmKind::Wasm {
            return Err(invalid_proof());
        }
        let proven =
            wasm_pvm::output_proof::verify_output_proof(proof).map_err(|_| invalid_proof())?;
        if proven.state.0 != commitment.compressed_state.0 {
            return Err(invalid_proof());
        }
        let message = tezos_types::outbox::OutboxMessage::from_bin(&proven.output.message)
            .map_err(|_| invalid_proof())?;
        let level = i32::try_from(proven.output.outbox_level).map_err(|_| invalid_proof())?;
        let max_active = constants.smart_rollup_max_active_outbox_levels;
        let active = lcc_level
            .checked_sub(max_active)
            .is_none_or(|min| min < level);
        if level > lcc_level || !active || max_active <= 0 {
            return Err(ProtoError::permanent("smart_rollup_invalid_outbox_level"));
        }
        let index = proven.output.message_index;
        self.record_applied_message(rollup_addr, level, index, max_active)?;
        use tezos_types::outbox::OutboxMessage as M;
        match message {
            M::AtomicTransactionBatch { transactions }
            | M::AtomicTransactionBatchTyped { transactions } => {
                self.outbox_transactions(rollup_addr, &transactions)
            }
            M::WhitelistUpdate { whitelist } => {
                self.outbox_whitelist_update(rollup_addr, whitelist, level, index)
            }
            // Only the canonical rollup's signal does something; the sandbox has none.
            M::CanonicalRollupSignal { .. } => Ok(OutboxReceipt::default()),
        }
    }

    /// Mark message `index` of outbox `level` executed (`record_applied_message`).
    fn record_applied_message(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        level: i32,
        index: u64,
        max_active: i32,
    ) -> Result<(), ProtoError> {
        if index >= MAX_OUTBOX_MESSAGES_PER_LEVEL {
            return Err(ProtoError::temporary(
                "smart_rollup_invalid_outbox_message_index",
            ));
        }
        let slot = level.rem_euclid(max_active);
        let r = self.rollup_mut(rollup_addr)?;
        match r.applied_outbox.get_mut(&slot) {
            Some((l, set)) if *l == level => {
                if !set.insert(index) {
                    return Err(ProtoError::temporary(
                        "smart_rollup_outbox_message_already_applied",
                    ));
                }
            }
            Some((l, _)) if *l > level => {
                return Err(ProtoError::temporary("smart_rollup_outbox_level_expired"));
            }
            _ => {
                r.applied_outbox
                    .insert(slot, (level, BTreeSet::from([index])));
            }
        }
        Ok(())
    }

    fn outbox_transactions(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        txs: &[tezos_types::outbox::OutboxTransaction],
    ) -> Result<OutboxReceipt, ProtoError> {
        let mut out = OutboxReceipt::default();
        let src = rollup_addr.to_b58check();
        for (nonce, tx) in txs.iter().enumerate() {
            let value = tx
                .parameters
                .decode()
                .map_err(|_| ProtoError::permanent("smart_rollup_invalid_parameters_type"))?;
            let dest = tx.destination.to_b58check();
            let mut result = Map::new();
            result.insert("status".into(), json!("applied"));
            if tx.destination == bridge_address() {
                if tx.entrypoint != "burn" && tx.entrypoint != "withdraw" {
                    return Err(ProtoError::permanent("michelson_v1.bad_contract_parameter")
                        .with("contract", dest));
                }
                let (receiver, amount) = parse_withdrawal(&value)?;
                let r = self.rollup_mut(rollup_addr)?;
                r.ticket_balance = r
                    .ticket_balance
                    .checked_sub(amount)
                    .ok_or_else(|| ProtoError::permanent("negative_ticket_balance"))?;
                self.bridge_balance = self
                    .bridge_balance
                    .checked_sub(amount)
                    .ok_or_else(|| ProtoError::permanent("tez.subtraction_underflow"))?;
                self.credit(&receiver, amount)?;
                let amount_i = i128::from(amount);
                result.insert(
                    "balance_updates".into(),
                    json!([
                        contract_update(&dest, -amount_i),
                        contract_update(&receiver.to_b58check(), amount_i)
                    ]),
                );
                out.ticket_updates.push(json!({
                    "ticket_token": {
                        "ticketer": dest,
                        "content_type": {"prim":"pair","args":[{"prim":"nat"},{"prim":"option","args":[{"prim":"bytes"}]}]},
                        "content": {"prim":"Pair","args":[{"int":"0"},{"prim":"None"}]}
                    },
                    "updates": [{"account": src, "amount": (-amount_i).to_string()}]
                }));
            } else {
                self.contract_storage
                    .insert(tx.destination, tx.parameters.clone());
                result.insert("storage".into(), value.to_json());
                result.insert(
                    "storage_size".into(),
                    json!(tx.parameters.as_bytes().len().to_string()),
                );
                result.insert("paid_storage_size_diff".into(), json!("0"));
            }
            result.insert(
                "consumed_milligas".into(),
                json!(gas::OUTBOX_TRANSACTION.to_string()),
            );
            out.internal.push(json!({
                "kind": "transaction", "source": src, "nonce": nonce, "amount": "0",
                "destination": dest,
                "parameters": {"entrypoint": tx.entrypoint, "value": value.to_json()},
                "result": Value::Object(result),
            }));
        }
        Ok(out)
    }

    fn outbox_whitelist_update(
        &mut self,
        rollup_addr: &SmartRollupAddress,
        whitelist: Option<Vec<PublicKeyHash>>,
        level: i32,
        index: u64,
    ) -> Result<OutboxReceipt, ProtoError> {
        let r = self.rollup_mut(rollup_addr)?;
        if r.whitelist.is_none() {
            return Err(ProtoError::permanent("smart_rollup_rollup_is_public"));
        }
        let update = match whitelist {
            Some(list) => {
                if list.is_empty() {
                    return Err(ProtoError::permanent("smart_rollup_empty_whitelist"));
                }
                if let Some((l, i)) = r.last_whitelist_update
                    && (level < l || (level == l && i >= index))
                {
                    return Err(ProtoError::permanent(
                        "smart_rollup_outdated_whitelist_update",
                    ));
                }
                let names: Vec<String> = list.iter().map(PublicKeyHash::to_b58check).collect();
                r.whitelist = Some(list);
                r.last_whitelist_update = Some((level, index));
                json!({"kind": "update", "whitelist": names})
            }
            None => {
                r.whitelist = None;
                json!({"kind": "public"})
            }
        };
        Ok(OutboxReceipt {
            whitelist_update: Some(update),
            ..OutboxReceipt::default()
        })
    }
}

/// The elements of a right comb of pairs (`Pair a b c` = `Pair a (Pair b c)`).
fn comb(m: &Micheline) -> Option<Vec<&Micheline>> {
    let Micheline::Prim { prim, args, .. } = m else {
        return None;
    };
    if *prim != Prim::D_PAIR || args.len() < 2 {
        return None;
    }
    let (last, init) = args.split_last()?;
    let mut out: Vec<&Micheline> = init.iter().collect();
    match comb(last) {
        Some(rest) => out.extend(rest),
        None => out.push(last),
    }
    Some(out)
}

/// A withdrawal parameter `Pair <receiver> (Pair <ticketer> <contents> <amount>)`: an implicit
/// receiver and a ticket of the bridge; returns the receiver and the amount.
fn parse_withdrawal(value: &Micheline) -> Result<(PublicKeyHash, u64), ProtoError> {
    let bad = || ProtoError::permanent("script_rejected").with("location", 0);
    let parts = comb(value).ok_or_else(bad)?;
    let (receiver, ticket) = match parts.as_slice() {
        [receiver, ticketer, _contents, amount] => (*receiver, vec![*ticketer, *amount]),
        _ => return Err(bad()),
    };
    let receiver = match receiver {
        Micheline::String(s) => PublicKeyHash::from_b58check(s).map_err(|_| bad())?,
        Micheline::Bytes(b) => match Contract::from_bin(b).map_err(|_| bad())? {
            Contract::Implicit(p) => p,
            Contract::Originated(_) => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    let ticketer = match ticket[0] {
        Micheline::String(s) => ContractHash::from_b58check(s).map_err(|_| bad())?,
        Micheline::Bytes(b) => match Contract::from_bin(b).map_err(|_| bad())? {
            Contract::Originated(k) => k,
            Contract::Implicit(_) => return Err(bad()),
        },
        _ => return Err(bad()),
    };
    if ticketer != bridge_address() {
        return Err(bad());
    }
    let Micheline::Int(n) = ticket[1] else {
        return Err(bad());
    };
    let amount = u64::try_from(n).map_err(|_| bad())?;
    if amount == 0 {
        return Err(bad());
    }
    Ok((receiver, amount))
}

/// Whether `ancestor` is `of` or one of its predecessors.
fn is_ancestor(r: &Rollup, ancestor: &CommitmentHash, of: &CommitmentHash) -> bool {
    let mut cur = *of;
    loop {
        if cur == *ancestor {
            return true;
        }
        match r.commitments.get(&cur) {
            Some(i) if i.commitment.predecessor != CommitmentHash::ZERO => {
                cur = i.commitment.predecessor
            }
            _ => return false,
        }
    }
}

/// The built-in bridge: entrypoint `deposit` with `Pair <sr1 address> <receiver bytes>` mints a
/// ticket `(Pair 0 None)` of `amount` (ticketer = the bridge) and sends
/// `Left (Left (Pair receiver ticket))` to the rollup (the Etherlink deposit shape,
/// etherlink-kernel.md §2.3); entrypoint `forward` with `Pair <sr1 address> <value>` sends
/// `value` unchanged (delayed transactions, governance, other kernels).
fn bridge_call(
    params: Option<&crate::ops::Parameters>,
    amount: u64,
) -> Result<(SmartRollupAddress, BinMicheline), ProtoError> {
    let bad = || ProtoError::permanent("script_rejected").with("location", 0);
    let p = params.ok_or_else(bad)?;
    let value = p.value.decode().map_err(|_| bad())?;
    let Micheline::Prim { prim, args, .. } = &value else {
        return Err(bad());
    };
    if *prim != Prim::D_PAIR || args.len() != 2 {
        return Err(bad());
    }
    let rollup = match &args[0] {
        Micheline::String(s) => s.parse::<SmartRollupAddress>().map_err(|_| bad())?,
        Micheline::Bytes(b) if b.len() == 22 && b[0] == 3 => {
            SmartRollupAddress::from_slice(&b[1..21]).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    };
    let payload = match p.entrypoint.as_str() {
        "deposit" => {
            let Micheline::Bytes(receiver) = &args[1] else {
                return Err(bad());
            };
            let mut ticketer = vec![1u8];
            ticketer.extend_from_slice(&bridge_address().0);
            ticketer.push(0);
            let ticket = Micheline::pair(
                Micheline::bytes(ticketer),
                Micheline::pair(
                    Micheline::pair(Micheline::int(0), Micheline::prim(Prim::D_NONE, vec![])),
                    Micheline::int(amount),
                ),
            );
            Micheline::left(Micheline::left(Micheline::pair(
                Micheline::bytes(receiver.clone()),
                ticket,
            )))
        }
        "forward" => args[1].clone(),
        _ => {
            return Err(ProtoError::permanent("michelson_v1.bad_contract_parameter")
                .with("contract", bridge_address().to_b58check()));
        }
    };
    Ok((rollup, BinMicheline::from_micheline(&payload)))
}

/// Moves the private `__internal` marker into `internal_operation_results` (receipt shape of
/// l1-and-signer.md §2.11).
pub fn finish_metadata(metadata: &mut Value) {
    let internal = metadata
        .get_mut("operation_result")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove("__internal"));
    if let (Some(i), Value::Object(m)) = (internal, metadata) {
        m.insert("internal_operation_results".into(), i);
    }
}

/// The binary serialization used for the context hash of a state (a digest of everything that
/// matters; not Irmin's context hash).
pub fn state_digest(s: &State) -> [u8; 32] {
    let mut w = tezos_types::Writer::new();
    for (k, a) in &s.accounts {
        k.bin_write(&mut w);
        w.u64(a.balance);
        w.u64(a.counter);
        w.bool(a.manager_key.is_some());
    }
    w.u64(s.bridge_balance);
    for (k, r) in &s.rollups {
        k.bin_write(&mut w);
        r.lcc.bin_write(&mut w);
        r.lcc_level.bin_write(&mut w);
        for (h, i) in &r.commitments {
            h.bin_write(&mut w);
            w.u32(i.stakers.len() as u32);
        }
        for (p, h) in &r.stakers {
            p.bin_write(&mut w);
            h.bin_write(&mut w);
        }
        for h in &r.cemented {
            h.bin_write(&mut w);
        }
        for (slot, (level, set)) in &r.applied_outbox {
            w.i32(*slot);
            w.i32(*level);
            for i in set {
                w.u64(*i);
            }
        }
        w.u64(r.ticket_balance);
        // Only with games (block hashes without them are unchanged).
        for (i, g) in &r.games {
            i.alice.bin_write(&mut w);
            i.bob.bin_write(&mut w);
            w.bytes(&g.to_bin());
        }
        for (i, t) in &r.game_timeouts {
            i.alice.bin_write(&mut w);
            w.i32(t.alice);
            w.i32(t.bob);
            t.last_turn_level.bin_write(&mut w);
        }
    }
    for (k, v) in &s.contract_storage {
        w.bytes(&k.0);
        w.bytes(v.as_bytes());
    }
    if let Some(i) = &s.inbox {
        w.bytes(&i.hash().0);
    }
    // Only with the DAL enabled (block hashes without it are unchanged).
    if let Some((_, h)) = &s.dal.last {
        w.bytes(&h.0);
    }
    for (l, slots) in &s.dal.pending {
        w.i32(*l);
        for (i, h) in slots {
            w.u8(*i);
            w.bytes(&h.commitment.0);
        }
    }
    tezos_types::hash::blake2b::<32>(&[&w.into_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::bootstrap_accounts;
    use tezos_types::Mutez;

    fn ctx(level: i32) -> BlockCtx {
        BlockCtx {
            level: chain_level(level),
            predecessor: BlockHash::ZERO,
            predecessor_timestamp: 0,
            first_block_of_protocol: false,
        }
    }

    fn run(st: &mut State, who: PublicKeyHash, content: OperationContent, level: i32) -> Value {
        let counter = st.accounts.get(&who).map_or(0, |a| a.counter) + 1;
        let op = Operation {
            branch: BlockHash::ZERO,
            contents: vec![ManagerOperation {
                content,
                source: who,
                fee: Mutez(100),
                counter,
                gas_limit: 100_000,
                storage_limit: 60_000,
            }],
            signature: None,
        };
        let (a, _) = st.apply_operation(&op, &op.hash(), &ctx(level), &Constants::test());
        a.receipts[0].metadata["operation_result"].clone()
    }

    fn err_id(r: &Value) -> String {
        r["errors"][0]["id"].as_str().unwrap_or("").to_string()
    }

    #[test]
    fn commitment_and_stake_rules() {
        let accts = bootstrap_accounts();
        let (a, b) = (accts[0].pkh, accts[1].pkh);
        let mut st = State::genesis(&[(a, 100_000_000_000), (b, 100_000_000_000)], &ctx(1));
        let orig = run(
            &mut st,
            a,
            OperationContent::SmartRollupOriginate {
                pvm_kind: PvmKind::Wasm,
                kernel: b"\0asm\x01\0\0\0".to_vec(),
                parameters_ty: BinMicheline::from_micheline(&Micheline::unit()),
                whitelist: None,
            },
            2,
        );
        assert_eq!(orig["status"], "applied");
        let rollup: SmartRollupAddress = orig["address"].as_str().unwrap().parse().unwrap();
        let genesis = st.rollups[&rollup].genesis_commitment;
        let c1 = Commitment {
            compressed_state: StateHash([1; 32]),
            inbox_level: chain_level(7),
            predecessor: genesis,
            number_of_ticks: 10,
        };
        let publish = |c: Commitment| OperationContent::SmartRollupPublish {
            rollup,
            commitment: c,
        };
        let r = run(&mut st, a, publish(c1), 5);
        assert!(
            err_id(&r).ends_with("smart_rollup_commitment_from_future"),
            "{r}"
        );
        let r = run(
            &mut st,
            a,
            publish(Commitment {
                inbox_level: chain_level(8),
                ..c1
            }),
            10,
        );
        assert!(err_id(&r).ends_with("smart_rollup_bad_inbox_level"), "{r}");
        let r = run(
            &mut st,
            a,
            publish(Commitment {
                predecessor: CommitmentHash([9; 32]),
                ..c1
            }),
            10,
        );
        assert!(
            err_id(&r).ends_with("smart_rollup_unknown_commitment"),
            "{r}"
        );
        let r = run(
            &mut st,
            a,
            publish(Commitment {
                number_of_ticks: 0,
                ..c1
            }),
            10,
        );
        assert!(
            err_id(&r).ends_with("smart_rollup_zero_tick_commitment"),
            "{r}"
        );
        let before = st.accounts[&a].balance;
        let r = run(&mut st, a, publish(c1), 8);
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(
            st.accounts[&a].balance,
            before - 100 - Constants::test().smart_rollup_stake_amount
        );
        let r = run(&mut st, a, publish(c1), 9);
        assert!(
            err_id(&r).ends_with("smart_rollup_staker_double_stake"),
            "{r}"
        );
        // A conflicting commitment by another staker blocks cementation.
        let c1b = Commitment {
            compressed_state: StateHash([2; 32]),
            ..c1
        };
        assert_eq!(run(&mut st, b, publish(c1b), 9)["status"], "applied");
        let r = run(
            &mut st,
            a,
            OperationContent::SmartRollupCement { rollup },
            30,
        );
        assert!(err_id(&r).ends_with("smart_rollup_disputed"), "{r}");
        // A staker cannot move to a branch that does not extend its commitment.
        let c2 = Commitment {
            inbox_level: chain_level(12),
            predecessor: c1b.hash(),
            ..c1
        };
        let r = run(&mut st, a, publish(c2), 20);
        assert!(
            err_id(&r).ends_with("smart_rollup_staker_backtracked"),
            "{r}"
        );
        // Bond recovery needs a cemented commitment.
        let r = run(
            &mut st,
            b,
            OperationContent::SmartRollupRecoverBond { rollup, staker: a },
            30,
        );
        assert!(err_id(&r).ends_with("not_staked_on_lcc_or_ancestor"), "{r}");
        // A timeout without a game fails with the protocol's error.
        let r = run(
            &mut st,
            a,
            OperationContent::SmartRollupTimeout {
                rollup,
                stakers: tezos_types::operation::Stakers { alice: a, bob: b },
            },
            30,
        );
        assert_eq!(err_id(&r), "proto.025-PsUshuai.smart_rollup_no_game", "{r}");
    }

    /// A staker slashed in one game loses its other games at its next move, and its opponent
    /// there gets no reward (`check_stakes`, `apply_game_result`).
    #[test]
    fn a_staker_slashed_elsewhere_loses_its_other_games() {
        use tezos_types::operation::{Refutation, RefutationStep, Stakers};
        let accts = bootstrap_accounts();
        let (a, b, c) = (accts[0].pkh, accts[1].pkh, accts[2].pkh);
        let funds = 100_000_000_000;
        let mut st = State::genesis(&[(a, funds), (b, funds), (c, funds)], &ctx(1));
        let orig = run(
            &mut st,
            a,
            OperationContent::SmartRollupOriginate {
                pvm_kind: PvmKind::Wasm,
                kernel: b"\0asm\x01\0\0\0".to_vec(),
                parameters_ty: BinMicheline::from_micheline(&Micheline::unit()),
                whitelist: None,
            },
            2,
        );
        let rollup: SmartRollupAddress = orig["address"].as_str().unwrap().parse().unwrap();
        let genesis = st.rollups[&rollup].genesis_commitment;
        let mine = Commitment {
            compressed_state: StateHash([1; 32]),
            inbox_level: chain_level(7),
            predecessor: genesis,
            number_of_ticks: 100,
        };
        let theirs = Commitment {
            compressed_state: StateHash([2; 32]),
            ..mine
        };
        for (who, cm) in [(a, mine), (b, theirs), (c, theirs)] {
            let r = run(
                &mut st,
                who,
                OperationContent::SmartRollupPublish {
                    rollup,
                    commitment: cm,
                },
                8,
            );
            assert_eq!(r["status"], "applied", "{r}");
        }
        for opponent in [b, c] {
            let r = run(
                &mut st,
                a,
                OperationContent::SmartRollupRefute {
                    rollup,
                    opponent,
                    refutation: Refutation::Start {
                        player_commitment_hash: mine.hash(),
                        opponent_commitment_hash: theirs.hash(),
                    },
                },
                12,
            );
            assert_eq!(r["status"], "applied", "{r}");
        }
        assert_eq!(st.rollups[&rollup].games.len(), 2);
        // `a` never moves against `b`: it loses by timeout and is slashed, `b` rewarded.
        let r = run(
            &mut st,
            c,
            OperationContent::SmartRollupTimeout {
                rollup,
                stakers: Stakers::ordered(a, b),
            },
            23,
        );
        assert_eq!(
            r["game_status"]["result"]["player"],
            json!(a.to_b58check()),
            "{r}"
        );
        assert_eq!(r["balance_updates"].as_array().unwrap().len(), 4, "{r}");
        assert!(!st.rollups[&rollup].stakers.contains_key(&a));
        // Its move against `c` ends that game: it lost already, no bond left to give.
        let r = run(
            &mut st,
            a,
            OperationContent::SmartRollupRefute {
                rollup,
                opponent: c,
                refutation: Refutation::Move {
                    choice: tezos_types::Tick::ZERO,
                    step: RefutationStep::Dissection(vec![]),
                },
            },
            24,
        );
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(
            r["game_status"],
            json!({"result": {"kind": "loser", "reason": "conflict_resolved",
                              "player": a.to_b58check()}})
        );
        assert_eq!(r["balance_updates"], json!([]));
        assert!(st.rollups[&rollup].games.is_empty());
        assert!(st.rollups[&rollup].game_timeouts.is_empty());
        // `b` and `c` agree: no conflict left, and their commitment can be cemented.
        let view = crate::refutation::conflicts_json(
            &st.rollups[&rollup],
            &b,
            chain_level(30),
            &Constants::test(),
        );
        assert_eq!(view, json!([]));
        assert_eq!(
            run(
                &mut st,
                c,
                OperationContent::SmartRollupCement { rollup },
                30
            )["status"],
            "applied"
        );
    }

    #[test]
    fn inbox_levels_follow_protocol_order() {
        let accts = bootstrap_accounts();
        let mut st = State::genesis(&[(accts[0].pkh, 1)], &ctx(1));
        let g = st.inbox.clone().unwrap();
        assert_eq!(g.old_levels_messages.index, 0);
        let c = BlockCtx {
            first_block_of_protocol: true,
            ..ctx(2)
        };
        let msgs = State::begin_level(&c);
        assert_eq!(msgs.len(), 3);
        assert_eq!(msgs[0], InboxMessage::SOL);
        st.finalize_level(chain_level(2), msgs.clone());
        let inbox = st.inbox.clone().unwrap();
        assert_eq!(inbox.level, chain_level(2));
        assert_eq!(inbox.old_levels_messages.index, 1);
        let mut all = msgs;
        all.push(InboxMessage::EOL);
        assert_eq!(
            inbox.old_levels_messages.witness,
            level_witness(&all).unwrap()
        );
        assert_eq!(inbox.old_levels_messages.back_pointers, vec![g.hash()]);
    }

    /// `smart_rollup_message_size_limit` bounds the serialized message (tag included, limit
    /// included): external payloads of limit − 2 and limit − 1 bytes pass, limit bytes fail.
    #[test]
    fn message_size_limit_is_inclusive_on_the_serialized_message() {
        let accts = bootstrap_accounts();
        let who = accts[1].pkh;
        let limit = Constants::test().smart_rollup_message_size_limit as usize;
        assert_eq!(limit, 4096);
        let mut st = State::genesis(&[(who, 10_000_000)], &ctx(1));
        for (payload, applied) in [(limit - 2, true), (limit - 1, true), (limit, false)] {
            let r = run(
                &mut st,
                who,
                OperationContent::SmartRollupAddMessages {
                    message: vec![vec![0xab; payload]],
                },
                2,
            );
            if applied {
                assert_eq!(r["status"], "applied", "{payload} bytes: {r}");
            } else {
                assert_eq!(r["status"], "failed", "{payload} bytes: {r}");
                assert_eq!(
                    err_id(&r),
                    "proto.025-PsUshuai.smart_rollup_inbox_message_encoding"
                );
            }
        }
        // Same rule for a transfer the bridge forwards: the serialized internal message is
        // `00 00` ‖ Micheline bytes (`0a` ‖ 4-byte length ‖ data) ‖ 20 + 21 + 20 bytes.
        let rollup = SmartRollupAddress::hash_bytes(b"size test rollup");
        st.rollups.insert(
            rollup,
            Rollup {
                kind: PvmKind::Wasm,
                boot_sector: Arc::new(vec![]),
                parameters_ty: BinMicheline::from_micheline(&Micheline::int(0)),
                whitelist: None,
                origination_level: chain_level(1),
                genesis_commitment: CommitmentHash::ZERO,
                commitments: BTreeMap::new(),
                stakers: BTreeMap::new(),
                lcc: CommitmentHash::ZERO,
                lcc_level: chain_level(1),
                cemented: vec![CommitmentHash::ZERO],
                applied_outbox: BTreeMap::new(),
                ticket_balance: 0,
                last_whitelist_update: None,
                games: BTreeMap::new(),
                game_timeouts: BTreeMap::new(),
            },
        );
        let overhead = 2 + 5 + 20 + 21 + 20;
        for (data, applied) in [(limit - overhead, true), (limit - overhead + 1, false)] {
            let value = Micheline::pair(
                Micheline::string(rollup.to_b58check()),
                Micheline::bytes(vec![7; data]),
            );
            let r = run(
                &mut st,
                who,
                OperationContent::Transaction {
                    amount: tezos_types::Mutez(0),
                    destination: Contract::Originated(bridge_address()),
                    parameters: Some(crate::ops::Parameters {
                        entrypoint: "forward".into(),
                        value: BinMicheline::from_micheline(&value),
                    }),
                },
                2,
            );
            let want = if applied { "applied" } else { "failed" };
            assert_eq!(r["status"], want, "{data} bytes forwarded: {r}");
        }
    }

    fn genesis_state() -> State {
        let funded: Vec<(PublicKeyHash, u64)> = bootstrap_accounts()
            .iter()
            .map(|a| (a.pkh, 100_000_000_000))
            .collect();
        State::genesis(&funded, &ctx(1))
    }

    /// A PVM state tree whose outbox at level `level` holds `msgs` (layout of
    /// `wasm_pvm::PvmState::to_tree`: root `tag` = `Some`, `value/pvm/buffers/output/…`), the
    /// output window ending at `level`.
    fn pvm_tree_with_outbox(level: u32, msgs: &[Vec<u8>]) -> durable_tree::Tree {
        let mut t = durable_tree::Tree::empty();
        let lvl = level.to_string();
        let out = ["value", "pvm", "buffers", "output"];
        let p = |rest: &[&str]| -> Vec<String> {
            out.iter().chain(rest).map(|s| (*s).to_string()).collect()
        };
        let set = |t: &mut durable_tree::Tree, path: Vec<String>, v: Vec<u8>| {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            t.set_contents(&path, v).unwrap();
        };
        for (i, m) in msgs.iter().enumerate() {
            let mut b = (m.len() as u32).to_be_bytes().to_vec();
            b.extend_from_slice(m);
            set(
                &mut t,
                p(&["1", "outboxes", &lvl, "contents", &i.to_string()]),
                b,
            );
        }
        // `z` of a small natural is one byte.
        set(
            &mut t,
            p(&["1", "outboxes", &lvl, "length"]),
            vec![msgs.len() as u8],
        );
        set(&mut t, p(&["1", "outboxes", &lvl, "head"]), vec![0]);
        set(
            &mut t,
            p(&["2", "last_level"]),
            (level as i32).to_be_bytes().to_vec(),
        );
        set(
            &mut t,
            p(&["3", "validity_period"]),
            1000i32.to_be_bytes().to_vec(),
        );
        set(&mut t, p(&["4", "message_limit"]), vec![100]);
        t.set_contents(&["value", "pvm", "buffers", "input", "length"], vec![0])
            .unwrap();
        t.set_contents(&["value", "pvm", "buffers", "input", "head"], vec![0])
            .unwrap();
        t.set_contents(&["tag"], b"\x00\x00\x00\x04Some".to_vec())
            .unwrap();
        t.set_contents(&["durable", "x"], b"unrelated".to_vec())
            .unwrap();
        t
    }

    /// A WASM rollup whose LCC (at `lcc_level`) commits to `tree`.
    fn rollup_with_lcc(
        st: &mut State,
        tree: &durable_tree::Tree,
        lcc_level: i32,
    ) -> (SmartRollupAddress, CommitmentHash) {
        let rollup = SmartRollupAddress::hash_bytes(b"outbox test rollup");
        let commitment = Commitment {
            compressed_state: StateHash(tree.hash().unwrap().0),
            inbox_level: chain_level(lcc_level),
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 1,
        };
        let h = commitment.hash();
        let mut commitments = BTreeMap::new();
        commitments.insert(
            h,
            CommitmentInfo {
                commitment,
                first_published_at_level: chain_level(lcc_level),
                stakers: BTreeSet::new(),
            },
        );
        st.rollups.insert(
            rollup,
            Rollup {
                kind: PvmKind::Wasm,
                boot_sector: Arc::new(vec![]),
                parameters_ty: BinMicheline::from_micheline(&Micheline::int(0)),
                whitelist: None,
                origination_level: chain_level(1),
                genesis_commitment: h,
                commitments,
                stakers: BTreeMap::new(),
                lcc: h,
                lcc_level: chain_level(lcc_level),
                cemented: vec![h],
                applied_outbox: BTreeMap::new(),
                ticket_balance: 0,
                last_whitelist_update: None,
                games: BTreeMap::new(),
                game_timeouts: BTreeMap::new(),
            },
        );
        (rollup, h)
    }

    fn call(dest: ContractHash, entrypoint: &str, value: Micheline) -> Vec<u8> {
        tezos_types::outbox::OutboxMessage::AtomicTransactionBatch {
            transactions: vec![tezos_types::outbox::OutboxTransaction {
                parameters: BinMicheline::from_micheline(&value),
                parameters_ty: None,
                destination: dest,
                entrypoint: entrypoint.into(),
            }],
        }
        .to_bin()
    }

    fn execute(
        st: &mut State,
        who: PublicKeyHash,
        rollup: SmartRollupAddress,
        cemented: CommitmentHash,
        proof: Vec<u8>,
    ) -> Value {
        run(
            st,
            who,
            OperationContent::SmartRollupExecuteOutboxMessage {
                rollup,
                cemented_commitment: cemented,
                output_proof: proof,
            },
            30,
        )
    }

    #[test]
    fn outbox_message_executes_once() {
        let mut st = genesis_state();
        let who = bootstrap_accounts()[0].pkh;
        let recorder = ContractHash([0x42; 20]);
        let msgs = vec![
            call(recorder, "default", Micheline::bytes(b"first".to_vec())),
            call(recorder, "default", Micheline::bytes(b"second".to_vec())),
        ];
        let tree = pvm_tree_with_outbox(20, &msgs);
        let (rollup, lcc) = rollup_with_lcc(&mut st, &tree, 25);
        let proof = wasm_pvm::output_proof::produce_output_proof(&tree, 20, 1).unwrap();
        let r = execute(&mut st, who, rollup, lcc, proof.clone());
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(
            st.contract_storage[&recorder],
            BinMicheline::from_micheline(&Micheline::bytes(b"second".to_vec()))
        );
        let r2 = execute(&mut st, who, rollup, lcc, proof);
        assert_eq!(r2["status"], "failed");
        assert_eq!(
            err_id(&r2),
            "proto.025-PsUshuai.smart_rollup_outbox_message_already_applied"
        );
        // The other message of the level is still executable.
        let proof0 = wasm_pvm::output_proof::produce_output_proof(&tree, 20, 0).unwrap();
        let r3 = execute(&mut st, who, rollup, lcc, proof0);
        assert_eq!(r3["status"], "applied", "{r3}");
        assert_eq!(
            st.contract_storage[&recorder],
            BinMicheline::from_micheline(&Micheline::bytes(b"first".to_vec()))
        );
    }

    fn whitelist_update(list: Option<Vec<PublicKeyHash>>) -> Vec<u8> {
        tezos_types::outbox::OutboxMessage::WhitelistUpdate { whitelist: list }.to_bin()
    }

    /// Whitelist updates of a private rollup (protocol `sc_rollup_operations.ml`): applied in
    /// order, an older one refused as outdated, `None` makes the rollup public, and a public
    /// rollup refuses any update.
    #[test]
    fn whitelist_updates_apply_in_order_and_can_make_the_rollup_public() {
        let mut st = genesis_state();
        let who = bootstrap_accounts()[0].pkh;
        let (a, b) = (bootstrap_accounts()[1].pkh, bootstrap_accounts()[2].pkh);
        let msgs = vec![
            whitelist_update(Some(vec![a])),
            whitelist_update(Some(vec![b])),
            whitelist_update(None),
        ];
        let tree = pvm_tree_with_outbox(20, &msgs);
        let (rollup, lcc) = rollup_with_lcc(&mut st, &tree, 25);
        let proof = |i| wasm_pvm::output_proof::produce_output_proof(&tree, 20, i).unwrap();
        // Public: refused.
        let r = execute(&mut st, who, rollup, lcc, proof(1));
        assert_eq!(
            err_id(&r),
            "proto.025-PsUshuai.smart_rollup_rollup_is_public"
        );
        st.rollups.get_mut(&rollup).unwrap().whitelist = Some(vec![who]);
        let r = execute(&mut st, who, rollup, lcc, proof(1));
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(st.rollups[&rollup].whitelist, Some(vec![b]));
        // Message 0 comes before the applied one: outdated.
        let r = execute(&mut st, who, rollup, lcc, proof(0));
        assert_eq!(
            err_id(&r),
            "proto.025-PsUshuai.smart_rollup_outdated_whitelist_update"
        );
        assert_eq!(st.rollups[&rollup].whitelist, Some(vec![b]));
        let r = execute(&mut st, who, rollup, lcc, proof(2));
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(st.rollups[&rollup].whitelist, None, "public now");
    }

    #[test]
    fn forged_or_foreign_proofs_are_refused() {
        let mut st = genesis_state();
        let who = bootstrap_accounts()[0].pkh;
        let msg = call(ContractHash([7; 20]), "default", Micheline::int(5));
        let tree = pvm_tree_with_outbox(20, std::slice::from_ref(&msg));
        let (rollup, lcc) = rollup_with_lcc(&mut st, &tree, 25);
        let proof = wasm_pvm::output_proof::produce_output_proof(&tree, 20, 0).unwrap();
        // A flipped byte in the proof.
        let mut forged = proof.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let r = execute(&mut st, who, rollup, lcc, forged);
        assert_eq!(
            err_id(&r),
            "proto.025-PsUshuai.smart_rollup_invalid_output_proof"
        );
        // A valid proof of another state than the commitment's.
        let other = pvm_tree_with_outbox(20, &[msg.clone(), msg]);
        let foreign = wasm_pvm::output_proof::produce_output_proof(&other, 20, 0).unwrap();
        let r = execute(&mut st, who, rollup, lcc, foreign);
        assert_eq!(
            err_id(&r),
            "proto.025-PsUshuai.smart_rollup_invalid_output_proof"
        );
        // A commitment that is not a stored cemented one.
        let r = execute(&mut st, who, rollup, CommitmentHash::ZERO, proof.clone());
        assert_eq!(
            err_id(&r),
            "proto.025-PsUshuai.smart_rollup_invalid_last_cemented_commitment"
        );
        // Nothing was recorded: the genuine proof still executes.
        let r = execute(&mut st, who, rollup, lcc, proof);
        assert_eq!(r["status"], "applied", "{r}");
    }

    #[test]
    fn outbox_levels_outside_the_active_window_are_refused() {
        let constants = Constants::test();
        let who = bootstrap_accounts()[0].pkh;
        let msg = call(ContractHash([7; 20]), "default", Micheline::int(5));
        let tree = pvm_tree_with_outbox(20, std::slice::from_ref(&msg));
        let proof = wasm_pvm::output_proof::produce_output_proof(&tree, 20, 0).unwrap();
        // Too old: level 20 <= lcc_level - max_active_outbox_levels.
        let mut st = genesis_state();
        let old_lcc = 20 + constants.smart_rollup_max_active_outbox_levels;
        let (rollup, lcc) = rollup_with_lcc(&mut st, &tree, old_lcc);
        let r = execute(&mut st, who, rollup, lcc, proof.clone());
        assert_eq!(
            err_id(&r),
            "proto.025-PsUshuai.smart_rollup_invalid_outbox_level"
        );
        // Still active one level later.
        let mut st = genesis_state();
        let (rollup, lcc) = rollup_with_lcc(&mut st, &tree, old_lcc - 1);
        let r = execute(&mut st, who, rollup, lcc, proof.clone());
        assert_eq!(r["status"], "applied", "{r}");
        // Above the LCC level.
        let mut st = genesis_state();
        let (rollup, lcc) = rollup_with_lcc(&mut st, &tree, 19);
        let r = execute(&mut st, who, rollup, lcc, proof);
        assert_eq!(
            err_id(&r),
            "proto.025-PsUshuai.smart_rollup_invalid_outbox_level"
        );
    }

    #[test]
    fn withdrawal_pays_the_receiver_from_the_bridge() {
        let mut st = genesis_state();
        let who = bootstrap_accounts()[0].pkh;
        let receiver = bootstrap_accounts()[1].pkh;
        let ticket = |amount: u64| {
            Micheline::pair(
                Micheline::string(receiver.to_b58check()),
                Micheline::pair(
                    Micheline::string(bridge_address().to_b58check()),
                    Micheline::pair(
                        Micheline::pair(Micheline::int(0), Micheline::prim(Prim::D_NONE, vec![])),
                        Micheline::int(amount),
                    ),
                ),
            )
        };
        let msgs = vec![
            call(bridge_address(), "burn", ticket(300)),
            call(bridge_address(), "burn", ticket(1_000)),
        ];
        let tree = pvm_tree_with_outbox(20, &msgs);
        let (rollup, lcc) = rollup_with_lcc(&mut st, &tree, 25);
        st.rollups.get_mut(&rollup).unwrap().ticket_balance = 500;
        st.bridge_balance = 500;
        let before = st.accounts[&receiver].balance;
        let proof = wasm_pvm::output_proof::produce_output_proof(&tree, 20, 0).unwrap();
        let r = execute(&mut st, who, rollup, lcc, proof);
        assert_eq!(r["status"], "applied", "{r}");
        assert_eq!(st.accounts[&receiver].balance, before + 300);
        assert_eq!(st.bridge_balance, 200);
        assert_eq!(st.rollups[&rollup].ticket_balance, 200);
        assert_eq!(r["ticket_updates"][0]["updates"][0]["amount"], "-300");
        // More than the rollup holds.
        let proof = wasm_pvm::output_proof::produce_output_proof(&tree, 20, 1).unwrap();
        let r = execute(&mut st, who, rollup, lcc, proof);
        assert_eq!(err_id(&r), "proto.025-PsUshuai.negative_ticket_balance");
        assert_eq!(st.bridge_balance, 200);
    }
}
