//! Integer instructions (`src/lib_webassembly/exec/eval_num.ml`, `ixx.ml`;
//! `docs/reference/wasm-ticks.md` §1.5): `Test`, `Compare`, `Unary`, `Binary`, `Convert` on
//! i32/i64, with the operator blobs of `interpreter_encodings.ml` (`[type, index]`, as
//! [`crate::stream`] writes them). Floats never reach the PVM (`allow_floats:false`).

use crate::codec::{Error, Result};
use crate::instance::Value;
use crate::lazy::LazyVec;

fn crash(msg: &str) -> Error {
    Error::Exception(msg.to_owned())
}

fn pop(vs: &mut LazyVec<Value>) -> Result<Value> {
    if vs.num_elements() < 1 {
        return Err(crash("missing or ill-typed operand on stack"));
    }
    match vs.pop()? {
        v @ (Value::I32(_) | Value::I64(_)) => Ok(v),
        _ => Err(crash("missing or ill-typed operand on stack")),
    }
}

fn type_error(i: usize, want: u8, got: &Value) -> Error {
    let name = |t: u8| if t == 0 { "i32" } else { "i64" };
    let g = if matches!(got, Value::I32(_)) { 0 } else { 1 };
    crash(&format!(
        "type error, expected {} as operand {i}, got {}",
        name(want),
        name(g)
    ))
}

/// An operand as a 64-bit pattern of the operator's type.
fn operand(v: &Value, ty: u8, i: usize) -> Result<u64> {
    match (v, ty) {
        (Value::I32(x), 0) => Ok(*x as u32 as u64),
        (Value::I64(x), 1) => Ok(*x as u64),
        _ => Err(type_error(i, ty, v)),
    }
}

fn make(ty: u8, x: u64) -> Value {
    if ty == 0 {
        Value::I32(x as u32 as i32)
    } else {
        Value::I64(x as i64)
    }
}

fn bool_v(b: bool) -> Value {
    Value::I32(i32::from(b))
}

/// `(width, signed view, unsigned view)` helpers.
fn sx(ty: u8, x: u64) -> i64 {
    if ty == 0 {
        x as u32 as i32 as i64
    } else {
        x as i64
    }
}

/// Run one numeric instruction on the value stack: `Ok(Ok(()))` on success,
/// `Ok(Err(trap message))` on a numeric trap.
pub fn eval(
    tag: &str,
    op: &[u8],
    vs: &mut LazyVec<Value>,
) -> Result<std::result::Result<(), String>> {
    let bad = || Error::Malformed(tag.to_owned(), "numeric operator");
    let (&ty, rest) = op.split_first().ok_or_else(bad)?;
    let (&k, more) = rest.split_first().ok_or_else(bad)?;
    if ty > 1 {
        return Err(Error::Unsupported(format!("float operator {tag}")));
    }
    let bits: u32 = if ty == 0 { 32 } else { 64 };
    let mask: u64 = if ty == 0 { 0xffff_ffff } else { u64::MAX };
    let result = match tag {
        "Test" => {
            let n = pop(vs)?;
            bool_v(operand(&n, ty, 1)? == 0)
        }
        "Compare" => {
            let n2 = pop(vs)?;
            let n1 = pop(vs)?;
            let (a, b) = (operand(&n1, ty, 1)?, operand(&n2, ty, 2)?);
            let (sa, sb) = (sx(ty, a), sx(ty, b));
            bool_v(match k {
                0 => a == b,
                1 => a != b,
                2 => sa < sb,
                3 => a < b,
                4 => sa > sb,
                5 => a > b,
                6 => sa <= sb,
                7 => a <= b,
                8 => sa >= sb,
                9 => a >= b,
                _ => return Err(bad()),
            })
        }
        "Unary" => {
            let n = pop(vs)?;
            let a = operand(&n, ty, 1)?;
            let r = match (k, more) {
                (0, []) => {
                    if ty == 0 {
                        u64::from((a as u32).leading_zeros())
                    } else {
                        u64::from(a.leading_zeros())
                    }
                }
                (1, []) => {
                    if ty == 0 {
                        u64::from((a as u32).trailing_zeros())
                    } else {
                        u64::from(a.trailing_zeros())
                    }
                }
                (2, []) => u64::from(a.count_ones()),
                (3, [p @ 0..=2]) => {
                    // ExtendS Pack8 / Pack16 / Pack32.
                    let w = 8u32 << p;
                    let sh = 64u32.saturating_sub(w);
                    (((a << sh) as i64) >> sh) as u64
                }
                _ => return Err(bad()),
            };
            make(ty, r & mask)
        }
        "Binary" => {
            let n2 = pop(vs)?;
            let n1 = pop(vs)?;
            let (a, b) = (operand(&n1, ty, 1)?, operand(&n2, ty, 2)?);
            let (sa, sb) = (sx(ty, a), sx(ty, b));
            let sh = (b as u32) & bits.wrapping_sub(1);
            let r: u64 = match k {
                0 => a.wrapping_add(b),
                1 => a.wrapping_sub(b),
                2 => a.wrapping_mul(b),
                3 | 5 => {
                    if b == 0 {
                        return Ok(Err("integer divide by zero".into()));
                    }
                    let min = if ty == 0 {
                        i64::from(i32::MIN)
                    } else {
                        i64::MIN
                    };
                    if k == 3 && sa == min && sb == -1 {
                        return Ok(Err("integer overflow".into()));
                    }
                    // b ≠ 0 and not MIN / -1 here, so these do not fail.
                    if k == 3 {
                        sa.checked_div(sb).unwrap_or(0) as u64
                    } else {
                        sa.checked_rem(sb).unwrap_or(0) as u64
                    }
                }
                4 | 6 => {
                    if b == 0 {
                        return Ok(Err("integer divide by zero".into()));
                    }
                    if k == 4 {
                        a.checked_div(b).unwrap_or(0)
                    } else {
                        a.checked_rem(b).unwrap_or(0)
                    }
                }
                7 => a & b,
                8 => a | b,
                9 => a ^ b,
                10 => a.wrapping_shl(sh),
                11 => (sa.wrapping_shr(sh)) as u64,
                12 => a.wrapping_shr(sh),
                13 | 14 => {
                    if ty == 0 {
                        let x = a as u32;
                        u64::from(if k == 13 {
                            x.rotate_left(sh)
                        } else {
                            x.rotate_right(sh)
                        })
                    } else if k == 13 {
                        a.rotate_left(sh)
                    } else {
                        a.rotate_right(sh)
                    }
                }
                _ => return Err(bad()),
            };
            make(ty, r & mask)
        }
        "Convert" => {
            let n = pop(vs)?;
            match (ty, k) {
                // i32.wrap_i64
                (0, 2) => {
                    let a = operand(&n, 1, 1)?;
                    Value::I32(a as u32 as i32)
                }
                // i64.extend_i32_s / _u
                (1, 0) | (1, 1) => {
                    let a = operand(&n, 0, 1)?;
                    Value::I64(if k == 0 {
                        i64::from(a as u32 as i32)
                    } else {
                        a as i64
                    })
                }
                _ => return Err(Error::Unsupported(format!("conversion {ty}/{k}"))),
            }
        }
        _ => return Err(bad()),
    };
    vs.cons(result)?;
    Ok(Ok(()))
}
