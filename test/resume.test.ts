// Resume: a socket that drops reconnects anywhere with since/epoch and gets exactly what it missed, then the live stream.
import t from 'tap'
import { build, Client, ctx, ingest, isolate, pgClient, token } from './helper.js'
import { StreamClient, upTo } from './stream-client.js'

const thinking = (context: Record<string, string>, i: number): Record<string, unknown> =>
  ({ type: 'agent_thinking', context, reasoning: `step ${i}`, step_number: i })

t.test('a socket killed mid-run resumes on the other instance: the missing events in order, then the live ones', async (t) => {
  const iso = isolate(t)
  const one = await build(t, iso)
  const two = await build(t, iso)
  const context = ctx('resumer')
  const client = new StreamClient('resumer')
  const welcome = await client.connect(one.ws)
  t.equal(welcome.data?.seq, 0, 'a new user starts at offset 0')
  t.type(welcome.data?.epoch, 'string')

  const ids: string[] = []
  const send = async (from: number, to: number): Promise<void> => {
    const events = []
    for (let i = from; i < to; i++) events.push(i === 0 ? { type: 'agent_started', context } : thinking(context, i))
    const res = await ingest(two.http, { events })
    ids.push(...res.body.event_ids as string[])
  }
  await send(0, 80)
  await client.until(80)
  await client.kill()
  await send(80, 150) // while the socket is gone
  const resumed = await client.connect(two.ws)
  t.equal(resumed.data?.seq, 150, 'the welcome reports the current offset')
  await send(150, 199)
  await ingest(one.http, { type: 'agent_completed', context, status: 'completed', final_response: 'done' })
  await client.until(200)

  t.same(client.seqs(), upTo(200), 'offsets 1..200, no gap, no duplicate')
  t.same(client.events.slice(0, 199).map((f) => f.event_id), ids, 'in the order they were acknowledged')
  t.equal(client.failures.length, 0)
  await client.socket?.close()
})

t.test('resume_failed: a changed epoch, a since beyond the stream, a since older than what is kept', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { HISTORY_SIZE: '3' })
  const context = ctx('forgetful')
  await ingest(gw.http, { events: Array.from({ length: 10 }, (_, i) => thinking(context, i)) })
  const jwt = await token('forgetful')
  const open = async (query: string): Promise<Client> => {
    const c = await Client.open(`${gw.ws}/ws?${query}`, { headers: { authorization: `Bearer ${jwt}` } })
    await c.next('connection_established')
    return c
  }
  const probe = await open('')
  const epoch = String(probe.frames[0]!.data?.epoch)
  await probe.close()

  const wrongEpoch = await open('since=4&epoch=not-the-epoch')
  t.match(await wrongEpoch.next('resume_failed'), { reason: 'epoch_changed', seq: 10, epoch })
  const ahead = await open(`since=99&epoch=${epoch}`)
  t.match(await ahead.next('resume_failed'), { reason: 'ahead_of_stream', seq: 10 })

  // Retention removes the oldest events from PostgreSQL; the hot history only holds the last 3.
  t.equal((await pgClient(t, iso.schema).query('DELETE FROM events WHERE seq <= 4')).rowCount, 4)
  const old = await open(`since=2&epoch=${epoch}`)
  t.match(await old.next('resume_failed'), { reason: 'history_expired', seq: 10, epoch })
  const kept = await open(`since=4&epoch=${epoch}`)
  const replayed = await kept.count(['agent_thinking'], 6)
  t.same(replayed.map((f) => f.seq), [5, 6, 7, 8, 9, 10], 'a since still covered replays from the durable log')
  t.equal(kept.frames.some((f) => f.type === 'resume_failed'), false)

  // Each failure leaves the socket live from the current offset.
  await ingest(gw.http, thinking(context, 11))
  for (const c of [wrongEpoch, ahead, old, kept]) t.equal((await c.next((f) => f.seq === 11)).reasoning, 'step 11')
  const bad = await open('since=-1&epoch=x')
  t.match(await bad.next('error_message'), { error_code: 'INVALID_MESSAGE' })
  await Promise.all([wrongEpoch, ahead, old, kept, bad].map((c) => c.close()))
})

t.test('a resume frame on an open socket replays from since', async (t) => {
  const gw = await build(t, isolate(t))
  const context = ctx('framer')
  const client = await Client.as(gw.ws, 'framer')
  const epoch = String(client.frames[0]!.data?.epoch)
  await ingest(gw.http, { events: [1, 2, 3].map((i) => thinking(context, i)) })
  await client.count(['agent_thinking'], 3)
  client.send({ type: 'resume', since: 1, epoch })
  const all = await client.count(['agent_thinking'], 5)
  t.same(all.map((f) => f.seq), [1, 2, 3, 2, 3], 'asked-for replay of 2..3')
  client.send({ type: 'resume', since: 'x' })
  t.match(await client.next('error_message'), { error_code: 'INVALID_MESSAGE' })
  await client.close()
})

t.test('twenty rounds of random disconnects under load: every user ends with exactly 1..N', async (t) => {
  const iso = isolate(t)
  const gws = [await build(t, iso), await build(t, iso)]
  const users = Array.from({ length: 12 }, (_, i) => `churn-${i}-user`)
  const clients = users.map((u) => new StreamClient(u))
  await Promise.all(clients.map((c, i) => c.connect(gws[i % 2]!.ws)))
  const sent = new Map(users.map((u) => [u, 0]))
  const pick = <T>(list: T[]): T => list[Math.floor(Math.random() * list.length)]!

  for (let round = 0; round < 20; round++) {
    // Load from both instances while a random third of the sockets drop and come back anywhere.
    const load = Promise.all(gws.map(async (gw) => {
      for (let b = 0; b < 3; b++) {
        const events = Array.from({ length: 20 }, () => {
          const u = pick(users)
          sent.set(u, sent.get(u)! + 1)
          return thinking(ctx(u, `run_churn_${u}`), sent.get(u)!)
        })
        const res = await ingest(gw.http, { events })
        if (res.status !== 202) throw new Error(`ingest answered ${res.status}`)
      }
    }))
    const victims = clients.filter(() => Math.random() < 0.33)
    await Promise.all(victims.map(async (c) => { await c.kill(); await c.connect(pick(gws).ws) }))
    await load
  }
  await Promise.all(clients.map((c) => c.until(sent.get(c.user)!, 20000)))
  let exact = 0
  for (const c of clients) {
    if (JSON.stringify(c.seqs()) === JSON.stringify(upTo(sent.get(c.user)!)) && c.failures.length === 0) exact++
    else t.fail(`${c.user}: got ${c.seqs().length} events for ${sent.get(c.user)} sent`)
  }
  t.equal(exact, users.length, `all ${users.length} users hold exactly 1..N (${[...sent.values()].reduce((a, b) => a + b)} events in all)`)
  await Promise.all(clients.map((c) => c.socket?.close()))
})

t.test('a lost pub/sub message is fetched from history before anything newer is delivered', async (t) => {
  const gw = await build(t, isolate(t))
  const context = ctx('gappy')
  const client = new StreamClient('gappy')
  await client.connect(gw.ws)
  await ingest(gw.http, thinking(context, 1))
  await client.until(1)
  // Stored and sequenced (offset 2) but never published: as if Redis dropped the message.
  const { normalizeEvent } = await import('../src/events/envelope.js')
  const { createUserExecutionContext } = await import('../src/context/user-execution-context.js')
  const lost = normalizeEvent({ type: 'agent_thinking', context, reasoning: 'step 2' } as never, createUserExecutionContext(context as never))
  const { outcomes, outboxId } = await gw.app.store.append([[lost]])
  // Marked published, so only the gap fill can bring it.
  await gw.app.store.outboxDone([outboxId!])
  t.equal(outcomes[0]!.ok && outcomes[0]!.stored[0]!.seq, 2)
  await ingest(gw.http, thinking(context, 3))
  await client.until(3)
  t.same(client.seqs(), [1, 2, 3], 'offset 2 arrives before 3')
  t.same(client.events.map((f) => f.reasoning), ['step 1', 'step 2', 'step 3'])
  await client.socket?.close()
})

t.test('sockets of many users resuming together share their reads of the stream: a deploy\'s storm is not a query per socket', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso)
  const users = Array.from({ length: 40 }, (_, i) => `storm-${i}`)
  const clients = users.map((u) => new StreamClient(u))
  await Promise.all(clients.map((c) => c.connect(gw.ws)))
  await ingest(gw.http, { events: users.map((u, i) => thinking(ctx(u, `run_storm_${i}`), 1)) })
  await Promise.all(clients.map((c) => c.until(1)))
  await Promise.all(clients.map((c) => c.kill()))
  // Missed while away: each resume checks the user's oldest kept offset, and replays.
  await ingest(gw.http, { events: users.map((u, i) => thinking(ctx(u, `run_storm_${i}`), 2)) })

  const statements: string[] = []
  const query = gw.app.pg!.query.bind(gw.app.pg!)
  gw.app.pg!.query = ((...args: Parameters<typeof query>) => {
    const q = args[0] as string | { name?: string, text: string }
    statements.push(typeof q === 'string' ? q : q.name ?? q.text)
    return query(...args)
  }) as typeof query
  t.teardown(() => { gw.app.pg!.query = query })
  await Promise.all(clients.map((c) => c.connect(gw.ws)))
  await Promise.all(clients.map((c) => c.until(2)))
  const earliest = statements.filter((s) => s === 'aeg_earliest').length
  t.ok(earliest >= 1 && earliest < 20, `40 users resuming together: ${earliest} reads of the oldest offsets`)
  t.ok(clients.every((c) => c.failures.length === 0), 'every resume accepted')
  t.same(clients.map((c) => c.seqs().join(',')), users.map(() => '1,2'), 'and each got what it missed, once')
  await Promise.all(clients.map((c) => c.socket?.close()))
})
