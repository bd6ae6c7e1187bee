# Shared helpers for the end-to-end tests. Source it from a test script:
#   . "$(dirname "$0")/lib.sh"
# Every check prints "ok - SUITE: what" or "not ok - SUITE: what: why".
# The script's temp folder is removed at exit (kept with KEEP=1).
set -u
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$TOP/$BUILD" ;; esac
CM="$BUILD/certmint"
SUITE=$(basename "$0" .sh)
T=$(mktemp -d "${TMPDIR:-/tmp}/cm-$SUITE.XXXXXX")
NFAIL=0
cleanup_hooks=""
at_exit() { cleanup_hooks="$1
$cleanup_hooks"; }
_cleanup() {
    eval "$cleanup_hooks"
    [ "${KEEP:-0}" = 1 ] || rm -rf "$T"
}
trap _cleanup EXIT
trap 'exit 130' INT TERM

ok() { echo "ok - $SUITE: $*"; }
fail() { echo "not ok - $SUITE: $*"; NFAIL=$((NFAIL + 1)); }
# check "what" command...: passes when the command exits 0.
check() {
    what=$1
    shift
    if "$@" >"$T/last.out" 2>&1; then ok "$what"; else
        fail "$what: '$*' failed: $(tail -n 3 "$T/last.out" | tr '\n' ' ')"
    fi
}
# check_fails "what" command...: passes when the command exits non-zero.
check_fails() {
    what=$1
    shift
    if "$@" >"$T/last.out" 2>&1; then fail "$what: '$*' unexpectedly succeeded"; else ok "$what"; fi
}
# check_eq "what" got expected
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else fail "$1: got '$2', expected '$3'"; fi
}
# check_match "what" text regex
check_match() {
    if printf '%s' "$2" | grep -Eq -- "$3"; then ok "$1"; else fail "$1: '$2' does not match /$3/"; fi
}
done_testing() {
    [ "$NFAIL" -eq 0 ] && exit 0
    exit 1
}

# A passphrase file for CA keys (never on the command line).
PASS="$T/pass"
printf 'test-passphrase-%s\n' "$$" >"$PASS"
chmod 600 "$PASS"

# cm HOME args...: run certmint on a CA home.
cm() {
    h=$1
    shift
    "$CM" --home "$h" --passphrase-file "$PASS" "$@"
}

# new_root HOME KEYSPEC [extra init args]
new_root() {
    h=$1
    k=$2
    shift 2
    cm "$h" init --subject "/CN=Test Root $k/O=certmint tests" --key "$k" "$@"
}

# make_csr KEYSPEC OUTCSR OUTKEY SUBJ [SAN]: a CSR made with openssl.
make_csr() {
    spec=$1 csr=$2 key=$3 subj=$4 san=${5:-}
    case "$spec" in
    ec:p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$key" 2>/dev/null ;;
    ec:p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$key" 2>/dev/null ;;
    rsa:*) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:"${spec#rsa:}" -out "$key" 2>/dev/null ;;
    ed25519) openssl genpkey -algorithm ED25519 -out "$key" 2>/dev/null ;;
    esac
    if [ -n "$san" ]; then
        openssl req -new -key "$key" -subj "$subj" -addext "subjectAltName=$san" -out "$csr" 2>/dev/null
    else
        openssl req -new -key "$key" -subj "$subj" -out "$csr" 2>/dev/null
    fi
}

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
