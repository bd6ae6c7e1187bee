#!/bin/sh
# Writes the bash completion for certmint to stdout, generated from the
# binary's own help texts (the command list, each command's synopsis and
# option lines), so that it completes exactly the commands and options the
# binary has. Usage: gen-completion.sh BUILD/certmint
set -eu
CM=$1
cmds=$("$CM" help | awk '/^Commands:/ {f=1; next} f && /^  [a-z]/ {print $1}' | tr '\n' ' ')
cat <<'EOT'
# bash completion for certmint(1). Generated from `certmint help` by
# scripts/gen-completion.sh; do not edit by hand.
EOT
echo "_certmint_commands='${cmds% }'"
echo '_certmint_command_words() {'
echo '    case $1 in'
for c in $cmds; do
    # Options: from the synopsis lines ("certmint CMD ...", their "[..."
    # continuations) and the option lines ("  --name ...", "  -n, --name").
    # Subcommands: lower-case words right after "certmint CMD".
    words=$("$CM" help "$c" | awk -v c="$c" '
        BEGIN { syn = 0 }
        /^(usage: +)?certmint / || /^ +certmint / {
            syn = 1
            n = split($0, w, /[ \t]+/)
            for (i = 1; i < n; i++)
                if (w[i] == c && w[i + 1] ~ /^[a-z][a-z|-]*$/) {
                    m = split(w[i + 1], s, "|")
                    for (j = 1; j <= m; j++) print s[j]
                }
        }
        !/^(usage: +)?certmint / && !/^ +certmint / && !/^ +\[/ { syn = 0 }
        syn || /^ +(-[a-zA-Z], )?--[a-z]/ {
            line = $0
            if (!syn) { sub(/^ +(-[a-zA-Z], )?/, "", line); sub(/ .*/, "", line) }
            # Global options before the command name belong to no command.
            else if ((p = index(line, " " c " ")) > 0 || (p = index(line, " " c)) > 0)
                line = substr(line, p + length(c) + 1)
            while (match(line, /--[a-z][a-z0-9-]*/)) {
                print substr(line, RSTART, RLENGTH)
                line = substr(line, RSTART + RLENGTH)
            }
        }' | sort -u | tr '\n' ' ')
    echo "    $c) echo '${words% }' ;;"
done
echo '    esac'
echo '}'
cat <<'EOT'
_certmint() {
    local cur prev cmd i
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=
    [ "$COMP_CWORD" -gt 0 ] && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    # The command is the first word after the global options.
    cmd=
    for ((i = 1; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
        --home | --passphrase-file) ((i++)) ;;
        -*) ;;
        *) cmd=${COMP_WORDS[i]}; break ;;
        esac
    done
    case $prev in
    --home | --out | --passphrase-file | --from-file | --maildir | --mbox | --crl)
        [ -n "$cmd" ] && [ "$prev" = --crl ] && [ "$cmd" != restore ] || {
            COMPREPLY=($(compgen -f -- "$cur"))
            return
        }
        ;;
    --format)
        case $cmd in
        ca-cert | retrieve) COMPREPLY=($(compgen -W 'pem der p7b' -- "$cur")) ;;
        view) COMPREPLY=($(compgen -W 'table csv json' -- "$cur")) ;;
        *) COMPREPLY=($(compgen -W 'table json' -- "$cur")) ;;
        esac
        return
        ;;
    esac
    if [ -z "$cmd" ]; then
        if [[ $cur == -* ]]; then
            COMPREPLY=($(compgen -W '--home --passphrase-file --verbose --version --help' -- "$cur"))
        else
            COMPREPLY=($(compgen -W "$_certmint_commands" -- "$cur"))
        fi
        return
    fi
    if [ "$cmd" = help ]; then
        COMPREPLY=($(compgen -W "$_certmint_commands" -- "$cur"))
        return
    fi
    local words opts= subs=
    for w in $(_certmint_command_words "$cmd"); do
        case $w in --*) opts="$opts $w" ;; *) subs="$subs $w" ;; esac
    done
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
    elif [ -n "$subs" ] && [ "$i" -eq $((COMP_CWORD - 1)) ]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
}
complete -F _certmint certmint
EOT
