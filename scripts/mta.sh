#!/bin/sh
# A private, real mail server for certmint's tests and benchmark: Debian's
# Postfix as a private instance (its own config, queue and logs, all under
# DIR) with STARTTLS and SASL AUTH through a private Dovecot auth instance,
# delivering every message for every recipient into DIR/Maildir.
#
#   scripts/mta.sh start DIR PORT [TLSPORT]
#       Creates DIR and everything in it, starts Dovecot (auth only) and
#       Postfix listening on 127.0.0.1:PORT (plain SMTP + STARTTLS) and, when
#       TLSPORT is given, 127.0.0.1:TLSPORT (implicit TLS, RFC 8314 "smtps").
#       Returns once PORT answers "220".
#   scripts/mta.sh stop DIR             Stops both (by PID). Idempotent.
#   scripts/mta.sh mode DIR normal|tempfail|permfail
#       Makes RCPT TO answer 451 4.3.0 (tempfail) or 550 5.7.1 (permfail), or
#       accept again (normal). Returns once no server process of the old
#       configuration can answer any more: open client connections are
#       closed (clients reconnect; new connections may then wait up to 1 s).
#   scripts/mta.sh count DIR            Prints the number of delivered messages.
#   scripts/mta.sh wait DIR N [SECS]    Waits until at least N messages are
#       delivered (default 30 s); prints the count; fails on timeout.
#
# What the tests read from DIR:
#   DIR/tls/ca.pem         CA certificate that signed the server certificate
#                          (CN=localhost, SAN DNS:localhost, IP:127.0.0.1)
#   DIR/smtp-user          the SASL user name (certmint)
#   DIR/smtp-password      its password (random, mode 0600)
#   DIR/maillog            Postfix's log (maillog_file): "connect from",
#                          "TLS connection established", "sasl_method=PLAIN"
#   DIR/dovecot/dovecot.log Dovecot's log
#   DIR/Maildir/{new,cur}  the delivered messages, one file each
#   DIR/postfix.pid, DIR/dovecot.pid   the master processes
#
# Design notes (why it is built this way):
# - Postfix runs as root (a private instance still needs root for its master
#   and the privileged delivery agent); `postfix -c DIR/etc` keeps every path
#   in DIR. Nothing listens anywhere but 127.0.0.1, and nothing is ever sent
#   out: relayhost is empty and every non-virtual transport is error(8).
# - Delivery: virtual(8) with virtual_mailbox_domains matching every domain
#   (a regexp map) and virtual_mailbox_maps mapping every recipient to the
#   one Maildir "Maildir/" under virtual_mailbox_base = DIR. virtual(8) never
#   delivers as root (virtual_minimum_uid is at least 1), so it delivers as
#   nobody:nogroup, the unprivileged identity Postfix itself defaults to for
#   default_privs. Hence DIR must be reachable (search permission) by nobody:
#   a test whose temp folder is mode 0700 must `chmod 711` it first; start
#   checks this and says so.
# - AUTH: smtpd_sasl_type = dovecot, talking to a private Dovecot whose only
#   service is auth, on a socket inside Postfix's queue directory
#   (spool/private/auth, the path smtpd opens after chdir to the queue).
#   The passdb is a passwd-file in DIR (mode 0600). Mechanisms: PLAIN and
#   LOGIN (Debian's Dovecot 2.3 has no NTLM mechanism).
# - smtpd_tls_auth_only = yes: AUTH is offered only after STARTTLS, so a test
#   that authenticates has necessarily used TLS.
set -eu

PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
prog=mta.sh
die() { echo "$prog: $*" >&2; exit 1; }
usage() {
    die "usage: $prog start DIR PORT [TLSPORT] | stop DIR | mode DIR normal|tempfail|permfail | count DIR | wait DIR N [SECS]"
}

# The identity virtual(8) delivers as (see above).
MAIL_USER=nobody
MAIL_GROUP=nogroup
SASL_USER=certmint

abspath() {
    case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac
}

valid_port() {
    case "$1" in '' | *[!0-9]*) return 1 ;; esac
    [ "$1" -ge 1 ] && [ "$1" -le 65535 ]
}

# pid_alive PIDFILE: the PID in the file names a live process.
pid_alive() {
    [ -s "$1" ] || return 1
    p=$(tr -dc 0-9 <"$1")
    [ -n "$p" ] && kill -0 "$p" 2>/dev/null
}

# port_answers PORT: something on 127.0.0.1:PORT sends a 220 greeting.
port_answers() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.settimeout(2)
data = b""
while b"\n" not in data:
    chunk = s.recv(512)
    if not chunk:
        break
    data += chunk
# Be polite: say QUIT so the server logs a clean disconnect.
try:
    s.sendall(b"QUIT\r\n")
    s.recv(512)
except OSError:
    pass
s.close()
sys.exit(0 if data.startswith(b"220") else 1)
EOF
}

# auth_answers SOCKET: Dovecot's auth protocol handshake (VERSION, MECH...,
# DONE) offers PLAIN and LOGIN, which Postfix's smtpd will ask for.
auth_answers() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"VERSION\t1\t2\nCPID\t1\n")
data = b""
while b"\nDONE" not in data:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
mechs = [l.split(b"\t")[1] for l in data.split(b"\n") if l.startswith(b"MECH\t")]
sys.exit(0 if b"PLAIN" in mechs and b"LOGIN" in mechs else 1)
EOF
}

port_in_use() {
    python3 - "$1" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket()
# As Postfix does: a port in TIME_WAIT from an earlier instance is free.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(0)
sys.exit(1)
EOF
}

count_msgs() {
    n=0
    for d in "$1/Maildir/new" "$1/Maildir/cur"; do
        [ -d "$d" ] || continue
        c=$(find "$d" -type f | wc -l)
        n=$((n + c))
    done
    echo "$n"
}

write_main_cf() {
    dir=$1 port=$2
    uid=$(id -u "$MAIL_USER") gid=$(getent group "$MAIL_GROUP" | cut -d: -f3)
    cat >"$dir/etc/main.cf" <<EOF
# Private certmint test instance, generated by scripts/mta.sh. Do not edit.
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
syslog_name = certmint-mta
# Logging to a file through postlogd (see master.cf), not to syslog.
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
myhostname = mta.certmint.test
mydomain = certmint.test
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
mynetworks_style = host
smtpd_banner = \$myhostname ESMTP certmint test MTA
# Never deliver or relay anywhere: everything is a virtual mailbox domain,
# and every other transport is the error(8) agent.
relayhost =
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
local_transport = error:local delivery disabled
relay_transport = error:relaying disabled
default_transport = error:outbound delivery disabled
virtual_transport = virtual
virtual_mailbox_domains = regexp:$dir/etc/virtual_domains
virtual_mailbox_maps = regexp:$dir/etc/virtual_mailboxes
virtual_mailbox_base = $dir
virtual_minimum_uid = 1
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
# No postmaster notices or bounces of our own to count as deliveries.
notify_classes =
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
# The switch that "mode" flips (tempfail/permfail answers to RCPT TO).
smtpd_recipient_restrictions = check_recipient_access regexp:$dir/etc/rcpt_access
# STARTTLS (RFC 3207) with our own certificate; AUTH only after it.
smtpd_tls_security_level = may
smtpd_tls_cert_file = $dir/tls/server.pem
smtpd_tls_key_file = $dir/tls/server.key
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
smtpd_sasl_security_options = noanonymous
smtpd_sasl_tls_security_options = noanonymous
broken_sasl_auth_clients = no
# The tests send bursts from one address: no anvil rate limits.
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_client_event_limit_exceptions = 127.0.0.0/8
smtputf8_enable = no
biff = no
# "mode" terminates an smtpd that holds a client's connection; when that
# was its first session the master pauses the service ("bad command
# startup -- throttling"), 60 s by default: 1 s here.
service_throttle_time = 1s
EOF
}

write_master_cf() {
    dir=$1 port=$2 tlsport=$3
    # chroot is "n" everywhere: the private instance's paths live under DIR.
    cat >"$dir/etc/master.cf" <<EOF
# Private certmint test instance, generated by scripts/mta.sh. Do not edit.
# service         type  private unpriv chroot wakeup maxproc command
127.0.0.1:$port   inet  n       -      n      -      -       smtpd
EOF
    if [ -n "$tlsport" ]; then
        cat >>"$dir/etc/master.cf" <<EOF
127.0.0.1:$tlsport inet n       -      n      -      -       smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_tls_security_level=encrypt
EOF
    fi
    cat >>"$dir/etc/master.cf" <<'EOF'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

write_dovecot_conf() {
    dir=$1
    cat >"$dir/etc/dovecot.conf" <<EOF
# Private certmint test instance, generated by scripts/mta.sh. Do not edit.
# Its only job is SASL authentication for Postfix.
instance_name = certmint-mta-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)
base_dir = $dir/dovecot/run
state_dir = $dir/dovecot/state
log_path = $dir/dovecot/dovecot.log
protocols =
ssl = no
# Postfix only offers AUTH after STARTTLS (smtpd_tls_auth_only), so the
# password never crosses the wire unencrypted; Dovecot cannot see that.
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests send wrong passwords on purpose: no 2 s delay after a failure, and
# no growing per-IP penalty (anvil) that would slow the next, good login.
auth_failure_delay = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dir/etc/dovecot.passwd
}
userdb {
  driver = static
  args = uid=$MAIL_USER gid=$MAIL_GROUP home=/nonexistent
}
service auth {
  # root: the passwd-file lives under DIR, which only root may read.
  user = root
  unix_listener $dir/spool/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
# Dovecot's documented switch for the auth penalty: an unusable socket.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0600
  }
}
EOF
}

make_tls() {
    tls=$1
    mkdir -p "$tls"
    chmod 700 "$tls"
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/ca.key" 2>/dev/null
    openssl req -new -x509 -key "$tls/ca.key" -subj "/CN=certmint test MTA CA" -days 30 \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$tls/ca.pem" 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/server.key" 2>/dev/null
    openssl req -new -key "$tls/server.key" -subj "/CN=localhost" -out "$tls/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
        "subjectAltName=DNS:localhost,IP:127.0.0.1" >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
        -CAcreateserial -days 30 -extfile "$tls/server.ext" -out "$tls/server.pem" 2>/dev/null
    rm -f "$tls/server.csr" "$tls/server.ext" "$tls/ca.srl"
    chmod 600 "$tls/ca.key" "$tls/server.key"
    chmod 644 "$tls/ca.pem" "$tls/server.pem"
    chmod 755 "$tls"
    [ -s "$tls/server.pem" ] || die "could not create the TLS certificate in $tls"
}

cmd_start() {
    [ $# -ge 2 ] || usage
    dir=$(abspath "$1")
    port=$2
    tlsport=${3:-}
    valid_port "$port" || die "start: bad port '$port'"
    [ -z "$tlsport" ] || valid_port "$tlsport" || die "start: bad TLS port '$tlsport'"
    [ "$(id -u)" -eq 0 ] || die "start: a private Postfix instance needs root"
    for b in postfix postconf dovecot openssl python3 setpriv; do
        command -v "$b" >/dev/null 2>&1 || die "start: '$b' not found (run scripts/install-deps.sh)"
    done
    if pid_alive "$dir/postfix.pid"; then die "start: an instance is already running in $dir"; fi
    port_in_use "$port" && die "start: 127.0.0.1:$port is already in use"
    if [ -n "$tlsport" ] && port_in_use "$tlsport"; then die "start: 127.0.0.1:$tlsport is already in use"; fi

    mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/dovecot/run" "$dir/dovecot/state"
    chmod 755 "$dir" "$dir/etc"
    # virtual(8) delivers as nobody: it must reach DIR and own the Maildir.
    mkdir -p "$dir/Maildir/new" "$dir/Maildir/cur" "$dir/Maildir/tmp"
    chown -R "$MAIL_USER:$MAIL_GROUP" "$dir/Maildir"
    chmod 700 "$dir/Maildir"
    if ! setpriv --reuid="$MAIL_USER" --regid="$MAIL_GROUP" --clear-groups \
        test -w "$dir/Maildir/new"; then
        die "start: $MAIL_USER cannot reach $dir/Maildir (a parent directory lacks search permission; e.g. chmod 711 the test's temp folder)"
    fi
    chown postfix "$dir/data"

    make_tls "$dir/tls"
    pw=$(openssl rand -hex 16)
    umask 077
    printf '%s\n' "$SASL_USER" >"$dir/smtp-user"
    printf '%s\n' "$pw" >"$dir/smtp-password"
    printf '%s:{PLAIN}%s\n' "$SASL_USER" "$pw" >"$dir/etc/dovecot.passwd"
    umask 022
    chmod 644 "$dir/smtp-user"

    # Every domain is ours, and every address lands in the one Maildir.
    printf '%s\n' '/./ OK' >"$dir/etc/virtual_domains"
    printf '%s\n' '/./ Maildir/' >"$dir/etc/virtual_mailboxes"
    printf '%s\n' '# normal: no rule' >"$dir/etc/rcpt_access"
    write_main_cf "$dir" "$port"
    write_master_cf "$dir" "$port" "$tlsport"
    write_dovecot_conf "$dir"
    : >"$dir/maillog"

    # Postfix first: `postfix check` (run by start) creates spool/private,
    # where Dovecot's listener goes. The auth socket appears a moment later;
    # smtpd connects to it only when a client says EHLO.
    postfix -c "$dir/etc" check >"$dir/postfix-start.log" 2>&1 ||
        die "start: postfix check failed: $(tail -n 3 "$dir/postfix-start.log" | tr '\n' ' ')"
    dovecot -c "$dir/etc/dovecot.conf" >"$dir/dovecot-start.log" 2>&1 ||
        die "start: dovecot failed to start: $(tail -n 3 "$dir/dovecot-start.log" "$dir/dovecot/dovecot.log" 2>/dev/null | tr '\n' ' ')"
    i=0
    while ! pid_alive "$dir/dovecot/run/master.pid" || [ ! -S "$dir/spool/private/auth" ]; do
        i=$((i + 1))
        [ $i -le 100 ] || { cmd_stop "$dir" >/dev/null 2>&1 || true; die "start: dovecot did not come up within 10 s (see $dir/dovecot/dovecot.log)"; }
        sleep 0.1
    done
    cp "$dir/dovecot/run/master.pid" "$dir/dovecot.pid"
    # The auth process starts on the first connection and can still fail
    # then (bad mechanism, unreadable passdb): ask it for its handshake now.
    auth_answers "$dir/spool/private/auth" || {
        cmd_stop "$dir" >/dev/null 2>&1 || true
        die "start: dovecot auth does not offer PLAIN and LOGIN: $(tail -n 3 "$dir/dovecot/dovecot.log" | tr '\n' ' ')"
    }

    postfix -c "$dir/etc" start >>"$dir/postfix-start.log" 2>&1 || {
        cmd_stop "$dir" >/dev/null 2>&1 || true
        die "start: postfix failed to start: $(tail -n 3 "$dir/postfix-start.log" "$dir/maillog" | tr '\n' ' ')"
    }
    i=0
    while ! pid_alive "$dir/spool/pid/master.pid" || ! port_answers "$port"; do
        i=$((i + 1))
        [ $i -le 150 ] || { cmd_stop "$dir" >/dev/null 2>&1 || true; die "start: 127.0.0.1:$port did not answer 220 within 15 s (see $dir/maillog)"; }
        sleep 0.1
    done
    tr -dc 0-9 <"$dir/spool/pid/master.pid" >"$dir/postfix.pid"
    echo >>"$dir/postfix.pid"
    echo "$prog: postfix (pid $(cat "$dir/postfix.pid")) on 127.0.0.1:$port${tlsport:+ and :$tlsport (TLS)}, dovecot auth (pid $(cat "$dir/dovecot.pid")), mail into $dir/Maildir"
}

# wait_gone PID SECS: waits until the process is gone.
wait_gone() {
    i=0
    while kill -0 "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -le $(($2 * 10)) ] || return 1
        sleep 0.1
    done
}

cmd_stop() {
    [ $# -eq 1 ] || usage
    dir=$(abspath "$1")
    rc=0
    if [ -f "$dir/etc/main.cf" ] && pid_alive "$dir/postfix.pid"; then
        pid=$(tr -dc 0-9 <"$dir/postfix.pid")
        postfix -c "$dir/etc" stop >/dev/null 2>&1 || kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 10; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || { echo "$prog: postfix master $pid did not stop" >&2; rc=1; }
        fi
    fi
    if pid_alive "$dir/dovecot.pid"; then
        pid=$(tr -dc 0-9 <"$dir/dovecot.pid")
        kill -TERM "$pid" 2>/dev/null || true
        if ! wait_gone "$pid" 10; then
            kill -KILL "$pid" 2>/dev/null || true
            wait_gone "$pid" 5 || { echo "$prog: dovecot master $pid did not stop" >&2; rc=1; }
        fi
    fi
    rm -f "$dir/postfix.pid" "$dir/dovecot.pid"
    return $rc
}

cmd_mode() {
    [ $# -eq 2 ] || usage
    dir=$(abspath "$1")
    pid_alive "$dir/postfix.pid" || die "mode: no instance running in $dir"
    case "$2" in
    normal) rule='# normal: no rule' ;;
    tempfail) rule='/./ 451 4.3.0 certmint test MTA: temporary failure (mode tempfail)' ;;
    permfail) rule='/./ 550 5.7.1 certmint test MTA: permanent failure (mode permfail)' ;;
    *) usage ;;
    esac
    printf '%s\n' "$rule" >"$dir/etc/rcpt_access.new"
    mv "$dir/etc/rcpt_access.new" "$dir/etc/rcpt_access"
    master=$(tr -dc 0-9 <"$dir/postfix.pid")
    # smtpd reads the map when it starts: after the reload, every smtpd of
    # the old configuration must be gone so that the next command is
    # answered under the new mode. Idle ones exit at once; one that serves a
    # connection (a client holding it open between messages) would finish
    # its session first, so it is terminated: the client sees the
    # connection close, as after a server restart, and reconnects.
    old=$(pgrep -P "$master" -x smtpd || true)
    postfix -c "$dir/etc" reload >/dev/null 2>&1 || die "mode: postfix reload failed"
    for p in $old; do
        wait_gone "$p" 1 && continue
        kill -TERM "$p" 2>/dev/null || true
        wait_gone "$p" 10 || die "mode: smtpd $p of the old configuration did not exit"
    done
}

cmd_wait() {
    [ $# -ge 2 ] || usage
    dir=$(abspath "$1")
    want=$2
    secs=${3:-30}
    case "$want$secs" in *[!0-9]*) usage ;; esac
    i=0
    while [ "$(count_msgs "$dir")" -lt "$want" ]; do
        i=$((i + 1))
        if [ $i -gt $((secs * 10)) ]; then
            echo "$prog: wait: only $(count_msgs "$dir") of $want messages delivered after $secs s" >&2
            count_msgs "$dir"
            return 1
        fi
        sleep 0.1
    done
    count_msgs "$dir"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case "$cmd" in
start) cmd_start "$@" ;;
stop) cmd_stop "$@" ;;
mode) cmd_mode "$@" ;;
count)
    [ $# -eq 1 ] || usage
    count_msgs "$(abspath "$1")"
    ;;
wait) cmd_wait "$@" ;;
*) usage ;;
esac
