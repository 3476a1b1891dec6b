//! Differential tests: the same kernel source on the SDK's `MockHost` (native
//! `kernels/target/release/mock-runner`, run as a process) and on our PVM, over the same
//! inbox. Durable contents under the kernel's prefixes and the outbox of every level must
//! agree, up to MockHost's known quirks, each mapped explicitly below:
//!
//! * levels: MockHost numbers its levels from 3 760 129; ours start at [`FIRST`]. Level `i` of
//!   the inputs file is MockHost level `levels[i].level` and our level `FIRST + i`.
//! * inbox framing: MockHost's first level has no `Start_of_level`/`Info_per_level` (later
//!   levels have them) and no kernel here records message ids, so only the host-functions
//!   kernel's first `read_input` sees a different message (see [`host_functions`]).
//! * the wasm32-only part of the host-functions kernel (`#[cfg(target_arch = "wasm32")]`:
//!   README column N = `w`) does not run natively: its results and the keys it writes exist
//!   only on the PVM (see [`hf_wasm_only_key`]).

use std::collections::BTreeMap;
use std::process::Command;

use durable_tree::durable::{Durable, Key};
use wasm_pvm::PvmVersion;

use crate::common::Reveals;
use crate::kernels::{Rollup, hf_preimages_dir, kernel_wasm, mock_runner, revealer};

/// Our first level.
const FIRST: u32 = 10;

/// What mock-runner reports.
struct Mock {
    /// Per input level: MockHost level and its outbox.
    levels: Vec<(u64, Vec<Vec<u8>>)>,
    durable: BTreeMap<String, Vec<u8>>,
}

fn unhex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

/// Run `kernel` on MockHost over `inbox` (external payloads per level).
fn mock_run(kernel: &str, inbox: &[&[&[u8]]], prefixes: &[&str]) -> Mock {
    let dir = tempfile::tempdir().expect("tempdir");
    let inputs: Vec<Vec<serde_json::Value>> = inbox
        .iter()
        .map(|level| {
            level
                .iter()
                .map(|p| serde_json::json!({ "external": hex::encode(p) }))
                .collect()
        })
        .collect();
    let path = dir.path().join("inputs.json");
    std::fs::write(&path, serde_json::to_vec(&inputs).expect("json")).expect("write inputs");
    let mut cmd = Command::new(mock_runner());
    cmd.arg("--kernel").arg(kernel).arg("--inputs").arg(&path);
    for p in prefixes {
        cmd.arg("--prefix").arg(p);
    }
    let out = cmd.output().expect("mock-runner runs");
    assert!(
        out.status.success(),
        "mock-runner failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("mock-runner JSON");
    assert_eq!(json["kernel"], kernel);
    let levels: Vec<(u64, Vec<Vec<u8>>)> = json["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| {
            assert!(
                l["panic"].is_null(),
                "MockHost run panicked: {}",
                l["panic"]
            );
            let outbox = l["outbox"].as_array().expect("outbox").iter().map(unhex);
            (l["level"].as_u64().expect("level"), outbox.collect())
        })
        .collect();
    assert_eq!(
        levels.len(),
        inbox.len(),
        "one MockHost level per input level"
    );
    let durable = json["durable"]
        .as_object()
        .expect("durable")
        .iter()
        .map(|(k, v)| (k.clone(), unhex(v)))
        .collect();
    Mock { levels, durable }
}

/// Every value at or under `prefix` in our durable storage, keyed like mock-runner.
fn values_under(d: &Durable, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let k = Key::from_str_checked(prefix).expect("key");
    if let Some(v) = d.read_all(&k).expect("read") {
        out.insert(prefix.to_string(), v);
    }
    for sub in d.subkeys(&k).expect("list") {
        values_under(d, &format!("{prefix}/{sub}"), out);
    }
}

/// Our PVM over the same inbox; returns the rollup and our level of each input level.
fn pvm_run(r: &mut Rollup, inbox: &[&[&[u8]]]) -> Vec<u32> {
    inbox.iter().map(|level| r.level(level)).collect()
}

/// Outboxes agree level by level (MockHost level `levels[i].0` ↔ our `ours[i]`).
fn compare_outboxes(mock: &Mock, r: &Rollup, ours: &[u32]) {
    let base = mock.levels[0].0;
    for (i, ((mock_level, mock_outbox), our_level)) in mock.levels.iter().zip(ours).enumerate() {
        // Level mapping: consecutive on both sides.
        assert_eq!(
            *mock_level,
            base + i as u64,
            "MockHost levels are consecutive"
        );
        assert_eq!(*our_level, FIRST + i as u32);
        assert_eq!(
            &r.outbox(*our_level),
            mock_outbox,
            "outbox of input level {i} (MockHost {mock_level}, ours {our_level})"
        );
    }
}

#[test]
fn counter() {
    let inbox: &[&[&[u8]]] = &[
        &[b"hello"],
        &[],
        &[b"a", b"bb", b"ccc"],
        &[&[0u8; 300], b"\x01\x02"],
    ];
    let prefixes = ["/counter", "/last_message"];
    let mock = mock_run("counter", inbox, &prefixes);
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("counter"),
        Box::new(Reveals::default()),
        FIRST,
    );
    let ours = pvm_run(&mut r, inbox);
    compare_outboxes(&mock, &r, &ours);
    let mut pvm = BTreeMap::new();
    for p in prefixes {
        values_under(r.state.durable(), p, &mut pvm);
    }
    assert_eq!(pvm, mock.durable);
    assert_eq!(pvm["/counter"], 4u64.to_le_bytes());
}

/// Keys written only by the wasm32-only part of the host-functions kernel, and where the
/// keys both builds write end up on the PVM.
///
/// * `None`: the key exists only on the PVM (wasm32-only writes: `/hf/both`, `/hf/empty`,
///   `/hf/created*`, `/hf/nth`, `/hf/lv`, `/hf/version`, the `w` results).
/// * `Some(native)`: the native name of a PVM key. `move_into_own_subtree` (wasm32 only) moves
///   `/hf/t` to `/hf/t/sub`, so native `/hf/t/…` is PVM `/hf/t/sub/…`.
fn hf_wasm_only_key(pvm_key: &str, native_results: &BTreeMap<String, Vec<u8>>) -> Option<String> {
    const WASM_ONLY_HF: [&str; 7] = [
        "/hf/both",
        "/hf/empty",
        "/hf/created",
        "/hf/created0",
        "/hf/nth",
        "/hf/lv",
        "/hf/version",
    ];
    if let Some(rest) = pvm_key.strip_prefix("/hf/t/sub/") {
        return Some(format!("/hf/t/{rest}"));
    }
    if WASM_ONLY_HF
        .iter()
        .any(|p| pvm_key == *p || pvm_key.starts_with(&format!("{p}/")))
    {
        return None;
    }
    if pvm_key.starts_with("/results/") && !native_results.contains_key(pvm_key) {
        // README column N = `w`: checked against the README in `sdk_kernels`.
        return None;
    }
    Some(pvm_key.to_string())
}

#[test]
fn host_functions() {
    // First level: MockHost has no SOL/IPL, so the kernel's first (1-byte) `read_input`
    // gets the external `x` there (counted as external) and `Start_of_level` here (`x` is
    // then counted by the loop): `read_input_truncated` = 1, `read_input_info_id` = 0 and
    // `externals` agree anyway, which this test checks.
    let inbox: &[&[&[u8]]] = &[&[b"x"], &[b"reveal-bad-hash", b"y"], &[]];
    let prefixes = ["/results", "/hf"];
    let mock = mock_run("host-functions", inbox, &prefixes);
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("host-functions"),
        Box::new(revealer(&hf_preimages_dir())),
        FIRST,
    );
    let ours = pvm_run(&mut r, inbox);
    compare_outboxes(&mock, &r, &ours);

    let mut pvm = BTreeMap::new();
    for p in prefixes {
        values_under(r.state.durable(), p, &mut pvm);
    }
    let native_results: BTreeMap<String, Vec<u8>> = mock
        .durable
        .iter()
        .filter(|(k, _)| k.starts_with("/results/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    assert!(
        native_results.len() > 60,
        "mock-runner recorded {} results",
        native_results.len()
    );
    let mapped: BTreeMap<String, Vec<u8>> = pvm
        .into_iter()
        .filter_map(|(k, v)| hf_wasm_only_key(&k, &native_results).map(|n| (n, v)))
        .collect();
    // Same keys and values on both sides, after the mapping.
    let only_mock: Vec<&String> = mock
        .durable
        .keys()
        .filter(|k| !mapped.contains_key(*k))
        .collect();
    let only_pvm: Vec<&String> = mapped
        .keys()
        .filter(|k| !mock.durable.contains_key(*k))
        .collect();
    assert!(only_mock.is_empty(), "keys only on MockHost: {only_mock:?}");
    assert!(only_pvm.is_empty(), "keys only on the PVM: {only_pvm:?}");
    for (k, v) in &mock.durable {
        assert_eq!(&mapped[k], v, "value of {k}");
    }
    assert_eq!(mapped["/results/externals"], 3i64.to_le_bytes());
}
