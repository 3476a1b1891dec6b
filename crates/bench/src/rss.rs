//! RSS: peak resident memory after inserting many durable keys, then after
//! a commit to disk, dropping the tree and reading from a lazy checkout.

use std::sync::Arc;

use durable_tree::durable::{Durable, Key};
use durable_tree::{Repo, Tree};
use pack_store::DiskStore;

use crate::Opts;
use crate::rng::Rng;
use crate::util::{Keys, mib, ms, proc_status_kib, timed};

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

fn line(what: &str, payload: u64) {
    let hwm = proc_status_kib("VmHWM").unwrap_or(0);
    let rss = proc_status_kib("VmRSS").unwrap_or(0);
    println!(
        "  {what:<34} VmHWM {:8.1} MiB  VmRSS {:8.1} MiB  RATIO HWM/payload = {:.2}x",
        mib(hwm),
        mib(rss),
        (hwm * 1024) as f64 / payload as f64
    );
}

/// Run the RSS benchmark.
pub(crate) fn run(opts: Opts) -> Result<(), String> {
    let n = opts.rss_keys;
    println!("RSS: {n} durable keys (payload = key bytes + 512-byte chunk + 8-byte length)");
    println!(
        "  start: VmHWM {:.1} MiB",
        mib(proc_status_kib("VmHWM").unwrap_or(0))
    );
    let mut rng = Rng::new(7);
    let mut keys = Keys::new();
    let mut d = Durable::new(Tree::empty());
    let mut sample = Vec::new();
    let mut payload = 0u64;
    let (r, t) = timed(|| -> Result<(), String> {
        for i in 0..n {
            let k = keys.fresh(&mut rng);
            let len = rng.range(32, 256);
            let v = rng.bytes(len);
            payload += (k.len() + 512 + 8) as u64;
            let key = Key::from_str_checked(&k).map_err(err)?;
            d.write(&key, 0, &v).map_err(err)?;
            if i % (n / 16).max(1) == 0 {
                sample.push((key, v));
            }
        }
        Ok(())
    });
    r?;
    println!(
        "  inserted in {:.0} ms ({:.2} us/key)",
        ms(t),
        t.as_secs_f64() * 1e6 / n as f64
    );
    line("after insert", payload);
    #[cfg(feature = "alloc-count")]
    crate::alloc_count::report(14);
    for (what, size) in durable_tree::layout_sizes() {
        println!("    size_of {what:<28} {size:4} B");
    }
    let (r, t) = timed(|| d.tree().hash());
    r.map_err(err)?;
    println!("  hash {:.0} ms", ms(t));
    line("after hash", payload);
    let dir = tempfile::tempdir().map_err(err)?;
    let repo = Repo::new(Arc::new(
        DiskStore::open(dir.path().join("store.pack")).map_err(err)?,
    ));
    let (root, t) = timed(|| repo.commit(d.tree()));
    let root = root.map_err(err)?;
    println!("  commit to disk {:.0} ms", ms(t));
    line("after commit", payload);
    drop(d);
    let t = repo.checkout(root).map_err(err)?;
    let lazy = Durable::new(t);
    for (k, v) in &sample {
        let got = lazy.read_all(k).map_err(err)?;
        if got.as_deref() != Some(v.as_slice()) {
            return Err(format!("lazy read of {k} differs"));
        }
    }
    let now = proc_status_kib("VmRSS").unwrap_or(0);
    println!(
        "  after drop + lazy checkout + {} reads: VmRSS {:.1} MiB",
        sample.len(),
        mib(now)
    );
    Ok(())
}
