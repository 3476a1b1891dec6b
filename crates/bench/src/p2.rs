//! P2: durable commits. A tree already holding `base_keys` Etherlink-like
//! keys takes rounds of `writes` durable writes (random 32–256-byte values),
//! then one `Repo::commit` (hash + persist, as the node commits a state).
//! Baselines: raw blake2b-256 over buffers of the sizes of the pre-images
//! the commit hashed (Irmin's binary scheme: every changed blob, node,
//! `Tree` and `Values` inode; recorded with `durable_tree::hash_trace`), the
//! least work an exact commit does; and over buffers of the sizes of the
//! objects stored.

use std::sync::Arc;
use std::time::Duration;

use durable_tree::durable::{Durable, Key};
use durable_tree::{MemStore, NodeStore, Repo, Tree, hash_trace};
use pack_store::{DiskStore, RedbStore};

use crate::Opts;
use crate::rng::Rng;
use crate::util::{Keys, Recording, blake2b_baseline, median, ms, timed};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// One write: a key and a value.
type Write = (Key, Vec<u8>);

fn gen_writes(keys: &mut Keys, rng: &mut Rng, n: usize, fresh: bool) -> Result<Vec<Write>, String> {
    (0..n)
        .map(|_| {
            let k = if fresh {
                keys.fresh(rng)
            } else {
                keys.for_write(rng)
            };
            let len = rng.range(32, 256);
            Ok((Key::from_str_checked(&k).map_err(err)?, rng.bytes(len)))
        })
        .collect()
}

fn apply(d: &mut Durable, writes: &[Write]) -> Result<(), String> {
    for (k, v) in writes {
        d.write(k, 0, v).map_err(err)?;
    }
    Ok(())
}

struct Round {
    threads: usize,
    write: Duration,
    commit: Duration,
    sync: Duration,
    blake_pre: Duration,
    blake_obj: Duration,
    pre_calls: usize,
    pre_bytes: u64,
    objects: usize,
    bytes: u64,
}

/// Median of the rounds' `f`.
fn med(rounds: &[&Round], f: impl Fn(&Round) -> f64) -> f64 {
    let mut v: Vec<f64> = rounds.iter().map(|r| f(r)).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median of three runs of the baseline over `sizes`.
fn baseline(sizes: &[usize]) -> Duration {
    let mut v: Vec<Duration> = (0..3).map(|_| blake2b_baseline(sizes).0).collect();
    median(&mut v)
}

/// Threads of the rounds that commit on several: `BENCH_COMMIT_THREADS`, or
/// the machine's, at most 4 (the node's default, `Repo::set_commit_threads`).
pub(crate) fn many_threads() -> usize {
    std::env::var("BENCH_COMMIT_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(durable_tree::default_threads)
}

/// Rounds of writes then one commit each, alternately hashing on one thread
/// and on [`many_threads`] (`opts.rounds` of each). The store syncs once per
/// round after the commit (`set_deferred_sync`, as the node does once per
/// batch of levels), timed apart. Ratios are medians of each round's ratio
/// to its own baselines, measured right after it.
fn rounds(
    label: &str,
    store: Arc<dyn NodeStore>,
    base: &Durable,
    keys: &Keys,
    opts: Opts,
) -> Result<(), String> {
    let rec = Arc::new(Recording::new(store));
    rec.set_deferred_sync(true);
    let repo = Repo::new(rec.clone());
    let mut d = base.clone();
    let (r, first) = timed(|| repo.commit(d.tree()));
    r.map_err(err)?;
    rec.sync().map_err(err)?;
    let first_objects = rec.take().len();
    let mut keys = keys.clone();
    let mut rng = Rng::new(2);
    let mut out = Vec::new();
    let many = many_threads();
    for i in 0..opts.rounds.saturating_mul(2) {
        let threads = if i % 2 == 0 { 1 } else { many };
        repo.set_commit_threads(threads);
        let writes = gen_writes(&mut keys, &mut rng, opts.writes, false)?;
        let (r, write) = timed(|| apply(&mut d, &writes));
        r?;
        hash_trace::start();
        let (r, commit) = timed(|| repo.commit(d.tree()));
        let pre = hash_trace::take();
        r.map_err(err)?;
        let (r, sync) = timed(|| rec.sync());
        r.map_err(err)?;
        let sizes = rec.take();
        out.push(Round {
            threads,
            write,
            commit,
            sync,
            blake_pre: baseline(&pre),
            blake_obj: baseline(&sizes),
            pre_calls: pre.len(),
            pre_bytes: pre.iter().map(|&n| n as u64).sum(),
            objects: sizes.len(),
            bytes: sizes.iter().map(|&n| n as u64).sum(),
        });
    }
    let n = out.len().max(1);
    let objects = out.iter().map(|r| r.objects).sum::<usize>() / n;
    let bytes = out.iter().map(|r| r.bytes).sum::<u64>() / n as u64;
    let pre_calls = out.iter().map(|r| r.pre_calls).sum::<usize>() / n;
    let pre_bytes = out.iter().map(|r| r.pre_bytes).sum::<u64>() / n as u64;
    println!(
        "  {label:<6} first commit {:.0} ms ({first_objects} objects); per round of {} writes \
         (median of {} per thread count): hashed {pre_calls} pre-images, {:.2} MB; stored {objects} objects, {:.2} MB",
        ms(first),
        opts.writes,
        opts.rounds,
        pre_bytes as f64 / 1e6,
        bytes as f64 / 1e6
    );
    let mut counts = vec![1, many];
    counts.dedup();
    for threads in counts {
        let rs: Vec<&Round> = out.iter().filter(|r| r.threads == threads).collect();
        let t = |f: fn(&Round) -> Duration| med(&rs, |r| ms(f(r)));
        let tag = format!("{label} {threads}t");
        println!(
            "  {tag:<9} write {:6.2} ms  commit (hash + persist) {:6.2} ms  sync {:6.2} ms  | \
             blake2b of the pre-images {:5.2} ms, of the stored objects {:5.2} ms",
            t(|r| r.write),
            t(|r| r.commit),
            t(|r| r.sync),
            t(|r| r.blake_pre),
            t(|r| r.blake_obj)
        );
        let ratio = |f: fn(&Round) -> (Duration, Duration)| {
            med(&rs, |r| {
                let (a, b) = f(r);
                a.as_secs_f64() / b.as_secs_f64()
            })
        };
        println!(
            "  {tag:<9} RATIO commit/blake2b(pre-images) = {:.2}x   commit/blake2b(objects) = {:.2}x   \
             (commit+sync)/blake2b(pre-images) = {:.2}x   (write+commit)/blake2b(pre-images) = {:.2}x   \
             write/commit = {:.2}x",
            ratio(|r| (r.commit, r.blake_pre)),
            ratio(|r| (r.commit, r.blake_obj)),
            ratio(|r| (r.commit + r.sync, r.blake_pre)),
            ratio(|r| (r.write + r.commit, r.blake_pre)),
            ratio(|r| (r.write, r.commit)),
        );
    }
    Ok(())
}

/// Run P2.
pub(crate) fn run(opts: Opts) -> Result<(), String> {
    println!(
        "P2: durable commits ({} writes per commit, base tree of {} keys; goal <= 2x)",
        opts.writes, opts.base_keys
    );
    let mut rng = Rng::new(1);
    let mut keys = Keys::new();
    let base_writes = gen_writes(&mut keys, &mut rng, opts.base_keys, true)?;
    let mut base = Durable::new(Tree::empty());
    let (r, build) = timed(|| apply(&mut base, &base_writes));
    r?;
    drop(base_writes);
    let (r, hash) = timed(|| base.tree().hash());
    r.map_err(err)?;
    println!(
        "  base: {} writes {:.0} ms, first hash {:.0} ms",
        opts.base_keys,
        ms(build),
        ms(hash)
    );
    let dir = tempfile::tempdir().map_err(err)?;
    let disk: Arc<dyn NodeStore> =
        Arc::new(DiskStore::open(dir.path().join("store.pack")).map_err(err)?);
    if std::env::var_os("BENCH_NO_DISK").is_none() {
        rounds("disk", disk, &base, &keys, opts)?;
    }
    if std::env::var_os("BENCH_REDB").is_some() {
        let redb: Arc<dyn NodeStore> =
            Arc::new(RedbStore::open(dir.path().join("store.redb")).map_err(err)?);
        rounds("redb", redb, &base, &keys, opts)?;
    }
    if std::env::var_os("BENCH_NULL").is_some() {
        rounds("null", Arc::new(NullStore), &base, &keys, opts)?;
    }
    if std::env::var_os("BENCH_NO_MEMORY").is_none() {
        rounds("memory", Arc::new(MemStore::new()), &base, &keys, opts)?;
    }
    Ok(())
}

/// A store that keeps nothing: commits into it cost the walk and the hashing only.
struct NullStore;

impl NodeStore for NullStore {
    fn get(&self, _: &durable_tree::Hash) -> Result<Option<Vec<u8>>, durable_tree::StoreError> {
        Ok(None)
    }
    fn contains(&self, _: &durable_tree::Hash) -> Result<bool, durable_tree::StoreError> {
        Ok(false)
    }
    fn write_batch(
        &self,
        _: &[(durable_tree::Hash, Vec<u8>)],
        _: &[durable_tree::Hash],
    ) -> Result<(), durable_tree::StoreError> {
        Ok(())
    }
    fn roots(&self) -> Result<Vec<durable_tree::Hash>, durable_tree::StoreError> {
        Ok(Vec::new())
    }
    fn retain(
        &self,
        _: &dyn Fn(&durable_tree::Hash) -> bool,
        _: &[durable_tree::Hash],
    ) -> Result<u64, durable_tree::StoreError> {
        Ok(0)
    }
    fn object_count(&self) -> Result<u64, durable_tree::StoreError> {
        Ok(0)
    }
    fn begin_batch(
        &self,
    ) -> Result<Box<dyn durable_tree::BatchWriter + '_>, durable_tree::StoreError> {
        Ok(Box::new(NullBatch))
    }
}

struct NullBatch;

impl durable_tree::BatchWriter for NullBatch {
    fn add(&mut self, _: &durable_tree::Hash, _: &[u8]) -> Result<(), durable_tree::StoreError> {
        Ok(())
    }
    fn commit(self: Box<Self>, _: &[durable_tree::Hash]) -> Result<(), durable_tree::StoreError> {
        Ok(())
    }
}
