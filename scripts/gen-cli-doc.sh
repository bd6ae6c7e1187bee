#!/bin/sh
# Regenerates docs/cli.md from the binary's own help texts, so the reference
# never drifts from the code. tests/e2e/docs.sh checks it is current.
set -eu
cd "$(dirname "$0")/.."
CM=${CM:-./build/certmint}
{
    echo "# certmint command reference"
    echo
    echo "Generated from \`certmint help COMMAND\` by scripts/gen-cli-doc.sh; do not edit by hand."
    echo
    echo '```'
    "$CM" help
    echo '```'
    for c in $("$CM" help | awk '/^Commands:/ {f=1; next} f && /^  [a-z]/ {print $1}'); do
        echo
        echo "## certmint $c"
        echo
        echo '```'
        "$CM" help "$c"
        echo '```'
    done
} >docs/cli.md
