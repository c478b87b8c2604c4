// Applies the numbered SQL files in migrations/ with postgrator, under the schema lock so instances booting together take turns.
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Postgrator from 'postgrator'
import { ensureSchema, withSchemaLock, type PgPool } from '../../external/postgres.js'

/** migrations/ of the package this module belongs to, wherever the module was compiled to (dist/, a bench build). */
function migrationsDir (): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); dir !== dirname(dir); dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'migrations'))) return join(dir, 'migrations')
  }
  throw new Error('migrations/ not found above the gateway\'s code')
}

/** Creates the schema if needed and applies the pending migrations, all under the schema lock. */
export async function migrate (pool: PgPool, schema: string): Promise<{ from: number, to: number }> {
  const dir = migrationsDir()
  // An empty glob would "migrate" nothing and report success: refuse instead.
  if (!readdirSync(dir).some((f) => f.endsWith('.sql'))) throw new Error(`no migrations in ${dir}`)
  return await withSchemaLock(pool, async (client) => {
    await ensureSchema(client, schema)
    const postgrator = new Postgrator({
      migrationPattern: join(dir, '*.sql'),
      driver: 'pg',
      schemaTable: `${schema}.schemaversion`,
      currentSchema: schema,
      execQuery: (query) => client.query(query)
    })
    const from = Number(await postgrator.getDatabaseVersion())
    await postgrator.migrate()
    const to = Number(await postgrator.getDatabaseVersion())
    return { from, to }
  })
}
