#!/bin/sh
# End to end in a real browser: headless Chromium driven by Selenium (both
# from Debian: chromium, chromium-driver, python3-selenium; the officer's
# client certificate goes into the profile's NSS database with certutil and
# pk12util from libnss3-tools). A requester pastes a CSR on /certsrv; an
# officer, in a second browser that presents a client certificate from this
# CA, approves it; the requester downloads the certificate, which openssl
# verify checks. A hostile subject (<script> that would change the page
# title, a quote that would break out of an attribute) is submitted too:
# the officer's page shows it as text and no script runs. Screenshots of
# every page go to $CERTMINT_SCREENS (default $TMPDIR/certmint-screens).
# Skips (prints SKIP, counts nothing) only when chromium is absent.
. "$(dirname "$0")/lib.sh"

PY=/usr/bin/python3
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "SKIP - $SUITE: chromium or chromedriver missing (scripts/install-deps.sh)"
    exit 0
fi
for t in curl certutil pk12util; do
    command -v $t >/dev/null || { fail "$t missing (scripts/install-deps.sh)"; done_testing; }
done
$PY -c 'import selenium' 2>/dev/null || { fail "python3-selenium missing (scripts/install-deps.sh)"; done_testing; }

SHOTS=${CERTMINT_SCREENS:-${TMPDIR:-/tmp}/certmint-screens}
mkdir -p "$SHOTS"
H="$T/ca"
P=$(free_port)
PS=$(free_port)
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
serve_listen "$H" "$P" "$PS"
cm "$H" config set profile.web.base tls-server >/dev/null
cm "$H" config set profile.web.description "web servers (approved by an officer)" >/dev/null
cm "$H" config set profile.web.http_access anyone >/dev/null
cm "$H" config set profile.people.base tls-client >/dev/null
cm "$H" config set profile.people.http_access anyone >/dev/null
cm "$H" config set http.roles.officer "CN=Olivia Officer,O=certmint tests" >/dev/null
cm "$H" ca-cert >"$T/root.pem"
make_csr ec:p256 "$T/olivia.csr" "$T/olivia.key" "/O=certmint tests/CN=Olivia Officer"
cm "$H" submit --profile tls-client --out "$T/olivia.pem" "$T/olivia.csr" >/dev/null
check "--setup-tls" cm "$H" serve --setup-tls

# The officer's browser profile: an NSS database with the CA trusted for
# TLS and the officer's certificate and key (PKCS#12, a throwaway password).
OH="$T/officer-home"
mkdir -p "$OH/.pki/nssdb"
openssl pkcs12 -export -in "$T/olivia.pem" -inkey "$T/olivia.key" -name olivia \
    -passout pass:test -out "$T/olivia.p12" 2>/dev/null
check "NSS db for the officer's browser" sh -c "certutil -N -d 'sql:$OH/.pki/nssdb' --empty-password &&
    certutil -A -n certmint-root -t 'C,,' -i '$T/root.pem' -d 'sql:$OH/.pki/nssdb' &&
    pk12util -i '$T/olivia.p12' -d 'sql:$OH/.pki/nssdb' -W test"
# The requester's: the CA trusted, no certificate of its own.
RH="$T/requester-home"
check "NSS db for the requester's browser" sh -c "mkdir -p '$RH/.pki/nssdb' &&
    certutil -N -d 'sql:$RH/.pki/nssdb' --empty-password &&
    certutil -A -n certmint-root -t 'C,,' -i '$T/root.pem' -d 'sql:$RH/.pki/nssdb'"

serve_https "$H" "$P"

make_csr ec:p256 "$T/host.csr" "$T/host.key" "/CN=host.example.org" "DNS:host.example.org"
make_csr ec:p256 "$T/hostile.csr" "$T/hostile.key" \
    '/CN=<script>document.title="pwned"<\/script>/O="onmouseover=alert(1) x'
# The Python driver prints "ok - ..." / "not ok - ..." lines itself.
out=$($PY "$TOP/tests/e2e/browser.py" --url "https://127.0.0.1:$PS" --shots "$SHOTS" \
    --csr "$T/host.csr" --hostile "$T/hostile.csr" --officer-home "$OH" \
    --requester-home "$T/requester-home" --root "$T/root.pem" \
    --officer-cert "$T/olivia.pem" --officer-key "$T/olivia.key" --out "$T/issued.pem" 2>"$T/py.err")
rc=$?
printf '%s\n' "$out" | sed "s/^\(not \)\{0,1\}ok - /&$SUITE: /"
NFAIL=$((NFAIL + $(printf '%s\n' "$out" | grep -c '^not ok')))
[ $rc -eq 0 ] || fail "browser driver exited $rc: $(tail -5 "$T/py.err" | tr '\n' ' ')"
check "the certificate downloaded in the browser verifies (openssl verify)" \
    openssl verify -CAfile "$T/root.pem" "$T/issued.pem"
check_eq "it is for the requester's key" "$(openssl x509 -in "$T/issued.pem" -noout -pubkey 2>&1)" \
    "$(openssl pkey -in "$T/host.key" -pubout)"
check_match "audit: approved by the officer's certificate subject" "$(cm "$H" audit)" \
    "subject:CN=Olivia Officer,O=certmint tests	issue	"
echo "# screenshots: $SHOTS"
serve_stop 2>/dev/null
done_testing
