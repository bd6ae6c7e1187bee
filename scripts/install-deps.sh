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
 libssl-dev openssl libsqlite3-dev sqlite3
 libcurl4-openssl-dev libgmime-3.0-dev libglib2.0-dev libldap2-dev
 gnutls-bin postfix dovecot-core dovecot-imapd slapd ldap-utils
 procps time ca-certificates python3"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
# Debian starts system daemons on install; certmint's tests use their own
# private instances, so stop any system-wide ones that came up.
for s in postfix slapd dovecot; do
  if command -v systemctl >/dev/null 2>&1; then systemctl stop "$s" >/dev/null 2>&1 || true; fi
  service "$s" stop >/dev/null 2>&1 || true
done
echo "install-deps: all packages present"
