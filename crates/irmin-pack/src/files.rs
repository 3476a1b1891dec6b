//! The files of an irmin-pack directory (irmin `src/irmin-pack/layout.ml`):
//!
//! * v1/v2: `store.pack`, `store.dict`, `store.branches`, each with a 16-byte legacy header
//!   (`int63` end offset, 8-byte version `"0000000N"`, `unix/file_manager.ml`);
//! * v3+: `store.control` (version, then a payload: `unix/control_file_intf.ml`; v4/v5 carry an
//!   Adler-32 checksum of the payload), the suffix in chunks `store.<n>.suffix`
//!   (`unix/chunked_suffix.ml`), after a GC `store.<g>.prefix` with its `store.<g>.mapping`
//!   (`unix/sparse_file.ml`: little-endian `(offset, physical offset, length)` triples);
//! * `store.dict` (`unix/dict.ml`: `int32` BE length ‖ name, in key order);
//! * `index/data`, `index/log`, `index/log_async` (mirage/index `unix/raw.ml`: a 24-byte header
//!   and a fan-out, then `hash ‖ int63 offset ‖ int32 length ‖ kind` records,
//!   `unix/pack_index.ml`);
//! * `store.branches` (`unix/atomic_write.ml`: `int32` BE name length ‖ name ‖ hash after the
//!   legacy header; an all-zero hash is a removed branch).

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::codec::Kind;
use crate::error::{Error, Result};
use crate::schema::ObjHash;

/// Size of the legacy header of v1/v2 files (and of `store.branches`).
pub(crate) const LEGACY_HEADER: u64 = 16;

/// A file opened for positional reads.
#[derive(Debug)]
pub(crate) struct DataFile {
    /// Its path (for errors).
    pub(crate) path: PathBuf,
    file: File,
    /// Its size in bytes.
    pub(crate) size: u64,
}

impl DataFile {
    /// Open `path`; `what` says why it is needed when it is missing.
    pub(crate) fn open(path: PathBuf, what: &str) -> Result<DataFile> {
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::MissingFile {
                    path,
                    what: what.to_owned(),
                });
            }
            Err(source) => return Err(Error::Io { path, source }),
        };
        let size = file
            .metadata()
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(DataFile { path, file, size })
    }

    /// Read up to `len` bytes at physical offset `off` (fewer at the end of the file).
    pub(crate) fn read_at(&self, off: u64, len: usize) -> Result<Vec<u8>> {
        let avail = self.size.saturating_sub(off);
        let n = usize::try_from(avail).unwrap_or(usize::MAX).min(len);
        let mut buf = vec![0u8; n];
        self.file
            .read_exact_at(&mut buf, off)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                source,
            })?;
        Ok(buf)
    }

    /// Read exactly `len` bytes at `off`, or a `Truncated` error naming `what`.
    pub(crate) fn read_exact(&self, off: u64, len: usize, what: &str) -> Result<Vec<u8>> {
        let buf = self.read_at(off, len)?;
        if buf.len() < len {
            return Err(Error::Truncated {
                path: self.path.clone(),
                offset: off,
                what: what.to_owned(),
                needed: u64::try_from(len).unwrap_or(u64::MAX),
                available: u64::try_from(buf.len()).unwrap_or(u64::MAX),
            });
        }
        Ok(buf)
    }

    /// The whole file.
    pub(crate) fn read_all(&self) -> Result<Vec<u8>> {
        let len = usize::try_from(self.size).map_err(|_| Error::Malformed {
            path: self.path.clone(),
            offset: 0,
            what: "file size".into(),
            expected: "a file that fits in memory".into(),
        })?;
        self.read_exact(0, len, "file")
    }
}

fn malformed(path: &Path, offset: u64, what: &str, expected: impl Into<String>) -> Error {
    Error::Malformed {
        path: path.to_path_buf(),
        offset,
        what: what.to_owned(),
        expected: expected.into(),
    }
}

/// The version in a legacy header or a control file.
fn parse_version(path: &Path, offset: u64, raw: &[u8]) -> Result<u8> {
    match raw {
        b"00000001" => Ok(1),
        b"00000002" => Ok(2),
        b"00000003" => Ok(3),
        b"00000004" => Ok(4),
        b"00000005" => Ok(5),
        _ => Err(Error::UnknownVersion {
            path: path.to_path_buf(),
            offset,
            found: String::from_utf8_lossy(raw).into_owned(),
        }),
    }
}

/// The 16-byte header of a v1/v2 file: data length and version.
pub(crate) fn legacy_header(f: &DataFile) -> Result<(u64, u8)> {
    let raw = f.read_exact(0, 16, "legacy file header")?;
    let end = i64::from_be_bytes(raw[..8].try_into().unwrap_or([0; 8]));
    let end = u64::try_from(end)
        .map_err(|_| malformed(&f.path, 0, "legacy header offset", "a non-negative offset"))?;
    let version = parse_version(&f.path, 8, &raw[8..16])?;
    let avail = f.size.saturating_sub(LEGACY_HEADER);
    if end > avail {
        return Err(Error::Truncated {
            path: f.path.clone(),
            offset: LEGACY_HEADER,
            what: "data announced by the legacy header".into(),
            needed: end,
            available: avail,
        });
    }
    Ok((end, version))
}

/// Adler-32 (RFC 1950) as `checkseum`'s `Adler32` computes it (seed 1).
pub(crate) fn adler32(bytes: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in bytes.chunks(5552) {
        for &x in chunk {
            a = a.wrapping_add(u32::from(x));
            b = b.wrapping_add(a);
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

/// What a GC left (`Gced` status).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gced {
    /// Global offset of the first suffix entry.
    pub suffix_start_offset: u64,
    /// Number of GCs: names the prefix and mapping files.
    pub generation: u64,
    /// Bytes at the start of the suffix that are dead.
    pub suffix_dead_bytes: u64,
    /// Size of the mapping file, when recorded.
    pub mapping_end_poff: Option<u64>,
}

/// The state of a v3+ store (`status` of the control payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Upgraded from a v1/v2 store: chunk 0 keeps the 16-byte legacy header, and so does
    /// the dict.
    FromV1V2 {
        /// First entry written by v2+ code.
        entry_offset_at_upgrade: u64,
    },
    /// Never GC'd.
    NoGcYet,
    /// Never GC'd, written with a non-minimal indexing strategy.
    NonMinimalIndexing,
    /// GC'd at least once.
    Gced(Gced),
}

/// The decoded `store.control`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// Major version (3, 4 or 5).
    pub version: u8,
    /// End of the dict data.
    pub dict_end_poff: u64,
    /// End of the data of the last (appendable) suffix chunk.
    pub appendable_chunk_poff: u64,
    /// First suffix chunk.
    pub chunk_start_idx: u64,
    /// Number of suffix chunks.
    pub chunk_num: u64,
    /// Volumes of a lower layer (kept outside the directory).
    pub volume_num: u64,
    /// State.
    pub status: Status,
}

/// A cursor over a control payload.
struct Payload<'a> {
    path: &'a Path,
    buf: &'a [u8],
    pos: usize,
}

impl Payload<'_> {
    fn off(&self) -> u64 {
        u64::try_from(self.pos)
            .unwrap_or(u64::MAX)
            .saturating_add(8)
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        let end = self.pos.saturating_add(n);
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| Error::Truncated {
                path: self.path.to_path_buf(),
                offset: self.off(),
                what: format!("control payload {what}"),
                needed: u64::try_from(n).unwrap_or(u64::MAX),
                available: u64::try_from(self.buf.len().saturating_sub(self.pos)).unwrap_or(0),
            })?;
        self.pos = end;
        Ok(s)
    }

    fn int63(&mut self, what: &str) -> Result<u64> {
        let at = self.off();
        let raw: [u8; 8] = self.take(8, what)?.try_into().unwrap_or([0; 8]);
        u64::try_from(i64::from_be_bytes(raw))
            .map_err(|_| malformed(self.path, at, what, "a non-negative 63-bit integer"))
    }

    fn varint(&mut self, what: &str) -> Result<u64> {
        let at = self.off();
        let rest = self.buf.get(self.pos..).unwrap_or(&[]);
        let (v, n) = context_hash::data_encoding::read_n_u64(rest)
            .map_err(|e| malformed(self.path, at, what, format!("a varint ({e})")))?;
        self.pos = self.pos.saturating_add(n);
        Ok(v)
    }

    fn byte(&mut self, what: &str) -> Result<u8> {
        Ok(self.take(1, what)?[0])
    }

    /// A `repr` option: byte 0 for `None`, any other (255 when written) for `Some`.
    fn option_varint(&mut self, what: &str) -> Result<Option<u64>> {
        match self.byte(what)? {
            0 => Ok(None),
            _ => Ok(Some(self.varint(what)?)),
        }
    }

    /// A `repr` option: byte 0 for `None`, any other (255 when written) for `Some`.
    fn option_int63(&mut self, what: &str) -> Result<Option<u64>> {
        match self.byte(what)? {
            0 => Ok(None),
            _ => Ok(Some(self.int63(what)?)),
        }
    }

    fn status(&mut self, version: u8) -> Result<Status> {
        let at = self.off();
        let tag = self.varint("status")?;
        Ok(match tag {
            0 => Status::FromV1V2 {
                entry_offset_at_upgrade: self.int63("entry_offset_at_upgrade_to_v3")?,
            },
            1 => Status::NoGcYet,
            2 => Status::NonMinimalIndexing,
            3 => {
                let suffix_start_offset = self.int63("suffix_start_offset")?;
                let generation = self.varint("generation")?;
                let (suffix_dead_bytes, mapping_end_poff) = if version >= 4 {
                    let _latest_gc_target_offset = self.int63("latest_gc_target_offset")?;
                    let dead = self.int63("suffix_dead_bytes")?;
                    let mapping = if version >= 5 {
                        self.option_int63("mapping_end_poff")?
                    } else {
                        None
                    };
                    (dead, mapping)
                } else {
                    (0, None)
                };
                Status::Gced(Gced {
                    suffix_start_offset,
                    generation,
                    suffix_dead_bytes,
                    mapping_end_poff,
                })
            }
            t => {
                return Err(malformed(
                    self.path,
                    at,
                    "status",
                    format!("a status tag 0 to 3 (tags 4 to 18 are reserved), found {t}"),
                ));
            }
        })
    }
}

/// Read and check `store.control`.
pub(crate) fn read_control(f: &DataFile) -> Result<Control> {
    // Irmin refuses control files larger than a page.
    if f.size > 4096 {
        return Err(malformed(&f.path, 0, "control file", "at most 4096 bytes"));
    }
    let raw = f.read_all()?;
    let version_raw = raw.get(..8).ok_or_else(|| Error::Truncated {
        path: f.path.clone(),
        offset: 0,
        what: "control file version".into(),
        needed: 8,
        available: u64::try_from(raw.len()).unwrap_or(0),
    })?;
    let version = parse_version(&f.path, 0, version_raw)?;
    if version < 3 {
        return Err(malformed(
            &f.path,
            0,
            "control file version",
            "version 3, 4 or 5 (v1/v2 stores have no control file)",
        ));
    }
    let mut p = Payload {
        path: &f.path,
        buf: &raw[8..],
        pos: 0,
    };
    let dict_end_poff = p.int63("dict_end_poff")?;
    let appendable_chunk_poff = p.int63("suffix_end_poff")?;
    let mut checksum_at = None;
    let (chunk_start_idx, chunk_num, volume_num) = match version {
        3 => (0, 1, 0),
        _ => {
            if version == 4 {
                let _upgraded_from_v3 = p.byte("upgraded_from_v3_to_v4")?;
            } else {
                let _upgraded_from = p.option_varint("upgraded_from")?;
            }
            checksum_at = Some(p.pos);
            let _ = p.int63("checksum")?;
            let start = p.varint("chunk_start_idx")?;
            let num = p.varint("chunk_num")?;
            let volumes = if version >= 5 {
                p.varint("volume_num")?
            } else {
                0
            };
            (start, num, volumes)
        }
    };
    let status = p.status(version)?;
    let status = match (version, status) {
        // A v3 GC'd store has one chunk, numbered by its generation.
        (3, Status::Gced(g)) => {
            return Ok(Control {
                version,
                dict_end_poff,
                appendable_chunk_poff,
                chunk_start_idx: g.generation,
                chunk_num: 1,
                volume_num,
                status,
            });
        }
        (_, s) => s,
    };
    if let Some(at) = checksum_at {
        // The checksum covers the encoded payload (as far as it was decoded) with the checksum
        // field set to zero (`Control_file.Checksum`).
        let mut payload = raw[8..8 + p.pos].to_vec();
        let stored = u64::from_be_bytes(payload[at..at + 8].try_into().unwrap_or([0; 8]));
        payload[at..at + 8].fill(0);
        let computed = u64::from(adler32(&payload));
        if stored != computed {
            return Err(Error::ControlChecksum {
                path: f.path.clone(),
                stored,
                computed,
            });
        }
    }
    if chunk_num == 0 {
        return Err(malformed(
            &f.path,
            8,
            "chunk_num",
            "at least one suffix chunk",
        ));
    }
    Ok(Control {
        version,
        dict_end_poff,
        appendable_chunk_poff,
        chunk_start_idx,
        chunk_num,
        volume_num,
        status,
    })
}

/// Step names of `store.dict`, by key: `len` bytes of names after a header of `start` bytes.
pub(crate) fn read_dict(f: &DataFile, start: u64, len: u64) -> Result<Vec<Vec<u8>>> {
    let total = start
        .checked_add(len)
        .ok_or_else(|| malformed(&f.path, start, "dict end", "an end offset below 2^64"))?;
    if total > f.size {
        return Err(Error::Truncated {
            path: f.path.clone(),
            offset: start,
            what: "dict data announced by the control file or header".into(),
            needed: len,
            available: f.size.saturating_sub(start),
        });
    }
    let raw = f.read_exact(
        start,
        usize::try_from(len).unwrap_or(usize::MAX),
        "dict data",
    )?;
    let mut names = Vec::new();
    let mut pos = 0usize;
    while pos < raw.len() {
        let at = start.saturating_add(u64::try_from(pos).unwrap_or(u64::MAX));
        let (n, name) = int32_prefixed(f, &raw, pos, at, ("dict name length", "dict name"), 0)?;
        names.push(name.to_vec());
        pos = pos + 4 + n;
    }
    Ok(names)
}

/// An index record: where an object is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// Global offset of the entry.
    pub offset: u64,
    /// Its length in bytes.
    pub length: u64,
    /// Its kind.
    pub kind: Kind,
}

/// Read the records of one index file (`data`, `log` or `log_async`) into `map`.
fn read_index_file(
    f: &DataFile,
    hash_size: usize,
    map: &mut HashMap<ObjHash, IndexEntry>,
) -> Result<()> {
    let header = f.read_exact(0, 32, "index header")?;
    let end = u64::try_from(i64::from_be_bytes(header[..8].try_into().unwrap_or([0; 8])))
        .map_err(|_| malformed(&f.path, 0, "index header offset", "a non-negative offset"))?;
    parse_version(&f.path, 8, &header[8..16])?;
    let fan = u64::try_from(i64::from_be_bytes(
        header[24..32].try_into().unwrap_or([0; 8]),
    ))
    .map_err(|_| malformed(&f.path, 24, "index fan-out size", "a non-negative size"))?;
    let start = 32u64.saturating_add(fan);
    let record = u64::try_from(hash_size)
        .unwrap_or(u64::MAX)
        .saturating_add(13);
    if !end.is_multiple_of(record) {
        return Err(malformed(
            &f.path,
            0,
            "index header offset",
            format!(
                "a multiple of the {record}-byte record size (wrong schema hash size?), found {end}"
            ),
        ));
    }
    let raw = f.read_exact(
        start,
        usize::try_from(end).unwrap_or(usize::MAX),
        "index records",
    )?;
    for (i, rec) in raw
        .chunks_exact(usize::try_from(record).unwrap_or(usize::MAX))
        .enumerate()
    {
        let at = start.saturating_add(u64::try_from(i).unwrap_or(0).saturating_mul(record));
        let hash = ObjHash::from_slice(&rec[..hash_size])
            .ok_or_else(|| malformed(&f.path, at, "index key", "a hash"))?;
        let v = &rec[hash_size..];
        let offset = u64::try_from(i64::from_be_bytes(v[..8].try_into().unwrap_or([0; 8])))
            .map_err(|_| malformed(&f.path, at, "index offset", "a non-negative offset"))?;
        let length = u64::try_from(i32::from_be_bytes(v[8..12].try_into().unwrap_or([0; 4])))
            .map_err(|_| malformed(&f.path, at, "index length", "a non-negative length"))?;
        let kind = Kind::of_magic(v[12]).ok_or(Error::UnknownKind {
            path: f.path.clone(),
            offset: at.saturating_add(record - 1),
            magic: v[12],
        })?;
        map.insert(
            hash,
            IndexEntry {
                offset,
                length,
                kind,
            },
        );
    }
    Ok(())
}

/// The index of a store: `index/data`, then `index/log`, then `index/log_async` (later
/// records win). Missing files are empty indexes.
pub(crate) fn read_index(dir: &Path, hash_size: usize) -> Result<HashMap<ObjHash, IndexEntry>> {
    let mut map = HashMap::new();
    for name in ["data", "log", "log_async"] {
        let path = dir.join("index").join(name);
        if !path.exists() {
            continue;
        }
        let f = DataFile::open(path, "index file")?;
        read_index_file(&f, hash_size, &mut map)?;
    }
    Ok(map)
}

/// The branches of `store.branches` (name, commit hash), in file order; removed ones skipped.
/// The record of `raw` at `pos` (file offset `at`): an `int32` big-endian length `n`, then
/// `n + extra` bytes (a dict name: `extra` 0; a branch: its name then its hash). Returns `n`
/// and those bytes; `what` names the length and the record in errors.
fn int32_prefixed<'r>(
    f: &DataFile,
    raw: &'r [u8],
    pos: usize,
    at: u64,
    what: (&str, &str),
    extra: usize,
) -> Result<(usize, &'r [u8])> {
    let hdr: [u8; 4] = raw
        .get(pos..pos + 4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| Error::Truncated {
            path: f.path.clone(),
            offset: at,
            what: what.0.into(),
            needed: 4,
            available: u64::try_from(raw.len() - pos).unwrap_or(0),
        })?;
    let n = usize::try_from(i32::from_be_bytes(hdr))
        .map_err(|_| malformed(&f.path, at, what.0, "a non-negative int32"))?;
    let body = raw
        .get(pos + 4..(pos + 4).saturating_add(n).saturating_add(extra))
        .ok_or_else(|| Error::Truncated {
            path: f.path.clone(),
            offset: at,
            what: what.1.into(),
            needed: u64::try_from(n.saturating_add(extra)).unwrap_or(u64::MAX),
            available: u64::try_from(raw.len() - pos - 4).unwrap_or(0),
        })?;
    Ok((n, body))
}

pub(crate) fn read_branches(f: &DataFile, hash_size: usize) -> Result<Vec<(String, ObjHash)>> {
    if f.size == 0 {
        return Ok(Vec::new());
    }
    let raw = f.read_all()?;
    if raw.len() < 16 {
        return Err(Error::Truncated {
            path: f.path.clone(),
            offset: 0,
            what: "branches header".into(),
            needed: 16,
            available: u64::try_from(raw.len()).unwrap_or(0),
        });
    }
    parse_version(&f.path, 8, &raw[8..16])?;
    let mut out: Vec<(String, ObjHash)> = Vec::new();
    let mut pos = 16usize;
    while pos < raw.len() {
        let at = u64::try_from(pos).unwrap_or(u64::MAX);
        let what = ("branch name length", "branch record");
        let (n, body) = int32_prefixed(f, &raw, pos, at, what, hash_size)?;
        let name = String::from_utf8(body[..n].to_vec())
            .map_err(|_| malformed(&f.path, at, "branch name", "UTF-8"))?;
        let hash = ObjHash::from_slice(&body[n..])
            .ok_or_else(|| malformed(&f.path, at, "branch hash", "a hash"))?;
        out.retain(|(b, _)| *b != name);
        if body[n..].iter().any(|&b| b != 0) {
            out.push((name, hash));
        }
        pos = pos + 4 + n + hash_size;
    }
    Ok(out)
}

/// A suffix chunk: global offsets `[start, start + len)` at physical `header + (off - start)`.
#[derive(Debug)]
struct Segment {
    file: DataFile,
    start: u64,
    len: u64,
    header: u64,
}

/// The prefix of a GC'd store: the live ranges and where they are in the prefix file.
#[derive(Debug)]
struct Prefix {
    file: DataFile,
    /// `(global offset, physical offset, length)`, sorted by global offset.
    ranges: Vec<(u64, u64, u64)>,
}

/// Where bytes were read: for errors.
#[derive(Clone, Debug)]
pub(crate) struct Loc {
    /// File.
    pub(crate) path: PathBuf,
    /// Physical offset in it.
    pub(crate) poff: u64,
    /// Bytes available there from `poff` within the same range.
    pub(crate) available: u64,
}

/// The data of a store addressed by global offsets: suffix chunks and the GC prefix.
#[derive(Debug)]
pub(crate) struct Data {
    suffix: Vec<Segment>,
    prefix: Option<Prefix>,
}

fn read_mapping(f: &DataFile, size: u64) -> Result<Vec<(u64, u64, u64)>> {
    if !size.is_multiple_of(24) || size > f.size {
        return Err(malformed(
            &f.path,
            0,
            "mapping file",
            format!(
                "a size multiple of 24 bytes and at most the file size {} (found {size})",
                f.size
            ),
        ));
    }
    let raw = f.read_exact(0, usize::try_from(size).unwrap_or(usize::MAX), "mapping")?;
    let mut ranges = Vec::with_capacity(raw.len() / 24);
    let mut prev_end = 0u64;
    for (i, rec) in raw.chunks_exact(24).enumerate() {
        let at = u64::try_from(i).unwrap_or(0).saturating_mul(24);
        let word =
            |k: usize| u64::from_le_bytes(rec[k * 8..k * 8 + 8].try_into().unwrap_or([0; 8]));
        let (off, poff, len) = (word(0), word(1), word(2));
        let end = off
            .checked_add(len)
            .ok_or_else(|| malformed(&f.path, at, "mapping range", "a range below 2^64"))?;
        if off < prev_end {
            return Err(malformed(
                &f.path,
                at,
                "mapping range",
                "ranges sorted by offset, not overlapping",
            ));
        }
        prev_end = end;
        ranges.push((off, poff, len));
    }
    Ok(ranges)
}

impl Data {
    /// A v1/v2 store: `store.pack` after its legacy header.
    pub(crate) fn legacy(pack: DataFile, end: u64) -> Data {
        Data {
            suffix: vec![Segment {
                file: pack,
                start: 0,
                len: end,
                header: LEGACY_HEADER,
            }],
            prefix: None,
        }
    }

    /// A v3+ store as its control file describes it.
    pub(crate) fn from_control(dir: &Path, c: &Control) -> Result<Data> {
        let (start_offset, dead) = match c.status {
            Status::Gced(g) => (g.suffix_start_offset, g.suffix_dead_bytes),
            _ => (0, 0),
        };
        let legacy = matches!(c.status, Status::FromV1V2 { .. });
        // Suffix offsets `soff` count from the first chunk; global = start + soff - dead.
        let mut soff = 0u64;
        let mut suffix = Vec::new();
        for i in 0..c.chunk_num {
            let idx = c
                .chunk_start_idx
                .checked_add(i)
                .ok_or_else(|| malformed(dir, 0, "chunk index", "chunk indices below 2^64"))?;
            let file = DataFile::open(
                dir.join(format!("store.{idx}.suffix")),
                "suffix chunk listed by store.control",
            )?;
            let header = if legacy && idx == 0 { LEGACY_HEADER } else { 0 };
            let len = if i + 1 == c.chunk_num {
                c.appendable_chunk_poff
            } else {
                file.size.saturating_sub(header)
            };
            if header.saturating_add(len) > file.size {
                return Err(Error::Truncated {
                    path: file.path.clone(),
                    offset: header,
                    what: "suffix data announced by store.control".into(),
                    needed: len,
                    available: file.size.saturating_sub(header),
                });
            }
            // Suffix bytes before `dead` are dead (never read); live byte `soff` is at global
            // offset `start_offset + soff - dead`.
            let skip = dead.saturating_sub(soff).min(len);
            let live_soff = soff.saturating_add(skip);
            let start = start_offset.saturating_add(live_soff).saturating_sub(dead);
            let (header, len) = (header.saturating_add(skip), len - skip);
            suffix.push(Segment {
                file,
                start,
                len,
                header,
            });
            soff = live_soff
                .checked_add(len)
                .ok_or_else(|| malformed(dir, 0, "suffix size", "a suffix below 2^64 bytes"))?;
        }
        let prefix = match c.status {
            Status::Gced(g) if g.generation > 0 => {
                let mapping = DataFile::open(
                    dir.join(format!("store.{}.mapping", g.generation)),
                    "mapping of the GC prefix",
                )?;
                let size = g.mapping_end_poff.unwrap_or(mapping.size);
                let ranges = read_mapping(&mapping, size)?;
                let file = DataFile::open(
                    dir.join(format!("store.{}.prefix", g.generation)),
                    "prefix left by the last GC",
                )?;
                for (i, &(_, poff, len)) in ranges.iter().enumerate() {
                    if poff.saturating_add(len) > file.size {
                        return Err(Error::Truncated {
                            path: file.path.clone(),
                            offset: poff,
                            what: format!("prefix range #{i} of the mapping"),
                            needed: len,
                            available: file.size.saturating_sub(poff),
                        });
                    }
                }
                Some(Prefix { file, ranges })
            }
            _ => None,
        };
        Ok(Data { suffix, prefix })
    }

    /// Where global offset `off` is: the file, the physical offset and the bytes left there.
    fn locate(&self, off: u64) -> Option<(&DataFile, u64, u64)> {
        for s in &self.suffix {
            if off >= s.start && off - s.start < s.len {
                let rel = off - s.start;
                return Some((&s.file, s.header.saturating_add(rel), s.len - rel));
            }
        }
        let p = self.prefix.as_ref()?;
        let i = p.ranges.partition_point(|&(o, _, _)| o <= off);
        let &(o, poff, len) = p.ranges.get(i.checked_sub(1)?)?;
        let rel = off - o;
        (rel < len).then(|| (&p.file, poff.saturating_add(rel), len - rel))
    }

    /// Read up to `max` bytes at global offset `off`, within one range.
    pub(crate) fn read(&self, off: u64, max: usize, what: &str) -> Result<(Vec<u8>, Loc)> {
        let (file, poff, avail) = self.locate(off).ok_or_else(|| Error::OffsetNotFound {
            offset: off,
            what: what.to_owned(),
        })?;
        let n = usize::try_from(avail).unwrap_or(usize::MAX).min(max);
        let buf = file.read_at(poff, n)?;
        Ok((
            buf,
            Loc {
                path: file.path.clone(),
                poff,
                available: avail,
            },
        ))
    }

    /// Global offsets of the suffix: `[start, end)` of each chunk, in order.
    pub(crate) fn suffix_ranges(&self) -> Vec<(u64, u64)> {
        self.suffix
            .iter()
            .map(|s| (s.start, s.start.saturating_add(s.len)))
            .collect()
    }

    /// Global `[start, end)` ranges of the prefix.
    pub(crate) fn prefix_ranges(&self) -> Vec<(u64, u64)> {
        self.prefix
            .as_ref()
            .map(|p| {
                p.ranges
                    .iter()
                    .map(|&(o, _, l)| (o, o.saturating_add(l)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adler32_vectors() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        let long = vec![0xffu8; 100_000];
        // Reference by the definition, with u64 arithmetic.
        let (mut a, mut b) = (1u64, 0u64);
        for &x in &long {
            a = (a + u64::from(x)) % 65_521;
            b = (b + a) % 65_521;
        }
        assert_eq!(u64::from(adler32(&long)), (b << 16) | a);
    }

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> DataFile {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        DataFile::open(p, "test").unwrap()
    }

    fn v5_control(checksum_ok: bool) -> Vec<u8> {
        let mut p = Vec::new();
        p.extend(24u64.to_be_bytes()); // dict_end_poff
        p.extend(164u64.to_be_bytes()); // appendable_chunk_poff
        p.push(0); // upgraded_from: None
        let at = p.len();
        p.extend([0; 8]); // checksum
        p.extend([0, 1, 0]); // chunk_start_idx, chunk_num, volume_num
        p.push(1); // No_gc_yet
        let sum = u64::from(adler32(&p)) ^ u64::from(!checksum_ok);
        p[at..at + 8].copy_from_slice(&sum.to_be_bytes());
        let mut out = b"00000005".to_vec();
        out.extend(p);
        out
    }

    #[test]
    fn control_v5_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let c = read_control(&write(dir.path(), "ok", &v5_control(true))).unwrap();
        assert_eq!(c.version, 5);
        assert_eq!(c.appendable_chunk_poff, 164);
        assert_eq!(c.status, Status::NoGcYet);
        let err = read_control(&write(dir.path(), "bad", &v5_control(false))).unwrap_err();
        assert!(matches!(err, Error::ControlChecksum { .. }), "{err}");
        let mut bad_version = v5_control(true);
        bad_version[7] = b'9';
        let err = read_control(&write(dir.path(), "ver", &bad_version)).unwrap_err();
        assert!(matches!(err, Error::UnknownVersion { .. }), "{err}");
        let short = v5_control(true);
        let err = read_control(&write(dir.path(), "short", &short[..20])).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");
    }

    #[test]
    fn control_v5_gced_with_options() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = Vec::new();
        p.extend(10u64.to_be_bytes()); // dict_end_poff
        p.extend(50u64.to_be_bytes()); // appendable_chunk_poff
        p.extend([0xff, 3]); // upgraded_from = Some 3
        let at = p.len();
        p.extend([0; 8]); // checksum
        p.extend([4, 2, 0]); // chunk_start_idx 4, chunk_num 2, volume_num 0
        p.push(3); // Gced
        p.extend(1000u64.to_be_bytes()); // suffix_start_offset
        p.push(4); // generation
        p.extend(900u64.to_be_bytes()); // latest_gc_target_offset
        p.extend(7u64.to_be_bytes()); // suffix_dead_bytes
        p.push(0xff); // mapping_end_poff = Some
        p.extend(48u64.to_be_bytes());
        let sum = u64::from(adler32(&p));
        p[at..at + 8].copy_from_slice(&sum.to_be_bytes());
        let mut raw = b"00000005".to_vec();
        raw.extend(p);
        let c = read_control(&write(dir.path(), "c", &raw)).unwrap();
        assert_eq!((c.chunk_start_idx, c.chunk_num), (4, 2));
        assert_eq!(
            c.status,
            Status::Gced(Gced {
                suffix_start_offset: 1000,
                generation: 4,
                suffix_dead_bytes: 7,
                mapping_end_poff: Some(48),
            })
        );
    }

    #[test]
    fn dict_and_branches() {
        let dir = tempfile::tempdir().unwrap();
        let mut d = Vec::new();
        d.extend(3i32.to_be_bytes());
        d.extend(b"abc");
        d.extend(0i32.to_be_bytes());
        let f = write(dir.path(), "dict", &d);
        assert_eq!(read_dict(&f, 0, 11).unwrap(), vec![b"abc".to_vec(), vec![]]);
        let err = read_dict(&f, 0, 12).unwrap_err();
        assert!(matches!(err, Error::Truncated { .. }), "{err}");

        let mut b = 0u64.to_be_bytes().to_vec();
        b.extend(b"00000001");
        for (name, h) in [("main", 1u8), ("dev", 2), ("main", 3), ("dev", 0)] {
            b.extend(i32::try_from(name.len()).unwrap().to_be_bytes());
            b.extend(name.as_bytes());
            b.extend([h; 4]);
        }
        let f = write(dir.path(), "branches", &b);
        let br = read_branches(&f, 4).unwrap();
        assert_eq!(
            br,
            vec![("main".to_owned(), ObjHash::from_slice(&[3; 4]).unwrap())]
        );
    }

    #[test]
    fn mapping_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Vec::new();
        for (o, p, l) in [(10u64, 0u64, 5u64), (30, 5, 10)] {
            m.extend(o.to_le_bytes());
            m.extend(p.to_le_bytes());
            m.extend(l.to_le_bytes());
        }
        let mf = write(dir.path(), "m", &m);
        let ranges = read_mapping(&mf, 48).unwrap();
        let data = Data {
            suffix: vec![],
            prefix: Some(Prefix {
                file: write(dir.path(), "p", &[7; 15]),
                ranges,
            }),
        };
        assert_eq!(data.locate(12).map(|(_, p, a)| (p, a)), Some((2, 3)));
        assert_eq!(data.locate(31).map(|(_, p, a)| (p, a)), Some((6, 9)));
        assert!(data.locate(15).is_none());
        assert!(data.locate(9).is_none());
        assert!(data.locate(40).is_none());
        assert!(read_mapping(&mf, 47).is_err());
    }
}
