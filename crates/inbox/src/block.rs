//! Typed L1 block data (l1-and-signer.md §1.2 head elements, §1.3.1 block info JSON, §2.11
//! receipts).
//!
//! Only what the rollup node uses is kept: shell header fields, and for every manager operation
//! content its source, kind-specific fields, result status, the rollup-relevant result fields and
//! its internal operation results. Everything else (attestations, balance updates, …) is
//! skipped.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tezos_types::encoding::json::hex_bytes_list;
use tezos_types::operation::PvmKind;
use tezos_types::{
    BinMicheline, BlockHash, ChainId, Commitment, CommitmentHash, ContextHash, ContractHash, Level,
    Micheline, Mutez, OperationHash, OperationListListHash, ProtocolHash, PublicKeyHash,
    SmartRollupAddress, Timestamp,
};

/// Shell part of a block header (`Block_header.shell_header`, §1.2), as served by
/// `…/header/shell`; extra fields (protocol data) are ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellHeader {
    /// Block level.
    pub level: Level,
    /// Protocol level (changes at each protocol migration).
    pub proto: u8,
    /// Predecessor block hash.
    pub predecessor: BlockHash,
    /// Block timestamp.
    pub timestamp: Timestamp,
    /// Number of validation passes.
    pub validation_pass: u8,
    /// Hash of the operation lists.
    pub operations_hash: OperationListListHash,
    /// Fitness, a list of byte strings (hex in JSON).
    #[serde(with = "hex_bytes_list")]
    pub fitness: Vec<Vec<u8>>,
    /// Context hash.
    pub context: ContextHash,
}

impl ShellHeader {
    /// Tenderbake round of the block: the last fitness element, a 4-byte big-endian integer
    /// (§1.2). `None` for a fitness of another shape.
    pub fn round(&self) -> Option<u32> {
        let last: [u8; 4] = self.fitness.get(4)?.as_slice().try_into().ok()?;
        Some(u32::from_be_bytes(last))
    }
}

/// A block hash with its shell header: one element of `/monitor/heads/<chain>` (§1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Block hash.
    pub hash: BlockHash,
    /// Shell header.
    #[serde(flatten)]
    pub shell: ShellHeader,
}

/// A full block fetched with `?metadata=always` (§1.3.1), reduced to what the node uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Protocol the block was applied with.
    pub protocol: ProtocolHash,
    /// Chain id.
    pub chain_id: ChainId,
    /// Block hash.
    pub hash: BlockHash,
    /// Shell header.
    pub header: ShellHeader,
    /// Operations by validation pass (index 3 holds manager operations).
    pub operations: Vec<Vec<Operation>>,
}

/// One operation of a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Operation hash.
    pub hash: OperationHash,
    /// Contents in order.
    pub contents: Vec<Content>,
}

/// One content of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// A manager operation with its receipt.
    Manager(Box<ManagerContent>),
    /// Anything else (attestations, votes, anonymous operations…): only its kind.
    Other {
        /// The `kind` field.
        kind: String,
    },
}

/// Status of an operation result (§2.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OperationStatus {
    /// Applied: the only status whose effects count.
    Applied,
    /// Failed (with errors).
    Failed,
    /// Applied, then undone because a later content of the batch failed.
    Backtracked,
    /// Not attempted because an earlier content of the batch failed.
    Skipped,
}

/// A manager operation content with its receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagerContent {
    /// Signer (fee payer).
    pub source: PublicKeyHash,
    /// Fee.
    pub fee: Mutez,
    /// Counter.
    pub counter: u64,
    /// Kind-specific fields.
    pub body: ManagerBody,
    /// Status of `metadata.operation_result`.
    pub status: OperationStatus,
    /// Rollup-relevant fields of an applied result.
    pub result: RollupResult,
    /// Errors of a failed/backtracked result, raw.
    pub errors: Vec<Value>,
    /// `metadata.internal_operation_results`, in order.
    pub internal_results: Vec<InternalResult>,
}

/// Kind-specific fields of a manager operation content (§2.2–§2.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManagerBody {
    /// `smart_rollup_add_messages`: external messages of the global inbox.
    AddMessages {
        /// Messages, in order.
        messages: Vec<Vec<u8>>,
    },
    /// `transaction`.
    Transaction {
        /// Amount.
        amount: Mutez,
        /// Destination.
        destination: Destination,
        /// Parameters, if any.
        parameters: Option<TxParameters>,
    },
    /// `smart_rollup_originate`.
    Originate {
        /// PVM kind.
        pvm_kind: PvmKind,
        /// Boot sector.
        kernel: Vec<u8>,
    },
    /// `smart_rollup_publish`.
    Publish {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Published commitment.
        commitment: Commitment,
    },
    /// `smart_rollup_cement`.
    Cement {
        /// Rollup.
        rollup: SmartRollupAddress,
    },
    /// `smart_rollup_refute`.
    Refute {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Opponent.
        opponent: PublicKeyHash,
    },
    /// `smart_rollup_timeout`.
    Timeout {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// First staker of the game.
        alice: PublicKeyHash,
        /// Second staker of the game.
        bob: PublicKeyHash,
    },
    /// `smart_rollup_execute_outbox_message`.
    ExecuteOutboxMessage {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Cemented commitment of the proof.
        cemented_commitment: CommitmentHash,
        /// The output proof (its output names the executed message's level and index).
        output_proof: Vec<u8>,
    },
    /// `smart_rollup_recover_bond`.
    RecoverBond {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Staker whose bond is released.
        staker: PublicKeyHash,
    },
    /// Any other manager kind (reveal, origination, delegation, DAL publish…).
    Other {
        /// The `kind` field.
        kind: String,
    },
}

/// Rollup-relevant fields of an **applied** manager result (§2.3–§2.8 receipts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RollupResult {
    /// Nothing the node reads (or the operation was not applied).
    None,
    /// `smart_rollup_originate`: the new rollup and its genesis commitment.
    Originate {
        /// Address of the originated rollup.
        address: SmartRollupAddress,
        /// Genesis commitment hash.
        genesis_commitment_hash: CommitmentHash,
    },
    /// `smart_rollup_publish`.
    Publish {
        /// Commitment now staked on.
        staked_hash: CommitmentHash,
        /// First publication level of that commitment.
        published_at_level: Level,
    },
    /// `smart_rollup_cement`.
    Cement {
        /// Cemented commitment.
        commitment_hash: CommitmentHash,
        /// Its inbox level.
        inbox_level: Level,
    },
    /// `smart_rollup_refute` / `smart_rollup_timeout`: `game_status`, raw.
    GameStatus(Value),
}

/// Destination (or source) of a transaction: `tz…`, `KT1…`, `sr1…` or anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    /// An implicit account.
    Implicit(PublicKeyHash),
    /// An originated contract.
    Originated(ContractHash),
    /// A smart rollup.
    SmartRollup(SmartRollupAddress),
    /// Another destination kind (e.g. a zk rollup), as text.
    Other(String),
}

impl Destination {
    fn parse(s: &str) -> Result<Self, String> {
        let e = |e: tezos_types::B58Error| format!("invalid address {s:?}: {e}");
        if s.starts_with("sr1") {
            SmartRollupAddress::from_b58check(s)
                .map(Self::SmartRollup)
                .map_err(e)
        } else if s.starts_with("KT1") {
            ContractHash::from_b58check(s)
                .map(Self::Originated)
                .map_err(e)
        } else if s.starts_with("tz") {
            PublicKeyHash::from_b58check(s)
                .map(Self::Implicit)
                .map_err(e)
        } else {
            Ok(Self::Other(s.to_owned()))
        }
    }
}

/// Transaction parameters: entrypoint and binary Micheline value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxParameters {
    /// Entrypoint.
    pub entrypoint: String,
    /// Argument (binary Micheline of the JSON value).
    pub value: BinMicheline,
}

/// An internal operation result (§2.11).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalResult {
    /// The emitting contract (`KT1…`, or `sr1…` for outbox executions).
    pub source: Destination,
    /// Internal operation nonce.
    pub nonce: u16,
    /// Kind-specific fields.
    pub body: InternalResultBody,
    /// Result status.
    pub status: OperationStatus,
}

/// Kind-specific fields of an internal operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InternalResultBody {
    /// `transaction`.
    Transaction {
        /// Amount.
        amount: Mutez,
        /// Destination.
        destination: Destination,
        /// Parameters, if any.
        parameters: Option<TxParameters>,
    },
    /// Another kind (`origination`, `delegation`, `event`).
    Other {
        /// The `kind` field.
        kind: String,
    },
}

/// Deterministic errors reading a block JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A manager operation has no receipt (pruned: `"too large"` or absent).
    #[error(
        "no metadata ({reason}) for manager operation {operation}; consider using an L1 node in \
         archive mode or with more history"
    )]
    MissingMetadata {
        /// Operation hash.
        operation: OperationHash,
        /// What was found instead.
        reason: String,
    },
    /// The JSON does not have the expected shape.
    #[error("invalid block JSON at {path}: {message}")]
    Json {
        /// JSON path of the offending value (e.g. `operations[3][0].contents[1].source`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// A `u64` written as a decimal string (counters).
#[derive(Deserialize)]
struct U64Str(#[serde(with = "tezos_types::encoding::json::u64_string")] u64);

fn err(path: &str, message: impl Into<String>) -> BlockError {
    BlockError::Json {
        path: path.to_owned(),
        message: message.into(),
    }
}

fn field<'v>(v: &'v Value, key: &str, path: &str) -> Result<&'v Value, BlockError> {
    v.get(key)
        .ok_or_else(|| err(&format!("{path}.{key}"), "missing field"))
}

fn de<T: DeserializeOwned>(v: &Value, key: &str, path: &str) -> Result<T, BlockError> {
    let x = field(v, key, path)?;
    T::deserialize(x).map_err(|e| err(&format!("{path}.{key}"), e.to_string()))
}

fn str_field<'v>(v: &'v Value, key: &str, path: &str) -> Result<&'v str, BlockError> {
    field(v, key, path)?
        .as_str()
        .ok_or_else(|| err(&format!("{path}.{key}"), "expected a string"))
}

fn array<'v>(v: &'v Value, key: &str, path: &str) -> Result<&'v [Value], BlockError> {
    field(v, key, path)?
        .as_array()
        .map(Vec::as_slice)
        .ok_or_else(|| err(&format!("{path}.{key}"), "expected an array"))
}

fn destination(v: &Value, key: &str, path: &str) -> Result<Destination, BlockError> {
    Destination::parse(str_field(v, key, path)?).map_err(|m| err(&format!("{path}.{key}"), m))
}

fn parameters(v: &Value, path: &str) -> Result<Option<TxParameters>, BlockError> {
    let Some(p) = v.get("parameters") else {
        return Ok(None);
    };
    let path = format!("{path}.parameters");
    let entrypoint = str_field(p, "entrypoint", &path)?.to_owned();
    let m = Micheline::from_json(field(p, "value", &path)?)
        .map_err(|m| err(&format!("{path}.value"), m))?;
    Ok(Some(TxParameters {
        entrypoint,
        value: BinMicheline::from_micheline(&m),
    }))
}

impl Block {
    /// Reads the JSON of `GET /chains/<c>/blocks/<id>?metadata=always` (§1.3.1).
    pub fn from_json(v: &Value) -> Result<Self, BlockError> {
        let header: ShellHeader = de(v, "header", "$")?;
        let mut operations = Vec::new();
        for (i, pass) in array(v, "operations", "$")?.iter().enumerate() {
            let path = format!("$.operations[{i}]");
            let pass = pass
                .as_array()
                .ok_or_else(|| err(&path, "expected an array"))?;
            let ops = pass
                .iter()
                .enumerate()
                .map(|(j, op)| Operation::from_json(op, &format!("{path}[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            operations.push(ops);
        }
        Ok(Self {
            protocol: de(v, "protocol", "$")?,
            chain_id: de(v, "chain_id", "$")?,
            hash: de(v, "hash", "$")?,
            header,
            operations,
        })
    }

    /// Level of the block.
    pub fn level(&self) -> Level {
        self.header.level
    }

    /// The block's header with its hash.
    pub fn block_header(&self) -> BlockHeader {
        BlockHeader {
            hash: self.hash,
            shell: self.header.clone(),
        }
    }

    /// All manager contents of the block, in block order (all passes, operation order,
    /// content order), with the hash of their operation.
    pub fn manager_contents(&self) -> impl Iterator<Item = (&OperationHash, &ManagerContent)> {
        self.operations.iter().flatten().flat_map(|op| {
            op.contents.iter().filter_map(move |c| match c {
                Content::Manager(m) => Some((&op.hash, &**m)),
                Content::Other { .. } => None,
            })
        })
    }
}

impl Operation {
    fn from_json(v: &Value, path: &str) -> Result<Self, BlockError> {
        let hash: OperationHash = de(v, "hash", path)?;
        let contents = array(v, "contents", path)?
            .iter()
            .enumerate()
            .map(|(k, c)| Content::from_json(c, &hash, &format!("{path}.contents[{k}]")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { hash, contents })
    }
}

impl Content {
    fn from_json(v: &Value, op: &OperationHash, path: &str) -> Result<Self, BlockError> {
        let kind = str_field(v, "kind", path)?;
        let is_manager = ["source", "fee", "counter", "gas_limit", "storage_limit"]
            .iter()
            .all(|k| v.get(k).is_some());
        if !is_manager {
            return Ok(Self::Other {
                kind: kind.to_owned(),
            });
        }
        ManagerContent::from_json(v, kind, op, path).map(|m| Self::Manager(Box::new(m)))
    }
}

impl ManagerContent {
    fn from_json(
        v: &Value,
        kind: &str,
        op: &OperationHash,
        path: &str,
    ) -> Result<Self, BlockError> {
        let counter: U64Str = de(v, "counter", path)?;
        let body = match kind {
            "smart_rollup_add_messages" => ManagerBody::AddMessages {
                messages: {
                    let p = format!("{path}.message");
                    hex_bytes_list::deserialize(field(v, "message", path)?)
                        .map_err(|e| err(&p, e.to_string()))?
                },
            },
            "transaction" => ManagerBody::Transaction {
                amount: de(v, "amount", path)?,
                destination: destination(v, "destination", path)?,
                parameters: parameters(v, path)?,
            },
            "smart_rollup_originate" => ManagerBody::Originate {
                pvm_kind: de(v, "pvm_kind", path)?,
                kernel: hex::decode(str_field(v, "kernel", path)?)
                    .map_err(|e| err(&format!("{path}.kernel"), e.to_string()))?,
            },
            "smart_rollup_publish" => ManagerBody::Publish {
                rollup: de(v, "rollup", path)?,
                commitment: de(v, "commitment", path)?,
            },
            "smart_rollup_cement" => ManagerBody::Cement {
                rollup: de(v, "rollup", path)?,
            },
            "smart_rollup_refute" => ManagerBody::Refute {
                rollup: de(v, "rollup", path)?,
                opponent: de(v, "opponent", path)?,
            },
            "smart_rollup_timeout" => {
                let stakers = field(v, "stakers", path)?;
                let sp = format!("{path}.stakers");
                ManagerBody::Timeout {
                    rollup: de(v, "rollup", path)?,
                    alice: de(stakers, "alice", &sp)?,
                    bob: de(stakers, "bob", &sp)?,
                }
            }
            "smart_rollup_execute_outbox_message" => ManagerBody::ExecuteOutboxMessage {
                rollup: de(v, "rollup", path)?,
                cemented_commitment: de(v, "cemented_commitment", path)?,
                output_proof: hex::decode(str_field(v, "output_proof", path)?)
                    .map_err(|e| err(&format!("{path}.output_proof"), e.to_string()))?,
            },
            "smart_rollup_recover_bond" => ManagerBody::RecoverBond {
                rollup: de(v, "rollup", path)?,
                staker: de(v, "staker", path)?,
            },
            other => ManagerBody::Other {
                kind: other.to_owned(),
            },
        };
        let metadata = match v.get("metadata") {
            Some(m @ Value::Object(_)) => m,
            Some(other) => {
                return Err(BlockError::MissingMetadata {
                    operation: *op,
                    reason: other.to_string(),
                });
            }
            None => {
                return Err(BlockError::MissingMetadata {
                    operation: *op,
                    reason: "absent".to_owned(),
                });
            }
        };
        let mpath = format!("{path}.metadata");
        let res = field(metadata, "operation_result", &mpath)?;
        let rpath = format!("{mpath}.operation_result");
        let status: OperationStatus = de(res, "status", &rpath)?;
        let errors = res
            .get("errors")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let result = if status == OperationStatus::Applied {
            match &body {
                ManagerBody::Originate { .. } => RollupResult::Originate {
                    address: de(res, "address", &rpath)?,
                    genesis_commitment_hash: de(res, "genesis_commitment_hash", &rpath)?,
                },
                ManagerBody::Publish { .. } => RollupResult::Publish {
                    staked_hash: de(res, "staked_hash", &rpath)?,
                    published_at_level: de(res, "published_at_level", &rpath)?,
                },
                ManagerBody::Cement { .. } => RollupResult::Cement {
                    commitment_hash: de(res, "commitment_hash", &rpath)?,
                    inbox_level: de(res, "inbox_level", &rpath)?,
                },
                ManagerBody::Refute { .. } | ManagerBody::Timeout { .. } => {
                    RollupResult::GameStatus(field(res, "game_status", &rpath)?.clone())
                }
                _ => RollupResult::None,
            }
        } else {
            RollupResult::None
        };
        let internal_results = match metadata.get("internal_operation_results") {
            None => Vec::new(),
            Some(_) => array(metadata, "internal_operation_results", &mpath)?
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    InternalResult::from_json(
                        r,
                        &format!("{mpath}.internal_operation_results[{i}]"),
                    )
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            source: de(v, "source", path)?,
            fee: de(v, "fee", path)?,
            counter: counter.0,
            body,
            status,
            result,
            errors,
            internal_results,
        })
    }
}

impl InternalResult {
    fn from_json(v: &Value, path: &str) -> Result<Self, BlockError> {
        let kind = str_field(v, "kind", path)?;
        let body = match kind {
            "transaction" => InternalResultBody::Transaction {
                amount: de(v, "amount", path)?,
                destination: destination(v, "destination", path)?,
                parameters: parameters(v, path)?,
            },
            other => InternalResultBody::Other {
                kind: other.to_owned(),
            },
        };
        let result = field(v, "result", path)?;
        Ok(Self {
            source: destination(v, "source", path)?,
            nonce: de(v, "nonce", path)?,
            body,
            status: de(result, "status", &format!("{path}.result"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const FIXTURE: &str = include_str!("../fixtures/block_with_rollup_ops.json");

    fn block() -> Block {
        Block::from_json(&serde_json::from_str(FIXTURE).unwrap()).unwrap()
    }

    #[test]
    fn header_fields() {
        let b = block();
        assert_eq!(i32::from(b.level()), 101);
        assert_eq!(
            b.hash.to_b58check(),
            "BMSwz2C4yJNWifpe7CS2RpE987RDAoEe2DbenJdAVB5GNap3LqS"
        );
        assert_eq!(
            b.header.predecessor.to_b58check(),
            "BKna7EA2MkS7fBpzxiM1HoQJfBrm3CoWrZ69bERTrwvCpo1iynB"
        );
        assert_eq!(
            b.header.timestamp,
            Timestamp::parse("2025-06-01T12:00:08Z").unwrap()
        );
        assert_eq!(b.header.proto, 3);
        assert_eq!(b.header.fitness[1], vec![0, 0, 0, 0x65]);
        assert_eq!(b.header.round(), Some(0));
        assert_eq!(b.chain_id.to_b58check(), "NetXdQprcVkpaWU");
        assert_eq!(b.operations.len(), 4);
        assert_eq!(
            b.operations[0][0].contents,
            vec![Content::Other {
                kind: "attestation".into()
            }]
        );
    }

    #[test]
    fn monitor_head_element() {
        let j = r#"{"hash":"BMSwz2C4yJNWifpe7CS2RpE987RDAoEe2DbenJdAVB5GNap3LqS","level":5123457,"proto":3,
 "predecessor":"BKna7EA2MkS7fBpzxiM1HoQJfBrm3CoWrZ69bERTrwvCpo1iynB","timestamp":"2025-06-01T12:00:08Z",
 "validation_pass":4,"operations_hash":"LLob33bCrdHtAJdhiUPDeD63pDdg7N1UbQm7adiiAQEXwEZE9dmHH",
 "fitness":["02","004e2d81","","ffffffff","00000003"],
 "context":"CoVBjog7tNSu9TioVkLBDHmnFhwng17fnb9zjJCH818ZGW8Tb6u3","protocol_data":"00"}"#;
        let h: BlockHeader = serde_json::from_str(j).unwrap();
        assert_eq!(i32::from(h.shell.level), 5_123_457);
        assert_eq!(h.shell.round(), Some(3));
        assert_eq!(h.shell.fitness[2], Vec::<u8>::new());
        let back: BlockHeader = serde_json::from_str(&serde_json::to_string(&h).unwrap()).unwrap();
        assert_eq!(back, h);
    }

    #[test]
    fn statuses_and_rollup_results() {
        let b = block();
        let contents: Vec<_> = b.manager_contents().map(|(_, c)| c).collect();
        assert_eq!(contents.len(), 10);
        assert_eq!(contents[0].status, OperationStatus::Applied);
        assert_eq!(contents[0].fee, Mutez(401));
        assert_eq!(contents[1].status, OperationStatus::Backtracked);
        assert_eq!(contents[2].status, OperationStatus::Failed);
        assert_eq!(contents[2].errors.len(), 1);
        assert_eq!(contents[3].internal_results.len(), 4);
        assert_eq!(
            contents[4].internal_results[0].status,
            OperationStatus::Skipped
        );
        assert_eq!(contents[5].status, OperationStatus::Skipped);
        assert_eq!(
            contents[6].result,
            RollupResult::Publish {
                staked_hash: "src12VCGrpKm4JRheTw2GVHLyb2ZrNBuZLSHmwnC59U2KRv2adgpvr"
                    .parse()
                    .unwrap(),
                published_at_level: Level::new(99).unwrap()
            }
        );
        let ManagerBody::Publish { commitment, .. } = &contents[6].body else {
            panic!("publish body")
        };
        assert_eq!(commitment.inbox_level, Level::new(62).unwrap());
        assert_eq!(commitment.number_of_ticks, 1_234_567_890);
        assert_eq!(
            contents[7].result,
            RollupResult::Cement {
                commitment_hash: "src12VdvCf6oXTuW5ShY3RnTZYtZ9gJDDi1UByPUH1SBR3AuCU1QRx"
                    .parse()
                    .unwrap(),
                inbox_level: Level::new(31).unwrap()
            }
        );
        assert!(matches!(
            &contents[8].body,
            ManagerBody::Originate { pvm_kind: PvmKind::Wasm, kernel } if kernel[..4] == *b"\0asm"
        ));
        assert!(matches!(contents[8].result, RollupResult::Originate { .. }));
    }

    #[test]
    fn too_large_metadata_is_an_error() {
        let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
        v["operations"][3][0]["contents"][0]["metadata"] = Value::String("too large".into());
        let e = Block::from_json(&v).unwrap_err();
        assert!(
            matches!(&e, BlockError::MissingMetadata { reason, .. } if reason == "\"too large\""),
            "{e}"
        );
        assert!(e.to_string().contains("archive mode"));
    }

    #[test]
    fn errors_carry_the_json_path() {
        let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
        v["operations"][3][2]["contents"][0]["metadata"]["internal_operation_results"][0]["destination"] =
            Value::String("sr1notb58".into());
        let e = Block::from_json(&v).unwrap_err();
        let BlockError::Json { path, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(
            path,
            "$.operations[3][2].contents[0].metadata.internal_operation_results[0].destination"
        );
        let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
        v["header"].as_object_mut().unwrap().remove("timestamp");
        assert!(matches!(
            Block::from_json(&v),
            Err(BlockError::Json { path, .. }) if path == "$.header"
        ));
    }
}
