#!/bin/sh
# scripts/install-deps.sh must install packages without touching the system's
# services: on a real mail or directory server, stopping postfix, slapd or
# dovecot takes production down. The script runs here against stub package
# and service tools (first in PATH) that log their arguments; nothing on the
# real system is installed, stopped or written. INSTALL_DEPS=FILE tests
# another version of the script (e.g. the old one, to see this test fail).
. "$(dirname "$0")/lib.sh"
SCRIPT=${INSTALL_DEPS:-$TOP/scripts/install-deps.sh}
STUB="$T/stub"
LOG="$T/calls"
POLICY="$T/policy-rc.d"
mkdir -p "$STUB"

# The stubs only work if the script finds its tools through PATH: an absolute
# path would reach the real apt-get or systemctl, so refuse to run then.
if grep -Eq '/(usr/)?s?bin/(apt-get|apt|dpkg-query|systemctl|service|invoke-rc\.d|deb-systemd-invoke|debconf-set-selections)' "$SCRIPT"; then
    fail "install-deps.sh calls a package or service tool by absolute path; not run"
    done_testing
fi

# stub NAME [BODY]: logs "NAME ARGS" to $LOG, then runs BODY.
stub() {
    cat >"$STUB/$1" <<EOS
#!/bin/sh
echo "$1 \$*" >>"$LOG"
$2
exit 0
EOS
    chmod 755 "$STUB/$1"
}
# dpkg-query reports every package installed except those in $MISSING.
stub dpkg-query 'eval pkg=\${$#}; for p in $MISSING; do [ "$p" = "$pkg" ] && { echo "unknown ok not-installed"; exit 1; }; done; printf "install ok installed"'
# apt-get install records what policy-rc.d said during the install: a daemon
# whose package is installed now must not start (invoke-rc.d asks policy-rc.d).
stub apt-get 'case "$*" in *install*) if [ -x "$CERTMINT_POLICY_RC_D" ]; then "$CERTMINT_POLICY_RC_D" postfix start; echo "policy $?" >>"$LOG"; else echo "policy none" >>"$LOG"; fi ;; esac'
for t in systemctl service invoke-rc.d deb-systemd-invoke update-rc.d debconf-set-selections; do
    stub "$t" 'cat >/dev/null 2>&1 </dev/null'
done

run_script() {
    : >"$LOG"
    PATH="$STUB:/usr/local/bin:/usr/bin:/bin" LOG="$LOG" MISSING="$1" CERTMINT_POLICY_RC_D="$POLICY" \
        sh "$SCRIPT" >"$T/out" 2>&1
}
service_calls() {
    grep -E '^(systemctl|service|invoke-rc\.d|deb-systemd-invoke|update-rc\.d) ' "$LOG" |
        grep -Ei 'stop|disable|restart|mask|reload|kill|remove' || true
}

# 1. Everything installed: nothing to do, and no service is touched.
if run_script ""; then ok "all present: the script succeeds"; else
    fail "all present: exited non-zero: $(tail -n 3 "$T/out" | tr '\n' ' ')"
fi
check_eq "all present: no apt-get run" "$(grep -c '^apt-get' "$LOG")" 0
check_eq "all present: no service stopped, disabled or restarted" "$(service_calls)" ""

# 2. Two packages missing: the install branch runs.
if run_script "slapd dovecot-core"; then ok "missing packages: the script succeeds"; else
    fail "missing packages: exited non-zero: $(tail -n 3 "$T/out" | tr '\n' ' ')"
fi
check_match "missing packages: apt-get installs exactly them" \
    "$(grep '^apt-get .*install' "$LOG")" 'no-install-recommends dovecot-core slapd$'
check_eq "missing packages: no service stopped, disabled or restarted" "$(service_calls)" ""
check_eq "missing packages: policy-rc.d forbids starting daemons during the install" \
    "$(grep '^policy' "$LOG")" "policy 101"
if [ -e "$POLICY" ]; then fail "the temporary policy-rc.d is left behind"; else
    ok "the temporary policy-rc.d is removed afterwards"
fi

# 3. An administrator's own policy-rc.d is kept as it is.
printf '#!/bin/sh\n# the admin'"'"'s\nexit 0\n' >"$POLICY"
chmod 755 "$POLICY"
cp "$POLICY" "$T/policy.orig"
run_script "postfix" || true
if cmp -s "$POLICY" "$T/policy.orig"; then ok "an existing policy-rc.d is left unchanged"; else
    fail "an existing policy-rc.d was changed or removed"
fi
done_testing
