//! Proofs of computations that read **and write** a tree (Irmin `Tree.produce_proof` /
//! `verify_proof` of a step whose `after` differs from `before`).
//!
//! One structure, [`StepTree`], runs the computation in both modes ("one semantics, several
//! backends"):
//! * producing: built over a real [`Tree`] ([`StepTree::of_tree`]); every node, inode and
//!   contents is loaded from it on first use and marked as read;
//! * verifying: built from a proof's partial tree ([`StepTree::of_proof`]); reaching a blinded
//!   part is [`ProofError::Blinded`]; the parts used are marked the same way, so the proof of
//!   the same computation can be produced again from the partial tree.
//!
//! What is recorded is what Irmin loads (`irmin/src/irmin/tree.ml`, `irmin/src/irmin-pack/inode.ml`;
//! `docs/reference/wasm-ticks.md` §4):
//! * a read of contents loads them (`Value`); a step looked up in a node loads that node's
//!   inodes on the way to the step (the child itself stays blinded until it is gone through);
//! * writes are kept per node as pending updates, one per step (the last one wins: a removal
//!   then an addition of the same step is one addition), and applied in step order when the
//!   hash is computed, with the inode rules of `inode.ml`: `add` and `remove` first look the
//!   step up (an addition of an equal entry changes nothing, a removal of an absent step
//!   neither); a `Values` inode over 2 entries becomes a `Tree` inode; a removal from a
//!   `Tree` inode whose length falls to 2 or less loads the whole sub-trie (`seq_tree`) and
//!   makes it a `Values` inode; a child of length 1 is dropped without loading more;
//! * changing a node loads none of its other entries' contents: Irmin rebuilds it from their
//!   keys and hashes (`hash_preimage_of_updates` in `tree.ml`, `add`/`remove` in `inode.ml`);
//!   a contents is shown as a value only when the computation read it (`Contents.to_value`)
//!   or read the same bytes elsewhere (`Proof.of_tree`'s `Contents.cached_value` looks the
//!   hash up in the proof `Env`: `pvm_tick`'s `share`);
//! * fresh nodes are hashed from their entries, nothing is loaded for them.

use std::cell::{Cell, OnceCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use context_hash::preimage::{self, bit};
use context_hash::{ENTRIES, Entry, EntryKind, Hash};

use super::{
    BINARY_TREE_PROOF_VERSION, InodeProof, InodeTree, KindedHash, ProofError, ProofTree, TreeProof,
    check_depth, inode_node, root_hash,
};
use crate::tree::{Kind, Tree, TreeError};

/// An object of the tree before the computation: contents or a node, shared between the
/// "before" view (what the proof shows) and the working view.
#[derive(Clone)]
enum Obj {
    C(Rc<CCell>),
    N(Rc<NCell>),
}

struct CCell {
    hash: Hash,
    /// Where to load the bytes from (producing from a real tree).
    src: Option<Tree>,
    bytes: OnceCell<Vec<u8>>,
    read: Cell<bool>,
}

struct NCell {
    hash: Hash,
    src: Option<Tree>,
    /// The root inode (depth 0): `Values` for at most 2 entries.
    root: OnceCell<Inode>,
    opened: Cell<bool>,
}

#[derive(Clone)]
enum Inode {
    /// At most 2 entries, sorted by name.
    Values(Vec<(String, Obj)>),
    /// More than 2 entries, split on the bit of the step hash at this depth.
    Tree {
        len: u64,
        kids: [Option<Rc<ICell>>; ENTRIES],
    },
}

/// An inner inode (depth > 0).
struct ICell {
    hash: Hash,
    /// `None`: blinded in the proof.
    state: Option<Inode>,
    opened: Cell<bool>,
}

impl Obj {
    fn hash(&self) -> Hash {
        match self {
            Obj::C(c) => c.hash,
            Obj::N(n) => n.hash,
        }
    }

    fn kind(&self) -> EntryKind {
        match self {
            Obj::C(_) => EntryKind::Contents,
            Obj::N(_) => EntryKind::Node,
        }
    }

    fn of_tree(t: &Tree) -> Result<Obj, ProofError> {
        let hash = t.hash()?;
        Ok(match t.kind() {
            Kind::Contents => Obj::C(Rc::new(CCell {
                hash,
                src: Some(t.clone()),
                bytes: OnceCell::new(),
                read: Cell::new(false),
            })),
            Kind::Node => Obj::N(Rc::new(NCell {
                hash,
                src: Some(t.clone()),
                root: OnceCell::new(),
                opened: Cell::new(false),
            })),
        })
    }
}

fn blinded_err(path: &[&str]) -> ProofError {
    ProofError::Blinded {
        path: path.join("/"),
    }
}

impl CCell {
    fn read(&self, path: &[&str]) -> Result<Vec<u8>, ProofError> {
        if let Some(b) = self.bytes.get() {
            self.read.set(true);
            return Ok(b.clone());
        }
        let Some(src) = &self.src else {
            return Err(blinded_err(path));
        };
        let b = src
            .get_contents(&[])?
            .ok_or(ProofError::Invalid("contents object is not contents"))?;
        let _ = self.bytes.set(b.clone());
        self.read.set(true);
        Ok(b)
    }
}

impl NCell {
    /// Load the node (its root inode).
    fn open(&self, path: &[&str]) -> Result<&Inode, ProofError> {
        if let Some(r) = self.root.get() {
            self.opened.set(true);
            return Ok(r);
        }
        let Some(src) = &self.src else {
            return Err(blinded_err(path));
        };
        let mut items = Vec::new();
        for (name, _) in src.list(&[])? {
            let child = src
                .get(&[&name])?
                .ok_or(TreeError::Precondition("listed child is present"))?;
            items.push((context_hash::step_hash(&name), name, Obj::of_tree(&child)?));
        }
        let root = canonical(items, 0)?;
        let _ = self.root.set(root);
        self.opened.set(true);
        self.root
            .get()
            .ok_or(ProofError::Invalid("node root just set"))
    }
}

impl ICell {
    fn open(&self, path: &[&str]) -> Result<&Inode, ProofError> {
        match &self.state {
            Some(s) => {
                self.opened.set(true);
                Ok(s)
            }
            None => Err(blinded_err(path)),
        }
    }
}

fn triples<'a>(es: impl Iterator<Item = (&'a str, EntryKind, Hash)>) -> Vec<preimage::Triple<'a>> {
    es.map(|(n, k, h)| (n.as_bytes(), k, h)).collect()
}

fn values_hash(es: &[preimage::Triple<'_>]) -> Hash {
    let mut buf = Vec::new();
    preimage::values(&mut buf, es);
    preimage::blake2b_256(&buf)
}

fn stable_hash(es: &[preimage::Triple<'_>]) -> Hash {
    let mut buf = Vec::new();
    preimage::stable_node(&mut buf, es);
    preimage::blake2b_256(&buf)
}

fn tree_hash(depth: u32, len: u64, kids: &[Option<Hash>; ENTRIES]) -> Hash {
    let mut buf = Vec::new();
    preimage::tree(&mut buf, depth, len, kids);
    preimage::blake2b_256(&buf)
}

/// Hash of an inode at `depth` (`depth = 0` and at most 2 entries: the stable node hash).
fn inode_hash(i: &Inode, depth: u32) -> Hash {
    match i {
        Inode::Values(es) => {
            let t = triples(es.iter().map(|(n, o)| (n.as_str(), o.kind(), o.hash())));
            if depth == 0 {
                stable_hash(&t)
            } else {
                values_hash(&t)
            }
        }
        Inode::Tree { len, kids } => {
            let hs = [
                kids[0].as_ref().map(|c| c.hash),
                kids[1].as_ref().map(|c| c.hash),
            ];
            tree_hash(depth, *len, &hs)
        }
    }
}

/// The canonical inode at `depth` over `items` (step hash, name, object).
fn canonical(mut items: Vec<(Hash, String, Obj)>, depth: u32) -> Result<Inode, ProofError> {
    if items.len() <= ENTRIES {
        items.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
        return Ok(Inode::Values(
            items.into_iter().map(|(_, n, o)| (n, o)).collect(),
        ));
    }
    check_depth(usize::try_from(depth).unwrap_or(usize::MAX))?;
    let len = u64::try_from(items.len()).map_err(|_| ProofError::Invalid("length"))?;
    let (zeros, ones): (Vec<_>, Vec<_>) =
        items.into_iter().partition(|(h, _, _)| bit(h, depth) == 0);
    let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
    let mut kids: [Option<Rc<ICell>>; ENTRIES] = [None, None];
    for (slot, side) in kids.iter_mut().zip([zeros, ones]) {
        if !side.is_empty() {
            let state = canonical(side, next)?;
            *slot = Some(Rc::new(ICell {
                hash: inode_hash(&state, next),
                state: Some(state),
                opened: Cell::new(false),
            }));
        }
    }
    Ok(Inode::Tree { len, kids })
}

/// The object a step names in an inode, loading the inodes on the way.
fn inode_find(
    i: &Inode,
    step: &str,
    sh: &Hash,
    depth: u32,
    path: &[&str],
) -> Result<Option<Obj>, ProofError> {
    match i {
        Inode::Values(es) => Ok(es.iter().find(|(n, _)| n == step).map(|(_, o)| o.clone())),
        Inode::Tree { kids, .. } => match &kids[bit(sh, depth)] {
            None => Ok(None),
            Some(c) => {
                let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
                inode_find(c.open(path)?, step, sh, next, path)
            }
        },
    }
}

fn node_find(n: &NCell, step: &str, path: &[&str]) -> Result<Option<Obj>, ProofError> {
    let root = n.open(path)?;
    inode_find(root, step, &context_hash::step_hash(step), 0, path)
}

fn inode_len(i: &Inode) -> u64 {
    match i {
        Inode::Values(es) => es.len() as u64,
        Inode::Tree { len, .. } => *len,
    }
}

/// A subtree of the working view.
#[derive(Clone)]
enum Work {
    /// Unchanged since before.
    Orig(Obj),
    /// Contents written by the computation.
    Contents(Vec<u8>),
    /// A node with pending updates (`base = None`: a fresh node).
    Node(Box<WNode>),
}

#[derive(Clone)]
struct WNode {
    base: Option<Rc<NCell>>,
    updates: BTreeMap<String, Option<Work>>,
}

fn fresh() -> Work {
    Work::Node(Box::new(WNode {
        base: None,
        updates: BTreeMap::new(),
    }))
}

/// Where a walk stands.
enum Cur<'a> {
    W(&'a Work),
    O(Obj),
}

/// The child `step` of a working subtree (`None`: absent or below contents).
fn child<'a>(c: Cur<'a>, step: &str, path: &[&str]) -> Result<Option<Cur<'a>>, ProofError> {
    match c {
        Cur::W(Work::Orig(o)) => obj_child(o, step, path),
        Cur::O(o) => obj_child(&o, step, path),
        Cur::W(Work::Contents(_)) => Ok(None),
        Cur::W(Work::Node(wn)) => match wn.updates.get(step) {
            Some(Some(w)) => Ok(Some(Cur::W(w))),
            Some(None) => Ok(None),
            None => match &wn.base {
                None => Ok(None),
                Some(n) => Ok(node_find(n, step, path)?.map(Cur::O)),
            },
        },
    }
}

fn obj_child<'a>(o: &Obj, step: &str, path: &[&str]) -> Result<Option<Cur<'a>>, ProofError> {
    match o {
        Obj::C(_) => Ok(None),
        Obj::N(n) => Ok(node_find(n, step, path)?.map(Cur::O)),
    }
}

fn is_empty(w: &Work, path: &[&str]) -> Result<bool, ProofError> {
    Ok(match w {
        Work::Orig(Obj::C(_)) | Work::Contents(_) => false,
        Work::Orig(Obj::N(n)) => n.hash == crate::tree::empty_node_hash(),
        Work::Node(wn) => match &wn.base {
            None => wn.updates.values().all(Option::is_none),
            Some(n) => {
                let mut count = i128::from(inode_len(n.open(path)?));
                for (step, u) in &wn.updates {
                    let existed = node_find(n, step, path)?.is_some();
                    count += i128::from(u.is_some()) - i128::from(existed);
                }
                count <= 0
            }
        },
    })
}

/// Apply `new` (`None`: remove) at `path` below `w` (Irmin `update_tree`).
fn update(w: &mut Work, path: &[&str], full: &[&str], new: Option<Work>) -> Result<(), ProofError> {
    let Some((step, rest)) = path.split_first() else {
        *w = new.unwrap_or_else(fresh);
        return Ok(());
    };
    let wn: &mut WNode = match w {
        Work::Node(wn) => wn,
        other => {
            let base = match other {
                Work::Orig(Obj::N(n)) => Some(n.clone()),
                _ => None,
            };
            *other = Work::Node(Box::new(WNode {
                base,
                updates: BTreeMap::new(),
            }));
            match other {
                Work::Node(wn) => wn,
                _ => return Err(ProofError::Invalid("node just made")),
            }
        }
    };
    if rest.is_empty() {
        let old_is_none = match wn.updates.get(*step) {
            Some(u) => u.is_none(),
            None => match &wn.base {
                None => true,
                Some(n) => node_find(n, step, full)?.is_none(),
            },
        };
        let new = match new {
            Some(t) if is_empty(&t, full)? => None,
            other => other,
        };
        if new.is_none() && old_is_none {
            return Ok(());
        }
        wn.updates.insert((*step).to_string(), new);
        return Ok(());
    }
    // The pending update of `step` is taken out (not cloned: a clone costs the size of the
    // subtree changed so far, at every write below it) and put back changed.
    let (old, taken) = match wn.updates.remove(*step) {
        Some(u) => (u, true),
        None => (
            match &wn.base {
                None => None,
                Some(n) => node_find(n, step, full)?.map(Work::Orig),
            },
            false,
        ),
    };
    let through_node = matches!(old, Some(Work::Node(_)) | Some(Work::Orig(Obj::N(_))));
    if new.is_none() && !through_node {
        // Removing below contents or below nothing: unchanged.
        if taken {
            wn.updates.insert((*step).to_string(), old);
        }
        return Ok(());
    }
    let mut c = match old {
        Some(c @ Work::Node(_)) | Some(c @ Work::Orig(Obj::N(_))) => c,
        _ => fresh(),
    };
    let r = update(&mut c, rest, full, new).and_then(|()| is_empty(&c, full));
    let empty = match r {
        Ok(e) => e,
        Err(e) => {
            // The step fails; the tree keeps what it had (as far as the failure went).
            wn.updates.insert((*step).to_string(), Some(c));
            return Err(e);
        }
    };
    wn.updates
        .insert((*step).to_string(), if empty { None } else { Some(c) });
    Ok(())
}

/// A working inode while pending updates are applied.
enum WI {
    Cell(Rc<ICell>),
    Values(Vec<(String, EntryKind, Hash)>),
    Tree {
        len: u64,
        kids: [Option<Box<WI>>; ENTRIES],
    },
}

fn wi_of(i: &Inode) -> WI {
    match i {
        Inode::Values(es) => WI::Values(
            es.iter()
                .map(|(n, o)| (n.clone(), o.kind(), o.hash()))
                .collect(),
        ),
        Inode::Tree { len, kids } => WI::Tree {
            len: *len,
            kids: [
                kids[0].as_ref().map(|c| Box::new(WI::Cell(c.clone()))),
                kids[1].as_ref().map(|c| Box::new(WI::Cell(c.clone()))),
            ],
        },
    }
}

/// Load a working inode in place.
fn wi_load(w: &mut WI, path: &[&str]) -> Result<(), ProofError> {
    if let WI::Cell(c) = w {
        let loaded = wi_of(c.open(path)?);
        *w = loaded;
    }
    Ok(())
}

fn wi_find(
    w: &mut WI,
    step: &str,
    sh: &Hash,
    depth: u32,
    path: &[&str],
) -> Result<Option<(EntryKind, Hash)>, ProofError> {
    wi_load(w, path)?;
    match w {
        WI::Values(es) => Ok(es
            .iter()
            .find(|(n, _, _)| n == step)
            .map(|(_, k, h)| (*k, *h))),
        WI::Tree { kids, .. } => match &mut kids[bit(sh, depth)] {
            None => Ok(None),
            Some(c) => wi_find(
                c,
                step,
                sh,
                depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?,
                path,
            ),
        },
        WI::Cell(_) => Err(ProofError::Invalid("inode just loaded")),
    }
}

fn wi_len(w: &WI) -> Result<u64, ProofError> {
    Ok(match w {
        WI::Cell(c) => match &c.state {
            Some(s) => inode_len(s),
            None => return Err(ProofError::Invalid("length of a blinded inode")),
        },
        WI::Values(es) => es.len() as u64,
        WI::Tree { len, .. } => *len,
    })
}

/// The canonical working inode at `depth` over entries with known step hashes.
fn wi_canonical(
    mut es: Vec<(Hash, String, EntryKind, Hash)>,
    depth: u32,
) -> Result<WI, ProofError> {
    if es.len() <= ENTRIES {
        es.sort_by(|a, b| a.1.as_bytes().cmp(b.1.as_bytes()));
        return Ok(WI::Values(
            es.into_iter().map(|(_, n, k, h)| (n, k, h)).collect(),
        ));
    }
    check_depth(usize::try_from(depth).unwrap_or(usize::MAX))?;
    let len = es.len() as u64;
    let (zeros, ones): (Vec<_>, Vec<_>) = es.into_iter().partition(|e| bit(&e.0, depth) == 0);
    let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
    let mut kids: [Option<Box<WI>>; ENTRIES] = [None, None];
    for (slot, side) in kids.iter_mut().zip([zeros, ones]) {
        if !side.is_empty() {
            *slot = Some(Box::new(wi_canonical(side, next)?));
        }
    }
    Ok(WI::Tree { len, kids })
}

/// Every entry of a working sub-trie (loading all of it: Irmin `seq_tree`).
fn wi_entries(
    w: &mut WI,
    path: &[&str],
    out: &mut Vec<(String, EntryKind, Hash)>,
) -> Result<(), ProofError> {
    wi_load(w, path)?;
    match w {
        WI::Values(es) => out.extend(es.iter().cloned()),
        WI::Tree { kids, .. } => {
            for c in kids.iter_mut().flatten() {
                wi_entries(c, path, out)?;
            }
        }
        WI::Cell(_) => return Err(ProofError::Invalid("inode just loaded")),
    }
    Ok(())
}

fn wi_add(
    w: &mut WI,
    step: &str,
    sh: &Hash,
    entry: (EntryKind, Hash),
    depth: u32,
    replace: bool,
    path: &[&str],
) -> Result<(), ProofError> {
    let (kind, h) = entry;
    wi_load(w, path)?;
    match w {
        WI::Values(es) => {
            match es.iter_mut().find(|(n, _, _)| n == step) {
                Some(e) => *e = (step.to_string(), kind, h),
                None => es.push((step.to_string(), kind, h)),
            }
            if es.len() > ENTRIES {
                let all = std::mem::take(es)
                    .into_iter()
                    .map(|(n, k, h)| (context_hash::step_hash(&n), n, k, h))
                    .collect();
                *w = wi_canonical(all, depth)?;
            } else {
                es.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            }
        }
        WI::Tree { len, kids } => {
            if !replace {
                *len = len.checked_add(1).ok_or(ProofError::Invalid("length"))?;
            }
            let slot = &mut kids[bit(sh, depth)];
            match slot {
                None => *slot = Some(Box::new(WI::Values(vec![(step.to_string(), kind, h)]))),
                Some(c) => {
                    let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
                    wi_add(c, step, sh, (kind, h), next, replace, path)?;
                }
            }
        }
        WI::Cell(_) => return Err(ProofError::Invalid("inode just loaded")),
    }
    Ok(())
}

fn wi_remove(
    w: &mut WI,
    step: &str,
    sh: &Hash,
    depth: u32,
    path: &[&str],
) -> Result<(), ProofError> {
    wi_load(w, path)?;
    match w {
        WI::Values(es) => es.retain(|(n, _, _)| n != step),
        WI::Tree { len, kids } => {
            let newlen = len.checked_sub(1).ok_or(ProofError::Invalid("length"))?;
            if newlen <= ENTRIES as u64 {
                let mut all = Vec::new();
                wi_entries(w, path, &mut all)?;
                all.retain(|(n, _, _)| n != step);
                all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
                *w = WI::Values(all);
                return Ok(());
            }
            let slot = &mut kids[bit(sh, depth)];
            let Some(c) = slot else {
                return Err(ProofError::Invalid("removed step not in its inode"));
            };
            if wi_len(c)? == 1 {
                *slot = None;
            } else {
                let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
                wi_remove(c, step, sh, next, path)?;
            }
            *len = newlen;
        }
        WI::Cell(_) => return Err(ProofError::Invalid("inode just loaded")),
    }
    Ok(())
}

fn wi_hash(w: &WI, depth: u32) -> Result<Hash, ProofError> {
    Ok(match w {
        WI::Cell(c) => c.hash,
        WI::Values(es) => {
            let t = triples(es.iter().map(|(n, k, h)| (n.as_str(), *k, *h)));
            if depth == 0 {
                stable_hash(&t)
            } else {
                values_hash(&t)
            }
        }
        WI::Tree { len, kids } => {
            let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
            let mut hs = [None, None];
            for (slot, k) in hs.iter_mut().zip(kids.iter()) {
                if let Some(k) = k {
                    *slot = Some(wi_hash(k, next)?);
                }
            }
            tree_hash(depth, *len, &hs)
        }
    })
}

/// Kind and hash of a working subtree, applying pending updates (this may load inodes).
fn work_hash(w: &Work, path: &mut Vec<String>) -> Result<(EntryKind, Hash), ProofError> {
    match w {
        Work::Orig(o) => Ok((o.kind(), o.hash())),
        Work::Contents(v) => Ok((EntryKind::Contents, context_hash::contents_hash(v))),
        Work::Node(wn) => {
            let mut new = Vec::with_capacity(wn.updates.len());
            for (step, u) in &wn.updates {
                let v = match u {
                    Some(c) => {
                        path.push(step.clone());
                        let r = work_hash(c, path);
                        path.pop();
                        Some(r?)
                    }
                    None => None,
                };
                new.push((step, v));
            }
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            match &wn.base {
                None => {
                    let es: Vec<Entry<'_>> = new
                        .iter()
                        .filter_map(|(s, v)| {
                            v.map(|(kind, hash)| Entry {
                                name: s.as_str(),
                                kind,
                                hash,
                            })
                        })
                        .collect();
                    Ok((EntryKind::Node, context_hash::node_hash(&es)))
                }
                Some(n) if new.is_empty() => Ok((EntryKind::Node, n.hash)),
                Some(n) => {
                    let mut root = wi_of(n.open(&p)?);
                    for (step, v) in new {
                        let sh = context_hash::step_hash(step);
                        let found = wi_find(&mut root, step, &sh, 0, &p)?;
                        match v {
                            Some((k, h)) => {
                                if found != Some((k, h)) {
                                    wi_add(&mut root, step, &sh, (k, h), 0, found.is_some(), &p)?;
                                }
                            }
                            None => {
                                if found.is_some() {
                                    wi_remove(&mut root, step, &sh, 0, &p)?;
                                }
                            }
                        }
                    }
                    Ok((EntryKind::Node, wi_hash(&root, 0)?))
                }
            }
        }
    }
}

/// A tree being changed by one computation, recording what it loads (see the module doc).
/// Clones share what they load (the proof records the reads of all of them).
#[derive(Clone)]
pub struct StepTree {
    before: Obj,
    work: Work,
}

impl StepTree {
    /// Over a real tree: the proof producer's side.
    pub fn of_tree(t: &Tree) -> Result<StepTree, ProofError> {
        let before = Obj::of_tree(t)?;
        Ok(StepTree {
            work: Work::Orig(before.clone()),
            before,
        })
    }

    /// Over a proof's partial tree: the verifier's side (blinded parts cannot be reached).
    pub fn of_proof(p: &ProofTree) -> Result<StepTree, ProofError> {
        let before = obj_of_proof(p, 0)?;
        Ok(StepTree {
            work: Work::Orig(before.clone()),
            before,
        })
    }

    fn walk(&self, path: &[&str]) -> Result<Option<Cur<'_>>, ProofError> {
        let mut cur = Cur::W(&self.work);
        for step in path {
            match child(cur, step, path)? {
                Some(c) => cur = c,
                None => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// The contents at `path` (Irmin `Tree.find`): `None` when absent or a node.
    pub fn find_value(&self, path: &[&str]) -> Result<Option<Vec<u8>>, ProofError> {
        Ok(match self.walk(path)? {
            None => None,
            Some(Cur::W(Work::Contents(v))) => Some(v.clone()),
            Some(Cur::W(Work::Orig(Obj::C(c)))) => Some(c.read(path)?),
            Some(Cur::O(Obj::C(c))) => Some(c.read(path)?),
            Some(_) => None,
        })
    }

    /// The kind of the subtree at `path` without loading it (Irmin `Tree.find_tree`).
    pub fn find_kind(&self, path: &[&str]) -> Result<Option<Kind>, ProofError> {
        Ok(match self.walk(path)? {
            None => None,
            Some(Cur::W(Work::Contents(_)))
            | Some(Cur::W(Work::Orig(Obj::C(_))))
            | Some(Cur::O(Obj::C(_))) => Some(Kind::Contents),
            Some(_) => Some(Kind::Node),
        })
    }

    /// Set contents at `path` (Irmin `Tree.add`).
    pub fn add(&mut self, path: &[&str], bytes: Vec<u8>) -> Result<(), ProofError> {
        update(&mut self.work, path, path, Some(Work::Contents(bytes)))
    }

    /// Put back at `to` the subtree found at `from` in the tree before the computation
    /// (Irmin `Tree.add_tree` of a subtree kept from the decoding, e.g. a lazy structure's
    /// origin); an absent `from` removes `to`.
    pub fn copy_from_before(&mut self, from: &[&str], to: &[&str]) -> Result<(), ProofError> {
        let mut cur = self.before.clone();
        for step in from {
            match obj_child(&cur, step, from)? {
                Some(Cur::O(o)) => cur = o,
                _ => return self.remove(to),
            }
        }
        update(&mut self.work, to, to, Some(Work::Orig(cur)))
    }

    /// Remove the subtree at `path` (Irmin `Tree.remove`), pruning emptied parents.
    pub fn remove(&mut self, path: &[&str]) -> Result<(), ProofError> {
        update(&mut self.work, path, path, None)
    }

    /// Hash of the tree now (applies the pending updates, which may load inodes).
    pub fn hash(&self) -> Result<KindedHash, ProofError> {
        let (k, h) = work_hash(&self.work, &mut Vec::new())?;
        Ok(match k {
            EntryKind::Node => KindedHash::Node(h),
            EntryKind::Contents => KindedHash::Value(h),
        })
    }

    /// Hash of the tree before the computation.
    pub fn before_hash(&self) -> KindedHash {
        match &self.before {
            Obj::C(c) => KindedHash::Value(c.hash),
            Obj::N(n) => KindedHash::Node(n.hash),
        }
    }

    /// The partial tree of what was loaded so far (the proof's `state`).
    pub fn proof_state(&self) -> Result<ProofTree, ProofError> {
        out_obj(&self.before)
    }

    /// The tree now, as a real tree (only over a real tree: [`StepTree::of_tree`]).
    pub fn to_tree(&self) -> Result<Tree, ProofError> {
        work_tree(&self.work)
    }
}

fn obj_tree(o: &Obj) -> Result<Tree, ProofError> {
    let src = match o {
        Obj::C(c) => &c.src,
        Obj::N(n) => &n.src,
    };
    src.clone().ok_or(ProofError::Invalid(
        "the tree of a proof's partial tree is not whole",
    ))
}

fn work_tree(w: &Work) -> Result<Tree, ProofError> {
    match w {
        Work::Orig(o) => obj_tree(o),
        Work::Contents(v) => Ok(Tree::contents(v.clone())),
        Work::Node(wn) => {
            let mut t = match &wn.base {
                Some(n) => obj_tree(&Obj::N(n.clone()))?,
                None => Tree::empty(),
            };
            for (step, u) in &wn.updates {
                match u {
                    Some(c) => t.set_tree(&[step], work_tree(c)?)?,
                    None => t.remove(&[step])?,
                }
            }
            Ok(t)
        }
    }
}

fn out_obj(o: &Obj) -> Result<ProofTree, ProofError> {
    Ok(match o {
        Obj::C(c) => match (c.read.get(), c.bytes.get()) {
            (true, Some(b)) => ProofTree::Value(b.clone()),
            _ => ProofTree::BlindedValue(c.hash),
        },
        Obj::N(n) => match (n.opened.get(), n.root.get()) {
            (true, Some(Inode::Values(es))) => {
                let mut out = Vec::with_capacity(es.len());
                for (name, c) in es {
                    out.push((name.clone(), out_obj(c)?));
                }
                ProofTree::Node(out)
            }
            (true, Some(Inode::Tree { len, kids })) => {
                match inode_node(*len, out_kid(&kids[0])?, out_kid(&kids[1])?) {
                    InodeTree::Tree(i) => ProofTree::Inode(i),
                    InodeTree::Extender(e) => ProofTree::Extender(e),
                    _ => return Err(ProofError::Invalid("large node without a root inode")),
                }
            }
            _ => ProofTree::BlindedNode(n.hash),
        },
    })
}

fn out_kid(k: &Option<Rc<ICell>>) -> Result<Option<Box<InodeTree>>, ProofError> {
    Ok(match k {
        None => None,
        Some(c) => Some(Box::new(out_icell(c)?)),
    })
}

fn out_icell(c: &ICell) -> Result<InodeTree, ProofError> {
    Ok(match (c.opened.get(), &c.state) {
        (true, Some(Inode::Values(es))) => {
            let mut out = Vec::with_capacity(es.len());
            for (name, o) in es {
                out.push((name.clone(), out_obj(o)?));
            }
            InodeTree::Values(out)
        }
        (true, Some(Inode::Tree { len, kids })) => {
            inode_node(*len, out_kid(&kids[0])?, out_kid(&kids[1])?)
        }
        _ => InodeTree::Blinded(c.hash),
    })
}

fn obj_of_proof(p: &ProofTree, nesting: usize) -> Result<Obj, ProofError> {
    check_depth(nesting)?;
    let next = nesting.saturating_add(1);
    let node = |root: Inode| {
        Obj::N(Rc::new(NCell {
            hash: inode_hash(&root, 0),
            src: None,
            root: OnceCell::from(root),
            opened: Cell::new(false),
        }))
    };
    Ok(match p {
        ProofTree::Value(v) => Obj::C(Rc::new(CCell {
            hash: context_hash::contents_hash(v),
            src: None,
            bytes: OnceCell::from(v.clone()),
            read: Cell::new(false),
        })),
        ProofTree::BlindedValue(h) => Obj::C(Rc::new(CCell {
            hash: *h,
            src: None,
            bytes: OnceCell::new(),
            read: Cell::new(false),
        })),
        ProofTree::BlindedNode(h) => Obj::N(Rc::new(NCell {
            hash: *h,
            src: None,
            root: OnceCell::new(),
            opened: Cell::new(false),
        })),
        ProofTree::Node(es) => {
            let mut items = Vec::with_capacity(es.len());
            for (name, t) in es {
                items.push((
                    context_hash::step_hash(name),
                    name.clone(),
                    obj_of_proof(t, next)?,
                ));
            }
            node(canonical(items, 0)?)
        }
        ProofTree::Inode(i) => node(inode_of_proof(i, 0, next)?),
        ProofTree::Extender(e) => {
            node(extender_of_proof(e.length, &e.segments, &e.proof, 0, next)?)
        }
    })
}

fn icell(state: Inode, depth: u32) -> Rc<ICell> {
    Rc::new(ICell {
        hash: inode_hash(&state, depth),
        state: Some(state),
        opened: Cell::new(false),
    })
}

fn inode_of_proof(i: &InodeProof, depth: u32, nesting: usize) -> Result<Inode, ProofError> {
    check_depth(usize::try_from(depth).unwrap_or(usize::MAX))?;
    let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
    let mut kids: [Option<Rc<ICell>>; ENTRIES] = [None, None];
    for (slot, k) in kids.iter_mut().zip([&i.left, &i.right]) {
        if let Some(k) = k {
            *slot = Some(icell_of_proof(k, next, nesting)?);
        }
    }
    if kids.iter().all(Option::is_none) {
        return Err(ProofError::Invalid("inode without children"));
    }
    Ok(Inode::Tree {
        len: i.length,
        kids,
    })
}

fn extender_of_proof(
    len: u64,
    segs: &[u8],
    proof: &InodeTree,
    depth: u32,
    nesting: usize,
) -> Result<Inode, ProofError> {
    let Some((first, rest)) = segs.split_first() else {
        return Err(ProofError::Invalid("extender without segments"));
    };
    if *first > 1 {
        return Err(ProofError::Invalid("extender segment not 0 or 1"));
    }
    check_depth(usize::try_from(depth).unwrap_or(usize::MAX))?;
    let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
    let kid = if rest.is_empty() {
        icell_of_proof(proof, next, nesting)?
    } else {
        icell(extender_of_proof(len, rest, proof, next, nesting)?, next)
    };
    let mut kids: [Option<Rc<ICell>>; ENTRIES] = [None, None];
    kids[usize::from(*first)] = Some(kid);
    Ok(Inode::Tree { len, kids })
}

fn icell_of_proof(t: &InodeTree, depth: u32, nesting: usize) -> Result<Rc<ICell>, ProofError> {
    check_depth(usize::try_from(depth).unwrap_or(usize::MAX))?;
    Ok(match t {
        InodeTree::Blinded(h) => Rc::new(ICell {
            hash: *h,
            state: None,
            opened: Cell::new(false),
        }),
        InodeTree::Values(es) => {
            if es.is_empty() || es.len() > ENTRIES {
                return Err(ProofError::Invalid(
                    "leaf inode of 0 or more than 2 entries",
                ));
            }
            let mut out = Vec::with_capacity(es.len());
            for (name, t) in es {
                out.push((name.clone(), obj_of_proof(t, nesting.saturating_add(1))?));
            }
            out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            icell(Inode::Values(out), depth)
        }
        InodeTree::Tree(i) => icell(inode_of_proof(i, depth, nesting)?, depth),
        InodeTree::Extender(e) => icell(
            extender_of_proof(e.length, &e.segments, &e.proof, depth, nesting)?,
            depth,
        ),
    })
}

/// Run the computation `f` on `tree` and build the proof of it: `before` = hash of `tree`,
/// `after` = hash of the result, `state` = what `f` (and hashing the result) loaded. Returns
/// the proof, `f`'s result and the new tree.
pub fn produce_step_proof<R, E: From<ProofError>>(
    tree: &Tree,
    f: impl FnOnce(&mut StepTree) -> Result<R, E>,
) -> Result<(TreeProof, R, Tree), E> {
    let mut st = StepTree::of_tree(tree)?;
    let r = f(&mut st)?;
    let after = st.hash()?;
    let proof = TreeProof {
        version: BINARY_TREE_PROOF_VERSION,
        before: st.before_hash(),
        after,
        state: st.proof_state()?,
    };
    let new = st.to_tree()?;
    Ok((proof, r, new))
}

/// Check `proof` (version, `before` hash), replay `f` on its partial tree and check the
/// result hashes to `after` (Irmin `verify_proof`). Returns `f`'s result and the
/// [`StepTree`] after the replay (its [`StepTree::proof_state`] is the proof of the replay).
pub fn verify_step_proof<R, E: From<ProofError>>(
    proof: &TreeProof,
    f: impl FnOnce(&mut StepTree) -> Result<R, E>,
) -> Result<(R, StepTree), E> {
    if proof.version != BINARY_TREE_PROOF_VERSION {
        return Err(ProofError::Version(proof.version).into());
    }
    let computed = root_hash(&proof.state)?;
    if computed != proof.before {
        return Err(ProofError::BeforeMismatch {
            claimed: proof.before.hash(),
            computed: computed.hash(),
        }
        .into());
    }
    let mut st = StepTree::of_proof(&proof.state)?;
    let r = f(&mut st)?;
    let after = st.hash()?;
    if after != proof.after {
        return Err(ProofError::StepAfterMismatch {
            claimed: proof.after.hash(),
            computed: after.hash(),
        }
        .into());
    }
    Ok((r, st))
}

#[cfg(test)]
mod tests;
mod view;
