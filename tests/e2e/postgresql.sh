#!/bin/sh
# A CA whose database is in PostgreSQL (docs/postgresql.md): init --db on a
# private server (scripts/pg.sh), the password only in a password file, the
# rows checked with psql, two processes issuing at once on one database,
# backup (an SQLite snapshot) and its verification, and the refusals: a
# password in the URL, a wrong password, a database that is already a CA's.
. "$(dirname "$0")/lib.sh"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ] || ! [ -x "$PGBIN/psql" ]; then
    ok "skipped: PostgreSQL is not installed (scripts/install-deps.sh)"
    done_testing
fi
# Our own server unless the run already has one (tests/run.sh, lib.sh).
if [ -z "${CERTMINT_TEST_PG:-}" ]; then
    chmod 711 "$T"
    sh "$TOP/scripts/pg.sh" start "$T/pg" >"$T/pg.start" 2>&1 ||
        { fail "start PostgreSQL: $(tail -n 3 "$T/pg.start" | tr '\n' ' ')"; done_testing; }
    eval "$(sh "$TOP/scripts/pg.sh" env "$T/pg")"
    at_exit 'sh "$TOP/scripts/pg.sh" stop "$T/pg"'
fi
check "the password file is 0600" test "$(stat -c %a "$PGPASSFILE")" = 600
# psql URL SQL: an independent reader of what certmint stored.
q() {
    "$PGBIN/psql" -X -q -A -t -w "$1" -c "$2"
}

URL="$CERTMINT_TEST_PG/cm_pgtest_$(openssl rand -hex 4)"
H="$T/ca"
"$CM" --home "$H" --passphrase-file "$PASS" init --subject "/CN=PG Root/O=certmint tests" \
    --db "$URL" >"$T/init.out" 2>&1
check_match "init --db makes a CA" "$(cat "$T/init.out")" "Root CA created"
check_eq "certmint.conf records db.url" "$(grep '^db.url' "$H/certmint.conf")" "db.url = $URL"
check_fails "no SQLite database in the home" test -e "$H/certmint.db"
check_eq "the schema is there (version 2: the vault table of key archival)" \
    "$(q "$URL" "SELECT value FROM meta WHERE key = 'schema_version'")" 2
check_eq "init's audit record is in PostgreSQL" "$(q "$URL" "SELECT action FROM audit")" init

# Issue, revoke, CRL: the rows as psql sees them.
for i in 1 2 3; do
    make_csr ec:p256 "$T/c$i.csr" "$T/c$i.key" "/CN=c$i.example.org" "DNS:c$i.example.org"
done
check "submit" cm "$H" submit --profile tls-server --out "$T/c1.pem" "$T/c1.csr"
serial=$(openssl x509 -in "$T/c1.pem" -noout -serial | sed 's/serial=//')
check_eq "the certificate's row has its serial" \
    "$(q "$URL" "SELECT SerialNumber FROM certificates WHERE RequestID = 1")" "$serial"
check_eq "the row's DER is the certificate" \
    "$(q "$URL" "SELECT encode(RawCertificate, 'hex') FROM certificates WHERE RequestID = 1")" \
    "$(openssl x509 -in "$T/c1.pem" -outform DER | od -An -v -tx1 | tr -d ' \n')"
check "revoke" cm "$H" revoke "$serial" --reason keyCompromise
check "crl" cm "$H" crl
check_match "the CRL lists it" \
    "$(openssl crl -inform DER -in "$H/crl/ca.crl" -noout -text)" "Serial Number: $serial"
check_eq "the CRL's row" "$(q "$URL" "SELECT Number, Entries FROM crls")" "1|1"
check_eq "view reads PostgreSQL" "$(cm "$H" view --out SerialNumber,RevokedReason --format csv |
    tail -n +2 | tr -d '\r')" "$serial,keyCompromise"

# Two processes (two nodes: the same home copied) issue at once on one
# database: no RequestID or serial twice, every certificate has its row.
cp -a "$H" "$T/node2"
for i in $(seq 1 12); do
    make_csr ec:p256 "$T/a$i.csr" "$T/a$i.key" "/CN=a$i.example.org" "DNS:a$i.example.org"
    make_csr ec:p256 "$T/b$i.csr" "$T/b$i.key" "/CN=b$i.example.org" "DNS:b$i.example.org"
done
(for i in $(seq 1 12); do cm "$H" submit --profile tls-server "$T/a$i.csr" || exit 1; done) \
    >"$T/n1.out" 2>&1 &
p1=$!
(for i in $(seq 1 12); do cm "$T/node2" submit --profile tls-server "$T/b$i.csr" || exit 1; done) \
    >"$T/n2.out" 2>&1 &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
check_eq "both nodes issued every request" "$r1 $r2" "0 0"
check_eq "25 certificates, 25 distinct serials and RequestIDs" \
    "$(q "$URL" "SELECT count(*), count(DISTINCT SerialNumber), count(DISTINCT RequestID) FROM certificates")" \
    "25|25|25"
check_eq "RequestIDs 1..25 without a gap" \
    "$(q "$URL" "SELECT min(RequestID), max(RequestID) FROM requests")" "1|25"
check_eq "the serials the nodes printed are the rows'" \
    "$(cat "$T/n1.out" "$T/n2.out" | awk '{print $3}' | sort | tr '\n' ' ')" \
    "$(q "$URL" "SELECT SerialNumber FROM certificates WHERE RequestID > 1 ORDER BY 1" |
        sort | tr '\n' ' ')"

# Backup: a consistent snapshot written as an SQLite database.
check "backup" cm "$H" backup "$T/bk"
check_eq "the backup's database is SQLite with every certificate" \
    "$(sqlite3 "$T/bk/certmint.db" "SELECT count(*) FROM certificates")" 25
check_eq "  ... and the counters" \
    "$(sqlite3 "$T/bk/certmint.db" "SELECT value FROM meta WHERE key = 'counter.request_id'")" 25
check "backup --verify" cm "$H" backup --verify "$T/bk"

# An SQLite CA moved to PostgreSQL: its backup restored with --db.
S="$T/sqlite-ca"
"$CM" --home "$S" --passphrase-file "$PASS" init --subject "/CN=SQLite Root" >/dev/null 2>&1
"$CM" --home "$S" --passphrase-file "$PASS" submit --profile tls-server "$T/c2.csr" >/dev/null 2>&1
"$CM" --home "$S" --passphrase-file "$PASS" revoke \
    "$("$CM" --home "$S" view --out SerialNumber --format csv | tail -n 1 | tr -d '\r')" \
    superseded >/dev/null 2>&1
"$CM" --home "$S" --passphrase-file "$PASS" backup "$T/sbk" >/dev/null 2>&1
check "the SQLite CA has an SQLite database" test -s "$S/certmint.db"
URL2="$CERTMINT_TEST_PG/cm_pgmoved_$(openssl rand -hex 4)"
check "restore --db moves it into PostgreSQL" \
    "$CM" --home "$S" --passphrase-file "$PASS" restore "$T/sbk" --home "$T/moved" --db "$URL2"
check_eq "  ... the moved home names the database" "$(grep '^db.url' "$T/moved/certmint.conf")" \
    "db.url = $URL2"
check_eq "  ... the same view as the SQLite CA" \
    "$(cm "$T/moved" view --out RequestID,SerialNumber,RevokedReason --format csv)" \
    "$(cm "$S" view --out RequestID,SerialNumber,RevokedReason --format csv)"
check_eq "  ... the rows are in PostgreSQL, the revocation too" \
    "$(q "$URL2" "SELECT count(*), max(RevokedReason) FROM certificates")" "1|4"
check "  ... and it issues" cm "$T/moved" submit --profile tls-server --out "$T/c3.pem" "$T/c3.csr"
check_eq "  ... going on from the SQLite CA's RequestID" \
    "$(q "$URL2" "SELECT RequestID FROM certificates ORDER BY 1 DESC LIMIT 1")" 2
check "  ... under the same CA key" openssl verify -CAfile "$S/ca.crt" "$T/c3.pem"

# Refusals, each leaving nothing behind.
PWURL=$(printf '%s' "$CERTMINT_TEST_PG" | sed 's|//certmint@|//certmint:secret@|')/cm_pw
check_fails "a password in the URL is refused" \
    "$CM" --home "$T/pw" --passphrase-file "$PASS" init --subject /CN=x --db "$PWURL"
check_match "  ... saying where the password goes" "$(cat "$T/last.out")" "password file"
check_fails "  ... no home made" test -e "$T/pw/certmint.conf"
check_fails "config set db.url with a password is refused" cm "$H" config set db.url "$PWURL"
check_eq "  ... db.url unchanged" "$(grep '^db.url' "$H/certmint.conf")" "db.url = $URL"
printf '127.0.0.1:*:*:certmint:wrong\n' >"$T/badpass"
chmod 600 "$T/badpass"
check_fails "a wrong password is refused" env PGPASSFILE="$T/badpass" \
    "$CM" --home "$H" view
check_match "  ... as an authentication failure" "$(cat "$T/last.out")" \
    "password authentication failed.*PGPASSFILE"
check_fails "init --db on a database that is already a CA's" \
    "$CM" --home "$T/second" --passphrase-file "$PASS" init --subject /CN=x --db "$URL"
check_match "  ... is refused" "$(cat "$T/last.out")" "already exists"
check_eq "  ... and the first CA's rows are intact" \
    "$(q "$URL" "SELECT count(*) FROM certificates")" 25
done_testing
