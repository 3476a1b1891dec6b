//! Tezos types and encodings shared by the node, the sandbox, the client and the signer.
//!
//! Pure: no I/O, no clock, no async. Formats follow docs/reference/l1-and-signer.md
//! (§0 binary encoding, §2 operations, §3 inbox, §4 base58 prefixes) and wasm-pvm.md §4.1.
//!
//! Modules:
//! * [`b58`]: base58check and every prefix; [`hash`]: typed hashes/addresses (`BlockHash`,
//!   `SmartRollupAddress`, `PublicKeyHash`, `Contract`, ...).
//! * [`encoding`]: `Data_encoding` binary reader/writer, JSON conventions, [`encoding::Mutez`],
//!   [`encoding::Timestamp`].
//! * [`micheline`]: Micheline binary/JSON/text with the Michelson primitive table.
//! * [`inbox`]: inbox messages, message/level-witness/inbox hashes.
//! * [`keys`]: public/secret keys, signatures, watermarks, `unencrypted:` URIs.
//! * [`operation`]: manager operations (reveal, transaction, smart rollup ops), signing, hash,
//!   commitments.
//! * [`outbox`]: outbox messages (transaction batches, whitelist updates).
//! * [`quantity`]: [`Level`] and [`Tick`], with checked arithmetic.
//! * [`dal`]: DAL skip-list cells (content, encodings, hash, back pointers).

pub mod b58;
pub mod dal;
pub mod encoding;
pub mod hash;
pub mod inbox;
pub mod keys;
pub mod micheline;
pub mod operation;
pub mod outbox;
pub mod quantity;
pub mod reveal;

pub use b58::B58Error;
pub use encoding::{
    BinDecode, BinEncode, DecodeError, DecodeErrorKind, Mutez, Reader, Timestamp, Writer,
};
pub use hash::{
    BlockHash, BlockPayloadHash, ChainId, CommitmentHash, ContextHash, Contract, ContractHash,
    DalCommitment, DalSkipListHash, Destination, InboxHash, InboxMessageHash, InjectorOperationId,
    L2MessageId, MerkelizedPayloadHashesHash, OperationHash, OperationListHash,
    OperationListListHash, ProtocolHash, PublicKeyHash, RevealHash, ScriptExprHash,
    SmartRollupAddress, SmartRollupContextHash, StateHash,
};
pub use inbox::{InboxMessage, InternalMessage};
pub use keys::{Curve, KeyError, PublicKey, SecretKey, Signature, Watermark};
pub use micheline::{BinMicheline, Micheline, Prim};
pub use operation::{
    Commitment, ManagerOperation, OperationContent, SignedOperation, UnsignedOperation,
};
pub use outbox::OutboxMessage;
pub use quantity::{Level, Tick};
