#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet:
# as root directly, else through sudo, else prints the command to run.
missing=
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
[ -z "$missing" ] && exit 0
cmd="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq$missing"
if [ "$(id -u)" = 0 ]; then
	sh -c "$cmd"
elif command -v sudo >/dev/null 2>&1; then
	sudo sh -c "$cmd"
else
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root: $cmd" >&2
	exit 1
fi
