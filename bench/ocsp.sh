#!/bin/sh
# OCSP responder throughput: cached GET responses per second (RFC 5019
# style: one SHA-1 CertID, no nonce) from `certmint serve`, from
# `openssl ocsp -port` serving the same CA from an index file (with the same
# delegated responder key), and from nginx serving a static file of the same
# size (the practical ceiling of this machine). `openssl ocsp` runs twice:
# as one process (the default, what the issue's ">= 20x" compares with) and
# with -multi N (OpenSSL 3.0: N responder processes on the one socket, N =
# the threads certmint gets), the fair comparison. One command, all in one
# run, with ratios and p99 latency:
#   sh bench/ocsp.sh [SECONDS] [CONNECTIONS]      (defaults 10 and 64)
# CM=path/to/certmint compares another build; THREADS sets wrk's threads
# and certmint's http.threads (default: the number of cores). Needs wrk and
# nginx (scripts/install-deps.sh). Nothing is asserted.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
CM=${CM:-$TOP/build/certmint}
DUR=${1:-10}
CONN=${2:-64}
NT=${THREADS:-$(nproc)}
T=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-ocsp.XXXXXX")
PIDS=""
cleanup() {
    # openssl ocsp -multi's parent outlives a SIGTERM while its children
    # run: its children first (by parent PID), then it.
    [ -n "${MULTI:-}" ] && { pkill -TERM -P "$MULTI" 2>/dev/null || true; kill -KILL "$MULTI" 2>/dev/null || true; }
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for tool in wrk ab nginx openssl python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench/ocsp.sh: $tool is missing (scripts/install-deps.sh)"; exit 1; }
done
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_http() { # URL
    i=0
    until curl -fsS -o /dev/null "$1" 2>/dev/null; do
        i=$((i + 1))
        [ $i -gt 100 ] && { echo "bench/ocsp.sh: $1 did not answer"; exit 1; }
        sleep 0.1
    done
}

# A CA with one certificate, served by certmint.
H="$T/ca"
printf 'bench-passphrase-%s\n' "$$" >"$T/pass"
chmod 600 "$T/pass"
cmq() { "$CM" --home "$H" --passphrase-file "$T/pass" "$@"; }
cmq init --subject "/CN=Bench OCSP Root" --key ec:p256 >/dev/null
P1=$(port)
cmq config set http.listen "127.0.0.1:$P1" >/dev/null
cmq config set http.threads "$NT" >/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/leaf.key" \
    -subj /CN=leaf.example.org -addext subjectAltName=DNS:leaf.example.org -out "$T/leaf.csr" 2>/dev/null
cmq submit --profile tls-server --out "$T/leaf.pem" "$T/leaf.csr" >/dev/null
cmq ca-cert >"$T/root.pem"
# Not through cmq (a function: $! would be the subshell, not certmint).
"$CM" --home "$H" --passphrase-file "$T/pass" serve >"$T/serve.log" 2>&1 &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$P1/healthz"
openssl ocsp -issuer "$T/root.pem" -cert "$T/leaf.pem" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
ENC=$(base64 -w0 "$T/req.der" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
curl -fsS -o "$T/resp.der" "http://127.0.0.1:$P1/ocsp/$ENC"
openssl ocsp -respin "$T/resp.der" -issuer "$T/root.pem" -CAfile "$T/root.pem" -cert "$T/leaf.pem" 2>&1 |
    grep -q 'leaf.pem: good' || { echo "bench/ocsp.sh: certmint's response does not verify"; exit 1; }

# openssl ocsp -port: the same CA, an index file, the same responder key.
P2=$(port)
serial=$(openssl x509 -in "$T/leaf.pem" -noout -serial | cut -d= -f2)
end=$(date -u -d "$(openssl x509 -in "$T/leaf.pem" -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
printf 'V\t%s\t\t%s\tunknown\t/CN=leaf.example.org\n' "$end" "$serial" >"$T/index.txt"
openssl ocsp -port "$P2" -index "$T/index.txt" -CA "$T/root.pem" \
    -rsigner "$H/private/ocsp.crt" -rkey "$H/private/ocsp.key" -nmin 5760 -ignore_err >"$T/openssl.log" 2>&1 &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$P2/$ENC"
# The same with -multi: as many responder processes as certmint has threads.
P4=$(port)
openssl ocsp -port "$P4" -index "$T/index.txt" -CA "$T/root.pem" -multi "$NT" \
    -rsigner "$H/private/ocsp.crt" -rkey "$H/private/ocsp.key" -nmin 5760 -ignore_err >"$T/openssl-multi.log" 2>&1 &
MULTI=$!
wait_http "http://127.0.0.1:$P4/$ENC"

# nginx: a static file of the same size.
P3=$(port)
mkdir -p "$T/www/ocsp" "$T/nginx"
# nginx started as root serves as nobody: the static file must be readable.
chmod 755 "$T" "$T/www" "$T/www/ocsp"
head -c "$(wc -c <"$T/resp.der")" /dev/urandom >"$T/www/ocsp/static"
chmod 644 "$T/www/ocsp/static"
cat >"$T/nginx/nginx.conf" <<NGX
worker_processes $NT;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $T/nginx/body; proxy_temp_path $T/nginx/proxy;
    fastcgi_temp_path $T/nginx/fcgi; uwsgi_temp_path $T/nginx/uwsgi; scgi_temp_path $T/nginx/scgi;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$P3; root $T/www; default_type application/ocsp-response; }
}
NGX
nginx -c "$T/nginx/nginx.conf" -g 'daemon off;' >/dev/null 2>&1 &
PIDS="$PIDS $!"
wait_http "http://127.0.0.1:$P3/ocsp/static"

run() { # NAME URL [wrk options] -> "rate p99"
    name=$1 url=$2
    shift 2
    wrk -t"$NT" -c"$CONN" -d"${DUR}s" --latency "$@" "$url" >"$T/wrk.$name" 2>&1
    rate=$(awk '/^Requests\/sec:/ {print $2}' "$T/wrk.$name")
    p99=$(awk '$1 == "99%" {print $2}' "$T/wrk.$name")
    echo "$rate $p99"
}
echo "== OCSP GET, cached response ($(wc -c <"$T/resp.der") bytes), wrk -t$NT -c$CONN -d${DUR}s, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
set -- $(run certmint "http://127.0.0.1:$P1/ocsp/$ENC")
r1=$1 q1=$2
# openssl ocsp answers one connection at a time and keeps none open, which
# wrk does not cope with: ab, a new connection per request. Its "failed"
# requests are length differences (an ECDSA signature is 70 to 72 bytes).
ab -q -t "$DUR" -n 100000000 -c "$CONN" "http://127.0.0.1:$P2/$ENC" >"$T/ab.openssl" 2>&1 || true
set -- "$(awk '/^Requests per second:/ {print $4}' "$T/ab.openssl")" \
    "$(awk '$1 == "99%" {print $2 "ms"}' "$T/ab.openssl")"
r2=$1 q2=$2
ab -q -t "$DUR" -n 100000000 -c "$CONN" "http://127.0.0.1:$P4/$ENC" >"$T/ab.openssl-multi" 2>&1 || true
set -- "$(awk '/^Requests per second:/ {print $4}' "$T/ab.openssl-multi")" \
    "$(awk '$1 == "99%" {print $2 "ms"}' "$T/ab.openssl-multi")"
r4=$1 q4=$2
set -- $(run nginx "http://127.0.0.1:$P3/ocsp/static")
r3=$1 q3=$2
printf '%-26s %12s %10s\n' "server" "responses/s" "p99"
printf '%-26s %12s %10s\n' "certmint serve" "$r1" "$q1"
printf '%-26s %12s %10s\n' "openssl ocsp -port (ab)" "$r2" "$q2"
printf '%-26s %12s %10s\n' "openssl ocsp -multi $NT (ab)" "$r4" "$q4"
printf '%-26s %12s %10s\n' "nginx static file" "$r3" "$q3"
awk -v a="$r1" -v b="$r2" -v c="$r3" -v d="$r4" 'BEGIN {
    printf "certmint / openssl ocsp: %.1fx (target >= 20x)\n", (b > 0 ? a / b : 0);
    printf "certmint / openssl ocsp -multi: %.1fx\n", (d > 0 ? a / d : 0);
    printf "nginx / openssl ocsp:    %.1fx (the most any server could reach here)\n", (b > 0 ? c / b : 0);
    printf "certmint / nginx:        %.2f (target >= 0.5)\n", (c > 0 ? a / c : 0) }'
