//! DAL skip-list cells (`src/proto_alpha/lib_protocol/dal_slot_repr.ml` `History`: `Content_v2`,
//! `History.encoding`, `hash`; `src/lib_base/skip_list.ml` `next`, basis 4): content, binary
//! and JSON encodings, hash and the next cell's back pointers. One model for L1's
//! `skip_list_cells_of_level`, the DAL node's `commitments_history/hash/<h>`, the sandbox's
//! skip list and the refutation game's DAL proofs (docs/reference/dal.md §1).

use serde_json::{Value, json};

use crate::encoding::DecodeResult;
use crate::reveal::LEGACY_ATTESTATION_LAG;
use crate::{
    BinDecode, BinEncode, Contract, DalCommitment, DalSkipListHash, Level, Reader, Writer,
};

/// Basis of the DAL skip list (`Skip_list_parameters.basis`).
pub const BASIS: u64 = 4;

/// Size of the legacy history case (`dal_skip_list_legacy`, decoded as the genesis cell).
pub const LEGACY_HISTORY_SIZE: usize = 57;

/// `Skip_list.next`'s index and back pointers of the cell after the one of index `index`,
/// hash `hash` and back pointers `back_pointers`: pointer `i` is `hash` when `4^i` divides the
/// new index, else the previous cell's pointer `i`. `None` on an index overflow or too few
/// previous pointers.
#[must_use]
pub fn next_back_pointers(
    index: u64,
    hash: DalSkipListHash,
    back_pointers: &[DalSkipListHash],
) -> Option<(u64, Vec<DalSkipListHash>)> {
    let index = index.checked_add(1)?;
    let mut next = Vec::new();
    let mut power: u64 = 1;
    let mut i = 0usize;
    while index >= power {
        next.push(if index.checked_rem(power)? == 0 {
            hash
        } else {
            *back_pointers.get(i)?
        });
        i = i.checked_add(1)?;
        match power.checked_mul(BASIS) {
            Some(p) => power = p,
            None => break,
        }
    }
    Some((index, next))
}

/// The attestation lag of a cell (`attestation_lag_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttestationLag {
    /// The legacy encodings (tags 2 and 3): the lag is [`LEGACY_ATTESTATION_LAG`].
    Legacy,
    /// The dynamic encodings (tags 4 and 5).
    Dynamic(u8),
}

impl AttestationLag {
    /// `attestation_lag_value`.
    #[must_use]
    pub fn value(self) -> u8 {
        match self {
            Self::Legacy => LEGACY_ATTESTATION_LAG,
            Self::Dynamic(n) => n,
        }
    }

    /// The lag in the skip list's order (`compare_slot_ids_by_dynamic_attested_level`:
    /// legacy counts as 0).
    #[must_use]
    pub fn order_lag(self) -> i64 {
        match self {
            Self::Legacy => 0,
            Self::Dynamic(n) => i64::from(n),
        }
    }
}

/// The content of a DAL skip-list cell (`History.Content_v2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DalCellContent {
    /// No header published for the slot (tags 2, 4).
    Unpublished {
        /// Published level of the slot id.
        published_level: Level,
        /// Slot index.
        index: u8,
        /// Lag.
        attestation_lag: AttestationLag,
    },
    /// A published header and its attestation outcome (tags 3, 5).
    Published {
        /// Published level of the slot id.
        published_level: Level,
        /// Slot index.
        index: u8,
        /// The slot's commitment.
        commitment: DalCommitment,
        /// Who published the header.
        publisher: Contract,
        /// Attested according to the protocol.
        is_proto_attested: bool,
        /// Shards attested.
        attested_shards: u16,
        /// Shards in total.
        total_shards: u16,
        /// Lag.
        attestation_lag: AttestationLag,
    },
}

impl DalCellContent {
    /// `content_id`: the slot id (published level, index) and the lag.
    #[must_use]
    pub fn id(&self) -> (Level, u8, AttestationLag) {
        match self {
            Self::Unpublished {
                published_level,
                index,
                attestation_lag,
            }
            | Self::Published {
                published_level,
                index,
                attestation_lag,
                ..
            } => (*published_level, *index, *attestation_lag),
        }
    }

    /// JSON: the merged objects of the case (docs/reference/dal.md §1).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let lag = |l: &AttestationLag, v: &mut Value| {
            if let AttestationLag::Dynamic(n) = l {
                v["attestation_lag"] = json!(n);
            }
        };
        match self {
            Self::Unpublished {
                published_level,
                index,
                attestation_lag,
            } => {
                let mut v = json!({"kind": "unpublished"});
                lag(attestation_lag, &mut v);
                v["level"] = json!(published_level);
                v["index"] = json!(index);
                v
            }
            Self::Published {
                published_level,
                index,
                commitment,
                publisher,
                is_proto_attested,
                attested_shards,
                total_shards,
                attestation_lag,
            } => {
                let mut v = json!({
                    "kind": "published", "publisher": publisher.to_b58check(),
                    "is_proto_attested": is_proto_attested, "attested_shards": attested_shards,
                    "total_shards": total_shards,
                });
                lag(attestation_lag, &mut v);
                v["version"] = json!("0");
                v["level"] = json!(published_level);
                v["index"] = json!(index);
                v["commitment"] = json!(commitment.to_b58check());
                v
            }
        }
    }

    /// Reads [`Self::to_json`]'s shape.
    ///
    /// # Errors
    /// What is missing or malformed.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let int = |k: &str| -> Result<i64, String> {
            let x = &v[k];
            x.as_i64()
                .or_else(|| x.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| format!("DAL cell content: `{k}` is not an integer"))
        };
        let level = int("level")?;
        let published_level = i32::try_from(level)
            .ok()
            .and_then(Level::new)
            .ok_or_else(|| format!("DAL cell content: bad level {level}"))?;
        let index = u8::try_from(int("index")?).map_err(|_| "DAL cell content: bad index")?;
        let attestation_lag = match v.get("attestation_lag") {
            None => AttestationLag::Legacy,
            Some(_) => AttestationLag::Dynamic(
                u8::try_from(int("attestation_lag")?)
                    .map_err(|_| "DAL cell content: bad attestation_lag")?,
            ),
        };
        let string = |k: &str| {
            v[k].as_str()
                .ok_or_else(|| format!("DAL cell content: `{k}` is not a string"))
        };
        match string("kind")? {
            "unpublished" => Ok(Self::Unpublished {
                published_level,
                index,
                attestation_lag,
            }),
            "published" => {
                if string("version")? != "0" {
                    return Err("DAL cell content: unknown header version".into());
                }
                let shards = |k: &str| {
                    u16::try_from(int(k)?).map_err(|_| format!("DAL cell content: bad `{k}`"))
                };
                Ok(Self::Published {
                    published_level,
                    index,
                    commitment: DalCommitment::from_b58check(string("commitment")?)
                        .map_err(|e| format!("DAL cell content: commitment: {e}"))?,
                    publisher: Contract::from_b58check(string("publisher")?)
                        .map_err(|e| format!("DAL cell content: publisher: {e}"))?,
                    is_proto_attested: v["is_proto_attested"]
                        .as_bool()
                        .ok_or("DAL cell content: `is_proto_attested` is not a boolean")?,
                    attested_shards: shards("attested_shards")?,
                    total_shards: shards("total_shards")?,
                    attestation_lag,
                })
            }
            k => Err(format!("DAL cell content: unknown kind {k:?}")),
        }
    }
}

/// A cell of the DAL skip list (`History.t`: `Skip_list.cell` of basis 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DalCell {
    /// Index in the skip list.
    pub index: u64,
    /// Content.
    pub content: DalCellContent,
    /// Back pointers: pointer `i` is the hash of cell `index - index mod 4^i - 1`.
    pub back_pointers: Vec<DalSkipListHash>,
}

impl DalCell {
    /// `History.genesis`: index 0, the legacy `unpublished` content of level 0 slot 0.
    #[must_use]
    pub fn genesis() -> Self {
        Self {
            index: 0,
            content: DalCellContent::Unpublished {
                published_level: Level::ZERO,
                index: 0,
                attestation_lag: AttestationLag::Legacy,
            },
            back_pointers: Vec::new(),
        }
    }

    /// `History.hash`: Blake2b-256 of the content's bytes ‖ the back pointers.
    #[must_use]
    pub fn hash(&self) -> DalSkipListHash {
        let content = self.content.to_bin();
        let mut parts: Vec<&[u8]> = vec![&content];
        parts.extend(self.back_pointers.iter().map(|h| &h.0[..]));
        DalSkipListHash::hash_parts(&parts)
    }

    /// `Skip_list.next`: the cell after `self` holding `content` ([`next_back_pointers`]).
    /// `None` on an index overflow or a malformed `self`.
    #[must_use]
    pub fn next(&self, content: DalCellContent) -> Option<Self> {
        let (index, back_pointers) =
            next_back_pointers(self.index, self.hash(), &self.back_pointers)?;
        Some(Self {
            index,
            content,
            back_pointers,
        })
    }

    /// The index of the cell back pointer `i` points to (`index - index mod 4^i - 1`).
    #[must_use]
    pub fn pointed_index(&self, i: usize) -> Option<u64> {
        pointed_index(self.index, i)
    }

    /// `History.encoding`, JSON (`{"kind":"dal_skip_list","skip_list":{…}}`).
    #[must_use]
    pub fn to_json(&self) -> Value {
        json!({"kind": "dal_skip_list", "skip_list": {
            "index": self.index.to_string(),
            "content": self.content.to_json(),
            "back_pointers": self.back_pointers.iter().map(DalSkipListHash::to_b58check)
                .collect::<Vec<_>>(),
        }})
    }

    /// Reads [`Self::to_json`]'s shape (`dal_skip_list_legacy` is the genesis cell).
    ///
    /// # Errors
    /// What is missing or malformed.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        match v["kind"].as_str() {
            Some("dal_skip_list_legacy") => Ok(Self::genesis()),
            Some("dal_skip_list") => {
                let s = &v["skip_list"];
                let index = match &s["index"] {
                    Value::String(x) => x.parse().ok(),
                    x => x.as_u64(),
                }
                .ok_or("DAL cell: bad `index`")?;
                let back_pointers = s["back_pointers"]
                    .as_array()
                    .ok_or("DAL cell: `back_pointers` is not a list")?
                    .iter()
                    .map(|h| {
                        h.as_str()
                            .and_then(|h| DalSkipListHash::from_b58check(h).ok())
                            .ok_or_else(|| format!("DAL cell: bad back pointer {h}"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Self {
                    index,
                    content: DalCellContent::from_json(&s["content"])?,
                    back_pointers,
                })
            }
            _ => Err(format!("DAL cell: unknown kind in {v}")),
        }
    }
}

impl BinEncode for DalCellContent {
    /// `Content_v2.encoding`, binary (`uint8` tag; `Header.encoding` is a union whose `v0`
    /// case has tag 0: level, index, commitment).
    fn bin_write(&self, w: &mut Writer) {
        match self {
            Self::Unpublished {
                published_level,
                index,
                attestation_lag,
            } => {
                match attestation_lag {
                    AttestationLag::Legacy => w.u8(2),
                    AttestationLag::Dynamic(l) => {
                        w.u8(4);
                        w.u8(*l);
                    }
                }
                published_level.bin_write(w);
                w.u8(*index);
            }
            Self::Published {
                published_level,
                index,
                commitment,
                publisher,
                is_proto_attested,
                attested_shards,
                total_shards,
                attestation_lag,
            } => {
                w.u8(match attestation_lag {
                    AttestationLag::Legacy => 3,
                    AttestationLag::Dynamic(_) => 5,
                });
                publisher.bin_write(w);
                w.bool(*is_proto_attested);
                w.u16(*attested_shards);
                w.u16(*total_shards);
                if let AttestationLag::Dynamic(l) = attestation_lag {
                    w.u8(*l);
                }
                w.u8(0);
                published_level.bin_write(w);
                w.u8(*index);
                commitment.bin_write(w);
            }
        }
    }
}

impl BinDecode for DalCellContent {
    /// Reads [`Self::bin_write`]'s bytes.
    ///
    /// # Errors
    /// A bad tag, header version or truncated bytes.
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let tag = r.u8()?;
        match tag {
            2 | 4 => {
                let attestation_lag = if tag == 4 {
                    AttestationLag::Dynamic(r.u8()?)
                } else {
                    AttestationLag::Legacy
                };
                Ok(Self::Unpublished {
                    published_level: Level::bin_read(r)?,
                    index: r.u8()?,
                    attestation_lag,
                })
            }
            3 | 5 => {
                let publisher = Contract::bin_read(r)?;
                let is_proto_attested = r.bool()?;
                let attested_shards = r.u16()?;
                let total_shards = r.u16()?;
                let attestation_lag = if tag == 5 {
                    AttestationLag::Dynamic(r.u8()?)
                } else {
                    AttestationLag::Legacy
                };
                if r.u8()? != 0 {
                    return Err(r.invalid("DAL slot header version"));
                }
                Ok(Self::Published {
                    published_level: Level::bin_read(r)?,
                    index: r.u8()?,
                    commitment: DalCommitment::bin_read(r)?,
                    publisher,
                    is_proto_attested,
                    attested_shards,
                    total_shards,
                    attestation_lag,
                })
            }
            _ => Err(r.invalid(format!("DAL cell content tag {tag}"))),
        }
    }
}

impl BinEncode for DalCell {
    /// `History.encoding`, binary: tag 1 ‖ `n` index ‖ content ‖ back pointers (dynamic
    /// list).
    fn bin_write(&self, w: &mut Writer) {
        w.u8(1);
        w.n_u64(self.index);
        self.content.bin_write(w);
        w.dyn_list(&self.back_pointers, |w, h| h.bin_write(w));
    }
}

impl BinDecode for DalCell {
    /// Reads a history cell; the legacy case (tag 0, 57 bytes) is the genesis cell.
    ///
    /// # Errors
    /// Malformed bytes.
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        match r.u8()? {
            0 => {
                r.bytes(LEGACY_HISTORY_SIZE)?;
                Ok(Self::genesis())
            }
            1 => Ok(Self {
                index: r.n_u64()?,
                content: DalCellContent::bin_read(r)?,
                back_pointers: r.dyn_list(DalSkipListHash::bin_read)?,
            }),
            t => Err(r.invalid(format!("DAL history tag {t}"))),
        }
    }
}

/// `index - index mod 4^i - 1` (`None` below 0 or on overflow): the index back pointer `i` of
/// the cell of index `index` leads to.
#[must_use]
pub fn pointed_index(index: u64, i: usize) -> Option<u64> {
    let power = BASIS.checked_pow(u32::try_from(i).ok()?)?;
    let rem = index.checked_rem(power)?;
    index.checked_sub(rem)?.checked_sub(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lvl(l: i32) -> Level {
        Level::new(l).unwrap()
    }

    fn unpublished(level: i32, index: u8) -> DalCellContent {
        DalCellContent::Unpublished {
            published_level: lvl(level),
            index,
            attestation_lag: AttestationLag::Dynamic(0),
        }
    }

    fn published(level: i32, index: u8) -> DalCellContent {
        DalCellContent::Published {
            published_level: lvl(level),
            index,
            commitment: DalCommitment([0xaa; 48]),
            publisher: Contract::from_b58check("tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx").unwrap(),
            is_proto_attested: true,
            attested_shards: 512,
            total_shards: 512,
            attestation_lag: AttestationLag::Dynamic(2),
        }
    }

    /// Cells 0 to `n`, one unpublished slot each, every other one published.
    fn skip_list(n: u8) -> Vec<DalCell> {
        let mut cells = vec![DalCell {
            index: 0,
            content: unpublished(1, 0),
            back_pointers: vec![],
        }];
        for i in 1..=n {
            let c = if i % 2 == 0 {
                published(i32::from(i), 1)
            } else {
                unpublished(i32::from(i), 0)
            };
            let next = cells.last().unwrap().next(c).unwrap();
            cells.push(next);
        }
        cells
    }

    /// Back pointers follow `Skip_list.next` with basis 4: cell n has ⌊log4 n⌋ + 1 pointers,
    /// pointer 0 is always the previous cell, pointer i the previous one's when 4^i ∤ n; a
    /// pointer leads to `index - index mod 4^i - 1`.
    #[test]
    fn back_pointers() {
        let cells = skip_list(20);
        let h = |i: usize| cells[i].hash();
        assert_eq!(cells[1].back_pointers, vec![h(0)]);
        assert_eq!(cells[3].back_pointers, vec![h(2)]);
        assert_eq!(cells[4].back_pointers, vec![h(3), h(3)]);
        assert_eq!(cells[5].back_pointers, vec![h(4), h(3)]);
        assert_eq!(cells[8].back_pointers, vec![h(7), h(7)]);
        assert_eq!(cells[16].back_pointers, vec![h(15), h(15), h(15)]);
        assert_eq!(cells[17].back_pointers, vec![h(16), h(15), h(15)]);
        assert_eq!(cells[20].back_pointers, vec![h(19), h(19), h(15)]);
        assert_eq!(cells[20].pointed_index(1), Some(19));
        assert_eq!(cells[20].pointed_index(2), Some(15));
        assert_eq!(pointed_index(0, 0), None);
        assert_eq!(next_back_pointers(u64::MAX, h(0), &[]), None);
    }

    /// Content and history bytes (`Content_v2.encoding`, `History.encoding`), hash, JSON.
    #[test]
    fn cell_encodings() {
        assert_eq!(hex::encode(unpublished(7, 3).to_bin()), "04000000000703");
        assert_eq!(
            hex::encode(DalCell::genesis().to_bin()),
            "01000200000000".to_owned() + "0000000000"
        );
        // tag ‖ contract (implicit, tz1) ‖ attested ‖ shards ‖ total ‖ lag ‖ header v0 ‖
        // level ‖ index ‖ commitment.
        let b = published(5, 1).to_bin();
        assert_eq!(
            hex::encode(&b[..35]),
            "050000\
             02298c03ed7d454a101eb7022bc95f7e5f41ac78ff0200020002000000000501"
        );
        assert_eq!(&b[35..], &[0xaa; 48]);
        let cells = skip_list(12);
        for c in &cells {
            assert_eq!(DalCell::from_bin(&c.to_bin()).as_ref(), Ok(c));
            assert_eq!(DalCell::from_json(&c.to_json()).as_ref(), Ok(c));
        }
        let c = &cells[6];
        let mut pre = c.content.to_bin();
        for h in &c.back_pointers {
            pre.extend(h.0);
        }
        assert_eq!(c.hash(), DalSkipListHash::hash_bytes(&pre));
        assert!(c.hash().to_b58check().starts_with("dask1"));
        let leg = json!({"kind": "dal_skip_list_legacy", "skip_list": "00"});
        assert_eq!(DalCell::from_json(&leg), Ok(DalCell::genesis()));
        let mut bytes = vec![0u8];
        bytes.extend([0u8; LEGACY_HISTORY_SIZE]);
        assert_eq!(DalCell::from_bin(&bytes), Ok(DalCell::genesis()));
        assert!(DalCell::from_bin(&[7]).is_err());
        assert!(DalCell::from_json(&json!({"kind": "x"})).is_err());
    }
}
