#!/bin/sh
# The parts of the postgres image's entrypoint the cluster uses: a first start initialises $PGDATA with
# POSTGRES_USER as its superuser (password from POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE, scram-sha-256
# over the network), creates POSTGRES_DB and runs /docker-entrypoint-initdb.d; every start runs the server
# as `postgres`, listening on all of the container's addresses.
set -eu
user="${POSTGRES_USER:-postgres}"
db="${POSTGRES_DB:-$user}"
if [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then password="$(cat "$POSTGRES_PASSWORD_FILE")"; else password="${POSTGRES_PASSWORD:-}"; fi
if [ -z "$password" ]; then echo "postgres: set POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE" >&2; exit 1; fi
mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 700 "$PGDATA"
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "$password" > /tmp/pwfile && chown postgres /tmp/pwfile
  as_postgres initdb --username="$user" --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
  rm -f /tmp/pwfile
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  as_postgres pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
  if [ "$db" != "postgres" ]; then as_postgres psql -v ON_ERROR_STOP=1 --username="$user" --dbname=postgres -c "CREATE DATABASE \"$db\"" >/dev/null; fi
  # as the real image: each *.sh (executed, or sourced when not executable) and *.sql of /docker-entrypoint-initdb.d, in order, as postgres
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) if [ -x "$f" ]; then as_postgres env POSTGRES_USER="$user" POSTGRES_DB="$db" "$f"; else as_postgres env POSTGRES_USER="$user" POSTGRES_DB="$db" sh "$f"; fi ;;
      *.sql) as_postgres psql -v ON_ERROR_STOP=1 --username="$user" --dbname="$db" -f "$f" >/dev/null ;;
    esac
  done
  as_postgres pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
  echo "postgres: initialised $PGDATA (superuser $user, database $db)"
fi
if [ "${1:-}" = "postgres" ]; then
  shift
  exec setpriv --reuid=postgres --regid=postgres --init-groups postgres -D "$PGDATA" -c listen_addresses='*' "$@"
fi
exec "$@"
