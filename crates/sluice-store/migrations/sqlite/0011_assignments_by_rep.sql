-- Routing's round robin asks when each rep was last given a lead, however long ago.
CREATE INDEX assignments_rep ON assignments (rep_id, at_ms);
