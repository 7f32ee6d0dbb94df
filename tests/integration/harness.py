"""Helpers for integration tests: start the built intaked for real on
loopback with a fresh state directory and a real age key, and talk to it
over real sockets. Every wait is bounded."""

import email
import email.policy
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("INTAKE_BUILD", "build"))
INTAKED = os.path.join(BUILD, "intaked")
INTAKECTL = os.path.join(BUILD, "intakectl")
SCHEMA = os.path.join(ROOT, "config", "forms", "consultation.schema.json")

VALID = {
    "name": "Test Patient",
    "email": "patient@example.com",
    "phone": "+91 00000 00000",
    "country": "India",
    "condition": "liver-cirrhosis",
    "message": "Line one.\nLine two.",
    "contact_time": "morning",
    "consent": "on",
}


def valid_doc(**over):
    """VALID as a JSON client sends it (consent a real boolean), with over
    replacing or adding fields."""
    doc = dict(VALID)
    doc["consent"] = True
    doc.update(over)
    return doc


def valid_body(**over):
    """valid_doc(**over) as the bytes of a JSON body."""
    return json.dumps(valid_doc(**over)).encode()


class TestFailure(AssertionError):
    pass


def check(cond, msg="check failed"):
    if not cond:
        raise TestFailure(msg)


def eq(a, b, what=""):
    if a != b:
        raise TestFailure("%s: expected %r, got %r" % (what, b, a))


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(fn, timeout=10.0, step=0.02, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise TestFailure("timed out waiting for %s" % what)


def wait_listening(proc, port, what, timeout=20):
    """Waits until proc accepts connections on 127.0.0.1:port; fails at
    once if it exits first."""
    def up():
        if proc.poll() is not None:
            raise TestFailure("%s exited with %s" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port),
                                     timeout=0.2).close()
            return True
        except OSError:
            return False
    wait_until(up, timeout, what="%s to listen" % what)


def status_kib(pid, key):
    """A field of /proc/PID/status given in kB (VmRSS, VmHWM, RssAnon)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise TestFailure("no %s for pid %d" % (key, pid))


def run_threads(fn, n, timeout):
    """Runs fn(0) .. fn(n - 1) in n threads at once and waits for them
    (each join bounded by timeout); returns the seconds that took."""
    ts = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
    return time.monotonic() - t0


def read_text(path):
    with open(path) as f:
        return f.read()


def write_text(path, text, mode=None):
    """Writes text to path; mode (if given) is set after the write."""
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def maildir_files(maildir):
    """The raw bytes of every message in maildir/new, ordered by file
    name; [] while there is no new/ yet."""
    d = os.path.join(maildir, "new")
    if not os.path.isdir(d):
        return []
    out = []
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), "rb") as f:
            out.append(f.read())
    return out


def age_keygen(path):
    """A new age identity file at path (age-keygen); returns its
    recipient."""
    subprocess.run(["age-keygen", "-o", path], check=True,
                   capture_output=True, timeout=10)
    pub = subprocess.run(["age-keygen", "-y", path], check=True,
                         capture_output=True, timeout=10)
    return pub.stdout.decode().strip()


def age_decrypt(key, data, timeout=30):
    """age -d -i key over data, by the reference tool: the completed
    process (returncode, stdout, stderr)."""
    return subprocess.run(["age", "-d", "-i", key], input=data,
                          capture_output=True, timeout=timeout)


def run_intaked(*args, env=None):
    """Runs the built intaked with args to its end (at most 20 s), with
    env added to the environment."""
    full = dict(os.environ)
    full.update(env or {})
    return subprocess.run([INTAKED] + list(args), capture_output=True,
                          timeout=20, env=full)


def post_head(*headers, path=b"/forms/consultation",
              ctype=b"application/json"):
    """The head of a raw POST: request line, Host, Content-Type, then each
    of headers (bytes, no CRLF) and the blank line."""
    return (b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\n"
            % (path, ctype) + b"".join(h + b"\r\n" for h in headers) +
            b"\r\n")


def post_bytes(body, *headers):
    """A whole raw POST of body: post_head(*headers) with Content-Length
    last, then body."""
    return post_head(*headers, b"Content-Length: %d" % len(body)) + body


def urlencode(d):
    from urllib.parse import quote_plus
    parts = []
    for k, v in d.items():
        vals = v if isinstance(v, list) else [v]
        for x in vals:
            parts.append(quote_plus(k) + "=" + quote_plus(x))
    return "&".join(parts)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:200])


def read_response(sock, buf=b"", head=False):
    """Reads one HTTP/1.1 response (Content-Length framed) from sock.
    Returns (Response, leftover bytes)."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise TestFailure("connection closed before a response: %r"
                              % buf[:200])
        buf += chunk
    head_bytes, _, rest = buf.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = 0 if head or status in (100, 204) else \
        int(headers.get("content-length", "0"))
    while len(rest) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise TestFailure("connection closed mid-body")
        rest += chunk
    return Response(status, headers, rest[:n]), rest[n:]


class Daemon:
    """One intaked with its own state directory, key and config."""

    def __init__(self, extra="", form_extra="", limits="", listen=None,
                 mail=None, start=True, env=None, crypto=None, storage="",
                 admin="", content="summary", mail_extra=""):
        self.dir = tempfile.mkdtemp(prefix="intaked-it-")
        self.port = free_port()
        self.admin_port = free_port()
        self.key = os.path.join(self.dir, "staff.key")
        self.recipient = age_keygen(self.key)
        write_text(os.path.join(self.dir, "staff.recipients"),
                   "# staff key for tests\n%s\n" % self.recipient)
        self.db = os.path.join(self.dir, "state", "intake.db")
        # As StateDirectory= or the package would: intaked never makes it.
        os.mkdir(os.path.dirname(self.db), 0o700)
        self.maildir = os.path.join(self.dir, "mail")
        self.listen = listen or ["127.0.0.1:%d" % self.port]
        mail = mail if mail is not None else (
            "transport = maildir\nmaildir = %s\nfrom = intaked@example.com\n"
            "to = staff@example.com\ncontent = %s\n%s" % (self.maildir,
                                                          content,
                                                          mail_extra))
        crypto = crypto if crypto is not None else \
            "recipients_file = staff.recipients\n"
        self.config = os.path.join(self.dir, "intaked.conf")
        with open(self.config, "w") as f:
            f.write("[server]\n")
            for l in self.listen:
                f.write("listen = %s\n" % l)
            f.write("templates = %s/templates\npublic_files = %s/public\n%s\n"
                    % (ROOT, BUILD, extra))
            f.write("[limits]\n%s\n" % limits)
            f.write("[storage]\npath = %s\n%s\n" % (self.db, storage))
            f.write("[crypto]\n%s\n" % crypto)
            f.write("[mail]\n%s\n" % mail)
            f.write("[admin]\nlisten = 127.0.0.1:%d\nroot = %s/inbox\n%s\n"
                    % (self.admin_port, BUILD, admin))
            f.write("[form consultation]\nschema = %s\nhoneypot = website\n"
                    "reply_to = email\n"
                    "attachments = application/pdf image/jpeg image/png\n"
                    "%s\n" % (SCHEMA, form_extra))
        self.proc = None
        self.activated = False
        self.env = env
        self.logpath = os.path.join(self.dir, "intaked.log")
        if start:
            self.start()

    def start(self, argv_prefix=None, wait=True):
        self.log = open(self.logpath, "ab")
        env = dict(os.environ)
        env.update(self.env or {})
        argv = (argv_prefix or []) + [INTAKED, "-c", self.config]
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env)
        self.activated = argv_prefix is not None
        if wait:
            self.wait_ready()

    def wait_ready(self):
        try:
            wait_listening(self.proc, self.port, "intaked", 15)
            # The admin listener opens after the public one: a test that
            # goes to it at once could find nothing there yet. Under
            # socket activation the sockets are passed, not the config's.
            if not self.activated:
                wait_listening(self.proc, self.admin_port, "intaked admin",
                               15)
        except TestFailure:
            print("---- intaked log ----\n" + self.logtext()[-4000:])
            raise

    def logtext(self):
        try:
            with open(self.logpath, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def read_config(self):
        return read_text(self.config)

    def write_config(self, text):
        write_text(self.config, text)

    def edit_config(self, old, new):
        """Replaces old (which must be there) with new in the config."""
        text = self.read_config()
        check(old in text, "%r not in the config" % old)
        self.write_config(text.replace(old, new))

    def add_listen(self, spec):
        """Adds a listener after the first one (before a start)."""
        first = "listen = %s" % self.listen[0]
        self.edit_config(first, "%s\nlisten = %s" % (first, spec))

    def check_config(self):
        """intaked -t on this config: the completed process."""
        return run_intaked("-t", "-c", self.config, env=self.env)

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise TestFailure("intaked did not stop within %ss" % timeout)
        self.log.close()
        return rc

    def stop_promptly(self, within=5, timeout=20):
        """SIGTERM, then asserts exit status 0 in under within seconds
        (waiting for it at most timeout)."""
        t0 = time.monotonic()
        rc = self.stop(timeout=timeout)
        took = time.monotonic() - t0
        eq(rc, 0, "exit status")
        check(took < within, "SIGTERM to exit took %.1f s" % took)

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc:
            self.log.close()

    def close(self):
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            print("---- intaked log ----\n" + self.logtext()[-4000:])
            self.close()
            return
        # A clean stop at the end of every test, so that sanitizer builds
        # report leaks and errors, and a bad exit fails the test.
        try:
            rc = self.stop()
            log = self.logtext()
            for bad in ("AddressSanitizer", "LeakSanitizer",
                        "runtime error:"):
                if bad in log:
                    raise TestFailure("sanitizer report:\n" + log[-6000:])
            if rc not in (0, None):
                raise TestFailure("intaked exited %s:\n%s" % (rc,
                                                              log[-4000:]))
        finally:
            self.close()

    # ---- talking to it ----

    def connect(self, timeout=10, port=None):
        s = socket.create_connection(("127.0.0.1", port or self.port),
                                     timeout=timeout)
        s.settimeout(timeout)
        return s

    def raw(self, data, timeout=10, head=False, port=None):
        """Sends raw bytes on a new connection, returns the response."""
        s = self.connect(timeout, port)
        try:
            s.sendall(data)
            r, _ = read_response(s, head=head)
            return r
        finally:
            s.close()

    def request(self, method, path, body=b"", headers=None, timeout=10,
                port=None):
        if isinstance(body, str):
            body = body.encode()
        h = {"Host": "localhost", "Connection": "close"}
        if body or method == "POST":
            h["Content-Length"] = str(len(body))
        h.update(headers or {})
        head = "%s %s HTTP/1.1\r\n" % (method, path)
        head += "".join("%s: %s\r\n" % kv for kv in h.items() if
                        kv[1] is not None)
        return self.raw(head.encode() + b"\r\n" + body, timeout,
                        head=(method == "HEAD"), port=port)

    def admin(self, method, path, body=b"", headers=None, timeout=10):
        """A request to the admin listener (the inbox, /metrics)."""
        return self.request(method, path, body, headers, timeout,
                            port=self.admin_port)

    def post_form(self, fields, form="consultation", headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        return self.request("POST", "/forms/" + form, urlencode(fields), h)

    def post_json(self, doc, form="consultation", headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        body = doc if isinstance(doc, (str, bytes)) else json.dumps(doc)
        return self.request("POST", "/forms/" + form, body, h)

    def submit(self, **over):
        """POSTs valid_doc(**over) as JSON; asserts 201; returns the id."""
        r = self.post_json(valid_doc(**over))
        eq(r.status, 201, "submit: %r" % r)
        return r.json()["id"]

    def ctl(self, *args, check_rc=True, input=None, timeout=30):
        p = subprocess.run([INTAKECTL, "-c", self.config] + list(args),
                           capture_output=True, input=input,
                           timeout=timeout)
        if check_rc and p.returncode != 0:
            raise TestFailure("intakectl %s failed (%d): %s" %
                              (" ".join(args), p.returncode,
                               p.stderr.decode(errors="replace")))
        return p

    def list_ids(self, *args):
        """The ids intakectl list --json [args] shows, newest first."""
        return [x["id"] for x in
                json.loads(self.ctl("list", "--json", *args).stdout)]

    def decrypt_cat(self, inquiry_id):
        """intakectl cat ID | age -d -i key: the record via the real age."""
        p = age_decrypt(self.key, self.ctl("cat", inquiry_id).stdout)
        if p.returncode != 0:
            raise TestFailure("age -d failed: %s" % p.stderr.decode())
        return json.loads(p.stdout.decode())


class Smtp:
    """A real SMTP server: aiosmtpd with the Maildir handler, run by the
    system interpreter, optionally offering STARTTLS with a fresh cert."""

    def __init__(self, tls=True, port=None):
        self.dir = tempfile.mkdtemp(prefix="intaked-smtp-")
        self.out = os.path.join(self.dir, "out")
        self.port = port or free_port()
        self.tls = tls
        self.cert = os.path.join(self.dir, "c.pem")
        self.keyfile = os.path.join(self.dir, "k.pem")
        if tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                            "-nodes", "-keyout", self.keyfile, "-out",
                            self.cert, "-days", "2", "-subj", "/CN=localhost",
                            "-addext",
                            "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                           check=True, capture_output=True, timeout=60)
        self.proc = None

    def start(self):
        argv = ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l",
                "127.0.0.1:%d" % self.port]
        if self.tls:
            argv += ["--tlscert", self.cert, "--tlskey", self.keyfile]
        argv += ["-c", "aiosmtpd.handlers.Mailbox", self.out]
        return self.spawn(argv)

    def spawn(self, argv):
        self.log = open(os.path.join(self.dir, "smtp.log"), "ab")
        self.proc = subprocess.Popen(argv, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        wait_listening(self.proc, self.port, os.path.basename(argv[1]))
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.log.close()

    def messages(self):
        """(raw bytes, parsed message) of every message received."""
        return [(raw, email.message_from_bytes(
            raw, policy=email.policy.default))
            for raw in maildir_files(self.out)]

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
