#!/bin/sh
# Several `certmint serve` nodes on one PostgreSQL (docs/postgresql.md):
# three nodes (copies of one CA home: the same key, one database) and three
# concurrent submitters in strict audit mode, with the real Postfix
# (scripts/mta.sh). In the middle one node is killed with -9 and restarted,
# then twice the node that is delivering at that moment (it holds the SMTP
# module's claim), later the database is restarted under load
# (scripts/pg.sh stop/start). Afterwards: no serial or RequestID twice,
# every certificate handed out has its row and its CERTISSUED mail (counted
# in the Maildir), every event mailed exactly once by Message-ID (a copy
# only from a kill between a mail's 250 and its acknowledgement's commit:
# at most one per kill, with the same Message-ID), CRL numbers strictly
# increasing with one publisher at a time, strict mode consistent (released
# exactly the acknowledged ones), and the nodes said the database went away
# and came back.
. "$(dirname "$0")/lib.sh"

# Always on PostgreSQL: under make check (tests/run-both.sh) it runs once,
# in the PostgreSQL pass.
if [ "${CERTMINT_BOTH:-0}" = 1 ] && [ "$TESTDB" = sqlite ]; then
    ok "skipped in the SQLite pass: runs in the PostgreSQL pass of make check"
    done_testing
fi
MTA="$TOP/scripts/mta.sh"
SCAN="$TOP/tests/e2e/maildir.py"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ] || ! [ -x "$PGBIN/psql" ]; then
    ok "skipped: PostgreSQL is not installed (scripts/install-deps.sh)"
    done_testing
fi
if [ "$(id -u)" -ne 0 ]; then
    ok "skipped: a private Postfix instance needs root"
    done_testing
fi
PATH=/usr/sbin:/sbin:$PATH
chmod 711 "$T"
# Our own server whatever the run has: this script restarts it.
sh "$TOP/scripts/pg.sh" start "$T/pg" >"$T/pg.start" 2>&1 ||
    { fail "start PostgreSQL: $(tail -n 3 "$T/pg.start" | tr '\n' ' ')"; done_testing; }
eval "$(sh "$TOP/scripts/pg.sh" env "$T/pg")"
at_exit 'sh "$TOP/scripts/pg.sh" stop "$T/pg"'
M="$T/mta"
MD="$M/Maildir"
PORT=$(free_port)
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
sh "$MTA" start "$M" "$PORT" >"$T/mta.out" 2>&1 ||
    { fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"; done_testing; }
URL="$CERTMINT_TEST_PG/cm_nodes_$(openssl rand -hex 5)"
q() { "$PGBIN/psql" -X -q -A -t -w "$URL" -c "$1"; }
settle() {
    i=0
    while [ "$(postqueue -c "$M/etc" -p 2>/dev/null | tail -n 1)" != "Mail queue is empty" ]; do
        i=$((i + 1))
        [ $i -le 300 ] || { fail "Postfix queue not empty after 30 s"; return 1; }
        sleep 0.1
    done
}

H="$T/ca"
"$CM" --home "$H" --passphrase-file "$PASS" init --subject "/CN=Nodes CA/O=certmint tests" \
    --db "$URL" >/dev/null 2>&1 || { fail "init --db"; done_testing; }
cfg() { "$CM" --home "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1: $(cat "$T/cfg.out")"; }
cfg exit.modules smtp
cfg exit.smtp.server 127.0.0.1
cfg exit.smtp.port "$PORT"
cfg exit.smtp.tls starttls
cfg exit.smtp.cafile "$M/tls/ca.pem"
cfg exit.smtp.auth plain
cfg exit.smtp.username "$(cat "$M/smtp-user")"
cfg exit.smtp.password_file "$M/smtp-password"
cfg exit.smtp.from "Nodes CA <ca@example.org>"
cfg exit.smtp.to "audit@example.org"
# One event per mail: its Message-ID is then the event's (a copy sent again
# after a kill has the same one: docs/exit-modules.md "Exactly once").
cfg exit.smtp.batch_max 1
cfg audit.require_offbox yes
cfg serve.poll_interval 1s
cfg crl.period 1m
cfg crl.delta_period 0
for n in 1 2 3; do cp -a "$H" "$T/node$n"; done
node_start() {
    # The application name says in pg_stat_activity which node holds a lock.
    PGAPPNAME=certmint-node$1 "$CM" --home "$T/node$1" --passphrase-file "$PASS" serve >>"$T/serve$1.log" 2>&1 &
    echo $! >"$T/serve$1.pid"
}
for n in 1 2 3; do node_start $n; done
at_exit 'for n in 1 2 3; do kill -9 "$(cat "$T/serve$n.pid")" 2>/dev/null; done'

# Three submitters, each through its own node's home, one request at a
# time (strict mode: submit hands the certificate out only once its
# CERTISSUED mail is acknowledged, whoever delivered it).
# Each submitter goes on until the database is back and then submits 3 more
# (at most MAXN in all: a loaded machine makes every step slower).
N=25 MAXN=60
for s in 1 2 3; do
    for i in $(seq $MAXN); do
        make_csr ec:p256 "$T/s$s-$i.csr" "$T/s$s-$i.key" "/CN=s$s-$i.example.org" "DNS:s$s-$i.example.org"
    done
done
submitter() {
    after=0
    for i in $(seq $MAXN); do
        "$CM" --home "$T/node$1" --passphrase-file "$PASS" submit --profile tls-server \
            --out "$T/s$1-$i.pem" "$T/s$1-$i.csr" >>"$T/sub$1.out" 2>>"$T/sub$1.err"
        echo "$i $?" >>"$T/sub$1.rc"
        if [ -e "$T/db_back" ]; then
            after=$((after + 1))
            [ $after -ge 3 ] && [ $i -ge $N ] && break
        fi
        sleep 0.2
    done
}
for s in 1 2 3; do submitter $s & eval "sp$s=\$!"; done
# The node that holds the SMTP module's claim (lock "exit-smtp": a
# PostgreSQL advisory lock, src/exit/dispatch.c) while it delivers.
deliverer() {
    q "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
       WHERE l.locktype = 'advisory' AND l.classid = 1129139788 AND l.objsubid = 2
         AND l.objid = hashtext('exit-smtp')::oid AND l.granted" | sed -n 's/^certmint-node//p'
}
# kill_deliverer: kill -9 a node at the moment it delivers, restart it.
KILLS=0
kill_deliverer() {
    i=0
    while [ $i -lt 400 ]; do
        n=$(deliverer)
        if [ -n "$n" ]; then
            kill -9 "$(cat "$T/serve$n.pid")"
            echo "# node $n killed while delivering at $(date +%T)"
            KILLS=$((KILLS + 1))
            sleep 0.5
            node_start "$n"
            return 0
        fi
        i=$((i + 1))
    done
    echo "# no node was seen delivering"
}
# In the middle of the batch: kill -9 node 2, restart it.
sleep 4
kill -9 "$(cat "$T/serve2.pid")"
KILLS=1
echo "# node 2 killed at $(date +%T)"
sleep 1
node_start 2
# Then twice the node that is delivering at that moment.
kill_deliverer
kill_deliverer
check "a node was killed while delivering" test "$KILLS" -ge 2
# Then the database restarted under load.
sleep 3
sh "$TOP/scripts/pg.sh" stop "$T/pg" >"$T/pg.stop" 2>&1 || fail "pg.sh stop: $(cat "$T/pg.stop")"
echo "# database stopped at $(date +%T)"
sleep 4
sh "$TOP/scripts/pg.sh" start "$T/pg" >"$T/pg.start2" 2>&1 || fail "pg.sh start: $(cat "$T/pg.start2")"
echo "# database back at $(date +%T)"
# Submissions that started before this point may still meet the outage.
sleep 1
: >"$T/db_back"
wait $sp1 $sp2 $sp3
# Each node notices by itself (its backoff is at most 16 s).
i=0
while [ "$(grep -l "database reachable again" "$T"/serve*.log 2>/dev/null | wc -l)" -lt 3 ] && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
alive=0
for n in 1 2 3; do kill -0 "$(cat "$T/serve$n.pid")" 2>/dev/null && alive=$((alive + 1)); done
check_eq "every node outlived the database restart" "$alive" 3
# Frozen (every node killed): strict mode released exactly what the
# acknowledged position covers.
for n in 1 2 3; do kill -9 "$(cat "$T/serve$n.pid")" 2>/dev/null; done
sleep 0.5
acked=$(q "SELECT value FROM meta WHERE key = 'exit.smtp.acked'")
check_eq "strict: released = acknowledged (CERTISSUED at or below the acked event $acked)" \
    "$(q "SELECT count(*) FROM certificates c JOIN events e ON e.SerialNumber = c.SerialNumber AND e.Type = 1
          WHERE (c.Withheld = 0) <> (e.ID <= $acked)")" 0
# Drain: the nodes again, until nothing is queued.
for n in 1 2 3; do node_start $n; done
i=0
while [ "$(q "SELECT count(*) FROM events WHERE ID > (SELECT value::bigint FROM meta WHERE key = 'exit.smtp.acked')")" != 0 ] &&
    [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
for n in 1 2 3; do kill -TERM "$(cat "$T/serve$n.pid")"; done
for n in 1 2 3; do wait "$(cat "$T/serve$n.pid")" 2>/dev/null; done
settle

total=$(cat "$T"/sub*.rc | wc -l | tr -d ' ')
okrc=$(cat "$T"/sub*.rc | awk '$2 == 0' | wc -l | tr -d ' ')
echo "# $okrc of $total submissions succeeded (the others met the database restart); their errors:"
cat "$T"/sub*.err | sed 's/[0-9A-F]\{16,\}/SERIAL/g; s/request [0-9]*/request N/g' | sort | uniq -c | sort -rn | head -n 5 | sed 's/^/#   /'
check_eq "submissions succeed again once the database is back (each submitter's last 3)" \
    "$(for s in 1 2 3; do tail -n 3 "$T/sub$s.rc"; done | awk '$2 != 0' | wc -l | tr -d ' ')" 0
check_eq "no serial or RequestID twice" \
    "$(q "SELECT count(*) - count(DISTINCT SerialNumber), count(*) - count(DISTINCT RequestID) FROM certificates")" "0|0"
# Every certificate handed out (a PEM written) has its row and was released.
missing=0
for f in "$T"/s*-*.pem; do
    [ -f "$f" ] || continue
    s=$(openssl x509 -in "$f" -noout -serial | sed 's/serial=//')
    [ "$(q "SELECT Withheld FROM certificates WHERE SerialNumber = '$s'")" = 0 ] || missing=$((missing + 1))
    echo "$s" >>"$T/handed.serials"
done
check_eq "every certificate handed out has its (released) row" "$missing" 0
check_eq "  ... $okrc handed out" "$(wc -l <"$T/handed.serials" | tr -d ' ')" "$okrc"
check_eq "every event delivered, none withheld or poisoned" \
    "$(q "SELECT (SELECT count(*) FROM certificates WHERE Withheld <> 0), (SELECT count(*) FROM event_poison)")" "0|0"
python3 "$SCAN" scan "$MD" "$T/scan" >"$T/scan.n" 2>"$T/scan.err" || fail "maildir.py: $(cat "$T/scan.err")"
# events.tsv: one line per event in a mail (message_id, event_id, event, request_id, serial).
cut -f2 "$T/scan/events.tsv" | sort -n | uniq >"$T/mailed.ids"
q "SELECT ID FROM events ORDER BY ID" >"$T/db.ids"
check_eq "every event of the database was mailed" "$(comm -23 "$T/db.ids" "$T/mailed.ids" | wc -l | tr -d ' ')" 0
check_eq "  ... and nothing else" "$(comm -13 "$T/db.ids" "$T/mailed.ids" | wc -l | tr -d ' ')" 0
# Exactly once by Message-ID: each event under one Message-ID, each
# Message-ID one event; copies of a mail (same Message-ID, a kill between
# its 250 and the commit of its acknowledgement) at most one per kill.
check_eq "exactly once by Message-ID: no event under two Message-IDs" \
    "$(cut -f1,2 "$T/scan/events.tsv" | sort -u | cut -f2 | sort | uniq -d | wc -l | tr -d ' ')" 0
check_eq "  ... and no Message-ID with two events" \
    "$(cut -f1,2 "$T/scan/events.tsv" | sort -u | cut -f1 | sort | uniq -d | wc -l | tr -d ' ')" 0
mails=$(wc -l <"$T/scan/mails.tsv" | tr -d ' ')
mids=$(cut -f3 "$T/scan/mails.tsv" | sort -u | wc -l | tr -d ' ')
echo "# $(wc -l <"$T/db.ids" | tr -d ' ') events, $mails mails, $mids Message-IDs: $((mails - mids)) copies after $KILLS kills"
check "copies of a mail: at most one per kill ($((mails - mids)) <= $KILLS)" test $((mails - mids)) -le "$KILLS"
awk -F'\t' '$3 == "CERTISSUED" { print $5 }' "$T/scan/events.tsv" | sort -u >"$T/mailed.serials"
check_eq "every certificate handed out was mailed first" \
    "$(sort "$T/handed.serials" | comm -23 - "$T/mailed.serials" | wc -l | tr -d ' ')" 0
# CRLs: numbers strictly increasing in publication order, one publisher at a time.
q "SELECT Number FROM crls WHERE IsDelta = 0 ORDER BY ThisUpdate, Number" >"$T/crl.numbers"
check_eq "CRL numbers strictly increase" "$(sort -n -u "$T/crl.numbers" | tr '\n' ' ')" "$(tr '\n' ' ' <"$T/crl.numbers")"
check_eq "  ... never two CRLs for the same moment" \
    "$(q "SELECT count(*) FROM (SELECT ThisUpdate FROM crls GROUP BY ThisUpdate HAVING count(*) > 1) x")" 0
check "deliveries by more than one node" test "$(grep -l 'exit module smtp: delivered' "$T"/serve*.log | wc -l)" -ge 2
check "a node said the database went away" grep -q "database unreachable" "$T"/serve*.log
check "  ... and that it resumed" grep -q "database reachable again" "$T"/serve*.log
done_testing
