#!/bin/sh
# Checks the layering of src/: every directory may use only the directories
# listed for it below (docs/architecture.md draws the picture). Two checks:
#   - #include "DIR/..." lines in src/DIR/*.[ch] (what the source names);
#   - with an object folder (BUILD/src/DIR/*.o, from `make`), the symbols each
#     object needs and which directory defines them (what the link uses:
#     an extern declaration without an #include is caught here).
# Prints each upward use and exits 1 if there is one; a directory missing
# from the table is an error too (a new layer must be placed on purpose).
#   sh scripts/layers.sh [BUILD]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}

# DIR: the directories it may use (besides itself). Lowest layer first.
allowed() {
    case "$1" in
    util) echo "" ;;
    db) echo "util" ;;
    config) echo "util" ;;
    event) echo "util db config" ;;
    key) echo "util" ;;
    ca) echo "util db config event key" ;;
    crl) echo "util db config event key ca" ;;
    ldap) echo "util db config event key ca crl" ;;
    backup) echo "util db config event key ca crl" ;;
    exit) echo "util db config event key ca crl ldap" ;;
    recover) echo "util db config event key ca crl ldap exit" ;;
    ocsp) echo "util db config event key ca" ;;
    serve) echo "util db config event key ca crl ldap exit recover backup" ;;
    http) echo "util db config event key ca crl ldap exit recover backup serve ocsp" ;;
    cli) echo "util db config event key ca crl ldap exit recover backup serve ocsp http" ;;
    *) echo "?" ;;
    esac
}

bad=0
ok_use() { # from to
    [ "$1" = "$2" ] && return 0
    for a in $(allowed "$1"); do [ "$a" = "$2" ] && return 0; done
    return 1
}
for d in "$top"/src/*/; do
    d=$(basename "$d")
    if [ "$(allowed "$d")" = "?" ]; then
        echo "layers: src/$d has no layer: add it to the table in scripts/layers.sh"
        bad=1
    fi
done

# 1. Includes.
tab=$(printf '\t')
for f in "$top"/src/*/*.[ch]; do
    from=$(basename "$(dirname "$f")")
    sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([a-z0-9_]*\)\/[^"]*".*/\1/p' "$f" |
        sort -u | while read -r to; do
        ok_use "$from" "$to" || echo "layers: ${f#"$top"/} includes $to/ (src/$from may use: $(allowed "$from"))"
    done
done >"${TMPDIR:-/tmp}/layers.$$"

# 2. Link: undefined symbols of each object against the defining directory.
# Objects of sources that still exist (a moved file leaves its old object).
objects() {
    for o in "$build"/src/*/*.o; do
        s=${o#"$build"/}
        [ -f "$top/${s%.o}.c" ] && echo "$o"
    done
}
if [ -n "$build" ] && ls "$build"/src/*/*.o >/dev/null 2>&1; then
    for o in $(objects); do
        nm --defined-only -g "$o" | awk -v d="$(basename "$(dirname "$o")")" \
            '$2 ~ /^[TDRBCV]$/ {print $3 "\t" d}'
    done | sort -u >"${TMPDIR:-/tmp}/layers-def.$$"
    for o in $(objects); do
        from=$(basename "$(dirname "$o")")
        nm -u "$o" | awk -v f="$from" -v o="${o#"$build"/}" '{print $2 "\t" f "\t" o}'
    done | sort -u | join -t "$tab" - "${TMPDIR:-/tmp}/layers-def.$$" |
        while IFS="$tab" read -r sym from obj to; do
            ok_use "$from" "$to" || echo "layers: $obj uses $sym from $to/ (src/$from may use: $(allowed "$from"))"
        done >>"${TMPDIR:-/tmp}/layers.$$"
    rm -f "${TMPDIR:-/tmp}/layers-def.$$"
fi
if [ -s "${TMPDIR:-/tmp}/layers.$$" ]; then
    cat "${TMPDIR:-/tmp}/layers.$$"
    bad=1
fi
rm -f "${TMPDIR:-/tmp}/layers.$$"
exit $bad
