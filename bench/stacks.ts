// Starts the two server processes of one stack (gateway, baseline or Socket.IO) and says how to reach them.
import { join } from 'node:path'
import { KEY_PREFIX, type Stack } from './common.js'
import { freePort, spawnChild, waitFor, type Child } from './procs.js'

export const SERVICE = { id: 'bench-agent-worker', secret: 'bench-service-secret-0123456789' }
export const DEV_SECRET = 'bench-only-dev-jwt-secret-0123456789-abcdef'

export interface StackOptions {
  redisUrl: string
  pgUrl: string
  pgSchema: string
  sioMode: 'classic' | 'sharded'
  /** Directory for the gateways' --cpu-prof output; no profiling when null. */
  cpuProfDir: string | null
  logDir: string
  benchDist: string
  root: string
  logLevel: string
  /** Pin both servers to CPU 0 (taskset), leaving the other core to Redis and the load. */
  pinServers: boolean
  /** Extra node flags for every server process (the heap census adds --heapsnapshot-signal). */
  nodeArgs?: string[]
}

export interface RunningStack {
  stack: Stack
  servers: Array<{ child: Child, port: number, ws: string, http: string }>
}

export function pgAppName (schema: string): string {
  return `bench-gateway-${schema}`
}

async function httpOk (url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
  return res.ok
}

function command (stack: Stack, o: StackOptions): { args: string[], env: Record<string, string> } {
  const guard = join(o.benchDist, 'orphan-guard.js')
  if (stack === 'gateway') {
    // Production mode (Redis + PostgreSQL) with dev tokens: NODE_ENV=test and the opt-in, since production refuses dev auth.
    const prof = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []
    return {
      args: [...prof, ...(o.nodeArgs ?? []), '--import', guard, join(o.root, 'dist', 'server.js')],
      env: {
        NODE_ENV: 'test',
        LOG_LEVEL: o.logLevel,
        REDIS_URL: o.redisUrl,
        REDIS_KEY_PREFIX: KEY_PREFIX,
        DATABASE_URL: o.pgUrl,
        DATABASE_SCHEMA: o.pgSchema,
        AUTH_MODE: 'dev',
        ALLOW_DEV_AUTH: 'true',
        DEV_JWT_SECRET: DEV_SECRET,
        SERVICE_ID: SERVICE.id,
        SERVICE_SECRET: SERVICE.secret,
        ADMIN_SECRET: 'bench-admin-secret-0123456789',
        // The load opens thousands of sockets at once: the production limits would (rightly) shed them.
        UPGRADE_RATE: '1000000',
        MAX_SOCKETS: '1000000',
        WS_MESSAGE_RATE: '100000',
        INGEST_MAX_BATCH: '500',
        // node-pg reads it: the bench finds the gateways' PostgreSQL backends by it, to count their CPU.
        PGAPPNAME: pgAppName(o.pgSchema)
      }
    }
  }
  const file = stack === 'baseline' ? 'baseline-server.js' : 'sio-server.js'
  return { args: [...(o.nodeArgs ?? []), '--import', guard, join(o.benchDist, file)], env: { REDIS_URL: o.redisUrl, SIO_ADAPTER: o.sioMode } }
}

/** Starts instance after instance: the gateways migrate the schema at boot, and two at once would race. */
export async function startStack (stack: Stack, o: StackOptions): Promise<RunningStack> {
  const servers: RunningStack['servers'] = []
  for (const instance of ['a', 'b']) {
    const port = await freePort()
    const { args, env } = command(stack, o)
    // taskset execs node in place: the pid we track is still the server's.
    const [cmd, argv] = o.pinServers ? ['taskset', ['-c', '0', process.execPath, ...args]] : [process.execPath, args]
    const child = spawnChild(`${stack}-${instance}`, cmd, argv, {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), INSTANCE_ID: `${stack}-${instance}`, ...env },
      logFile: join(o.logDir, `${stack}-${instance}.log`),
      ipc: true
    })
    const http = `http://127.0.0.1:${port}`
    await waitFor(`${stack}-${instance} to be ready`, () => httpOk(stack === 'gateway' ? `${http}/health/ready` : `${http}/health`), 30000, child)
    servers.push({ child, port, http, ws: `ws://127.0.0.1:${port}` })
  }
  return { stack, servers }
}
