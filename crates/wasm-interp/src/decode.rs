//! The decoder's continuations and `module_step` (`src/lib_webassembly/binary/decode.ml`),
//! encoded as `src/lib_scoru_wasm/binary_parser_encodings.ml` writes them
//! (`docs/reference/wasm-ticks.md` §1.3, §2.5). One [`DecodeState::module_step`] = one tick.

use crate::codec::Tree;

use crate::ast::{
    Allocations, BlockType, DataSegment, ElemSegment, Export, ExportDesc, Func, FuncType, Global,
    GlobalType, Import, ImportDesc, Instr, Limits, Module, RefType, SegmentMode, TableType,
    ValType,
};
use crate::codec::{
    self, Blob, Codec, Error, Int31, Opt, Result, Str, join, read_tag, show, val, write_tag,
    write_unit_case,
};
use crate::lazy::LazyVec;
use crate::stream::{DecodeFailure, Stream};

/// Why a step stopped: a decoding failure (the PVM gets stuck) or a broken state.
#[derive(Debug)]
pub enum StepError {
    /// `Decode_error` raised by the decoder.
    Fail(DecodeFailure),
    /// The state tree is not what this code wrote (or a container access failed).
    Internal(Error),
}

impl From<DecodeFailure> for StepError {
    fn from(e: DecodeFailure) -> Self {
        if e.unencodable {
            Self::Internal(Error::Unsupported(e.msg))
        } else {
            Self::Fail(e)
        }
    }
}

impl From<Error> for StepError {
    fn from(e: Error) -> Self {
        Self::Internal(e)
    }
}

type SResult<T> = std::result::Result<T, StepError>;

fn step_error<T>(what: &str) -> SResult<T> {
    Err(StepError::Internal(Error::Unsupported(format!(
        "Step_error {what}"
    ))))
}

fn e<T: Codec>(v: &T, t: &mut Tree, p: &[String], k: &[&str]) -> Result<()> {
    v.encode(t, &join(p, k))
}

fn d<T: Codec>(t: &Tree, p: &[String], k: &[&str]) -> Result<T> {
    T::decode(t, &join(p, k))
}

fn e31(v: i32, t: &mut Tree, p: &[String], k: &[&str]) -> Result<()> {
    Int31(v).encode(t, &join(p, k))
}

fn d31(t: &Tree, p: &[String], k: &[&str]) -> Result<i32> {
    Ok(Int31::decode(t, &join(p, k))?.0)
}

fn bad<T>(p: &[String], what: &'static str) -> Result<T> {
    Err(Error::Malformed(show(p), what))
}

fn pos31(pos: usize) -> SResult<i32> {
    i32::try_from(pos)
        .ok()
        .filter(|p| *p < (1 << 30))
        .ok_or(StepError::Internal(Error::Overflow(
            "stream position beyond int31",
        )))
}

// ---------------------------------------------------------------- lazy_vec_kont, lazy_stack

/// `'a lazy_vec_kont = LazyVec {offset; vector}` (`Lazy_vec.raw_encoding`: `offset` int32,
/// the vector under `vector/<scope>`).
#[derive(Clone, Debug)]
pub struct LazyVecK<V: Codec> {
    /// Next index to fill.
    pub offset: i32,
    /// The vector being filled.
    pub vector: LazyVec<V>,
}

impl<V: Codec> LazyVecK<V> {
    /// `init_lazy_vec n`.
    pub fn init(n: i32) -> Self {
        LazyVecK {
            offset: 0,
            vector: LazyVec::create(n),
        }
    }
    /// `is_end_of_vec`.
    pub fn is_end(&self) -> bool {
        self.vector.num_elements() <= self.offset
    }
    /// `lazy_vec_step v`.
    pub fn push(&mut self, v: V) -> Result<()> {
        self.vector.set(self.offset, v)?;
        self.offset = self
            .offset
            .checked_add(1)
            .ok_or(Error::Overflow("lazy vec offset"))?;
        Ok(())
    }
    fn encode_at(&self, t: &mut Tree, p: &[String], scope: &[&str]) -> Result<()> {
        e(&self.offset, t, p, &["offset"])?;
        let mut k = vec!["vector"];
        k.extend_from_slice(scope);
        e(&self.vector, t, p, &k)
    }
    fn decode_at(t: &Tree, p: &[String], scope: &[&str]) -> Result<Self> {
        let mut k = vec!["vector"];
        k.extend_from_slice(scope);
        Ok(LazyVecK {
            offset: d(t, p, &["offset"])?,
            vector: d(t, p, &k)?,
        })
    }
}

impl<V: Codec> Codec for LazyVecK<V> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        self.encode_at(t, p, &[])
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Self::decode_at(t, p, &[])
    }
}

/// `'a lazy_stack = LazyStack {length; vector}` (`Lazy_stack.encoding`: `length` int32,
/// `vector/…`). Popping only moves `length`: popped slots stay in the tree.
#[derive(Clone, Debug)]
pub struct LazyStack<V: Codec> {
    /// Height.
    pub length: i32,
    /// Slots.
    pub vector: LazyVec<V>,
}

impl<V: Codec> LazyStack<V> {
    /// `push_stack`.
    pub fn push(&mut self, v: V) -> Result<()> {
        if self.length >= self.vector.num_elements() {
            self.vector.append(v)?;
        } else {
            self.vector.set(self.length, v)?;
        }
        self.length = self
            .length
            .checked_add(1)
            .ok_or(Error::Overflow("lazy stack"))?;
        Ok(())
    }
    /// `push_rev_values`: the head of `vs` ends on top.
    pub fn push_rev(&mut self, vs: Vec<V>) -> Result<()> {
        for v in vs.into_iter().rev() {
            self.push(v)?;
        }
        Ok(())
    }
    /// `pop_stack`.
    pub fn pop(&mut self) -> Result<Option<V>> {
        if self.length == 0 {
            return Ok(None);
        }
        self.length = self.length.saturating_sub(1);
        Ok(Some(self.vector.get(self.length)?))
    }
}

impl<V: Codec> Codec for LazyStack<V> {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        e(&self.length, t, p, &["length"])?;
        e(&self.vector, t, p, &["vector"])
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(LazyStack {
            length: d(t, p, &["length"])?,
            vector: d(t, p, &["vector"])?,
        })
    }
}

// ---------------------------------------------------------------- byte vectors and names

/// `byte_vector_kont` (`Byte_vector.encoding`).
#[derive(Clone, Debug)]
pub enum ByteVecKont {
    /// `VKStart`
    Start,
    /// `VKRead (label, index, length)`
    Read(i32, i64, i64),
    /// `VKStop label`
    Stop(i32),
}

impl Codec for ByteVecKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "VKStart"),
            Self::Read(l, i, n) => {
                write_tag(t, p, "VKRead")?;
                e(l, t, &v, &["data_label"])?;
                e(i, t, &v, &["pos"])?;
                e(n, t, &v, &["length"])
            }
            Self::Stop(l) => {
                write_tag(t, p, "VKStop")?;
                e(l, t, &v, &["data_label"])
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "VKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "VKRead" => Self::Read(
                d(t, &v, &["data_label"])?,
                d(t, &v, &["pos"])?,
                d(t, &v, &["length"])?,
            ),
            "VKStop" => Self::Stop(d(t, &v, &["data_label"])?),
            _ => return bad(p, "byte vector kont tag"),
        })
    }
}

/// `name_step` (`Name.encoding`).
#[derive(Clone, Debug)]
pub enum NameKont {
    /// `NKStart`
    Start,
    /// `NKParse (pos, buffer, remaining bytes)`
    Parse(i32, Vec<u8>, i32),
    /// `NKStop name`
    Stop(Vec<u8>),
}

impl Codec for NameKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "NKStart"),
            Self::Parse(pos, buf, len) => {
                write_tag(t, p, "NKParse")?;
                e31(*pos, t, &v, &["pos"])?;
                // `tup2 string int31` of (contents, Buffer.length).
                let mut b = Str(buf.clone()).to_bytes();
                Int31(buf.len() as i32).put(&mut b);
                codec::write(t, &join(&v, &["buffer"]), b)?;
                e31(*len, t, &v, &["length"])
            }
            Self::Stop(s) => {
                write_tag(t, p, "NKStop")?;
                Str(s.clone()).encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "NKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "NKParse" => {
                let bp = join(&v, &["buffer"]);
                let b = codec::need(t, &bp, "name buffer")?;
                let mut r = codec::Rd(&b);
                let s = Str::take(&mut r).ok_or(Error::Malformed(show(&bp), "name buffer"))?;
                Int31::take(&mut r).ok_or(Error::Malformed(show(&bp), "name buffer"))?;
                Self::Parse(d31(t, &v, &["pos"])?, s.0, d31(t, &v, &["length"])?)
            }
            "NKStop" => Self::Stop(Str::decode(t, &v)?.0),
            _ => return bad(p, "name kont tag"),
        })
    }
}

fn name_step(s: &mut Stream<'_>, nk: NameKont) -> SResult<NameKont> {
    Ok(match nk {
        NameKont::Start => {
            let pos = s.pos;
            let len = s.len32()?;
            s.require(len <= 512, pos, "Names cannot exceed 512 bytes")?;
            NameKont::Parse(pos31(pos)?, Vec::new(), len as i32)
        }
        NameKont::Parse(_, buf, 0) => NameKont::Stop(buf),
        NameKont::Parse(pos, mut buf, len) => {
            let bytes =
                utf8_step(s).or_else(|()| s.error(pos as usize, "malformed UTF-8 encoding"))?;
            buf.extend(&bytes);
            NameKont::Parse(pos, buf, len.saturating_sub(bytes.len() as i32))
        }
        NameKont::Stop(_) => return step_error("Name_step"),
    })
}

/// `Utf8.decode_step`: one code point (its bytes), or `Err` for `Utf8`.
fn utf8_step(s: &mut Stream<'_>) -> std::result::Result<Vec<u8>, ()> {
    let mut get = || s.get().map_err(|_| ());
    let con = |b: u8| {
        if b & 0xc0 == 0x80 {
            Ok(u32::from(b & 0x3f))
        } else {
            Err(())
        }
    };
    let code = |min: u32, n: u32| {
        if n < min || (0xd800..0xe000).contains(&n) || n >= 0x110000 {
            Err(())
        } else {
            Ok(())
        }
    };
    let b1 = get()?;
    if b1 < 0x80 {
        return Ok(vec![b1]);
    }
    if b1 < 0xc0 {
        return Err(());
    }
    let b2 = get()?;
    if b1 < 0xe0 {
        code(0x80, (u32::from(b1 & 0x1f) << 6) | con(b2)?)?;
        return Ok(vec![b1, b2]);
    }
    let b3 = get()?;
    if b1 < 0xf0 {
        code(
            0x800,
            (u32::from(b1 & 0x0f) << 12) | (con(b2)? << 6) | con(b3)?,
        )?;
        return Ok(vec![b1, b2, b3]);
    }
    let b4 = get()?;
    if b1 < 0xf8 {
        code(
            0x10000,
            (u32::from(b1 & 0x07) << 18) | (con(b2)? << 12) | (con(b3)? << 6) | con(b4)?,
        )?;
        return Ok(vec![b1, b2, b3, b4]);
    }
    Err(())
}

fn byte_vector_step(
    allocs: &mut Allocations,
    s: &mut Stream<'_>,
    vk: ByteVecKont,
) -> SResult<ByteVecKont> {
    Ok(match vk {
        ByteVecKont::Start => {
            let len = s.len32()? as i64;
            let label = allocs.alloc_data(len)?;
            ByteVecKont::Read(label, 0, len)
        }
        ByteVecKont::Read(v, i, len) if i >= len => ByteVecKont::Stop(v),
        ByteVecKont::Read(v, i, len) => {
            let c = s.get()?;
            allocs.add_to_data(v, i, c)?;
            ByteVecKont::Read(v, i.saturating_add(1), len)
        }
        ByteVecKont::Stop(_) => return step_error("Byte_vector_step"),
    })
}

// ---------------------------------------------------------------- types, imports, exports

/// `func_type_kont` (`Func_type.encoding`).
#[derive(Clone, Debug)]
pub enum FuncTypeKont {
    /// `FKStart`
    Start,
    /// `FKIns ins`
    Ins(LazyVecK<ValType>),
    /// `FKOut (params, outs)`
    Out(LazyVec<ValType>, LazyVecK<ValType>),
    /// `FKStop ft`
    Stop(FuncType),
}

impl Codec for FuncTypeKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "FKStart"),
            Self::Ins(k) => {
                write_tag(t, p, "FKIns")?;
                e(k, t, &v, &["ins_kont"])
            }
            Self::Out(params, k) => {
                write_tag(t, p, "FKOut")?;
                e(params, t, &v, &["params"])?;
                e(k, t, &v, &["lazy_kont"])
            }
            Self::Stop(ft) => {
                write_tag(t, p, "FKStop")?;
                ft.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "FKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "FKIns" => Self::Ins(d(t, &v, &["ins_kont"])?),
            "FKOut" => Self::Out(d(t, &v, &["params"])?, d(t, &v, &["lazy_kont"])?),
            "FKStop" => Self::Stop(FuncType::decode(t, &v)?),
            _ => return bad(p, "func type kont tag"),
        })
    }
}

fn func_type_step(s: &mut Stream<'_>, k: FuncTypeKont) -> SResult<FuncTypeKont> {
    Ok(match k {
        FuncTypeKont::Start => {
            let tag = s.vs7()?;
            let len = s.len32()?;
            if tag == -0x20 {
                FuncTypeKont::Ins(LazyVecK::init(len as i32))
            } else {
                return Ok(s.error(s.last(), "malformed function type")?);
            }
        }
        FuncTypeKont::Ins(ins) if ins.is_end() => {
            let len = s.len32()?;
            FuncTypeKont::Out(ins.vector, LazyVecK::init(len as i32))
        }
        FuncTypeKont::Ins(mut ins) => {
            let vt = s.value_type()?;
            ins.push(vt)?;
            FuncTypeKont::Ins(ins)
        }
        FuncTypeKont::Out(ins, out) if out.is_end() => FuncTypeKont::Stop(FuncType {
            params: ins,
            results: out.vector,
        }),
        FuncTypeKont::Out(ins, mut out) => {
            let vt = s.value_type()?;
            out.push(vt)?;
            FuncTypeKont::Out(ins, out)
        }
        FuncTypeKont::Stop(_) => return step_error("Func_type_step"),
    })
}

/// `import_kont` (`Import.encoding`).
#[derive(Clone, Debug)]
pub enum ImportKont {
    /// `ImpKStart`
    Start,
    /// `ImpKModuleName nk`
    ModuleName(NameKont),
    /// `ImpKItemName (module_name, nk)`
    ItemName(Vec<u8>, NameKont),
    /// `ImpKStop import`
    Stop(Import),
}

impl Codec for ImportKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "ImpKStart"),
            Self::ModuleName(nk) => {
                write_tag(t, p, "ImpKModuleName")?;
                e(nk, t, &v, &["module_name"])
            }
            Self::ItemName(m, nk) => {
                write_tag(t, p, "ImpKItemName")?;
                e(&Str(m.clone()), t, &v, &["1", "module_name"])?;
                e(nk, t, &v, &["2", "item_name"])
            }
            Self::Stop(i) => {
                write_tag(t, p, "ImpKStop")?;
                i.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "ImpKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "ImpKModuleName" => Self::ModuleName(d(t, &v, &["module_name"])?),
            "ImpKItemName" => Self::ItemName(
                d::<Str>(t, &v, &["1", "module_name"])?.0,
                d(t, &v, &["2", "item_name"])?,
            ),
            "ImpKStop" => Self::Stop(Import::decode(t, &v)?),
            _ => return bad(p, "import kont tag"),
        })
    }
}

fn import_desc(s: &mut Stream<'_>) -> SResult<ImportDesc> {
    Ok(match s.get()? {
        0x00 => ImportDesc::Func(s.vu32()? as i32),
        0x01 => ImportDesc::Table(s.table_type()?),
        0x02 => ImportDesc::Memory(s.limits()?),
        0x03 => ImportDesc::Global(s.global_type()?),
        _ => return Ok(s.error(s.last(), "malformed import kind")?),
    })
}

fn import_step(s: &mut Stream<'_>, k: ImportKont) -> SResult<ImportKont> {
    Ok(match k {
        ImportKont::Start => ImportKont::ModuleName(NameKont::Start),
        ImportKont::ModuleName(NameKont::Stop(m)) => ImportKont::ItemName(m, NameKont::Start),
        ImportKont::ModuleName(nk) => ImportKont::ModuleName(name_step(s, nk)?),
        ImportKont::ItemName(m, NameKont::Stop(item)) => {
            let idesc = import_desc(s)?;
            ImportKont::Stop(Import {
                module_name: m,
                item_name: item,
                idesc,
            })
        }
        ImportKont::ItemName(m, nk) => ImportKont::ItemName(m, name_step(s, nk)?),
        ImportKont::Stop(_) => return step_error("Import_step"),
    })
}

/// `export_kont` (`Export.encoding`).
#[derive(Clone, Debug)]
pub enum ExportKont {
    /// `ExpKStart`
    Start,
    /// `ExpKName nk`
    Name(NameKont),
    /// `ExpKStop export`
    Stop(Export),
}

impl Codec for ExportKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "ExpKStart"),
            Self::Name(nk) => {
                write_tag(t, p, "ExpKName")?;
                nk.encode(t, &v)
            }
            Self::Stop(x) => {
                write_tag(t, p, "ExpKStop")?;
                x.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "ExpKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "ExpKName" => Self::Name(NameKont::decode(t, &v)?),
            "ExpKStop" => Self::Stop(Export::decode(t, &v)?),
            _ => return bad(p, "export kont tag"),
        })
    }
}

fn export_step(s: &mut Stream<'_>, k: ExportKont) -> SResult<ExportKont> {
    Ok(match k {
        ExportKont::Start => ExportKont::Name(NameKont::Start),
        ExportKont::Name(NameKont::Stop(name)) => {
            let kind = s.get()?;
            if kind > 3 {
                return Ok(s.error(s.last(), "malformed export kind")?);
            }
            let index = s.vu32()? as i32;
            ExportKont::Stop(Export {
                name,
                edesc: ExportDesc { kind, index },
            })
        }
        ExportKont::Name(nk) => ExportKont::Name(name_step(s, nk)?),
        ExportKont::Stop(_) => return step_error("Export_step"),
    })
}

/// `size = {size; start}` (`Size.encoding`: `size`, `start` int31).
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Byte size.
    pub size: i32,
    /// Start position.
    pub start: i32,
}

impl Codec for Size {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        e31(self.size, t, p, &["size"])?;
        e31(self.start, t, p, &["start"])
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Size {
            size: d31(t, p, &["size"])?,
            start: d31(t, p, &["start"])?,
        })
    }
}

fn read_size(s: &mut Stream<'_>) -> SResult<Size> {
    let size = s.len32()?;
    Ok(Size {
        size: size as i32,
        start: pos31(s.pos)?,
    })
}

fn check_size(sz: Size, s: &Stream<'_>) -> SResult<()> {
    let end = i64::from(sz.start).saturating_add(i64::from(sz.size));
    Ok(s.require(
        s.pos as i64 == end,
        sz.start as usize,
        "section size mismatch",
    )?)
}

// ---------------------------------------------------------------- blocks of instructions

/// `instr_block_kont` (`Instr_block.encoding`).
#[derive(Clone, Debug)]
pub enum InstrBlockKont {
    /// `IKStop lbl`
    Stop(i32),
    /// `IKNext lbl`
    Next(i32),
    /// `IKBlock (bt, pos)`
    Block(BlockType, i32),
    /// `IKLoop (bt, pos)`
    Loop(BlockType, i32),
    /// `IKIf1 (bt, pos)`
    If1(BlockType, i32),
    /// `IKIf2 (bt, pos, then_lbl)`
    If2(BlockType, i32, i32),
}

impl Codec for InstrBlockKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        let typed = |t: &mut Tree, tag: &str, bt: &BlockType, pos: i32| -> Result<()> {
            write_tag(t, p, tag)?;
            e(bt, t, &v, &["type"])?;
            e31(pos, t, &v, &["pos"])
        };
        match self {
            Self::Stop(l) => {
                write_tag(t, p, "IKStop")?;
                l.encode(t, &v)
            }
            Self::Next(l) => {
                write_tag(t, p, "IKNext")?;
                l.encode(t, &v)
            }
            Self::Block(bt, pos) => typed(t, "IKBlock", bt, *pos),
            Self::Loop(bt, pos) => typed(t, "IKLoop", bt, *pos),
            Self::If1(bt, pos) => typed(t, "IKIf1", bt, *pos),
            Self::If2(bt, pos, l) => {
                typed(t, "IKIf2", bt, *pos)?;
                e(l, t, &v, &["else"])
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        let bt = || d::<BlockType>(t, &v, &["type"]);
        let pos = || d31(t, &v, &["pos"]);
        Ok(match read_tag(t, p)?.as_str() {
            "IKStop" => Self::Stop(i32::decode(t, &v)?),
            "IKNext" => Self::Next(i32::decode(t, &v)?),
            "IKBlock" => Self::Block(bt()?, pos()?),
            "IKLoop" => Self::Loop(bt()?, pos()?),
            "IKIf1" => Self::If1(bt()?, pos()?),
            "IKIf2" => Self::If2(bt()?, pos()?, d(t, &v, &["else"])?),
            _ => return bad(p, "instr block kont tag"),
        })
    }
}

/// `block_kont` (`Block.encoding`).
#[derive(Clone, Debug)]
pub enum BlockKont {
    /// `BlockStart`
    Start,
    /// `BlockParse stack`
    Parse(LazyStack<InstrBlockKont>),
    /// `BlockStop lbl`
    Stop(i32),
}

impl Codec for BlockKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "BlockStart"),
            Self::Parse(st) => {
                write_tag(t, p, "BlockParse")?;
                st.encode(t, &v)
            }
            Self::Stop(l) => {
                write_tag(t, p, "BlockStop")?;
                l.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "BlockStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "BlockParse" => Self::Parse(LazyStack::decode(t, &v)?),
            "BlockStop" => Self::Stop(i32::decode(t, &v)?),
            _ => return bad(p, "block kont tag"),
        })
    }
}

fn block_instr(tag: &str, bt: BlockType, labels: &[i32]) -> Instr {
    let mut args = vec![bt.to_bytes()];
    args.extend(labels.iter().map(Blob::to_bytes));
    Instr::tup(tag, args)
}

fn instr_block_step(
    s: &mut Stream<'_>,
    allocs: &mut Allocations,
    mut stack: LazyStack<InstrBlockKont>,
) -> SResult<LazyStack<InstrBlockKont>> {
    use InstrBlockKont as K;
    let mut popped = Vec::new();
    for _ in 0..3 {
        match stack.pop()? {
            Some(v) => popped.push(v),
            None => break,
        }
    }
    match popped.as_slice() {
        [K::Stop(_)] => return step_error("Instr_block_step"),
        [K::Stop(lbl), K::Block(bt, _), K::Next(plbl)] => {
            s.end_()?;
            allocs.add_to_block(*plbl, block_instr("Block", *bt, &[*lbl]))?;
            stack.push(K::Next(*plbl))?;
        }
        [K::Stop(lbl), K::Loop(bt, _), K::Next(plbl)] => {
            s.end_()?;
            allocs.add_to_block(*plbl, block_instr("Loop", *bt, &[*lbl]))?;
            stack.push(K::Next(*plbl))?;
        }
        [K::Stop(lbl1), K::If1(bt, pos), K::Next(plbl)] => {
            if s.peek() == Some(0x05) {
                s.skip(1)?;
                let nl = allocs.alloc_block()?;
                stack.push_rev(vec![K::Next(nl), K::If2(*bt, *pos, *lbl1), K::Next(*plbl)])?;
            } else {
                s.end_()?;
                allocs.add_to_block(*plbl, block_instr("If", *bt, &[*lbl1, 0]))?;
                stack.push(K::Next(*plbl))?;
            }
        }
        [K::Stop(lbl2), K::If2(bt, _, lbl1), K::Next(plbl)] => {
            s.end_()?;
            allocs.add_to_block(*plbl, block_instr("If", *bt, &[*lbl1, *lbl2]))?;
            stack.push(K::Next(*plbl))?;
        }
        [K::Next(lbl), ks @ ..] => {
            let (lbl, ks) = (*lbl, ks.to_vec());
            match s.peek() {
                None | Some(0x05 | 0x0b) => {
                    let mut vs = vec![K::Stop(lbl)];
                    vs.extend(ks);
                    stack.push_rev(vs)?;
                }
                _ => {
                    let pos = s.pos;
                    let tag = s.get()?;
                    let pos31v = pos31(pos)?;
                    let opener = match tag {
                        0x02 => Some(K::Block as fn(BlockType, i32) -> K),
                        0x03 => Some(K::Loop as fn(BlockType, i32) -> K),
                        0x04 => Some(K::If1 as fn(BlockType, i32) -> K),
                        _ => None,
                    };
                    let mut vs = match opener {
                        Some(mk) => {
                            let bt = s.block_type()?;
                            let nl = allocs.alloc_block()?;
                            vec![K::Next(nl), mk(bt, pos31v), K::Next(lbl)]
                        }
                        None => {
                            let i = s.instr(pos, tag)?;
                            allocs.add_to_block(lbl, i)?;
                            vec![K::Next(lbl)]
                        }
                    };
                    vs.extend(ks);
                    stack.push_rev(vs)?;
                }
            }
        }
        _ => return step_error("Instr_block_step"),
    }
    Ok(stack)
}

fn block_step(s: &mut Stream<'_>, allocs: &mut Allocations, k: BlockKont) -> SResult<BlockKont> {
    Ok(match k {
        BlockKont::Start => {
            let lbl = allocs.alloc_block()?;
            let mut st = LazyStack {
                length: 0,
                vector: LazyVec::empty(),
            };
            st.push(InstrBlockKont::Next(lbl))?;
            BlockKont::Parse(st)
        }
        BlockKont::Parse(mut st) => {
            if st.length == 1
                && let InstrBlockKont::Stop(lbl) = st.vector.get(0)?
            {
                return Ok(BlockKont::Stop(lbl));
            }
            BlockKont::Parse(instr_block_step(s, allocs, st)?)
        }
        BlockKont::Stop(_) => return step_error("Block_step"),
    })
}

// ---------------------------------------------------------------- code

/// A local declaration `(occurrences, type)` (`value_type_acc_enc`: `occurences`, `type`).
#[derive(Clone, Copy, Debug)]
pub struct Local(pub i32, pub ValType);

impl Codec for Local {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        e(&self.0, t, p, &["occurences"])?;
        e(&self.1, t, p, &["type"])
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(Local(d(t, p, &["occurences"])?, d(t, p, &["type"])?))
    }
}

/// `code_kont` (`Code.encoding`).
#[derive(Clone, Debug)]
pub enum CodeKont {
    /// `CKStart`
    Start,
    /// `CKLocalsParse`
    LocalsParse {
        /// `left`
        left: i32,
        /// `size`
        size: Size,
        /// `pos`
        pos: i32,
        /// `vec_kont`
        vec_kont: LazyVecK<Local>,
        /// `locals_size`
        locals_size: i64,
    },
    /// `CKLocalsAccumulate`
    LocalsAccumulate {
        /// `left`
        left: i32,
        /// `size`
        size: Size,
        /// `pos`
        pos: i32,
        /// `type_vec`
        type_vec: LazyVecK<Local>,
        /// `curr_type`
        curr_type: Option<Local>,
        /// `vec_kont`
        vec_kont: LazyVecK<ValType>,
    },
    /// `CKBody`
    Body {
        /// `left`
        left: i32,
        /// `size`
        size: Size,
        /// `locals`
        locals: LazyVec<ValType>,
        /// `const_kont`
        const_kont: BlockKont,
    },
    /// `CKStop func`
    Stop(Func),
}

impl Codec for CodeKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "CKStart"),
            Self::LocalsParse {
                left,
                size,
                pos,
                vec_kont,
                locals_size,
            } => {
                write_tag(t, p, "CKLocalsParse")?;
                e31(*left, t, &v, &["left"])?;
                e(size, t, &v, &["size"])?;
                e31(*pos, t, &v, &["pos"])?;
                e(vec_kont, t, &v, &["vec_kont"])?;
                e(locals_size, t, &v, &["locals_size"])
            }
            Self::LocalsAccumulate {
                left,
                size,
                pos,
                type_vec,
                curr_type,
                vec_kont,
            } => {
                write_tag(t, p, "CKLocalsAccumulate")?;
                e31(*left, t, &v, &["left"])?;
                e(size, t, &v, &["size"])?;
                e31(*pos, t, &v, &["pos"])?;
                e(type_vec, t, &v, &["type_vec"])?;
                e(&Opt(*curr_type), t, &v, &["curr_type"])?;
                e(vec_kont, t, &v, &["vec_kont"])
            }
            Self::Body {
                left,
                size,
                locals,
                const_kont,
            } => {
                write_tag(t, p, "CKBody")?;
                e31(*left, t, &v, &["left"])?;
                e(size, t, &v, &["size"])?;
                e(locals, t, &v, &["locals"])?;
                e(const_kont, t, &v, &["const_kont"])
            }
            Self::Stop(f) => {
                write_tag(t, p, "CKStop")?;
                f.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "CKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "CKLocalsParse" => Self::LocalsParse {
                left: d31(t, &v, &["left"])?,
                size: d(t, &v, &["size"])?,
                pos: d31(t, &v, &["pos"])?,
                vec_kont: d(t, &v, &["vec_kont"])?,
                locals_size: d(t, &v, &["locals_size"])?,
            },
            "CKLocalsAccumulate" => Self::LocalsAccumulate {
                left: d31(t, &v, &["left"])?,
                size: d(t, &v, &["size"])?,
                pos: d31(t, &v, &["pos"])?,
                type_vec: d(t, &v, &["type_vec"])?,
                curr_type: d::<Opt<Local>>(t, &v, &["curr_type"])?.0,
                vec_kont: d(t, &v, &["vec_kont"])?,
            },
            "CKBody" => Self::Body {
                left: d31(t, &v, &["left"])?,
                size: d(t, &v, &["size"])?,
                locals: d(t, &v, &["locals"])?,
                const_kont: d(t, &v, &["const_kont"])?,
            },
            "CKStop" => Self::Stop(Func::decode(t, &v)?),
            _ => return bad(p, "code kont tag"),
        })
    }
}

fn code_step(s: &mut Stream<'_>, allocs: &mut Allocations, k: CodeKont) -> SResult<CodeKont> {
    Ok(match k {
        CodeKont::Start => {
            let left = pos31(s.pos)?;
            let size = read_size(s)?;
            let pos = pos31(s.pos)?;
            let n = s.len32()?;
            CodeKont::LocalsParse {
                left,
                size,
                pos,
                locals_size: 0,
                vec_kont: LazyVecK::init(n as i32),
            }
        }
        CodeKont::LocalsParse {
            left,
            size,
            pos,
            vec_kont,
            locals_size,
        } if vec_kont.is_end() => {
            s.require(locals_size < 0x1_0000_0000, pos as usize, "too many locals")?;
            CodeKont::LocalsAccumulate {
                left,
                size,
                pos,
                vec_kont: LazyVecK::init(locals_size as i32),
                type_vec: LazyVecK {
                    offset: 0,
                    vector: vec_kont.vector,
                },
                curr_type: None,
            }
        }
        CodeKont::LocalsParse {
            left,
            size,
            pos,
            mut vec_kont,
            locals_size,
        } => {
            let n = s.vu32()?;
            let vt = s.value_type()?;
            let locals_size = locals_size
                .checked_add(i64::from(n))
                .ok_or(StepError::Internal(Error::Overflow("locals size")))?;
            vec_kont.push(Local(n as i32, vt))?;
            CodeKont::LocalsParse {
                left,
                size,
                pos,
                vec_kont,
                locals_size,
            }
        }
        CodeKont::LocalsAccumulate {
            left,
            size,
            vec_kont,
            ..
        } if vec_kont.is_end() => CodeKont::Body {
            left,
            size,
            locals: vec_kont.vector,
            const_kont: BlockKont::Start,
        },
        CodeKont::LocalsAccumulate {
            left,
            size,
            pos,
            vec_kont,
            curr_type: None | Some(Local(0, _)),
            mut type_vec,
        } => {
            let next = type_vec.vector.get(type_vec.offset)?;
            type_vec.offset = type_vec
                .offset
                .checked_add(1)
                .ok_or(Error::Overflow("locals"))?;
            CodeKont::LocalsAccumulate {
                left,
                size,
                pos,
                vec_kont,
                curr_type: Some(next),
                type_vec,
            }
        }
        CodeKont::LocalsAccumulate {
            left,
            size,
            pos,
            mut vec_kont,
            curr_type: Some(Local(occ, ty)),
            type_vec,
        } => {
            vec_kont.push(ty)?;
            CodeKont::LocalsAccumulate {
                left,
                size,
                pos,
                vec_kont,
                curr_type: Some(Local(occ.wrapping_sub(1), ty)),
                type_vec,
            }
        }
        CodeKont::Body {
            size,
            locals,
            const_kont: BlockKont::Stop(body),
            ..
        } => {
            s.end_()?;
            check_size(size, s)?;
            CodeKont::Stop(Func {
                ftype: -1,
                locals,
                body,
            })
        }
        CodeKont::Body {
            left,
            size,
            locals,
            const_kont,
        } => {
            let const_kont = block_step(s, allocs, const_kont)?;
            CodeKont::Body {
                left,
                size,
                locals,
                const_kont,
            }
        }
        CodeKont::Stop(_) => return step_error("Code_step"),
    })
}

// ---------------------------------------------------------------- elements and data

/// `elem_kont` (`Elem.encoding`).
#[derive(Clone, Debug)]
pub enum ElemKont {
    /// `EKStart`
    Start,
    /// `EKMode`
    Mode {
        /// `left`
        left: i32,
        /// `index`
        index: i32,
        /// `index_kind`: `false` = `Indexed`, `true` = `Const`.
        is_const: bool,
        /// `early_ref_type`
        early_ref_type: Option<RefType>,
        /// `offset_kont` position
        offset_pos: i32,
        /// `offset_kont` code
        offset_kont: BlockKont,
    },
    /// `EKInitIndexed`
    InitIndexed {
        /// `mode`
        mode: SegmentMode,
        /// `ref_type`
        ref_type: RefType,
        /// `einit_vec`
        einit_vec: LazyVecK<i32>,
    },
    /// `EKInitConst`
    InitConst {
        /// `mode`
        mode: SegmentMode,
        /// `ref_type`
        ref_type: RefType,
        /// `einit_vec`
        einit_vec: LazyVecK<i32>,
        /// `einit_kont` position
        einit_pos: i32,
        /// `einit_kont` block
        einit_kont: BlockKont,
    },
    /// `EKStop elem`
    Stop(ElemSegment),
}

impl Codec for ElemKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "EKStart"),
            Self::Mode {
                left,
                index,
                is_const,
                early_ref_type,
                offset_pos,
                offset_kont,
            } => {
                write_tag(t, p, "EKMode")?;
                e31(*left, t, &v, &["left"])?;
                e(index, t, &v, &["index"])?;
                codec::write(t, &join(&v, &["index_kind"]), vec![u8::from(*is_const)])?;
                codec::write_value_option(t, &join(&v, &["early_ref_type"]), early_ref_type)?;
                e31(*offset_pos, t, &v, &["offset_kont"])?;
                e(offset_kont, t, &v, &["offset_kont_code"])
            }
            Self::InitIndexed {
                mode,
                ref_type,
                einit_vec,
            } => {
                write_tag(t, p, "EKInitIndexed")?;
                e(mode, t, &v, &["mode"])?;
                e(ref_type, t, &v, &["ref_type"])?;
                e(einit_vec, t, &v, &["einit_vec"])
            }
            Self::InitConst {
                mode,
                ref_type,
                einit_vec,
                einit_pos,
                einit_kont,
            } => {
                write_tag(t, p, "EKInitConst")?;
                e(mode, t, &v, &["mode"])?;
                e(ref_type, t, &v, &["ref_type"])?;
                e(einit_vec, t, &v, &["einit_vec"])?;
                e31(*einit_pos, t, &v, &["einit_kont_pos"])?;
                e(einit_kont, t, &v, &["einit_kont_block"])
            }
            Self::Stop(x) => {
                write_tag(t, p, "EKStop")?;
                x.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "EKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "EKMode" => {
                let kp = join(&v, &["index_kind"]);
                let is_const = match codec::need(t, &kp, "index kind")?.as_slice() {
                    [0] => false,
                    [1] => true,
                    _ => return bad(&kp, "index kind"),
                };
                Self::Mode {
                    left: d31(t, &v, &["left"])?,
                    index: d(t, &v, &["index"])?,
                    is_const,
                    early_ref_type: codec::read_value_option(t, &join(&v, &["early_ref_type"]))?,
                    offset_pos: d31(t, &v, &["offset_kont"])?,
                    offset_kont: d(t, &v, &["offset_kont_code"])?,
                }
            }
            "EKInitIndexed" => Self::InitIndexed {
                mode: d(t, &v, &["mode"])?,
                ref_type: d(t, &v, &["ref_type"])?,
                einit_vec: d(t, &v, &["einit_vec"])?,
            },
            "EKInitConst" => Self::InitConst {
                mode: d(t, &v, &["mode"])?,
                ref_type: d(t, &v, &["ref_type"])?,
                einit_vec: d(t, &v, &["einit_vec"])?,
                einit_pos: d31(t, &v, &["einit_kont_pos"])?,
                einit_kont: d(t, &v, &["einit_kont_block"])?,
            },
            "EKStop" => Self::Stop(ElemSegment::decode(t, &v)?),
            _ => return bad(p, "elem kont tag"),
        })
    }
}

fn elem_kind(s: &mut Stream<'_>) -> SResult<RefType> {
    match s.get()? {
        0x00 => Ok(RefType::FuncRef),
        _ => Ok(s.error(s.last(), "malformed element kind")?),
    }
}

fn ek_start(s: &mut Stream<'_>) -> SResult<ElemKont> {
    let mode_at = |s: &Stream<'_>, index: i32, is_const, early| -> SResult<ElemKont> {
        let left = pos31(s.pos)?;
        Ok(ElemKont::Mode {
            left,
            index,
            is_const,
            early_ref_type: early,
            offset_pos: left,
            offset_kont: BlockKont::Start,
        })
    };
    let v = s.vu32()?;
    Ok(match v {
        0 => mode_at(s, 0, false, Some(RefType::FuncRef))?,
        4 => mode_at(s, 0, true, Some(RefType::FuncRef))?,
        2 | 6 => {
            let left = pos31(s.pos)?;
            let index = s.vu32()? as i32;
            let offset_pos = pos31(s.pos)?;
            ElemKont::Mode {
                left,
                index,
                is_const: v == 6,
                early_ref_type: None,
                offset_pos,
                offset_kont: BlockKont::Start,
            }
        }
        1 | 3 => {
            let mode = if v == 1 {
                SegmentMode::Passive
            } else {
                SegmentMode::Declarative
            };
            let ref_type = elem_kind(s)?;
            let n = s.len32()?;
            ElemKont::InitIndexed {
                mode,
                ref_type,
                einit_vec: LazyVecK::init(n as i32),
            }
        }
        5 | 7 => {
            let mode = if v == 5 {
                SegmentMode::Passive
            } else {
                SegmentMode::Declarative
            };
            let ref_type = s.ref_type()?;
            let n = s.len32()?;
            ElemKont::InitConst {
                mode,
                ref_type,
                einit_vec: LazyVecK::init(n as i32),
                einit_pos: pos31(s.pos)?,
                einit_kont: BlockKont::Start,
            }
        }
        _ => return Ok(s.error(s.last(), "malformed elements segment kind")?),
    })
}

fn elem_step(s: &mut Stream<'_>, allocs: &mut Allocations, k: ElemKont) -> SResult<ElemKont> {
    Ok(match k {
        ElemKont::Start => ek_start(s)?,
        ElemKont::Mode {
            index,
            is_const,
            early_ref_type,
            offset_kont: BlockKont::Stop(offset),
            ..
        } => {
            s.end_()?;
            let mode = SegmentMode::Active { index, offset };
            let ref_type = match early_ref_type {
                Some(t) => t,
                None if !is_const => elem_kind(s)?,
                None => s.ref_type()?,
            };
            let n = s.len32()?;
            if !is_const {
                ElemKont::InitIndexed {
                    mode,
                    ref_type,
                    einit_vec: LazyVecK::init(n as i32),
                }
            } else {
                ElemKont::InitConst {
                    mode,
                    ref_type,
                    einit_vec: LazyVecK::init(n as i32),
                    einit_pos: pos31(s.pos)?,
                    einit_kont: BlockKont::Start,
                }
            }
        }
        ElemKont::Mode {
            left,
            index,
            is_const,
            early_ref_type,
            offset_pos,
            offset_kont,
        } => {
            let offset_kont = block_step(s, allocs, offset_kont)?;
            ElemKont::Mode {
                left,
                index,
                is_const,
                early_ref_type,
                offset_pos,
                offset_kont,
            }
        }
        ElemKont::InitConst {
            mode,
            ref_type,
            einit_vec,
            ..
        }
        | ElemKont::InitIndexed {
            mode,
            ref_type,
            einit_vec,
        } if einit_vec.is_end() => ElemKont::Stop(ElemSegment {
            etype: ref_type,
            einit: einit_vec.vector,
            emode: mode,
        }),
        ElemKont::InitIndexed {
            mode,
            ref_type,
            mut einit_vec,
        } => {
            let x = s.vu32()? as i32;
            let b = allocs.alloc_block()?;
            allocs.add_to_block(b, Instr::one("RefFunc", x.to_bytes()))?;
            einit_vec.push(b)?;
            ElemKont::InitIndexed {
                mode,
                ref_type,
                einit_vec,
            }
        }
        ElemKont::InitConst {
            mode,
            ref_type,
            mut einit_vec,
            einit_kont: BlockKont::Stop(einit),
            ..
        } => {
            s.end_()?;
            einit_vec.push(einit)?;
            ElemKont::InitConst {
                mode,
                ref_type,
                einit_vec,
                einit_pos: pos31(s.pos)?,
                einit_kont: BlockKont::Start,
            }
        }
        ElemKont::InitConst {
            mode,
            ref_type,
            einit_vec,
            einit_pos,
            einit_kont,
        } => {
            let einit_kont = block_step(s, allocs, einit_kont)?;
            ElemKont::InitConst {
                mode,
                ref_type,
                einit_vec,
                einit_pos,
                einit_kont,
            }
        }
        ElemKont::Stop(_) => return step_error("Elem_step"),
    })
}

/// `data_kont` (`Data.encoding`).
#[derive(Clone, Debug)]
pub enum DataKont {
    /// `DKStart`
    Start,
    /// `DKMode`
    Mode {
        /// `left`
        left: i32,
        /// `index`
        index: i32,
        /// `offset_kont` position
        offset_pos: i32,
        /// `offset_kont` code
        offset_kont: BlockKont,
    },
    /// `DKInit`
    Init {
        /// `dmode`
        dmode: SegmentMode,
        /// `init_kont`
        init_kont: ByteVecKont,
    },
    /// `DKStop data`
    Stop(DataSegment),
}

impl Codec for DataKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        match self {
            Self::Start => write_unit_case(t, p, "DKStart"),
            Self::Mode {
                left,
                index,
                offset_pos,
                offset_kont,
            } => {
                write_tag(t, p, "DKMode")?;
                e31(*left, t, &v, &["left"])?;
                e(index, t, &v, &["index"])?;
                e31(*offset_pos, t, &v, &["offset_kont"])?;
                e(offset_kont, t, &v, &["offset_kont_code"])
            }
            Self::Init { dmode, init_kont } => {
                write_tag(t, p, "DKInit")?;
                e(dmode, t, &v, &["dmode"])?;
                e(init_kont, t, &v, &["init_kont"])
            }
            Self::Stop(x) => {
                write_tag(t, p, "DKStop")?;
                x.encode(t, &v)
            }
        }
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        Ok(match read_tag(t, p)?.as_str() {
            "DKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "DKMode" => Self::Mode {
                left: d31(t, &v, &["left"])?,
                index: d(t, &v, &["index"])?,
                offset_pos: d31(t, &v, &["offset_kont"])?,
                offset_kont: d(t, &v, &["offset_kont_code"])?,
            },
            "DKInit" => Self::Init {
                dmode: d(t, &v, &["dmode"])?,
                init_kont: d(t, &v, &["init_kont"])?,
            },
            "DKStop" => Self::Stop(DataSegment::decode(t, &v)?),
            _ => return bad(p, "data kont tag"),
        })
    }
}

fn data_step(s: &mut Stream<'_>, allocs: &mut Allocations, k: DataKont) -> SResult<DataKont> {
    Ok(match k {
        DataKont::Start => match s.vu32()? {
            0 => {
                let left = pos31(s.pos)?;
                DataKont::Mode {
                    left,
                    index: 0,
                    offset_pos: left,
                    offset_kont: BlockKont::Start,
                }
            }
            1 => DataKont::Init {
                dmode: SegmentMode::Passive,
                init_kont: ByteVecKont::Start,
            },
            2 => {
                let left = pos31(s.pos)?;
                let index = s.vu32()? as i32;
                let offset_pos = pos31(s.pos)?;
                DataKont::Mode {
                    left,
                    index,
                    offset_pos,
                    offset_kont: BlockKont::Start,
                }
            }
            _ => return Ok(s.error(s.last(), "malformed data segment kind")?),
        },
        DataKont::Mode {
            index,
            offset_kont: BlockKont::Stop(offset),
            ..
        } => {
            s.end_()?;
            DataKont::Init {
                dmode: SegmentMode::Active { index, offset },
                init_kont: ByteVecKont::Start,
            }
        }
        DataKont::Mode {
            left,
            index,
            offset_pos,
            offset_kont,
        } => {
            let offset_kont = block_step(s, allocs, offset_kont)?;
            DataKont::Mode {
                left,
                index,
                offset_pos,
                offset_kont,
            }
        }
        DataKont::Init {
            dmode,
            init_kont: ByteVecKont::Stop(dinit),
        } => DataKont::Stop(DataSegment { dinit, dmode }),
        DataKont::Init { dmode, init_kont } => {
            let init_kont = byte_vector_step(allocs, s, init_kont)?;
            DataKont::Init { dmode, init_kont }
        }
        DataKont::Stop(_) => return step_error("Data_step"),
    })
}

// ---------------------------------------------------------------- module

/// `field_type` (packed), with the key of its vector in the tree (`Field.*_field_encoding`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// `TypeField`
    Type,
    /// `ImportField`
    Import,
    /// `FuncField`
    Func,
    /// `TableField`
    Table,
    /// `MemoryField`
    Memory,
    /// `GlobalField`
    Global,
    /// `ExportField`
    Export,
    /// `StartField`
    Start,
    /// `ElemField`
    Elem,
    /// `DataCountField`
    DataCount,
    /// `CodeField`
    Code,
    /// `DataField`
    Data,
}

const FIELDS: [(Field, &str, &str); 12] = [
    (Field::Type, "TypeField", "types"),
    (Field::Import, "ImportField", "imports"),
    (Field::Func, "FuncField", "funcs"),
    (Field::Table, "TableField", "tables"),
    (Field::Memory, "MemoryField", "memories"),
    (Field::Global, "GlobalField", "globals"),
    (Field::Export, "ExportField", "exports"),
    (Field::Start, "StartField", ""),
    (Field::Elem, "ElemField", "elem_segments"),
    (Field::DataCount, "DataCountField", ""),
    (Field::Code, "CodeField", "code"),
    (Field::Data, "DataField", "data_segments"),
];

impl Field {
    fn name(self) -> &'static str {
        FIELDS.iter().find(|f| f.0 == self).map_or("", |f| f.1)
    }
    fn key(self) -> &'static str {
        FIELDS.iter().find(|f| f.0 == self).map_or("", |f| f.2)
    }
    fn of_name(n: &str) -> Option<Field> {
        FIELDS.iter().find(|f| f.1 == n).map(|f| f.0)
    }
    /// Section id of the field (`tag_of_field`).
    fn section_id(self) -> u8 {
        match self {
            Field::Type => 1,
            Field::Import => 2,
            Field::Func => 3,
            Field::Table => 4,
            Field::Memory => 5,
            Field::Global => 6,
            Field::Export => 7,
            Field::Start => 8,
            Field::Elem => 9,
            Field::Code => 10,
            Field::Data => 11,
            Field::DataCount => 12,
        }
    }
}

/// `packed_field_type_encoding`: the field name as tag, an empty blob as payload.
impl Codec for Field {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        write_unit_case(t, p, self.name())
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        match Field::of_name(&read_tag(t, p)?) {
            Some(f) => crate::codec::read_unit_case(t, p, f),
            None => bad(p, "field type tag"),
        }
    }
}

/// `packed_typed_lazy_vec`: the lazy vector of a vector field, under `vector/module/<key>`.
#[derive(Clone, Debug)]
pub enum FieldVec {
    /// Types.
    Type(LazyVecK<FuncType>),
    /// Imports.
    Import(LazyVecK<Import>),
    /// Function type indices.
    Func(LazyVecK<i32>),
    /// Tables.
    Table(LazyVecK<TableType>),
    /// Memories.
    Memory(LazyVecK<Limits>),
    /// Globals.
    Global(LazyVecK<Global>),
    /// Exports.
    Export(LazyVecK<Export>),
    /// Element segments.
    Elem(LazyVecK<ElemSegment>),
    /// Code.
    Code(LazyVecK<Func>),
    /// Data segments.
    Data(LazyVecK<DataSegment>),
}

macro_rules! each_field_vec {
    ($v:expr, $x:ident => $body:expr) => {
        match $v {
            FieldVec::Type($x) => $body,
            FieldVec::Import($x) => $body,
            FieldVec::Func($x) => $body,
            FieldVec::Table($x) => $body,
            FieldVec::Memory($x) => $body,
            FieldVec::Global($x) => $body,
            FieldVec::Export($x) => $body,
            FieldVec::Elem($x) => $body,
            FieldVec::Code($x) => $body,
            FieldVec::Data($x) => $body,
        }
    };
}

impl FieldVec {
    fn field(&self) -> Field {
        match self {
            Self::Type(_) => Field::Type,
            Self::Import(_) => Field::Import,
            Self::Func(_) => Field::Func,
            Self::Table(_) => Field::Table,
            Self::Memory(_) => Field::Memory,
            Self::Global(_) => Field::Global,
            Self::Export(_) => Field::Export,
            Self::Elem(_) => Field::Elem,
            Self::Code(_) => Field::Code,
            Self::Data(_) => Field::Data,
        }
    }
    fn init(f: Field, n: i32) -> Option<Self> {
        Some(match f {
            Field::Type => Self::Type(LazyVecK::init(n)),
            Field::Import => Self::Import(LazyVecK::init(n)),
            Field::Func => Self::Func(LazyVecK::init(n)),
            Field::Table => Self::Table(LazyVecK::init(n)),
            Field::Memory => Self::Memory(LazyVecK::init(n)),
            Field::Global => Self::Global(LazyVecK::init(n)),
            Field::Export => Self::Export(LazyVecK::init(n)),
            Field::Elem => Self::Elem(LazyVecK::init(n)),
            Field::Code => Self::Code(LazyVecK::init(n)),
            Field::Data => Self::Data(LazyVecK::init(n)),
            Field::Start | Field::DataCount => return None,
        })
    }
    fn is_end(&self) -> bool {
        each_field_vec!(self, x => x.is_end())
    }
}

/// `Lazy_vec.raw_encoding Field.<f>_field_encoding`: `offset`, `vector/module/<key>/…`.
fn enc_fv(fv: &FieldVec, t: &mut Tree, p: &[String]) -> Result<()> {
    let key = fv.field().key();
    each_field_vec!(fv, x => x.encode_at(t, p, &["module", key]))
}

fn dec_fv(f: Field, t: &Tree, p: &[String]) -> Result<FieldVec> {
    let sc = ["module", f.key()];
    Ok(match f {
        Field::Type => FieldVec::Type(LazyVecK::decode_at(t, p, &sc)?),
        Field::Import => FieldVec::Import(LazyVecK::decode_at(t, p, &sc)?),
        Field::Func => FieldVec::Func(LazyVecK::decode_at(t, p, &sc)?),
        Field::Table => FieldVec::Table(LazyVecK::decode_at(t, p, &sc)?),
        Field::Memory => FieldVec::Memory(LazyVecK::decode_at(t, p, &sc)?),
        Field::Global => FieldVec::Global(LazyVecK::decode_at(t, p, &sc)?),
        Field::Export => FieldVec::Export(LazyVecK::decode_at(t, p, &sc)?),
        Field::Elem => FieldVec::Elem(LazyVecK::decode_at(t, p, &sc)?),
        Field::Code => FieldVec::Code(LazyVecK::decode_at(t, p, &sc)?),
        Field::Data => FieldVec::Data(LazyVecK::decode_at(t, p, &sc)?),
        Field::Start | Field::DataCount => return bad(p, "not a vector field"),
    })
}

/// `module_kont` (`Module.encoding`).
#[derive(Clone, Debug)]
pub enum ModuleKont {
    /// `MKStart`
    Start,
    /// `MKSkipCustom next`
    SkipCustom(Option<Field>),
    /// `MKFieldStart f`
    FieldStart(Field),
    /// `MKField (f, size, vec)`
    Field(Size, FieldVec),
    /// `MKElaborateFunc (fts, fbs, funcs, instr_kont, no_datas_in_func)`
    ElaborateFunc(
        LazyVec<i32>,
        LazyVec<Func>,
        LazyVecK<Func>,
        Option<LazyVecK<LazyVecK<Instr>>>,
        bool,
    ),
    /// `MKBuild (funcs, no_datas_in_func)`
    Build(Option<LazyVec<Func>>, bool),
    /// `MKStop module`
    Stop(Box<Module>),
    /// `MKTypes`
    Types(FuncTypeKont, i32, Size, LazyVecK<FuncType>),
    /// `MKImport`
    Import(ImportKont, i32, Size, LazyVecK<Import>),
    /// `MKExport`
    Export(ExportKont, i32, Size, LazyVecK<Export>),
    /// `MKGlobal`
    Global(GlobalType, i32, BlockKont, Size, LazyVecK<Global>),
    /// `MKElem`
    Elem(ElemKont, i32, Size, LazyVecK<ElemSegment>),
    /// `MKData`
    Data(DataKont, i32, Size, LazyVecK<DataSegment>),
    /// `MKCode`
    Code(CodeKont, i32, Size, LazyVecK<Func>),
}

impl Codec for ModuleKont {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        let v = val(p);
        let v = v.as_slice();
        match self {
            Self::Start => write_unit_case(t, p, "MKStart"),
            Self::SkipCustom(f) => {
                write_tag(t, p, "MKSkipCustom")?;
                Opt(*f).encode(t, v)
            }
            Self::FieldStart(f) => {
                write_tag(t, p, "MKFieldStart")?;
                f.encode(t, v)
            }
            Self::Field(size, fv) => {
                write_tag(t, p, "MKField")?;
                write_tag(t, v, fv.field().name())?;
                enc_fv(fv, t, &val(v))?;
                size.encode(t, v)
            }
            Self::ElaborateFunc(fts, fbs, funcs, instr_kont, no_datas) => {
                write_tag(t, p, "MKElaborateFunc")?;
                e(fts, t, v, &["module", "funcs"])?;
                e(fbs, t, v, &["module", "code"])?;
                e(funcs, t, v, &["func_kont"])?;
                e(&Opt(instr_kont.clone()), t, v, &["instr_kont"])?;
                e(no_datas, t, v, &["no-datas-in-funcs"])
            }
            Self::Build(funcs, no_datas) => {
                write_tag(t, p, "MKBuild")?;
                match funcs {
                    Some(f) => {
                        write_tag(t, v, "Some")?;
                        e(f, t, &val(v), &["module", "funcs"])?;
                    }
                    None => write_tag(t, v, "None")?,
                }
                e(no_datas, t, v, &["no-datas-in-funcs"])
            }
            Self::Stop(m) => {
                write_tag(t, p, "MKStop")?;
                m.encode(t, v)
            }
            Self::Types(k, pos, size, acc) => {
                write_tag(t, p, "MKTypes")?;
                e(k, t, v, &["func_type_kont"])?;
                e31(*pos, t, v, &["pos"])?;
                e(size, t, v, &["size"])?;
                acc.encode_at(t, v, &["module", "types"])
            }
            Self::Import(k, pos, size, acc) => {
                write_tag(t, p, "MKImport")?;
                e(k, t, v, &["import_kont"])?;
                e31(*pos, t, v, &["pos"])?;
                e(size, t, v, &["size"])?;
                acc.encode_at(t, v, &["module", "imports"])
            }
            Self::Export(k, pos, size, acc) => {
                write_tag(t, p, "MKExport")?;
                e(k, t, v, &["export_kont"])?;
                e31(*pos, t, v, &["pos"])?;
                e(size, t, v, &["size"])?;
                acc.encode_at(t, v, &["module", "exports"])
            }
            Self::Global(gt, pos, k, size, acc) => {
                write_tag(t, p, "MKGlobal")?;
                e(gt, t, v, &["global_type"])?;
                e31(*pos, t, v, &["pos"])?;
                e(k, t, v, &["block_kont"])?;
                e(size, t, v, &["size"])?;
                acc.encode_at(t, v, &["module", "globals"])
            }
            Self::Elem(k, pos, size, acc) => {
                write_tag(t, p, "MKElem")?;
                e(k, t, v, &["elem_kont"])?;
                e31(*pos, t, v, &["pos"])?;
                e(size, t, v, &["size"])?;
                acc.encode_at(t, v, &["module", "elem_segments"])
            }
            Self::Data(k, pos, size, acc) => {
                write_tag(t, p, "MKData")?;
                e(k, t, v, &["data_kont"])?;
                e31(*pos, t, v, &["pos"])?;
                e(size, t, v, &["size"])?;
                acc.encode_at(t, v, &["module", "data_segments"])
            }
            Self::Code(k, pos, size, acc) => {
                write_tag(t, p, "MKCode")?;
                e(k, t, v, &["code_kont"])?;
                e31(*pos, t, v, &["pos"])?;
                e(size, t, v, &["size"])?;
                acc.encode_at(t, v, &["module", "code"])
            }
        }
    }

    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        let v = val(p);
        let v = v.as_slice();
        let pos = || d31(t, v, &["pos"]);
        let size = || d::<Size>(t, v, &["size"]);
        Ok(match read_tag(t, p)?.as_str() {
            "MKStart" => crate::codec::read_unit_case(t, p, Self::Start)?,
            "MKSkipCustom" => Self::SkipCustom(Opt::<Field>::decode(t, v)?.0),
            "MKFieldStart" => Self::FieldStart(Field::decode(t, v)?),
            "MKField" => {
                let f = Field::decode(t, v)?;
                Self::Field(size_flat(t, v)?, dec_fv(f, t, &val(v))?)
            }
            "MKElaborateFunc" => Self::ElaborateFunc(
                d(t, v, &["module", "funcs"])?,
                d(t, v, &["module", "code"])?,
                d(t, v, &["func_kont"])?,
                d::<Opt<LazyVecK<LazyVecK<Instr>>>>(t, v, &["instr_kont"])?.0,
                d(t, v, &["no-datas-in-funcs"])?,
            ),
            "MKBuild" => {
                let funcs = match read_tag(t, v)?.as_str() {
                    "Some" => Some(d(t, &val(v), &["module", "funcs"])?),
                    "None" => None,
                    _ => return bad(v, "option tag"),
                };
                Self::Build(funcs, d(t, v, &["no-datas-in-funcs"])?)
            }
            "MKStop" => Self::Stop(Box::new(Module::decode(t, v)?)),
            "MKTypes" => Self::Types(
                d(t, v, &["func_type_kont"])?,
                pos()?,
                size()?,
                LazyVecK::decode_at(t, v, &["module", "types"])?,
            ),
            "MKImport" => Self::Import(
                d(t, v, &["import_kont"])?,
                pos()?,
                size()?,
                LazyVecK::decode_at(t, v, &["module", "imports"])?,
            ),
            "MKExport" => Self::Export(
                d(t, v, &["export_kont"])?,
                pos()?,
                size()?,
                LazyVecK::decode_at(t, v, &["module", "exports"])?,
            ),
            "MKGlobal" => Self::Global(
                d(t, v, &["global_type"])?,
                pos()?,
                d(t, v, &["block_kont"])?,
                size()?,
                LazyVecK::decode_at(t, v, &["module", "globals"])?,
            ),
            "MKElem" => Self::Elem(
                d(t, v, &["elem_kont"])?,
                pos()?,
                size()?,
                LazyVecK::decode_at(t, v, &["module", "elem_segments"])?,
            ),
            "MKData" => Self::Data(
                d(t, v, &["data_kont"])?,
                pos()?,
                size()?,
                LazyVecK::decode_at(t, v, &["module", "data_segments"])?,
            ),
            "MKCode" => Self::Code(
                d(t, v, &["code_kont"])?,
                pos()?,
                size()?,
                LazyVecK::decode_at(t, v, &["module", "code"])?,
            ),
            _ => return bad(p, "module kont tag"),
        })
    }
}

/// `MKField`'s size is flattened next to the packed vector's tag.
fn size_flat(t: &Tree, p: &[String]) -> Result<Size> {
    Size::decode(t, p)
}

/// `building_state` (`Building_state.encoding`): `types`, `imports`, `vars`, `tables`,
/// `memories`, `globals`, `exports`, `start` (value option), `elems`, `data_count` (value
/// option), `code`, `datas`.
#[derive(Clone, Debug)]
pub struct BuildingState {
    /// Types.
    pub types: LazyVec<FuncType>,
    /// Imports.
    pub imports: LazyVec<Import>,
    /// Function section (type indices).
    pub vars: LazyVec<i32>,
    /// Tables.
    pub tables: LazyVec<TableType>,
    /// Memories.
    pub memories: LazyVec<Limits>,
    /// Globals.
    pub globals: LazyVec<Global>,
    /// Exports.
    pub exports: LazyVec<Export>,
    /// Start.
    pub start: Option<i32>,
    /// Element segments.
    pub elems: LazyVec<ElemSegment>,
    /// Data count.
    pub data_count: Option<i32>,
    /// Code.
    pub code: LazyVec<Func>,
    /// Data segments.
    pub datas: LazyVec<DataSegment>,
}

impl BuildingState {
    fn empty() -> Self {
        BuildingState {
            types: LazyVec::empty(),
            imports: LazyVec::empty(),
            vars: LazyVec::empty(),
            tables: LazyVec::empty(),
            memories: LazyVec::empty(),
            globals: LazyVec::empty(),
            exports: LazyVec::empty(),
            start: None,
            elems: LazyVec::empty(),
            data_count: None,
            code: LazyVec::empty(),
            datas: LazyVec::empty(),
        }
    }

    /// `add_field` of a vector field.
    fn add_vec(&mut self, fv: FieldVec) {
        match fv {
            FieldVec::Type(x) => self.types = x.vector,
            FieldVec::Import(x) => self.imports = x.vector,
            FieldVec::Func(x) => self.vars = x.vector,
            FieldVec::Table(x) => self.tables = x.vector,
            FieldVec::Memory(x) => self.memories = x.vector,
            FieldVec::Global(x) => self.globals = x.vector,
            FieldVec::Export(x) => self.exports = x.vector,
            FieldVec::Elem(x) => self.elems = x.vector,
            FieldVec::Code(x) => self.code = x.vector,
            FieldVec::Data(x) => self.datas = x.vector,
        }
    }
}

impl Codec for BuildingState {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        e(&self.types, t, p, &["types"])?;
        e(&self.imports, t, p, &["imports"])?;
        e(&self.vars, t, p, &["vars"])?;
        e(&self.tables, t, p, &["tables"])?;
        e(&self.memories, t, p, &["memories"])?;
        e(&self.globals, t, p, &["globals"])?;
        e(&self.exports, t, p, &["exports"])?;
        codec::write_value_option(t, &join(p, &["start"]), &self.start)?;
        e(&self.elems, t, p, &["elems"])?;
        codec::write_value_option(t, &join(p, &["data_count"]), &self.data_count)?;
        e(&self.code, t, p, &["code"])?;
        e(&self.datas, t, p, &["datas"])
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(BuildingState {
            types: d(t, p, &["types"])?,
            imports: d(t, p, &["imports"])?,
            vars: d(t, p, &["vars"])?,
            tables: d(t, p, &["tables"])?,
            memories: d(t, p, &["memories"])?,
            globals: d(t, p, &["globals"])?,
            exports: d(t, p, &["exports"])?,
            start: codec::read_value_option(t, &join(p, &["start"]))?,
            elems: d(t, p, &["elems"])?,
            data_count: codec::read_value_option(t, &join(p, &["data_count"]))?,
            code: d(t, p, &["code"])?,
            datas: d(t, p, &["datas"])?,
        })
    }
}

/// `decode_kont` (`Decode.encoding`, `tup5 ~flatten:true`): `building_state/…`,
/// `module_kont/…`, `allocation_state/…`, `stream_pos` int31, `stream_name` string.
#[derive(Clone, Debug)]
pub struct DecodeState {
    /// Sections parsed so far.
    pub building_state: BuildingState,
    /// Where the decoder is.
    pub module_kont: ModuleKont,
    /// Blocks and data allocated so far.
    pub allocation_state: Allocations,
    /// Byte offset in the kernel.
    pub stream_pos: i32,
    /// `"main"`.
    pub stream_name: Vec<u8>,
}

impl Codec for DecodeState {
    fn encode(&self, t: &mut Tree, p: &[String]) -> Result<()> {
        e(&self.building_state, t, p, &["building_state"])?;
        e(&self.module_kont, t, p, &["module_kont"])?;
        e(&self.allocation_state, t, p, &["allocation_state"])?;
        e31(self.stream_pos, t, p, &["stream_pos"])?;
        e(&Str(self.stream_name.clone()), t, p, &["stream_name"])
    }
    fn decode(t: &Tree, p: &[String]) -> Result<Self> {
        Ok(DecodeState {
            building_state: d(t, p, &["building_state"])?,
            module_kont: d(t, p, &["module_kont"])?,
            allocation_state: d(t, p, &["allocation_state"])?,
            stream_pos: d31(t, p, &["stream_pos"])?,
            stream_name: d::<Str>(t, p, &["stream_name"])?.0,
        })
    }
}

const MAGIC: u32 = 0x6d73_6100;
const VERSION: u32 = 1;

impl DecodeState {
    /// `initial_decode_kont ~name`.
    pub fn initial(name: &str) -> Self {
        DecodeState {
            building_state: BuildingState::empty(),
            module_kont: ModuleKont::Start,
            allocation_state: Allocations::empty(),
            stream_pos: 0,
            stream_name: name.as_bytes().to_vec(),
        }
    }

    /// The decoded module, once `MKStop`.
    pub fn stopped(&self) -> Option<&Module> {
        match &self.module_kont {
            ModuleKont::Stop(m) => Some(m),
            _ => None,
        }
    }

    /// `module_step ~allow_floats:false bytes state`: one tick.
    pub fn module_step(&mut self, bytes: &dyn crate::stream::ByteSource) -> SResult<()> {
        let mut s = Stream {
            bytes,
            pos: usize::try_from(self.stream_pos).unwrap_or(usize::MAX),
        };
        if s.pos > bytes.size() {
            return Err(StepError::Internal(Error::Malformed(
                "stream_pos".into(),
                "beyond the end of the kernel",
            )));
        }
        let kont = std::mem::replace(&mut self.module_kont, ModuleKont::Start);
        let next = self.next_kont(&mut s, kont)?;
        self.module_kont = next;
        if !matches!(self.module_kont, ModuleKont::Stop(_)) {
            self.stream_pos = pos31(s.pos)?;
        }
        Ok(())
    }

    fn next_kont(&mut self, s: &mut Stream<'_>, kont: ModuleKont) -> SResult<ModuleKont> {
        use ModuleKont as MK;
        let allocs = &mut self.allocation_state;
        Ok(match kont {
            MK::Start => {
                let header = s.u32()?;
                s.require(header == MAGIC, 0, "magic header not detected")?;
                let version = s.u32()?;
                s.require(version == VERSION, 4, "unknown binary version")?;
                MK::SkipCustom(Some(Field::Type))
            }
            MK::SkipCustom(k) => {
                if s.peek() == Some(0) {
                    s.get()?;
                    let l = s.len32()?;
                    let start = s.pos;
                    let mut nk = NameKont::Start;
                    loop {
                        nk = name_step(s, nk)?;
                        if matches!(nk, NameKont::Stop(_)) {
                            break;
                        }
                    }
                    let used = s.pos.saturating_sub(start);
                    if l < used {
                        return Ok(s.error(s.pos, "unexpected end of section or function")?);
                    }
                    s.skip(l.saturating_sub(used))?;
                    MK::SkipCustom(k)
                } else {
                    if let Some(id) = s.peek()
                        && id > 12
                    {
                        return Ok(s.error(s.pos, "malformed section id")?);
                    }
                    match k {
                        None => {
                            let bs = &mut self.building_state;
                            if bs.vars.num_elements() != bs.code.num_elements() {
                                MK::Build(None, true)
                            } else {
                                let n = bs.vars.num_elements();
                                MK::ElaborateFunc(
                                    bs.vars.clone(),
                                    bs.code.clone(),
                                    LazyVecK::init(n),
                                    None,
                                    true,
                                )
                            }
                        }
                        Some(f) => MK::FieldStart(f),
                    }
                }
            }
            MK::FieldStart(f) => match f {
                Field::DataCount | Field::Start => {
                    let v = if s.peek() == Some(f.section_id()) {
                        s.get()?;
                        let size = s.len32()?;
                        let start = s.pos;
                        let x = s.vu32()? as i32;
                        s.require(
                            Some(s.pos) == start.checked_add(size),
                            start,
                            "section size mismatch",
                        )?;
                        Some(x)
                    } else {
                        if let Some(id) = s.peek()
                            && id > 12
                        {
                            return Ok(s.error(s.pos, "malformed section id")?);
                        }
                        None
                    };
                    if f == Field::DataCount {
                        self.building_state.data_count = v;
                        MK::SkipCustom(Some(Field::Code))
                    } else {
                        self.building_state.start = v;
                        MK::SkipCustom(Some(Field::Elem))
                    }
                }
                f => {
                    if let Some(id) = s.peek()
                        && id > 12
                    {
                        return Ok(s.error(s.pos, "malformed section id")?);
                    }
                    if s.peek() == Some(f.section_id()) {
                        s.get()?;
                        let size = read_size(s)?;
                        let l = s.len32()?;
                        MK::Field(
                            size,
                            FieldVec::init(f, l as i32).ok_or_else(|| {
                                StepError::Internal(Error::Unsupported("field".into()))
                            })?,
                        )
                    } else {
                        let size = Size {
                            size: 0,
                            start: pos31(s.pos)?,
                        };
                        MK::Field(
                            size,
                            FieldVec::init(f, 0).ok_or_else(|| {
                                StepError::Internal(Error::Unsupported("field".into()))
                            })?,
                        )
                    }
                }
            },
            MK::Field(size, fv) if fv.is_end() => {
                check_size(size, s)?;
                let next = match fv.field() {
                    Field::Type => Field::Import,
                    Field::Import => Field::Func,
                    Field::Func => Field::Table,
                    Field::Table => Field::Memory,
                    Field::Memory => Field::Global,
                    Field::Global => Field::Export,
                    Field::Export => Field::Start,
                    Field::Elem => Field::DataCount,
                    Field::Code => Field::Data,
                    _ => {
                        self.building_state.add_vec(fv);
                        return Ok(MK::SkipCustom(None));
                    }
                };
                self.building_state.add_vec(fv);
                MK::SkipCustom(Some(next))
            }
            MK::Field(size, fv) => {
                let pos = pos31(s.pos)?;
                match fv {
                    FieldVec::Type(acc) => MK::Types(FuncTypeKont::Start, pos, size, acc),
                    FieldVec::Import(acc) => MK::Import(ImportKont::Start, pos, size, acc),
                    FieldVec::Func(mut acc) => {
                        let x = s.vu32()? as i32;
                        acc.push(x)?;
                        MK::Field(size, FieldVec::Func(acc))
                    }
                    FieldVec::Table(mut acc) => {
                        let x = s.table_type()?;
                        acc.push(x)?;
                        MK::Field(size, FieldVec::Table(acc))
                    }
                    FieldVec::Memory(mut acc) => {
                        let x = s.limits()?;
                        acc.push(x)?;
                        MK::Field(size, FieldVec::Memory(acc))
                    }
                    FieldVec::Global(acc) => {
                        let gt = s.global_type()?;
                        MK::Global(gt, pos31(s.pos)?, BlockKont::Start, size, acc)
                    }
                    FieldVec::Export(acc) => MK::Export(ExportKont::Start, pos, size, acc),
                    FieldVec::Elem(acc) => MK::Elem(ElemKont::Start, pos, size, acc),
                    FieldVec::Code(acc) => MK::Code(CodeKont::Start, pos, size, acc),
                    FieldVec::Data(acc) => MK::Data(DataKont::Start, pos, size, acc),
                }
            }
            MK::Types(FuncTypeKont::Stop(ft), _, size, mut acc) => {
                acc.push(ft)?;
                MK::Field(size, FieldVec::Type(acc))
            }
            MK::Types(k, pos, size, acc) => MK::Types(func_type_step(s, k)?, pos, size, acc),
            MK::Import(ImportKont::Stop(i), _, size, mut acc) => {
                acc.push(i)?;
                MK::Field(size, FieldVec::Import(acc))
            }
            MK::Import(k, pos, size, acc) => MK::Import(import_step(s, k)?, pos, size, acc),
            MK::Export(ExportKont::Stop(x), _, size, mut acc) => {
                acc.push(x)?;
                MK::Field(size, FieldVec::Export(acc))
            }
            MK::Export(k, pos, size, acc) => MK::Export(export_step(s, k)?, pos, size, acc),
            MK::Global(gtype, _, BlockKont::Stop(res), size, mut acc) => {
                s.end_()?;
                acc.push(Global { gtype, ginit: res })?;
                MK::Field(size, FieldVec::Global(acc))
            }
            MK::Global(gt, pos, k, size, acc) => {
                MK::Global(gt, pos, block_step(s, allocs, k)?, size, acc)
            }
            MK::Elem(ElemKont::Stop(x), _, size, mut acc) => {
                acc.push(x)?;
                MK::Field(size, FieldVec::Elem(acc))
            }
            MK::Elem(k, pos, size, acc) => MK::Elem(elem_step(s, allocs, k)?, pos, size, acc),
            MK::Data(DataKont::Stop(x), _, size, mut acc) => {
                acc.push(x)?;
                MK::Field(size, FieldVec::Data(acc))
            }
            MK::Data(k, pos, size, acc) => MK::Data(data_step(s, allocs, k)?, pos, size, acc),
            MK::Code(CodeKont::Stop(f), _, size, mut acc) => {
                acc.push(f)?;
                MK::Field(size, FieldVec::Code(acc))
            }
            MK::Code(k, pos, size, acc) => MK::Code(code_step(s, allocs, k)?, pos, size, acc),
            MK::ElaborateFunc(_, _, funcs, None, no_datas) if funcs.is_end() => {
                MK::Build(Some(funcs.vector), no_datas)
            }
            MK::ElaborateFunc(mut fts, mut fbs, mut funcs, None, no_datas) => {
                let ft = fts.get(funcs.offset)?;
                let mut fb = fbs.get(funcs.offset)?;
                fb.ftype = ft;
                let body = fb.body;
                funcs.push(fb)?;
                if no_datas {
                    let instrs = allocs.blocks.get(body)?.0;
                    let inner = LazyVecK {
                        offset: 0,
                        vector: instrs,
                    };
                    let k = LazyVecK {
                        offset: 0,
                        vector: LazyVec::singleton(inner),
                    };
                    MK::ElaborateFunc(fts, fbs, funcs, Some(k), no_datas)
                } else {
                    MK::ElaborateFunc(fts, fbs, funcs, None, no_datas)
                }
            }
            MK::ElaborateFunc(fts, fbs, funcs, Some(k), no_datas) if k.is_end() => {
                MK::ElaborateFunc(fts, fbs, funcs, None, no_datas)
            }
            MK::ElaborateFunc(fts, fbs, funcs, Some(mut k), no_datas) => {
                let offset = k.offset;
                let mut veci = k.vector.get(offset)?;
                if veci.is_end() {
                    k.offset = offset.checked_add(1).ok_or(Error::Overflow("elaborate"))?;
                    MK::ElaborateFunc(fts, fbs, funcs, Some(k), no_datas)
                } else {
                    let i = veci.offset;
                    let instr = veci.vector.get(i)?;
                    let (no_data, new_blocks) = match instr.tag.as_str() {
                        "MemoryInit" | "DataDrop" => (false, Vec::new()),
                        _ => (true, instr.nested_blocks()),
                    };
                    for x in new_blocks {
                        let instrs = allocs.blocks.get(x)?.0;
                        k.vector.append(LazyVecK {
                            offset: 0,
                            vector: instrs,
                        })?;
                    }
                    veci.offset = i.checked_add(1).ok_or(Error::Overflow("elaborate"))?;
                    k.vector.set(offset, veci)?;
                    let no_datas = no_data && no_datas;
                    MK::ElaborateFunc(fts, fbs, funcs, no_datas.then_some(k), no_datas)
                }
            }
            MK::Build(funcs, no_datas) => {
                let len = s.len();
                s.require(s.pos == len, len, "unexpected content after last section")?;
                let bs = &self.building_state;
                s.require(
                    bs.data_count.is_none_or(|n| n == bs.datas.num_elements()),
                    len,
                    "data count and data section have inconsistent lengths",
                )?;
                let Some(funcs) = funcs else {
                    return Ok(s.error(len, "function and code section have inconsistent lengths")?);
                };
                s.require(
                    bs.data_count.is_some() || no_datas,
                    len,
                    "data count section required",
                )?;
                MK::Stop(Box::new(Module {
                    types: bs.types.clone(),
                    globals: bs.globals.clone(),
                    tables: bs.tables.clone(),
                    memories: bs.memories.clone(),
                    funcs,
                    start: bs.start,
                    elems: bs.elems.clone(),
                    datas: bs.datas.clone(),
                    imports: bs.imports.clone(),
                    exports: bs.exports.clone(),
                    allocations: self.allocation_state.clone(),
                }))
            }
            MK::Stop(_) => return step_error("Module_step"),
        })
    }
}
