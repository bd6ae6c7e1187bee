#!/bin/sh
# submit --out DIR for a batch (issue 10, performance): the certificate files
# of a batch are made durable in groups (fs_group: one sync pass, one fsync
# of the directory per group of up to 256 files) instead of two fsyncs per
# file, and the output-file policy still holds. Counted with strace, checked
# with openssl and sqlite3.
. "$(dirname "$0")/lib.sh"

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" ca-cert >"$T/root.pem"
cc -O2 -o "$T/gen_csrs" "$TOP/bench/gen_csrs.c" -lcrypto || { fail "build gen_csrs"; done_testing; }
mkdir "$T/csrs" "$T/out"
"$T/gen_csrs" "$T/csrs" 300 >/dev/null
# One worker: the batch is large enough to be split otherwise, which this
# test does not need (the files are written by submit itself).
cm "$H" config set submit.workers 1

run_batch() { # log -> submit of the 300 requests into $T/out
    if command -v strace >/dev/null 2>&1; then
        # LeakSanitizer stops a traced process (it needs ptrace itself):
        # under `make asan` this one run goes without leak checking.
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -y -e trace=fsync,fdatasync -o "$1" \
            "$CM" --home "$H" --passphrase-file "$PASS" submit --out "$T/out" "$T"/csrs/*.csr
    else
        : >"$1"
        "$CM" --home "$H" --passphrase-file "$PASS" submit --out "$T/out" "$T"/csrs/*.csr
    fi
}
run_batch "$T/strace.log" >"$T/res" 2>"$T/err"
check_eq "batch of 300 with --out: exit 0" "$?" 0
check_eq "300 issued" "$(grep -c '	issued	' "$T/res")" 300
check_eq "300 files, no temp file left" "$(ls -A "$T/out" | wc -l)" 300
bad=0
for id in $(cut -f1 "$T/res"); do
    openssl verify -CAfile "$T/root.pem" "$T/out/$id.pem" >/dev/null 2>&1 || bad=$((bad + 1))
done
check_eq "every file is its request's certificate (openssl verify)" "$bad" 0
serial=$(openssl x509 -in "$T/out/$(head -n1 "$T/res" | cut -f1).pem" -noout -serial | cut -d= -f2)
check_eq "file 1's serial is request 1's" "$(head -n1 "$T/res" | cut -f3 | tr a-f A-F)" "$serial"
check_eq "files are 0644" "$(stat -c %a "$T/out"/*.pem | sort -u)" 644
if command -v strace >/dev/null 2>&1; then
    out=$(cd "$T/out" && pwd -P)
    dirsyncs=$(grep -c "fsync([0-9]*<$out>)" "$T/strace.log")
    filesyncs=$(grep -c "sync([0-9]*<$out/" "$T/strace.log")
    # Before: one fsync of the directory per file (300) and one per file.
    check_eq "one directory fsync per group of files (2 groups)" "$dirsyncs" 2
    check_match "at most one sync per file" "$filesyncs" '^([0-9]|[0-9][0-9]|[12][0-9][0-9]|300)$'
else
    ok "strace not installed: fsync counts not checked"
fi

# The policy: existing files are kept without --force (that request is
# reported, the others written), replaced with it; a link into the home is
# refused even with --force.
first=$(($(cut -f1 "$T/res" | sort -n | tail -n1) + 1))
rm -rf "$T/csrs2" && mkdir "$T/csrs2"
for i in 1 2 3; do cp "$T/csrs/$(ls "$T/csrs" | sed -n "${i}p")" "$T/csrs2/$i.csr"; done
echo "keep me" >"$T/out/$first.pem"
keyfile=$H/private/ca.key
[ "$KEYSTORE" = softhsm ] && keyfile=$H/private/ca.key.uri
keywas=$(sha256sum <"$keyfile")
ln -s "$keyfile" "$T/out/$((first + 1)).pem"
cm "$H" submit --force --out "$T/out" "$T"/csrs2/*.csr >"$T/res2" 2>"$T/err2"
check_eq "a link into the home fails that file: exit 1" "$?" 1
check_match "the link is named" "$(cat "$T/err2")" "$((first + 1)).pem: a symbolic link into the CA home"
check_eq "the key (or its URI) is untouched" "$(sha256sum <"$keyfile")" "$keywas"
check "--force replaced the existing file" openssl verify -CAfile "$T/root.pem" "$T/out/$first.pem"
check "the third is written" openssl verify -CAfile "$T/root.pem" "$T/out/$((first + 2)).pem"
check_eq "all three lines are printed" "$(wc -l <"$T/res2")" 3
next=$((first + 3))
echo "keep me" >"$T/out/$next.pem"
cm "$H" submit --out "$T/out" "$T"/csrs2/1.csr "$T"/csrs2/2.csr >"$T/res3" 2>"$T/err3"
check_eq "an existing file without --force: exit 1" "$?" 1
check_match "it is named" "$(cat "$T/err3")" "$next.pem: already exists; give --force"
check_eq "it is kept" "$(cat "$T/out/$next.pem")" "keep me"
check "the other is written" openssl verify -CAfile "$T/root.pem" "$T/out/$((next + 1)).pem"
check "the kept one is retrievable" cm "$H" retrieve "$next" --out "$T/r.pem"
check_eq "no temp file left" "$(ls -A "$T/out" | grep -c tmp)" 0

# The files of each committed group are written while the next groups are
# signed (a thread of the CLI fed after each commit), not after the batch:
# in the strace of a batch of 16 groups, the first group's first file is
# written before the last group's commit is reported (-vv), and every file
# is synced and renamed before the first line is printed. One worker
# (submit_range) and two (the thread pool).
cm "$H" config set submit.batch_group 16
ls "$T"/csrs/*.csr | head -n 256 >"$T/csrs256"
for w in 1 2; do
    mkdir "$T/early$w"
    cm "$H" config set submit.workers $w
    if ! command -v strace >/dev/null 2>&1; then
        ok "strace not installed: the order of commits and files not checked ($w)"
        continue
    fi
    # shellcheck disable=SC2046
    ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -y -s 200 \
        -e trace=write,openat,renameat2,rename,link,fsync,syncfs -o "$T/early$w.log" \
        "$CM" --home "$H" --passphrase-file "$PASS" -vv submit --out "$T/early$w" \
        $(cat "$T/csrs256") >"$T/early$w.res" 2>"$T/early$w.err"
    check_eq "$w worker(s): batch of 256 in groups of 16 (two workers take 256 or more): exit 0, 256 files" \
        "$? $(ls "$T/early$w" | wc -l)" "0 256"
    dir=$(cd "$T/early$w" && pwd -P)
    res=$(cd "$T" && pwd -P)/early$w.res
    # Line numbers in the trace: the first temp file written into the
    # directory, the last commit reported, the last sync of the directory,
    # the first line printed.
    awk -v d="$dir" -v r="$res" '
        index($0, "write(") && index($0, "<" d "/.") && !f { f = NR }
        /committed, their files handed/ { c = NR; n++ }
        index($0, "fsync(") && index($0, "<" d ">") { s = NR }
        index($0, "renameat2(") && index($0, "<" d ">") { m = NR }
        index($0, "write(1<" r ">") && !p { p = NR }
        END { printf "%d %d %d %d %d %d\n", n, f, c, s, m, p }' "$T/early$w.log" >"$T/early$w.pos"
    read -r n first_file last_commit last_sync last_rename first_print <"$T/early$w.pos"
    check_eq "  ... 16 commits reported" "$n" 16
    check "  ... the first group's files are written before the last group is committed" \
        test "$first_file" -gt 0 -a "$first_file" -lt "$last_commit"
    check "  ... every file is renamed and the directory synced before the first line is printed" \
        test "$last_rename" -gt 0 -a "$last_rename" -lt "$last_sync" -a "$last_sync" -lt "$first_print"
    bad=0
    for id in $(cut -f1 "$T/early$w.res"); do
        openssl verify -CAfile "$T/root.pem" "$T/early$w/$id.pem" >/dev/null 2>&1 || bad=$((bad + 1))
    done
    check_eq "  ... every file is its request's certificate (openssl verify)" "$bad" 0
done

# Strict audit mode with no off-box exit module: every certificate of the
# batch is withheld, so no file is written, early or late.
cm "$H" config set audit.require_offbox true >/dev/null 2>&1
mkdir "$T/strict"
# shellcheck disable=SC2046
cm "$H" submit --out "$T/strict" $(head -n 20 "$T/csrs256") >"$T/strict.res" 2>"$T/strict.err"
check_eq "strict mode: batch --out exits 1" "$?" 1
check_eq "  ... 20 issued, each withheld" \
    "$(grep -c '	issued	' "$T/strict.res") $(grep -c 'withheld until' "$T/strict.err")" "20 20"
check_eq "  ... no file written" "$(ls -A "$T/strict" | wc -l)" 0
cm "$H" config set audit.require_offbox false >/dev/null 2>&1
done_testing
