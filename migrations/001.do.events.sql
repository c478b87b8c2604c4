-- The durable event log: every accepted agent event, keyed by its id so a retried ingest stores it once.
CREATE TABLE IF NOT EXISTS events (
  event_id    text PRIMARY KEY,
  user_id     text NOT NULL,
  thread_id   text NOT NULL,
  run_id      text NOT NULL,
  request_id  text NOT NULL,
  type        text NOT NULL,
  occurred_at timestamptz NOT NULL,
  stored_at   timestamptz NOT NULL DEFAULT now(),
  body        jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS events_user_stored_idx ON events (user_id, stored_at);
CREATE INDEX IF NOT EXISTS events_thread_stored_idx ON events (thread_id, stored_at);
CREATE INDEX IF NOT EXISTS events_run_idx ON events (run_id);
