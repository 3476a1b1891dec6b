//! [`WasmtimeEngine`]: the fast [`KernelEngine`] (`wasm-pvm.md` §3.5–§3.7, §8.1).
//!
//! One `run` = validate (cached), link-check against the PVM version, instantiate the
//! instrumented module, set the frame budget, run the start function, call `kernel_run`, all on
//! the engine's run thread (large native stack, kept across runs; `run` waits for it). Host
//! calls go straight to [`HostState`] with the guest memory seen as a [`GuestMemory`] slice (no
//! allocation in this crate per call).
//!
//! Cancellation trade-off (see [`Options`]): by default an [`Interrupt`] is seen before a run
//! and at every host call, which costs nothing measurable (compute runs at about 1.1× bare
//! wasmtime, the cost of the depth instrumentation). A kernel looping forever *without* host
//! calls is then not cancellable: its run thread only stops with the process (the node keeps
//! running, since the kernel has its own thread). `Options { interruptible: true }` also
//! cancels such loops, through wasmtime epoch checks at every function entry and loop header,
//! at 1.4–2× on call-heavy compute. Neither ever decides a result: a cancelled run is
//! [`EngineError::Cancelled`] and the PVM state is not advanced.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use context_hash::Hash;
use wasm_pvm::{
    EngineError, GuestMemory, HOST_FUNCTIONS, HOST_MODULE, HostFatal, HostFn, HostFnSpec,
    HostState, KERNEL_RUN, KernelEngine, OutOfBounds, RunOutcome, ValType, host_function_signature,
};
use wasmtime::{
    Caller, Engine, Extern, InstancePre, Linker, Memory, Module, Store, Trap, UpdateDeadline, Val,
};

use crate::config::{Options, RUN_THREAD_STACK, wasmtime_config};
use crate::disk_cache::{DiskCache, DiskCacheStats};
use crate::instrument::{BUDGET_EXPORT, START_EXPORT, instrument};
use crate::validate::{ImportType, ModuleInfo, Rejection, validate};

/// Number of compiled kernels kept (`Kernel_cache.create 2` in `fast/module_cache.ml`).
pub const MODULE_CACHE_SIZE: usize = 2;

/// Failure to build the wasmtime engine (a configuration bug, not a kernel property).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the wasmtime engine: {0}")]
pub struct BuildError(String);

/// Cancels kernel runs from any thread: seen before a run, at every host call and, with
/// `Options { interruptible: true }`, anywhere in compiled code (epoch interruption). Never
/// decides a result: a cancelled run returns [`EngineError::Cancelled`] and the PVM state is
/// not advanced.
///
/// The request is sticky: once [`Interrupt::interrupt`] is called, the run in progress and
/// every later run of the engine are cancelled until [`Interrupt::clear`].
#[derive(Clone)]
pub struct Interrupt {
    engine: Engine,
    flag: Arc<AtomicBool>,
}

impl Interrupt {
    /// Cancel the run in progress (if any) and the following ones.
    pub fn interrupt(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.engine.increment_epoch();
    }

    /// Allow runs again.
    pub fn clear(&self) {
        self.flag.store(false, Ordering::SeqCst);
    }

    /// Whether runs are currently being cancelled.
    pub fn is_interrupted(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Interrupt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupt")
            .field("interrupted", &self.is_interrupted())
            .finish()
    }
}

/// Marker error raised by the epoch callback when the run is cancelled.
#[derive(Debug, thiserror::Error)]
#[error("kernel run cancelled")]
struct CancelMarker;

/// Pointer to the [`HostState`] of the current run, stored in the wasmtime store.
///
/// wasmtime requires `'static` store data, while a `HostState` borrows the PVM state for one
/// run; the lifetime is erased here and the pointer is only dereferenced while `run` holds the
/// exclusive borrow (the store is dropped before `run` returns).
struct HostPtr(NonNull<HostState<'static>>);

// SAFETY: the pointee is a `HostState`, which is `Send` (it only borrows `Send` data, see
// `wasm_pvm::engine`), and it is exclusively borrowed by `run` for the whole life of the store;
// only the run thread dereferences the pointer.
#[expect(
    unsafe_code,
    reason = "lifetime-erased pointer to the per-run host state"
)]
unsafe impl Send for HostPtr {}

/// `HostPtr` is only sound to send because the host state itself is `Send`.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<HostState<'static>>();
};

/// Store data of one run.
struct Ctx {
    host: HostPtr,
    memory: Option<Memory>,
    /// The engine's interrupt flag, checked at every host call.
    cancel: Arc<AtomicBool>,
}

impl Ctx {
    /// The host state of the run.
    #[expect(unsafe_code, reason = "dereference of the per-run host state pointer")]
    fn host(&mut self) -> &mut HostState<'static> {
        // SAFETY: `run` created the pointer from a `&mut HostState` that stays exclusively
        // borrowed until the store (which owns this `Ctx`) is dropped, and the store is only
        // used by the run thread; host calls never overlap (no re-entrance), and the returned
        // borrow is tied to `&mut self`, so this is the only live reference to the host state.
        unsafe { self.host.0.as_mut() }
    }
}

/// Guest memory 0 as a byte slice.
struct SliceMemory<'m>(&'m mut [u8]);

fn range(addr: u64, len: usize, size: usize) -> Result<std::ops::Range<usize>, OutOfBounds> {
    let start = usize::try_from(addr).map_err(|_| OutOfBounds)?;
    let end = start.checked_add(len).ok_or(OutOfBounds)?;
    if end <= size {
        Ok(start..end)
    } else {
        Err(OutOfBounds)
    }
}

impl GuestMemory for SliceMemory<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), OutOfBounds> {
        let r = range(addr, buf.len(), self.0.len())?;
        buf.copy_from_slice(&self.0[r]);
        Ok(())
    }

    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), OutOfBounds> {
        let r = range(addr, data.len(), self.0.len())?;
        self.0[r].copy_from_slice(data);
        Ok(())
    }

    fn bytes(&self, addr: u64, len: usize) -> Option<&[u8]> {
        range(addr, len, self.0.len()).ok().map(|r| &self.0[r])
    }
}

/// Run `f` on the host state and guest memory of the caller's run, unless the run is being
/// cancelled.
fn with_host<R>(
    caller: &mut Caller<'_, Ctx>,
    f: impl FnOnce(&mut HostState<'_>, &mut SliceMemory<'_>) -> Result<R, HostFatal>,
) -> wasmtime::Result<R> {
    // Relaxed: the flag carries no data, and a late observation only delays cancellation.
    if caller.data().cancel.load(Ordering::Relaxed) {
        return Err(wasmtime::Error::new(CancelMarker));
    }
    let Some(memory) = caller.data().memory else {
        return Err(wasmtime::Error::msg(
            "host call before the memory was bound",
        ));
    };
    let (data, ctx) = memory.data_and_store_mut(caller);
    f(ctx.host(), &mut SliceMemory(data)).map_err(wasmtime::Error::new)
}

type C<'a> = Caller<'a, Ctx>;

/// Define every host function of every PVM version, one per row of the host-function table
/// ([`HOST_FUNCTIONS`]); which ones a module may import is decided per run by [`link_check`].
fn host_linker(engine: &Engine) -> wasmtime::Result<Linker<Ctx>> {
    let mut l = Linker::new(engine);
    for f in HOST_FUNCTIONS {
        define(&mut l, f)?;
    }
    Ok(l)
}

/// Define host function `f` under its table name with a typed closure that calls the matching
/// [`HostState`] method. The match is exhaustive, so a function added to the table cannot be
/// left undefined; test `linker_signatures_are_the_table_s` checks every closure's type
/// against the table's signature.
fn define(l: &mut Linker<Ctx>, f: &HostFnSpec) -> wasmtime::Result<()> {
    let (m, name) = (HOST_MODULE, f.name);
    match f.id {
        HostFn::ReadInput => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32, d: i32| {
            with_host(&mut c, |h, mem| h.read_input(mem, a, b, d))
        }),
        HostFn::WriteOutput => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| h.write_output(mem, a, b))
        }),
        HostFn::WriteDebug => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| {
                h.write_debug(mem, a, b);
                Ok(())
            })
        }),
        HostFn::StoreHas => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| h.store_has(mem, a, b))
        }),
        HostFn::StoreExists => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| h.store_exists(mem, a, b))
        }),
        HostFn::StoreListSize => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| h.store_list_size(mem, a, b))
        }),
        HostFn::StoreGetNthKey => l.func_wrap(
            m,
            name,
            |mut c: C<'_>, a: i32, b: i32, i: i64, d: i32, e: i32| {
                with_host(&mut c, |h, mem| h.store_get_nth_key(mem, a, b, i, d, e))
            },
        ),
        HostFn::StoreDelete => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| h.store_delete(mem, a, b))
        }),
        HostFn::StoreDeleteValue => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| h.store_delete_value(mem, a, b))
        }),
        HostFn::StoreCopy => {
            l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32, d: i32, e: i32| {
                with_host(&mut c, |h, mem| h.store_copy(mem, a, b, d, e))
            })
        }
        HostFn::StoreMove => {
            l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32, d: i32, e: i32| {
                with_host(&mut c, |h, mem| h.store_move(mem, a, b, d, e))
            })
        }
        HostFn::StoreValueSize => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32| {
            with_host(&mut c, |h, mem| h.store_value_size(mem, a, b))
        }),
        HostFn::StoreRead => l.func_wrap(
            m,
            name,
            |mut c: C<'_>, a: i32, b: i32, o: i32, d: i32, e: i32| {
                with_host(&mut c, |h, mem| h.store_read(mem, a, b, o, d, e))
            },
        ),
        HostFn::StoreWrite => l.func_wrap(
            m,
            name,
            |mut c: C<'_>, a: i32, b: i32, o: i32, d: i32, e: i32| {
                with_host(&mut c, |h, mem| h.store_write(mem, a, b, o, d, e))
            },
        ),
        HostFn::StoreCreate => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32, s: i32| {
            with_host(&mut c, |h, mem| h.store_create(mem, a, b, s))
        }),
        HostFn::StoreGetHash => {
            l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32, d: i32, e: i32| {
                with_host(&mut c, |h, mem| h.store_get_hash(mem, a, b, d, e))
            })
        }
        HostFn::RevealPreimage => {
            l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32, d: i32, e: i32| {
                with_host(&mut c, |h, mem| h.reveal_preimage(mem, a, b, d, e))
            })
        }
        HostFn::RevealMetadata => l.func_wrap(m, name, |mut c: C<'_>, d: i32, e: i32| {
            with_host(&mut c, |h, mem| h.reveal_metadata(mem, d, e))
        }),
        HostFn::Reveal => l.func_wrap(m, name, |mut c: C<'_>, a: i32, b: i32, d: i32, e: i32| {
            with_host(&mut c, |h, mem| h.reveal(mem, a, b, d, e))
        }),
        // The NDS functions (V6) link but are not implemented: calling one aborts the run.
        HostFn::NdsRegistryResize | HostFn::NdsRegistryClear => {
            l.func_wrap(m, name, move |_: i64| unsupported(name))
        }
        HostFn::NdsRegistryCopy | HostFn::NdsRegistryMove => {
            l.func_wrap(m, name, move |_: i64, _: i64| unsupported(name))
        }
        HostFn::NdsStoreExists
        | HostFn::NdsStoreDelete
        | HostFn::NdsStoreValueSize
        | HostFn::NdsDatabaseGetHash => {
            l.func_wrap(m, name, move |_: i64, _: i32, _: i32| unsupported(name))
        }
        HostFn::NdsStoreRead | HostFn::NdsStoreWrite => l.func_wrap(
            m,
            name,
            move |_: i64, _: i32, _: i32, _: i64, _: i32, _: i32| unsupported(name),
        ),
        HostFn::NdsStoreSet => {
            l.func_wrap(m, name, move |_: i64, _: i32, _: i32, _: i32, _: i32| {
                unsupported(name)
            })
        }
    }?;
    Ok(())
}

fn unsupported(name: &'static str) -> wasmtime::Result<i32> {
    Err(wasmtime::Error::new(HostFatal::Unsupported(name)))
}

/// A kernel ready to instantiate.
struct Prepared {
    info: ModuleInfo,
    /// Fails only if an import is unknown or ill-typed, which [`link_check`] reports first.
    pre: Result<InstancePre<Ctx>, String>,
}

/// Deterministic result of preparing a kernel (cached).
enum Compiled {
    Ready(Prepared),
    /// Malformed, float or unsupported feature: `DecodeError`.
    Decode(String),
    /// Ill-typed or not compilable by wasmtime: an engine failure.
    Unsupported(String),
}

fn same_type(wanted: &[ValType], got: &[wasmparser::ValType]) -> bool {
    wanted.len() == got.len()
        && wanted.iter().zip(got).all(|(w, g)| {
            matches!(
                (w, g),
                (ValType::I32, wasmparser::ValType::I32) | (ValType::I64, wasmparser::ValType::I64)
            )
        })
}

/// Link (`wasm-pvm.md` §1.1) then the init checks that need no instance (§3.5).
fn link_check(info: &ModuleInfo, version: wasm_pvm::PvmVersion) -> Result<(), RunOutcome> {
    // The first import that does not link, with Octez's message; the PVM places the stuck
    // state at Octez's tick (`wasm_pvm::LinkFailure`).
    for import in &info.imports {
        if let Some(message) = wasm_pvm::link_error_message(version, &import.module, &import.name) {
            return Err(RunOutcome::LinkError(message));
        }
    }
    for import in &info.imports {
        let Some((params, result)) = host_function_signature(version, &import.name) else {
            continue; // unreachable: checked above
        };
        let ok = match &import.ty {
            ImportType::Func {
                params: p,
                results: r,
            } => same_type(params, p) && same_type(result.as_slice(), r),
            ImportType::Other => false,
        };
        if !ok {
            return Err(RunOutcome::InitError(format!(
                "incompatible import type for {:?}",
                import.name
            )));
        }
    }
    if info.memory0_export.is_none() {
        return Err(RunOutcome::InitError(
            "module does not export memory 0".into(),
        ));
    }
    Ok(())
}

/// How a wasmtime call failed.
enum Failure {
    Host(HostFatal),
    Cancelled,
    Trap(Trap),
    Other(String),
}

fn classify(e: wasmtime::Error) -> Failure {
    let e = match e.downcast::<HostFatal>() {
        Ok(h) => return Failure::Host(h),
        Err(e) => e,
    };
    if e.is::<CancelMarker>() {
        return Failure::Cancelled;
    }
    if let Some(t) = e.downcast_ref::<Trap>() {
        return Failure::Trap(*t);
    }
    Failure::Other(format!("{e:?}"))
}

/// Octez's message for a WASM trap, or `None` if it is not one the reference PVM reports as
/// a trap (`wasm-pvm.md` §3.7).
fn trap_message(t: Trap) -> Option<&'static str> {
    Some(match t {
        Trap::UnreachableCodeReached => "unreachable executed",
        Trap::MemoryOutOfBounds => "out of bounds memory access",
        Trap::TableOutOfBounds => "undefined element",
        Trap::IndirectCallToNull => "uninitialized element",
        Trap::BadSignature => "indirect call type mismatch",
        Trap::IntegerOverflow => "integer overflow",
        Trap::IntegerDivisionByZero => "integer divide by zero",
        Trap::BadConversionToInteger => "invalid conversion to integer",
        Trap::NullReference => "null reference",
        _ => return None,
    })
}

/// The fast WASM engine on wasmtime (Cranelift).
pub struct WasmtimeEngine {
    engine: Engine,
    linker: Linker<Ctx>,
    cache: VecDeque<(Hash, Arc<Compiled>)>,
    /// Compiled kernels kept on disk across restarts ([`WasmtimeEngine::with_disk_cache`]).
    disk: Option<DiskCache>,
    interrupt: Interrupt,
    worker: Option<Worker>,
}

impl std::fmt::Debug for WasmtimeEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeEngine")
            .field("cached", &self.cache.len())
            .field("interrupt", &self.interrupt)
            .finish()
    }
}

impl WasmtimeEngine {
    /// Build the engine with the default [`Options`] (cancellation at host calls only).
    pub fn new() -> Result<Self, BuildError> {
        Self::with_options(Options::default())
    }

    /// Build the engine with the configuration of [`crate::config::wasmtime_config`].
    pub fn with_options(options: Options) -> Result<Self, BuildError> {
        let engine =
            Engine::new(&wasmtime_config(options)).map_err(|e| BuildError(format!("{e:?}")))?;
        let linker = host_linker(&engine).map_err(|e| BuildError(format!("{e:?}")))?;
        let interrupt = Interrupt {
            engine: engine.clone(),
            flag: Arc::new(AtomicBool::new(false)),
        };
        Ok(Self {
            engine,
            linker,
            cache: VecDeque::with_capacity(MODULE_CACHE_SIZE),
            disk: None,
            interrupt,
            worker: None,
        })
    }

    /// Also keep compiled kernels in `dir` (created when needed), so that a new engine (a
    /// restarted node) loads them instead of compiling them again. Entries are keyed by the
    /// kernel, the instrumentation and the engine's version and configuration, and verified
    /// before use; a damaged one is rebuilt (see [`crate::disk_cache`]).
    #[must_use]
    pub fn with_disk_cache(mut self, dir: impl Into<PathBuf>) -> Self {
        self.disk = Some(DiskCache::new(dir.into(), &self.engine));
        self
    }

    /// What the disk cache did so far (`None` without one).
    pub fn disk_cache_stats(&self) -> Option<&DiskCacheStats> {
        self.disk.as_ref().map(|d| &d.stats)
    }

    /// The directory of the disk cache, if any.
    pub fn disk_cache_dir(&self) -> Option<&std::path::Path> {
        self.disk.as_ref().map(DiskCache::dir)
    }

    /// A handle that cancels runs of this engine from another thread.
    pub fn interrupt_handle(&self) -> Interrupt {
        self.interrupt.clone()
    }

    /// Number of kernels in the compiled-module cache.
    pub fn cached_modules(&self) -> usize {
        self.cache.len()
    }

    fn compile(&mut self, kernel: &[u8]) -> Compiled {
        let info = match validate(kernel) {
            Ok(info) => info,
            Err(Rejection::Decode(e)) => return Compiled::Decode(e),
            Err(Rejection::IllTyped(e)) => {
                return Compiled::Unsupported(format!("ill-typed module: {e}"));
            }
        };
        let bytes = match instrument(kernel, &info) {
            Ok(b) => b,
            Err(e) => return Compiled::Unsupported(format!("instrumentation failed: {e}")),
        };
        let key = self.disk.as_ref().map(|d| d.key(&bytes));
        let cached = match (&mut self.disk, &key) {
            (Some(d), Some(k)) => d.get(&self.engine, k),
            _ => None,
        };
        let module = match cached {
            Some(m) => m,
            None => match Module::new(&self.engine, &bytes) {
                Ok(m) => {
                    if let (Some(d), Some(k)) = (&mut self.disk, &key) {
                        d.put(k, &m);
                    }
                    m
                }
                Err(e) => return Compiled::Unsupported(format!("compilation failed: {e:?}")),
            },
        };
        let pre = self
            .linker
            .instantiate_pre(&module)
            .map_err(|e| format!("{e:?}"));
        Compiled::Ready(Prepared { info, pre })
    }

    /// Hand `task` to the run thread (spawned if needed). On failure the task is dropped
    /// unrun, which drops its result sender.
    fn dispatch(&mut self, mut task: Task) -> Result<(), EngineError> {
        // A dead worker gives the task back: retry once on a fresh one.
        for _ in 0..2 {
            let worker = match &self.worker {
                Some(w) => w,
                None => self.worker.insert(Worker::spawn().map_err(|e| {
                    EngineError::Panic(format!("cannot spawn the run thread: {e}"))
                })?),
            };
            match worker.tasks.send(task) {
                Ok(()) => return Ok(()),
                Err(mpsc::SendError(t)) => {
                    task = t;
                    self.worker = None;
                }
            }
        }
        Err(EngineError::Panic(
            "the run thread does not accept work".into(),
        ))
    }

    /// Compiled kernel for `hash`, from the LRU cache or freshly compiled.
    fn prepared(&mut self, kernel: &[u8], hash: &Hash) -> Arc<Compiled> {
        if let Some(pos) = self.cache.iter().position(|(h, _)| h == hash)
            && let Some(entry) = self.cache.remove(pos)
        {
            let compiled = entry.1.clone();
            self.cache.push_front(entry);
            return compiled;
        }
        let compiled = Arc::new(self.compile(kernel));
        if self.cache.len() >= MODULE_CACHE_SIZE {
            self.cache.pop_back();
        }
        self.cache.push_front((*hash, compiled.clone()));
        compiled
    }
}

impl KernelEngine for WasmtimeEngine {
    fn run(
        &mut self,
        kernel: &[u8],
        kernel_hash: &Hash,
        host: &mut HostState<'_>,
    ) -> Result<RunOutcome, EngineError> {
        if self.interrupt.is_interrupted() {
            return Err(EngineError::Cancelled);
        }
        let compiled = self.prepared(kernel, kernel_hash);
        let prepared = match &*compiled {
            Compiled::Ready(p) => p,
            Compiled::Decode(e) => return Ok(RunOutcome::DecodeError(e.clone())),
            Compiled::Unsupported(e) => return Err(EngineError::Panic(e.clone())),
        };
        if let Err(outcome) = link_check(&prepared.info, host.version()) {
            return Ok(outcome);
        }
        if let Err(e) = &prepared.pre {
            return Err(EngineError::Panic(format!("linking failed: {e}")));
        }
        let budget = host
            .version()
            .stack_size_limit()
            .checked_sub(1)
            .and_then(|b| i32::try_from(b).ok())
            .ok_or_else(|| EngineError::Panic("invalid stack size limit".into()))?;
        let ctx = Ctx {
            host: HostPtr(NonNull::from(host).cast::<HostState<'static>>()),
            memory: None,
            cancel: self.interrupt.flag.clone(),
        };
        let job = RunJob {
            engine: self.engine.clone(),
            compiled: compiled.clone(),
            flag: self.interrupt.flag.clone(),
            budget,
        };
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let task: Task = Box::new(move || {
            // The store, and with it the host pointer, is dropped inside `job.run` (also when
            // unwinding), before the result is sent.
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| job.run(ctx)))
                .unwrap_or_else(|_| Err(EngineError::Panic("the kernel run panicked".into())));
            let _ = done_tx.send(result);
        });
        self.dispatch(task)?;
        // Blocks until the task has run (or was dropped unrun): only then does the borrow of
        // `host` end, as the safety of `HostPtr` requires.
        let result = done_rx
            .recv()
            .unwrap_or_else(|_| Err(EngineError::Panic("the kernel run thread died".into())));
        // A run that went deep (or failed) leaves its stack pages resident: start afresh.
        if matches!(
            result,
            Ok(RunOutcome::Stuck(_)) | Err(EngineError::Panic(_))
        ) {
            self.worker = None;
        }
        result
    }
}

/// A unit of work for the run thread.
type Task = Box<dyn FnOnce() + Send>;

/// The thread kernels run on, with a [`RUN_THREAD_STACK`] native stack. It is kept across runs:
/// spawning and joining such a thread costs about 90 µs (`examples/overhead.rs`), as much as
/// a small `kernel_run`. It exits when the engine is dropped.
struct Worker {
    tasks: mpsc::Sender<Task>,
}

impl Worker {
    fn spawn() -> std::io::Result<Worker> {
        let (tasks, queue) = mpsc::channel::<Task>();
        std::thread::Builder::new()
            .name("kernel-run".into())
            .stack_size(RUN_THREAD_STACK)
            .spawn(move || {
                for task in queue {
                    task();
                }
            })?;
        Ok(Worker { tasks })
    }
}

/// Everything the run thread needs.
struct RunJob {
    engine: Engine,
    /// A [`Compiled::Ready`] kernel whose instance pre-image linked.
    compiled: Arc<Compiled>,
    flag: Arc<AtomicBool>,
    budget: i32,
}

impl RunJob {
    fn run(self, ctx: Ctx) -> Result<RunOutcome, EngineError> {
        let Compiled::Ready(Prepared { info, pre: Ok(pre) }) = &*self.compiled else {
            return Err(EngineError::Panic("the kernel is not ready to run".into()));
        };
        let mut store = Store::new(&self.engine, ctx);
        let flag = self.flag.clone();
        // Only consulted if the engine was built with epoch checks (`Options::interruptible`).
        store.epoch_deadline_callback(move |_| {
            if flag.load(Ordering::SeqCst) {
                Err(wasmtime::Error::new(CancelMarker))
            } else {
                Ok(UpdateDeadline::Continue(1))
            }
        });
        store.set_epoch_deadline(1);
        if self.flag.load(Ordering::SeqCst) {
            return Err(EngineError::Cancelled);
        }

        // Init (`wasm-pvm.md` §3.5): segments, then the start function. Any failure here,
        // call-stack exhaustion included, is an init error (fallback kernel).
        let instance = match pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => {
                return match classify(e) {
                    Failure::Host(h) => Err(EngineError::Host(h)),
                    Failure::Cancelled => Err(EngineError::Cancelled),
                    Failure::Trap(t) => Ok(RunOutcome::InitError(t.to_string())),
                    Failure::Other(e) => Ok(RunOutcome::InitError(e)),
                };
            }
        };
        let memory_name = info.memory0_export.as_deref().unwrap_or_default();
        let Some(memory) = instance.get_memory(&mut store, memory_name) else {
            return Ok(RunOutcome::InitError(
                "module does not export memory 0".into(),
            ));
        };
        store.data_mut().memory = Some(memory);
        let Some(budget) = instance.get_global(&mut store, BUDGET_EXPORT) else {
            return Err(EngineError::Panic("instrumentation global missing".into()));
        };
        budget
            .set(&mut store, Val::I32(self.budget))
            .map_err(|e| EngineError::Panic(format!("cannot set the frame budget: {e:?}")))?;
        if let Some(start) = instance.get_func(&mut store, START_EXPORT)
            && let Err(e) = start.call(&mut store, &[], &mut [])
        {
            return match classify(e) {
                Failure::Host(h) => Err(EngineError::Host(h)),
                Failure::Cancelled => Err(EngineError::Cancelled),
                Failure::Trap(Trap::StackOverflow) => {
                    Err(EngineError::Panic("native stack overflow in start".into()))
                }
                Failure::Trap(t) => Ok(RunOutcome::InitError(format!("start: {t}"))),
                Failure::Other(e) => Err(EngineError::Panic(e)),
            };
        }

        // Eval (`wasm-pvm.md` §3.5, §3.7).
        let Some(Extern::Func(kernel_run)) = instance.get_export(&mut store, KERNEL_RUN) else {
            return Ok(RunOutcome::Stuck(
                "Invalid_module: no kernel_run function exported".into(),
            ));
        };
        let ty = kernel_run.ty(&store);
        if ty.params().len() != 0 {
            return Ok(RunOutcome::Stuck(
                "kernel_run expects arguments (type mismatch on invocation)".into(),
            ));
        }
        // The kernel becomes the fallback kernel once it is instantiated (`wasm-pvm.md` §3.5).
        store
            .data_mut()
            .host()
            .kernel_instantiated()
            .map_err(EngineError::Host)?;
        let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
        match kernel_run.call(&mut store, &[], &mut results) {
            Ok(()) => Ok(RunOutcome::Returned),
            Err(e) => match classify(e) {
                Failure::Host(h) => Err(EngineError::Host(h)),
                Failure::Cancelled => Err(EngineError::Cancelled),
                Failure::Trap(t) => {
                    let exhausted = matches!(budget.get(&mut store), Val::I32(b) if b < 0);
                    if exhausted {
                        Ok(RunOutcome::Stuck("call stack exhausted".into()))
                    } else if matches!(t, Trap::IndirectCallToNull | Trap::TableOutOfBounds) {
                        // An exception in Octez when `call_indirect` raised it, a trap when a
                        // `table.*` instruction did (`RunOutcome::Ambiguous`).
                        Ok(RunOutcome::Ambiguous(
                            trap_message(t).unwrap_or_default().into(),
                        ))
                    } else if let Some(msg) = trap_message(t) {
                        Ok(RunOutcome::Trapped(msg.into()))
                    } else {
                        Err(EngineError::Panic(format!("unexpected trap: {t}")))
                    }
                }
                Failure::Other(e) => Err(EngineError::Panic(e)),
            },
        }
    }
}

/// The engine can move between threads (e.g. into a blocking task of the node).
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<WasmtimeEngine>();
    assert_send::<Interrupt>();
};

#[cfg(test)]
mod tests {
    use durable_tree::Tree;
    use durable_tree::durable::Durable;
    use wasm_pvm::{InputBuffer, OutputBuffer, PvmVersion, RevealError, RevealHandler};

    use super::*;

    struct NoReveal;

    impl RevealHandler for NoReveal {
        fn reveal(&mut self, _: &[u8]) -> Result<Vec<u8>, RevealError> {
            Ok(Vec::new())
        }
    }

    /// Every host function the linker defines has the table's name and signature: a module
    /// importing all of them with the table's types instantiates (type-checked without a
    /// store), and changing one type makes it fail.
    #[test]
    fn linker_signatures_are_the_table_s() {
        let wat_ty = |t: &ValType| match t {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
        };
        let module = |flip: Option<&str>| {
            let mut w = String::from("(module\n");
            for f in HOST_FUNCTIONS {
                let mut params: Vec<&str> = f.params.iter().map(wat_ty).collect();
                if flip == Some(f.name) {
                    params[0] = if params[0] == "i32" { "i64" } else { "i32" };
                }
                let result = f
                    .result
                    .map(|r| format!("(result {})", wat_ty(&r)))
                    .unwrap_or_default();
                w.push_str(&format!(
                    "(import \"{HOST_MODULE}\" \"{}\" (func (param {}) {result}))\n",
                    f.name,
                    params.join(" ")
                ));
            }
            w.push(')');
            w
        };
        let engine = Engine::default();
        let linker = host_linker(&engine).expect("linker");
        let ok = Module::new(&engine, wat::parse_str(module(None)).expect("wat")).expect("module");
        linker
            .instantiate_pre(&ok)
            .expect("every table signature links");
        let bad = Module::new(
            &engine,
            wat::parse_str(module(Some("store_read"))).expect("wat"),
        )
        .expect("module");
        assert!(linker.instantiate_pre(&bad).is_err());
    }

    #[test]
    fn the_default_engine_cancels_at_host_calls() {
        let mut engine = WasmtimeEngine::new().expect("engine");
        let interrupt = engine.interrupt_handle();
        let kernel = wat::parse_str(
            r#"(module
              (import "smart_rollup_core" "store_has" (func $has (param i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "kernel_run")
                (loop $l (drop (call $has (i32.const 0) (i32.const 0))) (br $l))))"#,
        )
        .expect("wat");
        let canceller = std::thread::spawn({
            let interrupt = interrupt.clone();
            move || {
                std::thread::sleep(std::time::Duration::from_millis(100));
                interrupt.interrupt();
            }
        });
        let mut durable = Durable::new(Tree::empty());
        let mut input = InputBuffer::new();
        let mut output = OutputBuffer::new(10, 100);
        let mut reveal = NoReveal;
        let mut host = HostState::new(
            PvmVersion::V6,
            &mut durable,
            &mut input,
            &mut output,
            &mut reveal,
            None,
        );
        let out = engine.run(&kernel, &Hash([1; 32]), &mut host);
        canceller.join().expect("canceller");
        assert!(matches!(out, Err(EngineError::Cancelled)), "{out:?}");
        interrupt.clear();
    }
}
