// Logs of a whole run that carried credentials in every encoding of the query string: none of them reaches a line.
import t from 'tap'
import { redactUrl } from '../src/logger.js'
import { LogCapture } from './fixtures/log-capture.js'
import { build, Client, DEV_SECRET, ingest, isolate, SERVICE, token } from './helper.js'

const logs = new LogCapture()
logs.secret(SERVICE.secret, DEV_SECRET)

type Line = Record<string, unknown>
/** Every line a capture holds, parsed. */
const parsed = (capture: LogCapture): Line[] => capture.lines.map((l) => JSON.parse(l) as Line)
/** The URL of a request line (empty for other lines). */
const urlOf = (l: Line): string => String((l.req as { url?: string } | undefined)?.url ?? '')

t.test('redactUrl keeps only the values known to be harmless', async (t) => {
  const cases: Array<[string, string]> = [
    ['/ws?%74oken=abc.def.ghi', '/ws?%74oken=[REDACTED]'],
    ['/ws?tok%65n=abc', '/ws?tok%65n=[REDACTED]'],
    ['/ws?a=1&%74oken=abc', '/ws?a=[REDACTED]&%74oken=[REDACTED]'],
    ['/x?%61ccess_token=abc', '/x?%61ccess_token=[REDACTED]'],
    ['/x?TOKEN=abc&Ticket=def', '/x?TOKEN=[REDACTED]&Ticket=[REDACTED]'],
    ['/x?%zz=abc', '/x?%zz=[REDACTED]'],
    ['/x?abc.def.ghi', '/x?[REDACTED]'],
    ['/api/v1/threads/t1/events?after=10&limit=5', '/api/v1/threads/t1/events?after=10&limit=5'],
    ['/ws?since=3&epoch=e1', '/ws?since=3&epoch=e1'],
    ['/health', '/health']
  ]
  for (const [url, expected] of cases) t.equal(redactUrl(url), expected, url)
})

t.test('a run that sends tokens and tickets in every encoding logs none of them', async (t) => {
  const iso = isolate(t)
  const gw = await build(t, iso, { LOG_LEVEL: 'trace' }, logs.logger)
  const jwt = await token('alice')
  const [, , signature] = jwt.split('.')
  logs.secret(signature!)
  const encoded = `%65${jwt.slice(1)}`

  // WebSocket upgrades: each of these is accepted as ?token=, so each is a real credential in a URL.
  const wsQueries = [`%74oken=${jwt}`, `tok%65n=${jwt}`, `a=1&%74oken=${jwt}`, `token=${encoded}`]
  for (const query of wsQueries) {
    const c = await Client.open(`${gw.ws}/ws?${query}`)
    await c.next('connection_established')
    c.socket.close()
    await c.closed
  }
  // Names that are not read as a token, logged all the same.
  for (const query of [`%61ccess_token=${jwt}`, `%54OKEN=${jwt}`, jwt]) {
    const refused = await Client.open(`${gw.ws}/api/v1/websocket?${query}`)
    await refused.closed
  }

  // A ticket bought with a token in the query as well as the header, then spent with an encoded parameter name.
  const res = await fetch(`${gw.http}/api/websocket/ticket?%74oken=${jwt}`, { method: 'POST', headers: { authorization: `Bearer ${jwt}` } })
  const ticket = (await res.json() as { ticket_id: string }).ticket_id
  logs.secret(ticket)
  const spent = await Client.open(`${gw.ws}/ws?%74icket=${ticket}`)
  await spent.next('connection_established')
  spent.socket.close()
  await spent.closed

  // HTTP routes, a 404 and a refused request.
  const http = [
    `/api/v1/threads/th-1/events?after=0&tok%65n=${jwt}`,
    `/api/v1/runs/run-1?%61ccess_token=${jwt}`,
    `/no/such/route?%74oken=${jwt}`,
    `/health?a=1&%74oken=${jwt}`,
    `/api/v1/threads/th-1/events?after=x&jwt=${jwt}`
  ]
  for (const path of http) {
    const r = await fetch(`${gw.http}${path}`, { headers: { authorization: `Bearer ${jwt}` } })
    await r.arrayBuffer()
  }
  await gw.app.close()

  const requests = logs.lines.filter((line) => line.includes('"incoming request"'))
  // Probes of /health are not logged at all; every other request is.
  t.equal(requests.length, wsQueries.length + 3 + 2 + http.length - 1, 'every request was logged')
  t.ok(requests.some((line) => line.includes('/no/such/route?%74oken=[REDACTED]')), 'a 404 too')
  t.ok(requests.some((line) => line.includes('%74oken=[REDACTED]')), 'the parameter names stay readable')
  t.same(logs.leaks(), [], 'no token, ticket or secret in any line')
})

t.test('request lines: every user request is logged with its id, the ingest route only when refused, and no logger is made for a request that logs nothing', async (t) => {
  const capture = new LogCapture()
  const iso = isolate(t)
  const gw = await build(t, iso, {}, capture.logger)
  // Children of the app's logger made after boot: request loggers, made on a request's first line.
  const child = capture.logger.child.bind(capture.logger)
  let made = 0
  capture.logger.child = ((...args: Parameters<typeof child>) => { made++; return child(...args) }) as typeof child
  t.teardown(() => { capture.logger.child = child })
  const lines = (): Line[] => parsed(capture)

  const context = { user_id: 'logged', thread_id: 'th-log', run_id: 'run-log', request_id: 'req-log' }
  for (let i = 0; i < 5; i++) {
    const answer = await ingest(gw.http, { type: 'agent_thinking', context, reasoning: `step ${i}` })
    t.equal(answer.status, 202)
  }
  t.equal(made, 0, 'five stored ingests: no request logger made')
  t.same(lines().filter((l) => urlOf(l).startsWith('/api/v1/events')), [], 'and no request line for them')

  const refused = await ingest(gw.http, { type: 'agent_thinking', context: { ...context, user_id: '' } })
  t.equal(refused.status, 400)
  const rejected = lines().filter((l) => l.msg === 'request rejected')
  t.equal(rejected.length, 1, 'a refused ingest is logged')
  t.type(rejected[0]!.reqId, 'string', 'with its request id')

  const res = await fetch(`${gw.http}/api/v1/runs/run-log`, { headers: { authorization: `Bearer ${await token('logged')}` } })
  await res.arrayBuffer()
  const incoming = lines().filter((l) => l.msg === 'incoming request' && urlOf(l) === '/api/v1/runs/run-log')
  t.equal(incoming.length, 1, 'a user request is logged')
  t.ok(lines().some((l) => l.msg === 'request completed' && l.reqId === incoming[0]!.reqId), 'its completion under the same id')
})

t.test('socket upgrades: no line per socket at info, refusals still logged; at debug the request line and the registration', async (t) => {
  const atInfo = new LogCapture()
  atInfo.logger.level = 'info'
  const iso = isolate(t)
  const gw = await build(t, iso, {}, atInfo.logger)

  for (const path of ['/ws', '/api/v1/websocket']) {
    const c = await Client.open(`${gw.ws}${path}?token=${await token('quiet')}`)
    await c.next('connection_established')
    c.socket.close()
    await c.closed
  }
  const refused = await Client.open(`${gw.ws}/ws?token=not-a-token`)
  await refused.closed
  t.same(parsed(atInfo).filter((l) => urlOf(l).startsWith('/ws') || urlOf(l).startsWith('/api/v1/websocket')), [], 'no request line for an upgrade at info')
  t.same(parsed(atInfo).filter((l) => l.msg === 'socket registered'), [], 'nor a registration line')
  const auth = parsed(atInfo).filter((l) => l.msg === 'websocket auth refused')
  t.equal(auth.length, 1, 'the refused upgrade is logged')
  t.type(auth[0]!.reqId, 'string', 'with its request id')
  const page = await fetch(`${gw.http}/api/v1/runs/run-quiet`, { headers: { authorization: `Bearer ${await token('quiet')}` } })
  await page.arrayBuffer()
  t.equal(parsed(atInfo).filter((l) => l.msg === 'incoming request' && urlOf(l) === '/api/v1/runs/run-quiet').length, 1, 'an HTTP request on the same instance is')

  const atDebug = new LogCapture()
  atDebug.logger.level = 'debug'
  const iso2 = isolate(t)
  const loud = await build(t, iso2, {}, atDebug.logger)
  const c = await Client.open(`${loud.ws}/ws?token=${await token('loud')}`)
  const welcome = await c.next('connection_established')
  c.socket.close()
  await c.closed
  const incoming = parsed(atDebug).filter((l) => l.msg === 'incoming request' && urlOf(l).startsWith('/ws'))
  t.equal(incoming.length, 1, 'at debug the upgrade has its request line')
  const registered = parsed(atDebug).filter((l) => l.msg === 'socket registered')
  t.equal(registered.length, 1, 'and its registration a line')
  t.match(registered[0], { reqId: incoming[0]!.reqId, user_id: 'loud', connection_id: welcome.data?.connection_id, resumed: false }, 'under the same request id, with the socket\'s ids')
})
