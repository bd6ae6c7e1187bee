#!/bin/sh
# certmint host submit --ca https://...: the host store talks to a real
# `certmint serve` over its REST API (HTTPS, client certificates). Issued at
# once (an officer's certificate), pending then approved by an officer
# (curl, the API) and fetched by --poll and by --wait, denied by an officer
# and by the profile's policy (exit 3, the reason, no certificate), renewal
# with the entry's own certificate (a renewal of its own subject: the CA
# records that subject as the requester) and --rekey, a one-time token
# (mailed through a private Postfix; used twice: 401), and the refusals: a
# wrong --ca-file (TLS verification fails), http://, no client
# authentication, a client key that is not the certificate's; none changes
# the store. Certificates are checked with openssl.
. "$(dirname "$0")/lib.sh"

command -v curl >/dev/null || { echo "skip - $SUITE: curl missing (scripts/install-deps.sh)"; exit 0; }
START=$(date +%s)
H="$T/ca"
S="$T/store"
P=$(free_port)
PS=$(free_port)
B="https://127.0.0.1:$PS"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cfg() { cm "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1 $2: $(cat "$T/cfg.out")"; }
serve_listen "$H" "$P" "$PS"
cm "$H" ca-cert >"$T/root.pem"
cm "$H" serve --setup-tls >/dev/null 2>&1 || fail "--setup-tls"
client() { # NAME CN
    make_csr ec:p256 "$T/$1.csr" "$T/$1.key" "/CN=$2"
    cm "$H" submit --profile tls-client --out "$T/$1.pem" "$T/$1.csr" >/dev/null
}
client requester "Host Requester"
client officer "Host Officer"
cfg http.roles.requester "CN=Host Requester"
cfg http.roles.officer "CN=Host Officer"
cfg profile.tls-server.http_access requester
# A host certificate that renews itself over the API is also a TLS client
# certificate (the API checks the purpose).
cfg profile.tls-server.ext_key_usage serverAuth,clientAuth
cfg profile.manual.base tls-server
cfg profile.manual.http_access requester
cfg profile.manual.approval manual
cfg profile.econly.base tls-server
cfg profile.econly.http_access requester
cfg profile.econly.keys ec:p256

serve_https "$H" "$P"

Hs() { "$CM" host --store "$S" "$@"; }
REQ="--ca $B --ca-file $T/root.pem --client-cert $T/requester.pem --client-key $T/requester.key"
OFF="--ca $B --ca-file $T/root.pem --client-cert $T/officer.pem --client-key $T/officer.key"
# officer METHOD PATH [curl args]: the API as the officer (body in $T/body).
officer() {
    m=$1 path=$2
    shift 2
    curl -sS -o "$T/body" -w '%{http_code}' --cacert "$T/root.pem" --cert "$T/officer.pem" \
        --key "$T/officer.key" -X "$m" "$@" "$B$path"
}
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/body" "$1"; }
meta() { sed -n "s/^$2 = //p" "$S/entries/$1/entry.conf"; }
store_state() { (cd "$S" && find . -type f | sort | xargs sha256sum) | sha256sum; }
fp1() { openssl x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f; }
verifies() { openssl verify -CAfile "$T/root.pem" -untrusted "$S/entries/$1/chain.pem" "$S/entries/$1/cert.pem" 2>&1 ||
    openssl verify -CAfile "$T/root.pem" "$S/entries/$1/cert.pem"; }

# --- issued at once: an officer's client certificate -------------------------------
check "request mx" Hs request --name mx --subject /CN=mx.example.org --dns mx.example.org --key ec:p256 --out "$T/mx.csr"
# shellcheck disable=SC2086
out=$(Hs submit mx $OFF 2>&1)
check_match "submit --ca https:// (officer): issued and imported" "$out" "^[0-9]+	issued	imported"
check "  ... the certificate verifies against the CA (openssl)" verifies mx
check_eq "  ... it certifies the entry's key" "$(openssl x509 -in "$S/entries/mx/cert.pem" -noout -pubkey)" \
    "$(openssl req -in "$T/mx.csr" -noout -pubkey)"
check_match "  ... host list shows it by thumbprint" "$(Hs list)" "$(fp1 "$S/entries/mx/cert.pem") +mx"
check_eq "  ... the CA URL is remembered for renewal" "$(meta mx ca_url)" "$B"
check_eq "  ... nothing pending" "$(meta mx pending_request)" ""

# --- pending, approved by an officer, fetched by --poll --------------------------------
check "request web (rsa:2048)" Hs request --name web --subject /CN=web.example.org --dns web.example.org
# shellcheck disable=SC2086
out=$(Hs submit web $REQ 2>&1)
check_match "submit as a requester for another subject: pending" "$out" "^[0-9]+	pending	"
RID=$(printf '%s' "$out" | cut -f1)
check_eq "  ... the request id is kept in the store" "$(meta web pending_request)" "$RID"
check_match "  ... --poll: still pending" "$(Hs submit web --poll 2>&1)" "^$RID	pending"
check_eq "officer approves over the API: 200" "$(officer POST "/api/v1/requests/$RID/approve")" 200
out=$(Hs submit web --poll 2>&1)
check_match "  ... --poll: issued and imported" "$out" "^$RID	issued	imported"
check "  ... verifies against the CA (openssl)" verifies web
check_eq "  ... nothing pending any more" "$(meta web pending_request)" ""
check_fails "  ... --poll with nothing pending: refused" Hs submit web --poll

# --- renewal with the entry's own certificate ------------------------------------------------
old=$(fp1 "$S/entries/web/cert.pem")
out=$(Hs renew web 2>&1)
check_match "renew web over the API: renewed" "$out" "web	renewed \(request [0-9]+\)"
RR=$(printf '%s' "$out" | sed -n 's/.*request \([0-9]*\).*/\1/p')
check "  ... the new certificate verifies (openssl)" verifies web
[ "$(fp1 "$S/entries/web/cert.pem")" != "$old" ] && ok "  ... it is a new certificate" || fail "  ... same certificate after renew"
officer GET "/api/v1/requests/$RR" >/dev/null
check_eq "  ... the CA recorded the entry's own subject as the requester" "$(jget requester)" "subject:CN=web.example.org"
check_eq "  ... issued without an officer (renewal of its own subject)" "$(jget disposition)" issued
check "renew web --rekey" Hs renew web --rekey
check_eq "  ... the certificate certifies the new key" "$(openssl x509 -in "$S/entries/web/cert.pem" -noout -pubkey)" \
    "$(openssl pkey -in "$S/entries/web/key.pem" -pubout)"
check "  ... verifies (openssl)" verifies web
[ ! -e "$S/entries/web/key.new" ] && ok "  ... no key.new left" || fail "  ... key.new left behind"

# --- pending, --wait while an officer approves -------------------------------------------------
check "request pw" Hs request --name pw --subject /CN=pw.example.org --dns pw.example.org --key ec:p256
# shellcheck disable=SC2086
Hs submit pw $OFF --profile manual --wait 60 >"$T/pw.out" 2>&1 &
WPID=$!
i=0
until [ -n "$(meta pw pending_request 2>/dev/null)" ]; do
    i=$((i + 1))
    [ $i -gt 300 ] && break
    sleep 0.1
done
PW=$(meta pw pending_request)
check_match "submit --wait: pending while it waits" "$PW" "^[0-9]+$"
check_eq "officer approves it: 200" "$(officer POST "/api/v1/requests/$PW/approve")" 200
wait $WPID
check_match "  ... --wait fetched and imported it" "$(cat "$T/pw.out")" "^$PW	issued	imported"
check "  ... verifies (openssl)" verifies pw

# --- denied ---------------------------------------------------------------------------------------
check "request dn" Hs request --name dn --subject /CN=dn.example.org --dns dn.example.org --key ec:p256
# shellcheck disable=SC2086
out=$(Hs submit dn $OFF --profile manual 2>&1)
DN=$(printf '%s' "$out" | cut -f1)
check_eq "officer denies it: 200" "$(officer POST "/api/v1/requests/$DN/deny" -H 'Content-Type: application/json' -d '{"reason": "not our host"}')" 200
Hs submit dn --poll >"$T/dn.out" 2>&1
check_eq "  ... --poll: exit 3" "$?" 3
check_match "  ... the officer's reason" "$(cat "$T/dn.out")" "^$DN	denied	.*not our host"
check_eq "  ... no certificate, nothing pending" "$(ls "$S/entries/dn/cert.pem" 2>/dev/null)$(meta dn pending_request)" ""
check "request rsa (rsa:2048)" Hs request --name rsa --subject /CN=rsa.example.org --dns rsa.example.org
# shellcheck disable=SC2086
Hs submit rsa $OFF --profile econly >"$T/rsa.out" 2>&1
check_eq "profile policy refuses the RSA key: exit 3" "$?" 3
check_match "  ... denied with the policy's reason" "$(cat "$T/rsa.out")" "^[0-9]+	denied	.*(key|ec)"

# --- refusals: none changes the store -------------------------------------------------------------
new_root "$T/other" ec:p256 >/dev/null 2>&1
cm "$T/other" ca-cert >"$T/other.pem"
check "request bad" Hs request --name bad --subject /CN=bad.example.org --key ec:p256
before=$(store_state)
Hs submit bad --ca "$B" --ca-file "$T/other.pem" --client-cert "$T/officer.pem" --client-key "$T/officer.key" >"$T/bad.out" 2>&1
check_eq "wrong --ca-file: exit 1" "$?" 1
check_match "  ... the error says the server's certificate does not verify" "$(cat "$T/bad.out")" \
    "TLS certificate does not verify against .*other.pem"
check_fails "http:// refused" Hs submit bad --ca "http://127.0.0.1:$P" --client-cert "$T/officer.pem" --client-key "$T/officer.key"
check_match "  ... HTTPS only" "$(cat "$T/last.out")" "HTTPS only"
check_fails "--client-cert without --client-key refused" Hs submit bad --ca "$B" --ca-file "$T/root.pem" --client-cert "$T/officer.pem"
check_fails "a client key that is not the certificate's refused" Hs submit bad --ca "$B" --ca-file "$T/root.pem" \
    --client-cert "$T/officer.pem" --client-key "$T/requester.key"
check_match "  ... names the key" "$(cat "$T/last.out")" "client-key .*requester.key: not the key"
Hs submit bad --ca "$B" --ca-file "$T/root.pem" >"$T/anon.out" 2>&1
check_eq "no client authentication for a requester profile: exit 1" "$?" 1
check_match "  ... 401 with the server's reason" "$(cat "$T/anon.out")" "HTTP 401: .*client certificate"
check_eq "refusals left the store unchanged" "$(store_state)" "$before"

# --- a one-time token (mailed by the CA through a private Postfix) ----------------------
if [ "$(id -u)" -ne 0 ]; then
    echo "# SKIP token part: a private Postfix instance needs root"
else
    for b in postfix; do command -v "$b" >/dev/null 2>&1 || PATH=/usr/sbin:/sbin:$PATH; done
    M="$T/mta"
    MP=$(free_port)
    at_exit "sh '$TOP/scripts/mta.sh' stop '$M' >/dev/null 2>&1"
    chmod 711 "$T"
    sh "$TOP/scripts/mta.sh" start "$M" "$MP" >"$T/mta.out" 2>&1 || fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"
    cfg exit.smtp.server 127.0.0.1
    cfg exit.smtp.port "$MP"
    cfg exit.smtp.tls starttls
    cfg exit.smtp.cafile "$M/tls/ca.pem"
    cfg exit.smtp.auth plain
    cfg exit.smtp.username "$(cat "$M/smtp-user")"
    cfg exit.smtp.password_file "$M/smtp-password"
    cfg exit.smtp.from "Host CA <ca@example.org>"
    cfg exit.smtp.to "pki-audit@example.org"
    cm "$H" token issue --email hostmaster@example.org --profile tls-server --subject CN=tok.example.org \
        --san DNS:tok.example.org --ttl 1h >"$T/tok.id" 2>"$T/tok.err" || fail "token issue: $(cat "$T/tok.err")"
    i=0
    until [ -s "$T/tok.tok" ]; do
        rm -rf "$T/mails"
        /usr/bin/python3 "$TOP/tests/e2e/maildir.py" scan "$M/Maildir" "$T/mails" hostmaster@example.org >/dev/null 2>&1
        (umask 077 && grep -ho "cmt1\.$(cat "$T/tok.id")\.[0-9a-f]\{64\}" "$T"/mails/body/*.txt 2>/dev/null |
            head -n 1 >"$T/tok.tok")
        i=$((i + 1))
        [ $i -gt 150 ] && break
        sleep 0.2
    done
    check "the token arrived by mail" test -s "$T/tok.tok"
    check "request tok" Hs request --name tok --subject /CN=tok.example.org --dns tok.example.org --key ec:p256
    out=$(Hs submit tok --ca "$B" --ca-file "$T/root.pem" --token-file "$T/tok.tok" 2>&1)
    check_match "submit --token-file: issued and imported" "$out" "^[0-9]+	issued	imported"
    check "  ... verifies (openssl)" verifies tok
    secret=$(cut -d. -f3 "$T/tok.tok")
    [ -n "$secret" ] && ! grep -rqF -- "$secret" "$S" && ok "  ... the token is not kept in the store" ||
        fail "  ... the token is in the store (or none was read)"
    check "request tok2" Hs request --name tok2 --subject /CN=tok.example.org --dns tok.example.org --key ec:p256
    before=$(store_state)
    Hs submit tok2 --ca "$B" --ca-file "$T/root.pem" --token-file "$T/tok.tok" >"$T/tok2.out" 2>&1
    check_eq "the same token again: exit 1" "$?" 1
    check_match "  ... HTTP 401 with the server's reason" "$(cat "$T/tok2.out")" "HTTP 401: .*token"
    check_eq "  ... the store unchanged" "$(store_state)" "$before"
    printf 'not a token\n' >"$T/bad.tok"
    check_fails "a token file with a blank in the token refused" Hs submit tok2 --ca "$B" --ca-file "$T/root.pem" --token-file "$T/bad.tok"
    check_match "  ... naming the file" "$(cat "$T/last.out")" "token-file .*bad.tok"
fi

echo "# $SUITE: $(($(date +%s) - START)) s"
done_testing
