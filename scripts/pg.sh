#!/bin/sh
# A private PostgreSQL for the tests: Debian's PostgreSQL 15 binaries, all
# state in one folder, listening on 127.0.0.1 (and a unix socket in that
# folder) only. The system's cluster and service are never touched.
#
#   scripts/pg.sh start DIR [PORT]   initdb (first time) and start; waits until it answers
#   scripts/pg.sh stop DIR           stop the server by the PID in its postmaster.pid
#   scripts/pg.sh env DIR            print the shell assignments a client needs
#   scripts/pg.sh standby PRIMARY DIR   a synchronous streaming standby of the
#                                    server in PRIMARY (pg_basebackup -R), in DIR
#   scripts/pg.sh promote DIR        promote the standby in DIR (pg_ctl promote)
#
# What start leaves in DIR (paths other scripts and tests rely on):
#   data/        the data directory (owned by the postgres user when run as root)
#   sock/        the unix socket directory (never /var/run/postgresql)
#   port         the TCP port on 127.0.0.1
#   url          postgresql://certmint@127.0.0.1:PORT (no database: append /NAME)
#   pgpass       libpq password file (0600) for the role certmint (PGPASSFILE)
#   log          the server's log
#
# The role certmint logs in with a password (scram-sha-256 over TCP), may
# create databases (a fresh one per test CA) and is no superuser. The
# password is random, lives only in DIR/pgpass and never appears on a
# command line. The superuser "postgres" exists only for the local socket
# (peer authentication) and is used by this script alone.
#
# PostgreSQL refuses to run as root: when run by root the server and
# initdb run as the `postgres` user (runuser), so DIR must be reachable by
# that user (a folder under /tmp is).
set -eu

PGBIN=${PGBIN:-}
ROLE=certmint

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

find_bin() {
    if [ -z "$PGBIN" ]; then
        for v in 15 16 17 14 13; do
            if [ -x "/usr/lib/postgresql/$v/bin/initdb" ]; then
                PGBIN=/usr/lib/postgresql/$v/bin
                break
            fi
        done
    fi
    [ -n "$PGBIN" ] && [ -x "$PGBIN/initdb" ] || die "PostgreSQL not found (run scripts/install-deps.sh)"
}

# as_pg CMD...: runs CMD as the server's user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

abspath() {
    mkdir -p "$1"
    (cd "$1" && pwd)
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The PID of the running postmaster of DIR, or nothing.
pid_of() {
    [ -f "$1/data/postmaster.pid" ] || return 0
    p=$(head -n 1 "$1/data/postmaster.pid" 2>/dev/null || true)
    case "$p" in '' | *[!0-9]*) return 0 ;; esac
    kill -0 "$p" 2>/dev/null && echo "$p"
    return 0
}

# psql as the superuser over the socket, SQL from stdin (never argv).
su_sql() {
    as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$1/sock" -p "$(cat "$1/port")" -U postgres \
        -d postgres -f -
}

do_initdb() {
    dir=$1
    port=$2
    mkdir -p "$dir/data" "$dir/sock"
    : >"$dir/log"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir/data" "$dir/sock" "$dir/log"
        chmod 711 "$dir"
        runuser -u postgres -- test -w "$dir/data" ||
            die "$dir: the postgres user cannot reach it (choose a folder under /tmp)"
    fi
    chmod 700 "$dir/data"
    as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=reject >"$dir/initdb.log" 2>&1 ||
        die "initdb failed: $(tail -n 5 "$dir/initdb.log")"
    # Only the socket for the superuser; the test role over TCP with a
    # password (SCRAM, RFC 7677), so that the password path is exercised.
    {
        echo "local all postgres peer"
        echo "local replication postgres peer"
        echo "host all $ROLE 127.0.0.1/32 scram-sha-256"
    } | as_pg sh -c "cat >'$dir/data/pg_hba.conf'"
    {
        echo "listen_addresses = '127.0.0.1'"
        echo "port = $port"
        echo "unix_socket_directories = '$dir/sock'"
        echo "password_encryption = 'scram-sha-256'"
        echo "max_connections = 300"
        echo "shared_buffers = 64MB"
        echo "max_locks_per_transaction = 256"
        echo "logging_collector = off"
        echo "log_min_messages = warning"
        # Test servers only: a crash of the test machine loses the run
        # anyway. The backend's durability is PostgreSQL's with fsync on.
        echo "fsync = ${PG_FSYNC:-off}"
        echo "synchronous_commit = ${PG_FSYNC:-off}"
        echo "full_page_writes = ${PG_FSYNC:-off}"
    } | as_pg sh -c "cat >>'$dir/data/postgresql.conf'"
    echo "$port" >"$dir/port"
}

# Creates the role with a random password, written only to DIR/pgpass.
make_role() {
    dir=$1
    port=$(cat "$dir/port")
    umask 077
    pw=$(openssl rand -hex 18)
    printf '127.0.0.1:%s:*:%s:%s\n' "$port" "$ROLE" "$pw" >"$dir/pgpass"
    chmod 600 "$dir/pgpass"
    # The password goes to psql through stdin, not its argv.
    printf "CREATE ROLE %s LOGIN CREATEDB PASSWORD '%s';\n" "$ROLE" "$pw" | su_sql "$dir"
    printf 'postgresql://%s@127.0.0.1:%s\n' "$ROLE" "$port" >"$dir/url"
}

cmd_start() {
    [ $# -ge 1 ] || die "usage: pg.sh start DIR [PORT]"
    find_bin
    dir=$(abspath "$1")
    if [ -n "$(pid_of "$dir")" ]; then
        echo "pg.sh: already running in $dir"
        return 0
    fi
    fresh=0
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        port=${2:-$(free_port)}
        do_initdb "$dir" "$port"
        fresh=1
    fi
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -s start >/dev/null 2>&1 ||
        die "the server did not start: $(tail -n 5 "$dir/log" 2>/dev/null)"
    [ "$fresh" = 0 ] || make_role "$dir"
    # The password path end to end: a TCP login as the role.
    PGPASSFILE="$dir/pgpass" "$PGBIN/psql" -X -q -w "$(cat "$dir/url")/postgres" \
        -c 'SELECT 1' >/dev/null 2>&1 || die "cannot log in as $ROLE over TCP"
}

cmd_stop() {
    [ $# -ge 1 ] || die "usage: pg.sh stop DIR"
    find_bin
    dir=$(abspath "$1")
    pid=$(pid_of "$dir")
    [ -n "$pid" ] || return 0
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 -s stop >/dev/null 2>&1 || true
    # pg_ctl failed or timed out: the postmaster's own PID, then wait.
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        [ $i -eq 20 ] && kill -TERM "$pid" 2>/dev/null
        [ $i -eq 60 ] && kill -KILL "$pid" 2>/dev/null
        i=$((i + 1))
        sleep 0.1
    done
    ! kill -0 "$pid" 2>/dev/null || die "postmaster $pid does not stop"
}

# A standby of PRIMARY in DIR: a base backup with -R (primary_conninfo and
# standby.signal written by pg_basebackup) over PRIMARY's socket as the
# superuser, its own port and socket, and synchronous replication on the
# primary (synchronous_standby_names = this standby's cluster_name,
# synchronous_commit = on): a commit the primary reports is then on the
# standby too, so a failover loses nothing that was acknowledged
# (docs/postgresql.md). DIR gets port, url and pgpass as start leaves them.
cmd_standby() {
    [ $# -ge 2 ] || die "usage: pg.sh standby PRIMARY DIR"
    find_bin
    primary=$(abspath "$1")
    dir=$(abspath "$2")
    [ -n "$(pid_of "$primary")" ] || die "$primary: no running server"
    [ ! -f "$dir/data/PG_VERSION" ] || die "$dir: a data directory is already there"
    name=cm_standby_$(cat "$primary/port")
    port=$(free_port)
    mkdir -p "$dir/data" "$dir/sock"
    : >"$dir/log"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir/data" "$dir/sock" "$dir/log"
        chmod 711 "$dir"
    fi
    chmod 700 "$dir/data"
    as_pg "$PGBIN/pg_basebackup" -h "$primary/sock" -p "$(cat "$primary/port")" -U postgres \
        -D "$dir/data" -R -X stream -c fast >"$dir/basebackup.log" 2>&1 ||
        die "pg_basebackup failed: $(tail -n 5 "$dir/basebackup.log")"
    {
        echo "port = $port"
        echo "unix_socket_directories = '$dir/sock'"
        # The walreceiver's application_name: what the primary's
        # synchronous_standby_names names.
        echo "cluster_name = '$name'"
    } | as_pg sh -c "cat >>'$dir/data/postgresql.conf'"
    echo "$port" >"$dir/port"
    umask 077
    sed "s/^127.0.0.1:[0-9]*:/127.0.0.1:$port:/" "$primary/pgpass" >"$dir/pgpass"
    chmod 600 "$dir/pgpass"
    printf 'postgresql://%s@127.0.0.1:%s\n' "$ROLE" "$port" >"$dir/url"
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 -s start >/dev/null 2>&1 ||
        die "the standby did not start: $(tail -n 5 "$dir/log" 2>/dev/null)"
    printf "ALTER SYSTEM SET synchronous_standby_names = '%s';\n%s\n%s\n" "$name" \
        "ALTER SYSTEM SET synchronous_commit = on;" "SELECT pg_reload_conf();" | su_sql "$primary" >/dev/null
    # Until the primary sees it as its synchronous standby.
    i=0
    until [ "$(echo "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'" |
        as_pg "$PGBIN/psql" -X -q -A -t -h "$primary/sock" -p "$(cat "$primary/port")" -U postgres \
            -d postgres -f -)" = 1 ]; do
        i=$((i + 1))
        [ $i -le 300 ] || die "the standby did not become synchronous: $(tail -n 5 "$dir/log")"
        sleep 0.1
    done
}

cmd_promote() {
    [ $# -ge 1 ] || die "usage: pg.sh promote DIR"
    find_bin
    dir=$(abspath "$1")
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -w -t 60 -s promote >/dev/null 2>&1 ||
        die "promotion failed: $(tail -n 5 "$dir/log" 2>/dev/null)"
}

cmd_env() {
    [ $# -ge 1 ] || die "usage: pg.sh env DIR"
    dir=$(abspath "$1")
    [ -f "$dir/url" ] || die "$dir: no server was started there"
    printf "PGPASSFILE='%s'; export PGPASSFILE\n" "$dir/pgpass"
    printf "CERTMINT_TEST_PG='%s'; export CERTMINT_TEST_PG\n" "$(cat "$dir/url")"
}

[ $# -ge 1 ] || die "usage: pg.sh start|stop|env|standby|promote DIR"
cmd=$1
shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
env) cmd_env "$@" ;;
standby) cmd_standby "$@" ;;
promote) cmd_promote "$@" ;;
*) die "unknown command '$cmd' (start, stop, env, standby, promote)" ;;
esac
