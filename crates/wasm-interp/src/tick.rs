//! One PVM tick of the `Snapshot`, `Decode` and `Link` states on the state tree
//! (`src/lib_scoru_wasm/wasm_vm.ml` `compute_step_with_host_functions`;
//! `docs/reference/wasm-ticks.md` §1.1): the tick state is read from `wasm/tag` and
//! `wasm/value`, stepped, and written back as `Tree_state` does (`remove wasm`, then every
//! field); `wasm/current_tick` + 1; on `Failing` (a new stuck state) `wasm/reboot_counter` is
//! reset to `maximum_reboots_per_input + 1` (the durable patches of `Failing` are no-ops).

use crate::codec::Tree;
use context_hash::data_encoding::{read_n, write_n};
use wasm_pvm::{
    KERNEL_FALLBACK_KEY, KERNEL_KEY, KERNEL_RUN, NO_KERNEL_RUN, PvmState, PvmVersion,
    STUCK_FLAG_KEY, StuckError, UPGRADE_ERROR_FLAG_KEY, VERSION_KEY,
};

use crate::codec::{self, Blob, Codec, Error, Result, join, read_tag};
use crate::decode::{DecodeState, StepError};
use crate::eval::{Admin, Config, StepKont};
use crate::exec::{self, Ctx};
use crate::host::TreeHost;
use crate::init::{InitKont, InitState, init_step};
use crate::instance::{Extern, MAIN, Registry};
use crate::lazy::LazyVec;
use crate::link::{LinkOutcome, LinkState};

/// The tick states this crate steps, read from the tree.
enum State {
    Snapshot,
    Decode(Box<DecodeState>),
    Link(Box<LinkState>),
    Init(Box<InitState>),
    Eval(Box<Config>, Box<Registry>),
    Padding,
    Collect,
    Stuck(StuckError),
}

/// The state after one tick.
enum Next {
    Decode(Box<DecodeState>),
    Link(Box<LinkState>),
    Init(Box<InitState>),
    Eval(Box<Config>, Box<Registry>),
    Padding,
    Stuck(StuckError),
}

fn wasm(k: &str) -> Vec<String> {
    vec!["wasm".into(), k.into()]
}

fn read_nat(root: &Tree, p: &[String]) -> Result<u128> {
    let b = codec::need(root, p, "missing natural")?;
    match read_n(&b) {
        Ok((v, n)) if n == b.len() => Ok(v),
        _ => Err(Error::Malformed(codec::show(p), "bad natural")),
    }
}

fn nat(v: u128) -> Vec<u8> {
    let mut out = Vec::new();
    write_n(&mut out, v);
    out
}

/// A durable value (`durable/<key>/@`) read chunk by chunk (`Chunked_byte_vector` decoded
/// from the tree: `@/length`, then `@/contents/<i>` when a byte of chunk `i` is read; an
/// absent chunk reads as zeros; `docs/reference/wasm-pvm.md` §2.2).
struct ChunkedValue {
    at: Tree,
    len: usize,
    chunks: std::cell::RefCell<std::collections::BTreeMap<usize, Vec<u8>>>,
    err: std::cell::RefCell<Option<Error>>,
}

const CHUNK: usize = 512;

impl ChunkedValue {
    /// `Durable.find_value`: `None` when `key` has no value.
    fn open(root: &Tree, key: &str) -> Result<Option<ChunkedValue>> {
        let mut p: Vec<&str> = vec!["durable"];
        p.extend(key.split('/').filter(|s| !s.is_empty()));
        p.push("@");
        let Some(at) = codec::subtree_steps(root, &p)? else {
            return Ok(None);
        };
        let b = codec::read_steps(&at, &["length"])?
            .ok_or_else(|| Error::Malformed(key.to_owned(), "durable value without length"))?;
        let b: [u8; 8] = b
            .try_into()
            .map_err(|_| Error::Malformed(key.to_owned(), "durable length not an int64"))?;
        let len = usize::try_from(u64::from_be_bytes(b))
            .map_err(|_| Error::Overflow("durable value length"))?;
        Ok(Some(ChunkedValue {
            at,
            len,
            chunks: Default::default(),
            err: Default::default(),
        }))
    }

    fn chunk(&self, i: usize) -> Result<()> {
        if self.chunks.borrow().contains_key(&i) {
            return Ok(());
        }
        let name = i.to_string();
        let mut c = codec::read_steps(&self.at, &["contents", &name])?.unwrap_or_default();
        c.resize(CHUNK, 0);
        self.chunks.borrow_mut().insert(i, c);
        Ok(())
    }

    /// `Chunked_byte_vector.to_bytes`: every chunk.
    fn all(&self) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(self.len);
        let mut i = 0usize;
        while out.len() < self.len {
            self.chunk(i)?;
            out.extend_from_slice(&self.chunks.borrow()[&i]);
            i = i.checked_add(1).ok_or(Error::Overflow("chunk index"))?;
        }
        out.truncate(self.len);
        Ok(out)
    }

    /// The error a [`ByteSource::byte`] read met, if any.
    fn take_err(&self) -> Option<Error> {
        self.err.borrow_mut().take()
    }
}

impl crate::stream::ByteSource for ChunkedValue {
    fn size(&self) -> usize {
        self.len
    }
    fn byte(&self, i: usize) -> Option<u8> {
        if i >= self.len {
            return None;
        }
        let c = i / CHUNK;
        if let Err(e) = self.chunk(c) {
            *self.err.borrow_mut() = Some(e);
            return None;
        }
        self.chunks
            .borrow()
            .get(&c)
            .and_then(|v| v.get(i % CHUNK).copied())
    }
}

/// `Durable.find_value_as_bytes` (every chunk read), on a plain or partial tree.
fn durable_value(root: &Tree, key: &str) -> Result<Option<Vec<u8>>> {
    match ChunkedValue::open(root, key)? {
        None => Ok(None),
        Some(v) => Ok(Some(v.all()?)),
    }
}

/// Octez's rendering of a decoder exception (`Error(_, "<msg>")`, the form
/// `wasm_pvm::StuckError::interpreter_eval_error` documents) [D: not checked against Octez].
fn decode_error(msg: &str) -> StuckError {
    StuckError::Decode(format!("Error(_, {msg:?})"), Some(msg.to_owned()))
}

/// An interpreter exception in `Init`: `Init_error` with the same rendering as
/// [`StuckError::interpreter_eval_error`] [D: not checked against Octez].
fn init_error(msg: &str) -> StuckError {
    match StuckError::interpreter_eval_error(msg) {
        StuckError::Eval(r, e) => StuckError::Init(r, e),
        other => other,
    }
}

/// A change of the durable storage by a tick outside the host functions, done on the new
/// state tree at the end of the tick (plain or partial: the same operations).
#[derive(Clone, Copy)]
enum DurableOp {
    /// `save_fallback_kernel` (`wasm_vm.ml`, `docs/reference/wasm-ticks.md` §1.1 rule 11):
    /// copy `/kernel/boot.wasm` to `/readonly/kernel/boot.wasm` if their value hashes differ.
    SaveFallback,
    /// `write_value_exn stuck_flag 0L ""` (rule 14).
    StuckFlag,
    /// `delete stuck_flag`, `delete upgrade_error_flag` (rule 15).
    DeleteFlags,
}

fn key_steps(key: &str) -> Vec<&str> {
    let mut p = vec!["durable"];
    p.extend(key.split('/').filter(|s| !s.is_empty()));
    p
}

fn with_steps<'a>(base: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend_from_slice(rest);
    v
}

/// `write_value_exn key 0L ""`: `@/length` kept (or 0), chunks kept.
fn touch_empty(t: &mut Tree, key: &str) -> Result<()> {
    let k = key_steps(key);
    let at = with_steps(&k, &["@"]);
    let lp = with_steps(&k, &["@", "length"]);
    let len = if codec::subtree_steps(t, &at)?.is_some() {
        codec::read_steps(t, &lp)?
            .ok_or_else(|| Error::Malformed(key.to_owned(), "durable value without length"))?
    } else {
        codec::remove_steps(t, &with_steps(&k, &["@", "contents"]))?;
        0u64.to_be_bytes().to_vec()
    };
    codec::write(
        t,
        &lp.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
        len,
    )
}

/// Apply `op` to the durable storage of `out`, reading as Octez does.
fn durable_op(out: &mut Tree, op: DurableOp) -> Result<()> {
    match op {
        DurableOp::SaveFallback => {
            let (k, f) = (key_steps(KERNEL_KEY), key_steps(KERNEL_FALLBACK_KEY));
            // `Durable.hash ~kind:Value`: the hashes of the two values (found, not loaded).
            let kh = codec::hash_steps(out, &with_steps(&k, &["@"]))?;
            let fh = codec::hash_steps(out, &with_steps(&f, &["@"]))?;
            if kh != fh {
                // `copy_tree_exn`: the whole subtree at the key.
                if let Some(sub) = codec::subtree_steps(out, &k)? {
                    codec::attach_steps(out, &f, sub)?;
                }
            }
        }
        DurableOp::StuckFlag => touch_empty(out, STUCK_FLAG_KEY)?,
        DurableOp::DeleteFlags => {
            codec::remove_steps(out, &key_steps(STUCK_FLAG_KEY))?;
            codec::remove_steps(out, &key_steps(UPGRADE_ERROR_FLAG_KEY))?;
        }
    }
    Ok(())
}

/// `Init {init_kont = IK_Stop}` → `Eval` (rule 11), or `Stuck Invalid_state`.
fn init_stop(st: InitState, limit: i32, ops: &mut Vec<DurableOp>) -> Result<Next> {
    let mut reg = st.reg;
    let mut inst = reg.get(MAIN)?;
    let ext = match inst.exports.get(KERNEL_RUN) {
        Ok(e) => Some(e),
        Err(Error::UnexpectedAccess(_)) => None,
        Err(e) => return Err(e),
    };
    reg.set(MAIN, inst);
    match ext {
        Some(Extern::Func(f)) => {
            let config = Config::new(
                limit,
                &st.self_key,
                LazyVec::empty(),
                LazyVec::singleton(Admin::Invoke(f)),
            );
            ops.push(DurableOp::SaveFallback);
            Ok(Next::Eval(Box::new(config), Box::new(reg)))
        }
        _ => Ok(Next::Stuck(StuckError::InvalidState(
            NO_KERNEL_RUN.to_owned(),
        ))),
    }
}

/// What a tick reads of the PVM besides the interpreter's state: the version, its stack limit
/// and where the tick stands in the window.
struct Clock {
    version: PvmVersion,
    /// `stack_size_limit` (`wasm_vm.ml`): 300 frames at V0, 60 000 afterwards.
    limit: i32,
    current_tick: u128,
    last_call: u128,
    max_ticks: u128,
}

impl Clock {
    fn read(root: &Tree) -> Result<Clock> {
        let version_bytes = durable_value(root, VERSION_KEY)?
            .ok_or_else(|| Error::Malformed(VERSION_KEY.into(), "no PVM version"))?;
        let version = PvmVersion::parse(&version_bytes)
            .ok_or_else(|| Error::Malformed(VERSION_KEY.into(), "unknown PVM version"))?;
        Ok(Clock {
            version,
            limit: if version == PvmVersion::V0 {
                300
            } else {
                60_000
            },
            current_tick: read_nat(root, &wasm("current_tick"))?,
            last_call: read_nat(root, &["pvm".into(), "last_top_level_call".into()])?,
            max_ticks: read_nat(root, &["pvm".into(), "max_nb_ticks".into()])?,
        })
    }

    /// Whether the window is over `done` ticks after `current_tick`:
    /// `ticks_to_snapshot = max_nb_ticks - 1 - (current_tick - last_top_level_call)` is 0.
    fn window_over(&self, done: u64) -> Result<bool> {
        let now = self
            .current_tick
            .checked_add(u128::from(done))
            .ok_or(Error::Overflow("current tick"))?;
        let elapsed = now.checked_sub(self.last_call).ok_or(Error::Malformed(
            "wasm/current_tick".into(),
            "before last_top_level_call",
        ))?;
        Ok(self.max_ticks.saturating_sub(1) <= elapsed)
    }
}

/// Perform one tick of a PVM whose state is `Snapshot`, `Decode` or `Link`, returning the new
/// state tree. Other states give [`Error::Unsupported`].
pub fn step(root: &durable_tree::Tree) -> Result<durable_tree::Tree> {
    step_tree(&Tree::Plain(root.clone()))?.into_plain()
}

/// [`step`], also returning the messages the tick's `write_debug` call printed (at most one:
/// one host call a tick), as Octez's `compute_step_with_debug` prints them: the bytes read, or
/// `Error code: N` when the range is not in memory. They never change the state.
pub fn step_with_debug(root: &durable_tree::Tree) -> Result<(durable_tree::Tree, Vec<Vec<u8>>)> {
    let (t, debug) = step_tree_with(&Tree::Plain(root.clone()), true)?;
    Ok((t.into_plain()?, debug))
}

/// [`step`] on a plain or partial tree (a one-tick proof records what it reads).
pub fn step_tree(root: &Tree) -> Result<Tree> {
    Ok(step_tree_with(root, false)?.0)
}

/// [`step_tree`], with the `write_debug` messages when `debug` is set.
fn step_tree_with(root: &Tree, debug: bool) -> Result<(Tree, Vec<Vec<u8>>)> {
    let tag = read_tag(root, &["wasm".to_owned()])?;
    let state = match tag.as_str() {
        "snapshot" => State::Snapshot,
        "decode" => State::Decode(Box::new(DecodeState::decode(root, &wasm("value"))?)),
        "link" => State::Link(Box::new(LinkState::decode(root, &wasm("value"))?)),
        "init" => State::Init(Box::new(InitState::decode(root, &wasm("value"))?)),
        "eval" => State::Eval(
            Box::new(Config::decode(root, &join(&wasm("value"), &["config"]))?),
            Box::new(Registry::decode(root, &join(&wasm("value"), &["modules"]))?),
        ),
        "padding" => State::Padding,
        "collect" => State::Collect,
        "stuck" => {
            let b = codec::need(root, &wasm("value"), "missing stuck error")?;
            let e = StuckError::decode(&b)
                .ok_or_else(|| Error::Malformed("wasm/value".into(), "bad stuck error"))?;
            if e.is_recoverable() {
                // Rule 1 (fallback kernel) is the fast path's (`PvmState::step_kernel_run`).
                return Err(Error::Unsupported(format!(
                    "recovery from {e:?}: use wasm_pvm::PvmState"
                )));
            }
            State::Stuck(e)
        }
        other => return Err(Error::Unsupported(format!("tick state {other}"))),
    };
    let clock = Clock::read(root)?;
    let (version, limit, current_tick) = (clock.version, clock.limit, clock.current_tick);
    let window_over = clock.window_over(0)?;

    // The changes of the durable storage outside the host functions.
    let mut ops: Vec<DurableOp> = Vec::new();
    let mut host = TreeHost {
        root: root.clone(),
        version,
        debug: debug.then(Vec::new),
    };
    let next = match state {
        // Rule 2: a permanent stuck state stays (status `Failing`).
        State::Stuck(e) => Next::Stuck(e),
        State::Snapshot => Next::Decode(Box::new(DecodeState::initial("main"))),
        // Rule 4: a computation tick in `Collect` is an error.
        State::Collect => Next::Stuck(StuckError::InvalidState("Collect is a input tick".into())),
        State::Padding if window_over => {
            // Rule 5: the window end (reboot or yield), computed by the fast path's PVM state.
            let mut s = PvmState::from_tree(&root.clone().into_plain()?)
                .map_err(|e| Error::Unsupported(format!("padding state: {e}")))?;
            s.finish_window()
                .map_err(|e| Error::Unsupported(format!("window end: {e}")))?;
            return Ok((Tree::Plain(s.to_tree()?), Vec::new()));
        }
        _ if window_over => Next::Stuck(StuckError::TooManyTicks),
        State::Padding => Next::Padding,
        State::Decode(mut d) => match d.stopped() {
            Some(m) => Next::Link(Box::new(LinkState::new(m.clone()))),
            None => {
                // The kernel's bytes, read chunk by chunk as the decoder reaches them.
                let kernel = ChunkedValue::open(root, KERNEL_KEY)?
                    .ok_or_else(|| Error::Malformed(KERNEL_KEY.into(), "no kernel"))?;
                let r = d.module_step(&kernel);
                if let Some(e) = kernel.take_err() {
                    return Err(e);
                }
                match r {
                    Ok(()) => Next::Decode(d),
                    Err(StepError::Fail(f)) => Next::Stuck(decode_error(&f.msg)),
                    Err(StepError::Internal(e)) => return Err(e),
                }
            }
        },
        State::Link(mut l) => match l.step(version)? {
            LinkOutcome::Link => Next::Link(l),
            LinkOutcome::Error(msg) => Next::Stuck(StuckError::Link(msg)),
            LinkOutcome::Finished => {
                // Rule 9: `Init {self = "main"; init_kont = IK_Start externs; module_reg = empty}`.
                let externs = LazyVec::<Extern>::decode(root, &join(&wasm("value"), &["externs"]))?;
                Next::Init(Box::new(InitState {
                    self_key: MAIN.as_bytes().to_vec(),
                    ast_module: l.ast_module,
                    kont: InitKont::Start(externs),
                    reg: Registry::default(),
                }))
            }
        },
        State::Init(st) if matches!(st.kont, InitKont::Stop) => init_stop(*st, limit, &mut ops)?,
        State::Init(mut st) => {
            let mut reg = std::mem::take(&mut st.reg);
            let mut ctx = Ctx {
                reg: &mut reg,
                init: true,
                host: &mut host,
            };
            match init_step(&mut ctx, &mut st, limit) {
                Ok(()) => {
                    st.reg = reg;
                    Next::Init(st)
                }
                Err(Error::Exception(msg)) => Next::Stuck(init_error(&msg)),
                Err(e) => return Err(e),
            }
        }
        State::Eval(c, _) if matches!(c.step_kont, StepKont::Trapped(_)) => {
            // Rule 14: the stuck flag, then Padding.
            ops.push(DurableOp::StuckFlag);
            Next::Padding
        }
        State::Eval(c, _) if matches!(c.step_kont, StepKont::Result(_)) => {
            // Rule 15: delete the stuck and upgrade-error flags, then Padding.
            ops.push(DurableOp::DeleteFlags);
            Next::Padding
        }
        State::Eval(c, _) if exec::is_reveal_tick(&c).is_some() => {
            // `Reveal_required`: the PVM takes the next tick with `reveal_step`, not here.
            let request = exec::is_reveal_tick(&c).map(<[u8]>::to_vec);
            return Err(Error::RevealRequired(request.unwrap_or_default()));
        }
        State::Eval(mut c, mut reg) => {
            let mut ctx = Ctx {
                reg: &mut reg,
                init: false,
                host: &mut host,
            };
            match exec::step(&mut ctx, &mut c) {
                Ok(()) => Next::Eval(c, reg),
                Err(Error::Exception(msg)) => Next::Stuck(StuckError::interpreter_eval_error(&msg)),
                Err(e) => return Err(e),
            }
        }
    };

    let tick = current_tick
        .checked_add(1)
        .ok_or(Error::Overflow("current tick"))?;
    write_out(root, host, ops, &next, tick)
}

/// The tree after a tick (or after [`eval_many`]'s ticks): the host's copy of the tree (its
/// durable storage and buffers as the host functions left them), the durable `ops`, the state
/// `next` in `wasm/tag` and `wasm/value`, `tick` in `wasm/current_tick` (and the reboot counter
/// of a failing state); with the `write_debug` messages.
fn write_out(
    root: &Tree,
    mut host: TreeHost,
    ops: Vec<DurableOp>,
    next: &Next,
    tick: u128,
) -> Result<(Tree, Vec<Vec<u8>>)> {
    let debug_out = host.debug.take().unwrap_or_default();
    let mut out = host.root;
    for op in ops {
        durable_op(&mut out, op)?;
    }
    codec::remove(&mut out, &wasm("tag"))?;
    codec::remove(&mut out, &wasm("value"))?;
    let (tag, failing) = match next {
        Next::Decode(d) => {
            d.encode(&mut out, &wasm("value"))?;
            ("decode", false)
        }
        Next::Link(l) => {
            l.encode(&mut out, &wasm("value"))?;
            ("link", false)
        }
        Next::Init(st) => {
            st.encode(&mut out, &wasm("value"))?;
            ("init", false)
        }
        Next::Eval(c, reg) => {
            c.encode(&mut out, &join(&wasm("value"), &["config"]))?;
            reg.encode(&mut out, &join(&wasm("value"), &["modules"]))?;
            ("eval", false)
        }
        Next::Padding => ("padding", false),
        Next::Stuck(e) => {
            codec::write(&mut out, &wasm("value"), e.encode())?;
            ("stuck", true)
        }
    };
    codec::write(
        &mut out,
        &wasm("tag"),
        codec::Str(tag.as_bytes().to_vec()).to_bytes(),
    )?;
    codec::write(&mut out, &wasm("current_tick"), nat(tick))?;
    if failing {
        let max = read_nat(
            root,
            &join(&["pvm".to_owned()], &["maximum_reboots_per_input"]),
        )?;
        let counter = max
            .checked_add(1)
            .ok_or(Error::Overflow("reboot counter"))?;
        codec::write(&mut out, &wasm("reboot_counter"), nat(counter))?;
    }
    Ok((out, debug_out))
}

/// What [`run_many`] reached: the tree, the ticks taken, the `write_debug` messages.
pub type TickRun = (durable_tree::Tree, u64, Vec<Vec<u8>>);

/// The interpreter's state a run of ticks keeps decoded.
enum Running {
    Init(Box<InitState>),
    Eval(Box<Config>, Box<Registry>),
}

/// Up to `max` initialisation or evaluation ticks from an `Init` or `Eval` state, the
/// interpreter's state decoded once and encoded once: the tree `max` calls of [`step`] reach
/// (an encoding does not depend on the ticks a state went through:
/// `docs/reference/wasm-ticks.md` §2.1). Stops before a tick that is not a plain step of the
/// interpreter (the end of the initialisation, a trap or a result, whose ticks write durable
/// flags; a reveal; the window's end: [`step`] takes those); a tick raising an exception is
/// taken (the state is then `Stuck`) and ends the run. `None` when no tick is taken; else the
/// tree, the ticks taken and the `write_debug` messages (with `debug`).
pub fn run_many(root: &durable_tree::Tree, max: u64, debug: bool) -> Result<Option<TickRun>> {
    let root = Tree::Plain(root.clone());
    if max == 0 {
        return Ok(None);
    }
    let mut state = match read_tag(&root, &["wasm".to_owned()])?.as_str() {
        "init" => Running::Init(Box::new(InitState::decode(&root, &wasm("value"))?)),
        "eval" => Running::Eval(
            Box::new(Config::decode(&root, &join(&wasm("value"), &["config"]))?),
            Box::new(Registry::decode(
                &root,
                &join(&wasm("value"), &["modules"]),
            )?),
        ),
        _ => return Ok(None),
    };
    let clock = Clock::read(&root)?;
    let (version, limit, current_tick) = (clock.version, clock.limit, clock.current_tick);
    let mut host = TreeHost {
        root: root.clone(),
        version,
        debug: debug.then(Vec::new),
    };
    let mut done: u64 = 0;
    let mut stuck = None;
    while done < max {
        let plain = match &state {
            Running::Init(st) => !matches!(st.kont, InitKont::Stop),
            Running::Eval(c, _) => {
                !matches!(c.step_kont, StepKont::Trapped(_) | StepKont::Result(_))
                    && exec::is_reveal_tick(c).is_none()
            }
        };
        if clock.window_over(done)? || !plain {
            break;
        }
        let r = match &mut state {
            Running::Init(st) => {
                let mut reg = std::mem::take(&mut st.reg);
                let mut ctx = Ctx {
                    reg: &mut reg,
                    init: true,
                    host: &mut host,
                };
                let r = init_step(&mut ctx, st, limit);
                st.reg = reg;
                r.map_err(|e| match e {
                    Error::Exception(msg) => Ok(init_error(&msg)),
                    e => Err(e),
                })
            }
            Running::Eval(c, reg) => {
                let mut ctx = Ctx {
                    reg,
                    init: false,
                    host: &mut host,
                };
                exec::step(&mut ctx, c).map_err(|e| match e {
                    Error::Exception(msg) => Ok(StuckError::interpreter_eval_error(&msg)),
                    e => Err(e),
                })
            }
        };
        // `done < max`: no overflow.
        done = done.saturating_add(1);
        match r {
            Ok(()) => {}
            Err(Ok(e)) => {
                stuck = Some(e);
                break;
            }
            Err(Err(e)) => return Err(e),
        }
    }
    if done == 0 {
        return Ok(None);
    }
    let next = match (stuck, state) {
        (Some(e), _) => Next::Stuck(e),
        (None, Running::Init(st)) => Next::Init(st),
        (None, Running::Eval(c, reg)) => Next::Eval(c, reg),
    };
    let tick = current_tick
        .checked_add(u128::from(done))
        .ok_or(Error::Overflow("current tick"))?;
    let (out, messages) = write_out(&root, host, Vec::new(), &next, tick)?;
    Ok(Some((out.into_plain()?, done, messages)))
}

/// The reveal the PVM waits for (`Reveal_required` payload: `0x00 ‖ hash`, `0x01` for the
/// metadata, or the raw `reveal` payload), if the state is at a reveal tick
/// (`Eval.is_reveal_tick`, `docs/reference/wasm-ticks.md` §1.5).
pub fn reveal_request(root: &durable_tree::Tree) -> Result<Option<Vec<u8>>> {
    reveal_request_tree(&Tree::Plain(root.clone()))
}

/// [`reveal_request`] on a plain or partial tree.
pub fn reveal_request_tree(root: &Tree) -> Result<Option<Vec<u8>>> {
    if read_tag(root, &["wasm".to_owned()])? != "eval" {
        return Ok(None);
    }
    let c = Config::decode(root, &join(&wasm("value"), &["config"]))?;
    Ok(exec::is_reveal_tick(&c).map(<[u8]>::to_vec))
}

/// The reveal tick (`wasm_vm.ml` `reveal_step`): write the revealed `payload` into memory 0,
/// then `current_tick + 1` (no flag patching). In a state that expects no reveal, the PVM
/// gets stuck (`Invalid_state "No reveal expected during …"`); `Stuck` and `Padding` stay.
pub fn reveal_step(root: &durable_tree::Tree, payload: &[u8]) -> Result<durable_tree::Tree> {
    reveal_step_tree(&Tree::Plain(root.clone()), payload)?.into_plain()
}

/// [`reveal_step`] on a plain or partial tree.
pub fn reveal_step_tree(root: &Tree, payload: &[u8]) -> Result<Tree> {
    let tag = read_tag(root, &["wasm".to_owned()])?;
    let mut out = root.clone();
    let stuck = |what: &str| StuckError::InvalidState(format!("No reveal expected during {what}"));
    let next = match tag.as_str() {
        "eval" => {
            let mut c = Config::decode(root, &join(&wasm("value"), &["config"]))?;
            let mut reg = Registry::decode(root, &join(&wasm("value"), &["modules"]))?;
            // No host function runs in a reveal tick; the context needs one anyway.
            let version = durable_value(root, VERSION_KEY)?
                .and_then(|b| PvmVersion::parse(&b))
                .ok_or_else(|| Error::Malformed(VERSION_KEY.into(), "unknown PVM version"))?;
            let mut host = TreeHost {
                root: root.clone(),
                version,
                debug: None,
            };
            let mut ctx = Ctx {
                reg: &mut reg,
                init: false,
                host: &mut host,
            };
            exec::reveal_step(&mut ctx, &mut c, payload)?;
            Some((c, reg))
        }
        "snapshot" => return finish_reveal(out, root, Some(stuck("start"))),
        "decode" => return finish_reveal(out, root, Some(stuck("decoding"))),
        "link" => return finish_reveal(out, root, Some(stuck("link"))),
        "init" => return finish_reveal(out, root, Some(stuck("initialization"))),
        "collect" => return finish_reveal(out, root, Some(stuck("collecting"))),
        _ => None,
    };
    if let Some((c, reg)) = next {
        codec::remove(&mut out, &wasm("value"))?;
        c.encode(&mut out, &join(&wasm("value"), &["config"]))?;
        reg.encode(&mut out, &join(&wasm("value"), &["modules"]))?;
    }
    finish_reveal(out, root, None)
}

fn finish_reveal(mut out: Tree, root: &Tree, stuck: Option<StuckError>) -> Result<Tree> {
    if let Some(e) = stuck {
        codec::remove(&mut out, &wasm("value"))?;
        codec::write(&mut out, &wasm("value"), e.encode())?;
        codec::write(
            &mut out,
            &wasm("tag"),
            codec::Str(b"stuck".to_vec()).to_bytes(),
        )?;
    }
    let tick = read_nat(root, &wasm("current_tick"))?
        .checked_add(1)
        .ok_or(Error::Overflow("current tick"))?;
    codec::write(&mut out, &wasm("current_tick"), nat(tick))?;
    Ok(out)
}
