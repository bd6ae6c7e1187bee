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
