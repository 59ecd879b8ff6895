# Sourced by the test and demo scripts: which PostgreSQL to build and test
# against.  PG_CONFIG from the environment wins (as PGXS users expect); then
# a pg_config on PATH; Debian 12's PostgreSQL 15 is only the fallback.
if [ -z "${PG_CONFIG:-}" ]; then
	PG_CONFIG=$(command -v pg_config || echo /usr/lib/postgresql/15/bin/pg_config)
fi
PGBIN=$("$PG_CONFIG" --bindir)
export PGBIN PG_CONFIG
export PATH="$PGBIN:$PATH"
