// `npm run soak`: 10,000 sockets for 10 minutes of steady fanout against two gateways; memory at start and end,
// sockets left after the clients close (leaks), events lost and doubled. Not part of npm test.
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createSchema, startRedis, stopRedis } from './infra.js'
import { installCleanup, stopAll } from './procs.js'
import { Session } from './session.js'

const { values } = parseArgs({
  options: {
    sockets: { type: 'string', default: '10000' },
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string', default: '1000' },
    'pg-url': { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/test' }
  }
})
const sockets = Number(values.sockets)
const minutes = Number(values.minutes)
const rate = Number(values.rate)
const benchDist = dirname(fileURLToPath(import.meta.url))
const root = resolve(benchDist, '..', '..')
const runDir = join(root, 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-soak`)
mkdirSync(runDir, { recursive: true })
const say = (line: string): void => { process.stdout.write(`${line}\n`) }

/** One Prometheus sample per server, summed. */
async function metric (urls: string[], name: string): Promise<number> {
  let sum = 0
  for (const url of urls) {
    const text = await (await fetch(`${url}/metrics`)).text()
    const line = text.split('\n').find((l) => l.startsWith(`${name} `))
    sum += line === undefined ? 0 : Number(line.slice(name.length + 1))
  }
  return sum
}

const redis = await startRedis(join(runDir, 'redis.log'))
const schema = await createSchema(values['pg-url'], `bench_soak_${randomBytes(4).toString('hex')}`)
installCleanup(async () => { await stopAll(); await stopRedis(redis); await schema.drop() })
const session = new Session({
  stack: 'gateway',
  sockets,
  loadgens: 2,
  placement: 'mixed',
  seed: 1,
  batch: 50,
  producers: 64,
  addressOffset: 0,
  redisUrl: redis.url,
  pgUrl: schema.url,
  pgSchema: schema.schema,
  sioMode: 'classic',
  cpuProfDir: null,
  logDir: runDir,
  benchDist,
  root,
  logLevel: 'warn',
  pinServers: false,
  quietWaitS: 0
}, redis.child)
const mib = (bytes: number): string => `${(bytes / 1048576).toFixed(1)} MiB`
try {
  await session.start()
  const urls = session.serverUrls()
  const snapshot = async (): Promise<{ rss: number, heap: number, sockets: number }> => ({
    rss: await metric(urls, 'aeg_process_resident_memory_bytes'),
    heap: await metric(urls, 'aeg_nodejs_heap_size_used_bytes'),
    sockets: await metric(urls, 'aeg_sockets')
  })
  const start = await snapshot()
  say(`soak: ${session.connected} sockets connected (${session.connectFailed} failed), ${minutes} min at ${rate} events/s`)
  let expected = 0; let lost = 0; let dup = 0; let closed = 0
  for (let m = 1; m <= minutes; m++) {
    const r = await session.round('fanout', rate, 60, 0)
    expected += r.expected; lost += r.lost; dup += r.duplicates; closed += r.closedSockets
    const now = await snapshot()
    say(`  minute ${m}: delivered ${r.messagesPerS.toFixed(0)} msg/s, p99 ${r.latency.p99.toFixed(1)} ms, lost ${r.lost}, dup ${r.duplicates}, RSS ${mib(now.rss)}, heap ${mib(now.heap)}, sockets ${now.sockets}`)
  }
  const end = await snapshot()
  await session.closeClients()
  // The servers notice the closes asynchronously: ask until the count settles (bounded).
  let left = await metric(urls, 'aeg_sockets')
  for (let i = 0; i < 40 && left > 0; i++) { await new Promise((resolve) => setTimeout(resolve, 250)); left = await metric(urls, 'aeg_sockets') }
  const lines = [
    '| | start | end |', '|---|---|---|',
    `| sockets | ${start.sockets} | ${end.sockets} |`,
    `| RSS (two servers) | ${mib(start.rss)} | ${mib(end.rss)} |`,
    `| heap used (two servers) | ${mib(start.heap)} | ${mib(end.heap)} |`,
    '',
    `events expected ${expected}, lost ${lost}, duplicated ${dup}; sockets closed by the servers during the run ${closed}; sockets left after every client closed (leaked): ${left}`
  ]
  say(lines.join('\n'))
  writeFileSync(join(runDir, 'summary.md'), `${lines.join('\n')}\n`)
} finally {
  await session.stop()
  await stopRedis(redis)
  await schema.drop()
}
