//! End to end over https (issue 18 §2): a TLS reverse proxy with a private CA made at test time
//! (`test_support::TlsProxy`) serves the sandbox L1 under `/l1` and the pre-images directory
//! under `/preimages`. The node, trusting the CA through `SSL_CERT_FILE`, follows the L1 through
//! `https://127.0.0.1:PORT/l1` (RPCs and the head monitor stream, the base path kept) and
//! fetches the installer's pre-images through `https://127.0.0.1:PORT/preimages`. Without the
//! CA, and with an endpoint that is not an http(s) URL, the node stops at once with an error
//! naming the option (configuration errors are never retried).
//!
//! The sandbox binary is found by `test_support::binary` (build it first with
//! `cargo build -p sandbox --bin smart-rollup-sandbox`); the installer kernel by
//! `test_support::installer_dir` (`scripts/build-kernels.sh`).

use std::path::Path;
use std::time::Duration;

use preimages::RevealHash;
use serde_json::json;
use test_support::{FileServer, RollupNode, Sandbox, TlsProxy, installer_dir, wait_for};

/// Guard of the waits (the node compiles kernels in debug builds).
const BOUND: Duration = Duration::from_secs(240);
/// A configuration error must stop the node well within this.
const FATAL_BOUND: Duration = Duration::from_secs(60);

/// The counter installer kernel (boot sector) and the directory of its pre-images.
fn installer() -> (Vec<u8>, std::path::PathBuf) {
    let dir = installer_dir().unwrap();
    let hex_text = std::fs::read_to_string(dir.join("counter-installer.hex")).unwrap();
    (
        hex::decode(hex_text.trim()).unwrap(),
        dir.join("counter-preimages"),
    )
}

/// Waits until `node` exits; its error (exit status and end of output).
fn wait_exit(node: &mut RollupNode) -> String {
    wait_for("the node to exit", FATAL_BOUND, || {
        match node.check_running() {
            Ok(()) => Ok(None),
            Err(e) => Ok(Some(e.to_string())),
        }
    })
    .unwrap_or_else(|e| panic!("{e}\nnode output:\n{}", node.output()))
}

/// Starts a node with `args` that must stop at once on a configuration error: the exit
/// status (non-zero) and the output.
fn fatal_start(data_dir: &Path, l1: &str, without_ca: bool, args: &[&str]) -> String {
    let mut b = super::node(data_dir, l1).args(args);
    if without_ca {
        // The system store only, which does not know the test CA.
        b = b.env_remove("SSL_CERT_FILE").env_remove("SSL_CERT_DIR");
    }
    let exited = match b.start() {
        // The RPC server may answer before the follower stops the node.
        Ok(mut node) => wait_exit(&mut node),
        Err(e) => e.to_string(),
    };
    assert!(exited.contains("exited unexpectedly"), "{exited}");
    assert!(!exited.contains("exit status: 0"), "{exited}");
    eprintln!("the node's error: {exited}");
    exited
}

#[test]
fn node_follows_the_l1_and_fetches_preimages_through_an_https_proxy_with_a_base_path() {
    let (kernel, preimages) = installer();
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let addr = sb.originate_wasm(&kernel);
    let files = FileServer::start(&preimages).unwrap();
    let proxy = TlsProxy::start(&[("/l1", sb.endpoint()), ("/preimages", &files.url())]).unwrap();
    let node_dir = dir.path().join("node");
    super::init_config(&node_dir, &addr);
    let ca = proxy.ca_file().to_str().unwrap().to_owned();
    let mut node = super::node(&node_dir, &proxy.url("/l1"))
        .env("SSL_CERT_FILE", &ca)
        .env_remove("SSL_CERT_DIR")
        .args(["--pre-images-endpoint", &proxy.url("/preimages")])
        .start()
        .unwrap();
    sb.bake();
    sb.send_messages(&[b"hello"]);
    sb.bake();
    node.wait_synced(&sb, BOUND)
        .unwrap_or_else(|e| panic!("{e}\nnode output:\n{}", node.output()));
    node.check_running().unwrap();
    // The installer revealed the counter kernel through https, which processed the message.
    assert_eq!(
        node.durable("head", "/last_message"),
        json!(hex::encode(b"hello"))
    );
    assert!(node.durable("head", "/counter").is_string());
    let stored = node_dir.join("wasm_2_0_0");
    let mut n = 0usize;
    for e in std::fs::read_dir(&stored).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        assert_eq!(
            RevealHash::of_preimage(&std::fs::read(e.path()).unwrap()).to_hex(),
            name
        );
        n += 1;
    }
    assert!(n > 0, "no pre-image stored");
    // Everything went through the proxy: the L1 RPCs and stream, and each pre-image.
    assert!(proxy.requests("/l1") > 3, "{}", proxy.requests("/l1"));
    assert!(proxy.requests("/preimages") >= n);
    eprintln!(
        "{} L1 requests and {} pre-image requests through the proxy, {n} pre-images stored",
        proxy.requests("/l1"),
        proxy.requests("/preimages")
    );
    // Heads keep coming through the proxied monitor stream.
    sb.bake();
    node.wait_synced(&sb, BOUND)
        .unwrap_or_else(|e| panic!("{e}\nnode output:\n{}", node.output()));
}

#[test]
fn without_the_ca_the_node_refuses_the_certificate_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let proxy = TlsProxy::start(&[("/l1", sb.endpoint())]).unwrap();
    let node_dir = dir.path().join("node");
    super::init_config(&node_dir, super::ADDR);
    let l1 = proxy.url("/l1");
    let out = fatal_start(&node_dir, &l1, true, &[]);
    assert!(out.contains(&format!("--endpoint {l1}")), "{out}");
    assert!(out.contains("UnknownIssuer"), "{out}");
    assert!(out.contains("SSL_CERT_FILE"), "{out}");
    assert!(!out.contains("retrying"), "{out}");
    // The same for the pre-images endpoint, with the L1 over plain http.
    let files = FileServer::start(dir.path()).unwrap();
    let proxy = TlsProxy::start(&[("/preimages", &files.url())]).unwrap();
    let pre = proxy.url("/preimages");
    let out = fatal_start(
        &node_dir,
        sb.endpoint(),
        true,
        &["--pre-images-endpoint", &pre],
    );
    assert!(
        out.contains(&format!("--pre-images-endpoint {pre}")),
        "{out}"
    );
    assert!(out.contains("UnknownIssuer"), "{out}");
}

#[test]
fn endpoints_that_are_not_http_urls_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let node_dir = dir.path().join("node");
    super::init_config(&node_dir, super::ADDR);
    for bad in ["ftp://x", "ht!tp://::nope"] {
        let out = fatal_start(&node_dir, bad, false, &[]);
        assert!(out.contains("--endpoint") && out.contains(bad), "{out}");
        let out = fatal_start(
            &node_dir,
            "http://127.0.0.1:1",
            false,
            &["--pre-images-endpoint", bad],
        );
        assert!(
            out.contains("--pre-images-endpoint") && out.contains(bad),
            "{out}"
        );
    }
}
