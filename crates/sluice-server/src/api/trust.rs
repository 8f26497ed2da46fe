//! People, tokens, write keys, the audit log and privacy requests (erase, export).

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::Timestamp;
use sluice_store::{SourceKeyRow, TokenRow, UserRow, digest};
use tokio::sync::oneshot;
use utoipa::{IntoParams, ToSchema};

use super::{ApiJson, ApiPath, ApiQuery};
use crate::error::ApiError;
use crate::state::AppState;
use crate::trust::{self, NewUser, Principal, Role};
use crate::writer::Job;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{id}", delete(delete_user))
        .route("/api/v1/me", get(me))
        .route("/api/v1/tokens", get(list_tokens).post(create_token))
        .route("/api/v1/tokens/{id}", delete(revoke_token))
        .route("/api/v1/tokens/{id}/rotate", post(rotate_token))
        .route("/api/v1/sources", get(list_sources).post(create_source))
        .route("/api/v1/sources/{id}", delete(revoke_source))
        .route("/api/v1/sources/{id}/rotate", post(rotate_source))
        .route("/api/v1/audit", get(audit_log))
        .route("/api/v1/leads/{id}", delete(erase_lead))
        .route("/api/v1/leads/{id}/export", get(export_lead))
}

/// Appends to the audit log. The change it records has happened: a failure to record it is
/// logged as an error rather than undoing it. Leads are named by [`trust::lead_ref`] (an
/// erasure by the anonymous id its aggregates keep).
pub(crate) async fn audit(
    state: &AppState,
    principal: &Principal,
    action: &str,
    target: Option<&str>,
    detail: Option<Value>,
) {
    let target = match target {
        Some(id) if action.starts_with("lead.") && action != "lead.erase" => {
            Some(trust::lead_ref(id))
        }
        other => other.map(str::to_string),
    };
    let entry = principal.audit(state.clock.now(), action, target.as_deref(), detail);
    if let Err(e) = state.store.audit(&entry).await {
        tracing::error!(error = %e, action, "could not append to the audit log");
    }
}

fn user_json(user: &UserRow) -> Value {
    json!({
        "id": user.id,
        "email": user.email,
        "role": user.role,
        "rep": user.rep,
        "team": user.team,
        "has_password": user.has_password,
        "created_at": Timestamp::from_millis(user.created_ms),
    })
}

fn token_json(token: &TokenRow, now_ms: i64) -> Value {
    json!({
        "id": token.id,
        "user_id": token.user_id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": Timestamp::from_millis(token.created_ms),
        "expires_at": token.expires_ms.map(Timestamp::from_millis),
        "revoked_at": token.revoked_ms.map(Timestamp::from_millis),
        "active": token.active(now_ms),
    })
}

fn source_json(key: &SourceKeyRow, now_ms: i64) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "prefix": key.prefix,
        "created_at": Timestamp::from_millis(key.created_ms),
        "expires_at": key.expires_ms.map(Timestamp::from_millis),
        "revoked_at": key.revoked_ms.map(Timestamp::from_millis),
        "active": key.active(now_ms),
    })
}

/// A person to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserRequest {
    /// Email address (unique): no spaces, with an `@`.
    #[schema(pattern = "^\\s*\\S*@\\S*\\s*$")]
    email: String,
    /// `admin`, `marketing`, `sales_manager`, `rep` or `analyst`.
    #[schema(pattern = "^(admin|marketing|sales_manager|rep|analyst)$")]
    role: String,
    /// For a rep: the rep they are (id or email; default: the rep with their email).
    rep: Option<String>,
    /// For a sales manager: the team they manage.
    team: Option<String>,
    /// A password for the dashboard (at least 12 characters).
    #[schema(min_length = 12)]
    password: Option<String>,
}

/// Add a person with a role; answers with a personal API token, shown once.
#[utoipa::path(post, path = "/api/v1/users", tag = "people", request_body = UserRequest,
    responses((status = 201, description = "The user, and `token`: their personal API token (shown once)", body = Object),
        (status = 400, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 409, description = "A user with this email exists", body = crate::error::ErrorBody),
        (status = 422, description = "A field is not valid (`details.field` names it)", body = crate::error::ErrorBody)))]
pub async fn create_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<UserRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (user, secret) = trust::add_user(
        &state.store,
        NewUser {
            email: body.email,
            role: body.role,
            rep: body.rep,
            team: body.team,
            password: body.password,
        },
        state.clock.now(),
    )
    .await?;
    audit(
        &state,
        &principal,
        "user.create",
        Some(&user.id),
        Some(json!({"role": user.role, "rep": user.rep, "team": user.team})),
    )
    .await;
    let mut answer = user_json(&user);
    answer["user"] = user_json(&user);
    answer["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Every person, by email.
#[utoipa::path(get, path = "/api/v1/users", tag = "people",
    responses((status = 200, description = "`{users: [...]}`", body = Object)))]
pub async fn list_users(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let users: Vec<Value> = state.store.users().await?.iter().map(user_json).collect();
    Ok(Json(json!({"users": users})))
}

/// Remove a person: their tokens and sessions end at once.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "people", params(("id" = String, Path, description = "User id or email")),
    responses((status = 200, description = "Removed", body = Object), (status = 404, description = "No such user", body = crate::error::ErrorBody)))]
pub async fn delete_user(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let user = state
        .store
        .user(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no user `{id}`")))?;
    state.store.delete_user(&user.id).await?;
    audit(&state, &principal, "user.delete", Some(&user.id), None).await;
    Ok(Json(json!({"deleted": user.id})))
}

/// Who the caller is: their user (none for the admin token) and role.
#[utoipa::path(get, path = "/api/v1/me", tag = "people",
    responses((status = 200, description = "`{user, role}`", body = Object)))]
pub async fn me(Extension(principal): Extension<Principal>) -> Json<Value> {
    Json(json!({
        "user": principal.user.as_ref().map(user_json),
        "role": principal.role,
    }))
}

/// A new personal API token.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// A name for people, e.g. `crm-sync`.
    #[schema(pattern = "\\S")]
    name: String,
}

/// The caller's tokens (prefixes only).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "people",
    responses((status = 200, description = "`{tokens: [...]}`", body = Object)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now().millis();
    let tokens: Vec<Value> = state
        .store
        .tokens_of(principal.user_id())
        .await?
        .iter()
        .map(|t| token_json(t, now))
        .collect();
    Ok(Json(json!({"tokens": tokens})))
}

fn needs_user(principal: &Principal) -> Result<&UserRow, ApiError> {
    principal.user.as_ref().ok_or_else(|| {
        ApiError::conflict(
            "the admin token is not a person's: add a user (POST /api/v1/users) to hold tokens",
        )
    })
}

/// Make a personal API token for the caller; its secret is shown once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "people", request_body = TokenRequest,
    responses((status = 201, description = "The token and `token`, its secret (shown once)", body = Object),
        (status = 400, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 409, description = "The admin token cannot hold tokens", body = crate::error::ErrorBody),
        (status = 422, description = "No name", body = crate::error::ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let user = needs_user(&principal)?;
    let now = state.clock.now();
    let (row, secret) = trust::new_token(&state.store, &user.id, &body.name, now).await?;
    audit(&state, &principal, "token.create", Some(&row.id), None).await;
    let mut answer = token_json(&row, now.millis());
    answer["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn own_token(
    state: &AppState,
    principal: &Principal,
    id: &str,
) -> Result<TokenRow, ApiError> {
    state
        .store
        .token(id)
        .await?
        .filter(|t| principal.role == Role::Admin || t.user_id == principal.user_id())
        .ok_or_else(|| ApiError::not_found(format!("no token `{id}`")))
}

/// Revoke a token (one's own; an admin any).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "people", params(("id" = String, Path, description = "Token id")),
    responses((status = 200, description = "Revoked", body = Object), (status = 404, description = "No such active token", body = crate::error::ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let token = own_token(&state, &principal, &id).await?;
    if !state
        .store
        .revoke_token(&token.id, state.clock.now().millis())
        .await?
    {
        return Err(ApiError::not_found(format!("no active token `{id}`")));
    }
    audit(&state, &principal, "token.revoke", Some(&token.id), None).await;
    Ok(Json(json!({"revoked": token.id})))
}

/// How long the old secret keeps working after a rotation.
#[derive(Debug, Deserialize, ToSchema, Default)]
pub struct RotateRequest {
    /// E.g. `1h`, `7d`, or `0` to end it now (default `24h`).
    #[schema(pattern = "^(0|0*[1-9][0-9]{0,8}(ms|s|m|min|h|d|w))$")]
    overlap: Option<String>,
}

/// Rotate a token: a new secret now, the old one keeps working for the overlap.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/rotate", tag = "people", params(("id" = String, Path, description = "Token id")),
    request_body = RotateRequest,
    responses((status = 201, description = "The new token and `token`, its secret (shown once)", body = Object),
        (status = 400, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 404, description = "No such active token", body = crate::error::ErrorBody),
        (status = 422, description = "A bad overlap", body = crate::error::ErrorBody)))]
pub async fn rotate_token(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let old = own_token(&state, &principal, &id).await?;
    let overlap = trust::overlap(body.overlap.as_deref())?;
    let now = state.clock.now();
    let (row, secret) = trust::rotate_token(&state.store, &old, overlap, now).await?;
    audit(
        &state,
        &principal,
        "token.rotate",
        Some(&old.id),
        Some(json!({"new": row.id, "overlap_ms": overlap.as_millis() as u64})),
    )
    .await;
    let mut answer = token_json(&row, now.millis());
    answer["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// A new source of events.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SourceRequest {
    /// A name for people, e.g. `website` or `backend`.
    #[schema(pattern = "\\S")]
    name: String,
}

/// Write keys, one or more per source of events (prefixes only: a key is shown once, when
/// it is made).
#[utoipa::path(get, path = "/api/v1/sources", tag = "sources", responses((status = 200, description = "`{sources: [...]}`", body = Object)))]
pub async fn list_sources(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let now = state.clock.now().millis();
    let sources: Vec<Value> = state
        .store
        .source_keys()
        .await?
        .iter()
        .map(|(k, _)| source_json(k, now))
        .collect();
    Ok(Json(json!({"sources": sources})))
}

/// Reloads the write keys ingestion accepts from the database.
pub(crate) async fn reload_write_keys(state: &AppState) -> Result<(), ApiError> {
    let keys = trust::active_write_keys(&state.store, state.clock.now()).await?;
    *state.write_keys.write().expect("write keys lock") = keys;
    Ok(())
}

/// Create a write key for a new source; the key is shown once.
#[utoipa::path(post, path = "/api/v1/sources", tag = "sources", request_body = SourceRequest,
    responses((status = 201, description = "The source and `key`, its write key (shown once)", body = Object),
        (status = 400, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 422, description = "No name", body = crate::error::ErrorBody)))]
pub async fn create_source(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiJson(body): ApiJson<SourceRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let now = state.clock.now();
    let (row, secret) = trust::new_source_key(&state.store, &body.name, None, now).await?;
    reload_write_keys(&state).await?;
    audit(
        &state,
        &principal,
        "source.create",
        Some(&row.id),
        Some(json!({"name": row.name})),
    )
    .await;
    let mut answer = source_json(&row, now.millis());
    answer["key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// A write key by id, or by the key itself.
async fn source_key(state: &AppState, id: &str) -> Result<SourceKeyRow, ApiError> {
    let hash = digest(id);
    state
        .store
        .source_keys()
        .await?
        .into_iter()
        .find(|(k, h)| k.id == id || *h == hash)
        .map(|(k, _)| k)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no write key `{}`",
                sluice_store::secret_prefix(id)
            ))
        })
}

/// Revoke a write key: its requests are refused from now on.
#[utoipa::path(delete, path = "/api/v1/sources/{id}", tag = "sources", params(("id" = String, Path, description = "The key's id (or the key itself)")),
    responses((status = 200, description = "Revoked", body = Object), (status = 404, description = "No such active key", body = crate::error::ErrorBody)))]
pub async fn revoke_source(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let key = source_key(&state, &id).await?;
    if !state
        .store
        .revoke_source_key(&key.id, state.clock.now().millis())
        .await?
    {
        return Err(ApiError::not_found(format!(
            "no active write key `{}`",
            key.id
        )));
    }
    reload_write_keys(&state).await?;
    audit(&state, &principal, "source.revoke", Some(&key.id), None).await;
    Ok(Json(json!({"revoked": key.id})))
}

/// Rotate a write key: a new key for the same source now; the old one keeps working for the
/// overlap, so SDKs can be moved over.
#[utoipa::path(post, path = "/api/v1/sources/{id}/rotate", tag = "sources", params(("id" = String, Path, description = "The key's id (or the key itself)")),
    request_body = RotateRequest,
    responses((status = 201, description = "The new key's source and `key` (shown once)", body = Object),
        (status = 400, description = "Not JSON", body = crate::error::ErrorBody),
        (status = 404, description = "No such active key", body = crate::error::ErrorBody),
        (status = 422, description = "A bad overlap", body = crate::error::ErrorBody)))]
pub async fn rotate_source(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let old = source_key(&state, &id).await?;
    let overlap = trust::overlap(body.overlap.as_deref())?;
    let now = state.clock.now();
    let until = now.millis() + overlap.as_millis() as i64;
    if !state
        .store
        .expire_source_key(&old.id, now.millis(), until)
        .await?
    {
        return Err(ApiError::not_found(format!(
            "no active write key `{}`",
            old.id
        )));
    }
    let (row, secret) = trust::new_source_key(&state.store, &old.name, None, now).await?;
    reload_write_keys(&state).await?;
    audit(
        &state,
        &principal,
        "source.rotate",
        Some(&old.id),
        Some(json!({"new": row.id, "overlap_ms": overlap.as_millis() as u64})),
    )
    .await;
    let mut answer = source_json(&row, now.millis());
    answer["key"] = json!(secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Paging through the audit log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next` value of the previous page (an entry's `seq`).
    #[param(value_type = Option<i64>)]
    cursor: Option<String>,
}

/// The audit log, newest first: model changes, manual stage changes, people, tokens, keys,
/// erasures and configuration changes, with who, when and from where.
#[utoipa::path(get, path = "/api/v1/audit", tag = "people", params(AuditQuery),
    responses((status = 200, description = "`{entries: [...], next}`", body = Object),
        (status = 400, description = "A bad cursor or limit", body = crate::error::ErrorBody)))]
pub async fn audit_log(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = super::page_limit(q.limit, 100)?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!("cursor: `{c}` is not a cursor of this log"))
            })
        })
        .transpose()?;
    let entries = state.store.audit_log(limit, before).await?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.seq.to_string()))
        .flatten();
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "at": Timestamp::from_millis(e.at_ms),
                "actor": e.actor,
                "address": e.address,
                "action": e.action,
                "target": e.target,
                "detail": e.detail,
            })
        })
        .collect();
    Ok(Json(json!({"entries": entries, "next": next})))
}

/// How to erase.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EraseQuery {
    /// Also keep the person's ids and email on the suppression list, so new events for them
    /// are dropped (default false).
    suppress: Option<bool>,
}

/// Every id a lead is known by: its own, its aliases and anonymous ids, and its email.
async fn ids_of_person(state: &AppState, lead_id: &str) -> Result<Vec<String>, ApiError> {
    let mut ids = crate::live::ids_of(&state.store, lead_id).await?;
    ids.extend(state.store.aliases_of(lead_id).await?);
    if let Some(lead) = state.store.lead(lead_id).await?
        && let Some(email) = lead.attributes.get("email").and_then(Value::as_str)
    {
        ids.push(email.to_string());
    }
    ids.push(lead_id.to_string());
    ids.sort();
    ids.dedup();
    Ok(ids)
}

async fn resolve_lead(state: &AppState, id: &str) -> Result<String, ApiError> {
    crate::live::resolve(&state.store, &state.live, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead `{id}`")))
}

/// Erase a person (by lead id, email or anonymous id): their attributes, events and
/// identities are deleted; stage history, outcomes and assignments stay under an anonymous
/// id so that reports still count them. With `suppress=true`, new events for them are
/// dropped.
#[utoipa::path(delete, path = "/api/v1/leads/{id}", tag = "leads", params(("id" = String, Path, description = "Lead id, email or anonymous id"), EraseQuery),
    responses((status = 200, description = "Erased: what was removed and the anonymous id kept", body = Object),
        (status = 400, description = "A bad parameter", body = crate::error::ErrorBody),
        (status = 404, description = "No such lead", body = crate::error::ErrorBody),
        (status = 503, description = "Storage is unavailable; retry", body = crate::error::ErrorBody)))]
pub async fn erase_lead(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EraseQuery>,
) -> Result<Json<Value>, ApiError> {
    let lead = resolve_lead(&state, &id).await?;
    let ids = ids_of_person(&state, &lead).await?;
    let suppress = q.suppress.unwrap_or(false);
    let (reply, outcome) = oneshot::channel();
    state
        .writer
        .send(Job::Erase {
            lead,
            ids: ids.clone(),
            suppress,
            reply,
        })
        .await
        .map_err(|_| ApiError::from_unavailable())?;
    let erasure = outcome
        .await
        .map_err(|_| ApiError::from_unavailable())?
        .map_err(|e| {
            tracing::error!(error = %e, "an erasure failed");
            ApiError::from_unavailable()
        })?;
    if suppress {
        let mut suppressed = state.suppressed.write().expect("suppressions lock");
        suppressed.extend(ids.iter().map(|i| sluice_store::suppression_digest(i)));
    }
    let checkpointed = state.store.checkpoint().await?;
    audit(
        &state,
        &principal,
        "lead.erase",
        Some(&erasure.anonymous_id),
        Some(json!({"events": erasure.events, "identities": erasure.identities, "suppressed": suppress})),
    )
    .await;
    Ok(Json(json!({
        "erased": true,
        "anonymous_id": erasure.anonymous_id,
        "events": erasure.events,
        "identities": erasure.identities,
        "kept_anonymous": erasure.kept_anonymous,
        "webhook_events": erasure.webhook_events,
        "suppressed": suppress,
        "log_checkpointed": checkpointed,
    })))
}

/// Everything Sluice holds on a person, as JSON: attributes, ids, events, stage history,
/// outcomes, assignments, activities and SLA events.
#[utoipa::path(get, path = "/api/v1/leads/{id}/export", tag = "leads", params(("id" = String, Path, description = "Lead id, email or anonymous id")),
    responses((status = 200, description = "The person's data", body = Object),
        (status = 404, description = "No such lead", body = crate::error::ErrorBody)))]
pub async fn export_lead(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let lead_id = resolve_lead(&state, &id).await?;
    let lead = state
        .store
        .lead(&lead_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead `{id}`")))?;
    let ids = ids_of_person(&state, &lead_id).await?;
    let mut events = Vec::new();
    let mut before = None;
    loop {
        let page = state.store.events_for(&ids, 1000, before).await?;
        let full = page.len() == 1000;
        before = page.last().map(|e| e.seq);
        events.extend(page.into_iter().map(|e| {
            json!({
                "seq": e.seq,
                "source": e.source,
                "message": serde_json::from_str::<Value>(&e.message).unwrap_or(Value::Null),
            })
        }));
        if !full {
            break;
        }
    }
    let answer = json!({
        "exported_at": state.clock.now(),
        "lead": lead,
        "ids": ids,
        "events": events,
        "history": state.store.history(&lead_id).await?,
        "outcomes": state.store.outcomes_of(&lead_id).await?,
        "assignments": state.store.assignments_of(&lead_id).await?,
        "activities": state.store.activities_of(&lead_id).await?,
        "sla_events": state.store.sla_events_of(&lead_id).await?,
    });
    audit(
        &state,
        &principal,
        "lead.export",
        Some(&lead_id),
        Some(json!({"events": events.len()})),
    )
    .await;
    Ok(Json(answer))
}
