//! The signer's servers (docs/reference/l1-and-signer.md §5.1–§5.3): the binary protocol on TCP
//! (`launch socket signer`) and Unix sockets (`launch local signer`), and the HTTP API on http
//! and https (`launch http(s) signer`). Concurrent clients are served (one task per
//! connection); a malformed request gets an error answer and never stops the server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::handler::{Handler, HandlerError};
use crate::protocol::{AuthenticatedRequest, Request, encode_answer, frame, generic_error};

/// Server set-up failures.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The certificate or key file of `launch https signer` cannot be used.
    #[error(
        "cannot use the TLS {what} {path}: {msg}; give PEM files (certificate chain, private key)"
    )]
    Tls {
        /// `certificate` or `key`.
        what: &'static str,
        /// File.
        path: String,
        /// Cause.
        msg: String,
    },
    /// Serving failed.
    #[error("the signer server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads frames and answers them until the client closes (or stays idle longer than
/// `timeout`).
async fn serve_connection<S>(
    mut stream: S,
    peer: String,
    handler: Arc<Handler>,
    timeout: Option<Duration>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    loop {
        let mut len = [0u8; 2];
        let read = stream.read_exact(&mut len);
        let r = match timeout {
            Some(t) => match tokio::time::timeout(t, read).await {
                Ok(r) => r,
                Err(_) => {
                    tracing::info!("connection from {peer}: idle for {t:?}, closed");
                    return;
                }
            },
            None => read.await,
        };
        if r.is_err() {
            return; // closed
        }
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        let read = stream.read_exact(&mut payload);
        let ok = match timeout {
            Some(t) => matches!(tokio::time::timeout(t, read).await, Ok(Ok(_))),
            None => read.await.is_ok(),
        };
        if !ok {
            tracing::warn!("connection from {peer}: truncated frame, closed");
            return;
        }
        let answer = match Request::decode(&payload) {
            Ok(req) => {
                let h = Arc::clone(&handler);
                match tokio::task::spawn_blocking(move || h.handle(&req)).await {
                    Ok(r) => r.map_err(|e| vec![generic_error(&e.to_string())]),
                    Err(e) => Err(vec![generic_error(&format!("internal error: {e}"))]),
                }
            }
            Err(e) => {
                tracing::warn!("connection from {peer}: malformed request refused: {e}");
                Err(vec![generic_error(&format!("malformed request: {e}"))])
            }
        };
        let Ok(out) = frame(&encode_answer(&answer)) else {
            return;
        };
        if stream.write_all(&out).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}

/// Serves the binary protocol on a TCP listener (`launch socket signer`).
///
/// # Errors
/// Only when accepting fails for good.
pub async fn serve_tcp(
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
    timeout: Option<Duration>,
) -> Result<(), ServerError> {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(
            stream,
            peer.to_string(),
            Arc::clone(&handler),
            timeout,
        ));
    }
}

/// Serves the binary protocol on a Unix socket (`launch local signer`).
///
/// # Errors
/// Only when accepting fails for good.
pub async fn serve_unix(
    listener: tokio::net::UnixListener,
    handler: Arc<Handler>,
    timeout: Option<Duration>,
) -> Result<(), ServerError> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(serve_connection(
            stream,
            "unix socket".to_owned(),
            Arc::clone(&handler),
            timeout,
        ));
    }
}

/// An Octez-style JSON error answer; requests refused before the handler (bad path, query or
/// body) are logged here.
fn error(status: StatusCode, msg: &str) -> Response {
    if status.is_client_error() && status != StatusCode::NOT_FOUND {
        tracing::warn!("HTTP request refused ({status}): {msg}");
    }
    (status, Json(json!([generic_error(msg)]))).into_response()
}

fn handler_error(e: &HandlerError) -> Response {
    if e.is_not_found() {
        error(StatusCode::NOT_FOUND, &e.to_string())
    } else {
        error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
    }
}

fn parse_pkh(text: &str) -> Result<tezos_types::PublicKeyHash, String> {
    text.parse()
        .map_err(|e| format!("Failed to parse argument: {text:?} is not a public key hash ({e})"))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HandlerError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| handler_error(&e)),
        Err(e) => Err(error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("internal error: {e}"),
        )),
    }
}

async fn get_key(State(h): State<Arc<Handler>>, UrlPath(pkh): UrlPath<String>) -> Response {
    let pkh = match parse_pkh(&pkh) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let req = Request::PublicKey(pkh);
    match blocking(move || h.handle(&req)).await {
        Ok(crate::protocol::Answer::PublicKey(pk)) => {
            Json(json!({"public_key": pk.to_b58check()})).into_response()
        }
        Ok(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

async fn post_key(
    State(h): State<Arc<Handler>>,
    UrlPath(pkh): UrlPath<String>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let pkh = match parse_pkh(&pkh) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let data = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::String(s)) => match hex::decode(&s) {
            Ok(d) => d,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("the body must be a JSON string of hexadecimal bytes: {e}"),
                );
            }
        },
        Ok(_) | Err(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body must be a JSON string of hexadecimal bytes, e.g. \"0300ff\"",
            );
        }
    };
    let signature = match q.get("authentication") {
        None => None,
        Some(s) => match s.parse() {
            Ok(s) => Some(s),
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("Failed to parse argument authentication {s:?}: {e}"),
                );
            }
        },
    };
    let version = match q.get("version").map(|v| v.parse::<u8>()) {
        None => None,
        Some(Ok(v)) if v <= 3 => Some(v),
        Some(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "Failed to parse argument version: expected 0, 1, 2 or 3",
            );
        }
    };
    let req = Request::Sign(AuthenticatedRequest {
        pkh,
        data,
        signature,
        version,
    });
    match blocking(move || h.handle(&req)).await {
        Ok(crate::protocol::Answer::Signature(s)) => {
            Json(json!({"signature": s.to_b58check()})).into_response()
        }
        Ok(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

async fn authorized_keys(State(h): State<Arc<Handler>>) -> Response {
    let req = Request::AuthorizedKeys;
    match blocking(move || h.handle(&req)).await {
        Ok(crate::protocol::Answer::AuthorizedKeys(None)) => Json(json!({})).into_response(),
        Ok(crate::protocol::Answer::AuthorizedKeys(Some(l))) => {
            let l: Vec<String> = l.iter().map(|p| p.to_b58check()).collect();
            Json(json!({"authorized_keys": l})).into_response()
        }
        Ok(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

async fn known_keys(State(h): State<Arc<Handler>>) -> Response {
    let req = Request::KnownKeys;
    match blocking(move || h.handle(&req)).await {
        Ok(crate::protocol::Answer::KnownKeys(l)) => {
            let l: Vec<String> = l.iter().map(|p| p.to_b58check()).collect();
            Json(json!({"known_keys": l})).into_response()
        }
        Ok(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

async fn prove_possession(
    State(h): State<Arc<Handler>>,
    UrlPath(pkh): UrlPath<String>,
) -> Response {
    let pkh = match parse_pkh(&pkh) {
        Ok(p) => p,
        Err(m) => return error(StatusCode::BAD_REQUEST, &m),
    };
    let req = Request::BlsProvePossession(pkh, None);
    match blocking(move || h.handle(&req)).await {
        Ok(crate::protocol::Answer::Signature(s)) => {
            Json(json!({"bls_prove_possession": s.to_b58check()})).into_response()
        }
        Ok(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "unexpected answer"),
        Err(r) => r,
    }
}

/// The HTTP API of §5.3.
pub fn router(handler: Arc<Handler>) -> axum::Router {
    axum::Router::new()
        .route("/keys/{pkh}", get(get_key).post(post_key))
        .route("/authorized_keys", get(authorized_keys))
        .route("/known_keys", get(known_keys))
        .route("/bls_prove_possession/{pkh}", get(prove_possession))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such service") })
        .with_state(handler)
}

/// Serves the HTTP API (`launch http signer`).
///
/// # Errors
/// When serving fails.
pub async fn serve_http(
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
) -> Result<(), ServerError> {
    axum::serve(listener, router(handler)).await?;
    Ok(())
}

/// The rustls server configuration of `launch https signer <cert> <key>` (PEM files).
///
/// # Errors
/// [`ServerError::Tls`] naming the file.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what, path: &Path, msg: String| ServerError::Tls {
        what,
        path: path.display().to_string(),
        msg,
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("certificate", cert, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("certificate", cert, e.to_string()))?;
    if certs.is_empty() {
        return Err(bad(
            "certificate",
            cert,
            "no certificate in the file".into(),
        ));
    }
    let pk = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key", key, e.to_string()))?;
    #[expect(
        deprecated,
        reason = "ring builds without cmake/nasm, as in http-client"
    )]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("certificate", cert, e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, pk)
        .map_err(|e| bad("key", key, e.to_string()))?;
    Ok(Arc::new(config))
}

/// A TCP listener handing out TLS streams (handshakes bounded to 10 s).
struct TlsListener {
    inner: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let (s, a) = match self.inner.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            match tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(s)).await {
                Ok(Ok(t)) => return (t, a),
                Ok(Err(e)) => tracing::warn!("TLS handshake with {a} failed: {e}"),
                Err(_) => tracing::warn!("TLS handshake with {a} timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// Serves the HTTP API over TLS (`launch https signer`).
///
/// # Errors
/// When serving fails.
pub async fn serve_https(
    listener: tokio::net::TcpListener,
    handler: Arc<Handler>,
    tls: Arc<rustls::ServerConfig>,
) -> Result<(), ServerError> {
    let l = TlsListener {
        inner: listener,
        acceptor: tokio_rustls::TlsAcceptor::from(tls),
    };
    axum::serve(l, router(handler)).await?;
    Ok(())
}
