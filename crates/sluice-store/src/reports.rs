//! Reads for the funnel and attribution reports: the whole history, a page at a time, with
//! only the columns the reports use.

use serde_json::Value;
use sluice_core::{Attributes, Stage};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

/// A lead as the reports see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportLead {
    /// The lead id.
    pub id: String,
    /// Its attributes now.
    pub attributes: Attributes,
    /// Its account now.
    pub account_id: Option<String>,
    /// First seen.
    pub created_ms: i64,
}

/// A recorded stage move, without its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct StageMove {
    /// Position in the stage history (for paging).
    pub seq: i64,
    /// The lead.
    pub lead_id: String,
    /// Into this stage.
    pub to: Stage,
    /// When.
    pub at_ms: i64,
    /// The model version in force.
    pub model_version: Option<String>,
    /// For a move into `mql` by the score: the grade at that moment.
    pub grade: Option<String>,
}

/// A recorded outcome, with its position (for paging).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportOutcome {
    /// Position in the outcomes table.
    pub seq: i64,
    /// The lead.
    pub lead_id: String,
    /// `opportunity`, `won` or `lost`.
    pub kind: String,
    /// Pipeline or booking amount.
    pub amount: Option<f64>,
    /// When.
    pub at_ms: i64,
}

fn corrupt(table: &'static str, column: &'static str, message: String) -> StoreError {
    StoreError::Corrupt {
        table,
        column,
        message,
    }
}

fn report_lead(row: &AnyRow) -> Result<ReportLead> {
    let attributes: String = row.try_get("attributes")?;
    Ok(ReportLead {
        id: row.try_get("id")?,
        attributes: serde_json::from_str(&attributes)
            .map_err(|e| corrupt("leads", "attributes", e.to_string()))?,
        account_id: row.try_get("account_id")?,
        created_ms: row.try_get("created_ms")?,
    })
}

pub(crate) fn stage_move(row: &AnyRow) -> Result<StageMove> {
    let to: String = row.try_get("to_stage")?;
    let grade: Option<String> = row.try_get("grade")?;
    Ok(StageMove {
        seq: row.try_get("seq")?,
        lead_id: row.try_get("lead_id")?,
        to: to
            .parse()
            .map_err(|e| corrupt("transitions", "to_stage", e))?,
        at_ms: row.try_get("at_ms")?,
        model_version: row.try_get("model_version")?,
        grade,
    })
}

impl Store {
    /// The SQL that picks the grade out of a transition's explanation.
    pub(crate) fn grade_of_detail(&self) -> &'static str {
        match self.backend {
            crate::Backend::Sqlite => "json_extract(detail, '$.score.grade')",
            crate::Backend::Postgres => "(detail::jsonb -> 'score' ->> 'grade')",
        }
    }

    /// Every lead, ordered by id, a page at a time, with what the reports use.
    pub async fn report_leads_after(&self, after_id: &str, limit: i64) -> Result<Vec<ReportLead>> {
        let rows = sqlx::query(
            "SELECT id, attributes, account_id, created_ms FROM leads WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(report_lead).collect()
    }

    /// Every lead's `lead_source` attribute (extracted by the database, so the attributes
    /// are not read), ordered by id, a page at a time: what the funnel needs.
    pub async fn report_lead_sources_after(
        &self,
        after_id: &str,
        limit: i64,
    ) -> Result<Vec<ReportLead>> {
        let source = match self.backend {
            crate::Backend::Sqlite => "json_extract(attributes, '$.lead_source')",
            crate::Backend::Postgres => "(attributes::jsonb ->> 'lead_source')",
        };
        let rows = sqlx::query(&format!(
            "SELECT id, CAST({source} AS TEXT) AS source, account_id, created_ms FROM leads \
             WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(after_id)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let source: Option<String> = row.try_get("source")?;
                Ok(ReportLead {
                    id: row.try_get("id")?,
                    attributes: source
                        .map(|s| {
                            [("lead_source".to_string(), Value::String(s))]
                                .into_iter()
                                .collect()
                        })
                        .unwrap_or_default(),
                    account_id: row.try_get("account_id")?,
                    created_ms: row.try_get("created_ms")?,
                })
            })
            .collect()
    }

    /// Stage moves after position `after_seq`, oldest first, with the grade of moves into
    /// `mql` (read from their explanation by the database).
    pub async fn stage_moves_after(&self, after_seq: i64, limit: i64) -> Result<Vec<StageMove>> {
        let grade = self.grade_of_detail();
        let rows = sqlx::query(&format!(
            "SELECT seq, lead_id, to_stage, at_ms, model_version, \
             CASE WHEN to_stage = 'mql' THEN CAST({grade} AS TEXT) ELSE NULL END AS grade \
             FROM transitions WHERE seq > $1 ORDER BY seq LIMIT $2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stage_move).collect()
    }

    /// Outcomes after position `after_seq`, oldest first.
    pub async fn outcomes_after(&self, after_seq: i64, limit: i64) -> Result<Vec<ReportOutcome>> {
        let rows = sqlx::query(
            "SELECT seq, lead_id, kind, amount, at_ms FROM outcomes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ReportOutcome {
                    seq: r.try_get("seq")?,
                    lead_id: r.try_get("lead_id")?,
                    kind: r.try_get("kind")?,
                    amount: r.try_get("amount")?,
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect()
    }

    /// Every lead with at least one activity, and when its first was.
    pub async fn contacted_leads(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT lead_id, MIN(at_ms) AS first_ms FROM activities GROUP BY lead_id ORDER BY lead_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("lead_id")?, r.try_get("first_ms")?)))
            .collect()
    }
}
