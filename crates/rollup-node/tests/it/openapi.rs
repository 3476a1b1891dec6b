//! RPC answers validated against the reference node's OpenAPI description
//! (`testdata/octez-rollup-node-openapi.json`) and against the node's own (`GET /openapi`,
//! generated from its route table).
//!
//! A small JSON-schema validator covers the subset the file uses (`$ref` into
//! `components/schemas`, `type`, `properties`/`required`/`additionalProperties`, `items`,
//! `oneOf`/`anyOf`/`allOf`, `enum`, `minimum`/`maximum`, `nullable`, the one hex `pattern`).
//! Octez's `oneOf`s come from data-encoding unions, whose cases are tried in order and may
//! overlap (e.g. `"running"` is both a `unistring` and the `running` case of a worker
//! status), so `oneOf` is checked as "at least one case matches".
//!
//! Answers known not to validate yet are listed in [`KNOWN_MISMATCHES`]; the test checks
//! they still fail, so fixing the node forces updating the list.

use std::collections::BTreeSet;
use std::sync::Arc;

use node_config::{Config, Mode};
use node_context::{
    L1Connection, L1Head, NodeStatus, ProcessingStats, RollupConstants, WorkerName, Workers,
};
use node_rpc::{StoreView, committed_status_json, outbox_message_json, outbox_summary};
use node_store::{Commitment, L2Block, ReadPool, Store, encode_message_list};
use pvm_store::{Context, context_hash};
use serde_json::{Value, json};
use tezos_types::inbox::{Inbox, InboxHistoryCell};
use tezos_types::micheline::Micheline;
use tezos_types::outbox::{OutboxMessage, OutboxTransaction};
use tezos_types::{
    BinEncode, BlockHash, CommitmentHash, ContractHash, MerkelizedPayloadHashesHash, PublicKeyHash,
    StateHash,
};

use super::{ADDR, spawn_router};

/// The reference OpenAPI file.
/// A copy of Octez's OpenAPI description kept in the repository (`testdata/README.md`).
const SPEC_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/octez-rollup-node-openapi.json"
);

/// Violations known to remain, as `(case name, location, reason)`: the location is the JSON
/// path of the top-level violation (`$.field…`), or `HTTP` when the node does not answer 200.
/// The test checks the set of violations equals this list exactly.
const KNOWN_MISMATCHES: &[(&str, &str, &str)] = &[];

// ---------------------------------------------------------------------------------------
// Validator
// ---------------------------------------------------------------------------------------

/// The reference OpenAPI document.
struct Spec {
    doc: Value,
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(SPEC_PATH).expect("read reference OpenAPI");
        Spec {
            doc: serde_json::from_str(&text).expect("parse reference OpenAPI"),
        }
    }

    /// The node's own description, as served by `GET /openapi`.
    fn served(port: u16) -> Spec {
        let (st, doc) = get(port, "/openapi");
        assert_eq!(st, 200, "{doc}");
        Spec { doc }
    }

    /// Path templates of the reference.
    fn templates(&self) -> Vec<&str> {
        self.doc["paths"]
            .as_object()
            .expect("paths")
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// The template matching a concrete path (literal segments preferred over parameters).
    fn template_of(&self, path: &str) -> Option<&str> {
        let path = path.split('?').next().unwrap_or(path);
        let segs: Vec<&str> = path.split('/').collect();
        self.templates()
            .into_iter()
            .filter(|t| {
                let ts: Vec<&str> = t.split('/').collect();
                ts.len() == segs.len()
                    && ts
                        .iter()
                        .zip(&segs)
                        .all(|(t, s)| t.starts_with('{') || t == s)
            })
            .min_by_key(|t| t.matches('{').count())
    }

    /// The `200` `application/json` response schema of `method template`.
    fn response_schema(&self, template: &str, method: &str) -> &Value {
        let s = &self.doc["paths"][template][method]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert!(!s.is_null(), "no 200 JSON schema for {method} {template}");
        s
    }

    /// Validates `v` against `schema`; returns the list of violations.
    fn validate(&self, schema: &Value, v: &Value) -> Vec<String> {
        let mut errs = vec![];
        self.check(schema, v, "$", &mut errs);
        errs
    }

    fn resolve(&self, r: &str) -> &Value {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unsupported $ref {r}"));
        let s = &self.doc["components"]["schemas"][name];
        assert!(!s.is_null(), "dangling $ref {r}");
        s
    }

    fn check(&self, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
        let Some(s) = schema.as_object() else {
            assert!(
                schema == &json!(true) || schema.is_null(),
                "bad schema {schema}"
            );
            return;
        };
        for k in s.keys() {
            assert!(
                matches!(
                    k.as_str(),
                    "$ref"
                        | "type"
                        | "properties"
                        | "required"
                        | "additionalProperties"
                        | "items"
                        | "oneOf"
                        | "anyOf"
                        | "allOf"
                        | "enum"
                        | "minimum"
                        | "maximum"
                        | "pattern"
                        | "nullable"
                        | "title"
                        | "description"
                ),
                "unsupported schema keyword {k:?} at {at}"
            );
        }
        if v.is_null() && s.get("nullable") == Some(&json!(true)) {
            return;
        }
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            self.check(self.resolve(r), v, at, errs);
            check_b58(r, v, at, errs);
        }
        if let Some(t) = s.get("type").and_then(Value::as_str) {
            let ok = match t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "boolean" => v.is_boolean(),
                "null" => v.is_null(),
                other => panic!("unsupported type {other:?}"),
            };
            if !ok {
                errs.push(format!("{at}: expected {t}, got {v}"));
                return;
            }
        }
        if let Some(e) = s.get("enum").and_then(Value::as_array)
            && !e.contains(v)
        {
            errs.push(format!("{at}: {v} not in enum {}", Value::Array(e.clone())));
        }
        if let Some(n) = v.as_f64() {
            if let Some(min) = s.get("minimum").and_then(Value::as_f64)
                && n < min
            {
                errs.push(format!("{at}: {n} < minimum {min}"));
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64)
                && n > max
            {
                errs.push(format!("{at}: {n} > maximum {max}"));
            }
        }
        if let (Some(p), Some(text)) = (s.get("pattern").and_then(Value::as_str), v.as_str()) {
            assert_eq!(p, "^([a-zA-Z0-9][a-zA-Z0-9])*$", "unsupported pattern");
            if text.len() % 2 != 0 || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
                errs.push(format!("{at}: {text:?} does not match {p}"));
            }
        }
        if let Some(o) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            for r in s
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().expect("required name");
                if !o.contains_key(r) {
                    errs.push(format!("{at}: missing required field {r:?} in {v}"));
                }
            }
            for (k, fv) in o {
                let sub = format!("{at}.{k}");
                match props.and_then(|p| p.get(k)) {
                    Some(ps) => self.check(ps, fv, &sub, errs),
                    None => match s.get("additionalProperties") {
                        Some(Value::Bool(false)) => {
                            errs.push(format!("{at}: unexpected field {k:?}"));
                        }
                        Some(extra) if extra.is_object() => self.check(extra, fv, &sub, errs),
                        _ => {}
                    },
                }
            }
        }
        if let (Some(items), Some(a)) = (s.get("items"), v.as_array()) {
            for (i, e) in a.iter().enumerate() {
                self.check(items, e, &format!("{at}[{i}]"), errs);
            }
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for c in all {
                self.check(c, v, at, errs);
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(cases) = s.get(key).and_then(Value::as_array) {
                // No case matching: report the violations of the closest case (fewest).
                let mut closest: Option<Vec<String>> = None;
                for c in cases {
                    let e = self.validate_at(c, v, at);
                    if e.is_empty() {
                        closest = None;
                        break;
                    }
                    if closest.as_ref().is_none_or(|b| e.len() < b.len()) {
                        closest = Some(e);
                    }
                }
                if let Some(e) = closest {
                    errs.extend(
                        e.into_iter()
                            .map(|e| format!("{e} (closest {key} case at {at})")),
                    );
                }
            }
        }
    }

    fn validate_at(&self, schema: &Value, v: &Value, at: &str) -> Vec<String> {
        let mut errs = vec![];
        self.check(schema, v, at, &mut errs);
        errs
    }
}

/// Base58Check prefixes of the hash schemas (octez-rollup-node.md §4 "JSON conventions"):
/// the OpenAPI types them as `unistring`, which any string satisfies, so the prefix is
/// checked on top of the schema.
const B58_PREFIXES: &[(&str, &[&str])] = &[
    ("block_hash", &["B"]),
    ("smart_rollup_commitment_hash", &["src1"]),
    ("smart_rollup_state_hash", &["srs1"]),
    ("smart_rollup_inbox_hash", &["srib1"]),
    ("smart_rollup_merkelized_payload_hashes_hash", &["srib2"]),
    ("Smart_rollup_context_hash", &["SRCo"]),
    ("smart_rollup_address", &["sr1"]),
    ("sc_rollup_l2_message_id", &["scmsg"]),
    ("Signature.Public_key_hash", &["tz1", "tz2", "tz3", "tz4"]),
    ("alpha.contract_id.originated", &["KT1"]),
];

fn check_b58(r: &str, v: &Value, at: &str, errs: &mut Vec<String>) {
    let name = r.trim_start_matches("#/components/schemas/");
    let (Some((_, prefixes)), Some(text)) =
        (B58_PREFIXES.iter().find(|(n, _)| *n == name), v.as_str())
    else {
        return;
    };
    const ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    if !prefixes.iter().any(|p| text.starts_with(p)) || !text.chars().all(|c| ALPHABET.contains(c))
    {
        errs.push(format!(
            "{at}: {text:?} is not a base58 {name} ({prefixes:?}…)"
        ));
    }
}

// ---------------------------------------------------------------------------------------
// Fixture: a filled store, a committed PVM state, the router on a loopback port
// ---------------------------------------------------------------------------------------

fn messages(level: u8) -> Vec<Vec<u8>> {
    vec![vec![0, 1], vec![1, level, 0xff]]
}

fn block(level: u8, ctx: &node_store::SmartRollupContextHash) -> L2Block {
    let inbox = inbox(level);
    L2Block {
        block_hash: BlockHash::new([level; 32]),
        level: level.into(),
        predecessor: BlockHash::new([level - 1; 32]),
        commitment_hash: (level == 3).then_some(CommitmentHash::new([9; 32])),
        previous_commitment_hash: CommitmentHash::ZERO,
        context: Some(*ctx),
        inbox_witness: inbox.old_levels_messages.witness,
        inbox_hash: inbox.hash(),
        initial_tick: tezos_types::Tick::new(1000 * u128::from(level)),
        num_ticks: tezos_types::Tick::new(450_000_000_000_000),
        state_hash: Some(StateHash::new([level; 32])),
        pvm_status: Some("Waiting for input message".into()),
    }
}

fn inbox(level: u8) -> Inbox {
    Inbox {
        level: level.into(),
        old_levels_messages: InboxHistoryCell {
            witness: MerkelizedPayloadHashesHash::new([level; 32]),
            level: level.into(),
            index: level.into(),
            back_pointers: vec![tezos_types::InboxHash::new([level + 10; 32])],
        },
    }
}

const COMMITMENT: [u8; 32] = [9; 32];

/// Constants of the fixture: commitments every 3 levels.
const CONSTANTS: RollupConstants = RollupConstants {
    commitment_period: 3,
    challenge_window: 10,
    minimal_block_delay: 6,
    max_active_outbox_levels: 20,
};

/// Serves the router over a filled store (observer configuration); returns the port.
fn serve() -> u16 {
    serve_with(Config::new(ADDR.parse().unwrap(), Mode::Observer))
}

/// Serves the router over a filled store with `config`; returns the port.
fn serve_with(config: Config) -> u16 {
    let ctx = Context::in_memory();
    let st = wasm_pvm::PvmState::genesis(
        wasm_pvm::PvmVersion::V6,
        b"\0asm\x01\0\0\0",
        &wasm_pvm::GenesisParams::default(),
    )
    .unwrap();
    let ctx_hash = context_hash(&ctx.commit(&st).unwrap());
    let mut store = Store::open_in_memory().unwrap();
    let commitment = Commitment {
        compressed_state: StateHash::new([3; 32]),
        inbox_level: tezos_types::Level::new(3).unwrap(),
        predecessor: CommitmentHash::ZERO,
        number_of_ticks: 77,
    };
    let genesis = Commitment {
        compressed_state: StateHash::new([0; 32]),
        inbox_level: tezos_types::Level::ZERO,
        predecessor: CommitmentHash::ZERO,
        number_of_ticks: 0,
    };
    store
        .transaction(|w| {
            for l in 1..=3u8 {
                let b = block(l, &ctx_hash);
                w.insert_block(&b)?;
                w.set_level(l.into(), &b.block_hash)?;
                w.set_head(&b.block_hash, l.into())?;
                w.insert_inbox(&b.inbox_hash, l.into(), &inbox(l).to_bin())?;
                w.insert_messages(
                    &b.inbox_witness,
                    l.into(),
                    &encode_message_list(&messages(l)),
                )?;
            }
            w.set_finalized(&BlockHash::new([1; 32]), 1u8.into())?;
            // The genesis commitment (the blocks' previous commitment), LCC at level 1: block
            // 1 is `cemented`, the head `committed` (its commitment, level 3, is published).
            w.insert_commitment(&CommitmentHash::ZERO, &genesis)?;
            w.set_lcc(&CommitmentHash::ZERO, 1u8.into())?;
            // A pending outbox message at the LCC level (executable) and one above (not yet).
            for outbox_level in [1u8, 2] {
                w.set_outbox_messages(&node_store::OutboxLevel {
                    outbox_level: outbox_level.into(),
                    messages: vec![0],
                    executed: vec![],
                })?;
            }
            w.insert_commitment(&CommitmentHash::new(COMMITMENT), &commitment)?;
            w.set_commitment_published_at(
                &CommitmentHash::new(COMMITMENT),
                5u8.into(),
                Some(6u8.into()),
            )
        })
        .unwrap();
    let status = NodeStatus {
        l1_connection: L1Connection::Connected,
        l1_head: Some(L1Head {
            hash: BlockHash::new([4; 32]),
            level: 4,
            timestamp: "2024-01-01T00:00:00Z".into(),
            age_secs: 0,
        }),
        degraded: false,
        workers: {
            // A running publisher (its guard kept for the whole test run) and a crashed
            // refutation coordinator.
            let w = Workers::default();
            Box::leak(Box::new(w.start(WorkerName::Publisher)));
            w.start(WorkerName::RefutationCoordinator).crashed("boom");
            w
        },
        constants: Some(CONSTANTS),
        processing: ProcessingStats::default(),
        ..NodeStatus::default()
    };
    let view = Arc::new(StoreView {
        config,
        store: Arc::new(ReadPool::single(store)),
        status: Arc::new(parking_lot::Mutex::new(status)),
        durable: Some(Arc::new(ctx.clone())),
        context: Some(ctx),
        services: Default::default(),
    });
    spawn_router(view)
}

/// `GET path`: status and body (JSON, or the raw text as a JSON string if not JSON). Only
/// the first line is read: streamed answers (`/local/synchronized`) send one JSON value per
/// line and may not end; other answers are compact JSON on one line.
fn get(port: u16, path: &str) -> (u16, Value) {
    use std::io::BufRead;
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .unwrap();
    let st = r.status().as_u16();
    let mut body = String::new();
    std::io::BufReader::new(r.body_mut().as_reader())
        .read_line(&mut body)
        .unwrap();
    let body = body.trim_end().to_string();
    (
        st,
        serde_json::from_str(&body).unwrap_or(Value::String(body)),
    )
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

/// Where a case's answer comes from.
enum Source {
    /// `GET` of this concrete path (with query) on the router; must answer 200.
    Get(String),
    /// A value built by node code directly (shapes the fixture cannot reach through HTTP).
    Value(Value),
}

struct Case {
    name: String,
    /// Reference path template.
    template: &'static str,
    /// JSON pointer inside the response schema (`""` for the whole answer).
    pointer: &'static str,
    source: Source,
}

fn get_case(name: &str, template: &'static str, path: String) -> Case {
    Case {
        name: name.into(),
        template,
        pointer: "",
        source: Source::Get(path),
    }
}

fn outbox_messages() -> Vec<(&'static str, OutboxMessage)> {
    let dest: ContractHash = "KT1BEqzn5Wx8uJrZNvuS9DVHmLvG9td3fDLi".parse().unwrap();
    let tx = |typed: bool| OutboxTransaction {
        parameters: (&Micheline::int(5)).into(),
        parameters_ty: typed.then(|| (&Micheline::unit()).into()),
        destination: dest,
        entrypoint: "default".into(),
    };
    let pkh: PublicKeyHash = super::TZ1.parse().unwrap();
    vec![
        (
            "untyped batch",
            OutboxMessage::AtomicTransactionBatch {
                transactions: vec![tx(false)],
            },
        ),
        (
            "typed batch",
            OutboxMessage::AtomicTransactionBatchTyped {
                transactions: vec![tx(true)],
            },
        ),
        (
            "whitelist update",
            OutboxMessage::WhitelistUpdate {
                whitelist: Some(vec![pkh]),
            },
        ),
        (
            "canonical rollup signal",
            OutboxMessage::CanonicalRollupSignal {
                payload: vec![1, 2, 3],
            },
        ),
    ]
}

fn cases() -> Vec<Case> {
    let head = "/global/block/head";
    let h2 = BlockHash::new([2; 32]).to_b58check();
    let c = CommitmentHash::new(COMMITMENT).to_b58check();
    let unknown_c = CommitmentHash::new([1; 32]).to_b58check();
    let mut v = vec![
        get_case("health", "/health", "/health".into()),
        get_case("version", "/version", "/version".into()),
        get_case("ping", "/ping", "/ping".into()),
        get_case("stats memory", "/stats/memory", "/stats/memory".into()),
        get_case("gc_info", "/local/gc_info", "/local/gc_info".into()),
        get_case("config", "/config", "/config".into()),
        get_case(
            "smart_rollup_address",
            "/global/smart_rollup_address",
            "/global/smart_rollup_address".into(),
        ),
        get_case(
            "tezos_head",
            "/global/tezos_head",
            "/global/tezos_head".into(),
        ),
        get_case(
            "tezos_level",
            "/global/tezos_level",
            "/global/tezos_level".into(),
        ),
        get_case(
            "last_stored_commitment",
            "/global/last_stored_commitment",
            "/global/last_stored_commitment".into(),
        ),
        get_case(
            "local commitment",
            "/local/commitments/{commitment_hash}",
            format!("/local/commitments/{c}"),
        ),
        get_case(
            "local commitment (unknown)",
            "/local/commitments/{commitment_hash}",
            format!("/local/commitments/{unknown_c}"),
        ),
        get_case(
            "synchronized (synchronizing)",
            "/local/synchronized",
            "/local/synchronized".into(),
        ),
    ];
    for id in ["head", "finalized", "2", h2.as_str()] {
        v.push(get_case(
            &format!("block {id}"),
            "/global/block/{block_id}",
            format!("/global/block/{id}"),
        ));
    }
    v.push(get_case(
        "block head ?outbox=true",
        "/global/block/{block_id}",
        format!("{head}?outbox=true"),
    ));
    for sub in [
        "hash",
        "level",
        "inbox",
        "ticks",
        "total_ticks",
        "num_messages",
        "state_hash",
        "state_current_level",
        "status",
    ] {
        v.push(get_case(
            &format!("block head/{sub}"),
            match sub {
                "hash" => "/global/block/{block_id}/hash",
                "level" => "/global/block/{block_id}/level",
                "inbox" => "/global/block/{block_id}/inbox",
                "ticks" => "/global/block/{block_id}/ticks",
                "total_ticks" => "/global/block/{block_id}/total_ticks",
                "num_messages" => "/global/block/{block_id}/num_messages",
                "state_hash" => "/global/block/{block_id}/state_hash",
                "state_current_level" => "/global/block/{block_id}/state_current_level",
                _ => "/global/block/{block_id}/status",
            },
            format!("{head}/{sub}"),
        ));
    }
    v.push(get_case(
        "block head/committed_status",
        "/global/block/{block_id}/committed_status",
        format!("{head}/committed_status"),
    ));
    v.push(get_case(
        "block 1/committed_status (cemented)",
        "/global/block/{block_id}/committed_status",
        "/global/block/1/committed_status".into(),
    ));
    v.push(Case {
        name: "committed_status (uncommitted)".into(),
        template: "/global/block/{block_id}/committed_status",
        pointer: "",
        source: Source::Value(
            committed_status_json(
                4u8.into(),
                4u8.into(),
                (None, 6u8.into()),
                None,
                Some(3u8.into()),
                &CONSTANTS,
                1_700_000_000,
            )
            .unwrap(),
        ),
    });
    v.push(get_case(
        "block head/state?key=",
        "/global/block/{block_id}/state",
        format!("{head}/state?key=durable/readonly/wasm_version/@/length"),
    ));
    v.push(get_case(
        "block head/outbox?outbox_level=3",
        "/global/block/{block_id}/outbox",
        format!("{head}/outbox?outbox_level=3"),
    ));
    v.push(get_case(
        "block head/outbox/3/messages",
        "/global/block/{block_id}/outbox/{level}/messages",
        format!("{head}/outbox/3/messages"),
    ));
    let d = format!("{head}/durable/wasm_2_0_0");
    for (name, template, q) in [
        (
            "durable value",
            "/global/block/{block_id}/durable/wasm_2_0_0/value",
            "value?key=/readonly/wasm_version",
        ),
        (
            "durable value (absent)",
            "/global/block/{block_id}/durable/wasm_2_0_0/value",
            "value?key=/nope",
        ),
        (
            "durable length",
            "/global/block/{block_id}/durable/wasm_2_0_0/length",
            "length?key=/kernel/boot.wasm",
        ),
        (
            "durable length (absent)",
            "/global/block/{block_id}/durable/wasm_2_0_0/length",
            "length?key=/nope",
        ),
        (
            "durable subkeys",
            "/global/block/{block_id}/durable/wasm_2_0_0/subkeys",
            "subkeys?key=/kernel",
        ),
        (
            "durable values",
            "/global/block/{block_id}/durable/wasm_2_0_0/values",
            "values?key=/readonly",
        ),
    ] {
        v.push(get_case(name, template, format!("{d}/{q}")));
    }
    for (name, template) in [
        ("outbox pending", "/local/outbox/pending"),
        (
            "outbox pending executable",
            "/local/outbox/pending/executable",
        ),
        (
            "outbox pending unexecutable",
            "/local/outbox/pending/unexecutable",
        ),
    ] {
        v.push(get_case(name, template, template.into()));
    }
    for (kind, m) in outbox_messages() {
        // `/local/outbox/pending*` items: `message` is the outbox summary.
        let pending = json!({"outbox_level": 3, "status": "executable",
            "messages": [{"message_index": 0, "message": outbox_summary(&m.to_bin())}]});
        v.push(Case {
            name: format!("outbox message ({kind}) in /local/outbox/pending"),
            template: "/local/outbox/pending",
            pointer: "/items",
            source: Source::Value(pending),
        });
        // The fixture's PVM state has no outbox message (only a kernel run can push one), so
        // these items are built the way `rpc.rs` builds them. `/outbox/<l>/messages` item:
        let listed = json!({"outbox_level": 3, "message_index": "0",
                            "message": outbox_message_json(&m.to_bin())});
        v.push(Case {
            name: format!("outbox message ({kind}) in /outbox/<l>/messages"),
            template: "/global/block/{block_id}/outbox/{level}/messages",
            pointer: "/items",
            source: Source::Value(listed),
        });
        // `?outbox=true` block field item: `{"message_index": <int>} ∪ <summary>`.
        let mut item = json!({"message_index": 0});
        if let (Some(o), Value::Object(s)) = (item.as_object_mut(), outbox_summary(&m.to_bin())) {
            o.extend(s);
        }
        v.push(Case {
            name: format!("outbox message ({kind}) in block ?outbox=true"),
            template: "/global/block/{block_id}",
            pointer: "/properties/outbox/items",
            source: Source::Value(item),
        });
    }
    v
}

/// Location of a violation: the text before the first `": "`.
fn location(violation: &str) -> &str {
    violation.split(": ").next().unwrap_or(violation)
}

/// Runs every case; returns `(name, location)` of each violation, and prints them.
fn run_cases(spec: &Spec, port: u16) -> BTreeSet<(String, String)> {
    let mut failing = BTreeSet::new();
    for case in cases() {
        let schema = spec
            .response_schema(case.template, "get")
            .pointer(case.pointer)
            .unwrap_or_else(|| panic!("{}: no schema at {}", case.name, case.pointer));
        let (answer, errs) = match &case.source {
            Source::Get(path) => {
                assert_eq!(
                    spec.template_of(path),
                    Some(case.template),
                    "{}: template",
                    case.name
                );
                let (st, body) = get(port, path);
                if st == 200 {
                    let e = spec.validate(schema, &body);
                    (body, e)
                } else {
                    (body, vec![format!("HTTP: GET {path} answered {st}")])
                }
            }
            Source::Value(val) => (val.clone(), spec.validate(schema, val)),
        };
        if !errs.is_empty() {
            eprintln!(
                "MISMATCH {}: answer {answer}\n  {}",
                case.name,
                errs.join("\n  ")
            );
        }
        for e in &errs {
            failing.insert((case.name.clone(), location(e).to_string()));
        }
    }
    failing
}

#[test]
fn rpc_answers_validate_against_reference_openapi() {
    let spec = Spec::load();
    let port = serve();
    let failing = run_cases(&spec, port);
    let known: BTreeSet<(String, String)> = KNOWN_MISMATCHES
        .iter()
        .map(|(n, l, _)| ((*n).to_string(), (*l).to_string()))
        .collect();
    let all: BTreeSet<String> = cases().into_iter().map(|c| c.name).collect();
    for (k, _) in &known {
        assert!(all.contains(k), "KNOWN_MISMATCHES names no case {k:?}");
    }
    let unexpected: Vec<_> = failing.difference(&known).collect();
    assert!(
        unexpected.is_empty(),
        "answers not validating against the reference OpenAPI (see stderr): {unexpected:#?}"
    );
    let fixed: Vec<_> = known.difference(&failing).collect();
    assert!(
        fixed.is_empty(),
        "these KNOWN_MISMATCHES now validate, remove them from the list: {fixed:#?}"
    );
}

#[test]
fn synchronized_answer_validates() {
    // The other `/local/synchronized` case: L2 head at the L1 head level.
    let spec = Spec::load();
    let schema = spec.response_schema("/local/synchronized", "get");
    assert!(spec.validate(schema, &json!("synchronized")).is_empty());
    let port = serve();
    let (st, body) = get(port, "/local/synchronized");
    assert_eq!(st, 200);
    assert!(body.get("synchronizing").is_some(), "{body}");
}

/// Streaming RPCs (checked by [`monitor_blocks_streams_blocks_of_the_reference_shape`]).
const STREAMS: &[&str] = &["/global/monitor_blocks", "/global/monitor_finalized_blocks"];

#[test]
fn served_paths_are_reference_paths_and_routed() {
    let spec = Spec::load();
    let port = serve();
    // What the node claims to serve: its own `/openapi`, generated from its route table.
    let node = Spec::served(port);
    let table: BTreeSet<(String, String)> = node_rpc::ROUTES
        .iter()
        .map(|r| (r.path.to_string(), r.method.as_str().to_ascii_lowercase()))
        .collect();
    let mut described = BTreeSet::new();
    for (t, ops) in node.doc["paths"].as_object().expect("node /openapi paths") {
        for m in ops.as_object().expect("operations").keys() {
            described.insert((t.clone(), m.clone()));
        }
    }
    assert_eq!(
        described, table,
        "/openapi must describe exactly the route table"
    );
    assert!(table.len() > 30, "{table:?}");
    let c = CommitmentHash::new(COMMITMENT).to_b58check();
    let mut covered = BTreeSet::new();
    for (t, m) in &table {
        // Octez's template and operation, unchanged (parameters, response schemas), but for
        // the two documented additions: `/health`'s optional `l1.error` and `conflicts`.
        let mut op = node.doc["paths"][t][m].clone();
        if t == "/health" {
            let props = op
                .pointer_mut(node_rpc::openapi::HEALTH_L1_PROPERTIES)
                .and_then(Value::as_object_mut)
                .expect("/health l1 properties");
            assert!(props.remove("error").is_some(), "l1.error is not described");
            let props = op
                .pointer_mut(node_rpc::openapi::HEALTH_PROPERTIES)
                .and_then(Value::as_object_mut)
                .expect("/health properties");
            assert!(
                props.remove("conflicts").is_some(),
                "conflicts is not described"
            );
        }
        assert_eq!(
            op, spec.doc["paths"][t][m],
            "{m} {t}: not Octez's operation"
        );
        assert!(
            spec.doc["paths"][t].get(m).is_some(),
            "node serves {m} {t}, absent from the reference OpenAPI"
        );
        covered.insert(t.clone());
        if STREAMS.contains(&t.as_str()) {
            continue;
        }
        let mut path = t
            .replace("{block_id}", "head")
            .replace("{level}", "3")
            .replace("{commitment_hash}", &c)
            .replace(
                "{injector_operation_hash}",
                &tezos_types::InjectorOperationId::new([9; 32]).to_b58check(),
            );
        if path.ends_with("/outbox") {
            path.push_str("?outbox_level=3");
        }
        if path.contains("/durable/") {
            path.push_str("?key=/readonly");
        }
        if path.ends_with("/state") {
            path.push_str("?key=durable/readonly/wasm_version/@/length");
        }
        if t.contains("/helpers/proofs/outbox/") {
            // Needs an outbox message at or below the LCC level (1 here): refused as Octez
            // does; proofs are checked end to end in `outbox.rs`.
            let (st, body) = get(port, &path);
            assert_eq!(st, 500, "GET {path}: {body}");
            assert!(
                body.to_string().contains("outbox_level_not_cemented"),
                "{body}"
            );
            continue;
        }
        if m.as_str() != "get" || t.starts_with("/local/batcher") || t.starts_with("/local/dal") {
            // Bodies, the batcher and the DAL injection queue (absent from this observer
            // fixture): node-rpc's tests/it.
            continue;
        }
        let (st, body) = get(port, &path);
        assert_eq!(st, 200, "GET {path} (template {t}): {body}");
    }
    // Every `$ref` of the served document resolves in it.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                    out.push(r);
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = vec![];
    refs(&node.doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        node.resolve(r);
    }
    let missing: Vec<String> = spec
        .templates()
        .into_iter()
        .filter(|t| !covered.contains(*t))
        .map(|t| {
            let methods: Vec<&str> = spec.doc["paths"][t]
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            format!("{} {t}", methods.join(","))
        })
        .collect();
    eprintln!(
        "reference paths not served ({}):\n  {}",
        missing.len(),
        missing.join("\n  ")
    );
    // A random path is not routed.
    assert_eq!(get(port, "/global/nonexistent").0, 404);
}

#[test]
fn rpc_answers_validate_against_the_served_openapi() {
    // The same cases as against Octez's file, against the node's own description.
    let port = serve();
    let node = Spec::served(port);
    let failing = run_cases(&node, port);
    let known: BTreeSet<(String, String)> = KNOWN_MISMATCHES
        .iter()
        .map(|(n, l, _)| ((*n).to_string(), (*l).to_string()))
        .collect();
    assert_eq!(
        failing, known,
        "answers not validating against GET /openapi"
    );
}

#[test]
fn operator_config_validates() {
    let tz1 = super::TZ1;
    let file = json!({
        "smart-rollup-address": ADDR,
        "etherlink": false,
        "smart-rollup-node-operator": {"operating": tz1, "batching": [tz1], "cementing": tz1,
                                       "executing_outbox": tz1},
        "rpc-addr": "127.0.0.1",
        "rpc-port": 8937,
        // The policy of the RPC address replaces the default one: `/config` stays allowed.
        "acl": [{"address": "127.0.0.1:8937", "blacklist": ["GET /stats/**"]}],
        "metrics-addr": "127.0.0.1:9933",
        "fee-parameters": {"publish": {"minimal-fees": "200"}},
        "mode": "operator",
        "history-mode": "archive",
        "gc-parameters": {"frequency": 100},
        "cors": {"allowed_headers": ["Content-Type"], "allowed_origins": ["*"]},
        "commit-on": "commitment",
    });
    let config = Config::from_json(&file).expect("operator config");
    let spec = Spec::load();
    let port = serve_with(config);
    let (st, body) = get(port, "/config");
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["mode"], "operator", "{body}");
    let errs = spec.validate(spec.response_schema("/config", "get"), &body);
    assert!(errs.is_empty(), "/config answer {body}: {errs:#?}");
}

#[test]
fn empty_store_answers_validate() {
    // A fresh node: no block, no commitment, no L1 head, no PVM.
    let view = Arc::new(StoreView {
        config: Config::new(ADDR.parse().unwrap(), Mode::Observer),
        store: Arc::new(ReadPool::single(Store::open_in_memory().unwrap())),
        status: Arc::new(parking_lot::Mutex::new(NodeStatus::default())),
        durable: None,
        context: None,
        services: Default::default(),
    });
    let port = spawn_router(view);
    let spec = Spec::load();
    for path in [
        "/health",
        "/global/tezos_head",
        "/global/tezos_level",
        "/global/last_stored_commitment",
        "/local/synchronized",
    ] {
        let (st, body) = get(port, path);
        assert_eq!(st, 200, "{path}: {body}");
        let template = spec.template_of(path).unwrap();
        let errs = spec.validate(spec.response_schema(template, "get"), &body);
        assert!(errs.is_empty(), "{path} answer {body}: {errs:#?}");
    }
    assert_eq!(get(port, "/global/tezos_head").1, Value::Null);
}

// ---------------------------------------------------------------------------------------
// The validator itself
// ---------------------------------------------------------------------------------------

#[test]
fn validator_rejects_wrong_shapes() {
    let spec = Spec::load();
    let bad = |template: &str, v: Value| {
        let s = spec.response_schema(template, "get");
        assert!(
            !spec.validate(s, &v).is_empty(),
            "{template}: {v} should not validate"
        );
    };
    let good = |template: &str, v: Value| {
        let s = spec.response_schema(template, "get");
        let e = spec.validate(s, &v);
        assert!(e.is_empty(), "{template}: {v} should validate: {e:?}");
    };
    good("/global/tezos_level", json!(3));
    good("/global/tezos_level", Value::Null);
    bad("/global/tezos_level", json!("3"));
    bad("/global/tezos_level", json!(1u64 << 40));
    good("/global/block/{block_id}/ticks", json!("12"));
    bad("/global/block/{block_id}/ticks", json!(12));
    bad("/global/block/{block_id}/hash", Value::Null);
    good(
        "/global/block/{block_id}/durable/wasm_2_0_0/value",
        json!("0aff"),
    );
    bad(
        "/global/block/{block_id}/durable/wasm_2_0_0/value",
        json!("0af"),
    );
    bad(
        "/global/block/{block_id}/durable/wasm_2_0_0/value",
        json!("0a-f"),
    );
    bad(
        "/global/block/{block_id}/durable/wasm_2_0_0/values",
        json!([{"key": "a"}]),
    );
    bad("/local/synchronized", json!("synchronising"));
    bad(
        "/local/synchronized",
        json!({"synchronizing": {"processed_level": 1, "l1_head_level": 2}}),
    );
    bad(
        "/global/last_stored_commitment",
        json!({"hash": "src1", "commitment": {"compressed_state": "srs1", "inbox_level": 3,
               "predecessor": "src1", "number_of_ticks": 77}}),
    );
    good(
        "/health",
        json!({"healthy": true, "degraded": false, "l1": {"connection": "connected",
               "blocks_late": 0}, "active_workers": [["w", "running"], ["v", {"crashed": "x"}]]}),
    );
    bad(
        "/health",
        json!({"healthy": true, "degraded": false, "l1": {"connection": "lost",
               "blocks_late": 0}, "active_workers": []}),
    );
    assert_eq!(
        spec.template_of("/global/block/head/outbox/3/messages"),
        Some("/global/block/{block_id}/outbox/{level}/messages")
    );
    assert_eq!(
        spec.template_of("/local/batcher/queue"),
        Some("/local/batcher/queue")
    );
}

#[test]
fn monitor_blocks_streams_blocks_of_the_reference_shape() {
    use std::io::BufRead;
    let spec = Spec::load();
    let port = serve();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .get(&format!("http://127.0.0.1:{port}/global/monitor_blocks"))
        .call()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let mut reader = std::io::BufReader::new(r.body_mut().as_reader());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let first: Value = serde_json::from_str(&line).expect("one JSON block per line");
    // The first block is the current head.
    assert_eq!(first["level"], json!(3), "{first}");
    assert_eq!(
        first["block_hash"],
        json!(BlockHash::new([3; 32]).to_b58check())
    );
    let errs = spec.validate(
        spec.response_schema("/global/monitor_blocks", "get"),
        &first,
    );
    assert!(errs.is_empty(), "{first}: {errs:#?}");
    // The finalized blocks stream starts with the finalized block.
    let mut f = agent
        .get(&format!(
            "http://127.0.0.1:{port}/global/monitor_finalized_blocks"
        ))
        .call()
        .unwrap();
    let mut freader = std::io::BufReader::new(f.body_mut().as_reader());
    let mut fline = String::new();
    freader.read_line(&mut fline).unwrap();
    let finalized: Value = serde_json::from_str(&fline).unwrap();
    assert_eq!(finalized["level"], json!(1), "{finalized}");
    let errs = spec.validate(
        spec.response_schema("/global/monitor_finalized_blocks", "get"),
        &finalized,
    );
    assert!(errs.is_empty(), "{finalized}: {errs:#?}");
    drop(freader);
    drop(f);
    // The open stream does not block other requests; dropping it disconnects cleanly.
    assert_eq!(get(port, "/health").0, 200);
    drop(reader);
    drop(r);
    assert_eq!(get(port, "/global/tezos_level"), (200, json!(3)));
}
