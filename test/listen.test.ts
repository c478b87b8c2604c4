// The listening socket's backlog: a reconnect storm is queued by the kernel, not dropped back to SYN retries.
import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { promisify } from 'node:util'
import t from 'tap'
import { GatewayProcess } from './fixtures/gateway-process.js'
import { isolate } from './helper.js'

const run = promisify(execFile)

/** The backlog of the socket listening on `port`, as the kernel reports it (`ss`: Send-Q of a LISTEN socket). */
async function backlogOf (port: string): Promise<number> {
  const { stdout } = await run('ss', ['-Hltn', `sport = :${port}`])
  const fields = stdout.trim().split(/\s+/)
  return Number(fields[2])
}

t.test('the server listens with LISTEN_BACKLOG (default 4096, capped by net.core.somaxconn), not Node\'s 511', async (t) => {
  const somaxconn = Number((await readFile('/proc/sys/net/core/somaxconn', 'utf8')).trim())
  const iso = isolate(t)
  const byDefault = GatewayProcess.start(t, iso)
  const port = new URL((await byDefault.listening()).http).port
  t.equal(await backlogOf(port), Math.min(4096, somaxconn), 'the default backlog')
  byDefault.child.kill('SIGTERM')
  t.equal((await byDefault.exited).code, 0)

  const set = GatewayProcess.start(t, iso, { LISTEN_BACKLOG: '1000' })
  t.equal(await backlogOf(new URL((await set.listening()).http).port), Math.min(1000, somaxconn), 'the setting')
  set.child.kill('SIGTERM')
  t.equal((await set.exited).code, 0)
})
