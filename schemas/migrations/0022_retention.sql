-- Retention of delivery history (gateway/intake/retention.py, `forvarv prune`): the payload as
-- received (delivery_chunks) and the per-record results (delivery_records) of finished deliveries
-- can be removed after a number of days. The delivery row and its summary stay, and say what was
-- removed and when, so the report and the console tell a reader instead of showing nothing.
--
-- `pruning` is set in the transaction that marks a delivery and cleared once its rows are gone:
-- a prune that was stopped part-way leaves it set, and the next run finishes that delivery first.
ALTER TABLE deliveries ADD COLUMN payload_pruned_at timestamptz;
ALTER TABLE deliveries ADD COLUMN results_pruned_at timestamptz;
ALTER TABLE deliveries ADD COLUMN pruning boolean NOT NULL DEFAULT false;
CREATE INDEX deliveries_pruning ON deliveries (id) WHERE pruning;
