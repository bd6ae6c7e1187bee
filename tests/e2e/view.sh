#!/bin/sh
# certmint view against a real CA home. The rows are written with the
# sqlite3 command-line tool (so the view is checked against data that did
# not come through certmint's own insert code), and the output is read back
# with Python's csv and json modules and openssl.
. "$(dirname "$0")/lib.sh"

H="$T/ca"
if ! new_root "$H" ec:p256 >"$T/init.out" 2>&1; then
    fail "init: $(tail -n 3 "$T/init.out" | tr '\n' ' ')"
    done_testing
fi
DB="$H/certmint.db"
if [ "$TESTDB" = sqlite ]; then
    check "database exists" test -f "$DB"
fi

# A real end-entity certificate to store.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ee.key" \
    -subj "/CN=view e2e/O=Example" -days 30 -outform DER -out "$T/ee.der" 2>/dev/null
now=$(date +%s)
na=$((now + 20 * 86400))
# The same SQL for both backends but the DER: sqlite3's readfile(), a hex
# literal for psql.
if [ "$TESTDB" = sqlite ]; then
    der="readfile('$T/ee.der')"
    pragma="PRAGMA foreign_keys=ON;"
else
    der="decode('$(od -An -v -tx1 "$T/ee.der" | tr -d ' \n')', 'hex')"
    pragma=""
fi
db_sql "$H" "$(cat <<EOF
$pragma
BEGIN;
INSERT INTO requests(RequestID, RequesterName, SubmittedWhen, ResolvedWhen, Disposition,
    RequestDistinguishedName) VALUES
    (101, 'alice', $now, $now, 20, 'CN=view e2e,O=Example'),
    (102, 'bob', $now, NULL, 9, 'CN=pending one'),
    (103, 'carol', $now, $now, 20, 'CN=revoked, with comma');
INSERT INTO certificates(SerialNumber, RequestID, NotBefore, NotAfter, DistinguishedName,
    CommonName, RawCertificate) VALUES
    ('0A1B2C3D', 101, $now, $na, 'CN=view e2e,O=Example', 'view e2e', $der),
    ('7F', 103, $now, $((now + 400 * 86400)), 'CN=revoked\, with comma', 'revoked, with comma',
     NULL);
UPDATE certificates SET RevokedReason = 1, RevokedWhen = $now, RevokedEffectiveWhen = $now,
    RevSeq = 1 WHERE SerialNumber = '7F';
COMMIT;
EOF
)" >"$T/sql.out" 2>&1
check_eq "rows written with sqlite3" "$(cat "$T/sql.out")" ""

out=$(cm "$H" view 2>&1)
check_match "table has a header" "$out" "^RequestID +Disposition +SerialNumber +CommonName +NotAfter +RevokedReason"
check_match "table lists the issued row" "$out" "101 +issued +0A1B2C3D +view e2e"
check_match "table shows a pending row as EMPTY" "$out" "102 +pending +EMPTY"
check_match "table shows the revoked row" "$out" "103 +revoked +7F +revoked, with comma .*keyCompromise"

cm "$H" view --format csv --out RequestID,CommonName,SerialNumber,RawCertificate,Disposition \
    >"$T/v.csv" 2>"$T/err"
check "csv parses (RFC 4180) and round-trips the certificate" python3 -c '
import base64, csv, sys
rows = list(csv.reader(open(sys.argv[1], newline=""), strict=True))
assert rows[0] == ["RequestID", "CommonName", "SerialNumber", "RawCertificate", "Disposition"], rows[0]
ours = [r for r in rows[1:] if r[0] in ("101", "102", "103")]
assert [r[0] for r in ours] == ["101", "102", "103"], ours
assert ours[0][2] == "0A1B2C3D" and ours[2][1] == "revoked, with comma"
assert ours[1][2] == "" and ours[2][4] == "revoked"
open(sys.argv[2], "wb").write(base64.b64decode(ours[0][3], validate=True))
' "$T/v.csv" "$T/back.der"
check "certificate from the view is identical" cmp "$T/ee.der" "$T/back.der"
check_match "openssl reads the certificate from the view" \
    "$(openssl x509 -inform DER -in "$T/back.der" -noout -subject 2>&1)" "CN ?= ?view e2e"

cm "$H" view --format json --restrict "RequestID>=101" >"$T/v.json" 2>"$T/err"
check "json parses" python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
assert [r["RequestID"] for r in rows] == [101, 102, 103], rows
assert rows[1]["SerialNumber"] is None and rows[2]["RevokedReason"] == "keyCompromise"
' "$T/v.json"

check_eq "restrict by serial in colon form" \
    "$(cm "$H" view --format csv --out RequestID --restrict 'SerialNumber = 0a:1b:2c:3d' | tr -d '\r')" \
    "RequestID
101"
check_eq "restrict by disposition and expiry" \
    "$(cm "$H" view --format csv --out RequestID \
        --restrict 'Disposition=issued, NotAfter>=now, NotAfter<now+30d' | tr -d '\r')" \
    "RequestID
101"
check_eq "restrict by quoted text" \
    "$(cm "$H" view --format csv --out RequestID --restrict 'CommonName="revoked, with comma"' |
        tr -d '\r')" \
    "RequestID
103"
check_eq "limit" "$(cm "$H" view --format csv --out RequestID --restrict 'RequestID>=101' \
    --limit 1 | tr -d '\r')" "RequestID
101"

cm "$H" view --out RequestID,Bogus >"$T/o" 2>"$T/e"
rc=$?
check_eq "unknown --out column is a usage error" "$rc" 2
check_eq "nothing printed before the error" "$(cat "$T/o")" ""
check_match "the error names the column" "$(cat "$T/e")" "Bogus"
cm "$H" view --restrict 'RequestID=1, NotAfter < tomorrow' >"$T/o" 2>"$T/e"
rc=$?
check_eq "bad restriction is a usage error" "$rc" 2
check_match "the error names the term" "$(cat "$T/e")" "term 2 'NotAfter < tomorrow'"
check_fails "binary column cannot be restricted" cm "$H" view --restrict "RawCertificate=00"
check_fails "unknown format" cm "$H" view --format xml

done_testing
