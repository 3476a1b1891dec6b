//! Which paths of a data directory a snapshot holds, and which archive members an import
//! accepts (pure).
//!
//! Rule (docs/reference/octez-rollup-node.md §7, `snapshots.ml` `snapshotable_files_regexp`):
//! `store.sqlite` (a copy), `metadata`, `storage/version`, `context/**`, `wasm_2_0_0/**`,
//! `arith/**`, `riscv/**`; never the configuration, locks, injector queues or logs. An import
//! refuses a member whose path could leave the destination (absolute, `..`, `.`, empty
//! components) and, in this node, a `context/` member other than its own context file
//! (`pvm_store::CONTEXT_FILE`): Octez's irmin-pack files are not read yet.

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
    /// Octez's irmin-pack context.
    #[error(
        "archive member {0:?} belongs to an Octez irmin-pack context: importing Octez \
         snapshots (irmin-pack context files) is not supported yet by this node; export the \
         snapshot from this node, or start from an empty data directory and let the node \
         replay from L1"
    )]
    OctezContext(String),
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
/// [`MemberError`] for unsafe, unknown or Octez irmin-pack members.
pub fn classify(name: &str, context_file: &str) -> Result<Member, MemberError> {
    let parts = safe_components(name)?;
    match parts.as_slice() {
        [STORE] => Ok(Member::Store),
        [METADATA] => Ok(Member::Metadata),
        ["storage", "version"] => Ok(Member::StorageVersion),
        ["context", f] if *f == context_file => Ok(Member::Context),
        ["context", ..] => Err(MemberError::OctezContext(name.to_string())),
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
        Ok(Member::Store) | Err(_) => false,
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
    fn unknown_and_octez_members_are_refused() {
        assert!(matches!(
            classify("config.json", CTX),
            Err(MemberError::Unexpected(_))
        ));
        assert!(matches!(
            classify("wasm_2_0_0", CTX),
            Err(MemberError::Unexpected(_))
        ));
        let e = classify("context/store.pack", CTX).unwrap_err();
        assert!(matches!(e, MemberError::OctezContext(_)));
        assert!(e.to_string().contains("context/store.pack"), "{e}");
        assert!(matches!(
            classify("context/index/data", CTX),
            Err(MemberError::OctezContext(_))
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
