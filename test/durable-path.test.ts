// The durable path: group commit answers each unit exactly, a lost commit answer or a crash before the publish
// still delivers, and a connect writes nothing.
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t from 'tap'
import { parseIngestBody } from '../src/events/validate.js'
import { STATEMENT_TIMEOUT_MS } from '../src/plugins/app/store/pg-store.js'
import { build, ctx, goldenRun, ingest, isolate, PG_URL, pgClient, pollUntil, REDIS_URL, testEnv } from './helper.js'
import { freePort } from './fixtures/redis-server.js'
import { proxyFor } from './fixtures/tcp-proxy.js'
import { StreamClient, upTo } from './stream-client.js'

const thinking = (context: Record<string, string>, reasoning: string, extra: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ type: 'agent_thinking', context, reasoning, ...extra })

t.test('one group, many units: each answered alone, offsets gap-free, refusals never blamed on a neighbour', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const db = pgClient(t, iso.schema)
  const a = ctx('gc-a', 'run_gc_a')
  const b = ctx('gc-b', 'run_gc_b')
  const c = ctx('gc-c', 'run_gc_b') // another user naming b's run
  const units = [
    [thinking(a, 'a1', { event_id: 'evt_gc_a1' }), thinking(a, 'a2')],
    [thinking(b, 'b1')],
    [thinking(a, 'a1 again', { event_id: 'evt_gc_a1' })],
    [{ type: 'agent_completed', context: a, final_response: 'done', status: 'completed' }],
    [thinking(a, 'after the end')],
    [thinking(b, 'b2 refused with its unit'), thinking(c, 'not yours')],
    [thinking(b, 'b3')]
  ].map((events) => parseIngestBody({ events }, 10))
  // Submitted in one tick: one group, one transaction.
  const answers = await Promise.allSettled(units.map((u) => gw.app.ingest.submit(u)))
  const summary = answers.map((r) => r.status === 'fulfilled' ? `${r.value.stored}/${r.value.duplicates}` : (r.reason as Error).message)
  t.same(summary.slice(0, 4), ['2/0', '1/0', '0/1', '1/0'])
  t.match(summary[4], /events\[0\]: run run_gc_a has ended/)
  t.match(summary[5], /events\[1\]: run run_gc_b belongs to another user/)
  t.equal(summary[6], '1/0')

  const { rows } = await db.query('SELECT user_id, seq, body, stored_at::text AS stored_at FROM events ORDER BY user_id, seq')
  t.same(rows.map((r) => `${r.user_id}:${r.seq}:${r.body.fields.reasoning ?? r.body.type}`),
    ['gc-a:1:a1', 'gc-a:2:a2', 'gc-a:3:agent_completed', 'gc-b:1:b1', 'gc-b:2:b3'], 'gap-free offsets, nothing of a refused unit')
  t.equal(new Set(rows.map((r) => String(r.stored_at))).size, 1, 'all stored by one transaction')
  const run = await gw.app.store.run('gc-a', 'run_gc_a')
  t.match(run, { status: 'completed', events: 3, last_seq: 3 })
  t.equal(Number((await db.query('SELECT count(*) AS n FROM publish_outbox')).rows[0].n) <= 1, true, 'the group has at most one outbox row until marked')
})

t.test('interleaved requests for the same users over HTTP: exact answers, every event once and in order', async (t) => {
  const iso = isolate(t)
  const gws = [await build(t, iso), await build(t, iso)]
  const users = ['il-0', 'il-1', 'il-2', 'il-3']
  const clients = users.map((u) => new StreamClient(u))
  for (const [i, c] of clients.entries()) await c.connect(gws[i % 2]!.ws)
  const ids = Array.from({ length: 120 }, (_, i) => `evt_il_${i}`)
  // 60 requests of 5 events each, drawn from 120 ids: many ids are sent twice, by requests in flight together.
  const requests = Array.from({ length: 60 }, (_, r) => Array.from({ length: 5 }, (_, k) => ids[(r * 7 + k * 13) % ids.length]!))
  const userOf = (id: string): string => users[Number(id.split('_')[2]) % users.length]!
  const answers = await Promise.all(requests.map(async (batch, r) => await ingest(gws[r % 2]!.http, {
    events: batch.map((id) => thinking(ctx(userOf(id), `run_${userOf(id)}`), id, { event_id: id }))
  })))
  t.ok(answers.every((a) => a.status === 202), 'all accepted')
  t.ok(answers.every((a, r) => Number(a.body.stored) + Number(a.body.duplicates) === requests[r]!.length), 'stored + duplicates = sent, per request')
  const unique = new Set(requests.flat())
  t.equal(answers.reduce((n, a) => n + Number(a.body.stored), 0), unique.size, 'each id stored by exactly one request')
  for (const c of clients) {
    const mine = [...unique].filter((id) => userOf(id) === c.user).length
    await c.until(mine)
    t.same(c.seqs(), upTo(mine), `${c.user}: ${mine} events, once each, in offset order`)
    await c.socket?.close()
  }
})

t.test('the connection cut right after COMMIT: the event still reaches the open socket, with no later event', async (t) => {
  const { proxy, url } = await proxyFor(t, PG_URL, 5432)
  const iso = isolate(t)
  const gw = await build(t, iso, { DATABASE_URL: url, INSTANCE_ID: `cut-${process.pid}` })
  const client = new StreamClient('cut-user')
  await client.connect(gw.ws)
  const context = ctx('cut-user')
  t.equal((await ingest(gw.http, thinking(context, 'first'))).status, 202)
  await client.until(1)

  const event = thinking(context, 'its answer was lost', { event_id: 'evt_cut_after_commit' })
  const cut = proxy.cutAfter('aeg_append')
  let answer = await ingest(gw.http, event)
  await cut
  // Whether the gateway's own retry settled it or the producer must retry, the retry is safe by event id.
  if (answer.status === 503) {
    t.equal(answer.body.code, 'STORE_UNAVAILABLE')
    answer = await ingest(gw.http, event)
  }
  t.equal(answer.status, 202, 'acknowledged')
  const retried = Date.now()
  await client.until(2, 2000)
  t.ok(Date.now() - retried < 2000, 'delivered within 2 s of the answer')
  t.equal(client.events[1]!.reasoning, 'its answer was lost')
  t.equal(client.events[1]!.event_id, 'evt_cut_after_commit')
  const { rows } = await pgClient(t, iso.schema).query('SELECT count(*)::int AS n FROM events WHERE event_id = $1', ['evt_cut_after_commit'])
  t.equal(rows[0].n, 1, 'stored once')
  await client.socket?.close()
})

t.test('killed between commit and publish: the other instance publishes it from the log within 5 s', async (t) => {
  const iso = isolate(t)
  const { proxy, url: redisViaProxy } = await proxyFor(t, REDIS_URL, 6379)
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, ...testEnv(iso, { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', INSTANCE_ID: 'crashing', REDIS_URL: redisViaProxy, INGEST_STREAM_ENABLED: 'false' }) },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines = createInterface({ input: child.stdout! })
  await new Promise<void>((resolve) => lines.on('line', (line) => { if (line.includes('Server listening')) resolve() }))
  const survivor = await build(t, iso)
  const client = new StreamClient('crash-user')
  await client.connect(survivor.ws)

  // The crashing instance's commands stop reaching Redis: it commits, its publish goes nowhere, then it dies.
  t.ok(proxy.mute('aeg-command') > 0, 'its Redis commands are muted')
  const answer = await ingest(`http://127.0.0.1:${port}`, thinking(ctx('crash-user'), 'stored, never published'))
  t.equal(answer.status, 202, 'acknowledged once committed')
  child.kill('SIGKILL')
  const killed = Date.now()
  await client.until(1, 5000)
  t.ok(Date.now() - killed < 5000, `relayed ${Date.now() - killed} ms after the kill`)
  t.equal(client.events[0]!.reasoning, 'stored, never published')
  t.equal(client.events[0]!.seq, 1)
  await client.socket?.close()
})

t.test('a connect writes nothing; sockets of one user connecting together share one read, and connects close together share reads', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const db = pgClient(t, iso.schema)
  await ingest(gw.http, thinking(ctx('known'), 'one'))
  const before = (await db.query('SELECT xmin::text, seq FROM user_streams WHERE user_id = $1', ['known'])).rows[0]
  const statements: string[] = []
  const query = gw.app.pg!.query.bind(gw.app.pg!)
  gw.app.pg!.query = ((...args: Parameters<typeof query>) => {
    const q = args[0] as string | { name?: string, text: string }
    statements.push(typeof q === 'string' ? q : q.text)
    return query(...args)
  }) as typeof query
  t.teardown(() => { gw.app.pg!.query = query })

  // Until the first ingest's outbox mark is written, that write would count here.
  await pollUntil(async () => Number((await db.query('SELECT count(*) AS n FROM publish_outbox')).rows[0].n) === 0)
  statements.length = 0
  const reads = (): number => statements.filter((s) => s.includes('FROM user_streams')).length

  const same = Array.from({ length: 8 }, () => new StreamClient('known'))
  const welcomes = await Promise.all(same.map((c) => c.connect(gw.ws)))
  t.ok(welcomes.every((w) => w.type === 'connection_established'))
  t.ok(reads() < 8, `8 sockets of one user, ${reads()} position read(s): those in flight together share one`)
  const newcomers = Array.from({ length: 10 }, (_, i) => new StreamClient(`newcomer-${i}`))
  const theirs = await Promise.all(newcomers.map((c) => c.connect(gw.ws)))
  t.ok(reads() <= 12, `then 10 new users, ${reads()} reads in all`)
  // Connects arrive spread over the loop's turns: reads that follow each other closely wait a few ms for company.
  // Without the linger, each of these connects was about a read of its own (27 to 30 of 40); with it, 7 on a quiet
  // machine and 13 on a busy one: the bound is half, which only sharing meets.
  // The same holds for the Redis commands of a connect (the revocation reads, the socket slot): writes to Redis
  // are counted on the command connection's socket. Without the linger, 39 for 40 connects; with it, 9.
  const crowd = Array.from({ length: 40 }, (_, i) => new StreamClient(`crowd-${i}`))
  const readBefore = reads()
  const stream = (gw.app.redis!.command as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream
  const write = stream.write
  let writes = 0
  stream.write = function (this: unknown, ...args: unknown[]) { writes++; return write.apply(this, args) }
  t.teardown(() => { stream.write = write })
  await Promise.all(crowd.map((c) => c.connect(gw.ws)))
  stream.write = write
  t.ok(reads() - readBefore < 20, `40 users connecting together: ${reads() - readBefore} position reads`)
  t.ok(writes < 26, `40 users connecting together: ${writes} writes to Redis (3 commands each)`)
  t.same(statements.filter((s) => /\b(INSERT|UPDATE|DELETE)\b/i.test(s)), [], 'no statement that writes')
  t.same((await db.query('SELECT xmin::text, seq FROM user_streams WHERE user_id = $1', ['known'])).rows[0], before, 'the known user\'s row untouched')
  t.equal(Number((await db.query('SELECT count(*) AS n FROM user_streams')).rows[0].n), 1, 'no row for the newcomers')
  t.equal(theirs[0]!.data?.epoch, welcomes[0]!.data?.epoch, 'a newcomer is in the database\'s epoch')
  const epoch = theirs[0]!.data?.epoch
  await Promise.all([...same, ...newcomers, ...crowd].map((c) => c.socket?.close()))

  // A newcomer's first event starts their stream in the epoch their welcome named.
  const newcomer = new StreamClient('newcomer-0')
  newcomer.epoch = String(epoch)
  await newcomer.connect(gw.ws)
  await ingest(gw.http, thinking(ctx('newcomer-0'), 'first'))
  await newcomer.until(1)
  t.equal(newcomer.failures.length, 0, 'no resume failure: the epoch held')
  t.equal(newcomer.events[0]!.epoch, epoch)
  await newcomer.socket?.close()
})

t.test('connections that stop answering: ingest gives up on them and stores on fresh ones', async (t) => {
  const { proxy, url } = await proxyFor(t, PG_URL, 5432)
  const iso = isolate(t)
  const gw = await build(t, iso, { DATABASE_URL: url, INSTANCE_ID: `deaf-${process.pid}` })
  const client = new StreamClient('deaf-user')
  await client.connect(gw.ws)
  const context = ctx('deaf-user')
  t.equal((await ingest(gw.http, thinking(context, 'first'))).status, 202)
  await client.until(1)
  // Every open connection of the pool stays open but never hears the server again (a half-open socket).
  t.ok(proxy.deafen(`aeg:deaf-${process.pid}`) > 0, 'the pool\'s connections are deaf')
  const started = Date.now()
  const answer = await ingest(gw.http, thinking(context, 'after the silence'))
  t.equal(answer.status, 202, 'stored on a fresh connection')
  t.ok(Date.now() - started < STATEMENT_TIMEOUT_MS * 2 + 5000, `answered in ${Date.now() - started} ms, not never`)
  await client.until(2)
  t.equal(client.events[1]!.reasoning, 'after the silence')
  await client.socket?.close()
})

t.test('INGEST_LINGER_MS: units arriving within it share a transaction; a group of 100 events leaves at once', async (t) => {
  const iso = isolate(t)
  const db = pgClient(t, iso.schema)
  const storedAt = async (ids: string[]): Promise<Set<string>> =>
    new Set((await db.query('SELECT stored_at::text AS at FROM events WHERE event_id = ANY ($1)', [ids])).rows.map((r) => r.at as string))

  await t.test('two units a database round trip apart: one transaction', async (t) => {
    const gw = await build(t, iso, { INGEST_LINGER_MS: '100' })
    const first = gw.app.ingest.submit(parseIngestBody(thinking(ctx('linger-a'), 'first', { event_id: 'evt_linger_1' }), 10))
    // A turn of the event loop and more: without a linger, the first unit's group has left by now.
    await db.query('SELECT 1')
    const second = gw.app.ingest.submit(parseIngestBody(thinking(ctx('linger-b'), 'second', { event_id: 'evt_linger_2' }), 10))
    t.same((await Promise.all([first, second])).map((r) => r.stored), [1, 1])
    t.equal((await storedAt(['evt_linger_1', 'evt_linger_2'])).size, 1, 'stored by one transaction')
  })

  await t.test('without a linger the same two units are two transactions', async (t) => {
    const gw = await build(t, iso, { INGEST_LINGER_MS: '0' })
    const first = gw.app.ingest.submit(parseIngestBody(thinking(ctx('linger-c'), 'first', { event_id: 'evt_linger_3' }), 10))
    await db.query('SELECT 1')
    const second = gw.app.ingest.submit(parseIngestBody(thinking(ctx('linger-d'), 'second', { event_id: 'evt_linger_4' }), 10))
    await Promise.all([first, second])
    t.equal((await storedAt(['evt_linger_3', 'evt_linger_4'])).size, 2, 'stored by two transactions')
  })

  await t.test('a group that reaches 100 events does not wait out the linger', async (t) => {
    const gw = await build(t, iso, { INGEST_LINGER_MS: '100' })
    const full = parseIngestBody({ events: Array.from({ length: 100 }, (_, i) => thinking(ctx('linger-e'), `e${i}`, { event_id: `evt_linger_e${i}` })) }, 100)
    const first = gw.app.ingest.submit(full)
    await db.query('SELECT 1')
    // Had the full group waited for company, this unit would have joined it.
    const second = gw.app.ingest.submit(parseIngestBody(thinking(ctx('linger-f'), 'later', { event_id: 'evt_linger_f' }), 10))
    t.same((await Promise.all([first, second])).map((r) => r.stored), [100, 1])
    t.equal((await storedAt(['evt_linger_e0', 'evt_linger_f'])).size, 2, 'the full group left on its own')
  })
})

t.test('a group whose runs the instance knows is stored without a read; what another instance changed is still answered exactly', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const other = await build(t, iso)
  // The statements of gw's ingest connections, by what they call.
  const calls: string[] = []
  const pool = gw.app.pg!
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown
  const watched = new WeakSet<object>()
  // pool.query checks out with a callback (the position reads, the outbox): left as it is.
  pool.connect = (async (...args: unknown[]) => {
    if (args.length > 0) return connect(...args)
    const client = await (connect() as Promise<import('pg').PoolClient>)
    if (!watched.has(client)) {
      watched.add(client)
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      client.query = ((...args: unknown[]) => {
        const q = args[0] as string | { text: string }
        const text = typeof q === 'string' ? q : q.text
        const fn = /FROM (read_plan|append_events)\(/.exec(text)
        if (fn) calls.push(fn[1]!)
        return query(...args)
      }) as typeof client.query
    }
    return client
  }) as typeof pool.connect
  const group = async (base: string, body: unknown): Promise<{ status: number, body: Record<string, unknown>, calls: string[] }> => {
    calls.length = 0
    const answer = await ingest(base, body)
    return { ...answer, calls: [...calls] }
  }
  const c = ctx('cache-u')
  const client = new StreamClient('cache-u')
  await client.connect(gw.ws)
  const [started, thinkingStep, , , completed] = goldenRun(c).map((e, i) => ({ ...e, event_id: `evt_cache_${i}` }))

  const first = await group(gw.http, started)
  t.match(first, { status: 202, body: { stored: 1 }, calls: ['read_plan', 'append_events'] }, 'a run it has not seen: planned on a read')
  const second = await group(gw.http, thinkingStep)
  t.match(second, { status: 202, body: { stored: 1 }, calls: ['append_events'] }, 'its run known: one statement')

  const retry = await group(gw.http, started)
  t.match(retry, { status: 202, body: { stored: 0, duplicates: 1 } }, 'a retry is a duplicate, not stored twice')
  t.same(retry.calls, ['append_events', 'read_plan'], 'the lock-side check refused the plan, the read found the duplicate')

  // The run ends through the other instance: gw's cache still says running.
  t.match(await ingest(other.http, completed), { status: 202, body: { stored: 1 } })
  const late = await group(gw.http, { ...thinkingStep, event_id: 'evt_cache_late' })
  t.equal(late.status, 409, 'an event after the end is refused, whichever instance saw the end')
  t.match(late.body.message, /has ended/)
  const again = await group(gw.http, completed)
  t.match(again, { status: 202, body: { stored: 0, duplicates: 1 } }, 'the end\'s retry through gw: a duplicate, not a conflict')

  await client.until(3)
  t.same(client.seqs(), [1, 2, 3], 'each stored event delivered once, in order')
  const run = await gw.app.store.run('cache-u', c.run_id!)
  t.match(run, { status: 'completed', events: 3, last_seq: 3 })
  await client.socket?.close()
})
