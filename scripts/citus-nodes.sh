# Shared by scripts/citus-check and scripts/bench-citus: local PostgreSQL
# nodes with Citus preloaded, each in a directory of its own under a work
# directory, run as the postgres user (PostgreSQL refuses to run as root).
# Source it, then:
#   start_node WORK PORT            initdb WORK/PORT and start it on 127.0.0.1:PORT
#   psql_at PORT DB ARGS...         psql as postgres, stopping at the first error
#   make_cluster DB COORD WORKER... DB on every node with citus, the coordinator
#                                   and its workers registered (DB must exist)
#   stop_nodes WORK                 stop every node under WORK
pgbin=$(pg_config --bindir)
as_pg() { runuser -u postgres -- "$@"; }

start_node() {
  local work=$1 port=$2
  chown postgres "$work"
  as_pg "$pgbin/initdb" -D "$work/$port" -A trust -U postgres -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
  cat >>"$work/$port/postgresql.conf" <<CONF
shared_preload_libraries = 'citus'
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
  as_pg "$pgbin/pg_ctl" -D "$work/$port" -l "$work/$port.log" -w start >/dev/null || { cat "$work/$port.log" >&2; return 1; }
}

psql_at() { local p=$1 d=$2; shift 2; as_pg psql -h 127.0.0.1 -p "$p" -U postgres -d "$d" -v ON_ERROR_STOP=1 -qAtX "$@"; }

make_cluster() {
  local db=$1 coordinator=$2 p; shift 2
  for p in "$coordinator" "$@"; do psql_at "$p" "$db" -c "CREATE EXTENSION citus" || return 1; done
  psql_at "$coordinator" "$db" -c "SELECT citus_set_coordinator_host('127.0.0.1', $coordinator)" >/dev/null || return 1
  for p in "$@"; do psql_at "$coordinator" "$db" -c "SELECT citus_add_node('127.0.0.1', $p)" >/dev/null || return 1; done
}

stop_nodes() {
  local work=$1 pid
  for pid in "$work"/*/postmaster.pid; do
    [ -f "$pid" ] && as_pg "$pgbin/pg_ctl" -D "$(dirname "$pid")" -m immediate stop >/dev/null 2>&1
  done
  return 0
}
