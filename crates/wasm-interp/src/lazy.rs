//! Lazy containers mirroring `src/lib_lazy_containers/` and their tree encodings
//! (`docs/reference/wasm-ticks.md` §2.1): a structure decoded from the tree keeps that subtree as
//! its `origin` and only the bindings it loaded (read or written) in memory; encoding
//! (`lazy_mapping`) re-attaches the origin at the target prefix (or removes the prefix when there
//! is none), then, per loaded binding in key order, removes `prefix/k` and writes the value
//! (a removed binding stays removed).
//!
//! Faithful to the sources where the research notes differ: `Lazy_vector.drop`/`pop` *remove*
//! the first binding (`Lazy_map.remove`), so a dropped slot disappears from the tree; it is the
//! decoder's `LazyStack` (which only moves its `length`) whose popped slots stay.

use std::collections::BTreeMap;

use crate::codec::Tree;

use crate::codec::{self, Codec, Error, Result, join, show};

/// The loaded bindings and origin of a lazy map (`Lazy_map.t`), keys rendered with `K`.
#[derive(Clone, Debug)]
struct Mapping<K: Ord + Copy + ToString, V> {
    origin: Option<Tree>,
    values: BTreeMap<K, Option<V>>,
}

impl<K: Ord + Copy + ToString, V: Codec> Mapping<K, V> {
    fn new() -> Self {
        Mapping {
            origin: None,
            values: BTreeMap::new(),
        }
    }

    /// `D.lazy_mapping`: the origin is the subtree at the prefix.
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Mapping {
            origin: Some(codec::subtree(t, p)?.unwrap_or_default()),
            values: BTreeMap::new(),
        })
    }

    /// `Lazy_map.get`: a loaded binding, else produced from the origin and recorded.
    fn get(&mut self, k: K) -> Result<V> {
        match self.values.get(&k) {
            Some(Some(v)) => return Ok(v.clone()),
            Some(None) => return Err(Error::UnexpectedAccess(k.to_string())),
            None => {}
        }
        let v = self.produce(k)?;
        self.values.insert(k, Some(v.clone()));
        Ok(v)
    }

    fn produce(&self, k: K) -> Result<V> {
        let Some(origin) = &self.origin else {
            return Err(Error::UnexpectedAccess(k.to_string()));
        };
        let key = k.to_string();
        if codec::subtree(origin, std::slice::from_ref(&key))?.is_none() {
            return Err(Error::UnexpectedAccess(key));
        }
        V::decode(origin, &[key])
    }

    fn set(&mut self, k: K, v: V) {
        self.values.insert(k, Some(v));
    }

    fn remove(&mut self, k: K) {
        self.values.insert(k, None);
    }

    /// `E.lazy_mapping`.
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match &self.origin {
            Some(o) => codec::attach(t, p, o.clone())?,
            None => codec::remove(t, p)?,
        }
        for (k, v) in &self.values {
            let kp = join(p, &[&k.to_string()]);
            codec::remove(t, &kp)?;
            if let Some(v) = v {
                v.encode(t, &kp)?;
            }
        }
        Ok(())
    }
}

/// `Lazy_vector.Int32Vector.t` with `Int32Vector.encoding (value [] int32)`:
/// `contents/<first + i>`, `length`, `head` (int32 BE; keys signed decimal, `cons` makes them
/// negative).
#[derive(Clone, Debug)]
pub struct LazyVec<V: Codec> {
    first: i32,
    len: i32,
    map: Mapping<i32, V>,
}

impl<V: Codec> LazyVec<V> {
    /// `create n`: `n` slots, no origin, nothing loaded.
    pub fn create(n: i32) -> Self {
        LazyVec {
            first: 0,
            len: n,
            map: Mapping::new(),
        }
    }

    /// `empty ()`.
    pub fn empty() -> Self {
        Self::create(0)
    }

    /// `singleton v`.
    pub fn singleton(v: V) -> Self {
        let mut s = Self::create(1);
        s.map.set(0, v);
        s
    }

    /// `of_list vs`.
    pub fn of_list(vs: Vec<V>) -> Result<Self> {
        let mut s = Self::empty();
        for v in vs {
            s.append(v)?;
        }
        Ok(s)
    }

    /// `num_elements`.
    pub fn num_elements(&self) -> i32 {
        self.len
    }

    /// `first_key`.
    pub fn first_key(&self) -> i32 {
        self.first
    }

    /// The subtree the vector was decoded from (`origin`, at `contents`).
    pub fn origin(&self) -> Option<&Tree> {
        self.map.origin.as_ref()
    }

    /// Keys of the loaded bindings (`loaded_bindings`).
    pub fn loaded_keys(&self) -> Vec<i32> {
        self.map.values.keys().copied().collect()
    }

    fn key(&self, i: i32) -> Result<i32> {
        // `invalid_key`: unsigned comparison with `num_elements`.
        if (i as u32) >= (self.len as u32) {
            return Err(Error::Bounds(i64::from(i), i64::from(self.len)));
        }
        Ok(self.first.wrapping_add(i))
    }

    /// `get i` (loads the binding from the origin).
    pub fn get(&mut self, i: i32) -> Result<V> {
        let k = self.key(i)?;
        self.map.get(k)
    }

    /// `set i v`.
    pub fn set(&mut self, i: i32, v: V) -> Result<()> {
        let k = self.key(i)?;
        self.map.set(k, v);
        Ok(())
    }

    /// `append v`: returns the index of the new element.
    pub fn append(&mut self, v: V) -> Result<i32> {
        let i = self.grow_one()?;
        self.set(i, v)?;
        Ok(i)
    }

    fn grow_one(&mut self) -> Result<i32> {
        // `overflow`: unsigned wrap of num_elements + 1.
        if self.len as u32 == u32::MAX {
            return Err(Error::Overflow("lazy vector length"));
        }
        let i = self.len;
        self.len = self.len.wrapping_add(1);
        Ok(i)
    }

    /// `grow ?default delta`: `delta` new slots, set only with a default.
    pub fn grow(&mut self, delta: i32, default: Option<&dyn Fn() -> V>) -> Result<()> {
        for _ in 0..delta.max(0) {
            let i = self.grow_one()?;
            if let Some(f) = default {
                self.set(i, f())?;
            }
        }
        Ok(())
    }

    /// `cons v`: writes at `first - 1`.
    pub fn cons(&mut self, v: V) -> Result<()> {
        if self.len as u32 == u32::MAX {
            return Err(Error::Overflow("lazy vector length"));
        }
        self.first = self.first.wrapping_sub(1);
        self.map.set(self.first, v);
        self.len = self.len.wrapping_add(1);
        Ok(())
    }

    /// `drop`: removes the first binding.
    pub fn drop_first(&mut self) -> Result<()> {
        if self.len == 0 {
            return Err(Error::Bounds(0, 0));
        }
        self.map.remove(self.first);
        self.first = self.first.wrapping_add(1);
        self.len = self.len.wrapping_sub(1);
        Ok(())
    }

    /// `pop`: the first element, then `drop`.
    pub fn pop(&mut self) -> Result<V> {
        let v = self.get(0)?;
        self.drop_first()?;
        Ok(v)
    }

    /// `split vec at`: two vectors sharing the origin and the loaded bindings (`Map.dup`);
    /// the first keeps `first`, the second starts at `first + at`.
    pub fn split(&self, at: i32) -> Result<(Self, Self)> {
        if (self.len as u32) < (at as u32) {
            return Err(Error::Bounds(i64::from(at), i64::from(self.len)));
        }
        let lhs = LazyVec {
            first: self.first,
            len: at,
            map: self.map.clone(),
        };
        let rhs = LazyVec {
            first: self.first.wrapping_add(at),
            len: self.len.wrapping_sub(at),
            map: self.map.clone(),
        };
        Ok((lhs, rhs))
    }

    /// `prepend_list es v`: `cons` of the elements from the last to the first.
    pub fn prepend_list(&mut self, es: Vec<V>) -> Result<()> {
        for e in es.into_iter().rev() {
            self.cons(e)?;
        }
        Ok(())
    }

    /// `to_list` (loads every element).
    pub fn to_list(&mut self) -> Result<Vec<V>> {
        (0..self.len).map(|i| self.get(i)).collect()
    }

    /// `concat lhs rhs`: a fresh vector (no origin) of both lists.
    pub fn concat(lhs: &mut Self, rhs: &mut Self) -> Result<Self> {
        if (lhs.len as u32).checked_add(rhs.len as u32).is_none() {
            return Err(Error::Overflow("lazy vector concat"));
        }
        let mut all = lhs.to_list()?;
        all.extend(rhs.to_list()?);
        Self::of_list(all)
    }
}

impl<V: Codec> Codec for LazyVec<V> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.map.encode(t, &join(p, &["contents"]))?;
        self.len.encode(t, &join(p, &["length"]))?;
        self.first.encode(t, &join(p, &["head"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(LazyVec {
            map: Mapping::decode(t, &join(p, &["contents"]))?,
            len: i32::decode(t, &join(p, &["length"]))?,
            first: i32::decode(t, &join(p, &["head"]))?,
        })
    }
}

/// `Lazy_map` with string keys (`Lazy_map_encoding`: `<key>/…` per binding).
#[derive(Clone, Debug)]
pub struct LazyMap<V: Codec> {
    map: BTreeMap<String, Option<V>>,
    origin: Option<Tree>,
}

impl<V: Codec> Default for LazyMap<V> {
    fn default() -> Self {
        LazyMap {
            map: BTreeMap::new(),
            origin: None,
        }
    }
}

impl<V: Codec> LazyMap<V> {
    /// `get k`.
    pub fn get(&mut self, k: &str) -> Result<V> {
        match self.map.get(k) {
            Some(Some(v)) => return Ok(v.clone()),
            Some(None) => return Err(Error::UnexpectedAccess(k.to_owned())),
            None => {}
        }
        let origin = self
            .origin
            .as_ref()
            .ok_or_else(|| Error::UnexpectedAccess(k.to_owned()))?;
        if codec::subtree(origin, &[k.to_owned()])?.is_none() {
            return Err(Error::UnexpectedAccess(k.to_owned()));
        }
        let v = V::decode(origin, &[k.to_owned()])?;
        self.map.insert(k.to_owned(), Some(v.clone()));
        Ok(v)
    }
    /// `set k v`.
    pub fn set(&mut self, k: &str, v: V) {
        self.map.insert(k.to_owned(), Some(v));
    }
    /// `remove k`.
    pub fn remove(&mut self, k: &str) {
        self.map.insert(k.to_owned(), None);
    }
}

impl<V: Codec> Codec for LazyMap<V> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match &self.origin {
            Some(o) => codec::attach(t, p, o.clone())?,
            None => codec::remove(t, p)?,
        }
        for (k, v) in &self.map {
            let kp = join(p, &[k]);
            codec::remove(t, &kp)?;
            if let Some(v) = v {
                v.encode(t, &kp)?;
            }
        }
        Ok(())
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(LazyMap {
            map: BTreeMap::new(),
            origin: Some(codec::subtree(t, p)?.unwrap_or_default()),
        })
    }
}

/// Chunk size of chunked byte vectors (`Chunk.size`).
pub const CHUNK: usize = 512;

/// A 512-byte chunk (`Chunk.encoding = conv of_bytes to_bytes (raw [])`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk(pub Vec<u8>);

impl Codec for Chunk {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        codec::write(t, p, self.0.clone())
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        // `Chunk.of_bytes`: at most 512 bytes, zero-padded.
        let mut b = codec::need(t, p, "missing chunk")?;
        b.resize(CHUNK, 0);
        Ok(Chunk(b))
    }
}

/// `Chunked_byte_vector.t` with `CBV_encoding`: `contents/<i>` 512-byte chunks (decimal `i`),
/// `length` int64 BE. Reading a chunk that was never written gives zeros without loading it.
#[derive(Clone, Debug)]
pub struct Cbv {
    length: i64,
    chunks: Mapping<i64, Chunk>,
}

impl Cbv {
    /// `create len` (no chunk, no origin).
    pub fn create(length: i64) -> Self {
        Cbv {
            length,
            chunks: Mapping::new(),
        }
    }

    /// `allocate len` (= `grow (create 0) len`: slots without bindings).
    pub fn allocate(length: i64) -> Self {
        Self::create(length.max(0))
    }

    /// `length`.
    pub fn length(&self) -> i64 {
        self.length
    }

    fn num_chunks(&self) -> i64 {
        // `Chunk.num_needed`: ceil(length / 512) for a non-negative length.
        let full = self.length.div_euclid(CHUNK as i64);
        full.saturating_add(i64::from(self.length.rem_euclid(CHUNK as i64) != 0))
    }

    /// `get_chunk`: loaded, or produced from the origin (then recorded), or zeros.
    fn chunk(&mut self, index: i64) -> Result<Vec<u8>> {
        if index < 0 || index >= self.num_chunks() {
            return Err(Error::Bounds(index, self.num_chunks()));
        }
        match self.chunks.get(index) {
            Ok(c) => Ok(c.0),
            Err(Error::UnexpectedAccess(_)) => Ok(vec![0; CHUNK]),
            Err(e) => Err(e),
        }
    }

    /// `load_byte`.
    pub fn load_byte(&mut self, addr: i64) -> Result<u8> {
        if addr < 0 || addr >= self.length {
            return Err(Error::Bounds(addr, self.length));
        }
        let c = self.chunk(addr.div_euclid(CHUNK as i64))?;
        Ok(c[addr.rem_euclid(CHUNK as i64) as usize])
    }

    /// `store_byte`.
    pub fn store_byte(&mut self, addr: i64, byte: u8) -> Result<()> {
        if addr < 0 || addr >= self.length {
            return Err(Error::Bounds(addr, self.length));
        }
        let index = addr.div_euclid(CHUNK as i64);
        let mut c = self.chunk(index)?;
        c[addr.rem_euclid(CHUNK as i64) as usize] = byte;
        self.chunks.set(index, Chunk(c));
        Ok(())
    }

    /// `grow v n`: `n` more zero bytes (no chunk is created).
    pub fn grow(&mut self, n: i64) -> Result<()> {
        self.length = self
            .length
            .checked_add(n.max(0))
            .ok_or(Error::Overflow("chunked byte vector length"))?;
        Ok(())
    }

    /// `of_bytes`: every chunk loaded.
    pub fn of_bytes(b: &[u8]) -> Self {
        let mut v = Self::create(b.len() as i64);
        for (i, c) in b.chunks(CHUNK).enumerate() {
            let mut c = c.to_vec();
            c.resize(CHUNK, 0);
            v.chunks.set(i as i64, Chunk(c));
        }
        v
    }
}

impl Codec for Cbv {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.chunks.encode(t, &join(p, &["contents"]))?;
        self.length.encode(t, &join(p, &["length"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let length = i64::decode(t, &join(p, &["length"]))?;
        if length < 0 {
            return Err(Error::Malformed(show(p), "negative length"));
        }
        Ok(Cbv {
            length,
            chunks: Mapping::decode(t, &join(p, &["contents"]))?,
        })
    }
}
