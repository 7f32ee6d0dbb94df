#!/bin/sh
# Prints the closing line of a test run: unit checks and integration tests
# together, "NAME: N passed, N failed", from the counts the runners left.
name=$1 build=$2
cat "$build/unit.result" "$build/integration.result" |
    awk -v n="$name" '{p += $1; f += $2} END {print n ": " p " passed, " f " failed"}'
