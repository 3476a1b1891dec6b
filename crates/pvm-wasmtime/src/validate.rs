//! Validation before compilation, and the facts about a module the engine needs later.
//!
//! Classification (`wasm-pvm.md` §3.5, §3.6, §11 item 4):
//! * the module is valid under [`KERNEL_FEATURES`] → accepted;
//! * it does not even parse (bad binary) → decode error;
//! * it parses and is valid with every feature on, but uses a float or a feature outside
//!   [`KERNEL_FEATURES`] → decode error (Octez decodes with `allow_floats:false`);
//! * it parses but is ill-typed → [`Rejection::IllTyped`]: the reference PVM does not validate
//!   (ill-typed code crashes only when executed), so no engine result matches it exactly.

use wasmparser::{ExternalKind, Parser, Payload, TypeRef, ValType, Validator, WasmFeatures};

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

/// Read every byte of the module (sections, items and operators) without validating types.
fn parses(bytes: &[u8]) -> Result<(), String> {
    let err = |e: wasmparser::BinaryReaderError| e.to_string();
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(err)? {
            Payload::TypeSection(r) => {
                for x in r {
                    x.map_err(err)?;
                }
            }
            Payload::ImportSection(r) => {
                for x in r.into_imports() {
                    x.map_err(err)?;
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
                    x.map_err(err)?;
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
                    local.map_err(err)?;
                }
                let mut ops = body.get_operators_reader().map_err(err)?;
                while !ops.eof() {
                    ops.read().map_err(err)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Validate `bytes` as a kernel and collect its [`ModuleInfo`].
pub fn validate(bytes: &[u8]) -> Result<ModuleInfo, Rejection> {
    if let Err(restricted) = validate_with(bytes, KERNEL_FEATURES) {
        if let Err(e) = parses(bytes) {
            return Err(Rejection::Decode(e));
        }
        if let Err(e) = validate_with(bytes, WasmFeatures::all()) {
            return Err(Rejection::IllTyped(e));
        }
        return Err(Rejection::Decode(restricted));
    }
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
