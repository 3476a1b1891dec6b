//! `smart-rollup-sandbox`: a local Tezos L1 for smart rollups.
//!
//! `smart-rollup-sandbox run --data-dir D --rpc-addr 127.0.0.1:PORT [--block-time S]
//! [--constants FILE] [--test-constants] [--commitment-period N] [--challenge-window N]
//! [--stake-amount MUTEZ] [--dal] [--dal-unattested-slots I,J]` (block time 0: bake only on
//! `POST /sandbox/bake`).
//!
//! Pure core: [`state`] (accounts, bridge, rollups, commitments, stakes, inbox; operation
//! validation and application), [`chain`] (blocks, mempool, baking, reorgs), [`block`]
//! (header encoding and hash), [`ops`] (operations over `tezos_types::operation`),
//! [`refutation`] (refutation games). I/O shell:
//! [`journal`] (append-only chain journal) and [`server`] (RPC server and block timer).
//!
//! Chain: genesis `BLockGenesis…` (chain id `NetXdQprcVkpaWU`), protocol activation at level 1
//! (bootstrap1..5 funded, genesis rollup inbox), Ushuaia (`PsUshuai…`) blocks from level 2,
//! baked and signed by bootstrap1. A built-in bridge contract (`KT1…`, see `/sandbox/info`)
//! turns a `deposit` call into an internal transfer to a rollup (Etherlink deposit shape).
//!
//! `smart_rollup_execute_outbox_message` verifies the output proof against a cemented
//! commitment and applies the message once (`state`). [`refutation`] adjudicates refutation
//! games (`smart_rollup_refute`, `smart_rollup_timeout`; rules from the `refutation-game`
//! crate, final moves verified with `pvm-tick`) and answers `…/staker/<pkh>/games`,
//! `…/conflicts`, `…/staker1/<a>/staker2/<b>/timeout` and `…/timeout_reached`.
//!
//! The DAL ([`dal`], off by default): `dal_publish_commitment` from any implicit account, the
//! skip-list cells of each block (`…/context/dal/skip_list_cells_of_level`), the
//! `Dal_attested_slots` inbox messages, and a DAL node on the same port (`POST /slots`,
//! `GET /levels/<l>/slots/<i>/pages`, `…/pages/<p>/proof`, and the skip-list cells by hash,
//! `GET /plugin/<protocol>/commitments_history/hash/<h>`), with KZG commitments and proofs
//! (`dal-crypto`, Octez's test SRS).
//!
//! References: docs/reference/l1-and-signer.md (§1 RPCs, §2 operations, §3 inbox) and
//! octez-rollup-node.md §6 (commitments, stakes, cementation).

pub mod accounts;
pub mod block;
pub mod chain;
pub mod constants;
pub mod dal;
pub mod journal;
pub mod ops;
pub mod refutation;
pub mod server;
pub mod state;
