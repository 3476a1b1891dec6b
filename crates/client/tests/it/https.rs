//! End to end over https (issue 18 §2): the client reaches the sandbox through a TLS reverse
//! proxy with a private CA made at test time and a base path (`https://127.0.0.1:PORT/mainnet`),
//! trusting the CA through `SSL_CERT_FILE`: it sends a message and originates a rollup. Without
//! the CA the certificate is refused, and an endpoint that is not an http(s) URL is refused
//! before any request, each with a message naming `-E/--endpoint`.

use std::path::Path;
use std::process::Command;

use test_support::TlsProxy;

use crate::{BOOTSTRAP1_SK, BOOTSTRAP2_SK, Run};

/// Runs the client with `-d dir -E endpoint args`, trusting `ca` only (`None`: the system
/// store only).
fn client(dir: &Path, endpoint: &str, ca: Option<&Path>, args: &[&str]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_smart-rollup-client"));
    cmd.arg("-d").arg(dir).args(["-E", endpoint]).args(args);
    cmd.env("HOME", dir).env_remove("SSL_CERT_DIR");
    match ca {
        Some(ca) => cmd.env("SSL_CERT_FILE", ca),
        None => cmd.env_remove("SSL_CERT_FILE"),
    };
    Run::from(cmd.output().expect("running smart-rollup-client"))
}

#[test]
fn client_sends_and_originates_through_an_https_endpoint_with_a_base_path() {
    let data = test_support::temp_dir("client-https-sandbox").unwrap();
    let sb = test_support::Sandbox::builder(data.path())
        .block_time(Some("0.5"))
        .start()
        .unwrap();
    let proxy = TlsProxy::start(&[("/mainnet", sb.endpoint())]).unwrap();
    let endpoint = proxy.url("/mainnet");
    let ca = Some(proxy.ca_file());
    let d = tempfile::tempdir().unwrap();
    for (name, sk) in [("bootstrap1", BOOTSTRAP1_SK), ("bootstrap2", BOOTSTRAP2_SK)] {
        client(
            d.path(),
            &endpoint,
            ca,
            &["import", "secret", "key", name, sk],
        )
        .out();
    }
    let out = client(
        d.path(),
        &endpoint,
        ca,
        &[
            "send",
            "smart",
            "rollup",
            "message",
            r#"text:["over https"]"#,
            "from",
            "bootstrap2",
        ],
    )
    .out();
    assert!(
        out.contains("This smart rollup messages submission was successfully applied"),
        "{out}"
    );
    let mut args = super::originate("r", "bootstrap1", "0061736d01000000");
    args.extend(["--burn-cap", "2"]);
    let out = client(d.path(), &endpoint, ca, &args).out();
    let addr = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("Address: "))
        .unwrap_or_else(|| panic!("no address in {out}"));
    // The rollup exists on the L1 behind the proxy.
    let kind = sb.get(&format!(
        "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{addr}/kind"
    ));
    assert_eq!(kind, "wasm_2_0_0");
    assert!(proxy.requests("/mainnet") > 5);

    // Without the CA: refused, naming the option and the endpoint, nothing sent.
    let before = proxy.requests("/mainnet");
    let err = client(
        d.path(),
        &endpoint,
        None,
        &[
            "send",
            "smart",
            "rollup",
            "message",
            r#"text:["x"]"#,
            "from",
            "bootstrap2",
        ],
    )
    .err();
    assert!(err.contains(&format!("-E/--endpoint {endpoint}")), "{err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert_eq!(proxy.requests("/mainnet"), before);
}

#[test]
fn endpoints_that_are_not_http_urls_are_refused() {
    let d = tempfile::tempdir().unwrap();
    for bad in ["ftp://x", "ht!tp://::nope"] {
        let err = client(
            d.path(),
            bad,
            None,
            &[
                "get",
                "balance",
                "for",
                "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx",
            ],
        )
        .err();
        assert!(err.contains("-E/--endpoint") && err.contains(bad), "{err}");
    }
}
