//! Ingestion compatible with the Segment HTTP Tracking API: `/v1/identify`, `/v1/track`,
//! `/v1/page`, `/v1/screen`, `/v1/group`, `/v1/alias`, `/v1/batch` (and analytics.js's short
//! forms `/v1/i`, `/v1/t`...). The write key is the HTTP Basic user name (or a `writeKey` field in
//! the body, as browsers send it); bodies may be gzip-encoded; `messageId` deduplicates retries.
//! A request is answered only after its messages are committed; a rejected request stores
//! nothing. A message's size limit applies to the message as its sender sent it, before Sluice
//! adds `receivedAt`, a derived `messageId` or the batch's `context` and `sentAt`: the SDKs
//! check that same size before sending, and a message they accept must not fail its batch here.

use std::io;
use std::sync::LazyLock;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde::Deserialize as _;
use serde_json::{Map, Value, json};
use sluice_core::event::TimeOutOfRange;
use sluice_core::{Message, MessageKind, Span, Timestamp};
use tokio::sync::oneshot;
use tower::{Layer as _, ServiceExt as _};
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

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
    router.method_not_allowed_fallback(method_not_allowed)
}

/// The answer to a method an ingestion path does not have (axum adds the `Allow` header).
async fn method_not_allowed(method: Method, uri: Uri) -> Rejection {
    let message = format!("{method} is not an operation of {}", uri.path());
    Rejection::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        message,
    )
}

/// The answer to a path under `/v1/` that ingestion does not have.
pub(crate) fn no_such_path(path: &str) -> Rejection {
    let message = format!(
        "no ingestion endpoint at {path}: Segment calls go to /v1/identify, /v1/track, \
         /v1/page, /v1/screen, /v1/group, /v1/alias and /v1/batch"
    );
    Rejection::new(StatusCode::NOT_FOUND, "not_found", message)
}

/// The `Content-Encoding`s ingestion decodes: gzip, as Segment does and the SDKs that compress
/// send, and deflate (zlib), read by the same library at no further cost (`identity` is taken
/// too). Brotli and the rest are refused: no Segment SDK sends them, and each would be one more
/// decoder to build and to trust with untrusted input. The decompression layer reads these
/// (tower-http's `decompression-*` features), as they are spelled here.
pub const ENCODINGS: [&str; 2] = ["gzip", "deflate"];

/// Ahead of the decompression layer: a body in an encoding not in [`ENCODINGS`], or in
/// several, is refused in Segment's shape, `415` with the encodings read here in
/// `Accept-Encoding` (as RFC 9110 asks); a name in other letters, or `x-gzip` (RFC 9110's
/// alias), is read as the encoding it names.
pub async fn encodings(mut request: Request, next: Next) -> Response {
    let mut given = request.headers().get_all(header::CONTENT_ENCODING).iter();
    let (first, more) = (given.next(), given.next().is_some());
    let Some(first) = first else {
        return next.run(request).await;
    };
    let name = first.to_str().unwrap_or("?").trim().to_ascii_lowercase();
    let known = match name.as_str() {
        "x-gzip" => Some("gzip"),
        name => ENCODINGS
            .into_iter()
            .chain(["identity"])
            .find(|e| *e == name),
    };
    if let Some(encoding) = known.filter(|_| !more) {
        request.headers_mut().insert(
            header::CONTENT_ENCODING,
            header::HeaderValue::from_static(encoding),
        );
        return next.run(request).await;
    }
    let given: Vec<String> = request
        .headers()
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    let read: Vec<String> = ENCODINGS.iter().map(|e| format!("{e}-encoded")).collect();
    let message = format!(
        "a body with `Content-Encoding: {}` cannot be read here: send it {}, or not encoded",
        given.join(", "),
        read.join(", ")
    );
    let mut response = Rejection::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_encoding",
        message,
    )
    .into_response();
    if let Ok(accepted) = header::HeaderValue::from_str(&ENCODINGS.join(", ")) {
        response
            .headers_mut()
            .insert(header::ACCEPT_ENCODING, accepted);
    }
    response
}

/// The cross-origin rules of `/v1/`, for analytics.js on a site's own pages: a preflight is
/// answered for any origin, and every answer, a refusal included, may be read by the page.
/// analytics.js sends `Authorization: Basic` (and `X-Retry-Count` when it retries), which the
/// answer to a preflight must name: the Fetch standard does not let a wildcard stand for
/// `Authorization` (browsers that still do are withdrawing it). So the headers a preflight
/// asks for are allowed by name, as is its origin, with credentials (a site may send cookies;
/// nothing under `/v1/` reads them: the write key is the only credential).
/// `Retry-After` is exposed, for analytics.js to wait as asked. Elsewhere (the API, the
/// dashboard) no cross-origin reading is allowed.
pub async fn cors(request: Request, next: Next) -> Response {
    static CORS: LazyLock<CorsLayer> = LazyLock::new(|| {
        CorsLayer::new()
            .allow_origin(AllowOrigin::mirror_request())
            .allow_methods([Method::GET, Method::POST])
            .allow_headers(AllowHeaders::mirror_request())
            .allow_credentials(true)
            .expose_headers([header::RETRY_AFTER])
            .max_age(Duration::from_secs(2 * 60 * 60))
    });
    if !request.uri().path().starts_with("/v1/") {
        return next.run(request).await;
    }
    match CORS.clone().layer(next).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The settings analytics.js loads before it sends anything (from Segment's CDN by default; from
/// Sluice with `cdnURL`): they point its Segment.io destination back at this service.
async fn settings(
    State(state): State<AppState>,
    axum::extract::Path(key): axum::extract::Path<String>,
    headers: HeaderMap,
) -> Response {
    if state.source_of_key(&key).is_none() {
        let mut response = Rejection::new(
            StatusCode::NOT_FOUND,
            "unknown_write_key",
            "no such write key",
        )
        .into_response();
        // A guessed key: the client's address is charged as for a 401.
        response.extensions_mut().insert(crate::limits::AuthFailure);
        return response;
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

/// A Segment-style error answer: a status, a code and a message. The code goes with the
/// answer as a [`Refused`] extension, for the count of refusals.
#[derive(Debug)]
pub struct Rejection {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

/// Seconds an SDK is asked to wait before retrying while storage is unavailable.
const STORAGE_RETRY_AFTER: u64 = 5;

impl Rejection {
    /// Any status, with its code and what is wrong.
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Rejection {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Asking the sender to retry after `seconds`.
    pub(crate) fn retry_after(self, seconds: Option<u64>) -> Self {
        Rejection {
            retry_after: seconds,
            ..self
        }
    }

    /// `503`: storage (or the stream) did not answer; retry.
    fn unavailable(message: impl Into<String>) -> Self {
        Rejection::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
            .retry_after(Some(STORAGE_RETRY_AFTER))
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let body = json!({"success": false, "code": self.code, "message": self.message});
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response.extensions_mut().insert(Refused(self.code));
        response
    }
}

/// The code of a refusal on an ingestion route, carried by its answer.
#[derive(Debug, Clone, Copy)]
pub struct Refused(pub &'static str);

/// Every refusal on an ingestion route, whoever made it (a handler, a layer, the guard's
/// limits), answered in Segment's shape and counted once in
/// `sluice_events_rejected_total{reason}`, by its code. An error answer without a code (from
/// a layer of the framework) is answered again in that shape, with a code named after its
/// status.
pub(crate) fn counted(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let response = match response.extensions().get::<Refused>() {
        Some(_) => response,
        None => {
            let reason = status.canonical_reason().unwrap_or("refused");
            let (parts, _) = response.into_parts();
            let mut again =
                Rejection::new(status, crate::error::code_of(status), reason).into_response();
            for name in [header::ALLOW, header::RETRY_AFTER, header::ACCEPT_ENCODING] {
                if let Some(value) = parts.headers.get(&name) {
                    again.headers_mut().insert(name, value.clone());
                }
            }
            again
        }
    };
    if let Some(Refused(code)) = response.extensions().get::<Refused>() {
        metrics::counter!("sluice_events_rejected_total", "reason" => *code).increment(1);
    }
    response
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
/// it lacks. One invalid message refuses them all. `body` is the request's object;
/// `received` is when it arrived; `times` bounds event times.
/// With the messages, the times that were clamped (for the caller to count once it accepts).
pub fn messages(
    mut body: Map<String, Value>,
    kind: Option<MessageKind>,
    received: Timestamp,
    times: Times,
) -> Result<(Vec<Accepted>, Vec<TimeOutOfRange>), Rejection> {
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
    let mut clamped = Vec::new();
    for (i, (value, added)) in values.iter_mut().enumerate() {
        let (message, out_of_range) =
            prepare_added(std::mem::take(value), received, Some(*added), times).map_err(
                |invalid| {
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
                },
            )?;
        clamped.extend(out_of_range);
        accepted.push(message);
    }
    Ok((accepted, clamped))
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
            // A body that cannot be read, such as corrupt gzip. (One cut off by the body
            // time-out is answered `408` by the guard instead.)
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
        .and_then(|key| state.source_of_key(key))
        .ok_or_else(|| {
            let message = if key.is_some() {
                "invalid write key"
            } else {
                "missing write key (send it as the HTTP Basic user name)"
            };
            Rejection::new(StatusCode::UNAUTHORIZED, "unauthorized", message).into_response()
        })?;
    if let Err(limited) = crate::limits::check_write_key(state, key.as_deref().unwrap_or_default())
    {
        let seconds = limited.seconds();
        let message = format!("too many requests with this write key; retry in {seconds} s");
        return Err(
            Rejection::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                .retry_after(Some(seconds))
                .into_response(),
        );
    }

    let times = Times::Clamp(state.limits.settings.future_skew);
    let (mut accepted, clamped) =
        messages(body, kind, state.clock.now(), times).map_err(IntoResponse::into_response)?;
    // Counted once the request is accepted whole (a refused batch stores nothing).
    for why in clamped {
        count_clamped(why);
    }
    // Erased people who asked not to be tracked again: their messages are acknowledged (so
    // SDKs do not retry) and dropped.
    let before = accepted.len();
    accepted.retain(|a| !state.is_suppressed(&a.message));
    if accepted.len() < before {
        metrics::counter!("sluice_suppressed_messages_total")
            .increment((before - accepted.len()) as u64);
    }
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
                Err(
                    Rejection::unavailable("the event stream is unavailable; retry")
                        .into_response(),
                )
            }
        };
    }
    let (done, outcome) = oneshot::channel();
    let submission = Submission {
        messages: accepted,
        source,
        done,
    };
    let unavailable = || Rejection::unavailable("storage is unavailable; retry").into_response();
    // With the database not answering, SDKs hear 503 at once and retry, rather than wait for
    // it. A commit under way may still land after that answer; the retry is then a duplicate,
    // stored once by its `messageId`. A submission nobody waits for any more is dropped by
    // the writer unstored.
    let health = &state.limits.storage;
    if !health.is_up() {
        return Err(unavailable());
    }
    let stored = tokio::select! {
        stored = async {
            state
                .writer
                .send(Job::Ingest(submission))
                .await
                .map_err(|_| ())?;
            outcome.await.map_err(|_| ())
        } => Some(stored),
        () = health.down() => None,
    };
    match stored {
        Some(Ok(Ok(ack))) => Ok(axum::Json(
            json!({"success": true, "new": ack.new, "duplicates": ack.duplicates}),
        )
        .into_response()),
        Some(Ok(Err(message))) => Err(Rejection::unavailable(message).into_response()),
        Some(Err(())) | None => Err(unavailable()),
    }
}

fn count_clamped(why: TimeOutOfRange) {
    metrics::counter!("sluice_timestamps_clamped_total", "reason" => why.as_str()).increment(1);
}

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Over [`MESSAGE_LIMIT`].
    pub too_large: bool,
    /// What is wrong.
    pub message: String,
}

/// What [`prepare`] does with an event time it cannot believe: more than a skew after the
/// receive time, or before 2000 ([`TimeOutOfRange`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Times {
    /// The event time becomes the receive time; the sender's stays in `originalTimestamp`
    /// (HTTP ingestion: an SDK's clock cannot be fixed from here).
    Clamp(Span),
    /// The message is refused, saying why (`sluice import`: a file can be fixed).
    Refuse(Span),
    /// Taken as it is: a message the service already accepted, read back (a stream worker).
    Trust,
}

/// Checks one Segment message and readies it for storage: size, fields, time (as Segment
/// computes it from `timestamp`, `sentAt` and the receive time, bounded by `times`), and a
/// `messageId` (a new one when the sender gave none, as Segment does). A write key in it
/// (`sluice_core::event::CREDENTIAL_FIELDS`) is removed: every stored message comes through
/// here, so none holds one.
pub fn prepare(
    value: Map<String, Value>,
    received: Timestamp,
    times: Times,
) -> Result<Accepted, Invalid> {
    let (accepted, clamped) = prepare_added(value, received, Some(0), times)?;
    if let Some(why) = clamped {
        count_clamped(why);
    }
    Ok(accepted)
}

/// [`prepare`] for a message this service accepted before, in its stored form (as `sluice
/// worker` reads it from the stream): the same message, id and time. Neither its size nor its
/// time is checked again: both passed when the message arrived (its size counted without what
/// Sluice added to it, which the stored form includes; its time bounded then).
pub fn prepare_accepted(
    value: Map<String, Value>,
    received: Timestamp,
) -> Result<Accepted, Invalid> {
    prepare_added(value, received, None, Times::Trust).map(|(accepted, _)| accepted)
}

/// [`prepare`] for a message to which `added` bytes were added since its sender sent it (a
/// batch's `context` and `sentAt`, a `type` from the path): they do not count against its size.
/// `None` for a message accepted before, whose size was checked then. Says whether its time
/// was clamped, and why.
fn prepare_added(
    mut value: Map<String, Value>,
    received: Timestamp,
    added: Option<usize>,
    times: Times,
) -> Result<(Accepted, Option<TimeOutOfRange>), Invalid> {
    let limited = added.is_some();
    let mut added = added.unwrap_or(0);
    // Never stored: what the limit measures is the message without it, at most what was sent.
    sluice_core::event::remove_credentials(&mut value);
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
    let mut value = Value::Object(value);
    let mut raw = value.to_string();
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
    let mut message =
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
    let mut at = message
        .event_time(Some(received))
        .map_err(|e| invalid(e.to_string()))?;
    let out_of_range = match times {
        Times::Clamp(skew) | Times::Refuse(skew) => TimeOutOfRange::of(at, received, skew),
        Times::Trust => None,
    };
    if let Some(why) = out_of_range {
        if let Times::Refuse(skew) = times {
            return Err(invalid(match why {
                TimeOutOfRange::Future => format!(
                    "the event time {at} is more than {skew} in the future: fix it, or leave `timestamp` out"
                ),
                TimeOutOfRange::Before2000 => {
                    format!(
                        "the event time {at} is before 2000-01-01: fix it, or leave `timestamp` out"
                    )
                }
            }));
        }
        // The stored message says the time Sluice uses, so every later reading of the log
        // (rescoring, replays, workers) agrees with this one.
        let Value::Object(map) = &mut value else {
            unreachable!("built from a map above")
        };
        if !map.contains_key("originalTimestamp")
            && let Some(sent) = map.get("timestamp").cloned()
        {
            map.insert("originalTimestamp".into(), sent);
        }
        map.insert("timestamp".into(), Value::from(received.to_string()));
        if message.original_timestamp.is_none() {
            message.original_timestamp = map
                .get("originalTimestamp")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        raw = value.to_string();
        message.timestamp = Some(received.to_string());
        at = received;
    }
    Ok((
        Accepted {
            message,
            message_id,
            raw,
            at,
            received,
        },
        out_of_range,
    ))
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
