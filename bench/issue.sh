#!/bin/sh
# Issuance benchmark: certmint submit in batch (durably committed) against the
# physical limit measured by `openssl speed` on the same machine, in one run.
#   sh bench/issue.sh [N]        (default N = 10000)
# Prints certificates/s for an ECDSA P-256 CA and an RSA-2048 CA (prepared
# P-256 CSRs), the limit (one P-256 verify for the CSR + one sign with the CA
# key per certificate), and the ratios, for one worker and for all cores;
# each both as `submit FILE...` (results printed) and as the command users
# run, `submit --out DIR FILE...` (every certificate written to DIR, synced).
# The last column is the database writer's time per certificate (BEGIN to
# the end of COMMIT, from submit -vv), the figure that bounds one writer.
#   CM=path/to/certmint sh bench/issue.sh   compares another build
set -eu
cd "$(dirname "$0")/.."
N=${1:-10000}
CM=${CM:-./build/certmint}
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

run() { # keyspec workers [--out] -> "certs/s writer-us"
    h="$W/ca-$1-$2$3"
    $CM --home "$h" --passphrase-file "$W/pass" init --subject "/CN=Bench $1" --key "$1" >/dev/null
    $CM --home "$h" config set submit.workers "$2"
    o=""
    if [ -n "$3" ]; then
        rm -rf "$W/outdir" && mkdir "$W/outdir"
        o="--out $W/outdir"
    fi
    sync
    start=$(date +%s.%N)
    # shellcheck disable=SC2086
    $CM --home "$h" --passphrase-file "$W/pass" -vv submit --profile tls-server $o "$W"/csrs/*.csr >"$W/out" 2>"$W/err"
    end=$(date +%s.%N)
    issued=$(grep -c '	issued	' "$W/out")
    [ "$issued" -eq "$N" ] || { echo "only $issued of $N issued" >&2; exit 1; }
    if [ -n "$3" ]; then
        files=$(ls "$W/outdir" | wc -l)
        [ "$files" -eq "$N" ] || { echo "only $files of $N files written" >&2; exit 1; }
    fi
    held=$(sed -n 's/.*the writer held \([0-9.]*\) us per request.*/\1/p' "$W/err" | head -n 1)
    rm -rf "$h"
    awk -v n="$N" -v a="$start" -v b="$end" -v w="${held:-?}" 'BEGIN { printf "%.0f %s", n / (b - a), w }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
row() { # label keyspec limit [--out]
    one=$(run "$2" 1 "${4:-}"); all=$(run "$2" 0 "${4:-}")
    r1=${one% *}; rn=${all% *}
    printf '%-26s %10s %10s %9s %10s %9s %12s\n' "$1" "$3" "$r1" "$(ratio "$r1" "$3")" "$rn" \
        "$(ratio "$rn" $(($3 * cores)))" "${one#* }/${all#* }"
}
echo "issuance benchmark: $N prepared P-256 CSRs, durable commits (synchronous=FULL), $cores cores"
echo "openssl speed (one core): P-256 sign $p256_sign/s verify $p256_verify/s; RSA-2048 sign $rsa_sign/s"
printf '%-26s %10s %10s %9s %10s %9s %12s\n' "CA key" "limit/core" "1 worker" "ratio/1" "all cores" \
    "ratio/all" "writer us"
row "ECDSA P-256" ec:p256 "$lim_p256"
row "ECDSA P-256, --out DIR" ec:p256 "$lim_p256" --out
row "RSA-2048" rsa:2048 "$lim_rsa"
row "RSA-2048, --out DIR" rsa:2048 "$lim_rsa" --out
