#!/bin/sh
# The CRL benchmark (bench/crl.sh, docs/crl.md "Performance") still runs:
# its programs (bench/crl_bench.c, bench/crl_db_bench.c) are built with
# `make tools` and fill struct crl_params and ca_ctx by hand, so a change of
# the core's API or of crl_publish's preconditions breaks them without any
# other test noticing (they once stopped compiling, and crl_db_bench then
# failed an assertion). A tiny N: the script's own checks (openssl counts
# the entries of every CRL) and its tables, not the figures.
. "$(dirname "$0")/lib.sh"
skip_unless_sqlite "crl_db_bench makes its own SQLite database (one pass is enough)"
skip_unless_file_keys "the benchmark makes its own key in memory"

# crl.sh builds what it runs with make, in the tree's own terms: BUILD as
# the Makefile's rules name it (lib.sh made it absolute).
B=${BUILD#"$TOP"/}

# row_of N FILE: the table row whose first column is N.
row_of() {
    awk -v n="$1" '$1 == n' "$2"
}

if (cd "$TOP" && BUILD=$B sh bench/crl.sh 1 300) >"$T/crl.out" 2>"$T/crl.err"; then
    ok "bench/crl.sh 1 300 runs to the end"
else
    fail "bench/crl.sh 1 300: $(tail -n 3 "$T/crl.err" | tr '\n' ' ')"
fi
check_match "its table's header" "$(head -n 1 "$T/crl.out")" \
    '^ +entries +certmint_s +openssl_s +ratio +certmint_rss_MB +crl_MB'
for n in 1 300; do
    check_match "a row for $n entries, timed against openssl ca -gencrl" "$(row_of $n "$T/crl.out")" \
        "^ +$n +[0-9]+\\.[0-9]{3} +[0-9]+\\.[0-9]{3} +([0-9.]+|-) +[0-9]+\\.[0-9]"
done

if (cd "$TOP" && CRL_DB=1 BUILD=$B sh bench/crl.sh 300) >"$T/db.out" 2>"$T/db.err"; then
    ok "CRL_DB=1 bench/crl.sh 300 runs to the end (crl_publish over a database)"
else
    fail "CRL_DB=1 bench/crl.sh 300: $(tail -n 3 "$T/db.err" | tr '\n' ' ')"
fi
check_match "the publish table's header" "$(grep publish_s "$T/db.out")" \
    '^ +entries +publish_s +rss_MB +crl_MB'
check_eq "two rows for 300 entries (crl_build's and crl_publish's)" \
    "$(row_of 300 "$T/db.out" | wc -l | tr -d ' ')" 2
check_match "crl_publish's row" "$(row_of 300 "$T/db.out" | tail -n 1)" \
    '^ +300 +[0-9]+\.[0-9]{3} +[0-9]+\.[0-9] +[0-9]+\.[0-9] +([0-9.]+|-)$'
done_testing
