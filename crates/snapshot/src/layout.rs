//! Which paths of a data directory a snapshot holds, and which archive members an import
//! accepts (pure).
//!
//! Rule (docs/reference/octez-rollup-node.md §7, `snapshots.ml` `snapshotable_files_regexp`):
//! `store.sqlite` (a copy), `metadata`, `storage/version`, `context/**`, `wasm_2_0_0/**`,
//! `arith/**`, `riscv/**`; never the configuration, locks, injector queues or logs. An import
//! refuses a member whose path could leave the destination (absolute, `..`, `.`, empty
//! components). Under `context/`, this node's context file (`pvm_store::CONTEXT_FILE`) is
//! [`Member::Context`]; any other file is Octez's irmin-pack context
//! ([`Member::OctezContext`]: `store.control`, `store.dict`, `store.<n>.suffix`, `index/…`,
//! v1/v2 `store.pack` …), which the import converts (`crate::octez`).

/// The SQL store (exported as a `VACUUM INTO` copy).
pub const STORE: &str = "store.sqlite";
/// The rollup metadata (`<data-dir>/metadata`).
pub const METADATA: &str = "metadata";
/// The legacy store version file.
pub const STORAGE_VERSION: &str = "storage/version";
/// Top-level directories whose files are all exported.
pub const DIRECTORIES: [&str; 4] = ["context", "wasm_2_0_0", "arith", "riscv"];

/// What an archive member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Member {
    /// `store.sqlite`.
    Store,
    /// `metadata`.
    Metadata,
    /// `storage/version`.
    StorageVersion,
    /// `context/<file>` of this node's context.
    Context,
    /// A file of an Octez irmin-pack context (`context/…`, any other name).
    OctezContext,
    /// A reveal pre-image or other file under `wasm_2_0_0/`, `arith/` or `riscv/`.
    Data,
}

/// A member an import refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberError {
    /// The path could leave the destination directory.
    #[error(
        "archive member {0:?} has a path escaping the data directory (absolute, `..`, `.` or \
         empty component): the snapshot is corrupted or hostile, nothing was imported"
    )]
    Unsafe(String),
    /// A member no snapshot holds.
    #[error(
        "archive member {0:?} is not part of a rollup node snapshot (expected store.sqlite, \
         metadata, storage/version, context/, wasm_2_0_0/, arith/ or riscv/)"
    )]
    Unexpected(String),
}

/// The components of `name` if none of them can leave the destination. A trailing `/`
/// (directory members) is allowed.
fn safe_components(name: &str) -> Result<Vec<&str>, MemberError> {
    let unsafe_ = || MemberError::Unsafe(name.to_string());
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    if trimmed.is_empty() || trimmed.starts_with('/') || trimmed.contains('\\') {
        return Err(unsafe_());
    }
    let parts: Vec<&str> = trimmed.split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains('\0'))
    {
        return Err(unsafe_());
    }
    Ok(parts)
}

/// Classifies a regular-file member `name` (a path relative to the data directory, `/`
/// separated).
///
/// # Errors
/// [`MemberError`] for unsafe or unknown members.
pub fn classify(name: &str, context_file: &str) -> Result<Member, MemberError> {
    let parts = safe_components(name)?;
    match parts.as_slice() {
        [STORE] => Ok(Member::Store),
        [METADATA] => Ok(Member::Metadata),
        ["storage", "version"] => Ok(Member::StorageVersion),
        ["context", f] if *f == context_file => Ok(Member::Context),
        ["context", _, ..] => Ok(Member::OctezContext),
        [top, _, ..] if DIRECTORIES.contains(top) => Ok(Member::Data),
        _ => Err(MemberError::Unexpected(name.to_string())),
    }
}

/// Checks a directory member (`context/`, `wasm_2_0_0/`…): safe and under a known top
/// directory (or `storage/`).
///
/// # Errors
/// [`MemberError`] for unsafe or unknown directories.
pub fn check_directory(name: &str) -> Result<(), MemberError> {
    let parts = safe_components(name)?;
    match parts.first() {
        Some(top) if DIRECTORIES.contains(top) || *top == "storage" => Ok(()),
        _ => Err(MemberError::Unexpected(name.to_string())),
    }
}

/// Whether the data-directory file at relative path `rel` goes into a snapshot (the store
/// is exported apart, as a copy; a context GC's temporary copy is not exported).
#[must_use]
pub fn is_exported(rel: &str, context_file: &str) -> bool {
    match classify(rel, context_file) {
        Ok(Member::Store | Member::OctezContext) | Err(_) => false,
        Ok(_) => true,
    }
}

/// Top-level entries of a data directory an import replaces; every other entry
/// (configuration, injector queues, logs, compiled kernels) is kept.
pub const REPLACED: [&str; 9] = [
    STORE,
    "store.sqlite-wal",
    "store.sqlite-shm",
    METADATA,
    "storage",
    "context",
    "wasm_2_0_0",
    "arith",
    "riscv",
];

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: &str = "store";

    #[test]
    fn members_are_classified() {
        assert_eq!(classify("store.sqlite", CTX), Ok(Member::Store));
        assert_eq!(classify("metadata", CTX), Ok(Member::Metadata));
        assert_eq!(classify("storage/version", CTX), Ok(Member::StorageVersion));
        assert_eq!(classify("context/store", CTX), Ok(Member::Context));
        assert_eq!(classify("wasm_2_0_0/00ab", CTX), Ok(Member::Data));
        assert_eq!(classify("riscv/x/y", CTX), Ok(Member::Data));
    }

    #[test]
    fn escaping_paths_are_refused() {
        for p in [
            "../x",
            "/etc/passwd",
            "wasm_2_0_0/../../x",
            "context/./store",
            "wasm_2_0_0//a",
            "",
            "a\\..\\b",
        ] {
            assert!(
                matches!(classify(p, CTX), Err(MemberError::Unsafe(_))),
                "{p} accepted"
            );
        }
        assert!(matches!(
            check_directory("../"),
            Err(MemberError::Unsafe(_))
        ));
        assert!(check_directory("context/").is_ok());
        assert!(check_directory("injector/").is_err());
    }

    #[test]
    fn unknown_members_are_refused_and_octez_ones_told_apart() {
        assert!(matches!(
            classify("config.json", CTX),
            Err(MemberError::Unexpected(_))
        ));
        assert!(matches!(
            classify("wasm_2_0_0", CTX),
            Err(MemberError::Unexpected(_))
        ));
        for p in [
            "context/store.pack",
            "context/store.control",
            "context/store.0.suffix",
            "context/index/data",
        ] {
            assert_eq!(classify(p, CTX), Ok(Member::OctezContext), "{p}");
        }
        assert!(matches!(
            classify("context/../store", CTX),
            Err(MemberError::Unsafe(_))
        ));
        assert!(matches!(
            classify("context", CTX),
            Err(MemberError::Unexpected(_))
        ));
    }

    #[test]
    fn exported_files() {
        assert!(is_exported("metadata", CTX));
        assert!(is_exported("context/store", CTX));
        assert!(!is_exported("context/store.gc-tmp", CTX));
        assert!(!is_exported("store.sqlite", CTX), "exported as a copy");
        assert!(!is_exported("config.json", CTX));
        assert!(!is_exported("compiled-kernels/abc", CTX));
        assert!(!is_exported("storage/other", CTX));
    }
}
