//! Limits: what keeps one client, or a slow or failing database, from taking the service down.
//!
//! - Rate limits (token buckets): per write key on ingestion ([`check_write_key`]), per bearer
//!   token on the API ([`check_token`]), and failed authentication per client address: past
//!   `auth_failures`, every request from that address is answered `429` until its bucket
//!   refills. Over a limit: `429` with `Retry-After` (seconds).
//! - Timeouts: request headers ([`serve`]), request bodies (a total deadline: one byte a
//!   second does not keep it alive) → `408`, whole requests → `503`.
//! - Bounded concurrency: past `max_requests` requests at once, `503` at once; past
//!   `max_connections`, new connections wait to be accepted.
//! - Fail fast ([`StorageHealth`]): the database is asked every half second whether it
//!   answers; while it does not (within `storage_timeout`), `/readyz` and ingestion answer
//!   `503` at once instead of waiting for it.
//!
//! Errors keep the shape of the door they came through: Segment's
//! (`{"success": false, "code", "message"}`) under `/v1/`, the API's
//! (`{"error": {"code", "message"}}`) elsewhere, a short page for a browser on the dashboard.

mod bucket;
mod serve;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use sluice_core::Span;
use sqlx::{AnyConnection, Connection as _};
use tokio::sync::{Semaphore, watch};

pub use bucket::{Buckets, Rate};
pub use serve::serve;

use crate::error::ApiError;
use crate::state::AppState;

/// The limits a service runs with (`sluice serve` flags; see `docs/security.md`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Ingestion requests per write key (`/v1/batch` counts one).
    pub write_key_rate: Rate,
    /// Management API requests per bearer token.
    pub token_rate: Rate,
    /// Failed authentications (sign-ins, bearer tokens, write keys) per client address.
    pub auth_failures: Rate,
    /// Take the client's address from `X-Forwarded-For` (the address the nearest proxy saw),
    /// not from the connection: only behind a proxy that sets it.
    pub trust_proxy: bool,
    /// Most time to receive a request's headers; a keep-alive connection idle this long is
    /// closed too.
    pub header_timeout: Duration,
    /// Most time to receive a request's body, from its headers on.
    pub body_timeout: Duration,
    /// Most time to answer a request (a model activation, which answers after its rescoring
    /// pass, is not bound).
    pub request_timeout: Duration,
    /// Most time the database may take to answer the health check (every half second, and
    /// `/readyz`'s own); past it, `/readyz` and ingestion answer `503` until it answers again
    /// (SDKs retry; a retried message is stored once, by its `messageId`).
    pub storage_timeout: Duration,
    /// Most requests served at once (health, readiness and metrics aside).
    pub max_requests: usize,
    /// Most connections open at once.
    pub max_connections: usize,
    /// How far past the receive time an event's time may be; beyond it, or before 2000, the
    /// event time becomes the receive time.
    pub future_skew: Span,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            write_key_rate: Rate {
                per_second: 5_000.0,
                burst: 10_000,
            },
            token_rate: Rate {
                per_second: 100.0,
                burst: 200,
            },
            auth_failures: Rate::per(10, Duration::from_secs(60)),
            trust_proxy: false,
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(60),
            storage_timeout: Duration::from_secs(1),
            max_requests: 1_024,
            max_connections: 10_000,
            future_skew: sluice_core::event::DEFAULT_FUTURE_SKEW,
        }
    }
}

/// The limits' state: the settings and the buckets.
#[derive(Debug)]
pub struct Limits {
    /// The settings.
    pub settings: Settings,
    write_keys: Buckets<String>,
    tokens: Buckets<String>,
    failures: Buckets<IpAddr>,
    requests: Arc<Semaphore>,
    /// Whether the database answers.
    pub storage: StorageHealth,
}

impl Limits {
    /// Empty buckets for these settings, and the database's health as `storage` sees it.
    pub fn new(settings: Settings, storage: StorageHealth) -> Limits {
        Limits {
            write_keys: Buckets::new(settings.write_key_rate),
            tokens: Buckets::new(settings.token_rate),
            failures: Buckets::new(settings.auth_failures),
            requests: Arc::new(Semaphore::new(settings.max_requests.max(1))),
            settings,
            storage,
        }
    }
}

/// Whether the database answers, as a check every half second sees it: up until a check gets
/// no answer within the timeout, down until one does. Waiting requests learn of it at once,
/// so a database that stops answering (refusing connections, or silent) is a `503` within a
/// second or two, never a wait for the pool's own time-outs. The check has a connection of its
/// own, so a pool busy with slow reports is not mistaken for a database that is gone.
#[derive(Debug, Clone)]
pub struct StorageHealth(watch::Receiver<bool>);

/// How often the database is checked.
const STORAGE_CHECK_EVERY: Duration = Duration::from_millis(500);

impl StorageHealth {
    /// Starts checking the database at `url` (which [`Store::connect`] opened); the checks stop
    /// when the last copy of this value is dropped.
    pub fn watch(url: &str, timeout: Duration) -> StorageHealth {
        let (tx, rx) = watch::channel(true);
        let url = url.to_string();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(STORAGE_CHECK_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut connection: Option<AnyConnection> = None;
            while !tx.is_closed() {
                ticks.tick().await;
                let check = async {
                    let conn = match &mut connection {
                        Some(conn) => conn,
                        None => connection.insert(AnyConnection::connect(&url).await?),
                    };
                    conn.ping().await
                };
                let up = matches!(tokio::time::timeout(timeout, check).await, Ok(Ok(())));
                if !up {
                    // Whatever state it was left in, the next check starts afresh.
                    connection = None;
                }
                metrics::gauge!("sluice_storage_up").set(if up { 1.0 } else { 0.0 });
                let changed = tx.send_if_modified(|was| std::mem::replace(was, up) != up);
                if changed {
                    if up {
                        tracing::info!("the database answers again");
                    } else {
                        tracing::warn!(timeout = ?timeout, "the database does not answer: readiness and ingestion answer 503");
                    }
                }
            }
        });
        StorageHealth(rx)
    }

    /// Whether the last check got an answer.
    pub fn is_up(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once a check gets no answer (never, if the checks stopped).
    pub async fn down(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|up| !*up).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Over a rate limit: retry after this long.
#[derive(Debug, Clone, Copy)]
pub struct Limited {
    /// How long until a request would be taken.
    pub retry_after: Duration,
}

impl Limited {
    /// Whole seconds to wait, at least 1 (the `Retry-After` value).
    pub fn seconds(&self) -> u64 {
        seconds(self.retry_after)
    }
}

fn seconds(wait: Duration) -> u64 {
    wait.as_secs_f64().ceil().max(1.0) as u64
}

/// Takes one ingestion request from the write key's bucket.
pub fn check_write_key(state: &AppState, key: &str) -> Result<(), Limited> {
    state
        .limits
        .write_keys
        .take(&key.to_string())
        .map_err(|retry_after| {
            metrics::counter!("sluice_rate_limited_total", "limit" => "write_key").increment(1);
            Limited { retry_after }
        })
}

/// Takes one API request from the bearer token's bucket (`token_id`: which token it is, never
/// the secret itself); over the limit, the `429` to answer.
pub fn check_token(state: &AppState, token_id: &str) -> Result<(), ApiError> {
    state
        .limits
        .tokens
        .take(&token_id.to_string())
        .map_err(|retry_after| {
            metrics::counter!("sluice_rate_limited_total", "limit" => "token").increment(1);
            let limited = Limited { retry_after };
            ApiError::rate_limited(
                format!(
                    "too many requests with this token; retry in {} s",
                    limited.seconds()
                ),
                limited.seconds(),
            )
        })
}

/// A response extension marking a failed authentication that is not a `401` (an unknown write
/// key in a settings URL answers `404`): the client's address is charged for it as for a `401`.
#[derive(Debug, Clone, Copy)]
pub struct AuthFailure;

/// The middleware around every route but health, readiness and metrics: the failed
/// authentication throttle, the bound on concurrent requests, the body and request timeouts.
/// On ingestion routes, it counts every refusal once, whoever made it
/// ([`crate::ingest::counted`]).
pub async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if matches!(path, "/healthz" | "/readyz" | "/metrics") {
        return next.run(request).await;
    }
    let door = Door::of(&request);
    let response = limit(&state, door, request, next).await;
    match door {
        Door::Segment => crate::ingest::counted(response),
        Door::Api | Door::Page => response,
    }
}

/// [`guard`]'s limits, answering in the shape of the request's door.
async fn limit(state: &AppState, door: Door, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let limits = &state.limits;
    let settings = &limits.settings;
    let client = client_address(&request, settings.trust_proxy);
    if let Some(wait) = client.and_then(|ip| limits.failures.empty_for(&ip)) {
        metrics::counter!("sluice_rate_limited_total", "limit" => "auth_failures").increment(1);
        let wait = seconds(wait);
        return door.answer(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            &format!("too many failed sign-ins or keys from this address; retry in {wait} s"),
            Some(wait),
        );
    }
    let Ok(_permit) = Arc::clone(&limits.requests).try_acquire_owned() else {
        metrics::counter!("sluice_requests_shed_total").increment(1);
        return door.answer(
            StatusCode::SERVICE_UNAVAILABLE,
            "overloaded",
            "the service is at its limit of requests at once; retry",
            Some(1),
        );
    };
    // What puts a model in force answers once its rescoring pass is done.
    let unbounded = request.method() == Method::POST
        && (path == "/api/v1/model"
            || path == "/api/v1/model/rollback"
            || (path.starts_with("/api/v1/model/proposals/") && path.ends_with("/approve")));
    let fired = Arc::new(AtomicBool::new(false));
    let request = {
        let fired = Arc::clone(&fired);
        let timeout = settings.body_timeout;
        request.map(|body| Body::new(DeadlineBody::new(body, timeout, fired)))
    };
    let response = if unbounded {
        next.run(request).await
    } else {
        match tokio::time::timeout(settings.request_timeout, next.run(request)).await {
            Ok(response) => response,
            Err(_) => {
                metrics::counter!("sluice_timeouts_total", "timeout" => "request").increment(1);
                let message = format!(
                    "the request was not answered within {}; retry",
                    span(settings.request_timeout)
                );
                return door.answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "timeout",
                    &message,
                    Some(1),
                );
            }
        }
    };
    if fired.load(Ordering::SeqCst) {
        metrics::counter!("sluice_timeouts_total", "timeout" => "body").increment(1);
        let message = format!(
            "the request body was not received within {}",
            span(settings.body_timeout)
        );
        let mut response = door.answer(StatusCode::REQUEST_TIMEOUT, "timeout", &message, None);
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return response;
    }
    let failed = response.status() == StatusCode::UNAUTHORIZED
        || response.extensions().get::<AuthFailure>().is_some();
    if let Some(ip) = client.filter(|_| failed) {
        let _ = limits.failures.take(&ip);
    }
    response
}

fn span(d: Duration) -> Span {
    Span::from_millis(d.as_millis() as i64)
}

/// Which door a request came through, for the shape of an error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    /// Segment ingestion, `/v1/...`.
    Segment,
    /// A browser on the dashboard.
    Page,
    /// The management API, and anything else.
    Api,
}

impl Door {
    fn of(request: &Request) -> Door {
        let path = request.uri().path();
        let wants_html = request
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"));
        if path.starts_with("/v1/") {
            Door::Segment
        } else if wants_html && !path.starts_with("/api/") {
            Door::Page
        } else {
            Door::Api
        }
    }

    fn answer(
        self,
        status: StatusCode,
        code: &'static str,
        message: &str,
        retry_after: Option<u64>,
    ) -> Response {
        let mut response = match self {
            Door::Segment => crate::ingest::Rejection::new(status, code, message).into_response(),
            Door::Api => ApiError::new(status, code, message).into_response(),
            Door::Page => {
                let page = format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sluice</title></head>\
                     <body><main><h1>Sluice</h1><p>{}</p><p><a href=\"/login\">Back to sign-in</a></p></main></body></html>",
                    html_escape(message)
                );
                (status, Html(page)).into_response()
            }
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The client's address: the connection's peer, or behind a trusted proxy the last address in
/// `X-Forwarded-For` (the one that proxy saw; earlier entries are whatever the client claimed).
/// IPv6 addresses count by their /64, which one host can change at will.
pub fn client_address(request: &Request, trust_proxy: bool) -> Option<IpAddr> {
    let forwarded = trust_proxy
        .then(|| forwarded_for(request.headers()))
        .flatten();
    let ip = forwarded.or_else(|| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip())
    })?;
    Some(match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    })
}

fn forwarded_for(headers: &HeaderMap) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|part| part.trim().parse::<IpAddr>().ok())
        .next_back()
}

/// A request body with a deadline for all of it: past it, reading fails and `fired` is set,
/// so [`guard`] answers `408` whatever the handler made of the error.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<tokio::time::Sleep>>,
    fired: Arc<AtomicBool>,
}

impl DeadlineBody {
    fn new(inner: Body, timeout: Duration, fired: Arc<AtomicBool>) -> Self {
        DeadlineBody {
            inner,
            deadline: Box::pin(tokio::time::sleep(timeout)),
            fired,
        }
    }
}

/// The body did not arrive in time.
#[derive(Debug, thiserror::Error)]
#[error("the request body was not received in time")]
pub struct BodyTimeout;

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            this.fired.store(true, Ordering::SeqCst);
            return Poll::Ready(Some(Err(axum::Error::new(BodyTimeout))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> Request {
        let mut request = Request::new(Body::empty());
        request
            .extensions_mut()
            .insert(ConnectInfo(peer.parse::<SocketAddr>().unwrap()));
        if let Some(f) = forwarded {
            request
                .headers_mut()
                .insert("x-forwarded-for", HeaderValue::from_str(f).unwrap());
        }
        request
    }

    #[test]
    fn the_client_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let r = request("10.0.0.1:5000", Some("1.2.3.4, 5.6.7.8"));
        assert_eq!(client_address(&r, false), Some(ip("10.0.0.1")));
        // Behind a proxy: the address it saw, not what the client put first.
        assert_eq!(client_address(&r, true), Some(ip("5.6.7.8")));
        let r = request("10.0.0.1:5000", Some("not an address"));
        assert_eq!(client_address(&r, true), Some(ip("10.0.0.1")));
        let r = request("[2001:db8:1:2:3:4:5:6]:443", None);
        assert_eq!(client_address(&r, false), Some(ip("2001:db8:1:2::")));
        let r = request("[::ffff:192.0.2.7]:443", None);
        assert_eq!(client_address(&r, false), Some(ip("192.0.2.7")));
    }

    #[test]
    fn retry_after_is_whole_seconds() {
        let limited = |ms| Limited {
            retry_after: Duration::from_millis(ms),
        };
        assert_eq!(limited(0).seconds(), 1);
        assert_eq!(limited(1_001).seconds(), 2);
        assert_eq!(limited(6_000).seconds(), 6);
    }
}
