//! The persistent Irmin-like tree.
//!
//! A [`Tree`] is either a node (named children: a boxed slice
//! sorted bytewise by name for small nodes; Irmin's binary inode trie for
//! large ones, see [`inode`]) or contents (a byte blob, inline when
//! short; a durable value of one chunk has its `@` subtree held compactly,
//! see [`value`]). Clones
//! are cheap (`Arc`-shared); mutation is copy-on-write (`Arc::make_mut`);
//! hashes are memoised per node and dropped on mutation. A child may be lazy:
//! a hash plus a handle on a [`NodeStore`](crate::backend::NodeStore), loaded on first access.
//!
//! Update semantics follow Irmin's `Tree.update_tree`
//! (`irmin/lib_irmin/tree.ml` in tezos-mirror):
//! * setting at a path creates the missing intermediate nodes, and replaces
//!   any contents found on the way by a node;
//! * adding an empty node at a path is a removal;
//! * removing the last child of a node removes that node from its parent,
//!   recursively up to (but excluding) the root;
//! * removing or replacing the root (`[]` path) leaves an empty node when the
//!   new value is "nothing".

use std::sync::{Arc, OnceLock};

use context_hash::{EntryKind, Hash};

pub(crate) mod inode;
mod load;
pub(crate) mod memo;
pub(crate) mod par;
pub(crate) mod value;

use self::inode::Children;
pub(crate) use self::load::StoreHandle;
use self::memo::Memo;
use crate::backend::StoreError;

/// The kind of a tree: a node (directory) or contents (a value blob).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A node with named children.
    Node,
    /// A contents blob.
    Contents,
}

impl From<Kind> for EntryKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Node => EntryKind::Node,
            Kind::Contents => EntryKind::Contents,
        }
    }
}

/// Operational errors of tree access: only the backing store can fail.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// The node store failed (I/O, missing object, corruption).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A durable value's encoding in the tree is not the one Octez writes
    /// (e.g. `@/length` missing or not 8 bytes). Cannot be produced through
    /// the [`crate::durable`] API.
    #[error("malformed durable value at {0}")]
    Malformed(String),
    /// A caller broke a documented precondition (a bug in the caller).
    #[error("precondition violated: {0}")]
    Precondition(&'static str),
    /// Inside [`in_memory_only`], a read needed an object not loaded yet.
    #[error("the tree is not loaded in memory here (a store read was refused)")]
    NotInMemory,
}

std::thread_local! {
    /// [`in_memory_only`] state of this thread: 0 off, 1 on, 2 on and a load was refused.
    static MEMORY_ONLY: std::cell::Cell<u8> = const { std::cell::Cell::new(0) };
}

/// Run `f` with every store read refused ([`TreeError::NotInMemory`]): `Some` with its result
/// when it read only objects already in memory, `None` when it needed a store read (its
/// result is then dropped, whatever `f` made of the error). For callers that must not wait on
/// I/O (an RPC answered on an async worker: the pack file may be read or its GC swept
/// otherwise); they redo the work where waiting is allowed. Not reentrant-safe across threads:
/// the mode is per thread.
pub fn in_memory_only<R>(f: impl FnOnce() -> R) -> Option<R> {
    let previous = MEMORY_ONLY.with(|m| m.replace(1));
    let r = f();
    let refused = MEMORY_ONLY.with(|m| m.replace(previous)) == 2;
    if refused {
        // An outer `in_memory_only` fails too.
        if previous != 0 {
            MEMORY_ONLY.with(|m| m.set(2));
        }
        None
    } else {
        Some(r)
    }
}

/// Whether this thread is inside [`in_memory_only`] (work split over
/// threads stays on it there: the mode is per thread).
pub(crate) fn memory_only() -> bool {
    MEMORY_ONLY.with(|m| m.get() != 0)
}

/// Inside [`in_memory_only`]: record that a store read was needed and return `true` (the
/// caller refuses it); `false` elsewhere. For stores' callers that read outside the tree (a
/// checkout reads the root object).
pub fn refuse_store_read() -> bool {
    MEMORY_ONLY.with(|m| {
        if m.get() == 0 {
            false
        } else {
            m.set(2);
            true
        }
    })
}

/// A persistent Merkle tree (Irmin tree).
#[derive(Clone)]
pub struct Tree(Repr);

#[derive(Clone)]
enum Repr {
    Node(Arc<NodeData>),
    Contents(Arc<ContentsData>),
    Lazy(Arc<LazyRef>),
}

pub(crate) struct NodeData {
    pub(crate) children: Children,
    /// The hash, and the id of the [`StoreHandle`] this exact node is
    /// known to be stored in (0: none; set on load and after commit).
    /// Both cleared on mutation.
    memo: Memo,
}

impl Clone for NodeData {
    fn clone(&self) -> Self {
        // Only `Arc::make_mut` clones, right before a mutation.
        NodeData {
            children: self.children.clone(),
            memo: Memo::new(None),
        }
    }
}

/// Contents bytes up to this size are stored inline (no allocation of
/// their own): durable `@/length` values, flags.
const BYTES_INLINE: usize = 22;

/// Contents longer than this whose zero tail is at least [`ZERO_TAIL_MIN`]
/// bytes keep only the bytes before that tail ([`Bytes::ZeroTail`]). Above
/// [`crate::INLINE_MAX`], so that contents inlined in a parent's object
/// are always plain slices.
const ZERO_TAIL_FROM: usize = 64;
const _: () = assert!(ZERO_TAIL_FROM >= crate::object::INLINE_MAX);
/// Shortest zero tail worth dropping (an allocation is rounded to 16 bytes).
const ZERO_TAIL_MIN: usize = 32;

/// The length of `b` without its trailing zero bytes (`b` scanned from the end 8 bytes at a
/// time: a durable chunk is 512 bytes, mostly zeros; issue 15, P7 profile).
pub(crate) fn without_zero_tail(b: &[u8]) -> usize {
    let mut end = b.len();
    while let Some(word) = end
        .checked_sub(8)
        .and_then(|start| <[u8; 8]>::try_from(&b[start..end]).ok())
    {
        if u64::from_ne_bytes(word) != 0 {
            break;
        }
        end -= 8;
    }
    while end > 0 && b[end - 1] == 0 {
        end -= 1;
    }
    end
}

/// The bytes of a contents blob: inline when short, else an exact-size
/// boxed slice; durable chunks (always 512 bytes, zero-padded after the
/// value: wasm-pvm.md §2) keep only the bytes before their zero tail.
/// 24 bytes, like a `Vec`, without the spare capacity (issue 15, RSS:
/// `BENCHMARKS.md`).
#[derive(Clone)]
pub(crate) enum Bytes {
    /// At most [`BYTES_INLINE`] bytes: length and bytes.
    Inline(u8, [u8; BYTES_INLINE]),
    /// Longer contents.
    Heap(Box<[u8]>),
    /// `head` followed by zeros up to `len` bytes in all
    /// (`head.len() < len`, `len > ZERO_TAIL_FROM`).
    ZeroTail(Box<[u8]>, u32),
}

impl Bytes {
    fn new(mut v: Vec<u8>) -> Bytes {
        if v.len() <= BYTES_INLINE {
            let mut b = [0u8; BYTES_INLINE];
            b[..v.len()].copy_from_slice(&v);
            // Fits: checked above.
            return Bytes::Inline(v.len() as u8, b);
        }
        if v.len() > ZERO_TAIL_FROM {
            let head = without_zero_tail(&v);
            if let (true, Ok(len)) = (v.len() - head >= ZERO_TAIL_MIN, u32::try_from(v.len())) {
                v.truncate(head);
                return Bytes::ZeroTail(Box::from(v.as_slice()), len);
            }
        }
        Bytes::Heap(v.into_boxed_slice())
    }

    /// Number of bytes (zero tail included).
    pub(crate) fn len(&self) -> usize {
        match self {
            Bytes::Inline(l, _) => usize::from(*l),
            Bytes::Heap(b) => b.len(),
            // u32 → usize: lossless on the supported (64-bit) targets.
            Bytes::ZeroTail(_, len) => *len as usize,
        }
    }

    /// The first byte, if any.
    pub(crate) fn first(&self) -> Option<u8> {
        match self {
            Bytes::ZeroTail(h, _) => Some(h.first().copied().unwrap_or(0)),
            _ => self.as_plain().and_then(|b| b.first().copied()),
        }
    }

    /// The bytes when stored whole (not [`Bytes::ZeroTail`]).
    pub(crate) fn as_plain(&self) -> Option<&[u8]> {
        match self {
            Bytes::Inline(l, b) => Some(&b[..usize::from(*l)]),
            Bytes::Heap(b) => Some(b),
            Bytes::ZeroTail(..) => None,
        }
    }

    /// The bytes (a zero tail is written out in a fresh buffer).
    pub(crate) fn as_slice(&self) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Bytes::ZeroTail(..) => {
                let mut v = Vec::with_capacity(self.len());
                self.extend_into(&mut v);
                std::borrow::Cow::Owned(v)
            }
            _ => std::borrow::Cow::Borrowed(self.as_plain().unwrap_or_default()),
        }
    }

    /// Append the bytes to `out`.
    pub(crate) fn extend_into(&self, out: &mut Vec<u8>) {
        match self {
            Bytes::ZeroTail(h, _) => {
                out.extend_from_slice(h);
                out.resize(out.len() + (self.len() - h.len()), 0);
            }
            _ => out.extend_from_slice(self.as_plain().unwrap_or_default()),
        }
    }
}

pub(crate) struct ContentsData {
    pub(crate) bytes: Bytes,
    /// The hash and the persisted mark (as [`NodeData::memo`]).
    memo: Memo,
}

pub(crate) struct LazyRef {
    pub(crate) hash: Hash,
    pub(crate) kind: Kind,
    pub(crate) store: Arc<StoreHandle>,
    loaded: OnceLock<Tree>,
}

/// `size_of` of the types a loaded tree is made of (see [`crate::layout_sizes`]).
pub(crate) fn layout_sizes() -> Vec<(&'static str, usize)> {
    use std::mem::size_of;
    vec![
        ("Tree", size_of::<Tree>()),
        ("NodeData (in Arc: +16)", size_of::<NodeData>()),
        ("ContentsData (in Arc: +16)", size_of::<ContentsData>()),
        ("Bytes", size_of::<Bytes>()),
        ("Memo", size_of::<Memo>()),
        ("LazyRef (in Arc: +16)", size_of::<LazyRef>()),
        ("Children", size_of::<Children>()),
        ("Entry (Name, Tree)", size_of::<inode::Entry>()),
        ("Name", size_of::<inode::Name>()),
        ("Inode", size_of::<inode::Inode>()),
        ("InodeTree (in Arc: +16)", size_of::<inode::InodeTree>()),
        ("Leaf of 2 (in Arc: +16)", inode::leaf2_size()),
        ("Big (trie root, compact value)", size_of::<inode::Big>()),
    ]
}

/// A resolved (non-lazy) view of a tree.
pub(crate) enum View<'a> {
    Node(&'a NodeData),
    Contents(&'a ContentsData),
}

/// Hash of the empty node (memoised).
pub(crate) fn empty_node_hash() -> Hash {
    static H: OnceLock<Hash> = OnceLock::new();
    *H.get_or_init(|| context_hash::node_hash(&[]))
}

impl NodeData {
    pub(crate) fn new(children: Children, hash: Option<Hash>, persisted: u64) -> Self {
        NodeData {
            children,
            memo: Memo::new_marked(hash, persisted),
        }
    }

    pub(crate) fn hash(&self) -> Result<Hash, TreeError> {
        if let Some(h) = self.memo.get() {
            return Ok(h);
        }
        if let Some(v) = self.children.as_any_value() {
            return Ok(self.value_hashes(v)?.0);
        }
        let h = self.children.hash()?;
        self.memo.set(h);
        Ok(h)
    }

    /// For children that are the compact durable value `v`, with no hash
    /// memoised: this node's hash (memoised) and the chunk's hash (kept in
    /// a process-wide cache keyed by the node's hash, [`value::chunk_of`]).
    fn value_hashes(&self, v: &value::CompactValue) -> Result<(Hash, Hash), TreeError> {
        let chunk = v.compute_chunk_hash();
        let h = v.hash(chunk)?;
        self.memo.set(h);
        value::remember_chunk(h, chunk);
        Ok((h, chunk))
    }

    /// The chunk's hash of the compact durable value these children are,
    /// if they are one (a compact value does not memoise it: from the
    /// process-wide cache keyed by this node's hash, else computed).
    pub(crate) fn value_chunk_hash(&self) -> Result<Option<Hash>, TreeError> {
        let Some(v) = self.children.as_any_value() else {
            return Ok(None);
        };
        if let Some(h) = self.memo.get() {
            if let Some(c) = value::chunk_of(h) {
                return Ok(Some(c));
            }
            let c = v.compute_chunk_hash();
            value::remember_chunk(h, c);
            return Ok(Some(c));
        }
        Ok(Some(self.value_hashes(v)?.1))
    }

    /// The chunk's hash of the compact durable value these children are,
    /// if they are one and it is known without hashing.
    fn known_chunk_hash(&self) -> Option<Hash> {
        self.children.as_any_value()?;
        value::chunk_of(self.memo.get()?)
    }

    pub(crate) fn persisted_in(&self, store_id: u64) -> bool {
        self.memo.mark() == store_id
    }

    pub(crate) fn mark_persisted(&self, store_id: u64) {
        self.memo.set_mark(store_id);
    }
}

impl ContentsData {
    pub(crate) fn new(bytes: Vec<u8>, hash: Option<Hash>, persisted: u64) -> Self {
        ContentsData {
            bytes: Bytes::new(bytes),
            memo: Memo::new_marked(hash, persisted),
        }
    }

    pub(crate) fn hash(&self) -> Hash {
        self.memo.get_or_init(|| bytes_hash(&self.bytes))
    }

    pub(crate) fn persisted_in(&self, store_id: u64) -> bool {
        self.memo.mark() == store_id
    }

    pub(crate) fn mark_persisted(&self, store_id: u64) {
        self.memo.set_mark(store_id);
    }
}

/// The Irmin hash of contents holding `bytes`.
fn bytes_hash(bytes: &Bytes) -> Hash {
    // Pre-image: u64 length ‖ bytes.
    crate::hash_trace::record(bytes.len() + 8);
    match bytes.as_plain() {
        Some(b) => context_hash::contents_hash(b),
        None => with_zero_tail_buf(|buf| {
            bytes.extend_into(buf);
            context_hash::contents_hash(buf)
        }),
    }
}

/// Run `f` on a per-thread reused, cleared buffer (a fresh one if `f`
/// re-enters), to write out [`Bytes::ZeroTail`] contents for hashing.
fn with_zero_tail_buf<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    use std::cell::RefCell;
    thread_local! {
        static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            f(&mut buf)
        }
        Err(_) => f(&mut Vec::new()),
    })
}

impl LazyRef {
    pub(crate) fn resolve(&self) -> Result<&Tree, TreeError> {
        if let Some(t) = self.loaded.get() {
            return Ok(t);
        }
        if refuse_store_read() {
            return Err(TreeError::NotInMemory);
        }
        let t = load::load_object(&self.store, &self.hash, self.kind)?;
        // A concurrent loader may have won the race: both values are equal.
        let _ = self.loaded.set(t);
        Ok(self.loaded.get().expect("just set"))
    }
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Repr::Node(n) => match n.children.sorted() {
                Ok(v) => f.debug_map().entries(v).finish(),
                Err(e) => write!(f, "Node(<{e}>)"),
            },
            Repr::Contents(c) => write!(f, "Contents({})", hex::encode(c.bytes.as_slice())),
            Repr::Lazy(l) => write!(f, "Lazy({:?}, {})", l.kind, l.hash),
        }
    }
}

impl Default for Tree {
    fn default() -> Self {
        Tree::empty()
    }
}

impl Tree {
    /// The empty node.
    pub fn empty() -> Tree {
        Tree(Repr::Node(Arc::new(NodeData::new(
            Children::new(),
            None,
            0,
        ))))
    }

    /// A contents blob.
    pub fn contents(bytes: Vec<u8>) -> Tree {
        Tree(Repr::Contents(Arc::new(ContentsData::new(bytes, None, 0))))
    }

    /// The contents of a durable `@/length` (`len`, 8 bytes big-endian:
    /// wasm-pvm.md §2), shared between values of the same length through a
    /// small per-thread cache: contents are immutable and content-addressed,
    /// so a shared blob is the same tree (same hash, stored once), and one
    /// million values then hold a few hundred blobs instead of a million
    /// (issue 15, RSS: `BENCHMARKS.md`).
    pub(crate) fn length_contents(len: u64) -> Tree {
        use std::cell::RefCell;
        /// Slots of the cache (direct-mapped on the length).
        const SLOTS: usize = 512;
        thread_local! {
            static CACHE: RefCell<Vec<Option<(u64, Tree)>>> = const { RefCell::new(Vec::new()) };
        }
        CACHE.with_borrow_mut(|c| {
            if c.is_empty() {
                c.resize(SLOTS, None);
            }
            // The low bits of `len` pick the slot: `SLOTS` is a power of 2.
            let slot = &mut c[(len as usize) & (SLOTS - 1)];
            match slot {
                Some((l, t)) if *l == len => t.clone(),
                _ => {
                    let t = Tree::contents(len.to_be_bytes().to_vec());
                    *slot = Some((len, t.clone()));
                    t
                }
            }
        })
    }

    /// The `@` node of a durable value of length `len` whose only chunk
    /// is chunk 0, `chunk` (`docs/reference/wasm-pvm.md` §2), held as one
    /// [`value::CompactValue`] (issue 15, RSS: `BENCHMARKS.md`); the same
    /// tree as the expanded one for every operation. A chunk of another
    /// size than a durable chunk's (a short one would be inlined in its
    /// parent's object) gives the expanded node, as does a length of 2^62
    /// or more.
    pub(crate) fn durable_value(len: u64, chunk: Vec<u8>) -> Result<Tree, TreeError> {
        match value::CompactValue::new(len, chunk) {
            Ok(v) => Ok(Tree::from_node(NodeData::new(Children::value(v), None, 0))),
            Err(chunk) => {
                let mut at = Tree::empty();
                at.set_contents(&["contents", "0"], chunk)?;
                at.set_tree(&["length"], Tree::length_contents(len))?;
                Ok(at)
            }
        }
    }

    /// Turn this `@` node into a compact durable value
    /// ([`Tree::durable_value`]) when it is exactly the loaded subtree of a
    /// one-chunk value: `contents` → {`0` → chunk}, `length` → 8 bytes.
    /// Anything else (lazy parts, other children, a malformed length) is
    /// left as is. For a value read from a store and then written: it
    /// becomes compact as a freshly written one is (issue 15, RSS).
    pub(crate) fn compact_durable_value(&mut self) -> Result<(), TreeError> {
        let Repr::Node(n) = &self.0 else {
            return Ok(());
        };
        let Children::Flat(m) = &n.children else {
            return Ok(());
        };
        let [(cn, c), (ln, l)] = &m[..] else {
            return Ok(());
        };
        if &*cn.as_bytes() != b"contents" || &*ln.as_bytes() != b"length" {
            return Ok(());
        }
        let (Repr::Node(c), Repr::Contents(l)) = (&c.0, &l.0) else {
            return Ok(());
        };
        let Children::Flat(cm) = &c.children else {
            return Ok(());
        };
        let [(zero, chunk)] = &cm[..] else {
            return Ok(());
        };
        let Repr::Contents(chunk) = &chunk.0 else {
            return Ok(());
        };
        let len = l.bytes.as_plain().and_then(|b| <[u8; 8]>::try_from(b).ok());
        let (Some(len), true) = (len, &*zero.as_bytes() == b"0") else {
            return Ok(());
        };
        if chunk.bytes.len() != value::CHUNK_LEN {
            return Ok(());
        }
        let mut bytes = Vec::with_capacity(chunk.bytes.len());
        chunk.bytes.extend_into(&mut bytes);
        *self = Tree::durable_value(u64::from_be_bytes(len), bytes)?;
        Ok(())
    }

    /// The compact durable value this `@` node holds, if it is one (a
    /// loaded node only: values read from a store are expanded).
    pub(crate) fn as_compact_value(&self) -> Option<&value::CompactValue> {
        match &self.0 {
            Repr::Node(n) => n.children.as_value(),
            _ => None,
        }
    }

    /// The compact durable value held with its `@` node by this key node
    /// (`{@ → value}` as one node, [`value::CompactValue::in_key`]), if it is one.
    pub(crate) fn as_key_value(&self) -> Option<&value::CompactValue> {
        match &self.0 {
            Repr::Node(n) => n.children.as_key_value(),
            _ => None,
        }
    }

    /// The compact value of this `@` node, taken out of it when nothing
    /// else shares the node (its memo goes: the key node's hash covers it);
    /// the tree back otherwise.
    fn into_compact_value(mut self) -> Result<value::CompactValue, Tree> {
        let unique = match &mut self.0 {
            Repr::Node(arc) => Arc::get_mut(arc).is_some_and(|n| n.children.as_value().is_some()),
            _ => false,
        };
        if !unique {
            return Err(self);
        }
        let Repr::Node(arc) = self.0 else {
            unreachable!("checked above")
        };
        let n = Arc::into_inner(arc).expect("unique: checked above");
        let Children::Big(b) = n.children else {
            unreachable!("a compact value: checked above")
        };
        match *b {
            inode::Big::Value(v) => Ok(v),
            _ => unreachable!("a compact value: checked above"),
        }
    }

    /// Hold this key node's only child `@`, a compact value nothing else
    /// shares, with the node itself ([`value::CompactValue::in_key`]; issue 15,
    /// RSS: `BENCHMARKS.md`). Anything else is left as is.
    pub(crate) fn compact_key_node(&mut self) {
        let Repr::Node(arc) = &mut self.0 else {
            return;
        };
        let Some(n) = Arc::get_mut(arc) else {
            return;
        };
        let Children::Flat(m) = &mut n.children else {
            return;
        };
        if m.len() != 1 || &*m[0].0.as_bytes() != value::AT.as_bytes() {
            return;
        }
        let at = std::mem::take(&mut m[0].1);
        match at.into_compact_value() {
            Ok(v) => {
                n.children = Children::key_value(v);
                n.memo.clear();
            }
            Err(at) => m[0].1 = at,
        }
    }

    pub(crate) fn from_node(n: NodeData) -> Tree {
        Tree(Repr::Node(Arc::new(n)))
    }

    pub(crate) fn from_contents(c: ContentsData) -> Tree {
        Tree(Repr::Contents(Arc::new(c)))
    }

    /// A lazy reference to an object of `store`, loaded on first access.
    pub(crate) fn lazy(hash: Hash, kind: Kind, store: Arc<StoreHandle>) -> Tree {
        Tree(Repr::Lazy(Arc::new(LazyRef {
            hash,
            kind,
            store,
            loaded: OnceLock::new(),
        })))
    }

    /// Node or contents (never needs loading).
    pub fn kind(&self) -> Kind {
        match &self.0 {
            Repr::Node(_) => Kind::Node,
            Repr::Contents(_) => Kind::Contents,
            Repr::Lazy(l) => l.kind,
        }
    }

    /// Resolved view (loads a lazy tree).
    pub(crate) fn view(&self) -> Result<View<'_>, TreeError> {
        match &self.0 {
            Repr::Node(n) => Ok(View::Node(n)),
            Repr::Contents(c) => Ok(View::Contents(c)),
            Repr::Lazy(l) => l.resolve()?.view(),
        }
    }

    /// Whether this is a loaded node or contents already stored in the
    /// store of mark `id` (lazy trees answer `false`: a commit checks their
    /// store itself).
    pub(crate) fn stored_in(&self, id: u64) -> bool {
        match &self.0 {
            Repr::Node(n) => n.persisted_in(id),
            Repr::Contents(c) => c.persisted_in(id),
            Repr::Lazy(_) => false,
        }
    }

    /// Read what a parent's encoding reads of this loaded child (its
    /// memoised hash, the bytes of contents): issued with other
    /// independent loads, the cache misses overlap (commit walk,
    /// `BENCHMARKS.md`). The result means nothing.
    #[inline]
    pub(crate) fn touch(&self) -> u8 {
        match &self.0 {
            Repr::Node(n) => u8::from(n.memo.is_set()),
            Repr::Contents(c) => u8::from(c.memo.is_set()) ^ c.bytes.first().unwrap_or(0),
            Repr::Lazy(_) => 0,
        }
    }

    /// The store handle of a lazy tree (used by commit to skip objects
    /// already in the same store).
    pub(crate) fn lazy_ref(&self) -> Option<&LazyRef> {
        match &self.0 {
            Repr::Lazy(l) => Some(l),
            _ => None,
        }
    }

    /// Whether this is a node without children.
    pub fn is_empty_node(&self) -> Result<bool, TreeError> {
        match &self.0 {
            Repr::Node(n) => Ok(n.children.is_empty()),
            Repr::Contents(_) => Ok(false),
            Repr::Lazy(l) => Ok(l.kind == Kind::Node && l.hash == empty_node_hash()),
        }
    }

    /// The Irmin hash of this tree (memoised; lazy trees know their hash).
    pub fn hash(&self) -> Result<Hash, TreeError> {
        match &self.0 {
            Repr::Node(n) => n.hash(),
            Repr::Contents(c) => Ok(c.hash()),
            Repr::Lazy(l) => Ok(l.hash),
        }
    }

    /// [`Tree::hash`], a large changed tree hashed on the machine's threads
    /// (at most 4; its changed subtrees concurrently: the same hash).
    pub(crate) fn hash_parallel(&self) -> Result<Hash, TreeError> {
        par::hash(self, par::default_threads())
    }

    /// The address of the value this tree shares (two clones answer the same).
    pub(crate) fn addr(&self) -> usize {
        match &self.0 {
            Repr::Node(n) => Arc::as_ptr(n) as usize,
            Repr::Contents(c) => Arc::as_ptr(c) as usize,
            Repr::Lazy(l) => Arc::as_ptr(l) as usize,
        }
    }

    /// The subtree at `path` (`[]` is `self`); `None` if absent or if the
    /// path goes through contents.
    pub fn get(&self, path: &[&str]) -> Result<Option<Tree>, TreeError> {
        Ok(self.find(path)?.cloned())
    }

    /// Borrowing lookup.
    pub(crate) fn find(&self, path: &[&str]) -> Result<Option<&Tree>, TreeError> {
        let mut cur = self;
        for step in path {
            match cur.view()? {
                View::Node(n) => match n.children.get_with(step, n.known_chunk_hash())? {
                    Some(c) => cur = c,
                    None => return Ok(None),
                },
                View::Contents(_) => return Ok(None),
            }
        }
        Ok(Some(cur))
    }

    /// The bytes of the contents at `path`; `None` if absent or a node.
    pub fn get_contents(&self, path: &[&str]) -> Result<Option<Vec<u8>>, TreeError> {
        self.with_contents(path, |b| b.to_vec())
    }

    /// Apply `f` to the bytes of the contents at `path` without copying them.
    pub fn with_contents<R>(
        &self,
        path: &[&str],
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<Option<R>, TreeError> {
        match self.find(path)? {
            None => Ok(None),
            Some(t) => match t.view()? {
                View::Contents(c) => Ok(Some(f(&c.bytes.as_slice()))),
                View::Node(_) => Ok(None),
            },
        }
    }

    /// The children of the node at `path`, sorted by name; empty if absent
    /// or contents.
    pub fn list(&self, path: &[&str]) -> Result<Vec<(String, Kind)>, TreeError> {
        match self.find(path)? {
            None => Ok(Vec::new()),
            Some(t) => match t.view()? {
                View::Node(n) => Ok(n
                    .children
                    .sorted()?
                    .into_iter()
                    .map(|(k, v)| (k, v.kind()))
                    .collect()),
                View::Contents(_) => Ok(Vec::new()),
            },
        }
    }

    /// Number of children of the node at `path` (Irmin `Tree.length`); 0 if
    /// absent or contents.
    pub fn length(&self, path: &[&str]) -> Result<u64, TreeError> {
        match self.find(path)? {
            None => Ok(0),
            Some(t) => match t.view()? {
                View::Node(n) => Ok(n.children.len()),
                View::Contents(_) => Ok(0),
            },
        }
    }

    /// Set contents at `path` (Irmin `Tree.add`).
    pub fn set_contents(&mut self, path: &[&str], bytes: Vec<u8>) -> Result<(), TreeError> {
        self.update(path, Some(Tree::contents(bytes)))
    }

    /// Set a subtree at `path` (Irmin `Tree.add_tree`): an empty node removes.
    pub fn set_tree(&mut self, path: &[&str], t: Tree) -> Result<(), TreeError> {
        self.update(path, Some(t))
    }

    /// Remove the subtree at `path` (Irmin `Tree.remove`); pruning parents
    /// left empty. Removing `[]` leaves an empty node.
    pub fn remove(&mut self, path: &[&str]) -> Result<(), TreeError> {
        self.update(path, None)
    }

    fn update(&mut self, path: &[&str], new: Option<Tree>) -> Result<(), TreeError> {
        let new = match new {
            Some(t) if t.is_empty_node()? => None,
            other => other,
        };
        let Some((last, parents)) = path.split_last() else {
            *self = new.unwrap_or_else(Tree::empty);
            return Ok(());
        };
        if new.is_none() && self.find(path)?.is_none() {
            // Irmin: removing an absent binding leaves the tree unchanged
            // (in particular a contents root stays contents).
            return Ok(());
        }
        update_rec(self, parents, last, new)
    }

    /// The node at `path`, for in-place updates: creates missing nodes and
    /// replaces contents on the way (as [`Tree::set_tree`] would), loads
    /// lazy trees and drops the memoised hashes along the path. The caller
    /// must leave the returned node non-empty (an empty node would stay in
    /// its parent, which Irmin never does).
    pub(crate) fn node_at_mut(&mut self, path: &[&str]) -> Result<&mut Tree, TreeError> {
        let mut cur = self;
        for step in path {
            cur = cur.node_mut()?.children.get_or_insert_empty(step)?.0;
        }
        cur.node_mut()?;
        Ok(cur)
    }

    /// [`Tree::node_at_mut`] for a durable key's node about to get a new
    /// value ([`Tree::set_durable_value`]): a compact value the node holds
    /// ([`value::CompactValue::in_key`]) stays compact (read it with
    /// [`Tree::as_key_value`]) instead of being expanded first.
    pub(crate) fn key_node_mut(&mut self, path: &[&str]) -> Result<&mut Tree, TreeError> {
        let mut cur = self;
        for step in path {
            cur = cur.node_mut()?.children.get_or_insert_empty(step)?.0;
        }
        cur.node_mut_with(false)?;
        Ok(cur)
    }

    /// Set the child `@` of this durable key's node to the value of length
    /// `len` whose only chunk is `chunk` ([`Tree::durable_value`]), held
    /// with the node when `@` is its only child (issue 15, RSS:
    /// `BENCHMARKS.md`).
    pub(crate) fn set_durable_value(&mut self, len: u64, chunk: Vec<u8>) -> Result<(), TreeError> {
        let n = self.node_mut_with(false)?;
        let only_at = n.children.is_empty()
            || n.children.as_key_value().is_some()
            || (n.children.len() == 1 && n.children.get(value::AT)?.is_some());
        match value::CompactValue::new(len, chunk) {
            Ok(v) if only_at => {
                n.children = Children::key_value(v);
                Ok(())
            }
            Ok(v) => n.children.insert(
                value::AT,
                Tree::from_node(NodeData::new(Children::value(v), None, 0)),
            ),
            Err(chunk) => n
                .children
                .insert(value::AT, Tree::durable_value(len, chunk)?),
        }
    }

    /// Mutable access to this tree as a node: loads a lazy tree, turns
    /// contents into an empty node, un-shares, and drops the memoised hash.
    fn node_mut(&mut self) -> Result<&mut NodeData, TreeError> {
        self.node_mut_with(true)
    }

    /// [`Tree::node_mut`]; `expand_key_value`: false to leave a compact
    /// value held by this (key) node as it is (any structural change of the
    /// children expands it anyway, without the stored marks).
    fn node_mut_with(&mut self, expand_key_value: bool) -> Result<&mut NodeData, TreeError> {
        let replacement = match &self.0 {
            Repr::Node(_) => None,
            Repr::Contents(_) => Some(Tree::empty()),
            Repr::Lazy(l) if l.kind == Kind::Contents => Some(Tree::empty()),
            Repr::Lazy(l) => {
                let t = l.resolve()?.clone();
                Some(match t.0 {
                    Repr::Node(_) => t,
                    _ => Tree::empty(),
                })
            }
        };
        if let Some(r) = replacement {
            *self = r;
        }
        match &mut self.0 {
            Repr::Node(arc) => {
                let persisted = arc.memo.mark();
                let chunk = arc.known_chunk_hash();
                let n = Arc::make_mut(arc);
                n.memo.clear();
                // A structural change of a compact value: expanded first,
                // its objects still known stored where this node was.
                if expand_key_value || n.children.as_key_value().is_none() {
                    n.children.expand_value(persisted, chunk);
                }
                Ok(n)
            }
            _ => unreachable!("replaced by a node above"),
        }
    }
}

fn update_rec(
    node: &mut Tree,
    parents: &[&str],
    last: &str,
    new: Option<Tree>,
) -> Result<(), TreeError> {
    let data = node.node_mut()?;
    match parents.split_first() {
        None => match new {
            // A compact value as the only child `@`: held with this node.
            Some(t)
                if last == value::AT
                    && (data.children.is_empty()
                        || (data.children.len() == 1 && data.children.get(last)?.is_some())) =>
            {
                match t.into_compact_value() {
                    Ok(v) => {
                        data.children = Children::key_value(v);
                        Ok(())
                    }
                    Err(t) => data.children.insert(last, t),
                }
            }
            Some(t) => data.children.insert(last, t),
            None => data.children.remove(last),
        },
        Some((step, rest)) => {
            let (child, _) = data.children.get_or_insert_empty(step)?;
            let res = update_rec(child, rest, last, new);
            // Prune a child left empty (also undoes the insertion above if
            // the recursion failed before changing anything).
            if child.is_empty_node()? {
                data.children.remove(step)?;
            }
            res
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use context_hash::Entry;

    fn c(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn trees_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Tree>();
        check::<crate::durable::Durable>();
        check::<crate::Repo>();
    }

    #[test]
    fn set_creates_intermediate_nodes() {
        let mut t = Tree::empty();
        t.set_contents(&["a", "b", "c"], c("x")).unwrap();
        assert_eq!(t.get_contents(&["a", "b", "c"]).unwrap(), Some(c("x")));
        assert_eq!(t.get(&["a", "b"]).unwrap().unwrap().kind(), Kind::Node);
        assert_eq!(t.list(&["a"]).unwrap(), vec![("b".to_string(), Kind::Node)]);
        assert_eq!(t.get_contents(&["a", "b"]).unwrap(), None);
        assert!(t.get(&["a", "x"]).unwrap().is_none());
        // A path through contents finds nothing.
        assert!(t.get(&["a", "b", "c", "d"]).unwrap().is_none());
    }

    #[test]
    fn set_through_contents_replaces_it() {
        let mut t = Tree::empty();
        t.set_contents(&["a"], c("x")).unwrap();
        t.set_contents(&["a", "b"], c("y")).unwrap();
        assert_eq!(t.get(&["a"]).unwrap().unwrap().kind(), Kind::Node);
        assert_eq!(t.get_contents(&["a", "b"]).unwrap(), Some(c("y")));
    }

    #[test]
    fn remove_prunes_empty_parents() {
        let mut t = Tree::empty();
        t.set_contents(&["a", "b", "c"], c("x")).unwrap();
        t.set_contents(&["k"], c("v")).unwrap();
        t.remove(&["a", "b", "c"]).unwrap();
        assert!(t.get(&["a"]).unwrap().is_none());
        assert_eq!(
            t.list(&[]).unwrap(),
            vec![("k".to_string(), Kind::Contents)]
        );
        t.remove(&["k"]).unwrap();
        // The root stays, as an empty node.
        assert!(t.is_empty_node().unwrap());
        assert_eq!(t.hash().unwrap(), empty_node_hash());
    }

    #[test]
    fn remove_keeps_non_empty_parents() {
        let mut t = Tree::empty();
        t.set_contents(&["a", "b"], c("x")).unwrap();
        t.set_contents(&["a", "c"], c("y")).unwrap();
        t.remove(&["a", "b"]).unwrap();
        assert_eq!(
            t.list(&["a"]).unwrap(),
            vec![("c".to_string(), Kind::Contents)]
        );
    }

    #[test]
    fn remove_missing_is_a_no_op() {
        let mut t = Tree::contents(c("root"));
        t.remove(&["a"]).unwrap();
        assert_eq!(t.kind(), Kind::Contents);
        let mut t = Tree::empty();
        t.set_contents(&["a"], c("x")).unwrap();
        let h = t.hash().unwrap();
        t.remove(&["a", "b"]).unwrap();
        t.remove(&["z"]).unwrap();
        assert_eq!(t.hash().unwrap(), h);
    }

    #[test]
    fn set_empty_tree_removes() {
        let mut t = Tree::empty();
        t.set_contents(&["a", "b"], c("x")).unwrap();
        t.set_tree(&["a", "b"], Tree::empty()).unwrap();
        assert!(t.get(&["a"]).unwrap().is_none());
        // Adding an empty tree where nothing is does not create nodes.
        t.set_tree(&["p", "q"], Tree::empty()).unwrap();
        assert!(t.get(&["p"]).unwrap().is_none());
        assert!(t.is_empty_node().unwrap());
    }

    #[test]
    fn root_path_replaces_root() {
        let mut t = Tree::empty();
        t.set_contents(&[], c("x")).unwrap();
        assert_eq!(t.get_contents(&[]).unwrap(), Some(c("x")));
        t.remove(&[]).unwrap();
        assert!(t.is_empty_node().unwrap());
        let mut sub = Tree::empty();
        sub.set_contents(&["z"], c("1")).unwrap();
        t.set_tree(&[], sub.clone()).unwrap();
        assert_eq!(t.hash().unwrap(), sub.hash().unwrap());
    }

    #[test]
    fn clones_are_copy_on_write() {
        let mut a = Tree::empty();
        a.set_contents(&["x", "y"], c("1")).unwrap();
        let ha = a.hash().unwrap();
        let mut b = a.clone();
        b.set_contents(&["x", "y"], c("2")).unwrap();
        assert_eq!(a.get_contents(&["x", "y"]).unwrap(), Some(c("1")));
        assert_eq!(b.get_contents(&["x", "y"]).unwrap(), Some(c("2")));
        assert_eq!(a.hash().unwrap(), ha);
        assert_ne!(b.hash().unwrap(), ha);
    }

    #[test]
    fn hash_memo_is_invalidated_and_order_independent() {
        let mut a = Tree::empty();
        a.set_contents(&["p", "b"], c("1")).unwrap();
        let h1 = a.hash().unwrap();
        a.set_contents(&["p", "a"], c("2")).unwrap();
        let h2 = a.hash().unwrap();
        assert_ne!(h1, h2);
        let mut b = Tree::empty();
        b.set_contents(&["p", "a"], c("2")).unwrap();
        b.set_contents(&["p", "b"], c("1")).unwrap();
        assert_eq!(b.hash().unwrap(), h2);
        a.remove(&["p", "a"]).unwrap();
        assert_eq!(a.hash().unwrap(), h1);
    }

    #[test]
    fn hash_matches_context_hash_layout() {
        let mut t = Tree::empty();
        t.set_contents(&["b"], c("vb")).unwrap();
        t.set_contents(&["a", "x"], c("vx")).unwrap();
        let hx = context_hash::contents_hash(b"vx");
        let ha = context_hash::node_hash(&[Entry {
            name: "x",
            kind: EntryKind::Contents,
            hash: hx,
        }]);
        let hb = context_hash::contents_hash(b"vb");
        let expected = context_hash::node_hash(&[
            Entry {
                name: "a",
                kind: EntryKind::Node,
                hash: ha,
            },
            Entry {
                name: "b",
                kind: EntryKind::Contents,
                hash: hb,
            },
        ]);
        assert_eq!(t.hash().unwrap(), expected);
        assert_eq!(Tree::empty().hash().unwrap(), context_hash::node_hash(&[]));
    }

    #[test]
    fn zero_tail_contents_keep_their_bytes_and_hash() {
        // A durable chunk: a 100-byte value padded with zeros to 512 bytes.
        let mut chunk: Vec<u8> = (0..100u8).map(|i| i | 1).collect();
        chunk.resize(512, 0);
        let all_zero = vec![0u8; 512];
        // Not longer than `ZERO_TAIL_FROM`: kept whole.
        let short = vec![0u8; ZERO_TAIL_FROM];
        // A tail shorter than `ZERO_TAIL_MIN`: kept whole.
        let mut short_tail = vec![5u8; 200];
        short_tail.resize(200 + ZERO_TAIL_MIN - 1, 0);
        for (v, zero_tail) in [
            (&chunk, true),
            (&all_zero, true),
            (&short, false),
            (&short_tail, false),
        ] {
            let t = Tree::contents(v.clone());
            let Repr::Contents(c) = &t.0 else {
                panic!("contents expected")
            };
            assert_eq!(
                matches!(c.bytes, Bytes::ZeroTail(..)),
                zero_tail,
                "{}",
                v.len()
            );
            assert_eq!(c.bytes.len(), v.len());
            assert_eq!(c.bytes.first(), v.first().copied());
            assert_eq!(t.get_contents(&[]).unwrap().as_ref(), Some(v));
            assert_eq!(t.hash().unwrap(), context_hash::contents_hash(v));
        }
        // Through a store: the object holds every byte, and reloads equal.
        let mut t = Tree::empty();
        t.set_contents(&["c"], chunk.clone()).unwrap();
        t.set_contents(&["z"], all_zero.clone()).unwrap();
        let repo = crate::Repo::new(Arc::new(crate::MemStore::new()));
        let root = repo.commit(&t).unwrap();
        assert_eq!(root, t.hash().unwrap());
        let back = repo.checkout(root).unwrap();
        assert_eq!(back.get_contents(&["c"]).unwrap(), Some(chunk));
        assert_eq!(back.get_contents(&["z"]).unwrap(), Some(all_zero));
        assert_eq!(back.hash().unwrap(), root);
    }

    #[test]
    fn zero_tails_are_found_whole() {
        for len in [0usize, 1, 7, 8, 9, 16, 63, 512] {
            for head in 0..=len.min(20) {
                for head in [head, len - head] {
                    let mut b = vec![0u8; len];
                    if head > 0 {
                        b[head - 1] = 9;
                    }
                    let expected = b.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
                    assert_eq!(without_zero_tail(&b), expected, "{len} {head}");
                }
            }
        }
    }

    #[test]
    fn length_contents_are_shared_and_equal_to_fresh_ones() {
        for len in [0u64, 1, 511, 512, 513, 1 << 40, u64::MAX] {
            let a = Tree::length_contents(len);
            let b = Tree::length_contents(len);
            let (Repr::Contents(x), Repr::Contents(y)) = (&a.0, &b.0) else {
                panic!("contents expected")
            };
            assert!(Arc::ptr_eq(x, y), "{len}");
            let fresh = Tree::contents(len.to_be_bytes().to_vec());
            assert_eq!(a.hash().unwrap(), fresh.hash().unwrap());
            assert_eq!(
                a.get_contents(&[]).unwrap(),
                Some(len.to_be_bytes().to_vec())
            );
        }
        // Another length in the same slot replaces it, and stays right.
        let t = Tree::length_contents(7 + 512);
        assert_eq!(
            t.get_contents(&[]).unwrap(),
            Some(519u64.to_be_bytes().to_vec())
        );
        assert_eq!(
            Tree::length_contents(7).get_contents(&[]).unwrap(),
            Some(7u64.to_be_bytes().to_vec())
        );
    }

    #[test]
    fn list_is_bytewise_sorted_and_length_counts() {
        let mut t = Tree::empty();
        for k in ["b", "B", "a", "_", "0", "ab"] {
            t.set_contents(&["d", k], c(k)).unwrap();
        }
        let names: Vec<String> = t.list(&["d"]).unwrap().into_iter().map(|x| x.0).collect();
        assert_eq!(names, ["0", "B", "_", "a", "ab", "b"]);
        assert_eq!(t.length(&["d"]).unwrap(), 6);
        assert_eq!(t.length(&["d", "a"]).unwrap(), 0);
        assert_eq!(t.length(&["nope"]).unwrap(), 0);
    }
}
