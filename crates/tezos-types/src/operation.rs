//! Manager operations: binary forging/parsing, JSON, signing and hashing.
//!
//! Rules (l1-and-signer.md §2): an unsigned operation is `branch (32) ‖ contents…`; each
//! manager content is `tag ‖ source (21) ‖ fee n ‖ counter n ‖ gas_limit n ‖ storage_limit n ‖
//! fields`. The signed form appends the 64-byte signature; a BLS signature (96 bytes) is split as
//! a pseudo-content `ff 03 ‖ first 32 bytes` then the last 64 bytes. The operation hash (`o…`)
//! is Blake2b-256 of the signed bytes; the signature is over `0x03 ‖ unsigned bytes`.
//!
//! Supported kinds: reveal (0x6b), transaction (0x6c), `dal_publish_commitment` (0xe6) and the
//! eight smart rollup operations (0xc8–0xcf). Refutation proofs: the PVM step is kept as opaque bytes; input proofs support
//! inbox, raw-data, metadata, DAL page (binary layout derived, unverified) and DAL parameters
//! reveal proofs, and first-input proofs.

use crate::encoding::json::{hex_bytes, hex_bytes_list, u64_string};
use crate::encoding::{
    BinDecode, BinEncode, DecodeError, DecodeErrorKind, DecodeResult, Mutez, Reader, Writer,
};
use crate::hash::{
    BlockHash, CommitmentHash, Contract, DalCommitment, OperationHash, PublicKeyHash,
    SmartRollupAddress, StateHash,
};
use crate::keys::{PublicKey, SecretKey, Signature};
use crate::micheline::BinMicheline;
use crate::quantity::{Level, Tick};
use serde::{Deserialize, Serialize};

/// Operation tags (`operation_repr.ml`).
pub mod tag {
    /// `reveal`.
    pub const REVEAL: u8 = 0x6b;
    /// `transaction`.
    pub const TRANSACTION: u8 = 0x6c;
    /// `smart_rollup_originate`.
    pub const SR_ORIGINATE: u8 = 0xc8;
    /// `smart_rollup_add_messages`.
    pub const SR_ADD_MESSAGES: u8 = 0xc9;
    /// `smart_rollup_cement`.
    pub const SR_CEMENT: u8 = 0xca;
    /// `smart_rollup_publish`.
    pub const SR_PUBLISH: u8 = 0xcb;
    /// `smart_rollup_refute`.
    pub const SR_REFUTE: u8 = 0xcc;
    /// `smart_rollup_timeout`.
    pub const SR_TIMEOUT: u8 = 0xcd;
    /// `smart_rollup_execute_outbox_message`.
    pub const SR_EXECUTE_OUTBOX_MESSAGE: u8 = 0xce;
    /// `smart_rollup_recover_bond`.
    pub const SR_RECOVER_BOND: u8 = 0xcf;
    /// `dal_publish_commitment` (`dal_offset + 0` = 230).
    pub const DAL_PUBLISH_COMMITMENT: u8 = 0xe6;
    /// Signature-prefix pseudo-content (split BLS signatures).
    pub const SIGNATURE_PREFIX: u8 = 0xff;
}

fn bad_tag(offset: usize, what: &'static str, tag: u8) -> DecodeError {
    DecodeError {
        offset,
        kind: DecodeErrorKind::InvalidTag {
            what,
            tag: tag.into(),
        },
    }
}

/// A smart rollup commitment (`Sc_rollup_commitment_repr`, 76 bytes in binary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Commitment {
    /// PVM state hash at the end of the period.
    pub compressed_state: StateHash,
    /// Last inbox level of the period.
    pub inbox_level: Level,
    /// Previous commitment.
    pub predecessor: CommitmentHash,
    /// Ticks executed in the period (`Number_of_ticks`: an `int64` in `0 ..= Int64.max_int`,
    /// JSON string; negative is a decode error).
    #[serde(with = "number_of_ticks_json")]
    pub number_of_ticks: i64,
}

/// `number_of_ticks` in JSON: an `int64` decimal string, non-negative.
mod number_of_ticks_json {
    use serde::{Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        crate::encoding::json::i64_string::serialize(v, s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let v = crate::encoding::json::i64_string::deserialize(d)?;
        if v < 0 {
            return Err(D::Error::custom(format!(
                "number_of_ticks {v} is negative (expected 0 ..= {})",
                i64::MAX
            )));
        }
        Ok(v)
    }
}

impl Commitment {
    /// The commitment hash `src1…`: Blake2b-256 of the binary encoding.
    pub fn hash(&self) -> CommitmentHash {
        CommitmentHash::hash_bytes(&self.to_bin())
    }
}

impl BinEncode for Commitment {
    fn bin_write(&self, w: &mut Writer) {
        self.compressed_state.bin_write(w);
        self.inbox_level.bin_write(w);
        self.predecessor.bin_write(w);
        w.i64(self.number_of_ticks);
    }
}

impl BinDecode for Commitment {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        Ok(Self {
            compressed_state: StateHash::bin_read(r)?,
            inbox_level: Level::bin_read(r)?,
            predecessor: CommitmentHash::bin_read(r)?,
            number_of_ticks: {
                // `Number_of_ticks`: a bounded `int64` in `0 ..= Int64.max_int`.
                let at = r.position();
                let n = r.i64()?;
                if n < 0 {
                    return Err(DecodeError {
                        offset: at,
                        kind: DecodeErrorKind::Overflow("number_of_ticks (negative)"),
                    });
                }
                n
            },
        })
    }
}

/// PVM kind of a rollup (uint8 enum; JSON string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PvmKind {
    /// `arith` (0).
    #[serde(rename = "arith")]
    Arith,
    /// `wasm_2_0_0` (1).
    #[serde(rename = "wasm_2_0_0")]
    Wasm,
    /// `riscv` (2).
    #[serde(rename = "riscv")]
    Riscv,
}

/// Transaction entrypoint (`Entrypoint_repr`): tags 0–9 for the reserved names, 255 + uint8
/// length + name for others.
const ENTRYPOINTS: [&str; 10] = [
    "default",
    "root",
    "do",
    "set_delegate",
    "remove_delegate",
    "deposit",
    "stake",
    "unstake",
    "finalize_unstake",
    "set_delegate_parameters",
];

/// Transaction parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameters {
    /// Entrypoint name.
    pub entrypoint: String,
    /// Argument.
    pub value: BinMicheline,
}

/// The two stakers of a game.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stakers {
    /// First staker (should be the smaller pkh).
    pub alice: PublicKeyHash,
    /// Second staker.
    pub bob: PublicKeyHash,
}

impl Stakers {
    /// The pair in protocol order (`alice` < `bob`, comparing tag then hash bytes, i.e. the
    /// 21-byte binary form; l1-and-signer.md §2.8).
    pub fn ordered(a: PublicKeyHash, b: PublicKeyHash) -> Self {
        if a.to_bytes() <= b.to_bytes() {
            Self { alice: a, bob: b }
        } else {
            Self { alice: b, bob: a }
        }
    }
}

/// A dissection chunk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DissectionChunk {
    /// State hash at `tick` (absent for the final chunk of a stuck PVM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StateHash>,
    /// The tick.
    pub tick: Tick,
}

/// A reveal proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reveal_proof_kind", rename_all = "snake_case")]
pub enum RevealProof {
    /// Raw data pre-image (≤ 4096 bytes; binary uint16 length).
    RawDataProof {
        /// The pre-image.
        #[serde(with = "hex_bytes")]
        raw_data: Vec<u8>,
    },
    /// Metadata reveal.
    MetadataProof,
    /// DAL page reveal (binary derived from the JSON schema: page id, then the history proof
    /// as dynamic bytes; not checked against Octez bytes).
    DalPageProof {
        /// The page.
        dal_page_id: DalPageId,
        /// Serialized DAL skip-list proof.
        #[serde(with = "hex_bytes")]
        dal_proof: Vec<u8>,
    },
    /// DAL parameters reveal.
    DalParametersProof,
}

/// A DAL commitment proof (`dal_slot_repr.ml` `Commitment_proof` = the cryptobox's
/// `Degree_check.Proof`: a compressed BLS12-381 G2 point, 96 bytes; binary raw, JSON hex).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DalCommitmentProof(pub [u8; DalCommitmentProof::SIZE]);

impl DalCommitmentProof {
    /// Size in bytes.
    pub const SIZE: usize = 96;

    /// Parses the hex form (as `publish dal commitment … with proof <hex>` and the JSON take it).
    pub fn from_hex(s: &str) -> Result<Self, String> {
        let b = hex::decode(s).map_err(|e| format!("commitment proof `{s}` is not hex: {e}"))?;
        let n = b.len();
        b.try_into().map(Self).map_err(|_| {
            format!(
                "commitment proof must be {} bytes ({} hex digits), got {n} bytes",
                Self::SIZE,
                2 * Self::SIZE
            )
        })
    }
}

impl std::fmt::Debug for DalCommitmentProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DalCommitmentProof({})", hex::encode(self.0))
    }
}

impl std::fmt::Display for DalCommitmentProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl Serialize for DalCommitmentProof {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for DalCommitmentProof {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

/// The `slot_header` of a `dal_publish_commitment` (`dal_operations_repr.ml`
/// `Publish_commitment.encoding`): `slot_index` uint8 ‖ `commitment` (48 bytes, `sh1…`) ‖
/// `commitment_proof` (96 bytes, hex), in this order in binary and JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DalSlotHeader {
    /// Slot index (`Dal_slot_index_repr`, uint8; below the constants' `number_of_slots`).
    pub slot_index: u8,
    /// The slot's commitment.
    pub commitment: DalCommitment,
    /// Proof that the committed polynomial's degree fits a slot.
    pub commitment_proof: DalCommitmentProof,
}

/// A DAL page identifier (`Dal_slot_repr.Page`): int32 level, uint8 slot, int16 page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DalPageId {
    /// Level at which the slot was published.
    pub published_level: Level,
    /// Slot index.
    pub slot_index: u8,
    /// Page index.
    pub page_index: i16,
}

/// An input proof of a refutation's final step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "input_proof_kind", rename_all = "snake_case")]
pub enum InputProof {
    /// Inbox proof.
    InboxProof {
        /// Inbox level.
        level: Level,
        /// Message index.
        #[serde(with = "u64_string")]
        message_counter: u64,
        /// Serialized inbox proof.
        #[serde(with = "hex_bytes")]
        serialized_proof: Vec<u8>,
    },
    /// Reveal proof.
    RevealProof {
        /// The proof.
        reveal_proof: RevealProof,
    },
    /// First input.
    FirstInput,
}

/// A refutation move's step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RefutationStep {
    /// A dissection.
    Dissection(Vec<DissectionChunk>),
    /// A final proof.
    Proof {
        /// PVM-specific step proof (opaque bytes).
        #[serde(with = "hex_bytes")]
        pvm_step: Vec<u8>,
        /// Input proof, if the step reads an input.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_proof: Option<InputProof>,
    },
}

/// A refutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "refutation_kind", rename_all = "snake_case")]
pub enum Refutation {
    /// Start a game.
    Start {
        /// Our commitment.
        player_commitment_hash: CommitmentHash,
        /// The opponent's commitment.
        opponent_commitment_hash: CommitmentHash,
    },
    /// Play a move.
    Move {
        /// The chosen tick.
        choice: Tick,
        /// Dissection or proof.
        step: RefutationStep,
    },
}

/// The operation-specific part of a manager operation (JSON: tagged by `"kind"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OperationContent {
    /// `reveal` (0x6b).
    Reveal {
        /// Revealed key.
        public_key: PublicKey,
        /// BLS proof of possession (tz4 only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Signature>,
    },
    /// `transaction` (0x6c).
    Transaction {
        /// Amount.
        amount: Mutez,
        /// Destination.
        destination: Contract,
        /// Parameters (absent = `default` entrypoint with `Unit`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parameters: Option<Parameters>,
    },
    /// `smart_rollup_originate` (0xc8).
    SmartRollupOriginate {
        /// PVM kind.
        pvm_kind: PvmKind,
        /// Boot sector.
        #[serde(with = "hex_bytes")]
        kernel: Vec<u8>,
        /// Parameter type.
        parameters_ty: BinMicheline,
        /// Private rollup whitelist.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        whitelist: Option<Vec<PublicKeyHash>>,
    },
    /// `smart_rollup_add_messages` (0xc9).
    SmartRollupAddMessages {
        /// External messages.
        #[serde(with = "hex_bytes_list")]
        message: Vec<Vec<u8>>,
    },
    /// `smart_rollup_cement` (0xca).
    SmartRollupCement {
        /// Rollup.
        rollup: SmartRollupAddress,
    },
    /// `smart_rollup_publish` (0xcb).
    SmartRollupPublish {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Commitment.
        commitment: Commitment,
    },
    /// `smart_rollup_refute` (0xcc).
    SmartRollupRefute {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Opponent.
        opponent: PublicKeyHash,
        /// Refutation.
        refutation: Refutation,
    },
    /// `smart_rollup_timeout` (0xcd).
    SmartRollupTimeout {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// The game's stakers.
        stakers: Stakers,
    },
    /// `smart_rollup_execute_outbox_message` (0xce).
    SmartRollupExecuteOutboxMessage {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Cemented commitment the proof refers to.
        cemented_commitment: CommitmentHash,
        /// PVM output proof.
        #[serde(with = "hex_bytes")]
        output_proof: Vec<u8>,
    },
    /// `smart_rollup_recover_bond` (0xcf).
    SmartRollupRecoverBond {
        /// Rollup.
        rollup: SmartRollupAddress,
        /// Staker whose bond is released.
        staker: PublicKeyHash,
    },
    /// `dal_publish_commitment` (0xe6, `operation_repr.ml` `dal_publish_commitment_case`:
    /// `obj1 (req "slot_header" …)`).
    DalPublishCommitment {
        /// The published slot header.
        slot_header: DalSlotHeader,
    },
}

impl OperationContent {
    /// The binary tag.
    pub fn tag(&self) -> u8 {
        match self {
            Self::Reveal { .. } => tag::REVEAL,
            Self::Transaction { .. } => tag::TRANSACTION,
            Self::SmartRollupOriginate { .. } => tag::SR_ORIGINATE,
            Self::SmartRollupAddMessages { .. } => tag::SR_ADD_MESSAGES,
            Self::SmartRollupCement { .. } => tag::SR_CEMENT,
            Self::SmartRollupPublish { .. } => tag::SR_PUBLISH,
            Self::SmartRollupRefute { .. } => tag::SR_REFUTE,
            Self::SmartRollupTimeout { .. } => tag::SR_TIMEOUT,
            Self::SmartRollupExecuteOutboxMessage { .. } => tag::SR_EXECUTE_OUTBOX_MESSAGE,
            Self::SmartRollupRecoverBond { .. } => tag::SR_RECOVER_BOND,
            Self::DalPublishCommitment { .. } => tag::DAL_PUBLISH_COMMITMENT,
        }
    }
}

/// A manager operation: common envelope + content. JSON fields as Octez (`kind` first comes
/// from the content's tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManagerOperation {
    /// Operation kind and fields.
    #[serde(flatten)]
    pub content: OperationContent,
    /// Source (fee payer).
    pub source: PublicKeyHash,
    /// Fee.
    pub fee: Mutez,
    /// Counter (`n`).
    #[serde(with = "u64_string")]
    pub counter: u64,
    /// Gas limit (`n`).
    #[serde(with = "u64_string")]
    pub gas_limit: u64,
    /// Storage limit (`n`).
    #[serde(with = "u64_string")]
    pub storage_limit: u64,
}

fn write_entrypoint(w: &mut Writer, name: &str) {
    match ENTRYPOINTS.iter().position(|e| *e == name) {
        Some(i) => w.u8(i as u8),
        None => {
            w.u8(0xff);
            w.u8(u8::try_from(name.len()).unwrap_or(u8::MAX));
            w.bytes(name.as_bytes());
        }
    }
}

fn read_entrypoint(r: &mut Reader<'_>) -> DecodeResult<String> {
    let start = r.position();
    match r.u8()? {
        t @ 0..=9 => Ok(ENTRYPOINTS[usize::from(t)].to_owned()),
        0xff => {
            let len = r.u8()?;
            if len > 31 {
                return Err(r.invalid("entrypoint name longer than 31 bytes"));
            }
            let b = r.bytes(usize::from(len))?;
            String::from_utf8(b.to_vec()).map_err(|_| r.invalid("entrypoint name"))
        }
        t => Err(bad_tag(start, "entrypoint", t)),
    }
}

fn read_input_proof(r: &mut Reader<'_>) -> DecodeResult<InputProof> {
    let start = r.position();
    match r.u8()? {
        0 => Ok(InputProof::InboxProof {
            level: Level::bin_read(r)?,
            message_counter: r.n_u64()?,
            serialized_proof: r.dyn_bytes()?.to_vec(),
        }),
        1 => {
            let at = r.position();
            let reveal_proof = match r.u8()? {
                0 => {
                    let len = r.u16()?;
                    if len > 4096 {
                        return Err(r.invalid("raw data reveal longer than 4096 bytes"));
                    }
                    RevealProof::RawDataProof {
                        raw_data: r.bytes(usize::from(len))?.to_vec(),
                    }
                }
                1 => RevealProof::MetadataProof,
                2 => RevealProof::DalPageProof {
                    dal_page_id: DalPageId {
                        published_level: Level::bin_read(r)?,
                        slot_index: r.u8()?,
                        page_index: r.i16()?,
                    },
                    dal_proof: r.dyn_bytes()?.to_vec(),
                },
                3 => RevealProof::DalParametersProof,
                t => return Err(bad_tag(at, "reveal proof", t)),
            };
            Ok(InputProof::RevealProof { reveal_proof })
        }
        2 => Ok(InputProof::FirstInput),
        t => Err(bad_tag(start, "input proof", t)),
    }
}

fn write_input_proof(w: &mut Writer, p: &InputProof) {
    match p {
        InputProof::InboxProof {
            level,
            message_counter,
            serialized_proof,
        } => {
            w.u8(0);
            level.bin_write(w);
            w.n_u64(*message_counter);
            w.dyn_bytes(serialized_proof);
        }
        InputProof::RevealProof { reveal_proof } => {
            w.u8(1);
            match reveal_proof {
                RevealProof::RawDataProof { raw_data } => {
                    w.u8(0);
                    w.u16(u16::try_from(raw_data.len()).unwrap_or(u16::MAX));
                    w.bytes(raw_data);
                }
                RevealProof::MetadataProof => w.u8(1),
                RevealProof::DalPageProof {
                    dal_page_id,
                    dal_proof,
                } => {
                    w.u8(2);
                    dal_page_id.published_level.bin_write(w);
                    w.u8(dal_page_id.slot_index);
                    w.i16(dal_page_id.page_index);
                    w.dyn_bytes(dal_proof);
                }
                RevealProof::DalParametersProof => w.u8(3),
            }
        }
        InputProof::FirstInput => w.u8(2),
    }
}

impl BinEncode for ManagerOperation {
    fn bin_write(&self, w: &mut Writer) {
        w.u8(self.content.tag());
        self.source.bin_write(w);
        self.fee.bin_write(w);
        w.n_u64(self.counter);
        w.n_u64(self.gas_limit);
        w.n_u64(self.storage_limit);
        match &self.content {
            OperationContent::Reveal { public_key, proof } => {
                public_key.bin_write(w);
                w.opt_field(proof.as_ref(), |w, s| w.dyn_bytes(s.as_bytes()));
            }
            OperationContent::Transaction {
                amount,
                destination,
                parameters,
            } => {
                amount.bin_write(w);
                destination.bin_write(w);
                w.opt_field(parameters.as_ref(), |w, p| {
                    write_entrypoint(w, &p.entrypoint);
                    w.dyn_bytes(p.value.as_bytes());
                });
            }
            OperationContent::SmartRollupOriginate {
                pvm_kind,
                kernel,
                parameters_ty,
                whitelist,
            } => {
                w.u8(match pvm_kind {
                    PvmKind::Arith => 0,
                    PvmKind::Wasm => 1,
                    PvmKind::Riscv => 2,
                });
                w.dyn_bytes(kernel);
                w.dyn_bytes(parameters_ty.as_bytes());
                w.opt_field(whitelist.as_ref(), |w, l| {
                    w.dyn_list(l, |w, p| p.bin_write(w));
                });
            }
            OperationContent::SmartRollupAddMessages { message } => {
                w.dyn_list(message, |w, m| w.dyn_bytes(m));
            }
            OperationContent::SmartRollupCement { rollup } => rollup.bin_write(w),
            OperationContent::SmartRollupPublish { rollup, commitment } => {
                rollup.bin_write(w);
                commitment.bin_write(w);
            }
            OperationContent::SmartRollupRefute {
                rollup,
                opponent,
                refutation,
            } => {
                rollup.bin_write(w);
                opponent.bin_write(w);
                match refutation {
                    Refutation::Start {
                        player_commitment_hash,
                        opponent_commitment_hash,
                    } => {
                        w.u8(0);
                        player_commitment_hash.bin_write(w);
                        opponent_commitment_hash.bin_write(w);
                    }
                    Refutation::Move { choice, step } => {
                        w.u8(1);
                        choice.bin_write(w);
                        match step {
                            RefutationStep::Dissection(chunks) => {
                                w.u8(0);
                                w.dyn_list(chunks, |w, c| {
                                    w.opt_field(c.state.as_ref(), |w, s| s.bin_write(w));
                                    c.tick.bin_write(w);
                                });
                            }
                            RefutationStep::Proof {
                                pvm_step,
                                input_proof,
                            } => {
                                w.u8(1);
                                w.dyn_bytes(pvm_step);
                                w.opt_field(input_proof.as_ref(), write_input_proof);
                            }
                        }
                    }
                }
            }
            OperationContent::SmartRollupTimeout { rollup, stakers } => {
                rollup.bin_write(w);
                stakers.alice.bin_write(w);
                stakers.bob.bin_write(w);
            }
            OperationContent::SmartRollupExecuteOutboxMessage {
                rollup,
                cemented_commitment,
                output_proof,
            } => {
                rollup.bin_write(w);
                cemented_commitment.bin_write(w);
                w.dyn_bytes(output_proof);
            }
            OperationContent::SmartRollupRecoverBond { rollup, staker } => {
                rollup.bin_write(w);
                staker.bin_write(w);
            }
            OperationContent::DalPublishCommitment { slot_header } => {
                w.u8(slot_header.slot_index);
                slot_header.commitment.bin_write(w);
                w.bytes(&slot_header.commitment_proof.0);
            }
        }
    }
}

impl BinDecode for ManagerOperation {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        let t = r.u8()?;
        let source = PublicKeyHash::bin_read(r)?;
        let fee = Mutez::bin_read(r)?;
        let counter = r.n_u64()?;
        let gas_limit = r.n_u64()?;
        let storage_limit = r.n_u64()?;
        let content = match t {
            tag::REVEAL => {
                let public_key = PublicKey::bin_read(r)?;
                let proof = r.opt_field(|r| {
                    let at = r.position();
                    let b = r.dyn_bytes()?;
                    match Signature::from_bytes(b) {
                        Ok(s @ Signature::Bls(_)) => Ok(s),
                        _ => Err(DecodeError {
                            offset: at,
                            kind: DecodeErrorKind::Invalid("BLS proof".into()),
                        }),
                    }
                })?;
                OperationContent::Reveal { public_key, proof }
            }
            tag::TRANSACTION => OperationContent::Transaction {
                amount: Mutez::bin_read(r)?,
                destination: Contract::bin_read(r)?,
                parameters: r.opt_field(|r| {
                    let entrypoint = read_entrypoint(r)?;
                    let value = r.dynamic(BinMicheline::bin_read)?;
                    Ok(Parameters { entrypoint, value })
                })?,
            },
            tag::SR_ORIGINATE => {
                let at = r.position();
                let pvm_kind = match r.u8()? {
                    0 => PvmKind::Arith,
                    1 => PvmKind::Wasm,
                    2 => PvmKind::Riscv,
                    k => return Err(bad_tag(at, "PVM kind", k)),
                };
                OperationContent::SmartRollupOriginate {
                    pvm_kind,
                    kernel: r.dyn_bytes()?.to_vec(),
                    parameters_ty: r.dynamic(BinMicheline::bin_read)?,
                    whitelist: r.opt_field(|r| r.dyn_list(PublicKeyHash::bin_read))?,
                }
            }
            tag::SR_ADD_MESSAGES => OperationContent::SmartRollupAddMessages {
                message: r.dyn_list(|r| r.dyn_bytes().map(<[u8]>::to_vec))?,
            },
            tag::SR_CEMENT => OperationContent::SmartRollupCement {
                rollup: SmartRollupAddress::bin_read(r)?,
            },
            tag::SR_PUBLISH => OperationContent::SmartRollupPublish {
                rollup: SmartRollupAddress::bin_read(r)?,
                commitment: Commitment::bin_read(r)?,
            },
            tag::SR_REFUTE => {
                let rollup = SmartRollupAddress::bin_read(r)?;
                let opponent = PublicKeyHash::bin_read(r)?;
                let at = r.position();
                let refutation = match r.u8()? {
                    0 => Refutation::Start {
                        player_commitment_hash: CommitmentHash::bin_read(r)?,
                        opponent_commitment_hash: CommitmentHash::bin_read(r)?,
                    },
                    1 => {
                        let choice = Tick::bin_read(r)?;
                        let st = r.position();
                        let step = match r.u8()? {
                            0 => RefutationStep::Dissection(r.dyn_list(|r| {
                                Ok(DissectionChunk {
                                    state: r.opt_field(StateHash::bin_read)?,
                                    tick: Tick::bin_read(r)?,
                                })
                            })?),
                            1 => RefutationStep::Proof {
                                pvm_step: r.dyn_bytes()?.to_vec(),
                                input_proof: r.opt_field(read_input_proof)?,
                            },
                            k => return Err(bad_tag(st, "refutation step", k)),
                        };
                        Refutation::Move { choice, step }
                    }
                    k => return Err(bad_tag(at, "refutation", k)),
                };
                OperationContent::SmartRollupRefute {
                    rollup,
                    opponent,
                    refutation,
                }
            }
            tag::SR_TIMEOUT => OperationContent::SmartRollupTimeout {
                rollup: SmartRollupAddress::bin_read(r)?,
                stakers: Stakers {
                    alice: PublicKeyHash::bin_read(r)?,
                    bob: PublicKeyHash::bin_read(r)?,
                },
            },
            tag::SR_EXECUTE_OUTBOX_MESSAGE => OperationContent::SmartRollupExecuteOutboxMessage {
                rollup: SmartRollupAddress::bin_read(r)?,
                cemented_commitment: CommitmentHash::bin_read(r)?,
                output_proof: r.dyn_bytes()?.to_vec(),
            },
            tag::SR_RECOVER_BOND => OperationContent::SmartRollupRecoverBond {
                rollup: SmartRollupAddress::bin_read(r)?,
                staker: PublicKeyHash::bin_read(r)?,
            },
            tag::DAL_PUBLISH_COMMITMENT => OperationContent::DalPublishCommitment {
                slot_header: DalSlotHeader {
                    slot_index: r.u8()?,
                    commitment: DalCommitment::bin_read(r)?,
                    commitment_proof: DalCommitmentProof(r.array()?),
                },
            },
            t => return Err(bad_tag(start, "manager operation (unsupported kind)", t)),
        };
        Ok(Self {
            content,
            source,
            fee,
            counter,
            gas_limit,
            storage_limit,
        })
    }
}

/// An unsigned operation: `branch ‖ contents`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedOperation {
    /// Branch (block hash the operation is anchored to).
    pub branch: BlockHash,
    /// Manager operations (a batch from one source).
    pub contents: Vec<ManagerOperation>,
}

impl BinEncode for UnsignedOperation {
    fn bin_write(&self, w: &mut Writer) {
        self.branch.bin_write(w);
        for c in &self.contents {
            c.bin_write(w);
        }
    }
}

impl BinDecode for UnsignedOperation {
    /// Reads the branch and contents up to the end of the current section.
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let branch = BlockHash::bin_read(r)?;
        let contents = r.list_to_end(ManagerOperation::bin_read)?;
        if contents.is_empty() {
            return Err(r.invalid("operation without contents"));
        }
        Ok(Self { branch, contents })
    }
}

impl UnsignedOperation {
    /// The bytes a signer signs: watermark `0x03` ‖ unsigned bytes.
    pub fn bytes_to_sign(&self) -> Vec<u8> {
        let mut b = vec![3u8];
        b.extend(self.to_bin());
        b
    }

    /// Signs with `sk` (generic-operation watermark).
    pub fn sign(self, sk: &SecretKey) -> SignedOperation {
        let signature = sk.sign_operation(&self.to_bin());
        SignedOperation {
            branch: self.branch,
            contents: self.contents,
            signature,
        }
    }

    /// Attaches a signature obtained elsewhere (e.g. a remote signer).
    pub fn with_signature(self, signature: Signature) -> SignedOperation {
        SignedOperation {
            branch: self.branch,
            contents: self.contents,
            signature,
        }
    }
}

/// A signed operation (JSON `{"branch","contents","signature"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedOperation {
    /// Branch.
    pub branch: BlockHash,
    /// Manager operations.
    pub contents: Vec<ManagerOperation>,
    /// Signature.
    pub signature: Signature,
}

impl SignedOperation {
    /// The unsigned part.
    pub fn unsigned(&self) -> UnsignedOperation {
        UnsignedOperation {
            branch: self.branch,
            contents: self.contents.clone(),
        }
    }

    /// The operation hash `o…`: Blake2b-256 of the signed bytes.
    pub fn hash(&self) -> OperationHash {
        OperationHash::hash_bytes(&self.to_bin())
    }

    /// Verifies the signature against `pk`.
    pub fn verify(&self, pk: &PublicKey) -> bool {
        pk.verify(
            Some(&crate::keys::Watermark::GenericOperation),
            &self.unsigned().to_bin(),
            &self.signature,
        )
    }
}

impl BinEncode for SignedOperation {
    fn bin_write(&self, w: &mut Writer) {
        self.branch.bin_write(w);
        for c in &self.contents {
            c.bin_write(w);
        }
        match &self.signature {
            Signature::Bls(s) => {
                w.u8(tag::SIGNATURE_PREFIX);
                w.u8(3);
                w.bytes(&s[..32]);
                w.bytes(&s[32..]);
            }
            s => w.bytes(s.as_bytes()),
        }
    }
}

impl BinDecode for SignedOperation {
    /// Reads a whole signed operation: the current section must end with the signature.
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        if r.remaining() < 32 + 64 {
            return Err(r.error(DecodeErrorKind::UnexpectedEnd {
                needed: 96,
                available: r.remaining(),
            }));
        }
        let body_len = r.remaining() - 64;
        let (branch, contents, prefix) = r.sized(body_len, |r| {
            let branch = BlockHash::bin_read(r)?;
            let mut contents = Vec::new();
            let mut prefix = None;
            while !r.is_empty() {
                if r.peek_u8()? == tag::SIGNATURE_PREFIX {
                    r.u8()?;
                    let at = r.position();
                    let t = r.u8()?;
                    if t != 3 {
                        return Err(bad_tag(at, "signature prefix", t));
                    }
                    prefix = Some(r.array::<32>()?);
                    if !r.is_empty() {
                        return Err(r.invalid("content after signature prefix"));
                    }
                } else {
                    contents.push(ManagerOperation::bin_read(r)?);
                }
            }
            Ok((branch, contents, prefix))
        })?;
        if contents.is_empty() {
            return Err(r.invalid("operation without contents"));
        }
        let suffix: [u8; 64] = r.array()?;
        let signature = match prefix {
            None => Signature::Generic(suffix),
            Some(p) => {
                let mut s = [0u8; 96];
                s[..32].copy_from_slice(&p);
                s[32..].copy_from_slice(&suffix);
                Signature::Bls(s)
            }
        };
        Ok(Self {
            branch,
            contents,
            signature,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::micheline::{Micheline, Prim};

    const GENESIS: &str = "BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2";
    const B1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";
    const B1_SK: &str = "edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh";
    const B2: &str = "tz1faswCTDciRzE4oJ9jn2Vm2dvjeyA9fUzU";
    const SR: &str = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf";
    const B1_HEX: &str = "0002298c03ed7d454a101eb7022bc95f7e5f41ac78";
    const B2_HEX: &str = "00dac9f52543da1aed0bc1d6b46bf7c10db7014cd6";
    const SR_HEX: &str = "74f8952e7a287d78e8dceec67547bd00a278abbf";
    const GENESIS_HEX: &str = "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00b";

    fn op(
        content: OperationContent,
        fee: u64,
        counter: u64,
        gas: u64,
        storage: u64,
    ) -> ManagerOperation {
        ManagerOperation {
            content,
            source: B1.parse().unwrap(),
            fee: Mutez(fee),
            counter,
            gas_limit: gas,
            storage_limit: storage,
        }
    }

    fn check(m: &ManagerOperation, hex_expected: &str) {
        let b = m.to_bin();
        assert_eq!(hex::encode(&b), hex_expected);
        assert_eq!(&ManagerOperation::from_bin(&b).unwrap(), m);
        let j = serde_json::to_string(m).unwrap();
        assert_eq!(
            &serde_json::from_str::<ManagerOperation>(&j).unwrap(),
            m,
            "{j}"
        );
    }

    /// l1-and-signer.md §2.4 (verified with Taquito): forged bytes, signature, hash.
    #[test]
    fn add_messages_full_example() {
        let json = r#"{"branch":"BLockGenesisGenesisGenesisGenesisGenesisf79b5d1CoW2",
 "contents":[{"kind":"smart_rollup_add_messages","source":"tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx",
   "fee":"401","counter":"1","gas_limit":"1100","storage_limit":"0","message":["48656c6c6f","00ff"]}]}"#;
        let u: UnsignedOperation = serde_json::from_str(json).unwrap();
        let forged = hex::encode(u.to_bin());
        assert_eq!(
            forged,
            "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00bc90002298c03ed7d454a101eb7022bc95f7e5f41ac78910301cc08000000000f0000000548656c6c6f0000000200ff"
        );
        let sk: SecretKey = B1_SK.parse().unwrap();
        let s = u.clone().sign(&sk);
        assert_eq!(
            s.signature.to_string(),
            "edsigtkVb5NTpu9qZXb82AG4UE1p8FzYN3M5Yzfa2KGy9sDmpfTs6D2eHaoPnh2VVWLxTErsZtiNdqpMF44EGUEVCxsive3uszA"
        );
        let signed = s.to_bin();
        assert_eq!(
            hex::encode(&signed[signed.len() - 64..]),
            "60f8bdad293726c1e226494a6d4081009cdbb3599fe0b0dcbbd7412bfa758621b726ff43b9781843f3393c0f9c3eb4f02bb3b4a00cc9ace806011f9ac1c25709"
        );
        assert_eq!(
            s.hash().to_string(),
            "opJo4KX3M63eEvm6QGdZNA2t26LYHsd3kDTFjfKtUUibMKc4Lev"
        );
        assert!(s.verify(&sk.public_key()));
        let back = SignedOperation::from_bin(&signed).unwrap();
        assert_eq!(back.contents, s.contents);
        assert_eq!(back.signature.as_bytes(), s.signature.as_bytes());
        assert_eq!(UnsignedOperation::from_bin(&u.to_bin()).unwrap(), u);
    }

    /// `dal_publish_commitment` (operation_repr.ml tag 230; dal_operations_repr.ml
    /// `Publish_commitment.encoding`): tag ‖ manager fields ‖ slot index ‖ 48 ‖ 96 bytes. Same
    /// bytes as Taquito's local forger (`tests/it/taquito.rs` forges random ones).
    #[test]
    fn dal_publish_commitment_vector() {
        let commitment = DalCommitment([0x11; 48]);
        let proof = DalCommitmentProof([0x22; 96]);
        let m = op(
            OperationContent::DalPublishCommitment {
                slot_header: DalSlotHeader {
                    slot_index: 3,
                    commitment,
                    commitment_proof: proof,
                },
            },
            1000,
            7,
            2000,
            0,
        );
        check(
            &m,
            &format!(
                "e6{B1_HEX}e80707d00f0003{}{}",
                "11".repeat(48),
                "22".repeat(96)
            ),
        );
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["kind"], "dal_publish_commitment");
        assert_eq!(j["slot_header"]["slot_index"], 3);
        assert!(
            j["slot_header"]["commitment"]
                .as_str()
                .unwrap()
                .starts_with("sh1")
        );
        assert_eq!(j["slot_header"]["commitment_proof"], "22".repeat(96));
        // A short proof is refused with the expected size.
        let mut bad = j;
        bad["slot_header"]["commitment_proof"] = "22".into();
        let e = serde_json::from_value::<ManagerOperation>(bad).unwrap_err();
        assert!(e.to_string().contains("96 bytes"), "{e}");
        // Truncated binary is refused.
        let b = m.to_bin();
        assert!(ManagerOperation::from_bin(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn reveal_example() {
        // §2.2 (verified, Taquito): reveal fee 374 counter 1 gas 1000 storage 0.
        let sk: SecretKey = B1_SK.parse().unwrap();
        let m = op(
            OperationContent::Reveal {
                public_key: sk.public_key(),
                proof: None,
            },
            374,
            1,
            1000,
            0,
        );
        check(
            &m,
            &format!(
                "6b{B1_HEX}f60201e80700004798d2cc98473d7e250c898885718afd2e4efbcb1a1595ab9730761ed830de0f00"
            ),
        );
    }

    /// octez-codec vectors from `sdk/rust/protocol/src/operation.rs` (l1-and-signer.md §7).
    #[test]
    fn octez_codec_vectors() {
        let hexes = [
            // reveal, tz2
            "6b01f3023970264e14502daa1db4324527bc464fe0fd1fed0759070103480fcf4241d5903bd5b9a71db63fc6784dc9e686acf0dac9b4305d54cb64294600",
            // reveal, tz4 with proof
            "6b038f54fa9607db6d164b42bd23f3bfedc99460d4bc7f5bb21900039423b322ccff9b945501d28f743a0369583c1552d47dc69fa5d624bde1034df571103c62a969d5998d4682be60ca3e83ff000000609517ce0faabbf099b46a3b786f3ae0ef81cfdf4d89a8b0d1ff9216bf092a8e90987549cbc3234f21af4b29fe0a5f217c16d56336cdc26d5c364c961ca1f7ac44e9a778f9bab5695dd88f0a7cfbfa0582cb8cd7b5ef158b6b59abd576eb181ddc",
            // transaction with named entrypoint "B" and value "Hello"
            "6c0002298c03ed7d454a101eb7022bc95f7e5f41ac78950302e40a00c0843d014151d57ddff98da8cd49f0f2cbf89465bcf267a400ffff01420000000a010000000548656c6c6f",
            // plain transfer
            "6c00e7670f32038107a59a2b9cfefae36ea21f5aa63cdb07c80300fd0a0a000002298c03ed7d454a101eb7022bc95f7e5f41ac7800",
            // transaction, entrypoint remove_delegate
            "6c02ebfd1371b542831b4be730161d08885c5312e44207ff200000000003db557924e5a295652eff2c1f141d5a5b72b9cc91ff0400000002030b",
            // cement (§2.5)
            "ca00e7670f32038107a59a2b9cfefae36ea21f5aa63cd2099506d00f0afceda8e679c698b26b5f6772411955354a81a05c",
        ];
        for h in hexes {
            let b = hex::decode(h).unwrap();
            let m = ManagerOperation::from_bin(&b).unwrap_or_else(|e| panic!("{h}: {e}"));
            assert_eq!(hex::encode(m.to_bin()), h);
            let j = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<ManagerOperation>(&j).unwrap(), m);
        }
        let m = ManagerOperation::from_bin(&hex::decode(hexes[2]).unwrap()).unwrap();
        let OperationContent::Transaction {
            parameters: Some(p),
            ..
        } = &m.content
        else {
            panic!()
        };
        assert_eq!(p.entrypoint, "B");
        assert_eq!(p.value.decode().unwrap(), Micheline::string("Hello"));
        // Cement JSON as in §2.5.
        let c: ManagerOperation = serde_json::from_str(r#"{"kind":"smart_rollup_cement","source":"tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN","fee":"1234","counter":"789","gas_limit":"2000","storage_limit":"10","rollup":"sr1V6huFSUBUujzubUCg9nNXqpzfG9t4XD1h"}"#).unwrap();
        assert_eq!(hex::encode(c.to_bin()), hexes[5]);
    }

    #[test]
    fn publish_vector() {
        // §2.6 (octez-codec). The reference's hex misplaces one nibble of the rollup address
        // (`027b7e…2250`); the address decodes to `27b7e1…2501`, as encoded here.
        let json = r#"{"kind":"smart_rollup_publish","source":"tz4Quq6VcCeJVmCknjzTX5kcrhUzcMruoavF","fee":"4000","counter":"61",
 "gas_limit":"4200","storage_limit":"0","rollup":"sr19fMYrr5C4qqvQqQrDSjtP31GcrWjodzvg",
 "commitment":{"compressed_state":"srs11ZWE34ur1d8j81Eqt68v2P5gFkP3hHms6kQ9Qo26j7ktDeu85y","inbox_level":42,
   "predecessor":"src12UJzB8mg7yU6nWPzicH7ofJbFjyJEbHvwtZdfRXi8DQHNp1LY8","number_of_ticks":"1234567890"}}"#;
        let m: ManagerOperation = serde_json::from_str(json).unwrap();
        let expected = format!(
            "cb03ae7b7d713977a27ec643969f0c2e665ba9ad9aa1a01f3de8200027b7e1d8fb4292cca7b57c065ac9f210fcf22501{}0000002a{}00000000499602d2",
            "11".repeat(32),
            "00".repeat(32)
        );
        check(&m, &expected);
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["commitment"]["number_of_ticks"], "1234567890");
        assert_eq!(j["kind"], "smart_rollup_publish");
    }

    #[test]
    fn originate_vectors() {
        // §2.3 (verified, Taquito).
        let m = op(
            OperationContent::SmartRollupOriginate {
                pvm_kind: PvmKind::Wasm,
                kernel: hex::decode("0061736d01000000").unwrap(),
                parameters_ty: (&Micheline::prim(Prim::T_BYTES, vec![])).into(),
                whitelist: None,
            },
            1300,
            42,
            3000,
            7000,
        );
        check(
            &m,
            &format!("c8{B1_HEX}940a2ab817d83601000000080061736d0100000000000002036900"),
        );
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["parameters_ty"], serde_json::json!({"prim":"bytes"}));
        assert_eq!(j["pvm_kind"], "wasm_2_0_0");
        let m2 = op(
            OperationContent::SmartRollupOriginate {
                pvm_kind: PvmKind::Arith,
                kernel: vec![],
                parameters_ty: (&Micheline::prim(Prim::T_STRING, vec![])).into(),
                whitelist: Some(vec![B1.parse().unwrap(), B2.parse().unwrap()]),
            },
            1300,
            42,
            3000,
            7000,
        );
        check(
            &m2,
            &format!("c8{B1_HEX}940a2ab817d8360000000000000000020368ff0000002a{B1_HEX}{B2_HEX}"),
        );
    }

    #[test]
    fn execute_timeout_recover_vectors() {
        let sr: SmartRollupAddress = SR.parse().unwrap();
        // §2.9 (verified, Taquito) with a fixed cemented commitment.
        let cc = CommitmentHash([0xb2; 32]);
        let m = op(
            OperationContent::SmartRollupExecuteOutboxMessage {
                rollup: sr,
                cemented_commitment: cc,
                output_proof: hex::decode("deadbeef").unwrap(),
            },
            1300,
            42,
            3000,
            7000,
        );
        check(
            &m,
            &format!(
                "ce{B1_HEX}940a2ab817d836{SR_HEX}{}00000004deadbeef",
                "b2".repeat(32)
            ),
        );
        let (b1, b2): (PublicKeyHash, PublicKeyHash) = (B1.parse().unwrap(), B2.parse().unwrap());
        assert_eq!(Stakers::ordered(b2, b1), Stakers { alice: b1, bob: b2 });
        // §2.8 (derived).
        let m = op(
            OperationContent::SmartRollupTimeout {
                rollup: sr,
                stakers: Stakers {
                    alice: B1.parse().unwrap(),
                    bob: B2.parse().unwrap(),
                },
            },
            800,
            48,
            5000,
            0,
        );
        check(
            &m,
            &format!("cd{B1_HEX}a006308827{}{SR_HEX}{B1_HEX}{B2_HEX}", "00"),
        );
        // §2.10 (derived).
        let m = op(
            OperationContent::SmartRollupRecoverBond {
                rollup: sr,
                staker: B1.parse().unwrap(),
            },
            600,
            49,
            4000,
            0,
        );
        check(&m, &format!("cf{B1_HEX}d80431a01f00{SR_HEX}{B1_HEX}"));
    }

    #[test]
    fn refute_vectors() {
        let sr: SmartRollupAddress = SR.parse().unwrap();
        let opp: PublicKeyHash = B2.parse().unwrap();
        // §2.7 Start (derived): fee 1200 (b009), counter 45 (2d), gas 9000 (a846).
        let start = op(
            OperationContent::SmartRollupRefute {
                rollup: sr,
                opponent: opp,
                refutation: Refutation::Start {
                    player_commitment_hash: CommitmentHash([0x47; 32]),
                    opponent_commitment_hash: CommitmentHash([0xff; 32]),
                },
            },
            1200,
            45,
            9000,
            0,
        );
        check(
            &start,
            &format!(
                "cc{B1_HEX}b0092da84600{SR_HEX}{B2_HEX}00{}{}",
                "47".repeat(32),
                "ff".repeat(32)
            ),
        );
        let j = serde_json::to_value(&start).unwrap();
        assert_eq!(j["refutation"]["refutation_kind"], "start");
        // Dissection: [{state, 0}, {state, 500}, {tick 1000}], choice 0.
        let diss = op(
            OperationContent::SmartRollupRefute {
                rollup: sr,
                opponent: opp,
                refutation: Refutation::Move {
                    choice: Tick::new(0),
                    step: RefutationStep::Dissection(vec![
                        DissectionChunk {
                            state: Some(StateHash([0x1d; 32])),
                            tick: Tick::new(0),
                        },
                        DissectionChunk {
                            state: Some(StateHash([0x7d; 32])),
                            tick: Tick::new(500),
                        },
                        DissectionChunk {
                            state: None,
                            tick: Tick::new(1000),
                        },
                    ]),
                },
            },
            1200,
            45,
            9000,
            0,
        );
        let b = hex::encode(diss.to_bin());
        assert!(
            b.ends_with(&format!(
                "01000000000048ff{}00ff{}f40300e807",
                "1d".repeat(32),
                "7d".repeat(32)
            )),
            "{b}"
        );
        check(&diss, &b);
        // Proof move (choice 499, pvm_step 0300, first input).
        let proof = op(
            OperationContent::SmartRollupRefute {
                rollup: sr,
                opponent: opp,
                refutation: Refutation::Move {
                    choice: Tick::new(499),
                    step: RefutationStep::Proof {
                        pvm_step: vec![3, 0],
                        input_proof: Some(InputProof::FirstInput),
                    },
                },
            },
            1200,
            45,
            9000,
            0,
        );
        let b = hex::encode(proof.to_bin());
        assert!(b.ends_with("01f30301000000020300ff02"), "{b}");
        check(&proof, &b);
        for ip in [
            InputProof::InboxProof {
                level: Level::new(7).unwrap(),
                message_counter: 3,
                serialized_proof: vec![1, 2],
            },
            InputProof::RevealProof {
                reveal_proof: RevealProof::RawDataProof {
                    raw_data: vec![9; 10],
                },
            },
            InputProof::RevealProof {
                reveal_proof: RevealProof::MetadataProof,
            },
        ] {
            let m = op(
                OperationContent::SmartRollupRefute {
                    rollup: sr,
                    opponent: opp,
                    refutation: Refutation::Move {
                        choice: Tick::new(1),
                        step: RefutationStep::Proof {
                            pvm_step: vec![],
                            input_proof: Some(ip),
                        },
                    },
                },
                1,
                1,
                1,
                1,
            );
            let b = m.to_bin();
            assert_eq!(ManagerOperation::from_bin(&b).unwrap(), m);
            let j = serde_json::to_string(&m).unwrap();
            assert_eq!(
                serde_json::from_str::<ManagerOperation>(&j).unwrap(),
                m,
                "{j}"
            );
        }
    }

    #[test]
    fn commitment_hash() {
        let genesis = Commitment {
            compressed_state: "srs11ZWE34ur1d8j81Eqt68v2P5gFkP3hHms6kQ9Qo26j7ktDeu85y"
                .parse()
                .unwrap(),
            inbox_level: Level::new(42).unwrap(),
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 1234567890,
        };
        let b = genesis.to_bin();
        assert_eq!(b.len(), 76);
        assert_eq!(Commitment::from_bin(&b).unwrap(), genesis);
        assert_eq!(genesis.hash(), CommitmentHash::hash_bytes(&b));
    }

    #[test]
    fn commitment_rejects_negative_level_and_ticks() {
        let c = Commitment {
            compressed_state: StateHash([3; 32]),
            inbox_level: Level::new(7).unwrap(),
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 5,
        };
        let good = c.to_bin();
        // level at bytes 32..36, ticks at 68..76.
        let mut bad_level = good.clone();
        bad_level[32] = 0x80;
        let e = Commitment::from_bin(&bad_level).unwrap_err();
        assert_eq!(e.offset, 32, "{e}");
        let mut bad_ticks = good;
        bad_ticks[68] = 0xff;
        let e = Commitment::from_bin(&bad_ticks).unwrap_err();
        assert_eq!(e.offset, 68, "{e}");
        let mut j = serde_json::to_value(c).unwrap();
        assert!(serde_json::from_value::<Commitment>(j.clone()).is_ok());
        let mut neg_ticks = j.clone();
        j["inbox_level"] = serde_json::json!(-1);
        assert!(serde_json::from_value::<Commitment>(j).is_err());
        neg_ticks["number_of_ticks"] = serde_json::json!("-5");
        let e = serde_json::from_value::<Commitment>(neg_ticks).unwrap_err();
        assert!(e.to_string().contains("negative"), "{e}");
    }

    #[test]
    fn bls_signed_operation_layout() {
        let sk: SecretKey = "BLsk1XMDG3iepYGj15mBWc7dYjrkpVVM4VH3y5DyBCN9iAGrELwRbY"
            .parse()
            .unwrap();
        let u = UnsignedOperation {
            branch: GENESIS.parse().unwrap(),
            contents: vec![ManagerOperation {
                content: OperationContent::SmartRollupCement {
                    rollup: SR.parse().unwrap(),
                },
                source: sk.public_key_hash(),
                fee: Mutez(1),
                counter: 2,
                gas_limit: 3,
                storage_limit: 4,
            }],
        };
        let s = u.clone().sign(&sk);
        let b = s.to_bin();
        let ub = u.to_bin();
        assert_eq!(b.len(), ub.len() + 2 + 96);
        assert_eq!(&b[ub.len()..ub.len() + 2], &[0xff, 0x03]);
        let back = SignedOperation::from_bin(&b).unwrap();
        assert_eq!(back, s);
        assert!(back.verify(&sk.public_key()));
        assert!(hex::encode(&b).starts_with(GENESIS_HEX));
    }

    #[test]
    fn malformed_operations() {
        for bad in [
            "",
            "6e0002298c03ed7d454a101eb7022bc95f7e5f41ac7801010101",
            "c90002298c03ed7d454a101eb7022bc95f7e5f41ac7801010101",
            "cc0002298c03ed7d454a101eb7022bc95f7e5f41ac780101010174f8952e7a287d78e8dceec67547bd00a278abbf00dac9f52543da1aed0bc1d6b46bf7c10db7014cd607",
            "c80002298c03ed7d454a101eb7022bc95f7e5f41ac780101010107",
        ] {
            let b = hex::decode(bad).unwrap();
            assert!(ManagerOperation::from_bin(&b).is_err(), "{bad}");
        }
        assert!(SignedOperation::from_bin(&[0; 95]).is_err());
        assert!(SignedOperation::from_bin(&[0; 96]).is_err()); // no contents
    }

    fn arb_content() -> impl proptest::strategy::Strategy<Value = OperationContent> {
        use proptest::prelude::*;
        let h32 = || any::<[u8; 32]>();
        let sr = || any::<[u8; 20]>().prop_map(SmartRollupAddress);
        let pkh = || any::<[u8; 20]>().prop_map(PublicKeyHash::Secp256k1);
        let bytes = |n| proptest::collection::vec(any::<u8>(), 0..n);
        let chunk =
            (proptest::option::of(h32()), any::<u128>()).prop_map(|(s, tick)| DissectionChunk {
                state: s.map(StateHash),
                tick: Tick::new(tick),
            });
        let input_proof = prop_oneof![
            (0..=i32::MAX, any::<u64>(), bytes(8)).prop_map(|(level, message_counter, p)| {
                InputProof::InboxProof {
                    level: Level::new(level).unwrap(),
                    message_counter,
                    serialized_proof: p,
                }
            }),
            bytes(16).prop_map(|raw_data| InputProof::RevealProof {
                reveal_proof: RevealProof::RawDataProof { raw_data }
            }),
            Just(InputProof::RevealProof {
                reveal_proof: RevealProof::DalParametersProof
            }),
            (0..=i32::MAX, any::<u8>(), any::<i16>(), bytes(8)).prop_map(|(l, s, p, dal_proof)| {
                InputProof::RevealProof {
                    reveal_proof: RevealProof::DalPageProof {
                        dal_page_id: DalPageId {
                            published_level: Level::new(l).unwrap(),
                            slot_index: s,
                            page_index: p,
                        },
                        dal_proof,
                    },
                }
            }),
            Just(InputProof::RevealProof {
                reveal_proof: RevealProof::MetadataProof
            }),
            Just(InputProof::FirstInput),
        ];
        let step = prop_oneof![
            proptest::collection::vec(chunk, 0..4).prop_map(RefutationStep::Dissection),
            (bytes(8), proptest::option::of(input_proof)).prop_map(|(pvm_step, input_proof)| {
                RefutationStep::Proof {
                    pvm_step,
                    input_proof,
                }
            }),
        ];
        let refutation = prop_oneof![
            (h32(), h32()).prop_map(|(a, b)| Refutation::Start {
                player_commitment_hash: CommitmentHash(a),
                opponent_commitment_hash: CommitmentHash(b),
            }),
            (any::<u128>(), step).prop_map(|(c, step)| Refutation::Move {
                choice: Tick::new(c),
                step
            }),
        ];
        prop_oneof![
            (sr(), h32(), 0..=i32::MAX, h32(), 0..=i64::MAX).prop_map(|(rollup, s, l, p, t)| {
                OperationContent::SmartRollupPublish {
                    rollup,
                    commitment: Commitment {
                        compressed_state: StateHash(s),
                        inbox_level: Level::new(l).unwrap(),
                        predecessor: CommitmentHash(p),
                        number_of_ticks: t,
                    },
                }
            }),
            (sr(), pkh(), refutation).prop_map(|(rollup, opponent, refutation)| {
                OperationContent::SmartRollupRefute {
                    rollup,
                    opponent,
                    refutation,
                }
            }),
            (sr(), pkh(), pkh()).prop_map(|(rollup, alice, bob)| {
                OperationContent::SmartRollupTimeout {
                    rollup,
                    stakers: Stakers { alice, bob },
                }
            }),
            (sr(), pkh()).prop_map(
                |(rollup, staker)| OperationContent::SmartRollupRecoverBond { rollup, staker }
            ),
            sr().prop_map(|rollup| OperationContent::SmartRollupCement { rollup }),
            (any::<u8>(), h32(), h32()).prop_map(|(slot_index, c, p)| {
                OperationContent::DalPublishCommitment {
                    slot_header: DalSlotHeader {
                        slot_index,
                        commitment: DalCommitment(std::array::from_fn(|i| c[i % 32])),
                        commitment_proof: DalCommitmentProof(std::array::from_fn(|i| p[i % 32])),
                    },
                }
            }),
            (sr(), h32(), bytes(16)).prop_map(|(rollup, c, output_proof)| {
                OperationContent::SmartRollupExecuteOutboxMessage {
                    rollup,
                    cemented_commitment: CommitmentHash(c),
                    output_proof,
                }
            }),
            (
                bytes(16),
                proptest::option::of(proptest::collection::vec(pkh(), 0..3))
            )
                .prop_map(|(kernel, whitelist)| {
                    OperationContent::SmartRollupOriginate {
                        pvm_kind: PvmKind::Riscv,
                        kernel,
                        parameters_ty: (&Micheline::unit()).into(),
                        whitelist,
                    }
                }),
            (any::<u64>(), "[a-z_]{1,31}").prop_map(|(a, entrypoint)| {
                OperationContent::Transaction {
                    amount: Mutez(a >> 1),
                    destination: Contract::Originated(crate::hash::ContractHash([7; 20])),
                    parameters: Some(Parameters {
                        entrypoint,
                        value: (&Micheline::int(a)).into(),
                    }),
                }
            }),
        ]
    }

    proptest::proptest! {
        #[test]
        fn any_operation_roundtrips(content in arb_content(), fee: u32, counter: u64, gas: u32, storage: u32) {
            let m = op(content, fee.into(), counter, gas.into(), storage.into());
            let b = m.to_bin();
            proptest::prop_assert_eq!(&ManagerOperation::from_bin(&b).unwrap(), &m);
            let j = serde_json::to_string(&m).unwrap();
            proptest::prop_assert_eq!(&serde_json::from_str::<ManagerOperation>(&j).unwrap(), &m, "{}", j);
        }

        #[test]
        fn decode_never_panics(data: Vec<u8>) {
            let _ = ManagerOperation::from_bin(&data);
            let _ = SignedOperation::from_bin(&data);
        }

        #[test]
        fn add_messages_roundtrip(msgs in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..5),
                                  fee: u32, counter: u64) {
            let m = op(OperationContent::SmartRollupAddMessages { message: msgs }, fee.into(), counter, 1100, 0);
            proptest::prop_assert_eq!(ManagerOperation::from_bin(&m.to_bin()).unwrap(), m);
        }
    }
}
