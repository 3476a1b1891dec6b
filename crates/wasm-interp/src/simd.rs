//! Vector (`v128`) instructions (`src/lib_webassembly/exec/eval_vec.ml`, `exec/v128.ml`,
//! the `Vec*` cases of `step_instr` in `exec/eval.ml`): the lane operators on the operator
//! blobs [`crate::stream::Stream::simd`] writes (`Values.vecop_encoding` tag, then the
//! `V128.laneop_encoding` shape tag — `I8x16` 0, `I16x8` 1, `I32x4` 2, `I64x2` 3 — then the
//! operator tag of `interpreter_encodings.ml`). Octez keeps 8- and 16-bit lanes
//! sign-extended in an `int32` (`I8`, `I16` of `ixx.ml`); the lanes here are sign-extended
//! `i64`s written back truncated, which gives the same bytes. Each instruction is one tick,
//! like every plain instruction.
//!
//! Octez's decoder never produces a float lane operator that reaches evaluation (they are
//! `float instructions are forbidden` or cannot be encoded, [`crate::stream`]); only the
//! `i32x4.trunc_sat_f32x4_*`/`_f64x2_*_zero` conversions read float lanes
//! (`I32_convert.trunc_sat_*`: NaN → 0, saturating, truncated toward zero).

// Lane arithmetic: 8-, 16- and 32-bit lanes are held in `i64`s, where their sums,
// differences and products cannot overflow; 64-bit lanes use the `wrapping_*` operators.
#![allow(
    clippy::arithmetic_side_effects,
    reason = "lane arithmetic on values of at most 32 bits held in i64"
)]

use crate::codec::{Blob, Error, Result};
use crate::instance::Value;
use crate::lazy::LazyVec;

fn crash(msg: &str) -> Error {
    Error::Exception(msg.to_owned())
}

/// A 128-bit vector (`V128.t`: 16 bytes, lane 0 first, little-endian lanes).
pub type V128 = [u8; 16];

/// A lane shape (`V128.laneop` integer cases).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// `I8x16`
    I8x16,
    /// `I16x8`
    I16x8,
    /// `I32x4`
    I32x4,
    /// `I64x2`
    I64x2,
}

impl Shape {
    /// From the `laneop_encoding` tag.
    pub fn from_tag(t: u8) -> Option<Shape> {
        Some(match t {
            0 => Shape::I8x16,
            1 => Shape::I16x8,
            2 => Shape::I32x4,
            3 => Shape::I64x2,
            _ => return None,
        })
    }
    /// Lane width in bytes.
    pub fn bytes(self) -> usize {
        match self {
            Shape::I8x16 => 1,
            Shape::I16x8 => 2,
            Shape::I32x4 => 4,
            Shape::I64x2 => 8,
        }
    }
    /// Lane width in bits.
    fn bits(self) -> u32 {
        (self.bytes() as u32).saturating_mul(8)
    }
    /// Number of lanes.
    pub fn lanes(self) -> usize {
        16usize.checked_div(self.bytes()).unwrap_or(0)
    }
    /// The shape of half the lanes at twice the width (the source of an extension).
    fn narrower(self) -> Option<Shape> {
        match self {
            Shape::I8x16 => None,
            Shape::I16x8 => Some(Shape::I8x16),
            Shape::I32x4 => Some(Shape::I16x8),
            Shape::I64x2 => Some(Shape::I32x4),
        }
    }
    /// The unsigned value of a (sign-extended) lane.
    fn unsigned(self, x: i64) -> u64 {
        match self {
            Shape::I64x2 => x as u64,
            s => (x as u64) & ((1u64 << s.bits()) - 1),
        }
    }
    /// The smallest and largest signed lane values.
    fn signed_range(self) -> (i64, i64) {
        match self {
            Shape::I64x2 => (i64::MIN, i64::MAX),
            s => {
                let h = 1i64 << s.bits().saturating_sub(1);
                (-h, h - 1)
            }
        }
    }
}

/// `to_lanes`: the lanes, sign-extended.
pub fn to_lanes(s: Shape, v: &V128) -> Vec<i64> {
    v.chunks_exact(s.bytes())
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            let sh = 64u32.saturating_sub(s.bits());
            (i64::from_le_bytes(b) << sh) >> sh
        })
        .collect()
}

/// `of_lanes`: each lane truncated to its width.
pub fn of_lanes(s: Shape, lanes: &[i64]) -> V128 {
    let mut v = [0u8; 16];
    for (c, x) in v.chunks_exact_mut(s.bytes()).zip(lanes) {
        c.copy_from_slice(&x.to_le_bytes()[..s.bytes()]);
    }
    v
}

fn map1(s: Shape, a: &V128, f: impl Fn(i64) -> i64) -> V128 {
    of_lanes(s, &to_lanes(s, a).into_iter().map(f).collect::<Vec<_>>())
}

fn map2(s: Shape, a: &V128, b: &V128, f: impl Fn(i64, i64) -> i64) -> V128 {
    let (la, lb) = (to_lanes(s, a), to_lanes(s, b));
    let r: Vec<i64> = la.into_iter().zip(lb).map(|(x, y)| f(x, y)).collect();
    of_lanes(s, &r)
}

fn bool_lane(b: bool) -> i64 {
    if b { -1 } else { 0 }
}

/// `IXX.saturate_s` of the lane width.
fn sat_s(s: Shape, x: i64) -> i64 {
    let (lo, hi) = s.signed_range();
    x.clamp(lo, hi)
}

/// `IXX.saturate_u` of the lane width (`x` signed, at most 32-bit lanes).
fn sat_u(s: Shape, x: i64) -> i64 {
    x.clamp(0, (1i64 << s.bits()) - 1)
}

/// The extension of the low (`high = false`) or high half of the lanes of the narrower
/// shape (`extend_low/high_s/u`).
fn extend(s: Shape, v: &V128, high: bool, signed: bool) -> Option<V128> {
    let n = s.narrower()?;
    let lanes = to_lanes(n, v);
    let half = lanes.len() / 2;
    let part = if high { &lanes[half..] } else { &lanes[..half] };
    let r: Vec<i64> = part
        .iter()
        .map(|&x| if signed { x } else { n.unsigned(x) as i64 })
        .collect();
    Some(of_lanes(s, &r))
}

/// `VecUnary` (`iunop`: `Abs` 0, `Neg` 1, `Popcnt` 2 — `i8x16` only).
pub fn unop(s: Shape, op: u8, a: &V128) -> Option<V128> {
    Some(match (s, op) {
        (_, 0) => map1(s, a, i64::wrapping_abs),
        (_, 1) => map1(s, a, i64::wrapping_neg),
        (Shape::I8x16, 2) => map1(s, a, |x| i64::from((x as u8).count_ones())),
        _ => return None,
    })
}

/// `VecBinary` (`ibinop`, tags 0–21 of `ibinop_encoding`) as `eval_vec.ml` dispatches it;
/// `None` for an operator/shape pair Octez does not evaluate (`assert false`), `Some (Err
/// msg)` for an exception Octez does not turn into a trap (a shuffle lane over 31).
pub fn binop(
    s: Shape,
    op: u8,
    shuffle: &[u8],
    a: &V128,
    b: &V128,
) -> Option<std::result::Result<V128, String>> {
    use Shape::*;
    let small = matches!(s, I8x16 | I16x8);
    let u = |x: i64| s.unsigned(x) as i64;
    let r = match op {
        0 => map2(s, a, b, i64::wrapping_add),
        1 => map2(s, a, b, i64::wrapping_sub),
        2 if s != I8x16 => map2(s, a, b, i64::wrapping_mul),
        3 if s != I64x2 => map2(s, a, b, |x, y| if x <= y { x } else { y }),
        4 if s != I64x2 => map2(s, a, b, |x, y| if u(x) <= u(y) { x } else { y }),
        5 if s != I64x2 => map2(s, a, b, |x, y| if x >= y { x } else { y }),
        6 if s != I64x2 => map2(s, a, b, |x, y| if u(x) >= u(y) { x } else { y }),
        7 if small => map2(s, a, b, |x, y| (u(x) + u(y) + 1) / 2),
        8 if small => map2(s, a, b, |x, y| sat_s(s, x + y)),
        9 if small => map2(s, a, b, |x, y| sat_u(s, u(x) + u(y))),
        10 if small => map2(s, a, b, |x, y| sat_s(s, x - y)),
        11 if small => map2(s, a, b, |x, y| sat_u(s, u(x) - u(y))),
        12 if s == I32x4 => {
            let (x, y) = (to_lanes(I16x8, a), to_lanes(I16x8, b));
            let r: Vec<i64> = (0..4)
                .map(|i| {
                    let p = |k: usize| (x[k] as i32).wrapping_mul(y[k] as i32);
                    i64::from(p(2 * i).wrapping_add(p(2 * i + 1)))
                })
                .collect();
            of_lanes(s, &r)
        }
        13 if s == I16x8 => map2(s, a, b, |x, y| sat_s(s, (x * y + 0x4000) >> 15)),
        14..=17 if s != I8x16 => {
            let high = op == 15 || op == 17;
            let signed = op == 14 || op == 15;
            let ea = extend(s, a, high, signed)?;
            let eb = extend(s, b, high, signed)?;
            map2(s, &ea, &eb, i64::wrapping_mul)
        }
        18 if s == I8x16 => {
            let r: Vec<i64> = b
                .iter()
                .map(|&i| a.get(usize::from(i)).map_or(0, |&x| i64::from(x)))
                .collect();
            of_lanes(s, &r)
        }
        19 if s == I8x16 => {
            let ns: Vec<u8> = a.iter().chain(b.iter()).copied().collect();
            let mut r = Vec::with_capacity(16);
            for &i in shuffle {
                match ns.get(usize::from(i)) {
                    Some(&x) => r.push(i64::from(x)),
                    None => return Some(Err("Failure(\"nth\")".into())),
                }
            }
            of_lanes(s, &r)
        }
        20 | 21 if small => {
            let w = if s == I8x16 { I16x8 } else { I32x4 };
            let mut xs = to_lanes(w, a);
            xs.extend(to_lanes(w, b));
            let r: Vec<i64> = xs
                .into_iter()
                .map(|x| if op == 20 { sat_s(s, x) } else { sat_u(s, x) })
                .collect();
            of_lanes(s, &r)
        }
        _ => return None,
    };
    Some(Ok(r))
}

/// `VecCompare` (`irelop`: `Eq, Ne, LtS, LtU, LeS, LeU, GtS, GtU, GeS, GeU`; `i64x2` has
/// no unsigned comparison): all-ones or zero lanes.
pub fn relop(s: Shape, op: u8, a: &V128, b: &V128) -> Option<V128> {
    if s == Shape::I64x2 && matches!(op, 3 | 5 | 7 | 9) {
        return None;
    }
    let u = |x: i64| s.unsigned(x);
    let f = |x: i64, y: i64| -> Option<bool> {
        Some(match op {
            0 => x == y,
            1 => x != y,
            2 => x < y,
            3 => u(x) < u(y),
            4 => x <= y,
            5 => u(x) <= u(y),
            6 => x > y,
            7 => u(x) > u(y),
            8 => x >= y,
            9 => u(x) >= u(y),
            _ => return None,
        })
    };
    f(0, 0)?;
    Some(map2(s, a, b, |x, y| bool_lane(f(x, y).unwrap_or(false))))
}

/// `I32_convert.trunc_sat_*` of a float (as `f64`: exact for `f32`).
fn trunc_sat(x: f64, signed: bool) -> i64 {
    if signed {
        i64::from(x as i32)
    } else {
        i64::from(x as u32)
    }
}

/// `VecConvert` (`icvtop`: `ExtendLowS, ExtendLowU, ExtendHighS, ExtendHighU,
/// ExtAddPairwiseS, ExtAddPairwiseU, TruncSatSF32x4, TruncSatUF32x4, TruncSatSZeroF64x2,
/// TruncSatUZeroF64x2`).
pub fn cvtop(s: Shape, op: u8, a: &V128) -> Option<V128> {
    Some(match op {
        0..=3 => extend(s, a, op >= 2, op.is_multiple_of(2))?,
        4 | 5 if matches!(s, Shape::I16x8 | Shape::I32x4) => {
            let n = s.narrower()?;
            let xs = to_lanes(n, a);
            let ext = |x: i64| if op == 4 { x } else { n.unsigned(x) as i64 };
            let r: Vec<i64> = xs.chunks_exact(2).map(|p| ext(p[0]) + ext(p[1])).collect();
            of_lanes(s, &r)
        }
        6 | 7 if s == Shape::I32x4 => {
            let r: Vec<i64> = a
                .chunks_exact(4)
                .map(|c| {
                    let f = f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
                    trunc_sat(f64::from(f), op == 6)
                })
                .collect();
            of_lanes(s, &r)
        }
        8 | 9 if s == Shape::I32x4 => {
            let mut r: Vec<i64> = a
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    trunc_sat(f64::from_bits(u64::from_le_bytes(b)), op == 8)
                })
                .collect();
            r.extend([0, 0]);
            of_lanes(s, &r)
        }
        _ => return None,
    })
}

/// `VecShift` (`Shl` 0, `ShrS` 1, `ShrU` 2): the count is taken modulo the lane width.
pub fn shiftop(s: Shape, op: u8, a: &V128, count: i32) -> Option<V128> {
    let c = (count as u32) & s.bits().saturating_sub(1);
    Some(match op {
        0 => map1(s, a, |x| x.wrapping_shl(c)),
        1 => map1(s, a, |x| x.wrapping_shr(c)),
        2 => map1(s, a, |x| (s.unsigned(x).wrapping_shr(c)) as i64),
        _ => return None,
    })
}

/// `bitmask`: bit `i` set when lane `i` is negative.
pub fn bitmask(s: Shape, a: &V128) -> i32 {
    to_lanes(s, a)
        .iter()
        .enumerate()
        .fold(0i32, |m, (i, &x)| m | (i32::from(x < 0) << i))
}

/// `all_true`.
pub fn all_true(s: Shape, a: &V128) -> bool {
    to_lanes(s, a).iter().all(|&x| x != 0)
}

/// `V1x128` operators: `VecUnaryBits` `Not`; `VecBinaryBits` `And` 0, `Or` 1, `Xor` 2,
/// `AndNot` 3; `VecTernaryBits` `Bitselect` (`(v1 & c) | (v2 & ~c)`).
pub fn bits(op: u8, vs: &[&V128]) -> Option<V128> {
    let mut r = [0u8; 16];
    for (i, out) in r.iter_mut().enumerate() {
        let x = |k: usize| vs.get(k).map_or(0, |v| v[i]);
        *out = match (vs.len(), op) {
            (1, 0) => !x(0),
            (2, 0) => x(0) & x(1),
            (2, 1) => x(0) | x(1),
            (2, 2) => x(0) ^ x(1),
            (2, 3) => x(0) & !x(1),
            (3, 0) => (x(0) & x(2)) | (x(1) & !x(2)),
            _ => return None,
        };
    }
    Some(r)
}

/// `replace_lane i v x`: lane `i` set to `x`; an index past the last lane changes nothing
/// (`unopi` never matches it).
pub fn replace_lane(s: Shape, v: &V128, i: i32, x: i64) -> V128 {
    let mut lanes = to_lanes(s, v);
    if let Some(l) = usize::try_from(i).ok().and_then(|i| lanes.get_mut(i)) {
        *l = x;
    }
    of_lanes(s, &lanes)
}

/// `extract_lane_s i v` (`List.nth`: `None` past the last lane, where Octez raises).
pub fn extract_lane_s(s: Shape, v: &V128, i: i32) -> Option<i64> {
    usize::try_from(i)
        .ok()
        .and_then(|i| to_lanes(s, v).get(i).copied())
}

/// The vector built by `Memory.load_vec_packed` from the `n` loaded bytes `x` (little-endian
/// in an `int64`): `ExtLane (shape, ext)` (ext tag 0), `ExtSplat` (1), `ExtZero` (2).
pub fn load_packed(size: u8, ext: &[u8], x: u64) -> Option<V128> {
    let mut low = [0u8; 16];
    low[..8].copy_from_slice(&x.to_le_bytes());
    Some(match (size, ext) {
        (3, [0, shape @ 0..=2, e @ 0..=1]) => {
            let s = match shape {
                0 => Shape::I16x8,
                1 => Shape::I32x4,
                _ => Shape::I64x2,
            };
            extend(s, &low, false, *e == 0)?
        }
        (0..=3, [1]) => {
            let s = match size {
                0 => Shape::I8x16,
                1 => Shape::I16x8,
                2 => Shape::I32x4,
                _ => Shape::I64x2,
            };
            of_lanes(s, &vec![x as i64; s.lanes()])
        }
        (2 | 3, [2]) => low,
        _ => return None,
    })
}

fn pop(vs: &mut LazyVec<Value>) -> Result<Value> {
    if vs.num_elements() < 1 {
        return Err(crash("missing or ill-typed operand on stack"));
    }
    vs.pop()
}

/// `vector_pop_map vs vec`.
pub fn pop_vec(vs: &mut LazyVec<Value>) -> Result<V128> {
    match pop(vs)? {
        Value::V128(b) => <V128>::try_from(b.as_slice())
            .map_err(|_| Error::Malformed("v128".into(), "not 16 bytes")),
        _ => Err(crash("missing or ill-typed operand on stack")),
    }
}

/// `vector_pop_map vs num`.
fn pop_num(vs: &mut LazyVec<Value>) -> Result<Value> {
    match pop(vs)? {
        v @ (Value::I32(_) | Value::I64(_)) => Ok(v),
        _ => Err(crash("missing or ill-typed operand on stack")),
    }
}

/// `I32Num.of_num i` / `I64Num.of_num i` (`Values.TypeError`, a crash by `numeric_error`).
fn of_num(v: &Value, want64: bool, i: usize) -> Result<i64> {
    let name = |b: bool| if b { "i64" } else { "i32" };
    match (v, want64) {
        (Value::I32(x), false) => Ok(i64::from(*x)),
        (Value::I64(x), true) => Ok(*x),
        (Value::I32(_), true) | (Value::I64(_), false) => Err(crash(&format!(
            "type error, expected {} as operand {i}, got {}",
            name(want64),
            name(!want64)
        ))),
        _ => Err(crash("missing or ill-typed operand on stack")),
    }
}

/// The parts of an operator blob `[0 (V128), shape, op, rest…]`.
fn lane_op<'a>(tag: &str, op: &'a [u8]) -> Result<(Shape, u8, &'a [u8])> {
    let bad = || Error::Malformed(tag.to_owned(), "vector operator");
    match op {
        [0, s, k, rest @ ..] => Ok((Shape::from_tag(*s).ok_or_else(bad)?, *k, rest)),
        _ => Err(bad()),
    }
}

/// Run one vector instruction that does not touch memory on the value stack (`VecConst`
/// and the `eval_vec.ml` operators); none of them traps.
pub fn eval(tag: &str, op: &[u8], vs: &mut LazyVec<Value>) -> Result<()> {
    let bad = || Error::Malformed(tag.to_owned(), "vector operator");
    let unsupported = |what: &str| Error::Unsupported(format!("{tag}: {what}"));
    let v = |r: V128| Value::V128(r.to_vec());
    let result = match tag {
        "VecConst" => {
            // `vec_encoding`: V128 tag, then `string` (4-byte length, 16 bytes).
            let mut r = crate::codec::Rd(op);
            match (r.u8(), crate::codec::Str::take(&mut r)) {
                (Some(0), Some(b)) if r.0.is_empty() && b.0.len() == 16 => Value::V128(b.0),
                _ => return Err(bad()),
            }
        }
        "VecTestBits" | "VecUnaryBits" | "VecBinaryBits" | "VecTernaryBits" => {
            let [0, k] = op else { return Err(bad()) };
            let n = match tag {
                "VecTernaryBits" => 3,
                "VecBinaryBits" => 2,
                _ => 1,
            };
            let mut xs = Vec::with_capacity(n);
            for _ in 0..n {
                xs.push(pop_vec(vs)?);
            }
            xs.reverse();
            if tag == "VecTestBits" {
                if *k != 0 {
                    return Err(bad());
                }
                Value::I32(i32::from(xs[0].iter().any(|&b| b != 0)))
            } else {
                let refs: Vec<&V128> = xs.iter().collect();
                v(bits(*k, &refs).ok_or_else(bad)?)
            }
        }
        _ => {
            let (s, k, rest) = lane_op(tag, op)?;
            match tag {
                "VecTest" | "VecBitmask" if k == 0 && rest.is_empty() => {
                    let a = pop_vec(vs)?;
                    Value::I32(if tag == "VecTest" {
                        i32::from(all_true(s, &a))
                    } else {
                        bitmask(s, &a)
                    })
                }
                "VecUnary" | "VecConvert" if rest.is_empty() => {
                    let a = pop_vec(vs)?;
                    let r = if tag == "VecUnary" {
                        unop(s, k, &a)
                    } else {
                        cvtop(s, k, &a)
                    };
                    v(r.ok_or_else(bad)?)
                }
                "VecBinary" | "VecCompare" => {
                    let b = pop_vec(vs)?;
                    let a = pop_vec(vs)?;
                    if tag == "VecCompare" {
                        rest.is_empty().then_some(()).ok_or_else(bad)?;
                        v(relop(s, k, &a, &b).ok_or_else(bad)?)
                    } else {
                        // `Shuffle`: `list int8` (4-byte length, then the lanes).
                        let shuffle = match (k, rest) {
                            (crate::stream::SHUFFLE, [0, 0, 0, 16, l @ ..]) if l.len() == 16 => l,
                            (crate::stream::SHUFFLE, _) => return Err(bad()),
                            (_, []) => &[][..],
                            _ => return Err(bad()),
                        };
                        match binop(s, k, shuffle, &a, &b).ok_or_else(bad)? {
                            Ok(r) => v(r),
                            Err(e) => return Err(unsupported(&e)),
                        }
                    }
                }
                "VecShift" if rest.is_empty() => {
                    let n = pop_num(vs)?;
                    let a = pop_vec(vs)?;
                    let c = of_num(&n, false, 2)?;
                    v(shiftop(s, k, &a, c as i32).ok_or_else(bad)?)
                }
                "VecSplat" if k == 0 && rest.is_empty() => {
                    let n = pop_num(vs)?;
                    let x = of_num(&n, s == Shape::I64x2, 1)?;
                    v(of_lanes(s, &vec![x; s.lanes()]))
                }
                "VecExtract" if k == 0 => {
                    let small = matches!(s, Shape::I8x16 | Shape::I16x8);
                    let (i, ext) = match rest {
                        [a, b, c, d, e @ 0..=1] if small => {
                            (i32::from_be_bytes([*a, *b, *c, *d]), *e)
                        }
                        [a, b, c, d] if !small => (i32::from_be_bytes([*a, *b, *c, *d]), 0),
                        _ => return Err(bad()),
                    };
                    let a = pop_vec(vs)?;
                    let x = extract_lane_s(s, &a, i)
                        .ok_or_else(|| unsupported("lane index out of range (Failure nth)"))?;
                    match s {
                        Shape::I64x2 => Value::I64(x),
                        _ if ext == 1 => Value::I32(s.unsigned(x) as i32),
                        _ => Value::I32(x as i32),
                    }
                }
                "VecReplace" if k == 0 => {
                    let [a, b, c, d] = rest else {
                        return Err(bad());
                    };
                    let i = i32::from_be_bytes([*a, *b, *c, *d]);
                    let n = pop_num(vs)?;
                    let a = pop_vec(vs)?;
                    let x = of_num(&n, s == Shape::I64x2, 1)?;
                    v(replace_lane(s, &a, i, x))
                }
                _ => return Err(bad()),
            }
        }
    };
    vs.cons(result)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(bytes: [u8; 16]) -> V128 {
        bytes
    }

    fn i32x4(xs: [i32; 4]) -> V128 {
        of_lanes(Shape::I32x4, &xs.map(i64::from))
    }

    fn i16x8(xs: [i16; 8]) -> V128 {
        of_lanes(Shape::I16x8, &xs.map(i64::from))
    }

    fn i8x16(xs: [i8; 16]) -> V128 {
        of_lanes(Shape::I8x16, &xs.map(i64::from))
    }

    #[test]
    fn lanes_are_little_endian_and_sign_extended() {
        let a = v([
            0xff, 0x7f, 0x80, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0xfe,
        ]);
        assert_eq!(to_lanes(Shape::I8x16, &a)[..3], [-1, 127, -128]);
        assert_eq!(to_lanes(Shape::I16x8, &a)[..2], [0x7fff, 0x0080]);
        assert_eq!(to_lanes(Shape::I32x4, &a)[0], 0x0080_7fff);
        assert_eq!(
            to_lanes(Shape::I64x2, &a)[1],
            i64::from_le_bytes([5, 6, 7, 8, 9, 10, 11, 0xfe])
        );
        for s in [Shape::I8x16, Shape::I16x8, Shape::I32x4, Shape::I64x2] {
            assert_eq!(of_lanes(s, &to_lanes(s, &a)), a);
        }
    }

    #[test]
    fn integer_lane_arithmetic_wraps_and_saturates() {
        let a = i8x16([127, -128, 100, -100, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        let b = i8x16([1, -1, 100, -100, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let add = binop(Shape::I8x16, 0, &[], &a, &b).unwrap().unwrap();
        assert_eq!(to_lanes(Shape::I8x16, &add)[..4], [-128, 127, -56, 56]);
        let sat = binop(Shape::I8x16, 8, &[], &a, &b).unwrap().unwrap();
        assert_eq!(to_lanes(Shape::I8x16, &sat)[..4], [127, -128, 127, -128]);
        // add_sat_u: 0x80 + 0xff = 0xff; 100 + 100 = 200.
        let satu = binop(Shape::I8x16, 9, &[], &a, &b).unwrap().unwrap();
        assert_eq!(satu[..3], [128, 255, 200]);
        // sub_sat_u: 1 - 1 = 0, 2 - 1 = 1, 127 - 1 = 126, 0x80 - 0xff = 0.
        let subu = binop(Shape::I8x16, 11, &[], &a, &b).unwrap().unwrap();
        assert_eq!(subu[..6], [126, 0, 0, 0, 0, 1]);
        // avgr_u: (0x80 + 0xff + 1) / 2 = 0xc0.
        let avg = binop(Shape::I8x16, 7, &[], &a, &b).unwrap().unwrap();
        assert_eq!(avg[..2], [64, 0xc0]);
        // min_u/max_s.
        let minu = binop(Shape::I8x16, 4, &[], &a, &b).unwrap().unwrap();
        assert_eq!(minu[..2], [1, 0x80]);
        let maxs = binop(Shape::I8x16, 5, &[], &a, &b).unwrap().unwrap();
        assert_eq!(to_lanes(Shape::I8x16, &maxs)[..2], [127, -1]);
        // i8x16 has no mul.
        assert!(binop(Shape::I8x16, 2, &[], &a, &b).is_none());
        // i32x4 mul wraps; i64x2 sub.
        let m = binop(
            Shape::I32x4,
            2,
            &[],
            &i32x4([0x10000, 3, -2, 7]),
            &i32x4([0x10000, -5, -2, 0]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(m, i32x4([0, -15, 4, 0]));
    }

    #[test]
    fn q15mulr_dot_extmul_and_narrow() {
        let a = i16x8([i16::MIN, 0x4000, -1, 100, 0, 0, 0, 0]);
        let q = binop(Shape::I16x8, 13, &[], &a, &a).unwrap().unwrap();
        // MIN*MIN saturates; 0x4000^2 = 0x2000 after rounding; (-1)^2 rounds to 0.
        assert_eq!(to_lanes(Shape::I16x8, &q)[..4], [0x7fff, 0x2000, 0, 0]);
        let d = binop(Shape::I32x4, 12, &[], &a, &a).unwrap().unwrap();
        // MIN*MIN + 0x4000^2 = 2^30 + 2^28; -1*-1 + 100*100.
        assert_eq!(
            to_lanes(Shape::I32x4, &d)[..2],
            [(1 << 30) + (1 << 28), 10001]
        );
        // i32x4.dot of MIN,MIN pairs wraps: 2^30 + 2^30 = 2^31.
        let mm = i16x8([i16::MIN; 8]);
        let d = binop(Shape::I32x4, 12, &[], &mm, &mm).unwrap().unwrap();
        assert_eq!(to_lanes(Shape::I32x4, &d)[0], i64::from(i32::MIN));
        // extmul_high_u of i8x16: 0xff * 0xff = 0xfe01.
        let ff = [0xffu8; 16];
        let e = binop(Shape::I16x8, 17, &[], &ff, &ff).unwrap().unwrap();
        assert_eq!(e[..2], [0x01, 0xfe]);
        // extmul_low_s: -1 * -1 = 1.
        let e = binop(Shape::I16x8, 14, &[], &ff, &ff).unwrap().unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &e)[0], 1);
        // i64x2.extmul_low_u of i32x4 lanes 0xffffffff.
        let e = binop(Shape::I64x2, 16, &[], &ff, &ff).unwrap().unwrap();
        assert_eq!(
            to_lanes(Shape::I64x2, &e)[0],
            0xffff_fffe_0000_0001u64 as i64
        );
        // narrow_s / narrow_u of i16x8 into i8x16.
        let w = i16x8([300, -300, 127, -1, 0, 255, 256, -128]);
        let ns = binop(Shape::I8x16, 20, &[], &w, &w).unwrap().unwrap();
        assert_eq!(
            to_lanes(Shape::I8x16, &ns)[..8],
            [127, -128, 127, -1, 0, 127, 127, -128]
        );
        let nu = binop(Shape::I8x16, 21, &[], &w, &w).unwrap().unwrap();
        assert_eq!(nu[..8], [255, 0, 127, 0, 0, 255, 255, 0]);
    }

    #[test]
    fn swizzle_shuffle_and_bit_operators() {
        let a: V128 = core::array::from_fn(|i| (i as u8) * 10);
        let mut idx = [0u8; 16];
        idx[..4].copy_from_slice(&[3, 15, 16, 0xff]);
        let s = binop(Shape::I8x16, 18, &[], &a, &idx).unwrap().unwrap();
        assert_eq!(s[..4], [30, 150, 0, 0]);
        let b: V128 = core::array::from_fn(|i| 200 + i as u8);
        let lanes: Vec<u8> = (0..16).map(|i| 31 - i).collect();
        let sh = binop(Shape::I8x16, 19, &lanes, &a, &b).unwrap().unwrap();
        assert_eq!(sh[..2], [215, 214]);
        assert_eq!(sh[15], 200);
        let mut bad = lanes;
        bad[0] = 32;
        assert!(binop(Shape::I8x16, 19, &bad, &a, &b).unwrap().is_err());
        let x = [0b1100u8; 16];
        let y = [0b1010u8; 16];
        let c = [0b0110u8; 16];
        assert_eq!(bits(0, &[&x]).unwrap()[0], !0b1100u8);
        assert_eq!(bits(3, &[&x, &y]).unwrap()[0], 0b0100);
        assert_eq!(
            bits(0, &[&x, &y, &c]).unwrap()[0],
            0b1100 & 0b0110 | 0b1010 & !0b0110
        );
    }

    #[test]
    fn shifts_compares_bitmask_and_conversions() {
        let a = i16x8([-2, 1, 0x4000, i16::MIN, 0, 0, 0, 0]);
        // Shift counts are modulo the lane width: 17 = 1.
        let shl = shiftop(Shape::I16x8, 0, &a, 17).unwrap();
        assert_eq!(
            to_lanes(Shape::I16x8, &shl)[..4],
            [-4, 2, i64::from(i16::MIN), 0]
        );
        let sra = shiftop(Shape::I16x8, 1, &a, 1).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &sra)[..4], [-1, 0, 0x2000, -0x4000]);
        let srl = shiftop(Shape::I16x8, 2, &a, 1).unwrap();
        assert_eq!(
            to_lanes(Shape::I16x8, &srl)[..4],
            [0x7fff, 0, 0x2000, 0x4000]
        );
        assert_eq!(bitmask(Shape::I16x8, &a), 0b1001);
        assert!(!all_true(Shape::I16x8, &a));
        let lt_u = relop(Shape::I16x8, 3, &a, &i16x8([1; 8])).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &lt_u)[..5], [0, 0, 0, 0, -1]);
        let gt_s = relop(Shape::I16x8, 6, &a, &i16x8([0; 8])).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &gt_s)[..4], [0, -1, -1, 0]);
        assert!(relop(Shape::I64x2, 3, &a, &a).is_none());
        // extend_high_u of i8x16 into i16x8, extadd_pairwise_s.
        let b = i8x16([0, 0, 0, 0, 0, 0, 0, 0, -1, 5, 0, 0, 0, 0, 0, 0]);
        let e = cvtop(Shape::I16x8, 3, &b).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &e)[..2], [255, 5]);
        let p = cvtop(Shape::I16x8, 4, &b).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &p)[4], 4);
        // trunc_sat_f32x4_s/u: NaN → 0, saturation, truncation toward zero.
        let f: Vec<u8> = [f32::NAN, 3e9, -2.7, -0.5]
            .iter()
            .flat_map(|x| x.to_bits().to_le_bytes())
            .collect();
        let f: V128 = f.try_into().unwrap();
        let s = cvtop(Shape::I32x4, 6, &f).unwrap();
        assert_eq!(s, i32x4([0, i32::MAX, -2, 0]));
        let u = cvtop(Shape::I32x4, 7, &f).unwrap();
        assert_eq!(
            to_lanes(Shape::I32x4, &u),
            [0, 3_000_000_000u32 as i32 as i64, 0, 0]
        );
        // trunc_sat_f64x2_s_zero: the two high lanes are zero.
        let d: Vec<u8> = [-1e12f64, 42.9]
            .iter()
            .flat_map(|x| x.to_bits().to_le_bytes())
            .collect();
        let d: V128 = d.try_into().unwrap();
        assert_eq!(
            cvtop(Shape::I32x4, 8, &d).unwrap(),
            i32x4([i32::MIN, 42, 0, 0])
        );
    }

    #[test]
    fn lanes_replace_extract_and_packed_loads() {
        let a = i32x4([1, 2, 3, 4]);
        assert_eq!(replace_lane(Shape::I32x4, &a, 2, -1), i32x4([1, 2, -1, 4]));
        // Past the last lane: unchanged (Octez's `unopi` never matches).
        assert_eq!(replace_lane(Shape::I32x4, &a, 4, -1), a);
        assert_eq!(extract_lane_s(Shape::I32x4, &a, 3), Some(4));
        assert_eq!(extract_lane_s(Shape::I32x4, &a, 4), None);
        // load8x8_s of 0x80 00 … → i16 lanes -128, 0.
        let x = u64::from_le_bytes([0x80, 0, 0xff, 0, 0, 0, 0, 0]);
        let l = load_packed(3, &[0, 0, 0], x).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &l)[..3], [-128, 0, -1]);
        let l = load_packed(3, &[0, 0, 1], x).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &l)[..3], [128, 0, 255]);
        // load16_splat, load32_zero.
        let l = load_packed(1, &[1], 0xbeef).unwrap();
        assert_eq!(to_lanes(Shape::I16x8, &l), vec![0xbeefu16 as i16 as i64; 8]);
        let l = load_packed(2, &[2], 0xdead_beef).unwrap();
        assert_eq!(l, i32x4([0xdead_beefu32 as i32, 0, 0, 0]));
    }
}
