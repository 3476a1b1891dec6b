//! Runtime values, functions, memories, tables, globals, module instances and the module
//! registry, with the tree encodings of `src/lib_scoru_wasm/wasm_encoding.ml`
//! (`docs/reference/wasm-ticks.md` §2.7): `value_encoding`, `value_ref_encoding`,
//! `function_encoding`, `memory_encoding`, `table_encoding`, `global_encoding`,
//! `extern_encoding`, `module_instance_encoding`, `module_instances_encoding`.

use crate::codec::Tree;

use crate::ast::{Allocations, FuncType, RefType, ValType};
use crate::codec::{
    self, Blob, Codec, Error, Rd, Result, Str, join, read_tag, show, val, write_tag,
};
use crate::lazy::{Cbv, LazyMap, LazyVec};

/// The only module the PVM registers (`Constants.wasm_main_module_name`).
pub const MAIN: &str = "main";

/// A runtime value (`Values.value`; floats never reach the PVM).
#[derive(Clone, Debug)]
pub enum Value {
    /// `Num (I32 _)`
    I32(i32),
    /// `Num (I64 _)`
    I64(i64),
    /// `Vec (V128 _)` (16 bytes).
    V128(Vec<u8>),
    /// `Ref _`
    Ref(RefV),
}

impl Value {
    /// `default_value` of a value type.
    pub fn default_of(t: ValType) -> Value {
        match t {
            ValType::I32 => Value::I32(0),
            ValType::I64 => Value::I64(0),
            ValType::V128 => Value::V128(vec![0; 16]),
            ValType::FuncRef => Value::Ref(RefV::Null(RefType::FuncRef)),
            ValType::ExternRef => Value::Ref(RefV::Null(RefType::ExternRef)),
        }
    }
}

/// `Values.num` as `Interpreter_encodings.Values.num_encoding` (`union_incr`: 0 = I32, 1 = I64).
fn put_num(v: &Value, out: &mut Vec<u8>) -> bool {
    match v {
        Value::I32(x) => {
            out.push(0);
            x.put(out);
            true
        }
        Value::I64(x) => {
            out.push(1);
            x.put(out);
            true
        }
        _ => false,
    }
}

fn take_num(r: &mut Rd<'_>) -> Option<Value> {
    match r.u8()? {
        0 => Some(Value::I32(r.i32()?)),
        1 => Some(Value::I64(r.i64()?)),
        _ => None,
    }
}

/// A numeric value stored as one blob (`num_encoding`), as in `Const` and `Memory_fill_meta`.
#[derive(Clone, Debug)]
pub struct NumBlob(pub Value);

impl Blob for NumBlob {
    fn put(&self, out: &mut Vec<u8>) {
        put_num(&self.0, out);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        take_num(r).map(NumBlob)
    }
}

impl Codec for Value {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match self {
            Value::I32(_) | Value::I64(_) => {
                write_tag(t, p, "NumType")?;
                let mut b = Vec::new();
                put_num(self, &mut b);
                codec::write(t, &val(p), b)
            }
            Value::V128(bytes) => {
                write_tag(t, p, "VecType V128Type")?;
                let mut b = vec![0];
                Str(bytes.clone()).put(&mut b);
                codec::write(t, &val(p), b)
            }
            Value::Ref(r) => {
                write_tag(t, p, "RefType")?;
                r.encode(t, &val(p))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        match read_tag(t, p)?.as_str() {
            "NumType" => {
                let b = codec::need(t, &v, "missing number")?;
                let mut r = Rd(&b);
                take_num(&mut r)
                    .filter(|_| r.0.is_empty())
                    .ok_or_else(|| Error::Malformed(show(&v), "bad number"))
            }
            "VecType V128Type" => {
                let b = codec::need(t, &v, "missing vector")?;
                let mut r = Rd(&b);
                match (r.u8(), Str::take(&mut r)) {
                    (Some(0), Some(s)) if r.0.is_empty() => Ok(Value::V128(s.0)),
                    _ => Err(Error::Malformed(show(&v), "bad v128")),
                }
            }
            "RefType" => Ok(Value::Ref(RefV::decode(t, &v)?)),
            _ => Err(Error::Malformed(show(p), "value tag")),
        }
    }
}

/// A reference (`value_ref_encoding`: `FuncRef` function, `ExternRef` int32, `NullRef` type).
#[derive(Clone, Debug)]
pub enum RefV {
    /// `FuncRef f`
    Func(Box<Function>),
    /// `ExternRef n`
    Extern(i32),
    /// `NullRef t`
    Null(RefType),
}

impl Codec for RefV {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        match self {
            RefV::Func(f) => {
                write_tag(t, p, "FuncRef")?;
                f.encode(t, &val(p))
            }
            RefV::Extern(n) => {
                write_tag(t, p, "ExternRef")?;
                n.encode(t, &val(p))
            }
            RefV::Null(rt) => {
                write_tag(t, p, "NullRef")?;
                rt.encode(t, &val(p))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "FuncRef" => RefV::Func(Box::new(Function::decode(t, &v)?)),
            "ExternRef" => RefV::Extern(i32::decode(t, &v)?),
            "NullRef" => RefV::Null(RefType::decode(t, &v)?),
            _ => return Err(Error::Malformed(show(p), "reference tag")),
        })
    }
}

/// `function_type_encoding` (instances: `1/type-params`, `2/type-result`, hyphens) or
/// `func_type_encoding` (`type_params`, `type_result`, underscores).
pub fn encode_ft(ft: &FuncType, t: &mut Tree, p: &[String], hyphen: bool) -> Result<()> {
    let (a, b) = if hyphen {
        ("type-params", "type-result")
    } else {
        ("type_params", "type_result")
    };
    ft.params.encode(t, &join(p, &["1", a]))?;
    ft.results.encode(t, &join(p, &["2", b]))
}

/// Decode a function type written by [`encode_ft`].
pub fn decode_ft(t: &Tree, p: &[String], hyphen: bool) -> Result<FuncType> {
    let (a, b) = if hyphen {
        ("type-params", "type-result")
    } else {
        ("type_params", "type_result")
    };
    Ok(FuncType {
        params: LazyVec::decode(t, &join(p, &["1", a]))?,
        results: LazyVec::decode(t, &join(p, &["2", b]))?,
    })
}

/// A function type of an instance (`function_type_encoding`, hyphens).
#[derive(Clone, Debug)]
pub struct InstFuncType(pub FuncType);

impl Codec for InstFuncType {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        encode_ft(&self.0, t, p, true)
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(InstFuncType(decode_ft(t, p, true)?))
    }
}

/// An AST function (`Code.func_encoding` / `func'_encoding`), as held by `AstFunc`.
pub type AstFunc = crate::ast::Func;

/// `Func.t` (`function_encoding`): `Host` (`value/1/…` type with underscores, `value/2/name`)
/// or `Native` (`value/1/…` type with hyphens, `value/2/module`, `value/3/ftype`,
/// `value/4/locals/…`, `value/5` body).
#[derive(Clone, Debug)]
pub enum Function {
    /// `HostFunc (type, global name)`
    Host {
        /// Type.
        ty: FuncType,
        /// Octez's internal name (`tezos_read_input`, …).
        name: Vec<u8>,
    },
    /// `AstFunc (type, module key, func)`
    Native {
        /// Type.
        ty: FuncType,
        /// Module key (`main`).
        module: Vec<u8>,
        /// The AST function.
        func: AstFunc,
    },
}

impl Function {
    /// `Func.type_of`.
    pub fn ty(&self) -> &FuncType {
        match self {
            Function::Host { ty, .. } | Function::Native { ty, .. } => ty,
        }
    }
}

impl Codec for Function {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Function::Host { ty, name } => {
                write_tag(t, p, "Host")?;
                encode_ft(ty, t, &join(&v, &["1"]), false)?;
                Str(name.clone()).encode(t, &join(&v, &["2", "name"]))
            }
            Function::Native { ty, module, func } => {
                write_tag(t, p, "Native")?;
                encode_ft(ty, t, &join(&v, &["1"]), true)?;
                Str(module.clone()).encode(t, &join(&v, &["2", "module"]))?;
                func.ftype.encode(t, &join(&v, &["3", "ftype"]))?;
                func.locals.encode(t, &join(&v, &["4", "locals"]))?;
                func.body.encode(t, &join(&v, &["5"]))
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "Host" => Function::Host {
                ty: decode_ft(t, &join(&v, &["1"]), false)?,
                name: Str::decode(t, &join(&v, &["2", "name"]))?.0,
            },
            "Native" => Function::Native {
                ty: decode_ft(t, &join(&v, &["1"]), true)?,
                module: Str::decode(t, &join(&v, &["2", "module"]))?.0,
                func: AstFunc {
                    ftype: i32::decode(t, &join(&v, &["3", "ftype"]))?,
                    locals: LazyVec::decode(t, &join(&v, &["4", "locals"]))?,
                    body: i32::decode(t, &join(&v, &["5"]))?,
                },
            },
            _ => return Err(Error::Malformed(show(p), "function tag")),
        })
    }
}

/// Page size of linear memories (`Partial_memory.page_size`).
pub const PAGE: i64 = 0x10000;

/// A linear memory (`memory_encoding`): `1/min`, `2/max` (absent when none), `3/chunks/…`
/// (a chunked byte vector: only written chunks exist).
#[derive(Clone, Debug)]
pub struct MemoryInst {
    /// Current size in pages (`MemoryType.min`).
    pub min: i32,
    /// Maximum.
    pub max: Option<i32>,
    /// Contents.
    pub chunks: Cbv,
}

impl MemoryInst {
    /// `Memory.alloc`: `min` pages of zeros, no chunk.
    pub fn alloc(min: i32, max: Option<i32>) -> Result<Self> {
        let len = i64::from(min as u32)
            .checked_mul(PAGE)
            .ok_or(Error::Overflow("memory size"))?;
        Ok(MemoryInst {
            min,
            max,
            chunks: Cbv::allocate(len),
        })
    }
}

impl Codec for MemoryInst {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.min.encode(t, &join(p, &["1", "min"]))?;
        codec::write_value_option(t, &join(p, &["2", "max"]), &self.max)?;
        self.chunks.encode(t, &join(p, &["3", "chunks"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(MemoryInst {
            min: i32::decode(t, &join(p, &["1", "min"]))?,
            max: codec::read_value_option(t, &join(p, &["2", "max"]))?,
            chunks: Cbv::decode(t, &join(p, &["3", "chunks"]))?,
        })
    }
}

/// A table (`table_encoding`): `1/min`, `2/max`, `3/refs/…`, `4/ref-type`.
#[derive(Clone, Debug)]
pub struct TableInst {
    /// Size.
    pub min: i32,
    /// Maximum.
    pub max: Option<i32>,
    /// Elements.
    pub refs: LazyVec<RefV>,
    /// Element type.
    pub ref_type: RefType,
}

impl Codec for TableInst {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.min.encode(t, &join(p, &["1", "min"]))?;
        codec::write_value_option(t, &join(p, &["2", "max"]), &self.max)?;
        self.refs.encode(t, &join(p, &["3", "refs"]))?;
        self.ref_type.encode(t, &join(p, &["4", "ref-type"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(TableInst {
            min: i32::decode(t, &join(p, &["1", "min"]))?,
            max: codec::read_value_option(t, &join(p, &["2", "max"]))?,
            refs: LazyVec::decode(t, &join(p, &["3", "refs"]))?,
            ref_type: RefType::decode(t, &join(p, &["4", "ref-type"]))?,
        })
    }
}

/// A global (`global_encoding`): `1/type` (mutability: 0 mutable, 1 immutable), `2/value/…`.
#[derive(Clone, Debug)]
pub struct GlobalInst {
    /// Mutable?
    pub mutable: bool,
    /// Content.
    pub value: Value,
}

impl Codec for GlobalInst {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        codec::write(
            t,
            &join(p, &["1", "type"]),
            vec![if self.mutable { 0 } else { 1 }],
        )?;
        self.value.encode(t, &join(p, &["2", "value"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let tp = join(p, &["1", "type"]);
        let mutable = match codec::need(t, &tp, "missing mutability")?.as_slice() {
            [0] => true,
            [1] => false,
            _ => return Err(Error::Malformed(show(&tp), "bad mutability")),
        };
        Ok(GlobalInst {
            mutable,
            value: Value::decode(t, &join(p, &["2", "value"]))?,
        })
    }
}

/// `extern_encoding`: `ExternFunc`, `ExternTable`, `ExternMemory`, `ExternGlobal`.
#[derive(Clone, Debug)]
pub enum Extern {
    /// Function.
    Func(Function),
    /// Table.
    Table(TableInst),
    /// Memory.
    Memory(MemoryInst),
    /// Global.
    Global(GlobalInst),
}

impl Codec for Extern {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Extern::Func(f) => {
                write_tag(t, p, "ExternFunc")?;
                f.encode(t, &v)
            }
            Extern::Table(x) => {
                write_tag(t, p, "ExternTable")?;
                x.encode(t, &v)
            }
            Extern::Memory(x) => {
                write_tag(t, p, "ExternMemory")?;
                x.encode(t, &v)
            }
            Extern::Global(x) => {
                write_tag(t, p, "ExternGlobal")?;
                x.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "ExternFunc" => Extern::Func(Function::decode(t, &v)?),
            "ExternTable" => Extern::Table(TableInst::decode(t, &v)?),
            "ExternMemory" => Extern::Memory(MemoryInst::decode(t, &v)?),
            "ExternGlobal" => Extern::Global(GlobalInst::decode(t, &v)?),
            _ => return Err(Error::Malformed(show(p), "extern tag")),
        })
    }
}

/// An element segment instance (`value_ref_vector_encoding`: `refs/…`).
#[derive(Clone, Debug)]
pub struct ElemInst(pub LazyVec<RefV>);

impl Codec for ElemInst {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.0.encode(t, &join(p, &["refs"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(ElemInst(LazyVec::decode(t, &join(p, &["refs"]))?))
    }
}

/// `module_inst` (`module_instance_encoding`, `tup9 ~flatten:false`): `1/types/…`,
/// `2/functions/…`, `3/tables/…`, `4/memories/…`, `5/globals/…`, `6/<export>/…`,
/// `7/elements/…`, `8/datas/…`, `9/1/block-table/…`, `9/2/datas-table/…`.
#[derive(Clone, Debug)]
pub struct Instance {
    /// Types.
    pub types: LazyVec<InstFuncType>,
    /// Functions (imported first).
    pub funcs: LazyVec<Function>,
    /// Tables.
    pub tables: LazyVec<TableInst>,
    /// Memories.
    pub memories: LazyVec<MemoryInst>,
    /// Globals.
    pub globals: LazyVec<GlobalInst>,
    /// Exports (the PVM keeps function exports only).
    pub exports: LazyMap<Extern>,
    /// Element segments.
    pub elems: LazyVec<ElemInst>,
    /// Data segments (data labels).
    pub datas: LazyVec<i32>,
    /// Blocks and data bytes.
    pub allocations: Allocations,
}

impl Instance {
    /// `empty_module_inst`.
    pub fn empty() -> Self {
        Instance {
            types: LazyVec::empty(),
            funcs: LazyVec::empty(),
            tables: LazyVec::empty(),
            memories: LazyVec::empty(),
            globals: LazyVec::empty(),
            exports: LazyMap::default(),
            elems: LazyVec::empty(),
            datas: LazyVec::empty(),
            allocations: Allocations::empty(),
        }
    }
}

impl Codec for Instance {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.types.encode(t, &join(p, &["1", "types"]))?;
        self.funcs.encode(t, &join(p, &["2", "functions"]))?;
        self.tables.encode(t, &join(p, &["3", "tables"]))?;
        self.memories.encode(t, &join(p, &["4", "memories"]))?;
        self.globals.encode(t, &join(p, &["5", "globals"]))?;
        self.exports.encode(t, &join(p, &["6"]))?;
        self.elems.encode(t, &join(p, &["7", "elements"]))?;
        self.datas.encode(t, &join(p, &["8", "datas"]))?;
        self.allocations.encode(t, &join(p, &["9"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Instance {
            types: LazyVec::decode(t, &join(p, &["1", "types"]))?,
            funcs: LazyVec::decode(t, &join(p, &["2", "functions"]))?,
            tables: LazyVec::decode(t, &join(p, &["3", "tables"]))?,
            memories: LazyVec::decode(t, &join(p, &["4", "memories"]))?,
            globals: LazyVec::decode(t, &join(p, &["5", "globals"]))?,
            exports: LazyMap::decode(t, &join(p, &["6"]))?,
            elems: LazyVec::decode(t, &join(p, &["7", "elements"]))?,
            datas: LazyVec::decode(t, &join(p, &["8", "datas"]))?,
            allocations: Allocations::decode(t, &join(p, &["9"]))?,
        })
    }
}

/// The module registry (`module_instances_encoding`: lazy map `modules/<name>/…`).
pub type Registry = LazyMap<Instance>;
