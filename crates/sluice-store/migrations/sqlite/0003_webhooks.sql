-- Outbound webhooks (Standard Webhooks). The writer only inserts events and their pending
-- deliveries, inside the transaction that caused them; the dispatcher posts them from here, so a
-- slow receiver never holds up ingestion and nothing is lost on a crash.
CREATE TABLE webhook_subscriptions (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    description TEXT,
    -- A JSON array of event types; `*` is every type.
    event_types TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    disabled_ms BIGINT
);

-- The outbox: one row per event, its id being the `webhook-id` every attempt carries.
CREATE TABLE webhook_events (
    id TEXT PRIMARY KEY,
    event_type TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    payload TEXT NOT NULL
);

-- One row per (event, subscription). `locked_until_ms` is a lease: a dispatcher that claims a
-- delivery owns it until then, so replicas sharing the database do not post the same attempt.
CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL REFERENCES webhook_events (id),
    subscription_id TEXT NOT NULL REFERENCES webhook_subscriptions (id),
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_ms BIGINT NOT NULL,
    locked_until_ms BIGINT NOT NULL,
    last_status_code INTEGER,
    last_error TEXT,
    delivered_ms BIGINT,
    created_ms BIGINT NOT NULL,
    UNIQUE (event_id, subscription_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_ms) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_subscription ON webhook_deliveries (subscription_id, id);

-- The delivery log: every attempt, kept when a delivery is sent again.
CREATE TABLE webhook_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id BIGINT NOT NULL REFERENCES webhook_deliveries (id),
    at_ms BIGINT NOT NULL,
    status_code INTEGER,
    error TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);
