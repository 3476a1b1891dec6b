//! Tree-encoding combinators (`src/lib_tree_encoding/encoding.ml`, `decoding.ml`,
//! `tezos_tree_encoding.ml`; `docs/reference/wasm-ticks.md` §2.1) and the few Data_encoding
//! binary forms they store.
//!
//! Every Octez `'a Tezos_tree_encoding.t` becomes one [`Codec`] impl: `encode` writes the value
//! under a prefix, `decode` reads it back. All reads of the state tree go through [`read`] and
//! [`subtree`] (the narrow interface a proof recorder will wrap); all writes through [`write()`],
//! [`attach`] and [`remove`].
//!
//! Combinator ↔ Rust: `value key enc` = [`write()`] of [`Blob::to_bytes`] at `prefix/key`
//! (`Data_encoding.unit`/`constant` → an empty blob); `raw` = [`write()`] of the bytes;
//! `value_option` = [`write()`] or [`remove`]; `scope` = [`join`]; `tup* ~flatten:true` = several
//! writes at the same prefix, `~flatten:false` = component `i` under `"<i>"`;
//! `tagged_union` with a string tag = [`write_tag`] (`tag` = 4-byte BE length + name) and the
//! payload under `value` ([`val`]); `option` = tags `Some` (payload under `value`) / `None`.

use durable_tree::access::{AccessError, TreeAccess};
use durable_tree::proof::partial::StepTree;
use durable_tree::{Kind, TreeError};

/// The state tree a tick runs on: a plain tree (execution) or a [`StepTree`] (one-tick
/// proofs, recording what is loaded; `durable_tree::access`). Subtree handles taken from a
/// tree are of its kind; a fresh subtree (`default`) is plain and is turned into a partial
/// tree's fresh subtree when attached to one.
#[derive(Clone)]
pub enum Tree {
    /// A plain tree.
    Plain(durable_tree::Tree),
    /// A partial tree recording its reads (boxed: it is much larger than a plain handle).
    Step(Box<StepTree>),
}

impl Default for Tree {
    fn default() -> Self {
        Tree::Plain(durable_tree::Tree::empty())
    }
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tree::Plain(t) => write!(f, "Plain({t:?})"),
            Tree::Step(_) => write!(f, "Step(..)"),
        }
    }
}

impl Tree {
    /// The empty node.
    pub fn empty() -> Self {
        Tree::default()
    }

    /// A partial tree.
    pub fn step(t: StepTree) -> Self {
        Tree::Step(Box::new(t))
    }

    /// The plain tree, or an error on a partial tree.
    pub fn into_plain(self) -> Result<durable_tree::Tree> {
        match self {
            Tree::Plain(t) => Ok(t),
            Tree::Step(_) => Err(Error::Unsupported("a plain tree was expected".into())),
        }
    }

    fn acc(&self) -> &dyn Acc {
        match self {
            Tree::Plain(t) => t,
            Tree::Step(t) => t.as_ref(),
        }
    }
}

/// The object-safe part of [`TreeAccess`] this crate uses.
trait Acc {
    fn contents(&self, p: &[&str]) -> Result<Option<Vec<u8>>, AccessError>;
    fn kind_at(&self, p: &[&str]) -> Result<Option<Kind>, AccessError>;
    fn names(&self, p: &[&str]) -> Result<Vec<(String, Kind)>, AccessError>;
}

impl<T: TreeAccess> Acc for T {
    fn contents(&self, p: &[&str]) -> Result<Option<Vec<u8>>, AccessError> {
        self.get_contents(p)
    }
    fn kind_at(&self, p: &[&str]) -> Result<Option<Kind>, AccessError> {
        TreeAccess::kind(self, p)
    }
    fn names(&self, p: &[&str]) -> Result<Vec<(String, Kind)>, AccessError> {
        TreeAccess::list(self, p)
    }
}

/// Errors of the small-step interpreter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state tree could not be read or written.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A partial tree (one-tick proof) lacks what the tick reads.
    #[error("state tree access: {0}")]
    Access(AccessError),
    /// A key the encoding requires is missing or holds bytes of the wrong form.
    #[error("malformed interpreter state at /{0}: {1}")]
    Malformed(String, &'static str),
    /// A lazy-vector access out of bounds (`Lazy_vector.Bounds`).
    #[error("lazy vector access out of bounds (index {0}, length {1})")]
    Bounds(i64, i64),
    /// A lazy structure has neither a loaded binding nor an origin for a key
    /// (`Lazy_map.UnexpectedAccess`).
    #[error("lazy structure: no value for key {0}")]
    UnexpectedAccess(String),
    /// An arithmetic overflow on a size or position (Octez would raise `SizeOverflow`).
    #[error("size overflow: {0}")]
    Overflow(&'static str),
    /// The state is one this crate does not step.
    #[error("unsupported tick state: {0}")]
    Unsupported(String),
    /// `Reveal_required` (`docs/reference/wasm-ticks.md` §1.5): the state waits for the reveal
    /// whose request bytes this holds; its next tick is [`crate::tick::reveal_step`], not a
    /// computation tick.
    #[error("the PVM waits for a reveal: answer it with reveal_step")]
    RevealRequired(Vec<u8>),
    /// An interpreter exception that Octez turns into a stuck state (`Crash`, `Exhaustion`,
    /// `Link`, `Init_step_error`, `Evaluation_step_error`…; `docs/reference/wasm-ticks.md`
    /// §1.1 `exn_to_stuck`): the message of the stuck state.
    #[error("interpreter exception: {0}")]
    Exception(String),
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A key prefix in the state tree.
pub type Path = Vec<String>;

/// `prefix ++ steps` (`scope`).
pub fn join(prefix: &[String], steps: &[&str]) -> Path {
    let mut p = prefix.to_vec();
    p.extend(steps.iter().map(|s| (*s).to_owned()));
    p
}

/// `prefix/value`: where a tagged union puts its payload.
pub fn val(prefix: &[String]) -> Path {
    join(prefix, &["value"])
}

fn steps(p: &[String]) -> Vec<&str> {
    p.iter().map(String::as_str).collect()
}

pub(crate) fn show(p: &[String]) -> String {
    p.join("/")
}

impl From<AccessError> for Error {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Tree(t) => Error::Tree(t),
            other => Error::Access(other),
        }
    }
}

/// Read the blob at `p` (`None` if absent or a node).
pub fn read(t: &Tree, p: &[String]) -> Result<Option<Vec<u8>>> {
    Ok(t.acc().contents(&steps(p))?)
}

/// Read the blob at `p` given as steps.
pub fn read_steps(t: &Tree, p: &[&str]) -> Result<Option<Vec<u8>>> {
    Ok(t.acc().contents(p)?)
}

/// The subtree at `p` given as steps (`None` if absent).
pub fn subtree_steps(t: &Tree, p: &[&str]) -> Result<Option<Tree>> {
    Ok(match t {
        Tree::Plain(x) => TreeAccess::get_tree(x, p)?.map(Tree::Plain),
        Tree::Step(x) => TreeAccess::get_tree(x.as_ref(), p)?.map(Tree::step),
    })
}

/// The subtree at `p` (`None` if absent).
pub fn subtree(t: &Tree, p: &[String]) -> Result<Option<Tree>> {
    subtree_steps(t, &steps(p))
}

/// Kind of the entry at `p`.
pub fn kind(t: &Tree, p: &[String]) -> Result<Option<Kind>> {
    Ok(t.acc().kind_at(&steps(p))?)
}

/// Children names of the node at `p`.
pub fn children(t: &Tree, p: &[String]) -> Result<Vec<String>> {
    Ok(t.acc()
        .names(&steps(p))?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

/// Write a blob at `p` (Irmin `Tree.add`).
pub fn write(t: &mut Tree, p: &[String], bytes: Vec<u8>) -> Result<()> {
    let p = steps(p);
    match t {
        Tree::Plain(x) => TreeAccess::set_contents(x, &p, bytes)?,
        Tree::Step(x) => TreeAccess::set_contents(x.as_mut(), &p, bytes)?,
    }
    Ok(())
}

/// Write a blob at `p` given as steps (Irmin `Tree.add`).
pub fn write_steps(t: &mut Tree, p: &[&str], bytes: Vec<u8>) -> Result<()> {
    match t {
        Tree::Plain(x) => TreeAccess::set_contents(x, p, bytes)?,
        Tree::Step(x) => TreeAccess::set_contents(x.as_mut(), p, bytes)?,
    }
    Ok(())
}

/// The hash of the subtree at `p` given as steps (Irmin `Tree.find_tree` then `Tree.hash`):
/// on a partial tree, nothing of an unchanged subtree is loaded.
pub fn hash_steps(t: &Tree, p: &[&str]) -> Result<Option<context_hash::Hash>> {
    Ok(match t {
        Tree::Plain(x) => match x.get(p)? {
            Some(s) => Some(s.hash()?),
            None => None,
        },
        Tree::Step(x) => x.find_hash(p).map_err(AccessError::from)?,
    })
}

/// Kind of the entry at `p` given as steps (Irmin `Tree.find_tree`, nothing loaded).
pub fn kind_steps(t: &Tree, p: &[&str]) -> Result<Option<Kind>> {
    Ok(t.acc().kind_at(p)?)
}

/// The number of children of the node at `p` given as steps (Irmin `Tree.length`: on a
/// partial tree, an unchanged node's root inode only is loaded); 0 when absent or contents.
pub fn length_steps(t: &Tree, p: &[&str]) -> Result<u64> {
    Ok(match t {
        Tree::Plain(x) => x.length(p)?,
        Tree::Step(x) => x.length(p).map_err(AccessError::from)?,
    })
}

/// Children names of the node at `p` given as steps (Irmin `Tree.list`).
pub fn children_steps(t: &Tree, p: &[&str]) -> Result<Vec<String>> {
    Ok(t.acc().names(p)?.into_iter().map(|(k, _)| k).collect())
}

/// Attach a subtree at `p` given as steps (Irmin `Tree.add_tree`; an empty node removes).
pub fn attach_steps(t: &mut Tree, p: &[&str], sub: Tree) -> Result<()> {
    match (t, sub) {
        (Tree::Plain(x), Tree::Plain(s)) => TreeAccess::set_tree(x, p, s)?,
        (Tree::Step(x), Tree::Step(s)) => TreeAccess::set_tree(x.as_mut(), p, *s)?,
        (Tree::Step(x), Tree::Plain(s)) => {
            // A fresh subtree built by this tick: nothing of it is in the proof.
            let s = StepTree::of_tree(&s).map_err(AccessError::from)?;
            TreeAccess::set_tree(x.as_mut(), p, s)?
        }
        (Tree::Plain(_), Tree::Step(_)) => {
            return Err(Error::Unsupported(
                "a partial tree's subtree attached to a plain tree".into(),
            ));
        }
    }
    Ok(())
}

/// Attach a subtree at `p` (Irmin `Tree.add_tree`; an empty node removes).
pub fn attach(t: &mut Tree, p: &[String], sub: Tree) -> Result<()> {
    attach_steps(t, &steps(p), sub)
}

/// Remove `p` given as steps (Irmin `Tree.remove`). What a proof shows of the siblings
/// left is Irmin's sharing by hash (`crates/pvm-tick/src/share.rs`), not a read here.
pub fn remove_steps(t: &mut Tree, p: &[&str]) -> Result<()> {
    match t {
        Tree::Plain(x) => TreeAccess::remove(x, p)?,
        Tree::Step(x) => TreeAccess::remove(x.as_mut(), p)?,
    }
    Ok(())
}

/// Remove `p` (Irmin `Tree.remove`).
pub fn remove(t: &mut Tree, p: &[String]) -> Result<()> {
    remove_steps(t, &steps(p))
}

/// Read a required blob.
pub fn need(t: &Tree, p: &[String], what: &'static str) -> Result<Vec<u8>> {
    read(t, p)?.ok_or_else(|| Error::Malformed(show(p), what))
}

/// A value stored in the tree as one Data_encoding blob (`value [] enc`).
pub trait Blob: Sized + Clone {
    /// Data_encoding binary form.
    fn put(&self, out: &mut Vec<u8>);
    /// Parse from the front of `r`.
    fn take(r: &mut Rd<'_>) -> Option<Self>;

    /// The whole blob.
    fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.put(&mut v);
        v
    }

    /// Parse a whole blob.
    fn from_bytes(b: &[u8]) -> Option<Self> {
        let mut r = Rd(b);
        let v = Self::take(&mut r)?;
        r.0.is_empty().then_some(v)
    }
}

/// A reader over a Data_encoding blob.
pub struct Rd<'a>(pub &'a [u8]);

impl Rd<'_> {
    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Option<Vec<u8>> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a.to_vec())
    }
    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    /// `int32`.
    pub fn i32(&mut self) -> Option<i32> {
        let (a, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest;
        Some(i32::from_be_bytes(*a))
    }
    /// `int64`.
    pub fn i64(&mut self) -> Option<i64> {
        let (a, rest) = self.0.split_first_chunk::<8>()?;
        self.0 = rest;
        Some(i64::from_be_bytes(*a))
    }
}

/// Every [`Blob`] is a codec storing its bytes at the prefix itself.
impl<T: Blob> Codec for T {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        write(t, p, self.to_bytes())
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let b = need(t, p, "missing value")?;
        T::from_bytes(&b).ok_or_else(|| Error::Malformed(show(p), "undecodable value"))
    }
}

/// A tree encoding (`'a Tezos_tree_encoding.t`).
pub trait Codec: Sized + Clone {
    /// Write `self` under `p`.
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()>;
    /// Read a value from under `p`.
    fn decode(t: &Tree, p: &[String]) -> Result<Self>;
}

/// `int32` (4 bytes BE); also `Block_label`, `Data_label`, `var`.
impl Blob for i32 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend(self.to_be_bytes());
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        r.i32()
    }
}

/// `int64` (8 bytes BE).
impl Blob for i64 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend(self.to_be_bytes());
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        r.i64()
    }
}

/// `bool`: `0xff` / `0x00`.
impl Blob for bool {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(if *self { 0xff } else { 0x00 });
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        match r.u8()? {
            0xff => Some(true),
            0x00 => Some(false),
            _ => None,
        }
    }
}

/// `Data_encoding.string` (4-byte BE length, then the bytes; OCaml strings are bytes).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Str(pub Vec<u8>);

impl Blob for Str {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend((self.0.len() as u32).to_be_bytes());
        out.extend(&self.0);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        let n = usize::try_from(u32::from_be_bytes(r.bytes(4)?.try_into().ok()?)).ok()?;
        Some(Str(r.bytes(n)?))
    }
}

/// `Data_encoding.int31`: 4 bytes BE, in `-2^30 .. 2^30 - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, PartialOrd, Ord)]
pub struct Int31(pub i32);

impl Blob for Int31 {
    fn put(&self, out: &mut Vec<u8>) {
        out.extend(self.0.to_be_bytes());
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        let v = r.i32()?;
        (-(1 << 30)..(1 << 30)).contains(&v).then_some(Int31(v))
    }
}

/// `Data_encoding.unit` / `constant _`: the empty blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unit;

impl Blob for Unit {
    fn put(&self, _out: &mut Vec<u8>) {}
    fn take(_r: &mut Rd<'_>) -> Option<Self> {
        Some(Unit)
    }
}

/// `Data_encoding.option`: a `Uint8`-tagged union, `0x00` (`None`) or `0x01` (`Some`) then the
/// value. (Only an `opt` field of an `obj` uses `0xff`; `option` is the union with `Tag 1`.)
impl<T: Blob> Blob for Option<T> {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                v.put(out);
            }
        }
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        match r.u8()? {
            0 => Some(None),
            1 => Some(Some(T::take(r)?)),
            _ => None,
        }
    }
}

/// Write the tag of a tagged union with a string tag (`prefix/tag`).
pub fn write_tag(t: &mut Tree, p: &[String], name: &str) -> Result<()> {
    write(
        t,
        &join(p, &["tag"]),
        Str(name.as_bytes().to_vec()).to_bytes(),
    )
}

/// Read the tag of a tagged union with a string tag.
pub fn read_tag(t: &Tree, p: &[String]) -> Result<String> {
    let tp = join(p, &["tag"]);
    let b = need(t, &tp, "missing tag")?;
    let s = Str::from_bytes(&b).ok_or_else(|| Error::Malformed(show(&tp), "bad tag"))?;
    String::from_utf8(s.0).map_err(|_| Error::Malformed(show(&tp), "non-UTF-8 tag"))
}

/// Decoding a unit case of a tagged union: `value [] Data_encoding.unit` reads the (empty)
/// blob at `value` (a one-tick proof holds it), then gives `x`.
pub fn read_unit_case<X>(t: &Tree, p: &[String], x: X) -> Result<X> {
    read(t, &val(p))?;
    Ok(x)
}

/// A unit case of a tagged union: the tag and an empty blob at `value`.
pub fn write_unit_case(t: &mut Tree, p: &[String], name: &str) -> Result<()> {
    write_tag(t, p, name)?;
    write(t, &val(p), Vec::new())
}

/// `value_option key enc`: `Some` writes the value, `None` removes the key.
pub fn write_value_option<T: Blob>(t: &mut Tree, p: &[String], v: &Option<T>) -> Result<()> {
    match v {
        Some(v) => write(t, p, v.to_bytes()),
        None => remove(t, p),
    }
}

/// Decode a `value_option`.
pub fn read_value_option<T: Blob>(t: &Tree, p: &[String]) -> Result<Option<T>> {
    match read(t, p)? {
        None => Ok(None),
        Some(b) => {
            Ok(Some(T::from_bytes(&b).ok_or_else(|| {
                Error::Malformed(show(p), "undecodable value")
            })?))
        }
    }
}

/// `Tezos_tree_encoding.option enc`: tag `Some` + payload under `value`, or tag `None`.
impl<T: Codec> Codec for Opt<T> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match &self.0 {
            Some(v) => {
                write_tag(t, p, "Some")?;
                v.encode(t, &val(p))
            }
            None => write_tag(t, p, "None"),
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        match read_tag(t, p)?.as_str() {
            "Some" => Ok(Opt(Some(T::decode(t, &val(p))?))),
            "None" => Ok(Opt(None)),
            _ => Err(Error::Malformed(show(p), "option tag")),
        }
    }
}

/// A tree-encoding `option` (a tagged union), as opposed to a Data_encoding option blob.
#[derive(Clone, Debug)]
pub struct Opt<T>(pub Option<T>);

#[cfg(test)]
mod tests {
    use super::*;

    /// `Data_encoding.option` is `union ~tag_size:Uint8 [case (Tag 1) "Some"; case (Tag 0)
    /// "None"]` (the `pack` of `Load`, `ValBlockType`, `limits` `max`); `bool` is `0xff`/`0x00`.
    #[test]
    fn option_is_tag_1_then_the_value_and_bool_is_0xff() {
        assert_eq!(Some(5i32).to_bytes(), [1, 0, 0, 0, 5]);
        assert_eq!(None::<i32>.to_bytes(), [0]);
        assert_eq!(Option::<i32>::from_bytes(&[1, 0, 0, 0, 5]), Some(Some(5)));
        assert_eq!(Option::<i32>::from_bytes(&[0xff, 0, 0, 0, 5]), None);
        assert_eq!(true.to_bytes(), [0xff]);
    }
}
