//! Webhook subscriptions, their delivery log and redelivery, under `/api/v1/webhooks`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_store::{TEST_EVENT_TYPE, WebhookSubscription};
use utoipa::{IntoParams, ToSchema};

use super::{ApiJson, ApiPath, ApiQuery};
use crate::error::ApiError;
use crate::state::{AppState, token};
use crate::webhooks::{EVENT_TYPES, event, new_secret};

/// The webhook routes (authenticated with the rest of the API by the caller).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/webhooks", get(list_webhooks).post(create_webhook))
        .route(
            "/api/v1/webhooks/{id}",
            get(get_webhook).delete(disable_webhook),
        )
        .route("/api/v1/webhooks/{id}/secret", get(webhook_secret))
        .route("/api/v1/webhooks/{id}/deliveries", get(webhook_deliveries))
        .route("/api/v1/webhooks/{id}/test", post(test_webhook))
        .route(
            "/api/v1/webhooks/deliveries/{delivery_id}/redeliver",
            post(redeliver),
        )
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WebhookRequest {
    /// Where to post: an `http` or `https` URL.
    #[schema(pattern = "^\\s*[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]")]
    url: String,
    /// The event types to receive (`lead.mql`, `lead.stage_changed`...), or `*` for all.
    #[schema(min_items = 1, value_type = Vec<EventType>)]
    event_types: Vec<String>,
    /// A note for people.
    description: Option<String>,
}

/// An event type a subscription names: one of [`EVENT_TYPES`], or `*` for all.
pub struct EventType;

impl utoipa::PartialSchema for EventType {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let names = EVENT_TYPES.iter().copied().chain(["*"]);
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(names))
            .into()
    }
}

impl utoipa::ToSchema for EventType {}

/// Subscribe a URL to events. The answer holds the signing secret.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = WebhookRequest,
    responses((status = 201, description = "The subscription, with its `secret`", body = Object),
        (status = 422, description = "A bad `url` or `event_types`, named in the message")))]
pub async fn create_webhook(
    State(state): State<AppState>,
    Extension(principal): Extension<crate::trust::Principal>,
    ApiJson(body): ApiJson<WebhookRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let url = parse_url(&body.url)?;
    if body.event_types.is_empty() {
        return Err(ApiError::unprocessable(
            "event_types: name at least one event type (or `*` for all)",
        ));
    }
    let mut event_types: Vec<String> = Vec::with_capacity(body.event_types.len());
    for kind in body.event_types {
        let kind = kind.trim();
        if kind != "*" && !EVENT_TYPES.contains(&kind) {
            return Err(ApiError::unprocessable(format!(
                "event_types: unknown event type `{kind}` (known: {}, or `*`)",
                EVENT_TYPES.join(", ")
            )));
        }
        if !event_types.iter().any(|t| t == kind) {
            event_types.push(kind.to_string());
        }
    }
    let description = body
        .description
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty());
    let sub = WebhookSubscription {
        id: token("sub_"),
        url,
        description,
        event_types,
        secret: new_secret(),
        created_ms: state.clock.now().millis(),
        disabled_ms: None,
    };
    state.store.create_webhook_subscription(&sub).await?;
    super::trust::audit(
        &state,
        &principal,
        "webhook.create",
        Some(&sub.id),
        Some(json!({"url": sub.url, "event_types": sub.event_types})),
    )
    .await;
    let mut answer = json!(sub);
    answer["secret"] = json!(sub.secret);
    Ok((StatusCode::CREATED, Json(answer)))
}

/// A subscription URL, checked: absolute, `http` or `https`, with a host.
fn parse_url(text: &str) -> Result<String, ApiError> {
    let bad = |why: &str| ApiError::unprocessable(format!("url: `{text}` {why}"));
    let url = reqwest::Url::parse(text.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("has no host"));
    }
    Ok(url.to_string())
}

/// Every subscription, disabled ones included (secrets are not listed).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks",
    responses((status = 200, description = "`{webhooks: [...]}`", body = Object)))]
pub async fn list_webhooks(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"webhooks": state.store.webhook_subscriptions().await?}),
    ))
}

async fn subscription(state: &AppState, id: &str) -> Result<WebhookSubscription, ApiError> {
    state
        .store
        .webhook_subscription(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no webhook subscription `{id}`")))
}

/// One subscription (without its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, description = "The subscription", body = Object), (status = 404, description = "No such subscription")))]
pub async fn get_webhook(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(subscription(&state, &id).await?)))
}

/// A subscription's signing secret.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/secret", tag = "webhooks", params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, description = "`{secret}`", body = Object), (status = 404, description = "No such subscription")))]
pub async fn webhook_secret(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(
        json!({"secret": subscription(&state, &id).await?.secret}),
    ))
}

/// Disable a subscription: it receives nothing more, and its pending deliveries fail.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = String, Path, description = "Subscription id")),
    responses((status = 200, description = "Disabled", body = Object), (status = 404, description = "No such enabled subscription")))]
pub async fn disable_webhook(
    State(state): State<AppState>,
    Extension(principal): Extension<crate::trust::Principal>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    if !state
        .store
        .disable_webhook_subscription(&id, state.clock.now().millis())
        .await?
    {
        return Err(ApiError::not_found(format!(
            "no enabled webhook subscription `{id}`"
        )));
    }
    super::trust::audit(&state, &principal, "webhook.disable", Some(&id), None).await;
    Ok(Json(json!({"disabled": id})))
}

/// Paging through a delivery log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryQuery {
    /// Page size, 1-1000 (default 50).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// The `next` value of the previous page (a delivery id).
    #[param(value_type = Option<i64>)]
    cursor: Option<String>,
}

/// A subscription's deliveries, newest first: the event, status, attempts, last answer or
/// error, next attempt, and every attempt made.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Subscription id"), DeliveryQuery),
    responses((status = 200, description = "`{deliveries: [...], next}`", body = Object),
        (status = 400, description = "A bad cursor"), (status = 404, description = "No such subscription")))]
pub async fn webhook_deliveries(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<DeliveryQuery>,
) -> Result<Json<Value>, ApiError> {
    subscription(&state, &id).await?;
    let before = q
        .cursor
        .as_deref()
        .map(|c| {
            c.parse::<i64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "cursor: `{c}` is not a cursor returned by this API"
                ))
            })
        })
        .transpose()?;
    let page = state
        .store
        .webhook_deliveries(&id, super::page_limit(q.limit, 50)?, before)
        .await?;
    Ok(Json(json!({"deliveries": page.items, "next": page.next})))
}

/// Send a delivery again, now, with the same `webhook-id` (receivers deduplicate by it). Its
/// earlier attempts stay in the log.
#[utoipa::path(post, path = "/api/v1/webhooks/deliveries/{delivery_id}/redeliver", tag = "webhooks",
    params(("delivery_id" = i64, Path, description = "Delivery id")),
    responses((status = 202, description = "Queued", body = Object), (status = 404, description = "No such delivery"),
        (status = 409, description = "Its subscription is disabled")))]
pub async fn redeliver(
    State(state): State<AppState>,
    ApiPath(delivery_id): ApiPath<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // A delivery id is a number: anything else names no delivery.
    let missing = || ApiError::not_found(format!("no webhook delivery `{delivery_id}`"));
    let id: i64 = delivery_id.parse().map_err(|_| missing())?;
    let delivery = state
        .store
        .webhook_delivery(id)
        .await?
        .ok_or_else(missing)?;
    if subscription(&state, &delivery.subscription_id)
        .await?
        .disabled_ms
        .is_some()
    {
        return Err(ApiError::conflict(format!(
            "webhook subscription `{}` is disabled",
            delivery.subscription_id
        )));
    }
    if !state
        .store
        .redeliver_webhook(id, state.clock.now().millis())
        .await?
    {
        return Err(missing());
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"redelivering": id, "event_id": delivery.event_id})),
    ))
}

/// Send a `webhook.test` event to this subscription only.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = String, Path, description = "Subscription id")),
    responses((status = 202, description = "Queued: `{event_id, delivery_id}`", body = Object), (status = 404, description = "No such subscription"),
        (status = 409, description = "The subscription is disabled")))]
pub async fn test_webhook(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let sub = subscription(&state, &id).await?;
    if sub.disabled_ms.is_some() {
        return Err(ApiError::conflict(format!(
            "webhook subscription `{id}` is disabled"
        )));
    }
    let test = event(
        TEST_EVENT_TYPE,
        state.clock.now(),
        json!({"subscription_id": id, "message": "a test event from Sluice"}),
    );
    let delivery_id = state.store.send_webhook_to(&id, &test).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"event_id": test.id, "delivery_id": delivery_id})),
    ))
}
