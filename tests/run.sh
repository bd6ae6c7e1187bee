#!/bin/sh
# Runs the whole test suite: every unit-test binary, then every end-to-end
# script in tests/e2e (each drives build/certmint and checks its results with
# independent tools). Every test prints "ok - NAME" or "not ok - NAME"; this
# script counts them and ends with "N passed, N failed".
set -u
BUILD=${BUILD:-build}
export BUILD
# The tests use the tools Debian's packages install (scripts/install-deps.sh):
# /usr/bin first, so that a python3 or openssl of a developer's own (pyenv,
# /usr/local) does not stand in for them (python3-selenium is Debian's).
PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
log=$(mktemp -d "${TMPDIR:-/tmp}/certmint-tests.XXXXXX")
pass=0
fail=0
# A private PostgreSQL for the run (scripts/pg.sh): the db contract test
# runs against it, and with CERTMINT_TEST_DB=postgresql (make check-pg)
# every CA of the e2e scripts keeps its database there. Without PostgreSQL
# installed the contract test says it skipped that backend.
pgdir=""
if [ -z "${CERTMINT_TEST_PG:-}" ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    pgdir=$(mktemp -d "${TMPDIR:-/tmp}/certmint-pg.XXXXXX")
    if sh scripts/pg.sh start "$pgdir" >"$log/pg.start" 2>&1; then
        eval "$(sh scripts/pg.sh env "$pgdir")"
        echo "PostgreSQL for this run: $CERTMINT_TEST_PG"
    else
        echo "PostgreSQL did not start (see $log/pg.start): its tests are skipped"
        rm -rf "$pgdir"
        pgdir=""
    fi
fi
pg_stop() {
    [ -n "$pgdir" ] || return 0
    sh scripts/pg.sh stop "$pgdir" >/dev/null 2>&1
    rm -rf "$pgdir"
}
trap pg_stop EXIT
trap 'exit 130' INT TERM
runone() {
    name=$1
    shift
    out="$log/$(echo "$name" | tr '/' '_').log"
    start=$(date +%s)
    "$@" >"$out" 2>&1
    rc=$?
    p=$(grep -c '^ok - ' "$out")
    f=$(grep -c '^not ok - ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name: exited $rc without naming a failed test" >>"$out"
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        echo "not ok - $name: ran no test" >>"$out"
        f=1
    fi
    pass=$((pass + p))
    fail=$((fail + f))
    printf '%-40s %4d passed %3d failed  (%ss)\n' "$name" "$p" "$f" "$(($(date +%s) - start))"
    if [ "$f" -ne 0 ]; then
        grep -E '^(not ok|    also)' "$out" | sed 's/^/    /'
        echo "    --- last lines of $out:"
        tail -n 15 "$out" | sed 's/^/    | /'
    fi
}
# CERTMINT_NO_UNIT=1: the e2e scripts only (tests/run-both.sh's second pass).
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    [ "${CERTMINT_NO_UNIT:-0}" = 1 ] && break
    runone "unit/$(basename "$t")" "$t"
done
for t in tests/e2e/*.sh; do
    case "$t" in */lib.sh) continue ;; esac
    [ -f "$t" ] || continue
    if [ -n "${CERTMINT_TESTS:-}" ] && ! echo "$t" | grep -Eq "$CERTMINT_TESTS"; then continue; fi
    # Checks of the source tree, not of a CA (they read src/, docs/ and the
    # build, and docs.sh rewrites docs/cli.md): once per make check, in its
    # SQLite pass; CERTMINT_STATIC_CHECKS=0 (the PostgreSQL pass, SoftHSM and
    # ASan runs) leaves them out.
    case "$(basename "$t" .sh)" in
    layers | long_functions | docs | install_deps)
        if [ "${CERTMINT_STATIC_CHECKS:-1}" = 0 ]; then
            echo "e2e/$(basename "$t" .sh): a check of the source tree, run by make check's first pass"
            continue
        fi
        ;;
    esac
    runone "e2e/$(basename "$t" .sh)" sh "$t"
done
echo "logs: $log"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
