// The per-user socket cap in Redis: slots taken up to the cap, renewed while held (one script call per batch), given back.
import { Redis } from 'ioredis'
import t from 'tap'
import { capKey } from '../src/plugins/app/sessions/socket-cap.js'
import { renewalCase } from './fixtures/socket-cap-case.js'
import { isolate, REDIS_URL } from './helper.js'

t.test('a Redis server: slots held past their lease while renewed, one call per batch of users', async (t) => {
  const iso = isolate(t)
  const command = new Redis(REDIS_URL)
  const reader = new Redis(REDIS_URL)
  t.teardown(async () => { await command.quit(); await reader.quit() })
  // Redis's own log of commands: a renewal that names both users' sets is one call for the batch.
  let batched = 0
  const monitor = await reader.monitor()
  t.teardown(() => monitor.disconnect())
  monitor.on('monitor', (_time: string, args: string[]) => {
    if (args.includes(capKey(iso.prefix, 'ann')) && args.includes(capKey(iso.prefix, 'bob'))) batched++
  })
  await renewalCase(t, command, reader, iso.prefix)
  t.ok(batched > 0, `renewals of both users in one call: ${batched}`)
})
