// The PostgreSQL pool (production mode), pinned to the configured schema; closed on shutdown.
import fp from 'fastify-plugin'
import pg from 'pg'

export type PgPool = pg.Pool
export type PgPoolClient = pg.PoolClient

declare module 'fastify' {
  interface FastifyInstance {
    pg?: pg.Pool
  }
}

export function createPool (url: string, schema: string, max: number): pg.Pool {
  return new pg.Pool({
    connectionString: url,
    max,
    // Every connection works in the configured schema (tests give each file its own).
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000
  })
}

export default fp<{ url: string, schema: string, max: number }>(async (app, opts) => {
  const pool = createPool(opts.url, opts.schema, opts.max)
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
