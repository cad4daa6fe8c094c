-- The SRU result cache's invalidation (issue 10; gateway/search/cache.py, docs/sru.md "Result
-- cache"): every transaction that writes a table an SRU answer is read from sends one
-- notification on the channel forvarv_search when it commits.
--
-- The tables are those gateway/search/translate.py and repository.py read: the index
-- (bib_search, search_terms), the records (marcxml, summary, modified_at), identifiers,
-- holdings (sigel index, marc21_withholdings) and supplier links (supplier index). A statement
-- trigger fires once per statement, even one that changes no row (an extra invalidation, never a
-- missed one); PostgreSQL folds a transaction's identical notifications into one and delivers it
-- at commit, so a rolled-back transaction sends nothing. The search indexer's drain
-- (search_index_queued) writes bib_search and search_terms, so each drain's commit notifies too.

CREATE FUNCTION search_notify() RETURNS trigger
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('forvarv_search', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER bib_records_search_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bib_records
    FOR EACH STATEMENT EXECUTE FUNCTION search_notify();
CREATE TRIGGER bib_search_search_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bib_search
    FOR EACH STATEMENT EXECUTE FUNCTION search_notify();
CREATE TRIGGER search_terms_search_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON search_terms
    FOR EACH STATEMENT EXECUTE FUNCTION search_notify();
CREATE TRIGGER bib_identifiers_search_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bib_identifiers
    FOR EACH STATEMENT EXECUTE FUNCTION search_notify();
CREATE TRIGGER holdings_search_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON holdings
    FOR EACH STATEMENT EXECUTE FUNCTION search_notify();
CREATE TRIGGER bib_suppliers_search_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON bib_suppliers
    FOR EACH STATEMENT EXECUTE FUNCTION search_notify();
CREATE TRIGGER suppliers_search_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON suppliers
    FOR EACH STATEMENT EXECUTE FUNCTION search_notify();
