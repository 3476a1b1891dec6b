//! Validated endpoints that keep their base path.

use std::fmt;

/// What a valid endpoint looks like, for error messages.
const EXPECTED: &str = "expected http://host[:port][/path] or https://host[:port][/path]";

/// Why an endpoint was refused. Every message names the option and the value; these are
/// configuration errors, never retried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Not a URL at all.
    #[error("invalid value {value:?} for {option}: not a URL ({source}); {EXPECTED}")]
    Unparsable {
        /// The option (or configuration field) that holds the value.
        option: String,
        /// The value given.
        value: String,
        /// Parser error.
        #[source]
        source: url::ParseError,
    },
    /// A scheme other than `http` and `https`.
    #[error("invalid value {value:?} for {option}: scheme {scheme:?} is not supported; {EXPECTED}")]
    Scheme {
        /// The option.
        option: String,
        /// The value given.
        value: String,
        /// The scheme found.
        scheme: String,
    },
    /// A URL without a host, or with a query, a fragment or credentials.
    #[error("invalid value {value:?} for {option}: {reason}; {EXPECTED}")]
    Shape {
        /// The option.
        option: String,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl EndpointError {
    /// The option whose value was refused.
    #[must_use]
    pub fn option(&self) -> &str {
        match self {
            Self::Unparsable { option, .. }
            | Self::Scheme { option, .. }
            | Self::Shape { option, .. } => option,
        }
    }
}

/// A base URL (`http` or `https`, a host, an optional port and base path), without a trailing
/// slash. Requests are made to `base ‖ "/" ‖ path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    option: String,
    base: String,
    https: bool,
}

impl Endpoint {
    /// Parses `value`, given for `option` (e.g. `--endpoint`), which is named in errors.
    ///
    /// # Errors
    /// [`EndpointError`] for anything but an `http`/`https` URL with a host and without query,
    /// fragment or credentials.
    pub fn parse(option: &str, value: &str) -> Result<Self, EndpointError> {
        let shape = |reason| EndpointError::Shape {
            option: option.to_owned(),
            value: value.to_owned(),
            reason,
        };
        let url = url::Url::parse(value.trim()).map_err(|source| EndpointError::Unparsable {
            option: option.to_owned(),
            value: value.to_owned(),
            source,
        })?;
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(EndpointError::Scheme {
                    option: option.to_owned(),
                    value: value.to_owned(),
                    scheme: other.to_owned(),
                });
            }
        };
        if url.host_str().is_none_or(str::is_empty) {
            return Err(shape("the URL has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(shape(
                "a query (?…) or fragment (#…) is not allowed in an endpoint",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(shape("credentials in the URL are not supported"));
        }
        let base = url.as_str().trim_end_matches('/').to_owned();
        Ok(Self {
            option: option.to_owned(),
            base,
            https,
        })
    }

    /// The base URL, without a trailing slash.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.base
    }

    /// The option the endpoint was given with (for messages).
    #[must_use]
    pub fn option(&self) -> &str {
        &self.option
    }

    /// Whether requests use TLS.
    #[must_use]
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The URL of `path` under the base path: exactly one `/` between them, whether or not
    /// `path` starts with one (`path` may carry a query). An empty `path` gives the base.
    #[must_use]
    pub fn join(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        if path.is_empty() {
            return self.base.clone();
        }
        format!("{}/{path}", self.base)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_path_is_kept_without_double_slashes() {
        let e = Endpoint::parse("--endpoint", "https://host/mainnet").unwrap();
        assert!(e.is_https());
        assert_eq!(
            e.join("/chains/main/blocks/head/hash"),
            "https://host/mainnet/chains/main/blocks/head/hash"
        );
        assert_eq!(
            e.join("chains/main/chain_id"),
            "https://host/mainnet/chains/main/chain_id"
        );
        let e = Endpoint::parse("--endpoint", "https://host/mainnet/").unwrap();
        assert_eq!(e.as_str(), "https://host/mainnet");
        assert_eq!(
            e.join("/monitor/heads/main"),
            "https://host/mainnet/monitor/heads/main"
        );
        let e = Endpoint::parse("--endpoint", "http://127.0.0.1:8732").unwrap();
        assert!(!e.is_https());
        assert_eq!(
            e.join("/chains/main/blocks?head=x&length=2"),
            "http://127.0.0.1:8732/chains/main/blocks?head=x&length=2"
        );
        assert_eq!(e.join(""), "http://127.0.0.1:8732");
        assert_eq!(e.to_string(), "http://127.0.0.1:8732");
        // Scheme and host are normalised, the default port dropped.
        let e = Endpoint::parse("-E", "HTTPS://Example.COM:443/a/b/").unwrap();
        assert_eq!(e.join("/c"), "https://example.com/a/b/c");
    }

    #[test]
    fn bad_values_name_the_option_and_the_value() {
        let e = Endpoint::parse("--endpoint", "ftp://x").unwrap_err();
        assert!(matches!(e, EndpointError::Scheme { .. }), "{e}");
        let m = e.to_string();
        assert!(m.contains("--endpoint") && m.contains("ftp://x"), "{m}");
        let e = Endpoint::parse("--pre-images-endpoint", "ht!tp://::nope").unwrap_err();
        assert!(matches!(e, EndpointError::Unparsable { .. }), "{e}");
        let m = e.to_string();
        assert!(
            m.contains("--pre-images-endpoint") && m.contains("ht!tp://::nope"),
            "{m}"
        );
        assert_eq!(e.option(), "--pre-images-endpoint");
        for bad in [
            "localhost:8732",
            "",
            "http://",
            "https://h/x?y=1",
            "https://h/x#f",
            "https://u:p@h/",
            "file:///etc/passwd",
        ] {
            let e = Endpoint::parse("-E", bad).unwrap_err();
            assert!(e.to_string().contains("-E"), "{bad}: {e}");
        }
    }
}
