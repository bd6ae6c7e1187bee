#!/bin/sh
# End to end: certmint serve's process model (docs/http.md, "Process
# model"). With HTTP listeners the CA key lives only in a key process that
# serve forks at start: the serving process never has it in memory (its
# private scalar is searched for in /proc/PID/mem of both), runs as
# serve.user after binding (nobody here, when the test runs as root) and
# cannot read the key file; what the key process signs for it verifies
# with openssl (the delegated OCSP responder certificate, the CRL serve
# publishes, OCSP responses with a nonce signed on demand by the CA key);
# SIGHUP and SIGTERM work with it; killing the key process makes signing
# fail (internalError) and serve exit non-zero.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "skip - $SUITE: curl missing (scripts/install-deps.sh)"; exit 0; }
H="$T/ca"
P=$(free_port)
B="http://127.0.0.1:$P"
ROOT=0
[ "$(id -u)" = 0 ] && ROOT=1
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" config set http.listen "127.0.0.1:$P" >/dev/null
cm "$H" config set http.base_url "$B/" >/dev/null
cm "$H" config set http.threads 2 >/dev/null
cm "$H" config set serve.poll_interval 1 >/dev/null
cm "$H" ca-cert >"$T/root.pem"
make_csr ec:p256 "$T/leaf.csr" "$T/leaf.key" "/CN=leaf.example.org" "DNS:leaf.example.org"
serial=$(cm "$H" submit --profile tls-server --out "$T/leaf.pem" "$T/leaf.csr" | cut -f3)
check "no CRL before serve" test ! -e "$H/crl/ca.crl"

# The deployment the docs describe: the home belongs to serve.user, the key
# file (and the passphrase file) stay root's, 0600.
own_home() {
    [ $ROOT = 1 ] || return 0
    chown -R nobody:nogroup "$H"
    for f in "$H/private/ca.key" "$H/private/ca.key.uri"; do
        [ -e "$f" ] && chown root:root "$f" && chmod 600 "$f"
    done
    return 0
}
if [ $ROOT = 1 ]; then
    cm "$H" config set serve.user nobody >/dev/null
    chmod 755 "$T"
    own_home
fi

# On PostgreSQL the serving process opens connections after it dropped to
# serve.user: the password file must be that user's (docs/http.md).
SERVE_PGPASS=${PGPASSFILE:-}
if [ "$TESTDB" = postgresql ] && [ $ROOT = 1 ]; then
    cp "$PGPASSFILE" "$T/pgpass.serve" && chown nobody:nogroup "$T/pgpass.serve" &&
        chmod 600 "$T/pgpass.serve"
    SERVE_PGPASS=$T/pgpass.serve
fi
# As root, serve runs under what the shipped systemd unit allows root at
# all: its CapabilityBoundingSet (read from dist/certmint.service.in) and
# NoNewPrivileges, through setpriv (util-linux).
WRAP=
if [ $ROOT = 1 ] && command -v setpriv >/dev/null 2>&1; then
    caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$TOP/dist/certmint.service.in" | tr 'A-Z' 'a-z' |
        sed 's/cap_//g; s/^ */+/; s/ *$//; s/  */,+/g')
    WRAP="setpriv --bounding-set=-all,$caps --no-new-privs"
fi
start_serve() { # -> SPID, KPID
    # shellcheck disable=SC2086
    PGPASSFILE=$SERVE_PGPASS $WRAP "$CM" --home "$H" --passphrase-file "$PASS" serve >"$T/serve.log" 2>&1 &
    SPID=$!
    serve_wait "$P" || { fail "server did not start: $(tail -5 "$T/serve.log")"; done_testing; }
    KPID=$(sed -n 's/.*key process \([0-9]*\) holds the CA key.*/\1/p' "$T/serve.log" | tail -1)
}
start_serve
at_exit "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
ok "serve started"
check_match "the key process is named in the log" "$KPID" '^[0-9]+$'
check_match "serve says it never loads the key" "$(cat "$T/serve.log")" "CA key in the key process $KPID"
check_eq "the key process is serve's child" "$(awk '/^PPid:/ {print $2}' "/proc/$KPID/status")" "$SPID"

# ---- privileges ----
if [ $ROOT = 1 ]; then
    check_eq "serving process: uid nobody (real, effective, saved, fs)" \
        "$(awk '/^Uid:/ {print $2,$3,$4,$5}' "/proc/$SPID/status")" "65534 65534 65534 65534"
    check_eq "serving process: gid nogroup" \
        "$(awk '/^Gid:/ {print $2,$3,$4,$5}' "/proc/$SPID/status")" "65534 65534 65534 65534"
    check_eq "serving process: no supplementary root group" \
        "$(awk '/^Groups:/ {print $2}' "/proc/$SPID/status")" "65534"
    check_eq "serving process: no_new_privs" "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$SPID/status")" 1
    # Every thread, not only the main one: the drop came before any started.
    check_match "serving process: several threads (HTTP loops, refresher)" "$(ls "/proc/$SPID/task" | wc -l)" '^ *([3-9]|[1-9][0-9]+)$'
    check_eq "every thread: uid nobody (real, effective, saved, fs)" \
        "$(cat /proc/$SPID/task/*/status | awk '/^Uid:/ {print $2,$3,$4,$5}' | sort -u)" "65534 65534 65534 65534"
    check_eq "every thread: gid nogroup" \
        "$(cat /proc/$SPID/task/*/status | awk '/^Gid:/ {print $2,$3,$4,$5}' | sort -u)" "65534 65534 65534 65534"
    check_eq "every thread: no capabilities left" \
        "$(cat /proc/$SPID/task/*/status | awk '/^Cap(Prm|Eff):/ {print $2}' | sort -u)" "0000000000000000"
    check_eq "every thread: no_new_privs" "$(cat /proc/$SPID/task/*/status | awk '/^NoNewPrivs:/ {print $2}' | sort -u)" 1
    line_of() { grep -n "$1" "$T/serve.log" | head -n 1 | cut -d: -f1; }
    l_drop=$(line_of "privileges dropped to nobody .* before any thread started")
    l_threads=$(line_of "HTTP server: [0-9]* thread(s)")
    if [ -n "$l_drop" ] && [ -n "$l_threads" ] && [ "$l_drop" -lt "$l_threads" ]; then
        ok "the log: privileges dropped (line $l_drop) before the HTTP threads started (line $l_threads)"
    else
        fail "privilege drop not logged before the threads: drop '$l_drop', threads '$l_threads'"
    fi
    if [ -n "$WRAP" ]; then
        check_eq "under the unit's bounding set: the key process has those capabilities only" \
            "$(awk '/^CapBnd:/ {print $2}' "/proc/$KPID/status")" \
            "$(setpriv --bounding-set=-all,$caps sh -c "awk '/^CapBnd:/ {print \$2}' /proc/self/status")"
        check_eq "  ... and no_new_privs" "$(awk '/^NoNewPrivs:/ {print $2}' "/proc/$KPID/status")" 1
    fi
    check_eq "key process stays root" "$(awk '/^Uid:/ {print $3}' "/proc/$KPID/status")" 0
    check_eq "key file: 0600 root" "$(stat -c '%a %U' "$H/private/ca.key" 2>/dev/null || echo uri)" \
        "$(test -e "$H/private/ca.key" && echo '600 root' || echo uri)"
    if [ -e "$H/private/ca.key" ]; then
        check_fails "serve.user cannot read the key file" \
            setpriv --reuid=65534 --regid=65534 --clear-groups cat "$H/private/ca.key"
    fi
    check_match "the log says privileges were dropped" "$(cat "$T/serve.log")" "privileges dropped to nobody"
    check_eq "OCSP responder key: made by the key process, 0600 root" \
        "$(stat -c '%a %U' "$H/private/ocsp.key")" "600 root"
    check_fails "serve.user cannot read the OCSP responder key" \
        setpriv --reuid=65534 --regid=65534 --clear-groups cat "$H/private/ocsp.key"
else
    echo "skip - $SUITE: privilege drop (not root)"
fi

# ---- the key is in the key process only ----
# Not under AddressSanitizer: its shadow memory is terabytes of mappings
# that /proc/PID/mem cannot be read through in a test's time.
case ${BUILD:-build} in *asan*) SCAN=0 ;; *) SCAN=1 ;; esac
if [ "$KEYSTORE" = file ] && [ $ROOT = 1 ] && [ $SCAN = 1 ]; then
    hex=$(openssl pkey -in "$H/private/ca.key" -passin "file:$PASS" -noout -text |
        awk '/^priv:/ {on=1; next} /^pub:/ {on=0} on' | tr -d ' :\n' | sed 's/^00//')
    cat >"$T/scan.py" <<'PY'
import re, sys
pid, scalar = sys.argv[1], bytes.fromhex(sys.argv[2])
# Big-endian (DER, PEM) and little-endian (OpenSSL BIGNUM limbs on x86-64).
needles = [scalar, scalar[::-1]]
hits = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        if m.group(3)[0] != "r" or "[vvar]" in line or "[vsyscall]" in line:
            continue
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        try:
            mem.seek(lo)
            data = mem.read(hi - lo)
        except OSError:
            continue
        hits += sum(data.count(n) for n in needles)
print(hits)
PY
    check_eq "private scalar is 32 bytes" "${#hex}" 64
    kp_hits=$(python3 "$T/scan.py" "$KPID" "$hex")
    sv_hits=$(python3 "$T/scan.py" "$SPID" "$hex")
    [ "${kp_hits:-0}" -ge 1 ] && ok "the key process holds the private scalar ($kp_hits copies)" ||
        fail "scalar not found in the key process ($kp_hits): the scan does not see it"
    check_eq "the serving process's memory has no copy of the private scalar" "$sv_hits" 0
    # The delegated OCSP responder's key: made and kept by the key process.
    hex=$(openssl pkey -in "$H/private/ocsp.key" -noout -text |
        awk '/^priv:/ {on=1; next} /^pub:/ {on=0} on' | tr -d ' :\n' | sed 's/^00//')
    check_eq "responder key: 32-byte scalar" "${#hex}" 64
    kp_hits=$(python3 "$T/scan.py" "$KPID" "$hex")
    sv_hits=$(python3 "$T/scan.py" "$SPID" "$hex")
    [ "${kp_hits:-0}" -ge 1 ] && ok "the key process holds the OCSP responder key ($kp_hits copies)" ||
        fail "responder key not found in the key process ($kp_hits)"
    check_eq "the serving process has no copy of the OCSP responder key" "$sv_hits" 0
else
    echo "skip - $SUITE: memory scan (file keys as root only, not under ASan)"
fi

# ---- what the key process signed verifies ----
check "delegated OCSP responder certificate, issued at start, verifies" \
    openssl verify -CAfile "$T/root.pem" "$H/private/ocsp.crt"
i=0
while [ ! -s "$H/crl/ca.crl" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "serve published a CRL" test -s "$H/crl/ca.crl"
check "the CRL verifies against the CA" \
    openssl crl -inform DER -in "$H/crl/ca.crl" -CAfile "$T/root.pem" -noout
ocsp_q() { # extra openssl ocsp options...
    openssl ocsp -issuer "$T/root.pem" -cert "$T/leaf.pem" -url "$B/ocsp" -CAfile "$T/root.pem" "$@" 2>&1
}
out=$(ocsp_q -no_nonce)
check_match "OCSP (delegated responder): good, verified" "$out" "leaf.pem: good"
check_match "OCSP (delegated responder): signature OK" "$out" "Response verify OK"

# ---- SIGHUP does not need the key here ----
kill -HUP "$SPID"
sleep 1.5
check "still serving after SIGHUP" curl -fsS -o /dev/null "$B/healthz"
check "the key process survived SIGHUP" kill -0 "$KPID"
check_match "reloaded" "$(cat "$T/serve.log")" "reload"
cm "$H" revoke --reason keyCompromise "$serial" >/dev/null
own_home
i=0
until ocsp_q -no_nonce | grep -q "leaf.pem: revoked"; do
    i=$((i + 1))
    [ $i -gt 30 ] && break
    sleep 0.2
done
check_match "a revocation reaches the responder (run as nobody)" "$(ocsp_q -no_nonce)" "leaf.pem: revoked"

# ---- SIGTERM: both processes end ----
kill -TERM "$SPID"
wait "$SPID"
check_eq "SIGTERM: exit status 0" "$?" 0
i=0
while kill -0 "$KPID" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check_fails "the key process ended with serve" kill -0 "$KPID"

# ---- the CA key signs OCSP on demand; then the key process dies ----
cm "$H" config set ocsp.signer ca >/dev/null
cm "$H" config set ocsp.max_inflight_sign 1 >/dev/null
# An exit module that cannot deliver (its directory is under a file): the
# events wait in its backlog, which /metrics shows per module.
cm "$H" config set exit.file.dir "$T/pass/events" >/dev/null 2>&1
cm "$H" config set exit.modules file >/dev/null
cm "$H" config set http.threads 4 >/dev/null
own_home
start_serve
out=$(ocsp_q)
check_match "OCSP with a nonce (CA key, signed in the key process): verified" "$out" "Response verify OK"
check_match "OCSP with a nonce: revoked" "$out" "leaf.pem: revoked"
sleep 1.2 # one serve loop pass refreshes the metrics that need the database
m=$(curl -sS "$B/metrics")
check_match "metrics: outbox backlog of the file module" "$m" 'certmint_outbox_backlog\{module="file"\} [1-9]'
check_match "metrics: poisoned events of the file module" "$m" 'certmint_outbox_poisoned\{module="file"\} [0-9]+'
check_match "metrics: certificates (leaf and responder)" "$m" 'certmint_certificates [2-9]'
check_match "metrics: requests pending" "$m" 'certmint_requests_pending 0'
check_match "metrics: seconds to the next delta CRL" "$m" 'certmint_crl_next_update_seconds\{kind="delta"\} [0-9]+'
check_match "metrics: OCSP revoked counted" "$m" 'certmint_ocsp_responses_total\{status="revoked"\} [1-9]'
check_match "metrics: tryLater series present" "$m" 'certmint_ocsp_responses_total\{status="tryLater"\} 0'
check_match "metrics: latency histogram" "$m" 'certmint_http_request_duration_seconds_count [1-9]'

# ---- ocsp.max_inflight_sign: a flood of nonces gets tryLater ----
if command -v wrk >/dev/null; then
    openssl ocsp -issuer "$T/root.pem" -cert "$T/leaf.pem" -reqout "$T/nonce.der" >/dev/null 2>&1
    openssl ocsp -issuer "$T/root.pem" -cert "$T/leaf.pem" -no_nonce -reqout "$T/plain.der" >/dev/null 2>&1
    cat >"$T/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/ocsp-request"
local f = io.open("$T/nonce.der", "rb")
wrk.body = f:read("*a")
f:close()
LUA
    wrk -t2 -c16 -d3s -s "$T/post.lua" "$B/ocsp" >"$T/wrk.out" 2>&1 &
    WPID=$!
    sleep 0.5
    n=0
    tl=0
    while [ $n -lt 40 ]; do
        curl -sS -o "$T/tl.der" --data-binary "@$T/nonce.der" -H 'Content-Type: application/ocsp-request' "$B/ocsp"
        if openssl ocsp -respin "$T/tl.der" -resp_text -noverify 2>&1 | grep -q 'trylater (3)'; then
            tl=$((tl + 1))
        fi
        n=$((n + 1))
    done
    get=$(curl -sS -o "$T/get.der" -w '%{http_code} %{time_total}' "$B/ocsp/$(base64 -w0 "$T/plain.der" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')")
    wait $WPID
    [ $tl -ge 1 ] && ok "over ocsp.max_inflight_sign: tryLater ($tl of 40 during the flood)" ||
        fail "no tryLater in 40 requests during a flood of nonces"
    m=$(curl -sS "$B/metrics")
    check_match "tryLater counted in /metrics" "$m" 'certmint_ocsp_responses_total\{status="tryLater"\} [1-9]'
    check_match "most nonce requests were still signed" "$m" 'certmint_ocsp_responses_total\{status="revoked"\} [1-9][0-9]'
    check_match "cached GET answered during the flood" "$get" "^200 "
    check_match "cached GET during the flood: revoked" \
        "$(openssl ocsp -respin "$T/get.der" -issuer "$T/root.pem" -CAfile "$T/root.pem" -cert "$T/leaf.pem" 2>&1)" \
        "leaf.pem: revoked"
    check_match "signed again after the flood" "$(ocsp_q)" "Response verify OK"
else
    echo "skip - $SUITE: tryLater flood (wrk missing)"
fi
kill -KILL "$KPID"
# Serve notices within its poll (SIGCHLD ends its sleep): a request right
# after the kill meets either the failing signer or a server already gone;
# never a signed answer. (test_keyproc checks the error itself.)
out=$(ocsp_q)
case "$out" in
*"Response verify OK"* | *"leaf.pem: "*) fail "key process killed: still a signed answer: $out" ;;
*) ok "key process killed: no signed answer ($(printf '%s' "$out" | grep -Eo 'internalerror|Connection refused|error receiving' | head -1))" ;;
esac
i=0
while kill -0 "$SPID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
check_fails "serve stops without its key process" kill -0 "$SPID"
wait "$SPID"
rc=$?
[ "$rc" -ne 0 ] && ok "serve exits non-zero ($rc)" || fail "serve exited 0 without its key process"
check_match "the log names the killed key process" "$(cat "$T/serve.log")" \
    "key process $KPID was killed by signal 9"
check_match "and why serve stopped" "$(cat "$T/serve.log")" "serve stopped: the key process exited"

# ---- serve.key_process no: the old model (the key in the server) ----
cm "$H" config set serve.key_process no >/dev/null
# The key then signs in the serving process: a PKCS#11 token must be usable
# by serve.user (SoftHSM's token files here are root's), so run as root.
[ $ROOT = 1 ] && cm "$H" config set serve.user root >/dev/null
own_home
start_serve
check_eq "serve.key_process no: no key process" "$KPID" ""
check_match "serve.key_process no: OCSP still signed" "$(ocsp_q)" "Response verify OK"
kill -TERM "$SPID"
wait "$SPID"
done_testing
