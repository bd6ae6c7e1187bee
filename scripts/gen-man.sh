#!/bin/sh
# Writes a man page to stdout, generated from the binary's own help texts so
# that it never drifts from the code (as scripts/gen-cli-doc.sh does for
# docs/cli.md):
#   gen-man.sh CERTMINT certmint.1 TEMPLATE DOCDIR   certmint(1): TEMPLATE with
#                                                    @COMMANDS@ filled in
#   gen-man.sh CERTMINT certmint.conf.5 DOCDIR       certmint.conf(5), from
#                                                    `certmint config keys`
set -eu
CM=$1
page=$2
# roff-escape a help text: backslashes, and lines starting with . or '.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
version=$("$CM" --version | sed 's/^certmint //')
commands() {
    for c in $("$CM" help | awk '/^Commands:/ {f=1; next} f && /^  [a-z]/ {print $1}'); do
        echo ".SS $c"
        "$CM" help "$c" | head -n 1 | esc
        echo ".PP"
        echo ".nf"
        "$CM" help "$c" | tail -n +3 | esc
        echo ".fi"
    done
}
case "$page" in
certmint.1)
    template=$3
    docdir=$4
    commands >"${TMPDIR:-/tmp}/certmint-man.$$"
    awk -v f="${TMPDIR:-/tmp}/certmint-man.$$" -v v="$version" -v d="$docdir" '
        /^@COMMANDS@$/ { while ((getline l < f) > 0) print l; next }
        { gsub(/@VERSION@/, v); gsub(/@DOCDIR@/, d); print }' "$template"
    rm -f "${TMPDIR:-/tmp}/certmint-man.$$"
    ;;
certmint.conf.5)
    docdir=$3
    cat <<EOT
.\\" certmint.conf(5), generated from \`certmint config keys\` by scripts/gen-man.sh.
.TH CERTMINT.CONF 5 "" "certmint $version" "File Formats"
.SH NAME
certmint.conf \\- configuration of a certmint CA home
.SH SYNOPSIS
.I HOME/certmint.conf
.SH DESCRIPTION
One setting per line,
.IB key " = " value\\fR;
lines starting with # are comments. Change it with
.B certmint config set
.I KEY VALUE
(which checks the value against the key's type and records the change in the
audit log) rather than by hand. Keys ending in password or passphrase hold
secrets: set them with
.B certmint config set
.I KEY
.B \\-
(the value read from standard input). In the key names below,
.B *
stands for a name: a profile, a module.
.SH KEYS
EOT
    "$CM" config keys | esc | awk '
        /^[^ ]/ { print ".TP"; print ".B " $1; sub(/^[^ ]+ /, ""); print; next }
        /^    / { sub(/^    /, ""); print ".br"; print; next }'
    cat <<EOT
.SH SEE ALSO
.BR certmint (1);
.I $docdir/configuration.md
for every key with examples.
EOT
    ;;
*)
    echo "gen-man.sh: unknown page $page" >&2
    exit 2
    ;;
esac
