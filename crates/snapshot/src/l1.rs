//! The checks against the L1 node (`-E`), skipped with `--no-check`
//! (docs/reference/octez-rollup-node.md §7; `snapshots.ml` `check_commitment_published`,
//! `check_lcc`): the snapshot's commitments must be published on L1, and the L1's last
//! cemented commitment must be the one the snapshot holds at that level.

use std::time::Duration;

use tezos_types::{CommitmentHash, Level, SmartRollupAddress};

use crate::error::SnapshotError;

/// What the checks ask the L1 node.
pub trait L1View {
    /// Whether L1 knows commitment `c` of `rollup` (published, or the genesis one).
    ///
    /// # Errors
    /// A message when the L1 node cannot answer.
    fn commitment_published(
        &self,
        rollup: &SmartRollupAddress,
        c: &CommitmentHash,
    ) -> Result<bool, String>;

    /// The last cemented commitment of `rollup` and its inbox level.
    ///
    /// # Errors
    /// A message when the L1 node cannot answer.
    fn lcc(&self, rollup: &SmartRollupAddress) -> Result<(CommitmentHash, Level), String>;

    /// How errors name the L1 node.
    fn name(&self) -> String;
}

/// The L1 node's RPC server (`-E/--endpoint`), through `http-client`.
pub struct HttpL1 {
    endpoint: http_client::Endpoint,
    agent: ureq::Agent,
}

impl HttpL1 {
    /// A client of the L1 node at `endpoint`.
    ///
    /// # Errors
    /// [`SnapshotError::L1`] for an invalid endpoint or TLS configuration.
    pub fn new(endpoint: &str) -> Result<Self, SnapshotError> {
        let l1_err = |reason: String| SnapshotError::L1 {
            endpoint: endpoint.to_string(),
            reason,
        };
        let endpoint = http_client::Endpoint::parse("-E/--endpoint", endpoint)
            .map_err(|e| l1_err(e.to_string()))?;
        let agent = http_client::blocking_agent_config()
            .map_err(|e| l1_err(e.to_string()))?
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Ok(Self { endpoint, agent })
    }

    fn get(&self, path: &str) -> Result<(u16, serde_json::Value), String> {
        let url = self.endpoint.join(path);
        let mut r = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| http_client::error_chain(&e))?;
        let status = r.status().as_u16();
        let text = r
            .body_mut()
            .read_to_string()
            .map_err(|e| http_client::error_chain(&e))?;
        let v = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        Ok((status, v))
    }

    fn rollup_path(rollup: &SmartRollupAddress) -> String {
        format!(
            "/chains/main/blocks/head/context/smart_rollups/smart_rollup/{}",
            rollup.to_b58check()
        )
    }
}

impl L1View for HttpL1 {
    fn commitment_published(
        &self,
        rollup: &SmartRollupAddress,
        c: &CommitmentHash,
    ) -> Result<bool, String> {
        let (status, v) = self.get(&format!("{}/commitment/{c}", Self::rollup_path(rollup)))?;
        match status {
            200 => Ok(true),
            // The protocol's `smart_rollup_unknown_commitment` error.
            _ if v.to_string().contains("unknown_commitment") => Ok(false),
            s => Err(format!("the L1 node answered {s}: {v}")),
        }
    }

    fn lcc(&self, rollup: &SmartRollupAddress) -> Result<(CommitmentHash, Level), String> {
        let (status, v) = self.get(&format!(
            "{}/last_cemented_commitment_hash_with_level",
            Self::rollup_path(rollup)
        ))?;
        if status != 200 {
            return Err(format!("the L1 node answered {status}: {v}"));
        }
        let hash = v["hash"]
            .as_str()
            .and_then(|h| h.parse().ok())
            .ok_or_else(|| format!("unexpected answer {v}"))?;
        let level = v["level"]
            .as_i64()
            .and_then(Level::from_i64)
            .ok_or_else(|| format!("unexpected answer {v}"))?;
        Ok((hash, level))
    }

    fn name(&self) -> String {
        self.endpoint.as_str().to_string()
    }
}

/// Fails unless L1 knows commitment `c` (`what` says which one it is).
pub(crate) fn require_published(
    l1: &dyn L1View,
    rollup: &SmartRollupAddress,
    c: &CommitmentHash,
    what: &str,
) -> Result<(), SnapshotError> {
    let published = l1
        .commitment_published(rollup, c)
        .map_err(|reason| SnapshotError::L1 {
            endpoint: l1.name(),
            reason,
        })?;
    if published {
        Ok(())
    } else {
        Err(SnapshotError::Check(format!(
            "Commitment of snapshot is not published on L1: {what} {c} is unknown to the L1 \
             node {}; use a snapshot (or an export level) whose commitments are published, or \
             --no-check",
            l1.name()
        )))
    }
}
