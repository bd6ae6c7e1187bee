#!/bin/sh
# Issuance with several nodes on one PostgreSQL beside SQLite (issue 14):
#   sh bench/pg_nodes.sh [N]        (default N = 4000)
# N prepared P-256 CSRs, tls-server profile, P-256 CA key in the encrypted
# file, submit.workers 1 per process. SQLite: one process (one node) on the
# home's file. PostgreSQL: 1, 2 and 4 processes ("nodes": copies of one
# home, the same key, one database) each submitting N/k of the requests at
# once, on a private server (scripts/pg.sh) with fsync on (PG_FSYNC=on:
# durable commits, as SQLite's synchronous=FULL). Prints certificates/s
# (wall clock, from the first start to the last end) and the ratio to
# SQLite's single node. Nothing is asserted. The target (issue 14): 2 nodes
# on PostgreSQL >= 0.8 of SQLite's single node.
#   CM=path/to/certmint sh bench/pg_nodes.sh   another build
set -eu
cd "$(dirname "$0")/.."
N=${1:-4000}
CM=${CM:-./build/certmint}
[ -x "$CM" ] || make -s
W=$(mktemp -d "${TMPDIR:-/tmp}/cm-bench-pg.XXXXXX")
chmod 711 "$W"
trap 'sh scripts/pg.sh stop "$W/pg" >/dev/null 2>&1; rm -rf "$W"' EXIT
PG_FSYNC=on sh scripts/pg.sh start "$W/pg" >/dev/null
eval "$(sh scripts/pg.sh env "$W/pg")"
cc -O2 -o "$W/gen_csrs" bench/gen_csrs.c -lcrypto
mkdir "$W/csrs"
"$W/gen_csrs" "$W/csrs" "$N"
printf 'bench-passphrase\n' >"$W/pass"
chmod 600 "$W/pass"
ls "$W"/csrs/*.csr >"$W/all"

# run NAME K [--db URL]: K processes on copies of one new home; certs/s.
run() {
    name=$1 k=$2
    shift 2
    h="$W/$name"
    $CM --home "$h" --passphrase-file "$W/pass" init --subject "/CN=Bench $name" --key ec:p256 \
        "$@" >/dev/null
    $CM --home "$h" config set submit.workers 1
    split -n "l/$k" -d "$W/all" "$W/part.$name."
    i=0
    for p in "$W/part.$name".*; do
        [ $i -eq 0 ] || cp -a "$h" "$h.$i"
        i=$((i + 1))
    done
    sync
    start=$(date +%s.%N)
    i=0
    for p in "$W/part.$name".*; do
        hh=$h
        [ $i -eq 0 ] || hh="$h.$i"
        # shellcheck disable=SC2046
        $CM --home "$hh" --passphrase-file "$W/pass" submit --profile tls-server $(cat "$p") \
            >"$W/out.$name.$i" 2>"$W/err.$name.$i" &
        i=$((i + 1))
    done
    wait
    end=$(date +%s.%N)
    issued=$(cat "$W/out.$name".* | grep -c '	issued	' || true)
    [ "$issued" -eq "$N" ] || { echo "$name: only $issued of $N issued: $(head -n 2 "$W/err.$name".*)" >&2; exit 1; }
    awk -v n="$N" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }'
}
echo "issuance, $N P-256 CSRs, submit.workers 1 per process, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
sq=$(run sqlite 1)
printf '%-34s %8s/s  %s\n' "SQLite, 1 node" "$sq" "1.00"
for k in 1 2 4; do
    r=$(run "pg$k" "$k" --db "$CERTMINT_TEST_PG/bench_pg$k")
    printf '%-34s %8s/s  %s\n' "PostgreSQL, $k node(s)" "$r" "$(awk -v a="$r" -v b="$sq" 'BEGIN { printf "%.2f", a / b }')"
done
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
