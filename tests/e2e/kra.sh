#!/bin/sh
# End to end: key archival and M-of-N recovery (issue 12,
# docs/key-archival.md). The client envelopes its key with openssl cms; the
# recovered PKCS#12 is read back with openssl pkcs12 and its key compared
# with the original; agents' keys are made with openssl and never given to
# the CA home.
. "$(dirname "$0")/lib.sh"

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" ca-cert >"$T/root.pem"

# Three agents, each with a key of their own (RSA, RSA, EC).
agent() { # name keyspec
    case "$2" in
    rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/$1.key" 2>/dev/null ;;
    ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$1.key" 2>/dev/null ;;
    esac
    openssl req -new -x509 -key "$T/$1.key" -subj "/CN=$1/O=Recovery Agents" -days 30 \
        -addext "keyUsage=keyEncipherment,keyAgreement" -out "$T/$1.crt" 2>/dev/null
}
agent alice rsa
agent bob rsa
agent carol ec
agent mallory rsa

check_fails "archival refused before a transport certificate exists" cm "$H" kra transport-cert
check "transport certificate issued" cm "$H" kra transport-cert --init --out "$T/transport.pem"
check "transport certificate chains to the CA" openssl verify -CAfile "$T/root.pem" "$T/transport.pem"
ku=$(openssl x509 -in "$T/transport.pem" -noout -ext keyUsage 2>/dev/null | tail -n 1 | tr -d ' ')
check_eq "transport certificate: keyEncipherment only" "$ku" "KeyEncipherment"
check_fails "a second --init is refused" cm "$H" kra transport-cert --init
# The transport key lives where the CA key does: an encrypted file, or an
# object of its own in the CA key's token (decrypt only, not extractable).
if [ "$KEYSTORE" = softhsm ]; then
    check_fails "softhsm: no transport key file in the CA home" test -e "$H/private/kra-transport.key"
    check_match "softhsm: the home records the token object's URI" \
        "$(cat "$H/private/kra-transport.key.uri")" "^pkcs11:.*object=ca-[0-9a-f]{16}-kra-transport[;?]"
    tobj=$(sed -n 's/.*object=\([^;?]*\).*/\1/p' "$H/private/kra-transport.key.uri")
    pkcs11-tool --module "$P11_MODULE" --token-label certmint-test --login --pin "$(cat "$P11_PIN")" \
        --list-objects --type privkey >"$T/tk-all.out" 2>&1
    # The block of the object labelled so (pkcs11-tool lists every object).
    awk -v l="$tobj" '/Object;/ { p = 0; h = $0 } $1 == "label:" && $2 == l { p = 1; print h } p' \
        "$T/tk-all.out" >"$T/tk.out"
    check_match "softhsm: the private key object is in the token (pkcs11-tool)" \
        "$(cat "$T/tk.out")" "label: +$tobj"
    check_match "  ... it decrypts and does not sign" "$(grep -i 'usage:' "$T/tk.out")" "decrypt"
    check_fails "  ... (no sign usage)" grep -qi "usage:.*sign" "$T/tk.out"
    check_match "  ... never extractable" "$(grep -i 'access:' "$T/tk.out")" "never extractable"
    check_fails "  ... not extractable" sh -c \
        "grep -i 'access:' '$T/tk.out' | sed 's/never extractable//' | grep -qi extractable"
else
    check "file: the transport key is a file" test -s "$H/private/kra-transport.key"
    check_match "  ... encrypted" "$(head -n 1 "$H/private/kra-transport.key")" "ENCRYPTED PRIVATE KEY"
    check_fails "  ... and no token URI" test -e "$H/private/kra-transport.key.uri"
fi
tserial=$(openssl x509 -in "$T/transport.pem" -noout -serial | cut -d= -f2)
check_match "transport certificate recorded in the database" \
    "$(cm "$H" view --restrict "SerialNumber=$tserial" --out SerialNumber,CertificateTemplate 2>&1)" "kra-transport"

for a in alice bob carol; do check "kra add $a" cm "$H" kra add "$T/$a.crt"; done
check_fails "kra add twice is refused" cm "$H" kra add "$T/alice.crt"
check_fails "kra add of a non-certificate is refused" cm "$H" kra add "$T/alice.key"
n=$(cm "$H" kra list | grep -c active)
check_eq "kra list: three active agents" "$n" 3
check "config set kra.threshold 2" cm "$H" config set kra.threshold 2

# A signing key is never archived.
check_fails "archive_key on a signing profile is refused" cm "$H" config set profile.smime.archive_key optional
check_match "... with the reason" "$(cm "$H" config set profile.smime.archive_key optional 2>&1)" "never archived"

# The user's key pair and request (smime-encrypt: RSA, keyEncipherment).
make_csr rsa:2048 "$T/user.csr" "$T/user.key" "/CN=User One" "email:user@example.org"
openssl pkcs8 -topk8 -nocrypt -in "$T/user.key" -outform DER -out "$T/user.p8"
openssl cms -encrypt -binary -aes-256-gcm -in "$T/user.p8" -outform DER -out "$T/user.p7m" \
    "$T/transport.pem" 2>/dev/null || fail "openssl cms -encrypt"

# Mismatch: another key in the envelope is denied with that reason.
make_csr rsa:2048 "$T/other.csr" "$T/other.key" "/CN=Other" "email:other@example.org"
out=$(cm "$H" submit --profile smime-encrypt --archive-key "$T/user.p7m" "$T/other.csr" 2>&1)
check_match "key not matching the request is denied" "$out" "denied.*does not match the request's public key"
# A signing profile with an envelope: denied.
out=$(cm "$H" submit --profile smime --archive-key "$T/user.p7m" "$T/user.csr" 2>&1)
check_match "archival with a signing profile is denied" "$out" "denied.*does not archive keys"
# Tampered envelope: one byte flipped in the ciphertext.
python3 - "$T/user.p7m" "$T/bad.p7m" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[len(d) - 40] ^= 1
open(sys.argv[2], 'wb').write(bytes(d))
PY
out=$(cm "$H" submit --profile smime-encrypt --archive-key "$T/bad.p7m" "$T/user.csr" 2>&1)
check_match "tampered archive envelope is denied" "$out" "denied.*does not open"
before=$(cm "$H" view --restrict "Disposition=issued" --out SerialNumber | wc -l)

out=$(cm "$H" submit --profile smime-encrypt --archive-key "$T/user.p7m" --out "$T/user.pem" "$T/user.csr")
check_match "archived submission issued" "$out" "issued"
serial=$(echo "$out" | cut -f3)
check "issued certificate verifies" openssl verify -CAfile "$T/root.pem" "$T/user.pem"
check_match "KEYARCHIVED in the audit log" "$(cm "$H" audit 2>&1)" "key-archive.*2 of 3"
if [ "$TESTDB" = sqlite ]; then
    sqlite3 "$H/certmint.db" 'SELECT hex(Body) FROM vault' >"$T/vault.hex"
    check "the vault has the archive record" grep -q . "$T/vault.hex"
    check_fails "the database does not hold the key in clear" \
        grep -qi "$(xxd -p "$T/user.p8" | tr -d '\n' | cut -c200-260)" "$T/vault.hex"
fi

# Several requests in one submit, each with its envelope (the transport key
# opened once).
make_csr rsa:2048 "$T/b1.csr" "$T/b1.key" "/CN=Batch One" "email:b1@example.org"
make_csr rsa:2048 "$T/b2.csr" "$T/b2.key" "/CN=Batch Two" "email:b2@example.org"
for b in b1 b2; do
    openssl pkcs8 -topk8 -nocrypt -in "$T/$b.key" -outform DER -out "$T/$b.p8"
    openssl cms -encrypt -binary -aes-256-gcm -in "$T/$b.p8" -outform DER -out "$T/$b.p7m" \
        "$T/transport.pem" 2>/dev/null
done
check_fails "one --archive-key for two requests is a usage error" \
    cm "$H" submit --profile smime-encrypt --archive-key "$T/b1.p7m" "$T/b1.csr" "$T/b2.csr"
out=$(cm "$H" submit --profile smime-encrypt --archive-key "$T/b1.p7m" --archive-key "$T/b2.p7m" \
    "$T/b1.csr" "$T/b2.csr" 2>&1)
check_eq "two requests with their envelopes: both issued" "$(echo "$out" | grep -c issued)" 2
out=$(cm "$H" submit --profile smime-encrypt --archive-key "$T/b2.p7m" --archive-key "$T/b1.p7m" \
    "$T/b1.csr" "$T/b2.csr" 2>&1)
check_eq "envelopes in the wrong order: both denied" "$(echo "$out" | grep -c "denied.*does not match")" 2

# RSAES-OAEP key transport (RFC 3560, its default SHA-1 and MGF1-SHA-1) as
# well as PKCS#1 v1.5: the transport key decrypts both, in the token too
# (SoftHSM 2.6 does OAEP with SHA-1 only; the unit test covers SHA-256).
make_csr rsa:2048 "$T/oa.csr" "$T/oa.key" "/CN=OAEP User" "email:oa@example.org"
openssl pkcs8 -topk8 -nocrypt -in "$T/oa.key" -outform DER -out "$T/oa.p8"
openssl cms -encrypt -binary -aes-256-gcm -recip "$T/transport.pem" -keyopt rsa_padding_mode:oaep \
    -in "$T/oa.p8" -outform DER -out "$T/oa.p7m" 2>/dev/null || fail "openssl cms -encrypt (OAEP)"
check_match "the OAEP envelope's recipient uses RSAES-OAEP" \
    "$(openssl cms -cmsout -print -inform DER -in "$T/oa.p7m" 2>&1)" "rsaesOaep"
out=$(cm "$H" submit --profile smime-encrypt --archive-key "$T/oa.p7m" "$T/oa.csr" 2>&1)
check_match "RSAES-OAEP envelope: archived and issued" "$out" "issued"
# An envelope to another certificate (an agent's): denied, nothing issued.
openssl cms -encrypt -binary -aes-256-gcm -in "$T/oa.p8" -outform DER -out "$T/wrong.p7m" \
    "$T/alice.crt" 2>/dev/null || fail "openssl cms -encrypt (wrong recipient)"
n0=$(cm "$H" view --restrict "Disposition=issued" --out SerialNumber | wc -l)
out=$(cm "$H" submit --profile smime-encrypt --archive-key "$T/wrong.p7m" "$T/oa.csr" 2>&1)
check_match "envelope to another certificate: denied, not addressed to the transport key" \
    "$out" "denied.*does not open.*not addressed"
check_eq "  ... and nothing issued" "$(cm "$H" view --restrict "Disposition=issued" --out SerialNumber | wc -l)" "$n0"

# profile archive_key = required: a request without an envelope is denied.
check "config set profile.smime-encrypt.archive_key required" cm "$H" config set profile.smime-encrypt.archive_key required
make_csr rsa:2048 "$T/u2.csr" "$T/u2.key" "/CN=User Two" "email:u2@example.org"
out=$(cm "$H" submit --profile smime-encrypt "$T/u2.csr" 2>&1)
check_match "archive_key required: no envelope, denied" "$out" "denied.*requires key archival"

# Recovery: request, shares from agents, recover.
req=$(cm "$H" key recover-request "$serial" --reason "user lost laptop" --out "$T/req.txt")
check_match "recover-request prints a request ID" "$req" "^[0-9a-f]{16}$"
release() { # agent out
    "$CM" key release-share "$T/req.txt" --agent-key "$T/$1.key" --agent-cert "$T/$1.crt" --out "$2"
}
check "alice releases her share (no CA home)" release alice "$T/share-alice.txt"
check "bob releases his share" release bob "$T/share-bob.txt"
check_fails "mallory (not an agent) cannot release a share" release mallory "$T/share-mallory.txt"

printf 'p12-password-%s\n' "$$" >"$T/p12pass"
chmod 600 "$T/p12pass"
check "add alice's share" cm "$H" key add-share "$T/share-alice.txt"
check_fails "one agent alone cannot recover" cm "$H" key recover "$req" --out "$T/one.p12" --password-file "$T/p12pass"
check_match "... says how many are missing" \
    "$(cm "$H" key recover "$req" --out "$T/one.p12" --password-file "$T/p12pass" 2>&1)" "1 of the 2 shares"
check_fails "a replayed share is refused" cm "$H" key add-share "$T/share-alice.txt"
check_match "... as a replay" "$(cm "$H" key add-share "$T/share-alice.txt" 2>&1)" "replayed"
# A tampered share file: one hex digit of the envelope changed.
awk '/^envelope: /{ v=substr($0,11); c=substr(v,200,1); n=(c=="0")?"1":"0"; $0="envelope: " substr(v,1,199) n substr(v,201) } {print}' \
    "$T/share-bob.txt" >"$T/share-bad.txt"
check_fails "a tampered share envelope is refused" cm "$H" key add-share "$T/share-bad.txt"
check "add bob's share" cm "$H" key add-share "$T/share-bob.txt"
check "recover with 2 of 3" cm "$H" key recover "$req" --out "$T/user.p12" --password-file "$T/p12pass"
check "PKCS#12 opens with openssl" openssl pkcs12 -in "$T/user.p12" -passin "file:$T/p12pass" -nodes -out "$T/p12.pem"
openssl pkey -in "$T/p12.pem" -outform DER -out "$T/rec.der" 2>/dev/null
openssl pkey -in "$T/user.key" -outform DER -out "$T/orig.der" 2>/dev/null
check "recovered key == original key" cmp "$T/rec.der" "$T/orig.der"
info=$(openssl pkcs12 -in "$T/user.p12" -passin "file:$T/p12pass" -info -noout 2>&1)
check_match "PKCS#12 uses AES-256-CBC with PBKDF2" "$info" "PBKDF2.*AES-256-CBC|AES-256-CBC.*PBKDF2"
check_fails "PKCS#12 has no RC2 or 3DES" sh -c "echo '$info' | grep -Eqi 'rc2|des'"
ncerts=$(grep -c 'BEGIN CERTIFICATE' "$T/p12.pem")
check_eq "PKCS#12 carries the certificate and the chain" "$ncerts" 2
# The recovered key decrypts what was encrypted to the certificate.
echo "secret mail body" >"$T/mail.txt"
openssl cms -encrypt -aes-256-cbc -in "$T/mail.txt" -out "$T/mail.p7m" "$T/user.pem" 2>/dev/null
check "recovered key decrypts a message to the certificate" sh -c \
    "openssl cms -decrypt -in '$T/mail.p7m' -inkey '$T/p12.pem' -recip '$T/user.pem' | grep -q 'secret mail body'"
check_fails "a closed request cannot be recovered twice" cm "$H" key recover "$req" --out "$T/two.p12" --password-file "$T/p12pass"
check_fails "the transport key of the request is gone" test -e "$H/private/recovery/$req.key"
check_match "audit: request and recovery" "$(cm "$H" audit 2>&1 | grep -E 'key-recover' | wc -l | tr -d ' ')" "^2$"

# Way (b): the CA generates the key pair (submit --generate-key, EJBCA style).
printf 'gen-p12-pass-%s\n' "$$" >"$T/genpass"
chmod 600 "$T/genpass"
nreq=$(db_sql "$H" "SELECT count(*) FROM requests")
check_fails "generate-key: a subject that is not a DN is refused" cm "$H" submit --generate-key \
    --profile smime-encrypt --subject "not a DN" --p12-out "$T/bad.p12" --password-file "$T/genpass"
check_fails "generate-key: no --password-file is a usage error" cm "$H" submit --generate-key \
    --profile smime-encrypt --subject "CN=Gen" --p12-out "$T/bad.p12"
check_fails "generate-key: a request file too is a usage error" cm "$H" submit --generate-key \
    --profile smime-encrypt --subject "CN=Gen" --p12-out "$T/bad.p12" --password-file "$T/genpass" "$T/u2.csr"
check_eq "generate-key: refusals stored no request" "$(db_sql "$H" "SELECT count(*) FROM requests")" "$nreq"
check_fails "generate-key: ... and wrote no PKCS#12" test -e "$T/bad.p12"
out=$(cm "$H" submit --generate-key --profile smime-encrypt --subject "CN=Gen User,O=Example" \
    --san "email:gen@example.org" --p12-out "$T/gen.p12" --password-file "$T/genpass" --out "$T/gen.crt" 2>&1)
check_match "generate-key: issued" "$out" "issued"
gserial=$(echo "$out" | cut -f3)
check_eq "generate-key: the PKCS#12 is mode 0600" "$(stat -c %a "$T/gen.p12")" 600
ginfo=$(openssl pkcs12 -in "$T/gen.p12" -passin "file:$T/genpass" -info -noout 2>&1)
check_match "generate-key: PKCS#12 AES-256-CBC with PBKDF2" "$ginfo" "PBKDF2.*AES-256-CBC|AES-256-CBC.*PBKDF2"
check_match "generate-key: PKCS#12 iterations 600000" "$ginfo" "[Ii]teration 600000"
check_match "generate-key: PKCS#12 MAC is HMAC-SHA256" "$ginfo" "MAC: sha256"
check_fails "generate-key: PKCS#12 has no RC2 or 3DES" sh -c "echo '$ginfo' | grep -Eqi 'rc2|des'"
check_fails "generate-key: a wrong password does not open it" \
    openssl pkcs12 -in "$T/gen.p12" -passin pass:wrong -nodes -out "$T/x.pem"
openssl pkcs12 -in "$T/gen.p12" -passin "file:$T/genpass" -nodes -out "$T/gen.pem" 2>/dev/null
check_eq "generate-key: the key matches the certificate" \
    "$(openssl pkey -in "$T/gen.pem" -pubout 2>/dev/null)" "$(openssl x509 -in "$T/gen.crt" -noout -pubkey)"
check_eq "generate-key: RSA-3072 by default" \
    "$(openssl pkey -in "$T/gen.pem" -noout -text 2>/dev/null | head -n 1 | tr -d ' ')" "Private-Key:(3072bit,2primes)"
check_eq "generate-key: PKCS#12 carries the certificate and the chain" "$(grep -c 'BEGIN CERTIFICATE' "$T/gen.pem")" 2
check "generate-key: the certificate verifies" openssl verify -CAfile "$T/root.pem" "$T/gen.crt"
check_match "generate-key: subject and SAN as asked" \
    "$(openssl x509 -in "$T/gen.crt" -noout -subject -ext subjectAltName 2>&1 | tr '\n' ' ')" "CN ?= ?Gen User.*gen@example.org"
check_match "generate-key: the key was archived" "$(cm "$H" audit 2>&1 | grep key-archive)" "$gserial"
check_fails "generate-key: no unencrypted key in the CA home" grep -rlq "BEGIN PRIVATE KEY" "$H"
openssl pkey -in "$T/gen.pem" -outform DER -out "$T/gen.der" 2>/dev/null
if [ "$TESTDB" = sqlite ]; then
    sqlite3 "$H/certmint.db" 'SELECT hex(Body) FROM vault' >"$T/vault2.hex"
    check_fails "generate-key: the database does not hold the key in clear" \
        grep -qi "$(xxd -p "$T/gen.der" | tr -d '\n' | cut -c400-460)" "$T/vault2.hex"
fi
greq=$(cm "$H" key recover-request "$gserial" --reason "generated key lost" --out "$T/greq.txt")
release_for() { # agent request out
    "$CM" key release-share "$2" --agent-key "$T/$1.key" --agent-cert "$T/$1.crt" --out "$3"
}
check "generate-key: alice releases" release_for alice "$T/greq.txt" "$T/gs-alice.txt"
check "generate-key: carol (EC) releases" release_for carol "$T/greq.txt" "$T/gs-carol.txt"
check "generate-key: shares added" cm "$H" key add-share "$T/gs-alice.txt" "$T/gs-carol.txt"
check "generate-key: recovered" cm "$H" key recover "$greq" --out "$T/grec.p12" --password-file "$T/p12pass"
openssl pkcs12 -in "$T/grec.p12" -passin "file:$T/p12pass" -nodes -nocerts 2>/dev/null |
    openssl pkey -outform DER -out "$T/grec.der" 2>/dev/null
check "generate-key: the recovered key is the generated one" cmp "$T/grec.der" "$T/gen.der"
out=$(cm "$H" submit --generate-key --key ec:p256 --profile smime --subject "CN=Signer" \
    --san "email:signer@example.org" --p12-out "$T/sign.p12" --password-file "$T/genpass" 2>&1)
check_match "generate-key on a signing profile: issued" "$out" "issued"
sserial=$(echo "$out" | cut -f3)
check_fails "generate-key on a signing profile: the key is not archived" \
    sh -c "'$CM' --home '$H' --passphrase-file '$PASS' audit 2>&1 | grep key-archive | grep -q '$sserial'"
check_match "generate-key --key ec:p256: an EC key in the PKCS#12" \
    "$(openssl pkcs12 -in "$T/sign.p12" -passin "file:$T/genpass" -nodes -nocerts 2>/dev/null | openssl pkey -noout -text 2>/dev/null | head -n 1)" "256 bit"

check_fails "recover-request for a certificate without an archived key" \
    cm "$H" key recover-request "$tserial" --reason test --out "$T/req2.txt"
check_fails "kra remove of an unknown agent" cm "$H" kra remove 0123456789abcdef
aid=$(cm "$H" kra list | grep 'CN=carol' | cut -f1)
check "kra remove carol" cm "$H" kra remove "$aid"
check_match "kra list shows carol removed" "$(cm "$H" kra list)" "removed"

# Re-wrap to a new agent set (carol removed above, dave added): it needs the
# old agents' shares as a recovery does.
agent dave ec
check "kra add dave" cm "$H" kra add "$T/dave.crt"
rreq=$(cm "$H" kra rewrap-request --reason "carol left, dave joined" --out "$T/rw.txt" 2>"$T/rw.err")
check_match "rewrap-request prints a request ID" "$rreq" "^[0-9a-f]{16}$"
check_eq "the re-wrap covers the five archived keys (one RSAES-OAEP)" "$(grep -c '^certmint-kra-request 1$' "$T/rw.txt")" 5
check_fails "dave (a new agent) holds no old share to release" release_for dave "$T/rw.txt" "$T/rw-dave.txt"
check "alice releases her shares of the re-wrap" release_for alice "$T/rw.txt" "$T/rw-alice.txt"
check_eq "... one for each key" "$(grep -c '^certmint-kra-share 1$' "$T/rw-alice.txt")" 5
check "alice's shares added" cm "$H" key add-share "$T/rw-alice.txt"
check_match "a replayed share file is refused" "$(cm "$H" key add-share "$T/rw-alice.txt" 2>&1)" "replayed"
hexf=hex
[ "$TESTDB" = postgresql ] && hexf="encode"
arch_sum() {
    if [ "$hexf" = hex ]; then q="hex(Body)"; else q="encode(Body, 'hex')"; fi
    db_sql "$H" "SELECT Name, $q FROM vault WHERE Kind = 'kra.archive' ORDER BY Name" | sha256sum
}
before=$(arch_sum)
check_fails "the archives are read" test "$before" = "$(printf '' | sha256sum)"
check_match "one old agent's shares are not enough: re-wrap refused" \
    "$(cm "$H" kra rewrap "$rreq" 2>&1)" "1 of the 2 shares.*nothing was changed"
check_eq "... and the archives are unchanged" "$(arch_sum)" "$before"
check "bob releases his shares of the re-wrap" release_for bob "$T/rw.txt" "$T/rw-bob.txt"
check "bob's shares added" cm "$H" key add-share "$T/rw-bob.txt"
check_eq "kra rewrap re-wraps the five keys" "$(cm "$H" kra rewrap "$rreq" 2>&1)" 5
check_fails "... the archives changed" test "$(arch_sum)" = "$before"
check_match "audit: the re-wrap" "$(cm "$H" audit 2>&1 | grep kra-rewrap | tr '\n' ' ')" "5 keys re-wrapped to 2 of 3 agents"
check_fails "a closed re-wrap cannot run again" cm "$H" kra rewrap "$rreq"
check_fails "nothing left to re-wrap" cm "$H" kra rewrap-request --reason again --out "$T/rw2.txt"
# After it: the removed agent's shares no longer work; the new agent's do.
greq2=$(cm "$H" key recover-request "$gserial" --reason "after the re-wrap" --out "$T/greq2.txt")
check_fails "carol (removed) has no share any more" release_for carol "$T/greq2.txt" "$T/g2-carol.txt"
check "dave (new) releases his share" release_for dave "$T/greq2.txt" "$T/g2-dave.txt"
check "alice releases hers" release_for alice "$T/greq2.txt" "$T/g2-alice.txt"
check "shares added" cm "$H" key add-share "$T/g2-dave.txt" "$T/g2-alice.txt"
check "recovered with a new agent's share" cm "$H" key recover "$greq2" --out "$T/grec2.p12" --password-file "$T/p12pass"
openssl pkcs12 -in "$T/grec2.p12" -passin "file:$T/p12pass" -nodes -nocerts 2>/dev/null |
    openssl pkey -outform DER -out "$T/grec2.der" 2>/dev/null
check "the key recovered after the re-wrap is the generated one" cmp "$T/grec2.der" "$T/gen.der"
check "config set kra.threshold 3" cm "$H" config set kra.threshold 3
check "a threshold change opens a re-wrap" cm "$H" kra rewrap-request --reason "3 of 3" --out "$T/rw3.txt"
check_eq "... of the five keys" "$(grep -c '^certmint-kra-request 1$' "$T/rw3.txt")" 5

# The vault travels with a backup (both backends: on PostgreSQL a snapshot
# once left it out): archived keys, agents' envelopes and recoveries.
check "backup" cm "$H" backup "$T/bk"
check "restore into a new home" cm "$H" restore "$T/bk" --home "$T/restored"
check_eq "the restored database has every vault row" \
    "$(db_sql "$T/restored" "SELECT count(*) FROM vault")" "$(db_sql "$H" "SELECT count(*) FROM vault")"
check_match "  ... and they are not none" "$(db_sql "$H" "SELECT count(*) FROM vault")" "^[1-9]"
# ... and so does the transport key (its file, or its token object's URI):
# the restored CA opens a new envelope.
check_eq "the restored home has the transport certificate" \
    "$(cm "$T/restored" kra transport-cert 2>&1)" "$(cat "$T/transport.pem")"
make_csr rsa:2048 "$T/rs.csr" "$T/rs.key" "/CN=Restored User" "email:rs@example.org"
openssl pkcs8 -topk8 -nocrypt -in "$T/rs.key" -outform DER -out "$T/rs.p8"
openssl cms -encrypt -binary -aes-256-gcm -in "$T/rs.p8" -outform DER -out "$T/rs.p7m" \
    "$T/transport.pem" 2>/dev/null || fail "openssl cms -encrypt (restored)"
check_match "the restored CA archives a key enveloped to the transport certificate" \
    "$(cm "$T/restored" submit --profile smime-encrypt --archive-key "$T/rs.p7m" "$T/rs.csr" 2>&1)" "issued"

done_testing
