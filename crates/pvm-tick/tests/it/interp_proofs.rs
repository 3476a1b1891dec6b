//! One-tick proofs of the interpreter's ticks (`Decode`, `Link`, `Init`, `Eval`; issue 13):
//! Octez's proof sizes (`link_reveal.v{0,6}.proof_sizes.csv`), verified, and the state
//! produced equal to the plain-tree driver's (`compute_step`). Host-function and reveal ticks,
//! and every tick of the `echo` and `link_store_create` traces: `host_proofs.rs`.

use durable_tree::Tree;
use pvm_tick::{compute_step, produce_proof, verify_proof};
use wasm_pvm::PvmVersion;

use crate::ticks::{at_snapshot, sizes};

/// From the snapshot at tick 5000, every tick up to `last` (inclusive) whose proof is in
/// `file`: the mismatches (tick, ours, Octez's), at most `max` of them.
fn run(v: PvmVersion, file: &str, last: u128, max: usize) -> Vec<(u128, String)> {
    let sizes = sizes(file);
    let mut tree: Tree = at_snapshot(v).to_tree().unwrap();
    let mut bad = Vec::new();
    for tick in 5000..=last {
        let next = compute_step(&tree).unwrap_or_else(|e| panic!("tick {tick}: {e}"));
        match produce_proof(&tree, None) {
            Err(e) => bad.push((tick, format!("produce: {e}"))),
            Ok((bytes, new)) => {
                if new.hash().unwrap() != next.hash().unwrap() {
                    bad.push((tick, "state differs from compute_step".into()));
                }
                match verify_proof(&bytes, None) {
                    Ok((b, a)) => {
                        if b != tree.hash().unwrap() || a != next.hash().unwrap() {
                            bad.push((tick, "verify: wrong hashes".into()));
                        }
                    }
                    Err(e) => bad.push((tick, format!("verify: {e}"))),
                }
                if let Some(&want) = sizes.get(&tick)
                    && want != bytes.len()
                {
                    bad.push((tick, format!("size {} != Octez's {want}", bytes.len())));
                }
            }
        }
        if bad.len() >= max {
            break;
        }
        tree = next;
    }
    bad
}

/// The ticks whose proof size is not yet Octez's: `(tick, ours, Octez's, what the tick does)`.
/// Every other tick of the range is asserted: size, verification, after-state.
///
/// A removal that leaves a node one entry reads that entry's whole subtree
/// (`wasm_interp::codec::remove`): found on 5111 (`BlockParse` re-encodes block 1 of the block
/// table: `remove contents/1` leaves block 0, `{instructions: {head, length}}`) and v6 5162
/// (`J_Init` pops two of three vectors), both now exact. 5121 (`MKElaborateFunc` gets block 1,
/// re-encoded as in 5111): the same read gives one byte more than Octez's; not found.
const KNOWN_V0: &[(u128, usize, usize, &str)] =
    &[(5121, 2493, 2492, "MKElaborateFunc: gets block 1")];

/// As [`KNOWN_V0`], for v6: 5121, and init (`IK_*`, 5131–5154) and eval (5173–5187) ticks,
/// whose reads were not compared with Octez's yet. The sole-entry rule above brought 5131 to
/// one byte and overshoots 5134 (the sole entry `kont/origin/contents/0`, a function type,
/// read whole is 19 bytes more than Octez's: Octez reads part of it) and 5154 (also
/// `module/2/functions/contents/0`).
const KNOWN_V6: &[(u128, usize, usize, &str)] = &[
    (5121, 2493, 2492, "MKElaborateFunc: gets block 1"),
    (5131, 3072, 3071, "init"),
    (5133, 2878, 3006, "init"),
    (5134, 2893, 2874, "init"),
    (5135, 2705, 3151, "init"),
    (5136, 2754, 2783, "init"),
    (5137, 3409, 3495, "init"),
    (5140, 2961, 3153, "init"),
    (5142, 2820, 3311, "init"),
    (5147, 2704, 2681, "init"),
    (5152, 2777, 3268, "init"),
    (5153, 2774, 2805, "init"),
    (5154, 3113, 3003, "init"),
    (5173, 2032, 2216, "eval"),
    (5181, 2607, 2621, "eval"),
    (5184, 1993, 2032, "eval"),
    (5187, 2615, 2629, "eval"),
];

/// Every tick's mismatches are exactly the known size differences: a fixed tick must leave
/// the table, a new difference fails.
fn check(bad: Vec<(u128, String)>, known: &[(u128, usize, usize, &str)]) {
    let want: Vec<(u128, String)> = known
        .iter()
        .map(|(t, ours, octez, _)| (*t, format!("size {ours} != Octez's {octez}")))
        .collect();
    assert_eq!(bad, want);
}

#[test]
fn link_reveal_v0_interpreter_ticks_have_octez_proofs() {
    check(
        run(PvmVersion::V0, "link_reveal.v0.proof_sizes.csv", 5129, 200),
        KNOWN_V0,
    );
}

#[test]
fn link_reveal_v6_ticks_have_octez_proofs() {
    check(
        run(PvmVersion::V6, "link_reveal.v6.proof_sizes.csv", 9999, 200),
        KNOWN_V6,
    );
}

fn dump(t: &durable_tree::proof::ProofTree, path: &str, out: &mut Vec<String>) {
    use durable_tree::proof::{InodeTree, ProofTree as P};
    fn inode(i: &InodeTree, path: &str, out: &mut Vec<String>) {
        match i {
            InodeTree::Blinded(_) => out.push(format!("{path} [blinded inode]")),
            InodeTree::Values(es) => {
                for (n, t) in es {
                    dump(t, &format!("{path}/{n}"), out)
                }
            }
            InodeTree::Tree(p) => {
                for k in [&p.left, &p.right].into_iter().flatten() {
                    inode(k, path, out)
                }
            }
            InodeTree::Extender(e) => inode(&e.proof, path, out),
        }
    }
    match t {
        P::Value(v) => out.push(format!(
            "{path} = {} bytes {:?}",
            v.len(),
            String::from_utf8_lossy(&v[..v.len().min(24)])
        )),
        P::BlindedValue(_) => out.push(format!("{path} [blinded value]")),
        P::BlindedNode(_) => out.push(format!("{path} [blinded node]")),
        P::Node(es) => {
            for (n, t) in es {
                dump(t, &format!("{path}/{n}"), out)
            }
        }
        P::Inode(p) => {
            for k in [&p.left, &p.right].into_iter().flatten() {
                inode(k, path, out)
            }
        }
        P::Extender(e) => inode(&e.proof, path, out),
    }
}

#[test]
#[ignore = "a debugging aid: prints the proofs of some ticks"]
fn dump_some() {
    let v = if std::env::var("V6").is_ok() {
        PvmVersion::V6
    } else {
        PvmVersion::V0
    };
    let mut tree: Tree = at_snapshot(v).to_tree().unwrap();
    let want: Vec<u128> = std::env::var("TICKS")
        .unwrap_or("5001".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    for tick in 5000..=*want.iter().max().unwrap() {
        if want.contains(&tick) {
            let (bytes, _) = produce_proof(&tree, None).unwrap();
            let p = durable_tree::proof::encoding::decode(&bytes).unwrap();
            let mut out = Vec::new();
            dump(&p.state, "", &mut out);
            println!("== tick {tick}: {} bytes\n{}", bytes.len(), out.join("\n"));
        }
        tree = compute_step(&tree).unwrap();
    }
}
