//! The `Dal_attested_slots` messages of a level, fetched from L1 (docs/reference/dal.md §3).
//!
//! For a block of a protocol with these messages ([`inbox::dal::has_dal_messages`]: U025,
//! alpha) whose DAL feature is enabled (`dal_parametric.feature_enable` of its constants, read
//! once per protocol at the block's predecessor, whose context holds the constants the block
//! was applied with, as Octez's `get_constants_of_protocol`), the follower fetches the block's
//! DAL skip-list cells and the DAL parameters of each published level that has attested
//! slots (`dal/past_parameters/<level>`, cached), and builds the messages as the protocol does
//! ([`inbox::dal::dal_attested_slots_messages`]). Otherwise no RPC is made: without the feature
//! the protocol records no cells, hence adds no message.
//!
//! A failing RPC for a block that needs it is an error of the level (retried by the main
//! loop, logged with what the L1 node must serve), never an inbox without its DAL messages.

use std::collections::{BTreeMap, HashMap};

use inbox::Block;
use inbox::dal::{DalParameters, dal_attested_slots_messages, levels_needing_parameters};
use l1_client::L1Error;
use tezos_types::{InboxMessage, ProtocolHash};

use crate::follower::{FollowError, L1};

/// DAL parameters kept by published level (a few levels are in use at a time: the published
/// levels of one block are at most the largest attestation lag below it).
const PARAMS_CACHE: usize = 64;

/// What the follower remembers between levels to build the DAL messages.
#[derive(Debug, Default)]
pub(crate) struct DalInbox {
    /// DAL feature of each protocol seen (`dal_parametric.feature_enable`).
    enabled: HashMap<ProtocolHash, bool>,
    /// Parameters in force at each published level fetched so far.
    params: BTreeMap<tezos_types::Level, DalParameters>,
}

impl DalInbox {
    /// The `Dal_attested_slots` messages of `block`, in inbox order (module docs).
    pub(crate) fn messages(
        &mut self,
        l1: &L1,
        block: &Block,
    ) -> Result<Vec<InboxMessage>, FollowError> {
        if !inbox::dal::has_dal_messages(&block.protocol) {
            return Ok(Vec::new());
        }
        let enabled = match self.enabled.get(&block.protocol) {
            Some(e) => *e,
            None => {
                let pred = block.header.predecessor.to_b58check();
                let c = l1
                    .call(l1.client.constants("main", &pred))
                    .map_err(|e| logged(block, "context/constants", e))?;
                let e = c.dal_parametric.is_some_and(|d| d.feature_enable);
                tracing::info!(
                    "Protocol {} adds DAL attested slots to the inbox; DAL feature {} on this \
                     chain",
                    block.protocol,
                    if e { "enabled" } else { "disabled" }
                );
                self.enabled.insert(block.protocol, e);
                e
            }
        };
        if !enabled {
            return Ok(Vec::new());
        }
        let hash = block.hash.to_b58check();
        let cells = l1
            .call(l1.client.skip_list_cells_of_level("main", &hash))
            .map_err(|e| logged(block, "context/dal/skip_list_cells_of_level", e))?;
        for level in levels_needing_parameters(&cells) {
            if self.params.contains_key(&level) {
                continue;
            }
            let p = l1
                .call(l1.client.dal_past_parameters("main", &hash, level.into()))
                .map_err(|e| logged(block, &format!("context/dal/past_parameters/{level}"), e))?;
            self.params.insert(level, p);
            while self.params.len() > PARAMS_CACHE {
                self.params.pop_first();
            }
        }
        let msgs = dal_attested_slots_messages(&cells, &self.params).map_err(|e| {
            FollowError::Inconsistent(format!(
                "Cannot build the DAL attested-slots messages of block {} at level {}: {e}",
                block.hash,
                block.level()
            ))
        })?;
        if !msgs.is_empty() {
            tracing::debug!(
                "Level {}: {} Dal_attested_slots message(s)",
                block.level(),
                msgs.len()
            );
        }
        Ok(msgs)
    }
}

/// Logs why the DAL messages of `block` cannot be built (the level is retried) and passes the
/// error on.
fn logged(block: &Block, rpc: &str, e: FollowError) -> FollowError {
    if let FollowError::L1(l1) = &e {
        let hint = match l1.as_ref() {
            L1Error::Http { status: 404, .. } => {
                " The L1 node does not serve this RPC: use a Tezos node of that protocol."
            }
            _ => "",
        };
        tracing::warn!(
            "Cannot fetch {rpc} for block {} at level {} (protocol {} adds Dal_attested_slots \
             messages to the inbox, which cannot be built without it): {l1}.{hint} Retrying.",
            block.hash,
            block.level(),
            block.protocol
        );
    }
    e
}

/// Slots whose pages are kept (Octez keeps 16: enough for Etherlink, which reads each slot
/// once, in order).
const PAGES_CACHE: usize = 16;
/// Levels whose constants are kept.
const CONSTANTS_CACHE: usize = 64;

/// A slot: published level and index.
type SlotId = (i32, u8);

/// The source of the DAL reveals (`preimages::dal::DalSource`, docs/reference/dal.md §5):
/// constants and skip-list cells from the L1 node, pages from the DAL node (`--dal-node`,
/// config `"DAL node endpoint"`): `GET <dal-node>/levels/<l>/slots/<i>/pages`, a JSON array
/// of hex pages.
pub struct DalRevealSource {
    l1: L1,
    dal_node: Option<crate::dal_node::DalNodeClient>,
    /// Keeps [`L1`]'s stop channel open for a source built by [`DalRevealSource::standalone`].
    _stop: Option<std::sync::Arc<tokio::sync::watch::Sender<bool>>>,
    constants: BTreeMap<i32, preimages::dal::DalConstants>,
    pages: std::collections::VecDeque<(SlotId, Vec<Vec<u8>>)>,
}

impl DalRevealSource {
    /// A source over `l1` and the DAL node at `dal_node`, if any.
    ///
    /// # Errors
    /// An invalid DAL node URL or TLS configuration (fatal: retrying cannot help).
    pub(crate) fn new(l1: L1, dal_node: Option<&str>) -> Result<Self, FollowError> {
        Self::with_stop(l1, dal_node, None)
    }

    /// A source of its own over `client`, driven by `rt` (the simulation RPC's).
    ///
    /// # Errors
    /// An invalid DAL node URL or TLS configuration.
    pub fn standalone(
        client: l1_client::L1Client,
        rt: tokio::runtime::Handle,
        dal_node: Option<&str>,
    ) -> Result<Self, FollowError> {
        let (tx, rx) = tokio::sync::watch::channel(false);
        Self::with_stop(L1::new(client, rt, rx), dal_node, Some(tx))
    }

    fn with_stop(
        l1: L1,
        dal_node: Option<&str>,
        stop: Option<tokio::sync::watch::Sender<bool>>,
    ) -> Result<Self, FollowError> {
        let dal_node = dal_node
            .map(crate::dal_node::DalNodeClient::new)
            .transpose()
            .map_err(FollowError::Fatal)?;
        Ok(Self {
            l1,
            dal_node,
            _stop: stop.map(std::sync::Arc::new),
            constants: BTreeMap::new(),
            pages: std::collections::VecDeque::new(),
        })
    }
}

fn not_found(e: &L1Error) -> bool {
    matches!(
        e,
        L1Error::Rpc { status: 404, .. } | L1Error::Http { status: 404, .. }
    )
}

impl preimages::dal::DalSource for DalRevealSource {
    fn constants(&mut self, level: i32) -> Result<preimages::dal::DalConstants, String> {
        if let Some(c) = self.constants.get(&level) {
            return Ok(c.clone());
        }
        let at = |block: &str| {
            self.l1
                .call(self.l1.client.get_json::<serde_json::Value>(&format!(
                    "/chains/main/blocks/{block}/context/constants"
                )))
        };
        // A level not baked yet (the simulation RPC evaluates the level after the head) has
        // the head's protocol, hence its constants.
        let v = match at(&level.to_string()) {
            Err(FollowError::L1(e)) if not_found(&e) => at("head"),
            r => r,
        }
        .map_err(|e| format!("constants at level {level}: {e}"))?;
        let c = preimages::dal::DalConstants::from_constants_json(&v)?;
        if self.constants.len() >= CONSTANTS_CACHE {
            self.constants.pop_first();
        }
        self.constants.insert(level, c.clone());
        Ok(c)
    }

    fn fork(&self) -> Option<Box<dyn preimages::dal::DalSource>> {
        Some(Box::new(Self {
            l1: self.l1.clone(),
            dal_node: self.dal_node.clone(),
            _stop: self._stop.clone(),
            constants: self.constants.clone(),
            pages: self.pages.clone(),
        }))
    }

    fn cells(&mut self, level: i32) -> Result<Option<Vec<inbox::dal::SkipListCell>>, String> {
        let r = self.l1.call(
            self.l1
                .client
                .skip_list_cells_of_level("main", &level.to_string()),
        );
        match r {
            Ok(cells) => Ok(Some(cells)),
            Err(FollowError::L1(e)) if not_found(&e) => Ok(None),
            Err(e) => Err(format!("DAL skip-list cells at level {level}: {e}")),
        }
    }

    fn pages(&mut self, published_level: i32, index: u8) -> Result<Vec<Vec<u8>>, String> {
        if let Some((_, p)) = self
            .pages
            .iter()
            .find(|(k, _)| *k == (published_level, index))
        {
            return Ok(p.clone());
        }
        let dal = self
            .dal_node
            .as_ref()
            .ok_or("No DAL node provided to fetch slot pages: the kernel reads the DAL; run the rollup node with --dal-node <uri>.")?;
        let pages = dal.pages(published_level, index)?;
        if self.pages.len() >= PAGES_CACHE {
            self.pages.pop_front();
        }
        self.pages
            .push_back(((published_level, index), pages.clone()));
        Ok(pages)
    }

    fn page_proof(
        &mut self,
        published_level: i32,
        index: u8,
        page_index: i16,
    ) -> Result<[u8; 48], String> {
        self.dal_node
            .as_ref()
            .ok_or("No DAL node provided to fetch a page proof: run the rollup node with --dal-node <uri>.")?
            .page_proof(published_level, index, page_index)
    }

    fn skip_list_cell(
        &mut self,
        protocol: &tezos_types::ProtocolHash,
        hash: &tezos_types::DalSkipListHash,
    ) -> Result<Option<serde_json::Value>, String> {
        self.dal_node
            .as_ref()
            .ok_or("No DAL node provided to fetch a DAL skip-list cell: run the rollup node with --dal-node <uri>.")?
            .skip_list_cell(protocol, hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use l1_client::{L1Client, L1Config};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const BLOCK: &str = include_str!("../../inbox/fixtures/block_with_rollup_ops.json");
    const CELLS: &str = include_str!("../../inbox/fixtures/dal_skip_list_cells_u025.json");
    const PARAMS: &str = include_str!("../../inbox/fixtures/dal_parametric_u025.json");
    const U025: &str = "PsUshuai9QapM5TGj1JpuVGkdxz5GykdnEvS6Rh8SUVrARvZLCY";
    const T024: &str = "PtTALLiNtPec7mE7yY4m3k26J8Qukef3E3ehzhfXgFZKGtDdAXu";

    type Hits = Arc<Mutex<Vec<String>>>;

    /// A loopback HTTP/1.1 double: `answer(path)` is `(status, body)`; every path is recorded.
    fn serve(
        rt: &tokio::runtime::Runtime,
        answer: impl Fn(&str) -> (u16, String) + Send + Sync + 'static,
    ) -> (String, Hits) {
        let hits: Hits = Arc::default();
        let h = hits.clone();
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(answer);
        rt.spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (h, answer) = (h.clone(), answer.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf);
                    let path = text.split(' ').nth(1).unwrap_or("").to_owned();
                    h.lock().unwrap().push(path.clone());
                    let (status, body) = answer(&path);
                    let resp = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        (url, hits)
    }

    fn l1(rt: &tokio::runtime::Runtime, url: String) -> L1 {
        let config = L1Config {
            reconnection_delay: Duration::from_millis(5),
            rpc_max_delay: Duration::from_millis(10),
            rpc_max_attempts: 2,
            ..L1Config::new(url)
        };
        let (tx, stop) = tokio::sync::watch::channel(false);
        // Never stop: the sender lives as long as the test process.
        std::mem::forget(tx);
        L1::new(L1Client::new(config).unwrap(), rt.handle().clone(), stop)
    }

    fn block(protocol: &str) -> Block {
        let mut v: serde_json::Value = serde_json::from_str(BLOCK).unwrap();
        v["protocol"] = protocol.into();
        Block::from_json(&v).unwrap()
    }

    fn constants(feature_enable: bool) -> String {
        format!(
            r#"{{"minimal_block_delay":"6","delay_increment_per_round":"3",
      "hard_gas_limit_per_operation":"1040000","hard_gas_limit_per_block":"1386666",
      "hard_storage_limit_per_operation":"60000","origination_size":257,"cost_per_byte":"250",
      "dal_parametric":{{"feature_enable":{feature_enable},"number_of_slots":16,
        "attestation_lag":5,"page_size":3967,"slot_size":380832}},
      "smart_rollup_challenge_window_in_blocks":62,"smart_rollup_stake_amount":"32000000",
      "smart_rollup_commitment_period_in_blocks":31,"smart_rollup_max_lookahead_in_blocks":46875,
      "smart_rollup_max_active_outbox_levels":31500,
      "smart_rollup_number_of_sections_in_dissection":32,"smart_rollup_timeout_period_in_blocks":781,
      "smart_rollup_max_number_of_cemented_commitments":5}}"#
        )
    }

    fn answer(feature: bool, cells: Option<&'static str>) -> impl Fn(&str) -> (u16, String) {
        move |path| {
            if path.ends_with("/context/constants") {
                (200, constants(feature))
            } else if path.ends_with("/context/dal/skip_list_cells_of_level") {
                cells.map_or((404, String::new()), |c| (200, c.to_owned()))
            } else if path.contains("/context/dal/past_parameters/") {
                (200, PARAMS.to_owned())
            } else {
                (404, String::new())
            }
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn no_rpc_for_protocols_without_dal_messages() {
        let rt = runtime();
        let (url, hits) = serve(&rt, answer(true, None));
        let mut dal = DalInbox::default();
        let msgs = dal.messages(&l1(&rt, url), &block(T024)).unwrap();
        assert!(msgs.is_empty());
        assert!(hits.lock().unwrap().is_empty());
    }

    #[test]
    fn feature_disabled_reads_constants_once_and_no_cells() {
        let rt = runtime();
        // The sandbox's case: U025 with `feature_enable: false` and no DAL RPC (404).
        let (url, hits) = serve(&rt, answer(false, None));
        let l1 = l1(&rt, url);
        let mut dal = DalInbox::default();
        let b = block(U025);
        assert!(dal.messages(&l1, &b).unwrap().is_empty());
        assert!(dal.messages(&l1, &b).unwrap().is_empty());
        let hits = hits.lock().unwrap();
        assert_eq!(hits.len(), 1, "{hits:?}");
        assert!(hits[0].ends_with(&format!(
            "/blocks/{}/context/constants",
            b.header.predecessor
        )));
    }

    #[test]
    fn cells_and_cached_parameters_make_the_messages() {
        let rt = runtime();
        let (url, hits) = serve(&rt, answer(true, Some(CELLS)));
        let l1 = l1(&rt, url);
        let mut dal = DalInbox::default();
        let b = block(U025);
        let msgs = dal.messages(&l1, &b).unwrap();
        assert_eq!(msgs.len(), 2);
        assert!(hex::encode(tezos_types::BinEncode::to_bin(&msgs[0])).starts_with("0005004c4b40"));
        let again = dal.messages(&l1, &b).unwrap();
        assert_eq!(again, msgs);
        let hits = hits.lock().unwrap();
        let count = |s: &str| hits.iter().filter(|p| p.contains(s)).count();
        assert_eq!(count("/context/constants"), 1);
        assert_eq!(count("skip_list_cells_of_level"), 2);
        // Parameters of 5000000 and 5000002, fetched once each at the block.
        assert_eq!(count("past_parameters/"), 2, "{hits:?}");
        assert_eq!(
            count(&format!(
                "/blocks/{}/context/dal/past_parameters/5000000",
                b.hash
            )),
            1
        );
    }

    #[test]
    fn missing_rpc_is_an_error_not_an_empty_inbox() {
        let rt = runtime();
        let (url, _hits) = serve(&rt, answer(true, None));
        let mut dal = DalInbox::default();
        match dal.messages(&l1(&rt, url), &block(U025)) {
            Err(FollowError::L1(e)) => {
                assert!(matches!(*e, L1Error::Http { status: 404, .. }), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }
    /// The DAL reveals' source: constants and cells from L1, pages from the DAL node (cached),
    /// a future block's cells absent, and without a DAL node a page is an error that says what
    /// to do.
    #[test]
    fn reveal_source_reads_l1_and_the_dal_node() {
        use preimages::dal::DalSource;
        let rt = tokio::runtime::Runtime::new().unwrap();
        let constants = format!(
            r#"{{"dal_parametric": {PARAMS}, "smart_rollup_reveal_activation_level":
                {{"dal_parameters": 10, "dal_attested_slots_validity_lag": 100}}}}"#
        );
        let (url, hits) = serve(&rt, move |path| match path {
            "/chains/main/blocks/55/context/constants" => (200, constants.clone()),
            "/chains/main/blocks/55/context/dal/skip_list_cells_of_level" => (200, CELLS.into()),
            "/chains/main/blocks/99/context/dal/skip_list_cells_of_level" => (404, "[]".into()),
            "/levels/50/slots/3/pages" => (200, r#"["7030", "7031"]"#.into()),
            _ => (500, "[]".into()),
        });
        let mut src = DalRevealSource::new(l1(&rt, url.clone()), Some(&url)).unwrap();
        let c = src.constants(55).unwrap();
        assert_eq!((c.activation_level, c.validity_lag), (Some(10), Some(100)));
        assert!(!src.cells(55).unwrap().unwrap().is_empty());
        assert_eq!(src.cells(99).unwrap(), None);
        assert_eq!(
            src.pages(50, 3).unwrap(),
            vec![b"p0".to_vec(), b"p1".to_vec()]
        );
        assert_eq!(src.pages(50, 3).unwrap().len(), 2);
        let page_calls = hits
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.contains("/pages"))
            .count();
        assert_eq!(page_calls, 1, "pages are cached");
        let e = src.pages(50, 4).unwrap_err();
        assert!(e.contains("HTTP 500"), "{e}");
        let mut none = DalRevealSource::new(l1(&rt, url), None).unwrap();
        let e = none.pages(50, 3).unwrap_err();
        assert!(
            e.contains("No DAL node provided") && e.contains("--dal-node"),
            "{e}"
        );
    }
}
