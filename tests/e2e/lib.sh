# Shared helpers for the end-to-end tests. Source it from a test script:
#   . "$(dirname "$0")/lib.sh"
# Every check prints "ok - SUITE: what" or "not ok - SUITE: what: why".
# The script's temp folder is removed at exit (kept with KEEP=1).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
CM="$BUILD/certmint"
SUITE=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/cm-$SUITE.XXXXXX")
NFAIL=0
cleanup_hooks=""
at_exit() { cleanup_hooks="$1
$cleanup_hooks"; }
_cleanup() {
    eval "$cleanup_hooks"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok - $SUITE: $*"; }
fail() { echo "not ok - $SUITE: $*"; NFAIL=$((NFAIL + 1)); }
# check "what" command...: passes when the command exits 0.
check() {
    what=$1
    shift
    if "$@" >"$T/last.out" 2>&1; then ok "$what"; else
        fail "$what: '$*' failed: $(tail -n 3 "$T/last.out" | tr '\n' ' ')"
    fi
}
# check_fails "what" command...: passes when the command exits non-zero.
check_fails() {
    what=$1
    shift
    if "$@" >"$T/last.out" 2>&1; then fail "$what: '$*' unexpectedly succeeded"; else ok "$what"; fi
}
# check_eq "what" got expected
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', expected '$3'"; fi
}
# check_match "what" text regex
check_match() {
    if printf '%s' "$2" | grep -Eq -- "$3"; then ok "$1"; else fail "$1: '$2' does not match /$3/"; fi
}
done_testing() {
    [ "$NFAIL" -eq 0 ] && exit 0
    exit 1
}

# A passphrase file for CA keys (never on the command line).
PASS="$T/pass"
printf 'test-passphrase-%s\n' "$$" >"$PASS"
chmod 600 "$PASS"

# SoftHSM2 (PKCS#11) for tests: a private token directory in $T, its
# configuration in SOFTHSM2_CONF, the user PIN in a 0600 file.
# reset_on_fork: a forked batch worker finds the module reset, as with a
# real HSM, and must open its own session.
P11_MODULE=${P11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
P11_PIN="$T/softhsm/pin"
# softhsm_token LABEL: creates (once per label) a token LABEL.
softhsm_token() {
    if [ ! -f "$T/softhsm/softhsm2.conf" ]; then
        mkdir -p "$T/softhsm/tokens"
        printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nlibrary.reset_on_fork = true\n' \
            "$T/softhsm/tokens" >"$T/softhsm/softhsm2.conf"
        printf '%s\n' "pin-$$" >"$P11_PIN"
        chmod 600 "$P11_PIN"
    fi
    SOFTHSM2_CONF="$T/softhsm/softhsm2.conf"
    export SOFTHSM2_CONF
    [ -f "$T/softhsm/token-$1" ] && return 0
    softhsm2-util --init-token --free --label "$1" --pin "pin-$$" --so-pin "so-$$" >/dev/null &&
        : >"$T/softhsm/token-$1"
}
# p11_uri TOKEN OBJECT: the key's URI, PIN from the file.
p11_uri() {
    echo "pkcs11:token=$1;object=$2?module-path=$P11_MODULE&pin-source=file:$P11_PIN"
}
# CERTMINT_TEST_KEYSTORE=softhsm: every CA the tests make keeps its key in
# SoftHSM (make check-softhsm).
KEYSTORE=${CERTMINT_TEST_KEYSTORE:-file}
# skip_unless_file_keys WHY: ends a script that needs the CA key in a file.
skip_unless_file_keys() {
    if [ "$KEYSTORE" != file ]; then
        ok "skipped with CERTMINT_TEST_KEYSTORE=$KEYSTORE: $*"
        exit 0
    fi
}

# CERTMINT_TEST_DB=postgresql: every CA the tests make keeps its database in
# PostgreSQL (make check-pg), a fresh database per init, on a private server:
# tests/run.sh starts one per run (CERTMINT_TEST_PG, PGPASSFILE); a script
# run alone starts its own in $T/pg (scripts/pg.sh).
TESTDB=${CERTMINT_TEST_DB:-sqlite}
if [ "$TESTDB" = postgresql ] && [ -z "${CERTMINT_TEST_PG:-}" ]; then
    chmod 711 "$T" # the server runs as the postgres user
    if sh "$TOP/scripts/pg.sh" start "$T/pg" >"$T/pg.start" 2>&1; then
        eval "$(sh "$TOP/scripts/pg.sh" env "$T/pg")"
        at_exit 'sh "$TOP/scripts/pg.sh" stop "$T/pg"'
    else
        echo "not ok - $SUITE: cannot start PostgreSQL: $(tail -n 3 "$T/pg.start" | tr '\n' ' ')"
        exit 1
    fi
fi
# skip_unless_sqlite WHY: ends a script that reads or damages the SQLite
# file itself.
skip_unless_sqlite() {
    if [ "$TESTDB" != sqlite ]; then
        ok "skipped with CERTMINT_TEST_DB=$TESTDB: $*"
        exit 0
    fi
}
# db_url_of HOME: the home's db.url (empty for SQLite).
db_url_of() {
    sed -n 's/^db\.url *= *//p' "$1/certmint.conf" 2>/dev/null | tail -n 1
}
# db_sql HOME SQL: a query on the CA's database with the backend's own
# client (sqlite3 on HOME/certmint.db, psql on the home's db.url), not
# through certmint. Both backends use the same table and column names;
# rows print as 'a|b'.
db_sql() {
    if [ "$TESTDB" = postgresql ]; then
        psql -X -q -A -t -w -v ON_ERROR_STOP=1 "$(db_url_of "$1")" -c "$2"
    else
        sqlite3 "$1/certmint.db" "$2"
    fi
}
# db_state HOME: a digest of everything the CA's database holds, for
# "database unchanged" (SQLite: the file's bytes; PostgreSQL: every row of
# every table).
db_state() {
    if [ "$TESTDB" = postgresql ]; then
        _q=""
        for _t in meta counters requests certificates crls audit events event_poison; do
            _q="$_q${_q:+ UNION ALL }SELECT '$_t', x::text FROM $_t x"
        done
        db_sql "$1" "$_q ORDER BY 1, 2" | sha256sum | cut -c1-64
    else
        sha256sum <"$1/certmint.db" | cut -c1-64
    fi
}
# hold_lock HOME NAME SECONDS READY: from another process, holds the CA's
# named lock exclusively (db_lock; "exit-MODULE" is that module's delivery
# claim, "exit" held so stops every deliverer, as `db migrate` does) for
# SECONDS, touching the file READY once it holds it. Run it in the
# background. SQLite: an flock on HOME/NAME.lock; PostgreSQL: the session
# advisory lock src/db/postgres.c takes (key 1129139788, hashtext(NAME)).
hold_lock() {
    if [ "$TESTDB" = postgresql ]; then
        psql -X -q -w "$(db_url_of "$1")" \
            -c "SELECT pg_advisory_lock(1129139788, hashtext('$2'))" \
            -c "\\! touch '$4'" -c "SELECT pg_sleep($3)" >/dev/null
    else
        python3 -c 'import fcntl,sys,time; f=open(sys.argv[1],"a"); fcntl.flock(f, fcntl.LOCK_EX); open(sys.argv[2],"w").close(); time.sleep(float(sys.argv[3]))' \
            "$1/$2.lock" "$4" "$3"
    fi
}
# new_db_url: the URL of a database nobody has used yet.
new_db_url() {
    printf '%s/cm_%s_%s\n' "$CERTMINT_TEST_PG" "$(printf '%s' "$SUITE" | tr -c 'a-z0-9_' '_')" \
        "$(openssl rand -hex 6)"
}

# cm HOME args...: run certmint on a CA home. With the softhsm keystore an
# init keeps its key in the token: --key SPEC becomes --key-type SPEC beside
# --key URI, the object named after the home (unique, and the same again
# for a home made anew at the same path).
cm() {
    h=$1
    shift
    if [ "$TESTDB" = postgresql ] && { [ "${1:-}" = init ] || [ "${1:-}" = restore ]; }; then
        set -- "$@" --db "$(new_db_url)"
    fi
    if [ "$KEYSTORE" = softhsm ] && [ "${1:-}" = init ]; then
        softhsm_token certmint-test || return 1
        _cm_obj="ca-$(printf '%s' "$h" | sha256sum | cut -c1-16)"
        _cm_n=$#
        for _cm_a in "$@"; do
            [ "$_cm_a" = --key ] && _cm_a=--key-type
            set -- "$@" "$_cm_a"
        done
        shift "$_cm_n"
        "$CM" --home "$h" --passphrase-file "$PASS" "$@" --key "$(p11_uri certmint-test "$_cm_obj")"
        return
    fi
    "$CM" --home "$h" --passphrase-file "$PASS" "$@"
}

# new_root HOME KEYSPEC [extra init args]
new_root() {
    h=$1
    k=$2
    shift 2
    cm "$h" init --subject "/CN=Test Root $k/O=certmint tests" --key "$k" "$@"
}

# make_csr KEYSPEC OUTCSR OUTKEY SUBJ [SAN]: a CSR made with openssl.
make_csr() {
    spec=$1 csr=$2 key=$3 subj=$4 san=${5:-}
    case "$spec" in
    ec:p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null ;;
    ec:p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$key" 2>/dev/null ;;
    rsa:*) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"${spec#rsa:}" -out "$key" 2>/dev/null ;;
    ed25519) openssl genpkey -algorithm ED25519 -out "$key" 2>/dev/null ;;
    esac
    if [ -n "$san" ]; then
        openssl req -new -key "$key" -subj "$subj" -addext "subjectAltName=$san" -out "$csr" 2>/dev/null
    else
        openssl req -new -key "$key" -subj "$subj" -out "$csr" 2>/dev/null
    fi
}

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# ---- certmint serve ----
# serve_listen HOME HTTP_PORT HTTPS_PORT: the set-up the serve tests share:
# plain HTTP on 127.0.0.1:HTTP_PORT, HTTPS (client certificates) on
# 127.0.0.1:HTTPS_PORT, 2 threads, a 1 s loop. The HTTPS certificate is
# the script's own `serve --setup-tls` (its place in the script matters:
# before strict mode, after the exit modules, ...).
serve_listen() {
    for _sl in "http.listen 127.0.0.1:$2" "https.listen 127.0.0.1:$3" "http.threads 2" "serve.poll_interval 1"; do
        # shellcheck disable=SC2086
        "$CM" --home "$1" --passphrase-file "$PASS" config set $_sl >"$T/serve_listen.out" 2>&1 ||
            fail "config set $_sl: $(cat "$T/serve_listen.out")"
    done
}
# serve_wait PORT [TRIES]: polls http://127.0.0.1:PORT/healthz every 0.1 s
# until it answers; 1 after TRIES polls (100).
serve_wait() {
    _sw=0
    until curl -fsS "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; do
        _sw=$((_sw + 1))
        [ "$_sw" -gt "${2:-100}" ] && return 1
        sleep 0.1
    done
    return 0
}
# serve_https HOME HTTP_PORT [TRIES]: starts `certmint serve` on HOME in the
# background, its log in $T/serve.log, SPID its PID (certmint itself, not
# a wrapper: the target of the signals), killed at exit; returns once
# /healthz answers on HTTP_PORT; a server that does not come up ends the
# script, its log's tail in the failure.
serve_https() {
    "$CM" --home "$1" --passphrase-file "$PASS" serve >"$T/serve.log" 2>&1 &
    SPID=$!
    at_exit "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
    serve_wait "$2" "${3:-100}" || { fail "server did not start: $(tail -5 "$T/serve.log")"; done_testing; }
}
# serve_stop: stops the server serve_https started (SIGTERM) and returns
# its exit status.
serve_stop() {
    kill "$SPID"
    wait "$SPID"
}
