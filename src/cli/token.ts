// `npm run -s token -- <user> [ttl-seconds]`: prints a dev-mode access token for that user on stdout, and nothing else.
import { EMBEDDED_DEFAULTS } from '../config.js'
import { signDevToken } from '../plugins/app/auth/dev-verifier.js'

const [user, ttl] = process.argv.slice(2)
if (!user) {
  process.stderr.write('usage: npm run -s token -- <user_id> [ttl_seconds]\n')
  process.exit(2)
}
if (process.env.NODE_ENV === 'production') {
  process.stderr.write('token: dev tokens are refused when NODE_ENV=production\n')
  process.exit(2)
}
const ttlS = ttl === undefined ? 3600 : Number(ttl)
if (!Number.isInteger(ttlS) || ttlS <= 0) {
  process.stderr.write(`token: ttl_seconds must be a positive integer (got ${JSON.stringify(ttl)})\n`)
  process.exit(2)
}
const secret = process.env.DEV_JWT_SECRET || EMBEDDED_DEFAULTS.DEV_JWT_SECRET
process.stdout.write(`${await signDevToken(secret, user, { ttlS })}\n`)
