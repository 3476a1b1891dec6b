//! P2: durable commits. A tree already holding `base_keys` Etherlink-like
//! keys takes rounds of `writes` durable writes (random 32–256-byte values),
//! then `hash` and `Repo::commit`; the baseline is raw blake2b-256 over one
//! buffer per committed object, of that object's size (the bytes a commit
//! must hash at least once).

use std::sync::Arc;
use std::time::Duration;

use durable_tree::durable::{Durable, Key};
use durable_tree::{DiskStore, MemStore, NodeStore, RedbStore, Repo, Tree};

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
    write: Duration,
    hash: Duration,
    commit: Duration,
    blake: Duration,
    objects: usize,
    bytes: u64,
}

fn rounds(
    label: &str,
    store: Arc<dyn NodeStore>,
    base: &Durable,
    keys: &Keys,
    opts: Opts,
) -> Result<(), String> {
    let rec = Arc::new(Recording::new(store));
    let repo = Repo::new(rec.clone());
    let mut d = base.clone();
    let (r, first) = timed(|| repo.commit(d.tree()));
    r.map_err(err)?;
    let first_objects = rec.take().len();
    let mut keys = keys.clone();
    let mut rng = Rng::new(2);
    let mut out = Vec::new();
    for _ in 0..opts.rounds {
        let writes = gen_writes(&mut keys, &mut rng, opts.writes, false)?;
        let (r, write) = timed(|| apply(&mut d, &writes));
        r?;
        let (r, hash) = timed(|| d.tree().hash());
        r.map_err(err)?;
        let (r, commit) = timed(|| repo.commit(d.tree()));
        r.map_err(err)?;
        let sizes = rec.take();
        let mut blakes: Vec<Duration> = (0..3).map(|_| blake2b_baseline(&sizes).0).collect();
        out.push(Round {
            write,
            hash,
            commit,
            blake: median(&mut blakes),
            objects: sizes.len(),
            bytes: sizes.iter().map(|&n| n as u64).sum(),
        });
    }
    let med = |f: &dyn Fn(&Round) -> Duration| {
        let mut v: Vec<Duration> = out.iter().map(f).collect();
        median(&mut v)
    };
    let (w, h, c, b) = (
        med(&|r| r.write),
        med(&|r| r.hash),
        med(&|r| r.commit),
        med(&|r| r.blake),
    );
    let objects = out.iter().map(|r| r.objects).sum::<usize>() / out.len();
    let bytes = out.iter().map(|r| r.bytes).sum::<u64>() / out.len() as u64;
    let ratio = |d: Duration| d.as_secs_f64() / b.as_secs_f64();
    println!(
        "  {label:<6} first commit {:.0} ms ({first_objects} objects); per round of {} writes \
         (median of {}): {objects} objects, {:.2} MB",
        ms(first),
        opts.writes,
        opts.rounds,
        bytes as f64 / 1e6
    );
    println!(
        "  {label:<6} write {:8.2} ms  hash {:8.2} ms  commit {:8.2} ms  | blake2b {:6.2} ms",
        ms(w),
        ms(h),
        ms(c),
        ms(b)
    );
    println!(
        "  {label:<6} RATIO (write+hash+commit)/blake2b = {:.2}x   (hash+commit)/blake2b = {:.2}x   \
         commit/blake2b = {:.2}x",
        ratio(w + h + c),
        ratio(h + c),
        ratio(c)
    );
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
    if std::env::var_os("BENCH_NO_MEMORY").is_none() {
        rounds("memory", Arc::new(MemStore::new()), &base, &keys, opts)?;
    }
    Ok(())
}
