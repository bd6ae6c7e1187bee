#!/bin/sh
# certmint host certmonger-helper with Debian's certmonger on a private
# D-Bus session bus (never the system bus): `getcert add-ca -e` and
# `getcert request` get a certificate from a certmint CA home; a request
# that the CA pends is answered with a cookie (exit 1) and fetched by POLL
# once an officer approved it. The helper's exit codes are also checked
# directly against certmonger's interface (doc/submit.txt): 0 issued,
# 1 wait + cookie, 2 rejected, 4 unconfigured, 6 unsupported.
. "$(dirname "$0")/lib.sh"

for b in certmonger getcert dbus-daemon; do
    if ! command -v "$b" >/dev/null 2>&1; then
        fail "$b is not installed (scripts/install-deps.sh: certmonger, dbus)"
        done_testing
    fi
done
CA="$T/ca"
new_root "$CA" ec:p256 >/dev/null 2>&1
cm "$CA" config set profile.man.base tls-server >/dev/null 2>&1
cm "$CA" config set profile.man.approval manual >/dev/null 2>&1
cm "$CA" ca-cert >"$T/ca.pem" 2>/dev/null
HELPER="$CM --passphrase-file $PASS host certmonger-helper --ca-home $CA"
# certmonger runs its helpers with a clean environment: a CA whose database
# is in PostgreSQL needs the password file named on the helper's line, one
# whose key is in SoftHSM2 the token's configuration.
[ -z "${PGPASSFILE:-}" ] || HELPER="PGPASSFILE=$PGPASSFILE $HELPER"
[ -z "${SOFTHSM2_CONF:-}" ] || HELPER="SOFTHSM2_CONF=$SOFTHSM2_CONF $HELPER"
case $HELPER in *=*) HELPER="/usr/bin/env $HELPER" ;; esac

# --- the interface, directly -------------------------------------------------------
make_csr ec:p256 "$T/a.csr" "$T/a.key" "/CN=a.example.org" "DNS:a.example.org"
helper() { # OP [CSRFILE] [COOKIE] [extra args]: runs the helper, prints its output; status in $T/st
    _op=$1 _csr=${2:-} _ck=${3:-}
    shift 3 2>/dev/null || shift $#
    CERTMONGER_OPERATION=$_op CERTMONGER_CSR=$([ -n "$_csr" ] && cat "$_csr") CERTMONGER_CA_COOKIE=$_ck \
        $HELPER "$@" >"$T/h.out" 2>"$T/h.err"
    echo $? >"$T/st"
}
helper SUBMIT "$T/a.csr" ""
check_eq "SUBMIT: exit 0 (issued)" "$(cat "$T/st")" 0
check "SUBMIT: a PEM certificate that verifies against the CA" openssl verify -CAfile "$T/ca.pem" "$T/h.out"
make_csr ec:p256 "$T/b.csr" "$T/b.key" "/CN=b.example.org" "DNS:b.example.org"
helper SUBMIT "$T/b.csr" "" --profile man
check_eq "SUBMIT, manual profile: exit 1 (wait)" "$(cat "$T/st")" 1
cookie=$(cat "$T/h.out")
check_match "  ... the cookie is the RequestID" "$cookie" "^[0-9]+$"
helper POLL "" "$cookie"
check_eq "POLL while pending: exit 1 again" "$(cat "$T/st")" 1
cm "$CA" approve "$cookie" >/dev/null 2>&1
helper POLL "" "$cookie"
check_eq "POLL after approval: exit 0" "$(cat "$T/st")" 0
check_match "  ... the certificate for b" "$(openssl x509 -in "$T/h.out" -noout -subject)" "b.example.org"
make_csr ec:p256 "$T/c.csr" "$T/c.key" "/CN=c.example.org" "DNS:c.example.org"
helper SUBMIT "$T/c.csr" "" --profile man
c2=$(cat "$T/h.out")
cm "$CA" deny "$c2" --reason "not today" >/dev/null 2>&1
helper POLL "" "$c2"
check_eq "POLL of a denied request: exit 2 (rejected)" "$(cat "$T/st")" 2
printf 'garbage\n' >"$T/bad.csr"
helper SUBMIT "$T/bad.csr" ""
check_eq "SUBMIT of a bad CSR: exit 2 (rejected)" "$(cat "$T/st")" 2
helper IDENTIFY "" ""
check_eq "IDENTIFY: exit 0" "$(cat "$T/st")" 0
helper GET-NEW-REQUEST-REQUIREMENTS "" ""
check_eq "GET-NEW-REQUEST-REQUIREMENTS: exit 0" "$(cat "$T/st")" 0
check_eq "  ... a subject and a host name (tls-server requires a DNS SAN)" "$(tr '\n' ' ' <"$T/h.out")" \
    "CERTMONGER_REQ_SUBJECT CERTMONGER_REQ_HOSTNAME "
cm "$CA" config set profile.mailbox.base smime >/dev/null 2>&1
cm "$CA" config set profile.mailbox.require_email yes >/dev/null 2>&1
helper GET-RENEW-REQUEST-REQUIREMENTS "" "" --profile mailbox
check_match "GET-RENEW-REQUEST-REQUIREMENTS, a profile requiring an address: CERTMONGER_REQ_EMAIL" \
    "$(cat "$T/st") $(tr '\n' ' ' <"$T/h.out")" "^0 .*CERTMONGER_REQ_EMAIL"
helper FETCH-ROOTS "" ""
check_eq "FETCH-ROOTS: exit 0" "$(cat "$T/st")" 0
check_eq "  ... a nickname line: the root's subject" "$(head -n 1 "$T/h.out")" \
    "$(openssl x509 -in "$T/ca.pem" -noout -subject -nameopt compat | sed 's/^subject=\///')"
tail -n +2 "$T/h.out" >"$T/roots.pem"
cp "$T/h.out" "$T/h.out.roots"
check_eq "  ... then the CA's root (openssl fingerprints)" \
    "$(openssl x509 -in "$T/roots.pem" -noout -fingerprint -sha256)" "$(openssl x509 -in "$T/ca.pem" -noout -fingerprint -sha256)"
helper GET-SUPPORTED-TEMPLATES "" ""
check_eq "an unsupported operation: exit 6" "$(cat "$T/st")" 6
CERTMONGER_OPERATION=SUBMIT CERTMONGER_CSR=$(cat "$T/a.csr") "$CM" host certmonger-helper --ca-home "$T/nowhere" >"$T/h.out" 2>&1
check_eq "SUBMIT to a missing CA home: exit 4 (unconfigured)" "$?" 4

# --- certmonger itself, on a private session bus -------------------------------------
# certmonger keeps its state in /var/lib/certmonger even on the session bus
# when it runs as root: every state path goes into $T (certmonger reads these
# variables), so that the system's certmonger state is never touched.
mkdir -p "$T/home" "$T/run" "$T/cm/cas" "$T/cm/requests" "$T/cm/local" "$T/cm/tmp" "$T/cm/config"
chmod 700 "$T/run"
export HOME="$T/home" XDG_CONFIG_HOME="$T/home/.config" XDG_DATA_HOME="$T/home/.local" XDG_RUNTIME_DIR="$T/run"
export CERTMONGER_CAS_DIR="$T/cm/cas" CERTMONGER_REQUESTS_DIR="$T/cm/requests" \
    CERTMONGER_LOCAL_CA_DIR="$T/cm/local" CERTMONGER_TMPDIR="$T/cm/tmp" \
    CERTMONGER_CONFIG_DIR="$T/cm/config" CERTMONGER_SYSTEM_LOCK_FILE="$T/cm/lock"
sysstate() { find /var/lib/certmonger -type f 2>/dev/null | sort | xargs -r sha256sum 2>/dev/null | sha256sum; }
sys_before=$(sysstate)
dbus-daemon --session --address="unix:path=$T/bus" --fork --print-pid >"$T/dbus.pid"
at_exit 'kill "$(cat "$T/dbus.pid")" 2>/dev/null'
export DBUS_SESSION_BUS_ADDRESS="unix:path=$T/bus"
certmonger -s -n >"$T/certmonger.log" 2>&1 &
echo $! >"$T/certmonger.pid"
at_exit 'kill "$(cat "$T/certmonger.pid")" 2>/dev/null'
i=0
until getcert list-cas -s >/dev/null 2>&1; do
    i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.1
done
check "getcert add-ca" getcert add-ca -s -c certmint -e "$HELPER"
# certmonger asks the new CA for its roots (FETCH-ROOTS) and requirements
# and keeps them in its CA file (in $T/cm/cas).
root_b64=$(sed -n 2p "$T/ca.pem")
cafile() { grep -l '^id=certmint$' "$T"/cm/cas/* 2>/dev/null | head -n 1; }
i=0
# certmonger runs FETCH-ROOTS and the two requirement operations one after
# another and rewrites the file after each: wait for all three results, not
# only the last one it happened to write (CI saw the enroll line still absent).
until [ -n "$(cafile)" ] && grep -q '^ca_required_renewal_attributes=' "$(cafile)" &&
    grep -q '^ca_required_enroll_attributes=.' "$(cafile)" &&
    grep -q -- "$root_b64" "$(cafile)"; do
    i=$((i + 1)); [ $i -lt 300 ] || break; sleep 0.1
done
check "certmonger stored the CA's root from FETCH-ROOTS" grep -q -- "$root_b64" "$(cafile)"
check_eq "  ... under its nickname" "$(sed -n 's/^ca_root_certs=//p' "$(cafile)")" "$(head -n 1 "$T/h.out.roots")"
check_eq "  ... and the requirements" "$(sed -n 's/^ca_required_enroll_attributes=//p' "$(cafile)")" \
    "template-subject,template-hostname"
check "getcert request -w" timeout 60 getcert request -s -c certmint -w -I web -f "$T/web.pem" -k "$T/web.key" \
    -N CN=web.example.org -D web.example.org
check "the certificate certmonger saved verifies against the CA" openssl verify -CAfile "$T/ca.pem" "$T/web.pem"
check_match "  ... with the requested name" "$(openssl x509 -in "$T/web.pem" -noout -ext subjectAltName)" "DNS:web.example.org"
check_match "getcert list: MONITORING" "$(getcert list -s -i web)" "status: MONITORING"

check "getcert add-ca (manual profile)" getcert add-ca -s -c certmint-man -e "$HELPER --profile man"
check "getcert request (pending)" getcert request -s -c certmint-man -I man -f "$T/man.pem" -k "$T/man.key" \
    -N CN=man.example.org -D man.example.org
i=0
until cm "$CA" pending 2>/dev/null | grep -q man.example.org; do
    i=$((i + 1)); [ $i -lt 100 ] || break; sleep 0.2
done
rid=$(cm "$CA" pending 2>/dev/null | grep man.example.org | cut -f1)
check_match "the CA holds the request as pending" "$rid" "^[0-9]+$"
check_match "certmonger waits on it" "$(getcert list -s -i man)" "status: CA_WORKING"
cm "$CA" approve "$rid" >/dev/null 2>&1
check "getcert resubmit" getcert resubmit -s -i man
i=0
until [ -s "$T/man.pem" ]; do
    i=$((i + 1)); [ $i -lt 150 ] || break; sleep 0.2
done
check "the approved certificate arrived" openssl verify -CAfile "$T/ca.pem" "$T/man.pem"
check_eq "  ... it is the approved request's (POLL, no second request)" \
    "$(openssl x509 -in "$T/man.pem" -noout -serial | cut -d= -f2)" \
    "$(cm "$CA" view --restrict "RequestID=$rid" --out SerialNumber --format csv 2>/dev/null | tail -n 1 | tr -d '"\r')"
check_eq "no other request was made" "$(cm "$CA" pending 2>/dev/null | grep -c man.example.org)" 0
check "certmonger kept its state in the test folder" test -s "$(ls "$T/cm/requests/"* | head -n 1)"
check_eq "the system's certmonger state is untouched" "$(sysstate)" "$sys_before"

done_testing
