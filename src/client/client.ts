// AgentClient: one user's stream from the gateway, kept across drops (reconnect, resume, dedupe), plus chat requests.
import { backoffDelay, retryAfterClose } from './backoff.js'
import { Emitter } from './emitter.js'
import { Heartbeat } from './heartbeat.js'
import { isAgentEvent, parseFrame, type AgentStopped, type AnyFrame, type ConnectionEstablished, type ServerFrames } from './frames.js'
import { Outbox } from './outbox.js'
import { newId, RequestError, Requests, type SendResult } from './requests.js'
import { OPEN, closeSocket, frameText, resolveWebSocket, type WebSocketConstructor, type WebSocketLike } from './socket.js'
import { TicketError } from './ticket.js'
import { attemptCredentials, attemptUrl, delivered, socketUrl, type Position } from './url.js'
import { deferred, type ClientEvents, type ClientOptions, type ConnectionState, type Deferred, type StateChange } from './options.js'

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
  private readonly outbox: Outbox
  private firstOpen: Deferred<ConnectionEstablished> | undefined
  /** Counters for the curious (and the tests). */
  readonly stats = { connects: 0, reconnects: 0, duplicates: 0, resumeFailures: 0 }

  constructor (private readonly opts: ClientOptions) {
    if (opts.token === undefined && opts.ticket === undefined) throw new TypeError('AgentClient needs a token or a ticket provider')
    this.emitter = new Emitter(opts.onHandlerError)
    this.requests = new Requests(opts.requestTimeoutMs ?? 15_000)
    this.outbox = new Outbox(this.requests, opts.maxQueued ?? 100)
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
    this.outbox.clear()
    this.requests.failAll(new RequestError('closed', 'the client was closed'))
    const socket = this.socket
    this.socket = null
    this.finish('closed_by_client', new Error('the client was closed'))
    if (socket && socket.readyState <= OPEN) await closeSocket(socket, 1000, 'client closed', 2000)
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
    attemptCredentials(this.opts.ticket, this.token).then(({ protocols, ticket }) => {
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

  private onText (text: string | undefined): void {
    const frame = text === undefined ? undefined : parseFrame(text)
    if (frame === undefined) return
    this.heartbeat.markHeard()
    this.dispatch(frame)
  }

  private dispatch (frame: AnyFrame): void {
    this.emitter.emit('frame', frame)
    if (isAgentEvent(frame)) {
      if (delivered(this.pos, frame)) {
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
    this.outbox.flush(this.socket!)
    this.firstOpen?.resolve(welcome)
    this.firstOpen = undefined
  }

  /** Frames go out only once the socket is welcomed (state open); until then they wait in the outbox. */
  private write (frame: Record<string, unknown>, requestId?: number): void {
    this.outbox.write(frame, requestId, this.currentState === 'open' ? this.socket : null, this.stopped)
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
    const { reconnect, willReconnect } = retryAfterClose(code, this.attempt, this.opts.reconnect)
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
