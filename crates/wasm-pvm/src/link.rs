//! The link phase as Octez runs it (`src/lib_scoru_wasm/wasm_vm.ml`, `Link` tick state;
//! `wasm-pvm.md` §1.1, §3.5): after the module is decoded, one tick per import, in order. An
//! import of a module other than [`HOST_MODULE`] fails with `Unexpected module import:
//! <module>`; an import of [`HOST_MODULE`] that the version does not provide
//! (`Host_funcs.lookup_opt ~version`, here [`host_function_signature`]) fails with
//! `Unexpected import: <module>.<name>` (`Wasm_pvm_errors.link_error`). The PVM is then stuck
//! (`Link_error`) at that tick.

use crate::decode_ticks::{WalkError, decode_ticks};
use crate::hostfn::{HOST_MODULE, host_function_signature};
use crate::version::PvmVersion;

/// Octez's `Link_error` message for an import of `name` from `module` at `version`, or `None`
/// if the import links (its type is checked later, at instantiation).
pub fn link_error_message(version: PvmVersion, module: &str, name: &str) -> Option<String> {
    if module != HOST_MODULE {
        Some(format!("Unexpected module import: {module}"))
    } else if host_function_signature(version, name).is_none() {
        Some(format!("Unexpected import: {module}.{name}"))
    } else {
        None
    }
}

/// The first import of a kernel that does not link, and when Octez's PVM reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkFailure {
    /// Index of the import (0-based): the link phase spends one tick on each import before it.
    pub import_index: u32,
    /// The `Link_error` message ([`link_error_message`]), truncated to 128 bytes as Octez
    /// stores it (`Wasm_pvm_errors.truncate_message`; cut on a character boundary here).
    pub message: String,
    /// Ticks of the small-step decoder on the kernel (`crate::decode_ticks`).
    pub decode_ticks: u128,
}

impl LinkFailure {
    /// Ticks from the `Snapshot` tick to the `Link_error` state: 1 (`Snapshot` → `Decode`),
    /// the decoding ticks, 1 (`MKStop` → `Link`), one per import that links, 1 for the failing
    /// one. `None` on overflow.
    pub fn ticks_from_snapshot(&self) -> Option<u128> {
        self.decode_ticks
            .checked_add(u128::from(self.import_index))?
            .checked_add(3)
    }
}

/// The first import of `kernel` that does not link at `version` (`None`: all link). Fails if
/// the kernel cannot be walked (Octez would reject it while decoding).
pub fn first_link_failure(
    kernel: &[u8],
    version: PvmVersion,
) -> Result<Option<LinkFailure>, WalkError> {
    let summary = decode_ticks(kernel)?;
    for (i, (module, name)) in summary.imports.iter().enumerate() {
        if let Some(mut message) = link_error_message(version, module, name) {
            // `truncate_message`: at most 128 bytes (here on a character boundary).
            let mut n = message.len().min(128);
            while !message.is_char_boundary(n) {
                n = n.saturating_sub(1);
            }
            message.truncate(n);
            return Ok(Some(LinkFailure {
                import_index: u32::try_from(i).unwrap_or(u32::MAX),
                message,
                decode_ticks: summary.decode_ticks,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_version_gates() {
        let host = HOST_MODULE;
        assert_eq!(
            link_error_message(PvmVersion::V6, "env", "read_input").as_deref(),
            Some("Unexpected module import: env")
        );
        assert_eq!(
            link_error_message(PvmVersion::V6, host, "nope").as_deref(),
            Some("Unexpected import: smart_rollup_core.nope")
        );
        // Each function links from its version on (`wasm-pvm.md` §1.2), not before.
        for (name, since) in [
            ("read_input", PvmVersion::V0),
            ("store_create", PvmVersion::V1),
            ("store_delete_value", PvmVersion::V1),
            ("__internal_store_get_hash", PvmVersion::V1),
            ("store_exists", PvmVersion::V2),
            ("reveal", PvmVersion::V3),
            ("nds_store_exists", PvmVersion::V6),
        ] {
            for v in PvmVersion::ALL {
                let m = link_error_message(v, host, name);
                assert_eq!(m.is_none(), v >= since, "{name} at {v}");
            }
        }
    }

    #[test]
    fn first_failing_import_and_its_ticks() {
        // `(module (import "smart_rollup_core" "read_input" (func)) (import "env" "f" (func)))`
        let mut m = b"\0asm\x01\0\0\0".to_vec();
        m.extend([1, 4, 1, 0x60, 0, 0]);
        let mut imports = vec![2, 17];
        imports.extend(b"smart_rollup_core");
        imports.push(10);
        imports.extend(b"read_input");
        imports.extend([0, 0, 3]);
        imports.extend(b"env");
        imports.push(1);
        imports.extend(b"f");
        imports.extend([0, 0]);
        m.push(2);
        m.push(imports.len() as u8);
        m.extend(imports);
        let f = first_link_failure(&m, PvmVersion::V0).unwrap().unwrap();
        assert_eq!(f.import_index, 1);
        assert_eq!(f.message, "Unexpected module import: env");
        // Header 1; type 3 + 5; import 3 + (9 + 17 + 10) + (9 + 3 + 1); the 10 absent sections
        // 3 × 8 + 2 × 2; then 1 + 2 (no function).
        assert_eq!(f.decode_ticks, 1 + 8 + 3 + 36 + 13 + 24 + 4 + 3);
        assert_eq!(f.ticks_from_snapshot(), Some(f.decode_ticks + 1 + 3));
        // Octez's `test_wasm_pvm.ml`: a 100-character name gives a message cut at 128 bytes.
        let long = "a".repeat(100);
        let mut m2 = b"\0asm\x01\0\0\0".to_vec();
        m2.extend([1, 4, 1, 0x60, 0, 0]);
        let mut imports = vec![1, 17];
        imports.extend(b"smart_rollup_core");
        imports.push(100);
        imports.extend(long.as_bytes());
        imports.extend([0, 0]);
        m2.push(2);
        m2.push(imports.len() as u8);
        m2.extend(imports);
        let f = first_link_failure(&m2, PvmVersion::V6).unwrap().unwrap();
        let full = format!("Unexpected import: smart_rollup_core.{long}");
        assert_eq!(f.message, full[..128]);
        // A truncated module cannot be walked.
        assert!(first_link_failure(&m[..m.len() - 12], PvmVersion::V0).is_err());
    }
}
