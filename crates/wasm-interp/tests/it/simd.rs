//! SIMD (`0xfd`) instructions: the decoder's instruction blobs against the layouts of
//! `src/lib_scoru_wasm/interpreter_encodings.ml` (`vecop_encoding`, `laneop_encoding`, the
//! `V128Op` operator encodings, `vec_loadop`/`vec_storeop`/`vec_laneop_encoding`) and
//! `wasm_encoding.ml` (`instruction_encoding`'s `Vec*` cases, `value_encoding`'s
//! `VecType V128Type`), their tree round trip, and their evaluation on the value stack.

use wasm_interp::ast::Instr;
use wasm_interp::codec::{Codec, Error, Tree};
use wasm_interp::instance::Value;
use wasm_interp::lazy::LazyVec;
use wasm_interp::stream::{DecodeFailure, Stream};

fn p(s: &[&str]) -> Vec<String> {
    s.iter().map(|x| (*x).to_owned()).collect()
}

/// `instr` on `0xfd` followed by `rest` (the opcode at position 0).
fn decode(rest: &[u8]) -> Result<Instr, DecodeFailure> {
    let mut bytes = vec![0xfd];
    bytes.extend(rest);
    let b: &[u8] = &bytes;
    let mut s = Stream { bytes: &b, pos: 1 };
    s.instr(0, 0xfd)
}

fn blob(i: &Instr) -> (&str, &[u8]) {
    assert_eq!(i.args.len(), 1, "{i:?}");
    assert_eq!(i.args[0].0, ["$1"]);
    (i.tag.as_str(), &i.args[0].1)
}

fn be(x: i32) -> [u8; 4] {
    x.to_be_bytes()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const LANES: [u8; 16] = [1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];

#[test]
fn constants_and_shuffles_carry_a_string_payload() {
    // v128.const: `vec_encoding` = V128 tag 0, then `string` (4-byte length, 16 bytes).
    let mut bin = vec![0x0c];
    bin.extend(LANES);
    let i = decode(&bin).unwrap();
    assert_eq!(blob(&i), ("VecConst", &cat(&[&[0], &be(16), &LANES])[..]));
    // i8x16.shuffle: `VecBinary (V128 (I8x16 (Shuffle is)))`, `Shuffle` = ibinop tag 19,
    // `list int8` = 4-byte byte length, then the lanes.
    let lanes: Vec<u8> = (0..16).map(|k| 31 - k).collect();
    let mut bin = vec![0x0d];
    bin.extend(&lanes);
    let i = decode(&bin).unwrap();
    assert_eq!(
        blob(&i),
        ("VecBinary", &cat(&[&[0, 0, 19], &be(16), &lanes])[..])
    );
}

#[test]
fn lane_operators_are_vecop_shape_operator_tags() {
    let cases: &[(&[u8], &str, &[u8])] = &[
        // i32x4.add (0xae, LEB128 0xae 0x01): I32x4 = 2, Add = 0.
        (&[0xae, 0x01], "VecBinary", &[0, 2, 0]),
        // i16x8.lt_u (0x30): irelop LtU = 3; i16x8.gt_s (0x31): GtS = 6.
        (&[0x30], "VecCompare", &[0, 1, 3]),
        (&[0x31], "VecCompare", &[0, 1, 6]),
        // i64x2.ge_s (0xdb): GeS = 8.
        (&[0xdb, 0x01], "VecCompare", &[0, 3, 8]),
        // i8x16.popcnt (0x62): iunop Popcnt = 2.
        (&[0x62], "VecUnary", &[0, 0, 2]),
        // i16x8.extend_high_i8x16_u (0x8a): icvtop ExtendHighU = 3.
        (&[0x8a, 0x01], "VecConvert", &[0, 1, 3]),
        // i32x4.trunc_sat_f64x2_u_zero (0xfd): TruncSatUZeroF64x2 = 9.
        (&[0xfd, 0x01], "VecConvert", &[0, 2, 9]),
        // i64x2.shr_u (0xcd): ishiftop ShrU = 2.
        (&[0xcd, 0x01], "VecShift", &[0, 3, 2]),
        // i16x8.q15mulr_sat_s (0x82): Q15MulRSatS = 13; i32x4.dot_i16x8_s (0xba): DotS = 12.
        (&[0x82, 0x01], "VecBinary", &[0, 1, 13]),
        (&[0xba, 0x01], "VecBinary", &[0, 2, 12]),
        // i64x2.extmul_high_i32x4_u (0xdf): ExtMulHighU = 17.
        (&[0xdf, 0x01], "VecBinary", &[0, 3, 17]),
        // i8x16.swizzle (0x0e): Swizzle = 18; i16x8.narrow_i32x4_u (0x86): NarrowU = 21.
        (&[0x0e], "VecBinary", &[0, 0, 18]),
        (&[0x86, 0x01], "VecBinary", &[0, 1, 21]),
        // all_true, bitmask, splat: one-case unions (tag 0).
        (&[0xa3, 0x01], "VecTest", &[0, 2, 0]),
        (&[0x64], "VecBitmask", &[0, 0, 0]),
        (&[0x12], "VecSplat", &[0, 3, 0]),
        // The `V1x128` operators have no shape: vecop tag, operator tag.
        (&[0x4d], "VecUnaryBits", &[0, 0]),
        (&[0x4f], "VecBinaryBits", &[0, 3]),
        (&[0x51], "VecBinaryBits", &[0, 2]),
        (&[0x52], "VecTernaryBits", &[0, 0]),
        (&[0x53], "VecTestBits", &[0, 0]),
        // i8x16.extract_lane_u 5: `Extract (5, ZX)` = tag 0, int31, extension ZX = 1.
        (&[0x16, 5], "VecExtract", &[0, 0, 0, 0, 0, 0, 5, 1]),
        // i32x4.extract_lane 3: `Extract (3, ())`: no extension byte.
        (&[0x1b, 3], "VecExtract", &[0, 2, 0, 0, 0, 0, 3]),
        // i64x2.replace_lane 1: `Replace 1`.
        (&[0x1e, 1], "VecReplace", &[0, 3, 0, 0, 0, 0, 1]),
    ];
    for (bin, tag, want) in cases {
        let i = decode(bin).unwrap();
        assert_eq!(blob(&i), (*tag, *want), "opcode {bin:02x?}");
    }
}

#[test]
fn vector_memops_have_no_type_byte() {
    // `memop_encoding vec_type_encoding _`: `v128` is a one-case `string_enum` (a
    // constant, no byte), `align` int31, `offset` int32, then the pack.
    let cases: &[(&[u8], &str, Vec<u8>)] = &[
        // v128.load align=4 offset=0: pack None.
        (&[0x00, 4, 0], "VecLoad", cat(&[&be(4), &be(0), &[0]])),
        // v128.load8x8_u align=3 offset=16: Some (Pack64, ExtLane (Pack8x8, ZX)).
        (
            &[0x02, 3, 16],
            "VecLoad",
            cat(&[&be(3), &be(16), &[1, 3, 0, 0, 1]]),
        ),
        // v128.load32x2_s: ExtLane (Pack32x2, SX).
        (
            &[0x05, 3, 0],
            "VecLoad",
            cat(&[&be(3), &be(0), &[1, 3, 0, 2, 0]]),
        ),
        // v128.load16_splat: Some (Pack16, ExtSplat).
        (&[0x08, 1, 0], "VecLoad", cat(&[&be(1), &be(0), &[1, 1, 1]])),
        // v128.load32_zero: Some (Pack32, ExtZero).
        (&[0x5c, 2, 0], "VecLoad", cat(&[&be(2), &be(0), &[1, 2, 2]])),
        // v128.store: pack unit (no byte).
        (&[0x0b, 4, 8], "VecStore", cat(&[&be(4), &be(8)])),
        // v128.load16_lane align=1 offset=2 lane 7: memop with Pack16, then lane int31.
        (
            &[0x55, 1, 2, 7],
            "VecLoadLane",
            cat(&[&be(1), &be(2), &[1], &be(7)]),
        ),
        (
            &[0x5b, 3, 0, 1],
            "VecStoreLane",
            cat(&[&be(3), &be(0), &[3], &be(1)]),
        ),
    ];
    for (bin, tag, want) in cases {
        let i = decode(bin).unwrap();
        assert_eq!(blob(&i), (*tag, &want[..]), "opcode {bin:02x?}");
    }
}

#[test]
fn float_operators_are_refused_as_octez_refuses_them() {
    // Guarded by `return_float`: a decoding error at the position after the opcode.
    for bin in [
        &[0x13][..],
        &[0x1f, 0],
        &[0x41],
        &[0xe4, 0x01],
        &[0x5f],
        &[0xfe, 0x01],
    ] {
        let e = decode(bin).unwrap_err();
        assert_eq!(e.msg, "float instructions are forbidden", "{bin:02x?}");
        assert!(!e.unencodable);
    }
    // Not guarded, but `F64x2`/`F32x4` lane operators have no case in `laneop_encoding`:
    // Octez cannot write the decoded instruction into the tree.
    for bin in [&[0x74][..], &[0x94, 0x01], &[0xfa, 0x01]] {
        assert!(decode(bin).unwrap_err().unencodable, "{bin:02x?}");
    }
    // A shuffle lane over 127 does not fit `int8`.
    let mut bin = vec![0x0d, 200];
    bin.extend([0; 15]);
    assert!(decode(&bin).unwrap_err().unencodable);
    // An unknown opcode: `illegal s pos n`.
    let e = decode(&[0x9a, 0x01]).unwrap_err();
    assert_eq!((e.msg.as_str(), e.pos), ("illegal opcode 9a", 0));
    // A truncated constant.
    let e = decode(&[0x0c, 1, 2]).unwrap_err();
    assert_eq!(e.msg, "unexpected end of section or function");
}

#[test]
fn vector_instructions_and_values_round_trip_through_the_tree() {
    let mut bin = vec![0x0c];
    bin.extend(LANES);
    let konst = decode(&bin).unwrap();
    let mut t = Tree::empty();
    konst.encode(&mut t, &p(&["i"])).unwrap();
    // `instruction_encoding`: the constructor name at `tag`, the payload at `value/$1`.
    let mut want = durable_tree::Tree::empty();
    let mut tag = 8u32.to_be_bytes().to_vec();
    tag.extend(b"VecConst");
    want.set_contents(&["i", "tag"], tag).unwrap();
    want.set_contents(&["i", "value", "$1"], cat(&[&[0], &be(16), &LANES]))
        .unwrap();
    assert_eq!(
        t.clone().into_plain().unwrap().hash().unwrap(),
        want.hash().unwrap()
    );
    assert_eq!(Instr::decode(&t, &p(&["i"])).unwrap(), konst);
    for bin in [&[0x55u8, 1, 2, 7][..], &[0x16, 5], &[0x4f], &[0x0b, 4, 8]] {
        let i = decode(bin).unwrap();
        let mut t = Tree::empty();
        i.encode(&mut t, &p(&["i"])).unwrap();
        assert_eq!(Instr::decode(&t, &p(&["i"])).unwrap(), i);
    }
    // `value_encoding`: `VecType V128Type`, then `vec_encoding` at `value`.
    let mut t = Tree::empty();
    Value::V128(LANES.to_vec())
        .encode(&mut t, &p(&["v"]))
        .unwrap();
    let mut want = durable_tree::Tree::empty();
    let mut tag = 16u32.to_be_bytes().to_vec();
    tag.extend(b"VecType V128Type");
    want.set_contents(&["v", "tag"], tag).unwrap();
    want.set_contents(&["v", "value"], cat(&[&[0], &be(16), &LANES]))
        .unwrap();
    assert_eq!(
        t.clone().into_plain().unwrap().hash().unwrap(),
        want.hash().unwrap()
    );
    match Value::decode(&t, &p(&["v"])).unwrap() {
        Value::V128(b) => assert_eq!(b, LANES),
        v => panic!("{v:?}"),
    }
}

fn run(bin: &[u8], stack: Vec<Value>) -> Result<Vec<Value>, Error> {
    let i = decode(bin).unwrap();
    // The value stack's head is its first element: push in order.
    let mut vs = LazyVec::empty();
    for v in stack {
        vs.cons(v)?;
    }
    wasm_interp::simd::eval(&i.tag, &i.args[0].1, &mut vs)?;
    vs.to_list()
}

fn v128(lanes: [i32; 4]) -> Value {
    Value::V128(lanes.iter().flat_map(|x| x.to_le_bytes()).collect())
}

fn one(r: Result<Vec<Value>, Error>) -> Value {
    let mut r = r.unwrap();
    assert_eq!(r.len(), 1);
    r.remove(0)
}

#[test]
fn evaluation_on_the_value_stack() {
    // i32x4.add (operands popped second-first).
    let r = one(run(
        &[0xae, 0x01],
        vec![v128([1, 2, 3, i32::MAX]), v128([10, 20, 30, 1])],
    ));
    assert!(matches!(r, Value::V128(b) if b == v128([11, 22, 33, i32::MIN]).as_v()));
    // i32x4.sub is ordered: a - b.
    let r = one(run(
        &[0xb1, 0x01],
        vec![v128([5, 0, 0, 0]), v128([7, 0, 0, 0])],
    ));
    assert!(matches!(r, Value::V128(b) if b == v128([-2, 0, 0, 0]).as_v()));
    // i8x16.bitmask, i32x4.extract_lane 3, i64x2.splat.
    let r = one(run(&[0x64], vec![v128([0x80, 0, 0, -1])]));
    assert!(matches!(r, Value::I32(0xf001)));
    let r = one(run(&[0x1b, 3], vec![v128([0, 0, 0, -7])]));
    assert!(matches!(r, Value::I32(-7)));
    let r = one(run(&[0x12], vec![Value::I64(-2)]));
    assert!(matches!(r, Value::V128(b) if b == v128([-2, -1, -2, -1]).as_v()));
    // i32x4.replace_lane 0.
    let r = one(run(&[0x1c, 0], vec![v128([1, 2, 3, 4]), Value::I32(9)]));
    assert!(matches!(r, Value::V128(b) if b == v128([9, 2, 3, 4]).as_v()));
    // v128.bitselect(v1, v2, c) = (v1 & c) | (v2 & !c).
    let r = one(run(
        &[0x52],
        vec![v128([-1; 4]), v128([0; 4]), v128([0x0f, 0, -1, 0])],
    ));
    assert!(matches!(r, Value::V128(b) if b == v128([0x0f, 0, -1, 0]).as_v()));
    // A shift count of type i64: `I32Num.of_num 2` raises `TypeError`, a crash.
    match run(&[0xab, 0x01], vec![v128([1; 4]), Value::I64(1)]) {
        Err(Error::Exception(m)) => {
            assert_eq!(m, "type error, expected i32 as operand 2, got i64")
        }
        r => panic!("{r:?}"),
    }
    // A missing operand.
    assert!(matches!(
        run(&[0xae, 0x01], vec![v128([0; 4])]),
        Err(Error::Exception(_))
    ));
}

trait AsV {
    fn as_v(&self) -> Vec<u8>;
}

impl AsV for Value {
    fn as_v(&self) -> Vec<u8> {
        match self {
            Value::V128(b) => b.clone(),
            _ => Vec::new(),
        }
    }
}
