#!/bin/sh
# Issuance with the CA key in SoftHSM2 (PKCS#11) beside the same with the
# encrypted key file, and the limit from `openssl speed`, in one run:
#   sh bench/pkcs11.sh [N]        (default N = 5000)
# Prints certificates/s of `submit --out DIR` (what users run) for an ECDSA
# P-256 CA, one worker and all cores. SoftHSM signs in software, so the gap
# between the two rows is the cost of the PKCS#11 call path (session pool,
# C_SignInit + C_Sign, r||s to DER, re-decoding the signed certificate).
set -eu
cd "$(dirname "$0")/.."
N=${1:-5000}
CM=./${BUILD:-build}/certmint
[ -x "$CM" ] || make -s
MODULE=${P11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-p11.XXXXXX")
trap 'rm -rf "$W"' EXIT
cc -O2 -o "$W/gen_csrs" bench/gen_csrs.c -lcrypto
mkdir "$W/csrs"
"$W/gen_csrs" "$W/csrs" "$N"
printf 'bench-passphrase\n' >"$W/pass"
printf 'bench-pin\n' >"$W/pin"
chmod 600 "$W/pass" "$W/pin"
mkdir "$W/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$W/tokens" >"$W/softhsm2.conf"
SOFTHSM2_CONF="$W/softhsm2.conf"
export SOFTHSM2_CONF
softhsm2-util --init-token --free --label bench --pin bench-pin --so-pin bench-so >/dev/null
cores=$(nproc)

p256=$(openssl speed -seconds 3 ecdsap256 2>/dev/null | awk '/nistp256/ {print $(NF-1), $NF}' | tail -n 1)
sign=$(echo "$p256" | cut -d' ' -f1); verify=$(echo "$p256" | cut -d' ' -f2)
limit=$(awk -v s="$sign" -v v="$verify" 'BEGIN { printf "%.0f", 1 / (1 / s + 1 / v) }')

run() { # name keyarg workers -> certs/s
    h="$W/ca-$1-$3"
    $CM --home "$h" --passphrase-file "$W/pass" init --subject "/CN=Bench $1" --key "$2" >/dev/null
    $CM --home "$h" config set submit.workers "$3"
    mkdir "$W/out-$1-$3"
    sync
    start=$(date +%s.%N)
    $CM --home "$h" --passphrase-file "$W/pass" submit --out "$W/out-$1-$3" "$W"/csrs/*.csr >"$W/out"
    end=$(date +%s.%N)
    issued=$(grep -c '	issued	' "$W/out")
    [ "$issued" -eq "$N" ] || { echo "only $issued of $N issued" >&2; exit 1; }
    awk -v n="$N" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}
uri() { echo "pkcs11:token=bench;object=$1?module-path=$MODULE&pin-source=file:$W/pin"; }
f1=$(run file ec:p256 1); fn=$(run file ec:p256 0)
h1=$(run softhsm "$(uri k1)" 1); hn=$(run softhsm "$(uri kn)" 0)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
echo "PKCS#11 issuance benchmark: $N prepared P-256 CSRs, submit --out DIR, $cores cores"
echo "openssl speed (one core): P-256 sign $sign/s verify $verify/s; limit (verify + sign) $limit/s"
printf '%-26s %10s %12s %12s %14s\n' "CA key (ECDSA P-256)" "1 worker" "ratio/1 core" "all cores" "ratio/all"
printf '%-26s %10s %12s %12s %14s\n' "encrypted file" "$f1" "$(ratio "$f1" "$limit")" "$fn" "$(ratio "$fn" $((limit * cores)))"
printf '%-26s %10s %12s %12s %14s\n' "SoftHSM2 (PKCS#11)" "$h1" "$(ratio "$h1" "$limit")" "$hn" "$(ratio "$hn" $((limit * cores)))"
