#!/bin/sh
# Every benchmark, in one run on this machine, each next to its physical
# limit (openssl speed, openssl ca, the MTA's own rate) and as ratios.
#   sh bench/all.sh            (make bench-all; make bench is bench/run.sh, the issue 10 table)
# Results are printed; nothing is asserted (a benchmark is not a test).
set -eu
cd "$(dirname "$0")/.."
echo "== machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(openssl version)"
echo
echo "== issuance (bench/issue.sh)"
sh bench/issue.sh "${BENCH_N:-10000}"
echo
echo "== CRL generation (bench/crl.sh), full crl_publish path over SQLite too"
CRL_DB=1 sh bench/crl.sh 100000 1000000
for extra in bench/smtp.sh bench/mailscan.sh bench/recover.sh bench/ocsp.sh bench/keyproc.sh; do
    if [ -f "$extra" ]; then
        echo
        echo "== $extra"
        sh "$extra"
    fi
done
