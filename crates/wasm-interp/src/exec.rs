//! One evaluation tick: `frame_step`, `label_step`, `invoke_step` and `step_instr` of
//! `src/lib_webassembly/exec/eval.ml` (`docs/reference/wasm-ticks.md` §1.5), on the state of
//! [`crate::eval`]. Every vector operation is the one Octez performs (`pop` = `get 0` + `drop`,
//! `prepend_list` = `cons` from the last element, `split` shares the origin), because the
//! state tree depends on it (§2.1).

use crate::ast::{BlockType, FuncType, Instr};
use crate::codec::{Blob, Error, Result};
use crate::eval::{Admin, Config, FrameStack, InvokeKont, Label, LabelKont, LabelStep, StepKont};
use crate::instance::{Function, Instance, NumBlob, RefV, Registry, TableInst, Value};
use crate::kont::{ConcatKont, MapKont};
use crate::lazy::LazyVec;

/// What a host function call needs from the PVM (implemented by [`crate::tick`]).
pub trait Host {
    /// Run host function `name` (Octez's internal name) on `args` with the memories of the
    /// instance (`None` during initialisation: `No_memories_during_init`); returns the results
    /// and the tick cost (`docs/reference/wasm-pvm.md` §1.4–1.5).
    fn call(
        &mut self,
        name: &[u8],
        args: &[Value],
        memory: Option<&mut crate::instance::MemoryInst>,
    ) -> Result<(Vec<Value>, u128)>;
}

/// The evaluation context of one tick.
pub struct Ctx<'a> {
    /// The module registry.
    pub reg: &'a mut Registry,
    /// `~init:true` during `IK_Eval` and global/element constant evaluation.
    pub init: bool,
    /// Host functions.
    pub host: &'a mut dyn Host,
}

fn crash(msg: &str) -> Error {
    Error::Exception(msg.to_owned())
}

fn module_key(m: &[u8]) -> String {
    String::from_utf8_lossy(m).into_owned()
}

/// `resolve_module_ref`.
fn resolve(ctx: &mut Ctx<'_>, m: &[u8]) -> Result<Instance> {
    ctx.reg.get(&module_key(m))
}

/// `vmtake n vs`.
fn vmtake(n: Option<i32>, vs: LazyVec<Value>) -> Result<LazyVec<Value>> {
    match n {
        Some(n) => Ok(vs.split(n)?.0),
        None => Ok(vs),
    }
}

/// `vector_pop_map v Option.some`.
fn pop_any(vs: &mut LazyVec<Value>) -> Result<Value> {
    if vs.num_elements() < 1 {
        return Err(crash("missing or ill-typed operand on stack"));
    }
    vs.pop()
}

fn pop_i32(vs: &mut LazyVec<Value>) -> Result<i32> {
    match pop_any(vs)? {
        Value::I32(i) => Ok(i),
        _ => Err(crash("missing or ill-typed operand on stack")),
    }
}

fn pop_num(vs: &mut LazyVec<Value>) -> Result<Value> {
    match pop_any(vs)? {
        v @ (Value::I32(_) | Value::I64(_)) => Ok(v),
        _ => Err(crash("missing or ill-typed operand on stack")),
    }
}

fn pop_ref(vs: &mut LazyVec<Value>) -> Result<RefV> {
    match pop_any(vs)? {
        Value::Ref(r) => Ok(r),
        _ => Err(crash("missing or ill-typed operand on stack")),
    }
}

/// `type_of_ref r = t`.
fn ref_has_type(r: &RefV, t: crate::ast::RefType) -> bool {
    use crate::ast::RefType as T;
    match r {
        RefV::Func(_) => t == T::FuncRef,
        RefV::Extern(_) => t == T::ExternRef,
        RefV::Null(u) => *u == t,
    }
}

/// One tick of the evaluator (`Eval.step`).
pub fn step(ctx: &mut Ctx<'_>, c: &mut Config) -> Result<()> {
    let sk = std::mem::replace(&mut c.step_kont, StepKont::Trapped(Vec::new()));
    c.step_kont = frame_step(ctx, c.stack_size_limit, sk)?;
    Ok(())
}

fn frame_step(ctx: &mut Ctx<'_>, limit: i32, sk: StepKont) -> Result<StepKont> {
    Ok(match sk {
        StepKont::Result(_) | StepKont::Trapped(_) => {
            return Err(crash("Evaluation_step_error(Frame_step)"));
        }
        StepKont::Start(frame, mut stack) => match &frame.label_kont {
            LabelKont::Trapped(m) => StepKont::Trapped(m.clone()),
            LabelKont::Result(vs0) => {
                if stack.num_elements() == 0 {
                    StepKont::Result(vmtake(frame.arity, vs0.clone())?)
                } else {
                    let f2 = stack.pop()?;
                    let LabelKont::Stack(label, lstack) = &f2.label_kont else {
                        return Err(crash("finished frame on the frame stack"));
                    };
                    let (label, lstack) = (label.clone(), lstack.clone());
                    let kont = ConcatKont::new(vs0.clone(), label.vs.clone())?;
                    let es = label.es.clone();
                    StepKont::Consolidate(Box::new(f2), stack, label, kont, es, lstack)
                }
            }
            LabelKont::Stack(..) => {
                let k = frame.label_kont.clone();
                StepKont::Next(frame, stack, Box::new(LabelStep::Start(k)))
            }
        },
        StepKont::Consolidate(mut fr, stack, mut label, mut tick, es, lstack) => {
            if tick.completed() {
                label.vs = tick.res;
                label.es = es;
                fr.label_kont = LabelKont::Stack(label, lstack);
                StepKont::Start(fr, stack)
            } else {
                tick.step()?;
                StepKont::Consolidate(fr, stack, label, tick, es, lstack)
            }
        }
        StepKont::Next(mut frame, stack, k) => match *k {
            LabelStep::ModifyTop(lk) => {
                frame.label_kont = lk;
                StepKont::Start(frame, stack)
            }
            LabelStep::PushFrame(lk, f2) => {
                let size = stack
                    .num_elements()
                    .checked_add(1)
                    .ok_or(Error::Overflow("frame stack"))?;
                if limit <= size {
                    return Err(crash("call stack exhausted"));
                }
                let mut stack = stack;
                frame.label_kont = lk;
                stack.cons(*frame)?;
                StepKont::Start(f2, stack)
            }
            other => {
                let k = label_step(ctx, &mut frame, other)?;
                StepKont::Next(frame, stack, Box::new(k))
            }
        },
    })
}

fn modify(label: Box<Label>, stack: LazyVec<Label>) -> LabelStep {
    LabelStep::ModifyTop(LabelKont::Stack(label, stack))
}

fn label_step(ctx: &mut Ctx<'_>, frame: &mut FrameStack, k: LabelStep) -> Result<LabelStep> {
    Ok(match k {
        LabelStep::PushFrame(..) | LabelStep::ModifyTop(_) => {
            return Err(crash("Evaluation_step_error(Label_step)"));
        }
        LabelStep::Start(LabelKont::Stack(mut label, mut stack)) => {
            let mut vs = label.vs.clone();
            let mut es = label.es.clone();
            if 0 < es.num_elements() {
                let e = es.pop()?;
                match e {
                    Admin::Plain(i) => {
                        LabelStep::ModifyTop(step_instr(ctx, frame, label, vs, i, es, stack)?)
                    }
                    Admin::FromBlock(b, i) => {
                        let mut inst = resolve(ctx, &frame.module)?;
                        let mut block = inst.allocations.blocks.get(b)?;
                        if i == block.0.num_elements() {
                            label.vs = vs;
                            label.es = es;
                            modify(label, stack)
                        } else {
                            let instr = block.0.get(i)?;
                            let next = i.checked_add(1).ok_or(Error::Overflow("block index"))?;
                            es.prepend_list(vec![Admin::Plain(instr), Admin::FromBlock(b, next)])?;
                            label.vs = vs;
                            label.es = es;
                            modify(label, stack)
                        }
                    }
                    Admin::Refer(r) => {
                        vs.cons(Value::Ref(r))?;
                        label.vs = vs;
                        label.es = es;
                        modify(label, stack)
                    }
                    Admin::Trapping(m) => LabelStep::ModifyTop(LabelKont::Trapped(m)),
                    Admin::Returning(vs0) => LabelStep::ModifyTop(LabelKont::Result(vs0)),
                    Admin::Breaking(0, vs0) => {
                        let vs0 = vmtake(label.arity, vs0)?;
                        if stack.num_elements() == 0 {
                            LabelStep::ModifyTop(LabelKont::Result(vs0))
                        } else {
                            let l2 = stack.pop()?;
                            let mut es2 = l2.es.clone();
                            es2.prepend_list(
                                label.brk.iter().cloned().map(Admin::Plain).collect(),
                            )?;
                            let kont = ConcatKont::new(vs0, l2.vs.clone())?;
                            LabelStep::ConsolidateTop(Box::new(l2), kont, es2, stack)
                        }
                    }
                    Admin::Breaking(k, vs0) => {
                        if stack.num_elements() == 0 {
                            return Err(crash("undefined label"));
                        }
                        let mut l2 = stack.pop()?;
                        l2.es.cons(Admin::Breaking(k.wrapping_sub(1), vs0))?;
                        modify(Box::new(l2), stack)
                    }
                    Admin::Invoke(func) => LabelStep::CraftFrame(
                        LabelKont::Stack(label, stack),
                        Box::new(InvokeKont::Start { func, vs, es }),
                    ),
                    Admin::MemoryInitMeta(f) => {
                        let (instr, next) = memory_init_meta(f)?;
                        push_admin(label, vs, es, instr, next, stack)?
                    }
                    Admin::MemoryFillMeta(idx, i, k, n) => {
                        let (instr, next) = memory_fill_meta(idx, i, k, n)?;
                        push_admin(label, vs, es, instr, next, stack)?
                    }
                    Admin::MemoryCopyMeta(f, case) => {
                        let (instr, next) = memory_copy_meta(f, case)?;
                        push_admin(label, vs, es, instr, next, stack)?
                    }
                    Admin::TableInitMeta(idx, r, f) => {
                        let (instr, next) = table_init_meta(idx, r, f)?;
                        push_admin(label, vs, es, instr, next, stack)?
                    }
                    Admin::TableFillMeta(f, r, x) => {
                        let (instr, next) = table_fill_meta(f, r, x)?;
                        push_admin(label, vs, es, instr, next, stack)?
                    }
                    Admin::TableCopyMeta(f, case) => {
                        let (instr, next) = table_copy_meta(f, case)?;
                        push_admin(label, vs, es, instr, next, stack)?
                    }
                }
            } else if stack.num_elements() == 0 {
                LabelStep::ModifyTop(LabelKont::Result(vs))
            } else {
                let l2 = stack.pop()?;
                let kont = ConcatKont::new(vs, l2.vs.clone())?;
                let es2 = l2.es.clone();
                LabelStep::ConsolidateTop(Box::new(l2), kont, es2, stack)
            }
        }
        LabelStep::Start(_) => return Err(crash("LS_Start on a finished label")),
        LabelStep::ConsolidateTop(mut l2, mut tick, es2, stack) => {
            if tick.completed() {
                l2.vs = tick.res;
                l2.es = es2;
                modify(l2, stack)
            } else {
                tick.step()?;
                LabelStep::ConsolidateTop(l2, tick, es2, stack)
            }
        }
        LabelStep::CraftFrame(lk, istep) => match *istep {
            InvokeKont::Stop {
                vs,
                es,
                fresh_frame,
                remaining_ticks,
            } if remaining_ticks <= 0 => {
                let LabelKont::Stack(mut label, stack) = lk else {
                    return Err(crash("LS_Craft_frame on a finished label"));
                };
                label.vs = vs;
                label.es = es;
                let lk = LabelKont::Stack(label, stack);
                match fresh_frame {
                    Some(f) => LabelStep::PushFrame(lk, f),
                    None => LabelStep::ModifyTop(lk),
                }
            }
            other => {
                let i = invoke_step(ctx, frame, other)?;
                LabelStep::CraftFrame(lk, Box::new(i))
            }
        },
    })
}

fn push_admin(
    mut label: Box<Label>,
    vs: LazyVec<Value>,
    mut es: LazyVec<Admin>,
    instr: Admin,
    next: Option<Admin>,
    stack: LazyVec<Label>,
) -> Result<LabelStep> {
    let mut l = vec![instr];
    l.extend(next);
    es.prepend_list(l)?;
    label.vs = vs;
    label.es = es;
    Ok(modify(label, stack))
}

fn i32c(x: i32) -> Admin {
    Admin::Plain(Instr::one("Const", NumBlob(Value::I32(x)).to_bytes()))
}

fn numc(v: Value) -> Admin {
    Admin::Plain(Instr::one("Const", NumBlob(v).to_bytes()))
}

/// `Store {ty = I32Type; align = 0; offset = 0; pack = Some Pack8}` (`storeop_encoding`).
fn store8() -> Admin {
    let mut b = vec![0];
    0i32.put(&mut b);
    0i32.put(&mut b);
    b.extend([1, 0]);
    Admin::Plain(Instr::one("Store", b))
}

/// `Load {ty = I32Type; align = 0; offset = 0; pack = Some (Pack8, ZX)}`.
fn load8u() -> Admin {
    let mut b = vec![0];
    0i32.put(&mut b);
    0i32.put(&mut b);
    b.extend([1, 0, 1]);
    Admin::Plain(Instr::one("Load", b))
}

fn meta_pick(
    instrs: Vec<Admin>,
    idx: i32,
    next: impl FnOnce(i32) -> Admin,
) -> Result<(Admin, Option<Admin>)> {
    let n = instrs.len();
    let i = usize::try_from(idx).map_err(|_| crash("Invalid_argument meta instr"))?;
    let instr = instrs
        .into_iter()
        .nth(i)
        .ok_or_else(|| crash("Invalid_argument meta instr"))?;
    let last = n <= i.saturating_add(1);
    Ok((instr, (!last).then(|| next(idx.wrapping_add(1)))))
}

/// `memory_init_meta_instr`.
fn memory_init_meta(f: [i32; 6]) -> Result<(Admin, Option<Admin>)> {
    let [idx, d, b, n, s, x] = f;
    let instrs = vec![
        i32c(d),
        i32c(b),
        store8(),
        i32c(d.wrapping_add(1)),
        i32c(s.wrapping_add(1)),
        i32c(n.wrapping_sub(1)),
        Admin::Plain(Instr::one("MemoryInit", x.to_bytes())),
    ];
    meta_pick(instrs, idx, |i| Admin::MemoryInitMeta([i, d, b, n, s, x]))
}

/// `memory_fill_meta_instr`.
fn memory_fill_meta(idx: i32, i: i32, k: Value, n: i32) -> Result<(Admin, Option<Admin>)> {
    let instrs = vec![
        i32c(i),
        numc(k.clone()),
        store8(),
        i32c(i.wrapping_add(1)),
        numc(k.clone()),
        i32c(n.wrapping_sub(1)),
        Admin::Plain(Instr::unit("MemoryFill")),
    ];
    meta_pick(instrs, idx, |j| Admin::MemoryFillMeta(j, i, k, n))
}

/// `memory_copy_meta_instr`.
fn memory_copy_meta(f: [i32; 4], case: bool) -> Result<(Admin, Option<Admin>)> {
    let [idx, d, s, n] = f;
    let copy = Admin::Plain(Instr::unit("MemoryCopy"));
    let instrs = if case {
        vec![
            i32c(d),
            i32c(s),
            load8u(),
            store8(),
            i32c(d.wrapping_add(1)),
            i32c(s.wrapping_add(1)),
            i32c(n.wrapping_sub(1)),
            copy,
        ]
    } else {
        vec![
            i32c(d.wrapping_add(1)),
            i32c(s.wrapping_add(1)),
            i32c(n.wrapping_sub(1)),
            copy,
            i32c(d),
            i32c(s),
            load8u(),
            store8(),
        ]
    };
    meta_pick(instrs, idx, |i| Admin::MemoryCopyMeta([i, d, s, n], case))
}

fn tset(x: i32) -> Admin {
    Admin::Plain(Instr::one("TableSet", x.to_bytes()))
}

fn tget(x: i32) -> Admin {
    Admin::Plain(Instr::one("TableGet", x.to_bytes()))
}

/// `table_init_meta_instr`.
fn table_init_meta(idx: i32, r: RefV, f: [i32; 5]) -> Result<(Admin, Option<Admin>)> {
    let [d, s, n, x, y] = f;
    let instrs = vec![
        i32c(d),
        Admin::Refer(r.clone()),
        tset(x),
        i32c(d.wrapping_add(1)),
        i32c(s.wrapping_add(1)),
        i32c(n.wrapping_sub(1)),
        Admin::Plain(Instr::tup("TableInit", vec![x.to_bytes(), y.to_bytes()])),
    ];
    meta_pick(instrs, idx, |i| Admin::TableInitMeta(i, r, f))
}

/// `table_fill_meta_instr`.
fn table_fill_meta(f: [i32; 3], r: RefV, x: i32) -> Result<(Admin, Option<Admin>)> {
    let [idx, i, n] = f;
    let instrs = vec![
        i32c(i),
        Admin::Refer(r.clone()),
        tset(x),
        i32c(i.wrapping_add(1)),
        Admin::Refer(r.clone()),
        i32c(n.wrapping_sub(1)),
        Admin::Plain(Instr::one("TableFill", x.to_bytes())),
    ];
    meta_pick(instrs, idx, |j| Admin::TableFillMeta([j, i, n], r, x))
}

/// `table_copy_meta_instr`.
fn table_copy_meta(f: [i32; 6], case: bool) -> Result<(Admin, Option<Admin>)> {
    let [idx, d, s, n, x, y] = f;
    let copy = Admin::Plain(Instr::tup("TableCopy", vec![x.to_bytes(), y.to_bytes()]));
    let instrs = if case {
        vec![
            i32c(d),
            i32c(s),
            tget(y),
            tset(x),
            i32c(d.wrapping_add(1)),
            i32c(s.wrapping_add(1)),
            i32c(n.wrapping_sub(1)),
            copy,
        ]
    } else {
        vec![
            i32c(d.wrapping_add(1)),
            i32c(s.wrapping_add(1)),
            i32c(n.wrapping_sub(1)),
            copy,
            i32c(d),
            i32c(s),
            tget(y),
            tset(x),
        ]
    };
    meta_pick(instrs, idx, |i| {
        Admin::TableCopyMeta([i, d, s, n, x, y], case)
    })
}

/// `Aux.load_bytes`: at most 4096 bytes (-7), in bounds (-6).
fn load_bytes(
    mem: &mut crate::instance::MemoryInst,
    addr: i32,
    size: i32,
) -> Result<std::result::Result<Vec<u8>, i32>> {
    if size > wasm_pvm::INPUT_OUTPUT_MAX_SIZE {
        return Ok(Err(wasm_pvm::code::INPUT_OUTPUT_TOO_LARGE));
    }
    let Ok(n) = u32::try_from(size) else {
        return Ok(Err(wasm_pvm::code::GENERIC_INVALID_ACCESS));
    };
    let start = i64::from(addr as u32);
    if start.saturating_add(i64::from(n)) > mem.chunks.length() {
        return Ok(Err(wasm_pvm::code::MEMORY_INVALID_ACCESS));
    }
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..i64::from(n) {
        out.push(mem.chunks.load_byte(start.saturating_add(i))?);
    }
    Ok(Ok(out))
}

/// The `parse_args` of the reveal host functions (`Reveal_func`): `None` for another
/// function; `Some (Ok (payload, base, max_bytes))` for a reveal tick; `Some (Err code)` when
/// the arguments fail (the code is the result, no tick).
type RevealArgs = Option<std::result::Result<(Vec<u8>, i32, i32), i32>>;

fn reveal_args(
    ctx: &mut Ctx<'_>,
    frame: &FrameStack,
    name: &[u8],
    args: &[Value],
) -> Result<RevealArgs> {
    let a = |i: usize| match args.get(i) {
        Some(Value::I32(x)) => Ok(*x),
        _ => Err(crash("Bad_input")),
    };
    let (addr, size, base, max, tag) = match name {
        b"tezos_reveal_metadata" => return Ok(Some(Ok((vec![1], a(0)?, a(1)?)))),
        b"tezos_reveal_preimage" => (a(0)?, a(1)?, a(2)?, a(3)?, Some(0u8)),
        b"tezos_reveal" => (a(0)?, a(1)?, a(2)?, a(3)?, None),
        _ => return Ok(None),
    };
    if ctx.init {
        return Err(crash("No_memories_during_init"));
    }
    let mut inst = resolve(ctx, &frame.module)?;
    let mut mem = lookup(&mut inst.memories, "memory", 0)?;
    Ok(Some(match load_bytes(&mut mem, addr, size)? {
        Ok(bytes) => {
            let mut payload: Vec<u8> = tag.into_iter().collect();
            payload.extend(bytes);
            Ok((payload, base, max))
        }
        Err(code) => Err(code),
    }))
}

/// `Eval.is_reveal_tick`: the payload requested when the evaluation waits for a reveal.
pub fn is_reveal_tick(c: &Config) -> Option<&[u8]> {
    match &c.step_kont {
        StepKont::Next(_, _, k) => match k.as_ref() {
            LabelStep::CraftFrame(_, i) => match i.as_ref() {
                InvokeKont::RevealTick { reveal, .. } => Some(&reveal.0),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// `Eval.reveal_step`: write `min(len, max_bytes)` bytes of `payload` at the destination in
/// memory 0, push the count, and spend 42 ticks per byte (`Inv_stop`).
pub fn reveal_step(ctx: &mut Ctx<'_>, c: &mut Config, payload: &[u8]) -> Result<()> {
    let StepKont::Next(frame, _, k) = &mut c.step_kont else {
        return Err(crash("Reveal_error(Reveal_step)"));
    };
    let LabelStep::CraftFrame(_, i) = k.as_mut() else {
        return Err(crash("Reveal_error(Reveal_step)"));
    };
    let InvokeKont::RevealTick {
        base,
        max_bytes,
        vs,
        es,
        ..
    } = i.as_ref()
    else {
        return Err(crash("Reveal_error(Reveal_step)"));
    };
    let key = module_key(&frame.module);
    let mut inst = resolve(ctx, &frame.module)?;
    let mut mem = lookup(&mut inst.memories, "memory", 0)?;
    // `Aux.reveal`: the bytes are stored one by one; any out of bounds makes the result -6
    // (the others are written).
    let n = payload.len().min(usize::try_from(*max_bytes).unwrap_or(0));
    let start = i64::from(*base as u32);
    let mut count = i32::try_from(n).map_err(|_| Error::Overflow("reveal size"))?;
    for (j, b) in payload[..n].iter().enumerate() {
        let addr = start.saturating_add(j as i64);
        if addr < mem.chunks.length() {
            mem.chunks.store_byte(addr, *b)?;
        } else {
            count = wasm_pvm::code::MEMORY_INVALID_ACCESS;
        }
    }
    inst.memories.set(0, mem)?;
    ctx.reg.set(&key, inst);
    let mut vs = vs.clone();
    vs.cons(Value::I32(count))?;
    let stop = InvokeKont::Stop {
        vs,
        es: es.clone(),
        fresh_frame: None,
        remaining_ticks: i128::from(count).saturating_mul(42),
    };
    **i = stop;
    Ok(())
}

fn invoke_step(ctx: &mut Ctx<'_>, frame: &FrameStack, k: InvokeKont) -> Result<InvokeKont> {
    Ok(match k {
        InvokeKont::Stop {
            remaining_ticks, ..
        } if remaining_ticks <= 0 => {
            return Err(crash(
                "Evaluation_step_error(Invoke_step Inv_stop cannot reduce)",
            ));
        }
        InvokeKont::RevealTick { .. } => {
            return Err(crash(
                "Evaluation_step_error(Invoke_step The reveal tick cannot be evaluated as is)",
            ));
        }
        InvokeKont::Stop {
            vs,
            es,
            fresh_frame,
            remaining_ticks,
        } => InvokeKont::Stop {
            vs,
            es,
            fresh_frame,
            remaining_ticks: remaining_ticks.wrapping_sub(1),
        },
        InvokeKont::Start { func, vs, es } => {
            let n1 = func.ty().params.num_elements();
            let n2 = func.ty().results.num_elements();
            let (args, rest) = vs.split(n1)?;
            match func {
                Function::Native { module, func, .. } => {
                    let locals_kont = MapKont::new(func.locals.clone());
                    InvokeKont::PrepareLocals {
                        arity: n2,
                        args,
                        vs: rest,
                        es,
                        inst: module,
                        func,
                        locals_kont,
                    }
                }
                Function::Host { name, .. } => {
                    let mut args = args;
                    let mut list = args.to_list()?;
                    list.reverse();
                    if let Some(r) = reveal_args(ctx, frame, &name, &list)? {
                        return Ok(match r {
                            Ok((payload, base, max_bytes)) => InvokeKont::RevealTick {
                                reveal: crate::eval::Reveal(payload),
                                base,
                                max_bytes,
                                vs: rest,
                                es,
                            },
                            Err(code) => {
                                let mut rest = rest;
                                rest.cons(Value::I32(code))?;
                                InvokeKont::Stop {
                                    vs: rest,
                                    es,
                                    fresh_frame: None,
                                    remaining_ticks: 0,
                                }
                            }
                        });
                    }
                    let (res, ticks) = if ctx.init {
                        ctx.host.call(&name, &list, None)?
                    } else {
                        let mut inst = resolve(ctx, &frame.module)?;
                        if inst.memories.num_elements() > 0 {
                            let mut mem = inst.memories.get(0)?;
                            let out = ctx.host.call(&name, &list, Some(&mut mem))?;
                            inst.memories.set(0, mem)?;
                            ctx.reg.set(&module_key(&frame.module), inst);
                            out
                        } else {
                            ctx.host.call(&name, &list, None)?
                        }
                    };
                    let mut rest = rest;
                    rest.prepend_list(res)?;
                    InvokeKont::Stop {
                        vs: rest,
                        es,
                        fresh_frame: None,
                        remaining_ticks: i128::try_from(ticks)
                            .map_err(|_| Error::Overflow("host function ticks"))?,
                    }
                }
            }
        }
        InvokeKont::PrepareLocals {
            arity,
            args,
            vs,
            es,
            inst,
            func,
            mut locals_kont,
        } => {
            if locals_kont.completed() {
                InvokeKont::PrepareArgs {
                    arity,
                    vs,
                    es,
                    inst,
                    func,
                    locals: locals_kont.destination,
                    args_kont: MapKont::new(args),
                }
            } else {
                locals_kont.step(|t| Ok(Value::default_of(t)))?;
                InvokeKont::PrepareLocals {
                    arity,
                    args,
                    vs,
                    es,
                    inst,
                    func,
                    locals_kont,
                }
            }
        }
        InvokeKont::PrepareArgs {
            arity,
            vs,
            es,
            inst,
            func,
            locals,
            mut args_kont,
        } => {
            if args_kont.completed() {
                let concat_kont = ConcatKont::new(args_kont.destination, locals)?;
                InvokeKont::Concat {
                    arity,
                    vs,
                    es,
                    inst,
                    func,
                    concat_kont,
                }
            } else {
                args_kont.step_rev(Ok)?;
                InvokeKont::PrepareArgs {
                    arity,
                    vs,
                    es,
                    inst,
                    func,
                    locals,
                    args_kont,
                }
            }
        }
        InvokeKont::Concat {
            arity,
            vs,
            es,
            inst,
            func,
            mut concat_kont,
        } => {
            if concat_kont.completed() {
                let label = Label {
                    arity: Some(arity),
                    brk: None,
                    vs: LazyVec::empty(),
                    es: LazyVec::singleton(Admin::FromBlock(func.body, 0)),
                };
                let frame = FrameStack {
                    arity: Some(arity),
                    module: inst,
                    locals: concat_kont.res,
                    label_kont: LabelKont::Stack(Box::new(label), LazyVec::empty()),
                };
                InvokeKont::Stop {
                    vs,
                    es,
                    fresh_frame: Some(Box::new(frame)),
                    remaining_ticks: 0,
                }
            } else {
                concat_kont.step()?;
                InvokeKont::Concat {
                    arity,
                    vs,
                    es,
                    inst,
                    func,
                    concat_kont,
                }
            }
        }
    })
}

fn arg(i: &Instr, n: usize) -> Result<&[u8]> {
    i.args
        .get(n)
        .map(|(_, b)| b.as_slice())
        .ok_or_else(|| Error::Malformed(i.tag.clone(), "missing instruction argument"))
}

fn arg_i32(i: &Instr, n: usize) -> Result<i32> {
    i32::from_bytes(arg(i, n)?).ok_or_else(|| Error::Malformed(i.tag.clone(), "bad int32 argument"))
}

/// `block_type inst bt`.
fn block_type(inst: &mut Instance, bt: BlockType) -> Result<FuncType> {
    Ok(match bt {
        BlockType::Var(x) => {
            if (x as u32) >= (inst.types.num_elements() as u32) {
                return Err(crash(&format!("undefined type {x}")));
            }
            inst.types.get(x)?.0
        }
        BlockType::Val(None) => FuncType {
            params: LazyVec::create(0),
            results: LazyVec::create(0),
        },
        BlockType::Val(Some(t)) => {
            let mut r = LazyVec::create(1);
            r.set(0, t)?;
            FuncType {
                params: LazyVec::create(0),
                results: r,
            }
        }
    })
}

/// `lookup_intmap`: `undefined <category> <x>` when out of bounds.
fn lookup<V: crate::codec::Codec>(v: &mut LazyVec<V>, what: &str, x: i32) -> Result<V> {
    if (x as u32) >= (v.num_elements() as u32) {
        return Err(crash(&format!("undefined {what} {x}")));
    }
    v.get(x)
}

/// The vector memory instructions of `step_instr` (`VecLoad`, `VecStore`, `VecLoadLane`,
/// `VecStoreLane`) on memory 0; `Some msg` when the instruction traps. As in
/// `partial_memory.ml`: `effective_address` traps when `address + offset` wraps;
/// `loadn`/`storen` (packed loads, lanes) touch the highest byte first, so an access past the
/// end traps before any byte is written; `load_vec`/`store_vec` (16 bytes) run the 16 byte
/// accesses together (`Lwt.join`): a load across the end reads its bytes in bounds and a store
/// writes them, then it traps.
fn vec_memory(
    ctx: &mut Ctx<'_>,
    frame: &FrameStack,
    e: &Instr,
    vs: &mut LazyVec<Value>,
) -> Result<Option<&'static str>> {
    let op = arg(e, 0)?;
    let bad = || Error::Malformed(e.tag.clone(), "vector memop");
    // `align` int31, `offset` int32 (the `v128` type is a constant: no byte).
    let offset = i32::from_bytes(op.get(4..8).ok_or_else(bad)?).ok_or_else(bad)?;
    let rest = op.get(8..).unwrap_or_default();
    let lane_op = |rest: &[u8]| -> Result<(u8, i32)> {
        match rest {
            [size @ 0..=3, a, b, c, d] => Ok((*size, i32::from_be_bytes([*a, *b, *c, *d]))),
            _ => Err(bad()),
        }
    };
    let stored = match e.tag.as_str() {
        "VecStore" => {
            if !rest.is_empty() {
                return Err(bad());
            }
            Some(crate::simd::pop_vec(vs)?)
        }
        "VecLoadLane" | "VecStoreLane" => Some(crate::simd::pop_vec(vs)?),
        _ => None,
    };
    let a = pop_i32(vs)?;
    let key = module_key(&frame.module);
    let mut inst = resolve(ctx, &frame.module)?;
    let mut mem = lookup(&mut inst.memories, "memory", 0)?;
    const OOB: &str = "out of bounds memory access";
    let Some(ea) = (a as u32).checked_add(offset as u32) else {
        return Ok(Some(OOB));
    };
    let ea = i64::from(ea);
    let len = mem.chunks.length();
    let in_bounds = |n: i64| ea.saturating_add(n) <= len;
    let at = |k: i64| ea.saturating_add(k);
    // `loadn`: `n` bytes, little-endian.
    let loadn = |mem: &mut crate::instance::MemoryInst, n: u8| -> Result<u64> {
        let mut x: u64 = 0;
        for k in (0..i64::from(n)).rev() {
            x = x.checked_shl(8).unwrap_or(0) | u64::from(mem.chunks.load_byte(at(k))?);
        }
        Ok(x)
    };
    let size_bytes = |size: u8| 1u8.checked_shl(u32::from(size)).unwrap_or(8);
    let mut trapped = None;
    match e.tag.as_str() {
        "VecLoad" => {
            let v = match rest {
                [0] => {
                    if !in_bounds(16) {
                        // The 16 reads run together (`Lwt.join`): those in bounds still load
                        // their chunk (which a proof of this tick must hold), then it traps.
                        for k in 0..16 {
                            if at(k) < len {
                                mem.chunks.load_byte(at(k))?;
                            }
                        }
                        return Ok(Some(OOB));
                    }
                    let mut b = Vec::with_capacity(16);
                    for k in 0..16 {
                        b.push(mem.chunks.load_byte(at(k))?);
                    }
                    b
                }
                [1, size @ 0..=3, ext @ ..] => {
                    let n = size_bytes(*size);
                    if !in_bounds(i64::from(n)) {
                        return Ok(Some(OOB));
                    }
                    let x = loadn(&mut mem, n)?;
                    crate::simd::load_packed(*size, ext, x)
                        .ok_or_else(bad)?
                        .to_vec()
                }
                _ => return Err(bad()),
            };
            vs.cons(Value::V128(v))?;
        }
        "VecStore" => {
            let v = stored.unwrap_or_default();
            for (k, b) in (0i64..).zip(v) {
                if at(k) < len {
                    mem.chunks.store_byte(at(k), b)?;
                } else {
                    trapped = Some(OOB);
                }
            }
        }
        "VecLoadLane" => {
            let (size, lane) = lane_op(rest)?;
            let v = stored.unwrap_or_default();
            let n = size_bytes(size);
            if !in_bounds(i64::from(n)) {
                return Ok(Some(OOB));
            }
            let x = loadn(&mut mem, n)?;
            // `load_num_packed … SX` (8, 16 bits) or `load_num` (32, 64): sign-extended.
            let sh = 64u32.saturating_sub(u32::from(n).saturating_mul(8));
            let x = (x.wrapping_shl(sh) as i64).wrapping_shr(sh);
            let shape = crate::simd::Shape::from_tag(size).ok_or_else(bad)?;
            vs.cons(Value::V128(
                crate::simd::replace_lane(shape, &v, lane, x).to_vec(),
            ))?;
        }
        "VecStoreLane" => {
            let (size, lane) = lane_op(rest)?;
            let v = stored.unwrap_or_default();
            let shape = crate::simd::Shape::from_tag(size).ok_or_else(bad)?;
            let x = crate::simd::extract_lane_s(shape, &v, lane).ok_or_else(|| {
                Error::Unsupported(format!("{}: lane index out of range (Failure nth)", e.tag))
            })?;
            let n = size_bytes(size);
            if !in_bounds(i64::from(n)) {
                return Ok(Some(OOB));
            }
            for (k, b) in (0i64..).zip(x.to_le_bytes().into_iter().take(usize::from(n))) {
                mem.chunks.store_byte(at(k), b)?;
            }
        }
        _ => return Err(bad()),
    }
    // The memory binding was loaded (or written): write it back as Octez's registry holds it.
    inst.memories.set(0, mem)?;
    ctx.reg.set(&key, inst);
    Ok(trapped)
}

fn step_instr(
    ctx: &mut Ctx<'_>,
    frame: &mut FrameStack,
    mut label: Box<Label>,
    mut vs: LazyVec<Value>,
    e: Instr,
    es: LazyVec<Admin>,
    stack: LazyVec<Label>,
) -> Result<LabelKont> {
    // `label_kont_with_code vs es'`.
    let with = |mut label: Box<Label>,
                vs: LazyVec<Value>,
                mut es: LazyVec<Admin>,
                new: Vec<Admin>,
                stack: LazyVec<Label>|
     -> Result<LabelKont> {
        es.prepend_list(new)?;
        label.vs = vs;
        label.es = es;
        Ok(LabelKont::Stack(label, stack))
    };
    let trap = |m: &str| Admin::Trapping(m.as_bytes().to_vec());
    match e.tag.as_str() {
        "Unreachable" => with(label, vs, es, vec![trap("unreachable executed")], stack),
        "Nop" => with(label, vs, es, vec![], stack),
        "Block" | "Loop" => {
            let bt = BlockType::from_bytes(arg(&e, 0)?)
                .ok_or_else(|| Error::Malformed(e.tag.clone(), "block type"))?;
            let body = arg_i32(&e, 1)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let ft = block_type(&mut inst, bt)?;
            let n1 = ft.params.num_elements();
            let (args, rest) = vs.split(n1)?;
            let is_loop = e.tag == "Loop";
            let inner = Label {
                arity: Some(if is_loop {
                    n1
                } else {
                    ft.results.num_elements()
                }),
                brk: is_loop.then(|| e.clone()),
                vs: args,
                es: LazyVec::singleton(Admin::FromBlock(body, 0)),
            };
            label.vs = rest;
            label.es = es;
            let mut stack = stack;
            stack.cons(*label)?;
            Ok(LabelKont::Stack(Box::new(inner), stack))
        }
        "If" => {
            let i = pop_i32(&mut vs)?;
            let bt = arg(&e, 0)?.to_vec();
            let chosen = if i == 0 { arg(&e, 2)? } else { arg(&e, 1)? };
            let block = Instr::tup("Block", vec![bt, chosen.to_vec()]);
            with(label, vs, es, vec![Admin::Plain(block)], stack)
        }
        "Br" => {
            let x = arg_i32(&e, 0)?;
            with(
                label,
                LazyVec::empty(),
                es,
                vec![Admin::Breaking(x, vs)],
                stack,
            )
        }
        "BrIf" => {
            let i = pop_i32(&mut vs)?;
            let new = if i == 0 {
                vec![]
            } else {
                vec![Admin::Plain(Instr::one("Br", arg(&e, 0)?.to_vec()))]
            };
            with(label, vs, es, new, stack)
        }
        "BrTable" => {
            let i = pop_i32(&mut vs)?;
            let xs = arg(&e, 0)?;
            // `var_list_encoding`: `Data_encoding.list` of int32, after its 4-byte byte length.
            let body = xs.get(4..).unwrap_or_default();
            if xs.len() < 4 || body.len() % 4 != 0 {
                return Err(Error::Malformed(e.tag.clone(), "br_table targets"));
            }
            let list: Vec<i32> = body
                .chunks_exact(4)
                .map(|c| i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            let x = if (i as u32) >= (list.len() as u32) {
                arg_i32(&e, 1)?
            } else {
                list[i as u32 as usize]
            };
            with(
                label,
                vs,
                es,
                vec![Admin::Plain(Instr::one("Br", x.to_bytes()))],
                stack,
            )
        }
        "Return" => with(
            label,
            LazyVec::empty(),
            es,
            vec![Admin::Returning(vs)],
            stack,
        ),
        "Call" => {
            let x = arg_i32(&e, 0)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let f = lookup(&mut inst.funcs, "function", x)?;
            with(label, vs, es, vec![Admin::Invoke(f)], stack)
        }
        "Drop" => {
            pop_any(&mut vs)?;
            with(label, vs, es, vec![], stack)
        }
        "Select" => {
            let i = pop_i32(&mut vs)?;
            let v2 = pop_any(&mut vs)?;
            let v1 = pop_any(&mut vs)?;
            vs.cons(if i == 0 { v2 } else { v1 })?;
            with(label, vs, es, vec![], stack)
        }
        "LocalGet" => {
            let x = arg_i32(&e, 0)?;
            let v = lookup(&mut frame.locals, "local", x)?;
            vs.cons(v)?;
            with(label, vs, es, vec![], stack)
        }
        "LocalSet" | "LocalTee" => {
            let x = arg_i32(&e, 0)?;
            let v = pop_any(&mut vs)?;
            frame.locals.set(x, v.clone())?;
            if e.tag == "LocalTee" {
                vs.cons(v)?;
            }
            with(label, vs, es, vec![], stack)
        }
        "GlobalGet" => {
            let x = arg_i32(&e, 0)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let g = lookup(&mut inst.globals, "global", x)?;
            vs.cons(g.value)?;
            with(label, vs, es, vec![], stack)
        }
        "GlobalSet" => {
            let x = arg_i32(&e, 0)?;
            let v = pop_any(&mut vs)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let mut g = lookup(&mut inst.globals, "global", x)?;
            if !g.mutable {
                return Err(crash("write to immutable global"));
            }
            if std::mem::discriminant(&g.value) != std::mem::discriminant(&v) {
                return Err(crash("type mismatch at global write"));
            }
            g.value = v;
            inst.globals.set(x, g)?;
            ctx.reg.set(&module_key(&frame.module), inst);
            with(label, vs, es, vec![], stack)
        }
        "Const" => {
            let n = NumBlob::from_bytes(arg(&e, 0)?)
                .ok_or_else(|| Error::Malformed(e.tag.clone(), "constant"))?;
            vs.cons(n.0)?;
            with(label, vs, es, vec![], stack)
        }
        "Load" | "Store" => {
            let op = arg(&e, 0)?;
            let ty = *op
                .first()
                .ok_or_else(|| Error::Malformed(e.tag.clone(), "memop"))?;
            let offset = i32::from_bytes(op.get(5..9).unwrap_or_default())
                .ok_or_else(|| Error::Malformed(e.tag.clone(), "memop"))?;
            let pack = op.get(9..).unwrap_or_default();
            let store_v = if e.tag == "Store" {
                Some(pop_num(&mut vs)?)
            } else {
                None
            };
            let a = pop_i32(&mut vs)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let mut mem = lookup(&mut inst.memories, "memory", 0)?;
            let ea = (a as u32).checked_add(offset as u32);
            let full = if ty == 0 { 4 } else { 8 };
            let (size, signed) = match pack {
                [0] => (full, false),
                [1, s @ 0..=3] => (1u32 << s, false),
                [1, s @ 0..=3, ext] => (1u32 << s, *ext == 0),
                _ => return Err(Error::Malformed(e.tag.clone(), "memop pack")),
            };
            let Some(ea) = ea else {
                return with(
                    label,
                    vs,
                    es,
                    vec![trap("out of bounds memory access")],
                    stack,
                );
            };
            let ea = i64::from(ea);
            if ea.saturating_add(i64::from(size)) > mem.chunks.length() {
                return with(
                    label,
                    vs,
                    es,
                    vec![trap("out of bounds memory access")],
                    stack,
                );
            }
            match store_v {
                Some(v) => {
                    let x: u64 = match v {
                        Value::I32(x) => x as u32 as u64,
                        Value::I64(x) => x as u64,
                        _ => 0,
                    };
                    for k in 0..size {
                        let byte = x.checked_shr(k.saturating_mul(8)).unwrap_or(0) as u8;
                        mem.chunks
                            .store_byte(ea.saturating_add(i64::from(k)), byte)?;
                    }
                    inst.memories.set(0, mem)?;
                    ctx.reg.set(&module_key(&frame.module), inst);
                }
                None => {
                    let mut x: u64 = 0;
                    for k in (0..size).rev() {
                        let b = mem.chunks.load_byte(ea.saturating_add(i64::from(k)))?;
                        x = x.checked_shl(8).unwrap_or(0) | u64::from(b);
                    }
                    if signed && size < 8 {
                        let sh = 64u32.saturating_sub(size.saturating_mul(8));
                        x = (x.wrapping_shl(sh) as i64).wrapping_shr(sh) as u64;
                    }
                    vs.cons(if ty == 0 {
                        Value::I32(x as u32 as i32)
                    } else {
                        Value::I64(x as i64)
                    })?;
                    // The memory binding was loaded: write it back as Octez's registry holds it.
                    inst.memories.set(0, mem)?;
                    ctx.reg.set(&module_key(&frame.module), inst);
                }
            }
            with(label, vs, es, vec![], stack)
        }
        "MemorySize" => {
            let mut inst = resolve(ctx, &frame.module)?;
            let mem = lookup(&mut inst.memories, "memory", 0)?;
            let pages = mem.chunks.length().div_euclid(crate::instance::PAGE);
            vs.cons(Value::I32(pages as i32))?;
            with(label, vs, es, vec![], stack)
        }
        "MemoryGrow" => {
            let delta = pop_i32(&mut vs)?;
            let key = module_key(&frame.module);
            let mut inst = resolve(ctx, &frame.module)?;
            let mut mem = lookup(&mut inst.memories, "memory", 0)?;
            let old = mem.min;
            // `Memory.grow`: SizeOverflow / SizeLimit give -1.
            let new = old.wrapping_add(delta);
            let result = if (old as u32) > (new as u32)
                || (new as u32) > 0x10000
                || mem.max.is_some_and(|m| (new as u32) > (m as u32))
            {
                -1
            } else {
                mem.min = new;
                mem.chunks
                    .grow(i64::from(delta as u32).saturating_mul(crate::instance::PAGE))?;
                inst.memories.set(0, mem)?;
                ctx.reg.set(&key, inst);
                old
            };
            vs.cons(Value::I32(result))?;
            with(label, vs, es, vec![], stack)
        }
        "MemoryFill" | "MemoryCopy" | "MemoryInit" => {
            let n = pop_i32(&mut vs)?;
            let (k, s) = if e.tag == "MemoryFill" {
                (Some(pop_num(&mut vs)?), 0)
            } else {
                (None, pop_i32(&mut vs)?)
            };
            let d = pop_i32(&mut vs)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let bound = lookup(&mut inst.memories, "memory", 0)?.chunks.length();
            let oob =
                |a: i32, len: i64| i64::from(a as u32).saturating_add(i64::from(n as u32)) > len;
            let oob_trap = vec![trap("out of bounds memory access")];
            let new = match e.tag.as_str() {
                "MemoryFill" => {
                    if oob(d, bound) {
                        oob_trap
                    } else if n == 0 {
                        vec![]
                    } else {
                        vec![Admin::MemoryFillMeta(0, d, k.unwrap_or(Value::I32(0)), n)]
                    }
                }
                "MemoryCopy" => {
                    if oob(s, bound) || oob(d, bound) {
                        oob_trap
                    } else if n == 0 {
                        vec![]
                    } else {
                        vec![Admin::MemoryCopyMeta(
                            [0, d, s, n],
                            (d as u32) <= (s as u32),
                        )]
                    }
                }
                _ => {
                    let x = arg_i32(&e, 0)?;
                    let mem_oob = oob(d, bound);
                    let lbl = lookup(&mut inst.datas, "data segment", x)?;
                    let mut seg = inst.allocations.datas.get(lbl)?;
                    if mem_oob || oob(s, seg.length()) {
                        oob_trap
                    } else if n == 0 {
                        vec![]
                    } else {
                        let b = seg.load_byte(i64::from(s as u32))?;
                        vec![Admin::MemoryInitMeta([0, d, i32::from(b), n, s, x])]
                    }
                }
            };
            with(label, vs, es, new, stack)
        }
        "DataDrop" => {
            let x = arg_i32(&e, 0)?;
            let mut inst = resolve(ctx, &frame.module)?;
            lookup(&mut inst.datas, "data segment", x)?;
            inst.datas.set(x, 0)?;
            ctx.reg.set(&module_key(&frame.module), inst);
            with(label, vs, es, vec![], stack)
        }
        "CallIndirect" => {
            let (x, y) = (arg_i32(&e, 0)?, arg_i32(&e, 1)?);
            let i = pop_i32(&mut vs)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let mut tbl = lookup(&mut inst.tables, "table", x)?;
            // `func_ref`: a `Trap` exception (not a `Trapping` instruction) when the slot is
            // out of bounds or null.
            if (i as u32) >= (tbl.refs.num_elements() as u32) {
                return Err(crash(&format!("undefined element {i}")));
            }
            let f = match tbl.refs.get(i)? {
                RefV::Func(f) => *f,
                RefV::Null(_) => return Err(crash(&format!("uninitialized element {i}"))),
                RefV::Extern(_) => return Err(crash(&format!("type mismatch for element {i}"))),
            };
            let mut want = lookup(&mut inst.types, "type", y)?.0;
            let mut have = f.ty().clone();
            let same = want.params.to_list()? == have.params.to_list()?
                && want.results.to_list()? == have.results.to_list()?;
            let new = if same {
                vec![Admin::Invoke(f)]
            } else {
                vec![trap("indirect call type mismatch")]
            };
            with(label, vs, es, new, stack)
        }
        "TableGet" | "TableSet" | "TableSize" | "TableGrow" | "TableFill" => {
            let x = arg_i32(&e, 0)?;
            let key = module_key(&frame.module);
            let mut inst = resolve(ctx, &frame.module)?;
            let mut tbl: TableInst = lookup(&mut inst.tables, "table", x)?;
            let size = tbl.refs.num_elements();
            let oob_trap = vec![trap("out of bounds table access")];
            let mut changed = false;
            let new = match e.tag.as_str() {
                "TableGet" => {
                    let i = pop_i32(&mut vs)?;
                    if (i as u32) >= (size as u32) {
                        oob_trap
                    } else {
                        let r = tbl.refs.get(i)?;
                        vs.cons(Value::Ref(r))?;
                        vec![]
                    }
                }
                "TableSet" => {
                    let r = pop_ref(&mut vs)?;
                    let i = pop_i32(&mut vs)?;
                    if !ref_has_type(&r, tbl.ref_type) {
                        return Err(crash("type mismatch at table access"));
                    }
                    if (i as u32) >= (size as u32) {
                        oob_trap
                    } else {
                        tbl.refs.set(i, r)?;
                        changed = true;
                        vec![]
                    }
                }
                "TableSize" => {
                    vs.cons(Value::I32(size))?;
                    vec![]
                }
                "TableGrow" => {
                    let delta = pop_i32(&mut vs)?;
                    let r = pop_ref(&mut vs)?;
                    let old = tbl.min;
                    let new = old.wrapping_add(delta);
                    let res = if (old as u32) > (new as u32)
                        || tbl.max.is_some_and(|m| (new as u32) > (m as u32))
                    {
                        -1
                    } else {
                        tbl.refs.grow(delta, Some(&|| r.clone()))?;
                        tbl.min = new;
                        changed = true;
                        old
                    };
                    vs.cons(Value::I32(res))?;
                    vec![]
                }
                _ => {
                    let n = pop_i32(&mut vs)?;
                    let r = pop_ref(&mut vs)?;
                    let i = pop_i32(&mut vs)?;
                    if i64::from(i as u32).saturating_add(i64::from(n as u32))
                        > i64::from(size as u32)
                    {
                        oob_trap
                    } else if n == 0 {
                        vec![]
                    } else {
                        vec![Admin::TableFillMeta([0, i, n], r, x)]
                    }
                }
            };
            if changed {
                inst.tables.set(x, tbl)?;
                ctx.reg.set(&key, inst);
            }
            with(label, vs, es, new, stack)
        }
        "TableCopy" | "TableInit" => {
            let (x, y) = (arg_i32(&e, 0)?, arg_i32(&e, 1)?);
            let n = pop_i32(&mut vs)?;
            let s = pop_i32(&mut vs)?;
            let d = pop_i32(&mut vs)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let oob = |a: i32, len: i32| {
                i64::from(a as u32).saturating_add(i64::from(n as u32)) > i64::from(len as u32)
            };
            let dsize = lookup(&mut inst.tables, "table", x)?.refs.num_elements();
            let oob_trap = vec![trap("out of bounds table access")];
            let new = if e.tag == "TableCopy" {
                let ssize = lookup(&mut inst.tables, "table", y)?.refs.num_elements();
                if oob(d, dsize) || oob(s, ssize) {
                    oob_trap
                } else if n == 0 {
                    vec![]
                } else {
                    vec![Admin::TableCopyMeta(
                        [0, d, s, n, x, y],
                        (d as u32) <= (s as u32),
                    )]
                }
            } else {
                let mut seg = lookup(&mut inst.elems, "element segment", y)?;
                if oob(d, dsize) || oob(s, seg.0.num_elements()) {
                    oob_trap
                } else if n == 0 {
                    vec![]
                } else {
                    let r = seg.0.get(s)?;
                    vec![Admin::TableInitMeta(0, r, [d, s, n, x, y])]
                }
            };
            with(label, vs, es, new, stack)
        }
        "ElemDrop" => {
            let x = arg_i32(&e, 0)?;
            let mut inst = resolve(ctx, &frame.module)?;
            lookup(&mut inst.elems, "element segment", x)?;
            inst.elems
                .set(x, crate::instance::ElemInst(LazyVec::create(0)))?;
            ctx.reg.set(&module_key(&frame.module), inst);
            with(label, vs, es, vec![], stack)
        }
        "RefNull" => {
            let rt = crate::ast::RefType::from_bytes(arg(&e, 0)?)
                .ok_or_else(|| Error::Malformed(e.tag.clone(), "ref type"))?;
            vs.cons(Value::Ref(crate::instance::RefV::Null(rt)))?;
            with(label, vs, es, vec![], stack)
        }
        "RefIsNull" => {
            let v = pop_any(&mut vs)?;
            let r = match v {
                Value::Ref(crate::instance::RefV::Null(_)) => 1,
                Value::Ref(_) => 0,
                _ => return Err(crash("missing or ill-typed operand on stack")),
            };
            vs.cons(Value::I32(r))?;
            with(label, vs, es, vec![], stack)
        }
        "RefFunc" => {
            let x = arg_i32(&e, 0)?;
            let mut inst = resolve(ctx, &frame.module)?;
            let f = lookup(&mut inst.funcs, "function", x)?;
            vs.cons(Value::Ref(crate::instance::RefV::Func(Box::new(f))))?;
            with(label, vs, es, vec![], stack)
        }
        "Test" | "Compare" | "Unary" | "Binary" | "Convert" => {
            let op = arg(&e, 0)?.to_vec();
            match crate::numeric::eval(&e.tag, &op, &mut vs)? {
                Ok(()) => with(label, vs, es, vec![], stack),
                Err(msg) => with(label, vs, es, vec![trap(&msg)], stack),
            }
        }
        "VecConst" | "VecTest" | "VecUnary" | "VecBinary" | "VecCompare" | "VecConvert"
        | "VecShift" | "VecBitmask" | "VecTestBits" | "VecUnaryBits" | "VecBinaryBits"
        | "VecTernaryBits" | "VecSplat" | "VecExtract" | "VecReplace" => {
            crate::simd::eval(&e.tag, arg(&e, 0)?, &mut vs)?;
            with(label, vs, es, vec![], stack)
        }
        "VecLoad" | "VecStore" | "VecLoadLane" | "VecStoreLane" => {
            let new = vec_memory(ctx, frame, &e, &mut vs)?;
            with(label, vs, es, new.map(trap).into_iter().collect(), stack)
        }
        other => Err(Error::Unsupported(format!("instruction {other}"))),
    }
}
