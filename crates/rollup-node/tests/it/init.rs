//! `init` and command-line errors.

use super::{ADDR, TZ1, run, text};

#[test]
fn init_observer_writes_golden_config() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("node");
    let d = d.to_str().unwrap();
    let o = run(&[
        "init",
        "observer",
        "config",
        "for",
        ADDR,
        "with",
        "operators",
        "--data-dir",
        d,
        "--pre-images-endpoint",
        "https://snapshots.eu.tzinit.org/etherlink-mainnet/wasm_2_0_0",
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let path = format!("{d}/config.json");
    assert_eq!(
        out,
        format!("Smart rollup node configuration written in {path}\n")
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        "{ \"smart-rollup-address\": \"sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf\",\n  \
         \"etherlink\": false, \"fee-parameters\": {}, \"mode\": \"observer\",\n  \
         \"pre-images-endpoint\":\n    \
         \"https://snapshots.eu.tzinit.org/etherlink-mainnet/wasm_2_0_0\" }"
    );
}

#[test]
fn init_operator_lists_keys_by_purpose() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let o = run(&[
        "init",
        "operator",
        "config",
        "for",
        ADDR,
        "with",
        "operators",
        TZ1,
        "--data-dir",
        d,
        "--rpc-port",
        "9999",
        "--history-mode",
        "archive",
    ]);
    assert!(o.status.success(), "{:?}", text(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{d}/config.json")).unwrap())
            .unwrap();
    assert_eq!(
        v["smart-rollup-node-operator"],
        serde_json::json!({"operating": TZ1, "batching": [TZ1], "cementing": TZ1,
                           "executing_outbox": TZ1})
    );
    assert_eq!(v["rpc-port"], 9999);
    assert_eq!(v["history-mode"], "archive");
    assert_eq!(v["mode"], "operator");
}

#[test]
fn init_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let args = [
        "init",
        "observer",
        "config",
        "for",
        ADDR,
        "with",
        "operators",
        "--data-dir",
        d,
    ];
    assert!(run(&args).status.success());
    let o = run(&args);
    assert!(!o.status.success());
    let (_, err) = text(&o);
    assert!(
        err.contains(&format!(
            "Configuration file \"{d}/config.json\" already exists. Use --force to overwrite."
        )),
        "{err}"
    );
    let mut forced = args.to_vec();
    forced.extend(["--force", "--rpc-port", "1"]);
    assert!(run(&forced).status.success());
    let written = std::fs::read_to_string(format!("{d}/config.json")).unwrap();
    assert!(written.contains("\"rpc-port\": 1"), "{written}");
}

#[test]
fn grammar_mode_and_operator_errors() {
    let o = run(&["init", "bogus", "config", "for", ADDR, "with", "operators"]);
    assert_eq!(o.status.code(), Some(1));
    let (_, err) = text(&o);
    assert!(
        err.contains("Erroneous command line argument 2 (bogus)"),
        "{err}"
    );
    assert!(err.contains("Invalid mode"), "{err}");

    let o = run(&["init", "observer", "config", "for", ADDR, "operators"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("Unrecognized command."));

    let o = run(&[
        "init",
        "maintenance",
        "config",
        "for",
        ADDR,
        "with",
        "operators",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o)
            .1
            .contains("Missing operators for purposes operating, cementing, executing_outbox."),
        "{:?}",
        text(&o)
    );

    let o = run(&["init", "custom", "config", "for", ADDR, "with", "operators"]);
    assert!(
        text(&o)
            .1
            .contains("Operation kinds for custom mode are empty.")
    );

    let o = run(&[
        "init",
        "observer",
        "config",
        "for",
        ADDR,
        "with",
        "operators",
        "a:b:c",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("Unknown purpose a"), "{:?}", text(&o));

    let o = run(&[
        "init",
        "observer",
        "config",
        "for",
        "sr1nope",
        "with",
        "operators",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("(sr1nope)"), "{:?}", text(&o));

    // A snapshot that does not exist: a clear error naming the file, exit 1.
    let o = run(&["snapshot", "info", "x.snapshot"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("x.snapshot"), "{:?}", text(&o));
}

#[test]
fn help_and_man() {
    let o = run(&["run", "--help"]);
    assert!(o.status.success());
    let (out, _) = text(&o);
    assert!(
        out.contains("run <mode> for <smart-rollup-address> with operators"),
        "{out}"
    );
    assert!(out.contains("--rpc-addr"), "{out}");
    let o = run(&["man"]);
    assert!(o.status.success());
    assert!(text(&o).0.contains("snapshot export"));
}

/// `list metrics` prints Octez-style HELP/TYPE lines, `dump-metrics` the CSV listing.
#[test]
fn list_and_dump_metrics() {
    let o = run(&["list", "metrics"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    assert!(
        out.contains("# TYPE octez_sc_rollup_node_lpc_level_local gauge"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.starts_with("# ")), "{out}");
    let o = run(&["dump-metrics"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    assert_eq!(out.lines().next(), Some("Name,Type,Description,Labels"));
    assert!(
        out.contains("octez_sc_rollup_node_number_of_conflicts,Gauge,\"Number of conflicts\","),
        "{out}"
    );
}

/// `show supported protocols`: one protocol hash per line, the current mainnet one included.
#[test]
fn show_supported_protocols() {
    let o = run(&["show", "supported", "protocols"]);
    assert!(o.status.success(), "{:?}", text(&o));
    let (out, _) = text(&o);
    assert!(
        out.lines()
            .any(|l| l == "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY"),
        "{out}"
    );
    assert!(out.lines().all(|l| l.len() == 51), "{out}");
}
