#!/usr/bin/env bash
# Before `npm test` (its pretest): finds, or installs from Debian's packages and starts, PostgreSQL, Redis and Chromium.
# When all three are there and running it only checks, and changes nothing. SKIP_TEST_SETUP=1 skips it;
# TEST_DATABASE_URL / TEST_REDIS_URL name services of your own, which it then leaves alone.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${SKIP_TEST_SETUP:-}" = "1" ]; then exit 0; fi
[ -d node_modules/pg ] || { echo "test-setup: run npm ci first (the checks use the pg package)" >&2; exit 1; }

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_HOST=127.0.0.1 REDIS_PORT=6379
CHROMIUM=/usr/bin/chromium
PG_URL="postgres://postgres@$PG_HOST:$PG_PORT"

say() { echo "test-setup: $*"; }
fail() { echo "test-setup: $*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need_root() { # need_root <what>: installing or starting needs root (or sudo)
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then fail "$1 needs root: run as root, install sudo, or set up $1 yourself"; fi
}
apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || fail "$* missing and no apt-get here (not Debian): install it yourself (see README, Tests)"
  need_root "installing $*"
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  say "installing $* (Debian packages)"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}
wait_for() { # wait_for <seconds> <command...>
  local limit=$1; shift
  for _ in $(seq 1 "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
  return 1
}
as_postgres() { # runs a command as the postgres OS user (peer auth over the local socket)
  if [ -n "$SUDO" ]; then sudo -u postgres "$@"; else su postgres -s /bin/sh -c "$(printf '%q ' "$@")"; fi
}

# What a login as the tests make it finds: ok, down (nothing listens), auth (refused), nodb (no database `test`).
pg_state() {
  node -e "
    const { Client } = require('pg')
    const c = new Client({ connectionString: process.argv[1], connectionTimeoutMillis: 3000 })
    c.connect().then(() => c.end()).then(() => console.log('ok'), (e) => {
      // A server that wants a password the URL does not have fails in the client, with no SQLSTATE.
      console.log(e.code === '3D000' ? 'nodb' : e.code === '28000' || e.code === '28P01' || /password/i.test(e.message) ? 'auth' : 'down')
    })" "$PG_URL/test"
}
pg_login_ok() { [ "$(pg_state)" != auth ]; }

redis_up() {
  local reply=""
  { exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  [[ $reply == +PONG* ]]
}

setup_postgres() {
  local state created=""
  state=$(pg_state)
  if [ "$state" = "down" ]; then
    if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then apt_install postgresql postgresql-client; created=1; fi
    local version
    version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
    need_root "starting PostgreSQL"
    if [ ! -d "/etc/postgresql/$version/main" ]; then
      say "creating the PostgreSQL $version cluster"
      $SUDO pg_createcluster --port "$PG_PORT" "$version" main >/dev/null
      created=1
    fi
    say "starting PostgreSQL $version"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for 30 pg_isready -h "$PG_HOST" -p "$PG_PORT" || fail "PostgreSQL did not start on $PG_HOST:$PG_PORT"
    state=$(pg_state)
  fi
  if [ "$state" = "auth" ]; then
    # Trust on loopback is what the suite's default URL needs; it is added without asking only to a cluster this
    # script made, never to one that was already yours.
    if [ -z "$created" ] && [ "${TEST_SETUP_TRUST_LOOPBACK:-}" != "1" ]; then
      fail "PostgreSQL on $PG_HOST:$PG_PORT refuses user postgres without a password. Set TEST_DATABASE_URL to a database the tests may use, or run with TEST_SETUP_TRUST_LOOPBACK=1 to let this script add trust for 127.0.0.1/::1 to pg_hba.conf"
    fi
    need_root "configuring PostgreSQL"
    say "trusting loopback connections in pg_hba.conf (local test cluster)"
    local hba
    hba=$(as_postgres psql -tAc 'show hba_file')
    $SUDO sed -i "1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust" "$hba"
    as_postgres psql -tAc 'select pg_reload_conf()' >/dev/null
    wait_for 10 pg_login_ok || fail "PostgreSQL still refuses the login after the pg_hba.conf change"
    state=$(pg_state)
  fi
  if [ "$state" = "nodb" ]; then
    say "creating the database test"
    node -e "
      const { Client } = require('pg')
      const c = new Client({ connectionString: process.argv[1] })
      c.connect().then(() => c.query('CREATE DATABASE test')).then(() => c.end(), (e) => { console.error(e.message); process.exit(1) })" "$PG_URL/postgres"
    state=$(pg_state)
  fi
  [ "$state" = "ok" ] || fail "PostgreSQL on $PG_HOST:$PG_PORT is not usable ($state)"
}

setup_redis() {
  redis_up && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  need_root "starting Redis"
  say "starting Redis on $REDIS_HOST:$REDIS_PORT (no persistence: the tests need none)"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/test-setup.log
  wait_for 15 redis_up || fail "Redis did not start on $REDIS_HOST:$REDIS_PORT"
}

# The browser test (test/browser.test.ts) drives Debian's Chromium through playwright-core, which downloads no browser.
setup_chromium() {
  [ -x "$CHROMIUM" ] || apt_install chromium
  [ -x "$CHROMIUM" ] || fail "$CHROMIUM is still missing after installing chromium"
}

[ -n "${TEST_DATABASE_URL:-}" ] || setup_postgres
[ -n "${TEST_REDIS_URL:-}" ] || setup_redis
setup_chromium
