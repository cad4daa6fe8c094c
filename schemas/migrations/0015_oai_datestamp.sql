-- OAI-PMH datestamps that no harvest can skip (docs/oai-pmh.md, "Datestamps and the horizon").
--
-- A writer takes the datestamp of what it writes from oai_datestamp(). On its first call in a
-- transaction the function first registers the transaction - a shared advisory lock, held to the
-- end of the transaction, whose key (1330005321 'OAI' namespace, second key = a clock reading in
-- whole seconds since 1970) is a lower bound of the datestamp - and only then reads the clock;
-- later calls in the same transaction return the same value. The OAI reader's horizon is the
-- least of its own statement_timestamp() and every registered key (gateway/oai/queries.py).
--
-- STABLE: one value per transaction, like now(); it also keeps COPY's multi-row inserts, which a
-- volatile column default would turn off. The lock and the transaction-local setting are not
-- changes to the database.

CREATE FUNCTION oai_datestamp() RETURNS timestamptz
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    cached text := current_setting('forvarv.oai_datestamp', true);
    stamp timestamptz;
    secs bigint;
BEGIN
    IF cached <> '' THEN
        RETURN cached::timestamptz;
    END IF;
    secs := floor(extract(epoch FROM clock_timestamp()));
    -- objid in pg_locks shows the second key as an unsigned 32-bit number: whole seconds up to 2106
    PERFORM pg_advisory_xact_lock_shared(
        1330005321, (CASE WHEN secs >= 2147483648 THEN secs - 4294967296 ELSE secs END)::integer);
    stamp := clock_timestamp();
    PERFORM set_config('forvarv.oai_datestamp',
                       to_char(stamp AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00"'), true);
    RETURN stamp;
END
$$;

ALTER TABLE bib_records ALTER COLUMN modified_at SET DEFAULT oai_datestamp();
ALTER TABLE holdings ALTER COLUMN modified_at SET DEFAULT oai_datestamp();
ALTER TABLE holdings ALTER COLUMN set_datestamp SET DEFAULT oai_datestamp();
