//! The default on-disk [`NodeStore`]: an append-only pack file with an
//! in-memory hash index (the irmin-pack idea, minus its on-disk index).
//!
//! Why not a B-tree keyed by object hash ([`crate::RedbStore`] (feature `redb`)): objects are
//! keyed by random 32-byte hashes, so a commit of `k` new objects into a
//! store of `n` touches `min(k, pages)` random leaf pages, and a
//! copy-on-write B-tree rewrites every one of them. At 20 000 objects per
//! commit over a 100k-key tree that is ~0.65 s per commit, ~120x the cost of
//! hashing the same bytes. Appending the batch to a file costs one `write`
//! and one `fdatasync`.
//!
//! File layout (version 2): `MAGIC` (`DTPACK02`), the synced mark
//! (`u64 LE synced end ‖ u64 LE checksum of it`), then records:
//! * object: `b'O' ‖ hash[32] ‖ u32 LE length ‖ bytes` (our object encoding,
//!   `durable_tree`'s object codec);
//! * commit: `b'R' ‖ u64 LE batch start ‖ u64 LE checksum ‖ u32 LE root count
//!   ‖ roots[32]*`. The checksum covers the bytes from `batch start` to the
//!   record and the roots.
//!
//! A batch (its objects then one commit record) is streamed out as the
//! commit produces it, in writes of [`WRITE_CHUNK`] bytes (memory stays
//! bounded by one chunk whatever the commit's size), and made durable by
//! one `sync_data` after the commit record. On open, the file is scanned; the
//! objects of a batch are indexed only once its commit record is read back
//! whole with a matching checksum. So [`NodeStore::write_batch`] is atomic
//! across crashes.
//!
//! Torn tail or corruption: after each `sync_data` the end of the synced
//! batches is written into the synced mark (not synced itself: it becomes
//! durable with the next sync, so the mark on disk never exceeds what is
//! durable). A scan that stops at or past the mark found a torn write (a
//! crash during or after a commit that was never synced): the tail is cut
//! away silently, as before. A scan that stops before the mark found bytes
//! that were synced and are now damaged (or a file cut short): that is
//! corruption, and [`DiskStore::open`] refuses the file with a
//! [`StoreCorruption`] naming the file and the offset, unless asked to cut it
//! there ([`Recovery::Truncate`]). A version-1 file (`DTPACK01`, no mark) is
//! judged without one: a damaged batch whose commit record is still found
//! further on was written whole, so it is corruption; the file is then
//! rewritten in version 2.
//!
//! Index: the first 8 bytes of each hash → file offset (16 bytes a slot),
//! in 256 shards that grow independently (no transient doubling of the
//! whole index), with the rare prefix collisions kept in a full-hash side
//! table. Reads are one positioned read (`pread`) each. Objects of a batch
//! are indexed by groups of [`GROUP`] while still in the batch's buffer
//! (one lock, and one probe per object that both finds a stored duplicate,
//! dropped from the buffer, and claims the slot), but readers ignore
//! offsets past the bytes written so far (`Inner::written`), so each object
//! becomes visible when its chunk is written (before the commit record); a
//! batch abandoned before its commit record is unindexed again.
//!
//! GC ([`NodeStore::retain`]) copies the live objects into a new file, syncs
//! it and renames it over the old one.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use context_hash::Hash;

use durable_tree::{BatchWriter, BuildPrefix, NodeStore, StoreCorruption, StoreError};

/// Magic of the current format (with the synced mark).
const MAGIC: &[u8; 8] = b"DTPACK02";
/// Magic of the first format (records right after the magic, no synced mark).
const MAGIC_V1: &[u8; 8] = b"DTPACK01";
/// Magic then the synced mark: `u64 LE` synced end, `u64 LE` its checksum.
const HEADER: usize = 8 + 8 + 8;
/// Offset of the synced mark.
const MARK_AT: u64 = 8;
const REC_OBJECT: u8 = b'O';
const REC_COMMIT: u8 = b'R';
/// Object record header: tag, hash, length.
const OBJ_HEADER: usize = 1 + 32 + 4;
/// Commit record header: tag, start, checksum, root count.
const COMMIT_HEADER: usize = 1 + 8 + 8 + 4;
/// Batches are written in chunks of about this size.
const WRITE_CHUNK: usize = 4 << 20;

/// A crash-safe on-disk object store (one append-only file).
pub struct DiskStore {
    path: PathBuf,
    inner: RwLock<Inner>,
    /// Held by the one batch being written (and by GC): appends past
    /// `Inner::end` happen outside the `inner` lock, so readers are never
    /// blocked by a long commit. Guards the batches' write buffer, kept
    /// from one batch to the next (a fresh one would page-fault its memory
    /// in again each batch).
    appender: Mutex<Vec<u8>>,
    /// Commits skip their `sync_data` ([`NodeStore::set_deferred_sync`]).
    deferred_sync: AtomicBool,
}

struct Inner {
    file: File,
    /// End of the last valid commit record (where the next batch goes).
    end: u64,
    /// End of the bytes written to the file (`end`, or past it while a
    /// batch is written). Index entries at or past it are objects of the
    /// batch being written still in its buffer: absent to readers.
    written: u64,
    index: Index,
    roots: BTreeSet<Hash>,
}

/// Number of index shards: each grows (and rehashes) on its own, so
/// growing the index never needs twice its memory at once.
const SHARDS: usize = 256;

/// Hash → offset of the object record.
struct Index {
    /// Sharded on hash byte 8 (not part of the 8-byte key, whose bits the
    /// map uses as its own hash).
    by_prefix: Vec<HashMap<u64, u64, BuildPrefix>>,
    /// Objects whose 8-byte prefix collides with another's.
    overflow: HashMap<Hash, u64>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            by_prefix: (0..SHARDS).map(|_| HashMap::default()).collect(),
            overflow: HashMap::new(),
        }
    }
}

fn shard(h: &Hash) -> usize {
    usize::from(h.0[8]) % SHARDS
}

fn prefix(h: &Hash) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&h.0[..8]);
    u64::from_le_bytes(b)
}

/// A fast non-cryptographic streaming checksum (torn writes and accidental
/// damage such as flipped bytes, not a deliberate forgery): four independent
/// multiply-rotate lanes over 8-byte words, 64 bits.
struct Checksum {
    lanes: [u64; 4],
    total: u64,
    carry: [u8; 32],
    carry_len: usize,
}

const K: [u64; 4] = [
    0x9e37_79b9_7f4a_7c15,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x85eb_ca77_c2b2_ae63,
];

impl Checksum {
    fn new() -> Self {
        Checksum {
            lanes: [1, 2, 3, 4],
            total: 0,
            carry: [0; 32],
            carry_len: 0,
        }
    }

    fn block(&mut self, c: &[u8]) {
        for (i, lane) in self.lanes.iter_mut().enumerate() {
            let mut w = [0u8; 8];
            w.copy_from_slice(&c[i * 8..i * 8 + 8]);
            *lane = (*lane ^ u64::from_le_bytes(w))
                .wrapping_mul(K[i])
                .rotate_left(29);
        }
    }

    fn update(&mut self, mut p: &[u8]) {
        self.total = self.total.wrapping_add(p.len() as u64);
        if self.carry_len > 0 {
            let n = (32 - self.carry_len).min(p.len());
            self.carry[self.carry_len..self.carry_len + n].copy_from_slice(&p[..n]);
            self.carry_len += n;
            p = &p[n..];
            if self.carry_len < 32 {
                return;
            }
            let c = self.carry;
            self.block(&c);
            self.carry_len = 0;
        }
        let mut chunks = p.chunks_exact(32);
        for c in &mut chunks {
            self.block(c);
        }
        let rest = chunks.remainder();
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carry_len = rest.len();
    }

    fn finish(mut self) -> u64 {
        self.carry[self.carry_len..].fill(0);
        let c = self.carry;
        self.block(&c);
        let mut h = self.total;
        for (l, k) in self.lanes.iter().zip(K) {
            h = (h ^ l).wrapping_mul(k).rotate_left(31);
        }
        h
    }
}

fn corrupt_file(m: &str) -> StoreError {
    StoreError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        m.to_string(),
    ))
}

impl Index {
    fn len(&self) -> usize {
        self.by_prefix.iter().map(HashMap::len).sum::<usize>() + self.overflow.len()
    }

    /// Every indexed offset.
    fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_prefix
            .iter()
            .flat_map(HashMap::values)
            .chain(self.overflow.values())
            .copied()
    }

    /// Drop every entry at or past `start`.
    fn truncate(&mut self, start: u64) {
        for m in &mut self.by_prefix {
            m.retain(|_, off| *off < start);
        }
        self.overflow.retain(|_, off| *off < start);
    }

    /// Offset of `h` if it is below `written`, reading candidate records
    /// from `file` to rule out prefix collisions. An overflow entry is
    /// always past the slot entry of its prefix, so a slot entry at or
    /// past `written` means no written object has that prefix.
    fn find(&self, file: &File, written: u64, h: &Hash) -> Result<Option<u64>, StoreError> {
        if let Some(&off) = self.by_prefix[shard(h)].get(&prefix(h)) {
            if off >= written {
                return Ok(None);
            }
            if record_hash(file, off)? == *h {
                return Ok(Some(off));
            }
            return Ok(self.overflow.get(h).copied().filter(|&o| o < written));
        }
        Ok(None)
    }

    /// Index `h` at `off`; `h` must not be indexed yet.
    fn insert(&mut self, h: Hash, off: u64) {
        match self.by_prefix[shard(&h)].entry(prefix(&h)) {
            Entry::Vacant(v) => {
                v.insert(off);
            }
            Entry::Occupied(_) => {
                self.overflow.insert(h, off);
            }
        }
    }
}

fn record_hash(file: &File, off: u64) -> Result<Hash, StoreError> {
    let mut h = [0u8; 32];
    file.read_exact_at(&mut h, off + 1)?;
    Ok(Hash(h))
}

fn read_object(file: &File, off: u64) -> Result<Vec<u8>, StoreError> {
    let mut len = [0u8; 4];
    file.read_exact_at(&mut len, off + 33)?;
    let mut out = vec![0u8; u32::from_le_bytes(len) as usize];
    file.read_exact_at(&mut out, off + OBJ_HEADER as u64)?;
    Ok(out)
}

fn push_object(buf: &mut Vec<u8>, h: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
    let len = u32::try_from(bytes.len()).map_err(|_| corrupt_file("object over 4 GiB"))?;
    buf.push(REC_OBJECT);
    buf.extend_from_slice(&h.0);
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(bytes);
    Ok(())
}

/// Append a commit record for a batch starting at `file_start` whose bytes
/// went through `sum`.
fn push_commit(buf: &mut Vec<u8>, mut sum: Checksum, file_start: u64, roots: &[Hash]) {
    let start = buf.len();
    for r in roots {
        buf.extend_from_slice(&r.0);
    }
    sum.update(&buf[start..]);
    let root_bytes = buf.split_off(start);
    buf.push(REC_COMMIT);
    buf.extend_from_slice(&file_start.to_le_bytes());
    buf.extend_from_slice(&sum.finish().to_le_bytes());
    buf.extend_from_slice(&(roots.len() as u32).to_le_bytes());
    buf.extend_from_slice(&root_bytes);
}

/// The synced mark's bytes for `synced` (the end of the synced batches).
fn mark_bytes(synced: u64) -> [u8; 16] {
    let mut sum = Checksum::new();
    sum.update(&synced.to_le_bytes());
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&synced.to_le_bytes());
    out[8..].copy_from_slice(&sum.finish().to_le_bytes());
    out
}

/// Length of a pack file's header: the magic and the synced mark.
pub const PACK_HEADER_LEN: usize = HEADER;

/// The header of a pack file another process may be appending to, read once: its bytes (magic
/// and synced mark) and the end of the synced batches it records. A copy made of these bytes
/// followed by the file's bytes from [`PACK_HEADER_LEN`] up to that end is a valid pack file
/// holding every batch synced when the header was read: the file is append-only between GCs
/// (snapshot export from a running node, `crates/snapshot/src/live.rs`).
///
/// # Errors
/// I/O, a file that is not a current pack file (wrong magic), a mark that does not match its
/// checksum or points past the end of the file.
pub fn synced_header(file: &File) -> Result<([u8; HEADER], u64), StoreError> {
    let mut head = [0u8; HEADER];
    file.read_exact_at(&mut head, 0)?;
    if head[..MAGIC.len()] != MAGIC[..] {
        return Err(StoreError::Backend(format!(
            "not a current durable-tree pack file (it starts with {:?}, not {:?})",
            String::from_utf8_lossy(&head[..MAGIC.len()]),
            String::from_utf8_lossy(MAGIC)
        )));
    }
    let mut w = [0u8; 8];
    w.copy_from_slice(&head[8..16]);
    let synced = u64::from_le_bytes(w);
    let len = file.metadata()?.len();
    if mark_bytes(synced)[..] != head[8..HEADER] || synced < HEADER as u64 || synced > len {
        return Err(StoreError::Backend(format!(
            "the synced mark ({synced}) does not match its checksum or the file's length ({len})"
        )));
    }
    Ok((head, synced))
}

/// Record `synced` as the end of the synced batches. Called only after a
/// `sync_data` covering every byte before `synced`; not synced itself (the
/// next sync makes it durable), so the mark on disk never exceeds what is
/// durable.
fn write_mark(file: &File, synced: u64) -> Result<(), StoreError> {
    file.write_all_at(&mark_bytes(synced), MARK_AT)?;
    Ok(())
}

/// What [`DiskStore::open_with`] does with a corrupted file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recovery {
    /// Fail with [`StoreError::Corrupted`] (the default).
    #[default]
    Refuse,
    /// Cut the file at the damaged batch (losing it and everything after
    /// it) and open the rest; the caller must rebuild what was lost.
    Truncate,
}

/// A scanned pack file.
struct Scan {
    index: Index,
    roots: BTreeSet<Hash>,
    /// End of the last valid commit record.
    end: u64,
    /// Why the scan stopped before the end of the file (or the file ended
    /// inside a batch): offset of the bad record and what is wrong.
    stop: Option<(u64, String)>,
}

impl Scan {
    fn empty() -> Self {
        Scan {
            index: Index::default(),
            roots: BTreeSet::new(),
            end: HEADER as u64,
            stop: None,
        }
    }
}

/// Scan the records of a pack file from `first` (just past its header):
/// the index and roots of its valid batches, and where and why it stopped.
fn scan(file: &File, first: u64) -> Result<Scan, StoreError> {
    let file_len = file.metadata()?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut skip = vec![0u8; usize::try_from(first).map_err(|_| corrupt_file("bad header"))?];
    r.read_exact(&mut skip)?;
    let mut index = Index::default();
    let mut roots = BTreeSet::new();
    let mut valid_end = first;
    let mut pos = valid_end;
    // The current batch: its checksum so far and objects.
    let mut sum = Checksum::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut pending: Vec<(Hash, u64)> = Vec::new();
    // Bytes left in the file from `pos`: no record may claim more (a
    // damaged length must not allocate gigabytes).
    let left = |pos: u64| file_len.saturating_sub(pos);
    let stop = loop {
        let mut tag = [0u8; 1];
        if r.read(&mut tag)? == 0 {
            if pos == valid_end {
                break None;
            }
            break Some((
                pos,
                format!("the file ends at {pos}, inside the batch starting at {valid_end}"),
            ));
        }
        match tag[0] {
            REC_OBJECT => {
                let mut hdr = [0u8; OBJ_HEADER - 1];
                if r.read_exact(&mut hdr).is_err() {
                    break Some((
                        pos,
                        format!("the file ends inside the object record at {pos}"),
                    ));
                }
                let mut h = [0u8; 32];
                h.copy_from_slice(&hdr[..32]);
                let mut l = [0u8; 4];
                l.copy_from_slice(&hdr[32..]);
                let len = u32::from_le_bytes(l);
                if u64::from(len) > left(pos).saturating_sub(OBJ_HEADER as u64) {
                    break Some((
                        pos,
                        format!(
                            "the object record at {pos} claims {len} bytes, past the end of the \
                             file ({file_len})"
                        ),
                    ));
                }
                let len = len as usize;
                buf.clear();
                buf.push(REC_OBJECT);
                buf.extend_from_slice(&hdr);
                buf.resize(OBJ_HEADER + len, 0);
                if r.read_exact(&mut buf[OBJ_HEADER..]).is_err() {
                    break Some((
                        pos,
                        format!("the file ends inside the object record at {pos}"),
                    ));
                }
                sum.update(&buf);
                pending.push((Hash(h), pos));
                pos += (OBJ_HEADER + len) as u64;
            }
            REC_COMMIT => {
                let mut hdr = [0u8; COMMIT_HEADER - 1];
                if r.read_exact(&mut hdr).is_err() {
                    break Some((
                        pos,
                        format!("the file ends inside the commit record at {pos}"),
                    ));
                }
                let word = |i: usize| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(&hdr[i..i + 8]);
                    u64::from_le_bytes(w)
                };
                let (start, expected) = (word(0), word(8));
                let mut c = [0u8; 4];
                c.copy_from_slice(&hdr[16..20]);
                let count = u32::from_le_bytes(c);
                let root_len = u64::from(count) * 32;
                if root_len > left(pos).saturating_sub(COMMIT_HEADER as u64) {
                    break Some((
                        pos,
                        format!(
                            "the commit record at {pos} claims {count} roots, past the end of \
                             the file ({file_len})"
                        ),
                    ));
                }
                let root_len = root_len as usize;
                let mut root_bytes = vec![0u8; root_len];
                if r.read_exact(&mut root_bytes).is_err() {
                    break Some((
                        pos,
                        format!("the file ends inside the commit record at {pos}"),
                    ));
                }
                if start != valid_end {
                    break Some((
                        pos,
                        format!(
                            "the commit record at {pos} names batch start {start}, but the \
                             batch starts at {valid_end}"
                        ),
                    ));
                }
                let mut s = std::mem::replace(&mut sum, Checksum::new());
                s.update(&root_bytes);
                if s.finish() != expected {
                    let end = pos + (COMMIT_HEADER + root_len) as u64;
                    break Some((
                        pos,
                        format!(
                            "bytes {valid_end}..{end} do not match the checksum of their \
                             commit record (at {pos})"
                        ),
                    ));
                }
                for (h, off) in pending.drain(..) {
                    if index.find(file, u64::MAX, &h)?.is_none() {
                        index.insert(h, off);
                    }
                }
                for c in root_bytes.chunks_exact(32) {
                    let mut h = [0u8; 32];
                    h.copy_from_slice(c);
                    roots.insert(Hash(h));
                }
                pos += (COMMIT_HEADER + root_len) as u64;
                valid_end = pos;
            }
            t => break Some((pos, format!("unknown record tag 0x{t:02x} at {pos}"))),
        }
    };
    Ok(Scan {
        index,
        roots,
        end: valid_end,
        stop,
    })
}

/// Whether a whole commit record for a batch starting at `start` occurs in
/// `file` at or after `from` (version-1 files: such a batch was written
/// whole, so a scan failing inside it found corruption, not a torn write).
fn commit_record_after(file: &File, from: u64, start: u64) -> Result<bool, StoreError> {
    let mut needle = [0u8; 9];
    needle[0] = REC_COMMIT;
    needle[1..].copy_from_slice(&start.to_le_bytes());
    let len = file.metadata()?.len();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = from;
    while at < len {
        let n = usize::try_from((len - at).min(buf.len() as u64))
            .map_err(|_| corrupt_file("chunk over usize"))?;
        file.read_exact_at(&mut buf[..n], at)?;
        for (i, w) in buf[..n].windows(needle.len()).enumerate() {
            if w != needle {
                continue;
            }
            // Only a whole record counts (a torn one can hold its start).
            let rec = at + i as u64;
            let mut c = [0u8; 4];
            if rec + COMMIT_HEADER as u64 <= len {
                file.read_exact_at(&mut c, rec + 17)?;
                let roots = u64::from(u32::from_le_bytes(c)) * 32;
                if rec + COMMIT_HEADER as u64 + roots <= len {
                    return Ok(true);
                }
            }
        }
        if n < buf.len() {
            break;
        }
        // Overlap by the needle's length minus one.
        at += (n - (needle.len() - 1)) as u64;
    }
    Ok(false)
}

/// The live objects copied by a GC: where each one is in the copy, its end, its roots.
struct GcCopy {
    offsets: Vec<(Hash, u64)>,
    end: u64,
    roots: Vec<Hash>,
}

fn open_file(path: &Path) -> Result<File, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    file.try_lock().map_err(|e| match e {
        std::fs::TryLockError::WouldBlock => StoreError::Backend(format!(
            "{} is locked by another store handle",
            path.display()
        )),
        std::fs::TryLockError::Error(e) => StoreError::Io(e),
    })?;
    Ok(file)
}

impl DiskStore {
    /// Open (or create) the store file at `path`. A torn tail (a crash
    /// before its batch was synced) is cut away; damage before the synced
    /// mark fails with [`StoreError::Corrupted`] (see the module doc).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Ok(Self::open_with(path, Recovery::Refuse)?.0)
    }

    /// [`DiskStore::open`], with `recovery` deciding what to do with a
    /// corrupted file; returns the damage that [`Recovery::Truncate`] cut
    /// away, if any. A version-1 file is rewritten in the current format.
    pub fn open_with(
        path: impl AsRef<Path>,
        recovery: Recovery,
    ) -> Result<(Self, Option<StoreCorruption>), StoreError> {
        let path = path.as_ref().to_path_buf();
        let file = open_file(&path)?;
        let len = file.metadata()?.len();
        let mut head = vec![0u8; usize::try_from(len.min(HEADER as u64)).unwrap_or(HEADER)];
        file.read_exact_at(&mut head, 0)?;
        let mut fresh = MAGIC.to_vec();
        fresh.extend_from_slice(&mark_bytes(HEADER as u64));
        if head.len() >= MAGIC_V1.len() && head[..MAGIC_V1.len()] == MAGIC_V1[..] {
            return Self::open_v1(path, file, recovery);
        }
        if len < HEADER as u64 && fresh.starts_with(&head) {
            // New, or a crash while it was being created: nothing was ever
            // committed in it.
            file.set_len(0)?;
            file.write_all_at(&fresh, 0)?;
            file.sync_all()?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                File::open(dir)?.sync_all()?;
            }
            return Ok((Self::over(path, file, Scan::empty(), HEADER as u64), None));
        }
        if head.len() < HEADER || head[..MAGIC.len()] != MAGIC[..] {
            return Err(StoreError::Backend(format!(
                "{} is not a durable-tree pack file (it does not start with {:?}): move it \
                 away or point to the right directory",
                path.display(),
                String::from_utf8_lossy(MAGIC)
            )));
        }
        let mut w = [0u8; 8];
        w.copy_from_slice(&head[8..16]);
        let marked = u64::from_le_bytes(w);
        let mark_ok = mark_bytes(marked)[..] == head[8..HEADER];
        let scan = scan(&file, HEADER as u64)?;
        let damage = if !mark_ok {
            Some(StoreCorruption {
                file: path.clone(),
                offset: MARK_AT,
                synced: len,
                detail: "the synced mark does not match its checksum".to_string(),
            })
        } else if scan.end < marked {
            Some(StoreCorruption {
                file: path.clone(),
                offset: scan.end,
                synced: marked,
                detail: scan.stop.as_ref().map_or_else(
                    || format!("the file ends at {len}: it was cut short"),
                    |(_, d)| d.clone(),
                ),
            })
        } else {
            None
        };
        if let Some(d) = &damage
            && recovery == Recovery::Refuse
        {
            return Err(StoreError::Corrupted(Box::new(d.clone())));
        }
        // A torn tail (or, when asked, the damage) is cut away; batches
        // past the mark that read back whole are synced and marked.
        let end = scan.end;
        if len != end {
            file.set_len(end)?;
        }
        if len != end || marked != end || !mark_ok {
            file.sync_data()?;
            write_mark(&file, end)?;
            file.sync_data()?;
        }
        Ok((Self::over(path, file, scan, end), damage))
    }

    /// Open a version-1 file (no synced mark) and rewrite it in the current
    /// format.
    fn open_v1(
        path: PathBuf,
        file: File,
        recovery: Recovery,
    ) -> Result<(Self, Option<StoreCorruption>), StoreError> {
        let len = file.metadata()?.len();
        let scan = scan(&file, MAGIC_V1.len() as u64)?;
        let mut damage = None;
        if let Some((at, detail)) = &scan.stop
            && commit_record_after(&file, scan.end, scan.end)?
        {
            damage = Some(StoreCorruption {
                file: path.clone(),
                offset: scan.end,
                synced: len,
                detail: format!("{detail} (record at {at})"),
            });
        }
        if let Some(d) = &damage
            && recovery == Recovery::Refuse
        {
            return Err(StoreError::Corrupted(Box::new(d.clone())));
        }
        let end = scan.end;
        if len != end {
            file.set_len(end)?;
            file.sync_all()?;
        }
        let roots: Vec<Hash> = scan.roots.iter().copied().collect();
        let store = Self::over(path, file, scan, end);
        store.retain(&|_| true, &roots)?;
        Ok((store, damage))
    }

    fn over(path: PathBuf, file: File, scan: Scan, end: u64) -> Self {
        DiskStore {
            path,
            inner: RwLock::new(Inner {
                file,
                end,
                written: end,
                index: scan.index,
                roots: scan.roots,
            }),
            appender: Mutex::new(Vec::new()),
            deferred_sync: AtomicBool::new(false),
        }
    }

    fn appender(&self) -> MutexGuard<'_, Vec<u8>> {
        // The guarded state is the file tail past `end` and the write
        // buffer, which every batch rewrites from scratch: ignore poison.
        self.appender.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // Writers restore every invariant before releasing the lock or fail
        // before changing anything in memory: ignore poison.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl NodeStore for DiskStore {
    fn set_deferred_sync(&self, on: bool) {
        self.deferred_sync.store(on, Ordering::Release);
    }

    fn sync(&self) -> Result<(), StoreError> {
        let inner = self.read();
        let end = inner.end;
        inner.file.sync_data()?;
        write_mark(&inner.file, end)
    }

    fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = self.read();
        match inner.index.find(&inner.file, inner.written, hash)? {
            Some(off) => Ok(Some(read_object(&inner.file, off)?)),
            None => Ok(None),
        }
    }

    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        let inner = self.read();
        Ok(inner
            .index
            .find(&inner.file, inner.written, hash)?
            .is_some())
    }

    fn write_batch(&self, objects: &[(Hash, Vec<u8>)], roots: &[Hash]) -> Result<(), StoreError> {
        let mut batch = self.begin_batch()?;
        for (h, b) in objects {
            batch.add(h, b)?;
        }
        batch.commit(roots)
    }

    fn begin_batch(&self) -> Result<Box<dyn BatchWriter + '_>, StoreError> {
        let mut buf = self.appender();
        buf.clear();
        if buf.capacity() > 2 * BUF_CAP {
            // Grown by a huge object: do not keep that.
            *buf = Vec::new();
        }
        buf.reserve(BUF_CAP);
        let start = self.read().end;
        Ok(Box::new(DiskBatch {
            store: self,
            buf,
            start,
            pos: start,
            sum: Checksum::new(),
            group: Vec::with_capacity(GROUP),
            committed: false,
            failed: false,
        }))
    }

    fn roots(&self) -> Result<Vec<Hash>, StoreError> {
        Ok(self.read().roots.iter().copied().collect())
    }

    fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep_roots: &[Hash]) -> Result<u64, StoreError> {
        // The appender lock keeps every writer of `Inner` out (batches hold it for their
        // whole life), so the copy needs only the read lock: reads go on, from the old file,
        // while it runs; the write lock is taken for the final switch only.
        let _appender = self.appender();
        let inner = self.read();
        let tmp = self.path.with_extension("gc-tmp");
        // A stale copy (interrupted GC) is replaced; the copy is locked like the store file
        // it becomes.
        let _ = std::fs::remove_file(&tmp);
        let tmp_file = open_file(&tmp)?;
        let before = inner.index.len() as u64;
        let copied = (|| -> Result<GcCopy, StoreError> {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, &tmp_file);
            out.write_all(MAGIC)?;
            // The mark is set once the copy is complete (below).
            out.write_all(&mark_bytes(0))?;
            let mut offsets: Vec<(Hash, u64)> = Vec::new();
            let mut sum = Checksum::new();
            let mut rec: Vec<u8> = Vec::new();
            let mut pos = HEADER as u64;
            let entries: Vec<u64> = inner.index.offsets().collect();
            for off in entries {
                let h = record_hash(&inner.file, off)?;
                if !live(&h) {
                    continue;
                }
                let bytes = read_object(&inner.file, off)?;
                rec.clear();
                push_object(&mut rec, &h, &bytes)?;
                sum.update(&rec);
                out.write_all(&rec)?;
                offsets.push((h, pos));
                pos += rec.len() as u64;
            }
            // A set: a full-mode rollup node keeps ~ a challenge window of roots.
            let keep: std::collections::HashSet<&Hash> = keep_roots.iter().collect();
            let kept_roots: Vec<Hash> = inner
                .roots
                .iter()
                .filter(|r| keep.contains(r))
                .copied()
                .collect();
            rec.clear();
            push_commit(&mut rec, sum, HEADER as u64, &kept_roots);
            out.write_all(&rec)?;
            pos += rec.len() as u64;
            out.flush()?;
            drop(out);
            // Synced with the copy, before the rename makes it the store.
            write_mark(&tmp_file, pos)?;
            tmp_file.sync_all()?;
            Ok(GcCopy {
                offsets,
                end: pos,
                roots: kept_roots,
            })
        })();
        let GcCopy {
            offsets,
            end: pos,
            roots: kept_roots,
        } = match copied {
            Ok(c) => c,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = std::fs::rename(&tmp, &self.path) {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.into());
        }
        // From the rename on, the copy is the store: switch to it before anything else can
        // fail, so that later commits never go to the unlinked old file. (Reads until the
        // switch use the old file's open handle, which still holds every object.)
        drop(inner);
        let mut inner = self.write();
        let mut index = Index::default();
        for (h, off) in offsets {
            index.insert(h, off);
        }
        let after = index.len() as u64;
        *inner = Inner {
            file: tmp_file,
            end: pos,
            written: pos,
            index,
            roots: kept_roots.into_iter().collect(),
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(before - after)
    }

    fn object_count(&self) -> Result<u64, StoreError> {
        Ok(self.read().index.len() as u64)
    }
}

impl Drop for DiskStore {
    /// Best effort: sync and mark everything committed, so that a clean
    /// close leaves no unmarked tail (damage to it would pass for a torn
    /// write).
    fn drop(&mut self) {
        let inner = self.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        if inner.file.sync_data().is_ok() && write_mark(&inner.file, inner.end).is_ok() {
            let _ = inner.file.sync_data();
        }
    }
}

/// A batch streamed into a [`DiskStore`]: object records are appended
/// past the last commit in chunks of [`WRITE_CHUNK`] bytes (so a commit's
/// memory is bounded by one chunk), indexed by groups of [`GROUP`] while
/// buffered and visible once their chunk is written; the commit record,
/// written last and followed by one `sync_data`, makes the batch durable.
/// Until then a crash loses the whole batch (the torn tail fails the scan
/// at open). Dropped uncommitted, the batch is rolled back: its objects
/// are unindexed and the file cut back.
struct DiskBatch<'a> {
    store: &'a DiskStore,
    /// The write buffer, in the appender lock held for the whole batch.
    buf: MutexGuard<'a, Vec<u8>>,
    /// Where the batch starts (the end of the last commit record).
    start: u64,
    /// File offset of `buf[0]` (`Inner::written` while the batch runs).
    pos: u64,
    sum: Checksum,
    /// Objects at the end of `buf` not indexed yet: hash and record length
    /// (the records follow each other, the last one ending `buf`).
    group: Vec<(Hash, usize)>,
    committed: bool,
    /// An `add` or `commit` failed: the buffer, checksum and index may be
    /// out of step, so the batch refuses anything but being dropped.
    failed: bool,
}

/// Initial capacity of a batch's write buffer.
const BUF_CAP: usize = WRITE_CHUNK + (1 << 16);

/// Objects of a batch are indexed this many at a time, under one lock (their
/// index probes overlap, instead of each waiting for a lock of its own).
const GROUP: usize = 64;

impl DiskBatch<'_> {
    /// File offset of the end of `buf`.
    fn buf_end(&self) -> Result<u64, StoreError> {
        self.pos
            .checked_add(self.buf.len() as u64)
            .ok_or_else(|| corrupt_file("pack file over 2^64 bytes"))
    }

    /// Index the objects of `group`, dropping from `buf` the records of
    /// objects already stored or added.
    fn index_group(&mut self) -> Result<(), StoreError> {
        let Some(total) = self
            .group
            .iter()
            .try_fold(0usize, |a, &(_, l)| a.checked_add(l))
        else {
            return Err(corrupt_file("batch buffer over usize"));
        };
        // Start of the first record of the group in `buf`.
        let mut rel = self
            .buf
            .len()
            .checked_sub(total)
            .ok_or_else(|| corrupt_file("group past the batch buffer"))?;
        let group = std::mem::take(&mut self.group);
        let mut inner = self.store.write();
        let Inner { file, index, .. } = &mut *inner;
        for &(hash, rec_len) in &group {
            let off = self
                .pos
                .checked_add(rel as u64)
                .ok_or_else(|| corrupt_file("pack file over 2^64 bytes"))?;
            let new = match index.by_prefix[shard(&hash)].entry(prefix(&hash)) {
                Entry::Vacant(v) => {
                    v.insert(off);
                    true
                }
                Entry::Occupied(o) => {
                    self.record_hash(file, *o.get())? != hash
                        && match index.overflow.entry(hash) {
                            Entry::Occupied(_) => false,
                            Entry::Vacant(v) => {
                                v.insert(off);
                                true
                            }
                        }
                }
            };
            if new {
                rel += rec_len;
            } else {
                // Rare (the caller skips what it knows is stored): the
                // records after it are not indexed yet, so they may move.
                self.buf.drain(rel..rel + rec_len);
            }
        }
        drop(inner);
        let mut group = group;
        group.clear();
        self.group = group;
        Ok(())
    }

    /// Write `buf` out, making its objects visible.
    fn flush(&mut self) -> Result<(), StoreError> {
        self.index_group()?;
        self.sum.update(&self.buf);
        let end = self.buf_end()?;
        self.store.read().file.write_all_at(&self.buf, self.pos)?;
        self.store.write().written = end;
        self.pos = end;
        self.buf.clear();
        Ok(())
    }

    /// The hash of the object record at `off`: in `buf` if not written yet.
    fn record_hash(&self, file: &File, off: u64) -> Result<Hash, StoreError> {
        match off.checked_sub(self.pos) {
            Some(rel) => {
                let at = usize::try_from(rel)
                    .ok()
                    .and_then(|r| r.checked_add(1))
                    .and_then(|r| Some((r, r.checked_add(32)?)))
                    .and_then(|(a, b)| self.buf.get(a..b))
                    .ok_or_else(|| corrupt_file("index entry past the batch buffer"))?;
                let mut h = [0u8; 32];
                h.copy_from_slice(at);
                Ok(Hash(h))
            }
            None => record_hash(file, off),
        }
    }
}

/// The error of any call on a batch after one of its calls failed.
fn batch_failed() -> StoreError {
    StoreError::Backend("an earlier write of this batch failed: drop the batch".to_string())
}

impl BatchWriter for DiskBatch<'_> {
    fn add(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        if self.failed {
            return Err(batch_failed());
        }
        let r = self.add_object(hash, bytes);
        self.failed = r.is_err();
        r
    }

    fn commit(mut self: Box<Self>, roots: &[Hash]) -> Result<(), StoreError> {
        if self.failed {
            return Err(batch_failed());
        }
        // On error the batch is dropped here, which rolls it back.
        self.finish(roots)
    }
}

impl DiskBatch<'_> {
    fn add_object(&mut self, hash: &Hash, bytes: &[u8]) -> Result<(), StoreError> {
        push_object(&mut self.buf, hash, bytes)?;
        // No overflow: `bytes` is in memory.
        self.group.push((*hash, OBJ_HEADER + bytes.len()));
        if self.buf.len() >= WRITE_CHUNK {
            self.flush()?;
        } else if self.group.len() >= GROUP {
            self.index_group()?;
        }
        Ok(())
    }

    fn finish(&mut self, roots: &[Hash]) -> Result<(), StoreError> {
        self.index_group()?;
        self.sum.update(&self.buf);
        let sum = std::mem::replace(&mut self.sum, Checksum::new());
        let start = self.start;
        push_commit(&mut self.buf, sum, start, roots);
        let end = self.buf_end()?;
        {
            let inner = self.store.read();
            inner.file.write_all_at(&self.buf, self.pos)?;
            if !self.store.deferred_sync.load(Ordering::Acquire) {
                inner.file.sync_data()?;
                write_mark(&inner.file, end)?;
            }
        }
        let mut inner = self.store.write();
        inner.written = end;
        inner.end = end;
        inner.roots.extend(roots.iter().copied());
        self.committed = true;
        Ok(())
    }
}

impl Drop for DiskBatch<'_> {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let start = self.start;
        let mut inner = self.store.write();
        inner.index.truncate(start);
        inner.written = start;
        // Best effort: the next batch overwrites this tail anyway, and a
        // scan at open ignores it.
        let _ = inner.file.set_len(start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(i: u8) -> (Hash, Vec<u8>) {
        (Hash([i; 32]), vec![i; 10 + usize::from(i)])
    }

    /// Reads do not wait for a GC sweep's copy (only for its final switch to the copy): a
    /// `get` made while the copy is stopped half-way answers at once.
    /// A copy of the synced header followed by the file up to the synced end opens as the
    /// same store while the writer goes on appending; a file that is not a pack is refused.
    #[test]
    fn a_synced_prefix_copy_is_a_valid_pack() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.pack");
        let s = DiskStore::open(&path).unwrap();
        s.write_batch(&[obj(1), obj(2)], &[Hash([1; 32])]).unwrap();
        let f = File::open(&path).unwrap();
        let (head, end) = synced_header(&f).unwrap();
        assert_eq!(end, f.metadata().unwrap().len());
        s.write_batch(&[obj(3)], &[Hash([3; 32])]).unwrap();
        let mut copy = head.to_vec();
        let mut body = vec![0u8; usize::try_from(end).unwrap() - PACK_HEADER_LEN];
        f.read_exact_at(&mut body, PACK_HEADER_LEN as u64).unwrap();
        copy.extend(body);
        let copy_path = dir.path().join("copy.pack");
        std::fs::write(&copy_path, copy).unwrap();
        let c = DiskStore::open(&copy_path).unwrap();
        assert!(c.get(&obj(2).0).unwrap().is_some());
        assert!(
            c.get(&obj(3).0).unwrap().is_none(),
            "written after the header was read"
        );
        std::fs::write(dir.path().join("other"), [0u8; 64]).unwrap();
        let other = File::open(dir.path().join("other")).unwrap();
        assert!(synced_header(&other).is_err());
    }

    #[test]
    fn reads_go_on_during_a_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.pack");
        let s = DiskStore::open(&path).unwrap();
        s.write_batch(&[obj(1), obj(2)], &[Hash([1; 32])]).unwrap();
        let (in_copy, copying) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        std::thread::scope(|scope| {
            let store = &s;
            let sweep = scope.spawn(move || {
                let live = |h: &Hash| {
                    let _ = in_copy.send(());
                    // Bounded: without the fix the read below never comes.
                    let _ = released.recv_timeout(std::time::Duration::from_secs(10));
                    *h == obj(1).0
                };
                store.retain(&live, &[Hash([1; 32])])
            });
            copying.recv().unwrap();
            let (tx, rx) = std::sync::mpsc::channel();
            scope.spawn(move || {
                let _ = tx.send(store.get(&obj(2).0).map_err(|e| e.to_string()));
            });
            let read = rx.recv_timeout(std::time::Duration::from_secs(2));
            let _ = release.send(());
            let _ = release.send(());
            assert_eq!(
                read.expect("a read during the sweep's copy answered within 2 s"),
                Ok(Some(obj(2).1))
            );
            assert_eq!(sweep.join().unwrap().unwrap(), 1);
        });
        assert_eq!(s.get(&obj(1).0).unwrap(), Some(obj(1).1));
        assert_eq!(s.get(&obj(2).0).unwrap(), None);
    }

    #[test]
    fn deferred_sync_batches_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.pack");
        {
            let s = DiskStore::open(&path).unwrap();
            s.set_deferred_sync(true);
            s.write_batch(&[obj(1)], &[Hash([1; 32])]).unwrap();
            s.write_batch(&[obj(2)], &[Hash([2; 32])]).unwrap();
            s.sync().unwrap();
            s.set_deferred_sync(false);
            s.write_batch(&[obj(3)], &[Hash([3; 32])]).unwrap();
        }
        let s = DiskStore::open(&path).unwrap();
        for i in 1..=3 {
            assert_eq!(s.get(&obj(i).0).unwrap(), Some(obj(i).1), "object {i}");
        }
        assert_eq!(s.roots().unwrap().len(), 3);
    }

    /// Copy of `path` named `name`, cut at `len` bytes.
    fn cut_copy(path: &Path, name: &str, len: u64) -> PathBuf {
        let copy = path.with_file_name(name);
        std::fs::copy(path, &copy).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&copy)
            .unwrap()
            .set_len(len)
            .unwrap();
        copy
    }

    /// XOR `0xA5` into the bytes of `path` at each offset in `at`.
    fn flip(path: &Path, at: &[u64]) {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .unwrap();
        for &o in at {
            let mut b = [0u8; 1];
            f.read_exact_at(&mut b, o).unwrap();
            f.write_all_at(&[b[0] ^ 0xA5], o).unwrap();
        }
    }

    fn corruption(r: Result<DiskStore, StoreError>) -> StoreCorruption {
        match r {
            Err(StoreError::Corrupted(c)) => *c,
            Err(e) => panic!("expected a corruption error, got {e}"),
            Ok(_) => panic!("a corrupted file was opened"),
        }
    }

    #[test]
    fn torn_last_batch_is_discarded_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.pack");
        let good_end;
        {
            let s = DiskStore::open(&path).unwrap();
            s.write_batch(&[obj(1), obj(2)], &[Hash([1; 32])]).unwrap();
            good_end = std::fs::metadata(&path).unwrap().len();
            // The next batches are never synced (the process dies first).
            s.set_deferred_sync(true);
            s.write_batch(&[obj(3), obj(4)], &[Hash([3; 32])]).unwrap();
            // Duplicates are not written twice.
            let before = std::fs::metadata(&path).unwrap().len();
            s.write_batch(&[obj(3)], &[]).unwrap();
            let after = std::fs::metadata(&path).unwrap().len();
            assert_eq!(after - before, (COMMIT_HEADER) as u64);
            // Killed: no sync, no mark at close.
            std::mem::forget(s);
        }
        let full = std::fs::metadata(&path).unwrap().len();
        // Every cut inside the second batch loses exactly that batch.
        for cut in [
            good_end + 1,
            good_end + 40,
            full - 30,
            full - COMMIT_HEADER as u64 - 1,
        ] {
            let copy = cut_copy(&path, &format!("cut-{cut}.pack"), cut);
            let s = DiskStore::open(&copy).unwrap();
            assert_eq!(s.object_count().unwrap(), 2, "cut at {cut}");
            assert_eq!(s.roots().unwrap(), vec![Hash([1; 32])]);
            assert_eq!(s.get(&obj(2).0).unwrap(), Some(obj(2).1));
            assert_eq!(s.get(&obj(3).0).unwrap(), None);
            assert_eq!(std::fs::metadata(&copy).unwrap().len(), good_end);
            // The torn tail is gone: appending works and survives a reopen.
            s.write_batch(&[obj(5)], &[Hash([5; 32])]).unwrap();
            drop(s);
            let s = DiskStore::open(&copy).unwrap();
            assert_eq!(s.object_count().unwrap(), 3);
            assert_eq!(s.get(&obj(5).0).unwrap(), Some(obj(5).1));
        }
        // Unsynced batches that made it whole are kept, then marked.
        let copy = cut_copy(&path, "whole.pack", full);
        let s = DiskStore::open(&copy).unwrap();
        assert_eq!(s.object_count().unwrap(), 4);
        drop(s);
        flip(&copy, &[good_end + 50]);
        let c = corruption(DiskStore::open(&copy));
        assert_eq!(c.offset, good_end, "{c}");
        // A flipped byte in the unsynced tail cannot be told from a torn
        // write: that tail is cut.
        let copy = cut_copy(&path, "flipped-tail.pack", full);
        flip(&copy, &[good_end + 50]);
        let s = DiskStore::open(&copy).unwrap();
        assert_eq!(s.object_count().unwrap(), 2);
    }

    /// A store of five synced batches of 20 objects each; returns the path
    /// and the start offset of each batch.
    fn five_batches(dir: &Path) -> (PathBuf, Vec<u64>) {
        let path = dir.join("store.pack");
        let s = DiskStore::open(&path).unwrap();
        let mut starts = Vec::new();
        for b in 0..5u32 {
            starts.push(std::fs::metadata(&path).unwrap().len());
            let objs: Vec<_> = (b * 20..b * 20 + 20).map(|i| hobj(i, None)).collect();
            s.write_batch(&objs, &[objs[0].0]).unwrap();
        }
        (path, starts)
    }

    #[test]
    fn flipped_bytes_in_the_middle_are_refused_with_the_file_and_offset() {
        let dir = tempfile::tempdir().unwrap();
        let (path, starts) = five_batches(dir.path());
        let len = std::fs::metadata(&path).unwrap().len();
        // Three bytes inside the third batch (an object's payload).
        flip(&path, &[starts[2] + 60, starts[2] + 61, starts[2] + 200]);
        let c = corruption(DiskStore::open(&path));
        assert_eq!(c.file, path);
        assert_eq!(c.offset, starts[2]);
        assert_eq!(c.synced, len);
        let msg = StoreError::Corrupted(Box::new(c.clone())).to_string();
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        assert!(msg.contains(&format!("offset {}", starts[2])), "{msg}");
        assert!(msg.contains("checksum"), "{msg}");
        // Refusing keeps every byte.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
        // Asked to, the damaged batch and what follows are cut away.
        let (s, damage) = DiskStore::open_with(&path, Recovery::Truncate).unwrap();
        assert_eq!(damage, Some(c));
        assert_eq!(s.object_count().unwrap(), 40);
        assert_eq!(s.roots().unwrap().len(), 2);
        assert_eq!(s.get(&hobj(39, None).0).unwrap(), Some(hobj(39, None).1));
        assert_eq!(s.get(&hobj(40, None).0).unwrap(), None);
        drop(s);
        let s = DiskStore::open(&path).unwrap();
        assert_eq!(s.object_count().unwrap(), 40);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), starts[2]);
    }

    #[test]
    fn damaged_lengths_tags_marks_and_cut_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, starts) = five_batches(dir.path());
        let len = std::fs::metadata(&path).unwrap().len();
        // An object length claiming far past the end of the file (no huge
        // allocation, no torn-tail guess).
        let copy = cut_copy(&path, "length.pack", len);
        flip(&copy, &[starts[1] + 1 + 32 + 3]);
        let c = corruption(DiskStore::open(&copy));
        assert_eq!(c.offset, starts[1]);
        assert!(c.detail.contains("past the end of the file"), "{c}");
        // A record tag.
        let copy = cut_copy(&path, "tag.pack", len);
        flip(&copy, &[starts[3]]);
        let c = corruption(DiskStore::open(&copy));
        assert_eq!(c.offset, starts[3]);
        assert!(c.detail.contains("unknown record tag"), "{c}");
        // The file cut short, at a batch boundary or inside a batch.
        for cut in [starts[4], starts[4] + 10] {
            let copy = cut_copy(&path, &format!("short-{cut}.pack"), cut);
            let c = corruption(DiskStore::open(&copy));
            assert_eq!(c.offset, starts[4], "{c}");
            assert_eq!(c.synced, len);
        }
        // The synced mark itself.
        let copy = cut_copy(&path, "mark.pack", len);
        flip(&copy, &[MARK_AT + 2]);
        let c = corruption(DiskStore::open(&copy));
        assert_eq!(c.offset, MARK_AT);
        let (s, _) = DiskStore::open_with(&copy, Recovery::Truncate).unwrap();
        assert_eq!(s.object_count().unwrap(), 100);
        drop(s);
        assert_eq!(DiskStore::open(&copy).unwrap().object_count().unwrap(), 100);
        // Not a pack file at all.
        let other = dir.path().join("other.pack");
        std::fs::write(&other, b"hello, world: not a pack file").unwrap();
        let e = DiskStore::open(&other).err().unwrap().to_string();
        assert!(e.contains("not a durable-tree pack file"), "{e}");
    }

    /// A version-1 file (no synced mark) holding `batches` of objects.
    fn v1_file(path: &Path, batches: &[Vec<(Hash, Vec<u8>)>]) -> Vec<u64> {
        let mut bytes = MAGIC_V1.to_vec();
        let mut starts = Vec::new();
        for b in batches {
            let start = bytes.len() as u64;
            starts.push(start);
            let mut rec = Vec::new();
            for (h, o) in b {
                push_object(&mut rec, h, o).unwrap();
            }
            let mut sum = Checksum::new();
            sum.update(&rec);
            push_commit(&mut rec, sum, start, &[b[0].0]);
            bytes.extend_from_slice(&rec);
        }
        std::fs::write(path, &bytes).unwrap();
        starts
    }

    #[test]
    fn version_1_files_are_checked_and_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let batches: Vec<Vec<_>> = (0..4u32)
            .map(|b| (b * 10..b * 10 + 10).map(|i| hobj(i, None)).collect())
            .collect();
        let path = dir.path().join("v1.pack");
        let starts = v1_file(&path, &batches);
        let len = std::fs::metadata(&path).unwrap().len();
        // Torn tail: recovered silently.
        let torn = cut_copy(&path, "v1-torn.pack", len - 5);
        let s = DiskStore::open(&torn).unwrap();
        assert_eq!(s.object_count().unwrap(), 30);
        drop(s);
        // Damage inside a batch whose commit record follows: refused.
        let bad = cut_copy(&path, "v1-bad.pack", len);
        flip(&bad, &[starts[1] + 50]);
        let c = corruption(DiskStore::open(&bad));
        assert_eq!((c.file, c.offset), (bad, starts[1]));
        // A whole file opens, and is rewritten in version 2.
        let s = DiskStore::open(&path).unwrap();
        assert_eq!(s.object_count().unwrap(), 40);
        assert_eq!(s.roots().unwrap().len(), 4);
        drop(s);
        assert_eq!(&std::fs::read(&path).unwrap()[..8], MAGIC);
        let s = DiskStore::open(&path).unwrap();
        for i in 0..40 {
            assert_eq!(s.get(&hobj(i, None).0).unwrap(), Some(hobj(i, None).1));
        }
    }

    #[test]
    fn streamed_batches_commit_or_roll_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.pack");
        // Objects large enough that a batch spans several chunks.
        let big = |i: u32| (Hash([i as u8; 32]), vec![i as u8; 700_000]);
        {
            let s = DiskStore::open(&path).unwrap();
            s.write_batch(&[obj(1)], &[Hash([1; 32])]).unwrap();
            let end = std::fs::metadata(&path).unwrap().len();
            let mut b = s.begin_batch().unwrap();
            for i in 10..30 {
                let (h, o) = big(i);
                b.add(&h, &o).unwrap();
            }
            drop(b);
            // Rolled back: nothing of it is visible, the file is cut back.
            assert_eq!(s.object_count().unwrap(), 1);
            assert_eq!(s.get(&big(10).0).unwrap(), None);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), end);
            let mut b = s.begin_batch().unwrap();
            for i in 10..30 {
                let (h, o) = big(i);
                b.add(&h, &o).unwrap();
                // Duplicates within a batch are written once.
                b.add(&h, &o).unwrap();
            }
            b.commit(&[Hash([10; 32])]).unwrap();
            assert_eq!(s.object_count().unwrap(), 21);
        }
        let s = DiskStore::open(&path).unwrap();
        assert_eq!(s.object_count().unwrap(), 21);
        assert_eq!(s.get(&big(29).0).unwrap(), Some(big(29).1));
        assert_eq!(s.roots().unwrap(), vec![Hash([1; 32]), Hash([10; 32])]);
    }

    /// Objects with a distinct hash per `i` (prefix `p`, if given, shared).
    fn hobj(i: u32, p: Option<u8>) -> (Hash, Vec<u8>) {
        let mut h = [0u8; 32];
        let x = u64::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h[..8].copy_from_slice(&x.to_le_bytes());
        if let Some(p) = p {
            h[..8].fill(p);
        }
        h[8..12].copy_from_slice(&i.to_le_bytes());
        (Hash(h), vec![i as u8; 20 + (i as usize % 50)])
    }

    fn rec_len(o: &(Hash, Vec<u8>)) -> u64 {
        (OBJ_HEADER + o.1.len()) as u64
    }

    #[test]
    fn batch_skips_stored_and_repeated_objects() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.pack");
        let stored: Vec<_> = (0..300).map(|i| hobj(i, None)).collect();
        // Same 8-byte prefix as each other and as stored object 5.
        let mut coll: Vec<_> = (1000..1010).map(|i| hobj(i, Some(9))).collect();
        coll.push(hobj(5, Some(9)));
        {
            let s = DiskStore::open(&path).unwrap();
            s.write_batch(&stored, &[]).unwrap();
            s.write_batch(&[coll[10].clone()], &[]).unwrap();
            let before = std::fs::metadata(&path).unwrap().len();
            let mut b = s.begin_batch().unwrap();
            let mut want = COMMIT_HEADER as u64;
            for i in 300..700 {
                let o = hobj(i, None);
                b.add(&o.0, &o.1).unwrap();
                want += rec_len(&o);
                // Already stored, and repeated inside and across groups.
                let old = &stored[(i as usize * 7) % 300];
                b.add(&old.0, &old.1).unwrap();
                let again = hobj(300 + (i - 300) / 3, None);
                b.add(&again.0, &again.1).unwrap();
                // Buffered objects are not visible yet.
                assert!(!s.contains(&o.0).unwrap());
            }
            for o in &coll {
                b.add(&o.0, &o.1).unwrap();
                b.add(&o.0, &o.1).unwrap();
            }
            want += coll[..10].iter().map(rec_len).sum::<u64>();
            b.commit(&[]).unwrap();
            let after = std::fs::metadata(&path).unwrap().len();
            assert_eq!(after - before, want);
            assert_eq!(s.object_count().unwrap(), 700 + 11);
            // An abandoned batch leaves nothing, and its objects can be
            // stored again.
            let mut b = s.begin_batch().unwrap();
            for i in 2000..2100 {
                let o = hobj(i, Some(9));
                b.add(&o.0, &o.1).unwrap();
            }
            drop(b);
            assert_eq!(s.get(&hobj(2050, Some(9)).0).unwrap(), None);
            s.write_batch(&[hobj(2050, Some(9))], &[]).unwrap();
            assert_eq!(s.object_count().unwrap(), 700 + 12);
        }
        let s = DiskStore::open(&path).unwrap();
        assert_eq!(s.object_count().unwrap(), 700 + 12);
        for i in (0..700).chain([2050]) {
            let o = hobj(i, (i == 2050).then_some(9));
            assert_eq!(s.get(&o.0).unwrap(), Some(o.1), "object {i}");
        }
        for o in &coll {
            assert_eq!(s.get(&o.0).unwrap().as_ref(), Some(&o.1));
        }
        assert_eq!(s.get(&hobj(2051, Some(9)).0).unwrap(), None);
    }

    #[test]
    fn prefix_collisions_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.pack");
        let mut a = [7u8; 32];
        let mut b = [7u8; 32];
        a[31] = 1;
        b[31] = 2;
        {
            let s = DiskStore::open(&path).unwrap();
            s.write_batch(&[(Hash(a), b"a".to_vec()), (Hash(b), b"b".to_vec())], &[])
                .unwrap();
            assert_eq!(s.get(&Hash(a)).unwrap().unwrap(), b"a");
            assert_eq!(s.get(&Hash(b)).unwrap().unwrap(), b"b");
            assert!(!s.contains(&Hash([7; 32])).unwrap());
            // A second handle on the same file is refused.
            assert!(DiskStore::open(&path).is_err());
        }
        let s = DiskStore::open(&path).unwrap();
        assert_eq!(s.object_count().unwrap(), 2);
        assert_eq!(s.get(&Hash(b)).unwrap().unwrap(), b"b");
        s.retain(&|h| *h == Hash(b), &[]).unwrap();
        assert_eq!(s.object_count().unwrap(), 1);
        assert_eq!(s.get(&Hash(b)).unwrap().unwrap(), b"b");
        assert_eq!(s.get(&Hash(a)).unwrap(), None);
    }
}
