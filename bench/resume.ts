// Resume benchmark: time from reconnect to the last of N replayed events, from the hot history and from PostgreSQL.
// Usage: npx tsx bench/resume.ts [--events 1000] [--rounds 5]. Starts its own redis-server; uses a schema of its own.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { parseArgs } from 'node:util'
import pg from 'pg'
import WebSocket from 'ws'
import { buildApp } from '../src/app.js'
import { EMBEDDED_DEFAULTS, loadConfig } from '../src/config.js'
import { signDevToken } from '../src/plugins/app/auth/dev-verifier.js'

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '5' } } })
const N = Number(values.events)
const ROUNDS = Number(values.rounds)
const PG_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SERVICE = { id: 'bench', secret: 'bench-service-secret-0123' }

async function freePort (): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1')
  await once(s, 'listening')
  const { port } = s.address() as { port: number }
  s.close()
  return port
}

async function startRedis (port: number): Promise<() => void> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  for await (const chunk of child.stdout) {
    out += String(chunk)
    if (out.includes('Ready to accept connections')) break
  }
  child.stdout.resume()
  return () => child.kill('SIGKILL')
}

/** Opens a socket (resuming when `since` is given) and resolves with the ms until `count` stream frames arrived. */
async function receive (url: string, token: string, count: number): Promise<{ ms: number, welcome: Record<string, unknown>, lastSeq: number }> {
  const started = performance.now()
  const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
  return await new Promise((resolve, reject) => {
    let welcome: Record<string, unknown> = {}
    let n = 0
    const timer = setTimeout(() => reject(new Error(`only ${n} of ${count} frames within 30 s`)), 30_000)
    socket.on('message', (raw) => {
      const text = raw.toString()
      if (!text.startsWith('{"seq":')) { welcome = JSON.parse(text) as Record<string, unknown>; if (count === 0) done(0); return }
      if (++n === count) done(Number(/^\{"seq":(\d+)/.exec(text)![1]))
    })
    function done (lastSeq: number): void {
      clearTimeout(timer)
      const ms = performance.now() - started
      socket.close()
      resolve({ ms, welcome, lastSeq })
    }
    socket.on('error', reject)
  })
}

const redisPort = await freePort()
const stopRedis = await startRedis(redisPort)
const schema = `bench_resume_${process.pid}`
const results: Array<{ source: string, ms: number[] }> = []
try {
  for (const [source, historySize] of [['hot history (Redis)', String(N * 2)], ['durable log (PostgreSQL)', '10']] as const) {
    const config = loadConfig({
      NODE_ENV: 'test',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: '0',
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA: schema,
      REDIS_KEY_PREFIX: `bench:${process.pid}:`,
      SERVICE_ID: SERVICE.id,
      SERVICE_SECRET: SERVICE.secret,
      ADMIN_SECRET: 'bench-admin-secret-0123456789',
      ALLOW_DEV_AUTH: 'true',
      HISTORY_SIZE: historySize,
      INGEST_MAX_BATCH: String(N)
    })
    const app = await buildApp(config)
    await app.listen({ host: '127.0.0.1', port: 0 })
    const base = `127.0.0.1:${(app.server.address() as { port: number }).port}`
    const times: number[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const user = `bench-${source.slice(0, 3)}-${round}`
      const token = await signDevToken(EMBEDDED_DEFAULTS.DEV_JWT_SECRET, user)
      const first = await receive(`ws://${base}/ws`, token, 0)
      const data = first.welcome.data as { seq: number, epoch: string }
      const context = { user_id: user, thread_id: `thread_bench_${round}`, run_id: `run_bench_${source.slice(0, 3)}_${round}`, request_id: `req_bench_${round}` }
      const events = Array.from({ length: N }, (_, i) => ({ type: 'agent_thinking', context, reasoning: `step ${i} of a long run, with some text to replay` }))
      const res = await fetch(`http://${base}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret }, body: JSON.stringify({ events }) })
      if (res.status !== 202) throw new Error(`ingest answered ${res.status}`)
      const resumed = await receive(`ws://${base}/ws?since=${data.seq}&epoch=${data.epoch}`, token, N)
      if (resumed.lastSeq !== data.seq + N) throw new Error(`last replayed seq ${resumed.lastSeq}, expected ${data.seq + N}`)
      times.push(resumed.ms)
    }
    results.push({ source, ms: times })
    await app.close()
  }
} finally {
  stopRedis()
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
  await client.end()
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
process.stdout.write(`resume: reconnect → last of ${N} replayed events (${ROUNDS} rounds; target < 100 ms)\n`)
for (const r of results) {
  process.stdout.write(`  ${r.source.padEnd(26)} median ${median(r.ms).toFixed(1)} ms   min ${Math.min(...r.ms).toFixed(1)}   max ${Math.max(...r.ms).toFixed(1)}\n`)
}
