// The sessions plugin: what holds for a user's sockets across instances: the per-user cap, expiry timers, revocation.
import fp from 'fastify-plugin'
import type { Clock } from '../../../clock.js'
import type { Config } from '../../../config.js'
import { parseRevokeMessage, revokeMessage } from '../../../protocol/control.js'
import { errorMessage } from '../../../protocol/frames.js'
import type { Identity } from '../auth/identity.js'
import { createMemoryRevocations, revokedBy, type RevocationTarget } from '../auth/revocations.js'
import type { Connection } from '../fanout/registry.js'
import { expiryWheel, ExpiryWatch, type ExpiryHandlers } from './expiry.js'

export interface Sessions {
  /** Takes one of the user's socket slots across all instances; false when the cap is reached. */
  admit: (conn: Connection) => Promise<boolean>
  release: (conn: Connection) => void
  /** Remembers the revocation, then tells every instance to close the matching sockets. */
  revoke: (target: RevocationTarget) => Promise<{ at: number }>
  /** Whether a revocation seen on the control channel matches (closes the race with a socket mid-registration). */
  revokedHere: (identity: Identity) => Promise<boolean>
  /** One watch per socket; `handlers` is the socket's session. */
  watchExpiry: (handlers: ExpiryHandlers) => ExpiryWatch
  /** Fires every expiry due by the clock's now (the wheel's own tick does so every 100 ms); resolves once they have fired. */
  expireDue: () => Promise<void>
  /** Expiry watches still running: zero once every socket is gone (no timer leaks). */
  readonly activeWatches: number
  socketsOf: (userId: string) => Promise<number>
}

declare module 'fastify' {
  interface FastifyInstance { sessions: Sessions }
}

export default fp<{ config: Config, clock: Clock }>(async (app, { config, clock }) => {
  const { registry, fanout, auth } = app
  const { session } = config
  const cap = app.backends.socketCap
  const seen = createMemoryRevocations()
  // A count, not a set of watches: the wheel holds what is scheduled, and stopping it at close stops them all.
  let watches = 0
  const wheel = expiryWheel((err) => app.log.error({ err }, 'token expiry handling failed'), clock)
  wheel.start()

  function closeRevoked (target: RevocationTarget, at: number): number {
    const candidates = 'userId' in target ? [...registry.list(target.userId)] : [...registry.list()]
    const matching = candidates.filter((conn) => 'userId' in target
      ? revokedBy(conn.identity, at, false)
      : conn.identity.jti === target.jti)
    for (const conn of matching) {
      registry.send(conn, errorMessage('TOKEN_REVOKED', 'this session was revoked: sign in again'))
      registry.close(conn, 'TOKEN_REVOKED')
    }
    return matching.length
  }

  fanout.onControl((raw) => {
    const revocation = parseRevokeMessage(raw, Date.now())
    if (revocation === undefined) {
      app.log.warn({ channel: fanout.controlChannel }, 'ignored a malformed control message')
      return
    }
    const { target, at } = revocation
    const closed = closeRevoked(target, at)
    app.log.info({ revoked: 'userId' in target ? 'user' : 'jti', user_id: 'userId' in target ? target.userId : undefined, closed }, 'revocation applied')
    // Stored on every instance (the same idempotent write) so a message published by another service is enough.
    Promise.all([seen.record(target, at, session.revocationTtlS), auth.revocations.record(target, at, session.revocationTtlS)])
      .catch((err: unknown) => app.log.error({ err }, 'could not store a revocation'))
  })

  const timing = { warningMs: session.expiryWarningMs, graceMs: session.expiryGraceMs }
  const onClear = (): void => { watches-- }
  const sessions: Sessions = {
    admit: (conn) => cap.acquire(conn.userId, conn.id),
    release (conn) {
      cap.release(conn.userId, conn.id).catch((err: unknown) => conn.log.warn({ err }, 'socket slot release failed'))
    },
    async revoke (target) {
      const at = Date.now()
      // Stored first: a reconnect right after the answer is already refused.
      await auth.revocations.record(target, at, session.revocationTtlS)
      await fanout.publishControl(JSON.stringify(revokeMessage(target, at)))
      return { at }
    },
    revokedHere: (identity) => seen.isRevoked(identity),
    watchExpiry (handlers) {
      watches++
      return new ExpiryWatch(wheel, timing, handlers, onClear)
    },
    expireDue: () => wheel.advance(),
    get activeWatches () { return watches },
    socketsOf: (userId) => cap.count(userId)
  }
  app.decorate('sessions', sessions)
  app.addHook('onClose', async () => {
    wheel.stop()
    await cap.close()
  })
}, { name: 'sessions', fastify: '5.x', dependencies: ['backends', 'auth', 'fanout'] })
