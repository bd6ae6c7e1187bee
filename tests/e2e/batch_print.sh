#!/bin/sh
# The tail of a large submit (issue 10, performance): a batch's line in meta
# "submit.batches" rides in its groups' own transactions (added with the
# first, removed with the last: no commit of its own),
# a batch killed after some groups is still reported by the next submit, in
# worker threads and in one thread; the results are printed as the groups
# commit, in input order, as text and as one JSON document (python3).
. "$(dirname "$0")/lib.sh"

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" config set submit.workers 2 >/dev/null
cm "$H" config set submit.batch_group 16 >/dev/null
cc -O2 -o "$T/gen_csrs" "$TOP/bench/gen_csrs.c" -lcrypto || { fail "build gen_csrs"; done_testing; }
mkdir "$T/csrs"
"$T/gen_csrs" "$T/csrs" 300 >/dev/null
ls "$T"/csrs/*.csr >"$T/files"
batches() { db_sql "$H" "SELECT value FROM meta WHERE key = 'submit.batches'"; }

# --- text: one line per request, in input order, as the groups commit
cm "$H" submit "$T"/csrs/*.csr >"$T/res" 2>"$T/err"
rc=$?
check_eq "batch of 300 in groups of 16, 2 workers: exit 0" "$rc" 0
check_eq "300 lines, each issued" "$(grep -c '	issued	' "$T/res")" 300
check_eq "...in input order" "$(cut -f4 "$T/res")" "$(cat "$T/files")"
check_eq "...RequestIDs 1..300" "$(cut -f1 "$T/res" | tr '\n' ' ')" "$(seq 1 300 | tr '\n' ' ')"
check_eq "the batch's line is gone after it" "$(batches)" ""

# --- JSON: one document, the elements in input order
cm "$H" submit --format json "$T"/csrs/*.csr >"$T/res.json" 2>"$T/err"
check_eq "the same batch as JSON: exit 0" "$?" 0
check_eq "...one JSON document with 300 results in input order, RequestIDs 301..600" \
    "$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))["results"]
print(len(d), all(r["disposition"] == "issued" and r["withheld"] is False for r in d),
      [r["request_id"] for r in d] == list(range(301, 601)))
sys.stdout.write("".join(r["file"] + "\n" for r in d))' "$T/res.json")" \
    "$(printf '300 True True\n'; cat "$T/files")"
check_eq "...ends with one newline after ]}" "$(tail -c 3 "$T/res.json" | od -An -c | tr -d ' ')" ']}\n'

# --- killed after some groups: in one thread, then in workers
killed_batch() { # WORKERS N: submit N requests, kill -9 once 48 are recorded
    cm "$H" config set submit.workers "$1" >/dev/null
    rm -rf "$T/many" && mkdir "$T/many"
    "$T/gen_csrs" "$T/many" "$2" >/dev/null
    before=$(db_sql "$H" "SELECT count(*) FROM requests")
    "$CM" --home "$H" --passphrase-file "$PASS" submit "$T"/many/*.csr >/dev/null 2>&1 &
    P=$!
    i=0
    while [ $i -lt 400 ]; do
        c=$(db_sql "$H" "SELECT count(*) FROM requests" 2>/dev/null)
        [ "${c:-0}" -ge $((before + 48)) ] && break
        sleep 0.02
        i=$((i + 1))
    done
    line=$(batches 2>/dev/null)
    kill -9 $P
    wait $P 2>/dev/null
    n=$(($(db_sql "$H" "SELECT count(*) FROM requests") - before))
    check_match "$1 worker(s): a committed group carries the batch's line" "$line" "^$P [0-9]+ $2 "
    [ "$n" -gt 0 ] && [ "$n" -lt "$2" ] && ok "...killed half-way: $n of $2 recorded" ||
        fail "...killed at $n of $2"
    cm "$H" submit "$T/csrs/000000.csr" >/dev/null 2>"$T/after.err"
    check_match "...the next submit reports it with what it recorded" "$(cat "$T/after.err")" \
        "earlier submit of $2 requests \(process $P, .* was interrupted; $n of them were recorded: $n issued"
    check_eq "...and drops the line" "$(batches)" ""
}
cm "$H" config set submit.batch_group 8 >/dev/null
killed_batch 1 6000
killed_batch 2 8000
done_testing
