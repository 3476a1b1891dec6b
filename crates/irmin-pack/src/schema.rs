//! Object hashes and the hash schemes of an irmin-pack store.
//!
//! A store does not say which schema wrote it: the caller picks one. [`Schema::tezos_binary`]
//! is the Octez rollup node's context (`Tezos_context_encoding.Context_binary`: blake2b-256,
//! `entries = 2`, `stable_hash = 2`; `docs/reference/wasm-pvm.md` §7.1, §7.3), whose hashes
//! come from the `context-hash` crate. [`Schema::tezos`] is the L1 context
//! (`Tezos_context_encoding.Context`, `entries = 32`, `stable_hash = 256`), same pre-images.
//! [`Schema::irmin_v2`] is Irmin's generic `Node.Make_v2`/`Commit.Make_v2`/`Contents.String_v2`
//! schema that the upstream irmin-pack test stores use (hash function given by the caller).

use std::fmt;

use context_hash::EntryKind;
use context_hash::data_encoding::write_n_u64;
use context_hash::preimage;

/// Largest hash a store can use (blake2b-256).
pub const MAX_HASH_SIZE: usize = 32;

/// The hash of a stored object (contents, node, inode or commit): 1 to 32 bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjHash {
    len: u8,
    bytes: [u8; MAX_HASH_SIZE],
}

impl ObjHash {
    /// A hash from its raw bytes; `None` when empty or longer than 32 bytes.
    pub fn from_slice(raw: &[u8]) -> Option<Self> {
        if raw.is_empty() || raw.len() > MAX_HASH_SIZE {
            return None;
        }
        let mut bytes = [0u8; MAX_HASH_SIZE];
        bytes[..raw.len()].copy_from_slice(raw);
        Some(ObjHash {
            len: u8::try_from(raw.len()).ok()?,
            bytes,
        })
    }

    /// A hash from lowercase or uppercase hex; `None` on bad hex or length.
    pub fn from_hex(s: &str) -> Option<Self> {
        if !s.len().is_multiple_of(2) {
            return None;
        }
        let raw: Option<Vec<u8>> = (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect();
        Self::from_slice(&raw?)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// As a `context-hash` hash when 32 bytes long (the Tezos schemas).
    pub fn to_context_hash(&self) -> Option<context_hash::Hash> {
        let raw: [u8; 32] = self.as_bytes().try_into().ok()?;
        Some(context_hash::Hash(raw))
    }

    /// Parse an Octez context hash `Co…` (base58check; how the rollup node's store names the
    /// commit of each L2 block).
    pub fn from_context_b58(s: &str) -> Option<Self> {
        context_hash::from_context_b58(s).map(Self::from)
    }

    /// The `Co…` rendering of a 32-byte hash.
    pub fn to_context_b58(&self) -> Option<String> {
        self.to_context_hash()
            .map(|h| context_hash::to_context_b58(&h))
    }
}

impl From<context_hash::Hash> for ObjHash {
    fn from(h: context_hash::Hash) -> Self {
        ObjHash {
            len: 32,
            bytes: h.0,
        }
    }
}

impl fmt::Display for ObjHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.as_bytes() {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ObjHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ObjHash({self})")
    }
}

/// A hash function of a schema: the digest of one pre-image.
pub type HashFn = fn(&[u8]) -> ObjHash;

/// Which pre-images the schema hashes (the bytes fed to [`HashFn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PreImages {
    /// Octez `src/lib_context/encoding/context.ml` (irmin `src/irmin-tezos/schema.ml`): contents
    /// `u64 BE len ‖ bytes`, "V1" nodes and commits with 64-bit lengths.
    Tezos,
    /// Irmin's `Contents.String_v2` (raw bytes), `Node.Generic_key.Make_v2` (entries in
    /// descending name order, varint lengths) and `Commit.Generic_key.Make_v2`.
    IrminV2,
}

/// The kind of a directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryType {
    /// A sub-directory (node).
    Node,
    /// A value (contents).
    Contents,
}

impl From<EntryType> for EntryKind {
    fn from(t: EntryType) -> Self {
        match t {
            EntryType::Node => EntryKind::Node,
            EntryType::Contents => EntryKind::Contents,
        }
    }
}

/// One entry of a directory as hashed: step name, kind and child hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeEntry {
    /// Step name (raw bytes: Irmin steps are OCaml strings).
    pub name: Vec<u8>,
    /// Node or contents.
    pub kind: EntryType,
    /// Hash of the child.
    pub hash: ObjHash,
}

/// The `info` of a commit (`Irmin.Info.Default`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CommitInfo {
    /// Seconds since the epoch.
    pub date: i64,
    /// Author (raw bytes).
    pub author: Vec<u8>,
    /// Message (raw bytes).
    pub message: Vec<u8>,
}

/// The hash scheme and inode configuration (`Irmin_pack.Conf`) of a store.
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// Name printed in errors.
    pub name: &'static str,
    /// Length of every hash in the store.
    pub hash_size: usize,
    /// The digest.
    pub hash: HashFn,
    /// The pre-image layouts.
    pub pre_images: PreImages,
    /// `Conf.entries`: children of a tree inode.
    pub entries: u32,
    /// `Conf.stable_hash`: root nodes with at most this many entries hash as plain nodes.
    pub stable_hash: u32,
}

fn blake2b_256(bytes: &[u8]) -> ObjHash {
    preimage::blake2b_256(bytes).into()
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn put_bytes_varint(out: &mut Vec<u8>, b: &[u8]) {
    write_n_u64(out, len64(b.len()));
    out.extend_from_slice(b);
}

fn put_bytes_u64(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&len64(b.len()).to_be_bytes());
    out.extend_from_slice(b);
}

/// "V1" node pre-image with hashes of any size (`Irmin.Hash.V1` boxes them with a u64 length):
/// the layout of [`preimage::stable_node`].
fn tezos_stable_node(pre: &mut Vec<u8>, entries: &[NodeEntry]) {
    pre.extend_from_slice(&len64(entries.len()).to_be_bytes());
    for e in entries {
        let kind: [u8; 8] = match e.kind {
            EntryType::Node => [0; 8],
            EntryType::Contents => [0xff, 0, 0, 0, 0, 0, 0, 0],
        };
        pre.extend_from_slice(&kind);
        put_bytes_varint(pre, &e.name);
        put_bytes_u64(pre, e.hash.as_bytes());
    }
}

/// `Values` inode pre-image with hashes of any size: the layout of [`preimage::values`].
fn values(pre: &mut Vec<u8>, entries: &[NodeEntry]) {
    write_n_u64(pre, 0);
    write_n_u64(pre, len64(entries.len()));
    for e in entries {
        put_bytes_varint(pre, &e.name);
        write_n_u64(
            pre,
            match e.kind {
                EntryType::Node => 0,
                EntryType::Contents => 1,
            },
        );
        pre.extend_from_slice(e.hash.as_bytes());
    }
}

impl Schema {
    /// The Octez rollup node's context (`Context_binary`: `entries = 2`, `stable_hash = 2`,
    /// blake2b-256; `docs/reference/wasm-pvm.md` §7.1).
    pub const fn tezos_binary() -> Self {
        Schema {
            name: "tezos-binary",
            hash_size: 32,
            hash: blake2b_256,
            pre_images: PreImages::Tezos,
            entries: 2,
            stable_hash: 2,
        }
    }

    /// The Tezos L1 context (`Tezos_context_encoding.Context.Conf`: `entries = 32`,
    /// `stable_hash = 256`, blake2b-256).
    pub const fn tezos() -> Self {
        Schema {
            name: "tezos",
            hash_size: 32,
            hash: blake2b_256,
            pre_images: PreImages::Tezos,
            entries: 32,
            stable_hash: 256,
        }
    }

    /// Irmin's generic v2 schema with `Irmin_tezos.Conf` (`entries = 32`, `stable_hash = 256`),
    /// as the irmin-pack test stores use it, with the caller's digest of `hash_size` bytes
    /// (SHA-1 there).
    pub const fn irmin_v2(hash_size: usize, hash: HashFn) -> Self {
        Schema {
            name: "irmin-v2",
            hash_size,
            hash,
            pre_images: PreImages::IrminV2,
            entries: 32,
            stable_hash: 256,
        }
    }

    /// Hash of a contents value.
    pub fn contents_hash(&self, bytes: &[u8]) -> ObjHash {
        match self.pre_images {
            PreImages::Tezos if self.hash_size == 32 => context_hash::contents_hash(bytes).into(),
            PreImages::Tezos => {
                let mut pre = Vec::with_capacity(bytes.len().saturating_add(8));
                put_bytes_u64(&mut pre, bytes);
                (self.hash)(&pre)
            }
            PreImages::IrminV2 => (self.hash)(bytes),
        }
    }

    /// Hash of a node as a plain ("stable") node, `entries` sorted by name ascending.
    pub fn stable_node_hash(&self, entries: &[NodeEntry]) -> ObjHash {
        let mut pre = Vec::new();
        match self.pre_images {
            PreImages::Tezos => match Self::triples(entries) {
                Some(triples) => preimage::stable_node(&mut pre, &triples),
                None => tezos_stable_node(&mut pre, entries),
            },
            PreImages::IrminV2 => {
                // `Hash_preimage` entries folded into a list: descending name order.
                write_n_u64(&mut pre, len64(entries.len()));
                for e in entries.iter().rev() {
                    write_n_u64(
                        &mut pre,
                        match e.kind {
                            EntryType::Node => 0,
                            EntryType::Contents => 1,
                        },
                    );
                    put_bytes_varint(&mut pre, &e.name);
                    pre.extend_from_slice(e.hash.as_bytes());
                }
            }
        }
        (self.hash)(&pre)
    }

    /// Hash of a `Values` inode (`Bin.v`, irmin `src/irmin-pack/inode.ml`), entries sorted by
    /// name ascending.
    pub fn inode_values_hash(&self, entries: &[NodeEntry]) -> ObjHash {
        let mut pre = Vec::new();
        match Self::triples(entries) {
            Some(triples) => preimage::values(&mut pre, &triples),
            None => values(&mut pre, entries),
        }
        (self.hash)(&pre)
    }

    /// Hash of a `Tree` inode (`Bin.v`): depth, number of leaves below, and the non-empty
    /// children `(index, hash)` in index order.
    pub fn inode_tree_hash(&self, depth: u64, length: u64, children: &[(u64, ObjHash)]) -> ObjHash {
        let mut pre = Vec::new();
        let as_pair = (self.hash_size == 32 && self.entries == 2)
            .then(|| {
                let mut slots: [Option<context_hash::Hash>; 2] = [None, None];
                for (i, h) in children {
                    let slot = slots.get_mut(usize::try_from(*i).ok()?)?;
                    *slot = Some(h.to_context_hash()?);
                }
                Some(slots)
            })
            .flatten();
        match (as_pair, u32::try_from(depth)) {
            (Some(slots), Ok(d)) => preimage::tree(&mut pre, d, length, &slots),
            _ => {
                write_n_u64(&mut pre, 1);
                write_n_u64(&mut pre, depth);
                write_n_u64(&mut pre, length);
                write_n_u64(&mut pre, len64(children.len()));
                for (i, h) in children {
                    write_n_u64(&mut pre, *i);
                    pre.extend_from_slice(h.as_bytes());
                }
            }
        }
        (self.hash)(&pre)
    }

    /// Hash of a commit (`Commit.V1` pre-image for Tezos, `Commit.Make_v2` for Irmin v2).
    pub fn commit_hash(&self, node: &ObjHash, parents: &[ObjHash], info: &CommitInfo) -> ObjHash {
        let mut pre = Vec::new();
        match self.pre_images {
            PreImages::Tezos => {
                put_bytes_u64(&mut pre, node.as_bytes());
                pre.extend_from_slice(&len64(parents.len()).to_be_bytes());
                for p in parents {
                    put_bytes_u64(&mut pre, p.as_bytes());
                }
                pre.extend_from_slice(&info.date.to_be_bytes());
                put_bytes_u64(&mut pre, &info.author);
                put_bytes_u64(&mut pre, &info.message);
            }
            PreImages::IrminV2 => {
                pre.extend_from_slice(node.as_bytes());
                write_n_u64(&mut pre, len64(parents.len()));
                for p in parents {
                    pre.extend_from_slice(p.as_bytes());
                }
                pre.extend_from_slice(&info.date.to_be_bytes());
                put_bytes_varint(&mut pre, &info.author);
                put_bytes_varint(&mut pre, &info.message);
            }
        }
        (self.hash)(&pre)
    }

    /// The entries as `context-hash` triples when every hash is 32 bytes.
    fn triples<'a>(entries: &'a [NodeEntry]) -> Option<Vec<preimage::Triple<'a>>> {
        entries
            .iter()
            .map(|e| Some((e.name.as_slice(), e.kind.into(), e.hash.to_context_hash()?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use context_hash::Entry;

    fn h(i: u8) -> ObjHash {
        ObjHash::from_slice(&[i; 32]).unwrap()
    }

    fn e(name: &str, kind: EntryType, hash: ObjHash) -> NodeEntry {
        NodeEntry {
            name: name.as_bytes().to_vec(),
            kind,
            hash,
        }
    }

    #[test]
    fn hex_round_trip() {
        let x = ObjHash::from_hex("11f6ad8ec52a2984abaafd7c3b516503785c2072").unwrap();
        assert_eq!(x.as_bytes().len(), 20);
        assert_eq!(x.to_string(), "11f6ad8ec52a2984abaafd7c3b516503785c2072");
        assert_eq!(ObjHash::from_hex("1"), None);
        assert_eq!(ObjHash::from_hex("zz"), None);
        assert_eq!(ObjHash::from_slice(&[0; 33]), None);
        let co = "CoUt95hdFjaDDWc4dMLBekJ9VZQGTkbLzcbD9rb4Cwj7i936is8i";
        let h = ObjHash::from_context_b58(co).unwrap();
        assert_eq!(h.to_context_b58().as_deref(), Some(co));
        assert_eq!(x.to_context_b58(), None);
    }

    #[test]
    fn tezos_binary_nodes_match_context_hash() {
        let s = Schema::tezos_binary();
        let es = [
            e("a", EntryType::Contents, h(1)),
            e("bc", EntryType::Node, h(2)),
        ];
        let ce: Vec<Entry<'_>> = ["a", "bc"]
            .iter()
            .zip(&es)
            .map(|(n, x)| Entry {
                name: n,
                kind: x.kind.into(),
                hash: x.hash.to_context_hash().unwrap(),
            })
            .collect();
        assert_eq!(
            s.stable_node_hash(&es),
            ObjHash::from(context_hash::node_hash(&ce))
        );
        assert_eq!(
            s.contents_hash(b"abc"),
            ObjHash::from(context_hash::contents_hash(b"abc"))
        );
    }

    #[test]
    fn tezos_binary_inode_trie_matches_context_hash() {
        // Three entries: the root is a Tree; rebuild it from the step-hash bits by hand.
        let s = Schema::tezos_binary();
        let names = ["a", "b", "c"];
        let es: Vec<NodeEntry> = names
            .iter()
            .enumerate()
            .map(|(i, n)| e(n, EntryType::Contents, h(u8::try_from(i).unwrap())))
            .collect();
        fn trie(s: &Schema, es: &[&NodeEntry], depth: u32) -> ObjHash {
            if es.len() <= 2 {
                let v: Vec<NodeEntry> = es.iter().map(|x| (*x).clone()).collect();
                return s.inode_values_hash(&v);
            }
            let bit = |x: &NodeEntry| {
                preimage::bit(
                    &context_hash::step_hash(std::str::from_utf8(&x.name).unwrap()),
                    depth,
                )
            };
            let mut children = Vec::new();
            for i in 0..2u64 {
                let part: Vec<&NodeEntry> =
                    es.iter().copied().filter(|x| bit(x) as u64 == i).collect();
                if !part.is_empty() {
                    children.push((i, trie(s, &part, depth + 1)));
                }
            }
            s.inode_tree_hash(u64::from(depth), es.len() as u64, &children)
        }
        let refs: Vec<&NodeEntry> = es.iter().collect();
        let ours = trie(&s, &refs, 0);
        let ce: Vec<Entry<'_>> = names
            .iter()
            .zip(&es)
            .map(|(n, x)| Entry {
                name: n,
                kind: x.kind.into(),
                hash: x.hash.to_context_hash().unwrap(),
            })
            .collect();
        assert_eq!(ours, ObjHash::from(context_hash::node_hash(&ce)));
    }

    #[test]
    fn generic_fallbacks_equal_context_hash_layouts() {
        // The hand-written layouts (used for hashes that are not 32 bytes) write the bytes of
        // context-hash's pre-images.
        let s = Schema::tezos_binary();
        let es = [
            e("a", EntryType::Contents, h(1)),
            e("b", EntryType::Node, h(2)),
        ];
        let triples = Schema::triples(&es).unwrap();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        tezos_stable_node(&mut ours, &es);
        preimage::stable_node(&mut theirs, &triples);
        assert_eq!(ours, theirs);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        values(&mut ours, &es);
        preimage::values(&mut theirs, &triples);
        assert_eq!(ours, theirs);
        let mut fallback = Schema::tezos_binary();
        fallback.entries = 4; // forces the hand-written tree layout
        assert_eq!(
            s.inode_tree_hash(3, 7, &[(0, h(5)), (1, h(6))]),
            fallback.inode_tree_hash(3, 7, &[(0, h(5)), (1, h(6))])
        );
    }

    #[test]
    fn tezos_commit_pre_image() {
        let s = Schema::tezos_binary();
        let info = CommitInfo {
            date: 1,
            author: b"me".to_vec(),
            message: b"m".to_vec(),
        };
        let mut pre = Vec::new();
        pre.extend_from_slice(&32u64.to_be_bytes());
        pre.extend_from_slice(&[7; 32]);
        pre.extend_from_slice(&1u64.to_be_bytes());
        pre.extend_from_slice(&32u64.to_be_bytes());
        pre.extend_from_slice(&[8; 32]);
        pre.extend_from_slice(&1i64.to_be_bytes());
        pre.extend_from_slice(&2u64.to_be_bytes());
        pre.extend_from_slice(b"me");
        pre.extend_from_slice(&1u64.to_be_bytes());
        pre.extend_from_slice(b"m");
        assert_eq!(s.commit_hash(&h(7), &[h(8)], &info), blake2b_256(&pre));
    }
}
