-- The event log is the source of truth; every other table is state derived from it.
CREATE TABLE events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    user_id TEXT,
    anonymous_id TEXT,
    at_ms BIGINT NOT NULL,
    received_ms BIGINT NOT NULL,
    source TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_user ON events (user_id, at_ms);
CREATE INDEX events_anonymous ON events (anonymous_id, at_ms);

CREATE TABLE identities (
    alias TEXT PRIMARY KEY,
    lead_id TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX identities_lead ON identities (lead_id);

CREATE TABLE leads (
    id TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    account_id TEXT,
    stage TEXT NOT NULL,
    owner TEXT,
    score DOUBLE PRECISION NOT NULL,
    fit DOUBLE PRECISION NOT NULL,
    engagement DOUBLE PRECISION NOT NULL,
    grade TEXT NOT NULL,
    qualification TEXT NOT NULL,
    scored TEXT NOT NULL,
    model_version TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    last_event_ms BIGINT
);
CREATE INDEX leads_score ON leads (score DESC, id);
CREATE INDEX leads_updated ON leads (updated_ms DESC, id);
CREATE INDEX leads_stage ON leads (stage);
CREATE INDEX leads_account ON leads (account_id);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    fit DOUBLE PRECISION NOT NULL,
    engagement DOUBLE PRECISION NOT NULL,
    qualified INTEGER NOT NULL,
    scored TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX accounts_score ON accounts (score DESC, id);

CREATE TABLE transitions (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id TEXT NOT NULL,
    from_stage TEXT NOT NULL,
    to_stage TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    model_version TEXT,
    detail TEXT
);
CREATE INDEX transitions_lead ON transitions (lead_id, seq);

CREATE TABLE models (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    active INTEGER NOT NULL
);

CREATE TABLE write_keys (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    revoked_ms BIGINT
);

CREATE TABLE outcomes (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lead_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    amount DOUBLE PRECISION,
    at_ms BIGINT NOT NULL,
    reason TEXT,
    UNIQUE (lead_id, kind, at_ms)
);
CREATE INDEX outcomes_lead ON outcomes (lead_id);
