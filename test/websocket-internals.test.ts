// The ws and Node internals detachUpgradeResponse relies on, checked on a real upgraded socket: fails if a release renames them.
import { ServerResponse } from 'node:http'
import { Socket } from 'node:net'
import Fastify from 'fastify'
import t from 'tap'
import WebSocket from 'ws'
import drain from '../src/plugins/external/drain.js'
import websocket, { detachUpgradeResponse } from '../src/plugins/external/websocket.js'

t.test('an upgraded socket has the private fields the gateway detaches, and detaching clears them', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(drain)
  await app.register(websocket, { maxPayload: 1024, drainWindowMs: 0, reconnectJitterMs: 0 })
  const seen: Record<string, unknown> = {}
  app.get('/probe', { websocket: true }, (socket) => {
    const tcp = (socket as unknown as { _socket?: unknown })._socket
    seen.tcpIsSocket = tcp instanceof Socket
    const response = (tcp as { _httpMessage?: unknown } | undefined)?._httpMessage
    seen.responseIsServerResponse = response instanceof ServerResponse
    seen.hasDetachSocket = typeof (response as { detachSocket?: unknown } | undefined)?.detachSocket === 'function'
    seen.detached = detachUpgradeResponse(socket)
    seen.afterDetach = (tcp as { _httpMessage?: unknown } | undefined)?._httpMessage
    seen.detachedAgain = detachUpgradeResponse(socket)
    socket.close(1000)
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  const client = new WebSocket(`ws://127.0.0.1:${address.port}/probe`)
  await new Promise<void>((resolve, reject) => { client.once('close', () => resolve()); client.once('error', reject) })

  t.equal(seen.tcpIsSocket, true, 'ws keeps its TCP socket in _socket')
  t.equal(seen.responseIsServerResponse, true, 'that socket holds the upgrade\'s ServerResponse in _httpMessage')
  t.equal(seen.hasDetachSocket, true, 'which has detachSocket()')
  t.equal(seen.detached, true, 'detachUpgradeResponse detached it')
  t.equal(seen.afterDetach, null, 'and the TCP socket no longer holds the response')
  t.equal(seen.detachedAgain, false, 'a second call finds nothing to detach')
})
