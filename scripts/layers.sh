#!/bin/sh
# Checks the layering of src/: every directory may use only the directories
# listed for it below (docs/architecture.md draws the picture). Checks:
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
# Each check is one awk pass over all files (a process per file and per
# symbol took 45 s; tests/e2e/layers.sh runs this a dozen times).
#   sh scripts/layers.sh [BUILD]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-}

# DIR: the directories it may use (besides itself). Lowest layer first.
TABLE='util:
db:util
config:util
event:util db config
key:util
kra:util key
ca:util db config event key kra
crl:util db config event key ca
ldap:util db config event key ca crl
backup:util db config event key ca crl
exit:util db config event key ca crl ldap
recover:util db config event key ca crl ldap exit
ocsp:util db config event key ca
host:util db config event key ca
serve:util db config event key ca crl ldap exit recover backup
http:util db config event key ca crl ldap exit recover backup serve ocsp
cli:util db config event key kra ca crl ldap exit recover backup serve ocsp http host'
front_ends="cli http"

# The table and ok(from, to) for the awk programs below.
AWK_TABLE='
function table_load(    n, i, l, k) {
    n = split(TABLE, l, "\n")
    for (i = 1; i <= n; i++) {
        k = index(l[i], ":")
        uses[substr(l[i], 1, k - 1)] = substr(l[i], k + 1)
    }
}
function ok(from, to) {
    return from == to || index(" " uses[from] " ", " " to " ") > 0
}
function is_fe(d) { return index(" " FE " ", " " d " ") > 0 }
'

out=$(mktemp "${TMPDIR:-/tmp}/layers.XXXXXX")
trap 'rm -f "$out" "$out.def" "$out.und"' EXIT
bad=0
for d in "$top"/src/*/; do
    d=$(basename "$d")
    case "
$TABLE" in *"
$d:"*) ;; *)
        echo "layers: src/$d has no layer: add it to the table in scripts/layers.sh"
        bad=1
        ;;
    esac
done

# 1. Includes; 1b. the front ends are thin clients (docs/architecture.md):
# they call core functions only, so no file under src/cli or src/http names
# a storage header (db/...) or SQLite's own, whatever the table allows;
# 1c. the CA handle and its sessions are opaque to the front ends
# (docs/architecture.md, "The CA handle"): no file under src/cli or
# src/http includes another directory's internal header (ca/ca_int.h and
# any other */*_int.h); they read a session through ca.h. Their own
# internals (http/http_int.h) are theirs.
awk -v TABLE="$TABLE" -v FE="$front_ends" -v top="$top/" "$AWK_TABLE"'
BEGIN { table_load() }
FNR == 1 {
    rel = substr(FILENAME, length(top) + 1)
    split(rel, p, "/")
    from = p[2]
}
!/^[ \t]*#[ \t]*include[ \t]*["<]/ { next }
{
    line = $0
    sub(/^[ \t]*#[ \t]*include[ \t]*/, "", line)
    if (line ~ /^"[a-z0-9_]*\//) {
        to = substr(line, 2, index(line, "/") - 2)
        if (!((rel, to) in seen)) {
            seen[rel, to] = 1
            if (!ok(from, to))
                inc[rel] = inc[rel] "layers: " rel " includes " to "/ (src/" from " may use: " uses[from] ")\n"
        }
    }
    if (!is_fe(from))
        next
    if (line ~ /^["<](db\/[^">]*|sqlite3\.h)[">]/)
        thin = thin "layers: " rel ":" FNR " includes " $0 " (src/" from " is a thin client: call a core function instead)\n"
    if (line ~ /^"[a-z0-9_]*\/[a-z0-9_]*_int\.h"/ && index(line, "\"" from "/") != 1)
        internal = internal "layers: " rel ":" FNR " includes " $0 " (a core-internal header: src/" from " reads a session through ca/ca.h)\n"
}
END {
    n = 0
    for (f in inc)
        names[++n] = f
    # Sorted by file, as before.
    for (i = 2; i <= n; i++)
        for (j = i; j > 1 && names[j - 1] > names[j]; j--) {
            t = names[j]; names[j] = names[j - 1]; names[j - 1] = t
        }
    for (i = 1; i <= n; i++)
        printf "%s", inc[names[i]]
    printf "%s%s", thin, internal
}' "$top"/src/*/*.[ch] >"$out"

# 2. Link: undefined symbols of each object against the defining directory;
# 2b. what the front ends' objects take from src/db: only the name tables
# of the values they print and parse (reasons, dispositions), never an
# operation (db_open, db_cert_get, db_view...): those are the core's.
# Objects of sources that still exist (a moved file leaves its old object).
if [ -n "$build" ] && ls "$build"/src/*/*.o >/dev/null 2>&1; then
    set --
    for o in "$build"/src/*/*.o; do
        s=${o#"$build"/}
        [ -f "$top/${s%.o}.c" ] && set -- "$@" "$o"
    done
    # db objects count as definitions whether or not their source exists
    # (2b reads every src/db object, as the link would).
    nm -A --defined-only -g "$@" >"$out.def" 2>/dev/null
    for o in "$build"/src/db/*.o; do
        [ -f "$o" ] && nm -A --defined-only -g "$o" | sed 's/^/db-all /'
    done >>"$out.def" 2>/dev/null
    nm -A -u "$@" >"$out.und" 2>/dev/null
    awk -v TABLE="$TABLE" -v FE="$front_ends" -v build="$build/" "$AWK_TABLE"'
    function parse(s,    i, a, n) {
        i = index(s, ":")
        obj = substr(s, 1, i - 1)
        n = split(substr(s, i + 1), a, " ")
        type = a[n - 1]
        sym = a[n]
        obj = substr(obj, length(build) + 1)
        split(obj, p, "/")
        dir = p[2]
    }
    BEGIN { table_load() }
    FILENAME ~ /\.def$/ {
        all = sub(/^db-all /, "")
        parse($0)
        if (type !~ /^[TDRBCV]$/)
            next
        if (all) {
            dbsym[sym] = 1
            next
        }
        if (!((sym, dir) in defd)) {
            defd[sym, dir] = 1
            defs[sym] = defs[sym] " " dir
        }
        next
    }
    {
        parse($0)
        if ((obj, sym) in seen)
            next
        seen[obj, sym] = 1
        n = split(defs[sym], to, " ")
        for (i = 1; i <= n; i++)
            if (!ok(dir, to[i]))
                print "layers: " obj " uses " sym " from " to[i] "/ (src/" dir " may use: " uses[dir] ")"
        if (is_fe(dir) && (sym in dbsym) && sym !~ /^db_(reason|disposition)_(name|parse)$/)
            print "layers: " obj " uses " sym " from db/ (src/" dir " is a thin client: call a core function instead)"
    }' "$out.def" "$out.und" >>"$out"
fi
if [ -s "$out" ]; then
    cat "$out"
    bad=1
fi
exit $bad
