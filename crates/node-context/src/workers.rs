//! The workers `/health` reports in `active_workers` (docs/reference/octez-rollup-node.md
//! §4.1, `rpc_directory.ml` in tezos/tezos-mirror): each worker registers itself when it
//! starts and holds a [`WorkerGuard`] while it runs; the list is read from that live state.
//!
//! Octez lists, in this order, `publisher`, `batcher`, `refutation_coordinator` (each only
//! when its mode starts it: `start_in_mode` of `publisher.ml`, `batcher.ml`,
//! `refutation_coordinator.ml`), one `refutation_player (against <pkh>)` per game and one
//! `injector (<tags>)` per injector worker (only with operator keys). None of them runs in
//! observer mode, so an observer lists none, as Octez's does; [`WorkerName`] gives the
//! Octez names to the workers of the other modes when they run.

use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};

/// Worker status for `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerStatus {
    /// Running.
    Running,
    /// Crashed with a message.
    Crashed(String),
}

/// The workers Octez reports, with their names in `/health`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerName {
    /// `publisher` (commitments).
    Publisher,
    /// `batcher` (L2 messages).
    Batcher,
    /// `refutation_coordinator`.
    RefutationCoordinator,
    /// `refutation_player (against <pkh>)`.
    RefutationPlayer(String),
    /// `injector (<tag>, <tag>…)`, tags as Octez's `Operation_kind.to_string`.
    Injector(Vec<String>),
}

impl WorkerName {
    /// The name `/health` shows.
    pub fn render(&self) -> String {
        match self {
            Self::Publisher => "publisher".into(),
            Self::Batcher => "batcher".into(),
            Self::RefutationCoordinator => "refutation_coordinator".into(),
            Self::RefutationPlayer(pkh) => format!("refutation_player (against {pkh})"),
            Self::Injector(tags) => format!("injector ({})", tags.join(", ")),
        }
    }

    /// Octez's listing order (publisher, batcher, coordinator, players, injectors).
    fn rank(&self) -> u8 {
        match self {
            Self::Publisher => 0,
            Self::Batcher => 1,
            Self::RefutationCoordinator => 2,
            Self::RefutationPlayer(_) => 3,
            Self::Injector(_) => 4,
        }
    }
}

#[derive(Debug)]
struct Entry {
    id: u64,
    name: WorkerName,
    status: WorkerStatus,
}

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    entries: Vec<Entry>,
}

/// The registry of running workers, shared by the daemon (which starts them) and the RPC
/// server (which reports them). Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Workers(Arc<Mutex<Registry>>);

impl Workers {
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.0.lock()
    }

    /// Registers worker `name` as running; it stays listed while the guard lives.
    pub fn start(&self, name: WorkerName) -> WorkerGuard {
        let mut r = self.lock();
        let id = r.next;
        r.next = r.next.wrapping_add(1);
        r.entries.push(Entry {
            id,
            name,
            status: WorkerStatus::Running,
        });
        WorkerGuard {
            workers: self.clone(),
            id,
        }
    }

    /// The listed workers and their status, in Octez's order.
    pub fn snapshot(&self) -> Vec<(String, WorkerStatus)> {
        let r = self.lock();
        let mut list: Vec<&Entry> = r.entries.iter().collect();
        list.sort_by_key(|e| (e.name.rank(), e.id));
        list.iter()
            .map(|e| (e.name.render(), e.status.clone()))
            .collect()
    }

    fn set(&self, id: u64, status: Option<WorkerStatus>) {
        let mut r = self.lock();
        match status {
            Some(s) => {
                if let Some(e) = r.entries.iter_mut().find(|e| e.id == id) {
                    e.status = s;
                }
            }
            None => r.entries.retain(|e| e.id != id),
        }
    }
}

/// Held by a running worker. Dropped normally (the worker stopped), the worker leaves the
/// list; dropped by a panic, or consumed by [`WorkerGuard::crashed`], it stays listed as
/// crashed, which makes the node unhealthy (as an Octez worker whose promise failed).
#[derive(Debug)]
pub struct WorkerGuard {
    workers: Workers,
    id: u64,
}

impl WorkerGuard {
    /// The worker failed with `error`: listed as crashed from now on.
    pub fn crashed(self, error: impl Into<String>) {
        self.workers
            .set(self.id, Some(WorkerStatus::Crashed(error.into())));
        std::mem::forget(self);
    }
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        let status = std::thread::panicking().then(|| WorkerStatus::Crashed("panicked".into()));
        match status {
            Some(s) => self.workers.set(self.id, Some(s)),
            None => self.workers.set(self.id, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_are_listed_from_their_live_state() {
        let w = Workers::default();
        assert!(w.snapshot().is_empty());
        let inj = w.start(WorkerName::Injector(vec![
            "publish".into(),
            "cement".into(),
        ]));
        let publisher = w.start(WorkerName::Publisher);
        assert_eq!(
            w.snapshot(),
            vec![
                ("publisher".into(), WorkerStatus::Running),
                ("injector (publish, cement)".into(), WorkerStatus::Running)
            ]
        );
        publisher.crashed("Failure(\"boom\")");
        assert_eq!(
            w.snapshot()[0],
            (
                "publisher".into(),
                WorkerStatus::Crashed("Failure(\"boom\")".into())
            )
        );
        drop(inj);
        assert_eq!(w.snapshot().len(), 1);
        // A worker thread that panics is listed as crashed.
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            let _g = w2.start(WorkerName::Batcher);
            panic!("worker failure");
        });
        assert!(t.join().is_err());
        assert!(
            w.snapshot()
                .contains(&("batcher".into(), WorkerStatus::Crashed("panicked".into())))
        );
    }
}
