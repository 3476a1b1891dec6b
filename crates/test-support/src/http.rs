//! A small blocking JSON client for the processes' RPC servers.

use std::time::Duration;

use serde_json::Value;

use crate::error::{HarnessError, Result};

/// Timeout of one request (connect and transfer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// JSON over HTTP to `base` (e.g. `http://127.0.0.1:8732`). Any status is an answer
/// (`(status, body)`); a body that is not JSON is returned as a JSON string.
#[derive(Clone)]
pub struct JsonClient {
    base: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for JsonClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

fn parse(body: String) -> Value {
    serde_json::from_str(&body).unwrap_or(Value::String(body))
}

impl JsonClient {
    /// A client of `base` (no trailing slash needed), without proxies, http or https (the
    /// shared `http-client` TLS configuration).
    ///
    /// # Panics
    /// When `SSL_CERT_FILE` / `SSL_CERT_DIR` is set but unusable.
    #[must_use]
    pub fn new(base: &str) -> Self {
        let config = http_client::blocking_agent_config()
            .unwrap_or_else(|e| panic!("{e}"))
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build();
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: config.into(),
        }
    }

    /// The base URL.
    #[must_use]
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `base ‖ path` (`path` starts with `/`).
    #[must_use]
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path` → `(status, body)`.
    ///
    /// # Errors
    /// [`HarnessError::Http`] when there is no answer.
    pub fn try_get(&self, path: &str) -> Result<(u16, Value)> {
        let url = self.url(path);
        let err = |message: String| HarnessError::Http {
            method: "GET",
            url: url.clone(),
            message,
        };
        let mut r = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| err(e.to_string()))?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .map_err(|e| err(e.to_string()))?;
        Ok((status, parse(body)))
    }

    /// `POST path` with a JSON body → `(status, body)`.
    ///
    /// # Errors
    /// [`HarnessError::Http`] when there is no answer.
    pub fn try_post(&self, path: &str, body: &Value) -> Result<(u16, Value)> {
        let url = self.url(path);
        let err = |message: String| HarnessError::Http {
            method: "POST",
            url: url.clone(),
            message,
        };
        let mut r = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| err(e.to_string()))?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_string()
            .map_err(|e| err(e.to_string()))?;
        Ok((status, parse(text)))
    }

    /// `GET path` → `(status, body)`.
    ///
    /// # Panics
    /// When there is no answer.
    #[must_use]
    pub fn get_status(&self, path: &str) -> (u16, Value) {
        self.try_get(path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `GET path`, expecting `200`.
    ///
    /// # Panics
    /// When there is no answer or the status is not `200`.
    #[must_use]
    pub fn get(&self, path: &str) -> Value {
        let (s, v) = self.get_status(path);
        assert_eq!(s, 200, "GET {}: {v}", self.url(path));
        v
    }

    /// `POST path` with a JSON body → `(status, body)`.
    ///
    /// # Panics
    /// When there is no answer.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.try_post(path, body).unwrap_or_else(|e| panic!("{e}"))
    }
}
