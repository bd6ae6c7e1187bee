#!/bin/sh
# End to end: the /certsrv web enrollment pages of certmint serve, with curl
# over HTTPS. Client certificate authentication and roles (one from this
# CA per role, one from another CA: refused, a revoked officer: refused,
# none: anonymous), every page for every role, CSRF (missing or wrong token:
# 403, nothing stored), hostile subjects shown as text, malformed and
# oversized forms (4xx, nothing stored), submit -> pending -> officer
# approves -> the requester downloads (PEM, DER, .p7b) -> openssl verify,
# deny with a reason, renewal of one's own subject issued at once, search,
# revoke and CRL publication through the pages, each audited as
# subject:DN.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "skip - $SUITE: curl missing (scripts/install-deps.sh)"; exit 0; }
H="$T/ca"
P=$(free_port)
PS=$(free_port)
S="https://127.0.0.1:$PS"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
serve_listen "$H" "$P" "$PS"
cm "$H" ca-cert >"$T/root.pem"
# Profiles: "web" open to anyone (anonymous requests pend), "staff" to
# holders of a role (tls-client), tls-server not offered at all.
cm "$H" config set profile.web.base tls-client >/dev/null
cm "$H" config set profile.web.http_access anyone >/dev/null
cm "$H" config set profile.staff.base tls-client >/dev/null
cm "$H" config set profile.staff.http_access requester >/dev/null
O="O=certmint tests"
cm "$H" config set http.roles.officer "CN=Olivia Officer,$O; CN=Rex Revoked,$O" >/dev/null
cm "$H" config set http.roles.requester "CN=Rita Requester,$O" >/dev/null
cm "$H" config set http.roles.auditor "/O=certmint tests/CN=Audrey Auditor" >/dev/null

# client certificates: name CN [home] -> $T/name.pem, $T/name.key; serial printed
client() {
    make_csr ec:p256 "$T/$1.csr" "$T/$1.key" "/O=certmint tests/CN=$2"
    cm "${3:-$H}" submit --profile tls-client --out "$T/$1.pem" "$T/$1.csr" | cut -f3
}
client olivia "Olivia Officer" >/dev/null
s_rex=$(client rex "Rex Revoked")
client rita "Rita Requester" >/dev/null
client audrey "Audrey Auditor" >/dev/null
client nora "Nora Norole" >/dev/null
new_root "$T/other" ec:p256 >/dev/null
cm "$T/other" config set http.listen "" >/dev/null
client mallory "Olivia Officer" "$T/other" >/dev/null
check "--setup-tls" cm "$H" serve --setup-tls

# A DN in http.roles.* that does not parse stops serve at start, named.
cm "$H" config set http.roles.admin "CN=Ada,=broken" >/dev/null
out=$(timeout 20 "$CM" --home "$H" --passphrase-file "$PASS" serve 2>&1)
check_eq "bad DN in http.roles.admin: serve refuses to start" "$?" 1
check_match "bad DN: the key and the DN named" "$out" "http.roles.admin: 'CN=Ada,=broken'"
cm "$H" config unset http.roles.admin >/dev/null

serve_https "$H" "$P"

# c WHO curl-args...: curl over HTTPS as WHO (anon, olivia, ...) with WHO's
# cookie jar; the body in $T/body, the headers in $T/hdr, the code printed.
c() {
    who=$1
    shift
    if [ "$who" = anon ]; then set -- --cacert "$T/root.pem" "$@"; else
        set -- --cacert "$T/root.pem" --cert "$T/$who.pem" --key "$T/$who.key" "$@"; fi
    curl -sS -o "$T/body" -D "$T/hdr" -w '%{http_code}' -b "$T/jar.$who" -c "$T/jar.$who" "$@"
}
# token WHO PAGE: the CSRF token of the page's form.
token() {
    c "$1" "$S$2" >/dev/null
    sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$T/body" | head -1
}
nreq() { cm "$H" view --format csv -o RequestID | tail -n +2 | wc -l; }
body() { cat "$T/body"; }

# ---- anonymous, headers ----
check_eq "plain HTTP: /certsrv refused" "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/certsrv")" 403
check_eq "anonymous: start page" "$(c anon "$S/certsrv")" 200
check_match "anonymous: says so" "$(body)" "Anonymous \(no client certificate\)"
hdr=$(tr -d '\r' <"$T/hdr")
check_match "CSP: default-src 'none', no inline script or style" "$hdr" "Content-Security-Policy: default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'"
check_match "X-Content-Type-Options: nosniff" "$hdr" "X-Content-Type-Options: nosniff"
check_match "CSRF cookie: Secure, HttpOnly, SameSite=Strict" "$hdr" "Set-Cookie: certmint_csrf=[0-9a-f]{64}; Path=/certsrv; Max-Age=[0-9]+; Secure; HttpOnly; SameSite=Strict"
check_eq "no inline style or script on the page" "$(grep -Eic '<script|style=|<style' "$T/body")" 0
check_eq "style sheet" "$(c anon "$S/certsrv/style.css")" 200
check_match "style sheet: text/css" "$(tr -d '\r' <"$T/hdr")" "Content-Type: text/css"
check_eq "download page" "$(c anon "$S/certsrv/download")" 200
check_match "download page links the CA certificate" "$(body)" 'href="/ca/ca.crt"'
check_eq "unknown page: 404" "$(c anon "$S/certsrv/nothing")" 404
check_eq "anonymous: officer page refused" "$(c anon "$S/certsrv/officer")" 403
check_match "anonymous: officer page says why" "$(body)" "needs a client certificate"

# ---- submit: CSRF, bad input, nothing stored ----
make_csr ec:p256 "$T/hostile.csr" "$T/hostile.key" '/CN=<script>document.title="pwned"<\/script>/O="onmouseover=alert(1) x'
make_csr ec:p256 "$T/plain.csr" "$T/plain.key" "/CN=plain.example.org" "DNS:plain.example.org"
check_eq "request form" "$(c anon "$S/certsrv/request")" 200
check_match "request form offers the open profile" "$(body)" '<option value="web"'
check_eq "request form hides profiles not open to anonymous" "$(grep -c 'value="staff"\|value="tls-server"' "$T/body")" 0
tok=$(token anon /certsrv/request)
check_match "form carries a CSRF token" "$tok" "^[0-9a-f]{64}$"
n0=$(nreq)
check_eq "submit without CSRF token: 403" "$(c anon -F profile=web -F "csr=<$T/plain.csr" "$S/certsrv/request")" 403
check_match "CSRF refusal says why" "$(body)" "CSRF"
check_eq "submit with a wrong CSRF token: 403" "$(c anon -F csrf=$(printf '%064d' 0) -F profile=web -F "csr=<$T/plain.csr" "$S/certsrv/request")" 403
check_eq "a token from another browser: 403" "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/root.pem" -F csrf="$tok" -F profile=web -F "csr=<$T/plain.csr" "$S/certsrv/request")" 403
check_eq "malformed CSR: 400" "$(c anon -F csrf="$tok" -F profile=web -F 'csr=-----BEGIN CERTIFICATE REQUEST-----garbage' "$S/certsrv/request")" 400
check_match "malformed CSR: the reason" "$(body)" "certificate request"
check_eq "no CSR: 400" "$(c anon -F csrf="$tok" -F profile=web "$S/certsrv/request")" 400
check_eq "profile not open over HTTPS: 403" "$(c anon -F csrf="$tok" -F profile=tls-server -F "csr=<$T/plain.csr" "$S/certsrv/request")" 403
check_eq "staff profile refused to anonymous: 403" "$(c anon -F csrf="$tok" -F profile=staff -F "csr=<$T/plain.csr" "$S/certsrv/request")" 403
head -c 70000 /dev/zero | tr '\0' 'A' >"$T/big"
check_eq "form over 64 KiB: 413" "$(c anon -F csrf="$tok" -F profile=web -F "csr=<$T/big" "$S/certsrv/request")" 413
check_match "  ... a page of ours (HTML), not libevent's" "$(grep -i '^content-type:' "$T/hdr")" "text/html; charset=utf-8"
check_match "  ... that says why" "$(body)" "larger than 64 KiB"
check_eq "chunked form over 64 KiB: 413" "$(c anon -H 'Transfer-Encoding: chunked' --data-binary @"$T/big" "$S/certsrv/request")" 413
check_match "  ... our page" "$(body)" "larger than 64 KiB"
check_eq "multipart without closing boundary: 400" "$(c anon -H 'Content-Type: multipart/form-data; boundary=XX' --data-binary "$(printf -- '--XX\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n%s' "$tok")" "$S/certsrv/request")" 400
check_eq "bad %-escape in a urlencoded form: 400" "$(c anon --data-binary "csrf=$tok&csr=%zz" "$S/certsrv/request")" 400
check_eq "unknown form type: 400" "$(c anon -H 'Content-Type: text/plain' --data-binary "csrf=$tok" "$S/certsrv/request")" 400
check_eq "nothing stored by refused forms" "$(nreq)" "$n0"

# ---- anonymous submissions pend; the cookie remembers them ----
check_eq "anonymous submit (pasted, urlencoded)" "$(c anon --data-urlencode csrf="$tok" --data-urlencode profile=web --data-urlencode "csr@$T/hostile.csr" "$S/certsrv/request")" 200
check_match "anonymous request pends" "$(body)" "waits for a certificate officer"
id_h=$(sed -n 's/.*id="reqid">\([0-9]*\)<.*/\1/p' "$T/body")
check_match "request id shown" "$id_h" "^[0-9]+$"
check_match "cookie remembers the request" "$(tr -d '\r' <"$T/hdr")" "Set-Cookie: certmint_reqs=$id_h~[0-9a-f]{64}"
check_eq "anonymous submit (uploaded file)" "$(c anon -F csrf="$tok" -F profile=web -F "csrfile=@$T/plain.csr" "$S/certsrv/request")" 200
id_p=$(sed -n 's/.*id="reqid">\([0-9]*\)<.*/\1/p' "$T/body")
check_match "uploaded request pends too" "$id_p" "^[0-9]+$"
check_eq "status page" "$(c anon "$S/certsrv/status")" 200
check_match "status lists both requests" "$(body)" "<td>$id_p</td>.*|<td>$id_h</td>"
check_eq "status shows the hostile subject escaped" "$(grep -cF 'CN=\&lt;script\&gt;document.title=' "$T/body")" 1
check_eq "no live script tag on the status page" "$(grep -c '<script' "$T/body")" 0
check_eq "another browser may not see the request" "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/root.pem" "$S/certsrv/status?id=$id_h")" 403
check_eq "an edited cookie is not honoured" "$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$T/root.pem" -b "certmint_reqs=$id_h~$(printf '%064d' 0)" "$S/certsrv/cert?id=$id_h")" 403

# ---- client certificates ----
check_eq "officer: start page" "$(c olivia "$S/certsrv")" 200
check_match "officer: subject and roles shown" "$(body)" "Signed in as <b>CN=Olivia Officer,O=certmint tests</b> <span class=\"roles\">requester, officer</span>"
check_eq "certificate from another CA (same subject): 403" "$(c mallory "$S/certsrv")" 403
check_match "another CA: the reason" "$(body)" "not accepted by this CA"
check_eq "another CA: no officer page" "$(c mallory "$S/certsrv/officer")" 403
check_eq "requester: officer page refused" "$(c rita "$S/certsrv/officer")" 403
check_eq "no role: officer page refused" "$(c nora "$S/certsrv/officer")" 403
check_eq "auditor: pending page" "$(c audrey "$S/certsrv/officer")" 200
check_eq "auditor: no approve buttons" "$(grep -c 'value="approve"' "$T/body")" 0
atok=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$T/body" | head -1)
atok=$(token audrey /certsrv/officer/search)
[ -z "$atok" ] && atok=$(token audrey /certsrv/request)
check_eq "auditor: approving refused" "$(c audrey -d csrf="$atok" -d action=approve -d id="$id_p" "$S/certsrv/officer")" 403

# ---- the officer ----
check_eq "officer: pending page" "$(c olivia "$S/certsrv/officer")" 200
check_match "pending page lists the request" "$(body)" "id=\"req-$id_h\""
# RFC 4514 escapes < > " with a backslash; HTML escapes them again.
check_match "hostile subject shown as text" "$(body)" 'CN=\\&lt;script\\&gt;document.title=\\&quot;pwned\\&quot;\\&lt;/script\\&gt;'
check_match "quote-breaking subject shown as text" "$(body)" 'O=\\&quot;onmouseover=alert\(1\) x'
check_eq "no live script tag on the officer page" "$(grep -c '<script' "$T/body")" 0
check_match "decoded content: SANs" "$(body)" "DNS:plain.example.org"
check_match "decoded content: key" "$(body)" "EC 256 bits"
otok=$(sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$T/body" | head -1)
check_eq "officer: approve without token: 403" "$(c olivia -d action=approve -d id="$id_p" "$S/certsrv/officer")" 403
check_eq "officer: a requester's token does not work: 403" "$(c olivia -d csrf="$tok" -d action=approve -d id="$id_p" "$S/certsrv/officer")" 403
check_eq "still pending after refused forms" "$(cm "$H" view -r "RequestID=$id_p" -o Disposition --format csv | tail -1 | tr -d '\r')" pending
check_eq "officer approves" "$(c olivia -d csrf="$otok" -d action=approve -d id="$id_p" "$S/certsrv/officer")" 200
check_match "approval confirmed" "$(body)" "Request $id_p approved: certificate [0-9A-F]+ issued"
check_eq "approving again: 409 (no longer pending)" "$(c olivia -d csrf="$otok" -d action=approve -d id="$id_p" "$S/certsrv/officer")" 409
check_match "409 says why" "$(body)" "no longer pending"
check_eq "officer denies the hostile request" "$(c olivia -d csrf="$otok" -d action=deny -d id="$id_h" --data-urlencode 'reason=<b>not ours</b>' "$S/certsrv/officer")" 200
check_match "audit: the approval's issue by the officer's subject" "$(cm "$H" audit)" "subject:CN=Olivia Officer,O=certmint tests	issue	$id_p	"
check_match "audit: the denial by the officer's subject" "$(cm "$H" audit)" "subject:CN=Olivia Officer,O=certmint tests	deny	$id_h	"
check_match "audit: anonymous submit by service:http-anonymous" "$(cm "$H" audit)" "service:http-anonymous"

# ---- the requester downloads ----
check_eq "status: issued" "$(c anon "$S/certsrv/status?id=$id_p")" 200
check_match "status links the certificate" "$(body)" "/certsrv/cert\\?id=$id_p&amp;fmt=pem"
check_eq "download PEM" "$(c anon "$S/certsrv/cert?id=$id_p&fmt=pem")" 200
cp "$T/body" "$T/issued.pem"
check "downloaded certificate verifies (openssl verify)" openssl verify -CAfile "$T/root.pem" "$T/issued.pem"
check_eq "it is the requested key" "$(openssl x509 -in "$T/issued.pem" -noout -pubkey)" "$(openssl pkey -in "$T/plain.key" -pubout)"
check_eq "download DER" "$(c anon "$S/certsrv/cert?id=$id_p&fmt=der")" 200
check "DER certificate" openssl x509 -inform DER -in "$T/body" -noout
check_eq "download .p7b" "$(c anon "$S/certsrv/cert?id=$id_p&fmt=p7b")" 200
check_match ".p7b carries the certificate and the CA" "$(openssl pkcs7 -inform DER -in "$T/body" -print_certs)" "Test Root"
check_eq "status: denied with the reason, escaped" "$(c anon "$S/certsrv/status?id=$id_h")" 200
check_match "denied reason escaped" "$(body)" "&lt;b&gt;not ours&lt;/b&gt;"
check_eq "denied: no certificate (409)" "$(c anon "$S/certsrv/cert?id=$id_h&fmt=pem")" 409
check_eq "bad fmt: 400" "$(c anon "$S/certsrv/cert?id=$id_p&fmt=exe")" 400

# ---- requester role, renewal ----
rtok=$(token rita /certsrv/request)
check_eq "requester: staff profile offered" "$(grep -c 'value="staff"' "$T/body")" 1
make_csr ec:p256 "$T/rita2.csr" "$T/rita2.key" "/O=certmint tests/CN=Rita Requester"
check_eq "requester renews her own subject" "$(c rita -F csrf="$rtok" -F profile=staff -F "csr=<$T/rita2.csr" "$S/certsrv/request")" 200
check_match "renewal issued at once" "$(body)" "was issued"
make_csr ec:p256 "$T/other.csr" "$T/other.key" "/CN=someone.else"
check_eq "requester asks for another subject" "$(c rita -F csrf="$rtok" -F profile=staff -F "csr=<$T/other.csr" "$S/certsrv/request")" 200
check_match "another subject pends for an officer" "$(body)" "waits for a certificate officer"
ntok=$(token nora /certsrv/request)
check_eq "no role, another subject, staff profile: 403" "$(c nora -F csrf="$ntok" -F profile=staff -F "csr=<$T/other.csr" "$S/certsrv/request")" 403
make_csr ec:p256 "$T/nora2.csr" "$T/nora2.key" "/O=certmint tests/CN=Nora Norole"
check_eq "no role, own subject (renewal): issued" "$(c nora -F csrf="$ntok" -F profile=staff -F "csr=<$T/nora2.csr" "$S/certsrv/request")" 200
check_match "renewal without a role issued" "$(body)" "was issued"

# ---- search, revoke, CRL ----
check_eq "search" "$(c olivia "$S/certsrv/officer/search?q=Disposition%3Ddenied")" 200
check_match "search finds the denied request" "$(body)" "<td>$id_h</td>"
check_eq "search: hostile text escaped" "$(grep -c '<script' "$T/body")" 0
check_eq "search: bad restriction shown, 200" "$(c olivia "$S/certsrv/officer/search?q=Nope%3D1")" 200
check_match "search: the restriction's error" "$(body)" "class=\"note error\""
check_eq "Rex the officer works before his revocation" "$(c rex "$S/certsrv/officer")" 200
vtok=$(token olivia /certsrv/officer/revoke)
check_eq "revoke: bad serial 400" "$(c olivia -d csrf="$vtok" -d serial=XYZ -d reason=keyCompromise "$S/certsrv/officer/revoke")" 400
check_eq "officer revokes Rex's certificate" "$(c olivia -d csrf="$vtok" -d serial="$s_rex" -d reason=keyCompromise "$S/certsrv/officer/revoke")" 200
check_match "revocation confirmed" "$(body)" "revoked \(keyCompromise\)"
check_eq "revoked officer: 403" "$(c rex "$S/certsrv/officer")" 403
check_match "revoked officer: the reason" "$(body)" "revoked"
check_eq "revoked officer: no start page either" "$(c rex "$S/certsrv")" 403
ctok=$(token olivia /certsrv/officer/crl)
check_eq "publish a CRL" "$(c olivia -d csrf="$ctok" -d kind=full "$S/certsrv/officer/crl")" 200
check_match "CRL published" "$(body)" "Full CRL number [0-9]+ published"
check_match "the CRL lists Rex's serial" "$(openssl crl -inform DER -in "$H/crl/ca.crl" -noout -text)" "Serial Number: $s_rex"
check_match "audit: revoke by the officer's subject" "$(cm "$H" audit | grep revoke)" "subject:CN=Olivia Officer"
check_eq "auditor: revoke refused" "$(c audrey -d csrf="$atok" -d serial="$s_rex" -d reason=keyCompromise "$S/certsrv/officer/revoke")" 403

serve_stop 2>/dev/null
done_testing
