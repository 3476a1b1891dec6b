//! RPC client tests against the HTTP double.

use crate::server::{Reply, Server, bh, head_json};
use l1_client::{L1Client, L1Config, L1Error};
use std::time::Duration;
use tezos_types::operation::PvmKind;
use tezos_types::{PublicKeyHash, SmartRollupAddress};

const BLOCK: &str = include_str!("../../../inbox/fixtures/block_with_rollup_ops.json");
const ROLLUP: &str = "sr168enxrwgLzYy9purfFWrZxnuS21FXpxGE";
const BOOTSTRAP1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

fn fast(url: String) -> L1Config {
    L1Config {
        reconnection_delay: Duration::from_millis(5),
        rpc_max_delay: Duration::from_millis(20),
        rpc_timeout: Duration::from_secs(10),
        rpc_max_attempts: 4,
        ..L1Config::new(url)
    }
}

fn ok(body: impl Into<String>) -> Reply {
    Reply::Full(200, body.into())
}

#[tokio::test]
async fn typed_rpcs() {
    let constants = r#"{"minimal_block_delay":"6","delay_increment_per_round":"3",
      "hard_gas_limit_per_operation":"1040000","hard_gas_limit_per_block":"1386666",
      "hard_storage_limit_per_operation":"60000","origination_size":257,"cost_per_byte":"250",
      "dal_parametric":{"feature_enable":true,"incentives_enable":false,"number_of_slots":32,
        "attestation_lag":8,"attestation_threshold":66,"redundancy_factor":8,"page_size":3967,
        "slot_size":126944,"number_of_shards":512},
      "smart_rollup_arith_pvm_enable":false,"smart_rollup_origination_size":6314,
      "smart_rollup_challenge_window_in_blocks":62,"smart_rollup_stake_amount":"32000000",
      "smart_rollup_commitment_period_in_blocks":31,"smart_rollup_max_lookahead_in_blocks":46875,
      "smart_rollup_max_active_outbox_levels":31500,"smart_rollup_max_outbox_messages_per_level":100,
      "smart_rollup_number_of_sections_in_dissection":32,"smart_rollup_timeout_period_in_blocks":781,
      "smart_rollup_max_number_of_cemented_commitments":5,"smart_rollup_max_number_of_parallel_games":32,
      "smart_rollup_reveal_activation_level":{"raw_data":{"Blake2B":0},"metadata":0,"dal_page":1,
        "dal_parameters":1,"dal_attested_slots_validity_lag":241920},
      "smart_rollup_private_enable":true,"smart_rollup_riscv_pvm_enable":true}"#;
    let server = Server::start(move |path, _| {
        let p = "/chains/main/blocks/head/context/smart_rollups/smart_rollup/sr168enxrwgLzYy9purfFWrZxnuS21FXpxGE";
        match path {
            "/chains/main/chain_id" => ok(r#""NetXdQprcVkpaWU""#),
            "/chains/main/blocks/BMSwz2C4yJNWifpe7CS2RpE987RDAoEe2DbenJdAVB5GNap3LqS?metadata=always" => ok(BLOCK),
            "/chains/main/blocks/head/header" => ok(head_json(101, 7)),
            "/chains/main/blocks/head/header/shell" => ok(head_json(101, 7)),
            "/chains/main/blocks/100/hash" => ok(format!("\"{}\"", bh(6))),
            "/chains/main/blocks/head/protocols" => ok(
                r#"{"protocol":"PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY","next_protocol":"PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY"}"#,
            ),
            "/chains/main/protocols" => ok(format!(
                r#"[{{"protocol":"PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY","proto_level":3,"activation_block":{{"block_hash":"{}","level":50}}}}]"#,
                bh(1)
            )),
            "/chains/main/blocks/head/context/constants" => ok(constants),
            _ if path == format!("{p}/genesis_info") => ok(
                r#"{"level":2,"commitment_hash":"src12UkdWyYib8wuDVAWVYnEPdAaZ45btxs7MvAusHVsDpfA3DnnP9"}"#,
            ),
            _ if path == format!("{p}/kind") => ok(r#""wasm_2_0_0""#),
            _ if path == format!("{p}/last_cemented_commitment_hash_with_level") => ok(
                r#"{"hash":"src12VCGrpKm4JRheTw2GVHLyb2ZrNBuZLSHmwnC59U2KRv2adgpvr","level":33}"#,
            ),
            _ if path == format!("{p}/staker/{BOOTSTRAP1}/staked_on_commitment") => ok(
                r#"{"hash":"src12VdvCf6oXTuW5ShY3RnTZYtZ9gJDDi1UByPUH1SBR3AuCU1QRx","compressed_state":"srs11SRvZcVAX1TvELxdV476eyHsUkeB7LczUJfg91XbBPevaTiTGq","inbox_level":64,"predecessor":"src12VCGrpKm4JRheTw2GVHLyb2ZrNBuZLSHmwnC59U2KRv2adgpvr","number_of_ticks":"880000000000"}"#,
            ),
            _ if path == format!("{p}/commitment/src12VCGrpKm4JRheTw2GVHLyb2ZrNBuZLSHmwnC59U2KRv2adgpvr") => ok(
                r#"{"compressed_state":"srs11SRvZcVAX1TvELxdV476eyHsUkeB7LczUJfg91XbBPevaTiTGq","inbox_level":33,"predecessor":"src12UkdWyYib8wuDVAWVYnEPdAaZ45btxs7MvAusHVsDpfA3DnnP9","number_of_ticks":"0"}"#,
            ),
            _ if path.starts_with("/chains/main/blocks?head=") => {
                ok(format!(r#"[["{}","{}","{}"]]"#, bh(7), bh(6), bh(5)))
            }
            _ => Reply::Full(404, String::new()),
        }
    })
    .await;
    let c = L1Client::new(fast(server.url())).unwrap();
    assert_eq!(c.chain_id().await.unwrap().to_b58check(), "NetXdQprcVkpaWU");

    let block = c
        .block(
            "main",
            "BMSwz2C4yJNWifpe7CS2RpE987RDAoEe2DbenJdAVB5GNap3LqS",
        )
        .await
        .unwrap();
    assert_eq!(i32::from(block.level()), 101);
    assert_eq!(inbox::block_messages(&block).len(), 5);

    let h = c.block_header("main", "head").await.unwrap();
    assert_eq!((h.hash, i32::from(h.shell.level)), (bh(7), 101));
    assert_eq!(
        c.shell_header("main", "head").await.unwrap().predecessor,
        bh(6)
    );
    assert_eq!(c.block_hash("main", "100").await.unwrap(), bh(6));
    let p = c.block_protocols("main", "head").await.unwrap();
    assert_eq!(p.protocol, p.next_protocol);
    let ps = c.protocols("main").await.unwrap();
    assert_eq!(ps[0].activation_block.level, 50);

    let k = c.constants("main", "head").await.unwrap();
    assert_eq!(k.smart_rollup_commitment_period_in_blocks, 31);
    assert_eq!(k.smart_rollup_challenge_window_in_blocks, 62);
    assert_eq!(k.smart_rollup_stake_amount.0, 32_000_000);
    assert_eq!(k.minimal_block_delay, 6);
    assert_eq!(k.dal_parametric.as_ref().unwrap().attestation_lag, 8);
    assert_eq!(k.raw["smart_rollup_max_number_of_parallel_games"], 32);

    let rollup: SmartRollupAddress = ROLLUP.parse().unwrap();
    let staker: PublicKeyHash = BOOTSTRAP1.parse().unwrap();
    let g = c
        .rollup_genesis_info("main", "head", &rollup)
        .await
        .unwrap();
    assert_eq!(g.level, 2);
    assert_eq!(
        c.rollup_kind("main", "head", &rollup).await.unwrap(),
        PvmKind::Wasm
    );
    let lcc = c.rollup_lcc("main", "head", &rollup).await.unwrap();
    assert_eq!(lcc.level, 33);
    let staked = c
        .staked_on_commitment("main", "head", &rollup, &staker)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(staked.inbox_level, 64);
    assert_eq!(staked.number_of_ticks, 880_000_000_000);
    let cm = c
        .rollup_commitment("main", "head", &rollup, &lcc.hash)
        .await
        .unwrap();
    assert_eq!(cm.predecessor, g.commitment_hash);

    let anc = c
        .ancestry("main", &bh(7), tezos_types::Level::new(101).unwrap(), 3)
        .await
        .unwrap();
    assert_eq!(anc.len(), 2);
    assert_eq!(
        (anc[0].hash, i32::from(anc[0].level), anc[0].predecessor),
        (bh(7), 101, bh(6))
    );
    assert_eq!(
        (anc[1].hash, i32::from(anc[1].level), anc[1].predecessor),
        (bh(6), 100, bh(5))
    );
    assert!(
        server
            .paths()
            .contains(&format!("/chains/main/blocks?head={}&length=3", bh(7)))
    );
}

#[tokio::test]
async fn server_errors_are_retried_until_recovery() {
    let server = Server::start(|_, n| {
        if n < 2 {
            Reply::Full(503, "<html>busy</html>".into())
        } else {
            ok(r#""NetXdQprcVkpaWU""#)
        }
    })
    .await;
    let c = L1Client::new(fast(server.url())).unwrap();
    assert!(c.chain_id().await.is_ok());
    assert_eq!(server.hits("/chains/main/chain_id"), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = Server::start(|_, _| Reply::Full(500, "oops".into())).await;
    let c = L1Client::new(fast(server.url())).unwrap();
    let e = c.chain_id().await.unwrap_err();
    assert!(
        matches!(&e, L1Error::Http { status: 500, snippet, .. } if snippet == "oops"),
        "{e}"
    );
    assert_eq!(server.hits("/"), 4);
}

#[tokio::test]
async fn answers_are_not_retried() {
    let server = Server::start(|path, _| {
        if path.ends_with("/kind") {
            Reply::Full(404, "not found".into())
        } else if path.ends_with("/genesis_info") {
            ok(r#"{"level":"two","commitment_hash":"src12UkdWyYib8wuDVAWVYnEPdAaZ45btxs7MvAusHVsDpfA3DnnP9"}"#)
        } else {
            Reply::Full(
                500,
                r#"[{"kind":"permanent","id":"proto.025-PsUshuai.smart_rollup_not_staked"}]"#.into(),
            )
        }
    })
    .await;
    let c = L1Client::new(fast(server.url())).unwrap();
    let rollup: SmartRollupAddress = ROLLUP.parse().unwrap();
    let e = c.rollup_kind("main", "head", &rollup).await.unwrap_err();
    assert_eq!(e.status(), Some(404));
    let e = c
        .rollup_genesis_info("main", "head", &rollup)
        .await
        .unwrap_err();
    let L1Error::Decode { path, snippet, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(path, "level");
    assert!(snippet.contains("\"two\""));
    let staker: PublicKeyHash = BOOTSTRAP1.parse().unwrap();
    let s = c
        .staked_on_commitment("main", "head", &rollup, &staker)
        .await
        .unwrap();
    assert_eq!(s, None);
    assert_eq!(server.hits("/"), 3);
}

#[tokio::test]
async fn staked_on_null_is_none() {
    let server = Server::start(|_, _| ok("null")).await;
    let c = L1Client::new(fast(server.url())).unwrap();
    let s = c
        .staked_on_commitment(
            "main",
            "head",
            &ROLLUP.parse().unwrap(),
            &BOOTSTRAP1.parse().unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(s, None);
}

#[tokio::test]
async fn pruned_receipts_are_a_block_error() {
    let mut v: serde_json::Value = serde_json::from_str(BLOCK).unwrap();
    v["operations"][3][0]["contents"][0]["metadata"] = "too large".into();
    let body = v.to_string();
    let server = Server::start(move |_, _| ok(body.clone())).await;
    let c = L1Client::new(fast(server.url())).unwrap();
    let e = c.block("main", "head").await.unwrap_err();
    assert!(
        matches!(
            &e,
            L1Error::Block {
                source: inbox::BlockError::MissingMetadata { .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn connection_refused_and_timeout() {
    let port = test_support::free_port().unwrap();
    let c = L1Client::new(L1Config {
        rpc_max_attempts: 2,
        ..fast(format!("http://127.0.0.1:{port}"))
    })
    .unwrap();
    let e = c.chain_id().await.unwrap_err();
    assert!(matches!(e, L1Error::Connection { .. }), "{e}");
    assert!(e.is_retryable());

    let server = Server::start(|_, _| Reply::Hang).await;
    let c = L1Client::new(L1Config {
        rpc_timeout: Duration::from_millis(200),
        rpc_max_attempts: 2,
        ..fast(server.url())
    })
    .unwrap();
    let e = c.chain_id().await.unwrap_err();
    assert!(matches!(e, L1Error::Timeout { .. }), "{e}");
    assert_eq!(server.hits("/"), 2);
}

const DAL_CELLS: &str = include_str!("../../../inbox/fixtures/dal_skip_list_cells_u025.json");
const DAL_PARAMS: &str = include_str!("../../../inbox/fixtures/dal_parametric_u025.json");

/// The DAL RPCs of docs/reference/dal.md §1 and §4: typed answers, 404 kept as an HTTP error
/// (a sandbox or protocol without the DAL), malformed cells reported with their JSON path.
#[tokio::test]
async fn dal_rpcs() {
    let server = Server::start(move |path, _| match path {
        "/chains/main/blocks/BMSwz2C4yJNWifpe7CS2RpE987RDAoEe2DbenJdAVB5GNap3LqS/context/dal/skip_list_cells_of_level" => {
            ok(DAL_CELLS)
        }
        "/chains/main/blocks/bad/context/dal/skip_list_cells_of_level" => {
            ok(r#"[["dask12YcdgqBDuBTfrPmY4JRjMrMjVJw4L2NqABL5jzwV5uEEN8pihP",{"kind":"dal_skip_list","skip_list":{"index":"1","back_pointers":[],"content":{"kind":"weird","level":1,"index":0}}}]]"#)
        }
        "/chains/main/blocks/BMSwz2C4yJNWifpe7CS2RpE987RDAoEe2DbenJdAVB5GNap3LqS/context/dal/past_parameters/5000000" => {
            ok(DAL_PARAMS)
        }
        _ => Reply::Full(404, String::new()),
    })
    .await;
    let c = L1Client::new(fast(server.url())).unwrap();
    let block = "BMSwz2C4yJNWifpe7CS2RpE987RDAoEe2DbenJdAVB5GNap3LqS";
    let cells = c.skip_list_cells_of_level("main", block).await.unwrap();
    assert_eq!(cells.len(), 7);
    assert_eq!(
        inbox::dal::levels_needing_parameters(&cells),
        [5_000_000, 5_000_002].map(|l| tezos_types::Level::new(l).unwrap())
    );
    let p = c
        .dal_past_parameters("main", block, 5_000_000)
        .await
        .unwrap();
    assert_eq!(
        (p.number_of_slots, p.slot_size, p.page_size),
        (16, 380_832, 3967)
    );
    match c.skip_list_cells_of_level("main", "head").await {
        Err(L1Error::Http { status: 404, .. }) => {}
        other => panic!("{other:?}"),
    }
    match c.skip_list_cells_of_level("main", "bad").await {
        Err(L1Error::Decode { path, message, .. }) => {
            assert_eq!(path, "$[0][1]");
            assert!(message.contains("weird"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}
