#!/usr/bin/env bash
# Proof without a Docker engine that the production image's contents run: dist/ and production dependencies alone, in a clean directory, booted in production mode.
# The same steps as the Dockerfile's: tsc -p tsconfig.build.json; package.json, package-lock.json, dist/, migrations/; npm ci --omit=dev; node dist/server.js.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379}
PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}

random() { node -e "process.stdout.write(require('node:crypto').randomBytes(Number(process.argv[1])).toString('hex'))" "$1"; }
now_ms() { node -e "process.stdout.write(String(Date.now()))"; }
tag=$(random 4)
schema="prodcheck_$tag" prefix="prodcheck:$tag:"
jwt_secret=$(random 24) service_secret=$(random 16) admin_secret=$(random 16)
work=$(mktemp -d "${TMPDIR:-/tmp}/aeg-prod-check.XXXXXX")
app="$work/app" log="$work/server.log"
passed=0 failed=0 server_pid=""

ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then kill -KILL "$server_pid" 2>/dev/null || true; fi
  psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  redis-cli -u "$REDIS_URL" --scan --pattern "${prefix}*" 2>/dev/null | xargs -r redis-cli -u "$REDIS_URL" del >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
finish() {
  if [ "$failed" -gt 0 ] && [ -f "$log" ]; then echo "--- server log (last 40 lines)"; tail -n 40 "$log"; fi
  echo "prod-check: $passed passed, $failed failed"
  if [ "$failed" -eq 0 ]; then exit 0; else exit 1; fi
}

# 1. What the image holds: a fresh build (no stale files from an older dist/), the manifest, the lockfile, the migrations.
mkdir -p "$app"
node "$ROOT/node_modules/typescript/bin/tsc" -p tsconfig.build.json --outDir "$app/dist"
cp package.json package-lock.json "$app/"
cp -r migrations "$app/"
# Nothing above the clean directory may lend it modules (Node looks in every parent's node_modules).
for dir in "$work" "$(dirname "$work")" /; do
  if [ -e "$dir/node_modules" ]; then not_ok "clean directory: $dir/node_modules would lend modules to the install"; finish; fi
done
(cd "$app" && npm ci --omit=dev --no-audit --no-fund --loglevel=error)

dev_tools=""
for tool in typescript tsx tap esbuild eslint dependency-cruiser playwright-core; do
  [ -e "$app/node_modules/$tool" ] && dev_tools="$dev_tools $tool"
done
if [ -z "$dev_tools" ]; then ok "production install: $(ls "$app/node_modules" | wc -l) packages, no dev tooling"; else not_ok "production install holds dev tooling:$dev_tools"; fi

# 2. Boot it as Cloud Run would: production mode, only the variables the manifest sets, nothing from this shell.
port=$(node -e "const s=require('node:net').createServer().listen(0,'127.0.0.1',()=>{process.stdout.write(String(s.address().port));s.close()})")
cd "$app"
env -i PATH="$PATH" NODE_ENV=production HOST=127.0.0.1 PORT="$port" LOG_LEVEL=info INSTANCE_ID="prod-check-$tag" \
  REDIS_URL="$REDIS_URL" DATABASE_URL="$PG_URL" DATABASE_SCHEMA="$schema" REDIS_KEY_PREFIX="$prefix" \
  AUTH_MODE=jwt JWT_SECRET="$jwt_secret" SERVICE_ID=netra-backend SERVICE_SECRET="$service_secret" ADMIN_SECRET="$admin_secret" \
  ALLOWED_ORIGINS=https://app.example.com \
  node dist/server.js >"$log" 2>&1 &
server_pid=$!
cd "$ROOT"

status() { node -e "fetch(process.argv[1],{signal:AbortSignal.timeout(2000)}).then(r=>process.stdout.write(String(r.status)),()=>process.stdout.write('000'))" "$1"; }
started=$(now_ms) ready=""
while [ $(( $(now_ms) - started )) -lt 30000 ]; do
  kill -0 "$server_pid" 2>/dev/null || break
  if [ "$(status "http://127.0.0.1:$port/health/ready")" = "200" ]; then ready=1; break; fi
  sleep 0.2
done
if [ -n "$ready" ]; then ok "GET /health/ready = 200, $(( $(now_ms) - started )) ms after start"; else not_ok "GET /health/ready never answered 200 within 30 s"; finish; fi

# 3. A socket through the installed @fastify/websocket and ws, with a token the configured secret signed.
if (cd "$app" && node --input-type=module -e "
import { createHmac, randomUUID } from 'node:crypto'
import WebSocket from 'ws'
const [port, secret] = process.argv.slice(1)
const b64 = (v) => Buffer.from(JSON.stringify(v)).toString('base64url')
const now = Math.floor(Date.now() / 1000)
const body = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64({ sub: 'prod-check', iat: now, exp: now + 300, jti: randomUUID(), iss: 'netra-auth-service', aud: 'netra-platform', token_type: 'access' })
const token = body + '.' + createHmac('sha256', secret).update(body).digest('base64url')
const ws = new WebSocket('ws://127.0.0.1:' + port + '/ws', { headers: { authorization: 'Bearer ' + token } })
const timer = setTimeout(() => { console.error('no frame within 5 s'); process.exit(1) }, 5000)
ws.once('message', (data) => {
  const frame = JSON.parse(data.toString())
  clearTimeout(timer)
  ws.close()
  if (frame.type !== 'connection_established' || frame.data.user_id !== 'prod-check') { console.error(data.toString()); process.exit(1) }
})
ws.once('error', (err) => { console.error(err.message); process.exit(1) })
" "$port" "$jwt_secret"); then ok "WebSocket /ws: connection_established for the token's user"; else not_ok "WebSocket /ws did not welcome a valid token"; fi

# 4. SIGTERM as Cloud Run sends it: the process must be gone well within its 10 s, and cleanly.
kill -TERM "$server_pid"
term=$(now_ms)
while kill -0 "$server_pid" 2>/dev/null && [ $(( $(now_ms) - term )) -lt 8000 ]; do sleep 0.1; done
if kill -0 "$server_pid" 2>/dev/null; then
  not_ok "still running 8 s after SIGTERM"
else
  code=0; wait "$server_pid" || code=$?
  took=$(( $(now_ms) - term ))
  if [ "$code" -eq 0 ]; then ok "SIGTERM: exited 0 in $took ms"; else not_ok "SIGTERM: exited $code in $took ms"; fi
fi
server_pid=""
finish
