// The bench's options: CLI flags, each also settable as BENCH_<NAME> in the environment; --full is the setup.
import { parseArgs } from 'node:util'
import { INGEST_SCENARIOS, SCENARIOS, STACKS, type Placement, type Scenario, type Stack } from './common.js'
import { HEARTBEAT_INTERVAL_S, LOG_LEVEL } from './gateway-defaults.js'

export type Mode = 'compare' | 'saturate' | 'profile'

export interface Options {
  mode: Mode
  stacks: Stack[]
  scenarios: Scenario[]
  sockets: number
  rate: number
  ingestRate: number
  durationS: number
  warmupS: number
  repeat: number
  satStart: number
  ingestSatStart: number
  satFactor: number
  satSteps: number
  sioAdapter: 'classic' | 'sharded'
  placement: Placement
  loadgens: number
  batch: number
  producers: number
  pgUrl: string
  out: string
  logLevel: string
  deadlineMin: number
  seed: number
  pinServers: boolean
  quietWaitS: number
  /** Sockets dropped and resumed at once in the storm round (compare and profile, gateway fanout); 0: no storm round. */
  storm: number
  stormRate: number
}

/** A measured window spans two liveness sweeps at least, so every run contains the gateway's periodic work. */
export const DEFAULT_DURATION_S = 2 * HEARTBEAT_INTERVAL_S

export const USAGE = `npm run bench -- [flags]        (each flag also as env BENCH_<FLAG>, e.g. BENCH_SOCKETS=4000)
  --mode compare|saturate|profile   compare: every stack at --rate, --repeat times (default)
                                    saturate: per stack and scenario, highest clean rate (p99 < 100 ms, nothing lost),
                                    then gateway and baseline fanout at half the baseline's clean rate
                                    profile: the gateway under node --cpu-prof, each scenario at its rate; summary printed
  --stacks gateway,baseline,socketio
  --scenarios fanout,ingest-batch,ingest-single,ingest-stream   (default: all; "ingest" = the three ingest ones)
                    fanout: toWire frames (offsets contiguous per user) published into Redis as the gateway's
                    broker does; ingest-batch: POST /api/v1/events, --batch events per request (or what 50 ms gathered), alternating gateways;
                    ingest-single: one event per POST from --producers keep-alive connections; ingest-stream: XADD
                    one entry per event to the gateway's ingest stream. Ingest runs the gateway only.
  --sockets C       sockets, over C/2 users (default 2000)
  --rate R          fanout events/s (default 2000)
  --ingest-rate R   events/s of each ingest scenario (default 2000, the p99 target rate)
  --duration S      measured seconds per run (default ${DEFAULT_DURATION_S}: twice the gateway's HEARTBEAT_INTERVAL_S), after --warmup S (default 3)
  --repeat N        repetitions of compare, stacks interleaved (default 3)
  --sat-start R --sat-factor F --sat-steps N   saturation search: R, R*F, ... then 2 bisections (defaults 2000, 1.5, 7)
  --ingest-sat-start R              first rate of each ingest scenario's search (default 1000)
  --sio-adapter classic|sharded     Socket.IO's Redis adapter (default classic)
  --placement mixed|same|split      a user's 2 sockets: same server, split, or half of users each (default mixed)
  --loadgens N      load generator processes (default 2)
  --batch N         events per POST of ingest-batch (default 50)
  --producers N     concurrent producers: connections of ingest-single, requests in flight of ingest-batch (default 64)
  --pg-url URL      PostgreSQL (default postgres://postgres@127.0.0.1:5432/test)
  --out DIR         results and logs (default bench/results)
  --log-level L     the servers' LOG_LEVEL (default: the gateway's own, ${LOG_LEVEL})
  --quiet-wait S    before each round, wait up to S s for other processes to use < 0.25 core (default 30)
  --deadline-min M  hard stop for the whole bench (default 60; 240 with --full)
  --seed N          the event-to-user hash's seed (default 7)
  --storm N         compare and profile, gateway fanout: after the fanout rounds, one round at --storm-rate in which N sockets
                    (one per user, spread over users and both servers) are dropped at once and all reconnect at
                    once resuming with since/epoch; reports back (welcome) and caught up (every event up to the
                    welcome's position) p50/p99/max, failed, lost, duplicates (default: half of --sockets, at most
                    that; 0: no storm round)
  --storm-rate R    events/s during the storm round (default 2000), sent as HTTP batches (ingest-batch): a resume
                    is checked against PostgreSQL, which the fanout scenario's frames never reach
  --pin-servers     pin both servers to CPU 0 with taskset (servers on one core, the load on the other)
  --full            the target setup: 10,000 sockets, 5,000 users, fanout at 10,000 events/s, 5 s warm-up
  --help, -h        this text
Every server runs with the gateway's defaults (heartbeats included); only UPGRADE_RATE, MAX_SOCKETS and
CLIENT_UPGRADES_MAX (per address: the load has 8) are raised so the load can connect its sockets at once. Each server's event-loop delay (p99, max) is reported for every run.`

const FLAGS = {
  mode: 'compare',
  stacks: STACKS.join(','),
  scenarios: SCENARIOS.join(','),
  sockets: '2000',
  rate: '2000',
  'ingest-rate': '2000',
  duration: String(DEFAULT_DURATION_S),
  warmup: '3',
  repeat: '3',
  'sat-start': '2000',
  'ingest-sat-start': '1000',
  'sat-factor': '1.5',
  'sat-steps': '7',
  'sio-adapter': 'classic',
  placement: 'mixed',
  loadgens: '2',
  batch: '50',
  producers: '64',
  'pg-url': 'postgres://postgres@127.0.0.1:5432/test',
  out: 'bench/results',
  'log-level': LOG_LEVEL,
  'quiet-wait': '30',
  'deadline-min': '60',
  seed: '7',
  storm: 'half',
  'storm-rate': '2000'
} as const
type Flag = keyof typeof FLAGS

// The --full preset sits between the defaults and what the user sets: explicit flags still win.
const FULL: Partial<Record<Flag, string>> = { sockets: '10000', rate: '10000', warmup: '5', 'sat-start': '5000', 'deadline-min': '240' }

function envName (flag: string): string {
  return `BENCH_${flag.toUpperCase().replaceAll('-', '_')}`
}

function oneOf<T extends string> (flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new Error(`--${flag} must be one of ${allowed.join(', ')} (got ${value})`)
  return value as T
}

function count (flag: string, value: string): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${flag} must be an integer >= 0 (got ${value})`)
  return n
}

function positive (flag: string, value: string, integer = true): number {
  const n = Number(value)
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) throw new Error(`--${flag} must be a positive ${integer ? 'integer' : 'number'} (got ${value})`)
  return n
}

export function parseOptions (argv: string[], env: NodeJS.ProcessEnv): Options | 'help' {
  const spec = Object.fromEntries(Object.keys(FLAGS).map((k) => [k, { type: 'string' as const }]))
  const { values } = parseArgs({ args: argv, options: { ...spec, full: { type: 'boolean' }, 'pin-servers': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true })
  if (values.help === true) return 'help'
  const full = values.full === true || env.BENCH_FULL === '1'
  const get = (flag: Flag): string => {
    const given = (values as Record<string, string | undefined>)[flag] ?? env[envName(flag)]
    return given ?? (full ? FULL[flag] : undefined) ?? FLAGS[flag]
  }
  const stacks = get('stacks').split(',').map((s) => oneOf('stacks', s.trim(), STACKS))
  const named = get('scenarios').split(',').flatMap((s): readonly Scenario[] => s.trim() === 'ingest' ? INGEST_SCENARIOS : [oneOf('scenarios', s.trim(), SCENARIOS)])
  const scenarios = SCENARIOS.filter((s) => named.includes(s))
  const sockets = positive('sockets', get('sockets'))
  if (sockets % 2 !== 0) throw new Error('--sockets must be even: C sockets over C/2 users')
  const storm = get('storm') === 'half' ? sockets / 2 : count('storm', get('storm'))
  if (storm > sockets / 2) throw new Error(`--storm must be at most half of --sockets (${sockets / 2}): every user keeps one socket live`)
  return {
    mode: oneOf('mode', get('mode'), ['compare', 'saturate', 'profile'] as const),
    stacks,
    scenarios,
    sockets,
    rate: positive('rate', get('rate')),
    ingestRate: positive('ingest-rate', get('ingest-rate')),
    durationS: positive('duration', get('duration'), false),
    warmupS: positive('warmup', get('warmup'), false),
    repeat: positive('repeat', get('repeat')),
    satStart: positive('sat-start', get('sat-start')),
    ingestSatStart: positive('ingest-sat-start', get('ingest-sat-start')),
    satFactor: positive('sat-factor', get('sat-factor'), false),
    satSteps: positive('sat-steps', get('sat-steps')),
    sioAdapter: oneOf('sio-adapter', get('sio-adapter'), ['classic', 'sharded'] as const),
    placement: oneOf('placement', get('placement'), ['mixed', 'same', 'split'] as const),
    loadgens: positive('loadgens', get('loadgens')),
    batch: positive('batch', get('batch')),
    producers: positive('producers', get('producers')),
    pgUrl: get('pg-url'),
    out: get('out'),
    logLevel: get('log-level'),
    deadlineMin: positive('deadline-min', get('deadline-min'), false),
    seed: positive('seed', get('seed')),
    quietWaitS: Number(get('quiet-wait')),
    storm,
    stormRate: positive('storm-rate', get('storm-rate')),
    pinServers: values['pin-servers'] === true || env.BENCH_PIN_SERVERS === '1'
  }
}
