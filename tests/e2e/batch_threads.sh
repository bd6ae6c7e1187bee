#!/bin/sh
# A batch in worker threads (issue 10, performance): the CA key is decrypted
# while the workers verify the requests, so a wrong passphrase or a bad
# request must still change nothing; the rows' descriptive columns are
# computed from the certificate alone (SubjectKeyIdentifier checked against
# openssl); the SQLite WAL is checkpointed by a thread of its own, not by
# the committing writer (strace: who syncs the database file), and the
# database stays whole; P-384, P-521 and RSA requests among P-256 ones each
# get a certificate with their own key (openssl).
. "$(dirname "$0")/lib.sh"

H="$T/ca"
new_root "$H" ec:p256 >/dev/null || { fail "init"; done_testing; }
cm "$H" ca-cert >"$T/root.pem"
cm "$H" config set submit.workers 2 >/dev/null
cm "$H" config set submit.batch_group 64 >/dev/null
# (the first serial number's second, for the serials' time prefix below)
t_start=$(printf '40%08X' "$(date +%s)")
cc -O2 -o "$T/gen_csrs" "$TOP/bench/gen_csrs.c" -lcrypto || { fail "build gen_csrs"; done_testing; }
mkdir "$T/csrs"
"$T/gen_csrs" "$T/csrs" 600 >/dev/null

# --- a wrong passphrase: the workers have verified, nothing is recorded
before=$(db_state "$H")
printf 'not-the-passphrase\n' >"$T/wrong"
chmod 600 "$T/wrong"
if [ "$KEYSTORE" = file ]; then
    "$CM" --home "$H" --passphrase-file "$T/wrong" submit "$T"/csrs/*.csr >"$T/res" 2>"$T/err"
    check_eq "batch with a wrong passphrase: exit 1" "$?" 1
    check_match "...says the key cannot be decrypted" "$(cat "$T/err")" "ca\.key|passphrase|decrypt"
    check_eq "...prints no result" "$(wc -l <"$T/res")" 0
    check_eq "...and changes nothing in the database" "$(db_state "$H")" "$before"
else
    ok "skipped with CERTMINT_TEST_KEYSTORE=$KEYSTORE: the wrong passphrase file"
fi

# --- a bad request among 600: refused before the first is recorded
mkdir "$T/bad"
cp "$T"/csrs/*.csr "$T/bad/"
printf 'not a request\n' >"$T/bad/000300.csr"
cm "$H" submit "$T"/bad/*.csr >"$T/res" 2>"$T/err"
check_eq "batch with one bad request: exit 1" "$?" 1
check_match "...names the file" "$(cat "$T/err")" "000300\.csr"
check_eq "...and changes nothing in the database" "$(db_state "$H")" "$before"

# --- the batch: every certificate issued, its row described from it
cm "$H" submit "$T"/csrs/*.csr >"$T/res" 2>"$T/err"
check_eq "batch of 600 in 2 workers: exit 0" "$?" 0
check_eq "600 issued" "$(grep -c '	issued	' "$T/res")" 600
bad=0
for id in 1 2 150 300 599 600; do
    cm "$H" retrieve "$id" >"$T/c.pem" 2>/dev/null
    openssl verify -CAfile "$T/root.pem" "$T/c.pem" >/dev/null 2>&1 || bad=$((bad + 1))
    ski=$(openssl x509 -in "$T/c.pem" -noout -ext subjectKeyIdentifier 2>/dev/null | tail -n 1 | tr -d ' :' | tr a-f A-F)
    row=$(cm "$H" view --restrict "RequestID=$id" --out SubjectKeyIdentifier --format csv | tail -n 1 | tr -d '"\r' | tr a-f A-F)
    [ -n "$ski" ] && [ "$ski" = "$row" ] || bad=$((bad + 1))
done
check_eq "certificates verify (openssl) and their SubjectKeyIdentifier column is openssl's" "$bad" 0

# --- the WAL checkpointer (SQLite): 3,000 certificates in groups of 64 take
# the WAL past SQLite's 1,000 pages several times.
if [ "$TESTDB" = sqlite ]; then
    mkdir "$T/more"
    "$T/gen_csrs" "$T/more" 3000 >/dev/null
    if command -v strace >/dev/null 2>&1; then
        ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" strace -f -y -e trace=fsync,fdatasync \
            -o "$T/strace.log" "$CM" --home "$H" --passphrase-file "$PASS" -vv submit \
            "$T"/more/*.csr >"$T/res" 2>"$T/err"
        rc=$?
    else
        cm "$H" -vv submit "$T"/more/*.csr >"$T/res" 2>"$T/err"
        rc=$?
    fi
    check_eq "batch of 3,000: exit 0" "$rc" 0
    check_eq "3,000 issued" "$(grep -c '	issued	' "$T/res")" 3000
    n=$(sed -n 's/.* \([0-9]*\) WAL checkpoints on the checkpointer thread.*/\1/p' "$T/err" | head -n 1)
    [ "${n:-0}" -ge 1 ] && ok "the checkpointer thread ran $n checkpoints" ||
        fail "no checkpoint on the checkpointer thread: $(grep -i checkpoint "$T/err")"
    if [ -f "$T/strace.log" ]; then
        main=$(head -n 1 "$T/strace.log" | cut -d' ' -f1)
        dbf=$(cd "$H" && pwd -P)/certmint.db
        # The database file (not its -wal) is synced by checkpoints only.
        other=$(grep "sync([0-9]*<$dbf>)" "$T/strace.log" | grep -cv "^$main ")
        [ "$other" -ge 1 ] && ok "a thread other than the writer synced the database file ($other times)" ||
            fail "no sync of $dbf outside the writer thread"
    else
        ok "strace not installed: the syncing thread not checked"
    fi
    check_eq "the database is whole (integrity_check)" "$(db_sql "$H" "PRAGMA integrity_check")" ok
    check_eq "3,600 certificates, each with its request" \
        "$(db_sql "$H" "SELECT count(*) FROM certificates c JOIN requests r USING (RequestID)")" 3600
else
    ok "skipped with CERTMINT_TEST_DB=$TESTDB: the SQLite WAL checkpointer"
fi
# --- keys of other curves and types among P-256 ones, in worker threads:
# each certificate carries its own request's key (the parser copies one
# prepared key per curve: a copy of the wrong curve would show here).
mkdir "$T/mixed"
ls "$T/csrs" | head -n 300 | while read -r f; do cp "$T/csrs/$f" "$T/mixed/$f"; done
for k in 000010p384:ec:P-384 000150rsa:rsa:2048 000151p521:ec:P-521 000290p384:ec:P-384; do
    name=${k%%:*}
    alg=${k#*:}
    if [ "${alg%%:*}" = ec ]; then
        openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${alg#ec:}" -out "$T/$name.key" 2>/dev/null
    else
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/$name.key" 2>/dev/null
    fi
    openssl req -new -key "$T/$name.key" -subj "/CN=$name.example.org" \
        -addext "subjectAltName=DNS:$name.example.org" -outform DER -out "$T/mixed/$name.csr"
done
cm "$H" submit "$T"/mixed/*.csr >"$T/res" 2>"$T/err"
check_eq "batch of 300 P-256 and 4 other keys in 2 workers: exit 0" "$?" 0
check_eq "304 issued" "$(grep -c '	issued	' "$T/res")" 304
bad=0
for f in 000010p384 000150rsa 000151p521 000290p384 000000 000149 000152 000299; do
    id=$(grep "	$T/mixed/$f.csr\$" "$T/res" | cut -f1)
    cm "$H" retrieve "$id" >"$T/c.pem" 2>/dev/null
    want=$(openssl req -inform DER -in "$T/mixed/$f.csr" -noout -pubkey 2>/dev/null)
    got=$(openssl x509 -in "$T/c.pem" -noout -pubkey 2>/dev/null)
    if [ -z "$want" ] || [ "$want" != "$got" ] ||
        ! openssl verify -CAfile "$T/root.pem" "$T/c.pem" >/dev/null 2>&1; then
        bad=$((bad + 1))
        echo "# $f (request $id): the certificate's key is not its request's" >&2
    fi
done
check_eq "each certificate has its own request's key (P-256, P-384, P-521, RSA; openssl)" "$bad" 0
# --- the profile's key policy in worker threads: it reads each request's
# key type and curve without making the request's own key (the curve's
# prepared key stands in, csr.h c->kind): a profile for P-256 and RSA
# denies the P-384 and P-521 requests and no other, and keyUsage follows
# each key's type (openssl).
cm "$H" config set profile.p256only.base tls-server >/dev/null
cm "$H" config set profile.p256only.keys ec:p256,rsa:2048 >/dev/null
cm "$H" submit --profile p256only "$T"/mixed/*.csr >"$T/res" 2>"$T/err"
check_eq "P-256-only profile, mixed batch in 2 workers: exit 3 (some denied)" "$?" 3
check_eq "301 issued" "$(grep -c '	issued	' "$T/res")" 301
check_eq "the P-384 and P-521 requests denied, each naming its curve" \
    "$(grep '	denied	' "$T/res" | sed 's/.*does not allow \(ec:p[0-9]*\) keys$/\1/;s/^[0-9]*	denied	-	.*\/\([0-9a-z]*\)\.csr	\(.*\)$/\1 \2/' | sort | tr '\n' ' ')" \
    "ec:p384 ec:p384 ec:p521 "
ku() {
    id=$(grep "	$T/mixed/$1.csr\$" "$T/res" | cut -f1)
    cm "$H" retrieve "$id" 2>/dev/null | openssl x509 -noout -ext keyUsage 2>/dev/null | tail -n 1 | tr -d ' '
}
check_eq "keyUsage of a P-256 certificate (openssl)" "$(ku 000000)" "DigitalSignature"
check_eq "keyUsage of the RSA certificate (openssl)" "$(ku 000150rsa)" "DigitalSignature,KeyEncipherment"
# --- serial numbers (issue.c cache_serial): 16 octets, positive with its
# second bit set (RFC 5280 4.1.2.2); the first 5 are 0x40 and the issuance
# second, the other 11 fresh randomness: workers draw it for 32 serials at a
# time, and no bytes are used twice.
if [ "$TESTDB" = sqlite ]; then
    t_end=$(printf '40%08X' "$(date +%s)")
    check_eq "every serial: 32 hex digits, first 4-7" \
        "$(db_sql "$H" "SELECT count(*) FROM certificates WHERE length(SerialNumber) = 32
            AND substr(SerialNumber, 1, 1) IN ('4', '5', '6', '7')")" \
        "$(db_sql "$H" "SELECT count(*) FROM certificates")"
    check_eq "every serial begins with its issuance second" \
        "$(db_sql "$H" "SELECT count(*) FROM certificates WHERE
            substr(SerialNumber, 1, 10) BETWEEN '$t_start' AND '$t_end'")" \
        "$(db_sql "$H" "SELECT count(*) FROM certificates")"
    # (the halves of the random part, all in one set: randomness used
    # twice, by one serial or two, would repeat a half)
    check_eq "no two serials share a half, nor one serial its own" \
        "$(db_sql "$H" "SELECT count(*) FROM (SELECT substr(SerialNumber, 11, 11) FROM
            certificates UNION SELECT substr(SerialNumber, 22, 11) FROM certificates)")" \
        "$(db_sql "$H" "SELECT 2 * count(*) FROM certificates")"
    id=$(grep "	$T/mixed/000299.csr\$" "$T/res" | cut -f1)
    check_eq "the serial in the certificate is the row's (openssl)" \
        "$(cm "$H" retrieve "$id" 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2)" \
        "$(db_sql "$H" "SELECT SerialNumber FROM certificates WHERE RequestID = $id")"
else
    ok "skipped with CERTMINT_TEST_DB=$TESTDB: the serial numbers' shape (SQLite rows)"
fi
done_testing
