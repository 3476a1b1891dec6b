//! Read-only connections for concurrent readers (the RPC server): the store runs in WAL mode
//! (`Store::open`), where readers see the last committed transaction and never wait for the
//! writer (the follower) nor block it (<https://sqlite.org/wal.html> "Concurrency"). A
//! [`ReadPool`] holds a few such connections; a reader takes one for the length of one
//! closure, so slow readers do not serialize the others behind one `Mutex<Store>`
//! (docs/reference/octez-rollup-node.md §4, `sql_store.ml` opens a read-only pool too).

use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::{L2Block, StateKey, Store, StoreError};

/// How long a read waits for a lock SQLite cannot take at once (a WAL checkpoint that
/// recovers the index, the first open of a fresh store).
const READ_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A small pool of read-only connections to one store.
pub struct ReadPool {
    free: Mutex<Vec<Store>>,
    returned: Condvar,
    /// The L2 head decoded last, by its hash as stored ([`ReadPool::head`]).
    head: Mutex<Option<(String, L2Block)>>,
}

impl std::fmt::Debug for ReadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadPool")
            .field("free", &lock(&self.free).len())
            .finish()
    }
}

/// Takes `m`, ignoring poison: a connection stays usable after a reader panicked (each read
/// is one statement, nothing is left half-written).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReadPool {
    /// Opens `size` (at least 1) read-only connections to the store at `path`, which must
    /// exist and be in WAL mode (open it with [`Store::open`] first: that applies the
    /// migrations and sets the journal mode).
    pub fn open(path: &Path, size: usize) -> Result<Self, StoreError> {
        let mut conns = Vec::with_capacity(size.max(1));
        for _ in 0..size.max(1) {
            let conn = Connection::open_with_flags(
                path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(READ_BUSY_TIMEOUT)?;
            conn.pragma_update(None, "query_only", true)?;
            conns.push(Store { conn });
        }
        Ok(Self {
            free: Mutex::new(conns),
            returned: Condvar::new(),
            head: Mutex::new(None),
        })
    }

    /// A pool of the one connection `store` (in-memory stores, which other connections
    /// cannot open; tests).
    pub fn single(store: Store) -> Self {
        Self {
            free: Mutex::new(vec![store]),
            returned: Condvar::new(),
            head: Mutex::new(None),
        }
    }

    /// The L2 head ([`Store::head`]), decoded once per head: the head's hash is read from the
    /// store at every call, its block row only when it changed (RPC reads of `head`).
    pub fn head(&self) -> Result<Option<L2Block>, StoreError> {
        self.cached_head(
            || Some(self.with(|s| s.state(StateKey::L2Head))),
            || Some(self.with(Store::head)),
        )
        // The blocking reads always answer: `None` cannot come back.
        .unwrap_or(Ok(None))
    }

    /// [`ReadPool::head`] for a caller that must not wait (an RPC answered on an async
    /// worker): `None` when no connection is free at once or SQLite would wait for a lock
    /// (busy); the caller then asks [`ReadPool::head`] where waiting is allowed. One read of
    /// the head's hash (WAL readers never wait for the writer), the block row only when the
    /// head changed.
    pub fn head_nowait(&self) -> Option<Result<Option<L2Block>, StoreError>> {
        self.cached_head(
            || self.try_with_nowait(|s| s.state(StateKey::L2Head)),
            || self.try_with_nowait(Store::head),
        )
    }

    /// The head through [`ReadPool::head`]'s cache, with the two reads given (`None`: a read
    /// that would have waited).
    fn cached_head<L>(
        &self,
        read_state: impl FnOnce() -> Option<Result<Option<(String, L)>, StoreError>>,
        read_block: impl FnOnce() -> Option<Result<Option<L2Block>, StoreError>>,
    ) -> Option<Result<Option<L2Block>, StoreError>> {
        let hash = match read_state()? {
            Ok(Some((hash, _))) => hash,
            Ok(None) => return Some(Ok(None)),
            Err(e) => return Some(Err(e)),
        };
        if let Some((h, b)) = lock(&self.head).as_ref()
            && *h == hash
        {
            return Some(Ok(Some(b.clone())));
        }
        let block = match read_block()? {
            Ok(b) => b,
            Err(e) => return Some(Err(e)),
        };
        if let Some(b) = &block {
            *lock(&self.head) = Some((b.block_hash.to_b58check(), b.clone()));
        }
        Some(Ok(block))
    }

    /// Runs `f` on a connection free at once, with SQLite's busy wait off for its length:
    /// `None` when none is free or SQLite answers busy.
    fn try_with_nowait<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Option<Result<T, StoreError>> {
        let store = lock(&self.free).pop()?;
        let guard = Return {
            pool: self,
            store: Some(store),
        };
        let s = guard.store.as_ref()?;
        if let Err(e) = s.conn.busy_timeout(Duration::ZERO) {
            return Some(Err(e.into()));
        }
        let r = f(s);
        if let Err(e) = s.conn.busy_timeout(READ_BUSY_TIMEOUT) {
            return Some(Err(e.into()));
        }
        match r {
            Err(StoreError::Sql(rusqlite::Error::SqliteFailure(e, _)))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                None
            }
            r => Some(r),
        }
    }

    /// Runs `f` on a free connection, waiting for one when all are in use. Blocking: call it
    /// from a blocking thread (`tokio::task::spawn_blocking`), never on an async worker.
    pub fn with<T>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let store = {
            let mut free = lock(&self.free);
            loop {
                if let Some(s) = free.pop() {
                    break s;
                }
                free = self
                    .returned
                    .wait(free)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        // Given back even when `f` panics.
        let guard = Return {
            pool: self,
            store: Some(store),
        };
        match guard.store.as_ref() {
            Some(s) => f(s),
            None => Err(StoreError::Corrupted(
                "the read pool lost a connection (a bug of this node)".into(),
            )),
        }
    }
}

/// Gives a connection back to its pool on drop.
struct Return<'a> {
    pool: &'a ReadPool,
    store: Option<Store>,
}

impl Drop for Return<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.store.take() {
            lock(&self.pool.free).push(s);
            self.pool.returned.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(v: i32) -> tezos_types::Level {
        tezos_types::Level::new(v).unwrap()
    }

    /// The cached head follows the store's head: a new head is read, the same head is not
    /// decoded again (same block), no head is none.
    #[test]
    fn the_cached_head_follows_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut writer = Store::open(&path).unwrap();
        let pool = ReadPool::open(&path, 1).unwrap();
        assert_eq!(pool.head().unwrap(), None);
        for l in [4, 5] {
            let b = crate::fixtures::sample_block(l);
            writer
                .transaction(|w| {
                    w.insert_block(&b)?;
                    w.set_level(lv(l), &b.block_hash)?;
                    w.set_head(&b.block_hash, lv(l))
                })
                .unwrap();
            assert_eq!(pool.head().unwrap(), Some(b.clone()));
            assert_eq!(pool.head().unwrap(), Some(b.clone()));
            assert_eq!(pool.head_nowait().unwrap().unwrap(), Some(b));
        }
    }

    /// `head_nowait` answers `None` instead of waiting for a connection.
    #[test]
    fn head_nowait_does_not_wait_for_a_connection() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let _writer = Store::open(&path).unwrap();
        let pool = ReadPool::open(&path, 1).unwrap();
        assert_eq!(pool.head_nowait().unwrap().unwrap(), None);
        pool.with(|_| {
            assert!(pool.head_nowait().is_none(), "the one connection is in use");
            Ok(())
        })
        .unwrap();
        assert!(pool.head_nowait().is_some(), "given back");
    }

    #[test]
    fn readers_see_commits_and_do_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite");
        let mut writer = Store::open(&path).unwrap();
        let b = crate::fixtures::sample_block(4);
        writer
            .transaction(|w| {
                w.insert_block(&b)?;
                w.set_level(lv(4), &b.block_hash)?;
                w.set_head(&b.block_hash, lv(4))
            })
            .unwrap();
        let pool = ReadPool::open(&path, 2).unwrap();
        // The writer holds its write lock (an open batch) while the readers read.
        writer.begin_batch().unwrap();
        writer
            .transaction(|w| w.set_head(&b.block_hash, lv(5)))
            .unwrap();
        let started = std::time::Instant::now();
        let head = pool.with(Store::head).unwrap().map(|h| h.level);
        assert_eq!(head, Some(lv(4)), "readers see the last committed head");
        assert!(started.elapsed() < READ_BUSY_TIMEOUT / 2);
        // Both connections at once, from two threads.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let t = s.spawn(|| {
                pool.with(|st| {
                    tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_secs(2));
                    st.head()
                })
            });
            rx.recv().unwrap();
            let started = std::time::Instant::now();
            assert!(pool.with(Store::head).unwrap().is_some());
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "the second connection was free"
            );
            assert!(t.join().unwrap().unwrap().is_some());
        });
        writer.commit_batch().unwrap();
        let level = pool.with(|st| st.state(crate::StateKey::L2Head)).unwrap();
        assert_eq!(
            level.map(|(_, l)| l),
            Some(lv(5)),
            "a committed batch is seen"
        );
        // Read-only: writes are refused.
        let refused = pool.with(|st| st.accessors().set_head(&b.block_hash, lv(6)));
        assert!(refused.is_err());
    }
}
