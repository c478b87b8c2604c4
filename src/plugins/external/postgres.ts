// The PostgreSQL pool (production mode), pinned to the configured schema; closed on shutdown.
import fp from 'fastify-plugin'
import pg from 'pg'

export type PgPool = pg.Pool
export type PgPoolClient = pg.PoolClient

/** An error the server answered with (it has a SQLSTATE), as opposed to a lost or refused connection. */
export function isDatabaseError (err: unknown): err is pg.DatabaseError {
  return err instanceof pg.DatabaseError
}

declare module 'fastify' {
  interface FastifyInstance {
    pg?: pg.Pool
  }
}

export function createPool (url: string, schema: string, max: number, applicationName = 'agent-event-gateway'): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max,
    // Operators find this instance's sessions in pg_stat_activity by it.
    application_name: applicationName.slice(0, 63),
    // Every connection works in the configured schema (tests give each file its own).
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000
  })
}

/**
 * Runs `work` on a client of its own. While checked out a client has no pool listener, and pg emits connection
 * errors (a killed backend, a lost server) as events: unheard, one would crash the process. So we listen, and
 * a client that failed is released destroyed instead of going back to the pool.
 */
export async function withClient<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  const onError = (err: Error): void => { broken = err }
  client.on('error', onError)
  try {
    return await work(client)
  } finally {
    client.off('error', onError)
    client.release(broken)
  }
}

export default fp<{ url: string, schema: string, max: number, applicationName: string }>(async (app, opts) => {
  const pool = createPool(opts.url, opts.schema, opts.max, opts.applicationName)
  // An idle client's error (e.g. the server restarted) must not crash the process.
  pool.on('error', (err) => app.log.warn({ err: { message: err.message } }, 'postgres idle client error'))
  try {
    await pool.query(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}`)
  } catch (err) {
    await pool.end()
    throw new Error(`cannot reach PostgreSQL at DATABASE_URL: ${(err as Error).message}`)
  }
  app.decorate('pg', pool)
  app.addHook('onClose', async () => { if (!pool.ended) await pool.end() })
}, { name: 'postgres', fastify: '5.x' })
