#!/bin/sh
# End to end: CA hierarchy, profiles, every key type, checked with openssl and
# GnuTLS certtool.
. "$(dirname "$0")/lib.sh"

verify_openssl() { # what cert root [untrusted]
    if [ -n "${4:-}" ]; then
        check "$1 (openssl verify -x509_strict)" openssl verify -x509_strict -CAfile "$3" -untrusted "$4" "$2"
    else
        check "$1 (openssl verify -x509_strict)" openssl verify -x509_strict -CAfile "$3" "$2"
    fi
}
verify_certtool() { # what chainfile(leaf first, root last)
    if certtool --verify-chain --infile "$2" >"$T/certtool.out" 2>&1 &&
        grep -q 'Chain verification output: Verified' "$T/certtool.out"; then
        ok "$1 (certtool --verify-chain)"
    else
        fail "$1 (certtool --verify-chain): $(grep -i 'verif' "$T/certtool.out" | tail -n 2 | tr '\n' ' ')"
    fi
}

# Every CA key type issuing for every built-in profile.
for ck in ec:p256 ec:p384 rsa:2048 ed25519; do
    H="$T/ca-$(echo "$ck" | tr ':' '-')"
    check "init root $ck" new_root "$H" "$ck"
    cm "$H" ca-cert >"$H.root.pem"
    # The key is encrypted at rest and private (or in the token).
    if [ "$KEYSTORE" = softhsm ]; then
        check_eq "key URI file mode 0600 ($ck)" "$(stat -c %a "$H/private/ca.key.uri")" 600
    else
        mode=$(stat -c %a "$H/private/ca.key")
        check_eq "key file mode 0600 ($ck)" "$mode" 600
        check "key file is encrypted PKCS#8 ($ck)" grep -q 'BEGIN ENCRYPTED PRIVATE KEY' "$H/private/ca.key"
    fi
    # Signature hash follows the key.
    sigalg=$(openssl x509 -in "$H.root.pem" -noout -text | grep -m1 'Signature Algorithm' | sed 's/.*: //')
    case "$ck" in
    ec:p256) check_eq "root signs with SHA-256 ($ck)" "$sigalg" "ecdsa-with-SHA256" ;;
    ec:p384) check_eq "root signs with SHA-384 ($ck)" "$sigalg" "ecdsa-with-SHA384" ;;
    rsa:*) check_eq "root signs with SHA-256 ($ck)" "$sigalg" "sha256WithRSAEncryption" ;;
    ed25519) check_eq "root signs with Ed25519" "$sigalg" "ED25519" ;;
    esac
    for prof in tls-server tls-client smime; do
        case "$prof" in
        tls-server) san="DNS:mail.example.org,DNS:smtp.example.org,IP:192.0.2.25"; subj="/CN=mail.example.org" ;;
        tls-client) san="DNS:client.example.org"; subj="/CN=client.example.org/O=Example" ;;
        smime) san="email:alice@example.org"; subj="/CN=Alice Example/emailAddress=alice@example.org" ;;
        esac
        for sk in ec:p256 rsa:2048; do
            tag="$ck/$prof/$sk"
            f="$T/$(echo "$tag" | tr ':/' '--')"
            make_csr "$sk" "$f.csr" "$f.key" "$subj" "$san"
            if cm "$H" submit --profile "$prof" --out "$f.pem" "$f.csr" >"$f.out" 2>&1; then
                ok "submit $tag"
            else
                fail "submit $tag: $(cat "$f.out")"
                continue
            fi
            verify_openssl "$tag" "$f.pem" "$H.root.pem"
            cat "$f.pem" "$H.root.pem" >"$f.chain"
            verify_certtool "$tag" "$f.chain"
            # The certificate is the profile's: EKU and SAN.
            txt=$(openssl x509 -in "$f.pem" -noout -text)
            case "$prof" in
            tls-server) check_match "$tag has serverAuth and SANs" "$txt" "TLS Web Server Authentication" ;;
            tls-client) check_match "$tag has clientAuth" "$txt" "TLS Web Client Authentication" ;;
            smime) check_match "$tag has emailProtection and e-mail SAN" "$(echo "$txt" | tr '\n' ' ')" "E-mail Protection.*email:alice@example.org" ;;
            esac
            # Serial: positive, at least 64 bits (we use 16 octets).
            ser=$(openssl x509 -in "$f.pem" -noout -serial | cut -d= -f2)
            check_match "$tag serial is long and positive" "$ser" '^[1-7][0-9A-F]{31}$'
        done
    done
done

# The remaining key types: RSA-3072 and RSA-4096 CAs, and every subject key
# type under one profile.
for ck in rsa:3072 rsa:4096; do
    H="$T/ca-$(echo "$ck" | tr ':' '-')"
    check "init root $ck" new_root "$H" "$ck"
    cm "$H" ca-cert >"$H.root.pem"
    make_csr ec:p256 "$H.csr" "$H.key" "/CN=srv.example.org" "DNS:srv.example.org"
    check "$ck issues" cm "$H" submit --profile tls-server --out "$H.pem" "$H.csr"
    verify_openssl "$ck/tls-server" "$H.pem" "$H.root.pem"
    cat "$H.pem" "$H.root.pem" >"$H.chain"
    verify_certtool "$ck/tls-server" "$H.chain"
done
H="$T/ca-ec-p384"
for sk in ec:p384 rsa:3072 ed25519; do
    f="$T/subject-$(echo "$sk" | tr ':' '-')"
    make_csr "$sk" "$f.csr" "$f.key" "/CN=client.example.org" "DNS:client.example.org"
    check "subject key $sk (tls-client)" cm "$H" submit --profile tls-client --out "$f.pem" "$f.csr"
    verify_openssl "subject key $sk" "$f.pem" "$H.root.pem"
    check "certificate holds the request's key ($sk)" sh -c \
        "[ \"\$(openssl x509 -in '$f.pem' -noout -pubkey)\" = \"\$(openssl pkey -in '$f.key' -pubout)\" ]"
done

# smime with the address only in the subject's emailAddress gets an rfc822Name SAN.
H="$T/ca-ec-p256"
make_csr ec:p256 "$T/bob.csr" "$T/bob.key" "/CN=Bob/emailAddress=bob@example.org"
check "smime from subject emailAddress" cm "$H" submit --profile smime --out "$T/bob.pem" "$T/bob.csr"
check_match "smime SAN added from emailAddress" "$(openssl x509 -in "$T/bob.pem" -noout -ext subjectAltName 2>/dev/null | tr '\n' ' ')" "email:bob@example.org"

# Policy denials are recorded with a message (exit 3).
make_csr ec:p256 "$T/nosan.csr" "$T/nosan.key" "/CN=www.example.org"
cm "$H" submit --profile tls-server "$T/nosan.csr" >"$T/deny.out" 2>&1
check_eq "tls-server without SAN is denied (exit 3)" "$?" 3
check_match "denial says why" "$(cat "$T/deny.out")" "denied.*requires a subjectAltName"
make_csr ec:p256 "$T/cnmis.csr" "$T/cnmis.key" "/CN=other.example.org" "DNS:www.example.org"
cm "$H" submit --profile tls-server "$T/cnmis.csr" >"$T/deny2.out" 2>&1
check_match "CN not among SANs is denied (BR 7.1.4.3)" "$(cat "$T/deny2.out")" "denied.*not among the SANs"
make_csr ec:p256 "$T/badsan.csr" "$T/badsan.key" "/CN=x" "DNS:-bad-.example.org"
cm "$H" submit --profile tls-server "$T/badsan.csr" >"$T/deny3.out" 2>&1
check_match "malformed DNS SAN is denied" "$(cat "$T/deny3.out")" "denied"

# Pending, approve, deny, retrieve.
check "profile approval manual" cm "$H" config set profile.tls-client.approval manual
make_csr ec:p256 "$T/p1.csr" "$T/p1.key" "/CN=p1.example.org" "DNS:p1.example.org"
make_csr ec:p256 "$T/p2.csr" "$T/p2.key" "/CN=p2.example.org" "DNS:p2.example.org"
out=$(cm "$H" submit --profile tls-client "$T/p1.csr" "$T/p2.csr")
id1=$(echo "$out" | sed -n 1p | cut -f1)
id2=$(echo "$out" | sed -n 2p | cut -f1)
check_match "both requests pend" "$(echo "$out" | tr "\n" " ")" "pending.*pending"
check_match "pending lists them" "$(cm "$H" pending)" "$id1.*p1.example.org"
check_fails "retrieve of a pending request fails" cm "$H" retrieve "$id1"
check "approve" cm "$H" approve "$id1"
check "retrieve after approve" cm "$H" retrieve "$id1" --out "$T/p1.pem"
verify_openssl "approved certificate" "$T/p1.pem" "$H.root.pem"
check "deny" cm "$H" deny "$id2" --reason "not our host"
check_match "retrieve of a denied request says why" "$(cm "$H" retrieve "$id2" 2>&1)" "denied.*not our host"
check_fails "approve of a denied request fails" cm "$H" approve "$id2"

# Three-level hierarchy: root -> policy CA -> issuing CA -> leaf.
R="$T/h-root"; P="$T/h-policy"; I="$T/h-issuing"
new_root "$R" ec:p384 >/dev/null
cm "$R" ca-cert >"$T/root.pem"
check "init policy CA (subordinate)" cm "$P" init --subordinate --subject "/CN=Policy CA/O=certmint tests" --key ec:p384 --out "$T/policy.csr"
out=$(cm "$R" submit --profile subca "$T/policy.csr")
check_match "subca request pends for an officer" "$out" "pending"
pid=$(echo "$out" | cut -f1)
check "root approves the policy CA" cm "$R" approve "$pid" --out "$T/policy.pem"
check_fails "install-ca-cert refuses a chain without the root" cm "$P" install-ca-cert "$T/policy.pem"
check "install-ca-cert on the policy CA" cm "$P" install-ca-cert "$T/policy.pem" "$T/root.pem"
check "init issuing CA (subordinate)" cm "$I" init --subordinate --subject "/CN=Issuing CA/O=certmint tests" --key ec:p256 --out "$T/issuing.csr"
iid=$(cm "$P" submit --profile subca "$T/issuing.csr" | cut -f1)
check "policy CA approves the issuing CA" cm "$P" approve "$iid" --out "$T/issuing.pem"
cm "$P" ca-cert --chain >"$T/policy-chain.pem"
check "install-ca-cert on the issuing CA" cm "$I" install-ca-cert "$T/issuing.pem" "$T/policy-chain.pem"
check_fails "install-ca-cert twice is refused" cm "$I" install-ca-cert "$T/issuing.pem" "$T/policy-chain.pem"
make_csr ec:p256 "$T/leaf.csr" "$T/leaf.key" "/CN=leaf.example.org" "DNS:leaf.example.org"
check "issuing CA issues a leaf" cm "$I" submit --profile tls-server --out "$T/leaf.pem" "$T/leaf.csr"
cm "$I" ca-cert --chain >"$T/issuing-chain.pem"
check_eq "chain has issuing CA, policy CA, root" "$(grep -c 'BEGIN CERTIFICATE' "$T/issuing-chain.pem")" 3
verify_openssl "three-level chain" "$T/leaf.pem" "$T/root.pem" "$T/issuing-chain.pem"
cat "$T/leaf.pem" "$T/issuing-chain.pem" >"$T/full-chain.pem"
verify_certtool "three-level chain" "$T/full-chain.pem"
# A wrong certificate for the subordinate's key is refused.
check "init another subordinate" cm "$T/h-other" init --subordinate --subject "/CN=Other CA" --key ec:p256 --out "$T/other.csr"
check_fails "install-ca-cert refuses a certificate for another key" cm "$T/h-other" install-ca-cert "$T/issuing.pem" "$T/policy-chain.pem"

# Dates on both sides of 2050 (RFC 5280 4.1.2.5).
L="$T/h-long"
check "root valid past 2050" new_root "$L" ec:p256 --days 36500
cm "$L" ca-cert >"$T/long-root.pem"
# A configured profile (TLS server certificates may not live past 398 days,
# CA/B BR 6.3.2: the lint refuses them, see below).
check "profile valid to 2051+" cm "$L" config set profile.longlived.base tls-client
check "profile days" cm "$L" config set profile.longlived.days 9500
make_csr ec:p256 "$T/late.csr" "$T/late.key" "/CN=late.example.org" "DNS:late.example.org"
cm "$L" submit --profile longlived --out "$T/late.pem" "$T/late.csr" >/dev/null
cm "$L" config set profile.tls-server.days 9500
cm "$L" submit --profile tls-server "$T/late.csr" >"$T/late-deny.out" 2>&1
check_match "lint refuses a TLS server certificate over 398 days" "$(cat "$T/late-deny.out")" "denied.*lint"
asn=$(openssl asn1parse -in "$T/late.pem" | grep -E 'UTCTIME|GENERALIZEDTIME' | head -n 2)
check_match "notBefore before 2050 is UTCTime" "$(echo "$asn" | sed -n 1p)" "UTCTIME"
check_match "notAfter from 2050 is GeneralizedTime" "$(echo "$asn" | sed -n 2p)" "GENERALIZEDTIME"
verify_openssl "certificate valid past 2050" "$T/late.pem" "$T/long-root.pem"
# notAfter is capped at the CA's notAfter.
S="$T/h-short"
new_root "$S" ec:p256 --days 30 >/dev/null
cm "$S" ca-cert >"$T/short-root.pem"
cm "$S" submit --profile tls-server --out "$T/capped.pem" "$T/late.csr" >/dev/null
check_eq "notAfter capped at the CA's notAfter" \
    "$(openssl x509 -in "$T/capped.pem" -noout -enddate)" "$(openssl x509 -in "$T/short-root.pem" -noout -enddate)"

done_testing
