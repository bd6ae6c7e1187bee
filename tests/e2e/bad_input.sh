#!/bin/sh
# Bad input: one clear error line naming the input and the reason, non-zero
# exit, database byte-identical.
. "$(dirname "$0")/lib.sh"

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
make_csr ec:p256 "$T/good.csr" "$T/good.key" "/CN=good.example.org" "DNS:good.example.org"
serial=$(cm "$H" submit --profile tls-server --out "$T/good.pem" "$T/good.csr" | cut -f3)
ref=$(db_state "$H")

# bad "what" expected-regex command...: fails, one line on stderr naming the
# input, database unchanged.
bad() {
    what=$1 re=$2
    shift 2
    "$@" >"$T/bad.out" 2>"$T/bad.err"
    rc=$?
    if [ "$rc" -eq 0 ]; then fail "$what: succeeded"; return; fi
    lines=$(wc -l <"$T/bad.err")
    msg=$(cat "$T/bad.err")
    if [ "$lines" -ne 1 ]; then fail "$what: $lines error lines: $msg"; return; fi
    if ! printf '%s' "$msg" | grep -Eq -- "$re"; then fail "$what: '$msg' does not match /$re/"; return; fi
    if [ "$(db_state "$H")" != "$ref" ]; then fail "$what: database changed"; ref=$(db_state "$H"); return; fi
    ok "$what"
}

head -c 100 "$T/good.csr" >"$T/trunc.csr"
openssl req -in "$T/good.csr" -outform DER -out "$T/good.der"
head -c 60 "$T/good.der" >"$T/trunc.der"
head -c 5000 /dev/urandom >"$T/garbage.csr"
printf '' >"$T/empty.csr"
sed 's/CERTIFICATE REQUEST/CERTIFICATE/' "$T/good.csr" >"$T/label.csr"
head -c 200000 /dev/zero | tr '\0' 'A' >"$T/huge.csr"
# A bad signature: flip one byte inside the signature (near the end of the DER).
python3 - "$T/good.der" "$T/badsig.der" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[-5] ^= 0x01
open(sys.argv[2], 'wb').write(d)
PY
cp "$T/good.der" "$T/trailing.der"; printf 'xx' >>"$T/trailing.der"

bad "truncated PEM CSR" "trunc.csr: .*(PEM|bad)" cm "$H" submit "$T/trunc.csr"
bad "truncated DER CSR" "trunc.der: " cm "$H" submit "$T/trunc.der"
bad "garbage CSR" "garbage.csr: " cm "$H" submit "$T/garbage.csr"
bad "empty CSR" "empty.csr: .*empty" cm "$H" submit "$T/empty.csr"
bad "wrongly labelled PEM" "label.csr: .*label" cm "$H" submit "$T/label.csr"
bad "oversized CSR" "huge.csr: .*(too large|limit)" cm "$H" submit "$T/huge.csr"
bad "badly signed CSR" "badsig.der: .*signature" cm "$H" submit "$T/badsig.der"
bad "trailing data after the CSR" "trailing.der: .*trailing" cm "$H" submit "$T/trailing.der"
bad "missing CSR file" "nosuch.csr: No such file" cm "$H" submit "$T/nosuch.csr"
bad "batch with one bad CSR changes nothing" "garbage.csr" cm "$H" submit "$T/good.csr" "$T/garbage.csr"
bad "unknown profile" "unknown profile 'nope'" cm "$H" submit --profile nope "$T/good.csr"
bad "unknown revocation reason" "reason.*'sloppiness'" cm "$H" revoke "$serial" sloppiness
bad "malformed serial" "serial number 'XYZ'" cm "$H" revoke XYZ
bad "too long serial" "20 octets" cm "$H" revoke 0102030405060708090A0B0C0D0E0F101112131415
bad "zero serial" "zero" cm "$H" revoke 00:00
bad "unknown serial" "no such certificate" cm "$H" revoke 7F0102030405
bad "unknown view column" "Bogus" cm "$H" view --restrict "Bogus=1"
bad "malformed restrict expression" "restrict|operator|expected" cm "$H" view --restrict "RequestID~~3"
bad "bad date in restrict" "date" cm "$H" view --restrict "NotAfter<2026-13-45"
bad "unknown config key" "no.such.key" cm "$H" config set no.such.key 1
bad "bad config value" "crl.period" cm "$H" config set crl.period soon
bad "bad request ID" "request ID" cm "$H" approve abc
bad "unknown request ID" "request 999: no such request" cm "$H" approve 999
bad "bad subject on placeholder" "subject|attribute|DN" cm "$H" placeholder 0102030405060708AA --subject "/XX=foo"
bad "import of a CSR instead of a certificate" "good.csr: PEM label" cm "$H" import-cert "$T/good.csr"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/foreign.key" \
    -subj "/CN=Test Root ec:p256/O=certmint tests" -days 10 -out "$T/foreign.pem" 2>/dev/null
bad "import of a foreign certificate (same issuer name, other key)" "foreign.pem: .*(not issued by this CA|does not verify)" cm "$H" import-cert "$T/foreign.pem"
bad "import of a certificate already in the database" "already in the database" cm "$H" import-cert "$T/good.pem"
bad "missing CA home" "no such CA home" "$CM" --home "$T/none" --passphrase-file "$PASS" view
bad "no CA home given" "no CA home" env -u CERTMINT_HOME "$CM" view

# Wrong passphrase (a key file only: a token key has a PIN, tests/e2e/pkcs11.sh).
if [ "$KEYSTORE" = file ]; then
    printf 'wrong-passphrase\n' >"$T/wrong"
    chmod 600 "$T/wrong"
    bad "wrong passphrase" "cannot decrypt the CA key \\(wrong passphrase\\?\\)" "$CM" --home "$H" --passphrase-file "$T/wrong" submit "$T/good.csr"
    chmod 644 "$T/wrong"
    cp "$PASS" "$T/open.pass"
    chmod 640 "$T/open.pass"
    bad "passphrase file readable by the group" "passphrase file $T/open.pass is readable by group or others \\(mode 0640\\): run chmod 600 $T/open.pass" \
        "$CM" --home "$H" --passphrase-file "$T/open.pass" submit "$T/good.csr"
    chmod 620 "$T/open.pass"
    bad "passphrase file writable by the group" "passphrase file $T/open.pass is writable by group or others \\(mode 0620\\)" \
        "$CM" --home "$H" --passphrase-file "$T/open.pass" crl
else
    ok "skipped with CERTMINT_TEST_KEYSTORE=$KEYSTORE: passphrase errors (the key is in the token)"
fi
bad "output file inside the CA home" "$H/x.pem: inside the CA home" cm "$H" submit --out "$H/x.pem" "$T/good.csr"
bad "output file exists" "good.pem: already exists; give --force" cm "$H" submit --out "$T/good.pem" "$T/good.csr"

# A missing database, a missing home file, a corrupt SQLite file: each its
# own message. PostgreSQL: the home's copies would share its database.
if [ "$TESTDB" != sqlite ]; then
    ok "skipped with CERTMINT_TEST_DB=$TESTDB: a missing or corrupt SQLite file"
else
M="$T/missing"
cp -r "$H" "$M"
rm "$M/certmint.db"
bad "missing database" "$M/certmint.db: CA database missing" "$CM" --home "$M" --passphrase-file "$PASS" view
rm "$M/certmint.conf"
bad "missing configuration" "$M: not a CA home \\(no certmint.conf\\)" "$CM" --home "$M" --passphrase-file "$PASS" view

# A corrupt CA home.
C="$T/corrupt"
cp -r "$H" "$C"
head -c 4096 /dev/urandom >"$C/certmint.db"
cp "$C/certmint.db" "$T/corrupt-ref.db"
"$CM" --home "$C" --passphrase-file "$PASS" view >"$T/c.out" 2>"$T/c.err"
rc=$?
[ "$rc" -ne 0 ] && [ "$(wc -l <"$T/c.err")" -eq 1 ] && grep -q "certmint.db" "$T/c.err" &&
    ok "corrupt database: one error line naming the file" || fail "corrupt database: rc=$rc $(cat "$T/c.err")"
cmp -s "$C/certmint.db" "$T/corrupt-ref.db" && ok "corrupt database left as it was" || fail "corrupt database modified"
fi
C2="$T/corrupt2"
cp -r "$H" "$C2"
echo "garbage" >"$C2/ca.crt"
"$CM" --home "$C2" --passphrase-file "$PASS" view >"$T/c.out" 2>"$T/c.err"
[ $? -ne 0 ] && grep -q "ca.crt" "$T/c.err" && ok "corrupt CA certificate named" || fail "corrupt CA certificate: $(cat "$T/c.err")"
C3="$T/corrupt3"
cp -r "$H" "$C3"
echo "this is = not valid [" >>"$C3/certmint.conf"
"$CM" --home "$C3" --passphrase-file "$PASS" view >"$T/c.out" 2>"$T/c.err"
[ $? -ne 0 ] && grep -q "certmint.conf" "$T/c.err" && ok "bad configuration line named" || fail "bad configuration: $(cat "$T/c.err")"
check_fails "init refuses an existing CA home" new_root "$H" ec:p256

done_testing
