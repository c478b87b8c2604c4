// `npm run migrate`: applies the SQL migrations to DATABASE_URL (in DATABASE_SCHEMA) and exits.
import { parseEnv } from '../config.js'
import { createPool, databaseError } from '../plugins/external/postgres.js'
import { migrate } from '../plugins/app/store/migrate.js'

// Only the database settings matter here; the rest of the service's configuration is not required.
const env = parseEnv(process.env)
if (!env.DATABASE_URL) {
  process.stderr.write('migrate: DATABASE_URL is not set (the embedded mode has nothing to migrate)\n')
  process.exit(2)
}
const url = env.DATABASE_URL
const schema = env.DATABASE_SCHEMA
const pool = createPool(url, schema, 1)
try {
  // The schema is created under the same lock as the migrations, so this may run while instances boot.
  const { from, to } = await migrate(pool, schema)
  process.stdout.write(`migrated schema ${schema} from version ${from} to ${to}\n`)
} catch (err) {
  process.stderr.write(`migrate: ${databaseError(err, url, schema).message}\n`)
  process.exitCode = 1
} finally {
  await pool.end()
}
