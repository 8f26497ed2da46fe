//! Storage of the model as a contract: each version's author and rationale, when each was put
//! in force, proposals and their sign-offs.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// A stored version with who wrote it and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRow {
    /// Its version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// When it was stored.
    pub created_ms: i64,
    /// Whether it is the one scoring leads.
    pub active: bool,
    /// Who stored it (a person's email, or `admin-token`); none before versions were signed.
    pub author: Option<String>,
    /// Why.
    pub rationale: Option<String>,
}

/// A time a version was put in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivationRow {
    /// The version.
    pub version: String,
    /// When.
    pub at_ms: i64,
    /// Who (a person's email, or `admin-token`).
    pub actor: String,
    /// `upload`, `proposal` or `rollback`.
    pub how: String,
    /// A note (the proposal's id, the version rolled back from).
    pub note: Option<String>,
}

/// A proposed model version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposalRow {
    /// Its id.
    pub id: String,
    /// The proposed version.
    pub version: String,
    /// Its name.
    pub name: String,
    /// The model file.
    pub source: String,
    /// The version in force when it was proposed.
    pub base_version: Option<String>,
    /// Who proposed it.
    pub author: String,
    /// Why.
    pub rationale: Option<String>,
    /// When.
    pub created_ms: i64,
    /// `open`, `approved` (and put in force) or `rejected`.
    pub status: String,
    /// Its differences from the base version (JSON).
    pub diff: String,
    /// The backtest of both over the stored history (JSON).
    pub backtest: String,
    /// When it was approved or rejected.
    pub decided_ms: Option<i64>,
    /// When it began scoring in shadow.
    pub shadow_ms: Option<i64>,
}

/// An approval, rejection or comment on a proposal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignatureRow {
    /// The proposal.
    pub proposal_id: String,
    /// Who (a person's email, or `admin-token`).
    pub actor: String,
    /// In which role.
    pub role: String,
    /// `approve`, `reject` or `comment`.
    pub verdict: String,
    /// What they said.
    pub comment: Option<String>,
    /// When.
    pub at_ms: i64,
}

const PROPOSAL_COLUMNS: &str = "id, version, name, source, base_version, author, rationale, \
     created_ms, status, diff, backtest, decided_ms, shadow_ms";

fn proposal(r: &AnyRow) -> Result<ProposalRow> {
    Ok(ProposalRow {
        id: r.try_get("id")?,
        version: r.try_get("version")?,
        name: r.try_get("name")?,
        source: r.try_get("source")?,
        base_version: r.try_get("base_version")?,
        author: r.try_get("author")?,
        rationale: r.try_get("rationale")?,
        created_ms: r.try_get("created_ms")?,
        status: r.try_get("status")?,
        diff: r.try_get("diff")?,
        backtest: r.try_get("backtest")?,
        decided_ms: r.try_get("decided_ms")?,
        shadow_ms: r.try_get("shadow_ms")?,
    })
}

impl Store {
    /// Records who stored a version and why (the first time only: a version is immutable).
    pub async fn sign_model(
        &self,
        version: &str,
        author: &str,
        rationale: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE models SET author = $2, rationale = $3 WHERE version = $1 AND author IS NULL",
        )
        .bind(version)
        .bind(author)
        .bind(rationale)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every stored version with its author and rationale, newest first.
    pub async fn model_log(&self) -> Result<Vec<VersionRow>> {
        let rows = sqlx::query(
            "SELECT version, name, created_ms, active, author, rationale FROM models \
             ORDER BY created_ms DESC, version DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(VersionRow {
                    version: r.try_get("version")?,
                    name: r.try_get("name")?,
                    created_ms: r.try_get("created_ms")?,
                    active: r.try_get::<i32, _>("active")? != 0,
                    author: r.try_get("author")?,
                    rationale: r.try_get("rationale")?,
                })
            })
            .collect()
    }

    /// Records that a version was put in force.
    pub async fn record_activation(&self, a: &ActivationRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_activations (version, at_ms, actor, how, note) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&a.version)
        .bind(a.at_ms)
        .bind(&a.actor)
        .bind(&a.how)
        .bind(a.note.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every activation, newest first.
    pub async fn activations(&self) -> Result<Vec<ActivationRow>> {
        let rows = sqlx::query(
            "SELECT version, at_ms, actor, how, note FROM model_activations ORDER BY seq DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ActivationRow {
                    version: r.try_get("version")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    how: r.try_get("how")?,
                    note: r.try_get("note")?,
                })
            })
            .collect()
    }

    /// Stores a new proposal.
    pub async fn insert_proposal(&self, p: &ProposalRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO model_proposals ({PROPOSAL_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(&p.id)
        .bind(&p.version)
        .bind(&p.name)
        .bind(&p.source)
        .bind(p.base_version.as_deref())
        .bind(&p.author)
        .bind(p.rationale.as_deref())
        .bind(p.created_ms)
        .bind(&p.status)
        .bind(&p.diff)
        .bind(&p.backtest)
        .bind(p.decided_ms)
        .bind(p.shadow_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// One proposal.
    pub async fn proposal(&self, id: &str) -> Result<Option<ProposalRow>> {
        let row = sqlx::query(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM model_proposals WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(proposal).transpose()
    }

    /// Every proposal, newest first.
    pub async fn proposals(&self) -> Result<Vec<ProposalRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM model_proposals ORDER BY created_ms DESC, id DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(proposal).collect()
    }

    /// Closes an open proposal (`approved` or `rejected`); false if it was not open.
    pub async fn decide_proposal(&self, id: &str, status: &str, at_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE model_proposals SET status = $2, decided_ms = $3 WHERE id = $1 AND status = 'open'",
        )
        .bind(id)
        .bind(status)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Starts scoring a proposal in shadow (once: the first start stands).
    pub async fn start_shadow(&self, id: &str, at_ms: i64) -> Result<()> {
        sqlx::query(
            "UPDATE model_proposals SET shadow_ms = $2 WHERE id = $1 AND shadow_ms IS NULL",
        )
        .bind(id)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an approval, rejection or comment.
    pub async fn insert_signature(&self, s: &SignatureRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO model_signatures (proposal_id, actor, role, verdict, comment, at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.proposal_id)
        .bind(&s.actor)
        .bind(&s.role)
        .bind(&s.verdict)
        .bind(s.comment.as_deref())
        .bind(s.at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A proposal's signatures, oldest first.
    pub async fn signatures(&self, proposal_id: &str) -> Result<Vec<SignatureRow>> {
        let rows = sqlx::query(
            "SELECT proposal_id, actor, role, verdict, comment, at_ms FROM model_signatures \
             WHERE proposal_id = $1 ORDER BY seq",
        )
        .bind(proposal_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SignatureRow {
                    proposal_id: r.try_get("proposal_id")?,
                    actor: r.try_get("actor")?,
                    role: r.try_get("role")?,
                    verdict: r.try_get("verdict")?,
                    comment: r.try_get("comment")?,
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect()
    }
}
