#!/bin/sh
# Runs every Check suite binary given and prints one combined summary line in
# Check's own format, so the totals are read the same way as one suite.
checks=0 fails=0 errors=0 status=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out"
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks: ' | tail -n 1)
	if [ -z "$line" ]; then
		echo "$t: no summary (exit $rc)"; errors=$((errors + 1)); status=1; continue
	fi
	n=$(echo "$line" | sed -E 's/.*Checks: ([0-9]+).*/\1/')
	f=$(echo "$line" | sed -E 's/.*Failures: ([0-9]+).*/\1/')
	e=$(echo "$line" | sed -E 's/.*Errors: ([0-9]+).*/\1/')
	checks=$((checks + n)); fails=$((fails + f)); errors=$((errors + e))
	[ "$rc" -ne 0 ] && status=1
done
pct=100
[ "$checks" -gt 0 ] && pct=$(( (checks - fails - errors) * 100 / checks ))
echo "unit: ${pct}%: Checks: $checks, Failures: $fails, Errors: $errors"
[ -n "${INTAKE_RESULTS:-}" ] &&
    echo "$((checks - fails - errors)) $((fails + errors))" > "$INTAKE_RESULTS"
[ "$checks" -gt 0 ] || status=1
exit $status
