-- The event log partitioned by day of storing (retention drops whole days), a publish outbox, and one-call appends.

-- One epoch for this database: a user's stream starts in it, so a socket can read a position without creating a row.
CREATE TABLE IF NOT EXISTS stream_epoch (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  epoch    text NOT NULL DEFAULT substr(md5(random()::text || clock_timestamp()::text), 1, 12)
);
INSERT INTO stream_epoch DEFAULT VALUES ON CONFLICT DO NOTHING;

-- Each row is written once, with its offset. `body` is json, not jsonb: it keeps the producer's text as stored
-- (so a frame rebuilt from the log is byte-identical to the one published) and costs less to write.
-- No unique index can span partitions: idempotency by event_id is checked under the user's row lock instead
-- (append_events below), over the idempotency window.
ALTER TABLE events RENAME TO events_unpartitioned;
CREATE TABLE events (
  user_id     text NOT NULL,
  seq         bigint NOT NULL,
  event_id    text NOT NULL,
  thread_id   text NOT NULL,
  run_id      text NOT NULL,
  request_id  text NOT NULL,
  type        text NOT NULL,
  occurred_at timestamptz NOT NULL,
  stored_at   timestamptz NOT NULL DEFAULT now(),
  body        json NOT NULL
) PARTITION BY RANGE (stored_at);
-- Catches rows for a day whose partition does not exist yet; partition upkeep moves them out.
CREATE TABLE events_default PARTITION OF events DEFAULT;
INSERT INTO events (user_id, seq, event_id, thread_id, run_id, request_id, type, occurred_at, stored_at, body)
  SELECT user_id, seq, event_id, thread_id, run_id, request_id, type, occurred_at, stored_at, body::json
  FROM events_unpartitioned WHERE seq IS NOT NULL;
DROP TABLE events_unpartitioned;
CREATE INDEX events_user_seq_idx ON events (user_id, seq);
CREATE INDEX events_thread_user_seq_idx ON events (thread_id, user_id, seq);
CREATE INDEX events_event_id_idx ON events (event_id);

-- Transactional outbox: one row per committed group, deleted once its events are published. A row older than a
-- few seconds is a group whose publish never happened (a crash, Redis down): any instance publishes it from the log.
CREATE TABLE IF NOT EXISTS publish_outbox (
  id         bigserial PRIMARY KEY,
  user_ids   text[] NOT NULL,
  from_seqs  bigint[] NOT NULL,
  to_seqs    bigint[] NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- A group of events stored in one statement, so one round trip: the caller planned it on a read of the runs and
-- duplicates it touches; this checks that read still holds under the locks (else SQLSTATE AEG01: plan again),
-- takes the offsets, writes each event row once, moves the runs along and records the group in the outbox.
-- Locks are taken users first, then runs, each in key order, by every caller: groups never deadlock each other.
-- The events come as one JSON array of rows: one parse, where text arrays would be escaped element by element.
CREATE OR REPLACE FUNCTION append_events(
  e_rows json,
  s_users text[], s_counts bigint[],
  r_ids text[], r_users text[], r_threads text[], r_expect text[], r_status text[], r_ended boolean[],
  r_events int[], r_last_ords int[],
  p_epoch text, p_dedupe_since timestamptz
) RETURNS TABLE (user_id text, base bigint, epoch text, outbox_id bigint)
-- Generic plans, made once per connection: a custom plan per call re-plans every statement over every partition,
-- a cost paid again by each group. No sequential scans: a plan made while a day's partition was young (its
-- statistics say "small") would go on scanning it whole for every group as it grows to millions of rows.
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
  b_users text[];
  b_bases bigint[];
  b_epochs text[];
  e_ids text[];
  n int;
  expected int;
  ob bigint;
BEGIN
  SELECT array_agg(x.id) INTO e_ids FROM json_to_recordset(e_rows) AS x(id text);
  -- Offsets: each user's row locked and advanced by its count of new events.
  WITH s AS (
    INSERT INTO user_streams AS us (user_id, seq, epoch)
    SELECT u, c, p_epoch FROM unnest(s_users, s_counts) AS t(u, c) ORDER BY u
    ON CONFLICT (user_id) DO UPDATE SET seq = us.seq + EXCLUDED.seq, updated_at = now()
    RETURNING us.user_id, us.seq, us.epoch
  )
  SELECT array_agg(s.user_id), array_agg(s.seq - t.c), array_agg(s.epoch) INTO b_users, b_bases, b_epochs
  FROM s JOIN unnest(s_users, s_counts) AS t(u, c) ON t.u = s.user_id;

  -- Runs the plan expected to be new: created here, or someone else created them meanwhile.
  SELECT count(*) INTO expected FROM unnest(r_expect) AS x(ex) WHERE ex IS NULL;
  IF expected > 0 THEN
    WITH ins AS (
      INSERT INTO runs (run_id, user_id, thread_id, status, ended_at, last_seq, events)
      SELECT x.id, x.u, x.th, x.st, CASE WHEN x.ended THEN now() END, b.base + x.lo, x.n
      FROM unnest(r_ids, r_users, r_threads, r_expect, r_status, r_ended, r_events, r_last_ords)
        AS x(id, u, th, ex, st, ended, n, lo)
      JOIN unnest(b_users, b_bases) AS b(u, base) ON b.u = x.u
      WHERE x.ex IS NULL ORDER BY x.id
      ON CONFLICT (run_id) DO NOTHING RETURNING 1
    ) SELECT count(*) INTO n FROM ins;
    IF n <> expected THEN RAISE EXCEPTION 'a run was created meanwhile' USING ERRCODE = 'AEG01'; END IF;
  END IF;

  -- Runs the plan found open: still open, still theirs, in the status it read.
  SELECT count(*) INTO expected FROM unnest(r_expect) AS x(ex) WHERE ex IS NOT NULL;
  IF expected > 0 THEN
    SELECT count(*) INTO n FROM (
      SELECT r.run_id, r.user_id, r.status, r.ended_at FROM runs r
      WHERE r.run_id = ANY (r_ids) ORDER BY r.run_id FOR UPDATE
    ) l JOIN unnest(r_ids, r_users, r_expect) AS x(id, u, ex) ON l.run_id = x.id
    WHERE x.ex IS NOT NULL AND l.user_id = x.u AND l.ended_at IS NULL AND l.status = x.ex;
    IF n <> expected THEN RAISE EXCEPTION 'a run changed meanwhile' USING ERRCODE = 'AEG01'; END IF;
    UPDATE runs r SET status = x.st, ended_at = CASE WHEN x.ended THEN now() END,
      last_seq = b.base + x.lo, events = r.events + x.n
    FROM unnest(r_ids, r_users, r_expect, r_status, r_ended, r_events, r_last_ords) AS x(id, u, ex, st, ended, n, lo)
    JOIN unnest(b_users, b_bases) AS b(u, base) ON b.u = x.u
    WHERE r.run_id = x.id AND x.ex IS NOT NULL;
  END IF;

  -- Under the users' locks and with a fresh snapshot: a retry of one of these events that committed meanwhile
  -- is visible now, and the plan is made again with it as a duplicate.
  -- `= ANY` is an index condition: one probe per id. A join with unnest() may be planned as a merge join over the
  -- whole index (no sequential scan, yet every entry read), a cost that grows with the day's partition.
  IF EXISTS (SELECT 1 FROM events e WHERE e.event_id = ANY (e_ids) AND e.stored_at >= p_dedupe_since) THEN
    RAISE EXCEPTION 'an event was stored meanwhile' USING ERRCODE = 'AEG01';
  END IF;

  INSERT INTO events (user_id, seq, event_id, thread_id, run_id, request_id, type, occurred_at, body)
  SELECT e.u, b.base + e.o, e.id, e.th, e.r, e.rq, e.ty, to_timestamp(e.ts), e.body
  FROM json_to_recordset(e_rows) AS e(id text, u text, th text, r text, rq text, ty text, ts float8, body json, o int)
  JOIN unnest(b_users, b_bases) AS b(u, base) ON b.u = e.u;

  INSERT INTO publish_outbox (user_ids, from_seqs, to_seqs)
  SELECT array_agg(b.u), array_agg(b.base + 1), array_agg(b.base + t.c)
  FROM unnest(b_users, b_bases) AS b(u, base) JOIN unnest(s_users, s_counts) AS t(u, c) ON t.u = b.u
  RETURNING id INTO ob;

  RETURN QUERY SELECT b.u, b.base, b.ep, ob FROM unnest(b_users, b_bases, b_epochs) AS b(u, base, ep);
END
$$;

-- The plan's read, under the same rules (plpgsql, so that its plan is kept): the duplicates among a group's
-- ids (with what was stored for them), and
-- the runs it names.
CREATE OR REPLACE FUNCTION read_plan(ids text[], since timestamptz, run_ids text[])
RETURNS TABLE (k text, id text, u text, seq bigint, epoch text, status text, ended boolean, body json)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan SET enable_seqscan = off AS $$
BEGIN
  RETURN QUERY
  SELECT 'e'::text, e.event_id, e.user_id, e.seq, s.epoch, NULL::text, NULL::boolean, e.body
  FROM events e JOIN user_streams s ON s.user_id = e.user_id
  WHERE e.event_id = ANY (ids) AND e.stored_at >= since
  UNION ALL
  SELECT 'r'::text, r.run_id, r.user_id, NULL::bigint, NULL::text, r.status, r.ended_at IS NOT NULL, NULL::json
  FROM runs r WHERE r.run_id = ANY (run_ids);
END
$$;
