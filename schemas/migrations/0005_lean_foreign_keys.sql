-- Lean foreign keys on the intake hot path: registry references are guarded from the parent side.
--
-- Every row the loader writes (COPY) into bib_records, bib_suppliers, holdings and
-- delivery_records ran a row-level RI trigger per foreign key, and those pointing at the small
-- registry tables each took a FOR KEY SHARE row lock on the same few parent rows (one supplier, a
-- handful of libraries, the delivery) for every inserted row. Measured with
-- bench/profile_ingest.py (10,000 bibliographic+holding pairs, PostgreSQL's CPU per pair, median
-- of 5 interleaved runs): 373 µs with every foreign key, 347 µs without the five below, 306 µs
-- with none at all.
--
-- The child side does not need these checks: the loader writes only the id of the supplier that
-- authenticated the delivery, and only sigels it has checked against the registry (read when it
-- starts the delivery) in the same process, into rows of a delivery it holds locked. What the
-- foreign keys also guaranteed - that a supplier or library still referenced cannot be removed,
-- that renaming a sigel carries the holdings along, that deleting a delivery deletes its
-- per-record results - is kept by the triggers below, which run only on the rare registry change
-- (or delivery removal), never on intake. Removal is refused with SQLSTATE 23503
-- (foreign_key_violation), as before, so callers (gateway/registry.py) see the same error class.
--
-- Kept as they are: every foreign key to bib_records (bib_identifiers, bib_suppliers, holdings,
-- review_items: rows that do get deleted), deliveries.supplier_id (deliveries are never deleted,
-- so a supplier that ever delivered cannot be removed), customers and notifications (their ON
-- UPDATE / ON DELETE CASCADE on libraries.sigel carry on working), delivery_chunks and the rest.
--
-- A library removed or renamed while one of its deliveries is being loaded: each batch locks the
-- libraries it writes holdings for (FOR KEY SHARE, once per batch: gateway/queries/loader.sql,
-- lock_libraries), so the change waits for the batch and then sees its holdings; a later batch
-- finds the library gone and rejects its holdings (HOLDING_UNKNOWN_LIBRARY).

ALTER TABLE bib_records      DROP CONSTRAINT IF EXISTS bib_records_supplier_id_fkey;
ALTER TABLE bib_suppliers    DROP CONSTRAINT IF EXISTS bib_suppliers_supplier_id_fkey;
ALTER TABLE holdings         DROP CONSTRAINT IF EXISTS holdings_supplier_id_fkey;
ALTER TABLE holdings         DROP CONSTRAINT IF EXISTS holdings_sigel_fkey;
ALTER TABLE delivery_records DROP CONSTRAINT IF EXISTS delivery_records_delivery_id_fkey;

-- ---------------------------------------------------------------------------------------------
-- Suppliers: no removal while anything names them.
-- ---------------------------------------------------------------------------------------------
-- bib_suppliers is probed through its primary key (supplier_id, bib_id) and deliveries through
-- deliveries_by_supplier; a supplier that has deliveries is refused there (its foreign key would
-- refuse it anyway), so only a supplier that never delivered reaches the two EXISTS scans of
-- bib_records and holdings (no index on supplier_id: it would cost intake again). Scanning is
-- acceptable for a rare administrative operation.
CREATE FUNCTION registry_supplier_before_delete() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bib_suppliers WHERE supplier_id = OLD.id) THEN
        RAISE EXCEPTION 'supplier % still has records', OLD.code
            USING ERRCODE = 'foreign_key_violation', TABLE = 'bib_suppliers';
    END IF;
    IF EXISTS (SELECT 1 FROM deliveries WHERE supplier_id = OLD.id) THEN
        RAISE EXCEPTION 'supplier % still has deliveries', OLD.code
            USING ERRCODE = 'foreign_key_violation', TABLE = 'deliveries';
    END IF;
    IF EXISTS (SELECT 1 FROM bib_records WHERE supplier_id = OLD.id) THEN
        RAISE EXCEPTION 'supplier % still has records', OLD.code
            USING ERRCODE = 'foreign_key_violation', TABLE = 'bib_records';
    END IF;
    IF EXISTS (SELECT 1 FROM holdings WHERE supplier_id = OLD.id) THEN
        RAISE EXCEPTION 'supplier % still has holdings', OLD.code
            USING ERRCODE = 'foreign_key_violation', TABLE = 'holdings';
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER suppliers_guard_delete
    BEFORE DELETE ON suppliers
    FOR EACH ROW EXECUTE FUNCTION registry_supplier_before_delete();

-- TRUNCATE suppliers ... CASCADE no longer reaches these tables: refuse if it would leave them
-- naming suppliers that are gone (checked after the truncation, so tables truncated by the same
-- statement count as empty).
CREATE FUNCTION registry_suppliers_after_truncate() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM bib_suppliers)
       OR EXISTS (SELECT 1 FROM bib_records WHERE supplier_id IS NOT NULL)
       OR EXISTS (SELECT 1 FROM holdings WHERE supplier_id IS NOT NULL) THEN
        RAISE EXCEPTION 'suppliers still have records; truncate bib_records and holdings too'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER suppliers_guard_truncate
    AFTER TRUNCATE ON suppliers
    FOR EACH STATEMENT EXECUTE FUNCTION registry_suppliers_after_truncate();

-- ---------------------------------------------------------------------------------------------
-- Libraries: no removal while holdings name them (holdings_sigel_datestamp starts with sigel);
-- a new sigel is carried to the holdings, as ON UPDATE CASCADE did (customers and notifications
-- keep their own ON UPDATE CASCADE foreign keys).
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION registry_library_before_delete() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM holdings WHERE sigel = OLD.sigel) THEN
        RAISE EXCEPTION 'library % still has holdings', OLD.sigel
            USING ERRCODE = 'foreign_key_violation', TABLE = 'holdings';
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER libraries_guard_delete
    BEFORE DELETE ON libraries
    FOR EACH ROW EXECUTE FUNCTION registry_library_before_delete();

CREATE FUNCTION registry_library_after_rename() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    UPDATE holdings SET sigel = NEW.sigel WHERE sigel = OLD.sigel;
    RETURN NULL;
END
$$;

CREATE TRIGGER libraries_cascade_rename
    AFTER UPDATE OF sigel ON libraries
    FOR EACH ROW WHEN (OLD.sigel IS DISTINCT FROM NEW.sigel)
    EXECUTE FUNCTION registry_library_after_rename();

CREATE FUNCTION registry_libraries_after_truncate() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM holdings) THEN
        RAISE EXCEPTION 'libraries still have holdings; truncate holdings too'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER libraries_guard_truncate
    AFTER TRUNCATE ON libraries
    FOR EACH STATEMENT EXECUTE FUNCTION registry_libraries_after_truncate();

-- ---------------------------------------------------------------------------------------------
-- Deliveries: their per-record results go with them (was ON DELETE CASCADE; TRUNCATE deliveries
-- CASCADE reached delivery_records through the foreign key, now through this trigger).
-- ---------------------------------------------------------------------------------------------
CREATE FUNCTION delivery_records_after_delivery_delete() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM delivery_records r USING old_deliveries o WHERE r.delivery_id = o.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_cascade_delete
    AFTER DELETE ON deliveries REFERENCING OLD TABLE AS old_deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_records_after_delivery_delete();

CREATE FUNCTION delivery_records_after_delivery_truncate() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    TRUNCATE delivery_records;
    RETURN NULL;
END
$$;

CREATE TRIGGER deliveries_cascade_truncate
    AFTER TRUNCATE ON deliveries
    FOR EACH STATEMENT EXECUTE FUNCTION delivery_records_after_delivery_truncate();
