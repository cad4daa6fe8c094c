-- The staff console (gateway/console): library tokens, sign-in sessions, and when each library last
-- harvested its OAI-PMH sets.

-- A library's console token: shown once, stored only as a SHA-256 hash (like supplier tokens).
CREATE TABLE library_tokens (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sigel       text NOT NULL REFERENCES libraries (sigel) ON DELETE CASCADE ON UPDATE CASCADE,
    token_hash  bytea NOT NULL UNIQUE,
    prefix      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX library_tokens_sigel ON library_tokens (sigel, id);

-- A signed-in browser. The cookie carries a random value; only its SHA-256 is stored. Who signed
-- in is the role and the token used (a revoked token ends its sessions at once); an admin session
-- remembers a hash of the admin token it was opened with (a changed admin token ends it).
CREATE TABLE console_sessions (
    id_hash           bytea PRIMARY KEY,
    role              text NOT NULL CHECK (role IN ('admin', 'supplier', 'library')),
    admin_token_hash  bytea,
    supplier_token_id bigint REFERENCES supplier_tokens (id) ON DELETE CASCADE,
    library_token_id  bigint REFERENCES library_tokens (id) ON DELETE CASCADE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    CHECK ((role = 'admin') = (admin_token_hash IS NOT NULL)),
    CHECK ((role = 'supplier') = (supplier_token_id IS NOT NULL)),
    CHECK ((role = 'library') = (library_token_id IS NOT NULL))
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- The last OAI-PMH list request per library set (bib:SIGEL, hold:SIGEL), written by the OAI
-- endpoint at most once a minute per set and process: the console's "last harvest".
CREATE TABLE oai_harvests (
    set_spec    text PRIMARY KEY,
    sigel       text NOT NULL REFERENCES libraries (sigel) ON DELETE CASCADE ON UPDATE CASCADE,
    last_at     timestamptz NOT NULL
);
CREATE INDEX oai_harvests_sigel ON oai_harvests (sigel);

-- A record's provenance (the deliveries that created, matched or updated it) is read by record id.
CREATE INDEX delivery_records_record ON delivery_records (record_id) WHERE kind = 'bib' AND record_id IS NOT NULL;
