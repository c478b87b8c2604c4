// The Socket.IO 4 reference: one room per user, fanned out across instances by @socket.io/redis-adapter.
// SIO_ADAPTER=classic (PSUBSCRIBE, every instance sees every event) or sharded (SSUBSCRIBE per room, Redis 7).
import { createServer } from 'node:http'
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { Server } from 'socket.io'

const port = Number(process.env.PORT)
const redisUrl = process.env.REDIS_URL ?? ''
const sharded = process.env.SIO_ADAPTER === 'sharded'

const pub = new Redis(redisUrl, { connectionName: 'sio-pub' })
const sub = new Redis(redisUrl, { connectionName: 'sio-sub' })

const http = createServer((req, res) => {
  if (req.url === '/health') res.writeHead(200).end()
})
const io = new Server(http, {
  // WebSocket only, no compression: the same transport work as the other stacks.
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  adapter: sharded ? createShardedAdapter(pub, sub, { subscriptionMode: 'dynamic' }) : createAdapter(pub, sub)
})

io.on('connection', (socket) => {
  const user = (socket.handshake.auth as { user?: unknown }).user
  if (typeof user !== 'string' || user === '') { socket.disconnect(true); return }
  Promise.resolve(socket.join(`user:${user}`)).then(() => socket.emit('ready'), () => socket.disconnect(true))
})

http.listen(port, '127.0.0.1')

process.on('SIGTERM', () => {
  io.disconnectSockets(true)
  io.close().catch(() => undefined)
  pub.disconnect()
  sub.disconnect()
  setTimeout(() => process.exit(0), 200).unref()
})
