//! CORS of the RPC server (`--cors-origins`, `--cors-headers`; `cors` in config.json,
//! docs/reference/octez-rollup-node.md §1.3), with resto's origin matching.

/// A `--cors-headers` value that is not an HTTP header name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--cors-headers: invalid header {0:?}")]
pub struct BadCorsHeader(pub String);

/// Whether `origin` is allowed by the entry `allowed` (resto's `Cors.check_origin_matches`,
/// used by Octez's RPC servers): `*`, the same origin, or a prefix of it followed by `/`.
pub fn cors_origin_matches(allowed: &str, origin: &str) -> bool {
    allowed == "*"
        || allowed == origin
        || origin
            .strip_prefix(allowed)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The CORS layer of the RPC server from `--cors-origins` / `--cors-headers` (`cors` in
/// config.json; docs/reference/octez-rollup-node.md §1.3): no layer without allowed origins;
/// `*` allows any origin (answered `*`), otherwise a request's origin matching an entry
/// ([`cors_origin_matches`]) is echoed; preflight requests get the allowed headers and methods.
pub fn cors_layer(
    cors: &node_config::Cors,
) -> Result<Option<tower_http::cors::CorsLayer>, BadCorsHeader> {
    use axum::http::{HeaderName, Method};
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if cors.allowed_origins.is_empty() {
        return Ok(None);
    }
    let origin = if cors.allowed_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let allowed = cors.allowed_origins.clone();
        AllowOrigin::predicate(move |origin, _| {
            origin
                .to_str()
                .is_ok_and(|o| allowed.iter().any(|a| cors_origin_matches(a, o)))
        })
    };
    let headers = cors
        .allowed_headers
        .iter()
        .map(|h| HeaderName::from_bytes(h.as_bytes()).map_err(|_| BadCorsHeader(h.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(
        CorsLayer::new()
            .allow_origin(origin)
            .allow_headers(headers)
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::DELETE,
                Method::PATCH,
            ]),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cors_origins_match_as_in_resto() {
        assert!(cors_origin_matches("*", "http://a.example"));
        assert!(cors_origin_matches("http://a.example", "http://a.example"));
        assert!(cors_origin_matches(
            "http://a.example",
            "http://a.example/x"
        ));
        assert!(!cors_origin_matches(
            "http://a.example",
            "http://a.example.evil"
        ));
        assert!(!cors_origin_matches("http://a.example", "http://b.example"));
        let none = node_config::Cors::default();
        assert!(cors_layer(&none).unwrap().is_none());
        let bad = node_config::Cors {
            allowed_headers: vec!["bad header".into()],
            allowed_origins: vec!["*".into()],
        };
        assert!(
            cors_layer(&bad)
                .unwrap_err()
                .to_string()
                .contains("--cors-headers")
        );
    }
}
