-- The gateway's live processes (gateway/ops/heartbeat.py): every `forvarv serve`, `web`, `worker`
-- and `mailer` process adds its row when it starts, beats it every few seconds and removes it when
-- it stops. A row whose beat is older than `expires_at` belongs to a process that died or hangs:
-- readers ignore it and the next beat of any process deletes it. Nothing else refers to a row,
-- so a process is free to come and go (or to be killed) on any machine.
CREATE TABLE processes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    role        text NOT NULL,                 -- serve, web, worker, mailer
    duties      text[] NOT NULL,               -- http, load (deliveries), send (e-mail, webhooks)
    host        text NOT NULL,
    pid         integer NOT NULL,
    listen      text,                          -- host:port of its HTTP server, if it has one
    version     text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    beat_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,          -- beat_at + six beat intervals
    stopping    boolean NOT NULL DEFAULT false, -- SIGTERM received, finishing what it has
    metrics     text                           -- its own Prometheus series as of beat_at
);
CREATE INDEX processes_expires ON processes (expires_at);
