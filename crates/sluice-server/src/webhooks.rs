//! Outbound webhooks, following Standard Webhooks (<https://www.standardwebhooks.com/>).
//!
//! The writer turns each change into events ([`events_for`]) and queues them in the same
//! transaction as the change (an outbox). The dispatcher, on a task of its own, claims due
//! deliveries with a lease, posts them signed, and records every attempt: a receiver that is
//! slow or down delays only its own deliveries, never ingestion.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use sluice_core::{Stage, Timestamp};
use sluice_store::{AttemptNext, AttemptRecord, DueDelivery, OutboundEvent, Store, WebhookAttempt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::live::Changes;
use crate::state::{Clock, token};

/// The event types a subscription can ask for; `*` asks for all of them.
pub const EVENT_TYPES: &[&str] = &[
    "lead.mql",
    "lead.assigned",
    "lead.accepted",
    "lead.rejected",
    "lead.stage_changed",
    "lead.outcome",
    "sla.warning",
    "sla.breached",
];

/// How the dispatcher sends.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// The waits before each retry after a failed attempt; after the last, a delivery fails.
    pub retry: Vec<Duration>,
    /// How long a receiver has to answer.
    pub timeout: Duration,
    /// Most posts in flight at once.
    pub concurrency: usize,
    /// How often to look for due deliveries.
    pub poll: Duration,
}

impl Default for WebhookSettings {
    /// The Standard Webhooks / Svix schedule: immediately, then after 5 s, 5 min, 30 min, 2 h,
    /// 5 h, 10 h and 10 h (about 28 hours in all).
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        WebhookSettings {
            retry: vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ],
            timeout: Duration::from_secs(10),
            concurrency: 8,
            poll: Duration::from_millis(250),
        }
    }
}

/// An event of type `kind` at `at`, with a fresh `msg_` id, in the Standard Webhooks payload
/// shape: `{"type", "timestamp", "data"}`.
pub fn event(kind: &str, at: Timestamp, data: Value) -> OutboundEvent {
    let payload = json!({"type": kind, "timestamp": at, "data": data});
    OutboundEvent {
        id: token("msg_"),
        event_type: kind.to_string(),
        at_ms: at.millis(),
        payload: payload.to_string(),
    }
}

/// The events a change sends: `lead.stage_changed` for every stage move, and `lead.mql` too
/// for a move to `mql`.
pub fn events_for(changes: &Changes) -> Vec<OutboundEvent> {
    let mut events = Vec::new();
    for t in &changes.transitions {
        let at = Timestamp::from_millis(t.at_ms);
        events.push(event(
            "lead.stage_changed",
            at,
            json!({
                "lead_id": t.lead_id,
                "from": t.from,
                "to": t.to,
                "actor": t.actor,
                "reason": t.reason,
                "model_version": t.model_version,
                "at": at,
            }),
        ));
        if t.to == Stage::Mql {
            let lead = changes.leads.iter().find(|l| l.id == t.lead_id);
            let detail = t.detail.as_ref();
            events.push(event(
                "lead.mql",
                at,
                json!({
                    "lead_id": t.lead_id,
                    "email": lead.and_then(|l| l.attributes.get("email")),
                    "account_id": lead.and_then(|l| l.account_id.as_deref()),
                    "owner": lead.and_then(|l| l.owner.as_deref()),
                    "score": lead.map(|l| l.score),
                    "fit": lead.map(|l| l.fit),
                    "engagement": lead.map(|l| l.engagement),
                    "grade": lead.map(|l| l.grade.as_str()),
                    "from": t.from,
                    "actor": t.actor,
                    "model_version": t.model_version,
                    "explanation": detail.and_then(|d| d.get("explanation")),
                    "at": at,
                }),
            ));
        }
    }
    events
}

/// A new signing secret: `whsec_` and the base64 of 32 random bytes.
pub fn new_secret() -> String {
    use rand::TryRngCore;
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .expect("the operating system provides randomness");
    format!("whsec_{}", BASE64.encode(bytes))
}

/// The `webhook-signature` value for a message: `v1,` and the base64 HMAC-SHA256, keyed with
/// the secret's decoded bytes, of `{id}.{timestamp}.{body}`. `None` if the secret is not a
/// `whsec_` base64 secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", BASE64.encode(mac.finalize().into_bytes())))
}

/// Starts the dispatcher: it runs as long as the runtime does.
pub fn spawn(store: Store, settings: WebhookSettings, clock: Clock) -> tokio::task::JoinHandle<()> {
    tokio::spawn(dispatch(store, settings, clock))
}

async fn dispatch(store: Store, settings: WebhookSettings, clock: Clock) {
    let client = match reqwest::Client::builder()
        .timeout(settings.timeout)
        // A redirect is an answer that is not 2xx: the subscription should name the real URL.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Sluice-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the webhook HTTP client; webhooks are not sent");
            return;
        }
    };
    let settings = Arc::new(settings);
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    // A claim outlives the longest attempt, so a live dispatcher never loses one mid-post; a
    // crashed one's claims are taken over when they lapse.
    let lease = settings.timeout + Duration::from_secs(30);
    let mut failing = false;
    loop {
        let Ok(first) = Arc::clone(&slots).acquire_owned().await else {
            return;
        };
        let free = slots.available_permits() + 1;
        let at = clock.now().millis();
        let due = match store
            .claim_webhook_deliveries(at, at + lease.as_millis() as i64, free)
            .await
        {
            Ok(due) => {
                if failing {
                    tracing::info!("webhook dispatcher reaches storage again");
                    failing = false;
                }
                due
            }
            Err(e) => {
                if !failing {
                    tracing::error!(error = %e, "webhook dispatcher cannot claim deliveries; retrying");
                    failing = true;
                }
                drop(first);
                tokio::time::sleep(settings.poll.max(Duration::from_secs(1))).await;
                continue;
            }
        };
        let full = due.len() == free;
        let mut first = Some(first);
        for delivery in due {
            let permit = match first.take() {
                Some(permit) => permit,
                // Only this loop takes slots, and it counted them: one is free.
                None => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            tokio::spawn(deliver(
                client.clone(),
                store.clone(),
                Arc::clone(&settings),
                clock.clone(),
                delivery,
                permit,
            ));
        }
        drop(first);
        if !full {
            tokio::time::sleep(settings.poll).await;
        }
    }
}

/// Posts one delivery and records the attempt.
async fn deliver(
    client: reqwest::Client,
    store: Store,
    settings: Arc<WebhookSettings>,
    clock: Clock,
    delivery: DueDelivery,
    _slot: OwnedSemaphorePermit,
) {
    let started_at = clock.now();
    let started = Instant::now();
    let (status_code, error) = post(&client, &delivery, started_at).await;
    let duration_ms = started.elapsed().as_millis() as i64;
    let next = if error.is_none() {
        AttemptNext::Delivered
    } else {
        match settings.retry.get(delivery.attempts as usize) {
            Some(wait) => AttemptNext::RetryAt(clock.now().millis() + wait.as_millis() as i64),
            None => AttemptNext::Failed,
        }
    };
    let outcome = match next {
        AttemptNext::Delivered => "delivered",
        AttemptNext::RetryAt(_) => "retrying",
        AttemptNext::Failed => "failed",
    };
    metrics::counter!("sluice_webhook_deliveries_total", "outcome" => outcome).increment(1);
    if let Some(e) = &error {
        tracing::warn!(delivery = delivery.id, url = %delivery.url, error = %e, outcome, "webhook attempt failed");
    }
    let record = AttemptRecord {
        delivery_id: delivery.id,
        lease_until_ms: delivery.lease_until_ms,
        attempt: WebhookAttempt {
            at_ms: started_at.millis(),
            status_code,
            error,
            duration_ms,
        },
        next,
    };
    // Unrecorded, the attempt is made again once the lease lapses: at least once.
    if let Err(e) = store.record_webhook_attempt(&record).await {
        tracing::error!(delivery = delivery.id, error = %e, "cannot record a webhook attempt");
    }
}

/// Most bytes of a failed answer kept in the delivery log.
const BODY_EXCERPT: usize = 256;

/// One signed POST: the receiver's status, and what went wrong (`None`: a 2xx answer).
async fn post(
    client: &reqwest::Client,
    delivery: &DueDelivery,
    at: Timestamp,
) -> (Option<i32>, Option<String>) {
    let timestamp = at.millis().div_euclid(1000);
    let Some(signature) = sign(
        &delivery.secret,
        &delivery.event_id,
        timestamp,
        &delivery.payload,
    ) else {
        return (None, Some("the subscription's secret is not valid".into()));
    };
    let sent = client
        .post(&delivery.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", &delivery.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(delivery.payload.clone())
        .send()
        .await;
    let mut response = match sent {
        Ok(response) => response,
        Err(e) => return (None, Some(describe(&e))),
    };
    let status = response.status();
    if status.is_success() {
        return (Some(i32::from(status.as_u16())), None);
    }
    // A little of the answer helps whoever reads the log; more would only fill the database.
    let mut excerpt = Vec::new();
    while excerpt.len() < BODY_EXCERPT {
        match response.chunk().await {
            Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
            _ => break,
        }
    }
    excerpt.truncate(BODY_EXCERPT);
    let excerpt = String::from_utf8_lossy(&excerpt);
    let excerpt = excerpt.trim();
    let error = if excerpt.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {excerpt}")
    };
    (Some(i32::from(status.as_u16())), Some(error))
}

/// A transport failure in words, with its causes (reqwest's own message names only the URL).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out waiting for the receiver".into();
    }
    let mut text = if e.is_connect() {
        "cannot connect".to_string()
    } else {
        e.to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        let signature = sign(
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            1649367553,
            r#"{"email":"test@example.com","username":"test_user"}"#,
        );
        assert_eq!(
            signature.as_deref(),
            Some("v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=")
        );
        assert_eq!(sign("whsec_not base64!", "msg_1", 1, "{}"), None);
    }

    #[test]
    fn secrets_are_whsec_and_32_random_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let key = BASE64.decode(a.strip_prefix("whsec_").unwrap()).unwrap();
        assert_eq!(key.len(), 32);
    }

    #[test]
    fn the_default_schedule_is_eight_attempts_over_about_28_hours() {
        let retry = WebhookSettings::default().retry;
        assert_eq!(retry.len() + 1, 8);
        let total: Duration = retry.iter().sum();
        assert_eq!(
            total.as_secs(),
            5 + 5 * 60 + 30 * 60 + (2 + 5 + 10 + 10) * 3600
        );
    }
}
