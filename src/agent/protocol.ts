// What passes between the gateway and agent workers: run requests on a Redis Stream, stop signals beside them.
import type { UserExecutionContext } from '../context/user-execution-context.js'

export interface RunRequest {
  context: UserExecutionContext
  /** The user's message, as they wrote it. */
  message: string
  /** Epoch milliseconds at which the gateway accepted the message. */
  created_at: number
}

/** Redis names, all under the gateway's key prefix. */
export const agentKeys = (prefix: string) => ({
  /** The stream of run requests; workers read it as the consumer group `agents`. */
  runs: `${prefix}runs`,
  group: 'agents',
  /** Set when a user stops a run; workers check it between steps. */
  stop: (runId: string) => `${prefix}run:stop:{${runId}}`,
  /** Stop signals, for workers that would rather hear than look. */
  control: `${prefix}agent-control`,
  /** Where workers add their events (the gateway's ingest stream). */
  ingest: `${prefix}ingest`
})
