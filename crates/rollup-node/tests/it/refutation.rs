//! End to end, the refutation game (issue 14; Octez's tezt `sc_rollup.ml` refutation
//! scenarios, `docs/reference/octez-rollup-node.md` §6.4 and §10): the sandbox judges, two
//! nodes in maintenance mode with their own keys follow the same rollup of the recorder
//! kernel. One of them runs with `--loser-mode`: it computes a wrong state at a chosen tick,
//! publishes a commitment the other disagrees with, and the two play the game on L1 until the
//! sandbox slashes the loser. The tests only bake.

use serde_json::json;
use test_support::{RollupNode, bootstrap_key};

use super::operator::{Net, net_kernel};

/// `max_nb_ticks` of the sandbox's WASM rollups: every window is this long.
const WINDOW: u64 = 50_000_000_000_000;

/// The refutation games' timeout period, in blocks. The tests bake a block every 300 ms
/// whatever the nodes do, so a player's clock is wall time spent by a debug build on a shared
/// machine: the honest node of a reveal duel has used up to 82 blocks with three duels at a
/// time and up to 183 with four (`--nocapture` prints the least clock left). A game ends by its
/// final move, not by this period (but for the offline loser's, which sets its own).
const GAME_TIMEOUT: i64 = 500;

/// The inbox level whose evaluation the loser gets wrong: in the second commitment period, so
/// that the two nodes first agree on the commitment of `orig + 5`.
const FAILING_LEVEL: i64 = 7;

struct Duel {
    n: Net,
    honest: RollupNode,
    loser: RollupNode,
    honest_pkh: String,
    loser_pkh: String,
    /// The loser was killed by the test.
    loser_killed: bool,
    /// The honest node is an accuser.
    accuser: bool,
    /// The game's timeout period, in blocks.
    timeout: i64,
}

/// A sandbox (timeout period `timeout` blocks) with an honest node and a node started with
/// `--loser-mode <loser_mode(orig)>`, both staked once they published their first commitment.
fn duel(timeout: i64, loser_mode: impl Fn(i64) -> String) -> Duel {
    duel_with("maintenance", timeout, loser_mode)
}

/// [`duel`] with the honest node in `mode`; an accuser stakes only on a conflict, so only
/// the loser's stake is awaited then.
fn duel_with(mode: &str, timeout: i64, loser_mode: impl Fn(i64) -> String) -> Duel {
    let kernel = wat::parse_str(test_support::kernels::RECORDER_WAT).unwrap();
    duel_on(&kernel, &[], mode, timeout, loser_mode)
}

/// [`duel_with`] on a rollup of `kernel`, both nodes given `preimages` (in their
/// `wasm_2_0_0/`, named by the hex of their reveal hash).
fn duel_on(
    kernel: &[u8],
    preimages: &[&[u8]],
    mode: &str,
    timeout: i64,
    loser_mode: impl Fn(i64) -> String,
) -> Duel {
    let (hk, lk) = (bootstrap_key(3), bootstrap_key(4));
    let honest_pkh = hk.public_key_hash().to_b58check();
    let loser_pkh = lk.public_key_hash().to_b58check();
    let n = net_kernel(
        &[("honest", hk), ("loser", lk)],
        None,
        Some(json!({ "smart_rollup_timeout_period_in_blocks": timeout })),
        kernel,
    );
    let (hdir, ldir) = (n.dir.path().join("honest"), n.dir.path().join("loser"));
    n.init(&hdir, mode, &["honest"]);
    n.init(&ldir, "maintenance", &["loser"]);
    for dir in [&hdir, &ldir] {
        let store = dir.join("wasm_2_0_0");
        std::fs::create_dir_all(&store).unwrap();
        for p in preimages {
            let hash = preimages::RevealHash::of_preimage(p);
            std::fs::write(store.join(hash.to_hex()), p).unwrap();
        }
    }
    let mut honest = n.start(&hdir);
    let failures = loser_mode(n.orig);
    let loser = n.start_with(&ldir, &["--loser-mode", &failures]);
    let accuser = mode == "accuser";
    n.bake_until("both nodes staked", &mut honest, |n, _| {
        (accuser || n.staked(&honest_pkh)) && n.staked(&loser_pkh)
    });
    Duel {
        n,
        honest,
        loser,
        honest_pkh,
        loser_pkh,
        loser_killed: false,
        accuser,
        timeout,
    }
}

impl Duel {
    /// Bakes until a game ends with the loser losing, then checks the honest node kept its
    /// stake and cements the disputed level, and that the loser (if still running) stopped
    /// with `Lost_game`. Returns the honest node's output.
    fn honest_wins(self) -> String {
        self.honest_wins_at(10)
    }

    /// [`Self::honest_wins`] for a dispute on the commitment of `orig + disputed`.
    fn honest_wins_at(self, disputed: i64) -> String {
        self.honest_wins_checking(disputed, |_| ())
    }

    /// [`Self::honest_wins`], then `check` on the network (before it is torn down).
    fn honest_wins_keeping_net(self, check: impl FnOnce(&Net)) -> String {
        self.honest_wins_checking(10, check)
    }

    /// [`Self::honest_wins_at`], then `check` on the network.
    fn honest_wins_checking(mut self, disputed: i64, check: impl FnOnce(&Net)) -> String {
        let mut result = None;
        let mut scanned = self.n.orig;
        // The honest node's `/health` lists the loser's conflicting commitment during the game.
        let mut alarm = None;
        let loser_pkh = json!(self.loser_pkh);
        let (honest_pkh, loser) = (self.honest_pkh.clone(), self.loser_pkh.clone());
        let mut least_clock = self.timeout;
        let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.n
                .bake_until("the end of the game", &mut self.honest, |n, honest| {
                    if alarm.is_none()
                        && let Ok((200, h)) = honest.try_get("/health")
                    {
                        alarm = h["conflicts"]
                            .as_array()
                            .and_then(|c| c.iter().find(|c| c["staker"] == loser_pkh))
                            .cloned();
                    }
                    result = result.take().or_else(|| game_result(n, &mut scanned));
                    if let Some(c) = clock_of(n, &honest_pkh, &loser) {
                        least_clock = least_clock.min(c);
                    }
                    result.is_some()
                });
        }));
        // What the honest node's moves cost of its clock: the margin a slow machine eats.
        eprintln!(
            "the honest node's clock: {least_clock} blocks left at least (timeout period {})",
            self.timeout
        );
        if let Err(e) = done {
            let out = self.loser.output();
            let tail: Vec<&str> = out.lines().rev().take(150).collect();
            eprintln!(
                "the loser's output (last lines, newest first):\n{}",
                tail.join("\n")
            );
            std::panic::resume_unwind(e);
        }
        let result = result.unwrap_or_default();
        if result["player"] != json!(self.loser_pkh) {
            let out = self.honest.output();
            let game: Vec<&str> = out
                .lines()
                .filter(|l| l.contains("efutation") || l.contains("ERROR"))
                .collect();
            let tail: Vec<&str> = out.lines().rev().take(80).collect();
            eprintln!(
                "the honest node's game log:\n{}\nits output (last lines, newest first):\n{}",
                game.join("\n"),
                tail.join("\n")
            );
        }
        assert_eq!(result["kind"], "loser", "{result}");
        assert_eq!(result["player"], json!(self.loser_pkh), "{result}");
        let alarm = alarm.unwrap_or_else(|| panic!("/health never listed the conflict"));
        assert!(
            alarm["theirs"].is_string() && alarm["ours"] != alarm["theirs"],
            "{alarm}"
        );
        // The winner's commitment is cemented by the winner (an accuser does not cement).
        if !self.accuser {
            let level = self.n.orig + disputed;
            self.n.bake_until(
                "the disputed level is cemented",
                &mut self.honest,
                |n, _| n.lcc_level() >= level,
            );
            // Settled by the cementation, once the node has seen it: the alarm is gone.
            self.n.bake_until(
                "the alarm is gone after the cementation",
                &mut self.honest,
                |_, honest| {
                    honest
                        .try_get("/health")
                        .is_ok_and(|(s, h)| s == 200 && h.get("conflicts").is_none())
                },
            );
        }
        assert_eq!(self.n.staked_on(&self.honest_pkh).0, 200);
        let out = self.honest.output();
        assert!(out.contains("Refutation game with"), "{out}");
        // A loser still running sees the receipt of its lost game and stops (`Lost_game`).
        if !self.loser_killed {
            let loser = &mut self.loser;
            self.n
                .bake_until("the loser stops", &mut self.honest, |_, _| {
                    loser.try_wait().is_some()
                });
            let lout = self.loser.output();
            assert!(
                lout.contains("Lost_game") || lout.contains("Disagree with cemented commitment"),
                "{lout}"
            );
        }
        self.loser.kill();
        check(&self.n);
        out
    }
}

/// The result of the first game that ended (`game_status.result` of an applied
/// `smart_rollup_refute` or `smart_rollup_timeout`), scanning the blocks after `scanned`.
fn game_result(n: &Net, scanned: &mut i64) -> Option<serde_json::Value> {
    let head = n.sb.level();
    while *scanned < head {
        *scanned += 1;
        let ops =
            n.sb.get(&format!("/chains/main/blocks/{scanned}/operations/3"));
        for op in ops.as_array().into_iter().flatten() {
            for c in op["contents"].as_array().into_iter().flatten() {
                let r = &c["metadata"]["operation_result"];
                if matches!(
                    c["kind"].as_str(),
                    Some("smart_rollup_refute" | "smart_rollup_timeout")
                ) && r["status"] == "applied"
                    && r["game_status"]["result"].is_object()
                {
                    return Some(r["game_status"]["result"].clone());
                }
            }
        }
    }
    None
}

/// The clock of `player` in its game against `other` (blocks left, as recorded at its last
/// move: `…/staker1/<a>/staker2/<b>/timeout`), if a game is on.
fn clock_of(n: &Net, player: &str, other: &str) -> Option<i64> {
    let path = format!(
        "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{}/staker1/{player}/staker2/{other}/timeout",
        n.addr
    );
    let (200, t) = n.sb.get_status(&path) else {
        return None;
    };
    // `alice` is the smaller key hash of the two (`Index::new`); both are tz1 here, whose
    // b58check order is their bytes' order.
    let who = if player < other { "alice" } else { "bob" };
    t[who].as_i64()
}

/// The tick of the final move, from the honest node's log.
fn final_move(out: &str) -> String {
    out.lines()
        .find(|l| l.contains("final move at tick"))
        .unwrap_or_else(|| panic!("no final move in the honest node's log:\n{out}"))
        .to_owned()
}

/// A wrong state right after the input tick of message 1 (`Info_per_level`) of a level: the
/// final move proves the input tick, with an inbox proof of the message.
#[test]
fn an_honest_node_wins_on_an_input_tick() {
    let d = duel(GAME_TIMEOUT, |orig| format!("{} 1 1", orig + FAILING_LEVEL));
    let out = d.honest_wins();
    let line = final_move(&out);
    assert!(line.contains("a collect tick, "), "{line}");
    assert!(line.contains("with an inbox proof"), "{line}");
}

/// A wrong state once the level's evaluation is over: the final move proves the last tick of
/// the kernel's window (padding to the window's end).
#[test]
fn an_honest_node_wins_on_the_window_end() {
    let d = duel(GAME_TIMEOUT, |orig| {
        format!("{} 2 1000000000000000", orig + FAILING_LEVEL)
    });
    let out = d.honest_wins();
    let line = final_move(&out);
    assert!(line.contains("padding"), "{line}");
}

/// A wrong state `x` ticks after the `Snapshot` that starts the kernel's run of the failing
/// level: the final move proves the tick from `x - 1`, whose state has tag `tag`.
fn honest_wins_at_kernel_tick(x: u64, tag: &str) {
    // The `End_of_level` input is at tick S, its collect window ends at S + WINDOW - 2 with the
    // `Snapshot`; `WINDOW - 2 + x` is `x` ticks after it.
    let d = duel(GAME_TIMEOUT, |orig| {
        format!("{} 2 {}", orig + FAILING_LEVEL, WINDOW - 2 + x)
    });
    let out = d.honest_wins();
    let line = final_move(&out);
    assert!(line.contains(&format!("a {tag} tick")), "{line}");
}

// The recorder kernel's run, tick by tick from the `Snapshot` (`smart-rollup-wasm-debugger`,
// `step tick` and `show status`): decoding to tick 529, linking to 534, initialisation to
// 1941, evaluation to about 5600, then padding.

/// The decoding of the kernel.
#[test]
fn an_honest_node_wins_on_a_decoding_tick() {
    honest_wins_at_kernel_tick(5, "decode");
}

/// The linking of the kernel's imports.
#[test]
fn an_honest_node_wins_on_a_linking_tick() {
    honest_wins_at_kernel_tick(532, "link");
}

/// The initialisation of the module (data segments, memory).
#[test]
fn an_honest_node_wins_on_an_initialisation_tick() {
    honest_wins_at_kernel_tick(700, "init");
}

/// The evaluation of `kernel_run`.
#[test]
fn an_honest_node_wins_on_an_evaluation_tick() {
    honest_wins_at_kernel_tick(2500, "eval");
}

/// A host function: the kernel's `store_write` of `/count` (the tick after which `/count`
/// exists in a first run, found with the debugger's `step tick` and `show key /count`).
#[test]
fn an_honest_node_wins_on_a_host_call() {
    honest_wins_at_kernel_tick(4572, "eval");
}

/// The pre-image the reveal kernel asks for (in both nodes' `wasm_2_0_0/`).
const PREIMAGE: &[u8] = b"a pre-image revealed in a refutation game";

/// The reveal a [`reveal_kernel`] run makes first.
#[derive(Clone, Copy)]
enum FirstReveal {
    Preimage,
    Metadata,
    DalParameters,
}

/// A kernel whose every run reveals [`PREIMAGE`] (`reveal_preimage`) into `/preimage`, the
/// rollup's metadata (`reveal_metadata`) into `/metadata` and the DAL parameters (`reveal` of
/// `03`) into `/dal`, `first` first, then reads its inputs.
fn reveal_kernel(first: FirstReveal) -> Vec<u8> {
    let hash: String = preimages::RevealHash::of_preimage(PREIMAGE)
        .as_bytes()
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect();
    let preimage = "    (local.set $n (call $reveal_preimage (i32.const 48) (i32.const 33) \
                    (i32.const 256) (i32.const 512)))
    (drop (call $store_write (i32.const 16) (i32.const 9) (i32.const 0) (i32.const 256) \
           (local.get $n)))
";
    let metadata = "    (local.set $n (call $reveal_metadata (i32.const 128) (i32.const 24)))
    (drop (call $store_write (i32.const 32) (i32.const 9) (i32.const 0) (i32.const 128) \
           (local.get $n)))
";
    let dal = "    (local.set $n (call $reveal (i32.const 96) (i32.const 1) (i32.const 800) \
                    (i32.const 64)))
    (drop (call $store_write (i32.const 100) (i32.const 4) (i32.const 0) (i32.const 800) \
           (local.get $n)))
";
    let reveals = match first {
        FirstReveal::Preimage => [preimage, metadata, dal],
        FirstReveal::Metadata => [metadata, preimage, dal],
        FirstReveal::DalParameters => [dal, preimage, metadata],
    }
    .concat();
    let wat = format!(
        r#"
(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal_preimage" (func $reveal_preimage (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal_metadata" (func $reveal_metadata (param i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal" (func $reveal (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "/preimage")
  (data (i32.const 32) "/metadata")
  (data (i32.const 48) "{hash}")
  (data (i32.const 96) "\03")
  (data (i32.const 100) "/dal")
  (func (export "kernel_run")
    (local $n i32)
{reveals}    (block $done
      (loop $next
        (br_if $done (i32.le_s (call $read_input (i32.const 0) (i32.const 1024) (i32.const 4096))
                               (i32.const 0)))
        (br $next)))))
"#
    );
    wat::parse_str(wat).unwrap()
}

/// The `reveal_proof_kind`s of the applied final moves (`smart_rollup_refute` proofs with a
/// reveal input proof) in the blocks after the origination.
fn applied_reveal_proofs(n: &Net) -> Vec<String> {
    let mut kinds = vec![];
    for level in n.orig + 1..=n.sb.level() {
        let ops =
            n.sb.get(&format!("/chains/main/blocks/{level}/operations/3"));
        for op in ops.as_array().into_iter().flatten() {
            for c in op["contents"].as_array().into_iter().flatten() {
                let applied = c["metadata"]["operation_result"]["status"] == "applied";
                let input = &c["refutation"]["step"]["input_proof"];
                if c["kind"] == "smart_rollup_refute"
                    && applied
                    && input["input_proof_kind"] == "reveal_proof"
                {
                    let kind = &input["reveal_proof"]["reveal_proof_kind"];
                    kinds.push(kind.as_str().unwrap_or_default().to_owned());
                }
            }
        }
    }
    kinds
}

/// A duel on a rollup of [`reveal_kernel`]`(first)` whose state waits for the first reveal
/// `reveal` ticks after the `Snapshot` of the failing level's run, with a wrong state the tick
/// after: the honest node wins with a final move proving that reveal step with a `kind`
/// reveal proof, applied on L1.
fn honest_wins_at_reveal_tick(first: FirstReveal, reveal: u64, kind: &str) {
    let kernel = reveal_kernel(first);
    let d = duel_on(&kernel, &[PREIMAGE], "maintenance", GAME_TIMEOUT, |orig| {
        format!("{} 2 {}", orig + FAILING_LEVEL, WINDOW - 2 + reveal + 1)
    });
    let mut kinds = vec![];
    let out = d.honest_wins_keeping_net(|n| kinds = applied_reveal_proofs(n));
    let line = final_move(&out);
    assert!(line.contains("a eval tick"), "{line}");
    assert!(line.contains("with a reveal proof"), "{line}");
    assert!(kinds.iter().any(|k| k == kind), "{kinds:?}: {line}");
}

// The reveal kernel's run, tick by tick from the `Snapshot` (`smart-rollup-wasm-debugger`
// on its WAT: `load inputs`, `step inbox`, `load inputs`, `step 49999999999997 ticks` to the
// `Snapshot` of the second level, then `step <n> ticks`, which stops at the state waiting for
// the first reveal): tick 3221 with the pre-image or the DAL parameters first, 3209 with the
// metadata first.

/// A reveal of a pre-image: the final move carries the pre-image (`raw_data_proof`).
#[test]
fn an_honest_node_wins_on_a_raw_data_reveal_tick() {
    honest_wins_at_reveal_tick(FirstReveal::Preimage, 3221, "raw_data_proof");
}

/// A reveal of the rollup's metadata: the final move's proof names the kind only
/// (`metadata_proof`); the sandbox answers with the rollup's address and origination level.
#[test]
fn an_honest_node_wins_on_a_metadata_reveal_tick() {
    honest_wins_at_reveal_tick(FirstReveal::Metadata, 3209, "metadata_proof");
}

/// A reveal of the DAL parameters: the final move's proof names the kind only
/// (`dal_parameters_proof`); the sandbox answers with its constants' `dal_parametric`.
#[test]
fn an_honest_node_wins_on_a_dal_parameters_reveal_tick() {
    honest_wins_at_reveal_tick(FirstReveal::DalParameters, 3221, "dal_parameters_proof");
}

/// The loser goes offline once its wrong commitment is on L1: the honest node opens the game,
/// plays, and claims the timeout when the loser's clock runs out.
#[test]
fn an_offline_loser_loses_by_timeout() {
    let mut d = duel(20, |orig| format!("{} 1 1", orig + FAILING_LEVEL));
    let wrong = d.n.orig + 10;
    let lpkh = d.loser_pkh.clone();
    d.n.bake_until("the loser's wrong commitment", &mut d.honest, |n, _| {
        n.publications()
            .iter()
            .any(|(s, l, st)| *s == lpkh && *l == wrong && st == "applied")
    });
    d.loser.kill();
    d.loser_killed = true;
    let out = d.honest_wins();
    assert!(out.contains("claiming the timeout"), "{out}");
}

/// Two honest nodes never dispute: both publish the same commitments, which are cemented.
#[test]
fn two_honest_nodes_never_dispute() {
    let mut d = duel(GAME_TIMEOUT, |_| String::new());
    let level = d.n.orig + 15;
    d.n.bake_until("cementation", &mut d.honest, |n, _| n.lcc_level() >= level);
    for out in [d.honest.output(), d.loser.output()] {
        assert!(!out.contains("Conflict with"), "{out}");
        assert!(!out.contains("Potential conflict"), "{out}");
    }
    let games = d.n.sb.get(&format!(
        "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{}/staker/{}/games",
        d.n.addr, d.honest_pkh
    ));
    assert_eq!(games, json!([]));
    // Both published every commitment up to the cemented level, and were never slashed.
    for pkh in [&d.honest_pkh, &d.loser_pkh] {
        assert_eq!(d.n.staked_on(pkh).0, 200, "{pkh}");
        let levels: Vec<i64> =
            d.n.publications()
                .into_iter()
                .filter(|(s, _, st)| s == pkh && st == "applied")
                .map(|(_, l, _)| l)
                .collect();
        for l in [d.n.orig + 5, d.n.orig + 10, d.n.orig + 15] {
            assert!(levels.contains(&l), "{pkh} did not publish {l}: {levels:?}");
        }
    }
}

/// An accuser publishes nothing until a commitment it disagrees with appears; then it
/// publishes its own, opens the game and wins it (tezt "accuser" refutation scenarios).
#[test]
fn an_accuser_wins_against_a_loser() {
    let d = duel_with("accuser", GAME_TIMEOUT, |orig| {
        format!("{} 1 1", orig + FAILING_LEVEL)
    });
    let pubs_before: Vec<_> =
        d.n.publications()
            .into_iter()
            .filter(|(s, _, _)| *s == d.honest_pkh)
            .collect();
    assert!(
        pubs_before.iter().all(|(_, l, _)| *l >= d.n.orig + 10),
        "the accuser published before any conflict: {pubs_before:?}"
    );
    let out = d.honest_wins();
    assert!(out.contains("final move at tick"), "{out}");
}

/// A node restarted in bailout mode after publishing defends its commitment against a loser:
/// it plays the game, wins, cements, recovers its bond and exits (tezt "bailout mode defends
/// its commitment").
#[test]
fn a_bailout_node_defends_its_commitment() {
    let mut d = duel(GAME_TIMEOUT, |orig| format!("{} 1 1", orig + FAILING_LEVEL));
    let (disputed, hpkh) = (d.n.orig + 10, d.honest_pkh.clone());
    d.n.bake_until(
        "the honest commitment of the disputed level",
        &mut d.honest,
        |n, _| {
            n.publications()
                .iter()
                .any(|(s, l, st)| *s == hpkh && *l == disputed && st == "applied")
        },
    );
    d.honest.kill();
    let hdir = d.n.dir.path().join("honest");
    d.n.init_with(
        &hdir,
        "bailout",
        &["operating:honest", "cementing:honest", "recovering:honest"],
        &["--force"],
    );
    let mut bail = d.n.start(&hdir);
    let (mut result, mut scanned) = (None, d.n.orig);
    let start = std::time::Instant::now();
    let status = loop {
        result = result.take().or_else(|| game_result(&d.n, &mut scanned));
        if let Some(s) = bail.try_wait() {
            break s;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(240),
            "bailout did not exit:\n{}",
            bail.output()
        );
        d.n.sb.bake();
        std::thread::sleep(std::time::Duration::from_millis(300));
    };
    let out = bail.output();
    assert_eq!(status.code(), Some(0), "{out}");
    let result = result.unwrap_or_else(|| panic!("no game ended:\n{out}"));
    assert_eq!(result["player"], json!(d.loser_pkh), "{result}");
    assert!(out.contains("Exit bailout mode"), "{out}");
    assert!(d.n.lcc_level() >= disputed);
    d.loser.kill();
}

/// A wrong state in the first commitment period (its parent is the genesis commitment).
#[test]
fn an_honest_node_wins_in_the_first_period() {
    let d = duel(GAME_TIMEOUT, |orig| format!("{} 1 1", orig + 2));
    let line = final_move(&d.honest_wins_at(5));
    assert!(line.contains("with an inbox proof"), "{line}");
}

/// The loser reads a forged first message of the rollup (`Start_of_level` replaced, message
/// tick 0): the final move proves the very first input tick with a first-input proof.
#[test]
fn an_honest_node_wins_on_the_first_input() {
    let d = duel(GAME_TIMEOUT, |orig| format!("{} 0 0", orig + 1));
    let line = final_move(&d.honest_wins_at(5));
    assert!(line.contains("with the first-input proof"), "{line}");
}

/// The honest node is killed (-9) in the middle of the game and restarted: it takes the game
/// up from the L1's state and still wins (its moves are functions of the game and its store).
#[test]
fn an_honest_node_killed_mid_game_still_wins() {
    let mut d = duel(GAME_TIMEOUT, |orig| {
        format!("{} 2 {}", orig + FAILING_LEVEL, WINDOW - 2 + 700)
    });
    d.n.bake_until("a first dissection", &mut d.honest, |_, h| {
        h.output().contains("dissecting from tick")
    });
    d.honest.kill();
    d.n.sb.bake();
    d.honest.restart().unwrap();
    let out = d.honest_wins();
    let line = final_move(&out);
    assert!(line.contains("a init tick"), "{line}");
}

/// The sandbox's level right after the origination in [`super::operator::net_kernel`] (the
/// sandbox starts at level 1 and the origination is baked in the next block).
const DAL_ORIG: i64 = 2;

/// The level at which the duel's DAL slot is published (the [`dal_page_kernel`] reveals its
/// first page from its first run on): `DAL_ORIG + 2`, attested at `+ DAL_LAG`, before the
/// failing level `orig + FAILING_LEVEL`, which holds no DAL message.
const DAL_PUBLISHED: i64 = DAL_ORIG + 2;

/// The attestation lag of the DAL duel's sandbox.
const DAL_LAG: i64 = 2;

/// The published slot's data: one full 16-byte page (page 0), then zeros.
const DAL_PAGE: &str = "a blueprint on t";

/// The slot the DAL duel's sandbox never attests (`sandbox_dal_unattested_slots`).
const DAL_UNATTESTED_SLOT: u8 = 1;

/// A kernel whose every run reveals page 0 of `slot` published at `published` (`reveal` of
/// `02 ‖ level int32 BE ‖ slot u8 ‖ page int16 BE`) into `/page`, then reads its inputs.
fn dal_page_kernel(published: i64, slot: u8) -> Vec<u8> {
    let level: String = i32::try_from(published)
        .unwrap()
        .to_be_bytes()
        .iter()
        .map(|b| format!("\\{b:02x}"))
        .collect();
    let wat = format!(
        r#"
(module
  (import "smart_rollup_core" "read_input" (func $read_input (param i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal" (func $reveal (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 96) "\02{level}\{slot:02x}\00\00")
  (data (i32.const 112) "/page")
  (func (export "kernel_run")
    (local $n i32)
    (local.set $n (call $reveal (i32.const 96) (i32.const 8) (i32.const 800) (i32.const 64)))
    (drop (call $store_write (i32.const 112) (i32.const 5) (i32.const 0) (i32.const 800)
           (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.le_s (call $read_input (i32.const 0) (i32.const 1024) (i32.const 4096))
                               (i32.const 0)))
        (br $next)))))
"#
    );
    wat::parse_str(wat).unwrap()
}

/// The reveal proofs (JSON) of the applied final moves in the blocks after the origination.
fn applied_reveal_proof_values(n: &Net) -> Vec<serde_json::Value> {
    let mut proofs = vec![];
    for level in n.orig + 1..=n.sb.level() {
        let ops =
            n.sb.get(&format!("/chains/main/blocks/{level}/operations/3"));
        for op in ops.as_array().into_iter().flatten() {
            for c in op["contents"].as_array().into_iter().flatten() {
                let applied = c["metadata"]["operation_result"]["status"] == "applied";
                let input = &c["refutation"]["step"]["input_proof"];
                if c["kind"] == "smart_rollup_refute"
                    && applied
                    && input["input_proof_kind"] == "reveal_proof"
                {
                    proofs.push(input["reveal_proof"].clone());
                }
            }
        }
    }
    proofs
}

/// The DAL duel: on a DAL-enabled sandbox whose slot 1 is never attested, `slot` is published
/// at [`DAL_PUBLISHED`]; the [`dal_page_kernel`]'s run of the failing level waits for page 0
/// of it 1032 ticks after its `Snapshot` (`smart-rollup-wasm-debugger` on its WAT, as for
/// [`reveal_kernel`]) and the loser gets the tick after wrong. Both nodes read pages from the
/// sandbox's DAL node. The honest node wins with a final move at an eval tick with a reveal
/// proof: its log line, and the reveal proofs (JSON) applied on L1.
fn dal_page_duel(slot: u8) -> (String, Vec<serde_json::Value>) {
    let kernel = dal_page_kernel(DAL_PUBLISHED, slot);
    let (hk, lk) = (bootstrap_key(3), bootstrap_key(4));
    let honest_pkh = hk.public_key_hash().to_b58check();
    let loser_pkh = lk.public_key_hash().to_b58check();
    let n = net_kernel(
        &[("honest", hk), ("loser", lk)],
        None,
        Some(json!({
            "smart_rollup_timeout_period_in_blocks": GAME_TIMEOUT,
            "dal_parametric": {"feature_enable": true, "number_of_slots": 4,
                "attestation_lag": DAL_LAG, "attestation_lags": [DAL_LAG],
                "slot_size": 64, "page_size": 16, "number_of_shards": 64},
            "sandbox_dal_unattested_slots": [DAL_UNATTESTED_SLOT],
        })),
        &kernel,
    );
    assert_eq!(
        n.orig, DAL_ORIG,
        "the kernel reveals a page of a fixed level"
    );
    n.sb.bake();
    super::dal::publish(&n.sb, 2, slot, DAL_PAGE);
    n.sb.bake();
    assert_eq!(n.sb.level(), DAL_PUBLISHED);
    let (hdir, ldir) = (n.dir.path().join("honest"), n.dir.path().join("loser"));
    n.init(&hdir, "maintenance", &["honest"]);
    n.init(&ldir, "maintenance", &["loser"]);
    let dal_node = n.sb.endpoint().to_owned();
    let mut honest = n.start_with(&hdir, &["--dal-node", &dal_node]);
    let failures = format!("{} 2 {}", n.orig + FAILING_LEVEL, WINDOW - 2 + 1032 + 1);
    let loser = n.start_with(&ldir, &["--dal-node", &dal_node, "--loser-mode", &failures]);
    n.bake_until("both nodes staked", &mut honest, |n, _| {
        n.staked(&honest_pkh) && n.staked(&loser_pkh)
    });
    let d = Duel {
        n,
        honest,
        loser,
        honest_pkh,
        loser_pkh,
        loser_killed: false,
        accuser: false,
        timeout: GAME_TIMEOUT,
    };
    let mut proofs = vec![];
    let out = d.honest_wins_keeping_net(|n| proofs = applied_reveal_proof_values(n));
    let line = final_move(&out);
    assert!(line.contains("a eval tick"), "{line}");
    assert!(line.contains("with a reveal proof"), "{line}");
    (line, proofs)
}

/// The applied `dal_page_proof` of page 0 of `slot` published at [`DAL_PUBLISHED`], and its
/// serialized DAL proof (hex).
fn applied_dal_page_proof(proofs: &[serde_json::Value], slot: u8, line: &str) -> String {
    let proof = proofs
        .iter()
        .find(|p| p["reveal_proof_kind"] == "dal_page_proof")
        .unwrap_or_else(|| panic!("no applied dal_page_proof: {proofs:?}\n{line}"));
    assert_eq!(
        proof["dal_page_id"],
        json!({"published_level": DAL_PUBLISHED, "slot_index": slot, "page_index": 0}),
        "{proof}"
    );
    proof["dal_proof"].as_str().unwrap_or_default().to_owned()
}

/// A DAL page reveal (docs/reference/dal.md; Octez `sc_rollup_proof_repr.ml` `Dal_page_proof`)
/// of an attested page ([`dal_page_duel`] on slot 0): the proof is the confirmed case
/// (`proof_repr_encoding` tag 0) and holds the attested page's data.
#[test]
fn an_honest_node_wins_on_a_dal_page_reveal_tick() {
    let (line, proofs) = dal_page_duel(0);
    let data = applied_dal_page_proof(&proofs, 0, &line);
    assert!(data.starts_with("00"), "{data}");
    assert!(data.contains(&hex::encode(DAL_PAGE)), "{data}");
}

/// The same duel over a page of a slot published but never attested ([`dal_page_duel`] on
/// [`DAL_UNATTESTED_SLOT`]): the kernel reads an empty page, and the proof is the unconfirmed
/// case of the DAL proof (`Dal_slot_repr.History.proof_repr_encoding` tag 1: a skip-list cell
/// and its inclusion proof, no page data).
#[test]
fn an_honest_node_wins_on_an_unconfirmed_dal_page_reveal_tick() {
    let (line, proofs) = dal_page_duel(DAL_UNATTESTED_SLOT);
    let data = applied_dal_page_proof(&proofs, DAL_UNATTESTED_SLOT, &line);
    assert!(data.starts_with("01"), "{data}");
    assert!(!data.contains(&hex::encode(DAL_PAGE)), "{data}");
}
