//! The evaluator's state (`src/lib_webassembly/exec/eval.ml`: admin instructions, labels,
//! frames, `label_step_kont`, `invoke_step_kont`, `step_kont`, `config`) with the tree
//! encodings of `wasm_encoding.ml` (`docs/reference/wasm-ticks.md` §1.5, §2.7), and one
//! evaluation tick (`step` = one `frame_step`; [`crate::exec`] holds `step_instr`).

use crate::codec::Tree;

use crate::ast::Instr;
use crate::codec::{
    self, Blob, Codec, Error, Opt, Result, Str, join, read_tag, show, val, write_tag,
};
use crate::instance::{AstFunc, Function, RefV, Value};
use crate::kont::ConcatKont;
use crate::lazy::LazyVec;

/// `admin_instr'` (`admin_instr'_encoding`).
#[derive(Clone, Debug)]
pub enum Admin {
    /// `From_block (block, index)`: `value/1`, `value/2`.
    FromBlock(i32, i32),
    /// `Plain instr`: the instruction under `value/`.
    Plain(Instr),
    /// `Refer r`
    Refer(RefV),
    /// `Invoke f`
    Invoke(Function),
    /// `Trapping msg`
    Trapping(Vec<u8>),
    /// `Returning vs`
    Returning(LazyVec<Value>),
    /// `Breaking (k, vs)`: `value/1`, `value/2/…`.
    Breaking(i32, LazyVec<Value>),
    /// `Memory_init_meta (idx, d, b, n, s, x)`.
    MemoryInitMeta([i32; 6]),
    /// `Memory_fill_meta (idx, i, k, n)`.
    MemoryFillMeta(i32, i32, Value, i32),
    /// `Memory_copy_meta (idx, d, s, n, case)`.
    MemoryCopyMeta([i32; 4], bool),
    /// `Table_init_meta (idx, value, d, s, n, x, y)`: `value/2/…` is the reference.
    TableInitMeta(i32, RefV, [i32; 5]),
    /// `Table_fill_meta (idx, i, n, r, x)`: `value/4/…` is the reference.
    TableFillMeta([i32; 3], RefV, i32),
    /// `Table_copy_meta (idx, d, s, n, x, y, case)`.
    TableCopyMeta([i32; 6], bool),
}

fn put_fields(t: &mut Tree, v: &[String], fields: &[Vec<u8>]) -> Result<()> {
    for (i, f) in fields.iter().enumerate() {
        let k = i
            .checked_add(1)
            .ok_or(Error::Overflow("field"))?
            .to_string();
        codec::write(t, &join(v, &[&k]), f.clone())?;
    }
    Ok(())
}

fn get_i32(t: &Tree, v: &[String], k: &str) -> Result<i32> {
    i32::decode(t, &join(v, &[k]))
}

impl Codec for Admin {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Admin::FromBlock(b, i) => {
                write_tag(t, p, "From_block")?;
                put_fields(t, &v, &[b.to_bytes(), i.to_bytes()])
            }
            Admin::Plain(i) => {
                write_tag(t, p, "Plain")?;
                i.encode(t, &v)
            }
            Admin::Refer(r) => {
                write_tag(t, p, "Refer")?;
                r.encode(t, &v)
            }
            Admin::Invoke(f) => {
                write_tag(t, p, "Invoke")?;
                f.encode(t, &v)
            }
            Admin::Trapping(m) => {
                write_tag(t, p, "Trapping")?;
                Str(m.clone()).encode(t, &v)
            }
            Admin::Returning(vs) => {
                write_tag(t, p, "Returning")?;
                vs.encode(t, &v)
            }
            Admin::Breaking(k, vs) => {
                write_tag(t, p, "Breaking")?;
                k.encode(t, &join(&v, &["1"]))?;
                vs.encode(t, &join(&v, &["2"]))
            }
            Admin::MemoryInitMeta(f) => {
                write_tag(t, p, "Memory_init_meta")?;
                let fs: Vec<Vec<u8>> = f.iter().map(Blob::to_bytes).collect();
                put_fields(t, &v, &fs)
            }
            Admin::MemoryFillMeta(idx, i, k, n) => {
                write_tag(t, p, "Memory_fill_meta")?;
                let fs = vec![
                    idx.to_bytes(),
                    i.to_bytes(),
                    crate::instance::NumBlob(k.clone()).to_bytes(),
                    n.to_bytes(),
                ];
                put_fields(t, &v, &fs)
            }
            Admin::MemoryCopyMeta(f, case) => {
                write_tag(t, p, "Memory_copy_meta")?;
                let mut fs: Vec<Vec<u8>> = f.iter().map(Blob::to_bytes).collect();
                fs.push(case.to_bytes());
                put_fields(t, &v, &fs)
            }
            Admin::TableInitMeta(idx, r, [d, s, n, x, y]) => {
                write_tag(t, p, "Table_init_meta")?;
                idx.encode(t, &join(&v, &["1"]))?;
                r.encode(t, &join(&v, &["2"]))?;
                for (k, x) in [("3", d), ("4", s), ("5", n), ("6", x), ("7", y)] {
                    x.encode(t, &join(&v, &[k]))?;
                }
                Ok(())
            }
            Admin::TableFillMeta([idx, i, n], r, x) => {
                write_tag(t, p, "Table_fill_meta")?;
                for (k, f) in [("1", idx), ("2", i), ("3", n)] {
                    f.encode(t, &join(&v, &[k]))?;
                }
                r.encode(t, &join(&v, &["4"]))?;
                x.encode(t, &join(&v, &["5"]))
            }
            Admin::TableCopyMeta(f, case) => {
                write_tag(t, p, "Table_copy_meta")?;
                let mut fs: Vec<Vec<u8>> = f.iter().map(Blob::to_bytes).collect();
                fs.push(case.to_bytes());
                put_fields(t, &v, &fs)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "From_block" => Admin::FromBlock(get_i32(t, &v, "1")?, get_i32(t, &v, "2")?),
            "Plain" => Admin::Plain(Instr::decode(t, &v)?),
            "Refer" => Admin::Refer(RefV::decode(t, &v)?),
            "Invoke" => Admin::Invoke(Function::decode(t, &v)?),
            "Trapping" => Admin::Trapping(Str::decode(t, &v)?.0),
            "Returning" => Admin::Returning(LazyVec::decode(t, &v)?),
            "Breaking" => {
                Admin::Breaking(get_i32(t, &v, "1")?, LazyVec::decode(t, &join(&v, &["2"]))?)
            }
            "Memory_init_meta" => {
                let mut f = [0; 6];
                for (i, x) in f.iter_mut().enumerate() {
                    *x = get_i32(t, &v, &(i.saturating_add(1)).to_string())?;
                }
                Admin::MemoryInitMeta(f)
            }
            "Memory_fill_meta" => Admin::MemoryFillMeta(
                get_i32(t, &v, "1")?,
                get_i32(t, &v, "2")?,
                crate::instance::NumBlob::decode(t, &join(&v, &["3"]))?.0,
                get_i32(t, &v, "4")?,
            ),
            "Memory_copy_meta" => {
                let mut f = [0; 4];
                for (i, x) in f.iter_mut().enumerate() {
                    *x = get_i32(t, &v, &(i.saturating_add(1)).to_string())?;
                }
                Admin::MemoryCopyMeta(f, bool::decode(t, &join(&v, &["5"]))?)
            }
            "Table_init_meta" => Admin::TableInitMeta(
                get_i32(t, &v, "1")?,
                RefV::decode(t, &join(&v, &["2"]))?,
                [
                    get_i32(t, &v, "3")?,
                    get_i32(t, &v, "4")?,
                    get_i32(t, &v, "5")?,
                    get_i32(t, &v, "6")?,
                    get_i32(t, &v, "7")?,
                ],
            ),
            "Table_fill_meta" => Admin::TableFillMeta(
                [
                    get_i32(t, &v, "1")?,
                    get_i32(t, &v, "2")?,
                    get_i32(t, &v, "3")?,
                ],
                RefV::decode(t, &join(&v, &["4"]))?,
                get_i32(t, &v, "5")?,
            ),
            "Table_copy_meta" => {
                let mut f = [0; 6];
                for (i, x) in f.iter_mut().enumerate() {
                    *x = get_i32(t, &v, &(i.saturating_add(1)).to_string())?;
                }
                Admin::TableCopyMeta(f, bool::decode(t, &join(&v, &["7"]))?)
            }
            other => return Err(Error::Unsupported(format!("admin instruction {other}"))),
        })
    }
}

/// `label` (`label_encoding`, flat): `arity` (absent = none), `label_break/…` (option),
/// `values/…`, `instructions/…`.
#[derive(Clone, Debug)]
pub struct Label {
    /// `label_arity`.
    pub arity: Option<i32>,
    /// `label_break`.
    pub brk: Option<Instr>,
    /// Value stack (head = index 0).
    pub vs: LazyVec<Value>,
    /// Admin instructions (head = index 0).
    pub es: LazyVec<Admin>,
}

impl Codec for Label {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        codec::write_value_option(t, &join(p, &["arity"]), &self.arity)?;
        Opt(self.brk.clone()).encode(t, &join(p, &["label_break"]))?;
        self.vs.encode(t, &join(p, &["values"]))?;
        self.es.encode(t, &join(p, &["instructions"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let bp = join(p, &["label_break"]);
        // `option` decodes an absent tag as `None`.
        let brk = if codec::read(t, &join(&bp, &["tag"]))?.is_none() {
            None
        } else {
            Opt::<Instr>::decode(t, &bp)?.0
        };
        Ok(Label {
            arity: codec::read_value_option(t, &join(p, &["arity"]))?,
            brk,
            vs: LazyVec::decode(t, &join(p, &["values"]))?,
            es: LazyVec::decode(t, &join(p, &["instructions"]))?,
        })
    }
}

/// `label_kont` (packed): `Label_stack` (`value/top/…`, `value/rst/…`), `Label_result`
/// (values), `Label_trapped` (string).
#[derive(Clone, Debug)]
pub enum LabelKont {
    /// Ongoing: top label and the labels below it.
    Stack(Box<Label>, LazyVec<Label>),
    /// Finished with values.
    Result(LazyVec<Value>),
    /// Trapped.
    Trapped(Vec<u8>),
}

impl Codec for LabelKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            LabelKont::Stack(top, rst) => {
                write_tag(t, p, "Label_stack")?;
                top.encode(t, &join(&v, &["top"]))?;
                rst.encode(t, &join(&v, &["rst"]))
            }
            LabelKont::Result(vs) => {
                write_tag(t, p, "Label_result")?;
                vs.encode(t, &v)
            }
            LabelKont::Trapped(m) => {
                write_tag(t, p, "Label_trapped")?;
                Str(m.clone()).encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "Label_stack" => LabelKont::Stack(
                Box::new(Label::decode(t, &join(&v, &["top"]))?),
                LazyVec::decode(t, &join(&v, &["rst"]))?,
            ),
            "Label_result" => LabelKont::Result(LazyVec::decode(t, &v)?),
            "Label_trapped" => LabelKont::Trapped(Str::decode(t, &v)?.0),
            _ => return Err(Error::Malformed(show(p), "label kont tag")),
        })
    }
}

/// `frame_stack` (flat): `arity`, `frame/module`, `frame/locals/…`, `label_kont/…`.
#[derive(Clone, Debug)]
pub struct FrameStack {
    /// `frame_arity`.
    pub arity: Option<i32>,
    /// `frame_specs.inst` (module key).
    pub module: Vec<u8>,
    /// `frame_specs.locals`.
    pub locals: LazyVec<Value>,
    /// `frame_label_kont`.
    pub label_kont: LabelKont,
}

impl Codec for FrameStack {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        codec::write_value_option(t, &join(p, &["arity"]), &self.arity)?;
        Str(self.module.clone()).encode(t, &join(p, &["frame", "module"]))?;
        self.locals.encode(t, &join(p, &["frame", "locals"]))?;
        self.label_kont.encode(t, &join(p, &["label_kont"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(FrameStack {
            arity: codec::read_value_option(t, &join(p, &["arity"]))?,
            module: Str::decode(t, &join(p, &["frame", "module"]))?.0,
            locals: LazyVec::decode(t, &join(p, &["frame", "locals"]))?,
            label_kont: LabelKont::decode(t, &join(p, &["label_kont"]))?,
        })
    }
}

/// A reveal request (`Host_funcs.reveal = Reveal_raw payload`), encoded by `reveal_encoding`:
/// `Reveal_raw_data` (payload `0x00 ‖ hash`: the hash, `string' Hex`), `Reveal_metadata`
/// (payload `0x01`: empty blob), else `Reveal_raw` (the payload, `string`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reveal(pub Vec<u8>);

impl Codec for Reveal {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match self.0.split_first() {
            Some((0, hash)) => {
                write_tag(t, p, "Reveal_raw_data")?;
                Str(hash.to_vec()).encode(t, &val(p))
            }
            Some((1, [])) => codec::write_unit_case(t, p, "Reveal_metadata"),
            _ => {
                write_tag(t, p, "Reveal_raw")?;
                Str(self.0.clone()).encode(t, &val(p))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(match read_tag(t, p)?.as_str() {
            "Reveal_raw_data" => {
                let mut v = vec![0];
                v.extend(Str::decode(t, &val(p))?.0);
                Reveal(v)
            }
            "Reveal_metadata" => codec::read_unit_case(t, p, Reveal(vec![1]))?,
            "Reveal_raw" => Reveal(Str::decode(t, &val(p))?.0),
            _ => return Err(Error::Malformed(show(p), "reveal tag")),
        })
    }
}

/// `invoke_step_kont` (`invoke_step_kont_encoding`).
#[derive(Clone, Debug)]
pub enum InvokeKont {
    /// `Inv_start`: `func/…`, `values/…`, `instructions/…`.
    Start {
        /// Callee.
        func: Function,
        /// Caller's values.
        vs: LazyVec<Value>,
        /// Caller's admin instructions.
        es: LazyVec<Admin>,
    },
    /// `Inv_prepare_locals`.
    PrepareLocals {
        /// Result count.
        arity: i32,
        /// Arguments.
        args: LazyVec<Value>,
        /// Remaining values.
        vs: LazyVec<Value>,
        /// Caller's admin instructions.
        es: LazyVec<Admin>,
        /// Module key.
        inst: Vec<u8>,
        /// The AST function.
        func: AstFunc,
        /// Locals' default values (`kont/origin/x/…`, `kont/destination/y/…`).
        locals_kont: crate::kont::MapKont<crate::ast::ValType, Value>,
    },
    /// `Inv_prepare_args`.
    PrepareArgs {
        /// Result count.
        arity: i32,
        /// Remaining values.
        vs: LazyVec<Value>,
        /// Caller's admin instructions.
        es: LazyVec<Admin>,
        /// Module key.
        inst: Vec<u8>,
        /// The AST function.
        func: AstFunc,
        /// Locals.
        locals: LazyVec<Value>,
        /// Arguments reversed (`kont/origin/1/…`, `kont/destination/2/…`).
        args_kont: crate::kont::MapKont<Value, Value>,
    },
    /// `Inv_concat`.
    Concat {
        /// Result count.
        arity: i32,
        /// Remaining values.
        vs: LazyVec<Value>,
        /// Caller's admin instructions.
        es: LazyVec<Admin>,
        /// Module key.
        inst: Vec<u8>,
        /// The AST function.
        func: AstFunc,
        /// Arguments ++ locals (`kont/{lv,rv,res}/2/…`).
        concat_kont: ConcatKont<Value>,
    },
    /// `Inv_reveal_tick`: `reveal/…`, `base_destination`, `max_bytes`, `values/…`,
    /// `instructions/…`. The PVM waits for the revealed data ([`crate::tick::reveal_step`]).
    RevealTick {
        /// The request.
        reveal: Reveal,
        /// Where the data goes in memory 0.
        base: i32,
        /// At most this many bytes.
        max_bytes: i32,
        /// Values.
        vs: LazyVec<Value>,
        /// Admin instructions.
        es: LazyVec<Admin>,
    },
    /// `Inv_stop`: `values/…`, `instructions/…`, `fresh_frame` (option), `remaining_ticks` (z).
    Stop {
        /// Values.
        vs: LazyVec<Value>,
        /// Admin instructions.
        es: LazyVec<Admin>,
        /// The callee's frame, for an AST function.
        fresh_frame: Option<Box<FrameStack>>,
        /// Ticks still to spend (host functions; negative after a failed reveal write, as
        /// Octez's `Z`).
        remaining_ticks: i128,
    },
}

fn z_bytes(v: i128) -> Vec<u8> {
    let mut out = Vec::new();
    context_hash::data_encoding::write_z(&mut out, v < 0, v.unsigned_abs());
    out
}

fn read_z(t: &Tree, p: &[String]) -> Result<i128> {
    let b = codec::need(t, p, "missing z")?;
    match context_hash::data_encoding::read_z(&b) {
        Ok((neg, v, n)) if n == b.len() => {
            let v = i128::try_from(v).map_err(|_| Error::Malformed(show(p), "z too large"))?;
            Ok(if neg { v.saturating_neg() } else { v })
        }
        _ => Err(Error::Malformed(show(p), "bad z")),
    }
}

impl Codec for InvokeKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        match self {
            InvokeKont::Start { func, vs, es } => {
                write_tag(t, p, "Inv_start")?;
                func.encode(t, &f("func"))?;
                vs.encode(t, &f("values"))?;
                es.encode(t, &f("instructions"))
            }
            InvokeKont::PrepareLocals {
                arity,
                args,
                vs,
                es,
                inst,
                func,
                locals_kont,
            } => {
                write_tag(t, p, "Inv_prepare_locals")?;
                arity.encode(t, &f("arity"))?;
                args.encode(t, &f("args"))?;
                vs.encode(t, &f("values"))?;
                es.encode(t, &f("instructions"))?;
                Str(inst.clone()).encode(t, &f("inst"))?;
                func.encode(t, &f("func"))?;
                locals_kont.encode_at(t, &f("kont"), &["x"], &["y"])
            }
            InvokeKont::PrepareArgs {
                arity,
                vs,
                es,
                inst,
                func,
                locals,
                args_kont,
            } => {
                write_tag(t, p, "Inv_prepare_args")?;
                arity.encode(t, &f("arity"))?;
                vs.encode(t, &f("values"))?;
                es.encode(t, &f("instructions"))?;
                Str(inst.clone()).encode(t, &f("inst"))?;
                func.encode(t, &f("func"))?;
                locals.encode(t, &f("locals"))?;
                args_kont.encode_at(t, &f("kont"), &["1"], &["2"])
            }
            InvokeKont::Concat {
                arity,
                vs,
                es,
                inst,
                func,
                concat_kont,
            } => {
                write_tag(t, p, "Inv_concat")?;
                arity.encode(t, &f("arity"))?;
                vs.encode(t, &f("values"))?;
                es.encode(t, &f("instructions"))?;
                Str(inst.clone()).encode(t, &f("inst"))?;
                func.encode(t, &f("func"))?;
                concat_kont.encode_at(t, &f("kont"), &["2"])
            }
            InvokeKont::RevealTick {
                reveal,
                base,
                max_bytes,
                vs,
                es,
            } => {
                write_tag(t, p, "Inv_reveal_tick")?;
                reveal.encode(t, &f("reveal"))?;
                base.encode(t, &f("base_destination"))?;
                max_bytes.encode(t, &f("max_bytes"))?;
                vs.encode(t, &f("values"))?;
                es.encode(t, &f("instructions"))
            }
            InvokeKont::Stop {
                vs,
                es,
                fresh_frame,
                remaining_ticks,
            } => {
                write_tag(t, p, "Inv_stop")?;
                vs.encode(t, &f("values"))?;
                es.encode(t, &f("instructions"))?;
                Opt(fresh_frame.as_deref().cloned()).encode(t, &f("fresh_frame"))?;
                codec::write(t, &f("remaining_ticks"), z_bytes(*remaining_ticks))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        Ok(match read_tag(t, p)?.as_str() {
            "Inv_start" => InvokeKont::Start {
                func: Function::decode(t, &f("func"))?,
                vs: LazyVec::decode(t, &f("values"))?,
                es: LazyVec::decode(t, &f("instructions"))?,
            },
            "Inv_prepare_locals" => InvokeKont::PrepareLocals {
                arity: i32::decode(t, &f("arity"))?,
                args: LazyVec::decode(t, &f("args"))?,
                vs: LazyVec::decode(t, &f("values"))?,
                es: LazyVec::decode(t, &f("instructions"))?,
                inst: Str::decode(t, &f("inst"))?.0,
                func: AstFunc::decode(t, &f("func"))?,
                locals_kont: crate::kont::MapKont::decode_at(t, &f("kont"), &["x"], &["y"])?,
            },
            "Inv_prepare_args" => InvokeKont::PrepareArgs {
                arity: i32::decode(t, &f("arity"))?,
                vs: LazyVec::decode(t, &f("values"))?,
                es: LazyVec::decode(t, &f("instructions"))?,
                inst: Str::decode(t, &f("inst"))?.0,
                func: AstFunc::decode(t, &f("func"))?,
                locals: LazyVec::decode(t, &f("locals"))?,
                args_kont: crate::kont::MapKont::decode_at(t, &f("kont"), &["1"], &["2"])?,
            },
            "Inv_concat" => InvokeKont::Concat {
                arity: i32::decode(t, &f("arity"))?,
                vs: LazyVec::decode(t, &f("values"))?,
                es: LazyVec::decode(t, &f("instructions"))?,
                inst: Str::decode(t, &f("inst"))?.0,
                func: AstFunc::decode(t, &f("func"))?,
                concat_kont: ConcatKont::decode_at(t, &f("kont"), &["2"])?,
            },
            "Inv_reveal_tick" => InvokeKont::RevealTick {
                reveal: Reveal::decode(t, &f("reveal"))?,
                base: i32::decode(t, &f("base_destination"))?,
                max_bytes: i32::decode(t, &f("max_bytes"))?,
                vs: LazyVec::decode(t, &f("values"))?,
                es: LazyVec::decode(t, &f("instructions"))?,
            },
            "Inv_stop" => {
                let fp = f("fresh_frame");
                let fresh_frame = if codec::read(t, &join(&fp, &["tag"]))?.is_none() {
                    None
                } else {
                    Opt::<FrameStack>::decode(t, &fp)?.0.map(Box::new)
                };
                InvokeKont::Stop {
                    vs: LazyVec::decode(t, &f("values"))?,
                    es: LazyVec::decode(t, &f("instructions"))?,
                    fresh_frame,
                    remaining_ticks: read_z(t, &f("remaining_ticks"))?,
                }
            }
            other => return Err(Error::Unsupported(format!("invoke kont {other}"))),
        })
    }
}

/// `label_step_kont`.
#[derive(Clone, Debug)]
pub enum LabelStep {
    /// `LS_Start label_kont` (always `Label_stack`).
    Start(LabelKont),
    /// `LS_Craft_frame (label_kont, invoke_kont)`.
    CraftFrame(LabelKont, Box<InvokeKont>),
    /// `LS_Push_frame (label_kont, fresh_frame)`.
    PushFrame(LabelKont, Box<FrameStack>),
    /// `LS_Consolidate_top (label, kont, instructions, labels-stack)`.
    ConsolidateTop(
        Box<Label>,
        ConcatKont<Value>,
        LazyVec<Admin>,
        LazyVec<Label>,
    ),
    /// `LS_Modify_top label_kont`.
    ModifyTop(LabelKont),
}

impl Codec for LabelStep {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        match self {
            LabelStep::Start(k) => {
                write_tag(t, p, "LS_Start")?;
                k.encode(t, &v)
            }
            LabelStep::CraftFrame(k, i) => {
                write_tag(t, p, "LS_Craft_frame")?;
                k.encode(t, &f("label_kont"))?;
                i.encode(t, &f("invoke_kont"))
            }
            LabelStep::PushFrame(k, fr) => {
                write_tag(t, p, "LS_Push_frame")?;
                k.encode(t, &f("label_kont"))?;
                fr.encode(t, &f("fresh_frame"))
            }
            LabelStep::ConsolidateTop(l, c, es, ls) => {
                write_tag(t, p, "LS_Consolidate_top")?;
                l.encode(t, &f("label"))?;
                c.encode_at(t, &f("kont"), &[])?;
                es.encode(t, &f("instructions"))?;
                ls.encode(t, &f("labels-stack"))
            }
            LabelStep::ModifyTop(k) => {
                write_tag(t, p, "LS_Modify_top")?;
                k.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        Ok(match read_tag(t, p)?.as_str() {
            "LS_Start" => LabelStep::Start(LabelKont::decode(t, &v)?),
            "LS_Craft_frame" => LabelStep::CraftFrame(
                LabelKont::decode(t, &f("label_kont"))?,
                Box::new(InvokeKont::decode(t, &f("invoke_kont"))?),
            ),
            "LS_Push_frame" => LabelStep::PushFrame(
                LabelKont::decode(t, &f("label_kont"))?,
                Box::new(FrameStack::decode(t, &f("fresh_frame"))?),
            ),
            "LS_Consolidate_top" => LabelStep::ConsolidateTop(
                Box::new(Label::decode(t, &f("label"))?),
                ConcatKont::decode_at(t, &f("kont"), &[])?,
                LazyVec::decode(t, &f("instructions"))?,
                LazyVec::decode(t, &f("labels-stack"))?,
            ),
            "LS_Modify_top" => LabelStep::ModifyTop(LabelKont::decode(t, &v)?),
            _ => return Err(Error::Malformed(show(p), "label step kont tag")),
        })
    }
}

/// `step_kont`.
#[derive(Clone, Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "one value per tick, decoded from and encoded to the tree"
)]
pub enum StepKont {
    /// `SK_Start (top, rst)`.
    Start(Box<FrameStack>, LazyVec<FrameStack>),
    /// `SK_Next (top, rst, kont)`.
    Next(Box<FrameStack>, LazyVec<FrameStack>, Box<LabelStep>),
    /// `SK_Consolidate_label_result (top-frame, frames-stack, top-label, kont, instructions,
    /// labels-stack)`.
    Consolidate(
        Box<FrameStack>,
        LazyVec<FrameStack>,
        Box<Label>,
        ConcatKont<Value>,
        LazyVec<Admin>,
        LazyVec<Label>,
    ),
    /// `SK_Result values`.
    Result(LazyVec<Value>),
    /// `SK_Trapped msg`.
    Trapped(Vec<u8>),
}

impl Codec for StepKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        match self {
            StepKont::Start(top, rst) => {
                write_tag(t, p, "SK_Start")?;
                top.encode(t, &f("top"))?;
                rst.encode(t, &f("rst"))
            }
            StepKont::Next(top, rst, k) => {
                write_tag(t, p, "SK_Next")?;
                top.encode(t, &f("top"))?;
                rst.encode(t, &f("rst"))?;
                k.encode(t, &f("kont"))
            }
            StepKont::Consolidate(fr, frs, l, c, es, ls) => {
                write_tag(t, p, "SK_Consolidate_label_result")?;
                fr.encode(t, &f("top-frame"))?;
                frs.encode(t, &f("frames-stack"))?;
                l.encode(t, &f("top-label"))?;
                c.encode_at(t, &f("kont"), &[])?;
                es.encode(t, &f("instructions"))?;
                ls.encode(t, &f("labels-stack"))
            }
            StepKont::Result(vs) => {
                write_tag(t, p, "SK_Result")?;
                vs.encode(t, &v)
            }
            StepKont::Trapped(m) => {
                write_tag(t, p, "SK_Trapped")?;
                Str(m.clone()).encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        let f = |k: &str| join(&v, &[k]);
        Ok(match read_tag(t, p)?.as_str() {
            "SK_Start" => StepKont::Start(
                Box::new(FrameStack::decode(t, &f("top"))?),
                LazyVec::decode(t, &f("rst"))?,
            ),
            "SK_Next" => StepKont::Next(
                Box::new(FrameStack::decode(t, &f("top"))?),
                LazyVec::decode(t, &f("rst"))?,
                Box::new(LabelStep::decode(t, &f("kont"))?),
            ),
            "SK_Consolidate_label_result" => StepKont::Consolidate(
                Box::new(FrameStack::decode(t, &f("top-frame"))?),
                LazyVec::decode(t, &f("frames-stack"))?,
                Box::new(Label::decode(t, &f("top-label"))?),
                ConcatKont::decode_at(t, &f("kont"), &[])?,
                LazyVec::decode(t, &f("instructions"))?,
                LazyVec::decode(t, &f("labels-stack"))?,
            ),
            "SK_Result" => StepKont::Result(LazyVec::decode(t, &v)?),
            "SK_Trapped" => StepKont::Trapped(Str::decode(t, &v)?.0),
            _ => return Err(Error::Malformed(show(p), "step kont tag")),
        })
    }
}

/// `config` (flat): `step_kont/…`, `stack_size_limit` (int31).
#[derive(Clone, Debug)]
pub struct Config {
    /// The evaluation state.
    pub step_kont: StepKont,
    /// Call-stack limit (300 at V0, 60 000 otherwise; `docs/reference/wasm-ticks.md` §1.1).
    pub stack_size_limit: i32,
}

impl Config {
    /// `Eval.config ~stack_size_limit inst vs es`: one frame (no arity, no locals) whose label
    /// holds `vs` and `es`.
    pub fn new(stack_size_limit: i32, inst: &[u8], vs: LazyVec<Value>, es: LazyVec<Admin>) -> Self {
        let label = Label {
            arity: None,
            brk: None,
            vs,
            es,
        };
        let frame = FrameStack {
            arity: None,
            module: inst.to_vec(),
            locals: LazyVec::empty(),
            label_kont: LabelKont::Stack(Box::new(label), LazyVec::empty()),
        };
        Config {
            step_kont: StepKont::Start(Box::new(frame), LazyVec::empty()),
            stack_size_limit,
        }
    }
}

impl Codec for Config {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.step_kont.encode(t, &join(p, &["step_kont"]))?;
        codec::Int31(self.stack_size_limit).encode(t, &join(p, &["stack_size_limit"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Config {
            step_kont: StepKont::decode(t, &join(p, &["step_kont"]))?,
            stack_size_limit: codec::Int31::decode(t, &join(p, &["stack_size_limit"]))?.0,
        })
    }
}
