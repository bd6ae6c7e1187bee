#!/bin/sh
# certmint db migrate (docs/postgresql.md): an SQLite CA moved to a new
# PostgreSQL database and back, every table's rows compared with the
# backends' own clients (sqlite3, psql), the certificates' DER byte for byte,
# issuance going on after each move; and the refusals: a target that holds
# a CA already, a bad --to, each leaving the database and certmint.conf as
# they were.
. "$(dirname "$0")/lib.sh"

# Always on PostgreSQL: under make check (tests/run-both.sh) it runs once,
# in the PostgreSQL pass.
if [ "${CERTMINT_BOTH:-0}" = 1 ] && [ "$TESTDB" = sqlite ]; then
    ok "skipped in the SQLite pass: runs in the PostgreSQL pass of make check"
    done_testing
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$PGBIN" ] || ! [ -x "$PGBIN/psql" ] || ! command -v sqlite3 >/dev/null; then
    ok "skipped: PostgreSQL or sqlite3 is not installed (scripts/install-deps.sh)"
    done_testing
fi
if [ -z "${CERTMINT_TEST_PG:-}" ]; then
    chmod 711 "$T"
    sh "$TOP/scripts/pg.sh" start "$T/pg" >"$T/pg.start" 2>&1 ||
        { fail "start PostgreSQL: $(tail -n 3 "$T/pg.start" | tr '\n' ' ')"; done_testing; }
    eval "$(sh "$TOP/scripts/pg.sh" env "$T/pg")"
    at_exit 'sh "$TOP/scripts/pg.sh" stop "$T/pg"'
fi
pq() { "$PGBIN/psql" -X -q -A -t -w -v ON_ERROR_STOP=1 "$1" -c "$2"; }
sq() { sqlite3 "$1" "$2"; }
# The same rows from either side: one line per row, blobs as lower-case hex.
ROWS_CERT="SELECT SerialNumber, RequestID, RevokedReason, lower(hex(RawCertificate)) FROM certificates ORDER BY 1"
ROWS_CERT_PG="SELECT SerialNumber, RequestID, RevokedReason, encode(RawCertificate, 'hex') FROM certificates ORDER BY 1"
ROWS_REQ="SELECT RequestID, Disposition, RequesterName, CertificateTemplate FROM requests ORDER BY 1"
ROWS_OTHER="SELECT 'crl', Number, Entries, Hash FROM crls UNION ALL SELECT 'ev', ID, Type, SerialNumber FROM events UNION ALL SELECT 'au', count(*), 0, '' FROM audit ORDER BY 1, 2"
H="$T/ca"
# An SQLite CA whatever CERTMINT_TEST_DB says: this script moves it.
"$CM" --home "$H" --passphrase-file "$PASS" init --subject "/CN=Migrate Root/O=certmint tests" \
    >/dev/null 2>&1 || { fail "init"; done_testing; }
for i in 1 2 3 4 5 6; do
    make_csr ec:p256 "$T/c$i.csr" "$T/c$i.key" "/CN=m$i.example.org" "DNS:m$i.example.org"
done
for i in 1 2 3 4; do
    "$CM" --home "$H" --passphrase-file "$PASS" submit --profile tls-server --out "$T/c$i.pem" \
        "$T/c$i.csr" >/dev/null 2>&1 || fail "submit $i"
done
s2=$(openssl x509 -in "$T/c2.pem" -noout -serial | sed 's/serial=//')
check "revoke" "$CM" --home "$H" --passphrase-file "$PASS" revoke "$s2" keyCompromise
check "crl" "$CM" --home "$H" --passphrase-file "$PASS" crl
DB="$H/certmint.db"
sq "$DB" "$ROWS_CERT" >"$T/sq.cert"
sq "$DB" "$ROWS_REQ" >"$T/sq.req"
sq "$DB" "$ROWS_OTHER" >"$T/sq.other"
check_eq "four certificates before" "$(wc -l <"$T/sq.cert" | tr -d ' ')" 4

# --- refusals: nothing changes ---------------------------------------------
URL="$CERTMINT_TEST_PG/cm_migrate_$(openssl rand -hex 5)"
OTHER="$T/other"
"$CM" --home "$OTHER" --passphrase-file "$PASS" init --subject "/CN=Other" --db "$URL.x" \
    >/dev/null 2>&1 || fail "init of another CA on PostgreSQL"
before=$(sha256sum <"$DB")
conf=$(sha256sum <"$H/certmint.conf")
"$CM" --home "$H" db migrate --to "$URL.x" >"$T/r1.out" 2>"$T/r1.err"
check_eq "a target that holds a CA: refused" "$?" 1
check_match "  ... naming it" "$(cat "$T/r1.err")" "already holds a CA database"
"$CM" --home "$H" db migrate --to "mysql://x/y" >"$T/r2.out" 2>"$T/r2.err"
check_eq "--to mysql://: refused" "$?" 1
check_match "  ... naming it" "$(cat "$T/r2.err")" "neither a postgresql:// URL nor 'sqlite'"
"$CM" --home "$H" db migrate --to sqlite >/dev/null 2>"$T/r3.err"
check_eq "--to sqlite on an SQLite CA: refused" "$?" 1
check_eq "  ... the database and certmint.conf unchanged" \
    "$(sha256sum <"$DB") $(sha256sum <"$H/certmint.conf")" "$before $conf"

# --- SQLite -> PostgreSQL ----------------------------------------------------
"$CM" --home "$H" db migrate --to "$URL" >"$T/m1.out" 2>"$T/m1.err"
check_eq "migrate to PostgreSQL" "$?" 0
check_match "  ... prints every table with its rows and hash" "$(cat "$T/m1.out")" \
    "certificates +4 +4 +[0-9a-f]{64} +yes"
check_eq "  ... 8 tables (vault included), all matching" "$(grep -cE ' [0-9a-f]{64}  yes$' "$T/m1.out")" 8
check_eq "  ... certmint.conf names it" "$(db_url_of "$H")" "$URL"
check_eq "  ... certificates as psql reads them" "$(pq "$URL" "$ROWS_CERT_PG")" "$(cat "$T/sq.cert")"
check_eq "  ... requests" "$(pq "$URL" "$ROWS_REQ")" "$(cat "$T/sq.req")"
# The migration's own audit record is in both (written before the copy).
check_eq "  ... CRLs, events, audit" "$(pq "$URL" "$ROWS_OTHER")" "$(cat "$T/sq.other" |
    awk -F'|' '$1 == "au" { $2 = $2 + 1 } 1' OFS='|')"
check_eq "  ... the old SQLite file is kept" "$(sq "$DB" 'SELECT count(*) FROM certificates')" 4
check "  ... retrieve reads PostgreSQL" "$CM" --home "$H" --passphrase-file "$PASS" retrieve 1 \
    --out "$T/r1.pem"
check "  ... the same certificate" cmp "$T/r1.pem" "$T/c1.pem"
check "  ... issuance goes on" "$CM" --home "$H" --passphrase-file "$PASS" submit \
    --profile tls-server --out "$T/c5.pem" "$T/c5.csr"
check_eq "  ... with the next RequestID" "$(pq "$URL" "SELECT max(RequestID) FROM certificates")" 5
check "  ... and verifies under the CA" openssl verify -CAfile "$H/ca.crt" "$T/c5.pem"
check_eq "  ... the SQLite file got nothing" "$(sq "$DB" 'SELECT max(RequestID) FROM requests')" 4

# --- and back: PostgreSQL -> SQLite -----------------------------------------
mv "$DB" "$T/old.db"
rm -f "$DB-wal" "$DB-shm"
pq "$URL" "$ROWS_CERT_PG" >"$T/pg.cert"
"$CM" --home "$H" db migrate --to sqlite >"$T/m2.out" 2>"$T/m2.err"
check_eq "migrate back to SQLite" "$?" 0
check_eq "  ... 8 tables (vault included), all matching" "$(grep -cE ' [0-9a-f]{64}  yes$' "$T/m2.out")" 8
check_eq "  ... db.url gone from certmint.conf" "$(db_url_of "$H")" ""
check_eq "  ... certificates as sqlite3 reads them" "$(sq "$DB" "$ROWS_CERT")" "$(cat "$T/pg.cert")"
check_eq "  ... five of them" "$(sq "$DB" 'SELECT count(*) FROM certificates')" 5
check "  ... integrity_check" test "$(sq "$DB" 'PRAGMA integrity_check')" = ok
check "  ... issuance goes on" "$CM" --home "$H" --passphrase-file "$PASS" submit \
    --profile tls-server --out "$T/c6.pem" "$T/c6.csr"
check_eq "  ... in SQLite, RequestID 6" "$(sq "$DB" 'SELECT max(RequestID) FROM certificates')" 6
check_eq "  ... PostgreSQL got nothing" "$(pq "$URL" "SELECT max(RequestID) FROM requests")" 5
check "  ... the CRL still lists the revoked one" sh -c \
    "openssl crl -inform DER -in '$H/crl/ca.crl' -noout -text | grep -q 'Serial Number: $s2'"
pq "$CERTMINT_TEST_PG/postgres" "DROP DATABASE IF EXISTS \"${URL##*/}\" WITH (FORCE)" >/dev/null 2>&1
pq "$CERTMINT_TEST_PG/postgres" "DROP DATABASE IF EXISTS \"${URL##*/}.x\" WITH (FORCE)" >/dev/null 2>&1
done_testing
