//! The L1 operations a smart rollup node injects (Octez `src/lib_smart_rollup/l1_operation.ml`,
//! `operation_kind.ml`, `src/lib_injector/injector_operation.ml`).
//!
//! * [`OperationKind`]: the eight kinds of the configuration (`fee-parameters`, `custom` mode).
//! * [`L1Operation`]: one operation, with Octez's JSON (docs/reference/octez-rollup-node.md §4.3
//!   "L1 operation JSON"), its binary encoding (`sc_rollup_node_l1_operation`: uint8 tag, then
//!   the fields; hashed for the injector id) and its manager-operation content.
//! * [`injector_id`]: the `iop…` id (`Injector_operation.hash`).
//! * [`Priority`]: the queue order of §9 (kind priority, then explicit order, then insertion
//!   counter).
//!
//! Pure: no I/O.

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use tezos_types::hash::InjectorOperationId;
use tezos_types::operation::{DalCommitmentProof, DalSlotHeader, Refutation, Stakers};
use tezos_types::{
    BinEncode, Commitment, CommitmentHash, DalCommitment, ManagerOperation, Mutez,
    OperationContent, PublicKeyHash, SmartRollupAddress, Writer,
};

/// L1 operation kinds a rollup node injects (`operation_kind.ml`, declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OperationKind {
    /// `publish`
    Publish,
    /// `add_messages`
    AddMessages,
    /// `cement`
    Cement,
    /// `timeout`
    Timeout,
    /// `refute`
    Refute,
    /// `recover`
    Recover,
    /// `execute_outbox_message`
    ExecuteOutboxMessage,
    /// `publish_dal_commitment`
    PublishDalCommitment,
}

impl OperationKind {
    /// All kinds, in Octez order.
    pub const ALL: [OperationKind; 8] = [
        Self::Publish,
        Self::AddMessages,
        Self::Cement,
        Self::Timeout,
        Self::Refute,
        Self::Recover,
        Self::ExecuteOutboxMessage,
        Self::PublishDalCommitment,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "publish",
            Self::AddMessages => "add_messages",
            Self::Cement => "cement",
            Self::Timeout => "timeout",
            Self::Refute => "refute",
            Self::Recover => "recover",
            Self::ExecuteOutboxMessage => "execute_outbox_message",
            Self::PublishDalCommitment => "publish_dal_commitment",
        }
    }

    /// Parses a wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Injection priority, smaller first: timeout < refute < cement < publish =
    /// publish_dal_commitment < recover < add_messages < execute_outbox_message
    /// (docs/reference/octez-rollup-node.md §9, `operation_kind.ml`).
    pub fn priority(self) -> u8 {
        match self {
            Self::Timeout => 0,
            Self::Refute => 1,
            Self::Cement => 2,
            Self::Publish | Self::PublishDalCommitment => 3,
            Self::Recover => 4,
            Self::AddMessages => 5,
            Self::ExecuteOutboxMessage => 6,
        }
    }

    /// Octez's default `fee_cap` for the kind, in mutez (`configuration.ml` `default_fee`).
    pub fn default_fee_cap(self) -> u64 {
        const TEZ: u64 = 1_000_000;
        match self {
            Self::Publish | Self::Timeout => 2 * TEZ,
            Self::Refute => 5 * TEZ,
            Self::AddMessages
            | Self::Cement
            | Self::Recover
            | Self::ExecuteOutboxMessage
            | Self::PublishDalCommitment => TEZ,
        }
    }

    /// Octez's default `burn_cap` for the kind, in mutez (`configuration.ml` `default_burn`).
    pub fn default_burn_cap(self) -> u64 {
        match self {
            Self::Publish
            | Self::Refute
            | Self::ExecuteOutboxMessage
            | Self::PublishDalCommitment => 1_000_000,
            Self::AddMessages | Self::Cement | Self::Recover | Self::Timeout => 0,
        }
    }

    /// Gas added to the simulated consumption (`injector.ml` `safety_guard`): 300 for
    /// publish, timeout and refute, none for the others.
    pub fn safety_guard(self) -> u64 {
        match self {
            Self::Publish | Self::Timeout | Self::Refute => 300,
            _ => 0,
        }
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`OperationKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown operation kind {0:?}: expected one of publish, add_messages, cement, timeout, refute, recover, execute_outbox_message, publish_dal_commitment"
)]
pub struct UnknownKind(pub String);

impl std::str::FromStr for OperationKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        Self::parse(s).ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

mod hex_list {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(hex::encode))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let v: Vec<String> = Vec::deserialize(d)?;
        v.iter()
            .map(|h| hex::decode(h).map_err(serde::de::Error::custom))
            .collect()
    }
}

mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let h = String::deserialize(d)?;
        hex::decode(h).map_err(serde::de::Error::custom)
    }
}

/// An operation of the rollup node (`l1_operation.ml`). JSON as Octez: tagged by `"kind"`
/// (docs/reference/octez-rollup-node.md §4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum L1Operation {
    /// `add_messages` (binary tag 0).
    AddMessages {
        /// External messages (JSON field `message`, hex).
        #[serde(rename = "message", with = "hex_list")]
        messages: Vec<Vec<u8>>,
    },
    /// `cement` (tag 1).
    Cement {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Commitment to cement.
        commitment: CommitmentHash,
    },
    /// `publish` (tag 2).
    Publish {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Commitment.
        commitment: Commitment,
    },
    /// `refute` (tag 3).
    Refute {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Opponent.
        opponent: PublicKeyHash,
        /// Move.
        refutation: Refutation,
    },
    /// `timeout` (tag 4).
    Timeout {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// The game.
        stakers: Stakers,
    },
    /// `recover` (tag 5), `Recover_bond`.
    Recover {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Staker whose bond is recovered.
        staker: PublicKeyHash,
    },
    /// `execute_outbox_message` (tag 6).
    ExecuteOutboxMessage {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Cemented commitment the proof refers to.
        cemented_commitment: CommitmentHash,
        /// Output proof (JSON field `proof`, hex).
        #[serde(rename = "proof", with = "hex_bytes")]
        output_proof: Vec<u8>,
    },
    /// `publish_dal_commitment` (tag 7): a DAL slot's commitment, posted by the DAL
    /// injection queue (`l1_operation.ml` `Publish_dal_commitment`).
    PublishDalCommitment {
        /// Slot index (uint8).
        slot_index: u8,
        /// The slot's commitment (`sh1…`, 48 bytes).
        commitment: DalCommitment,
        /// Its proof (hex, 96 bytes).
        commitment_proof: DalCommitmentProof,
    },
}

/// A JSON value that is not an [`L1Operation`].
#[derive(Debug, thiserror::Error)]
#[error("invalid L1 operation JSON: {0}")]
pub struct JsonError(#[from] pub serde_json::Error);

impl L1Operation {
    /// The operation's kind.
    pub fn kind(&self) -> OperationKind {
        match self {
            Self::AddMessages { .. } => OperationKind::AddMessages,
            Self::Cement { .. } => OperationKind::Cement,
            Self::Publish { .. } => OperationKind::Publish,
            Self::Refute { .. } => OperationKind::Refute,
            Self::Timeout { .. } => OperationKind::Timeout,
            Self::Recover { .. } => OperationKind::Recover,
            Self::ExecuteOutboxMessage { .. } => OperationKind::ExecuteOutboxMessage,
            Self::PublishDalCommitment { .. } => OperationKind::PublishDalCommitment,
        }
    }

    /// Whether two additions of the same operation are the same operation (`unique`):
    /// false for `add_messages`, `cement` and `publish_dal_commitment`, whose id then includes
    /// the insertion counter.
    pub fn unique(&self) -> bool {
        !matches!(
            self,
            Self::AddMessages { .. } | Self::Cement { .. } | Self::PublishDalCommitment { .. }
        )
    }

    /// Octez JSON (docs/reference/octez-rollup-node.md §4.3).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Parses Octez JSON.
    ///
    /// # Errors
    /// [`JsonError`] naming the offending field.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, JsonError> {
        Ok(Self::deserialize(v)?)
    }

    /// The manager-operation content injected on L1.
    pub fn to_content(&self) -> OperationContent {
        match self.clone() {
            Self::AddMessages { messages } => {
                OperationContent::SmartRollupAddMessages { message: messages }
            }
            Self::Cement { rollup, .. } => OperationContent::SmartRollupCement { rollup },
            Self::Publish { rollup, commitment } => {
                OperationContent::SmartRollupPublish { rollup, commitment }
            }
            Self::Refute {
                rollup,
                opponent,
                refutation,
            } => OperationContent::SmartRollupRefute {
                rollup,
                opponent,
                refutation,
            },
            Self::Timeout { rollup, stakers } => {
                OperationContent::SmartRollupTimeout { rollup, stakers }
            }
            Self::Recover { rollup, staker } => {
                OperationContent::SmartRollupRecoverBond { rollup, staker }
            }
            Self::ExecuteOutboxMessage {
                rollup,
                cemented_commitment,
                output_proof,
            } => OperationContent::SmartRollupExecuteOutboxMessage {
                rollup,
                cemented_commitment,
                output_proof,
            },
            Self::PublishDalCommitment {
                slot_index,
                commitment,
                commitment_proof,
            } => OperationContent::DalPublishCommitment {
                slot_header: DalSlotHeader {
                    slot_index,
                    commitment,
                    commitment_proof,
                },
            },
        }
    }

    /// Binary encoding `sc_rollup_node_l1_operation` (`l1_operation.ml`): uint8 case tag, then
    /// the fields; the last variable field carries no length prefix (top-level encoding),
    /// the messages of `add_messages` each a uint30 length and bytes.
    pub fn to_bin(&self) -> Vec<u8> {
        let mut w = Writer::new();
        match self {
            Self::AddMessages { messages } => {
                w.u8(0);
                for m in messages {
                    w.dyn_bytes(m);
                }
            }
            Self::Cement { rollup, commitment } => {
                w.u8(1);
                rollup.bin_write(&mut w);
                commitment.bin_write(&mut w);
            }
            Self::Publish { rollup, commitment } => {
                w.u8(2);
                rollup.bin_write(&mut w);
                commitment.bin_write(&mut w);
            }
            Self::Refute {
                rollup,
                opponent,
                refutation,
            } => {
                w.u8(3);
                rollup.bin_write(&mut w);
                opponent.bin_write(&mut w);
                w.bytes(&refutation_bytes(*rollup, *opponent, refutation));
            }
            Self::Timeout { rollup, stakers } => {
                w.u8(4);
                rollup.bin_write(&mut w);
                stakers.alice.bin_write(&mut w);
                stakers.bob.bin_write(&mut w);
            }
            Self::Recover { rollup, staker } => {
                w.u8(5);
                rollup.bin_write(&mut w);
                staker.bin_write(&mut w);
            }
            Self::ExecuteOutboxMessage {
                rollup,
                cemented_commitment,
                output_proof,
            } => {
                w.u8(6);
                rollup.bin_write(&mut w);
                cemented_commitment.bin_write(&mut w);
                w.bytes(output_proof);
            }
            Self::PublishDalCommitment {
                slot_index,
                commitment,
                commitment_proof,
            } => {
                w.u8(7);
                w.u8(*slot_index);
                commitment.bin_write(&mut w);
                w.bytes(&commitment_proof.0);
            }
        }
        w.into_bytes()
    }

    /// Short description as Octez prints it (`l1_operation.ml` `pp`).
    pub fn describe(&self) -> String {
        match self {
            Self::AddMessages { messages } => format!(
                "publishing {} messages to smart rollups' inbox",
                messages.len()
            ),
            Self::Cement { commitment, .. } => format!("cementing commitment {commitment}"),
            Self::Publish { commitment, .. } => {
                format!("publish commitment for level {}", commitment.inbox_level)
            }
            Self::Refute { opponent, .. } => format!("refutation move against {opponent}"),
            Self::Timeout { .. } => "timeout".to_owned(),
            Self::Recover { .. } => "recover".to_owned(),
            Self::ExecuteOutboxMessage { .. } => "Execute outbox message".to_owned(),
            Self::PublishDalCommitment {
                slot_index,
                commitment,
                ..
            } => format!("publishing DAL commitment {commitment} at slot index {slot_index}"),
        }
    }
}

/// The binary refutation (`Game.refutation_encoding`), taken from the manager-operation
/// encoding of tezos-types: the content with zero fee/counter/limits has a fixed 67-byte
/// header (tag, source, four one-byte zeros, rollup, opponent) before the refutation.
fn refutation_bytes(
    rollup: SmartRollupAddress,
    opponent: PublicKeyHash,
    refutation: &Refutation,
) -> Vec<u8> {
    const HEADER: usize = 1 + 21 + 4 + 20 + 21;
    let op = ManagerOperation {
        content: OperationContent::SmartRollupRefute {
            rollup,
            opponent,
            refutation: refutation.clone(),
        },
        source: opponent,
        fee: Mutez(0),
        counter: 0,
        gas_limit: 0,
        storage_limit: 0,
    };
    op.to_bin().get(HEADER..).unwrap_or_default().to_vec()
}

/// The injector id `iop…` of an operation (`Injector_operation.hash`): Blake2b-256 of
/// `nonce ‖ binary operation`, where the nonce is empty for [`L1Operation::unique`] operations
/// and otherwise the insertion counter as Zarith `to_bits` (empty for 0, else its 64-bit
/// little-endian limb).
pub fn injector_id(op: &L1Operation, counter: u64) -> InjectorOperationId {
    let nonce: Vec<u8> = if op.unique() || counter == 0 {
        Vec::new()
    } else {
        counter.to_le_bytes().to_vec()
    };
    InjectorOperationId::hash_parts(&[&nonce, &op.to_bin()])
}

/// Queue position of an operation (`injector_operation.ml` `compare`): kind priority, then
/// operations with an explicit `order` (ascending) before those without, then insertion
/// counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The kind.
    pub kind: OperationKind,
    /// Explicit order, if any.
    pub order: Option<i64>,
    /// Insertion counter.
    pub counter: u64,
}

impl Ord for Priority {
    fn cmp(&self, other: &Self) -> Ordering {
        self.kind
            .priority()
            .cmp(&other.kind.priority())
            .then_with(|| match (self.order, other.order) {
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
            .then_with(|| self.counter.cmp(&other.counter))
    }
}

impl PartialOrd for Priority {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tezos_types::StateHash;

    fn rollup() -> SmartRollupAddress {
        "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap()
    }
    fn pkh() -> PublicKeyHash {
        "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap()
    }
    fn commitment() -> Commitment {
        Commitment {
            compressed_state: StateHash::ZERO,
            inbox_level: tezos_types::Level::new(42).unwrap(),
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 11_000_000_000,
        }
    }

    fn all_ops() -> Vec<L1Operation> {
        vec![
            L1Operation::AddMessages {
                messages: vec![vec![1, 2], vec![]],
            },
            L1Operation::Cement {
                rollup: rollup(),
                commitment: CommitmentHash::ZERO,
            },
            L1Operation::Publish {
                rollup: rollup(),
                commitment: commitment(),
            },
            L1Operation::Refute {
                rollup: rollup(),
                opponent: pkh(),
                refutation: Refutation::Start {
                    player_commitment_hash: CommitmentHash::ZERO,
                    opponent_commitment_hash: commitment().hash(),
                },
            },
            L1Operation::Timeout {
                rollup: rollup(),
                stakers: Stakers::ordered(pkh(), pkh()),
            },
            L1Operation::Recover {
                rollup: rollup(),
                staker: pkh(),
            },
            L1Operation::ExecuteOutboxMessage {
                rollup: rollup(),
                cemented_commitment: CommitmentHash::ZERO,
                output_proof: vec![0xab, 0xcd],
            },
            L1Operation::PublishDalCommitment {
                slot_index: 3,
                commitment: DalCommitment::new([7; 48]),
                commitment_proof: DalCommitmentProof([9; 96]),
            },
        ]
    }

    #[test]
    fn json_shapes_match_octez_and_round_trip() {
        let ops = all_ops();
        assert_eq!(
            ops[0].to_json(),
            json!({"kind": "add_messages", "message": ["0102", ""]})
        );
        assert_eq!(
            ops[1].to_json(),
            json!({"kind": "cement", "rollup": rollup().to_string(),
                   "commitment": CommitmentHash::ZERO.to_string()})
        );
        let p = ops[2].to_json();
        assert_eq!(p["kind"], "publish");
        assert_eq!(p["commitment"]["inbox_level"], 42);
        assert_eq!(p["commitment"]["number_of_ticks"], "11000000000");
        assert_eq!(ops[4].to_json()["stakers"]["alice"], pkh().to_string());
        assert_eq!(
            ops[5].to_json(),
            json!({"kind": "recover", "rollup": rollup().to_string(), "staker": pkh().to_string()})
        );
        assert_eq!(ops[6].to_json()["proof"], "abcd");
        assert_eq!(
            ops[6].to_json()["cemented_commitment"],
            CommitmentHash::ZERO.to_string()
        );
        let d = ops[7].to_json();
        assert_eq!(d["kind"], "publish_dal_commitment");
        assert_eq!(d["slot_index"], 3);
        assert!(d["commitment"].as_str().unwrap().starts_with("sh1"), "{d}");
        assert_eq!(d["commitment_proof"], hex::encode([9; 96]));
        assert!(!ops[7].unique());
        assert_eq!(ops[7].kind(), OperationKind::PublishDalCommitment);
        for op in &ops {
            assert_eq!(L1Operation::from_json(&op.to_json()).unwrap(), *op);
            assert_eq!(op.to_json()["kind"], op.kind().as_str());
        }
        let e = L1Operation::from_json(&json!({"kind": "cement", "rollup": "nope"})).unwrap_err();
        assert!(e.to_string().contains("invalid L1 operation JSON"), "{e}");
    }

    #[test]
    fn binary_encoding_layout() {
        let ops = all_ops();
        assert_eq!(ops[0].to_bin(), vec![0, 0, 0, 0, 2, 1, 2, 0, 0, 0, 0]);
        assert_eq!(ops[1].to_bin().len(), 1 + 20 + 32);
        assert_eq!(ops[2].to_bin().len(), 1 + 20 + 76);
        // Start: tag 0 and two 32-byte hashes.
        let r = ops[3].to_bin();
        assert_eq!(r.len(), 1 + 20 + 21 + 1 + 64);
        assert_eq!(r[42], 0);
        assert_eq!(ops[4].to_bin().len(), 1 + 20 + 42);
        assert_eq!(ops[5].to_bin()[0], 5);
        let d = ops[7].to_bin();
        assert_eq!(d.len(), 1 + 1 + 48 + 96);
        assert_eq!(&d[..3], &[7, 3, 7]);
        let x = ops[6].to_bin();
        assert_eq!(x.len(), 1 + 20 + 32 + 2);
        assert_eq!(&x[53..], &[0xab, 0xcd]);
    }

    #[test]
    fn ids_are_deterministic_for_unique_ops_only() {
        let ops = all_ops();
        let publish = &ops[2];
        assert_eq!(injector_id(publish, 0), injector_id(publish, 7));
        assert!(injector_id(publish, 0).to_b58check().starts_with("iop"));
        let cement = &ops[1];
        assert_ne!(injector_id(cement, 1), injector_id(cement, 2));
        // Counter 0 is Zarith's empty bit string.
        assert_eq!(
            injector_id(cement, 0),
            InjectorOperationId::hash_bytes(&cement.to_bin())
        );
        let mut parts = 5u64.to_le_bytes().to_vec();
        parts.extend(cement.to_bin());
        assert_eq!(
            injector_id(cement, 5),
            InjectorOperationId::hash_bytes(&parts)
        );
    }

    #[test]
    fn priorities_follow_kind_then_order_then_counter() {
        use OperationKind as K;
        let p = |kind, order, counter| Priority {
            kind,
            order,
            counter,
        };
        let mut v = vec![
            p(K::ExecuteOutboxMessage, Some(0), 0),
            p(K::AddMessages, None, 1),
            p(K::AddMessages, Some(5), 9),
            p(K::AddMessages, Some(2), 10),
            p(K::Recover, None, 2),
            p(K::Publish, None, 3),
            p(K::Cement, None, 4),
            p(K::Refute, None, 5),
            p(K::Timeout, None, 6),
        ];
        v.sort();
        let kinds: Vec<_> = v.iter().map(|p| (p.kind, p.order)).collect();
        assert_eq!(
            kinds,
            vec![
                (K::Timeout, None),
                (K::Refute, None),
                (K::Cement, None),
                (K::Publish, None),
                (K::Recover, None),
                (K::AddMessages, Some(2)),
                (K::AddMessages, Some(5)),
                (K::AddMessages, None),
                (K::ExecuteOutboxMessage, Some(0)),
            ]
        );
        assert_eq!(K::Publish.priority(), K::PublishDalCommitment.priority());
    }

    #[test]
    fn kinds_parse_and_contents_match() {
        for k in OperationKind::ALL {
            assert_eq!(OperationKind::parse(k.as_str()), Some(k));
        }
        assert!("nope".parse::<OperationKind>().is_err());
        for op in all_ops() {
            let content = op.to_content();
            let expected = match op.kind() {
                OperationKind::AddMessages => tezos_types::operation::tag::SR_ADD_MESSAGES,
                OperationKind::Cement => tezos_types::operation::tag::SR_CEMENT,
                OperationKind::Publish => tezos_types::operation::tag::SR_PUBLISH,
                OperationKind::Refute => tezos_types::operation::tag::SR_REFUTE,
                OperationKind::Timeout => tezos_types::operation::tag::SR_TIMEOUT,
                OperationKind::Recover => tezos_types::operation::tag::SR_RECOVER_BOND,
                OperationKind::ExecuteOutboxMessage => {
                    tezos_types::operation::tag::SR_EXECUTE_OUTBOX_MESSAGE
                }
                OperationKind::PublishDalCommitment => {
                    tezos_types::operation::tag::DAL_PUBLISH_COMMITMENT
                }
            };
            assert_eq!(content.tag(), expected);
        }
        assert_eq!(OperationKind::Publish.safety_guard(), 300);
        assert_eq!(OperationKind::Cement.safety_guard(), 0);
    }
}
