// Calls that come close together wait a few ms and leave as one batch: one query, one write, instead of one each.
import DataLoader from 'dataloader'

/** How long a call waits for company when the previous batch left less than this long ago. */
export const LINGER_MS = 5

/**
 * A DataLoader `batchScheduleFn` that lingers only under load (Kafka's linger.ms, made adaptive): a call that
 * follows the previous batch within `ms` waits `ms` for others, a lone call leaves on the next turn. Connects
 * arrive spread over the loop's turns, each an I/O callback of its own, so one batch per turn (or per tick) was
 * about one batch per socket; with the linger 10 to 15 sockets share one.
 */
export function lingerSchedule (ms = LINGER_MS): (dispatch: () => void) => void {
  let last = -Infinity
  return (dispatch) => {
    const go = (): void => { last = performance.now(); dispatch() }
    if (performance.now() - last < ms) setTimeout(go, ms)
    else setImmediate(go)
  }
}

/**
 * `each` for one key, called for a whole lingered batch in one tick: Redis commands of one tick leave as one write
 * through ioredis's auto-pipelining (per node on a cluster), which a DataLoader's single batch call cannot do
 * across hash slots. A key's failure is its own call's, never its neighbours'.
 */
export function lingering<K, V> (each: (key: K) => Promise<V>, ms = LINGER_MS): (key: K) => Promise<V> {
  const loader = new DataLoader<K, V>(async (keys) => {
    const settled = await Promise.allSettled(keys.map(each))
    return settled.map((s) => s.status === 'fulfilled' ? s.value : s.reason instanceof Error ? s.reason : new Error(String(s.reason)))
  }, { cache: false, maxBatchSize: 1000, batchScheduleFn: lingerSchedule(ms) })
  return async (key) => await loader.load(key)
}
