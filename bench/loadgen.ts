// Load generator process: opens its share of the sockets, then counts every delivered event and its latency.
// Events are recognized by their marker (indexOf on the raw buffer): the load generator never parses JSON,
// so its own CPU stays small beside the servers' on a 2-core box.
import WebSocket from 'ws'
import { signDevToken } from '../src/plugins/app/auth/dev-verifier.js'
import { MARK, nowUs, userName, userOf, type LoadgenCommand, type Stack, type StreamPositions } from './common.js'
import { bucketOf, newHistogram } from './histogram.js'
import { onCommand, send } from './ipc.js'

const MARK_BUF = Buffer.from(MARK)
const COLON = 0x3a
const QUOTE = 0x22

let sockets: WebSocket[] = []
let users: number[] = []
/** Deliveries per event sequence number, over this process's sockets; grown as the sequence grows. */
let counts = new Uint8Array(1 << 16)
let received = 0
let inWindow = 0
let closed = 0
let running = false
let winStart = Infinity
let winEnd = -Infinity
let maxUs = 0
const histogram = newHistogram()

function onEvent (buf: Buffer): void {
  const at = buf.indexOf(MARK_BUF)
  if (at < 0) return
  let i = at + MARK_BUF.length
  let seq = 0
  for (let c = buf[i]; c !== undefined && c !== COLON; c = buf[++i]) seq = seq * 10 + c - 48
  let sent = 0
  for (let c = buf[++i]; c !== undefined && c !== QUOTE; c = buf[++i]) sent = sent * 10 + c - 48
  const now = nowUs()
  while (seq >= counts.length) {
    const grown = new Uint8Array(counts.length * 2)
    grown.set(counts)
    counts = grown
  }
  if (counts[seq]! < 255) counts[seq]!++
  received++
  if (now >= winStart && now < winEnd) inWindow++
  if (sent >= winStart && sent < winEnd) {
    const latency = now - sent
    histogram[bucketOf(latency)]!++
    if (latency > maxUs) maxUs = latency
  }
}

const tokens = new Map<number, Promise<string>>()
function tokenOf (user: number, secret: string): Promise<string> {
  let t = tokens.get(user)
  if (t === undefined) {
    t = signDevToken(secret, userName(user), { ttlS: 6 * 3600 })
    tokens.set(user, t)
  }
  return t
}

interface Opened { socket: WebSocket, seq: number, epoch: string }

/** The gateway's welcome carries the user's stream position: where the publisher's offsets must go on from. */
function welcomePosition (text: string): { seq: number, epoch: string } {
  try {
    const data = (JSON.parse(text) as { data?: { seq?: unknown, epoch?: unknown } }).data
    return { seq: typeof data?.seq === 'number' ? data.seq : 0, epoch: typeof data?.epoch === 'string' ? data.epoch : '' }
  } catch { return { seq: 0, epoch: '' } }
}

/** Opens one socket and resolves once the server says it is subscribed (the stack's welcome frame). */
async function open (stack: Stack, base: string, user: number, localAddress: string, secret: string, timeoutMs: number): Promise<Opened> {
  const name = userName(user)
  const common = { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs }
  const socket = stack === 'gateway'
    ? new WebSocket(`${base}/ws`, { ...common, headers: { authorization: `Bearer ${await tokenOf(user, secret)}` } })
    : stack === 'baseline'
      ? new WebSocket(`${base}/?user=${name}`, common)
      : new WebSocket(`${base}/socket.io/?EIO=4&transport=websocket`, common)
  return await new Promise<Opened>((resolve, reject) => {
    const timer = setTimeout(() => { socket.terminate(); reject(new Error('no welcome frame in time')) }, timeoutMs)
    let ready = false
    socket.on('error', (err) => { if (!ready) { clearTimeout(timer); reject(err) } })
    socket.on('close', () => { if (ready && running) closed++ })
    socket.on('message', (data: Buffer) => {
      if (ready) {
        // Engine.IO heartbeat: the server pings ("2"), a client that doesn't pong is dropped.
        if (stack === 'socketio' && data.length === 1 && data[0] === 0x32) socket.send('3')
        else onEvent(data)
        return
      }
      const text = data.toString()
      // Socket.IO over raw Engine.IO v4: open "0{...}", then connect the namespace with our auth payload.
      if (stack === 'socketio') {
        if (text.startsWith('0{')) { socket.send(`40${JSON.stringify({ user: name })}`); return }
        if (text === '2') { socket.send('3'); return }
        if (!text.startsWith('42["ready"')) return
      }
      ready = true
      clearTimeout(timer)
      resolve({ socket, ...(stack === 'gateway' ? welcomePosition(text) : { seq: 0, epoch: '' }) })
    })
  })
}

async function connectAll (cmd: Extract<LoadgenCommand, { cmd: 'connect' }>): Promise<void> {
  let next = 0
  let ok = 0
  let failed = 0
  let firstError: string | undefined
  const started = performance.now()
  const opened: Array<WebSocket | null> = new Array<WebSocket | null>(cmd.sockets.length).fill(null)
  const positions: StreamPositions = { seq: [], epoch: [] }
  // A fixed pool of workers: bounded concurrency, and each worker is bounded by the per-socket timeout.
  const worker = async (): Promise<void> => {
    while (next < cmd.sockets.length) {
      const i = next++
      const [user, server] = cmd.sockets[i]!
      const local = cmd.localAddresses[i % cmd.localAddresses.length]!
      try {
        const o = await open(cmd.stack, cmd.servers[server]!.url, user, local, cmd.devSecret, cmd.timeoutMs)
        opened[i] = o.socket
        // Two sockets of a user may see different positions only if something was published meanwhile: keep the later.
        if (o.seq >= (positions.seq[user] ?? -1)) { positions.seq[user] = o.seq; positions.epoch[user] = o.epoch }
        ok++
      } catch (err) {
        failed++
        firstError ??= (err as Error).message
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(cmd.concurrency, cmd.sockets.length) }, worker))
  const elapsedMs = performance.now() - started
  sockets = []
  users = []
  opened.forEach((s, i) => {
    if (s === null) return
    sockets.push(s)
    users.push(cmd.sockets[i]![0])
  })
  running = true
  send({ kind: 'connected', ok, failed, elapsedMs, positions, ...(firstError ? { firstError } : {}) })
}

function finish (cmd: Extract<LoadgenCommand, { cmd: 'finish' }>): void {
  const perUser = new Uint8Array(cmd.users)
  for (const u of users) perUser[u]!++
  const excluded = new Set(cmd.excluded)
  let expected = 0
  let lost = 0
  let duplicates = 0
  for (let seq = 0; seq < cmd.sent; seq++) {
    if (excluded.has(seq)) continue
    const want = perUser[userOf(seq, cmd.users, cmd.seed)]!
    const got = seq < counts.length ? counts[seq]! : 0
    expected += want
    if (got < want) lost += want - got
    else duplicates += got - want
  }
  send({ kind: 'result', received, inWindow, expected, lost, duplicates, closed, histogram: Array.from(histogram), maxUs })
}

onCommand<LoadgenCommand>(async (cmd) => {
  switch (cmd.cmd) {
    case 'connect': await connectAll(cmd); break
    case 'window': winStart = cmd.startUs; winEnd = cmd.endUs; break
    case 'count': send({ kind: 'count', received, inWindow, closed }); break
    case 'finish': finish(cmd); break
    case 'reset':
      // The next round of the same sockets: its sequence starts again at 0.
      counts.fill(0); received = 0; inWindow = 0; maxUs = 0; histogram.fill(0)
      winStart = Infinity; winEnd = -Infinity
      send({ kind: 'reset' })
      break
    case 'close':
      running = false
      for (const s of sockets) s.terminate()
      send({ kind: 'closed' })
      setTimeout(() => process.exit(0), 100)
      break
  }
})
