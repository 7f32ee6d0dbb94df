#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer target (clang, ASan, UBSan)
# and runs each for the given number of seconds (default 60). Seeds come from
# the shipped schemas, templates and the age test vectors.
set -eu
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
srcs=$(ls daemon/*.c | grep -v -e intaked.c -e intakectl.c)
pkgs="libuv jansson libsodium libcurl sqlite3 inih"
flags="-g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Idaemon $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lhttp_parser -lpthread -lm"
for f in tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	echo "fuzz: building $name"
	clang $flags -o "$out/$name" "$f" $srcs $libs
	corpus="$out/$name.corpus"
	mkdir -p "$corpus"
	case "$name" in
	fuzz_form) cp config/forms/*.json "$corpus/" 2>/dev/null || true ;;
	fuzz_template) cp templates/* "$corpus/" 2>/dev/null || true ;;
	fuzz_age) for v in ../shared/testdata/age/x25519* ../shared/testdata/age/stream_*; do
		[ -f "$v" ] && sed '1,/^$/d' "$v" > "$corpus/$(basename "$v")"; done ;;
	esac
	echo "fuzz: running $name for ${secs}s"
	"$out/$name" -max_total_time="$secs" -print_final_stats=1 \
	    -max_len=65536 "$corpus" 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY" || true
	test ! -e crash-* || { echo "fuzz: $name found a crash"; exit 1; }
done
echo "fuzz: all targets ran ${secs}s without a crash"
