//! Irmin binary-context hashing (the scheme Octez uses for PVM state hashes).
//!
//! Octez hashes the WASM PVM state as an Irmin tree of the *binary* Tezos context
//! (`src/lib_context/encoding/context_binary.ml`: `entries = 2`, `stable_hash = 2`,
//! `inode_child_order = Hash_bits`). The byte pre-images below were read from
//! `src/lib_context/encoding/context.ml` (contents and "V1" node pre-hash),
//! `irmin/lib_irmin_pack/inode.ml` (inode trie, `Bin.v` pre-hash, `stabilize_root`,
//! `Child_ordering.hash_bits`) and `irmin/lib_irmin/node.ml` (`value_t` case order).
//! All hashes are blake2b-256. See also `docs/reference/wasm-pvm.md` §7.3 and
//! `LAYOUT.md` in this crate (validated against the Octez regression vectors).

use std::fmt;

pub mod data_encoding;
pub mod preimage;

/// Length in bytes of a [`Hash`](struct@Hash).
pub const HASH_SIZE: usize = 32;

/// Number of children of an inode (`Conf.entries` of `context_binary.ml`).
pub const ENTRIES: usize = 2;

/// Nodes with at most this many entries hash like a plain node (`Conf.stable_hash`).
const STABLE_HASH: usize = 2;

/// Base58check version bytes of `Context_hash` (`src/lib_crypto/base58.ml`, `context_hash`).
const CONTEXT_HASH_PREFIX: [u8; 2] = [79, 199];

/// A 32-byte Irmin (blake2b-256) hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Kind of a node entry.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub enum EntryKind {
    /// A sub-node (directory).
    Node,
    /// A contents (value) blob.
    Contents,
}

/// One entry of a node: a step name, its kind and the hash of the child.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Entry<'a> {
    /// Step name.
    pub name: &'a str,
    /// Kind of the child.
    pub kind: EntryKind,
    /// Hash of the child.
    pub hash: Hash,
}

fn hasher() -> blake2b_simd::State {
    blake2b_simd::Params::new()
        .hash_length(HASH_SIZE)
        .to_state()
}

fn finish(st: &blake2b_simd::State) -> Hash {
    let mut out = [0u8; HASH_SIZE];
    out.copy_from_slice(st.finalize().as_bytes());
    Hash(out)
}

/// Hash of a contents (value) blob, Irmin binary context scheme.
///
/// Pre-image: `u64 BE length ‖ bytes` (`Contents.t` pre-hash `pair (bytes_of `Int64) unit`,
/// `src/lib_context/encoding/context.ml`).
pub fn contents_hash(bytes: &[u8]) -> Hash {
    // Up to this many bytes (durable values are chunked at 2 KiB), the
    // pre-image is copied into a per-thread buffer and hashed in one call,
    // cheaper than streaming it through a `State` (issue 15, `BENCHMARKS.md`).
    const ONE_CALL_MAX: usize = 4096;
    use std::cell::RefCell;
    thread_local! {
        static PRE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    let len = (bytes.len() as u64).to_be_bytes();
    if bytes.len() <= ONE_CALL_MAX
        && let Some(h) = PRE.with(|b| {
            let mut pre = b.try_borrow_mut().ok()?;
            pre.clear();
            pre.extend_from_slice(&len);
            pre.extend_from_slice(bytes);
            Some(preimage::blake2b_256(&pre))
        })
    {
        return h;
    }
    let mut st = hasher();
    st.update(&len);
    st.update(bytes);
    finish(&st)
}

/// Hash of a step name, used to place entries in the inode trie (`Hash_bits` child order):
/// blake2b-256 of the raw name bytes (`Step.hash`, `irmin/lib_irmin_pack/inode.ml`).
pub fn step_hash(name: &str) -> Hash {
    preimage::blake2b_256(name.as_bytes())
}

/// The pre-image triples of name-sorted `entries`.
fn triples<'a>(entries: &[Entry<'a>]) -> Vec<preimage::Triple<'a>> {
    entries
        .iter()
        .map(|e| (e.name.as_bytes(), e.kind, e.hash))
        .collect()
}

/// "V1" node hash (nodes of at most `stable_hash` entries, [`preimage::stable_node`]).
fn stable_node_hash(entries: &[Entry<'_>]) -> Hash {
    let mut buf = Vec::new();
    preimage::stable_node(&mut buf, &triples(entries));
    preimage::blake2b_256(&buf)
}

/// Hash of a node given ALL its entries sorted by name (bytewise ascending, no duplicates).
///
/// Nodes with at most `stable_hash = 2` entries (including the empty node) use the "V1"
/// node pre-hash; larger nodes are hashed as the root of the binary inode trie
/// (`stabilize_root` in `irmin/lib_irmin_pack/inode.ml`). Cost: one blake2b per entry name,
/// a sort by step hash and one blake2b per inode (O(n log n)).
///
/// Irmin refuses tries deeper than 50 levels (`max_depth`); that would need three names
/// whose step hashes share a 50-bit prefix and is not handled specially here.
pub fn node_hash(entries: &[Entry<'_>]) -> Hash {
    debug_assert!(
        entries.windows(2).all(|w| w[0].name < w[1].name),
        "node_hash: entries must be sorted by name without duplicates"
    );
    if entries.len() <= STABLE_HASH {
        return stable_node_hash(entries);
    }
    let mut items: Vec<(Hash, u32)> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let i = u32::try_from(i).expect("node_hash: more than u32::MAX entries");
            (step_hash(e.name), i)
        })
        .collect();
    items.sort_unstable();
    let mut buf = Vec::new();
    preimage::trie_hash(
        &mut buf,
        &triples(entries),
        &items,
        0,
        &mut preimage::blake2b_256,
    )
}

/// base58check `Co…` rendering of a context hash (prefix `\079\199`, `src/lib_crypto/base58.ml`).
pub fn to_context_b58(hash: &Hash) -> String {
    let mut payload = [0u8; 2 + HASH_SIZE];
    payload[..2].copy_from_slice(&CONTEXT_HASH_PREFIX);
    payload[2..].copy_from_slice(&hash.0);
    bs58::encode(payload).with_check().into_string()
}

/// Parse a base58check `Co…` context hash; `None` on a bad checksum, prefix or length.
pub fn from_context_b58(s: &str) -> Option<Hash> {
    let bytes = bs58::decode(s).with_check(None).into_vec().ok()?;
    if bytes.len() != 2 + HASH_SIZE || bytes[..2] != CONTEXT_HASH_PREFIX {
        return None;
    }
    let mut out = [0u8; HASH_SIZE];
    out.copy_from_slice(&bytes[2..]);
    Some(Hash(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blake(parts: &[&[u8]]) -> Hash {
        let mut st = hasher();
        for p in parts {
            st.update(p);
        }
        finish(&st)
    }

    fn bit(h: &Hash, depth: usize) -> usize {
        preimage::bit(h, u32::try_from(depth).unwrap())
    }

    fn h(i: u8) -> Hash {
        Hash([i; 32])
    }

    fn entry(name: &str, kind: EntryKind, hash: Hash) -> Entry<'_> {
        Entry { name, kind, hash }
    }

    #[test]
    fn contents_pre_image() {
        assert_eq!(contents_hash(b""), blake(&[&[0; 8]]));
        assert_eq!(
            contents_hash(b"abc"),
            blake(&[&[0, 0, 0, 0, 0, 0, 0, 3], b"abc"])
        );
        // Block boundaries of blake2b (128 bytes), and both sides of the
        // one-call (per-thread buffer) limit.
        for n in [119, 120, 121, 247, 248, 249, 1000, 4096, 4097, 10_000] {
            let v: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let len = (n as u64).to_be_bytes();
            assert_eq!(contents_hash(&v), blake(&[&len, &v]), "{n} bytes");
        }
        assert_eq!(step_hash("abc"), blake(&[b"abc"]));
    }

    #[test]
    fn empty_node_equals_empty_contents() {
        // Both pre-images are a single u64 0.
        assert_eq!(node_hash(&[]), contents_hash(b""));
    }

    #[test]
    fn one_and_two_entries_are_stable() {
        let one = [entry("a", EntryKind::Contents, h(1))];
        let mut pre = vec![0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, b'a'];
        pre.extend([0, 0, 0, 0, 0, 0, 0, 32]);
        pre.extend([1; 32]);
        assert_eq!(node_hash(&one), blake(&[&pre]));

        let two = [
            entry("a", EntryKind::Contents, h(1)),
            entry("bc", EntryKind::Node, h(2)),
        ];
        let mut pre = vec![0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0, 0, 0, 0, 0, 0, 0, 1, b'a'];
        pre.extend([0, 0, 0, 0, 0, 0, 0, 32]);
        pre.extend([1; 32]);
        pre.extend([0, 0, 0, 0, 0, 0, 0, 0, 2, b'b', b'c']);
        pre.extend([0, 0, 0, 0, 0, 0, 0, 32]);
        pre.extend([2; 32]);
        assert_eq!(node_hash(&two), blake(&[&pre]));
    }

    #[test]
    fn long_names_use_leb128_lengths() {
        let long = "x".repeat(200);
        let one = [entry(&long, EntryKind::Node, h(3))];
        let mut pre = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0xc8, 0x01];
        pre.extend(long.as_bytes());
        pre.extend([0, 0, 0, 0, 0, 0, 0, 32]);
        pre.extend([3; 32]);
        assert_eq!(node_hash(&one), blake(&[&pre]));
    }

    /// Straightforward reference: Irmin's recursive definition over a name-sorted slice.
    fn reference_inode(entries: &[Entry<'_>], depth: usize) -> Hash {
        let mut pre = Vec::new();
        if entries.len() <= ENTRIES {
            pre.push(0);
            pre.push(entries.len() as u8);
            for e in entries {
                assert!(e.name.len() < 128);
                pre.push(e.name.len() as u8);
                pre.extend(e.name.as_bytes());
                pre.push(u8::from(e.kind == EntryKind::Contents));
                pre.extend(e.hash.0);
            }
            return blake(&[&pre]);
        }
        let (zeros, ones): (Vec<Entry<'_>>, Vec<Entry<'_>>) = entries
            .iter()
            .partition(|e| bit(&step_hash(e.name), depth) == 0);
        pre.push(1);
        pre.push(depth as u8);
        let mut len = Vec::new();
        let mut n = entries.len();
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                len.push(b);
                break;
            }
            len.push(b | 0x80);
        }
        pre.extend(len);
        let parts: Vec<(u8, &Vec<Entry<'_>>)> = [(0u8, &zeros), (1, &ones)]
            .into_iter()
            .filter(|(_, p)| !p.is_empty())
            .collect();
        pre.push(parts.len() as u8);
        for (i, p) in parts {
            pre.push(i);
            pre.extend(reference_inode(p, depth + 1).0);
        }
        blake(&[&pre])
    }

    fn names(n: usize) -> Vec<String> {
        let mut v: Vec<String> = (0..n).map(|i| format!("k{i}")).collect();
        v.sort();
        v
    }

    #[test]
    fn three_and_more_entries_match_reference_trie() {
        for n in [3usize, 4, 5, 7, 8, 17, 100, 1000] {
            let ns = names(n);
            let es: Vec<Entry<'_>> = ns
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let kind = if i % 3 == 0 {
                        EntryKind::Node
                    } else {
                        EntryKind::Contents
                    };
                    entry(name, kind, h(i as u8))
                })
                .collect();
            assert_eq!(node_hash(&es), reference_inode(&es, 0), "n = {n}");
        }
    }

    #[test]
    fn three_entries_by_hand() {
        // Step hashes decide the trie: compute the expected structure explicitly.
        let es = [
            entry("a", EntryKind::Contents, h(1)),
            entry("b", EntryKind::Contents, h(2)),
            entry("c", EntryKind::Node, h(3)),
        ];
        let bits: Vec<usize> = es.iter().map(|e| bit(&step_hash(e.name), 0)).collect();
        // Whatever the bits, the root is a Tree at depth 0 with 3 leaves.
        let h1 = node_hash(&es);
        assert_eq!(h1, reference_inode(&es, 0));
        assert_ne!(
            h1,
            stable_node_hash(&es),
            "3 entries are not hashed as a stable node"
        );
        assert_eq!(bits.len(), 3);
    }

    #[test]
    fn large_directory() {
        let ns = names(100_000);
        let es: Vec<Entry<'_>> = ns
            .iter()
            .map(|name| entry(name, EntryKind::Contents, h(7)))
            .collect();
        let a = node_hash(&es);
        // Deterministic and sensitive to one entry.
        assert_eq!(a, node_hash(&es));
        let mut es2 = es.clone();
        es2[54_321].hash = h(8);
        assert_ne!(a, node_hash(&es2));
    }

    #[test]
    fn base58check_round_trip() {
        let s = "CoUt95hdFjaDDWc4dMLBekJ9VZQGTkbLzcbD9rb4Cwj7i936is8i";
        let hash = from_context_b58(s).expect("valid");
        assert_eq!(to_context_b58(&hash), s);
        assert!(to_context_b58(&Hash([0; 32])).starts_with("Co"));
        assert!(to_context_b58(&Hash([0xff; 32])).starts_with("Co"));
        // Bad checksum, wrong length, wrong prefix.
        assert_eq!(
            from_context_b58("CoUt95hdFjaDDWc4dMLBekJ9VZQGTkbLzcbD9rb4Cwj7i936is8j"),
            None
        );
        assert_eq!(from_context_b58("Co"), None);
        let other_prefix = bs58::encode([[1u8, 52].as_slice(), &[0; 32]].concat())
            .with_check()
            .into_string();
        assert_eq!(from_context_b58(&other_prefix), None);
    }

    #[test]
    fn display_is_hex() {
        let mut b = [0u8; 32];
        b[0] = 0xab;
        assert!(Hash(b).to_string().starts_with("ab00"));
        assert_eq!(Hash(b).to_string().len(), 64);
    }
}
