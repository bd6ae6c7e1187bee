#!/bin/sh
# A PostgreSQL standby and a failover under load (docs/postgresql.md "A
# standby"): a private primary and a synchronous streaming standby of it
# (scripts/pg.sh standby: pg_basebackup -R, synchronous_standby_names), two
# `certmint serve` nodes and a submitter in strict audit mode whose homes
# name both servers in one libpq multi-host URL
# (target_session_attrs=read-write). The primary is killed with -9 by its
# PID in the middle of the run and the standby promoted (pg_ctl promote);
# nothing else is done to the nodes or the submitter. Afterwards, on the
# new primary: every certificate handed out before the failover has its
# released row (a commit acknowledged is never lost), no serial or
# RequestID twice and the RequestIDs after the failover above every one
# before it, the nodes said the database went away and came back by
# themselves, and submissions work again through the same URL.
. "$(dirname "$0")/lib.sh"

START=$(date +%s)
# Always on PostgreSQL, its own two servers: under make check
# (tests/run-both.sh) it runs once, in the PostgreSQL pass.
if [ "${CERTMINT_BOTH:-0}" = 1 ] && [ "$TESTDB" = sqlite ]; then
    ok "skipped in the SQLite pass: runs in the PostgreSQL pass of make check"
    done_testing
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ] || ! [ -x "$PGBIN/pg_basebackup" ]; then
    ok "skipped: PostgreSQL is not installed (scripts/install-deps.sh)"
    done_testing
fi
chmod 711 "$T"
P1="$T/pg1" P2="$T/pg2"
at_exit 'sh "$TOP/scripts/pg.sh" stop "$P2"; sh "$TOP/scripts/pg.sh" stop "$P1"'
sh "$TOP/scripts/pg.sh" start "$P1" >"$T/pg1.start" 2>&1 ||
    { fail "start the primary: $(tail -n 3 "$T/pg1.start" | tr '\n' ' ')"; done_testing; }
sh "$TOP/scripts/pg.sh" standby "$P1" "$P2" >"$T/pg2.start" 2>&1 ||
    { fail "start the standby: $(tail -n 3 "$T/pg2.start" | tr '\n' ' ')"; done_testing; }
ok "a synchronous streaming standby of the primary (pg_basebackup -R)"
# One password file for both servers (the role and its password came over
# with the base backup).
cat "$P1/pgpass" "$P2/pgpass" >"$T/pgpass"
chmod 600 "$T/pgpass"
PGPASSFILE="$T/pgpass"
export PGPASSFILE
PORT1=$(cat "$P1/port") PORT2=$(cat "$P2/port")
DB=cm_failover_$(openssl rand -hex 5)
URL="postgresql://certmint@127.0.0.1:$PORT1,127.0.0.1:$PORT2/$DB?target_session_attrs=read-write"
q() { "$PGBIN/psql" -X -q -A -t -w "$URL" -c "$1"; }
q2() { "$PGBIN/psql" -X -q -A -t -w "postgresql://certmint@127.0.0.1:$PORT2/$DB" -c "$1"; }

H="$T/ca"
"$CM" --home "$H" --passphrase-file "$PASS" init --subject "/CN=Failover CA/O=certmint tests" \
    --db "$URL" >"$T/init.out" 2>&1 || { fail "init --db (multi-host): $(cat "$T/init.out")"; done_testing; }
cfg() { "$CM" --home "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1: $(cat "$T/cfg.out")"; }
mkdir "$T/events"
cfg exit.modules file
cfg exit.file.dir "$T/events"
cfg exit.file.offbox yes
cfg audit.require_offbox yes
cfg serve.poll_interval 1s
check_eq "the standby has the CA's database (streamed)" "$(q2 "SELECT count(*) FROM meta WHERE key = 'schema_version'")" 1
for n in 1 2; do cp -a "$H" "$T/node$n"; done
node_start() {
    "$CM" --home "$T/node$1" --passphrase-file "$PASS" serve >>"$T/serve$1.log" 2>&1 &
    echo $! >"$T/serve$1.pid"
}
for n in 1 2; do node_start $n; done
at_exit 'for n in 1 2; do kill -9 "$(cat "$T/serve$n.pid")" 2>/dev/null; done'

# The submitter: strict mode, one request at a time through node 1's home,
# until told to stop (at most MAXN).
MAXN=80
for i in $(seq $MAXN); do
    make_csr ec:p256 "$T/r$i.csr" "$T/r$i.key" "/CN=r$i.example.org" "DNS:r$i.example.org"
done
submitter() {
    for i in $(seq $MAXN); do
        [ -e "$T/stop" ] && break
        "$CM" --home "$T/node1" --passphrase-file "$PASS" submit --profile tls-server \
            --out "$T/r$i.pem" "$T/r$i.csr" >>"$T/sub.out" 2>>"$T/sub.err"
        echo "$i $?" >>"$T/sub.rc"
        sleep 0.1
    done
}
: >"$T/sub.rc"
submitter &
sp=$!
oks() { awk '$2 == 0' "$T/sub.rc" | wc -l | tr -d ' '; }
wait_oks() { # wait_oks N: until N submissions succeeded (60 s at most)
    i=0
    while [ "$(oks)" -lt "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
}
wait_oks 6
# What was handed out before the failover: acknowledged, so it must survive.
for f in "$T"/r*.pem; do [ -s "$f" ] && basename "$f"; done | sort >"$T/before.pems"
check "certificates handed out before the failover" test "$(wc -l <"$T/before.pems")" -ge 6

# The failover: the primary's postmaster killed by its PID, the standby
# promoted. Nodes and submitter are left alone.
ppid=$(head -n 1 "$P1/data/postmaster.pid")
kill -9 "$ppid"
echo "# primary (postmaster $ppid) killed at $(date +%T)"
T0=$(date +%s)
sleep 1
sh "$TOP/scripts/pg.sh" promote "$P2" >"$T/promote.out" 2>&1 || fail "pg_ctl promote: $(cat "$T/promote.out")"
echo "# standby promoted at $(date +%T)"
check_eq "the former standby is the primary now" "$(q2 "SELECT pg_is_in_recovery()")" f
n0=$(oks)
wait_oks $((n0 + 6))
check "submissions go on through the same URL after the failover" test "$(oks)" -ge $((n0 + 6))
echo "# first submission after the failover: $(($(date +%s) - T0)) s after the kill"
: >"$T/stop"
wait $sp
# Each node reconnects by itself (its backoff is at most 16 s).
i=0
while [ "$(grep -l "database reachable again" "$T"/serve*.log 2>/dev/null | wc -l)" -lt 2 ] && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
check_eq "both nodes said the database went away" "$(grep -l "database unreachable" "$T"/serve*.log | wc -l | tr -d ' ')" 2
check_eq "  ... and came back by themselves" "$(grep -l "database reachable again" "$T"/serve*.log | wc -l | tr -d ' ')" 2
alive=0
for n in 1 2; do kill -0 "$(cat "$T/serve$n.pid")" 2>/dev/null && alive=$((alive + 1)); done
check_eq "both nodes outlived the failover" "$alive" 2
for n in 1 2; do kill -TERM "$(cat "$T/serve$n.pid")"; done
for n in 1 2; do wait "$(cat "$T/serve$n.pid")" 2>/dev/null; done

# On the new primary.
missing=0
for f in $(cat "$T/before.pems"); do
    s=$(openssl x509 -in "$T/$f" -noout -serial | sed 's/serial=//')
    [ "$(q "SELECT Withheld FROM certificates WHERE SerialNumber = '$s'")" = 0 ] || missing=$((missing + 1))
    q "SELECT RequestID FROM certificates WHERE SerialNumber = '$s'" >>"$T/before.rids"
done
check_eq "every certificate handed out before the failover has its released row" "$missing" 0
missing=0
for f in "$T"/r*.pem; do
    [ -s "$f" ] || continue
    s=$(openssl x509 -in "$f" -noout -serial | sed 's/serial=//')
    [ "$(q "SELECT Withheld FROM certificates WHERE SerialNumber = '$s'")" = 0 ] || missing=$((missing + 1))
done
check_eq "  ... and so has every one handed out at all" "$missing" 0
check_eq "no serial or RequestID twice" \
    "$(q "SELECT count(*) - count(DISTINCT SerialNumber), count(*) - count(DISTINCT RequestID) FROM certificates")" "0|0"
: >"$T/after.rids"
for f in "$T"/r*.pem; do
    [ -s "$f" ] && ! grep -qx "$(basename "$f")" "$T/before.pems" || continue
    s=$(openssl x509 -in "$f" -noout -serial | sed 's/serial=//')
    q "SELECT RequestID FROM certificates WHERE SerialNumber = '$s'" >>"$T/after.rids"
done
check "RequestIDs after the failover above every one before it" \
    test "$(sort -n "$T/after.rids" | head -n 1)" -gt "$(sort -n "$T/before.rids" | tail -n 1)"
check_eq "every event delivered (none withheld)" "$(q "SELECT count(*) FROM certificates WHERE Withheld <> 0")" 0
echo "# $(oks) of $(wc -l <"$T/sub.rc" | tr -d ' ') submissions succeeded; $(($(date +%s) - START)) s"
done_testing
