//! An https reverse proxy with a private CA made at test time, and a plain-http directory
//! server, for the end-to-end tests of issue 18 §2 ("https everywhere").
//!
//! [`TlsProxy`] serves https on a loopback port with a certificate for `127.0.0.1` and
//! `localhost` signed by a fresh CA (`rcgen`), written as PEM to [`TlsProxy::ca_file`] (give it
//! to the process under test as `SSL_CERT_FILE`). Each route maps a base path (`/l1`) to a
//! plain-http upstream (`http://127.0.0.1:8732`): `GET /l1/chains/main/chain_id` is forwarded
//! as `GET /chains/main/chain_id`, and the answer is streamed back as it comes (the L1 head
//! monitor is a long-lived chunked stream). One upstream connection per request.
//! [`FileServer`] answers `GET /<name>` with the bytes of `<dir>/<name>` (the pre-images
//! endpoint of a node), like `python3 -m http.server`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_rustls::rustls;

use crate::error::{HarnessError, Result};

type Body = BoxBody<Bytes, hyper::Error>;

fn full(status: StatusCode, text: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(text.into()).map_err(|e| match e {}).boxed());
    *r.status_mut() = status;
    r
}

fn failed(what: &str, e: impl std::fmt::Display) -> HarnessError {
    HarnessError::Failed(format!("{what}: {e}"))
}

/// A server on a background thread with its own runtime; stopped and joined on drop.
#[derive(Debug)]
struct Background {
    addr: SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Binds 127.0.0.1:0 and runs `serve(stream)` for every accepted connection.
    fn start<F, Fut>(name: &str, serve: F) -> Result<Self>
    where
        F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|error| HarnessError::Io {
                what: format!("binding a loopback port for the {name}"),
                error,
            })?;
        let addr = listener.local_addr().map_err(|error| HarnessError::Io {
            what: format!("reading the address of the {name}"),
            error,
        })?;
        listener
            .set_nonblocking(true)
            .map_err(|error| HarnessError::Io {
                what: format!("configuring the socket of the {name}"),
                error,
            })?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| HarnessError::Io {
                what: format!("starting the runtime of the {name}"),
                error,
            })?;
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    loop {
                        tokio::select! {
                            _ = &mut rx => return,
                            a = listener.accept() => {
                                if let Ok((stream, _)) = a {
                                    tokio::spawn(serve(stream));
                                }
                            }
                        }
                    }
                });
            })
            .map_err(|error| HarnessError::Spawn {
                what: name.to_owned(),
                error,
            })?;
        Ok(Self {
            addr,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A plain-http upstream: `host:port` and a base path (empty or starting with `/`).
#[derive(Debug, Clone)]
struct Upstream {
    authority: String,
    base_path: String,
}

impl Upstream {
    fn parse(url: &str) -> Result<Self> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            HarnessError::Failed(format!("proxy upstream {url:?} must be an http:// URL"))
        })?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_end_matches('/');
        Ok(Self {
            authority: authority.to_owned(),
            base_path: if path.is_empty() {
                String::new()
            } else {
                format!("/{path}")
            },
        })
    }
}

/// Requests forwarded per route prefix.
type Hits = Arc<Mutex<BTreeMap<String, usize>>>;

/// An https reverse proxy with a private CA (see the module documentation).
#[derive(Debug)]
pub struct TlsProxy {
    server: Background,
    ca_file: PathBuf,
    hits: Hits,
    _dir: tempfile::TempDir,
}

impl TlsProxy {
    /// Starts a proxy routing each `(prefix, upstream)` (`("/l1", "http://127.0.0.1:8732")`);
    /// the first matching prefix wins.
    ///
    /// # Errors
    /// A bad route, a certificate that cannot be made, or a port that cannot be bound.
    pub fn start(routes: &[(&str, &str)]) -> Result<Self> {
        let mut table = Vec::new();
        for (prefix, upstream) in routes {
            let prefix = prefix.trim_end_matches('/');
            if !prefix.starts_with('/') {
                return Err(HarnessError::Failed(format!(
                    "proxy route prefix {prefix:?} must start with /"
                )));
            }
            table.push((prefix.to_owned(), Upstream::parse(upstream)?));
        }
        let (ca_pem, cert, key) = certificates()?;
        let dir = tempfile::tempdir().map_err(|error| HarnessError::Io {
            what: "creating a directory for the test CA".into(),
            error,
        })?;
        let ca_file = dir.path().join("test-ca.pem");
        std::fs::write(&ca_file, ca_pem).map_err(|error| HarnessError::Io {
            what: format!("writing {}", ca_file.display()),
            error,
        })?;
        #[expect(
            deprecated,
            reason = "ring builds without cmake/nasm, as in http-client"
        )]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| failed("TLS protocol versions", e))?
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .map_err(|e| failed("the proxy's certificate", e))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let table = Arc::new(table);
        let hits: Hits = Arc::default();
        let h = Arc::clone(&hits);
        let server = Background::start("https test proxy", move |stream| {
            let (acceptor, table, hits) = (acceptor.clone(), Arc::clone(&table), Arc::clone(&h));
            async move {
                // A client refusing the certificate ends the handshake: nothing to serve.
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service =
                    service_fn(move |req| forward(req, Arc::clone(&table), Arc::clone(&hits)));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            }
        })?;
        Ok(Self {
            server,
            ca_file,
            hits,
            _dir: dir,
        })
    }

    /// `https://127.0.0.1:<port><prefix>`.
    #[must_use]
    pub fn url(&self, prefix: &str) -> String {
        format!("https://127.0.0.1:{}{prefix}", self.server.addr.port())
    }

    /// The PEM file of the CA that signed the proxy's certificate (for `SSL_CERT_FILE`).
    #[must_use]
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// How many requests were forwarded under `prefix`.
    #[must_use]
    pub fn requests(&self, prefix: &str) -> usize {
        let hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        hits.get(prefix.trim_end_matches('/')).copied().unwrap_or(0)
    }
}

/// A fresh CA (PEM) and a certificate for `127.0.0.1` and `localhost` that it signed, with
/// the certificate's key.
fn certificates() -> Result<(
    String,
    rustls::pki_types::CertificateDer<'static>,
    rustls::pki_types::PrivateKeyDer<'static>,
)> {
    let gen_err = |e: rcgen::Error| failed("generating the test certificates", e);
    let ca_key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "smart-rollup test CA");
    ca_params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).map_err(gen_err)?;
    let leaf_key = rcgen::KeyPair::generate().map_err(gen_err)?;
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .map_err(gen_err)?;
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "127.0.0.1");
    let leaf = leaf_params.signed_by(&leaf_key, &ca).map_err(gen_err)?;
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    Ok((ca.pem(), leaf.der().clone(), key))
}

/// Forwards `req` to the upstream of the first route whose prefix matches, streaming the
/// answer back; `404` without a route, `502` when the upstream cannot be reached.
async fn forward(
    req: Request<Incoming>,
    table: Arc<Vec<(String, Upstream)>>,
    hits: Hits,
) -> std::result::Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_owned();
    let Some((prefix, up)) = table.iter().find(|(p, _)| {
        path == *p
            || path
                .strip_prefix(p.as_str())
                .is_some_and(|r| r.starts_with('/'))
    }) else {
        return Ok(full(StatusCode::NOT_FOUND, format!("no route for {path}")));
    };
    *hits
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .entry(prefix.clone())
        .or_default() += 1;
    let rest = &path[prefix.len()..];
    let rest = if rest.is_empty() { "/" } else { rest };
    let target = match req.uri().query() {
        Some(q) => format!("{}{rest}?{q}", up.base_path),
        None => format!("{}{rest}", up.base_path),
    };
    let bad_gateway = |what: &str, e: &dyn std::fmt::Display| {
        Ok(full(
            StatusCode::BAD_GATEWAY,
            format!("upstream {} {what}: {e}", up.authority),
        ))
    };
    let stream = match tokio::net::TcpStream::connect(&up.authority).await {
        Ok(s) => s,
        Err(e) => return bad_gateway("unreachable", &e),
    };
    let (mut sender, conn) = match hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    {
        Ok(x) => x,
        Err(e) => return bad_gateway("handshake", &e),
    };
    tokio::spawn(conn);
    let (mut parts, body) = req.into_parts();
    match (target.parse(), up.authority.parse()) {
        (Ok(uri), Ok(host)) => {
            parts.uri = uri;
            parts.headers.insert(hyper::header::HOST, host);
        }
        _ => {
            return Ok(full(
                StatusCode::BAD_REQUEST,
                format!("bad target {target}"),
            ));
        }
    }
    match sender.send_request(Request::from_parts(parts, body)).await {
        Ok(resp) => Ok(resp.map(BodyExt::boxed)),
        Err(e) => bad_gateway("request", &e),
    }
}

/// A plain-http server of the files of a directory: `GET /<name>` → `200` with the bytes of
/// `<dir>/<name>`, else `404` (names with `/` or starting with `.` are never served).
#[derive(Debug)]
pub struct FileServer {
    server: Background,
}

impl FileServer {
    /// Serves `dir` on a free loopback port.
    ///
    /// # Errors
    /// A port that cannot be bound.
    pub fn start(dir: &Path) -> Result<Self> {
        let dir = Arc::new(dir.to_path_buf());
        let server = Background::start("test file server", move |stream| {
            let dir = Arc::clone(&dir);
            async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let dir = Arc::clone(&dir);
                    async move {
                        let name = req.uri().path().trim_start_matches('/');
                        let ok = !name.is_empty() && !name.contains('/') && !name.starts_with('.');
                        let r = match (ok, req.method() == hyper::Method::GET) {
                            (true, true) => match tokio::fs::read(dir.join(name)).await {
                                Ok(bytes) => full(StatusCode::OK, bytes),
                                Err(_) => full(StatusCode::NOT_FOUND, "not found"),
                            },
                            _ => full(StatusCode::NOT_FOUND, "not found"),
                        };
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            }
        })?;
        Ok(Self { server })
    }

    /// `http://127.0.0.1:<port>`.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ureq agent trusting exactly `roots`.
    fn agent(roots: &[ureq::tls::Certificate<'static>]) -> ureq::Agent {
        let roots: Vec<_> = roots
            .iter()
            .map(|c| rustls::pki_types::CertificateDer::from(c.der().to_vec()))
            .collect();
        http_client::blocking_agent_config_with_roots(&roots)
            .build()
            .into()
    }

    #[test]
    fn proxies_a_base_path_over_tls_with_the_private_ca() {
        let files = tempfile::tempdir().unwrap();
        std::fs::write(files.path().join("abc"), b"hello").unwrap();
        let fs = FileServer::start(files.path()).unwrap();
        let proxy = TlsProxy::start(&[("/pre", &fs.url())]).unwrap();
        let pem = std::fs::read(proxy.ca_file()).unwrap();
        let ca: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i.unwrap() {
                ureq::tls::PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        assert_eq!(ca.len(), 1);
        let a = agent(&ca);
        let mut r = a.get(&proxy.url("/pre/abc")).call().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.body_mut().read_to_vec().unwrap(), b"hello");
        let r = a.get(&proxy.url("/pre/missing")).call().unwrap();
        assert_eq!(r.status(), 404);
        let r = a.get(&proxy.url("/elsewhere")).call().unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(proxy.requests("/pre"), 2);
        // Without the CA, the certificate is rejected: a configuration error.
        let e = agent(&[]).get(&proxy.url("/pre/abc")).call().unwrap_err();
        let reason = http_client::ureq_tls_rejection(&e).unwrap_or_else(|| panic!("{e:?}"));
        assert!(
            matches!(
                reason,
                rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer)
            ),
            "{reason}"
        );
        assert_eq!(proxy.requests("/pre"), 2);
    }
}
