//! Reveal channel through the debugger: pre-image directory, endpoint, stdin prompt,
//! metadata.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::thread;
use std::time::Duration;

use crate::{run_debugger, write_wat};

const ROLLUP: &str = "sr1UNDWPUYVeomgG15wn5jSw689EJ4RNnVQa";

fn reveal_hash(data: &[u8]) -> [u8; 33] {
    let mut h = [0u8; 33];
    h[1..].copy_from_slice(
        blake2b_simd::Params::new()
            .hash_length(32)
            .hash(data)
            .as_bytes(),
    );
    h
}

/// Kernel revealing `hash` into `/pre` and the metadata into `/meta`.
fn reveal_kernel(hash: &[u8; 33]) -> String {
    let escaped: String = hash.iter().map(|b| format!("\\{b:02x}")).collect();
    format!(
        r#"(module
  (import "smart_rollup_core" "reveal_preimage" (func $reveal (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "reveal_metadata" (func $meta (param i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/pre")
  (data (i32.const 8) "/meta")
  (data (i32.const 100) "{escaped}")
  (func (export "kernel_run")
    (local $n i32)
    (local.set $n (call $reveal (i32.const 100) (i32.const 33) (i32.const 1000) (i32.const 4096)))
    (drop (call $store_write (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 1000) (local.get $n)))
    (local.set $n (call $meta (i32.const 6000) (i32.const 100)))
    (drop (call $store_write (i32.const 8) (i32.const 5) (i32.const 0) (i32.const 6000) (local.get $n)))))"#
    )
}

fn rollup_bytes() -> Vec<u8> {
    tezos_types::SmartRollupAddress::from_b58check(ROLLUP)
        .unwrap()
        .as_bytes()
        .to_vec()
}

#[test]
fn preimage_from_directory_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"revealed data".to_vec();
    let hash = reveal_hash(&data);
    std::fs::create_dir(dir.path().join("pre")).unwrap();
    std::fs::write(dir.path().join("pre").join(hex::encode(hash)), &data).unwrap();
    let k = write_wat(dir.path(), "k.wat", &reveal_kernel(&hash));
    std::fs::write(dir.path().join("in.json"), "[[]]").unwrap();
    let r = run_debugger(
        dir.path(),
        &[
            "--kernel",
            &k,
            "--inputs",
            "in.json",
            "--preimage-dir",
            "pre",
            "--rollup",
            ROLLUP,
        ],
        "step inbox\nshow key /pre as string\nshow key /meta\n",
    );
    assert!(r.success, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("revealed data\n"), "{}", r.stdout);
    let meta = format!("{}00000000\n", hex::encode(rollup_bytes()));
    assert!(
        r.stdout.contains(&meta),
        "metadata = address ‖ level 0: {}",
        r.stdout
    );
}

#[test]
fn preimage_from_stdin_when_missing() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"typed in".to_vec();
    let hash = reveal_hash(&data);
    let k = write_wat(dir.path(), "k.wat", &reveal_kernel(&hash));
    std::fs::write(dir.path().join("in.json"), "[[]]").unwrap();
    let stdin = format!(
        "step inbox\nnot hex\n{}\nshow key /pre as string\n",
        hex::encode(&data)
    );
    let r = run_debugger(dir.path(), &["--kernel", &k, "--inputs", "in.json"], &stdin);
    assert!(r.success, "stderr: {}", r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "Preimage {} not found in preimage, or there was a reading error. Please provide it manually.\n",
            hex::encode(hash)
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("Error: the data is not a valid hexadecimal value.\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("typed in\n"), "{}", r.stdout);
}

#[test]
fn preimage_from_endpoint_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"from the network".to_vec();
    let hash = reveal_hash(&data);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let body = data.clone();
    let expected_path = format!("/pages/{}", hex::encode(hash));
    let server = thread::spawn(move || {
        // Serve exactly one request.
        let (mut stream, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_owned();
        let (status, body) = if path == expected_path {
            (200, body)
        } else {
            (404, Vec::new())
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        path
    });
    std::fs::create_dir(dir.path().join("pre")).unwrap();
    let k = write_wat(dir.path(), "k.wat", &reveal_kernel(&hash));
    std::fs::write(dir.path().join("in.json"), "[[]]").unwrap();
    let endpoint = format!("http://{addr}/pages");
    let r = run_debugger(
        dir.path(),
        &[
            "--kernel",
            &k,
            "--inputs",
            "in.json",
            "--preimage-dir",
            "pre",
            "--preimage-endpoint",
            &endpoint,
        ],
        "step inbox\nshow key /pre as string\n",
    );
    assert_eq!(
        server.join().unwrap(),
        format!("/pages/{}", hex::encode(hash))
    );
    assert!(r.success, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("from the network\n"), "{}", r.stdout);
    let cached = std::fs::read(dir.path().join("pre").join(hex::encode(hash))).unwrap();
    assert_eq!(cached, data, "verified pre-image cached in the directory");
}

/// A DAL page comes from `<dal-pages-dir>/<published level>-<slot>-<page>` (Octez's debugger),
/// through the generic `reveal` host function (request tag `02`).
#[test]
fn dal_page_from_the_pages_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("pages")).unwrap();
    std::fs::write(dir.path().join("pages").join("7-2-1"), b"a DAL page").unwrap();
    // Request: 02 ‖ published level 7 (int32) ‖ slot 2 ‖ page 1 (int16).
    let k = write_wat(
        dir.path(),
        "k.wat",
        r#"(module
  (import "smart_rollup_core" "reveal" (func $reveal (param i32 i32 i32 i32) (result i32)))
  (import "smart_rollup_core" "store_write" (func $store_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "/dal")
  (data (i32.const 100) "\02\00\00\00\07\02\00\01")
  (func (export "kernel_run")
    (local $n i32)
    (local.set $n (call $reveal (i32.const 100) (i32.const 8) (i32.const 1000) (i32.const 4096)))
    (drop (call $store_write (i32.const 0) (i32.const 4) (i32.const 0) (i32.const 1000) (local.get $n)))))"#,
    );
    std::fs::write(dir.path().join("in.json"), "[[]]").unwrap();
    let r = run_debugger(
        dir.path(),
        &[
            "--kernel",
            &k,
            "--inputs",
            "in.json",
            "--dal-pages-dir",
            "pages",
        ],
        "step inbox\nshow key /dal as string\n",
    );
    assert!(r.success, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("a DAL page\n"), "{}", r.stdout);
}

/// The debugger's options for the reveal kernel of [`revealing_kernel_dir`].
const TICK_ARGS: &[&str] = &[
    "--kernel",
    "k.wat",
    "--inputs",
    "in.json",
    "--preimage-dir",
    "pre",
    "--rollup",
    ROLLUP,
    "--no-kernel-debug",
];

/// A directory with `k.wat` revealing `data` (kept in `pre/`) then the metadata, and an
/// inbox of one empty level.
fn revealing_kernel_dir(data: &[u8]) -> (tempfile::TempDir, [u8; 33]) {
    let dir = tempfile::tempdir().unwrap();
    let hash = reveal_hash(data);
    std::fs::create_dir(dir.path().join("pre")).unwrap();
    std::fs::write(dir.path().join("pre").join(hex::encode(hash)), data).unwrap();
    write_wat(dir.path(), "k.wat", &reveal_kernel(&hash));
    std::fs::write(dir.path().join("in.json"), "[[]]").unwrap();
    (dir, hash)
}

/// Tick by tick through the reveal ticks (Octez `commands.ml` `reveal_preimage`,
/// `reveal_metadata`, `pp_reveal`): `step <n> ticks` stops at a reveal, `show status` names
/// it, the wrong `reveal` command is refused without a change, the right one answers it
/// (given bytes or the pre-image directory), and `step result` answers reveals itself.
#[test]
fn reveal_ticks_are_answered_by_the_reveal_commands() {
    let (dir, hash) = revealing_kernel_dir(b"revealed data");
    let b58 = tezos_types::hash::RevealHash::from_slice(&hash[1..])
        .unwrap()
        .to_b58check();
    let script = "reveal preimage\nreveal metadata\nload inputs\nstep kernel_run\n\
                  step 100000 ticks\nshow status\nreveal metadata\nshow status\n\
                  reveal preimage\nshow status\nstep 100000 ticks\nshow status\n\
                  reveal preimage 00\nreveal metadata\nshow status\nstep result\nshow status\n\
                  show key /pre as string\nshow key /meta\n";
    let r = run_debugger(dir.path(), TICK_ARGS, script);
    assert!(r.success, "stderr: {}", r.stderr);
    let out = &r.stdout;
    let at = |needle: &str, from: usize| -> usize {
        out[from..]
            .find(needle)
            .map(|i| i + from)
            .unwrap_or_else(|| panic!("{needle:?} after byte {from} in:\n{out}"))
    };
    // Outside a reveal step.
    let i = at("Error: not a reveal step\n", 0);
    let i = at("Error: Not in a reveal step\n", i);
    // The preimage reveal: the metadata command is refused, the state stays.
    let waiting = format!("Status: Waiting for reveal: {b58}\n");
    let i = at(&waiting, i);
    let i = at("Error: Not the expected reveal step\n", i);
    let i = at(&waiting, i);
    // Answered from the directory: evaluating again, up to the metadata reveal.
    let i = at("Status: Evaluating\n", i);
    let i = at("Status: Waiting for reveal: Reveal metadata\n", i);
    let i = at("Error: not the expected reveal step\n", i);
    let i = at("Status: Evaluating\n", i);
    let i = at("Internal_status: Evaluation succeeded\n", i);
    let i = at("revealed data\n", i);
    let meta = format!("{}00000000\n", hex::encode(rollup_bytes()));
    at(&meta, i);
}

/// `step result` answers the reveals on its way (Octez's `eval_to_result` with the reveal
/// builtins), and `reveal preimage <hex>` answers with the given bytes.
#[test]
fn step_result_answers_reveals_and_given_bytes_answer_a_preimage() {
    let (dir, _) = revealing_kernel_dir(b"from the directory");
    let r = run_debugger(
        dir.path(),
        TICK_ARGS,
        "load inputs\nstep kernel_run\nstep result\nshow status\nshow key /pre as string\n",
    );
    assert!(r.success, "stderr: {}", r.stderr);
    assert!(
        r.stdout.contains("Internal_status: Evaluation succeeded\n"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("from the directory\n"), "{}", r.stdout);
    // Given bytes are taken as they are (Octez does not check them against the hash).
    let given = hex::encode(b"typed bytes");
    let r = run_debugger(
        dir.path(),
        TICK_ARGS,
        &format!(
            "load inputs\nstep kernel_run\nstep 100000 ticks\nreveal preimage {given}\nstep result\nshow key /pre as string\n"
        ),
    );
    assert!(r.success, "stderr: {}", r.stderr);
    assert!(r.stdout.contains("typed bytes\n"), "{}", r.stdout);
}
