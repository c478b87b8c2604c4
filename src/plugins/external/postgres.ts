// The PostgreSQL pool (production mode), pinned to the configured schema; closed on shutdown.
import fp from 'fastify-plugin'
import pg from 'pg'
import { withoutPassword } from '../../logger.js'

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
 * a client that failed is released destroyed instead of going back to the pool; so is one whose statement failed
 * otherwise than by the server's answer (a lost connection, a statement timeout), as `pool.query` does.
 */
export async function withClient<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  let broken: Error | undefined
  const onError = (err: Error): void => { broken = err }
  client.on('error', onError)
  try {
    return await work(client)
  } catch (err) {
    if (!isDatabaseError(err)) broken ??= err instanceof Error ? err : new Error(String(err))
    throw err
  } finally {
    client.off('error', onError)
    client.release(broken)
  }
}

/** One lock for everything that shapes a schema (creating it, migrating it): instances booting together take turns. */
const SCHEMA_LOCK = 0x6165_6701

/**
 * Runs `work` on one client while holding the schema lock. The lock is session-level, so it is released on
 * that client before the client goes back to the pool, whatever happened; a session that dies releases it too.
 */
export async function withSchemaLock<T> (pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return await withClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [SCHEMA_LOCK])
    try {
      return await work(client)
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [SCHEMA_LOCK]).catch(() => undefined)
    }
  })
}

/** duplicate_schema, and unique_violation on pg_namespace: another session created the schema first. */
const CREATED_ELSEWHERE: ReadonlySet<string> = new Set(['42P06', '23505'])

/**
 * CREATE SCHEMA IF NOT EXISTS checks the catalog, then inserts: two sessions can both pass the check and the
 * second fails on pg_namespace's unique index. The lock keeps our own instances apart; this keeps anything else
 * (a migration CLI, an older instance) from failing a boot, since a schema that exists is all we asked for.
 */
export async function ensureSchema (client: pg.ClientBase | pg.Pool, schema: string): Promise<void> {
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
  } catch (err) {
    if (!CREATED_ELSEWHERE.has(String((err as { code?: unknown }).code))) throw err
    const found = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])
    if (found.rowCount === 0) throw err
  }
}

/** SQLSTATE classes that mean the server was not usable at all: connection, authentication, unknown database. */
const UNREACHABLE_CLASSES: readonly string[] = ['08', '28', '3D', '53', '57']

/** A boot failure worded for the operator: which URL (without its password), and whether it was reached. */
export function databaseError (err: unknown, url: string, schema: string): Error {
  const message = err instanceof Error ? err.message : String(err)
  // Only a server's answer is a DatabaseError; socket errors (ECONNREFUSED, ENOTFOUND) and pool timeouts are not.
  const answered = isDatabaseError(err) && !UNREACHABLE_CLASSES.some((c) => String(err.code).startsWith(c))
  const where = `PostgreSQL at ${withoutPassword(url)} (DATABASE_URL)`
  return new Error(answered ? `${where} refused to prepare schema ${schema}: ${message}` : `cannot reach ${where}: ${message}`, { cause: err })
}

export default fp<{ url: string, schema: string, max: number, applicationName: string }>(async (app, opts) => {
  const pool = createPool(opts.url, opts.schema, opts.max, opts.applicationName)
  // An idle client's error (e.g. the server restarted) must not crash the process.
  pool.on('error', (err) => app.log.warn({ err: { message: err.message } }, 'postgres idle client error'))
  try {
    await withSchemaLock(pool, (client) => ensureSchema(client, opts.schema))
  } catch (err) {
    await pool.end()
    throw databaseError(err, opts.url, opts.schema)
  }
  app.decorate('pg', pool)
  app.addHook('onClose', async () => { if (!pool.ended) await pool.end() })
}, { name: 'postgres', fastify: '5.x' })
