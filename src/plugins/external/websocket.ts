// @fastify/websocket with our limits and subprotocol negotiation; on close, upgrades are refused at the door and sockets are told to reconnect (1012).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import websocket from '@fastify/websocket'
import fp from 'fastify-plugin'
import { negotiateProtocol } from '../../protocol/tokens.js'

/** After the drain, how long closing sockets get to answer the close before their connections are dropped. */
const CLOSE_GRACE_MS = 1000
/** What a refused upgrade's client is told to wait: another instance takes it at once. */
const RETRY_AFTER_S = 1

type UpgradeListener = (request: IncomingMessage, socket: Duplex, head: Buffer) => void

/** The 503 of our error model, written on the raw socket: nothing of the request (route, hooks, auth) has run. */
function refuseUpgrade (socket: Duplex): void {
  const body = JSON.stringify({ statusCode: 503, code: 'OVER_CAPACITY', error: 'Service Unavailable', message: 'this instance is shutting down; retry shortly' })
  socket.on('error', () => socket.destroy())
  // Ended, then destroyed once written: an upgrade socket is no longer the HTTP server's, and a half-open one
  // (the client never ends its side) would hold the server's close open.
  socket.once('finish', () => socket.destroy())
  socket.end('HTTP/1.1 503 Service Unavailable\r\n' +
    `Retry-After: ${RETRY_AFTER_S}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)
}

/** The private fields of a `ws` socket this module reads: `_socket` is its TCP socket, `_httpMessage` Node's response on that. */
type UpgradedSocket = { _socket?: Socket & { _httpMessage?: ServerResponse | null } }

/** The TCP socket under a `ws` socket (its `_socket`), for corking several frames into one write. */
export function tcpOf (socket: object): Socket | undefined {
  return (socket as UpgradedSocket)._socket
}

/**
 * Lets go of the upgrade request once a socket is served. @fastify/websocket gave the TCP socket a ServerResponse
 * (assignSocket) that holds the upgrade request, headers and token included, for as long as the socket lives.
 * These are `ws` and Node internals: test/websocket-internals.test.ts fails if either renames them.
 * Returns whether there was a response to detach.
 */
export function detachUpgradeResponse (socket: object): boolean {
  const tcp = (socket as UpgradedSocket)._socket
  const response = tcp?._httpMessage
  if (tcp === undefined || response === undefined || response === null) return false
  response.detachSocket(tcp)
  return true
}

export default fp<{ maxPayload: number, drainWindowMs: number, reconnectJitterMs: number }>(async (app, opts) => {
  /** Upgrade sockets between the door and the ws server: nobody else ends them if their request goes wrong. */
  const pending = new Set<Duplex>()

  await app.register(websocket, {
    options: {
      maxPayload: opts.maxPayload,
      // Echo the token-bearing entry exactly as offered (contract section 2.3).
      handleProtocols: (offered) => negotiateProtocol(offered)
    },
    preClose: async function () {
      const server = app.websocketServer
      // Stop accepting first (the door now answers 503); the close completes once the last client is gone.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Registered sockets are told when to come back, in batches; anything else (mid-handshake) just goes.
      const drained = await app.registry?.drain({ windowMs: opts.drainWindowMs, batches: 10, reconnectJitterMs: opts.reconnectJitterMs }) ?? 0
      // The registry writes to every socket, registered or not (contract: one writer; test/architecture.test.ts).
      app.registry?.closeSockets(server.clients, 'SERVICE_RESTART')
      // A client that does not answer its close would hold the HTTP server open past Cloud Run's deadline.
      if (server.clients.size > 0) await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS).unref())])
      app.registry?.terminateSockets(server.clients)
      await closed
      // Upgrades that reached the router as shutdown began were answered by Fastify (503) but never ended.
      for (const socket of pending) socket.destroy()
      app.log.info({ drained }, 'websockets drained')
    }
  })

  // The door: every upgrade passes here before Fastify routes it. Once shutdown has begun, it is refused at once,
  // before any hook or auth work, with the Retry-After that sends its client to another instance.
  const forward = app.server.listeners('upgrade') as UpgradeListener[]
  app.server.removeAllListeners('upgrade')
  app.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (app.draining) {
      refuseUpgrade(socket)
      return
    }
    pending.add(socket)
    socket.on('close', forget)
    for (const listener of forward) listener.call(app.server, request, socket, head)
  })
  // One listener for all, taken off once the upgrade is done: a `once` wrapper left on every socket for its
  // whole life cost about 220 B each.
  function forget (this: Duplex): void { pending.delete(this) }
  app.websocketServer.on('connection', (_socket: unknown, request: IncomingMessage) => {
    pending.delete(request.socket)
    request.socket.removeListener('close', forget)
  })
}, { name: 'websocket', fastify: '5.x', dependencies: ['drain'] })
