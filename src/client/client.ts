// AgentClient: one user's stream from the gateway, kept across drops (reconnect, resume, dedupe), plus chat requests.
import { backoffDelay } from './backoff.js'
import { Emitter } from './emitter.js'
import { Heartbeat } from './heartbeat.js'
import { isAgentEvent, type AgentStopped, type AnyFrame, type ConnectionEstablished, type ServerFrames } from './frames.js'
import { RequestError, Requests, type SendResult } from './requests.js'
import { OPEN, frameText, resolveWebSocket, type WebSocketConstructor, type WebSocketLike } from './socket.js'
import { TicketError } from './ticket.js'
import { attemptUrl, socketUrl, tokenProtocol, type Position } from './url.js'
import { deferred, type ClientEvents, type ClientOptions, type ConnectionState, type Deferred, type StateChange } from './options.js'

// Codes after which coming back as-is cannot help (docs/protocol.md, close codes).
const TERMINAL_CODES: ReadonlySet<number> = new Set([1000, 1003])
const AUTH_FAILED = 1008
// Client-side codes for sockets the SDK abandons; 4000-4999 are the application's.
const HEARTBEAT_TIMEOUT = 4000

export class AgentClient {
  private readonly emitter: Emitter<ClientEvents>
  private readonly requests: Requests
  private readonly WS: WebSocketConstructor
  private readonly base: URL
  private socket: WebSocketLike | null = null
  private currentState: ConnectionState = 'idle'
  private pos: Position | undefined
  private token: string | undefined
  private welcome: ConnectionEstablished | undefined
  private attempt = 0
  private authRetried = false
  private stopped = false
  private refreshing = false
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined
  private readonly heartbeat = new Heartbeat()
  private readonly queue: Array<{ text: string, requestId?: number }> = []
  private firstOpen: Deferred<ConnectionEstablished> | undefined
  /** Counters for the curious (and the tests). */
  readonly stats = { connects: 0, reconnects: 0, duplicates: 0, resumeFailures: 0 }

  constructor (private readonly opts: ClientOptions) {
    if (opts.token === undefined && opts.ticket === undefined) throw new TypeError('AgentClient needs a token or a ticket provider')
    this.emitter = new Emitter(opts.onHandlerError)
    this.requests = new Requests(opts.requestTimeoutMs ?? 15_000)
    this.WS = resolveWebSocket(opts.WebSocket)
    this.base = socketUrl(opts.url)
    this.token = opts.token
    this.pos = opts.resumeFrom
  }

  get state (): ConnectionState { return this.currentState }
  /** The last offset delivered and its epoch: reconnecting from here loses nothing and repeats nothing. */
  get position (): Position | undefined { return this.pos === undefined ? undefined : { ...this.pos } }
  get userId (): string | undefined { return this.welcome?.data.user_id }
  get connectionId (): string | undefined { return this.welcome?.data.connection_id }
  /** True while a reconnect is scheduled. */
  get reconnectPending (): boolean { return this.reconnectTimer !== undefined }

  on<K extends keyof ClientEvents>(name: K, handler: (value: ClientEvents[K]) => void): () => void {
    return this.emitter.on(name, handler)
  }

  once<K extends keyof ClientEvents>(name: K, handler: (value: ClientEvents[K]) => void): () => void {
    return this.emitter.once(name, handler)
  }

  off<K extends keyof ClientEvents>(name: K, handler: (value: ClientEvents[K]) => void): void {
    this.emitter.off(name, handler)
  }

  /** Starts the client; resolves with the first connection_established, rejects if the client stops before one. */
  async connect (): Promise<ConnectionEstablished> {
    if (this.currentState === 'open' && this.welcome) return this.welcome
    if (this.firstOpen) return await this.firstOpen.promise
    const first = deferred<ConnectionEstablished>()
    this.firstOpen = first
    this.stopped = false
    this.attempt = 0
    if (this.currentState === 'idle' || this.currentState === 'closed') this.open()
    return await first.promise
  }

  /** Sends a user message; resolves with the run it started, matched by a client_message_id. */
  async send (message: string, opts: { threadId?: string } = {}): Promise<SendResult> {
    const clientMessageId = newId()
    const payload: Record<string, unknown> = { message }
    if (opts.threadId !== undefined) payload.thread_id = opts.threadId
    const { id, promise } = this.requests.add<SendResult>('send', clientMessageId)
    this.write({ type: 'user_message', client_message_id: clientMessageId, payload }, id)
    return await promise
  }

  /** Asks the agent to stop a run; resolves on agent_stopped (the run then ends with agent_completed "cancelled"). */
  async stop (runId: string): Promise<AgentStopped> {
    const { id, promise } = this.requests.add<AgentStopped>('stop', runId)
    this.write({ type: 'stop_agent', payload: { run_id: runId } }, id)
    return await promise
  }

  /** Sends any other client frame (switch_thread, get_thread_history, …); held while disconnected. */
  sendFrame (frame: { type: string } & Record<string, unknown>): void {
    this.write(frame)
  }

  /** Replaces the token used by the next connection attempt (and by the next ticket request). */
  setToken (token: string): void {
    this.token = token
  }

  /** Stops for good: no more reconnects; requests still waiting fail with "closed". */
  async close (): Promise<void> {
    this.stopped = true
    this.clearTimers()
    this.queue.length = 0
    this.requests.failAll(new RequestError('closed', 'the client was closed'))
    const socket = this.socket
    this.socket = null
    this.finish('closed_by_client', new Error('the client was closed'))
    if (socket && socket.readyState <= OPEN) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000)
        socket.onclose = () => { clearTimeout(timer); resolve() }
        socket.close(1000, 'client closed')
      })
    }
  }

  private report (err: unknown, where: string): void {
    if (this.opts.onHandlerError) this.opts.onHandlerError(err, where)
    else console.error(`agent-event-gateway client: ${where} failed`, err)
  }

  private setState (state: ConnectionState, extra: Omit<StateChange, 'state' | 'previous'> = {}): void {
    const previous = this.currentState
    this.currentState = state
    this.emitter.emit('state', { state, previous, ...extra })
  }

  private open (): void {
    this.reconnectTimer = undefined
    if (this.stopped) return
    if (this.currentState !== 'reconnecting') this.setState('connecting')
    this.credentials().then(({ protocols, ticket }) => {
      if (this.stopped) return
      const url = attemptUrl(this.base, { position: this.pos, ticket })
      const socket = new this.WS(url, protocols)
      this.socket = socket
      this.stats.connects++
      socket.onmessage = (ev) => { if (this.socket === socket) this.onText(frameText(ev.data)) }
      socket.onclose = (ev) => { if (this.socket === socket) this.onClose(ev.code, ev.reason) }
      // An error is always followed by a close, which decides what happens next.
      socket.onerror = () => {}
    }, (err: unknown) => {
      // A refused ticket request is an auth failure like a 1008; anything else (network) is retried.
      if (err instanceof TicketError && err.status === 401) this.onClose(AUTH_FAILED, err.message)
      else this.onClose(1006, err instanceof Error ? err.message : 'could not get credentials')
    })
  }

  private async credentials (): Promise<{ protocols: string[], ticket?: string }> {
    if (this.opts.ticket) return { protocols: [], ticket: await this.opts.ticket(this.token) }
    return { protocols: [tokenProtocol(this.token!)] }
  }

  private onText (text: string | undefined): void {
    if (text === undefined) return
    let frame: unknown
    try {
      frame = JSON.parse(text)
    } catch {
      return
    }
    if (frame === null || typeof frame !== 'object' || typeof (frame as AnyFrame).type !== 'string') return
    this.heartbeat.markHeard()
    this.dispatch(frame as AnyFrame)
  }

  private dispatch (frame: AnyFrame): void {
    this.emitter.emit('frame', frame)
    if (isAgentEvent(frame)) {
      const pos = this.pos
      // The server sends each offset once per socket; overlaps come from replays across sockets. Drop them here.
      if (pos && frame.epoch === pos.epoch && frame.seq <= pos.seq) {
        this.stats.duplicates++
        this.emitter.emit('duplicate', frame)
        return
      }
      this.pos = { seq: frame.seq, epoch: frame.epoch }
      this.emitter.emit(frame.type, frame as never)
      this.emitter.emit('event', frame)
      return
    }
    const known = frame as unknown as ServerFrames[keyof ServerFrames]
    switch (known.type) {
      case 'connection_established': this.onWelcome(known); break
      case 'resume_failed':
        // The stream cannot be replayed from our position: it continues live from the server's.
        this.stats.resumeFailures++
        this.pos = { seq: known.seq, epoch: known.epoch }
        break
      case 'ack': this.requests.onAck(known); break
      case 'agent_stopped': this.requests.onStopped(known); break
      case 'error': this.requests.onError(known); break
      case 'token_expiring': this.refreshBeforeExpiry(); break
    }
    if (frame.type === 'ping') this.write({ type: 'pong', timestamp: Date.now() })
    else if (frame.type === 'heartbeat') this.write({ type: 'heartbeat_ack', timestamp: Date.now() })
    this.emitter.emit(frame.type as keyof ServerFrames, frame as never)
  }

  private onWelcome (welcome: ConnectionEstablished): void {
    const resumed = this.pos !== undefined
    if (this.welcome !== undefined) this.stats.reconnects++
    this.welcome = welcome
    // A first socket starts at the stream's position; a resumed one keeps ours (the replay follows this frame).
    if (!resumed) this.pos = { seq: welcome.data.seq, epoch: welcome.data.epoch }
    this.attempt = 0
    this.authRetried = false
    this.setState('open')
    if (this.opts.heartbeat !== false) {
      this.heartbeat.start(welcome.data.heartbeat_interval_s,
        () => this.socket?.send(JSON.stringify({ type: 'ping', timestamp: Date.now() })),
        () => this.abandon(HEARTBEAT_TIMEOUT, 'heartbeat timeout'))
    }
    for (const item of this.queue.splice(0)) {
      if (item.requestId !== undefined && !this.requests.isPending(item.requestId)) continue
      this.transmit(item.text, item.requestId)
    }
    this.firstOpen?.resolve(welcome)
    this.firstOpen = undefined
  }

  private write (frame: Record<string, unknown>, requestId?: number): void {
    const text = JSON.stringify(frame)
    if (this.currentState === 'open' && this.socket?.readyState === OPEN) {
      this.transmit(text, requestId)
      return
    }
    if (this.stopped) {
      if (requestId !== undefined) this.failRequest(requestId, new RequestError('closed', 'the client is closed'))
      return
    }
    if (this.queue.length >= (this.opts.maxQueued ?? 100)) {
      if (requestId !== undefined) this.failRequest(requestId, new RequestError('queue_full', 'too many frames waiting for a connection'))
      return
    }
    this.queue.push({ text, requestId })
  }

  private transmit (text: string, requestId: number | undefined): void {
    this.socket!.send(text)
    if (requestId !== undefined) this.requests.markSent(requestId)
  }

  private failRequest (id: number, err: RequestError): void {
    this.requests.fail(id, err)
  }

  private refreshBeforeExpiry (): void {
    const hook = this.opts.refreshToken
    if (!hook || this.refreshing) return
    this.refreshing = true
    Promise.resolve(hook()).then((token) => {
      if (!token) return
      this.token = token
      this.write({ type: 'auth_refresh', token })
    }, (err: unknown) => this.report(err, 'refreshToken')).finally(() => { this.refreshing = false })
  }

  private onClose (code: number, reason: string): void {
    this.socket = null
    this.heartbeat.stop()
    this.requests.failSent(new RequestError('disconnected', `the connection closed (${code}) before the answer came`))
    if (this.stopped) return
    if (code === AUTH_FAILED) {
      this.onAuthClose(code, reason)
      return
    }
    const reconnect = this.opts.reconnect !== false && !TERMINAL_CODES.has(code)
    const max = this.opts.reconnect === false ? 0 : (this.opts.reconnect?.maxAttempts ?? 10)
    const willReconnect = reconnect && this.attempt < max
    this.emitter.emit('disconnect', { code, reason, willReconnect })
    if (!willReconnect) {
      this.finish(reconnect ? 'gave_up' : 'terminal_close', new Error(`connection closed (${code} ${reason})`))
      return
    }
    const delayMs = backoffDelay(this.attempt, this.opts.reconnect || {}, this.opts.random)
    this.attempt++
    this.setState('reconnecting', { attempt: this.attempt, delayMs })
    this.reconnectTimer = setTimeout(() => this.open(), delayMs)
  }

  /** A 1008: retrying with the same credentials would fail the same way, so only a refreshed token earns a retry. */
  private onAuthClose (code: number, reason: string): void {
    const hook = this.opts.refreshToken
    const canRetry = hook !== undefined && !this.authRetried && this.opts.reconnect !== false
    this.emitter.emit('disconnect', { code, reason, willReconnect: canRetry })
    const fail = (): void => {
      this.emitter.emit('auth_failed', { code, reason })
      this.finish('auth_failed', new Error(`authentication failed (${code} ${reason})`))
    }
    if (!canRetry) {
      fail()
      return
    }
    this.authRetried = true
    this.setState('reconnecting', { attempt: this.attempt + 1, delayMs: 0 })
    Promise.resolve().then(() => hook()).then((token) => {
      if (this.stopped) return
      if (!token) {
        fail()
        return
      }
      this.token = token
      this.attempt++
      this.open()
    }, fail)
  }

  /** The client stops for good: state closed, the first connect() (if still waiting) rejected. */
  private finish (reason: NonNullable<StateChange['reason']>, err: Error): void {
    this.stopped = true
    this.clearTimers()
    this.requests.failAll(new RequestError('closed', err.message))
    if (this.currentState !== 'closed') this.setState('closed', { reason })
    this.firstOpen?.reject(err)
    this.firstOpen = undefined
  }

  /** Gives up a socket that went silent: detached first, so its late close (if any) changes nothing. */
  private abandon (code: number, reason: string): void {
    const socket = this.socket
    if (!socket) return
    this.socket = null
    socket.onclose = null
    socket.close(code, reason)
    this.onClose(code, reason)
  }

  private clearTimers (): void {
    this.heartbeat.stop()
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
  }
}

/** A client_message_id: random where the platform offers it (browsers on http://localhost and https, Node). */
function newId (): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (c?.randomUUID) return `cm_${c.randomUUID()}`
  return `cm_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 12)}`
}
