//! Host functions called by the small-step interpreter (`Inv_start` of a `HostFunc`,
//! `docs/reference/wasm-ticks.md` §1.5): they run in that one tick on the durable storage and
//! the input buffer of the state tree and on memory 0 (a chunked byte vector), and return
//! their results and their tick cost (`host_funcs.ml` `*_ticks`, `docs/reference/wasm-pvm.md`
//! §1.4–1.5: 42 per byte read or written, 1 per tree access, 0 when the result is an error).
//!
//! Every function works on a [`Tree`], plain (execution) or partial (a one-tick proof's
//! [`durable_tree::proof::partial::StepTree`], which records what is read), so that a proof
//! replays exactly the tick (issue 13):
//! `read_input` works on the tree's input buffer (`value/pvm/buffers/input`, a `ZVector`: the
//! dequeued binding is removed, `length` − 1, `head` + 1, as `Lazy_vector.pop` re-encodes);
//! the `store_*` functions are [`wasm_pvm::store`]'s (the argument checks, error codes and
//! results written once for the fast path and this one) over the tree's `durable` subtree
//! (`Store`, a [`DurableBackend`] doing the operations of `durable.ml` in Octez's order;
//! the differential tests of `crates/pvm-tick/tests/it/differential.rs` compare the two
//! backends); this module adds their tick costs; `write_output` appends to the
//! tree's current outbox. The reveal functions are the interpreter's reveal ticks
//! ([`crate::exec`]); the `nds_*` functions are not here yet ([`crate::Error::Unsupported`]).

use crate::codec::Tree;
use context_hash::data_encoding::{read_z, write_z};
use durable_tree::durable::{Key, VALUE_MARKER};
use wasm_pvm::code::{GENERIC_INVALID_ACCESS, MEMORY_INVALID_ACCESS};
use wasm_pvm::store::{self, DurableBackend, KeyCache, Step, ValueSlot};
use wasm_pvm::{GuestMemory, OutOfBounds, PvmVersion};

use crate::codec::{self, Error, Result};
use crate::exec::Host;
use crate::instance::{MemoryInst, Value};
use crate::lazy::CHUNK;

/// Memory 0 seen by `wasm_pvm`'s host functions.
struct Mem<'a>(&'a mut MemoryInst);

impl GuestMemory for Mem<'_> {
    fn size(&self) -> u64 {
        self.0.chunks.length() as u64
    }
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::result::Result<(), OutOfBounds> {
        let end = addr.checked_add(buf.len() as u64).ok_or(OutOfBounds)?;
        if end > self.size() {
            return Err(OutOfBounds);
        }
        // `load_byte` needs `&mut` (it records loaded chunks); reading a clone gives the
        // same bytes, and a read never changes the tree.
        let mut c = self.0.chunks.clone();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = c
                .load_byte(addr.saturating_add(i as u64) as i64)
                .map_err(|_| OutOfBounds)?;
        }
        Ok(())
    }
    fn write(&mut self, addr: u64, data: &[u8]) -> std::result::Result<(), OutOfBounds> {
        let end = addr.checked_add(data.len() as u64).ok_or(OutOfBounds)?;
        if end > self.size() {
            return Err(OutOfBounds);
        }
        for (i, b) in data.iter().enumerate() {
            self.0
                .chunks
                .store_byte(addr.saturating_add(i as u64) as i64, *b)
                .map_err(|_| OutOfBounds)?;
        }
        Ok(())
    }
}

/// The host functions of one tick, on a working copy of the state tree (whose `durable` and
/// `value/pvm/buffers` subtrees the tick then keeps).
pub struct TreeHost {
    /// The working tree.
    pub root: Tree,
    /// PVM version.
    pub version: PvmVersion,
    /// The `write_debug` messages of the tick, when they are wanted (they never change the
    /// state: Octez's `write_debug` is a no-op for the PVM).
    pub debug: Option<Vec<Vec<u8>>>,
}

fn p(steps: &[&str]) -> Vec<String> {
    steps.iter().map(|s| (*s).to_owned()).collect()
}

fn z(v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    write_z(&mut out, false, v);
    out
}

fn get_z(t: &Tree, path: &[String]) -> Result<u128> {
    let b = codec::need(t, path, "missing z")?;
    match read_z(&b) {
        Ok((false, v, n)) if n == b.len() => Ok(v),
        _ => Err(Error::Malformed(codec::show(path), "bad z")),
    }
}

fn i32_arg(args: &[Value], i: usize) -> Result<i32> {
    match args.get(i) {
        Some(Value::I32(x)) => Ok(*x),
        _ => Err(Error::Exception("Bad_input".into())),
    }
}

fn i64_arg(args: &[Value], i: usize) -> Result<i64> {
    match args.get(i) {
        Some(Value::I64(x)) => Ok(*x),
        _ => Err(Error::Exception("Bad_input".into())),
    }
}

/// `with_error result (fun () -> ticks)`.
fn cost(result: i32, ticks: i64) -> u128 {
    if result < 0 { 0 } else { ticks.max(0) as u128 }
}

fn per_byte(n: i32) -> i64 {
    i64::from(n).saturating_mul(42)
}

impl TreeHost {
    /// `check_address`: `address + length < size` (strict).
    fn check(mem: &MemoryInst, addr: i32, len: i32) -> bool {
        len >= 0 && i64::from(addr as u32).saturating_add(i64::from(len)) < mem.chunks.length()
    }

    /// `Aux.read_input`.
    fn read_input(&mut self, mem: &mut MemoryInst, info: i32, dst: i32, max: i32) -> Result<i32> {
        if !Self::check(mem, info, 8) {
            return Ok(wasm_pvm::code::MEMORY_INVALID_ACCESS);
        }
        let max = max.min(wasm_pvm::INPUT_OUTPUT_MAX_SIZE);
        if !Self::check(mem, dst, max) {
            return Ok(wasm_pvm::code::MEMORY_INVALID_ACCESS);
        }
        let base = p(&["value", "pvm", "buffers", "input"]);
        let len = get_z(&self.root, &codec::join(&base, &["length"]))?;
        if len == 0 {
            return Ok(0);
        }
        let head = get_z(&self.root, &codec::join(&base, &["head"]))?;
        let entry = codec::join(&base, &["contents", &head.to_string()]);
        let level = i32::from_be_bytes(
            codec::need(
                &self.root,
                &codec::join(&entry, &["raw-level"]),
                "raw-level",
            )?
            .try_into()
            .map_err(|_| Error::Malformed(codec::show(&entry), "raw-level"))?,
        );
        let counter = get_z(&self.root, &codec::join(&entry, &["message-counter"]))?;
        let plen = codec::need(&self.root, &codec::join(&entry, &["length"]), "length")?;
        let plen = i64::from_be_bytes(
            plen.try_into()
                .map_err(|_| Error::Malformed(codec::show(&entry), "payload length"))?,
        );
        let mut payload = Vec::new();
        let nchunks = plen
            .saturating_add(CHUNK as i64)
            .saturating_sub(1)
            .div_euclid(CHUNK as i64);
        for i in 0..nchunks {
            let c = codec::read(
                &self.root,
                &codec::join(&entry, &["contents", &i.to_string()]),
            )?;
            let mut c = c.unwrap_or_default();
            c.resize(CHUNK, 0);
            payload.extend(c);
        }
        payload.truncate(usize::try_from(plen).unwrap_or(0));
        // `Vector.pop`: the binding is removed, `head` + 1, `length` − 1.
        codec::remove(&mut self.root, &entry)?;
        codec::write(
            &mut self.root,
            &codec::join(&base, &["length"]),
            z(len.saturating_sub(1)),
        )?;
        codec::write(
            &mut self.root,
            &codec::join(&base, &["head"]),
            z(head.saturating_add(1)),
        )?;
        let n = payload.len().min(max as usize);
        let mut m = Mem(mem);
        let counter = i32::try_from(counter)
            .map_err(|_| Error::Exception("Z.to_int32 message counter".into()))?;
        let mut info_b = level.to_le_bytes().to_vec();
        info_b.extend(counter.to_le_bytes());
        if m.write(u64::from(dst as u32), &payload[..n]).is_err()
            || m.write(u64::from(info as u32), &info_b).is_err()
        {
            return Ok(wasm_pvm::code::GENERIC_INVALID_ACCESS);
        }
        Ok(n as i32)
    }

    /// `Aux.write_output`: append the bytes to the outbox of `last_level`
    /// (`value/pvm/buffers/output/1/outboxes/<level>/{contents/<i>, length, head}`, a
    /// `ZVector` of `Data_encoding.bytes`).
    fn write_output(&mut self, mem: &mut MemoryInst, src: i32, n: i32) -> Result<i32> {
        use wasm_pvm::code::{
            FULL_OUTBOX, GENERIC_INVALID_ACCESS, INPUT_OUTPUT_TOO_LARGE, MEMORY_INVALID_ACCESS,
        };
        if n > wasm_pvm::INPUT_OUTPUT_MAX_SIZE {
            return Ok(INPUT_OUTPUT_TOO_LARGE);
        }
        let Ok(len) = usize::try_from(n) else {
            // `Bytes.create` of a negative size: `Invalid_argument`, a generic error.
            return Ok(GENERIC_INVALID_ACCESS);
        };
        let mut payload = vec![0; len];
        if Mem(mem).read(u64::from(src as u32), &mut payload).is_err() {
            return Ok(MEMORY_INVALID_ACCESS);
        }
        let base = p(&["value", "pvm", "buffers", "output"]);
        let Some(level) = codec::read(&self.root, &codec::join(&base, &["2", "last_level"]))?
        else {
            return Ok(GENERIC_INVALID_ACCESS);
        };
        let level = i32::from_be_bytes(
            level
                .try_into()
                .map_err(|_| Error::Malformed(codec::show(&base), "last_level"))?,
        );
        let limit = get_z(&self.root, &codec::join(&base, &["4", "message_limit"]))?;
        let ob = codec::join(&base, &["1", "outboxes", &level.to_string()]);
        if codec::subtree(&self.root, &ob)?.is_none() {
            return Ok(GENERIC_INVALID_ACCESS);
        }
        let count = get_z(&self.root, &codec::join(&ob, &["length"]))?;
        let head = get_z(&self.root, &codec::join(&ob, &["head"]))?;
        if count >= limit {
            return Ok(FULL_OUTBOX);
        }
        let key = head.saturating_add(count).to_string();
        let mut blob = (payload.len() as u32).to_be_bytes().to_vec();
        blob.extend(payload);
        codec::write(&mut self.root, &codec::join(&ob, &["contents", &key]), blob)?;
        codec::write(
            &mut self.root,
            &codec::join(&ob, &["length"]),
            z(count.saturating_add(1)),
        )?;
        Ok(0)
    }
}

/// A host function's outcome for the kernel: a value, or an error code (`Error.code`).
type Code<T> = std::result::Result<T, i32>;

/// `M.load_bytes`: a negative length is an OCaml `Invalid_argument` (-8), a range out of
/// memory -6; an empty range never fails.
fn load_mem(mem: &mut MemoryInst, addr: i32, len: i32) -> Code<Vec<u8>> {
    let n = usize::try_from(len).map_err(|_| GENERIC_INVALID_ACCESS)?;
    let mut buf = vec![0u8; n];
    if n > 0 {
        Mem(mem)
            .read(u64::from(addr as u32), &mut buf)
            .map_err(|_| MEMORY_INVALID_ACCESS)?;
    }
    Ok(buf)
}

/// `durable/<steps of key>`.
fn key_path(k: &Key) -> Vec<&str> {
    let mut p = vec!["durable"];
    p.extend(k.steps());
    p
}

/// The part of chunk `chunk` that a range of a value covers: `in_chunk` in the chunk,
/// `in_data` in the range.
struct Piece {
    chunk: u64,
    in_chunk: std::ops::Range<usize>,
    in_data: std::ops::Range<usize>,
}

/// The chunks `n` bytes at `offset` cover, in order (`Chunked_byte_vector`'s chunk split).
fn pieces(offset: u64, n: u64) -> Result<Vec<Piece>> {
    const SIZE: u64 = CHUNK as u64;
    let over = || Error::Overflow("durable value range");
    let end = offset.checked_add(n).ok_or_else(over)?;
    let mut out = Vec::new();
    let mut pos = offset;
    while pos < end {
        let chunk = pos.checked_div(SIZE).ok_or_else(over)?;
        let lo = pos.checked_rem(SIZE).ok_or_else(over)?;
        let take = SIZE
            .checked_sub(lo)
            .ok_or_else(over)?
            .min(end.checked_sub(pos).ok_or_else(over)?);
        let lo = usize::try_from(lo).map_err(|_| over())?;
        let from =
            usize::try_from(pos.checked_sub(offset).ok_or_else(over)?).map_err(|_| over())?;
        let t = usize::try_from(take).map_err(|_| over())?;
        out.push(Piece {
            chunk,
            in_chunk: lo..lo.checked_add(t).ok_or_else(over)?,
            in_data: from..from.checked_add(t).ok_or_else(over)?,
        });
        pos = pos.checked_add(take).ok_or_else(over)?;
    }
    Ok(out)
}

/// The durable storage (`durable.ml` over `Tezos_tree_encoding.Wrapped`,
/// `docs/reference/wasm-pvm.md` §2) as the `durable` subtree of the state tree, plain or
/// partial: the same tree operations, in Octez's order, on both, so that a one-tick proof
/// holds what Octez's does (a value is found with `find_tree key/@`, decoded as a chunked
/// byte vector whose `contents` stays a lazy map over its origin, and re-encoded by putting
/// that origin back, then the chunks it loaded, then `length`).
struct Store<'a>(&'a mut Tree);

/// A value found (`find_value`): its `@` subtree and its length.
struct Found {
    at: Tree,
    len: u64,
}

impl Found {
    /// Chunk `i` (`get_chunk`: an absent chunk reads as zeros).
    fn chunk(&self, i: u64) -> Result<Vec<u8>> {
        let name = i.to_string();
        let mut c = codec::read_steps(&self.at, &["contents", &name])?.unwrap_or_default();
        c.resize(CHUNK, 0);
        Ok(c)
    }

    /// `load_bytes offset n` (`offset + n <= len`).
    fn read(&self, offset: u64, n: u64) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for piece in pieces(offset, n)? {
            let c = self.chunk(piece.chunk)?;
            out.extend_from_slice(c.get(piece.in_chunk.clone()).unwrap_or_default());
        }
        Ok(out)
    }
}

impl Store<'_> {
    /// `copy_tree_exn` / `move_tree_exn` (keys checked by the caller): `find_tree from`,
    /// then (move) `remove from`, then `add_tree to`; `false` when there is no tree at `from`.
    fn copy_or_move(&mut self, from: &Key, to: &Key, is_move: bool) -> Result<bool> {
        let Some(sub) = codec::subtree_steps(self.0, &key_path(from))? else {
            return Ok(false);
        };
        if is_move {
            codec::remove_steps(self.0, &key_path(from))?;
        }
        codec::attach_steps(self.0, &key_path(to), sub)?;
        Ok(true)
    }

    /// `find_value`: `find_tree key/@`, then the chunked byte vector's `length` (and the
    /// origin of its `contents`).
    fn find_value(&self, k: &Key) -> Result<Option<Found>> {
        let mut p = key_path(k);
        p.push(VALUE_MARKER);
        let Some(at) = codec::subtree_steps(self.0, &p)? else {
            return Ok(None);
        };
        let len = codec::read_steps(&at, &["length"])?
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .ok_or_else(|| Error::Malformed(k.to_string(), "durable value without length"))?;
        codec::kind_steps(&at, &["contents"])?;
        Ok(Some(Found {
            at,
            len: u64::from_be_bytes(len),
        }))
    }

    /// `exists`: `find_tree key`.
    fn exists(&self, k: &Key) -> Result<bool> {
        Ok(codec::kind_steps(self.0, &key_path(k))?.is_some())
    }

    /// `count_subtrees` (Irmin `Tree.length`).
    fn count_subtrees(&self, k: &Key) -> Result<u64> {
        codec::length_steps(self.0, &key_path(k))
    }

    /// `create_value_exn`: nothing when `key/@` exists; else a fresh vector of `size` bytes
    /// (no origin: `contents` removed, no chunk) and its `length`.
    fn create_value(&mut self, k: &Key, size: u64) -> Result<bool> {
        let mut p = key_path(k);
        p.push(VALUE_MARKER);
        if codec::kind_steps(self.0, &p)?.is_some() {
            return Ok(false);
        }
        p.push("contents");
        codec::remove_steps(self.0, &p)?;
        p.pop();
        p.push("length");
        codec::write_steps(self.0, &p, size.to_be_bytes().to_vec())?;
        Ok(true)
    }

    /// `write_value_exn key offset bytes` (`offset <= length` checked by the caller): the
    /// value decoded (or `allocate 0`), grown, the touched chunks loaded and changed, then
    /// encoded back.
    fn write_value(&mut self, k: &Key, offset: u64, data: &[u8]) -> Result<()> {
        let mut p = key_path(k);
        p.push(VALUE_MARKER);
        let found = self.find_value(k)?;
        let len = found.as_ref().map_or(0, |v| v.len);
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(Error::Overflow("durable write"))?;
        let mut chunks = Vec::new();
        for piece in pieces(offset, data.len() as u64)? {
            let mut c = match &found {
                Some(v) => v.chunk(piece.chunk)?,
                None => vec![0; CHUNK],
            };
            let (Some(dst), Some(src)) = (c.get_mut(piece.in_chunk), data.get(piece.in_data))
            else {
                return Err(Error::Overflow("durable write"));
            };
            dst.copy_from_slice(src);
            chunks.push((piece.chunk, c));
        }
        // `lazy_mapping` encode: the origin back (or removed), then the loaded chunks.
        p.push("contents");
        match found
            .as_ref()
            .map(|v| codec::subtree_steps(&v.at, &["contents"]))
            .transpose()?
            .flatten()
        {
            Some(origin) => codec::attach_steps(self.0, &p, origin)?,
            None => codec::remove_steps(self.0, &p)?,
        }
        for (i, c) in chunks {
            let name = i.to_string();
            let mut q = p.clone();
            q.push(&name);
            codec::write_steps(self.0, &q, c)?;
        }
        p.pop();
        p.push("length");
        codec::write_steps(self.0, &p, len.max(end).to_be_bytes().to_vec())?;
        Ok(())
    }
}

/// The tree's value slot: the key, the value once found (`find_value`), and `store_write`'s
/// source bytes once loaded.
struct TreeValue<'a> {
    store: Store<'a>,
    key: Key,
    found: Option<Found>,
    staged: Option<Vec<u8>>,
}

impl DurableBackend for Store<'_> {
    type Fatal = Error;
    type Value<'s>
        = TreeValue<'s>
    where
        Self: 's;

    fn value<'s, M: GuestMemory + ?Sized>(
        &'s mut self,
        mem: &M,
        addr: i32,
        len: i32,
    ) -> Step<TreeValue<'s>, Error> {
        Ok(TreeValue {
            key: store::load_key(mem, addr, len)?,
            store: Store(&mut *self.0),
            found: None,
            staged: None,
        })
    }

    /// `find_value`, then `count_subtrees`.
    fn has(&mut self, k: &Key) -> Result<(bool, u64)> {
        let value = self.find_value(k)?.is_some();
        Ok((value, self.count_subtrees(k)?))
    }

    fn exists(&mut self, k: &Key) -> Result<bool> {
        Store::exists(self, k)
    }

    fn list_size(&mut self, k: &Key) -> Result<u64> {
        self.count_subtrees(k)
    }

    /// `subtree_name_at`: the names listed, then the index.
    fn nth_key(&mut self, k: &Key, index: i64) -> Result<Option<String>> {
        let names = codec::children_steps(self.0, &key_path(k))?;
        Ok(usize::try_from(index)
            .ok()
            .and_then(|i| names.get(i))
            .map(|n| {
                if n == VALUE_MARKER {
                    String::new()
                } else {
                    n.clone()
                }
            }))
    }

    fn delete(&mut self, k: &Key) -> Result<()> {
        codec::remove_steps(self.0, &key_path(k))
    }

    fn copy(&mut self, from: &Key, to: &Key) -> Result<bool> {
        self.copy_or_move(from, to, false)
    }

    fn move_tree(&mut self, from: &Key, to: &Key) -> Result<bool> {
        self.copy_or_move(from, to, true)
    }

    fn subtree_hash(&mut self, k: &Key) -> Result<Option<context_hash::Hash>> {
        codec::hash_steps(self.0, &key_path(k))
    }
}

impl ValueSlot for TreeValue<'_> {
    type Fatal = Error;

    fn key(&self) -> &Key {
        &self.key
    }

    fn size(&mut self) -> Result<Option<u64>> {
        self.found = self.store.find_value(&self.key)?;
        Ok(self.found.as_ref().map(|v| v.len))
    }

    /// Every chunk read first, then the bytes given to `sink` at once (`load_bytes`, then
    /// `M.store_bytes`).
    fn read(
        &mut self,
        offset: u64,
        n: u64,
        mut sink: impl FnMut(usize, &[u8]) -> bool,
    ) -> Result<bool> {
        let bytes = match &self.found {
            Some(v) => v.read(offset, n)?,
            None => match self.store.find_value(&self.key)? {
                Some(v) => v.read(offset, n)?,
                None => return Err(Error::Malformed(self.key.to_string(), "no value to read")),
            },
        };
        Ok(bytes.is_empty() || sink(0, &bytes))
    }

    /// The source bytes loaded where Octez's `store_write` loads them (memory reads are
    /// recorded in a proof).
    fn stage_source(&mut self, n: usize, read_source: impl FnOnce(&mut [u8]) -> bool) -> bool {
        let mut data = vec![0; n];
        let ok = read_source(&mut data);
        self.staged = Some(data);
        ok
    }

    /// `write_value_exn` of the staged bytes (else of those `fill` gives).
    fn write(
        &mut self,
        offset: u64,
        n: u64,
        mut fill: impl FnMut(usize, &mut [u8]) -> bool,
    ) -> Result<bool> {
        let data = match self.staged.take() {
            Some(data) => data,
            None => {
                let n = usize::try_from(n).map_err(|_| Error::Overflow("durable write"))?;
                let mut data = vec![0; n];
                if n > 0 && !fill(0, &mut data) {
                    return Ok(false);
                }
                data
            }
        };
        self.store.write_value(&self.key, offset, &data)?;
        Ok(true)
    }

    fn create(&mut self, size: u64) -> Result<bool> {
        self.store.create_value(&self.key, size)
    }

    fn delete(&mut self) -> Result<()> {
        let mut p = key_path(&self.key);
        p.push(VALUE_MARKER);
        codec::remove_steps(self.store.0, &p)
    }
}

impl Host for TreeHost {
    fn call(
        &mut self,
        name: &[u8],
        args: &[Value],
        memory: Option<&mut MemoryInst>,
    ) -> Result<(Vec<Value>, u128)> {
        let Some(mem) = memory else {
            // `retrieve_memory` on `No_memories_during_init`.
            return Err(Error::Exception("No_memories_during_init".into()));
        };
        let a = |i| i32_arg(args, i);
        let one = |r: i32, t: u128| Ok((vec![Value::I32(r)], t));
        // The `durable` storage functions: `wasm_pvm::store` over this tree.
        let mut d = Store(&mut self.root);
        match name {
            b"tezos_read_input" => {
                let r = self.read_input(mem, a(0)?, a(1)?, a(2)?)?;
                one(r, cost(r, per_byte(r)))
            }
            b"tezos_write_debug" => {
                if let Some(out) = self.debug.as_mut() {
                    // `read_mem_for_debug`: the bytes, or the error code as a message.
                    out.push(match load_mem(mem, a(0)?, a(1)?) {
                        Ok(bytes) => bytes,
                        Err(code) => format!("Error code: {code}").into_bytes(),
                    });
                }
                Ok((vec![], 0))
            }
            b"tezos_write_output" => {
                // `write_output_ticks` is computed from the result code: 0 on success.
                let r = self.write_output(mem, a(0)?, a(1)?)?;
                one(r, cost(r, per_byte(r)))
            }
            b"tezos_write_read" => {
                // store_write(key, len, offset, src, num_bytes)
                let (k, kl, off, src, n) = (a(0)?, a(1)?, a(2)?, a(3)?, a(4)?);
                let r = store::write(&mut d, &mut Mem(mem), (k, kl, off, src, n))?;
                one(
                    r,
                    cost(
                        r,
                        per_byte(kl).saturating_add(1).saturating_add(per_byte(n)),
                    ),
                )
            }
            b"tezos_store_has"
            | b"tezos_store_exists"
            | b"tezos_store_delete"
            | b"tezos_store_delete_value"
            | b"tezos_store_create"
            | b"tezos_store_value_size" => {
                let (k, kl) = (a(0)?, a(1)?);
                let m = &mut Mem(mem);
                let keys = &mut KeyCache::new();
                let r = match name {
                    b"tezos_store_has" => store::has(&mut d, keys, m, k, kl)?,
                    b"tezos_store_exists" => store::exists(&mut d, keys, m, k, kl)?,
                    b"tezos_store_delete" => store::delete(&mut d, keys, m, k, kl)?,
                    b"tezos_store_delete_value" => store::delete_value(&mut d, m, k, kl)?,
                    b"tezos_store_create" => store::create(&mut d, m, k, kl, a(2)?)?,
                    _ => store::value_size(&mut d, m, k, kl)?,
                };
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_store_read" => {
                let (k, kl, off, dst, max) = (a(0)?, a(1)?, a(2)?, a(3)?, a(4)?);
                let r = store::read(&mut d, &mut Mem(mem), (k, kl, off, dst, max))?;
                one(
                    r,
                    cost(
                        r,
                        per_byte(kl).saturating_add(1).saturating_add(per_byte(r)),
                    ),
                )
            }
            b"tezos_store_copy" | b"tezos_store_move" => {
                let (f, fl, t, tl) = (a(0)?, a(1)?, a(2)?, a(3)?);
                let (m, keys) = (&mut Mem(mem), &mut KeyCache::new());
                let r = if name == b"tezos_store_move" {
                    store::move_tree(&mut d, keys, m, (f, fl, t, tl))?
                } else {
                    store::copy(&mut d, keys, m, (f, fl, t, tl))?
                };
                one(
                    r,
                    cost(
                        r,
                        per_byte(fl).saturating_add(per_byte(tl)).saturating_add(1),
                    ),
                )
            }
            b"tezos_store_list_size" => {
                let (k, kl) = (a(0)?, a(1)?);
                let r = store::list_size(&mut d, &mut KeyCache::new(), &mut Mem(mem), k, kl)?;
                let t = if r < 0 {
                    0
                } else {
                    per_byte(kl).saturating_add(1).max(0) as u128
                };
                Ok((vec![Value::I64(r)], t))
            }
            b"tezos_store_get_nth_key_list" => {
                let (k, kl) = (a(0)?, a(1)?);
                let index = i64_arg(args, 2)?;
                let (dst, max) = (a(3)?, a(4)?);
                let (m, keys) = (&mut Mem(mem), &mut KeyCache::new());
                let r = store::get_nth_key(&mut d, keys, m, k, kl, index, dst, max)?;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_internal_store_get_hash" => {
                let (k, kl, dst, max) = (a(0)?, a(1)?, a(2)?, a(3)?);
                let (m, keys) = (&mut Mem(mem), &mut KeyCache::new());
                let r = store::get_hash(&mut d, keys, m, (k, kl, dst, max))?;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            _ => Err(Error::Unsupported(format!(
                "host function {} in the small-step interpreter",
                String::from_utf8_lossy(name)
            ))),
        }
    }
}
