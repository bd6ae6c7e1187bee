#!/bin/sh
# Lists the core's functions longer than LIMIT lines (default 80), longest
# first: "FILE:LINE FUNCTION LINES". The core is every .c file under src/
# except the front ends (FRONT_ENDS below: they parse arguments and print,
# and are held to no length here). Exits 0 either way: the check that fails
# is tests/e2e/long_functions.sh.
#
# A function that must stay long (a flat table-like switch, say) says why in
# the comment block directly above it, with a line holding
#     long: <the reason>
# e.g. "/* long: one case per RFC 5280 extension, read top to bottom */".
# Such a function is not listed; --all lists it too, as "[long: reason]".
#   sh scripts/long-functions.sh [--all] [LIMIT]
set -u
FRONT_ENDS="cli http"
top=$(cd "$(dirname "$0")/.." && pwd)
all=0
if [ "${1:-}" = "--all" ]; then
    all=1
    shift
fi
limit=${1:-80}
cd "$top" || exit 1
skip=$(printf '%s\n' $FRONT_ENDS | sed 's|.*|^src/&/|' | paste -sd'|' -)
for f in $(find src -name '*.c' | grep -Ev "$skip" | sort); do
    # A function starts at a line beginning with a name followed by "(" whose
    # body opens with "{" alone in column 0 and ends at "}" in column 0.
    # Comment blocks: a run of comments starting in column 0 ("/*" or "//")
    # with nothing between them; "why" is the reason of the block that ends
    # on the line just before the function's first line.
    awk -v f="$f" -v limit="$limit" -v all="$all" '
        function note(line) {
            if (match(line, /long:[^*]*/)) {
                r = substr(line, RSTART + 5, RLENGTH - 5)
                gsub(/^[ \t]+|[ \t]+$/, "", r)
                blk_why = r == "" ? "?" : r
            }
        }
        in_c {
            note($0)
            if ($0 ~ /\*\//) { in_c = 0; blk_end = NR }
            next
        }
        /^\/\*/ {
            if (blk_end != NR - 1) blk_why = ""
            note($0)
            if ($0 ~ /\*\//) blk_end = NR; else in_c = 1
            next
        }
        /^\/\// {
            if (blk_end != NR - 1) blk_why = ""
            note($0); blk_end = NR
            next
        }
        /^[a-zA-Z_].*\(/ && !/;[[:space:]]*$/ {
            sig = $0; sigline = NR; sigwhy = blk_end == NR - 1 ? blk_why : ""
        }
        /^\{/ && sig != "" { start = NR; name = sig; nline = sigline; why = sigwhy; sig = "" }
        /^\}/ && start {
            n = NR - start + 1
            if (n > limit && (why == "" || all)) {
                sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
                printf "%s:%d %s %d%s\n", f, nline, name, n, why != "" ? " [long: " why "]" : ""
            }
            start = 0
        }
    ' "$f"
done | sort -k3 -n -r
