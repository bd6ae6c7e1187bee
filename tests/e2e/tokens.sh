#!/bin/sh
# End to end: one-time enrollment tokens mailed through a real Postfix
# (scripts/mta.sh), read back from the Maildir with Python's email package,
# redeemed with submit --token-file; the certificate checked with openssl.
# Also: the token value is in no other mail and not in the database; a token
# is used once; revoked, expired, wrong and locked tokens are refused.
. "$(dirname "$0")/lib.sh"

MTA="$TOP/scripts/mta.sh"
if [ "$(id -u)" -ne 0 ]; then
    fail "a private Postfix instance needs root"
    done_testing
fi
for b in postfix dovecot python3 openssl; do
    command -v "$b" >/dev/null 2>&1 || PATH=/usr/sbin:/sbin:$PATH
done
chmod 711 "$T"
M="$T/mta"
MD="$M/Maildir"
PORT=$(free_port)
at_exit "sh '$MTA' stop '$M' >/dev/null 2>&1"
if ! sh "$MTA" start "$M" "$PORT" >"$T/mta.out" 2>&1; then
    fail "mta.sh start: $(tr '\n' ' ' <"$T/mta.out")"
    done_testing
fi
settle() {
    i=0
    while [ "$(postqueue -c "$M/etc" -p 2>/dev/null | tail -n 1)" != "Mail queue is empty" ]; do
        i=$((i + 1))
        [ $i -le 300 ] || return 1
        sleep 0.1
    done
}
# token_of ADDR OUT: the token in the newest mail to ADDR, decoded.
token_of() {
    settle
    python3 - "$MD" "$1" "$2" <<'PY'
import email, email.policy, os, re, sys
md, rcpt, out = sys.argv[1:4]
best = None
for sub in ("new", "cur"):
    d = os.path.join(md, sub)
    for f in os.listdir(d) if os.path.isdir(d) else []:
        p = os.path.join(d, f)
        m = email.message_from_binary_file(open(p, "rb"), policy=email.policy.default)
        if rcpt in (m.get("To") or ""):
            body = m.get_body(("plain",)).get_content()
            if best is None or os.path.getmtime(p) >= best[0]:
                best = (os.path.getmtime(p), body, m.get("Subject"))
if best is None:
    sys.exit("no mail to " + rcpt)
t = re.search(r"cmt1\.[0-9a-f]{16}\.[0-9a-f]{64}", best[1])
if not t:
    sys.exit("no token in the mail")
open(out, "w").write(t.group(0) + "\n")
print(best[2])
PY
}

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" ca-cert >"$T/root.pem"
cfg() { cm "$H" config set "$1" "$2" >"$T/cfg.out" 2>&1 || fail "config set $1 $2: $(cat "$T/cfg.out")"; }
cfg exit.modules smtp
cfg exit.smtp.server 127.0.0.1
cfg exit.smtp.port "$PORT"
cfg exit.smtp.tls starttls
cfg exit.smtp.cafile "$M/tls/ca.pem"
cfg exit.smtp.auth plain
cfg exit.smtp.username "$(cat "$M/smtp-user")"
cfg exit.smtp.password_file "$M/smtp-password"
cfg exit.smtp.from "Token CA <ca@example.org>"
cfg exit.smtp.to "audit@example.org"

id1=$(cm "$H" token issue --email alice@example.org --profile smime --ttl 2h)
check_match "token issue prints the token ID" "$id1" "^[0-9a-f]{16}$"
subj=$(token_of alice@example.org "$T/alice.tok")
check_match "the token mail reached alice's mailbox" "$subj" "enrollment token"
chmod 600 "$T/alice.tok"
tok=$(cat "$T/alice.tok")
check_match "the mailed token names the ID" "$tok" "^cmt1\\.$id1\\."
secret=${tok##*.}
check_fails "the token value is in no mail to the audit address" sh -c \
    "grep -rl '$secret' '$MD' | xargs -r grep -l 'To: audit@example.org' | grep -q ."
if [ "$TESTDB" = sqlite ]; then
    check_fails "the database does not hold the token value" sh -c \
        "sqlite3 '$H/certmint.db' .dump | grep -qi '$secret'"
fi
check_fails "token list never shows the value" sh -c "cm '$H' token list --format json | grep -q '$secret'"
check_match "token list: open" "$(cm "$H" token list)" "$id1	open	alice@example.org	smime"

# The CSR asks for another name; the binding wins.
make_csr ec:p256 "$T/a.csr" "$T/a.key" "/CN=Mallory" "email:mallory@example.org"
out=$(cm "$H" submit --token-file "$T/alice.tok" --out "$T/a.pem" "$T/a.csr")
check_match "redeemed: issued at once" "$out" "issued"
check "the certificate verifies" openssl verify -CAfile "$T/root.pem" "$T/a.pem"
check_match "subject forced to the binding" "$(openssl x509 -in "$T/a.pem" -noout -subject)" "CN ?= ?alice@example.org"
sans=$(openssl x509 -in "$T/a.pem" -noout -ext subjectAltName | tail -n 1)
check_match "SANs forced to the binding" "$sans" "^ *email:alice@example.org$"
check_match "requester is the token" "$(cm "$H" view --out RequesterName | tail -n 1)" "token:$id1"
check_fails "a token is used once" cm "$H" submit --token-file "$T/alice.tok" "$T/a.csr"
check_match "... refused as used" "$(cm "$H" submit --token-file "$T/alice.tok" "$T/a.csr" 2>&1)" "used already"

# Wrong secret for an existing ID, five times: the token is locked.
id2=$(cm "$H" token issue --email bob@example.org --profile smime --subject "CN=Bob,O=Example" --san "email:bob@example.org")
token_of bob@example.org "$T/bob.tok" >/dev/null
chmod 600 "$T/bob.tok"
printf 'cmt1.%s.%064d\n' "$id2" 0 >"$T/wrong.tok"
chmod 600 "$T/wrong.tok"
for i in 1 2 3 4 5; do cm "$H" submit --token-file "$T/wrong.tok" "$T/a.csr" >/dev/null 2>&1; done
check_match "a wrong token is refused" "$(cm "$H" submit --token-file "$T/wrong.tok" "$T/a.csr" 2>&1)" "locked|wrong token"
check_match "after 5 failures the right token is locked too" \
    "$(cm "$H" submit --token-file "$T/bob.tok" "$T/a.csr" 2>&1)" "locked after 5"

# A token redeemed with a key the CA generates (submit --generate-key): the
# binding's subject and SANs, the key handed out as PKCS#12.
idg=$(cm "$H" token issue --email erin@example.org --profile smime --subject "CN=Erin,O=Example")
token_of erin@example.org "$T/erin.tok" >/dev/null
chmod 600 "$T/erin.tok"
printf 'erin-p12-%s\n' "$$" >"$T/erin.pw"
chmod 600 "$T/erin.pw"
out=$(cm "$H" submit --generate-key --key ec:p256 --token-file "$T/erin.tok" \
    --p12-out "$T/erin.p12" --password-file "$T/erin.pw" --out "$T/erin.pem")
check_match "generate-key with a token: issued" "$out" "issued"
check_match "... with the binding's subject" "$(openssl x509 -in "$T/erin.pem" -noout -subject)" "CN ?= ?Erin"
check_match "... requester is the token" "$(cm "$H" view --out RequesterName | tail -n 1)" "token:$idg"
check_eq "... the PKCS#12's key is the certificate's" \
    "$(openssl pkcs12 -in "$T/erin.p12" -passin "file:$T/erin.pw" -nodes -nocerts 2>/dev/null | openssl pkey -pubout 2>/dev/null)" \
    "$(openssl x509 -in "$T/erin.pem" -noout -pubkey)"

# Revoked.
id3=$(cm "$H" token issue --email carol@example.org --profile smime)
token_of carol@example.org "$T/carol.tok" >/dev/null
chmod 600 "$T/carol.tok"
check "token revoke" cm "$H" token revoke "$id3"
check_match "a revoked token is refused" "$(cm "$H" submit --token-file "$T/carol.tok" "$T/a.csr" 2>&1)" "revoked"
check_fails "revoking twice is refused" cm "$H" token revoke "$id3"

# Expired: a 1 second token, after 2 seconds.
cm "$H" token issue --email dave@example.org --profile smime --ttl 1s >/dev/null
token_of dave@example.org "$T/dave.tok" >/dev/null
chmod 600 "$T/dave.tok"
sleep 2
check_match "an expired token is refused" "$(cm "$H" submit --token-file "$T/dave.tok" "$T/a.csr" 2>&1)" "expired"
check_match "token list shows it expired" "$(cm "$H" token list)" "expired	dave@example.org"

# Bad input: no change to the database.
check_fails "token issue with a bad address" cm "$H" token issue --email not-an-address --profile smime
check_fails "token issue with an unknown profile" cm "$H" token issue --email x@example.org --profile nope
check_fails "token issue with a bad SAN list" cm "$H" token issue --email x@example.org --profile smime --san "bogus"
printf 'garbage\n' >"$T/garbage.tok"
chmod 600 "$T/garbage.tok"
check_match "a malformed token file is refused" "$(cm "$H" submit --token-file "$T/garbage.tok" "$T/a.csr" 2>&1)" "not a certmint enrollment token"
n=$(cm "$H" audit | grep -c 'token-issue')
check_eq "audit: one token-issue record per token" "$n" 5
check_match "audit: redeem and revoke recorded" "$(cm "$H" audit)" "token-redeem"

done_testing
