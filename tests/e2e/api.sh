#!/bin/sh
# End to end: the REST API /api/v1 of certmint serve, with curl over HTTPS
# and client certificates. Every endpoint and role (requester, officer,
# auditor, admin, a certificate with no role, none at all), every error
# (401 no client certificate, 403 another CA's certificate / a revoked
# officer / a role missing / plain HTTP, 400 malformed bodies and
# parameters, 404, 405, 409 races and states, 413, 415, 422 policy) as
# application/problem+json (RFC 9457), the database unchanged by refused
# input, the actor in the audit log, results checked with openssl (issued
# certificates verify against the CA, a revoked one is in the next CRL),
# the OpenAPI conformance script (tests/api_conformance.py), and with the
# SMTP exit module on a private Postfix: a certificate requested through
# the API is mailed, and withheld in strict audit mode until acknowledged.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "skip - $SUITE: curl missing (scripts/install-deps.sh)"; exit 0; }
H="$T/ca"
P=$(free_port)
PS=$(free_port)
B="https://127.0.0.1:$PS"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cfg() { cm "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1 $2: $(cat "$T/cfg.out")"; }
serve_listen "$H" "$P" "$PS"
cm "$H" ca-cert >"$T/root.pem"
cm "$H" serve --setup-tls >/dev/null 2>&1 || fail "--setup-tls"

# Client certificates: one per role, one without a role, one revoked
# officer, one from another CA.
client() { # NAME CN [HOME]
    make_csr ec:p256 "$T/$1.csr" "$T/$1.key" "/CN=$2"
    cm "${3:-$H}" submit --profile tls-client --out "$T/$1.pem" "$T/$1.csr" | cut -f3
}
client requester "API Requester" >/dev/null
client officer "API Officer" >/dev/null
client auditor "API Auditor" >/dev/null
client admin "API Admin" >/dev/null
client norole "API Nobody" >/dev/null
s_revoked=$(client revoked "API Revoked Officer")
new_root "$T/other" ec:p256 >/dev/null
client foreign "API Officer" "$T/other" >/dev/null
cfg http.roles.requester "CN=API Requester"
cfg http.roles.officer "CN=API Officer;CN=API Revoked Officer"
cfg http.roles.auditor "CN=API Auditor"
cfg http.roles.admin "CN=API Admin"
check "revoke the second officer's certificate" cm "$H" revoke "$s_revoked" keyCompromise
# Profiles offered over HTTPS: auto issuance for requesters (EC P-256
# keys only: anything else is refused by policy), manual, and anonymous.
for p in api-auto api-manual api-anyone; do cfg "profile.$p.base" tls-server; done
cfg profile.api-client.base tls-client
cfg profile.api-client.http_access requester
cfg profile.tls-server.http_access requester
cfg profile.api-auto.http_access requester
cfg profile.api-auto.keys ec:p256
cfg profile.api-manual.http_access requester
cfg profile.api-manual.approval manual
cfg profile.api-anyone.http_access anyone
cfg profile.api-enc.base smime-encrypt
cfg profile.api-enc.http_access requester

serve_https "$H" "$P"
ok "serve listens"

# api ROLE METHOD PATH [curl args]: the body in $T/body, prints "STATUS TYPE".
api() {
    role=$1 m=$2 path=$3
    shift 3
    set -- -sS -o "$T/body" -w '%{http_code} %{content_type}' --path-as-is --cacert "$T/root.pem" -X "$m" "$@"
    [ "$role" = - ] || set -- --cert "$T/$role.pem" --key "$T/$role.key" "$@"
    curl "$@" "$B$path"
}
# jq-free JSON reading: jget EXPR (Python on $T/body), e.g. jget '["status"]'.
jget() { python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))'"$1"'; print(v if not isinstance(v,(dict,list)) else json.dumps(v))' "$T/body"; }
# problem WHAT CODE ROLE METHOD PATH [curl args]: an RFC 9457 answer.
problem() {
    what=$1 want=$2
    shift 2
    got=$(api "$@")
    if [ "$got" = "$want application/problem+json" ] &&
        python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p["status"]==int(sys.argv[2]) and p["type"].startswith("urn:certmint:problem:") and p["title"] and p["detail"]' "$T/body" "$want" 2>/dev/null; then
        ok "$what: $want problem+json ($(jget '["detail"]' | cut -c1-90))"
    else
        fail "$what: got '$got' $(head -c 300 "$T/body"), expected $want problem+json"
    fi
}
state() { db_state "$H"; }

# ---- the document ----
check_eq "openapi.json: 200 application/json" "$(api - GET /api/v1/openapi.json)" "200 application/json"
check "openapi.json is the document in the tree" cmp "$T/body" "$TOP/src/http/openapi.json"
got=$(curl -sS -o "$T/body" -w '%{http_code} %{content_type}' "http://127.0.0.1:$P/api/v1/certificates")
check_eq "plain HTTP: 403 problem (the API is HTTPS only)" "$got" "403 application/problem+json"

# ---- submit ----
make_csr ec:p256 "$T/a.csr" "$T/a.key" "/CN=a.example.org" "DNS:a.example.org"
openssl req -in "$T/a.csr" -outform DER -out "$T/a.der"
check_eq "officer submits PEM (application/pkcs10): 201 issued" \
    "$(api officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr")" "201 application/json"
check_eq "  ... disposition issued" "$(jget '["disposition"]')" issued
jget '["certificate"]' | openssl x509 >"$T/a.pem"
check "  ... the certificate verifies against the CA (openssl verify)" openssl verify -CAfile "$T/root.pem" "$T/a.pem"
check_eq "  ... it certifies the CSR's key" "$(openssl x509 -in "$T/a.pem" -noout -pubkey)" "$(openssl req -in "$T/a.csr" -noout -pubkey)"
S_A=$(jget '["serial"]')
R_A=$(jget '["request_id"]')
check_eq "  ... its serial" "$(openssl x509 -in "$T/a.pem" -noout -serial | cut -d= -f2)" "$S_A"
check_match "  ... audited with the officer's subject as the actor" "$(cm "$H" audit | grep -E "issue|submit" | tail -n 3)" "subject:CN=API Officer"
check_eq "officer submits DER: 201" "$(api officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.der")" "201 application/json"
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "api-auto"}))' "$T/a.csr" >"$T/a.json"
check_eq "officer submits JSON {csr, profile}: 201" "$(api officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary @"$T/a.json")" "201 application/json"
check "  ... verifies" sh -c "python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"certificate\"])' '$T/body' | openssl verify -CAfile '$T/root.pem'"
check_eq "requester, another subject: 202 pending" "$(api requester POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr")" "202 application/json"
R_P1=$(jget '["request_id"]')
check_eq "  ... disposition pending, no certificate" "$(jget '["disposition"]') $(jget '["certificate"]')" "pending None"
api requester POST '/api/v1/requests?profile=api-manual' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr" >/dev/null
R_P2=$(jget '["request_id"]')
api requester POST '/api/v1/requests?profile=api-manual' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr" >/dev/null
R_P3=$(jget '["request_id"]')
api requester POST '/api/v1/requests?profile=api-manual' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr" >/dev/null
R_P4=$(jget '["request_id"]')
check_eq "anonymous, http_access anyone: 202 pending" "$(api - POST '/api/v1/requests?profile=api-anyone' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr")" "202 application/json"
check_match "  ... requester recorded as the anonymous service" "$(cm "$H" view --restrict "RequestID=$(jget '["request_id"]')" --out RequesterName --format csv)" "http-anonymous"
# A renewal: a certificate without a role asks for its own subject.
make_csr ec:p256 "$T/renew.csr" "$T/renew.key" "/CN=API Nobody"
check_eq "no role, own subject (renewal): 201 issued" "$(api norole POST '/api/v1/requests?profile=api-client' -H 'Content-Type: application/pkcs10' --data-binary @"$T/renew.csr")" "201 application/json"
before=$(state)
problem "anonymous, profile for requesters" 401 - POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
problem "no role, another subject" 403 norole POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
problem "profile not offered over HTTPS" 403 officer POST '/api/v1/requests?profile=tls-client' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
printf 'this is not a CSR' >"$T/junk"
problem "garbage CSR" 400 officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/junk"
# One bit of the signature flipped: parses, but the proof of possession fails.
python3 -c 'import sys; d=bytearray(open(sys.argv[1],"rb").read()); d[-3]^=1; open(sys.argv[2],"wb").write(d)' "$T/a.der" "$T/badsig.der"
problem "CSR with a bad signature" 400 officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/badsig.der"
problem "malformed JSON" 400 officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary '{"csr": '
problem "JSON with an unknown member" 400 officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary '{"csr":"x","profil":"api-auto"}'
problem "JSON array" 400 officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary '["csr"]'
problem "empty body" 400 officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary ''
problem "wrong content type" 415 officer POST /api/v1/requests -H 'Content-Type: text/plain' --data-binary @"$T/a.csr"
problem "unknown query parameter" 400 officer POST '/api/v1/requests?profil=x' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
head -c 70000 /dev/zero | tr '\0' 'A' >"$T/big"
problem "body over 64 KiB" 413 officer POST /api/v1/requests -H 'Content-Type: application/pkcs10' --data-binary @"$T/big"
problem "chunked body over 64 KiB (no Content-Length)" 413 officer POST /api/v1/requests -H 'Content-Type: application/pkcs10' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big"
problem "body over 64 KiB to an action (publish a CRL): refused before it runs" 413 officer POST /api/v1/crl -H 'Content-Type: application/json' --data-binary @"$T/big"
check_eq "64 KiB exactly is read (400 for the content, not 413)" "$(head -c 65536 "$T/big" | api officer POST /api/v1/requests -H 'Content-Type: application/pkcs10' --data-binary @- | cut -d' ' -f1)" 400
# Over libevent's own cap (256 KiB, src/http/http_int.h) the connection is
# cut after its bare 413: documented in docs/http.md.
head -c 300000 /dev/zero | tr '\0' 'A' >"$T/huge"
check_eq "body over 256 KiB: libevent's 413" "$(api officer POST /api/v1/requests -H 'Content-Type: application/pkcs10' --data-binary @"$T/huge" | cut -d' ' -f1)" 413
check_eq "refused submissions changed nothing in the database" "$(state)" "$before"
# Enrollment tokens (Authorization: Bearer, RFC 6750; docs/tokens.md): the
# header's errors here, redemption end to end in smime.sh (tokens are mailed).
problem "Authorization: Basic (not Bearer)" 401 - POST /api/v1/requests -H 'Authorization: Basic dXNlcjpwYXNz' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
check_match "  ... WWW-Authenticate names the Bearer scheme" "$(curl -sS -o /dev/null -D - --cacert "$T/root.pem" -H 'Authorization: Basic dXNlcjpwYXNz' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr" "$B/api/v1/requests" | tr -d '\r' | grep -i '^www-authenticate:')" 'Bearer realm="certmint"$'
problem "Authorization: Bearer with two tokens" 400 - POST /api/v1/requests -H 'Authorization: Bearer abc def' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
problem "Authorization: Bearer, not a certmint token" 401 - POST /api/v1/requests -H 'Authorization: Bearer abc' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
check_match "  ... names the token's form" "$(jget '["detail"]')" "cmt1.ID.SECRET"
problem "Authorization: Bearer, no such token" 401 - POST /api/v1/requests -H "Authorization: Bearer cmt1.0123456789abcdef.$(openssl rand -hex 32)" -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr"
check_match "  ... no such token" "$(jget '["detail"]')" "no such token"
check_match "  ... audited as a refused token" "$(cm "$H" audit | grep token-refused | tail -n 1)" "0123456789abcdef refused from 127.0.0.1"
problem "archive_key that is not base64" 400 officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary '{"csr":"x","profile":"api-auto","archive_key":"%%%"}'
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "api-auto", "archive_key": "MIIBAAE="}))' "$T/a.csr" >"$T/arch.json"
problem "archive_key with a signing profile (client certificate)" 422 officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary @"$T/arch.json"
check_match "  ... a signing key is never archived" "$(jget '["detail"]')" "does not archive keys"
make_csr rsa:2048 "$T/rsa.csr" "$T/rsa.key" "/CN=rsa.example.org" "DNS:rsa.example.org"
problem "CSR refused by the profile's policy" 422 officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/rsa.csr"
R_D=$(jget '["request_id"]')
check_match "  ... the reason names the key" "$(jget '["detail"]')" "(key|RSA|rsa)"
check_eq "  ... recorded as denied with its request_id" "$(cm "$H" view --restrict "RequestID=$R_D" --out Disposition --format csv | sed -n 2p | tr -d '\r')" denied

# ---- request status and certificate ----
check_eq "requester reads its request: 200" "$(api requester GET "/api/v1/requests/$R_P1")" "200 application/json"
check_eq "  ... pending, requester is its subject" "$(jget '["disposition"]') $(jget '["requester"]')" "pending subject:CN=API Requester"
problem "requester reads another's request" 403 requester GET "/api/v1/requests/$R_A"
check_eq "auditor reads any request: 200" "$(api auditor GET "/api/v1/requests/$R_A")" "200 application/json"
check_eq "  ... issued, with its serial" "$(jget '["disposition"]') $(jget '["serial"]')" "issued $S_A"
problem "no client certificate" 401 - GET "/api/v1/requests/$R_A"
problem "a certificate of another CA" 403 foreign GET "/api/v1/requests/$R_A"
problem "a revoked officer" 403 revoked GET "/api/v1/requests/$R_A"
problem "request id not a number" 400 officer GET /api/v1/requests/abc
problem "no such request" 404 officer GET /api/v1/requests/999999
check_eq "certificate of a request (PEM)" "$(api officer GET "/api/v1/requests/$R_A/certificate")" "200 application/pem-certificate-chain"
check "  ... verifies" openssl verify -CAfile "$T/root.pem" "$T/body"
problem "certificate of a pending request" 409 requester GET "/api/v1/requests/$R_P1/certificate"

# ---- approve, deny (compare-and-set) ----
problem "requester may not approve" 403 requester POST "/api/v1/requests/$R_P1/approve"
problem "auditor may not approve" 403 auditor POST "/api/v1/requests/$R_P1/approve"
check_eq "officer approves: 200" "$(api officer POST "/api/v1/requests/$R_P1/approve")" "200 application/json"
check_eq "  ... issued" "$(jget '["disposition"]')" issued
problem "approve again: no longer pending" 409 officer POST "/api/v1/requests/$R_P1/approve"
check_eq "requester fetches its approved certificate with the chain" "$(api requester GET "/api/v1/requests/$R_P1/certificate?chain=true")" "200 application/pem-certificate-chain"
check_eq "  ... two certificates" "$(grep -c 'BEGIN CERTIFICATE' "$T/body")" 2
check "  ... verifies (openssl verify)" openssl verify -CAfile "$T/root.pem" "$T/body"
problem "deny without a reason" 400 officer POST "/api/v1/requests/$R_P2/deny" -H 'Content-Type: application/json' --data-binary '{}'
check_eq "officer denies with a reason: 200" "$(api officer POST "/api/v1/requests/$R_P2/deny" -H 'Content-Type: application/json' --data-binary '{"reason":"not our host"}')" "200 application/json"
check_match "  ... recorded" "$(cm "$H" view --restrict "RequestID=$R_P2" --out Disposition,DispositionMessage --format csv)" "denied,.*not our host"
problem "deny again" 409 officer POST "/api/v1/requests/$R_P2/deny" -H 'Content-Type: application/json' --data-binary '{"reason":"x"}'
problem "approve a denied request" 409 admin POST "/api/v1/requests/$R_P2/approve"
problem "approve with a body that is not JSON" 415 officer POST "/api/v1/requests/$R_P3/approve" -H 'Content-Type: text/plain' --data-binary 'x'
# Two officers race for one request: one wins, the other gets 409.
pids=""
for n in 1 2 3 4; do
    (curl -sS -o /dev/null -w '%{http_code}\n' --cacert "$T/root.pem" --cert "$T/officer.pem" --key "$T/officer.key" -X POST "$B/api/v1/requests/$R_P3/approve" >"$T/race.$n") &
    pids="$pids $!"
done
for p in $pids; do wait "$p"; done
check_eq "four racing approves: one 200, three 409" "$(cat "$T"/race.* | sort | tr '\n' ' ')" "200 409 409 409 "
check_eq "  ... issued once" "$(db_sql "$H" "SELECT COUNT(*) FROM certificates WHERE RequestID=$R_P3")" 1

# ---- search ----
check_eq "auditor searches: 200" "$(api auditor GET '/api/v1/certificates?restrict=Disposition%3Dissued&columns=RequestID,SerialNumber&limit=1000')" "200 application/json"
check_eq "  ... as many rows as certmint view" "$(jget '["count"]')" "$(cm "$H" view --restrict Disposition=issued --out RequestID --format csv | tail -n +2 | wc -l | tr -d ' ')"
check_match "  ... rows carry the columns asked for" "$(jget '["certificates"][0]')" '"RequestID": [0-9]+, "SerialNumber"'
problem "search, bad restriction" 400 auditor GET '/api/v1/certificates?restrict=NoSuchColumn%3D1'
problem "search, bad limit" 400 auditor GET '/api/v1/certificates?limit=0'
problem "requester may not search" 403 requester GET /api/v1/certificates

# ---- certificates by serial ----
check_eq "certificate by serial (PEM)" "$(api auditor GET "/api/v1/certificates/$S_A")" "200 application/pem-certificate-chain"
check_eq "  ... is the issued one" "$(openssl x509 -in "$T/body")" "$(cat "$T/a.pem")"
check_eq "  ... DER" "$(api auditor GET "/api/v1/certificates/$S_A?format=der")" "200 application/pkix-cert"
check "  ... parses as DER (openssl x509)" openssl x509 -inform DER -in "$T/body" -noout
check_eq "  ... PKCS#7 with the chain" "$(api auditor GET "/api/v1/certificates/$S_A?format=p7b")" "200 application/pkcs7-mime"
check_match "  ... holds the CA certificate (openssl pkcs7)" "$(openssl pkcs7 -inform DER -in "$T/body" -print_certs)" "Test Root"
problem "DER with a chain" 400 auditor GET "/api/v1/certificates/$S_A?format=der&chain=true"
problem "unknown format" 400 auditor GET "/api/v1/certificates/$S_A?format=xml"
problem "serial not hex (a restriction smuggled in)" 400 auditor GET "/api/v1/certificates/AB,Disposition%3Dissued"
problem "no such serial" 404 auditor GET /api/v1/certificates/0123456789ABCDEF
problem "requester reads another's certificate" 403 requester GET "/api/v1/certificates/$S_A"

# ---- revoke, unrevoke, CRL ----
before=$(state)
problem "auditor may not revoke" 403 auditor POST "/api/v1/certificates/$S_A/revoke" -H 'Content-Type: application/json' --data-binary '{"reason":"keyCompromise"}'
problem "revoke with an unknown reason" 400 officer POST "/api/v1/certificates/$S_A/revoke" -H 'Content-Type: application/json' --data-binary '{"reason":"bored"}'
problem "revoke with removeFromCRL" 400 officer POST "/api/v1/certificates/$S_A/revoke" -H 'Content-Type: application/json' --data-binary '{"reason":"removeFromCRL"}'
problem "revoke with a misspelt member" 400 officer POST "/api/v1/certificates/$S_A/revoke" -H 'Content-Type: application/json' --data-binary '{"reasn":"keyCompromise"}'
problem "revoke an unknown serial" 404 officer POST /api/v1/certificates/0123456789ABCDEF/revoke
check_eq "refused revocations changed nothing" "$(state)" "$before"
check_eq "officer revokes (keyCompromise): 200" "$(api officer POST "/api/v1/certificates/$S_A/revoke" -H 'Content-Type: application/json' --data-binary '{"reason":"keyCompromise","invalidity_date":"2026-01-02T03:04:05Z"}')" "200 application/json"
check_eq "  ... reason" "$(jget '["reason"]')" keyCompromise
problem "revoke again" 409 officer POST "/api/v1/certificates/$S_A/revoke" -H 'Content-Type: application/json' --data-binary '{"reason":"keyCompromise"}'
problem "unrevoke a certificate not on hold" 409 officer POST "/api/v1/certificates/$S_A/unrevoke"
check_eq "officer publishes a CRL: 201" "$(api officer POST /api/v1/crl -H 'Content-Type: application/json' --data-binary '{"delta":false}')" "201 application/json"
n=$(jget '["number"]')
check_eq "  ... the CRL on disk has that number" "$(printf '%d' "$(openssl crl -inform DER -in "$H/crl/ca.crl" -noout -crlnumber | cut -d= -f2)")" "$n"
crl=$(openssl crl -inform DER -in "$H/crl/ca.crl" -noout -text)
check_match "  ... lists the revoked serial" "$crl" "Serial Number: $S_A"
check_match "  ... with its reason" "$(printf '%s' "$crl" | grep -A4 "Serial Number: $S_A")" "Key Compromise"
check "  ... and verifies against the CA (openssl crl -CAfile)" openssl crl -inform DER -in "$H/crl/ca.crl" -CAfile "$T/root.pem" -noout
check_fails "openssl verify -crl_check: the revoked certificate fails" sh -c "openssl x509 -in '$T/a.pem' >'$T/a2.pem'; openssl crl -inform DER -in '$H/crl/ca.crl' >'$T/crl.pem'; cat '$T/root.pem' '$T/crl.pem' >'$T/trust.pem'; openssl verify -crl_check -CAfile '$T/trust.pem' '$T/a2.pem'"
check_eq "admin publishes a delta CRL: 201" "$(api admin POST /api/v1/crl -H 'Content-Type: application/json' --data-binary '{"delta":true}')" "201 application/json"
check_match "  ... a delta CRL (openssl crl)" "$(openssl crl -inform DER -in "$H/crl/delta.crl" -noout -text)" "Delta CRL Indicator"
problem "CRL body not JSON" 415 officer POST /api/v1/crl -H 'Content-Type: text/plain' --data-binary 'delta'
problem "requester may not publish a CRL" 403 requester POST /api/v1/crl
# hold and release
S_H=$(cm "$H" view --restrict "RequestID=$R_P1" --out SerialNumber --format csv | sed -n 2p | tr -d '\r')
check_eq "hold (certificateHold): 200" "$(api admin POST "/api/v1/certificates/$S_H/revoke" -H 'Content-Type: application/json' --data-binary '{"reason":6}')" "200 application/json"
check_eq "release from hold: 200" "$(api officer POST "/api/v1/certificates/$S_H/unrevoke")" "200 application/json"
check_eq "  ... no longer revoked" "$(cm "$H" view --restrict "SerialNumber=$S_H" --out Disposition --format csv | sed -n 2p | tr -d '\r')" issued
check_match "  ... audited with the officer as the actor" "$(cm "$H" audit | grep -i unrevoke | tail -n 1)" "subject:CN=API Officer"

# ---- key archival with a client certificate (archive_key, issue 12) ----
problem "transport certificate before there is one" 409 - GET /api/v1/kra/transport-certificate
cm "$H" kra transport-cert --init --out "$T/transport.pem" >/dev/null || fail "kra transport-cert"
check_eq "transport certificate, anonymously: 200 PEM" "$(api - GET /api/v1/kra/transport-certificate)" "200 application/pem-certificate-chain"
check "  ... the one kra transport-cert made" cmp "$T/body" "$T/transport.pem"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/kra.key" 2>/dev/null
openssl req -new -x509 -key "$T/kra.key" -subj "/CN=API Agent" -days 30 -addext "keyUsage=keyEncipherment" -out "$T/kra.crt" 2>/dev/null
cm "$H" kra add "$T/kra.crt" >/dev/null || fail "kra add"
make_csr rsa:2048 "$T/enc.csr" "$T/enc.key" "/CN=API Officer" "email:officer@example.org"
openssl pkcs8 -topk8 -nocrypt -in "$T/enc.key" -outform DER | openssl cms -encrypt -binary -aes-256-gcm -outform PEM -out "$T/enc.p7m" "$T/transport.pem" 2>/dev/null
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "api-enc", "archive_key": open(sys.argv[2]).read()}))' "$T/enc.csr" "$T/enc.p7m" >"$T/enc.json"
check_eq "officer submits with archive_key (PEM envelope): 201" "$(api officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary @"$T/enc.json")" "201 application/json"
S_ENC=$(jget '["serial"]')
check_match "  ... the key is archived (audit key-archive for the serial)" "$(cm "$H" audit | grep key-archive)" "$S_ENC"
make_csr rsa:2048 "$T/enc2.csr" "$T/enc2.key" "/CN=API Officer" "email:officer@example.org"
python3 -c 'import json,sys; print(json.dumps({"csr": open(sys.argv[1]).read(), "profile": "api-enc", "archive_key": open(sys.argv[2]).read()}))' "$T/enc2.csr" "$T/enc.p7m" >"$T/enc2.json"
problem "archive_key holding another key than the CSR's" 422 officer POST /api/v1/requests -H 'Content-Type: application/json' --data-binary @"$T/enc2.json"
check_match "  ... denied with that reason" "$(jget '["detail"]')" "does not match the request's public key"

# ---- exit modules ----
check_eq "auditor reads the exit-module status: 200" "$(api auditor GET /api/v1/exit-modules)" "200 application/json"
check_match "  ... lists the modules" "$(jget '["modules"]')" '"name": "smtp"'
check_eq "admin too" "$(api admin GET /api/v1/exit-modules | cut -d' ' -f1)" 200
problem "officer may not read the exit-module status" 403 officer GET /api/v1/exit-modules

# ---- methods, unknown paths, traversal ----
problem "GET on an action: 405" 405 officer GET /api/v1/crl
check_match "  ... Allow: POST" "$(curl -sS -D - -o /dev/null --cacert "$T/root.pem" --cert "$T/officer.pem" --key "$T/officer.key" "$B/api/v1/crl" | tr -d '\r')" "Allow: POST"
problem "POST on a read: 405" 405 officer POST "/api/v1/requests/$R_A"
problem "unknown API path: 404" 404 officer GET /api/v1/nothing
check_eq "DELETE: 501 (not an HTTP method the server speaks)" "$(api officer DELETE "/api/v1/requests/$R_A" | cut -d' ' -f1)" 501
check_eq "traversal /api/v1/../certmint.conf: 400" "$(api officer GET /api/v1/../certmint.conf | cut -d' ' -f1)" 400
check_eq "traversal %2e%2e: 400" "$(api officer GET /api/v1/requests/%2e%2e/%2e%2e/certmint.conf | cut -d' ' -f1)" 400
check_eq "traversal with encoded slashes: 400" "$(api officer GET /api/v1/certificates/01%2F..%2F..%2Fx | cut -d' ' -f1)" 400

# ---- the OpenAPI document, held against the server ----
api requester POST '/api/v1/requests?profile=api-manual' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr" >/dev/null
R_C1=$(jget '["request_id"]')
api requester POST '/api/v1/requests?profile=api-manual' -H 'Content-Type: application/pkcs10' --data-binary @"$T/a.csr" >/dev/null
R_C2=$(jget '["request_id"]')
python3 "$TOP/tests/api_conformance.py" "$TOP/src/http/openapi.json" "$B" "$T/root.pem" \
    --cred requester="$T/requester.pem,$T/requester.key" --cred officer="$T/officer.pem,$T/officer.key" \
    --cred auditor="$T/auditor.pem,$T/auditor.key" --cred admin="$T/admin.pem,$T/admin.key" \
    --cred none="$T/norole.pem,$T/norole.key" --csr "$T/a.csr" \
    --param id="$R_P1" --param approve.id="$R_C1" --param deny.id="$R_C2" \
    --param serial="$S_H" >"$T/conf.out" 2>&1
rc=$?
cat "$T/conf.out"
check_eq "OpenAPI conformance script passes" "$rc" 0

# ---- SMTP exit module, strict audit mode ----
if [ "$(id -u)" -ne 0 ] || ! PATH=/usr/sbin:/sbin:$PATH command -v postfix >/dev/null 2>&1; then
    ok "skipped: the SMTP part needs root and Postfix"
    serve_stop
    done_testing
fi
PATH=/usr/sbin:/sbin:$PATH
MTA="$TOP/scripts/mta.sh"
chmod 711 "$T"
M="$T/mta"
MP=$(free_port)
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
sh "$MTA" start "$M" "$MP" >"$T/mta.out" 2>&1 || { fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"; done_testing; }
serve_stop
cfg exit.modules smtp
cfg exit.smtp.server 127.0.0.1
cfg exit.smtp.port "$MP"
cfg exit.smtp.tls starttls
cfg exit.smtp.cafile "$M/tls/ca.pem"
cfg exit.smtp.auth plain
cfg exit.smtp.username "$(cat "$M/smtp-user")"
cfg exit.smtp.password_file "$M/smtp-password"
cfg exit.smtp.from "API Test CA <ca@example.org>"
cfg exit.smtp.to "admin@example.org"
cfg audit.require_offbox yes
sh "$MTA" stop "$M"
serve_https "$H" "$P"
make_csr ec:p256 "$T/m.csr" "$T/m.key" "/CN=mail.example.org" "DNS:mail.example.org"
check_eq "strict, MTA down: API submit is 202" "$(api officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/m.csr")" "202 application/json"
check_eq "  ... issued but withheld, no certificate" "$(jget '["disposition"]') $(jget '["withheld"]') $(jget '["certificate"]')" "issued True None"
R_M=$(jget '["request_id"]')
S_M=$(jget '["serial"]')
problem "  ... the request's certificate is withheld" 409 officer GET "/api/v1/requests/$R_M/certificate"
problem "  ... and by serial too" 409 auditor GET "/api/v1/certificates/$S_M"
sh "$MTA" start "$M" "$MP" >"$T/mta.out" 2>&1 || fail "mta.sh start again: $(cat "$T/mta.out")"
i=0
until [ "$(api officer GET "/api/v1/requests/$R_M/certificate" | cut -d' ' -f1)" = 200 ] || [ $i -gt 60 ]; do
    sleep 0.5
    i=$((i + 1))
done
check_eq "MTA back: the certificate is released" "$(api officer GET "/api/v1/requests/$R_M/certificate")" "200 application/pem-certificate-chain"
cp "$T/body" "$T/m.pem"
check "  ... verifies" openssl verify -CAfile "$T/root.pem" "$T/m.pem"
i=0
while [ "$(postqueue -c "$M/etc" -p 2>/dev/null | tail -n 1)" != "Mail queue is empty" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
python3 "$TOP/tests/e2e/maildir.py" scan "$M/Maildir" "$T/mails" >/dev/null 2>"$T/scan.err" || fail "maildir.py: $(cat "$T/scan.err")"
openssl x509 -in "$T/m.pem" -outform DER -out "$T/m.der"
check "  ... and was mailed first (CERTISSUED, attached)" cmp "$T/mails/att/$S_M.cer" "$T/m.der"
check_eq "  ... its CERTISSUED event names the request" "$(awk -F'\t' -v s="$S_M" '$3 == "CERTISSUED" && $5 == s { print $4 }' "$T/mails/events.tsv" | head -n 1)" "$R_M"
check_eq "strict, MTA up: API submit is 201 with the certificate" "$(api officer POST '/api/v1/requests?profile=api-auto' -H 'Content-Type: application/pkcs10' --data-binary @"$T/m.csr")" "201 application/json"
check "  ... verifies" sh -c "python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"certificate\"])' '$T/body' | openssl verify -CAfile '$T/root.pem'"
serve_stop
check_eq "serve stops cleanly" "$?" 0
done_testing
