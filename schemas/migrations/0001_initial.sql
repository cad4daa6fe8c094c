-- Förvärv Gateway: the intake data model.
-- Registry (suppliers, tokens, libraries, customer links), deliveries and their per-record
-- results, bibliographic records with their match identifiers, holdings, and the review queue.
-- Every bibliographic and holdings row carries a UTC modification time; together with its id it
-- is the keyset position that OAI-PMH pages through (no OFFSET anywhere).

CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- ---------------------------------------------------------------------------------------------
-- Registry
-- ---------------------------------------------------------------------------------------------
CREATE TABLE suppliers (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9_.-]{1,64}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API tokens are shown once and stored only as a SHA-256 hash of the whole token.
CREATE TABLE supplier_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    supplier_id bigint NOT NULL REFERENCES suppliers (id) ON DELETE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    prefix      text NOT NULL,              -- first characters, to tell tokens apart in listings
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE TABLE libraries (
    sigel       text PRIMARY KEY CHECK (sigel ~ '^[^\s:/]{1,32}$'),
    name        text NOT NULL,
    emails      text[] NOT NULL DEFAULT '{}',
    language    text NOT NULL DEFAULT 'sv' CHECK (language IN ('sv', 'en')),
    registered  boolean NOT NULL DEFAULT true,   -- cataloguing library: may receive holdings
    digest      boolean NOT NULL DEFAULT false,  -- one e-mail a day instead of one per delivery
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customers (
    supplier_id bigint NOT NULL REFERENCES suppliers (id) ON DELETE CASCADE,
    sigel       text NOT NULL REFERENCES libraries (sigel) ON DELETE CASCADE ON UPDATE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (supplier_id, sigel)
);

-- ---------------------------------------------------------------------------------------------
-- Deliveries: the raw payload is committed (in chunks, so a 200 MB body never sits in memory)
-- before the supplier gets its 202. Workers claim a delivery by holding a row lock on it for as
-- long as they process it (FOR UPDATE SKIP LOCKED); a crashed worker's lock dies with its
-- connection and another worker resumes from the records already reported.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE deliveries (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    supplier_id     bigint NOT NULL REFERENCES suppliers (id),
    idempotency_key text,
    format          text NOT NULL CHECK (format IN ('marcxml', 'iso2709')),
    charset         text,                   -- ISO 2709 only: declared charset (e.g. iso-8859-1)
    sha256          bytea NOT NULL,         -- of the decoded payload (after any gzip)
    size            bigint NOT NULL,        -- decoded payload bytes
    record_count    integer NOT NULL,       -- counted while receiving
    source          text NOT NULL DEFAULT 'http',   -- http | file:<name>
    status          text NOT NULL DEFAULT 'received'
                    CHECK (status IN ('received', 'processing', 'done', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    received_at     timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    summary         jsonb,
    error           text
);
CREATE UNIQUE INDEX deliveries_idempotency ON deliveries (supplier_id, idempotency_key);
CREATE INDEX deliveries_pending ON deliveries (id) WHERE status IN ('received', 'processing');
CREATE INDEX deliveries_by_supplier ON deliveries (supplier_id, id DESC);

CREATE TABLE delivery_chunks (
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (delivery_id, seq)
);

-- ---------------------------------------------------------------------------------------------
-- Bibliographic records
-- ---------------------------------------------------------------------------------------------
CREATE SEQUENCE bib_id_seq START 100001;

CREATE TABLE bib_records (
    id              bigint PRIMARY KEY,     -- from bib_id_seq; 001 of the stored record
    match_class     text NOT NULL,          -- Leader/06 + carrier: print and e-editions never merge
    encoding_level  char(1) NOT NULL,       -- Leader/17
    protected       boolean NOT NULL DEFAULT false, -- upgraded by a cataloguer: never overwritten
    marcxml         text NOT NULL,          -- serialised once at write time
    summary         jsonb NOT NULL,         -- display/search fields extracted at write time
    supplier_id     bigint REFERENCES suppliers (id),  -- the supplier whose record created it
    created_at      timestamptz NOT NULL DEFAULT now(),
    modified_at     timestamptz NOT NULL DEFAULT now(),
    deleted         boolean NOT NULL DEFAULT false
);
CREATE INDEX bib_records_datestamp ON bib_records (modified_at, id);

-- Normalised identifiers a record can be matched on: isbn (ISBN-13 digits), issn, ean, sysno
-- ("(ORG)number" from 035 and 001+003) and supplier (the supplier's own 001, "CODE:001").
CREATE TABLE bib_identifiers (
    kind    text NOT NULL,
    value   text NOT NULL,
    bib_id  bigint NOT NULL REFERENCES bib_records (id) ON DELETE CASCADE,
    PRIMARY KEY (kind, value, bib_id)
);
CREATE INDEX bib_identifiers_bib ON bib_identifiers (bib_id);

-- Which suppliers delivered a record (OAI set supplier:CODE).
CREATE TABLE bib_suppliers (
    bib_id      bigint NOT NULL REFERENCES bib_records (id) ON DELETE CASCADE,
    supplier_id bigint NOT NULL REFERENCES suppliers (id),
    first_at    timestamptz NOT NULL DEFAULT now(),
    last_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (supplier_id, bib_id)
);

-- ---------------------------------------------------------------------------------------------
-- Holdings: one per (bibliographic record, library). A deleted holding stays as a tombstone.
-- set_datestamp is the bibliographic record's datestamp within the set bib:SIGEL: the later of
-- the record's and this holding's modification, kept up to date by the writers.
-- ---------------------------------------------------------------------------------------------
CREATE SEQUENCE holding_id_seq START 500001;

CREATE TABLE holdings (
    id              bigint PRIMARY KEY,     -- from holding_id_seq; 001 of the stored record
    bib_id          bigint NOT NULL REFERENCES bib_records (id),
    sigel           text NOT NULL REFERENCES libraries (sigel) ON UPDATE CASCADE,
    supplier_id     bigint REFERENCES suppliers (id),
    marcxml         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    modified_at     timestamptz NOT NULL DEFAULT now(),
    set_datestamp   timestamptz NOT NULL DEFAULT now(),
    deleted         boolean NOT NULL DEFAULT false,
    UNIQUE (bib_id, sigel)
);
CREATE INDEX holdings_datestamp ON holdings (modified_at, id);
CREATE INDEX holdings_sigel_datestamp ON holdings (sigel, modified_at, id);
CREATE INDEX holdings_sigel_set_datestamp ON holdings (sigel, set_datestamp, bib_id);

-- ---------------------------------------------------------------------------------------------
-- Per-record results of a delivery: one row per record in the file (bibliographic or holdings).
-- They are written in the same transaction as the records they describe, so they double as the
-- worker's progress: a resumed delivery skips the positions already here.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE delivery_records (
    delivery_id     bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    position        integer NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('bib', 'holding')),
    parent_position integer,                -- holdings: the bibliographic record it belongs to
    supplier_id     text,                   -- the record's own 001 as sent
    identifiers     text[] NOT NULL DEFAULT '{}',
    outcome         text NOT NULL,          -- bib: created|matched|updated|rejected;
                                            -- holding: added|updated|deleted|rejected
    record_id       bigint,                 -- bib id (also for holdings: the bib they attach to)
    holding_id      bigint,
    sigel           text,
    candidates      bigint[] NOT NULL DEFAULT '{}',
    title           text,                   -- for reports and notifications
    errors          jsonb NOT NULL DEFAULT '[]',
    warnings        jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (delivery_id, position)
);
CREATE INDEX delivery_records_sigel ON delivery_records (delivery_id, sigel) WHERE sigel IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Review queue: every ambiguous match (2+ candidates) is listed here. Never silent.
-- ---------------------------------------------------------------------------------------------
CREATE TABLE review_items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    bib_id      bigint NOT NULL REFERENCES bib_records (id),
    candidates  bigint[] NOT NULL,
    identifiers text[] NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    UNIQUE (delivery_id, position)
);
CREATE INDEX review_items_open ON review_items (id) WHERE resolved_at IS NULL;
