#!/bin/sh
# Benchmark of certmint recover-orphans: a real CA is backed up, then issues
# N certificates (default 100,000; `certmint submit` of CSRs made by
# bench/gen_csrs.c), revokes 1% of them and publishes a CRL. Its outbox is
# written as an mbox of notification mails (bench/recover_mails.c: one mail
# per event, laid out per docs/mail-format.md by tests/unit/mailgen.h, each
# CERTISSUED mail carrying the certificate the CA really signed). The home
# is destroyed and restored from the backup, so every certificate is an
# orphan, and `certmint recover-orphans --mbox` is timed: messages/s and peak
# RSS (/usr/bin/time -f %M), then the second (no-op) run. Finally the
# recovered database is compared with the lost one.
#   sh bench/recover.sh [N]
# BENCH_DIR=DIR keeps the prepared CA, backup and mbox in DIR (made on the
# first use, reused after), so that builds can be compared on the same trail.
# The mails are written by the generator, not sent through the SMTP exit
# module and an MTA: 100,000 mails through Postfix would take the MTA's own
# rate (see bench/smtp.sh, tests/e2e/smtp_transport.sh) and prove nothing
# more about recovery; tests/e2e/disaster.sh does that path end to end.
set -eu
cd "$(dirname "$0")/.."
N=${1:-100000}
BUILD=${BUILD:-build}
make -s "$BUILD/certmint"
case "$BUILD" in /*) CM="$BUILD/certmint" ;; *) CM="$PWD/$BUILD/certmint" ;; esac
# CERTMINT=PATH times another binary (an older build) on the same trail.
CM=${CERTMINT:-$CM}
# RECOVER_ARGS adds options to both recover-orphans runs (--workers N).
# BASELINE=PATH also times PATH's first run on the same trail, just before,
# and prints the ratios. RATIO=1 also times a first run with --workers 1,
# just after, and prints the ratio of the two (on a shared machine, the
# ratio within one run is the figure that compares).
RA=${RECOVER_ARGS:-}
make -s "$BUILD/bench/recover_mails" >/dev/null
[ -x /usr/bin/time ] || { echo "recover bench: /usr/bin/time (GNU time) is needed" >&2; exit 1; }
if [ -n "${BENCH_DIR:-}" ]; then
    W=$BENCH_DIR
    mkdir -p "$W"
else
    W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-recover.XXXXXX")
    trap 'rm -rf "$W"' EXIT
fi
printf 'bench-passphrase\n' >"$W/pass"
chmod 600 "$W/pass"
cm() { "$CM" --home "$W/ca" --passphrase-file "$W/pass" "$@"; }
secs() { date +%s.%N; }
cpu() { awk -v u="$1" -v s="$2" 'BEGIN { printf "%.1f", u + s }'; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }

prepare() {
    cc -O2 -o "$W/gen_csrs" bench/gen_csrs.c -lcrypto
    mkdir "$W/csrs"
    "$W/gen_csrs" "$W/csrs" "$N"
    cm init --subject "/CN=Bench Recover CA/O=certmint bench" --key ec:p256 >/dev/null
    cm crl >/dev/null
    cm backup "$W/bk" >/dev/null

    # Issue N after the backup (in chunks: the argument list has a limit).
    t0=$(secs)
    (cd "$W/csrs" && ls | xargs -n 20000 "$CM" --home "$W/ca" --passphrase-file "$W/pass" submit --profile tls-server) >"$W/submit.out"
    t1=$(secs)
    issued=$(cm view --restrict "Disposition=issued" --out SerialNumber --format csv | tail -n +2 | wc -l)
    [ "$issued" -eq "$N" ] || { echo "only $issued of $N issued" >&2; exit 1; }
    cm view --out SerialNumber --format csv | tail -n +2 | tr -d '\r' | awk -v n="$N" 'NR % 100 == 50' >"$W/revoke.list"
    cm revoke --from-file "$W/revoke.list" keyCompromise >/dev/null
    cm crl >/dev/null
    nrev=$(wc -l <"$W/revoke.list")
    cm view --out RequestID,SerialNumber,RevokedReason,RawCertificate --format csv >"$W/view-lost.csv"

    t2=$(secs)
    mails=$("$BUILD/bench/recover_mails" "$W/ca" "$W/trail.mbox" | cut -d' ' -f1)
    t3=$(secs)
    echo "$mails $(rate "$mails" "$t2" "$t3") $(rate "$N" "$t0" "$t1") $nrev" >"$W/prepared"
}
if [ ! -f "$W/prepared" ]; then
    rm -rf "$W/ca" "$W/bk" "$W/csrs"
    prepare
fi
read -r mails mailrate issrate nrev <"$W/prepared"
size=$(du -m "$W/trail.mbox" | cut -f1)

if [ -n "${BASELINE:-}" ]; then
    rm -rf "$W/ca"
    cm restore "$W/bk" >/dev/null
    /usr/bin/time -f '%e %M %U %S' -o "$W/time0" "$BASELINE" --home "$W/ca" \
        --passphrase-file "$W/pass" recover-orphans --mbox "$W/trail.mbox" --format json >"$W/r0.json"
fi
rm -rf "$W/ca"
cm restore "$W/bk" >/dev/null
# -v: where the time goes (the CA key, reading the trail, applying it; the
# CPU of the whole process and of the writer thread).
/usr/bin/time -f '%e %M %U %S' -o "$W/time1" "$CM" -v --home "$W/ca" --passphrase-file "$W/pass" \
    recover-orphans --mbox "$W/trail.mbox" --format json $RA >"$W/r1.json" 2>"$W/r1.err"
/usr/bin/time -f '%e %M %U %S' -o "$W/time2" "$CM" --home "$W/ca" --passphrase-file "$W/pass" \
    recover-orphans --mbox "$W/trail.mbox" --format json $RA >"$W/r2.json"
cm view --out RequestID,SerialNumber,RevokedReason,RawCertificate --format csv >"$W/view-back.csv"
same=no
cmp -s "$W/view-lost.csv" "$W/view-back.csv" && same=yes
if [ "${RATIO:-0}" = 1 ]; then
    rm -rf "$W/ca"
    cm restore "$W/bk" >/dev/null
    /usr/bin/time -f '%e %M %U %S' -o "$W/time3" "$CM" --home "$W/ca" --passphrase-file "$W/pass" \
        recover-orphans --mbox "$W/trail.mbox" --format json --workers 1 >"$W/r3.json"
fi

field() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }
read -r e1 rss1 u1 s1 <"$W/time1"
read -r e2 rss2 u2 s2 <"$W/time2"
echo "recover-orphans benchmark: $N certificates issued after the backup, $nrev revoked, $(nproc) cores"
echo "issuance: $issrate certificates/s; mail generation: $mails mails, $size MiB mbox, $mailrate mails/s"
echo "first run:  $(field "$W/r1.json" messages) messages in ${e1}s = $(rate "$mails" 0 "$e1") messages/s, CPU $(cpu "$u1" "$s1")s, peak RSS $((rss1 / 1024)) MiB;" \
    "imported $(field "$W/r1.json" imported), revocations $(field "$W/r1.json" revocations_applied), CRL $(field "$W/r1.json" crl_number)"
echo "second run: ${e2}s = $(rate "$mails" 0 "$e2") messages/s, CPU $(cpu "$u2" "$s2")s, peak RSS $((rss2 / 1024)) MiB;" \
    "imported $(field "$W/r2.json" imported), already known $(field "$W/r2.json" already_known)"
echo "recovered database identical to the lost one (RequestID, serial, reason, certificate): $same"
sed -n 's/.*recover-orphans: /first run, /p' "$W/r1.err"
if [ "${RATIO:-0}" = 1 ]; then
    read -r e3 rss3 u3 s3 <"$W/time3"
    echo "first run with --workers 1: ${e3}s = $(rate "$mails" 0 "$e3") messages/s, CPU $(cpu "$u3" "$s3")s, peak RSS $((rss3 / 1024)) MiB"
    echo "default workers ($(nproc)) / --workers 1: messages/s $(awk -v a="$e3" -v b="$e1" 'BEGIN { printf "%.2f", a / b }')," \
        "CPU $(awk -v a="$u3" -v b="$s3" -v c="$u1" -v d="$s1" 'BEGIN { printf "%.2f", (c + d) / (a + b) }')"
fi
# The issue's target: 5,000 messages/s for the first run at 100,000 mails.
echo "first run against the target of 5,000 messages/s: $(awk -v m="$mails" -v e="$e1" 'BEGIN { printf "%.2f", m / e / 5000 }')"
if [ -n "${BASELINE:-}" ]; then
    read -r e0 rss0 u0 s0 <"$W/time0"
    echo "baseline first run: ${e0}s = $(rate "$mails" 0 "$e0") messages/s, CPU $(cpu "$u0" "$s0")s, peak RSS $((rss0 / 1024)) MiB"
    echo "ratios, this build / baseline: messages/s $(awk -v a="$e0" -v b="$e1" 'BEGIN { printf "%.2f", a / b }')," \
        "CPU $(awk -v a="$u0" -v b="$s0" -v c="$u1" -v d="$s1" 'BEGIN { printf "%.2f", (c + d) / (a + b) }')"
fi
