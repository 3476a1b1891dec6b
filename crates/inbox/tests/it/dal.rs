//! The one `Dal_attested_slots` message produced by the protocol's own code found in the Tezos
//! sources (`fixtures/README.md`): decoded with the shared decoder, and rebuilt by this crate
//! from a `skip_list_cells_of_level` answer holding the cell it comes from
//! (docs/reference/dal.md §1–§2).

use std::collections::BTreeMap;

use inbox::dal::{DalParameters, dal_attested_slots_messages, skip_list_cells_of_json};
use serde_json::json;
use tezos_types::{BinDecode, BinEncode, InboxMessage, InternalMessage, Level, PublicKeyHash};

/// `dal_attested_slots_serialized ~published_level:8 ~number_of_slots:16 ~slot_size:126944
/// ~page_size:4096` with bootstrap1 publishing slot 4 (see `fixtures/README.md`).
const OCAML_VECTOR: &str = include_str!("../../fixtures/dal_attested_slots_ocaml.hex");
const BOOTSTRAP1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

fn vector() -> Vec<u8> {
    hex::decode(OCAML_VECTOR.trim()).unwrap()
}

#[test]
fn the_ocaml_vector_decodes_to_its_parameters() {
    let bytes = vector();
    let InboxMessage::Internal(InternalMessage::DalAttestedSlots(d)) =
        InboxMessage::from_bin(&bytes).unwrap()
    else {
        panic!("not a Dal_attested_slots message: {OCAML_VECTOR}");
    };
    assert_eq!(
        (
            d.published_level,
            d.number_of_slots,
            d.slot_size,
            d.page_size
        ),
        (Level::new(8).unwrap(), 16, 126_944, 4096)
    );
    assert_eq!(d.slots_by_publisher.len(), 1);
    let p = &d.slots_by_publisher[0];
    assert_eq!(p.publisher, BOOTSTRAP1.parse::<PublicKeyHash>().unwrap());
    // Bit i set iff slot i attested: slot 4 only.
    assert_eq!(p.slots_bitset, 16.into());
    // And back to the same bytes.
    let again = InboxMessage::Internal(InternalMessage::DalAttestedSlots(d));
    assert_eq!(again.to_bin(), bytes);
}

#[test]
fn the_ocaml_vector_is_rebuilt_from_a_cells_answer() {
    // The cell the message comes from, in the RPC's JSON shape (U025 `published` content of the
    // legacy lag, `Content_v2.encoding`), next to cells that add nothing: an unattested slot,
    // a slot published by an originated contract, an unpublished slot.
    let published = |index: u8, publisher: &str, attested: bool| {
        json!({"kind": "dal_skip_list", "skip_list": {
            "index": "42",
            "content": {"kind": "published", "publisher": publisher,
                        "is_proto_attested": attested, "attested_shards": 512,
                        "total_shards": 512, "version": "0", "level": 8, "index": index,
                        "commitment": "sh1cGM6kXe8Zn8nqCswyy6nuRfKXoEBqwR6oGpkFTsyW9yzpuUet7g1ZEEuxhAuDbW9UeZ7fD2"},
            "back_pointers": []}})
    };
    let hash = "dask12YcdgqBDuBTfrPmY4JRjMrMjVJw4L2NqABL5jzwV5uEEN8pihP";
    let answer = json!([
        [hash, published(4, BOOTSTRAP1, true)],
        [hash, published(5, BOOTSTRAP1, false)],
        [hash, published(6, "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL", true)],
        [hash, {"kind": "dal_skip_list", "skip_list": {"index": "43",
            "content": {"kind": "unpublished", "level": 8, "index": 7},
            "back_pointers": []}}],
    ]);
    let cells = skip_list_cells_of_json(&answer).unwrap();
    assert_eq!(cells.len(), 4);
    // `dal_parametric` in the protocol's JSON shape, with the vector's sizes.
    let params = DalParameters::from_json(&json!({
        "feature_enable": true, "incentives_enable": true, "number_of_slots": 16,
        "attestation_lag": 8, "attestation_threshold": 66, "minimal_participation_ratio":
        "16/25", "rewards_ratio": "1/10", "traps_fraction": "1/2000", "redundancy_factor": 8,
        "page_size": 4096, "slot_size": 126944, "number_of_shards": 512
    }))
    .unwrap();
    let msgs =
        dal_attested_slots_messages(&cells, &BTreeMap::from([(Level::new(8).unwrap(), params)]))
            .unwrap();
    let hex: Vec<String> = msgs.iter().map(|m| hex::encode(m.to_bin())).collect();
    assert_eq!(hex, vec![OCAML_VECTOR.trim().to_owned()]);
}
