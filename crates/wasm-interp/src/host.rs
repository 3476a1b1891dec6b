//! Host functions called by the small-step interpreter (`Inv_start` of a `HostFunc`,
//! `docs/reference/wasm-ticks.md` §1.5): they run in that one tick on the durable storage and
//! the input buffer of the state tree and on memory 0 (a chunked byte vector), and return
//! their results and their tick cost (`host_funcs.ml` `*_ticks`, `docs/reference/wasm-pvm.md`
//! §1.4–1.5: 42 per byte read or written, 1 per tree access, 0 when the result is an error).
//!
//! Every function is written once over [`Tree`], plain (execution) or partial (a one-tick
//! proof's [`durable_tree::proof::partial::StepTree`], which records what is read), so that a
//! proof replays exactly the tick (issue 13):
//! `read_input` works on the tree's input buffer (`value/pvm/buffers/input`, a `ZVector`: the
//! dequeued binding is removed, `length` − 1, `head` + 1, as `Lazy_vector.pop` re-encodes);
//! the `store_*` functions run on the tree's `durable` subtree with the operations of
//! `durable.ml` in Octez's order (`Store`), their argument checks and error codes in the order
//! of `wasm_pvm::HostState` (the fast path's, checked against Octez; the differential tests of
//! `crates/pvm-tick/tests/it/differential.rs` compare the two); `write_output` appends to the
//! tree's current outbox. The reveal functions are the interpreter's reveal ticks
//! ([`crate::exec`]); the `nds_*` functions are not here yet ([`crate::Error::Unsupported`]).

use crate::codec::Tree;
use context_hash::data_encoding::{read_z, write_z};
use durable_tree::durable::{Key, KeyError, MAX_KEY_LENGTH, VALUE_MARKER};
use wasm_pvm::code::{
    GENERIC_INVALID_ACCESS, INPUT_OUTPUT_TOO_LARGE, MEMORY_INVALID_ACCESS, STORE_INVALID_ACCESS,
    STORE_INVALID_KEY, STORE_INVALID_SUBKEY_INDEX, STORE_KEY_TOO_LARGE, STORE_NOT_A_NODE,
    STORE_NOT_A_VALUE, STORE_READONLY_VALUE, STORE_VALUE_ALREADY_EXISTS, STORE_VALUE_SIZE_EXCEEDED,
};
use wasm_pvm::{GuestMemory, MAX_STORE_IO_SIZE, OutOfBounds, PvmVersion};

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

    /// `load_key_from_memory`: the length (-1) before memory (-6), then the syntax (-2).
    fn key(mem: &mut MemoryInst, addr: i32, len: i32) -> Code<Key> {
        if usize::try_from(len).is_ok_and(|n| n > MAX_KEY_LENGTH) {
            return Err(STORE_KEY_TOO_LARGE);
        }
        let bytes = load_mem(mem, addr, len)?;
        Key::parse(&bytes).map_err(|e| match e {
            KeyError::TooLarge => STORE_KEY_TOO_LARGE,
            KeyError::Invalid => STORE_INVALID_KEY,
        })
    }

    /// `store_has`: `find_value`, then `count_subtrees`.
    fn store_has(&mut self, mem: &mut MemoryInst, k: i32, kl: i32) -> Result<i32> {
        let key = match Self::key(mem, k, kl) {
            Ok(key) => key,
            Err(c) => return Ok(c),
        };
        let d = Store(&mut self.root);
        let value = d.find_value(&key)?.is_some();
        let n = d.count_subtrees(&key)?;
        Ok(match (value, n) {
            (false, 0) => 0,
            (true, 1) => 1,
            (false, _) => 2,
            _ => 3,
        })
    }

    /// `store_write`: the value's size (0 if absent), the overflow check (-5), the source
    /// memory (-6), then `write_value_exn` (-9, -7, -4; a negative offset is -8).
    fn store_write(
        &mut self,
        mem: &mut MemoryInst,
        (k, kl, offset, src, n): (i32, i32, i32, i32, i32),
    ) -> Result<i32> {
        let key = match Self::key(mem, k, kl) {
            Ok(key) => key,
            Err(c) => return Ok(c),
        };
        let mut d = Store(&mut self.root);
        let size = match d.find_value(&key)? {
            // `Int64.to_int32`.
            Some(v) => v.len as i32,
            None => 0,
        };
        if size > size.wrapping_add(n) {
            return Ok(STORE_VALUE_SIZE_EXCEEDED);
        }
        let payload = match load_mem(mem, src, n) {
            Ok(p) => p,
            Err(c) => return Ok(c),
        };
        if key.is_readonly() {
            return Ok(STORE_READONLY_VALUE);
        }
        if n > MAX_STORE_IO_SIZE {
            return Ok(INPUT_OUTPUT_TOO_LARGE);
        }
        if i64::from(offset) > i64::from(size) {
            return Ok(STORE_INVALID_ACCESS);
        }
        let Ok(offset) = u64::try_from(offset) else {
            return Ok(GENERIC_INVALID_ACCESS);
        };
        d.write_value(&key, offset, &payload)?;
        Ok(0)
    }

    /// `store_read`: `read_value_exn` (-7, -3, -4; a negative `max_bytes` is -8), then the
    /// bytes to memory (-6).
    fn store_read(
        &mut self,
        mem: &mut MemoryInst,
        (k, kl, offset, dst, max): (i32, i32, i32, i32, i32),
    ) -> Result<i32> {
        let key = match Self::key(mem, k, kl) {
            Ok(key) => key,
            Err(c) => return Ok(c),
        };
        if max > MAX_STORE_IO_SIZE {
            return Ok(INPUT_OUTPUT_TOO_LARGE);
        }
        let d = Store(&mut self.root);
        let Some(v) = d.find_value(&key)? else {
            return Ok(STORE_NOT_A_VALUE);
        };
        let Ok(offset) = u64::try_from(offset) else {
            return Ok(STORE_INVALID_ACCESS);
        };
        if offset >= v.len {
            return Ok(STORE_INVALID_ACCESS);
        }
        let Ok(max) = u64::try_from(max) else {
            return Ok(GENERIC_INVALID_ACCESS);
        };
        let n = v.len.saturating_sub(offset).min(max);
        let bytes = v.read(offset, n)?;
        if let Err(c) = store_mem(mem, dst, &bytes) {
            return Ok(c);
        }
        Ok(len_i32(bytes.len()))
    }

    /// `store_create`: -5 for a negative size, -9 readonly, -13 an existing value.
    fn store_create(&mut self, mem: &mut MemoryInst, k: i32, kl: i32, size: i32) -> Result<i32> {
        let key = match Self::key(mem, k, kl) {
            Ok(key) => key,
            Err(c) => return Ok(c),
        };
        let Ok(size) = u64::try_from(size) else {
            return Ok(STORE_VALUE_SIZE_EXCEEDED);
        };
        if key.is_readonly() {
            return Ok(STORE_READONLY_VALUE);
        }
        if Store(&mut self.root).create_value(&key, size)? {
            Ok(0)
        } else {
            Ok(STORE_VALUE_ALREADY_EXISTS)
        }
    }

    /// The one-key store functions other than `store_has`, `store_read`, `store_write`,
    /// `store_create` (`host_funcs.ml` `Aux`, `durable.ml`).
    fn store_key_op(&mut self, name: &[u8], mem: &mut MemoryInst, k: i32, kl: i32) -> Result<i64> {
        let key = match Self::key(mem, k, kl) {
            Ok(key) => key,
            Err(c) => return Ok(i64::from(c)),
        };
        let d = Store(&mut self.root);
        let r = match name {
            b"tezos_store_exists" => i32::from(d.exists(&key)?),
            b"tezos_store_delete" | b"tezos_store_delete_value" => {
                if key.is_readonly() {
                    STORE_READONLY_VALUE
                } else {
                    let mut p = key_path(&key);
                    if name == b"tezos_store_delete_value" {
                        p.push(VALUE_MARKER);
                    }
                    codec::remove_steps(d.0, &p)?;
                    0
                }
            }
            b"tezos_store_value_size" => match d.find_value(&key)? {
                Some(v) => v.len as i32,
                None => STORE_NOT_A_VALUE,
            },
            b"tezos_store_list_size" => {
                return Ok(i64::try_from(d.count_subtrees(&key)?).unwrap_or(i64::MAX));
            }
            _ => {
                return Err(Error::Unsupported(format!(
                    "store function {}",
                    String::from_utf8_lossy(name)
                )));
            }
        };
        Ok(i64::from(r))
    }

    /// `store_copy` (`copy_tree_exn`: `to` readonly -9, no tree at `from` -10) and
    /// `store_move` (`move_tree_exn`: both keys writable).
    fn store_copy_move(
        &mut self,
        mem: &mut MemoryInst,
        is_move: bool,
        (f, fl, t, tl): (i32, i32, i32, i32),
    ) -> Result<i32> {
        let (from, to) = match (Self::key(mem, f, fl), Self::key(mem, t, tl)) {
            (Ok(from), Ok(to)) => (from, to),
            (Err(c), _) | (_, Err(c)) => return Ok(c),
        };
        if to.is_readonly() || (is_move && from.is_readonly()) {
            return Ok(STORE_READONLY_VALUE);
        }
        let root = &mut self.root;
        let Some(sub) = codec::subtree_steps(root, &key_path(&from))? else {
            return Ok(STORE_NOT_A_NODE);
        };
        if is_move {
            codec::remove_steps(root, &key_path(&from))?;
        }
        codec::attach_steps(root, &key_path(&to), sub)?;
        Ok(0)
    }

    /// `store_get_nth_key` (`subtree_name_at`: -10 no tree, -12 index out of range; `@` is
    /// the empty name).
    fn store_get_nth_key(
        &mut self,
        mem: &mut MemoryInst,
        (k, kl, index, dst, max): (i32, i32, i64, i32, i32),
    ) -> Result<i32> {
        let key = match Self::key(mem, k, kl) {
            Ok(key) => key,
            Err(c) => return Ok(c),
        };
        let p = key_path(&key);
        if codec::kind_steps(&self.root, &p)?.is_none() {
            return Ok(STORE_NOT_A_NODE);
        }
        let names = codec::children_steps(&self.root, &p)?;
        let Some(name) = usize::try_from(index).ok().and_then(|i| names.get(i)) else {
            return Ok(STORE_INVALID_SUBKEY_INDEX);
        };
        let name = if name == VALUE_MARKER { "" } else { name };
        let Ok(max) = usize::try_from(max) else {
            return Ok(GENERIC_INVALID_ACCESS);
        };
        let out = &name.as_bytes()[..name.len().min(max)];
        if let Err(c) = store_mem(mem, dst, out) {
            return Ok(c);
        }
        Ok(len_i32(out.len()))
    }

    /// `__internal_store_get_hash` (`hash_exn ~kind:Directory`: -10 no tree).
    fn store_get_hash(
        &mut self,
        mem: &mut MemoryInst,
        (k, kl, dst, max): (i32, i32, i32, i32),
    ) -> Result<i32> {
        let key = match Self::key(mem, k, kl) {
            Ok(key) => key,
            Err(c) => return Ok(c),
        };
        let Some(h) = codec::hash_steps(&self.root, &key_path(&key))? else {
            return Ok(STORE_NOT_A_NODE);
        };
        let Ok(max) = usize::try_from(max) else {
            return Ok(GENERIC_INVALID_ACCESS);
        };
        let out = &h.0[..h.0.len().min(max)];
        if let Err(c) = store_mem(mem, dst, out) {
            return Ok(c);
        }
        Ok(len_i32(out.len()))
    }
}

/// A host function's outcome for the kernel: a value, or an error code (`Error.code`).
type Code<T> = std::result::Result<T, i32>;

fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

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

/// `M.store_bytes`: a range out of memory is -6 (no byte written); an empty one never fails.
fn store_mem(mem: &mut MemoryInst, addr: i32, bytes: &[u8]) -> Code<()> {
    if !bytes.is_empty() {
        Mem(mem)
            .write(u64::from(addr as u32), bytes)
            .map_err(|_| MEMORY_INVALID_ACCESS)?;
    }
    Ok(())
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
                let r = self.store_write(mem, (k, kl, off, src, n))?;
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
            | b"tezos_store_create" => {
                let (k, kl) = (a(0)?, a(1)?);
                let r = match name {
                    b"tezos_store_has" => self.store_has(mem, k, kl)?,
                    b"tezos_store_create" => self.store_create(mem, k, kl, a(2)?)?,
                    // A result of a one-key function fits an `i32`.
                    _ => self.store_key_op(name, mem, k, kl)? as i32,
                };
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_store_read" => {
                let (k, kl, off, dst, max) = (a(0)?, a(1)?, a(2)?, a(3)?, a(4)?);
                let r = self.store_read(mem, (k, kl, off, dst, max))?;
                one(
                    r,
                    cost(
                        r,
                        per_byte(kl).saturating_add(1).saturating_add(per_byte(r)),
                    ),
                )
            }
            b"tezos_store_value_size" => {
                let (k, kl) = (a(0)?, a(1)?);
                let r = self.store_key_op(name, mem, k, kl)? as i32;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_store_copy" | b"tezos_store_move" => {
                let (f, fl, t, tl) = (a(0)?, a(1)?, a(2)?, a(3)?);
                let r = self.store_copy_move(mem, name == b"tezos_store_move", (f, fl, t, tl))?;
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
                let r = self.store_key_op(name, mem, k, kl)?;
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
                let r = self.store_get_nth_key(mem, (k, kl, index, dst, max))?;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            b"tezos_internal_store_get_hash" => {
                let (k, kl, dst, max) = (a(0)?, a(1)?, a(2)?, a(3)?);
                let r = self.store_get_hash(mem, (k, kl, dst, max))?;
                one(r, cost(r, per_byte(kl).saturating_add(1)))
            }
            _ => Err(Error::Unsupported(format!(
                "host function {} in the small-step interpreter",
                String::from_utf8_lossy(name)
            ))),
        }
    }
}
