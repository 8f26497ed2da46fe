//! The rows Sluice stores, and their mapping to columns.

use serde::Serialize;
use serde_json::Value;
use sluice_core::{Actor, Attributes, Stage};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

use crate::{Result, StoreError, text};

pub(crate) const EVENT_COLUMNS: &str =
    "seq, message_id, kind, user_id, anonymous_id, at_ms, received_ms, source, message";
pub(crate) const LEAD_COLUMNS: &str = "id, attributes, account_id, stage, owner, score, fit, engagement, grade, \
     qualification, scored, model_version, created_ms, updated_ms, last_event_ms";
pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, attributes, score, fit, engagement, qualified, scored, updated_ms";
pub(crate) const TRANSITION_COLUMNS: &str =
    "lead_id, from_stage, to_stage, at_ms, actor, reason, model_version, detail";

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

fn json<T: serde::de::DeserializeOwned>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T> {
    let raw = text(row, column)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt {
        table,
        column,
        message: e.to_string(),
    })
}

fn parsed<T: std::str::FromStr<Err = String>>(
    row: &AnyRow,
    table: &'static str,
    column: &'static str,
) -> Result<T> {
    text(row, column)?
        .parse()
        .map_err(|message| StoreError::Corrupt {
            table,
            column,
            message,
        })
}

/// An event to append to the log.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The sender's unique id (deduplication key).
    pub message_id: String,
    /// `track`, `page`, `identify`...
    pub kind: String,
    /// `userId`, if any.
    pub user_id: Option<String>,
    /// `anonymousId`, if any.
    pub anonymous_id: Option<String>,
    /// When it happened (ms since the epoch).
    pub at_ms: i64,
    /// When Sluice received it.
    pub received_ms: i64,
    /// The write key's name that sent it.
    pub source: String,
    /// The whole message, as JSON.
    pub message: String,
}

/// An event from the log.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    /// Position in the log.
    pub seq: i64,
    /// The sender's unique id.
    pub message_id: String,
    /// `track`, `page`, `identify`...
    pub kind: String,
    /// `userId`, if any.
    pub user_id: Option<String>,
    /// `anonymousId`, if any.
    pub anonymous_id: Option<String>,
    /// When it happened.
    pub at_ms: i64,
    /// When Sluice received it.
    pub received_ms: i64,
    /// The write key's name that sent it.
    pub source: String,
    /// The whole message, as JSON.
    pub message: String,
}

impl StoredEvent {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(StoredEvent {
            seq: row.try_get("seq")?,
            message_id: row.try_get("message_id")?,
            kind: row.try_get("kind")?,
            user_id: row.try_get("user_id")?,
            anonymous_id: row.try_get("anonymous_id")?,
            at_ms: row.try_get("at_ms")?,
            received_ms: row.try_get("received_ms")?,
            source: row.try_get("source")?,
            message: row.try_get("message")?,
        })
    }
}

/// A lead's current state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeadRow {
    /// The lead id.
    pub id: String,
    /// Its attributes (traits).
    pub attributes: Attributes,
    /// Its account.
    pub account_id: Option<String>,
    /// Its lifecycle stage.
    pub stage: Stage,
    /// Who owns it.
    pub owner: Option<String>,
    /// Score (fit + engagement) at its last update.
    pub score: f64,
    /// Fit score.
    pub fit: f64,
    /// Engagement score at its last update.
    pub engagement: f64,
    /// Grade, e.g. `A1`.
    pub grade: String,
    /// `lead`, `mql` or `disqualified` against the model.
    pub qualification: String,
    /// The full score and explanation, as JSON.
    pub scored: Value,
    /// The model version that scored it.
    pub model_version: String,
    /// First seen.
    pub created_ms: i64,
    /// Last changed.
    pub updated_ms: i64,
    /// Time of its latest event.
    pub last_event_ms: Option<i64>,
}

impl LeadRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(LeadRow {
            id: row.try_get("id")?,
            attributes: json(row, "leads", "attributes")?,
            account_id: row.try_get("account_id")?,
            stage: parsed(row, "leads", "stage")?,
            owner: row.try_get("owner")?,
            score: row.try_get("score")?,
            fit: row.try_get("fit")?,
            engagement: row.try_get("engagement")?,
            grade: row.try_get("grade")?,
            qualification: row.try_get("qualification")?,
            scored: json(row, "leads", "scored")?,
            model_version: row.try_get("model_version")?,
            created_ms: row.try_get("created_ms")?,
            updated_ms: row.try_get("updated_ms")?,
            last_event_ms: row.try_get("last_event_ms")?,
        })
    }

    pub(crate) fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.id.as_str())
            .bind(Value::Object(self.attributes.clone()).to_string())
            .bind(self.account_id.as_deref())
            .bind(self.stage.as_str())
            .bind(self.owner.as_deref())
            .bind(self.score)
            .bind(self.fit)
            .bind(self.engagement)
            .bind(self.grade.as_str())
            .bind(self.qualification.as_str())
            .bind(self.scored.to_string())
            .bind(self.model_version.as_str())
            .bind(self.created_ms)
            .bind(self.updated_ms)
            .bind(self.last_event_ms)
    }
}

/// An account's current state.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountRow {
    /// The account id (Segment `groupId`).
    pub id: String,
    /// Its attributes (traits).
    pub attributes: Attributes,
    /// Account score.
    pub score: f64,
    /// Account fit.
    pub fit: f64,
    /// Its leads' engagement, rolled up.
    pub engagement: f64,
    /// Whether it is a marketing-qualified account.
    pub qualified: bool,
    /// The full account score, as JSON.
    pub scored: Value,
    /// Last changed.
    pub updated_ms: i64,
}

impl AccountRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(AccountRow {
            id: row.try_get("id")?,
            attributes: json(row, "accounts", "attributes")?,
            score: row.try_get("score")?,
            fit: row.try_get("fit")?,
            engagement: row.try_get("engagement")?,
            qualified: row.try_get::<i32, _>("qualified")? != 0,
            scored: json(row, "accounts", "scored")?,
            updated_ms: row.try_get("updated_ms")?,
        })
    }

    pub(crate) fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.id.as_str())
            .bind(Value::Object(self.attributes.clone()).to_string())
            .bind(self.score)
            .bind(self.fit)
            .bind(self.engagement)
            .bind(i32::from(self.qualified))
            .bind(self.scored.to_string())
            .bind(self.updated_ms)
    }
}

/// A recorded stage change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransitionRow {
    /// The lead.
    pub lead_id: String,
    /// From this stage.
    pub from: Stage,
    /// To this stage.
    pub to: Stage,
    /// When.
    pub at_ms: i64,
    /// By whom.
    pub actor: Actor,
    /// Why (required for rejections, disqualifications, recycling).
    pub reason: Option<String>,
    /// The model version in force.
    pub model_version: Option<String>,
    /// The score and explanation at that moment, for MQLs.
    pub detail: Option<Value>,
}

impl TransitionRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        let detail: Option<String> = row.try_get("detail")?;
        Ok(TransitionRow {
            lead_id: row.try_get("lead_id")?,
            from: parsed(row, "transitions", "from_stage")?,
            to: parsed(row, "transitions", "to_stage")?,
            at_ms: row.try_get("at_ms")?,
            actor: parsed(row, "transitions", "actor")?,
            reason: row.try_get("reason")?,
            model_version: row.try_get("model_version")?,
            detail: detail
                .map(|d| serde_json::from_str(&d))
                .transpose()
                .map_err(|e| StoreError::Corrupt {
                    table: "transitions",
                    column: "detail",
                    message: e.to_string(),
                })?,
        })
    }

    pub(crate) fn bind<'q>(&'q self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.lead_id.as_str())
            .bind(self.from.as_str())
            .bind(self.to.as_str())
            .bind(self.at_ms)
            .bind(self.actor.as_str())
            .bind(self.reason.as_deref())
            .bind(self.model_version.as_deref())
            .bind(self.detail.as_ref().map(Value::to_string))
    }
}

/// A stored model version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRow {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// The model file's text.
    pub source: String,
    /// When it was stored.
    pub created_ms: i64,
    /// Whether it is the one scoring leads.
    pub active: bool,
}

impl ModelRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(ModelRow {
            version: row.try_get("version")?,
            name: row.try_get("name")?,
            source: row.try_get("source")?,
            created_ms: row.try_get("created_ms")?,
            active: row.try_get::<i32, _>("active")? != 0,
        })
    }
}

/// An outcome: an opportunity, a win or a loss.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRow {
    /// The lead.
    pub lead_id: String,
    /// `opportunity`, `won` or `lost`.
    pub kind: String,
    /// Pipeline or booking amount.
    pub amount: Option<f64>,
    /// When.
    pub at_ms: i64,
    /// Why (for `lost`).
    pub reason: Option<String>,
}

impl OutcomeRow {
    pub(crate) fn from_row(row: &AnyRow) -> Result<Self> {
        Ok(OutcomeRow {
            lead_id: row.try_get("lead_id")?,
            kind: row.try_get("kind")?,
            amount: row.try_get("amount")?,
            at_ms: row.try_get("at_ms")?,
            reason: row.try_get("reason")?,
        })
    }
}

/// How to order a list of leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LeadSort {
    /// Highest score first.
    #[default]
    Score,
    /// Most recently updated first.
    Updated,
}

/// Which leads to list.
#[derive(Debug, Clone, Default)]
pub struct LeadFilter {
    /// In this stage.
    pub stage: Option<Stage>,
    /// With this grade.
    pub grade: Option<String>,
    /// Score at least.
    pub min_score: Option<f64>,
    /// Score at most.
    pub max_score: Option<f64>,
    /// Owned by.
    pub owner: Option<String>,
    /// Owned by a rep of this team, or routed to it.
    pub team: Option<String>,
    /// In this account.
    pub account: Option<String>,
    /// Updated at or after (ms).
    pub updated_since: Option<i64>,
    /// Order.
    pub sort: LeadSort,
    /// Page size (1-1000).
    pub limit: i64,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

/// One page of a list, and where the next starts.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next: Option<String>,
}
