#!/bin/sh
# Private Dovecot (IMAP + POP3 with STARTTLS) and nginx (HTTPS) instances for
# the tests of `certmint host enable` (tests/e2e/host_services.sh). Each runs
# as its own instance with every path under DIR, listening on 127.0.0.1 only;
# the system's own dovecot and nginx are never touched.
#
#   scripts/hostsvc.sh start DIR IMAPPORT POP3PORT HTTPSPORT
#       Writes DIR/dovecot/dovecot.conf (it includes DIR/dovecot/ssl.conf, the
#       file `host enable` edits) and DIR/nginx/nginx.conf (its server block
#       includes DIR/nginx/ssl.conf), each starting with a throwaway
#       self-signed certificate, and starts both; returns once all three ports
#       answer.
#   scripts/hostsvc.sh stop DIR     Stops both (by PID). Idempotent.
#   scripts/hostsvc.sh pids DIR     Prints "DOVECOTPID NGINXPID".
#
# DIR/host.conf is written for a certmint host store: the lines that point
# `host enable` at these two instances (append it to STORE/host.conf).
set -eu
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
prog=hostsvc.sh
die() { echo "$prog: $*" >&2; exit 1; }

abspath() {
    case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac
}

pid_alive() {
    [ -s "$1" ] || return 1
    p=$(tr -dc 0-9 <"$1")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

port_open() {
    python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()' "$1" 2>/dev/null
}

wait_port() {
    i=0
    while ! port_open "$1"; do
        i=$((i + 1))
        [ $i -le 100 ] || return 1
        sleep 0.1
    done
}

write_dovecot() {
    d=$1/dovecot imap=$2 pop=$3
    mkdir -p "$d/run" "$d/state"
    cat >"$d/dovecot.conf" <<EOF
# Private certmint test instance (scripts/hostsvc.sh): IMAP and POP3 with
# STARTTLS on 127.0.0.1; no mail is ever stored.
instance_name = certmint-hostsvc-$(printf '%s' "$1" | cksum | cut -d' ' -f1)
base_dir = $d/run
state_dir = $d/state
log_path = $d/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
mail_location = maildir:$d/mail/%u
passdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
!include $d/ssl.conf
EOF
    printf '# the file certmint host enable edits\nssl_cert = <%s/boot.pem\nssl_key = <%s/boot.key\n' \
        "$d" "$d" >"$d/ssl.conf"
}

write_nginx() {
    d=$1/nginx port=$2
    mkdir -p "$d/tmp"
    cat >"$d/nginx.conf" <<EOF
# Private certmint test instance (scripts/hostsvc.sh).
daemon on;
master_process on;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        server_name localhost;
        include $d/ssl.conf;
        location / { return 200 "certmint hostsvc\n"; }
    }
}
EOF
    printf '# the file certmint host enable edits\nssl_certificate %s/boot.pem;\nssl_certificate_key %s/boot.key;\n' \
        "$d" "$d" >"$d/ssl.conf"
}

boot_cert() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=boot" \
        -days 2 -keyout "$1/boot.key" -out "$1/boot.pem" 2>/dev/null
    chmod 600 "$1/boot.key"
}

cmd_start() {
    [ $# -eq 4 ] || die "usage: $prog start DIR IMAPPORT POP3PORT HTTPSPORT"
    dir=$(abspath "$1")
    mkdir -p "$dir"
    write_dovecot "$dir" "$2" "$3"
    write_nginx "$dir" "$4"
    boot_cert "$dir/dovecot"
    boot_cert "$dir/nginx"
    # -e: nginx opens its default error log before reading the configuration.
    cat >"$dir/host.conf" <<EOF
dovecot.config = $dir/dovecot/dovecot.conf
dovecot.ssl_file = $dir/dovecot/ssl.conf
nginx.config = $dir/nginx/nginx.conf
nginx.ssl_file = $dir/nginx/ssl.conf
nginx.check = nginx -e $dir/nginx/error.log -t -q -c {config}
nginx.reload = nginx -e $dir/nginx/error.log -s reload -c {config}
EOF
    dovecot -c "$dir/dovecot/dovecot.conf" || die "dovecot failed: $(tail -n 3 "$dir/dovecot/dovecot.log" 2>/dev/null)"
    nginx -e "$dir/nginx/error.log" -c "$dir/nginx/nginx.conf" || die "nginx failed: $(tail -n 3 "$dir/nginx/error.log")"
    wait_port "$2" && wait_port "$3" && wait_port "$4" || { cmd_stop "$dir"; die "services did not come up"; }
    echo "$prog: dovecot imap $2 pop3 $3, nginx https $4 (in $dir)"
}

stop_pid() {
    if pid_alive "$1"; then
        p=$(tr -dc 0-9 <"$1")
        kill "$p" 2>/dev/null || true
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    fi
}

cmd_stop() {
    dir=$(abspath "$1")
    stop_pid "$dir/dovecot/run/master.pid"
    stop_pid "$dir/nginx/nginx.pid"
}

cmd_pids() {
    dir=$(abspath "$1")
    printf '%s %s\n' "$(cat "$dir/dovecot/run/master.pid" 2>/dev/null)" "$(cat "$dir/nginx/nginx.pid" 2>/dev/null)"
}

case "${1:-}" in
start) shift; cmd_start "$@" ;;
stop) [ $# -eq 2 ] || die "usage: $prog stop DIR"; cmd_stop "$2" ;;
pids) [ $# -eq 2 ] || die "usage: $prog pids DIR"; cmd_pids "$2" ;;
*) die "usage: $prog start DIR IMAPPORT POP3PORT HTTPSPORT | stop DIR | pids DIR" ;;
esac
