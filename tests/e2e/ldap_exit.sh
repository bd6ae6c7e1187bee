#!/bin/sh
# The ldap exit module and `certmint dsverify` against a real slapd
# (scripts/slapd.sh): a CA home with exit.modules = ldap publishes its smime
# certificates on their owners' entries, removes them on revocation (and only
# them), publishes CRLs and the CA certificate on the CA entry. Fault cases:
# directory down, hanging, bind refused, entry missing, value rejected by the
# schema: the CA command still succeeds, `certmint exit status` names the
# problem, the event stays queued and `certmint exit flush` delivers it once
# fixed. Every result is checked with ldapsearch and byte comparison; the
# S/MIME case ends with openssl cms encrypting to the certificate fetched
# from the directory and decrypting with the user's key.
. "$(dirname "$0")/lib.sh"

SLAPD_SH="$TOP/scripts/slapd.sh"
if [ ! -x "$CM" ]; then
    fail "certmint not built"
    done_testing
fi

PORT=$(free_port)
S="$T/slapd"
BASE="dc=example,dc=org"
ADMIN="cn=admin,$BASE"
URL="ldap://127.0.0.1:$PORT"
if ! sh "$SLAPD_SH" start "$S" "$PORT" >"$T/start.log" 2>&1; then
    fail "slapd start: $(tail -n 3 "$T/start.log" | tr '\n' ' ')"
    done_testing
fi
at_exit "sh '$SLAPD_SH' stop '$S'"
check "test tree loaded" sh "$SLAPD_SH" load "$S" "$TOP/tests/data/ldap-tree.ldif"

# An entry whose structural class (cosine's pilotPerson) has mail but does
# not allow userCertificate: the server rejects a publication there.
cat >"$T/extra.ldif" <<EOF
dn: uid=rejected,ou=people,$BASE
objectClass: pilotPerson
uid: rejected
cn: Rejected Person
sn: Person
mail: rejected@example.org
EOF
check "entry without userCertificate in its schema loaded" sh "$SLAPD_SH" load "$S" "$T/extra.ldif"

# admin_modify LDIF-FILE: a change made by hand, as the directory's admin.
admin_modify() {
    ldapmodify -x -H "$URL" -D "$ADMIN" -y "$S/admin-password" -f "$1" >"$T/modify.log" 2>&1
}

# fetch DN ATTR: the values as files in $T/vals; prints their number.
fetch() {
    rm -rf "$T/vals"
    mkdir -p "$T/vals"
    ldapsearch -x -LLL -o ldif-wrap=no -H "$URL" -D "$ADMIN" -y "$S/admin-password" \
        -b "$1" -s base -tt -T "$T/vals" "$2" >"$T/vals.ldif" 2>&1 || {
        echo "ldapsearch-failed"
        return
    }
    grep -c ':< file://' "$T/vals.ldif"
}
# holds FILE: 1 when one of the fetched values is byte-identical to FILE.
holds() {
    for v in "$T"/vals/*; do
        [ -f "$v" ] && cmp -s "$1" "$v" && {
            echo 1
            return
        }
    done
    echo 0
}
# parses_all: 1 when every fetched value parses as a DER certificate.
parses_all() {
    for v in "$T"/vals/*; do
        [ -f "$v" ] || continue
        openssl x509 -inform DER -in "$v" -noout 2>/dev/null || {
            echo 0
            return
        }
    done
    echo 1
}
# All userCertificate values under the base.
count_all_certs() {
    ldapsearch -x -LLL -o ldif-wrap=no -H "$URL" -D "$ADMIN" -y "$S/admin-password" \
        -b "$BASE" "(userCertificate=*)" "userCertificate;binary" 2>/dev/null |
        grep -c '^userCertificate;binary::'
}

# The CA home: exit.modules ldap, the service account over StartTLS.
H="$T/home"
new_root "$H" ec:p256 >"$T/init.log" 2>&1 || {
    fail "init: $(tail -n 3 "$T/init.log" | tr '\n' ' ')"
    done_testing
}
CAE="cn=Mail CA,ou=pki,$BASE"
for kv in "exit.modules ldap" "ldap.uri $URL" "ldap.starttls yes" "ldap.cafile $S/tls/ca.crt" \
    "ldap.binddn cn=certmint,ou=services,$BASE" "ldap.password_file $S/certmint-password" \
    "ldap.base $BASE" "ldap.timeout 2s" "ldap.connect_timeout 2s"; do
    # shellcheck disable=SC2086
    check "config set ${kv%% *}" cm "$H" config set $kv
done
check "config set ldap.ca_entry" cm "$H" config set ldap.ca_entry "$CAE"

# ldap_status: the ldap lines of `certmint exit status` on one line.
ldap_status() {
    cm "$H" exit status 2>&1 | awk '/^ldap\t/ {f=1; print; next} f && /^\t/ {print; next} {f=0}' | tr '\n\t' '  '
}
backlog() {
    ldap_status | sed -n 's/.*backlog=\([0-9]*\).*/\1/p'
}

# issue NAME PROFILE SUBJECT SAN: submit a CSR made with openssl; the
# certificate lands in $T/NAME.pem and .der, its serial in $T/NAME.serial.
issue() {
    make_csr ec:p256 "$T/$1.csr" "$T/$1.key" "$3" "$4"
    if ! cm "$H" submit --profile "$2" --out "$T/$1.pem" "$T/$1.csr" >"$T/$1.out" 2>"$T/$1.err"; then
        fail "submit $1 ($2): $(cat "$T/$1.out" "$T/$1.err" | tr '\n' ' ')"
        return 1
    fi
    openssl x509 -in "$T/$1.pem" -outform DER -out "$T/$1.der"
    cut -f3 "$T/$1.out" | head -n 1 >"$T/$1.serial"
}

# A certificate Alice already has from another CA: made with openssl, put on
# her entry by hand. The module must leave it alone throughout.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other-ca.key" 2>/dev/null
openssl req -x509 -new -key "$T/other-ca.key" -subj "/CN=Other CA" -days 30 -out "$T/other-ca.pem" 2>/dev/null
make_csr ec:p256 "$T/other.csr" "$T/other.key" "/CN=Alice Example" "email:alice@example.org"
printf 'subjectAltName=email:alice@example.org\nextendedKeyUsage=emailProtection\n' >"$T/other.ext"
openssl x509 -req -in "$T/other.csr" -CA "$T/other-ca.pem" -CAkey "$T/other-ca.key" \
    -set_serial 0x1234 -days 30 -extfile "$T/other.ext" -outform DER -out "$T/other.der" 2>/dev/null
ALICE="uid=alice,ou=people,$BASE"
printf 'dn: %s\nchangetype: modify\nadd: userCertificate;binary\nuserCertificate;binary:< file://%s\n' \
    "$ALICE" "$T/other.der" >"$T/other.ldif"
check "Alice's certificate from another CA put on her entry by hand" admin_modify "$T/other.ldif"

# ---- Publication on issue -------------------------------------------------
issue alice smime "/CN=Alice Example/emailAddress=alice@example.org" "email:alice@example.org"
check_eq "smime certificate published on the owner's entry, her other certificate kept" \
    "$(fetch "$ALICE" "userCertificate;binary"):$(holds "$T/alice.der"):$(holds "$T/other.der")" "2:1:1"
check_eq "every published value parses as a DER certificate (openssl x509 -inform DER)" "$(parses_all)" 1
check_eq "event acknowledged: nothing queued" "$(backlog)" 0
check_match "exit status shows the module enabled" "$(ldap_status)" "^ldap +enabled"

before=$(count_all_certs)
issue web tls-server "/CN=mail.example.org" "DNS:mail.example.org"
check_eq "tls-server certificate not published (no value added anywhere)" "$(count_all_certs)" "$before"
check_eq "tls-server event acknowledged, not stuck" "$(backlog)" 0

check "flush with nothing queued succeeds" cm "$H" exit flush

# ---- Revocation removes exactly that value ---------------------------------
check "revoke Alice's smime certificate" cm "$H" revoke "$(cat "$T/alice.serial")" keyCompromise
check_eq "revocation removed exactly that value; the other certificate stays" \
    "$(fetch "$ALICE" "userCertificate;binary"):$(holds "$T/other.der")" "1:1"

# ---- Hold and release ------------------------------------------------------
DAVE="cn=Dave Partner,ou=contacts,$BASE"
issue dave smime "/CN=Dave Partner/emailAddress=dave@partner.example" "email:dave@partner.example"
check_eq "Dave's certificate published (matched by mail)" \
    "$(fetch "$DAVE" "userCertificate;binary"):$(holds "$T/dave.der")" "1:1"
check "certificateHold" cm "$H" revoke "$(cat "$T/dave.serial")" certificateHold
check_eq "on hold: removed" "$(fetch "$DAVE" "userCertificate;binary")" 0
check "release the hold" cm "$H" unrevoke "$(cat "$T/dave.serial")"
check_eq "released: published again" \
    "$(fetch "$DAVE" "userCertificate;binary"):$(holds "$T/dave.der")" "1:1"

# ---- CRLs and the CA certificate on the CA entry ----------------------------
check "certmint crl" cm "$H" crl
check_eq "certificateRevocationList byte-identical to crl/ca.crl (CA entry created)" \
    "$(fetch "$CAE" "certificateRevocationList;binary"):$(holds "$H/crl/ca.crl")" "1:1"
check "certmint crl --delta" cm "$H" crl --delta
check_eq "deltaRevocationList byte-identical to crl/delta.crl" \
    "$(fetch "$CAE" "deltaRevocationList;binary"):$(holds "$H/crl/delta.crl")" "1:1"
check "a second full CRL" cm "$H" crl
check_eq "the CRL attribute holds only the newest CRL" \
    "$(fetch "$CAE" "certificateRevocationList;binary"):$(holds "$H/crl/ca.crl")" "1:1"
check_match "the published CRL lists Alice's revoked serial" \
    "$(openssl crl -inform DER -in "$T"/vals/* -noout -text 2>&1 | tr -d ' \n')" \
    "SerialNumber:$(cat "$T/alice.serial")"
check "certmint serve --once" cm "$H" serve --once
openssl x509 -in "$H/ca.crt" -outform DER -out "$T/ca.der"
check_eq "cACertificate byte-identical to ca.crt after serve (STARTUP)" \
    "$(fetch "$CAE" "cACertificate;binary"):$(holds "$T/ca.der")" "1:1"
check "serve --once again" cm "$H" serve --once
check_eq "the CA certificate is published once (idempotent)" "$(fetch "$CAE" "cACertificate;binary")" 1

# ---- Directory down --------------------------------------------------------
ERIN="cn=Erin Partner,ou=contacts,$BASE"
check "stop the directory" sh "$SLAPD_SH" stop "$S"
issue erin smime "/CN=Erin Partner/emailAddress=erin@partner.example" "email:erin@partner.example" &&
    ok "directory down: the CA still issues (exit 0)"
check_match "the command warns that events stay queued" "$(cat "$T/erin.err")" "stay queued"
check_eq "backlog 1 while down" "$(backlog)" 1
check_match "exit status names the directory and the problem" "$(ldap_status)" \
    "last_error=.*CERTISSUED of certificate $(cat "$T/erin.serial").*127.0.0.1:$PORT.*(contact|connect)"
check_fails "exit flush while down: exit 1, still queued" cm "$H" exit flush
check "start the directory again (same data)" sh "$SLAPD_SH" restart "$S"
check_match "exit flush delivers once it is back" "$(cm "$H" exit flush 2>&1)" "delivered 1 event.*0 still queued"
check_eq "nothing lost: Erin's certificate on her entry" \
    "$(fetch "$ERIN" "userCertificate;binary"):$(holds "$T/erin.der")" "1:1"

# ---- Directory hanging: bounded by the deadlines -----------------------------
BOB="uid=bob,ou=people,$BASE"
kill -STOP "$(cat "$S/slapd.pid")"
start=$(date +%s)
issue bob smime "/CN=Bob Example/emailAddress=bob.example@example.org" "email:bob.example@example.org" &&
    ok "directory hanging: the CA still issues"
took=$(($(date +%s) - start))
kill -CONT "$(cat "$S/slapd.pid")"
[ "$took" -le 15 ] && ok "directory hanging: the command ends within the deadlines (${took}s)" ||
    fail "directory hanging: the command took ${took}s"
check_match "exit status: no answer in time" "$(ldap_status)" "last_error=.*(no answer|timed out|within)"
check_match "flush after it answers again" "$(cm "$H" exit flush 2>&1)" "0 still queued"
check_eq "Bob's certificate published (mail matched case-insensitively)" \
    "$(fetch "$BOB" "userCertificate;binary"):$(holds "$T/bob.der")" "1:1"

# ---- Bind refused ----------------------------------------------------------
printf 'not-the-password\n' >"$T/wrong-password"
chmod 600 "$T/wrong-password"
check "config: wrong password file" cm "$H" config set ldap.password_file "$T/wrong-password"
CAROL="uid=carol2,ou=people,$BASE"
printf 'dn: %s\nobjectClass: inetOrgPerson\nuid: carol2\ncn: Carol Two\nsn: Two\nmail: carol2@example.org\n' \
    "$CAROL" >"$T/carol2.ldif"
check "entry for Carol loaded" sh "$SLAPD_SH" load "$S" "$T/carol2.ldif"
issue carol smime "/CN=Carol Two/emailAddress=carol2@example.org" "email:carol2@example.org" &&
    ok "bind refused: the CA still issues"
check_match "exit status: the bind is refused, naming the bind DN" "$(ldap_status)" \
    "last_error=.*bind as cn=certmint,ou=services,$BASE: Invalid credentials.*ldap.password_file"
check_eq "the event stays queued" "$(backlog)" 1
check_fails "flush still fails" cm "$H" exit flush
check "config: the right password file" cm "$H" config set ldap.password_file "$S/certmint-password"
check_match "flush delivers" "$(cm "$H" exit flush 2>&1)" "delivered 1 event"
check_eq "Carol's certificate published" \
    "$(fetch "$CAROL" "userCertificate;binary"):$(holds "$T/carol.der")" "1:1"

# ---- Entry missing ---------------------------------------------------------
issue nobody smime "/CN=Nobody Here/emailAddress=nobody@example.org" "email:nobody@example.org" &&
    ok "entry missing: the CA still issues"
check_match "exit status names the address that has no entry" "$(ldap_status)" \
    "last_error=.*no entry under $BASE has mail=nobody@example.org"
check_eq "the event stays queued" "$(backlog)" 1
# A later event waits behind it (delivery is in order): revoke Bob.
check "revoke Bob meanwhile" cm "$H" revoke "$(cat "$T/bob.serial")" superseded
check_eq "queued behind: Bob's value still there" "$(fetch "$BOB" "userCertificate;binary")" 1
check_eq "two events queued" "$(backlog)" 2
NOBODY="uid=nobody,ou=people,$BASE"
printf 'dn: %s\nobjectClass: inetOrgPerson\nuid: nobody\ncn: Nobody Here\nsn: Here\nmail: nobody@example.org\n' \
    "$NOBODY" >"$T/nobody.ldif"
check "the operator adds the entry" sh "$SLAPD_SH" load "$S" "$T/nobody.ldif"
check_match "flush delivers both, in order" "$(cm "$H" exit flush 2>&1)" "delivered 2 event.*0 still queued"
check_eq "the new entry holds the certificate" \
    "$(fetch "$NOBODY" "userCertificate;binary"):$(holds "$T/nobody.der")" "1:1"
check_eq "Bob's revoked certificate removed" "$(fetch "$BOB" "userCertificate;binary")" 0

# ---- A value the server rejects ---------------------------------------------
REJ="uid=rejected,ou=people,$BASE"
issue rejected smime "/CN=Rejected Person/emailAddress=rejected@example.org" "email:rejected@example.org" &&
    ok "value rejected: the CA still issues"
check_match "exit status gives the server's reason" "$(ldap_status)" \
    "last_error=.*$REJ: Object class violation.*userCertificate.*not allowed"
check_eq "the event stays queued" "$(backlog)" 1
printf 'dn: %s\nchangetype: modify\nadd: objectClass\nobjectClass: pkiUser\n' "$REJ" >"$T/pkiuser.ldif"
check "the operator lets the entry hold certificates (pkiUser)" admin_modify "$T/pkiuser.ldif"
check_match "flush delivers" "$(cm "$H" exit flush 2>&1)" "0 still queued"
check_eq "the entry holds the certificate" \
    "$(fetch "$REJ" "userCertificate;binary"):$(holds "$T/rejected.der")" "1:1"

# ---- A revocation of a certificate the module did not publish ---------------
# Erin's renewal published by hand with dspublish --add before the module
# got to it (module disabled meanwhile): revoking it must leave it alone.
check "disable the module" cm "$H" config set exit.modules ""
issue erin2 smime "/CN=Erin Partner/emailAddress=erin@partner.example" "email:erin@partner.example"
check "published by hand" cm "$H" dspublish --add "$T/erin2.pem"
check "enable the module" cm "$H" config set exit.modules ldap
check "revoke the hand-published certificate" cm "$H" revoke "$(cat "$T/erin2.serial")" superseded
check_eq "events delivered" "$(backlog)" 0
check_eq "not published by the module: not removed (both Erin's values stay)" \
    "$(fetch "$ERIN" "userCertificate;binary"):$(holds "$T/erin.der"):$(holds "$T/erin2.der")" "2:1:1"

# ---- dsverify ----------------------------------------------------------------
out=$(cm "$H" dsverify 2>&1)
rc=$?
check_eq "dsverify finds the hand-published revoked certificate: exit 3" "$rc" 3
check_match "dsverify names it, its entry" "$out" "^revoked +$(cat "$T/erin2.serial") erin@partner.example on $ERIN"
# The same finding as JSON (checked with Python's json module).
cm "$H" dsverify --format json >"$T/dsv.json" 2>&1
check_eq "dsverify --format json: the finding, kind, serial and entry" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["revoked"], ",".join(f["kind"]+" "+f["serial"]+" "+f["dn"] for f in d["findings"]))' "$T/dsv.json" 2>&1)" \
    "1 revoked $(cat "$T/erin2.serial") $ERIN"
check_match "dsverify --fix removes it" "$(cm "$H" dsverify --fix 2>&1)" "revoked .*$(cat "$T/erin2.serial").*: removed"
check_eq "exactly that value gone, Erin's valid one stays" \
    "$(fetch "$ERIN" "userCertificate;binary"):$(holds "$T/erin.der")" "1:1"
out=$(cm "$H" dsverify 2>&1)
rc=$?
check_eq "consistent: dsverify exit 0" "$rc" 0
check_match "summary: nothing missing, stale or revoked" "$out" \
    "dsverify: 5 valid certificates of profiles smime, 5 certificates of this CA in the directory; 0 missing, 0 stale, 0 revoked"

# ---- The mail user's case: issue, publish, fetch, encrypt, decrypt ----------------
GINA="uid=gina,ou=people,$BASE"
printf 'dn: %s\nobjectClass: inetOrgPerson\nuid: gina\ncn: Gina Example\nsn: Example\nmail: gina@example.org\n' \
    "$GINA" >"$T/gina.ldif"
check "entry for Gina loaded" sh "$SLAPD_SH" load "$S" "$T/gina.ldif"
make_csr rsa:2048 "$T/gina.csr" "$T/gina.key" "/CN=Gina Example/emailAddress=gina@example.org" "email:gina@example.org"
check "certmint submit --profile smime" cm "$H" submit --profile smime --out "$T/gina.pem" "$T/gina.csr"
check_eq "published by the exit module" "$(fetch "$GINA" "userCertificate;binary")" 1
openssl x509 -inform DER -in "$T"/vals/* -out "$T/gina-from-ldap.pem" 2>/dev/null
check_eq "the directory's copy is the issued certificate" \
    "$(openssl x509 -in "$T/gina-from-ldap.pem" -outform DER | cmp -s - "$(openssl x509 -in "$T/gina.pem" -outform DER -out "$T/gina.der"; echo "$T/gina.der")" && echo same)" same
printf 'Subject: quarterly numbers\n\nfor Gina only: %s\n' "$(openssl rand -hex 16)" >"$T/msg.txt"
check "openssl cms -encrypt to the certificate fetched from the directory" \
    openssl cms -encrypt -binary -aes256 -in "$T/msg.txt" -out "$T/msg.p7m" "$T/gina-from-ldap.pem"
openssl cms -decrypt -binary -in "$T/msg.p7m" -recip "$T/gina.pem" -inkey "$T/gina.key" -out "$T/msg.dec" 2>"$T/dec.err"
check_eq "Gina decrypts it with her key: the same message" "$(cmp -s "$T/msg.txt" "$T/msg.dec" && echo same)" same

# ---- dsverify: a value deleted by hand ---------------------------------------------
printf 'dn: %s\nchangetype: modify\ndelete: userCertificate;binary\nuserCertificate;binary:< file://%s\n' \
    "$GINA" "$T/gina.der" >"$T/del.ldif"
check "Gina's certificate deleted by hand" admin_modify "$T/del.ldif"
out=$(cm "$H" dsverify 2>&1)
rc=$?
check_eq "dsverify: findings remain, exit 3" "$rc" 3
GSERIAL=$(openssl x509 -in "$T/gina.pem" -noout -serial | sed 's/^serial=//')
check_match "dsverify reports it missing and where it belongs" "$out" "^missing +$GSERIAL gina@example.org -> $GINA"
check_match "dsverify --fix publishes it" "$(cm "$H" dsverify --fix 2>&1)" "missing +$GSERIAL .*: published"
check_eq "restored byte-identical" "$(fetch "$GINA" "userCertificate;binary"):$(holds "$T/gina.der")" "1:1"
check "dsverify: consistent again (exit 0)" cm "$H" dsverify
# Each repair of --fix is in the audit log, by the operator, with its serial.
check_eq "audit: the two repairs of dsverify --fix" \
    "$(cm "$H" audit --format json | python3 -c 'import json,sys; print([(r["who"], r["serial"], r["details"]) for r in json.load(sys.stdin)["records"] if r["action"] == "dsverify"])' 2>&1)" \
    "[('$(id -un)', '$(cat "$T/erin2.serial")', 'userCertificate;binary of $ERIN: fixed (revoked $(cat "$T/erin2.serial"))'), ('$(id -un)', '$GSERIAL', 'userCertificate;binary of $GINA: fixed (missing $GSERIAL)')]"
# The repair is recorded as the module's own: revocation removes it.
check "revoke Gina" cm "$H" revoke "$GSERIAL" affiliationChanged
check_eq "removed on revocation" "$(fetch "$GINA" "userCertificate;binary")" 0

# ---- A CRL event whose file was not written ---------------------------------------
cp "$H/crl/ca.crl" "$T/old.crl"
check "disable the module" cm "$H" config set exit.modules ""
check "certmint crl while the module is off" cm "$H" crl
cp "$H/crl/ca.crl" "$T/new.crl"
cp "$T/old.crl" "$H/crl/ca.crl"
check "enable the module" cm "$H" config set exit.modules ldap
check_fails "flush: the CRL file is older than the event" cm "$H" exit flush
check_match "exit status says the file was not written" "$(ldap_status)" \
    "last_error=.*CRLISSUED.*crl/ca.crl holds CRL [0-9]+, older than CRL [0-9]+ of the event"
check_eq "the older CRL was not published" \
    "$(fetch "$CAE" "certificateRevocationList;binary"):$(holds "$T/old.crl")" "1:1"
cp "$T/new.crl" "$H/crl/ca.crl"
check_match "flush once the file is there" "$(cm "$H" exit flush 2>&1)" "0 still queued"
check_eq "the new CRL published" \
    "$(fetch "$CAE" "certificateRevocationList;binary"):$(holds "$T/new.crl")" "1:1"

# ---- No CA entry configured: CA events do not hold up the queue -------------------
check "config: no ldap.ca_entry" cm "$H" config unset ldap.ca_entry
check "certmint crl" cm "$H" crl
check_eq "acknowledged without publishing" "$(backlog)" 0
check_eq "the CA entry keeps the previous CRL" \
    "$(fetch "$CAE" "certificateRevocationList;binary"):$(holds "$T/new.crl")" "1:1"

# ---- Configuration errors ------------------------------------------------------
check "config: no ldap.uri" cm "$H" config unset ldap.uri
issue late smime "/CN=Alice Example/emailAddress=alice@example.org" "email:alice@example.org"
check_match "exit status: the setting to fix" "$(ldap_status)" "last_error=.*set ldap.uri"
check_match "dsverify: the same clear error" "$(cm "$H" dsverify 2>&1)" "set ldap.uri"
check_fails "dsverify: usage error" cm "$H" dsverify --bogus

done_testing
