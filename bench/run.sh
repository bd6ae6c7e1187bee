#!/bin/sh
# The issue 10 benchmark (make bench): one run on this machine, one table,
# every figure next to the limit or the alternative it is compared with, so
# the ratios hold even where the machine is shared (the load average is
# printed at the start and the end: read the absolute figures with it).
#   sh bench/run.sh
#   BENCH_N=10000       requests per issuance run (prepared P-256 CSRs)
#   RECOVER_N=100000    mails for recover-orphans (and RECOVER_N/5, to show
#                       that memory stays flat); 0 skips recover-orphans
#   CM=path/certmint    times another build (e.g. an older commit's)
#   BENCH_REPEAT=3      headline runs (odd): openssl speed (all cores with
#                       -multi, then one core) then submit with
#                       one worker per core, alternately; the median ratio
#                       and its range are reported
# About 5 minutes on a quiet 2-core machine (most of it preparing the
# recover-orphans trail); under 2 minutes with RECOVER_N=0. The other
# benchmarks (CRL, SMTP, mail scanner) are bench/all.sh (make bench-all).
# Nothing is asserted.
set -eu
# CM given relative to the caller's folder, made absolute before the cd.
case "${CM:-}" in "" | /*) ;; *) CM="$PWD/$CM" ;; esac
cd "$(dirname "$0")/.."
N=${BENCH_N:-10000}
RN=${RECOVER_N:-100000}
REP=${BENCH_REPEAT:-3}
[ "$REP" -ge 1 ] 2>/dev/null || REP=1
BUILD=${BUILD:-build}
# Absolute: bench/recover.sh runs it from another folder (xargs in the
# trail's folder).
if [ -z "${CM:-}" ]; then
    make -s "$BUILD/certmint"
    case "$BUILD" in /*) CM=$BUILD/certmint ;; *) CM=$PWD/$BUILD/certmint ;; esac
fi
MODULE=${P11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
cores=$(nproc)
W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-run.XXXXXX")
SHM=""
trap 'rm -rf "$W" ${SHM:+"$SHM"}' EXIT
load() { cut -d' ' -f1-3 /proc/loadavg; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
secs() { date +%s.%N; }
# The CPU seconds (user + system) of this shell's finished children, from
# the second line of `times` written to file $1 by this shell itself (in a
# $(...) subshell its counters would start at zero).
child_cpu() {
    sed -n 2p "$1" | awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, p, "m"); s += p[1] * 60 + p[2] }; printf "%.3f", s }'
}
start_load=$(load)
t_begin=$(secs)

# --- the limit: one P-256 verify (the CSR) + one P-256 sign per certificate
# speed [N] -> "sign/s verify/s limit": one core, or with N all N cores at
# once (`openssl speed -multi N`: what they measurably do together, where
# the N-core limit assumes N times one core; bench/README.md, session 13).
speed() {
    openssl speed ${1:+-multi "$1"} -seconds 3 ecdsap256 2>/dev/null | awk '/nistp256/ {print $(NF-1), $NF}' |
        tail -n 1 | awk '{ printf "%s %s %.0f\n", $1, $2, 1 / (1 / $1 + 1 / $2) }'
}
f() { echo "$1" | cut -d' ' -f"$2"; }

# --- the batch
cc -O2 -o "$W/gen_csrs" bench/gen_csrs.c -lcrypto
cc -O2 -o "$W/fs_limit" bench/fs_limit.c
mkdir "$W/csrs"
"$W/gen_csrs" "$W/csrs" "$N"
printf 'bench-passphrase\n' >"$W/pass"
printf 'bench-pin\n' >"$W/pin"
chmod 600 "$W/pass" "$W/pin"

# issue NAME KEY WORKERS OUT(0|1) -> "certs/s writer-wall-us writer-cpu-us cpu-us-per-cert"
issue() {
    h="$W/ca-$1"
    "$CM" --home "$h" --passphrase-file "$W/pass" init --subject "/CN=Bench $1" --key "$2" >/dev/null
    "$CM" --home "$h" config set submit.workers "$3"
    o=""
    if [ "$4" = 1 ]; then
        mkdir "$W/out-$1"
        o="--out $W/out-$1"
    fi
    sync
    times >"$W/times0"
    a=$(secs)
    # shellcheck disable=SC2086
    "$CM" --home "$h" --passphrase-file "$W/pass" -vv submit --profile tls-server $o \
        "$W"/csrs/*.csr >"$W/submit.out" 2>"$W/submit.err"
    b=$(secs)
    times >"$W/times1"
    c0=$(child_cpu "$W/times0")
    c1=$(child_cpu "$W/times1")
    got=$(grep -c '	issued	' "$W/submit.out" || true)
    [ "$got" -eq "$N" ] || { echo "bench: $1: $got of $N issued" >&2; exit 1; }
    if [ "$4" = 1 ]; then
        got=$(find "$W/out-$1" -type f | wc -l)
        [ "$got" -eq "$N" ] || { echo "bench: $1: $got of $N files" >&2; exit 1; }
    fi
    wall=$(sed -n 's/.*the writer held \([0-9.]*\) us per request.*/\1/p' "$W/submit.err" | head -n 1)
    cpu=$(sed -n 's/.*writer CPU \([0-9.]*\) us per request.*/\1/p' "$W/submit.err" | head -n 1)
    # The --out folder stays until the caller's fs_limit after the run.
    rm -rf "$h"
    echo "$(rate "$N" "$a" "$b") ${wall:--} ${cpu:--} $(awk -v a="$c0" -v b="$c1" -v n="$N" 'BEGIN { printf "%.0f", (b - a) * 1e6 / n }')"
}

# --- the headline, robust to the machine's noise (+-15% between identical
# runs): REP times the limit (openssl speed) then submit with one worker per
# core, each rate against the limit measured just before it; the median run
# (by ratio) gives the table's limit and its figures, the others the range.
# Each run is also set against `openssl speed -multi` measured just before
# it (headline.multi: ratio, that limit, that limit / N x one core's, rate).
: >"$W/headline"
: >"$W/headline.multi"
i=0
while [ "$i" -lt "$REP" ]; do
    i=$((i + 1))
    limm=$(speed "$cores")
    lim=$(speed)
    run=$(issue "fn$i" ec:p256 "$cores" 0)
    echo "$(ratio "$(f "$run" 1)" $(($(f "$lim" 3) * cores))) $lim $run" >>"$W/headline"
    echo "$(ratio "$(f "$run" 1)" "$(f "$limm" 3)") $(f "$limm" 3) $(ratio "$(f "$limm" 3)" $(($(f "$lim" 3) * cores))) $(f "$run" 1)" >>"$W/headline.multi"
done
# rank FILE K: line K of FILE sorted by its first field (the ratio).
rank() { sort -n "$1" | sed -n "$2p"; }
mid_k=$(((REP + 1) / 2))
mm=$(rank "$W/headline.multi" "$mid_k")
mm_lo=$(rank "$W/headline.multi" 1 | cut -d' ' -f1)
mm_hi=$(rank "$W/headline.multi" "$REP" | cut -d' ' -f1)
mm_scal=$(awk '{ printf "%s%s", (NR > 1 ? ", " : ""), $3 }' "$W/headline.multi")
mid=$(rank "$W/headline" "$mid_k")
hl_lo=$(rank "$W/headline" 1 | cut -d' ' -f1)
hl_hi=$(rank "$W/headline" "$REP" | cut -d' ' -f1)
hl_runs=$(awk -v c="$cores" '{ printf "%s%s of %d/s", (NR > 1 ? ", " : ""), $1, $4 * c }' "$W/headline")
sign=$(f "$mid" 2)
verify=$(f "$mid" 3)
lim1=$(f "$mid" 4)
limn=$((lim1 * cores))
fn=$(echo "$mid" | cut -d' ' -f5-)

# --- the file system's limit for --out: bench/fs_limit creates N files the
# way src/util/fsutil.c's fs_group does (same calls, group size, one thread),
# in a new folder beside the --out folder, just before and just after each
# --out run (its files not yet deleted): on this ext4 the cost of creating a
# file depends on what was deleted in the last minutes and moves within
# seconds (bench/README.md, "The file system's limit"); the higher of the
# two is the limit.
grp=$(sed -n 's/^#define FS_GROUP_MAX \([0-9][0-9]*\).*/\1/p' src/util/fsutil.h)
fslimit() { # DIR -> files/s
    "$W/fs_limit" "$1" "$N" 800 "${grp:-256}" >"$W/fs_limit.txt" && cut -d' ' -f1 "$W/fs_limit.txt"
}
fstype=$(df -PT "$W" | awk 'NR == 2 { print $2 }')
f1=$(issue f1 ec:p256 1 0)
# around NAME WORKERS -> "certs/s ... (issue's figures) fs-before fs-after fs-max"
around() {
    fb=$(fslimit "$W/fsl-$1-before")
    r=$(issue "$1" ec:p256 "$2" 1)
    fa=$(fslimit "$W/fsl-$1-after")
    rm -rf "$W/fsl-$1-before" "$W/fsl-$1-after" "$W/out-$1"
    echo "$r $fb $fa $((fa > fb ? fa : fb))"
}
f1o=$(around f1o 1)
fno=$(around fno "$cores")
# The same on tmpfs, as a reference (no inode allocator search, no disk).
fsshm=""
if [ -d /dev/shm ] && SHM=$(mktemp -d /dev/shm/cm-bench-fsl.XXXXXX 2>/dev/null); then
    fsshm=$(fslimit "$SHM/d") || fsshm=""
    rm -rf "$SHM"
    SHM=""
fi

# --- SoftHSM2: the same key type in a token (PKCS#11), submit --out
h1o="" hno=""
if [ -r "$MODULE" ] && command -v softhsm2-util >/dev/null 2>&1; then
    mkdir "$W/tokens"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$W/tokens" >"$W/softhsm2.conf"
    SOFTHSM2_CONF="$W/softhsm2.conf"
    export SOFTHSM2_CONF
    softhsm2-util --init-token --free --label bench --pin bench-pin --so-pin bench-so >/dev/null
    uri() { echo "pkcs11:token=bench;object=$1?module-path=$MODULE&pin-source=file:$W/pin"; }
    h1o=$(issue h1o "$(uri k1)" 1 1)
    hno=$(issue hno "$(uri kn)" "$cores" 1)
    rm -rf "$W/out-h1o" "$W/out-hno"
fi

# --- openssl ca on the same batch: one process, every request given with
# -infiles, certificates written to new_certs_dir (not synced), index.txt
# written once at the end.
mkdir -p "$W/oca/certs" "$W/pem"
python3 - "$W/csrs" "$W/pem" <<'EOF'
import base64, os, sys
src, dst = sys.argv[1], sys.argv[2]
for name in sorted(os.listdir(src)):
    der = open(os.path.join(src, name), "rb").read()
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = "\n".join(b64[i:i + 64] for i in range(0, len(b64), 64))
    with open(os.path.join(dst, name + ".pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE REQUEST-----\n" + lines + "\n-----END CERTIFICATE REQUEST-----\n")
EOF
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=openssl ca bench" \
    -days 3650 -keyout "$W/oca/ca.key" -out "$W/oca/ca.crt" 2>/dev/null
: >"$W/oca/index.txt"
cat >"$W/oca/ca.cnf" <<EOF
[ca]
default_ca = bench
[bench]
dir = $W/oca
database = \$dir/index.txt
new_certs_dir = \$dir/certs
rand_serial = yes
private_key = \$dir/ca.key
certificate = \$dir/ca.crt
default_md = sha256
default_days = 365
policy = policy
unique_subject = no
copy_extensions = copy
x509_extensions = ext
[policy]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
sync
a=$(secs)
openssl ca -batch -notext -config "$W/oca/ca.cnf" -out /dev/null -infiles "$W"/pem/*.pem 2>"$W/oca.err" ||
    { tail -n 5 "$W/oca.err" >&2; exit 1; }
b=$(secs)
got=$(find "$W/oca/certs" -type f | wc -l)
[ "$got" -eq "$N" ] || { echo "bench: openssl ca wrote $got of $N certificates" >&2; exit 1; }
oca=$(rate "$N" "$a" "$b")

# --- recover-orphans (bench/recover.sh): messages/s and peak RSS
recover() { # N -> "msgs/s rss_MiB cpu_s"
    BUILD="$BUILD" CERTMINT="$CM" sh bench/recover.sh "$1" >"$W/recover-$1.txt" 2>&1 ||
        { tail -n 5 "$W/recover-$1.txt" >&2; exit 1; }
    sed -n 's/^first run: .*= \([0-9]*\) messages\/s, CPU \([0-9.]*\)s, peak RSS \([0-9]*\) MiB.*/\1 \3 \2/p' \
        "$W/recover-$1.txt"
}
r_big="" r_small=""
if [ "$RN" -gt 0 ]; then
    r_small=$(recover $((RN / 5)))
    r_big=$(recover "$RN")
fi

# --- the table
row() { printf '%-46s %10s %-9s %7s  %s\n' "$1" "$2" "$3" "$4" "$5"; }
echo "certmint benchmark ($CM): $N prepared P-256 requests, $cores cores, $(openssl version | cut -d' ' -f1-2)"
echo "load average at the start: $start_load; at the end: $(load); $(awk -v a="$t_begin" -v b="$(secs)" 'BEGIN { printf "%.0f", b - a }') s in all"
row "figure" "value" "unit" "ratio" "ratio to"
row "openssl speed P-256: sign / verify" "$sign/$verify" "op/s" "" ""
row "limit, one core (1 verify + 1 sign per cert)" "$lim1" "cert/s" "" ""
row "limit, $cores cores" "$limn" "cert/s" "" ""
row "submit FILE..., 1 worker" "$(f "$f1" 1)" "cert/s" "$(ratio "$(f "$f1" 1)" "$lim1")" "the one-core limit"
row "submit --out DIR, 1 worker" "$(f "$f1o" 1)" "cert/s" "$(ratio "$(f "$f1o" 1)" "$lim1")" "the one-core limit"
row "" "" "" "$(ratio "$(f "$f1o" 1)" "$(f "$f1" 1)")" "the same without --out"
row "" "" "" "$(ratio "$(f "$f1o" 1)" "$(f "$f1o" 7)")" "the file system's limit: fs_limit $(f "$f1o" 5) before, $(f "$f1o" 6) after (files/s)"
row "submit FILE..., $cores workers: median of $REP" "$(f "$fn" 1)" "cert/s" "$(f "$mid" 1)" "the $cores-core limit (measured before each run)"
row "  the $REP runs: range of the ratio" "$hl_lo-$hl_hi" "" "" "$hl_runs"
row "the same against -multi $cores: median of $REP" "$(f "$mm" 4)" "cert/s" "$(f "$mm" 1)" "openssl speed -multi $cores (measured before each run): $(f "$mm" 2)/s"
row "  the $REP runs: range of the ratio" "$mm_lo-$mm_hi" "" "" "-multi $cores's limit / $cores x one core's: $mm_scal"
row "submit --out DIR, $cores workers" "$(f "$fno" 1)" "cert/s" "$(ratio "$(f "$fno" 1)" "$limn")" "the $cores-core limit"
row "" "" "" "$(ratio "$(f "$fno" 1)" "$(f "$fn" 1)")" "the same without --out"
row "" "" "" "$(ratio "$(f "$fno" 1)" "$(f "$fno" 7)")" "the file system's limit: fs_limit $(f "$fno" 5) before, $(f "$fno" 6) after (files/s)"
if [ -n "$fsshm" ]; then
    row "file system's limit, tmpfs (/dev/shm)" "$fsshm" "files/s" "$(ratio "$fsshm" "$(f "$fno" 7)")" "$fstype, the limit of the $cores-worker --out run"
fi
row "openssl ca -infiles (same batch, one process)" "$oca" "cert/s" "$(ratio "$oca" "$lim1")" "the one-core limit"
row "submit --out DIR, 1 worker / openssl ca" "" "" "$(ratio "$(f "$f1o" 1)" "$oca")" "openssl ca"
# What the crypto alone costs per certificate (one sign, one verify).
crypto_us=$(awk -v l="$lim1" 'BEGIN { printf "%.0f", 1e6 / l }')
row "CPU per certificate, 1 worker (whole command)" "$(f "$f1" 4)" "us" "$(ratio "$crypto_us" "$(f "$f1" 4)")" "$crypto_us us of sign + verify in it"
row "CPU per certificate, $cores workers" "$(f "$fn" 4)" "us" "$(ratio "$crypto_us" "$(f "$fn" 4)")" "$crypto_us us of sign + verify in it"
row "writer per certificate, 1 worker, wall" "$(f "$f1" 2)" "us" "$(ratio "$(f "$f1" 2)" 10)" "the target of 10 us"
row "writer per certificate, 1 worker, CPU" "$(f "$f1" 3)" "us" "$(ratio "$(f "$f1" 3)" 10)" "the target of 10 us"
row "writer per certificate, $cores workers, wall/CPU" "$(f "$fn" 2)/$(f "$fn" 3)" "us" "" ""
if [ -n "$h1o" ]; then
    row "SoftHSM2 key, submit --out DIR, 1 worker" "$(f "$h1o" 1)" "cert/s" "$(ratio "$(f "$h1o" 1)" "$(f "$f1o" 1)")" "the file key"
    row "SoftHSM2 key, submit --out DIR, $cores workers" "$(f "$hno" 1)" "cert/s" "$(ratio "$(f "$hno" 1)" "$(f "$fno" 1)")" "the file key"
else
    row "SoftHSM2 key" "-" "" "" "($MODULE or softhsm2-util missing)"
fi
if [ -n "$r_big" ]; then
    row "recover-orphans, $((RN / 5)) mails" "$(f "$r_small" 1)" "msg/s" "$(ratio "$(f "$r_small" 1)" 5000)" "the target of 5,000/s"
    row "recover-orphans, $RN mails" "$(f "$r_big" 1)" "msg/s" "$(ratio "$(f "$r_big" 1)" 5000)" "the target of 5,000/s"
    row "recover-orphans, CPU for $RN mails" "$(f "$r_big" 3)" "s" "" ""
    row "recover-orphans peak RSS, $((RN / 5)) / $RN mails" "$(f "$r_small" 2)/$(f "$r_big" 2)" "MiB" "$(ratio "$(f "$r_big" 2)" "$(f "$r_small" 2)")" "$((RN / 5)) mails (flat: about 1)"
fi
