// Applies the numbered SQL files in migrations/ with postgrator, under an advisory lock so instances booting together take turns.
import { fileURLToPath } from 'node:url'
import Postgrator from 'postgrator'
import { withClient, type PgPool } from '../../external/postgres.js'

const MIGRATIONS = fileURLToPath(new URL('../../../../migrations/*.sql', import.meta.url))
const LOCK_ID = 0x6165_6701

export async function migrate (pool: PgPool, schema: string): Promise<{ from: number, to: number }> {
  return await withClient(pool, async (client) => {
    await client.query('SELECT pg_advisory_lock($1)', [LOCK_ID])
    try {
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
      // Session-level lock on a pooled connection: it must go before the client does, whatever happened.
      await client.query('SELECT pg_advisory_unlock($1)', [LOCK_ID]).catch(() => undefined)
    }
  })
}
