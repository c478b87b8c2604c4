// Run requests out to agent workers: a Redis Stream in production, an in-process queue in the embedded mode.
import type { RedisClient } from '../../external/redis.js'
import { agentKeys, type RunRequest } from '../../../agent/protocol.js'

export interface RunQueue {
  enqueue: (request: RunRequest) => Promise<void>
  /** Asks whichever worker runs `runId` to stop it. */
  stop: (runId: string) => Promise<void>
}

const STOP_TTL_S = 3600

export function createRedisRunQueue (command: RedisClient, prefix: string): RunQueue {
  const keys = agentKeys(prefix)
  return {
    async enqueue (request) {
      await command.xadd(keys.runs, 'MAXLEN', '~', '100000', '*', 'request', JSON.stringify(request))
    },
    async stop (runId) {
      await command.set(keys.stop(runId), '1', 'EX', STOP_TTL_S)
      await command.publish(keys.control, runId)
    }
  }
}

/** The embedded mode's queue: requests go straight to an in-process handler (the reference agent). */
export function createMemoryRunQueue (handle: (request: RunRequest, stopped: () => boolean) => void): RunQueue {
  const stopped = new Set<string>()
  return {
    async enqueue (request) {
      const runId = request.context.run_id
      handle(request, () => stopped.has(runId))
    },
    async stop (runId) {
      stopped.add(runId)
      if (stopped.size > 10_000) stopped.delete(stopped.values().next().value!)
    }
  }
}
