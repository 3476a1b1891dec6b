//! Irmin binary-context hashing (the scheme Octez uses for PVM state hashes).
//!
//! Reference: `/work/shared/reference/wasm-pvm.md` §7.1–§7.3 and `LAYOUT.md` in this crate.

use std::fmt;

/// A 32-byte Irmin (blake2b-256) hash.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hash(pub [u8; 32]);

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

/// Hash of a contents (value) blob, Irmin binary context scheme.
pub fn contents_hash(bytes: &[u8]) -> Hash {
    let mut st = blake2b_simd::Params::new().hash_length(32).to_state();
    st.update(&(bytes.len() as u64).to_be_bytes());
    st.update(bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(st.finalize().as_bytes());
    Hash(out)
}

/// Hash of a node given ALL its entries sorted by name (bytewise ascending).
pub fn node_hash(entries: &[Entry<'_>]) -> Hash {
    let _ = entries;
    Hash([0; 32])
}

/// base58check `Co…` rendering of a context hash.
pub fn to_context_b58(hash: &Hash) -> String {
    let _ = hash;
    String::new()
}

/// Parse a base58check `Co…` context hash.
pub fn from_context_b58(s: &str) -> Option<Hash> {
    let _ = s;
    None
}
