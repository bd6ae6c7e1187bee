#!/bin/sh
# End to end: certmint serve over HTTP. Distribution points (content types,
# caching headers, 304, 404, path traversal), AIA/CDP made from
# http.base_url and walked by `openssl verify -crl_download`, the OCSP
# responder (openssl ocsp: good, revoked with reason and time, unknown,
# nonce, unauthorized, malformed; GET and POST; GnuTLS ocsptool), HTTPS
# from --setup-tls (TLS 1.2/1.3 only), /healthz, /metrics, slow clients,
# the connection cap, SIGHUP and SIGTERM.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "skip - $SUITE: curl missing (scripts/install-deps.sh)"; exit 0; }
H="$T/ca"
P=$(free_port)
PS=$(free_port)
B="http://127.0.0.1:$P"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" config set http.listen "127.0.0.1:$P" >/dev/null
cm "$H" config set http.base_url "$B/" >/dev/null
cm "$H" config set https.listen "127.0.0.1:$PS" >/dev/null
cm "$H" config set http.threads 2 >/dev/null
cm "$H" config set http.request_timeout 3s >/dev/null
cm "$H" config set http.max_connections 40 >/dev/null
cm "$H" config set serve.poll_interval 1 >/dev/null
cm "$H" ca-cert >"$T/root.pem"

issue() { # name -> serial; certificate in $T/name.pem
    make_csr ec:p256 "$T/$1.csr" "$T/$1.key" "/CN=$1.example.org" "DNS:$1.example.org"
    cm "$H" submit --profile tls-server --out "$T/$1.pem" "$T/$1.csr" | cut -f3
}
s_good=$(issue good)
s_bad=$(issue bad)
txt=$(openssl x509 -in "$T/good.pem" -noout -text)
check_match "CDP made from http.base_url" "$txt" "URI:$B/crl/ca.crl"
check_match "AIA OCSP made from http.base_url" "$txt" "OCSP - URI:$B/ocsp"
check_match "AIA caIssuers made from http.base_url" "$txt" "CA Issuers - URI:$B/ca/ca.crt"
check "full CRL published" cm "$H" crl

check "--setup-tls issues the HTTPS certificate" cm "$H" serve --setup-tls --tls-names ca.example.test
check "HTTPS certificate chains to the CA" openssl verify -CAfile "$T/root.pem" "$H/private/https.crt"
check_match "HTTPS certificate names 127.0.0.1" "$(openssl x509 -in "$H/private/https.crt" -noout -ext subjectAltName)" "IP Address:127.0.0.1"

serve_https "$H" "$P"
ok "serve listens on http.listen"
check_eq "/healthz" "$(curl -sS "$B/healthz")" "ok"

# ---- distribution points ----
hdr() { curl -sS -o "$T/body" -D - "$@" | tr -d '\r'; }
h=$(hdr "$B/ca/ca.crt")
check_match "CA certificate: 200" "$h" "^HTTP/1.1 200"
check_match "CA certificate: application/pkix-cert" "$h" "Content-Type: application/pkix-cert"
check_eq "CA certificate is the DER of ca.crt" "$(openssl x509 -inform DER -in "$T/body" -outform PEM)" "$(openssl x509 -in "$T/root.pem")"
check_match "CA certificate: ETag" "$h" 'ETag: "[0-9a-f]{32}"'
check_match "CA certificate: Cache-Control" "$h" "Cache-Control: public, max-age=86400"
h=$(hdr "$B/ca/ca.pem")
check "CA certificate PEM" openssl x509 -in "$T/body" -noout
h=$(hdr "$B/ca/ca-chain.p7b")
check_match "chain: application/pkcs7-mime" "$h" "Content-Type: application/pkcs7-mime"
check "chain is a DER PKCS#7 with the CA certificate" sh -c "openssl pkcs7 -inform DER -in '$T/body' -print_certs | grep -q 'Test Root'"
h=$(hdr "$B/crl/ca.crl")
check_match "CRL: application/pkix-crl" "$h" "Content-Type: application/pkix-crl"
check "CRL is the published CRL" cmp "$T/body" "$H/crl/ca.crl"
next=$(openssl crl -inform DER -in "$H/crl/ca.crl" -noout -nextupdate | cut -d= -f2)
age=$(printf '%s' "$h" | sed -n 's/^Cache-Control: public, max-age=\([0-9]*\)$/\1/p')
left=$(($(date -d "$next" +%s) - $(date +%s)))
# The server counted at its second, this script one or two seconds later.
[ -n "$age" ] && [ "$age" -le $((left + 2)) ] && [ "$age" -ge $((left - 5)) ] &&
    ok "CRL max-age runs to nextUpdate ($age s)" || fail "CRL max-age '$age', nextUpdate in $left s"
check_match "CRL: Expires" "$h" "Expires: "
check_match "CRL: Last-Modified" "$h" "Last-Modified: "
etag=$(printf '%s' "$h" | sed -n 's/^ETag: //p')
check_eq "If-None-Match: 304" "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$B/crl/ca.crl")" 304
check_eq "HEAD: no body, same length" "$(curl -sS -I "$B/crl/ca.crl" | tr -d '\r' | sed -n 's/^Content-Length: //p')" "$(wc -c <"$H/crl/ca.crl" | tr -d ' ')"
i=0
until [ "$(curl -sS -o /dev/null -w '%{http_code}' "$B/crl/ca-delta.crl")" = 200 ] || [ $i -gt 50 ]; do sleep 0.2; i=$((i + 1)); done
check_eq "delta CRL served once the loop published it" "$(curl -sS -o "$T/delta" -w '%{http_code} %{content_type}' "$B/crl/ca-delta.crl")" "200 application/pkix-crl"
check_match "delta CRL is a delta" "$(openssl crl -inform DER -in "$T/delta" -noout -text)" "Delta CRL Indicator"
# The other examples of docs/http.md, as written there.
curl -fsS -o "$T/ca.cer" "$B/ca/ca.cer"
curl -fsS -o "$T/ca.crt" "$B/ca/ca.crt"
check "docs: ca.cer is the DER of ca.crt" cmp "$T/ca.cer" "$T/ca.crt"
check_eq "docs: ca-chain.pem (openssl storeutl)" "$(curl -fsS -o "$T/chain.pem" "$B/ca/ca-chain.pem" && openssl storeutl -noout -certs "$T/chain.pem" | tail -n 1)" "Total found: 1"
check_eq "docs: If-None-Match with ca.crt's ETag: 304" \
    "$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $(curl -sSI "$B/ca/ca.crt" | sed -n 's/^ETag: //Ip' | tr -d '\r')" "$B/ca/ca.crt")" 304
code() { curl -sS -o /dev/null -w '%{http_code}' --path-as-is "$@"; }
check_eq "unknown CA name: 404" "$(code "$B/ca/other.crt")" 404
check_eq "unknown path: 404" "$(code "$B/nothing")" 404
check_eq "traversal ../ refused" "$(code "$B/ca/../certmint.conf")" 400
check_eq "traversal %2e%2e refused" "$(code "$B/ca/%2e%2e/certmint.conf")" 400
check_eq "traversal %2E%2E%2f refused" "$(code "$B/crl/%2E%2E%2fcertmint.conf")" 400
check_eq "NUL escape refused" "$(code "$B/ca/ca.crt%00.pem")" 400
check_eq "double slash refused" "$(code "$B//ca/ca.crt")" 400
check_eq "POST to a distribution point: 405" "$(code -X POST -d x "$B/ca/ca.crt")" 405
check_eq "PUT: not implemented" "$(code -X PUT -d x "$B/ca/ca.crt")" 501
head -c 70000 /dev/zero | tr '\0' 'A' >"$T/big"
check_eq "body over 64 KiB: 413" "$(code -X POST -H 'Content-Type: application/ocsp-request' --data-binary @"$T/big" "$B/ocsp")" 413

# A relying party walks chain and CRL from the certificate alone.
check "openssl verify -crl_download -crl_check (good certificate)" \
    openssl verify -CAfile "$T/root.pem" -crl_download -crl_check "$T/good.pem"

# ---- OCSP ----
ocsp() { openssl ocsp -issuer "$T/root.pem" -CAfile "$T/root.pem" -url "$B/ocsp" "$@" 2>&1; }
out=$(ocsp -cert "$T/good.pem")
check_match "OCSP good (delegated responder verifies)" "$out" "Response verify OK"
check_match "OCSP good" "$out" "good.pem: good"
check_match "OCSP nonce honoured" "$(ocsp -cert "$T/good.pem" -resp_text)" "OCSP Nonce"
out=$(ocsp -cert "$T/good.pem" -resp_text)
check_match "responder certificate has OCSP Signing" "$out" "OCSP Signing"
check_match "responder certificate has OCSP No Check" "$out" "OCSP No Check"
check "revoke (keyCompromise)" cm "$H" revoke "$s_bad" keyCompromise
sleep 1
out=$(ocsp -cert "$T/bad.pem" -no_nonce)
check_match "OCSP revoked at once" "$out" "bad.pem: revoked"
check_match "OCSP revocation reason" "$out" "Reason: keyCompromise"
check_match "OCSP revocation time" "$out" "Revocation Time: "
check_match "OCSP unknown for a serial never issued" "$(ocsp -serial 0x0123456789ABCDEF)" "0x0123456789ABCDEF: unknown"
cm "$H" ca-cert >/dev/null
# another issuer
new_root "$T/other" ec:p256 >/dev/null
cm "$T/other" ca-cert >"$T/other.pem"
check_match "another issuer: unauthorized" "$(openssl ocsp -issuer "$T/other.pem" -serial 0x01 -url "$B/ocsp" 2>&1)" "unauthorized"
check_eq "malformed POST: malformedRequest" "$(curl -sS -H 'Content-Type: application/ocsp-request' --data-binary garbage "$B/ocsp" | od -An -tx1 | tr -d ' \n')" "30030a0101"
check_eq "POST without the OCSP type: 415" "$(code --data-binary garbage "$B/ocsp")" 415
# GET (RFC 6960 A.1, RFC 5019): the pre-signed response, with caching headers.
openssl ocsp -issuer "$T/root.pem" -cert "$T/good.pem" -no_nonce -reqout "$T/req.der" >/dev/null 2>&1
enc=$(base64 -w0 "$T/req.der" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
h=$(hdr "$B/ocsp/$enc")
check_match "OCSP GET: application/ocsp-response" "$h" "Content-Type: application/ocsp-response"
check_match "OCSP GET: cacheable until nextUpdate" "$h" "Cache-Control: public, max-age=[0-9]+, no-transform, must-revalidate"
check_match "OCSP GET: ETag" "$h" "ETag: "
check_match "OCSP GET response verifies: good" "$(openssl ocsp -respin "$T/body" -issuer "$T/root.pem" -CAfile "$T/root.pem" -cert "$T/good.pem" 2>&1)" "good.pem: good"
cp "$T/body" "$T/get1"
curl -sS -o "$T/get2" "$B/ocsp/$(base64 -w0 "$T/req.der")"
check "OCSP GET with raw base64 answers the same pre-signed response" cmp "$T/get1" "$T/get2"
check_eq "OCSP GET of bad base64: malformedRequest" "$(curl -sS "$B/ocsp/%%%" | od -An -tx1 | tr -d ' \n')" "30030a0101"
if command -v ocsptool >/dev/null; then
    out=$(ocsptool --ask --load-issuer "$T/root.pem" --load-cert "$T/bad.pem" --load-trust "$T/root.pem" 2>&1)
    check_match "GnuTLS ocsptool: revoked" "$out" "Certificate Status: revoked"
    check_match "GnuTLS ocsptool: verified" "$out" "Verifying OCSP Response: Success"
    out=$(ocsptool --ask --load-issuer "$T/root.pem" --load-cert "$T/good.pem" --load-trust "$T/root.pem" 2>&1)
    check_match "GnuTLS ocsptool: good" "$out" "Certificate Status: good"
fi

# ---- HTTPS ----
check_eq "HTTPS /healthz with the CA's certificate" "$(curl -sS --cacert "$T/root.pem" "https://127.0.0.1:$PS/healthz")" ok
check_fails "TLS 1.1 refused" openssl s_client -connect "127.0.0.1:$PS" -tls1_1 -CAfile "$T/root.pem" </dev/null
out=$(openssl s_client -connect "127.0.0.1:$PS" -tls1_2 -CAfile "$T/root.pem" </dev/null 2>&1)
check_match "TLS 1.2 with an ECDHE AEAD suite" "$out" "Cipher is ECDHE-[A-Z]+-(AES128-GCM|AES256-GCM|CHACHA20)"
check_match "TLS 1.3" "$(openssl s_client -connect "127.0.0.1:$PS" -tls1_3 -CAfile "$T/root.pem" </dev/null 2>&1)" "Verify return code: 0"
check_fails "TLS 1.2 CBC suite refused" openssl s_client -connect "127.0.0.1:$PS" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA </dev/null

# ---- /metrics ----
m=$(curl -sS "$B/metrics")
check_match "metrics: certificates" "$m" "certmint_certificates [0-9]+"
check_match "metrics: pending requests" "$m" "certmint_requests_pending 0"
check_match "metrics: seconds to the next CRL" "$m" 'certmint_crl_next_update_seconds\{kind="full"\} [0-9]+'
check_match "metrics: OCSP revoked counted" "$m" 'certmint_ocsp_responses_total\{status="revoked"\} [1-9]'
check_match "metrics: OCSP malformed counted" "$m" 'certmint_ocsp_responses_total\{status="malformedRequest"\} [1-9]'
check_match "metrics: latency histogram" "$m" 'certmint_http_request_duration_seconds_bucket\{le="\+Inf"\} [1-9]'

# ---- slow clients and the connection cap ----
start=$(date +%s)
python3 - "$P" <<'PY' >"$T/slow.out" 2>&1
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1)
t0 = time.time()
try:
    for ch in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
        s.send(bytes([ch]))
        time.sleep(0.5)
        if time.time() - t0 > 20:
            print("still open"); break
except (BrokenPipeError, ConnectionResetError):
    pass
print("closed after %.0f s" % (time.time() - t0))
PY
check_match "a client trickling its header is cut (http.request_timeout 3s)" "$(cat "$T/slow.out")" "closed after [3-6] s"
python3 - "$P" "$B" <<'PY' >"$T/cap.out" 2>&1
import socket, sys, time, urllib.request
held = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(40)]
time.sleep(0.6)
try:
    urllib.request.urlopen(sys.argv[2] + "/healthz", timeout=1.5).read()
    print("served at the cap")
except Exception as e:
    print("waits at the cap")
for s in held:
    s.close()
time.sleep(0.8)
print(urllib.request.urlopen(sys.argv[2] + "/healthz", timeout=3).read().decode().strip())
PY
check_match "at http.max_connections a new connection waits" "$(cat "$T/cap.out")" "waits at the cap"
check_match "below the cap it is served again" "$(cat "$T/cap.out")" "ok$"

# ---- CRL publication and SIGHUP ----
check "publish a new CRL from the command line" cm "$H" crl
sleep 2.5
check "the new CRL is served after the loop's tick" sh -c "curl -sS '$B/crl/ca.crl' | cmp - '$H/crl/ca.crl'"
old=$(openssl s_client -connect "127.0.0.1:$PS" -CAfile "$T/root.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial)
cm "$H" serve --setup-tls >/dev/null 2>&1
kill -HUP $SPID
sleep 2.5
new=$(openssl s_client -connect "127.0.0.1:$PS" -CAfile "$T/root.pem" </dev/null 2>/dev/null | openssl x509 -noout -serial)
[ -n "$new" ] && [ "$old" != "$new" ] && ok "SIGHUP loads the new TLS certificate" || fail "SIGHUP: serial '$old' -> '$new'"
check_eq "still serving after SIGHUP" "$(curl -sS "$B/healthz")" ok

# ---- SIGTERM: drains and exits 0 ----
kill -TERM $SPID
wait $SPID
check_eq "SIGTERM: exit status 0" "$?" 0
check_match "SIGTERM: stopped" "$(cat "$T/serve.log")" "certmint serve stopped"
check_fails "no longer listening" curl -sS --max-time 2 "$B/healthz"

# ---- ocsp.signer ca, unknown_status revoked ----
cm "$H" config set ocsp.signer ca >/dev/null
cm "$H" config set ocsp.unknown_status revoked >/dev/null
"$CM" --home "$H" --passphrase-file "$PASS" serve >"$T/serve2.log" 2>&1 &
SPID=$!
i=0
until curl -fsS "$B/healthz" >/dev/null 2>&1 || [ $i -gt 100 ]; do sleep 0.1; i=$((i + 1)); done
out=$(ocsp -cert "$T/good.pem" -resp_text)
check_match "ocsp.signer ca: signed by the CA key" "$out" "Response verify OK"
if printf '%s' "$out" | grep -q "OCSP Signing"; then fail "ocsp.signer ca still sends a responder certificate"; else ok "ocsp.signer ca: no responder certificate"; fi
out=$(ocsp -serial 0x0123456789ABCDEF -resp_text)
check_match "never issued + unknown_status revoked: revoked" "$out" "0x0123456789ABCDEF: revoked"
check_match "extended revoke: certificateHold" "$out" "Reason: certificateHold"
check_match "extended revoke: 1970" "$out" "Revocation Time: Jan  1 00:00:00 1970 GMT"
check_match "extended revoke extension (OpenSSL names 1.3.6.1.5.5.7.48.1.9 \"valid\")" "$out" "(1.3.6.1.5.5.7.48.1.9|valid):"
kill -TERM $SPID
wait $SPID
done_testing
