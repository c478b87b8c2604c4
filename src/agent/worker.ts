// `npm run agent`: a reference agent worker. Reads run requests from Redis, runs them, XADDs their events to the ingest stream.
import { Redis } from 'ioredis'
import { agentKeys, type RunRequest } from './protocol.js'
import { runReferenceAgent } from './reference-agent.js'

export interface WorkerOptions {
  redisUrl: string
  prefix: string
  consumer: string
  stepMs: number
  /** Runs at the same time, at most. */
  concurrency: number
  log?: (message: string) => void
}

type ReadReply = Array<[string, Array<[string, string[]]>]> | null

export async function startWorker (opts: WorkerOptions): Promise<{ stop: () => Promise<void> }> {
  const keys = agentKeys(opts.prefix)
  const log = opts.log ?? (() => {})
  const command = new Redis(opts.redisUrl, { maxRetriesPerRequest: 3 })
  const reader = new Redis(opts.redisUrl)
  const control = new Redis(opts.redisUrl)
  for (const c of [command, reader, control]) c.on('error', (err: Error) => log(`redis: ${err.message}`))
  await command.xgroup('CREATE', keys.runs, keys.group, '0', 'MKSTREAM').catch((err: Error) => {
    if (!err.message.includes('BUSYGROUP')) throw err
  })
  // Stops arrive as messages; the key is the fallback for a stop sent before this worker subscribed.
  const stopped = new Set<string>()
  control.on('message', (_channel: string, runId: string) => stopped.add(runId))
  await control.subscribe(keys.control)

  const emit = async (event: Record<string, unknown>): Promise<void> => {
    await command.xadd(keys.ingest, 'MAXLEN', '~', '100000', '*', 'event', JSON.stringify(event))
  }
  const active = new Set<Promise<void>>()
  const state = { running: true }

  async function run (id: string, fields: string[]): Promise<void> {
    const raw = fields[fields.indexOf('request') + 1]
    try {
      const request = JSON.parse(raw ?? '') as RunRequest
      const runId = request.context.run_id
      const outcome = await runReferenceAgent(request, emit, {
        stepMs: opts.stepMs,
        stopped: async () => stopped.has(runId) || await command.exists(keys.stop(runId)) === 1
      })
      log(`run ${runId} ${outcome}`)
    } catch (err) {
      log(`run request ${id} failed: ${(err as Error).message}`)
    } finally {
      // Acknowledged once its events are in the ingest stream (or it could not be read at all).
      await command.xack(keys.runs, keys.group, id).catch(() => undefined)
    }
  }

  const loop = (async () => {
    while (state.running) {
      const free = opts.concurrency - active.size
      if (free <= 0) { await Promise.race(active); continue }
      try {
        const reply = await reader.xreadgroup('GROUP', keys.group, opts.consumer, 'COUNT', free, 'BLOCK', 1000, 'STREAMS', keys.runs, '>') as ReadReply
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          const task = run(id, fields).finally(() => active.delete(task))
          active.add(task)
        }
      } catch (err) {
        if (state.running) log(`reading run requests failed: ${(err as Error).message}`)
      }
    }
  })()

  return {
    async stop () {
      state.running = false
      reader.disconnect()
      await loop
      await Promise.allSettled(active)
      control.disconnect()
      await command.quit().catch(() => command.disconnect())
    }
  }
}

// Run as a program (not when imported by tests).
if (import.meta.url === `file://${process.argv[1]}`) {
  const redisUrl = process.env.REDIS_URL
  if (!redisUrl) {
    process.stderr.write('agent: REDIS_URL is required (the worker reads run requests from Redis)\n')
    process.exit(2)
  }
  const worker = await startWorker({
    redisUrl,
    prefix: process.env.REDIS_KEY_PREFIX ?? 'aeg:',
    consumer: process.env.AGENT_CONSUMER ?? `agent-${process.pid}`,
    stepMs: Number(process.env.AGENT_STEP_MS ?? 400),
    concurrency: Number(process.env.AGENT_CONCURRENCY ?? 50),
    log: (message) => process.stdout.write(`${JSON.stringify({ time: Date.now(), msg: message })}\n`)
  })
  const shutdown = (): void => { worker.stop().then(() => process.exit(0), () => process.exit(1)) }
  process.once('SIGTERM', shutdown)
  process.once('SIGINT', shutdown)
}
