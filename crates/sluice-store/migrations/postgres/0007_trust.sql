-- People and roles, hashed secrets, sessions, the audit log and the suppression list.
-- Secrets (API tokens, write keys, session ids, sign-in links) are stored as SHA-256 digests
-- of the secret: the secret itself is shown once, when it is made.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    role TEXT NOT NULL,
    rep TEXT,
    team TEXT,
    password_hash TEXT,
    created_ms BIGINT NOT NULL
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked_ms BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE sessions (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE sign_in_links (
    hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);

-- Write keys, hashed (the table `write_keys` held them in plain text; its rows are moved here
-- and hashed when the store connects).
CREATE TABLE source_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    prefix TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked_ms BIGINT
);

-- Append-only: the trigger refuses every change to a row once written.
CREATE TABLE audit_log (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    address TEXT,
    action TEXT NOT NULL,
    target TEXT,
    detail TEXT
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- People who asked to be forgotten: SHA-256 digests of their lower-cased ids and emails, so
-- new events for them are dropped without keeping who they are.
CREATE TABLE suppressions (
    hash TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL
);
