//! The DAL side of the rollup inbox: `Dal_attested_slots` messages (docs/reference/dal.md §1–§3).
//!
//! From U025 (Ushuaia) on, the protocol appends to the **shared** inbox of level L, after the
//! operations' messages and before `End_of_level`, one or more `Dal_attested_slots` messages
//! built from the DAL skip-list cells that block L added
//! (`GET …/blocks/<L>/context/dal/skip_list_cells_of_level`): for every cell that is
//! `published`, `is_proto_attested` and whose publisher is an implicit account, the slot index
//! is recorded under its publisher and its published level; published levels ascending, one
//! group of messages per level, publishers in key order, split so that each serialized message
//! stays ≤ 4096 bytes (protocol `sc_rollup_inbox_message_repr.ml`,
//! `dal_attested_slots_messages_of_cells`; `apply.ml`, `finalize_application`). Each message
//! carries the DAL parameters in force at its published level
//! (`GET …/context/dal/past_parameters/<published level>`).
//!
//! Pure: the follower fetches the JSON, this module types it and builds the messages.

use std::collections::{BTreeMap, BTreeSet};

use num_bigint::BigInt;
use serde_json::Value;
pub use tezos_types::dal::{AttestationLag, DalCell, DalCellContent};
use tezos_types::inbox::{DalAttestedSlots, MAX_MESSAGE_SIZE, PublisherSlots};
use tezos_types::{
    BinEncode, Contract, DalSkipListHash, InboxMessage, InternalMessage, Level, ProtocolHash,
    PublicKeyHash,
};

/// The protocols whose blocks add `Dal_attested_slots` messages to the inbox (docs/reference/dal.md
/// §3): U025 (Ushuaia) and alpha. Earlier protocols have no such message (tag 5 does not exist
/// in their `sc_rollup_inbox_message_repr.ml`).
pub const DAL_MESSAGE_PROTOCOLS: &[&str] = &[
    "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY",
    "ProtoALphaALphaALphaALphaALphaALphaALphaALphaDdp3zK",
];

/// Whether blocks of `protocol` carry `Dal_attested_slots` inbox messages.
pub fn has_dal_messages(protocol: &ProtocolHash) -> bool {
    let b58 = protocol.to_b58check();
    DAL_MESSAGE_PROTOCOLS.contains(&b58.as_str())
}

/// Malformed DAL data from L1, or parameters that cannot describe the cells.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DalError {
    /// The JSON does not have the shape of the RPC's answer (docs/reference/dal.md §1).
    #[error(
        "malformed DAL data from L1 at {path}: {message} (is the L1 node's protocol one this \
         node supports? see `show supported protocols`)"
    )]
    Malformed {
        /// JSON path of the offending value.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// No DAL parameters were given for a published level that has attested slots.
    #[error("no DAL parameters for published level {0}: fetch dal/past_parameters/{0} first")]
    MissingParameters(Level),
    /// A slot index is not below the published level's `number_of_slots`.
    #[error(
        "DAL slot index {index} published at level {published_level} is not below \
         number_of_slots = {number_of_slots} of that level"
    )]
    SlotOutOfRange {
        /// Published level.
        published_level: Level,
        /// Slot index.
        index: u8,
        /// Number of slots in force at that level.
        number_of_slots: u16,
    },
    /// One publisher's entry alone does not fit in a message (cannot happen with the
    /// protocol's parameters; the protocol fails the block the same way).
    #[error(
        "the Dal_attested_slots entry of {publisher} at published level {published_level} does not fit in {MAX_MESSAGE_SIZE} bytes"
    )]
    EntryTooLarge {
        /// Published level.
        published_level: Level,
        /// The publisher.
        publisher: PublicKeyHash,
    },
}

fn malformed(path: &str, message: impl Into<String>) -> DalError {
    DalError::Malformed {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// One element of `skip_list_cells_of_level`: `[<dask1… hash>, <history cell>]` (the cell as
/// [`tezos_types::dal::DalCell`]: content, encodings, hash; docs/reference/dal.md §1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkipListCell {
    /// The cell's hash as L1 gives it.
    pub hash: DalSkipListHash,
    /// The cell.
    pub cell: DalCell,
}

fn get<'a>(obj: &'a Value, key: &str, path: &str) -> Result<&'a Value, DalError> {
    obj.get(key)
        .ok_or_else(|| malformed(path, format!("missing field `{key}`")))
}

/// An integer given as a JSON number or a decimal string (`n`, `z` encodings).
fn int_of(v: &Value, path: &str) -> Result<i64, DalError> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| malformed(path, format!("expected an integer, got {v}")))
}

fn int_field<T: TryFrom<i64>>(obj: &Value, key: &str, path: &str) -> Result<T, DalError> {
    let p = format!("{path}.{key}");
    let n = int_of(get(obj, key, path)?, &p)?;
    T::try_from(n).map_err(|_| malformed(&p, format!("{n} is out of range")))
}

fn bool_field(obj: &Value, key: &str, path: &str) -> Result<bool, DalError> {
    get(obj, key, path)?
        .as_bool()
        .ok_or_else(|| malformed(&format!("{path}.{key}"), "expected a boolean"))
}

/// Decodes the answer of `GET /chains/<c>/blocks/<b>/context/dal/skip_list_cells_of_level`:
/// a list of `[hash, cell]` pairs, each cell `History.encoding`
/// ([`DalCell::from_json`]; the legacy kind `dal_skip_list_legacy` is the genesis cell, as in
/// the protocol).
pub fn skip_list_cells_of_json(v: &Value) -> Result<Vec<SkipListCell>, DalError> {
    let list = v
        .as_array()
        .ok_or_else(|| malformed("$", "expected a list of [hash, cell] pairs"))?;
    list.iter()
        .enumerate()
        .map(|(i, pair)| {
            let path = format!("$[{i}]");
            let Some([Value::String(h), cell]) = pair.as_array().map(Vec::as_slice) else {
                return Err(malformed(&path, "expected a [hash, cell] pair"));
            };
            let hash = DalSkipListHash::from_b58check(h)
                .map_err(|e| malformed(&format!("{path}[0]"), format!("{h:?}: {e}")))?;
            let cell = DalCell::from_json(cell).map_err(|e| malformed(&format!("{path}[1]"), e))?;
            Ok(SkipListCell { hash, cell })
        })
        .collect()
}

/// The DAL parameters of a level (`Constants_parametric_repr.dal_encoding`: the constants'
/// `dal_parametric` object, and the answer of `…/context/dal/past_parameters/<level>`),
/// reduced to what the node uses (docs/reference/dal.md §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DalParameters {
    /// `feature_enable`.
    pub feature_enable: bool,
    /// `number_of_slots` (uint16).
    pub number_of_slots: u16,
    /// `attestation_lag` (uint8).
    pub attestation_lag: u8,
    /// `attestation_lags` (U025 and later; absent before).
    pub attestation_lags: Vec<u8>,
    /// `dynamic_lag_enable` (U025 and later; `false` when absent).
    pub dynamic_lag_enable: bool,
    /// `slot_size` (int31).
    pub slot_size: i32,
    /// `page_size` (uint16).
    pub page_size: u16,
}

impl DalParameters {
    /// Decodes a `dal_parametric` / `past_parameters` object.
    pub fn from_json(v: &Value) -> Result<Self, DalError> {
        let p = "$";
        let slot_size: i32 = int_field(v, "slot_size", p)?;
        if !(0..=0x3fff_ffff).contains(&slot_size) {
            return Err(malformed(
                "$.slot_size",
                format!("{slot_size} is not an int31"),
            ));
        }
        let attestation_lags = match v.get("attestation_lags") {
            None => Vec::new(),
            Some(l) => l
                .as_array()
                .ok_or_else(|| malformed("$.attestation_lags", "expected an array"))?
                .iter()
                .enumerate()
                .map(|(i, x)| {
                    let q = format!("$.attestation_lags[{i}]");
                    let n = int_of(x, &q)?;
                    u8::try_from(n).map_err(|_| malformed(&q, format!("{n} is out of range")))
                })
                .collect::<Result<_, _>>()?,
        };
        Ok(Self {
            feature_enable: bool_field(v, "feature_enable", p)?,
            number_of_slots: int_field(v, "number_of_slots", p)?,
            attestation_lag: int_field(v, "attestation_lag", p)?,
            attestation_lags,
            dynamic_lag_enable: match v.get("dynamic_lag_enable") {
                None => false,
                Some(_) => bool_field(v, "dynamic_lag_enable", p)?,
            },
            slot_size,
            page_size: int_field(v, "page_size", p)?,
        })
    }
}

/// Attested slots of implicit publishers, by published level then publisher: the grouping of
/// `dal_attested_slots_messages_of_cells` (unpublished, unattested and originated-publisher
/// cells are skipped). Both maps iterate in the protocol's order: levels ascending, public
/// key hashes in `Signature.Public_key_hash.compare` order (tag, then bytes).
pub fn attested_slots_by_level(
    cells: &[SkipListCell],
) -> BTreeMap<Level, BTreeMap<PublicKeyHash, BTreeSet<u8>>> {
    let mut out: BTreeMap<Level, BTreeMap<PublicKeyHash, BTreeSet<u8>>> = BTreeMap::new();
    for cell in cells {
        if let DalCellContent::Published {
            published_level,
            index,
            publisher: Contract::Implicit(pkh),
            is_proto_attested: true,
            ..
        } = &cell.cell.content
        {
            out.entry(*published_level)
                .or_default()
                .entry(*pkh)
                .or_default()
                .insert(*index);
        }
    }
    out
}

/// The published levels whose DAL parameters [`dal_attested_slots_messages`] needs.
pub fn levels_needing_parameters(cells: &[SkipListCell]) -> Vec<Level> {
    attested_slots_by_level(cells).into_keys().collect()
}

fn bitset(slots: &BTreeSet<u8>) -> BigInt {
    let mut b = BigInt::from(0u8);
    for i in slots {
        b.set_bit(u64::from(*i), true);
    }
    b
}

fn message(
    published_level: Level,
    params: &DalParameters,
    entries: Vec<PublisherSlots>,
) -> InboxMessage {
    InboxMessage::Internal(InternalMessage::DalAttestedSlots(DalAttestedSlots {
        published_level,
        number_of_slots: params.number_of_slots,
        slot_size: params.slot_size,
        page_size: params.page_size,
        slots_by_publisher: entries,
    }))
}

fn fits(m: &InboxMessage) -> bool {
    m.to_bin().len() <= MAX_MESSAGE_SIZE
}

/// The messages of one published level (`dal_attested_slots_messages_for_level`): publishers
/// are added in order to the current message while it still serializes within 4096 bytes;
/// when adding one would overflow, the current message is emitted and a new one starts with
/// that publisher.
pub fn messages_for_level(
    published_level: Level,
    params: &DalParameters,
    slots_by_publisher: &BTreeMap<PublicKeyHash, BTreeSet<u8>>,
) -> Result<Vec<InboxMessage>, DalError> {
    let mut out = Vec::new();
    let mut current: Vec<PublisherSlots> = Vec::new();
    for (pkh, slots) in slots_by_publisher {
        if let Some(&index) = slots
            .iter()
            .find(|&&i| u16::from(i) >= params.number_of_slots)
        {
            return Err(DalError::SlotOutOfRange {
                published_level,
                index,
                number_of_slots: params.number_of_slots,
            });
        }
        let entry = PublisherSlots {
            publisher: *pkh,
            slots_bitset: bitset(slots),
        };
        let mut candidate = current.clone();
        candidate.push(entry.clone());
        if fits(&message(published_level, params, candidate.clone())) {
            current = candidate;
        } else if current.is_empty() {
            return Err(DalError::EntryTooLarge {
                published_level,
                publisher: *pkh,
            });
        } else {
            out.push(message(
                published_level,
                params,
                std::mem::replace(&mut current, vec![entry]),
            ));
        }
    }
    if !current.is_empty() {
        let last = message(published_level, params, current);
        if !fits(&last) {
            // Only reachable with a single oversized entry (see `EntryTooLarge`).
            if let InboxMessage::Internal(InternalMessage::DalAttestedSlots(d)) = &last
                && let Some(p) = d.slots_by_publisher.first()
            {
                return Err(DalError::EntryTooLarge {
                    published_level,
                    publisher: p.publisher,
                });
            }
        }
        out.push(last);
    }
    Ok(out)
}

/// The `Dal_attested_slots` messages of a block from its skip-list cells
/// (`dal_attested_slots_messages_of_cells`): published levels ascending, each with the DAL
/// parameters in force at that level, taken from `params` (keys: published levels, see
/// [`levels_needing_parameters`]). Empty when no cell is a protocol-attested slot of an
/// implicit publisher.
pub fn dal_attested_slots_messages(
    cells: &[SkipListCell],
    params: &BTreeMap<Level, DalParameters>,
) -> Result<Vec<InboxMessage>, DalError> {
    let mut out = Vec::new();
    for (level, by_publisher) in attested_slots_by_level(cells) {
        let p = params
            .get(&level)
            .ok_or(DalError::MissingParameters(level))?;
        out.extend(messages_for_level(level, p, &by_publisher)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tezos_types::BinDecode;
    use tezos_types::InboxMessageHash;

    fn lv(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    /// Constructed in the RPC's JSON shape (see `fixtures/README.md`).
    const CELLS: &str = include_str!("../fixtures/dal_skip_list_cells_u025.json");
    /// `dal_parametric` of tezt's `RPC_test.ml` regression output (see `fixtures/README.md`).
    const PARAMS: &str = include_str!("../fixtures/dal_parametric_u025.json");

    const BOOTSTRAP1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";
    const BOOTSTRAP2: &str = "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN";

    /// OCaml `test_dal_attested_slots_encoding` (proto_alpha test_sc_rollup_inbox.ml) and
    /// the kernel SDK's `test_decode_dal_attested_slots_from_ocaml`: published level 8, 16
    /// slots, slot 126944, page 4096, bootstrap1 with slot 4 (l1-and-signer.md §3.1).
    const OCAML_VECTOR: &str = "00050000000800100001efe0100000000016\
                                0002298c03ed7d454a101eb7022bc95f7e5f41ac7810";

    fn ocaml_params() -> DalParameters {
        DalParameters {
            feature_enable: true,
            number_of_slots: 16,
            attestation_lag: 8,
            attestation_lags: vec![],
            dynamic_lag_enable: false,
            slot_size: 126_944,
            page_size: 4096,
        }
    }

    /// A cell (index 0, no back pointers) of `content`.
    fn cell(content: DalCellContent) -> SkipListCell {
        let cell = DalCell {
            index: 0,
            content,
            back_pointers: vec![],
        };
        SkipListCell {
            hash: cell.hash(),
            cell,
        }
    }

    fn published(level: i32, index: u8, publisher: &str, attested: bool) -> SkipListCell {
        cell(DalCellContent::Published {
            published_level: lv(level),
            index,
            commitment: tezos_types::DalCommitment([0; 48]),
            publisher: Contract::from_b58check(publisher).unwrap(),
            is_proto_attested: attested,
            attested_shards: 0,
            total_shards: 0,
            attestation_lag: AttestationLag::Legacy,
        })
    }

    #[test]
    fn ocaml_vector_from_a_cell() {
        let cells = vec![published(8, 4, BOOTSTRAP1, true)];
        let params = BTreeMap::from([(lv(8), ocaml_params())]);
        let msgs = dal_attested_slots_messages(&cells, &params).unwrap();
        assert_eq!(msgs.len(), 1);
        assert_eq!(hex::encode(msgs[0].to_bin()), OCAML_VECTOR);
    }

    #[test]
    fn only_attested_implicit_published_slots_count() {
        let mut cells = vec![
            published(8, 4, BOOTSTRAP1, true),
            published(8, 5, BOOTSTRAP1, false),
            published(8, 6, "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL", true),
        ];
        cells.push(cell(DalCellContent::Unpublished {
            published_level: lv(8),
            index: 7,
            attestation_lag: AttestationLag::Dynamic(0),
        }));
        let params = BTreeMap::from([(lv(8), ocaml_params())]);
        let msgs = dal_attested_slots_messages(&cells, &params).unwrap();
        assert_eq!(
            msgs.iter()
                .map(|m| hex::encode(m.to_bin()))
                .collect::<Vec<_>>(),
            vec![OCAML_VECTOR]
        );
        // Nothing attested: no message, no parameters needed.
        let none = &cells[1..];
        assert!(levels_needing_parameters(none).is_empty());
        assert!(
            dal_attested_slots_messages(none, &BTreeMap::new())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn grouping_ordering_and_parameters_of_the_published_level() {
        // Levels out of order in the answer; two publishers; parameters differ per level.
        let cells = vec![
            published(9, 1, BOOTSTRAP2, true),
            published(8, 3, BOOTSTRAP2, true),
            published(8, 0, BOOTSTRAP1, true),
            published(8, 15, BOOTSTRAP1, true),
        ];
        assert_eq!(levels_needing_parameters(&cells), vec![lv(8), lv(9)]);
        let mut p9 = ocaml_params();
        p9.number_of_slots = 32;
        p9.page_size = 3967;
        p9.slot_size = 380_832;
        let params = BTreeMap::from([(lv(8), ocaml_params()), (lv(9), p9)]);
        let msgs = dal_attested_slots_messages(&cells, &params).unwrap();
        let d: Vec<_> = msgs
            .iter()
            .map(|m| match m {
                InboxMessage::Internal(InternalMessage::DalAttestedSlots(d)) => d.clone(),
                _ => panic!("not a DAL message"),
            })
            .collect();
        assert_eq!(d.len(), 2);
        assert_eq!((d[0].published_level, d[0].number_of_slots), (lv(8), 16));
        assert_eq!(
            (d[1].published_level, d[1].number_of_slots, d[1].page_size),
            (lv(9), 32, 3967)
        );
        // bootstrap1 (tz1 = tag 0, bytes 02 29…) sorts before bootstrap2 (tz1, bytes e7…).
        let pk: Vec<String> = d[0]
            .slots_by_publisher
            .iter()
            .map(|p| p.publisher.to_b58check())
            .collect();
        assert_eq!(pk, vec![BOOTSTRAP1, BOOTSTRAP2]);
        assert_eq!(
            d[0].slots_by_publisher[0].slots_bitset,
            BigInt::from((1u32 << 15) | 1)
        );
        assert_eq!(d[0].slots_by_publisher[1].slots_bitset, BigInt::from(8));
        // Missing parameters are an error, not a guess.
        let only8 = BTreeMap::from([(lv(8), ocaml_params())]);
        assert_eq!(
            dal_attested_slots_messages(&cells, &only8),
            Err(DalError::MissingParameters(lv(9)))
        );
        let mut small = ocaml_params();
        small.number_of_slots = 4;
        assert!(matches!(
            dal_attested_slots_messages(&cells[1..4], &BTreeMap::from([(lv(8), small)])),
            Err(DalError::SlotOutOfRange {
                index: 15,
                published_level,
                number_of_slots: 4
            }) if published_level == lv(8)
        ));
    }

    /// Mirrors the protocol's `test_dal_attested_slots_messages_of_cells_split_large_messages`
    /// (160 publishers, one slot each, slot 380832, page 3967): at least two messages, each
    /// serializable (≤ 4096 bytes), every slot kept; and the split is greedy.
    #[test]
    fn split_into_messages_of_at_most_4096_bytes() {
        let params = DalParameters {
            number_of_slots: 160,
            slot_size: 380_832,
            page_size: 3967,
            ..ocaml_params()
        };
        let by_publisher: BTreeMap<PublicKeyHash, BTreeSet<u8>> = (0u8..160)
            .map(|i| {
                let mut h = [0u8; 20];
                h[0] = i;
                h[19] = i.wrapping_mul(7);
                (PublicKeyHash::Ed25519(h), BTreeSet::from([i]))
            })
            .collect();
        let msgs = messages_for_level(lv(8), &params, &by_publisher).unwrap();
        assert!(msgs.len() >= 2);
        let mut total = 0usize;
        let mut all = Vec::new();
        for (k, m) in msgs.iter().enumerate() {
            let bin = m.to_bin();
            assert!(bin.len() <= MAX_MESSAGE_SIZE);
            let InboxMessage::Internal(InternalMessage::DalAttestedSlots(d)) = m else {
                panic!()
            };
            total += d.slots_by_publisher.len();
            all.extend(d.slots_by_publisher.iter().map(|p| p.publisher));
            // Greedy: the next publisher would not have fitted.
            if let Some(next) = msgs.get(k + 1) {
                let InboxMessage::Internal(InternalMessage::DalAttestedSlots(n)) = next else {
                    panic!()
                };
                let mut more = d.slots_by_publisher.clone();
                more.push(n.slots_by_publisher[0].clone());
                assert!(message(lv(8), &params, more).to_bin().len() > MAX_MESSAGE_SIZE);
            }
            // Round trip through the shared decoder.
            assert_eq!(&InboxMessage::from_bin(&bin).unwrap(), m);
        }
        assert_eq!(total, 160);
        assert_eq!(all, by_publisher.keys().copied().collect::<Vec<_>>());
    }

    #[test]
    fn fixture_cells_decode_and_build_the_expected_messages() {
        let cells = skip_list_cells_of_json(&serde_json::from_str(CELLS).unwrap()).unwrap();
        assert_eq!(cells.len(), 7);
        assert!(matches!(
            &cells[6].cell.content,
            DalCellContent::Unpublished {
                published_level,
                index: 4,
                attestation_lag: AttestationLag::Dynamic(0)
            } if *published_level == lv(5_000_005)
        ));
        assert_eq!(cells[0].cell.index, 1_234_567);
        assert_eq!(cells[0].cell.back_pointers.len(), 2);
        let params = DalParameters::from_json(&serde_json::from_str(PARAMS).unwrap()).unwrap();
        assert_eq!(params.number_of_slots, 16);
        assert_eq!(params.attestation_lags, vec![1, 2, 3, 4, 5]);
        assert!(params.dynamic_lag_enable);
        assert_eq!((params.slot_size, params.page_size), (380_832, 3967));
        let levels = levels_needing_parameters(&cells);
        assert_eq!(levels, vec![lv(5_000_000), lv(5_000_002)]);
        let map = levels.iter().map(|l| (*l, params.clone())).collect();
        let msgs = dal_attested_slots_messages(&cells, &map).unwrap();
        let hex: Vec<String> = msgs.iter().map(|m| hex::encode(m.to_bin())).collect();
        // Level 5000000 (0x004c4b40): bootstrap1 slots 0 and 3 (bitset 9), bootstrap2 slot 1
        // (bitset 2); level 5000002: bootstrap1 slot 2 (bitset 4). 16 slots = 0x0010,
        // slot 380832 = 0x0005cfa0, page 3967 = 0x0f7f.
        let pkh_hex = |s: &str| hex::encode(s.parse::<PublicKeyHash>().unwrap().to_bin());
        let (b1, b2) = (pkh_hex(BOOTSTRAP1), pkh_hex(BOOTSTRAP2));
        assert_eq!(b1, "0002298c03ed7d454a101eb7022bc95f7e5f41ac78");
        assert!(b1 < b2, "both tz1: ordered by their bytes");
        assert_eq!(
            hex,
            vec![
                format!("0005004c4b4000100005cfa00f7f0000002c{b1}09{b2}02"),
                format!("0005004c4b4200100005cfa00f7f00000016{b1}04"),
            ]
        );
        // Message hashes (srib3) are Blake2b-256 of these bytes.
        assert_eq!(
            msgs[0].hash(),
            InboxMessageHash::hash_bytes(&msgs[0].to_bin())
        );
    }

    #[test]
    fn malformed_answers_are_rejected_with_their_path() {
        let h = DalSkipListHash([1; 32]).to_b58check();
        let bad = [
            (r#"{}"#.to_owned(), "$"),
            (r#"[["dask1x"]]"#.to_owned(), "$[0]"),
            (
                r#"[["dask1x",{"kind":"dal_skip_list"}]]"#.to_owned(),
                "$[0][0]",
            ),
            (format!(r#"[["{h}",{{"kind":"other"}}]]"#), "$[0][1]"),
            (
                format!(
                    r#"[["{h}",{{"kind":"dal_skip_list","skip_list":{{"index":"1",
                   "back_pointers":[],"content":{{"kind":"published","level":8,"index":300}}}}}}]]"#
                ),
                "$[0][1]",
            ),
            (
                format!(
                    r#"[["{h}",{{"kind":"dal_skip_list","skip_list":{{"index":"x",
                   "back_pointers":[],"content":{{"kind":"unpublished","level":8,"index":1}}}}}}]]"#
                ),
                "$[0][1]",
            ),
        ];
        for (json, path) in bad {
            match skip_list_cells_of_json(&serde_json::from_str(&json).unwrap()) {
                Err(DalError::Malformed { path: p, .. }) => assert_eq!(p, path, "{json}"),
                other => panic!("{json}: {other:?}"),
            }
        }
        assert!(matches!(
            DalParameters::from_json(&serde_json::json!({"feature_enable": true})),
            Err(DalError::Malformed { .. })
        ));
    }

    #[test]
    fn protocols_with_dal_messages() {
        for (p, v) in crate::protocols::PROTOCOL_VERSIONS {
            let h: ProtocolHash = p.parse().unwrap();
            assert_eq!(
                has_dal_messages(&h),
                matches!(*v, "u025_025" | "alpha_current"),
                "{v}"
            );
        }
    }
}
