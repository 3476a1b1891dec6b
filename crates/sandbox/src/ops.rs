//! Operations as the sandbox handles them: `tezos_types::operation` contents with an optional
//! signature (simulation RPCs take unsigned operations).
//!
//! The binary and JSON codecs are those of `tezos-types` (l1-and-signer.md §2). Kinds applied
//! by [`crate::state`]: reveal, transaction, smart rollup originate / add_messages / publish /
//! cement / recover_bond / execute_outbox_message, refute / timeout (`crate::refutation`),
//! dal_publish_commitment (with the DAL on, `crate::dal`).

use serde_json::{Map, Value, json};
use tezos_types::{BinDecode, BinEncode, BlockHash, OperationHash, Signature};

pub use tezos_types::operation::{
    Commitment, ManagerOperation, OperationContent, Parameters, PvmKind, SignedOperation,
    UnsignedOperation,
};

/// A parse failure of an operation (binary or JSON).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// JSON name of a PVM kind.
pub fn pvm_kind_name(k: PvmKind) -> &'static str {
    match k {
        PvmKind::Arith => "arith",
        PvmKind::Wasm => "wasm_2_0_0",
        PvmKind::Riscv => "riscv",
    }
}

/// JSON `kind` of a content.
pub fn kind_name(c: &OperationContent) -> &'static str {
    match c {
        OperationContent::Reveal { .. } => "reveal",
        OperationContent::Transaction { .. } => "transaction",
        OperationContent::SmartRollupOriginate { .. } => "smart_rollup_originate",
        OperationContent::SmartRollupAddMessages { .. } => "smart_rollup_add_messages",
        OperationContent::SmartRollupCement { .. } => "smart_rollup_cement",
        OperationContent::SmartRollupPublish { .. } => "smart_rollup_publish",
        OperationContent::SmartRollupRefute { .. } => "smart_rollup_refute",
        OperationContent::SmartRollupTimeout { .. } => "smart_rollup_timeout",
        OperationContent::SmartRollupExecuteOutboxMessage { .. } => {
            "smart_rollup_execute_outbox_message"
        }
        OperationContent::SmartRollupRecoverBond { .. } => "smart_rollup_recover_bond",
        OperationContent::DalPublishCommitment { .. } => "dal_publish_commitment",
    }
}

/// An operation: branch, manager contents and (optional) signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// Branch block.
    pub branch: BlockHash,
    /// Contents (a batch from one source).
    pub contents: Vec<ManagerOperation>,
    /// Signature (absent for simulation).
    pub signature: Option<Signature>,
}

impl From<SignedOperation> for Operation {
    fn from(s: SignedOperation) -> Self {
        Self {
            branch: s.branch,
            contents: s.contents,
            signature: Some(s.signature),
        }
    }
}

impl Operation {
    fn unsigned(&self) -> UnsignedOperation {
        UnsignedOperation {
            branch: self.branch,
            contents: self.contents.clone(),
        }
    }

    /// Unsigned bytes: branch ‖ contents (§2.1).
    pub fn unsigned_bytes(&self) -> Vec<u8> {
        self.unsigned().to_bin()
    }

    /// Signed bytes; an absent signature is written as 64 zero bytes (binary simulation
    /// convention, §1.8).
    pub fn signed_bytes(&self) -> Vec<u8> {
        self.unsigned()
            .with_signature(self.signature.unwrap_or(Signature::ZERO))
            .to_bin()
    }

    /// Operation hash: Blake2b-256 of the signed bytes.
    pub fn hash(&self) -> OperationHash {
        OperationHash::hash_bytes(&self.signed_bytes())
    }

    /// Parses signed bytes (the `/injection/operation` body).
    pub fn from_signed_bytes(bytes: &[u8]) -> Result<Self, ParseError> {
        SignedOperation::from_bin(bytes)
            .map(Self::from)
            .map_err(|e| ParseError(e.to_string()))
    }

    /// Parses `{"branch","contents",["signature"]}` (other fields are ignored).
    pub fn from_json(v: &Value) -> Result<Self, ParseError> {
        let u: UnsignedOperation = serde_json::from_value(json!({
            "branch": v.get("branch").cloned().unwrap_or(Value::Null),
            "contents": v.get("contents").cloned().unwrap_or(Value::Null),
        }))
        .map_err(|e| ParseError(e.to_string()))?;
        if u.contents.is_empty() {
            return Err(ParseError("operation without contents".into()));
        }
        let signature = match v.get("signature") {
            None | Some(Value::Null) => None,
            Some(s) => {
                Some(serde_json::from_value(s.clone()).map_err(|e| ParseError(e.to_string()))?)
            }
        };
        Ok(Self {
            branch: u.branch,
            contents: u.contents,
            signature,
        })
    }

    /// `{"branch","contents",["signature"]}` (contents without receipts).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("branch".into(), json!(self.branch.to_b58check()));
        m.insert(
            "contents".into(),
            Value::Array(self.contents.iter().map(content_json).collect()),
        );
        if let Some(s) = &self.signature {
            m.insert("signature".into(), json!(s.to_b58check()));
        }
        Value::Object(m)
    }
}

/// JSON of one content (no metadata).
pub fn content_json(c: &ManagerOperation) -> Value {
    serde_json::to_value(c).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADD_MESSAGES_UNSIGNED: &str = "8fcf233671b6a04fcf679d2a381c2544ea6c1ea29ba6157776ed8424c7ccd00bc90002298c03ed7d454a101eb7022bc95f7e5f41ac78910301cc08000000000f0000000548656c6c6f0000000200ff";
    const ADD_MESSAGES_SIG: &str = "60f8bdad293726c1e226494a6d4081009cdbb3599fe0b0dcbbd7412bfa758621b726ff43b9781843f3393c0f9c3eb4f02bb3b4a00cc9ace806011f9ac1c25709";

    #[test]
    fn add_messages_vector_roundtrips() {
        // l1-and-signer.md §2.4 (verified with Taquito).
        let bytes = hex::decode(format!("{ADD_MESSAGES_UNSIGNED}{ADD_MESSAGES_SIG}")).unwrap();
        let op = Operation::from_signed_bytes(&bytes).unwrap();
        assert_eq!(hex::encode(op.unsigned_bytes()), ADD_MESSAGES_UNSIGNED);
        assert_eq!(op.signed_bytes(), bytes);
        assert_eq!(
            op.hash().to_b58check(),
            "opJo4KX3M63eEvm6QGdZNA2t26LYHsd3kDTFjfKtUUibMKc4Lev"
        );
        let j = op.to_json();
        assert_eq!(j["contents"][0]["kind"], "smart_rollup_add_messages");
        assert_eq!(j["contents"][0]["message"], json!(["48656c6c6f", "00ff"]));
        assert_eq!(j["contents"][0]["fee"], "401");
        assert_eq!(Operation::from_json(&j).unwrap(), op);
        // Unsigned JSON (simulation) hashes with a zero signature.
        let mut u = op;
        u.signature = None;
        let ju = u.to_json();
        assert!(ju.get("signature").is_none());
        assert_eq!(Operation::from_json(&ju).unwrap(), u);
        assert_eq!(u.signed_bytes().len(), bytes.len());
    }

    #[test]
    fn malformed_bytes_are_errors() {
        assert!(Operation::from_signed_bytes(&[1, 2, 3]).is_err());
        let mut b = hex::decode(format!("{ADD_MESSAGES_UNSIGNED}{ADD_MESSAGES_SIG}")).unwrap();
        b[32] = 0x99;
        assert!(Operation::from_signed_bytes(&b).is_err());
        assert!(Operation::from_json(&json!({"branch": "x", "contents": []})).is_err());
    }
}
