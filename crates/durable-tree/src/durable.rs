//! Octez durable-storage semantics over the `durable` subtree
//! (reference: `wasm-pvm.md` §2; Octez `src/lib_scoru_wasm/durable.ml`,
//! `src/lib_lazy_containers/immutable_chunked_byte_vector.ml`,
//! `src/lib_tree_encoding/tezos_tree_encoding.ml` `CBV_encoding`).
//!
//! A value at key `/a/b` is the subtree `a/b/@`:
//! * `@/length`: the value length, `int64` big-endian (8 bytes);
//! * `@/contents/<i>`: chunk `i` (decimal, no padding of the name), always
//!   [`CHUNK_SIZE`] bytes, zero-padded past the end of the value.
//!
//! Only *materialised* chunks are present; absent chunks read as zeros.
//! Materialisation follows Octez exactly, because it changes the state hash:
//! * [`Durable::set`] (`set_value_exn`, `of_string`): `@/contents` is
//!   replaced by every chunk of the new value (none for an empty value);
//! * [`Durable::create`] (`create_value_exn`, `allocate`): only `@/length`;
//! * [`Durable::write`] (`write_value_exn`): the existing chunks stay, and
//!   exactly the chunks the written range touches are (re)written; growing
//!   materialises nothing else. Writing at a missing key starts from an empty
//!   value, so even a zero-length write creates `@/length = 0`.
//!
//! Readonly rules and host-function error codes are not checked here: the
//! host functions in `wasm-pvm` do that.

use crate::tree::{Kind, Tree, TreeError};
use context_hash::Hash;

mod cache;

pub use cache::{CachedDurable, ValueRef};

/// Maximum key length in bytes: `250 - len("/durable") - len("/@")`
/// (`durable.ml` `max_key_length`; wasm-pvm.md §2.1).
pub const MAX_KEY_LENGTH: usize = 240;

/// Size of a value chunk (`Chunk.offset_bits = 9`,
/// `immutable_chunked_byte_vector.ml`).
pub const CHUNK_SIZE: u64 = 512;

/// Name of the child holding a key's value.
pub const VALUE_MARKER: &str = "@";

/// Why a key is rejected (maps to host error codes -1 / -2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Longer than [`MAX_KEY_LENGTH`] bytes (`STORE_KEY_TOO_LARGE`, -1).
    #[error("key too large")]
    TooLarge,
    /// Not `""` nor `/step(/step)*` with steps of `A-Za-z0-9._-`
    /// (`STORE_INVALID_KEY`, -2).
    #[error("invalid key")]
    Invalid,
}

/// What a byte can be in a key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KeyByte {
    /// Not allowed.
    Invalid,
    /// A step's byte: `A-Za-z0-9._-`.
    Step,
    /// The separator `/`.
    Slash,
}

/// [`KeyByte`] of every byte (one load per byte in [`Key::parse`]: issue 15, P7 profile).
static KEY_BYTES: [KeyByte; 256] = {
    let mut t = [KeyByte::Invalid; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_' {
            t[c] = KeyByte::Step;
        }
        c += 1;
    }
    t[b'/' as usize] = KeyByte::Slash;
    t
};

/// Steps a key's path is allocated for at first ([`Key::value_path`]).
const PATH_ROOM: usize = 8;

/// A validated durable key (`durable.ml` `key_of_string_exn`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// Parse a key: the length check comes first (-1), then the syntax (-2).
    /// `""` is the root.
    pub fn parse(b: &[u8]) -> Result<Key, KeyError> {
        if b.len() > MAX_KEY_LENGTH {
            return Err(KeyError::TooLarge);
        }
        if b.is_empty() {
            return Ok(Key(String::new()));
        }
        let Some(rest) = b.strip_prefix(b"/") else {
            return Err(KeyError::Invalid);
        };
        // One pass: every step non-empty (no '/' right after a '/', none at the end), of
        // `A-Za-z0-9._-` only.
        let mut after_slash = true;
        for &c in rest {
            match KEY_BYTES[usize::from(c)] {
                KeyByte::Step => after_slash = false,
                KeyByte::Slash if !after_slash => after_slash = true,
                _ => return Err(KeyError::Invalid),
            }
        }
        if after_slash {
            return Err(KeyError::Invalid);
        }
        // Every byte is ASCII by now.
        let s = std::str::from_utf8(b).map_err(|_| KeyError::Invalid)?;
        Ok(Key(s.to_owned()))
    }

    /// Parse from a string (see [`Key::parse`]).
    pub fn from_str_checked(s: &str) -> Result<Key, KeyError> {
        Key::parse(s.as_bytes())
    }

    /// The root key `""`.
    pub fn root() -> Key {
        Key(String::new())
    }

    /// Readonly: the root, or first step exactly `readonly`.
    #[inline]
    pub fn is_readonly(&self) -> bool {
        let rest = match self.0.strip_prefix("/readonly") {
            Some(rest) => rest,
            None => return self.0.is_empty(),
        };
        rest.is_empty() || rest.starts_with('/')
    }

    /// The key as given (`""` or `/a/b`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The steps of the key (none for the root).
    pub fn steps(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').skip(1)
    }

    fn path(&self) -> Vec<&str> {
        self.path_with_room(0)
    }

    fn value_path(&self) -> Vec<&str> {
        let mut p = self.path_with_room(1);
        p.push(VALUE_MARKER);
        p
    }

    /// The steps, in a vector allocated once with room for `extra` more (collecting
    /// [`Key::steps`] grows it 2–3 times and searches each `/` apart: issue 15, P7 profile)
    /// for keys of at most [`PATH_ROOM`] steps.
    fn path_with_room(&self, extra: usize) -> Vec<&str> {
        let s = self.0.as_str();
        // Room for the steps of most keys (a deeper one grows the vector once or twice).
        let mut p = Vec::with_capacity(PATH_ROOM + extra);
        // A valid key is "" or "/step(/step)*": each step runs from after a '/' to the next.
        let mut start = 1;
        for (i, c) in s.bytes().enumerate().skip(1) {
            if c == b'/' {
                p.push(&s[start..i]);
                start = i + 1;
            }
        }
        if !s.is_empty() {
            p.push(&s[start..]);
        }
        p
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The durable storage: a [`Tree`] rooted at the PVM state's `durable`.
#[derive(Clone, Debug, Default)]
pub struct Durable {
    tree: Tree,
}

/// A key's value as [`Durable::value_at`] finds it.
enum At<'a> {
    /// A compact value (held by the key's node or by its `@` node).
    Compact(&'a crate::tree::value::CompactValue),
    /// An expanded `@` node.
    Tree(&'a Tree),
}

/// Length of the value whose `@` subtree is `at`.
fn value_length(at: &Tree, key: &Key) -> Result<u64, TreeError> {
    if let Some(v) = at.as_compact_value() {
        return Ok(v.len());
    }
    let len = at.with_contents(&["length"], |b| <[u8; 8]>::try_from(b).ok())?;
    match len.flatten() {
        Some(b) => Ok(u64::from_be_bytes(b)),
        None => Err(TreeError::Malformed(key.to_string())),
    }
}

fn chunk_range(offset: u64, len: u64) -> std::ops::RangeInclusive<u64> {
    // Callers ensure len > 0 and offset + len does not overflow.
    (offset / CHUNK_SIZE)..=((offset + len - 1) / CHUNK_SIZE)
}

/// A buffer for [`itoa`].
fn itoa_buf() -> [u8; 20] {
    [0; 20]
}

/// Decimal rendering of `n` without allocating.
fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).expect("ASCII digits")
}

fn to_usize(n: u64) -> Result<usize, TreeError> {
    usize::try_from(n).map_err(|_| TreeError::Precondition("size exceeds usize"))
}

impl Durable {
    /// Wrap the `durable` subtree.
    pub fn new(t: Tree) -> Self {
        Durable { tree: t }
    }

    /// The underlying tree.
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Unwrap the underlying tree.
    pub fn into_tree(self) -> Tree {
        self.tree
    }

    /// The value of `k`: a compact value held by the key's node itself
    /// (read without building its `@` node: issue 15, RSS), else its `@`
    /// subtree, if the key holds a value.
    fn value_at(&self, k: &Key) -> Result<Option<At<'_>>, TreeError> {
        let Some(node) = self.tree.find(&k.path())? else {
            return Ok(None);
        };
        if let Some(v) = node.as_key_value() {
            return Ok(Some(At::Compact(v)));
        }
        match node.find(&[VALUE_MARKER])? {
            Some(t) if t.kind() == Kind::Node => Ok(Some(match t.as_compact_value() {
                Some(v) => At::Compact(v),
                None => At::Tree(t),
            })),
            Some(_) => Err(TreeError::Malformed(k.to_string())),
            None => Ok(None),
        }
    }

    /// Whether any tree exists at `k` (the root always exists).
    pub fn exists(&self, k: &Key) -> Result<bool, TreeError> {
        Ok(self.tree.find(&k.path())?.is_some())
    }

    /// Whether `k` holds a value (an `@` child).
    pub fn has_value(&self, k: &Key) -> Result<bool, TreeError> {
        let Some(node) = self.tree.find(&k.path())? else {
            return Ok(false);
        };
        Ok(node.as_key_value().is_some() || node.find(&[VALUE_MARKER])?.is_some())
    }

    /// Number of children of `k`, `@` included (Irmin `Tree.length`); 0 if
    /// missing.
    pub fn list_size(&self, k: &Key) -> Result<u64, TreeError> {
        self.tree.length(&k.path())
    }

    /// Child names of `k` except `@`, sorted bytewise.
    pub fn subkeys(&self, k: &Key) -> Result<Vec<String>, TreeError> {
        Ok(self
            .tree
            .list(&k.path())?
            .into_iter()
            .filter(|(n, _)| n != VALUE_MARKER)
            .map(|(n, _)| n)
            .collect())
    }

    /// The `index`-th child of `k` in listing order, `@` reported as `""`
    /// (`durable.ml` `subtree_name_at`). `None` if out of range.
    ///
    /// Listing order here is bytewise by name; Irmin lists large (inode)
    /// nodes in another order, and the host function is deprecated.
    pub fn nth_key(&self, k: &Key, index: u64) -> Result<Option<String>, TreeError> {
        let list = self.tree.list(&k.path())?;
        let Ok(i) = usize::try_from(index) else {
            return Ok(None);
        };
        Ok(list
            .into_iter()
            .nth(i)
            .map(|(n, _)| if n == VALUE_MARKER { String::new() } else { n }))
    }

    /// Length of the value at `k`, `None` if no value.
    pub fn value_size(&self, k: &Key) -> Result<Option<u64>, TreeError> {
        match self.value_at(k)? {
            None => Ok(None),
            Some(At::Compact(v)) => Ok(Some(v.len())),
            Some(At::Tree(at)) => Ok(Some(value_length(at, k)?)),
        }
    }

    /// Read `len` bytes at `offset`, clipped to the end of the value (an
    /// offset at or past the end gives an empty vector). `None` if no value.
    pub fn read(&self, k: &Key, offset: u64, len: u64) -> Result<Option<Vec<u8>>, TreeError> {
        let at = match self.value_at(k)? {
            None => return Ok(None),
            Some(At::Compact(v)) => {
                let size = v.len();
                if offset >= size || len == 0 {
                    return Ok(Some(Vec::new()));
                }
                let end = offset.saturating_add(len).min(size);
                let mut out = vec![0u8; to_usize(end - offset)?];
                // Chunk 0 only: the rest reads as zeros.
                if offset < CHUNK_SIZE {
                    let n = to_usize(end.min(CHUNK_SIZE) - offset)?;
                    v.chunk().copy_to(to_usize(offset)?, &mut out[..n]);
                }
                return Ok(Some(out));
            }
            Some(At::Tree(at)) => at,
        };
        let size = value_length(at, k)?;
        if offset >= size || len == 0 {
            return Ok(Some(Vec::new()));
        }
        let end = offset.saturating_add(len).min(size);
        let mut out = vec![0u8; to_usize(end - offset)?];
        let contents = at.find(&["contents"])?;
        let Some(contents) = contents else {
            return Ok(Some(out));
        };
        for i in chunk_range(offset, end - offset) {
            let name = i.to_string();
            let chunk_start = i * CHUNK_SIZE;
            // Part of [offset, end) inside this chunk.
            let from = offset.max(chunk_start);
            let to = end.min(chunk_start + CHUNK_SIZE);
            contents.with_contents(&[&name], |chunk| {
                let lo = (from - chunk_start) as usize;
                let hi = (to - chunk_start) as usize;
                // Chunks are always CHUNK_SIZE long; tolerate shorter ones
                // (missing bytes read as zero, as Octez's `of_bytes` pads).
                let avail = chunk.len().min(hi);
                if lo < avail {
                    let dst = (from - offset) as usize;
                    out[dst..dst + (avail - lo)].copy_from_slice(&chunk[lo..avail]);
                }
            })?;
        }
        Ok(Some(out))
    }

    /// The whole value at `k`, `None` if no value.
    pub fn read_all(&self, k: &Key) -> Result<Option<Vec<u8>>, TreeError> {
        self.read(k, 0, u64::MAX)
    }

    /// Write `data` at `offset` (`write_value_exn`). Precondition:
    /// `offset <= size` (size 0 for a missing value), else
    /// [`TreeError::Precondition`]. Grows the value, never shrinks it.
    pub fn write(&mut self, k: &Key, offset: u64, data: &[u8]) -> Result<(), TreeError> {
        let dlen = data.len() as u64;
        let end = offset
            .checked_add(dlen)
            .ok_or(TreeError::Precondition("write end overflows"))?;
        if offset == 0 && dlen > 0 && end <= CHUNK_SIZE && self.write_compact(k, data)? {
            return Ok(());
        }
        // Update in place: walk to `@` once (creating it if needed; it ends
        // up non-empty since `length` is always set), then edit locally.
        // At offset 0 (the common case) no precondition can fail, so the
        // current length is read after that one walk; otherwise it is
        // checked first, leaving the tree untouched on error.
        let (at, size) = if offset == 0 {
            let node = self.tree.node_at_mut(&k.path())?;
            // A contents `@` is malformed, as on the path below (it would
            // otherwise be replaced by a node).
            if node
                .find(&[VALUE_MARKER])?
                .is_some_and(|at| at.kind() == Kind::Contents)
            {
                return Err(TreeError::Malformed(k.to_string()));
            }
            let at = node.node_at_mut(&[VALUE_MARKER])?;
            let size = if at.is_empty_node()? {
                0
            } else {
                value_length(at, k)?
            };
            (at, size)
        } else {
            let size = match self.value_at(k)? {
                Some(At::Compact(v)) => v.len(),
                Some(At::Tree(at)) => value_length(at, k)?,
                None => 0,
            };
            if offset > size {
                return Err(TreeError::Precondition(
                    "write offset past the end of the value",
                ));
            }
            (self.tree.node_at_mut(&k.value_path())?, size)
        };
        let new_size = size.max(end);
        if dlen > 0 {
            for i in chunk_range(offset, dlen) {
                let mut name_buf = itoa_buf();
                let name = itoa(i, &mut name_buf);
                let path = ["contents", name];
                let mut chunk = at
                    .get_contents(&path)?
                    .unwrap_or_else(|| vec![0; CHUNK_SIZE as usize]);
                chunk.resize(CHUNK_SIZE as usize, 0);
                let chunk_start = i * CHUNK_SIZE;
                let from = offset.max(chunk_start);
                let to = end.min(chunk_start + CHUNK_SIZE);
                let src = &data[(from - offset) as usize..(to - offset) as usize];
                chunk[(from - chunk_start) as usize..(to - chunk_start) as usize]
                    .copy_from_slice(src);
                at.set_contents(&path, chunk)?;
            }
        }
        at.set_tree(&["length"], Tree::length_contents(new_size))?;
        at.compact_durable_value()?;
        if at.as_compact_value().is_some() {
            // Held with the key's node (issue 15, RSS).
            self.tree.node_at_mut(&k.path())?.compact_key_node();
        }
        Ok(())
    }

    /// [`Durable::write`] of `data` at offset 0 within chunk 0, when the
    /// value is missing or compact: the new `@` is built compact directly
    /// (`Tree::durable_value`; issue 15, RSS). `false`: not applicable,
    /// nothing changed but the (idempotent) creation of the key's node.
    fn write_compact(&mut self, k: &Key, data: &[u8]) -> Result<bool, TreeError> {
        let node = self.tree.key_node_mut(&k.path())?;
        let compact = match node.as_key_value() {
            Some(v) => Some(v),
            None => match node.find(&[VALUE_MARKER])? {
                None => None,
                Some(at) => match at.as_compact_value() {
                    Some(v) => Some(v),
                    None => return Ok(false),
                },
            },
        };
        let (size, mut chunk) = match compact {
            None => (0, Vec::new()),
            Some(v) => {
                let mut c = Vec::with_capacity(CHUNK_SIZE as usize);
                v.chunk().extend_into(&mut c);
                (v.len(), c)
            }
        };
        chunk.resize(CHUNK_SIZE as usize, 0);
        chunk[..data.len()].copy_from_slice(data);
        let len = size.max(data.len() as u64);
        node.set_durable_value(len, chunk)?;
        Ok(true)
    }

    /// Replace the whole value at `k` (`set_value_exn`): every chunk is
    /// materialised, the last one zero-padded.
    pub fn set(&mut self, k: &Key, data: &[u8]) -> Result<(), TreeError> {
        if !data.is_empty() && data.len() as u64 <= CHUNK_SIZE {
            let mut chunk = data.to_vec();
            chunk.resize(CHUNK_SIZE as usize, 0);
            return self
                .tree
                .key_node_mut(&k.path())?
                .set_durable_value(data.len() as u64, chunk);
        }
        let mut at = Tree::empty();
        for (i, part) in data.chunks(CHUNK_SIZE as usize).enumerate() {
            let mut chunk = part.to_vec();
            chunk.resize(CHUNK_SIZE as usize, 0);
            at.set_contents(&["contents", &i.to_string()], chunk)?;
        }
        at.set_tree(&["length"], Tree::length_contents(data.len() as u64))?;
        self.tree.set_tree(&k.value_path(), at)
    }

    /// Create a zero value of `size` bytes without materialising chunks
    /// (`create_value_exn`). Returns `false` (and changes nothing) if `k`
    /// already holds a value.
    pub fn create(&mut self, k: &Key, size: u64) -> Result<bool, TreeError> {
        if self.has_value(k)? {
            return Ok(false);
        }
        let mut at = Tree::empty();
        at.set_tree(&["length"], Tree::length_contents(size))?;
        self.tree.set_tree(&k.value_path(), at)?;
        Ok(true)
    }

    /// Delete the subtree at `k` (value and sub-keys); missing is fine.
    /// Deleting the root leaves an empty tree.
    pub fn delete(&mut self, k: &Key) -> Result<(), TreeError> {
        self.tree.remove(&k.path())
    }

    /// Delete only the value at `k`.
    pub fn delete_value(&mut self, k: &Key) -> Result<(), TreeError> {
        self.tree.remove(&k.value_path())
    }

    /// Copy the subtree at `from` onto `to` (replacing it). `false` if there
    /// is no tree at `from` (nothing changes).
    pub fn copy(&mut self, from: &Key, to: &Key) -> Result<bool, TreeError> {
        let Some(t) = self.tree.get(&from.path())? else {
            return Ok(false);
        };
        self.tree.set_tree(&to.path(), t)?;
        Ok(true)
    }

    /// Move the subtree at `from` to `to`: remove `from`, then set `to`
    /// (`move_tree_exn`). `false` if there is no tree at `from`.
    pub fn move_tree(&mut self, from: &Key, to: &Key) -> Result<bool, TreeError> {
        let Some(t) = self.tree.get(&from.path())? else {
            return Ok(false);
        };
        self.tree.remove(&from.path())?;
        self.tree.set_tree(&to.path(), t)?;
        Ok(true)
    }

    /// Irmin hash of the subtree at `k` (`hash ~kind:Directory`); a large
    /// changed subtree (the kernel's `store_get_hash` of a world state) is
    /// hashed on the machine's threads ([`crate::default_threads`]).
    pub fn subtree_hash(&self, k: &Key) -> Result<Option<Hash>, TreeError> {
        self.tree
            .find(&k.path())?
            .map(Tree::hash_parallel)
            .transpose()
    }

    /// Irmin hash of the value subtree `k/@` (`hash ~kind:Value`).
    pub fn value_hash(&self, k: &Key) -> Result<Option<Hash>, TreeError> {
        self.tree.find(&k.value_path())?.map(Tree::hash).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::parse(s.as_bytes()).unwrap()
    }

    fn chunks(d: &Durable, key: &str) -> Vec<String> {
        let mut p: Vec<&str> = key.split('/').skip(1).collect();
        p.extend(["@", "contents"]);
        let mut names: Vec<(u64, String)> = d
            .tree()
            .list(&p)
            .unwrap()
            .into_iter()
            .map(|(n, _)| (n.parse().unwrap(), n))
            .collect();
        names.sort();
        names.into_iter().map(|x| x.1).collect()
    }

    fn chunk(d: &Durable, key: &str, i: u64) -> Option<Vec<u8>> {
        let mut p: Vec<&str> = key.split('/').skip(1).collect();
        let name = i.to_string();
        p.extend(["@", "contents", name.as_str()]);
        d.tree().get_contents(&p).unwrap()
    }

    #[test]
    fn write_to_a_malformed_value_fails_at_any_offset() {
        // `@` as contents cannot come from this API, only from a foreign tree.
        let mut t = Tree::empty();
        t.set_contents(&["a", "@"], b"raw".to_vec()).unwrap();
        let mut d = Durable::new(t);
        let before = d.tree().hash().unwrap();
        for offset in [0, 1] {
            assert!(matches!(
                d.write(&k("/a"), offset, b"x"),
                Err(TreeError::Malformed(_))
            ));
            assert_eq!(d.tree().hash().unwrap(), before);
        }
        // A value without `length` is malformed too.
        let mut t = Tree::empty();
        t.set_contents(&["b", "@", "other"], b"x".to_vec()).unwrap();
        let mut d = Durable::new(t);
        for offset in [0, 1] {
            assert!(matches!(
                d.write(&k("/b"), offset, b"x"),
                Err(TreeError::Malformed(_))
            ));
        }
    }

    fn raw_len(d: &Durable, key: &str) -> Option<Vec<u8>> {
        let mut p: Vec<&str> = key.split('/').skip(1).collect();
        p.extend(["@", "length"]);
        d.tree().get_contents(&p).unwrap()
    }

    #[test]
    fn key_parsing() {
        assert_eq!(Key::parse(b"").unwrap().as_str(), "");
        assert!(Key::parse(b"/a/B.c-d_e/0").is_ok());
        for bad in [
            &b"/"[..],
            b"a",
            b"a/b",
            b"/a/",
            b"//a",
            b"/a//b",
            b"/a@",
            b"/@",
            b"/a b",
            b"/\xc3\xa9",
        ] {
            assert_eq!(Key::parse(bad), Err(KeyError::Invalid), "{bad:?}");
        }
        for b in 0..=255u8 {
            let step = b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
            assert_eq!(Key::parse(&[b'/', b]).is_ok(), step, "{b}");
            assert_eq!(Key::parse(&[b'/', b'a', b'/', b]).is_ok(), step, "{b}");
        }
        let ok = format!("/{}", "a".repeat(239));
        assert_eq!(ok.len(), 240);
        assert!(Key::parse(ok.as_bytes()).is_ok());
        let long = format!("/{}", "a".repeat(240));
        assert_eq!(Key::parse(long.as_bytes()), Err(KeyError::TooLarge));
        // Length is checked before syntax.
        let long_bad = "!".repeat(241);
        assert_eq!(Key::parse(long_bad.as_bytes()), Err(KeyError::TooLarge));
    }

    #[test]
    fn paths_are_the_steps() {
        for key in [
            "",
            "/a",
            "/a/b",
            "/1/2/3/4/5/6/7/8/9/10/11",
            "/evm/world_state/eth_accounts/0f/balance",
            "/x.y/-/_",
        ] {
            let k = k(key);
            let steps: Vec<&str> = k.steps().collect();
            assert_eq!(k.path(), steps, "{key}");
            let mut v = steps.clone();
            v.push(VALUE_MARKER);
            assert_eq!(k.value_path(), v, "{key}");
        }
    }

    #[test]
    fn readonly_keys() {
        assert!(k("").is_readonly());
        assert!(k("/readonly").is_readonly());
        assert!(k("/readonly/kernel/boot.wasm").is_readonly());
        assert!(!k("/readonlyx").is_readonly());
        assert!(!k("/a/readonly").is_readonly());
        assert!(!k("/kernel").is_readonly());
    }

    #[test]
    fn set_materialises_every_chunk_padded() {
        let mut d = Durable::default();
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        d.set(&k("/v"), &data).unwrap();
        assert_eq!(raw_len(&d, "/v"), Some(1000u64.to_be_bytes().to_vec()));
        assert_eq!(chunks(&d, "/v"), ["0", "1"]);
        assert_eq!(chunk(&d, "/v", 0).unwrap(), &data[..512]);
        let mut last = data[512..].to_vec();
        last.resize(512, 0);
        assert_eq!(chunk(&d, "/v", 1).unwrap(), last);
        assert_eq!(d.read_all(&k("/v")).unwrap().unwrap(), data);
        assert_eq!(d.value_size(&k("/v")).unwrap(), Some(1000));
        // A shorter set drops the old chunks.
        d.set(&k("/v"), b"ab").unwrap();
        assert_eq!(chunks(&d, "/v"), ["0"]);
        assert_eq!(d.read_all(&k("/v")).unwrap().unwrap(), b"ab");
    }

    #[test]
    fn set_empty_value_has_only_length() {
        let mut d = Durable::default();
        d.set(&k("/e"), b"").unwrap();
        assert_eq!(
            d.tree().list(&["e", "@"]).unwrap(),
            vec![("length".to_string(), Kind::Contents)]
        );
        assert_eq!(d.value_size(&k("/e")).unwrap(), Some(0));
        assert_eq!(d.read_all(&k("/e")).unwrap(), Some(vec![]));
        assert!(d.has_value(&k("/e")).unwrap());
    }

    #[test]
    fn create_materialises_nothing() {
        let mut d = Durable::default();
        assert!(d.create(&k("/c"), 2000).unwrap());
        assert_eq!(chunks(&d, "/c"), Vec::<String>::new());
        assert!(d.tree().get(&["c", "@", "contents"]).unwrap().is_none());
        assert_eq!(d.read_all(&k("/c")).unwrap().unwrap(), vec![0; 2000]);
        // Existing value: refused, unchanged.
        d.set(&k("/s"), b"xyz").unwrap();
        let h = d.tree().hash().unwrap();
        assert!(!d.create(&k("/s"), 10).unwrap());
        assert!(!d.create(&k("/c"), 10).unwrap());
        assert_eq!(d.tree().hash().unwrap(), h);
        assert!(d.create(&k("/z"), 0).unwrap());
        assert_eq!(d.value_size(&k("/z")).unwrap(), Some(0));
    }

    #[test]
    fn sparse_write_materialises_touched_chunks_only() {
        let mut d = Durable::default();
        d.create(&k("/c"), 2000).unwrap();
        d.write(&k("/c"), 1500, b"abc").unwrap();
        assert_eq!(chunks(&d, "/c"), ["2"]);
        let mut expected = vec![0u8; 512];
        expected[1500 - 1024..1503 - 1024].copy_from_slice(b"abc");
        assert_eq!(chunk(&d, "/c", 2).unwrap(), expected);
        assert_eq!(d.value_size(&k("/c")).unwrap(), Some(2000));
        assert_eq!(d.read(&k("/c"), 1499, 5).unwrap().unwrap(), b"\0abc\0");
        // A write straddling chunks 0 and 1.
        d.write(&k("/c"), 510, b"wxyz").unwrap();
        assert_eq!(chunks(&d, "/c"), ["0", "1", "2"]);
        assert_eq!(d.read(&k("/c"), 509, 6).unwrap().unwrap(), b"\0wxyz\0");
    }

    #[test]
    fn write_to_missing_key_creates_value() {
        let mut d = Durable::default();
        d.write(&k("/n"), 0, b"hello").unwrap();
        assert_eq!(d.read_all(&k("/n")).unwrap().unwrap(), b"hello");
        assert_eq!(chunks(&d, "/n"), ["0"]);
        // A zero-length write at a missing key creates an empty value.
        d.write(&k("/m"), 0, b"").unwrap();
        assert_eq!(d.value_size(&k("/m")).unwrap(), Some(0));
        assert!(d.tree().get(&["m", "@", "contents"]).unwrap().is_none());
        // Past the end: a precondition failure, nothing changes.
        let h = d.tree().hash().unwrap();
        assert!(matches!(
            d.write(&k("/x"), 1, b"a"),
            Err(TreeError::Precondition(_))
        ));
        assert!(matches!(
            d.write(&k("/n"), 6, b"a"),
            Err(TreeError::Precondition(_))
        ));
        assert_eq!(d.tree().hash().unwrap(), h);
    }

    #[test]
    fn append_at_exact_end_and_grow_across_chunks() {
        let mut d = Durable::default();
        let v: Vec<u8> = vec![7; 512];
        d.set(&k("/a"), &v).unwrap();
        d.write(&k("/a"), 512, b"x").unwrap();
        assert_eq!(d.value_size(&k("/a")).unwrap(), Some(513));
        assert_eq!(chunks(&d, "/a"), ["0", "1"]);
        let mut c1 = vec![0u8; 512];
        c1[0] = b'x';
        assert_eq!(chunk(&d, "/a", 1).unwrap(), c1);

        let mut d = Durable::default();
        d.set(&k("/g"), &[1; 500]).unwrap();
        d.write(&k("/g"), 500, &[2; 1100]).unwrap();
        assert_eq!(d.value_size(&k("/g")).unwrap(), Some(1600));
        assert_eq!(chunks(&d, "/g"), ["0", "1", "2", "3"]);
        let all = d.read_all(&k("/g")).unwrap().unwrap();
        assert_eq!(&all[..500], &[1; 500][..]);
        assert_eq!(&all[500..], &[2; 1100][..]);
        // Overwrite inside: never shrinks.
        d.write(&k("/g"), 0, b"zz").unwrap();
        assert_eq!(d.value_size(&k("/g")).unwrap(), Some(1600));
    }

    #[test]
    fn write_that_changes_nothing_keeps_the_hash() {
        let mut d = Durable::default();
        d.set(&k("/a"), &[5; 700]).unwrap();
        let h = d.tree().hash().unwrap();
        d.write(&k("/a"), 100, &[5; 10]).unwrap();
        assert_eq!(d.tree().hash().unwrap(), h);
    }

    #[test]
    fn read_clips_to_value_end() {
        let mut d = Durable::default();
        d.set(&k("/r"), b"0123456789").unwrap();
        assert_eq!(d.read(&k("/r"), 8, 100).unwrap().unwrap(), b"89");
        assert_eq!(d.read(&k("/r"), 10, 5).unwrap().unwrap(), b"");
        assert_eq!(d.read(&k("/r"), 99, 5).unwrap().unwrap(), b"");
        assert_eq!(d.read(&k("/r"), 2, 0).unwrap().unwrap(), b"");
        assert_eq!(d.read(&k("/missing"), 0, 5).unwrap(), None);
        assert_eq!(d.value_size(&k("/missing")).unwrap(), None);
    }

    #[test]
    fn listing_counts_value_marker() {
        let mut d = Durable::default();
        d.set(&k("/a"), b"v").unwrap();
        d.set(&k("/a/y"), b"1").unwrap();
        d.set(&k("/a/x/deep"), b"2").unwrap();
        assert_eq!(d.list_size(&k("/a")).unwrap(), 3);
        assert_eq!(d.subkeys(&k("/a")).unwrap(), ["x", "y"]);
        assert_eq!(d.list_size(&k("/a/x")).unwrap(), 1);
        assert_eq!(d.list_size(&k("/nope")).unwrap(), 0);
        assert_eq!(d.list_size(&k("")).unwrap(), 1);
        assert_eq!(d.nth_key(&k("/a"), 0).unwrap().as_deref(), Some(""));
        assert_eq!(d.nth_key(&k("/a"), 1).unwrap().as_deref(), Some("x"));
        assert_eq!(d.nth_key(&k("/a"), 3).unwrap(), None);
        assert!(d.exists(&k("/a/x")).unwrap());
        assert!(!d.has_value(&k("/a/x")).unwrap());
        assert!(d.exists(&k("")).unwrap());
    }

    #[test]
    fn delete_and_delete_value() {
        let mut d = Durable::default();
        d.set(&k("/a"), b"v").unwrap();
        d.set(&k("/a/b"), b"w").unwrap();
        d.set(&k("/keep"), b"k").unwrap();
        d.delete_value(&k("/a")).unwrap();
        assert!(!d.has_value(&k("/a")).unwrap());
        assert!(d.has_value(&k("/a/b")).unwrap());
        d.delete(&k("/a")).unwrap();
        assert!(!d.exists(&k("/a")).unwrap());
        d.delete(&k("/a")).unwrap(); // missing is fine
        d.delete_value(&k("/zzz")).unwrap();
        assert_eq!(d.subkeys(&k("")).unwrap(), ["keep"]);
        // Deleting the only value prunes the now-empty parents.
        d.set(&k("/p/q/r"), b"1").unwrap();
        d.delete_value(&k("/p/q/r")).unwrap();
        assert!(!d.exists(&k("/p")).unwrap());
        d.delete(&k("")).unwrap();
        assert!(d.tree().is_empty_node().unwrap());
    }

    #[test]
    fn copy_semantics() {
        let mut d = Durable::default();
        d.set(&k("/a"), b"va").unwrap();
        d.set(&k("/a/c"), b"vc").unwrap();
        let h = d.tree().hash().unwrap();
        // Onto itself: no change.
        assert!(d.copy(&k("/a"), &k("/a")).unwrap());
        assert_eq!(d.tree().hash().unwrap(), h);
        // Missing source.
        assert!(!d.copy(&k("/missing"), &k("/b")).unwrap());
        assert_eq!(d.tree().hash().unwrap(), h);
        // Into its own subtree: takes the subtree as it was before.
        let ha = d.subtree_hash(&k("/a")).unwrap().unwrap();
        assert!(d.copy(&k("/a"), &k("/a/b")).unwrap());
        assert_eq!(d.subtree_hash(&k("/a/b")).unwrap(), Some(ha));
        assert_eq!(d.read_all(&k("/a/b/c")).unwrap().unwrap(), b"vc");
        assert_eq!(d.read_all(&k("/a")).unwrap().unwrap(), b"va");
        // Replaces the destination wholesale.
        d.set(&k("/d/old"), b"o").unwrap();
        d.copy(&k("/a/c"), &k("/d")).unwrap();
        assert!(!d.exists(&k("/d/old")).unwrap());
        assert_eq!(d.read_all(&k("/d")).unwrap().unwrap(), b"vc");
    }

    #[test]
    fn move_semantics() {
        let mut d = Durable::default();
        d.set(&k("/a"), b"va").unwrap();
        d.set(&k("/a/c"), b"vc").unwrap();
        let ha = d.subtree_hash(&k("/a")).unwrap().unwrap();
        assert!(d.move_tree(&k("/a"), &k("/a/b")).unwrap());
        assert_eq!(d.subtree_hash(&k("/a/b")).unwrap(), Some(ha));
        assert_eq!(d.subkeys(&k("/a")).unwrap(), ["b"]);
        assert!(!d.has_value(&k("/a")).unwrap());
        assert!(d.move_tree(&k("/a/b"), &k("/x")).unwrap());
        assert!(!d.exists(&k("/a")).unwrap());
        assert_eq!(d.subtree_hash(&k("/x")).unwrap(), Some(ha));
        assert!(!d.move_tree(&k("/a"), &k("/y")).unwrap());
        // Onto itself: unchanged.
        let h = d.tree().hash().unwrap();
        assert!(d.move_tree(&k("/x"), &k("/x")).unwrap());
        assert_eq!(d.tree().hash().unwrap(), h);
    }

    #[test]
    fn hashes_of_subtrees_and_values() {
        let mut d = Durable::default();
        d.set(&k("/h/i"), b"1").unwrap();
        let sub = d.tree().get(&["h"]).unwrap().unwrap();
        assert_eq!(d.subtree_hash(&k("/h")).unwrap(), Some(sub.hash().unwrap()));
        let at = d.tree().get(&["h", "i", "@"]).unwrap().unwrap();
        assert_eq!(d.value_hash(&k("/h/i")).unwrap(), Some(at.hash().unwrap()));
        assert_eq!(d.value_hash(&k("/h")).unwrap(), None);
        assert_eq!(d.subtree_hash(&k("/q")).unwrap(), None);
        assert_eq!(
            d.subtree_hash(&k("")).unwrap(),
            Some(d.tree().hash().unwrap())
        );
    }

    #[test]
    fn value_layout_matches_hand_built_tree() {
        let mut d = Durable::default();
        d.set(&k("/k"), b"abc").unwrap();
        let mut t = Tree::empty();
        let mut c0 = b"abc".to_vec();
        c0.resize(512, 0);
        t.set_contents(&["k", "@", "contents", "0"], c0).unwrap();
        t.set_contents(&["k", "@", "length"], 3u64.to_be_bytes().to_vec())
            .unwrap();
        assert_eq!(d.tree().hash().unwrap(), t.hash().unwrap());
    }
}
