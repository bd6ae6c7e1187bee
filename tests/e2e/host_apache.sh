#!/bin/sh
# certmint host enable --services apache with a private Apache httpd
# (scripts/apache.sh: its own ServerRoot, PidFile and port on 127.0.0.1,
# started and stopped by PID). After enable and after renew, `openssl
# s_client` sees the store's certificate with its chain (from the one
# SSLCertificateFile) and verifies it against the root; the edit is
# idempotent; a broken Apache configuration is refused by `apache2 -t`,
# the file restored and Apache still serving the old certificate.
. "$(dirname "$0")/lib.sh"

PATH=/usr/sbin:$PATH
command -v apache2 >/dev/null || { fail "apache2 is not installed (scripts/install-deps.sh)"; done_testing; }
START=$(date +%s)
S="$T/store"
H() { "$CM" --passphrase-file "$PASS" host --store "$S" "$@"; }
fp1() { openssl x509 -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f; }
chmod 711 "$T"
PORT=$(free_port)
AP="$T/apache"
sh "$TOP/scripts/apache.sh" start "$AP" "$PORT" >"$T/apache.log" 2>&1 || { fail "apache.sh start: $(cat "$T/apache.log")"; done_testing; }
at_exit 'sh "$TOP/scripts/apache.sh" stop "$AP" >/dev/null 2>&1'
. "$AP/env" # the APACHE_* variables Debian's apache2 reads, for host.conf's commands
served() {
    echo Q | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$T/root.pem" -verify_return_error \
        -showcerts 2>/dev/null | sed -n '/BEGIN CERT/,/END CERT/p' | openssl x509 2>/dev/null | fp1
}
# A graceful restart returns before the children have the new files.
served_wait() {
    i=0
    while :; do
        v=$(served)
        [ "$v" = "$1" ] || [ $i -ge 50 ] && break
        i=$((i + 1))
        sleep 0.2
    done
    echo "$v"
}

# A certmint CA with an issuing subordinate, so that a chain is sent.
ROOT="$T/root" SUB="$T/sub"
new_root "$ROOT" ec:p256 >/dev/null 2>&1
cm "$SUB" init --subordinate --subject "/CN=Apache Test Issuing CA" --key ec:p256 --out "$T/sub.csr" >/dev/null 2>&1
rid=$(cm "$ROOT" submit --profile subca "$T/sub.csr" 2>/dev/null | cut -f1)
cm "$ROOT" approve "$rid" >/dev/null 2>&1
cm "$ROOT" retrieve "$rid" --out "$T/sub.pem" >/dev/null 2>&1
cm "$ROOT" ca-cert >"$T/root.pem" 2>/dev/null
cm "$SUB" install-ca-cert "$T/sub.pem" "$T/root.pem" >/dev/null 2>&1
check "the subordinate CA is ready" cm "$SUB" ca-cert

check "request" H request --name web --subject /CN=web.example.org --dns web.example.org --key ec:p256
install -m 600 "$AP/host.conf" "$S/host.conf"
check_match "submit to the CA home" "$(H submit web --ca-home "$SUB" 2>&1)" "issued"
C1=$(fp1 <"$S/entries/web/cert.pem")
check_fails "before enable: Apache serves its boot certificate (does not verify)" test "$(served)" = "$C1"
check "enable --services apache" H enable web --services apache
check_eq "Apache presents the store's certificate, verified against the root" "$(served_wait "$C1")" "$C1"
n=$(echo Q | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -showcerts 2>/dev/null | grep -c 'BEGIN CERTIFICATE')
check_eq "  ... with its issuing CA (chain from SSLCertificateFile)" "$n" 2
check_match "  ... SSLCertificateFile names the full chain" "$(cat "$AP/ssl.conf")" "^SSLCertificateFile \"$S/live/$C1/fullchain.pem\""
check_match "  ... SSLCertificateKeyFile the key" "$(cat "$AP/ssl.conf")" "SSLCertificateKeyFile \"$S/live/$C1/key.pem\""
check_eq "  ... each directive once, the comment kept" "$(grep -ci '^ssl' "$AP/ssl.conf") $(grep -c '^# the file' "$AP/ssl.conf")" "2 1"
check_match "  ... list shows the service" "$(H list)" "$C1 +web .*apache"
cp "$AP/ssl.conf" "$T/ssl1"
check "enable again" H enable web --services apache
check "  ... the file is byte for byte the same" cmp "$T/ssl1" "$AP/ssl.conf"

check_match "renew" "$(H renew web 2>&1)" "renewed.*enabled for apache"
C2=$(fp1 <"$S/entries/web/cert.pem")
check "  ... a new certificate" test "$C1" != "$C2"
check_eq "  ... Apache presents the renewed certificate" "$(served_wait "$C2")" "$C2"

# A broken Apache configuration: apache2 -t refuses, the file is restored,
# Apache keeps running with the certificate it had.
check "request a second certificate" H request --name other --subject /CN=other.example.org --dns other.example.org --key ec:p256
check_match "submit it" "$(H submit other --ca-home "$SUB" 2>&1)" "issued"
cp "$AP/ssl.conf" "$T/ssl2"
cp "$AP/apache2.conf" "$T/apache2.conf.good"
printf 'ThisIsNotADirective on\n' >>"$AP/apache2.conf"
apid=$(sh "$TOP/scripts/apache.sh" pid "$AP")
check_fails "enable with a broken Apache configuration fails" H enable other --services apache
check_match "  ... the error names Apache's check" "$(cat "$T/last.out")" "apache check"
check "  ... ssl.conf is restored" cmp "$T/ssl2" "$AP/ssl.conf"
check "  ... Apache still runs" kill -0 "$apid"
check_eq "  ... and serves the old certificate" "$(served_wait "$C2")" "$C2"
check_match "  ... the service stays with web" "$(H list)" "$C2 +web .*apache"
cp "$T/apache2.conf.good" "$AP/apache2.conf"

echo "# $SUITE: $(($(date +%s) - START)) s"
done_testing
