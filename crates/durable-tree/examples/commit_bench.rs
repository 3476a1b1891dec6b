//! Rough commit benchmark: N random durable writes into a tree of M keys,
//! then hash + commit, compared with raw blake2b over the bytes committed.
//! Run: `cargo run --release -p durable-tree --example commit_bench [M] [N]`.

use std::time::Instant;

use durable_tree::durable::{Durable, Key};
use durable_tree::{MemStore, NodeStore, Repo};

fn main() {
    let mut args = std::env::args().skip(1);
    let m: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let key = |i: u64| {
        Key::parse(
            format!(
                "/evm/world_state/eth_accounts/{:040x}/balance",
                i * 0x9e37_79b9
            )
            .as_bytes(),
        )
        .unwrap()
    };
    let store = std::sync::Arc::new(MemStore::new());
    let repo = Repo::new(store.clone());
    let mut d = Durable::default();
    let t = Instant::now();
    for i in 0..m {
        d.set(&key(i), &i.to_le_bytes()).unwrap();
    }
    let h0 = repo.commit(d.tree()).unwrap();
    println!(
        "build+commit {m} keys: {:?}, {} objects",
        t.elapsed(),
        store.object_count().unwrap()
    );
    let mut d = Durable::new(repo.checkout(h0).unwrap());
    let before = store.object_count().unwrap();
    let mut x: u64 = 7;
    let t = Instant::now();
    for j in 0..n {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        d.write(&key((x >> 20) % m), 0, &j.to_be_bytes()).unwrap();
    }
    let t_writes = t.elapsed();
    let t = Instant::now();
    let h = d.tree().hash().unwrap();
    let t_hash = t.elapsed();
    let t = Instant::now();
    assert_eq!(repo.commit(d.tree()).unwrap(), h);
    let t_commit = t.elapsed();
    let added = store.object_count().unwrap() - before;
    // Raw blake2b over the new objects' bytes.
    // Objects average roughly 120 bytes (inodes, nodes with inline values).
    let objs: Vec<Vec<u8>> = (0..added).map(|_| vec![0u8; 120]).collect();
    let t = Instant::now();
    for o in &objs {
        std::hint::black_box(blake2b_simd::Params::new().hash_length(32).hash(o));
    }
    let t_raw = t.elapsed();
    println!(
        "{n} writes: {t_writes:?}; hash: {t_hash:?}; commit: {t_commit:?}; {added} new objects; raw blake2b of {added} x 120 B: {t_raw:?}"
    );
}
