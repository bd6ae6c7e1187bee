#!/bin/sh
# Checks the layering of src/: every directory may use only the directories
# listed for it below (docs/architecture.md draws the picture). Two checks:
#   - #include "DIR/..." lines in src/DIR/*.[ch] (what the source names);
#   - with an object folder (BUILD/src/DIR/*.o, from `make`), the symbols each
#     object needs and which directory defines them (what the link uses:
#     an extern declaration without an #include is caught here).
#   - no file under src/cli or src/http includes a core-internal header
#     (ca/ca_int.h, any other directory's *_int.h);
#   - no file under src/cli or src/http (the front ends) includes a db/
#     header or sqlite3.h, and (with BUILD) no object of theirs calls a db/
#     function other than the name tables of reasons and dispositions (a
#     front end is a thin client).
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
    kra) echo "util key" ;;
    ca) echo "util db config event key kra" ;;
    crl) echo "util db config event key ca" ;;
    ldap) echo "util db config event key ca crl" ;;
    backup) echo "util db config event key ca crl" ;;
    exit) echo "util db config event key ca crl ldap" ;;
    recover) echo "util db config event key ca crl ldap exit" ;;
    ocsp) echo "util db config event key ca" ;;
    host) echo "util db config event key ca" ;;
    serve) echo "util db config event key ca crl ldap exit recover backup" ;;
    http) echo "util db config event key ca crl ldap exit recover backup serve ocsp" ;;
    cli) echo "util db config event key kra ca crl ldap exit recover backup serve ocsp http host" ;;
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

# 1b. The front ends are thin clients (docs/architecture.md): they call
# core functions only, so no file under src/cli or src/http names a storage
# header (db/...) or SQLite's own, whatever the table above allows.
front_ends="cli http"
for f in "$top"/src/cli/*.[ch] "$top"/src/http/*.[ch]; do
    fe=$(basename "$(dirname "$f")")
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]\(db/[^">]*\|sqlite3\.h\)[">]' "$f" |
        while IFS= read -r line; do
            echo "layers: ${f#"$top"/}:${line%%:*} includes ${line#*:} (src/$fe is a thin client: call a core function instead)"
        done
done >>"${TMPDIR:-/tmp}/layers.$$"

# 1c. The CA handle and its sessions are opaque to the front ends
# (docs/architecture.md, "The CA handle"): no file under src/cli or
# src/http includes another directory's internal header (ca/ca_int.h and
# any other */*_int.h); they read a session through ca.h (ca_home,
# ca_config, ca_certificate). Their own internals (http/http_int.h) are
# theirs.
for f in "$top"/src/cli/*.[ch] "$top"/src/http/*.[ch]; do
    fe=$(basename "$(dirname "$f")")
    grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z0-9_]*/[a-z0-9_]*_int\.h"' "$f" |
        grep -v "\"$fe/" | while IFS= read -r line; do
            echo "layers: ${f#"$top"/}:${line%%:*} includes ${line#*:} (a core-internal header: src/$fe reads a session through ca/ca.h)"
        done
done >>"${TMPDIR:-/tmp}/layers.$$"

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
# 2b. What the front ends' objects take from src/db: only the name tables
# of the values they print and parse (reasons, dispositions), never an
# operation (db_open, db_cert_get, db_view...): those are the core's.
if [ -n "$build" ] && ls "$build"/src/cli/*.o "$build"/src/db/*.o >/dev/null 2>&1; then
    for o in "$build"/src/db/*.o; do
        nm --defined-only -g "$o" | awk '$2 ~ /^[TDRBCV]$/ {print $3}'
    done | sort -u >"${TMPDIR:-/tmp}/layers-db.$$"
    for fe in $front_ends; do
        for o in "$build"/src/"$fe"/*.o; do
            [ -f "$o" ] || continue
            s=${o#"$build"/}
            [ -f "$top/${s%.o}.c" ] || continue
            nm -u "$o" | awk '{print $2}' | sort -u | join - "${TMPDIR:-/tmp}/layers-db.$$" |
                grep -Ev '^db_(reason|disposition)_(name|parse)$' |
                while read -r sym; do
                    echo "layers: $s uses $sym from db/ (src/$fe is a thin client: call a core function instead)"
                done
        done
    done >>"${TMPDIR:-/tmp}/layers.$$"
    rm -f "${TMPDIR:-/tmp}/layers-db.$$"
fi
if [ -s "${TMPDIR:-/tmp}/layers.$$" ]; then
    cat "${TMPDIR:-/tmp}/layers.$$"
    bad=1
fi
rm -f "${TMPDIR:-/tmp}/layers.$$"
exit $bad
