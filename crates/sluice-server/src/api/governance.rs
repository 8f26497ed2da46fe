//! The model as a contract (see `docs/governance.md`): each version with its author and
//! rationale, proposals with their diff and backtest, sign-off by both sides, shadow scoring
//! of a proposal, and rollback to an earlier version. Every version goes into force through
//! the writer's background activation (`Job::SetModel`).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::Model;
use sluice_core::Timestamp;
use sluice_core::backtest::{Outcome, OutcomeKind, Period, Tally};
use sluice_core::model::diff::diff;
use sluice_store::{ActivationRow, ModelRow, ProposalRow, SignatureRow};
use tokio::sync::oneshot;
use utoipa::{IntoParams, ToSchema};

use super::{ApiJson, ApiQuery, trust::audit};
use crate::error::ApiError;
use crate::live::Live;
use crate::state::AppState;
use crate::trust::Principal;
use crate::writer::Job;

/// Most leads a proposal's backtest replays (the first by id): enough to judge a change,
/// bounded so that proposing stays a matter of seconds on any database.
const BACKTEST_LEADS: i64 = 5_000;

/// How far back a proposal's backtest looks.
const BACKTEST_DAYS: i64 = 180;

/// The governance routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/model/proposals", get(list_proposals).post(propose))
        .route("/api/v1/model/proposals/{id}", get(get_proposal))
        .route("/api/v1/model/proposals/{id}/approve", post(approve))
        .route("/api/v1/model/proposals/{id}/reject", post(reject))
        .route(
            "/api/v1/model/proposals/{id}/shadow",
            get(shadow_report).post(start_shadow),
        )
        .route("/api/v1/model/log", get(model_log))
        .route("/api/v1/model/rollback", post(rollback))
}

/// Why a version is proposed.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProposeQuery {
    /// Why this change: what the evidence says, what it should do.
    rationale: Option<String>,
}

/// A signature on a proposal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// What the signer says (optional for an approval).
    comment: Option<String>,
}

/// A rejection of a proposal.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectProposal {
    /// Why (required).
    reason: String,
}

/// Which version to put back in force.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RollbackQuery {
    /// A stored version (see `GET /api/v1/model/log`).
    version: String,
}

/// A body as text; anything else is a `400` in the API's error shape.
fn text(body: Bytes) -> Result<String, ApiError> {
    String::from_utf8(body.to_vec())
        .map_err(|e| ApiError::bad_request(format!("the body is not UTF-8 text: {e}")))
}

/// Reads a model file sent as the body; its errors, each located, as a `422`.
pub(crate) fn compile(body: &str) -> Result<Model, ApiError> {
    Model::from_toml(body, "model.toml").map_err(|errors| {
        ApiError::unprocessable(format!(
            "the model has {} error(s); the first: {}",
            errors.0.len(),
            errors.0[0]
        ))
        .with_details(json!(errors.0))
    })
}

/// Puts a stored (or new) version in force through the writer's background activation, and
/// records who did it and how. Returns how many leads were rescored.
pub(crate) async fn activate(
    state: &AppState,
    principal: &Principal,
    model: Model,
    row: ModelRow,
    how: &str,
    note: Option<String>,
) -> Result<usize, ApiError> {
    let version = row.version.clone();
    let (reply, outcome) = oneshot::channel();
    let job = Job::SetModel {
        model: model.into(),
        row,
        reply,
    };
    state
        .writer
        .send(job)
        .await
        .map_err(|_| ApiError::from_unavailable())?;
    let rescored = outcome
        .await
        .map_err(|_| ApiError::from_unavailable())?
        .map_err(|e| {
            tracing::error!(error = %e, "activating a model failed");
            ApiError::from_unavailable()
        })?;
    state
        .store
        .record_activation(&ActivationRow {
            version,
            at_ms: state.clock.now().millis(),
            actor: principal.actor(),
            how: how.to_string(),
            note,
        })
        .await?;
    Ok(rescored)
}

/// Replays the stored history of (at most [`BACKTEST_LEADS`]) leads through the model in force
/// and through `proposed`, over `period`: the same counting as `sluice backtest`.
async fn backtest(
    state: &AppState,
    proposed: &Arc<Model>,
    proposed_version: &str,
    period: Period,
) -> Result<Value, ApiError> {
    let ids = state.store.lead_ids_after("", BACKTEST_LEADS).await?;
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut outcomes: HashMap<String, Vec<Outcome>> = HashMap::new();
    for o in state.store.outcomes_of_leads(&ids).await? {
        let kind = match o.kind.as_str() {
            "won" => OutcomeKind::Won,
            "lost" => OutcomeKind::Lost,
            _ => OutcomeKind::Opportunity,
        };
        outcomes.entry(o.lead_id).or_default().push(Outcome {
            kind,
            at: Timestamp::from_millis(o.at_ms),
            amount: o.amount.unwrap_or(0.0),
        });
    }
    let (active, active_version) = {
        let live = state.live.read().expect("live state lock");
        (Arc::clone(live.model()), live.version().to_string())
    };
    let mut results = Vec::new();
    for (model, version) in [
        (active, active_version.as_str()),
        (Arc::clone(proposed), proposed_version),
    ] {
        // A detached state under this model: trails matched under another are matched again
        // from their own events as they are read.
        let under = RwLock::new(Live::new(model, version.to_string()));
        let view = crate::live::view(&state.store, &under, &refs).await?;
        let mut tally = Tally::new(period);
        for id in &ids {
            let mql = view.first_mql(id, period.to);
            tally.add(mql, outcomes.get(id).map_or(&[][..], Vec::as_slice));
        }
        results.push(tally.finish());
    }
    Ok(json!({
        "leads": ids.len(),
        "limit": BACKTEST_LEADS,
        "period": period,
        "active": {"version": active_version, "metrics": results[0]},
        "proposed": {"version": proposed_version, "metrics": results[1]},
    }))
}

/// The last [`BACKTEST_DAYS`] days up to now.
fn recent(state: &AppState) -> Period {
    let to = state.clock.now();
    let from = Timestamp::from_millis(to.millis() - BACKTEST_DAYS * 86_400_000);
    Period { from, to }
}

/// A proposal with its signatures and where its sign-off stands.
async fn proposal_json(state: &AppState, p: &ProposalRow) -> Result<Value, ApiError> {
    let signatures = state.store.signatures(&p.id).await?;
    let required = required_approvers(state);
    let signed: Vec<&str> = required
        .iter()
        .filter(|role| {
            signatures
                .iter()
                .any(|s| s.verdict == "approve" && s.role == **role)
        })
        .map(String::as_str)
        .collect();
    let missing: Vec<&str> = required
        .iter()
        .map(String::as_str)
        .filter(|r| !signed.contains(r))
        .collect();
    Ok(json!({
        "id": p.id,
        "version": p.version,
        "name": p.name,
        "status": p.status,
        "author": p.author,
        "rationale": p.rationale,
        "created_at": Timestamp::from_millis(p.created_ms),
        "decided_at": p.decided_ms.map(Timestamp::from_millis),
        "base_version": p.base_version,
        "diff": serde_json::from_str::<Value>(&p.diff).unwrap_or(Value::Null),
        "backtest": serde_json::from_str::<Value>(&p.backtest).unwrap_or(Value::Null),
        "shadow_since": p.shadow_ms.map(Timestamp::from_millis),
        "source": p.source,
        "signatures": signatures.iter().map(|s| json!({
            "actor": s.actor, "role": s.role, "verdict": s.verdict, "comment": s.comment,
            "at": Timestamp::from_millis(s.at_ms),
        })).collect::<Vec<_>>(),
        "quorum": {"required": required, "signed": signed, "missing": missing},
    }))
}

/// The roles that must sign: the model in force says (`[governance] approvers`), so a
/// proposal cannot lower its own bar.
fn required_approvers(state: &AppState) -> Vec<String> {
    state
        .live
        .read()
        .expect("live state lock")
        .model()
        .approvers()
        .to_vec()
}

async fn open_proposal(state: &AppState, id: &str) -> Result<ProposalRow, ApiError> {
    state
        .store
        .proposal(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no model proposal `{id}`")))
}

/// Propose a new model version (the TOML file as the body). It is checked and stored with
/// its diff against the model in force and a backtest of both over the stored history; it
/// is put in force once the required approvers have signed.
#[utoipa::path(post, path = "/api/v1/model/proposals", tag = "model",
    request_body(description = "The model file (TOML)", content(
        (String = "application/toml", example = json!(crate::DEFAULT_MODEL)),
        (String = "text/plain", example = json!(crate::DEFAULT_MODEL)))),
    params(ProposeQuery),
    responses((status = 201, description = "`{id, diff, backtest, quorum, ...}`", body = Object),
        (status = 400, description = "A bad query parameter, or a body that is not text", body = crate::error::ErrorBody),
        (status = 409, description = "This version is in force, or stored with different content", body = crate::error::ErrorBody),
        (status = 422, description = "The model has errors, each with line, column and rule", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn propose(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(q): ApiQuery<ProposeQuery>,
    super::ModelFile(body): super::ModelFile,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let model = compile(&body)?;
    let version = model.version().to_string();
    let (active, active_version) = {
        let live = state.live.read().expect("live state lock");
        (Arc::clone(live.model()), live.version().to_string())
    };
    if version == active_version {
        return Err(ApiError::conflict(format!(
            "model version {version} is the one in force: give the proposal a new [model] version"
        )));
    }
    if let Some(stored) = state.store.model(&version).await?
        && stored.source != body
    {
        return Err(ApiError::conflict(format!(
            "model version {version} is already stored with different content: give the proposal a new [model] version"
        )));
    }
    let changes = diff(&active, &model);
    let proposed = Arc::new(model);
    let backtest = backtest(&state, &proposed, &version, recent(&state)).await?;
    let row = ProposalRow {
        id: crate::state::token("prop_"),
        version: version.clone(),
        name: proposed.name().to_string(),
        source: body,
        base_version: Some(active_version),
        author: principal.actor(),
        rationale: q.rationale.filter(|r| !r.trim().is_empty()),
        created_ms: state.clock.now().millis(),
        status: "open".into(),
        diff: json!(changes).to_string(),
        backtest: backtest.to_string(),
        decided_ms: None,
        shadow_ms: None,
    };
    state.store.insert_proposal(&row).await?;
    audit(
        &state,
        &principal,
        "model.propose",
        Some(&row.id),
        Some(json!({"version": version, "changes": changes.len()})),
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(proposal_json(&state, &row).await?),
    ))
}

/// Every proposal, newest first.
#[utoipa::path(get, path = "/api/v1/model/proposals", tag = "model",
    responses((status = 200, description = "`{proposals: [...]}`", body = Object),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn list_proposals(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut out = Vec::new();
    for p in state.store.proposals().await? {
        let mut item = proposal_json(&state, &p).await?;
        if let Some(item) = item.as_object_mut() {
            item.remove("source");
            item.remove("backtest");
        }
        out.push(item);
    }
    Ok(Json(json!({"proposals": out})))
}

/// A proposal: its file, diff, backtest, signatures and where the sign-off stands.
#[utoipa::path(get, path = "/api/v1/model/proposals/{id}", tag = "model",
    params(("id" = String, Path, description = "Proposal id")),
    responses((status = 200, description = "The proposal", body = Object),
        (status = 404, description = "No such proposal", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn get_proposal(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = open_proposal(&state, &id).await?;
    Ok(Json(proposal_json(&state, &p).await?))
}

/// Approve a proposal in the signed-in user's role. When every required role has approved,
/// the version is put in force (every lead is rescored in the background).
#[utoipa::path(post, path = "/api/v1/model/proposals/{id}/approve", tag = "model",
    params(("id" = String, Path, description = "Proposal id")),
    request_body(content = SignRequest, description = "An optional comment"),
    responses((status = 200, description = "The proposal, `activated` and `rescored_leads`", body = Object),
        (status = 400, description = "A malformed body", body = crate::error::ErrorBody),
        (status = 404, description = "No such proposal", body = crate::error::ErrorBody),
        (status = 409, description = "The proposal is no longer open", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    // The body is optional: an approval needs no words.
    let comment = match text(body)?.trim() {
        "" => None,
        text => serde_json::from_str::<SignRequest>(text)
            .map_err(|e| ApiError::bad_request(format!("the body is not a signature: {e}")))?
            .comment
            .filter(|c| !c.trim().is_empty()),
    };
    let p = open_proposal(&state, &id).await?;
    if p.status != "open" {
        return Err(ApiError::conflict(format!(
            "model proposal `{id}` is {}: propose again to change the model",
            p.status
        )));
    }
    // What is signed is the diff against the model that was in force: if that changed, the
    // diff and the backtest no longer say what the proposal does.
    let in_force = state
        .live
        .read()
        .expect("live state lock")
        .version()
        .to_string();
    if p.base_version.as_deref() != Some(in_force.as_str()) {
        return Err(ApiError::conflict(format!(
            "model proposal `{id}` was made against version {}, and version {in_force} is in force now: propose it again to sign its diff against {in_force}",
            p.base_version.as_deref().unwrap_or("(none)")
        )));
    }
    if let Some(stored) = state.store.model(&p.version).await?
        && stored.source != p.source
    {
        return Err(ApiError::conflict(format!(
            "model version {} has been stored since with different content: propose under a new [model] version",
            p.version
        )));
    }
    state
        .store
        .insert_signature(&SignatureRow {
            proposal_id: id.clone(),
            actor: principal.actor(),
            role: principal.role.as_str().to_string(),
            verdict: "approve".into(),
            comment,
            at_ms: state.clock.now().millis(),
        })
        .await?;
    audit(
        &state,
        &principal,
        "model.approve",
        Some(&id),
        Some(json!({"version": p.version, "role": principal.role.as_str()})),
    )
    .await;
    let mut answer = proposal_json(&state, &p).await?;
    let complete = answer["quorum"]["missing"]
        .as_array()
        .is_some_and(|m| m.is_empty());
    let mut rescored = 0;
    let activated = complete
        && state
            .store
            .decide_proposal(&id, "approved", state.clock.now().millis())
            .await?;
    if activated {
        // Checked when proposed; the file cannot have changed since.
        let model = compile(&p.source)?;
        let row = ModelRow {
            version: p.version.clone(),
            name: p.name.clone(),
            source: p.source.clone(),
            created_ms: state.clock.now().millis(),
            active: true,
        };
        rescored = activate(&state, &principal, model, row, "proposal", Some(id.clone())).await?;
        state
            .store
            .sign_model(&p.version, &p.author, p.rationale.as_deref())
            .await?;
        audit(
            &state,
            &principal,
            "model.activate",
            Some(&p.version),
            Some(json!({"proposal": id, "rescored_leads": rescored})),
        )
        .await;
        let p = open_proposal(&state, &id).await?;
        answer = proposal_json(&state, &p).await?;
    }
    answer["activated"] = json!(activated);
    answer["rescored_leads"] = json!(rescored);
    Ok(Json(answer))
}

/// Reject a proposal, with a reason; it will not be put in force.
#[utoipa::path(post, path = "/api/v1/model/proposals/{id}/reject", tag = "model",
    params(("id" = String, Path, description = "Proposal id")),
    request_body = RejectProposal,
    responses((status = 200, description = "The proposal", body = Object),
        (status = 400, description = "A malformed body", body = crate::error::ErrorBody),
        (status = 404, description = "No such proposal", body = crate::error::ErrorBody),
        (status = 409, description = "The proposal is no longer open", body = crate::error::ErrorBody),
        (status = 415, description = "The body is not JSON", body = crate::error::ErrorBody),
        (status = 422, description = "No `reason`, or a body that is not a rejection", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RejectProposal>,
) -> Result<Json<Value>, ApiError> {
    let p = open_proposal(&state, &id).await?;
    let reason = body.reason.trim().to_string();
    if reason.is_empty() {
        return Err(ApiError::unprocessable(
            "reason: say why the proposal is rejected",
        ));
    }
    let now = state.clock.now().millis();
    if !state.store.decide_proposal(&id, "rejected", now).await? {
        return Err(ApiError::conflict(format!(
            "model proposal `{id}` is {}: it can no longer be rejected",
            p.status
        )));
    }
    state
        .store
        .insert_signature(&SignatureRow {
            proposal_id: id.clone(),
            actor: principal.actor(),
            role: principal.role.as_str().to_string(),
            verdict: "reject".into(),
            comment: Some(reason.clone()),
            at_ms: now,
        })
        .await?;
    audit(
        &state,
        &principal,
        "model.reject",
        Some(&id),
        Some(json!({"version": p.version, "reason": reason})),
    )
    .await;
    let p = open_proposal(&state, &id).await?;
    Ok(Json(proposal_json(&state, &p).await?))
}

/// Start scoring a proposal in shadow: from now on its report compares the MQLs it would have
/// made with those the model in force made, and what became of them. Nothing moves.
#[utoipa::path(post, path = "/api/v1/model/proposals/{id}/shadow", tag = "model",
    params(("id" = String, Path, description = "Proposal id")),
    responses((status = 200, description = "The proposal, with `shadow_since`", body = Object),
        (status = 404, description = "No such proposal", body = crate::error::ErrorBody),
        (status = 409, description = "The proposal is no longer open", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn start_shadow(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = open_proposal(&state, &id).await?;
    if p.status != "open" {
        return Err(ApiError::conflict(format!(
            "model proposal `{id}` is {}: only an open proposal runs in shadow",
            p.status
        )));
    }
    state
        .store
        .start_shadow(&id, state.clock.now().millis())
        .await?;
    audit(&state, &principal, "model.shadow", Some(&id), None).await;
    let p = open_proposal(&state, &id).await?;
    Ok(Json(proposal_json(&state, &p).await?))
}

/// The shadow comparison since the proposal began scoring in shadow: for each model, the MQLs
/// it made (or would have made) and what became of them.
#[utoipa::path(get, path = "/api/v1/model/proposals/{id}/shadow", tag = "model",
    params(("id" = String, Path, description = "Proposal id")),
    responses((status = 200, description = "`{since, active, proposed}`", body = Object),
        (status = 404, description = "No such proposal", body = crate::error::ErrorBody),
        (status = 409, description = "The proposal is not in shadow", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn shadow_report(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let p = open_proposal(&state, &id).await?;
    let Some(since) = p.shadow_ms else {
        return Err(ApiError::conflict(format!(
            "model proposal `{id}` is not in shadow: POST /api/v1/model/proposals/{id}/shadow first"
        )));
    };
    let model = Arc::new(compile(&p.source)?);
    let period = Period {
        from: Timestamp::from_millis(since),
        to: state.clock.now(),
    };
    let report = backtest(&state, &model, &p.version, period).await?;
    Ok(Json(json!({
        "proposal": id,
        "since": Timestamp::from_millis(since),
        "report": report,
    })))
}

/// Every stored version, newest first, with its author, rationale, when it was in force,
/// and its changes from the version before it (the changelog).
#[utoipa::path(get, path = "/api/v1/model/log", tag = "model",
    responses((status = 200, description = "`{versions: [{version, author, rationale, created_at, active, activations, changes}]}`", body = Object),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn model_log(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let log = state.store.model_log().await?;
    let activations = state.store.activations().await?;
    let mut versions = Vec::new();
    for (i, v) in log.iter().enumerate() {
        let changes = match log.get(i + 1) {
            Some(before) => {
                let (old, new) = (
                    state.store.model(&before.version).await?,
                    state.store.model(&v.version).await?,
                );
                match (old, new) {
                    (Some(old), Some(new)) => match (
                        Model::from_toml(&old.source, "old.toml"),
                        Model::from_toml(&new.source, "new.toml"),
                    ) {
                        (Ok(old), Ok(new)) => json!(
                            diff(&old, &new)
                                .into_iter()
                                .map(|c| c.summary)
                                .collect::<Vec<_>>()
                        ),
                        _ => Value::Null,
                    },
                    _ => Value::Null,
                }
            }
            None => json!([]),
        };
        versions.push(json!({
            "version": v.version,
            "name": v.name,
            "author": v.author,
            "rationale": v.rationale,
            "created_at": Timestamp::from_millis(v.created_ms),
            "active": v.active,
            "activations": activations.iter().filter(|a| a.version == v.version).map(|a| json!({
                "at": Timestamp::from_millis(a.at_ms), "actor": a.actor, "how": a.how, "note": a.note,
            })).collect::<Vec<_>>(),
            "changes": changes,
        }));
    }
    Ok(Json(json!({"versions": versions})))
}

/// Put an earlier stored version back in force (every lead is rescored in the background,
/// under the same stage policy as any activation).
#[utoipa::path(post, path = "/api/v1/model/rollback", tag = "model", params(RollbackQuery),
    responses((status = 200, description = "`{version, previous, rescored_leads}`", body = Object),
        (status = 400, description = "No `version`", body = crate::error::ErrorBody),
        (status = 404, description = "No such stored version", body = crate::error::ErrorBody),
        (status = 409, description = "That version is in force already", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable", body = crate::error::ErrorBody)))]
pub async fn rollback(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(q): ApiQuery<RollbackQuery>,
) -> Result<Json<Value>, ApiError> {
    let stored =
        state.store.model(&q.version).await?.ok_or_else(|| {
            ApiError::not_found(format!("no stored model version `{}`", q.version))
        })?;
    let previous = state
        .live
        .read()
        .expect("live state lock")
        .version()
        .to_string();
    if previous == stored.version {
        return Err(ApiError::conflict(format!(
            "model version {} is in force already",
            stored.version
        )));
    }
    let model = compile(&stored.source)?;
    let row = ModelRow {
        active: true,
        ..stored
    };
    let version = row.version.clone();
    let rescored = activate(
        &state,
        &principal,
        model,
        row,
        "rollback",
        Some(format!("from {previous}")),
    )
    .await?;
    audit(
        &state,
        &principal,
        "model.rollback",
        Some(&version),
        Some(json!({"from": previous, "rescored_leads": rescored})),
    )
    .await;
    Ok(Json(json!({
        "version": version,
        "previous": previous,
        "rescored_leads": rescored,
    })))
}
