// The local stack: the built gateway in production mode, the reference agent and the auth service, as child processes.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import pg from 'pg'
import { E2E_EMAILS, mintTokens, type Target } from './target.js'

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)))
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
const PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
/** The platform's auth service accepts only this X-Service-ID (contract section 1.2). */
const SERVICE_ID = 'netra-backend'
const GATEWAY_ID = 'agent-event-gateway'

interface Child {
  name: string
  proc: ChildProcess
  log: WriteStream
  logFile: string
  exited: Promise<number | null>
  /** Called with every line the child prints. */
  listeners: Array<(line: string) => void>
}

const children = new Set<Child>()
// Last resort if the suite dies: children never outlive it (synchronous, so it runs from 'exit').
process.on('exit', () => { for (const c of children) c.proc.kill('SIGKILL') })

function start (name: string, args: string[], env: Record<string, string>, logDir: string): Child {
  const proc = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const logFile = join(logDir, `${name}.log`)
  const log = createWriteStream(logFile)
  const listeners: Child['listeners'] = []
  for (const stream of [proc.stdout!, proc.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(`${line}\n`)
      for (const listener of listeners) listener(line)
    })
  }
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  const child = { name, proc, log, logFile, exited, listeners }
  children.add(child)
  exited.then(() => children.delete(child), () => undefined)
  return child
}

/** SIGTERM, then SIGKILL if it is still there after `graceMs`. */
async function stop (child: Child, graceMs = 8000): Promise<void> {
  if (child.proc.exitCode === null && child.proc.signalCode === null) {
    child.proc.kill('SIGTERM')
    let timer: NodeJS.Timeout | undefined
    const killed = new Promise<void>((resolve) => { timer = setTimeout(() => { child.proc.kill('SIGKILL'); resolve() }, graceMs) })
    await Promise.race([child.exited, killed])
    clearTimeout(timer)
    await child.exited
  }
  await new Promise((resolve) => child.log.end(resolve))
}

/** Resolves with the first line `pick` accepts; rejects if the child exits first or after `ms`. */
async function waitForLine<T> (child: Child, pick: (line: string) => T | undefined, ms: number): Promise<T> {
  return await new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${child.name} not ready within ${ms} ms (log: ${child.logFile})`)), ms)
    child.listeners.push((line) => {
      const value = pick(line)
      if (value !== undefined) { clearTimeout(timer); resolve(value) }
    })
    child.exited.then((code) => { clearTimeout(timer); reject(new Error(`${child.name} exited with ${String(code)} while starting:\n${tail(child.logFile)}`)) }, () => undefined)
  })
}

function tail (file: string, lines = 20): string {
  try { return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n') } catch { return '' }
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

const json = (line: string): Record<string, unknown> | undefined => {
  try { return JSON.parse(line) as Record<string, unknown> } catch { return undefined }
}

/** Deletes the stack's schema and every Redis key under its prefix. */
async function cleanup (schema: string, prefix: string): Promise<void> {
  const db = new pg.Client({ connectionString: PG_URL })
  await db.connect()
  try { await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`) } finally { await db.end() }
  const redis = new Redis(REDIS_URL)
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      if (keys.length > 0) await redis.del(...keys)
      cursor = next
    } while (cursor !== '0')
  } finally { await redis.quit() }
}

/**
 * Builds dist/ (unless E2E_SKIP_BUILD=1), then starts the auth service (test/fixtures/auth-service.ts, with its e2e
 * endpoint), the gateway (`node dist/server.js`, NODE_ENV=production, AUTH_MODE=remote) and the reference agent
 * (`node dist/agent/worker.js`), on 127.0.0.1's Redis and PostgreSQL under a schema and key prefix of their own.
 */
export async function startLocalStack (log: (line: string) => void): Promise<Target> {
  const tag = randomBytes(4).toString('hex')
  const schema = `e2e_${tag}`
  const prefix = `e2e:${tag}:`
  const logDir = mkdtempSync(join(tmpdir(), 'aeg-e2e-'))
  const secret = (): string => randomBytes(24).toString('base64url')
  const jwtSecret = secret()
  // Three credentials, three holders: agent backends (ingest), the operator (revocation), the gateway with the auth service.
  const serviceSecret = secret()
  const adminSecret = secret()
  const authServiceSecret = secret()
  const bypassKey = secret()

  if (process.env.E2E_SKIP_BUILD !== '1') {
    log('local stack: building dist/ (tsc -p tsconfig.build.json)')
    execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' })
  }
  const stopAll = async (opts: { keepLogs?: boolean } = {}): Promise<void> => {
    await Promise.all([...children].map(async (c) => await stop(c)))
    await cleanup(schema, prefix).catch((err: Error) => log(`local stack: cleanup failed: ${err.message}`))
    if (opts.keepLogs === true) log(`local stack: logs kept in ${logDir}`)
    else rmSync(logDir, { recursive: true, force: true })
  }
  try {
    const auth = start('auth-service', ['--import', 'tsx', 'test/fixtures/auth-service.ts'], {
      AUTH_JWT_SECRET: jwtSecret, AUTH_SERVICE_ID: GATEWAY_ID, AUTH_SERVICE_SECRET: authServiceSecret, E2E_OAUTH_SIMULATION_KEY: bypassKey
    }, logDir)
    const authUrl = await waitForLine(auth, (line) => json(line)?.listening as string | undefined, 15_000)

    const port = await freePort()
    const gateway = start('gateway', ['dist/server.js'], {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      INSTANCE_ID: `e2e-${tag}`,
      REDIS_URL,
      DATABASE_URL: PG_URL,
      DATABASE_SCHEMA: schema,
      REDIS_KEY_PREFIX: prefix,
      AUTH_MODE: 'remote',
      AUTH_SERVICE_URL: authUrl,
      AUTH_SERVICE_ID: GATEWAY_ID,
      AUTH_SERVICE_SECRET: authServiceSecret,
      SERVICE_ID,
      SERVICE_SECRET: serviceSecret,
      ADMIN_SECRET: adminSecret,
      ALLOWED_ORIGINS: 'https://app.e2e.example.com'
    }, logDir)
    await waitForLine(gateway, (line) => String(json(line)?.msg ?? '').startsWith('Server listening') ? true : undefined, 30_000)

    // Run requests wait in their Redis Stream, so the agent need not be up before the first message.
    start('agent', ['dist/agent/worker.js'], { REDIS_URL, REDIS_KEY_PREFIX: prefix, AGENT_CONSUMER: `e2e-agent-${tag}` }, logDir)
    log(`local stack: auth ${authUrl}, gateway http://127.0.0.1:${port} (schema ${schema}, prefix ${prefix}), agent; logs in ${logDir}`)
    return {
      wsUrl: `ws://127.0.0.1:${port}/ws`,
      apiUrl: `http://127.0.0.1:${port}`,
      authUrl,
      label: 'local stack: node dist/server.js (NODE_ENV=production, AUTH_MODE=remote), node dist/agent/worker.js, test/fixtures/auth-service.ts',
      tokens: async (n) => await mintTokens(authUrl, bypassKey, E2E_EMAILS.slice(0, n)),
      stop: stopAll
    }
  } catch (err) {
    await stopAll({ keepLogs: true })
    throw err
  }
}
