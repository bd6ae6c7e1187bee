#!/bin/sh
# The disaster drill of docs/recovery.md, end to end, with the real MTA
# (scripts/mta.sh: private Postfix + Dovecot SASL on 127.0.0.1): a CA mails
# every event (STARTTLS + AUTH) into the MTA's Maildir, is backed up, issues
# 12 more certificates (three profiles; revoked for several reasons, one put
# on hold and released, one left on hold; CRLs and a delta published), is
# destroyed, restored from the backup, and rebuilt with recover-orphans from
# the Maildir. Checked with openssl and Python's mailbox/email packages:
# certificates byte-identical, RequestIDs kept, reasons, the new CRL (its
# entries, its number, openssl verify -crl_check), IDs above the trail, a
# second run and a dry run that change nothing, at-least-once duplicates and
# out-of-order mails. Then --revoke on another restored copy, and an mbox with
# forged, foreign (a second CA through the same MTA), truncated, non-certmint
# and AD CS-style text mails mixed in.
. "$(dirname "$0")/lib.sh"

MTA="$TOP/scripts/mta.sh"
if [ "$(id -u)" -ne 0 ]; then
    fail "a private Postfix instance needs root"
    done_testing
fi
if ! "$CM" help recover-orphans >/dev/null 2>&1; then
    fail "certmint recover-orphans missing"
    done_testing
fi

# virtual(8) delivers as nobody, who must reach $T/mta (see scripts/mta.sh).
chmod 711 "$T"
M="$T/mta"
PORT=$(free_port)
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
if ! sh "$MTA" start "$M" "$PORT" >"$T/mta.out" 2>&1; then
    fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"
    done_testing
fi
ok "private Postfix + Dovecot auth on 127.0.0.1:$PORT"

H="$T/ca"
# smtp_setup HOME: the SMTP exit module mails every event to the MTA.
smtp_setup() {
    for kv in "exit.smtp.server 127.0.0.1" "exit.smtp.port $PORT" "exit.smtp.tls starttls" \
        "exit.smtp.auth plain" "exit.smtp.username $(cat "$M/smtp-user")" \
        "exit.smtp.password_file $M/smtp-password" "exit.smtp.cafile $M/tls/ca.pem" \
        "exit.smtp.from ca@example.org" "exit.smtp.to pki-audit@example.org" \
        "exit.modules smtp"; do
        # shellcheck disable=SC2086
        cm "$1" config set $kv >/dev/null || return 1
    done
}
# json FILE EXPR: a value of a JSON report (Python's json module).
json() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
crlnum() { printf '%d\n' "$(openssl crl -inform DER -in "$1" -noout -crlnumber | sed 's/.*=//')"; }
# view_of HOME: every column but the raw blobs, and the raw certificate.
ALLCOLS=RequestID,RequesterName,Disposition,DispositionMessage,CertificateTemplate,RequestDistinguishedName,SerialNumber,NotBefore,NotAfter,DistinguishedName,CommonName,EMail,SubjectAltNames,CertificateHash,SubjectKeyIdentifier,RevokedWhen,RevokedEffectiveWhen,RevokedReason,InvalidityDate,Origin,RecoveredFrom,RawCertificate
view_of() { cm "$1" view --out "$ALLCOLS" --format csv; }
# wait_events MAILDIR LAST: until the mails cover every event ID 1..LAST.
wait_events() {
    python3 - "$1" "$2" <<'EOF'
import email, email.policy, os, sys, time
md, last = sys.argv[1], int(sys.argv[2])
for _ in range(300):
    seen = set()
    for sub in ("new", "cur"):
        d = os.path.join(md, sub)
        for f in os.listdir(d) if os.path.isdir(d) else []:
            m = email.message_from_binary_file(open(os.path.join(d, f), "rb"),
                                               policy=email.policy.compat32)
            v = m.get("X-Certmint-Event-ID", "")
            a, _, b = v.partition("-")
            if a.isdigit():
                seen.update(range(int(a), int(b or a) + 1))
    if set(range(1, last + 1)) <= seen:
        sys.exit(0)
    time.sleep(0.1)
print("missing events:", sorted(set(range(1, last + 1)) - seen), file=sys.stderr)
sys.exit(1)
EOF
}
# marks HOME: the counters (RequestID, CRL number, events) of a copy of HOME,
# as a backup of it reports them; the home itself is not touched.
marks() {
    rm -rf "$T/probe" "$T/probe-bk"
    cp -r "$1" "$T/probe"
    cm "$T/probe" backup "$T/probe-bk" | sed 's/^backup written to [^:]*: //'
}
last_event() { cm "$1" exit status | awk '/^smtp/ { for (i = 1; i <= NF; i++) if ($i ~ /^acked=/) print substr($i, 7) }'; }

# --- the CA before the disaster -----------------------------------------------
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
smtp_setup "$H" || { fail "SMTP exit module configuration"; done_testing; }
ok "CA with the SMTP exit module (STARTTLS, AUTH PLAIN) mailing every event"
mkdir -p "$T/csr" "$T/pre" "$T/post"
for i in 1 2 3; do make_csr ec:p256 "$T/csr/pre$i.csr" "$T/csr/pre$i.key" "/CN=pre$i.example.org" "DNS:pre$i.example.org"; done
cm "$H" submit --profile tls-server --out "$T/pre" "$T/csr/pre1.csr" "$T/csr/pre2.csr" "$T/csr/pre3.csr" >/dev/null
PRE1=$(serial_of "$T/pre/1.pem"); PRE2=$(serial_of "$T/pre/2.pem"); PRE3=$(serial_of "$T/pre/3.pem")
cm "$H" revoke "$PRE2" certificateHold >/dev/null
cm "$H" crl >/dev/null
check "backup at time 0" cm "$H" backup "$T/bk"

# --- time 0 to 1: 12 more, revocations, a hold released, CRLs ----------------
# tls-server: one submit of four (one batch mail with four certificates).
for i in 1 2 3 4; do make_csr ec:p256 "$T/csr/s$i.csr" "$T/csr/s$i.key" "/CN=s$i.example.org" "DNS:s$i.example.org"; done
cm "$H" submit --profile tls-server --out "$T/post" "$T/csr/s1.csr" "$T/csr/s2.csr" "$T/csr/s3.csr" "$T/csr/s4.csr" >"$T/sub-s.out"
# tls-client: one mail each (RSA keys too).
for i in 1 2 3 4; do
    make_csr rsa:2048 "$T/csr/c$i.csr" "$T/csr/c$i.key" "/CN=client$i/O=Example"
    cm "$H" submit --profile tls-client --out "$T/post/c$i.pem" "$T/csr/c$i.csr" >>"$T/sub-c.out"
done
# smime, with a non-ASCII subject (RFC 2047 in the mails).
for i in 1 2 3 4; do make_csr ec:p384 "$T/csr/m$i.csr" "$T/csr/m$i.key" "$(printf '/CN=J\303\274rgen %s/emailAddress=u%s@example.org' "$i" "$i")" "email:u$i@example.org"; done
cm "$H" submit --profile smime --out "$T/post" "$T/csr/m1.csr" "$T/csr/m2.csr" "$T/csr/m3.csr" "$T/csr/m4.csr" >"$T/sub-m.out"
# Name the PEMs by role: s1..s4 are requests 4..7, m1..m4 12..15.
for i in 1 2 3 4; do mv "$T/post/$((i + 3)).pem" "$T/post/s$i.pem"; mv "$T/post/$((i + 11)).pem" "$T/post/m$i.pem"; done
ORPHANS="s1 s2 s3 s4 c1 c2 c3 c4 m1 m2 m3 m4"
for n in $ORPHANS; do eval "S_$n=\$(serial_of \"\$T/post/$n.pem\")"; done
check_eq "12 certificates issued after the backup" "$(ls "$T/post" | wc -l)" 12
cm "$H" revoke "$S_s1" keyCompromise >/dev/null
cm "$H" revoke "$S_c1" superseded >/dev/null
cm "$H" revoke "$S_m1,$S_m2" cessationOfOperation >/dev/null
cm "$H" revoke "$S_s2" certificateHold >/dev/null
cm "$H" crl >/dev/null
cm "$H" unrevoke "$S_s2" >/dev/null
cm "$H" revoke "$S_c2" certificateHold >/dev/null
cm "$H" revoke "$S_m2" privilegeWithdrawn >/dev/null 2>&1 &&
    fail "a final revocation was changed" || ok "a final revocation cannot be changed (m2 stays cessationOfOperation)"
cm "$H" revoke "$PRE1" affiliationChanged >/dev/null
cm "$H" unrevoke "$PRE2" >/dev/null
cm "$H" crl >/dev/null
cm "$H" crl --delta >/dev/null
# A request still pending at the disaster: the trail has its CERTPENDING mail
# but not its CSR; recovery reports it as pending-unknown.
make_csr ec:p256 "$T/csr/pend.csr" "$T/csr/pend.key" "/CN=Pending Sub CA/O=certmint tests"
PEND_ID=$(cm "$H" submit --profile subca "$T/csr/pend.csr" | cut -f1)
CRL_BEFORE=$(crlnum "$H/crl/delta.crl")
cp "$H/crl/ca.crl" "$T/crl-before.crl"
LAST_EVENT=$(last_event "$H")
REQ_BEFORE=$(cm "$H" view --out RequestID --format csv | tail -n 1 | tr -d '\r')
view_of "$H" >"$T/view-before.csv"
check "every event (1..$LAST_EVENT) mailed and delivered" wait_events "$M/Maildir" "$LAST_EVENT"
grep -h '^Message-ID:' "$M"/Maildir/new/* | sort -u >"$T/msgids-before"
cp -r "$M/Maildir" "$T/trail"

# --- time 1: the disaster; time 2: restore -------------------------------------
rm -rf "$H"
check "restore from the time-0 backup" cm "$H" restore "$T/bk"
check_eq "the restored CA knows the 3 certificates of time 0" \
    "$(cm "$H" view --out SerialNumber --format csv | tail -n +2 | grep -c .)" 3

# At-least-once delivery: some mails twice; and the mail releasing s2 read
# before the one that put it on hold (cur/ is read before new/).
dups=0
for f in "$M"/Maildir/new/*; do
    case "$(grep -m1 '^X-Certmint-Event:' "$f")" in
    *CERTUNREVOKED*)
        if grep -q "X-Certmint-Serial: $S_s2" "$f"; then mv "$f" "$M/Maildir/cur/0000000000.release:2,S"; fi ;;
    *CERTISSUED* | *CERTREVOKED* | *CRLISSUED*)
        if [ $dups -lt 4 ]; then cp "$f" "$M/Maildir/cur/$(basename "$f").again:2,S"; dups=$((dups + 1)); fi ;;
    esac
done
[ -f "$M/Maildir/cur/0000000000.release:2,S" ] && [ $dups -eq 4 ] &&
    ok "4 mails duplicated, the release of s2 moved before its hold" || fail "could not prepare the Maildir ($dups)"

# --dry-run: nothing changes, and no passphrase is needed. (Nothing may be
# done with the restored CA before recover-orphans: a CRL or a certificate
# now would take numbers and event IDs (Message-IDs) the trail already has.)
view_of "$H" >"$T/view-restored.csv"
marks_restored=$(marks "$H")
"$CM" --home "$H" recover-orphans --maildir "$M/Maildir" --dry-run --format json </dev/null >"$T/dry.json" 2>"$T/dry.err"
check_eq "dry run: exit status 0 without the key passphrase" "$?" 0
check_eq "dry run: would import 12" "$(json "$T/dry.json" 'd["imported"], d["dry_run"]')" "(12, True)"
view_of "$H" >"$T/view-after-dry.csv"
check "dry run changed nothing" cmp -s "$T/view-restored.csv" "$T/view-after-dry.csv"
marks_after_dry=$(marks "$H")
check_eq "dry run raised no counter" "$marks_after_dry" "$marks_restored"

# --- recover-orphans -------------------------------------------------------------
cm "$H" recover-orphans --maildir "$M/Maildir" --format json >"$T/r1.json" 2>"$T/r1.err"
check_eq "recover-orphans: exit status 0" "$?" 0
check_eq "report: imported, placeholders, rejected" \
    "$(json "$T/r1.json" 'd["imported"], d["placeholders"], d["rejected_total"], d["malformed"]')" "(12, 0, 0, 0)"
# Revocations re-applied: s1 c1 m1 m2 c2(hold) pre1; releases: pre2.
check_eq "report: 6 revocations and 1 release re-applied" \
    "$(json "$T/r1.json" 'd["revocations_applied"], d["releases_applied"], d["revoked_now"]')" "(6, 1, 0)"
check_eq "report: the request pending at the disaster is pending-unknown, with its RequestID" \
    "$(json "$T/r1.json" 'd["pending_unknown_total"], [p["request_id"] for p in d["pending_unknown"]]')" \
    "(1, [$PEND_ID])"
check_match "table report lists it" \
    "$(cm "$H" recover-orphans --maildir "$M/Maildir" --dry-run 2>&1)" "pending-unknown RequestID $PEND_ID "
view_of "$H" >"$T/view-after.csv"
python3 - "$T/view-before.csv" "$T/view-after.csv" >"$T/cmp.out" 2>&1 <<'EOF'
import csv, sys
b = {r["SerialNumber"]: r for r in csv.DictReader(open(sys.argv[1])) if r["SerialNumber"]}
a = {r["SerialNumber"]: r for r in csv.DictReader(open(sys.argv[2])) if r["SerialNumber"]}
bad = []
if set(b) - set(a):
    bad.append("missing %s" % sorted(set(b) - set(a)))
for s in set(b) & set(a):
    for col in ("RequestID", "RawCertificate", "RevokedReason", "RevokedEffectiveWhen",
                "CertificateTemplate", "DistinguishedName", "NotAfter", "SubjectAltNames"):
        if a[s][col] != b[s][col]:
            bad.append("%s %s: %r -> %r" % (s, col, b[s][col][:40], a[s][col][:40]))
print("\n".join(bad) or "same")
EOF
check_eq "every certificate back with its RequestID, bytes, reason, date, profile" "$(cat "$T/cmp.out")" same
nbytes=0
for n in $ORPHANS; do
    eval "sn=\$S_$n"
    cm "$H" view --restrict "SerialNumber=$sn" --out RawCertificate --format csv | tail -n 1 | tr -d '\r' |
        openssl base64 -d -A >"$T/back-$n.der"
    openssl x509 -in "$T/post/$n.pem" -outform DER -out "$T/issued-$n.der"
    cmp -s "$T/back-$n.der" "$T/issued-$n.der" && nbytes=$((nbytes + 1))
done
check_eq "openssl: all 12 recovered certificates byte-identical to the issued PEMs" "$nbytes" 12
reason() { cm "$H" view --restrict "SerialNumber=$1" --out RevokedReason --format csv | tail -n 1 | tr -d '\r'; }
check_eq "reasons: s1 c1 m1 m2 c2 pre1" \
    "$(reason "$S_s1") $(reason "$S_c1") $(reason "$S_m1") $(reason "$S_m2") $(reason "$S_c2") $(reason "$PRE1")" \
    "keyCompromise superseded cessationOfOperation cessationOfOperation certificateHold affiliationChanged"
check_eq "released holds are not revoked (s2 after the backup, pre2 across it)" \
    "[$(reason "$S_s2")] [$(reason "$PRE2")]" "[] []"
check_match "recovered rows name the mail they came from" \
    "$(cm "$H" view --restrict "SerialNumber=$S_c3" --out Origin,RecoveredFrom --format csv | tail -n 1)" \
    "^imported,certmint\.[0-9a-f]{16}\.[0-9-]+@"

# The new CRL: exactly what it must list, numbered above every CRL before.
CRL_NOW=$(crlnum "$H/crl/ca.crl")
[ "$CRL_NOW" -gt "$CRL_BEFORE" ] && ok "new CRL number $CRL_NOW > $CRL_BEFORE (the last before the disaster)" ||
    fail "CRL number $CRL_NOW not above $CRL_BEFORE"
check_eq "report names that CRL" "$(json "$T/r1.json" 'd["crl_number"]')" "$CRL_NOW"
[ "$(crlnum "$H/crl/delta.crl")" -gt "$CRL_NOW" ] && ok "and a delta CRL above it" || fail "no delta CRL after recovery"
openssl crl -inform DER -in "$H/crl/ca.crl" -noout -text >"$T/crl.txt"
python3 - "$T/crl.txt" >"$T/crl.entries" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
for sn, rest in re.findall(r"Serial Number: ([0-9A-F]+)\n(.*?)(?=\n    Serial Number:|\n    Signature Algorithm)", t, re.S):
    m = re.search(r"CRL Reason Code: *\n *(.+)", rest)
    print(sn, m.group(1).strip() if m else "-")
EOF
sort "$T/crl.entries" >"$T/crl.got"
printf '%s\n' "$S_s1 Key Compromise" "$S_c1 Superseded" "$S_m1 Cessation Of Operation" \
    "$S_m2 Cessation Of Operation" "$S_c2 Certificate Hold" "$PRE1 Affiliation Changed" | sort >"$T/crl.want"
check "openssl crl: exactly the 6 revoked serials with their reasons" cmp -s "$T/crl.got" "$T/crl.want"
cm "$H" ca-cert >"$T/root.pem"
openssl crl -inform DER -in "$H/crl/ca.crl" -out "$T/crl.pem"
check "openssl: the CRL's signature verifies with the CA" openssl crl -in "$T/crl.pem" -CAfile "$T/root.pem" -noout
vfy() { openssl verify -crl_check -CAfile "$T/root.pem" -CRLfile "${2:-$T/crl.pem}" -purpose any "$1" 2>&1; }
check_match "openssl verify -crl_check: revoked s1 fails" "$(vfy "$T/post/s1.pem")" "certificate revoked"
check_match "openssl verify -crl_check: m2 fails" "$(vfy "$T/post/m2.pem")" "certificate revoked"
check_match "openssl verify -crl_check: s3 is good" "$(vfy "$T/post/s3.pem")" ": OK$"
check_match "openssl verify -crl_check: s2 (hold released) is good" "$(vfy "$T/post/s2.pem")" ": OK$"

# New IDs do not collide with the trail.
make_csr ec:p256 "$T/csr/new.csr" "$T/csr/new.key" "/CN=after.example.org" "DNS:after.example.org"
NEWREQ=$(cm "$H" submit --profile tls-server --out "$T/new.pem" "$T/csr/new.csr" | cut -f1)
[ "$NEWREQ" -gt "$REQ_BEFORE" ] && ok "RequestID after recovery ($NEWREQ) > every RequestID of the trail ($REQ_BEFORE)" ||
    fail "RequestID $NEWREQ collides with the trail (max $REQ_BEFORE)"
NEWEV=$(last_event "$H")
[ "$NEWEV" -gt "$LAST_EVENT" ] && ok "event IDs after recovery go above the trail's $LAST_EVENT" || fail "event ID $NEWEV"
check "every event up to $NEWEV mailed, recovery's included" wait_events "$M/Maildir" "$NEWEV"
NEWSN=$(serial_of "$T/new.pem")
newmail=$(grep -l "^X-Certmint-Serial: $NEWSN" "$M"/Maildir/new/* | head -n 1)
NEWID=$(grep -m1 '^Message-ID:' "$newmail")
check_match "the new certificate's mail has a Message-ID" "$NEWID" "certmint\.[0-9a-f]{16}\.[0-9]+@"
grep -qxF "$NEWID" "$T/msgids-before" && fail "Message-ID $NEWID was used before the disaster" ||
    ok "its Message-ID is new"
grep -h '^Message-ID:' "$M"/Maildir/new/* | sort | uniq -d >"$T/dupids"
check_eq "no two delivered mails share a Message-ID" "$(wc -l <"$T/dupids")" 0

# A second run finds nothing to do; the database does not change.
view_of "$H" >"$T/view-2a.csv"
cm "$H" recover-orphans --maildir "$M/Maildir" --format json >"$T/r2.json" 2>"$T/r2.err"
check_eq "second run: exit status 0" "$?" 0
check_eq "second run: zeros" \
    "$(json "$T/r2.json" '[d[k] for k in ("imported","placeholders","revocations_applied","releases_applied","revoked_now","crl_number","rejected_total")]')" \
    "[0, 0, 0, 0, 0, 0, 0]"
check_match "second run: every certificate event already known" "$(json "$T/r2.json" 'd["already_known"]')" "^[1-9][0-9]+$"
view_of "$H" >"$T/view-2b.csv"
check "second run: view output identical" cmp -s "$T/view-2a.csv" "$T/view-2b.csv"
check "the recovered CA can be backed up and verified" sh -c "
    '$CM' --home '$H' --passphrase-file '$PASS' backup '$T/bk2' >/dev/null &&
    '$CM' backup --verify '$T/bk2' >/dev/null"

# --- --revoke keyCompromise on another restored copy ---------------------------
H2="$T/ca2"
check "restore a second copy" cm "$H" restore "$T/bk" --home "$H2"
cm "$H2" config set exit.modules "" >/dev/null # its mails must not join the trail
cm "$H2" recover-orphans --maildir "$T/trail" --revoke keyCompromise --format json >"$T/r3.json" 2>&1
check_eq "--revoke: 12 imported, 8 revoked now (the trail's 4 revocations keep their reason)" \
    "$(json "$T/r3.json" 'd["imported"], d["revoked_now"]')" "(12, 8)"
openssl crl -inform DER -in "$H2/crl/ca.crl" -noout -text >"$T/crl2.txt"
python3 - "$T/crl2.txt" >"$T/crl2.entries" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
for sn, rest in re.findall(r"Serial Number: ([0-9A-F]+)\n(.*?)(?=\n    Serial Number:|\n    Signature Algorithm)", t, re.S):
    m = re.search(r"CRL Reason Code: *\n *(.+)", rest)
    print(sn, m.group(1).strip() if m else "-")
EOF
want=""
for n in $ORPHANS; do
    eval "sn=\$S_$n"
    case $n in
    s1) r="Key Compromise" ;; c1) r="Superseded" ;; m1 | m2) r="Cessation Of Operation" ;; *) r="Key Compromise" ;;
    esac
    want="$want$sn $r
"
done
printf '%s%s\n' "$want" "$PRE1 Affiliation Changed" | grep . | sort >"$T/crl2.want"
sort "$T/crl2.entries" >"$T/crl2.got"
check "--revoke: the CRL lists all 12 recovered (and pre1), the trail's reasons kept" cmp -s "$T/crl2.got" "$T/crl2.want"
openssl crl -inform DER -in "$H2/crl/ca.crl" -out "$T/crl2.pem"
check_match "--revoke: s3 now fails openssl verify -crl_check" "$(vfy "$T/post/s3.pem" "$T/crl2.pem")" "certificate revoked"

# --- a second CA through the same MTA (foreign mails) ---------------------------
HB="$T/other"
cm "$HB" init --subject "/CN=Other CA/O=certmint tests" --key ec:p256 >/dev/null && smtp_setup "$HB" ||
    fail "second CA"
make_csr ec:p256 "$T/csr/b1.csr" "$T/csr/b1.key" "/CN=b1.example.org" "DNS:b1.example.org"
make_csr ec:p256 "$T/csr/b2.csr" "$T/csr/b2.key" "/CN=b2.example.org" "DNS:b2.example.org"
cm "$HB" submit --profile tls-server --out "$T/b1.pem" "$T/csr/b1.csr" >/dev/null
cm "$HB" submit --profile tls-server --out "$T/b2.pem" "$T/csr/b2.csr" >/dev/null
KEYID_B=$(cm "$HB" ca-cert | openssl x509 -noout -ext subjectKeyIdentifier | sed -n 's/^ *//; s/://g; 2p' | tr A-F a-f)
tries=0
while [ "$(grep -l "^X-Certmint-CA-Key-ID: $KEYID_B" "$M"/Maildir/new/* 2>/dev/null | wc -l)" -lt 2 ] && [ $tries -lt 100 ]; do
    sleep 0.1; tries=$((tries + 1))
done
grep -l "^X-Certmint-CA-Key-ID: $KEYID_B" "$M"/Maildir/new/* >"$T/foreign.list"
check_eq "2 mails of the other CA in the Maildir" "$(wc -l <"$T/foreign.list")" 2

# --- the mbox case -------------------------------------------------------------------
# Crafted mails: forged (a certificate signed by another key under this CA's
# name; one with a new serial, one claiming s3's serial, listed first with a
# lower event ID), an implausible event ID, an AD CS-style text mail for a
# serial the database lacks, a non-certmint mail, an invoice with a
# "Serial:" line. Truncated: a real mail cut inside its attachment.
KEYID=$(openssl x509 -in "$T/root.pem" -noout -ext subjectKeyIdentifier | sed -n 's/^ *//; s/://g; 2p' | tr A-F a-f)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/evil.key" \
    -subj "/CN=Test Root ec:p256/O=certmint tests" -days 30 -out "$T/evil-ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/victim.key" \
    -subj "/CN=forged.example.org" -out "$T/forged.csr" 2>/dev/null
openssl x509 -req -in "$T/forged.csr" -CA "$T/evil-ca.pem" -CAkey "$T/evil.key" -days 30 \
    -set_serial 0x7A11CE0000000000000000000000F0F0 -outform DER -out "$T/forged-new.der" 2>/dev/null
openssl x509 -req -in "$T/forged.csr" -CA "$T/evil-ca.pem" -CAkey "$T/evil.key" -days 30 \
    -set_serial "0x$S_s3" -outform DER -out "$T/forged-s3.der" 2>/dev/null
check_eq "the forged certificates carry this CA's issuer name" \
    "$(openssl x509 -inform DER -in "$T/forged-s3.der" -noout -issuer)" "$(openssl x509 -in "$T/root.pem" -noout -subject | sed 's/^subject/issuer/')"
check_fails "openssl: the forged certificate does not verify with the CA" \
    openssl verify -CAfile "$T/root.pem" "$T/forged-s3.der"
FORGED_NEW=7A11CE0000000000000000000000F0F0
python3 - "$T/crafted" "$KEYID" "$T/forged-new.der" "$T/forged-s3.der" "$S_s3" <<'EOF'
import os, sys
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.mime.application import MIMEApplication
from email.utils import formatdate
out, keyid, fnew, fs3, s3 = sys.argv[1:6]
os.makedirs(out, exist_ok=True)
def certmint(name, evid, serial, der, reqid):
    m = MIMEMultipart("mixed")
    m["From"] = "ca@example.org"; m["To"] = "pki-audit@example.org"
    m["Subject"] = "[Test Root] Certificate issued: forged (request %d)" % reqid
    m["Date"] = formatdate(usegmt=True)
    m["Message-ID"] = "<certmint.%s.%d@forger.example>" % (keyid[:16], evid)
    m["X-Certmint-CA-Key-ID"] = keyid
    m["X-Certmint-Event"] = "CERTISSUED"; m["X-Certmint-Event-ID"] = str(evid)
    m["X-Certmint-Request-ID"] = str(reqid); m["X-Certmint-Serial"] = serial
    m["X-Certmint-Event-Count"] = "1"
    m.attach(MIMEText("Certificate issued\n\nSerial Number: %s\n" % serial))
    ev = ("X-Certmint-Event: CERTISSUED\nX-Certmint-Event-ID: %d\nX-Certmint-When: 2026-01-01T00:00:00Z\n"
          "X-Certmint-Request-ID: %d\nX-Certmint-Serial: %s\nX-Certmint-Subject: CN=forged.example.org\n"
          "X-Certmint-Profile: tls-server\n" % (evid, reqid, serial))
    if der:
        ev += "X-Certmint-Attachment: %s.cer\n" % serial
    p = MIMEText(ev, "x-certmint-events", "us-ascii")
    p.add_header("Content-Disposition", "inline", filename="events.txt")
    m.attach(p)
    if der:
        a = MIMEApplication(open(der, "rb").read(), "pkix-cert")
        a.add_header("Content-Disposition", "attachment", filename="%s.cer" % serial)
        m.attach(a)
    open(os.path.join(out, name), "wb").write(m.as_bytes())
certmint("0-forged-s3.eml", 1, s3, fs3, 5)
certmint("1-forged-new.eml", 3, "7A11CE0000000000000000000000F0F0", fnew, 6)
certmint("2-implausible.eml", 9007199254740993, "7A11CE0000000000000000000000F0F1", None, 7)
t = MIMEText("Your certificate was issued.\n\nRequest ID: 4711\nSerial Number: 61 1a 00 00 00 00 00 00 00 2a\n"
             "Subject: CN=legacy.example.org, O=Example\nCertificate Template: WebServer\n"
             "Expiration Date: 11/22/2027 9:40 PM\n")
t["Subject"] = "Certificate Issued"; t["From"] = "adcs@example.org"; t["Date"] = formatdate(usegmt=True)
open(os.path.join(out, "3-adcs.eml"), "wb").write(t.as_bytes())
t = MIMEText("Hello,\nlunch at noon?\n"); t["Subject"] = "lunch"; t["From"] = "bob@example.org"
open(os.path.join(out, "4-chat.eml"), "wb").write(t.as_bytes())
t = MIMEText("Invoice 17\nSerial: 1234\nFrom our shop\n"); t["Subject"] = "Your invoice"; t["From"] = "shop@example.org"
open(os.path.join(out, "5-invoice.eml"), "wb").write(t.as_bytes())
EOF
# A real mail, cut inside its certificate attachment (c4's; c4's own mail stays).
c4mail=$(grep -l "^X-Certmint-Serial: $S_c4" "$T"/trail/new/* | head -n 1)
head -c "$(($(wc -c <"$c4mail") - 300))" "$c4mail" >"$T/crafted/6-truncated.eml"
python3 - "$T/trail.mbox" "$T/crafted" "$T/trail" "$T/foreign.list" <<'EOF'
import mailbox, os, sys
mb = mailbox.mbox(sys.argv[1], create=True)
crafted = sorted(os.listdir(sys.argv[2]))
def add(path):
    mb.add(mailbox.mboxMessage(open(path, "rb").read()))
for f in crafted[:3]:                                  # forged and implausible first
    add(os.path.join(sys.argv[2], f))
for sub in ("cur", "new"):
    d = os.path.join(sys.argv[3], sub)
    for f in sorted(os.listdir(d)):
        add(os.path.join(d, f))
for f in crafted[3:]:
    add(os.path.join(sys.argv[2], f))
for line in open(sys.argv[4]):
    add(line.strip())
mb.flush()
EOF
NMB=$(python3 -c 'import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))' "$T/trail.mbox")
H3="$T/ca3"
cm "$H" restore "$T/bk" --home "$H3" >/dev/null
cm "$H3" config set exit.modules "" >/dev/null
cm "$H3" recover-orphans --mbox "$T/trail.mbox" --format json >"$T/r4.json" 2>"$T/r4.err"
check_eq "mbox: exit status 3 (some mails rejected)" "$?" 3
check_eq "mbox: every message read" "$(json "$T/r4.json" 'd["messages"]')" "$NMB"
check_eq "mbox: 12 imported, 1 placeholder (the AD CS-style mail), 2 foreign" \
    "$(json "$T/r4.json" 'd["imported"], d["placeholders"], d["foreign_messages"]')" "(12, 1, 2)"
rej=$(json "$T/r4.json" '"\n".join("%s|%s|%s" % (r["source"], r["serial"], r["reason"]) for r in d["rejected"])')
printf '%s\n' "$rej" >"$T/rejected.txt"
check_match "rejected: the forged mail with a new serial (signature)" "$rej" "#2[|]$FORGED_NEW[|].*signature does not verify"
check_match "rejected: the forged mail claiming s3's serial" "$rej" "#1[|]$S_s3[|].*signature does not verify"
check_match "rejected: the implausible event ID" "$rej" "#3[|].*implausibly large"
check_eq "rejected: both foreign mails, with the reason" "$(grep -c "|None|foreign: X-Certmint-CA-Key-ID $KEYID_B is not this CA" "$T/rejected.txt")" 2
check_eq "rejected: nothing else" "$(grep -c . "$T/rejected.txt")" 5
warn=$(json "$T/r4.json" '"\n".join(w["source"] + ": " + w["reason"] for w in d["warnings"])')
check_match "warning: the truncated mail, named by file and number" "$warn" "^mbox:$T/trail.mbox#[0-9]+: "
check_eq "mbox: only the truncated mail is malformed" "$(json "$T/r4.json" 'd["malformed"]')" 1
check_eq "nothing forged imported: the new forged serial is unknown" \
    "$(cm "$H3" view --restrict "SerialNumber=$FORGED_NEW" --out SerialNumber --format csv | tail -n +2 | grep -c .)" 0
cm "$H3" view --restrict "SerialNumber=$S_s3" --out RawCertificate --format csv | tail -n 1 | tr -d '\r' |
    openssl base64 -d -A >"$T/s3-back.der"
check "s3 is the genuine certificate, not the forged one listed before it" cmp -s "$T/s3-back.der" "$T/issued-s3.der"
check_eq "the AD CS-style serial is a placeholder with the mail's subject and RequestID" \
    "$(cm "$H3" view --restrict "SerialNumber=611A000000000000002A" --out RequestID,Origin,CommonName --format csv | tail -n 1 | tr -d '\r')" \
    "4711,placeholder,legacy.example.org"
nid=0
for n in $ORPHANS; do
    eval "sn=\$S_$n"
    cm "$H3" view --restrict "SerialNumber=$sn" --out RawCertificate --format csv | tail -n 1 | tr -d '\r' |
        openssl base64 -d -A | cmp -s - "$T/issued-$n.der" && nid=$((nid + 1))
done
check_eq "mbox: all 12 certificates byte-identical" "$nid" 12
cm "$H3" recover-orphans --mbox "$T/trail.mbox" --format json >"$T/r5.json" 2>/dev/null
check_eq "mbox, second run: nothing to do (the rejections stay listed)" \
    "$(json "$T/r5.json" 'd["imported"], d["placeholders"], d["revocations_applied"], d["rejected_total"]')" "(0, 0, 0, 5)"
cm "$H3" recover-orphans --mbox "$T/trail.mbox" >"$T/r5.table" 2>"$T/r5.err"
check_eq "table format: exit status 3 too" "$?" 3
check_match "table format: the rejections counted and listed" "$(cat "$T/r5.table")" "rejected mails +5"
check_match "table format: the warning on stderr names the message" "$(cat "$T/r5.err")" "^certmint: warning: mbox:$T/trail.mbox#[0-9]+: "

# --workers: the threads that decode and check the attached certificates do
# not change the result. Two more restored copies over the same mbox, one
# worker and five: the same JSON report, and the same database (every
# column) as each other and as the run above (one worker per processor).
view_of "$H3" >"$T/view-w0.csv"
for w in 1 5; do
    Hw="$T/ca-w$w"
    cm "$H" restore "$T/bk" --home "$Hw" >/dev/null
    cm "$Hw" config set exit.modules "" >/dev/null
    cm "$Hw" recover-orphans --mbox "$T/trail.mbox" --workers "$w" --format json >"$T/rw$w.json" 2>/dev/null
    check_eq "--workers $w: exit status 3" "$?" 3
    view_of "$Hw" >"$T/view-w$w.csv"
done
check "--workers 1 and 5: the same JSON report" cmp "$T/rw1.json" "$T/rw5.json"
check "--workers 1 and 5: the same report as the default" cmp "$T/rw1.json" "$T/r4.json"
check "--workers 1 and 5: the same database" cmp "$T/view-w1.csv" "$T/view-w5.csv"
check "--workers 1: the same database as the default" cmp "$T/view-w1.csv" "$T/view-w0.csv"
# The lists a long trail spools to disk in sorted runs (8,192 records each)
# and merges: runs of 2 records here, so that this trail takes that path.
Hs="$T/ca-spool"
cm "$H" restore "$T/bk" --home "$Hs" >/dev/null
cm "$Hs" config set exit.modules "" >/dev/null
(CERTMINT_SPOOL_RUN=2 && export CERTMINT_SPOOL_RUN && "$CM" -v --home "$Hs" --passphrase-file "$PASS" recover-orphans --mbox "$T/trail.mbox" --workers 3 --format json >"$T/rws.json" 2>"$T/rws.err")
check_eq "spooled in runs of 2: exit status 3" "$?" 3
check_match "spooled in runs of 2: the orphans went to disk in runs and were merged" \
    "$(cat "$T/rws.err")" "orphan records, ([2-9]|[1-9][0-9]+) runs of them sorted on disk"
check "spooled in runs of 2: the same JSON report" cmp "$T/rw1.json" "$T/rws.json"
view_of "$Hs" >"$T/view-ws.csv"
check "spooled in runs of 2: the same database (every column)" cmp "$T/view-w1.csv" "$T/view-ws.csv"
check_fails "--workers 0 is refused" cm "$H3" recover-orphans --mbox "$T/trail.mbox" --workers 0

# A trail of CRLISSUED mails and c1's revocation mail only: c1 is known only
# by its serial (a placeholder, with the RequestID the revocation mail
# gives, revoked), and the new CRL goes above the trail's.
c1rev=$(grep -l "^X-Certmint-Event: CERTREVOKED" "$T"/trail/new/* | xargs grep -l "^X-Certmint-Serial: $S_c1" | head -n 1)
C1REQ=$(sed -n 's/^X-Certmint-Request-ID: //p' "$c1rev" | head -n 1 | tr -d '\r')
check_eq "revocation mails carry the certificate's RequestID" "$C1REQ" "$(sed -n 's/^\([0-9]*\)\t.*/\1/p' "$T/sub-c.out" | head -n 1)"
python3 - "$T/crl-only.mbox" "$T/trail" "$c1rev" <<'EOF'
import email, mailbox, os, sys
mb = mailbox.mbox(sys.argv[1], create=True)
d = os.path.join(sys.argv[2], "new")
for f in sorted(os.listdir(d)):
    raw = open(os.path.join(d, f), "rb").read()
    if email.message_from_bytes(raw).get("X-Certmint-Event") == "CRLISSUED":
        mb.add(mailbox.mboxMessage(raw))
mb.add(mailbox.mboxMessage(open(sys.argv[3], "rb").read()))
mb.flush()
EOF
H4="$T/ca4"
cm "$H" restore "$T/bk" --home "$H4" >/dev/null
cm "$H4" config set exit.modules "" >/dev/null
cm "$H4" recover-orphans --mbox "$T/crl-only.mbox" --format json >"$T/r6.json" 2>&1
check_eq "CRLISSUED + one revocation: 1 placeholder, revoked, a CRL above the trail's" \
    "$(json "$T/r6.json" 'd["imported"], d["placeholders"], d["revocations_applied"], d["crl_number"] > '"$CRL_BEFORE")" "(0, 1, 1, True)"
check_eq "the placeholder has c1's RequestID and reason" \
    "$(cm "$H4" view --restrict "SerialNumber=$S_c1" --out RequestID,Origin,RevokedReason --format csv | tail -n 1 | tr -d '\r')" \
    "$C1REQ,placeholder,superseded"
check_eq "and the file on disk is that CRL" "$(crlnum "$H4/crl/ca.crl")" "$(json "$T/r6.json" 'd["crl_number"]')"

# The whole trail later: the placeholder is filled with c1's real certificate
# (byte-identical), its revocation kept; the other orphans come back too.
cm "$H4" recover-orphans --maildir "$T/trail" --format json >"$T/r7.json" 2>&1
check_eq "full trail after a placeholder: 12 imported (c1 filled), no new placeholder" \
    "$(json "$T/r7.json" 'd["imported"], d["placeholders"]')" "(12, 0)"
check_eq "c1 is now the real certificate, still superseded" \
    "$(cm "$H4" view --restrict "SerialNumber=$S_c1" --out RequestID,Origin,RevokedReason --format csv | tail -n 1 | tr -d '\r')" \
    "$C1REQ,imported,superseded"
cm "$H4" view --restrict "SerialNumber=$S_c1" --out RawCertificate --format csv | tail -n 1 | tr -d '\r"' |
    base64 -d >"$T/c1.back.der" 2>/dev/null
check "c1's stored certificate is byte-identical to the issued one" cmp "$T/c1.back.der" "$T/issued-c1.der"

done_testing
