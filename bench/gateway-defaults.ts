// The gateway's own defaults, read from its config schema: the bench runs it with them and sizes its windows by them.
import { parseEnv } from '../src/config.js'

const env = parseEnv({})

/** The liveness sweep's period: a measured window spans at least two, so it always contains the periodic work. */
export const HEARTBEAT_INTERVAL_S = env.HEARTBEAT_INTERVAL_S
/** The hot history the gateway's Redis broker keeps per user. */
export const HISTORY = { size: env.HISTORY_SIZE, ttlMs: env.HISTORY_TTL_S * 1000 }
/** The gateway's log level: the bench's servers log as production does, unless --log-level says otherwise. */
export const LOG_LEVEL = env.LOG_LEVEL
