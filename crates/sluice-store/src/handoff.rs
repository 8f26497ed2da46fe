//! Storage of the hand-off: teams, reps, assignments, activities and SLA events.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, CHUNK, Result, Store, StoreError, Tx, placeholders, rows_placeholders};

/// A sales team: its calendar (for SLAs) and its manager (for escalations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamRow {
    /// Id used by routing rules, e.g. `sdr-emea`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// IANA time zone of its working hours.
    pub time_zone: String,
    /// Working hours, e.g. `["Mon-Fri 09:00-17:00"]`.
    pub working_hours: Vec<String>,
    /// Local dates the team does not work.
    pub holidays: Vec<String>,
    /// Who is told about breaches (an email address).
    pub manager: Option<String>,
    /// Created.
    pub created_ms: i64,
    /// Last changed.
    pub updated_ms: i64,
}

/// A sales rep.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepRow {
    /// Id, e.g. `ana`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email address (unique).
    pub email: String,
    /// Their team.
    pub team_id: String,
    /// Their own time zone, if it differs from the team's.
    pub time_zone: Option<String>,
    /// Their own working hours, if they differ from the team's.
    pub working_hours: Option<Vec<String>>,
    /// New leads per day they take.
    pub capacity: i64,
    /// Whether they take new leads at all.
    pub available: bool,
    /// Out of office until then.
    pub away_until_ms: Option<i64>,
    /// Created.
    pub created_ms: i64,
    /// Last changed.
    pub updated_ms: i64,
}

impl RepRow {
    /// Whether they take leads at `now_ms`.
    pub fn is_available(&self, now_ms: i64) -> bool {
        self.available && self.away_until_ms.is_none_or(|until| until <= now_ms)
    }
}

/// A lead given to a rep (or left in a team's queue when nobody could take it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AssignmentRow {
    /// The lead.
    pub lead_id: String,
    /// The rep (none: waiting in the team's queue).
    pub rep_id: Option<String>,
    /// The team.
    pub team_id: Option<String>,
    /// When.
    pub at_ms: i64,
    /// What chose: a routing rule id, `account_owner`, `default_team`, `reassign`, `manual`.
    pub rule: String,
    /// Why, in words.
    pub why: String,
    /// Who: `system` (routing, the SLA scheduler) or `sales` / `marketing` (by hand).
    pub actor: String,
}

/// Something a rep did with a lead: the touches that SLAs time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ActivityRow {
    /// The lead.
    pub lead_id: String,
    /// `call`, `email`, `meeting`, `sms` or `social`.
    pub kind: String,
    /// When it happened.
    pub at_ms: i64,
    /// Who did it.
    pub rep_id: Option<String>,
    /// Free text.
    pub note: Option<String>,
    /// Where it came from: `api`, `crm`...
    pub source: String,
    /// The sender's id for it (a CRM's activity id): a repeat is stored once.
    pub external_id: Option<String>,
    /// When Sluice recorded it.
    pub recorded_ms: i64,
}

/// An SLA warning or breach, recorded once per step of a lead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaEventRow {
    /// The lead.
    pub lead_id: String,
    /// The SLA policy's id.
    pub policy: String,
    /// Its step.
    pub step: String,
    /// `warning` or `breached`.
    pub kind: String,
    /// When the step's clock started.
    pub started_ms: i64,
    /// Its deadline.
    pub due_ms: i64,
    /// When it was recorded.
    pub at_ms: i64,
    /// The rep who owned the step.
    pub rep_id: Option<String>,
    /// Their team.
    pub team_id: Option<String>,
    /// What was done about it: `notify`, `reassign:<rep>`, `reassign:none`.
    pub action: Option<String>,
}

/// A lead in the hand-off (stage `mql` or `sal`) with its latest assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenHandoff {
    /// The latest assignment.
    pub assignment: AssignmentRow,
    /// The lead's stage.
    pub stage: String,
}

const TEAM_COLUMNS: &str =
    "id, name, time_zone, working_hours, holidays, manager, created_ms, updated_ms";
const REP_COLUMNS: &str = "id, name, email, team_id, time_zone, working_hours, capacity, available, away_until_ms, created_ms, updated_ms";
const ASSIGNMENT_COLUMNS: &str = "lead_id, rep_id, team_id, at_ms, rule, why, actor";
const ACTIVITY_COLUMNS: &str =
    "lead_id, kind, at_ms, rep_id, note, source, external_id, recorded_ms";
const SLA_EVENT_COLUMNS: &str =
    "lead_id, policy, step, kind, started_ms, due_ms, at_ms, rep_id, team_id, action";

fn list(row: &AnyRow, table: &'static str, column: &'static str) -> Result<Vec<String>> {
    let raw: String = row.try_get(column)?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Corrupt {
        table,
        column,
        message: e.to_string(),
    })
}

fn team(row: &AnyRow) -> Result<TeamRow> {
    Ok(TeamRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        time_zone: row.try_get("time_zone")?,
        working_hours: list(row, "teams", "working_hours")?,
        holidays: list(row, "teams", "holidays")?,
        manager: row.try_get("manager")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

fn rep(row: &AnyRow) -> Result<RepRow> {
    let hours: Option<String> = row.try_get("working_hours")?;
    Ok(RepRow {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        email: row.try_get("email")?,
        team_id: row.try_get("team_id")?,
        time_zone: row.try_get("time_zone")?,
        working_hours: hours
            .map(|h| serde_json::from_str(&h))
            .transpose()
            .map_err(|e| StoreError::Corrupt {
                table: "reps",
                column: "working_hours",
                message: e.to_string(),
            })?,
        capacity: row.try_get("capacity")?,
        available: row.try_get::<i32, _>("available")? != 0,
        away_until_ms: row.try_get("away_until_ms")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

fn assignment(row: &AnyRow) -> Result<AssignmentRow> {
    Ok(AssignmentRow {
        lead_id: row.try_get("lead_id")?,
        rep_id: row.try_get("rep_id")?,
        team_id: row.try_get("team_id")?,
        at_ms: row.try_get("at_ms")?,
        rule: row.try_get("rule")?,
        why: row.try_get("why")?,
        actor: row.try_get("actor")?,
    })
}

fn activity(row: &AnyRow) -> Result<ActivityRow> {
    Ok(ActivityRow {
        lead_id: row.try_get("lead_id")?,
        kind: row.try_get("kind")?,
        at_ms: row.try_get("at_ms")?,
        rep_id: row.try_get("rep_id")?,
        note: row.try_get("note")?,
        source: row.try_get("source")?,
        external_id: row.try_get("external_id")?,
        recorded_ms: row.try_get("recorded_ms")?,
    })
}

fn sla_event(row: &AnyRow) -> Result<SlaEventRow> {
    Ok(SlaEventRow {
        lead_id: row.try_get("lead_id")?,
        policy: row.try_get("policy")?,
        step: row.try_get("step")?,
        kind: row.try_get("kind")?,
        started_ms: row.try_get("started_ms")?,
        due_ms: row.try_get("due_ms")?,
        at_ms: row.try_get("at_ms")?,
        rep_id: row.try_get("rep_id")?,
        team_id: row.try_get("team_id")?,
        action: row.try_get("action")?,
    })
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).expect("a list of strings serialises")
}

impl Store {
    /// Creates or replaces a team.
    pub async fn upsert_team(&self, t: &TeamRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO teams ({TEAM_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone, \
             working_hours = excluded.working_hours, holidays = excluded.holidays, \
             manager = excluded.manager, updated_ms = excluded.updated_ms"
        ))
        .bind(&t.id)
        .bind(&t.name)
        .bind(&t.time_zone)
        .bind(to_json(&t.working_hours))
        .bind(to_json(&t.holidays))
        .bind(t.manager.as_deref())
        .bind(t.created_ms)
        .bind(t.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every team, by id.
    pub async fn teams(&self) -> Result<Vec<TeamRow>> {
        let rows = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(team).collect()
    }

    /// One team.
    pub async fn team(&self, id: &str) -> Result<Option<TeamRow>> {
        let row = sqlx::query(&format!("SELECT {TEAM_COLUMNS} FROM teams WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(team).transpose()
    }

    /// Creates or replaces a rep.
    pub async fn upsert_rep(&self, r: &RepRow) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO reps ({REP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, email = excluded.email, \
             team_id = excluded.team_id, time_zone = excluded.time_zone, \
             working_hours = excluded.working_hours, capacity = excluded.capacity, \
             available = excluded.available, away_until_ms = excluded.away_until_ms, \
             updated_ms = excluded.updated_ms"
        ))
        .bind(&r.id)
        .bind(&r.name)
        .bind(&r.email)
        .bind(&r.team_id)
        .bind(r.time_zone.as_deref())
        .bind(r.working_hours.as_deref().map(to_json))
        .bind(r.capacity)
        .bind(i32::from(r.available))
        .bind(r.away_until_ms)
        .bind(r.created_ms)
        .bind(r.updated_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every rep, by id.
    pub async fn reps(&self) -> Result<Vec<RepRow>> {
        let rows = sqlx::query(&format!("SELECT {REP_COLUMNS} FROM reps ORDER BY id"))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(rep).collect()
    }

    /// One rep, by id or email.
    pub async fn rep(&self, id: &str) -> Result<Option<RepRow>> {
        let row = sqlx::query(&format!(
            "SELECT {REP_COLUMNS} FROM reps WHERE id = $1 OR lower(email) = lower($1)"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(rep).transpose()
    }

    /// Assignments made at or after `from_ms` (and before `to_ms`), oldest first.
    pub async fn assignments_between(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<AssignmentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE at_ms >= $1 AND at_ms < $2 ORDER BY seq"
        ))
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(assignment).collect()
    }

    /// A lead's assignments, oldest first.
    pub async fn assignments_of(&self, lead_id: &str) -> Result<Vec<AssignmentRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ASSIGNMENT_COLUMNS} FROM assignments WHERE lead_id = $1 ORDER BY seq"
        ))
        .bind(lead_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(assignment).collect()
    }

    /// Which of these leads sales has touched: given to a rep by a person, or with an activity.
    pub async fn touched_by_sales(&self, leads: &[String]) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for chunk in leads.chunks(CHUNK) {
            let list = placeholders(1, chunk.len());
            let sql = format!(
                "SELECT lead_id FROM assignments WHERE actor <> 'system' AND lead_id IN ({list}) \
                 UNION SELECT lead_id FROM activities WHERE lead_id IN ({list})"
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

    /// Leads in `mql` or `sal` with their latest assignment (the work queue), oldest first.
    pub async fn open_handoffs(&self) -> Result<Vec<OpenHandoff>> {
        let rows = sqlx::query(OPEN_HANDOFFS).fetch_all(&self.pool).await?;
        rows.iter().map(open_handoff).collect()
    }

    /// Records activities; a repeat of an `external_id` is skipped. Returns which were new.
    pub async fn record_activities(&self, activities: &[ActivityRow]) -> Result<Vec<bool>> {
        let mut tx = self.pool.begin().await?;
        let mut new = Vec::with_capacity(activities.len());
        for a in activities {
            let done = sqlx::query(&format!(
                "INSERT INTO activities ({ACTIVITY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                 ON CONFLICT (external_id) DO NOTHING"
            ))
            .bind(&a.lead_id)
            .bind(&a.kind)
            .bind(a.at_ms)
            .bind(a.rep_id.as_deref())
            .bind(a.note.as_deref())
            .bind(&a.source)
            .bind(a.external_id.as_deref())
            .bind(a.recorded_ms)
            .execute(&mut *tx)
            .await?;
            new.push(done.rows_affected() == 1);
            if done.rows_affected() == 1 {
                // Being contacted is one of the lead's report facts.
                sqlx::query(
                    "INSERT INTO lead_facts (lead_id, dirty) VALUES ($1, 1) ON CONFLICT (lead_id) \
                     DO UPDATE SET dirty = lead_facts.dirty + 1",
                )
                .bind(&a.lead_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(new)
    }

    /// A lead's activities, oldest first.
    pub async fn activities_of(&self, lead_id: &str) -> Result<Vec<ActivityRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE lead_id = $1 ORDER BY at_ms, seq"
        ))
        .bind(lead_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activity).collect()
    }

    /// Activities at or after `from_ms`, oldest first.
    pub async fn activities_since(&self, from_ms: i64) -> Result<Vec<ActivityRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE at_ms >= $1 ORDER BY at_ms, seq"
        ))
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activity).collect()
    }

    /// Stage changes out of `mql` or into / out of `sal` at or after `from_ms`, oldest first.
    pub async fn handoff_transitions_since(
        &self,
        from_ms: i64,
    ) -> Result<Vec<crate::TransitionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM transitions WHERE at_ms >= $1 AND \
             (from_stage IN ('mql', 'sal') OR to_stage = 'sal') ORDER BY seq",
            crate::rows::TRANSITION_COLUMNS
        ))
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::TransitionRow::from_row).collect()
    }

    /// SLA events of one lead, oldest first.
    pub async fn sla_events_of(&self, lead_id: &str) -> Result<Vec<SlaEventRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SLA_EVENT_COLUMNS} FROM sla_events WHERE lead_id = $1 ORDER BY seq"
        ))
        .bind(lead_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sla_event).collect()
    }

    /// SLA events recorded at or after `from_ms`, oldest first.
    pub async fn sla_events_since(&self, from_ms: i64) -> Result<Vec<SlaEventRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {SLA_EVENT_COLUMNS} FROM sla_events WHERE at_ms >= $1 ORDER BY seq"
        ))
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(sla_event).collect()
    }

    /// Per lead, the latest recycle that reset its engagement (recorded in the transition).
    pub async fn recycle_resets(&self) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT lead_id, MAX(at_ms) AS at_ms FROM transitions \
             WHERE to_stage = 'recycled' AND detail LIKE '%\"reset\":\"engagement\"%' GROUP BY lead_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("lead_id")?, r.try_get("at_ms")?)))
            .collect()
    }

    /// Transitions of every lead assigned at or after `from_ms`, oldest first (for reports).
    pub async fn transitions_of_assigned_since(
        &self,
        from_ms: i64,
    ) -> Result<Vec<crate::TransitionRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {} FROM transitions WHERE lead_id IN \
             (SELECT lead_id FROM assignments WHERE at_ms >= $1) ORDER BY seq",
            crate::rows::TRANSITION_COLUMNS
        ))
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::TransitionRow::from_row).collect()
    }

    /// Activities of every lead assigned at or after `from_ms`, oldest first (for reports).
    pub async fn activities_of_assigned_since(&self, from_ms: i64) -> Result<Vec<ActivityRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {ACTIVITY_COLUMNS} FROM activities WHERE lead_id IN \
             (SELECT lead_id FROM assignments WHERE at_ms >= $1) ORDER BY at_ms, seq"
        ))
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activity).collect()
    }

    /// The owner of an account, if it has one.
    pub async fn account_owner(&self, account_id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT owner FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => row.try_get("owner")?,
            None => None,
        })
    }

    /// When a rep was last given a lead, at or before `until_ms` (for the round robin).
    pub async fn last_assigned(&self, rep_id: &str, until_ms: i64) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT MAX(at_ms) AS at_ms FROM assignments WHERE rep_id = $1 AND at_ms <= $2",
        )
        .bind(rep_id)
        .bind(until_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get("at_ms")?)
    }

    /// Per rep, the times they were given leads at or after `from_ms` (for capacity).
    pub async fn assignment_times_since(&self, from_ms: i64) -> Result<Vec<(String, i64)>> {
        let rows = sqlx::query(
            "SELECT rep_id, at_ms FROM assignments WHERE at_ms >= $1 AND rep_id IS NOT NULL",
        )
        .bind(from_ms)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("rep_id")?, r.try_get("at_ms")?)))
            .collect()
    }
}

const OPEN_HANDOFFS: &str = "SELECT a.lead_id, a.rep_id, a.team_id, a.at_ms, a.rule, a.why, a.actor, l.stage \
     FROM leads l JOIN assignments a ON a.lead_id = l.id \
     WHERE l.stage IN ('mql', 'sal') \
     AND a.seq = (SELECT MAX(seq) FROM assignments b WHERE b.lead_id = l.id) \
     ORDER BY a.at_ms, a.lead_id";

fn open_handoff(row: &AnyRow) -> Result<OpenHandoff> {
    Ok(OpenHandoff {
        assignment: assignment(row)?,
        stage: row.try_get("stage")?,
    })
}

impl Tx {
    /// Records assignments and sets each lead's owner to its rep.
    pub async fn insert_assignments(&mut self, assignments: &[AssignmentRow]) -> Result<()> {
        for chunk in assignments.chunks(50) {
            let sql = format!(
                "INSERT INTO assignments ({ASSIGNMENT_COLUMNS}) VALUES {}",
                rows_placeholders(self.backend, chunk.len(), 7)
            );
            let mut query = sqlx::query(&sql);
            for a in chunk {
                query = query
                    .bind(a.lead_id.as_str())
                    .bind(a.rep_id.as_deref())
                    .bind(a.team_id.as_deref())
                    .bind(a.at_ms)
                    .bind(a.rule.as_str())
                    .bind(a.why.as_str())
                    .bind(a.actor.as_str());
            }
            query.execute(&mut *self.tx).await?;
        }
        for a in assignments {
            sqlx::query("UPDATE leads SET owner = $1 WHERE id = $2")
                .bind(a.rep_id.as_deref())
                .bind(a.lead_id.as_str())
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Gives an account an owner.
    pub async fn set_account_owner(&mut self, account_id: &str, rep_id: &str) -> Result<()> {
        sqlx::query("UPDATE accounts SET owner = $1 WHERE id = $2")
            .bind(rep_id)
            .bind(account_id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Serialises SLA scheduler runs across every process sharing the database, until the
    /// transaction ends: a PostgreSQL advisory lock; on SQLite, the write lock taken up front
    /// (a transaction that reads first and writes later fails when another connection, such
    /// as the webhook dispatcher, commits in between).
    pub async fn lock_scheduler(&mut self) -> Result<()> {
        let sql = match self.backend {
            Backend::Postgres => "SELECT pg_advisory_xact_lock(7316455819)",
            Backend::Sqlite => "UPDATE sla_events SET kind = kind WHERE 0 = 1",
        };
        sqlx::query(sql).execute(&mut *self.tx).await?;
        Ok(())
    }

    /// Leads in `mql` or `sal` with their latest assignment, read inside this transaction.
    pub async fn open_handoffs(&mut self) -> Result<Vec<OpenHandoff>> {
        let rows = sqlx::query(OPEN_HANDOFFS).fetch_all(&mut *self.tx).await?;
        rows.iter().map(open_handoff).collect()
    }

    /// Records an SLA event unless it was already recorded; returns whether this call did.
    pub async fn claim_sla_event(&mut self, e: &SlaEventRow) -> Result<bool> {
        let done = sqlx::query(&format!(
            "INSERT INTO sla_events ({SLA_EVENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (lead_id, policy, kind, started_ms) DO NOTHING"
        ))
        .bind(&e.lead_id)
        .bind(&e.policy)
        .bind(&e.step)
        .bind(&e.kind)
        .bind(e.started_ms)
        .bind(e.due_ms)
        .bind(e.at_ms)
        .bind(e.rep_id.as_deref())
        .bind(e.team_id.as_deref())
        .bind(e.action.as_deref())
        .execute(&mut *self.tx)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// First activity of a lead at or after `from_ms`, read inside this transaction.
    pub async fn first_activity_since(
        &mut self,
        lead_id: &str,
        from_ms: i64,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT MIN(at_ms) AS first FROM activities WHERE lead_id = $1 AND at_ms >= $2",
        )
        .bind(lead_id)
        .bind(from_ms)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("first")?)
    }

    /// When a lead last entered `sal`, read inside this transaction.
    pub async fn last_accepted(&mut self, lead_id: &str) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT MAX(at_ms) AS last FROM transitions WHERE lead_id = $1 AND to_stage = 'sal'",
        )
        .bind(lead_id)
        .fetch_one(&mut *self.tx)
        .await?;
        Ok(row.try_get("last")?)
    }
}
