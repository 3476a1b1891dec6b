//! The DAL injection queue driven at each L1 head (docs/reference/octez-rollup-node.md §2
//! modes table, §4.3; Octez `dal_injection_queue.ml` `on_produce_dal_slots`, `inject_slot`):
//! the queue's slots are posted to the DAL node (`POST /slots`, which answers the commitment
//! and its proof), then each commitment is published on L1 by a `publish_dal_commitment`
//! queued in the injector (signed by the key of purpose `batching`, which serves
//! `publish_dal_commitment`).
//!
//! Runs in the modes that inject `publish_dal_commitment` (batcher, operator, custom with it)
//! when the node has a DAL node (`--dal-node`), as in Octez (`start_in_mode`).

use std::path::Path;
use std::sync::Arc;

use batcher::dal::{DalParams, DalQueue};
use l1_operation::{L1Operation, OperationKind};
use node_config::Config;
pub use node_follower::dal_node::{DalNodeClient, PostedSlot};
use node_follower::follower::{FollowError, Processor};

/// Where posted slots' commitments go: the injector.
pub trait CommitmentSink: Send {
    /// Queues the `publish_dal_commitment` `op`; returns the injector's id.
    ///
    /// # Errors
    /// The injector's refusal.
    fn publish(&mut self, op: L1Operation) -> Result<tezos_types::InjectorOperationId, String>;
}

impl CommitmentSink for injector::Injector {
    fn publish(&mut self, op: L1Operation) -> Result<tezos_types::InjectorOperationId, String> {
        self.add(op, None).map_err(|e| e.to_string())
    }
}

/// Where slots are posted.
pub trait SlotPoster: Send {
    /// Posts `data` for `slot_index`.
    ///
    /// # Errors
    /// The DAL node's failure.
    fn post(&mut self, slot_index: u8, data: &[u8]) -> Result<PostedSlot, String>;
}

impl SlotPoster for DalNodeClient {
    fn post(&mut self, slot_index: u8, data: &[u8]) -> Result<PostedSlot, String> {
        self.post_slot(slot_index, data)
    }
}

/// The DAL injection of the node: its queue (shared with the RPC server), the DAL node and
/// the injector.
pub struct DalInjection {
    queue: Arc<parking_lot::Mutex<DalQueue>>,
    poster: Box<dyn SlotPoster>,
    sink: Box<dyn CommitmentSink>,
    /// Whether the L1 was found without DAL (logged once).
    no_dal: bool,
}

impl DalInjection {
    /// The DAL injection of a node with `config`, keeping its queue in `data_dir`: `None`
    /// unless the mode injects `publish_dal_commitment` and a DAL node is configured.
    ///
    /// # Errors
    /// A bad DAL node URL or an unreadable queue journal, with what to do.
    pub fn from_config(
        config: &Config,
        data_dir: &Path,
        injector: injector::Injector,
    ) -> Result<Option<Self>, String> {
        let Some(url) = &config.dal_node_endpoint else {
            return Ok(None);
        };
        if !config.mode.can_inject(OperationKind::PublishDalCommitment) {
            return Ok(None);
        }
        let poster = DalNodeClient::new(url)?;
        let queue = DalQueue::open(data_dir).map_err(|e| e.to_string())?;
        Ok(Some(Self::new(
            Arc::new(parking_lot::Mutex::new(queue)),
            Box::new(poster),
            Box::new(injector),
        )))
    }

    /// The DAL injection over `queue`, posting with `poster` and publishing into `sink`.
    pub fn new(
        queue: Arc<parking_lot::Mutex<DalQueue>>,
        poster: Box<dyn SlotPoster>,
        sink: Box<dyn CommitmentSink>,
    ) -> Self {
        Self {
            queue,
            poster,
            sink,
            no_dal: false,
        }
    }

    /// The queue, for the RPC server.
    pub fn queue(&self) -> Arc<parking_lot::Mutex<DalQueue>> {
        self.queue.clone()
    }

    /// Reads the DAL constants from the L1 once (before that, the RPCs refuse requests).
    ///
    /// # Errors
    /// L1 failures (retried at the next head); a disabled DAL is logged, not fatal.
    pub fn ensure_params(&mut self, p: &Processor) -> Result<(), FollowError> {
        if self.no_dal || self.queue.lock().params().is_some() {
            return Ok(());
        }
        let c = p.l1.call(p.l1.client.constants("main", "head"))?;
        let Some(d) = c.dal_parametric.filter(|d| d.feature_enable) else {
            tracing::warn!(
                "The L1 has no DAL (dal_parametric.feature_enable is false): DAL injection \
                 requests are refused"
            );
            self.no_dal = true;
            return Ok(());
        };
        let params = params_of(&d)?;
        self.queue.lock().set_params(params);
        Ok(())
    }

    /// Posts the slots of this head and queues their publications (Octez
    /// `produce_dal_slots`). A failure stops at that slot: its messages and the following ones
    /// stay queued for the next head.
    ///
    /// # Errors
    /// The queue's journal failing (the node stops: its messages could be lost otherwise).
    pub fn produce_slots(&mut self, level: i32) -> Result<usize, FollowError> {
        let (slots, slot_size) = {
            let mut q = self.queue.lock();
            (q.plan_slots(), q.params().map_or(0, |p| p.slot_size))
        };
        let mut published = 0usize;
        for slot in slots {
            tracing::info!(
                "Injecting a DAL slot containing {} messages at index {} on top of level \
                 {level}, for a total size of {} bytes over {slot_size}",
                slot.messages,
                slot.slot_index,
                slot.content.len()
            );
            let posted = match self.poster.post(slot.slot_index, &slot.content) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!("DAL injection: {e}; retried at the next head");
                    break;
                }
            };
            let op = L1Operation::PublishDalCommitment {
                slot_index: slot.slot_index,
                commitment: posted.commitment,
                commitment_proof: posted.commitment_proof,
            };
            let id = match self.sink.publish(op) {
                Ok(id) => id,
                Err(e) => {
                    tracing::warn!(
                        "DAL injection: the injector refused the publication of slot {}: {e}; \
                         retried at the next head",
                        slot.slot_index
                    );
                    break;
                }
            };
            tracing::info!(
                "Injected a DAL slot {} at index {} with hash {id}",
                posted.commitment,
                slot.slot_index
            );
            self.queue
                .lock()
                .commit_slot(slot.messages, id)
                .map_err(|e| FollowError::Fatal(e.to_string()))?;
            published = published.saturating_add(1);
        }
        Ok(published)
    }
}

/// The queue's constants from the L1's `dal_parametric`.
fn params_of(d: &l1_client::DalParametric) -> Result<DalParams, FollowError> {
    let bad = |what: &str| FollowError::Inconsistent(format!("dal_parametric.{what} out of range"));
    let slot_size = d
        .slot_size
        .ok_or_else(|| bad("slot_size (missing)"))
        .and_then(|s| usize::try_from(s).map_err(|_| bad("slot_size")))?;
    Ok(DalParams {
        slot_size,
        number_of_slots: usize::try_from(d.number_of_slots).map_err(|_| bad("number_of_slots"))?,
        attestation_lag: usize::try_from(d.attestation_lag).map_err(|_| bad("attestation_lag"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tezos_types::DalCommitment;
    use tezos_types::operation::DalCommitmentProof;

    struct Poster(Vec<(u8, Vec<u8>)>, bool);
    impl SlotPoster for Poster {
        fn post(&mut self, slot_index: u8, data: &[u8]) -> Result<PostedSlot, String> {
            if self.1 && !self.0.is_empty() {
                return Err("DAL node down".into());
            }
            self.0.push((slot_index, data.to_vec()));
            Ok(PostedSlot {
                commitment: DalCommitment::new([slot_index; 48]),
                commitment_proof: DalCommitmentProof([1; 96]),
            })
        }
    }
    struct Sink(Arc<parking_lot::Mutex<Vec<L1Operation>>>);
    impl CommitmentSink for Sink {
        fn publish(&mut self, op: L1Operation) -> Result<tezos_types::InjectorOperationId, String> {
            let mut v = self.0.lock();
            v.push(op);
            Ok(tezos_types::InjectorOperationId::new(
                [u8::try_from(v.len()).unwrap(); 32],
            ))
        }
    }

    fn queue() -> Arc<parking_lot::Mutex<DalQueue>> {
        let mut q = DalQueue::in_memory();
        q.set_params(DalParams {
            slot_size: 4,
            number_of_slots: 8,
            attestation_lag: 2,
        });
        q.set_slot_indices(&[5, 6]).unwrap();
        q.register(["ab", "cd", "efg", "h", "ijkl"].map(|s| s.into()).to_vec())
            .unwrap();
        Arc::new(parking_lot::Mutex::new(q))
    }

    #[test]
    fn slots_are_posted_then_published_then_removed() {
        let q = queue();
        let ops = Arc::new(parking_lot::Mutex::new(vec![]));
        let mut d = DalInjection::new(
            q.clone(),
            Box::new(Poster(vec![], false)),
            Box::new(Sink(ops.clone())),
        );
        assert_eq!(d.produce_slots(10).unwrap(), 2);
        let ops = ops.lock().clone();
        assert_eq!(
            ops[0],
            L1Operation::PublishDalCommitment {
                slot_index: 5,
                commitment: DalCommitment::new([5; 48]),
                commitment_proof: DalCommitmentProof([1; 96]),
            }
        );
        assert_eq!(ops[1].kind(), OperationKind::PublishDalCommitment);
        // "abcd" and "efgh" went out; "ijkl" waits for the next head.
        assert_eq!(q.lock().pending(), 1);
        assert_eq!(q.lock().injections().count(), 2);
    }

    #[test]
    fn a_failing_dal_node_keeps_the_messages() {
        let q = queue();
        let ops = Arc::new(parking_lot::Mutex::new(vec![]));
        let mut d = DalInjection::new(
            q.clone(),
            Box::new(Poster(vec![], true)),
            Box::new(Sink(ops.clone())),
        );
        assert_eq!(d.produce_slots(10).unwrap(), 1);
        assert_eq!(q.lock().pending(), 3);
        assert_eq!(ops.lock().len(), 1);
    }
}
