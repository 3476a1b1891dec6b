//! Pre-image store: `<dir>/<hex hash>` files, optionally filled from an HTTP
//! endpoint (`wasm-pvm.md` §5.3, `octez-rollup-node.md` "pre-images-endpoint").
//!
//! Rules: every pre-image is blake2b-verified against the requested hash before it
//! is returned and before it is written to the directory; pre-images larger than
//! [`MAX_PREIMAGE_SIZE`] are refused; a remote answer other than `200` is an error.
//! The endpoint is an `http` or `https` URL whose path is kept (`GET <endpoint>/<hex>`), over
//! the shared `http-client` TLS configuration; an invalid URL or a rejected certificate is a
//! configuration error ([`PreimageConfigError`], fatal), a transport failure is retried by
//! the caller (issue 18 §2).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_client::Endpoint as Url;

use crate::hash::{MAX_PREIMAGE_SIZE, RevealHash};

/// Default timeout of one HTTP request to the endpoint (connect + transfer).
pub const DEFAULT_HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a pre-image came from (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreimageSource {
    /// A file of the pre-images directory.
    File(PathBuf),
    /// A URL of the pre-images endpoint.
    Url(String),
}

impl PreimageSource {
    /// What the operator should do about wrong content from this source.
    #[must_use]
    pub fn remedy(&self) -> &'static str {
        match self {
            Self::File(_) => "delete this file or replace it with the right pre-image",
            Self::Url(_) => {
                "the pre-images endpoint serves wrong data: fix it (the node retries and stores \
                 only verified pre-images)"
            }
        }
    }
}

impl fmt::Display for PreimageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p) => write!(f, "file {}", p.display()),
            Self::Url(u) => write!(f, "URL {u}"),
        }
    }
}

/// A pre-images endpoint that cannot work: fatal at start, the message names the option and
/// the value.
#[derive(Debug, thiserror::Error)]
pub enum PreimageConfigError {
    /// Not an http(s) URL.
    #[error(transparent)]
    Endpoint(#[from] http_client::EndpointError),
    /// The trusted certificates could not be loaded.
    #[error("cannot set up TLS for the pre-images endpoint: {0}")]
    TlsSetup(#[from] http_client::TlsError),
    /// The endpoint's TLS certificate is rejected.
    #[error("the pre-images endpoint: {0}")]
    TlsRejected(#[from] http_client::TlsRejected),
}

/// Why a pre-image could not be obtained. None of these leave anything in the store.
#[derive(Debug, thiserror::Error)]
pub enum PreimageError {
    /// A DAL reveal could not be answered (L1 or DAL node unreachable, no DAL node, a page
    /// beyond its slot): the evaluation stops (docs/reference/dal.md §5).
    #[error("DAL reveal: {0}")]
    Dal(String),
    /// The file is absent and there is no endpoint (Octez `Could_not_open_preimage_file`).
    #[error(
        "pre-image {hash} not found: could not open {}; put the pre-image there or set \
         --pre-images-endpoint",
        path.display()
    )]
    NotFound {
        /// Requested hash.
        hash: RevealHash,
        /// The file that was looked for.
        path: PathBuf,
    },
    /// The content does not hash to the requested hash (Octez `Wrong_hash`).
    #[error(
        "pre-image {hash} from {source_}: content hashes to {found}, refused; {}",
        source_.remedy()
    )]
    WrongHash {
        /// Requested hash.
        hash: RevealHash,
        /// Hash of the content received.
        found: RevealHash,
        /// Where the content came from.
        source_: PreimageSource,
    },
    /// The content is larger than [`MAX_PREIMAGE_SIZE`].
    #[error("pre-image {hash} from {source_} is larger than {MAX_PREIMAGE_SIZE} bytes, refused")]
    TooLarge {
        /// Requested hash.
        hash: RevealHash,
        /// Where the content came from.
        source_: PreimageSource,
    },
    /// Reading or writing the pre-image file failed.
    #[error("pre-image {hash}: I/O error on {}: {error}", path.display())]
    Io {
        /// Requested hash.
        hash: RevealHash,
        /// File concerned.
        path: PathBuf,
        /// Underlying error.
        #[source]
        error: io::Error,
    },
    /// The endpoint answered with a status other than 200.
    #[error("pre-image {hash}: endpoint URL {url} answered HTTP status {status}")]
    HttpStatus {
        /// Requested hash.
        hash: RevealHash,
        /// URL requested.
        url: String,
        /// Status code received.
        status: u16,
    },
    /// The endpoint's TLS certificate is rejected: a configuration error, not retryable.
    #[error("pre-image {hash}: {source}")]
    Config {
        /// Requested hash.
        hash: RevealHash,
        /// The configuration error.
        #[source]
        source: Box<PreimageConfigError>,
    },
    /// The request to the endpoint failed (connection, timeout, protocol).
    #[error("pre-image {hash}: fetching URL {url} failed: {message}")]
    Http {
        /// Requested hash.
        hash: RevealHash,
        /// URL requested.
        url: String,
        /// Description of the failure.
        message: String,
    },
}

impl PreimageError {
    /// The requested hash (`None` for a DAL reveal).
    #[must_use]
    pub fn hash(&self) -> Option<RevealHash> {
        match self {
            Self::NotFound { hash, .. }
            | Self::WrongHash { hash, .. }
            | Self::TooLarge { hash, .. }
            | Self::Io { hash, .. }
            | Self::HttpStatus { hash, .. }
            | Self::Config { hash, .. }
            | Self::Http { hash, .. } => Some(*hash),
            Self::Dal(_) => None,
        }
    }

    /// Whether retrying cannot help (a rejected certificate): the node must stop.
    #[must_use]
    pub fn is_fatal_config(&self) -> bool {
        matches!(self, Self::Config { .. })
    }
}

/// Pre-images directory with an optional remote endpoint (a clone shares the endpoint's
/// connection pool).
#[derive(Clone)]
pub struct PreimageStore {
    dir: PathBuf,
    endpoint: Option<Endpoint>,
}

#[derive(Clone)]
struct Endpoint {
    base: Url,
    agent: ureq::Agent,
}

impl fmt::Debug for PreimageStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreimageStore")
            .field("dir", &self.dir)
            .field("endpoint", &self.endpoint.as_ref().map(|e| &e.base))
            .finish()
    }
}

/// Verifies `data` against `hash` (size then content).
fn verify(hash: &RevealHash, data: &[u8], source: &PreimageSource) -> Result<(), PreimageError> {
    if data.len() > MAX_PREIMAGE_SIZE {
        return Err(PreimageError::TooLarge {
            hash: *hash,
            source_: source.clone(),
        });
    }
    let found = RevealHash::of_preimage(data);
    if found != *hash {
        return Err(PreimageError::WrongHash {
            hash: *hash,
            found,
            source_: source.clone(),
        });
    }
    Ok(())
}

impl PreimageStore {
    /// A store reading `<dir>/<hex>` files (the directory need not exist yet).
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            endpoint: None,
        }
    }

    /// Adds a remote endpoint, given by `option` (named in errors, e.g.
    /// `--pre-images-endpoint`), queried with `GET <endpoint>/<hex>` when a file is missing,
    /// with [`DEFAULT_HTTP_TIMEOUT`].
    ///
    /// # Errors
    /// [`PreimageConfigError`] when `endpoint` is not an http(s) URL or the trusted
    /// certificates cannot be loaded.
    pub fn with_endpoint(self, option: &str, endpoint: &str) -> Result<Self, PreimageConfigError> {
        self.with_endpoint_timeout(option, endpoint, DEFAULT_HTTP_TIMEOUT)
    }

    /// Same as [`Self::with_endpoint`] with an explicit per-request timeout.
    ///
    /// # Errors
    /// See [`Self::with_endpoint`].
    pub fn with_endpoint_timeout(
        mut self,
        option: &str,
        endpoint: &str,
        timeout: Duration,
    ) -> Result<Self, PreimageConfigError> {
        let base = Url::parse(option, endpoint)?;
        // Like Octez (cohttp), the shared builder ignores proxies from the environment.
        let config = http_client::blocking_agent_config()?
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout))
            .max_redirects(5)
            .build();
        self.endpoint = Some(Endpoint {
            base,
            agent: ureq::Agent::new_with_config(config),
        });
        Ok(self)
    }

    /// Checks at start that the endpoint's TLS certificate is accepted (one `GET` of the base
    /// URL; any HTTP answer will do). Transport failures are only logged: the endpoint may come
    /// up later. Without an endpoint, or over plain http, nothing to check.
    ///
    /// # Errors
    /// [`PreimageConfigError::TlsRejected`] when the certificate is rejected.
    pub fn check_endpoint(&self) -> Result<(), PreimageConfigError> {
        let Some(e) = self.endpoint.as_ref().filter(|e| e.base.is_https()) else {
            return Ok(());
        };
        let url = e.base.join("");
        match e.agent.get(&url).call() {
            Ok(_) => Ok(()),
            Err(err) => match http_client::ureq_tls_rejection(&err) {
                Some(reason) => Err(rejected(&e.base, &url, reason)),
                None => {
                    tracing::warn!(
                        "pre-images endpoint {} ({}) cannot be reached for now: {err}",
                        e.base,
                        e.base.option()
                    );
                    Ok(())
                }
            },
        }
    }

    /// The pre-images directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The endpoint base URL (without trailing slash), if any.
    #[must_use]
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_ref().map(|e| e.base.as_str())
    }

    /// Path of the file holding the pre-image of `hash`.
    #[must_use]
    pub fn path_of(&self, hash: &RevealHash) -> PathBuf {
        self.dir.join(hash.to_hex())
    }

    /// URL at which the endpoint serves `hash`, if there is an endpoint.
    #[must_use]
    pub fn url_of(&self, hash: &RevealHash) -> Option<String> {
        self.endpoint.as_ref().map(|e| e.base.join(&hash.to_hex()))
    }

    /// The verified pre-image of `hash`: from the directory, else from the endpoint
    /// (then cached in the directory). Errors are logged (warn) before being returned.
    pub fn get(&self, hash: &RevealHash) -> Result<Vec<u8>, PreimageError> {
        let result = self.get_inner(hash);
        if let Err(e) = &result {
            tracing::warn!(hash = %hash, "{e}");
        }
        result
    }

    fn get_inner(&self, hash: &RevealHash) -> Result<Vec<u8>, PreimageError> {
        let path = self.path_of(hash);
        match std::fs::read(&path) {
            Ok(data) => {
                verify(hash, &data, &PreimageSource::File(path))?;
                return Ok(data);
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(PreimageError::Io {
                    hash: *hash,
                    path,
                    error,
                });
            }
        }
        let Some(endpoint) = &self.endpoint else {
            return Err(PreimageError::NotFound { hash: *hash, path });
        };
        let url = endpoint.base.join(&hash.to_hex());
        let data = fetch(endpoint, hash, &url)?;
        verify(hash, &data, &PreimageSource::Url(url.clone()))?;
        tracing::debug!(hash = %hash, url = %url, "fetched pre-image");
        self.write_file(hash, &data)?;
        Ok(data)
    }

    /// Stores `data` under its own hash (atomically: temporary file then rename) and
    /// returns that hash. Refuses data larger than [`MAX_PREIMAGE_SIZE`].
    pub fn put(&self, data: &[u8]) -> Result<RevealHash, PreimageError> {
        let hash = RevealHash::of_preimage(data);
        if data.len() > MAX_PREIMAGE_SIZE {
            return Err(PreimageError::TooLarge {
                hash,
                source_: PreimageSource::File(self.path_of(&hash)),
            });
        }
        self.write_file(&hash, data)?;
        Ok(hash)
    }

    /// Whether the directory already holds a file for `hash` (not verified).
    #[must_use]
    pub fn contains(&self, hash: &RevealHash) -> bool {
        self.path_of(hash).is_file()
    }

    fn write_file(&self, hash: &RevealHash, data: &[u8]) -> Result<(), PreimageError> {
        let path = self.path_of(hash);
        let io_err = |error| PreimageError::Io {
            hash: *hash,
            path: path.clone(),
            error,
        };
        std::fs::create_dir_all(&self.dir).map_err(io_err)?;
        atomic_file::write(&path, data).map_err(io_err)
    }
}

fn rejected(base: &Url, url: &str, reason: &http_client::rustls::Error) -> PreimageConfigError {
    PreimageConfigError::TlsRejected(http_client::TlsRejected::new(base, url, reason))
}

/// `GET url`, 200 required, body at most `MAX_PREIMAGE_SIZE` bytes.
fn fetch(endpoint: &Endpoint, hash: &RevealHash, url: &str) -> Result<Vec<u8>, PreimageError> {
    let http_err = |e: ureq::Error| match http_client::ureq_tls_rejection(&e) {
        Some(reason) => PreimageError::Config {
            hash: *hash,
            source: Box::new(rejected(&endpoint.base, url, reason)),
        },
        None => PreimageError::Http {
            hash: *hash,
            url: url.to_owned(),
            message: e.to_string(),
        },
    };
    let mut response = endpoint.agent.get(url).call().map_err(http_err)?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(PreimageError::HttpStatus {
            hash: *hash,
            url: url.to_owned(),
            status,
        });
    }
    let limit = u64::try_from(MAX_PREIMAGE_SIZE).unwrap_or(u64::MAX);
    response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| match e {
            ureq::Error::BodyExceedsLimit(_) => PreimageError::TooLarge {
                hash: *hash,
                source_: PreimageSource::Url(url.to_owned()),
            },
            e => http_err(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_round_trip_and_verification() {
        let dir = tempfile::tempdir().unwrap();
        let store = PreimageStore::new(dir.path().join("sub"));
        let h = store.put(b"abc").unwrap();
        assert!(store.contains(&h));
        assert_eq!(store.get(&h).unwrap(), b"abc");
        // Corrupt the file: refused.
        std::fs::write(store.path_of(&h), b"abd").unwrap();
        let e = store.get(&h).unwrap_err();
        assert!(matches!(e, PreimageError::WrongHash { .. }), "{e}");
        assert!(e.to_string().contains(&h.to_hex()), "{e}");
        assert!(e.to_string().contains("delete this file"), "{e}");
        // Missing without endpoint.
        let other = RevealHash::of_preimage(b"zzz");
        let e = store.get(&other).unwrap_err();
        assert!(matches!(e, PreimageError::NotFound { .. }), "{e}");
        assert_eq!(e.hash(), Some(other));
    }

    #[test]
    fn too_large_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = PreimageStore::new(dir.path());
        let big = vec![7u8; MAX_PREIMAGE_SIZE + 1];
        assert!(matches!(
            store.put(&big),
            Err(PreimageError::TooLarge { .. })
        ));
        let ok = vec![7u8; MAX_PREIMAGE_SIZE];
        let h = store.put(&ok).unwrap();
        assert_eq!(store.get(&h).unwrap().len(), MAX_PREIMAGE_SIZE);
        // A file too large on disk is refused too.
        let hb = RevealHash::of_preimage(&big);
        std::fs::write(store.path_of(&hb), &big).unwrap();
        assert!(matches!(
            store.get(&hb),
            Err(PreimageError::TooLarge { .. })
        ));
    }

    #[test]
    fn url_building() {
        let s = PreimageStore::new("/x")
            .with_endpoint("--pre-images-endpoint", "http://127.0.0.1:1/base/")
            .unwrap();
        let h = RevealHash::well_known();
        assert_eq!(
            s.url_of(&h).unwrap(),
            format!("http://127.0.0.1:1/base/{}", h.to_hex())
        );
        assert_eq!(s.endpoint(), Some("http://127.0.0.1:1/base"));
        // Plain http: nothing to check at start.
        s.check_endpoint().unwrap();
        let s = PreimageStore::new("/x")
            .with_endpoint(
                "--pre-images-endpoint",
                "https://snapshots.example.org/etherlink/wasm_2_0_0",
            )
            .unwrap();
        assert_eq!(
            s.url_of(&h).unwrap(),
            format!(
                "https://snapshots.example.org/etherlink/wasm_2_0_0/{}",
                h.to_hex()
            )
        );
    }

    #[test]
    fn invalid_endpoints_are_refused_naming_the_option() {
        for bad in ["ht!tp://::nope", "ftp://x", "localhost:80"] {
            let e = PreimageStore::new("/x")
                .with_endpoint("--pre-images-endpoint", bad)
                .unwrap_err();
            let m = e.to_string();
            assert!(
                m.contains("--pre-images-endpoint") && m.contains(bad),
                "{m}"
            );
        }
    }
}
