-- Durable scoring state: what the event log says about each id (a userId, an anonymousId, an
-- email), kept current by the writer in the same transaction as the events, so nothing has to
-- replay the log to score a lead. `root` is the lead (or anonymous visitor) the id stands for.
CREATE TABLE trails (
    id TEXT PRIMARY KEY,
    root TEXT NOT NULL,
    link_to TEXT,
    link_at BIGINT,
    is_user INTEGER NOT NULL,
    first_seen BIGINT,
    last_event BIGINT,
    traits TEXT NOT NULL,
    group_id TEXT,
    group_at BIGINT,
    hits TEXT NOT NULL,
    model_version TEXT NOT NULL,
    -- For reports: the first UTM campaign seen, and when each event name and engagement rule
    -- was first seen.
    first_touch TEXT,
    seen TEXT NOT NULL
);
CREATE INDEX trails_root ON trails (root);

-- Account traits with the time each was set.
CREATE TABLE account_traits (
    id TEXT PRIMARY KEY,
    traits TEXT NOT NULL
);
