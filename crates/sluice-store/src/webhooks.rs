//! Outbound webhooks: subscriptions, the outbox of events, and their deliveries with every
//! attempt. The writer enqueues inside its own transaction ([`Tx::enqueue_webhooks`]); a
//! dispatcher claims due deliveries with a lease, posts them, and records each attempt.

use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Backend, CHUNK, Page, Result, Store, StoreError, Tx, placeholders, rows_placeholders};

/// The type of the test event: sent on request to one subscription, never matched by `*`.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// An event to send to the subscriptions that want it (a row of the outbox).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboundEvent {
    /// Its id, `msg_...`: the `webhook-id` of every attempt, for receivers to deduplicate.
    pub id: String,
    /// Its type, e.g. `lead.mql`.
    pub event_type: String,
    /// When it happened (ms since the epoch).
    pub at_ms: i64,
    /// The body to post, as JSON text (signed byte for byte).
    pub payload: String,
}

/// A subscription: where to post which events, and the secret to sign them with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookSubscription {
    /// Its id, `sub_...`.
    pub id: String,
    /// Where to post.
    pub url: String,
    /// A note for people.
    pub description: Option<String>,
    /// The event types it receives (`*`: every type).
    pub event_types: Vec<String>,
    /// The signing secret, `whsec_...`; never listed, only shown on request.
    #[serde(skip_serializing)]
    pub secret: String,
    /// When it was created.
    pub created_ms: i64,
    /// When it was disabled, if it was.
    pub disabled_ms: Option<i64>,
}

impl WebhookSubscription {
    /// Whether it receives events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.event_types
            .iter()
            .any(|t| t == event_type || (t == "*" && event_type != TEST_EVENT_TYPE))
    }

    fn from_row(row: &AnyRow) -> Result<Self> {
        let types: String = row.try_get("event_types")?;
        Ok(WebhookSubscription {
            id: row.try_get("id")?,
            url: row.try_get("url")?,
            description: row.try_get("description")?,
            event_types: serde_json::from_str(&types).map_err(|e| StoreError::Corrupt {
                table: "webhook_subscriptions",
                column: "event_types",
                message: e.to_string(),
            })?,
            secret: row.try_get("secret")?,
            created_ms: row.try_get("created_ms")?,
            disabled_ms: row.try_get("disabled_ms")?,
        })
    }
}

const SUBSCRIPTION_COLUMNS: &str =
    "id, url, description, event_types, secret, created_ms, disabled_ms";

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Every attempt failed (or the subscription was disabled).
    Failed,
}

impl DeliveryStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(StoreError::Corrupt {
                table: "webhook_deliveries",
                column: "status",
                message: format!("unknown status `{other}`"),
            }),
        }
    }
}

/// One event's delivery to one subscription, with its attempts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookDelivery {
    /// Its id.
    pub id: i64,
    /// The event (the `webhook-id`).
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The subscription.
    pub subscription_id: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts since it was (re)queued; the log keeps every attempt.
    pub attempts: i64,
    /// When it is next tried, while pending.
    pub next_attempt_ms: Option<i64>,
    /// The last attempt's HTTP status, if the receiver answered.
    pub last_status_code: Option<i32>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When a receiver took it.
    pub delivered_ms: Option<i64>,
    /// When it was queued.
    pub created_ms: i64,
    /// Every attempt, newest first.
    pub log: Vec<WebhookAttempt>,
}

const DELIVERY_COLUMNS: &str = "d.id, d.event_id, e.event_type, d.subscription_id, d.status, \
     d.attempts, d.next_attempt_ms, d.last_status_code, d.last_error, d.delivered_ms, d.created_ms";

impl WebhookDelivery {
    fn from_row(row: &AnyRow) -> Result<Self> {
        let status = DeliveryStatus::parse(&row.try_get::<String, _>("status")?)?;
        Ok(WebhookDelivery {
            id: row.try_get("id")?,
            event_id: row.try_get("event_id")?,
            event_type: row.try_get("event_type")?,
            subscription_id: row.try_get("subscription_id")?,
            status,
            attempts: row.try_get("attempts")?,
            next_attempt_ms: (status == DeliveryStatus::Pending)
                .then(|| row.try_get::<i64, _>("next_attempt_ms"))
                .transpose()?,
            last_status_code: row.try_get("last_status_code")?,
            last_error: row.try_get("last_error")?,
            delivered_ms: row.try_get("delivered_ms")?,
            created_ms: row.try_get("created_ms")?,
            log: Vec::new(),
        })
    }
}

/// One attempt to post a delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WebhookAttempt {
    /// When it started.
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    pub status_code: Option<i32>,
    /// What went wrong (a non-2xx answer, a time-out, a refused connection).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: i64,
}

/// A delivery claimed by a dispatcher, with what it needs to post it.
#[derive(Debug, Clone, PartialEq)]
pub struct DueDelivery {
    /// The delivery.
    pub id: i64,
    /// Attempts made since it was (re)queued.
    pub attempts: i64,
    /// The lease taken: the claim holds until then, and recording checks it is still held.
    pub lease_until_ms: i64,
    /// The subscription.
    pub subscription_id: String,
    /// Where to post.
    pub url: String,
    /// The secret to sign with.
    pub secret: String,
    /// The `webhook-id`.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The body.
    pub payload: String,
}

/// What follows an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptNext {
    /// It was delivered.
    Delivered,
    /// It failed; try again then (ms since the epoch).
    RetryAt(i64),
    /// It failed for the last time.
    Failed,
}

/// An attempt to record.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// The delivery.
    pub delivery_id: i64,
    /// The lease the attempt was made under (from [`DueDelivery`]).
    pub lease_until_ms: i64,
    /// What happened.
    pub attempt: WebhookAttempt,
    /// What follows.
    pub next: AttemptNext,
}

impl Store {
    /// Adds a subscription.
    pub async fn create_webhook_subscription(&self, sub: &WebhookSubscription) -> Result<()> {
        sqlx::query(&format!(
            "INSERT INTO webhook_subscriptions ({SUBSCRIPTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(sub.id.as_str())
        .bind(sub.url.as_str())
        .bind(sub.description.as_deref())
        .bind(serde_json::to_string(&sub.event_types).expect("strings serialize"))
        .bind(sub.secret.as_str())
        .bind(sub.created_ms)
        .bind(sub.disabled_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Every subscription, disabled ones included, oldest first.
    pub async fn webhook_subscriptions(&self) -> Result<Vec<WebhookSubscription>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions ORDER BY created_ms, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(WebhookSubscription::from_row).collect()
    }

    /// One subscription.
    pub async fn webhook_subscription(&self, id: &str) -> Result<Option<WebhookSubscription>> {
        let row = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(WebhookSubscription::from_row).transpose()
    }

    /// Disables a subscription: it gets no new events, and its pending deliveries fail. False if
    /// there is no such enabled subscription.
    pub async fn disable_webhook_subscription(&self, id: &str, at_ms: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE webhook_subscriptions SET disabled_ms = $1 WHERE id = $2 AND disabled_ms IS NULL",
        )
        .bind(at_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "UPDATE webhook_deliveries SET status = 'failed', last_error = 'the subscription was disabled', \
             locked_until_ms = 0 WHERE subscription_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Queues an event for one subscription only (e.g. a test event); returns the delivery id.
    pub async fn send_webhook_to(
        &self,
        subscription_id: &str,
        event: &OutboundEvent,
    ) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        insert_events(&mut tx, self.backend, &[event]).await?;
        let row = sqlx::query(
            "INSERT INTO webhook_deliveries (event_id, subscription_id, status, attempts, next_attempt_ms, \
             locked_until_ms, created_ms) VALUES ($1, $2, 'pending', 0, $3, 0, $4) RETURNING id",
        )
        .bind(event.id.as_str())
        .bind(subscription_id)
        .bind(event.at_ms)
        .bind(event.at_ms)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(row.try_get(0)?)
    }

    /// Claims up to `limit` deliveries due at `now_ms`, leasing them until `lease_until_ms`:
    /// no other dispatcher on this database takes them before then.
    pub async fn claim_webhook_deliveries(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: usize,
    ) -> Result<Vec<DueDelivery>> {
        const DUE: &str = "status = 'pending' AND next_attempt_ms <= $1 AND locked_until_ms <= $2";
        // A read first, so an idle poll never takes SQLite's write lock from the writer.
        let any = sqlx::query(&format!(
            "SELECT id FROM webhook_deliveries WHERE {DUE} LIMIT 1"
        ))
        .bind(now_ms)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        if any.is_none() || limit == 0 {
            return Ok(Vec::new());
        }
        // PostgreSQL: skip rows another replica is claiming rather than wait for them. The
        // outer condition repeats the inner one so that a row claimed meanwhile is re-checked
        // against its new lease and left alone.
        let skip_locked = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let claimed = sqlx::query(&format!(
            "UPDATE webhook_deliveries SET locked_until_ms = $3 WHERE id IN \
             (SELECT id FROM webhook_deliveries WHERE {DUE} ORDER BY next_attempt_ms, id LIMIT $4{skip_locked}) \
             AND status = 'pending' AND locked_until_ms <= $5 RETURNING id"
        ))
        .bind(now_ms)
        .bind(now_ms)
        .bind(lease_until_ms)
        .bind(limit as i64)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        let ids: Vec<i64> = claimed
            .iter()
            .map(|r| r.try_get(0))
            .collect::<std::result::Result<_, _>>()?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT d.id, d.attempts, d.subscription_id, s.url, s.secret, d.event_id, e.event_type, e.payload \
             FROM webhook_deliveries d JOIN webhook_subscriptions s ON s.id = d.subscription_id \
             JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.locked_until_ms = $1 AND d.id IN ({}) ORDER BY d.next_attempt_ms, d.id",
            placeholders(2, ids.len())
        );
        let mut query = sqlx::query(&sql).bind(lease_until_ms);
        for id in &ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| {
                Ok(DueDelivery {
                    id: row.try_get("id")?,
                    attempts: row.try_get("attempts")?,
                    lease_until_ms,
                    subscription_id: row.try_get("subscription_id")?,
                    url: row.try_get("url")?,
                    secret: row.try_get("secret")?,
                    event_id: row.try_get("event_id")?,
                    event_type: row.try_get("event_type")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect()
    }

    /// Records an attempt in the log and, if the lease it was made under still holds, moves the
    /// delivery on (delivered, retry later, or failed). A lost lease (the delivery was
    /// redelivered or re-claimed meanwhile) leaves the delivery to its new owner.
    pub async fn record_webhook_attempt(&self, record: &AttemptRecord) -> Result<()> {
        let a = &record.attempt;
        let (status, next_ms, delivered_ms) = match record.next {
            AttemptNext::Delivered => ("delivered", 0, Some(a.at_ms)),
            AttemptNext::RetryAt(at) => ("pending", at, None),
            AttemptNext::Failed => ("failed", 0, None),
        };
        let mut tx = self.pool.begin().await?;
        // The update comes first: SQLite takes its write lock at the first write, and a
        // transaction that reads before writing could be refused the upgrade.
        sqlx::query(
            "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, next_attempt_ms = $2, \
             locked_until_ms = 0, last_status_code = $3, last_error = $4, delivered_ms = $5 \
             WHERE id = $6 AND locked_until_ms = $7",
        )
        .bind(status)
        .bind(next_ms)
        .bind(a.status_code)
        .bind(a.error.as_deref())
        .bind(delivered_ms)
        .bind(record.delivery_id)
        .bind(record.lease_until_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO webhook_attempts (delivery_id, at_ms, status_code, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(record.delivery_id)
        .bind(a.at_ms)
        .bind(a.status_code)
        .bind(a.error.as_deref())
        .bind(a.duration_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A subscription's deliveries with their attempts, newest first, a page at a time (`before`:
    /// the `next` of the previous page).
    pub async fn webhook_deliveries(
        &self,
        subscription_id: &str,
        limit: i64,
        before: Option<i64>,
    ) -> Result<Page<WebhookDelivery>> {
        let limit = limit.clamp(1, 1000);
        let rows = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.subscription_id = $1 AND d.id < $2 ORDER BY d.id DESC LIMIT $3"
        ))
        .bind(subscription_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit + 1)
        .fetch_all(&self.pool)
        .await?;
        let mut items: Vec<WebhookDelivery> = rows
            .iter()
            .map(WebhookDelivery::from_row)
            .collect::<Result<_>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|d| d.id.to_string())
        } else {
            None
        };
        self.attach_attempts(&mut items).await?;
        Ok(Page { items, next })
    }

    /// One delivery, with its attempts.
    pub async fn webhook_delivery(&self, id: i64) -> Result<Option<WebhookDelivery>> {
        let row = sqlx::query(&format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhook_events e ON e.id = d.event_id \
             WHERE d.id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut items = vec![WebhookDelivery::from_row(&row)?];
        self.attach_attempts(&mut items).await?;
        Ok(items.pop())
    }

    async fn attach_attempts(&self, deliveries: &mut [WebhookDelivery]) -> Result<()> {
        if deliveries.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "SELECT delivery_id, at_ms, status_code, error, duration_ms FROM webhook_attempts \
             WHERE delivery_id IN ({}) ORDER BY id DESC",
            placeholders(1, deliveries.len())
        );
        let mut query = sqlx::query(&sql);
        for d in deliveries.iter() {
            query = query.bind(d.id);
        }
        for row in query.fetch_all(&self.pool).await? {
            let delivery: i64 = row.try_get("delivery_id")?;
            if let Some(d) = deliveries.iter_mut().find(|d| d.id == delivery) {
                d.log.push(WebhookAttempt {
                    at_ms: row.try_get("at_ms")?,
                    status_code: row.try_get("status_code")?,
                    error: row.try_get("error")?,
                    duration_ms: row.try_get("duration_ms")?,
                });
            }
        }
        Ok(())
    }

    /// Sends a delivery again: pending from `now_ms` with the whole retry schedule ahead, its
    /// earlier attempts kept in the log. False if there is no such delivery.
    pub async fn redeliver_webhook(&self, delivery_id: i64, now_ms: i64) -> Result<bool> {
        // Clearing the lease makes an attempt in flight record only its log row.
        let done = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_ms = $1, \
             locked_until_ms = 0, delivered_ms = NULL WHERE id = $2",
        )
        .bind(now_ms)
        .bind(delivery_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}

impl Tx {
    /// Queues events for every enabled subscription that wants them (by type, or `*`), in this
    /// transaction: they are sent only if it commits. Events nobody wants are not stored.
    pub async fn enqueue_webhooks(&mut self, events: &[OutboundEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let rows = sqlx::query(&format!(
            "SELECT {SUBSCRIPTION_COLUMNS} FROM webhook_subscriptions WHERE disabled_ms IS NULL"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        let subscriptions: Vec<WebhookSubscription> = rows
            .iter()
            .map(WebhookSubscription::from_row)
            .collect::<Result<_>>()?;
        let mut wanted = Vec::new();
        let mut deliveries = Vec::new();
        for event in events {
            let before = deliveries.len();
            for sub in subscriptions.iter().filter(|s| s.wants(&event.event_type)) {
                deliveries.push((event, sub.id.as_str()));
            }
            if deliveries.len() > before {
                wanted.push(event);
            }
        }
        insert_events(&mut self.tx, self.backend, &wanted).await?;
        for chunk in deliveries.chunks(CHUNK / 2) {
            let sql = format!(
                "INSERT INTO webhook_deliveries (event_id, subscription_id, status, attempts, next_attempt_ms, \
                 locked_until_ms, created_ms) VALUES {}",
                rows_placeholders(self.backend, chunk.len(), 7)
            );
            let mut query = sqlx::query(&sql);
            for (event, sub) in chunk {
                query = query
                    .bind(event.id.as_str())
                    .bind(*sub)
                    .bind("pending")
                    .bind(0i64)
                    .bind(event.at_ms)
                    .bind(0i64)
                    .bind(event.at_ms);
            }
            query.execute(&mut *self.tx).await?;
        }
        Ok(())
    }
}

async fn insert_events(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    backend: Backend,
    events: &[&OutboundEvent],
) -> Result<()> {
    for chunk in events.chunks(CHUNK) {
        let sql = format!(
            "INSERT INTO webhook_events (id, event_type, at_ms, payload) VALUES {}",
            rows_placeholders(backend, chunk.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for e in chunk {
            query = query
                .bind(e.id.as_str())
                .bind(e.event_type.as_str())
                .bind(e.at_ms)
                .bind(e.payload.as_str());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
