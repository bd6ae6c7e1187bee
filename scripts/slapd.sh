#!/bin/sh
# A private OpenLDAP slapd for the tests: all state in one folder, listening on
# 127.0.0.1 (and a unix socket in that folder) only. Debian's slapd package is
# used with its system instance left unconfigured.
#
#   scripts/slapd.sh start DIR PORT [TLSPORT]   configure and start; waits until it answers
#   scripts/slapd.sh load DIR FILE.ldif          add the entries of FILE (as the rootdn)
#   scripts/slapd.sh stop DIR                    stop the instance by its PID
#   scripts/slapd.sh restart DIR                 start a stopped instance again, keeping its data
#
# What start leaves in DIR (paths other scripts and tests rely on):
#   slapd.conf            the configuration
#   slapd.pid             PID of the running server
#   url, ldaps_url        ldap://127.0.0.1:PORT/ and ldaps://127.0.0.1:TLSPORT/
#   ldapi_url             ldapi:// URL of the unix socket DIR/ldapi
#   admin-password        cleartext password of cn=admin,dc=example,dc=org (0600, no newline)
#   certmint-password     cleartext password of cn=certmint,ou=services,dc=example,dc=org
#   tls/ca.crt            the CA that signed the server certificate (for clients' cafile)
#   tls/server.crt/.key   the server certificate (SAN IP:127.0.0.1, DNS:localhost)
#   db/                   the mdb database
#
# The tree start creates: dc=example,dc=org, ou=services, and the service
# account cn=certmint,ou=services. It may write the certificate attributes
# (userCertificate, cACertificate, certificateRevocationList,
# deltaRevocationList) anywhere, and anything under ou=pki (to create the CA
# entry). A SASL EXTERNAL bind over ldapi:// by the user running slapd.sh is
# mapped to the same account. Everyone else may read all but passwords.
# Passwords never appear on a command line: they go through files (slappasswd
# -T, ldapadd -y).
set -eu

BASE="dc=example,dc=org"
ROOTDN="cn=admin,$BASE"
SVCDN="cn=certmint,ou=services,$BASE"

die() {
    echo "slapd.sh: $*" >&2
    exit 1
}

need() {
    command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || die "$1 not found (run scripts/install-deps.sh)"
}

slapd_bin() {
    if command -v slapd >/dev/null 2>&1; then command -v slapd; else echo /usr/sbin/slapd; fi
}

abspath() {
    mkdir -p "$1"
    (cd "$1" && pwd)
}

# A random password from the OS CSPRNG, written to a 0600 file without newline
# (ldapsearch -y and slappasswd -T take the file's whole content).
new_password() {
    umask 077
    openssl rand -hex 18 | tr -d '\n' >"$1"
    chmod 600 "$1"
}

ssha() {
    slappasswd -n -h '{SSHA}' -T "$1" 2>/dev/null
}

# urlencode a socket path for ldapi:// ("/" -> %2F).
ldapi_url_for() {
    printf 'ldapi://%s/' "$(printf '%s' "$1" | sed -e 's/%/%25/g' -e 's,/,%2F,g')"
}

make_tls() {
    tls=$1
    mkdir -p "$tls"
    umask 077
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$tls/ca.key" -subj "/CN=certmint test LDAP CA/O=certmint tests" \
        -days 2 -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" -out "$tls/ca.crt" 2>/dev/null
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/server.key" 2>/dev/null
    openssl req -new -key "$tls/server.key" -subj "/CN=127.0.0.1/O=certmint tests" \
        -out "$tls/server.csr" 2>/dev/null
    printf '%s\n' "basicConstraints=critical,CA:FALSE" \
        "keyUsage=critical,digitalSignature" \
        "extendedKeyUsage=serverAuth" \
        "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" \
        -set_serial "0x$(openssl rand -hex 8)" -days 2 -extfile "$tls/server.ext" \
        -out "$tls/server.crt" 2>/dev/null
    chmod 644 "$tls/ca.crt" "$tls/server.crt"
}

# Waits until the server answers a root DSE search (or gives up).
wait_up() {
    url=$1
    pidf=$2
    i=0
    while [ $i -lt 100 ]; do
        if ldapsearch -x -LLL -o nettimeout=2 -l 2 -H "$url" -b "" -s base namingContexts \
            >/dev/null 2>&1; then
            return 0
        fi
        if [ $i -gt 5 ] && [ -f "$pidf" ] && ! kill -0 "$(cat "$pidf")" 2>/dev/null; then
            return 1
        fi
        i=$((i + 1))
        sleep 0.1
    done
    return 1
}

cmd_start() {
    [ $# -ge 2 ] || die "usage: slapd.sh start DIR PORT [TLSPORT]"
    dir=$(abspath "$1")
    port=$2
    tlsport=${3:-}
    need slapd
    need slapadd
    need slappasswd
    need ldapsearch
    if [ -f "$dir/slapd.pid" ] && kill -0 "$(cat "$dir/slapd.pid")" 2>/dev/null; then
        die "$dir: a slapd is already running (pid $(cat "$dir/slapd.pid"))"
    fi
    rm -rf "$dir/db" "$dir/ldaps_url"
    mkdir -p "$dir/db"
    make_tls "$dir/tls"
    new_password "$dir/admin-password"
    new_password "$dir/certmint-password"
    rootpw=$(ssha "$dir/admin-password")
    svcpw=$(ssha "$dir/certmint-password")
    [ -n "$rootpw" ] && [ -n "$svcpw" ] || die "slappasswd failed"
    uid=$(id -u)
    gid=$(id -g)

    cat >"$dir/slapd.conf" <<EOF
# Generated by scripts/slapd.sh: a private test instance.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema

pidfile $dir/slapd.pid
argsfile $dir/slapd.args
modulepath /usr/lib/ldap
moduleload back_mdb

TLSCACertificateFile $dir/tls/ca.crt
TLSCertificateFile $dir/tls/server.crt
TLSCertificateKeyFile $dir/tls/server.key
TLSVerifyClient never

# SASL EXTERNAL over the unix socket: the user who started this instance is
# the certmint service account.
authz-regexp "gidNumber=[0-9]+\\\\+uidNumber=$uid,cn=peercred,cn=external,cn=auth"
    "$SVCDN"

database mdb
maxsize 67108864
suffix "$BASE"
rootdn "$ROOTDN"
rootpw $rootpw
directory $dir/db
index objectClass eq
index mail eq
index cn eq

access to attrs=userPassword
    by self write
    by anonymous auth
    by * none
access to dn.subtree="ou=pki,$BASE"
    by dn.exact="$SVCDN" write
    by * read
access to attrs=userCertificate,cACertificate,certificateRevocationList,deltaRevocationList
    by dn.exact="$SVCDN" write
    by * read
access to *
    by * read
EOF
    chmod 600 "$dir/slapd.conf"

    cat >"$dir/seed.ldif" <<EOF
dn: $BASE
objectClass: top
objectClass: dcObject
objectClass: organization
dc: example
o: Example Org

dn: ou=services,$BASE
objectClass: organizationalUnit
ou: services

dn: $SVCDN
objectClass: applicationProcess
objectClass: simpleSecurityObject
cn: certmint
description: certmint CA directory publisher
userPassword: $svcpw
EOF
    chmod 600 "$dir/seed.ldif"
    slapadd -q -f "$dir/slapd.conf" -l "$dir/seed.ldif" >"$dir/slapadd.log" 2>&1 ||
        die "slapadd failed: $(tail -n 3 "$dir/slapadd.log")"
    rm -f "$dir/seed.ldif"

    urls="ldap://127.0.0.1:$port/"
    [ -z "$tlsport" ] || urls="$urls ldaps://127.0.0.1:$tlsport/"
    ldapi=$(ldapi_url_for "$dir/ldapi")
    urls="$urls $ldapi"
    printf 'ldap://127.0.0.1:%s/\n' "$port" >"$dir/url"
    [ -z "$tlsport" ] || printf 'ldaps://127.0.0.1:%s/\n' "$tlsport" >"$dir/ldaps_url"
    printf '%s\n' "$ldapi" >"$dir/ldapi_url"
    launch "$dir" "$urls"
}

# launch DIR URLS: runs slapd on DIR/slapd.conf and waits until every TCP
# URL answers.
launch() {
    dir=$1
    urls=$2
    rm -f "$dir/slapd.pid"
    # slapd forks and writes its pidfile; -u/-g only when root (it drops to
    # that account). Running as root it stays root: the state folder is
    # private to the invoking user anyway.
    if [ "$(id -u)" -eq 0 ]; then
        "$(slapd_bin)" -f "$dir/slapd.conf" -h "$urls" -u root -g root >"$dir/slapd.log" 2>&1 ||
            die "slapd did not start: $(tail -n 5 "$dir/slapd.log")"
    else
        "$(slapd_bin)" -f "$dir/slapd.conf" -h "$urls" >"$dir/slapd.log" 2>&1 ||
            die "slapd did not start: $(tail -n 5 "$dir/slapd.log")"
    fi
    if ! wait_up "$(cat "$dir/url")" "$dir/slapd.pid"; then
        cmd_stop "$dir" >/dev/null 2>&1 || true
        die "slapd on $(cat "$dir/url") did not answer"
    fi
    if [ -f "$dir/ldaps_url" ] && ! LDAPTLS_CACERT="$dir/tls/ca.crt" wait_up "$(cat "$dir/ldaps_url")" "$dir/slapd.pid"; then
        cmd_stop "$dir" >/dev/null 2>&1 || true
        die "slapd on $(cat "$dir/ldaps_url") did not answer"
    fi
}

# Starts an instance made by `start` again, keeping its database, passwords
# and TLS files (for tests of a directory that goes down and comes back).
cmd_restart() {
    [ $# -eq 1 ] || die "usage: slapd.sh restart DIR"
    dir=$(abspath "$1")
    [ -f "$dir/slapd.conf" ] && [ -f "$dir/url" ] && [ -f "$dir/ldapi_url" ] ||
        die "$dir: not started by slapd.sh"
    need slapd
    cmd_stop "$dir"
    urls=$(cat "$dir/url")
    [ ! -f "$dir/ldaps_url" ] || urls="$urls $(cat "$dir/ldaps_url")"
    urls="$urls $(cat "$dir/ldapi_url")"
    launch "$dir" "$urls"
}

cmd_load() {
    [ $# -eq 2 ] || die "usage: slapd.sh load DIR FILE.ldif"
    dir=$(abspath "$1")
    [ -f "$2" ] || die "$2: no such file"
    [ -f "$dir/url" ] || die "$dir: not started by slapd.sh"
    ldapadd -x -H "$(cat "$dir/url")" -D "$ROOTDN" -y "$dir/admin-password" -f "$2" >"$dir/load.log" 2>&1 ||
        die "loading $2 failed: $(tail -n 3 "$dir/load.log")"
}

cmd_stop() {
    [ $# -eq 1 ] || die "usage: slapd.sh stop DIR"
    dir=$1
    [ -f "$dir/slapd.pid" ] || return 0
    pid=$(cat "$dir/slapd.pid")
    case "$pid" in '' | *[!0-9]*) die "$dir/slapd.pid: not a PID" ;; esac
    # A stopped (SIGSTOP) server would ignore TERM until continued.
    kill -CONT "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || { rm -f "$dir/slapd.pid"; return 0; }
    i=0
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$dir/slapd.pid"
}

[ $# -ge 1 ] || die "usage: slapd.sh start|load|stop|restart DIR ..."
cmd=$1
shift
case "$cmd" in
start) cmd_start "$@" ;;
load) cmd_load "$@" ;;
stop) cmd_stop "$@" ;;
restart) cmd_restart "$@" ;;
*) die "unknown command '$cmd' (start, load, stop, restart)" ;;
esac
