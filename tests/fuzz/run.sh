#!/bin/sh
# Builds every tests/fuzz/fuzz_*.c as a libFuzzer target (clang, ASan, UBSan)
# and runs each for the given number of seconds (default 60). Seeds come from
# the committed corpora (tests/fuzz/corpus/NAME/, which make check replays),
# the shipped schemas, templates, the age test vectors and a few requests.
# Targets may be named after the seconds (run.sh 600 fuzz_http fuzz_form).
set -eu
secs=${1:-60}
[ $# -gt 0 ] && shift
only=" $* "
out=build-fuzz
mkdir -p "$out"
srcs=$(ls daemon/*.c | grep -v -e intaked.c -e intakectl.c)
pkgs="libuv jansson libsodium libcurl sqlite3 inih libpcre2-8 libcrypto"
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
	[ "$only" = "  " ] || case "$only" in *" $name "*) ;; *) continue ;; esac
	echo "fuzz: building $name"
	clang $flags -o "$out/$name" "$f" $srcs $llobjs $libs
	corpus="$out/$name.corpus"
	mkdir -p "$corpus"
	[ -d "tests/fuzz/corpus/$name" ] && cp tests/fuzz/corpus/"$name"/* "$corpus/"
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
	fuzz_multipart)
		# The first line is the Content-Type; "; fuzz-split=N" feeds the
		# body N bytes at a time. These seeds are also committed, with
		# past findings, in tests/fuzz/corpus/ (make check replays it).
		ct='multipart/form-data; boundary=----WebKitFormBoundaryA1b2'
		cd='Content-Disposition: form-data; name='
		printf '%s\n------WebKitFormBoundaryA1b2\r\n%s"name"\r\n\r\nAsha Rao\r\n------WebKitFormBoundaryA1b2\r\n%s"message"\r\n\r\nline\r\n--not it\r\n------WebKitFormBoundaryA1b\r\n------WebKitFormBoundaryA1b2\r\n%s"reports"; filename="scan.pdf"\r\nContent-Type: application/pdf\r\n\r\n%%PDF-1.7\r\n%%\342\343\r\n------WebKitFormBoundaryA1b2--\r\n' "$ct" "$cd" "$cd" "$cd" > "$corpus/browser"
		printf '%s\n--x\r\n%sr; filename="fall.pdf"; filename*=UTF-8'"''"'%%E2%%82%%AC%%20r%%C3%%A9sum%%C3%%A9.pdf\r\n\r\n\211PNG\r\n\032\n\r\n--x\r\n%sr; filename*=utf-8'"'en'"'a%%00b%%2F..%%5Cc.pdf\r\n\r\n\377\330\377\340\r\n--x--' 'multipart/form-data; boundary=x' "$cd" "$cd" > "$corpus/filename-ext"
		printf '%s\n--AaB03x\r\n%sf\r\n\r\nab\r\n--AaB03\r\n--AaB03x\r\n%sg; filename="..\\\\evil\342\200\256fdp.exe"\r\n\r\n\r\n--AaB03x--\r\n' 'multipart/form-data; boundary=AaB03x; fuzz-split=3' "$cd" "$cd" > "$corpus/split-3"
		sed 's/fuzz-split=3/fuzz-split=1/' "$corpus/split-3" > "$corpus/split-1"
		sed 's/fuzz-split=3/fuzz-split=9/' "$corpus/split-3" > "$corpus/split-9"
		printf '%s\npreamble\r\n--a b:c \t\r\n%sf\r\nX-Other: y\r\nContent-Transfer-Encoding: binary\r\n\r\nv\r\n--a b:c--  \r\nepilogue\r\n' 'Multipart/Form-Data; charset=utf-8; BOUNDARY="a b:c"' "$cd" > "$corpus/padding"
		printf '%s\n--q\r\n%s"f"; filename=""\r\nContent-Type: application/octet-stream\r\n\r\n\r\n--q\r\n%sm\r\nContent-Type: multipart/mixed; boundary=in\r\n\r\n\r\n--q--' 'multipart/form-data; boundary=q' "$cd" "$cd" > "$corpus/nested"
		printf '%s\n--q\r\n%sf\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD\r\n--q--' 'multipart/form-data; boundary=q' "$cd" > "$corpus/base64"
		printf -- '--fuzz-b0undary\r\n%sf\r\n\r\n--fuzz-b0undary\r\n%sg\r\n\r\nv\r\n--fuzz-b0undary--' "$cd" "$cd" > "$corpus/fixed"
		printf '%s\n--z--\r\n' 'multipart/form-data; boundary=z' > "$corpus/no-parts"
		{ printf '%s\n--d\r\n%sscan; filename="ct.dcm"\r\n\r\n' 'multipart/form-data; boundary=d; fuzz-split=64' "$cd"
		  head -c 128 /dev/zero; printf 'DICM\r\n--d\r\n%sheic; filename="p.heic"\r\n\r\n\0\0\0\030ftypheic\0\0\0\0mif1heic\r\n--d--\r\n' "$cd"; } > "$corpus/dicom-heic" ;;
	esac
	echo "fuzz: running $name for ${secs}s"
	"$out/$name" -max_total_time="$secs" -print_final_stats=1 -timeout=20 \
	    -max_len=65536 "$corpus" 2>&1 | grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss|ERROR|SUMMARY" || true
	# libFuzzer names its findings crash-, leak-, timeout- or oom-<hash>.
	for found in crash-* leak-* timeout-* oom-*; do
		[ -e "$found" ] && { echo "fuzz: $name: $found"; exit 1; }
	done
done
echo "fuzz: all targets ran ${secs}s without a crash"
