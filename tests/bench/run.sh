#!/bin/sh
# make bench: every benchmark prints its numbers and the side-by-side ratio.
# Absolute numbers drift between runs on shared machines; the ratios,
# measured in one run, are what to compare.
set -u
build=${1:-build}
status=0
for b in "$build"/bench/*; do
	[ -x "$b" ] || continue
	echo "== $(basename "$b")"
	"$b" || status=1
done
for s in tests/bench/*.sh; do
	[ "$(basename "$s")" = run.sh ] && continue
	echo "== $(basename "$s" .sh)"
	INTAKE_BUILD=$build sh "$s" || status=1
done
exit $status
