#!/bin/sh
# The disaster drill of docs/recovery.md with the certificates requested
# over HTTP (issue 11): a CA in strict audit mode (audit.require_offbox)
# mails every event through the SMTP exit module to a private Postfix
# (scripts/mta.sh) and is backed up; then `certmint serve` issues through
# the REST API (an officer's client certificate) and through the web
# enrollment pages (a requester's renewal issued at once, an anonymous
# request approved by the officer on the officer page). With the MTA down
# each is issued but withheld (409); once the MTA has taken the mails they
# are released and downloaded over HTTPS. The CA is then destroyed,
# restored from the backup taken before these certificates existed, and
# rebuilt by recover-orphans from the Maildir. Checked with certmint view
# and openssl: every row back with its serial, subject, RequestID, profile
# and dates, the recovered bytes identical to what the HTTP client
# downloaded, each recovered certificate verifying against the CA; the HTTP
# actors (subject:DN, service:http-anonymous) in the audit log before the
# disaster and in the mail trail, and again in RequesterName after the
# recovery (X-Certmint-Requester in the mail's events part).
. "$(dirname "$0")/lib.sh"

T0=$(date +%s)
command -v curl >/dev/null || { echo "skip - $SUITE: curl missing (scripts/install-deps.sh)"; exit 0; }
if [ "$(id -u)" -ne 0 ] || ! PATH=/usr/sbin:/sbin:$PATH command -v postfix >/dev/null 2>&1; then
    ok "skipped: the drill needs root and Postfix (a private MTA)"
    done_testing
fi
PATH=/usr/sbin:/sbin:$PATH
MTA="$TOP/scripts/mta.sh"
chmod 711 "$T" # virtual(8) delivers as nobody (scripts/mta.sh)
M="$T/mta"
MP=$(free_port)
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
sh "$MTA" start "$M" "$MP" >"$T/mta.out" 2>&1 || { fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"; done_testing; }

H="$T/ca"
P=$(free_port)
PS=$(free_port)
S="https://127.0.0.1:$PS"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cfg() { cm "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1 $2: $(cat "$T/cfg.out")"; }
serve_listen "$H" "$P" "$PS"
O="O=certmint tests"
cfg http.roles.officer "CN=Drill Officer,$O"
cfg http.roles.requester "CN=Rita Drill,$O"
cfg profile.api-auto.base tls-server
cfg profile.api-auto.http_access requester
cfg profile.staff.base tls-client
cfg profile.staff.http_access requester
cfg profile.web.base tls-client
cfg profile.web.http_access anyone
for kv in "exit.smtp.server 127.0.0.1" "exit.smtp.port $MP" "exit.smtp.tls starttls" \
    "exit.smtp.auth plain" "exit.smtp.username $(cat "$M/smtp-user")" \
    "exit.smtp.password_file $M/smtp-password" "exit.smtp.cafile $M/tls/ca.pem" \
    "exit.smtp.from ca@example.org" "exit.smtp.to pki-audit@example.org" \
    "exit.modules smtp"; do
    # shellcheck disable=SC2086
    cfg $kv
done
cm "$H" ca-cert >"$T/root.pem"
client() { # NAME CN: a client certificate issued on the command line
    make_csr ec:p256 "$T/$1.csr" "$T/$1.key" "/O=certmint tests/CN=$2"
    cm "$H" submit --profile tls-client --out "$T/$1.pem" "$T/$1.csr" >/dev/null
}
client olivia "Drill Officer"
client rita "Rita Drill"
check "--setup-tls" cm "$H" serve --setup-tls
cfg audit.require_offbox yes # strict from here on: certificates wait for their mail
check "backup before any certificate is requested over HTTP" cm "$H" backup "$T/bk"
ok "CA in strict audit mode mailing every event to a private Postfix; backed up"

serve_https "$H" "$P" 150

# c WHO curl-args...: curl over HTTPS as WHO (anon, olivia, rita) with
# WHO's cookie jar; the body in $T/body, the code printed.
c() {
    who=$1
    shift
    if [ "$who" = anon ]; then set -- --cacert "$T/root.pem" "$@"; else
        set -- --cacert "$T/root.pem" --cert "$T/$who.pem" --key "$T/$who.key" "$@"; fi
    curl -sS -o "$T/body" -w '%{http_code}' -b "$T/jar.$who" -c "$T/jar.$who" "$@"
}
token() { # WHO PAGE: the CSRF token of the page's form
    c "$1" "$S$2" >/dev/null
    sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' "$T/body" | head -1
}
jget() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))'"$1"')' "$T/body"; }

# ---- with the MTA down: issued over HTTP, withheld ----
sh "$MTA" stop "$M" >/dev/null 2>&1
make_csr ec:p256 "$T/api.csr" "$T/api.key" "/CN=api.drill.example" "DNS:api.drill.example"
check_eq "REST API submit (officer): 202, issued and withheld" \
    "$(c olivia -H 'Content-Type: application/pkcs10' --data-binary @"$T/api.csr" "$S/api/v1/requests?profile=api-auto")" 202
check_eq "  ... issued, withheld" "$(jget '["disposition"]') $(jget '["withheld"]')" "issued True"
R_API=$(jget '["request_id"]')
check_eq "  ... its certificate is withheld: 409" "$(c olivia "$S/api/v1/requests/$R_API/certificate")" 409

rtok=$(token rita /certsrv/request)
make_csr ec:p256 "$T/renew.csr" "$T/renew.key" "/O=certmint tests/CN=Rita Drill"
check_eq "web page: the requester renews her own subject" \
    "$(c rita -F csrf="$rtok" -F profile=staff -F "csr=<$T/renew.csr" "$S/certsrv/request")" 200
R_WEB=$(sed -n 's/.*Request \([0-9]*\) was issued.*/\1/p' "$T/body")
check_match "  ... issued at once: the page names the request" "$R_WEB" '^[0-9]+$'
check_match "  ... the page says the certificate is withheld until its audit record is acknowledged" \
    "$(tr '\n' ' ' <"$T/body")" 'id="withheld">Request [0-9]+ was issued \(certificate serial <code>[0-9A-Fa-f]+</code>\), but the certificate is withheld until its off-box audit record is acknowledged'
check_match "  ... and where to fetch it later (the status page), no download link yet" \
    "$(grep -c "href=\"/certsrv/status?id=$R_WEB\"" "$T/body") $(grep -c 'fmt=pem' "$T/body")" '^1 0$'
check_eq "  ... its certificate is withheld: 409" "$(c rita "$S/certsrv/cert?id=$R_WEB&fmt=pem")" 409

atok=$(token anon /certsrv/request)
make_csr ec:p256 "$T/anon.csr" "$T/anon.key" "/O=certmint tests/CN=Anonymous Drill"
check_eq "web page: an anonymous request" \
    "$(c anon -F csrf="$atok" -F profile=web -F "csr=<$T/anon.csr" "$S/certsrv/request")" 200
R_ANON=$(sed -n 's/.*id="reqid">\([0-9]*\)<.*/\1/p' "$T/body")
check_match "  ... pends" "$(cat "$T/body")" "waits for a certificate officer"
otok=$(token olivia /certsrv/officer)
check_eq "officer page: approved" "$(c olivia -d csrf="$otok" -d action=approve -d id="$R_ANON" "$S/certsrv/officer")" 200
check_eq "  ... its certificate is withheld: 409" "$(c anon "$S/certsrv/cert?id=$R_ANON&fmt=pem")" 409

# ---- the MTA back: the mails go out, the certificates are released ----
sh "$MTA" start "$M" "$MP" >"$T/mta.out" 2>&1 || fail "mta.sh start again: $(cat "$T/mta.out")"
i=0
until [ "$(c anon "$S/certsrv/cert?id=$R_ANON&fmt=pem")" = 200 ] && [ "$(c olivia "$S/api/v1/requests/$R_API/certificate")" = 200 ] &&
    [ "$(c rita "$S/certsrv/cert?id=$R_WEB&fmt=pem")" = 200 ] || [ $i -gt 120 ]; do
    sleep 0.5
    i=$((i + 1))
done
check_eq "released: REST API download" "$(c olivia "$S/api/v1/requests/$R_API/certificate")" 200
openssl x509 -in "$T/body" -out "$T/dl-api.pem"
check_eq "released: web download of the renewal" "$(c rita "$S/certsrv/cert?id=$R_WEB&fmt=pem")" 200
cp "$T/body" "$T/dl-web.pem"
check_eq "released: web download of the approved request" "$(c anon "$S/certsrv/cert?id=$R_ANON&fmt=pem")" 200
cp "$T/body" "$T/dl-anon.pem"
for n in api web anon; do
    check "openssl verify: the $n certificate downloaded over HTTPS" openssl verify -CAfile "$T/root.pem" "$T/dl-$n.pem"
done

# Every event mailed (the audit trail is complete) before the disaster.
last=$(cm "$H" exit status | awk '/^smtp/ { for (i = 1; i <= NF; i++) if ($i ~ /^acked=/) print substr($i, 7) }')
python3 "$TOP/tests/e2e/maildir.py" scan "$M/Maildir" "$T/mails" >/dev/null 2>"$T/scan.err" || fail "maildir.py: $(cat "$T/scan.err")"
# requester_mailed SERIAL: the "Requester:" line of the CERTISSUED text
# for SERIAL in the mail bodies (one event per mail, or a batch of them:
# the line before its "Serial Number:").
requester_mailed() {
    python3 - "$T/mails/body" "$1" <<'EOF2'
import os, sys
d, serial = sys.argv[1], sys.argv[2].upper()
for f in sorted(os.listdir(d)):
    lines = open(os.path.join(d, f), errors="replace").read().splitlines()
    for i, l in enumerate(lines):
        if l.strip().upper() == "SERIAL NUMBER: " + serial:
            for j in range(i - 1, max(i - 4, -1), -1):
                if lines[j].startswith("Requester: "):
                    print(lines[j][len("Requester: "):].strip())
                    sys.exit(0)
EOF2
}
for n in api web anon; do
    sn=$(openssl x509 -in "$T/dl-$n.pem" -noout -serial | cut -d= -f2)
    eval "S_$n=$sn"
    openssl x509 -in "$T/dl-$n.pem" -outform DER -out "$T/dl-$n.der"
    check "the $n certificate was mailed (CERTISSUED, attached)" cmp "$T/mails/att/$sn.cer" "$T/dl-$n.der"
done
check_eq "the trail names the API requester (the officer's subject)" "$(requester_mailed "$S_api")" "subject:CN=Drill Officer,O=certmint tests"
check_eq "the trail names the renewal's requester" "$(requester_mailed "$S_web")" "subject:CN=Rita Drill,O=certmint tests"
check_eq "the trail names the anonymous requester" "$(requester_mailed "$S_anon")" "service:http-anonymous"
COLS=RequestID,RequesterName,Disposition,CertificateTemplate,SerialNumber,DistinguishedName,SubjectAltNames,NotBefore,NotAfter,RawCertificate
cm "$H" view --out "$COLS" --format csv >"$T/view-before.csv"
cm "$H" audit >"$T/audit-before.txt"
check_match "audit: the API issuance by the officer's subject" "$(cat "$T/audit-before.txt")" "subject:CN=Drill Officer,O=certmint tests	issue	$R_API	"
check_match "audit: the renewal by the requester's subject" "$(cat "$T/audit-before.txt")" "subject:CN=Rita Drill,O=certmint tests	issue	$R_WEB	"
check_match "audit: the approval by the officer's subject" "$(cat "$T/audit-before.txt")" "subject:CN=Drill Officer,O=certmint tests	issue	$R_ANON	"
serve_stop
check_eq "serve stops cleanly" "$?" 0
check_match "every event acknowledged by the MTA" "$last" '^[0-9]+$'

# ---- the disaster, the restore, the recovery ----
rm -rf "$H"
check "restore from the backup taken before" cm "$H" restore "$T/bk"
for n in api web anon; do
    eval "sn=\$S_$n"
    check_eq "restored CA does not know the $n certificate" "$(cm "$H" view --restrict "SerialNumber=$sn" --out SerialNumber --format csv | tail -n +2 | grep -c .)" 0
done
cm "$H" recover-orphans --maildir "$M/Maildir" --format json >"$T/r.json" 2>"$T/r.err"
check_eq "recover-orphans: exit status 0" "$?" 0
check_eq "  ... nothing rejected or malformed" \
    "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["rejected_total"], d["malformed"])' "$T/r.json")" "0 0"
cm "$H" view --out "$COLS" --format csv >"$T/view-after.csv"
python3 - "$T/view-before.csv" "$T/view-after.csv" "$S_api" "$S_web" "$S_anon" >"$T/cmp.out" 2>&1 <<'EOF'
import csv, sys
b = {r["SerialNumber"]: r for r in csv.DictReader(open(sys.argv[1])) if r["SerialNumber"]}
a = {r["SerialNumber"]: r for r in csv.DictReader(open(sys.argv[2])) if r["SerialNumber"]}
bad = []
for s in sys.argv[3:]:
    if s not in b:
        bad.append("%s not in the view before" % s)
if set(b) - set(a):
    bad.append("missing %s" % sorted(set(b) - set(a)))
for s in set(b) & set(a):
    for col in ("RequestID", "RequesterName", "DistinguishedName", "SubjectAltNames",
                "CertificateTemplate", "NotBefore", "NotAfter", "RawCertificate"):
        if a[s][col] != b[s][col]:
            bad.append("%s %s: %r -> %r" % (s, col, b[s][col][:60], a[s][col][:60]))
print("\n".join(bad) or "same")
EOF
check_eq "every row back: serial, requester, subject, RequestID, profile, dates, bytes" "$(cat "$T/cmp.out")" same
row() { cm "$H" view --restrict "SerialNumber=$1" --out "$2" --format csv | tail -n 1 | tr -d '\r'; }
check_eq "RequestIDs kept" "$(row "$S_api" RequestID) $(row "$S_web" RequestID) $(row "$S_anon" RequestID)" "$R_API $R_WEB $R_ANON"
for n in api web anon; do
    eval "sn=\$S_$n"
    row "$sn" RawCertificate | openssl base64 -d -A >"$T/back-$n.der"
    check "openssl: the recovered $n certificate is the one downloaded over HTTPS" cmp "$T/back-$n.der" "$T/dl-$n.der"
    check_eq "openssl: its subject" "$(openssl x509 -inform DER -in "$T/back-$n.der" -noout -subject)" "$(openssl x509 -in "$T/dl-$n.pem" -noout -subject)"
    openssl x509 -inform DER -in "$T/back-$n.der" -out "$T/back-$n.pem"
    check "openssl verify: the recovered $n certificate" openssl verify -CAfile "$T/root.pem" "$T/back-$n.pem"
done
echo "# http_drill: $(($(date +%s) - T0)) s"
done_testing
