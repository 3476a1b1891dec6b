//! The on-disk cache of compiled kernels (`crates/pvm-wasmtime/src/disk_cache.rs`): a new
//! engine on the same directory loads the kernel instead of compiling it, a damaged or stale
//! entry is never used but rebuilt, and another engine configuration never shares an entry.

use std::path::{Path, PathBuf};

use pvm_wasmtime::{DiskCacheStats, Options, WasmtimeEngine};
use wasm_pvm::{PvmVersion, RunOutcome};

use crate::common::{Env, prelude};

/// A kernel that saves 41 + the number of runs so far into `/r00`.
fn kernel() -> String {
    format!(
        r#"(module {}
          (func (export "kernel_run")
            (call $save (i32.const 0) (i32.const 42))))"#,
        prelude("")
    )
}

fn cached_engine(dir: &Path, options: Options) -> WasmtimeEngine {
    WasmtimeEngine::with_options(options)
        .expect("engine")
        .with_disk_cache(dir)
}

/// Runs the kernel on a fresh engine over `dir`; returns the engine's cache counters.
fn run_once(dir: &Path, options: Options) -> DiskCacheStats {
    let mut e = cached_engine(dir, options);
    let mut env = Env::new(PvmVersion::V6);
    assert_eq!(
        env.run(&mut e, &kernel()).expect("run"),
        RunOutcome::Returned
    );
    assert_eq!(env.code(0), 42);
    e.disk_cache_stats().expect("a disk cache").clone()
}

/// The one entry in `dir`.
fn entry(dir: &Path) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("cache dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries.into_iter().next().unwrap_or_default()
}

fn counts(s: &DiskCacheStats) -> (u64, u64, u64, u64) {
    (s.hits, s.misses, s.rejected, s.write_failures)
}

#[test]
fn a_restarted_engine_loads_the_compiled_kernel() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("compiled");
    let opts = Options::default();
    assert_eq!(counts(&run_once(&dir, opts)), (0, 1, 0, 0));
    let file = entry(&dir);
    assert_eq!(file.extension().and_then(|e| e.to_str()), Some("cwasm"));
    // A new engine (a restart): loaded, not compiled.
    assert_eq!(counts(&run_once(&dir, opts)), (1, 0, 0, 0));
    // Within one engine, the in-memory cache answers: the disk is read once.
    let mut e = cached_engine(&dir, opts);
    let mut env = Env::new(PvmVersion::V6);
    for _ in 0..3 {
        env.run(&mut e, &kernel()).expect("run");
    }
    assert_eq!(counts(e.disk_cache_stats().expect("stats")), (1, 0, 0, 0));
    // Another configuration never uses that entry: its own key, its own entry.
    let other = Options {
        interruptible: true,
    };
    assert_eq!(counts(&run_once(&dir, other)), (0, 1, 0, 0));
    assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 2);
}

#[test]
fn damaged_entries_are_detected_and_rebuilt() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("compiled");
    let opts = Options::default();
    run_once(&dir, opts);
    let file = entry(&dir);
    let good = std::fs::read(&file).expect("entry");
    let len = good.len();
    let damages: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", good[..len / 2].to_vec()),
        ("empty", Vec::new()),
        ("flipped byte in the code", {
            let mut b = good.clone();
            b[len - len / 3] ^= 0x40;
            b
        }),
        ("flipped byte in the header", {
            let mut b = good.clone();
            b[50] ^= 1;
            b
        }),
        ("another format version", {
            let mut b = good.clone();
            b[7] = b'9';
            b
        }),
    ];
    for (what, bytes) in damages {
        std::fs::write(&file, &bytes).expect("damage");
        let s = run_once(&dir, opts);
        assert_eq!(counts(&s), (0, 0, 1, 0), "{what}: {s:?}");
        assert!(
            s.last_problem
                .as_deref()
                .is_some_and(|p| p.contains(".cwasm")),
            "{what}: {s:?}"
        );
        // Rebuilt: the entry is whole again and the next engine loads it.
        assert_eq!(std::fs::read(&file).expect("entry"), good, "{what}");
        assert_eq!(counts(&run_once(&dir, opts)), (1, 0, 0, 0), "{what}");
    }
}

#[test]
fn code_of_another_engine_configuration_is_refused_by_wasmtime_and_rebuilt() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let opts = Options::default();
    run_once(&a, opts);
    run_once(
        &b,
        Options {
            interruptible: true,
        },
    );
    let (file, good) = (entry(&a), std::fs::read(entry(&a)).expect("entry"));
    // A well-formed entry for the default engine's key, with a sound checksum, holding the
    // code compiled by another configuration (as an engine upgrade could leave behind).
    let other = std::fs::read(entry(&b)).expect("entry")[80..].to_vec();
    let mut forged = good[..40].to_vec();
    forged.extend_from_slice(&(other.len() as u64).to_le_bytes());
    forged.extend_from_slice(&context_hash::contents_hash(&other).0);
    forged.extend_from_slice(&other);
    std::fs::write(&file, &forged).expect("forge");
    let s = run_once(&a, opts);
    assert_eq!(counts(&s), (0, 0, 1, 0), "{s:?}");
    assert_eq!(std::fs::read(&file).expect("entry"), good);
}

#[test]
fn an_unwritable_cache_only_costs_the_compilation() {
    let tmp = tempfile::tempdir().expect("tmp");
    // A file where the directory should be.
    let dir = tmp.path().join("not-a-dir");
    std::fs::write(&dir, b"x").expect("file");
    let s = run_once(&dir, Options::default());
    assert_eq!((s.hits, s.write_failures), (0, 1), "{s:?}");
}

#[test]
fn temporary_files_of_a_killed_writer_are_removed() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("compiled");
    std::fs::create_dir_all(&dir).expect("dir");
    // What a process killed between writing and renaming an entry leaves.
    let stale = dir.join(".0123.cwasm.atomic-tmp-999999999-0");
    std::fs::write(&stale, b"half an entry").expect("write");
    assert_eq!(counts(&run_once(&dir, Options::default())), (0, 1, 0, 0));
    assert!(!stale.exists(), "the stale temporary file is still there");
    assert_eq!(
        entry(&dir).extension().and_then(|e| e.to_str()),
        Some("cwasm")
    );
}
