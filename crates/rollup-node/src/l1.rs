//! Blocking L1 RPC access used by the follower thread (l1-and-signer.md §1.2–§1.5), JSON media
//! type, over `ureq`. Every failure is an operational [`L1Error`]: the current block is
//! aborted and retried.
//!
//! TODO: switch to the `l1-client` crate once it exists (same calls).

use std::io::{BufRead, BufReader};
use std::time::Duration;

use inbox::{Block, BlockHeader, ShellHeader};
use serde_json::Value;
use tezos_types::inbox::Inbox;
use tezos_types::{BlockHash, ChainId, CommitmentHash, SmartRollupAddress};

/// Largest JSON body accepted (blocks carrying big boot sectors).
const MAX_BODY: u64 = 256 * 1024 * 1024;

/// Operational L1 errors.
#[derive(Debug, thiserror::Error)]
pub enum L1Error {
    /// Transport failure (connection refused, timeout, …).
    #[error("L1 node unreachable ({url}): {msg}")]
    Transport {
        /// URL requested.
        url: String,
        /// Cause.
        msg: String,
    },
    /// Non-200 answer.
    #[error("L1 RPC {url} answered {status}: {body}")]
    Status {
        /// URL requested.
        url: String,
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
    },
    /// Unexpected JSON.
    #[error("unexpected answer from L1 RPC {url}: {msg}")]
    Decode {
        /// URL requested.
        url: String,
        /// Cause.
        msg: String,
    },
}

/// Rollup information read at startup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisInfo {
    /// Origination level.
    pub level: i32,
    /// Genesis commitment hash.
    pub commitment_hash: CommitmentHash,
}

/// A blocking L1 RPC client.
#[derive(Clone)]
pub struct L1Rpc {
    base: String,
    agent: ureq::Agent,
}

impl L1Rpc {
    /// A client of the node at `endpoint` (e.g. `http://127.0.0.1:8732`).
    pub fn new(endpoint: &str, timeout: Duration) -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .proxy(None)
            .build();
        Self {
            base: endpoint.trim_end_matches('/').to_string(),
            agent: ureq::Agent::new_with_config(config),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// `GET path` as JSON.
    pub fn get(&self, path: &str) -> Result<Value, L1Error> {
        let url = format!("{}{path}", self.base);
        let transport = |e: ureq::Error| L1Error::Transport {
            url: url.clone(),
            msg: e.to_string(),
        };
        let mut r = self
            .agent
            .get(&url)
            .header("accept", "application/json")
            .call()
            .map_err(transport)?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_string()
            .map_err(transport)?;
        if status != 200 {
            return Err(L1Error::Status { url, status, body });
        }
        serde_json::from_str(&body).map_err(|e| L1Error::Decode {
            url,
            msg: e.to_string(),
        })
    }

    fn get_as<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, L1Error> {
        let v = self.get(path)?;
        serde_json::from_value(v).map_err(|e| L1Error::Decode {
            url: format!("{}{path}", self.base),
            msg: e.to_string(),
        })
    }

    /// `/chains/main/chain_id`.
    pub fn chain_id(&self) -> Result<ChainId, L1Error> {
        self.get_as("/chains/main/chain_id")
    }

    /// Full block with receipts.
    pub fn block(&self, id: &str) -> Result<Block, L1Error> {
        let path = format!("/chains/main/blocks/{id}?metadata=always");
        let v = self.get(&path)?;
        Block::from_json(&v).map_err(|e| L1Error::Decode {
            url: format!("{}{path}", self.base),
            msg: e.to_string(),
        })
    }

    /// Header (hash + shell) of a block.
    pub fn header(&self, hash: &BlockHash) -> Result<BlockHeader, L1Error> {
        let shell: ShellHeader =
            self.get_as(&format!("/chains/main/blocks/{hash}/header/shell"))?;
        Ok(BlockHeader { hash: *hash, shell })
    }

    /// Hash of the block at `level` on the current chain.
    pub fn hash_of_level(&self, level: i32) -> Result<BlockHash, L1Error> {
        self.get_as(&format!("/chains/main/blocks/{level}/hash"))
    }

    /// Hashes of `head` and its predecessors, newest first (`blocks?head=&length=`).
    pub fn ancestors(&self, head: &BlockHash, length: u32) -> Result<Vec<BlockHash>, L1Error> {
        let v: Vec<Vec<BlockHash>> =
            self.get_as(&format!("/chains/main/blocks?head={head}&length={length}"))?;
        Ok(v.into_iter().next().unwrap_or_default())
    }

    /// Protocol constants at `block`.
    pub fn constants(&self, block: &str) -> Result<Value, L1Error> {
        self.get(&format!("/chains/main/blocks/{block}/context/constants"))
    }

    fn rollup_path(block: &str, addr: &SmartRollupAddress, rest: &str) -> String {
        format!(
            "/chains/main/blocks/{block}/context/smart_rollups/smart_rollup/{}/{rest}",
            addr.to_b58check()
        )
    }

    /// PVM kind of the rollup.
    pub fn kind(&self, addr: &SmartRollupAddress) -> Result<String, L1Error> {
        self.get_as(&Self::rollup_path("head", addr, "kind"))
    }

    /// Origination level and genesis commitment.
    pub fn genesis_info(&self, addr: &SmartRollupAddress) -> Result<GenesisInfo, L1Error> {
        #[derive(serde::Deserialize)]
        struct Gi {
            level: i32,
            commitment_hash: CommitmentHash,
        }
        let g: Gi = self.get_as(&Self::rollup_path("head", addr, "genesis_info"))?;
        Ok(GenesisInfo {
            level: g.level,
            commitment_hash: g.commitment_hash,
        })
    }

    /// Last cemented commitment `(hash, level)`.
    pub fn lcc(&self, addr: &SmartRollupAddress) -> Result<(CommitmentHash, i32), L1Error> {
        #[derive(serde::Deserialize)]
        struct Lcc {
            hash: CommitmentHash,
            level: i32,
        }
        let l: Lcc = self.get_as(&Self::rollup_path(
            "head",
            addr,
            "last_cemented_commitment_hash_with_level",
        ))?;
        Ok((l.hash, l.level))
    }

    /// A commitment known to L1.
    pub fn commitment(
        &self,
        addr: &SmartRollupAddress,
        hash: &CommitmentHash,
    ) -> Result<tezos_types::Commitment, L1Error> {
        self.get_as(&Self::rollup_path(
            "head",
            addr,
            &format!("commitment/{}", hash.to_b58check()),
        ))
    }

    /// The global rollup inbox after `block`.
    pub fn global_inbox(&self, block: &str) -> Result<Inbox, L1Error> {
        self.get_as(&format!(
            "/chains/main/blocks/{block}/context/smart_rollups/all/inbox"
        ))
    }

    /// Opens `/monitor/heads/main` and calls `on_head` for each element until the stream ends
    /// (`Ok`) or fails (`Err`); `on_head` returning `false` stops reading.
    pub fn monitor_heads(
        &self,
        mut on_connected: impl FnMut(),
        mut on_head: impl FnMut(BlockHeader) -> bool,
    ) -> Result<(), L1Error> {
        let url = format!("{}/monitor/heads/main", self.base);
        let transport = |e: String| L1Error::Transport {
            url: url.clone(),
            msg: e,
        };
        // No global timeout on the stream: it is endless.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .proxy(None)
            .build()
            .into();
        let r = agent
            .get(&url)
            .header("accept", "application/json")
            .call()
            .map_err(|e| transport(e.to_string()))?;
        let status = r.status().as_u16();
        if status != 200 {
            return Err(L1Error::Status {
                url,
                status,
                body: String::new(),
            });
        }
        on_connected();
        let reader = BufReader::new(r.into_body().into_reader());
        for line in reader.lines() {
            let line = line.map_err(|e| transport(e.to_string()))?;
            if line.trim().is_empty() {
                continue;
            }
            let h: BlockHeader = serde_json::from_str(&line).map_err(|e| L1Error::Decode {
                url: url.clone(),
                msg: e.to_string(),
            })?;
            if !on_head(h) {
                return Ok(());
            }
        }
        Ok(())
    }
}
