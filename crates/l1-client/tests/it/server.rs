//! A tiny HTTP/1.1 test double on a loopback port: canned answers per request, chunked streams
//! that can be split anywhere, stall, or break mid-way.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tezos_types::BlockHash;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// One step of a streamed (chunked) answer.
#[derive(Clone)]
pub(crate) enum Step {
    /// Send these bytes as one HTTP chunk.
    Data(Vec<u8>),
    /// Wait.
    Sleep(Duration),
    /// Drop the connection without finishing the chunked body.
    Abort,
}

/// An answer.
#[derive(Clone)]
pub(crate) enum Reply {
    /// A complete answer with this status and JSON body.
    Full(u16, String),
    /// A chunked 200 answer; after the steps the connection stays open, idle.
    Stream(Vec<Step>),
    /// Never answer.
    Hang,
}

type Handler = dyn Fn(&str, usize) -> Reply + Send + Sync;

/// The running double.
pub(crate) struct Server {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `handler(path_and_query, n)` where `n` counts earlier requests for the same path.
    pub(crate) async fn start(
        handler: impl Fn(&str, usize) -> Reply + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let hits2 = hits.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let hits = hits2.clone();
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&req).to_string();
                    let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                    let n = {
                        let mut h = hits.lock().unwrap();
                        let n = h.iter().filter(|p| **p == path).count();
                        h.push(path.clone());
                        n
                    };
                    match handler(&path, n) {
                        Reply::Hang => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        Reply::Full(status, body) => {
                            let head = format!(
                                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                                 content-length: {}\r\nconnection: close\r\n\r\n",
                                body.len()
                            );
                            let _ = sock.write_all(head.as_bytes()).await;
                            let _ = sock.write_all(body.as_bytes()).await;
                            let _ = sock.shutdown().await;
                        }
                        Reply::Stream(steps) => {
                            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                                        transfer-encoding: chunked\r\nconnection: close\r\n\r\n";
                            if sock.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            for step in steps {
                                match step {
                                    Step::Data(d) => {
                                        let mut c = format!("{:x}\r\n", d.len()).into_bytes();
                                        c.extend_from_slice(&d);
                                        c.extend_from_slice(b"\r\n");
                                        if sock.write_all(&c).await.is_err() {
                                            return;
                                        }
                                        let _ = sock.flush().await;
                                    }
                                    Step::Sleep(t) => tokio::time::sleep(t).await,
                                    Step::Abort => return,
                                }
                            }
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                    }
                });
            }
        });
        Self { addr, hits, task }
    }

    /// Base URL.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Number of requests whose path starts with `prefix`.
    pub(crate) fn hits(&self, prefix: &str) -> usize {
        self.hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.starts_with(prefix))
            .count()
    }

    /// All request paths, in order.
    pub(crate) fn paths(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

/// A block hash made of one repeated byte.
pub(crate) fn bh(b: u8) -> BlockHash {
    BlockHash([b; 32])
}

/// A monitor element (hash + shell header) at `level`, hash byte `b`, predecessor byte `b − 1`.
pub(crate) fn head_json(level: i32, b: u8) -> String {
    format!(
        concat!(
            r#"{{"hash":"{}","level":{},"proto":3,"predecessor":"{}","#,
            r#""timestamp":"2025-06-01T12:00:08Z","validation_pass":4,"#,
            r#""operations_hash":"LLob33bCrdHtAJdhiUPDeD63pDdg7N1UbQm7adiiAQEXwEZE9dmHH","#,
            r#""fitness":["02","00000065","","ffffffff","00000000"],"#,
            r#""context":"CoVBjog7tNSu9TioVkLBDHmnFhwng17fnb9zjJCH818ZGW8Tb6u3","#,
            r#""protocol_data":"0000"}}"#
        ),
        bh(b),
        level,
        bh(b.wrapping_sub(1))
    )
}
