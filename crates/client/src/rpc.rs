//! A small blocking JSON client of the L1 node RPCs (`-E/--endpoint`): http or https (the
//! shared `http-client` TLS configuration: system store, `SSL_CERT_FILE`, `SSL_CERT_DIR`), the
//! endpoint's base path kept (`-E https://host/mainnet` → `https://host/mainnet/chains/…`).

use std::time::Duration;

use http_client::Endpoint;
use serde_json::Value;

/// Largest accepted response body.
const MAX_BODY: u64 = 64 * 1024 * 1024;

/// The option naming the node's endpoint, for messages.
const OPTION: &str = "-E/--endpoint";

/// RPC failures.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// `-E/--endpoint` is not an http(s) URL.
    #[error(transparent)]
    Endpoint(#[from] http_client::EndpointError),
    /// The trusted certificates could not be loaded (`SSL_CERT_FILE`, `SSL_CERT_DIR`).
    #[error("cannot set up TLS for {OPTION}: {0}")]
    TlsSetup(#[from] http_client::TlsError),
    /// The node's TLS certificate is rejected.
    #[error("the node: {0}")]
    Tls(#[from] http_client::TlsRejected),
    /// The node could not be reached or the connection failed.
    #[error("cannot reach the node at {url}: {msg}; check -E/--endpoint and that the node runs")]
    Transport {
        /// URL.
        url: String,
        /// Cause.
        msg: String,
    },
    /// The node answered with an error status.
    #[error("{method} {url} failed with HTTP {status}:\n{}", describe_errors(body))]
    Node {
        /// Method.
        method: &'static str,
        /// URL.
        url: String,
        /// Status.
        status: u16,
        /// Body (JSON error list when the node sent one).
        body: Value,
    },
    /// The answer is not the expected JSON.
    #[error("unexpected answer from {url}: {msg}")]
    Decode {
        /// URL.
        url: String,
        /// Cause.
        msg: String,
    },
}

impl RpcError {
    /// The JSON error list of a node error.
    pub fn node_errors(&self) -> Option<&Value> {
        match self {
            Self::Node { body, .. } => Some(body),
            _ => None,
        }
    }
}

/// Human-readable lines for a Tezos JSON error list (`[{"kind","id",…fields}]`).
pub fn describe_errors(v: &Value) -> String {
    match v {
        Value::Array(errs) if !errs.is_empty() => errs
            .iter()
            .map(describe_error)
            .collect::<Vec<_>>()
            .join("\n"),
        Value::String(s) if !s.is_empty() => format!("  {s}"),
        Value::Null | Value::Array(_) => "  (no details)".to_owned(),
        other => format!("  {other}"),
    }
}

fn describe_error(e: &Value) -> String {
    let id = e.get("id").and_then(Value::as_str).unwrap_or("unknown");
    let mut s = format!("  Error: {id}");
    if let Some(m) = e.as_object() {
        let fields: Vec<String> = m
            .iter()
            .filter(|(k, _)| *k != "id" && *k != "kind")
            .map(|(k, v)| match v {
                Value::String(t) => format!("{k}: {t}"),
                other => format!("{k}: {other}"),
            })
            .collect();
        if !fields.is_empty() {
            s.push_str(&format!(" ({})", fields.join(", ")));
        }
    }
    s
}

/// The node client.
#[derive(Clone)]
pub struct Rpc {
    base: Endpoint,
    agent: ureq::Agent,
}

impl Rpc {
    /// A client of `endpoint` (e.g. `http://localhost:8732`, `https://host/mainnet`).
    ///
    /// # Errors
    /// [`RpcError::Endpoint`] when `endpoint` is not an http(s) URL, [`RpcError::TlsSetup`]
    /// when `SSL_CERT_FILE` / `SSL_CERT_DIR` is unusable.
    pub fn new(endpoint: &str) -> Result<Self, RpcError> {
        let base = Endpoint::parse(OPTION, endpoint)?;
        let config = http_client::blocking_agent_config()?
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        Ok(Self {
            base,
            agent: ureq::Agent::new_with_config(config),
        })
    }

    /// The URL of `path` under the endpoint's base path.
    pub fn url(&self, path: &str) -> String {
        self.base.join(path)
    }

    fn finish(
        &self,
        method: &'static str,
        url: String,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, RpcError> {
        let body = self.finish_text(method, &url, r)?;
        serde_json::from_str::<Value>(&body).map_err(|e| RpcError::Decode {
            url,
            msg: e.to_string(),
        })
    }

    /// The body of a successful answer, as text; an error status is [`RpcError::Node`].
    fn finish_text(
        &self,
        method: &'static str,
        url: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, RpcError> {
        let transport = |e: ureq::Error, url: &str| match http_client::ureq_tls_rejection(&e) {
            Some(reason) => RpcError::Tls(http_client::TlsRejected::new(&self.base, url, reason)),
            None => RpcError::Transport {
                url: url.to_owned(),
                msg: e.to_string(),
            },
        };
        let mut r = r.map_err(|e| transport(e, url))?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(|e| transport(e, url))?;
        if !(200..300).contains(&status) {
            return Err(RpcError::Node {
                method,
                url: url.to_owned(),
                status,
                body: serde_json::from_str::<Value>(&body).unwrap_or(Value::String(body)),
            });
        }
        Ok(body)
    }

    /// `GET path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, RpcError> {
        let url = self.url(path);
        let r = self
            .agent
            .get(&url)
            .header("accept", "application/json")
            .call();
        self.finish("GET", url, r)
    }

    /// `GET path`, the answer's JSON text as the node sent it (field order kept).
    pub fn get_text(&self, path: &str) -> Result<String, RpcError> {
        let url = self.url(path);
        let r = self
            .agent
            .get(&url)
            .header("accept", "application/json")
            .call();
        self.finish_text("GET", &url, r)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, RpcError> {
        let url = self.url(path);
        let r = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json")
            .send(body.to_string());
        self.finish("POST", url, r)
    }

    /// A `GET` returning a JSON string.
    pub fn get_string(&self, path: &str) -> Result<String, RpcError> {
        match self.get(path)? {
            Value::String(s) => Ok(s),
            other => Err(RpcError::Decode {
                url: self.url(path),
                msg: format!("expected a string, got {other}"),
            }),
        }
    }

    /// A `GET` returning a decimal string (`"123"`) or number.
    pub fn get_u64(&self, path: &str) -> Result<u64, RpcError> {
        let v = self.get(path)?;
        let n = match &v {
            Value::String(s) => s.parse().ok(),
            Value::Number(n) => n.as_u64(),
            _ => None,
        };
        n.ok_or_else(|| RpcError::Decode {
            url: self.url(path),
            msg: format!("expected a natural number, got {v}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_keeps_its_base_path_and_bad_ones_are_refused() {
        let rpc = Rpc::new("https://host/mainnet/").unwrap();
        assert_eq!(
            rpc.url("/chains/main/blocks/head/hash"),
            "https://host/mainnet/chains/main/blocks/head/hash"
        );
        for bad in ["ftp://x", "ht!tp://::nope"] {
            let m = Rpc::new(bad).err().unwrap().to_string();
            assert!(m.contains("-E/--endpoint") && m.contains(bad), "{m}");
        }
    }
}
