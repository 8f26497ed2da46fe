//! Ingestion compatible with the Segment HTTP Tracking API: `/v1/identify`, `/v1/track`,
//! `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias`, `/v1/batch` (and analytics.js's short
//! forms `/v1/i`, `/v1/t`...). The write key is the HTTP Basic user name (or a `writeKey` field in
//! the body, as browsers send it); bodies may be gzip-encoded; `messageId` deduplicates retries.
//! A request is answered only after its messages are committed; a rejected request stores
//! nothing.

use std::fmt::Write as _;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde::Deserialize as _;
use serde_json::{Map, Value, json};
use sluice_core::{Message, MessageKind, Timestamp};
use tokio::sync::oneshot;

use crate::state::{AppState, now};
use crate::writer::{Accepted, Job, Submission};

/// Segment's limit for one message.
pub const MESSAGE_LIMIT: usize = 32 * 1024;
/// Segment's limit for one batch request.
pub const BATCH_LIMIT: usize = 500 * 1024;

/// The ingestion routes.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/v1/batch", post(batch))
        .route("/v1/b", post(batch))
        .route("/v1/import", post(batch));
    for (long, short, kind) in [
        ("identify", "i", MessageKind::Identify),
        ("track", "t", MessageKind::Track),
        ("page", "p", MessageKind::Page),
        ("screen", "s", MessageKind::Screen),
        ("group", "g", MessageKind::Group),
        ("alias", "a", MessageKind::Alias),
    ] {
        let handler = move |state: State<AppState>, headers: HeaderMap, body: Body| {
            single(state, headers, body, kind)
        };
        router = router
            .route(&format!("/v1/{long}"), post(handler))
            .route(&format!("/v1/{short}"), post(handler));
    }
    router
}

/// A Segment-style error answer.
struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Rejection {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        metrics::counter!("sluice_events_rejected_total", "reason" => self.code).increment(1);
        let body = json!({"success": false, "code": self.code, "message": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

async fn single(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
    kind: MessageKind,
) -> Response {
    match accept(&state, &headers, body, Some(kind)).await {
        Ok(response) | Err(response) => response,
    }
}

async fn batch(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    match accept(&state, &headers, body, None).await {
        Ok(response) | Err(response) => response,
    }
}

async fn accept(
    state: &AppState,
    headers: &HeaderMap,
    body: Body,
    kind: Option<MessageKind>,
) -> Result<Response, Response> {
    let limit = if kind.is_some() {
        MESSAGE_LIMIT
    } else {
        BATCH_LIMIT
    };
    let bytes = to_bytes(body, limit).await.map_err(|_| {
        let what = if kind.is_some() {
            "a message"
        } else {
            "a batch"
        };
        Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("{what} may be at most {} KB", limit / 1024),
        )
        .into_response()
    })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("invalid JSON: {e}"),
        )
        .into_response()
    })?;
    let Value::Object(mut body) = body else {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "expected a JSON object",
        )
        .into_response());
    };
    let key = write_key(headers).or_else(|| {
        body.get("writeKey")
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    let source = key
        .as_ref()
        .and_then(|key| {
            state
                .write_keys
                .read()
                .expect("write keys lock")
                .get(key)
                .cloned()
        })
        .ok_or_else(|| {
            let message = if key.is_some() {
                "invalid write key"
            } else {
                "missing write key (send it as the HTTP Basic user name)"
            };
            Rejection::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response()
        })?;

    let received = now();
    let mut values: Vec<Map<String, Value>> = match kind {
        Some(kind) => {
            let declared = body.get("type").and_then(Value::as_str).map(str::to_string);
            match declared {
                Some(t) if t != kind.as_str() => {
                    let message = format!("`type` is `{t}`, but this is /v1/{}", kind.as_str());
                    return Err(Rejection::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_message",
                        message,
                    )
                    .into_response());
                }
                _ => {
                    body.insert("type".into(), Value::from(kind.as_str()));
                }
            }
            body.remove("writeKey");
            vec![body]
        }
        None => {
            let Some(Value::Array(items)) = body.remove("batch") else {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_batch",
                    "a batch needs a `batch` array of messages",
                )
                .into_response());
            };
            let context = body.get("context").and_then(Value::as_object).cloned();
            let sent_at = body.get("sentAt").cloned();
            let mut messages = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let Value::Object(mut message) = item else {
                    let message = format!("batch[{i}]: expected a JSON object");
                    return Err(Rejection::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_message",
                        message,
                    )
                    .into_response());
                };
                // Batch-level context and sentAt apply to every message that lacks them.
                if let Some(context) = &context {
                    let own = message
                        .entry("context")
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(own) = own {
                        for (k, v) in context {
                            own.entry(k.clone()).or_insert_with(|| v.clone());
                        }
                    }
                }
                if let Some(sent_at) = &sent_at {
                    message.entry("sentAt").or_insert_with(|| sent_at.clone());
                }
                messages.push(message);
            }
            messages
        }
    };

    let mut accepted = Vec::with_capacity(values.len());
    for (i, value) in values.iter_mut().enumerate() {
        let message = prepare(std::mem::take(value), received).map_err(|invalid| {
            let message = if kind.is_some() {
                invalid.message
            } else {
                format!("batch[{i}]: {}", invalid.message)
            };
            let (status, code) = if invalid.too_large {
                (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
            } else {
                (StatusCode::BAD_REQUEST, "invalid_message")
            };
            Rejection::new(status, code, message).into_response()
        })?;
        accepted.push(message);
    }
    if accepted.is_empty() {
        return Ok(success());
    }

    let (done, outcome) = oneshot::channel();
    let submission = Submission {
        messages: accepted,
        source,
        done,
    };
    let unavailable = || {
        Rejection::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "storage is unavailable; retry",
        )
        .into_response()
    };
    state
        .writer
        .send(Job::Ingest(submission))
        .await
        .map_err(|_| unavailable())?;
    match outcome.await {
        Ok(Ok(_ack)) => Ok(success()),
        Ok(Err(message)) => {
            Err(
                Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
                    .into_response(),
            )
        }
        Err(_) => Err(unavailable()),
    }
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Over [`MESSAGE_LIMIT`].
    pub too_large: bool,
    /// What is wrong.
    pub message: String,
}

/// Checks one Segment message and readies it for storage: size, fields, time (as Segment
/// computes it from `timestamp`, `sentAt` and the receive time), and a `messageId` (derived from
/// the content when the sender gave none, so a retry is still counted once).
pub fn prepare(mut value: Map<String, Value>, received: Timestamp) -> Result<Accepted, Invalid> {
    let invalid = |message: String| Invalid {
        too_large: false,
        message,
    };
    let message_id = match value.get("messageId") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        _ => {
            let id = derived_id(&value);
            value.insert("messageId".into(), Value::from(id.clone()));
            id
        }
    };
    value
        .entry("receivedAt")
        .or_insert_with(|| Value::from(received.to_string()));
    // Serialized once: the stored form, and the size Segment's limit applies to.
    let value = Value::Object(value);
    let raw = value.to_string();
    if raw.len() > MESSAGE_LIMIT {
        return Err(Invalid {
            too_large: true,
            message: format!(
                "a message may be at most {} KB, this one is {} KB",
                MESSAGE_LIMIT / 1024,
                raw.len() / 1024
            ),
        });
    }
    let message =
        Message::deserialize(&value).map_err(|e| invalid(format!("invalid message: {e}")))?;
    message.check().map_err(|e| invalid(e.to_string()))?;
    let at = message
        .event_time(Some(received))
        .map_err(|e| invalid(e.to_string()))?;
    Ok(Accepted {
        message,
        message_id,
        raw,
        at,
        received,
    })
}

fn success() -> Response {
    axum::Json(json!({"success": true})).into_response()
}

/// The write key from `Authorization: Basic base64(key:)`.
fn write_key(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let key = text.split_once(':').map_or(text.as_str(), |(user, _)| user);
    (!key.is_empty()).then(|| key.to_string())
}

/// A stable id for a message without one: FNV-1a of its JSON.
fn derived_id(message: &Map<String, Value>) -> String {
    let text = Value::Object(message.clone()).to_string();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
    }
    let mut id = String::from("sluice-");
    let _ = write!(id, "{hash:016x}");
    id
}
