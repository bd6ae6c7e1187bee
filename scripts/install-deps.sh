#!/bin/sh
# Installs every Debian package certmint needs to build, test and benchmark.
# Run as root on Debian 12. Safe to run again.
set -eu
export DEBIAN_FRONTEND=noninteractive
# Postfix and slapd must not configure a system-wide instance: the tests run
# private instances with their state in a temp folder.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
PKGS="build-essential pkg-config clang libclang-rt-14-dev
 libssl-dev openssl libsqlite3-dev sqlite3 libgfshare-dev
 libcurl4-openssl-dev libgmime-3.0-dev libglib2.0-dev libldap2-dev
 gnutls-bin postfix dovecot-core dovecot-imapd dovecot-pop3d slapd ldap-utils
 certmonger dbus
 procps time ca-certificates python3
 libp11-kit-dev softhsm2 opensc strace man-db
 libevent-dev libjansson-dev libjemalloc-dev curl wrk apache2-utils nghttp2-client nginx-light apache2
 postgresql libpq-dev
 chromium chromium-driver python3-selenium libnss3-tools"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # Debian starts a daemon when its package is installed. certmint's tests run
  # private instances, and this machine may be a real mail or directory server:
  # a policy-rc.d that answers 101 ("action forbidden") keeps the packages
  # installed now from starting a system-wide instance, while services that
  # were already installed and configured are never stopped, disabled or
  # reconfigured. An existing policy-rc.d is the administrator's: kept as is.
  # CERTMINT_POLICY_RC_D: only for tests/e2e/install_deps.sh, which runs this
  # script against stub tools and must not touch the real policy-rc.d.
  policy=${CERTMINT_POLICY_RC_D:-/usr/sbin/policy-rc.d}
  ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# certmint install-deps: no daemon starts during this install\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    ours=1
    trap 'rm -f "$policy"' EXIT INT TERM
  fi
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
  if [ -n "$ours" ]; then rm -f "$policy"; trap - EXIT INT TERM; fi
fi
echo "install-deps: all packages present"
