//! Pre-images fetched from a real loopback HTTP server.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use preimages::{
    PreimageError, PreimageStore, RevealHash, RevealRequest, Revealer, RollupMetadata,
};

/// A tiny HTTP/1.1 server on 127.0.0.1 answering `GET /<path>` from a fixed map
/// (404 otherwise). Serves at most `max_requests` connections, then stops.
struct Server {
    base: String,
    hits: Arc<Mutex<Vec<String>>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl Server {
    fn start(routes: BTreeMap<String, (u16, Vec<u8>)>, max_requests: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let hits2 = Arc::clone(&hits);
        let handle = thread::spawn(move || {
            for stream in listener.incoming().take(max_requests) {
                let Ok(mut stream) = stream else { continue };
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                if reader.read_line(&mut request_line).is_err() {
                    continue;
                }
                // Drain headers.
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) if line == "\r\n" || line == "\n" => break,
                        Ok(_) => {}
                    }
                }
                let path = request_line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .to_owned();
                hits2.lock().unwrap().push(path.clone());
                let (status, body) = routes
                    .get(&path)
                    .cloned()
                    .unwrap_or((404, b"not found".to_vec()));
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(&body);
                let _ = stream.flush();
            }
        });
        Self {
            base: format!("http://{addr}"),
            hits,
            handle: Some(handle),
        }
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Unblock the accept loop if it still waits, then join.
        if let Some(h) = self.handle.take() {
            if !h.is_finished() {
                let addr = self.base.trim_start_matches("http://").to_owned();
                for _ in 0..64 {
                    if h.is_finished() || std::net::TcpStream::connect(&addr).is_err() {
                        break;
                    }
                }
            }
            let _ = h.join();
        }
    }
}

fn route(prefix: &str, hash: &RevealHash, status: u16, body: &[u8]) -> (String, (u16, Vec<u8>)) {
    (
        format!("{prefix}/{}", hash.to_hex()),
        (status, body.to_vec()),
    )
}

#[test]
fn good_corrupted_missing_and_error_status() {
    let good = b"good preimage".to_vec();
    let good_h = RevealHash::of_preimage(&good);
    let corrupted_h = RevealHash::of_preimage(b"original");
    let missing_h = RevealHash::of_preimage(b"missing");
    let error_h = RevealHash::of_preimage(b"server error");
    let big = vec![1u8; 5000];
    let big_h = RevealHash::of_preimage(&big);
    let routes = BTreeMap::from([
        route("/pre", &good_h, 200, &good),
        route("/pre", &corrupted_h, 200, b"tampered"),
        route("/pre", &error_h, 500, b"boom"),
        route("/pre", &big_h, 200, &big),
    ]);
    let server = Server::start(routes, 6);
    let dir = tempfile::tempdir().unwrap();
    let store = PreimageStore::new(dir.path().join("wasm_2_0_0"))
        .with_endpoint_timeout(
            "--pre-images-endpoint",
            &format!("{}/pre/", server.base),
            Duration::from_secs(20),
        )
        .unwrap();

    // Good: fetched, verified and cached.
    assert_eq!(store.get(&good_h).unwrap(), good);
    assert!(store.contains(&good_h), "verified pre-image is cached");
    assert_eq!(std::fs::read(store.path_of(&good_h)).unwrap(), good);
    // Second read comes from the file (no new request).
    assert_eq!(store.get(&good_h).unwrap(), good);

    // Corrupted: refused and not stored.
    let e = store.get(&corrupted_h).unwrap_err();
    assert!(matches!(e, PreimageError::WrongHash { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&corrupted_h.to_hex()) && msg.contains("URL http://"),
        "{msg}"
    );
    assert!(
        !store.contains(&corrupted_h),
        "corrupted pre-image must not be stored"
    );

    // Missing: 404 error naming the hash.
    let e = store.get(&missing_h).unwrap_err();
    assert!(
        matches!(e, PreimageError::HttpStatus { status: 404, .. }),
        "{e}"
    );
    assert!(e.to_string().contains(&missing_h.to_hex()));
    assert!(!store.contains(&missing_h));

    // Server error.
    let e = store.get(&error_h).unwrap_err();
    assert!(
        matches!(e, PreimageError::HttpStatus { status: 500, .. }),
        "{e}"
    );

    // Too large.
    let e = store.get(&big_h).unwrap_err();
    assert!(matches!(e, PreimageError::TooLarge { .. }), "{e}");
    assert!(!store.contains(&big_h));

    drop(store);
    let hits = server.hits();
    assert_eq!(hits.len(), 5, "{hits:?}");
    assert_eq!(hits[0], format!("/pre/{}", good_h.to_hex()));
    drop(server);
}

#[test]
fn revealer_uses_endpoint() {
    let data = b"kernel page".to_vec();
    let h = RevealHash::of_preimage(&data);
    let server = Server::start(BTreeMap::from([route("", &h, 200, &data)]), 1);
    let dir = tempfile::tempdir().unwrap();
    let store = PreimageStore::new(dir.path())
        .with_endpoint("--pre-images-endpoint", &server.base)
        .unwrap();
    let mut revealer = Revealer::new(
        store,
        RollupMetadata {
            address: [0; 20],
            origination_level: 0,
        },
    );
    let answer = revealer
        .answer(&RevealRequest::RawData(h).encode())
        .unwrap();
    assert_eq!(answer, data);
    drop(server);
}

#[test]
fn unreachable_endpoint_is_an_error() {
    // Bind then drop a listener to get a (very likely) closed loopback port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let store = PreimageStore::new(dir.path())
        .with_endpoint_timeout(
            "--pre-images-endpoint",
            &format!("http://127.0.0.1:{port}"),
            Duration::from_secs(5),
        )
        .unwrap();
    let h = RevealHash::of_preimage(b"x");
    let e = store.get(&h).unwrap_err();
    assert!(matches!(e, PreimageError::Http { .. }), "{e}");
    assert!(e.to_string().contains(&h.to_hex()));
}
