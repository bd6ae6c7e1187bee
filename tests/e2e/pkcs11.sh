#!/bin/sh
# CA keys in a PKCS#11 token (SoftHSM2, a private token directory in $T):
# a root and a subordinate with their keys in the token, issuance and CRLs
# checked with openssl and certtool, a batch large enough that submit forks
# workers (each must open its own PKCS#11 session), an existing token
# object used as it is, and clear errors for a wrong PIN, a missing token,
# a missing object, pin-value in the URI and no PIN at all.
. "$(dirname "$0")/lib.sh"

if ! command -v softhsm2-util >/dev/null || [ ! -f "$P11_MODULE" ]; then
    fail "softhsm2 is not installed (scripts/install-deps.sh installs it)"
    done_testing
fi
softhsm_token certmint || { fail "cannot create a SoftHSM token"; done_testing; }
URI_ROOT=$(p11_uri certmint root-ca)
R="$T/root"

check "root CA with its key generated in the token" \
    "$CM" --home "$R" init --subject "/CN=Token Root/O=certmint tests" --key "$URI_ROOT" --key-type ec:p384
check_eq "no key file in the home" "$(ls "$R/private")" "ca.key.uri"
check_eq "the home records the URI, no PIN" "$(cat "$R/private/ca.key.uri")" "$URI_ROOT"
check_match "root signed with ecdsa-with-SHA384" \
    "$(openssl x509 -in "$R/ca.crt" -noout -text 2>&1)" "ecdsa-with-SHA384"
check "root self-signature verifies" openssl verify -x509_strict -CAfile "$R/ca.crt" "$R/ca.crt"
out=$(pkcs11-tool --module "$P11_MODULE" --token-label certmint --login --pin "$(cat "$P11_PIN")" \
    --list-objects --type privkey 2>&1)
check_match "the token key is sensitive and never extractable" "$out" "sensitive.*never extractable"
check_match "the token key signs only" "$out" "Usage: +sign$"

# Issuance.
make_csr ec:p256 "$T/ee.csr" "$T/ee.key" "/CN=www.example.org" "DNS:www.example.org"
check "submit with the key in the token" "$CM" --home "$R" submit "$T/ee.csr" --out "$T/ee.pem"
check "issued certificate verifies (x509_strict)" \
    openssl verify -x509_strict -CAfile "$R/ca.crt" "$T/ee.pem"
check "certtool verifies it too" sh -c \
    "certtool --verify --load-ca-certificate '$R/ca.crt' --infile '$T/ee.pem' >'$T/certtool.out' 2>&1"

# CRL signed in the token.
serial=$(openssl x509 -in "$T/ee.pem" -noout -serial | cut -d= -f2)
check "revoke" "$CM" --home "$R" revoke "$serial" --reason keyCompromise
check "crl" "$CM" --home "$R" crl
check "CRL signature verifies" openssl crl -in "$R/crl/ca.crl.pem" -CAfile "$R/ca.crt" -noout -verify
cat "$R/ca.crt" "$R/crl/ca.crl.pem" >"$T/crlchain.pem"
check_fails "the revoked certificate fails verify -crl_check" \
    openssl verify -crl_check -CAfile "$T/crlchain.pem" "$T/ee.pem"
check_match "because it is revoked" "$(cat "$T/last.out")" "certificate revoked"

# A subordinate CA with its key in the token, certified by the root.
S="$T/sub"
URI_SUB=$(p11_uri certmint sub-ca)
check "subordinate CA with its key in the token (RSA)" \
    "$CM" --home "$S" init --subordinate --subject "/CN=Token Sub/O=certmint tests" \
    --out "$T/sub.csr" --key "$URI_SUB" --key-type rsa:2048
check "subordinate CSR self-signature verifies" openssl req -in "$T/sub.csr" -noout -verify
out=$("$CM" --home "$R" submit --profile subca "$T/sub.csr")
check_match "subca request pends for an officer" "$out" "pending"
check "root approves the subordinate" "$CM" --home "$R" approve "$(echo "$out" | cut -f1)" --out "$T/sub.pem"
check "install-ca-cert" "$CM" --home "$S" install-ca-cert "$T/sub.pem" "$R/ca.crt"
make_csr ec:p256 "$T/ee2.csr" "$T/ee2.key" "/CN=mail.example.org" "DNS:mail.example.org"
check "subordinate issues" "$CM" --home "$S" submit "$T/ee2.csr" --out "$T/ee2.pem"
check "chain root -> sub -> leaf verifies (x509_strict)" \
    openssl verify -x509_strict -CAfile "$R/ca.crt" -untrusted "$S/ca.crt" "$T/ee2.pem"
check_match "leaf signed with sha256WithRSAEncryption" \
    "$(openssl x509 -in "$T/ee2.pem" -noout -text)" "sha256WithRSAEncryption"
check "subordinate CRL" "$CM" --home "$S" crl
check "subordinate CRL verifies" openssl crl -in "$S/crl/ca.crl.pem" -CAfile "$S/ca.crt" -noout -verify

# A batch large enough for worker processes: each child opens its own
# session (SoftHSM resets itself on fork here, as a real HSM would not let
# the child use the parent's session).
N=${PKCS11_BATCH:-3000}
cc -O2 -o "$T/gen_csrs" "$TOP/bench/gen_csrs.c" -lcrypto 2>"$T/cc.err" || fail "gen_csrs: $(cat "$T/cc.err")"
mkdir "$T/csrs" "$T/batch"
"$T/gen_csrs" "$T/csrs" "$N" >/dev/null
check "submit.workers 2" "$CM" --home "$R" config set submit.workers 2
if "$CM" --home "$R" submit --out "$T/batch" "$T"/csrs/*.csr >"$T/batch.out" 2>"$T/batch.err"; then
    check_eq "batch of $N issued by forked workers" "$(grep -c '	issued	' "$T/batch.out")" "$N"
else
    fail "batch submit failed: $(tail -n 3 "$T/batch.err" | tr '\n' ' ')"
fi
first=$(ls "$T/batch" | head -n 1)
last=$(ls "$T/batch" | tail -n 1)
check "a batch certificate verifies (first)" openssl verify -x509_strict -CAfile "$R/ca.crt" "$T/batch/$first"
check "a batch certificate verifies (last)" openssl verify -x509_strict -CAfile "$R/ca.crt" "$T/batch/$last"

# An existing key object is used as it is (imported here), not replaced.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/imp.key" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$T/imp.key" -out "$T/imp.p8" 2>/dev/null
softhsm2-util --import "$T/imp.p8" --token certmint --label imported --id 0a0b --pin "$(cat "$P11_PIN")" >/dev/null 2>&1 ||
    fail "softhsm2-util --import failed"
I="$T/imported"
check "init with an existing object (by id)" "$CM" --home "$I" init --subject "/CN=Imported" \
    --key "pkcs11:token=certmint;id=%0a%0b?module-path=$P11_MODULE&pin-source=file:$P11_PIN"
check_eq "the CA certificate holds the imported key" \
    "$(openssl x509 -in "$I/ca.crt" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum)" \
    "$(openssl pkey -in "$T/imp.key" -pubout -outform DER | sha256sum)"

# PIN from the environment instead of pin-source.
E="$T/envpin"
check "PIN from CERTMINT_PKCS11_PIN_FILE" env CERTMINT_PKCS11_PIN_FILE="$P11_PIN" \
    "$CM" --home "$E" init --subject "/CN=Env" --key "pkcs11:token=certmint;object=env-ca?module-path=$P11_MODULE"
check "PIN from CERTMINT_PKCS11_PIN" env CERTMINT_PKCS11_PIN="$(cat "$P11_PIN")" \
    "$CM" --home "$E" crl

# Clear errors, nothing created.
printf 'wrong-pin\n' >"$T/badpin"
chmod 600 "$T/badpin"
check_fails "wrong PIN refused" "$CM" --home "$T/x1" init --subject "/CN=X" \
    --key "pkcs11:token=certmint;object=x1?module-path=$P11_MODULE&pin-source=file:$T/badpin"
check_match "wrong PIN: clear error" "$(cat "$T/last.out")" "C_Login failed.*wrong PIN"
check "wrong PIN: no home left" test ! -e "$T/x1"
check_fails "wrong PIN on an existing CA" env CERTMINT_PKCS11_PIN=wrong "$CM" --home "$E" crl
check_match "wrong PIN on an existing CA: clear error" "$(cat "$T/last.out")" "wrong PIN"
check_fails "missing token" "$CM" --home "$T/x2" init --subject "/CN=X" --key "$(p11_uri nosuchtoken x2)"
check_match "missing token: clear error" "$(cat "$T/last.out")" "no token labelled 'nosuchtoken'"
chmod 700 "$R/private"
sed 's/object=root-ca/object=gone/' "$R/private/ca.key.uri" >"$T/gone.uri"
cp -r "$R" "$T/gone"
cp "$T/gone.uri" "$T/gone/private/ca.key.uri"
check_fails "missing object" "$CM" --home "$T/gone" crl
check_match "missing object: clear error" "$(cat "$T/last.out")" "no private key 'gone'"
check_fails "pin-value refused" "$CM" --home "$T/x3" init --subject "/CN=X" \
    --key "pkcs11:token=certmint;object=x3?module-path=$P11_MODULE&pin-value=1234"
check_match "pin-value: clear error" "$(cat "$T/last.out")" "pin-value is refused"
check "pin-value: no home left" test ! -e "$T/x3"
check_fails "no PIN at all" env -u CERTMINT_PKCS11_PIN -u CERTMINT_PKCS11_PIN_FILE \
    "$CM" --home "$T/x4" init --subject "/CN=X" --key "pkcs11:token=certmint;object=x4?module-path=$P11_MODULE"
check_match "no PIN: clear error" "$(cat "$T/last.out")" "no PIN"
check_fails "missing module" "$CM" --home "$T/x5" init --subject "/CN=X" \
    --key "pkcs11:token=certmint;object=x5?module-path=/nonexistent/libp11.so&pin-source=file:$P11_PIN"
check_match "missing module: clear error" "$(cat "$T/last.out")" "/nonexistent/libp11.so"
chmod 644 "$T/badpin"
check_fails "PIN file readable by others refused" "$CM" --home "$T/x6" init --subject "/CN=X" \
    --key "pkcs11:token=certmint;object=x6?module-path=$P11_MODULE&pin-source=file:$T/badpin"
check_fails "ca passphrase on a token key" "$CM" --home "$R" ca passphrase
check_match "ca passphrase: clear error" "$(cat "$T/last.out")" "PKCS#11 token"

done_testing
