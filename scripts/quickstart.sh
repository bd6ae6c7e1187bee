#!/bin/sh
# The main job on the embedded default: a CA home with SQLite in a local
# folder (./ca-home). Creates the CA on first run (the passphrase is generated
# into ./ca-home.pass, mode 0600), issues a TLS server certificate for
# mail.example.org, publishes a CRL, shows the database, and then runs the CA
# service, `certmint serve`, in the foreground (Ctrl-C stops it; with
# QUICKSTART_ONCE=1 it makes one pass and exits).
set -eu
cd "$(dirname "$0")/.."
CM=./build/certmint
HOME_DIR=${CERTMINT_HOME:-./ca-home}
PASS=${CERTMINT_PASSPHRASE_FILE:-./ca-home.pass}
export CERTMINT_HOME="$HOME_DIR" CERTMINT_PASSPHRASE_FILE="$PASS"
if [ ! -f "$HOME_DIR/certmint.conf" ]; then
    umask 077
    openssl rand -base64 32 >"$PASS"
    $CM init --subject "/CN=certmint Demo Root CA/O=Example" --key ec:p256 --days 3650
    $CM config set crl.cdp_url http://pki.example.org/ca.crl
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/mail.key" \
    -subj "/CN=mail.example.org" -addext "subjectAltName=DNS:mail.example.org" \
    -out "$work/mail.csr" 2>/dev/null
$CM submit --profile tls-server --out "$work/mail.pem" "$work/mail.csr"
$CM ca-cert >"$work/root.pem"
openssl verify -x509_strict -CAfile "$work/root.pem" "$work/mail.pem"
$CM crl
$CM view --out RequestID,Disposition,SerialNumber,CommonName,NotAfter
if [ "${QUICKSTART_ONCE:-0}" = 1 ]; then
    exec $CM serve --once
fi
echo "certmint serve: the CA service (Ctrl-C to stop)"
exec $CM serve
