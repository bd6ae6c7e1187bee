#!/bin/sh
# The cost of the key process (docs/http.md, "Process model"): OCSP
# responses signed on demand (a POST with a nonce, ocsp.signer ca, so every
# answer is one CA-key signature) per second from `certmint serve` with the
# key in the key process (serve.key_process yes, the default) and in the
# serving process (no), with the ratio and p99 latency:
#   sh bench/keyproc.sh [SECONDS] [CONNECTIONS]      (defaults 10 and 16)
# CM=path/to/certmint compares another build; THREADS sets wrk's threads
# and certmint's http.threads (default: the number of cores). KEY=ec:p256
# (default), ec:p384 or rsa:3072 picks the CA key. Needs wrk. Nothing is
# asserted.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
CM=${CM:-$TOP/build/certmint}
DUR=${1:-10}
CONN=${2:-16}
NT=${THREADS:-$(nproc)}
KEY=${KEY:-ec:p256}
T=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-keyproc.XXXXXX")
SPID=""
cleanup() {
    [ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
    [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for tool in wrk openssl python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench/keyproc.sh: $tool is missing (scripts/install-deps.sh)"; exit 1; }
done
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

H="$T/ca"
printf 'bench-passphrase-%s\n' "$$" >"$T/pass"
chmod 600 "$T/pass"
cmq() { "$CM" --home "$H" --passphrase-file "$T/pass" "$@"; }
cmq init --subject "/CN=Bench Keyproc Root" --key "$KEY" >/dev/null
P=$(port)
cmq config set http.listen "127.0.0.1:$P" >/dev/null
cmq config set http.threads "$NT" >/dev/null
cmq config set ocsp.signer ca >/dev/null
cmq config set ocsp.max_inflight_sign 100000 >/dev/null # measure signing, not the bound
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/leaf.key" \
    -subj /CN=leaf.example.org -addext subjectAltName=DNS:leaf.example.org -out "$T/leaf.csr" 2>/dev/null
cmq submit --profile tls-server --out "$T/leaf.pem" "$T/leaf.csr" >/dev/null
cmq ca-cert >"$T/root.pem"
openssl ocsp -issuer "$T/root.pem" -cert "$T/leaf.pem" -reqout "$T/req.der" >/dev/null 2>&1
cat >"$T/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/ocsp-request"
local f = io.open("$T/req.der", "rb")
wrk.body = f:read("*a")
f:close()
LUA

run() { # yes|no -> "rate p99 signed"
    cmq config set serve.key_process "$1" >/dev/null
    "$CM" --home "$H" --passphrase-file "$T/pass" serve >"$T/serve.$1.log" 2>&1 &
    SPID=$!
    i=0
    until curl -fsS -o /dev/null "http://127.0.0.1:$P/healthz" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "bench/keyproc.sh: serve did not start"; exit 1; }
        sleep 0.1
    done
    openssl ocsp -issuer "$T/root.pem" -cert "$T/leaf.pem" -url "http://127.0.0.1:$P/ocsp" \
        -CAfile "$T/root.pem" 2>&1 | grep -q 'Response verify OK' ||
        { echo "bench/keyproc.sh: the nonce response does not verify"; exit 1; }
    wrk -t"$NT" -c"$CONN" -d"${DUR}s" --latency -s "$T/post.lua" "http://127.0.0.1:$P/ocsp" >"$T/wrk.$1" 2>&1
    good=$(curl -fsS "http://127.0.0.1:$P/metrics" | awk -F' ' '/status="good"/ {print $2}')
    kill "$SPID"
    wait "$SPID" 2>/dev/null || true
    SPID=""
    echo "$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk.$1") $(awk '$1 == "99%" {print $2}' "$T/wrk.$1") $good"
}
echo "== OCSP POST with a nonce (one $KEY signature per answer), wrk -t$NT -c$CONN -d${DUR}s, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
set -- $(run yes)
r1=$1 q1=$2 g1=$3
set -- $(run no)
r2=$1 q2=$2 g2=$3
printf '%-34s %12s %10s %10s\n' "certmint serve" "responses/s" "p99" "good"
printf '%-34s %12s %10s %10s\n' "key in the key process (default)" "$r1" "$q1" "$g1"
printf '%-34s %12s %10s %10s\n' "key in the server (key_process no)" "$r2" "$q2" "$g2"
awk -v a="$r1" -v b="$r2" 'BEGIN { printf "key process / in process: %.2f\n", (b > 0 ? a / b : 0) }'
