//! Ingestion compatible with the Segment HTTP Tracking API: `/v1/identify`, `/v1/track`,
//! `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias`, `/v1/batch` (and analytics.js's short
//! forms `/v1/i`, `/v1/t`...). The write key is the HTTP Basic user name (or a `writeKey` field in
//! the body, as browsers send it); bodies may be gzip-encoded; `messageId` deduplicates retries.
//! A request is answered only after its messages are committed; a rejected request stores
//! nothing. A message's size limit applies to the message as its sender sent it, before Sluice
//! adds `receivedAt`, a derived `messageId` or the batch's `context` and `sentAt`: the SDKs
//! check that same size before sending, and a message they accept must not fail its batch here.

use std::io;

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

use crate::state::AppState;
use crate::writer::{Accepted, Job, Submission};

/// Segment's limit for one message.
pub const MESSAGE_LIMIT: usize = 32 * 1024;
/// Segment's limit for one batch request.
pub const BATCH_LIMIT: usize = 500 * 1024;

/// The ingestion routes.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        .route("/v1/projects/{key}/settings", axum::routing::get(settings))
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

/// The settings analytics.js loads before it sends anything (from Segment's CDN by default; from
/// Sluice with `cdnURL`): they point its Segment.io destination back at this service.
async fn settings(
    State(state): State<AppState>,
    axum::extract::Path(key): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if !state
        .write_keys
        .read()
        .expect("write keys lock")
        .contains_key(&key)
    {
        return Rejection::new(
            StatusCode::NOT_FOUND,
            "unknown_write_key",
            "no such write key",
        )
        .into_response();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let protocol = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("http");
    let enabled = json!({"__default": {"enabled": true, "integrations": {}}});
    axum::Json(json!({
        "integrations": {"Segment.io": {"apiKey": key, "apiHost": format!("{host}/v1"), "protocol": protocol,
            "unbundledIntegrations": [], "addBundledMetadata": true, "maybeBundledConfigIds": {}}},
        "plan": {"track": enabled, "identify": enabled, "group": enabled},
        "analyticsNextEnabled": true,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "remotePlugins": [],
    }))
    .into_response()
}

/// A Segment-style error answer: a status, a code and a message.
#[derive(Debug)]
pub struct Rejection {
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

/// A request body as JSON: it must be an object.
pub fn body_object(bytes: &[u8]) -> Result<Map<String, Value>, Rejection> {
    let body: Value = serde_json::from_slice(bytes).map_err(|e| {
        Rejection::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            format!("invalid JSON: {e}"),
        )
    })?;
    let Value::Object(body) = body else {
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "expected a JSON object",
        ));
    };
    Ok(body)
}

/// A request body's messages, each checked and readied for storage as [`prepare`] does:
/// the body itself for `/v1/{kind}` (its `type` must be `kind`, or is set to it), else the
/// messages of its `batch` array, each given the batch's `context` entries and `sentAt` that
/// it lacks. One invalid message refuses them all. `body` is the request's object (a
/// `writeKey` in it is dropped); `received` is when it arrived.
pub fn messages(
    mut body: Map<String, Value>,
    kind: Option<MessageKind>,
    received: Timestamp,
) -> Result<Vec<Accepted>, Rejection> {
    // Each message, with the bytes Sluice added to it (not counted against its size limit).
    let mut values: Vec<(Map<String, Value>, usize)> = match kind {
        Some(kind) => {
            let declared = body.get("type").and_then(Value::as_str).map(str::to_string);
            let mut added = 0;
            match declared {
                Some(t) if t != kind.as_str() => {
                    let message = format!("`type` is `{t}`, but this is /v1/{}", kind.as_str());
                    return Err(Rejection::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_message",
                        message,
                    ));
                }
                Some(_) => {}
                None => {
                    let value = Value::from(kind.as_str());
                    added += entry_len("type", &value);
                    body.insert("type".into(), value);
                }
            }
            body.remove("writeKey");
            vec![(body, added)]
        }
        None => {
            let Some(Value::Array(items)) = body.remove("batch") else {
                return Err(Rejection::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_batch",
                    "a batch needs a `batch` array of messages",
                ));
            };
            let envelope = Envelope::of(&body);
            let mut messages = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let Value::Object(mut message) = item else {
                    let message = format!("batch[{i}]: expected a JSON object");
                    return Err(Rejection::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_message",
                        message,
                    ));
                };
                let added = envelope.apply(&mut message);
                messages.push((message, added));
            }
            messages
        }
    };

    let mut accepted = Vec::with_capacity(values.len());
    for (i, (value, added)) in values.iter_mut().enumerate() {
        let message =
            prepare_added(std::mem::take(value), received, Some(*added)).map_err(|invalid| {
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
                Rejection::new(status, code, message)
            })?;
        accepted.push(message);
    }
    Ok(accepted)
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
    let bytes = to_bytes(body, limit).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .and_then(|source| source.downcast_ref::<http_body_util::LengthLimitError>())
            .is_some();
        if too_large {
            let what = if kind.is_some() {
                "a message"
            } else {
                "a batch"
            };
            let message = format!("{what} may be at most {} KB", limit / 1024);
            Rejection::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).into_response()
        } else {
            // A body that cannot be read, such as corrupt gzip.
            let message = format!("cannot read the body: {e}");
            Rejection::new(StatusCode::BAD_REQUEST, "invalid_body", message).into_response()
        }
    })?;
    let body = body_object(&bytes).map_err(IntoResponse::into_response)?;
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

    let accepted = messages(body, kind, state.clock.now()).map_err(IntoResponse::into_response)?;
    if accepted.is_empty() {
        return Ok(success());
    }

    // Streaming: acknowledged once JetStream holds them; `sluice worker` stores and scores.
    if let Some(stream) = &state.stream {
        return match stream.publish(accepted, &source).await {
            Ok(ack) => Ok(axum::Json(
                json!({"success": true, "new": ack.new, "duplicates": ack.duplicates}),
            )
            .into_response()),
            Err(message) => {
                tracing::warn!(error = %message, "publishing to the stream failed");
                Err(Rejection::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the event stream is unavailable; retry",
                )
                .into_response())
            }
        };
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
        Ok(Ok(ack)) => Ok(axum::Json(
            json!({"success": true, "new": ack.new, "duplicates": ack.duplicates}),
        )
        .into_response()),
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
pub fn prepare(value: Map<String, Value>, received: Timestamp) -> Result<Accepted, Invalid> {
    prepare_added(value, received, Some(0))
}

/// [`prepare`] for a message this service accepted before, in its stored form (as `sluice
/// worker` reads it from the stream): the same message, id and time. Its size is not checked
/// again: it passed when the message arrived, counted without what Sluice added to it (its
/// `messageId`, `receivedAt`, a batch's `context`), which the stored form includes.
pub fn prepare_accepted(
    value: Map<String, Value>,
    received: Timestamp,
) -> Result<Accepted, Invalid> {
    prepare_added(value, received, None)
}

/// [`prepare`] for a message to which `added` bytes were added since its sender sent it (a
/// batch's `context` and `sentAt`, a `type` from the path): they do not count against its size.
/// `None` for a message accepted before, whose size was checked then.
fn prepare_added(
    mut value: Map<String, Value>,
    received: Timestamp,
    added: Option<usize>,
) -> Result<Accepted, Invalid> {
    let limited = added.is_some();
    let mut added = added.unwrap_or(0);
    let invalid = |message: String| Invalid {
        too_large: false,
        message,
    };
    let message_id = match value.get("messageId") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        old => {
            let old_len = old.map_or(0, |old| entry_len("messageId", old));
            // As Segment does: a message sent without an id gets a new one.
            let id = crate::state::token("sluice-");
            let new = Value::from(id.clone());
            added += entry_len("messageId", &new).saturating_sub(old_len);
            value.insert("messageId".into(), new);
            id
        }
    };
    if !value.contains_key("receivedAt") {
        let at = Value::from(received.to_string());
        added += entry_len("receivedAt", &at);
        value.insert("receivedAt".into(), at);
    }
    // Serialized once: the stored form, and (less what Sluice added) the size Segment's limit
    // applies to.
    let value = Value::Object(value);
    let raw = value.to_string();
    let size = raw.len().saturating_sub(added);
    if limited && size > MESSAGE_LIMIT {
        return Err(Invalid {
            too_large: true,
            message: format!(
                "a message may be at most {} KB ({MESSAGE_LIMIT} bytes), this one is {size} bytes",
                MESSAGE_LIMIT / 1024,
            ),
        });
    }
    let message =
        Message::deserialize(&value).map_err(|e| invalid(format!("invalid message: {e}")))?;
    message.check().map_err(|e| invalid(e.to_string()))?;
    let ids = [
        ("messageId", Some(&message_id)),
        ("userId", message.user_id.as_ref()),
        ("anonymousId", message.anonymous_id.as_ref()),
        ("groupId", message.group_id.as_ref()),
        ("previousId", message.previous_id.as_ref()),
        ("event", message.event.as_ref()),
    ];
    // Databases refuse NUL in text: refuse it here, for this message alone.
    if let Some((field, _)) = ids
        .iter()
        .find(|(_, id)| id.is_some_and(|id| id.contains('\0')))
    {
        return Err(invalid(format!("`{field}` contains a NUL character")));
    }
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

/// What a batch's envelope gives each of its messages that lacks it: its `context` entries and
/// its `sentAt`, with the bytes each adds to a message.
struct Envelope {
    context: Option<Vec<(String, Value, usize)>>,
    sent_at: Option<(Value, usize)>,
}

impl Envelope {
    fn of(body: &Map<String, Value>) -> Envelope {
        let context = body.get("context").and_then(Value::as_object).map(|c| {
            c.iter()
                .map(|(k, v)| (k.clone(), v.clone(), entry_len(k, v)))
                .collect()
        });
        let sent_at = body
            .get("sentAt")
            .map(|v| (v.clone(), entry_len("sentAt", v)));
        Envelope { context, sent_at }
    }

    /// Gives the message what it lacks; returns the bytes that adds.
    fn apply(&self, message: &mut Map<String, Value>) -> usize {
        let mut added = 0;
        if let Some(context) = &self.context {
            let own = message.entry("context").or_insert_with(|| {
                added += entry_len("context", &Value::Object(Map::new()));
                Value::Object(Map::new())
            });
            if let Value::Object(own) = own {
                for (k, v, len) in context {
                    if !own.contains_key(k) {
                        own.insert(k.clone(), v.clone());
                        added += len;
                    }
                }
            }
        }
        if let Some((sent_at, len)) = &self.sent_at
            && !message.contains_key("sentAt")
        {
            message.insert("sentAt".into(), sent_at.clone());
            added += len;
        }
        added
    }
}

/// The bytes `"key":value,` takes in compact JSON: what adding that entry to an object adds (at
/// most; the first entry has no comma).
fn entry_len(key: &str, value: &Value) -> usize {
    let mut count = Count(0);
    let _ = serde_json::to_writer(&mut count, key);
    let _ = serde_json::to_writer(&mut count, value);
    count.0 + 2
}

/// Counts what is written to it.
struct Count(usize);

impl io::Write for Count {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
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
