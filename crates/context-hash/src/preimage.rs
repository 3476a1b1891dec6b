//! The Irmin binary-context hash pre-images, written into a caller's buffer: the one
//! implementation used by [`node_hash`](crate::node_hash) here and by `durable-tree`'s
//! incremental inode trie (which memoises the same hashes).
//!
//! Layouts (`src/lib_context/encoding/context.ml`, `irmin/lib_irmin_pack/inode.ml`,
//! `irmin/lib_irmin/node.ml`; `docs/reference/wasm-pvm.md` §7.3 and `LAYOUT.md` in this crate):
//! every integer written with [`put_varint`] is LEB128 (`Data_encoding.n`).

use crate::data_encoding::write_n_u64;
use crate::{ENTRIES, EntryKind, HASH_SIZE, Hash};

/// An entry as hashed: name bytes, kind, child hash.
pub type Triple<'a> = (&'a [u8], EntryKind, Hash);

/// blake2b-256 of `bytes` in one call.
pub fn blake2b_256(bytes: &[u8]) -> Hash {
    let h = blake2b_simd::Params::new()
        .hash_length(HASH_SIZE)
        .hash(bytes);
    let mut out = [0u8; HASH_SIZE];
    out.copy_from_slice(h.as_bytes());
    Hash(out)
}

/// Append the LEB128 encoding of `n` (Irmin `Type.int` and lengths).
pub fn put_varint(out: &mut Vec<u8>, n: u64) {
    write_n_u64(out, n);
}

/// Length as a `u64` (lossless: `usize` has at most 64 bits on supported targets).
fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// "V1" node pre-image, for nodes of at most `stable_hash = 2` entries (and the empty node):
/// `u64 BE count ‖ (kind[8] ‖ LEB128 name len ‖ name ‖ u64 BE 32 ‖ hash)*`, entries sorted by
/// name; kind is `00×8` for a node and `ff 00×7` for contents (`context.ml`, `Node.V1`).
pub fn stable_node(out: &mut Vec<u8>, entries: &[Triple<'_>]) {
    const NODE_KIND: [u8; 8] = [0; 8];
    const CONTENTS_KIND: [u8; 8] = [0xff, 0, 0, 0, 0, 0, 0, 0];
    out.extend_from_slice(&len64(entries.len()).to_be_bytes());
    for (name, kind, hash) in entries {
        out.extend_from_slice(match kind {
            EntryKind::Node => &NODE_KIND,
            EntryKind::Contents => &CONTENTS_KIND,
        });
        put_varint(out, len64(name.len()));
        out.extend_from_slice(name);
        out.extend_from_slice(&len64(HASH_SIZE).to_be_bytes());
        out.extend_from_slice(&hash.0);
    }
}

/// `Values` inode pre-image (`Bin.v`): `0 ‖ count ‖ (name len ‖ name ‖ kind ‖ hash[32])*`,
/// entries sorted by name; kind 0 = node, 1 = contents (`node.ml` `value_t` case order).
pub fn values(out: &mut Vec<u8>, entries: &[Triple<'_>]) {
    put_varint(out, 0);
    put_varint(out, len64(entries.len()));
    for (name, kind, hash) in entries {
        put_varint(out, len64(name.len()));
        out.extend_from_slice(name);
        put_varint(
            out,
            match kind {
                EntryKind::Node => 0,
                EntryKind::Contents => 1,
            },
        );
        out.extend_from_slice(&hash.0);
    }
}

/// `Tree` inode pre-image (`Bin.v`): `1 ‖ depth ‖ leaf count ‖ number of non-empty children ‖
/// (index ‖ hash[32])*` over the non-empty children in index order.
pub fn tree(out: &mut Vec<u8>, depth: u32, len: u64, children: &[Option<Hash>; ENTRIES]) {
    put_varint(out, 1);
    put_varint(out, u64::from(depth));
    put_varint(out, len);
    put_varint(out, len64(children.iter().flatten().count()));
    for (index, child) in children.iter().enumerate() {
        if let Some(child) = child {
            put_varint(out, len64(index));
            out.extend_from_slice(&child.0);
        }
    }
}

/// Bit `depth` (MSB first) of a step hash: the child index at that depth
/// (`Child_ordering.hash_bits` with `log_entry = 1`). Depths past the 256 bits of the hash
/// wrap around (unreachable: Irmin stops at depth 50).
pub fn bit(h: &Hash, depth: u32) -> usize {
    let d = usize::try_from(depth).unwrap_or(0);
    usize::from((h.0[(d / 8) % HASH_SIZE] >> (7 - d % 8)) & 1)
}

/// Hash of the inode sub-trie at `depth` over `items` (step hash, index into `entries`),
/// sorted by step hash and all sharing their first `depth` bits; `entries` is sorted by name.
/// A `Values` leaf when it holds at most `entries = 2` items, else a `Tree` split on bit
/// `depth` (`irmin/lib_irmin_pack/inode.ml`). Every pre-image is written into `buf` (cleared
/// first) and hashed with `blake`.
pub fn trie_hash(
    buf: &mut Vec<u8>,
    entries: &[Triple<'_>],
    items: &[(Hash, u32)],
    depth: u32,
    blake: &mut impl FnMut(&[u8]) -> Hash,
) -> Hash {
    if items.len() <= ENTRIES {
        let mut idx = [0u32; ENTRIES];
        for (slot, (_, i)) in idx.iter_mut().zip(items) {
            *slot = *i;
        }
        let idx = &mut idx[..items.len()];
        // `entries` is sorted by name: sorting the (at most 2) indices sorts the leaf by name.
        idx.sort_unstable();
        let mut leaf = [(&[][..], EntryKind::Node, Hash::default()); ENTRIES];
        for (slot, &i) in leaf.iter_mut().zip(idx.iter()) {
            *slot = entries[usize::try_from(i).unwrap_or(usize::MAX)];
        }
        buf.clear();
        values(buf, &leaf[..items.len()]);
        return blake(buf);
    }
    // Split point: first item whose bit `depth` is 1 (items sorted by step hash).
    let split = items.partition_point(|(h, _)| bit(h, depth) == 0);
    let (zeros, ones) = items.split_at(split);
    let next = depth.saturating_add(1);
    let mut child = |part: &[(Hash, u32)]| {
        (!part.is_empty()).then(|| trie_hash(buf, entries, part, next, blake))
    };
    let children = [child(zeros), child(ones)];
    buf.clear();
    tree(buf, depth, len64(items.len()), &children);
    blake(buf)
}
