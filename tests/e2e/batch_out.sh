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
done_testing
