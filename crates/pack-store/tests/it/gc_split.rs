//! The split GC API ([`Repo::mark_live`] / [`Repo::sweep`]) used by the rollup node's
//! full history mode (octez-rollup-node.md §5.4): roots committed between the mark and
//! the sweep survive when marked, and trees loaded before a GC commit correctly after it.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use durable_tree::durable::{Durable, Key};
use durable_tree::{NodeStore, Repo};
use pack_store::{DiskStore, open_repo};

fn k(s: &str) -> Key {
    Key::parse(s.as_bytes()).unwrap()
}

fn sample(n: u32) -> Durable {
    let mut d = Durable::default();
    for i in 0..n {
        let v: Vec<u8> = (0..(i % 700 + 1)).map(|j| (i + j) as u8).collect();
        d.set(&k(&format!("/d/{}/{i}", i % 97)), &v).unwrap();
    }
    d
}

fn all_values(repo: &Repo, h: durable_tree::Hash, n: u32) {
    let d = Durable::new(repo.checkout(h).unwrap());
    for i in 0..n {
        let v = d.read_all(&k(&format!("/d/{}/{i}", i % 97))).unwrap();
        assert_eq!(v.map(|v| v.len()), Some((i % 700 + 1) as usize), "key {i}");
    }
}

#[test]
fn roots_marked_after_the_first_mark_survive_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn NodeStore> = Arc::new(DiskStore::open(dir.path().join("pack")).unwrap());
    let repo = Repo::new(store.clone());
    let mut d = sample(300);
    let old = repo.commit(d.tree()).unwrap();
    d.set(&k("/x"), &[1; 100]).unwrap();
    let kept = repo.commit(d.tree()).unwrap();
    let mut live = HashSet::new();
    repo.mark_live(&[kept], &mut live).unwrap();
    // A commit lands after the mark (as while a background GC marks).
    d.set(&k("/y"), &[2; 3000]).unwrap();
    let newer = repo.commit(d.tree()).unwrap();
    let before = live.len();
    repo.mark_live(&[newer], &mut live).unwrap();
    assert!(live.len() > before, "only the new objects are added");
    let st = repo.sweep(&live, &[kept, newer]).unwrap();
    assert!(st.deleted > 0);
    assert!(!repo.has(&old).unwrap());
    let mut roots = repo.roots().unwrap();
    roots.sort();
    let mut want = vec![kept, newer];
    want.sort();
    assert_eq!(roots, want);
    all_values(&repo, newer, 300);
    drop(repo);
    drop(store);
    // The rewritten pack reopens with the same content.
    let repo = open_repo(dir.path().join("pack")).unwrap();
    all_values(&repo, kept, 300);
    all_values(&repo, newer, 300);
}

#[test]
fn loaded_trees_commit_completely_after_a_gc_dropped_their_objects() {
    let dir = tempfile::tempdir().unwrap();
    let repo = open_repo(dir.path().join("pack")).unwrap();
    let mut d = sample(200);
    let h1 = repo.commit(d.tree()).unwrap();
    // Everything goes, though `d` is loaded and was marked as stored.
    repo.gc(&[]).unwrap();
    assert!(!repo.has(&h1).unwrap());
    d.set(&k("/z"), b"z").unwrap();
    let h2 = repo.commit(d.tree()).unwrap();
    all_values(&repo, h2, 200);
    assert_eq!(
        Durable::new(repo.checkout(h2).unwrap())
            .read_all(&k("/z"))
            .unwrap(),
        Some(b"z".to_vec())
    );
}

/// GC figures on a larger store (run with
/// `cargo test -p durable-tree --release --test it -- gc_split --ignored --nocapture`).
#[test]
#[ignore = "benchmark: prints figures"]
fn gc_figures() {
    let dir = tempfile::tempdir().unwrap();
    let repo = open_repo(dir.path().join("pack")).unwrap();
    let n = 100_000;
    let mut d = sample(n);
    let mut roots = vec![];
    let t = Instant::now();
    for b in 0..200u32 {
        for j in 0..50 {
            let i = (b * 7919 + j * 104_729) % n;
            d.set(&k(&format!("/d/{}/{i}", i % 97)), &b.to_le_bytes())
                .unwrap();
        }
        roots.push(repo.commit(d.tree()).unwrap());
    }
    let size = std::fs::metadata(dir.path().join("pack")).unwrap().len();
    eprintln!(
        "200 commits of 50 changes over {n} keys: {:?}, pack {} MiB",
        t.elapsed(),
        size >> 20
    );
    let keep = &roots[100..];
    let t = Instant::now();
    let mut live = HashSet::new();
    repo.mark_live(keep, &mut live).unwrap();
    let mark = t.elapsed();
    let t = Instant::now();
    let st = repo.sweep(&live, keep).unwrap();
    let sweep = t.elapsed();
    let after = std::fs::metadata(dir.path().join("pack")).unwrap().len();
    eprintln!(
        "GC keeping 100 of 200 roots: mark {mark:?} (commits not blocked), sweep {sweep:?} \
         (commits wait); {} live, {} deleted; pack {} MiB",
        st.live,
        st.deleted,
        after >> 20
    );
}
