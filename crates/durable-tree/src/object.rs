//! The object codec: our compact encoding of tree objects (no I/O; the
//! stores of [`crate::backend`] hold the bytes, [`crate::tree`] loads them).
//!
//! Objects are addressed by their Irmin hash (the one [`crate::Tree::hash`]
//! computes); the bytes stored are our format, not Irmin's:
//!
//! * contents object: `b'C' ‖ bytes`;
//! * inode object (large nodes, see [`put_inode_header`]): `b'I' ‖ …`;
//! * node object: `b'N' ‖ LEB128 entry count ‖ entries`, each entry being
//!   `LEB128 name length ‖ name ‖ tag ‖ 32-byte hash` where `tag` is
//!   `0` (node object), `1` (contents object) or `2` (contents inlined:
//!   followed by `LEB128 length ‖ bytes`; no separate object exists).
//!
//! Contents of at most [`INLINE_MAX`] bytes are inlined in their parent node
//! (durable `@/length` values, small flags), larger ones (512-byte chunks)
//! are objects of their own so that identical chunks are shared.

use context_hash::{EntryKind, Hash};

use crate::backend::StoreError;

/// Contents up to this size are inlined in their parent node object.
pub const INLINE_MAX: usize = 64;

pub(crate) const TAG_CONTENTS_OBJ: u8 = b'C';
pub(crate) const TAG_NODE_OBJ: u8 = b'N';
pub(crate) const TAG_INODE_OBJ: u8 = b'I';
pub(crate) const SIDE_EMPTY: u8 = 0;
pub(crate) const SIDE_VALUES: u8 = 1;
pub(crate) const SIDE_TREE: u8 = 2;
pub(crate) const ENTRY_NODE: u8 = 0;
pub(crate) const ENTRY_CONTENTS: u8 = 1;
pub(crate) const ENTRY_INLINE: u8 = 2;

/// LEB128 (`Data_encoding.n`) of `n`, `context_hash::data_encoding`'s.
fn put_leb(out: &mut Vec<u8>, n: u64) {
    context_hash::data_encoding::write_n_u64(out, n);
}

pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn leb(&mut self) -> Option<u64> {
        let rest = self.buf.get(self.pos..)?;
        let (n, len) = context_hash::data_encoding::read_n_u64(rest).ok()?;
        self.pos = self.pos.checked_add(len)?;
        Some(n)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn hash(&mut self) -> Option<Hash> {
        let mut h = [0u8; 32];
        h.copy_from_slice(self.take(32)?);
        Some(Hash(h))
    }
}

/// The start of a contents object of `len` bytes (its tag): the caller
/// appends the bytes.
pub(crate) fn put_contents_header(out: &mut Vec<u8>, len: usize) {
    out.reserve(len.saturating_add(1));
    out.push(TAG_CONTENTS_OBJ);
}

/// One entry of a node or inode object being encoded.
pub(crate) enum EncEntry<'a> {
    /// A child stored as its own object.
    ByHash(EntryKind, Hash),
    /// Small contents inlined (with its hash).
    Inline(Hash, &'a [u8]),
}

/// Append one entry (of a node object or a `Values` side).
pub(crate) fn put_entry(out: &mut Vec<u8>, name: &[u8], e: &EncEntry<'_>) {
    put_leb(out, name.len() as u64);
    out.extend_from_slice(name);
    match e {
        EncEntry::ByHash(kind, h) => {
            out.push(match kind {
                EntryKind::Node => ENTRY_NODE,
                EntryKind::Contents => ENTRY_CONTENTS,
            });
            out.extend_from_slice(&h.0);
        }
        EncEntry::Inline(h, bytes) => {
            out.push(ENTRY_INLINE);
            out.extend_from_slice(&h.0);
            put_leb(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
    }
}

/// Append the header of a flat node object of `len` entries (the entries
/// follow, in name order, see [`put_entry`]).
pub(crate) fn put_node_header(out: &mut Vec<u8>, len: usize) {
    out.push(TAG_NODE_OBJ);
    put_leb(out, len as u64);
}

/// Append the header of a `Tree` inode object (also the root object of a
/// large node): `b'I' ‖ LEB128 depth ‖ LEB128 len`, followed by two sides,
/// each `0` (empty, [`put_side_empty`]), `1 ‖ LEB128 count ‖ entries`
/// (values, [`put_side_values`]) or `2 ‖ hash ‖ LEB128 len` (sub-inode
/// object, [`put_side_tree`]).
pub(crate) fn put_inode_header(out: &mut Vec<u8>, depth: u32, len: u64) {
    out.push(TAG_INODE_OBJ);
    put_leb(out, u64::from(depth));
    put_leb(out, len);
}

/// Append an empty inode side.
pub(crate) fn put_side_empty(out: &mut Vec<u8>) {
    out.push(SIDE_EMPTY);
}

/// Append the header of a `Values` inode side of `count` entries.
pub(crate) fn put_side_values(out: &mut Vec<u8>, count: usize) {
    out.push(SIDE_VALUES);
    put_leb(out, count as u64);
}

/// Append a side referring to a sub-inode object.
pub(crate) fn put_side_tree(out: &mut Vec<u8>, h: &Hash, len: u64) {
    out.push(SIDE_TREE);
    out.extend_from_slice(&h.0);
    put_leb(out, len);
}

/// A decoded entry: name, tag, hash, inline bytes.
pub(crate) struct RawEntry<'a> {
    pub(crate) name: &'a str,
    pub(crate) tag: u8,
    pub(crate) hash: Hash,
    pub(crate) inline: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn entry(&mut self, obj: &Hash) -> Result<RawEntry<'a>, StoreError> {
        let corrupt = |m| StoreError::Corrupt(*obj, m);
        let nl = self.leb().ok_or(corrupt("bad name length"))?;
        let name = self
            .take(usize::try_from(nl).map_err(|_| corrupt("name too long"))?)
            .ok_or(corrupt("truncated name"))?;
        let name = std::str::from_utf8(name).map_err(|_| corrupt("name not utf-8"))?;
        let tag = self.byte().ok_or(corrupt("truncated entry"))?;
        let hash = self.hash().ok_or(corrupt("truncated hash"))?;
        let inline: &[u8] = match tag {
            ENTRY_NODE | ENTRY_CONTENTS => &[],
            ENTRY_INLINE => {
                let l = self.leb().ok_or(corrupt("bad inline length"))?;
                self.take(usize::try_from(l).map_err(|_| corrupt("inline too long"))?)
                    .ok_or(corrupt("truncated inline contents"))?
            }
            _ => return Err(corrupt("unknown entry tag")),
        };
        Ok(RawEntry {
            name,
            tag,
            hash,
            inline,
        })
    }

    pub(crate) fn count(&mut self, obj: &Hash) -> Result<u64, StoreError> {
        let n = self.leb().ok_or(StoreError::Corrupt(*obj, "bad count"))?;
        // Each entry takes at least 34 bytes: reject absurd counts early.
        if n > (self.buf.len() as u64) {
            return Err(StoreError::Corrupt(*obj, "count exceeds object size"));
        }
        Ok(n)
    }

    pub(crate) fn end(&self, obj: &Hash) -> Result<(), StoreError> {
        if self.pos == self.buf.len() {
            Ok(())
        } else {
            Err(StoreError::Corrupt(*obj, "trailing bytes"))
        }
    }
}

/// A decoded inode side.
pub(crate) enum RawSide<'a> {
    Empty,
    Values(Vec<RawEntry<'a>>),
    Tree(Hash, u64),
}

/// Decode the body of an inode object (after the tag).
pub(crate) fn read_inode<'a>(
    r: &mut Reader<'a>,
    obj: &Hash,
) -> Result<(u32, u64, [RawSide<'a>; 2]), StoreError> {
    let corrupt = |m| StoreError::Corrupt(*obj, m);
    let depth = r.leb().ok_or(corrupt("bad depth"))?;
    let depth = u32::try_from(depth).map_err(|_| corrupt("bad depth"))?;
    let len = r.leb().ok_or(corrupt("bad length"))?;
    let mut side = || -> Result<RawSide<'a>, StoreError> {
        match r.byte().ok_or(corrupt("truncated side"))? {
            SIDE_EMPTY => Ok(RawSide::Empty),
            SIDE_VALUES => {
                let n = r.count(obj)?;
                let mut v = Vec::new();
                for _ in 0..n {
                    v.push(r.entry(obj)?);
                }
                Ok(RawSide::Values(v))
            }
            SIDE_TREE => {
                let h = r.hash().ok_or(corrupt("truncated hash"))?;
                let l = r.leb().ok_or(corrupt("bad length"))?;
                Ok(RawSide::Tree(h, l))
            }
            _ => Err(corrupt("unknown side tag")),
        }
    };
    let s0 = side()?;
    let s1 = side()?;
    r.end(obj)?;
    Ok((depth, len, [s0, s1]))
}

/// Hashes of the objects an object refers to (not the inlined ones).
pub(crate) fn node_object_refs(hash: &Hash, bytes: &[u8]) -> Result<Vec<Hash>, StoreError> {
    let mut r = Reader { buf: bytes, pos: 1 };
    let mut refs = Vec::new();
    fn push(refs: &mut Vec<Hash>, e: &RawEntry<'_>) {
        if e.tag != ENTRY_INLINE {
            refs.push(e.hash);
        }
    }
    match bytes.first() {
        Some(&TAG_CONTENTS_OBJ) => {}
        Some(&TAG_NODE_OBJ) => {
            let n = r.count(hash)?;
            for _ in 0..n {
                push(&mut refs, &r.entry(hash)?);
            }
            r.end(hash)?;
        }
        Some(&TAG_INODE_OBJ) => {
            let (_, _, sides) = read_inode(&mut r, hash)?;
            for side in &sides {
                match side {
                    RawSide::Empty => {}
                    RawSide::Values(v) => v.iter().for_each(|e| push(&mut refs, e)),
                    RawSide::Tree(h, _) => refs.push(*h),
                }
            }
        }
        _ => return Err(StoreError::Corrupt(*hash, "unknown object tag")),
    }
    Ok(refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb_round_trip() {
        for n in [0u64, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut v = Vec::new();
            put_leb(&mut v, n);
            let mut r = Reader { buf: &v, pos: 0 };
            assert_eq!(r.leb(), Some(n));
            assert_eq!(r.pos, v.len());
        }
    }

    #[test]
    fn truncated_node_is_corrupt() {
        let h = Hash([1; 32]);
        let mut obj = Vec::new();
        put_node_header(&mut obj, 1);
        put_entry(
            &mut obj,
            b"a",
            &EncEntry::ByHash(EntryKind::Node, Hash([2; 32])),
        );
        assert_eq!(node_object_refs(&h, &obj).unwrap(), vec![Hash([2; 32])]);
        let cut = &obj[..obj.len() - 1];
        assert!(matches!(
            node_object_refs(&h, cut),
            Err(StoreError::Corrupt(..))
        ));
        assert!(matches!(
            node_object_refs(&h, b"X"),
            Err(StoreError::Corrupt(..))
        ));
    }
}
