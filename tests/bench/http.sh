#!/bin/sh
# Durable form submissions per second through intaked (validate, encrypt,
# group commit with fsync, answer 201) next to nginx answering `return 204`
# to the same POST on the same machine in the same run: the ratio is the
# cost of doing the real work over doing none.
set -eu
build=${INTAKE_BUILD:-build}
root=$(pwd)
dur=${BENCH_SECONDS:-8}
tmp=$(mktemp -d)
trap 'kill $ipid $npid 2>/dev/null; rm -rf "$tmp"' EXIT INT TERM
ipid= npid=
port() { /usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

age-keygen -o "$tmp/k" 2>/dev/null; age-keygen -y "$tmp/k" > "$tmp/r"
ip=$(port); np=$(port)
mkdir -m 700 "$tmp/state"
cat > "$tmp/intaked.conf" <<CONF
[server]
listen = 127.0.0.1:$ip
templates = $root/templates
log_level = warning
[limits]
rate = 0
pending_writes = 10000
[storage]
path = $tmp/state/intake.db
[crypto]
recipients_file = r
[mail]
transport = maildir
maildir = $tmp/mail
to = staff@example.com
[form consultation]
schema = $root/config/forms/consultation.schema.json
CONF
cat > "$tmp/nginx.conf" <<CONF
daemon off; worker_processes 1; pid $tmp/nginx.pid; error_log $tmp/nginx.err;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $tmp;
  server { listen 127.0.0.1:$np; location / { return 204; } } }
CONF
cat > "$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"name":"Bench Patient","email":"bench@example.com","phone":"+91 00000 00000","country":"India","condition":"liver-cirrhosis","message":"Benchmark inquiry.\\nSecond line.","contact_time":"any","consent":true}'
LUA
"$build/intaked" -c "$tmp/intaked.conf" 2>"$tmp/intaked.log" & ipid=$!
nginx -c "$tmp/nginx.conf" & npid=$!
sleep 1
# Prints "REQ_PER_SEC NON_2XX" for one wrk run.
run() {
	wrk -t1 -c64 -d"${dur}s" -s "$tmp/post.lua" "$1" |
	    awk '/Requests\/sec/ {r = $2} /Non-2xx/ {n = $NF} END {print r, n + 0}'
}
set -- $(run "http://127.0.0.1:$ip/forms/consultation"); a=$1 abad=$2
set -- $(run "http://127.0.0.1:$np/forms/consultation"); b=$1
stored=$("$build/intakectl" -c "$tmp/intaked.conf" stats | awk '/^inquiries:/ {print $2}')
echo "http: intaked durable POST (201 after commit): $a req/s, $stored stored, $abad non-2xx"
echo "http: nginx return 204 to the same POST:       $b req/s"
echo "http: ratio intaked/nginx: $(awk "BEGIN {printf \"%.2f\", $a / $b}")"
[ "$abad" -eq 0 ] || { echo "http: intaked answered $abad requests with an error" >&2; exit 1; }
rss=$(ps -o rss= -p $ipid)
echo "http: intaked RSS after run: ${rss} KiB"
