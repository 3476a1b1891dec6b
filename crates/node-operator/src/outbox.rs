//! Automatic outbox execution (docs/reference/octez-rollup-node.md §6.3; Octez
//! `outbox_execution.ml`): in modes with an `executing_outbox` key, at each L1 head, every
//! pending executable message (outbox level in `(LCC - max_active_outbox_levels, LCC]`, not
//! executed yet on L1) that is a transaction batch accepted by `execute-outbox-messages-filter`
//! is executed: its output proof is built from the LCC state and
//! `execute_outbox_message {rollup, cemented_commitment = LCC, proof}` queued in the injector.
//! A message is not queued again while its execution is in flight. On a private rollup, after
//! each cementation, the latest pending executable whitelist update is executed the same way
//! (whitelist updates never go through the filter).
//!
//! The choice of messages ([`to_execute`]) is pure; [`OutboxExecutor::on_head`] is the shell
//! reading the store, the context and the L1.

use std::collections::HashMap;

use injector::InjectorOpHash;
use l1_operation::{L1Operation, OperationKind};
use node_config::outbox_filter::{OutboxMessageFilter, batch_accepted};
use node_config::{Config, ConfigParseError, Purpose};
use node_follower::follower::{FollowError, Processor};
use tezos_types::outbox::OutboxMessage;
use tezos_types::{BinDecode, CommitmentHash, Level};

use crate::operator::OperationSink;

/// A pending message: `(outbox level, message index)`.
pub type MessageId = (Level, u32);

/// Whether `m` is a transaction batch accepted by `filters` (Octez
/// `outbox_message_match_filter`, `List.exists` over the filters).
pub fn accepted(filters: &[OutboxMessageFilter], m: &OutboxMessage) -> bool {
    match m {
        OutboxMessage::AtomicTransactionBatch { transactions }
        | OutboxMessage::AtomicTransactionBatchTyped { transactions } => {
            let txs: Vec<(String, &str)> = transactions
                .iter()
                .map(|t| (t.destination.to_b58check(), t.entrypoint.as_str()))
                .collect();
            let refs: Vec<(&str, &str)> = txs.iter().map(|(d, e)| (d.as_str(), *e)).collect();
            batch_accepted(filters, &refs)
        }
        OutboxMessage::WhitelistUpdate { .. } | OutboxMessage::CanonicalRollupSignal { .. } => {
            false
        }
    }
}

/// The messages to execute now, in order: of the pending executable `messages` (each with its
/// decoded content, `None` when it does not decode), those accepted by `filters`, then, when
/// `whitelist_update` is set, the latest whitelist update; messages `in_flight` are left out.
pub fn to_execute(
    filters: &[OutboxMessageFilter],
    messages: &[(MessageId, Option<OutboxMessage>)],
    whitelist_update: bool,
    in_flight: impl Fn(&MessageId) -> bool,
) -> Vec<MessageId> {
    let mut out: Vec<MessageId> = messages
        .iter()
        .filter(|(_, m)| m.as_ref().is_some_and(|m| accepted(filters, m)))
        .map(|(id, _)| *id)
        .collect();
    if whitelist_update
        && let Some(id) = messages
            .iter()
            .filter(|(_, m)| matches!(m, Some(OutboxMessage::WhitelistUpdate { .. })))
            .map(|(id, _)| *id)
            .max()
    {
        out.push(id);
    }
    out.retain(|id| !in_flight(id));
    out
}

/// The automatic executor of one node.
pub struct OutboxExecutor {
    filters: Vec<OutboxMessageFilter>,
    /// `smart_rollup_max_active_outbox_levels`, read from L1 once.
    max_active: Option<i32>,
    /// Executions queued and not yet seen executed: their injector id when the sink gives
    /// one.
    in_flight: HashMap<MessageId, Option<InjectorOpHash>>,
    /// A cementation was seen and the whitelist update search has not run since (kept across
    /// a failed head).
    whitelist_due: bool,
}

impl OutboxExecutor {
    /// The executor of a node configured by `config`: `None` when the mode does not execute
    /// outbox messages or no `executing_outbox` key is set.
    ///
    /// # Errors
    /// A malformed `execute-outbox-messages-filter`.
    pub fn from_config(config: &Config) -> Result<Option<Self>, ConfigParseError> {
        if !config.mode.can_inject(OperationKind::ExecuteOutboxMessage)
            || config.operator(Purpose::ExecutingOutbox).is_none()
        {
            return Ok(None);
        }
        Ok(Some(Self::new(config.outbox_filters()?)))
    }

    /// An executor with these filters (empty: whitelist updates only).
    pub fn new(filters: Vec<OutboxMessageFilter>) -> Self {
        Self {
            filters,
            max_active: None,
            in_flight: HashMap::new(),
            whitelist_due: false,
        }
    }

    fn max_active(&mut self, p: &Processor) -> Result<i32, FollowError> {
        if let Some(m) = self.max_active {
            return Ok(m);
        }
        let c = p.l1.call(p.l1.client.constants("main", "head"))?;
        self.max_active = Some(c.smart_rollup_max_active_outbox_levels);
        Ok(c.smart_rollup_max_active_outbox_levels)
    }

    /// Per head (`cemented`: a cementation was seen since the last head): queue the
    /// executions of [`to_execute`] through `sink`.
    ///
    /// # Errors
    /// Store, context, L1 or sink failures (retried at the next head). A message whose
    /// proof cannot be built is logged and skipped, as Octez does.
    pub fn on_head<S: OperationSink>(
        &mut self,
        p: &Processor,
        sink: &mut S,
        cemented: bool,
    ) -> Result<(), FollowError> {
        self.whitelist_due |= cemented;
        if self.filters.is_empty() && !self.whitelist_due && self.in_flight.is_empty() {
            return Ok(());
        }
        let Some((lcc, lcc_level)) = p.store.lcc()? else {
            return Ok(());
        };
        let max_active = self.max_active(p)?;
        // `lcc − max_active + 1`, from level 0 when the rollup is younger than that.
        let min = u32::try_from(max_active)
            .ok()
            .and_then(|n| lcc_level.checked_sub(n))
            .map_or(Level::ZERO, |l| l.saturating_add(1));
        let pending = p.store.pending_outbox_messages(min, lcc_level)?;
        // Executions seen executed (or lost) are no longer in flight; those the injector
        // forgot (failed) may be queued again.
        self.in_flight.retain(|id, op| {
            pending
                .iter()
                .any(|(l, ix)| *l == id.0 && ix.contains(&id.1))
                && op.as_ref().is_none_or(|op| sink.knows(op))
        });
        if pending.is_empty() {
            self.whitelist_due = false;
            return Ok(());
        }
        // Whitelist updates only exist on private rollups (a whitelist on L1).
        let whitelist_update =
            self.whitelist_due && crate::startup::whitelist(&p.l1, &p.rollup.address)?.is_some();
        if self.filters.is_empty() && !whitelist_update {
            self.whitelist_due = false;
            return Ok(());
        }
        let block = p.store.block_by_level(lcc_level)?.ok_or_else(|| {
            FollowError::Inconsistent(format!("no L2 block at the LCC level {lcc_level}"))
        })?;
        let state = p.ctx.state_of(&block)?;
        let mut messages = Vec::new();
        for (level, indexes) in &pending {
            let outbox = state.outbox(level.to_u32()).unwrap_or_default();
            for i in indexes {
                let m = usize::try_from(*i)
                    .ok()
                    .and_then(|i| outbox.get(i))
                    .and_then(|b| OutboxMessage::from_bin(b).ok());
                messages.push(((*level, *i), m));
            }
        }
        let chosen = to_execute(&self.filters, &messages, whitelist_update, |id| {
            self.in_flight.contains_key(id)
        });
        if chosen.is_empty() {
            self.whitelist_due = false;
            return Ok(());
        }
        let tree = p.ctx.state_tree(&block)?;
        for (level, index) in chosen {
            let proof = wasm_pvm::output_proof::produce_output_proof(
                &tree,
                level.to_u32(),
                u64::from(index),
            )
            .map_err(|e| e.to_string());
            let proof = match proof {
                Ok(proof) => proof,
                Err(e) => {
                    tracing::warn!(
                        "Outbox message {index} of level {level} cannot be executed: {e}"
                    );
                    continue;
                }
            };
            tracing::info!(
                "Executing outbox message {index} of level {level} (cemented commitment {lcc})"
            );
            let id = sink.add_tracked(execute(p, lcc, proof))?;
            self.in_flight.insert((level, index), id);
        }
        self.whitelist_due = false;
        Ok(())
    }
}

fn execute(p: &Processor, lcc: CommitmentHash, output_proof: Vec<u8>) -> L1Operation {
    L1Operation::ExecuteOutboxMessage {
        rollup: p.rollup.address,
        cemented_commitment: lcc,
        output_proof,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tezos_types::outbox::OutboxTransaction;

    const ECHO: &str = "KT1Ed7YAp53vtm5voz2FDGtSomt3gNXv1aPL";
    const OTHER: &str = "KT1RJ6PbjHpwc3M5rw5s2Nbmefwbuwbdxton";

    fn tx(dest: &str, entrypoint: &str) -> OutboxTransaction {
        serde_json::from_value(json!({
            "parameters": {"bytes": "00"},
            "destination": dest,
            "entrypoint": entrypoint,
        }))
        .unwrap()
    }

    fn batch(txs: Vec<OutboxTransaction>) -> Option<OutboxMessage> {
        Some(OutboxMessage::AtomicTransactionBatch { transactions: txs })
    }

    fn filter(v: serde_json::Value) -> Vec<OutboxMessageFilter> {
        vec![OutboxMessageFilter::parse(&v).unwrap()]
    }

    #[test]
    fn only_accepted_batches_and_the_latest_whitelist_update_are_executed() {
        let id = |l: u8| Level::from(l);
        let echo = filter(json!({"transaction": {"destination": [ECHO], "entrypoint": "any"}}));
        let wl = Some(OutboxMessage::WhitelistUpdate { whitelist: None });
        let messages = vec![
            ((id(10), 0), batch(vec![tx(ECHO, "default")])),
            (
                (id(10), 1),
                batch(vec![tx(ECHO, "default"), tx(OTHER, "default")]),
            ),
            ((id(11), 0), wl.clone()),
            ((id(12), 0), None),
            ((id(12), 1), wl),
            ((id(13), 0), batch(vec![tx(ECHO, "mint")])),
        ];
        assert_eq!(
            to_execute(&echo, &messages, false, |_| false),
            vec![(id(10), 0), (id(13), 0)]
        );
        assert_eq!(
            to_execute(&echo, &messages, true, |_| false),
            vec![(id(10), 0), (id(13), 0), (id(12), 1)]
        );
        // In flight: not queued twice.
        assert_eq!(
            to_execute(&echo, &messages, true, |m| *m == (id(10), 0)),
            vec![(id(13), 0), (id(12), 1)]
        );
        // No filter: nothing but whitelist updates.
        assert_eq!(to_execute(&[], &messages, false, |_| false), vec![]);
        assert_eq!(
            to_execute(&[], &messages, true, |_| false),
            vec![(id(12), 1)]
        );
        let default_only =
            filter(json!({"transaction": {"destination": "any", "entrypoint": ["default"]}}));
        assert_eq!(
            to_execute(&default_only, &messages, false, |_| false),
            vec![(id(10), 0), (id(10), 1)]
        );
    }
}
