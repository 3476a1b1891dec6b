//! Smart rollup inbox messages and the inbox hash structures.
//!
//! Serialized messages (l1-and-signer.md §3.1, wasm-pvm.md §4.1): union tag `00` internal /
//! `01` external (raw payload to the end). Internal: `00` Transfer (Micheline payload ‖ sender
//! KT1 (20) ‖ source pkh (21) ‖ destination sr1 (20)), `01` Start_of_level, `02`
//! End_of_level, `03` Info_per_level (timestamp int64 ‖ block hash), `04` Protocol_migration
//! (dynamic string), `05` Dal_attested_slots. Whole message ≤ 4096 bytes.
//!
//! Hash structures (§3.3): message hash `srib3` = Blake2b-256(serialized message); a level's
//! messages form a basis-4 skip list whose cell hash (`srib2`) is Blake2b-256(content ‖ back
//! pointers); the inbox history is a basis-4 skip list of `{witness, level}` whose cell hash
//! (`srib1`) is Blake2b-256(witness ‖ level as ASCII decimal ‖ back pointers).

use crate::encoding::{
    BinDecode, BinEncode, DecodeError, DecodeErrorKind, DecodeResult, Reader, Writer,
};
use crate::hash::{
    BlockHash, ContractHash, InboxHash, InboxMessageHash, MerkelizedPayloadHashesHash,
    PublicKeyHash, SmartRollupAddress,
};
use crate::micheline::BinMicheline;
use crate::quantity::Level;
use num_bigint::BigInt;

/// Maximum size of a serialized inbox message (`sc_rollup_message_size_limit`).
pub const MAX_MESSAGE_SIZE: usize = 4096;

/// An inbox message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboxMessage {
    /// Produced by the protocol.
    Internal(InternalMessage),
    /// From `smart_rollup_add_messages`: arbitrary bytes.
    External(Vec<u8>),
}

/// Internal (protocol-produced) inbox messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InternalMessage {
    /// A transfer from a smart contract to a rollup.
    Transfer(Transfer),
    /// First message of every level.
    StartOfLevel,
    /// Last message of every level.
    EndOfLevel,
    /// Second message of every level: the predecessor block's timestamp and hash.
    InfoPerLevel(InfoPerLevel),
    /// First block of a new protocol: its version string (e.g. `"u025_025"`).
    ProtocolMigration(String),
    /// DAL slots attested for a published level (U025 and later).
    DalAttestedSlots(DalAttestedSlots),
}

/// An internal transfer to a rollup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The transaction parameter (binary Micheline).
    pub payload: BinMicheline,
    /// The originated contract that sent it.
    pub sender: ContractHash,
    /// The implicit account that signed the top-level operation.
    pub source: PublicKeyHash,
    /// The destination rollup.
    pub destination: SmartRollupAddress,
}

/// Predecessor information, second message of a level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InfoPerLevel {
    /// Timestamp of the predecessor block (seconds since the epoch).
    pub predecessor_timestamp: i64,
    /// Hash of the predecessor block.
    pub predecessor: BlockHash,
}

/// One publisher's attested slots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublisherSlots {
    /// The publisher.
    pub publisher: PublicKeyHash,
    /// Bit `i` set iff slot `i` is attested (Zarith `z`).
    pub slots_bitset: BigInt,
}

/// DAL attested slots of one published level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DalAttestedSlots {
    /// Level at which the slots were published.
    pub published_level: Level,
    /// Number of DAL slots.
    pub number_of_slots: u16,
    /// Slot size in bytes (`int31`).
    pub slot_size: i32,
    /// Page size in bytes.
    pub page_size: u16,
    /// Attested slots by publisher.
    pub slots_by_publisher: Vec<PublisherSlots>,
}

impl InboxMessage {
    /// `Start_of_level`.
    pub const SOL: Self = Self::Internal(InternalMessage::StartOfLevel);
    /// `End_of_level`.
    pub const EOL: Self = Self::Internal(InternalMessage::EndOfLevel);

    /// Blake2b-256 of the serialized message (`srib3`).
    pub fn hash(&self) -> InboxMessageHash {
        InboxMessageHash::hash_bytes(&self.to_bin())
    }

    /// An external message framed for one rollup by the kernel-SDK convention:
    /// `00 ‖ rollup address ‖ contents` (not enforced by the protocol).
    pub fn external_targeted(address: &SmartRollupAddress, contents: &[u8]) -> Self {
        let mut v = Vec::with_capacity(21 + contents.len());
        v.push(0);
        v.extend_from_slice(&address.0);
        v.extend_from_slice(contents);
        Self::External(v)
    }
}

impl BinEncode for InboxMessage {
    fn bin_write(&self, w: &mut Writer) {
        match self {
            Self::External(b) => {
                w.u8(1);
                w.bytes(b);
            }
            Self::Internal(m) => {
                w.u8(0);
                match m {
                    InternalMessage::Transfer(t) => {
                        w.u8(0);
                        t.payload.bin_write(w);
                        t.sender.bin_write(w);
                        t.source.bin_write(w);
                        t.destination.bin_write(w);
                    }
                    InternalMessage::StartOfLevel => w.u8(1),
                    InternalMessage::EndOfLevel => w.u8(2),
                    InternalMessage::InfoPerLevel(i) => {
                        w.u8(3);
                        w.i64(i.predecessor_timestamp);
                        i.predecessor.bin_write(w);
                    }
                    InternalMessage::ProtocolMigration(p) => {
                        w.u8(4);
                        w.dyn_bytes(p.as_bytes());
                    }
                    InternalMessage::DalAttestedSlots(d) => {
                        w.u8(5);
                        d.published_level.bin_write(w);
                        w.u16(d.number_of_slots);
                        w.i32(d.slot_size);
                        w.u16(d.page_size);
                        w.dyn_list(&d.slots_by_publisher, |w, p| {
                            p.publisher.bin_write(w);
                            w.z_big(&p.slots_bitset);
                        });
                    }
                }
            }
        }
    }
}

impl BinDecode for InboxMessage {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        match r.u8()? {
            1 => Ok(Self::External(r.rest().to_vec())),
            0 => {
                let at = r.position();
                let m = match r.u8()? {
                    0 => InternalMessage::Transfer(Transfer {
                        payload: BinMicheline::bin_read(r)?,
                        sender: ContractHash::bin_read(r)?,
                        source: PublicKeyHash::bin_read(r)?,
                        destination: SmartRollupAddress::bin_read(r)?,
                    }),
                    1 => InternalMessage::StartOfLevel,
                    2 => InternalMessage::EndOfLevel,
                    3 => InternalMessage::InfoPerLevel(InfoPerLevel {
                        predecessor_timestamp: r.i64()?,
                        predecessor: BlockHash::bin_read(r)?,
                    }),
                    4 => InternalMessage::ProtocolMigration(r.dyn_string()?),
                    5 => InternalMessage::DalAttestedSlots(DalAttestedSlots {
                        published_level: Level::bin_read(r)?,
                        number_of_slots: r.u16()?,
                        slot_size: r.int31()?,
                        page_size: r.u16()?,
                        slots_by_publisher: r.dyn_list(|r| {
                            Ok(PublisherSlots {
                                publisher: PublicKeyHash::bin_read(r)?,
                                slots_bitset: r.z_big()?,
                            })
                        })?,
                    }),
                    t => {
                        return Err(DecodeError {
                            offset: at,
                            kind: DecodeErrorKind::InvalidTag {
                                what: "internal inbox message",
                                tag: t.into(),
                            },
                        });
                    }
                };
                Ok(Self::Internal(m))
            }
            t => Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::InvalidTag {
                    what: "inbox message",
                    tag: t.into(),
                },
            }),
        }
    }
}

/// Back pointers of the cell following a cell with `prev_index` and `prev_back_pointers`
/// whose hash is `prev_hash`, in a basis-4 skip list (Octez `skip_list.ml`, `next`):
/// for each power `4^i ≤ index`, the pointer is `prev_hash` if `index mod 4^i = 0`, else the
/// previous cell's pointer `i`.
pub fn next_back_pointers<H: Copy>(
    prev_index: u64,
    prev_back_pointers: &[H],
    prev_hash: H,
) -> Option<Vec<H>> {
    let index = prev_index.checked_add(1)?;
    let mut out = Vec::new();
    let mut power: u64 = 1;
    let mut i = 0usize;
    while power <= index {
        let p = if index % power == 0 {
            prev_hash
        } else {
            *prev_back_pointers.get(i)?
        };
        out.push(p);
        i += 1;
        match power.checked_mul(4) {
            Some(p) => power = p,
            None => break,
        }
    }
    Some(out)
}

/// A cell of a level's merkelized payload list (`Sc_rollup_inbox_merkelized_payload_hashes_repr`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadCell {
    /// Hash of the message (`srib3`).
    pub content: InboxMessageHash,
    /// Position of the message in the level.
    pub index: u64,
    /// Back pointers (`srib2`).
    pub back_pointers: Vec<MerkelizedPayloadHashesHash>,
}

impl PayloadCell {
    /// The first cell of a level.
    pub fn genesis(content: InboxMessageHash) -> Self {
        Self {
            content,
            index: 0,
            back_pointers: Vec::new(),
        }
    }

    /// Cell hash `srib2` = Blake2b-256(content ‖ back pointers).
    pub fn hash(&self) -> MerkelizedPayloadHashesHash {
        let mut parts: Vec<&[u8]> = vec![&self.content.0];
        parts.extend(self.back_pointers.iter().map(|h| &h.0[..]));
        MerkelizedPayloadHashesHash::hash_parts(&parts)
    }

    /// The cell after this one, holding `content`; `None` on index overflow.
    pub fn next(&self, content: InboxMessageHash) -> Option<Self> {
        Some(Self {
            content,
            index: self.index.checked_add(1)?,
            back_pointers: next_back_pointers(self.index, &self.back_pointers, self.hash())?,
        })
    }
}

/// The level witness (`srib2` hash of the last cell) of a non-empty list of messages.
pub fn level_witness(messages: &[InboxMessage]) -> Option<MerkelizedPayloadHashesHash> {
    let (first, rest) = messages.split_first()?;
    let mut cell = PayloadCell::genesis(first.hash());
    for m in rest {
        cell = cell.next(m.hash())?;
    }
    Some(cell.hash())
}

/// A cell of the inbox history skip list (`Sc_rollup_inbox_repr.history_proof`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxHistoryCell {
    /// Witness of the level's messages.
    pub witness: MerkelizedPayloadHashesHash,
    /// The inbox level.
    pub level: Level,
    /// Position in the history.
    pub index: u64,
    /// Back pointers (`srib1`).
    pub back_pointers: Vec<InboxHash>,
}

impl InboxHistoryCell {
    /// Cell hash `srib1` = Blake2b-256(witness ‖ level in ASCII decimal ‖ back pointers)
    /// (l1-and-signer.md §3.3 and §8 gotcha 3).
    pub fn hash(&self) -> InboxHash {
        let level = self.level.to_string();
        let mut parts: Vec<&[u8]> = vec![&self.witness.0, level.as_bytes()];
        parts.extend(self.back_pointers.iter().map(|h| &h.0[..]));
        InboxHash::hash_parts(&parts)
    }

    /// The cell for the next finalized level; `None` on index overflow.
    pub fn next(&self, witness: MerkelizedPayloadHashesHash, level: Level) -> Option<Self> {
        Some(Self {
            witness,
            level,
            index: self.index.checked_add(1)?,
            back_pointers: next_back_pointers(self.index, &self.back_pointers, self.hash())?,
        })
    }
}

/// The inbox as stored by the protocol: the current level and the last history cell.
///
/// Binary (§3.3): level int32 ‖ index `n` ‖ witness (32) ‖ level int32 ‖ back pointers
/// (dynamic list of 32-byte hashes). JSON: `{"level", "old_levels_messages": {"index",
/// "content": {"hash", "level"}, "back_pointers"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    /// Current inbox level.
    pub level: Level,
    /// Last history cell.
    pub old_levels_messages: InboxHistoryCell,
}

impl Inbox {
    /// The inbox hash (hash of the last history cell).
    pub fn hash(&self) -> InboxHash {
        self.old_levels_messages.hash()
    }
}

impl BinEncode for Inbox {
    fn bin_write(&self, w: &mut Writer) {
        let c = &self.old_levels_messages;
        self.level.bin_write(w);
        w.n_u64(c.index);
        c.witness.bin_write(w);
        c.level.bin_write(w);
        w.dyn_list(&c.back_pointers, |w, h| h.bin_write(w));
    }
}

impl BinDecode for Inbox {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let level = Level::bin_read(r)?;
        let index = r.n_u64()?;
        let witness = MerkelizedPayloadHashesHash::bin_read(r)?;
        let cell_level = Level::bin_read(r)?;
        let back_pointers = r.dyn_list(InboxHash::bin_read)?;
        Ok(Self {
            level,
            old_levels_messages: InboxHistoryCell {
                witness,
                level: cell_level,
                index,
                back_pointers,
            },
        })
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct InboxJson {
    level: Level,
    old_levels_messages: CellJson,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CellJson {
    #[serde(with = "crate::encoding::json::u64_string")]
    index: u64,
    content: ContentJson,
    back_pointers: Vec<InboxHash>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContentJson {
    hash: MerkelizedPayloadHashesHash,
    level: Level,
}

impl serde::Serialize for Inbox {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let c = &self.old_levels_messages;
        InboxJson {
            level: self.level,
            old_levels_messages: CellJson {
                index: c.index,
                content: ContentJson {
                    hash: c.witness,
                    level: c.level,
                },
                back_pointers: c.back_pointers.clone(),
            },
        }
        .serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Inbox {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let j = InboxJson::deserialize(d)?;
        Ok(Self {
            level: j.level,
            old_levels_messages: InboxHistoryCell {
                witness: j.old_levels_messages.content.hash,
                level: j.old_levels_messages.content.level,
                index: j.old_levels_messages.index,
                back_pointers: j.old_levels_messages.back_pointers,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::micheline::Micheline;
    use proptest::prelude::*;

    const BOOTSTRAP1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

    fn rt(m: &InboxMessage, hex_expected: impl AsRef<str>) {
        let b = m.to_bin();
        assert_eq!(hex::encode(&b), hex_expected.as_ref());
        assert_eq!(&InboxMessage::from_bin(&b).unwrap(), m);
    }

    #[test]
    fn fixed_vectors() {
        rt(&InboxMessage::SOL, "0001");
        rt(&InboxMessage::EOL, "0002");
        rt(&InboxMessage::External(b"hello".to_vec()), "0168656c6c6f");
        rt(&InboxMessage::External(vec![]), "01");
        rt(
            &InboxMessage::Internal(InternalMessage::ProtocolMigration("u025_025".into())),
            "00040000000875303235".to_owned() + "5f303235",
        );
        // OCaml-generated Dal_attested_slots (l1-and-signer.md §3.1; kernel SDK inbox.rs test).
        rt(
            &InboxMessage::Internal(InternalMessage::DalAttestedSlots(DalAttestedSlots {
                published_level: Level::new(8).unwrap(),
                number_of_slots: 16,
                slot_size: 126944,
                page_size: 4096,
                slots_by_publisher: vec![PublisherSlots {
                    publisher: BOOTSTRAP1.parse().unwrap(),
                    slots_bitset: BigInt::from(16),
                }],
            })),
            "0005000000080010".to_owned()
                + "0001efe0100000000016"
                + "0002298c03ed7d454a101eb7022bc95f7e5f41ac78"
                + "10",
        );
        // l1-and-signer.md §3.5: IPL and targeted external.
        let ipl = InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
            predecessor_timestamp: 1735689600,
            predecessor: "BKna7EA2MkS7fBpzxiM1HoQJfBrm3CoWrZ69bERTrwvCpo1iynB"
                .parse()
                .unwrap(),
        }));
        let b = ipl.to_bin();
        assert_eq!(b.len(), 42);
        assert_eq!(hex::encode(&b[..10]), "00030000000067748580");
        let sr: SmartRollupAddress = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap();
        rt(
            &InboxMessage::external_targeted(&sr, b"payload"),
            "010074f8952e7a287d78e8dceec67547bd00a278abbf7061796c6f6164",
        );
    }

    #[test]
    fn transfer() {
        let t = InboxMessage::Internal(InternalMessage::Transfer(Transfer {
            payload: (&Micheline::pair(Micheline::int(1), Micheline::bytes(vec![0xab]))).into(),
            sender: crate::hash::ContractHash([0x11; 20]),
            source: BOOTSTRAP1.parse().unwrap(),
            destination: "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap(),
        }));
        let b = t.to_bin();
        assert_eq!(
            hex::encode(&b),
            "0000".to_owned()
                + "070700010a00000001ab"
                + &"11".repeat(20)
                + "0002298c03ed7d454a101eb7022bc95f7e5f41ac78"
                + "74f8952e7a287d78e8dceec67547bd00a278abbf"
        );
        assert_eq!(InboxMessage::from_bin(&b).unwrap(), t);
        // Truncated destination.
        assert!(InboxMessage::from_bin(&b[..b.len() - 1]).is_err());
    }

    #[test]
    fn malformed() {
        for bad in [
            &b""[..],
            &[2],
            &[0],
            &[0, 6],
            &[0, 3, 0],
            &[0, 4, 0, 0, 0, 5, b'a'],
            &[0, 1, 0],
            &[0, 0, 3, 200],
        ] {
            assert!(InboxMessage::from_bin(bad).is_err(), "{bad:?}");
        }
    }

    /// Regression values from l1-and-signer.md §3.5 (derived by an independent Python
    /// implementation; not yet checked against an L1 node).
    #[test]
    fn worked_level_witness() {
        let sr: SmartRollupAddress = "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap();
        let msgs = vec![
            InboxMessage::SOL,
            InboxMessage::Internal(InternalMessage::InfoPerLevel(InfoPerLevel {
                predecessor_timestamp: 1735689600,
                predecessor: "BKna7EA2MkS7fBpzxiM1HoQJfBrm3CoWrZ69bERTrwvCpo1iynB"
                    .parse()
                    .unwrap(),
            })),
            InboxMessage::External(b"hello".to_vec()),
            InboxMessage::external_targeted(&sr, b"payload"),
            InboxMessage::EOL,
        ];
        assert_eq!(
            msgs[0].hash().to_string(),
            "srib32fy7RRGLqvJx3UpPuyZ3eHyBWJfCzGga1KSoGdieUmsz7dFp9B"
        );
        assert_eq!(
            msgs[4].hash().to_string(),
            "srib33kCmHw7Lx68HeVL1KAw9vb29CzfPrir2LX6jfpwv1nwECkqbq9"
        );
        assert_eq!(
            level_witness(&msgs).unwrap().to_string(),
            "srib22XUSGZN9n6nQe5JDjq7vKPrnTu8vjg5aB5vccM4yRHdqEiv95N"
        );
        assert_eq!(level_witness(&[]), None);
    }

    #[test]
    fn skip_list_back_pointers() {
        // index 4 has two pointers, both to cell 3; index 5 points to 4 and (via cell 4) to 3.
        let h = |i: u8| [i; 1];
        let p1 = next_back_pointers(0, &[], h(0)).unwrap();
        assert_eq!(p1, vec![h(0)]);
        let p4 = next_back_pointers(3, &[h(2)], h(3)).unwrap();
        assert_eq!(p4, vec![h(3), h(3)]);
        let p5 = next_back_pointers(4, &p4, h(4)).unwrap();
        assert_eq!(p5, vec![h(4), h(3)]);
        let p16 = next_back_pointers(15, &[h(14), h(12)], h(15)).unwrap();
        assert_eq!(p16, vec![h(15), h(15), h(15)]);
        // Inconsistent predecessor: too few back pointers.
        assert_eq!(next_back_pointers(4, &[h(4)], h(4)), None);
    }

    #[test]
    fn inbox_binary_and_json() {
        let inbox = Inbox {
            level: Level::new(5).unwrap(),
            old_levels_messages: InboxHistoryCell {
                witness: MerkelizedPayloadHashesHash([1; 32]),
                level: Level::new(5).unwrap(),
                index: 3,
                back_pointers: vec![InboxHash([2; 32])],
            },
        };
        let b = inbox.to_bin();
        assert_eq!(b.len(), 4 + 1 + 32 + 4 + 4 + 32);
        assert_eq!(Inbox::from_bin(&b).unwrap(), inbox);
        let j = serde_json::to_value(&inbox).unwrap();
        assert_eq!(j["old_levels_messages"]["index"], "3");
        assert_eq!(j["old_levels_messages"]["content"]["level"], 5);
        assert_eq!(serde_json::from_value::<Inbox>(j).unwrap(), inbox);
        // Level text is hashed as ASCII decimal.
        let c = &inbox.old_levels_messages;
        let manual = InboxHash::hash_parts(&[&c.witness.0, b"5", &c.back_pointers[0].0]);
        assert_eq!(inbox.hash(), manual);
    }

    proptest! {
        #[test]
        fn external_roundtrip(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let m = InboxMessage::External(data);
            prop_assert_eq!(InboxMessage::from_bin(&m.to_bin()).unwrap(), m);
        }

        #[test]
        fn decode_never_panics(data in proptest::collection::vec(any::<u8>(), 0..96)) {
            let _ = InboxMessage::from_bin(&data);
            let _ = Inbox::from_bin(&data);
        }
    }
}
