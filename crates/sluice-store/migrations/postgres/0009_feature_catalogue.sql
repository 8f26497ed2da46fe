-- Attribution's features as numbers. Each feature a lead can show (an event name, an
-- engagement or fit rule, an attribute value) gets an id once, here; a lead's facts keep the
-- ids of its features (`lead_facts.feature_ids`, space-separated) instead of their names, so a
-- report reads a few bytes per lead. Rows are never changed or deleted, so an id means the same
-- thing to every process that has read it.
--
-- An attribute keeps at most a fixed number of values here (see `sluice_store::facts`); a lead
-- whose value is not among them shows the attribute's `overflow` row instead (kind `o`), which
-- tells a report that the attribute has too many values to measure (ids, emails, names).
CREATE TABLE report_features (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (kind, name, value)
);
ALTER TABLE lead_facts ADD COLUMN feature_ids TEXT;
-- Every lead's features are rebuilt once, as ids; the names they were kept as go.
UPDATE lead_facts SET dirty = dirty + 1, features = NULL;
