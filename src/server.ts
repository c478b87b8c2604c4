// The process: read the environment, build the app, listen on $PORT, and shut down cleanly on SIGTERM/SIGINT.
import closeWithGrace from 'close-with-grace'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'

function readConfig (): Config {
  try {
    return loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`${err.message}\n`)
    process.exit(1)
  }
}

const config = readConfig()
const app = await buildApp(config).catch((err: unknown) => {
  // A dependency that cannot be used at boot (PostgreSQL, Redis) is the operator's to fix: one line naming it.
  // Outside production the stack follows, for the developer whose plugin threw.
  const stack = config.env !== 'production' && err instanceof Error && err.stack ? `\n${err.stack}` : ''
  process.stderr.write(`cannot start: ${err instanceof Error ? err.message : String(err)}${stack}\n`)
  process.exit(1)
})

// Cloud Run sends SIGTERM and kills 10 s later: finish well before.
closeWithGrace({ delay: 8000 }, async ({ signal, err }) => {
  if (err) app.log.error({ err }, 'closing after an error')
  else app.log.info({ signal }, 'closing')
  await app.close()
})

try {
  await app.listen({ host: config.host, port: config.port, backlog: config.listenBacklog })
} catch (err) {
  app.log.fatal({ err }, 'cannot listen')
  process.exit(1)
}
