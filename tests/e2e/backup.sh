#!/bin/sh
# Backup and restore: an online snapshot while certmint serve runs, verify,
# restore into a new home, refusal to overwrite, damage detection, and nothing
# going backwards after a restore.
. "$(dirname "$0")/lib.sh"

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" config set crl.period 1h >/dev/null
for i in 1 2 3; do
    make_csr ec:p256 "$T/c$i.csr" "$T/c$i.key" "/CN=c$i.example.org" "DNS:c$i.example.org"
done
cm "$H" submit --profile tls-server "$T/c1.csr" "$T/c2.csr" >/dev/null
cm "$H" crl >/dev/null

# The service runs while the backup is taken.
"$CM" --home "$H" --passphrase-file "$PASS" serve >"$T/serve.log" 2>&1 &
spid=$!
at_exit "kill $spid 2>/dev/null"
sleep 1
check "backup while serve runs" cm "$H" backup "$T/bk"
check "MANIFEST lists the database with its SHA-256" grep -q "^sha256 [0-9a-f]\{64\} certmint.db$" "$T/bk/MANIFEST"
if [ "$KEYSTORE" = softhsm ]; then
    # The key stays in the token: the backup holds its URI, no key file.
    check_eq "a token key: the URI is backed up" "$(cat "$T/bk/private/ca.key.uri")" "$(cat "$H/private/ca.key.uri")"
    check_eq "the URI keeps mode 0600" "$(stat -c %a "$T/bk/private/ca.key.uri")" 600
    check_fails "no key file in the backup" test -e "$T/bk/private/ca.key"
else
    check "the key is backed up encrypted" grep -q "BEGIN ENCRYPTED PRIVATE KEY" "$T/bk/private/ca.key"
    check_eq "the key keeps mode 0600" "$(stat -c %a "$T/bk/private/ca.key")" 600
fi
(cd "$T/bk" && find . -type f | sort | xargs sha256sum) >"$T/bk.sums"
check "backup --verify" cm "$H" backup --verify "$T/bk"
check "  ... changes no byte of the backup (and adds no file)" \
    sh -c 'cd "$1" && find . -type f | sort | xargs sha256sum | cmp -s - "$2"' sh "$T/bk" "$T/bk.sums"
check_fails "backup refuses a non-empty directory" cm "$H" backup "$T/bk"
kill "$spid"; wait "$spid" 2>/dev/null
check_match "serve logged its stop" "$(cat "$T/serve.log")" "stopped"

# Issue more after the backup, publish another CRL.
cm "$H" submit --profile tls-server "$T/c3.csr" >/dev/null
cm "$H" crl >/dev/null
before=$(openssl crl -inform DER -in "$H/crl/ca.crl" -noout -crlnumber | sed 's/.*=//')

# Restore into a new home.
check "restore into a new home" cm "$H" restore "$T/bk" --home "$T/restored"
check_fails "restore refuses an existing CA home" cm "$H" restore "$T/bk" --home "$T/restored"
# The core's restore records itself in the restored database: the last
# record, by the operator, naming the backup; the backed-up log before it.
check_eq "audit: the restore is the restored home's last record" \
    "$(cm "$T/restored" audit --format json | python3 -c 'import json,sys; r=json.load(sys.stdin)["records"]; print(r[-1]["who"], r[-1]["action"], r[-1]["details"], r[0]["action"])' 2>&1)" \
    "$(id -un) restore $T/bk init"
check_eq "audit: the refused restore recorded nothing" \
    "$(cm "$T/restored" audit --format json | python3 -c 'import json,sys; print(sum(r["action"] == "restore" for r in json.load(sys.stdin)["records"]))' 2>&1)" "1"
check_eq "restored database has the backed-up requests" \
    "$(cm "$T/restored" view --out RequestID --format csv | tail -n +2 | tr -d '\r' | tr '\n' ' ')" "1 2 "
make_csr ec:p256 "$T/c4.csr" "$T/c4.key" "/CN=c4.example.org" "DNS:c4.example.org"
check "the restored CA issues" cm "$T/restored" submit --profile tls-server --out "$T/c4.pem" "$T/c4.csr"
cm "$T/restored" ca-cert >"$T/root.pem"
check "certificate from the restored CA verifies" openssl verify -CAfile "$T/root.pem" "$T/c4.pem"

# CRL files still at hand push the CRL number past the disaster.
check "restore --force with the CRL still at hand" cm "$H" restore "$T/bk" --home "$T/restored" --force --crl "$H/crl/ca.crl"
check "the replaced home was moved aside" sh -c "ls -d '$T'/restored.replaced.* >/dev/null"
cm "$T/restored" crl >/dev/null
after=$(openssl crl -inform DER -in "$T/restored/crl/ca.crl" -noout -crlnumber | sed 's/.*=//')
[ $((after)) -gt $((before)) ] && ok "CRL number after restore ($after) exceeds the last before ($before)" ||
    fail "CRL number went backwards: $before -> $after"

# A home given with a trailing slash is the same home (the sibling paths
# HOME.restoring.PID and HOME.replaced.TIME must not land inside it).
check "restore into 'NEW/' (trailing slash)" cm "$H" restore "$T/bk" --home "$T/slash/"
check "restore --force into 'NEW//' moves the old one aside" cm "$H" restore "$T/bk" --home "$T/slash//" --force
check_eq "one restored home and one moved aside, nothing inside" \
    "$(ls -d "$T"/slash* | wc -l) $(ls -A "$T/slash" | grep -c 'restoring\|replaced')" "2 0"
check "the restored home opens" cm "$T/slash" view

# Damage is detected.
cp -r "$T/bk" "$T/bk-damaged"
printf 'x' >>"$T/bk-damaged/ca.crt"
check_fails "verify detects a damaged file" cm "$H" backup --verify "$T/bk-damaged"
check_match "and names it" "$(cm "$H" backup --verify "$T/bk-damaged" 2>&1)" "ca.crt: SHA-256 does not match"
check_fails "restore refuses a damaged backup" cm "$H" restore "$T/bk-damaged" --home "$T/r2"
[ ! -e "$T/r2" ] && ok "a refused restore leaves nothing" || fail "a refused restore left $T/r2"
# A damaged database page under a manifest rewritten to match: the
# integrity check finds what the hash cannot.
cp -r "$T/bk" "$T/bk-torn"
# The last page's header is overwritten: the page size is read from the
# database header (offset 16, big-endian; 1 means 65536), since a page's
# tail may be free space that no check reads.
python3 -c 'import os,sys; f=open(sys.argv[1],"r+b"); h=f.read(18); ps=int.from_bytes(h[16:18],"big"); ps=65536 if ps==1 else ps; n=os.path.getsize(sys.argv[1]); f.seek(n-ps); f.write(b"\x5a"*64)' \
    "$T/bk-torn/certmint.db"
sed -i "s/^sha256 [0-9a-f]* certmint.db$/sha256 $(sha256sum "$T/bk-torn/certmint.db" | cut -c1-64) certmint.db/" \
    "$T/bk-torn/MANIFEST"
check_match "verify finds a damaged database page" "$(cm "$H" backup --verify "$T/bk-torn" 2>&1)" \
    "certmint.db: .*(integrity check failed|malformed)"
rm "$T/bk-damaged/MANIFEST"
check_match "a backup without MANIFEST is refused" "$(cm "$H" backup --verify "$T/bk-damaged" 2>&1)" "no MANIFEST"

# A placeholder recorded for a lost serial is filled when the certificate
# itself turns up (import-cert): its revocation stays.
R2="$T/restored-fill"
check "restore for the placeholder case" cm "$H" restore "$T/bk" --home "$R2"
cm "$H" retrieve 3 --out "$T/c3.pem" >/dev/null 2>&1
lost=$(openssl x509 -in "$T/c3.pem" -noout -serial | cut -d= -f2)
check "placeholder for the lost serial" cm "$R2" placeholder "$lost" --subject "/CN=c3.example.org"
check "revoke the placeholder" cm "$R2" revoke "$lost" keyCompromise
check "import-cert fills the placeholder" cm "$R2" import-cert "$T/c3.pem"
row=$(cm "$R2" view --restrict "SerialNumber=$lost" --out Origin,RevokedReason,CommonName --format csv | tail -n 1 | tr -d '\r')
check_eq "now imported, still revoked" "$row" "imported,keyCompromise,c3.example.org"
cm "$R2" view --restrict "SerialNumber=$lost" --out RawCertificate --format csv | tail -n 1 | tr -d '\r"' |
    base64 -d >"$T/c3.back.der" 2>/dev/null
check "the stored certificate is the real one" sh -c "openssl x509 -in '$T/c3.pem' -outform DER | cmp - '$T/c3.back.der'"
check_fails "a second import is refused" cm "$R2" import-cert "$T/c3.pem"

done_testing
