// Applies the numbered SQL files in migrations/ with postgrator, under an advisory lock so instances booting together take turns.
import { fileURLToPath } from 'node:url'
import Postgrator from 'postgrator'
import type { PgPool } from '../../external/postgres.js'

const MIGRATIONS = fileURLToPath(new URL('../../../../migrations/*.sql', import.meta.url))
const LOCK_ID = 0x6165_6701

export async function migrate (pool: PgPool, schema: string): Promise<{ from: number, to: number }> {
  const client = await pool.connect()
  try {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID])
    const postgrator = new Postgrator({
      migrationPattern: MIGRATIONS,
      driver: 'pg',
      schemaTable: `${schema}.schemaversion`,
      currentSchema: schema,
      execQuery: (query) => client.query(query)
    })
    const from = Number(await postgrator.getDatabaseVersion())
    await postgrator.migrate()
    const to = Number(await postgrator.getDatabaseVersion())
    return { from, to }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined)
    client.release()
  }
}
