//! Report facts: one row per lead with what the funnel and attribution reports count, kept
//! current from the changes the writer makes (see `migrations/*/0005_facts.sql`). Writers mark
//! a lead's row dirty in their own transaction; a rebuild stores a row only if nothing marked
//! it again meanwhile.

use std::collections::{BTreeMap, HashMap};

use sluice_core::analytics::FeatureKind;
use sqlx::Row;

use crate::reports::{ReportOutcome, StageMove, stage_move};
use crate::{Backend, CHUNK, Result, Store, StoreError, Tx, placeholders, rows_placeholders};

/// A lead's facts as rebuilt, to store if the lead was not marked again meanwhile.
#[derive(Debug, Clone, PartialEq)]
pub struct FactsRow {
    /// The lead.
    pub lead_id: String,
    /// The mark the rebuild started from.
    pub dirty: i64,
    /// When the lead was first seen.
    pub created_ms: i64,
    /// The model the facts were made under.
    pub model_version: String,
    /// The facts the funnel counts (JSON, encoded by the service).
    pub facts: String,
    /// The catalogue ids of the features attribution counts ([`Store::report_feature_ids`]).
    pub feature_ids: Vec<i64>,
}

/// Most values an attribute keeps in the catalogue of report features: far more than a report
/// measures (`AttributionSettings::max_values`), and few enough that identifiers (ids, emails,
/// names) stay out of it. A value beyond them is recorded as the attribute's overflow.
pub const ATTRIBUTE_VALUES: i64 = 500;

/// A feature attribution measures, as the catalogue of report features names it: an event
/// name, a rule id, or an attribute with its value. An attribute without a value is its
/// overflow: a value beyond the [`ATTRIBUTE_VALUES`] the catalogue keeps for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureKey {
    /// Its kind.
    pub kind: FeatureKind,
    /// The event name, rule id or attribute name.
    pub name: String,
    /// The attribute's value; none for the others, and for an attribute's overflow.
    pub value: Option<String>,
}

impl FeatureKey {
    /// How the catalogue stores the kind (overflows apart).
    fn code(&self) -> &'static str {
        match (self.kind, &self.value) {
            (FeatureKind::Event, _) => "e",
            (FeatureKind::EngagementRule, _) => "r",
            (FeatureKind::FitRule, _) => "x",
            (FeatureKind::Attribute, Some(_)) => "a",
            (FeatureKind::Attribute, None) => "o",
        }
    }

    /// The key stored as `code`, `name`, `value`.
    fn decode(code: &str, name: String, value: String) -> Option<FeatureKey> {
        let (kind, value) = match code {
            "e" => (FeatureKind::Event, None),
            "r" => (FeatureKind::EngagementRule, None),
            "x" => (FeatureKind::FitRule, None),
            "a" => (FeatureKind::Attribute, Some(value)),
            "o" => (FeatureKind::Attribute, None),
            _ => return None,
        };
        Some(FeatureKey { kind, name, value })
    }

    /// This attribute's overflow.
    pub fn overflow(name: &str) -> FeatureKey {
        FeatureKey {
            kind: FeatureKind::Attribute,
            name: name.to_string(),
            value: None,
        }
    }
}

/// A page of stored facts, as the reports read them: one line per lead (its facts, and with
/// features a tab and its features' catalogue ids, space-separated), packed by the database into one value so a page costs one
/// row, not thousands.
#[derive(Debug, Clone, PartialEq)]
pub struct FactsPage {
    /// The lines (the facts are JSON without raw tabs or newlines).
    pub lines: String,
    /// The page's last lead id (where the next page starts).
    pub last: String,
    /// How many leads it holds.
    pub count: i64,
}

impl Store {
    /// Up to `limit` leads whose facts need a rebuild, in id order after `after`, with their
    /// marks.
    pub async fn dirty_facts(&self, after: &str, limit: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT lead_id, dirty FROM lead_facts WHERE dirty > 0 AND lead_id > $1 \
             ORDER BY lead_id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// How many leads' facts wait for a rebuild.
    pub async fn dirty_fact_count(&self) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) FROM lead_facts WHERE dirty > 0")
                .fetch_one(&self.pool)
                .await?
                .try_get(0)?,
        )
    }

    /// Stores rebuilt facts, each only if its lead was not marked again since the rebuild
    /// read it, and drops the rows of `gone` leads (no longer stored: merged into another)
    /// on the same condition. Returns how many rows were stored or dropped.
    pub async fn put_facts(&self, rows: &[FactsRow], gone: &[(String, i64)]) -> Result<u64> {
        const PUT: &str = "UPDATE lead_facts SET dirty = 0, created_ms = $1, model_version = $2, \
             facts = $3, feature_ids = $4 WHERE lead_id = $5 AND dirty = $6";
        const DROP: &str = "DELETE FROM lead_facts WHERE lead_id = $1 AND dirty = $2";
        let put = |row: &'_ FactsRow| {
            sqlx::query(PUT)
                .bind(row.created_ms)
                .bind(row.model_version.clone())
                .bind(row.facts.clone())
                .bind(encode_ids(&row.feature_ids))
                .bind(row.lead_id.clone())
                .bind(row.dirty)
        };
        let mut done = 0;
        match self.backend {
            // One row at a time, each its own transaction: a rebuild never holds a row lock
            // while it waits for another, so it can neither deadlock with a writer marking rows
            // nor keep one waiting for more than a row.
            // Facts are derived, so they need no sync of their own: a crash loses at most a
            // rebuild, and its row stays marked. The setting stays on this connection, which is
            // closed afterwards rather than handed back to the pool.
            Backend::Postgres => {
                let mut conn = self.pool.acquire().await?;
                let result = async {
                    sqlx::query("SET synchronous_commit = off")
                        .execute(&mut *conn)
                        .await?;
                    for row in rows {
                        done += put(row).execute(&mut *conn).await?.rows_affected();
                    }
                    for (lead, dirty) in gone {
                        let query = sqlx::query(DROP).bind(lead.as_str()).bind(*dirty);
                        done += query.execute(&mut *conn).await?.rows_affected();
                    }
                    Ok::<_, StoreError>(())
                }
                .await;
                let _ = conn.close().await;
                result?;
            }
            // SQLite has one writer at a time: short transactions of a few rows, so the writer
            // never waits long for the lock. Facts are derived, so they need no sync of their
            // own (`synchronous = NORMAL`: a crash may lose a rebuild, whose row stays marked);
            // the connection is closed afterwards rather than handed back to the pool.
            Backend::Sqlite => {
                const ROWS_PER_COMMIT: usize = 100;
                let mut conn = self.pool.acquire().await?;
                let result = async {
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    for chunk in rows.chunks(ROWS_PER_COMMIT) {
                        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                        for row in chunk {
                            done += put(row).execute(&mut *tx).await?.rows_affected();
                        }
                        tx.commit().await?;
                    }
                    for chunk in gone.chunks(ROWS_PER_COMMIT) {
                        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                        for (lead, dirty) in chunk {
                            let query = sqlx::query(DROP).bind(lead.as_str()).bind(*dirty);
                            done += query.execute(&mut *tx).await?.rows_affected();
                        }
                        tx.commit().await?;
                    }
                    Ok::<_, StoreError>(())
                }
                .await;
                let _ = conn.close().await;
                result?;
            }
        }
        Ok(done)
    }

    /// Stored facts of leads first seen in `[from, to)` (either open), in id order, one page
    /// after `after`; with `features`, the attribution features too. `None` past the end.
    pub async fn facts_after(
        &self,
        after: &str,
        (from_ms, to_ms): (Option<i64>, Option<i64>),
        features: bool,
        limit: i64,
    ) -> Result<Option<FactsPage>> {
        // Pages follow the primary key: the period filters rows on the way (`+created_ms`
        // keeps SQLite from choosing the time index and sorting every page).
        let mut filter = String::new();
        let mut next = 2;
        for (bound, op) in [(from_ms, ">="), (to_ms, "<")] {
            if bound.is_some() {
                filter.push_str(&format!(" AND +created_ms {op} ${next}"));
                next += 1;
            }
        }
        let line = match (self.backend, features) {
            (Backend::Sqlite, false) => "group_concat(facts, char(10))",
            (Backend::Sqlite, true) => "group_concat(facts || char(9) || feature_ids, char(10))",
            (Backend::Postgres, false) => "string_agg(facts, E'\\n')",
            (Backend::Postgres, true) => "string_agg(facts || E'\\t' || feature_ids, E'\\n')",
        };
        // A rebuild writes a row's facts and feature ids together; an erased person's row
        // keeps its facts only, so the funnel counts it and attribution (no features) does not.
        let complete = match features {
            true => "facts IS NOT NULL AND feature_ids IS NOT NULL",
            false => "facts IS NOT NULL",
        };
        let sql = format!(
            "SELECT {line}, MAX(lead_id), COUNT(*) FROM (SELECT lead_id, facts, feature_ids \
             FROM lead_facts WHERE lead_id > $1 AND {complete}{filter} ORDER BY lead_id \
             LIMIT ${next}) AS page"
        );
        let mut query = sqlx::query(&sql).bind(after);
        for bound in [from_ms, to_ms].into_iter().flatten() {
            query = query.bind(bound);
        }
        let row = query.bind(limit).fetch_one(&self.pool).await?;
        let count: i64 = row.try_get(2)?;
        if count == 0 {
            return Ok(None);
        }
        Ok(Some(FactsPage {
            lines: row.try_get(0)?,
            last: row.try_get(1)?,
            count,
        }))
    }

    /// The stage moves recorded under these lead ids, oldest first.
    pub async fn stage_moves_of(&self, leads: &[String]) -> Result<Vec<StageMove>> {
        let grade = self.grade_of_detail();
        let mut out = Vec::new();
        for chunk in leads.chunks(CHUNK) {
            let sql = format!(
                "SELECT seq, lead_id, to_stage, at_ms, model_version, \
                 CASE WHEN to_stage = 'mql' THEN CAST({grade} AS TEXT) ELSE NULL END AS grade \
                 FROM transitions WHERE lead_id IN ({}) ORDER BY seq",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(stage_move(&row)?);
            }
        }
        Ok(out)
    }

    /// The outcomes recorded under these lead ids, oldest first.
    pub async fn outcomes_of_leads(&self, leads: &[String]) -> Result<Vec<ReportOutcome>> {
        let mut out = Vec::new();
        for chunk in leads.chunks(CHUNK) {
            let sql = format!(
                "SELECT seq, lead_id, kind, amount, at_ms FROM outcomes WHERE lead_id IN ({}) \
                 ORDER BY seq",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for r in query.fetch_all(&self.pool).await? {
                out.push(ReportOutcome {
                    seq: r.try_get("seq")?,
                    lead_id: r.try_get("lead_id")?,
                    kind: r.try_get("kind")?,
                    amount: r.try_get("amount")?,
                    at_ms: r.try_get("at_ms")?,
                });
            }
        }
        Ok(out)
    }

    /// Which of these lead ids have at least one activity.
    pub async fn contacted_of(&self, leads: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in leads.chunks(CHUNK) {
            let sql = format!(
                "SELECT DISTINCT lead_id FROM activities WHERE lead_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for r in query.fetch_all(&self.pool).await? {
                out.push(r.try_get(0)?);
            }
        }
        Ok(out)
    }
}

impl Tx {
    /// Deletes from the catalogue of report features the attribute values among `ids` (a
    /// lead's stored feature ids, already deleted with its facts row) that no other lead's
    /// facts show: an erased person's email or name. Returns how many were deleted.
    pub async fn forget_own_features(&mut self, ids: &str) -> Result<u64> {
        let ids: Vec<i64> = ids.split(' ').filter_map(|id| id.parse().ok()).collect();
        if ids.is_empty() {
            return Ok(0);
        }
        let mut values = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT id FROM report_features WHERE kind = 'a' AND id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                values.push(row.try_get::<i64, _>(0)?);
            }
        }
        // One pass over the other leads' rows for all of them at once.
        let mut shared = std::collections::HashSet::new();
        for chunk in values.chunks(CHUNK) {
            let tests = (1..=chunk.len())
                .map(|i| format!("(' ' || feature_ids || ' ') LIKE ${i}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let sql = format!(
                "SELECT feature_ids FROM lead_facts WHERE feature_ids IS NOT NULL AND ({tests})"
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(format!("% {id} %"));
            }
            for row in query.fetch_all(&mut *self.tx).await? {
                let text: String = row.try_get(0)?;
                shared.extend(text.split(' ').filter_map(|id| id.parse::<i64>().ok()));
            }
        }
        let own: Vec<i64> = values
            .into_iter()
            .filter(|id| !shared.contains(id))
            .collect();
        let mut deleted = 0;
        for chunk in own.chunks(CHUNK) {
            let sql = format!(
                "DELETE FROM report_features WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for id in chunk {
                query = query.bind(*id);
            }
            deleted += query.execute(&mut *self.tx).await?.rows_affected();
        }
        Ok(deleted)
    }

    /// Marks these leads' facts for a rebuild (adding rows for leads new to them).
    pub async fn mark_facts(&mut self, leads: &[String]) -> Result<()> {
        let mut leads: Vec<&str> = leads.iter().map(String::as_str).collect();
        // One statement may not touch a row twice (PostgreSQL refuses it).
        leads.sort_unstable();
        leads.dedup();
        for chunk in leads.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO lead_facts (lead_id, dirty) VALUES {} ON CONFLICT (lead_id) \
                 DO UPDATE SET dirty = lead_facts.dirty + 1",
                rows_placeholders(self.backend, chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for lead in chunk {
                query = query.bind(*lead).bind(1i64);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }

    /// Marks the facts of these accounts' leads for a rebuild (their account's traits count
    /// among their features).
    pub async fn mark_facts_of_accounts(&mut self, accounts: &[String]) -> Result<()> {
        for chunk in accounts.chunks(CHUNK) {
            let sql = format!(
                "UPDATE lead_facts SET dirty = dirty + 1 WHERE lead_id IN \
                 (SELECT id FROM leads WHERE account_id IN ({}))",
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for account in chunk {
                query = query.bind(account.as_str());
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}

impl Store {
    /// The accounts with these ids (those that exist).
    pub async fn accounts_by_id(&self, ids: &[String]) -> Result<Vec<crate::AccountRow>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(CHUNK) {
            let sql = format!(
                "SELECT {} FROM accounts WHERE id IN ({})",
                crate::rows::ACCOUNT_COLUMNS,
                placeholders(1, chunk.len())
            );
            let mut query = sqlx::query(&sql);
            for v in chunk {
                query = query.bind(v.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                out.push(crate::AccountRow::from_row(&row)?);
            }
        }
        Ok(out)
    }
}

/// The catalogue ids a process has met: bounded, since an attribute keeps at most
/// [`ATTRIBUTE_VALUES`] values.
#[derive(Debug, Default)]
pub(crate) struct FeatureCache {
    ids: HashMap<FeatureKey, i64>,
    /// Attributes that hold all the values they may, with their overflow ids.
    full: HashMap<String, i64>,
}

impl FeatureCache {
    fn get(&self, f: &FeatureKey) -> Option<i64> {
        if let Some(&id) = self.ids.get(f) {
            return Some(id);
        }
        match (f.kind, &f.value) {
            (FeatureKind::Attribute, Some(_)) => self.full.get(&f.name).copied(),
            _ => None,
        }
    }
}

/// Feature ids as stored: space-separated.
fn encode_ids(ids: &[i64]) -> String {
    let mut out = String::with_capacity(ids.len() * 4);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&id.to_string());
    }
    out
}

impl Store {
    /// Forgets the catalogue ids this process met (after an erasure deleted some).
    pub fn forget_report_feature_ids(&self) {
        *self.features.lock().expect("feature cache lock") = FeatureCache::default();
    }

    /// Every feature of the catalogue of report features, with its id.
    pub async fn report_features(&self) -> Result<Vec<(i64, FeatureKey)>> {
        let rows = sqlx::query("SELECT id, kind, name, value FROM report_features ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let code: String = row.try_get(1)?;
            let key =
                FeatureKey::decode(&code, row.try_get(2)?, row.try_get(3)?).ok_or_else(|| {
                    StoreError::Corrupt {
                        table: "report_features",
                        column: "kind",
                        message: format!("unknown kind {code:?}"),
                    }
                })?;
            out.push((row.try_get(0)?, key));
        }
        Ok(out)
    }

    /// The catalogue ids of these features, adding those it does not hold yet: each one's id,
    /// in order. An attribute value beyond the [`ATTRIBUTE_VALUES`] its attribute keeps gets
    /// the attribute's overflow id.
    pub async fn report_feature_ids(&self, features: &[FeatureKey]) -> Result<Vec<i64>> {
        let mut out = vec![0; features.len()];
        let mut missing = Vec::new();
        {
            let cache = self.features.lock().expect("feature cache lock");
            for (i, f) in features.iter().enumerate() {
                match cache.get(f) {
                    Some(id) => out[i] = id,
                    None => missing.push(i),
                }
            }
        }
        if missing.is_empty() {
            return Ok(out);
        }
        let wanted: Vec<FeatureKey> = missing.iter().map(|&i| features[i].clone()).collect();
        let found = self.add_report_features(&wanted).await?;
        let mut cache = self.features.lock().expect("feature cache lock");
        for ((&i, key), (id, overflowed)) in missing.iter().zip(wanted).zip(found) {
            out[i] = id;
            if overflowed {
                // The attribute holds all the values it may: any value not held is its
                // overflow from now on.
                cache.full.insert(key.name, id);
            } else {
                cache.ids.insert(key, id);
            }
        }
        Ok(out)
    }

    /// Adds these features to the catalogue where missing; each one's id, and whether that is
    /// its attribute's overflow id.
    async fn add_report_features(&self, features: &[FeatureKey]) -> Result<Vec<(i64, bool)>> {
        let mut wanted: Vec<&FeatureKey> = features.iter().collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut overflows: Vec<FeatureKey> = wanted
            .iter()
            .filter(|f| f.kind == FeatureKind::Attribute)
            .map(|f| FeatureKey::overflow(&f.name))
            .collect();
        overflows.dedup();
        // Attribute values per attribute, each attribute taking what room it has left.
        let mut values: BTreeMap<&str, Vec<&FeatureKey>> = BTreeMap::new();
        let mut others: Vec<&FeatureKey> = overflows.iter().collect();
        for f in &wanted {
            match (f.kind, &f.value) {
                (FeatureKind::Attribute, Some(_)) => values.entry(&f.name).or_default().push(f),
                _ => others.push(f),
            }
        }
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Sqlite {
            // Take the write lock first: a read followed by a write could otherwise fail when
            // another writer commits in between.
            sqlx::query("UPDATE report_features SET id = id WHERE 0")
                .execute(&mut *tx)
                .await?;
        }
        insert_features(&mut tx, self.backend, &others).await?;
        for (name, new) in &values {
            let held: i64 =
                sqlx::query("SELECT COUNT(*) FROM report_features WHERE kind = 'a' AND name = $1")
                    .bind(*name)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
            let room = usize::try_from(ATTRIBUTE_VALUES - held).unwrap_or(0);
            insert_features(&mut tx, self.backend, &new[..room.min(new.len())]).await?;
        }
        let mut ids: HashMap<FeatureKey, i64> = HashMap::new();
        let all: Vec<&FeatureKey> = overflows.iter().chain(wanted.iter().copied()).collect();
        for chunk in all.chunks(CHUNK / 3) {
            let sql = format!(
                "SELECT id, kind, name, value FROM report_features WHERE (kind, name, value) IN \
                 (VALUES {})",
                rows_placeholders(self.backend, chunk.len(), 3)
            );
            for row in bind_keys(sqlx::query(&sql), chunk)
                .fetch_all(&mut *tx)
                .await?
            {
                let code: String = row.try_get(1)?;
                if let Some(key) = FeatureKey::decode(&code, row.try_get(2)?, row.try_get(3)?) {
                    ids.insert(key, row.try_get(0)?);
                }
            }
        }
        tx.commit().await?;
        features
            .iter()
            .map(|f| {
                ids.get(f)
                    .map(|&id| (id, false))
                    .or_else(|| Some((*ids.get(&FeatureKey::overflow(&f.name))?, true)))
                    .ok_or_else(|| StoreError::Corrupt {
                        table: "report_features",
                        column: "id",
                        message: format!("no id for {:?} {:?} after adding it", f.kind, f.name),
                    })
            })
            .collect()
    }
}

/// Adds these features to the catalogue (those it holds already are left as they are).
async fn insert_features(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    features: &[&FeatureKey],
) -> Result<()> {
    for chunk in features.chunks(CHUNK / 3) {
        let sql = format!(
            "INSERT INTO report_features (kind, name, value) VALUES {} \
             ON CONFLICT (kind, name, value) DO NOTHING",
            rows_placeholders(backend, chunk.len(), 3)
        );
        bind_keys(sqlx::query(&sql), chunk)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Binds each feature as the catalogue stores it: kind, name, value.
fn bind_keys<'q>(
    mut query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    features: &'q [&FeatureKey],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for f in features {
        query = query
            .bind(f.code())
            .bind(f.name.as_str())
            .bind(f.value.as_deref().unwrap_or_default());
    }
    query
}
