#!/bin/sh
# The directory layer (src/ldap/dir.c, driven by tests/tools/dir_tool) against
# a real OpenLDAP slapd on 127.0.0.1 (scripts/slapd.sh), checked with
# ldapsearch and openssl: matching by mail and by DN, refusal to overwrite,
# --add / --replace, unpublish of one value, CA certificate and CRLs, TLS
# (StartTLS, ldaps, wrong CA), SASL EXTERNAL, and the fault cases (bind
# refused, server down, server hanging, value rejected by the schema).
. "$(dirname "$0")/lib.sh"

DT="$BUILD/tools/dir_tool"
SLAPD_SH="$TOP/scripts/slapd.sh"
if [ ! -x "$DT" ]; then
    fail "dir_tool not built: run make tools"
    done_testing
fi
if [ ! -x /usr/sbin/slapd ] && ! command -v slapd >/dev/null 2>&1; then
    fail "slapd not installed: run scripts/install-deps.sh"
    done_testing
fi

PORT=$(free_port)
TLSPORT=$(free_port)
S="$T/slapd"
BASE="dc=example,dc=org"
ADMIN="cn=admin,$BASE"
SVC="cn=certmint,ou=services,$BASE"
CAENTRY="cn=Example CA,ou=pki,$BASE"
URL="ldap://127.0.0.1:$PORT"
LDAPS="ldaps://127.0.0.1:$TLSPORT"

if ! sh "$SLAPD_SH" start "$S" "$PORT" "$TLSPORT" >"$T/start.log" 2>&1; then
    fail "slapd start: $(tail -n 3 "$T/start.log" | tr '\n' ' ')"
    done_testing
fi
at_exit "sh '$SLAPD_SH' stop '$S'"
ok "slapd started on 127.0.0.1:$PORT and :$TLSPORT"
check "test tree loaded" sh "$SLAPD_SH" load "$S" "$TOP/tests/data/ldap-tree.ldif"

# dt ARGS: dir_tool bound as the service account over StartTLS.
dt() {
    "$DT" --uri "$URL" --starttls --cafile "$S/tls/ca.crt" --binddn "$SVC" \
        --password-file "$S/certmint-password" --base "$BASE" --ca-entry "$CAENTRY" "$@"
}
# run_dt NAME ARGS: runs dt, output in $T/NAME.out, status in $T/NAME.rc.
run_dt() {
    n=$1
    shift
    dt "$@" >"$T/$n.out" 2>&1
    echo $? >"$T/$n.rc"
}
out() { cat "$T/$1.out"; }
rc() { cat "$T/$1.rc"; }

# fetch DN ATTR: every value of ATTR, as files in $T/vals (ldapsearch -tt, as
# the admin); prints their number.
fetch() {
    rm -rf "$T/vals"
    mkdir -p "$T/vals"
    ldapsearch -x -LLL -o ldif-wrap=no -H "$URL" -D "$ADMIN" -y "$S/admin-password" \
        -b "$1" -s base -tt -T "$T/vals" "$2" >"$T/vals.ldif" 2>"$T/vals.err" || {
        echo "ldapsearch-failed"
        return
    }
    grep -c ':< file://' "$T/vals.ldif"
}
# has DERFILE: 1 if one of the fetched values is byte-identical to DERFILE.
has() {
    for f in "$T"/vals/*; do
        [ -f "$f" ] && cmp -s "$f" "$1" && {
            echo 1
            return
        }
    done
    echo 0
}

# ---- Test PKI, made now with openssl (no key is committed).
P="$T/pki"
mkdir -p "$P"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/ca.key" 2>/dev/null
openssl req -x509 -new -key "$P/ca.key" -subj "/CN=Example CA/O=Example Org" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$P/ca.pem" 2>/dev/null
openssl x509 -in "$P/ca.pem" -outform DER -out "$P/ca.der"
# leaf NAME SUBJECT [SAN]: $P/NAME.pem and its DER $P/NAME.der
leaf() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/$1.key" 2>/dev/null
    openssl req -new -key "$P/$1.key" -subj "$2" -out "$P/$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n' >"$P/$1.ext"
    [ -z "${3:-}" ] || printf 'subjectAltName=%s\n' "$3" >>"$P/$1.ext"
    openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.pem" -CAkey "$P/ca.key" \
        -set_serial "0x$(openssl rand -hex 12)" -days 30 -extfile "$P/$1.ext" \
        -out "$P/$1.pem" 2>/dev/null
    openssl x509 -in "$P/$1.pem" -outform DER -out "$P/$1.der"
}
leaf alice "/CN=Alice Example" "email:alice@example.org"
leaf alice2 "/CN=Alice Example" "email:alice@example.org"
leaf alice3 "/CN=Alice Example" "DNS:ignored.example.org,email:Alice@Example.ORG"
leaf bob "/CN=Bob Example/emailAddress=bob.example@EXAMPLE.org"
leaf carol "/DC=org/DC=example/OU=people/CN=Carol Dn"
leaf frank "/DC=org/DC=example/OU=people/CN=Frank , Jr.+UID=frank"
leaf team "/CN=Team" "email:team@example.org"
leaf nobody "/CN=Nobody" "email:nobody@example.org"
leaf outside "/O=Elsewhere/CN=Carol Dn"
leaf printer "/DC=org/DC=example/OU=devices/CN=printer1"
leaf dave_old "/CN=Dave Partner/O=Partner" "email:dave@partner.example"
leaf dave_new "/CN=Dave Partner/O=Partner" "email:dave@partner.example"
leaf erin "/CN=Erin Partner" "email:erin@partner.example"
for f in alice carol; do
    [ -s "$P/$f.der" ] || fail "openssl made no certificate $f"
done

# The external contact that already has a certificate (published by hand).
printf 'dn: cn=Dave Partner,ou=contacts,%s\nchangetype: modify\nadd: userCertificate;binary\nuserCertificate;binary:< file://%s\n' \
    "$BASE" "$P/dave_old.der" >"$T/dave.ldif"
check "contact with an existing certificate" \
    ldapmodify -x -H "$URL" -D "$ADMIN" -y "$S/admin-password" -f "$T/dave.ldif"

# ---- Matching
run_dt f1 find "$P/alice.pem"
check_eq "match by rfc822Name SAN" "$(out f1)" "uid=alice,ou=people,$BASE	mail"
run_dt f2 find "$P/bob.pem"
check_eq "match by subject emailAddress, case-insensitive" "$(out f2)" "uid=bob,ou=people,$BASE	mail"
run_dt f3 find "$P/carol.pem"
check_eq "match by subject DN" "$(out f3)" "cn=Carol Dn,ou=people,$BASE	dn"
run_dt f4 find "$P/frank.pem"
check_eq "match by DN with escapes and a multi-valued RDN" "$(out f4)" \
    "cn=Frank \\2C Jr.+uid=frank,ou=people,$BASE	dn"
run_dt f5 find "$P/team.pem"
check_eq "several entries with the mail: refused" "$(rc f5)" 1
check_match "several matches: the error names the address and the count" "$(out f5)" \
    'error=INVALID: .*2 entries under dc=example,dc=org have mail=team@example.org'
run_dt f6 find "$P/nobody.pem"
check_match "no entry: not found, naming the address" "$(out f6)" \
    'error=NOTFOUND: .*mail=nobody@example.org'
run_dt f7 find "$P/outside.pem"
check_match "subject DN outside the base: not found" "$(out f7)" \
    'error=NOTFOUND: .*subject DN cn=Carol Dn,o=Elsewhere is not under dc=example,dc=org'

# ---- Publishing user certificates
ALICE="uid=alice,ou=people,$BASE"
ATTR="userCertificate;binary"
run_dt p1 publish "$P/alice.pem"
check_eq "publish: added" "$(out p1)" "$ALICE	added"
check_eq "ldapsearch: one value" "$(fetch "$ALICE" "$ATTR")" 1
check_eq "ldapsearch: the value is the certificate's DER" "$(has "$P/alice.der")" 1
run_dt p2 publish "$P/alice.pem"
check_eq "same certificate again: no-op" "$(out p2)" "$ALICE	unchanged"
check_eq "no-op left one value" "$(fetch "$ALICE" "$ATTR")" 1
run_dt p3 publish "$P/alice2.pem"
check_eq "another certificate: refused" "$(rc p3)" 1
check_match "refusal names the entry and the present certificate" "$(out p3)" \
    "error=EXISTS: $ALICE already holds 1 other certificate \\(serial [0-9A-F]+"
check_eq "refusal changed nothing" "$(fetch "$ALICE" "$ATTR"):$(has "$P/alice.der")" "1:1"
run_dt p4 publish --add --dry-run "$P/alice2.pem"
check_eq "dry run says what it would do" "$(out p4)" "$ALICE	added"
check_eq "dry run changed nothing" "$(fetch "$ALICE" "$ATTR")" 1
run_dt p5 publish --add "$P/alice2.pem"
check_eq "--add: added" "$(out p5)" "$ALICE	added"
check_eq "--add keeps both" "$(fetch "$ALICE" "$ATTR"):$(has "$P/alice.der"):$(has "$P/alice2.der")" "2:1:1"
run_dt u1 unpublish "$P/alice.pem"
check_eq "unpublish: removed" "$(out u1)" "$ALICE	removed"
check_eq "unpublish removed that value only" \
    "$(fetch "$ALICE" "$ATTR"):$(has "$P/alice.der"):$(has "$P/alice2.der")" "1:0:1"
run_dt u2 unpublish "$P/alice.pem"
check_match "unpublish of a value not there: not found" "$(out u2)" \
    "error=NOTFOUND: $ALICE does not hold this certificate"
run_dt p6 publish --replace "$P/alice3.pem"
check_eq "--replace: replaced" "$(out p6)" "$ALICE	replaced"
check_eq "--replace swapped the value" \
    "$(fetch "$ALICE" "$ATTR"):$(has "$P/alice2.der"):$(has "$P/alice3.der")" "1:0:1"

DAVE="cn=Dave Partner,ou=contacts,$BASE"
run_dt d1 publish "$P/dave_new.pem"
check_match "contact's existing certificate is not overwritten" "$(out d1)" "error=EXISTS: $DAVE"
run_dt d2 publish --add "$P/dave_new.pem"
check_eq "contact: --add keeps the one published by hand" \
    "$(fetch "$DAVE" "$ATTR"):$(has "$P/dave_old.der"):$(has "$P/dave_new.der")" "2:1:1"

run_dt c1 publish "$P/carol.pem"
check_eq "publish to an entry found by DN" "$(out c1):$(fetch "cn=Carol Dn,ou=people,$BASE" "$ATTR")" \
    "cn=Carol Dn,ou=people,$BASE	added:1"

run_dt r1 publish "$P/printer.pem"
check_match "value the schema rejects: clear error with the server's reason" "$(out r1)" \
    "error=INVALID: .*cn=printer1,ou=devices,dc=example,dc=org: Object class violation \\(attribute 'userCertificate;binary' not allowed\\)"
check_eq "rejected value: nothing stored" "$(fetch "cn=printer1,ou=devices,$BASE" "$ATTR")" 0

# ---- CA certificate and CRLs on the CA entry
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\ncrlnumber=%s/crlnumber\ndefault_md=sha256\ndefault_crl_days=7\n' \
    "$P" "$P" >"$P/crl.cnf"
: >"$P/index.txt"
echo 01 >"$P/crlnumber"
openssl ca -config "$P/crl.cnf" -gencrl -keyfile "$P/ca.key" -cert "$P/ca.pem" -out "$P/crl1.pem" 2>/dev/null
openssl ca -config "$P/crl.cnf" -gencrl -keyfile "$P/ca.key" -cert "$P/ca.pem" -out "$P/crl2.pem" 2>/dev/null
for c in crl1 crl2; do openssl crl -in "$P/$c.pem" -outform DER -out "$P/$c.der"; done
run_dt k1 ca cert "$P/ca.pem"
check_eq "CA certificate published" "$(out k1)" "$CAENTRY	added"
check_eq "cACertificate byte-identical to the file" \
    "$(fetch "$CAENTRY" "cACertificate;binary"):$(has "$P/ca.der")" "1:1"
run_dt k2 ca cert "$P/ca.pem"
check_eq "CA certificate again: no-op" "$(out k2)" "$CAENTRY	unchanged"
run_dt k3 ca crl "$P/crl1.pem"
check_eq "CRL published" "$(out k3)" "$CAENTRY	added"
run_dt k4 ca crl "$P/crl2.pem"
check_eq "newer CRL replaces the old" "$(out k4)" "$CAENTRY	replaced"
check_eq "certificateRevocationList byte-identical to the newest CRL" \
    "$(fetch "$CAENTRY" "certificateRevocationList;binary"):$(has "$P/crl2.der")" "1:1"
run_dt k5 ca delta "$P/crl2.pem"
check_eq "delta CRL published" "$(out k5)" "$CAENTRY	added"
check_eq "deltaRevocationList byte-identical" \
    "$(fetch "$CAENTRY" "deltaRevocationList;binary"):$(has "$P/crl2.der")" "1:1"
check_match "the CA entry got the deltaCRL class" \
    "$(ldapsearch -x -LLL -H "$URL" -b "$CAENTRY" -s base objectClass)" 'objectClass: deltaCRL'
NEWCA="cn=Second CA,ou=pki,$BASE"
run_dt k6 --ca-entry "$NEWCA" ca cert "$P/ca.pem"
check_match "missing CA entry without --create: not found" "$(out k6)" \
    "error=NOTFOUND: .*$NEWCA does not exist"
run_dt k7 --ca-entry "$NEWCA" --create ca cert "$P/ca.pem"
check_eq "--create adds the CA entry" "$(out k7)" "$NEWCA	created"
check_eq "created entry holds the CA certificate" \
    "$(fetch "$NEWCA" "cACertificate;binary"):$(has "$P/ca.der")" "1:1"
check_match "created entry is a pkiCA" \
    "$(ldapsearch -x -LLL -H "$URL" -b "$NEWCA" -s base objectClass | tr '\n' ' ')" \
    'objectClass: applicationProcess.*objectClass: pkiCA'
run_dt k8 --ca-entry "cn=X,ou=nowhere,$BASE" --create ca cert "$P/ca.pem"
check_match "--create under a missing parent: not found" "$(out k8)" "error=NOTFOUND: .*create cn=X,ou=nowhere"

# ---- TLS, authentication and faults
check "ldaps:// with CA verification" \
    "$DT" --uri "$LDAPS" --cafile "$S/tls/ca.crt" --binddn "$SVC" --password-file "$S/certmint-password" open
"$DT" --uri "$LDAPS" --cafile "$P/ca.pem" --binddn "$SVC" --password-file "$S/certmint-password" open \
    >"$T/t1.out" 2>&1
check_match "ldaps:// with the wrong CA file: refused" "$(cat "$T/t1.out")" \
    "error=NET: .*TLS handshake failed.*$P/ca.pem"
"$DT" --uri "$URL" --starttls --cafile "$P/ca.pem" --binddn "$SVC" --password-file "$S/certmint-password" open \
    >"$T/t2.out" 2>&1
check_match "StartTLS with the wrong CA file: refused" "$(cat "$T/t2.out")" \
    "error=NET: .*StartTLS: TLS handshake failed"
"$DT" --uri "$URL" --binddn "$SVC" --password-file "$S/certmint-password" open >"$T/t3.out" 2>&1
check_match "no TLS: the password is not sent in clear" "$(cat "$T/t3.out")" \
    "error=CONFIG: .*refusing to send the bind password unencrypted"
printf 'not-the-password' >"$T/wrong-password"
chmod 600 "$T/wrong-password"
"$DT" --uri "$LDAPS" --cafile "$S/tls/ca.crt" --binddn "$SVC" --password-file "$T/wrong-password" open \
    >"$T/t4.out" 2>&1
check_match "bind refused: auth error" "$(cat "$T/t4.out")" \
    "error=AUTH: .*bind as $SVC: Invalid credentials"
"$DT" --uri "$(cat "$S/ldapi_url")" --sasl-external --base "$BASE" publish "$P/erin.pem" >"$T/t5.out" 2>&1
check_eq "SASL EXTERNAL over ldapi:// publishes" "$(cat "$T/t5.out")" "cn=Erin Partner,ou=contacts,$BASE	added"
"$DT" --uri "$URL" --base "$BASE" publish --add "$P/alice.pem" >"$T/t6.out" 2>&1
check_match "anonymous write refused: auth error" "$(cat "$T/t6.out")" "error=AUTH: .*publish userCertificate"

DOWN=$(free_port)
t0=$(date +%s%N)
"$DT" --uri "ldap://127.0.0.1:$DOWN" --starttls --cafile "$S/tls/ca.crt" --binddn "$SVC" \
    --password-file "$S/certmint-password" open >"$T/t7.out" 2>&1
t1=$(date +%s%N)
check_match "directory down: net error" "$(cat "$T/t7.out")" "error=NET: ldap://127.0.0.1:$DOWN: StartTLS: Can't contact LDAP server"
check_eq "directory down: fails at once" "$((((t1 - t0) / 1000000) < 3000))" 1

# A server that accepts connections but never answers: slapd stopped.
PID=$(cat "$S/slapd.pid")
kill -STOP "$PID"
for mode in ldaps starttls ldapi; do
    case $mode in
    ldaps) set -- --uri "$LDAPS" --cafile "$S/tls/ca.crt" --binddn "$SVC" --password-file "$S/certmint-password" ;;
    starttls) set -- --uri "$URL" --starttls --cafile "$S/tls/ca.crt" --binddn "$SVC" --password-file "$S/certmint-password" ;;
    ldapi) set -- --uri "$(cat "$S/ldapi_url")" --sasl-external ;;
    esac
    t0=$(date +%s%N)
    timeout 30 "$DT" "$@" --connect-timeout-ms 1000 --timeout-ms 1500 open >"$T/h.out" 2>&1
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
    check_match "hanging directory ($mode): timeout error" "$(cat "$T/h.out")" "error=TIMEOUT: "
    check_eq "hanging directory ($mode): gave up within the deadline (${ms} ms)" "$((ms < 4000))" 1
done
kill -CONT "$PID"
check "directory answers again after the hang" \
    "$DT" --uri "$LDAPS" --cafile "$S/tls/ca.crt" --binddn "$SVC" --password-file "$S/certmint-password" open

# midsession NAME ACTION: bound over ldaps, dir_tool waits; ACTION is done to
# the server; then dir_tool publishes. Sets ms and mrc, output in $T/NAME.out.
midsession() {
    rm -f "$T/go" "$T/go.ready"
    "$DT" --uri "$LDAPS" --cafile "$S/tls/ca.crt" --binddn "$SVC" --password-file "$S/certmint-password" \
        --base "$BASE" --timeout-ms 1500 --wait-for "$T/go" publish --add "$P/alice.pem" >"$T/$1.out" 2>&1 &
    bg=$!
    i=0
    while [ ! -f "$T/go.ready" ] && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    eval "$2"
    t0=$(date +%s%N)
    touch "$T/go"
    wait "$bg"
    mrc=$?
    t1=$(date +%s%N)
    ms=$(((t1 - t0) / 1000000))
}
midsession m1 'kill -STOP "$PID"'
kill -CONT "$PID"
check_match "server hangs after the bind: the operation times out" "$(cat "$T/m1.out")" "error=TIMEOUT: "
check_eq "server hangs after the bind: error within the deadline (${ms} ms)" "$((ms < 4000))" 1
midsession m2 'sh "$SLAPD_SH" stop "$S"'
check_match "server gone after the bind: network error" "$(cat "$T/m2.out")" "error=NET: "
check_eq "server gone after the bind: exit 1, no SIGPIPE death" "$mrc" 1

done_testing
