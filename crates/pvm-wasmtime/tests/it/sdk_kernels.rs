//! The project's SDK test kernels (`kernels/`, built by `scripts/build-kernels.sh`) on our PVM
//! through the wasm-pvm driver: `host-functions` (every recorded result against the PVM value
//! documented in `kernels/host-functions/README.md`), `counter`, `panic`, `recursion`, `floats`,
//! `upgrade` and `dal-reader` (DAL pages and parameters through the node's revealer).

use durable_tree::durable::Key;
use wasm_pvm::{
    KERNEL_FALLBACK_KEY, KERNEL_KEY, PvmVersion, STUCK_FLAG_KEY, Status, StuckError, TickState,
    UPGRADE_ERROR_FLAG_KEY,
};

use crate::common::Reveals;
use crate::kernels::{METADATA, Rollup, counter_echo, hf_preimages_dir, kernel_wasm, revealer};

/// First inbox level fed in these tests.
const FIRST: u32 = 10;

/// `/results/<name>` values of the host-functions kernel on the PVM (README table, column
/// "PVM"), except `externals` (depends on the inbox), `reveal_missing` (node-dependent: our
/// node fails operationally, see [`host_functions_reveal_missing_is_operational`]) and the
/// two raw-bytes entries, checked separately.
pub(crate) const HF_EXPECTED: &[(&str, i64)] = &[
    ("output_ok", 0),
    ("output_too_large", -7),
    ("output_max_size", 0),
    ("output_src_oob", -6),
    ("debug_oob_survived", 1),
    ("output_fill_ok", 98),
    ("output_101st", -11),
    ("output_too_large_when_full", -7),
    ("write_ok", 0),
    ("write_append", 0),
    ("write_overwrite", 0),
    ("write_gap", -4),
    ("write_too_large", -7),
    ("write_max_chunk", 0),
    ("write_new_at_offset", -4),
    ("write_key_300", -1),
    ("write_key_invalid", -2),
    ("write_key_trailing_slash", -2),
    ("write_key_bad_char", -2),
    ("write_key_no_slash", -2),
    ("value_size", 12),
    ("value_size_missing", -3),
    ("value_size_subtree_only", -3),
    ("value_size_key_invalid", -2),
    ("value_size_key_300", -1),
    ("read_ok", 12),
    ("read_ok_content", 1),
    ("read_truncated", 3),
    ("read_offset", 2),
    ("read_missing", -3),
    ("read_offset_past_end", -4),
    ("read_key_invalid", -2),
    ("read_key_300", -1),
    ("has_none", 0),
    ("has_value", 1),
    ("has_subtree", 2),
    ("has_key_invalid", -2),
    ("has_key_300", -1),
    ("delete_ok", 0),
    ("delete_gone", 0),
    ("delete_missing", 0),
    ("delete_key_invalid", -2),
    ("delete_value_ok", 0),
    ("delete_value_then_has", 2),
    ("delete_value_missing", 0),
    ("large_write_ok", 1),
    ("large_size", 5000),
    ("large_read_ok", 1),
    ("large_read_tail", 50),
    ("large_overwrite", 0),
    ("large_overwrite_ok", 1),
    ("large_size_after", 5000),
    ("list_size_3", 3),
    ("list_size_key_invalid", -2),
    ("list_size_leaf", 1),
    ("copy_ok", 0),
    ("copy_replaced_old", 0),
    ("copy_dst_list_size", 3),
    ("copy_dst_read", 1),
    ("copy_src_kept", 1),
    ("copy_missing", -10),
    ("copy_key_invalid", -2),
    ("move_ok", 0),
    ("move_src_gone", 0),
    ("move_dst_list_size", 3),
    ("move_missing", -10),
    ("move_key_invalid", -2),
    ("reveal_known", 1560),
    ("reveal_known_ok", 1),
    ("reveal_known_truncated", 10),
    ("reveal_metadata", 24),
    ("read_input_dst_oob", -6),
    ("read_input_truncated", 1),
    ("read_input_info_id", 0),
    ("read_input_end", 0),
    ("done", 1),
    ("write_key_240", 0),
    ("write_key_241", -1),
    ("has_key_241", -1),
    ("write_readonly", -9),
    ("write_root", -9),
    ("read_offset_at_end", -4),
    ("read_max_2049", -7),
    ("write_empty_new", 0),
    ("value_size_empty", 0),
    ("read_empty", -4),
    ("has_both", 3),
    ("has_readonly", 2),
    ("has_root", 2),
    ("read_wasm_version_size", 8),
    ("delete_readonly", -9),
    ("delete_root", -9),
    ("delete_value_readonly", -9),
    ("read_dst_oob", -6),
    ("write_src_oob", -6),
    ("has_key_oob", -6),
    ("has_key_oob_300", -1),
    ("list_size_value_and_child", 2),
    ("list_size_missing", 0),
    ("copy_to_readonly", -9),
    ("copy_from_readonly", 0),
    ("move_from_readonly", -9),
    ("move_to_readonly", -9),
    ("move_into_own_subtree", 0),
    ("move_into_own_subtree_read", 1),
    ("reveal_metadata_truncated", 10),
    ("reveal_metadata_dst_oob", -6),
    ("reveal_hash_too_large", -7),
    ("reveal_hash_oob", -6),
    ("reveal_generic_metadata", 24),
    ("reveal_generic_preimage", 1560),
    ("exists_value", 1),
    ("exists_subtree", 1),
    ("exists_missing", 0),
    ("exists_key_invalid", -2),
    ("create_ok", 0),
    ("create_size", 1000),
    ("create_read", 64),
    ("create_read_zeros", 1),
    ("create_exists", -13),
    ("create_negative", -5),
    ("create_readonly", -9),
    ("create_zero", 0),
    ("nth_key_0", 4),
    ("nth_key_0_is_only", 1),
    ("nth_key_truncated", 2),
    ("nth_key_out_of_range", -12),
    ("nth_key_missing", -10),
    ("get_hash", 32),
    ("get_hash_truncated", 10),
    ("get_hash_missing", -10),
];

/// A `/results/<name>` entry as the kernel records it (`i64` LE).
pub(crate) fn result_i64(r: &Rollup, name: &str) -> Option<i64> {
    r.get(&format!("/results/{name}")).map(|v| {
        i64::from_le_bytes(
            v.as_slice()
                .try_into()
                .unwrap_or_else(|_| panic!("/results/{name}: {} bytes, not 8", v.len())),
        )
    })
}

/// Names under `/results`.
pub(crate) fn result_names(r: &Rollup) -> Vec<String> {
    r.state
        .durable()
        .subkeys(&Key::from_str_checked("/results").expect("key"))
        .expect("list /results")
}

/// The host-functions kernel on a fresh rollup at `version`; first level with one external.
fn host_functions_rollup(version: PvmVersion) -> (Rollup, u32) {
    let mut r = Rollup::new(
        version,
        &kernel_wasm("host-functions"),
        Box::new(revealer(&hf_preimages_dir())),
        FIRST,
    );
    let l1 = r.level(&[b"x"]);
    (r, l1)
}

/// Every recorded result equals the documented PVM value; no undocumented result.
fn check_host_functions(r: &Rollup, version: PvmVersion) {
    let mut wrong = vec![];
    for (name, want) in HF_EXPECTED {
        let want = if *name == "read_wasm_version_size" {
            version.as_str().len() as i64
        } else {
            *want
        };
        let got = result_i64(r, name);
        if got != Some(want) {
            wrong.push(format!("{name}: got {got:?}, README says {want}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "host-functions results differ from kernels/host-functions/README.md:\n{}",
        wrong.join("\n")
    );
    let documented: Vec<&str> = HF_EXPECTED
        .iter()
        .map(|(n, _)| *n)
        .chain([
            "externals",
            "metadata_bytes",
            "hash_of_hf_v",
            "reveal_bad_hash",
        ])
        .collect();
    for name in result_names(r) {
        assert!(
            documented.contains(&name.as_str()),
            "undocumented result /results/{name}"
        );
    }
    // Raw-bytes entries: the metadata answered by the node, and the Irmin hash of /hf/v's
    // subtree as the PVM computes it (`__internal_store_get_hash`).
    assert_eq!(
        r.get("/results/metadata_bytes").as_deref(),
        Some(&METADATA.encode()[..])
    );
    let hash = r
        .state
        .durable()
        .subtree_hash(&Key::from_str_checked("/hf/v").expect("key"))
        .expect("hash")
        .expect("/hf/v exists");
    assert_eq!(r.get("/results/hash_of_hf_v"), Some(hash.0.to_vec()));
}

#[test]
fn host_functions_results_match_readme_v6() {
    let (mut r, l1) = host_functions_rollup(PvmVersion::V6);
    check_host_functions(&r, PvmVersion::V6);
    assert_eq!(result_i64(&r, "externals"), Some(1));
    assert!(
        r.debug_text().contains("host-functions: main suite"),
        "debug output: {}",
        r.debug_text()
    );
    // First outbox: `hello outbox`, 4096 × 07, then u32 LE 0..97 (100 messages).
    let out = r.outbox(l1);
    assert_eq!(out.len(), 100);
    assert_eq!(out[0], b"hello outbox");
    assert_eq!(out[1], vec![7u8; 4096]);
    for (i, m) in out[2..].iter().enumerate() {
        assert_eq!(*m, (i as u32).to_le_bytes());
    }

    // Command `reveal-bad-hash`: an undecodable request gets the empty preimage.
    let l2 = r.level(&[b"reveal-bad-hash"]);
    assert_eq!(result_i64(&r, "reveal_bad_hash"), Some(0));
    assert_eq!(result_i64(&r, "externals"), Some(2));
    assert!(r.outbox(l2).is_empty());
    // The main suite ran once: its results are unchanged.
    check_host_functions(&r, PvmVersion::V6);
}

#[test]
fn host_functions_results_match_readme_v3() {
    // 2.0.0-r3 is the first version that links `reveal` (and `store_exists`, r2).
    let (r, _) = host_functions_rollup(PvmVersion::V3);
    check_host_functions(&r, PvmVersion::V3);
}

#[test]
fn host_functions_needs_r3() {
    // At 2.0.0-r2 `reveal` does not link: link error at the first kernel load, no fallback
    // kernel yet ⇒ permanent `No_fallback_kernel`.
    let (r, _) = host_functions_rollup(PvmVersion::V2);
    match r.state.tick_state() {
        TickState::Stuck(StuckError::NoFallbackKernel(cause)) => {
            assert!(matches!(**cause, StuckError::Link(_)), "cause {cause:?}")
        }
        other => panic!("expected No_fallback_kernel (link), got {other:?}"),
    }
    assert_eq!(r.get("/results/done"), None);
}

#[test]
fn host_functions_reveal_missing_is_operational() {
    // `reveal_preimage` of a hash nobody has: our node cannot answer, so the level fails
    // operationally (like Octez's node, which cannot go on without the preimage) and the
    // state is left as before the level.
    let (mut r, _) = host_functions_rollup(PvmVersion::V6);
    let before = r.state.hash().expect("hash");
    let err = r
        .try_level(&[b"reveal-missing"])
        .expect_err("a missing preimage must abort the level");
    assert!(
        err.to_string().contains("0000000000"),
        "error names the missing hash: {err}"
    );
    assert_eq!(r.state.hash().expect("hash"), before);
    assert_eq!(r.get("/results/reveal_missing"), None);
}

/// `u64` LE value of the counter kernel.
fn counter_value(r: &Rollup) -> Option<u64> {
    r.get("/counter")
        .map(|v| u64::from_le_bytes(v.try_into().expect("8-byte counter")))
}

#[test]
fn counter_over_several_levels() {
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("counter"),
        Box::new(Reveals::default()),
        FIRST,
    );
    let inboxes: [&[&[u8]]; 4] = [&[b"hello"], &[], &[b"a", b"bb", b"ccc"], &[b"last"]];
    let mut last: Option<&[u8]> = None;
    let mut levels = vec![];
    for (i, inbox) in inboxes.iter().enumerate() {
        let level = r.level(inbox);
        levels.push(level);
        assert_eq!(counter_value(&r), Some(i as u64 + 1), "one run per level");
        if let Some(m) = inbox.last() {
            last = Some(m);
        }
        assert_eq!(r.get("/last_message").as_deref(), last);
        let want: Vec<Vec<u8>> = inbox.iter().map(|p| counter_echo(p)).collect();
        assert_eq!(r.outbox(level), want, "outbox of level {level}");
        assert_eq!(r.state.status(), Status::InputRequired);
        assert_eq!(r.get(STUCK_FLAG_KEY), None);
    }
    // Earlier outboxes stay visible through `outbox(level)`.
    assert_eq!(r.outbox(levels[0]), vec![counter_echo(b"hello")]);
    assert_eq!(r.outbox(levels[2]).len(), 3);
    // The fallback kernel is the counter (it reached Eval).
    assert_eq!(r.get(KERNEL_FALLBACK_KEY), Some(kernel_wasm("counter")));
    assert!(
        r.debug_text()
            .contains("counter: run 4, 1 external message(s)")
    );
}

#[test]
fn panic_sets_stuck_flag_and_continues() {
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("panic"),
        Box::new(Reveals::default()),
        FIRST,
    );
    for runs in 1..=3u32 {
        r.level(&[b"m"]);
        // Writes before the trap persist (no rollback); the stuck flag is written.
        assert_eq!(r.get("/before_panic"), Some(runs.to_le_bytes().to_vec()));
        assert_eq!(r.get(STUCK_FLAG_KEY), Some(vec![]));
        // A trap is not a PVM stuck state: the next level runs the kernel again.
        assert_eq!(r.state.tick_state(), &TickState::Collect);
        assert_eq!(r.state.status(), Status::InputRequired);
    }
    let debug = r.debug_text();
    assert!(debug.contains("panic kernel: about to panic"), "{debug}");
    assert!(debug.contains("Kernel panic"), "{debug}");
    assert!(debug.contains("deliberate panic number 3"), "{debug}");
}

#[test]
fn recursion_under_and_over_the_frame_limit() {
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("recursion"),
        Box::new(Reveals::default()),
        FIRST,
    );
    // Well under the 60 000-frame limit.
    r.level(&[&1000u32.to_le_bytes()]);
    assert_eq!(r.get("/done"), Some(1000u32.to_le_bytes().to_vec()));
    assert_eq!(r.get(STUCK_FLAG_KEY), None);
    // Just under: kernel_run and its callers use a few frames on top of `recurse`.
    r.level(&[&59_000u32.to_le_bytes()]);
    assert_eq!(r.get("/done"), Some(59_000u32.to_le_bytes().to_vec()));
    assert_eq!(r.state.tick_state(), &TickState::Collect);
    // Over: call stack exhausted ⇒ permanent stuck state (`wasm-pvm.md` §3.7), not a trap.
    r.level(&[&100_000u32.to_le_bytes()]);
    assert_eq!(r.get("/done"), Some(59_000u32.to_le_bytes().to_vec()));
    match r.state.tick_state() {
        // Octez (`wasm_vm.ml` `exn_to_stuck`, `Wasm_pvm_errors.extract_interpreter_error`)
        // stores `Eval_error {raw_exception; explanation = Some "call stack exhausted"}`, and
        // so does ours (its bytes are pinned by a wasm-pvm unit test); permanence is asserted here.
        TickState::Stuck(e) => assert!(!e.is_recoverable(), "permanent, got {e:?}"),
        other => panic!("expected a permanent stuck state, got {other:?}"),
    }
    // Inputs are still consumed (1 tick each) but the kernel never runs again.
    let tick = r.state.current_tick();
    r.level(&[&10u32.to_le_bytes()]);
    assert_eq!(
        r.state.current_tick(),
        tick + 4,
        "SOL, IPL, 1 external, EOL: 1 tick each"
    );
    assert_eq!(r.get("/depth"), Some(100_000u32.to_le_bytes().to_vec()));
}

#[test]
fn floats_refused_at_decode() {
    // As the boot sector: decode error with no fallback ⇒ permanent `No_fallback_kernel`.
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("floats"),
        Box::new(Reveals::default()),
        FIRST,
    );
    r.level(&[]);
    match r.state.tick_state() {
        TickState::Stuck(StuckError::NoFallbackKernel(cause)) => {
            assert!(matches!(**cause, StuckError::Decode(..)), "cause {cause:?}")
        }
        other => panic!("expected No_fallback_kernel (decode), got {other:?}"),
    }
    assert_eq!(r.get("/sqrt"), None);

    // As an upgrade of a running kernel: the fallback (counter) is restored and flagged.
    let counter = kernel_wasm("counter");
    let mut r = Rollup::new(
        PvmVersion::V6,
        &counter,
        Box::new(Reveals::default()),
        FIRST,
    );
    r.level(&[]);
    assert_eq!(counter_value(&r), Some(1));
    r.state
        .durable_mut()
        .set(
            &Key::from_str_checked(KERNEL_KEY).expect("key"),
            &kernel_wasm("floats"),
        )
        .expect("install floats");
    let l = r.level(&[b"lost"]);
    assert_eq!(r.get(KERNEL_KEY), Some(counter), "fallback restored");
    assert_eq!(r.get(UPGRADE_ERROR_FLAG_KEY), Some(vec![]));
    // The failed load consumed the level's first window; the input buffer is reset at yield.
    assert_eq!(counter_value(&r), Some(1));
    assert!(r.outbox(l).is_empty());
    assert_eq!(r.get("/sqrt"), None);
    // The counter runs again at the next level and clears the flag.
    let l = r.level(&[b"again"]);
    assert_eq!(counter_value(&r), Some(2));
    assert_eq!(r.outbox(l), vec![counter_echo(b"again")]);
    assert_eq!(r.get(UPGRADE_ERROR_FLAG_KEY), None);
}

#[test]
fn upgrade_installs_the_counter_kernel() {
    let counter = kernel_wasm("counter");
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("upgrade"),
        Box::new(Reveals::default()),
        FIRST,
    );
    let l1 = r.level(&[b"first"]);
    assert_eq!(r.get("/upgrade/done"), Some(vec![1]));
    assert_eq!(
        r.get(KERNEL_KEY),
        Some(counter.clone()),
        "upgrade.wasm embeds kernels/target/.../counter.wasm: rebuild with scripts/build-kernels.sh"
    );
    // The upgrade kernel rebooted without reading inputs: the counter ran in the same level
    // (reboot) and read them (the input buffer is kept across reboots).
    assert_eq!(counter_value(&r), Some(1));
    assert_eq!(r.outbox(l1), vec![counter_echo(b"first")]);
    assert_eq!(r.get(KERNEL_FALLBACK_KEY), Some(counter));
    // Next level: the counter kernel.
    let l2 = r.level(&[b"second"]);
    assert_eq!(counter_value(&r), Some(2));
    assert_eq!(r.get("/last_message"), Some(b"second".to_vec()));
    assert_eq!(r.outbox(l2), vec![counter_echo(b"second")]);
    assert!(r.debug_text().contains("upgrade kernel: wrote"));
}

/// The DAL parameters and cells the `dal-reader` test answers from, and the DAL node's pages.
struct DalStandIn {
    pages: Vec<Vec<u8>>,
}

impl preimages::dal::DalSource for DalStandIn {
    fn constants(&mut self, _level: i32) -> Result<preimages::dal::DalConstants, String> {
        preimages::dal::DalConstants::from_constants_json(&serde_json::json!({
            "dal_parametric": {"feature_enable": true, "number_of_slots": 16,
                "attestation_lag": 2, "attestation_lags": [2], "dynamic_lag_enable": false,
                "slot_size": 12, "page_size": 4},
            "smart_rollup_reveal_activation_level":
                {"dal_parameters": 1, "dal_attested_slots_validity_lag": 100}
        }))
    }
    fn cells(&mut self, level: i32) -> Result<Option<Vec<inbox::dal::SkipListCell>>, String> {
        // Slot 2 published at level 8 (after the origination, 7) is attested at level 10
        // (lag 2); slot 3 is not.
        let cell = |index: u8, attested: bool| {
            serde_json::json!(["dask12YcdgqBDuBTfrPmY4JRjMrMjVJw4L2NqABL5jzwV5uEEN8pihP",
                {"kind": "dal_skip_list", "skip_list": {"index": "1", "back_pointers": [],
                 "content": {"kind": "published",
                    "publisher": "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx",
                    "is_proto_attested": attested, "attested_shards": 1, "total_shards": 1,
                    "attestation_lag": 2, "version": "0", "level": 8, "index": index,
                    "commitment": "sh1cGM6kXe8Zn8nqCswyy6nuRfKXoEBqwR6oGpkFTsyW9yzpuUet7g1ZEEuxhAuDbW9UeZ7fD2"}}}])
        };
        let v = if level == 10 {
            serde_json::json!([cell(2, true), cell(3, false)])
        } else {
            serde_json::json!([])
        };
        inbox::dal::skip_list_cells_of_json(&v)
            .map(Some)
            .map_err(|e| e.to_string())
    }
    fn pages(&mut self, _level: i32, _index: u8) -> Result<Vec<Vec<u8>>, String> {
        Ok(self.pages.clone())
    }
}

/// The `dal-reader` kernel (SDK `reveal_dal_page`, `reveal_dal_parameters`) imports the slot an
/// external signal names through the node's revealer: the attested slot's pages (padding
/// removed), nothing from the unattested one, and the parameters' 32 bytes.
#[test]
fn dal_reader_imports_an_attested_slot() {
    let dir = tempfile::tempdir().unwrap();
    let pages = vec![b"DAL ".to_vec(), b"payl".to_vec(), b"oad\0".to_vec()];
    let reveal = revealer(dir.path()).with_dal(Box::new(DalStandIn { pages }));
    let mut r = Rollup::new(
        PvmVersion::V6,
        &kernel_wasm("dal-reader"),
        Box::new(reveal),
        FIRST,
    );
    let signal = |slot: u8| [b"DAL".as_slice(), &8i32.to_be_bytes(), &[slot]].concat();
    r.level(&[&signal(2), &signal(3)]);
    assert_eq!(
        r.get("/dal/8/2/payload").as_deref(),
        Some(&b"DAL payload"[..])
    );
    assert_eq!(r.get("/dal/8/2/pages"), Some(3u32.to_le_bytes().to_vec()));
    assert_eq!(r.get("/dal/8/3/pages"), Some(0u32.to_le_bytes().to_vec()));
    assert_eq!(r.get("/dal/8/3/payload"), None);
    let params: Vec<u8> = [16u64, 2, 12, 4]
        .iter()
        .flat_map(|n| n.to_be_bytes())
        .collect();
    assert_eq!(r.get("/dal/parameters"), Some(params));
}
