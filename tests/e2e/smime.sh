#!/bin/sh
# S/MIME end to end (issue 12, docs/key-archival.md "S/MIME walk-through"):
# the suite's real private Postfix (scripts/mta.sh) and slapd
# (scripts/slapd.sh), `certmint serve` over HTTPS with the REST API and the
# /certsrv pages, headless Chromium (tests/e2e/smime.py, Selenium).
#   - An administrator issues one-time tokens to two users for a signing
#     certificate (smime) and an encryption certificate (smime-encrypt,
#     archive_key = required); each token mail is read from the Maildir
#     (tests/e2e/maildir.py).
#   - Alice enrolls for her signing certificate on the web page (token form)
#     in Chromium, and for her encryption certificate over REST (Bearer
#     token) with her key enveloped to the transport certificate (openssl
#     cms -encrypt); Bob enrolls for both over REST.
#   - Both certificates of each are published on the users' LDAP entries
#     (ldap exit module; checked with ldapsearch, byte for byte).
#   - Bob fetches Alice's encryption certificate from LDAP and sends her a
#     signed, then encrypted mail (openssl cms -sign, -encrypt) through
#     Postfix (SMTP to 127.0.0.1 with STARTTLS).
#   - Alice's key is deleted; one agent alone cannot recover; 2 of 3 agents
#     release shares (key release-share, no CA home); the PKCS#12 from key
#     recover decrypts the mail from the Maildir and Bob's signature verifies.
#   - Refusals: archive_key on a signing profile (config set); an envelope
#     sent with a signing profile's token (422, the token stays usable); a
#     profile that is not the token's (422); a token used twice (REST 401,
#     web 403); a wrong token (401 invalid_token); a client address with
#     too many failures (429 with Retry-After, even for a good token).
. "$(dirname "$0")/lib.sh"

START=$(date +%s)
PY=/usr/bin/python3
MTA="$TOP/scripts/mta.sh"
SLAPD_SH="$TOP/scripts/slapd.sh"
if [ "$(id -u)" -ne 0 ]; then
    fail "a private Postfix instance needs root"
    done_testing
fi
for b in postfix dovecot slapd; do
    command -v "$b" >/dev/null 2>&1 || PATH=/usr/sbin:/sbin:$PATH
done
for t in curl ldapsearch openssl; do
    command -v $t >/dev/null || { fail "$t missing (scripts/install-deps.sh)"; done_testing; }
done
BROWSER=1
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null ||
    ! $PY -c 'import selenium' 2>/dev/null; then
    echo "# SKIP Chromium part: chromium, chromedriver or python3-selenium missing (scripts/install-deps.sh); the web form is driven with curl"
    BROWSER=0
fi
chmod 711 "$T"

# ---- the mail server, the directory ----
M="$T/mta"
MD="$M/Maildir"
MP=$(free_port)
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
sh "$MTA" start "$M" "$MP" >"$T/mta.out" 2>&1 || { fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"; done_testing; }
S="$T/slapd"
LP=$(free_port)
LURL="ldap://127.0.0.1:$LP"
BASE="dc=example,dc=org"
sh "$SLAPD_SH" start "$S" "$LP" >"$T/slapd.out" 2>&1 || { fail "slapd start: $(tail -n 3 "$T/slapd.out" | tr '\n' ' ')"; done_testing; }
at_exit "sh '$SLAPD_SH' stop '$S' >/dev/null 2>&1"
cat >"$T/people.ldif" <<EOF
dn: ou=people,$BASE
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,$BASE
objectClass: inetOrgPerson
uid: alice
cn: Alice Example
sn: Example
mail: alice@example.org

dn: uid=bob,ou=people,$BASE
objectClass: inetOrgPerson
uid: bob
cn: Bob Example
sn: Example
mail: bob@example.org
EOF
check "directory: two users loaded" sh "$SLAPD_SH" load "$S" "$T/people.ldif"

# ---- the CA ----
H="$T/ca"
P=$(free_port)
PS=$(free_port)
B="https://127.0.0.1:$PS"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" ca-cert >"$T/root.pem"
cfg() { cm "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1 $2: $(cat "$T/cfg.out")"; }
cfg exit.modules smtp,ldap
cfg exit.smtp.server 127.0.0.1
cfg exit.smtp.port "$MP"
cfg exit.smtp.tls starttls
cfg exit.smtp.cafile "$M/tls/ca.pem"
cfg exit.smtp.auth plain
cfg exit.smtp.username "$(cat "$M/smtp-user")"
cfg exit.smtp.password_file "$M/smtp-password"
cfg exit.smtp.from "Mail CA <ca@example.org>"
cfg exit.smtp.to "pki-audit@example.org"
cfg exit.ldap.profiles smime,smime-encrypt
cfg ldap.uri "$LURL"
cfg ldap.starttls yes
cfg ldap.cafile "$S/tls/ca.crt"
cfg ldap.binddn "cn=certmint,ou=services,$BASE"
cfg ldap.password_file "$S/certmint-password"
cfg ldap.base "$BASE"
serve_listen "$H" "$P" "$PS"

# Key archival: the transport certificate, three agents (each with a key
# of their own, never given to the CA home), 2 of 3 to recover.
check "transport certificate" cm "$H" kra transport-cert --init --out "$T/transport.pem"
for a in agent1 agent2 agent3; do
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/$a.key" 2>/dev/null
    openssl req -new -x509 -key "$T/$a.key" -subj "/CN=$a/O=Recovery Agents" -days 30 \
        -addext "keyUsage=keyEncipherment" -out "$T/$a.crt" 2>/dev/null
    cm "$H" kra add "$T/$a.crt" >/dev/null || fail "kra add $a"
done
cfg kra.threshold 2
cfg profile.smime-encrypt.archive_key required
check_fails "a signing profile refuses archival (config set)" cm "$H" config set profile.smime.archive_key optional
check_match "  ... saying why" "$(cm "$H" config set profile.smime.archive_key required 2>&1)" "never archived"

check "serve --setup-tls" cm "$H" serve --setup-tls
serve_https "$H" "$P"
check_eq "the transport certificate over REST, anonymously: 200" \
    "$(curl -sS -o "$T/transport-rest.pem" -w '%{http_code}' --cacert "$T/root.pem" "$B/api/v1/kra/transport-certificate")" 200
check "  ... the one kra transport-cert made" cmp "$T/transport-rest.pem" "$T/transport.pem"

# ---- tokens, mailed ----
settle() {
    i=0
    while [ "$(postqueue -c "$M/etc" -p 2>/dev/null | tail -n 1)" != "Mail queue is empty" ]; do
        i=$((i + 1))
        [ $i -le 300 ] || return 1
        sleep 0.1
    done
}
# issue NAME EMAIL PROFILE: a token; its ID in $T/NAME.id
issue() {
    cm "$H" token issue --email "$2" --profile "$3" --ttl 1h >"$T/$1.id" 2>"$T/$1.err" ||
        fail "token issue $1: $(cat "$T/$1.err")"
}
# token_of NAME EMAIL: the token mail to EMAIL (maildir.py, by Delivered-To)
# that holds token NAME's ID; the token goes into $T/NAME.tok (0600) and
# "Authorization: Bearer TOKEN" into $T/NAME.hdr for curl -H @file (the
# token never on a command line).
token_of() {
    rm -rf "$T/mails"
    $PY "$TOP/tests/e2e/maildir.py" scan "$MD" "$T/mails" "$2" >/dev/null 2>"$T/scan.err" ||
        fail "maildir.py: $(cat "$T/scan.err")"
    (
        umask 077
        grep -ho "cmt1\.$(cat "$T/$1.id")\.[0-9a-f]\{64\}" "$T"/mails/body/*.txt 2>/dev/null | head -n 1 >"$T/$1.tok"
        printf 'Authorization: Bearer %s\n' "$(cat "$T/$1.tok")" >"$T/$1.hdr"
    )
    [ -s "$T/$1.tok" ]
}
issue a_sign alice@example.org smime
issue a_enc alice@example.org smime-encrypt
issue b_sign bob@example.org smime
issue b_enc bob@example.org smime-encrypt
settle || fail "the token mails did not leave the queue"
for t in a_sign:alice a_enc:alice b_sign:bob b_enc:bob; do
    check "token ${t%%:*} read from ${t#*:}'s mail in the Maildir" token_of "${t%%:*}" "${t#*:}@example.org"
done

# ---- enrollment over REST ----
# redeem NAME BODYFILE CONTENT-TYPE: POST with the Bearer token; prints the
# status; the answer in $T/body, headers in $T/hdrs.
redeem() {
    curl -sS -o "$T/body" -D "$T/hdrs" -w '%{http_code}' --cacert "$T/root.pem" -H @"$T/$1.hdr" \
        -H "Content-Type: $3" --data-binary @"$2" "$B/api/v1/requests"
}
jget() { $PY -c 'import json,sys; v=json.load(open(sys.argv[1]))'"$1"'; print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$T/body"; }
# body OUT CSR [ENVELOPE [PROFILE]]: the JSON body of a submission.
body() {
    $PY - "$@" <<'PY'
import base64, json, sys
out, csr = sys.argv[1], sys.argv[2]
b = {"csr": open(csr).read()}
if len(sys.argv) > 3 and sys.argv[3]:
    b["archive_key"] = base64.b64encode(open(sys.argv[3], "rb").read()).decode()
if len(sys.argv) > 4:
    b["profile"] = sys.argv[4]
open(out, "w").write(json.dumps(b))
PY
}
# envelope USER: USER's encryption key (RSA, smime-encrypt) as PKCS#8 in a
# CMS envelope to the transport certificate.
envelope() {
    make_csr rsa:2048 "$T/$1-enc.csr" "$T/$1-enc.key" "/CN=$1"
    openssl pkcs8 -topk8 -nocrypt -in "$T/$1-enc.key" -outform DER -out "$T/$1-enc.p8"
    openssl cms -encrypt -binary -aes-256-gcm -in "$T/$1-enc.p8" -outform DER \
        -out "$T/$1-enc.p7m" "$T/transport-rest.pem" 2>/dev/null || fail "openssl cms -encrypt ($1)"
    rm -f "$T/$1-enc.p8"
}
# issued NAME: the answer was 201 with a certificate that verifies; it goes
# to $T/NAME.pem and .der.
issued() {
    jget '["certificate"]' >"$T/$1.pem"
    openssl x509 -in "$T/$1.pem" -outform DER -out "$T/$1.der" 2>/dev/null &&
        openssl verify -CAfile "$T/root.pem" "$T/$1.pem" >/dev/null 2>&1
}

envelope alice
envelope bob
make_csr ec:p256 "$T/bob-sign.csr" "$T/bob-sign.key" "/CN=bob"

# Refusals before the enrollments (each leaves the token usable).
body "$T/x.json" "$T/bob-sign.csr" "$T/bob-enc.p7m"
check_eq "signing token with a key envelope: 422" "$(redeem b_sign "$T/x.json" application/json)" 422
check_match "  ... a signing key is never archived" "$(jget '["detail"]')" "does not archive keys"
body "$T/x.json" "$T/bob-enc.csr" "$T/bob-enc.p7m" smime
check_eq "a profile that is not the token's: 422" "$(redeem b_enc "$T/x.json" application/json)" 422
check_match "  ... naming the token's profile" "$(jget '["detail"]')" "enrolls for profile smime-encrypt, not smime"
body "$T/x.json" "$T/bob-enc.csr"
check_eq "smime-encrypt (archive_key required) without an envelope: 422" "$(redeem b_enc "$T/x.json" application/json)" 422
check_match "  ... requires key archival" "$(jget '["detail"]')" "requires key archival"
(
    umask 077
    printf 'cmt1.%s.%s\n' "$(cat "$T/a_enc.id")" "$(openssl rand -hex 32)" >"$T/wrong.tok"
    printf 'Authorization: Bearer %s\n' "$(cat "$T/wrong.tok")" >"$T/wrong.hdr"
)
check_eq "a wrong secret for a real token ID: 401" "$(redeem wrong "$T/x.json" application/json)" 401
check_match "  ... WWW-Authenticate: Bearer error=\"invalid_token\" (RFC 6750 3.1)" "$(tr -d '\r' <"$T/hdrs" | grep -i '^www-authenticate:')" 'Bearer realm="certmint", error="invalid_token"'
check_eq "  ... problem type invalid-token" "$(jget '["type"]')" "urn:certmint:problem:invalid-token"

# Alice: encryption certificate over REST, key archived.
body "$T/x.json" "$T/alice-enc.csr" "$T/alice-enc.p7m" smime-encrypt
check_eq "alice: smime-encrypt over REST with the archived key: 201" "$(redeem a_enc "$T/x.json" application/json)" 201
check "  ... the certificate verifies (openssl verify)" issued alice-enc
check_eq "  ... for the CSR's key" "$(openssl x509 -in "$T/alice-enc.pem" -noout -pubkey)" "$(openssl pkey -in "$T/alice-enc.key" -pubout)"
check_match "  ... subject and SAN from the token's binding" "$(openssl x509 -in "$T/alice-enc.pem" -noout -subject -ext subjectAltName)" "alice@example.org"
check_match "  ... Location names the request" "$(tr -d '\r' <"$T/hdrs" | grep -i '^location:')" "/api/v1/requests/[0-9]+"
A_ENC_SERIAL=$(jget '["serial"]')
check_eq "alice: the same token again over REST: 401" "$(redeem a_enc "$T/x.json" application/json)" 401
check_match "  ... used already" "$(jget '["detail"]')" "used already"

# Bob: both over REST (the signing request as application/pkcs10).
check_eq "bob: smime (signing) over REST, application/pkcs10: 201" "$(redeem b_sign "$T/bob-sign.csr" application/pkcs10)" 201
check "  ... verifies" issued bob-sign
body "$T/x.json" "$T/bob-enc.csr" "$T/bob-enc.p7m"
check_eq "bob: smime-encrypt over REST, key archived: 201" "$(redeem b_enc "$T/x.json" application/json)" 201
check "  ... verifies" issued bob-enc
check_match "KEYARCHIVED twice in the audit log" "$(cm "$H" audit 2>&1 | grep -c 'key-archive')" "^2$"
# The envelopes were opened by the key process (the serving process holds
# neither the CA key nor the transport key), with the transport key where
# the CA key is: in the token under check-softhsm, else a file.
check_match "the key process opened the key-transport key" "$(cat "$T/serve.log")" \
    "key process: opened the key-transport key"
if [ "$KEYSTORE" = softhsm ]; then
    check_fails "softhsm: no transport key file in the CA home" test -e "$H/private/kra-transport.key"
    check_match "softhsm: the transport key is a token object" \
        "$(cat "$H/private/kra-transport.key.uri")" "^pkcs11:.*object=[^;?]*-kra-transport[;?]"
fi

# ---- Alice's signing certificate on the web page (/certsrv/token) ----
make_csr ec:p256 "$T/alice-sign.csr" "$T/alice-sign.key" "/CN=alice"
# web_curl NAME CSR [ENVELOPE]: the token form with curl (cookie jar, CSRF field; the
# token read by curl from its file); prints the status, the page in $T/page.
web_curl() {
    rm -f "$T/jar"
    curl -sS -c "$T/jar" -b "$T/jar" --cacert "$T/root.pem" "$B/certsrv/token" >"$T/page" || return
    csrf=$(sed -n 's/.*name="csrf" value="\([0-9a-f]\{64\}\)".*/\1/p' "$T/page" | head -n 1)
    wn=$1 wc=$2
    shift 2
    [ $# -eq 0 ] || set -- -F "archive=@$1"
    curl -sS -o "$T/page" -w '%{http_code}' -c "$T/jar" -b "$T/jar" --cacert "$T/root.pem" \
        -F "csrf=$csrf" -F "token=<$T/$wn.tok" -F "csr=<$wc" "$@" "$B/certsrv/token"
}
if [ "$BROWSER" = 1 ]; then
    WH="$T/alice-home"
    mkdir -p "$WH/.pki/nssdb"
    certutil -N -d "sql:$WH/.pki/nssdb" --empty-password >/dev/null 2>&1 &&
        certutil -A -n certmint-root -t 'C,,' -i "$T/root.pem" -d "sql:$WH/.pki/nssdb" ||
        fail "NSS database for Alice's browser (certutil)"
    SHOTS=${CERTMINT_SCREENS:-${TMPDIR:-/tmp}/certmint-screens}
    mkdir -p "$SHOTS"
    out=$($PY "$TOP/tests/e2e/smime.py" web --url "$B" --home "$WH" --token "$T/a_sign.tok" \
        --csr "$T/alice-sign.csr" --out "$T/alice-sign.pem" --shots "$SHOTS" 2>"$T/py.err")
    rc=$?
    printf '%s\n' "$out" | sed "s/^\(not \)\{0,1\}ok - /&$SUITE: alice (Chromium): /"
    NFAIL=$((NFAIL + $(printf '%s\n' "$out" | grep -c '^not ok')))
    [ $rc -eq 0 ] || [ -n "$out" ] || fail "smime.py web: $(tail -n 5 "$T/py.err" | tr '\n' ' ')"
else
    check_eq "alice (curl): the token form issues at once" "$(web_curl a_sign "$T/alice-sign.csr")" 200
    rid=$(sed -n 's/.*Request \([0-9]*\) was issued.*/\1/p' "$T/page" | head -n 1)
    curl -sS -b "$T/jar" --cacert "$T/root.pem" -o "$T/alice-sign.pem" "$B/certsrv/cert?id=$rid&fmt=pem"
    check_eq "alice (curl): the same token again: 403" "$(web_curl a_sign "$T/alice-sign.csr")" 403
    check_match "  ... used already" "$(cat "$T/page")" "used already"
fi
check "alice's signing certificate verifies (openssl verify)" openssl verify -CAfile "$T/root.pem" "$T/alice-sign.pem"
openssl x509 -in "$T/alice-sign.pem" -outform DER -out "$T/alice-sign.der" 2>/dev/null
check_eq "  ... for the key of her CSR" "$(openssl x509 -in "$T/alice-sign.pem" -noout -pubkey 2>&1)" "$(openssl pkey -in "$T/alice-sign.key" -pubout)"
check_match "  ... e-mail address from the token" "$(openssl x509 -in "$T/alice-sign.pem" -noout -ext subjectAltName 2>&1)" "email:alice@example.org"
check_eq "web, a token refused: 403 page (curl)" "$(web_curl wrong "$T/alice-sign.csr")" 403
check_match "  ... escaped reason on the page" "$(cat "$T/page")" "token refused: token [0-9a-f]{16}: wrong token"

# ---- both certificates of each user in the directory ----
# values DN: the userCertificate values of DN as files in $T/vals (ldapsearch).
values() {
    rm -rf "$T/vals"
    mkdir -p "$T/vals"
    ldapsearch -x -LLL -o ldif-wrap=no -H "$LURL" -b "$1" -s base -tt -T "$T/vals" \
        "userCertificate;binary" >/dev/null 2>&1
    ls "$T/vals" | wc -l
}
holds() {
    for v in "$T"/vals/*; do [ -f "$v" ] && cmp -s "$1" "$v" && return 0; done
    return 1
}
for u in alice bob; do
    i=0
    while [ "$(values "uid=$u,ou=people,$BASE")" -lt 2 ] && [ $i -lt 150 ]; do
        sleep 0.2
        i=$((i + 1))
    done
    check "$u's entry holds her/his signing certificate (ldapsearch, byte for byte)" holds "$T/$u-sign.der"
    check "$u's entry holds her/his encryption certificate" holds "$T/$u-enc.der"
done

# ---- Bob writes to Alice: signed, then encrypted to her certificate from LDAP ----
rm -rf "$T/dir"
mkdir -p "$T/dir"
ldapsearch -x -LLL -o ldif-wrap=no -H "$LURL" -b "$BASE" "(mail=alice@example.org)" \
    -tt -T "$T/dir" "userCertificate;binary" >/dev/null 2>&1 || fail "ldapsearch for alice@example.org"
for v in "$T"/dir/*; do
    ku=$(openssl x509 -inform DER -in "$v" -noout -ext keyUsage 2>/dev/null | tail -n 1 | tr -d ' ')
    [ "$ku" = KeyEncipherment ] && openssl x509 -inform DER -in "$v" -out "$T/alice-from-ldap.pem"
done
check "bob found alice's encryption certificate in the directory (keyEncipherment only)" \
    sh -c "openssl x509 -in '$T/alice-from-ldap.pem' -outform DER | cmp - '$T/alice-enc.der'"
printf 'Hello Alice,\n\nthe code for the door is %s.\n\nBob\n' "$(openssl rand -hex 8)" >"$T/msg.txt"
openssl cms -sign -text -in "$T/msg.txt" -signer "$T/bob-sign.pem" -inkey "$T/bob-sign.key" \
    -out "$T/signed.msg" 2>"$T/cms.err" || fail "openssl cms -sign: $(cat "$T/cms.err")"
openssl cms -encrypt -aes-256-cbc -in "$T/signed.msg" -from bob@example.org -to alice@example.org \
    -subject "The door code" -out "$T/mail.eml" "$T/alice-from-ldap.pem" 2>"$T/cms.err" ||
    fail "openssl cms -encrypt: $(cat "$T/cms.err")"
check "bob sends the mail through Postfix (SMTP, 127.0.0.1)" $PY "$TOP/tests/e2e/smime.py" send \
    --port "$MP" --cafile "$M/tls/ca.pem" --sender bob@example.org --rcpt alice@example.org --message "$T/mail.eml"
settle || fail "the mail did not leave the queue"
MAIL=$(grep -l "^Subject: The door code" "$MD"/new/* "$MD"/cur/* 2>/dev/null | head -n 1)
check "the encrypted mail is in alice's Maildir" test -n "$MAIL"
check_match "  ... as application/pkcs7-mime (enveloped)" "$(grep -i '^Content-Type:' "$MAIL" | head -n 1)" "pkcs7-mime"
check_fails "  ... the text is not readable without a key" grep -q "code for the door" "$MAIL"

# ---- Alice's key is lost; two of three agents recover it ----
rm -f "$T/alice-enc.key"
check "alice's encryption key is gone" test ! -e "$T/alice-enc.key"
req=$(cm "$H" key recover-request "$A_ENC_SERIAL" --reason "Alice lost her laptop" --out "$T/req.txt")
check_match "key recover-request for alice's certificate" "$req" "^[0-9a-f]{16}$"
release() { "$CM" key release-share "$T/req.txt" --agent-key "$T/$1.key" --agent-cert "$T/$1.crt" --out "$T/share-$1.txt"; }
printf 'p12-%s\n' "$(openssl rand -hex 12)" >"$T/p12pass"
chmod 600 "$T/p12pass"
check "agent1 releases a share (own key, no CA home)" release agent1
check "  ... added" cm "$H" key add-share "$T/share-agent1.txt"
check_fails "one agent alone cannot recover" cm "$H" key recover "$req" --out "$T/one.p12" --password-file "$T/p12pass"
check "  ... and no PKCS#12 was written" test ! -e "$T/one.p12"
check "agent3 releases a share" release agent3
check "  ... added" cm "$H" key add-share "$T/share-agent3.txt"
check "key recover with 2 of 3 shares" cm "$H" key recover "$req" --out "$T/alice.p12" --password-file "$T/p12pass"
openssl pkcs12 -in "$T/alice.p12" -passin "file:$T/p12pass" -nodes -nocerts -out "$T/alice-rec.key" 2>/dev/null ||
    fail "openssl pkcs12 cannot open the recovered PKCS#12"
check "the recovered key decrypts the mail from the Maildir (openssl cms -decrypt)" \
    openssl cms -decrypt -in "$MAIL" -recip "$T/alice-enc.pem" -inkey "$T/alice-rec.key" -out "$T/dec.msg"
check "bob's signature verifies against the CA (openssl cms -verify)" \
    openssl cms -verify -text -in "$T/dec.msg" -CAfile "$T/root.pem" -signer "$T/signer.pem" -out "$T/plain.txt"
check_eq "  ... signed by bob's certificate" "$(openssl x509 -in "$T/signer.pem" -outform DER 2>/dev/null | sha256sum)" "$(sha256sum <"$T/bob-sign.der")"
check_eq "  ... the text is bob's" "$(tr -d '\r' <"$T/plain.txt")" "$(cat "$T/msg.txt")"

# ---- the token values are nowhere but in the mails ----
[ "$TESTDB" = sqlite ] && sqlite3 "$H/certmint.db" .dump >"$T/dump.sql"
leak=0
for t in a_sign a_enc b_sign b_enc; do
    v=$(cut -c23- "$T/$t.tok")
    grep -qs "$v" "$T/serve.log" "$T/dump.sql" && leak=1
done
check_eq "no token secret in the server log$([ "$TESTDB" = sqlite ] && echo " or the database (sqlite3 .dump)")" "$leak" 0

# ---- the web form with the key envelope uploaded (curl, multipart) ----
issue c_enc alice@example.org smime-encrypt
issue d_enc alice@example.org smime-encrypt
settle
token_of c_enc alice@example.org || fail "token c_enc not in the mail"
token_of d_enc alice@example.org || fail "token d_enc not in the mail"
make_csr rsa:2048 "$T/c-enc.csr" "$T/c-enc.key" "/CN=c"
openssl pkcs8 -topk8 -nocrypt -in "$T/c-enc.key" -outform DER |
    openssl cms -encrypt -binary -aes-256-gcm -outform PEM -out "$T/c-enc.p7m" "$T/transport-rest.pem" 2>/dev/null
check_eq "web form, smime-encrypt with the envelope uploaded (PEM): 200" "$(web_curl c_enc "$T/c-enc.csr" "$T/c-enc.p7m")" 200
check_match "  ... issued" "$(cat "$T/page")" "Request [0-9]+ was issued"
check_match "  ... the key archived (a third key-archive in the audit log)" "$(cm "$H" audit 2>&1 | grep -c 'key-archive')" "^3$"

# ---- the per-address limit (last: 127.0.0.1 is then refused for the hour) ----
i=0
code=401
while [ "$code" = 401 ] && [ $i -lt 25 ]; do
    (umask 077 && printf 'Authorization: Bearer cmt1.%s.%s\n' "$(openssl rand -hex 8)" "$(openssl rand -hex 32)" >"$T/wrong.hdr")
    code=$(redeem wrong "$T/x.json" application/json)
    i=$((i + 1))
done
check_eq "wrong tokens from one address: 429 before the 21st" "$code" 429
check_match "  ... with Retry-After (seconds)" "$(tr -d '\r' <"$T/hdrs" | grep -i '^retry-after:')" "^[Rr]etry-[Aa]fter: [0-9]+$"
body "$T/x.json" "$T/bob-enc.csr" "$T/bob-enc.p7m"
check_eq "  ... then a good token from that address: 429 too" "$(redeem d_enc "$T/x.json" application/json)" 429
check_match "  ... and the good token stays open" "$(cm "$H" token list | grep "$(cat "$T/d_enc.id")")" "open"
check_eq "  ... the web form too: 429" "$(web_curl d_enc "$T/bob-enc.csr")" 429

echo "# $SUITE: $(($(date +%s) - START)) s"
serve_stop
check_eq "serve stops cleanly" "$?" 0
done_testing
