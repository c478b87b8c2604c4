// @fastify/websocket with our limits and subprotocol negotiation; on close, sockets are told to reconnect (1012).
import websocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import { negotiateProtocol } from '../app/auth/tokens.js'

export default fp<{ maxPayload: number }>(async (app, opts) => {
  await app.register(websocket, {
    options: {
      maxPayload: opts.maxPayload,
      // Echo the token-bearing entry exactly as offered (contract section 2.3).
      handleProtocols: (offered) => negotiateProtocol(offered)
    },
    preClose: async function () {
      const server = app.websocketServer
      // The registry closes registered sockets with a reason; anything else (mid-handshake) goes too.
      app.registry?.closeAll('SERVICE_RESTART')
      for (const client of server.clients) client.close(1012, 'service restart')
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
}, { name: 'websocket', fastify: '5.x' })
