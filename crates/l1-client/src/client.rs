//! The L1 RPC client (l1-and-signer.md §1.1, §1.3–§1.5).

use crate::backoff::{backoff_delay, random_unit};
use crate::config::L1Config;
use crate::error::{L1Error, RpcErrorItem, snippet};
use crate::types::{
    BlockProtocols, Constants, GenesisInfo, HashWithLevel, ProtocolActivation, Simulation,
    StakedCommitment,
};
use http_client::Endpoint;
use inbox::{Block, BlockHeader, ChainBlock, ShellHeader};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tezos_types::operation::PvmKind;
use tezos_types::{
    BlockHash, ChainId, Commitment, CommitmentHash, Mutez, OperationHash, PublicKey, PublicKeyHash,
    SmartRollupAddress, UnsignedOperation,
};

/// A client of one L1 node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct L1Client {
    config: Arc<L1Config>,
    base: Endpoint,
    http: reqwest::Client,
    stream_http: reqwest::Client,
}

impl L1Client {
    /// A client for `config.endpoint`, an `http` or `https` URL whose path is kept as the base
    /// path of every RPC (`https://host/mainnet` → `https://host/mainnet/chains/main/…`).
    ///
    /// # Errors
    /// Configuration errors only ([`L1Error::is_fatal_config`]): the endpoint is not a valid
    /// URL for [`L1Config::endpoint_option`], or the trusted certificates cannot be loaded.
    pub fn new(config: L1Config) -> Result<Self, L1Error> {
        let base = Endpoint::parse(config.endpoint_option, &config.endpoint)?;
        let setup = |e: reqwest::Error| L1Error::Setup {
            url: base.to_string(),
            message: e.to_string(),
        };
        let http = http_client::async_client_builder()?
            .connect_timeout(config.rpc_timeout)
            .timeout(config.rpc_timeout)
            .build()
            .map_err(setup)?;
        let stream_http = http_client::async_client_builder()?
            .connect_timeout(config.rpc_timeout)
            .build()
            .map_err(setup)?;
        Ok(Self {
            config: Arc::new(config),
            base,
            http,
            stream_http,
        })
    }

    /// The settings.
    pub fn config(&self) -> &L1Config {
        &self.config
    }

    /// Absolute URL of an RPC path, under the endpoint's base path.
    pub fn url(&self, path: &str) -> String {
        self.base.join(path)
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.base
    }

    pub(crate) fn stream_http(&self) -> &reqwest::Client {
        &self.stream_http
    }

    /// One GET attempt: the body of a 2xx answer, or a typed error.
    async fn get_once(&self, url: &str) -> Result<Vec<u8>, L1Error> {
        let resp = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| classify(&self.base, url, self.config.rpc_timeout, e))?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| classify(&self.base, url, self.config.rpc_timeout, e))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(http_error(url, status.as_u16(), &body))
    }

    /// GET with retries of operational errors ([`L1Error::is_retryable`]), up to
    /// `rpc_max_attempts`, sleeping [`backoff_delay`] between attempts. Each retry is logged
    /// with the endpoint, the error and how long the request has been failing.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, L1Error> {
        let url = self.url(path);
        let mut attempt = 0u32;
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            match self.get_once(&url).await {
                Ok(b) => return Ok(b),
                Err(e)
                    if e.is_retryable()
                        && attempt.saturating_add(1) < self.config.rpc_max_attempts.max(1) =>
                {
                    attempt = attempt.saturating_add(1);
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    let delay = backoff_delay(
                        self.config.reconnection_delay,
                        attempt,
                        self.config.rpc_max_delay,
                        random_unit(),
                    );
                    tracing::warn!(
                        "L1 node {} ({}) failing for {:.1}s: {e}; retry {attempt} in {:.1}s",
                        self.base,
                        self.config.endpoint_option,
                        since.elapsed().as_secs_f64(),
                        delay.as_secs_f64()
                    );
                    tokio::time::sleep(delay).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// GET and decode JSON, reporting the path of a mismatch.
    pub async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, L1Error> {
        let body = self.get_bytes(path).await?;
        decode(&self.url(path), &body)
    }

    /// `GET /chains/main/chain_id`.
    pub async fn chain_id(&self) -> Result<ChainId, L1Error> {
        self.get_json("/chains/main/chain_id").await
    }

    /// `GET /chains/<chain>/blocks/<block>?metadata=always`: the block with receipts.
    pub async fn block(&self, chain: &str, block: &str) -> Result<Block, L1Error> {
        let path = format!("/chains/{chain}/blocks/{block}?metadata=always");
        let value: serde_json::Value = self.get_json(&path).await?;
        Block::from_json(&value).map_err(|source| L1Error::Block {
            url: self.url(&path),
            source,
        })
    }

    /// `GET /chains/<chain>/blocks/<block>/header`: hash and shell header.
    pub async fn block_header(&self, chain: &str, block: &str) -> Result<BlockHeader, L1Error> {
        self.get_json(&format!("/chains/{chain}/blocks/{block}/header"))
            .await
    }

    /// `GET /chains/<chain>/blocks/<block>/header/shell`.
    pub async fn shell_header(&self, chain: &str, block: &str) -> Result<ShellHeader, L1Error> {
        self.get_json(&format!("/chains/{chain}/blocks/{block}/header/shell"))
            .await
    }

    /// `GET /chains/<chain>/blocks/<block>/hash` (block = level, `head~2`, …).
    pub async fn block_hash(&self, chain: &str, block: &str) -> Result<BlockHash, L1Error> {
        self.get_json(&format!("/chains/{chain}/blocks/{block}/hash"))
            .await
    }

    /// `GET /chains/<chain>/blocks?head=<head>&length=<n>`: `head` and its predecessors,
    /// newest first (at most `length` hashes).
    pub async fn ancestors(
        &self,
        chain: &str,
        head: &BlockHash,
        length: u32,
    ) -> Result<Vec<BlockHash>, L1Error> {
        let path = format!("/chains/{chain}/blocks?head={head}&length={length}");
        let mut lists: Vec<Vec<BlockHash>> = self.get_json(&path).await?;
        if lists.len() != 1 {
            return Err(L1Error::Decode {
                url: self.url(&path),
                path: ".".into(),
                message: format!("expected one list of hashes, got {}", lists.len()),
                snippet: String::new(),
            });
        }
        Ok(lists.remove(0))
    }

    /// [`Self::ancestors`] of a head at `head_level`, as chain data for
    /// [`inbox::plan_update`]: each hash but the oldest with its level and predecessor.
    pub async fn ancestry(
        &self,
        chain: &str,
        head: &BlockHash,
        head_level: tezos_types::Level,
        length: u32,
    ) -> Result<Vec<ChainBlock>, L1Error> {
        let hashes = self.ancestors(chain, head, length).await?;
        Ok(hashes
            .windows(2)
            .zip(0u32..)
            .filter_map(|(w, i)| {
                Some(ChainBlock {
                    hash: w[0],
                    level: head_level.checked_sub(i)?,
                    predecessor: w[1],
                })
            })
            .collect())
    }

    /// `GET /chains/<chain>/blocks/<block>/protocols`.
    pub async fn block_protocols(
        &self,
        chain: &str,
        block: &str,
    ) -> Result<BlockProtocols, L1Error> {
        self.get_json(&format!("/chains/{chain}/blocks/{block}/protocols"))
            .await
    }

    /// `GET /chains/<chain>/protocols`: activation of every protocol.
    pub async fn protocols(&self, chain: &str) -> Result<Vec<ProtocolActivation>, L1Error> {
        self.get_json(&format!("/chains/{chain}/protocols")).await
    }

    /// `GET /chains/<chain>/blocks/<block>/context/constants`.
    pub async fn constants(&self, chain: &str, block: &str) -> Result<Constants, L1Error> {
        let path = format!("/chains/{chain}/blocks/{block}/context/constants");
        let body = self.get_bytes(&path).await?;
        let mut c: Constants = decode(&self.url(&path), &body)?;
        c.raw = decode(&self.url(&path), &body)?;
        Ok(c)
    }

    /// `GET /chains/<chain>/blocks/<block>/context/smart_rollups/all/inbox`: the global inbox
    /// after that block (§1.5, §3.3).
    pub async fn global_inbox(
        &self,
        chain: &str,
        block: &str,
    ) -> Result<tezos_types::inbox::Inbox, L1Error> {
        self.get_json(&format!(
            "/chains/{chain}/blocks/{block}/context/smart_rollups/all/inbox"
        ))
        .await
    }

    /// `GET /chains/<chain>/blocks/<block>/context/dal/skip_list_cells_of_level`: the DAL
    /// skip-list cells added by `block`, typed (docs/reference/dal.md §1). An L1 node whose
    /// protocol has no DAL answers 404 ([`L1Error::Http`]); a malformed answer is an
    /// [`L1Error::Decode`] naming the JSON path.
    pub async fn skip_list_cells_of_level(
        &self,
        chain: &str,
        block: &str,
    ) -> Result<Vec<inbox::dal::SkipListCell>, L1Error> {
        let path = format!("/chains/{chain}/blocks/{block}/context/dal/skip_list_cells_of_level");
        let body = self.get_bytes(&path).await?;
        let value: serde_json::Value = decode(&self.url(&path), &body)?;
        inbox::dal::skip_list_cells_of_json(&value)
            .map_err(|e| dal_decode(&self.url(&path), e, &body))
    }

    /// `GET /chains/<chain>/blocks/<block>/context/dal/past_parameters/<level>`: the DAL
    /// parameters in force at `level` (docs/reference/dal.md §4).
    pub async fn dal_past_parameters(
        &self,
        chain: &str,
        block: &str,
        level: i32,
    ) -> Result<inbox::dal::DalParameters, L1Error> {
        let path = format!("/chains/{chain}/blocks/{block}/context/dal/past_parameters/{level}");
        let body = self.get_bytes(&path).await?;
        let value: serde_json::Value = decode(&self.url(&path), &body)?;
        inbox::dal::DalParameters::from_json(&value)
            .map_err(|e| dal_decode(&self.url(&path), e, &body))
    }

    fn rollup_path(chain: &str, block: &str, rollup: &SmartRollupAddress) -> String {
        format!("/chains/{chain}/blocks/{block}/context/smart_rollups/smart_rollup/{rollup}")
    }

    /// `P/genesis_info`.
    pub async fn rollup_genesis_info(
        &self,
        chain: &str,
        block: &str,
        rollup: &SmartRollupAddress,
    ) -> Result<GenesisInfo, L1Error> {
        self.get_json(&format!(
            "{}/genesis_info",
            Self::rollup_path(chain, block, rollup)
        ))
        .await
    }

    /// `P/kind`.
    pub async fn rollup_kind(
        &self,
        chain: &str,
        block: &str,
        rollup: &SmartRollupAddress,
    ) -> Result<PvmKind, L1Error> {
        self.get_json(&format!("{}/kind", Self::rollup_path(chain, block, rollup)))
            .await
    }

    /// `P/last_cemented_commitment_hash_with_level`.
    pub async fn rollup_lcc(
        &self,
        chain: &str,
        block: &str,
        rollup: &SmartRollupAddress,
    ) -> Result<HashWithLevel, L1Error> {
        self.get_json(&format!(
            "{}/last_cemented_commitment_hash_with_level",
            Self::rollup_path(chain, block, rollup)
        ))
        .await
    }

    /// `P/staker/<pkh>/staked_on_commitment`: `None` both for `null` (stake on a cemented
    /// commitment) and for the `smart_rollup_not_staked` error (§8 gotcha 6).
    pub async fn staked_on_commitment(
        &self,
        chain: &str,
        block: &str,
        rollup: &SmartRollupAddress,
        staker: &PublicKeyHash,
    ) -> Result<Option<StakedCommitment>, L1Error> {
        let path = format!(
            "{}/staker/{staker}/staked_on_commitment",
            Self::rollup_path(chain, block, rollup)
        );
        match self.get_json(&path).await {
            Err(e) if e.has_rpc_error("smart_rollup_not_staked") => Ok(None),
            r => r,
        }
    }

    /// `P/commitment/<hash>`.
    pub async fn rollup_commitment(
        &self,
        chain: &str,
        block: &str,
        rollup: &SmartRollupAddress,
        hash: &CommitmentHash,
    ) -> Result<Commitment, L1Error> {
        self.get_json(&format!(
            "{}/commitment/{hash}",
            Self::rollup_path(chain, block, rollup)
        ))
        .await
    }
}

/// RPCs of the injector (l1-and-signer.md §1.7–§1.9: the manager-operation workflow).
impl L1Client {
    fn contract_path(chain: &str, block: &str, pkh: &PublicKeyHash, what: &str) -> String {
        format!("/chains/{chain}/blocks/{block}/context/contracts/{pkh}/{what}")
    }

    /// `GET …/context/contracts/<pkh>/counter`: the last counter used by the account.
    pub async fn counter(
        &self,
        chain: &str,
        block: &str,
        pkh: &PublicKeyHash,
    ) -> Result<u64, L1Error> {
        let path = Self::contract_path(chain, block, pkh, "counter");
        let s: String = self.get_json(&path).await?;
        s.parse().map_err(|e| L1Error::Decode {
            url: self.url(&path),
            path: ".".into(),
            message: format!("counter {s:?} is not a natural number: {e}"),
            snippet: s.clone(),
        })
    }

    /// `GET …/context/contracts/<pkh>/manager_key`: the revealed key, `None` when unrevealed.
    pub async fn manager_key(
        &self,
        chain: &str,
        block: &str,
        pkh: &PublicKeyHash,
    ) -> Result<Option<PublicKey>, L1Error> {
        self.get_json(&Self::contract_path(chain, block, pkh, "manager_key"))
            .await
    }

    /// `GET …/context/contracts/<pkh>/balance` (mutez).
    pub async fn balance(
        &self,
        chain: &str,
        block: &str,
        pkh: &PublicKeyHash,
    ) -> Result<Mutez, L1Error> {
        self.get_json(&Self::contract_path(chain, block, pkh, "balance"))
            .await
    }

    /// `GET …/blocks/<block>/operation_hashes/<pass>`.
    pub async fn operation_hashes(
        &self,
        chain: &str,
        block: &str,
        pass: u8,
    ) -> Result<Vec<OperationHash>, L1Error> {
        self.get_json(&format!(
            "/chains/{chain}/blocks/{block}/operation_hashes/{pass}"
        ))
        .await
    }

    /// `GET /chains/<chain>/mempool/pending_operations`: hashes of the operations of the
    /// node's mempool that may still be included (`validated`, `branch_delayed`,
    /// `unprocessed`; older nodes' `applied`), not the refused or outdated ones.
    pub async fn mempool_operation_hashes(
        &self,
        chain: &str,
    ) -> Result<Vec<OperationHash>, L1Error> {
        let v: serde_json::Value = self
            .get_json(&format!("/chains/{chain}/mempool/pending_operations"))
            .await?;
        let mut out = Vec::new();
        if let Some(m) = v.as_object() {
            let live = ["validated", "applied", "branch_delayed", "unprocessed"];
            for list in live
                .iter()
                .filter_map(|k| m.get(*k))
                .filter_map(serde_json::Value::as_array)
            {
                for op in list {
                    // Classified lists hold objects with a "hash"; `unprocessed` and
                    // older shapes hold `[hash, op]` pairs.
                    let h = op
                        .get("hash")
                        .or_else(|| op.get(0))
                        .and_then(serde_json::Value::as_str)
                        .and_then(|h| h.parse::<OperationHash>().ok());
                    out.extend(h);
                }
            }
        }
        Ok(out)
    }

    /// One POST attempt with a JSON body (never retried: an injection must not be repeated
    /// blindly).
    pub async fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<T, L1Error> {
        let url = self.url(path);
        let resp = self
            .http
            .post(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(body)
            .send()
            .await
            .map_err(|e| classify(&self.base, &url, self.config.rpc_timeout, e))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| classify(&self.base, &url, self.config.rpc_timeout, e))?;
        if !status.is_success() {
            return Err(http_error(&url, status.as_u16(), &bytes));
        }
        decode(&url, &bytes)
    }

    /// `POST …/blocks/<block>/helpers/scripts/simulate_operation?successor_level=true` with
    /// the unsigned operation (no `signature` field), `chain_id` and `latency` 3: the contents
    /// with their receipts (l1-and-signer.md §1.8 step 3).
    pub async fn simulate_operation(
        &self,
        chain: &str,
        block: &str,
        operation: &UnsignedOperation,
        chain_id: &ChainId,
    ) -> Result<Simulation, L1Error> {
        let op = serde_json::to_value(operation).unwrap_or(serde_json::Value::Null);
        let body =
            serde_json::json!({"operation": op, "chain_id": chain_id.to_b58check(), "latency": 3});
        let path = format!(
            "/chains/{chain}/blocks/{block}/helpers/scripts/simulate_operation?successor_level=true"
        );
        let v: serde_json::Value = self.post_json(&path, &body).await?;
        Simulation::from_json(&v).map_err(|message| L1Error::Decode {
            url: self.url(&path),
            path: ".contents".into(),
            message,
            snippet: snippet(v.to_string().as_bytes()),
        })
    }

    /// `POST /injection/operation?chain=<chain>` with the signed binary operation (hex): the
    /// operation hash the node computed.
    pub async fn inject_operation(
        &self,
        chain: &str,
        signed: &[u8],
    ) -> Result<OperationHash, L1Error> {
        self.post_json(
            &format!("/injection/operation?chain={chain}"),
            &serde_json::json!(hex::encode(signed)),
        )
        .await
    }
}

/// Maps a transport error to [`L1Error`]: a TLS configuration failure is
/// [`L1Error::Tls`] (fatal), anything else on the wire a retryable error.
pub(crate) fn classify(
    endpoint: &Endpoint,
    url: &str,
    timeout: std::time::Duration,
    e: reqwest::Error,
) -> L1Error {
    if let Some(reason) = http_client::tls_rejection(&e) {
        L1Error::Tls(http_client::TlsRejected::new(endpoint, url, reason))
    } else if e.is_timeout() {
        L1Error::Timeout {
            url: url.to_owned(),
            timeout,
        }
    } else if e.is_builder() {
        L1Error::Setup {
            url: url.to_owned(),
            message: e.to_string(),
        }
    } else {
        // Include the cause chain (e.g. "connection refused").
        L1Error::Connection {
            url: url.to_owned(),
            message: http_client::error_chain(&e),
        }
    }
}

/// Error of a non-2xx answer: an Octez error trace if the body is one.
pub(crate) fn http_error(url: &str, status: u16, body: &[u8]) -> L1Error {
    match serde_json::from_slice::<Vec<RpcErrorItem>>(body) {
        Ok(errors) if !errors.is_empty() => L1Error::Rpc {
            url: url.to_owned(),
            status,
            errors,
        },
        _ => L1Error::Http {
            url: url.to_owned(),
            status,
            snippet: snippet(body),
        },
    }
}

/// Decodes JSON with the path of the offending value.
pub(crate) fn decode<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, L1Error> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| L1Error::Decode {
        url: url.to_owned(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
        snippet: snippet(body),
    })
}

/// A DAL answer that is JSON but not of the expected shape.
fn dal_decode(url: &str, e: inbox::dal::DalError, body: &[u8]) -> L1Error {
    let (path, message) = match e {
        inbox::dal::DalError::Malformed { path, message } => (path, message),
        other => (".".to_owned(), other.to_string()),
    };
    L1Error::Decode {
        url: url.to_owned(),
        path,
        message,
        snippet: snippet(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_reports_path_and_snippet() {
        let body = br#"{"level": 2, "commitment_hash": "src1bad"}"#;
        let e = decode::<GenesisInfo>("http://x/y", body).unwrap_err();
        let L1Error::Decode { path, snippet, .. } = &e else {
            panic!("{e}")
        };
        assert_eq!(path, "commitment_hash");
        assert!(snippet.contains("src1bad"));
    }

    #[test]
    fn octez_error_trace_is_recognised() {
        let body = br#"[{"kind":"permanent","id":"proto.025-PsUshuai.smart_rollup_not_staked"}]"#;
        let e = http_error("u", 500, body);
        assert!(e.has_rpc_error("smart_rollup_not_staked"));
        assert!(!e.is_retryable());
        let e = http_error("u", 502, b"<html>bad gateway</html>");
        assert!(e.is_retryable());
        assert_eq!(e.status(), Some(502));
        assert!(!http_error("u", 404, b"").is_retryable());
        // A public endpoint's rate limit or time-out is waited out, not fatal.
        assert!(http_error("u", 429, b"Too Many Requests").is_retryable());
        assert!(http_error("u", 408, b"").is_retryable());
    }

    #[test]
    fn endpoint_must_be_http_or_https_and_keeps_its_base_path() {
        for bad in ["localhost:8732", "ftp://x", "ht!tp://::nope"] {
            let e = L1Client::new(L1Config::new(bad)).unwrap_err();
            assert!(e.is_fatal_config() && !e.is_retryable(), "{bad}: {e}");
            let m = e.to_string();
            assert!(m.contains("--endpoint") && m.contains(bad), "{m}");
        }
        let c = L1Client::new(L1Config::new("http://localhost:8732/")).unwrap();
        assert_eq!(
            c.url("/chains/main/chain_id"),
            "http://localhost:8732/chains/main/chain_id"
        );
        let c = L1Client::new(L1Config::new("https://rpc.example.org/mainnet/")).unwrap();
        assert_eq!(
            c.url("/chains/main/blocks/head/hash"),
            "https://rpc.example.org/mainnet/chains/main/blocks/head/hash"
        );
    }

    #[test]
    fn a_rejected_certificate_is_fatal_and_names_the_option() {
        let endpoint = Endpoint::parse("--endpoint", "https://127.0.0.1:1/l1").unwrap();
        let e = L1Error::Tls(http_client::TlsRejected::new(
            &endpoint,
            &endpoint.join("/chains/main/chain_id"),
            &http_client::rustls::Error::InvalidCertificate(
                http_client::rustls::CertificateError::UnknownIssuer,
            ),
        ));
        assert!(e.is_fatal_config() && !e.is_retryable());
        let m = e.to_string();
        assert!(m.contains("--endpoint https://127.0.0.1:1/l1"), "{m}");
        assert!(m.contains("SSL_CERT_FILE"), "{m}");
        let refused = L1Error::Connection {
            url: "u".into(),
            message: "connection refused".into(),
        };
        assert!(refused.is_retryable() && !refused.is_fatal_config());
        assert!(!http_error("u", 503, b"").is_fatal_config());
    }
}
