#!/bin/sh
# What a new administrator needs around the CA (issue 9, section 6): --help on
# every command, --version, suggestions for typos; `make install` (man pages,
# bash completion, the systemd unit); ca-cert/retrieve with their chain as PEM,
# DER and .p7b (checked with openssl and GnuTLS certtool); `certmint audit`;
# and --format json on every command that lists or reports (parsed with
# Python's json module and compared with what openssl reads from the files).
. "$(dirname "$0")/lib.sh"

# jget FILE EXPR: evaluates a Python expression over the JSON document d.
jget() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>&1
}
# json_ok "what" FILE: the file is one valid JSON document.
json_ok() {
    if python3 -m json.tool "$2" >/dev/null 2>"$T/json.err"; then ok "$1: valid JSON"; else
        fail "$1: not valid JSON: $(head -c 300 "$2") $(cat "$T/json.err")"
    fi
}
cmds=$("$CM" help | awk '/^Commands:/ {f=1; next} f && /^  [a-z]/ {print $1}')

# ---- --help, --version, suggestions -------------------------------------------
for c in $cmds; do
    "$CM" "$c" --help >"$T/h1" 2>&1
    rc=$?
    "$CM" help "$c" >"$T/h2" 2>&1
    if [ "$rc" -eq 0 ] && cmp -s "$T/h1" "$T/h2"; then ok "$c --help: exit 0, as 'help $c'"; else
        fail "$c --help: exit $rc, $(head -n 2 "$T/h1" | tr '\n' ' ')"
    fi
done
check_match "certmint --version" "$("$CM" --version)" '^certmint [0-9]+\.[0-9]+\.[0-9]+$'
check_eq "certmint --version is 'certmint version'" "$("$CM" --version)" "$("$CM" version)"
out=$("$CM" revok 2>&1)
rc=$?
check_eq "unknown command: exit 2" "$rc" 2
check_match "unknown command suggests the nearest" "$out" "unknown command 'revok'; did you mean 'revoke'\?"
check_match "help of a mistyped command suggests too" "$("$CM" help sbumit 2>&1)" "did you mean 'submit'"
check_match "a transposition is one edit" "$("$CM" reovke 2>&1)" "did you mean 'revoke'"
check_match "no suggestion for a word near nothing" "$("$CM" frobnicate 2>&1)" "unknown command 'frobnicate' \(see 'certmint help'\)"
out=$("$CM" retrieve 1 --ouput x.pem 2>&1)
rc=$?
check_eq "unknown option: exit 2" "$rc" 2
check_match "unknown option suggests the nearest" "$out" "retrieve: unrecognized option '--ouput'; did you mean '--out'\?"
check_match "option of another command: no wrong suggestion" "$("$CM" pending --subject x 2>&1)" \
    "pending: unrecognized option '--subject' \(see 'certmint help pending'\)"
check_match "global option typo" "$("$CM" --hme x view 2>&1)" "unrecognized option '--hme'; did you mean '--home'\?"
check_match "missing value named" "$("$CM" view --limit 2>&1)" "view: option '--limit' needs a value"
check_match "ambiguous abbreviation lists the candidates" "$("$CM" dspublish --cr 2>&1)" "'--cr' is ambiguous: --crl --create"
check_match "value to a flag refused" "$("$CM" backup --verify=x 2>&1)" "option '--verify' takes no value"
check_match "config subcommand typo" "$("$CM" --home "$T/nohome" config lsit 2>&1)" "unknown subcommand 'lsit'; did you mean 'list'\?"

# ---- make install ---------------------------------------------------------------
D="$T/root"
if make -C "$TOP" BUILD="$BUILD" install DESTDIR="$D" PREFIX=/usr >"$T/install.out" 2>&1; then
    ok "make install DESTDIR PREFIX=/usr"
else
    fail "make install: $(tail -n 5 "$T/install.out" | tr '\n' ' ')"
fi
for f in usr/bin/certmint usr/share/man/man1/certmint.1 usr/share/man/man5/certmint.conf.5 \
    usr/share/doc/certmint/README.md usr/share/doc/certmint/cli.md \
    usr/share/doc/certmint/operations.md usr/share/doc/certmint/examples/certmint.env \
    usr/lib/systemd/system/certmint.service usr/share/bash-completion/completions/certmint; do
    check "installed: /$f" test -s "$D/$f"
done
check_eq "installed binary is executable and runs --version" "$("$D/usr/bin/certmint" --version 2>&1)" "$("$CM" --version)"
check_match "the unit starts the installed binary" "$(grep '^ExecStart=' "$D/usr/lib/systemd/system/certmint.service")" \
    '^ExecStart=/usr/bin/certmint serve$'
for o in ProtectSystem=strict NoNewPrivileges=yes PrivateTmp=yes ProtectHome=yes \
    'CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_NET_BIND_SERVICE CAP_DAC_OVERRIDE CAP_CHOWN$' \
    'AmbientCapabilities=$' RestrictAddressFamilies= SystemCallFilter=@system-service \
    'SystemCallFilter=@setuid @chown$' ReadWritePaths=/var/lib/certmint EnvironmentFile=; do
    check "unit hardening: $o" grep -q "^$o" "$D/usr/lib/systemd/system/certmint.service"
done
# Started as root: serve itself forks the key process and switches to
# serve.user (docs/http.md, "Process model").
check_eq "unit: no User=/Group= (serve switches itself)" "$(grep -c '^User=\|^Group=' "$D/usr/lib/systemd/system/certmint.service")" 0
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify checks ExecStart= and the Documentation= man pages: point both
    # at the DESTDIR copies.
    sed -e "s|^ExecStart=/usr/bin/|ExecStart=$D/usr/bin/|" -e 's|^EnvironmentFile=|EnvironmentFile=-|' \
        "$D/usr/lib/systemd/system/certmint.service" >"$T/certmint.service"
    if MANPATH="$D/usr/share/man" systemd-analyze verify "$T/certmint.service" >"$T/verify.out" 2>&1; then
        ok "systemd-analyze verify certmint.service"
    else
        fail "systemd-analyze verify: $(head -n 5 "$T/verify.out" | tr '\n' ' ')"
    fi
else
    ok "systemd-analyze not installed: unit syntax not verified # SKIP"
fi
if command -v man >/dev/null 2>&1; then
    MANWIDTH=100 man -l "$D/usr/share/man/man1/certmint.1" >"$T/man1.txt" 2>"$T/man1.err"
    check_match "man -l certmint.1 renders NAME" "$(head -n 5 "$T/man1.txt")" "certmint - certification authority"
    check_match "certmint(1) documents every command: revoke" "$(grep -c '^   revoke$' "$T/man1.txt")" '^1$'
    check_eq "certmint(1) has a section per command" "$(grep -cE '^   [a-z-]+$' "$T/man1.txt")" "$(echo "$cmds" | wc -l)"
    MANWIDTH=100 man -l "$D/usr/share/man/man5/certmint.conf.5" >"$T/man5.txt" 2>/dev/null
    check_match "certmint.conf(5) lists the keys" "$(grep -A1 '^       crl.period' "$T/man5.txt")" "duration"
else
    ok "man not installed: pages not rendered # SKIP"
fi
# bash completion: source the installed file and call its function.
complete_words() {
    bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _certmint; echo "${COMPREPLY[*]}"' \
        sh "$D/usr/share/bash-completion/completions/certmint" "$@" 2>&1
}
check_eq "completion: certmint re<TAB>" "$(complete_words certmint re)" "retrieve revoke restore recover-orphans"
check_eq "completion after global options" "$(complete_words certmint --home "$T/h" ca-c)" "ca-cert"
check_eq "completion: retrieve options" "$(complete_words certmint retrieve 1 --)" "--chain --force --format --out --help"
check_eq "completion: ca-cert --format values" "$(complete_words certmint ca-cert --format '')" "pem der p7b"
check_eq "completion: config subcommands" "$(complete_words certmint config '')" "get keys list set unset"
# Every option the completion offers is one the command accepts.
bad=""
for c in $cmds; do
    for o in $(bash -c '. "$1"; _certmint_command_words "$2"' sh "$D/usr/share/bash-completion/completions/certmint" "$c"); do
        case $o in --*) ;; *) continue ;; esac
        if env -u CERTMINT_HOME "$CM" "$c" "$o" </dev/null 2>&1 | grep -q "unrecognized option"; then bad="$bad $c$o"; fi
    done
done
check_eq "every completed option is accepted by its command" "$bad" ""
check "make uninstall" make -C "$TOP" BUILD="$BUILD" uninstall DESTDIR="$D" PREFIX=/usr
check_eq "uninstall removes every installed file" "$(find "$D" -type f | wc -l)" 0

# ---- a hierarchy: root -> issuing CA -> leaf -------------------------------------
R="$T/root-ca"
I="$T/issuing-ca"
new_root "$R" ec:p384 >/dev/null 2>&1 || fail "init root"
cm "$R" ca-cert >"$T/root.pem"
cm "$I" init --subordinate --subject "/CN=Issuing CA/O=certmint tests" --key ec:p256 \
    --out "$T/issuing.csr" >/dev/null 2>&1 || fail "init issuing CA"
cm "$R" submit --profile subca --format json "$T/issuing.csr" >"$T/sub.json" 2>&1
json_ok "submit --format json (pending)" "$T/sub.json"
check_eq "submit json: one pending result" "$(jget "$T/sub.json" '[(r["disposition"], r["serial"], r["withheld"]) for r in d["results"]]')" \
    "[('pending', None, False)]"
sid=$(jget "$T/sub.json" 'd["results"][0]["request_id"]')
cm "$R" pending --format json >"$T/pending.json" 2>&1
json_ok "pending --format json" "$T/pending.json"
check_eq "pending json: the request, its profile and subject" \
    "$(jget "$T/pending.json" '[(p["request_id"], p["profile"], p["subject"]) for p in d["pending"]]')" \
    "[($sid, 'subca', 'O=certmint tests,CN=Issuing CA')]"
cm "$R" approve "$sid" --out "$T/issuing.pem" --format json >"$T/approve.json" 2>&1
json_ok "approve --format json" "$T/approve.json"
check_eq "approve json: issued, the serial of the certificate written" \
    "$(jget "$T/approve.json" 'd["disposition"]+" "+d["serial"]')" \
    "issued $(openssl x509 -in "$T/issuing.pem" -noout -serial | sed 's/serial=//')"
check "install-ca-cert on the issuing CA" cm "$I" install-ca-cert "$T/issuing.pem" "$T/root.pem"
# Strict audit mode with no off-box module: the certificate is withheld; the
# JSON still reports the request (withheld: true) and the exit status is 1.
make_csr ec:p256 "$T/strict.csr" "$T/strict.key" "/CN=strict.example.org" "DNS:strict.example.org"
cm "$R" config set audit.require_offbox true >/dev/null 2>&1
cm "$R" submit --profile tls-server --format json "$T/strict.csr" >"$T/strict.json" 2>/dev/null
check_eq "strict mode: submit --format json exits 1" "$?" 1
json_ok "strict mode: submit --format json" "$T/strict.json"
check_eq "strict mode: the result says withheld" \
    "$(jget "$T/strict.json" '[(r["disposition"], r["withheld"], len(r["serial"]) > 0) for r in d["results"]]')" \
    "[('issued', True, True)]"
cm "$R" config set audit.require_offbox false >/dev/null 2>&1
make_csr ec:p256 "$T/leaf.csr" "$T/leaf.key" "/CN=leaf.example.org" "DNS:leaf.example.org"
make_csr ec:p256 "$T/leaf2.csr" "$T/leaf2.key" "/CN=two.example.org" "DNS:two.example.org"
cm "$I" submit --profile tls-server --out "$T/leaf.pem" --format json "$T/leaf.csr" >"$T/submit.json" 2>&1
json_ok "submit --format json (issued)" "$T/submit.json"
lid=$(jget "$T/submit.json" 'd["results"][0]["request_id"]')
check_eq "submit json: the serial is the certificate's (openssl)" \
    "$(jget "$T/submit.json" 'd["results"][0]["serial"]')" "$(openssl x509 -in "$T/leaf.pem" -noout -serial | sed 's/serial=//')"

# ---- ca-cert and retrieve: PEM, DER, .p7b -----------------------------------------
check "ca-cert --format p7b" cm "$I" ca-cert --format p7b --out "$T/ca.p7b"
openssl pkcs7 -inform DER -in "$T/ca.p7b" -print_certs -out "$T/ca-p7b.pem" 2>"$T/p7.err"
check_eq "the .p7b holds the issuing CA and the root, in order (openssl pkcs7)" \
    "$(openssl pkcs7 -inform DER -in "$T/ca.p7b" -print_certs -noout 2>&1 | grep '^subject=' | tr '\n' ';')" \
    "subject=CN = Issuing CA, O = certmint tests;subject=CN = Test Root ec:p384, O = certmint tests;"
check_eq "the .p7b is certificates-only SignedData: no signers (openssl asn1parse)" \
    "$(openssl asn1parse -inform DER -in "$T/ca.p7b" 2>/dev/null | grep -c 'pkcs7-signedData')" 1
openssl cms -cmsout -inform DER -in "$T/ca.p7b" -print -noout >"$T/cms.txt" 2>&1
check_match "CMS view: signerInfos empty, content detached" "$(tr -s ' \n' ' ' <"$T/cms.txt")" "eContent: <ABSENT>.*signerInfos: <EMPTY>"
if certtool --p7-info --inder --infile "$T/ca.p7b" >"$T/certtool.out" 2>&1; then
    check_match "GnuTLS certtool --p7-info reads it: 2 certificates, no signers" \
        "$(tr '\n' ' ' <"$T/certtool.out")" "Number of certificates: 2"
else
    fail "certtool --p7-info: $(head -n 3 "$T/certtool.out" | tr '\n' ' ')"
fi
check "ca-cert --format der" cm "$I" ca-cert --format der --out "$T/ca.der"
check_eq "DER is the CA certificate" "$(openssl x509 -inform DER -in "$T/ca.der" -outform PEM)" "$(openssl x509 -in "$I/ca.crt")"
check_fails "ca-cert --format der --chain refused" cm "$I" ca-cert --format der --chain
if command -v script >/dev/null 2>&1; then
    check_match "binary output is never written to a terminal" \
        "$(script -qec "'$CM' --home '$I' ca-cert --format p7b" /dev/null 2>&1 | tr -d '\r')" \
        "binary output is not written to a terminal"
fi
check_match "ca-cert --format xml: clear error" "$(cm "$I" ca-cert --format xml 2>&1)" "--format 'xml': use pem, der or p7b"
check_eq "ca-cert --format pem --chain: 2 certificates" "$(cm "$I" ca-cert --format pem --chain | grep -c 'BEGIN CERTIFICATE')" 2
check "retrieve --chain --format p7b" cm "$I" retrieve "$lid" --chain --format p7b --out "$T/leaf.p7b"
openssl pkcs7 -inform DER -in "$T/leaf.p7b" -print_certs -out "$T/leaf-p7b.pem" 2>/dev/null
check_eq "leaf .p7b: leaf, issuing CA, root" "$(grep -c 'BEGIN CERTIFICATE' "$T/leaf-p7b.pem")" 3
# openssl verify with the untrusted intermediate taken from the .p7b.
openssl pkcs7 -inform DER -in "$T/ca.p7b" -print_certs 2>/dev/null | awk '/BEGIN/ {n++} n == 1' >"$T/inter.pem"
check_match "openssl verify -x509_strict: leaf from retrieve, intermediate from the .p7b" \
    "$(openssl verify -x509_strict -CAfile "$T/root.pem" -untrusted "$T/inter.pem" "$T/leaf.pem" 2>&1)" ": OK$"
check "retrieve --chain (PEM bundle)" cm "$I" retrieve "$lid" --chain --out "$T/bundle.pem"
check_eq "bundle: leaf first, then the chain" \
    "$(openssl x509 -in "$T/bundle.pem" -noout -subject)" "subject=CN = leaf.example.org"
check_eq "bundle: 3 certificates" "$(grep -c 'BEGIN CERTIFICATE' "$T/bundle.pem")" 3
openssl crl2pkcs7 -nocrl -certfile "$T/bundle.pem" -outform DER -out "$T/ref.p7b" 2>/dev/null
check_eq "retrieve's .p7b is byte-identical to openssl crl2pkcs7 -nocrl of the bundle" \
    "$(cmp -s "$T/ref.p7b" "$T/leaf.p7b" && echo same)" same
check_fails "retrieve --chain --format der refused" cm "$I" retrieve "$lid" --chain --format der
check "retrieve without options: PEM of the leaf alone" cm "$I" retrieve "$lid" --out "$T/plain.pem"
check_eq "plain retrieve unchanged: one certificate" "$(grep -c 'BEGIN CERTIFICATE' "$T/plain.pem")" 1

# ---- JSON reports --------------------------------------------------------------------
serial=$(openssl x509 -in "$T/leaf.pem" -noout -serial | sed 's/serial=//')
spaced=$(echo "$serial" | tr 'A-F' 'a-f' | sed 's/../& /g; s/ $//')
cm "$I" revoke "$spaced" keyCompromise --format json >"$T/revoke.json" 2>&1
json_ok "revoke --format json" "$T/revoke.json"
check_eq "revoke json: count, reason, canonical serial" \
    "$(jget "$T/revoke.json" '(d["revoked"], d["reason"], d["serials"])')" "(1, 'keyCompromise', ['$serial'])"
cm "$I" crl --format json --out "$T/copy.crl" >"$T/crl.json" 2>&1
json_ok "crl --format json" "$T/crl.json"
check_eq "crl json: number and entries as openssl reads the published CRL" \
    "$(jget "$T/crl.json" '"%d %d %s" % (d["number"], d["entries"], d["kind"])')" \
    "$(printf '%d' "$(openssl crl -inform DER -in "$T/copy.crl" -noout -crlnumber | sed 's/crlNumber=//')") $(openssl crl -inform DER -in "$T/copy.crl" -noout -text | grep -c 'Serial Number') full"
check_eq "crl json: sha256 of the file written" "$(jget "$T/crl.json" 'd["sha256"]')" \
    "$(openssl dgst -sha256 -r "$T/copy.crl" | cut -d' ' -f1)"
cm "$I" config set profile.man.base tls-server >/dev/null 2>&1
cm "$I" config set profile.man.approval manual >/dev/null 2>&1
pid2=$(cm "$I" submit --profile man "$T/leaf2.csr" 2>/dev/null | cut -f1)
mkdir -p "$T/empty"
cm "$I" deny 999 --format json >"$T/deny.json" 2>"$T/deny.err"
check_match "deny of an unknown request: error, no JSON" "$(cat "$T/deny.err")" "999"
cm "$I" backup "$T/bk" --format json >"$T/backup.json" 2>&1
json_ok "backup --format json" "$T/backup.json"
cm "$I" backup --verify "$T/bk" --format json >"$T/verify.json" 2>&1
json_ok "backup --verify --format json" "$T/verify.json"
check_eq "backup json: verified, 2 certificates, last CRL" \
    "$(jget "$T/verify.json" '(d["verified"], d["certificates"], d["last_crl_number"])')" \
    "(True, $(db_sql "$I" 'SELECT count(*) FROM certificates'), $(jget "$T/crl.json" 'd["number"]'))"
cm "$I" exit status --format json >"$T/exit.json" 2>&1
json_ok "exit status --format json" "$T/exit.json"
check_eq "exit status json: the modules" "$(jget "$T/exit.json" 'sorted(m["name"] for m in d["modules"])')" \
    "$(cm "$I" exit status | grep -v '^	' | cut -f1 | sort | python3 -c 'import sys; print(sorted(l.strip() for l in sys.stdin))')"
cm "$I" exit flush --format json >"$T/flush.json" 2>&1
json_ok "exit flush --format json" "$T/flush.json"
check_eq "exit flush json: nothing queued for no enabled module" "$(jget "$T/flush.json" '(d["delivered"], d["queued"])')" "(0, 0)"
cm "$I" config set crl.period 3d >/dev/null 2>&1
cm "$I" config list --format json >"$T/config.json" 2>&1
json_ok "config list --format json" "$T/config.json"
check_eq "config list json" "$(jget "$T/config.json" '[(s["key"], s["value"]) for s in d["settings"] if s["key"] == "crl.period"]')" \
    "[('crl.period', '3d')]"
cm "$I" config get ca.default_days --format json >"$T/get.json" 2>&1
check_eq "config get json: default, not set" "$(jget "$T/get.json" '(d["value"], d["set"])')" "('$(cm "$I" config get ca.default_days)', False)"
cm "$I" config keys --format json >"$T/keys.json" 2>&1
check_eq "config keys json: as many keys as the text list" "$(jget "$T/keys.json" 'len(d["keys"])')" \
    "$(cm "$I" config keys | grep -c '^[^ ]')"
check_fails "config set --format json refused" cm "$I" config set crl.period 4d --format json
check_eq "refused change left the value" "$(cm "$I" config get crl.period)" 3d
out=$(cm "$I" pending --format xml 2>&1)
check_eq "--format xml: exit 2" "$?" 2
check_match "--format xml: clear usage error" "$out" "pending: --format 'xml': use table or json"

# ---- audit -------------------------------------------------------------------------
cm "$I" deny "$pid2" --reason "$(printf 'bad\033[31mred\302\233x')" --format json >"$T/deny.json" 2>&1
json_ok "deny --format json" "$T/deny.json"
check_eq "deny json" "$(jget "$T/deny.json" '(d["request_id"], d["disposition"])')" "($pid2, 'denied')"
cm "$I" audit >"$T/audit.txt" 2>&1
check_eq "audit: exit 0" "$?" 0
actions=$(db_sql "$I" 'SELECT Action FROM audit ORDER BY ID' | tr '\n' ' ')
check_eq "audit: the actions, oldest first, as in the database (sqlite3)" "$(cut -f4 "$T/audit.txt" | tr '\n' ' ')" "$actions"
check_match "audit: init, issuance, revocation, config, deny recorded" "$actions" \
    "^init install-ca-cert issue .*revoke .*config .*deny $"
check_eq "audit: the revocation names the serial" "$(awk -F'\t' '$4 == "revoke" {print $6}' "$T/audit.txt")" "$serial"
check_eq "audit: no raw control character reaches the terminal" \
    "$(LC_ALL=C tr -d '\t\n' <"$T/audit.txt" | LC_ALL=C grep -c "$(printf '[\001-\037\177]')")" 0
check_match "audit: ESC and C1 CSI shown as \\xHH" "$(grep deny "$T/audit.txt")" 'bad\\x1B\[31mred\\x9Bx'
cm "$I" audit --format json >"$T/audit.json" 2>&1
json_ok "audit --format json" "$T/audit.json"
check_eq "audit json: same records as the table" "$(jget "$T/audit.json" '" ".join(r["action"] for r in d["records"])') " \
    "$actions"
check_eq "audit json: the deny reason verbatim" \
    "$(jget "$T/audit.json" 'd["records"][-1]["details"].endswith("bad\x1b[31mred\x9bx")')" True
check_eq "audit json: records in the database (sqlite3)" "$(jget "$T/audit.json" 'len(d["records"])')" \
    "$(db_sql "$I" 'SELECT count(*) FROM audit')"
check_eq "audit --since the future: nothing" "$(cm "$I" audit --since 2999-01-01 2>/dev/null | wc -l)" 0
check_eq "audit --since 1h: everything" "$(cm "$I" audit --since 1h 2>/dev/null | wc -l)" \
    "$(db_sql "$I" 'SELECT count(*) FROM audit')"
out=$(cm "$I" audit --since yesterday-ish 2>&1)
check_eq "audit --since garbage: exit 2" "$?" 2
check_match "audit --since garbage: names it" "$out" "--since 'yesterday-ish'"
# Who: the command line passes the user who ran it as the actor (the core
# asks the OS nothing): its login name, or $SUDO_USER under sudo.
check_eq "audit: every record names the user who ran the command (id -un)" \
    "$(cut -f3 "$T/audit.txt" | sort -u)" "$(id -un)"
SUDO_USER=officer-x cm "$I" crl >/dev/null 2>&1
check_eq "audit: under sudo, \$SUDO_USER (sqlite3)" \
    "$(db_sql "$I" "SELECT Who || ' ' || Action FROM audit ORDER BY ID DESC LIMIT 1")" \
    "officer-x crl"
done_testing
