//! Pure model of what a smart rollup node reads from Tezos L1.
//!
//! No I/O, no clock, no async: the `l1-client` crate fetches JSON, this crate gives it types and
//! derives everything the node computes from it (reference: l1-and-signer.md §1.2–§1.3, §2.11,
//! §3; octez-rollup-node.md §5.2, §6.1).
//!
//! * [`block`]: block headers (monitor/shell JSON) and full blocks with `?metadata=always`
//!   receipts, reduced to the manager operations and results the node needs.
//! * [`level`]: the rollup inbox messages of one L1 level, in protocol order.
//! * [`reorg`]: common ancestor and blocks to (re)process when a new head arrives.
//! * [`protocols`]: `Protocol_migration` version strings and first-block detection.
//! * [`commitment`]: commitment-period and finality arithmetic (checked).
//! * [`dal`]: DAL skip-list cells and the `Dal_attested_slots` inbox messages built from them
//!   (docs/reference/dal.md).

// Levels and counters come from L1 and the store: no silent wrap (review §2 item 2).
#![deny(clippy::arithmetic_side_effects, clippy::cast_possible_wrap)]

pub mod block;
pub mod commitment;
pub mod dal;
pub mod level;
pub mod protocols;
pub mod reorg;

pub use block::{
    Block, BlockError, BlockHeader, Content, Destination, InternalResult, InternalResultBody,
    ManagerBody, ManagerContent, Operation, OperationStatus, RollupResult, ShellHeader,
    TxParameters,
};
pub use commitment::{
    BLOCK_FINALITY_TIME, commitment_period_bounds, finalized_level, first_inbox_level,
    is_commitment_level, next_commitment_level,
};
pub use level::{
    InboxError, block_messages, next_inbox, rollup_inbox_of_level, rollup_inbox_of_level_with_dal,
};
pub use protocols::{is_first_block, migration_message, protocol_version};
pub use reorg::{
    ChainBlock, ChainUpdate, ReorgError, UpdateKind, ancestry_fetch_length, plan_update,
};
