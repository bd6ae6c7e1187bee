#!/bin/sh
# End to end: revocation with reasons, hold and release, full and delta CRLs,
# CRL numbers across restarts; checked with openssl crl / verify -crl_check.
. "$(dirname "$0")/lib.sh"

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" ca-cert >"$T/root.pem"
issue() { # name -> prints serial; cert in $T/name.pem
    make_csr ec:p256 "$T/$1.csr" "$T/$1.key" "/CN=$1.example.org" "DNS:$1.example.org"
    cm "$H" submit --profile tls-server --out "$T/$1.pem" "$T/$1.csr" | cut -f3
}
s1=$(issue one); s2=$(issue two); s3=$(issue three); s4=$(issue four); s5=$(issue five)

crl_text() { openssl crl -inform DER -in "$H/crl/$1" -noout -text; }
crlnum() { crl_text "$1" | grep -A1 'X509v3 CRL Number' | tail -n 1 | tr -d ' '; }

check "first full CRL (empty)" cm "$H" crl
check "CRL verifies with the CA key" openssl crl -inform DER -in "$H/crl/ca.crl" -CAfile "$T/root.pem" -noout
check "PEM CRL published too" openssl crl -in "$H/crl/ca.crl.pem" -noout
n1=$(crlnum ca.crl)

# Revoke with reasons by name and by code, serial in colon form and lower case.
colon=$(echo "$s1" | sed 's/../&:/g; s/:$//' | tr 'A-F' 'a-f')
check "revoke by colon/lower-case serial, keyCompromise" cm "$H" revoke "$colon" keyCompromise
check "revoke by code (4 = superseded) with invalidity date" cm "$H" revoke "$s2" 4 --invalidity "2026-01-02 03:04:05"
check "revoke unspecified" cm "$H" revoke "$s3"
check_fails "revoking twice is refused" cm "$H" revoke "$s1" keyCompromise
check "put on hold" cm "$H" revoke "$s4" certificateHold
check "full CRL" cm "$H" crl
n2=$(crlnum ca.crl)
[ "$n2" -gt "$n1" ] && ok "CRL number increases ($n1 -> $n2)" || fail "CRL number $n1 -> $n2"
txt=$(crl_text ca.crl)
for s in "$s1" "$s2" "$s3" "$s4"; do check_match "full CRL lists $s" "$txt" "Serial Number: $s"; done
check_match "reason keyCompromise on the CRL" "$(echo "$txt" | grep -A4 "$s1" | tr '\n' ' ')" "Key Compromise"
check_match "reason superseded on the CRL" "$(echo "$txt" | grep -A6 "$s2" | tr '\n' ' ')" "Superseded"
check_match "invalidity date on the CRL" "$(echo "$txt" | grep -A8 "$s2" | tr '\n' ' ')" "Invalidity Date.*Jan  2 03:04:05 2026"
if echo "$txt" | grep -A4 "Serial Number: $s3" | grep -q 'Reason Code'; then
    fail "unspecified must carry no reason code (RFC 5280 5.3.1)"
else ok "no reason code for unspecified"; fi
check_match "hold on the CRL" "$(echo "$txt" | grep -A4 "$s4" | tr '\n' ' ')" "Certificate Hold"
cat "$T/root.pem" "$H/crl/ca.crl.pem" >"$T/root+crl.pem"
check_fails "revoked certificate fails openssl verify -crl_check" openssl verify -crl_check -CAfile "$T/root+crl.pem" "$T/one.pem"
check_match "openssl says revoked" "$(openssl verify -crl_check -CAfile "$T/root+crl.pem" "$T/one.pem" 2>&1)" "certificate revoked"
check "good certificate passes openssl verify -crl_check" openssl verify -x509_strict -crl_check -CAfile "$T/root+crl.pem" "$T/five.pem"

# Release from hold: leaves the next full CRL, removeFromCRL in the delta.
check_fails "unrevoke of a final reason is refused" cm "$H" unrevoke "$s1"
check_match "error names the reason" "$(cm "$H" unrevoke "$s1" 2>&1)" "keyCompromise"
check "unrevoke the hold" cm "$H" unrevoke "$s4"
check_fails "unrevoke twice is refused" cm "$H" unrevoke "$s4"
check "delta CRL" cm "$H" crl --delta
dtxt=$(openssl crl -inform DER -in "$H/crl/delta.crl" -noout -text)
check_match "delta has a critical Delta CRL Indicator" "$(echo "$dtxt" | tr '\n' ' ')" "Delta CRL Indicator: critical *[0-9]*$n2|Delta CRL Indicator: critical"
check_match "delta lists the release as removeFromCRL" "$(echo "$dtxt" | grep -A4 "$s4" | tr '\n' ' ')" "Remove From CRL"
check "delta verifies with the CA key" openssl crl -inform DER -in "$H/crl/delta.crl" -CAfile "$T/root.pem" -noout
check "full CRL after release" cm "$H" crl
if crl_text ca.crl | grep -q "Serial Number: $s4"; then fail "released hold still on the full CRL"; else ok "released hold left the full CRL"; fi
cat "$T/root.pem" "$H/crl/ca.crl.pem" >"$T/root+crl.pem"
check "released certificate verifies again with -crl_check" openssl verify -crl_check -CAfile "$T/root+crl.pem" "$T/four.pem"
check_fails "unhold-ed certificate cannot be unrevoked again" cm "$H" unrevoke "$s4"

# A delta after that full CRL: a new revocation only.
check "revoke five (cessationOfOperation)" cm "$H" revoke "$s5" cessationOfOperation
check "second delta" cm "$H" crl --delta
dtxt=$(openssl crl -inform DER -in "$H/crl/delta.crl" -noout -text)
check_match "delta lists the new revocation" "$dtxt" "Serial Number: $s5"
if echo "$dtxt" | grep -q "Serial Number: $s1"; then fail "delta repeats revocations of its base"; else ok "delta has only changes since its base"; fi

# CRL numbers strictly increase across processes (restarts).
last=$(crlnum delta.crl)
check "another full CRL after a restart" cm "$H" crl --out "$T/copy.crl"
new=$(crlnum ca.crl)
[ "$new" -gt "$last" ] && ok "CRL number after restart $last -> $new" || fail "CRL number after restart $last -> $new"
check "--out writes the same DER" cmp "$T/copy.crl" "$H/crl/ca.crl"

# Mass revocation from a file: one transaction.
for i in 1 2 3; do issue "m$i" >>"$T/mass.txt"; done
echo "# comment" >>"$T/mass.txt"
check "revoke --from-file" cm "$H" revoke --from-file "$T/mass.txt" affiliationChanged
check_eq "view shows 3 affiliationChanged" "$(cm "$H" view --restrict 'RevokedReason=affiliationChanged' --out SerialNumber --format csv | tail -n +2 | wc -l)" 3
issue m4 >"$T/mass2.txt"; echo "00FFFFFFFFFFFF" >>"$T/mass2.txt"
before=$(db_state "$H")
check_fails "mass revocation with an unknown serial fails" cm "$H" revoke --from-file "$T/mass2.txt"
check_eq "... and revokes none (database unchanged)" "$(db_state "$H")" "$before"

# Placeholders and imports can be revoked and listed.
check "placeholder for a lost serial" cm "$H" placeholder 0A:BB:CC:DD:EE:FF:00:11:22 --subject "/CN=lost.example.org" --not-after 2030-01-01
check_fails "duplicate placeholder refused" cm "$H" placeholder 0abbccddeeff001122
check "revoke the placeholder" cm "$H" revoke 0ABBCCDDEEFF001122 keyCompromise
check "CRL with the placeholder" cm "$H" crl
check_match "placeholder serial on the CRL" "$(crl_text ca.crl)" "Serial Number: 0ABBCCDDEEFF001122"

done_testing
