// Starts the two server processes of one stack (gateway, baseline or Socket.IO) and says how to reach them.
import { join } from 'node:path'
import { KEY_PREFIX, type Stack } from './common.js'
import { freePort, spawnChild, stopChild, waitFor, type Child } from './procs.js'

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

/** Unique to this bench's schema, so the PostgreSQL backends of other gateways on the machine are never counted. */
export function gatewayInstanceId (schema: string, instance: string): string {
  return `gateway-${instance}-${schema}`
}

/**
 * The application_name of the gateways' PostgreSQL connections: the gateway names its pool after its instance
 * (`aeg:<INSTANCE_ID>`); PGAPPNAME covers a pool that leaves the name to node-pg.
 */
export function pgAppNames (schema: string): string[] {
  return [...['a', 'b'].map((i) => `aeg:${gatewayInstanceId(schema, i)}`), `bench-gateway-${schema}`]
}

async function httpOk (url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
  return res.ok
}

function command (stack: Stack, o: StackOptions): { args: string[], env: Record<string, string> } {
  // Every server, whatever its stack: the orphan guard, then the event-loop delay probe the bench reads over IPC.
  const preload = ['--import', join(o.benchDist, 'orphan-guard.js'), '--import', join(o.benchDist, 'loop-delay.js')]
  if (stack === 'gateway') {
    // Production mode (Redis + PostgreSQL) with dev tokens: NODE_ENV=test and the opt-in, since production refuses dev auth.
    const prof = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${o.cpuProfDir}`] : []
    return {
      args: [...prof, ...(o.nodeArgs ?? []), ...preload, join(o.root, 'dist', 'server.js')],
      env: {
        NODE_ENV: 'test',
        ...(process.env.AEG_PROBE ? { AEG_PROBE: process.env.AEG_PROBE } : {}),
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
        // Everything else at the gateway's defaults (heartbeats, buffers, batches). Only the admission of new
        // sockets is opened up: the load connects thousands at once, which the production limits would (rightly) shed.
        UPGRADE_RATE: '1000000',
        MAX_SOCKETS: '1000000',
        // Per client address: the load's thousands of sockets come from 8 addresses, a storm's clients from thousands.
        CLIENT_UPGRADES_MAX: '1000000',
        // node-pg reads it when the pool names none: the bench finds the gateways' backends by name, to count their CPU.
        PGAPPNAME: pgAppNames(o.pgSchema).at(-1)!
      }
    }
  }
  const file = stack === 'baseline' ? 'baseline-server.js' : 'sio-server.js'
  return { args: [...(o.nodeArgs ?? []), ...preload, join(o.benchDist, file)], env: { REDIS_URL: o.redisUrl, SIO_ADAPTER: o.sioMode } }
}

/**
 * Starts both instances at the same time, as Cloud Run starts its min-instances: on a fresh schema the gateways
 * migrate it together at boot, and the bench does not work around a race there.
 */
export async function startStack (stack: Stack, o: StackOptions): Promise<RunningStack> {
  const servers = await Promise.allSettled(['a', 'b'].map(async (instance) => {
    const port = await freePort()
    const { args, env } = command(stack, o)
    // taskset execs node in place: the pid we track is still the server's.
    const [cmd, argv] = o.pinServers ? ['taskset', ['-c', '0', process.execPath, ...args]] : [process.execPath, args]
    const child = spawnChild(`${stack}-${instance}`, cmd, argv, {
      env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), INSTANCE_ID: stack === 'gateway' ? gatewayInstanceId(o.pgSchema, instance) : `${stack}-${instance}`, ...env },
      logFile: join(o.logDir, `${stack}-${instance}.log`),
      ipc: true
    })
    const http = `http://127.0.0.1:${port}`
    try {
      await waitFor(`${stack}-${instance} to be ready`, () => httpOk(stack === 'gateway' ? `${http}/health/ready` : `${http}/health`), 30000, child)
    } catch (err) {
      throw new Error(`${(err as Error).message} (started together with its peer; see ${join(o.logDir, `${stack}-${instance}.log`)})`)
    }
    return { child, port, http, ws: `ws://127.0.0.1:${port}` }
  }))
  const failed = servers.filter((s): s is PromiseRejectedResult => s.status === 'rejected')
  const up = servers.filter((s): s is PromiseFulfilledResult<RunningStack['servers'][number]> => s.status === 'fulfilled').map((s) => s.value)
  if (failed.length > 0) {
    await Promise.all(up.map((s) => stopChild(s.child, 5000)))
    throw new Error(failed.map((f) => String((f.reason as Error).message)).join('; '))
  }
  return { stack, servers: up }
}
