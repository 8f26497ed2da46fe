-- The model as a contract: who wrote each version and why, when each was put in force, and
-- proposals with their sign-offs (see docs/governance.md).
ALTER TABLE models ADD COLUMN author TEXT;
ALTER TABLE models ADD COLUMN rationale TEXT;

-- Every time a version was put in force: by an upload, an approved proposal, or a rollback.
CREATE TABLE model_activations (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    actor TEXT NOT NULL,
    how TEXT NOT NULL,
    note TEXT
);

-- A proposed version: its file, the version in force when it was proposed, its diff against
-- that version and the backtest of both (JSON), and where it stands.
CREATE TABLE model_proposals (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    source TEXT NOT NULL,
    base_version TEXT,
    author TEXT NOT NULL,
    rationale TEXT,
    created_ms BIGINT NOT NULL,
    status TEXT NOT NULL,
    diff TEXT NOT NULL,
    backtest TEXT NOT NULL,
    decided_ms BIGINT,
    shadow_ms BIGINT
);

-- Approvals, rejections and comments on a proposal, each by a person in a role.
CREATE TABLE model_signatures (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    proposal_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    verdict TEXT NOT NULL,
    comment TEXT,
    at_ms BIGINT NOT NULL
);
CREATE INDEX model_signatures_proposal ON model_signatures (proposal_id);
