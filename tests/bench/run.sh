#!/bin/sh
# make bench: first a short preamble of the C micro-benchmarks
# (build/bench/*: one part of the intake path alone each, with its own
# side-by-side ratio), then tests/bench/bench.py, the main table: intaked
# against nginx under wrk, the ceilings, memory, mail and cold start, in
# interleaved rounds; it writes the table to tests/bench/RESULTS.md.
# Absolute numbers drift between runs on shared machines; the ratios,
# measured in one run, are what to compare.
set -u
build=${1:-build}
status=0
t0=$(date +%s)
for b in "$build"/bench/*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || status=1
done
echo "== bench.py"
# The system interpreter: a pyenv python3 first on the PATH may lack
# Debian's aiosmtpd, which the mail rounds start.
INTAKE_BUILD=$build /usr/bin/python3 tests/bench/bench.py || status=1
echo "make bench: $(($(date +%s) - t0)) s"
exit $status
