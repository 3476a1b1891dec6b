//! The DAL (docs/reference/dal.md): slots posted to the sandbox's DAL node, commitments
//! published, skip-list cells at the attested level, `Dal_attested_slots` messages in the
//! rollup inbox (rebuilt as the node does and compared with the L1's), pages, refusals.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use tezos_types::dal::{AttestationLag, DalCellContent};
use tezos_types::operation::{DalCommitmentProof, DalSlotHeader};
use tezos_types::{BinEncode, DalCommitment, InboxMessage, InternalMessage};

use super::Node;
use super::inbox_check::{header, l1_inbox};
use sandbox::accounts::bootstrap_accounts;
use sandbox::ops::OperationContent;

const SLOT_SIZE: usize = 64;
const PAGE_SIZE: usize = 16;
const LAG: i64 = 2;

/// A sandbox with the DAL on: 4 slots, lag 2, 64-byte slots of 16-byte pages, slot 1 never
/// attested.
fn start(dir: &std::path::Path) -> Node {
    let constants = dir.join("constants.json");
    std::fs::write(
        &constants,
        json!({
            "dal_parametric": {"feature_enable": true, "number_of_slots": 4,
                               "attestation_lag": LAG, "attestation_lags": [LAG],
                               "slot_size": SLOT_SIZE, "page_size": PAGE_SIZE,
                               "number_of_shards": 64},
            "sandbox_dal_unattested_slots": [1]
        })
        .to_string(),
    )
    .unwrap();
    Node::start_with(
        &dir.join("data"),
        &["--constants", constants.to_str().unwrap()],
    )
}

/// The cryptobox parameters of [`start`].
fn test_parametric() -> sandbox::constants::DalParametric {
    sandbox::constants::DalParametric {
        slot_size: SLOT_SIZE as i32,
        page_size: PAGE_SIZE as u16,
        number_of_shards: 64,
        ..Default::default()
    }
}

fn post_slot(n: &Node, data: &str) -> (DalCommitment, DalCommitmentProof) {
    let (s, v) = n.post("/slots", &json!(data));
    assert_eq!(s, 200, "{v}");
    (
        v["commitment"].as_str().unwrap().parse().unwrap(),
        DalCommitmentProof::from_hex(v["commitment_proof"].as_str().unwrap()).unwrap(),
    )
}

fn publish(slot_index: u8, c: (DalCommitment, DalCommitmentProof)) -> OperationContent {
    OperationContent::DalPublishCommitment {
        slot_header: DalSlotHeader {
            slot_index,
            commitment: c.0,
            commitment_proof: c.1,
        },
    }
}

fn cells(n: &Node, level: i64) -> Vec<inbox::dal::SkipListCell> {
    inbox::dal::skip_list_cells_of_json(&n.get(&format!(
        "/chains/main/blocks/{level}/context/dal/skip_list_cells_of_level"
    )))
    .unwrap()
}

/// The contents of the `published` cells.
fn published_contents(cells: &[inbox::dal::SkipListCell]) -> Vec<DalCellContent> {
    cells
        .iter()
        .filter(|c| matches!(c.cell.content, DalCellContent::Published { .. }))
        .map(|c| c.cell.content.clone())
        .collect()
}

fn error_id(v: &Value) -> String {
    v[0]["id"].as_str().unwrap_or_default().to_string()
}

#[test]
fn published_slots_are_attested_into_the_inbox_and_served() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = start(dir.path());
    let b = bootstrap_accounts();
    // Level 2: bootstrap2 publishes slot 0, bootstrap3 slot 1 (left unattested), bootstrap4
    // slot 2, whose content was never posted to the DAL node.
    let c0 = post_slot(&n, "hello DAL");
    let c1 = post_slot(&n, "not attested");
    let c2 = sandbox::dal::commit_slot(&test_parametric(), &[7; SLOT_SIZE]).unwrap();
    for (who, slot, c) in [(1, 0, c0), (2, 1, c1), (3, 2, c2)] {
        let (s, v) = n.inject(who, vec![publish(slot, c)]);
        assert_eq!(s, 200, "{v}");
    }
    n.bake();
    let published = 2i64;
    let block = n.get(&format!("/chains/main/blocks/{published}"));
    let r = &block["operations"][3][0]["contents"][1]["metadata"]["operation_result"];
    assert_eq!(r["status"], "applied", "{block}");
    assert_eq!(r["slot_header"]["commitment"], c0.0.to_b58check());
    // Level 2 records unpublished cells for slot 3 only (0–2 are published there).
    let at2 = cells(&n, published);
    assert_eq!(at2.len(), 1);
    assert!(matches!(
        at2[0].cell.content,
        DalCellContent::Unpublished {
            published_level,
            index: 3,
            attestation_lag: AttestationLag::Dynamic(0)
        } if i32::from(published_level) == 2
    ));
    // Pages as posted: the slot padded with zeros, cut in pages.
    let mut padded = b"hello DAL".to_vec();
    padded.resize(SLOT_SIZE, 0);
    let expected: Vec<Value> = padded
        .chunks(PAGE_SIZE)
        .map(|p| json!(hex::encode(p)))
        .collect();
    assert_eq!(
        n.get(&format!("/levels/{published}/slots/0/pages")),
        json!(expected)
    );
    let (s, v) = n.get_status(&format!("/levels/{published}/slots/2/pages"));
    assert_eq!(s, 404, "{v}");
    assert!(v.to_string().contains("never posted"), "{v}");
    let (s, _) = n.get_status(&format!("/levels/{published}/slots/3/pages"));
    assert_eq!(s, 404);
    // Page proofs (`GET …/pages/<p>/proof`, `"sh1…"`) open the published KZG commitment.
    let verifier = sandbox::dal::verifier(&test_parametric()).unwrap();
    for (i, page) in padded.chunks(PAGE_SIZE).enumerate() {
        let v = n.get(&format!("/levels/{published}/slots/0/pages/{i}/proof"));
        let proof: DalCommitment = v.as_str().unwrap().parse().unwrap();
        verifier.verify_page(&c0.0.0, i, page, &proof.0).unwrap();
        let other = (i + 1) % (SLOT_SIZE / PAGE_SIZE);
        assert!(
            verifier
                .verify_page(&c0.0.0, other, page, &proof.0)
                .is_err()
        );
    }
    let pages = SLOT_SIZE / PAGE_SIZE;
    let (s, v) = n.get_status(&format!("/levels/{published}/slots/0/pages/{pages}/proof"));
    assert_eq!(s, 404, "{v}");
    let (s, _) = n.get_status(&format!("/levels/{published}/slots/2/pages/0/proof"));
    assert_eq!(s, 404);
    let (s, _) = n.get_status(&format!("/levels/{published}/slots/0/pages/x/proof"));
    assert_eq!(s, 400);
    // Levels 3 and 4: the cells of level 2 come at 2 + lag.
    n.bake();
    n.bake();
    let attested_level = published + LAG;
    let at4 = cells(&n, attested_level);
    let cell_of = |index: u8, c: &(DalCommitment, DalCommitmentProof), who: usize, attested| {
        DalCellContent::Published {
            published_level: tezos_types::Level::new(published as i32).unwrap(),
            index,
            commitment: c.0,
            publisher: tezos_types::Contract::Implicit(b[who].pkh),
            is_proto_attested: attested,
            attested_shards: if attested { 64 } else { 0 },
            total_shards: 64,
            attestation_lag: AttestationLag::Dynamic(LAG as u8),
        }
    };
    assert_eq!(
        published_contents(&at4),
        vec![
            cell_of(0, &c0, 1, true),
            cell_of(1, &c1, 2, false),
            cell_of(2, &c2, 3, true)
        ],
        "{at4:?}"
    );
    // The skip list is chained across levels: each cell's first back pointer is the previous
    // cell's hash, indices are consecutive, and each cell hashes to the hash L1 gives.
    let all: Vec<_> = (2..=attested_level).flat_map(|l| cells(&n, l)).collect();
    for w in all.windows(2) {
        assert_eq!(w[1].cell.index, w[0].cell.index + 1);
        assert_eq!(w[1].cell.back_pointers[0], w[0].hash);
        assert_eq!(w[1].cell.hash(), w[1].hash);
    }
    // The inbox as the node rebuilds it (block messages + DAL messages from the cells, the
    // parameters from `past_parameters`) equals the L1's at every level.
    let mut prev = l1_inbox(&n, 1);
    let mut dal_messages = BTreeMap::new();
    for level in 2..=attested_level {
        let blk = inbox::Block::from_json(&n.get(&format!("/chains/main/blocks/{level}"))).unwrap();
        let cs = cells(&n, level);
        let params = inbox::dal::levels_needing_parameters(&cs)
            .into_iter()
            .map(|l| {
                let p = n.get(&format!(
                    "/chains/main/blocks/{level}/context/dal/past_parameters/{l}"
                ));
                (l, inbox::dal::DalParameters::from_json(&p).unwrap())
            })
            .collect();
        let dal = inbox::dal::dal_attested_slots_messages(&cs, &params).unwrap();
        dal_messages.insert(level, dal.clone());
        let migration = (level == 2).then_some("u025_025");
        let msgs =
            inbox::rollup_inbox_of_level_with_dal(&blk, &header(&n, level - 1), migration, dal)
                .unwrap();
        let (next, _) = inbox::next_inbox(&prev, &msgs).unwrap();
        assert_eq!(next, l1_inbox(&n, level), "inbox mismatch at level {level}");
        prev = next;
    }
    // One message, at the attested level: bootstrap2 slot 0 and bootstrap4 slot 2, not the
    // unattested slot 1 of bootstrap3.
    assert!(dal_messages[&2].is_empty() && dal_messages[&3].is_empty());
    let m = &dal_messages[&attested_level];
    assert_eq!(m.len(), 1);
    let InboxMessage::Internal(InternalMessage::DalAttestedSlots(d)) = &m[0] else {
        panic!("{m:?}")
    };
    assert_eq!(i32::from(d.published_level), 2);
    let by: Vec<_> = d
        .slots_by_publisher
        .iter()
        .map(|p| (p.publisher, p.slots_bitset.to_string()))
        .collect();
    let mut want = vec![(b[1].pkh, "1".to_string()), (b[3].pkh, "4".to_string())];
    want.sort_by_key(|(p, _)| p.to_bin());
    assert_eq!(by, want);
    // Bytes (docs/reference/dal.md §2.2): internal, tag 5, level, slots, slot size, page size.
    let bytes = m[0].to_bin();
    assert_eq!(
        hex::encode(&bytes[..14]),
        "000500000002000400000040 0010".replace(' ', "")
    );
    // After a restart (journal replay) the cells and pages are the same.
    let before = n.get(&format!(
        "/chains/main/blocks/{attested_level}/context/dal/skip_list_cells_of_level"
    ));
    n.restart();
    assert_eq!(
        n.get(&format!(
            "/chains/main/blocks/{attested_level}/context/dal/skip_list_cells_of_level"
        )),
        before
    );
    assert_eq!(
        n.get(&format!("/levels/{published}/slots/0/pages")),
        json!(expected)
    );
}

#[test]
fn malformed_publications_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let n = start(dir.path());
    let c = post_slot(&n, "x");
    // Slot index out of range (4 slots).
    let (s, v) = n.inject(1, vec![publish(4, c)]);
    assert_eq!(s, 500, "{v}");
    assert!(
        error_id(&v).ends_with("dal_publish_commitment_invalid_index"),
        "{v}"
    );
    assert_eq!(v[0]["given"], 4);
    // A proof that does not match the commitment.
    let other = post_slot(&n, "y");
    let (s, v) = n.inject(1, vec![publish(0, (c.0, other.1))]);
    assert_eq!(s, 500, "{v}");
    assert!(
        error_id(&v).ends_with("dal_publish_commitment_invalid_proof"),
        "{v}"
    );
    // Two commitments for one slot at one level: the second fails at application.
    assert_eq!(n.inject(1, vec![publish(0, c)]).0, 200);
    assert_eq!(n.inject(2, vec![publish(0, other)]).0, 200);
    n.bake();
    let block = n.get("/chains/main/blocks/head");
    let results: Vec<&Value> = block["operations"][3]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| &o["contents"][1]["metadata"]["operation_result"])
        .collect();
    assert_eq!(results[0]["status"], "applied");
    assert_eq!(results[1]["status"], "failed");
    assert!(
        results[1]["errors"][0]["id"]
            .as_str()
            .unwrap()
            .ends_with("dal_publish_commitment_duplicate"),
        "{}",
        results[1]
    );
    // A slot larger than slot_size is refused by the DAL node.
    let (s, v) = n.post("/slots", &json!("z".repeat(SLOT_SIZE + 1)));
    assert_eq!(s, 400, "{v}");
    assert!(v.to_string().contains("slot_size"), "{v}");
    // Not a string.
    let (s, _) = n.post("/slots", &json!(42));
    assert_eq!(s, 400);
}

#[test]
fn the_dal_is_off_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let c = sandbox::dal::commit_slot(&test_parametric(), &[0; SLOT_SIZE]).unwrap();
    let (s, v) = n.inject(1, vec![publish(0, c)]);
    assert_eq!(s, 500, "{v}");
    assert!(error_id(&v).ends_with("operation.dal_disabled"), "{v}");
    n.bake();
    assert_eq!(
        n.get("/chains/main/blocks/head/context/dal/skip_list_cells_of_level"),
        json!([])
    );
    assert_eq!(
        n.get("/chains/main/blocks/head/context/constants")["dal_parametric"]["feature_enable"],
        false
    );
    let (s, _) = n.post("/slots", &json!("data"));
    assert_eq!(s, 400);
}

/// `--dal` and `--dal-unattested-slots` (default DAL parameters: lag 8, 32 slots); raw
/// `POST /slots` bodies with a padding character.
#[test]
fn flags_turn_the_dal_on_and_leave_slots_unattested() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start_with(dir.path(), &["--dal", "--dal-unattested-slots", "5"]);
    let constants = n.get("/chains/main/blocks/head/context/constants");
    assert_eq!(constants["dal_parametric"]["feature_enable"], true);
    assert!(constants.get("sandbox_dal_unattested_slots").is_none());
    let lag = constants["dal_parametric"]["attestation_lag"]
        .as_i64()
        .unwrap();
    let page_size = constants["dal_parametric"]["page_size"].as_u64().unwrap() as usize;
    // A raw body, padded with '.'.
    let body = b"\xff\x00raw".to_vec();
    let url = format!("{}/slots?padding=.", n.endpoint());
    let v: Value = ureq::post(&url)
        .header("Content-Type", "application/octet-stream")
        .send(&body[..])
        .unwrap()
        .body_mut()
        .read_to_string()
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap();
    let c: DalCommitment = v["commitment"].as_str().unwrap().parse().unwrap();
    let proof = DalCommitmentProof::from_hex(v["commitment_proof"].as_str().unwrap()).unwrap();
    let (s, r) = n.inject(1, vec![publish(5, (c, proof))]);
    assert_eq!(s, 200, "{r}");
    n.bake();
    let published = n.level();
    let pages = n.get(&format!("/levels/{published}/slots/5/pages"));
    let first = hex::decode(pages[0].as_str().unwrap()).unwrap();
    assert_eq!(first.len(), page_size);
    assert_eq!(&first[..5], b"\xff\x00raw");
    assert!(first[5..].iter().all(|b| *b == b'.'));
    // A page proof with the default (mainnet) parameters.
    let v = n.get(&format!("/levels/{published}/slots/5/pages/0/proof"));
    let proof: DalCommitment = v.as_str().unwrap().parse().unwrap();
    let verifier = sandbox::dal::verifier(&sandbox::constants::DalParametric::default()).unwrap();
    verifier.verify_page(&c.0, 0, &first, &proof.0).unwrap();
    for _ in 0..lag {
        n.bake();
    }
    let at = published + lag;
    let cs = cells(&n, at);
    let p = published_contents(&cs);
    assert!(
        matches!(
            p.as_slice(),
            [DalCellContent::Published {
                published_level,
                index: 5,
                is_proto_attested: false,
                attested_shards: 0,
                ..
            }] if i64::from(*published_level) == published
        ),
        "{p:?}"
    );
    // Unattested: no `Dal_attested_slots` message, and the L1 inbox is the one without it.
    assert!(
        inbox::dal::dal_attested_slots_messages(&cs, &BTreeMap::new())
            .unwrap()
            .is_empty()
    );
    let blk = inbox::Block::from_json(&n.get(&format!("/chains/main/blocks/{at}"))).unwrap();
    let msgs = inbox::rollup_inbox_of_level(&blk, &header(&n, at - 1), None).unwrap();
    let (next, _) = inbox::next_inbox(&l1_inbox(&n, at - 1), &msgs).unwrap();
    assert_eq!(next, l1_inbox(&n, at));
}

/// The DAL node's `GET /plugin/<protocol>/commitments_history/hash/<hash>` (Octez
/// `Commitments_history.hash_content`): every cell L1 recorded, from the first level, is served
/// by its hash as `skip_list_cells_of_level` gives it, and still after a restart; 404 for an
/// unknown cell or another protocol, 400 for a hash that does not parse.
#[test]
fn skip_list_cells_are_served_by_hash() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = start(dir.path());
    let c = post_slot(&n, "by hash");
    assert_eq!(n.inject(1, vec![publish(0, c)]).0, 200);
    for _ in 0..=LAG + 1 {
        n.bake();
    }
    let pairs: Vec<Value> = (1..=n.level())
        .flat_map(|l| {
            n.get(&format!(
                "/chains/main/blocks/{l}/context/dal/skip_list_cells_of_level"
            ))
            .as_array()
            .unwrap()
            .clone()
        })
        .collect();
    assert!(
        pairs
            .iter()
            .any(|p| p[1]["skip_list"]["content"]["kind"] == "published"),
        "{pairs:?}"
    );
    let protocol = sandbox::chain::PROTOCOL;
    let cell = |n: &Node, h: &str| {
        n.get_status(&format!("/plugin/{protocol}/commitments_history/hash/{h}"))
    };
    for p in &pairs {
        let (s, v) = cell(&n, p[0].as_str().unwrap());
        assert_eq!(s, 200, "{v}");
        assert_eq!(v, p[1]);
    }
    let first = pairs[0][0].as_str().unwrap();
    n.restart();
    assert_eq!(cell(&n, first), (200, pairs[0][1].clone()));
    let unknown = tezos_types::DalSkipListHash([7; 32]).to_b58check();
    let (s, v) = cell(&n, &unknown);
    assert_eq!(s, 404, "{v}");
    let (s, _) = cell(&n, "dask1nope");
    assert_eq!(s, 400);
    let other = sandbox::chain::GENESIS_PROTOCOL;
    let (s, _) = n.get_status(&format!("/plugin/{other}/commitments_history/hash/{first}"));
    assert_eq!(s, 404);
}
