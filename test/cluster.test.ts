// Against a real local three-master Redis Cluster: golden path, isolation and resume, over sharded pub/sub.
import t from 'tap'
import { Cluster } from 'ioredis'
import { startCluster } from './fixtures/redis-cluster.js'
import { renewalCase } from './fixtures/socket-cap-case.js'
import { build, Client, ctx, goldenRun, ingest, isolate, token } from './helper.js'
import { StreamClient, upTo } from './stream-client.js'

t.test('Redis Cluster mode', async (t) => {
  const cluster = await startCluster()
  t.teardown(() => cluster.stop())
  const iso = isolate(t)
  const env = { REDIS_URL: '', REDIS_CLUSTER_NODES: cluster.nodes }
  const one = await build(t, iso, env)
  const two = await build(t, iso, env)
  t.equal(one.app.redis?.sharded, true, 'sharded pub/sub')

  await t.test('socket slots renewed per user on their own slots', async (t) => {
    const nodes = cluster.nodes.split(',').map((n) => ({ host: n.split(':')[0]!, port: Number(n.split(':')[1]) }))
    const command = new Cluster(nodes)
    const reader = new Cluster(nodes)
    t.teardown(async () => { await command.quit(); await reader.quit() })
    await renewalCase(t, command, reader, `${iso.prefix}cap:`)
  })

  await t.test('revocations: a user\'s key and a token\'s key, each read on its own slot', async (t) => {
    const jwt = await token('revoked-jti')
    const jti = (JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti
    t.equal((await two.app.auth.verify(jwt)).userId, 'revoked-jti', 'good before')
    await one.app.backends.revocations.record({ jti }, Date.now(), 60)
    await t.rejects(two.app.auth.verify(jwt), { code: 'AUTH_FAILED', message: 'token revoked' }, 'by its jti')
    const user = await token('revoked-user')
    await one.app.backends.revocations.record({ userId: 'revoked-user' }, Date.now(), 60)
    await t.rejects(two.app.auth.verify(user), { code: 'AUTH_FAILED', message: 'token revoked' }, 'by its user')
  })

  await t.test('golden path: five events in order, flat and in data, across instances', async (t) => {
    const alice = await Client.as(one.ws, 'alice')
    const run = goldenRun(ctx('alice'))
    const res = await ingest(two.http, { events: run })
    const got = await alice.count(run.map((e) => e.type as string), 5)
    t.same(got.map((f) => f.event_id), res.body.event_ids)
    t.same(got.map((f) => f.seq), [1, 2, 3, 4, 5])
    t.equal(got[3]!.tool_name, 'query_costs')
    t.same((got[3]!.data as Record<string, unknown>).results, { rows: 3 })
    t.equal(got[4]!.final_response, 'Here are 3 optimizations')
    await alice.close()
  })

  await t.test('isolation: 30 users × 2 sockets on two instances, 600 events for random users', async (t) => {
    const users = Array.from({ length: 30 }, (_, i) => `cl-user-${i}`)
    const sockets = await Promise.all(users.flatMap((u) => [Client.as(one.ws, u), Client.as(two.ws, u)]))
    const expected = new Map(users.map((u) => [u, [] as string[]]))
    const events = Array.from({ length: 600 }, (_, i) => {
      const u = users[Math.floor(Math.random() * users.length)]!
      return { type: 'agent_thinking', context: ctx(u, `run_cl_${u}`), reasoning: `e${i}` }
    })
    for (const u of users) events.push({ type: 'agent_thinking', context: ctx(u, `run_cl_${u}`), reasoning: 'end' })
    for (let i = 0; i < events.length; i += 100) {
      const res = await ingest((i / 100) % 2 === 0 ? one.http : two.http, { events: events.slice(i, i + 100) })
      events.slice(i, i + 100).forEach((e, k) => expected.get(e.context.user_id!)!.push((res.body.event_ids as string[])[k]!))
    }
    let exact = 0
    await Promise.all(sockets.map(async (s, i) => {
      const u = users[Math.floor(i / 2)]!
      await s.next((f) => f.reasoning === 'end', 15000)
      const got = s.frames.filter((f) => f.type === 'agent_thinking')
      if (JSON.stringify(got.map((f) => f.event_id)) === JSON.stringify(expected.get(u))) exact++
    }))
    t.equal(exact, 60, 'every socket got exactly its user\'s events, in order')
    await Promise.all(sockets.map((s) => s.close()))
  })

  await t.test('resume: a socket killed mid-run resumes on the other instance with nothing lost or doubled', async (t) => {
    const context = ctx('cl-resumer')
    const client = new StreamClient('cl-resumer')
    await client.connect(one.ws)
    const batch = (from: number, to: number): Array<Record<string, unknown>> =>
      Array.from({ length: to - from }, (_, i) => ({ type: 'agent_thinking', context, reasoning: `s${from + i}` }))
    await ingest(one.http, { events: batch(0, 60) })
    await client.until(60)
    await client.kill()
    await ingest(two.http, { events: batch(60, 120) })
    await client.connect(two.ws)
    await ingest(one.http, { events: batch(120, 150) })
    await client.until(150)
    t.same(client.seqs(), upTo(150))
    t.equal(client.failures.length, 0)
    await client.socket?.close()
  })
})
