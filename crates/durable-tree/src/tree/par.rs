//! Work on a changed tree split over threads (issue 15: the commit is the
//! node's hot path, `BENCHMARKS.md`, P2). [`frontier`] finds, breadth-first
//! from the root, disjoint parts of the tree that still need the work (a
//! caller's predicate), until there are [`FRONTIER`] of them; [`run`] gives
//! them to threads one at a time and hands the results to the caller in the
//! parts' order. The parts are the same whatever the number of threads, so
//! what a caller builds from the results in order does not depend on it (but
//! for a subtree shared by two parts, which either may write first).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::inode::{Big, Children, Part};
use super::{Repr, Tree, TreeError};
use context_hash::Hash;

/// Parts a frontier aims at: enough that a thread done early takes another
/// (a few large parts do not leave the others idle), few enough that the
/// nodes above them, left to the caller, are a small share of the work.
pub(crate) const FRONTIER: usize = 64;

/// Parts below which the work is left to one thread: a few subtrees are
/// cheaper to hash than a thread is to start.
pub(crate) const MIN_PARTS: usize = FRONTIER / 2;

/// Levels the search goes down at most (a deep path of single children).
const MAX_LEVELS: usize = 64;

/// Push the parts right below `p` that satisfy `pending` into `out`;
/// `false` when `p` is one piece (contents, a compact durable value, a lazy
/// tree). The root inode of a trie is not a part of its own (its object is
/// its node's): a trie node's parts are its root inode's sides.
fn expand<'a>(p: Part<'a>, pending: &impl Fn(Part<'a>) -> bool, out: &mut Vec<Part<'a>>) -> bool {
    let mut push = |c: Part<'a>| {
        if pending(c) {
            out.push(c);
        }
    };
    match p {
        Part::Tree(t) => match &t.0 {
            Repr::Node(n) => match &n.children {
                Children::Flat(m) => m.iter().for_each(|(_, c)| push(Part::Tree(c))),
                Children::Big(b) => match &**b {
                    Big::Trie(root) => root.for_each_part(push),
                    Big::Value(_) => return false,
                },
            },
            Repr::Contents(_) | Repr::Lazy(_) => return false,
        },
        Part::Inode(i) => i.for_each_part(push),
    }
    true
}

/// Parts below `t` satisfying `pending`, found breadth-first until there
/// are [`FRONTIER`] of them (or nothing is left to split); the nodes
/// expanded on the way (above the parts) are not in it. Empty when `t`
/// itself is not pending. A subtree met twice on the way (shared by two
/// paths) is one part; one shared deeper inside two parts is walked by both
/// (harmless: the same hashes, the same objects, written twice).
pub(crate) fn frontier<'a>(t: &'a Tree, pending: impl Fn(Part<'a>) -> bool) -> Vec<Part<'a>> {
    let root = Part::Tree(t);
    if !pending(root) {
        return Vec::new();
    }
    let mut parts = vec![root];
    let mut next = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for _ in 0..MAX_LEVELS {
        if parts.len() >= FRONTIER {
            break;
        }
        let mut grew = false;
        for p in parts.drain(..) {
            if expand(p, &pending, &mut next) {
                grew = true;
            } else {
                next.push(p);
            }
        }
        next.retain(|p| seen.insert(p.addr()));
        std::mem::swap(&mut parts, &mut next);
        if !grew {
            break;
        }
    }
    parts
}

impl Part<'_> {
    /// The address of the shared value behind this part (the same for two
    /// places holding the same subtree).
    fn addr(self) -> usize {
        match self {
            Part::Tree(t) => t.addr(),
            Part::Inode(i) => i.addr(),
        }
    }
}

/// Whether hashing `p` computes anything (nothing memoised).
fn hash_pending(p: Part<'_>) -> bool {
    match p {
        Part::Tree(t) => match &t.0 {
            Repr::Node(n) => !n.memo.is_set(),
            Repr::Contents(c) => !c.memo.is_set(),
            Repr::Lazy(_) => false,
        },
        Part::Inode(i) => i.hash_pending(),
    }
}

/// [`Tree::hash`] of `t`, its pending parts hashed on up to `threads`
/// threads first when there are at least [`MIN_PARTS`] of them.
pub(crate) fn hash(t: &Tree, threads: usize) -> Result<Hash, TreeError> {
    if threads > 1 {
        let parts = frontier(t, hash_pending);
        if parts.len() >= MIN_PARTS {
            run(
                &parts,
                threads,
                |p| match p {
                    Part::Tree(c) => c.hash().map(drop),
                    Part::Inode(i) => i.hash().map(drop),
                },
                |()| Ok(()),
            )?;
        }
    }
    t.hash()
}

/// Threads a commit (and a large hash) is split over by default: the
/// machine's, at most 4.
pub fn default_threads() -> usize {
    static N: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *N.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(4)))
}

/// `f` of every part, on up to `threads` threads (the caller's included;
/// the caller's alone inside [`super::in_memory_only`], a mode of its
/// thread), each result handed to `consume` on the caller's thread in the
/// parts' order, once it and those before it are there: the caller consumes
/// between its own parts, so results wait while it works on a large part
/// (memory: up to the results of every part). Stops at the first error, of
/// `f` or of `consume`, in that order. `f` may run on any thread; the
/// helpers' `hash_trace` records are handed over. On a 2-core machine, a
/// caller already running beside another busy thread oversubscribes it.
pub(crate) fn run<'a, T: Send, E: Send>(
    parts: &[Part<'a>],
    threads: usize,
    f: impl Fn(Part<'a>) -> Result<T, E> + Sync,
    mut consume: impl FnMut(T) -> Result<(), E>,
) -> Result<(), E> {
    let threads = if super::memory_only() { 1 } else { threads };
    let taken = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<Result<T, E>>>> = parts.iter().map(|_| Mutex::new(None)).collect();
    let lock = |i: usize| slots[i].lock().unwrap_or_else(|e| e.into_inner());
    // Take the next part and fill its slot; `false` when none is left.
    let step = || {
        let i = taken.fetch_add(1, Ordering::Relaxed);
        let Some(&p) = parts.get(i) else { return false };
        let r = f(p);
        if r.is_err() {
            // Let the others stop too.
            taken.store(parts.len(), Ordering::Relaxed);
        }
        *lock(i) = Some(r);
        true
    };
    let mut next = 0;
    // Consume the results there in order; `Err` at the first error.
    let mut drain = |upto: usize| -> Result<(), E> {
        while next < upto {
            let Some(r) = lock(next).take() else { break };
            next += 1;
            if let Err(e) = r.and_then(&mut consume) {
                taken.store(parts.len(), Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    };
    std::thread::scope(|s| {
        for _ in 1..threads.min(parts.len()) {
            s.spawn(|| {
                while step() {}
                crate::hash_trace::flush();
            });
        }
        while step() {
            drain(parts.len())?;
        }
        Ok(())
    })?;
    // Every helper is done: what is left is there, or was never computed
    // after an error (whose slot comes first).
    drain(parts.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::durable::{Durable, Key};

    fn set(d: &mut Durable, path: &str, v: &[u8]) {
        d.set(&Key::parse(path.as_bytes()).unwrap(), v).unwrap();
    }

    /// A durable tree of 4000 values under 7 directories, hashed, then
    /// 400 of them rewritten.
    fn changed() -> Durable {
        let mut d = Durable::new(Tree::empty());
        for i in 0..4000 {
            set(
                &mut d,
                &format!("/a{}/k{i}", i % 7),
                format!("v{i}").as_bytes(),
            );
        }
        d.tree().hash().unwrap();
        for i in (0..4000).step_by(10) {
            set(&mut d, &format!("/a{}/k{i}", i % 7), b"changed");
        }
        d
    }

    /// Hashing on threads gives the hash of one thread, the changed
    /// subtrees split into enough parts to be hashed concurrently.
    #[test]
    fn same_hash_on_any_number_of_threads() {
        let alone = changed().tree().hash().unwrap();
        for threads in [2, 3, 8] {
            let d = changed();
            assert!(frontier(d.tree(), hash_pending).len() >= MIN_PARTS);
            assert_eq!(hash(d.tree(), threads).unwrap(), alone, "{threads} threads");
            assert!(!hash_pending(Part::Tree(d.tree())));
        }
    }
}
