//! End to end: the installer path through the real node with a corrupted pre-image.
//!
//! A rollup is originated on a real `smart-rollup-sandbox` with the counter installer kernel
//! (`kernels/target/installer/`, built by `scripts/build-kernels.sh`); its pre-images are served
//! over HTTP on loopback by a small server of this test, one of them corrupted (other bytes
//! under the original hash name). The node run with `--pre-images-endpoint` must refuse it
//! (wasm-pvm.md §5.3: every pre-image is verified against its hash), log an error naming the
//! hash, keep it out of `<data-dir>/wasm_2_0_0/` and not process the level; once the server
//! serves the right bytes, the node installs the counter kernel and processes messages.
//! Same for a corrupted file already in `wasm_2_0_0/`: refused until the operator deletes it.
//!
//! The node stays up, degraded, retrying the level. (Octez exits with code 1 on a missing
//! pre-image while still at the genesis commitment, octez-rollup-node.md §3 "Degraded mode";
//! this node keeps retrying so that fixing the endpoint is enough.)
//!
//! The sandbox binary is found by `test_support::binary` (build it first with
//! `cargo build -p sandbox --bin smart-rollup-sandbox`, or set `SMART_ROLLUP_SANDBOX`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use preimages::RevealHash;
use serde_json::{Value, json};
use test_support::{RollupNode, Sandbox, installer_dir, wait_for};

/// Guard of the waits (generous: the node compiles kernels in debug builds).
const BOUND: Duration = Duration::from_secs(240);

/// What the pre-images server serves, and what it was asked.
#[derive(Default)]
struct Served {
    /// File name (hex hash) → bytes.
    files: BTreeMap<String, Vec<u8>>,
    /// Paths requested, in order.
    requests: Vec<String>,
}

/// A minimal HTTP/1.1 server on a loopback port: `GET /<name>` → `200` with the bytes of
/// `name`, else `404`; one request per connection (`Connection: close`).
struct PreimageServer {
    port: u16,
    served: Arc<Mutex<Served>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PreimageServer {
    fn start(files: BTreeMap<String, Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = Arc::new(Mutex::new(Served {
            files,
            requests: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (Arc::clone(&served), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    // An I/O error only affects this request: the node retries.
                    let _ = answer(conn, &s);
                }
            }
        });
        Self {
            port,
            served,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Served) -> T) -> T {
        f(&mut self.served.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// How many times `name` was requested.
    fn requests_of(&self, name: &str) -> usize {
        self.with(|s| {
            s.requests
                .iter()
                .filter(|r| r.as_str() == format!("/{name}"))
                .count()
        })
    }
}

impl Drop for PreimageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop up.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut conn: TcpStream, served: &Mutex<Served>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Skip the headers (the request has no body).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let body = {
        let mut s = served.lock().unwrap_or_else(PoisonError::into_inner);
        s.requests.push(path.to_owned());
        (method == "GET")
            .then(|| s.files.get(path.trim_start_matches('/')).cloned())
            .flatten()
    };
    let (status, body) = match body {
        Some(b) => ("200 OK", b),
        None => ("404 Not Found", b"not found".to_vec()),
    };
    write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    conn.write_all(&body)?;
    conn.flush()
}

/// `name → bytes` of every file of `dir`.
fn read_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The counter installer: boot sector, root hash and pre-images (all verified), and the
/// name of the content page (tag 0 in the installer's page encoding, wasm-pvm.md §5.4) that the
/// tests corrupt: a leaf, fetched after the root and possibly other pages were verified.
struct Installer {
    kernel: Vec<u8>,
    good: BTreeMap<String, Vec<u8>>,
    page: String,
}

impl Installer {
    fn load() -> Self {
        let dir = installer_dir().unwrap();
        let hex_text = std::fs::read_to_string(dir.join("counter-installer.hex")).unwrap();
        let kernel = hex::decode(hex_text.trim()).unwrap();
        let root = std::fs::read_to_string(dir.join("counter-root-hash.hex"))
            .unwrap()
            .trim()
            .to_owned();
        let good = read_dir(&dir.join("counter-preimages"));
        for (name, bytes) in &good {
            assert_eq!(
                RevealHash::of_preimage(bytes).to_hex(),
                *name,
                "the built pre-images must be valid (rebuild with scripts/build-kernels.sh)"
            );
        }
        assert!(good.contains_key(&root), "root pre-image {root} missing");
        let page = good
            .iter()
            .find(|(name, bytes)| **name != root && bytes.first() == Some(&0))
            .map(|(name, _)| name.clone())
            .expect("a content page among the pre-images");
        Self { kernel, good, page }
    }

    /// The page's bytes with the last one flipped: they no longer hash to the page's name.
    fn corrupted_page(&self) -> Vec<u8> {
        let mut bytes = self.good[&self.page].clone();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        bytes
    }
}

/// A sandbox with the installer rollup originated, and a node following it with `endpoint` as
/// pre-images endpoint; `prepare` runs on the node's data directory before the node starts.
struct Setup {
    _dir: tempfile::TempDir,
    sb: Sandbox,
    node: RollupNode,
    orig: i64,
    preimages_dir: std::path::PathBuf,
}

fn setup(kernel: &[u8], endpoint: &str, prepare: impl FnOnce(&Path)) -> Setup {
    setup_with(kernel, endpoint, &[], prepare)
}

fn setup_with(kernel: &[u8], endpoint: &str, extra: &[&str], prepare: impl FnOnce(&Path)) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let sb = Sandbox::start(&dir.path().join("sandbox")).unwrap();
    let addr = sb.originate_wasm(kernel);
    let orig = sb.level();
    let node_dir = dir.path().join("node");
    super::init_config(&node_dir, &addr);
    prepare(&node_dir);
    let node = super::node(&node_dir, sb.endpoint())
        .args(["--pre-images-endpoint", endpoint])
        .args(extra)
        .start()
        .unwrap();
    sb.bake();
    sb.bake();
    Setup {
        preimages_dir: node_dir.join("wasm_2_0_0"),
        _dir: dir,
        sb,
        node,
        orig,
    }
}

/// The ERROR lines of the node's output naming `hash`.
fn errors_naming(node: &RollupNode, hash: &str) -> Vec<String> {
    node.output()
        .lines()
        .filter(|l| l.contains(hash) && l.contains("ERROR"))
        .map(str::to_owned)
        .collect()
}

/// The node is stuck at the origination level, degraded, with the kernel not installed.
fn assert_stuck(s: &Setup) {
    let health = s.node.get("/health");
    assert_eq!(health["degraded"], json!(true), "{health}");
    assert_eq!(health["healthy"], json!(false), "{health}");
    assert_eq!(s.node.get("/global/tezos_level"), json!(s.orig));
    assert_eq!(s.node.durable("head", "/counter"), Value::Null);
}

/// The counter kernel is installed and runs: a message reaches `/last_message`, and every
/// stored pre-image hashes to its name.
fn assert_recovers(s: &mut Setup, good: &BTreeMap<String, Vec<u8>>) {
    s.sb.send_messages(&[b"hello"]);
    s.sb.bake();
    s.node.wait_synced(&s.sb, BOUND).unwrap();
    s.node.check_running().unwrap();
    assert_eq!(
        s.node.durable("head", "/last_message"),
        json!(hex::encode(b"hello"))
    );
    let counter = s.node.durable("head", "/counter");
    assert!(counter.is_string(), "no /counter: {counter}");
    assert_eq!(s.node.get("/health")["degraded"], json!(false));
    let stored = read_dir(&s.preimages_dir);
    assert_eq!(
        stored.keys().collect::<Vec<_>>(),
        good.keys().collect::<Vec<_>>(),
        "every pre-image of the installer is stored"
    );
    for (name, bytes) in stored {
        assert_eq!(RevealHash::of_preimage(&bytes).to_hex(), name);
    }
}

#[test]
fn corrupted_preimage_from_the_endpoint_is_refused_then_the_node_recovers() {
    let inst = Installer::load();
    let mut bad_files = inst.good.clone();
    bad_files.insert(inst.page.clone(), inst.corrupted_page());
    let server = PreimageServer::start(bad_files);
    let mut s = setup(&inst.kernel, &server.url(), |_| {});

    // The node fetches the corrupted page, refuses it and retries the level.
    let corrupt = &inst.page;
    let node = &mut s.node;
    wait_for(
        "the node to request the corrupted pre-image twice",
        BOUND,
        || {
            node.check_running()?;
            Ok((server.requests_of(corrupt) >= 2).then_some(()))
        },
    )
    .unwrap_or_else(|e| panic!("{e}\nnode output:\n{}", node.output()));
    let error_line = errors_naming(node, corrupt)
        .into_iter()
        .next()
        .unwrap_or_else(|| {
            panic!(
                "no error naming {corrupt} in the node's output:\n{}",
                node.output()
            )
        });
    assert!(error_line.contains("refused"), "{error_line}");
    assert!(
        error_line.contains("endpoint serves wrong data"),
        "{error_line}"
    );
    eprintln!("the node's error: {error_line}");
    assert!(
        !s.preimages_dir.join(corrupt).exists(),
        "the corrupted pre-image was stored"
    );
    // Every file stored so far is a verified pre-image.
    for (name, bytes) in read_dir(&s.preimages_dir) {
        assert_eq!(RevealHash::of_preimage(&bytes).to_hex(), name);
    }
    assert_stuck(&s);

    // The endpoint is fixed: the node installs the counter kernel and runs it.
    server.with(|served| served.files = inst.good.clone());
    assert_recovers(&mut s, &inst.good);
}

/// A corrupted file in `<data-dir>/wasm_2_0_0/` (e.g. damaged disk) is refused like a wrong
/// answer of the endpoint (re-verified before use, wasm-pvm.md §5.3) and is not silently
/// replaced; once the operator deletes it, the node fetches the right one and recovers.
#[test]
fn corrupted_preimage_file_is_refused_until_deleted() {
    let inst = Installer::load();
    let server = PreimageServer::start(inst.good.clone());
    let corrupted = inst.corrupted_page();
    let page = inst.page.clone();
    let mut s = setup(&inst.kernel, &server.url(), |node_dir| {
        let dir = node_dir.join("wasm_2_0_0");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(&page), &corrupted).unwrap();
    });
    let node = &mut s.node;
    // Twice: the first failure was handled (degraded) before the level was retried.
    let error_line = wait_for("the node to refuse the corrupted file twice", BOUND, || {
        node.check_running()?;
        let errors = errors_naming(node, &page);
        Ok((errors.len() >= 2).then(|| errors[0].clone()))
    })
    .unwrap_or_else(|e| panic!("{e}\nnode output:\n{}", node.output()));
    assert!(error_line.contains("delete this file"), "{error_line}");
    assert!(error_line.contains("refused"), "{error_line}");
    assert_stuck(&s);
    // Not fetched from the endpoint, and left as is for the operator to inspect.
    assert_eq!(server.requests_of(&page), 0);
    assert_eq!(
        std::fs::read(s.preimages_dir.join(&page)).unwrap(),
        corrupted
    );

    std::fs::remove_file(s.preimages_dir.join(&page)).unwrap();
    assert_recovers(&mut s, &inst.good);
    assert_eq!(server.requests_of(&page), 1);
}

#[test]
fn with_no_degraded_a_refused_preimage_stops_the_node() {
    let inst = Installer::load();
    let mut bad_files = inst.good.clone();
    bad_files.insert(inst.page.clone(), inst.corrupted_page());
    let server = PreimageServer::start(bad_files);
    let mut s = setup_with(&inst.kernel, &server.url(), &["--no-degraded"], |_| {});
    let node = &mut s.node;
    let exited = wait_for("the node to exit", BOUND, || match node.check_running() {
        Ok(()) => Ok(None),
        Err(e) => Ok(Some(e.to_string())),
    })
    .unwrap();
    assert!(exited.contains("exit status: 1"), "{exited}");
    assert!(exited.contains("--no-degraded"), "{exited}");
    assert!(
        exited.contains(&inst.page),
        "the error names the pre-image: {exited}"
    );
    assert!(!s.preimages_dir.join(&inst.page).exists());
}
