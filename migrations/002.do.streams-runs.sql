-- Per-user ordered streams: the sequencer row, the seq of every event, and runs with their lifecycle.

-- One row per user: `seq` is the last offset handed out; `epoch` names this incarnation of the stream.
-- Offsets are taken under this row's lock inside the ingest transaction, so they are gap-free and never reused.
CREATE TABLE IF NOT EXISTS user_streams (
  user_id    text PRIMARY KEY,
  seq        bigint NOT NULL DEFAULT 0,
  epoch      text NOT NULL DEFAULT substr(md5(random()::text || clock_timestamp()::text), 1, 12),
  updated_at timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE events ADD COLUMN IF NOT EXISTS seq bigint;
CREATE UNIQUE INDEX IF NOT EXISTS events_user_seq_idx ON events (user_id, seq);
CREATE INDEX IF NOT EXISTS events_thread_user_seq_idx ON events (thread_id, user_id, seq);
DROP INDEX IF EXISTS events_thread_stored_idx;
DROP INDEX IF EXISTS events_user_stored_idx;
CREATE INDEX IF NOT EXISTS events_stored_idx ON events (stored_at);

CREATE TABLE IF NOT EXISTS runs (
  run_id     text PRIMARY KEY,
  user_id    text NOT NULL,
  thread_id  text NOT NULL,
  status     text NOT NULL DEFAULT 'running',
  started_at timestamptz NOT NULL DEFAULT now(),
  ended_at   timestamptz,
  last_seq   bigint,
  events     integer NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_user_idx ON runs (user_id, started_at);
