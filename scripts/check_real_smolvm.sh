#!/usr/bin/env bash
# On a Linux host with KVM, smolvm and Docker: run the smolmachines backend end to end against
# the real smolvm and print a pass/fail line for each step (preflight, create + read-back,
# start, probe, exec, verify, teardown). Usage: bash scripts/check_real_smolvm.sh
# (BOT_BOTTLE_REAL_SMOLVM=fake runs the same steps against the test fake, to check this script.)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
command -v deno >/dev/null || { echo "deno is not on PATH (npm install -g deno, or see README)"; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
BOT_BOTTLE_REAL_SMOLVM=${BOT_BOTTLE_REAL_SMOLVM:-1} NO_COLOR=1 \
  deno test -A --no-prompt tests/integration/real_smolvm_test.ts >"$out" 2>&1
status=$?
clean=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
if grep -q "real smolvm test skipped:" <<<"$clean"; then
  grep "real smolvm test skipped:" <<<"$clean" | head -n 1
  echo "nothing was checked; fix the above and run again"
  exit 2
fi
echo "bot-bottle on this host's smolvm ($(smolvm --version 2>/dev/null || echo 'smolvm: not found')):"
pass=0 fail=0
while IFS= read -r line; do
  step=$(sed -E 's/^  (.*) \.\.\. (ok|FAILED).*/\1/' <<<"$line")
  case "$line" in
    *"... ok"*) echo "  PASS  $step"; pass=$((pass + 1)) ;;
    *"... FAILED"*) echo "  FAIL  $step"; fail=$((fail + 1)) ;;
  esac
done < <(grep -E '^  [a-z].* \.\.\. (ok|FAILED)' <<<"$clean")
if [ "$fail" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo
  echo "what failed (the test's own messages):"
  sed -n '/ERRORS/,/FAILURES/p' <<<"$clean" | grep -v -E '^\s+at ' | head -n 60
fi
echo "$pass passed, $fail failed"
[ "$status" -eq 0 ] && [ "$fail" -eq 0 ]
