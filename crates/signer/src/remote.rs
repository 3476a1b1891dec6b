//! Signing keys as the client and the node see them (docs/reference/l1-and-signer.md §5.7):
//! the [`Signer`] trait, a [`LocalSigner`] over an `unencrypted:` key, and a [`RemoteSigner`]
//! speaking to `smart-rollup-signer` / `octez-signer` over `tcp://`, `unix:` (binary protocol,
//! §5.2) or `http(s)://` (§5.3, through `http-client`), authenticating with a wallet key when the
//! signer requires it (§5.4).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use tezos_types::{PublicKey, PublicKeyHash, SecretKey, Signature};

use crate::protocol::{
    Answer, AuthenticatedRequest, ProtocolError, Request, authentication_bytes, decode_answer,
    describe, frame,
};

/// How long a connection or an answer may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Failures of signing keys.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// A key URI or `-R/--remote-signer` value that cannot be used.
    #[error("invalid signer URI {uri:?}: {msg}")]
    Uri {
        /// The URI.
        uri: String,
        /// What is wrong and what to give instead.
        msg: String,
    },
    /// The signer cannot be reached.
    #[error(
        "cannot reach the remote signer at {location}: {source}; check that it runs \
         (smart-rollup-signer launch … signer) and the key URI or -R/--remote-signer"
    )]
    Unreachable {
        /// The signer's address (`tcp://…`, `unix:…`, `http(s)://…`).
        location: String,
        /// The connection error.
        #[source]
        source: std::io::Error,
    },
    /// The signer answered with an error.
    #[error("the remote signer at {location} refused the {request} request: {msg}")]
    Refused {
        /// The signer's address (`tcp://…`, `unix:…`, `http(s)://…`).
        location: String,
        /// The request refused (`sign`, `public_key`, `authorized_keys`).
        request: &'static str,
        /// The signer's errors.
        msg: String,
    },
    /// The answer cannot be understood.
    #[error("unexpected answer from the remote signer at {location}: {msg}")]
    Protocol {
        /// The signer's address (`tcp://…`, `unix:…`, `http(s)://…`).
        location: String,
        /// What was unexpected in the answer.
        msg: String,
    },
    /// Authentication is required and no wallet key is authorized.
    #[error(
        "the remote signer at {location} requires authentication and no secret key of this \
         wallet is among its authorized keys ({authorized}); import one of them, or add one \
         of yours on the signer with `smart-rollup-signer add authorized key <public key>`"
    )]
    NoAuthorizedKey {
        /// The signer's address (`tcp://…`, `unix:…`, `http(s)://…`).
        location: String,
        /// The signer's list.
        authorized: String,
    },
    /// TLS set-up of an https signer.
    #[error("cannot set up TLS for the https signer: {0}")]
    Tls(#[from] http_client::TlsError),
    /// The https signer's certificate is rejected: retrying cannot fix it.
    #[error(
        "the TLS certificate of the remote signer at {location} is rejected: {reason}; trust \
         its certificate authority with SSL_CERT_FILE or SSL_CERT_DIR"
    )]
    TlsRejected {
        /// The signer's address.
        location: String,
        /// The TLS error.
        reason: String,
    },
}

/// A key that signs bytes exactly as given (the caller prepends the watermark, §5.5).
pub trait Signer {
    /// The key's address.
    fn public_key_hash(&self) -> PublicKeyHash;
    /// The public key.
    ///
    /// # Errors
    /// [`SignerError`] when a remote signer fails.
    fn public_key(&self) -> Result<PublicKey, SignerError>;
    /// Signs exactly `data`; the signature is curve-tagged.
    ///
    /// # Errors
    /// [`SignerError`] when a remote signer fails or refuses.
    fn sign(&self, data: &[u8]) -> Result<Signature, SignerError>;
    /// The proof a reveal of this key carries: the BLS proof of possession of a tz4 key, none
    /// for the other curves (docs/reference/l1-and-signer.md §2.2).
    ///
    /// # Errors
    /// [`SignerError`] when a remote signer fails or refuses.
    fn reveal_proof(&self) -> Result<Option<Signature>, SignerError> {
        Ok(None)
    }
}

impl SignerError {
    /// Whether trying again later may succeed: the signer could not be reached (down,
    /// restarting, timed out). Refusals, bad URIs and protocol or TLS errors need a fix first.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }
}

/// A key held in memory.
#[derive(Debug, Clone)]
pub struct LocalSigner(pub SecretKey);

impl Signer for LocalSigner {
    fn public_key_hash(&self) -> PublicKeyHash {
        self.0.public_key_hash()
    }
    fn public_key(&self) -> Result<PublicKey, SignerError> {
        Ok(self.0.public_key())
    }
    fn sign(&self, data: &[u8]) -> Result<Signature, SignerError> {
        Ok(self.0.sign_raw(data))
    }
    fn reveal_proof(&self) -> Result<Option<Signature>, SignerError> {
        Ok(self.0.bls_proof_of_possession())
    }
}

/// Where a remote signer listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `tcp://host:port`.
    Tcp(String),
    /// `unix:/path`.
    Unix(PathBuf),
    /// `http(s)://host:port[/prefix]`.
    Http(http_client::Endpoint),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Tcp(a) => write!(f, "tcp://{a}"),
            Self::Unix(p) => write!(f, "unix:{}", p.display()),
            Self::Http(e) => write!(f, "{e}"),
        }
    }
}

fn uri_error(uri: &str, msg: &str) -> SignerError {
    SignerError::Uri {
        uri: uri.to_owned(),
        msg: msg.to_owned(),
    }
}

fn pkh_of(uri: &str, text: &str) -> Result<PublicKeyHash, SignerError> {
    text.parse().map_err(|e| {
        uri_error(
            uri,
            &format!(
                "{text:?} is not a public key hash ({e}); the key URI ends with tz1…/tz2…/tz3…/tz4…"
            ),
        )
    })
}

/// The signer location of `-R/--remote-signer` (`tcp://host:port`, `unix:///path`,
/// `http(s)://host[:port][/prefix]`), or of the `TEZOS_SIGNER_*` variables when absent.
///
/// # Errors
/// [`SignerError::Uri`] naming the value.
pub fn remote_signer_location(remote: Option<&str>) -> Result<Location, SignerError> {
    let from_env = || -> Result<String, SignerError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let mut set = Vec::new();
        if let Some(p) = var("TEZOS_SIGNER_UNIX_PATH") {
            set.push(format!("unix:{p}"));
        }
        for (scheme, default) in [("TCP", 7732), ("HTTP", 6732), ("HTTPS", 443)] {
            if let Some(h) = var(&format!("TEZOS_SIGNER_{scheme}_HOST")) {
                let port = var(&format!("TEZOS_SIGNER_{scheme}_PORT"))
                    .unwrap_or_else(|| default.to_string());
                set.push(format!("{}://{h}:{port}", scheme.to_ascii_lowercase()));
            }
        }
        match set.len() {
            1 => Ok(set.remove(0)),
            0 => Err(uri_error(
                "remote:",
                "remote: keys need the signer's address: give -R/--remote-signer \
                 tcp://host:port (or unix:/path, http://host:port), or set TEZOS_SIGNER_TCP_HOST",
            )),
            _ => Err(uri_error(
                &set.join(", "),
                "several TEZOS_SIGNER_* variables are set: keep exactly one",
            )),
        }
    };
    let base = match remote {
        Some(r) => r.to_owned(),
        None => from_env()?,
    };
    location(&base)
}

fn location(base: &str) -> Result<Location, SignerError> {
    if let Some(rest) = base.strip_prefix("tcp://") {
        let addr = rest.trim_end_matches('/');
        if addr.is_empty() || addr.contains('/') {
            return Err(uri_error(base, "expected tcp://host:port"));
        }
        let addr = if addr
            .rsplit_once(':')
            .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        {
            addr.to_owned()
        } else {
            format!("{addr}:7732")
        };
        return Ok(Location::Tcp(addr));
    }
    if let Some(rest) = base.strip_prefix("unix:") {
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(uri_error(base, "expected unix:/path/to/socket"));
        }
        return Ok(Location::Unix(PathBuf::from(path)));
    }
    if base.starts_with("http://") || base.starts_with("https://") {
        return http_client::Endpoint::parse("-R/--remote-signer", base)
            .map(Location::Http)
            .map_err(|e| uri_error(base, &e.to_string()));
    }
    Err(uri_error(
        base,
        "expected tcp://host:port, unix:/path, http://host:port or https://host:port",
    ))
}

/// Parses a secret key URI held by a signer: `remote:<pkh>` (with `remote`, the `-R` value),
/// `tcp://host:port/<pkh>`, `unix:/path?pkh=<pkh>`, `http(s)://host:port[/prefix]/<pkh>`.
///
/// # Errors
/// [`SignerError::Uri`].
pub fn parse_key_uri(
    uri: &str,
    remote: Option<&str>,
) -> Result<(Location, PublicKeyHash), SignerError> {
    if let Some(pkh) = uri.strip_prefix("remote:") {
        let pkh = pkh_of(uri, pkh)?;
        return Ok((remote_signer_location(remote)?, pkh));
    }
    if uri.starts_with("unix:") {
        let (_, q) = uri
            .split_once('?')
            .ok_or_else(|| uri_error(uri, "expected unix:/path/to/socket?pkh=tz1…"))?;
        let pkh = q
            .split('&')
            .find_map(|kv| kv.strip_prefix("pkh="))
            .ok_or_else(|| uri_error(uri, "expected unix:/path/to/socket?pkh=tz1…"))?;
        return Ok((location(uri)?, pkh_of(uri, pkh)?));
    }
    if uri.starts_with("tcp://") || uri.starts_with("http://") || uri.starts_with("https://") {
        let (base, pkh) = uri
            .trim_end_matches('/')
            .rsplit_once('/')
            .filter(|(b, _)| !b.ends_with('/'))
            .ok_or_else(|| uri_error(uri, "expected <scheme>://host:port/tz1…"))?;
        return Ok((location(base)?, pkh_of(uri, pkh)?));
    }
    Err(uri_error(
        uri,
        "not a signer URI: use remote:tz1…, tcp://host:port/tz1…, unix:/path?pkh=tz1… or \
         http(s)://host:port/tz1…",
    ))
}

/// A key held by a remote signer.
#[derive(Debug, Clone)]
pub struct RemoteSigner {
    location: Location,
    pkh: PublicKeyHash,
    /// Wallet keys that may authenticate requests (§5.4).
    auth_keys: Vec<SecretKey>,
}

impl RemoteSigner {
    /// The key `pkh` at `location`; `auth_keys` are the local keys offered for authentication.
    pub fn new(location: Location, pkh: PublicKeyHash, auth_keys: Vec<SecretKey>) -> Self {
        Self {
            location,
            pkh,
            auth_keys,
        }
    }

    /// Where the signer listens.
    pub fn location(&self) -> &Location {
        &self.location
    }

    fn refused(&self, request: &'static str, errors: &[Value]) -> SignerError {
        SignerError::Refused {
            location: self.location.to_string(),
            request,
            msg: describe(errors),
        }
    }

    fn protocol(&self, msg: impl std::fmt::Display) -> SignerError {
        SignerError::Protocol {
            location: self.location.to_string(),
            msg: msg.to_string(),
        }
    }

    fn unreachable(&self, source: std::io::Error) -> SignerError {
        SignerError::Unreachable {
            location: self.location.to_string(),
            source,
        }
    }

    /// The authentication signature for `data`, given the signer's authorized keys.
    fn authenticate(
        &self,
        authorized: Option<Vec<PublicKeyHash>>,
        data: &[u8],
    ) -> Result<Option<Signature>, SignerError> {
        let Some(list) = authorized else {
            return Ok(None);
        };
        let sk = self
            .auth_keys
            .iter()
            .find(|k| list.contains(&k.public_key_hash()))
            .ok_or_else(|| SignerError::NoAuthorizedKey {
                location: self.location.to_string(),
                authorized: list
                    .iter()
                    .map(PublicKeyHash::to_b58check)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Some(sk.sign_raw(&authentication_bytes(&self.pkh, data))))
    }

    // ---- binary protocol ----

    fn connect(&self) -> Result<Box<dyn ReadWrite>, SignerError> {
        match &self.location {
            Location::Tcp(addr) => {
                use std::net::ToSocketAddrs;
                let addrs = addr.to_socket_addrs().map_err(|e| self.unreachable(e))?;
                let mut last = std::io::Error::other("no address");
                for a in addrs {
                    match std::net::TcpStream::connect_timeout(&a, TIMEOUT) {
                        Ok(s) => {
                            s.set_read_timeout(Some(TIMEOUT))
                                .map_err(|e| self.unreachable(e))?;
                            s.set_write_timeout(Some(TIMEOUT))
                                .map_err(|e| self.unreachable(e))?;
                            return Ok(Box::new(s));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(self.unreachable(last))
            }
            Location::Unix(p) => {
                let s =
                    std::os::unix::net::UnixStream::connect(p).map_err(|e| self.unreachable(e))?;
                s.set_read_timeout(Some(TIMEOUT))
                    .map_err(|e| self.unreachable(e))?;
                s.set_write_timeout(Some(TIMEOUT))
                    .map_err(|e| self.unreachable(e))?;
                Ok(Box::new(s))
            }
            Location::Http(_) => Err(self.protocol("not a socket signer")),
        }
    }

    fn exchange(&self, conn: &mut dyn ReadWrite, req: &Request) -> Result<Answer, SignerError> {
        let out = frame(&req.encode()).map_err(|e: ProtocolError| self.protocol(e))?;
        conn.write_all(&out).map_err(|e| self.unreachable(e))?;
        let mut len = [0u8; 2];
        conn.read_exact(&mut len).map_err(|e| self.unreachable(e))?;
        let mut payload = vec![0u8; usize::from(u16::from_be_bytes(len))];
        conn.read_exact(&mut payload)
            .map_err(|e| self.unreachable(e))?;
        decode_answer(req.answer_kind(), &payload)
            .map_err(|e| self.protocol(e))?
            .map_err(|errors| self.refused(req.name(), &errors))
    }

    fn socket_sign(&self, data: &[u8]) -> Result<Signature, SignerError> {
        // As the Octez client: one connection, Authorized_keys first, then Sign.
        let mut conn = self.connect()?;
        let authorized = match self.exchange(conn.as_mut(), &Request::AuthorizedKeys)? {
            Answer::AuthorizedKeys(l) => l,
            other => return Err(self.protocol(format!("expected authorized keys, got {other:?}"))),
        };
        let signature = self.authenticate(authorized, data)?;
        let req = Request::Sign(AuthenticatedRequest {
            pkh: self.pkh,
            data: data.to_vec(),
            signature,
            version: None,
        });
        match self.exchange(conn.as_mut(), &req)? {
            Answer::Signature(s) => Ok(s),
            other => Err(self.protocol(format!("expected a signature, got {other:?}"))),
        }
    }

    // ---- HTTP ----

    fn agent() -> Result<ureq::Agent, SignerError> {
        let config = http_client::blocking_agent_config()?
            .timeout_global(Some(TIMEOUT))
            .build();
        Ok(ureq::Agent::new_with_config(config))
    }

    fn http_answer(
        &self,
        request: &'static str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, SignerError> {
        let mut r = r.map_err(|e| {
            if let Some(reason) = http_client::ureq_tls_rejection(&e) {
                return SignerError::TlsRejected {
                    location: self.location.to_string(),
                    reason: reason.to_string(),
                };
            }
            match e {
                ureq::Error::Io(io) => self.unreachable(io),
                other => self.unreachable(std::io::Error::other(http_client::error_chain(&other))),
            }
        })?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_string()
            .map_err(|e| self.protocol(e))?;
        let v: Value = serde_json::from_str(&body)
            .map_err(|e| self.protocol(format!("HTTP {status}, body {body:?}: {e}")))?;
        if !(200..300).contains(&status) {
            let errors = match &v {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            return Err(self.refused(request, &errors));
        }
        Ok(v)
    }

    fn http_sign(
        &self,
        base: &http_client::Endpoint,
        data: &[u8],
    ) -> Result<Signature, SignerError> {
        let agent = Self::agent()?;
        let authorized = self.http_answer(
            "authorized_keys",
            agent.get(base.join("/authorized_keys")).call(),
        )?;
        let authorized = match authorized.get("authorized_keys") {
            None => None,
            Some(l) => Some(
                l.as_array()
                    .ok_or_else(|| self.protocol("authorized_keys is not a list"))?
                    .iter()
                    .map(|p| p.as_str().and_then(|s| s.parse().ok()))
                    .collect::<Option<Vec<PublicKeyHash>>>()
                    .ok_or_else(|| self.protocol("authorized_keys holds a bad address"))?,
            ),
        };
        let auth = self.authenticate(authorized, data)?;
        let mut url = base.join(&format!("/keys/{}", self.pkh));
        if let Some(a) = auth {
            url.push_str(&format!("?authentication={a}"));
        }
        let body = Value::String(hex::encode(data)).to_string();
        let v = self.http_answer(
            "sign",
            agent
                .post(&url)
                .header("content-type", "application/json")
                .send(body),
        )?;
        v["signature"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| self.protocol(format!("no signature in {v}")))
    }
}

impl RemoteSigner {
    /// The BLS proof of possession of a tz4 key (revealing it needs one): socket request 7 or
    /// `GET /bls_prove_possession/<pkh>`; the signer must run with `--allow-to-prove-possession`
    /// (docs/reference/l1-and-signer.md §5.2, §5.3).
    ///
    /// # Errors
    /// [`SignerError`] when the signer fails or refuses.
    pub fn bls_proof_of_possession(&self) -> Result<Signature, SignerError> {
        match &self.location {
            Location::Http(base) => {
                let agent = Self::agent()?;
                let v = self.http_answer(
                    "bls_prove_possession",
                    agent
                        .get(base.join(&format!("/bls_prove_possession/{}", self.pkh)))
                        .call(),
                )?;
                v["bls_prove_possession"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| self.protocol(format!("no proof of possession in {v}")))
            }
            _ => {
                let mut conn = self.connect()?;
                match self.exchange(conn.as_mut(), &Request::BlsProvePossession(self.pkh, None))? {
                    Answer::Signature(s) => Ok(s),
                    other => Err(self.protocol(format!("expected a signature, got {other:?}"))),
                }
            }
        }
    }
}

/// A blocking byte stream (TCP or Unix).
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

impl Signer for RemoteSigner {
    fn public_key_hash(&self) -> PublicKeyHash {
        self.pkh
    }

    fn public_key(&self) -> Result<PublicKey, SignerError> {
        match &self.location {
            Location::Http(base) => {
                let agent = Self::agent()?;
                let v = self.http_answer(
                    "public_key",
                    agent.get(base.join(&format!("/keys/{}", self.pkh))).call(),
                )?;
                v["public_key"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| self.protocol(format!("no public key in {v}")))
            }
            _ => {
                let mut conn = self.connect()?;
                match self.exchange(conn.as_mut(), &Request::PublicKey(self.pkh))? {
                    Answer::PublicKey(pk) => Ok(pk),
                    other => Err(self.protocol(format!("expected a public key, got {other:?}"))),
                }
            }
        }
    }

    fn sign(&self, data: &[u8]) -> Result<Signature, SignerError> {
        let sig = match &self.location {
            Location::Http(base) => self.http_sign(base, data)?,
            _ => self.socket_sign(data)?,
        };
        // Socket answers are raw bytes: tag them with the key's curve.
        let curve = match self.pkh {
            PublicKeyHash::Ed25519(_) => Some(tezos_types::Curve::Ed25519),
            PublicKeyHash::Secp256k1(_) => Some(tezos_types::Curve::Secp256k1),
            PublicKeyHash::P256(_) => Some(tezos_types::Curve::P256),
            _ => None,
        };
        Ok(match curve {
            Some(c) => sig.with_curve(c),
            None => sig,
        })
    }

    fn reveal_proof(&self) -> Result<Option<Signature>, SignerError> {
        match self.pkh {
            PublicKeyHash::Bls(_) => self.bls_proof_of_possession().map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B1: &str = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx";

    #[test]
    fn key_uris_as_octez_client() {
        let (l, p) = parse_key_uri(&format!("tcp://localhost:7732/{B1}"), None).unwrap();
        assert_eq!(
            (l, p.to_b58check()),
            (Location::Tcp("localhost:7732".into()), B1.into())
        );
        let (l, _) = parse_key_uri(&format!("unix:/run/s.sock?pkh={B1}"), None).unwrap();
        assert_eq!(l, Location::Unix("/run/s.sock".into()));
        let (l, _) = parse_key_uri(&format!("http://h:6732/prefix/{B1}"), None).unwrap();
        assert_eq!(l.to_string(), "http://h:6732/prefix");
        let (l, _) = parse_key_uri(&format!("remote:{B1}"), Some("unix:///tmp/sock")).unwrap();
        assert_eq!(l, Location::Unix("/tmp/sock".into()));
        let (l, _) = parse_key_uri(&format!("remote:{B1}"), Some("tcp://10.0.0.1")).unwrap();
        assert_eq!(l, Location::Tcp("10.0.0.1:7732".into()));
        for bad in [
            "remote:tz1nope",
            "unix:/x",
            "tcp://h:1",
            "ftp://h/tz1",
            "tcp:///tz1",
        ] {
            assert!(parse_key_uri(bad, Some("tcp://h:1")).is_err(), "{bad}");
        }
        let e = parse_key_uri(&format!("remote:{B1}"), Some("ftp://x")).unwrap_err();
        assert!(e.to_string().contains("ftp://x"), "{e}");
    }
}
