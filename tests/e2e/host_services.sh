#!/bin/sh
# certmint host enable / renew with real services: a private Postfix
# (scripts/mta.sh), a private Dovecot with IMAP and POP3 and a private nginx
# (scripts/hostsvc.sh), all on 127.0.0.1. After enable, `openssl s_client`
# (-starttls smtp, imap, pop3, and plain TLS to nginx) sees the store's
# certificate and chain and verifies it against the CA; after renew, the
# renewed one. The third-party path (a CSR signed by an openssl CA), hooks,
# idempotent edits, and a broken service configuration: refused by the
# service's own check, the previous configuration restored, the service
# still running and serving the old certificate.
. "$(dirname "$0")/lib.sh"

for b in postfix dovecot nginx doveconf doveadm; do
    command -v "$b" >/dev/null 2>&1 || PATH=/usr/sbin:/usr/bin:/sbin:$PATH
done
S="$T/store"
H() { "$CM" --passphrase-file "$PASS" host --store "$S" "$@"; }
fp1() { openssl x509 -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f; }

# Mail (Postfix) needs its folder reachable by nobody (scripts/mta.sh).
chmod 711 "$T"
SMTP=$(free_port) IMAP=$(free_port) POP=$(free_port) HTTPS=$(free_port)
sh "$TOP/scripts/mta.sh" start "$T/mta" "$SMTP" >"$T/mta.log" 2>&1 || { cat "$T/mta.log"; exit 1; }
at_exit 'sh "$TOP/scripts/mta.sh" stop "$T/mta" >/dev/null 2>&1'
sh "$TOP/scripts/hostsvc.sh" start "$T/svc" "$IMAP" "$POP" "$HTTPS" >"$T/svc.log" 2>&1 || { cat "$T/svc.log"; exit 1; }
at_exit 'sh "$TOP/scripts/hostsvc.sh" stop "$T/svc" >/dev/null 2>&1'

# served PROTO: the fingerprint of the certificate a service presents.
# verify PROTO CAFILE: s_client's verification of the presented chain.
sclient() {
    _ca=$2
    case "$1" in
    smtp) set -- -connect "127.0.0.1:$SMTP" -starttls smtp ;;
    imap) set -- -connect "127.0.0.1:$IMAP" -starttls imap ;;
    pop) set -- -connect "127.0.0.1:$POP" -starttls pop3 ;;
    https) set -- -connect "127.0.0.1:$HTTPS" ;;
    esac
    echo Q | timeout 10 openssl s_client "$@" -CAfile "$_ca" -verify_return_error -showcerts 2>&1
}
served() { sclient "$1" "$2" | sed -n '/BEGIN CERT/,/END CERT/p' | openssl x509 2>/dev/null | fp1; }
chain_len() { sclient "$1" "$2" | grep -c 'BEGIN CERTIFICATE'; }
# A reload (nginx -s reload, doveadm reload, postfix reload) returns before
# the service's workers have the new files: ask until the expected
# certificate is served, up to 10 s, and print what was served last.
served_wait() {
    i=0
    while :; do
        v=$(served "$1" "$2")
        [ "$v" = "$3" ] || [ $i -ge 50 ] && break
        i=$((i + 1))
        sleep 0.2
    done
    echo "$v"
}
verifies() { sclient "$1" "$2" | grep -q 'Verify return code: 0 (ok)'; }

# --- a certmint CA with an issuing subordinate (so that a chain is sent) ------------
ROOT="$T/root" SUB="$T/sub"
new_root "$ROOT" ec:p256 >/dev/null 2>&1
cm "$SUB" init --subordinate --subject "/CN=Host Test Issuing CA" --key ec:p256 --out "$T/sub.csr" >/dev/null 2>&1
rid=$(cm "$ROOT" submit --profile subca "$T/sub.csr" 2>/dev/null | cut -f1)
cm "$ROOT" approve "$rid" >/dev/null 2>&1
cm "$ROOT" retrieve "$rid" --out "$T/sub.pem" >/dev/null 2>&1
cm "$ROOT" ca-cert >"$T/root.pem" 2>/dev/null
cm "$SUB" install-ca-cert "$T/sub.pem" "$T/root.pem" >/dev/null 2>&1
check "the subordinate CA is ready" cm "$SUB" ca-cert
cat "$T/svc/host.conf" >"$T/host.conf.in"
echo "postfix.config_dir = $T/mta/etc" >>"$T/host.conf.in"

check "request" H request --name mail --subject /CN=mail.example.org --dns mail.example.org \
    --dns autodiscover.example.org --key rsa:2048
install -m 600 "$T/host.conf.in" "$S/host.conf"
check_match "submit to the CA home" "$(H submit mail --ca-home "$SUB" 2>&1)" "issued"
C1=$(fp1 <"$S/entries/mail/cert.pem")

# Hooks: no shell; the paths in the environment.
cat >"$T/hook.sh" <<'EOF'
#!/bin/sh
env | grep '^CERTMINT_HOST_' | sort >"$1"
EOF
chmod 755 "$T/hook.sh"
check "hook: pre and post deploy" H hook mail --pre-deploy "$T/hook.sh $T/pre.env" --post-deploy "$T/hook.sh $T/post.env"

check "enable smtp,imap,pop,https" H enable "$C1" --services smtp,imap,pop,https
for s in smtp imap pop https; do
    check_eq "$s: presents the new certificate" "$(served_wait $s "$T/root.pem" "$C1")" "$C1"
    check "$s: the chain verifies against the root" verifies $s "$T/root.pem"
    check_eq "$s: leaf and issuing CA sent" "$(chain_len $s "$T/root.pem")" 2
done
check_match "list: services recorded" "$(H list)" "$C1 +mail .*smtp,imap,pop,https"
check_match "pre hook saw the key path" "$(cat "$T/pre.env" 2>/dev/null)" "CERTMINT_HOST_KEY=$S/live/$C1/key.pem"
check_match "post hook saw the services" "$(cat "$T/post.env" 2>/dev/null)" "CERTMINT_HOST_SERVICES=smtp,imap,pop,https"
check_eq "live key is mode 0600" "$(stat -c %a "$S/live/$C1/key.pem")" 600
check "backup of the Dovecot file kept" test -s "$T/svc/dovecot/ssl.conf.certmint-bak"

# Idempotent: the same enable leaves the files as they are.
cp "$T/svc/dovecot/ssl.conf" "$T/dc1"; cp "$T/svc/nginx/ssl.conf" "$T/ng1"; cp "$T/mta/etc/main.cf" "$T/mc1"
check "enable again" H enable "$C1" --services smtp,imap,pop,https
check "  ... Dovecot file unchanged" cmp "$T/dc1" "$T/svc/dovecot/ssl.conf"
check "  ... nginx file unchanged" cmp "$T/ng1" "$T/svc/nginx/ssl.conf"
check "  ... main.cf unchanged" cmp "$T/mc1" "$T/mta/etc/main.cf"
check_eq "  ... one smtpd_tls_chain_files line" "$(grep -c '^smtpd_tls_chain_files' "$T/mta/etc/main.cf")" 1
check_fails "remove an enabled certificate refused" H remove mail

# --- renew: the services present the renewed certificate -----------------------------
check_match "renew" "$(H renew mail 2>&1)" "renewed.*enabled for smtp,imap,pop,https"
C2=$(fp1 <"$S/entries/mail/cert.pem")
check "renew: a new certificate" test "$C1" != "$C2"
for s in smtp imap pop https; do
    check_eq "$s: presents the renewed certificate" "$(served_wait $s "$T/root.pem" "$C2")" "$C2"
done
check "  ... the previous live folder is kept (rollback)" test -d "$S/live/$C1"
out=$(H renew mail 2>&1)
C2b=$(fp1 <"$S/entries/mail/cert.pem")
check_match "renew again: the oldest live folder is removed" "$out" "renewed.*removed $C1"
check "  ... live/ of the first certificate is gone" test ! -e "$S/live/$C1"
check "  ... live/ of the previous one is kept" test -d "$S/live/$C2"
check_eq "https: presents the second renewal" "$(served_wait https "$T/root.pem" "$C2b")" "$C2b"
C2=$C2b

# --- a broken service configuration: restored, the service keeps running ----------
check "request a second certificate" H request --name web --subject /CN=web.example.org --dns web.example.org --key ec:p256
check_match "submit it" "$(H submit web --ca-home "$SUB" 2>&1)" "issued"
C3=$(fp1 <"$S/entries/web/cert.pem")
cp "$T/svc/nginx/ssl.conf" "$T/ng2"
cp "$T/svc/nginx/nginx.conf" "$T/nginx.conf.good"
printf 'this_is_not_a_directive on;\n' >>"$T/svc/nginx/nginx.conf"
ngpid=$(cat "$T/svc/nginx/nginx.pid")
check_fails "enable with a broken nginx configuration fails" H enable web --services https
check_match "  ... the error names nginx's check" "$(cat "$T/last.out")" "nginx check"
check "  ... the nginx file is restored" cmp "$T/ng2" "$T/svc/nginx/ssl.conf"
check "  ... nginx still runs" kill -0 "$ngpid"
# The fault this test planted stands in for the administrator's: take it
# out before asking the running service, which may read its configuration
# again at any time (Dovecot's config process does).
cp "$T/nginx.conf.good" "$T/svc/nginx/nginx.conf"
check_eq "  ... and serves the old certificate" "$(served_wait https "$T/root.pem" "$C2")" "$C2"
check_match "  ... services not moved" "$(H list)" "$C2 +mail .*smtp,imap,pop,https"

# Dovecot: the new key unreadable is what doveconf -n reports.
cp "$T/svc/dovecot/ssl.conf" "$T/dc2"
cp "$T/svc/dovecot/dovecot.conf" "$T/dovecot.conf.good"
printf 'no_such_dovecot_setting = 1\n' >>"$T/svc/dovecot/dovecot.conf"
dcpid=$(cat "$T/svc/dovecot/run/master.pid")
check_fails "enable with a broken Dovecot configuration fails" H enable web --services imap,pop
check_match "  ... the error names Dovecot's check" "$(cat "$T/last.out")" "dovecot check"
check "  ... the Dovecot file is restored" cmp "$T/dc2" "$T/svc/dovecot/ssl.conf"
check "  ... Dovecot still runs" kill -0 "$dcpid"
cp "$T/dovecot.conf.good" "$T/svc/dovecot/dovecot.conf"
check_eq "  ... and serves the old certificate" "$(served_wait imap "$T/root.pem" "$C2")" "$C2"

# A failing pre-deploy hook: nothing changes.
check "hook: a failing pre-deploy" H hook web --pre-deploy /bin/false
check_fails "enable with a failing pre-deploy hook fails" H enable web --services https
check_eq "  ... nginx still serves the old certificate" "$(served_wait https "$T/root.pem" "$C2")" "$C2"
check "hook: cleared" H hook web --pre-deploy ""

# Enabling another certificate moves the service (as Exchange does).
check "enable the second certificate for https" H enable "$C3" --services https
check_eq "https: presents the second certificate" "$(served_wait https "$T/root.pem" "$C3")" "$C3"
check_match "list: https moved to web" "$(H list)" "$C3 +web .*https"
check_match "list: mail keeps smtp,imap,pop" "$(H list)" "$C2 +mail .*smtp,imap,pop "

# --- the third-party path: an openssl CA ---------------------------------------------
TP="$T/tp"
mkdir -p "$TP"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TP/root.key" \
    -subj "/CN=Other CA" -days 30 -out "$TP/root.pem" 2>/dev/null
check "request for the other CA" H request --name tp --subject /CN=tp.example.org --dns tp.example.org --key ec:p256 --out "$T/tp.csr"
printf 'subjectAltName=DNS:tp.example.org\nextendedKeyUsage=serverAuth\n' >"$TP/leaf.ext"
openssl x509 -req -in "$T/tp.csr" -CA "$TP/root.pem" -CAkey "$TP/root.key" -CAcreateserial \
    -days 10 -extfile "$TP/leaf.ext" -out "$TP/tp.pem" 2>/dev/null
check "import it" H import "$TP/tp.pem" --trust "$TP/root.pem" --no-aia
C4=$(fp1 <"$TP/tp.pem")
check "enable it for smtp" H enable "$C4" --services smtp
check_eq "smtp: presents the third-party certificate" "$(served_wait smtp "$TP/root.pem" "$C4")" "$C4"
check "smtp: it verifies against the other CA" verifies smtp "$TP/root.pem"

done_testing
