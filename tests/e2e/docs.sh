#!/bin/sh
# The CLI reference in docs/ is generated from the binary's help; it must be
# current, and every command must have a help text.
. "$(dirname "$0")/lib.sh"
CM="$CM" sh "$TOP/scripts/gen-cli-doc.sh" 2>/dev/null
# gen-cli-doc.sh writes into the tree; compare with git's copy.
if git -C "$TOP" diff --quiet -- docs/cli.md 2>/dev/null; then
    ok "docs/cli.md is current"
else
    fail "docs/cli.md is stale: run scripts/gen-cli-doc.sh and commit"
    git -C "$TOP" checkout -- docs/cli.md 2>/dev/null
fi
for c in $("$CM" help | awk '/^Commands:/ {f=1; next} f && /^  [a-z]/ {print $1}'); do
    out=$("$CM" help "$c")
    [ "$(printf '%s\n' "$out" | wc -l)" -ge 3 ] && ok "help $c" || fail "help $c is too short"
done
done_testing
