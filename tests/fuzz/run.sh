#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer target (clang, ASan, UBSan)
# and runs each for the given number of seconds (default 60). Seeds come from
# the shipped schemas, templates, the age test vectors and a few requests.
set -eu
secs=${1:-60}
out=build-fuzz
mkdir -p "$out"
srcs=$(ls daemon/*.c | grep -v -e intaked.c -e intakectl.c)
pkgs="libuv jansson libsodium libcurl sqlite3 inih libpcre2-8"
llinc=/usr/share/include/llhttp
flags="-g -O1 -Wall -Werror -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Idaemon -I$llinc $(pkg-config --cflags $pkgs)"
libs="$(pkg-config --libs $pkgs) -lpthread -lm"
# llhttp is not our code: sanitized like the rest, but without our warnings
# (as in the Makefile), and in strict mode.
llobjs=
for c in llhttp api http; do
	clang -g -O1 -fsanitize=fuzzer-no-link,address,undefined \
	    -DLLHTTP_STRICT_MODE=1 -I$llinc -c -o "$out/llhttp-$c.o" \
	    "/usr/share/llhttp/$c.c"
	llobjs="$llobjs $out/llhttp-$c.o"
done
for f in tests/fuzz/fuzz_*.c; do
	name=$(basename "$f" .c)
	echo "fuzz: building $name"
	clang $flags -o "$out/$name" "$f" $srcs $llobjs $libs
	corpus="$out/$name.corpus"
	mkdir -p "$corpus"
	case "$name" in
	fuzz_form) cp config/forms/*.json "$corpus/" 2>/dev/null || true ;;
	fuzz_template) cp templates/* "$corpus/" 2>/dev/null || true ;;
	fuzz_age) for v in ../shared/testdata/age/x25519* ../shared/testdata/age/stream_*; do
		[ -f "$v" ] && sed '1,/^$/d' "$v" > "$corpus/$(basename "$v")"; done ;;
	fuzz_http)
		printf 'GET /form?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n' > "$corpus/get"
		printf 'GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c?close HTTP/1.0\r\n\r\n' > "$corpus/pipelined"
		printf 'POST /f HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{"a":1}' > "$corpus/post"
		printf 'POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n' > "$corpus/chunked"
		{ printf 'POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2400\r\n'
		  head -c 9216 /dev/zero | tr '\0' a; printf '\r\n0\r\n\r\n'; } > "$corpus/chunked-big"
		printf 'POST /f HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc' > "$corpus/expect"
		printf 'GET / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.7, 127.0.0.1, fd00::1\r\n\r\n' > "$corpus/xff"
		printf 'POST /early HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello' > "$corpus/early"
		printf 'GET /u HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nGET /v HTTP/1.1\r\n\r\n' > "$corpus/upgrade"
		{ printf 'GET /'; head -c 5000 /dev/zero | tr '\0' u; printf ' HTTP/1.1\r\n\r\n'; } > "$corpus/long-uri"
		printf 'GET /w HTTP/1.1\r\nHost : example.com\r\n\r\n' > "$corpus/space-colon"
		printf '~POST /slow HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc' > "$corpus/slow" ;;
	esac
	echo "fuzz: running $name for ${secs}s"
	"$out/$name" -max_total_time="$secs" -print_final_stats=1 -timeout=20 \
	    -max_len=65536 "$corpus" 2>&1 | grep -E "stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY" || true
	# libFuzzer names its findings crash-, leak-, timeout- or oom-<hash>.
	for found in crash-* leak-* timeout-* oom-*; do
		[ -e "$found" ] && { echo "fuzz: $name: $found"; exit 1; }
	done
done
echo "fuzz: all targets ran ${secs}s without a crash"
