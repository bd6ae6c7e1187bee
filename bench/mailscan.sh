#!/bin/sh
# Benchmark of the mail audit trail scanner: generates an mbox of N
# notification mails (default 100,000; each one event, most with a DER
# certificate attached) and times mailscan_mbox over it, reporting messages/s
# and the scanner's peak RSS. The same at N/10 shows whether memory stays flat.
# MAILDIR=1 also times a Maildir of N files.
#   sh bench/mailscan.sh [N]
# BENCH_LDFLAGS adds linker flags (e.g. while a module the library needs is
# not yet merged).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
N=${1:-100000}
BUILD=${BUILD:-build}
make -s "$BUILD/libcertmint.a"
pkg-config --exists gmime-3.0 || { echo "mailscan bench: GMime 3 is needed" >&2; exit 1; }
LDAP=""
[ -f /usr/include/ldap.h ] && LDAP="-lldap -llber"
bin="$BUILD/bench/mailscan_bench"
mkdir -p "$BUILD/bench"
# shellcheck disable=SC2046,SC2086
cc -std=c17 -O2 -g -Wall -Wextra -Werror -Isrc -Itests/unit -D_GNU_SOURCE \
   -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED -DCM_HAVE_GMIME \
   $(pkg-config --cflags libcrypto gmime-3.0) -o "$bin" bench/mailscan_bench.c \
   "$BUILD/libcertmint.a" $(pkg-config --libs libcrypto sqlite3 libcurl gmime-3.0) \
   -lpthread $LDAP ${BENCH_LDFLAGS:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-mailscan.XXXXXX")
trap 'rm -rf "$T"' EXIT
small=$((N / 10))
[ "$small" -ge 1 ] || small=1
for n in "$small" "$N"; do
    "$bin" gen-mbox "$T/audit-$n.mbox" "$n"
    size=$(du -k "$T/audit-$n.mbox" | cut -f1)
    echo "mbox of $n mails: $size KiB"
    "$bin" scan-mbox "$T/audit-$n.mbox"
    rm -f "$T/audit-$n.mbox"
done
if [ "${MAILDIR:-0}" = 1 ]; then
    "$bin" gen-maildir "$T/Maildir" "$N"
    "$bin" scan-maildir "$T/Maildir"
fi
