//! Crash test: a process replacing a file in a loop is killed (SIGKILL) at random points; the
//! file always holds one whole version. The same loop with `std::fs::write` (in place) leaves
//! truncated files, which is what this crate replaces.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

const SIZE: usize = 4 << 20;
const CHILD_ENV: &str = "ATOMIC_FILE_CRASH_CHILD";

/// The writer run in a child process: versions `a`, `b`, `c`, ... of `SIZE` bytes, forever.
/// Run only by [`kill_9_never_leaves_a_partial_file`] (ignored otherwise).
#[test]
#[ignore = "the child process of kill_9_never_leaves_a_partial_file"]
fn crash_child_writer() {
    let path = std::env::var(CHILD_ENV).expect("run by the crash test");
    let in_place = std::env::var("ATOMIC_FILE_IN_PLACE").is_ok();
    for i in 0u8.. {
        let body = vec![b'a' + i % 26; SIZE];
        if in_place {
            std::fs::write(&path, &body).expect("write");
        } else {
            atomic_file::write(Path::new(&path), &body).expect("write");
        }
        let _ = std::fs::write(format!("{path}.started"), b"");
    }
}

/// Kills a writer `rounds` times; returns how many times the file was not one whole version.
fn torn_files(in_place: bool, rounds: u32) -> u32 {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("file");
    std::fs::write(&path, vec![b'z'; SIZE]).expect("initial version");
    let mut torn = 0;
    for round in 0..rounds {
        let mut cmd = Command::new(std::env::current_exe().expect("test binary"));
        cmd.args(["--ignored", "--exact", "crash_child_writer", "--nocapture"])
            .env(CHILD_ENV, &path)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        if in_place {
            cmd.env("ATOMIC_FILE_IN_PLACE", "1");
        }
        let _ = std::fs::remove_file(dir.path().join("file.started"));
        let mut child = cmd.spawn().expect("spawn the writer");
        // Let it complete at least one version, then kill it at a point that varies.
        let started = dir.path().join("file.started");
        for _ in 0..2000 {
            if started.exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(u64::from(round % 7) * 700));
        child.kill().expect("SIGKILL");
        child.wait().expect("wait");
        let got = std::fs::read(&path).expect("the file exists");
        let whole = got.len() == SIZE && got.iter().all(|b| *b == got[0]);
        if !whole {
            torn += 1;
        }
    }
    torn
}

#[test]
fn kill_9_never_leaves_a_partial_file() {
    assert_eq!(
        torn_files(false, 12),
        0,
        "atomic_file::write left a torn file"
    );
}

/// The baseline that shows the test can fail: writing in place is torn by a kill.
#[test]
fn kill_9_tears_an_in_place_write() {
    assert!(
        torn_files(true, 12) > 0,
        "no torn in-place write observed: the crash test would not catch one"
    );
}
