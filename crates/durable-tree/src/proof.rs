//! Merkle proofs of a tree (Irmin `Tree.produce_proof` / `verify_proof` for the binary
//! context): one reader interface ([`TreeRead`]) runs on the real tree while recording what
//! it reads ([`produce_proof`]) and on the partial tree a proof carries ([`verify_proof`]).
//!
//! Rules (`irmin/lib_irmin/tree.ml` `Proof`, `irmin/lib_irmin_pack/inode.ml` `Proof`;
//! `docs/reference/wasm-pvm.md` §7.3–7.4):
//! * a value read is `Value`, a value not read `Blinded_value`; a node not gone through (not
//!   visited, or only reached at the end of a read) is `Blinded_node`;
//! * a visited node of at most 2 entries (a "stable" node) lists all its entries (`Node`);
//! * a visited larger node is its binary inode trie: the inodes on the way to the visited
//!   steps are expanded (`Inode`, leaves `Inode_values` with all their entries), the others
//!   are `Blinded_inode` with their inode hash; a chain of one-child inodes is an
//!   `Extender` whose segments are the child indices;
//! * verification recomputes the root hash from the proof, checks it equals `before`, runs
//!   the reads on the partial tree (reaching a blinded part is [`ProofError::Blinded`]) and,
//!   reads changing nothing, checks `after` equals `before`.
//!
//! The binary encoding (`Merkle_proof_encoding.V2.Tree2`) is in [`encoding`]; proofs of
//! computations that also write (`after != before`, one-tick PVM proofs) are in [`partial`].

use std::cell::RefCell;
use std::collections::BTreeMap;

use context_hash::preimage::{self, bit};
use context_hash::{Entry, EntryKind, Hash};

use crate::tree::{Kind, Tree, TreeError};

pub mod encoding;
pub mod partial;

/// Proof version of a binary-tree (not stream) proof: bit `0b10` marks binary proofs, bit
/// `0b1` stream proofs (`src/lib_context/helpers/context.ml`, `encode_proof_version`).
pub const BINARY_TREE_PROOF_VERSION: u16 = 0b10;

/// Deepest inode of a proof accepted: the step hashes have 256 bits.
const MAX_INODE_DEPTH: usize = 256;

/// A hash with the kind of object it names (`kinded_hash`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KindedHash {
    /// The hash of contents.
    Value(Hash),
    /// The hash of a node.
    Node(Hash),
}

impl KindedHash {
    /// The hash, whatever the kind.
    pub fn hash(&self) -> Hash {
        match self {
            KindedHash::Value(h) | KindedHash::Node(h) => *h,
        }
    }
}

/// A tree proof (`tree_proof = {version; before; after; state}`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TreeProof {
    /// Proof version ([`BINARY_TREE_PROOF_VERSION`]).
    pub version: u16,
    /// Hash of the tree before the computation.
    pub before: KindedHash,
    /// Hash of the tree after the computation.
    pub after: KindedHash,
    /// The partial tree.
    pub state: ProofTree,
}

/// A partial tree (`Proof.tree`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProofTree {
    /// Contents that were read.
    Value(Vec<u8>),
    /// Contents not read: their hash.
    BlindedValue(Hash),
    /// A node of at most 2 entries (or any node, when verifying), all its entries.
    Node(Vec<(String, ProofTree)>),
    /// A node not visited: its hash.
    BlindedNode(Hash),
    /// A large node: the root of its inode trie.
    Inode(InodeProof),
    /// A large node whose root inode starts a chain of one-child inodes.
    Extender(ExtenderProof),
}

/// A part of an inode trie (`Proof.inode_tree`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InodeTree {
    /// An inode not visited: its hash.
    Blinded(Hash),
    /// A leaf inode (at most 2 entries).
    Values(Vec<(String, ProofTree)>),
    /// An inner inode.
    Tree(InodeProof),
    /// A chain of one-child inner inodes.
    Extender(ExtenderProof),
}

/// An inner inode: total number of entries below it and its (one or two) children, by the
/// next bit of the step hash (`'a inode = {length; proofs}` with `entries = 2`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InodeProof {
    /// Number of entries in the sub-trie.
    pub length: u64,
    /// Child of index 0.
    pub left: Option<Box<InodeTree>>,
    /// Child of index 1.
    pub right: Option<Box<InodeTree>>,
}

/// A chain of one-child inodes (`'a inode_extender = {length; segment; proof}`): the child
/// indices on the way (each 0 or 1) and the inode at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtenderProof {
    /// Number of entries in the sub-trie.
    pub length: u64,
    /// Child indices, from the top (at least one).
    pub segments: Vec<u8>,
    /// The inode at the end of the chain.
    pub proof: Box<InodeTree>,
}

/// Errors of producing, decoding or verifying a proof.
#[derive(Debug, thiserror::Error)]
pub enum ProofError {
    /// The proof bytes are not a `Merkle_proof_encoding.V2.Tree2` tree proof.
    #[error("malformed tree proof at byte {offset}: {reason}")]
    Decode {
        /// Offset of the offending byte.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A read went through a blinded node, inode or value: the proof does not hold what
    /// the computation reads (Irmin: "trying to read through a blinded node or object").
    #[error("tree proof: reading /{path} goes through a blinded part of the proof")]
    Blinded {
        /// The path read.
        path: String,
    },
    /// The proof is not a well-formed partial tree.
    #[error("tree proof is ill-formed: {0}")]
    Invalid(&'static str),
    /// The partial tree does not hash to the proof's `before` hash.
    #[error("tree proof hashes to {computed}, not to its before hash {claimed}")]
    BeforeMismatch {
        /// `before` of the proof.
        claimed: Hash,
        /// Hash of the partial tree.
        computed: Hash,
    },
    /// The proof's version is not that of binary tree proofs.
    #[error("tree proof version {0} is not {BINARY_TREE_PROOF_VERSION} (binary tree proof)")]
    Version(u16),
    /// A read-only computation's proof has `after` different from `before`.
    #[error(
        "tree proof of a read-only computation has after {after} different from before {before}"
    )]
    AfterMismatch {
        /// `before` of the proof.
        before: Hash,
        /// `after` of the proof.
        after: Hash,
    },
    /// Replaying a step on the proof's partial tree gives another hash than its `after`.
    #[error(
        "tree proof: replaying the step gives {computed}, not the proof's after hash {claimed}"
    )]
    StepAfterMismatch {
        /// `after` of the proof.
        claimed: Hash,
        /// Hash of the partial tree after the replay.
        computed: Hash,
    },
    /// The tree being proven failed to load.
    #[error(transparent)]
    Tree(#[from] TreeError),
}

/// Reads of a tree, the same on the real tree (recording them) and on a proof's partial tree.
pub trait TreeRead {
    /// The contents at `path`: `None` when absent, a node, or below contents.
    fn read_value(&self, path: &[&str]) -> Result<Option<Vec<u8>>, ProofError>;
}

/// Reads of a real tree, recorded to build a proof.
struct Recorder<'a> {
    tree: &'a Tree,
    reads: RefCell<Vec<Vec<String>>>,
}

impl TreeRead for Recorder<'_> {
    fn read_value(&self, path: &[&str]) -> Result<Option<Vec<u8>>, ProofError> {
        self.reads
            .borrow_mut()
            .push(path.iter().map(|s| (*s).to_string()).collect());
        Ok(self.tree.get_contents(path)?)
    }
}

/// Run the read-only computation `f` on `tree` and build the proof of what it read
/// (Irmin `produce_proof`; `after` = `before`).
pub fn produce_proof<R>(
    tree: &Tree,
    f: impl FnOnce(&dyn TreeRead) -> Result<R, ProofError>,
) -> Result<(TreeProof, R), ProofError> {
    let rec = Recorder {
        tree,
        reads: RefCell::new(Vec::new()),
    };
    let result = f(&rec)?;
    let mut access = Access::default();
    for path in rec.reads.into_inner() {
        access.insert(&path);
    }
    let state = build(tree, Some(&access))?;
    let h = tree.hash()?;
    let kinded = match tree.kind() {
        Kind::Node => KindedHash::Node(h),
        Kind::Contents => KindedHash::Value(h),
    };
    Ok((
        TreeProof {
            version: BINARY_TREE_PROOF_VERSION,
            before: kinded,
            after: kinded,
            state,
        },
        result,
    ))
}

/// Check `proof` (version, `before` hash) and run the read-only computation `f` on its
/// partial tree (Irmin `verify_proof`).
pub fn verify_proof<R>(
    proof: &TreeProof,
    f: impl FnOnce(&dyn TreeRead) -> Result<R, ProofError>,
) -> Result<R, ProofError> {
    if proof.version != BINARY_TREE_PROOF_VERSION {
        return Err(ProofError::Version(proof.version));
    }
    let computed = root_hash(&proof.state)?;
    if computed != proof.before {
        return Err(ProofError::BeforeMismatch {
            claimed: proof.before.hash(),
            computed: computed.hash(),
        });
    }
    let result = f(&Partial(&proof.state))?;
    if proof.after != proof.before {
        return Err(ProofError::AfterMismatch {
            before: proof.before.hash(),
            after: proof.after.hash(),
        });
    }
    Ok(result)
}

/// The steps visited below a node; `value`: the contents at this point were read.
#[derive(Default)]
struct Access {
    children: BTreeMap<String, Access>,
    value: bool,
}

impl Access {
    fn insert(&mut self, path: &[String]) {
        let mut cur = self;
        for step in path {
            cur = cur.children.entry(step.clone()).or_default();
        }
        cur.value = true;
    }
}

fn blinded(tree: &Tree) -> Result<ProofTree, ProofError> {
    let h = tree.hash()?;
    Ok(match tree.kind() {
        Kind::Node => ProofTree::BlindedNode(h),
        Kind::Contents => ProofTree::BlindedValue(h),
    })
}

/// The proof of `tree` given what was visited in it.
fn build(tree: &Tree, access: Option<&Access>) -> Result<ProofTree, ProofError> {
    let Some(access) = access else {
        return blinded(tree);
    };
    if tree.kind() == Kind::Contents {
        // Read as a value: shown; only gone through by a longer path: blinded.
        return match (access.value, tree.get_contents(&[])?) {
            (true, Some(v)) => Ok(ProofTree::Value(v)),
            _ => blinded(tree),
        };
    }
    if access.children.is_empty() {
        // A node reached but not gone through: its kind is known from its parent, it was not
        // loaded (a read of it answers "not a value" on the blinded node too).
        return blinded(tree);
    }
    let mut entries = Vec::new();
    for (name, _) in tree.list(&[])? {
        let child = tree
            .get(&[&name])?
            .ok_or(TreeError::Precondition("listed child is present"))?;
        entries.push((name, child));
    }
    if entries.len() <= context_hash::ENTRIES {
        let mut out = Vec::with_capacity(entries.len());
        for (name, child) in &entries {
            out.push((name.clone(), build(child, access.children.get(name))?));
        }
        return Ok(ProofTree::Node(out));
    }
    let mut items: Vec<(Hash, u32)> = Vec::with_capacity(entries.len());
    for (i, (name, _)) in entries.iter().enumerate() {
        let i = u32::try_from(i).map_err(|_| ProofError::Invalid("more than 2^32 entries"))?;
        items.push((context_hash::step_hash(name), i));
    }
    items.sort_unstable();
    let mut visited: Vec<Hash> = access
        .children
        .keys()
        .map(|k| context_hash::step_hash(k))
        .collect();
    visited.sort_unstable();
    let mut triples = Vec::with_capacity(entries.len());
    for (name, child) in &entries {
        triples.push((name.as_bytes(), entry_kind(child.kind()), child.hash()?));
    }
    let ctx = InodeCtx {
        entries: &entries,
        triples: &triples,
        access,
    };
    Ok(match ctx.build_inode(&items, &visited, 0)? {
        InodeTree::Tree(i) => ProofTree::Inode(i),
        InodeTree::Extender(e) => ProofTree::Extender(e),
        // A node of more than 2 entries splits at depth 0 into a Tree inode.
        InodeTree::Values(_) | InodeTree::Blinded(_) => {
            return Err(ProofError::Invalid("large node without a root inode"));
        }
    })
}

struct InodeCtx<'a> {
    /// Entries of the node, sorted by name.
    entries: &'a [(String, Tree)],
    /// The entries as hashed.
    triples: &'a [preimage::Triple<'a>],
    access: &'a Access,
}

impl InodeCtx<'_> {
    /// Proof of the sub-trie at `depth` over `items` (step hash, index into `entries`, sorted
    /// by step hash), `visited`: sorted step hashes of visited steps under this inode.
    fn build_inode(
        &self,
        items: &[(Hash, u32)],
        visited: &[Hash],
        depth: u32,
    ) -> Result<InodeTree, ProofError> {
        if visited.is_empty() {
            let mut buf = Vec::new();
            let h = preimage::trie_hash(
                &mut buf,
                self.triples,
                items,
                depth,
                &mut preimage::blake2b_256,
            );
            return Ok(InodeTree::Blinded(h));
        }
        if items.len() <= context_hash::ENTRIES {
            let mut idx: Vec<usize> = items
                .iter()
                .map(|(_, i)| usize::try_from(*i).unwrap_or(usize::MAX))
                .collect();
            idx.sort_unstable();
            let mut out = Vec::with_capacity(idx.len());
            for i in idx {
                let (name, child) = self
                    .entries
                    .get(i)
                    .ok_or(ProofError::Invalid("inode index out of range"))?;
                out.push((name.clone(), build(child, self.access.children.get(name))?));
            }
            return Ok(InodeTree::Values(out));
        }
        let split = items.partition_point(|(h, _)| bit(h, depth) == 0);
        let vsplit = visited.partition_point(|h| bit(h, depth) == 0);
        let next = depth
            .checked_add(1)
            .ok_or(ProofError::Invalid("inode depth overflow"))?;
        let sides = [
            (&items[..split], &visited[..vsplit]),
            (&items[split..], &visited[vsplit..]),
        ];
        let mut children: [Option<Box<InodeTree>>; 2] = [None, None];
        for (slot, (its, vis)) in children.iter_mut().zip(sides) {
            if !its.is_empty() {
                *slot = Some(Box::new(self.build_inode(its, vis, next)?));
            }
        }
        let length = u64::try_from(items.len()).map_err(|_| ProofError::Invalid("length"))?;
        let [left, right] = children;
        Ok(inode_node(length, left, right))
    }
}

/// The proof of an inner inode of `length` entries with these children: a chain of
/// one-child inodes is an `Extender` whose segments are the child indices (Irmin
/// `iproof_of_inode`).
pub fn inode_node(
    length: u64,
    left: Option<Box<InodeTree>>,
    right: Option<Box<InodeTree>>,
) -> InodeTree {
    let (index, child) = match (left, right) {
        (Some(c), None) => (0u8, c),
        (None, Some(c)) => (1u8, c),
        (left, right) => {
            return InodeTree::Tree(InodeProof {
                length,
                left,
                right,
            });
        }
    };
    match *child {
        InodeTree::Tree(InodeProof {
            left: Some(p),
            right: None,
            ..
        }) => InodeTree::Extender(ExtenderProof {
            length,
            segments: vec![index, 0],
            proof: p,
        }),
        InodeTree::Tree(InodeProof {
            left: None,
            right: Some(p),
            ..
        }) => InodeTree::Extender(ExtenderProof {
            length,
            segments: vec![index, 1],
            proof: p,
        }),
        InodeTree::Extender(e) => {
            let mut segments = Vec::with_capacity(e.segments.len().saturating_add(1));
            segments.push(index);
            segments.extend(e.segments);
            InodeTree::Extender(ExtenderProof {
                length,
                segments,
                proof: e.proof,
            })
        }
        other => {
            let kid = Some(Box::new(other));
            let (left, right) = if index == 0 { (kid, None) } else { (None, kid) };
            InodeTree::Tree(InodeProof {
                length,
                left,
                right,
            })
        }
    }
}

fn entry_kind(k: Kind) -> EntryKind {
    k.into()
}

/// The kinded hash of a partial tree (Irmin `load_proof`).
pub fn root_hash(t: &ProofTree) -> Result<KindedHash, ProofError> {
    Ok(match t {
        ProofTree::Value(v) => KindedHash::Value(context_hash::contents_hash(v)),
        ProofTree::BlindedValue(h) => KindedHash::Value(*h),
        ProofTree::BlindedNode(h) => KindedHash::Node(*h),
        ProofTree::Node(entries) => {
            let hashed = hashed_entries(entries)?;
            let es: Vec<Entry<'_>> = hashed
                .iter()
                .map(|(name, kind, hash)| Entry {
                    name,
                    kind: *kind,
                    hash: *hash,
                })
                .collect();
            KindedHash::Node(context_hash::node_hash(&es))
        }
        ProofTree::Inode(i) => {
            if i.length <= context_hash::ENTRIES as u64 {
                return Err(ProofError::Invalid("root inode of at most 2 entries"));
            }
            KindedHash::Node(inode_hash(i, 0)?)
        }
        ProofTree::Extender(e) => {
            if e.length <= context_hash::ENTRIES as u64 {
                return Err(ProofError::Invalid("root extender of at most 2 entries"));
            }
            KindedHash::Node(extender_hash(e, 0)?)
        }
    })
}

/// Entries with their kinds and hashes, sorted by name; duplicates refused.
fn hashed_entries(
    entries: &[(String, ProofTree)],
) -> Result<Vec<(&str, EntryKind, Hash)>, ProofError> {
    let mut out = Vec::with_capacity(entries.len());
    for (name, t) in entries {
        let (kind, h) = match root_hash(t)? {
            KindedHash::Value(h) => (EntryKind::Contents, h),
            KindedHash::Node(h) => (EntryKind::Node, h),
        };
        out.push((name.as_str(), kind, h));
    }
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    if out.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(ProofError::Invalid("duplicate step in a node"));
    }
    Ok(out)
}

pub(crate) fn check_depth(depth: usize) -> Result<u32, ProofError> {
    if depth >= MAX_INODE_DEPTH {
        return Err(ProofError::Invalid("inode deeper than the step hash"));
    }
    u32::try_from(depth).map_err(|_| ProofError::Invalid("inode depth"))
}

fn inode_tree_hash(t: &InodeTree, depth: usize) -> Result<Hash, ProofError> {
    check_depth(depth)?;
    match t {
        InodeTree::Blinded(h) => Ok(*h),
        InodeTree::Values(entries) => {
            if entries.is_empty() || entries.len() > context_hash::ENTRIES {
                return Err(ProofError::Invalid(
                    "leaf inode of 0 or more than 2 entries",
                ));
            }
            let hashed = hashed_entries(entries)?;
            let triples: Vec<preimage::Triple<'_>> = hashed
                .iter()
                .map(|(n, k, h)| (n.as_bytes(), *k, *h))
                .collect();
            let mut buf = Vec::new();
            preimage::values(&mut buf, &triples);
            Ok(preimage::blake2b_256(&buf))
        }
        InodeTree::Tree(i) => inode_hash(i, depth),
        InodeTree::Extender(e) => extender_hash(e, depth),
    }
}

fn inode_hash(i: &InodeProof, depth: usize) -> Result<Hash, ProofError> {
    let d = check_depth(depth)?;
    let next = depth.checked_add(1).ok_or(ProofError::Invalid("depth"))?;
    let mut children = [None, None];
    for (slot, child) in children.iter_mut().zip([&i.left, &i.right]) {
        if let Some(c) = child {
            *slot = Some(inode_tree_hash(c, next)?);
        }
    }
    if children.iter().all(Option::is_none) {
        return Err(ProofError::Invalid("inode without children"));
    }
    let mut buf = Vec::new();
    preimage::tree(&mut buf, d, i.length, &children);
    Ok(preimage::blake2b_256(&buf))
}

fn extender_hash(e: &ExtenderProof, depth: usize) -> Result<Hash, ProofError> {
    if e.segments.is_empty() {
        return Err(ProofError::Invalid("extender without segments"));
    }
    if e.segments.iter().any(|s| *s > 1) {
        return Err(ProofError::Invalid("extender segment not 0 or 1"));
    }
    let end = depth
        .checked_add(e.segments.len())
        .ok_or(ProofError::Invalid("depth"))?;
    let mut h = inode_tree_hash(&e.proof, end)?;
    for (k, seg) in e.segments.iter().enumerate().rev() {
        let d = check_depth(depth.checked_add(k).ok_or(ProofError::Invalid("depth"))?)?;
        let mut children = [None, None];
        children[usize::from(*seg)] = Some(h);
        let mut buf = Vec::new();
        preimage::tree(&mut buf, d, e.length, &children);
        h = preimage::blake2b_256(&buf);
    }
    Ok(h)
}

/// The partial tree of a proof, read as a tree.
struct Partial<'a>(&'a ProofTree);

impl TreeRead for Partial<'_> {
    fn read_value(&self, path: &[&str]) -> Result<Option<Vec<u8>>, ProofError> {
        let blinded = || ProofError::Blinded {
            path: path.join("/"),
        };
        match find(self.0, path).map_err(|()| blinded())? {
            Some(ProofTree::Value(v)) => Ok(Some(v.clone())),
            Some(ProofTree::BlindedValue(_)) => Err(blinded()),
            _ => Ok(None),
        }
    }
}

/// The subtree at `path` in a partial tree; `Err(())` when the way goes through a blinded
/// node or inode.
fn find<'a>(root: &'a ProofTree, path: &[&str]) -> Result<Option<&'a ProofTree>, ()> {
    let mut cur = root;
    for step in path {
        let next = match cur {
            ProofTree::Value(_) | ProofTree::BlindedValue(_) => return Ok(None),
            ProofTree::BlindedNode(_) => return Err(()),
            ProofTree::Node(entries) => lookup(entries, step),
            ProofTree::Inode(i) => inode_find_tree(i, 0, step, &context_hash::step_hash(step))?,
            ProofTree::Extender(e) => extender_find(e, 0, step, &context_hash::step_hash(step))?,
        };
        match next {
            Some(t) => cur = t,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

fn lookup<'a>(entries: &'a [(String, ProofTree)], step: &str) -> Option<&'a ProofTree> {
    entries.iter().find(|(n, _)| n == step).map(|(_, t)| t)
}

fn inode_find<'a>(
    t: &'a InodeTree,
    depth: usize,
    step: &str,
    sh: &Hash,
) -> Result<Option<&'a ProofTree>, ()> {
    match t {
        InodeTree::Blinded(_) => Err(()),
        InodeTree::Values(entries) => Ok(lookup(entries, step)),
        InodeTree::Tree(i) => inode_find_tree(i, depth, step, sh),
        InodeTree::Extender(e) => extender_find(e, depth, step, sh),
    }
}

fn inode_find_tree<'a>(
    i: &'a InodeProof,
    depth: usize,
    step: &str,
    sh: &Hash,
) -> Result<Option<&'a ProofTree>, ()> {
    let d = check_depth(depth).map_err(|_| ())?;
    let child = if bit(sh, d) == 0 { &i.left } else { &i.right };
    match child {
        None => Ok(None),
        Some(c) => inode_find(c, depth.checked_add(1).ok_or(())?, step, sh),
    }
}

fn extender_find<'a>(
    e: &'a ExtenderProof,
    depth: usize,
    step: &str,
    sh: &Hash,
) -> Result<Option<&'a ProofTree>, ()> {
    for (k, seg) in e.segments.iter().enumerate() {
        let d = check_depth(depth.checked_add(k).ok_or(())?).map_err(|_| ())?;
        if bit(sh, d) != usize::from(*seg) {
            return Ok(None);
        }
    }
    inode_find(
        &e.proof,
        depth.checked_add(e.segments.len()).ok_or(())?,
        step,
        sh,
    )
}

#[cfg(test)]
mod tests;
