//! On-disk cache of compiled kernels, so that a restart does not compile the kernel again
//! (about 5 s for an 8 MB kernel).
//!
//! Key: blake2b-256 of the engine fingerprint and of the instrumented module. The engine
//! fingerprint hashes wasmtime's `Engine::precompile_compatibility_hash` (its version, the
//! target, the Cranelift flags, the tunables and the WebAssembly features) with this crate's
//! version and [`FORMAT`]; the instrumented module is a function of the kernel and of
//! [`crate::instrument`], so a kernel upgrade, an engine upgrade, a configuration change or a
//! change of the instrumentation all give another key.
//!
//! Entry file `<key hex>.cwasm`: `MAGIC ‖ key[32] ‖ u64 LE length ‖ checksum[32] ‖ bytes`,
//! where `bytes` is `Module::serialize` and `checksum` is the blake2b-256 of `bytes` (length
//! prefixed, [`context_hash::contents_hash`]). An entry is trusted only when all of that
//! matches ([`verify`]); anything else (truncated, flipped bytes, another key, another
//! format) is counted as rejected, and the kernel is compiled and the entry written again.
//! Entries are written to a temporary file renamed into place; they are not synced: a crash
//! can only leave an entry that fails [`verify`].
//!
//! Why `unsafe`: wasmtime has no safe way to load compiled code (`Module::deserialize` is
//! `unsafe` because the bytes become executable code; its built-in cache needs the `cache`
//! build feature and its dependencies, and does not checksum entries). [`load`] is the one
//! place where it is called, on bytes that [`verify`] proved identical to those this cache
//! wrote from `Module::serialize` of the same engine configuration; it reads the file into
//! memory first (never `deserialize_file`, whose mapping would stay open to later changes).
//! What remains trusted is the data directory itself, as for the node's other state: whoever
//! can write into it can also write the checksum.

use std::path::{Path, PathBuf};

use context_hash::{Hash, contents_hash};
use wasmtime::{Engine, Module};

/// Format of the entries (part of the key and of the header).
pub const FORMAT: &[u8; 8] = b"PVMWC001";
/// Entries kept: the most recently used (a kernel and its upgrade, with room for an engine
/// upgrade).
pub const MAX_ENTRIES: usize = 4;
/// Entries over this size are not read (a damaged file must not exhaust memory).
const MAX_ENTRY_BYTES: u64 = 1 << 30;
/// Header: magic, key, length, checksum.
const HEADER: usize = 8 + 32 + 8 + 32;
/// Extension of the entry files.
const EXT: &str = "cwasm";

/// What the disk cache did since the engine was built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskCacheStats {
    /// Kernels loaded from a verified entry.
    pub hits: u64,
    /// Kernels compiled because no entry existed.
    pub misses: u64,
    /// Entries found damaged or stale, not used, and rebuilt.
    pub rejected: u64,
    /// Entries that could not be written (the run goes on with the compiled kernel).
    pub write_failures: u64,
    /// Why the last entry was rejected or could not be written.
    pub last_problem: Option<String>,
}

/// The compiled-kernel directory of one engine.
#[derive(Debug)]
pub(crate) struct DiskCache {
    dir: PathBuf,
    fingerprint: Hash,
    pub(crate) stats: DiskCacheStats,
}

/// Collects the bytes a `Hash` implementation feeds (for the engine fingerprint).
struct Bytes(Vec<u8>);

impl std::hash::Hasher for Bytes {
    fn finish(&self) -> u64 {
        0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// The engine fingerprint: what makes compiled code of one engine usable by another.
fn fingerprint(engine: &Engine) -> Hash {
    use std::hash::Hash as _;
    let mut b = Bytes(Vec::new());
    engine.precompile_compatibility_hash().hash(&mut b);
    b.0.extend_from_slice(FORMAT);
    b.0.extend_from_slice(env!("CARGO_PKG_VERSION").as_bytes());
    contents_hash(&b.0)
}

/// Serialized module bytes that [`verify`] accepted.
struct Verified(Vec<u8>);

/// Checks an entry file's bytes against `key`: magic, key, length and checksum.
fn verify(key: &Hash, mut file: Vec<u8>) -> Result<Verified, String> {
    if file.len() < HEADER {
        return Err(format!("{} bytes, shorter than the header", file.len()));
    }
    if &file[..8] != FORMAT {
        return Err("another format".into());
    }
    if file[8..40] != key.0 {
        return Err("the entry is for another key".into());
    }
    let mut w = [0u8; 8];
    w.copy_from_slice(&file[40..48]);
    let len = u64::from_le_bytes(w);
    let have = (file.len() - HEADER) as u64;
    if len != have {
        return Err(format!(
            "{have} bytes of module, {len} expected (truncated?)"
        ));
    }
    let bytes = file.split_off(HEADER);
    if contents_hash(&bytes).0[..] != file[48..80] {
        return Err("the checksum does not match the bytes".into());
    }
    Ok(Verified(bytes))
}

/// Loads verified bytes as a module of `engine`.
#[expect(
    unsafe_code,
    reason = "Module::deserialize of bytes this cache wrote, verified by their checksum"
)]
fn load(engine: &Engine, bytes: &Verified) -> Result<Module, String> {
    // SAFETY: `Verified` is only built by `verify`, which checked that these bytes are,
    // byte for byte (blake2b-256), those written by `DiskCache::store` from `Module::serialize`
    // for this key; the key includes the engine's compatibility hash, and wasmtime itself
    // rejects (safely, with an error) code of another version or configuration. The bytes are
    // copied into wasmtime's own memory, so later changes to the file cannot reach the module.
    unsafe { Module::deserialize(engine, &bytes.0) }.map_err(|e| format!("{e:?}"))
}

impl DiskCache {
    /// The cache in `dir` (created when the first entry is written) for `engine`.
    pub(crate) fn new(dir: PathBuf, engine: &Engine) -> Self {
        DiskCache {
            dir,
            fingerprint: fingerprint(engine),
            stats: DiskCacheStats::default(),
        }
    }

    /// The key of an instrumented module.
    pub(crate) fn key(&self, instrumented: &[u8]) -> Hash {
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(&self.fingerprint.0);
        b[32..].copy_from_slice(&contents_hash(instrumented).0);
        contents_hash(&b)
    }

    fn path(&self, key: &Hash) -> PathBuf {
        let mut name = String::with_capacity(70);
        for b in key.0 {
            name.push_str(&format!("{b:02x}"));
        }
        self.dir.join(format!("{name}.{EXT}"))
    }

    /// The module stored under `key`, if its entry is sound; a damaged entry is counted,
    /// removed and `None` returned (the caller compiles and stores it again).
    pub(crate) fn get(&mut self, engine: &Engine, key: &Hash) -> Option<Module> {
        let path = self.path(key);
        let read = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.stats.misses += 1;
                return None;
            }
            Err(e) => Err(e.to_string()),
            Ok(m) if m.len() > MAX_ENTRY_BYTES => Err(format!("{} bytes, too large", m.len())),
            Ok(_) => std::fs::read(&path).map_err(|e| e.to_string()),
        };
        match read
            .and_then(|bytes| verify(key, bytes))
            .and_then(|v| load(engine, &v))
        {
            Ok(m) => {
                self.stats.hits += 1;
                // Most recently used: kept by `prune`. Best effort.
                if let Ok(f) = std::fs::File::options().append(true).open(&path) {
                    let _ = f.set_modified(std::time::SystemTime::now());
                }
                Some(m)
            }
            Err(why) => {
                self.stats.rejected += 1;
                self.stats.last_problem = Some(format!("{}: {why}", path.display()));
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `module` under `key` (best effort: a failure is counted, never fatal).
    pub(crate) fn put(&mut self, key: &Hash, module: &Module) {
        if let Err(why) = self.write(key, module) {
            self.stats.write_failures += 1;
            self.stats.last_problem = Some(why);
        }
        self.prune();
    }

    fn write(&self, key: &Hash, module: &Module) -> Result<(), String> {
        let bytes = module
            .serialize()
            .map_err(|e| format!("cannot serialize the module: {e:?}"))?;
        let path = self.path(key);
        let what = |e: std::io::Error| format!("{}: {e}", path.display());
        std::fs::create_dir_all(&self.dir).map_err(|e| format!("{}: {e}", self.dir.display()))?;
        let mut out = Vec::with_capacity(HEADER + bytes.len());
        out.extend_from_slice(FORMAT);
        out.extend_from_slice(&key.0);
        out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        out.extend_from_slice(&contents_hash(&bytes).0);
        out.extend_from_slice(&bytes);
        atomic_file::write(&path, &out).map_err(what)
    }

    /// Removes all but the [`MAX_ENTRIES`] most recently used entries, and the temporary files
    /// that a process killed while writing an entry left (entries are written synchronously,
    /// before this runs, so any temporary file is stale).
    fn prune(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let paths: Vec<PathBuf> = dir.filter_map(Result::ok).map(|e| e.path()).collect();
        for p in paths.iter().filter(|p| atomic_file::is_temporary(p)) {
            let _ = std::fs::remove_file(p);
        }
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = paths
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == EXT))
            .filter_map(|p| Some((std::fs::metadata(&p).ok()?.modified().ok()?, p)))
            .collect();
        if entries.len() <= MAX_ENTRIES {
            return;
        }
        entries.sort();
        let extra = entries.len() - MAX_ENTRIES;
        for (_, p) in entries.into_iter().take(extra) {
            let _ = std::fs::remove_file(p);
        }
    }

    /// The directory of the entries.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_rejects_every_damage() {
        let key = Hash([7; 32]);
        let bytes = b"serialized module".to_vec();
        let mut good = FORMAT.to_vec();
        good.extend_from_slice(&key.0);
        good.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        good.extend_from_slice(&contents_hash(&bytes).0);
        good.extend_from_slice(&bytes);
        assert_eq!(verify(&key, good.clone()).unwrap().0, bytes);
        // Truncated anywhere.
        for cut in [0, 5, HEADER - 1, HEADER, good.len() - 1] {
            assert!(verify(&key, good[..cut].to_vec()).is_err(), "cut at {cut}");
        }
        // A flipped byte anywhere.
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0x10;
            assert!(verify(&key, bad).is_err(), "flip at {at}");
        }
        // Another key.
        assert!(verify(&Hash([8; 32]), good).is_err());
    }
}
