//! Batch-writer micro-benchmark: a store pre-filled with `PREFILL` objects
//! takes rounds of `PER` random objects (~134 bytes average) through
//! `begin_batch` / `add` / `commit`; prints the median ns per object of the
//! `add` calls and the median commit time, for [`MemStore`] and
//! [`DiskStore`] (deferred sync, as the node uses it).
//! Run: `cargo run --release -p pack-store --example store_batch [PREFILL] [PER] [ROUNDS]`.

use std::time::{Duration, Instant};

use durable_tree::{Hash, MemStore, NodeStore};
use pack_store::DiskStore;

/// A xorshift generator (deterministic inputs).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn hash(&mut self) -> Hash {
        let mut h = [0u8; 32];
        for c in h.chunks_exact_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        Hash(h)
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(label: &str, store: &dyn NodeStore, prefill: usize, per: usize, rounds: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let payload: Vec<u8> = (0..256u32).map(|i| (i * 7) as u8).collect();
    let t = Instant::now();
    let mut left = prefill;
    while left > 0 {
        let n = left.min(50_000);
        let mut b = store.begin_batch().unwrap();
        for _ in 0..n {
            let h = rng.hash();
            let len = 40 + (rng.next() % 189) as usize;
            b.add(&h, &payload[..len]).unwrap();
        }
        b.commit(&[]).unwrap();
        left -= n;
    }
    let fill = t.elapsed();
    let (mut adds, mut commits, mut totals) = (Vec::new(), Vec::new(), Vec::new());
    for r in 0..rounds {
        // Generated up front: only the store is timed.
        let objs: Vec<(Hash, usize)> = (0..per)
            .map(|_| (rng.hash(), 40 + (rng.next() % 189) as usize))
            .collect();
        let t0 = Instant::now();
        let mut b = store.begin_batch().unwrap();
        for (h, len) in &objs {
            b.add(h, &payload[..*len]).unwrap();
        }
        let t1 = Instant::now();
        b.commit(&[objs[0].0]).unwrap();
        let t2 = Instant::now();
        adds.push(t1 - t0);
        commits.push(t2 - t1);
        totals.push(t2 - t0);
        if r == 0 {
            assert!(store.get(&objs[per - 1].0).unwrap().is_some());
        }
    }
    let (a, c, tot) = (median(&mut adds), median(&mut commits), median(&mut totals));
    println!(
        "{label:>6}: prefill {prefill} in {fill:.2?}; per batch of {per}: add {:.0} ns/obj \
         ({a:.2?}), commit {c:.2?}, total {tot:.2?} = {:.0} ns/obj; {} objects",
        a.as_nanos() as f64 / per as f64,
        tot.as_nanos() as f64 / per as f64,
        store.object_count().unwrap(),
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let prefill: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500_000);
    let per: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(19_400);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(21);
    if std::env::var_os("BENCH_NO_MEMORY").is_none() {
        run("memory", &MemStore::new(), prefill, per, rounds);
    }
    if std::env::var_os("BENCH_NO_DISK").is_none() {
        let dir = tempfile::tempdir().unwrap();
        let s = DiskStore::open(dir.path().join("store.pack")).unwrap();
        s.set_deferred_sync(true);
        run("disk", &s, prefill, per, rounds);
    }
}
