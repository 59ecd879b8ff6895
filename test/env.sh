# Sourced by the test and demo scripts: where PostgreSQL 15 lives.
PGBIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PGBIN/pg_config
export PGBIN PG_CONFIG
export PATH="$PGBIN:$PATH"
