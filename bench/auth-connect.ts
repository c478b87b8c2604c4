// `npx tsx bench/auth-connect.ts [--production] [--connects N] [--concurrency C]`: remote-auth connects per second, warm cache vs every connect to the auth service.
import { parseArgs } from 'node:util'
import pg from 'pg'
import WebSocket from 'ws'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { startAuthService } from '../test/fixtures/auth-service.js'
import { mint } from '../test/fixtures/tokens.js'

const { values: args } = parseArgs({
  options: {
    production: { type: 'boolean', default: false },
    connects: { type: 'string', default: '3000' },
    concurrency: { type: 'string', default: '50' },
    users: { type: 'string', default: '200' }
  }
})
const CONNECTS = Number(args.connects)
const CONCURRENCY = Number(args.concurrency)
const USERS = Number(args.users)
const SECRET = 'bench-auth-secret-0123456789abcdefghij'
const SERVICE = { id: 'bench-agent', secret: 'bench-service-secret-0123456789' }
const AUTH_SERVICE = { id: 'bench-gateway', secret: 'bench-auth-service-secret-0123456789' }

const fixture = await startAuthService(SECRET, { serviceId: AUTH_SERVICE.id, serviceSecret: AUTH_SERVICE.secret })

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
// Its own schema and key prefix, dropped at the end: the bench leaves nothing in a shared database.
const SCHEMA = `bench_auth_${process.pid}`

async function gateway (env: Record<string, string>): Promise<{ url: string, close: () => Promise<void> }> {
  const production = args.production
    ? { REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', DATABASE_URL, DATABASE_SCHEMA: SCHEMA, REDIS_KEY_PREFIX: `bench:${process.pid}:` }
    : {}
  const base = { NODE_ENV: 'test', LOG_LEVEL: 'silent', AUTH_MODE: 'remote', AUTH_SERVICE_URL: fixture.url }
  const config = loadConfig({ ...base, SERVICE_ID: SERVICE.id, SERVICE_SECRET: SERVICE.secret, ADMIN_SECRET: 'bench-admin-secret-0123456789', AUTH_SERVICE_ID: AUTH_SERVICE.id, AUTH_SERVICE_SECRET: AUTH_SERVICE.secret, MAX_SOCKETS_PER_USER: '1000', UPGRADE_RATE: '1000000', CLIENT_UPGRADES_MAX: '0', MAX_SOCKETS: '1000000', ...production, ...env })
  const app = await buildApp(config)
  await app.listen({ host: '127.0.0.1', port: 0 })
  return { url: `ws://127.0.0.1:${(app.server.address() as { port: number }).port}/ws`, close: () => app.close() }
}

/** Opens one socket, waits for connection_established, closes it; resolves with the time to the welcome. */
function connectOnce (url: string, token: string): Promise<number> {
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } })
    socket.once('message', (raw) => {
      const frame = JSON.parse(raw.toString()) as { type: string }
      const took = performance.now() - started
      socket.close()
      if (frame.type === 'connection_established') resolve(took)
      else reject(new Error(`refused: ${raw.toString().slice(0, 200)}`))
    })
    socket.once('error', reject)
  })
}

async function run (url: string, tokens: string[]): Promise<{ perSecond: number, p50: number, p99: number }> {
  const latencies: number[] = []
  let next = 0
  const started = performance.now()
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < CONNECTS) {
      const token = tokens[next++ % tokens.length]!
      latencies.push(await connectOnce(url, token))
    }
  }))
  const seconds = (performance.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!
  return { perSecond: CONNECTS / seconds, p50: at(0.5), p99: at(0.99) }
}

const userTokens = await Promise.all(Array.from({ length: USERS }, async (_, i) => await mint({ key: SECRET, sub: `bench-user-${i}` })))

// Warm: the default cache; every user connected once beforehand, so no connect asks the auth service.
const warm = await gateway({})
for (const token of userTokens) await connectOnce(warm.url, token)
const callsBeforeWarm = fixture.calls
const warmResult = await run(warm.url, userTokens)
const warmCalls = fixture.calls - callsBeforeWarm
await warm.close()

// Cold: the cache off and a distinct token per connect, so every connect is one call to the auth service.
const cold = await gateway({ AUTH_CACHE_TTL_S: '0' })
const distinct = await Promise.all(Array.from({ length: CONNECTS }, async (_, i) => await mint({ key: SECRET, sub: `bench-user-${i % USERS}` })))
const callsBeforeCold = fixture.calls
const coldResult = await run(cold.url, distinct)
const coldCalls = fixture.calls - callsBeforeCold
await cold.close()
await fixture.close()
if (args.production) {
  const db = new pg.Client({ connectionString: DATABASE_URL })
  await db.connect()
  await db.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
  await db.end()
}

const row = (name: string, r: { perSecond: number, p50: number, p99: number }, calls: number): string =>
  `${name.padEnd(28)} ${r.perSecond.toFixed(0).padStart(8)} ${r.p50.toFixed(2).padStart(9)} ${r.p99.toFixed(2).padStart(9)} ${String(calls).padStart(14)}`
process.stdout.write(`auth-connect: ${CONNECTS} connects per case, ${CONCURRENCY} at a time, ${USERS} users, ${args.production ? 'production mode (Redis + PostgreSQL)' : 'embedded mode'}, node ${process.version}\n`)
process.stdout.write(`${'case'.padEnd(28)} ${'conn/s'.padStart(8)} ${'p50 ms'.padStart(9)} ${'p99 ms'.padStart(9)} ${'auth calls'.padStart(14)}\n`)
process.stdout.write(`${row('warm cache', warmResult, warmCalls)}\n`)
process.stdout.write(`${row('every connect to the service', coldResult, coldCalls)}\n`)
