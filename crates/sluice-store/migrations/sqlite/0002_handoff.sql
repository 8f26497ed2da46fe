-- The hand-off: teams and reps, who was given which lead (and why), what reps did, and the
-- SLA warnings and breaches the scheduler recorded (each at most once).
CREATE TABLE teams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    time_zone TEXT NOT NULL,
    working_hours TEXT NOT NULL,
    holidays TEXT NOT NULL,
    manager TEXT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE reps (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL UNIQUE,
    team_id TEXT NOT NULL REFERENCES teams (id),
    time_zone TEXT,
    working_hours TEXT,
    capacity INTEGER NOT NULL,
    available INTEGER NOT NULL,
    away_until_ms BIGINT,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
CREATE INDEX reps_team ON reps (team_id);

CREATE TABLE assignments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    rep_id TEXT,
    team_id TEXT,
    at_ms BIGINT NOT NULL,
    rule TEXT NOT NULL,
    why TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX assignments_lead ON assignments (lead_id, seq);
CREATE INDEX assignments_at ON assignments (at_ms);

CREATE TABLE activities (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    rep_id TEXT,
    note TEXT,
    source TEXT NOT NULL,
    external_id TEXT UNIQUE,
    recorded_ms BIGINT NOT NULL
);
CREATE INDEX activities_lead ON activities (lead_id, at_ms);
CREATE INDEX activities_at ON activities (at_ms);

CREATE TABLE sla_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    lead_id TEXT NOT NULL,
    policy TEXT NOT NULL,
    step TEXT NOT NULL,
    kind TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    due_ms BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    rep_id TEXT,
    team_id TEXT,
    action TEXT,
    UNIQUE (lead_id, policy, kind, started_ms)
);
CREATE INDEX sla_events_at ON sla_events (at_ms);

ALTER TABLE accounts ADD COLUMN owner TEXT;
