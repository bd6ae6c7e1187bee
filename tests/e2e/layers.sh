#!/bin/sh
# The layering of src/ (docs/architecture.md): no directory includes or
# links against a layer above it (scripts/layers.sh holds the table), and
# the list of core functions over 80 lines is printed for the record.
. "$(dirname "$0")/lib.sh"
if out=$(sh "$TOP/scripts/layers.sh" "$BUILD" 2>&1); then
    ok "no upward #include or symbol use between src/ directories"
else
    fail "upward dependencies: $(printf '%s' "$out" | tr '\n' ';')"
fi
# The check itself must catch an upward include (a copy of src/ with one
# planted), or it proves nothing.
mkdir -p "$T/tree/scripts"
cp -R "$TOP/src" "$T/tree/src"
cp "$TOP/scripts/layers.sh" "$T/tree/scripts/"
echo '#include "exit/exit.h"' >>"$T/tree/src/db/db.h"
check_fails "a planted upward include (db -> exit) is reported" sh "$T/tree/scripts/layers.sh"
check_match "the report names the file and the layer" "$(cat "$T/last.out")" "src/db/db.h includes exit/"
# The CLI is a thin client: a db/ header or sqlite3.h under src/cli is
# reported although the table lets cli use db (the old cmd_view.c did).
mkdir -p "$T/tree2/scripts"
cp -R "$TOP/src" "$T/tree2/src"
cp "$TOP/scripts/layers.sh" "$T/tree2/scripts/"
sed -i '1a #include "db/viewfmt.h"' "$T/tree2/src/cli/cmd_view.c"
check_fails "a db/ header included under src/cli is reported" sh "$T/tree2/scripts/layers.sh"
check_match "the report names the file and the header" "$(cat "$T/last.out")" \
    "src/cli/cmd_view.c:2 includes #include \"db/viewfmt.h\""
sed -i '2d' "$T/tree2/src/cli/cmd_view.c"
printf '#include <sqlite3.h>\n' >>"$T/tree2/src/cli/cli.h"
check_fails "sqlite3.h included under src/cli is reported" sh "$T/tree2/scripts/layers.sh"
sed -i '$d' "$T/tree2/src/cli/cli.h"
check "the copy passes again without them" sh "$T/tree2/scripts/layers.sh"
# And at link level: a CLI object calling a db/ operation (not a name table).
if ls "$BUILD"/src/db/*.o >/dev/null 2>&1; then
    mkdir -p "$T/b/src/db" "$T/b/src/cli"
    cp "$BUILD"/src/db/*.o "$T/b/src/db/"
    printf 'int db_cert_get(void);\nint cli_planted(void);\nint cli_planted(void) { return db_cert_get(); }\n' \
        >"$T/tree2/src/cli/planted.c"
    ${CC:-cc} -c -o "$T/b/src/cli/planted.o" "$T/tree2/src/cli/planted.c"
    check_fails "a CLI object calling db_cert_get is reported" sh "$T/tree2/scripts/layers.sh" "$T/b"
    check_match "the report names the object and the function" "$(cat "$T/last.out")" \
        "src/cli/planted.o uses db_cert_get from db/"
    # An upward call without an #include (an extern declaration): found
    # by the symbols the object needs, not by its includes.
    mkdir -p "$T/b/src/event"
    cp "$BUILD"/src/event/*.o "$T/b/src/event/"
    printf 'int exit_raise(void);\nint db_planted(void);\nint db_planted(void) { return exit_raise(); }\n' \
        >"$T/tree2/src/db/planted.c"
    ${CC:-cc} -c -o "$T/b/src/db/planted.o" "$T/tree2/src/db/planted.c"
    check_fails "a db object calling up into event/ is reported" sh "$T/tree2/scripts/layers.sh" "$T/b"
    check_match "the report names the object, the function and the layer" "$(cat "$T/last.out")" \
        "src/db/planted.o uses exit_raise from event/ \\(src/db may use: util\\)"
    rm -f "$T/tree2/src/db/planted.c" "$T/b/src/db/planted.o"
fi
# The HTTP server is a front end too (docs/architecture.md): the same two
# checks for src/http.
sed -i '1a #include "db/db.h"' "$T/tree2/src/http/url.c"
check_fails "a db/ header included under src/http is reported" sh "$T/tree2/scripts/layers.sh"
check_match "the report names the file and the header" "$(cat "$T/last.out")" \
    "src/http/url.c:2 includes #include \"db/db.h\" \\(src/http is a thin client"
sed -i '2d' "$T/tree2/src/http/url.c"
if ls "$BUILD"/src/db/*.o >/dev/null 2>&1; then
    mkdir -p "$T/b/src/http"
    printf 'int db_view(void);\nint http_planted(void);\nint http_planted(void) { return db_view(); }\n' \
        >"$T/tree2/src/http/planted.c"
    ${CC:-cc} -c -o "$T/b/src/http/planted.o" "$T/tree2/src/http/planted.c"
    check_fails "an HTTP object calling db_view is reported" sh "$T/tree2/scripts/layers.sh" "$T/b"
    check_match "the report names the object and the function" "$(cat "$T/last.out")" \
        "src/http/planted.o uses db_view from db/"
fi
# The CA handle is opaque to the front ends: ca/ca_int.h (or any other
# directory's *_int.h) under src/http or src/cli is reported, although the
# table lets both use ca/; http's own http/http_int.h is not.
sed -i '1a #include "ca/ca_int.h"' "$T/tree2/src/http/server.c"
check_fails "ca/ca_int.h included under src/http is reported" sh "$T/tree2/scripts/layers.sh"
check_match "the report names the file and the header" "$(cat "$T/last.out")" \
    "src/http/server.c:2 includes #include \"ca/ca_int.h\" \\(a core-internal header"
sed -i '2d' "$T/tree2/src/http/server.c"
sed -i '1a #include "ocsp/ocsp_int.h"' "$T/tree2/src/cli/cmd_view.c"
check_fails "another directory's *_int.h under src/cli is reported" sh "$T/tree2/scripts/layers.sh"
check_match "the report names the file and the header" "$(cat "$T/last.out")" "src/cli/cmd_view.c:2 includes #include \"ocsp/ocsp_int.h\""
sed -i '2d' "$T/tree2/src/cli/cmd_view.c"
rm -f "$T/tree2/src/cli/planted.c" "$T/tree2/src/http/planted.c"
check "the copy passes again (http/http_int.h stays allowed)" sh "$T/tree2/scripts/layers.sh"
mkdir -p "$T/tree/src/newlayer"
check_fails "a directory without a layer is reported" sh "$T/tree/scripts/layers.sh"
# The mail format is defined once (src/exit/mailfmt.h): the SMTP module
# and the mail scanner name no header or part type as a literal of their own.
dup=$(grep -n '"[^"]*[Xx]-[Cc]ertmint[^"]*"' "$TOP"/src/*/*.c "$TOP"/src/*/*.h |
    grep -v '^[^:]*:[0-9]*:[[:space:]]*/\?\*' | grep -v 'src/exit/mailfmt.h:' || true)
check_eq "no X-Certmint literal outside src/exit/mailfmt.h" "$dup" ""
# The CA handle and its sessions are opaque to front ends (architecture.md,
# "The CA handle"): src/cli includes no core-internal header (*_int.h), so
# the compiler refuses any use of their fields there.
int=$(grep -l '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z]*/[a-z_]*_int\.h"' \
    "$TOP"/src/cli/*.[ch] || true)
check_eq "src/cli includes no core-internal header (*_int.h)" "$int" ""
n=$(sh "$TOP/scripts/long-functions.sh" | grep -c '^src/')
echo "# core functions over 80 lines: $n"
sh "$TOP/scripts/long-functions.sh" | sed 's/^/#   /'
ok "long-functions.sh lists $n core functions over 80 lines"
done_testing
