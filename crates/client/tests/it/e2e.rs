//! End-to-end: the real sandbox on a free loopback port, baking every half second.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::{BOOTSTRAP1_PKH, BOOTSTRAP1_SK, BOOTSTRAP2_SK, client};

/// The sandbox binary (`smart-rollup-sandbox`, built beforehand: `cargo test -p client` does
/// not build other packages' binaries) baking every half second, with its data directory.
struct Sandbox {
    sb: test_support::Sandbox,
    _data: tempfile::TempDir,
}

impl Sandbox {
    fn start() -> Self {
        let data = test_support::temp_dir("client-e2e-sandbox").unwrap();
        let sb = test_support::Sandbox::builder(data.path())
            .block_time(Some("0.5"))
            .start()
            .unwrap();
        Self { sb, _data: data }
    }

    fn get(&self, path: &str) -> Value {
        self.sb.get(path)
    }

    fn balance(&self, pkh: &str) -> u64 {
        self.get(&format!(
            "/chains/main/blocks/head/context/contracts/{pkh}/balance"
        ))
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
    }

    fn run(&self, dir: &Path, args: &[&str]) -> crate::Run {
        client(dir, Some(self.sb.endpoint()), args)
    }

    /// The manager operation `hash` with receipts, searched in all blocks.
    fn find_operation(&self, hash: &str) -> Value {
        let head = self.get("/chains/main/blocks/head/header/shell")["level"]
            .as_i64()
            .unwrap();
        for level in (0..=head).rev() {
            let ops = self.get(&format!("/chains/main/blocks/{level}/operations/3"));
            if let Some(op) = ops
                .as_array()
                .unwrap()
                .iter()
                .find(|o| o["hash"].as_str() == Some(hash))
            {
                return op.clone();
            }
        }
        panic!("operation {hash} not found in any block");
    }
}

fn op_hash(out: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with("Operation hash is '"))
        .unwrap_or_else(|| panic!("no operation hash in:\n{out}"));
    line.trim_start_matches("Operation hash is '")
        .trim_end_matches('\'')
        .to_owned()
}

fn import(sb: &Sandbox, dir: &Path) {
    sb.run(
        dir,
        &["import", "secret", "key", "bootstrap1", BOOTSTRAP1_SK],
    )
    .out();
    sb.run(
        dir,
        &["import", "secret", "key", "bootstrap2", BOOTSTRAP2_SK],
    )
    .out();
}

#[test]
fn transfers_update_balances_and_reveal_new_accounts() {
    let sb = Sandbox::start();
    let d = tempfile::tempdir().unwrap();
    import(&sb, d.path());
    sb.run(d.path(), &["gen", "keys", "alice"]).out();
    let before = sb.balance(BOOTSTRAP1_PKH);
    assert_eq!(
        sb.run(d.path(), &["get", "balance", "for", "bootstrap1"])
            .out(),
        format!("{} ꜩ\n", client::tez::format_tez(before))
    );

    // A new account: allocation burns 257 bytes, so the burn cap is needed.
    let err = sb
        .run(
            d.path(),
            &["transfer", "10", "from", "bootstrap1", "to", "alice"],
        )
        .err();
    assert!(err.contains("--burn-cap 0.06425"), "{err}");
    let out = sb
        .run(
            d.path(),
            &[
                "transfer",
                "10",
                "from",
                "bootstrap1",
                "to",
                "alice",
                "--burn-cap",
                "0.1",
            ],
        )
        .out();
    assert!(
        out.contains("This transaction was successfully applied"),
        "{out}"
    );
    assert!(out.contains("Operation found in block: B"), "{out}");
    assert_eq!(
        sb.run(d.path(), &["get", "balance", "for", "alice"]).out(),
        "10 ꜩ\n"
    );
    let op = sb.find_operation(&op_hash(&out));
    let fees: u64 = op["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fee"].as_str().unwrap().parse::<u64>().unwrap())
        .sum();
    // Bootstrap1 bakes and gets fees back, so only the amount and the burn count.
    let after = sb.balance(BOOTSTRAP1_PKH);
    assert!(fees > 0);
    assert!(
        before - after >= 10_000_000 + 64_250 - fees,
        "{before} {after}"
    );

    // Alice is not revealed: the client batches a reveal with her transfer.
    let out = sb
        .run(
            d.path(),
            &["transfer", "1.5", "from", "alice", "to", "bootstrap1"],
        )
        .out();
    assert!(out.contains("Revelation of manager public key"), "{out}");
    let op = sb.find_operation(&op_hash(&out));
    let kinds: Vec<&str> = op["contents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["reveal", "transaction"]);
    for c in op["contents"].as_array().unwrap() {
        assert_eq!(c["metadata"]["operation_result"]["status"], "applied");
    }
    let alice = sb.run(d.path(), &["get", "balance", "for", "alice"]).out();
    let alice: f64 = alice.trim_end_matches(" ꜩ\n").parse().unwrap();
    assert!(alice < 8.5 && alice > 8.49, "{alice}");

    // A tz4 (BLS) account: its reveal carries a proof of possession.
    sb.run(d.path(), &["gen", "keys", "carol", "--sig", "bls"])
        .out();
    sb.run(
        d.path(),
        &[
            "transfer",
            "5",
            "from",
            "bootstrap1",
            "to",
            "carol",
            "--burn-cap",
            "0.1",
        ],
    )
    .out();
    let out = sb
        .run(d.path(), &["transfer", "1", "from", "carol", "to", "alice"])
        .out();
    assert!(out.contains("Revelation of manager public key"), "{out}");
    let op = sb.find_operation(&op_hash(&out));
    assert!(op["contents"][0]["proof"].is_string(), "{op}");

    // Insufficient balance: reported with the protocol error and a non-zero exit.
    let err = sb
        .run(
            d.path(),
            &["transfer", "1000", "from", "alice", "to", "bootstrap1"],
        )
        .err();
    assert!(err.contains("balance_too_low"), "{err}");
    // An account that never received tez is rejected by the node's validation.
    sb.run(d.path(), &["gen", "keys", "dave"]).out();
    let err = sb
        .run(d.path(), &["transfer", "1", "from", "dave", "to", "alice"])
        .err();
    assert!(
        err.contains("during simulation") && err.contains("empty_implicit_contract"),
        "{err}"
    );
    // Unknown destination alias.
    let err = sb
        .run(d.path(), &["transfer", "1", "from", "alice", "to", "bob"])
        .err();
    assert!(err.contains("bob"), "{err}");
}

#[test]
fn messages_reach_the_block_receipts() {
    let sb = Sandbox::start();
    let d = tempfile::tempdir().unwrap();
    import(&sb, d.path());
    let out = sb
        .run(
            d.path(),
            &[
                "send",
                "smart",
                "rollup",
                "message",
                r#"text:["hello","world"]"#,
                "from",
                "bootstrap2",
            ],
        )
        .out();
    assert!(
        out.contains("This smart rollup messages submission was successfully applied"),
        "{out}"
    );
    let op = sb.find_operation(&op_hash(&out));
    let c = op["contents"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(c["kind"], "smart_rollup_add_messages");
    assert_eq!(
        c["message"],
        serde_json::json!([hex::encode("hello"), hex::encode("world")])
    );
    assert_eq!(c["metadata"]["operation_result"]["status"], "applied");

    let out = sb
        .run(
            d.path(),
            &[
                "send",
                "smart",
                "rollup",
                "message",
                r#"hex:["0a0b"]"#,
                "from",
                "bootstrap2",
            ],
        )
        .out();
    let op = sb.find_operation(&op_hash(&out));
    assert_eq!(op["contents"][0]["message"], serde_json::json!(["0a0b"]));

    let f = d.path().join("msgs.json");
    std::fs::write(&f, r#"["from a file"]"#).unwrap();
    let out = sb
        .run(
            d.path(),
            &[
                "send",
                "smart",
                "rollup",
                "message",
                &format!("file:{}", f.display()),
                "from",
                "bootstrap2",
                "--wait",
                "none",
            ],
        )
        .out();
    assert!(
        out.contains("NOT waiting for the operation to be included."),
        "{out}"
    );
    let hash = op_hash(&out);
    // Not waited for: poll the chain until it is included (bounded).
    test_support::wait_until(
        &format!("{hash} to be included"),
        Duration::from_secs(60),
        || {
            sb.get("/chains/main/blocks/head/operation_hashes/3")
                .as_array()
                .unwrap()
                .iter()
                .any(|h| h.as_str() == Some(&hash))
        },
    )
    .unwrap();
    let op = sb.find_operation(&hash);
    assert_eq!(
        op["contents"][0]["message"],
        serde_json::json!([hex::encode("from a file")])
    );
}

#[test]
fn originate_rollup_records_alias_and_genesis() {
    let sb = Sandbox::start();
    let d = tempfile::tempdir().unwrap();
    import(&sb, d.path());
    // The smallest valid WebAssembly module.
    let kernel = "0061736d01000000";
    let args = super::originate("myrollup", "bootstrap1", kernel);
    let err = sb.run(d.path(), &args).err();
    assert!(err.contains("burn cap"), "{err}");
    let mut with_cap = args.to_vec();
    with_cap.extend(["--burn-cap", "2"]);
    let out = sb.run(d.path(), &with_cap).out();
    let addr = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Address: "))
        .unwrap_or_else(|| panic!("no address in {out}"))
        .to_owned();
    assert!(addr.starts_with("sr1"), "{addr}");
    assert!(
        out.contains(&format!("Smart rollup {addr} memorized as \"myrollup\"")),
        "{out}"
    );
    let genesis = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Genesis commitment hash: "))
        .unwrap()
        .to_owned();
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("smart_rollups")).unwrap())
            .unwrap();
    assert_eq!(
        file,
        serde_json::json!([{"name": "myrollup", "value": addr}])
    );
    let base = format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}");
    let info = sb.get(&format!("{base}/genesis_info"));
    assert_eq!(info["commitment_hash"], genesis.as_str());
    assert!(info["level"].as_i64().unwrap() > 0);
    assert_eq!(sb.get(&format!("{base}/kind")), "wasm_2_0_0");
    assert_eq!(sb.get(&format!("{base}/boot_sector")), kernel);
    // The alias is usable by later commands, and taken.
    let err = sb.run(d.path(), &with_cap).err();
    assert!(err.contains("already exists"), "{err}");
    // Deposit through the sandbox's bridge contract: an internal transfer to the rollup.
    let bridge = sb.get("/sandbox/info")["bridge"]
        .as_str()
        .unwrap()
        .to_owned();
    let arg = format!("Pair \"{addr}\" 0x01020304");
    let out = sb
        .run(
            d.path(),
            &[
                "transfer",
                "3",
                "from",
                "bootstrap2",
                "to",
                &bridge,
                "--entrypoint",
                "deposit",
                "--arg",
                &arg,
            ],
        )
        .out();
    assert!(out.contains("Internal Transaction:"), "{out}");
    let op = sb.find_operation(&op_hash(&out));
    let c = op["contents"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(c["parameters"]["entrypoint"], "deposit");
    let internal = &c["metadata"]["internal_operation_results"][0];
    assert_eq!(internal["destination"], addr.as_str(), "{c}");
    assert_eq!(internal["result"]["status"], "applied");
    assert_eq!(sb.balance(&bridge), 3_000_000);

    // A bond that does not exist cannot be recovered: the protocol error is shown.
    let err = sb
        .run(
            d.path(),
            &[
                "recover",
                "bond",
                "of",
                "bootstrap1",
                "for",
                "smart",
                "rollup",
                "myrollup",
                "from",
                "bootstrap2",
            ],
        )
        .err();
    assert!(err.contains("Error:"), "{err}");
}
