// Pino options: JSON logs that never carry a token, a secret or a ticket, in headers or in query strings.
import type { FastifyServerOptions } from 'fastify'
import type { Config } from './config.js'

const SECRET_QUERY = /([?&](?:token|ticket|jwt|auth_token|access_token|auth_ticket|ticket_id)=)[^&#]*/gi

/** A URL with the values of token-like query parameters replaced. */
export function redactUrl (url: string): string {
  return url.replace(SECRET_QUERY, '$1[REDACTED]')
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
        'req.headers.authorization', 'req.headers["sec-websocket-protocol"]', 'req.headers["x-service-secret"]',
        'req.headers.cookie', 'headers.authorization', 'headers["x-service-secret"]',
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
