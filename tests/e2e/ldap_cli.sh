#!/bin/sh
# certmint dspublish / dsunpublish against a real slapd (scripts/slapd.sh):
# the commands read the ldap.* settings from HOME/certmint.conf and need no
# CA key. Checked with ldapsearch and openssl, ending with what a mail user
# does: fetch the recipient's certificate from the directory, encrypt to it
# (openssl cms), decrypt with the recipient's key.
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

# A CA home (certmint init: the changes go to its audit log); the
# certificates and CRLs published are made with openssl by another CA (the
# commands publish whatever they are given) and the CRL files replaced.
H="$T/home"
P="$T/pki"
mkdir -p "$P"
check "certmint init" new_root "$H" ec:p256
mkdir -p "$H/crl"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/ca.key" 2>/dev/null
openssl req -x509 -new -key "$P/ca.key" -subj "/CN=Example CA" -days 30 \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$P/ca.crt" 2>/dev/null
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/index.txt\ncrlnumber=%s/crlnumber\ndefault_md=sha256\ndefault_crl_days=7\n' \
    "$P" "$P" >"$P/crl.cnf"
: >"$P/index.txt"
echo 01 >"$P/crlnumber"
openssl ca -config "$P/crl.cnf" -gencrl -keyfile "$P/ca.key" -cert "$P/ca.crt" -out "$P/crl.pem" 2>/dev/null
openssl crl -in "$P/crl.pem" -outform DER -out "$H/crl/ca.crl"
openssl ca -config "$P/crl.cnf" -gencrl -keyfile "$P/ca.key" -cert "$P/ca.crt" -out "$P/delta.pem" 2>/dev/null
openssl crl -in "$P/delta.pem" -outform DER -out "$H/crl/delta.crl"
cat >>"$H/certmint.conf" <<EOF
ldap.uri = $URL
ldap.starttls = yes
ldap.cafile = $S/tls/ca.crt
ldap.binddn = cn=certmint,ou=services,$BASE
ldap.password_file = $S/certmint-password
ldap.base = $BASE
ldap.ca_entry = cn=Mail CA,ou=pki,$BASE
ldap.timeout = 5s
EOF

# leaf NAME SUBJECT SAN: an S/MIME certificate signed by the CA above.
leaf() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$P/$1.key" 2>/dev/null
    openssl req -new -key "$P/$1.key" -subj "$2" -out "$P/$1.csr" 2>/dev/null
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyAgreement\nextendedKeyUsage=emailProtection\nsubjectAltName=%s\n' \
        "$3" >"$P/$1.ext"
    openssl x509 -req -in "$P/$1.csr" -CA "$P/ca.crt" -CAkey "$P/ca.key" \
        -set_serial "0x$(openssl rand -hex 12)" -days 30 -extfile "$P/$1.ext" -out "$P/$1.pem" 2>/dev/null
    openssl x509 -in "$P/$1.pem" -outform DER -out "$P/$1.der"
}
leaf erin "/CN=Erin Partner" "email:erin@partner.example"
leaf erin2 "/CN=Erin Partner" "email:erin@partner.example"
leaf team "/CN=Team" "email:team@example.org"

# fetch DN ATTR: values as files in $T/vals; prints their number.
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
same() { # same FILE: 1 when the only fetched value equals FILE
    set -- "$1" "$T"/vals/*
    [ $# -eq 2 ] && cmp -s "$1" "$2" && echo 1 || echo 0
}

ERIN="cn=Erin Partner,ou=contacts,$BASE"
check_match "dspublish of an external contact's certificate" \
    "$(cm "$H" dspublish "$P/erin.pem" 2>&1)" "erin.pem: $ERIN \\(matched by mail\\): added"
check_eq "directory holds the certificate's DER" "$(fetch "$ERIN" "userCertificate;binary"):$(same "$P/erin.der")" "1:1"
check_fails "another certificate is refused" cm "$H" dspublish "$P/erin2.pem"
check_match "dry run of --replace says what it would do" \
    "$(cm "$H" dspublish --replace --dry-run "$P/erin2.pem" 2>&1)" "would replace"
check_eq "dry run changed nothing" "$(fetch "$ERIN" "userCertificate;binary"):$(same "$P/erin.der")" "1:1"
out=$(cm "$H" dspublish "$P/team.pem" "$P/erin.pem" 2>&1)
rc=$?
check_eq "one failure among several: exit 1" "$rc" 1
check_match "the failure is reported" "$out" "team.pem: .*2 entries .*mail=team@example.org"
check_match "the others are still done" "$out" "erin.pem: $ERIN \\(matched by mail\\): unchanged"
# The same run as JSON (parsed with Python's json module).
cm "$H" dspublish --format json "$P/team.pem" "$P/erin.pem" >"$T/ds.json" 2>/dev/null
check_eq "dspublish --format json: exit 1, the failure and the result" \
    "$?:$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["failed"], [(r["item"].split("/")[-1], r["dn"], r["matched_by"], r["change"], r["error"] is None) for r in d["results"]])' "$T/ds.json" 2>&1)" \
    "1:True [('team.pem', None, None, None, False), ('erin.pem', '$ERIN', 'mail', 'unchanged', True)]"

# The mail user's case: fetch from the directory, encrypt, decrypt.
fetch "$ERIN" "userCertificate;binary" >/dev/null
openssl x509 -inform DER -in "$T"/vals/* -out "$T/fetched.pem" 2>/dev/null
printf 'Subject: test\n\nsecret for Erin\n' >"$T/msg.txt"
check "encrypt to the certificate fetched from the directory" \
    openssl cms -encrypt -aes256 -in "$T/msg.txt" -out "$T/msg.p7m" "$T/fetched.pem"
check_match "the recipient decrypts it with her key" \
    "$(openssl cms -decrypt -in "$T/msg.p7m" -recip "$P/erin.pem" -inkey "$P/erin.key" 2>&1)" "secret for Erin"

check_match "dsunpublish removes it" "$(cm "$H" dsunpublish "$P/erin.pem" 2>&1)" "$ERIN .*: removed"
check_eq "nothing left on the entry" "$(fetch "$ERIN" "userCertificate;binary")" 0
check_fails "dsunpublish of a value not there fails" cm "$H" dsunpublish "$P/erin.pem"

# The audit log: one record per change made (dry runs, unchanged entries
# and failures leave none), with who did it, the serial and what changed.
ME=$(id -un)
ERIN_SERIAL=$(openssl x509 -in "$P/erin.pem" -noout -serial | sed 's/^serial=//')
cm "$H" audit --format json >"$T/audit.json" 2>&1
check_eq "audit: dspublish and dsunpublish recorded once each, by the operator" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print([(r["who"], r["action"], r["serial"], r["details"].split("/")[0]) for r in d["records"] if r["action"].startswith("ds")])' "$T/audit.json" 2>&1)" \
    "[('$ME', 'dspublish', '$ERIN_SERIAL', 'userCertificate;binary of $ERIN: added ('), ('$ME', 'dsunpublish', '$ERIN_SERIAL', 'userCertificate;binary of $ERIN: removed (')]"
check_fails "dsunpublish of something that is neither file nor serial" cm "$H" dsunpublish "no such thing"

CAE="cn=Mail CA,ou=pki,$BASE"
check_fails "dspublish --ca without -f: the CA entry is missing" cm "$H" dspublish --ca
check "dspublish --ca --crl -f creates the CA entry" cm "$H" dspublish --ca --crl -f
openssl x509 -in "$H/ca.crt" -outform DER -out "$T/ca.der"
check_eq "cACertificate byte-identical to ca.crt" "$(fetch "$CAE" "cACertificate;binary"):$(same "$T/ca.der")" "1:1"
check_eq "certificateRevocationList byte-identical to crl/ca.crl" \
    "$(fetch "$CAE" "certificateRevocationList;binary"):$(same "$H/crl/ca.crl")" "1:1"
check_eq "deltaRevocationList byte-identical to crl/delta.crl" \
    "$(fetch "$CAE" "deltaRevocationList;binary"):$(same "$H/crl/delta.crl")" "1:1"
check_match "again: unchanged" "$(cm "$H" dspublish --crl 2>&1)" "certificateRevocationList: unchanged"
check_match "audit: the CA entry's creation and the CRLs are recorded" \
    "$(cm "$H" audit 2>&1 | grep dspublish | tr '\t\n' '  ')" \
    "$ME dspublish .*cACertificate of $CAE: created.*certificateRevocationList of $CAE: added.*deltaRevocationList of $CAE: added"
printf 'garbage' >"$H/crl/ca.crl"
check_fails "a damaged CRL file is not published" cm "$H" dspublish --crl
check_eq "the published CRL stays" "$(fetch "$CAE" "certificateRevocationList;binary")" 1

check_fails "usage: --ca with files" cm "$H" dspublish --ca "$P/erin.pem"
check_fails "usage: --replace and --add" cm "$H" dspublish --replace --add "$P/erin.pem"
sed -i '/^ldap.uri/d' "$H/certmint.conf"
check_match "no ldap.uri: clear error" "$(cm "$H" dspublish "$P/erin.pem" 2>&1)" "set ldap.uri"

done_testing
