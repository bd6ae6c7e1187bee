#!/bin/sh
# Issuance benchmark: certmint submit in batch (durably committed) against the
# physical limit measured by `openssl speed` on the same machine, in one run.
#   sh bench/issue.sh [N]        (default N = 10000)
# Prints certificates/s for an ECDSA P-256 CA and an RSA-2048 CA (prepared
# P-256 CSRs), the limit (one P-256 verify for the CSR + one sign with the CA
# key per certificate), and the ratios, for one worker and for all cores.
set -eu
cd "$(dirname "$0")/.."
N=${1:-10000}
CM=./build/certmint
[ -x "$CM" ] || make -s
W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
cc -O2 -o "$W/gen_csrs" bench/gen_csrs.c -lcrypto
mkdir "$W/csrs"
"$W/gen_csrs" "$W/csrs" "$N"
printf 'bench-passphrase\n' >"$W/pass"
chmod 600 "$W/pass"
cores=$(nproc)

# openssl speed: ops/s for one core.
speed() { # algo -> "sign/s verify/s"
    openssl speed -seconds 3 "$1" 2>/dev/null | awk -v a="$2" '$0 ~ a {print $(NF-1), $NF}' | tail -n 1
}
p256=$(speed ecdsap256 'nistp256')
rsa=$(speed rsa2048 '^rsa 2048')
p256_sign=$(echo "$p256" | cut -d' ' -f1); p256_verify=$(echo "$p256" | cut -d' ' -f2)
rsa_sign=$(echo "$rsa" | cut -d' ' -f1)
limit() { # sign/s verify/s -> certs/s for one core
    awk -v s="$1" -v v="$2" 'BEGIN { printf "%.0f", 1 / (1 / s + 1 / v) }'
}
lim_p256=$(limit "$p256_sign" "$p256_verify")
lim_rsa=$(limit "$rsa_sign" "$p256_verify")

run() { # keyspec workers -> certs/s
    h="$W/ca-$1-$2"
    $CM --home "$h" --passphrase-file "$W/pass" init --subject "/CN=Bench $1" --key "$1" >/dev/null
    $CM --home "$h" config set submit.workers "$2"
    sync
    start=$(date +%s.%N)
    $CM --home "$h" --passphrase-file "$W/pass" submit --profile tls-server "$W"/csrs/*.csr >"$W/out"
    end=$(date +%s.%N)
    issued=$(grep -c '	issued	' "$W/out")
    [ "$issued" -eq "$N" ] || { echo "only $issued of $N issued" >&2; exit 1; }
    awk -v n="$N" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}
ec1=$(run ec:p256 1); ecn=$(run ec:p256 0)
rs1=$(run rsa:2048 1); rsn=$(run rsa:2048 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "issuance benchmark: $N prepared P-256 CSRs, durable commits (synchronous=FULL), $cores cores"
echo "openssl speed (one core): P-256 sign $p256_sign/s verify $p256_verify/s; RSA-2048 sign $rsa_sign/s"
printf '%-22s %10s %12s %14s %12s %14s\n' "CA key" "limit/core" "1 worker" "ratio/1 core" "all cores" "ratio/all"
printf '%-22s %10s %12s %14s %12s %14s\n' "ECDSA P-256" "$lim_p256" "$ec1" "$(ratio "$ec1" "$lim_p256")" "$ecn" "$(ratio "$ecn" $((lim_p256 * cores)))"
printf '%-22s %10s %12s %14s %12s %14s\n' "RSA-2048" "$lim_rsa" "$rs1" "$(ratio "$rs1" "$lim_rsa")" "$rsn" "$(ratio "$rsn" $((lim_rsa * cores)))"
