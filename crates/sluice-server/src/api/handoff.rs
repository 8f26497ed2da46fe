//! The hand-off API: teams and reps, the work queue, assignment, accept / reject, activities,
//! outcomes, account owners, and the SLA report.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_core::business_time::WorkingHours;
use sluice_core::{Actor, Stage, Timestamp};
use sluice_store::{ActivityRow, OutcomeRow, RepRow, TeamRow};
use tokio::sync::oneshot;
use utoipa::{IntoParams, ToSchema};

use super::trust::audit;
use super::{ApiJson, ApiOptionalJson, ApiPath, ApiQuery, run_move, timestamp};
use crate::error::ApiError;
use crate::handoff::{Roster, queue_clocks};
use crate::state::AppState;
use crate::trust::Principal;
use crate::writer::{Job, MoveFailure};

/// The hand-off routes (authenticated with the rest of the API by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/teams", get(list_teams).post(put_team))
        .route("/api/v1/teams/{id}", get(get_team))
        .route("/api/v1/reps", get(list_reps).post(put_rep))
        .route("/api/v1/reps/{id}", get(get_rep).patch(patch_rep))
        .route("/api/v1/queue", get(queue))
        .route("/api/v1/leads/{id}/assign", post(assign_lead))
        .route("/api/v1/leads/{id}/accept", post(accept_lead))
        .route("/api/v1/leads/{id}/reject", post(reject_lead))
        .route(
            "/api/v1/leads/{id}/activities",
            get(lead_activities).post(add_activity),
        )
        .route("/api/v1/activities", post(add_activities))
        .route("/api/v1/outcomes", post(add_outcomes))
        .route("/api/v1/accounts/{id}/owner", put(set_account_owner))
        .route("/api/v1/reports/sla", get(sla_report))
        .route("/api/v1/sla/run", post(run_sla))
}

fn slug(field: &str, id: &str) -> Result<String, ApiError> {
    let id = id.trim();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(ApiError::unprocessable(format!(
            "{field}: `{id}` must be letters, digits, `-`, `_` or `.`"
        )));
    }
    Ok(id.to_string())
}

fn required(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::unprocessable(format!(
            "{field} must not be empty"
        )));
    }
    Ok(value.to_string())
}

fn calendar(
    field: &str,
    time_zone: &str,
    hours: &[String],
    holidays: &[String],
) -> Result<(), ApiError> {
    let hours: Vec<&str> = hours.iter().map(String::as_str).collect();
    let holidays: Vec<&str> = holidays.iter().map(String::as_str).collect();
    WorkingHours::parse(time_zone, &hours, &holidays)
        .map(|_| ())
        .map_err(|e| ApiError::unprocessable(format!("{field}: {e}")))
}

/// A team, created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamRequest {
    /// Id used by routing rules, e.g. `sdr-emea`: letters, digits, `-`, `_` or `.`.
    #[schema(pattern = "^[A-Za-z0-9._-]+$")]
    id: String,
    /// Display name (default: the id).
    #[schema(pattern = "\\S")]
    name: Option<String>,
    /// IANA time zone, e.g. `Europe/Berlin` (default `UTC`).
    time_zone: Option<String>,
    /// Working hours, e.g. `["Mon-Fri 09:00-17:00"]` (the default).
    working_hours: Option<Vec<String>>,
    /// Local dates off, `YYYY-MM-DD`.
    #[schema(value_type = Option<Vec<super::Date>>)]
    holidays: Option<Vec<String>>,
    /// Who hears about breaches (email).
    manager: Option<String>,
}

/// Create or replace a team.
#[utoipa::path(post, path = "/api/v1/teams", tag = "hand-off", request_body = TeamRequest,
    responses((status = 200, description = "The team", body = Object), (status = 422, description = "A field is not valid")))]
pub async fn put_team(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<TeamRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = slug("id", &body.id)?;
    let time_zone = body.time_zone.unwrap_or_else(|| "UTC".into());
    let working_hours = body
        .working_hours
        .unwrap_or_else(|| vec!["Mon-Fri 09:00-17:00".into()]);
    let holidays = body.holidays.unwrap_or_default();
    calendar("working_hours", &time_zone, &working_hours, &holidays)?;
    let at = state.clock.now().millis();
    let existing = state.store.team(&id).await?;
    let team = TeamRow {
        name: match body.name {
            Some(name) => required("name", &name)?,
            None => id.clone(),
        },
        id,
        time_zone,
        working_hours,
        holidays,
        manager: body.manager.filter(|m| !m.trim().is_empty()),
        created_ms: existing.map_or(at, |t| t.created_ms),
        updated_ms: at,
    };
    state.store.upsert_team(&team).await?;
    audit(&state, &principal, "team.put", Some(&team.id), None).await;
    Ok(Json(json!(team)))
}

/// List teams.
#[utoipa::path(get, path = "/api/v1/teams", tag = "hand-off", responses((status = 200, description = "Every team", body = Object)))]
pub async fn list_teams(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({"teams": state.store.teams().await?})))
}

/// One team with its reps.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "hand-off", params(("id" = String, Path, description = "Team id")),
    responses((status = 200, description = "The team and its reps", body = Object), (status = 404, description = "No such team")))]
pub async fn get_team(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let team = state
        .store
        .team(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no team `{id}`")))?;
    let reps: Vec<RepRow> = state
        .store
        .reps()
        .await?
        .into_iter()
        .filter(|r| r.team_id == team.id)
        .collect();
    Ok(Json(json!({"team": team, "reps": reps})))
}

/// A rep, created or replaced.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepRequest {
    /// Id, e.g. `ana`: letters, digits, `-`, `_` or `.`.
    #[schema(pattern = "^[A-Za-z0-9._-]+$")]
    id: String,
    /// Display name.
    #[schema(pattern = "\\S")]
    name: String,
    /// Email address.
    #[schema(pattern = "@")]
    email: String,
    /// Their team's id.
    #[schema(pattern = "\\S")]
    team: String,
    /// New leads per day (default 20).
    #[schema(minimum = 0)]
    capacity: Option<i64>,
    /// Their own time zone, if not the team's.
    time_zone: Option<String>,
    /// Their own working hours, if not the team's.
    working_hours: Option<Vec<String>>,
    /// Whether they take new leads (default true).
    available: Option<bool>,
    /// Out of office until (RFC 3339 or YYYY-MM-DD; empty: not away).
    #[schema(value_type = Option<super::UntilOrNone>)]
    away_until: Option<String>,
}

/// Changes to a rep.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepPatch {
    /// Display name.
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<String>, nullable = false, pattern = "\\S")]
    name: Option<Option<String>>,
    /// Email address.
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<String>, nullable = false, pattern = "@")]
    email: Option<Option<String>>,
    /// Their team's id.
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<String>, nullable = false, pattern = "\\S")]
    team: Option<Option<String>>,
    /// New leads per day.
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<i64>, nullable = false, minimum = 0)]
    capacity: Option<Option<i64>>,
    /// Their own time zone (empty or null: the team's).
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<String>)]
    time_zone: Option<Option<String>>,
    /// Their own working hours (empty list or null: the team's).
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<Vec<String>>)]
    working_hours: Option<Option<Vec<String>>>,
    /// Whether they take new leads.
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<bool>, nullable = false)]
    available: Option<Option<bool>>,
    /// Out of office until (RFC 3339 or YYYY-MM-DD; empty, `none` or null: back).
    #[serde(default, deserialize_with = "super::patch_field")]
    #[schema(value_type = Option<super::UntilOrNone>)]
    away_until: Option<Option<String>>,
}

async fn check_rep(state: &AppState, rep: &RepRow) -> Result<(), ApiError> {
    if !rep.email.contains('@') {
        return Err(ApiError::unprocessable(format!(
            "email: `{}` is not an email address",
            rep.email
        )));
    }
    if rep.capacity < 0 {
        return Err(ApiError::unprocessable(format!(
            "capacity: {} must be 0 or more (new leads per day)",
            rep.capacity
        )));
    }
    let team = state.store.team(&rep.team_id).await?.ok_or_else(|| {
        ApiError::unprocessable(format!(
            "team: no team `{}` (create it first: POST /api/v1/teams)",
            rep.team_id
        ))
    })?;
    if rep.time_zone.is_some() || rep.working_hours.is_some() {
        calendar(
            "working_hours",
            rep.time_zone.as_deref().unwrap_or(&team.time_zone),
            rep.working_hours.as_ref().unwrap_or(&team.working_hours),
            &team.holidays,
        )?;
    }
    if let Some(other) = state.store.rep(&rep.email).await?
        && other.id != rep.id
    {
        return Err(ApiError::conflict(format!(
            "email: `{}` belongs to rep `{}`",
            rep.email, other.id
        )));
    }
    Ok(())
}

/// Create or replace a rep.
#[utoipa::path(post, path = "/api/v1/reps", tag = "hand-off", request_body = RepRequest,
    responses((status = 200, description = "The rep", body = Object), (status = 409, description = "The email belongs to another rep"),
        (status = 422, description = "A field is not valid, or the team does not exist")))]
pub async fn put_rep(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<RepRequest>,
) -> Result<Json<Value>, ApiError> {
    let at = state.clock.now().millis();
    let id = slug("id", &body.id)?;
    let existing = state.store.rep(&id).await?.filter(|r| r.id == id);
    let existing_team = existing.as_ref().map(|r| r.team_id.clone());
    let rep = RepRow {
        name: required("name", &body.name)?,
        email: required("email", &body.email)?.to_lowercase(),
        team_id: required("team", &body.team)?,
        time_zone: body.time_zone.filter(|t| !t.trim().is_empty()),
        working_hours: body.working_hours.filter(|h| !h.is_empty()),
        capacity: body.capacity.unwrap_or(20),
        available: body.available.unwrap_or(true),
        away_until_ms: body
            .away_until
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != "none")
            .map(|t| timestamp("away_until", t).map(|t| t.millis()))
            .transpose()?,
        created_ms: existing.map_or(at, |r| r.created_ms),
        updated_ms: at,
        id,
    };
    check_rep(&state, &rep).await?;
    manages(&principal, existing_team.as_deref())?;
    manages(&principal, Some(&rep.team_id))?;
    state.store.upsert_rep(&rep).await?;
    audit(&state, &principal, "rep.put", Some(&rep.id), None).await;
    Ok(Json(json!(rep)))
}

/// A sales manager changes only their own team's reps.
fn manages(principal: &Principal, team: Option<&str>) -> Result<(), ApiError> {
    match (principal.team(), team) {
        (Some(own), Some(team)) if own != team => Err(ApiError::forbidden(format!(
            "a sales manager changes only the reps of their team `{own}`, not of `{team}`"
        ))),
        _ => Ok(()),
    }
}

/// Change a rep: capacity, availability (out of office), team, hours.
#[utoipa::path(patch, path = "/api/v1/reps/{id}", tag = "hand-off", params(("id" = String, Path, description = "Rep id or email")),
    request_body = RepPatch,
    responses((status = 200, description = "The rep", body = Object), (status = 404, description = "No such rep"),
        (status = 422, description = "A field is not valid")))]
pub async fn patch_rep(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RepPatch>,
) -> Result<Json<Value>, ApiError> {
    let mut rep = state
        .store
        .rep(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rep `{id}`")))?;
    // A rep changes only themselves (availability, out of office), and not their team or
    // capacity; a manager only their team's reps.
    if let Some(own) = principal.rep() {
        if own != rep.id {
            return Err(ApiError::forbidden(
                "a rep changes only their own availability",
            ));
        }
        if body.team.is_some() || body.capacity.is_some() || body.email.is_some() {
            return Err(ApiError::forbidden(
                "a rep changes only their availability, out of office, hours and name",
            ));
        }
    }
    manages(&principal, Some(&rep.team_id))?;
    // `null` clears what can be cleared; what a rep cannot be without says so.
    let set = |field: &str, value: Option<Option<String>>| -> Result<Option<String>, ApiError> {
        match value {
            None => Ok(None),
            Some(None) => Err(ApiError::unprocessable(format!(
                "{field}: a rep cannot be without one (null clears only time_zone, working_hours and away_until)"
            ))),
            Some(Some(text)) => required(field, &text).map(Some),
        }
    };
    if let Some(name) = set("name", body.name)? {
        rep.name = name;
    }
    if let Some(email) = set("email", body.email)? {
        rep.email = email.to_lowercase();
    }
    if let Some(team) = set("team", body.team)? {
        rep.team_id = team;
    }
    match body.capacity {
        None => {}
        Some(None) => set("capacity", Some(None)).map(|_| ())?,
        Some(Some(capacity)) => rep.capacity = capacity,
    }
    match body.available {
        None => {}
        Some(None) => set("available", Some(None)).map(|_| ())?,
        Some(Some(available)) => rep.available = available,
    }
    if let Some(tz) = body.time_zone {
        rep.time_zone = tz.filter(|t| !t.trim().is_empty());
    }
    if let Some(hours) = body.working_hours {
        rep.working_hours = hours.filter(|h| !h.is_empty());
    }
    if let Some(until) = body.away_until {
        rep.away_until_ms = match until.as_deref().map(str::trim) {
            None | Some("" | "none") => None,
            Some(text) => Some(timestamp("away_until", text)?.millis()),
        };
    }
    rep.updated_ms = state.clock.now().millis();
    check_rep(&state, &rep).await?;
    manages(&principal, Some(&rep.team_id))?;
    state.store.upsert_rep(&rep).await?;
    audit(&state, &principal, "rep.patch", Some(&rep.id), None).await;
    Ok(Json(json!(rep)))
}

/// List reps, with whether each takes leads now.
#[utoipa::path(get, path = "/api/v1/reps", tag = "hand-off", responses((status = 200, description = "Every rep", body = Object)))]
pub async fn list_reps(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let roster = Roster::load(&state.store, now).await?;
    let loads = roster.loads(now);
    let reps: Vec<Value> = state
        .store
        .reps()
        .await?
        .into_iter()
        .map(|r| {
            let today = loads
                .iter()
                .find(|l| l.id == r.id)
                .map_or(0, |l| l.assigned_today);
            let available_now = r.is_available(now.millis());
            let mut value = json!(r);
            value["assigned_today"] = json!(today);
            value["available_now"] = json!(available_now);
            value
        })
        .collect();
    Ok(Json(json!({"reps": reps})))
}

/// One rep.
#[utoipa::path(get, path = "/api/v1/reps/{id}", tag = "hand-off", params(("id" = String, Path, description = "Rep id or email")),
    responses((status = 200, description = "The rep", body = Object), (status = 404, description = "No such rep")))]
pub async fn get_rep(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let rep = state
        .store
        .rep(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no rep `{id}`")))?;
    Ok(Json(json!(rep)))
}

/// Which part of the queue.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueQuery {
    /// Only this team's leads.
    team: Option<String>,
    /// Only this rep's leads.
    rep: Option<String>,
    /// `deadline` (the default: the earliest SLA deadline first), `probability` (the predicted
    /// chance of converting, highest first; the score where the model has no `[probability]`)
    /// or `score` (highest first).
    #[param(pattern = "^(deadline|probability|score)$")]
    sort: Option<String>,
}

/// The work queue: leads in `mql` and `sal` with their owner, SLA deadlines and predicted
/// probability (when the model has a `[probability]`), most urgent first, or by `sort`.
#[utoipa::path(get, path = "/api/v1/queue", tag = "hand-off", params(QueueQuery),
    responses((status = 200, description = "The queue", body = Object),
        (status = 422, description = "An unknown sort", body = crate::error::ErrorBody)))]
pub async fn queue(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(mut query): ApiQuery<QueueQuery>,
) -> Result<Json<Value>, ApiError> {
    // A rep sees only their queue, a manager only their team's.
    if let Some(rep) = principal.rep() {
        query.rep = Some(rep.to_string());
    }
    if let Some(team) = principal.team() {
        query.team = Some(team.to_string());
    }
    let sort = query.sort.as_deref().unwrap_or("deadline");
    if !matches!(sort, "deadline" | "probability" | "score") {
        return Err(ApiError::unprocessable(format!(
            "sort: `{sort}` is not deadline, probability or score"
        )));
    }
    let now = state.clock.now();
    let (policy, probability) = {
        let live = state.live.read().expect("live state lock");
        (
            live.model().handoff().clone(),
            live.model().probability().cloned(),
        )
    };
    let roster = Roster::load(&state.store, now).await?;
    let mut items = Vec::new();
    for handoff in state.store.open_handoffs().await? {
        let a = &handoff.assignment;
        if query
            .team
            .as_deref()
            .is_some_and(|t| a.team_id.as_deref() != Some(t))
            || query
                .rep
                .as_deref()
                .is_some_and(|r| a.rep_id.as_deref() != Some(r))
        {
            continue;
        }
        let stage: Stage = handoff.stage.parse().unwrap_or(Stage::Mql);
        let activities = state.store.activities_of(&a.lead_id).await?;
        let touched = activities.iter().any(|x| x.at_ms >= a.at_ms);
        let accepted = if stage == Stage::Sal {
            state
                .store
                .history(&a.lead_id)
                .await?
                .iter()
                .rev()
                .find(|t| t.to == Stage::Sal)
                .map(|t| t.at_ms)
        } else {
            None
        };
        let clocks = queue_clocks(&policy, &roster, a, stage, touched, accepted, now);
        let lead = state.store.lead(&a.lead_id).await?;
        items.push(json!({
            "lead_id": a.lead_id,
            "stage": stage,
            "email": lead.as_ref().and_then(|l| l.attributes.get("email")),
            "score": lead.as_ref().map(|l| l.score),
            "probability": lead
                .as_ref()
                .zip(probability.as_ref())
                .map(|(l, p)| (p.at(l.score) * 1000.0).round() / 1000.0),
            "grade": lead.as_ref().map(|l| l.grade.clone()),
            "rep": a.rep_id,
            "team": a.team_id,
            "assigned_at": Timestamp::from_millis(a.at_ms),
            "why": a.why,
            "touched": touched,
            "slas": clocks,
        }));
    }
    // Most urgent first: the earliest deadline; leads without a running clock last.
    items.sort_by_key(|item| {
        item["slas"]
            .as_array()
            .and_then(|c| {
                c.iter()
                    .filter_map(|c| c["due"].as_str().map(str::to_string))
                    .min()
            })
            .unwrap_or_else(|| "~".into())
    });
    if sort != "deadline" {
        // The probability rises with the score, so both orders agree where it is known; the
        // sort is stable, so equal ones keep their urgency order.
        let key = |item: &Value| item["score"].as_f64().unwrap_or(f64::NEG_INFINITY);
        items.sort_by(|a, b| key(b).total_cmp(&key(a)));
    }
    Ok(Json(json!({"queue": items, "sort": sort})))
}

/// Give a lead to a rep.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignRequest {
    /// The rep (id or email).
    rep: String,
    /// Who assigns: `sales` (default) or `marketing`.
    #[schema(pattern = "^(sales|marketing)$")]
    actor: Option<String>,
}

async fn known_rep(state: &AppState, field: &str, rep: &str) -> Result<RepRow, ApiError> {
    state
        .store
        .rep(rep)
        .await?
        .ok_or_else(|| ApiError::unprocessable(format!("{field}: no rep `{rep}`")))
}

fn person(actor: Option<&str>) -> Result<Actor, ApiError> {
    match actor.unwrap_or("sales").parse::<Actor>() {
        Ok(Actor::System) => Err(ApiError::bad_request(
            "actor: `system` moves are Sluice's own; use `sales` or `marketing`",
        )),
        Ok(actor) => Ok(actor),
        Err(e) => Err(ApiError::bad_request(format!("actor: {e}"))),
    }
}

/// Assign a lead to a rep by hand (recorded with who did it).
#[utoipa::path(post, path = "/api/v1/leads/{id}/assign", tag = "hand-off", params(("id" = String, Path, description = "Lead id")),
    request_body = AssignRequest,
    responses((status = 200, description = "The assignment", body = Object), (status = 404, description = "No such lead"),
        (status = 422, description = "Unknown rep")))]
pub async fn assign_lead(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<AssignRequest>,
) -> Result<Json<Value>, ApiError> {
    let actor = person(body.actor.as_deref())?;
    let rep = known_rep(&state, "rep", &body.rep).await?;
    manages(&principal, Some(&rep.team_id))?;
    let detail = json!({"rep": rep.id});
    let (reply, outcome) = oneshot::channel();
    let job = Job::Assign {
        lead: id.clone(),
        rep: rep.id,
        team: rep.team_id,
        actor,
        reply,
    };
    state
        .writer
        .send(job)
        .await
        .map_err(|_| ApiError::from_unavailable())?;
    match outcome.await.map_err(|_| ApiError::from_unavailable())? {
        Ok(changes) => {
            audit(&state, &principal, "lead.assign", Some(&id), Some(detail)).await;
            Ok(Json(json!({"assignment": changes.assignments.last()})))
        }
        Err(MoveFailure::Refused(e)) => Err(ApiError::not_found(e.to_string())),
        Err(MoveFailure::Storage(_)) => Err(ApiError::from_unavailable()),
    }
}

/// Accept a lead.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The rep accepting (default: the lead's owner); the lead becomes theirs.
    rep: Option<String>,
}

/// Accept an MQL (`mql` → `sal`).
#[utoipa::path(post, path = "/api/v1/leads/{id}/accept", tag = "hand-off", params(("id" = String, Path, description = "Lead id")),
    request_body(content = Option<AcceptRequest>, description = "Optional: an empty body accepts for the lead's owner"),
    responses((status = 200, description = "The lead and the transition", body = Object), (status = 404, description = "No such lead"),
        (status = 409, description = "Not in `mql`"), (status = 422, description = "Unknown rep")))]
pub async fn accept_lead(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    // The body is optional: an empty one accepts for the lead's owner.
    ApiOptionalJson(body): ApiOptionalJson<AcceptRequest>,
) -> Result<Json<Value>, ApiError> {
    let rep = acting_rep(&state, &principal, body.rep).await?;
    let answer = run_move(&state, id.clone(), Stage::Sal, Actor::Sales, None, rep).await?;
    audit(&state, &principal, "lead.accept", Some(&id), None).await;
    Ok(answer)
}

/// The rep a sales move is made for: the one named (a rep user may name only themselves), or
/// for a rep user themselves.
async fn acting_rep(
    state: &AppState,
    principal: &Principal,
    named: Option<String>,
) -> Result<Option<String>, ApiError> {
    let named = match named {
        Some(rep) => Some(known_rep(state, "rep", &rep).await?.id),
        None => None,
    };
    match (principal.rep(), named) {
        (Some(own), Some(named)) if own != named => Err(ApiError::forbidden(
            "a rep accepts and rejects leads only for themselves",
        )),
        (Some(own), _) => Ok(Some(own.to_string())),
        (None, named) => Ok(named),
    }
}

/// Reject a lead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// One of the model's `reject_reasons` (`not_a_fit`, `no_budget`...): required.
    #[schema(value_type = String, required = true, pattern = "\\S")]
    reason: Option<String>,
    /// `recycled` (back to nurture, the default) or `disqualified`.
    #[schema(pattern = "^(recycled|disqualified)$")]
    to: Option<String>,
    /// The rep rejecting (default: the lead's owner).
    rep: Option<String>,
}

/// Reject a lead with a reason: back to nurture (`recycled`) or out (`disqualified`).
#[utoipa::path(post, path = "/api/v1/leads/{id}/reject", tag = "hand-off", params(("id" = String, Path, description = "Lead id")),
    request_body = RejectRequest,
    responses((status = 200, description = "The lead and the transition", body = Object), (status = 404, description = "No such lead"),
        (status = 409, description = "Not in `mql` or `sal`"), (status = 422, description = "Missing or unknown reason, or unknown rep")))]
pub async fn reject_lead(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RejectRequest>,
) -> Result<Json<Value>, ApiError> {
    let to = match body.to.as_deref().unwrap_or("recycled") {
        "recycled" => Stage::Recycled,
        "disqualified" => Stage::Disqualified,
        other => {
            return Err(ApiError::unprocessable(format!(
                "to: `{other}` must be `recycled` or `disqualified`"
            )));
        }
    };
    let reason = body
        .reason
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            let allowed = state
                .live
                .read()
                .expect("live state lock")
                .model()
                .handoff()
                .reject_reasons
                .join(", ");
            ApiError::unprocessable(format!(
                "reason: a rejection needs a reason (one of {allowed})"
            ))
        })?;
    let rep = acting_rep(&state, &principal, body.rep).await?;
    let answer = run_move(
        &state,
        id.clone(),
        to,
        Actor::Sales,
        Some(reason.clone()),
        rep,
    )
    .await?;
    audit(
        &state,
        &principal,
        "lead.reject",
        Some(&id),
        Some(json!({"to": to.as_str(), "reason": reason})),
    )
    .await;
    Ok(answer)
}

/// An activity on the lead of the path.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivityRequest {
    /// `call`, `email`, `meeting`, `sms` or `social`.
    #[schema(pattern = "^(call|email|meeting|sms|social)$")]
    kind: String,
    /// When it happened (default: now).
    #[schema(value_type = Option<super::When>)]
    at: Option<String>,
    /// The rep (id or email).
    rep: Option<String>,
    /// Free text.
    note: Option<String>,
    /// The sender's id for it (a CRM activity id): repeats are stored once.
    external_id: Option<String>,
}

/// An activity in bulk: as [`ActivityRequest`], with its lead.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkActivity {
    /// The lead (id, email or any alias).
    lead: String,
    /// `call`, `email`, `meeting`, `sms` or `social`.
    #[schema(pattern = "^(call|email|meeting|sms|social)$")]
    kind: String,
    /// When it happened (default: now).
    #[schema(value_type = Option<super::When>)]
    at: Option<String>,
    /// The rep (id or email).
    rep: Option<String>,
    /// Free text.
    note: Option<String>,
    /// The sender's id for it (a CRM activity id): repeats are stored once.
    external_id: Option<String>,
}

impl From<BulkActivity> for ActivityRequest {
    fn from(a: BulkActivity) -> Self {
        ActivityRequest {
            kind: a.kind,
            at: a.at,
            rep: a.rep,
            note: a.note,
            external_id: a.external_id,
        }
    }
}

/// Activities in bulk (e.g. a CRM's webhook).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ActivitiesRequest {
    /// The activities.
    activities: Vec<BulkActivity>,
    /// Where they come from (default `crm`).
    source: Option<String>,
}

const ACTIVITY_KINDS: [&str; 5] = ["call", "email", "meeting", "sms", "social"];

async fn activity_row(
    state: &AppState,
    field: &str,
    lead: &str,
    a: ActivityRequest,
    source: &str,
) -> Result<ActivityRow, ApiError> {
    let kind = a.kind.trim().to_lowercase();
    if !ACTIVITY_KINDS.contains(&kind.as_str()) {
        return Err(ApiError::unprocessable(format!(
            "{field}kind: `{}` is not one of {}",
            a.kind,
            ACTIVITY_KINDS.join(", ")
        )));
    }
    let lead_id = crate::live::resolve(&state.store, &state.live, lead)
        .await?
        .ok_or_else(|| ApiError::unprocessable(format!("{field}lead: no lead `{lead}`")))?;
    let at = match a.at.as_deref() {
        Some(t) => timestamp(&format!("{field}at"), t)?,
        None => state.clock.now(),
    };
    let rep = match a.rep.as_deref() {
        Some(rep) => Some(known_rep(state, &format!("{field}rep"), rep).await?.id),
        None => None,
    };
    Ok(ActivityRow {
        lead_id,
        kind,
        at_ms: at.millis(),
        rep_id: rep,
        note: a.note,
        source: source.to_string(),
        external_id: a.external_id.filter(|e| !e.trim().is_empty()),
        recorded_ms: state.clock.now().millis(),
    })
}

/// Record an activity (call, email, meeting...) on a lead: the first one is its first touch.
#[utoipa::path(post, path = "/api/v1/leads/{id}/activities", tag = "hand-off", params(("id" = String, Path, description = "Lead id")),
    request_body = ActivityRequest,
    responses((status = 201, description = "Recorded", body = Object), (status = 200, description = "Already recorded (same external_id)", body = Object),
        (status = 404, description = "No such lead"), (status = 422, description = "Unknown kind or rep")))]
pub async fn add_activity(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ActivityRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // The lead of the path is looked up first: if it does not exist, the answer is 404, as
    // for every other `/leads/{id}` operation (a bulk row's unknown lead is a 422).
    if crate::live::resolve(&state.store, &state.live, &id)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no lead `{id}`")));
    }
    let row = activity_row(&state, "", &id, body, "api").await?;
    let new = state
        .store
        .record_activities(std::slice::from_ref(&row))
        .await?;
    let status = if new[0] {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"activity": row, "new": new[0]}))))
}

/// A lead's activities.
#[utoipa::path(get, path = "/api/v1/leads/{id}/activities", tag = "hand-off", params(("id" = String, Path, description = "Lead id")),
    responses((status = 200, description = "Activities, oldest first", body = Object), (status = 404, description = "No such lead")))]
pub async fn lead_activities(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let lead = crate::live::resolve(&state.store, &state.live, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead `{id}`")))?;
    Ok(Json(json!({
        "activities": state.store.activities_of(&lead).await?,
        "assignments": state.store.assignments_of(&lead).await?,
        "sla_events": state.store.sla_events_of(&lead).await?,
    })))
}

/// Record activities in bulk, matched by lead id or email: the door for a CRM's webhook.
/// Every row is checked first; if one is not valid, none is stored.
#[utoipa::path(post, path = "/api/v1/activities", tag = "hand-off", request_body = ActivitiesRequest,
    responses((status = 200, description = "How many were new", body = Object), (status = 422, description = "A row is not valid (named by index and field)")))]
pub async fn add_activities(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<ActivitiesRequest>,
) -> Result<Json<Value>, ApiError> {
    let source = body.source.unwrap_or_else(|| "crm".into());
    let mut rows = Vec::with_capacity(body.activities.len());
    for (i, a) in body.activities.into_iter().enumerate() {
        let field = format!("activities[{i}].");
        let lead = a.lead.clone();
        rows.push(activity_row(&state, &field, &lead, a.into(), &source).await?);
    }
    let new = state.store.record_activities(&rows).await?;
    let n = new.iter().filter(|&&n| n).count();
    Ok(Json(json!({"new": n, "duplicates": new.len() - n})))
}

/// Outcomes in bulk.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomesRequest {
    /// Each: `lead_id`, `email` or `crm_id` (a lead attribute); `type` (`opportunity`, `won`,
    /// `lost`); `amount` (required for opportunity and won, not negative); `date`; `reason`
    /// (required for lost). Or a CRM's deal as its export names the fields (a HubSpot deal:
    /// `Deal Stage`, `Amount`, `Create Date`, `Close Date`, `Associated Contact`; a Salesforce
    /// opportunity: `Stage`, `Amount`, `Created Date`, `Close Date`, `Email`): its opportunity
    /// and, once closed, its win or loss.
    #[schema(value_type = Vec<Object>)]
    outcomes: Vec<Map<String, Value>>,
}

/// Record outcomes (opportunities with pipeline $, wins with bookings $, losses with a reason),
/// matched by lead id, email or CRM id; they move the leads' stages. Every row is checked
/// first: if one is not valid, none is stored. Rows naming no known lead are returned as
/// `unmatched` and the rest are stored.
#[utoipa::path(post, path = "/api/v1/outcomes", tag = "hand-off", request_body = OutcomesRequest,
    responses((status = 200, description = "Stored, repeats, stage moves, unmatched rows", body = Object),
        (status = 422, description = "A row is not valid (named by index and field)")))]
pub async fn add_outcomes(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<OutcomesRequest>,
) -> Result<Json<Value>, ApiError> {
    let mut rows = Vec::new();
    let mut unmatched = Vec::new();
    let mut problems = Vec::new();
    {
        let reading = sluice_core::outcome::Reading {
            now: Some(state.clock.now()),
            dates: sluice_core::outcome::DateOrder::Unambiguous,
        };
        for (i, o) in body.outcomes.iter().enumerate() {
            let row: sluice_core::Attributes =
                o.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            let shape = sluice_core::outcome::Shape::of(o.keys().map(String::as_str));
            let read = match sluice_core::outcome::read(&row, shape, reading) {
                Ok(read) => read,
                Err(found) => {
                    for problem in found {
                        let field = sluice_core::outcome::field_of(&problem).unwrap_or("lead_id");
                        problems.push(format!("outcomes[{i}].{field}: {problem}"));
                    }
                    continue;
                }
            };
            let lead = &read.lead;
            let mut found = None;
            if let Some(id) = &lead.lead_id {
                found = crate::live::resolve(&state.store, &state.live, id).await?;
            }
            if found.is_none()
                && let Some(email) = &lead.email
            {
                found = crate::live::resolve(&state.store, &state.live, email).await?;
            }
            if found.is_none()
                && let Some(crm) = &lead.crm_id
            {
                found = state
                    .store
                    .leads_with_attribute("crm_id", crm)
                    .await?
                    .into_iter()
                    .next();
            }
            match found {
                Some(lead_id) => rows.extend(read.outcomes.into_iter().map(|o| OutcomeRow {
                    lead_id: lead_id.clone(),
                    kind: o.kind,
                    amount: o.amount,
                    at_ms: o.at.millis(),
                    reason: o.reason,
                })),
                None => unmatched.push(json!({"index": i, "outcome": o})),
            }
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::unprocessable(problems.join("; ")).with_details(json!(problems)));
    }
    let (reply, done) = oneshot::channel();
    state
        .writer
        .send(Job::Outcomes {
            outcomes: rows,
            reply,
        })
        .await
        .map_err(|_| ApiError::from_unavailable())?;
    let ack = done
        .await
        .map_err(|_| ApiError::from_unavailable())?
        .map_err(|_| ApiError::from_unavailable())?;
    Ok(Json(json!({
        "new": ack.new,
        "duplicates": ack.duplicates,
        "moved": ack.moved,
        "unmatched": unmatched,
    })))
}

/// An account's owner.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerRequest {
    /// The rep (id or email).
    rep: String,
}

/// Give an account an owner: its new MQLs go to them first.
#[utoipa::path(put, path = "/api/v1/accounts/{id}/owner", tag = "hand-off", params(("id" = String, Path, description = "Account id")),
    request_body = OwnerRequest,
    responses((status = 200, description = "Set", body = Object), (status = 404, description = "No such account"), (status = 422, description = "Unknown rep")))]
pub async fn set_account_owner(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<OwnerRequest>,
) -> Result<Json<Value>, ApiError> {
    let rep = known_rep(&state, "rep", &body.rep).await?;
    manages(&principal, Some(&rep.team_id))?;
    if state.store.account(&id).await?.is_none() {
        return Err(ApiError::not_found(format!("no account `{id}`")));
    }
    let mut tx = state.store.begin().await?;
    tx.set_account_owner(&id, &rep.id).await?;
    tx.commit().await?;
    audit(
        &state,
        &principal,
        "account.owner",
        Some(&id),
        Some(json!({"rep": rep.id})),
    )
    .await;
    Ok(Json(json!({"account_id": id, "owner": rep.id})))
}

/// The report's period.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Leads assigned from (default: 30 days ago).
    #[param(value_type = Option<super::When>)]
    from: Option<String>,
    /// Until (default: now).
    #[param(value_type = Option<super::When>)]
    to: Option<String>,
}

/// SLA compliance per team and per rep, time to first touch (median, p90, business hours),
/// contact rate, and the breaches with their leads.
#[utoipa::path(get, path = "/api/v1/reports/sla", tag = "hand-off", params(ReportQuery),
    responses((status = 200, description = "The report", body = Object), (status = 422, description = "Bad date")))]
pub async fn sla_report(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now();
    let to = match query.to.as_deref() {
        Some(t) => timestamp("to", t)?,
        None => Timestamp::from_millis(now.millis() + 1),
    };
    let from = match query.from.as_deref() {
        Some(t) => timestamp("from", t)?,
        None => Timestamp::from_millis(to.millis() - 30 * 86_400_000),
    };
    let policy = state
        .live
        .read()
        .expect("live state lock")
        .model()
        .handoff()
        .clone();
    let report = crate::handoff::report(&state.store, &policy, from, to, now).await?;
    Ok(Json(json!({"from": from, "to": to, "report": report})))
}

/// Run the SLA scheduler now (it also runs on its own every `--sla-every`).
#[utoipa::path(post, path = "/api/v1/sla/run", tag = "hand-off",
    responses((status = 200, description = "What the run did", body = Object)))]
pub async fn run_sla(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (reply, done) = oneshot::channel();
    state
        .writer
        .send(Job::SlaTick { reply: Some(reply) })
        .await
        .map_err(|_| ApiError::from_unavailable())?;
    let report = done
        .await
        .map_err(|_| ApiError::from_unavailable())?
        .map_err(|e| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("the SLA run failed: {e}"),
            )
        })?;
    Ok(Json(json!(report)))
}
