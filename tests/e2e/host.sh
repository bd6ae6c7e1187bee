#!/bin/sh
# certmint host: the local store (docs/host.md). Keys and CSRs made by
# host request, certificates from a third-party CA made with openssl (PEM,
# DER, .p7b, a bundle, the issuer from an AIA URL served on 127.0.0.1),
# from a certmint CA home (host submit, pending and approved, renew,
# --rekey), a key in a PKCS#11 token (SoftHSM2), list/show by thumbprint as
# openssl computes it, export --pfx read
# back by openssl, remove; and the refusals: another key's certificate, an
# expired or not yet valid one, a chain that does not verify; none changes
# the store.
. "$(dirname "$0")/lib.sh"

S="$T/store"
H() { "$CM" host --store "$S" "$@"; }
fp1() { openssl x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f; }
fp256() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/.*=//; s/://g' | tr A-F a-f; }
jget() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
# A digest of everything in the store, to show that a refusal changed nothing.
store_state() { (cd "$S" && find . -type f | sort | xargs sha256sum) | sha256sum; }

# --- request -----------------------------------------------------------------
check "request: rsa:3072, exportable" H request --name mail --subject "/CN=mail.example.org" \
    --dns mail.example.org --dns autodiscover.example.org --key rsa:3072 --exportable \
    --out "$T/mail.csr"
check_eq "store is mode 0700" "$(stat -c %a "$S")" 700
check_eq "key is mode 0600" "$(stat -c %a "$S/entries/mail/key.pem")" 600
check "CSR signature verifies (openssl)" openssl req -in "$T/mail.csr" -noout -verify
check_match "CSR carries both SANs" "$(openssl req -in "$T/mail.csr" -noout -text)" \
    "DNS:mail.example.org, DNS:autodiscover.example.org"
check_match "CSR key is RSA 3072" "$(openssl req -in "$T/mail.csr" -noout -text)" "Public-Key: \(3072 bit\)"
printf 'key-pass-%s\n' "$$" >"$T/kpass"
chmod 600 "$T/kpass"
check "request: ec:p384, key encrypted" H request --name enc --subject "/CN=enc.example.org" \
    --dns enc.example.org --key ec:p384 --key-passphrase-file "$T/kpass" --out "$T/enc.csr"
check_match "encrypted key is PKCS#8 encrypted" "$(head -n 1 "$S/entries/enc/key.pem")" "ENCRYPTED PRIVATE KEY"
check "encrypted key opens with the passphrase (openssl)" \
    openssl pkey -in "$S/entries/enc/key.pem" -passin "file:$T/kpass" -noout
check_fails "request: rsa:1024 refused" H request --name weak --subject /CN=weak.example.org --key rsa:1024
check_fails "request: ed25519 refused" H request --name ed --subject /CN=ed.example.org --key ed25519
check_fails "request: an existing name refused" H request --name mail --subject /CN=x.example.org
check_fails "request: a bad DNS name refused" H request --name bad --subject /CN=x.example.org --dns 'a..b'
check_eq "refused requests left no entry" "$(ls "$S/entries" | tr '\n' ' ')" "enc mail "
check_match "list shows the pending entries" "$(H list)" "\(pending\) +mail"

# --- a third-party CA made with openssl -----------------------------------------
TP="$T/tp"
mkdir -p "$TP/new"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TP/root.key" \
    -subj "/CN=Third Party Root" -days 30 -out "$TP/root.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TP/int.key" \
    -subj "/CN=Third Party Issuing CA" -out "$TP/int.csr" 2>/dev/null
printf 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$TP/ca.ext"
openssl x509 -req -in "$TP/int.csr" -CA "$TP/root.pem" -CAkey "$TP/root.key" -CAcreateserial \
    -days 30 -extfile "$TP/ca.ext" -out "$TP/int.pem" 2>/dev/null
AIAPORT=$(free_port)
mkdir -p "$TP/www"
openssl x509 -in "$TP/int.pem" -outform DER -out "$TP/www/int.cer"
cat >"$TP/ca.cnf" <<EOF
[ca]
default_ca = tp
[tp]
dir = $TP
database = $TP/index.txt
new_certs_dir = $TP/new
serial = $TP/serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
authorityInfoAccess = caIssuers;URI:http://127.0.0.1:$AIAPORT/int.cer
EOF
: >"$TP/index.txt"
echo 01 >"$TP/serial"
# sign CSR OUT START END: the issuing CA signs with the given validity.
sign() {
    openssl ca -batch -config "$TP/ca.cnf" -extensions leaf -cert "$TP/int.pem" -keyfile "$TP/int.key" \
        -in "$1" -out "$2" -notext -startdate "$3" -enddate "$4" >/dev/null 2>&1
}
now_plus() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
sign "$T/mail.csr" "$TP/mail.pem" "$(now_plus '-1 hour')" "$(now_plus '+20 days')"
sign "$T/mail.csr" "$TP/expired.pem" "$(now_plus '-20 days')" "$(now_plus '-1 day')"
sign "$T/mail.csr" "$TP/future.pem" "$(now_plus '+2 days')" "$(now_plus '+20 days')"
make_csr ec:p256 "$T/other.csr" "$T/other.key" "/CN=other.example.org"
sign "$T/other.csr" "$TP/other.pem" "$(now_plus '-1 hour')" "$(now_plus '+20 days')"
# A certificate from a second CA whose name is the same as the real issuing CA's.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TP/fake.key" \
    -subj "/CN=Third Party Issuing CA" -days 30 -out "$TP/fake.pem" 2>/dev/null
openssl x509 -req -in "$T/mail.csr" -CA "$TP/fake.pem" -CAkey "$TP/fake.key" -CAcreateserial \
    -days 10 -out "$TP/forged.pem" 2>/dev/null
cat "$TP/forged.pem" "$TP/int.pem" >"$TP/forged-bundle.pem"

before=$(store_state)
check_fails "import: another key's certificate refused" H import "$TP/other.pem" --trust "$TP/root.pem" --no-aia
check_match "  ... the error says no key matches" "$(cat "$T/last.out")" "no key in the store"
check_fails "import: an expired certificate refused" H import "$TP/expired.pem" --trust "$TP/root.pem" --no-aia
check_match "  ... the error says expired" "$(cat "$T/last.out")" "expired"
check_fails "import: a not yet valid certificate refused" H import "$TP/future.pem" --trust "$TP/root.pem" --no-aia
check_match "  ... the error says not yet valid" "$(cat "$T/last.out")" "not yet valid"
check_fails "import: a chain that does not verify refused" H import "$TP/forged-bundle.pem" --trust "$TP/root.pem"
check_match "  ... the error says the chain does not verify" "$(cat "$T/last.out")" "does not verify"
cat "$TP/mail.pem" "$TP/int.pem" >"$TP/bundle.pem"
check_fails "import: a bundle whose root is not trusted refused" H import "$TP/bundle.pem" --no-aia
printf 'not a certificate\n' >"$T/junk.pem"
check_fails "import: junk refused" H import "$T/junk.pem"
check_eq "refused imports changed nothing in the store" "$(store_state)" "$before"

# The issuer fetched from the AIA caIssuers URL (RFC 5280 4.2.2.1).
python3 -m http.server "$AIAPORT" --bind 127.0.0.1 --directory "$TP/www" >"$T/http.log" 2>&1 &
echo $! >"$T/http.pid"
at_exit 'kill "$(cat "$T/http.pid")" 2>/dev/null'
i=0
while ! python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$AIAPORT" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 50 ] || break; sleep 0.1
done
check "import: the leaf alone, issuer from AIA" H import "$TP/mail.pem" --trust "$TP/root.pem"
check_match "  ... the AIA URL was fetched" "$(cat "$T/http.log")" "GET /int.cer"
check_eq "  ... chain.pem is the issuing CA" "$(fp1 "$S/entries/mail/chain.pem")" "$(fp1 "$TP/int.pem")"
check "import: the PEM bundle (again, idempotent)" H import "$TP/bundle.pem" --trust "$TP/root.pem" --no-aia
openssl crl2pkcs7 -nocrl -certfile "$TP/bundle.pem" -outform DER -out "$TP/bundle.p7b"
check "import: a DER .p7b" H import "$TP/bundle.p7b" --trust "$TP/root.pem" --no-aia
openssl x509 -in "$TP/mail.pem" -outform DER -out "$TP/mail.der"
check "import: a DER certificate, issuer from AIA" H import "$TP/mail.der" --trust "$TP/root.pem"
check "stored certificate verifies with its chain (openssl)" openssl verify -CAfile "$TP/root.pem" \
    -untrusted "$S/entries/mail/chain.pem" "$S/entries/mail/cert.pem"

# --- list / show -------------------------------------------------------------------
T1=$(fp1 "$TP/mail.pem")
T256=$(fp256 "$TP/mail.pem")
H list --format json >"$T/list.json"
check_eq "list json: SHA-1 thumbprint as openssl computes it" \
    "$(jget "$T/list.json" '[c["thumbprint"] for c in d["certificates"] if c["name"]=="mail"][0]')" "$T1"
check_eq "list json: SHA-256, subject, SANs, issuer, key, exportable, services" \
    "$(jget "$T/list.json" '[(c["sha256"], c["subject"], c["sans"], c["issuer"], c["key"], c["exportable"], c["services"]) for c in d["certificates"] if c["name"]=="mail"][0]')" \
    "('$T256', 'CN=mail.example.org', 'DNS:mail.example.org, DNS:autodiscover.example.org', 'CN=Third Party Issuing CA', 'rsa:3072', True, '')"
check_eq "list json: not-after as openssl reads it" \
    "$(jget "$T/list.json" '[c["not_after"] for c in d["certificates"] if c["name"]=="mail"][0]')" \
    "$(date -u -d "$(openssl x509 -in "$TP/mail.pem" -noout -enddate | cut -d= -f2)" '+%Y-%m-%d %H:%M:%S')"
UPPER_SPACED=$(printf '%s' "$T1" | tr a-f A-F | sed 's/../& /g; s/ $//')
check_match "show: upper case with spaces (as Windows shows it)" "$(H show "$UPPER_SPACED")" "Name +mail"
check_match "show: colons" "$(H show "$(printf '%s' "$T1" | sed 's/../&:/g; s/:$//')")" "Name +mail"
check_match "show: a prefix" "$(H show "$(printf '%s' "$T1" | cut -c1-8)")" "Name +mail"
check_match "show: SHA-256" "$(H show "$T256" --format json)" "\"name\":\"mail\""
check_fails "show: an unknown thumbprint" H show 0123456789abcdef
check_fails "show: not hex" H show 'zz-not-hex'

# --- export --------------------------------------------------------------------------
printf 'pfx-pass-%s\n' "$$" >"$T/pfxpass"
chmod 600 "$T/pfxpass"
check "export --pfx" H export "$T1" --pfx --password-file "$T/pfxpass" --out "$T/mail.pfx"
info=$(openssl pkcs12 -in "$T/mail.pfx" -info -noout -passin "file:$T/pfxpass" 2>&1)
check_match "pfx: key bag PBES2 PBKDF2 AES-256-CBC" "$info" "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"
check_match "pfx: certificates PBES2 AES-256-CBC" "$info" "Encrypted data: PBES2, PBKDF2, AES-256-CBC"
check_match "pfx: MAC sha256" "$info" "MAC: sha256"
openssl pkcs12 -in "$T/mail.pfx" -passin "file:$T/pfxpass" -nodes -nocerts 2>/dev/null | openssl pkey -pubout >"$T/pfx.pub"
openssl x509 -in "$TP/mail.pem" -noout -pubkey >"$T/cert.pub"
check "pfx: the key is the certificate's" cmp "$T/pfx.pub" "$T/cert.pub"
check_eq "pfx: two certificates (leaf and issuing CA)" \
    "$(openssl pkcs12 -in "$T/mail.pfx" -passin "file:$T/pfxpass" -nokeys 2>/dev/null | grep -c 'BEGIN CERTIFICATE')" 2
check_fails "export: a wrong password file mode refused" sh -c "chmod 644 '$T/pfxpass'; '$CM' host --store '$S' export mail --pfx --password-file '$T/pfxpass' --out '$T/x.pfx'"
chmod 600 "$T/pfxpass"

# --- a certmint CA home: submit, pending, renew ------------------------------------
CA="$T/ca"
new_root "$CA" ec:p256 >/dev/null 2>&1
cm "$CA" config set profile.man.base tls-server >/dev/null 2>&1
cm "$CA" config set profile.man.approval manual >/dev/null 2>&1
check "request for the CA" H request --name web --subject /CN=web.example.org --dns web.example.org --key ec:p256
check_match "submit: issued and imported" \
    "$("$CM" --passphrase-file "$PASS" host --store "$S" submit web --ca-home "$CA" 2>&1)" "issued"
check_fails "export: a key made without --exportable refused" H export web --pfx --password-file "$T/pfxpass" --out "$T/web.pfx"
check_match "  ... the error says not exportable" "$(cat "$T/last.out")" "not exportable"
cm "$CA" ca-cert >"$T/ca.pem" 2>/dev/null
check "submit: the stored certificate verifies against the CA (openssl)" \
    openssl verify -CAfile "$T/ca.pem" "$S/entries/web/cert.pem"
W1=$(fp1 "$S/entries/web/cert.pem")
K1=$(openssl x509 -in "$S/entries/web/cert.pem" -noout -pubkey)
check_match "renew THUMBPRINT" "$("$CM" --passphrase-file "$PASS" host --store "$S" renew "$W1" 2>&1)" "web.*renewed"
W2=$(fp1 "$S/entries/web/cert.pem")
check "renew: a new certificate" test "$W1" != "$W2"
check_eq "renew: the same key" "$(openssl x509 -in "$S/entries/web/cert.pem" -noout -pubkey)" "$K1"
check_match "renew --all: not due within 30 days" "$("$CM" --passphrase-file "$PASS" host --store "$S" renew --all 2>&1)" "web.*not due"
check_match "renew --all --rekey --window 1000: renewed" \
    "$("$CM" --passphrase-file "$PASS" host --store "$S" renew --all --rekey --window 1000 2>&1)" "web.*renewed"
check "renew --rekey: a new key" test "$(openssl x509 -in "$S/entries/web/cert.pem" -noout -pubkey)" != "$K1"
check "renew --rekey: key.pem is the certificate's key" sh -c \
    "test \"\$(openssl pkey -in '$S/entries/web/key.pem' -pubout)\" = \"\$(openssl x509 -in '$S/entries/web/cert.pem' -noout -pubkey)\""
# One generation per certificate, switched by one link (no moment with the
# new key beside the old certificate); the one before kept, older removed.
W3=$(fp1 "$S/entries/web/cert.pem")
check_eq "cur names the current certificate's generation" "$(readlink "$S/entries/web/cur")" "g-$W3"
check_eq "key.pem and cert.pem are links through cur" \
    "$(readlink "$S/entries/web/key.pem") $(readlink "$S/entries/web/cert.pem")" "cur/key.pem cur/cert.pem"
check_eq "  ... the generation's key is 0600" "$(stat -c %a "$S/entries/web/g-$W3/key.pem")" 600
check "  ... the generation's key and certificate match (openssl)" sh -c \
    "test \"\$(openssl pkey -in '$S/entries/web/g-$W3/key.pem' -pubout)\" = \"\$(openssl x509 -in '$S/entries/web/g-$W3/cert.pem' -noout -pubkey)\""
check_eq "three renewals: the current and the previous generation kept, the first removed" \
    "$(cd "$S/entries/web" && ls -d g-* | sort | tr '\n' ' ')" "$(printf 'g-%s\ng-%s\n' "$W2" "$W3" | sort | tr '\n' ' ')"
check_match "  ... the history in entry.conf" "$(cat "$S/entries/web/entry.conf")" "history = $W3,$W2"
[ ! -e "$S/entries/web/key.new" ] && ok "  ... no key.new left" || fail "  ... key.new left"
check_match "renew --all: a third-party entry is skipped" "$("$CM" --passphrase-file "$PASS" host --store "$S" renew --all --window 1000 2>&1)" "mail.*skipped"

# An encrypted store key: export needs its passphrase.
check "request: exportable, encrypted, for the CA" H request --name sealed --subject /CN=sealed.example.org \
    --dns sealed.example.org --key ec:p256 --exportable --key-passphrase-file "$T/kpass"
check_match "submit it" "$("$CM" --passphrase-file "$PASS" host --store "$S" submit sealed --ca-home "$CA" 2>&1)" "issued"
check_fails "export of an encrypted key without its passphrase refused" H export sealed --pfx --password-file "$T/pfxpass" --out "$T/sealed.pfx"
check_match "  ... the error asks for --key-passphrase-file" "$(cat "$T/last.out")" "key-passphrase-file"
check "export with --key-passphrase-file" H export sealed --pfx --password-file "$T/pfxpass" --key-passphrase-file "$T/kpass" --out "$T/sealed.pfx"
openssl pkcs12 -in "$T/sealed.pfx" -passin "file:$T/pfxpass" -nodes -nocerts 2>/dev/null | openssl pkey -pubout >"$T/sealed.pub"
check "  ... the key in the pfx is the certificate's" sh -c "openssl x509 -in '$S/entries/sealed/cert.pem' -noout -pubkey | cmp - '$T/sealed.pub'"

check "request for a manual profile" H request --name man --subject /CN=man.example.org --dns man.example.org --key ec:p256
out=$("$CM" --passphrase-file "$PASS" host --store "$S" submit man --ca-home "$CA" --profile man 2>&1)
check_match "submit: pending at the CA" "$out" "pending"
rid=$(printf '%s' "$out" | cut -f1)
check_match "list: still pending" "$(H list)" "\(pending\) +man"
cm "$CA" approve "$rid" >/dev/null 2>&1
check_match "submit again: the approved certificate is fetched and imported" \
    "$("$CM" --passphrase-file "$PASS" host --store "$S" submit man --ca-home "$CA" 2>&1)" "issued"
check "  ... and verifies against the CA" openssl verify -CAfile "$T/ca.pem" "$S/entries/man/cert.pem"

# --- a host key in a PKCS#11 token (SoftHSM2) ---------------------------------------
if command -v softhsm2-util >/dev/null && [ -f "$P11_MODULE" ]; then
    softhsm_token host-keys || fail "softhsm token"
    URI=$(p11_uri host-keys hsm-web)
    check "request --key pkcs11:... --key-type ec:p256" H request --name hsm --subject /CN=hsm.example.org \
        --dns hsm.example.org --key "$URI" --key-type ec:p256 --out "$T/hsm.csr"
    check "  ... the CSR's signature verifies (openssl)" openssl req -in "$T/hsm.csr" -noout -verify
    check "  ... no key file in the store" test ! -e "$S/entries/hsm/key.pem"
    pkcs11-tool --module "$P11_MODULE" --token-label host-keys --login --pin "$(cat "$P11_PIN")" \
        --list-objects --type pubkey >"$T/p11.out" 2>&1
    check_match "  ... the key pair is in the token under its label (pkcs11-tool)" "$(cat "$T/p11.out")" "label: +hsm-web"
    pkcs11-tool --module "$P11_MODULE" --token-label host-keys --login --pin "$(cat "$P11_PIN")" \
        --read-object --type pubkey --label hsm-web -o "$T/hsm.pub.der" >/dev/null 2>&1
    check_eq "  ... the token's public key is the CSR's" "$(openssl pkey -pubin -inform DER -in "$T/hsm.pub.der" -pubout 2>/dev/null)" \
        "$(openssl req -in "$T/hsm.csr" -noout -pubkey)"
    check_fails "request --key pkcs11:... --exportable refused" H request --name hsm2 --subject /CN=hsm2.example.org \
        --key "$(p11_uri host-keys hsm-two)" --exportable
    check_match "submit it" "$("$CM" --passphrase-file "$PASS" host --store "$S" submit hsm --ca-home "$CA" 2>&1)" "issued"
    check "  ... the certificate verifies against the CA" openssl verify -CAfile "$T/ca.pem" "$S/entries/hsm/cert.pem"
    check_match "show: the key is pkcs11" "$(H show hsm)" "Key +pkcs11 ec:p256"
    check_match "list --format json: key pkcs11" "$(H list --format json)" '"key": ?"pkcs11 ec:p256"'
    check_fails "export --pfx refused" H export hsm --pfx --password-file "$T/pfxpass" --out "$T/hsm.pfx"
    check_match "  ... the key never leaves the token" "$(cat "$T/last.out")" "PKCS#11 token: not exportable"
    check_fails "enable refused" H enable hsm --services https
    check_match "  ... services read key files" "$(cat "$T/last.out")" "PKCS#11 token.*read their key from a file"
    check_match "renew (same key in the token)" "$("$CM" --passphrase-file "$PASS" host --store "$S" renew hsm 2>&1)" "hsm.*renewed"
    check_eq "  ... the renewed certificate still certifies the token's key" \
        "$(openssl x509 -in "$S/entries/hsm/cert.pem" -noout -pubkey)" "$(openssl req -in "$T/hsm.csr" -noout -pubkey)"
    check_fails "renew --rekey refused" "$CM" --passphrase-file "$PASS" host --store "$S" renew hsm --rekey
else
    echo "# SKIP PKCS#11 host keys: softhsm2 missing (scripts/install-deps.sh)"
fi

# --- remove ------------------------------------------------------------------------
check "remove" H remove man
check_fails "removed: show fails" H show man
check "removed: no files left" test ! -e "$S/entries/man"

done_testing
