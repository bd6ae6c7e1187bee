#!/bin/sh
# Libraries loaded on first use (src/util/dynlib.h): the binary does not
# link libcurl, GMime/GLib, libpq or libldap; `--version` and a batch submit
# (SQLite, no exit module) never map them; a library that cannot be loaded
# gives one clear error naming it and a non-zero exit, never a crash.
. "$(dirname "$0")/lib.sh"

needed=$(readelf -d "$CM" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
check_eq "no NEEDED entry for the libraries loaded on demand" \
    "$(printf '%s' "$needed" | grep -Eo 'lib(curl|gmime|glib|gobject|pq|ldap|lber)[^ ]*' | tr '\n' ' ')" ""

# LD_DEBUG=files names every shared object the loader maps.
loaded() { grep -Eo 'file=lib(curl|gmime|glib|gobject|pq|ldap|lber)[^ ;]*' "$1" | sort -u | tr '\n' ' '; }
LD_DEBUG=files "$CM" --version >/dev/null 2>"$T/ld.version"
check_eq "--version maps none of them" "$(loaded "$T/ld.version")" ""

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" config set submit.workers 2 >/dev/null
for i in 1 2 3; do make_csr ec:p256 "$T/r$i.csr" "$T/r$i.key" "/CN=dynlib$i.example.org" "DNS:dynlib$i.example.org"; done
LD_DEBUG=files cm "$H" submit --profile tls-server "$T"/r1.csr "$T"/r2.csr "$T"/r3.csr \
    >"$T/res" 2>"$T/ld.submit"
check_eq "a submit of 3 issues them" "$(grep -c '	issued	' "$T/res")" 3
if [ "$TESTDB" = postgresql ]; then
    # Debian's libpq links libldap itself (LDAP lookup of services).
    check_eq "...mapping libpq and its own dependencies only (PostgreSQL)" \
        "$(loaded "$T/ld.submit" | sed 's/file=lib\(lber\|ldap\)-2.5.so.0 //g')" "file=libpq.so.5 "
else
    check_eq "...mapping none of them (SQLite)" "$(loaded "$T/ld.submit")" ""
fi

# A library the loader finds but cannot load: an empty file of that name
# first in LD_LIBRARY_PATH.
mkdir "$T/nopq" "$T/noldap"
: >"$T/nopq/libpq.so.5"
: >"$T/noldap/libldap-2.5.so.0"
LD_LIBRARY_PATH="$T/nopq" "$CM" --home "$T/pgca" --passphrase-file "$PASS" init \
    --subject /CN=PG --key ec:p256 --db postgresql://certmint@127.0.0.1:1/cm_dynlib \
    >"$T/out" 2>"$T/err"
rc=$?
check "PostgreSQL without a loadable libpq: non-zero exit, no crash" test "$rc" -ne 0 -a "$rc" -lt 128
check_match "...one error naming libpq.so.5 and the reason" "$(cat "$T/err")" \
    'PostgreSQL database: cannot load libpq\.so\.5: .*libpq\.so\.5.*(too short|invalid ELF)'
if [ "$TESTDB" = postgresql ]; then
    ok "skipped with CERTMINT_TEST_DB=$TESTDB: libpq itself needs libldap"
    done_testing
fi
LD_LIBRARY_PATH="$T/noldap" cm "$H" config set ldap.uri ldap://127.0.0.1 >"$T/out" 2>"$T/err"
rc=$?
check "ldap.uri without a loadable libldap: non-zero exit, no crash" test "$rc" -ne 0 -a "$rc" -lt 128
check_match "...one error naming libldap-2.5.so.0" "$(cat "$T/err")" \
    'LDAP directory: cannot load libldap-2\.5\.so\.0: '
done_testing
