#!/bin/sh
# SMTP exit module benchmark (issue 3), in one run against one private
# Postfix (scripts/mta.sh, on 127.0.0.1):
#   1. the MTA's own message rate, measured with Postfix's smtp-source (one
#      session over one connection, as certmint sends; and a new connection
#      per message), before and after certmint's runs; and the MTA's rate for
#      certmint's own mails (one event with its certificate attached, taken
#      from the Maildir) replayed by a minimal client (Python's smtplib, one
#      connection), over plain SMTP and over STARTTLS + AUTH PLAIN: Postfix
#      spends more per message on a MIME mail with attachments than on
#      smtp-source's plain text, whoever sends it;
#   2. certmint's issuance rate with no exit module (the reference);
#   3. certmint's delivery rate for a burst of N issued certificates, one
#      mail per event (exit.smtp.batch_max 1), over STARTTLS + AUTH PLAIN as
#      in production and over plain SMTP as smtp-source sends; target >= 0.9
#      of the MTA's rate;
#   4. the same burst with batching (exit.smtp.batch_max 100); target >=
#      5,000 events/s;
#   5. the issuance rate in strict audit mode with batching: `submit --out`
#      of N requests, every certificate released only after its event's
#      mail was accepted; next to `submit --out` without exit modules.
# The certificates of 3 and 4 are issued first with delivery deferred
# (exit.modules empty), then `certmint exit flush` is timed; the delivered
# events are counted in the Maildir to verify.
#   sh bench/smtp.sh [N]        (default N = 10000; needs root, Postfix)
# Results are printed; nothing is asserted (a benchmark is not a test).
set -eu
cd "$(dirname "$0")/.."
TOP=$(pwd)
N=${1:-10000}
CM=$TOP/build/certmint
PATH=/usr/sbin:/sbin:$PATH
[ -x "$CM" ] || make -s
if [ "$(id -u)" -ne 0 ] || ! command -v postfix >/dev/null 2>&1; then
    echo "smtp bench: needs root and Postfix (scripts/install-deps.sh); skipped"
    exit 0
fi
SRC=$(command -v smtp-source)
W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-smtp.XXXXXX")
chmod 711 "$W"
M="$W/mta"
trap 'sh "$TOP/scripts/mta.sh" stop "$M" >/dev/null 2>&1 || true; rm -rf "$W"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sh scripts/mta.sh start "$M" "$PORT" >/dev/null
cc -O2 -o "$W/gen_csrs" bench/gen_csrs.c -lcrypto
mkdir "$W/csrs"
"$W/gen_csrs" "$W/csrs" "$N"
printf 'bench-passphrase\n' >"$W/pass"
chmod 600 "$W/pass"

now() { date +%s.%N; }
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f", n / (b - a) }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# settle: until Postfix has delivered everything it accepted.
settle() {
    while [ "$(postqueue -c "$M/etc" -p 2>/dev/null | tail -n 1)" != "Mail queue is empty" ]; do
        sleep 0.2
    done
}
files() { find "$M/Maildir/new" -type f | wc -l; }
empty_maildir() { settle; find "$M/Maildir/new" "$M/Maildir/cur" -type f -delete; }
cm() { h=$1; shift; "$CM" --home "$h" --passphrase-file "$W/pass" "$@"; }

# new_ca NAME [key value]...: a CA home with the SMTP module configured
# (not enabled) and the given extra settings.
new_ca() {
    h="$W/$1"
    shift
    cm "$h" init --subject "/CN=Bench $(basename "$h")" >/dev/null
    set -- exit.smtp.server 127.0.0.1 exit.smtp.port "$PORT" exit.smtp.cafile "$M/tls/ca.pem" \
        exit.smtp.auth plain exit.smtp.username certmint exit.smtp.password_file "$M/smtp-password" \
        exit.smtp.from ca@example.org exit.smtp.to audit@example.org "$@"
    # The module is configured before it is enabled on purpose (delivery is
    # deferred until `exit flush` is timed): config set's "not enabled"
    # warning is expected here and dropped; a refused value still stops the
    # bench (set -e).
    while [ $# -ge 2 ]; do
        cm "$h" config set "$1" "$2" 2>"$W/config.err" || { cat "$W/config.err" >&2; exit 1; }
        shift 2
    done
}

# MTA rate: smtp-source, messages of the size of a one-event certmint mail
# with its certificate (about 3 KB).
mta_rate() { # extra smtp-source options -> msg/s
    m=3000
    settle
    t0=$(now)
    # shellcheck disable=SC2086
    "$SRC" -s 1 $1 -m $m -l 3000 -f bench@example.org -t sink@example.org "127.0.0.1:$PORT"
    t1=$(now)
    rate $m "$t0" "$t1"
}

# mta_rate_file FILE: smtp-source's rate (one session, one connection) for
# certmint's own mail in FILE, less the headers Postfix added on delivery:
# the MTA's own message rate for the messages certmint sends.
mta_rate_file() {
    m=3000
    awk 'BEGIN { hdr = 1 }
         hdr && /^$/ { hdr = 0 }
         hdr && /^[^ \t]/ { skip = tolower($0) ~ /^(return-path|x-original-to|delivered-to|received):/ }
         !hdr || !skip { print }' "$1" >"$1.clean"
    settle
    t0=$(now)
    "$SRC" -s 1 -d -m $m -F "$1.clean" -f ca@example.org -t audit@example.org "127.0.0.1:$PORT"
    t1=$(now)
    rate $m "$t0" "$t1"
}

# replay FILE TLS: the MTA's rate for the mail in FILE (as delivered, less
# the headers Postfix added), sent 3000 times over one connection by
# Python's smtplib; TLS 1 = STARTTLS + AUTH PLAIN as certmint. msg/s.
replay() {
    settle
    python3 - "$1" "$PORT" "$2" "$M/tls/ca.pem" "$M/smtp-password" <<'EOF'
import smtplib, ssl, sys, time
path, port, tls, cafile, pwfile = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4], sys.argv[5]
head, body = open(path, "rb").read().split(b"\n\n", 1)
lines, skip = [], False
for line in head.split(b"\n"):
    if line[:1] not in (b" ", b"\t"):
        skip = line.split(b":")[0].lower() in (b"return-path", b"x-original-to", b"delivered-to", b"received")
    if not skip:
        lines.append(line)
msg = b"\r\n".join(lines) + b"\r\n\r\n" + body.replace(b"\n", b"\r\n")
s = smtplib.SMTP("127.0.0.1", port)
if tls:
    s.starttls(context=ssl.create_default_context(cafile=cafile))
    s.login("certmint", open(pwfile).readline().strip())
n, t0 = 3000, time.time()
for _ in range(n):
    s.sendmail("ca@example.org", ["audit@example.org"], msg)
t1 = time.time()
s.quit()
print("%.0f" % (n / (t1 - t0)))
EOF
}

# issue NAME: submit the N requests (delivery deferred: exit.modules empty);
# prints certificates/s.
issue() {
    sync
    t0=$(now)
    cm "$W/$1" submit "$W"/csrs/*.csr >"$W/out"
    t1=$(now)
    [ "$(grep -c '	issued	' "$W/out")" -eq "$N" ] || { echo "issuance failed" >&2; exit 1; }
    rate "$N" "$t0" "$t1"
}

# flush NAME: enable smtp, time `exit flush`; prints events/s.
flush() {
    cm "$W/$1" config set exit.modules smtp
    empty_maildir
    sync
    t0=$(now)
    cm "$W/$1" exit flush >"$W/flush.out"
    t1=$(now)
    grep -q "^delivered $N event(s); 0 still queued" "$W/flush.out" ||
        { echo "flush: $(cat "$W/flush.out")" >&2; exit 1; }
    rate "$N" "$t0" "$t1"
}

echo "smtp bench: $N events, Postfix $(postconf -d -h mail_version 2>/dev/null) on 127.0.0.1, $(nproc) cores"
mta1_d=$(mta_rate -d)
mta1_c=$(mta_rate "")

new_ca plain
iss_plain=$(issue plain)

new_ca tls exit.smtp.batch_max 1
issue tls >/dev/null
del_tls=$(flush tls)
settle
got_tls=$(files)
sample="$W/sample.eml"
cp "$(find "$M/Maildir/new" -type f | head -n 1)" "$sample"
empty_maildir
mtaf1=$(mta_rate_file "$sample")
empty_maildir
rep1_clear=$(replay "$sample" 0)
rep1_tls=$(replay "$sample" 1)

new_ca clear exit.smtp.batch_max 1 exit.smtp.tls none exit.smtp.auth none
issue clear >/dev/null
del_clear=$(flush clear)
settle
got_clear=$(files)

rep2_clear=$(replay "$sample" 0)
rep2_tls=$(replay "$sample" 1)
mtaf2=$(mta_rate_file "$sample")
mtaf=$(((mtaf1 + mtaf2) / 2))
mta2_d=$(mta_rate -d)
mta2_c=$(mta_rate "")
mta_d=$(((mta1_d + mta2_d) / 2))
rep_clear=$(((rep1_clear + rep2_clear) / 2))
rep_tls=$(((rep1_tls + rep2_tls) / 2))

new_ca batch exit.smtp.batch_max 100
issue batch >/dev/null
del_batch=$(flush batch)
settle
mails_batch=$(files)
python3 tests/e2e/maildir.py scan "$M/Maildir" "$W/scan" >/dev/null
got_batch=$(cut -f2 "$W/scan/events.tsv" | sort -u | wc -l | tr -d ' ')
atts_batch=$(find "$W/scan/att" -type f | wc -l | tr -d ' ')

# The same `submit --out` without exit modules: the reference for strict mode
# (writing N certificate files, each fsynced, costs as much as issuing).
new_ca plainout
mkdir "$W/plain-out"
sync
t0=$(now)
cm "$W/plainout" submit --out "$W/plain-out" "$W"/csrs/*.csr >"$W/out"
t1=$(now)
iss_plainout=$(rate "$N" "$t0" "$t1")

# Strict audit mode: delivery enabled while issuing; `submit --out` writes a
# certificate only once its event's mail was accepted.
new_ca strict exit.smtp.batch_max 100 exit.modules smtp audit.require_offbox yes
empty_maildir
mkdir "$W/strict-out"
sync
t0=$(now)
cm "$W/strict" submit --out "$W/strict-out" "$W"/csrs/*.csr >"$W/out"
t1=$(now)
iss_strict=$(rate "$N" "$t0" "$t1")
released=$(find "$W/strict-out" -name '*.pem' | wc -l | tr -d ' ')
settle
mails_strict=$(files)

echo
echo "MTA, before / after certmint's runs (msg/s):"
echo "  smtp-source, 3000 x 3 KB text, one session, one connection (-d): $mta1_d / $mta2_d (mean $mta_d)"
echo "  smtp-source, 3000 x 3 KB text, a connection per message:         $mta1_c / $mta2_c"
echo "  smtp-source -F certmint's mail ($(wc -c <"$sample" | tr -d ' ') bytes), one connection:    $mtaf1 / $mtaf2 (mean $mtaf)"
echo "  certmint's mail replayed by smtplib, plain SMTP:               $rep1_clear / $rep2_clear (mean $rep_clear)"
echo "  certmint's mail replayed by smtplib, STARTTLS + AUTH PLAIN:      $rep1_tls / $rep2_tls (mean $rep_tls)"
echo
printf '%-58s %10s %8s %8s %8s %10s\n' "certmint" "rate" "/source" "/srcmail" "/replay" "verified"
printf '%-58s %10s %8s %8s %8s %10s\n' "issuance, no exit module (certificates/s)" "$iss_plain" "" "" "" ""
printf '%-58s %10s %8s %8s %8s %10s\n' "delivery, 1 mail/event, STARTTLS+AUTH (events/s)" "$del_tls" \
    "$(ratio "$del_tls" "$mta_d")x" "$(ratio "$del_tls" "$mtaf")x" "$(ratio "$del_tls" "$rep_tls")x" "$got_tls mails"
printf '%-58s %10s %8s %8s %8s %10s\n' "delivery, 1 mail/event, plain SMTP (events/s)" "$del_clear" \
    "$(ratio "$del_clear" "$mta_d")x" "$(ratio "$del_clear" "$mtaf")x" "$(ratio "$del_clear" "$rep_clear")x" "$got_clear mails"
printf '%-58s %10s %8s %8s %10s\n' "delivery, batch_max 100, STARTTLS+AUTH (events/s)" "$del_batch" \
    "$(ratio "$del_batch" 5000)x" "" "$got_batch events"
printf '%-58s %10s %8s %8s %10s\n' "issuance, no exit module, submit --out (certificates/s)" "$iss_plainout" "" "" ""
printf '%-58s %10s %8s %8s %10s\n' "issuance, strict mode, batch_max 100, submit --out (cert/s)" "$iss_strict" \
    "$(ratio "$iss_strict" "$iss_plainout")x" "" "$released out"
echo "  (/source: to smtp-source's one-connection rate for 3 KB of text; /srcmail: to smtp-source's"
echo "   rate for certmint's own mail over plain SMTP (target 0.9); /replay: to the MTA's rate for"
echo "   the same mails over the same protocol; batching: to 5,000 events/s (target 1.0); strict"
echo "   mode: to submit --out without exit modules)"
echo "  batching: $N events in $mails_batch mails, $atts_batch certificates attached; strict: $N released after $mails_strict mails"
