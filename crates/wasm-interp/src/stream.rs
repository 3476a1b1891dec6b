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

    /// `instr ~allow_floats:false s pos tag` for every opcode but `block`/`loop`/`if`.
    /// SIMD (`0xfd`) is not supported here (reported as an illegal opcode).
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
            b => return self.error(pos, &format!("illegal opcode {b:02x}")),
        })
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
