//! The management and query API under `/api/v1`, bearer-token authenticated and described by
//! the OpenAPI document at `/openapi.json` (Swagger UI at `/docs`).

use axum::extract::{Path, Query, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware;
use axum::routing::{any, get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::{Actor, Model, Stage, Timestamp};
use sluice_store::{LeadFilter, LeadSort, ModelRow};
use tokio::sync::oneshot;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::state::AppState;
use crate::trust::Principal;
use crate::writer::{Job, MoveFailure};

pub mod access;
use access::Roles;
mod answers;
use answers::Answers;
mod governance;
mod handoff;
mod reports;
mod trust;
mod webhooks;

/// A JSON body whose rejection (malformed JSON, a body that does not fit the type, a wrong
/// content type, too large) is an [`ApiError`] with the rejection's status: 400, 422, 415, 413.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Json::<T>::from_request(request, state)
            .await
            .map(|Json(value)| ApiJson(value))
            .map_err(|e| ApiError::rejected(e.status(), e.body_text()))
    }
}

/// An optional JSON body: an empty one (or only whitespace) is `T::default()`, anything else is
/// read as [`ApiJson`] reads it, `Content-Type: application/json` included.
pub struct ApiOptionalJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Default> axum::extract::FromRequest<S>
    for ApiOptionalJson<T>
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let headers = request.headers().clone();
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::rejected(e.status(), e.body_text()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(ApiOptionalJson(T::default()));
        }
        let mut request = Request::new(axum::body::Body::from(bytes));
        *request.headers_mut() = headers;
        ApiJson::<T>::from_request(request, state)
            .await
            .map(|ApiJson(value)| ApiOptionalJson(value))
    }
}

/// Query parameters whose rejection (a number that is not one...) is a 400 [`ApiError`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for ApiQuery<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::rejected(StatusCode::BAD_REQUEST, e.body_text()))
    }
}

/// Path parameters whose rejection (not UTF-8 once decoded, not a number where one is due) is a
/// 400 [`ApiError`].
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for ApiPath<T>
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|e| ApiError::rejected(e.status(), e.body_text()))
    }
}

/// The media types a model file may be sent as (a request without `Content-Type` is read as
/// one too).
pub const MODEL_MEDIA_TYPES: [&str; 2] = ["application/toml", "text/plain"];

/// A model file as a request body: UTF-8 text sent as one of [`MODEL_MEDIA_TYPES`]; 415 for
/// another media type, 400 for a body that is not UTF-8.
pub struct ModelFile(pub String);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ModelFile {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if let Some(given) = request.headers().get(axum::http::header::CONTENT_TYPE) {
            let essence = given
                .to_str()
                .unwrap_or_default()
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            if !MODEL_MEDIA_TYPES.contains(&essence.as_str()) {
                return Err(ApiError::rejected(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!(
                        "send the model file as `Content-Type: application/toml` (or text/plain), not `{}`",
                        given.to_str().unwrap_or("?")
                    ),
                ));
            }
        }
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| ApiError::rejected(e.status(), e.body_text()))?;
        String::from_utf8(bytes.to_vec())
            .map(ModelFile)
            .map_err(|e| ApiError::bad_request(format!("the model file is not UTF-8: {e}")))
    }
}

/// The answer to a method a path does not have (axum adds the `Allow` header).
async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::rejected(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not an operation of {}", uri.path()),
    )
}

/// The answer to a path the API does not have.
pub(crate) async fn no_such_path(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no operation at {} (see /openapi.json)",
        uri.path()
    ))
}

/// A date or a time as requests give them: RFC 3339 (`2026-11-02T09:30:00Z`) or
/// `YYYY-MM-DD` (midnight UTC), read by [`Timestamp::parse`].
pub struct When;

impl utoipa::PartialSchema for When {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(string_of(KnownFormat::DateTime))
            .item(string_of(KnownFormat::Date))
            .description(Some(
                "RFC 3339, e.g. `2026-11-02T09:30:00Z`, or `YYYY-MM-DD`",
            ))
            .into()
    }
}

impl utoipa::ToSchema for When {}

/// A PATCH body's field: absent (`None`), `null` (`Some(None)`: clear it) or a value.
pub(crate) fn patch_field<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// [`When`], or empty for none.
pub struct WhenOrEmpty;

impl utoipa::PartialSchema for WhenOrEmpty {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(string_of(KnownFormat::DateTime))
            .item(string_of(KnownFormat::Date))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(0)),
            )
            .description(Some(
                "RFC 3339, e.g. `2026-11-02T09:30:00Z`, `YYYY-MM-DD`, or empty for none",
            ))
            .into()
    }
}

impl utoipa::ToSchema for WhenOrEmpty {}

/// A rep's absence: [`When`], or empty or `none` (the CLI's word) for none.
pub struct UntilOrNone;

impl utoipa::PartialSchema for UntilOrNone {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::AnyOfBuilder::new()
            .item(string_of(KnownFormat::DateTime))
            .item(string_of(KnownFormat::Date))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(0)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(["none"])),
            )
            .description(Some(
                "RFC 3339, e.g. `2026-11-02T09:30:00Z`, `YYYY-MM-DD`, or empty or `none` for none",
            ))
            .into()
    }
}

impl utoipa::ToSchema for UntilOrNone {}

/// A page cursor of leads or accounts, the `next` of the previous page: the last item's sort
/// key (a number), `~`, and its id.
pub struct Cursor;

impl utoipa::PartialSchema for Cursor {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(
                "^[+-]?(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][+-]?[0-9]+)?|[Ii][Nn][Ff]([Ii][Nn][Ii][Tt][Yy])?|[Nn][Aa][Nn])~",
            ))
            .description(Some("The `next` of the previous page"))
            .into()
    }
}

impl utoipa::ToSchema for Cursor {}

/// A calendar date, `YYYY-MM-DD`.
pub struct Date;

impl utoipa::PartialSchema for Date {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_of(KnownFormat::Date).into()
    }
}

impl utoipa::ToSchema for Date {}

fn string_of(format: KnownFormat) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(format)))
}

/// The OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Sluice", description = "Lead qualification: leads, accounts, the model, sources. Ingestion follows the Segment HTTP Tracking API under /v1."),
    paths(list_leads, get_lead, lead_events, move_lead, list_accounts, get_account, get_model, put_model, model_versions, model_activation,
        trust::list_sources, trust::create_source, trust::revoke_source, trust::rotate_source,
        trust::create_user, trust::list_users, trust::delete_user, trust::me, trust::list_tokens, trust::create_token, trust::revoke_token, trust::rotate_token,
        trust::audit_log, trust::erase_lead, trust::export_lead,
        webhooks::create_webhook, webhooks::list_webhooks, webhooks::get_webhook, webhooks::webhook_secret, webhooks::disable_webhook,
        webhooks::webhook_deliveries, webhooks::redeliver, webhooks::test_webhook,
        handoff::put_team, handoff::list_teams, handoff::get_team, handoff::put_rep, handoff::patch_rep, handoff::list_reps, handoff::get_rep,
        handoff::queue, handoff::assign_lead, handoff::accept_lead, handoff::reject_lead, handoff::add_activity, handoff::lead_activities,
        handoff::add_activities, handoff::add_outcomes, handoff::set_account_owner, handoff::sla_report, handoff::run_sla,
        reports::funnel, reports::attribution,
        governance::propose, governance::list_proposals, governance::get_proposal, governance::approve, governance::reject,
        governance::start_shadow, governance::shadow_report, governance::model_log, governance::rollback),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, When, WhenOrEmpty, UntilOrNone, Date, Cursor, webhooks::EventType, MoveRequest, trust::SourceRequest, trust::UserRequest, trust::TokenRequest, trust::RotateRequest, webhooks::WebhookRequest,
        handoff::TeamRequest, handoff::RepRequest, handoff::RepPatch, handoff::AssignRequest, handoff::AcceptRequest, handoff::RejectRequest,
        handoff::ActivityRequest, handoff::BulkActivity, handoff::ActivitiesRequest, handoff::OutcomesRequest, handoff::OwnerRequest,
        governance::SignRequest, governance::RejectProposal)),
    modifiers(&Bearer, &Roles, &Answers),
    tags((name = "leads"), (name = "people"), (name = "accounts"), (name = "model"), (name = "sources"), (name = "webhooks"), (name = "hand-off"), (name = "reports"))
)]
pub struct ApiDoc;

struct Bearer;

impl utoipa::Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
            "bearer",
            Vec::<String>::new(),
        )]);
    }
}

/// The API routes, the OpenAPI document and Swagger UI.
pub fn routes(state: AppState) -> Router<AppState> {
    let api = Router::new()
        .route("/api/v1/leads", get(list_leads))
        .route("/api/v1/leads/{id}", get(get_lead))
        .route("/api/v1/leads/{id}/events", get(lead_events))
        .route("/api/v1/leads/{id}/transitions", post(move_lead))
        .route("/api/v1/accounts", get(list_accounts))
        .route("/api/v1/accounts/{id}", get(get_account))
        .route("/api/v1/model", get(get_model).post(put_model))
        .route("/api/v1/model/versions", get(model_versions))
        .route("/api/v1/model/activation", get(model_activation))
        .merge(trust::routes())
        .merge(webhooks::routes())
        .merge(handoff::routes())
        .merge(reports::routes())
        .merge(governance::routes())
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(middleware::from_fn_with_state(state, access::authenticate))
        .route("/api/v1/{*rest}", any(no_such_path));
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", ApiDoc::openapi()))
}

/// Filters for listing leads.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LeadQuery {
    /// Only leads in this stage (`lead`, `mql`, `sal`, `sql`, `opportunity`, `won`, `lost`, `recycled`, `disqualified`).
    #[param(pattern = "^(lead|mql|sal|sql|opportunity|won|lost|recycled|disqualified)$")]
    stage: Option<String>,
    /// Only leads with this grade, e.g. `A1`.
    grade: Option<String>,
    /// Score at least.
    min_score: Option<f64>,
    /// Score at most.
    max_score: Option<f64>,
    /// Owned by (a rep id).
    owner: Option<String>,
    /// Owned by a rep of this team, or routed to it.
    team: Option<String>,
    /// In this account.
    account: Option<String>,
    /// Updated at or after this time (RFC 3339, or `YYYY-MM-DD`).
    #[param(value_type = Option<When>)]
    updated_since: Option<String>,
    /// `score` (highest first, the default) or `updated` (most recent first).
    #[param(pattern = "^(score|updated)$")]
    sort: Option<String>,
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next` value of the previous page.
    #[param(value_type = Option<Cursor>)]
    cursor: Option<String>,
}

/// List leads, with filters and cursor pagination.
#[utoipa::path(get, path = "/api/v1/leads", tag = "leads", params(LeadQuery),
    responses((status = 200, description = "A page of leads: `{leads: [...], next}`", body = Object), (status = 400, description = "A bad filter")))]
async fn list_leads(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(q): ApiQuery<LeadQuery>,
) -> Result<Json<Value>, ApiError> {
    let stage = q
        .stage
        .as_deref()
        .map(str::parse::<Stage>)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("stage: {e}")))?;
    let updated_since = q
        .updated_since
        .as_deref()
        .map(Timestamp::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("updated_since: {e}")))?;
    let sort = match q.sort.as_deref() {
        None | Some("score") => LeadSort::Score,
        Some("updated") => LeadSort::Updated,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "sort: `{other}` is not `score` or `updated`"
            )));
        }
    };
    // A rep lists only their leads, a manager only their team's.
    let owner = match principal.rep() {
        Some(rep) => Some(rep.to_string()),
        None => q.owner,
    };
    let team = match principal.team() {
        Some(team) => Some(team.to_string()),
        None => q.team,
    };
    let filter = LeadFilter {
        stage,
        grade: q.grade,
        min_score: q.min_score,
        max_score: q.max_score,
        owner,
        team,
        account: q.account,
        updated_since: updated_since.map(Timestamp::millis),
        sort,
        limit: page_limit(q.limit, 50)?,
        cursor: q.cursor,
    };
    let page = state.store.leads(&filter).await?;
    Ok(Json(json!({"leads": page.items, "next": page.next})))
}

/// A lead: attributes, its score now with the explanation of every point, BANT, stage
/// history, aliases and outcomes.
#[utoipa::path(get, path = "/api/v1/leads/{id}", tag = "leads", params(("id" = String, Path, description = "Lead id, email or anonymous id")),
    responses((status = 200, description = "The lead", body = Object), (status = 404, description = "No such lead")))]
async fn get_lead(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let view = crate::live::view(&state.store, &state.live, &[&id]).await?;
    let lead_id = view
        .resolve(&id)
        .map(str::to_string)
        .ok_or_else(|| ApiError::not_found(format!("no lead `{id}`")))?;
    let live = view.explain(&lead_id, state.clock.now());
    let bant = state_bant(&view, &lead_id);
    let row = state
        .store
        .lead(&lead_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead `{id}`")))?;
    let history = state.store.history(&lead_id).await?;
    let aliases: Vec<String> = crate::live::ids_of(&state.store, &lead_id)
        .await?
        .into_iter()
        .filter(|a| *a != lead_id)
        .collect();
    let outcomes = state.store.outcomes_of(&lead_id).await?;
    let (score, explanation) =
        live.map_or((Value::Null, Value::Null), |(s, e)| (json!(s), json!(e)));
    Ok(Json(json!({
        "lead": row,
        "now": {"at": state.clock.now(), "score": score, "explanation": explanation},
        "bant": bant,
        "history": history,
        "aliases": aliases,
        "outcomes": outcomes,
    })))
}

fn state_bant(live: &crate::live::Live, lead: &str) -> Value {
    live.attributes(lead)
        .and_then(|a| live.model().bant_status(&a))
        .map_or(Value::Null, |b| json!(b))
}

/// Paging through a lead's events.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Page size, 1-1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// Events older than this sequence number (the `next` of the previous page).
    before: Option<i64>,
}

/// A lead's events, newest first, as they were received (including those sent under its
/// anonymous ids and other aliases).
#[utoipa::path(get, path = "/api/v1/leads/{id}/events", tag = "leads", params(("id" = String, Path, description = "Lead id"), EventQuery),
    responses((status = 200, description = "`{events: [...], next}`", body = Object), (status = 404, description = "No such lead")))]
async fn lead_events(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EventQuery>,
) -> Result<Json<Value>, ApiError> {
    let lead_id = crate::live::resolve(&state.store, &state.live, &id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no lead `{id}`")))?;
    let ids = crate::live::ids_of(&state.store, &lead_id).await?;
    let limit = page_limit(q.limit, 100)?;
    let events = state.store.events_for(&ids, limit, q.before).await?;
    let next = (events.len() as i64 == limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let events: Vec<Value> = events
        .iter()
        .map(|e| json!({"seq": e.seq, "source": e.source, "message": serde_json::from_str::<Value>(&e.message).unwrap_or(Value::Null)}))
        .collect();
    Ok(Json(json!({"events": events, "next": next})))
}

/// A stage change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MoveRequest {
    /// The stage to move to.
    #[schema(pattern = "^(lead|mql|sal|sql|opportunity|won|lost|recycled|disqualified)$")]
    to: String,
    /// Who moves it: `sales` (default) or `marketing`.
    #[schema(pattern = "^(sales|marketing)$")]
    actor: Option<String>,
    /// Why: required to reject, recycle, disqualify or reopen.
    reason: Option<String>,
}

/// Move a lead to another stage (disqualify, recycle, reopen, accept...), as the lifecycle
/// allows.
#[utoipa::path(post, path = "/api/v1/leads/{id}/transitions", tag = "leads", params(("id" = String, Path, description = "Lead id")),
    request_body = MoveRequest,
    responses((status = 200, description = "The lead's new row and the transition", body = Object),
        (status = 400, description = "Unknown stage or actor"), (status = 404, description = "No such lead"),
        (status = 409, description = "The lifecycle does not allow this move"), (status = 422, description = "Missing reason, or BANT not met for `sql`")))]
async fn move_lead(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<MoveRequest>,
) -> Result<Json<Value>, ApiError> {
    let to: Stage = body
        .to
        .parse()
        .map_err(|e: String| ApiError::bad_request(format!("to: {e}")))?;
    let actor: Actor = body
        .actor
        .as_deref()
        .unwrap_or("sales")
        .parse()
        .map_err(|e: String| ApiError::bad_request(format!("actor: {e}")))?;
    if actor == Actor::System {
        return Err(ApiError::bad_request(
            "actor: `system` moves are Sluice's own; use `sales` or `marketing`",
        ));
    }
    let answer = run_move(&state, id.clone(), to, actor, body.reason.clone(), None).await?;
    trust::audit(
        &state,
        &principal,
        "lead.move",
        Some(&id),
        Some(json!({"to": to.as_str(), "actor": actor.as_str(), "reason": body.reason})),
    )
    .await;
    Ok(answer)
}

/// Has the writer move a lead; maps refusals to 404 / 409 / 422.
pub(crate) async fn run_move(
    state: &AppState,
    lead: String,
    to: Stage,
    actor: Actor,
    reason: Option<String>,
    rep: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let (reply, outcome) = oneshot::channel();
    let job = Job::Move {
        lead,
        to,
        actor,
        reason,
        rep,
        reply,
    };
    state
        .writer
        .send(job)
        .await
        .map_err(|_| ApiError::from_unavailable())?;
    match outcome.await.map_err(|_| ApiError::from_unavailable())? {
        Ok(changes) => Ok(Json(json!({
            "lead": changes.leads.first(),
            "transition": changes.transitions.first(),
            "assignment": changes.assignments.last(),
        }))),
        Err(MoveFailure::Refused(e)) => {
            use crate::live::MoveError;
            use sluice_core::lifecycle::TransitionError;
            Err(match e {
                MoveError::NoLead(_) => ApiError::not_found(e.to_string()),
                MoveError::Transition(TransitionError::ReasonRequired { .. }) => {
                    ApiError::unprocessable(e.to_string())
                }
                MoveError::Bant { .. } | MoveError::Reason { .. } => {
                    ApiError::unprocessable(e.to_string())
                }
                MoveError::Transition(_) => ApiError::conflict(e.to_string()),
            })
        }
        Err(MoveFailure::Storage(_)) => Err(ApiError::from_unavailable()),
    }
}

/// A page size given as `limit` (1-1000), or `default`; 400 if out of range.
pub(crate) fn page_limit(limit: Option<i64>, default: i64) -> Result<i64, ApiError> {
    match limit {
        None => Ok(default),
        Some(n) if (1..=1000).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit: {n} is not a page size (1-1000)"
        ))),
    }
}

/// A date or time given in a request (RFC 3339 or `YYYY-MM-DD`); 422 naming `field` if not.
pub(crate) fn timestamp(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(text).map_err(|_| {
        ApiError::unprocessable(format!(
            "{field}: `{}` is not a date (RFC 3339, e.g. 2026-11-02T09:30:00Z, or YYYY-MM-DD)",
            text.trim()
        ))
    })
}

impl ApiError {
    pub(crate) fn from_unavailable() -> ApiError {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the writer is unavailable; retry",
        )
    }
}

/// Paging through accounts.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next` value of the previous page.
    #[param(value_type = Option<Cursor>)]
    cursor: Option<String>,
}

/// List accounts, highest score first.
#[utoipa::path(get, path = "/api/v1/accounts", tag = "accounts", params(PageQuery),
    responses((status = 200, description = "`{accounts: [...], next}`", body = Object)))]
async fn list_accounts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = state
        .store
        .accounts(page_limit(q.limit, 50)?, q.cursor.as_deref())
        .await?;
    Ok(Json(json!({"accounts": page.items, "next": page.next})))
}

/// An account and its leads.
#[utoipa::path(get, path = "/api/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path, description = "Account id (Segment groupId)")),
    responses((status = 200, description = "The account and its leads", body = Object), (status = 404, description = "No such account")))]
async fn get_account(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let account = state
        .store
        .account(&id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no account `{id}`")))?;
    let leads = state
        .store
        .leads(&LeadFilter {
            account: Some(id),
            limit: 1000,
            ..LeadFilter::default()
        })
        .await?;
    Ok(Json(json!({"account": account, "leads": leads.items})))
}

/// The model in force: its file and version, and its glossary (what MQL, SAL, SQL... mean
/// here, as the file defines them).
#[utoipa::path(get, path = "/api/v1/model", tag = "model", responses((status = 200, description = "The active model", body = Object)))]
async fn get_model(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let active = state
        .store
        .active_model()
        .await?
        .ok_or_else(|| ApiError::not_found("no active model"))?;
    let mut answer = json!(active);
    let live = state.live.read().expect("live state lock");
    if live.version() == active.version {
        answer["glossary"] = json!(live.model().glossary());
    }
    Ok(Json(answer))
}

/// Upload a new model version (the TOML file as the body). It is checked, stored and, unless
/// `?activate=false`, put in force: every lead is rescored.
#[utoipa::path(post, path = "/api/v1/model", tag = "model",
    request_body(description = "The model file (TOML)", content(
        (String = "application/toml", example = json!(crate::DEFAULT_MODEL)),
        (String = "text/plain", example = json!(crate::DEFAULT_MODEL)))),
    params(("activate" = Option<bool>, Query, description = "Put it in force (default true), without sign-off: admins only"),
        ("rationale" = Option<String>, Query, description = "Why this version")),
    responses((status = 200, description = "Stored (and activated)", body = Object),
        (status = 409, description = "This version is stored with different content"),
        (status = 422, description = "The model has errors, each with line, column and rule", body = Object)))]
async fn put_model(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    ApiQuery(q): ApiQuery<ActivateQuery>,
    ModelFile(body): ModelFile,
) -> Result<Json<Value>, ApiError> {
    let model = Model::from_toml(&body, "model.toml").map_err(|errors| {
        ApiError::unprocessable(format!(
            "the model has {} error(s); the first: {}",
            errors.0.len(),
            errors.0[0]
        ))
        .with_details(json!(errors.0))
    })?;
    let version = model.version().to_string();
    if let Some(stored) = state.store.model(&version).await?
        && stored.source != body
    {
        return Err(ApiError::conflict(format!(
            "model version {version} is already stored with different content: give the new model a new [model] version"
        )));
    }
    let activate = q.activate.unwrap_or(true);
    // Putting a model in force without sign-off is an admin's act; everyone else proposes.
    if activate && principal.role != crate::trust::Role::Admin {
        return Err(ApiError::forbidden(
            "only an admin puts a model in force directly: propose it (POST /api/v1/model/proposals) for sign-off, or upload it with ?activate=false",
        ));
    }
    let in_force = state.live.read().expect("live state lock").version() == version;
    if !activate && in_force {
        return Err(ApiError::conflict(format!(
            "model version {version} is in force: upload and activate another version instead of deactivating it"
        )));
    }
    let row = ModelRow {
        version: version.clone(),
        name: model.name().to_string(),
        source: body,
        created_ms: state.clock.now().millis(),
        active: activate,
    };
    let mut rescored = 0;
    if activate {
        // Without sign-off: see docs/governance.md (proposals are the way both sides agree).
        rescored = governance::activate(&state, &principal, model, row, "upload", None).await?;
    } else {
        state.store.save_model(&row).await?;
    }
    state
        .store
        .sign_model(&version, &principal.actor(), q.rationale.as_deref())
        .await?;
    let action = if activate {
        "model.activate"
    } else {
        "model.upload"
    };
    trust::audit(&state, &principal, action, Some(&version), None).await;
    Ok(Json(
        json!({"version": version, "active": activate, "rescored_leads": rescored}),
    ))
}

/// Whether to activate an uploaded model.
#[derive(Debug, Deserialize)]
pub struct ActivateQuery {
    activate: Option<bool>,
    rationale: Option<String>,
}

/// Where putting the active model in force stands: how many leads are scored by it, and the
/// rescoring pass (activation or decay) this service runs in the background.
#[utoipa::path(get, path = "/api/v1/model/activation", tag = "model",
    responses((status = 200, description = "`{version, leads, scored_by_version, pending, pass}`", body = Object)))]
async fn model_activation(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let (version, pass) = {
        let live = state.live.read().expect("live state lock");
        (live.version().to_string(), live.rescoring().clone())
    };
    let leads = state.store.lead_count().await?;
    let pending = state.store.leads_scored_by_other(&version).await?;
    Ok(Json(json!({
        "version": version,
        "leads": leads,
        "scored_by_version": leads - pending,
        "pending": pending,
        "done": pending == 0,
        "pass": if pass.reason.is_empty() { Value::Null } else { json!(pass) },
    })))
}

/// Every stored model version, newest first.
#[utoipa::path(get, path = "/api/v1/model/versions", tag = "model", responses((status = 200, description = "`{versions: [...]}`", body = Object)))]
async fn model_versions(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let versions: Vec<Value> = state
        .store
        .models()
        .await?
        .into_iter()
        .map(|m| json!({"version": m.version, "name": m.name, "created_at": Timestamp::from_millis(m.created_ms), "active": m.active}))
        .collect();
    Ok(Json(json!({"versions": versions})))
}
