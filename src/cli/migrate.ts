// `npm run migrate`: applies the SQL migrations to DATABASE_URL (in DATABASE_SCHEMA) and exits.
import { loadConfig } from '../config.js'
import { createPool } from '../plugins/external/postgres.js'
import { migrate } from '../plugins/app/store/migrate.js'

const config = loadConfig()
if (!config.database) {
  process.stderr.write('migrate: DATABASE_URL is not set (the embedded mode has nothing to migrate)\n')
  process.exit(2)
}
const { url, schema } = config.database
const pool = createPool(url, schema, 1)
try {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`)
  const { from, to } = await migrate(pool, schema)
  process.stdout.write(`migrated schema ${schema} from version ${from} to ${to}\n`)
} finally {
  await pool.end()
}
