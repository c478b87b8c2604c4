// The reference floor: a bare `ws` server that SUBSCRIBEs a user's channel on their first socket and forwards the raw string.
// Identity comes from `?user=` (no token check): connect-time work is not what this reference measures.
import { createServer } from 'node:http'
import { Redis } from 'ioredis'
import { WebSocketServer, type WebSocket } from 'ws'
import { channelOf } from './common.js'

const port = Number(process.env.PORT)
const redisUrl = process.env.REDIS_URL ?? ''

const sub = new Redis(redisUrl, { connectionName: 'baseline-subscriber' })
const byChannel = new Map<string, Set<WebSocket>>()

sub.on('message', (channel: string, message: string) => {
  const sockets = byChannel.get(channel)
  if (sockets === undefined) return
  for (const socket of sockets) socket.send(message)
})

const http = createServer((req, res) => {
  res.writeHead(req.url === '/health' ? 200 : 404).end()
})
const wss = new WebSocketServer({ server: http, perMessageDeflate: false })

wss.on('connection', (socket, req) => {
  const user = new URL(req.url ?? '/', 'http://x').searchParams.get('user')
  if (!user) { socket.close(1008, 'user required'); return }
  const channel = channelOf(user)
  let sockets = byChannel.get(channel)
  const first = sockets === undefined
  if (sockets === undefined) {
    sockets = new Set()
    byChannel.set(channel, sockets)
  }
  const set = sockets
  socket.on('close', () => {
    set.delete(socket)
    if (set.size === 0 && byChannel.get(channel) === set) {
      byChannel.delete(channel)
      sub.unsubscribe(channel).catch(() => undefined)
    }
  })
  socket.on('error', () => undefined)
  // Same promise as the gateway's connection_established: the welcome leaves only once the channel is subscribed.
  const welcome = (): void => { set.add(socket); socket.send('{"type":"ready"}') }
  if (first) sub.subscribe(channel).then(welcome, () => socket.close(1011))
  else welcome()
})

http.listen(port, '127.0.0.1')

process.on('SIGTERM', () => {
  for (const socket of wss.clients) socket.terminate()
  wss.close()
  http.close()
  sub.disconnect()
  setTimeout(() => process.exit(0), 200).unref()
})
