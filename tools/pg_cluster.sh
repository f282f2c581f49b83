#!/bin/bash
# A private PostgreSQL cluster for the tests (docs/contributing.md#postgresql-in-the-tests):
#   tools/pg_cluster.sh start DIR   initdb into DIR (a fresh one), start it, print its URI
#   tools/pg_cluster.sh stop DIR    stop it and remove DIR
#   tools/pg_cluster.sh halt DIR    stop it, keeping its data (a database that goes away)
#   tools/pg_cluster.sh restart DIR start a halted one again (and it comes back)
#   tools/pg_cluster.sh freeze DIR  SIGSTOP the server and every process of it (a
#                                   database that hangs: connections stay open,
#                                   nothing answers)
#   tools/pg_cluster.sh thaw DIR    SIGCONT them (stop does it too)
# The server listens on a Unix socket in DIR only (no TCP: listen_addresses=''),
# lets the local socket in without a password (trust, for the socket only)
# and keeps fsync on, so the tests see the durability users get. Run as root
# (CI containers), initdb and the server run as `nobody`: PostgreSQL refuses
# to run as root. The binaries come from Debian's `postgresql` package
# (tools/deps.sh); PG_BINDIR overrides where they are looked for.
set -euo pipefail

usage() {
  echo "usage: $0 start|stop|halt|restart|freeze|thaw DIR" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
action=$1
dir=$2
[[ $dir == /* ]] || dir="$PWD/$dir"
user=dairector  # the database's superuser the tests connect as

bindir=${PG_BINDIR:-}
if [[ -z $bindir ]]; then
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do bindir=$d; done
fi
if [[ -z $bindir || ! -x $bindir/pg_ctl ]]; then
  echo "pg_cluster: no PostgreSQL server binaries (install Debian's postgresql: tools/deps.sh)" >&2
  exit 1
fi

# Runs a server program as the cluster's owner.
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
  else
    "$@"
  fi
}

# Where the cluster really is: DIR itself, or (as root, when a folder above
# DIR is closed to others, e.g. a checkout under /root) a folder under /tmp
# that DIR links to. Clients reach the socket through DIR either way; the
# server, run as nobody, is only ever given the real path.
real=$dir
[[ -L $dir ]] && real=$(readlink -f "$dir")

# The server's processes: the postmaster (first line of postmaster.pid) and its children.
server_pids() {
  local pid
  pid=$(head -1 "$real/data/postmaster.pid" 2>/dev/null) || return 0
  [[ -n $pid ]] || return 0
  echo "$pid" $(pgrep -P "$pid")
}

stop_cluster() {
  if [[ -f $real/data/postmaster.pid ]]; then
    kill -CONT $(server_pids) 2>/dev/null || true  # a frozen server cannot stop
    as_owner "$bindir/pg_ctl" -D "$real/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  fi
  [[ $real != "$dir" ]] && rm -rf "$real"
  rm -rf "$dir"
  real=$dir
}

# Room for the tests running side by side, each with its own databases.
server_options() {
  echo "-c listen_addresses='' -c unix_socket_directories='$real' -c fsync=on -c max_connections=200"
}

case $action in
  start)
    # A cluster a previous run left behind (killed before its stop) goes first.
    stop_cluster
    # The socket's path must fit sockaddr_un (107 bytes).
    if (( ${#dir} > 90 )); then
      echo "pg_cluster: $dir is too long a path for the server's socket (at most 90 characters)" >&2
      exit 1
    fi
    mkdir -p "$dir"
    if [[ $(id -u) -eq 0 ]] && ! setpriv --reuid=nobody --regid=nogroup --clear-groups test -x "$dir"; then
      rmdir "$dir"
      real=$(mktemp -d /tmp/dairector-pg-XXXXXX)
      ln -s "$real" "$dir"
    fi
    [[ $(id -u) -eq 0 ]] && chown nobody:nogroup "$real"
    chmod 0700 "$real"
    if ! as_owner "$bindir/initdb" -D "$real/data" -U "$user" --auth-local=trust --auth-host=reject \
         --encoding=UTF8 --locale=C.UTF-8 >"$real/initdb.log" 2>&1; then
      echo "pg_cluster: initdb failed:" >&2
      cat "$real/initdb.log" >&2
      exit 1
    fi
    if ! as_owner "$bindir/pg_ctl" -D "$real/data" -l "$real/server.log" -w -t 60 \
         -o "$(server_options)" \
         start >/dev/null; then
      echo "pg_cluster: the server did not start:" >&2
      cat "$real/server.log" >&2
      exit 1
    fi
    echo "postgresql:///postgres?host=$dir&user=$user"
    ;;
  stop)
    stop_cluster
    ;;
  halt)
    as_owner "$bindir/pg_ctl" -D "$real/data" -m fast -w -t 60 stop >/dev/null
    ;;
  freeze)
    pids=$(server_pids)
    [[ -n $pids ]] || { echo "pg_cluster: no server runs in $dir" >&2; exit 1; }
    kill -STOP $pids
    ;;
  thaw)
    pids=$(server_pids)
    [[ -n $pids ]] || { echo "pg_cluster: no server runs in $dir" >&2; exit 1; }
    kill -CONT $pids
    ;;
  restart)
    as_owner "$bindir/pg_ctl" -D "$real/data" -l "$real/server.log" -w -t 60 \
      -o "$(server_options)" \
      start >/dev/null
    ;;
  *)
    usage
    ;;
esac
