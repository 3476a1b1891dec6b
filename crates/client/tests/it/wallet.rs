//! Wallet commands: no network.

use serde_json::Value;
use tezos_types::{PublicKey, Signature};

use crate::{BOOTSTRAP1_PKH, BOOTSTRAP1_SK, client};

fn read_json(dir: &std::path::Path, file: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap()
}

#[test]
fn import_writes_octez_wallet_files() {
    let d = tempfile::tempdir().unwrap();
    let out = client(
        d.path(),
        None,
        &["import", "secret", "key", "b1", BOOTSTRAP1_SK],
    )
    .out();
    assert_eq!(out.trim(), format!("Tezos address added: {BOOTSTRAP1_PKH}"));
    let pkhs = read_json(d.path(), "public_key_hashs");
    assert_eq!(
        pkhs,
        serde_json::json!([{"name": "b1", "value": BOOTSTRAP1_PKH}])
    );
    let sks = read_json(d.path(), "secret_keys");
    assert_eq!(
        sks,
        serde_json::json!([{"name": "b1", "value": BOOTSTRAP1_SK}])
    );
    let pks = read_json(d.path(), "public_keys");
    let pk = "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav";
    assert_eq!(
        pks,
        serde_json::json!([{"name": "b1", "value": {"locator": format!("unencrypted:{pk}"), "key": pk}}])
    );
    let show = client(d.path(), None, &["show", "address", "b1", "-S"]).out();
    assert_eq!(
        show,
        format!("Hash: {BOOTSTRAP1_PKH}\nPublic Key: {pk}\nSecret Key: {BOOTSTRAP1_SK}\n")
    );
    let show = client(d.path(), None, &["show", "address", "b1"]).out();
    assert!(!show.contains("Secret Key"), "{show}");
}

#[test]
fn gen_keys_for_every_curve_and_list() {
    let d = tempfile::tempdir().unwrap();
    for (alias, sig, prefix) in [
        ("a", "ed25519", "tz1"),
        ("b", "secp256k1", "tz2"),
        ("c", "p256", "tz3"),
        ("e", "bls", "tz4"),
    ] {
        client(d.path(), None, &["gen", "keys", alias, "--sig", sig]).out();
        let show = client(d.path(), None, &["show", "address", alias]).out();
        assert!(show.starts_with(&format!("Hash: {prefix}")), "{show}");
    }
    client(d.path(), None, &["gen", "keys", "plain"]).out();
    let list = client(d.path(), None, &["list", "known", "addresses"]).out();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 5, "{list}");
    assert!(lines[0].starts_with("a: tz1") && lines[0].ends_with("(unencrypted sk known)"));
    assert!(lines[4].starts_with("plain: tz1"), "{list}");
    // The same alias again needs --force.
    let err = client(d.path(), None, &["gen", "keys", "a"]).err();
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert!(!err.contains("edsk"), "secret key leaked: {err}");
    client(d.path(), None, &["gen", "keys", "a", "--force"]).out();
    let err = client(d.path(), None, &["gen", "keys", "z", "--sig", "rsa"]).err();
    assert!(err.contains("rsa"), "{err}");
}

#[test]
fn sign_bytes_verifies() {
    let d = tempfile::tempdir().unwrap();
    client(
        d.path(),
        None,
        &["import", "secret", "key", "b1", BOOTSTRAP1_SK],
    )
    .out();
    let out = client(
        d.path(),
        None,
        &["sign", "bytes", "0x05010000000568656c6c6f", "for", "b1"],
    )
    .out();
    let sig = out.trim().strip_prefix("Signature: ").expect(&out);
    let sig: Signature = sig.parse().unwrap();
    let pk: PublicKey = "edpkuBknW28nW72KG6RoHtYW7p12T6GKc7nAbwYX5m8Wd9sDVC9yav"
        .parse()
        .unwrap();
    let data = hex::decode("05010000000568656c6c6f").unwrap();
    assert!(pk.verify(None, &data, &sig));
    assert!(!pk.verify(None, b"other", &sig));
    let err = client(d.path(), None, &["sign", "bytes", "0xzz", "for", "b1"]).err();
    assert!(err.contains("hexadecimal"), "{err}");
}

#[test]
fn errors_before_any_network_access() {
    let d = tempfile::tempdir().unwrap();
    client(
        d.path(),
        None,
        &["import", "secret", "key", "b1", BOOTSTRAP1_SK],
    )
    .out();
    // Endpoint that nothing listens on: these must fail before any RPC.
    let e = Some("http://127.0.0.1:9");
    let err = client(
        d.path(),
        e,
        &["transfer", "1", "from", "nobody", "to", "b1"],
    )
    .err();
    assert!(err.contains("no secret key for nobody"), "{err}");
    let err = client(
        d.path(),
        e,
        &["transfer", "1.0000001", "from", "b1", "to", "b1"],
    )
    .err();
    assert!(err.contains("invalid tez amount"), "{err}");
    let err = client(d.path(), e, &["transfer", "abc", "from", "b1", "to", "b1"]).err();
    assert!(err.contains("invalid tez amount"), "{err}");
    let err = client(
        d.path(),
        e,
        &[
            "send", "smart", "rollup", "message", "text:[1]", "from", "b1",
        ],
    )
    .err();
    assert!(err.contains("invalid messages"), "{err}");
    let err = client(
        d.path(),
        e,
        &[
            "send",
            "smart",
            "rollup",
            "message",
            "file:/nonexistent/m.json",
            "from",
            "b1",
        ],
    )
    .err();
    assert!(err.contains("/nonexistent/m.json"), "{err}");
    let err = client(
        d.path(),
        e,
        &super::originate("r", "b1", "not-hex-nor-file"),
    )
    .err();
    assert!(
        err.contains("neither hexadecimal nor an existing file"),
        "{err}"
    );
    let err = client(
        d.path(),
        e,
        &[
            "transfer",
            "1",
            "from",
            "b1",
            "to",
            "sr1RYurGZtN8KNSpkMcCt9CgWeUaNkzsAfXf",
        ],
    )
    .err();
    assert!(err.contains("smart rollup"), "{err}");
    let err = client(d.path(), e, &["frobnicate", "everything"]).err();
    assert!(err.contains("Unrecognized command"), "{err}");
    // With a real command the unreachable node is reported.
    let err = client(d.path(), e, &["get", "balance", "for", "b1"]).err();
    assert!(err.contains("cannot reach the node"), "{err}");
}

#[test]
fn malformed_wallet_file_is_reported() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("public_key_hashs"), "{not json").unwrap();
    let err = client(d.path(), None, &["list", "known", "addresses"]).err();
    assert!(
        err.contains("public_key_hashs") && err.contains("malformed"),
        "{err}"
    );
}

#[test]
fn message_and_kernel_arguments() {
    use client::commands::{parse_kernel, parse_messages};
    assert_eq!(
        parse_messages(r#"text:["hello","x"]"#).unwrap(),
        vec![b"hello".to_vec(), b"x".to_vec()]
    );
    assert_eq!(
        parse_messages(r#"hex:["0a0b"]"#).unwrap(),
        vec![vec![0x0a, 0x0b]]
    );
    assert!(parse_messages("text:[]").is_err());
    assert!(parse_messages(r#"hex:["zz"]"#).is_err());
    assert!(parse_messages("json:[]").is_err());
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("m.json");
    std::fs::write(&f, r#"["a","b"]"#).unwrap();
    assert_eq!(
        parse_messages(&format!("file:{}", f.display())).unwrap(),
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    assert_eq!(parse_kernel("0x0061").unwrap(), vec![0, 0x61]);
    let k = d.path().join("k.wasm");
    std::fs::write(&k, b"\0asm\x01\0\0\0").unwrap();
    assert_eq!(
        parse_kernel(&format!("file:{}", k.display()))
            .unwrap()
            .len(),
        8
    );
    let h = d.path().join("k.hex");
    std::fs::write(&h, "0061736d01000000\n").unwrap();
    assert_eq!(
        parse_kernel(h.to_str().unwrap()).unwrap(),
        b"\0asm\x01\0\0\0"
    );
    assert!(parse_kernel("abc").is_err());
}
