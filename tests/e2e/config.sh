#!/bin/sh
# End to end: `certmint config` get/set/unset/list/keys on a real CA home.
# Checks the file itself (cmp, grep, stat) and the audit log (sqlite3).
. "$(dirname "$0")/lib.sh"

H="$T/h"
CONF="$H/certmint.conf"
check "init a root CA" new_root "$H" ec:p256
check "init wrote certmint.conf" test -f "$CONF"

# The config command never needs the CA key: no passphrase, no terminal.
ncm() { "$CM" --home "$H" "$@" </dev/null; }

# refuse "what" NEEDLE ARGS...: exit status 1, exactly one error line that
# contains NEEDLE (the key), and the file byte-identical.
refuse() {
    what=$1
    needle=$2
    shift 2
    cp "$CONF" "$T/before"
    ncm "$@" >"$T/out" 2>"$T/err"
    rc=$?
    if [ "$rc" -ne 1 ]; then
        fail "$what: exit status $rc, expected 1"
    elif [ -s "$T/out" ] || [ "$(wc -l <"$T/err")" -ne 1 ]; then
        fail "$what: expected one error line, got: $(cat "$T/out" "$T/err" | tr '\n' '|')"
    elif ! grep -qF -- "$needle" "$T/err"; then
        fail "$what: error does not name $needle: $(cat "$T/err")"
    elif ! cmp -s "$CONF" "$T/before"; then
        fail "$what: the file changed"
    else
        ok "$what"
    fi
}

# --- get: defaults and unknown keys ------------------------------------------
check_eq "get default crl.period" "$(ncm config get crl.period)" "7d"
check_eq "get default ca.serial_bytes" "$(ncm config get ca.serial_bytes)" "16"
check_eq "get default log.level" "$(ncm config get log.level)" "warn"
check_eq "get of a key without default prints nothing" "$(ncm config get ca.aia_url)" ""
check_fails "get of an unknown key fails" ncm config get crl.perod
check_match "get of an unknown key names it" "$(ncm config get crl.perod 2>&1)" \
    "unknown key 'crl.perod'"
check_fails "get without a CA home fails" env -u CERTMINT_HOME "$CM" config get crl.period
check_fails "set without arguments is a usage error" ncm config set crl.period

# --- set -----------------------------------------------------------------------
check_eq "set prints nothing" "$(ncm config set crl.period 3d 2>&1)" ""
check_eq "get after set" "$(ncm config get crl.period)" "3d"
check "the file holds the new line" grep -qx 'crl.period = 3d' "$CONF"
check_eq "the file is mode 0600" "$(stat -c %a "$CONF")" "600"
check "set a URL" ncm config set crl.cdp_url http://127.0.0.1:8080/root.crl
check "set a negative number" ncm config set profile.sub.pathlen -1
check_eq "get the negative number" "$(ncm config get profile.sub.pathlen)" "-1"
check "set normalizes a bool" ncm config set profile.web.require_san TRUE
check_eq "bool stored as yes" "$(ncm config get profile.web.require_san)" "yes"
printf 'Example Root\n' | "$CM" --home "$H" config set ca.name - >"$T/out" 2>&1
check_eq "set from standard input" "$(ncm config get ca.name)" "Example Root"
check "set a value with # and spaces" ncm config set profile.web.description " web # 1 "
check_eq "it reads back exactly" "$(ncm config get profile.web.description)" " web # 1 "
check "it is quoted in the file" grep -qxF 'profile.web.description = " web # 1 "' "$CONF"

# --- refusals leave the file byte-identical ------------------------------------
refuse "unknown key refused" "crl.perod" config set crl.perod 7d
refuse "unknown profile key refused" "profile.web.dayz" config set profile.web.dayz 7
refuse "bad duration refused" "crl.period" config set crl.period 7w
refuse "int out of range refused" "ca.serial_bytes" config set ca.serial_bytes 21
refuse "int not a number refused" "ca.default_days" config set ca.default_days 1y
refuse "bad URL scheme refused" "ca.aia_url" config set ca.aia_url ftp://127.0.0.1/ca.crt
refuse "URL without host refused" "crl.cdp_url" config set crl.cdp_url http:///x.crl
refuse "bad enum refused" "log.level" config set log.level loud
refuse "bad bool refused" "profile.web.require_san" config set profile.web.require_san maybe
refuse "bad key type refused" "profile.web.keys" config set profile.web.keys dsa:1024
refuse "bad key usage refused" "profile.web.key_usage" config set profile.web.key_usage signEverything
refuse "bad OID refused" "profile.web.ext_key_usage" config set profile.web.ext_key_usage 1.2.03
refuse "control character refused" "ca.name" config set ca.name "$(printf 'a\tb')"
refuse "unset of an unknown key refused" "no.such" config unset no.such

# --- hand edits: comments and order survive, errors name file and line -----------
cat >>"$CONF" <<'EOF'

# operator note: keep two years
ca.default_days = 730   # two years
EOF
check_eq "hand-edited value is read" "$(ncm config get ca.default_days)" "730"
check "set after a hand edit" ncm config set ca.default_days 400
check "the comment line is kept" grep -qx '# operator note: keep two years' "$CONF"
check "the line is rewritten in place with its comment" \
    grep -qx 'ca.default_days = 400 # two years' "$CONF"
check_eq "the rewritten line is still the last one" "$(tail -n 1 "$CONF")" \
    'ca.default_days = 400 # two years'
cp "$CONF" "$T/good"
echo 'bogus.key = 1' >>"$CONF"
n=$(wc -l <"$CONF")
check_match "a bad hand edit names file and line" "$(ncm config get crl.period 2>&1)" \
    "certmint.conf:$n: unknown key 'bogus.key'"
cp "$T/good" "$CONF"
echo 'crl.period = 1d' >>"$CONF"
check_match "a duplicate key is refused" "$(ncm config get crl.period 2>&1)" \
    "duplicate key 'crl.period'"
cp "$T/good" "$CONF"

# --- a profile defined in the configuration ------------------------------------
check "define profile web: base" ncm config set profile.web.base tls-server
check "define profile web: days" ncm config set profile.web.days 90
check "define profile web: key usage" \
    ncm config set profile.web.key_usage keyEncipherment,digitalsignature
check "define profile web: keys" ncm config set profile.web.keys "rsa:3072, EC:P256"
check "define profile web: approval" ncm config set profile.web.approval manual
check_eq "key usage normalized" "$(ncm config get profile.web.key_usage)" \
    "digitalSignature,keyEncipherment"
check_eq "keys normalized" "$(ncm config get profile.web.keys)" "ec:p256,rsa:3072"
ncm config list >"$T/list"
for line in "profile.web.base = tls-server" "profile.web.days = 90" \
    "profile.web.key_usage = digitalSignature,keyEncipherment" \
    "profile.web.keys = ec:p256,rsa:3072" "profile.web.approval = manual" \
    "crl.period = 3d" "ca.default_days = 400"; do
    check "list shows '$line'" grep -qxF "$line" "$T/list"
done
check_fails "list does not show unset keys" grep -q '^crl.overlap' "$T/list"

# --- unset ---------------------------------------------------------------------
check "unset crl.period" ncm config unset crl.period
check_eq "back to the default" "$(ncm config get crl.period)" "7d"
check "its line is gone" sh -c 'test -s "$1" && ! grep -q "^crl.period" "$1"' sh "$CONF"
cp "$CONF" "$T/before"
check "unset of a key not set succeeds" ncm config unset crl.overlap
check "and leaves the file alone" cmp -s "$CONF" "$T/before"

# --- keys ----------------------------------------------------------------------
ncm config keys >"$T/keys"
check "keys lists profile.*.days with its range" \
    grep -qF 'profile.*.days (int 1..36500, no default)' "$T/keys"
check "keys lists crl.period with its default" grep -q '^crl.period (duration.*default 7d)' \
    "$T/keys"
check "keys works without a CA home" env -u CERTMINT_HOME "$CM" config keys

# --- audit log -----------------------------------------------------------------
audit=$(db_sql "$H" "SELECT details FROM audit WHERE action = 'config'" 2>&1)
check_match "set is in the audit log" "$audit" "set crl.period = 3d"
check_match "unset is in the audit log" "$audit" "unset crl.period"
check_fails "a refused set is not in the audit log" \
    sh -c "printf '%s' \"\$1\" | grep -q 'crl.perod'" sh "$audit"
# The core writes the record with the actor the CLI names (the operator, as
# for every other command), shown by `certmint audit`.
check_match "certmint audit: the set, by the operator" \
    "$(ncm audit 2>&1 | tr '\t' ' ')" "$(id -un) config - - set crl.period = 3d"

# --- concurrent sets do not lose each other --------------------------------------
pids=""
for i in 1 2 3 4 5 6; do
    ncm config set "profile.p$i.days" "$i" >"$T/par.$i" 2>&1 &
    pids="$pids $!"
done
nok=0
for p in $pids; do wait "$p" && nok=$((nok + 1)); done
check_eq "six concurrent sets succeed" "$nok" 6
got=0
for i in 1 2 3 4 5 6; do
    [ "$(ncm config get "profile.p$i.days")" = "$i" ] && got=$((got + 1))
done
check_eq "all six are in the file" "$got" 6

done_testing
