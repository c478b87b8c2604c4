// SIGTERM during 1,000 active sockets: the process exits within 8 s, and its clients, resuming on a second
// instance, lose nothing.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import t from 'tap'
import { build, ctx, ingest, isolate, testEnv } from './helper.js'
import { freePort } from './fixtures/redis-server.js'
import { StreamClient, upTo } from './stream-client.js'

const SOCKETS = 1000

t.test('a drained instance hands its clients over without losing an event', async (t) => {
  const iso = isolate(t)
  const port = await freePort()
  // Load shedding is not under test: on a busy machine its 503s would fail connects that have nothing to do with the drain.
  const limits = { UPGRADE_RATE: '100000', MAX_SOCKETS: '100000', RECONNECT_JITTER_S: '1', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' }
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, ...testEnv(iso, { ...limits, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info', INSTANCE_ID: 'doomed' }) },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = once(child, 'exit') as Promise<[number | null, string | null]>
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  // Listening is announced in the log: wait for that line rather than polling the port.
  const lines = createInterface({ input: child.stdout! })
  const log: string[] = []
  await new Promise<void>((resolve) => lines.on('line', (line) => { log.push(line); if (line.includes('Server listening')) resolve() }))
  const doomed = `ws://127.0.0.1:${port}`
  const survivor = await build(t, iso, limits)

  const users = Array.from({ length: SOCKETS }, (_, i) => `drain-${i}`)
  const clients = users.map((u) => new StreamClient(u))
  for (let i = 0; i < SOCKETS; i += 100) await Promise.all(clients.slice(i, i + 100).map((c) => c.connect(doomed)))
  const shutdownFrames: Array<Record<string, unknown>> = []
  // When the doomed instance closes a socket, the client resumes on the survivor at once.
  const handedOver = Promise.all(clients.map(async (c) => {
    const first = c.socket!
    first.socket.on('message', (raw) => { const f = JSON.parse(raw.toString()); if (f.type === 'server_shutdown') shutdownFrames.push(f) })
    const { code } = await first.closed
    if (code !== 1012) throw new Error(`${c.user}: closed with ${code}`)
    await c.connect(survivor.ws)
  }))

  // Traffic throughout, through the survivor's ingest: every acknowledged event must reach its user.
  const acked = new Map(users.map((u) => [u, 0]))
  const load = { sending: true }
  const traffic = (async () => {
    while (load.sending) {
      const batch = Array.from({ length: 100 }, () => users[Math.floor(Math.random() * SOCKETS)]!)
      const res = await ingest(survivor.http, { events: batch.map((u) => ({ type: 'agent_thinking', context: ctx(u, `run_${u}`), reasoning: 'tick' })) })
      if (res.status === 202) for (const u of batch) acked.set(u, acked.get(u)! + 1)
    }
  })()
  await ingest(survivor.http, { events: users.slice(0, 100).map((u) => ({ type: 'agent_thinking', context: ctx(u, `run_${u}`), reasoning: 'before' })) })
  for (const u of users.slice(0, 100)) acked.set(u, acked.get(u)! + 1)

  const signalled = Date.now()
  child.kill('SIGTERM')
  const [code] = await exited
  const took = Date.now() - signalled
  t.ok(took < 8000, `exited ${took} ms after SIGTERM`)
  t.equal(code, 0, 'a clean exit')
  await handedOver
  load.sending = false
  await traffic
  t.ok(shutdownFrames.length > 0 && shutdownFrames.every((f) => typeof f.reconnect_delay_ms === 'number' && typeof (f.resume as { since?: unknown } | undefined)?.since === 'number'), `${shutdownFrames.length} clients told when to reconnect and where they were`)
  t.match(log.join('\n'), /websockets drained/, 'the drain was logged')

  await Promise.all(clients.map((c) => c.until(acked.get(c.user)!, 20000)))
  const exact = clients.filter((c) => JSON.stringify(c.seqs()) === JSON.stringify(upTo(acked.get(c.user)!))).length
  t.equal(exact, SOCKETS, `all ${SOCKETS} clients hold every acknowledged event once, in order (${[...acked.values()].reduce((a, b) => a + b)} events)`)
  await Promise.all(clients.map((c) => c.socket?.close()))
})
