-- Webhooks to library systems: the second channel of the durable outbox (the first is e-mail,
-- `notifications`, 0004). A sibling table rather than a channel column: an event's row holds a
-- URL's outcome (HTTP status), not recipients, Message-IDs or digests, and has none of mail's
-- held/digested/skipped states; the claim/lease/backoff protocol is the same (gateway/outbox).
--
-- A library's registered endpoints. `secret` signs every POST (HMAC-SHA256); it has to be
-- readable to sign, so unlike API tokens it is stored as it is (shown to the library once).
-- `state` is 'failing' once an event to it gave up (shown to the operator), 'active' again after
-- the next success.
CREATE TABLE webhooks (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sigel           text NOT NULL REFERENCES libraries (sigel) ON DELETE CASCADE ON UPDATE CASCADE,
    url             text NOT NULL,
    secret          text NOT NULL,
    state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'failing')),
    last_error      text,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (sigel, url)
);

-- One row per event and webhook, written in the transaction that marks a delivery done.
-- `content` is the snapshot of the delivery's records for the library, taken then; the POST body
-- is rendered from it the same way on every attempt, and `event_id` never changes.
--   pending  due at next_attempt_at
--   sending  claimed by one sender until lease_until (claim names the attempt)
--   sent     the endpoint answered 2xx
--   failed   a permanent refusal (3xx, 4xx, a refused address) or too many attempts
CREATE TABLE webhook_events (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE DEFAULT gen_random_uuid(),
    webhook_id      bigint NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    delivery_id     bigint REFERENCES deliveries (id) ON DELETE SET NULL,
    type            text NOT NULL,
    content         text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    lease_until     timestamptz,
    claim           uuid,
    last_status     integer,                -- HTTP status of the last attempt, if it got one
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (delivery_id, webhook_id, type)
);
CREATE INDEX webhook_events_due ON webhook_events (next_attempt_at, id) WHERE status = 'pending';
CREATE INDEX webhook_events_leased ON webhook_events (lease_until, id) WHERE status = 'sending';
CREATE INDEX webhook_events_by_webhook ON webhook_events (webhook_id, id);
