//! A client's mistakes get a 4xx status and a JSON error array, never a 500 or a dropped
//! connection: unknown paths, blocks and chains, wrong methods, arguments, queries and bodies
//! that do not parse.

use serde_json::{Value, json};
use tezos_types::{BlockHash, ChainId};

use super::Node;

/// An answer: status, `Allow` header, `Content-Type` header, JSON body (`Null` if not JSON).
struct Answer {
    status: u16,
    allow: Option<String>,
    content_type: Option<String>,
    body: Value,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(60)))
        .build()
        .into()
}

/// Sends `method path` with an optional raw body and content type.
fn send(n: &Node, method: &str, path: &str, body: Option<(&str, Vec<u8>)>) -> Answer {
    let mut req = ureq::http::Request::builder()
        .method(method)
        .uri(n.url(path));
    let body = match body {
        Some((ct, b)) => {
            req = req.header("content-type", ct);
            b
        }
        None => vec![],
    };
    let mut r = if method == "GET" {
        agent().run(req.body(()).unwrap())
    } else {
        agent().run(req.body(body).unwrap())
    }
    .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (allow, content_type) = (header("allow"), header("content-type"));
    let text = r.body_mut().read_to_string().unwrap_or_default();
    Answer {
        status: r.status().as_u16(),
        allow,
        content_type,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

/// Checks a client-mistake answer: `status`, JSON content type, and the trace Octez's RPC
/// client reports for it (`what`: `not_found`, `bad_path`, `bad_query`, `bad_body`,
/// `method_not_allowed`, `too_large` or `refused`), with a message saying what is wrong.
#[track_caller]
fn expect(a: &Answer, status: u16, what: &str) {
    assert_eq!(a.status, status, "{}", a.body);
    assert_eq!(a.content_type.as_deref(), Some("application/json"));
    let e = &a.body[0];
    let message = |m: &Value| m.as_str().unwrap_or_default().to_owned();
    let (id, msg) = match what {
        "not_found" => {
            assert_eq!(e["kind"], "branch", "{}", a.body);
            assert!(e["uri"].as_str().is_some_and(|u| u.starts_with('/')));
            ("RPC_context.Not_found", message(&a.body[1]["msg"]))
        }
        "refused" => ("sandbox.refused", message(&e["msg"])),
        _ => {
            let (kind, prefix) = match what {
                "bad_path" => ("bad_request", "Failed to parse an argument in path"),
                "bad_query" => ("bad_request", "Failed to parse the query string"),
                "bad_body" => ("bad_request", "Failed to parse the request body"),
                "method_not_allowed" => ("method_not_allowed", ""),
                "too_large" => ("unexpected_status_code", "Request body larger"),
                other => panic!("unknown expectation {other}"),
            };
            assert_eq!(e["error"]["kind"], kind, "{}", a.body);
            let m = message(&e["error"]["message"]) + &message(&e["error"]["content"]);
            assert!(m.starts_with(prefix), "{}", a.body);
            if kind == "method_not_allowed" {
                assert_eq!(e["error"]["allowed"][0], a.allow.as_deref().unwrap_or("?"));
                ("rpc_client.request_failed", "allowed".into())
            } else {
                ("rpc_client.request_failed", m)
            }
        }
    };
    assert_eq!(e["id"], id, "{}", a.body);
    assert!(!msg.is_empty(), "{}", a.body);
}

fn json_body(v: &Value) -> Option<(&'static str, Vec<u8>)> {
    Some(("application/json", v.to_string().into_bytes()))
}

#[test]
fn unknown_paths_blocks_and_chains_are_404_or_400() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    n.bake();
    let get = |p: &str| send(&n, "GET", p, None);
    expect(&get("/nope"), 404, "not_found");
    expect(
        &get("/chains/main/blocks/head/no/such/rpc"),
        404,
        "not_found",
    );
    // Blocks: an id that does not parse is a 400, one that names no block a 404.
    expect(&get("/chains/main/blocks/xyz/hash"), 400, "bad_path");
    expect(&get("/chains/main/blocks/head+1/hash"), 400, "bad_path");
    expect(&get("/chains/main/blocks/99/hash"), 404, "not_found");
    expect(&get("/chains/main/blocks/head~9/hash"), 404, "not_found");
    let unknown = BlockHash([7; 32]).to_b58check();
    expect(
        &get(&format!("/chains/main/blocks/{unknown}/header")),
        404,
        "not_found",
    );
    // Octez's other block ids resolve.
    let head = n.get("/chains/main/blocks/head/hash");
    assert_eq!(
        n.get("/chains/main/blocks/head-1/hash"),
        n.get("/chains/main/blocks/1/hash")
    );
    assert_eq!(n.get("/chains/main/blocks/genesis+2/hash"), head);
    assert_eq!(n.get("/chains/main/blocks/caboose/header")["level"], 0);
    // Chains: `main`, or this chain's id; another id is a 404, a non-id a 400.
    expect(&get("/chains/NetXunknownchainid/chain_id"), 400, "bad_path");
    let other = ChainId::of_block_hash(&BlockHash([1; 32])).to_b58check();
    expect(&get(&format!("/chains/{other}/chain_id")), 404, "not_found");
    expect(&get("/chains/test/chain_id"), 404, "not_found");
    expect(&get(&format!("/monitor/heads/{other}")), 404, "not_found");
    // Passes, operations and contract, rollup and commitment arguments.
    expect(
        &get("/chains/main/blocks/head/operations/7"),
        404,
        "not_found",
    );
    expect(
        &get("/chains/main/blocks/head/operations/x"),
        400,
        "bad_path",
    );
    expect(
        &get("/chains/main/blocks/head/operation_hashes/3/5"),
        404,
        "not_found",
    );
    expect(
        &get("/chains/main/blocks/head/context/contracts/tz1nope/balance"),
        400,
        "bad_path",
    );
    expect(
        &get("/chains/main/blocks/head/context/smart_rollups/smart_rollup/sr1nope/genesis_info"),
        400,
        "bad_path",
    );
    // Queries.
    expect(&get("/chains/main/blocks?length=many"), 400, "bad_query");
    expect(&get("/chains/main/blocks?head=BLnope"), 400, "bad_query");
    expect(
        &get("/chains/main/blocks/head?metadata=sometimes"),
        400,
        "bad_query",
    );
    // An unknown rollup is the protocol's refusal, as on Octez (500, temporary).
    let sr = tezos_types::SmartRollupAddress::hash_bytes(b"nobody").to_b58check();
    let a = get(&format!(
        "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{sr}/genesis_info"
    ));
    assert_eq!(a.status, 500, "{}", a.body);
    assert_eq!(
        a.body[0]["id"],
        "proto.025-PsUshuai.smart_rollup_does_not_exist"
    );
    assert_eq!(a.body[0]["kind"], "temporary");
}

#[test]
fn wrong_methods_are_405_with_allow() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    for (method, path, allowed) in [
        ("POST", "/chains/main/blocks/head/hash", "GET"),
        ("DELETE", "/chains/main/chain_id", "GET"),
        ("GET", "/injection/operation", "POST"),
        (
            "GET",
            "/chains/main/blocks/head/helpers/forge/operations",
            "POST",
        ),
        ("PUT", "/sandbox/bake", "POST"),
        ("POST", "/monitor/heads/main", "GET"),
    ] {
        let a = send(&n, method, path, json_body(&json!({})));
        expect(&a, 405, "method_not_allowed");
        assert_eq!(a.allow.as_deref(), Some(allowed), "{method} {path}");
    }
}

#[test]
fn bodies_that_do_not_parse_are_400() {
    let dir = tempfile::tempdir().unwrap();
    let n = Node::start(dir.path());
    let post =
        |path: &str, ct: &str, body: &[u8]| send(&n, "POST", path, Some((ct, body.to_vec())));
    let inject = "/injection/operation";
    let json = "application/json";
    let bin = "application/octet-stream";
    // Injection: not JSON, not hex, hex that is no operation, a binary length that lies.
    expect(&post(inject, json, b"not json"), 400, "bad_body");
    expect(&post(inject, json, b"\"zz\""), 400, "bad_body");
    expect(&post(inject, json, b"\"00ff\""), 400, "bad_body");
    expect(&post(inject, bin, &[0, 0]), 400, "bad_body");
    expect(&post(inject, bin, &[0, 0, 0, 9, 1, 2]), 400, "bad_body");
    // Helpers.
    let helpers = "/chains/main/blocks/head/helpers";
    for rpc in [
        "forge/operations",
        "parse/operations",
        "scripts/run_operation",
        "scripts/simulate_operation",
        "preapply/operations",
    ] {
        let path = format!("{helpers}/{rpc}");
        expect(&post(&path, json, b"{"), 400, "bad_body");
        expect(&post(&path, json, b"{}"), 400, "bad_body");
    }
    // Sandbox control RPCs.
    expect(&post("/sandbox/bake", json, b"{"), 400, "bad_body");
    expect(
        &post("/sandbox/bake", json, br#"{"count":"3"}"#),
        400,
        "bad_body",
    );
    expect(&post("/sandbox/reorg", json, b"[]"), 400, "bad_body");
    expect(
        &post("/sandbox/reorg", json, br#"{"depth":100}"#),
        400,
        "refused",
    );
    // A body above the limit is refused without being buffered whole.
    let big = vec![b'0'; sandbox::server::MAX_BODY_BYTES + 1];
    expect(&post(inject, json, &big), 413, "too_large");
    // Nothing of the above changed the chain, and the server still answers.
    assert_eq!(n.level(), 1);
    assert!(
        n.get("/chains/main/mempool/pending_operations")["validated"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}
