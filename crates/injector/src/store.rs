//! The injector database (`<data-dir>/injector/injector.sqlite`, WAL): the operations with
//! their state, the insertion counter, and the signing protection table of every `publish`
//! ever signed (lighthouse's slashing protection is the model; docs/reference/octez-rollup-node.md
//! §9, issue 10 "never sign two conflicting commitments").

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use l1_operation::L1Operation;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use tezos_types::hash::InjectorOperationId;
use tezos_types::{CommitmentHash, Level, SmartRollupAddress};

use crate::core::{Entry, State};

/// Errors of the injector database.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("injector database {path}: {source}")]
    Sqlite {
        /// Database file.
        path: PathBuf,
        /// Cause.
        #[source]
        source: rusqlite::Error,
    },
    /// The directory could not be created.
    #[error("cannot create the injector directory {path}: {source}")]
    Dir {
        /// Directory.
        path: PathBuf,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A row does not decode.
    #[error(
        "injector database {path}: row {id} is damaged ({what}); move the file away to start with an empty queue"
    )]
    Corrupt {
        /// Database file.
        path: PathBuf,
        /// Row id.
        id: String,
        /// What is wrong.
        what: String,
    },
}

/// A `publish` refused by the signing protection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Refusing to sign commitment {new} for inbox level {level}: commitment {signed} was already signed for that level"
)]
pub struct Conflict {
    /// Inbox level.
    pub level: Level,
    /// The commitment we were asked to sign.
    pub new: CommitmentHash,
    /// The one already signed.
    pub signed: CommitmentHash,
}

/// The database.
#[derive(Debug)]
pub struct Store {
    path: PathBuf,
    conn: Connection,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    operation TEXT NOT NULL,
    ord INTEGER,
    counter INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    last_error TEXT,
    state TEXT NOT NULL,
    oph TEXT,
    branch TEXT,
    level INTEGER,
    idx INTEGER,
    op_counter INTEGER,
    confirmed INTEGER,
    block TEXT,
    block_level INTEGER
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS signed_commitments (
    rollup TEXT NOT NULL,
    inbox_level INTEGER NOT NULL,
    commitment TEXT NOT NULL,
    PRIMARY KEY (rollup, inbox_level)
);
";

impl Store {
    /// Opens (creating it and its directory) the database at `path`, in WAL mode.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let sql = |source| StoreError::Sqlite {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        conn.execute_batch(SCHEMA).map_err(sql)?;
        Ok(Self {
            path: path.to_owned(),
            conn,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// Every persisted operation and the next insertion counter.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn load(&self) -> Result<(Vec<Entry>, u64), StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, operation, ord, counter, errors, last_error, state, oph, branch, \
                 level, idx, op_counter, confirmed, block, block_level FROM operations",
            )
            .map_err(|e| self.sql(e))?;
        type Row = (
            String,
            String,
            Option<i64>,
            i64,
            i64,
            Option<String>,
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<i64>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                    r.get(10)?,
                    r.get(11)?,
                    r.get(12)?,
                    r.get(13)?,
                    r.get(14)?,
                ))
            })
            .map_err(|e| self.sql(e))?
            .collect::<Result<_, _>>()
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (id_s, op, ord, counter, errors, last_error, state) =
                (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
            let bad = |what: String| StoreError::Corrupt {
                path: self.path.clone(),
                id: id_s.clone(),
                what,
            };
            let id =
                InjectorOperationId::from_b58check(&id_s).map_err(|e| bad(format!("id: {e}")))?;
            let v: serde_json::Value =
                serde_json::from_str(&op).map_err(|e| bad(format!("operation: {e}")))?;
            let op = L1Operation::from_json(&v).map_err(|e| bad(e.to_string()))?;
            let need = |o: Option<String>, f: &str| o.ok_or_else(|| bad(format!("{f} missing")));
            let int = |o: Option<i64>, f: &str| o.ok_or_else(|| bad(format!("{f} missing")));
            let state = match state.as_str() {
                "pending" => State::Pending,
                "injected" => State::Injected {
                    oph: need(row.7, "oph")?
                        .parse()
                        .map_err(|e| bad(format!("oph: {e}")))?,
                    branch: need(row.8, "branch")?
                        .parse()
                        .map_err(|e| bad(format!("branch: {e}")))?,
                    level: Level::try_from(int(row.9, "level")?).map_err(|e| bad(e.to_string()))?,
                    index: u32::try_from(int(row.10, "idx")?).map_err(|e| bad(e.to_string()))?,
                    op_counter: u64::try_from(int(row.11, "op_counter")?)
                        .map_err(|e| bad(e.to_string()))?,
                    confirmed: int(row.12, "confirmed")? != 0,
                },
                "included" => State::Included {
                    oph: need(row.7, "oph")?
                        .parse()
                        .map_err(|e| bad(format!("oph: {e}")))?,
                    branch: need(row.8, "branch")?
                        .parse()
                        .map_err(|e| bad(format!("branch: {e}")))?,
                    index: u32::try_from(int(row.10, "idx")?).map_err(|e| bad(e.to_string()))?,
                    op_counter: u64::try_from(int(row.11, "op_counter")?)
                        .map_err(|e| bad(e.to_string()))?,
                    block: need(row.13, "block")?
                        .parse()
                        .map_err(|e| bad(format!("block: {e}")))?,
                    level: Level::try_from(int(row.14, "block_level")?)
                        .map_err(|e| bad(e.to_string()))?,
                },
                s => return Err(bad(format!("unknown state {s:?}"))),
            };
            out.push(Entry {
                id,
                op,
                order: ord,
                counter: u64::try_from(counter).map_err(|e| bad(e.to_string()))?,
                errors: u32::try_from(errors).map_err(|e| bad(e.to_string()))?,
                last_error,
                state,
            });
        }
        let next: Option<String> = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'next_counter'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let next = next.and_then(|s| s.parse().ok()).unwrap_or(0);
        Ok((out, next))
    }

    /// Writes the changed entries (`get(id)` `None` = deleted) and the next counter in one
    /// transaction.
    ///
    /// # Errors
    /// [`StoreError`]; nothing is written then.
    pub fn save<'a>(
        &mut self,
        dirty: &BTreeSet<InjectorOperationId>,
        get: impl Fn(&InjectorOperationId) -> Option<&'a Entry>,
        next_counter: u64,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        for id in dirty {
            match get(id) {
                Some(e) => upsert(&tx, e).map_err(sql)?,
                None => {
                    tx.execute(
                        "DELETE FROM operations WHERE id = ?1",
                        params![id.to_b58check()],
                    )
                    .map_err(sql)?;
                }
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('next_counter', ?1) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![next_counter.to_string()],
        )
        .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Signing protection, in one transaction: for each `(rollup, level, hash)` about to be
    /// signed, a different hash already recorded for that level is a [`Conflict`]; otherwise
    /// the hash is recorded. Either all are recorded, or (any conflict) none and the
    /// conflicts are returned with their position.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn protect(
        &mut self,
        publishes: &[(SmartRollupAddress, Level, CommitmentHash)],
    ) -> Result<Vec<(usize, Conflict)>, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        let mut conflicts = Vec::new();
        for (i, (rollup, level, hash)) in publishes.iter().enumerate() {
            let signed: Option<String> = tx
                .query_row(
                    "SELECT commitment FROM signed_commitments WHERE rollup = ?1 AND inbox_level = ?2",
                    params![rollup.to_b58check(), level.get()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            match signed {
                Some(s) if s != hash.to_b58check() => {
                    let signed = s.parse().map_err(|e| StoreError::Corrupt {
                        path: path.clone(),
                        id: format!("signed_commitments({rollup}, {level})"),
                        what: format!("{e}"),
                    })?;
                    conflicts.push((
                        i,
                        Conflict {
                            level: *level,
                            new: *hash,
                            signed,
                        },
                    ));
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "INSERT INTO signed_commitments (rollup, inbox_level, commitment) VALUES (?1, ?2, ?3)",
                        params![rollup.to_b58check(), level.get(), hash.to_b58check()],
                    )
                    .map_err(sql)?;
                }
            }
        }
        if conflicts.is_empty() {
            tx.commit().map_err(sql)?;
        }
        Ok(conflicts)
    }

    /// The [`Conflict`]s [`Self::protect`] would find, without recording anything.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn conflicts(
        &self,
        publishes: &[(SmartRollupAddress, Level, CommitmentHash)],
    ) -> Result<Vec<(usize, Conflict)>, StoreError> {
        let mut out = Vec::new();
        for (i, (rollup, level, hash)) in publishes.iter().enumerate() {
            if let Some(signed) = self.signed_commitment(rollup, *level)?
                && signed != *hash
            {
                out.push((
                    i,
                    Conflict {
                        level: *level,
                        new: *hash,
                        signed,
                    },
                ));
            }
        }
        Ok(out)
    }

    /// The commitment signed for a level, if any.
    ///
    /// # Errors
    /// [`StoreError`].
    pub fn signed_commitment(
        &self,
        rollup: &SmartRollupAddress,
        level: Level,
    ) -> Result<Option<CommitmentHash>, StoreError> {
        let s: Option<String> = self
            .conn
            .query_row(
                "SELECT commitment FROM signed_commitments WHERE rollup = ?1 AND inbox_level = ?2",
                params![rollup.to_b58check(), level.get()],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        s.map(|s| {
            s.parse().map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                id: format!("signed_commitments({rollup}, {level})"),
                what: format!("{e}"),
            })
        })
        .transpose()
    }
}

fn upsert(tx: &Transaction<'_>, e: &Entry) -> Result<(), rusqlite::Error> {
    let op = e.op.to_json().to_string();
    let (state, oph, branch, level, idx, op_counter, confirmed, block, block_level) = match &e.state
    {
        State::Pending => ("pending", None, None, None, None, None, None, None, None),
        State::Injected {
            oph,
            branch,
            level,
            index,
            op_counter,
            confirmed,
        } => (
            "injected",
            Some(oph.to_b58check()),
            Some(branch.to_b58check()),
            Some(i64::from(*level)),
            Some(i64::from(*index)),
            i64::try_from(*op_counter).ok(),
            Some(i64::from(*confirmed)),
            None,
            None,
        ),
        State::Included {
            oph,
            branch,
            index,
            op_counter,
            block,
            level,
        } => (
            "included",
            Some(oph.to_b58check()),
            Some(branch.to_b58check()),
            None,
            Some(i64::from(*index)),
            i64::try_from(*op_counter).ok(),
            None,
            Some(block.to_b58check()),
            Some(i64::from(*level)),
        ),
    };
    tx.execute(
        "INSERT OR REPLACE INTO operations (id, operation, ord, counter, errors, last_error, state, \
         oph, branch, level, idx, op_counter, confirmed, block, block_level) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
        params![
            e.id.to_b58check(),
            op,
            e.order,
            i64::try_from(e.counter).unwrap_or(i64::MAX),
            i64::from(e.errors),
            e.last_error,
            state,
            oph,
            branch,
            level,
            idx,
            op_counter,
            confirmed,
            block,
            block_level
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lv(v: i32) -> Level {
        Level::new(v).unwrap()
    }
    use crate::core::{Core, Rules, WorkerTags};
    use l1_operation::OperationKind;
    use tezos_types::{BlockHash, Commitment, OperationHash, PublicKeyHash, StateHash};

    fn rollup() -> SmartRollupAddress {
        "sr1Ghq66tYK9y3r8CC1Tf8i8m5nxh8nTvZEf".parse().unwrap()
    }

    fn rules() -> Rules {
        Rules {
            attempts: 10,
            injection_ttl: 120,
            retention_period: 2048,
            max_batch_length: None,
        }
    }

    fn workers() -> Vec<WorkerTags> {
        let pkh: PublicKeyHash = "tz1KqTpEZ7Yob7QbPE4Hy4Wo8fHG8LhKxZSx".parse().unwrap();
        vec![WorkerTags {
            signer: pkh,
            kinds: OperationKind::ALL.to_vec(),
        }]
    }

    fn persist(store: &mut Store, core: &mut Core) {
        let dirty = core.take_dirty();
        store
            .save(&dirty, |id| core.get(id), core.next_counter())
            .unwrap();
    }

    #[test]
    fn reopen_restores_every_state() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("injector").join("injector.sqlite");
        let mut store = Store::open(&path).unwrap();
        let mut core = Core::new(rules(), workers(), vec![], 0);
        let c = Commitment {
            compressed_state: StateHash::ZERO,
            inbox_level: tezos_types::Level::new(5).unwrap(),
            predecessor: CommitmentHash::ZERO,
            number_of_ticks: 3,
        };
        let p = core
            .add(
                L1Operation::Publish {
                    rollup: rollup(),
                    commitment: c,
                },
                Some(-4),
            )
            .unwrap();
        let m = core
            .add(
                L1Operation::AddMessages {
                    messages: vec![vec![1]],
                },
                None,
            )
            .unwrap();
        let x = core
            .add(
                L1Operation::AddMessages {
                    messages: vec![vec![2]],
                },
                None,
            )
            .unwrap();
        core.mark_injected(
            &[m],
            OperationHash::new([1; 32]),
            BlockHash::new([2; 32]),
            lv(7),
            0,
            9,
        );
        core.mark_injected(
            &[x],
            OperationHash::new([3; 32]),
            BlockHash::new([2; 32]),
            lv(7),
            0,
            10,
        );
        core.on_included(
            &x,
            BlockHash::new([4; 32]),
            lv(8),
            &crate::core::Outcome::Applied,
        );
        persist(&mut store, &mut core);
        drop(store);
        let store = Store::open(&path).unwrap();
        let (entries, next) = store.load().unwrap();
        assert_eq!(next, 3);
        let reopened = Core::new(rules(), workers(), entries, next);
        for id in [p, m, x] {
            assert_eq!(reopened.get(&id), core.get(&id));
        }
        assert_eq!(reopened.get(&p).unwrap().order, Some(-4));
    }

    /// A negative stored level is a corrupt row, never read as another level.
    #[test]
    fn a_negative_stored_level_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("injector.sqlite");
        let mut store = Store::open(&path).unwrap();
        let mut core = Core::new(rules(), workers(), vec![], 0);
        let m = core
            .add(
                L1Operation::AddMessages {
                    messages: vec![vec![1]],
                },
                None,
            )
            .unwrap();
        core.mark_injected(
            &[m],
            OperationHash::new([1; 32]),
            BlockHash::new([2; 32]),
            lv(7),
            0,
            9,
        );
        persist(&mut store, &mut core);
        store
            .conn
            .execute("UPDATE operations SET level = -1", [])
            .unwrap();
        let e = store.load().unwrap_err();
        assert!(
            matches!(&e, StoreError::Corrupt { what, .. } if what.contains("-1 is not a valid level")),
            "{e}"
        );
    }

    #[test]
    fn protection_refuses_a_conflicting_commitment_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite");
        let h1 = CommitmentHash::new([1; 32]);
        let h2 = CommitmentHash::new([2; 32]);
        {
            let mut s = Store::open(&path).unwrap();
            assert!(s.protect(&[(rollup(), lv(10), h1)]).unwrap().is_empty());
            // Same commitment again: allowed (re-signing after a reorg or a restart).
            assert!(s.protect(&[(rollup(), lv(10), h1)]).unwrap().is_empty());
        }
        let mut s = Store::open(&path).unwrap();
        let conflicts = s
            .protect(&[(rollup(), lv(11), h2), (rollup(), lv(10), h2)])
            .unwrap();
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].0, 1);
        let msg = conflicts[0].1.to_string();
        assert_eq!(
            msg,
            format!(
                "Refusing to sign commitment {h2} for inbox level 10: commitment {h1} was already signed for that level"
            )
        );
        assert_eq!(
            s.conflicts(&[(rollup(), lv(10), h2), (rollup(), lv(10), h1)])
                .unwrap()
                .len(),
            1
        );
        // Nothing recorded for level 11 when the batch was refused.
        assert_eq!(s.signed_commitment(&rollup(), lv(11)).unwrap(), None);
        assert_eq!(s.signed_commitment(&rollup(), lv(10)).unwrap(), Some(h1));
    }
}
