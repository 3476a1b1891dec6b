//! Smart rollup outbox messages (`sc_rollup_outbox_message_repr.ml`; wasm-pvm.md §4.2).
//!
//! Binary: union tag `00` atomic transaction batch (dynamic list of `parameters` Micheline ‖
//! destination (`01` ‖ KT1 20 bytes ‖ `00`) ‖ entrypoint (dynamic string)), `01` typed batch
//! (adds `parameters_ty` after `parameters`), `02` whitelist update (`opt` dynamic list of
//! pkhs), `03` canonical rollup signal (dynamic bytes, U025+). Whole message ≤ 4096 bytes.
//!
//! JSON: `{"transactions":[{"parameters":…,"destination":"KT1…","entrypoint":"…"}],
//! "kind":"untyped"}` (`"typed"` adds `parameters_ty`), `{"whitelist":[…],
//! "kind":"whitelist_update"}`; the `entrypoint` is omitted when `default`.

use crate::encoding::{
    BinDecode, BinEncode, DecodeError, DecodeErrorKind, DecodeResult, Reader, Writer,
};
use crate::hash::{ContractHash, PublicKeyHash};
use crate::micheline::BinMicheline;
use serde::{Deserialize, Serialize};

/// Maximum size of a serialized outbox message.
pub const MAX_OUTBOX_MESSAGE_SIZE: usize = 4096;

fn default_entrypoint() -> String {
    "default".into()
}

fn is_default(e: &str) -> bool {
    e == "default"
}

/// An outbox transaction (typed if `parameters_ty` is present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxTransaction {
    /// The argument.
    pub parameters: BinMicheline,
    /// Its type (typed batches only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters_ty: Option<BinMicheline>,
    /// Destination contract.
    pub destination: ContractHash,
    /// Entrypoint.
    #[serde(default = "default_entrypoint", skip_serializing_if = "is_default")]
    pub entrypoint: String,
}

/// An outbox message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum OutboxMessage {
    /// Tag 0.
    #[serde(rename = "untyped")]
    AtomicTransactionBatch {
        /// Transactions (`parameters_ty` must be `None`).
        transactions: Vec<OutboxTransaction>,
    },
    /// Tag 1.
    #[serde(rename = "typed")]
    AtomicTransactionBatchTyped {
        /// Transactions (`parameters_ty` must be `Some`).
        transactions: Vec<OutboxTransaction>,
    },
    /// Tag 2.
    #[serde(rename = "whitelist_update")]
    WhitelistUpdate {
        /// New whitelist, `None` to make the rollup public.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        whitelist: Option<Vec<PublicKeyHash>>,
    },
    /// Tag 3 (U025+): opaque payload.
    #[serde(rename = "canonical_rollup_signal")]
    CanonicalRollupSignal {
        /// Payload.
        #[serde(with = "crate::encoding::json::hex_bytes")]
        payload: Vec<u8>,
    },
}

fn write_tx(w: &mut Writer, t: &OutboxTransaction, typed: bool) {
    t.parameters.bin_write(w);
    if typed {
        match &t.parameters_ty {
            Some(ty) => ty.bin_write(w),
            // An untyped transaction in a typed batch: `unit` keeps the encoding total.
            None => w.bytes(&[3, 0x6c]),
        }
    }
    w.u8(1);
    t.destination.bin_write(w);
    w.u8(0);
    w.dyn_bytes(t.entrypoint.as_bytes());
}

fn read_tx(r: &mut Reader<'_>, typed: bool) -> DecodeResult<OutboxTransaction> {
    let parameters = BinMicheline::bin_read(r)?;
    let parameters_ty = if typed {
        Some(BinMicheline::bin_read(r)?)
    } else {
        None
    };
    let at = r.position();
    let t = r.u8()?;
    if t != 1 {
        return Err(DecodeError {
            offset: at,
            kind: DecodeErrorKind::InvalidTag {
                what: "originated contract",
                tag: t.into(),
            },
        });
    }
    let destination = ContractHash::bin_read(r)?;
    if r.u8()? != 0 {
        return Err(r.invalid("contract padding byte"));
    }
    let entrypoint = r.dyn_string()?;
    if entrypoint.len() > 31 {
        return Err(r.invalid("entrypoint longer than 31 bytes"));
    }
    Ok(OutboxTransaction {
        parameters,
        parameters_ty,
        destination,
        entrypoint,
    })
}

impl BinEncode for OutboxMessage {
    fn bin_write(&self, w: &mut Writer) {
        match self {
            Self::AtomicTransactionBatch { transactions } => {
                w.u8(0);
                w.dyn_list(transactions, |w, t| write_tx(w, t, false));
            }
            Self::AtomicTransactionBatchTyped { transactions } => {
                w.u8(1);
                w.dyn_list(transactions, |w, t| write_tx(w, t, true));
            }
            Self::WhitelistUpdate { whitelist } => {
                w.u8(2);
                w.opt_field(whitelist.as_ref(), |w, l| {
                    w.dyn_list(l, |w, p| p.bin_write(w));
                });
            }
            Self::CanonicalRollupSignal { payload } => {
                w.u8(3);
                w.dyn_bytes(payload);
            }
        }
    }
}

impl BinDecode for OutboxMessage {
    fn bin_read(r: &mut Reader<'_>) -> DecodeResult<Self> {
        let start = r.position();
        match r.u8()? {
            0 => Ok(Self::AtomicTransactionBatch {
                transactions: r.dyn_list(|r| read_tx(r, false))?,
            }),
            1 => Ok(Self::AtomicTransactionBatchTyped {
                transactions: r.dyn_list(|r| read_tx(r, true))?,
            }),
            2 => Ok(Self::WhitelistUpdate {
                whitelist: r.opt_field(|r| r.dyn_list(PublicKeyHash::bin_read))?,
            }),
            3 => Ok(Self::CanonicalRollupSignal {
                payload: r.dyn_bytes()?.to_vec(),
            }),
            t => Err(DecodeError {
                offset: start,
                kind: DecodeErrorKind::InvalidTag {
                    what: "outbox message",
                    tag: t.into(),
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::micheline::Micheline;

    #[test]
    fn untyped_batch() {
        let m = OutboxMessage::AtomicTransactionBatch {
            transactions: vec![OutboxTransaction {
                parameters: (&Micheline::unit()).into(),
                parameters_ty: None,
                destination: ContractHash([0xaa; 20]),
                entrypoint: "default".into(),
            }],
        };
        let b = m.to_bin();
        assert_eq!(
            hex::encode(&b),
            format!(
                "0000000023030b01{}000000000764656661756c74",
                "aa".repeat(20)
            )
        );
        assert_eq!(OutboxMessage::from_bin(&b).unwrap(), m);
        let j = serde_json::to_value(&m).unwrap();
        assert_eq!(j["kind"], "untyped");
        assert!(j["transactions"][0].get("entrypoint").is_none());
        assert_eq!(serde_json::from_value::<OutboxMessage>(j).unwrap(), m);
    }

    #[test]
    fn other_kinds_roundtrip() {
        for m in [
            OutboxMessage::AtomicTransactionBatchTyped {
                transactions: vec![OutboxTransaction {
                    parameters: (&Micheline::int(5)).into(),
                    parameters_ty: Some((&Micheline::prim(crate::Prim::T_NAT, vec![])).into()),
                    destination: ContractHash([1; 20]),
                    entrypoint: "mint".into(),
                }],
            },
            OutboxMessage::WhitelistUpdate { whitelist: None },
            OutboxMessage::WhitelistUpdate {
                whitelist: Some(vec![
                    "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap(),
                ]),
            },
            OutboxMessage::CanonicalRollupSignal {
                payload: vec![1, 2, 3],
            },
        ] {
            let b = m.to_bin();
            assert_eq!(OutboxMessage::from_bin(&b).unwrap(), m);
            let j = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::from_str::<OutboxMessage>(&j).unwrap(), m, "{j}");
        }
        assert_eq!(
            hex::encode(OutboxMessage::WhitelistUpdate { whitelist: None }.to_bin()),
            "0200"
        );
    }

    /// Kernel SDK `outbox.rs` test vector (whitelist of bootstrap1 and bootstrap2).
    #[test]
    fn sdk_whitelist_vector() {
        let m = OutboxMessage::WhitelistUpdate {
            whitelist: Some(vec![
                "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap(),
                "tz1gjaF81ZRRvdzjobyfVNsAeSC6PScjfQwN".parse().unwrap(),
            ]),
        };
        assert_eq!(
            hex::encode(m.to_bin()),
            "02ff0000002a0002298c03ed7d454a101eb7022bc95f7e5f41ac7800e7670f32038107a59a2b9cfefae36ea21f5aa63c"
        );
    }

    /// Kernel SDK `outbox.rs` test vector: a batch of two string-ticket transfers.
    #[test]
    fn sdk_batch_vector() {
        let h = "000000009807070a0000001601d1a37c088a1221b636bb5fccb35e05181038ba7c0007070100000003726564000101246667a931fe0bd2fb1cb604f714601e88284550000000000764656661756c7407070a0000001601246667a931fe0bd2fb1cb604f714601e88284550000707010000000679656c6c6f770089050115edad279f55e2fe4011de6d2c24fdf51bf225c50000000007616e6f74686572";
        let m = OutboxMessage::from_bin(&hex::decode(h).unwrap()).unwrap();
        let OutboxMessage::AtomicTransactionBatch { transactions } = &m else {
            panic!("{m:?}")
        };
        assert_eq!(transactions.len(), 2);
        assert_eq!(
            transactions[0].destination.to_string(),
            "KT1BuEZtb68c1Q4yjtckcNjGELqWt56Xyesc"
        );
        assert_eq!(transactions[1].entrypoint, "another");
        assert_eq!(
            transactions[1].parameters.decode().unwrap().to_string(),
            "Pair 0x01246667a931fe0bd2fb1cb604f714601e8828455000 (Pair \"yellow\" 329)"
        );
        assert_eq!(hex::encode(m.to_bin()), h);
    }

    #[test]
    fn malformed() {
        for bad in [
            &b""[..],
            &[4],
            &[0, 0, 0, 0, 1, 3],
            &[2, 1],
            &[0, 0, 0, 0, 3, 3, 0x0b, 0],
        ] {
            assert!(OutboxMessage::from_bin(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(data: Vec<u8>) {
            let _ = OutboxMessage::from_bin(&data);
        }
    }
}
