//! The injector as the operator's [`OperationSink`]: operations are persisted by the injector
//! before `add` returns; each head drives its inclusion tracking and injection, on a worker of
//! its own (Octez's injector is a worker apart from the rollup node's daemon): the follower
//! hands the head over and goes on, so a slow L1 or a long batch does not hold back the next
//! head's decisions (a refutation move, a publication).

use std::collections::HashMap;

use inbox::BlockHeader;
use injector::{Injector, InjectorOpHash};
use l1_operation::L1Operation;
use node_follower::follower::FollowError;
use tezos_types::CommitmentHash;
use tokio::runtime::Handle;
use tokio::sync::watch;

use crate::operator::OperationSink;

/// The node's injector: operations added from the follower thread, heads handed to its
/// worker.
pub struct InjectorSink {
    injector: Injector,
    /// The latest head, for the worker (a head it has not started on yet is replaced).
    heads: watch::Sender<Option<BlockHeader>>,
    /// Cementations queued, by commitment: `cement` operations are not unique in Octez's
    /// injector (their id includes a counter), so the node does not queue a second one while
    /// the first is known to the injector.
    cements: HashMap<CommitmentHash, InjectorOpHash>,
}

impl InjectorSink {
    /// The sink of `injector`, whose worker runs on `rt` until the sink is dropped: at each
    /// head handed over, one round of inclusion tracking and injection
    /// ([`Injector::on_new_head`]); a failed round is logged and the next head tries again
    /// (Octez's injector worker does the same).
    pub fn new(injector: Injector, rt: Handle) -> Self {
        let (heads, mut next) = watch::channel(None::<BlockHeader>);
        let worker = injector.clone();
        rt.spawn(async move {
            while next.changed().await.is_ok() {
                let Some(head) = next.borrow_and_update().clone() else {
                    continue;
                };
                if let Err(e) = worker.on_new_head(&head).await {
                    tracing::error!(
                        "Injector: at head {} (level {}): {e}; retrying at the next head",
                        head.hash,
                        head.shell.level
                    );
                }
            }
        });
        Self {
            injector,
            heads,
            cements: HashMap::new(),
        }
    }
}

fn operator_error(e: injector::InjectorError) -> FollowError {
    FollowError::Operator(Box::new(e))
}

impl OperationSink for InjectorSink {
    fn add(&mut self, op: L1Operation) -> Result<(), FollowError> {
        let cement = match &op {
            L1Operation::Cement { commitment, .. } => {
                if let Some(id) = self.cements.get(commitment)
                    && self.injector.entry(id).is_some()
                {
                    return Ok(());
                }
                Some(*commitment)
            }
            _ => None,
        };
        let id = self.injector.add(op, None).map_err(operator_error)?;
        if let Some(c) = cement {
            self.cements.insert(c, id);
        }
        Ok(())
    }

    fn add_tracked(&mut self, op: L1Operation) -> Result<Option<InjectorOpHash>, FollowError> {
        self.injector
            .add(op, None)
            .map(Some)
            .map_err(operator_error)
    }

    fn knows(&self, id: &InjectorOpHash) -> bool {
        self.injector.entry(id).is_some()
    }

    fn on_head(&mut self, head: &BlockHeader) -> Result<(), FollowError> {
        // The worker ends only if it panicked (or its runtime is shutting down): then nothing
        // would be injected any more, silently.
        if self.heads.is_closed() {
            return Err(FollowError::Fatal(
                "the injector's worker stopped (see the error above); restart the node".into(),
            ));
        }
        self.heads.send_replace(Some(head.clone()));
        Ok(())
    }
}

/// The injector as the batcher's sink: each batch becomes one `add_messages` operation.
pub struct InjectorBatchSink(pub Injector);

impl batcher::BatchSink for InjectorBatchSink {
    fn add_messages(
        &mut self,
        messages: Vec<Vec<u8>>,
        order: Option<i64>,
    ) -> Result<InjectorOpHash, batcher::SinkError> {
        self.0
            .add(L1Operation::AddMessages { messages }, order)
            .map_err(|e| batcher::SinkError(Box::new(e)))
    }

    fn knows(&self, id: &InjectorOpHash) -> bool {
        self.0.entry(id).is_some()
    }
}
