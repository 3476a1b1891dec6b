//! Host functions of module `smart_rollup_core` (`src/lib_scoru_wasm/host_funcs.ml`, `Aux`;
//! `wasm-pvm.md` §1.3–§1.5), engine-agnostic: they see guest memory through [`GuestMemory`]
//! and durable storage through [`Durable`].
//!
//! Deterministic outcomes (including negative error codes) are `Ok(code)`; operational failures
//! (storage I/O, unanswerable reveal) are `Err(HostFatal)` and abort the run.
//!
//! Memory conventions (slow PVM, `partial_memory.ml`): addresses are the guest `i32` read as
//! unsigned; a zero-length access never fails (even out of bounds); a negative length is an
//! OCaml `Invalid_argument`, mapped to `GENERIC_INVALID_ACCESS` (-8). Unlike the slow PVM, an
//! out-of-bounds write touches no byte at all (fast-exec behaviour).
//!
//! Hot path (kernels call these constantly): durable storage is seen through a write-back value
//! cache ([`CachedDurable`], one per run) that value operations (`store_value_size`,
//! `store_read`, `store_write`, `store_create`, `store_delete_value`) hit by the key's raw
//! bytes (borrowed from guest memory when it lends them, [`GuestMemory::bytes`], else read
//! into a reused buffer): a cached key is neither parsed nor allocated again, and
//! the Merkle tree is only updated when something needs it (hashes, subtree operations,
//! structural queries after a value was added or removed, the end of the run: see
//! [`HostState::flush`]). Other host functions reuse the last parsed key when the next call
//! passes the same bytes. `store_write` and `store_read` copy straight between guest memory
//! and the cached chunks (ranges checked first); `read_input` writes straight into guest
//! memory. Allocations left per call: the message `write_output` stores, reveal requests, the
//! first key of `store_copy`/`store_move`, and a key's first use in the run.
//!
//! Host functions are generic over the [`GuestMemory`] (`dyn GuestMemory` works too), so that
//! an engine's memory accesses are inlined. The durable-storage ones (`store_*`) are written
//! once in [`store`], generic over a [`store::DurableBackend`] (the small-step interpreter
//! brings its own, over the state tree); `HostState`'s is `Fast`, over the value cache.
//!
//! Not implemented: the `nds_*` functions of V6 (they link, see
//! [`crate::host_function_signature`], but an engine must report a call as fatal).

pub mod store;

use context_hash::Hash;
use durable_tree::TreeError;
use durable_tree::durable::{CachedDurable, Durable, Key, ValueRef};

use self::store::{DurableBackend, KEY_BUF, KeyCache, ValueSlot, len_i32};

use crate::buffers::{InputBuffer, OutputBuffer, OutputError};
use crate::version::PvmVersion;

/// Host error codes (`Host_funcs.Error.code`; `wasm-pvm.md` §1.3).
pub mod code {
    /// Key longer than 240 bytes.
    pub const STORE_KEY_TOO_LARGE: i32 = -1;
    /// Key fails the syntax of `wasm-pvm.md` §2.1.
    pub const STORE_INVALID_KEY: i32 = -2;
    /// No value at key.
    pub const STORE_NOT_A_VALUE: i32 = -3;
    /// Offset out of the value's bounds.
    pub const STORE_INVALID_ACCESS: i32 = -4;
    /// Value size would exceed `i32::MAX`, or negative `store_create` size.
    pub const STORE_VALUE_SIZE_EXCEEDED: i32 = -5;
    /// Guest memory range out of bounds.
    pub const MEMORY_INVALID_ACCESS: i32 = -6;
    /// More than 4096 bytes for I/O buffers, 2048 per durable chunk.
    pub const INPUT_OUTPUT_TOO_LARGE: i32 = -7;
    /// Any other failure.
    pub const GENERIC_INVALID_ACCESS: i32 = -8;
    /// Mutation of a readonly key.
    pub const STORE_READONLY_VALUE: i32 = -9;
    /// No tree at key.
    pub const STORE_NOT_A_NODE: i32 = -10;
    /// The current outbox is full.
    pub const FULL_OUTBOX: i32 = -11;
    /// `store_get_nth_key` index out of range.
    pub const STORE_INVALID_SUBKEY_INDEX: i32 = -12;
    /// `store_create` on an existing value.
    pub const STORE_VALUE_ALREADY_EXISTS: i32 = -13;
}

use code::*;

/// Guest memory access out of bounds (maps to `MEMORY_INVALID_ACCESS` = -6 in host functions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("guest memory access out of bounds")]
pub struct OutOfBounds;

/// Guest linear memory (memory index 0 of the running instance) as seen by host functions.
///
/// Addresses are the guest's `i32` values read as unsigned (`extend_i32_u`), widened to `u64`.
/// Implementations must check `addr + len <= size()` and touch nothing when the range is out of
/// bounds.
pub trait GuestMemory {
    /// Current memory size in bytes (pages × 65536).
    fn size(&self) -> u64;
    /// Copy `buf.len()` bytes starting at `addr` into `buf`.
    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfBounds>;
    /// Copy `data` into memory starting at `addr`.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), OutOfBounds>;
    /// The `len` bytes at `addr` without copying, if the memory can lend them: `None` (the
    /// default) makes the host copy them with [`GuestMemory::read`] instead, which also
    /// reports an out-of-bounds range. When `Some`, the bytes must be those `read` gives.
    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let _ = (addr, len);
        None
    }
}

/// Operational failure inside a host function: the run is aborted and the PVM state must not
/// be advanced (the caller keeps the state from before the window).
#[derive(Debug, thiserror::Error)]
pub enum HostFatal {
    /// Durable storage I/O failed (e.g. a lazily loaded node is missing from the store).
    #[error("durable storage failure: {0}")]
    Storage(String),
    /// A reveal could not be answered (missing preimage, DAL node unreachable, …).
    #[error("reveal failed: {0}")]
    Reveal(#[from] RevealError),
    /// The kernel called a host function this implementation does not support (`nds_*`).
    #[error("unsupported host function {0}")]
    Unsupported(&'static str),
}

/// Why a reveal request could not be answered (operational, not a kernel-visible error).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RevealError(pub String);

/// Answers reveal requests synchronously (fast execution has no reveal ticks, `wasm-pvm.md` §8.1).
///
/// `request` is the raw reveal payload of `wasm-pvm.md` §5.2: `reveal_preimage(h)` sends
/// `0x00 ‖ h` (the kernel-supplied bytes, not validated), `reveal_metadata` sends `0x01`,
/// `reveal(p)` sends `p` verbatim. Requests that do not decode must be answered with the empty
/// preimage (`Ok(vec![])`), as L1 does (well-known hash). The answer is truncated to the kernel's
/// buffer by the host function.
pub trait RevealHandler: Send {
    /// Return the bytes revealed for `request`.
    fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError>;

    /// The inbox level whose messages are evaluated from now on ([`crate::PvmState::process_level`]
    /// tells it before evaluating): DAL reveals depend on it (docs/reference/dal.md §5).
    fn set_inbox_level(&mut self, _level: u32) {}
}

/// Receives `write_debug` output (raw bytes, possibly not UTF-8).
pub trait DebugSink: Send {
    /// Called once per `write_debug` call whose range is readable.
    fn debug(&mut self, bytes: &[u8]);
}

/// Maximum durable key length in bytes (`250 - len "/durable" - len "/@"`, `durable.ml`).
pub const MAX_KEY_LENGTH: i32 = 240;
/// Maximum size of inputs, outputs and reveal payloads (`input_output_max_size`).
pub const INPUT_OUTPUT_MAX_SIZE: i32 = 4096;
/// Maximum bytes per `store_read`/`store_write` call (`max_store_io_size`).
pub const MAX_STORE_IO_SIZE: i32 = 2048;

/// Everything host functions touch during one `kernel_run`.
///
/// Built by the PVM for each run (see [`HostState::new`]); an engine only calls its methods, one
/// per host function, with the raw WASM arguments (`i32`/`i64` exactly as the guest passed them).
pub struct HostState<'a> {
    version: PvmVersion,
    durable: CachedDurable<'a>,
    input: &'a mut InputBuffer,
    output: &'a mut OutputBuffer,
    reveal: &'a mut dyn RevealHandler,
    debug: Option<&'a mut dyn DebugSink>,
    instantiated: bool,
    keys: KeyCache,
    /// Reused buffer for the key of value operations.
    key_buf: [u8; KEY_BUF],
}

fn fatal(e: TreeError) -> HostFatal {
    HostFatal::Storage(e.to_string())
}

/// Why a host function stops before its normal result (the two kinds of errors of the module
/// doc, docs/reference/wasm-pvm.md).
type Abort = store::Abort<HostFatal>;

/// Outcome of an internal step of a host function: its value, or an [`Abort`].
type Step<T> = Result<T, Abort>;

fn fatal_step(e: TreeError) -> Abort {
    Abort::Fatal(fatal(e))
}

fn read_mem<M: GuestMemory + ?Sized>(mem: &M, addr: i32, len: i32) -> Step<Vec<u8>> {
    let len = usize::try_from(len).map_err(|_| Abort::Code(GENERIC_INVALID_ACCESS))?;
    let mut buf = vec![0u8; len];
    if len > 0 {
        mem.read(u64::from(addr as u32), &mut buf)
            .map_err(|_| Abort::Code(MEMORY_INVALID_ACCESS))?;
    }
    Ok(buf)
}

fn write_mem<M: GuestMemory + ?Sized>(mem: &mut M, addr: i32, data: &[u8]) -> Step<()> {
    if !data.is_empty() {
        mem.write(u64::from(addr as u32), data)
            .map_err(|_| Abort::Code(MEMORY_INVALID_ACCESS))?;
    }
    Ok(())
}

/// A host function's result: its value or error code for the kernel, or a fatal error.
fn done(r: Step<i32>) -> Result<i32, HostFatal> {
    store::done(r)
}

/// `check_address`: `addr + len < size` (strict!) with `len >= 0`, used by `read_input`.
fn check_address<M: GuestMemory + ?Sized>(mem: &M, addr: i32, len: i32) -> Step<()> {
    if len < 0 {
        return Err(Abort::Code(MEMORY_INVALID_ACCESS));
    }
    // `len >= 0` (checked above): below 2^33, no overflow.
    let end = u64::from(addr as u32).saturating_add(len as u64);
    if end < mem.size() {
        Ok(())
    } else {
        Err(Abort::Code(MEMORY_INVALID_ACCESS))
    }
}

/// Truncate to `max_size` (an `i32`): `String.sub` with a negative size is an OCaml exception,
/// mapped to -8 here.
fn truncate(mut v: Vec<u8>, max_size: i32) -> Step<Vec<u8>> {
    let max = usize::try_from(max_size).map_err(|_| Abort::Code(GENERIC_INVALID_ACCESS))?;
    v.truncate(max);
    Ok(v)
}

impl<'a> HostState<'a> {
    /// Assemble the host state of one run.
    pub fn new(
        version: PvmVersion,
        durable: &'a mut Durable,
        input: &'a mut InputBuffer,
        output: &'a mut OutputBuffer,
        reveal: &'a mut dyn RevealHandler,
        debug: Option<&'a mut dyn DebugSink>,
    ) -> Self {
        Self {
            version,
            durable: CachedDurable::new(durable),
            input,
            output,
            reveal,
            debug,
            instantiated: false,
            keys: KeyCache::new(),
            key_buf: [0; KEY_BUF],
        }
    }

    /// Engines call this once the kernel is decoded, linked and instantiated, right before
    /// calling `kernel_run`: the kernel becomes the fallback kernel (`save_fallback_kernel`:
    /// `/kernel/boot.wasm` is copied to `/readonly/kernel/boot.wasm` if their value hashes
    /// differ), as Octez's fast execution does. If an engine forgets, the PVM does it after a
    /// `Returned`/`Trapped` outcome with the kernel as it was before the run.
    pub fn kernel_instantiated(&mut self) -> Result<(), HostFatal> {
        if !self.instantiated {
            self.instantiated = true;
            self.durable
                .with_durable(crate::state::save_fallback_kernel)
                .map_err(fatal)?;
        }
        Ok(())
    }

    /// Whether [`HostState::kernel_instantiated`] was called.
    pub fn was_instantiated(&self) -> bool {
        self.instantiated
    }

    /// PVM version of this run (decides which imports link).
    pub fn version(&self) -> PvmVersion {
        self.version
    }

    /// Durable storage as modified so far (flushes the value cache, see [`HostState::flush`]).
    pub fn durable(&mut self) -> Result<&Durable, HostFatal> {
        self.durable.durable().map_err(fatal)
    }

    /// Apply every pending durable change to the tree. The PVM calls this at the end of a run
    /// to observe storage failures; dropping the host state also flushes, silently.
    pub fn flush(&mut self) -> Result<(), HostFatal> {
        self.durable.flush().map_err(fatal)
    }

    /// Any `nds_*` import (V6): not supported. Octez aborts the computation when NDS is not
    /// activated (`Nds_host_func_without_nds_storage`), so this is an operational failure.
    pub fn nds_unsupported(&mut self, name: &'static str) -> Result<i32, HostFatal> {
        Err(HostFatal::Unsupported(name))
    }

    /// `read_input(info_addr, dst, max_bytes) -> i32`.
    pub fn read_input<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        info_addr: i32,
        dst: i32,
        max_bytes: i32,
    ) -> Result<i32, HostFatal> {
        done((|| {
            check_address(mem, info_addr, 8)?;
            let max_bytes = max_bytes.min(INPUT_OUTPUT_MAX_SIZE);
            check_address(mem, dst, max_bytes)?;
            let Some(msg) = self.input.dequeue() else {
                return Ok(0);
            };
            // `le_u max_bytes size`: max_bytes is non-negative here.
            let n = msg.payload.len().min(max_bytes as usize);
            write_mem(mem, dst, &msg.payload[..n])?;
            let counter =
                i32::try_from(msg.counter).map_err(|_| Abort::Code(GENERIC_INVALID_ACCESS))?;
            let mut info = [0u8; 8];
            info[..4].copy_from_slice(&msg.level.to_le_bytes());
            info[4..].copy_from_slice(&counter.to_le_bytes());
            write_mem(mem, info_addr, &info)?;
            Ok(len_i32(n))
        })())
    }

    /// `write_output(src, num_bytes) -> i32`: appends to the current outbox level.
    pub fn write_output<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        src: i32,
        num_bytes: i32,
    ) -> Result<i32, HostFatal> {
        done((|| {
            if num_bytes > INPUT_OUTPUT_MAX_SIZE {
                return Err(Abort::Code(INPUT_OUTPUT_TOO_LARGE));
            }
            let payload = read_mem(mem, src, num_bytes)?;
            match self.output.push(payload) {
                Ok(_) => Ok(0),
                Err(OutputError::FullOutbox) => Err(Abort::Code(FULL_OUTBOX)),
                Err(_) => Err(Abort::Code(GENERIC_INVALID_ACCESS)),
            }
        })())
    }

    /// `write_debug(src, num_bytes)`: no effect on the state; forwards the bytes (or an
    /// `Error code: N` message when unreadable, as Octez does) to the debug sink.
    pub fn write_debug<M: GuestMemory + ?Sized>(&mut self, mem: &mut M, src: i32, num_bytes: i32) {
        let Some(sink) = self.debug.as_deref_mut() else {
            return;
        };
        match read_mem(mem, src, num_bytes) {
            Ok(bytes) => sink.debug(&bytes),
            Err(Abort::Code(c)) => sink.debug(format!("Error code: {c}").as_bytes()),
            Err(Abort::Fatal(_)) => {}
        }
    }

    /// The fast backend of [`store`] and the key cache, borrowed side by side.
    #[inline(always)]
    fn split(&mut self) -> (Fast<'_, 'a>, &mut KeyCache) {
        (
            Fast {
                durable: &mut self.durable,
                key_buf: &mut self.key_buf,
            },
            &mut self.keys,
        )
    }

    /// `store_has(key, len) -> i32` ([`store::has`]).
    pub fn store_has<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
    ) -> Result<i32, HostFatal> {
        let (mut b, keys) = self.split();
        store::has(&mut b, keys, mem, key, key_len)
    }

    /// `store_exists(key, len) -> i32` (V2+, [`store::exists`]).
    pub fn store_exists<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
    ) -> Result<i32, HostFatal> {
        let (mut b, keys) = self.split();
        store::exists(&mut b, keys, mem, key, key_len)
    }

    /// `store_list_size(key, len) -> i64` ([`store::list_size`]).
    pub fn store_list_size<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
    ) -> Result<i64, HostFatal> {
        let (mut b, keys) = self.split();
        store::list_size(&mut b, keys, mem, key, key_len)
    }

    /// `store_get_nth_key(key, len, index, dst, max_size) -> i32` (deprecated,
    /// [`store::get_nth_key`]).
    pub fn store_get_nth_key<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
        index: i64,
        dst: i32,
        max_size: i32,
    ) -> Result<i32, HostFatal> {
        let (mut b, keys) = self.split();
        store::get_nth_key(&mut b, keys, mem, key, key_len, index, dst, max_size)
    }

    /// `store_delete(key, len) -> i32` ([`store::delete`]).
    pub fn store_delete<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
    ) -> Result<i32, HostFatal> {
        let (mut b, keys) = self.split();
        store::delete(&mut b, keys, mem, key, key_len)
    }

    /// `store_delete_value(key, len) -> i32` (V1+, [`store::delete_value`]).
    pub fn store_delete_value<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
    ) -> Result<i32, HostFatal> {
        store::delete_value(&mut self.split().0, mem, key, key_len)
    }

    /// `store_copy(from, from_len, to, to_len) -> i32` ([`store::copy`]).
    pub fn store_copy<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        from: i32,
        from_len: i32,
        to: i32,
        to_len: i32,
    ) -> Result<i32, HostFatal> {
        let (mut b, keys) = self.split();
        store::copy(&mut b, keys, mem, (from, from_len, to, to_len))
    }

    /// `store_move(from, from_len, to, to_len) -> i32` ([`store::move_tree`]).
    pub fn store_move<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        from: i32,
        from_len: i32,
        to: i32,
        to_len: i32,
    ) -> Result<i32, HostFatal> {
        let (mut b, keys) = self.split();
        store::move_tree(&mut b, keys, mem, (from, from_len, to, to_len))
    }

    /// `store_value_size(key, len) -> i32` ([`store::value_size`]).
    pub fn store_value_size<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
    ) -> Result<i32, HostFatal> {
        store::value_size(&mut self.split().0, mem, key, key_len)
    }

    /// `store_read(key, len, offset, dst, max_bytes) -> i32` ([`store::read`]: the bytes go
    /// straight from the value's chunks to guest memory).
    pub fn store_read<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
        offset: i32,
        dst: i32,
        max_bytes: i32,
    ) -> Result<i32, HostFatal> {
        store::read(
            &mut self.split().0,
            mem,
            (key, key_len, offset, dst, max_bytes),
        )
    }

    /// `store_write(key, len, offset, src, num_bytes) -> i32` ([`store::write`]: the payload
    /// is copied straight from guest memory into the value's chunks).
    pub fn store_write<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
        offset: i32,
        src: i32,
        num_bytes: i32,
    ) -> Result<i32, HostFatal> {
        store::write(
            &mut self.split().0,
            mem,
            (key, key_len, offset, src, num_bytes),
        )
    }

    /// `store_create(key, len, size) -> i32` (V1+, [`store::create`]): the zero value's
    /// chunks are not materialised.
    pub fn store_create<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
        size: i32,
    ) -> Result<i32, HostFatal> {
        store::create(&mut self.split().0, mem, key, key_len, size)
    }

    /// `__internal_store_get_hash(key, len, dst, max_size) -> i32` (V1+, [`store::get_hash`]).
    pub fn store_get_hash<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        key: i32,
        key_len: i32,
        dst: i32,
        max_size: i32,
    ) -> Result<i32, HostFatal> {
        let (mut b, keys) = self.split();
        store::get_hash(&mut b, keys, mem, (key, key_len, dst, max_size))
    }

    /// `reveal_preimage(hash, hash_len, dst, max_bytes) -> i32`: request `0x00 ‖ hash bytes`.
    pub fn reveal_preimage<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        hash: i32,
        hash_len: i32,
        dst: i32,
        max_bytes: i32,
    ) -> Result<i32, HostFatal> {
        done((|| {
            let h = load_io_bytes(mem, hash, hash_len)?;
            let mut req = Vec::with_capacity(h.len().saturating_add(1));
            req.push(0x00);
            req.extend_from_slice(&h);
            self.answer_reveal(mem, &req, dst, max_bytes)
        })())
    }

    /// `reveal_metadata(dst, max_bytes) -> i32`: request `0x01`; answer is 24 bytes.
    pub fn reveal_metadata<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        dst: i32,
        max_bytes: i32,
    ) -> Result<i32, HostFatal> {
        done(self.answer_reveal(mem, &[0x01], dst, max_bytes))
    }

    /// `reveal(payload, payload_len, dst, max_bytes) -> i32` (V3+): raw request bytes.
    pub fn reveal<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        payload: i32,
        payload_len: i32,
        dst: i32,
        max_bytes: i32,
    ) -> Result<i32, HostFatal> {
        done((|| {
            let req = load_io_bytes(mem, payload, payload_len)?;
            self.answer_reveal(mem, &req, dst, max_bytes)
        })())
    }

    fn answer_reveal<M: GuestMemory + ?Sized>(
        &mut self,
        mem: &mut M,
        request: &[u8],
        dst: i32,
        max_bytes: i32,
    ) -> Step<i32> {
        let answer = self
            .reveal
            .reveal(request)
            .map_err(|e| Abort::Fatal(HostFatal::Reveal(e)))?;
        let answer = truncate(answer, max_bytes)?;
        write_mem(mem, dst, &answer)?;
        Ok(len_i32(answer.len()))
    }
}

/// `Aux.load_bytes`: sizes above 4096 are -7 before touching memory.
fn load_io_bytes<M: GuestMemory + ?Sized>(mem: &M, addr: i32, len: i32) -> Step<Vec<u8>> {
    if len > INPUT_OUTPUT_MAX_SIZE {
        return Err(Abort::Code(INPUT_OUTPUT_TOO_LARGE));
    }
    read_mem(mem, addr, len)
}

/// The fast path's [`DurableBackend`]: the run's value-cached durable storage, and the buffer
/// for keys the memory does not lend.
struct Fast<'h, 'a> {
    durable: &'h mut CachedDurable<'a>,
    key_buf: &'h mut [u8; KEY_BUF],
}

impl DurableBackend for Fast<'_, '_> {
    type Fatal = HostFatal;
    type Value<'s>
        = ValueRef<'s>
    where
        Self: 's;

    /// The key's slot in the value cache, found by its raw bytes (a cached key is not parsed
    /// again).
    #[inline(always)]
    fn value<'s, M: GuestMemory + ?Sized>(
        &'s mut self,
        mem: &M,
        addr: i32,
        len: i32,
    ) -> Step<ValueRef<'s>> {
        let bytes = store::load_key_bytes(mem, self.key_buf, addr, len)?;
        self.durable
            .value(bytes)
            .map_err(fatal_step)?
            .map_err(store::key_error)
    }

    fn has(&mut self, k: &Key) -> Result<(bool, u64), HostFatal> {
        let d = self.durable.structure().map_err(fatal)?;
        let n = d.list_size(k).map_err(fatal)?;
        // The value is the child `@`: no children, no value (one tree walk, not two).
        let has_value = n > 0 && d.has_value(k).map_err(fatal)?;
        Ok((has_value, n))
    }

    fn exists(&mut self, k: &Key) -> Result<bool, HostFatal> {
        let d = self.durable.structure().map_err(fatal)?;
        d.exists(k).map_err(fatal)
    }

    fn list_size(&mut self, k: &Key) -> Result<u64, HostFatal> {
        let d = self.durable.structure().map_err(fatal)?;
        d.list_size(k).map_err(fatal)
    }

    fn nth_key(&mut self, k: &Key, index: i64) -> Result<Option<String>, HostFatal> {
        // A negative index lists nothing in Irmin: out of range.
        let Ok(i) = u64::try_from(index) else {
            return Ok(None);
        };
        let d = self.durable.structure().map_err(fatal)?;
        d.nth_key(k, i).map_err(fatal)
    }

    fn delete(&mut self, k: &Key) -> Result<(), HostFatal> {
        self.durable.delete(k).map_err(fatal)
    }

    fn copy(&mut self, from: &Key, to: &Key) -> Result<bool, HostFatal> {
        self.durable.copy(from, to).map_err(fatal)
    }

    fn move_tree(&mut self, from: &Key, to: &Key) -> Result<bool, HostFatal> {
        self.durable.move_tree(from, to).map_err(fatal)
    }

    fn subtree_hash(&mut self, k: &Key) -> Result<Option<Hash>, HostFatal> {
        self.durable.subtree_hash(k).map_err(fatal)
    }
}

impl ValueSlot for ValueRef<'_> {
    type Fatal = HostFatal;

    #[inline(always)]
    fn key(&self) -> &Key {
        ValueRef::key(self)
    }

    #[inline(always)]
    fn size(&mut self) -> Result<Option<u64>, HostFatal> {
        Ok(ValueRef::size(self))
    }

    /// Straight from the cached chunks to `sink`.
    #[inline(always)]
    fn read(
        &mut self,
        offset: u64,
        n: u64,
        mut sink: impl FnMut(usize, &[u8]) -> bool,
    ) -> Result<bool, HostFatal> {
        let mut ok = true;
        self.read_with(offset, n, |pos, piece| ok &= sink(pos, piece))
            .map_err(fatal)?;
        Ok(ok)
    }

    /// Straight from `fill` into the cached chunks.
    #[inline(always)]
    fn write(
        &mut self,
        offset: u64,
        n: u64,
        mut fill: impl FnMut(usize, &mut [u8]) -> bool,
    ) -> Result<bool, HostFatal> {
        let mut ok = true;
        self.write_with(offset, n, |pos, dst| ok &= fill(pos, dst))
            .map_err(fatal)?;
        Ok(ok)
    }

    #[inline(always)]
    fn create(&mut self, size: u64) -> Result<bool, HostFatal> {
        Ok(ValueRef::create(self, size))
    }

    #[inline(always)]
    fn delete(&mut self) -> Result<(), HostFatal> {
        ValueRef::delete(self);
        Ok(())
    }
}

/// Test doubles shared by this module's tests and [`store`]'s.
#[cfg(test)]
pub(crate) mod test_memory {
    use super::{GuestMemory, OutOfBounds};

    /// Guest memory double: a plain byte vector.
    pub(crate) struct Mem(pub(crate) Vec<u8>);

    impl GuestMemory for Mem {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfBounds> {
            let end = addr.checked_add(buf.len() as u64).ok_or(OutOfBounds)?;
            let src = usize::try_from(addr)
                .ok()
                .zip(usize::try_from(end).ok())
                .and_then(|(a, e)| self.0.get(a..e))
                .ok_or(OutOfBounds)?;
            buf.copy_from_slice(src);
            Ok(())
        }
        fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), OutOfBounds> {
            let end = addr.checked_add(data.len() as u64).ok_or(OutOfBounds)?;
            let dst = usize::try_from(addr)
                .ok()
                .zip(usize::try_from(end).ok())
                .and_then(|(a, e)| self.0.get_mut(a..e))
                .ok_or(OutOfBounds)?;
            dst.copy_from_slice(data);
            Ok(())
        }
    }
}

#[cfg(test)]
#[expect(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_wrap,
    reason = "test fixtures: small constant addresses and lengths in a 64 KiB memory"
)]
mod tests {
    use durable_tree::Tree;

    use super::*;
    use crate::buffers::InputMessage;

    use test_memory::Mem;

    /// Reveal double: answers with `request ‖ "!"`, or fails on `ff`.
    struct Echo(Vec<Vec<u8>>);

    impl RevealHandler for Echo {
        fn reveal(&mut self, request: &[u8]) -> Result<Vec<u8>, RevealError> {
            self.0.push(request.to_vec());
            if request == [0xff] {
                return Err(RevealError("unavailable".into()));
            }
            let mut a = request.to_vec();
            a.push(b'!');
            Ok(a)
        }
    }

    struct Sink(Vec<Vec<u8>>);

    impl DebugSink for Sink {
        fn debug(&mut self, bytes: &[u8]) {
            self.0.push(bytes.to_vec());
        }
    }

    struct World {
        durable: Durable,
        input: InputBuffer,
        output: OutputBuffer,
        reveal: Echo,
        sink: Sink,
        mem: Mem,
    }

    impl World {
        fn new() -> Self {
            let mut output = OutputBuffer::new(10, 2);
            output.start_level(7).unwrap();
            Self {
                durable: Durable::new(Tree::empty()),
                input: InputBuffer::new(),
                output,
                reveal: Echo(Vec::new()),
                sink: Sink(Vec::new()),
                mem: Mem(vec![0; 4096 * 3]),
            }
        }

        /// Run `f` with a host state and the memory.
        fn host<R>(&mut self, f: impl FnOnce(&mut HostState<'_>, &mut Mem) -> R) -> R {
            let mut h = HostState::new(
                PvmVersion::V6,
                &mut self.durable,
                &mut self.input,
                &mut self.output,
                &mut self.reveal,
                Some(&mut self.sink),
            );
            let r = f(&mut h, &mut self.mem);
            h.flush().unwrap();
            r
        }

        /// Put `s` in memory at `addr`, returning `(addr, len)`.
        fn put(&mut self, addr: i32, s: &[u8]) -> (i32, i32) {
            self.mem.0[addr as usize..addr as usize + s.len()].copy_from_slice(s);
            (addr, s.len() as i32)
        }

        fn get(&self, addr: usize, len: usize) -> &[u8] {
            &self.mem.0[addr..addr + len]
        }

        fn set(&mut self, k: &str, v: &[u8]) {
            self.durable
                .set(&Key::parse(k.as_bytes()).unwrap(), v)
                .unwrap();
        }

        fn value(&self, k: &str) -> Option<Vec<u8>> {
            self.durable
                .read_all(&Key::parse(k.as_bytes()).unwrap())
                .unwrap()
        }
    }

    const OOB: i32 = 3 * 4096 + 100;

    #[test]
    fn key_loading_errors() {
        let mut w = World::new();
        let long = vec![b'a'; 241];
        let (a, l) = w.put(0, &long);
        assert_eq!(
            w.host(|h, m| h.store_has(m, a, l)).unwrap(),
            STORE_KEY_TOO_LARGE
        );
        // Too large is checked before memory.
        assert_eq!(
            w.host(|h, m| h.store_has(m, OOB, 241)).unwrap(),
            STORE_KEY_TOO_LARGE
        );
        assert_eq!(
            w.host(|h, m| h.store_has(m, OOB, 4)).unwrap(),
            MEMORY_INVALID_ACCESS
        );
        assert_eq!(
            w.host(|h, m| h.store_has(m, 0, -1)).unwrap(),
            GENERIC_INVALID_ACCESS
        );
        for bad in [&b"a"[..], b"/", b"/a/", b"//a", b"/a@", b"/\xff"] {
            let (a, l) = w.put(0, bad);
            assert_eq!(
                w.host(|h, m| h.store_has(m, a, l)).unwrap(),
                STORE_INVALID_KEY
            );
        }
        // 240 bytes is fine; the empty key is the (readonly) root, even out of bounds.
        let mut k = b"/".to_vec();
        k.extend(vec![b'a'; 239]);
        let (a, l) = w.put(0, &k);
        assert_eq!(w.host(|h, m| h.store_has(m, a, l)).unwrap(), 0);
        assert_eq!(
            w.host(|h, m| h.store_delete(m, OOB, 0)).unwrap(),
            STORE_READONLY_VALUE
        );
    }

    #[test]
    fn has_exists_list_size() {
        let mut w = World::new();
        w.set("/a", b"x");
        w.set("/a/b", b"y");
        w.set("/c/d", b"z");
        w.set("/e", b"v");
        let q = |w: &mut World, k: &str| {
            let (a, l) = w.put(0, k.as_bytes());
            let has = w.host(|h, m| h.store_has(m, a, l)).unwrap();
            let ex = w.host(|h, m| h.store_exists(m, a, l)).unwrap();
            let n = w.host(|h, m| h.store_list_size(m, a, l)).unwrap();
            (has, ex, n)
        };
        assert_eq!(q(&mut w, "/a"), (3, 1, 2));
        assert_eq!(q(&mut w, "/c"), (2, 1, 1));
        assert_eq!(q(&mut w, "/e"), (1, 1, 1));
        assert_eq!(q(&mut w, "/zz"), (0, 0, 0));
        assert_eq!(q(&mut w, ""), (2, 1, 3));
        assert_eq!(w.host(|h, m| h.store_list_size(m, 0, 241)).unwrap(), -1);
    }

    #[test]
    fn get_nth_key() {
        let mut w = World::new();
        w.set("/a", b"x");
        w.set("/a/bb", b"y");
        w.set("/a/c", b"y");
        let (a, l) = w.put(0, b"/a");
        let nth = |w: &mut World, i: i64, max: i32| {
            let r = w
                .host(|h, m| h.store_get_nth_key(m, a, l, i, 100, max))
                .unwrap();
            (r, w.get(100, r.max(0) as usize).to_vec())
        };
        assert_eq!(nth(&mut w, 0, 10), (0, vec![]));
        assert_eq!(nth(&mut w, 1, 10), (2, b"bb".to_vec()));
        assert_eq!(nth(&mut w, 1, 1), (1, b"b".to_vec()));
        assert_eq!(nth(&mut w, 2, 10), (1, b"c".to_vec()));
        assert_eq!(nth(&mut w, 3, 10).0, STORE_INVALID_SUBKEY_INDEX);
        assert_eq!(nth(&mut w, -1, 10).0, STORE_INVALID_SUBKEY_INDEX);
        let (a2, l2) = w.put(0, b"/zz");
        let r = w
            .host(|h, m| h.store_get_nth_key(m, a2, l2, 0, 100, 10))
            .unwrap();
        assert_eq!(r, STORE_NOT_A_NODE);
        let (a, l) = w.put(0, b"/a");
        let r = w
            .host(|h, m| h.store_get_nth_key(m, a, l, 1, OOB, 10))
            .unwrap();
        assert_eq!(r, MEMORY_INVALID_ACCESS);
    }

    #[test]
    fn delete_and_delete_value() {
        let mut w = World::new();
        w.set("/a", b"x");
        w.set("/a/b", b"y");
        let (a, l) = w.put(0, b"/a");
        assert_eq!(w.host(|h, m| h.store_delete_value(m, a, l)).unwrap(), 0);
        assert_eq!(w.value("/a"), None);
        assert_eq!(w.value("/a/b"), Some(b"y".to_vec()));
        assert_eq!(w.host(|h, m| h.store_delete(m, a, l)).unwrap(), 0);
        assert_eq!(w.value("/a/b"), None);
        assert_eq!(
            w.host(|h, m| h.store_delete(m, a, l)).unwrap(),
            0,
            "missing is fine"
        );
        w.set("/readonly/x", b"r");
        let (a, l) = w.put(0, b"/readonly/x");
        assert_eq!(
            w.host(|h, m| h.store_delete(m, a, l)).unwrap(),
            STORE_READONLY_VALUE
        );
        assert_eq!(
            w.host(|h, m| h.store_delete_value(m, a, l)).unwrap(),
            STORE_READONLY_VALUE
        );
        let (a, l) = w.put(0, b"/readonly");
        assert_eq!(
            w.host(|h, m| h.store_delete(m, a, l)).unwrap(),
            STORE_READONLY_VALUE
        );
        assert_eq!(w.value("/readonly/x"), Some(b"r".to_vec()));
    }

    #[test]
    fn copy_and_move() {
        let mut w = World::new();
        w.set("/readonly/k", b"kernel");
        w.set("/a", b"1");
        w.set("/a/b", b"2");
        let (f, fl) = w.put(0, b"/readonly/k");
        let (t, tl) = w.put(100, b"/k");
        assert_eq!(w.host(|h, m| h.store_copy(m, f, fl, t, tl)).unwrap(), 0);
        assert_eq!(w.value("/k"), Some(b"kernel".to_vec()));
        // Destination readonly is checked before the source exists.
        let (f, fl) = w.put(0, b"/nope");
        let (t, tl) = w.put(100, b"/readonly/z");
        assert_eq!(
            w.host(|h, m| h.store_copy(m, f, fl, t, tl)).unwrap(),
            STORE_READONLY_VALUE
        );
        let (t, tl) = w.put(100, b"/z");
        assert_eq!(
            w.host(|h, m| h.store_copy(m, f, fl, t, tl)).unwrap(),
            STORE_NOT_A_NODE
        );
        // Key errors of `from` come first.
        assert_eq!(
            w.host(|h, m| h.store_copy(m, OOB, 3, OOB, 999)).unwrap(),
            -6
        );
        // Move a into a/b/c (re-rooted), from readonly refused.
        let (f, fl) = w.put(0, b"/a");
        let (t, tl) = w.put(100, b"/a/b/c");
        assert_eq!(w.host(|h, m| h.store_move(m, f, fl, t, tl)).unwrap(), 0);
        assert_eq!(w.value("/a/b/c"), Some(b"1".to_vec()));
        assert_eq!(w.value("/a/b/c/b"), Some(b"2".to_vec()));
        assert_eq!(w.value("/a/b"), None);
        let (f, fl) = w.put(0, b"/readonly/k");
        let (t, tl) = w.put(100, b"/q");
        assert_eq!(
            w.host(|h, m| h.store_move(m, f, fl, t, tl)).unwrap(),
            STORE_READONLY_VALUE
        );
        assert_eq!(
            w.host(|h, m| h.store_move(m, t, tl, f, fl)).unwrap(),
            STORE_READONLY_VALUE
        );
        assert_eq!(
            w.host(|h, m| h.store_move(m, t, tl, t, tl)).unwrap(),
            STORE_NOT_A_NODE
        );
    }

    #[test]
    fn value_size_and_read() {
        let mut w = World::new();
        let big: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        w.set("/v", &big);
        w.set("/e", b"");
        w.set("/d/x", b"1");
        let (v, vl) = w.put(0, b"/v");
        assert_eq!(w.host(|h, m| h.store_value_size(m, v, vl)).unwrap(), 3000);
        let (d, dl) = w.put(10, b"/d");
        assert_eq!(
            w.host(|h, m| h.store_value_size(m, d, dl)).unwrap(),
            STORE_NOT_A_VALUE
        );
        let r = w
            .host(|h, m| h.store_read(m, v, vl, 1000, 200, 2048))
            .unwrap();
        assert_eq!(r, 2000);
        assert_eq!(w.get(200, 2000), &big[1000..3000]);
        let r = w
            .host(|h, m| h.store_read(m, v, vl, 2990, 200, 100))
            .unwrap();
        assert_eq!(r, 10);
        assert_eq!(
            w.host(|h, m| h.store_read(m, v, vl, 0, 200, 2049)).unwrap(),
            -7
        );
        // -7 before -3.
        assert_eq!(
            w.host(|h, m| h.store_read(m, d, dl, 0, 200, 2049)).unwrap(),
            -7
        );
        assert_eq!(
            w.host(|h, m| h.store_read(m, d, dl, 0, 200, 10)).unwrap(),
            -3
        );
        assert_eq!(
            w.host(|h, m| h.store_read(m, v, vl, 3000, 200, 10))
                .unwrap(),
            -4
        );
        assert_eq!(
            w.host(|h, m| h.store_read(m, v, vl, -1, 200, 10)).unwrap(),
            -4
        );
        let (e, el) = w.put(20, b"/e");
        assert_eq!(
            w.host(|h, m| h.store_read(m, e, el, 0, 200, 10)).unwrap(),
            -4
        );
        assert_eq!(
            w.host(|h, m| h.store_read(m, v, vl, 0, OOB, 10)).unwrap(),
            -6
        );
        assert_eq!(w.host(|h, m| h.store_read(m, v, vl, 0, OOB, 0)).unwrap(), 0);
    }

    #[test]
    fn write_checks_in_order() {
        let mut w = World::new();
        let (k, kl) = w.put(0, b"/w");
        let (src, _) = w.put(100, b"hello");
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, src, 5)).unwrap(),
            0
        );
        assert_eq!(w.value("/w"), Some(b"hello".to_vec()));
        // Append at exactly the end; no gaps.
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 5, src, 2)).unwrap(),
            0
        );
        assert_eq!(w.value("/w"), Some(b"hellohe".to_vec()));
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 8, src, 1)).unwrap(),
            -4
        );
        // Overwrite inside never shrinks.
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, src, 1)).unwrap(),
            0
        );
        assert_eq!(w.value("/w"), Some(b"hellohe".to_vec()));
        // Overflow check (-5) comes before the memory check (-6).
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, OOB, i32::MAX))
                .unwrap(),
            -5
        );
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, src, -1)).unwrap(),
            -5
        );
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, OOB, 5)).unwrap(),
            -6
        );
        // -6 before -9, -9 before -7, -7 before -4.
        let (r, rl) = w.put(0, b"/readonly/w");
        assert_eq!(
            w.host(|h, m| h.store_write(m, r, rl, 0, OOB, 5)).unwrap(),
            -6
        );
        assert_eq!(
            w.host(|h, m| h.store_write(m, r, rl, 0, src, 2049))
                .unwrap(),
            -9
        );
        let (k, kl) = w.put(0, b"/w");
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 99, src, 2049))
                .unwrap(),
            -7
        );
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, -1, src, 1)).unwrap(),
            -8
        );
        // Zero-length write at a missing key creates an empty value.
        let (n, nl) = w.put(0, b"/n");
        assert_eq!(
            w.host(|h, m| h.store_write(m, n, nl, 0, OOB, 0)).unwrap(),
            0
        );
        assert_eq!(w.value("/n"), Some(vec![]));
    }

    #[test]
    fn key_cache_follows_the_bytes() {
        let mut w = World::new();
        w.set("/a", b"12");
        w.set("/b", b"123");
        let size = |w: &mut World, k: &[u8]| {
            let (a, l) = w.put(0, k);
            w.host(|h, m| h.store_value_size(m, a, l)).unwrap()
        };
        // Same address and length, different bytes: each call sees its own key.
        assert_eq!(size(&mut w, b"/a"), 2);
        assert_eq!(size(&mut w, b"/a"), 2);
        assert_eq!(size(&mut w, b"/b"), 3);
        assert_eq!(size(&mut w, b"/!"), STORE_INVALID_KEY);
        assert_eq!(size(&mut w, b"/b"), 3);
        assert_eq!(size(&mut w, b"/b/"), STORE_INVALID_KEY);
        assert_eq!(size(&mut w, b"/c"), STORE_NOT_A_VALUE);
        assert_eq!(size(&mut w, b""), STORE_NOT_A_VALUE);
        // A prefix of the cached key is another key.
        w.set("/bb", b"1234");
        assert_eq!(size(&mut w, b"/bb"), 4);
        assert_eq!(size(&mut w, b"/b"), 3);
        // Within one `HostState`, as engines use it.
        let (a, l) = w.put(0, b"/a");
        let (b, bl) = w.put(100, b"/b");
        let (src, _) = w.put(200, b"xyz");
        w.host(|h, m| {
            assert_eq!(h.store_value_size(m, a, l).unwrap(), 2);
            assert_eq!(h.store_write(m, b, bl, 3, src, 3).unwrap(), 0);
            assert_eq!(h.store_value_size(m, b, bl).unwrap(), 6);
            assert_eq!(h.store_value_size(m, a, l).unwrap(), 2);
            assert_eq!(h.store_copy(m, b, bl, a, l).unwrap(), 0);
            assert_eq!(h.store_value_size(m, a, l).unwrap(), 6);
        });
        assert_eq!(w.value("/a"), Some(b"123xyz".to_vec()));
    }

    #[test]
    fn large_writes_check_memory_then_size() {
        let mut w = World::new();
        let (k, kl) = w.put(0, b"/w");
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, OOB, 3000))
                .unwrap(),
            MEMORY_INVALID_ACCESS
        );
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, 100, 3000))
                .unwrap(),
            INPUT_OUTPUT_TOO_LARGE
        );
        let (src, _) = w.put(100, &[7; 2048]);
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 0, src, 2048))
                .unwrap(),
            0
        );
        assert_eq!(
            w.host(|h, m| h.store_write(m, k, kl, 2048, src, 1))
                .unwrap(),
            0
        );
        assert_eq!(w.value("/w"), Some(vec![7; 2049]));
    }

    #[test]
    fn create() {
        let mut w = World::new();
        let (k, kl) = w.put(0, b"/c");
        assert_eq!(w.host(|h, m| h.store_create(m, k, kl, 1000)).unwrap(), 0);
        assert_eq!(w.value("/c"), Some(vec![0; 1000]));
        assert_eq!(w.host(|h, m| h.store_create(m, k, kl, 1)).unwrap(), -13);
        assert_eq!(w.host(|h, m| h.store_create(m, k, kl, -1)).unwrap(), -5);
        let (r, rl) = w.put(0, b"/readonly/c");
        assert_eq!(w.host(|h, m| h.store_create(m, r, rl, -1)).unwrap(), -5);
        assert_eq!(w.host(|h, m| h.store_create(m, r, rl, 1)).unwrap(), -9);
    }

    #[test]
    fn get_hash() {
        let mut w = World::new();
        w.set("/h", b"x");
        let expected = w
            .durable
            .subtree_hash(&Key::parse(b"/h").unwrap())
            .unwrap()
            .unwrap();
        let (k, kl) = w.put(0, b"/h");
        assert_eq!(
            w.host(|h, m| h.store_get_hash(m, k, kl, 100, 64)).unwrap(),
            32
        );
        assert_eq!(w.get(100, 32), &expected.0);
        assert_eq!(
            w.host(|h, m| h.store_get_hash(m, k, kl, 200, 4)).unwrap(),
            4
        );
        assert_eq!(
            w.get(200, 5),
            &[
                expected.0[0],
                expected.0[1],
                expected.0[2],
                expected.0[3],
                0
            ]
        );
        assert_eq!(
            w.host(|h, m| h.store_get_hash(m, k, kl, OOB, 32)).unwrap(),
            -6
        );
        let (k, kl) = w.put(0, b"/none");
        assert_eq!(
            w.host(|h, m| h.store_get_hash(m, k, kl, 100, 32)).unwrap(),
            -10
        );
    }

    #[test]
    fn read_input_semantics() {
        let mut w = World::new();
        assert_eq!(
            w.host(|h, m| h.read_input(m, 0, 100, 10)).unwrap(),
            0,
            "empty buffer"
        );
        for (c, p) in [(0u64, b"\x00\x01".to_vec()), (1, vec![7; 5000])] {
            w.input
                .enqueue(InputMessage {
                    level: 9,
                    counter: c,
                    payload: p,
                })
                .unwrap();
        }
        let size = 3 * 4096;
        // Strict bound: info at size - 8 fails, and nothing is dequeued.
        assert_eq!(
            w.host(|h, m| h.read_input(m, size - 8, 100, 10)).unwrap(),
            -6
        );
        assert_eq!(
            w.host(|h, m| h.read_input(m, 0, size - 10, 10)).unwrap(),
            -6
        );
        assert_eq!(w.host(|h, m| h.read_input(m, 0, 100, -1)).unwrap(), -6);
        assert_eq!(w.input.len(), 2);
        assert_eq!(w.host(|h, m| h.read_input(m, 0, 100, 10)).unwrap(), 2);
        assert_eq!(w.get(0, 8), &[9, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(w.get(100, 2), b"\x00\x01");
        // max_bytes clipped to 4096; the rest of the message is lost.
        assert_eq!(w.host(|h, m| h.read_input(m, 0, 100, 9000)).unwrap(), 4096);
        assert_eq!(w.get(0, 8), &[9, 0, 0, 0, 1, 0, 0, 0]);
        assert!(w.input.is_empty());
    }

    #[test]
    fn write_output_semantics() {
        let mut w = World::new();
        let (s, l) = w.put(0, b"out");
        assert_eq!(w.host(|h, m| h.write_output(m, s, 4097)).unwrap(), -7);
        assert_eq!(w.host(|h, m| h.write_output(m, OOB, 3)).unwrap(), -6);
        assert_eq!(w.host(|h, m| h.write_output(m, s, -1)).unwrap(), -8);
        assert_eq!(w.host(|h, m| h.write_output(m, s, l)).unwrap(), 0);
        assert_eq!(w.host(|h, m| h.write_output(m, s, 0)).unwrap(), 0);
        // Limit 2 in this world.
        assert_eq!(w.host(|h, m| h.write_output(m, s, l)).unwrap(), -11);
        assert_eq!(w.output.outbox(7).unwrap(), &[b"out".to_vec(), vec![]]);
        let mut fresh = OutputBuffer::new(10, 100);
        let mut h = HostState::new(
            PvmVersion::V6,
            &mut w.durable,
            &mut w.input,
            &mut fresh,
            &mut w.reveal,
            None,
        );
        assert_eq!(
            h.write_output(&mut w.mem, s, l).unwrap(),
            -8,
            "no outbox level yet"
        );
    }

    #[test]
    fn write_debug_goes_to_sink() {
        let mut w = World::new();
        let (s, l) = w.put(0, b"dbg");
        w.host(|h, m| h.write_debug(m, s, l));
        w.host(|h, m| h.write_debug(m, OOB, 1));
        assert_eq!(w.sink.0, vec![b"dbg".to_vec(), b"Error code: -6".to_vec()]);
    }

    #[test]
    fn reveals() {
        let mut w = World::new();
        let (hsh, hl) = w.put(0, &[0xaa; 33]);
        let r = w
            .host(|h, m| h.reveal_preimage(m, hsh, hl, 100, 10))
            .unwrap();
        assert_eq!(r, 10);
        let mut req = vec![0x00];
        req.extend([0xaa; 33]);
        assert_eq!(w.reveal.0.last().unwrap(), &req);
        assert_eq!(w.get(100, 10), &req[..10]);
        assert_eq!(
            w.host(|h, m| h.reveal_preimage(m, hsh, 4097, 100, 10))
                .unwrap(),
            -7
        );
        assert_eq!(
            w.host(|h, m| h.reveal_preimage(m, OOB, 1, 100, 10))
                .unwrap(),
            -6
        );
        assert_eq!(w.host(|h, m| h.reveal_metadata(m, 200, 100)).unwrap(), 2);
        assert_eq!(w.get(200, 2), b"\x01!");
        assert_eq!(w.host(|h, m| h.reveal_metadata(m, OOB, 100)).unwrap(), -6);
        let (p, pl) = w.put(0, &[0x03]);
        assert_eq!(w.host(|h, m| h.reveal(m, p, pl, 300, 100)).unwrap(), 2);
        assert_eq!(w.get(300, 2), b"\x03!");
        assert_eq!(w.host(|h, m| h.reveal(m, p, 4097, 300, 100)).unwrap(), -7);
        let (p, pl) = w.put(0, &[0xff]);
        assert!(matches!(
            w.host(|h, m| h.reveal(m, p, pl, 300, 100)),
            Err(HostFatal::Reveal(_))
        ));
    }

    #[test]
    fn instantiation_saves_fallback_once() {
        let mut w = World::new();
        w.set("/kernel/boot.wasm", b"k1");
        w.host(|h, _| {
            assert!(!h.was_instantiated());
            h.kernel_instantiated().unwrap();
            assert!(h.was_instantiated());
        });
        assert_eq!(w.value("/readonly/kernel/boot.wasm"), Some(b"k1".to_vec()));
    }

    /// One random host call on the key slots at 0, 256, 512 (see `cached_and_fresh_hosts_agree`).
    fn random_call(h: &mut HostState<'_>, m: &mut Mem, r: &[u64; 6]) -> i64 {
        let slot = |x: u64| (x % 3) as i32 * 256;
        let (a, b, c) = (slot(r[1]), slot(r[2]), r[3] as i32);
        let len = |a: i32, m: &Mem| m.0[a as usize + 250] as i32;
        let (la, lb) = (len(a, m), len(b, m));
        let off = (r[4] % 1100) as i32 - 2;
        let n = match r[5] % 5 {
            0 => 0,
            1 => 2049,
            _ => (r[5] % 1500) as i32,
        };
        let code = match r[0] % 14 {
            0 | 1 => h.store_write(m, a, la, off, 4096 + (c & 1023), n),
            2 | 3 => h.store_read(m, a, la, off, 8192, n),
            4 => h.store_value_size(m, a, la),
            5 => h.store_create(m, a, la, n - 1),
            6 => h.store_delete_value(m, a, la),
            7 => h.store_has(m, a, la),
            8 => h.store_exists(m, a, la),
            9 => return h.store_list_size(m, a, la).unwrap(),
            10 => h.store_copy(m, a, la, b, lb),
            11 => h.store_move(m, a, la, b, lb),
            12 if c % 4 == 0 => h.store_delete(m, a, la),
            12 => h.store_get_nth_key(m, a, la, i64::from(c % 4), 8192, 20),
            _ => h.store_get_hash(m, a, la, 8192, 32),
        };
        i64::from(code.unwrap())
    }

    /// The same random host calls through one host state (the value cache lives across calls)
    /// and through a fresh host state per call (flushed after each) return the same codes,
    /// write the same memory and leave the same tree.
    #[test]
    fn cached_and_fresh_hosts_agree() {
        const KEYS: &[&[u8]] = &[
            b"/a",
            b"/a/b",
            b"/a/b/c",
            b"/b",
            b"/readonly/r",
            b"",
            b"/a/",
            b"/x/y",
            b"/b/0",
        ];
        let mut rng = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for round in 0..30 {
            let (mut one, mut fresh) = (World::new(), World::new());
            for w in [&mut one, &mut fresh] {
                w.set("/a", &[1; 700]);
                w.set("/readonly/r", b"ro");
                for i in 0..4096 {
                    w.mem.0[4096 + i] = (i * 7 + round) as u8;
                }
            }
            let calls: Vec<[u64; 6]> = (0..300)
                .map(|_| [next(), next(), next(), next(), next(), next()])
                .collect();
            // Key slots, rewritten now and then; the length sits at slot + 250.
            let set_keys = |mem: &mut [u8], r: u64| {
                for (s, x) in [(0usize, r), (256, r >> 8), (512, r >> 16)] {
                    let k = KEYS[(x % KEYS.len() as u64) as usize];
                    mem[s..s + k.len()].copy_from_slice(k);
                    mem[s + 250] = k.len() as u8;
                }
            };
            let mut got_one = Vec::new();
            let mut got_fresh = Vec::new();
            one.host(|h, m| {
                for (i, r) in calls.iter().enumerate() {
                    if i % 7 == 0 {
                        set_keys(&mut m.0, r[5]);
                    }
                    got_one.push((random_call(h, m, r), m.0[8192..8192 + 64].to_vec()));
                }
            });
            for (i, r) in calls.iter().enumerate() {
                if i % 7 == 0 {
                    set_keys(&mut fresh.mem.0, r[5]);
                }
                let v = fresh.host(|h, m| random_call(h, m, r));
                got_fresh.push((v, fresh.mem.0[8192..8192 + 64].to_vec()));
            }
            assert_eq!(got_one, got_fresh, "round {round}");
            // The calls mostly succeed (writes, reads, creates, copies...), not only fail.
            let ok = got_one.iter().filter(|(c, _)| *c >= 0).count();
            assert!(ok > calls.len() / 3, "round {round}: {ok} successes");
            assert_eq!(
                one.durable.tree().hash().unwrap(),
                fresh.durable.tree().hash().unwrap(),
                "round {round}"
            );
        }
    }
}
