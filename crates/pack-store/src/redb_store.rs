//! An on-disk [`NodeStore`] over redb (the first disk store; kept for
//! comparison, [`crate::DiskStore`] is ~100x faster at commits: see
//! `crate::pack`).
//!
//! Why redb (4.x) rather than fjall (crates-and-anchors.md §2): redb gives
//! ACID write transactions with `Durability::Immediate` by default, so a
//! commit (all its objects plus its root record) is atomic and crash-safe
//! with no journal handling of ours, and a GC sweep is a single transaction
//! too. It is the smallest dependency (3 crates) and the fastest random
//! reader of the measured candidates, which is what lazy checkouts need.
//! fjall ingests batches ~4x faster; the [`NodeStore`] trait keeps that
//! switch open if commits become the bottleneck.
//!
//! Layout: table `objects` (32-byte hash → our object bytes, see
//! `durable_tree`'s object codec), table `roots` (32-byte hash → unit) for the recorded
//! committed roots.

use std::path::Path;

use context_hash::Hash;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use durable_tree::{NodeStore, StoreError};

const OBJECTS: TableDefinition<'static, &[u8; 32], &[u8]> = TableDefinition::new("objects");
const ROOTS: TableDefinition<'static, &[u8; 32], ()> = TableDefinition::new("roots");

fn backend(e: impl Into<redb::Error>) -> StoreError {
    let e: redb::Error = e.into();
    match e {
        redb::Error::Io(io) => StoreError::Io(io),
        other => StoreError::Backend(other.to_string()),
    }
}

/// A crash-safe on-disk object store (one redb file).
pub struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Open (or create) the store file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let db = Database::create(path).map_err(backend)?;
        // Make sure both tables exist so read transactions can open them.
        let tx = db.begin_write().map_err(backend)?;
        tx.open_table(OBJECTS).map_err(backend)?;
        tx.open_table(ROOTS).map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(RedbStore { db })
    }
}

impl NodeStore for RedbStore {
    fn get(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(OBJECTS).map_err(backend)?;
        Ok(t.get(&hash.0).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn contains(&self, hash: &Hash) -> Result<bool, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(OBJECTS).map_err(backend)?;
        Ok(t.get(&hash.0).map_err(backend)?.is_some())
    }

    fn write_batch(&self, objects: &[(Hash, Vec<u8>)], roots: &[Hash]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(backend)?;
        {
            let mut t = tx.open_table(OBJECTS).map_err(backend)?;
            for (h, b) in objects {
                t.insert(&h.0, b.as_slice()).map_err(backend)?;
            }
            let mut r = tx.open_table(ROOTS).map_err(backend)?;
            for h in roots {
                r.insert(&h.0, ()).map_err(backend)?;
            }
        }
        tx.commit().map_err(backend)
    }

    fn roots(&self) -> Result<Vec<Hash>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let r = tx.open_table(ROOTS).map_err(backend)?;
        let mut out = Vec::new();
        for e in r.iter().map_err(backend)? {
            let (k, _) = e.map_err(backend)?;
            out.push(Hash(*k.value()));
        }
        Ok(out)
    }

    fn retain(&self, live: &dyn Fn(&Hash) -> bool, keep_roots: &[Hash]) -> Result<u64, StoreError> {
        let tx = self.db.begin_write().map_err(backend)?;
        let deleted;
        {
            let mut t = tx.open_table(OBJECTS).map_err(backend)?;
            let before = t.len().map_err(backend)?;
            t.retain(|k, _| live(&Hash(*k))).map_err(backend)?;
            deleted = before - t.len().map_err(backend)?;
            let mut r = tx.open_table(ROOTS).map_err(backend)?;
            r.retain(|k, _| keep_roots.contains(&Hash(*k)))
                .map_err(backend)?;
        }
        tx.commit().map_err(backend)?;
        Ok(deleted)
    }

    fn object_count(&self) -> Result<u64, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = tx.open_table(OBJECTS).map_err(backend)?;
        t.len().map_err(backend)
    }
}
