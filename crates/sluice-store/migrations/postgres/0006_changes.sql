-- What each commit of a writer changed in the durable scoring state (ids and accounts, as
-- JSON), so the other processes on the same database drop those from their caches before their
-- next commit. Commits that change the scoring state hold one lock (see `Tx::lock_state`), so
-- the sequence is the order of the commits. Old rows are pruned.
CREATE TABLE state_changes (
    seq BIGSERIAL PRIMARY KEY,
    changed TEXT NOT NULL
);
