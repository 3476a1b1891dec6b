//! The durable-storage host functions written once (issue 13, "one semantics, many backends"):
//! argument checks, their order, error codes and results of `host_funcs.ml` (`Aux`,
//! `docs/reference/wasm-pvm.md` §1.3–§1.5), generic over the guest memory ([`GuestMemory`])
//! and the storage ([`DurableBackend`]).
//!
//! Two backends: the fast path's (`HostState`, over a value-cached `Durable`: zero-copy reads
//! and writes between guest memory and value chunks) and the small-step interpreter's
//! (`wasm_interp`, over the state tree, plain or a one-tick proof's partial tree, whose tree
//! reads follow Octez's `durable.ml` order: each backend method does its reads in that order).
//! Everything is monomorphised: no `dyn` on the hot path.

use context_hash::Hash;
use durable_tree::durable::{Key, KeyError};

use super::code::{
    GENERIC_INVALID_ACCESS, INPUT_OUTPUT_TOO_LARGE, MEMORY_INVALID_ACCESS, STORE_INVALID_ACCESS,
    STORE_INVALID_KEY, STORE_INVALID_SUBKEY_INDEX, STORE_KEY_TOO_LARGE, STORE_NOT_A_NODE,
    STORE_NOT_A_VALUE, STORE_READONLY_VALUE, STORE_VALUE_ALREADY_EXISTS, STORE_VALUE_SIZE_EXCEEDED,
};
use super::{GuestMemory, MAX_KEY_LENGTH, MAX_STORE_IO_SIZE};

/// Why a host function stops before its normal result.
#[derive(Debug)]
pub enum Abort<F> {
    /// A deterministic error code the kernel receives as the return value (`-1`, `-3`, …).
    Code(i32),
    /// An operational failure of the backend (`F`): the run stops.
    Fatal(F),
}

/// Outcome of an internal step of a host function: its value, or an [`Abort`].
pub type Step<T, F> = Result<T, Abort<F>>;

/// A host function's result: its value or error code for the kernel, or a fatal error.
#[inline(always)]
pub(crate) fn done<F>(r: Step<i32, F>) -> Result<i32, F> {
    match r {
        Ok(c) | Err(Abort::Code(c)) => Ok(c),
        Err(Abort::Fatal(f)) => Err(f),
    }
}

/// Durable storage as the host functions need it. Every method is one `durable.ml` operation;
/// a backend whose reads are observable (a proof's partial tree) does them in Octez's order.
/// Keys are already checked (length, syntax) when a method gets them.
pub trait DurableBackend {
    /// Operational failure (storage I/O, a malformed tree).
    type Fatal;
    /// The value slot of one key ([`DurableBackend::value`]).
    type Value<'s>: ValueSlot<Fatal = Self::Fatal>
    where
        Self: 's;

    /// `load_key_from_memory` for value operations (the checks of [`load_key_bytes`], then the
    /// syntax: -1, -2), giving the key's value slot.
    fn value<'s, M: GuestMemory + ?Sized>(
        &'s mut self,
        mem: &M,
        addr: i32,
        len: i32,
    ) -> Step<Self::Value<'s>, Self::Fatal>;
    /// Whether there is a value at `k`, and the number of its subtrees (`@` included).
    fn has(&mut self, k: &Key) -> Result<(bool, u64), Self::Fatal>;
    /// `exists`: whether any tree is at `k`.
    fn exists(&mut self, k: &Key) -> Result<bool, Self::Fatal>;
    /// `count_subtrees` (`@` included).
    fn list_size(&mut self, k: &Key) -> Result<u64, Self::Fatal>;
    /// `subtree_name_at`: the name of the `index`-th subtree (`@` as the empty name), `None`
    /// when out of range (a negative index always is). Called only when `k` exists.
    fn nth_key(&mut self, k: &Key, index: i64) -> Result<Option<String>, Self::Fatal>;
    /// `delete`: remove the whole tree at `k` (nothing if missing).
    fn delete(&mut self, k: &Key) -> Result<(), Self::Fatal>;
    /// `copy_tree_exn`: `false` (nothing changes) when no tree is at `from`.
    fn copy(&mut self, from: &Key, to: &Key) -> Result<bool, Self::Fatal>;
    /// `move_tree_exn`: `false` (nothing changes) when no tree is at `from`.
    fn move_tree(&mut self, from: &Key, to: &Key) -> Result<bool, Self::Fatal>;
    /// `hash_exn ~kind:Directory`: the hash of the tree at `k`, `None` if missing.
    fn subtree_hash(&mut self, k: &Key) -> Result<Option<Hash>, Self::Fatal>;
}

/// The value at one key (present or not), as the value host functions use it.
pub trait ValueSlot {
    /// Operational failure, as [`DurableBackend::Fatal`].
    type Fatal;

    /// The key.
    fn key(&self) -> &Key;
    /// `find_value`: the value's length, `None` if there is none.
    fn size(&mut self) -> Result<Option<u64>, Self::Fatal>;
    /// `load_bytes offset n` of the value (`offset + n <= size`, called after
    /// [`ValueSlot::size`]): `sink(position in the result, bytes)` gets consecutive pieces
    /// covering the result, and returns whether it stored them; `Ok(false)` if one did not.
    fn read(
        &mut self,
        offset: u64,
        n: u64,
        sink: impl FnMut(usize, &[u8]) -> bool,
    ) -> Result<bool, Self::Fatal>;
    /// `M.load_bytes` of `store_write`'s `n` source bytes, where Octez loads them (after the
    /// overflow check, before the other checks): a backend whose memory reads are observable
    /// (a proof records them) copies them now with `read_source` (returning whether it could)
    /// and writes them in [`ValueSlot::write`]; the default copies nothing now (the bytes go
    /// straight from guest memory to the value in `write`).
    #[inline(always)]
    fn stage_source(&mut self, n: usize, read_source: impl FnOnce(&mut [u8]) -> bool) -> bool {
        let _ = (n, read_source);
        true
    }
    /// `write_value_exn offset` of `n` bytes (`offset <= size`; no value is an empty one)
    /// that `fill(position in the data, destination)` provides piece by piece, returning
    /// whether it could; `Ok(false)` if one could not (a backend that can fills everything
    /// before changing anything).
    fn write(
        &mut self,
        offset: u64,
        n: u64,
        fill: impl FnMut(usize, &mut [u8]) -> bool,
    ) -> Result<bool, Self::Fatal>;
    /// `create_value_exn`: a zero value of `size` bytes; `false` (nothing changes) if there
    /// is a value already.
    fn create(&mut self, size: u64) -> Result<bool, Self::Fatal>;
    /// `delete_value`: remove the value (sub-keys stay).
    fn delete(&mut self) -> Result<(), Self::Fatal>;
}

/// Buffer size for a key read from guest memory.
pub const KEY_BUF: usize = MAX_KEY_LENGTH as usize;

/// `load_key_from_memory` up to the syntax: the length (-1, and -8 when negative) before the
/// memory (-6). The bytes are borrowed from the memory when it lends them, else read into
/// `buf`.
#[inline(always)]
pub fn load_key_bytes<'b, M: GuestMemory + ?Sized, F>(
    mem: &'b M,
    buf: &'b mut [u8; KEY_BUF],
    addr: i32,
    len: i32,
) -> Step<&'b [u8], F> {
    if len > MAX_KEY_LENGTH {
        return Err(Abort::Code(STORE_KEY_TOO_LARGE));
    }
    let n = usize::try_from(len).map_err(|_| Abort::Code(GENERIC_INVALID_ACCESS))?;
    let addr = u64::from(addr as u32);
    if let Some(b) = mem.bytes(addr, n) {
        return Ok(b);
    }
    let bytes = &mut buf[..n];
    if n > 0 {
        mem.read(addr, bytes)
            .map_err(|_| Abort::Code(MEMORY_INVALID_ACCESS))?;
    }
    Ok(bytes)
}

/// The code of a key syntax error (-1 too long, -2 invalid).
pub fn key_error<F>(e: KeyError) -> Abort<F> {
    Abort::Code(match e {
        KeyError::TooLarge => STORE_KEY_TOO_LARGE,
        KeyError::Invalid => STORE_INVALID_KEY,
    })
}

/// `load_key_from_memory` parsing the key every time (backends without a key cache).
pub fn load_key<M: GuestMemory + ?Sized, F>(mem: &M, addr: i32, len: i32) -> Step<Key, F> {
    let mut buf = [0u8; KEY_BUF];
    Key::parse(load_key_bytes(mem, &mut buf, addr, len)?).map_err(key_error)
}

/// The last key parsed, with the bytes it was parsed from (the key of structural host
/// functions; a key's validity only depends on its bytes, so reusing it changes nothing).
pub struct KeyCache {
    bytes: [u8; KEY_BUF],
    len: usize,
    key: Option<Key>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new()
    }
}

impl KeyCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            bytes: [0; KEY_BUF],
            len: 0,
            key: None,
        }
    }

    /// `load_key_from_memory`: length check (-1) before memory (-6), then syntax (-2). The
    /// previous key is reused if the bytes are the same.
    fn load<M: GuestMemory + ?Sized, F>(&mut self, mem: &M, addr: i32, len: i32) -> Step<&Key, F> {
        let mut buf = [0u8; KEY_BUF];
        let bytes = load_key_bytes(mem, &mut buf, addr, len)?;
        let n = bytes.len();
        if self.key.is_none() || self.bytes[..self.len] != *bytes {
            let k = Key::parse(bytes).map_err(key_error)?;
            self.bytes[..n].copy_from_slice(bytes);
            self.len = n;
            return Ok(self.key.insert(k));
        }
        // Always `Some` here.
        self.key.as_ref().ok_or(Abort::Code(GENERIC_INVALID_ACCESS))
    }

    /// [`KeyCache::load`] for host functions taking two keys.
    fn load_owned<M: GuestMemory + ?Sized, F>(
        &mut self,
        mem: &M,
        addr: i32,
        len: i32,
    ) -> Step<Key, F> {
        self.load(mem, addr, len).cloned()
    }
}

/// Whether `mem.read`/`mem.write` of `len` bytes at `addr` would succeed: an empty range always
/// does.
#[inline(always)]
pub(crate) fn in_bounds<M: GuestMemory + ?Sized>(mem: &M, addr: i32, len: usize) -> bool {
    len == 0
        || u64::from(addr as u32)
            .checked_add(len as u64)
            .is_some_and(|end| end <= mem.size())
}

/// `M.store_bytes`: -6 out of bounds (no byte written); an empty range never fails.
fn write_mem<M: GuestMemory + ?Sized, F>(mem: &mut M, addr: i32, data: &[u8]) -> Step<(), F> {
    if !data.is_empty() {
        mem.write(u64::from(addr as u32), data)
            .map_err(|_| Abort::Code(MEMORY_INVALID_ACCESS))?;
    }
    Ok(())
}

/// The first `max_size` bytes (an `i32`): `String.sub` with a negative size is an OCaml
/// exception, mapped to -8.
fn prefix<F>(data: &[u8], max_size: i32) -> Step<&[u8], F> {
    let max = usize::try_from(max_size).map_err(|_| Abort::Code(GENERIC_INVALID_ACCESS))?;
    Ok(&data[..data.len().min(max)])
}

/// A length returned to the kernel (always a non-negative `i32` the kernel bounded).
pub(crate) fn len_i32(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn fatal<F>(e: F) -> Abort<F> {
    Abort::Fatal(e)
}

/// `store_has(key, len) -> i32`: 0 nothing, 1 value only, 2 subtrees only, 3 both.
pub fn has<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    key: i32,
    key_len: i32,
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let k = keys.load(mem, key, key_len)?;
        Ok(match b.has(k).map_err(fatal)? {
            (false, 0) => 0,
            (true, 1) => 1,
            (false, _) => 2,
            _ => 3,
        })
    })())
}

/// `store_exists(key, len) -> i32` (V2+): 1 if any tree exists at key.
pub fn exists<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    key: i32,
    key_len: i32,
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let k = keys.load(mem, key, key_len)?;
        Ok(i32::from(b.exists(k).map_err(fatal)?))
    })())
}

/// `store_list_size(key, len) -> i64`: subtree count including the value node `@`.
pub fn list_size<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    key: i32,
    key_len: i32,
) -> Result<i64, B::Fatal> {
    let r = (|| -> Step<i64, B::Fatal> {
        let k = keys.load(mem, key, key_len)?;
        let n = b.list_size(k).map_err(fatal)?;
        i64::try_from(n).map_err(|_| Abort::Code(GENERIC_INVALID_ACCESS))
    })();
    match r {
        Ok(n) => Ok(n),
        Err(Abort::Code(c)) => Ok(i64::from(c)),
        Err(Abort::Fatal(f)) => Err(f),
    }
}

/// `store_get_nth_key(key, len, index, dst, max_size) -> i32`: -10 no tree, -12 index out of
/// range, -8 negative `max_size`, -6 destination; the name (truncated) is written at `dst`.
#[expect(clippy::too_many_arguments, reason = "the host function's arguments")]
pub fn get_nth_key<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    key: i32,
    key_len: i32,
    index: i64,
    dst: i32,
    max_size: i32,
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let k = keys.load(mem, key, key_len)?;
        if !b.exists(k).map_err(fatal)? {
            return Err(Abort::Code(STORE_NOT_A_NODE));
        }
        let name = b
            .nth_key(k, index)
            .map_err(fatal)?
            .ok_or(Abort::Code(STORE_INVALID_SUBKEY_INDEX))?;
        let out = prefix(name.as_bytes(), max_size)?;
        write_mem(mem, dst, out)?;
        Ok(len_i32(out.len()))
    })())
}

/// `store_delete(key, len) -> i32`: -9 readonly; removes the whole tree (missing is fine).
pub fn delete<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    key: i32,
    key_len: i32,
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let k = keys.load(mem, key, key_len)?;
        if k.is_readonly() {
            return Err(Abort::Code(STORE_READONLY_VALUE));
        }
        b.delete(k).map_err(fatal)?;
        Ok(0)
    })())
}

/// `store_copy(from, from_len, to, to_len) -> i32`: `to` readonly (-9), then no tree at
/// `from` (-10); the source may be readonly.
pub fn copy<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    (from, from_len, to, to_len): (i32, i32, i32, i32),
) -> Result<i32, B::Fatal> {
    copy_or_move(b, keys, mem, false, (from, from_len, to, to_len))
}

/// `store_move(from, from_len, to, to_len) -> i32`: both keys writable (-9), then no tree at
/// `from` (-10).
pub fn move_tree<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    (from, from_len, to, to_len): (i32, i32, i32, i32),
) -> Result<i32, B::Fatal> {
    copy_or_move(b, keys, mem, true, (from, from_len, to, to_len))
}

fn copy_or_move<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    is_move: bool,
    (from, from_len, to, to_len): (i32, i32, i32, i32),
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let from = keys.load_owned(mem, from, from_len)?;
        let to = keys.load(mem, to, to_len)?;
        if to.is_readonly() || (is_move && from.is_readonly()) {
            return Err(Abort::Code(STORE_READONLY_VALUE));
        }
        let found = if is_move {
            b.move_tree(&from, to)
        } else {
            b.copy(&from, to)
        };
        if found.map_err(fatal)? {
            Ok(0)
        } else {
            Err(Abort::Code(STORE_NOT_A_NODE))
        }
    })())
}

/// `__internal_store_get_hash(key, len, dst, max_size) -> i32` (V1+): the hash of the tree
/// at key, truncated to `max_size`; -10 if missing, -8 negative `max_size`, -6 destination.
pub fn get_hash<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    keys: &mut KeyCache,
    mem: &mut M,
    (key, key_len, dst, max_size): (i32, i32, i32, i32),
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let k = keys.load(mem, key, key_len)?;
        let hash = b
            .subtree_hash(k)
            .map_err(fatal)?
            .ok_or(Abort::Code(STORE_NOT_A_NODE))?;
        let out = prefix(&hash.0, max_size)?;
        write_mem(mem, dst, out)?;
        Ok(len_i32(out.len()))
    })())
}

/// `store_delete_value(key, len) -> i32` (V1+): -9 readonly; removes only the value.
#[inline(always)]
pub fn delete_value<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    mem: &mut M,
    key: i32,
    key_len: i32,
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let mut v = b.value(mem, key, key_len)?;
        if v.key().is_readonly() {
            return Err(Abort::Code(STORE_READONLY_VALUE));
        }
        v.delete().map_err(fatal)?;
        Ok(0)
    })())
}

/// `store_value_size(key, len) -> i32`: value length, -3 when there is no value.
#[inline(always)]
pub fn value_size<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    mem: &mut M,
    key: i32,
    key_len: i32,
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let mut v = b.value(mem, key, key_len)?;
        match v.size().map_err(fatal)? {
            // `Int64.to_int32`: sizes never exceed i32::MAX by construction.
            Some(n) => Ok(n as i32),
            None => Err(Abort::Code(STORE_NOT_A_VALUE)),
        }
    })())
}

/// `store_read(key, len, offset, dst, max_bytes) -> i32`. Order (`read_value_exn`, then
/// `M.store_bytes`): -7 (`max_bytes > 2048`), -3 (no value), -4 (`offset < 0 || offset >=
/// len`, so an empty value always fails), -8 (negative `max_bytes`), then the bytes are read
/// and stored (-6 when the destination is out of bounds: no byte is written).
#[inline(always)]
pub fn read<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    mem: &mut M,
    (key, key_len, offset, dst, max_bytes): (i32, i32, i32, i32, i32),
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let mut v = b.value(mem, key, key_len)?;
        if max_bytes > MAX_STORE_IO_SIZE {
            return Err(Abort::Code(INPUT_OUTPUT_TOO_LARGE));
        }
        let Some(size) = v.size().map_err(fatal)? else {
            return Err(Abort::Code(STORE_NOT_A_VALUE));
        };
        let Ok(offset) = u64::try_from(offset) else {
            return Err(Abort::Code(STORE_INVALID_ACCESS));
        };
        if offset >= size {
            return Err(Abort::Code(STORE_INVALID_ACCESS));
        }
        let Ok(max) = u64::try_from(max_bytes) else {
            // Negative length in `load_bytes`: `Bounds` of the byte vector, unmapped.
            return Err(Abort::Code(GENERIC_INVALID_ACCESS));
        };
        // At most 2048: `offset < size` (checked above) and `max <= 2048`.
        let n = size.saturating_sub(offset).min(max);
        let fits = in_bounds(mem, dst, n as usize);
        let base = u64::from(dst as u32);
        let stored = v
            .read(offset, n, |pos, piece| {
                fits && (piece.is_empty()
                    || mem.write(base.saturating_add(pos as u64), piece).is_ok())
            })
            .map_err(fatal)?;
        if !stored {
            return Err(Abort::Code(MEMORY_INVALID_ACCESS));
        }
        Ok(len_i32(n as usize))
    })())
}

/// `store_write(key, len, offset, src, num_bytes) -> i32`. Order: key, overflow of
/// `size + num_bytes` (-5, ignores `offset`), source memory (-6), readonly (-9),
/// `num_bytes > 2048` (-7), `offset > size` (-4), negative offset (-8).
#[inline(always)]
pub fn write<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    mem: &mut M,
    (key, key_len, offset, src, num_bytes): (i32, i32, i32, i32, i32),
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let mut v = b.value(mem, key, key_len)?;
        // `Int64.to_int32` of the size, 0 without a value.
        let size = v.size().map_err(fatal)?.map_or(0, |n| n as i32);
        if size > size.wrapping_add(num_bytes) {
            return Err(Abort::Code(STORE_VALUE_SIZE_EXCEEDED));
        }
        // >= 0: a negative count failed the overflow check.
        let n = usize::try_from(num_bytes).map_err(|_| Abort::Code(GENERIC_INVALID_ACCESS))?;
        let base = u64::from(src as u32);
        if !in_bounds(mem, src, n)
            || !v.stage_source(n, |buf| buf.is_empty() || mem.read(base, buf).is_ok())
        {
            return Err(Abort::Code(MEMORY_INVALID_ACCESS));
        }
        if v.key().is_readonly() {
            return Err(Abort::Code(STORE_READONLY_VALUE));
        }
        if num_bytes > MAX_STORE_IO_SIZE {
            return Err(Abort::Code(INPUT_OUTPUT_TOO_LARGE));
        }
        if i64::from(offset) > i64::from(size) {
            return Err(Abort::Code(STORE_INVALID_ACCESS));
        }
        let Ok(offset) = u64::try_from(offset) else {
            return Err(Abort::Code(GENERIC_INVALID_ACCESS));
        };
        // Growth beyond i32::MAX is impossible: offset <= size and size + n <= i32::MAX.
        let filled = v
            .write(offset, n as u64, |pos, dst| {
                mem.read(base.saturating_add(pos as u64), dst).is_ok()
            })
            .map_err(fatal)?;
        // Cannot fail on a memory whose range check holds (checked above).
        if !filled {
            return Err(Abort::Code(MEMORY_INVALID_ACCESS));
        }
        Ok(0)
    })())
}

/// `store_create(key, len, size) -> i32` (V1+): -5 negative size, -9 readonly, -13 existing
/// value.
#[inline(always)]
pub fn create<B: DurableBackend, M: GuestMemory + ?Sized>(
    b: &mut B,
    mem: &mut M,
    key: i32,
    key_len: i32,
    size: i32,
) -> Result<i32, B::Fatal> {
    done((|| -> Step<i32, B::Fatal> {
        let mut v = b.value(mem, key, key_len)?;
        let Ok(size) = u64::try_from(size) else {
            return Err(Abort::Code(STORE_VALUE_SIZE_EXCEEDED));
        };
        if v.key().is_readonly() {
            return Err(Abort::Code(STORE_READONLY_VALUE));
        }
        if v.create(size).map_err(fatal)? {
            Ok(0)
        } else {
            Err(Abort::Code(STORE_VALUE_ALREADY_EXISTS))
        }
    })())
}

#[cfg(test)]
#[expect(
    clippy::arithmetic_side_effects,
    reason = "test fixtures: small constant addresses and lengths"
)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    use crate::host::test_memory::Mem;

    /// A backend recording which storage operations the semantics asks for, in order (what a
    /// proof's partial tree observes).
    #[derive(Default)]
    struct Rec {
        values: BTreeMap<String, Vec<u8>>,
        log: Vec<&'static str>,
    }

    struct RecValue<'a> {
        rec: &'a mut Rec,
        key: Key,
    }

    impl DurableBackend for Rec {
        type Fatal = ();
        type Value<'s> = RecValue<'s>;

        fn value<'s, M: GuestMemory + ?Sized>(
            &'s mut self,
            mem: &M,
            addr: i32,
            len: i32,
        ) -> Step<RecValue<'s>, ()> {
            let key = load_key(mem, addr, len)?;
            Ok(RecValue { rec: self, key })
        }
        fn has(&mut self, k: &Key) -> Result<(bool, u64), ()> {
            self.log.push("has");
            Ok((self.values.contains_key(&k.to_string()), 0))
        }
        fn exists(&mut self, k: &Key) -> Result<bool, ()> {
            self.log.push("exists");
            Ok(self.values.contains_key(&k.to_string()))
        }
        fn list_size(&mut self, _: &Key) -> Result<u64, ()> {
            self.log.push("list_size");
            Ok(0)
        }
        fn nth_key(&mut self, _: &Key, _: i64) -> Result<Option<String>, ()> {
            self.log.push("nth_key");
            Ok(None)
        }
        fn delete(&mut self, _: &Key) -> Result<(), ()> {
            self.log.push("delete");
            Ok(())
        }
        fn copy(&mut self, _: &Key, _: &Key) -> Result<bool, ()> {
            self.log.push("copy");
            Ok(true)
        }
        fn move_tree(&mut self, _: &Key, _: &Key) -> Result<bool, ()> {
            self.log.push("move");
            Ok(true)
        }
        fn subtree_hash(&mut self, _: &Key) -> Result<Option<Hash>, ()> {
            self.log.push("hash");
            Ok(None)
        }
    }

    impl ValueSlot for RecValue<'_> {
        type Fatal = ();
        fn key(&self) -> &Key {
            &self.key
        }
        fn size(&mut self) -> Result<Option<u64>, ()> {
            self.rec.log.push("size");
            Ok(self
                .rec
                .values
                .get(&self.key.to_string())
                .map(|v| v.len() as u64))
        }
        fn read(
            &mut self,
            offset: u64,
            n: u64,
            mut sink: impl FnMut(usize, &[u8]) -> bool,
        ) -> Result<bool, ()> {
            self.rec.log.push("read");
            let v = &self.rec.values[&self.key.to_string()];
            Ok(sink(0, &v[offset as usize..(offset + n) as usize]))
        }
        fn stage_source(&mut self, _: usize, _: impl FnOnce(&mut [u8]) -> bool) -> bool {
            self.rec.log.push("stage");
            true
        }
        fn write(
            &mut self,
            offset: u64,
            n: u64,
            mut fill: impl FnMut(usize, &mut [u8]) -> bool,
        ) -> Result<bool, ()> {
            self.rec.log.push("write");
            let v = self.rec.values.entry(self.key.to_string()).or_default();
            let end = (offset + n) as usize;
            v.resize(v.len().max(end), 0);
            Ok(fill(0, &mut v[offset as usize..end]))
        }
        fn create(&mut self, _: u64) -> Result<bool, ()> {
            self.rec.log.push("create");
            Ok(true)
        }
        fn delete(&mut self) -> Result<(), ()> {
            self.rec.log.push("delete_value");
            Ok(())
        }
    }

    fn mem_with(keys: &[(u64, &[u8])]) -> Mem {
        let mut m = Mem(vec![0; 1024]);
        for (at, k) in keys {
            m.write(*at, k).unwrap();
        }
        m
    }

    #[test]
    fn store_write_loads_its_source_before_the_readonly_check() {
        // `host_funcs.ml`: `M.load_bytes` comes before `write_value_exn`'s checks.
        let mut m = mem_with(&[(0, b"/readonly/a")]);
        let mut b = Rec::default();
        assert_eq!(
            write(&mut b, &mut m, (0, 11, 0, 100, 4)),
            Ok(STORE_READONLY_VALUE)
        );
        assert_eq!(b.log, ["size", "stage"]);
    }

    #[test]
    fn store_write_then_read_round_trips_through_the_backend() {
        let mut m = mem_with(&[(0, b"/a"), (100, b"wxyz")]);
        let mut b = Rec::default();
        assert_eq!(write(&mut b, &mut m, (0, 2, 0, 100, 4)), Ok(0));
        assert_eq!(b.values["/a"], b"wxyz");
        assert_eq!(read(&mut b, &mut m, (0, 2, 1, 200, 2)), Ok(2));
        assert_eq!(&m.0[200..202], b"xy");
        assert_eq!(value_size(&mut b, &mut m, 0, 2), Ok(4));
    }

    #[test]
    fn store_read_reads_the_value_before_failing_on_its_destination() {
        // `read_value_exn`, then `M.store_bytes` (-6): no byte is written.
        let mut m = mem_with(&[(0, b"/a")]);
        let mut b = Rec::default();
        b.values.insert("/a".into(), b"abc".to_vec());
        assert_eq!(
            read(&mut b, &mut m, (0, 2, 0, 1023, 3)),
            Ok(MEMORY_INVALID_ACCESS)
        );
        assert_eq!(b.log, ["size", "read"]);
        assert_eq!(m.0[1023], 0);
    }

    #[test]
    fn two_key_functions_stop_at_the_first_bad_key() {
        let mut m = mem_with(&[(0, b"bad"), (10, b"/b")]);
        let mut b = Rec::default();
        let keys = &mut KeyCache::new();
        assert_eq!(
            copy(&mut b, keys, &mut m, (0, 3, 10, 2)),
            Ok(STORE_INVALID_KEY)
        );
        assert_eq!(
            move_tree(&mut b, keys, &mut m, (10, 2, 0, 241)),
            Ok(STORE_KEY_TOO_LARGE)
        );
        assert!(b.log.is_empty());
        assert_eq!(
            move_tree(&mut b, keys, &mut m, (10, 2, 1000, 100)),
            Ok(MEMORY_INVALID_ACCESS)
        );
        assert_eq!(copy(&mut b, keys, &mut m, (10, 2, 10, 2)), Ok(0));
        assert_eq!(b.log, ["copy"]);
    }

    #[test]
    fn get_nth_key_checks_the_tree_before_the_index() {
        let mut m = mem_with(&[(0, b"/a")]);
        let mut b = Rec::default();
        let keys = &mut KeyCache::new();
        assert_eq!(
            get_nth_key(&mut b, keys, &mut m, 0, 2, -1, 100, 10),
            Ok(STORE_NOT_A_NODE)
        );
        b.values.insert("/a".into(), vec![]);
        assert_eq!(
            get_nth_key(&mut b, keys, &mut m, 0, 2, 0, 100, 10),
            Ok(STORE_INVALID_SUBKEY_INDEX)
        );
        assert_eq!(b.log, ["exists", "exists", "nth_key"]);
    }
}
