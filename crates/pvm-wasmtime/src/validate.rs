//! Validation before compilation, and the facts about a module the engine needs later.
//!
//! Classification (`wasm-pvm.md` §3.5, §3.6, §11 item 4):
//! * it does not even parse (bad binary), or uses a float Octez's decoder refuses
//!   (`allow_floats:false`, `guarded_float`) → decode error;
//! * otherwise, it is valid under [`KERNEL_FEATURES`] → accepted;
//! * it is valid with every feature on, but uses a feature outside [`KERNEL_FEATURES`] →
//!   decode error;
//! * it is ill-typed → [`Rejection::IllTyped`]: the reference PVM does not validate
//!   (ill-typed code crashes only when executed), so no engine result matches it exactly.
//!
//! [`KERNEL_FEATURES`] has wasmparser's `FLOATS` on because it also gates the float SIMD
//! operators Octez's decoder accepts (e.g. `i32x4.trunc_sat_f32x4_s`); the float refusal is
//! the decoder's own list, checked here.

use wasmparser::{
    BlockType, ExternalKind, Operator, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures,
};

use crate::config::KERNEL_FEATURES;

/// Why a module is refused before compilation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Malformed binary, float, or feature outside the kernel feature set (→ `DecodeError`).
    Decode(String),
    /// Well-formed but ill-typed module (→ an engine failure, see the module docs).
    IllTyped(String),
}

/// Type of an import, as needed for linking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportType {
    /// A function import with its parameter and result types.
    Func {
        /// Parameter types.
        params: Vec<ValType>,
        /// Result types.
        results: Vec<ValType>,
    },
    /// A table, memory, global or tag import.
    Other,
}

/// One import of the module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Module name.
    pub module: String,
    /// Item name.
    pub name: String,
    /// What is imported.
    pub ty: ImportType,
}

/// Facts about a validated module.
#[derive(Debug, Clone, Default)]
pub struct ModuleInfo {
    /// Imports in declaration order.
    pub imports: Vec<Import>,
    /// Name under which memory index 0 is exported (the first such export), if any.
    pub memory0_export: Option<String>,
    /// The start function, if any.
    pub start: Option<u32>,
    /// Result types of every type-section entry (only function types exist here).
    pub type_results: Vec<Vec<ValType>>,
    /// Type index of every defined (non-imported) function, in order.
    pub defined_func_types: Vec<u32>,
    /// Number of imported functions.
    pub imported_funcs: u32,
    /// Number of imported globals.
    pub imported_globals: u32,
    /// Number of defined globals.
    pub defined_globals: u32,
    /// Names of all exports.
    pub export_names: Vec<String>,
}

fn validate_with(bytes: &[u8], features: WasmFeatures) -> Result<(), String> {
    let mut validator = Validator::new_with_features(features);
    validator
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Octez's decoder refuses this value type (`num_type`: `F32Type`/`F64Type` are behind
/// `guard_float`, `src/lib_webassembly/binary/decode.ml`).
fn float_type(ty: ValType) -> Option<String> {
    matches!(ty, ValType::F32 | ValType::F64).then(|| format!("float type {ty}"))
}

/// Octez's decoder refuses this operator with `allow_floats:false`: exactly the opcodes it
/// decodes through `return_float`/`return_float_f` (`instr`, `src/lib_webassembly/binary/decode.ml`).
///
/// Not refused there, hence not here: the scalar float-to-integer conversions and
/// `i32/i64.reinterpret` (they only consume a float), the SIMD conversions
/// `i32x4.trunc_sat_f32x4_s/u` and `i32x4.trunc_sat_f64x2_s/u_zero`, and
/// `f64x2.ceil/floor/trunc/nearest`, `f32x4.convert_i32x4_s/u` (returned unguarded; Octez's
/// tree encoding cannot write the last six, so only its fast path runs them).
fn guarded_float(op: &Operator<'_>) -> bool {
    use Operator as O;
    matches!(
        op,
        O::F32Load { .. }
            | O::F64Load { .. }
            | O::F32Store { .. }
            | O::F64Store { .. }
            | O::F32Const { .. }
            | O::F64Const { .. }
            | O::F32Eq
            | O::F32Ne
            | O::F32Lt
            | O::F32Gt
            | O::F32Le
            | O::F32Ge
            | O::F64Eq
            | O::F64Ne
            | O::F64Lt
            | O::F64Gt
            | O::F64Le
            | O::F64Ge
            | O::F32Abs
            | O::F32Neg
            | O::F32Ceil
            | O::F32Floor
            | O::F32Trunc
            | O::F32Nearest
            | O::F32Sqrt
            | O::F32Add
            | O::F32Sub
            | O::F32Mul
            | O::F32Div
            | O::F32Min
            | O::F32Max
            | O::F32Copysign
            | O::F64Abs
            | O::F64Neg
            | O::F64Ceil
            | O::F64Floor
            | O::F64Trunc
            | O::F64Nearest
            | O::F64Sqrt
            | O::F64Add
            | O::F64Sub
            | O::F64Mul
            | O::F64Div
            | O::F64Min
            | O::F64Max
            | O::F64Copysign
            | O::F32ConvertI32S
            | O::F32ConvertI32U
            | O::F32ConvertI64S
            | O::F32ConvertI64U
            | O::F32DemoteF64
            | O::F64ConvertI32S
            | O::F64ConvertI32U
            | O::F64ConvertI64S
            | O::F64ConvertI64U
            | O::F64PromoteF32
            | O::F32ReinterpretI32
            | O::F64ReinterpretI64
            | O::F32x4Splat
            | O::F64x2Splat
            | O::F32x4ExtractLane { .. }
            | O::F32x4ReplaceLane { .. }
            | O::F64x2ExtractLane { .. }
            | O::F64x2ReplaceLane { .. }
            | O::F32x4Eq
            | O::F32x4Ne
            | O::F32x4Lt
            | O::F32x4Gt
            | O::F32x4Le
            | O::F32x4Ge
            | O::F64x2Eq
            | O::F64x2Ne
            | O::F64x2Lt
            | O::F64x2Gt
            | O::F64x2Le
            | O::F64x2Ge
            | O::F32x4DemoteF64x2Zero
            | O::F64x2PromoteLowF32x4
            | O::F32x4Ceil
            | O::F32x4Floor
            | O::F32x4Trunc
            | O::F32x4Nearest
            | O::F32x4Abs
            | O::F32x4Neg
            | O::F32x4Sqrt
            | O::F32x4Add
            | O::F32x4Sub
            | O::F32x4Mul
            | O::F32x4Div
            | O::F32x4Min
            | O::F32x4Max
            | O::F32x4PMin
            | O::F32x4PMax
            | O::F64x2Abs
            | O::F64x2Neg
            | O::F64x2Sqrt
            | O::F64x2Add
            | O::F64x2Sub
            | O::F64x2Mul
            | O::F64x2Div
            | O::F64x2Min
            | O::F64x2Max
            | O::F64x2PMin
            | O::F64x2PMax
            | O::F64x2ConvertLowI32x4S
            | O::F64x2ConvertLowI32x4U
    )
}

/// A float the decoder refuses in one operator: the operator itself, or a value type it
/// carries (block types and typed `select`, read with `value_type ~allow_floats`).
fn operator_float(op: &Operator<'_>) -> Option<String> {
    if guarded_float(op) {
        return Some(format!("float instruction {op:?}"));
    }
    match op {
        Operator::Block { blockty } | Operator::Loop { blockty } | Operator::If { blockty } => {
            match blockty {
                BlockType::Type(ty) => float_type(*ty),
                _ => None,
            }
        }
        Operator::TypedSelect { ty } => float_type(*ty),
        Operator::TypedSelectMulti { tys } => tys.iter().find_map(|t| float_type(*t)),
        _ => None,
    }
}

/// Read every byte of the module (sections, items and operators) without validating types,
/// refusing what Octez's decoder refuses with `allow_floats:false` (the fast path checks the
/// kernel with that decoder before Wasmer compiles it: `load_parse_module`,
/// `src/lib_scoru_wasm/fast/module_cache.ml`): float value types in function types, globals
/// (defined and imported), locals, block types and `select`, and the [`guarded_float`]
/// operators.
fn decodes(bytes: &[u8]) -> Result<(), String> {
    let err = |e: wasmparser::BinaryReaderError| e.to_string();
    let refuse = |f: Option<String>| {
        f.map_or(Ok(()), |f| {
            Err(format!("{f}: float instructions are forbidden"))
        })
    };
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(err)? {
            Payload::TypeSection(r) => {
                for x in r.into_iter_err_on_gc_types() {
                    let ty = x.map_err(err)?;
                    for t in ty.params().iter().chain(ty.results()) {
                        refuse(float_type(*t))?;
                    }
                }
            }
            Payload::ImportSection(r) => {
                for x in r.into_imports() {
                    if let TypeRef::Global(g) = x.map_err(err)?.ty {
                        refuse(float_type(g.content_type))?;
                    }
                }
            }
            Payload::FunctionSection(r) => {
                for x in r {
                    x.map_err(err)?;
                }
            }
            Payload::TableSection(r) => {
                for x in r {
                    x.map_err(err)?;
                }
            }
            Payload::MemorySection(r) => {
                for x in r {
                    x.map_err(err)?;
                }
            }
            Payload::GlobalSection(r) => {
                for x in r {
                    let g = x.map_err(err)?;
                    refuse(float_type(g.ty.content_type))?;
                    let mut ops = g.init_expr.get_operators_reader();
                    while !ops.eof() {
                        refuse(operator_float(&ops.read().map_err(err)?))?;
                    }
                }
            }
            Payload::ExportSection(r) => {
                for x in r {
                    x.map_err(err)?;
                }
            }
            Payload::ElementSection(r) => {
                for x in r {
                    x.map_err(err)?;
                }
            }
            Payload::DataSection(r) => {
                for x in r {
                    x.map_err(err)?;
                }
            }
            Payload::CodeSectionEntry(body) => {
                for local in body.get_locals_reader().map_err(err)? {
                    refuse(float_type(local.map_err(err)?.1))?;
                }
                let mut ops = body.get_operators_reader().map_err(err)?;
                while !ops.eof() {
                    refuse(operator_float(&ops.read().map_err(err)?))?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Validate `bytes` as a kernel and collect its [`ModuleInfo`].
///
/// Octez's decoder runs before anything else, so a float it refuses is a decode error even
/// in an ill-typed module.
pub fn validate(bytes: &[u8]) -> Result<ModuleInfo, Rejection> {
    if let Err(restricted) = validate_with(bytes, KERNEL_FEATURES) {
        decodes(bytes).map_err(Rejection::Decode)?;
        if let Err(e) = validate_with(bytes, WasmFeatures::all()) {
            return Err(Rejection::IllTyped(e));
        }
        return Err(Rejection::Decode(restricted));
    }
    decodes(bytes).map_err(Rejection::Decode)?;
    // Valid: collecting the facts cannot fail, but stay total anyway.
    module_info(bytes).map_err(Rejection::Decode)
}

fn module_info(bytes: &[u8]) -> Result<ModuleInfo, String> {
    let err = |e: wasmparser::BinaryReaderError| e.to_string();
    let mut info = ModuleInfo::default();
    let mut func_types: Vec<(Vec<ValType>, Vec<ValType>)> = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(err)? {
            Payload::TypeSection(r) => {
                for ty in r.into_iter_err_on_gc_types() {
                    let ty = ty.map_err(err)?;
                    func_types.push((ty.params().to_vec(), ty.results().to_vec()));
                    info.type_results.push(ty.results().to_vec());
                }
            }
            Payload::ImportSection(r) => {
                for import in r.into_imports() {
                    let import = import.map_err(err)?;
                    let ty = match import.ty {
                        TypeRef::Func(idx) | TypeRef::FuncExact(idx) => {
                            info.imported_funcs += 1;
                            let (params, results) = func_types
                                .get(idx as usize)
                                .cloned()
                                .ok_or_else(|| format!("unknown type {idx}"))?;
                            ImportType::Func { params, results }
                        }
                        TypeRef::Global(_) => {
                            info.imported_globals += 1;
                            ImportType::Other
                        }
                        _ => ImportType::Other,
                    };
                    info.imports.push(Import {
                        module: import.module.to_owned(),
                        name: import.name.to_owned(),
                        ty,
                    });
                }
            }
            Payload::FunctionSection(r) => {
                for idx in r {
                    info.defined_func_types.push(idx.map_err(err)?);
                }
            }
            Payload::GlobalSection(r) => info.defined_globals = r.count(),
            Payload::ExportSection(r) => {
                for export in r {
                    let export = export.map_err(err)?;
                    if export.kind == ExternalKind::Memory
                        && export.index == 0
                        && info.memory0_export.is_none()
                    {
                        info.memory0_export = Some(export.name.to_owned());
                    }
                    info.export_names.push(export.name.to_owned());
                }
            }
            Payload::StartSection { func, .. } => info.start = Some(func),
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(wat: &str) -> Result<ModuleInfo, Rejection> {
        let bytes = wat::Parser::new()
            .parse_str(None, wat)
            .expect("wat encodes");
        validate(&bytes)
    }

    #[test]
    fn classification() {
        assert!(check(r#"(module (memory (export "m") 1))"#).is_ok());
        assert!(matches!(
            check("(module (func (drop (f32.const 0))))"),
            Err(Rejection::Decode(_))
        ));
        assert!(matches!(
            check("(module (func (result i32 i64) (i32.const 0) (i64.const 0)))"),
            Err(Rejection::Decode(_))
        ));
        assert!(matches!(
            check("(module (func (drop (i32.add (i32.const 0) (i64.const 0)))))"),
            Err(Rejection::IllTyped(_))
        ));
        assert!(matches!(
            validate(b"\0asm\x01\0\0\0\x01\x05"),
            Err(Rejection::Decode(_))
        ));
        assert!(matches!(validate(b"not wasm"), Err(Rejection::Decode(_))));
    }

    fn decode_error(wat: &str) -> bool {
        matches!(check(wat), Err(Rejection::Decode(_)))
    }

    /// Scalar floats stay refused as Octez's decoder refuses them (`return_float`, float
    /// value types), even in an ill-typed module (decoding comes first).
    #[test]
    fn scalar_floats_are_refused() {
        for body in [
            "(drop (f32.const 0))",
            "(drop (f64.add (f64.const 1) (f64.const 2)))",
            "(drop (f32.load (i32.const 0)))",
            "(f64.store (i32.const 0) (f64.const 0))",
            "(drop (f32.convert_i32_s (i32.const 1)))",
            "(drop (f64.reinterpret_i64 (i64.const 1)))",
            "(drop (i32.trunc_f32_s (f32.const 1)))",
            "(local f32)",
            "(drop (block (result f64) (unreachable)))",
            "(drop (select (result f32) (unreachable)))",
            "(drop (i32.add (f32.const 0) (i32.const 0)))",
        ] {
            let m = format!("(module (memory 1) (func {body}))");
            assert!(decode_error(&m), "{m}");
        }
        assert!(decode_error("(module (func (param f32)))"));
        assert!(decode_error("(module (func (result f64) (unreachable)))"));
        assert!(decode_error("(module (global f32 (f32.const 0)))"));
        assert!(decode_error(r#"(module (import "x" "g" (global f64)))"#));
    }

    /// Float SIMD: the operators behind `return_float` are refused; the ten Octez's decoder
    /// returns unguarded are accepted, and so is a scalar float consumer (it can only follow a
    /// polymorphic stack without float types).
    #[test]
    fn simd_floats_follow_octez_decoder() {
        let op = |o: &str| format!("(module (func (param v128) (drop ({o} (local.get 0)))))");
        for refused in [
            "f32x4.neg",
            "f64x2.sqrt",
            "f32x4.ceil",
            "f64x2.convert_low_i32x4_s",
            "f32x4.demote_f64x2_zero",
            "f64x2.extract_lane 0",
        ] {
            assert!(decode_error(&op(refused)), "{refused}");
        }
        assert!(decode_error(
            "(module (func (drop (f32x4.add (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0)))))"
        ));
        for accepted in [
            "i32x4.trunc_sat_f32x4_s",
            "i32x4.trunc_sat_f32x4_u",
            "i32x4.trunc_sat_f64x2_s_zero",
            "i32x4.trunc_sat_f64x2_u_zero",
            "f64x2.ceil",
            "f64x2.floor",
            "f64x2.trunc",
            "f64x2.nearest",
            "f32x4.convert_i32x4_s",
            "f32x4.convert_i32x4_u",
        ] {
            assert!(check(&op(accepted)).is_ok(), "{accepted}");
        }
        assert!(check("(module (func (unreachable) (drop (i32.trunc_f32_s))))").is_ok());
    }

    #[test]
    fn facts() {
        let info = check(
            r#"(module
                 (import "smart_rollup_core" "store_has" (func (param i32 i32) (result i32)))
                 (import "x" "g" (global i32))
                 (global i32 (i32.const 1))
                 (memory 1)
                 (export "a" (func 0))
                 (export "mem" (memory 0))
                 (func $s) (start $s))"#,
        )
        .expect("valid");
        assert_eq!(info.imports.len(), 2);
        assert_eq!(
            info.imports[0].ty,
            ImportType::Func {
                params: vec![ValType::I32, ValType::I32],
                results: vec![ValType::I32]
            }
        );
        assert_eq!(info.imports[1].ty, ImportType::Other);
        assert_eq!(info.memory0_export.as_deref(), Some("mem"));
        assert_eq!(info.start, Some(1));
        assert_eq!(
            (
                info.imported_funcs,
                info.imported_globals,
                info.defined_globals
            ),
            (1, 1, 1)
        );
        assert_eq!(info.defined_func_types.len(), 1);
    }
}
