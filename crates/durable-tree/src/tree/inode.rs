//! Children of a node, and the binary inode trie used for large nodes.
//!
//! Irmin hashes a node with more than 2 entries as the root of a binary trie
//! over the blake2b hashes of the entry names (`Hash_bits`, one bit per
//! level, MSB first): a sub-trie of at most 2 entries is a `Values` inode,
//! a larger one a `Tree` inode split on the next bit (wasm-pvm.md §7.3;
//! `context-hash` documents the pre-images). Large nodes (more than
//! [`FLAT_MAX`] children) are kept in exactly that shape, with the hash of
//! every `Tree` inode memoised, so changing one child of a node with `n`
//! children re-hashes `O(log n)` inodes instead of `O(n)`, and a commit
//! writes `O(log n)` small inode objects instead of the whole node.
//!
//! The shape is canonical (a function of the entry set), so the memoised
//! hashes are Irmin's inode hashes; tests check them against
//! `context_hash::node_hash`.
//!
//! Memory (millions of durable keys): small nodes are a boxed slice
//! of `(name, child)` sorted by name, `Values` inodes an exact-size shared
//! slice; names of up to 22 bytes are inline, longer ones shared (`Arc`)
//! with a 7-byte inline prefix for comparisons, except lowercase hex names
//! (packed: [`Name`]); a durable value's `@` node of one chunk holds its
//! subtree as one [`CompactValue`]. Hash pre-images are
//! written into one reused buffer and hashed in one call.

use std::sync::{Arc, OnceLock};

use context_hash::preimage::{self, Triple, bit};
use context_hash::{EntryKind, Hash};

use super::load::{self, StoreHandle};
use super::memo::Memo;
use super::value::CompactValue;
use crate::tree::{Tree, TreeError};

/// Nodes with more children than this switch to the inode trie.
pub(crate) const FLAT_MAX: usize = 32;
/// Trie nodes with this many children or fewer switch back to a flat map
/// (hysteresis; the representation never changes the hash). Must be > 2.
pub(crate) const FLAT_MIN: usize = 16;

/// Number of children of a `Tree` inode (`entries = 2`).
const ENTRIES: usize = 2;

/// Names up to this many bytes are stored inline in their entry.
const NAME_INLINE: usize = 22;

/// A step name: inline when short (most durable steps: `@`, `length`,
/// `contents`, chunk indices, `balance`, …), else a shared `Arc<str>` so
/// that un-sharing a node (copy-on-write) never copies name bytes. Longer
/// names of lowercase hex digits (Etherlink's 40-hex addresses, 64-hex
/// slots and hashes) are packed two digits a byte: inline up to
/// `2 * NAME_INLINE` digits, boxed when 64 digits (a 32-byte block: 16
/// bytes less than an `Arc`'s, copied when a node is un-shared; issue 15,
/// RSS: `BENCHMARKS.md`). 24 bytes.
#[derive(Clone)]
pub(crate) enum Name {
    /// At most [`NAME_INLINE`] bytes: length and bytes.
    Inline(u8, [u8; NAME_INLINE]),
    /// An even number of lowercase hex digits, more than [`NAME_INLINE`]
    /// and at most twice as many: the digit count and the packed bytes.
    HexInline(u8, [u8; NAME_INLINE]),
    /// Exactly [`HEX_BOXED`] lowercase hex digits, packed.
    HexBoxed(Box<[u8; HEX_BOXED / 2]>),
    /// A longer name, with a copy of its first [`NAME_PREFIX`] bytes so
    /// that most comparisons never dereference the shared part.
    Shared([u8; NAME_PREFIX], Arc<str>),
}

/// Bytes of a shared name kept next to its pointer.
const NAME_PREFIX: usize = 7;

/// Digit count of the hex names packed in an allocation of their own.
const HEX_BOXED: usize = 64;

/// Lowercase hex digits.
const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The value of a lowercase hex digit.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Pack the lowercase hex digits `s` (even count, at most `2 * out.len()`)
/// into `out`; `false` if `s` is not such digits.
fn hex_pack(s: &[u8], out: &mut [u8]) -> bool {
    if !s.len().is_multiple_of(2) || s.len() > 2 * out.len() {
        return false;
    }
    for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
        match (hex_value(pair[0]), hex_value(pair[1])) {
            (Some(h), Some(l)) => *o = (h << 4) | l,
            _ => return false,
        }
    }
    true
}

/// The bytes of a name, borrowed or written out from its packed form
/// (derefs to `[u8]`).
pub(crate) enum NameBytes<'a> {
    Borrowed(&'a [u8]),
    Unpacked(u8, [u8; HEX_BOXED]),
}

impl std::ops::Deref for NameBytes<'_> {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            NameBytes::Borrowed(b) => b,
            NameBytes::Unpacked(n, b) => &b[..usize::from(*n)],
        }
    }
}

impl NameBytes<'_> {
    /// The bytes as a `str` (names are built from `&str`, and hex digits
    /// are ASCII).
    pub(crate) fn as_str(&self) -> &str {
        std::str::from_utf8(self).unwrap_or_default()
    }
}

/// Bytewise comparison of the hex digits packed in `packed` (`digits` of
/// them) with `other`, unpacking only up to the first difference.
#[inline]
fn hex_cmp(packed: &[u8], digits: usize, other: &[u8]) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    for (i, &p) in packed[..digits / 2].iter().enumerate() {
        let pair = [
            HEX_DIGITS[usize::from(p >> 4)],
            HEX_DIGITS[usize::from(p & 15)],
        ];
        for (j, d) in pair.into_iter().enumerate() {
            match other.get(2 * i + j) {
                None => return Ordering::Greater,
                Some(o) => match d.cmp(o) {
                    Ordering::Equal => {}
                    ord => return ord,
                },
            }
        }
    }
    digits.cmp(&other.len())
}

/// Write out `packed` (`digits` hex digits).
fn hex_unpack(packed: &[u8], digits: usize) -> NameBytes<'static> {
    let mut b = [0u8; HEX_BOXED];
    for (pair, &p) in b.chunks_exact_mut(2).zip(&packed[..digits / 2]) {
        pair[0] = HEX_DIGITS[usize::from(p >> 4)];
        pair[1] = HEX_DIGITS[usize::from(p & 15)];
    }
    // At most HEX_BOXED (64) digits: fits.
    NameBytes::Unpacked(digits as u8, b)
}

impl Name {
    pub(crate) fn new(s: &str) -> Name {
        let b = s.as_bytes();
        if b.len() <= NAME_INLINE {
            let mut out = [0u8; NAME_INLINE];
            out[..b.len()].copy_from_slice(b);
            // Fits: checked above.
            return Name::Inline(b.len() as u8, out);
        }
        if b.len() <= 2 * NAME_INLINE {
            let mut out = [0u8; NAME_INLINE];
            if hex_pack(b, &mut out) {
                // At most 44 digits: fits.
                return Name::HexInline(b.len() as u8, out);
            }
        } else if b.len() == HEX_BOXED {
            let mut out = [0u8; HEX_BOXED / 2];
            if hex_pack(b, &mut out) {
                return Name::HexBoxed(Box::new(out));
            }
        }
        let mut pre = [0u8; NAME_PREFIX];
        pre.copy_from_slice(&b[..NAME_PREFIX]);
        Name::Shared(pre, Arc::from(s))
    }

    /// Read the bytes of a shared name (first and last), for a commit that
    /// will encode it soon: issued next to other independent loads, its
    /// cache miss overlaps theirs instead of stalling the encoding later.
    #[inline]
    pub(crate) fn touch(&self) -> u8 {
        match self {
            Name::Inline(..) | Name::HexInline(..) => 0,
            Name::HexBoxed(h) => h[0] ^ h[HEX_BOXED / 2 - 1],
            Name::Shared(_, s) => {
                let b = s.as_bytes();
                b.first().copied().unwrap_or(0) ^ b.last().copied().unwrap_or(0)
            }
        }
    }

    /// The bytes of the name (packed hex written out on the stack).
    #[inline]
    pub(crate) fn as_bytes(&self) -> NameBytes<'_> {
        match self {
            Name::Inline(l, b) => NameBytes::Borrowed(&b[..usize::from(*l)]),
            Name::HexInline(l, b) => hex_unpack(b, usize::from(*l)),
            Name::HexBoxed(h) => hex_unpack(&h[..], HEX_BOXED),
            Name::Shared(_, s) => NameBytes::Borrowed(s.as_bytes()),
        }
    }

    /// The name as a string (see [`Name::as_bytes`]).
    pub(crate) fn to_owned_name(&self) -> String {
        self.as_bytes().as_str().to_owned()
    }

    /// Bytewise comparison with `other` (the order of node entries).
    pub(crate) fn cmp_bytes(&self, other: &[u8]) -> std::cmp::Ordering {
        match self {
            Name::Inline(l, b) => b[..usize::from(*l)].cmp(other),
            Name::Shared(pre, s) => {
                // `s` is longer than the prefix: if `other` differs within
                // it, or is a proper prefix of it, the prefix decides.
                let k = other.len().min(NAME_PREFIX);
                match pre[..k].cmp(&other[..k]) {
                    std::cmp::Ordering::Equal if k < NAME_PREFIX => std::cmp::Ordering::Greater,
                    std::cmp::Ordering::Equal => s.as_bytes().cmp(other),
                    ord => ord,
                }
            }
            Name::HexInline(l, b) => hex_cmp(b, usize::from(*l), other),
            Name::HexBoxed(h) => hex_cmp(&h[..], HEX_BOXED, other),
        }
    }

    /// Bytewise order of two names.
    pub(crate) fn cmp_name(&self, other: &Name) -> std::cmp::Ordering {
        // Packed digits compare as their bytes do ('0' < … < '9' < 'a' < … < 'f').
        match (self, other) {
            (Name::HexBoxed(a), Name::HexBoxed(b)) => a.cmp(b),
            (Name::HexInline(la, a), Name::HexInline(lb, b)) => {
                let k = usize::from(*la.min(lb)) / 2;
                a[..k].cmp(&b[..k]).then(la.cmp(lb))
            }
            _ => self.cmp_bytes(&other.as_bytes()),
        }
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_bytes().as_str(), f)
    }
}

/// A named child.
pub(crate) type Entry = (Name, Tree);

/// The children of a node. 16 bytes (boxed slice; the rarer forms
/// boxed), so that a node with its hash memo fits a 72-byte allocation
/// (issue 15, RSS: `BENCHMARKS.md`).
#[derive(Clone)]
pub(crate) enum Children {
    /// Entries sorted bytewise by name (small nodes).
    Flat(Box<[Entry]>),
    /// A trie root or a compact durable value (one pointer, so that
    /// `Children` keeps the slice's niche and stays 16 bytes).
    Big(Box<Big>),
}

/// The boxed forms of [`Children`].
#[derive(Clone)]
pub(crate) enum Big {
    /// The root (depth 0) of an inode trie; always a `Tree` inode holding
    /// more than [`FLAT_MIN`] entries.
    Trie(Inode),
    /// The children `contents` and `length` of a durable value's `@` node,
    /// held compactly ([`CompactValue`]); or, when the value says so
    /// ([`CompactValue::in_key`]), the only child `@` of a durable key's
    /// node, the value held with its `@` node as one (issue 15, RSS:
    /// `BENCHMARKS.md`; no third variant: `Big` would grow to 80 bytes).
    Value(CompactValue),
}

/// Insert `e` at `i` in a boxed slice (one reallocation, as an
/// exactly-sized vector would).
fn slice_insert(v: &mut Box<[Entry]>, i: usize, e: Entry) {
    let mut m = std::mem::take(v).into_vec();
    m.reserve_exact(1);
    m.insert(i, e);
    *v = m.into_boxed_slice();
}

/// One inode of the trie.
#[derive(Clone)]
pub(crate) enum Inode {
    /// At most 2 entries, sorted by name (never empty inside a trie).
    Values(LeafRef),
    /// More than 2 entries, split on bit `depth` of the step hash.
    Tree(Arc<InodeTree>),
    /// A `Tree` inode not loaded yet.
    Lazy(Arc<LazyInode>),
}

/// The entries of a `Values` inode with their memoised Irmin hash, so that
/// re-hashing a `Tree` inode after a change on one side does not re-hash an
/// unchanged `Values` sibling (wasm-pvm.md §7.3). Built by [`leaf`] as an
/// array of 0–2 entries, used as a slice.
pub(crate) struct Leaf<T: ?Sized = [Entry]> {
    memo: Memo,
    entries: T,
}

impl std::ops::Deref for Leaf {
    type Target = [Entry];
    fn deref(&self) -> &[Entry] {
        &self.entries
    }
}

/// A shared `Values` inode: a thin pointer to an array of 0, 1 or 2
/// entries (an `Arc<Leaf>` of the slice would be a fat pointer, making
/// [`Inode`] 24 bytes and a `Tree` inode a 128-byte allocation instead of
/// 112: issue 15, RSS, `BENCHMARKS.md`). Derefs to the [`Leaf`].
#[derive(Clone)]
pub(crate) enum LeafRef {
    /// No entry (never inside a trie).
    Zero(Arc<Leaf<[Entry; 0]>>),
    /// One entry.
    One(Arc<Leaf<[Entry; 1]>>),
    /// Two entries, sorted by name.
    Two(Arc<Leaf<[Entry; 2]>>),
}

impl std::ops::Deref for LeafRef {
    type Target = Leaf;
    fn deref(&self) -> &Leaf {
        match self {
            LeafRef::Zero(l) => &**l,
            LeafRef::One(l) => &**l,
            LeafRef::Two(l) => &**l,
        }
    }
}

impl LeafRef {
    /// Mutable access when not shared.
    fn get_mut(&mut self) -> Option<&mut Leaf> {
        match self {
            LeafRef::Zero(l) => Arc::get_mut(l).map(|l| l as &mut Leaf),
            LeafRef::One(l) => Arc::get_mut(l).map(|l| l as &mut Leaf),
            LeafRef::Two(l) => Arc::get_mut(l).map(|l| l as &mut Leaf),
        }
    }
}

/// A `Values` inode of at most [`ENTRIES`] entries (sorted by name).
pub(crate) fn leaf(entries: impl IntoIterator<Item = Entry>) -> Result<LeafRef, TreeError> {
    let mut it = entries.into_iter();
    let memo = Memo::new(None);
    let l = match (it.next(), it.next()) {
        (None, _) => LeafRef::Zero(Arc::new(Leaf { memo, entries: [] })),
        (Some(a), None) => LeafRef::One(Arc::new(Leaf { memo, entries: [a] })),
        (Some(a), Some(b)) => {
            if it.next().is_some() {
                return Err(TreeError::Precondition("values inode over 2 entries"));
            }
            LeafRef::Two(Arc::new(Leaf {
                memo,
                entries: [a, b],
            }))
        }
    };
    Ok(l)
}

/// A part of a tree: a tree or an inode of a trie.
#[derive(Clone, Copy)]
pub(crate) enum Part<'a> {
    Tree(&'a Tree),
    Inode(&'a Inode),
}

/// `size_of` of a `Values` inode of two entries (without its `Arc` header).
pub(crate) fn leaf2_size() -> usize {
    std::mem::size_of::<Leaf<[Entry; 2]>>()
}

impl Leaf {
    /// The Irmin `Values` inode hash (memoised).
    fn hash(&self) -> Result<Hash, TreeError> {
        if let Some(h) = self.memo.get() {
            return Ok(h);
        }
        let h = values_hash(&self.entries)?;
        self.memo.set(h);
        Ok(h)
    }
}

/// Position of `name` in the sorted `entries` (`Ok`: found).
fn search(entries: &[Entry], name: &str) -> Result<usize, usize> {
    let name = name.as_bytes();
    if entries.len() <= 8 {
        for (i, (n, _)) in entries.iter().enumerate() {
            match n.cmp_bytes(name) {
                std::cmp::Ordering::Less => {}
                std::cmp::Ordering::Equal => return Ok(i),
                std::cmp::Ordering::Greater => return Err(i),
            }
        }
        return Err(entries.len());
    }
    entries.binary_search_by(|(n, _)| n.cmp_bytes(name))
}

/// Insert or replace in a sorted boxed slice; returns whether an entry
/// was added.
fn vec_insert(v: &mut Box<[Entry]>, name: &str, tree: Tree) -> bool {
    match search(v, name) {
        Ok(i) => {
            v[i].1 = tree;
            false
        }
        Err(i) => {
            slice_insert(v, i, (Name::new(name), tree));
            true
        }
    }
}

/// Mutable access to a `Values` inode's entries (un-sharing them); drops
/// the memoised hash.
fn values_mut(v: &mut LeafRef) -> Result<&mut [Entry], TreeError> {
    if v.get_mut().is_none() {
        *v = leaf(v.iter().cloned())?;
    }
    let l = v.get_mut().expect("unique: just copied");
    l.memo.clear();
    Ok(&mut l.entries)
}

pub(crate) struct InodeTree {
    pub(crate) depth: u32,
    pub(crate) len: u64,
    pub(crate) children: [Option<Inode>; ENTRIES],
    /// The hash, and the id of the store handle this inode is known to be
    /// stored in (0: none).
    memo: Memo,
}

impl Clone for InodeTree {
    fn clone(&self) -> Self {
        InodeTree {
            depth: self.depth,
            len: self.len,
            children: self.children.clone(),
            memo: Memo::new(None),
        }
    }
}

pub(crate) struct LazyInode {
    pub(crate) hash: Hash,
    pub(crate) len: u64,
    pub(crate) depth: u32,
    pub(crate) store: Arc<StoreHandle>,
    loaded: OnceLock<Inode>,
}

/// Names up to this length have their step hash cached ([`step_hash`]).
const STEP_CACHE_NAME_MAX: usize = 64;
/// Slots of the per-thread step-hash cache (direct-mapped, power of 2).
const STEP_CACHE_SLOTS: usize = 8 * 1024;

/// One slot of the step-hash cache: the name (inline) and its hash.
#[derive(Clone, Copy)]
struct StepSlot {
    len: u8,
    name: [u8; STEP_CACHE_NAME_MAX],
    hash: Hash,
}

/// FxHash-style mixing of a name, to pick its cache slot (a collision only
/// costs a recomputation: slots hold the full name).
fn fx(bytes: &[u8]) -> u64 {
    const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let mut h: u64 = 0;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    for &b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
    }
    h
}

/// `context_hash::step_hash`, memoised per thread for short names in a
/// direct-mapped cache (one probe, name stored inline): a durable access
/// hashes the same step once per traversal of a large node, and several
/// traversals of one key are common (read, then write).
pub(crate) fn step_hash(name: &str) -> Hash {
    use std::cell::RefCell;
    thread_local! {
        static CACHE: RefCell<Vec<StepSlot>> = const { RefCell::new(Vec::new()) };
    }
    let n = name.as_bytes();
    if n.len() > STEP_CACHE_NAME_MAX || n.is_empty() {
        return context_hash::step_hash(name);
    }
    CACHE.with_borrow_mut(|c| {
        if c.is_empty() {
            let empty = StepSlot {
                len: 0,
                name: [0; STEP_CACHE_NAME_MAX],
                hash: Hash::default(),
            };
            *c = vec![empty; STEP_CACHE_SLOTS];
        }
        let i = (fx(n) >> 32) as usize & (STEP_CACHE_SLOTS - 1);
        let slot = &mut c[i];
        if usize::from(slot.len) == n.len() && &slot.name[..n.len()] == n {
            return slot.hash;
        }
        let h = context_hash::step_hash(name);
        // Fits: at most STEP_CACHE_NAME_MAX (64) bytes.
        slot.len = n.len() as u8;
        slot.name[..n.len()].copy_from_slice(n);
        slot.hash = h;
        h
    })
}

/// blake2b-256 of a whole pre-image, recorded by [`crate::hash_trace`].
fn blake(pre: &[u8]) -> Hash {
    crate::hash_trace::record(pre.len());
    preimage::blake2b_256(pre)
}

/// Run `f` with a per-thread reused pre-image buffer (if `f` re-enters, the inner call
/// allocates).
fn with_buf<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    use std::cell::RefCell;
    thread_local! {
        static PRE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    PRE.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            f(&mut buf)
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// Hash the pre-image `f` writes, in the per-thread buffer.
pub(crate) fn hash_with(f: impl FnOnce(&mut Vec<u8>)) -> Hash {
    with_buf(|buf| {
        f(buf);
        blake(buf)
    })
}

/// Child hashes of at most [`ENTRIES`] entries, computed before any
/// pre-image is written (hashing a child may recurse).
fn leaf_triples<'a>(
    entries: &'a [Entry],
    names: &'a mut [NameBytes<'a>; ENTRIES],
) -> Result<[Triple<'a>; ENTRIES], TreeError> {
    let mut hashes = [(EntryKind::Node, Hash::default()); ENTRIES];
    for ((slot, name), (n, t)) in hashes.iter_mut().zip(names.iter_mut()).zip(entries) {
        *slot = (t.kind().into(), t.hash()?);
        *name = n.as_bytes();
    }
    let mut out = [(&[][..], EntryKind::Node, Hash::default()); ENTRIES];
    for ((o, name), (k, h)) in out.iter_mut().zip(names.iter()).zip(hashes) {
        *o = (&name[..], k, h);
    }
    Ok(out)
}

/// Storage for [`leaf_triples`]' names.
fn no_names<'a>() -> [NameBytes<'a>; ENTRIES] {
    [NameBytes::Borrowed(&[]), NameBytes::Borrowed(&[])]
}

/// Hash of a `Values` inode ([`preimage::values`]).
fn values_hash(entries: &[Entry]) -> Result<Hash, TreeError> {
    if entries.len() > ENTRIES {
        return Err(TreeError::Precondition("values inode over 2 entries"));
    }
    let mut names = no_names();
    let t = leaf_triples(entries, &mut names)?;
    Ok(hash_with(|b| preimage::values(b, &t[..entries.len()])))
}

/// Hash of a node of at most `stable_hash = 2` entries ([`preimage::stable_node`]).
fn stable_hash(entries: &[Entry]) -> Result<Hash, TreeError> {
    if entries.len() > ENTRIES {
        return Err(TreeError::Precondition("stable node over 2 entries"));
    }
    let mut names = no_names();
    let t = leaf_triples(entries, &mut names)?;
    Ok(hash_with(|b| preimage::stable_node(b, &t[..entries.len()])))
}

/// Hash of a `Tree` inode ([`preimage::tree`]).
fn tree_hash(depth: u32, len: u64, children: [Option<Hash>; ENTRIES]) -> Hash {
    hash_with(|b| preimage::tree(b, depth, len, &children))
}

/// The Irmin hash of a node given as sorted flat entries.
fn flat_hash(entries: &[Entry]) -> Result<Hash, TreeError> {
    if entries.len() <= ENTRIES {
        return stable_hash(entries);
    }
    let names: Vec<NameBytes<'_>> = entries.iter().map(|(n, _)| n.as_bytes()).collect();
    let mut triples = Vec::with_capacity(entries.len());
    let mut items = Vec::with_capacity(entries.len());
    for (i, ((_, t), n)) in entries.iter().zip(&names).enumerate() {
        triples.push((&n[..], t.kind().into(), t.hash()?));
        let i = u32::try_from(i).map_err(|_| TreeError::Precondition("node too large"))?;
        items.push((step_hash(n.as_str()), i));
    }
    items.sort_unstable();
    Ok(with_buf(|buf| {
        preimage::trie_hash(buf, &triples, &items, 0, &mut blake)
    }))
}

/// Build the canonical sub-trie at `depth` over `items` (any order).
fn build(mut items: Vec<(Hash, Name, Tree)>, depth: u32) -> Result<Inode, TreeError> {
    if items.len() <= ENTRIES {
        items.sort_by(|a, b| a.1.cmp_name(&b.1));
        return Ok(Inode::Values(leaf(
            items.into_iter().map(|(_, n, t)| (n, t)),
        )?));
    }
    let len = items.len() as u64;
    let (ones, zeros): (Vec<_>, Vec<_>) =
        items.into_iter().partition(|(h, _, _)| bit(h, depth) == 1);
    let side = |v: Vec<(Hash, Name, Tree)>| {
        if v.is_empty() {
            Ok(None)
        } else {
            build(v, depth + 1).map(Some)
        }
    };
    Ok(Inode::Tree(Arc::new(InodeTree::new(
        depth,
        len,
        [side(zeros)?, side(ones)?],
        None,
        0,
    ))))
}

impl InodeTree {
    pub(crate) fn new(
        depth: u32,
        len: u64,
        children: [Option<Inode>; ENTRIES],
        hash: Option<Hash>,
        persisted: u64,
    ) -> Self {
        InodeTree {
            depth,
            len,
            children,
            memo: Memo::new_marked(hash, persisted),
        }
    }

    pub(crate) fn hash(&self) -> Result<Hash, TreeError> {
        if let Some(h) = self.memo.get() {
            return Ok(h);
        }
        let mut hs = [None, None];
        for (slot, c) in hs.iter_mut().zip(&self.children) {
            if let Some(c) = c {
                *slot = Some(c.hash()?);
            }
        }
        let h = tree_hash(self.depth, self.len, hs);
        self.memo.set(h);
        Ok(h)
    }

    pub(crate) fn persisted_in(&self, id: u64) -> bool {
        self.memo.mark() == id
    }

    /// Whether the hash is memoised (reads it: see [`Name::touch`]).
    #[inline]
    pub(crate) fn hash_memoised(&self) -> bool {
        self.memo.get().is_some()
    }

    pub(crate) fn mark_persisted(&self, id: u64) {
        self.memo.set_mark(id);
    }
}

impl LazyInode {
    pub(crate) fn new(hash: Hash, len: u64, depth: u32, store: Arc<StoreHandle>) -> Self {
        LazyInode {
            hash,
            len,
            depth,
            store,
            loaded: OnceLock::new(),
        }
    }

    pub(crate) fn resolve(&self) -> Result<&Inode, TreeError> {
        if let Some(i) = self.loaded.get() {
            return Ok(i);
        }
        let i = load::load_inode(&self.store, &self.hash, self.depth)?;
        let _ = self.loaded.set(i);
        Ok(self.loaded.get().expect("just set"))
    }
}

fn tree_mut(t: &mut Arc<InodeTree>) -> &mut InodeTree {
    let t = Arc::make_mut(t);
    t.memo.clear();
    t
}

impl Inode {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Inode::Values(v) => v.len() as u64,
            Inode::Tree(t) => t.len,
            Inode::Lazy(l) => l.len,
        }
    }

    /// The address of the value this inode shares (two clones answer the same).
    pub(crate) fn addr(&self) -> usize {
        match self {
            Inode::Values(LeafRef::Zero(l)) => Arc::as_ptr(l) as usize,
            Inode::Values(LeafRef::One(l)) => Arc::as_ptr(l) as usize,
            Inode::Values(LeafRef::Two(l)) => Arc::as_ptr(l) as usize,
            Inode::Tree(t) => Arc::as_ptr(t) as usize,
            Inode::Lazy(l) => Arc::as_ptr(l) as usize,
        }
    }

    /// Whether hashing this inode computes anything (no hash memoised).
    pub(crate) fn hash_pending(&self) -> bool {
        match self {
            Inode::Values(v) => !v.memo.is_set(),
            Inode::Tree(t) => !t.memo.is_set(),
            Inode::Lazy(_) => false,
        }
    }

    /// Visit the parts right below this inode: the child inodes of a `Tree`
    /// inode, the entries' trees of a `Values` one (none for a lazy inode).
    pub(crate) fn for_each_part<'a>(&'a self, mut f: impl FnMut(Part<'a>)) {
        match self {
            Inode::Values(v) => v.iter().for_each(|(_, t)| f(Part::Tree(t))),
            Inode::Tree(t) => t.children.iter().flatten().for_each(|c| f(Part::Inode(c))),
            Inode::Lazy(_) => {}
        }
    }

    /// The Irmin inode hash.
    pub(crate) fn hash(&self) -> Result<Hash, TreeError> {
        match self {
            Inode::Values(v) => v.hash(),
            Inode::Tree(t) => t.hash(),
            Inode::Lazy(l) => Ok(l.hash),
        }
    }

    fn resolve_in_place(&mut self) -> Result<(), TreeError> {
        if let Inode::Lazy(l) = self {
            let loaded = l.resolve()?.clone();
            *self = loaded;
        }
        Ok(())
    }

    fn get(&self, name: &str, sh: &Hash, depth: u32) -> Result<Option<&Tree>, TreeError> {
        let mut cur = self;
        let mut depth = depth;
        loop {
            match cur {
                Inode::Values(v) => return Ok(search(v, name).ok().map(|i| &v[i].1)),
                Inode::Tree(t) => match &t.children[bit(sh, depth)] {
                    None => return Ok(None),
                    Some(c) => {
                        cur = c;
                        depth += 1;
                    }
                },
                Inode::Lazy(l) => cur = l.resolve()?,
            }
        }
    }

    /// The entry `name` (un-sharing the path to it), inserting an empty
    /// node if absent; returns whether it was inserted. One descent.
    fn get_or_insert_empty(
        &mut self,
        name: &str,
        sh: &Hash,
        depth: u32,
    ) -> Result<(&mut Tree, bool), TreeError> {
        self.resolve_in_place()?;
        if let Inode::Values(v) = self
            && search(v, name).is_err()
            && v.len() >= ENTRIES
        {
            // Full leaf: split it, then descend into the new sub-trie.
            let mut items: Vec<(Hash, Name, Tree)> = v
                .iter()
                .map(|(n, t)| (step_hash(n.as_bytes().as_str()), n.clone(), t.clone()))
                .collect();
            items.push((*sh, Name::new(name), Tree::empty()));
            *self = build(items, depth)?;
            let (t, _) = self.get_or_insert_empty(name, sh, depth)?;
            return Ok((t, true));
        }
        match self {
            Inode::Values(v) => match search(v, name) {
                Ok(i) => Ok((&mut values_mut(v)?[i].1, false)),
                Err(i) => {
                    let mut new: Vec<Entry> = Vec::with_capacity(v.len() + 1);
                    new.extend(v.iter().cloned());
                    new.insert(i, (Name::new(name), Tree::empty()));
                    *v = leaf(new)?;
                    Ok((&mut values_mut(v)?[i].1, true))
                }
            },
            Inode::Tree(t) => {
                let t = tree_mut(t);
                let (r, added) = match &mut t.children[bit(sh, depth)] {
                    slot @ None => {
                        let new = leaf([(Name::new(name), Tree::empty())])?;
                        let Inode::Values(v) = slot.insert(Inode::Values(new)) else {
                            unreachable!("just inserted a Values inode")
                        };
                        (&mut values_mut(v)?[0].1, true)
                    }
                    Some(c) => c.get_or_insert_empty(name, sh, depth + 1)?,
                };
                if added {
                    t.len += 1;
                }
                Ok((r, added))
            }
            Inode::Lazy(_) => unreachable!("resolved above"),
        }
    }

    /// Remove `name`, which must be present; keeps the trie canonical.
    fn remove(&mut self, name: &str, sh: &Hash, depth: u32) -> Result<(), TreeError> {
        self.resolve_in_place()?;
        match self {
            Inode::Values(v) => {
                let kept: Vec<Entry> = v
                    .iter()
                    .filter(|(n, _)| n.cmp_bytes(name.as_bytes()).is_ne())
                    .cloned()
                    .collect();
                *v = leaf(kept)?;
                Ok(())
            }
            Inode::Tree(t) => {
                let t = tree_mut(t);
                let slot = &mut t.children[bit(sh, depth)];
                if let Some(c) = slot {
                    c.remove(name, sh, depth + 1)?;
                    if c.len() == 0 {
                        *slot = None;
                    }
                }
                t.len -= 1;
                if t.len <= ENTRIES as u64 {
                    // Children of at most 2 entries are always `Values`.
                    let mut entries = Vec::new();
                    for c in t.children.iter().flatten() {
                        match c {
                            Inode::Values(v) => entries.extend(v.iter().cloned()),
                            _ => unreachable!("a sub-trie of <= 2 entries is a Values inode"),
                        }
                    }
                    entries.sort_by(|a, b| a.0.cmp_name(&b.0));
                    *self = Inode::Values(leaf(entries)?);
                }
                Ok(())
            }
            Inode::Lazy(_) => unreachable!("resolved above"),
        }
    }

    /// Every entry of the sub-trie (any order), loading it fully.
    pub(crate) fn collect<'a>(
        &'a self,
        out: &mut Vec<(&'a Name, &'a Tree)>,
    ) -> Result<(), TreeError> {
        match self {
            Inode::Values(v) => out.extend(v.iter().map(|(n, t)| (n, t))),
            Inode::Tree(t) => {
                for c in t.children.iter().flatten() {
                    c.collect(out)?;
                }
            }
            Inode::Lazy(l) => l.resolve()?.collect(out)?,
        }
        Ok(())
    }
}

impl Children {
    pub(crate) fn new() -> Self {
        Children::Flat(Box::default())
    }

    /// A trie root (a `Tree` inode of more than [`FLAT_MIN`] entries).
    pub(crate) fn trie(root: Inode) -> Self {
        Children::Big(Box::new(Big::Trie(root)))
    }

    /// The children of a compact durable value's `@` node.
    pub(crate) fn value(v: CompactValue) -> Self {
        Children::Big(Box::new(Big::Value(v)))
    }

    /// The children `{@ → v}` of a durable key's node.
    pub(crate) fn key_value(v: CompactValue) -> Self {
        Children::Big(Box::new(Big::Value(v.into_key_role())))
    }

    /// The compact durable value, if these are the children of one.
    pub(crate) fn as_value(&self) -> Option<&CompactValue> {
        match self {
            Children::Big(b) => match &**b {
                Big::Value(v) if !v.in_key() => Some(v),
                _ => None,
            },
            Children::Flat(_) => None,
        }
    }

    /// The compact durable value these children are, in either role (of an
    /// `@` node or of its key's node), if any.
    pub(crate) fn as_any_value(&self) -> Option<&CompactValue> {
        match self {
            Children::Big(b) => match &**b {
                Big::Value(v) => Some(v),
                Big::Trie(_) => None,
            },
            Children::Flat(_) => None,
        }
    }

    /// The compact durable value held as the only child `@`, if any.
    pub(crate) fn as_key_value(&self) -> Option<&CompactValue> {
        match self {
            Children::Big(b) => match &**b {
                Big::Value(v) if v.in_key() => Some(v),
                _ => None,
            },
            Children::Flat(_) => None,
        }
    }

    /// Turn a compact value into flat entries before a structural change;
    /// `persisted`: the node's persisted mark before the change, `chunk`: the
    /// chunk's hash if known (see [`CompactValue::into_entries`]).
    pub(crate) fn expand_value(&mut self, persisted: u64, chunk: Option<Hash>) {
        let Children::Big(b) = self else {
            return;
        };
        if matches!(**b, Big::Trie(_)) {
            return;
        }
        let Children::Big(b) = std::mem::replace(self, Children::new()) else {
            unreachable!("a value is boxed")
        };
        *self = Children::Flat(match *b {
            Big::Value(v) => v.into_entries(chunk, persisted),
            Big::Trie(_) => unreachable!("checked above"),
        });
    }

    pub(crate) fn len(&self) -> u64 {
        match self {
            Children::Flat(m) => m.len() as u64,
            Children::Big(b) => match &**b {
                Big::Trie(i) => i.len(),
                Big::Value(v) => v.entry_count(),
            },
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, name: &str) -> Result<Option<&Tree>, TreeError> {
        self.get_with(name, None)
    }

    /// [`Children::get`]; `chunk`: the chunk's hash of a compact value, if
    /// known (memoised by the trees built to answer).
    pub(crate) fn get_with(
        &self,
        name: &str,
        chunk: Option<Hash>,
    ) -> Result<Option<&Tree>, TreeError> {
        match self {
            Children::Flat(m) => Ok(search(m, name).ok().map(|i| &m[i].1)),
            Children::Big(b) => match &**b {
                Big::Trie(i) => i.get(name, &step_hash(name), 0),
                // An absent name is answered without building the entries.
                Big::Value(v) if !v.has_entry(name) => Ok(None),
                Big::Value(v) => {
                    let m = v.entries(chunk);
                    Ok(search(m, name).ok().map(|i| &m[i].1))
                }
            },
        }
    }

    /// The trie root, after turning a compact value into flat entries.
    fn trie_mut(&mut self) -> Option<&mut Inode> {
        self.expand_value(0, None);
        match self {
            Children::Big(b) => match &mut **b {
                Big::Trie(i) => Some(i),
                Big::Value(_) => None,
            },
            Children::Flat(_) => None,
        }
    }

    /// The child `name`, inserting an empty node first if absent (one step
    /// hash, however large the node). Returns whether it was inserted.
    pub(crate) fn get_or_insert_empty(
        &mut self,
        name: &str,
    ) -> Result<(&mut Tree, bool), TreeError> {
        self.expand_value(0, None);
        if let Children::Flat(m) = self {
            match search(m, name) {
                Ok(i) => {
                    let Children::Flat(m) = self else {
                        unreachable!("flat")
                    };
                    return Ok((&mut m[i].1, false));
                }
                Err(i) if m.len() < FLAT_MAX => {
                    slice_insert(m, i, (Name::new(name), Tree::empty()));
                    let Children::Flat(m) = self else {
                        unreachable!("flat")
                    };
                    return Ok((&mut m[i].1, true));
                }
                Err(_) => {
                    // Grows past FLAT_MAX: becomes a trie.
                    let items = std::mem::take(m)
                        .into_vec()
                        .into_iter()
                        .map(|(n, t)| (step_hash(n.as_bytes().as_str()), n, t))
                        .collect();
                    *self = Children::trie(build(items, 0)?);
                }
            }
        }
        let Some(i) = self.trie_mut() else {
            unreachable!("flat handled above")
        };
        i.get_or_insert_empty(name, &step_hash(name), 0)
    }

    pub(crate) fn insert(&mut self, name: &str, tree: Tree) -> Result<(), TreeError> {
        self.expand_value(0, None);
        if let Children::Flat(m) = self
            && (m.len() < FLAT_MAX || search(m, name).is_ok())
        {
            vec_insert(m, name, tree);
            return Ok(());
        }
        let (slot, _) = self.get_or_insert_empty(name)?;
        *slot = tree;
        Ok(())
    }

    pub(crate) fn remove(&mut self, name: &str) -> Result<(), TreeError> {
        self.expand_value(0, None);
        if let Children::Flat(m) = self {
            if let Ok(i) = search(m, name) {
                let mut v = std::mem::take(m).into_vec();
                v.remove(i);
                *m = v.into_boxed_slice();
            }
            return Ok(());
        }
        let Some(i) = self.trie_mut() else {
            unreachable!("flat handled above")
        };
        let sh = step_hash(name);
        if i.get(name, &sh, 0)?.is_none() {
            return Ok(());
        }
        i.remove(name, &sh, 0)?;
        if i.len() <= FLAT_MIN as u64 {
            let mut entries = Vec::new();
            i.collect(&mut entries)?;
            let mut m: Vec<Entry> = entries
                .into_iter()
                .map(|(n, t)| (n.clone(), t.clone()))
                .collect();
            m.sort_unstable_by(|a, b| a.0.cmp_name(&b.0));
            *self = Children::Flat(m.into_boxed_slice());
        }
        Ok(())
    }

    /// All entries sorted by name (loads a trie fully).
    pub(crate) fn sorted(&self) -> Result<Vec<(String, &Tree)>, TreeError> {
        fn flat(m: &[Entry]) -> Vec<(String, &Tree)> {
            m.iter().map(|(n, t)| (n.to_owned_name(), t)).collect()
        }
        match self {
            Children::Flat(m) => Ok(flat(m)),
            Children::Big(b) => match &**b {
                Big::Trie(i) => {
                    let mut v = Vec::with_capacity(usize::try_from(i.len()).unwrap_or(0));
                    i.collect(&mut v)?;
                    v.sort_unstable_by(|a, b| a.0.cmp_name(b.0));
                    Ok(v.into_iter().map(|(n, t)| (n.to_owned_name(), t)).collect())
                }
                Big::Value(v) => Ok(flat(v.entries(None))),
            },
        }
    }

    /// The Irmin node hash.
    pub(crate) fn hash(&self) -> Result<Hash, TreeError> {
        match self {
            Children::Flat(m) => flat_hash(m),
            Children::Big(b) => match &**b {
                // Always more than 2 entries: the node hash is the root inode's.
                Big::Trie(i) => i.hash(),
                // Its holder memoises the chunk's hash (`NodeData::hash`).
                Big::Value(v) => v.hash(v.compute_chunk_hash()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn c(i: u32) -> Tree {
        Tree::contents(i.to_be_bytes().to_vec())
    }

    /// The reference hash: `context_hash::node_hash` over the model.
    fn flat_hash(names: &BTreeMap<String, u32>) -> Hash {
        let entries: Vec<context_hash::Entry<'_>> = names
            .iter()
            .map(|(n, i)| context_hash::Entry {
                name: n,
                kind: context_hash::EntryKind::Contents,
                hash: c(*i).hash().unwrap(),
            })
            .collect();
        context_hash::node_hash(&entries)
    }

    #[test]
    fn name_comparison_is_bytewise() {
        let names = [
            "",
            "a",
            "abcdef",
            "abcdefg",
            "abcdefgh",
            "abcdefg0123456789012345678",
            "abcdefg0123456789012345679",
            "abcdefh0123456789012345678",
            "abcdefg012345678901234567",
            "b",
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
            // Packed hex (inline: 24..=44 digits; boxed: 64 digits).
            "0123456789abcdef0123456789",
            "0123456789abcdef0123456788",
            "00000000000000000000000000000000000000ff",
            "00000000000000000000000000000000000000ff0000",
            "ffffffffffffffffffffffffffffffffffffffffffff",
            "deadbeef00000000000000000000000000000000000000000000000000000000",
            "deadbeef00000000000000000000000000000000000000000000000000000001",
            "deadbeef0000000000000000000000000000000000000000000000000000000",
            // Not packed: odd count, upper case, too long, 46 digits.
            "0123456789abcdef012345678",
            "0123456789ABCDEF0123456789",
            "deadbeef000000000000000000000000000000000000000000000000000000000000",
            "0000000000000000000000000000000000000000000000",
        ];
        for a in names {
            let n = Name::new(a);
            assert_eq!(&*n.as_bytes(), a.as_bytes(), "{a:?}");
            assert_eq!(n.to_owned_name(), a);
            for b in names {
                assert_eq!(
                    n.cmp_bytes(b.as_bytes()),
                    a.as_bytes().cmp(b.as_bytes()),
                    "{a:?} vs {b:?}"
                );
                assert_eq!(n.cmp_name(&Name::new(b)), a.as_bytes().cmp(b.as_bytes()));
            }
        }
        let kind = |s: &str| match Name::new(s) {
            Name::Inline(..) => "inline",
            Name::HexInline(..) => "hex",
            Name::HexBoxed(..) => "hex boxed",
            Name::Shared(..) => "shared",
        };
        for s in &names[11..16] {
            assert_eq!(kind(s), "hex", "{s}");
        }
        for s in &names[16..18] {
            assert_eq!(kind(s), "hex boxed", "{s}");
        }
        for s in &names[18..] {
            assert_eq!(kind(s), "shared", "{s}");
        }
        assert_eq!(std::mem::size_of::<Name>(), 24);
    }

    /// An inode is a tag and a thin pointer, so that a `Tree` inode (two
    /// of them, a memo, depth and length) fits a 112-byte allocation.
    #[test]
    fn inodes_are_two_words() {
        assert_eq!(std::mem::size_of::<Inode>(), 16);
        assert_eq!(std::mem::size_of::<Option<Inode>>(), 16);
        assert!(std::mem::size_of::<InodeTree>() + 16 + 8 <= 112);
    }

    /// Our flat-node hash (any size) agrees with `context_hash`.
    #[test]
    fn flat_hash_matches_context_hash() {
        let mut model = BTreeMap::new();
        for n in 0..40u32 {
            let m: Vec<Entry> = model
                .iter()
                .map(|(k, i): (&String, &u32)| (Name::new(k), c(*i)))
                .collect();
            assert_eq!(
                super::flat_hash(&m).unwrap(),
                flat_hash(&model),
                "{n} entries"
            );
            // Mix short (inline), long (shared) and packed hex names.
            let name = match n % 5 {
                0 => format!("long-name-{n:040}"),
                1 => format!("{:040x}", u64::from(n) * 0x9e37_79b9),
                2 => format!("{:064x}", u64::from(n) * 0x9e37_79b9),
                _ => format!("k{n}"),
            };
            model.insert(name, n);
        }
    }

    /// Check that the trie and context_hash agree through growth and
    /// shrinkage across both thresholds.
    #[test]
    fn trie_hash_matches_context_hash() {
        let mut ch = Children::new();
        let mut model: BTreeMap<String, u32> = BTreeMap::new();
        let mut x: u32 = 12345;
        for round in 0..1200u32 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            // Short (inline) and long (shared) names, some sharing a
            // long prefix.
            let i = (x >> 8) % 300;
            let name = match i % 5 {
                0 => format!("k{i}-{}", "0123456789abcdef".repeat(2)),
                // Packed hex names (40 and 64 digits).
                1 => format!("{:040x}", u64::from(i) << 20),
                2 => format!("{:064x}", u64::from(i) << 40),
                _ => format!("k{i}"),
            };
            if round < 600 || !x.is_multiple_of(3) {
                ch.insert(&name, c(round)).unwrap();
                model.insert(name, round);
            } else {
                ch.remove(&name).unwrap();
                model.remove(&name);
            }
            if round % 7 == 0 || model.len() < 40 {
                assert_eq!(ch.len(), model.len() as u64);
                assert_eq!(ch.hash().unwrap(), flat_hash(&model), "round {round}");
            }
        }
        assert!(matches!(&ch, Children::Big(b) if matches!(**b, Big::Trie(_))));
        // Shrink to nothing.
        let names: Vec<String> = model.keys().cloned().collect();
        for (i, n) in names.iter().enumerate() {
            ch.remove(n).unwrap();
            model.remove(n);
            if i % 5 == 0 || model.len() < 40 {
                assert_eq!(ch.hash().unwrap(), flat_hash(&model));
            }
        }
        assert!(matches!(&ch, Children::Flat(m) if m.is_empty()));
    }

    /// The memoised `Values` and `Tree` inode hashes are dropped by nested
    /// updates (through `&mut Tree` into a trie leaf), insertions and
    /// removals: hashing after each change equals hashing a fresh copy.
    #[test]
    fn memoised_inode_hashes_follow_nested_updates() {
        let mut t = Tree::empty();
        for i in 0..100u32 {
            t.set_contents(&[&format!("n{i}"), "x"], i.to_be_bytes().to_vec())
                .unwrap();
        }
        for round in 0..300u32 {
            // Memoise every hash, then change one leaf entry.
            t.hash().unwrap();
            let n = format!("n{}", round.wrapping_mul(37) % 120);
            match round % 4 {
                0 => t.remove(&[&n]).unwrap(),
                1 => t
                    .set_contents(&[&n, "y"], round.to_be_bytes().to_vec())
                    .unwrap(),
                _ => t
                    .set_contents(&[&n, "x"], round.to_be_bytes().to_vec())
                    .unwrap(),
            }
            let mut fresh = Tree::empty();
            for (name, _) in t.list(&[]).unwrap() {
                for (leaf, _) in t.list(&[&name]).unwrap() {
                    let v = t.get_contents(&[&name, &leaf]).unwrap().unwrap();
                    fresh.set_contents(&[&name, &leaf], v).unwrap();
                }
            }
            assert_eq!(t.hash().unwrap(), fresh.hash().unwrap(), "round {round}");
        }
    }

    #[test]
    fn trie_lookup_and_sorted_listing() {
        let mut ch = Children::new();
        for i in 0..100u32 {
            ch.insert(&format!("n{i:03}"), c(i)).unwrap();
        }
        assert!(matches!(&ch, Children::Big(b) if matches!(**b, Big::Trie(_))));
        for i in 0..100u32 {
            let t = ch.get(&format!("n{i:03}")).unwrap().unwrap();
            assert_eq!(t.get_contents(&[]).unwrap().unwrap(), i.to_be_bytes());
        }
        assert!(ch.get("zz").unwrap().is_none());
        let names: Vec<String> = ch.sorted().unwrap().into_iter().map(|x| x.0).collect();
        let expected: Vec<String> = (0..100).map(|i| format!("n{i:03}")).collect();
        assert_eq!(names, expected);
        // Replace keeps the length.
        ch.insert("n005", c(999)).unwrap();
        assert_eq!(ch.len(), 100);
        // Removing an absent name is a no-op.
        ch.remove("absent").unwrap();
        assert_eq!(ch.len(), 100);
    }
}
