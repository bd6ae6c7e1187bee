#!/bin/sh
# Races, duplicates and killed processes (issue 9, sections 3 and 4), with the
# real binary; results checked with sqlite3 on the database and openssl on
# the certificates:
# - approve and deny of one pending request at the same moment, 30 times:
#   exactly one outcome each, the loser told "no longer pending (now: X)";
# - revoke lists with duplicates (any spelling) and with bad serials;
# - --effective / --invalidity outside 1970..9999;
# - serials and thumbprints as Windows and OpenSSL show them;
# - two inits on one new home at once; a failed init leaves a directory it
#   did not create;
# - a large submit killed with -9: its worker threads die with it, every
#   certificate row is complete, and the next submit reports the batch.
. "$(dirname "$0")/lib.sh"

# db HOME SQL: a query with sqlite3 (retried: a reader can meet a transient
# SQLITE_PROTOCOL while writers are killed).
db() {
    if [ "$TESTDB" != sqlite ]; then
        db_sql "$1" "$2"
        return
    fi
    for _try in 1 2 3 4 5; do
        _out=$(sqlite3 -cmd ".timeout 5000" "$1/certmint.db" "$2" 2>/dev/null) && {
            printf '%s\n' "$_out"
            return 0
        }
        sleep 0.2
    done
    return 1
}
# alive PID: running and not a zombie (an orphan is reaped by init later).
alive() { st=$(ps -o stat= -p "$1" 2>/dev/null) && [ -n "$st" ] && [ "${st#Z}" = "$st" ]; }

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" ca-cert >"$T/root.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/k.pem" 2>/dev/null

# --- approve against deny --------------------------------------------------------
N=30
cm "$H" config set profile.tls-client.approval manual >/dev/null
mkdir -p "$T/race"
i=1
while [ $i -le $N ]; do
    openssl req -new -key "$T/k.pem" -subj "/CN=race$i" -out "$T/race/$i.csr" 2>/dev/null
    i=$((i + 1))
done
cm "$H" submit --profile tls-client "$T"/race/*.csr >"$T/race.sub" 2>&1
check_eq "$N requests pending" "$(grep -c pending "$T/race.sub")" $N
ids=$(cut -f1 "$T/race.sub")
for id in $ids; do
    (cm "$H" approve "$id" >"$T/race/a$id" 2>&1; echo $? >"$T/race/a$id.rc") &
    (cm "$H" deny "$id" --reason race >"$T/race/d$id" 2>&1; echo $? >"$T/race/d$id.rc") &
done
wait
bad=""
nissued=0
ndenied=0
for id in $ids; do
    ar=$(cat "$T/race/a$id.rc") dr=$(cat "$T/race/d$id.rc")
    disp=$(db "$H" "SELECT Disposition FROM requests WHERE RequestID = $id")
    ncert=$(db "$H" "SELECT count(*) FROM certificates WHERE RequestID = $id")
    nis=$(db "$H" "SELECT count(*) FROM events WHERE RequestID = $id AND Type = 1")
    nden=$(db "$H" "SELECT count(*) FROM events WHERE RequestID = $id AND Type = 4")
    if [ "$ar" = 0 ] && [ "$dr" != 0 ]; then
        nissued=$((nissued + 1))
        [ "$disp/$ncert/$nis/$nden" = "20/1/1/0" ] || bad="$bad $id:approved-but-$disp/$ncert/$nis/$nden"
        grep -q "request $id is no longer pending (now: issued)" "$T/race/d$id" || bad="$bad $id:deny-msg[$(head -c 200 "$T/race/d$id" | tr '\n' ' ')]"
    elif [ "$dr" = 0 ] && [ "$ar" != 0 ]; then
        ndenied=$((ndenied + 1))
        [ "$disp/$ncert/$nis/$nden" = "31/0/0/1" ] || bad="$bad $id:denied-but-$disp/$ncert/$nis/$nden"
        grep -q "request $id is no longer pending (now: denied)" "$T/race/a$id" || bad="$bad $id:approve-msg[$(head -c 200 "$T/race/a$id" | tr '\n' ' ')]"
    else
        bad="$bad $id:exit-$ar/$dr"
    fi
done
check_eq "each of $N approve/deny pairs: one winner, the loser exits non-zero with 'no longer pending (now: X)', one outcome in requests, certificates and events" "${bad:-none}" none
echo "# approve won $nissued, deny won $ndenied"
check_eq "no certificate row for a denied request" \
    "$(db "$H" "SELECT count(*) FROM certificates c JOIN requests r USING (RequestID) WHERE r.Disposition <> 20")" 0
# Every certificate the approvals issued verifies (openssl).
okc=0
for id in $ids; do
    [ "$(cat "$T/race/a$id.rc")" = 0 ] || continue
    cm "$H" retrieve "$id" --out "$T/race/$id.pem" >/dev/null 2>&1 &&
        openssl verify -CAfile "$T/root.pem" "$T/race/$id.pem" >/dev/null 2>&1 && okc=$((okc + 1))
done
check_eq "openssl verifies every certificate an approval issued" "$okc" "$nissued"
# Approve, deny after the fact.
id=$(echo "$ids" | head -n 1)
out=$(cm "$H" deny "$id" 2>&1)
check_eq "deny of a decided request: exit status 1" "$?" 1
check_match "...with the state it is in" "$out" "request $id is no longer pending \(now: (issued|denied)\)"

# --- revoke: duplicates, bad serials, dates ------------------------------------
mkdir -p "$T/rv"
for i in 1 2 3 4; do
    openssl req -new -key "$T/k.pem" -subj "/CN=rv$i.example.org" -addext "subjectAltName=DNS:rv$i.example.org" -out "$T/rv/$i.csr" 2>/dev/null
done
cm "$H" submit --out "$T/rv" "$T"/rv/*.csr >"$T/rv.sub"
sn() { openssl x509 -in "$T/rv/$1.pem" -noout -serial | cut -d= -f2; }
r1=$(cut -f1 "$T/rv.sub" | sed -n 1p); r2=$(cut -f1 "$T/rv.sub" | sed -n 2p)
r3=$(cut -f1 "$T/rv.sub" | sed -n 3p); r4=$(cut -f1 "$T/rv.sub" | sed -n 4p)
S1=$(sn "$r1") S2=$(sn "$r2") S3=$(sn "$r3") S4=$(sn "$r4")
lower=$(printf '%s' "$S1" | tr 'A-F' 'a-f' | sed 's/../&:/g; s/:$//')
out=$(cm "$H" revoke "$S1,$lower" keyCompromise 2>&1)
check_eq "revoke S,S (two spellings): exit status 0" "$?" 0
check_match "the duplicate is reported once" "$out" "duplicate: serial $S1: listed 2 times"
check_eq "...exactly once" "$(printf '%s\n' "$out" | grep -c duplicate)" 1
check_match "...and the serial is revoked once" "$out" "revoked 1 certificate \(keyCompromise\)"
check_eq "database: S1 revoked (keyCompromise), one CERTREVOKED event" \
    "$(db "$H" "SELECT RevokedReason FROM certificates WHERE SerialNumber = '$S1'")/$(db "$H" "SELECT count(*) FROM events WHERE SerialNumber = '$S1' AND Type = 8")" "1/1"
printf '# list\n%s\n%s\n\n%s\n' "$S2" "$S3" "$S2" >"$T/list1"
out=$(cm "$H" revoke --from-file "$T/list1" 2>&1)
check_eq "--from-file with a serial twice: exit status 0" "$?" 0
check_match "...reports the duplicate and revokes two" "$(printf '%s' "$out" | tr '\n' ' ')" "duplicate: serial $S2: listed 2 times.*revoked 2 certificates"
before=$(db "$H" "SELECT count(*) FROM events")
printf '%s\nZZ\n%s\n7A11CE\n%s\n' "$S4" "$S1" "$S4" >"$T/list2"
out=$(cm "$H" revoke --from-file "$T/list2" 2>&1)
check_eq "a list with bad serials: exit status 1" "$?" 1
check_match "...reports the bad syntax" "$out" "serial number 'ZZ': 'Z' is not a hex digit"
check_match "...reports the serial already revoked" "$out" "serial $S1: already revoked \(keyCompromise\)"
check_match "...reports the unknown serial" "$out" "serial 7A11CE: no such certificate"
check_match "...and says nothing was revoked" "$out" "3 of 4 serials refused; nothing was revoked"
check_eq "...and nothing was: S4 not revoked, no event" \
    "$(db "$H" "SELECT CASE WHEN RevokedReason IS NULL THEN 1 ELSE 0 END FROM certificates WHERE SerialNumber = '$S4'")/$(db "$H" "SELECT count(*) FROM events")" "1/$before"
out=$(cm "$H" revoke "$S4" --effective 1969-12-31 2>&1)
check_eq "--effective before 1970: exit status 1" "$?" 1
check_match "...with a clear error" "$out" "--effective '1969-12-31': must be after 1970-01-01 and before 10000-01-01"
check_fails "--effective after 9999 is refused" cm "$H" revoke "$S4" --effective 10000-01-01
check_fails "--invalidity before 1970 is refused" cm "$H" revoke "$S4" --invalidity 1950-06-01
check_eq "...S4 still not revoked" "$(db "$H" "SELECT CASE WHEN RevokedReason IS NULL THEN 1 ELSE 0 END FROM certificates WHERE SerialNumber = '$S4'")" 1

# --- serials and thumbprints as Windows and OpenSSL show them ------------------
# Windows: upper case, spaces, and a copy from the certificate dialog starts
# with an invisible U+200E LEFT-TO-RIGHT MARK.
win=$(printf '\342\200\216%s' "$(printf '%s' "$S4" | tr 'A-F' 'a-f' | sed 's/../& /g; s/ $//')")
check "revoke takes a Windows-style serial (lower case, spaces, U+200E)" cm "$H" revoke "$win" certificateHold
check "unrevoke takes an OpenSSL-style serial (colons)" cm "$H" unrevoke "$(printf '%s' "$S4" | sed 's/../&:/g; s/:$//')"
fp=$(openssl x509 -in "$T/rv/$r4.pem" -noout -fingerprint -sha1 | cut -d= -f2)
winfp=$(printf '%s' "$fp" | tr ':' ' ')
got=$(cm "$H" view --restrict "CertificateHash=$fp" --out SerialNumber --format csv | tail -n +2 | tr -d '\r')
check_eq "view: CertificateHash as openssl prints it (upper case, colons)" "$got" "$S4"
got=$(cm "$H" view --restrict "CertificateHash=$(printf '\342\200\216')$winfp" --out SerialNumber --format csv | tail -n +2 | tr -d '\r')
check_eq "view: CertificateHash as Windows shows it (spaces, U+200E)" "$got" "$S4"
ski=$(openssl x509 -in "$T/rv/$r4.pem" -noout -ext subjectKeyIdentifier | tail -n 1 | tr -d ' ')
got=$(cm "$H" view --restrict "SubjectKeyIdentifier=$ski,SerialNumber=$(printf '%s' "$S4" | sed 's/../& /g')" --out SerialNumber --format csv | tail -n +2 | tr -d '\r')
check_eq "view: SubjectKeyIdentifier with colons and a spaced serial" "$got" "$S4"
check_fails "view: a thumbprint with a non-hex character is refused" cm "$H" view --restrict "CertificateHash=zz:01"
out=$(cm "$H" placeholder "0a BC de" 2>&1)
check_match "placeholder takes a spaced mixed-case serial, stored canonical" "$out" "recorded placeholder 0ABCDE"
check_eq "...one row" "$(db "$H" "SELECT count(*) FROM certificates WHERE SerialNumber = '0ABCDE'")" 1

# --- init ------------------------------------------------------------------------
ok_inits=0
bad=""
for round in 1 2 3 4 5; do
    I="$T/init$round/home"
    (new_root "$I" ec:p256 >"$T/i1.$round" 2>&1; echo $? >"$T/i1.$round.rc") &
    (new_root "$I" ec:p256 >"$T/i2.$round" 2>&1; echo $? >"$T/i2.$round.rc") &
    wait
    n0=0
    [ "$(cat "$T/i1.$round.rc")" = 0 ] && n0=$((n0 + 1))
    [ "$(cat "$T/i2.$round.rc")" = 0 ] && n0=$((n0 + 1))
    [ "$n0" = 1 ] || bad="$bad round$round:$n0-succeeded"
    keyfile=private/ca.key
    [ "$KEYSTORE" = softhsm ] && keyfile=private/ca.key.uri
    dbfile=certmint.db
    [ "$TESTDB" = sqlite ] || dbfile=""
    for f in ca.crt certmint.conf $dbfile $keyfile; do
        [ -s "$I/$f" ] || bad="$bad round$round:$f-missing"
    done
    openssl x509 -in "$I/ca.crt" -noout -checkend 0 >/dev/null 2>&1 || bad="$bad round$round:ca.crt"
    cm "$I" crl >/dev/null 2>&1 || bad="$bad round$round:unusable"
done
check_eq "two inits on one new home at once (5 rounds): exactly one succeeds, the home is complete and usable" "${bad:-none}" none
mkdir -p "$T/mine"
chmod 700 "$T/mine"
check_fails "init that fails half-way (--out in a missing directory)" \
    cm "$T/mine" init --subordinate --subject "/CN=Sub" --out "$T/nowhere/sub.csr"
[ -d "$T/mine" ] && ok "...leaves the directory it did not create" || fail "...removed $T/mine"
check_eq "...empty again" "$(ls -A "$T/mine" | wc -l)" 0
mkdir -p "$T/full"
echo keep >"$T/full/notes.txt"
check_fails "init into a non-empty directory is refused" new_root "$T/full" ec:p256
check_eq "...which is left alone" "$(cat "$T/full/notes.txt")" keep
check_fails "init that fails in a directory it creates" \
    cm "$T/made/here" init --subordinate --subject "/CN=Sub" --out "$T/nowhere/sub.csr"
[ -e "$T/made/here" ] && fail "...left $T/made/here behind" || ok "...removes it"

# --- a large submit killed with -9 ----------------------------------------------
B="$T/batch"
new_root "$B" ec:p256 >/dev/null
cm "$B" config set submit.workers 4 >/dev/null
cm "$B" config set submit.batch_group 16 >/dev/null
cc -O2 -o "$T/gen_csrs" "$TOP/bench/gen_csrs.c" -lcrypto || fail "gen_csrs"
mkdir -p "$T/many"
"$T/gen_csrs" "$T/many" 8000 >/dev/null
# The binary itself in the background (not the cm function's subshell), so
# that $! is submit; its workers are threads of it (issue 10: no fork in the
# core), so they die with it, and it has no child process.
"$CM" --home "$B" --passphrase-file "$PASS" submit "$T"/many/*.csr >"$T/batch.out" 2>"$T/batch.err" &
P=$!
c=0
i=0
nt=0
while [ $i -lt 400 ]; do
    c=$(db "$B" "SELECT count(*) FROM certificates" 2>/dev/null)
    nt=$(ls "/proc/$P/task" 2>/dev/null | wc -l)
    [ "${c:-0}" -ge 100 ] && [ "$nt" -ge 2 ] && break
    sleep 0.05
    i=$((i + 1))
done
kids=$(pgrep -P $P | tr '\n' ' ')
kill -9 $P
wait $P 2>/dev/null
[ "$nt" -ge 4 ] && ok "submit ran $nt threads (writer + workers)" || fail "batch threads seen: $nt"
check_eq "submit forks no worker process" "${kids:-none}" none
# SIGKILL from the kernel is immediate and takes every thread.
sleep 0.3
[ -d "/proc/$P" ] && fail "the killed submit is still there" || ok "no worker outlives the killed submit"
n0=$(db "$B" "SELECT count(*) FROM certificates")
sleep 2
n1=$(db "$B" "SELECT count(*) FROM certificates")
check_eq "nothing is issued after the kill" "$n1" "$n0"
[ "$n1" -gt 0 ] && [ "$n1" -lt 8000 ] && ok "killed half-way: $n1 of 8000 recorded" || fail "killed at $n1 of 8000"
check_eq "every certificate row is complete (DER, serial, hash, issued request, CERTISSUED event)" \
    "$(db "$B" "SELECT count(*) FROM certificates c JOIN requests r USING (RequestID) WHERE length(c.RawCertificate) > 100 AND c.CertificateHash IS NOT NULL AND r.Disposition = 20 AND (SELECT count(*) FROM events e WHERE e.SerialNumber = c.SerialNumber AND e.Type = 1) = 1")" "$n1"
check_eq "every request recorded has its certificate" "$(db "$B" "SELECT count(*) FROM requests")" "$n1"
# openssl reads stored certificates back (200 drawn at random) with the
# serial of their row.
db "$B" "SELECT SerialNumber, hex(RawCertificate) FROM certificates ORDER BY random() LIMIT 200" >"$T/rows"
badrows=0
while IFS='|' read -r s hx; do
    got=$(printf '%s' "$hx" | xxd -r -p | openssl x509 -inform DER -noout -serial 2>/dev/null | cut -d= -f2)
    [ "$got" = "$s" ] || badrows=$((badrows + 1))
done <"$T/rows"
check_eq "openssl: stored certificates parse, with their row's serial" "$badrows" 0
openssl req -new -key "$T/k.pem" -subj "/CN=after.example.org" -addext "subjectAltName=DNS:after.example.org" -out "$T/after.csr" 2>/dev/null
cm "$B" submit "$T/after.csr" >"$T/after.out" 2>"$T/after.err"
check_eq "the next submit runs (exit 0)" "$?" 0
check_match "...and reports the interrupted batch with what it recorded" "$(cat "$T/after.err")" \
    "earlier submit of 8000 requests .* was interrupted; $n1 of them were recorded: $n1 issued, 0 pending, 0 denied \(RequestIDs 1\.\.$n1;"
check_eq "view lists those requests" \
    "$(cm "$B" view --restrict "RequestID>=1,RequestID<=$n1,Disposition=issued" --out RequestID --format csv | tail -n +2 | wc -l)" "$n1"
cm "$B" submit "$T/after.csr" >/dev/null 2>"$T/after2.err"
check_eq "...reported once" "$(grep -c interrupted "$T/after2.err")" 0
# Counters after the kill (the killed group's values were never stored,
# PostgreSQL keeps them in memory until its commit): the next RequestID is
# above every recorded one, and event IDs follow the RequestIDs' order.
aid=$(cut -f1 "$T/after.out" | head -n 1)
[ "${aid:-0}" -gt "$n1" ] && ok "the next RequestID ($aid) is above the recorded ones ($n1)" ||
    fail "next RequestID '$aid' after $n1 recorded"
check_eq "event IDs in the order of their RequestIDs" \
    "$(db "$B" "SELECT count(*) FROM (SELECT RequestID, lag(RequestID) OVER (ORDER BY ID) AS p FROM events WHERE Type = 1) AS x WHERE RequestID < p")" 0
check_eq "...none repeats a RequestID" \
    "$(db "$B" "SELECT count(*) - count(DISTINCT RequestID) FROM events WHERE Type = 1")" 0
done_testing
