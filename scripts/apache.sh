#!/bin/sh
# A private Apache httpd (HTTPS) instance for the tests of `certmint host
# enable --services apache` (tests/e2e/host_apache.sh): its own ServerRoot,
# PidFile, runtime folder and logs under DIR, listening on 127.0.0.1 only,
# started and stopped by PID; the system's apache2 is never touched.
#
#   scripts/apache.sh start DIR HTTPSPORT
#       Writes DIR/apache2.conf (its virtual host includes DIR/ssl.conf, the
#       file `host enable` edits, starting with a throwaway self-signed
#       certificate) and DIR/host.conf (the lines that point a certmint host
#       store at this instance), starts it and returns once the port answers.
#   scripts/apache.sh stop DIR     Stops it (by PID). Idempotent.
#   scripts/apache.sh pid DIR      Prints its PID.
#
# Debian's apache2 binary reads the APACHE_* variables (apache2ctl sets them
# from /etc/apache2/envvars): `. DIR/env` sets them for this instance, for
# the commands host.conf names.
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
prog=apache.sh
die() { echo "$prog: $*" >&2; exit 1; }
MODS=/usr/lib/apache2/modules

abspath() {
    case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac
}

port_open() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$1" 2>/dev/null
}

write_conf() {
    d=$1 port=$2
    mkdir -p "$d/run" "$d/logs"
    cat >"$d/env" <<EOF
APACHE_RUN_DIR=$d/run
APACHE_PID_FILE=$d/apache2.pid
APACHE_LOCK_DIR=$d/run
APACHE_LOG_DIR=$d/logs
APACHE_RUN_USER=nobody
APACHE_RUN_GROUP=nogroup
export APACHE_RUN_DIR APACHE_PID_FILE APACHE_LOCK_DIR APACHE_LOG_DIR APACHE_RUN_USER APACHE_RUN_GROUP
EOF
    cat >"$d/apache2.conf" <<EOF
# Private certmint test instance (scripts/apache.sh): HTTPS on 127.0.0.1.
ServerRoot $d
ServerName localhost
PidFile $d/apache2.pid
DefaultRuntimeDir $d/run
Mutex file:$d/run default
ErrorLog $d/logs/error.log
LogLevel warn
User nobody
Group nogroup
LoadModule mpm_event_module $MODS/mod_mpm_event.so
LoadModule authz_core_module $MODS/mod_authz_core.so
LoadModule socache_shmcb_module $MODS/mod_socache_shmcb.so
LoadModule ssl_module $MODS/mod_ssl.so
Listen 127.0.0.1:$port
SSLSessionCache none
<VirtualHost 127.0.0.1:$port>
    ServerName localhost
    SSLEngine on
    DocumentRoot $d/www
    Include $d/ssl.conf
</VirtualHost>
EOF
    mkdir -p "$d/www"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=apache boot" -keyout "$d/boot.key" -out "$d/boot.pem" 2>/dev/null
    cat >"$d/ssl.conf" <<EOF
# the file certmint host enable edits
SSLCertificateFile $d/boot.pem
SSLCertificateKeyFile $d/boot.key
EOF
    cat >"$d/host.conf" <<EOF
apache.config = $d/apache2.conf
apache.ssl_file = $d/ssl.conf
apache.check = apache2 -d $d -f {config} -t
apache.reload = apache2 -d $d -f {config} -k graceful
EOF
}

cmd_start() {
    [ $# -eq 2 ] || die "usage: $prog start DIR HTTPSPORT"
    d=$(abspath "$1")
    write_conf "$d" "$2"
    . "$d/env"
    apache2 -d "$d" -f "$d/apache2.conf" -k start || die "apache2 did not start: $(tail -n 5 "$d/logs/error.log" 2>/dev/null)"
    i=0
    while ! port_open "$2"; do
        i=$((i + 1))
        [ $i -le 100 ] || die "apache2 does not answer on $2: $(tail -n 5 "$d/logs/error.log" 2>/dev/null)"
        sleep 0.1
    done
}

cmd_pid() {
    d=$(abspath "$1")
    [ -s "$d/apache2.pid" ] && tr -dc 0-9 <"$d/apache2.pid"
    echo
}

cmd_stop() {
    d=$(abspath "$1")
    [ -s "$d/apache2.pid" ] || return 0
    p=$(tr -dc 0-9 <"$d/apache2.pid")
    [ -n "$p" ] || return 0
    kill -TERM "$p" 2>/dev/null || return 0
    i=0
    while kill -0 "$p" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le 100 ] || { kill -KILL "$p" 2>/dev/null; break; }
        sleep 0.1
    done
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) [ $# -eq 2 ] || die "usage: $prog stop DIR"; cmd_stop "$2" ;;
pid) [ $# -eq 2 ] || die "usage: $prog pid DIR"; cmd_pid "$2" ;;
*) die "usage: $prog start DIR HTTPSPORT | stop DIR | pid DIR" ;;
esac
