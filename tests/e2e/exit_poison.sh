#!/bin/sh
# Issue 9 section 1: one bad event never stops the audit trail. Against a
# real private Postfix (scripts/mta.sh), read back with Python's email
# package (tests/e2e/maildir.py):
#   - a request whose subject has a 20,000-character O, and one whose CN
#     carries CR/LF and a "Bcc:" line, give mails that are sent and parse
#     (no header injection, folded short lines, the full subject in the
#     events part and the body); the events after them are delivered;
#   - an event whose mail the server refuses with 5xx after DATA (a Postfix
#     header_checks rule) is moved aside as poisoned: `exit status` lists it
#     with the reason, an EXITPOISONED alert is mailed and logged, the
#     events behind it are delivered, strict mode withholds only its own
#     certificate; `exit retry ID` delivers it once the rule is gone and
#     releases the certificate;
#   - templates checked by `config set` (%x, %0, an index beyond the list,
#     an unknown column), a bad template in the file falls back with a
#     warning; the not-enabled warning and status line; EXITEVENT_ names;
#     a batch uses the configured subject template and each event's state.
. "$(dirname "$0")/lib.sh"

MTA="$TOP/scripts/mta.sh"
SCAN="$TOP/tests/e2e/maildir.py"
if [ "$(id -u)" -ne 0 ]; then
    fail "a private Postfix instance needs root"
    done_testing
fi
PATH=/usr/sbin:/sbin:$PATH
python3 -c 'import cryptography' 2>/dev/null || {
    fail "python3-cryptography is needed to build hostile CSRs"
    done_testing
}

chmod 711 "$T"
M="$T/mta"
MD="$M/Maildir"
PORT=$(free_port)
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
if ! sh "$MTA" start "$M" "$PORT" >"$T/mta.out" 2>&1; then
    fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"
    done_testing
fi
ok "private Postfix on 127.0.0.1:$PORT"

settle() {
    i=0
    while [ "$(postqueue -c "$M/etc" -p 2>/dev/null | tail -n 1)" != "Mail queue is empty" ]; do
        i=$((i + 1))
        [ $i -le 300 ] || { fail "Postfix queue not empty after 30 s"; return 1; }
        sleep 0.1
    done
}
scan() {
    settle
    rm -rf "${T:?}/$1"
    python3 "$SCAN" scan "$MD" "$T/$1" >"$T/$1.n" 2>"$T/$1.err" ||
        fail "maildir.py scan $1: $(tail -n 2 "$T/$1.err" | tr '\n' ' ')"
}
archive() {
    settle
    mkdir -p "$T/archive"
    find "$MD/new" "$MD/cur" -type f -exec mv -t "$T/archive" {} +
}
# col NAME FIELD EVENT: FIELD of the mails of EVENT in $T/NAME/mails.tsv.
col() { awk -F'\t' -v f="$2" -v e="$3" '$4 == e { print $f }' "$T/$1/mails.tsv"; }
# refuse PATTERN|none: Postfix refuses (5xx after DATA) every message whose
# Subject matches PATTERN. cleanup(8) reads header_checks when it starts:
# the processes of the old configuration are waited for (as mta.sh mode).
refuse() {
    if [ "$1" = none ]; then : >"$M/etc/poison_hc"; else
        printf '/^Subject:.*%s/ REJECT 5.7.1 refused by the test: poisoned content\n' "$1" \
            >"$M/etc/poison_hc"
    fi
    postconf -c "$M/etc" -e "header_checks = regexp:$M/etc/poison_hc"
    master=$(tr -dc 0-9 <"$M/postfix.pid")
    old=$(pgrep -P "$master" -x 'smtpd|cleanup' || true)
    postfix -c "$M/etc" reload >/dev/null 2>&1
    for p in $old; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 10 ]; do sleep 0.1; i=$((i + 1)); done
        kill -TERM "$p" 2>/dev/null || true
    done
    sleep 0.5
}
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'; }
status_of() { cm "$H" exit status | awk -v m="$1" '$1 == m'; }
backlog() { status_of smtp | awk '{ sub("backlog=", "", $3); print $3 }'; }

# hostile CSR CN O OUT: a CSR with exactly these attribute values (Python's
# cryptography, unvalidated: openssl req cannot write CR/LF).
hostile() {
    python3 - "$@" <<'EOF'
import sys
from cryptography import x509
from cryptography.x509.oid import NameOID
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
cn, o, out = sys.argv[1], sys.argv[2], sys.argv[3]
attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn, _validate=False)]
if o:
    attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o, _validate=False))
key = ec.generate_private_key(ec.SECP256R1())
csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs)).sign(key, hashes.SHA256())
open(out, "wb").write(csr.public_bytes(serialization.Encoding.PEM))
EOF
}

H="$T/ca"
cm "$H" init --subject "/CN=Poison Test CA/O=certmint tests" >/dev/null || {
    fail "init"
    done_testing
}
cfg() { cm "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1 $2: $(cat "$T/cfg.out")"; }

# --- 0. a module configured but not enabled ---------------------------------
cm "$H" config set exit.smtp.server 127.0.0.1 >"$T/cfg.out" 2>&1
check_match "config set exit.smtp.server without exit.modules warns" "$(cat "$T/cfg.out")" \
    "warning: exit module smtp is not enabled.*exit.modules"
check_match "exit status says 'not enabled' for the configured module" "$(status_of smtp; cm "$H" exit status)" \
    "not enabled: exit.smtp keys are set"
cfg exit.modules smtp
cm "$H" config set exit.smtp.port "$PORT" >"$T/cfg.out" 2>&1
check_eq "no warning once exit.modules lists it" "$(cat "$T/cfg.out")" ""
cfg exit.smtp.tls starttls
cfg exit.smtp.cafile "$M/tls/ca.pem"
cfg exit.smtp.auth plain
cfg exit.smtp.username "$(cat "$M/smtp-user")"
cfg exit.smtp.password_file "$M/smtp-password"
cfg exit.smtp.timeout 10s
cfg exit.smtp.from "Poison Test CA <ca@example.org>"
cfg exit.smtp.to "admin@example.org"
cfg exit.smtp.batch_max 1
cfg profile.manual.base tls-server
cfg profile.manual.approval manual
check_match "exit status: enabled" "$(status_of smtp)" "^smtp	enabled"

# --- 1. templates checked when set ------------------------------------------
for bad in 'Cert %x issued' 'Cert %0' 'Cert %4 of %1'; do
    if cm "$H" config set exit.smtp.issued.titleformat "$bad" >"$T/bad.out" 2>&1; then
        fail "config set titleformat '$bad' accepted"
    else
        check_match "config set titleformat '$bad' refused with the reason" "$(cat "$T/bad.out")" \
            "exit.smtp.issued.titleformat.*(not %1|refers to argument 4)"
    fi
done
check_fails "config set titlearg with an unknown column refused" \
    cm "$H" config set exit.smtp.issued.titlearg "CAName,NoSuchColumn"
check_eq "  ... nothing of it saved" "$(cm "$H" config get exit.smtp.issued.titleformat)" ""
check "EXITEVENT_ names accepted in filters" cm "$H" config set exit.smtp.eventfilter "EXITEVENT_CERTISSUED,EXITEVENT_CERTDENIED,EXITEVENT_CERTPENDING,EXITEVENT_CERTREVOKED,EXITPOISONED"
check "  ... and +EXITEVENT_ edits" cm "$H" config set exit.smtp.eventfilter "+EXITEVENT_CRLISSUED"
check_eq "  ... stored as names" "$(cm "$H" config get exit.smtp.eventfilter)" \
    "CERTISSUED,CERTPENDING,CERTDENIED,CERTREVOKED,CRLISSUED,EXITPOISONED"

# --- 2. hostile subjects render; the events after them are delivered ---------
LONG_O=$(python3 -c 'print("A" * 20000)')
hostile "long-o.example.org" "$LONG_O" "$T/long.csr"
hostile "$(printf 'evil\r\nBcc: injected@example.org')" "" "$T/crlf.csr"
make_csr ec:p256 "$T/ok1.csr" "$T/ok1.key" "/CN=ok1.example.org" "DNS:ok1.example.org"
make_csr ec:p256 "$T/ok2.csr" "$T/ok2.key" "/CN=ok2.example.org" "DNS:ok2.example.org"
# The request is pending (then denied by an officer), or denied at once by
# a name lint: either way a CERTDENIED event carries the hostile subject.
deny_hostile() {
    cm "$H" submit --profile manual "$1" >"$T/sub.out" 2>"$T/sub.err"
    r=$(cut -f1 "$T/sub.out" | head -n 1)
    [ -n "$r" ] || r=$(grep -o 'request [0-9]*' "$T/sub.err" | head -n 1 | tr -dc 0-9)
    if grep -q pending "$T/sub.out"; then cm "$H" deny "$r" --reason "hostile subject" >/dev/null 2>&1; fi
    echo "$r"
}
RL=$(deny_hostile "$T/long.csr")
RC=$(deny_hostile "$T/crlf.csr")
check "a good request after them is issued" cm "$H" submit "$T/ok1.csr" --out "$T/ok1.pem"
S1=$(serial_of "$T/ok1.pem")
cm "$H" exit flush >"$T/flush.out" 2>&1
check_eq "exit flush: nothing left queued" "$(backlog)" "0"
check_eq "  ... nothing poisoned by the hostile subjects" "$(status_of smtp | grep -o 'poisoned=[0-9]*')" "poisoned=0"
scan s2
check_eq "no MIME defects in any mail" "$(cut -f13 "$T/s2/mails.tsv" | sort -u | tr '\n' ' ')" "0 "
check_eq "CERTDENIED mailed for both hostile requests" \
    "$(awk -F'\t' '$4 == "CERTDENIED" { print $7 }' "$T/s2/mails.tsv" | sort -n | tr '\n' ' ')" \
    "$(printf '%s\n%s\n' "$RL" "$RC" | sort -n | tr '\n' ' ')"
check_eq "the certificate requested after them is mailed" "$(col s2 8 CERTISSUED)" "$S1"
check_fails "no injected Bcc/recipient: nothing delivered to injected@example.org" \
    grep -rqi "^Delivered-To: injected@example.org" "$MD"
check_fails "no raw CR/LF header line from the subject" grep -rqE "^Bcc:" "$MD"
maxline=$(cat "$MD"/new/* "$MD"/cur/* 2>/dev/null | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')
check "every line of every mail is at most 78 characters (+CR) (longest: $maxline)" test "$maxline" -le 79
check_match "the long subject: a summary in the Subject header" \
    "$(awk -F'\t' -v r="$RL" '$4 == "CERTDENIED" && $7 == r { print $9 }' "$T/s2/mails.tsv")" \
    "Request $RL denied: (O=A+|CN=long-o.example.org,O=A+) \\[\\.\\.\\.\\]$"
python3 - "$MD" "$RL" "$LONG_O" >"$T/full.out" 2>&1 <<'EOF'
import email, email.policy, os, sys
md, rid, long_o = sys.argv[1], sys.argv[2], sys.argv[3]
found = 0
for sub in ("new", "cur"):
    for f in os.listdir(os.path.join(md, sub)):
        m = email.message_from_binary_file(open(os.path.join(md, sub, f), "rb"), policy=email.policy.default)
        if m["X-Certmint-Request-ID"] != rid or m["X-Certmint-Event"] != "CERTDENIED":
            continue
        for part in m.walk():
            if part.get_content_type() == "text/plain":
                # wrapped lines continue with two spaces (docs/mail-format.md)
                body = part.get_content().replace("\n  ", "")
                if ("O=" + long_o) in body:
                    found += 1
print(found)
EOF
check_eq "the full 20,000-character subject is in the body (wrapped lines joined)" "$(cat "$T/full.out")" "1"
body_c=$(awk -F'\t' -v r="$RC" '$4 == "CERTDENIED" && $7 == r { print NR }' "$T/s2/mails.tsv")
check "the CR/LF subject's body shows the control characters escaped" \
    grep -q 'evil\\x0D\\x0ABcc: injected@example.org\|evil\\0D\\0ABcc' "$T/s2/body/$body_c.txt"
archive

# --- 3. a poisoned event: moved aside, the rest flows; strict mode -----------
cfg audit.require_offbox yes
refuse 'poison-me'
make_csr ec:p256 "$T/pz.csr" "$T/pz.key" "/CN=poison-me.example.org" "DNS:poison-me.example.org"
cm "$H" submit "$T/pz.csr" --out "$T/pz.pem" >"$T/pz.out" 2>"$T/pz.err"
check_eq "strict: the refused certificate's submit exits non-zero" "$?" "1"
check_match "  ... saying it is withheld" "$(cat "$T/pz.err")" "withheld"
check_match "  ... and that an event was moved aside" "$(cat "$T/pz.err")" "poisoned"
check_fails "  ... no certificate written" test -e "$T/pz.pem"
RP=$(cut -f1 "$T/pz.out" | head -n 1)
[ -n "$RP" ] || RP=$(grep -o 'request [0-9]*' "$T/pz.err" | head -n 1 | tr -dc 0-9)
check "strict: the next request is issued and released at once" \
    cm "$H" submit "$T/ok2.csr" --out "$T/ok2.pem"
S2=$(serial_of "$T/ok2.pem" 2>/dev/null)
check_eq "nothing left queued" "$(backlog)" "0"
st=$(cm "$H" exit status)
check_match "exit status lists the poisoned event with the server's reason" "$st" \
    "poisoned event [0-9]+ since .*5.7.1 refused by the test"
EV=$(printf '%s\n' "$st" | sed -n 's/.*poisoned event \([0-9]*\) since.*/\1/p' | head -n 1)
check_match "  ... and counts it" "$(status_of smtp)" "poisoned=1"
cm "$H" retrieve "$RP" --out "$T/pz.pem" >"$T/ret.out" 2>&1
check "strict: retrieve of the poisoned event's certificate is refused" test "$?" -ne 0
check_match "  ... as withheld" "$(cat "$T/ret.out")" "withheld"
cm "$H" view --restrict "RequestID=$RP" --out RawCertificate >"$T/view.out" 2>&1
check_fails "strict: view does not hand out the withheld certificate either" grep -q "BEGIN CERTIFICATE\|^MII" "$T/view.out"
scan s3
check_eq "the certificate after it was mailed" "$(col s3 8 CERTISSUED)" "$S2"
check_match "an EXITPOISONED alert was mailed" "$(col s3 9 EXITPOISONED)" \
    "Exit module smtp set event $EV \\(CERTISSUED\\) aside"
archive

# --- 4. exit retry after the fix ---------------------------------------------
cm "$H" exit retry "$EV" >"$T/retry.out" 2>&1
check_eq "exit retry while the server still refuses: exit status 1" "$?" "1"
check_match "  ... with the reason" "$(cat "$T/retry.out")" "still poisoned"
refuse none
cm "$H" exit retry "$EV" >"$T/retry2.out"
check_eq "exit retry $EV after the fix" "$?" 0
# exit_retry once closed file descriptor 1 (the lock flag passed to close())
# and kept the delivery lock: the result line never reached stdout.
check_match "  ... and says so on stdout" "$(cat "$T/retry2.out")" "event $EV delivered by 1 module"
check_match "  ... no longer listed" "$(status_of smtp)" "poisoned=0"
check "strict: the certificate is released by the retry" cm "$H" retrieve "$RP" --out "$T/pz.pem"
scan s4
check_eq "  ... its CERTISSUED mail delivered" "$(col s4 7 CERTISSUED)" "$RP"
check_fails "exit retry of an event that is not poisoned fails" cm "$H" exit retry "$EV"
check_match "the audit log records the retry" "$(db_sql "$H" "SELECT Action || ' ' || Details FROM audit WHERE Action = 'exit-retry'")" \
    "exit-retry event $EV delivered by smtp"
# A batch with --out DIR in strict mode: its certificates are handed to the
# file writer only once released (after the delivery), then written.
mkdir "$T/strictdir"
check "strict: a batch of two with --out DIR is released at once" \
    cm "$H" submit --out "$T/strictdir" "$T/ok2.csr" "$T/ok2.csr"
check_eq "  ... both files written" "$(ls "$T/strictdir" | wc -l | tr -d ' ')" 2
check "  ... each verifies against the CA" openssl verify -CAfile "$H/ca.crt" "$T"/strictdir/*.pem
cfg audit.require_offbox no
archive

# --- 5. a template broken in the file falls back, with a warning --------------
printf 'exit.smtp.revoked.titleformat = Broken %%9 template\n' >>"$H/certmint.conf"
cm "$H" revoke "$S1" keyCompromise >"$T/rev.out" 2>&1
check_match "a bad template in the file: a warning naming it" "$(cat "$T/rev.out")" \
    "exit.smtp.revoked.titleformat.*built-in template"
scan s5
check_match "  ... and the mail goes out with the built-in subject" "$(col s5 9 CERTREVOKED)" \
    "Certificate revoked: ok1.example.org"
sed -i '/Broken %9 template/d' "$H/certmint.conf"
archive

# --- 6. a batch: the configured subject, each event's own state --------------
cfg exit.smtp.batch_max 10
cfg exit.smtp.batch_window 60000
cfg exit.smtp.issued.titleformat "Issued: %1 (#%2)"
cfg exit.smtp.issued.titlearg "CommonName,RequestID"
cfg exit.smtp.issued.bodyformat "Issued %1, state %2, reason %3\n"
cfg exit.smtp.issued.bodyarg "SerialNumber,Disposition,RevokedReason"
cfg exit.smtp.revoked.bodyformat "Revoked %1, state %2, reason %3\n"
cfg exit.smtp.revoked.bodyarg "SerialNumber,Disposition,RevokedReason"
# Queue an issuance and its revocation while another process holds the
# delivery lock, then deliver them together.
make_csr ec:p256 "$T/b.csr" "$T/b.key" "/CN=batch.example.org" "DNS:batch.example.org"
hold_lock "$H" exit 8 "$T/locked" &
lpid=$!
while [ ! -e "$T/locked" ]; do sleep 0.05; done
cm "$H" submit "$T/b.csr" --out "$T/b.pem" >/dev/null 2>&1
SB=$(serial_of "$T/b.pem")
cm "$H" revoke "$SB" superseded >/dev/null 2>&1
wait "$lpid"
cm "$H" exit flush >/dev/null 2>&1
scan s6
check_eq "one mail for the two events" "$(cut -f6 "$T/s6/mails.tsv" | tr '\n' ' ')" "2 "
check_match "  ... its subject from the configured template" "$(cut -f9 "$T/s6/mails.tsv")" \
    "^Issued: batch.example.org \\(#[0-9]+\\) \\(\\+1 more: CERTISSUED,CERTREVOKED\\)$"
check "  ... the issuance shows the state it recorded" grep -qx "Issued $SB, state issued, reason ???" "$T/s6/body/1.txt"
check "  ... the revocation its own" grep -qx "Revoked $SB, state revoked, reason superseded" "$T/s6/body/1.txt"
archive

# --- 7. certmint serve: what it logs on start; a failure logged once ---------
cfg exit.smtp.batch_window 0
cfg serve.poll_interval 1s
cfg crl.period 7d
cm "$H" crl >/dev/null
sh "$MTA" mode "$M" tempfail >/dev/null
cm "$H" revoke "$S2" superseded >"$T/rev7.log" 2>&1
"$CM" --home "$H" --passphrase-file "$PASS" serve >"$T/serve.log" 2>&1 &
spid=$!
at_exit "kill -9 $spid 2>/dev/null"
sleep 9
sh "$MTA" mode "$M" normal >/dev/null
i=0
while [ "$(backlog)" != 0 ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
kill -TERM "$spid"
wait "$spid"
check_match "serve logs the active modules, backlog and poisoned events on start" "$(cat "$T/serve.log")" \
    "exit modules active: smtp \\(off-box\\); backlog [0-9]+ event\\(s\\), 0 poisoned; next full CRL [0-9-]+ [0-9:]+ UTC, next delta CRL"
check_eq "a failure repeated on every retry is logged once (by the command that met it first)" \
    "$(cat "$T/rev7.log" "$T/serve.log" | grep -c 'events stay queued; retried with backoff')" "1"
check_match "  ... serve names it once on start" "$(cat "$T/serve.log")" \
    "exit module smtp: last error: .*451 4.3.0"
nfail=$(sed -n 's/.*delivering again after \([0-9]*\) failed attempt.*/\1/p' "$T/serve.log" | head -n 1)
check "  ... though it failed several times (${nfail:-0}); recovery is logged" test "${nfail:-0}" -ge 2
check_eq "everything delivered after the fault" "$(backlog)" "0"

done_testing
