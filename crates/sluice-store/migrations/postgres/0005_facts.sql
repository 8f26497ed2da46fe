-- Report facts: one row per lead with what the funnel and attribution reports count (its
-- journey through the stages, first MQL, outcomes, first touch, and the features it showed
-- before its cut-off), so a report reads one row per lead and nothing else.
--
-- Every transaction that changes what a lead's facts are made from (events, stage moves,
-- outcomes, activities, its account's traits, a model activation) adds one to `dirty` in the
-- same transaction; the service rebuilds dirty rows in the background, and a report first
-- rebuilds any still dirty, so it always counts the current state. A rebuild stores its result
-- only if `dirty` is still what it read, so a change made meanwhile is never lost.
CREATE TABLE lead_facts (
    lead_id TEXT PRIMARY KEY,
    dirty BIGINT NOT NULL,
    created_ms BIGINT,
    model_version TEXT,
    -- What the funnel counts, and apart (bigger, read by attribution only) the features.
    facts TEXT,
    features TEXT
);
CREATE INDEX lead_facts_dirty ON lead_facts (lead_id) WHERE dirty > 0;
CREATE INDEX lead_facts_created ON lead_facts (created_ms);

-- Every lead already stored gets its facts built once.
INSERT INTO lead_facts (lead_id, dirty) SELECT id, 1 FROM leads;
