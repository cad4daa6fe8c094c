-- E-mail notifications to library contacts: a transactional outbox.
--
-- A row is written in the same transaction that marks a delivery done (one per library whose
-- holdings the delivery touched), so a load and its notification commit or roll back together.
-- `content` is a snapshot of what the message says (supplier, delivery, titles and outcomes),
-- taken at that moment; the message is rendered from it when it is sent, so every attempt of
-- one notification carries the same text and the same Message-ID.
--
-- Life of a row:
--   held      waiting for its library's daily digest (libraries.digest = true)
--   digested  carried by the digest notification in digest_id
--   skipped   the library has no contact address (resend once it has one)
--   pending   due at next_attempt_at
--   sending   claimed by one sender until lease_until (claim identifies the attempt); an expired
--             lease means the sender died: the row is due again
--   sent      accepted by the SMTP server (or written to the spool folder)
--   failed    permanent SMTP failure (5xx) or too many attempts; last_error says why
CREATE TABLE notifications (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind            text NOT NULL CHECK (kind IN ('delivery', 'digest')),
    sigel           text NOT NULL REFERENCES libraries (sigel) ON DELETE CASCADE ON UPDATE CASCADE,
    delivery_id     bigint REFERENCES deliveries (id) ON DELETE SET NULL,   -- kind = 'delivery'
    digest_id       bigint REFERENCES notifications (id) ON DELETE SET NULL,
    content         jsonb NOT NULL,
    item_count      integer NOT NULL,
    status          text NOT NULL
                    CHECK (status IN ('held', 'digested', 'skipped', 'pending', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    resends         integer NOT NULL DEFAULT 0,  -- manual resends: each gets a Message-ID of its own
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    claim           uuid,
    message_id      text,                        -- of the last attempt
    recipients      text[] NOT NULL DEFAULT '{}', -- of the last attempt
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz
);
CREATE UNIQUE INDEX notifications_per_delivery ON notifications (delivery_id, sigel) WHERE kind = 'delivery';
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX notifications_leased ON notifications (lease_until, id) WHERE status = 'sending';
CREATE INDEX notifications_held ON notifications (sigel, id) WHERE status = 'held';
CREATE INDEX notifications_by_status ON notifications (status, id);
CREATE INDEX notifications_digest ON notifications (digest_id) WHERE digest_id IS NOT NULL;
