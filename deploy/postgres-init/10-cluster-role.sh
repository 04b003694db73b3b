#!/bin/sh
# Run once by the postgres image when it makes its database (and by our stand-in's entrypoint the same way):
# the cluster's role, which owns its database (and so the public schema, where Akka.Persistence.Sql makes its
# tables) and nothing else: not a superuser, no CREATEDB, no CREATEROLE, so it cannot `COPY … TO PROGRAM`,
# read the server's files or touch other databases. Its password is the coordinator's db.password; the
# superuser's (postgres.password) stays in this container.
set -eu
password="$(cat "${CNN_DB_PASSWORD_FILE:?set CNN_DB_PASSWORD_FILE}")"
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
  -v role="${CNN_DB_USER:-cnn}" -v password="$password" -v db="${POSTGRES_DB:-postgres}" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD :'password';
ALTER DATABASE :"db" OWNER TO :"role";
REVOKE ALL ON DATABASE postgres FROM PUBLIC;
SQL
echo "postgres: role ${CNN_DB_USER:-cnn} owns database ${POSTGRES_DB:-postgres} (not a superuser)"
