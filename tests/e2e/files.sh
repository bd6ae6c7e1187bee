#!/bin/sh
# Files and secrets (issue 9, section 5): output files never land in the CA
# home and never replace a file without --force; the home is 0700; secret
# files must be 0600; new keys use PBKDF2-HMAC-SHA256 with 600,000
# iterations, old keys still load, `ca passphrase` re-encrypts; a missing
# file, permission denied, a read-only file system and a full disk each get
# their own error. Checked with openssl, stat, sha256sum and sqlite3.
. "$(dirname "$0")/lib.sh"
skip_unless_file_keys "files.sh checks the encrypted key file itself (mode, KDF, old keys, ca passphrase)"

H="$T/ca"
# umask 000: the home must still come out 0700.
(umask 000 && new_root "$H" ec:p256 >/dev/null) || { fail "init"; done_testing; }
check_eq "home is 0700 under umask 000" "$(stat -c %a "$H")" 700
check_eq "private/ is 0700" "$(stat -c %a "$H/private")" 700
check_eq "key is 0600" "$(stat -c %a "$H/private/ca.key")" 600
make_csr ec:p256 "$T/a.csr" "$T/a.key" "/CN=a.example.org" "DNS:a.example.org"
make_csr ec:p256 "$T/b.csr" "$T/b.key" "/CN=b.example.org" "DNS:b.example.org"
cm "$H" ca-cert >"$T/root.pem"

# Fingerprints of what must never change through an output option.
protected() { sha256sum "$H/private/ca.key" "$H/certmint.conf" "$H/ca.crt" | cut -c1-64 | tr '\n' ' '; }
ref=$(protected)
nreq() { cm "$H" view --out RequestID --format csv | tail -n +2 | wc -l; }

# refused "what" regex command...: fails with the message, protected files intact.
refused() {
    what=$1 re=$2
    shift 2
    if "$@" >"$T/r.out" 2>"$T/r.err"; then fail "$what: succeeded"; return; fi
    if ! grep -Eq -- "$re" "$T/r.err"; then fail "$what: '$(cat "$T/r.err")' does not match /$re/"; return; fi
    if [ "$(protected)" != "$ref" ]; then fail "$what: a CA file changed"; return; fi
    ok "$what"
}

# --- the output-file policy ---------------------------------------------------
n0=$(nreq)
refused "submit --out into the home" "inside the CA home" cm "$H" submit --out "$H/a.pem" "$T/a.csr"
refused "submit --out onto the key, with --force" "inside the CA home" cm "$H" submit --force --out "$H/private/ca.key" "$T/a.csr"
refused "submit --out via .. onto the configuration" "inside the CA home" \
    cm "$H" submit --force --out "$T/ca/private/../certmint.conf" "$T/a.csr"
ln -s "$H" "$T/alias"
refused "submit --out via a symlinked directory" "inside the CA home" \
    cm "$H" submit --force --out "$T/alias/certmint.db" "$T/a.csr"
ln -s "$H/private/ca.key" "$T/key-link"
refused "a symlink at the target pointing at the key, even with --force" "symbolic link into the CA home" \
    cm "$H" submit --force --out "$T/key-link" "$T/a.csr"
check_eq "nothing was issued by the refused submits" "$(nreq)" "$n0"

echo "precious" >"$T/exists.pem"
refused "submit --out an existing file" "exists.pem: already exists; give --force" cm "$H" submit --out "$T/exists.pem" "$T/a.csr"
check_eq "the existing file is untouched" "$(cat "$T/exists.pem")" precious
check_eq "nothing was issued" "$(nreq)" "$n0"
check "submit --out an existing file with --force" cm "$H" submit --force --out "$T/exists.pem" "$T/a.csr"
check "the replaced file is the new certificate" openssl verify -x509_strict -CAfile "$T/root.pem" "$T/exists.pem"
check "submit --out a new file" cm "$H" submit --out "$T/new.pem" "$T/a.csr"
check_eq "a new output file is 0644" "$(stat -c %a "$T/new.pem")" 644
refused "submit --out into a missing directory" "does not exist" cm "$H" submit --out "$T/nodir/x.pem" "$T/a.csr"

# A batch writes REQUEST-ID.pem in a directory: the directory is checked
# before anything is submitted, each existing file is kept (reported, exit 1)
# unless --force.
mkdir "$T/batch"
refused "batch --out DIR inside the home" "inside the CA home" cm "$H" submit --out "$H/crl" "$T/a.csr" "$T/b.csr"
next=$(($(cm "$H" view --out RequestID --format csv | tr -d "\r" | tail -n +2 | sort -n | tail -1) + 1))
echo "keep me" >"$T/batch/$next.pem"
cm "$H" submit --out "$T/batch" "$T/a.csr" "$T/b.csr" >"$T/batch.out" 2>"$T/batch.err"
check_eq "batch with an existing REQUEST-ID.pem: exit 1" "$?" 1
check_match "batch: the existing file is named" "$(cat "$T/batch.err")" "$next.pem: already exists"
check_eq "batch: the existing file is kept" "$(cat "$T/batch/$next.pem")" "keep me"
check "batch: the other certificate is written" openssl verify -CAfile "$T/root.pem" "$T/batch/$((next + 1)).pem"
next=$((next + 2))
echo "replace me" >"$T/batch/$next.pem"
check "batch with --force replaces it" cm "$H" submit --force --out "$T/batch" "$T/a.csr" "$T/b.csr"
check "batch --force: the file is a certificate now" openssl verify -CAfile "$T/root.pem" "$T/batch/$next.pem"

# approve, retrieve, crl, ca-cert, backup, init --subordinate.
check "profile approval manual" cm "$H" config set profile.tls-client.approval manual
ref=$(protected)
make_csr ec:p256 "$T/c.csr" "$T/c.key" "/CN=client" ""
pid=$(cm "$H" submit --profile tls-client "$T/c.csr" | cut -f1)
refused "approve --out into the home" "inside the CA home" cm "$H" approve "$pid" --out "$H/c.pem"
check_match "the request is still pending" "$(cm "$H" pending | cut -f1)" "^$pid$"
check "approve --out outside" cm "$H" approve "$pid" --out "$T/c.pem"
refused "retrieve --out an existing file" "already exists" cm "$H" retrieve "$pid" --out "$T/c.pem"
refused "retrieve --out the database, with --force" "inside the CA home" cm "$H" retrieve "$pid" --force --out "$H/certmint.db"
check "retrieve --out an existing file with --force" cm "$H" retrieve "$pid" --force --out "$T/c.pem"
refused "crl --out into the home" "inside the CA home" cm "$H" crl --out "$H/crl/copy.crl"
check_fails "the refused crl published nothing" test -e "$H/crl/ca.crl"
check "crl --out outside" cm "$H" crl --out "$T/ca.crl"
refused "crl --out an existing file" "already exists" cm "$H" crl --out "$T/ca.crl"
refused "ca-cert --out onto ca.crt, with --force" "inside the CA home" cm "$H" ca-cert --force --out "$H/ca.crt"
check "ca-cert --out outside" cm "$H" ca-cert --out "$T/ca-copy.pem"
check_eq "ca-cert --out wrote the certificate" "$(cat "$T/ca-copy.pem")" "$(cat "$T/root.pem")"
refused "backup into the home" "inside the CA home" cm "$H" backup "$H/backup"
check_fails "the refused backup made no directory" test -e "$H/backup"
check "backup outside the home" cm "$H" backup "$T/bk"
refused "restore --home NEW inside the (global) CA home" "inside the CA home" cm "$H" restore "$T/bk" --home "$H/restored"
check_fails "the refused restore made no directory" test -e "$H/restored"
refused "init --subordinate --out into the new home" "inside the CA home" \
    cm "$T/sub" init --subordinate --subject "/CN=Sub" --out "$T/sub/sub.csr"
check_fails "the refused init made no home" test -e "$T/sub"
echo "old" >"$T/sub.csr"
refused "init --subordinate --out an existing file" "already exists" \
    cm "$T/sub" init --subordinate --subject "/CN=Sub" --out "$T/sub.csr"
check "init --subordinate --out with --force" cm "$T/sub" init --subordinate --subject "/CN=Sub" --out "$T/sub.csr" --force
check "the CSR was written" openssl req -in "$T/sub.csr" -verify -noout

# A second path to the home (bind mount) is recognised by device and inode.
mkdir "$T/bind"
if mount --bind "$H" "$T/bind" 2>/dev/null; then
    at_exit "umount '$T/bind' 2>/dev/null"
    refused "--out through a bind mount of the home" "inside the CA home" cm "$H" ca-cert --force --out "$T/bind/ca.crt"
    umount "$T/bind"
else
    ok "# SKIP bind mount not available"
fi

# --- creation modes and secret files -----------------------------------------
mkdir "$T/open" && chmod 777 "$T/open"
cm "$T/open/ca" init --subject "/CN=Open" >/dev/null 2>"$T/open.err"
check_match "init into a world-writable parent warns" "$(cat "$T/open.err")" "parent directory $T/open is writable by every user \\(mode 0777\\)"
chmod 1777 "$T/open"
cm "$T/open/ca2" init --subject "/CN=Open" >/dev/null 2>"$T/open.err"
check_match "init into a sticky world-writable parent warns too" "$(cat "$T/open.err")" "mode 1777, sticky"
mkdir "$T/closed" && chmod 755 "$T/closed"
cm "$T/closed/ca" init --subject "/CN=Closed" >/dev/null 2>"$T/closed.err"
check_eq "init into a private parent: no warning" "$(cat "$T/closed.err")" ""
mkdir -m 755 "$T/premade"
cm "$T/premade" init --subject "/CN=Premade" >/dev/null
check_eq "an existing empty home is made 0700" "$(stat -c %a "$T/premade")" 700

mkdir -m 755 "$T/theirs" && chown 65534 "$T/theirs"
cm "$T/theirs" init --subject "/CN=Theirs" >/dev/null 2>"$T/theirs.err"
check_match "init into an empty directory another user owns is refused" "$(cat "$T/theirs.err")" "owned by uid 65534"
check_eq "and that directory is left alone" "$(stat -c '%a %u' "$T/theirs")" "755 65534"

cp "$PASS" "$T/loose.pass" && chmod 644 "$T/loose.pass"
"$CM" --home "$T/loose" --passphrase-file "$T/loose.pass" init --subject "/CN=L" >/dev/null 2>"$T/loose.err"
check_match "init with a 0644 passphrase file is refused with the chmod" "$(cat "$T/loose.err")" \
    "passphrase file $T/loose.pass is readable by group or others \\(mode 0644\\): run chmod 600 $T/loose.pass"
check_fails "no home was created" test -e "$T/loose"

# --- the key at rest ------------------------------------------------------------
kdf() { openssl asn1parse -in "$1" | grep -E "PBKDF2|hmacWith|INTEGER" | head -3 | sed 's/.*://' | tr '\n' ' '; }
check_eq "new key: PBKDF2-HMAC-SHA256, 600000 (0x0927C0) iterations" "$(kdf "$H/private/ca.key")" "PBKDF2 0927C0 hmacWithSHA256 "
check "openssl reads the new key with the passphrase" openssl pkey -in "$H/private/ca.key" -passin "file:$PASS" -noout

# A key as older certmint versions wrote it: PBES2, PBKDF2 2048 iterations.
O="$T/old"
cp -r "$H" "$O"
openssl pkey -in "$H/private/ca.key" -passin "file:$PASS" -out "$T/plain.key"
openssl pkcs8 -topk8 -in "$T/plain.key" -v2 aes-256-cbc -v2prf hmacWithSHA256 -iter 2048 \
    -passout "file:$PASS" -out "$O/private/ca.key"
rm -f "$T/plain.key"
check_eq "the old-style key has 2048 (0x0800) iterations" "$(kdf "$O/private/ca.key")" "PBKDF2 0800 hmacWithSHA256 "
cm "$O" submit --out "$T/old1.pem" "$T/a.csr" >/dev/null 2>"$T/old.err"
check_eq "an old-style key still loads and issues" "$?" 0
check "its certificate verifies" openssl verify -CAfile "$T/root.pem" "$T/old1.pem"
check_match "loading it suggests 'ca passphrase'" "$(cat "$T/old.err")" "2048 iterations.*certmint ca passphrase"

printf 'a-brand-new-passphrase\n' >"$T/new.pass"
chmod 644 "$T/new.pass"
before=$(sha256sum <"$O/private/ca.key")
check_fails "ca passphrase: a 0644 new passphrase file is refused" cm "$O" ca passphrase --new-passphrase-file "$T/new.pass"
check_eq "the key is unchanged" "$(sha256sum <"$O/private/ca.key")" "$before"
chmod 600 "$T/new.pass"
printf 'short\n' >"$T/short.pass" && chmod 600 "$T/short.pass"
check_fails "ca passphrase: a short passphrase is refused" cm "$O" ca passphrase --new-passphrase-file "$T/short.pass"
check_fails "ca passphrase: the new passphrase is never taken as an argument" cm "$O" ca passphrase "a-brand-new-passphrase"
cm "$O" ca passphrase --new-passphrase-file "$T/new.pass" >"$T/cp.out" 2>&1
check_eq "ca passphrase succeeds" "$?" 0
check_match "it reports the old and the new KDF" "$(cat "$T/cp.out")" "600000 iterations \\(was PBKDF2-hmacWithSHA256, 2048 iterations\\)"
check_eq "the re-encrypted key: 600000 iterations" "$(kdf "$O/private/ca.key")" "PBKDF2 0927C0 hmacWithSHA256 "
check_eq "the re-encrypted key is 0600" "$(stat -c %a "$O/private/ca.key")" 600
check_fails "the old passphrase no longer opens it (openssl)" openssl pkey -in "$O/private/ca.key" -passin "file:$PASS" -noout
check "the new passphrase opens it (openssl)" openssl pkey -in "$O/private/ca.key" -passin "file:$T/new.pass" -noout
check_fails "the old passphrase is refused by certmint" cm "$O" submit "$T/b.csr"
"$CM" --home "$O" --passphrase-file "$T/new.pass" submit --out "$T/old2.pem" "$T/b.csr" >/dev/null 2>"$T/old2.err"
check_eq "the CA still issues with the new passphrase" "$?" 0
check "and its certificate verifies" openssl verify -x509_strict -CAfile "$T/root.pem" "$T/old2.pem"
check_eq "no weak-KDF warning any more" "$(cat "$T/old2.err")" ""
check_eq "the change is in the audit log" \
    "$(db_sql "$O" "SELECT count(*) FROM audit WHERE Action='ca-passphrase'")" 1

# --- errors that name the path and the operating system's reason ---------------
# (the SQLite file's: with PostgreSQL the database is not in the home)
if [ "$TESTDB" != sqlite ]; then
    ok "skipped with CERTMINT_TEST_DB=$TESTDB: errors of the SQLite file in the home"
    done_testing
fi
chmod 711 "$T"
chmod 755 "$H"
chmod 644 "$H/certmint.conf"
setpriv --reuid 65534 --regid 65534 --clear-groups "$CM" --home "$H" view >/dev/null 2>"$T/perm.err"
check_match "permission denied on the database is named" "$(cat "$T/perm.err")" \
    "$H/certmint.db: cannot open the database for writing: Permission denied"
chmod 700 "$H"
setpriv --reuid 65534 --regid 65534 --clear-groups "$CM" --home "$H" view >/dev/null 2>"$T/perm.err"
check_match "permission denied on the home is named" "$(cat "$T/perm.err")" "$H/certmint.conf: Permission denied"
chmod 600 "$H/certmint.conf"
chmod 700 "$T"

mkdir "$T/mnt"
if mount -t tmpfs -o size=1m,mode=0755 tmpfs "$T/mnt" 2>/dev/null; then
    at_exit "umount '$T/mnt' 2>/dev/null"
    F="$T/mnt/ca"
    new_root "$F" ec:p256 >/dev/null
    mount -o remount,ro "$T/mnt"
    cm "$F" submit "$T/a.csr" >/dev/null 2>"$T/ro.err"
    check_match "read-only file system is named" "$(cat "$T/ro.err")" "$F/certmint.db: .*Read-only file system"
    mount -o remount,rw "$T/mnt"
    dd if=/dev/zero of="$T/mnt/fill" bs=4k 2>/dev/null
    cm "$F" submit "$T/a.csr" >/dev/null 2>"$T/full.err"
    check_match "a full disk is named" "$(cat "$T/full.err")" "$F/certmint.db: .*No space left on device"
    check_fails "neither reads 'not a certmint database'" grep -q "not a certmint database" "$T/ro.err" "$T/full.err"
    rm -f "$T/mnt/fill"
    check "with space again the CA works" cm "$F" submit "$T/a.csr"
    umount "$T/mnt"
else
    ok "# SKIP tmpfs mounts not available here"
fi

done_testing
