#!/bin/sh
# Prints the closing line of a test run, "NAME: N passed, N failed", from
# the counts each runner left in BUILD/PART.result (unit and integration
# unless other parts are named).
name=$1 build=$2
shift 2
[ $# -gt 0 ] || set -- unit integration
for part in "$@"; do
	cat "$build/$part.result" || echo "0 1"
done | awk -v n="$name" '{p += $1; f += $2} END {print n ": " p " passed, " f " failed"}'
