//! Sluice's storage: the append-only event log (the source of truth) and the state derived from
//! it (leads, accounts, identities, stage history), plus models, write keys and outcomes.
//!
//! One type, [`Store`], serves both engines through sqlx's `Any` driver: SQLite, the embedded
//! default, and PostgreSQL, for production. The SQL is the subset both run (`$n` placeholders,
//! `ON CONFLICT`, `RETURNING`); what differs (column types, connection settings) lives in each
//! engine's migrations under `migrations/` and in [`Backend`]. The same storage scenario runs
//! against both in the tests.

mod facts;
mod governance;
mod handoff;
mod reports;
mod rows;
mod state;
#[cfg(feature = "testing")]
pub mod testing;
mod trust;
mod webhooks;

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

pub use facts::*;
pub use governance::*;
pub use handoff::*;
pub use reports::*;
pub use rows::*;
pub use state::*;
pub use trust::*;
pub use webhooks::*;

/// Which database engine a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, in a file: nothing to install.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// What went wrong in storage.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one Sluice knows.
    #[error("unsupported database URL `{0}` (use sqlite://PATH or postgres://USER@HOST/DB)")]
    Url(String),
    /// The database refused or failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration {version} failed: {source}")]
    Migration {
        /// Which.
        version: &'static str,
        /// Why.
        source: sqlx::Error,
    },
    /// A stored value is not what it should be.
    #[error("corrupt stored value in {table}.{column}: {message}")]
    Corrupt {
        /// Table.
        table: &'static str,
        /// Column.
        column: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Result of a storage call.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Migrations per engine, embedded in the binary, applied in order at start.
const MIGRATIONS: &[(&str, &str, &str)] = &[
    (
        "0001_init",
        include_str!("../migrations/sqlite/0001_init.sql"),
        include_str!("../migrations/postgres/0001_init.sql"),
    ),
    (
        "0002_handoff",
        include_str!("../migrations/sqlite/0002_handoff.sql"),
        include_str!("../migrations/postgres/0002_handoff.sql"),
    ),
    (
        "0003_webhooks",
        include_str!("../migrations/sqlite/0003_webhooks.sql"),
        include_str!("../migrations/postgres/0003_webhooks.sql"),
    ),
    (
        "0004_state",
        include_str!("../migrations/sqlite/0004_state.sql"),
        include_str!("../migrations/postgres/0004_state.sql"),
    ),
    (
        "0005_facts",
        include_str!("../migrations/sqlite/0005_facts.sql"),
        include_str!("../migrations/postgres/0005_facts.sql"),
    ),
    (
        "0006_changes",
        include_str!("../migrations/sqlite/0006_changes.sql"),
        include_str!("../migrations/postgres/0006_changes.sql"),
    ),
    (
        "0007_trust",
        include_str!("../migrations/sqlite/0007_trust.sql"),
        include_str!("../migrations/postgres/0007_trust.sql"),
    ),
    (
        "0008_governance",
        include_str!("../migrations/sqlite/0008_governance.sql"),
        include_str!("../migrations/postgres/0008_governance.sql"),
    ),
    (
        "0009_feature_catalogue",
        include_str!("../migrations/sqlite/0009_feature_catalogue.sql"),
        include_str!("../migrations/postgres/0009_feature_catalogue.sql"),
    ),
    (
        "0010_no_credentials_in_events",
        include_str!("../migrations/sqlite/0010_no_credentials_in_events.sql"),
        include_str!("../migrations/postgres/0010_no_credentials_in_events.sql"),
    ),
    (
        "0011_assignments_by_rep",
        include_str!("../migrations/sqlite/0011_assignments_by_rep.sql"),
        include_str!("../migrations/postgres/0011_assignments_by_rep.sql"),
    ),
];

/// Rows per multi-row `INSERT`, well under both engines' parameter limits.
pub(crate) const CHUNK: usize = 400;

/// A connection pool to Sluice's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The catalogue ids of report features met so far (they never change).
    features: std::sync::Arc<std::sync::Mutex<facts::FeatureCache>>,
    /// Dropped with the last clone: background work on the pool ends then.
    alive: std::sync::Arc<()>,
}

/// How often SQLite's write-ahead log is checkpointed in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

impl Store {
    /// Connects (creating a SQLite file if needed) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Store> {
        Self::connect_with(url, true).await
    }

    /// [`Store::connect`] for a bulk load into a new database (`sluice import company`): a
    /// commit returns before it is on disk, so a crash may lose or damage what the load wrote
    /// (the load is started again on a fresh database). [`Store::flush`] puts it on disk.
    pub async fn connect_bulk(url: &str) -> Result<Store> {
        Self::connect_with(url, false).await
    }

    /// Puts everything committed on disk (after [`Store::connect_bulk`]).
    pub async fn flush(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("PRAGMA synchronous = FULL")
                .execute(&mut *conn)
                .await?;
            sqlx::query("PRAGMA wal_checkpoint(FULL)")
                .execute(&mut *conn)
                .await?;
        } else {
            // A durable commit flushes the log up to it, and so every commit before it.
            let mut conn = self.pool.acquire().await?;
            sqlx::query("SET synchronous_commit = on")
                .execute(&mut *conn)
                .await?;
            sqlx::query("BEGIN").execute(&mut *conn).await?;
            sqlx::query("SELECT txid_current()")
                .execute(&mut *conn)
                .await?;
            sqlx::query("COMMIT").execute(&mut *conn).await?;
        }
        Ok(())
    }

    async fn connect_with(url: &str, durable: bool) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let (backend, url) = if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let mode = if path.contains('?') { "" } else { "?mode=rwc" };
            (Backend::Sqlite, format!("sqlite://{path}{mode}"))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_string())
        } else {
            return Err(StoreError::Url(url.to_string()));
        };
        let options = AnyPoolOptions::new().acquire_timeout(Duration::from_secs(10));
        let pool = match backend {
            // Durable: a commit is on disk when it returns. WAL lets readers run beside the
            // one writer; the busy timeout covers the moments they meet. Deleted content is
            // overwritten, so an erased person leaves nothing in the file. A page cache of
            // 32 MB holds a group commit's pages (the default 2 MB spills them to the log
            // before the commit and reads them back), and statement journals stay in memory.
            // Checkpoints (copying the log
            // into the file) run in the background (`checkpoints`), so the commit that fills
            // the log (16 MB) finds it copied already and only restarts it.
            Backend::Sqlite => {
                options
                    .max_connections(4)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA secure_delete = ON; PRAGMA cache_size = -32768; PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 4000; PRAGMA journal_size_limit = 67108864;")
                                .await?;
                            if !durable {
                                conn.execute("PRAGMA synchronous = OFF").await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
            Backend::Postgres => {
                options
                    .max_connections(10)
                    .after_connect(move |conn, _| {
                        Box::pin(async move {
                            if !durable {
                                conn.execute("SET synchronous_commit = off").await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&url)
                    .await?
            }
        };
        let store = Store {
            pool,
            backend,
            features: Default::default(),
            alive: Default::default(),
        };
        store.migrate().await?;
        if backend == Backend::Sqlite {
            store.checkpoints();
        }
        Ok(store)
    }

    /// Checkpoints SQLite's write-ahead log every [`CHECKPOINT_EVERY`] on a connection of its
    /// own, beside the writer (`PASSIVE`: it waits for nobody), until every clone of this store
    /// is dropped. The commit that fills the log then finds it copied into the database file
    /// already, and only restarts it.
    fn checkpoints(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.pool.clone();
        let alive = std::sync::Arc::downgrade(&self.alive);
        runtime.spawn(async move {
            let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                if alive.strong_count() == 0 || pool.is_closed() {
                    return;
                }
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await
                {
                    tracing::debug!(error = %e, "checkpoint failed; trying again later");
                }
            }
        });
    }

    /// The engine.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::query("CREATE TABLE IF NOT EXISTS sluice_migrations (version TEXT PRIMARY KEY, applied_ms BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        for (version, sqlite, postgres) in MIGRATIONS {
            let done = sqlx::query("SELECT 1 FROM sluice_migrations WHERE version = $1")
                .bind(*version)
                .fetch_optional(&self.pool)
                .await?;
            if done.is_some() {
                continue;
            }
            let sql = match self.backend {
                Backend::Sqlite => sqlite,
                Backend::Postgres => postgres,
            };
            let fail = |source| StoreError::Migration { version, source };
            let mut tx = self.pool.begin().await?;
            sqlx::raw_sql(sql).execute(&mut *tx).await.map_err(fail)?;
            sqlx::query("INSERT INTO sluice_migrations (version, applied_ms) VALUES ($1, $2)")
                .bind(*version)
                .bind(0i64)
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
            tx.commit().await.map_err(fail)?;
            tracing::info!(version, "applied migration");
        }
        self.hash_plain_write_keys().await
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// Starts a transaction: what it writes is all stored on commit, or none of it.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(Tx {
            tx: self.pool.begin().await?,
            backend: self.backend,
        })
    }

    /// Events with a sequence number above `after`, oldest first (for replays).
    pub async fn events_after(&self, after: i64, limit: i64) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(StoredEvent::from_row).collect()
    }

    /// The events sent under any of `ids` (a lead's user id and aliases), newest first.
    pub async fn events_for(
        &self,
        ids: &[String],
        limit: i64,
        before_seq: Option<i64>,
    ) -> Result<Vec<StoredEvent>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = placeholders(1, ids.len());
        let n = ids.len();
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE (user_id IN ({list}) OR anonymous_id IN ({list2})) \
             AND seq < ${p1} ORDER BY seq DESC LIMIT ${p2}",
            list2 = placeholders(n + 1, n),
            p1 = 2 * n + 1,
            p2 = 2 * n + 2,
        );
        let mut query = sqlx::query(&sql);
        for id in ids.iter().chain(ids) {
            query = query.bind(id.as_str());
        }
        let rows = query
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(StoredEvent::from_row).collect()
    }

    /// How many events are stored.
    pub async fn event_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// One lead.
    pub async fn lead(&self, id: &str) -> Result<Option<LeadRow>> {
        let row = sqlx::query(&format!("SELECT {LEAD_COLUMNS} FROM leads WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(LeadRow::from_row).transpose()
    }

    /// Leads matching a filter, one page at a time.
    pub async fn leads(&self, filter: &LeadFilter) -> Result<Page<LeadRow>> {
        let mut sql = format!("SELECT {LEAD_COLUMNS} FROM leads WHERE 1 = 1");
        let mut binds: Vec<Bind> = Vec::new();
        let mut push = |clause: &str, bind: Bind, sql: &mut String| {
            binds.push(bind);
            sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
        };
        if let Some(stage) = filter.stage {
            push(
                " AND stage = ?",
                Bind::Text(stage.as_str().to_string()),
                &mut sql,
            );
        }
        if let Some(grade) = &filter.grade {
            push(" AND grade = ?", Bind::Text(grade.clone()), &mut sql);
        }
        if let Some(min) = filter.min_score {
            push(" AND score >= ?", Bind::Float(min), &mut sql);
        }
        if let Some(max) = filter.max_score {
            push(" AND score <= ?", Bind::Float(max), &mut sql);
        }
        if let Some(owner) = &filter.owner {
            push(" AND owner = ?", Bind::Text(owner.clone()), &mut sql);
        }
        if let Some(team) = &filter.team {
            push(
                " AND (owner IN (SELECT id FROM reps WHERE team_id = ?)",
                Bind::Text(team.clone()),
                &mut sql,
            );
            push(
                " OR id IN (SELECT lead_id FROM assignments WHERE team_id = ?))",
                Bind::Text(team.clone()),
                &mut sql,
            );
        }
        if let Some(account) = &filter.account {
            push(" AND account_id = ?", Bind::Text(account.clone()), &mut sql);
        }
        if let Some(since) = filter.updated_since {
            push(" AND updated_ms >= ?", Bind::Int(since), &mut sql);
        }
        let (key_column, order) = match filter.sort {
            LeadSort::Score => ("score", "score DESC, id ASC"),
            LeadSort::Updated => ("updated_ms", "updated_ms DESC, id ASC"),
        };
        if let Some(cursor) = &filter.cursor {
            let (key, id) = Cursor::decode(cursor)?;
            let key_bind = match filter.sort {
                LeadSort::Score => Bind::Float(key),
                LeadSort::Updated => Bind::Int(key as i64),
            };
            push(
                &format!(" AND ({key_column} < ?"),
                key_bind.clone(),
                &mut sql,
            );
            push(&format!(" OR ({key_column} = ?"), key_bind, &mut sql);
            push(" AND id > ?))", Bind::Text(id), &mut sql);
        }
        let limit = filter.limit.clamp(1, 1000);
        sql.push_str(&format!(" ORDER BY {order} LIMIT {}", limit + 1));
        let mut query = sqlx::query(&sql);
        for bind in &binds {
            query = bind.apply(query);
        }
        let rows = query.fetch_all(&self.pool).await?;
        let mut items: Vec<LeadRow> = rows.iter().map(LeadRow::from_row).collect::<Result<_>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|last| {
                let key = match filter.sort {
                    LeadSort::Score => last.score,
                    LeadSort::Updated => last.updated_ms as f64,
                };
                Cursor::encode(key, &last.id)
            })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Every lead, ordered by id, a page at a time (for start-up).
    pub async fn leads_after(&self, after_id: &str, limit: i64) -> Result<Vec<LeadRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {LEAD_COLUMNS} FROM leads WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(LeadRow::from_row).collect()
    }

    /// One account.
    pub async fn account(&self, id: &str) -> Result<Option<AccountRow>> {
        let row = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(AccountRow::from_row).transpose()
    }

    /// Accounts by score, one page at a time.
    pub async fn accounts(&self, limit: i64, cursor: Option<&str>) -> Result<Page<AccountRow>> {
        let limit = limit.clamp(1, 1000);
        let rows = match cursor {
            Some(cursor) => {
                let (score, id) = Cursor::decode(cursor)?;
                sqlx::query(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE (score < $1 OR (score = $2 AND id > $3)) \
                     ORDER BY score DESC, id ASC LIMIT $4"
                ))
                .bind(score)
                .bind(score)
                .bind(id)
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
            None => {
                sqlx::query(&format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY score DESC, id ASC LIMIT $1"
                ))
                .bind(limit + 1)
                .fetch_all(&self.pool)
                .await?
            }
        };
        let mut items: Vec<AccountRow> = rows
            .iter()
            .map(AccountRow::from_row)
            .collect::<Result<_>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|a| Cursor::encode(a.score, &a.id))
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Every account, ordered by id, a page at a time (for start-up).
    pub async fn accounts_after(&self, after_id: &str, limit: i64) -> Result<Vec<AccountRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(AccountRow::from_row).collect()
    }

    /// Every known alias (email, anonymous id, earlier id) and the lead it names.
    pub async fn identities(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT alias, lead_id FROM identities")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<String, _>(1)?)))
            .collect()
    }

    /// The aliases of one lead.
    pub async fn aliases_of(&self, lead_id: &str) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT alias FROM identities WHERE lead_id = $1 ORDER BY alias")
            .bind(lead_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>(0)?))
            .collect()
    }

    /// A lead's stage history, oldest first.
    pub async fn history(&self, lead_id: &str) -> Result<Vec<TransitionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {TRANSITION_COLUMNS} FROM transitions WHERE lead_id = $1 ORDER BY seq"
        ))
        .bind(lead_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(TransitionRow::from_row).collect()
    }

    /// Stores a model version; with `activate`, makes it the only active one.
    pub async fn save_model(&self, model: &ModelRow) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.save_model(model).await?;
        tx.commit().await
    }

    /// One stored model version.
    pub async fn model(&self, version: &str) -> Result<Option<ModelRow>> {
        let row = sqlx::query(
            "SELECT version, name, source, created_ms, active FROM models WHERE version = $1",
        )
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(ModelRow::from_row).transpose()
    }

    /// The active model, if any.
    pub async fn active_model(&self) -> Result<Option<ModelRow>> {
        let row = sqlx::query(
            "SELECT version, name, source, created_ms, active FROM models WHERE active = 1",
        )
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(ModelRow::from_row).transpose()
    }

    /// Every stored model version, newest first.
    pub async fn models(&self) -> Result<Vec<ModelRow>> {
        let rows = sqlx::query("SELECT version, name, source, created_ms, active FROM models ORDER BY created_ms DESC, version DESC")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(ModelRow::from_row).collect()
    }

    /// A lead's outcomes, oldest first.
    pub async fn outcomes_of(&self, lead_id: &str) -> Result<Vec<OutcomeRow>> {
        let rows = sqlx::query("SELECT lead_id, kind, amount, at_ms, reason FROM outcomes WHERE lead_id = $1 ORDER BY at_ms, seq")
            .bind(lead_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(OutcomeRow::from_row).collect()
    }

    /// How many leads are in each stage.
    pub async fn stage_counts(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query("SELECT stage, COUNT(*) FROM leads GROUP BY stage ORDER BY stage")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
            .collect()
    }
}

/// A transaction: everything written through it lands together on [`Tx::commit`].
pub struct Tx {
    tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
}

impl Tx {
    /// Appends events, skipping any whose `message_id` is already stored; returns the
    /// `message_id`s that were new.
    pub async fn append(&mut self, events: &[NewEvent]) -> Result<HashSet<String>> {
        let mut new = HashSet::with_capacity(events.len());
        for chunk in events.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO events (message_id, kind, user_id, anonymous_id, at_ms, received_ms, source, message) VALUES {} \
                 ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
                rows_placeholders(self.backend, chunk.len(), 8)
            );
            let mut query = sqlx::query(&sql);
            for e in chunk {
                query = query
                    .bind(e.message_id.as_str())
                    .bind(e.kind.as_str())
                    .bind(e.user_id.as_deref())
                    .bind(e.anonymous_id.as_deref())
                    .bind(e.at_ms)
                    .bind(e.received_ms)
                    .bind(e.source.as_str())
                    .bind(e.message.as_str());
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                new.insert(row.try_get::<String, _>(0)?);
            }
        }
        Ok(new)
    }

    /// Inserts or replaces leads.
    pub async fn upsert_leads(&mut self, leads: &[LeadRow]) -> Result<()> {
        for chunk in leads.chunks(CHUNK / 2) {
            let sql = format!(
                "INSERT INTO leads ({LEAD_COLUMNS}) VALUES {} ON CONFLICT (id) DO UPDATE SET \
                 attributes = excluded.attributes, account_id = excluded.account_id, stage = excluded.stage, \
                 score = excluded.score, fit = excluded.fit, engagement = excluded.engagement, \
                 grade = excluded.grade, qualification = excluded.qualification, scored = excluded.scored, \
                 model_version = excluded.model_version, updated_ms = excluded.updated_ms, \
                 last_event_ms = excluded.last_event_ms",
                rows_placeholders(self.backend, chunk.len(), 15)
            );
            let mut query = sqlx::query(&sql);
            for l in chunk {
                query = l.bind(query);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Inserts or replaces accounts.
    pub async fn upsert_accounts(&mut self, accounts: &[AccountRow]) -> Result<()> {
        for chunk in accounts.chunks(CHUNK / 2) {
            let sql = format!(
                "INSERT INTO accounts ({ACCOUNT_COLUMNS}) VALUES {} ON CONFLICT (id) DO UPDATE SET \
                 attributes = excluded.attributes, score = excluded.score, fit = excluded.fit, \
                 engagement = excluded.engagement, qualified = excluded.qualified, scored = excluded.scored, \
                 updated_ms = excluded.updated_ms",
                rows_placeholders(self.backend, chunk.len(), 8)
            );
            let mut query = sqlx::query(&sql);
            for a in chunk {
                query = a.bind(query);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Records aliases: `alias` names `lead_id` from now on.
    pub async fn upsert_identities(&mut self, identities: &[(String, String, i64)]) -> Result<()> {
        for chunk in identities.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO identities (alias, lead_id, at_ms) VALUES {} \
                 ON CONFLICT (alias) DO UPDATE SET lead_id = excluded.lead_id, at_ms = excluded.at_ms",
                rows_placeholders(self.backend, chunk.len(), 3)
            );
            let mut query = sqlx::query(&sql);
            for (alias, lead, at) in chunk {
                query = query.bind(alias.as_str()).bind(lead.as_str()).bind(*at);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Stores a model version; with `active`, makes it the only active one. Storing a version
    /// without activating it never deactivates it.
    pub async fn save_model(&mut self, model: &ModelRow) -> Result<()> {
        if model.active {
            sqlx::query("UPDATE models SET active = 0")
                .execute(&mut *self.tx)
                .await?;
        }
        let conflict = if model.active {
            "DO UPDATE SET active = 1"
        } else {
            "DO NOTHING"
        };
        sqlx::query(&format!(
            "INSERT INTO models (version, name, source, created_ms, active) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (version) {conflict}"
        ))
        .bind(&model.version)
        .bind(&model.name)
        .bind(&model.source)
        .bind(model.created_ms)
        .bind(i32::from(model.active))
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Deletes leads (merged into others); their stage history stays.
    pub async fn delete_leads(&mut self, ids: &[String]) -> Result<()> {
        for id in ids {
            sqlx::query("DELETE FROM leads WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Records stage transitions.
    pub async fn insert_transitions(&mut self, transitions: &[TransitionRow]) -> Result<()> {
        for chunk in transitions.chunks(CHUNK / 2) {
            let sql = format!(
                "INSERT INTO transitions (lead_id, from_stage, to_stage, at_ms, actor, reason, model_version, detail) VALUES {}",
                rows_placeholders(self.backend, chunk.len(), 8)
            );
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = t.bind(query);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Records outcomes, skipping exact repeats; returns how many were new.
    pub async fn insert_outcomes(&mut self, outcomes: &[OutcomeRow]) -> Result<u64> {
        let mut new = 0;
        for chunk in outcomes.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO outcomes (lead_id, kind, amount, at_ms, reason) VALUES {} \
                 ON CONFLICT (lead_id, kind, at_ms) DO NOTHING",
                rows_placeholders(self.backend, chunk.len(), 5)
            );
            let mut query = sqlx::query(&sql);
            for o in chunk {
                query = query
                    .bind(o.lead_id.as_str())
                    .bind(o.kind.as_str())
                    .bind(o.amount)
                    .bind(o.at_ms)
                    .bind(o.reason.as_deref());
            }
            new += query.execute(&mut *self.tx).await?.rows_affected();
        }
        let leads: Vec<String> = outcomes.iter().map(|o| o.lead_id.clone()).collect();
        self.mark_facts(&leads).await?;
        Ok(new)
    }

    /// Makes everything written so far durable, together.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// `$from, $from+1, ...` for `n` values.
pub(crate) fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `($1, ..., $w), ($w+1, ...)` for `rows` rows of `width` values; on SQLite plain `?`, bound
/// in order: SQLite looks each named parameter up in a list, which makes `$n` cost quadratic
/// time in a statement of thousands of values.
pub(crate) fn rows_placeholders(backend: Backend, rows: usize, width: usize) -> String {
    let row = |r: usize| match backend {
        Backend::Postgres => format!("({})", placeholders(r * width + 1, width)),
        Backend::Sqlite => format!("({})", vec!["?"; width].join(", ")),
    };
    (0..rows).map(row).collect::<Vec<_>>().join(", ")
}

/// A value to bind to a dynamically built query.
#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    Float(f64),
    Int(i64),
}

impl Bind {
    fn apply<'q>(
        &'q self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
        match self {
            Bind::Text(s) => query.bind(s.as_str()),
            Bind::Float(f) => query.bind(*f),
            Bind::Int(i) => query.bind(*i),
        }
    }
}

/// Keyset pagination cursors: the sort key and id of the last item, as opaque text.
struct Cursor;

impl Cursor {
    fn encode(key: f64, id: &str) -> String {
        format!("{key}~{id}")
    }

    fn decode(cursor: &str) -> Result<(f64, String)> {
        let bad = || StoreError::Corrupt {
            table: "cursor",
            column: "cursor",
            message: format!("`{cursor}` is not a cursor returned by this API"),
        };
        let (key, id) = cursor.split_once('~').ok_or_else(bad)?;
        Ok((f64::from_str(key).map_err(|_| bad())?, id.to_string()))
    }
}

/// Whether an error is a bad cursor from the caller (not a storage failure).
pub fn is_bad_cursor(e: &StoreError) -> bool {
    matches!(
        e,
        StoreError::Corrupt {
            table: "cursor",
            ..
        }
    )
}

fn text(row: &AnyRow, column: &'static str) -> Result<String> {
    Ok(row.try_get::<String, _>(column)?)
}
