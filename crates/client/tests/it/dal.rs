//! `publish dal commitment <sh1…> from <src> for slot <i> with proof <hex>` on the sandbox with
//! the DAL on: the slot posted to the sandbox's DAL node, the commitment published by the
//! client, attested two levels later, and the pages served (docs/reference/dal.md).

use std::time::Duration;

use serde_json::json;

use crate::{BOOTSTRAP1_PKH, BOOTSTRAP1_SK, client};

/// A sandbox with the DAL on (4 slots of 64 bytes, pages of 16, attestation lag 2), baking
/// every 0.5 s, in a temporary directory named after `label` (kept alive by the first value).
fn dal_sandbox(label: &str) -> (tempfile::TempDir, test_support::Sandbox) {
    let data = test_support::temp_dir(label).unwrap();
    let constants = data.path().join("constants.json");
    std::fs::write(
        &constants,
        json!({"dal_parametric": {"feature_enable": true, "number_of_slots": 4,
                                  "attestation_lag": 2, "attestation_lags": [2],
                                  "slot_size": 64, "page_size": 16}})
        .to_string(),
    )
    .unwrap();
    let sb = test_support::Sandbox::builder(&data.path().join("sandbox"))
        .block_time(Some("0.5"))
        .args(["--constants", constants.to_str().unwrap()])
        .start()
        .unwrap();
    (data, sb)
}

#[test]
fn publish_dal_commitment_on_the_sandbox() {
    let (_data, sb) = dal_sandbox("client-dal-sandbox");
    let e = Some(sb.endpoint());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    client(
        dir,
        e,
        &["import", "secret", "key", "bootstrap1", BOOTSTRAP1_SK],
    )
    .out();
    let (s, posted) = sb.post("/slots", &json!("from the client"));
    assert_eq!(s, 200, "{posted}");
    let commitment = posted["commitment"].as_str().unwrap().to_owned();
    let proof = posted["commitment_proof"].as_str().unwrap().to_owned();
    let publish = |c: &str, slot: &str, p: &str| {
        client(
            dir,
            e,
            &[
                "publish",
                "dal",
                "commitment",
                c,
                "from",
                "bootstrap1",
                "for",
                "slot",
                slot,
                "with",
                "proof",
                p,
            ],
        )
    };
    let out = publish(&commitment, "1", &proof).out();
    assert!(
        out.contains("Data availability slot header publishing:")
            && out.contains(&format!("commitment: {commitment}"))
            && out.contains("was successfully applied"),
        "{out}"
    );
    let level = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Slot header: published level "))
        .and_then(|l| l.split(',').next())
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no published level in {out}"));
    // Attested at level + 2: a published cell of bootstrap1 for slot 1.
    test_support::wait_until("the attestation level", Duration::from_secs(60), || {
        sb.level() >= level + 2
    })
    .unwrap();
    let cells = sb.get(&format!(
        "/chains/main/blocks/{}/context/dal/skip_list_cells_of_level",
        level + 2
    ));
    let published: Vec<_> = cells
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c[1]["skip_list"]["content"])
        .filter(|c| c["kind"] == "published")
        .collect();
    assert_eq!(published.len(), 1, "{cells}");
    assert_eq!(published[0]["publisher"], BOOTSTRAP1_PKH);
    assert_eq!(published[0]["index"], 1);
    assert_eq!(published[0]["level"], level);
    assert_eq!(published[0]["is_proto_attested"], true);
    assert_eq!(published[0]["commitment"], commitment.as_str());
    let pages = sb.get(&format!("/levels/{level}/slots/1/pages"));
    let mut slot = b"from the client".to_vec();
    slot.resize(64, 0);
    assert_eq!(
        hex::decode(pages[0].as_str().unwrap()).unwrap(),
        &slot[..16]
    );
    assert_eq!(pages.as_array().unwrap().len(), 4);

    // Refusals, each saying what to give instead.
    let err = publish(&commitment, "4", &proof).err();
    assert!(err.contains("this chain has 4 DAL slots"), "{err}");
    let err = publish("sh1nope", "0", &proof).err();
    assert!(
        err.contains("cannot parse \"sh1nope\" as a DAL commitment"),
        "{err}"
    );
    let err = publish(&commitment, "0", "00").err();
    assert!(err.contains("96 bytes"), "{err}");
    let err = publish(&commitment, "x", &proof).err();
    assert!(err.contains("as a DAL slot index"), "{err}");
    let wrong = "00".repeat(96);
    let err = publish(&commitment, "0", &wrong).err();
    assert!(
        err.contains("dal_publish_commitment_invalid_proof"),
        "{err}"
    );
}

/// `post dal slot <data>` posts to the DAL node (the sandbox's, on the `-E` port by default,
/// or `--dal-node`) and prints the commitment; `… and publish from <src> for slot <i>` also
/// publishes it on L1, attested `attestation_lag` levels later.
#[test]
fn post_dal_slot_on_the_sandbox() {
    let (_data, sb) = dal_sandbox("client-dal-post");
    let e = Some(sb.endpoint());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    client(
        dir,
        e,
        &["import", "secret", "key", "bootstrap1", BOOTSTRAP1_SK],
    )
    .out();
    // The commitment printed is the one the DAL node gives for the same data.
    let out = client(dir, e, &["post", "dal", "slot", "hex:00ff01"]).out();
    let (s, posted) = sb.post("/slots", &json!({"invalid_utf8_string": [0, 255, 1]}));
    assert_eq!(s, 200, "{posted}");
    assert!(
        out.contains(&format!(
            "Commitment: {}",
            posted["commitment"].as_str().unwrap()
        )) && out.contains(&format!(
            "Commitment proof: {}",
            posted["commitment_proof"].as_str().unwrap()
        )),
        "{out}"
    );
    let out = client(
        dir,
        e,
        &[
            "post",
            "dal",
            "slot",
            "posted and published",
            "and",
            "publish",
            "from",
            "bootstrap1",
            "for",
            "slot",
            "2",
            "--dal-node",
            sb.endpoint(),
        ],
    )
    .out();
    assert!(
        out.contains("Commitment: sh") && out.contains("was successfully applied"),
        "{out}"
    );
    let level = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Slot header: published level "))
        .and_then(|l| l.split(',').next())
        .and_then(|l| l.parse::<i64>().ok())
        .unwrap_or_else(|| panic!("no published level in {out}"));
    test_support::wait_until("the attestation level", Duration::from_secs(60), || {
        sb.level() >= level + 2
    })
    .unwrap();
    let pages = sb.get(&format!("/levels/{level}/slots/2/pages"));
    assert_eq!(
        hex::decode(pages[0].as_str().unwrap()).unwrap(),
        b"posted and publi"
    );
    // Refusals say what to give.
    let err = client(dir, e, &["post", "dal", "slot", "hex:zz"]).err();
    assert!(err.contains("hexadecimal bytes"), "{err}");
    let big = "x".repeat(65);
    let err = client(dir, e, &["post", "dal", "slot", &big]).err();
    assert!(err.contains("slot_size"), "{err}");
    let err = client(
        dir,
        e,
        &[
            "post",
            "dal",
            "slot",
            "a",
            "and",
            "publish",
            "from",
            "bootstrap1",
            "for",
            "slot",
            "9",
        ],
    )
    .err();
    assert!(err.contains("this chain has 4 DAL slots"), "{err}");
}
