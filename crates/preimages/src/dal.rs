//! The DAL reveals (`Request_dal_page`, `Reveal_dal_parameters`) decided as Octez's U025 node
//! decides them (docs/reference/dal.md §5; `dal_pages_request.ml`, `fueled_pvm.ml`, protocol
//! `sc_rollup_proof_repr.ml` `Dal_helpers.import_level_is_valid`).
//!
//! The decision is pure; what it reads comes through a [`DalSource`]: the constants of a level
//! and the DAL skip-list cells of a block from the L1 node, the pages of a slot from the DAL
//! node. A page is answered when the page id is valid for the inbox level being evaluated
//! and its slot was attested on L1; an invalid page id or an unattested or unpublished slot
//! gets the empty answer. Anything the node cannot learn (L1 unreachable, no DAL node
//! configured, a page beyond the slot) is an error: the evaluation stops, never a silent
//! empty answer.

use inbox::dal::{DalCellContent, DalParameters, SkipListCell};
use serde_json::Value;

use tezos_types::Level;
use tezos_types::operation::DalPageId;
pub use tezos_types::reveal::{LEGACY_ATTESTATION_LAG, LagCheck, PageValidity};

/// What the DAL reveals need from the protocol constants of a level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DalConstants {
    /// `dal_parametric`.
    pub params: DalParameters,
    /// `smart_rollup_reveal_activation_level.dal_parameters` when the DAL is enabled.
    pub activation_level: Option<i32>,
    /// `smart_rollup_reveal_activation_level.dal_attested_slots_validity_lag` when the DAL
    /// is enabled (`None`: unbounded, Octez's `max_int`).
    pub validity_lag: Option<i32>,
}

impl DalConstants {
    /// From the JSON of `GET …/context/constants`.
    ///
    /// # Errors
    /// What is missing or malformed.
    pub fn from_constants_json(v: &Value) -> Result<Self, String> {
        let params = DalParameters::from_json(&v["dal_parametric"])
            .map_err(|e| format!("constants, dal_parametric: {e}"))?;
        let reveal = &v["smart_rollup_reveal_activation_level"];
        let int = |k: &str| -> Result<Option<i32>, String> {
            if !params.feature_enable || reveal.is_null() {
                return Ok(None);
            }
            let x = &reveal[k];
            x.as_i64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                .and_then(|n| i32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    format!(
                        "constants, smart_rollup_reveal_activation_level.{k}: expected an int32"
                    )
                })
        };
        Ok(Self {
            activation_level: int("dal_parameters")?,
            validity_lag: int("dal_attested_slots_validity_lag")?,
            params,
        })
    }

    /// Pages per slot (`slot_size / page_size`).
    #[must_use]
    pub fn pages_per_slot(&self) -> i32 {
        match i32::from(self.params.page_size) {
            0 => 0,
            p => self.params.slot_size / p,
        }
    }

    /// The answer to `Reveal_dal_parameters` (`Sc_rollup.Dal_parameters.encoding`): four
    /// `int64` big-endian, number of slots, attestation lag, slot size, page size.
    #[must_use]
    pub fn parameters_bytes(&self) -> Vec<u8> {
        let p = &self.params;
        tezos_types::reveal::DalParameters {
            number_of_slots: i64::from(p.number_of_slots),
            attestation_lag: i64::from(p.attestation_lag),
            slot_size: i64::from(p.slot_size),
            page_size: i64::from(p.page_size),
        }
        .encode()
        .to_vec()
    }
}

/// A DAL page id (`Dal.Page.t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageId {
    /// The slot's published level.
    pub published_level: i32,
    /// The slot index.
    pub slot_index: u8,
    /// The page index.
    pub page_index: i16,
}

/// `Dal_helpers.page_id_is_valid` (and `import_level_is_valid`) with the constants of the
/// page's published level ([`PageValidity`], the rule the refutation game's DAL page proofs
/// are judged with); a negative level is invalid.
#[must_use]
pub fn page_id_is_valid(
    c: &DalConstants,
    lag: LagCheck,
    origination_level: i32,
    inbox_level: i32,
    page: &PageId,
) -> bool {
    let (Some(published_level), Some(origination_level), Some(import_inbox_level)) = (
        Level::new(page.published_level),
        Level::new(origination_level),
        Level::new(inbox_level),
    ) else {
        return false;
    };
    PageValidity {
        number_of_slots: c.params.number_of_slots,
        pages_per_slot: i64::from(c.pages_per_slot()),
        activation_level: c.activation_level.and_then(Level::new),
        origination_level,
        import_inbox_level,
        validity_lag: c.validity_lag.map(i64::from),
    }
    .is_valid(
        lag,
        &DalPageId {
            published_level,
            slot_index: page.slot_index,
            page_index: page.page_index,
        },
    )
}

/// The final attestation status of a slot, as L1's skip-list cells record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotStatus {
    /// Published and attested by the protocol, with this lag.
    Attested(u8),
    /// Published, not attested.
    Unattested,
    /// Not published.
    Unpublished,
}

/// The lags at which a slot's cell may be recorded, ascending (`dal_pages_request.ml`): the
/// dynamic lags when enabled, 0 (unpublished cells), the current lag and the legacy one.
#[must_use]
pub fn lag_candidates(p: &DalParameters) -> Vec<u8> {
    let mut lags = vec![0, p.attestation_lag, LEGACY_ATTESTATION_LAG];
    if p.dynamic_lag_enable {
        lags.extend(&p.attestation_lags);
    }
    lags.sort_unstable();
    lags.dedup();
    lags
}

/// The status of slot (`published_level`, `index`) in the cells of one block
/// (`skip_list_cells_of_level`), if they hold it.
#[must_use]
pub fn status_in_cells(
    cells: &[SkipListCell],
    published_level: i32,
    index: u8,
) -> Option<SlotStatus> {
    cells.iter().find_map(|cell| match &cell.cell.content {
        DalCellContent::Unpublished {
            published_level: l,
            index: i,
            ..
        } if i32::from(*l) == published_level && *i == index => Some(SlotStatus::Unpublished),
        DalCellContent::Published {
            published_level: l,
            index: i,
            is_proto_attested,
            attestation_lag,
            ..
        } if i32::from(*l) == published_level && *i == index => Some(if *is_proto_attested {
            SlotStatus::Attested(attestation_lag.value())
        } else {
            SlotStatus::Unattested
        }),
        _ => None,
    })
}

/// Where the DAL reveals read from: the L1 node (constants, cells) and the DAL node (pages).
pub trait DalSource: Send {
    /// The constants in force at `level`.
    ///
    /// # Errors
    /// L1 unreachable or answering garbage.
    fn constants(&mut self, level: i32) -> Result<DalConstants, String>;
    /// The cells of `skip_list_cells_of_level` of the block at `level` on the current chain
    /// (`None` when that block does not exist yet).
    ///
    /// # Errors
    /// L1 unreachable or answering garbage.
    fn cells(&mut self, level: i32) -> Result<Option<Vec<SkipListCell>>, String>;
    /// The pages of slot (`published_level`, `index`) from the DAL node.
    ///
    /// # Errors
    /// No DAL node configured, or the DAL node unreachable or without the slot.
    fn pages(&mut self, published_level: i32, index: u8) -> Result<Vec<Vec<u8>>, String>;
    /// The KZG proof of page `page_index` of slot (`published_level`, `index`) from the DAL
    /// node (`GET /levels/<l>/slots/<i>/pages/<p>/proof`), for a refutation game's DAL page
    /// proof.
    ///
    /// # Errors
    /// No DAL node configured, or the DAL node unreachable or without the page.
    fn page_proof(
        &mut self,
        published_level: i32,
        index: u8,
        page_index: i16,
    ) -> Result<[u8; 48], String> {
        let _ = (published_level, index, page_index);
        Err("this DAL source gives no page proofs (no DAL node)".to_owned())
    }
    /// The DAL skip-list cell of `hash` from the DAL node, JSON `History.encoding` (`GET
    /// /plugin/<protocol>/commitments_history/hash/<hash>`, Octez `refutation_game_helpers.ml`
    /// `get_cell_from_hash`), for a refutation game's DAL page proof; `None`: the DAL node has
    /// no such cell. Not checked against `hash` here.
    ///
    /// # Errors
    /// No DAL node configured, or the DAL node unreachable or answering garbage.
    fn skip_list_cell(
        &mut self,
        protocol: &tezos_types::ProtocolHash,
        hash: &tezos_types::DalSkipListHash,
    ) -> Result<Option<Value>, String> {
        let _ = (protocol, hash);
        Err("this DAL source gives no skip-list cells (no DAL node)".to_owned())
    }
    /// A source of its own reading from the same places, for another thread (`None`: this
    /// source cannot be copied, the copy has no DAL access).
    fn fork(&self) -> Option<Box<dyn DalSource>> {
        None
    }
}

/// The status of a slot from the cells of the blocks at its possible attestation levels.
///
/// # Errors
/// The source's errors; no cell found (Octez `Dal_attestation_status_not_found`, temporary).
pub fn slot_status(
    src: &mut dyn DalSource,
    params: &DalParameters,
    published_level: i32,
    index: u8,
) -> Result<SlotStatus, String> {
    for lag in lag_candidates(params) {
        let Some(level) = published_level.checked_add(i32::from(lag)) else {
            continue;
        };
        if let Some(cells) = src.cells(level)?
            && let Some(s) = status_in_cells(&cells, published_level, index)
        {
            return Ok(s);
        }
    }
    Err(format!(
        "DAL attestation status not found for slot {index} published at level \
         {published_level}; retrying once L1 has it"
    ))
}

/// The answer to `Request_dal_page` for the inbox level `inbox_level` being evaluated
/// (`Dal_pages_request.page_content`): the page, or empty for an invalid page id or a slot
/// that was not attested.
///
/// # Errors
/// The source's errors, and a page index beyond the slot's pages.
pub fn page(
    src: &mut dyn DalSource,
    origination_level: i32,
    inbox_level: i32,
    id: &PageId,
) -> Result<Vec<u8>, String> {
    if id.published_level <= origination_level {
        return Ok(Vec::new());
    }
    let c = src.constants(id.published_level)?;
    let interval = LagCheck::interval(&c.params.attestation_lags);
    if !page_id_is_valid(&c, interval, origination_level, inbox_level, id) {
        return Ok(Vec::new());
    }
    match slot_status(src, &c.params, id.published_level, id.slot_index)? {
        SlotStatus::Unattested | SlotStatus::Unpublished => Ok(Vec::new()),
        SlotStatus::Attested(lag) => {
            if !page_id_is_valid(&c, LagCheck::Exact(lag), origination_level, inbox_level, id) {
                return Ok(Vec::new());
            }
            let pages = src.pages(id.published_level, id.slot_index)?;
            usize::try_from(id.page_index)
                .ok()
                .and_then(|i| pages.get(i))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "Invalid Dal page requested: page {} of slot {} published at level {} \
                         (the DAL node returned {} pages)",
                        id.page_index,
                        id.slot_index,
                        id.published_level,
                        pages.len()
                    )
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn constants(validity: i32) -> Value {
        json!({
            "dal_parametric": {
                "feature_enable": true, "number_of_slots": 16, "attestation_lag": 5,
                "attestation_lags": [1, 2, 3, 4, 5], "dynamic_lag_enable": true,
                "slot_size": 380832, "page_size": 3967
            },
            "smart_rollup_reveal_activation_level": {
                "raw_data": {"Blake2B": 0}, "metadata": 0, "dal_page": 1,
                "dal_parameters": 10, "dal_attested_slots_validity_lag": validity
            }
        })
    }

    fn cell(level: i32, index: u8, content: Value) -> Value {
        let mut c = content;
        c["level"] = json!(level);
        c["index"] = json!(index);
        json!(["dask12YcdgqBDuBTfrPmY4JRjMrMjVJw4L2NqABL5jzwV5uEEN8pihP",
            {"kind": "dal_skip_list", "skip_list": {"index": "1", "content": c, "back_pointers": []}}])
    }

    fn published(attested: bool, lag: u8) -> Value {
        json!({"kind": "published", "publisher": "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx",
               "is_proto_attested": attested, "attested_shards": 256, "total_shards": 256,
               "attestation_lag": lag, "version": "0",
               "commitment": "sh1cGM6kXe8Zn8nqCswyy6nuRfKXoEBqwR6oGpkFTsyW9yzpuUet7g1ZEEuxhAuDbW9UeZ7fD2"})
    }

    /// A source answering from maps; counts the DAL node calls.
    struct Fake {
        constants: Value,
        cells: HashMap<i32, Value>,
        pages: Option<Vec<Vec<u8>>>,
        page_calls: usize,
    }

    impl DalSource for Fake {
        fn constants(&mut self, _level: i32) -> Result<DalConstants, String> {
            DalConstants::from_constants_json(&self.constants)
        }
        fn cells(&mut self, level: i32) -> Result<Option<Vec<SkipListCell>>, String> {
            let v = self.cells.get(&level).cloned().unwrap_or(json!([]));
            inbox::dal::skip_list_cells_of_json(&v)
                .map(Some)
                .map_err(|e| e.to_string())
        }
        fn pages(&mut self, _l: i32, _i: u8) -> Result<Vec<Vec<u8>>, String> {
            self.page_calls += 1;
            self.pages
                .clone()
                .ok_or_else(|| "No DAL node provided to fetch slot pages.".to_owned())
        }
    }

    fn fake(cells: &[(i32, Value)], pages: Option<Vec<Vec<u8>>>) -> Fake {
        Fake {
            constants: constants(100),
            cells: cells.iter().cloned().collect(),
            pages,
            page_calls: 0,
        }
    }

    fn id(published_level: i32, slot_index: u8, page_index: i16) -> PageId {
        PageId {
            published_level,
            slot_index,
            page_index,
        }
    }

    #[test]
    fn constants_and_the_parameters_answer() {
        let c = DalConstants::from_constants_json(&constants(100)).unwrap();
        assert_eq!(c.activation_level, Some(10));
        assert_eq!(c.validity_lag, Some(100));
        assert_eq!(c.pages_per_slot(), 96);
        let b = c.parameters_bytes();
        assert_eq!(b.len(), 32);
        assert_eq!(&b[..8], &16i64.to_be_bytes());
        assert_eq!(&b[8..16], &5i64.to_be_bytes());
        assert_eq!(&b[16..24], &380_832i64.to_be_bytes());
        assert_eq!(&b[24..], &3967i64.to_be_bytes());
        // DAL off: no activation, unbounded validity.
        let mut off = constants(100);
        off["dal_parametric"]["feature_enable"] = json!(false);
        let c = DalConstants::from_constants_json(&off).unwrap();
        assert_eq!((c.activation_level, c.validity_lag), (None, None));
        assert!(!page_id_is_valid(
            &c,
            LagCheck::Exact(5),
            0,
            100,
            &id(50, 0, 0)
        ));
    }

    #[test]
    fn validity_as_the_protocol_checks_it() {
        let c = DalConstants::from_constants_json(&constants(100)).unwrap();
        let v = |lag, inbox, p: PageId| page_id_is_valid(&c, lag, 20, inbox, &p);
        assert_eq!(
            LagCheck::interval(&[1, 2, 3, 4, 5]),
            LagCheck::Interval(1, 8)
        );
        assert!(v(LagCheck::Exact(5), 55, id(50, 0, 0)));
        assert!(!v(LagCheck::Exact(5), 54, id(50, 0, 0)), "too recent");
        assert!(v(LagCheck::Exact(5), 155, id(50, 0, 0)));
        assert!(!v(LagCheck::Exact(5), 156, id(50, 0, 0)), "expired");
        assert!(
            !v(LagCheck::Exact(5), 60, id(50, 16, 0)),
            "slot out of range"
        );
        assert!(
            !v(LagCheck::Exact(5), 60, id(50, 0, 96)),
            "page out of range"
        );
        assert!(!v(LagCheck::Exact(5), 60, id(50, 0, -1)));
        assert!(
            !v(LagCheck::Exact(5), 60, id(9, 0, 0)),
            "before the DAL activation"
        );
        assert!(
            !v(LagCheck::Exact(5), 60, id(20, 0, 0)),
            "not after origination"
        );
        assert!(v(LagCheck::Interval(1, 8), 51, id(50, 0, 0)));
    }

    #[test]
    fn pages_of_attested_slots_only() {
        let pages = vec![b"p0".to_vec(), b"p1".to_vec()];
        // Slot 3 published at 50, attested with lag 2 (cells of block 52).
        let mut src = fake(
            &[(52, json!([cell(50, 3, published(true, 2))]))],
            Some(pages),
        );
        assert_eq!(page(&mut src, 20, 60, &id(50, 3, 1)).unwrap(), b"p1");
        // Beyond the pages the DAL node has: an error, not an empty answer.
        let e = page(&mut src, 20, 60, &id(50, 3, 5)).unwrap_err();
        assert!(e.contains("Invalid Dal page requested"), "{e}");
        // Imported too early for its real lag: empty, without asking the DAL node.
        let calls = src.page_calls;
        assert_eq!(page(&mut src, 20, 51, &id(50, 3, 0)).unwrap(), b"");
        assert_eq!(src.page_calls, calls);
        // Unattested and unpublished slots: empty.
        let mut src = fake(
            &[
                (55, json!([cell(50, 1, published(false, 5))])),
                (50, json!([cell(50, 2, json!({"kind": "unpublished"}))])),
            ],
            Some(vec![]),
        );
        assert_eq!(page(&mut src, 20, 60, &id(50, 1, 0)).unwrap(), b"");
        assert_eq!(page(&mut src, 20, 60, &id(50, 2, 0)).unwrap(), b"");
        assert_eq!(src.page_calls, 0);
        // No cell anywhere: the status is not known yet, an error.
        let e = page(&mut src, 20, 60, &id(50, 9, 0)).unwrap_err();
        assert!(e.contains("not found"), "{e}");
        // Published at or before origination: empty at once.
        assert_eq!(page(&mut src, 50, 60, &id(50, 1, 0)).unwrap(), b"");
    }

    #[test]
    fn an_attested_page_without_a_dal_node_is_an_error() {
        let mut src = fake(&[(55, json!([cell(50, 0, published(true, 5))]))], None);
        let e = page(&mut src, 20, 60, &id(50, 0, 0)).unwrap_err();
        assert_eq!(e, "No DAL node provided to fetch slot pages.");
    }
}
