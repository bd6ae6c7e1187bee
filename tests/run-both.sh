#!/bin/sh
# make check: the whole suite on SQLite (tests/run.sh) and, at the same
# time, every end-to-end script again with every CA's database in
# PostgreSQL (CERTMINT_TEST_DB=postgresql, as make check-pg; the unit tests
# run once: test_db_contract covers both backends). Two processes on the
# machine's cores: one after the other they would take about twice as long
# (docs/postgresql.md, "Tests"). The PostgreSQL pass's report follows the
# SQLite pass's, each line prefixed "pg "; the last line sums both:
# "N passed, N failed". CERTMINT_CHECK_PG=0, or no PostgreSQL installed:
# the SQLite pass alone (saying so).
set -u
BUILD=${BUILD:-build}
export BUILD
# Scripts that always use PostgreSQL (pg_nodes, db_migrate) run once, in
# the PostgreSQL pass.
CERTMINT_BOTH=1
export CERTMINT_BOTH
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
pglog=$(mktemp "${TMPDIR:-/tmp}/certmint-check-pg.XXXXXX")
pgpid=""
trap '[ -z "$pgpid" ] || kill "$pgpid" 2>/dev/null; rm -f "$pglog"' EXIT
trap 'exit 130' INT TERM
if [ "${CERTMINT_CHECK_PG:-1}" != 0 ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    CERTMINT_TEST_DB=postgresql CERTMINT_NO_UNIT=1 CERTMINT_STATIC_CHECKS=0 sh tests/run.sh >"$pglog" 2>&1 &
    pgpid=$!
else
    echo "PostgreSQL pass skipped (CERTMINT_CHECK_PG=0 or PostgreSQL not installed)"
fi
sh tests/run.sh | tee "$pglog.sqlite"
p1=$(tail -n 1 "$pglog.sqlite" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
rm -f "$pglog.sqlite"
p2="0 0"
if [ -n "$pgpid" ]; then
    wait "$pgpid"
    pgpid=""
    echo "== the end-to-end scripts on PostgreSQL (CERTMINT_TEST_DB=postgresql)"
    sed 's/^/pg /' "$pglog"
    p2=$(tail -n 1 "$pglog" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p')
    [ -n "$p2" ] || { echo "pg not ok - the PostgreSQL pass ended without a summary"; p2="0 1"; }
fi
[ -n "$p1" ] || p1="0 1"
set -- $p1 $p2
echo "$(($1 + $3)) passed, $(($2 + $4)) failed"
[ $(($2 + $4)) -eq 0 ]
