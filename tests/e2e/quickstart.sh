#!/bin/sh
# The README's main job works from a clean folder (one pass of the service).
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/q/build"
cp -r "$TOP/scripts" "$T/q/"
cp "$CM" "$T/q/build/certmint"
cd "$T/q" || exit 1
if QUICKSTART_ONCE=1 sh scripts/quickstart.sh >"$T/qs.out" 2>&1; then ok "quickstart runs"; else
    fail "quickstart: $(tail -n 5 "$T/qs.out" | tr '\n' ' ')"
fi
check_match "issued a certificate that verifies" "$(cat "$T/qs.out")" "mail.pem: OK"
check_match "published a CRL" "$(cat "$T/qs.out")" "CRL 1 \\(full\\)"
check_match "serve started and stopped" "$(tr '\n' ' ' <"$T/qs.out")" "serve started.*serve stopped"
check_eq "passphrase file is private" "$(stat -c %a ca-home.pass)" 600
check "a second run reuses the CA" env QUICKSTART_ONCE=1 sh scripts/quickstart.sh
check_eq "two certificates now" "$(./build/certmint --home ca-home --passphrase-file ca-home.pass view --out RequestID --format csv | tail -n +2 | wc -l)" 2
done_testing
