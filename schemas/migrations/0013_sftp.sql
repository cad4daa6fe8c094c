-- SFTP delivery: the SSH public keys suppliers sign in with, and the file a delivery came from.
--
-- A key belongs to one supplier (its SHA-256 fingerprint is unique across all of them), so a key
-- alone says who is signing in; the user name must be that supplier's code as well.
CREATE TABLE supplier_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    supplier_id bigint NOT NULL REFERENCES suppliers (id) ON DELETE CASCADE,
    algorithm   text NOT NULL,              -- e.g. ssh-ed25519
    public_key  text NOT NULL,              -- OpenSSH one-line form, without the comment
    fingerprint text NOT NULL UNIQUE,       -- SHA256:… as ssh-keygen -l prints it
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX supplier_keys_by_supplier ON supplier_keys (supplier_id, id);

-- A delivery received from a file (SFTP, `forvarv watch`): its name and, for names following
-- Libris's convention SUPPLIER_[SIGEL]_[YYYYMMDDhhmmss]….xml, the parts of that name.
ALTER TABLE deliveries ADD COLUMN file jsonb;
