//! Rollup node snapshots in Octez's container (docs/reference/octez-rollup-node.md §7,
//! `snapshots.ml`, `snapshot_utils.ml`): a 58-byte [`Header`], then a tar archive of the data
//! directory's store copy, metadata, context and pre-images, the whole stream gzipped unless
//! uncompressed.
//!
//! * [`header`], [`layout`]: the pure format (header bytes, `snapshot info` lines, default file
//!   name, which members a snapshot holds and which an import accepts);
//! * [`source`]: reading a snapshot from a file, standard input or an http(s) URL;
//! * [`export()`], [`import()`] (and [`import_at_level`] for `--level`), [`check`]: the
//!   commands over a data directory.
//!
//! An Octez snapshot (its `context/` in irmin-pack format) is imported too: its context is
//! converted ([`octez`]) and the other blocks' contexts rebuilt as a compact snapshot's.
//!
//! Not yet: the checks against L1 beyond the published commitments and the LCC.

pub mod check;
mod error;
pub mod export;
pub mod header;
pub mod import;
pub mod l1;
pub mod layout;
mod live;
mod lock;
pub mod octez;
mod progress;
pub mod source;

pub use error::SnapshotError;
pub use export::{Compression, ExportLevel, ExportOptions, Exported, export, export_with};
pub use header::{Format, HEADER_SIZE, Header, HeaderError, default_file_name, info_text};
pub use import::{ImportOptions, Reconstruct, import, import_at_level, import_with};
pub use l1::{HttpL1, L1View};
pub use source::{Source, info};
