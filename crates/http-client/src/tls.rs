//! The process-wide TLS configuration and the client builders that use it.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why the trusted roots could not be loaded. A configuration error: fatal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// `SSL_CERT_FILE` or `SSL_CERT_DIR` names something that gives no usable certificate.
    #[error(
        "{var}={} gives no trusted certificate: {message}; point it at a PEM file (or for \
         SSL_CERT_DIR, directories) of CA certificates, or unset it to use the system store",
        path.display()
    )]
    Roots {
        /// The environment variable.
        var: &'static str,
        /// Its value.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// rustls refused the protocol configuration (not expected with the ring provider).
    #[error("cannot configure TLS: {0}")]
    Config(String),
}

/// Trusted roots: the PEM bundle `SSL_CERT_FILE` and the directories `SSL_CERT_DIR` (split
/// like `PATH`) when either is set, else the system store (`rustls-native-certs`). A set but
/// empty `SSL_CERT_FILE` is an error; an empty `SSL_CERT_DIR` counts as unset.
fn load_roots(
    cert_file: Option<OsString>,
    cert_dir: Option<OsString>,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    if cert_file.as_ref().is_some_and(|v| v.is_empty()) {
        // rustls-native-certs would read the file "" too: say so instead.
        return Err(TlsError::Roots {
            var: "SSL_CERT_FILE",
            path: PathBuf::new(),
            message: "the variable is set but empty".into(),
        });
    }
    // An empty SSL_CERT_DIR names no directory (rustls-native-certs ignores it too).
    let cert_dir = cert_dir.filter(|v| !v.is_empty());
    if cert_file.is_none() && cert_dir.is_none() {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::warn!("while loading the system's trusted certificates: {e}");
        }
        if found.certs.is_empty() {
            tracing::warn!(
                "no trusted certificate found in the system store: https endpoints will be \
                 refused; install the CA certificates (Debian: ca-certificates) or set \
                 SSL_CERT_FILE"
            );
        }
        return Ok(found.certs);
    }
    let mut certs = Vec::new();
    if let Some(file) = cert_file {
        let path = PathBuf::from(file);
        let found = read_pem(&path).map_err(|message| TlsError::Roots {
            var: "SSL_CERT_FILE",
            path: path.clone(),
            message,
        })?;
        certs.extend(found);
    }
    if let Some(dirs) = cert_dir {
        let before = certs.len();
        for dir in std::env::split_paths(&dirs) {
            let entries = std::fs::read_dir(&dir).map_err(|e| TlsError::Roots {
                var: "SSL_CERT_DIR",
                path: dir.clone(),
                message: format!("cannot read the directory: {e}"),
            })?;
            for entry in entries.flatten() {
                let p = entry.path();
                if p.is_file() {
                    // Like OpenSSL, files that are not certificates are skipped.
                    certs.extend(read_pem(&p).unwrap_or_default());
                }
            }
        }
        if certs.len() == before {
            return Err(TlsError::Roots {
                var: "SSL_CERT_DIR",
                path: PathBuf::from(dirs),
                message: "no PEM certificate in these directories".into(),
            });
        }
    }
    Ok(certs)
}

/// The certificates of a PEM file (at least one).
fn read_pem(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| format!("cannot read it: {e}"))?;
    let certs: Vec<_> = iter
        .collect::<Result<_, _>>()
        .map_err(|e| format!("not a PEM file of certificates: {e}"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certs)
}

/// The ring crypto provider: builds without cmake or nasm (aws-lc-rs needs both). rustls
/// 0.23.48 deprecates it for lacking post-quantum key exchange, which servers do not require.
fn ring_provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[expect(
        deprecated,
        reason = "ring is chosen for its build requirements, see above"
    )]
    let p = rustls::crypto::ring::default_provider();
    Arc::new(p)
}

/// A client configuration trusting `roots` (certificates rustls cannot parse are skipped).
fn build_config(roots: &[CertificateDer<'static>]) -> Result<rustls::ClientConfig, TlsError> {
    let mut store = rustls::RootCertStore::empty();
    let (added, ignored) = store.add_parsable_certificates(roots.iter().cloned());
    if ignored > 0 {
        tracing::debug!("{ignored} trusted certificate(s) could not be parsed and are ignored");
    }
    tracing::debug!("TLS: {added} trusted root certificate(s)");
    let mut config = rustls::ClientConfig::builder_with_provider(ring_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(store)
        .with_no_client_auth();
    // The HTTP clients speak HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

struct Tls {
    roots: Vec<CertificateDer<'static>>,
    config: Arc<rustls::ClientConfig>,
}

static TLS: OnceLock<Result<Tls, TlsError>> = OnceLock::new();

fn tls() -> Result<&'static Tls, TlsError> {
    TLS.get_or_init(|| {
        let roots = load_roots(
            std::env::var_os("SSL_CERT_FILE"),
            std::env::var_os("SSL_CERT_DIR"),
        )?;
        let config = Arc::new(build_config(&roots)?);
        Ok(Tls { roots, config })
    })
    .as_ref()
    .map_err(Clone::clone)
}

/// The process-wide rustls client configuration (built once): ring provider, safe default
/// protocol versions, the trusted roots described in the crate documentation.
///
/// # Errors
/// [`TlsError`] when `SSL_CERT_FILE` / `SSL_CERT_DIR` is set but unusable.
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, TlsError> {
    tls().map(|t| t.config.clone())
}

/// A reqwest (async) client builder with [`tls_config`] and no proxy (like Octez's cohttp
/// client, system proxies are ignored). Callers add their timeouts.
///
/// # Errors
/// [`TlsError`], see [`tls_config`].
pub fn async_client_builder() -> Result<reqwest::ClientBuilder, TlsError> {
    let config = tls_config()?;
    Ok(reqwest::Client::builder()
        .use_preconfigured_tls(rustls::ClientConfig::clone(&config))
        .no_proxy())
}

/// A ureq (blocking) agent configuration builder with the same trusted roots and provider,
/// no proxy, and statuses other than 2xx returned as answers rather than errors. Callers add
/// their timeouts and build it (`.build().into()`).
///
/// # Errors
/// [`TlsError`], see [`tls_config`].
pub fn blocking_agent_config()
-> Result<ureq::config::ConfigBuilder<ureq::typestate::AgentScope>, TlsError> {
    Ok(blocking_agent_config_with_roots(&tls()?.roots))
}

/// [`blocking_agent_config`] trusting exactly `roots` instead of the process-wide roots (tests
/// that make their own CA).
#[must_use]
pub fn blocking_agent_config_with_roots(
    roots: &[rustls::pki_types::CertificateDer<'_>],
) -> ureq::config::ConfigBuilder<ureq::typestate::AgentScope> {
    let roots: Vec<ureq::tls::Certificate<'static>> = roots
        .iter()
        .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    let tls_config = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
        .unversioned_rustls_crypto_provider(ring_provider())
        .build();
    ureq::Agent::config_builder()
        .tls_config(tls_config)
        .http_status_as_error(false)
        .proxy(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn ssl_cert_file_replaces_the_system_store() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let file = d.join("ca.pem");
        std::fs::write(&file, format!("{}{}", ca_pem(), ca_pem())).unwrap();
        let roots = load_roots(Some(file.clone().into()), None).unwrap();
        assert_eq!(roots.len(), 2);
        build_config(&roots).unwrap();
        // SSL_CERT_DIR adds the certificates of every file of the directories.
        let sub = d.join("dir");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("a.pem"), ca_pem()).unwrap();
        std::fs::write(sub.join("README"), "not a certificate").unwrap();
        let roots = load_roots(Some(file.into()), Some(sub.into())).unwrap();
        assert_eq!(roots.len(), 3);
    }

    #[test]
    fn unusable_ssl_cert_file_or_dir_is_an_error_naming_the_variable() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let missing = d.join("missing.pem");
        let e = load_roots(Some(missing.into()), None).unwrap_err();
        let m = e.to_string();
        assert!(
            m.contains("SSL_CERT_FILE") && m.contains("missing.pem"),
            "{m}"
        );
        let junk = d.join("junk.pem");
        std::fs::write(&junk, "hello").unwrap();
        let m = load_roots(Some(junk.into()), None).unwrap_err().to_string();
        assert!(m.contains("no PEM certificate"), "{m}");
        let m = load_roots(None, Some(d.join("nodir").into()))
            .unwrap_err()
            .to_string();
        assert!(m.contains("SSL_CERT_DIR"), "{m}");
        let m = load_roots(Some(OsString::new()), None)
            .unwrap_err()
            .to_string();
        assert!(m.contains("SSL_CERT_FILE") && m.contains("empty"), "{m}");
        // An empty SSL_CERT_DIR counts as unset (system store).
        load_roots(None, Some(OsString::new())).unwrap();
    }
}
