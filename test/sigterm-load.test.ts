// SIGTERM while ingests and socket upgrades keep arriving: the process exits 0 within 5 s, upgrades during the drain
// get 503 at once, and every event acknowledged with 202 is stored and reaches its user's socket.
import t from 'tap'
import WebSocket from 'ws'
import { build, ctx, isolate, pgClient, SERVICE, token } from './helper.js'
import { GatewayProcess } from './fixtures/gateway-process.js'
import { StreamClient } from './stream-client.js'

const USERS = 40
const PRODUCERS = 4
const PER_REQUEST = 5
/** Bounds on the loops: far above what a 5 s drain can take, so only the exit ends them. */
const MAX_REQUESTS = 5000
const MAX_UPGRADES = 2000
/** A refused upgrade is answered before any work: well under this. */
const PROMPT_MS = 500
/** Acknowledged requests before the signal: the producers are in full flow when it comes. */
const WARM_UP = 40

type Outcome = { status: number, retryAfter?: string, ms: number } | { error: string, ms: number }

/** One upgrade attempt: the HTTP status it was refused with, or that it opened (then closed by us), or the network error. */
async function tryUpgrade (url: string, jwt: string): Promise<Outcome> {
  const started = Date.now()
  return await new Promise((resolve) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${jwt}` } })
    socket.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], ms: Date.now() - started })
      socket.terminate()
    })
    socket.on('upgrade', () => { resolve({ status: 101, ms: Date.now() - started }); socket.terminate() })
    socket.on('error', (err: NodeJS.ErrnoException) => resolve({ error: err.code ?? err.message, ms: Date.now() - started }))
  })
}

t.test('SIGTERM under ingest and upgrade load: a clean, quick exit and every 202 delivered', async (t) => {
  const iso = isolate(t)
  const limits = { UPGRADE_RATE: '100000', MAX_SOCKETS: '100000', RECONNECT_JITTER_S: '1', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' }
  const doomed = GatewayProcess.start(t, iso, { ...limits, INSTANCE_ID: 'doomed' })
  const target = await doomed.listening()
  const survivor = await build(t, iso, limits)
  const admin = pgClient(t, iso.schema)

  const users = Array.from({ length: USERS }, (_, i) => `load-${i}`)
  const clients = new Map(users.map((u) => [u, new StreamClient(u)]))
  await Promise.all([...clients.values()].map(async (c) => await c.connect(target.ws)))
  // Closed by the drain with 1012, each client resumes on the survivor from the last offset it holds.
  const closeCodes: number[] = []
  const handedOver = Promise.all([...clients.values()].map(async (c) => {
    const { code } = await c.socket!.closed
    closeCodes.push(code)
    await c.connect(survivor.ws)
  }))

  // Producers post to the doomed instance throughout, on keep-alive connections, until it is gone.
  const acked = new Map<string, string[]>(users.map((u) => [u, []]))
  const answers = new Map<string, number>()
  /** Requests sent before the signal that got no HTTP answer: each one an in-flight request the shutdown cut. */
  const cut: string[] = []
  const load = { on: true, sent: 0, acked: 0, signalledAt: Infinity }
  let warm!: () => void
  const warmedUp = new Promise<void>((resolve) => { warm = resolve })
  const producers = Array.from({ length: PRODUCERS }, async (_, p) => {
    while (load.on && load.sent < MAX_REQUESTS) {
      const n = load.sent++
      const events = Array.from({ length: PER_REQUEST }, (_, k) => {
        const user = users[(n * PER_REQUEST + k) % USERS]!
        return { event_id: `ev-${p}-${n}-${k}`, type: 'agent_thinking', context: ctx(user, `run_${user}`), reasoning: `tick ${n}` }
      })
      let key: string
      const sentAt = Date.now()
      try {
        const res = await fetch(`${target.http}/api/v1/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret },
          body: JSON.stringify({ events })
        })
        await res.arrayBuffer()
        key = String(res.status)
        if (res.status === 202) {
          for (const e of events) acked.get(e.context.user_id!)!.push(e.event_id)
          if (++load.acked === WARM_UP) warm()
        }
      } catch (err) {
        key = String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message)
        if (sentAt < load.signalledAt) cut.push(`${n}: ${key}`)
        // The listener is gone: nothing more to send to this instance.
        if (key === 'ECONNREFUSED') break
      }
      answers.set(key, (answers.get(key) ?? 0) + 1)
    }
  })
  await warmedUp

  const signalled = Date.now()
  load.signalledAt = signalled
  doomed.child.kill('SIGTERM')
  await doomed.line(/"msg":"draining/)
  // From the drain on, new sockets keep arriving (two at a time) until the instance stops listening.
  const jwt = await token('latecomer')
  const loops: Outcome[][] = [[], []]
  const upgraders = loops.map(async (outcomes) => {
    while (outcomes.length < MAX_UPGRADES) {
      const outcome = await tryUpgrade(`${target.ws}/ws`, jwt)
      outcomes.push(outcome)
      if ('error' in outcome && outcome.error === 'ECONNREFUSED') break
    }
  })

  const { code } = await doomed.exited
  const took = Date.now() - signalled
  load.on = false
  await Promise.all([...producers, ...upgraders])
  t.equal(code, 0, 'a clean exit')
  t.ok(took < 5000, `exited ${took} ms after SIGTERM`)
  t.match(doomed.log.join('\n'), /websockets drained/, 'the drain was logged')

  const upgrades = loops.flat()
  const refused = upgrades.filter((o): o is Extract<Outcome, { status: number }> => 'status' in o)
  t.ok(refused.length > 0, `${refused.length} upgrades arrived during the drain`)
  t.same(refused.filter((o) => o.status !== 503 || o.retryAfter !== '1'), [], 'each was refused: 503 with Retry-After')
  t.same(refused.filter((o) => o.ms >= PROMPT_MS), [], `each within ${PROMPT_MS} ms (slowest ${Math.max(...refused.map((o) => o.ms))} ms)`)
  // Each loop: answers while the port is open, then the port closed. A connection caught in the instant the
  // listener closes is reset by the kernel (at most one per loop); never a reset before that, never after an answer.
  for (const [i, outcomes] of loops.entries()) {
    const firstError = outcomes.findIndex((o) => 'error' in o)
    const tail = outcomes.slice(firstError).map((o) => 'error' in o ? o.error : `HTTP ${o.status}`)
    t.ok(firstError >= 0 && tail.every((e) => e === 'ECONNRESET' || e === 'ECONNREFUSED') && tail.filter((e) => e === 'ECONNRESET').length <= 1,
      `upgrader ${i}: ${firstError} answered, then the port closed (${tail.join(', ')})`)
  }

  // Requests in flight at the signal are answered. Later ones get 503 (Fastify's answer while closing) or, sent as
  // the listener closes, find no server: a client's ordinary retry elsewhere, with nothing half-done.
  t.same(cut, [], `every request in flight at the signal was answered (all answers: ${JSON.stringify(Object.fromEntries(answers))})`)
  t.same([...answers.keys()].filter((k) => /^\d+$/.test(k) && !['202', '503'].includes(k)), [], 'each with 202 or 503')
  t.ok(load.acked >= WARM_UP, `${load.acked} requests acknowledged`)

  await handedOver
  t.same([...new Set(closeCodes)], [1012], `all ${USERS} sockets closed with 1012 (service restart)`)

  // Stored: every acknowledged event is in the log, under its user.
  const ackedIds = [...acked.values()].flat()
  const { rows } = await admin.query<{ event_id: string, user_id: string, seq: string }>('SELECT event_id, user_id, seq FROM events WHERE event_id = ANY($1)', [ackedIds])
  t.equal(rows.length, ackedIds.length, `all ${ackedIds.length} acknowledged events stored`)

  // Delivered: each user's client, across its two sockets, holds offsets 1..n once and in order, n reaching the
  // highest offset of its acknowledged events, and every one of those events among them.
  const highest = new Map<string, number>()
  for (const r of rows) highest.set(r.user_id, Math.max(highest.get(r.user_id) ?? 0, Number(r.seq)))
  await Promise.all(users.map(async (u) => await clients.get(u)!.until(highest.get(u) ?? 0, 15000)))
  const wrong = users.filter((u) => {
    const c = clients.get(u)!
    const seqs = c.seqs()
    const held = new Set(c.events.map((f) => String(f.event_id)))
    return seqs.some((s, i) => s !== i + 1) || acked.get(u)!.some((id) => !held.has(id))
  })
  t.same(wrong, [], 'every user holds each of its acknowledged events, once, in order')
  await Promise.all([...clients.values()].map(async (c) => await c.socket?.close()))
})
