//! The WebAssembly AST as Octez stores it in the tree (`src/lib_webassembly/syntax/ast.ml`,
//! `src/lib_scoru_wasm/interpreter_encodings.ml` for the Data_encoding blobs,
//! `wasm_encoding.ml` for instructions, function types, allocations;
//! `docs/reference/wasm-ticks.md` §2.6). Source regions are never encoded.

use crate::codec::Tree;

use crate::codec::{
    self, Blob, Codec, Error, Rd, Result, Str, join, read_tag, show, val, write_tag,
};
use crate::lazy::{Cbv, LazyVec};

/// `Types.value_type` (`string_enum`, 1 byte: i32, i64, v128, funcref, externref). Floats
/// never reach the tree (`allow_floats:false`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValType {
    /// `NumType I32Type`
    I32,
    /// `NumType I64Type`
    I64,
    /// `VecType V128Type`
    V128,
    /// `RefType FuncRefType`
    FuncRef,
    /// `RefType ExternRefType`
    ExternRef,
}

impl Blob for ValType {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(*self as u8);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(match r.u8()? {
            0 => Self::I32,
            1 => Self::I64,
            2 => Self::V128,
            3 => Self::FuncRef,
            4 => Self::ExternRef,
            _ => return None,
        })
    }
}

/// `Types.ref_type` (`funcref` = 0, `externref` = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefType {
    /// `FuncRefType`
    FuncRef,
    /// `ExternRefType`
    ExternRef,
}

impl Blob for RefType {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(*self as u8);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(match r.u8()? {
            0 => Self::FuncRef,
            1 => Self::ExternRef,
            _ => return None,
        })
    }
}

/// `limits_encoding int32`: `min` int32, `max` option int32.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Minimum.
    pub min: i32,
    /// Maximum.
    pub max: Option<i32>,
}

impl Blob for Limits {
    fn put(&self, out: &mut Vec<u8>) {
        self.min.put(out);
        self.max.put(out);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(Limits {
            min: r.i32()?,
            max: <Option<i32> as Blob>::take(r)?,
        })
    }
}

/// `table_type_encoding` (also `Ast.table`): limits then ref type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableType {
    /// Limits.
    pub limits: Limits,
    /// Element type.
    pub ref_type: RefType,
}

impl Blob for TableType {
    fn put(&self, out: &mut Vec<u8>) {
        self.limits.put(out);
        self.ref_type.put(out);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(TableType {
            limits: Limits::take(r)?,
            ref_type: RefType::take(r)?,
        })
    }
}

/// `global_type_encoding`: value type, then mutability (`mutable` = 0, `immutable` = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GlobalType {
    /// Value type.
    pub vt: ValType,
    /// Mutable?
    pub mutable: bool,
}

impl Blob for GlobalType {
    fn put(&self, out: &mut Vec<u8>) {
        self.vt.put(out);
        out.push(if self.mutable { 0 } else { 1 });
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        let vt = ValType::take(r)?;
        let mutable = match r.u8()? {
            0 => true,
            1 => false,
            _ => return None,
        };
        Some(GlobalType { vt, mutable })
    }
}

/// `Ast.global` (`global_encoding`): type, then the init block label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    /// Type.
    pub gtype: GlobalType,
    /// `ginit` (`Block_label`).
    pub ginit: i32,
}

impl Blob for Global {
    fn put(&self, out: &mut Vec<u8>) {
        self.gtype.put(out);
        self.ginit.put(out);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(Global {
            gtype: GlobalType::take(r)?,
            ginit: r.i32()?,
        })
    }
}

/// `import_desc_encoding` (`union_incr`: 1-byte tag).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportDesc {
    /// `FuncImport var`
    Func(i32),
    /// `TableImport`
    Table(TableType),
    /// `MemoryImport`
    Memory(Limits),
    /// `GlobalImport`
    Global(GlobalType),
}

impl Blob for ImportDesc {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Self::Func(x) => {
                out.push(0);
                x.put(out)
            }
            Self::Table(x) => {
                out.push(1);
                x.put(out)
            }
            Self::Memory(x) => {
                out.push(2);
                x.put(out)
            }
            Self::Global(x) => {
                out.push(3);
                x.put(out)
            }
        }
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(match r.u8()? {
            0 => Self::Func(r.i32()?),
            1 => Self::Table(TableType::take(r)?),
            2 => Self::Memory(Limits::take(r)?),
            3 => Self::Global(GlobalType::take(r)?),
            _ => return None,
        })
    }
}

/// `export_desc_encoding`: kind tag (func, table, memory, global) then the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportDesc {
    /// 0 func, 1 table, 2 memory, 3 global.
    pub kind: u8,
    /// Index.
    pub index: i32,
}

impl Blob for ExportDesc {
    fn put(&self, out: &mut Vec<u8>) {
        out.push(self.kind);
        self.index.put(out);
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        let kind = r.u8()?;
        (kind < 4).then_some(())?;
        Some(ExportDesc {
            kind,
            index: r.i32()?,
        })
    }
}

/// `segment_mode_encoding`: `Passive` (0), `Active {index; offset}` (1, two int32),
/// `Declarative` (2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentMode {
    /// Passive.
    Passive,
    /// Active at table/memory `index`, offset = constant block label.
    Active {
        /// Table or memory index.
        index: i32,
        /// Offset expression (`Block_label`).
        offset: i32,
    },
    /// Declarative.
    Declarative,
}

impl Blob for SegmentMode {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Self::Passive => out.push(0),
            Self::Active { index, offset } => {
                out.push(1);
                index.put(out);
                offset.put(out);
            }
            Self::Declarative => out.push(2),
        }
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(match r.u8()? {
            0 => Self::Passive,
            1 => Self::Active {
                index: r.i32()?,
                offset: r.i32()?,
            },
            2 => Self::Declarative,
            _ => return None,
        })
    }
}

/// `block_type_encoding`: `VarBlockType var` (0) or `ValBlockType (option value_type)` (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockType {
    /// Type index.
    Var(i32),
    /// Inline result type.
    Val(Option<ValType>),
}

impl Blob for BlockType {
    fn put(&self, out: &mut Vec<u8>) {
        match self {
            Self::Var(x) => {
                out.push(0);
                x.put(out)
            }
            Self::Val(x) => {
                out.push(1);
                x.put(out)
            }
        }
    }
    fn take(r: &mut Rd<'_>) -> Option<Self> {
        Some(match r.u8()? {
            0 => Self::Var(r.i32()?),
            1 => Self::Val(<Option<ValType> as Blob>::take(r)?),
            _ => return None,
        })
    }
}

/// `Wasm_encoding.func_type_encoding` (`tup2 ~flatten:false`): `1/type_params/…`,
/// `2/type_result/…` (underscores; the instance's `function_type_encoding` uses hyphens).
#[derive(Clone, Debug)]
pub struct FuncType {
    /// Parameters.
    pub params: LazyVec<ValType>,
    /// Results.
    pub results: LazyVec<ValType>,
}

impl Codec for FuncType {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.params.encode(t, &join(p, &["1", "type_params"]))?;
        self.results.encode(t, &join(p, &["2", "type_result"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(FuncType {
            params: LazyVec::decode(t, &join(p, &["1", "type_params"]))?,
            results: LazyVec::decode(t, &join(p, &["2", "type_result"]))?,
        })
    }
}

/// `Import.import_encoding`: `module_name`, `item_name` (strings), `idesc`.
#[derive(Clone, Debug)]
pub struct Import {
    /// Module name.
    pub module_name: Vec<u8>,
    /// Item name.
    pub item_name: Vec<u8>,
    /// Descriptor.
    pub idesc: ImportDesc,
}

impl Codec for Import {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        Str(self.module_name.clone()).encode(t, &join(p, &["module_name"]))?;
        Str(self.item_name.clone()).encode(t, &join(p, &["item_name"]))?;
        self.idesc.encode(t, &join(p, &["idesc"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Import {
            module_name: Str::decode(t, &join(p, &["module_name"]))?.0,
            item_name: Str::decode(t, &join(p, &["item_name"]))?.0,
            idesc: ImportDesc::decode(t, &join(p, &["idesc"]))?,
        })
    }
}

/// `Export.export_encoding`: `name`, `edesc`.
#[derive(Clone, Debug)]
pub struct Export {
    /// Name.
    pub name: Vec<u8>,
    /// Descriptor.
    pub edesc: ExportDesc,
}

impl Codec for Export {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        Str(self.name.clone()).encode(t, &join(p, &["name"]))?;
        self.edesc.encode(t, &join(p, &["edesc"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Export {
            name: Str::decode(t, &join(p, &["name"]))?.0,
            edesc: ExportDesc::decode(t, &join(p, &["edesc"]))?,
        })
    }
}

/// `Code.func_encoding` / `Wasm_encoding.func'_encoding` (same layout): `ftype` int32,
/// `locals/…` vector, `body` block label.
#[derive(Clone, Debug)]
pub struct Func {
    /// Type index (`-1` until `MKElaborateFunc`).
    pub ftype: i32,
    /// Declared locals.
    pub locals: LazyVec<ValType>,
    /// Body (`Block_label`).
    pub body: i32,
}

impl Codec for Func {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.ftype.encode(t, &join(p, &["ftype"]))?;
        self.locals.encode(t, &join(p, &["locals"]))?;
        self.body.encode(t, &join(p, &["body"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Func {
            ftype: i32::decode(t, &join(p, &["ftype"]))?,
            locals: LazyVec::decode(t, &join(p, &["locals"]))?,
            body: i32::decode(t, &join(p, &["body"]))?,
        })
    }
}

/// `Elem.elem_encoding`: `ref_type`, `einit/…` (vector of block labels), `mode`.
#[derive(Clone, Debug)]
pub struct ElemSegment {
    /// Element type.
    pub etype: RefType,
    /// Init expressions (`const` = block labels).
    pub einit: LazyVec<i32>,
    /// Mode.
    pub emode: SegmentMode,
}

impl Codec for ElemSegment {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.etype.encode(t, &join(p, &["ref_type"]))?;
        self.einit.encode(t, &join(p, &["einit"]))?;
        self.emode.encode(t, &join(p, &["mode"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(ElemSegment {
            etype: RefType::decode(t, &join(p, &["ref_type"]))?,
            einit: LazyVec::decode(t, &join(p, &["einit"]))?,
            emode: SegmentMode::decode(t, &join(p, &["mode"]))?,
        })
    }
}

/// `Data.data_segment_encoding`: `dinit` (data label), `dmode`.
#[derive(Clone, Copy, Debug)]
pub struct DataSegment {
    /// `Data_label`.
    pub dinit: i32,
    /// Mode.
    pub dmode: SegmentMode,
}

impl Codec for DataSegment {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.dinit.encode(t, &join(p, &["dinit"]))?;
        self.dmode.encode(t, &join(p, &["dmode"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(DataSegment {
            dinit: i32::decode(t, &join(p, &["dinit"]))?,
            dmode: SegmentMode::decode(t, &join(p, &["dmode"]))?,
        })
    }
}

/// An instruction as `Wasm_encoding.instruction_encoding` stores it: the constructor name at
/// `tag`, and either an empty blob at `value` (no argument) or the argument blobs at their
/// paths under `value` (`$1`, or `1/$1`, `2/$2`… for the `tup ~flatten:false` cases). Kept in
/// this generic form so an instruction read back from the tree re-encodes byte for byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instr {
    /// Constructor name (`Nop`, `Block`, `Const`, …).
    pub tag: String,
    /// `(path under value, blob)`; empty = unit payload.
    pub args: Vec<(Vec<String>, Vec<u8>)>,
}

impl Instr {
    /// A unit instruction.
    pub fn unit(tag: &str) -> Self {
        Instr {
            tag: tag.to_owned(),
            args: Vec::new(),
        }
    }
    /// One argument at `value/$1`.
    pub fn one(tag: &str, arg: Vec<u8>) -> Self {
        Instr {
            tag: tag.to_owned(),
            args: vec![(vec!["$1".into()], arg)],
        }
    }
    /// Arguments of a `tup ~flatten:false` at `value/<i>/$<i>`.
    pub fn tup(tag: &str, args: Vec<Vec<u8>>) -> Self {
        let args = args
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let n = i.saturating_add(1);
                (vec![n.to_string(), format!("${n}")], a)
            })
            .collect();
        Instr {
            tag: tag.to_owned(),
            args,
        }
    }
    /// The block labels this instruction nests (`Block`, `Loop`: `$2`; `If`: `$2`, `$3`).
    pub fn nested_blocks(&self) -> Vec<i32> {
        match self.tag.as_str() {
            "Block" | "Loop" | "If" => self
                .args
                .iter()
                .skip(1)
                .filter_map(|(_, b)| i32::from_bytes(b))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Codec for Instr {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        write_tag(t, p, &self.tag)?;
        let v = val(p);
        if self.args.is_empty() {
            return codec::write(t, &v, Vec::new());
        }
        for (path, blob) in &self.args {
            let steps: Vec<&str> = path.iter().map(String::as_str).collect();
            codec::write(t, &join(&v, &steps), blob.clone())?;
        }
        Ok(())
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let tag = read_tag(t, p)?;
        let v = val(p);
        let mut args = Vec::new();
        if codec::read(t, &v)?.is_none() {
            collect_leaves(t, &v, &mut Vec::new(), &mut args)?;
            if args.is_empty() {
                return Err(Error::Malformed(show(&v), "instruction without payload"));
            }
        }
        Ok(Instr { tag, args })
    }
}

fn collect_leaves(
    t: &Tree,
    base: &[String],
    rel: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, Vec<u8>)>,
) -> Result<()> {
    let mut here = base.to_vec();
    here.extend(rel.iter().cloned());
    if let Some(b) = codec::read(t, &here)? {
        out.push((rel.clone(), b));
        return Ok(());
    }
    for c in codec::children(t, &here)? {
        rel.push(c);
        collect_leaves(t, base, rel, out)?;
        rel.pop();
    }
    Ok(())
}

/// An element of the block table: `instructions/…` (`lazy_vector_encoding "instructions"`).
#[derive(Clone, Debug)]
pub struct Block(pub LazyVec<Instr>);

impl Codec for Block {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.0.encode(t, &join(p, &["instructions"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Block(LazyVec::decode(t, &join(p, &["instructions"]))?))
    }
}

/// `Ast.allocations` (`allocations_encoding`, `tup2 ~flatten:false`): `1/block-table/…`,
/// `2/datas-table/…`.
#[derive(Clone, Debug)]
pub struct Allocations {
    /// Blocks of instructions (`Block_label n` = index `n`).
    pub blocks: LazyVec<Block>,
    /// Data segments' bytes (`Data_label n`).
    pub datas: LazyVec<Cbv>,
}

impl Allocations {
    /// `empty_allocations ()`: one empty block, one empty data.
    pub fn empty() -> Self {
        Allocations {
            blocks: LazyVec::singleton(Block(LazyVec::empty())),
            datas: LazyVec::singleton(Cbv::create(0)),
        }
    }

    /// `alloc_block`.
    pub fn alloc_block(&mut self) -> Result<i32> {
        self.blocks.append(Block(LazyVec::empty()))
    }

    /// `add_to_block`.
    pub fn add_to_block(&mut self, b: i32, instr: Instr) -> Result<()> {
        let mut block = self.blocks.get(b)?;
        block.0.append(instr)?;
        self.blocks.set(b, block)
    }

    /// `alloc_data`.
    pub fn alloc_data(&mut self, len: i64) -> Result<i32> {
        self.datas.append(Cbv::allocate(len))
    }

    /// `add_to_data`.
    pub fn add_to_data(&mut self, d: i32, index: i64, byte: u8) -> Result<()> {
        let mut data = self.datas.get(d)?;
        data.store_byte(index, byte)?;
        self.datas.set(d, data)
    }
}

impl Codec for Allocations {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.blocks.encode(t, &join(p, &["1", "block-table"]))?;
        self.datas.encode(t, &join(p, &["2", "datas-table"]))
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Allocations {
            blocks: LazyVec::decode(t, &join(p, &["1", "block-table"]))?,
            datas: LazyVec::decode(t, &join(p, &["2", "datas-table"]))?,
        })
    }
}

/// `Ast.module_` (`Module.module_encoding`, `tup9 ~flatten:true`): `module/types`,
/// `module/globals`, `module/tables`, `module/memories`, `module/funcs`, `module/start`
/// (`value_option`), `module/elem_segments`, `module/data_segments`, `module/imports`,
/// `module/exports`, and the allocations at the same prefix.
#[derive(Clone, Debug)]
pub struct Module {
    /// Types.
    pub types: LazyVec<FuncType>,
    /// Globals.
    pub globals: LazyVec<Global>,
    /// Tables.
    pub tables: LazyVec<TableType>,
    /// Memories.
    pub memories: LazyVec<Limits>,
    /// Functions.
    pub funcs: LazyVec<Func>,
    /// Start function.
    pub start: Option<i32>,
    /// Element segments.
    pub elems: LazyVec<ElemSegment>,
    /// Data segments.
    pub datas: LazyVec<DataSegment>,
    /// Imports.
    pub imports: LazyVec<Import>,
    /// Exports.
    pub exports: LazyVec<Export>,
    /// Blocks and data.
    pub allocations: Allocations,
}

impl Codec for Module {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let m = |k: &str| join(p, &["module", k]);
        self.types.encode(t, &m("types"))?;
        self.globals.encode(t, &m("globals"))?;
        self.tables.encode(t, &m("tables"))?;
        self.memories.encode(t, &m("memories"))?;
        self.funcs.encode(t, &m("funcs"))?;
        codec::write_value_option(t, &m("start"), &self.start)?;
        self.elems.encode(t, &m("elem_segments"))?;
        self.datas.encode(t, &m("data_segments"))?;
        self.imports.encode(t, &m("imports"))?;
        self.exports.encode(t, &m("exports"))?;
        self.allocations.encode(t, p)
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let m = |k: &str| join(p, &["module", k]);
        Ok(Module {
            types: LazyVec::decode(t, &m("types"))?,
            globals: LazyVec::decode(t, &m("globals"))?,
            tables: LazyVec::decode(t, &m("tables"))?,
            memories: LazyVec::decode(t, &m("memories"))?,
            funcs: LazyVec::decode(t, &m("funcs"))?,
            start: codec::read_value_option(t, &m("start"))?,
            elems: LazyVec::decode(t, &m("elem_segments"))?,
            datas: LazyVec::decode(t, &m("data_segments"))?,
            imports: LazyVec::decode(t, &m("imports"))?,
            exports: LazyVec::decode(t, &m("exports"))?,
            allocations: Allocations::decode(t, p)?,
        })
    }
}
