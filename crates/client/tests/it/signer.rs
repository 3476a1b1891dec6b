//! The client with keys held by a real `smart-rollup-signer` (docs/reference/l1-and-signer.md
//! §5.7): `remote:` with `-R`, `tcp://`, `http://` and `unix:` key URIs, `sign bytes`,
//! `check that bytes`, a killed signer, and an operation signed remotely on the sandbox.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use test_support::SignerProcess;

use crate::{BOOTSTRAP1_PKH, BOOTSTRAP1_SK, BOOTSTRAP2_SK, client};

/// `octez-client sign bytes 0x03 for bootstrap1` (l1-and-signer.md §5.5).
const SIG_03: &str = "edsigtzxo2Q7wFiEjausSp7pKUXLK9PnPqf8rHEKdc18HtNVbZSg5WJyFJwk14w7mykCsq3nV5iB6Eo4gTX3y8Dv8tkn1EadRj7";

/// A signer holding the secret keys `sks`, launched with `transport` (`socket`/`http`).
fn signer(dir: &Path, sks: &[&str], transport: &str) -> (SignerProcess, u16) {
    let bin = test_support::binary("smart-rollup-signer").unwrap();
    for (i, sk) in sks.iter().enumerate() {
        super::signer_cli(
            dir,
            &["import", "secret", "key", &format!("k{i}"), sk, "--force"],
        );
    }
    let port = test_support::free_port().unwrap();
    let p = port.to_string();
    let s = SignerProcess::launch(
        Some(&bin),
        dir,
        &["launch", transport, "signer", "-a", "127.0.0.1", "-p", &p],
    )
    .unwrap();
    (s, port)
}

#[test]
fn remote_keys_sign_through_the_signer_and_a_dead_signer_is_a_clear_error() {
    let sd = tempfile::tempdir().unwrap();
    let (mut tcp, port) = signer(sd.path(), &[BOOTSTRAP1_SK], "socket");
    let (_http, hport) = signer(sd.path(), &[], "http");
    let d = tempfile::tempdir().unwrap();
    let r = format!("tcp://127.0.0.1:{port}");
    let remote = format!("remote:{BOOTSTRAP1_PKH}");
    let out = client(
        d.path(),
        None,
        &["-R", &r, "import", "secret", "key", "r", &remote],
    )
    .out();
    assert_eq!(out, format!("Tezos address added: {BOOTSTRAP1_PKH}\n"));
    let list = client(d.path(), None, &["list", "known", "addresses"]).out();
    assert_eq!(list, format!("r: {BOOTSTRAP1_PKH} (remote sk known)\n"));
    let t = format!("{r}/{BOOTSTRAP1_PKH}");
    client(d.path(), None, &["import", "secret", "key", "t", &t]).out();
    let h = format!("http://127.0.0.1:{hport}/{BOOTSTRAP1_PKH}");
    client(d.path(), None, &["import", "secret", "key", "h", &h]).out();
    // The public key was asked at import and recorded with the URI as locator.
    let show = client(d.path(), None, &["show", "address", "h"]).out();
    assert!(show.contains("Public Key: edpk"), "{show}");
    for (alias, extra) in [("r", vec!["-R", r.as_str()]), ("t", vec![]), ("h", vec![])] {
        let mut args = extra.clone();
        args.extend(["sign", "bytes", "0x03", "for", alias]);
        let out = client(d.path(), None, &args).out();
        assert_eq!(out, format!("Signature: {SIG_03}\n"), "{alias}");
    }
    let ok = client(
        d.path(),
        None,
        &[
            "check", "that", "bytes", "0x03", "were", "signed", "by", "h", "to", "produce", SIG_03,
        ],
    )
    .out();
    assert_eq!(ok, "Signature check successful.\n");
    let err = client(
        d.path(),
        None,
        &[
            "check", "that", "bytes", "0x04", "were", "signed", "by", "h", "to", "produce", SIG_03,
        ],
    )
    .err();
    assert!(err.contains("invalid signature"), "{err}");
    // remote: without -R nor TEZOS_SIGNER_*: the option is named.
    let err = client(d.path(), None, &["sign", "bytes", "0x03", "for", "r"]).err();
    assert!(err.contains("-R/--remote-signer"), "{err}");
    tcp.kill();
    let err = client(d.path(), None, &["sign", "bytes", "0x03", "for", "t"]).err();
    assert!(
        err.contains(&format!(
            "cannot reach the remote signer at tcp://127.0.0.1:{port}"
        )),
        "{err}"
    );
    let err = client(
        d.path(),
        None,
        &["import", "secret", "key", "x", "encrypted:abc"],
    )
    .err();
    assert!(err.contains("-f/--password-filename"), "{err}");
    let err = client(
        d.path(),
        None,
        &["import", "secret", "key", "x", "ledger://a/b"],
    )
    .err();
    assert!(err.contains("unsupported secret key URI scheme"), "{err}");
    let err = client(
        d.path(),
        None,
        &["import", "secret", "key", "y", "unencrypted:edskXXX"],
    )
    .err();
    assert!(err.contains("cannot parse secret key"), "{err}");
}

#[test]
fn operations_are_signed_remotely_on_the_sandbox_and_a_tz4_is_revealed_with_its_proof() {
    let data = test_support::temp_dir("client-signer-sandbox").unwrap();
    let sb = test_support::Sandbox::builder(data.path())
        .block_time(Some("0.5"))
        .start()
        .unwrap();
    let sd = tempfile::tempdir().unwrap();
    let bin = test_support::binary("smart-rollup-signer").unwrap();
    super::signer_cli(sd.path(), &["gen", "keys", "bls", "--sig", "bls"]);
    let show = super::signer_cli(sd.path(), &["show", "address", "bls"]);
    let tz4 = show
        .lines()
        .next()
        .unwrap()
        .strip_prefix("Hash: ")
        .unwrap()
        .to_owned();
    super::signer_cli(sd.path(), &["import", "secret", "key", "k0", BOOTSTRAP2_SK]);
    let hport = test_support::free_port().unwrap();
    let p = hport.to_string();
    let s = SignerProcess::launch(
        Some(&bin),
        sd.path(),
        &[
            "launch",
            "http",
            "signer",
            "-a",
            "127.0.0.1",
            "-p",
            &p,
            "--allow-to-prove-possession",
        ],
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let pkh = tezos_types::SecretKey::from_uri(BOOTSTRAP2_SK)
        .unwrap()
        .public_key_hash()
        .to_b58check();
    let r = format!("http://127.0.0.1:{hport}");
    let e = Some(sb.endpoint());
    client(
        d.path(),
        e,
        &["import", "secret", "key", "b1", BOOTSTRAP1_SK],
    )
    .out();
    for (alias, key) in [("op", &pkh), ("bls", &tz4)] {
        let uri = format!("remote:{key}");
        client(
            d.path(),
            e,
            &["-R", &r, "import", "secret", "key", alias, &uri],
        )
        .out();
    }
    let out = client(
        d.path(),
        e,
        &[
            "-R",
            &r,
            "send",
            "smart",
            "rollup",
            "message",
            r#"text:["remote"]"#,
            "from",
            "op",
        ],
    )
    .out();
    assert!(
        out.contains("This smart rollup messages submission was successfully applied"),
        "{out}"
    );
    // A fresh tz4 held by the signer: funded, then revealed (with the signer's proof of
    // possession) and used in one batch.
    client(
        d.path(),
        e,
        &[
            "transfer",
            "10",
            "from",
            "b1",
            "to",
            "bls",
            "--burn-cap",
            "1",
        ],
    )
    .out();
    let out = client(
        d.path(),
        e,
        &[
            "-R",
            &r,
            "send",
            "smart",
            "rollup",
            "message",
            r#"text:["tz4"]"#,
            "from",
            "bls",
        ],
    )
    .out();
    assert!(out.contains("Revelation of manager public key"), "{out}");
    assert!(
        out.contains("This smart rollup messages submission was successfully applied"),
        "{out}"
    );
    test_support::wait_until(
        "the requests in the signer's log",
        Duration::from_secs(10),
        || {
            let log = s.output();
            log.contains("request sign") && log.contains("request bls_prove_possession")
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", s.output()));
}

#[test]
fn https_signer_with_a_private_ca_and_authentication() {
    let sd = tempfile::tempdir().unwrap();
    let bin = test_support::binary("smart-rollup-signer").unwrap();
    let (ca, cert, key) = test_support::write_test_certificates(sd.path()).unwrap();
    let auth_sk = tezos_types::SecretKey::from_uri(BOOTSTRAP2_SK).unwrap();
    let run = |args: &[&str]| {
        super::signer_cli(sd.path(), args);
    };
    run(&["import", "secret", "key", "b1", BOOTSTRAP1_SK]);
    run(&[
        "add",
        "authorized",
        "key",
        &auth_sk.public_key().to_b58check(),
        "--name",
        "b2",
    ]);
    let port = test_support::free_port().unwrap().to_string();
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let _s = SignerProcess::launch(
        Some(&bin),
        sd.path(),
        &[
            "-A",
            "launch",
            "https",
            "signer",
            cert,
            key,
            "-a",
            "127.0.0.1",
            "-p",
            &port,
        ],
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let uri = format!("https://localhost:{port}/{BOOTSTRAP1_PKH}");
    let with_ca = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_smart-rollup-client"));
        cmd.arg("-d")
            .arg(d.path())
            .env("HOME", d.path())
            .env("SSL_CERT_FILE", &ca);
        crate::Run::from(cmd.args(args).output().unwrap())
    };
    with_ca(&["import", "secret", "key", "h", &uri]).out();
    // The wallet holds no authorized key yet: refused with the fix named.
    let err = with_ca(&["sign", "bytes", "0x03", "for", "h"]).err();
    assert!(err.contains("add authorized key"), "{err}");
    with_ca(&["import", "secret", "key", "b2", BOOTSTRAP2_SK]).out();
    let out = with_ca(&["sign", "bytes", "0x03", "for", "h"]).out();
    assert_eq!(out, format!("Signature: {SIG_03}\n"));
    // Without the private CA the certificate is rejected, and the fix is named.
    let err = client(d.path(), None, &["sign", "bytes", "0x03", "for", "h"]).err();
    assert!(
        err.contains("TLS certificate of the remote signer") && err.contains("SSL_CERT_FILE"),
        "{err}"
    );
}

/// The seed's key steps (issue 11 "Done when"): keys generated in the signer with `gen keys`
/// for each curve, imported in the client as `remote:<pkh>` with `-R`, `sign bytes 0x03…`
/// through the signer, then `check that bytes … were signed by` (l1-and-signer.md §5.7).
#[test]
fn keys_generated_in_the_signer_sign_bytes_through_the_client() {
    let sd = tempfile::tempdir().unwrap();
    let d = tempfile::tempdir().unwrap();
    let curves = ["ed25519", "secp256k1", "p256"];
    let mut pkhs = vec![];
    for curve in curves {
        let run = |args: &[&str]| super::signer_cli(sd.path(), args);
        run(&["gen", "keys", curve, "--sig", curve]);
        let show = run(&["show", "address", curve]);
        let pkh = show
            .lines()
            .find_map(|l| l.strip_prefix("Hash: "))
            .unwrap_or_else(|| panic!("no `Hash:` line in {show}"))
            .trim()
            .to_owned();
        pkhs.push(pkh);
    }
    let (_s, port) = signer(sd.path(), &[], "socket");
    let r = format!("tcp://127.0.0.1:{port}");
    for (curve, pkh) in curves.iter().zip(&pkhs) {
        let remote = format!("remote:{pkh}");
        let out = client(
            d.path(),
            None,
            &["-R", &r, "import", "secret", "key", curve, &remote],
        )
        .out();
        assert_eq!(out, format!("Tezos address added: {pkh}\n"), "{curve}");
        let out = client(
            d.path(),
            None,
            &["-R", &r, "sign", "bytes", "0x03aabb", "for", curve],
        )
        .out();
        let sig = out
            .strip_prefix("Signature: ")
            .unwrap_or_else(|| panic!("{curve}: {out}"))
            .trim()
            .to_owned();
        let ok = client(
            d.path(),
            None,
            &[
                "check", "that", "bytes", "0x03aabb", "were", "signed", "by", curve, "to",
                "produce", &sig,
            ],
        )
        .out();
        assert_eq!(ok, "Signature check successful.\n", "{curve}");
        let err = client(
            d.path(),
            None,
            &[
                "check", "that", "bytes", "0x03aabc", "were", "signed", "by", curve, "to",
                "produce", &sig,
            ],
        )
        .err();
        assert!(err.contains("invalid signature"), "{curve}: {err}");
    }
}
