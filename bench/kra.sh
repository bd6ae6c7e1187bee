#!/bin/sh
# Key archival cost per issued certificate (issue 12): N single submissions
# of RSA-2048 requests to the smime profile (plain issuance) beside N to
# smime-encrypt with the key enveloped to the transport certificate
# (archival: transport key loaded, CMS decrypt, key match, AES-GCM seal,
# 2-of-3 Shamir split, 3 CMS envelopes to the agents), each one
# `certmint submit` process, and the ratio. Keys, CSRs and envelopes are
# made before the clock starts.
#   sh bench/kra.sh            BENCH_N=20 requests per side
# Nothing is asserted. Per process, both sides pay the CA key's PBKDF2
# (600,000 iterations); the archival side pays it once more for the
# transport key (same passphrase, same KDF), which dominates on the command
# line: a server keeps both keys open.
set -eu
cd "$(dirname "$0")/.."
N=${BENCH_N:-20}
BUILD=${BUILD:-build}
[ -n "${CM:-}" ] || { make -s "$BUILD/certmint"; CM=./$BUILD/certmint; }
W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-kra.XXXXXX")
trap 'rm -rf "$W"' EXIT
printf 'bench-passphrase\n' >"$W/pass"
chmod 600 "$W/pass"
cm() { "$CM" --home "$W/ca" --passphrase-file "$W/pass" "$@"; }
secs() { date +%s.%N; }
cm init --subject "/CN=Bench KRA CA" --key ec:p256 >/dev/null
cm kra transport-cert --init --out "$W/transport.pem" >/dev/null
for a in 1 2 3; do
    openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$W/a$a.key" -subj "/CN=agent $a" \
        -days 30 -out "$W/a$a.crt" 2>/dev/null
    cm kra add "$W/a$a.crt" >/dev/null
done
cm config set kra.threshold 2 >/dev/null
i=0
while [ $i -lt "$N" ]; do
    i=$((i + 1))
    openssl req -new -newkey rsa:2048 -nodes -keyout "$W/k$i.key" -subj "/CN=u$i" \
        -addext "subjectAltName=email:u$i@example.org" -out "$W/r$i.csr" 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$W/k$i.key" -outform DER -out "$W/k$i.p8"
    openssl cms -encrypt -binary -aes-256-gcm -in "$W/k$i.p8" -outform DER -out "$W/k$i.p7m" \
        "$W/transport.pem" 2>/dev/null
done
t0=$(secs)
i=0
while [ $i -lt "$N" ]; do i=$((i + 1)); cm submit --profile smime "$W/r$i.csr" >/dev/null; done
t1=$(secs)
i=0
while [ $i -lt "$N" ]; do
    i=$((i + 1))
    cm submit --profile smime-encrypt --archive-key "$W/k$i.p7m" "$W/r$i.csr" >/dev/null
done
t2=$(secs)
awk -v n="$N" -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN {
    p = (b - a) / n * 1000; k = (c - b) / n * 1000
    printf "load %s\n", "'"$(cut -d' ' -f1-3 /proc/loadavg)"'"
    printf "%-44s %8.1f ms\n", "plain issuance (submit, smime)", p
    printf "%-44s %8.1f ms\n", "issuance + archival (smime-encrypt, 2 of 3)", k
    printf "%-44s %8.1f ms\n", "archival cost per certificate", k - p
    printf "%-44s %8.2f\n", "ratio archived / plain", k / p
}'
