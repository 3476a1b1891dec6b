//! The client commands of the operator's workflow: `encrypted:` keys opened with
//! `-f/--password-filename`, a signer requiring authentication by an encrypted wallet key, and
//! on the sandbox `list smart rollups`, `rpc get` (the staker queries), `cement commitment` and
//! `execute outbox message` (docs/reference/l1-and-signer.md §2.9, §5.4, §5.7).

use std::path::Path;

use test_support::SignerProcess;
use tezos_types::SecretKey;

use crate::{BOOTSTRAP1_PKH, BOOTSTRAP1_SK, BOOTSTRAP2_SK, client};

/// `octez-client sign bytes 0x03 for bootstrap1` (l1-and-signer.md §5.5).
const SIG_03: &str = "edsigtzxo2Q7wFiEjausSp7pKUXLK9PnPqf8rHEKdc18HtNVbZSg5WJyFJwk14w7mykCsq3nV5iB6Eo4gTX3y8Dv8tkn1EadRj7";

/// `sk` as an Octez `encrypted:` URI with `password`.
fn encrypted(sk: &str, password: &str) -> String {
    let sk = SecretKey::from_uri(sk).unwrap();
    signer::encrypted::encrypt(&sk, password.as_bytes(), [5; 8]).unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn encrypted_keys_sign_with_the_password_file_and_a_wrong_one_is_a_clear_error() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let good = write(dir, "pw", "not this one\ntezos\n");
    let bad = write(dir, "bad", "nope\n");
    let uri = encrypted(BOOTSTRAP1_SK, "tezos");
    // Importing needs the password too (the address is the key's).
    let err = client(dir, None, &["import", "secret", "key", "enc", &uri]).err();
    assert!(err.contains("-f/--password-filename"), "{err}");
    let out = client(
        dir,
        None,
        &["-f", &good, "import", "secret", "key", "enc", &uri],
    )
    .out();
    assert_eq!(out, format!("Tezos address added: {BOOTSTRAP1_PKH}\n"));
    let list = client(dir, None, &["list", "known", "addresses"]).out();
    assert_eq!(
        list,
        format!("enc: {BOOTSTRAP1_PKH} (encrypted sk known)\n")
    );
    // Signing by alias and by address, with the password file.
    for name in ["enc", BOOTSTRAP1_PKH] {
        let out = client(
            dir,
            None,
            &["-f", &good, "sign", "bytes", "0x03", "for", name],
        )
        .out();
        assert_eq!(out, format!("Signature: {SIG_03}\n"), "{name}");
    }
    // Without the file, with a wrong one, with a missing one: the key and the option named.
    let err = client(dir, None, &["sign", "bytes", "0x03", "for", "enc"]).err();
    assert!(
        err.contains("secret key of enc is encrypted") && err.contains("-f/--password-filename"),
        "{err}"
    );
    let err = client(
        dir,
        None,
        &["-f", &bad, "sign", "bytes", "0x03", "for", "enc"],
    )
    .err();
    assert!(
        err.contains("cannot open the encrypted secret key of enc")
            && err.contains("no password of the password file"),
        "{err}"
    );
    let missing = dir.join("missing").display().to_string();
    let err = client(
        dir,
        None,
        &["-f", &missing, "sign", "bytes", "0x03", "for", "enc"],
    )
    .err();
    assert!(
        err.contains(&missing) && err.contains("-f/--password-filename"),
        "{err}"
    );
    // An unknown key: the wallet directory and the import command are named.
    let err = client(dir, None, &["sign", "bytes", "0x03", "for", "nobody"]).err();
    assert!(
        err.contains("no secret key for nobody")
            && err.contains(&dir.display().to_string())
            && err.contains("import secret key"),
        "{err}"
    );
    // `gen keys --encrypted` takes the first password of the file; after the command `-f` is
    // `--force`.
    let err = client(dir, None, &["gen", "keys", "fresh", "--encrypted"]).err();
    assert!(err.contains("-f/--password-filename"), "{err}");
    client(
        dir,
        None,
        &["-f", &good, "gen", "keys", "fresh", "--encrypted"],
    )
    .out();
    client(
        dir,
        None,
        &["-f", &good, "gen", "keys", "fresh", "--encrypted", "-f"],
    )
    .out();
    let secret = client(dir, None, &["show", "address", "fresh", "-S"]).out();
    assert!(secret.contains("Secret Key: encrypted:edesk"), "{secret}");
    let one = write(dir, "one", "not this one\n");
    let out = client(
        dir,
        None,
        &["-f", &one, "sign", "bytes", "0x0a0b", "for", "fresh"],
    )
    .out();
    let sig = out.trim().strip_prefix("Signature: ").unwrap().to_owned();
    let ok = client(
        dir,
        None,
        &[
            "check", "that", "bytes", "0x0a0b", "were", "signed", "by", "fresh", "to", "produce",
            &sig,
        ],
    )
    .out();
    assert_eq!(ok, "Signature check successful.\n");
}

#[test]
fn a_signer_requiring_authentication_accepts_an_encrypted_wallet_key() {
    let sd = tempfile::tempdir().unwrap();
    let bin = test_support::binary("smart-rollup-signer").unwrap();
    let run = |args: &[&str]| {
        super::signer_cli(sd.path(), args);
    };
    run(&["import", "secret", "key", "b1", BOOTSTRAP1_SK]);
    let auth = SecretKey::from_uri(BOOTSTRAP2_SK).unwrap();
    run(&[
        "add",
        "authorized",
        "key",
        &auth.public_key().to_b58check(),
        "--name",
        "b2",
    ]);
    let port = test_support::free_port().unwrap();
    let p = port.to_string();
    let s = SignerProcess::launch(
        Some(&bin),
        sd.path(),
        &[
            "-A",
            "launch",
            "socket",
            "signer",
            "-a",
            "127.0.0.1",
            "-p",
            &p,
        ],
    )
    .unwrap();
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    let pw = write(dir, "pw", "b2-password\n");
    client(
        dir,
        None,
        &[
            "-f",
            &pw,
            "import",
            "secret",
            "key",
            "b2",
            &encrypted(BOOTSTRAP2_SK, "b2-password"),
        ],
    )
    .out();
    let r = format!("tcp://127.0.0.1:{port}");
    let remote = format!("remote:{BOOTSTRAP1_PKH}");
    client(
        dir,
        None,
        &["-R", &r, "import", "secret", "key", "op", &remote],
    )
    .out();
    // The authorized key is encrypted: without -f no wallet key can authenticate.
    let err = client(dir, None, &["-R", &r, "sign", "bytes", "0x03", "for", "op"]).err();
    assert!(err.contains("add authorized key"), "{err}");
    let out = client(
        dir,
        None,
        &["-R", &r, "-f", &pw, "sign", "bytes", "0x03", "for", "op"],
    )
    .out();
    assert_eq!(out, format!("Signature: {SIG_03}\n"));
    // The signer's log is read by another thread: wait for the line rather than race it.
    test_support::wait_until(
        "the signer's log line",
        std::time::Duration::from_secs(30),
        || s.output().contains("request sign"),
    )
    .unwrap_or_else(|e| panic!("{e}: {}", s.output()));
}

#[test]
fn operator_commands_on_the_sandbox() {
    let data = test_support::temp_dir("client-operator-sandbox").unwrap();
    let sb = test_support::Sandbox::builder(data.path())
        .block_time(Some("0.5"))
        .start()
        .unwrap();
    let e = Some(sb.endpoint());
    let d = tempfile::tempdir().unwrap();
    let dir = d.path();
    client(
        dir,
        e,
        &["import", "secret", "key", "bootstrap1", BOOTSTRAP1_SK],
    )
    .out();
    let mut args = super::originate("r", "bootstrap1", "0061736d01000000");
    args.extend(["--burn-cap", "2"]);
    let out = client(dir, e, &args).out();
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_owned()
    };
    let (addr, genesis) = (field("Address: "), field("Genesis commitment hash: "));

    // `list smart rollups`: one address per line.
    let list = client(dir, e, &["list", "smart", "rollups"]).out();
    assert!(list.lines().any(|l| l == addr), "{list}");

    // The staker queries are RPCs (`rpc get`), printed as octez-client prints JSON.
    let base = format!("/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}");
    let level = sb.get(&format!("{base}/genesis_info"))["level"]
        .as_i64()
        .unwrap();
    let lcc = client(
        dir,
        e,
        &[
            "rpc",
            "get",
            &format!("{base}/last_cemented_commitment_hash_with_level"),
        ],
    )
    .out();
    // 80 columns flat: Format's margin (78) breaks it before the last field.
    assert_eq!(
        lcc,
        format!("{{ \"hash\": \"{genesis}\",\n  \"level\": {level} }}\n")
    );
    let err = client(
        dir,
        e,
        &[
            "rpc",
            "get",
            &format!("{base}/staker/{BOOTSTRAP1_PKH}/staked_on_commitment"),
        ],
    )
    .err();
    assert!(
        err.contains("Command failed:") && err.contains("smart_rollup_not_staked"),
        "{err}"
    );
    let err = client(dir, e, &["rpc", "get", "/chains/main/blocks/head/nope"]).err();
    assert!(err.contains("No service found at this URL"), "{err}");

    // Nothing to cement yet: the protocol's error.
    let err = client(
        dir,
        e,
        &[
            "cement",
            "commitment",
            "from",
            "bootstrap1",
            "for",
            "smart",
            "rollup",
            "r",
        ],
    )
    .err();
    assert!(
        err.contains("smart_rollup_no_commitment_to_cement"),
        "{err}"
    );

    // An output proof that is not one: the operation fails with the protocol's error.
    let execute = |commitment: &str, proof: &str| {
        client(
            dir,
            e,
            &[
                "execute",
                "outbox",
                "message",
                "of",
                "smart",
                "rollup",
                "r",
                "from",
                "bootstrap1",
                "for",
                "commitment",
                "hash",
                commitment,
                "and",
                "output",
                "proof",
                proof,
            ],
        )
    };
    let err = execute(&genesis, "0xdeadbeef").err();
    assert!(err.contains("smart_rollup_execute_outbox_message"), "{err}");
    // Octez's answer is `smart_rollup_invalid_output_proof`; a sandbox without outbox
    // execution answers `smart_rollup_operation_not_supported`.
    assert!(
        err.contains("smart_rollup_invalid_output_proof")
            || err.contains("smart_rollup_operation_not_supported"),
        "{err}"
    );
    let err = execute("src1nope", "0x00").err();
    assert!(
        err.contains("cannot parse \"src1nope\" as a commitment hash"),
        "{err}"
    );
    let err = execute(&genesis, "0xzz").err();
    assert!(err.contains("cannot parse \"0xzz\" as bytes"), "{err}");
}
