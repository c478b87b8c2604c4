-- Threads owned by one user, and the messages users sent in them (agents' answers stay in events).
CREATE TABLE IF NOT EXISTS threads (
  thread_id  text PRIMARY KEY,
  user_id    text NOT NULL,
  title      text NOT NULL DEFAULT '',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS threads_user_idx ON threads (user_id, updated_at);

CREATE TABLE IF NOT EXISTS messages (
  message_id text PRIMARY KEY,
  thread_id  text NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
  user_id    text NOT NULL,
  run_id     text NOT NULL,
  content    text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS messages_thread_idx ON messages (thread_id, created_at);
