//! Configuration errors versus transport failures.
//!
//! Rule (issue 18 §2): a TLS failure that comes from the certificates or the protocol
//! configuration (certificate rejected, unknown issuer, wrong name, expired, no common
//! protocol, a handshake alert from the server) is a configuration error: fatal at once.
//! Everything else that fails on the wire (refused, reset, timeout, 5xx) is a transport
//! failure: retried.

use std::error::Error;

/// What to do about a rejected certificate, for messages.
pub const TLS_HINT: &str = "the server's certificate must be valid for its name and signed by a \
     trusted CA: the system store, or the PEM bundle named by SSL_CERT_FILE (or the directories \
     of SSL_CERT_DIR) for a private CA";

/// A TLS handshake refused for a configuration reason ([`tls_rejection`]): fatal, naming the
/// URL, the option and the endpoint it was given.
#[derive(Debug, Clone, thiserror::Error)]
#[error("TLS connection refused for {url} ({option} {endpoint}): {reason}; {TLS_HINT}")]
pub struct TlsRejected {
    /// The URL requested.
    pub url: String,
    /// The option that gave the endpoint (`--endpoint`, `--pre-images-endpoint`, ...).
    pub option: String,
    /// The endpoint.
    pub endpoint: String,
    /// The rustls error.
    #[source]
    pub reason: Box<rustls::Error>,
}

impl TlsRejected {
    /// The refusal of `url`, under `endpoint`, for `reason`.
    #[must_use]
    pub fn new(endpoint: &crate::Endpoint, url: &str, reason: &rustls::Error) -> Self {
        Self {
            url: url.to_owned(),
            option: endpoint.option().to_owned(),
            endpoint: endpoint.to_string(),
            reason: Box::new(reason.clone()),
        }
    }
}

/// Whether a rustls error is one retrying cannot fix.
fn is_config(e: &rustls::Error) -> bool {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_)
        | E::NoCertificatesPresented
        | E::UnsupportedNameType
        | E::PeerIncompatible(_)
        | E::InvalidCertRevocationList(_) => true,
        E::AlertReceived(a) => is_config_alert(*a),
        _ => false,
    }
}

/// Whether an alert from the server says the certificates or the protocol configuration do not
/// match (RFC 8446 §6.2): other alerts (`internal_error` from a busy load balancer, `close_notify`)
/// are transport failures.
fn is_config_alert(a: rustls::AlertDescription) -> bool {
    use rustls::AlertDescription as A;
    matches!(
        a,
        A::HandshakeFailure
            | A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRevoked
            | A::CertificateExpired
            | A::CertificateUnknown
            | A::UnknownCA
            | A::AccessDenied
            | A::ProtocolVersion
            | A::InsufficientSecurity
            | A::IllegalParameter
            | A::UnrecognisedName
            | A::CertificateRequired
            | A::NoApplicationProtocol
    )
}

/// The rustls error in `e` itself, or inside it when `e` is an `io::Error` wrapping one
/// (`io::Error::source` skips the wrapped error, so it is looked at explicitly).
fn rustls_in<'a>(e: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    if let Some(r) = e.downcast_ref::<rustls::Error>() {
        return Some(r);
    }
    let io = e.downcast_ref::<std::io::Error>()?;
    let inner: &(dyn Error + 'static) = io.get_ref()?;
    rustls_in(inner)
}

/// The TLS configuration error found in `err` or its sources (reqwest, hyper, io), if any.
#[must_use]
pub fn tls_rejection<'a>(err: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    let mut cur: Option<&'a (dyn Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(r) = rustls_in(e).filter(|r| is_config(r)) {
            return Some(r);
        }
        cur = e.source();
    }
    None
}

/// [`tls_rejection`] for a ureq error (which carries rustls errors directly or inside an
/// `io::Error`).
#[must_use]
pub fn ureq_tls_rejection(err: &ureq::Error) -> Option<&rustls::Error> {
    match err {
        ureq::Error::Rustls(r) => Some(r).filter(|r| is_config(r)),
        ureq::Error::Io(io) => tls_rejection(io),
        other => tls_rejection(other),
    }
}

/// `err` and its sources joined by `": "`, skipping a source whose text is already included
/// (reqwest repeats its causes), so that "connection refused" is visible.
#[must_use]
pub fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::{CertificateError, Error as E};

    #[test]
    fn certificate_errors_are_configuration_errors() {
        let bad = E::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(tls_rejection(&bad).is_some());
        // Wrapped in an io::Error (how hyper and ureq carry it), then in another error.
        let io = std::io::Error::new(std::io::ErrorKind::InvalidData, bad.clone());
        assert_eq!(tls_rejection(&io), Some(&bad));
        #[derive(Debug, thiserror::Error)]
        #[error("connect failed")]
        struct Outer(#[source] std::io::Error);
        let outer = Outer(io);
        assert_eq!(tls_rejection(&outer), Some(&bad));
        let u = ureq::Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            bad.clone(),
        ));
        assert_eq!(ureq_tls_rejection(&u), Some(&bad));
        assert!(ureq_tls_rejection(&ureq::Error::Rustls(bad)).is_some());
        let alert = E::AlertReceived(rustls::AlertDescription::UnknownCA);
        assert!(tls_rejection(&alert).is_some());
    }

    #[test]
    fn transport_failures_are_not() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(tls_rejection(&refused).is_none());
        assert!(ureq_tls_rejection(&ureq::Error::Io(refused)).is_none());
        assert!(ureq_tls_rejection(&ureq::Error::Timeout(ureq::Timeout::Global)).is_none());
        let corrupt = E::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        assert!(tls_rejection(&corrupt).is_none());
        let close = E::AlertReceived(rustls::AlertDescription::CloseNotify);
        assert!(tls_rejection(&close).is_none());
        // A busy load balancer's alert is not the certificates' fault.
        let busy = E::AlertReceived(rustls::AlertDescription::InternalError);
        assert!(tls_rejection(&busy).is_none());
    }

    #[test]
    fn error_chain_shows_causes_once() {
        #[derive(Debug, thiserror::Error)]
        #[error("error sending request")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "connection refused",
        ));
        assert_eq!(error_chain(&e), "error sending request: connection refused");
    }
}
