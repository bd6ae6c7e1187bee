#!/bin/sh
# Hostile subjects and SANs (issue 9, section 2). A corpus of requests built
# byte for byte with tests/tools/name_csr (control characters, C1, DEL, bad
# UTF-8, over-long values, empty attributes, wrong string types, bad
# countries, bad DNS names, misplaced wildcards, over-long e-mail
# addresses) goes to every built-in profile: each must be denied with its
# reason in the database (view: Disposition denied, DispositionMessage) and
# in the CERTDENIED event (file exit module). The acceptable edge cases (a
# 64-character CN, an A-label, a wildcard where allowed, values at the upper
# bounds) must be issued, and every certificate issued must pass x509lint
# (built from ../shared/tools/x509lint in the temp folder; any "E:" line is
# a failure) and `openssl verify -x509_strict`. Also: certificatePolicies per
# profile, and a crafted crl.cdp_url cannot add distribution points.
. "$(dirname "$0")/lib.sh"

NC="$BUILD/tools/name_csr"
[ -x "$NC" ] || { fail "test tool $NC is missing (make tools)"; done_testing; }

# x509lint: copied and built here (shared/ is read-only).
X5SRC=""
for d in "${X509LINT_SRC:-}" "$TOP/../shared/tools/x509lint" "$TOP/../../shared/tools/x509lint" \
    /work/shared/tools/x509lint; do
    if [ -n "$d" ] && [ -f "$d/x509lint.c" ]; then X5SRC=$d; break; fi
done
X5="$T/x509lint/x509lint"
if [ -z "$X5SRC" ]; then
    fail "x509lint source not found (set X509LINT_SRC)"
else
    cp -r "$X5SRC" "$T/x509lint" && chmod -R u+w "$T/x509lint"
    check "x509lint builds" make -s -C "$T/x509lint" CC=cc
fi

H="$T/ca"
check "init a root with O and C (x509lint wants them in the issuer)" \
    cm "$H" init --subject "/CN=Hostile Names Root/O=certmint tests/C=DE" --key ec:p256
cm "$H" ca-cert >"$T/root.pem"
check "set crl.cdp_url" cm "$H" config set crl.cdp_url http://crl.example.com/root.crl
check "set ca.aia_url" cm "$H" config set ca.aia_url http://ca.example.com/root.crt
check "set ca.ocsp_url" cm "$H" config set ca.ocsp_url http://ocsp.example.com/
mkdir -p "$T/events"
check "file exit module" cm "$H" config set exit.file.dir "$T/events"
check "exit.modules file" cm "$H" config set exit.modules file

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/k.pem" 2>/dev/null

# hx TEXT: the bytes of TEXT (printf escapes allowed) in hex.
hx() { printf "X$1" | od -An -v -tx1 | tr -d ' \n' | cut -c3-; }
# rep N CHAR: CHAR N times.
rep() { head -c "$1" /dev/zero | tr '\0' "$2"; }

# Every issued certificate passes x509lint (no E:) and openssl -x509_strict.
lint_issued() {
    what=$1 pem=$2
    if [ -x "$X5" ]; then
        "$X5" "$pem" >"$T/x5.out" 2>&1
        if grep -q '^E:' "$T/x5.out"; then
            fail "$what: x509lint: $(grep '^E:' "$T/x5.out" | tr '\n' ' ')"
        else
            ok "$what: x509lint has no errors"
        fi
        # Warnings that would matter (see docs/lint.md): wrong string types,
        # duplicate SANs, missing HTTP issuer URL.
        if grep -Eq '^W: (The name entry|Duplicate SAN|No HTTP URL)' "$T/x5.out"; then
            fail "$what: x509lint warns: $(grep '^W:' "$T/x5.out" | tr '\n' ' ')"
        fi
    fi
    check "$what: openssl verify -x509_strict" \
        openssl verify -x509_strict -CAfile "$T/root.pem" "$pem"
}

# Columns of request N, CSV without the header.
col() { cm "$H" view --restrict "RequestID=$1" --out "$2" --format csv | sed -n 2p | tr -d '\r'; }

PROFILES="tls-server tls-client smime subca"
NDENIED=0

# deny_case NAME REGEX ITEM...: every profile denies the request, and the
# message (view and CERTDENIED event) matches REGEX.
deny_case() {
    name=$1 re=$2
    shift 2
    if ! "$NC" "$T/k.pem" "$T/$name.csr" "$@" 2>"$T/nc.err"; then
        fail "$name: name_csr: $(cat "$T/nc.err")"
        return
    fi
    for prof in $PROFILES; do
        out=$(cm "$H" submit --profile "$prof" --out "$T/$name-$prof.pem" "$T/$name.csr" 2>&1)
        rc=$?
        id=$(cm "$H" view --out RequestID --format csv | tail -n 1 | tr -d '\r')
        disp=$(col "$id" Disposition)
        msg=$(col "$id" DispositionMessage)
        if [ "$rc" -ne 3 ] || [ "$disp" != denied ] || [ -s "$T/$name-$prof.pem" ]; then
            fail "$name/$prof: expected a denial, got exit $rc, disposition '$disp': $out"
            continue
        fi
        if printf '%s' "$msg" | grep -Eq -- "$re"; then
            ok "$name/$prof: denied: $(printf '%s' "$msg" | cut -c1-150)"
        else
            fail "$name/$prof: denial '$msg' does not match /$re/"
        fi
        NDENIED=$((NDENIED + 1))
        # The message itself is safe to print: no raw control byte.
        if printf '%s' "$msg" | LC_ALL=C grep -q '[[:cntrl:]]'; then
            fail "$name/$prof: the stored reason holds control characters"
        fi
        ev=$(grep -l "\"request_id\":\"$id\"" "$T"/events/*-CERTDENIED.json 2>/dev/null | head -n 1)
        if [ -n "$ev" ] && grep -q '"DispositionMessage":"Denied by policy' "$ev"; then
            :
        else
            fail "$name/$prof: no CERTDENIED event with the reason for request $id"
        fi
    done
}

# undecodable_case NAME REGEX ITEM...: a subject libcrypto cannot even
# decode (invalid UTF-8 in a UTF8String): every profile refuses the file
# as bad input, naming it and the reason, with no row added and nothing
# signed; or, where libcrypto decodes it, denies it as deny_case does.
undecodable_case() {
    name=$1 re=$2
    shift 2
    "$NC" "$T/k.pem" "$T/$name.csr" "$@" || { fail "$name: name_csr failed"; return; }
    for prof in $PROFILES; do
        before=$(cm "$H" view --out RequestID --format csv | wc -l)
        out=$(cm "$H" submit --profile "$prof" --out "$T/$name-$prof.pem" "$T/$name.csr" 2>&1)
        rc=$?
        after=$(cm "$H" view --out RequestID --format csv | wc -l)
        if [ -s "$T/$name-$prof.pem" ]; then
            fail "$name/$prof: a certificate was issued"
        elif [ "$rc" -eq 3 ] && printf '%s' "$out" | grep -Eq -- "denied.*($re)"; then
            ok "$name/$prof: denied: $(printf '%s' "$out" | cut -f5 | cut -c1-120)"
        elif [ "$rc" -ne 0 ] && [ "$before" = "$after" ] &&
            printf '%s' "$out" | grep -Eq -- "$name.csr: bad subject name.*invalid utf8string"; then
            ok "$name/$prof: refused as undecodable, database unchanged"
        else
            fail "$name/$prof: exit $rc, rows $before -> $after: $out"
        fi
    done
}

# issue_case NAME "PROFILES" ITEM...: the listed profiles issue it (and the
# certificate passes x509lint and openssl); the others deny it.
issue_case() {
    name=$1 want=$2
    shift 2
    "$NC" "$T/k.pem" "$T/$name.csr" "$@" || { fail "$name: name_csr failed"; return; }
    for prof in $PROFILES; do
        pem="$T/$name-$prof.pem"
        out=$(cm "$H" submit --profile "$prof" --out "$pem" "$T/$name.csr" 2>&1)
        rc=$?
        case " $want " in
        *" $prof "*)
            if [ "$prof" = subca ]; then
                id=$(printf '%s' "$out" | cut -f1)
                cm "$H" approve "$id" --out "$pem" >/dev/null 2>&1
            fi
            if [ -s "$pem" ]; then
                ok "$name/$prof: issued"
                lint_issued "$name/$prof" "$pem"
            else
                fail "$name/$prof: not issued (exit $rc): $out"
            fi
            ;;
        *)
            if [ "$prof" = subca ] && [ "$rc" -eq 0 ]; then
                # Pending: the approval decides.
                id=$(printf '%s' "$out" | cut -f1)
                cm "$H" approve "$id" --out "$pem" >/dev/null 2>&1
            fi
            if [ -s "$pem" ]; then
                fail "$name/$prof: unexpectedly issued"
                lint_issued "$name/$prof" "$pem"
            else
                ok "$name/$prof: not issued"
            fi
            ;;
        esac
    done
}

CN_OK="CN:utf8:$(hx 'hostile name test')"

# ---- Hostile subjects: every profile denies, naming the fault ----------
deny_case cn_crlf 'control character 0x0D' "CN:utf8:$(hx 'evil\r\nBcc: victim@example.com')"
deny_case cn_lf 'control character 0x0A' "CN:utf8:$(hx 'www.example.com\nX-Injected: 1')"
deny_case cn_esc 'control character 0x1B' "CN:utf8:$(hx '\033[2J\033]0;owned\007')"
deny_case cn_c1 'control character U\+009B' "CN:utf8:$(hx 'a\302\233b.example.com')"
deny_case o_c1_nel 'control character U\+0085' "$CN_OK" "O:utf8:$(hx 'Org\302\205Name')"
deny_case cn_del 'control character 0x7F' "CN:utf8:$(hx 'a\177b')"
deny_case cn_nul 'control character 0x00' "CN:utf8:$(hx 'a\000b')"
deny_case cn_tab 'control character 0x09' "CN:utf8:$(hx 'a\tb')"
deny_case cn_300 'commonName has 300 characters, more than the upper bound of 64' \
    "CN:utf8:$(hx "$(rep 300 a)")"
deny_case cn_65 'commonName has 65 characters' "CN:utf8:$(hx "$(rep 65 a)")"
deny_case o_20000 'organizationName has 20000 characters' "$CN_OK" \
    "O:utf8:$(rep 20000 A | od -An -v -tx1 | tr -d ' \n')"
deny_case o_65 'organizationName has 65 characters' "$CN_OK" "O:utf8:$(hx "$(rep 65 o)")"
deny_case ou_65 'organizationalUnitName has 65 characters' "$CN_OK" "OU:utf8:$(hx "$(rep 65 u)")"
deny_case l_129 'localityName has 129 characters' "$CN_OK" "L:utf8:$(hx "$(rep 129 l)")"
deny_case st_129 'stateOrProvinceName has 129 characters' "$CN_OK" "ST:utf8:$(hx "$(rep 129 s)")"
deny_case serial_65 'serialNumber has 65 characters' "$CN_OK" \
    "serialNumber:printable:$(hx "$(rep 65 1)")"
deny_case email_256 'emailAddress has 256 characters' "$CN_OK" \
    "emailAddress:ia5:$(hx "$(rep 244 e)@example.com")"
undecodable_case utf8_bad 'invalid UTF-8' "CN:utf8:61ffe262"
undecodable_case utf8_overlong 'invalid UTF-8 byte 0xC0' "CN:utf8:$(hx 'a\300\257b')"
undecodable_case utf8_truncated 'truncated UTF-8' "CN:utf8:$(hx 'abc\342\202')"
undecodable_case utf8_surrogate 'overlong, surrogate' "CN:utf8:$(hx 'a\355\240\200b')"
undecodable_case utf8_c1_raw 'invalid UTF-8 byte 0x9B' "CN:utf8:$(hx 'ab\233cd')"
deny_case o_empty 'organizationName is empty' "$CN_OK" "O:utf8:"
deny_case cn_empty 'commonName is empty' "CN:utf8:"
deny_case c_three 'countryName has 3 characters' "$CN_OK" "C:printable:$(hx DEU)"
deny_case c_lower 'two upper-case letters' "$CN_OK" "C:printable:$(hx de)"
deny_case c_digits 'two upper-case letters' "$CN_OK" "C:printable:$(hx 12)"
deny_case c_utf8 'countryName is a UTF8String' "$CN_OK" "C:utf8:$(hx DE)"
deny_case cn_bmp 'commonName is a BMPString' "CN:bmp:00610062"
deny_case cn_t61 'commonName is a TeletexString' "CN:t61:$(hx abc)"
deny_case cn_printable_at 'not allowed in a PrintableString' "CN:printable:$(hx 'a@b')"
deny_case cn_printable_ctl 'control character 0x0A' "CN:printable:$(hx 'a\nb')"
deny_case email_utf8 'emailAddress is a UTF8String' "$CN_OK" "emailAddress:utf8:$(hx a@example.com)"
deny_case email_ctl 'control character 0x0D' "$CN_OK" "emailAddress:ia5:$(hx 'a\r@example.com')"
deny_case email_bad 'emailAddress' "$CN_OK" "emailAddress:ia5:$(hx 'not an address')"
deny_case attr_unknown 'attribute type 1.2.3.4 is not one certmint issues' "$CN_OK" \
    "1.2.3.4:utf8:$(hx x)"

# ---- Hostile SANs -------------------------------------------------------
# Each profile denies: where the SAN type is allowed the reason is the name
# itself, elsewhere that the profile does not allow the type.
L64=$(rep 64 a)
L63=$(rep 63 b)
deny_case dns_label64 "label.*63|does not allow" "$CN_OK" "san:dns:$(hx "$L64.example.com")"
deny_case dns_254 "253|does not allow|too long" "$CN_OK" \
    "san:dns:$(hx "$L63.$L63.$L63.$(rep 58 c).com")"
deny_case dns_empty_label "empty label|does not allow" "$CN_OK" "san:dns:$(hx 'a..example.com')"
deny_case dns_hyphen "hyphen|does not allow" "$CN_OK" "san:dns:$(hx '-a.example.com')"
deny_case dns_space "not allowed|character|does not allow" "$CN_OK" "san:dns:$(hx 'exa mple.com')"
deny_case dns_crlf "character|does not allow" "$CN_OK" "san:dns:$(hx 'a\r\n.example.com')"
deny_case dns_underscore "underscore|character|does not allow" "$CN_OK" "san:dns:$(hx '_srv.example.com')"
deny_case dns_ip "numeric|digits|does not allow" "$CN_OK" "san:dns:$(hx '192.0.2.1')"
deny_case dns_utf8 "ASCII|A-label|does not allow" "$CN_OK" "san:dns:$(hx 'b\303\274cher.example.com')"
deny_case dns_trailing_dot "dot|does not allow" "$CN_OK" "san:dns:$(hx 'www.example.com.')"
deny_case wild_middle "wildcard|does not allow" "$CN_OK" "san:dns:$(hx 'a.*.example.com')"
deny_case wild_partial "wildcard|does not allow" "$CN_OK" "san:dns:$(hx 'f*o.example.com')"
deny_case wild_double "wildcard|does not allow" "$CN_OK" "san:dns:$(hx '*.*.example.com')"
deny_case wild_tld "wildcard|does not allow" "$CN_OK" "san:dns:$(hx '*.com')"
deny_case wild_alone "two labels|does not allow" "$CN_OK" "san:dns:$(hx '*')"
deny_case email_local65 "local part longer than 64|does not allow" "$CN_OK" \
    "san:email:$(hx "$(rep 65 x)@example.com")"
deny_case email_300 "254|longer|does not allow" "$CN_OK" \
    "san:email:$(hx "x@$L63.$L63.$L63.$(rep 60 d).com")"
deny_case email_crlf "character|does not allow" "$CN_OK" "san:email:$(hx 'ab\r\n@example.com')"
deny_case email_header "more than one|does not allow" "$CN_OK" \
    "san:email:$(hx 'a@example.com\r\nBcc: b@example.com')"
deny_case email_quoted "quoted|character|does not allow" "$CN_OK" "san:email:$(hx '"a b"@example.com')"
deny_case email_noat "@|does not allow" "$CN_OK" "san:email:$(hx 'example.com')"
deny_case uri_js "authority|scheme|host|does not allow" "$CN_OK" "san:uri:$(hx 'javascript:alert(1)')"
deny_case ip_5 "octets|does not allow" "$CN_OK" "san:ip:0102030405"
# A wildcard where the profile does not allow one: tls-client allows DNS
# SANs but not wildcards.
"$NC" "$T/k.pem" "$T/wild_client.csr" "CN:utf8:$(hx '*.example.com')" "san:dns:$(hx '*.example.com')"
cm "$H" submit --profile tls-client "$T/wild_client.csr" >"$T/wc.out" 2>&1
check_match "tls-client refuses a wildcard (profile.tls-client.wildcards)" "$(cat "$T/wc.out")" \
    "denied.*does not allow wildcard"
check_eq "denials recorded for every hostile request and profile" "$NDENIED" \
    "$(($(grep -c '^deny_case ' "$0") * 4))"

# ---- Acceptable edge cases: issued, and clean under x509lint/openssl ---
H64="$(rep 52 h).example.com"  # 64 characters: ub-common-name exactly
issue_case cn_64 "tls-server tls-client" "CN:utf8:$(hx "$H64")" "san:dns:$(hx "$H64")"
issue_case alabel "tls-server tls-client" "CN:utf8:$(hx xn--bcher-kva.example.com)" \
    "san:dns:$(hx xn--bcher-kva.example.com)"
issue_case wildcard "tls-server" "CN:utf8:$(hx '*.example.com')" "san:dns:$(hx '*.example.com')" \
    "san:dns:$(hx example.com)"
issue_case long_labels "tls-server tls-client" "C:printable:$(hx DE)" \
    "san:dns:$(hx "$L63.example.com")" "san:dns:$(hx "$L63.$L63.$L63.$(rep 57 c).com")"
issue_case country_only "tls-server tls-client" "C:printable:$(hx DE)" \
    "CN:utf8:$(hx srv.example.com)" "san:dns:$(hx srv.example.com)"
# An organization at the bounds, with the place and country that x509lint
# (CA/B BR 7.1.4.2.2) asks for; the UTF-8 is real text, not controls.
ORG="C:printable:$(hx DE) ST:utf8:$(hx "$(rep 128 s)") L:utf8:$(hx "M\303\274nchen $(rep 120 l)")"
ORG="$ORG O:utf8:$(hx "$(rep 64 o)") OU:utf8:$(hx "$(rep 64 u)")"
# shellcheck disable=SC2086
issue_case org_bounds "tls-client smime" $ORG "CN:utf8:$(hx "J\303\266rg M\303\274ller")" \
    "san:email:$(hx "$(rep 64 j)@example.com")"
# shellcheck disable=SC2086
issue_case printable_ok "tls-client" $ORG "CN:printable:$(hx "Device 42 (lab), rack-7/A")" \
    "san:dns:$(hx device42.example.com)"
issue_case subca_ok "subca tls-client" "C:printable:$(hx DE)" "L:utf8:$(hx Berlin)" \
    "O:utf8:$(hx 'certmint tests')" \
    "CN:utf8:$(hx 'Hostile Names Issuing CA')"
issue_case email_254 "tls-client smime" "CN:utf8:$(hx 'Mail User')" \
    "san:email:$(hx "x@$L63.$L63.$L63.$(rep 56 d).com")"

# ---- certificatePolicies per profile ------------------------------------
pol() { openssl x509 -in "$1" -noout -ext certificatePolicies 2>/dev/null | sed -n 's/^ *Policy: //p' | tr '\n' ' '; }
check_eq "tls-server carries the CA/B domain-validated OID" "$(pol "$T/cn_64-tls-server.pem")" "2.23.140.1.2.1 "
check_eq "tls-client carries anyPolicy" "$(pol "$T/cn_64-tls-client.pem")" "X509v3 Any Policy "
check_eq "smime carries the S/MIME BR mailbox-validated OID" "$(pol "$T/org_bounds-smime.pem")" "2.23.140.1.5.1.2 "
check_eq "subca carries anyPolicy" "$(pol "$T/subca_ok-subca.pem")" "X509v3 Any Policy "
check_fails "config set refuses a bad policy OID" cm "$H" config set profile.tls-server.policies 2.23.x
check_match "the error names the OID" "$(cm "$H" config set profile.tls-server.policies '2.23.140.1.2.1 3.1' 2>&1)" \
    "policy OID '3.1'"
check "config set takes OIDs separated by spaces and commas" \
    cm "$H" config set profile.tls-client.policies "1.3.6.1.4.1.99999.1.1  1.3.6.1.4.1.99999.1.2,anyPolicy"
check_eq "normalized" "$(cm "$H" config get profile.tls-client.policies)" \
    "1.3.6.1.4.1.99999.1.1,1.3.6.1.4.1.99999.1.2,2.5.29.32.0"
cm "$H" submit --profile tls-client --out "$T/pol2.pem" "$T/alabel.csr" >/dev/null 2>&1
check_eq "the configured policies are in the certificate" "$(pol "$T/pol2.pem")" \
    "1.3.6.1.4.1.99999.1.1 1.3.6.1.4.1.99999.1.2 X509v3 Any Policy "
check "policies none" cm "$H" config set profile.tls-client.policies none
cm "$H" submit --profile tls-client --out "$T/pol3.pem" "$T/alabel.csr" >/dev/null 2>&1
check_eq "no certificatePolicies with none" "$(pol "$T/pol3.pem")" ""
# The DV OID allows only CN and C (CA/B BR 7.1.2.7.2): a tls-server request
# with an organization is denied by the lint.
"$NC" "$T/k.pem" "$T/dv_org.csr" "O:utf8:$(hx Example)" "CN:utf8:$(hx www.example.com)" \
    "san:dns:$(hx www.example.com)"
cm "$H" submit --profile tls-server "$T/dv_org.csr" >"$T/dv.out" 2>&1
check_match "tls-server (DV) with O is denied by policy_subject" "$(cat "$T/dv.out")" \
    "denied.*policy_subject"

# ---- A crafted CRL URL cannot add distribution points -------------------
check_fails "config set refuses a URL holding a second URL" \
    cm "$H" config set crl.cdp_url "http://crl.example.com/x.crl,URI:http://evil.example/"
check_match "the error says why" \
    "$(cm "$H" config set crl.cdp_url 'http://crl.example.com/x.crl,URI:http://evil.example/' 2>&1)" \
    "second URL"
check_fails "config set refuses a quote in a URL" cm "$H" config set ca.aia_url 'http://a.example/"x'
check_eq "crl.cdp_url unchanged" "$(cm "$H" config get crl.cdp_url)" "http://crl.example.com/root.crl"
# A comma is data in a URI (RFC 3986 sub-delims): one DP holding it all.
check "a URL with a comma is accepted" cm "$H" config set crl.cdp_url "http://crl.example.com/a,URI:b.crl"
cm "$H" submit --profile tls-server --out "$T/cdp.pem" "$T/alabel.csr" >/dev/null 2>&1
cdp=$(openssl x509 -in "$T/cdp.pem" -noout -ext crlDistributionPoints 2>/dev/null | grep -c 'URI:')
check_eq "exactly one distribution point URI" "$cdp" 1
check_match "holding the whole configured URL" \
    "$(openssl x509 -in "$T/cdp.pem" -noout -ext crlDistributionPoints 2>/dev/null)" \
    'URI:http://crl.example.com/a,URI:b.crl$'
# Written into the file by hand, bypassing config set: issuance refuses it.
sed -i 's|^crl.cdp_url.*|crl.cdp_url = http://crl.example.com/x.crl,URI:http://evil.example/|' \
    "$H/certmint.conf" 2>/dev/null
if grep -q 'evil.example' "$H/certmint.conf" 2>/dev/null; then
    cm "$H" submit --profile tls-server --out "$T/evil.pem" "$T/alabel.csr" >"$T/evil.out" 2>&1
    if [ -s "$T/evil.pem" ]; then
        n=$(openssl x509 -in "$T/evil.pem" -noout -ext crlDistributionPoints | grep -c 'URI:')
        check_eq "a hand-edited crafted URL still gives one distribution point" "$n" 1
    else
        check_match "a hand-edited crafted URL is refused at issuance" "$(cat "$T/evil.out")" \
            "crl.cdp_url.*second URL"
    fi
else
    fail "could not edit the configuration file by hand ($H/certmint.conf)"
fi

done_testing
