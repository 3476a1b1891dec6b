//! Lazy loading: the [`StoreHandle`] shared by the trees of one store, and
//! the decoding of stored objects ([`crate::object`]) into trees whose
//! children load on first access.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use context_hash::Hash;

use super::inode::{Children, Inode, InodeTree, LazyInode, Name, leaf};
use super::{ContentsData, Kind, NodeData, Tree, TreeError};
use crate::backend::{NodeStore, StoreError};
use crate::object::{
    ENTRY_CONTENTS, ENTRY_NODE, RawEntry, RawSide, Reader, TAG_CONTENTS_OBJ, TAG_INODE_OBJ,
    TAG_NODE_OBJ, read_inode,
};

/// A store handle shared by every lazy tree loaded from it.
///
/// Nodes known to be stored in this store carry its current *mark* (a
/// process-wide unique number). A commit marks each node right after
/// handing its object to the store's batch (or to a part's log, handed to
/// the batch before it commits: `Repo::write_parts`); if the commit then
/// fails or panics, the handle
/// takes a fresh mark, which invalidates every mark at once (the next
/// commit rewrites what is loaded; correctness never depends on a mark of
/// an uncommitted batch). Commits through one handle are serialised by
/// `commit`, so no commit can see another's not-yet-durable marks.
pub(crate) struct StoreHandle {
    mark: AtomicU64,
    pub(crate) store: Arc<dyn NodeStore>,
    pub(crate) commit: Mutex<()>,
}

fn fresh_mark() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl StoreHandle {
    pub(crate) fn new(store: Arc<dyn NodeStore>) -> Arc<Self> {
        Arc::new(StoreHandle {
            mark: AtomicU64::new(fresh_mark()),
            store,
            commit: Mutex::new(()),
        })
    }

    /// The current mark of nodes persisted in this store.
    pub(crate) fn mark(&self) -> u64 {
        self.mark.load(Ordering::Acquire)
    }

    /// Forget every mark (after a failed commit).
    pub(crate) fn invalidate_marks(&self) {
        self.mark.store(fresh_mark(), Ordering::Release);
    }
}

fn entry_tree(e: &RawEntry<'_>, handle: &Arc<StoreHandle>) -> Tree {
    match e.tag {
        ENTRY_NODE => Tree::lazy(e.hash, Kind::Node, handle.clone()),
        ENTRY_CONTENTS => Tree::lazy(e.hash, Kind::Contents, handle.clone()),
        _ => Tree::from_contents(ContentsData::new(
            e.inline.to_vec(),
            Some(e.hash),
            handle.mark(),
        )),
    }
}

fn inode_from_raw(
    obj: &Hash,
    depth: u32,
    len: u64,
    sides: [RawSide<'_>; 2],
    handle: &Arc<StoreHandle>,
) -> Result<Inode, StoreError> {
    let corrupt = |m| StoreError::Corrupt(*obj, m);
    let next = depth.checked_add(1).ok_or(corrupt("depth overflow"))?;
    let [s0, s1] = sides;
    let conv = |s: RawSide<'_>| -> Result<Option<Inode>, StoreError> {
        Ok(match s {
            RawSide::Empty => None,
            RawSide::Values(v) => Some(Inode::Values(
                leaf(v.iter().map(|e| (Name::new(e.name), entry_tree(e, handle))))
                    .map_err(|_| corrupt("values inode over 2 entries"))?,
            )),
            RawSide::Tree(h, l) => Some(Inode::Lazy(Arc::new(LazyInode::new(
                h,
                l,
                next,
                handle.clone(),
            )))),
        })
    };
    Ok(Inode::Tree(Arc::new(InodeTree::new(
        depth,
        len,
        [conv(s0)?, conv(s1)?],
        Some(*obj),
        handle.mark(),
    ))))
}

/// Load the `Tree` inode object `hash`, expected at `depth`.
pub(crate) fn load_inode(
    handle: &Arc<StoreHandle>,
    hash: &Hash,
    depth: u32,
) -> Result<Inode, TreeError> {
    let bytes = handle.store.get(hash)?.ok_or(StoreError::Missing(*hash))?;
    if bytes.first() != Some(&TAG_INODE_OBJ) {
        return Err(StoreError::Corrupt(*hash, "not an inode object").into());
    }
    let mut r = Reader {
        buf: &bytes,
        pos: 1,
    };
    let (d, len, sides) = read_inode(&mut r, hash)?;
    if d != depth {
        return Err(StoreError::Corrupt(*hash, "inode depth mismatch").into());
    }
    Ok(inode_from_raw(hash, d, len, sides, handle)?)
}

/// Load the object `hash` of kind `kind` as a tree whose children are lazy.
pub(crate) fn load_object(
    handle: &Arc<StoreHandle>,
    hash: &Hash,
    kind: Kind,
) -> Result<Tree, TreeError> {
    let bytes = handle.store.get(hash)?.ok_or(StoreError::Missing(*hash))?;
    let corrupt = |m| StoreError::Corrupt(*hash, m);
    let mut r = Reader {
        buf: &bytes,
        pos: 1,
    };
    match (kind, bytes.first()) {
        (Kind::Contents, Some(&TAG_CONTENTS_OBJ)) => {
            let mut bytes = bytes;
            bytes.remove(0);
            Ok(Tree::from_contents(ContentsData::new(
                bytes,
                Some(*hash),
                handle.mark(),
            )))
        }
        (Kind::Node, Some(&TAG_NODE_OBJ)) => {
            let n = r.count(hash)?;
            let mut children: Vec<(Name, Tree)> =
                Vec::with_capacity(usize::try_from(n).map_err(|_| corrupt("bad count"))?);
            for _ in 0..n {
                let e = r.entry(hash)?;
                if children
                    .last()
                    .is_some_and(|(p, _)| p.cmp_bytes(e.name.as_bytes()).is_ge())
                {
                    return Err(corrupt("node entries not sorted").into());
                }
                children.push((Name::new(e.name), entry_tree(&e, handle)));
            }
            r.end(hash)?;
            Ok(Tree::from_node(NodeData::new(
                Children::Flat(children.into_boxed_slice()),
                Some(*hash),
                handle.mark(),
            )))
        }
        (Kind::Node, Some(&TAG_INODE_OBJ)) => {
            let (d, len, sides) = read_inode(&mut r, hash)?;
            if d != 0 || len <= 2 {
                return Err(corrupt("bad root inode").into());
            }
            let root = inode_from_raw(hash, d, len, sides, handle)?;
            Ok(Tree::from_node(NodeData::new(
                Children::trie(root),
                Some(*hash),
                handle.mark(),
            )))
        }
        _ => Err(corrupt("object kind mismatch").into()),
    }
}
