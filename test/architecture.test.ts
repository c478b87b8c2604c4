// Architecture: the dependency rules of .dependency-cruiser.cjs, one socket writer, one registry; and proof each rule fires.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { cruiseWithRules, describe, INFRA, infraUsage, registryFindings, ROOT, serverFiles, SOCKET_WRITER, socketWrites, violations } from '../scripts/architecture.js'

t.test('src/ and e2e/ follow every dependency rule', async (t) => {
  const result = await cruiseWithRules(['src', 'e2e'])
  // A cruise that found nothing would pass every rule: make sure it read the code.
  t.ok(result.summary.totalCruised > 100, `cruised ${result.summary.totalCruised} modules`)
  const broken = violations(result)
  for (const v of broken) t.fail(describe(v), { rule: v.rule, why: v.comment })
  t.equal(broken.length, 0, 'no violations')
  const usage = new Map([...infraUsage(result)].map(([name, list]) => [name, list.filter((m) => m.startsWith('src/'))]))
  t.same(usage.get('ioredis'), ['src/agent/worker.ts', 'src/plugins/external/redis.ts'], 'ioredis: the Redis plugin and the separate worker program')
  t.same(usage.get('pg'), ['src/plugins/external/postgres.ts'], 'pg: the postgres plugin only')
  t.same(usage.get('@fastify/websocket'), ['src/plugins/external/websocket.ts'], '@fastify/websocket: its plugin only')
})

t.test('only the registry writes to server sockets', async (t) => {
  const writes = socketWrites(serverFiles())
  const outside = writes.filter((w) => w.file !== SOCKET_WRITER)
  for (const w of outside) t.fail(`socket write outside the registry: ${w.file}:${w.line}: ${w.text}`)
  t.equal(outside.length, 0, `no socket writes outside ${SOCKET_WRITER}`)
  // The scanner sees the registry's own writes: it would see anyone else's.
  t.ok(writes.some((w) => w.text.includes('socket.send(')), 'the scanner finds the registry\'s sends')
  t.ok(writes.some((w) => w.text.includes('.terminate()')), 'and its terminates')
})

t.test('there is one registry and no socket-manager factory', async (t) => {
  const found = registryFindings(serverFiles())
  for (const f of found) t.fail(`${f.file}:${f.line}: ${f.why}`)
  t.equal(found.length, 0, 'one ConnectionRegistry, created in the fanout plugin; no other socket manager')
})

t.test('every rule fires on a tree that breaks it, naming the file and the rule', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aeg-arch-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const put = (path: string, text: string): void => {
    mkdirSync(dirname(join(dir, path)), { recursive: true })
    writeFileSync(join(dir, path), text)
  }
  put('package.json', JSON.stringify({ name: 'fixture', type: 'module', dependencies: { ioredis: '*', pg: '*', jose: '*' }, devDependencies: { ws: '*' } }))
  put('tsconfig.json', readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'))
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
  put('src/config.ts', 'export const c = 1\n')
  put('src/plugins/external/redis.ts', 'export const x = 1\n')
  put('src/routes/bad.ts', "import { Redis } from 'ioredis'\nimport { x } from '../plugins/external/redis.js'\nexport const y = [Redis, x]\n")
  put('src/plugins/app/sessions/cache.ts', "import pg from 'pg'\nimport WebSocket from 'ws'\nexport const z = [pg, WebSocket]\n")
  put('src/client/sdk.ts', "import { c } from '../config.js'\nexport const s = c\n")
  put('src/a.ts', "import { b } from './b.js'\nexport const a = (): unknown => b\n")
  put('src/b.ts', "import { a } from './a.js'\nexport const b = (): unknown => a\n")
  put('src/missing.ts', "import { q } from './nowhere.js'\nexport const m = q\n")
  put('src/uses-hoisted.ts', "import fp from 'fastify-plugin'\nexport const h = fp\n")
  put('e2e/check.ts', "import { c } from '../src/config.js'\nexport const e = c\n")
  put('src/services/work.ts', "import { r } from '../routes/list.js'\nexport const w = r\n")
  put('src/routes/list.ts', 'export const r = 1\n')
  put('src/plugins/app/store/uses-service.ts', "import { w } from '../../../services/work.js'\nexport const u = w\n")
  put('src/plugins/external/uses-app.ts', "import { u } from '../app/store/uses-service.js'\nexport const v = u\n")
  put('src/plugins/app/fanout/memory-broker.ts', 'export const mb = 1\n')
  put('src/plugins/app/fanout/index.ts', "import { mb } from './memory-broker.js'\nexport const f = mb\n")
  put('src/protocol/uses-plugin.ts', "import { u } from '../plugins/app/store/uses-service.js'\nexport const p = u\n")
  put('src/services/manager.ts', [
    "import type { WebSocket } from 'ws'",
    'export class WebSocketManager { readonly sockets = new Set<WebSocket>() }',
    'export function createWebSocketManager (): WebSocketManager { return new WebSocketManager() }',
    'export function bye (socket: WebSocket): void { socket.close(1000) }',
    "// socket.send('a comment is not a write')",
    ''
  ].join('\n'))

  const found = violations(await cruiseWithRules(['src', 'e2e'], dir)).map(describe)
  const expect = (rule: string, file: string): void => {
    t.ok(found.some((line) => line.startsWith(`${rule}: ${file} → `)), `${rule} names ${file}`)
  }
  expect('routes-not-to-infrastructure', 'src/routes/bad.ts')
  expect('ioredis-only-in-redis-modules', 'src/routes/bad.ts')
  expect('pg-only-in-store', 'src/plugins/app/sessions/cache.ts')
  expect('ws-only-in-socket-modules', 'src/plugins/app/sessions/cache.ts')
  expect('no-dev-deps-at-runtime', 'src/plugins/app/sessions/cache.ts')
  expect('client-sdk-not-to-server', 'src/client/sdk.ts')
  expect('no-circular', 'src/a.ts')
  expect('not-to-unresolvable', 'src/missing.ts')
  expect('no-undeclared-packages', 'src/uses-hoisted.ts')
  expect('e2e-black-box', 'e2e/check.ts')
  expect('app-plugins-not-to-services-or-routes', 'src/plugins/app/store/uses-service.ts')
  expect('external-plugins-not-to-app-plugins', 'src/plugins/external/uses-app.ts')
  expect('services-not-to-routes', 'src/services/work.ts')
  expect('implementations-chosen-in-one-place', 'src/plugins/app/fanout/index.ts')
  expect('shared-modules-not-to-layers', 'src/protocol/uses-plugin.ts')

  const files = serverFiles(dir)
  const writes = socketWrites(files, dir)
  t.same(writes.map((w) => `${w.file}:${w.line}`), ['src/services/manager.ts:4'], 'a socket write is named by file and line; comments are not writes')
  const why = registryFindings(files, dir).map((f) => `${f.file}:${f.line} ${f.why}`)
  t.ok(why.some((w) => w.startsWith('src/services/manager.ts:2 declares WebSocketManager')), 'a second manager class is found')
  t.ok(why.some((w) => w.startsWith('src/services/manager.ts:2 keeps sockets')), 'so is a collection of sockets')
  t.ok(why.some((w) => w.startsWith('src/services/manager.ts:3 declares createWebSocketManager')), 'and a manager factory')
  t.ok(why.some((w) => w.includes('no ConnectionRegistry is created')), 'a tree without the registry is reported too')
})

t.test('arch:report lists every infrastructure library', async (t) => {
  const usage = infraUsage(await cruiseWithRules(['src']))
  t.same([...usage.keys()], [...INFRA])
  t.ok([...usage.values()].every((importers) => importers.length > 0), 'each one is used somewhere (a stale entry would read 0)')
})
