//! End to end, the operator modes (issue 10): a real sandbox with the test constants
//! (commitment period 5, challenge window 10), a rollup of the recorder kernel, and the node in
//! maintenance, bailout, accuser or operator mode with keys from a client wallet. The node stakes,
//! publishes, cements, recovers its bond and batches messages by itself; the tests only bake.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use test_support::{RollupNode, Sandbox, bootstrap_key};
use tezos_types::operation::OperationContent;
use tezos_types::{Contract, Mutez, SecretKey};

/// Bound of each wait (a guard against hangs, never a performance assertion).
pub(super) const BOUND: Duration = Duration::from_secs(240);

pub(super) struct Net {
    pub(super) dir: tempfile::TempDir,
    pub(super) sb: Sandbox,
    pub(super) addr: String,
    pub(super) orig: i64,
    wallet: PathBuf,
}

/// A sandbox with a rollup of the recorder kernel and a client wallet holding `keys`.
fn net(keys: &[(&str, SecretKey)]) -> Net {
    net_with(keys, None)
}

/// [`net`] with a private rollup when `whitelist` is `Some`.
fn net_with(keys: &[(&str, SecretKey)], whitelist: Option<Vec<tezos_types::PublicKeyHash>>) -> Net {
    net_full(keys, whitelist, None)
}

/// [`net_with`] on a sandbox whose test constants are overridden by `constants` (a JSON
/// object, `--constants`).
pub(super) fn net_full(
    keys: &[(&str, SecretKey)],
    whitelist: Option<Vec<tezos_types::PublicKeyHash>>,
    constants: Option<Value>,
) -> Net {
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    net_kernel(keys, whitelist, constants, &kernel)
}

/// [`net_full`] with a rollup of `kernel` rather than the recorder's.
pub(super) fn net_kernel(
    keys: &[(&str, SecretKey)],
    whitelist: Option<Vec<tezos_types::PublicKeyHash>>,
    constants: Option<Value>,
    kernel: &[u8],
) -> Net {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Sandbox::builder(&dir.path().join("sandbox"));
    if let Some(c) = constants {
        let path = dir.path().join("constants.json");
        std::fs::write(&path, c.to_string()).unwrap();
        b = b.args(["--constants".to_owned(), path.display().to_string()]);
    }
    let sb = b.start().unwrap();
    let addr = sb.originate_wasm_private(kernel, whitelist);
    let orig = sb.level();
    let wallet = dir.path().join("wallet");
    std::fs::create_dir_all(&wallet).unwrap();
    let w = signer::wallet::Wallet::new(&wallet);
    for (alias, sk) in keys {
        w.add_key(alias, sk, false).unwrap();
    }
    Net {
        dir,
        sb,
        addr,
        orig,
        wallet,
    }
}

impl Net {
    /// `smart-rollup-node -d <wallet> init <mode> config for <rollup> with operators <ops>`.
    pub(super) fn init(&self, node_dir: &Path, mode: &str, operators: &[&str]) {
        self.init_with(node_dir, mode, operators, &[]);
    }

    /// [`Self::init`] with more options (`--force` to convert a data directory).
    pub(super) fn init_with(
        &self,
        node_dir: &Path,
        mode: &str,
        operators: &[&str],
        extra: &[&str],
    ) {
        std::fs::create_dir_all(node_dir).unwrap();
        let o = super::bin()
            .arg("-d")
            .arg(&self.wallet)
            .args([
                "init",
                mode,
                "config",
                "for",
                &self.addr,
                "with",
                "operators",
            ])
            .args(operators)
            .arg("--data-dir")
            .arg(node_dir)
            .args(extra)
            .output()
            .unwrap();
        let (out, err) = super::text(&o);
        assert!(o.status.success(), "init {mode}: {out}{err}");
    }

    pub(super) fn start(&self, node_dir: &Path) -> RollupNode {
        self.start_with(node_dir, &[])
    }

    /// [`Self::start`] with more `run` options.
    pub(super) fn start_with(&self, node_dir: &Path, args: &[&str]) -> RollupNode {
        // The wallet through `TEZOS_CLIENT_DIR` (the harness puts `run`'s options after the
        // command; `-d` is a global option, tested by `init`).
        super::node(node_dir, self.sb.endpoint())
            .args(args)
            .env("TEZOS_CLIENT_DIR", &self.wallet.display().to_string())
            .log_file(node_dir.join("test-node.log"))
            .start()
            .unwrap()
    }

    /// Runs the node on `node_dir` until it exits by itself (a refused start): its exit code
    /// and output.
    fn run_to_exit(&self, node_dir: &Path) -> (Option<i32>, String) {
        // Output to a file and a bounded wait: a node that wrongly keeps running fails the
        // test instead of hanging it.
        let log = node_dir.join("run-to-exit.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut child = super::bin()
            .env("TEZOS_CLIENT_DIR", &self.wallet)
            .args(["-E", self.sb.endpoint(), "run", "--data-dir"])
            .arg(node_dir)
            .args([
                "--rpc-port",
                &test_support::free_port().unwrap().to_string(),
            ])
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap();
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > BOUND {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the node did not exit within {BOUND:?}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        };
        (
            status.code(),
            std::fs::read_to_string(&log).unwrap_or_default(),
        )
    }

    /// Launches a socket signer holding `sk` and records it in the client wallet as `alias`, a
    /// `tcp://` remote key: every operation of that key is signed by the signer.
    fn remote_key(&self, alias: &str, sk: &SecretKey) -> test_support::SignerProcess {
        let pkh = sk.public_key_hash();
        let signer_dir = self.dir.path().join(format!("signer-{alias}"));
        std::fs::create_dir_all(&signer_dir).unwrap();
        signer::wallet::Wallet::new(&signer_dir)
            .add_key(alias, sk, false)
            .unwrap();
        let port = test_support::free_port().unwrap().to_string();
        let signer = test_support::SignerProcess::launch(
            None,
            &signer_dir,
            &["launch", "socket", "signer", "-a", "127.0.0.1", "-p", &port],
        )
        .unwrap();
        signer::wallet::Wallet::new(&self.wallet)
            .add_remote_key(
                alias,
                &format!("tcp://127.0.0.1:{port}/{pkh}"),
                &pkh,
                Some(&sk.public_key()),
                false,
            )
            .unwrap();
        signer
    }

    /// `smart-rollup-client -d <wallet> -E <sandbox> -w none <args>`: success and output.
    fn client(&self, args: &[&str]) -> (bool, String) {
        let o = std::process::Command::new(test_support::binary("smart-rollup-client").unwrap())
            .arg("-d")
            .arg(&self.wallet)
            .args(["-E", self.sb.endpoint(), "-w", "none"])
            .args(args)
            .output()
            .unwrap();
        let (out, err) = super::text(&o);
        (o.status.success(), format!("{out}{err}"))
    }

    /// The L1's last cemented commitment level.
    pub(super) fn lcc_level(&self) -> i64 {
        self.sb.get(&format!(
            "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{}/last_cemented_commitment_hash_with_level",
            self.addr
        ))["level"]
            .as_i64()
            .unwrap()
    }

    /// Whether a `smart_rollup_publish` of `pkh` waits in the mempool.
    pub(super) fn mempool_publish(&self, pkh: &str) -> bool {
        let m = self.sb.get("/chains/main/mempool/pending_operations");
        m["validated"].as_array().into_iter().flatten().any(|op| {
            op["contents"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["kind"] == "smart_rollup_publish" && c["source"] == json!(pkh))
        })
    }

    /// Whether `pkh` is staked on a commitment newer than the LCC.
    pub(super) fn staked(&self, pkh: &str) -> bool {
        let (s, v) = self.staked_on(pkh);
        s == 200 && v.get("hash").is_some()
    }

    /// What `pkh` is staked on (`null` when on nothing newer than the LCC), or the error.
    pub(super) fn staked_on(&self, pkh: &str) -> (u16, Value) {
        self.sb.get_status(&format!(
            "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{}/staker/{pkh}/staked_on_commitment",
            self.addr
        ))
    }

    /// Bakes a block every 300 ms (the node injects between blocks) until `done`.
    pub(super) fn bake_until(
        &self,
        what: &str,
        node: &mut RollupNode,
        mut done: impl FnMut(&Net, &RollupNode) -> bool,
    ) {
        let start = Instant::now();
        while !done(self, node) {
            if start.elapsed() > BOUND {
                panic!(
                    "{what}: not reached after {BOUND:?} (L1 level {}); the node's output:\n{}",
                    self.sb.level(),
                    node.output()
                );
            }
            if let Err(e) = node.check_running() {
                panic!("{what}: the node stopped: {e}; output:\n{}", node.output());
            }
            self.sb.bake();
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Applied publications of rollup commitments in the L1 blocks, by source: (source, inbox
    /// level, status).
    pub(super) fn publications(&self) -> Vec<(String, i64, String)> {
        let mut out = vec![];
        for l in self.orig..=self.sb.level() {
            let ops = self
                .sb
                .get(&format!("/chains/main/blocks/{l}/operations/3"));
            for op in ops.as_array().into_iter().flatten() {
                for c in op["contents"].as_array().into_iter().flatten() {
                    if c["kind"] == "smart_rollup_publish" {
                        out.push((
                            c["source"].as_str().unwrap_or_default().to_string(),
                            c["commitment"]["inbox_level"].as_i64().unwrap_or(-1),
                            c["metadata"]["operation_result"]["status"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// Maintenance mode stakes, publishes every period and cements: the L1's LCC advances with no
/// client involved; an observer following the same rollup stores the same commitments; a
/// kill -9 and restart in the middle neither loses nor duplicates a publication.
#[test]
fn maintenance_publishes_and_cements() {
    let op = bootstrap_key(3);
    let pkh = op.public_key_hash().to_b58check();
    let n = net(&[("operator", op)]);
    let node_dir = n.dir.path().join("node");
    let mport = test_support::free_port().unwrap();
    let maddr = format!("127.0.0.1:{mport}");
    n.init_with(
        &node_dir,
        "maintenance",
        &["operator"],
        &["--metrics-addr", &maddr],
    );
    let cfg: Value =
        serde_json::from_slice(&std::fs::read(node_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["mode"], "maintenance", "{cfg}");
    let obs_dir = n.dir.path().join("observer");
    super::init_config(&obs_dir, &n.addr);
    let mut node = n.start(&node_dir);
    let mut observer = n.start(&obs_dir);
    n.sb.send_messages(&[b"one"]);
    // The first commitment (orig + 5) is injected once final: kill -9 the node while its
    // operation waits in the mempool, let a block include it, restart.
    n.bake_until("first publication in the mempool", &mut node, |n, _| {
        n.mempool_publish(&pkh)
    });
    node.kill();
    n.sb.bake();
    node.restart().unwrap();
    n.bake_until("first publication", &mut node, |n, _| n.staked(&pkh));
    node.wait_synced(&n.sb, BOUND).unwrap();
    let lpc = node.get("/local/last_published_commitment");
    assert_eq!(lpc["commitment"]["inbox_level"], json!(n.orig + 5), "{lpc}");
    // Cementation by the node itself: the LCC passes the first two periods.
    n.bake_until("cementation", &mut node, |n, _| {
        n.lcc_level() >= n.orig + 10
    });
    // Every publication of the operator applied, one per inbox level.
    let pubs: Vec<_> = n
        .publications()
        .into_iter()
        .filter(|(s, _, _)| *s == pkh)
        .collect();
    assert!(!pubs.is_empty());
    for (_, level, status) in &pubs {
        assert_eq!(status, "applied", "{pubs:?}");
        assert_eq!(
            pubs.iter().filter(|(_, l, _)| l == level).count(),
            1,
            "published twice: {pubs:?}"
        );
    }
    // The observer agrees with every commitment the operator published.
    observer.wait_synced(&n.sb, BOUND).unwrap();
    node.wait_synced(&n.sb, BOUND).unwrap();
    let lpc = node.get("/local/last_published_commitment");
    let hash = lpc["hash"].as_str().unwrap();
    let seen = observer.get(&format!("/local/commitments/{hash}"));
    assert_eq!(seen["commitment"], lpc["commitment"], "{seen}");
    // The injector is idle once everything is included.
    let total = node.get("/admin/injector/queues/total");
    assert!(total["total"].is_number(), "{total}");
    // Metrics: LPC, LCC, what was included since the restart, the injector's queues.
    let (st, text) = super::rpc::get_text(&format!("http://{maddr}/metrics")).unwrap();
    assert_eq!(st, 200, "{text}");
    let m = |name: &str| super::rpc::metric(&text, name).unwrap_or(-1.0);
    assert_eq!(
        m("octez_sc_rollup_node_lpc_level_local"),
        lpc["commitment"]["inbox_level"].as_f64().unwrap(),
        "{text}"
    );
    assert!(
        m("octez_sc_rollup_node_lcc_level_local") >= (n.orig + 10) as f64,
        "{text}"
    );
    assert!(
        m("octez_sc_rollup_node_commitments_published_total") >= 1.0,
        "{text}"
    );
    assert!(
        m("octez_sc_rollup_node_commitments_cemented_total") >= 1.0,
        "{text}"
    );
    assert_eq!(m("octez_sc_rollup_node_number_of_conflicts"), 0.0, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("octez_injector_queue_size{tags=\"") && l.contains("publish")),
        "{text}"
    );
    assert!(text.contains("octez_injector_included_size{"), "{text}");
}

/// A private rollup: an operator outside the whitelist is refused at start with Octez's
/// message (exit 1); a whitelisted one stakes and publishes (tezt "Rollup node publishes
/// commitment if the operator is in the whitelist / fails to start if not").
#[test]
fn private_rollup_whitelist_binds_the_operator() {
    let inside = bootstrap_key(3);
    let n = net_with(
        &[("inside", inside.clone()), ("outside", bootstrap_key(2))],
        Some(vec![inside.public_key_hash()]),
    );
    let refused = n.dir.path().join("refused");
    n.init(&refused, "maintenance", &["outside"]);
    let (code, out) = n.run_to_exit(&refused);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("The operator is not in the whitelist"),
        "{out}"
    );
    let node_dir = n.dir.path().join("node");
    n.init(&node_dir, "maintenance", &["inside"]);
    let mut node = n.start(&node_dir);
    let pkh = inside.public_key_hash().to_b58check();
    n.bake_until("whitelisted publication", &mut node, |n, _| n.staked(&pkh));
}

/// A key with 5 000 tez cannot stake: Octez's message, exit 1.
#[test]
fn maintenance_refuses_an_operator_without_the_stake() {
    let poor = SecretKey::from_seed(tezos_types::Curve::Ed25519, &[42; 32]).unwrap();
    let poor_pkh = poor.public_key_hash();
    let n = net(&[("poor", poor)]);
    n.sb.inject(
        &bootstrap_key(1),
        vec![OperationContent::Transaction {
            amount: Mutez(5_000_000_000),
            destination: Contract::Implicit(poor_pkh),
            parameters: None,
        }],
    );
    n.sb.bake();
    let node_dir = n.dir.path().join("node");
    n.init(&node_dir, "maintenance", &["poor"]);
    let (code, out) = n.run_to_exit(&node_dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains(&format!(
            "Operator {poor_pkh} only has 5000.000000 tz but needs more than 10000 in order to stake on the rollup."
        )),
        "{out}"
    );
}

/// Bailout: a staker's node cements what it published, recovers the bond and exits 0, its key
/// in a remote signer; a key that never staked is refused with Octez's message.
#[test]
fn bailout_recovers_the_bond_and_exits() {
    let op = bootstrap_key(3);
    let pkh = op.public_key_hash();
    let n = net(&[("other", bootstrap_key(5))]);
    // The operator's key lives in a remote signer: bailout signs its cementations and the
    // recovery through it.
    let signer = n.remote_key("operator", &op);
    let node_dir = n.dir.path().join("node");
    n.init(&node_dir, "maintenance", &["operator"]);
    let mut node = n.start(&node_dir);
    n.bake_until("first publication", &mut node, |n, _| {
        n.staked(&pkh.to_b58check())
    });
    node.terminate(Duration::from_secs(30)).unwrap();
    let balance_staked = n.sb.balance(&pkh);
    // The same data directory, now in bailout mode.
    n.init_with(
        &node_dir,
        "bailout",
        &[
            "operating:operator",
            "cementing:operator",
            "recovering:operator",
        ],
        &["--force"],
    );
    let mut bail = n.start(&node_dir);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = bail.try_wait() {
            break s;
        }
        assert!(
            start.elapsed() < BOUND,
            "bailout did not exit:\n{}",
            bail.output()
        );
        n.sb.bake();
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(status.code(), Some(0), "{}", bail.output());
    assert!(
        bail.output().contains("Exit bailout mode"),
        "{}",
        bail.output()
    );
    assert!(
        signer.output().contains(": accepted"),
        "{}",
        signer.output()
    );
    // The bond is back: 10 000 tez more than while staked, less fees.
    assert!(n.sb.balance(&pkh) > balance_staked + 9_999_000_000);
    assert_eq!(n.staked_on(&pkh.to_b58check()).0, 500);
    // A key that never staked.
    let other_dir = n.dir.path().join("other");
    n.init(
        &other_dir,
        "bailout",
        &["operating:other", "cementing:other", "recovering:other"],
    );
    let (code, out) = n.run_to_exit(&other_dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("This implicit account is not a staker of this smart rollup."),
        "{out}"
    );
}

/// A rival commitment for a level the node committed is reported as a conflict.
#[test]
fn a_rival_commitment_is_reported() {
    let op = bootstrap_key(3);
    let n = net(&[("operator", op)]);
    let node_dir = n.dir.path().join("node");
    let maddr = format!("127.0.0.1:{}", test_support::free_port().unwrap());
    n.init_with(
        &node_dir,
        "accuser",
        &["operator"],
        &["--metrics-addr", &maddr],
    );
    let mut node = n.start(&node_dir);
    for _ in 0..7 {
        n.sb.bake();
    }
    node.wait_synced(&n.sb, BOUND).unwrap();
    let ours = node.get(&format!("/global/block/{}", n.orig + 5));
    let hash = ours["commitment_hash"].as_str().unwrap().to_string();
    let local = node.get(&format!("/local/commitments/{hash}"));
    let mut rival: tezos_types::Commitment =
        serde_json::from_value(local["commitment"].clone()).unwrap();
    rival.compressed_state = tezos_types::StateHash([7; 32]);
    n.sb.publish(&bootstrap_key(2), &n.addr, rival);
    // The accuser answers with its own commitment for that level.
    n.bake_until("accuser publication", &mut node, |n, _| {
        n.publications().iter().any(|(s, l, st)| {
            *s == bootstrap_key(3).public_key_hash().to_b58check()
                && *l == n.orig + 5
                && st == "applied"
        })
    });
    assert!(
        node.output().contains("Potential conflict detected"),
        "{}",
        node.output()
    );
    let (_, text) = super::rpc::get_text(&format!("http://{maddr}/metrics")).unwrap();
    assert_eq!(
        super::rpc::metric(&text, "octez_sc_rollup_node_number_of_conflicts"),
        Some(1.0),
        "{text}"
    );
}

/// Operator mode batches messages given to `/local/batcher/injection` into the inbox.
#[test]
fn batcher_messages_reach_the_inbox() {
    let op = bootstrap_key(3);
    let n = net(&[("operator", op)]);
    let node_dir = n.dir.path().join("node");
    n.init(&node_dir, "operator", &["operator"]);
    let mut node = n.start(&node_dir);
    n.sb.bake();
    node.wait_synced(&n.sb, BOUND).unwrap();
    let (s, ids) = node.post(
        "/local/batcher/injection",
        &json!([hex::encode(b"batched-1"), hex::encode(b"batched-2")]),
    );
    assert_eq!(s, 200, "{ids}");
    assert_eq!(ids.as_array().map(Vec::len), Some(2), "{ids}");
    n.bake_until("batched messages in the inbox", &mut node, |_, node| {
        node.durable("head", "/last") == json!(hex::encode(b"batched-2"))
    });
    let id = ids[0].as_str().unwrap();
    let st = node.get(&format!("/local/batcher/queue/{id}"));
    assert!(
        matches!(st["status"].as_str(), Some("included" | "committed")),
        "{st}"
    );
}

fn wait_exit(node: &mut RollupNode) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = node.try_wait() {
            return s;
        }
        assert!(
            start.elapsed() < BOUND,
            "the node did not exit:\n{}",
            node.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A cemented commitment that differs from the node's is fatal (Octez
/// `Disagree_with_cemented`), for an observer too.
#[test]
fn a_cemented_commitment_the_node_disagrees_with_is_fatal() {
    let n = net(&[]);
    let node_dir = n.dir.path().join("observer");
    super::init_config(&node_dir, &n.addr);
    let mut node = n.start(&node_dir);
    for _ in 0..6 {
        n.sb.bake();
    }
    node.wait_synced(&n.sb, BOUND).unwrap();
    let ours = node.get(&format!("/global/block/{}", n.orig + 5));
    let hash = ours["commitment_hash"].as_str().unwrap().to_string();
    let local = node.get(&format!("/local/commitments/{hash}"));
    let mut wrong: tezos_types::Commitment =
        serde_json::from_value(local["commitment"].clone()).unwrap();
    wrong.compressed_state = tezos_types::StateHash([9; 32]);
    n.sb.publish(&bootstrap_key(2), &n.addr, wrong);
    for _ in 0..11 {
        n.sb.bake();
    }
    n.sb.cement(&bootstrap_key(2), &n.addr);
    let status = wait_exit(&mut node);
    assert_eq!(status.code(), Some(1), "{}", node.output());
    let out = node.output();
    assert!(
        out.contains("Disagree with cemented commitment")
            && out.contains(&wrong.hash().to_b58check()),
        "{out}"
    );
}

/// Maintenance with the operator key in a remote signer (`tcp://` key in the client wallet):
/// the node stakes and cements through the signer; a killed signer degrades the operator
/// (errors logged, the node keeps following), a restarted one lets it go on.
#[test]
fn maintenance_signs_through_a_remote_signer() {
    let op = bootstrap_key(3);
    let pkh = op.public_key_hash();
    let n = net(&[]);
    let mut signer = n.remote_key("operator", &op);
    let node_dir = n.dir.path().join("node");
    n.init(&node_dir, "maintenance", &["operator"]);
    let mut node = n.start(&node_dir);
    n.bake_until("first publication through the signer", &mut node, |n, _| {
        n.staked(&pkh.to_b58check())
    });
    // The signer goes away for a few blocks: the node keeps running.
    signer.kill();
    for _ in 0..6 {
        n.sb.bake();
        std::thread::sleep(Duration::from_millis(300));
    }
    node.check_running().unwrap();
    signer.restart().unwrap();
    n.bake_until("cementation after the signer is back", &mut node, |n, _| {
        n.lcc_level() >= n.orig + 10
    });
    assert!(signer.output().contains("accepted"), "{}", signer.output());

    // The node stops; the operator's client takes over with the same `tcp://` key (the seed's
    // last step): it cements until nothing the operator staked on is left uncemented, then
    // recovers the bond, every operation signed by the signer.
    node.terminate(Duration::from_secs(30)).unwrap();
    let balance_staked = n.sb.balance(&pkh);
    let signed_by_node = signer.output().matches(": accepted").count();
    let pkh_s = pkh.to_b58check();
    let start = Instant::now();
    while n.staked_on(&pkh_s).1 != Value::Null {
        assert!(
            start.elapsed() < BOUND,
            "cementation by the client: {:?}",
            n.staked_on(&pkh_s)
        );
        // Refused while the next commitment is too recent: only the final state matters.
        let _ = n.client(&[
            "cement",
            "commitment",
            "from",
            "operator",
            "for",
            "smart",
            "rollup",
            &n.addr,
        ]);
        n.sb.bake();
    }
    let (ok, out) = n.client(&[
        "recover", "bond", "of", &pkh_s, "for", "smart", "rollup", &n.addr, "from", "operator",
    ]);
    assert!(ok, "{out}");
    n.sb.bake();
    assert!(n.sb.balance(&pkh) > balance_staked + 9_999_000_000);
    assert_eq!(n.staked_on(&pkh_s).0, 500);
    // The recovery at least went through the signer (its log is read by another thread).
    test_support::wait_until("the signer's log of the recovery", BOUND, || {
        signer.output().matches(": accepted").count() > signed_by_node
    })
    .unwrap_or_else(|e| panic!("{e}: {}", signer.output()));
}

/// A reorganisation that drops the block with the node's publication: the injector sees its
/// operation leave the chain and injects it again; no commitment is published twice.
#[test]
fn a_publication_lost_in_a_reorg_is_injected_again() {
    let op = bootstrap_key(3);
    let pkh = op.public_key_hash().to_b58check();
    let n = net(&[("operator", op)]);
    let node_dir = n.dir.path().join("node");
    n.init(&node_dir, "maintenance", &["operator"]);
    let mut node = n.start(&node_dir);
    n.bake_until("first publication", &mut node, |n, _| n.staked(&pkh));
    // The publication is in the head block: a reorganisation of depth 2 drops it, and the
    // new branch's blocks do not carry it.
    let (s, v) = n.sb.post(
        "/sandbox/reorg",
        &json!({"depth": 2, "drop_operations": true}),
    );
    assert_eq!(s, 200, "{v}");
    assert!(!n.staked(&pkh), "the stake left with the block");
    assert!(
        !n.mempool_publish(&pkh),
        "the publication left with the block"
    );
    n.bake_until("publication injected again", &mut node, |n, _| {
        n.staked(&pkh)
    });
    let pubs: Vec<_> = n
        .publications()
        .into_iter()
        .filter(|(s, _, _)| *s == pkh)
        .collect();
    assert_eq!(pubs.len(), 1, "{pubs:?}");
    assert_eq!(pubs[0].2, "applied", "{pubs:?}");
}

/// Unsafe PVM patches (`unsafe-pvm-patches`, Octez `apply_unsafe_patches`): applied to the
/// genesis state of a private rollup with `--apply-unsafe-patches`, the genesis commitment
/// still the unpatched state's (the node checks it against L1's); refused without the flag,
/// and for a public rollup, with Octez's messages.
#[test]
fn unsafe_patches_apply_to_the_genesis_state_of_a_private_rollup() {
    let op = bootstrap_key(3);
    let patch = json!([
        {"patch_durable_storage": {"key": "/patched", "value": "c0ffee"}},
        {"increase_max_nb_tick": "60000000000000"}
    ]);
    let with_patches = |n: &Net, dir: &Path| {
        n.init(dir, "observer", &[]);
        let path = dir.join("config.json");
        let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        c["unsafe-pvm-patches"] = patch.clone();
        std::fs::write(&path, c.to_string()).unwrap();
    };
    let private = net_with(&[], Some(vec![op.public_key_hash()]));
    let node_dir = private.dir.path().join("node");
    with_patches(&private, &node_dir);
    // Without the flag: Octez's error, exit 1.
    let (code, out) = private.run_to_exit(&node_dir);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("This rollup requires the application of the following unsafe PVM patches")
            && out.contains("Rewrites value at /patched with c0ffee")
            && out.contains("Increase maximum number of ticks to 60_000_000_000_000")
            && out.contains("--apply-unsafe-patches"),
        "{out}"
    );
    let mut node = super::node(&node_dir, private.sb.endpoint())
        .args(["--apply-unsafe-patches"])
        .log_file(node_dir.join("patched.log"))
        .start()
        .unwrap();
    private.sb.bake();
    node.wait_synced(&private.sb, BOUND).unwrap();
    assert_eq!(node.durable("head", "/patched"), json!("c0ffee"));
    assert!(node.output().contains("Patching genesis PVM state"));
    node.terminate(BOUND).unwrap();

    // A public rollup cannot be patched.
    let public = net(&[]);
    let public_dir = public.dir.path().join("node");
    with_patches(&public, &public_dir);
    let path = public_dir.join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    c["apply-unsafe-patches"] = json!(true);
    std::fs::write(&path, c.to_string()).unwrap();
    let mut cmd = super::bin();
    cmd.args(["-E", public.sb.endpoint(), "run", "--data-dir"])
        .arg(&public_dir)
        .arg("--apply-unsafe-patches");
    let o = cmd.output().unwrap();
    let (so, se) = super::text(&o);
    assert_eq!(o.status.code(), Some(1), "{so}{se}");
    assert!(
        format!("{so}{se}").contains("Unsafe PVM patches can only be applied in private rollups"),
        "{so}{se}"
    );
}
