//! The decoding stream and the binary readers of `src/lib_webassembly/binary/decode.ml`
//! (`get`, `vuN`, `vsN`, `len32`, types, `memop`, `block_type`) and the plain-instruction
//! decoder `instr`, producing [`Instr`] values in `Wasm_encoding.instruction_encoding` form.
//! Error messages are Octez's.

use crate::ast::{BlockType, GlobalType, Instr, Limits, RefType, TableType, ValType};
use crate::codec::Blob;

/// A decoding error (`Decode_error.Error` / `Floating_point.error`): message and position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeFailure {
    /// Octez's message.
    pub msg: String,
    /// Byte offset in the module.
    pub pos: usize,
    /// The instruction decodes but Octez cannot write it into the tree (an `F32x4`/`F64x2`
    /// lane operator the decoder does not guard, or a shuffle lane over 127): Octez's
    /// `Tree_encoding` raises, so no state follows (reported as [`crate::Error::Unsupported`]).
    pub unencodable: bool,
}

/// Shorthand.
pub type DResult<T> = Result<T, DecodeFailure>;

/// The module bytes a [`Stream`] reads: a slice, or a chunked value of the durable storage
/// read chunk by chunk (`Chunked_byte_vector.load_byte`: a tick loads only the chunks at the
/// positions it reads, as Octez's proof of a decoding tick holds).
pub trait ByteSource {
    /// The length in bytes.
    fn size(&self) -> usize;
    /// The byte at `i`, `None` past the end (or when it cannot be loaded: the source keeps the
    /// error for its owner).
    fn byte(&self, i: usize) -> Option<u8>;
}

impl ByteSource for &[u8] {
    fn size(&self) -> usize {
        self.len()
    }
    fn byte(&self, i: usize) -> Option<u8> {
        self.get(i).copied()
    }
}

/// `stream`: the module bytes and the current position.
pub struct Stream<'a> {
    /// Module bytes.
    pub bytes: &'a dyn ByteSource,
    /// Position.
    pub pos: usize,
}

impl Stream<'_> {
    /// Error at `pos`.
    pub fn error<T>(&self, pos: usize, msg: &str) -> DResult<T> {
        Err(DecodeFailure {
            msg: msg.to_owned(),
            pos,
            unencodable: false,
        })
    }

    /// An instruction Octez decodes but cannot encode in the tree (see
    /// [`DecodeFailure::unencodable`]).
    fn unencodable<T>(&self, pos: usize, what: &str) -> DResult<T> {
        Err(DecodeFailure {
            msg: format!("{what} cannot be encoded in Octez's tree"),
            pos,
            unencodable: true,
        })
    }

    /// `require`.
    pub fn require(&self, b: bool, pos: usize, msg: &str) -> DResult<()> {
        if b { Ok(()) } else { self.error(pos, msg) }
    }

    /// Position of the byte just read (error positions `pos s - 1`).
    pub fn last(&self) -> usize {
        self.pos.saturating_sub(1)
    }

    /// `len s`.
    pub fn len(&self) -> usize {
        self.bytes.size()
    }

    /// Whether the module is empty.
    pub fn is_empty(&self) -> bool {
        self.bytes.size() == 0
    }

    fn eos_error<T>(&self) -> DResult<T> {
        self.error(self.len(), "unexpected end of section or function")
    }

    /// `peek`.
    pub fn peek(&self) -> Option<u8> {
        self.bytes.byte(self.pos)
    }

    /// `get` (guarded).
    pub fn get(&mut self) -> DResult<u8> {
        match self.bytes.byte(self.pos) {
            Some(b) => {
                self.pos = self.pos.saturating_add(1);
                Ok(b)
            }
            None => self.eos_error(),
        }
    }

    /// `skip n` (guarded).
    pub fn skip(&mut self, n: usize) -> DResult<()> {
        if self.pos.checked_add(n).is_none_or(|e| e > self.len()) {
            return self.eos_error();
        }
        self.pos = self.pos.saturating_add(n);
        Ok(())
    }

    /// `u32` (little-endian, 4 bytes).
    pub fn u32(&mut self) -> DResult<u32> {
        let mut v = 0u32;
        for shift in [0u32, 8, 16, 24] {
            v |= u32::from(self.get()?).wrapping_shl(shift);
        }
        Ok(v)
    }

    /// `vuN n`.
    pub fn vu_n(&mut self, n: i32) -> DResult<u64> {
        self.require(n > 0, self.pos, "integer representation too long")?;
        let b = self.get()?;
        self.require(
            n >= 7 || u32::from(b & 0x7f) < 1u32.wrapping_shl(n.clamp(0, 31) as u32),
            self.last(),
            "integer too large",
        )?;
        let x = u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            Ok(x)
        } else {
            let v = self.vu_n(n.saturating_sub(7))?;
            Ok(x | v.wrapping_shl(7))
        }
    }

    /// `vsN n`.
    pub fn vs_n(&mut self, n: i32) -> DResult<i64> {
        self.require(n > 0, self.pos, "integer representation too long")?;
        let b = self.get()?;
        let mask: i32 = (-1i32).wrapping_shl(n.saturating_sub(1).clamp(0, 31) as u32) & 0x7f;
        let bm = i32::from(b) & mask;
        self.require(
            n >= 7 || bm == 0 || bm == mask,
            self.last(),
            "integer too large",
        )?;
        let x = i64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if b & 0x40 == 0 { Ok(x) } else { Ok(x | !0x7f) }
        } else {
            let v = self.vs_n(n.saturating_sub(7))?;
            Ok(x | v.wrapping_shl(7))
        }
    }

    /// `vu32`.
    pub fn vu32(&mut self) -> DResult<u32> {
        Ok(self.vu_n(32)? as u32)
    }

    /// `vs7`.
    pub fn vs7(&mut self) -> DResult<i64> {
        self.vs_n(7)
    }

    /// `len32`: a length that must fit in the rest of the stream.
    pub fn len32(&mut self) -> DResult<usize> {
        let pos = self.pos;
        let n = self.vu32()?;
        let rest = self.len().saturating_sub(pos);
        if (n as usize) <= rest {
            Ok(n as usize)
        } else {
            self.error(pos, "length out of bounds")
        }
    }

    /// `guard_float ~allow_floats:false`.
    pub fn float_error<T>(&self) -> DResult<T> {
        self.error(self.pos, "float instructions are forbidden")
    }

    /// `num_type`.
    fn num_type(&mut self) -> DResult<ValType> {
        match self.vs7()? {
            -0x01 => Ok(ValType::I32),
            -0x02 => Ok(ValType::I64),
            -0x03 | -0x04 => self.float_error(),
            _ => self.error(self.last(), "malformed number type"),
        }
    }

    /// `ref_type`.
    pub fn ref_type(&mut self) -> DResult<RefType> {
        match self.vs7()? {
            -0x10 => Ok(RefType::FuncRef),
            -0x11 => Ok(RefType::ExternRef),
            _ => self.error(self.last(), "malformed reference type"),
        }
    }

    /// `value_type ~allow_floats:false`.
    pub fn value_type(&mut self) -> DResult<ValType> {
        match self.peek() {
            Some(n) if n >= 0x7c => self.num_type(),
            Some(n) if n >= 0x71 => match self.vs7()? {
                -0x05 => Ok(ValType::V128),
                _ => self.error(self.last(), "malformed vector type"),
            },
            _ => Ok(match self.ref_type()? {
                RefType::FuncRef => ValType::FuncRef,
                RefType::ExternRef => ValType::ExternRef,
            }),
        }
    }

    /// `limits vu32`.
    pub fn limits(&mut self) -> DResult<Limits> {
        let has_max = self.vu_n(1)? == 1;
        let min = self.vu32()? as i32;
        let max = if has_max {
            Some(self.vu32()? as i32)
        } else {
            None
        };
        Ok(Limits { min, max })
    }

    /// `table_type`.
    pub fn table_type(&mut self) -> DResult<TableType> {
        let ref_type = self.ref_type()?;
        let limits = self.limits()?;
        Ok(TableType { limits, ref_type })
    }

    /// `global_type`.
    pub fn global_type(&mut self) -> DResult<GlobalType> {
        let vt = self.value_type()?;
        let mutable = match self.get()? {
            0 => false,
            1 => true,
            _ => return self.error(self.last(), "malformed mutability"),
        };
        Ok(GlobalType { vt, mutable })
    }

    /// `end_`.
    pub fn end_(&mut self) -> DResult<()> {
        let x = self.get()?;
        self.require(x == 0x0b, self.last(), "END opcode expected")
    }

    fn zero(&mut self) -> DResult<()> {
        let x = self.get()?;
        self.require(x == 0x00, self.last(), "zero byte expected")
    }

    fn var(&mut self) -> DResult<Vec<u8>> {
        Ok((self.vu32()? as i32).to_bytes())
    }

    /// `memop`: align (≤ 32) and offset.
    fn memop(&mut self) -> DResult<(u32, u32)> {
        let align = self.vu32()?;
        self.require(align <= 32, self.last(), "malformed memop flags")?;
        let offset = self.vu32()?;
        Ok((align, offset))
    }

    /// `block_type`.
    pub fn block_type(&mut self) -> DResult<BlockType> {
        match self.peek() {
            Some(0x40) => {
                self.skip(1)?;
                Ok(BlockType::Val(None))
            }
            Some(b) if b & 0xc0 == 0x40 => Ok(BlockType::Val(Some(self.value_type()?))),
            _ => Ok(BlockType::Var(self.vs_n(33)? as i32)),
        }
    }

    /// `instr ~allow_floats:false s pos tag` for every opcode but `block`/`loop`/`if`
    /// (`0xfd`: [`Stream::simd`]).
    pub fn instr(&mut self, pos: usize, tag: u8) -> DResult<Instr> {
        let one = |t: &str, b: Vec<u8>| Instr::one(t, b);
        Ok(match tag {
            0x00 => Instr::unit("Unreachable"),
            0x01 => Instr::unit("Nop"),
            0x05 => return self.error(pos, "misplaced ELSE opcode"),
            0x0b => return self.error(pos, "misplaced END opcode"),
            0x0c => one("Br", self.var()?),
            0x0d => one("BrIf", self.var()?),
            0x0e => {
                // `Data_encoding.list` is `dynamic_size`: a 4-byte byte length first.
                let n = self.len32()?;
                let mut body = Vec::new();
                for _ in 0..n {
                    body.extend(self.var()?);
                }
                let mut xs = (body.len() as u32).to_be_bytes().to_vec();
                xs.extend(body);
                let x = self.var()?;
                Instr::tup("BrTable", vec![xs, x])
            }
            0x0f => Instr::unit("Return"),
            0x10 => one("Call", self.var()?),
            0x11 => {
                let y = self.var()?;
                let x = self.var()?;
                Instr::tup("CallIndirect", vec![x, y])
            }
            0x1a => Instr::unit("Drop"),
            0x1b => one("Select", vec![0x00]),
            0x1c => {
                // `option (list value_type)`: `0x01` (`Some`), the 4-byte byte length, the types.
                let n = self.len32()?;
                let mut types = Vec::new();
                for _ in 0..n {
                    self.value_type()?.put(&mut types);
                }
                let mut b = vec![1];
                b.extend((types.len() as u32).to_be_bytes());
                b.extend(types);
                one("Select", b)
            }
            0x20 => one("LocalGet", self.var()?),
            0x21 => one("LocalSet", self.var()?),
            0x22 => one("LocalTee", self.var()?),
            0x23 => one("GlobalGet", self.var()?),
            0x24 => one("GlobalSet", self.var()?),
            0x25 => one("TableGet", self.var()?),
            0x26 => one("TableSet", self.var()?),
            0x28..=0x35 => {
                // ty, pack: None | Some (size, extension)
                let (ty, pack): (u8, Option<(u8, u8)>) = match tag {
                    0x28 => (0, None),
                    0x29 => (1, None),
                    0x2a | 0x2b => return self.float_error(),
                    0x2c => (0, Some((0, 0))),
                    0x2d => (0, Some((0, 1))),
                    0x2e => (0, Some((1, 0))),
                    0x2f => (0, Some((1, 1))),
                    0x30 => (1, Some((0, 0))),
                    0x31 => (1, Some((0, 1))),
                    0x32 => (1, Some((1, 0))),
                    0x33 => (1, Some((1, 1))),
                    0x34 => (1, Some((2, 0))),
                    _ => (1, Some((2, 1))),
                };
                let (a, o) = self.memop()?;
                let mut b = vec![ty];
                (a as i32).put(&mut b);
                (o as i32).put(&mut b);
                match pack {
                    None => b.push(0),
                    Some((s, e)) => b.extend([1, s, e]),
                }
                one("Load", b)
            }
            0x36..=0x3e => {
                let (ty, pack): (u8, Option<u8>) = match tag {
                    0x36 => (0, None),
                    0x37 => (1, None),
                    0x38 | 0x39 => return self.float_error(),
                    0x3a => (0, Some(0)),
                    0x3b => (0, Some(1)),
                    0x3c => (1, Some(0)),
                    0x3d => (1, Some(1)),
                    _ => (1, Some(2)),
                };
                let (a, o) = self.memop()?;
                let mut b = vec![ty];
                (a as i32).put(&mut b);
                (o as i32).put(&mut b);
                match pack {
                    None => b.push(0),
                    Some(s) => b.extend([1, s]),
                }
                one("Store", b)
            }
            0x3f => {
                self.zero()?;
                Instr::unit("MemorySize")
            }
            0x40 => {
                self.zero()?;
                Instr::unit("MemoryGrow")
            }
            0x41 => {
                let x = self.vs_n(32)? as i32;
                let mut b = vec![0];
                x.put(&mut b);
                one("Const", b)
            }
            0x42 => {
                let x = self.vs_n(64)?;
                let mut b = vec![1];
                x.put(&mut b);
                one("Const", b)
            }
            0x43 | 0x44 => return self.float_error(),
            0x45 => one("Test", vec![0, 0]),
            0x46..=0x4f => one("Compare", vec![0, tag.wrapping_sub(0x46)]),
            0x50 => one("Test", vec![1, 0]),
            0x51..=0x5a => one("Compare", vec![1, tag.wrapping_sub(0x51)]),
            0x5b..=0x66 => return self.float_error(),
            0x67..=0x69 => one("Unary", vec![0, tag.wrapping_sub(0x67)]),
            0x6a..=0x78 => one("Binary", vec![0, tag.wrapping_sub(0x6a)]),
            0x79..=0x7b => one("Unary", vec![1, tag.wrapping_sub(0x79)]),
            0x7c..=0x8a => one("Binary", vec![1, tag.wrapping_sub(0x7c)]),
            0x8b..=0xa6 => return self.float_error(),
            0xa7 => one("Convert", vec![0, 2]),
            0xa8..=0xab => one("Convert", vec![0, tag.wrapping_sub(0xa8 - 3)]),
            0xac => one("Convert", vec![1, 0]),
            0xad => one("Convert", vec![1, 1]),
            0xae..=0xb1 => one("Convert", vec![1, tag.wrapping_sub(0xae - 3)]),
            0xb2..=0xbb => return self.float_error(),
            0xbc => one("Convert", vec![0, 11]),
            0xbd => one("Convert", vec![1, 11]),
            0xbe | 0xbf => return self.float_error(),
            0xc0 => one("Unary", vec![0, 3, 0]),
            0xc1 => one("Unary", vec![0, 3, 1]),
            0xc2 => one("Unary", vec![1, 3, 0]),
            0xc3 => one("Unary", vec![1, 3, 1]),
            0xc4 => one("Unary", vec![1, 3, 2]),
            0xd0 => {
                let t = self.ref_type()?;
                one("RefNull", t.to_bytes())
            }
            0xd1 => Instr::unit("RefIsNull"),
            0xd2 => one("RefFunc", self.var()?),
            0xfc => {
                let x = self.vu32()?;
                match x {
                    0..=3 => one("Convert", vec![0, (x as u8).wrapping_add(7)]),
                    4..=7 => one("Convert", vec![1, (x as u8).wrapping_add(3)]),
                    8 => {
                        let v = self.var()?;
                        self.zero()?;
                        one("MemoryInit", v)
                    }
                    9 => one("DataDrop", self.var()?),
                    10 => {
                        self.zero()?;
                        self.zero()?;
                        Instr::unit("MemoryCopy")
                    }
                    11 => {
                        self.zero()?;
                        Instr::unit("MemoryFill")
                    }
                    12 => {
                        let y = self.var()?;
                        let x = self.var()?;
                        Instr::tup("TableInit", vec![x, y])
                    }
                    13 => one("ElemDrop", self.var()?),
                    14 => {
                        let x = self.var()?;
                        let y = self.var()?;
                        Instr::tup("TableCopy", vec![x, y])
                    }
                    15 => one("TableGrow", self.var()?),
                    16 => one("TableSize", self.var()?),
                    17 => one("TableFill", self.var()?),
                    n => return self.error(pos, &format!("illegal opcode fc {n:02x}")),
                }
            }
            0xfd => self.simd(pos)?,
            b => return self.error(pos, &format!("illegal opcode {b:02x}")),
        })
    }
}

/// `V128.laneop` tags of `Interpreter_encodings.V128.laneop_encoding` (only the four
/// integer shapes have a case: `F32x4`/`F64x2` operators cannot be encoded).
const I8X16: u8 = 0;
const I16X8: u8 = 1;
const I32X4: u8 = 2;
const I64X2: u8 = 3;

/// `irelop_encoding` tags (`Eq, Ne, LtS, LtU, LeS, LeU, GtS, GtU, GeS, GeU`) in the binary
/// order of the comparison opcodes (`eq, ne, lt_s, lt_u, gt_s, gt_u, le_s, le_u, ge_s, ge_u`).
const IRELOP_OF_BINARY: [u8; 10] = [0, 1, 2, 3, 6, 7, 4, 5, 8, 9];

/// `ibinop_encoding` tag of `Shuffle` (a `list int8` payload).
pub const SHUFFLE: u8 = 19;

/// `Values.vecop_encoding` (`V128` = tag 0) around a lane operator blob.
fn vecop(lane: u8, op: u8) -> Vec<u8> {
    vec![0, lane, op]
}

impl Stream<'_> {
    /// A vector memop blob (`memop_encoding vec_type_encoding _`): the type is the
    /// one-case `string_enum` `v128` (a constant: no byte), `align` int31, `offset` int32.
    fn vec_memop(&mut self) -> DResult<Vec<u8>> {
        let (a, o) = self.memop()?;
        let mut b = Vec::new();
        (a as i32).put(&mut b);
        (o as i32).put(&mut b);
        Ok(b)
    }

    /// `VecLoad` with `pack` = `Data_encoding.option (obj2 pack_size vec_extension)`:
    /// `0x00`, or `0x01`, the pack size, then `ExtLane` (0, shape, extension),
    /// `ExtSplat` (1) or `ExtZero` (2).
    fn vec_load(&mut self, pack: Option<(u8, &[u8])>) -> DResult<Instr> {
        let mut b = self.vec_memop()?;
        match pack {
            None => b.push(0),
            Some((size, ext)) => {
                b.extend([1, size]);
                b.extend(ext);
            }
        }
        Ok(Instr::one("VecLoad", b))
    }

    /// `VecLoadLane`/`VecStoreLane` (`vec_laneop_encoding`): memop with a pack size, then
    /// the lane (int31).
    fn vec_lane(&mut self, tag: &str, size: u8) -> DResult<Instr> {
        let mut b = self.vec_memop()?;
        b.push(size);
        let lane = self.get()?;
        i32::from(lane).put(&mut b);
        Ok(Instr::one(tag, b))
    }

    /// `VecExtract` (`Extract (i, ext)`: tag 0, int31, `SX`/`ZX` for 8/16-bit lanes) or
    /// `VecReplace` (`Replace i`: tag 0, int31).
    fn vec_lane_index(&mut self, tag: &str, lane: u8, ext: Option<u8>) -> DResult<Instr> {
        let i = self.get()?;
        let mut b = vecop(lane, 0);
        i32::from(i).put(&mut b);
        b.extend(ext);
        Ok(Instr::one(tag, b))
    }

    /// The `0xfd` cases of `instr ~allow_floats:false`: the opcode (`vu32`) then its
    /// immediates. Float operators behind `return_float` fail with "float instructions are
    /// forbidden"; the ones Octez does not guard (`f64x2.ceil/floor/trunc/nearest`,
    /// `f32x4.convert_i32x4_s/u`) decode to `F64x2`/`F32x4` lane operators that
    /// `laneop_encoding` cannot write ([`DecodeFailure::unencodable`]); the
    /// `i32x4.trunc_sat_f32x4_*`/`_f64x2_*_zero` conversions are `I32x4` operators and run.
    pub fn simd(&mut self, pos: usize) -> DResult<Instr> {
        let x = self.vu32()?;
        let un = |lane, op| Ok(Instr::one("VecUnary", vecop(lane, op)));
        let bin = |lane, op| Ok(Instr::one("VecBinary", vecop(lane, op)));
        let cvt = |lane, op| Ok(Instr::one("VecConvert", vecop(lane, op)));
        let shift = |lane, op| Ok(Instr::one("VecShift", vecop(lane, op)));
        let test = |lane| Ok(Instr::one("VecTest", vecop(lane, 0)));
        let bitmask = |lane| Ok(Instr::one("VecBitmask", vecop(lane, 0)));
        let splat = |lane| Ok(Instr::one("VecSplat", vecop(lane, 0)));
        let cmp = |lane, k: u32| {
            Ok(Instr::one(
                "VecCompare",
                vecop(lane, IRELOP_OF_BINARY[k as usize % 10]),
            ))
        };
        let bits = |tag: &str, op: u8| Ok(Instr::one(tag, vec![0, op]));
        match x {
            0x00 => self.vec_load(None),
            // load8x8/16x4/32x2 _s/_u: Pack64, ExtLane (shape, SX/ZX).
            0x01..=0x06 => {
                let k = x.wrapping_sub(1) as u8;
                self.vec_load(Some((3, &[0, k / 2, k % 2])))
            }
            // load8/16/32/64_splat: ExtSplat.
            0x07..=0x0a => self.vec_load(Some((x.wrapping_sub(7) as u8, &[1]))),
            0x0b => {
                let b = self.vec_memop()?;
                Ok(Instr::one("VecStore", b))
            }
            0x0c => {
                // `at v128`: `get_string 16`, then `vec_encoding` (V128 tag, `string`).
                let mut bytes = Vec::with_capacity(16);
                for _ in 0..16 {
                    bytes.push(self.get()?);
                }
                let mut b = vec![0];
                crate::codec::Str(bytes).put(&mut b);
                Ok(Instr::one("VecConst", b))
            }
            0x0d => {
                // `Shuffle of int list` as `list int8`: 4-byte length, 16 bytes.
                let mut lanes = Vec::with_capacity(16);
                for _ in 0..16 {
                    lanes.push(self.get()?);
                }
                if lanes.iter().any(|&l| l > 127) {
                    return self.unencodable(pos, "i8x16.shuffle with a lane over 127");
                }
                let mut b = vecop(I8X16, SHUFFLE);
                b.extend(16u32.to_be_bytes());
                b.extend(lanes);
                Ok(Instr::one("VecBinary", b))
            }
            0x0e => bin(I8X16, 18),
            0x0f => splat(I8X16),
            0x10 => splat(I16X8),
            0x11 => splat(I32X4),
            0x12 => splat(I64X2),
            0x13 | 0x14 => self.float_error(),
            0x15 => self.vec_lane_index("VecExtract", I8X16, Some(0)),
            0x16 => self.vec_lane_index("VecExtract", I8X16, Some(1)),
            0x17 => self.vec_lane_index("VecReplace", I8X16, None),
            0x18 => self.vec_lane_index("VecExtract", I16X8, Some(0)),
            0x19 => self.vec_lane_index("VecExtract", I16X8, Some(1)),
            0x1a => self.vec_lane_index("VecReplace", I16X8, None),
            0x1b => self.vec_lane_index("VecExtract", I32X4, None),
            0x1c => self.vec_lane_index("VecReplace", I32X4, None),
            0x1d => self.vec_lane_index("VecExtract", I64X2, None),
            0x1e => self.vec_lane_index("VecReplace", I64X2, None),
            0x1f..=0x22 => self.float_error(),
            0x23..=0x2c => cmp(I8X16, x.wrapping_sub(0x23)),
            0x2d..=0x36 => cmp(I16X8, x.wrapping_sub(0x2d)),
            0x37..=0x40 => cmp(I32X4, x.wrapping_sub(0x37)),
            0x41..=0x4c => self.float_error(),
            0x4d => bits("VecUnaryBits", 0),
            0x4e => bits("VecBinaryBits", 0),
            0x4f => bits("VecBinaryBits", 3),
            0x50 => bits("VecBinaryBits", 1),
            0x51 => bits("VecBinaryBits", 2),
            0x52 => bits("VecTernaryBits", 0),
            0x53 => bits("VecTestBits", 0),
            0x54..=0x57 => self.vec_lane("VecLoadLane", x.wrapping_sub(0x54) as u8),
            0x58..=0x5b => self.vec_lane("VecStoreLane", x.wrapping_sub(0x58) as u8),
            // load32_zero / load64_zero: ExtZero.
            0x5c => self.vec_load(Some((2, &[2]))),
            0x5d => self.vec_load(Some((3, &[2]))),
            0x5e | 0x5f => self.float_error(),
            0x60 => un(I8X16, 0),
            0x61 => un(I8X16, 1),
            0x62 => un(I8X16, 2),
            0x63 => test(I8X16),
            0x64 => bitmask(I8X16),
            0x65 => bin(I8X16, 20),
            0x66 => bin(I8X16, 21),
            0x67..=0x6a => self.float_error(),
            0x6b => shift(I8X16, 0),
            0x6c => shift(I8X16, 1),
            0x6d => shift(I8X16, 2),
            0x6e => bin(I8X16, 0),
            0x6f => bin(I8X16, 8),
            0x70 => bin(I8X16, 9),
            0x71 => bin(I8X16, 1),
            0x72 => bin(I8X16, 10),
            0x73 => bin(I8X16, 11),
            0x74 | 0x75 | 0x7a | 0x94 => self.unencodable(pos, "an f64x2 rounding operator"),
            0x76 => bin(I8X16, 3),
            0x77 => bin(I8X16, 4),
            0x78 => bin(I8X16, 5),
            0x79 => bin(I8X16, 6),
            0x7b => bin(I8X16, 7),
            0x7c => cvt(I16X8, 4),
            0x7d => cvt(I16X8, 5),
            0x7e => cvt(I32X4, 4),
            0x7f => cvt(I32X4, 5),
            0x80 => un(I16X8, 0),
            0x81 => un(I16X8, 1),
            0x82 => bin(I16X8, 13),
            0x83 => test(I16X8),
            0x84 => bitmask(I16X8),
            0x85 => bin(I16X8, 20),
            0x86 => bin(I16X8, 21),
            // extend_low_s, extend_high_s, extend_low_u, extend_high_u.
            0x87 | 0xa7 | 0xc7 => cvt(lane_of(x), 0),
            0x88 | 0xa8 | 0xc8 => cvt(lane_of(x), 2),
            0x89 | 0xa9 | 0xc9 => cvt(lane_of(x), 1),
            0x8a | 0xaa | 0xca => cvt(lane_of(x), 3),
            0x8b | 0xab | 0xcb => shift(lane_of(x), 0),
            0x8c | 0xac | 0xcc => shift(lane_of(x), 1),
            0x8d | 0xad | 0xcd => shift(lane_of(x), 2),
            0x8e | 0xae | 0xce => bin(lane_of(x), 0),
            0x8f => bin(I16X8, 8),
            0x90 => bin(I16X8, 9),
            0x91 | 0xb1 | 0xd1 => bin(lane_of(x), 1),
            0x92 => bin(I16X8, 10),
            0x93 => bin(I16X8, 11),
            0x95 | 0xb5 | 0xd5 => bin(lane_of(x), 2),
            0x96 | 0xb6 => bin(lane_of(x), 3),
            0x97 | 0xb7 => bin(lane_of(x), 4),
            0x98 | 0xb8 => bin(lane_of(x), 5),
            0x99 | 0xb9 => bin(lane_of(x), 6),
            0x9b => bin(I16X8, 7),
            // extmul_low_s, extmul_high_s, extmul_low_u, extmul_high_u.
            0x9c..=0x9f | 0xbc..=0xbf | 0xdc..=0xdf => {
                bin(lane_of(x), 14u8.wrapping_add((x & 3) as u8))
            }
            0xa0 | 0xc0 => un(lane_of(x), 0),
            0xa1 | 0xc1 => un(lane_of(x), 1),
            0xa3 | 0xc3 => test(lane_of(x)),
            0xa4 | 0xc4 => bitmask(lane_of(x)),
            0xba => bin(I32X4, 12),
            // i64x2 eq, ne, lt_s, gt_s, le_s, ge_s.
            0xd6 => cmp(I64X2, 0),
            0xd7 => cmp(I64X2, 1),
            0xd8 => cmp(I64X2, 2),
            0xd9 => cmp(I64X2, 4),
            0xda => cmp(I64X2, 6),
            0xdb => cmp(I64X2, 8),
            0xe0..=0xf7 => self.float_error(),
            0xf8 => cvt(I32X4, 6),
            0xf9 => cvt(I32X4, 7),
            0xfa | 0xfb => self.unencodable(pos, "an f32x4 conversion"),
            0xfc => cvt(I32X4, 8),
            0xfd => cvt(I32X4, 9),
            0xfe | 0xff => self.float_error(),
            n => self.error(pos, &format!("illegal opcode {n:02x}")),
        }
    }
}

/// The integer shape of the `0x80`–`0xdf` opcode rows (i16x8, i32x4, i64x2).
fn lane_of(x: u32) -> u8 {
    match x {
        0x80..=0x9f => I16X8,
        0xa0..=0xbf => I32X4,
        _ => I64X2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8]) -> Instr {
        let mut s = Stream {
            bytes: &bytes,
            pos: 1,
        };
        s.instr(0, bytes[0]).unwrap()
    }

    /// `loadop_encoding`/`storeop_encoding` (`interpreter_encodings.ml`): `type` (string enum,
    /// 1 byte), `align` int31, `offset` int32, `pack` a `Data_encoding.option` (`0x01` = Some);
    /// typed `select` is `option (list value_type)`; `if` with no result `ValBlockType None`.
    #[test]
    fn memops_typed_select_and_block_types_use_the_option_tag_1() {
        // i32.load16_u align=1 offset=0: Load {I32; 1; 0; Some (Pack16, ZX)}.
        let i = decode(&[0x2f, 0x01, 0x00]);
        assert_eq!(i.tag, "Load");
        assert_eq!(i.args[0].1, [0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 1, 1]);
        // i64.load align=3 offset=8: pack None.
        let i = decode(&[0x29, 0x03, 0x08]);
        assert_eq!(i.args[0].1, [1, 0, 0, 0, 3, 0, 0, 0, 8, 0]);
        // i64.store32 align=2 offset=0: Store {I64; 2; 0; Some Pack32}.
        let i = decode(&[0x3e, 0x02, 0x00]);
        assert_eq!(i.tag, "Store");
        assert_eq!(i.args[0].1, [1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 2]);
        // select (result i64).
        let i = decode(&[0x1c, 0x01, 0x7e]);
        assert_eq!(i.args[0].1, [1, 0, 0, 0, 1, 1]);
        // Block types: [] → ValBlockType None, [i32] → ValBlockType (Some i32).
        let mut s = Stream {
            bytes: &&[0x40u8, 0x7f][..],
            pos: 0,
        };
        assert_eq!(s.block_type().unwrap().to_bytes(), [1, 0]);
        assert_eq!(s.block_type().unwrap().to_bytes(), [1, 1, 0]);
    }
}
