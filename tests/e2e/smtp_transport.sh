#!/bin/sh
# The SMTP exit module's transport against a real mail server: a private
# Postfix (with Dovecot SASL) from scripts/mta.sh on 127.0.0.1, driven by
# tests/tools/smtp_send (the MIME builder + smtp_client). Checks what landed
# in the Maildir with Python's email package and openssl, and what the
# server logged (STARTTLS, AUTH, one connection per burst); then the
# failures: wrong password, wrong CA, 4xx and 5xx replies, a server that
# closes the idle connection, a stopped server, a server that never answers,
# a server without AUTH or STARTTLS (Postfix's smtp-sink). Also measures the
# MTA's own acceptance rate with smtp-source, for the benchmark.
. "$(dirname "$0")/lib.sh"

SEND="$BUILD/tools/smtp_send"
MTA="$TOP/scripts/mta.sh"
if [ ! -x "$SEND" ]; then
    fail "driver $SEND not built (make tools)"
    done_testing
fi
if [ "$(id -u)" -ne 0 ]; then
    fail "a private Postfix instance needs root"
    done_testing
fi

# virtual(8) delivers as nobody, who must reach $T/mta (see scripts/mta.sh).
chmod 711 "$T"
M="$T/mta"
PORT=$(free_port)
TLSPORT=$(free_port)
while [ "$TLSPORT" = "$PORT" ]; do TLSPORT=$(free_port); done
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
if ! sh "$MTA" start "$M" "$PORT" "$TLSPORT" >"$T/mta.out" 2>&1; then
    fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"
    done_testing
fi
ok "private Postfix + Dovecot auth started on 127.0.0.1:$PORT and :$TLSPORT"

# wait_port PORT: until something listens on 127.0.0.1:PORT (5 s at most).
wait_port() {
    python3 - "$1" <<'EOF'
import socket, sys, time
for _ in range(50):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# field NAME: a field of the last result= line of $T/send.out.
field() {
    grep '^result=' "$T/send.out" | tail -n 1 | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}
result() { field result; }
connects() { grep -c ' connect from ' "$M/maillog"; }
count() { sh "$MTA" count "$M"; }
send() { "$SEND" --server 127.0.0.1 --from ca@example.org --to admin@example.org "$@" >"$T/send.out" 2>&1; }
AUTH="--port $PORT --tls starttls --auth plain --user certmint --password-file $M/smtp-password --cafile $M/tls/ca.pem"

# A certificate to attach, and a second CA the server's cert is not from.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/cert.key" \
    -utf8 -subj "$(printf '/CN=J\303\274rgen M\303\274ller/O=certmint tests')" -days 2 \
    -outform DER -out "$T/cert.der" 2>"$T/openssl.err"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/other.key" \
    -subj "/CN=Some other CA" -days 2 -out "$T/other-ca.pem" 2>/dev/null

# --- delivery, STARTTLS, AUTH -------------------------------------------------
SUBJ=$(printf 'Zertifikat f\303\274r J\303\274rgen \342\200\224 \350\257\201\344\271\246')
c0=$(connects)
# shellcheck disable=SC2086
send $AUTH --count 5 --subject "$SUBJ" --attach "$T/cert.der"
check_eq "5 messages over STARTTLS + AUTH PLAIN" "$(result) $(field sent)" "OK 5"
check_eq "the burst used one connection (client)" "$(field connects)" "1"
check_eq "the burst used one connection (server log)" "$(($(connects) - c0))" "1"
check_match "Postfix log: 5 messages in that session" \
    "$(grep 'disconnect from' "$M/maillog" | tail -n 1)" "mail=5 rcpt=5 data=5"
check_match "server's queue ID reported" "$(grep '^sent 5:' "$T/send.out")" "^sent 5: 250 .*queued as [0-9A-F]+"
check_eq "5 messages delivered into the Maildir" "$(sh "$MTA" wait "$M" 5 30 2>&1)" "5"
check_match "Postfix log: STARTTLS used" "$(grep -c 'TLS connection established from localhost' "$M/maillog")" "^[1-9]"
check_match "Postfix log: AUTH PLAIN used" "$(grep -c 'sasl_method=PLAIN, sasl_username=certmint' "$M/maillog")" "^[1-9]"

# Read the mails back with Python's email package (an independent parser):
# subject decoded from RFC 2047, the text part, the events part, the
# attachment (saved for openssl).
mkdir -p "$T/att"
python3 - "$M/Maildir" "$T/att" >"$T/mails.txt" 2>&1 <<'EOF'
import email, email.policy, os, sys
maildir, attdir = sys.argv[1], sys.argv[2]
files = []
for sub in ("new", "cur"):
    d = os.path.join(maildir, sub)
    files += [os.path.join(d, f) for f in sorted(os.listdir(d))]
for path in files:
    raw = open(path, "rb").read()
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    defects = list(msg.defects)
    parts = list(msg.walk())
    for p in parts:
        defects += list(p.defects)
    n = msg["X-Certmint-Event-ID"]
    text = events = None
    atts = 0
    for p in msg.iter_parts():
        ct = p.get_content_type()
        if ct == "text/plain":
            text = p.get_content()
        elif ct == "text/x-certmint-events":
            events = p.get_content()
        elif ct == "application/pkix-cert":
            atts += 1
            open(os.path.join(attdir, "%s.der" % n), "wb").write(p.get_payload(decode=True))
    print("msg id=%s subject=%s event=%s from=%s to=%s multipart=%s atts=%d defects=%d "
          "text_ok=%s events_ok=%s msgid=%s" % (
        n, msg["Subject"].replace(" ", "_"), msg["X-Certmint-Event"], msg["From"].addresses[0].addr_spec,
        msg["To"].addresses[0].addr_spec, msg.is_multipart(), atts, len(defects),
        text is not None and "J\u00fcrgen" in text,
        events is not None and ("X-Certmint-Event-ID: %s" % n) in events,
        msg["Message-ID"]))
EOF
want_subj=$(printf '%s' "$SUBJ" | tr ' ' '_')
nmsg=$(grep -c '^msg ' "$T/mails.txt")
check_eq "Python email parses 5 messages" "$nmsg" "5"
bad=$(grep '^msg ' "$T/mails.txt" | grep -v "defects=0 text_ok=True events_ok=True" | head -n 1)
check_eq "no MIME defects; text and events parts as sent" "$bad" ""
check_eq "RFC 2047 subject decodes to the UTF-8 sent" \
    "$(grep -c "subject=${want_subj}_#[1-5] " "$T/mails.txt")" "5"
check_eq "every mail has one application/pkix-cert attachment" \
    "$(grep -c ' atts=1 ' "$T/mails.txt")" "5"
check_match "headers: From, To, X-Certmint-Event, Message-ID" "$(grep '^msg id=3 ' "$T/mails.txt")" \
    "event=CERTISSUED from=ca@example.org to=admin@example.org .*msgid=<certmint-test\\.[0-9]+\\.3@localhost>"
check "attachment parses with openssl x509 -inform DER" openssl x509 -inform DER -in "$T/att/3.der" -noout -subject
check "attachment is the certificate sent, byte for byte" cmp "$T/att/3.der" "$T/cert.der"

# --- connection reuse, other mechanisms, implicit TLS -------------------------
c0=$(connects)
# shellcheck disable=SC2086
send $AUTH --count 50 --quiet
check_eq "50 messages over one connection" "$(result) $(field sent) $(field connects) $(($(connects) - c0))" "OK 50 1 1"
c0=$(connects)
# shellcheck disable=SC2086
send $AUTH --count 5 --fresh --quiet
check_eq "--fresh: one connection per message" "$(result) $(field connects) $(($(connects) - c0))" "OK 5 5"
send --port "$PORT" --tls starttls --auth login --user certmint --password-file "$M/smtp-password" --cafile "$M/tls/ca.pem"
check_eq "AUTH LOGIN accepted" "$(result)" "OK"
check_match "Postfix log: AUTH LOGIN used" "$(grep -c 'sasl_method=LOGIN' "$M/maillog")" "^[1-9]"
send --port "$TLSPORT" --tls tls --auth 1 --user certmint --password-file "$M/smtp-password" --cafile "$M/tls/ca.pem"
check_eq "implicit TLS (smtps) with AD CS auth alias 1 (basic)" "$(result)" "OK"
send --port "$PORT" --tls none --auth none
check_eq "plain SMTP without AUTH (mynetworks) accepted" "$(result)" "OK"
check_eq "all 63 messages delivered" "$(sh "$MTA" wait "$M" 63 30 2>&1)" "63"

# --- refusals -----------------------------------------------------------------
before=$(count)
printf 'not-the-password\n' >"$T/wrong-pw"
chmod 600 "$T/wrong-pw"
send --port "$PORT" --tls starttls --auth plain --user certmint --password-file "$T/wrong-pw" --cafile "$M/tls/ca.pem"
check_eq "wrong password: AUTH error, permanent" "$(result) $(field permanent)" "AUTH 1"
check_match "wrong password: server's 535 quoted" "$(cat "$T/send.out")" "535 5\\.7\\.8"
check_fails "the password never appears in the output" grep -q "$(cat "$M/smtp-password")" "$T/send.out"
chmod 644 "$T/wrong-pw"
send --port "$PORT" --tls starttls --auth plain --user certmint --password-file "$T/wrong-pw" --cafile "$M/tls/ca.pem"
check_eq "world-readable password file refused" "$(result)" "CONFIG"
send --port "$PORT" --tls starttls --auth plain --user certmint --password-file "$M/smtp-password" --cafile "$T/other-ca.pem"
check_eq "server certificate from another CA: CRYPTO error, permanent" "$(result) $(field permanent)" "CRYPTO 1"
send --port "$PORT" --tls starttls --auth ntlm --user certmint --password-file "$M/smtp-password" --cafile "$M/tls/ca.pem"
check_match "NTLM not offered: AUTH error naming what is offered" "$(result) $(cat "$T/send.out")" "^AUTH .*offers: PLAIN LOGIN"
send --port "$PORT" --tls none --auth plain --user certmint --password-file "$M/smtp-password"
check_eq "password without TLS refused before connecting" "$(result) $(field connects)" "CONFIG 0"
send --port "$PORT" --tls starttls --auth none --cafile "$M/tls/ca.pem" --to 'x@example.org>
RCPT TO:<y@example.org'
check_eq "recipient with CR/LF refused (no SMTP command injection)" "$(result)" "INVALID"

sh "$MTA" mode "$M" tempfail
# shellcheck disable=SC2086
send $AUTH
check_eq "tempfail mode: NET error, temporary" "$(result) $(field permanent)" "NET 0"
check_match "tempfail mode: server's 451 quoted" "$(cat "$T/send.out")" "451 4\\.3\\.0"
sh "$MTA" mode "$M" permfail
# shellcheck disable=SC2086
send $AUTH
check_eq "permfail mode: NET error, permanent" "$(result) $(field permanent)" "NET 1"
check_match "permfail mode: server's 550 quoted" "$(cat "$T/send.out")" "550 5\\.7\\.1"
sh "$MTA" mode "$M" normal
# shellcheck disable=SC2086
send $AUTH
check_eq "normal mode again: accepted" "$(result)" "OK"
check_eq "nothing delivered for the refused messages" "$(sh "$MTA" wait "$M" $((before + 1)) 30 2>&1)" "$((before + 1))"

# A client holding its connection open across the switch gets the new mode
# (the client pauses 8 s: under load the reload and smtpd restart take seconds).
# shellcheck disable=SC2086
"$SEND" --server 127.0.0.1 --from ca@example.org --to admin@example.org $AUTH \
    --count 3 --pause-after 1 --pause-ms 8000 --quiet >"$T/send.out" 2>&1 &
sender=$!
i=0
while ! grep -q '^paused' "$T/send.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
sh "$MTA" mode "$M" tempfail
wait "$sender"
check_eq "mode switch reaches a client holding its connection: 1 sent, then refused" \
    "$(result) $(field sent) $(field permanent)" "NET 1 0"
check_match "... with the new mode's 451" "$(grep '^result=' "$T/send.out")" "451 4\.3\.0"
sh "$MTA" mode "$M" normal
check_eq "that one message delivered" "$(sh "$MTA" wait "$M" $((before + 2)) 30 2>&1)" "$((before + 2))"

# --- the server closes an idle connection: the client reconnects --------------
# mta.sh mode closes the connections held by the old configuration's smtpd.
# shellcheck disable=SC2086
"$SEND" --server 127.0.0.1 --from ca@example.org --to admin@example.org $AUTH \
    --count 4 --pause-after 2 --pause-ms 3000 --quiet >"$T/send.out" 2>&1 &
sender=$!
i=0
while ! grep -q '^paused' "$T/send.out" && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
c0=$(grep -c 'killed by signal' "$M/maillog")
sh "$MTA" mode "$M" normal
# Postfix's master logs the smtpd it killed when it reaps it: poll (up to
# 10 s; under ASan and load the log line can come a few seconds later).
i=0
while [ "$(($(grep -c 'killed by signal' "$M/maillog") - c0))" -lt 1 ] && [ $i -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
check_eq "the server side of the idle connection was closed" "$(($(grep -c 'killed by signal' "$M/maillog") - c0))" "1"
wait "$sender"
check_eq "server closed the idle connection: all 4 sent on 2 connections" \
    "$(result) $(field sent) $(field connects)" "OK 4 2"

# --- the MTA's own rate (for the benchmark) ----------------------------------
before=$(count)
# smtp-source: 1 KiB messages, no TLS; -d keeps one connection per session.
srcrate() {
    t0=$(now_ms)
    smtp-source "$@" -m 500 -l 1024 -f bench@example.org -t sink@example.org "127.0.0.1:$PORT" \
        >/dev/null 2>&1 || fail "smtp-source $*"
    echo $((500000 / ($(now_ms) - t0 + 1)))
}
r1=$(srcrate -s 1)
r2=$(srcrate -s 1 -d)
r3=$(srcrate -s 8 -d)
# shellcheck disable=SC2086
send $AUTH --count 500 --quiet
rate=$(field rate)
check_eq "benchmark: 2000 messages delivered" "$(sh "$MTA" wait "$M" $((before + 2000)) 120 2>&1)" "$((before + 2000))"
echo "# MTA rate (smtp-source, 500 x 1 KiB): 1 session, new connection per message: $r1 msg/s;" \
    "1 session, one connection: $r2 msg/s; 8 sessions: $r3 msg/s"
echo "# smtp_client rate, one STARTTLS+AUTH connection, 500 messages: $rate msg/s"
ok "measured the MTA's message rate with $(command -v smtp-source)"

# --- stopped server, a server that never answers -----------------------------
master=$(cat "$M/postfix.pid")
sh "$MTA" stop "$M"
check_fails "mta.sh stop: Postfix master gone" kill -0 "$master"
check "mta.sh stop again is harmless" sh "$MTA" stop "$M"
t0=$(now_ms)
# shellcheck disable=SC2086
send $AUTH --timeout-ms 5000
el=$(($(now_ms) - t0))
check_eq "stopped server: NET error, temporary" "$(result) $(field permanent)" "NET 0"
check_match "stopped server: fails fast (${el} ms)" "$el" "^[0-9]{1,3}$"

BH=$(free_port)
python3 "$TOP/scripts/blackhole-smtp.py" "$BH" "$T/blackhole.pid" 2>"$T/blackhole.err" &
at_exit "[ -s '$T/blackhole.pid' ] && kill \$(cat '$T/blackhole.pid') 2>/dev/null"
i=0
while [ ! -s "$T/blackhole.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
for mode in starttls tls; do
    t0=$(now_ms)
    send --port "$BH" --tls "$mode" --cafile "$M/tls/ca.pem" --timeout-ms 1500
    el=$(($(now_ms) - t0))
    check_eq "never-answering server ($mode): TIMEOUT, temporary" "$(result) $(field permanent)" "TIMEOUT 0"
    if [ "$el" -ge 1400 ] && [ "$el" -le 4000 ]; then ok "never-answering server ($mode): gave up after $el ms (timeout 1500)"; else
        fail "never-answering server ($mode): gave up after $el ms, expected about 1500"; fi
done

# Postfix's smtp-sink: a real SMTP server without STARTTLS, and with -a
# without AUTH.
SINK=$(free_port)
smtp-sink -u nobody -a "127.0.0.1:$SINK" 64 >"$T/sink.log" 2>&1 &
sinkpid=$!
at_exit "kill $sinkpid 2>/dev/null"
wait_port "$SINK"
send --port "$SINK" --tls starttls --cafile "$M/tls/ca.pem"
check_eq "server without STARTTLS: NET error, permanent (never falls back to clear text)" \
    "$(result) $(field permanent)" "NET 1"
send --port "$SINK" --tls none --auth gssapi --user someone
check_match "server without AUTH: message not sent unauthenticated" "$(result) $(cat "$T/send.out")" \
    "^AUTH .*offers no AUTH"
send --port "$SINK" --tls none --auth none
check_eq "smtp-sink accepts anonymous plain SMTP" "$(result)" "OK"

done_testing
