#!/bin/sh
# Lists the core's functions (src/, not the CLI) longer than LIMIT lines
# (default 80), longest first: "FILE:LINE FUNCTION LINES [why]". A function
# that must stay long carries a comment containing "long:" in the lines
# before it, saying why; the list shows it as [why-comment].
#   sh scripts/long-functions.sh [LIMIT]
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
limit=${1:-80}
cd "$top" || exit 1
for f in $(ls src/*/*.c | grep -v '^src/cli/'); do
    # A function starts at a line beginning with a name followed by "(" whose
    # body opens with "{" alone in column 0 and ends at "}" in column 0.
    awk -v f="$f" -v limit="$limit" '
        /^[a-zA-Z_].*\(/ && !/;[[:space:]]*$/ { sig = $0; sigline = NR }
        /^\{/ && sig != "" { start = NR; name = sig; nline = sigline; why = recent; sig = "" }
        /^\}/ && start {
            n = NR - start + 1
            if (n > limit) {
                sub(/\(.*/, "", name); sub(/.*[ *]/, "", name)
                printf "%s:%d %s %d%s\n", f, nline, name, n, why ? " [why-comment]" : ""
            }
            start = 0
        }
        /long:/ { recent = NR } 
        { if (recent && NR - recent > 12) recent = 0 }
    ' "$f"
done | sort -k3 -n -r
