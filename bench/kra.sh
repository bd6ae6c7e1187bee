#!/bin/sh
# Key archival cost per issued certificate (issue 12), beside plain
# issuance, in one run:
#  1. batch (what a server pays): one `certmint submit` of B RSA-2048
#     requests to the smime profile (plain) against one `submit` of the same
#     B requests to smime-encrypt, each with its key enveloped to the
#     transport certificate (--archive-key per request). The transport key's
#     KDF is paid once per command (the handle keeps it open), as the CA
#     key's is. Per certificate, archival is: CMS decrypt with the transport
#     key, key match, AES-GCM seal, 2-of-3 Shamir split, 3 CMS envelopes to
#     the agents (RSA-2048), and the vault row.
#  2. single (the command line): N `submit` processes of one request each,
#     per side: each archival process also pays the transport key's
#     PBKDF2 (600,000 iterations), which dominates there.
# Wall time and CPU time (user + system, GNU time) of each command; under
# load the CPU times and their ratio are the figures that compare. Keys,
# CSRs and envelopes are made before the clock starts. Nothing is asserted.
#   sh bench/kra.sh              BENCH_B=200 (batch) BENCH_N=10 (single)
set -eu
cd "$(dirname "$0")/.."
B=${BENCH_B:-200}
N=${BENCH_N:-10}
BUILD=${BUILD:-build}
[ -x /usr/bin/time ] || { echo "kra bench: /usr/bin/time (GNU time) is needed" >&2; exit 1; }
[ -n "${CM:-}" ] || { make -s "$BUILD/certmint"; CM=./$BUILD/certmint; }
W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-kra.XXXXXX")
trap 'rm -rf "$W"' EXIT
printf 'bench-passphrase\n' >"$W/pass"
chmod 600 "$W/pass"
cm() { "$CM" --home "$W/ca" --passphrase-file "$W/pass" "$@"; }
# timed NAME cmd...: "wall user sys" of the command into $W/NAME.t
timed() {
    n=$1
    shift
    /usr/bin/time -f '%e %U %S' -o "$W/$n.t" "$CM" --home "$W/ca" --passphrase-file "$W/pass" "$@" >/dev/null
}
cm init --subject "/CN=Bench KRA CA" --key ec:p256 >/dev/null
cm kra transport-cert --init --out "$W/transport.pem" >/dev/null
for a in 1 2 3; do
    openssl req -new -x509 -newkey rsa:2048 -nodes -keyout "$W/a$a.key" -subj "/CN=agent $a" \
        -days 30 -out "$W/a$a.crt" 2>/dev/null
    cm kra add "$W/a$a.crt" >/dev/null
done
cm config set kra.threshold 2 >/dev/null
cm config set submit.workers 1 >/dev/null
M=$((B > N ? B : N))
i=0
while [ $i -lt "$M" ]; do
    i=$((i + 1))
    openssl req -new -newkey rsa:2048 -nodes -keyout "$W/k$i.key" -subj "/CN=u$i" \
        -addext "subjectAltName=email:u$i@example.org" -out "$W/r$i.csr" 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$W/k$i.key" -outform DER -out "$W/k$i.p8"
    openssl cms -encrypt -binary -aes-256-gcm -in "$W/k$i.p8" -outform DER -out "$W/k$i.p7m" \
        "$W/transport.pem" 2>/dev/null
done
# 1. batch
set --
i=0
while [ $i -lt "$B" ]; do i=$((i + 1)); set -- "$@" "$W/r$i.csr"; done
timed plain submit --profile smime "$@"
set --
i=0
while [ $i -lt "$B" ]; do i=$((i + 1)); set -- "$@" --archive-key "$W/k$i.p7m" "$W/r$i.csr"; done
timed archived submit --profile smime-encrypt "$@"
archived=$(cm audit 2>/dev/null | grep -c 'key-archive' || true)
# 2. single
i=0
: >"$W/sp.t.all"
: >"$W/sa.t.all"
while [ $i -lt "$N" ]; do
    i=$((i + 1))
    timed sp submit --profile smime "$W/r$i.csr"
    cat "$W/sp.t" >>"$W/sp.t.all"
    timed sa submit --profile smime-encrypt --archive-key "$W/k$i.p7m" "$W/r$i.csr"
    cat "$W/sa.t" >>"$W/sa.t.all"
done
printf 'load %s; %s archived keys in the vault\n' "$(cut -d' ' -f1-3 /proc/loadavg)" "$archived"
awk -v b="$B" -v n="$N" -v pf="$W/plain.t" -v af="$W/archived.t" -v spf="$W/sp.t.all" -v saf="$W/sa.t.all" '
function sum(f, what,   w, c, line, a) { w = 0; c = 0
    while ((getline line < f) > 0) { split(line, a, " "); w += a[1]; c += a[2] + a[3] }
    close(f); return what == "w" ? w : c }
BEGIN {
    pw = sum(pf, "w") / b * 1000; pc = sum(pf, "c") / b * 1000
    aw = sum(af, "w") / b * 1000; ac = sum(af, "c") / b * 1000
    printf "%-52s %9s %9s\n", "per certificate", "wall ms", "CPU ms"
    printf "%-52s %9.2f %9.2f\n", "batch of " b ": plain issuance (smime)", pw, pc
    printf "%-52s %9.2f %9.2f\n", "batch of " b ": issuance + archival (2 of 3)", aw, ac
    printf "%-52s %9.2f %9.2f\n", "batch: archival cost", aw - pw, ac - pc
    printf "%-52s %9.2f %9.2f\n", "batch: ratio archived / plain", aw / pw, ac / pc
    sw = sum(spf, "w") / n * 1000; sc = sum(spf, "c") / n * 1000
    kw = sum(saf, "w") / n * 1000; kc = sum(saf, "c") / n * 1000
    printf "%-52s %9.1f %9.1f\n", "single (" n " processes): plain issuance", sw, sc
    printf "%-52s %9.1f %9.1f\n", "single: issuance + archival", kw, kc
    printf "%-52s %9.2f %9.2f\n", "single: ratio archived / plain", kw / sw, kc / sc
}'
