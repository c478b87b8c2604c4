// Load generator process: opens its share of the sockets, then counts every delivered event and its latency.
// Events are recognized by their marker (indexOf on the raw buffer): the load generator never parses JSON,
// so its own CPU stays small beside the servers' on a 2-core box. A storm drops some sockets at once and resumes them.
import WebSocket from 'ws'
import { signDevToken } from '../src/plugins/app/auth/dev-verifier.js'
import { MARK, nowUs, spread, userName, userOf, type LoadgenCommand, type Stack, type StreamPositions } from './common.js'
import { bucketOf, newHistogram } from './histogram.js'
import { onCommand, send } from './ipc.js'

const MARK_BUF = Buffer.from(MARK)
const COLON = 0x3a
const QUOTE = 0x22
/** Gateway stream frames lead with their offset (toWire): the digits after it are read in place. */
const SEQ_BUF = Buffer.from('{"seq":')

/**
 * Per socket: where its stream stands (the last offset received, in its epoch), and, after a resume, the offset
 * it must reach to be caught up (the welcome's position) and when it did.
 */
interface Tracked {
  /** Index into the connect command's socket list: the socket's user, server and source address. */
  slot: number
  lastSeq: number
  epoch: string
  /** Set when the client drops the socket on purpose: its late frames are ignored, its close is not a server's. */
  dropped: boolean
  target: number
  welcomedAt: number
  caughtUpAt: number
  /** Why a resuming socket will not catch up (closed, resume_failed), if it won't. */
  failure: string
  notify: (() => void) | null
}

let plan: Extract<LoadgenCommand, { cmd: 'connect' }> | null = null
let sockets: WebSocket[] = []
let tracked: Tracked[] = []
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

interface Opened { socket: WebSocket, seq: number, epoch: string, state: Tracked }

/** The offset of a gateway stream frame, or -1 for any other frame. */
function frameSeq (buf: Buffer): number {
  if (buf.length <= SEQ_BUF.length) return -1
  for (let i = 0; i < SEQ_BUF.length; i++) if (buf[i] !== SEQ_BUF[i]) return -1
  let seq = 0
  for (let i = SEQ_BUF.length, c = buf[i]; c !== undefined && c >= 48 && c <= 57; c = buf[++i]) seq = seq * 10 + c - 48
  return seq
}

/** A stream frame on a gateway socket: its position moves on, and a resuming socket may now be caught up. */
function onStreamFrame (state: Tracked, buf: Buffer): void {
  const seq = frameSeq(buf)
  if (seq < 0) {
    // Even after the welcome's position was reached: what the client missed was not replayed.
    if (state.target !== Infinity && buf.includes('"resume_failed"')) {
      state.failure ||= `resume_failed: ${buf.toString().slice(0, 160)}`
      state.notify?.()
    }
    return
  }
  state.lastSeq = seq
  if (seq >= state.target && Number.isNaN(state.caughtUpAt)) {
    state.caughtUpAt = performance.now()
    state.notify?.()
  }
}

/** The gateway's welcome carries the user's stream position: where the publisher's offsets must go on from. */
function welcomePosition (text: string): { seq: number, epoch: string } {
  try {
    const data = (JSON.parse(text) as { data?: { seq?: unknown, epoch?: unknown } }).data
    return { seq: typeof data?.seq === 'number' ? data.seq : 0, epoch: typeof data?.epoch === 'string' ? data.epoch : '' }
  } catch { return { seq: 0, epoch: '' } }
}

/**
 * Opens one socket and resolves once the server says it is subscribed (the stack's welcome frame). With `resume`
 * (gateway), the socket asks for what it missed since its last offset, and is caught up once it has the welcome's.
 */
async function open (stack: Stack, base: string, user: number, localAddress: string, secret: string, timeoutMs: number, slot: number, resume?: { since: number, epoch: string }): Promise<Opened> {
  const name = userName(user)
  const common = { localAddress, perMessageDeflate: false, handshakeTimeout: timeoutMs }
  const query = resume ? `?since=${resume.since}&epoch=${encodeURIComponent(resume.epoch)}` : ''
  const state: Tracked = { slot, lastSeq: resume?.since ?? 0, epoch: resume?.epoch ?? '', dropped: false, target: Infinity, welcomedAt: NaN, caughtUpAt: NaN, failure: '', notify: null }
  const socket = stack === 'gateway'
    ? new WebSocket(`${base}/ws${query}`, { ...common, headers: { authorization: `Bearer ${await tokenOf(user, secret)}` } })
    : stack === 'baseline'
      ? new WebSocket(`${base}/?user=${name}`, common)
      : new WebSocket(`${base}/socket.io/?EIO=4&transport=websocket`, common)
  return await new Promise<Opened>((resolve, reject) => {
    const timer = setTimeout(() => { socket.terminate(); reject(new Error('no welcome frame in time')) }, timeoutMs)
    let ready = false
    socket.on('error', (err) => { if (!ready) { clearTimeout(timer); reject(err) } })
    socket.on('close', (code: number) => {
      if (state.dropped) return
      if (ready && running) closed++
      if (ready && state.target !== Infinity && Number.isNaN(state.caughtUpAt)) {
        state.failure ||= `closed (${code}) before caught up`
        state.notify?.()
      }
    })
    socket.on('message', (data: Buffer) => {
      if (state.dropped) return
      if (ready) {
        // Engine.IO heartbeat: the server pings ("2"), a client that doesn't pong is dropped.
        if (stack === 'socketio' && data.length === 1 && data[0] === 0x32) socket.send('3')
        else {
          if (stack === 'gateway') onStreamFrame(state, data)
          onEvent(data)
        }
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
      state.welcomedAt = performance.now()
      const position = stack === 'gateway' ? welcomePosition(text) : { seq: 0, epoch: '' }
      // Set before any replayed frame is read: ws may hand them over in the same tick as the welcome.
      if (resume) {
        if (position.seq > resume.since) state.target = position.seq
        else { state.target = resume.since; state.caughtUpAt = performance.now() }
        if (position.epoch !== '') state.epoch = position.epoch
      } else {
        state.lastSeq = position.seq
        state.epoch = position.epoch
      }
      resolve({ socket, state, ...position })
    })
  })
}

async function connectAll (cmd: Extract<LoadgenCommand, { cmd: 'connect' }>): Promise<void> {
  let next = 0
  let ok = 0
  let failed = 0
  let firstError: string | undefined
  const started = performance.now()
  const opened: Array<Opened | null> = new Array<Opened | null>(cmd.sockets.length).fill(null)
  const positions: StreamPositions = { seq: [], epoch: [] }
  // A fixed pool of workers: bounded concurrency, and each worker is bounded by the per-socket timeout.
  const worker = async (): Promise<void> => {
    while (next < cmd.sockets.length) {
      const i = next++
      const [user, server] = cmd.sockets[i]!
      const local = cmd.localAddresses[i % cmd.localAddresses.length]!
      try {
        const o = await open(cmd.stack, cmd.servers[server]!.url, user, local, cmd.devSecret, cmd.timeoutMs, i)
        opened[i] = o
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
  plan = cmd
  sockets = []
  tracked = []
  users = []
  opened.forEach((o, i) => {
    if (o === null) return
    sockets.push(o.socket)
    tracked.push(o.state)
    users.push(cmd.sockets[i]![0])
  })
  running = true
  send({ kind: 'connected', ok, failed, elapsedMs, positions, ...(firstError ? { firstError } : {}) })
}

/**
 * The reconnect storm: the chosen sockets are dropped at one instant, then all reconnect at once (or `concurrency`
 * at a time), each resuming from its last offset on the same server with the same user. Each replaces its old
 * socket, so `finish` still checks that every event arrived exactly once across the storm.
 */
async function storm (cmd: Extract<LoadgenCommand, { cmd: 'storm' }>): Promise<void> {
  const connect = plan
  const at = new Map(tracked.map((t, i) => [t.slot, i]))
  // A socket that never connected has nothing to drop.
  const picked = connect?.stack === 'gateway' ? cmd.slots.flatMap((slot) => at.get(slot) ?? []) : []
  const back: number[] = []
  const resumed: Tracked[] = []
  let firstError: string | undefined
  const dropAt = performance.now()
  const from = picked.map((i) => {
    const t = tracked[i]!
    t.dropped = true
    sockets[i]!.terminate()
    return { since: t.lastSeq, epoch: t.epoch }
  })
  const left = (): number => Math.max(1, dropAt + cmd.timeoutMs - performance.now())
  const one = async (k: number): Promise<void> => {
    const i = picked[k]!
    const slot = tracked[i]!.slot
    const [user, server] = connect!.sockets[slot]!
    const local = connect!.localAddresses[slot % connect!.localAddresses.length]!
    try {
      const o = await open('gateway', connect!.servers[server]!.url, user, local, connect!.devSecret, left(), slot, from[k])
      sockets[i] = o.socket
      tracked[i] = o.state
      back.push(o.state.welcomedAt - dropAt)
      if (Number.isNaN(o.state.caughtUpAt) && o.state.failure === '') {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left())
          o.state.notify = () => { clearTimeout(timer); resolve() }
        })
        o.state.notify = null
      }
      if (Number.isNaN(o.state.caughtUpAt) && o.state.failure === '') o.state.failure = `not caught up within ${cmd.timeoutMs} ms (at ${o.state.lastSeq} of ${o.state.target})`
      resumed.push(o.state)
    } catch (err) {
      firstError ??= (err as Error).message
    }
  }
  let next = 0
  const worker = async (): Promise<void> => { while (next < picked.length) await one(next++) }
  const width = cmd.concurrency > 0 ? Math.min(cmd.concurrency, picked.length) : picked.length
  await Promise.all(Array.from({ length: width }, worker))
  // Judged once all are done, so that a resume_failed that followed an early welcome is seen too.
  const caughtUp = resumed.flatMap((t) => t.failure === '' ? [t.caughtUpAt - dropAt] : [])
  firstError ??= resumed.find((t) => t.failure !== '')?.failure
  send({
    kind: 'storm',
    n: picked.length,
    failed: picked.length - caughtUp.length,
    back: spread(back),
    caughtUp: spread(caughtUp),
    samples: { back, caughtUp },
    ...(firstError ? { firstError } : {})
  })
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
    case 'storm': await storm(cmd); break
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
