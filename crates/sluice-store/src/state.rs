//! The durable scoring state: one row per id the event log names (its links, traits, account
//! and the engagement rules its events matched), and account traits with their set times.
//! The writer keeps them current in the same transaction as the events, so scoring a lead,
//! starting the service or rescoring never replays the log.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::rows::{EVENT_COLUMNS, LEAD_COLUMNS};
use crate::{
    Backend, CHUNK, LeadRow, Result, Store, StoredEvent, Tx, placeholders, rows_placeholders,
};

/// What the event log says about one id. The service encodes `traits` and `hits`; storage
/// keeps them as text.
#[derive(Debug, Clone, PartialEq)]
pub struct TrailRow {
    /// The id (a `userId`, an `anonymousId`, an email).
    pub id: String,
    /// The lead or visitor it stands for.
    pub root: String,
    /// The id it is linked to, and since when.
    pub link: Option<(String, i64)>,
    /// Whether it was sent as a `userId`.
    pub user: bool,
    /// The first message naming it as a `userId`.
    pub first_seen: Option<i64>,
    /// Its latest event.
    pub last_event: Option<i64>,
    /// Its traits with their set times (JSON).
    pub traits: String,
    /// Its latest `group` call: the account, and when.
    pub group: Option<(String, i64)>,
    /// The engagement rules its events matched (encoded by the service).
    pub hits: String,
    /// The model version the hits were matched under.
    pub model_version: String,
    /// The first UTM campaign its messages carried: when, and the campaign (JSON).
    pub first_touch: Option<String>,
    /// When each event name and engagement rule was first seen (JSON, for reports).
    pub seen: String,
}

/// What the reports read of a trail.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportTrail {
    /// The id.
    pub id: String,
    /// The lead it stands for.
    pub root: String,
    /// Its traits with their set times (JSON).
    pub traits: String,
    /// Its first UTM campaign (JSON).
    pub first_touch: Option<String>,
    /// When each event name and rule was first seen (JSON).
    pub seen: String,
}

const TRAIL_COLUMNS: &str = "id, root, link_to, link_at, is_user, first_seen, last_event, traits, \
     group_id, group_at, hits, model_version, first_touch, seen";

impl TrailRow {
    fn from_row(row: &AnyRow) -> Result<Self> {
        let link_to: Option<String> = row.try_get("link_to")?;
        let link_at: Option<i64> = row.try_get("link_at")?;
        let group_id: Option<String> = row.try_get("group_id")?;
        let group_at: Option<i64> = row.try_get("group_at")?;
        Ok(TrailRow {
            id: row.try_get("id")?,
            root: row.try_get("root")?,
            link: link_to.zip(link_at),
            user: row.try_get::<i32, _>("is_user")? != 0,
            first_seen: row.try_get("first_seen")?,
            last_event: row.try_get("last_event")?,
            traits: row.try_get("traits")?,
            group: group_id.zip(group_at),
            hits: row.try_get("hits")?,
            model_version: row.try_get("model_version")?,
            first_touch: row.try_get("first_touch")?,
            seen: row.try_get("seen")?,
        })
    }
}

impl Store {
    /// The trails of these ids (those that exist).
    pub async fn trails(&self, ids: &[String]) -> Result<Vec<TrailRow>> {
        self.trails_where("id", ids).await
    }

    /// Every trail standing for one of these roots.
    pub async fn trails_of_roots(&self, roots: &[String]) -> Result<Vec<TrailRow>> {
        self.trails_where("root", roots).await
    }

    async fn trails_where(&self, column: &str, values: &[String]) -> Result<Vec<TrailRow>> {
        let mut out = Vec::new();
        for chunk in values.chunks(CHUNK) {
            let sql = format!(
                "SELECT {TRAIL_COLUMNS} FROM trails WHERE {column} IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(TrailRow::from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Trails in id order, one page after `after`, with what the reports read.
    pub async fn report_trails_after(&self, after: &str, limit: i64) -> Result<Vec<ReportTrail>> {
        let rows = sqlx::query(
            "SELECT id, root, traits, first_touch, seen FROM trails WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReportTrail {
                    id: r.try_get("id")?,
                    root: r.try_get("root")?,
                    traits: r.try_get("traits")?,
                    first_touch: r.try_get("first_touch")?,
                    seen: r.try_get("seen")?,
                })
            })
            .collect()
    }

    /// The first touch of every trail that has one, in id order, a page after `after`:
    /// (id, root, first touch as JSON).
    pub async fn first_touches_after(
        &self,
        after: &str,
        limit: i64,
    ) -> Result<Vec<(String, String, String)>> {
        let rows = sqlx::query(
            "SELECT id, root, first_touch FROM trails WHERE first_touch IS NOT NULL AND id > $1 \
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect()
    }

    /// How many trails are stored (none in a database written before they existed).
    pub async fn trail_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM trails")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// The leads with these ids.
    pub async fn leads_by_id(&self, ids: &[String]) -> Result<Vec<LeadRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {LEAD_COLUMNS} FROM leads WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(LeadRow::from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Lead ids in order, one page after `after`.
    pub async fn lead_ids_after(&self, after: &str, limit: i64) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT id FROM leads WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    /// How many leads are stored.
    pub async fn lead_count(&self) -> Result<i64> {
        Ok(sqlx::query("SELECT COUNT(*) FROM leads")
            .fetch_one(&self.pool)
            .await?
            .try_get(0)?)
    }

    /// How many leads were last scored by a model other than `version`.
    pub async fn leads_scored_by_other(&self, version: &str) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM leads WHERE model_version <> $1")
                .bind(version)
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// The leads of these accounts, with their engagement: (account, lead, engagement).
    pub async fn account_members(&self, accounts: &[String]) -> Result<Vec<(String, String, f64)>> {
        let mut out = Vec::new();
        for chunk in accounts.chunks(CHUNK) {
            let sql = format!(
                "SELECT account_id, id, engagement FROM leads WHERE account_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
            }
        }
        Ok(out)
    }

    /// Account traits with their set times (JSON), by account.
    pub async fn account_traits(&self, accounts: &[String]) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for chunk in accounts.chunks(CHUNK) {
            let sql = format!(
                "SELECT id, traits FROM account_traits WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push((row.try_get(0)?, row.try_get(1)?));
            }
        }
        Ok(out)
    }

    /// The latest engagement reset (a recycle that resets engagement) of each of these leads.
    pub async fn recycle_resets_of(&self, leads: &[String]) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        for chunk in leads.chunks(CHUNK) {
            let sql = format!(
                "SELECT lead_id, MAX(at_ms) AS at_ms FROM transitions \
                 WHERE to_stage = 'recycled' AND detail LIKE '%\"reset\":\"engagement\"%' \
                 AND lead_id IN ({}) GROUP BY lead_id",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push((row.try_get("lead_id")?, row.try_get("at_ms")?));
            }
        }
        Ok(out)
    }

    /// The events each of these ids sent as its own: its `userId`, or its `anonymousId` when
    /// the message has no `userId` (as the history pipeline files them), oldest first.
    pub async fn events_of_trails(&self, ids: &[String]) -> Result<Vec<StoredEvent>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK / 2) {
            let n = chunk.len();
            let sql = format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE user_id IN ({}) \
                 OR (user_id IS NULL AND anonymous_id IN ({})) ORDER BY seq",
                placeholders(1, n),
                placeholders(n + 1, n)
            );
            let mut query = sqlx::query(&sql);
            for v in chunk.iter().chain(chunk) {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(StoredEvent::from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// The leads whose attribute `key` has this value (as text), e.g. a CRM id.
    pub async fn leads_with_attribute(&self, key: &str, value: &str) -> Result<Vec<String>> {
        let sql = match self.backend {
            Backend::Sqlite => {
                "SELECT id FROM leads WHERE CAST(json_extract(attributes, $1) AS TEXT) = $2 ORDER BY id"
            }
            Backend::Postgres => {
                "SELECT id FROM leads WHERE (attributes::jsonb ->> $1) = $2 ORDER BY id"
            }
        };
        let path = match self.backend {
            Backend::Sqlite => format!("$.\"{}\"", key.replace('"', "")),
            Backend::Postgres => key.to_string(),
        };
        let rows = sqlx::query(sql)
            .bind(path)
            .bind(value)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

impl Tx {
    /// Inserts or replaces trails.
    pub async fn upsert_trails(&mut self, trails: &[TrailRow]) -> Result<()> {
        for chunk in trails.chunks(CHUNK / 4) {
            let sql = format!(
                "INSERT INTO trails ({TRAIL_COLUMNS}) VALUES {} ON CONFLICT (id) DO UPDATE SET \
                 root = excluded.root, link_to = excluded.link_to, link_at = excluded.link_at, \
                 is_user = excluded.is_user, first_seen = excluded.first_seen, \
                 last_event = excluded.last_event, traits = excluded.traits, \
                 group_id = excluded.group_id, group_at = excluded.group_at, hits = excluded.hits, \
                 model_version = excluded.model_version, first_touch = excluded.first_touch, \
                 seen = excluded.seen",
                rows_placeholders(self.backend, chunk.len(), 14)
            );
            let mut query = sqlx::query(&sql);
            for t in chunk {
                query = query
                    .bind(t.id.as_str())
                    .bind(t.root.as_str())
                    .bind(t.link.as_ref().map(|l| l.0.as_str()))
                    .bind(t.link.as_ref().map(|l| l.1))
                    .bind(i32::from(t.user))
                    .bind(t.first_seen)
                    .bind(t.last_event)
                    .bind(t.traits.as_str())
                    .bind(t.group.as_ref().map(|g| g.0.as_str()))
                    .bind(t.group.as_ref().map(|g| g.1))
                    .bind(t.hits.as_str())
                    .bind(t.model_version.as_str())
                    .bind(t.first_touch.as_deref())
                    .bind(t.seen.as_str());
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Inserts or replaces account traits (JSON with set times).
    pub async fn upsert_account_traits(&mut self, accounts: &[(String, String)]) -> Result<()> {
        for chunk in accounts.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO account_traits (id, traits) VALUES {} \
                 ON CONFLICT (id) DO UPDATE SET traits = excluded.traits",
                rows_placeholders(self.backend, chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for (id, traits) in chunk {
                query = query.bind(id.as_str()).bind(traits.as_str());
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}

/// State changes kept for processes that have not caught up yet.
const KEEP_CHANGES: i64 = 20_000;

impl Store {
    /// The position of the latest recorded state change (0 if none).
    pub async fn last_state_change(&self) -> Result<i64> {
        let row = sqlx::query("SELECT MAX(seq) FROM state_changes")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?.unwrap_or(0))
    }
}

impl Tx {
    /// Takes the lock every commit that changes the scoring state holds, until this
    /// transaction ends: the commits of all processes on the database happen one at a time, and
    /// each reads the others' changes first. On PostgreSQL an advisory lock; on SQLite the
    /// database's write lock.
    pub async fn lock_state(&mut self) -> Result<()> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT pg_advisory_xact_lock(7316455820)",
            Backend::Sqlite => "UPDATE state_changes SET changed = changed WHERE 0 = 1",
        };
        sqlx::query(sql).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// State changes recorded after `after`: (position, what changed as JSON), oldest first,
    /// and whether any were pruned before the caller could read them.
    pub async fn state_changes_after(&mut self, after: i64) -> Result<(Vec<(i64, String)>, bool)> {
        let rows =
            sqlx::query("SELECT seq, changed FROM state_changes WHERE seq > $1 ORDER BY seq")
                .bind(after)
                .fetch_all(&mut *self.tx)
                .await?;
        let changes: Vec<(i64, String)> = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect::<Result<_>>()?;
        let oldest: Option<i64> = sqlx::query("SELECT MIN(seq) FROM state_changes")
            .fetch_one(&mut *self.tx)
            .await?
            .try_get(0)?;
        let missed = oldest.is_some_and(|o| o > after + 1) && after > 0;
        Ok((changes, missed))
    }

    /// Records what this commit changes; returns its position. Prunes rows long read.
    pub async fn record_state_change(&mut self, changed: &str) -> Result<i64> {
        let row = sqlx::query("INSERT INTO state_changes (changed) VALUES ($1) RETURNING seq")
            .bind(changed)
            .fetch_one(&mut *self.tx)
            .await?;
        let seq: i64 = row.try_get(0)?;
        if seq % 1_000 == 0 {
            sqlx::query("DELETE FROM state_changes WHERE seq <= $1")
                .bind(seq - KEEP_CHANGES)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(seq)
    }
}
