// What one connected socket keeps alive on the heap, per stack: V8 heap snapshots of one server before and after
// the sockets connect, diffed by constructor. `npm run bench:heap -- [--sockets N] [--stacks gateway,baseline]`
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { serverOf, STACKS, type Stack } from './common.js'
import { createSchema, startRedis, stopRedis } from './infra.js'
import { adoptPidFile, installCleanup, stopAll, waitFor } from './procs.js'
import { table } from './report.js'
import { Session } from './session.js'

const benchDist = dirname(fileURLToPath(import.meta.url))
const root = resolve(benchDist, '..', '..')

interface Snapshot { snapshot: { meta: { node_fields: string[], node_types: [string[]] } }, nodes: number[], strings: string[] }

/** Self size and count per "type:name" (constructor name for objects, one bucket for all strings). */
function census (file: string): Map<string, { bytes: number, count: number }> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot
  const fields = s.snapshot.meta.node_fields
  const types = s.snapshot.meta.node_types[0]
  const [iType, iName, iSize] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [number, number, number]
  const out = new Map<string, { bytes: number, count: number }>()
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const type = types[s.nodes[i + iType]!] ?? '?'
    const name = type === 'string' || type === 'concatenated string' || type === 'sliced string' ? '(strings)' : s.strings[s.nodes[i + iName]!] ?? '?'
    const key = `${type}:${name}`
    const e = out.get(key) ?? { bytes: 0, count: 0 }
    e.bytes += s.nodes[i + iSize]!
    e.count++
    out.set(key, e)
  }
  return out
}

/** SIGWINCH (the gateway's close-with-grace treats SIGUSR2 as a shutdown) → node writes a .heapsnapshot into --diagnostic-dir; done when the file stops growing. */
async function snapshot (pid: number, dir: string): Promise<string> {
  const before = new Set(readdirSync(dir))
  process.kill(pid, 'SIGWINCH')
  let file = ''
  let size = -1
  await waitFor('heap snapshot', async () => {
    const fresh = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f))
    if (fresh === undefined) return false
    file = join(dir, fresh)
    const now = statSync(file).size
    const stable = now > 0 && now === size
    size = now
    return stable
  }, 120000, undefined, 1000)
  return file
}

async function main (): Promise<void> {
  const { values } = parseArgs({ options: { sockets: { type: 'string' }, stacks: { type: 'string' }, 'pg-url': { type: 'string' } } })
  const sockets = Number(values.sockets ?? 2000)
  const stacks = (values.stacks ?? 'gateway,baseline').split(',') as Stack[]
  if (!stacks.every((s) => STACKS.includes(s))) throw new Error(`--stacks: one of ${STACKS.join(', ')}`)
  if (!existsSync(join(root, 'dist', 'server.js'))) throw new Error('dist/server.js is missing: run `npm run build`')
  const out = join(root, 'bench', 'results', `${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}-heap`)
  mkdirSync(out, { recursive: true })
  adoptPidFile(join(root, 'bench', 'results', 'children.pids'))
  const redis = await startRedis(join(out, 'redis.log'))
  const schema = await createSchema(values['pg-url'] ?? 'postgres://postgres@127.0.0.1:5432/test', `bench_${randomBytes(4).toString('hex')}`)
  const teardown = async (): Promise<void> => { await stopAll(); await stopRedis(redis); await schema.drop().catch(() => undefined) }
  installCleanup(teardown)
  try {
    for (const [n, stack] of stacks.entries()) {
      const dir = join(out, stack)
      mkdirSync(dir, { recursive: true })
      const session = new Session({
        stack,
        sockets,
        loadgens: 1,
        placement: 'mixed',
        seed: 7,
        batch: 50,
        producers: 64,
        addressOffset: n + 7,
        redisUrl: redis.url,
        pgUrl: schema.url,
        pgSchema: schema.schema,
        sioMode: 'classic',
        cpuProfDir: null,
        logDir: out,
        benchDist,
        root,
        logLevel: 'warn',
        pinServers: false,
        quietWaitS: 0,
        nodeArgs: ['--heapsnapshot-signal=SIGWINCH', `--diagnostic-dir=${dir}`]
      }, redis.child)
      let first = ''
      let pid = 0
      try {
        await session.start(async (pids) => { pid = pids[0]!; first = await snapshot(pid, dir) })
        await sleep(2000)
        const second = await snapshot(pid, dir)
        // Server "a" holds the sockets that serverOf() sends to server 0.
        let onA = 0
        for (let u = 0; u < sockets / 2; u++) for (let k = 0; k < 2; k++) if (serverOf(u, k, 'mixed') === 0) onA++
        const [a, b] = [census(first), census(second)]
        const rows = [...b.entries()].map(([key, e]) => ({ key, bytes: e.bytes - (a.get(key)?.bytes ?? 0), count: e.count - (a.get(key)?.count ?? 0) }))
          .filter((r) => r.bytes > 0).sort((x, y) => y.bytes - x.bytes)
        const total = rows.reduce((s, r) => s + r.bytes, 0)
        process.stdout.write(`\n## ${stack}: live heap added per socket (${onA} sockets on the instance): ${(total / onA).toFixed(0)} bytes\n\n`)
        process.stdout.write(table(['type:name', 'bytes/socket', 'objects/socket'], rows.slice(0, 20).map((r) => [r.key, (r.bytes / onA).toFixed(0), (r.count / onA).toFixed(2)])) + '\n')
      } finally { await session.stop() }
    }
  } finally { await teardown() }
}

main().catch(async (err: unknown) => {
  process.stderr.write(`heap census failed: ${(err as Error).stack ?? String(err)}\n`)
  await stopAll()
  process.exit(1)
})
