// Isolation: 50 users with 2 sockets each, 1,000 events for random users; each socket gets exactly its user's events.
import t from 'tap'
import { build, Client, ctx, ingest, isolate } from './helper.js'

const USERS = 50
const EVENTS = 1000

t.test('every socket receives exactly its own user\'s events and nothing else', async (t) => {
  const gw = await build(t, isolate(t))
  const users = Array.from({ length: USERS }, (_, i) => `user-${String(i).padStart(3, '0')}-iso`)
  const sockets = new Map<string, Client[]>()
  await Promise.all(users.map(async (u) => sockets.set(u, await Promise.all([Client.as(gw.ws, u), Client.as(gw.ws, u)]))))

  const expected = new Map<string, string[]>(users.map((u) => [u, []]))
  const events = Array.from({ length: EVENTS }, (_, i) => {
    const user = users[Math.floor(Math.random() * USERS)]!
    return { type: 'agent_thinking', context: ctx(user, `run_iso_${i}_x`), reasoning: `step ${i} for ${user}` }
  })
  // One closing event per user: per-channel order means anything stray would arrive before it.
  for (const u of users) events.push({ type: 'agent_thinking', context: ctx(u, `run_iso_end_${u}`), reasoning: 'end' })

  for (let i = 0; i < events.length; i += 100) {
    const res = await ingest(gw.http, { events: events.slice(i, i + 100) })
    t.equal(res.status, 202)
    const ids = res.body.event_ids as string[]
    events.slice(i, i + 100).forEach((e, k) => expected.get((e.context as { user_id: string }).user_id)!.push(ids[k]!))
  }

  let exact = 0
  await Promise.all(users.map(async (u) => {
    for (const socket of sockets.get(u)!) {
      const want = expected.get(u)!
      const got = await socket.count(['agent_thinking'], want.length, 20000)
      await socket.next((f) => f.reasoning === 'end')
      const ids = got.map((f) => f.event_id)
      const foreign = got.filter((f) => f.user_id !== u)
      if (foreign.length === 0 && JSON.stringify(ids) === JSON.stringify(want)) exact++
      else t.fail(`socket of ${u} got ${ids.length} events (${foreign.length} foreign), wanted ${want.length}`)
    }
  }))
  t.equal(exact, USERS * 2, 'all 100 sockets got exactly their user\'s events, in order')
  await Promise.all([...sockets.values()].flat().map((c) => c.close()))
})
