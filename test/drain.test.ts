// The drain plugin: a request still in flight when shutdown begins is answered, and its keep-alive connection
// closes with the answer instead of holding the server's close open for the keep-alive timeout.
import { once } from 'node:events'
import http from 'node:http'
import Fastify from 'fastify'
import t from 'tap'
import drain from '../src/plugins/external/drain.js'
import { pollUntil } from './helper.js'

t.test('a request in flight at close is answered with Connection: close, and the close completes', async (t) => {
  const app = Fastify({ keepAliveTimeout: 72_000 })
  await app.register(drain)
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  let arrived!: () => void
  const inFlight = new Promise<void>((resolve) => { arrived = resolve })
  let began!: () => void
  const drainBegan = new Promise<void>((resolve) => { began = resolve })
  // After the drain plugin's own preClose: shutdown has begun, the server is not yet closed.
  app.addHook('preClose', async () => { began() })
  app.get('/slow', async () => { arrived(); await gate; return { done: true } })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }

  const agent = new http.Agent({ keepAlive: true })
  t.teardown(() => agent.destroy())
  const request = http.get({ host: '127.0.0.1', port, path: '/slow', agent })
  const answered = once(request, 'response') as Promise<[http.IncomingMessage]>
  await inFlight

  const started = Date.now()
  const closed = app.close().then(() => Date.now() - started)
  await drainBegan
  t.equal(app.draining, true, 'draining once shutdown has begun')
  // Answer only once the listener is closed: Node's close has already reaped the idle connections, not this one.
  t.ok(await pollUntil(async () => !app.server.listening, 250, 4), 'the server stopped listening')
  release()
  const [response] = await answered
  response.resume()
  t.equal(response.statusCode, 200, 'the request in flight is answered')
  t.equal(response.headers.connection, 'close', 'and told its connection ends')

  // Without the header the connection would sit idle for keepAliveTimeout (72 s) and the close would wait for it.
  let timer: NodeJS.Timeout | undefined
  const took = await Promise.race([closed, new Promise<number>((resolve) => { timer = setTimeout(() => resolve(Infinity), 5000) })])
  clearTimeout(timer)
  t.ok(took < 5000, `the close completed ${took} ms after it began`)
})
