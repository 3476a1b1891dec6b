//! Octez's per-tick state hashes of the `link_*` regression traces
//! (`crates/wasm-pvm/tests/fixtures/ticks/README.md`, `docs/reference/wasm-ticks.md` §3): line
//! `n` = tick `4999 + n`; the Snapshot is at tick 5000. The `echo` traces sample every 138th
//! tick of three windows, at every PVM version. The kernel and scenario are those of
//! crate `pvm-fixtures` (`link_kernel`, `at_first_snapshot`).

use context_hash::to_context_b58;
use durable_tree::Tree;
use pvm_fixtures::{
    CONFORMANCE_DIR as CONFORMANCE, TICKS_DIR as FIXTURES, gap32, lines, link_kernel, name,
    section, tx_payloads,
};
use wasm_pvm::PvmVersion;

/// The traces' scenario (crate `pvm-fixtures`) as a state tree at the first `Snapshot`.
pub(crate) fn at_first_snapshot(v: PvmVersion, kernel: &[u8], transfers: &[Vec<u8>]) -> Tree {
    pvm_fixtures::at_first_snapshot(v, kernel, transfers)
        .to_tree()
        .unwrap()
}

fn b58(t: &Tree) -> String {
    to_context_b58(&t.hash().unwrap())
}

/// Steps from the Snapshot at tick 5000 up to tick `last`, checking every line on the way
/// (panics at the first mismatching tick); returns the state at `last`.
fn run(file: &str, tree: Tree, last: usize) -> Tree {
    let expected = lines(file);
    let mut t = tree;
    assert_eq!(b58(&t), expected[0], "{file}: Snapshot at tick 5000");
    for (i, line) in expected.iter().enumerate().take(last - 5000 + 1).skip(1) {
        t = wasm_interp::step(&t).unwrap_or_else(|e| panic!("{file}: tick {}: {e}", 5000 + i));
        assert_eq!(
            &b58(&t),
            line,
            "{file}: first mismatch at tick {}",
            5000 + i
        );
    }
    t
}

fn tag(t: &Tree) -> String {
    let b = t.get_contents(&["wasm", "tag"]).unwrap().unwrap();
    String::from_utf8(b[4..].to_vec()).unwrap()
}

fn tick(t: &Tree) -> Vec<u8> {
    t.get_contents(&["wasm", "current_tick"]).unwrap().unwrap()
}

#[test]
fn link_reveal_v0_every_tick_to_link_error() {
    let tree = at_first_snapshot(PvmVersion::V0, &link_kernel("reveal", 4), &[]);
    let t = run(&format!("{FIXTURES}/link_reveal.v0.hashes"), tree, 5129);
    assert_eq!(tag(&t), "stuck");
    assert_eq!(tick(&t), [0x89, 0x28], "tick 5129 as Data_encoding.n");
    let stuck = t.get_contents(&["wasm", "value"]).unwrap().unwrap();
    assert_eq!(
        wasm_pvm::StuckError::decode(&stuck),
        Some(wasm_pvm::StuckError::Link(
            "Unexpected import: smart_rollup_core.reveal".into()
        ))
    );
}

#[test]
fn link_reveal_v6_decode_and_link_ticks() {
    let tree = at_first_snapshot(PvmVersion::V6, &link_kernel("reveal", 4), &[]);
    let t = run(&format!("{CONFORMANCE}/link_reveal.v6.hashes"), tree, 5129);
    assert_eq!(tag(&t), "link");
    // Tick 5128 is the first Link state; 5127 the MKStop decode state.
    let m = t
        .get_contents(&["wasm", "value", "imports_offset"])
        .unwrap()
        .unwrap();
    assert_eq!(m, [0, 0, 0, 1]);
}

#[test]
fn link_store_create_v6_decode_and_link_ticks() {
    let kernel = link_kernel("store_create", 3);
    let d = wasm_pvm::decode_ticks(&kernel).unwrap().decode_ticks as usize;
    assert_eq!(d, 131);
    let tree = at_first_snapshot(PvmVersion::V6, &kernel, &tx_payloads());
    // 5001 initial Decode, D module steps (the last gives MKStop), MKStop → Link, one import.
    let t = run(
        &format!("{FIXTURES}/link_store_create.v6.hashes"),
        tree,
        5003 + d,
    );
    assert_eq!(tag(&t), "link");
    let name = t
        .get_contents(&[
            "wasm", "value", "externs", "contents", "0", "value", "value", "2", "name",
        ])
        .unwrap()
        .unwrap();
    assert_eq!(&name[4..], b"tezos_store_create");
}

/// A module with every section (imports, table, globals, start, three element segment forms,
/// data count, nested blocks and `if … else`, locals, a 600-byte passive data segment across a
/// chunk boundary, `memory.init`/`data.drop`, names with 2-, 3- and 4-byte UTF-8), with Octez's
/// 5-byte section sizes.
fn rich_kernel() -> Vec<u8> {
    let mut m = b"\0asm\x01\0\0\0".to_vec();
    section(&mut m, 1, vec![2, 0x60, 0, 0, 0x60, 1, 0x7f, 1, 0x7f]);
    let mut imports = vec![1];
    name("smart_rollup_core", &mut imports);
    name("wörld", &mut imports);
    imports.extend([0x00, 0x01]);
    section(&mut m, 2, imports);
    section(&mut m, 3, vec![2, 0, 1]);
    section(&mut m, 4, vec![1, 0x70, 0x00, 0x03]);
    section(&mut m, 5, vec![1, 0x01, 0x01, 0x02]);
    section(
        &mut m,
        6,
        vec![2, 0x7f, 0x01, 0x41, 42, 0x0b, 0x7e, 0x00, 0x42, 0x7f, 0x0b],
    );
    let mut exports = vec![2];
    name("ñé€😀", &mut exports);
    exports.extend([0x00, 0x01]);
    name("mem", &mut exports);
    exports.extend([0x02, 0x00]);
    section(&mut m, 7, exports);
    section(&mut m, 8, vec![1]);
    section(
        &mut m,
        9,
        vec![
            3, // active, table 0, offset i32.const 0, funcs [1, 2]
            0x00, 0x41, 0x00, 0x0b, 2, 1, 2, // passive funcref [2]
            0x01, 0x00, 1, 2, // passive, expressions
            0x05, 0x70, 2, 0xd2, 0x01, 0x0b, 0xd0, 0x70, 0x0b,
        ],
    );
    section(&mut m, 12, vec![2]);
    let f1 = [
        2, 2, 0x7f, 1, 0x7e, // locals: 2 × i32, 1 × i64
        0x02, 0x7f, 0x41, 0x01, 0x04, 0x7f, 0x41, 0x02, 0x05, 0x41, 0x03, 0x0b, 0x0b, 0x1a, 0x03,
        0x40, 0x01, 0x0b, // loop nop end
        0x23, 0x00, 0x24, 0x00, 0x41, 0x00, 0x28, 0x02, 0x04, 0x1a, 0x3f, 0x00, 0x1a, 0x0b,
    ];
    let f2 = [
        0, 0x20, 0x00, 0x41, 0x07, 0x6a, // local.get 0; i32.const 7; i32.add
        0x41, 0x00, 0x41, 0x00, 0x41, 0x01, 0xfc, 0x08, 0x01, 0x00, // memory.init 1
        0xfc, 0x09, 0x01, 0x0b, // data.drop 1
    ];
    let mut code = vec![2];
    gap32(&mut code, &f1);
    gap32(&mut code, &f2);
    section(&mut m, 10, code);
    let mut data = vec![2, 0x00, 0x41, 0x10, 0x0b, 5];
    data.extend(b"hello");
    data.extend([0x01, 0xd8, 0x04]);
    data.extend((0..600u32).map(|i| (i % 251) as u8));
    section(&mut m, 11, data);
    m
}

#[test]
fn rich_module_decodes_in_the_predicted_number_of_ticks() {
    let kernel = rich_kernel();
    let d = wasm_pvm::decode_ticks(&kernel).unwrap().decode_ticks as usize;
    let mut t = at_first_snapshot(PvmVersion::V6, &kernel, &[]);
    for i in 0..=d {
        t = wasm_interp::step(&t).unwrap_or_else(|e| panic!("tick {}: {e}", 5001 + i));
        let tg = tag(&t);
        assert_eq!(tg, "decode", "tick {}", 5001 + i);
        let mk = t
            .get_contents(&["wasm", "value", "module_kont", "tag"])
            .unwrap()
            .unwrap();
        assert_eq!(
            &mk[4..] == b"MKStop",
            i == d,
            "MKStop exactly after D = {d} steps"
        );
    }
    // The data segments' bytes are in the allocations; the passive one spans two chunks.
    let datas = [
        "wasm",
        "value",
        "allocation_state",
        "2",
        "datas-table",
        "contents",
    ];
    let chunk = |d: &str, c: &str| {
        let mut p = datas.to_vec();
        p.extend([d, "contents", c]);
        t.get_contents(&p).unwrap()
    };
    assert_eq!(&chunk("1", "0").unwrap()[..6], b"hello\0");
    assert_eq!(
        chunk("2", "1").unwrap()[..88],
        (512..600u32).map(|i| (i % 251) as u8).collect::<Vec<_>>()
    );
    // Next tick: Link, whose one import does not exist.
    t = wasm_interp::step(&t).unwrap();
    assert_eq!(tag(&t), "link");
    t = wasm_interp::step(&t).unwrap();
    assert_eq!(tag(&t), "stuck");
}

/// `Data_encoding.n`.
fn nat(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

#[test]
fn a_malformed_kernel_is_stuck_on_a_decode_error() {
    let mut kernel = link_kernel("reveal", 4);
    kernel[0] = b'x';
    let mut t = at_first_snapshot(PvmVersion::V6, &kernel, &[]);
    t = wasm_interp::step(&t).unwrap();
    assert_eq!(tag(&t), "decode");
    t = wasm_interp::step(&t).unwrap();
    assert_eq!(tag(&t), "stuck");
    assert_eq!(tick(&t), nat(5002));
    let e = wasm_pvm::StuckError::decode(&t.get_contents(&["wasm", "value"]).unwrap().unwrap());
    match e {
        Some(wasm_pvm::StuckError::Decode(_, Some(msg))) => {
            assert_eq!(msg, "magic header not detected")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.get_contents(&["wasm", "reboot_counter"])
            .unwrap()
            .unwrap(),
        nat(1001)
    );
}

#[test]
fn decoding_past_the_window_is_too_many_ticks() {
    let mut t = at_first_snapshot(PvmVersion::V6, &link_kernel("reveal", 4), &[]);
    // Window of 10 ticks from the Snapshot at 5000: the tick taken at 5009 is the last.
    t.set_contents(&["pvm", "max_nb_ticks"], nat(10)).unwrap();
    for _ in 0..9 {
        t = wasm_interp::step(&t).unwrap();
        assert_eq!(tag(&t), "decode");
    }
    t = wasm_interp::step(&t).unwrap();
    assert_eq!(tag(&t), "stuck");
    assert_eq!(tick(&t), nat(5010));
    let e = wasm_pvm::StuckError::decode(&t.get_contents(&["wasm", "value"]).unwrap().unwrap());
    assert_eq!(e, Some(wasm_pvm::StuckError::TooManyTicks));
}

#[test]
fn collect_is_an_input_tick_and_a_permanent_stuck_state_stays() {
    let t = at_first_snapshot(PvmVersion::V6, &link_kernel("reveal", 4), &[]);
    let mut collect = t;
    collect
        .set_contents(&["wasm", "tag"], b"\0\0\0\x07collect".to_vec())
        .unwrap();
    let t = wasm_interp::step(&collect).unwrap();
    assert_eq!(tag(&t), "stuck");
    let e = wasm_pvm::StuckError::decode(&t.get_contents(&["wasm", "value"]).unwrap().unwrap());
    assert_eq!(
        e,
        Some(wasm_pvm::StuckError::InvalidState(
            "Collect is a input tick".into()
        ))
    );
    let t2 = wasm_interp::step(&t).unwrap();
    assert_eq!(tag(&t2), "stuck");
    assert_eq!(tick(&t2), nat(5002));
    // A recoverable stuck state (decode/link/init error) is left to the fast path.
    let mut link_error = t2;
    link_error
        .set_contents(
            &["wasm", "value"],
            wasm_pvm::StuckError::Link("x".into()).encode(),
        )
        .unwrap();
    assert!(matches!(
        wasm_interp::step(&link_error),
        Err(wasm_interp::Error::Unsupported(_))
    ));
}

#[test]
fn link_reveal_v6_every_tick() {
    let tree = at_first_snapshot(PvmVersion::V6, &link_kernel("reveal", 4), &[]);
    let t = run(
        &format!("{CONFORMANCE}/link_reveal.v6.hashes"),
        tree.clone(),
        5172,
    );
    assert_eq!(tag(&t), "eval");
    let t = run(
        &format!("{CONFORMANCE}/link_reveal.v6.hashes"),
        tree.clone(),
        5198,
    );
    assert_eq!(tag(&t), "eval");
    let t = run(&format!("{CONFORMANCE}/link_reveal.v6.hashes"), tree, 9999);
    assert_eq!(tag(&t), "padding");
}

#[test]
fn link_store_create_v6_every_tick() {
    let kernel = link_kernel("store_create", 3);
    let tree = at_first_snapshot(PvmVersion::V6, &kernel, &tx_payloads());
    let t = run(
        &format!("{FIXTURES}/link_store_create.v6.hashes"),
        tree,
        9999,
    );
    assert_eq!(tag(&t), "padding");
}

/// Steps the echo kernel from the Snapshot at 5000 and compares the sampled hashes
/// (`echo.<v>.hashes`: ticks `5000 + 138 k`); returns how many matched before the first
/// mismatch (all 109 when everything matches).
fn echo_matching_prefix(v: PvmVersion, file: &str) -> (usize, String) {
    let kernel = std::fs::read(format!("{FIXTURES}/echo.octez.wasm")).unwrap();
    let expected = lines(&format!("{FIXTURES}/{file}"));
    let mut t = at_first_snapshot(v, &kernel, &[]);
    let mut tick = 5000usize;
    for (k, line) in expected.iter().enumerate() {
        let target = 5000 + 138 * k;
        while tick < target {
            t = match wasm_interp::step(&t) {
                Ok(t) => t,
                Err(e) => return (k, format!("tick {}: {e}", tick + 1)),
            };
            tick += 1;
        }
        if &b58(&t) != line {
            return (
                k,
                format!("first mismatch at tick {target} (state {})", tag(&t)),
            );
        }
    }
    (expected.len(), String::new())
}

/// Octez's echo traces (`echo.<v>.hashes`, 109 samples: three windows of decode, link, init,
/// eval of `kernel_run` and padding) at every PVM version: every sample matches. The first
/// function bodies (`i32.load16_u`, locals, `if`) pinned the `Data_encoding.option` tag
/// (`0x01` for `Some`, as in the `Load` memop's `pack`), which the `link_*` kernels never use.
#[test]
fn echo_every_sample_matches_at_every_version() {
    for (v, file) in [
        (PvmVersion::V0, "echo.v0.hashes"),
        (PvmVersion::V1, "echo.v1.hashes"),
        (PvmVersion::V2, "echo.v2.hashes"),
        (PvmVersion::V3, "echo.v3.hashes"),
        (PvmVersion::V4, "echo.v4.hashes"),
        (PvmVersion::V5, "echo.v5.hashes"),
        (PvmVersion::V6, "echo.v6.hashes"),
        (PvmVersion::Experimental, "echo.v_experimental.hashes"),
    ] {
        let (n, why) = echo_matching_prefix(v, file);
        assert_eq!(n, 109, "{file}: {why}");
    }
}

#[test]
#[ignore = "debugging aid: prints the decoder's continuation tags of the echo kernel"]
fn echo_trace_decode() {
    let kernel = std::fs::read(format!("{FIXTURES}/echo.octez.wasm")).unwrap();
    let mut t = at_first_snapshot(PvmVersion::V6, &kernel, &[]);
    for tick in 5001..=5600 {
        t = wasm_interp::step(&t).unwrap();
        if tag(&t) != "decode" {
            break;
        }
        let mut out = Vec::new();
        dump(
            &t,
            &mut vec!["wasm".into(), "value".into(), "module_kont".into()],
            &mut out,
        );
        let tags: Vec<String> = out
            .iter()
            .filter(|l| l.contains("tag = "))
            .map(|l| {
                let (k, v) = l.split_once(" = ").unwrap();
                let v = hex::decode(v).unwrap();
                format!(
                    "{}={}",
                    k.trim_start_matches("wasm/value/module_kont/"),
                    String::from_utf8_lossy(&v[4..])
                )
            })
            .collect();
        eprintln!("K{tick} {}", tags.join(" "));
    }
}

fn dump(t: &Tree, path: &mut Vec<String>, out: &mut Vec<String>) {
    let steps: Vec<&str> = path.iter().map(String::as_str).collect();
    if let Some(b) = t.get_contents(&steps).unwrap() {
        out.push(format!("{} = {}", path.join("/"), hex::encode(&b)));
        return;
    }
    for (k, _) in t.list(&steps).unwrap() {
        path.push(k);
        dump(t, path, out);
        path.pop();
    }
}

#[test]
#[ignore = "debugging aid: prints the echo kernel's tick state at DUMP_FROM..=DUMP_TO (default 5276); DUMP_ALL=1 includes building_state"]
fn echo_dump_5276() {
    let kernel = std::fs::read(format!("{FIXTURES}/echo.octez.wasm")).unwrap();
    let mut t = at_first_snapshot(PvmVersion::V6, &kernel, &[]);
    let from: usize = std::env::var("DUMP_FROM").map_or(5276, |v| v.parse().unwrap());
    let to: usize = std::env::var("DUMP_TO").map_or(5276, |v| v.parse().unwrap());
    for tick in 5001..=to {
        t = wasm_interp::step(&t).unwrap();
        if tick >= from {
            let mut out = Vec::new();
            dump(&t, &mut vec!["wasm".into(), "value".into()], &mut out);
            for l in out {
                if std::env::var("DUMP_ALL").is_ok() || !l.contains("building_state") {
                    eprintln!("{tick} {l}");
                }
            }
        }
    }
}

#[test]
fn a_reveal_outside_evaluation_is_an_invalid_state() {
    let t = at_first_snapshot(PvmVersion::V6, &link_kernel("reveal", 4), &[]);
    assert_eq!(wasm_interp::tick::reveal_request(&t).unwrap(), None);
    let d = wasm_interp::step(&t).unwrap();
    let s = wasm_interp::tick::reveal_step(&d, b"data").unwrap();
    assert_eq!(tag(&s), "stuck");
    assert_eq!(tick(&s), nat(5002));
    let e = wasm_pvm::StuckError::decode(&s.get_contents(&["wasm", "value"]).unwrap().unwrap());
    assert_eq!(
        e,
        Some(wasm_pvm::StuckError::InvalidState(
            "No reveal expected during decoding".into()
        ))
    );
}

#[test]
#[ignore = "debugging aid: which echo samples match, and in which state"]
fn echo_match_pattern() {
    let kernel = std::fs::read(format!("{FIXTURES}/echo.octez.wasm")).unwrap();
    let expected = lines(&format!("{FIXTURES}/echo.v6.hashes"));
    let mut t = at_first_snapshot(PvmVersion::V6, &kernel, &[]);
    let mut tick = 5000usize;
    for (k, line) in expected.iter().enumerate() {
        let target = 5000 + 138 * k;
        while tick < target {
            t = wasm_interp::step(&t).unwrap();
            tick += 1;
        }
        eprintln!("{target} {} {}", tag(&t), &b58(&t) == line);
    }
}
