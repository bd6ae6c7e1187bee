#!/bin/sh
# Issuance with several nodes on one PostgreSQL beside SQLite (issue 14):
#   sh bench/pg_nodes.sh [N]        (default N = 4000)
# N prepared P-256 CSRs, tls-server profile, P-256 CA key in the encrypted
# file, submit.workers 1 per process (and, for reference, the SQLite node
# with 2 workers). SQLite: one process (one node) on the
# home's file. PostgreSQL: 1, 2 and 4 processes ("nodes": copies of one
# home, the same key, one database) each submitting N/k of the requests at
# once, on a private server (scripts/pg.sh) with fsync on (PG_FSYNC=on:
# durable commits, as SQLite's synchronous=FULL; synchronous_commit on).
# Prints certificates/s (wall clock, from the first start to the last end),
# the ratio to SQLite's single node, and the CPU time per certificate of
# the certmint processes (user + system) and of the PostgreSQL server
# (its backends, read from the postmaster's reaped-children times in
# /proc): on a shared machine the CPU figures compare, the wall-clock ones
# are that moment's load. Nothing is asserted. The target (issue 14): 2
# nodes on PostgreSQL >= 0.8 of SQLite's single node.
#   CM=path/to/certmint sh bench/pg_nodes.sh   another build
#   WORKERS=2 sh bench/pg_nodes.sh   every node (SQLite's too) with 2 workers
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

# CPU seconds (user + system) of this shell's reaped children, and of the
# PostgreSQL server's (the postmaster's own and its reaped backends').
# (times in the shell that waited for them, not in a command substitution:
# a forked shell starts with none.)
cpu_children() { tail -n 1 "$1" | awk '{ gsub(/[ms]/, " "); split($0, f, " "); print f[1] * 60 + f[2] + f[3] * 60 + f[4] }'; }
cpu_server() {
    pid=$(head -n 1 "$W/pg/data/postmaster.pid")
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15 + $16 + $17) / hz }' "/proc/$pid/stat"
}

# run NAME K [--db URL]: K processes on copies of one new home; prints
# "certs/s node-CPU-us/cert server-CPU-us/cert".
run() {
    name=$1 k=$2
    shift 2
    h="$W/$name"
    $CM --home "$h" --passphrase-file "$W/pass" init --subject "/CN=Bench $name" --key ec:p256 \
        "$@" >/dev/null
    $CM --home "$h" config set submit.workers "$wk"
    split -n "l/$k" -d "$W/all" "$W/part.$name."
    i=0
    for p in "$W/part.$name".*; do
        [ $i -eq 0 ] || cp -a "$h" "$h.$i"
        i=$((i + 1))
    done
    sync
    times >"$W/times0"
    s0=$(cpu_server)
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
    times >"$W/times1"
    c0=$(cpu_children "$W/times0") c1=$(cpu_children "$W/times1") s1=$(cpu_server)
    issued=$(cat "$W/out.$name".* | grep -c '	issued	' || true)
    [ "$issued" -eq "$N" ] || { echo "$name: only $issued of $N issued: $(head -n 2 "$W/err.$name".*)" >&2; exit 1; }
    awk -v n="$N" -v a="$start" -v b="$end" -v c="$c1" -v cc="$c0" -v s="$s1" -v ss="$s0" \
        'BEGIN { printf "%.0f %.0f %.0f", n / (b - a), (c - cc) * 1e6 / n, (s - ss) * 1e6 / n }'
}
# row LABEL "RATE NODECPU SERVERCPU" SQLITE-RATE
row() {
    set -- "$1" $2 "$3"
    printf '%-26s %8s/s  %5s  %8s us  %8s us\n' "$1" "$2" \
        "$(awk -v a="$2" -v b="$5" 'BEGIN { printf "%.2f", a / b }')" "$3" "$4"
}
echo "issuance, $N P-256 CSRs, submit.workers ${WORKERS:-1} per process, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-26s %10s  %5s  %11s  %11s\n' "" "rate" "ratio" "certmint CPU" "server CPU"
wk=${WORKERS:-1}
sq=$(run sqlite 1)
row "SQLite, 1 node" "$sq" "${sq%% *}"
for k in 1 2 4; do
    r=$(run "pg$k" "$k" --db "$CERTMINT_TEST_PG/bench_pg$k")
    row "PostgreSQL, $k node(s)" "$r" "${sq%% *}"
done
# For reference: the SQLite node with two workers (both cores), the rate
# that one SQLite machine reaches when it is not split into nodes.
if [ "$wk" -eq 1 ]; then
    wk=2
    s2=$(run sqlite2w 1)
    row "SQLite, 1 node, 2 workers" "$s2" "${sq%% *}"
fi
echo "load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
