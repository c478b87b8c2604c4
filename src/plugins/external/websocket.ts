// @fastify/websocket with our limits and subprotocol negotiation; on close, sockets are told to reconnect (1012).
import websocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import { negotiateProtocol } from '../app/auth/tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** True once shutdown has begun: new upgrades are refused. */
    draining: boolean
  }
}

/** After the drain, how long closing sockets get to answer the close before their connections are dropped. */
const CLOSE_GRACE_MS = 1000

export default fp<{ maxPayload: number, drainWindowMs: number, reconnectJitterMs: number }>(async (app, opts) => {
  app.decorate('draining', false)
  await app.register(websocket, {
    options: {
      maxPayload: opts.maxPayload,
      // Echo the token-bearing entry exactly as offered (contract section 2.3).
      handleProtocols: (offered) => negotiateProtocol(offered)
    },
    preClose: async function () {
      const server = app.websocketServer
      app.draining = true
      // Stop accepting first (ws answers later upgrades 503); the close completes once the last client is gone.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Registered sockets are told when to come back, in batches; anything else (mid-handshake) just goes.
      const drained = await app.registry?.drain({ windowMs: opts.drainWindowMs, batches: 10, reconnectJitterMs: opts.reconnectJitterMs }) ?? 0
      // The registry writes to every socket, registered or not (contract: one writer; test/architecture.test.ts).
      app.registry?.closeSockets(server.clients, 'SERVICE_RESTART')
      // A client that does not answer its close would hold the HTTP server open past Cloud Run's deadline.
      if (server.clients.size > 0) await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS))])
      app.registry?.terminateSockets(server.clients)
      await closed
      app.log.info({ drained }, 'websockets drained')
    }
  })
}, { name: 'websocket', fastify: '5.x' })
