// Test helpers: build the real app against real Redis and PostgreSQL, isolated per test file, plus a WebSocket client.
import { randomBytes } from 'node:crypto'
import { basename } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import type { Test } from 'tap'
import { Redis } from 'ioredis'
import WebSocket from 'ws'
import { buildApp, type BuildOptions } from '../src/app.js'
import type { Clock } from '../src/clock.js'
import { EMBEDDED_DEFAULTS, loadConfig, type Config } from '../src/config.js'
import { signDevToken } from '../src/plugins/app/auth/dev-verifier.js'

export const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const SERVICE = { id: 'test-agent-worker', secret: 'test-service-secret-0123456789' }
/** The operator's revocation credential, and the gateway's own credentials with the auth service. */
export const ADMIN = { secret: 'test-admin-secret-0123456789' }
export const AUTH_SERVICE = { id: 'test-gateway', secret: 'test-auth-service-secret-0123456789' }
export const DEV_SECRET = EMBEDDED_DEFAULTS.DEV_JWT_SECRET

interface Tap {
  teardown: (fn: () => unknown) => void
  name: string
}

export interface Isolation { schema: string, prefix: string }

/** A schema and a Redis key/channel prefix of this test file's own; the schema is dropped at teardown. */
export function isolate (t: Tap, file = process.argv[1] ?? t.name): Isolation {
  const tag = `${basename(file).replace(/\.test\.ts$/, '').replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 30)}_${randomBytes(4).toString('hex')}`
  const iso = { schema: `t_${tag}`, prefix: `t:${tag}:` }
  t.teardown(async () => {
    const client = new pg.Client({ connectionString: PG_URL })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS ${iso.schema} CASCADE`)
    await client.end()
  })
  return iso
}

export function testEnv (iso: Isolation | null, env: Record<string, string> = {}): Record<string, string> {
  const base: Record<string, string> = { NODE_ENV: 'test', LOG_LEVEL: 'silent', SERVICE_ID: SERVICE.id, SERVICE_SECRET: SERVICE.secret }
  Object.assign(base, { ADMIN_SECRET: ADMIN.secret, AUTH_SERVICE_ID: AUTH_SERVICE.id, AUTH_SERVICE_SECRET: AUTH_SERVICE.secret })
  // Every test client comes from 127.0.0.1, so per-address limits would count unrelated tests as one client:
  // off here, and on in the tests that are about them.
  Object.assign(base, { CLIENT_UPGRADES_MAX: '0', CLIENT_TICKETS_MAX: '0', CLIENT_AUTH_FAILURES_MAX: '0' })
  // Production mode with dev tokens, as the tests sign them: the opt-in NODE_ENV=production refuses.
  if (iso) Object.assign(base, { REDIS_URL, DATABASE_URL: PG_URL, DATABASE_SCHEMA: iso.schema, REDIS_KEY_PREFIX: iso.prefix })
  if (iso && env.NODE_ENV !== 'production') base.ALLOW_DEV_AUTH = 'true'
  return { ...base, ...env }
}

export interface Running {
  app: FastifyInstance
  config: Config
  http: string
  ws: string
}

/** Builds and starts the real app on a free port; it is closed at teardown. `iso: null` means the embedded mode. */
export async function build (t: Tap, iso: Isolation | null, env: Record<string, string> = {}, logger?: unknown, opts: Omit<BuildOptions, 'logger'> = {}): Promise<Running> {
  const config = loadConfig(testEnv(iso, { HOST: '127.0.0.1', PORT: '0', ...env }))
  const app = await buildApp(config, logger ? { ...opts, logger: logger as never } : opts)
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return { app, config, http: `http://127.0.0.1:${address.port}`, ws: `ws://127.0.0.1:${address.port}` }
}

/**
 * Real time plus what the test skipped: the app keeps running on its real timers (the expiry wheel ticks every
 * 100 ms), and a TTL, a breaker's reset or a token's expiry is over when the test says so, not after a wait.
 */
export class TestClock implements Clock {
  private skipped = 0
  private readonly start = Date.now()
  /**
   * `frozen`: time moves only when skipped, so a test can stand 1 ms before a deadline while the app's own ticks
   * run; otherwise real time plus what was skipped.
   */
  constructor (private readonly frozen = false) {}
  now (): number { return (this.frozen ? this.start : Date.now()) + this.skipped }
  advance (ms: number): void { this.skipped += ms }
  /** Skips to `at` (epoch ms) unless the clock is already past it. */
  advanceTo (at: number): void { this.skipped += Math.max(0, at - this.now()) }
}

/** `promise`, or a failure naming `what` after `ms`: a wait that never ends fails here, not at tap's 120 s timeout. */
export async function within<T> (promise: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms) })
  try {
    return await Promise.race([promise, late])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once `userId` has no socket on this instance and their channel is unsubscribed; fails after `ms`. */
export async function gone (gw: { app: FastifyInstance }, userId: string, ms = 5000): Promise<void> {
  await within(gw.app.registry.whenGone(userId), `${userId} still has a socket or a broker subscription here`, ms)
}

export function redis (t: Tap): Redis {
  const client = new Redis(REDIS_URL)
  t.teardown(() => client.quit())
  return client
}

export function pgClient (t: Tap, schema: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL, options: `-c search_path=${schema}`, max: 2 })
  t.teardown(() => pool.end())
  return pool
}

export async function token (user: string, opts: { ttlS?: number, tokenType?: string, now?: number, secret?: string } = {}): Promise<string> {
  return await signDevToken(opts.secret ?? DEV_SECRET, user, opts)
}

export type Frame = Record<string, unknown> & { type: string, data?: Record<string, unknown> }

/** A WebSocket client that records every frame and lets a test await the next one of a kind. */
export class Client {
  readonly frames: Frame[] = []
  readonly closed: Promise<{ code: number, reason: string }>
  private waiters: Array<{ match: (f: Frame) => boolean, resolve: (f: Frame) => void, from: number }> = []

  private constructor (readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame
      this.frames.push(frame)
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true
        w.resolve(frame)
        return false
      })
    })
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })))
  }

  static async open (url: string, opts: { protocols?: string[], headers?: Record<string, string> } = {}): Promise<Client> {
    const socket = new WebSocket(url, opts.protocols ?? [], { headers: opts.headers })
    const client = new Client(socket)
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve())
      socket.once('error', reject)
    })
    return client
  }

  /** Opens a socket as `user` and waits for connection_established. */
  static async as (base: string, user: string, path = '/ws'): Promise<Client> {
    const client = await Client.open(`${base}${path}`, { headers: { authorization: `Bearer ${await token(user)}` } })
    await client.next('connection_established')
    return client
  }

  /** The first recorded frame matching, or the next one to arrive; fails after `ms`. */
  async next (match: string | ((f: Frame) => boolean), ms = 5000): Promise<Frame> {
    const test = typeof match === 'string' ? (f: Frame) => f.type === match : match
    const seen = this.frames.find(test)
    if (seen) return seen
    return await new Promise<Frame>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no frame matching ${String(match)} within ${ms} ms (got ${this.frames.map((f) => f.type).join(', ')})`)), ms)
      this.waiters.push({ match: test, resolve: (f) => { clearTimeout(timer); resolve(f) }, from: this.frames.length })
    })
  }

  /** Waits until `n` frames of the given types have arrived in all. */
  async count (types: readonly string[], n: number, ms = 10000): Promise<Frame[]> {
    const pick = (): Frame[] => this.frames.filter((f) => types.includes(f.type))
    if (pick().length >= n) return pick()
    await this.next(() => pick().length >= n, ms)
    return pick()
  }

  send (frame: unknown): void {
    this.socket.send(typeof frame === 'string' ? frame : JSON.stringify(frame))
  }

  async close (): Promise<void> {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(1000)
    await this.closed
  }
}

/** Opens a socket on `gw` with this token in `Authorization: Bearer` and waits for connection_established. */
export async function connect (gw: { ws: string }, jwt: string, headers: Record<string, string> = {}): Promise<Client> {
  const c = await Client.open(`${gw.ws}/ws`, { headers: { authorization: `Bearer ${jwt}`, ...headers } })
  await c.next('connection_established')
  return c
}

/** Opens a socket that must be refused: one error_message with `code`, then the close `closeCode`. */
export async function expectRefused (t: Pick<Test, 'equal'>, url: string, opts: Parameters<typeof Client.open>[1] = {}, code = 'AUTH_FAILED', closeCode = code === 'AUTH_UNAVAILABLE' ? 1011 : 1008): Promise<Frame> {
  const c = await Client.open(url, opts)
  const frame = await c.next('error_message')
  t.equal(frame.error_code, code, `error_message ${code}`)
  t.equal(c.frames.length, 1, 'nothing but the error frame')
  const { code: closed } = await c.closed
  t.equal(closed, closeCode, `closed with ${closeCode}`)
  return frame
}

/** Authorization header options for Client.open. */
export function bearer (jwt: string): { headers: Record<string, string> } {
  return { headers: { authorization: `Bearer ${jwt}` } }
}

let counter = 0
/** A valid execution context for `user` (ids long and specific enough to pass the placeholder rules). */
export function ctx (user: string, run = `run_${++counter}_${randomBytes(4).toString('hex')}`): Record<string, string> {
  return { user_id: user, thread_id: `thread_${run}`, run_id: run, request_id: `req_${run}` }
}

/** The five golden-path events of one run, in order. */
export function goldenRun (context: Record<string, string>): Array<Record<string, unknown>> {
  return [
    { type: 'agent_started', context, agent_name: 'supervisor', task_description: 'Processing request' },
    { type: 'agent_thinking', context, agent_name: 'supervisor', reasoning: 'Looking at the cost data', step_number: 1 },
    { type: 'tool_executing', context, agent_name: 'data_agent', tool_name: 'query_costs', parameters: { month: '2026-10' } },
    { type: 'tool_completed', context, agent_name: 'data_agent', tool_name: 'query_costs', results: { rows: 3 }, duration: 1500 },
    { type: 'agent_completed', context, agent_name: 'supervisor', status: 'completed', final_response: 'Here are 3 optimizations' }
  ]
}

export async function ingest (base: string, body: unknown, headers: Record<string, string> = { 'x-service-id': SERVICE.id, 'x-service-secret': SERVICE.secret }): Promise<{ status: number, body: Record<string, unknown> }> {
  const res = await fetch(`${base}/api/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

/**
 * Asks `check` until it is true, at most `tries` times `everyMs` apart. Only for conditions that have no event to
 * await (readiness after a fault, sampled load); it returns whether the condition was reached.
 */
export async function pollUntil (check: () => Promise<boolean>, tries = 100, everyMs = 20): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  return false
}
