//! `--kernel <file>`: reading (`.wasm` binary, `.wat`/`.wast` text, `.hex`) and the
//! pre-flight checks Octez's debugger does before installing a kernel: decoding without
//! floats, validation, and linking of every import against the host functions of the
//! selected PVM version (`wasm-pvm.md` §10.1, §1.1, §3.5).

use std::path::Path;

use wasm_pvm::{HOST_MODULE, PvmVersion, ValType, host_function_signature};
use wasmparser::{Parser, Payload, TypeRef, Validator, WasmFeatures};

/// Why a kernel file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The file does not exist or cannot be read.
    #[error("{path} is not a valid file: {error}")]
    Read {
        /// The path given.
        path: String,
        /// Underlying error.
        error: std::io::Error,
    },
    /// Unsupported extension.
    #[error("Kernels should have .wasm, .wast, .wat or .hex file extension")]
    Extension,
    /// `.hex` content is not hexadecimal.
    #[error("{0:?} is not a valid hexadecimal file")]
    Hex(String),
    /// `.wat`/`.wast` text does not parse.
    #[error("syntax error: {0}")]
    Syntax(String),
    /// Decoding or validation failed.
    #[error("invalid module: {0}")]
    Invalid(String),
    /// An import does not link.
    #[error("link failure: {0}")]
    Link(String),
}

/// Reads a kernel file and returns the binary module.
pub fn read_kernel(path: &Path) -> Result<Vec<u8>, KernelError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| KernelError::Read {
        path: shown.clone(),
        error,
    })?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("wasm") => Ok(bytes),
        Some("hex") => {
            let text = String::from_utf8_lossy(&bytes);
            hex::decode(text.trim()).map_err(|_| KernelError::Hex(shown))
        }
        Some("wat" | "wast") => {
            let text = String::from_utf8(bytes).map_err(|e| KernelError::Syntax(e.to_string()))?;
            wat::parse_str(&text).map_err(|e| KernelError::Syntax(e.to_string()))
        }
        _ => Err(KernelError::Extension),
    }
}

fn val_type(t: wasmparser::ValType) -> Option<ValType> {
    match t {
        wasmparser::ValType::I32 => Some(ValType::I32),
        wasmparser::ValType::I64 => Some(ValType::I64),
        _ => None,
    }
}

/// Validates `module` (no floats) and links its imports at `version`.
pub fn check_kernel(module: &[u8], version: PvmVersion) -> Result<(), KernelError> {
    let features = WasmFeatures::default().difference(WasmFeatures::FLOATS);
    Validator::new_with_features(features)
        .validate_all(module)
        .map_err(|e| KernelError::Invalid(e.to_string()))?;
    let mut func_types: Vec<(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)> = Vec::new();
    for payload in Parser::new(0).parse_all(module) {
        let payload = payload.map_err(|e| KernelError::Invalid(e.to_string()))?;
        match payload {
            Payload::TypeSection(reader) => {
                for ty in reader.into_iter_err_on_gc_types() {
                    let f = ty.map_err(|e| KernelError::Invalid(e.to_string()))?;
                    func_types.push((f.params().to_vec(), f.results().to_vec()));
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import.map_err(|e| KernelError::Invalid(e.to_string()))?;
                    link_import(&import, &func_types, version)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn link_import(
    import: &wasmparser::Import<'_>,
    func_types: &[(Vec<wasmparser::ValType>, Vec<wasmparser::ValType>)],
    version: PvmVersion,
) -> Result<(), KernelError> {
    let what = format!("{}.{}", import.module, import.name);
    if import.module != HOST_MODULE {
        return Err(KernelError::Link(format!(
            "unknown import {what} (only module {HOST_MODULE} is available)"
        )));
    }
    let TypeRef::Func(idx) = import.ty else {
        return Err(KernelError::Link(format!(
            "import {what} is not a function"
        )));
    };
    let Some((params, result)) = host_function_signature(version, import.name) else {
        return Err(KernelError::Link(format!(
            "unknown host function {what} at PVM version {version}"
        )));
    };
    let (p, r) = usize::try_from(idx)
        .ok()
        .and_then(|i| func_types.get(i))
        .ok_or_else(|| KernelError::Link(format!("import {what}: bad type index")))?;
    let p: Option<Vec<ValType>> = p.iter().map(|t| val_type(*t)).collect();
    let r: Option<Vec<ValType>> = r.iter().map(|t| val_type(*t)).collect();
    let expected_r: Vec<ValType> = result.into_iter().collect();
    if p.as_deref() != Some(params) || r.as_deref() != Some(&expected_r[..]) {
        return Err(KernelError::Link(format!("import {what}: type mismatch")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wat(s: &str) -> Vec<u8> {
        wat::parse_str(s).unwrap()
    }

    #[test]
    fn accepts_good_kernel() {
        let m = wat(r#"(module
            (import "smart_rollup_core" "write_debug" (func (param i32 i32)))
            (import "smart_rollup_core" "store_exists" (func (param i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "kernel_run")))"#);
        check_kernel(&m, PvmVersion::V6).unwrap();
        // store_exists appears at V2.
        assert!(matches!(
            check_kernel(&m, PvmVersion::V1),
            Err(KernelError::Link(_))
        ));
    }

    #[test]
    fn rejects_bad_kernels() {
        let float = wat(r#"(module (func (export "kernel_run") (drop (f32.const 1))))"#);
        assert!(matches!(
            check_kernel(&float, PvmVersion::V6),
            Err(KernelError::Invalid(_))
        ));
        let bad_mod = wat(r#"(module (import "env" "f" (func)))"#);
        let e = check_kernel(&bad_mod, PvmVersion::V6).unwrap_err();
        assert!(e.to_string().contains("env.f"), "{e}");
        let bad_sig =
            wat(r#"(module (import "smart_rollup_core" "write_debug" (func (param i32))))"#);
        assert!(matches!(
            check_kernel(&bad_sig, PvmVersion::V6),
            Err(KernelError::Link(_))
        ));
        assert!(matches!(
            check_kernel(b"\0asm garbage", PvmVersion::V6),
            Err(KernelError::Invalid(_))
        ));
    }

    #[test]
    fn reads_files() {
        let dir = tempfile::tempdir().unwrap();
        let m = wat("(module)");
        let p = dir.path().join("k.hex");
        std::fs::write(&p, format!("{}\n", hex::encode(&m))).unwrap();
        assert_eq!(read_kernel(&p).unwrap(), m);
        let p = dir.path().join("k.wat");
        std::fs::write(&p, "(module)").unwrap();
        assert_eq!(read_kernel(&p).unwrap(), m);
        let p = dir.path().join("bad.hex");
        std::fs::write(&p, "zz").unwrap();
        assert!(matches!(read_kernel(&p), Err(KernelError::Hex(_))));
        let p = dir.path().join("k.txt");
        std::fs::write(&p, "").unwrap();
        assert!(matches!(read_kernel(&p), Err(KernelError::Extension)));
        assert!(matches!(
            read_kernel(&dir.path().join("missing.wasm")),
            Err(KernelError::Read { .. })
        ));
    }
}
