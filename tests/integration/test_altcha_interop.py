"""Our ALTCHA proof of work against the reference library, altcha-lib
2.8.0 (templates/node_modules, v1 API): it solves the challenges our C
code makes, and what it makes with the same HMAC key verifies with ours,
once. altcha_tool (tests/integration/altcha_tool.c) drives daemon/altcha.c;
altcha_interop.mjs drives altcha-lib."""

import json
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import time

from harness import BUILD, ROOT, check, eq

TOOL = os.path.join(BUILD, "tests", "altcha_tool")
SCRIPT = os.path.join(ROOT, "tests", "integration", "altcha_interop.mjs")
NODE = shutil.which("node") or "/usr/bin/node"

ERR_AUTH, ERR_EXPIRED, ERR_REPLAYED = -14, -17, -18


class Altcha:
    """altcha_tool on a fresh state directory. altcha-lib takes its HMAC
    key as a string and signs with its UTF-8 bytes, so the key file holds
    32 ASCII characters: the same key on both sides."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="altcha-interop.")
        self.key = secrets.token_hex(16)
        path = os.path.join(self.dir, "altcha.key")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, self.key.encode())
        os.close(fd)
        self.proc = subprocess.Popen(
            [TOOL, os.path.join(self.dir, "altcha.key")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        check(answer, "altcha_tool ended (exit %s)" % self.proc.poll())
        return answer.rstrip("\n")

    def challenge(self, maxnumber=50000, ttl=600):
        return json.loads(self.ask("challenge %d %d" % (maxnumber, ttl)))

    def verify(self, payload, now=None):
        line = "verify " + payload + ("" if now is None else " %d" % now)
        return int(self.ask(line).split()[0])

    def lib(self, *args, stdin=None):
        p = subprocess.run([NODE, SCRIPT] + list(args), input=stdin,
                           capture_output=True, text=True, timeout=60)
        eq(p.returncode, 0, "altcha_interop.mjs: " + p.stderr)
        return json.loads(p.stdout)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.proc.stdin.close()
        eq(self.proc.wait(timeout=10), 0, "altcha_tool exit")
        self.proc.stdout.close()
        shutil.rmtree(self.dir)


def test_lib_solves_our_challenge_once():
    with Altcha() as a:
        c = a.challenge()
        eq(sorted(c), ["algorithm", "challenge", "maxnumber", "salt",
                       "signature"], "members")
        got = a.lib("solve", a.key, stdin=json.dumps(c))
        check(0 <= got["number"] <= 50000, got)
        # altcha-lib's own verifySolution takes our challenge too.
        eq(got["lib_verifies"], True, "altcha-lib verifies ours")
        eq(a.verify(got["payload"]), 0, "first use")
        eq(a.verify(got["payload"]), ERR_REPLAYED, "second use")
        eq(a.verify(got["widget"]), ERR_REPLAYED, "as the widget sends it")
        eq(a.ask("spent"), "1", "spent")


def test_widget_shaped_payload():
    with Altcha() as a:
        got = a.lib("solve", a.key, stdin=json.dumps(a.challenge()))
        eq(a.verify(got["widget"]), 0, "with took")
        eq(a.verify(got["payload"]), ERR_REPLAYED, "without")


def test_lib_challenge_verifies_with_ours_once():
    with Altcha() as a:
        exp = int(time.time()) + 600
        got = a.lib("create", a.key, "20000", str(exp))
        eq(got["lib_verifies"], True, "altcha-lib verifies its own")
        check(got["challenge"]["salt"].endswith("?expires=%d&" % exp),
              got["challenge"])
        eq(a.verify(got["payload"]), 0, "first use")
        eq(a.verify(got["payload"]), ERR_REPLAYED, "second use")


def test_lib_challenge_expired_or_other_key():
    with Altcha() as a:
        now = int(time.time())
        got = a.lib("create", a.key, "20000", str(now - 5))
        eq(got["lib_verifies"], False, "altcha-lib: expired")
        eq(a.verify(got["payload"]), ERR_EXPIRED, "ours: expired")
        got = a.lib("create", secrets.token_hex(16), "20000", str(now + 60))
        eq(a.verify(got["payload"]), ERR_AUTH, "another key")
        # Ours expires on the same clock: good through its last second.
        c = a.challenge(maxnumber=1000, ttl=30)
        got = a.lib("solve", a.key, stdin=json.dumps(c))
        exp = int(c["salt"].split("?expires=")[1].rstrip("&"))
        eq(a.verify(got["payload"], now=exp + 1), ERR_EXPIRED, "past")
        eq(a.verify(got["payload"], now=exp), 0, "last second")


def test_key_created_0600():
    d = tempfile.mkdtemp(prefix="altcha-interop.")
    try:
        key = os.path.join(d, "altcha.key")
        p = subprocess.run([TOOL, key], input="spent\n", capture_output=True,
                           text=True, timeout=10)
        eq(p.returncode, 0, "exit: " + p.stderr)
        st = os.stat(key)
        eq(stat.S_IMODE(st.st_mode), 0o600, "mode")
        eq(st.st_size, 32, "size")
        os.chmod(key, 0o644)
        p = subprocess.run([TOOL, key], input="spent\n", capture_output=True,
                           text=True, timeout=10)
        eq(p.returncode, 1, "loose key refused")
        check("chmod 600" in p.stderr, p.stderr)
    finally:
        shutil.rmtree(d)
