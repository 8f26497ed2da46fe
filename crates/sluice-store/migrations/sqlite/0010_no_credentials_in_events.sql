-- No write key in the event log. analytics.js writes `writeKey` into every message it sends
-- (a batch's included), and other clients use `write_key`; ingestion now takes them from a
-- message, at its top level and in its `context`, before storing it
-- (`sluice_core::event::CREDENTIAL_FIELDS`). This takes them from the messages stored before.
-- Only rows that hold one are rewritten; `properties` and `traits` are the sender's data and
-- are left as they are. The text prefilter (LIKE) keeps the JSON reading to the rows that name
-- a field. json_remove keeps the text of every other value as it was (numbers included).
UPDATE events
SET message = json_remove(message, '$.writeKey', '$.write_key', '$.context.writeKey', '$.context.write_key')
WHERE CASE
    WHEN (message LIKE '%"writeKey"%' OR message LIKE '%"write_key"%') AND json_valid(message)
    THEN json_type(message, '$.writeKey') IS NOT NULL
      OR json_type(message, '$.write_key') IS NOT NULL
      OR json_type(message, '$.context.writeKey') IS NOT NULL
      OR json_type(message, '$.context.write_key') IS NOT NULL
    ELSE 0
END;
