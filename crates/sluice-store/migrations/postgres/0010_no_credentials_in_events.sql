-- No write key in the event log. analytics.js writes `writeKey` into every message it sends
-- (a batch's included), and other clients use `write_key`; ingestion now takes them from a
-- message, at its top level and in its `context`, before storing it
-- (`sluice_core::event::CREDENTIAL_FIELDS`). This takes them from the messages stored before.
-- Only rows that hold one are rewritten (through jsonb, and back to text); `properties` and
-- `traits` are the sender's data and are left as they are.
--
-- The text prefilter (LIKE) keeps the JSON reading to the rows that name a field, and the
-- materialized CTE keeps it there (no test on the jsonb is evaluated before it). A row jsonb
-- cannot hold (the escape \u0000, which JSON and serde_json allow) is left as it is rather than
-- failing the upgrade.
WITH candidates AS MATERIALIZED (
    SELECT seq, message::jsonb AS m
    FROM events
    WHERE (message LIKE '%"writeKey"%' OR message LIKE '%"write\_key"%')
      AND strpos(message, '\u0000') = 0
),
cleaned AS (
    SELECT seq,
           CASE WHEN jsonb_typeof(m -> 'context') = 'object'
                THEN jsonb_set(m - 'writeKey' - 'write_key', '{context}',
                               (m -> 'context') - 'writeKey' - 'write_key')
                ELSE m - 'writeKey' - 'write_key'
           END AS m,
           m AS before
    FROM candidates
)
UPDATE events
SET message = cleaned.m::text
FROM cleaned
WHERE events.seq = cleaned.seq AND cleaned.m <> cleaned.before;
