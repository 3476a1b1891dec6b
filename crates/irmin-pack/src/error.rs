//! Typed errors: every one names the file, the offset and what was expected, and says what to
//! do next (a damaged store cannot be repaired by this reader: re-download or re-export it).

use std::path::PathBuf;

use crate::schema::ObjHash;

/// What an operator can do about a damaged store.
const DAMAGED: &str = "the irmin-pack store is damaged: fetch the snapshot again or export it anew from a healthy node";

/// Errors of the irmin-pack reader.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },

    /// The directory holds neither `store.control` (v3+) nor `store.pack` (v1/v2).
    #[error(
        "{dir} is not an irmin-pack store ({reason}); point at the `context/` directory of the snapshot"
    )]
    NotAStore {
        /// The directory.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },

    /// A file of the store is missing.
    #[error("{path} is missing ({what}); {DAMAGED}")]
    MissingFile {
        /// The missing file.
        path: PathBuf,
        /// Why it is needed.
        what: String,
    },

    /// A version string this reader does not know.
    #[error(
        "{path}: unknown irmin-pack version {found:?} at offset {offset} (expected \"00000001\" to \"00000005\"); this reader cannot open it"
    )]
    UnknownVersion {
        /// The file.
        path: PathBuf,
        /// Offset of the version string.
        offset: u64,
        /// What was found.
        found: String,
    },

    /// The control file's checksum does not match its payload.
    #[error(
        "{path}: control file checksum mismatch: stored {stored:#x}, payload gives {computed:#x}; {DAMAGED}"
    )]
    ControlChecksum {
        /// The control file.
        path: PathBuf,
        /// Checksum stored in the file.
        stored: u64,
        /// Adler-32 of the payload.
        computed: u64,
    },

    /// Bytes end before a value does.
    #[error(
        "{path}: truncated {what} at offset {offset}: needs {needed} bytes, {available} available; {DAMAGED}"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Physical offset in the file where the value starts.
        offset: u64,
        /// What was being read.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes present.
        available: u64,
    },

    /// An entry starts with a kind byte that irmin-pack never writes.
    #[error(
        "{path}: unknown entry kind {magic:#04x} at offset {offset} (expected one of B C D I N O P R); {DAMAGED}"
    )]
    UnknownKind {
        /// The file.
        path: PathBuf,
        /// Physical offset of the entry.
        offset: u64,
        /// The kind byte.
        magic: u8,
    },

    /// An entry of another kind than the reference to it says.
    #[error("{path}: entry at offset {offset} is {found}, expected {expected}; {DAMAGED}")]
    UnexpectedKind {
        /// The file.
        path: PathBuf,
        /// Physical offset of the entry.
        offset: u64,
        /// What the reference expected.
        expected: &'static str,
        /// What the entry is.
        found: &'static str,
    },

    /// A value that does not decode (bad tag, bad varint, negative offset, ...).
    #[error("{path}: malformed {what} at offset {offset}: expected {expected}; {DAMAGED}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// Physical offset of the value.
        offset: u64,
        /// What was being decoded.
        what: String,
        /// What was expected there.
        expected: String,
    },

    /// A recomputed hash differs from the stored one.
    #[error(
        "{path}: {what} at offset {offset} has hash {stored} in the store but its contents hash to {computed} ({schema} schema); {DAMAGED}, or open it with the schema that wrote it"
    )]
    HashMismatch {
        /// The file.
        path: PathBuf,
        /// Physical offset of the entry.
        offset: u64,
        /// What was hashed (contents, node, inode, commit).
        what: &'static str,
        /// Hash stored in the entry (or expected by its parent).
        stored: Box<ObjHash>,
        /// Hash recomputed from the decoded entry.
        computed: Box<ObjHash>,
        /// Schema name.
        schema: &'static str,
    },

    /// An offset outside every data file (GC'd away, or past the end).
    #[error(
        "offset {offset} ({what}) is in no data file of the store (prefix, suffix); the object was removed by a GC or the store is truncated; {DAMAGED}"
    )]
    OffsetNotFound {
        /// Global offset.
        offset: u64,
        /// What referenced it.
        what: String,
    },

    /// A hash not in the index.
    #[error(
        "{what} {hash} is not in the store's index; check the commit hash (list the store's commits), or {DAMAGED}"
    )]
    HashNotIndexed {
        /// The hash.
        hash: ObjHash,
        /// What it should be.
        what: &'static str,
    },

    /// A dict key with no string in `store.dict`.
    #[error(
        "{path}: step name #{id} referenced at offset {offset} is not in store.dict ({count} names); {DAMAGED}"
    )]
    DictKey {
        /// File holding the reference.
        path: PathBuf,
        /// Physical offset of the inode.
        offset: u64,
        /// The dict key.
        id: u64,
        /// Names in the dict.
        count: usize,
    },

    /// A structural inconsistency between inodes (depth, lengths, duplicates, cycles).
    #[error("{path}: inconsistent inode at offset {offset}: {reason}; {DAMAGED}")]
    Inode {
        /// The file.
        path: PathBuf,
        /// Physical offset.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
