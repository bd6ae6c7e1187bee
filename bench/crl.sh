#!/bin/sh
# CRL generation: certmint (crl_build + DER and PEM files written atomically)
# against `openssl ca -gencrl` over an index.txt with the same revoked
# entries and the same key type (P-256), timed in the same run.
#   sh bench/crl.sh [N ...]          (default: 100000 1000000)
#   CRL_DB=1 sh bench/crl.sh [N ...] also time crl_publish over a database
# Each size runs in its own process so that peak RSS is per size.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
BUILD=${BUILD:-build}
make -s "$BUILD/libcertmint.a" "$BUILD/bench/crl_bench" >/dev/null
sizes=${*:-100000 1000000}
work=$(mktemp -d "${TMPDIR:-/tmp}/crl-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# a/b with d decimals, "-" where b printed as 0 (a tiny N: tests/e2e/crl_bench.sh).
ratio='function ratio(a, b, d) { return b > 0 ? sprintf("%." d "f", a / b) : "-" }'
printf '%10s %12s %12s %8s %14s %10s %12s %16s\n' entries certmint_s openssl_s ratio \
    certmint_rss_MB crl_MB rss/crl_size openssl_rss_MB
for n in $sizes; do
    line=$("$BUILD/bench/crl_bench" "$n" "$work/$n")
    # Independent check that the CRL is what was asked for.
    got=$(openssl crl -inform DER -in "$work/$n/certmint.crl" -noout -text | grep -c 'Serial Number:' || true)
    [ "$got" = "$n" ] || { echo "crl.sh: openssl counts $got entries, expected $n" >&2; exit 1; }
    echo "$line" | awk "$ratio"'{
        for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%10d %12.3f %12.3f %8s %14.1f %10.1f %12s %16.1f\n", v["entries"],
            v["certmint_s"], v["openssl_s"], ratio(v["openssl_s"], v["certmint_s"], 1),
            v["rss_mb"], v["crl_mb"], ratio(v["rss_mb"], v["crl_mb"], 2), v["openssl_rss_mb"]
    }'
    echo "$line" | sed 's/^/    # /'
    rm -rf "${work:?}/$n"
done
# The whole crl_publish path over a populated SQLite database (needs the db
# and config modules; populating 1M rows takes about a minute): CRL_DB=1.
if [ "${CRL_DB:-0}" = 1 ]; then
    make -s "$BUILD/bench/crl_db_bench" >/dev/null
    printf '\n%10s %12s %14s %10s %12s\n' entries publish_s rss_MB crl_MB rss/crl_size
    for n in $sizes; do
        "$BUILD/bench/crl_db_bench" "$n" "$work/db$n" >/dev/null
        line=$("$BUILD/bench/crl_db_bench" 0 "$work/db$n")
        got=$(openssl crl -inform DER -in "$work/db$n/crl/ca.crl" -noout -text | grep -c 'Serial Number:' || true)
        [ "$got" = "$n" ] || { echo "crl.sh: openssl counts $got entries in the published CRL, expected $n" >&2; exit 1; }
        echo "$line" | awk "$ratio"'{
            for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
            printf "%10d %12.3f %14.1f %10.1f %12s\n", v["entries"], v["publish_s"],
                v["rss_mb"], v["crl_mb"], ratio(v["rss_mb"], v["crl_mb"], 2)
        }'
        rm -rf "${work:?}/db$n"
    done
fi
