use std::sync::Arc;

use durable_tree::durable::{Durable, Key};
use durable_tree::{Hash, MemStore, NodeStore, Repo, StoreError, Tree, TreeError};
use pack_store::{DiskStore, open_repo};

fn k(s: &str) -> Key {
    Key::parse(s.as_bytes()).unwrap()
}

/// A durable tree with `n` keys `/d/<i % 97>/<i>`, values of 1..1500 bytes.
fn sample(n: u32) -> Durable {
    let mut d = Durable::default();
    for i in 0..n {
        let key = k(&format!("/d/{}/{i}", i % 97));
        let len = (i as usize * 37) % 1500 + 1;
        let v: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
        d.set(&key, &v).unwrap();
    }
    d
}

/// Every (key, value) of a durable tree, walking it fully.
fn dump(d: &Durable, prefix: &str, out: &mut Vec<(String, Vec<u8>)>) {
    let key = k(prefix);
    if let Some(v) = d.read_all(&key).unwrap() {
        out.push((prefix.to_string(), v));
    }
    for sub in d.subkeys(&key).unwrap() {
        dump(d, &format!("{prefix}/{sub}"), out);
    }
}

#[test]
fn mem_commit_checkout_round_trip() {
    let repo = Repo::in_memory();
    let d = sample(300);
    let h = repo.commit(d.tree()).unwrap();
    assert_eq!(h, d.tree().hash().unwrap());
    let t = repo.checkout(h).unwrap();
    assert_eq!(t.hash().unwrap(), h);
    let back = Durable::new(t);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    dump(&d, "", &mut a);
    dump(&back, "", &mut b);
    assert_eq!(a.len(), 300);
    assert_eq!(a, b);
}

#[test]
fn second_commit_writes_only_new_objects() {
    let store = Arc::new(MemStore::new());
    let repo = Repo::new(store.clone());
    let d = sample(500);
    let h1 = repo.commit(d.tree()).unwrap();
    let n1 = store.object_count().unwrap();
    // Committing the same tree again writes nothing new.
    assert_eq!(repo.commit(d.tree()).unwrap(), h1);
    assert_eq!(store.object_count().unwrap(), n1);
    // One small write in a checked-out tree: only the path to it changes.
    let mut d2 = Durable::new(repo.checkout(h1).unwrap());
    d2.write(&k("/d/5/5"), 0, b"new bytes").unwrap();
    let h2 = repo.commit(d2.tree()).unwrap();
    assert_ne!(h1, h2);
    let added = store.object_count().unwrap() - n1;
    // root, d (97 children: a trie of ~7 inode objects on the path), 5, 5,
    // @, contents, chunk 0 (length is inlined).
    assert!(added <= 16, "added {added} objects");
    // Both roots stay readable.
    let old = Durable::new(repo.checkout(h1).unwrap());
    assert_ne!(
        old.read(&k("/d/5/5"), 0, 9).unwrap().unwrap(),
        b"new bytes".to_vec()
    );
    let new = Durable::new(repo.checkout(h2).unwrap());
    assert_eq!(new.read(&k("/d/5/5"), 0, 9).unwrap().unwrap(), b"new bytes");
    assert_eq!(repo.roots().unwrap(), {
        let mut r = vec![h1, h2];
        r.sort();
        r
    });
}

#[test]
fn checkout_of_unknown_root_fails() {
    let repo = Repo::in_memory();
    let err = repo.checkout(Hash([9; 32])).unwrap_err();
    assert!(matches!(err, TreeError::Store(StoreError::Missing(_))));
    assert!(!repo.has(&Hash([9; 32])).unwrap());
}

#[test]
fn trees_move_between_repos() {
    let a = Repo::in_memory();
    let b = Repo::in_memory();
    let d = sample(50);
    let h = a.commit(d.tree()).unwrap();
    let t = a.checkout(h).unwrap();
    // A lazy tree of repo `a` committed into `b` is copied over in full.
    assert_eq!(b.commit(&t).unwrap(), h);
    drop(a);
    let back = Durable::new(b.checkout(h).unwrap());
    let (mut x, mut y) = (Vec::new(), Vec::new());
    dump(&d, "", &mut x);
    dump(&back, "", &mut y);
    assert_eq!(x, y);
}

#[test]
fn gc_keeps_reachable_and_drops_the_rest() {
    for disk in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn NodeStore> = if disk {
            Arc::new(DiskStore::open(dir.path().join("store.redb")).unwrap())
        } else {
            Arc::new(MemStore::new())
        };
        let repo = Repo::new(store.clone());
        let mut d = sample(200);
        let h1 = repo.commit(d.tree()).unwrap();
        let n1 = store.object_count().unwrap();
        d.set(&k("/only/in/two"), &[3; 2000]).unwrap();
        d.delete(&k("/d/1")).unwrap();
        let h2 = repo.commit(d.tree()).unwrap();
        d.set(&k("/only/in/three"), &[4; 700]).unwrap();
        let h3 = repo.commit(d.tree()).unwrap();

        // Keep h1 and h3: objects only in h2 go.
        let stats = repo.gc(&[h1, h3]).unwrap();
        assert!(stats.deleted > 0);
        assert_eq!(stats.live, store.object_count().unwrap());
        assert_eq!(repo.roots().unwrap().len(), 2);
        assert!(!repo.has(&h2).unwrap());
        for h in [h1, h3] {
            let t = repo.checkout(h).unwrap();
            let mut all = Vec::new();
            dump(&Durable::new(t.clone()), "", &mut all);
            assert!(all.len() >= 197);
        }
        // Keep only h1: back to the objects of the first commit.
        repo.gc(&[h1]).unwrap();
        assert_eq!(store.object_count().unwrap(), n1);
        assert!(matches!(
            repo.checkout(h3),
            Err(TreeError::Store(StoreError::Missing(_)))
        ));
        // Keep nothing: empty store.
        repo.gc(&[]).unwrap();
        assert_eq!(store.object_count().unwrap(), 0);
        assert!(repo.roots().unwrap().is_empty());
    }
}

#[test]
fn lazy_tree_whose_objects_were_collected_reports_missing() {
    let repo = Repo::in_memory();
    let d = sample(20);
    let h = repo.commit(d.tree()).unwrap();
    let t = repo.checkout(h).unwrap();
    repo.gc(&[]).unwrap();
    let err = t.get(&["d", "3"]).unwrap_err();
    assert!(matches!(err, TreeError::Store(StoreError::Missing(_))));
}

#[test]
fn disk_reopen_after_drop_and_old_roots() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    let mut roots = Vec::new();
    let mut expected = Vec::new();
    {
        let repo = open_repo(&path).unwrap();
        let mut d = sample(100);
        for round in 0..5u8 {
            d.set(&k(&format!("/round/{round}")), &[round; 600])
                .unwrap();
            d.write(&k("/d/0/0"), 0, &[round; 3]).unwrap();
            roots.push(repo.commit(d.tree()).unwrap());
            let mut all = Vec::new();
            dump(&d, "", &mut all);
            expected.push(all);
        }
    }
    let repo = open_repo(&path).unwrap();
    let mut sorted = roots.clone();
    sorted.sort();
    assert_eq!(repo.roots().unwrap(), sorted);
    // Oldest first: every root is intact after the later commits.
    for (h, exp) in roots.iter().zip(&expected) {
        let t = repo.checkout(*h).unwrap();
        assert_eq!(t.hash().unwrap(), *h);
        let mut all = Vec::new();
        dump(&Durable::new(t), "", &mut all);
        assert_eq!(&all, exp);
    }
}

#[test]
fn large_tree_round_trips_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    // 100k keys, small values (accounts-like), spread under 256 dirs.
    let mut t = Tree::empty();
    let mut d = Durable::new(std::mem::take(&mut t));
    for i in 0..100_000u32 {
        let key = k(&format!("/evm/{:02x}/{i:08x}", i % 256));
        d.set(&key, &i.to_le_bytes()).unwrap();
    }
    let h = {
        let repo = open_repo(&path).unwrap();
        repo.commit(d.tree()).unwrap()
    };
    let repo = open_repo(&path).unwrap();
    let back = Durable::new(repo.checkout(h).unwrap());
    for i in (0..100_000u32).step_by(997) {
        let key = k(&format!("/evm/{:02x}/{i:08x}", i % 256));
        assert_eq!(back.read_all(&key).unwrap().unwrap(), i.to_le_bytes());
    }
    assert_eq!(back.subkeys(&k("/evm")).unwrap().len(), 256);
    assert_eq!(back.list_size(&k("/evm/07")).unwrap(), 391);
    // A full re-hash from loaded objects gives the same root.
    let mut copy = Durable::new(back.tree().clone());
    copy.set(&k("/x"), b"1").unwrap();
    copy.delete(&k("/x")).unwrap();
    assert_eq!(copy.tree().hash().unwrap(), h);

    // Edits inside lazily loaded large nodes (inode tries) hash exactly as
    // the same edits on the in-memory tree: replace, add, and delete most
    // of one directory (trie back to a flat node).
    let mut lazy = Durable::new(repo.checkout(h).unwrap());
    let edit = |d: &mut Durable| {
        d.set(&k("/evm/07/00000007"), b"changed").unwrap();
        d.set(&k("/evm/07/new"), b"added").unwrap();
        for i in (7..100_000u32).step_by(256).skip(5) {
            d.delete(&k(&format!("/evm/07/{i:08x}"))).unwrap();
        }
    };
    edit(&mut lazy);
    edit(&mut d);
    assert_eq!(lazy.list_size(&k("/evm/07")).unwrap(), 6);
    let h2 = lazy.tree().hash().unwrap();
    assert_eq!(h2, d.tree().hash().unwrap());
    assert_eq!(repo.commit(lazy.tree()).unwrap(), h2);
    // Lazy trees hold their store open: drop them before reopening.
    drop((repo, lazy, back, copy));
    let repo = open_repo(&path).unwrap();
    let again = Durable::new(repo.checkout(h2).unwrap());
    assert_eq!(
        again.read_all(&k("/evm/07/new")).unwrap().unwrap(),
        b"added"
    );
    assert_eq!(again.subkeys(&k("/evm/07")).unwrap().len(), 6);
}

/// A [`MemStore`] whose next batch fails at commit (after every object was
/// handed over), as a full disk would.
struct FailOnce {
    inner: MemStore,
    fail: std::sync::atomic::AtomicBool,
}

impl NodeStore for FailOnce {
    fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(hash)
    }
    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        self.inner.contains(hash)
    }
    fn write_batch(&self, objects: &[(Hash, Vec<u8>)], roots: &[Hash]) -> Result<(), StoreError> {
        if self.fail.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Backend("injected failure".into()));
        }
        self.inner.write_batch(objects, roots)
    }
    fn roots(&self) -> Result<Vec<Hash>, StoreError> {
        self.inner.roots()
    }
    fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep_roots: &[Hash]) -> Result<u64, StoreError> {
        self.inner.retain(live, keep_roots)
    }
    fn object_count(&self) -> Result<u64, StoreError> {
        self.inner.object_count()
    }
}

#[test]
fn failed_commit_leaves_nothing_marked_as_stored() {
    let store = Arc::new(FailOnce {
        inner: MemStore::new(),
        fail: std::sync::atomic::AtomicBool::new(false),
    });
    let repo = Repo::new(store.clone());
    let mut d = sample(200);
    let h1 = repo.commit(d.tree()).unwrap();
    d.set(&k("/d/new/key"), &[7; 900]).unwrap();
    d.set(&k("/d/3/3"), b"changed").unwrap();
    store.fail.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(repo.commit(d.tree()).is_err());
    assert_eq!(store.roots().unwrap(), vec![h1]);
    // The retry writes every object the failed batch had: the new root is
    // complete (checked by reading it all back, and by GC's walk).
    let h2 = repo.commit(d.tree()).unwrap();
    let back = Durable::new(repo.checkout(h2).unwrap());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    dump(&d, "", &mut a);
    dump(&back, "", &mut b);
    assert_eq!(a, b);
    let stats = repo.gc(&[h2]).unwrap();
    assert_eq!(stats.live, store.object_count().unwrap());
}

/// The same on the pack file: a batch streamed over several write chunks
/// and committed survives a reopen with every object readable.
#[test]
fn large_streamed_commit_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.pack");
    let mut d = Durable::default();
    for i in 0..3000u32 {
        let v: Vec<u8> = (0..2000).map(|j| (i as usize * 7 + j) as u8).collect();
        d.set(&k(&format!("/big/{}/{i}", i % 61)), &v).unwrap();
    }
    let h = {
        let repo = open_repo(&path).unwrap();
        repo.commit(d.tree()).unwrap()
    };
    let repo = open_repo(&path).unwrap();
    assert_eq!(repo.roots().unwrap(), vec![h]);
    let back = Durable::new(repo.checkout(h).unwrap());
    let (mut a, mut b) = (Vec::new(), Vec::new());
    dump(&d, "", &mut a);
    dump(&back, "", &mut b);
    assert_eq!(a.len(), 3000);
    assert_eq!(a, b);
}

/// Every object reachable from `root` is in `repo`'s store.
fn complete(repo: &Repo, root: Hash) {
    let mut live = std::collections::HashSet::new();
    repo.mark_live(&[root], &mut live).unwrap();
    assert!(live.len() > 1);
}

#[test]
fn changed_tries_commit_completely_into_any_repo_and_after_gc() {
    // Nodes of ~30–100 entries: inode tries whose sides a commit skips when
    // it knows them stored (clean sides of changed inodes).
    let a = Repo::in_memory();
    let mut d = sample(3000);
    a.commit(d.tree()).unwrap();
    let mut round = 0u32;
    let mut change = |d: &mut Durable| {
        round += 1;
        d.set(
            &k(&format!("/d/{}/{}", round * 7 % 97, 10_000 + round)),
            b"new",
        )
        .unwrap();
        d.set(&k(&format!("/d/{}/{}", round % 97, round)), b"changed")
            .unwrap();
        d.delete(&k(&format!("/d/{}/{}", (round + 3) % 97, round + 3)))
            .unwrap();
    };
    for _ in 0..4 {
        change(&mut d);
        let h = a.commit(d.tree()).unwrap();
        complete(&a, h);
    }
    // Into another repo: nothing is known stored there.
    change(&mut d);
    let b = Repo::in_memory();
    let hb = b.commit(d.tree()).unwrap();
    complete(&b, hb);
    // Back into the first one, then after a GC that dropped everything.
    change(&mut d);
    let h = a.commit(d.tree()).unwrap();
    complete(&a, h);
    a.gc(&[]).unwrap();
    change(&mut d);
    let h = a.commit(d.tree()).unwrap();
    complete(&a, h);
    // A checked-out (lazy) tree changed and committed elsewhere.
    let mut lazy = Durable::new(a.checkout(h).unwrap());
    change(&mut lazy);
    let c = Repo::in_memory();
    let hc = c.commit(lazy.tree()).unwrap();
    complete(&c, hc);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    dump(&lazy, "", &mut x);
    dump(&Durable::new(c.checkout(hc).unwrap()), "", &mut y);
    assert_eq!(x, y);
    assert_eq!(hc, lazy.tree().hash().unwrap());
}

/// Etherlink-like shapes (the P2 bench's): tries of long (shared) names,
/// short values inlined in their parent's object and longer ones stored
/// apart, changed and removed a few keys at a time. Each commit's root equals the hash
/// of the same key set built from scratch, and reads back whole from the
/// store.
#[test]
fn long_names_and_inlined_values_commit_like_a_fresh_tree() {
    let repo = Repo::in_memory();
    let name =
        |i: u32, w: usize| format!("{:0w$x}", u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let value = |i: u32, round: u32| -> Vec<u8> {
        let len = 20 + (i as usize * 13 + round as usize) % 100;
        (0..len).map(|j| (i + round + j as u32) as u8).collect()
    };
    let mut model = std::collections::BTreeMap::new();
    let mut d = Durable::default();
    for i in 0..400u32 {
        let key = if i % 3 == 0 {
            format!("/evm/accounts/{}/storage/{}", name(i % 50, 40), name(i, 64))
        } else {
            format!("/evm/accounts/{}/balance", name(i, 40))
        };
        d.set(&k(&key), &value(i, 0)).unwrap();
        model.insert(key, value(i, 0));
    }
    for round in 1..6u32 {
        for j in 0..25u32 {
            let i = (round * 97 + j * 31) % 400;
            let key = format!("/evm/accounts/{}/balance", name(i, 40));
            d.set(&k(&key), &value(i, round)).unwrap();
            model.insert(key, value(i, round));
            // Removals of trie entries (whole accounts) shrink tries as well.
            let gone = format!("/evm/accounts/{}", name((i + 200) % 400, 40));
            d.delete(&k(&gone)).unwrap();
            model.retain(|key, _| !key.starts_with(&format!("{gone}/")));
        }
        let h = repo.commit(d.tree()).unwrap();
        let mut fresh = Durable::default();
        for (key, v) in &model {
            fresh.set(&k(key), v).unwrap();
        }
        assert_eq!(h, fresh.tree().hash().unwrap(), "round {round}");
        let back = Durable::new(repo.checkout(h).unwrap());
        let (mut x, mut y) = (Vec::new(), Vec::new());
        dump(&back, "", &mut x);
        dump(&fresh, "", &mut y);
        assert_eq!(x, y, "round {round}");
        complete(&repo, h);
    }
}
