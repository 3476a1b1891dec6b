//! The DAL node's HTTP API as the rollup node uses it (`--dal-node <uri>`, config `"DAL node
//! endpoint"`; docs/reference/dal.md): the pages of a slot for the kernel's DAL reveals, a
//! page's proof for the refutation game's DAL page proofs, and `POST /slots` for the DAL
//! injection queue (Octez `Dal_node_client`).

use serde_json::Value;
use tezos_types::operation::DalCommitmentProof;
use tezos_types::{DalCommitment, DalSkipListHash, ProtocolHash};

/// What a DAL node answers to `POST /slots`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedSlot {
    /// The slot's commitment.
    pub commitment: DalCommitment,
    /// Its proof.
    pub commitment_proof: DalCommitmentProof,
}

/// A client of one DAL node (blocking, 60 s per request; a clone shares the connection pool).
#[derive(Clone)]
pub struct DalNodeClient {
    endpoint: http_client::Endpoint,
    agent: ureq::Agent,
}

impl DalNodeClient {
    /// A client of the DAL node at `url` (`--dal-node`).
    ///
    /// # Errors
    /// An invalid URL or TLS configuration, with what to fix.
    pub fn new(url: &str) -> Result<Self, String> {
        let endpoint = http_client::Endpoint::parse("--dal-node", url)
            .map_err(|e| format!("{e}; check the --dal-node argument."))?;
        let agent = http_client::blocking_agent_config()
            .map_err(|e| format!("{e}; check the --dal-node argument."))?
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self { endpoint, agent })
    }

    /// The body of a 200 answer; any other status is an error quoting the start of the body.
    fn answer(
        &self,
        url: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<String, String> {
        let mut r = r.map_err(|e| format!("DAL node {url}: {}", http_client::error_chain(&e)))?;
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("DAL node {url}: {}", http_client::error_chain(&e)))?;
        if status != 200 {
            return Err(format!(
                "DAL node {url} answered HTTP {status}: {}",
                body.chars().take(300).collect::<String>()
            ));
        }
        Ok(body)
    }

    /// `GET /levels/<level>/slots/<index>/pages`: a JSON array of hex pages.
    ///
    /// # Errors
    /// The DAL node unreachable, refusing, or answering something else.
    pub fn pages(&self, level: i32, index: u8) -> Result<Vec<Vec<u8>>, String> {
        let url = self
            .endpoint
            .join(&format!("/levels/{level}/slots/{index}/pages"));
        let body = self.answer(&url, self.agent.get(&url).call())?;
        let pages: Vec<String> = serde_json::from_str(&body)
            .map_err(|e| format!("DAL node {url}: expected a JSON array of hex pages ({e})"))?;
        pages
            .iter()
            .map(|p| hex::decode(p).map_err(|e| format!("DAL node {url}: page not hex ({e})")))
            .collect()
    }

    /// `GET /levels/<level>/slots/<index>/pages/<page>/proof` (Octez `get_slot_page_proof`):
    /// the KZG proof of a page, JSON `"sh1…"` (`Cryptobox.page_proof_encoding` is the
    /// commitment's: base58check of the 48-byte compressed point).
    ///
    /// # Errors
    /// The DAL node unreachable, refusing, or answering something else.
    pub fn page_proof(&self, level: i32, index: u8, page: i16) -> Result<[u8; 48], String> {
        let url = self
            .endpoint
            .join(&format!("/levels/{level}/slots/{index}/pages/{page}/proof"));
        let body = self.answer(&url, self.agent.get(&url).call())?;
        parse_page_proof(&body).map_err(|e| format!("DAL node {url}: {e}"))
    }

    /// `GET /plugin/<protocol>/commitments_history/hash/<hash>` (Octez
    /// `src/proto_alpha/lib_dal/dal_services.ml` `Commitments_history.hash_content`, read by
    /// `refutation_game_helpers.ml` `get_cell_from_hash`): the DAL skip-list cell of `hash`,
    /// JSON `History.encoding`, from the cells the DAL node stored for the refutation window;
    /// `None` when it has none (404). The caller checks the cell against `hash`.
    ///
    /// # Errors
    /// The DAL node unreachable, refusing, or answering something else than JSON.
    pub fn skip_list_cell(
        &self,
        protocol: &ProtocolHash,
        hash: &DalSkipListHash,
    ) -> Result<Option<Value>, String> {
        let url = self.endpoint.join(&format!(
            "/plugin/{protocol}/commitments_history/hash/{}",
            hash.to_b58check()
        ));
        let r = self.agent.get(&url).call();
        if r.as_ref().is_ok_and(|r| r.status().as_u16() == 404) {
            return Ok(None);
        }
        let body = self.answer(&url, r)?;
        serde_json::from_str(&body)
            .map(Some)
            .map_err(|e| format!("DAL node {url}: answer not JSON ({e})"))
    }

    /// `POST /slots?slot_index=<i>`: the slot's bytes (raw, `application/octet-stream`; the
    /// DAL node pads them with `\000`).
    ///
    /// # Errors
    /// The DAL node unreachable, refusing the slot or answering something else than
    /// `{"commitment", "commitment_proof"}`.
    pub fn post_slot(&self, slot_index: u8, data: &[u8]) -> Result<PostedSlot, String> {
        let url = self
            .endpoint
            .join(&format!("/slots?slot_index={slot_index}"));
        let r = self
            .agent
            .post(&url)
            .header("Content-Type", "application/octet-stream")
            .send(data);
        let body = self.answer(&url, r)?;
        parse_posted_slot(&body).map_err(|e| format!("DAL node {url}: {e}"))
    }
}

/// `"sh1…"`: a page proof.
fn parse_page_proof(body: &str) -> Result<[u8; 48], String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("answer not JSON ({e})"))?;
    let s = v
        .as_str()
        .ok_or_else(|| format!("expected a page proof \"sh1…\", got {v}"))?;
    DalCommitment::from_b58check(s)
        .map(|c| c.0)
        .map_err(|e| format!("bad page proof {s}: {e}"))
}

/// `{"commitment": "sh1…", "commitment_proof": "<hex>"}`.
fn parse_posted_slot(body: &str) -> Result<PostedSlot, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("answer not JSON ({e})"))?;
    let commitment = v["commitment"]
        .as_str()
        .ok_or_else(|| format!("no \"commitment\" in {v}"))?;
    let commitment = DalCommitment::from_b58check(commitment)
        .map_err(|e| format!("bad commitment {commitment}: {e}"))?;
    let proof = v["commitment_proof"]
        .as_str()
        .ok_or_else(|| format!("no \"commitment_proof\" in {v}"))?;
    Ok(PostedSlot {
        commitment,
        commitment_proof: DalCommitmentProof::from_hex(proof)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dal_node_answer_is_parsed() {
        let c = DalCommitment::new([2; 48]).to_b58check();
        let p = parse_posted_slot(&format!(
            r#"{{"commitment":"{c}","commitment_proof":"{}"}}"#,
            hex::encode([3; 96])
        ))
        .unwrap();
        assert_eq!(p.commitment, DalCommitment::new([2; 48]));
        assert!(parse_posted_slot(r#"{"commitment":"sh1"}"#).is_err());
        assert!(parse_posted_slot("nope").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn a_page_proof_is_a_b58_point() {
        let c = DalCommitment::new([5; 48]).to_b58check();
        assert_eq!(parse_page_proof(&format!("\"{c}\"")), Ok([5; 48]));
        assert!(parse_page_proof(&format!("\"{}\"", hex::encode([5; 48]))).is_err());
        assert!(parse_page_proof(r#"{"proof":"sh1"}"#).is_err());
    }
}
