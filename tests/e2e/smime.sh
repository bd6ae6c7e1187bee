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
cfg http.listen "127.0.0.1:$P"
cfg https.listen "127.0.0.1:$PS"
cfg http.threads 2
cfg serve.poll_interval 1

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
"$CM" --home "$H" --passphrase-file "$PASS" serve >"$T/serve.log" 2>&1 &
SPID=$!
at_exit "kill $SPID 2>/dev/null; wait $SPID 2>/dev/null"
i=0
until curl -fsS "http://127.0.0.1:$P/healthz" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -gt 100 ] && { fail "serve did not start: $(tail -5 "$T/serve.log")"; done_testing; }
    sleep 0.1
done

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
        -out "$T/$1-enc.p7m" "$T/transport.pem" 2>/dev/null || fail "openssl cms -encrypt ($1)"
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
(umask 077 && printf 'Authorization: Bearer cmt1.%s.%s\n' "$(cat "$T/a_enc.id")" "$(openssl rand -hex 32)" >"$T/wrong.hdr")
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

echo "# $SUITE: $(($(date +%s) - START)) s"
kill $SPID
wait $SPID
check_eq "serve stops cleanly" "$?" 0
done_testing
