// Pino options: JSON logs that never carry a token, a secret or a ticket, in headers or in query strings.
import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify'
import type { Bindings, ChildLoggerOptions, Logger } from 'pino'
import type { Config } from './config.js'

/**
 * Query parameters whose values may be logged: offsets, page sizes and the demo's user name. Every other value is
 * replaced, whatever its name or encoding: `?%74oken=`, `tok%65n`, `?access_token=` and names nobody thought of
 * yet all look alike here, because the decision is by what is known to be harmless rather than by what is not.
 */
const LOGGABLE_QUERY: ReadonlySet<string> = new Set(['after', 'limit', 'since', 'epoch', 'last_seq', 'user'])

function decodedName (raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replaceAll('+', ' ')).trim().toLowerCase()
  } catch {
    return undefined
  }
}

/** A URL with the value of every query parameter that is not known to be harmless replaced. */
export function redactUrl (url: string): string {
  const q = url.indexOf('?')
  if (q === -1) return url
  const pairs = url.slice(q + 1).split('&').map((pair) => {
    const eq = pair.indexOf('=')
    const name = eq === -1 ? pair : pair.slice(0, eq)
    const decoded = decodedName(name)
    if (decoded !== undefined && LOGGABLE_QUERY.has(decoded) && eq !== -1) return pair
    // A bare name is logged only when harmless too: `?<jwt>` alone would otherwise go to the log.
    if (eq === -1) return decoded !== undefined && LOGGABLE_QUERY.has(decoded) ? pair : '[REDACTED]'
    return `${name.length <= 32 ? name : '[REDACTED]'}=[REDACTED]`
  })
  return `${url.slice(0, q)}?${pairs.join('&')}`
}

/** A connection URL fit to print: its password, if any, replaced. Not a URL at all: said so, never echoed. */
export function withoutPassword (url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password !== '') parsed.password = '***'
    return parsed.toString()
  } catch {
    return '(an unparsable URL)'
  }
}

export function loggerOptions (config: Pick<Config, 'logLevel' | 'env'>): FastifyServerOptions['logger'] {
  return {
    level: config.logLevel,
    redact: {
      paths: [
        'req.headers.authorization', 'req.headers["sec-websocket-protocol"]', 'req.headers["x-service-secret"]', 'req.headers["x-admin-secret"]',
        'req.headers.cookie', 'headers.authorization', 'headers["x-service-secret"]', 'headers["x-admin-secret"]',
        'token', '*.token', 'secret', '*.secret', 'ticket', '*.ticket', 'ticket_id', '*.ticket_id',
        'access_token', '*.access_token', 'refresh_token', '*.refresh_token', 'websocket_url', '*.websocket_url'
      ],
      censor: '[REDACTED]'
    },
    serializers: {
      req (request) {
        return { method: request.method, url: redactUrl(request.url), remoteAddress: request.ip }
      }
    }
  }
}

type LevelMethod = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/** Whether a line at `level` would be written (Fastify's logger type leaves pino's `isLevelEnabled` out). */
export function levelEnabled (log: FastifyBaseLogger, level: LevelMethod): boolean {
  return (log as Partial<Pick<Logger, 'isLevelEnabled'>>).isLevelEnabled?.(level) ?? true
}

/**
 * A request's logger, made on its first enabled line. Fastify makes a pino child for every request, and a child
 * costs about 2 KB of heap and its level methods a few µs to set up; at thousands of ingest requests a second
 * that was a visible share of the allocations, for loggers most requests never use. Neither Fastify nor pino
 * defers it, hence this wrapper (Fastify's `childLoggerFactory`).
 */
class RequestLogger {
  private made: FastifyBaseLogger | undefined
  constructor (private readonly parent: FastifyBaseLogger, private readonly bindings: Bindings) {}
  get level (): string { return this.made?.level ?? this.parent.level }
  isLevelEnabled (level: LevelMethod): boolean { return levelEnabled(this.made ?? this.parent, level) }
  set level (level: string) { this.real().level = level }
  child (bindings: Bindings, opts?: ChildLoggerOptions): FastifyBaseLogger { return this.real().child(bindings, opts) }
  fatal (...args: unknown[]): void { this.line('fatal', args) }
  error (...args: unknown[]): void { this.line('error', args) }
  warn (...args: unknown[]): void { this.line('warn', args) }
  info (...args: unknown[]): void { this.line('info', args) }
  debug (...args: unknown[]): void { this.line('debug', args) }
  trace (...args: unknown[]): void { this.line('trace', args) }
  silent (): void {}
  private real (): FastifyBaseLogger { return (this.made ??= this.parent.child(this.bindings)) }
  private line (method: LevelMethod, args: unknown[]): void {
    if (this.made === undefined && !levelEnabled(this.parent, method)) return
    ;(this.real()[method] as (...a: unknown[]) => void)(...args)
  }
}

/** Fastify's child logger factory: lazy for the common case; a route with its own level or serializers gets pino's own child. */
export function requestLogger (logger: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  if (opts.level !== undefined || opts.serializers !== undefined) return logger.child(bindings, opts)
  return new RequestLogger(logger, bindings) as unknown as FastifyBaseLogger
}
