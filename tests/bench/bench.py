"""make bench: intaked near the limits of the machine, side by side with
nginx in one run (issue 13), as one table printed and written to
tests/bench/RESULTS.md.

Every measurement is repeated in ROUNDS rounds and shown as min / median /
max over them. Within a round intaked and nginx take turns on the same wrk
script and connection count (who goes first alternates by round), so that
load from other jobs and thermal drift hit both alike; ratios are taken
per round, then summarised.

  1. durable accepted submissions/s under wrk (keep-alive, a ~1 KiB
     inquiry with Hindi, Tamil and German text and a multi-line message),
     JSON (201) and urlencoded (303), at 8, 64, 256 and 1,000
     connections, p50/p99, next to nginx `return 204`; the run fails if
     intaked answers anything but 2xx/3xx;
  2. the same at 64 connections with two recipients, and with one 1 MiB
     PDF upload per request; one 25 MiB upload next to `age -r` alone;
  3. the ceilings: X25519, fdatasync of 4 KiB, CPU per request and the
     rate two cores allow at that cost;
  4. memory: RSS idle, per idle keep-alive connection at 10,000, after
     they close, peak during 20 concurrent 10 MiB uploads;
  5. notifications/s into a local aiosmtpd (STARTTLS, as production) and
     into a Maildir while wrk drives intake at full speed, with the CPU of
     the SMTP peer and of intaked, and 201-to-delivered latency;
  6. cold start: exec to the first answered request.

Knobs (environment): BENCH_SECONDS (each load run, default 5),
BENCH_ROUNDS (default 3), BENCH_CONNS (default 8,64,256,1000),
BENCH_IDLE_CONNS (default 10000), BENCH_SECTIONS (default 1,2,3,4,5,6),
BENCH_NOTE (a line put at the top of RESULTS.md), BENCH_RESULTS (where to
write it; "-" for nowhere), INTAKE_BUILD (default build).
"""

import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, os.path.join(HERE, ".."))
from harness import (BUILD, ROOT, Daemon, Smtp, TestFailure,  # noqa: E402
                     age_keygen, free_port, read_response, run_threads,
                     status_kib, urlencode, wait_listening, wait_until)
from test_upload import curl_form, file_of  # noqa: E402
from pgtest import Postgres  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
SECONDS = max(1, int(os.environ.get("BENCH_SECONDS", "5")))
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "3")))
CONNS = [int(c) for c in
         os.environ.get("BENCH_CONNS", "8,64,256,1000").split(",")]
IDLE_CONNS = int(os.environ.get("BENCH_IDLE_CONNS", "10000"))
# Seconds the mail backlog is watched draining after the load (section 5):
# a measured interval, not a wait for a condition.
DRAIN_SECONDS = 3
SECTIONS = set(os.environ.get("BENCH_SECTIONS",
                              "1,2,3,4,5,6,7").split(","))
RESULTS = os.environ.get("BENCH_RESULTS",
                         os.path.join(HERE, "RESULTS.md"))
NCPU = len(os.sched_getaffinity(0))          # what nproc prints
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Marked inquiries per mail run whose 201-to-delivered time is taken, and
# how long after the load they may still arrive.
MARKS = 8
IDLE_MARKS = 3
GRACE = min(SECONDS, 2)
# Restarts timed for section 6 over all rounds (at least this many).
COLD_STARTS = 7

# What the daemon gets for the bench: no per-address rate or connection
# cap (every client is 127.0.0.1, so the defaults would turn this into a
# 429/503 benchmark), room for 10,000 idle connections plus wrk's 1,000,
# an accounting budget far above what 1,000 connections with 1 KiB bodies
# hold, and enough pending writes that 1,000 connections never see 503.
LIMITS = ("rate = 0\nconnections = 12000\nconnections_per_ip = 0\n"
          "memory_budget = 256M\npending_writes = 10000")
EXTRA = "log_level = warning"

failures = []
t_start = time.monotonic()


def log(msg):
    print("[%4.0fs] %s" % (time.monotonic() - t_start, msg),
          file=sys.stderr, flush=True)


def fail(msg):
    failures.append(msg)
    log("FAIL: " + msg)


# ---- /proc --------------------------------------------------------------

def cpu_seconds(pid):
    """utime + stime of pid, all its threads, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    # The command name may hold spaces: the fields start after its ")".
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def metrics(d):
    """The admin listener's /metrics as {"name{labels}": value}."""
    r = d.admin("GET", "/metrics", timeout=30)
    if r.status != 200:
        raise TestFailure("/metrics: %r" % r)
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            k, _, v = line.rpartition(" ")
            out[k] = float(v)
    return out


def answers(m):
    """{status class: answers so far} on the public listener."""
    return {c: m.get('intaked_responses_total{class="%dxx"}' % c, 0)
            for c in (1, 2, 3, 4, 5)}


# ---- what the clients send ----------------------------------------------

# A realistic consultation inquiry of about 1 KiB: an invented patient
# (no personal data), a message over several lines in English, Hindi,
# Tamil and German, as the clinic's international patients write.
MESSAGE = "\n".join([
    "Namaste, I am writing for my father (68), diagnosed with liver "
    "cirrhosis (Child-Pugh B) last March.",
    "नमस्ते, मेरे पिताजी को लिवर सिरोसिस है। क्या स्टेम सेल थेरेपी से "
    "उन्हें मदद मिल सकती है?",
    "வணக்கம், அவருக்கு கல்லீரல் பாதிப்பு உள்ளது; சிகிச்சை பற்றி அறிய "
    "விரும்புகிறோம்.",
    "Guten Tag, die Befunde (Ultraschall, Blutwerte, Arztbrief) schicke "
    "ich gern nach. Grüße aus Köln.",
    "Current treatment: diuretics and a low-salt diet; no alcohol for two "
    "years.",
    "Please call in the morning, India time. Thank you!",
])
FIELDS = {
    "name": "Anaya Beispiel-Müller",
    "email": "bench@example.com",
    "phone": "+91 00000 00000",
    "country": "India",
    "condition": "liver-cirrhosis",
    "message": MESSAGE,
    "contact_time": "morning",
}


def json_body():
    doc = dict(FIELDS, consent=True)
    return json.dumps(doc, ensure_ascii=False).encode()


def form_body():
    return urlencode(dict(FIELDS, consent="on")).encode()


def multipart_body(boundary, pdf):
    """The form as a browser posts it with one file in reports."""
    parts = []
    for k, v in dict(FIELDS, consent="on").items():
        parts.append(b'--%s\r\nContent-Disposition: form-data; name="%s"'
                     b'\r\n\r\n%s\r\n' % (boundary, k.encode(), v.encode()))
    parts.append(b'--%s\r\nContent-Disposition: form-data; name="reports"; '
                 b'filename="befund.pdf"\r\nContent-Type: application/pdf'
                 b'\r\n\r\n' % boundary + pdf + b"\r\n")
    parts.append(b"--%s--\r\n" % boundary)
    return b"".join(parts)


# The wrk script. It reads its body from a file (the 1 MiB upload does not
# belong in Lua source) and reports through done(), which wrk calls once
# with the totals of all threads.
#
# No response() callback: with one defined, wrk hands every answer's
# headers and body to Lua, which costs wrk time per request, and wrk is
# the limit against nginx: it would lower nginx's rate and flatter the
# ratio. It is not needed either. wrk's "Non-2xx or 3xx responses"
# (summary.errors.status) counts answers with a status above 399 only,
# so 303 is not counted there (checked with nginx `return 303`); and
# intaked's own intaked_responses_total by class, read from /metrics
# before and after each run, counts every answer, including those to
# requests still in flight when wrk stopped. Both must show no error.
LUA = """\
local f = assert(io.open([==[%(body)s]==], "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = [==[%(ctype)s]==]
wrk.headers["Accept"] = [==[%(accept)s]==]

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH requests=%%.0f duration_us=%%.0f " ..
    "status=%%.0f connect=%%.0f read=%%.0f write=%%.0f timeout=%%.0f " ..
    "p50_us=%%.0f p99_us=%%.0f\\n", summary.requests, summary.duration,
    e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


EXPECT = {}     # wrk script -> the status class intaked answers it with


class Scripts:
    """The wrk scripts of every variant, in a directory of their own."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "lua")
        os.mkdir(self.dir)
        boundary = b"----intakedbench7d2f0c"
        pdf = file_of("application/pdf", MiB)
        self.json = self.make("json", json_body(), "application/json",
                              "application/json")
        # A browser's Accept: intaked answers it 303 to the thanks page.
        self.form = self.make("form", form_body(),
                              "application/x-www-form-urlencoded",
                              "text/html,application/xhtml+xml,*/*;q=0.8")
        self.upload = self.make(
            "upload", multipart_body(boundary, pdf),
            "multipart/form-data; boundary=" + boundary.decode(),
            "application/json")
        # The status class intaked answers each script with.
        EXPECT.update({self.json: 2, self.form: 3, self.upload: 2})
        self.sizes = {"json": len(json_body()), "form": len(form_body())}

    def make(self, name, body, ctype, accept):
        bpath = os.path.join(self.dir, name + ".body")
        with open(bpath, "wb") as f:
            f.write(body)
        spath = os.path.join(self.dir, name + ".lua")
        with open(spath, "w") as f:
            f.write(LUA % {"body": bpath, "ctype": ctype, "accept": accept})
        return spath


# ---- the two servers ----------------------------------------------------

class Nginx:
    """nginx answering `return 204` to everything, one worker."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "nginx")
        os.mkdir(self.dir)
        self.port = free_port()
        conf = os.path.join(self.dir, "nginx.conf")
        # keepalive_requests: nginx closes a keep-alive connection after
        # 1000 requests by default, intaked never does; wrk would pay a
        # reconnect on nginx only. client_max_body_size 0: the 1 MiB
        # upload must reach `return 204`, not a 413.
        with open(conf, "w") as f:
            f.write("""daemon off; worker_processes 1; pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path %(d)s;
  client_max_body_size 0; keepalive_requests 100000000;
  server { listen 127.0.0.1:%(p)d; location / { return 204; } } }
""" % {"d": self.dir, "p": self.port})
        self.log = open(os.path.join(self.dir, "stderr"), "ab")
        err = os.path.join(self.dir, "error.log")
        self.proc = subprocess.Popen(
            ["nginx", "-p", self.dir, "-e", err, "-c", conf],
            stdout=self.log, stderr=subprocess.STDOUT)
        wait_listening(self.proc, self.port, "nginx")

    def url(self, path="/forms/consultation"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def cpu(self):
        return sum(cpu_seconds(p) for p in
                   [self.proc.pid] + children(self.proc.pid))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.log.close()


def intaked_url(d, path="/forms/consultation"):
    return "http://127.0.0.1:%d%s" % (d.port, path)


def wrk(url, script, conns, seconds):
    """One wrk run: the numbers of its done() line, plus the CPU wrk
    itself used (from the children's rusage, so only wrk may end in
    between)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # --timeout 10s: an answer slower than that is counted as a timeout,
    # which fails an intaked run (wrk's default 2s would cut the tail off
    # the 1,000-connection p99 on a busy machine).
    p = subprocess.run(["wrk", "-t1", "-c%d" % conns, "-d%ds" % seconds,
                        "--timeout", "10s", "-s", script, url],
                       capture_output=True, text=True,
                       timeout=seconds + 120)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"^BENCH (.*)$", p.stdout, re.M)
    if p.returncode != 0 or not m:
        raise TestFailure("wrk failed (%d): %s %s" % (p.returncode,
                                                      p.stdout, p.stderr))
    r = {k: float(v) for k, v in
         (kv.split("=") for kv in m.group(1).split())}
    r["rate"] = r["requests"] / (r["duration_us"] / 1e6)
    r["wrk_cpu"] = (after.ru_utime + after.ru_stime -
                    before.ru_utime - before.ru_stime)
    return r


def load_intaked(d, script, conns, seconds, what):
    """wrk against intaked: rate, latency, CPU per answered request; any
    answer that is not 2xx/3xx, or a request never answered, fails, and
    so do fewer answers of the script's class (201 or 303) than wrk
    counted."""
    a0 = answers(metrics(d))
    c0 = cpu_seconds(d.proc.pid)
    r = wrk(intaked_url(d), script, conns, seconds)
    r["cpu"] = cpu_seconds(d.proc.pid) - c0
    a1 = answers(metrics(d))
    delta = {c: a1[c] - a0[c] for c in a1}
    r["ok"] = delta[2] + delta[3]
    r["bad"] = delta[1] + delta[4] + delta[5]
    r["cpu_us"] = r["cpu"] / max(r["ok"], 1) * 1e6
    errs = {k: int(r[k]) for k in ("status", "connect", "read", "write",
                                   "timeout") if r[k]}
    if r["bad"] or errs:
        fail("%s: intaked answered %d requests with other than 2xx/3xx; "
             "wrk errors %s" % (what, r["bad"], errs or "none"))
    expect = EXPECT[script]
    if delta[expect] < r["requests"]:
        fail("%s: wrk counted %d answers, intaked sent %d %dxx"
             % (what, r["requests"], delta[expect], expect))
    # Accepted, not answered: wrk's own rate counts error answers too.
    r["rate"] = min(r["requests"], delta[expect]) / (r["duration_us"] / 1e6)
    log("%s: intaked %.0f/s p50 %.1f ms p99 %.1f ms, %.0f us CPU/req"
        % (what, r["rate"], r["p50_us"] / 1e3, r["p99_us"] / 1e3,
           r["cpu_us"]))
    return r


def load_nginx(ng, script, conns, seconds, what):
    c0 = ng.cpu()
    r = wrk(ng.url(), script, conns, seconds)
    r["cpu"] = ng.cpu() - c0
    r["cpu_us"] = r["cpu"] / max(r["requests"], 1) * 1e6
    errs = {k: int(r[k]) for k in ("status", "connect", "read", "write",
                                   "timeout") if r[k]}
    if errs:
        # Not a failure of intaked, but the ratio would be off: say so.
        log("WARNING %s: nginx run had wrk errors %s" % (what, errs))
    log("%s: nginx   %.0f/s, wrk used %.0f%% of a core"
        % (what, r["rate"], 100 * r["wrk_cpu"] / (r["duration_us"] / 1e6)))
    return r


# ---- results ------------------------------------------------------------

R = {}          # key -> one value per round (a float or a tuple)
ROWS = []       # (key, section, label, fmt, what), in table order


def row(key, section, label, fmt, what):
    ROWS.append((key, section, label, fmt, what))


def put(key, value):
    R.setdefault(key, []).append(value)


def define_rows():
    for v, vname, code in (("json", "JSON", "201"),
                           ("form", "urlencoded", "303")):
        for c in CONNS:
            k = "1.%s.%d" % (v, c)
            label = "%s, %d conns" % (vname, c)
            row(k + ".i", "1", label + ": intaked accepted/s", "%.0f",
                "durable submissions answered %s after the commit" % code)
            row(k + ".n", "1", label + ": nginx/s", "%.0f",
                "nginx `return 204` to the same wrk script, same round")
            row(k + ".r", "1", label + ": ratio", "%.3f",
                "intaked/nginx, per round")
            row(k + ".l", "1", label + ": intaked p50 / p99 ms", "%.1f",
                "wrk's latency percentiles")
            row(k + ".c", "1", label + ": intaked CPU µs/req", "%.0f",
                "utime+stime of intaked over the run ÷ 2xx/3xx answered")
    row("2.r2.i", "2", "2 recipients, 64 conns: accepted/s", "%.0f",
        "JSON inquiry sealed to two age1 keys")
    row("2.r2.r", "2", "2 recipients: ratio", "%.3f",
        "÷ nginx to the same JSON script at 64 conns, same round")
    row("2.r2.l", "2", "2 recipients: p50 / p99 ms", "%.1f", "wrk")
    row("2.r2.c", "2", "2 recipients: CPU µs/req", "%.0f",
        "one more X25519 agreement per request than 1 recipient")
    row("2.up.i", "2", "1 MiB upload, 64 conns: accepted/s", "%.0f",
        "multipart with a 1 MiB PDF in reports, stored encrypted, 201")
    row("2.up.n", "2", "1 MiB upload: nginx/s", "%.0f",
        "nginx `return 204` reading the same 1 MiB bodies")
    row("2.up.r", "2", "1 MiB upload: ratio", "%.3f", "intaked/nginx")
    row("2.up.l", "2", "1 MiB upload: p50 / p99 ms", "%.1f", "wrk")
    row("2.up.c", "2", "1 MiB upload: CPU µs/req", "%.0f",
        "intaked utime+stime ÷ answered")
    row("2.big.i", "2", "one 25 MiB upload (5 files): MiB/s", "%.0f",
        "curl -F, five 5 MiB PDFs, to the 201")
    row("2.big.a", "2", "age -r alone on the same 25 MiB: MiB/s", "%.0f",
        "the reference tool encrypting to the same recipient")
    row("2.big.r", "2", "25 MiB upload ÷ age alone", "%.2f",
        "what HTTP, multipart, staging and the commit cost over age")
    row("3.xk", "3", "X25519 ephemeral key, µs", "%.1f",
        "crypto_scalarmult_base (bench_x25519, best slice)")
    row("3.xa", "3", "X25519 agreement, µs", "%.1f",
        "crypto_scalarmult with the recipient's key")
    row("3.xc", "3", "X25519-only ceiling, req/s", "%.0f",
        "%d cores ÷ (key + agreement): no other work at all" % NCPU)
    row("3.fs", "3", "fdatasync of 4 KiB, µs", "%.0f",
        "append 4 KiB + fdatasync in a loop on the state dir's fs")
    row("3.fc", "3", "serial fdatasync ceiling, commits/s", "%.0f",
        "1 ÷ fdatasync: why commits are grouped")
    row("3.cpu", "3", "intaked CPU per request, µs", "%.0f",
        "JSON at 64 conns (row 1), utime+stime ÷ answered")
    row("3.cc", "3", "implied CPU limit, req/s", "%.0f",
        "%d cores ÷ CPU per request (if wrk needed none)" % NCPU)
    row("3.cr", "3", "implied CPU limit ÷ nginx", "%.3f",
        "the best ratio this CPU per request allows, same round")
    row("3.budget", "3", "CPU per request that 0.15x nginx allows, µs",
        "%.0f", "2 cores ÷ (0.15 × nginx's rate), same round, even if "
        "wrk needed no CPU; the two X25519 operations above take ~52 of "
        "it")
    row("3.little", "3", "mean latency at %d conns by Little's law, ms"
        % CONNS[-1], "%.1f", "%d in flight ÷ accepted/s (row 1): a p99 "
        "≤ 60 ms there needs more than %.0f/s, above the implied CPU "
        "limit" % (CONNS[-1], CONNS[-1] / 0.060))
    row("3.ncpu", "3", "nginx CPU per request, µs", "%.1f",
        "JSON at 64 conns, master+worker utime+stime ÷ requests")
    row("3.wrk", "3", "wrk CPU against nginx, % of a core", "%.0f",
        "near 100: wrk, not nginx, sets nginx's rate")
    row("4.idle", "4", "RSS idle, MiB", "%.1f",
        "VmRSS after start, one submission and its notification")
    row("4.anon", "4", "  of which private (RssAnon), MiB", "%.1f",
        "the rest is shared library text mapped from disk (RssFile)")
    row("4.smtp", "4", "RSS idle with the SMTP transport, MiB", "%.1f",
        "the same after its idle deliveries (section 5): libcurl and its "
        "TLS stack are loaded only for SMTP")
    row("4.conn", "4", "RSS per idle keep-alive connection, KiB", "%.1f",
        "(VmRSS with %d open after one GET /healthz each − idle) ÷ %d"
        % (IDLE_CONNS, IDLE_CONNS))
    row("4.with", "4", "RSS with %d idle connections, MiB" % IDLE_CONNS,
        "%.1f", "VmRSS")
    row("4.after", "4", "RSS after they close, MiB", "%.1f",
        "VmRSS once /metrics shows intaked_connections 0")
    row("4.afterp", "4", "RSS after close over idle, %", "%.0f",
        "(after − idle) ÷ idle")
    row("4.up", "4", "peak RSS, 20 concurrent 10 MiB uploads, MiB", "%.1f",
        "VmHWM of a fresh daemon after them (curl -F, all 201)")
    row("4.upt", "4", "20 concurrent 10 MiB uploads, s", "%.1f",
        "wall time for all 20 to be answered 201")
    for t, tname in (("smtp", "SMTP"), ("maildir", "Maildir")):
        k = "5." + t
        peer = ("aiosmtpd's new/" if t == "smtp" else "the Maildir's new/")
        row(k + ".rate", "5", tname + ": delivered/s under full intake",
            "%.0f", "files appearing in %s during the wrk run" % peer)
        row(k + ".in", "5", tname + ": intake during it, accepted/s", "%.0f",
            "wrk JSON at 64 conns, at the same time")
        if t == "smtp":
            row(k + ".peer", "5", "SMTP: aiosmtpd CPU, % of a core", "%.0f",
                "the peer's utime+stime ÷ wall time of the run")
            row(k + ".pms", "5", "SMTP: aiosmtpd CPU per message, ms",
                "%.2f", "its CPU ÷ messages delivered")
        row(k + ".icpu", "5", tname + ": intaked CPU, % of a core", "%.0f",
            "intake and mail together, over the run")
        row(k + ".idle", "5", tname + ": 201-to-delivered idle, ms", "%.1f",
            "median of %d marked inquiries before the load, one at a time"
            % IDLE_MARKS)
        row(k + ".lat", "5", tname + ": 201-to-delivered under load, s",
            "%.2f", "median of %d marked inquiries spread over the run "
            "(file mtime); not there %d s after it: never" % (MARKS, GRACE))
        row(k + ".est", "5", tname + ": queue ahead ÷ rate, s", "%.1f",
            "derived: outbox pending at each marked 201 ÷ delivered/s")
        row(k + ".drain", "5", tname + ": delivered/s draining, intake "
            "idle", "%.0f", "the backlog, for %d s after the load stopped"
            % DRAIN_SECONDS)
        row(k + ".dcpu", "5", tname + ": intaked CPU draining, % of a "
            "core", "%.0f", "the same seconds")
        if t == "smtp":
            row(k + ".dpeer", "5", "SMTP: aiosmtpd CPU draining, % of a "
                "core", "%.0f", "the same seconds: near 100, the peer "
                "is the limit")
    row("7.sq", "7", "SQLite, 1 daemon, JSON 64 conns: accepted/s", "%.0f",
        "the same load on the default backend, in this round")
    row("7.pg1", "7", "PostgreSQL, 1 daemon, JSON 64 conns: accepted/s",
        "%.0f", "one local PostgreSQL 15 (Unix socket, fsync on,"
        " synchronous_commit on), group commit in pipeline mode")
    row("7.pg1.l", "7", "PostgreSQL, 1 daemon: p50 / p99 ms", "%.1f", "wrk")
    row("7.pg1.c", "7", "PostgreSQL, 1 daemon: intaked CPU µs/req", "%.0f",
        "the daemon only; the server's CPU is in the next row")
    row("7.pg1.s", "7", "PostgreSQL, 1 daemon: server CPU µs/req", "%.0f",
        "every postgres process's utime+stime ÷ answered")
    row("7.pg2", "7", "PostgreSQL, 2 daemons, JSON 2×32 conns: accepted/s",
        "%.0f", "two intaked on the one database, a wrk each at once,"
        " rates summed; all on the same 2 cores")
    row("7.pg2.r", "7", "2 daemons ÷ 1 daemon", "%.2f",
        "on one machine the daemons share its cores: the gain of a"
        " second host is not measured here")
    row("6.first", "6", "cold start, empty state dir, ms", "%.1f",
        "exec to the first 200 from GET /healthz (creates the database)")
    row("6.restart", "6", "cold start, existing state, ms", "%.1f",
        "the same on the state it left (a service restart); "
        "≥ %d samples" % COLD_STARTS)


def fmt_value(fmt, v):
    if v == float("inf"):
        return "never"
    return fmt % v


def summary(fmt, vals):
    """The min, median and max cells of vals (floats or tuples)."""
    if isinstance(vals[0], tuple):
        cols = list(zip(*vals))
        cells = [[fmt_value(fmt, f(c)) for c in cols] for f in
                 (min, statistics.median_low, max)]
        return [" / ".join(c) for c in cells]
    # median_low: with inf among an even count, median() would be inf or
    # nan; the lower middle value is still a measured one.
    return [fmt_value(fmt, f(vals)) for f in
            (min, statistics.median_low, max)]


def table():
    out = ["| # | Measurement | min | median | max | What was measured |",
           "|---|---|--:|--:|--:|---|"]
    for key, section, label, fmt, what in ROWS:
        vals = R.get(key)
        if not vals:
            continue
        lo, med, hi = summary(fmt, vals)
        n = "" if len(vals) == ROUNDS else " (n=%d)" % len(vals)
        out.append("| %s | %s | %s | %s | %s | %s%s |"
                   % (section, label, lo, med, hi, what, n))
    return "\n".join(out)


# ---- sections -----------------------------------------------------------

def in_turn(rnd, intaked, nginx):
    """{"i": intaked(), "n": nginx()}, run one after the other: intaked
    first in even rounds, nginx first in odd ones, so that neither always
    gets the machine as the other left it."""
    order = (("n", nginx), ("i", intaked)) if rnd % 2 else \
        (("i", intaked), ("n", nginx))
    return {k: f() for k, f in order}


def section1(rnd, ng, scripts):
    """Returns the nginx JSON@64 result of this round (section 2 compares
    against it) after running every variant and connection count, intaked
    and nginx in turn."""
    d = Daemon(limits=LIMITS, extra=EXTRA)
    ref = None
    try:
        # A warm-up each: the first seconds of a fresh daemon (SQLite's
        # cache, the allocator's arenas) are not what is being measured.
        wrk(intaked_url(d), scripts.json, 64, 1)
        wrk(ng.url(), scripts.json, 64, 1)
        for v in ("json", "form"):
            script = getattr(scripts, v)
            for c in CONNS:
                what = "round %d %s %d conns" % (rnd + 1, v, c)
                res = in_turn(
                    rnd, lambda: load_intaked(d, script, c, SECONDS, what),
                    lambda: load_nginx(ng, script, c, SECONDS, what))
                k = "1.%s.%d" % (v, c)
                put(k + ".i", res["i"]["rate"])
                put(k + ".n", res["n"]["rate"])
                put(k + ".r", res["i"]["rate"] / res["n"]["rate"])
                put(k + ".l", (res["i"]["p50_us"] / 1e3,
                               res["i"]["p99_us"] / 1e3))
                put(k + ".c", res["i"]["cpu_us"])
                if v == "json" and c == CONNS[-1]:
                    put("3.little", c / res["i"]["rate"] * 1e3)
                if v == "json" and c == 64:
                    ref = res["n"]
                    put("3.cpu", res["i"]["cpu_us"])
                    lim = NCPU * 1e6 / res["i"]["cpu_us"]
                    put("3.cc", lim)
                    put("3.cr", lim / res["n"]["rate"])
                    put("3.budget", NCPU * 1e6 / (0.15 * res["n"]["rate"]))
                    put("3.ncpu", res["n"]["cpu_us"])
                    put("3.wrk", 100 * res["n"]["wrk_cpu"] /
                        (res["n"]["duration_us"] / 1e6))
        if "3" in SECTIONS:
            put("3.fs", fdatasync_us(os.path.dirname(d.db)))
    finally:
        d.stop()
        d.close()
    return ref


def fdatasync_us(where, seconds=0.5):
    """Microseconds per 4 KiB append + fdatasync in a file in where: a
    WAL append, the one thing each commit must wait for."""
    path = os.path.join(where, "fdatasync.bench")
    block = os.urandom(4096)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        n, t0 = 0, time.monotonic()
        while True:
            os.write(fd, block)
            os.fdatasync(fd)
            n += 1
            t = time.monotonic() - t0
            if t >= seconds:
                return t / n * 1e6
    finally:
        os.close(fd)
        os.unlink(path)


def x25519():
    p = subprocess.run([os.path.join(BUILD, "bench", "bench_x25519"),
                        "0.4"], capture_output=True, text=True, timeout=60)
    m = re.search(r"ephemeral key ([\d.]+) us, agreement ([\d.]+) us",
                  p.stdout)
    if p.returncode != 0 or not m:
        raise TestFailure("bench_x25519: %s %s" % (p.stdout, p.stderr))
    k, a = float(m.group(1)), float(m.group(2))
    put("3.xk", k)
    put("3.xa", a)
    put("3.xc", NCPU * 1e6 / (k + a))


def section2(rnd, ng, scripts, ref, files):
    what = "round %d" % (rnd + 1)
    # Two recipients: the second key comes from age-keygen like the first.
    d = Daemon(limits=LIMITS, extra=EXTRA, start=False,
               crypto="recipients_file = two.recipients\n")
    try:
        second = age_keygen(os.path.join(d.dir, "second.key"))
        with open(os.path.join(d.dir, "two.recipients"), "w") as f:
            f.write("# two staff keys\n%s\n%s\n" % (d.recipient, second))
        d.start()
        wrk(intaked_url(d), scripts.json, 64, 1)
        r = load_intaked(d, scripts.json, 64, SECONDS,
                         what + " 2 recipients")
        put("2.r2.i", r["rate"])
        if ref is not None:
            put("2.r2.r", r["rate"] / ref["rate"])
        put("2.r2.l", (r["p50_us"] / 1e3, r["p99_us"] / 1e3))
        put("2.r2.c", r["cpu_us"])
    finally:
        d.stop()
        d.close()
    # A fresh daemon: 1 MiB per request fills the disk quickly, and the
    # directory goes away with it.
    d = Daemon(limits=LIMITS, extra=EXTRA)
    try:
        res = in_turn(
            rnd, lambda: load_intaked(d, scripts.upload, 64, SECONDS,
                                      what + " upload"),
            lambda: load_nginx(ng, scripts.upload, 64, SECONDS,
                               what + " upload"))
        put("2.up.i", res["i"]["rate"])
        put("2.up.n", res["n"]["rate"])
        put("2.up.r", res["i"]["rate"] / res["n"]["rate"])
        put("2.up.l", (res["i"]["p50_us"] / 1e3, res["i"]["p99_us"] / 1e3))
        put("2.up.c", res["i"]["cpu_us"])
    finally:
        d.stop()
        d.close()
    # One 25 MiB upload next to age encrypting the same bytes (what
    # upload.py measured before it was folded in here).
    d = Daemon(limits=LIMITS, extra=EXTRA)
    try:
        t0 = time.monotonic()
        status, body = curl_form(d, [("reports", files["5m"])] * 5,
                                 timeout=120)
        t = time.monotonic() - t0
        if status != 201:
            fail("%s 25 MiB upload: %s %r" % (what, status, body))
        t0 = time.monotonic()
        subprocess.run(["age", "-r", d.recipient, "-o", os.devnull,
                        files["25m"]], check=True, timeout=120)
        ta = time.monotonic() - t0
        put("2.big.i", 25 / t)
        put("2.big.a", 25 / ta)
        put("2.big.r", t / ta)
    finally:
        d.stop()
        d.close()


def open_idle(d, n):
    """n keep-alive connections to d, each having had one complete GET
    /healthz answered 200, left open: the list of sockets."""
    socks = []
    # Several source addresses (all loopback) so that the test does not
    # hinge on the local port range of one address.
    sources = ["127.0.0.%d" % i for i in range(2, 6)]
    req = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
    try:
        # In batches below the listen backlog (511): a full backlog drops
        # SYNs, and a dropped SYN costs a 1 s retransmission.
        for start in range(0, n, 256):
            batch = []
            for i in range(start, min(n, start + 256)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.settimeout(30)
                s.bind((sources[i % len(sources)], 0))
                s.connect(("127.0.0.1", d.port))
                s.sendall(req)
                batch.append(s)
            for s in batch:
                r, rest = read_response(s)
                if r.status != 200 or rest:
                    raise TestFailure("idle connection: %r" % r)
        return socks
    except BaseException:
        for s in socks:
            s.close()
        raise


def section4(rnd, files):
    what = "round %d" % (rnd + 1)
    d = Daemon(limits=LIMITS, extra=EXTRA)
    try:
        d.submit()
        # Idle means the notification is out too: the mailer's buffers
        # and its commit are part of the daemon at rest.
        wait_until(lambda: metrics(d).get("intaked_outbox_pending", 1) == 0,
                   30, what="the notification")
        idle = status_kib(d.proc.pid, "VmRSS")
        socks = open_idle(d, IDLE_CONNS)
        try:
            conns = metrics(d)["intaked_connections"]
            if conns != IDLE_CONNS:
                fail("%s: %d idle connections open, /metrics says %d"
                     % (what, IDLE_CONNS, conns))
            with_ = status_kib(d.proc.pid, "VmRSS")
        finally:
            for s in socks:
                s.close()
        wait_until(lambda: metrics(d)["intaked_connections"] == 0, 30,
                   what="the daemon to see the connections closed")
        after = status_kib(d.proc.pid, "VmRSS")
        put("4.idle", idle / 1024)
        put("4.anon", status_kib(d.proc.pid, "RssAnon") / 1024)
        put("4.conn", (with_ - idle) / IDLE_CONNS)
        put("4.with", with_ / 1024)
        put("4.after", after / 1024)
        put("4.afterp", 100 * (after - idle) / idle)
        log("%s memory: idle %.1f MiB, %.1f KiB/conn, after %.1f MiB"
            % (what, idle / 1024, (with_ - idle) / IDLE_CONNS,
               after / 1024))
    finally:
        d.stop()
        d.close()
    # A fresh daemon, so that its VmHWM is the peak of the uploads alone.
    d = Daemon(limits=LIMITS, extra=EXTRA)
    try:
        out = [None] * 20
        gate = threading.Barrier(20)

        def client(i):
            try:
                gate.wait(10)
                out[i] = curl_form(d, [("reports", files["10m"])],
                                   timeout=120)[0]
            except Exception as e:      # reported below, with the others
                out[i] = repr(e)
        took = run_threads(client, 20, 180)
        if out != [201] * 20:
            fail("%s 20 concurrent uploads: %r" % (what, out))
        put("4.up", status_kib(d.proc.pid, "VmHWM") / 1024)
        put("4.upt", took)
    finally:
        d.stop()
        d.close()


def mail_files(newdir):
    try:
        return os.listdir(newdir)
    except FileNotFoundError:
        return []


def find_marked(newdir, seen, want, found):
    """Reads the messages in newdir not read before (seen), and records
    in found {id: mtime} the ids of want they carry (the id is in the
    Subject and the body)."""
    for name in mail_files(newdir):
        if name in seen:
            continue
        seen.add(name)
        path = os.path.join(newdir, name)
        try:
            with open(path, "rb") as f:
                data = f.read()
            mtime = os.stat(path).st_mtime
        except FileNotFoundError:
            continue
        for i in want:
            if i not in found and i.encode() in data:
                found[i] = mtime


def section5(rnd, scripts, smtp):
    for transport in ("smtp", "maildir"):
        what = "round %d mail %s" % (rnd + 1, transport)
        if transport == "smtp":
            # STARTTLS with verification, as production runs it
            # (tls = required); parallel is left at its default (2).
            mail = ("transport = smtp\nurl = smtp://127.0.0.1:%d\n"
                    "tls = required\nca_file = %s\n"
                    "from = intaked@example.com\nto = staff@example.com\n"
                    % (smtp.port, smtp.cert))
            d = Daemon(limits=LIMITS, extra=EXTRA, mail=mail)
            newdir = os.path.join(smtp.out, "new")
        else:
            d = Daemon(limits=LIMITS, extra=EXTRA)
            newdir = os.path.join(d.maildir, "new")
        try:
            mail_run(d, transport, newdir, scripts, smtp, what)
        finally:
            d.stop()
            d.close()


def mail_run(d, transport, newdir, scripts, smtp, what):
    k = "5." + transport
    seen = set(mail_files(newdir))
    # Idle: one marked inquiry at a time, each waited for. Timed by when
    # the file is first seen, not by its mtime: file times come from the
    # kernel's coarse clock (a tick, 4 ms at HZ=250), too coarse here.
    lat = []
    for _ in range(IDLE_MARKS):
        i = d.submit()
        t201 = time.monotonic()
        found = {}
        while i not in found:
            find_marked(newdir, seen, [i], found)
            if time.monotonic() - t201 > 30:
                raise TestFailure("%s: no notification for %s" % (what, i))
            time.sleep(0.0005)
        lat.append((time.monotonic() - t201) * 1e3)
    put(k + ".idle", statistics.median(lat))
    if transport == "smtp":
        put("4.smtp", status_kib(d.proc.pid, "VmRSS") / 1024)

    # Under load: wrk at full speed, marked inquiries spread over it.
    marks = []          # (id, time of the 201, outbox pending then)
    stop = threading.Event()

    def marker():
        for n in range(MARKS):
            due = SECONDS * (0.1 + 0.8 * n / max(MARKS - 1, 1))
            if stop.wait(max(0, due - (time.monotonic() - t0))):
                return
            try:
                i = d.submit()
                t201 = time.time()
                pending = metrics(d).get("intaked_outbox_pending", 0)
                marks.append((i, t201, pending))
            except Exception as e:          # reported with the run
                fail("%s: marked inquiry: %r" % (what, e))
                return
    n0 = len(mail_files(newdir))
    p0 = cpu_seconds(smtp.proc.pid) if transport == "smtp" else 0
    t0 = time.monotonic()
    th = threading.Thread(target=marker)
    th.start()
    try:
        r = load_intaked(d, scripts.json, 64, SECONDS, what)
    finally:
        stop.set()
        th.join(30)
    t1 = time.monotonic()
    n1 = len(mail_files(newdir))
    rate = (n1 - n0) / (t1 - t0)
    put(k + ".rate", rate)
    put(k + ".in", r["rate"])
    put(k + ".icpu", 100 * r["cpu"] / (t1 - t0))
    if transport == "smtp":
        p = cpu_seconds(smtp.proc.pid) - p0
        put(k + ".peer", 100 * p / (t1 - t0))
        put(k + ".pms", p / max(n1 - n0, 1) * 1e3)
    # With intake idle the backlog drains: who is the limit now?
    n2 = len(mail_files(newdir))
    c2 = cpu_seconds(d.proc.pid)
    p2 = cpu_seconds(smtp.proc.pid) if transport == "smtp" else 0
    t2 = time.monotonic()
    time.sleep(DRAIN_SECONDS)
    t3 = time.monotonic()
    put(k + ".drain", (len(mail_files(newdir)) - n2) / (t3 - t2))
    put(k + ".dcpu", 100 * (cpu_seconds(d.proc.pid) - c2) / (t3 - t2))
    if transport == "smtp":
        put(k + ".dpeer", 100 * (cpu_seconds(smtp.proc.pid) - p2) /
            (t3 - t2))
    # The marked ones may arrive after the load stopped: wait a little.
    found = {}
    ids = [m[0] for m in marks]
    deadline = time.monotonic() + GRACE
    while True:
        find_marked(newdir, seen, ids, found)
        if len(found) == len(ids) or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    if marks:
        put(k + ".lat", statistics.median_low(
            [found[i] - t if i in found else float("inf")
             for i, t, _ in marks]))
        put(k + ".est", statistics.median([p / max(rate, 1e-9)
                                           for _, _, p in marks]))
    log("%s: %.0f delivered/s, %d of %d marked delivered"
        % (what, rate, len(found), len(marks)))


def first_answer(d, t0):
    """Seconds from t0 to the first 200 to GET /healthz, polling."""
    while True:
        if d.proc.poll() is not None:
            raise TestFailure("intaked exited %s:\n%s"
                              % (d.proc.returncode, d.logtext()[-2000:]))
        try:
            s = socket.create_connection(("127.0.0.1", d.port), timeout=5)
        except ConnectionRefusedError:
            # Not listening yet. A half-millisecond step keeps the poll
            # from eating the core the daemon is starting on.
            time.sleep(0.0005)
            continue
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n"
                      b"Connection: close\r\n\r\n")
            r, _ = read_response(s)
        finally:
            s.close()
        if r.status == 200:
            return time.monotonic() - t0


def section6(rnd):
    restarts = -(-COLD_STARTS // ROUNDS)
    d = Daemon(limits=LIMITS, extra=EXTRA, start=False)
    try:
        for n in range(1 + restarts):
            t0 = time.monotonic()
            d.start(wait=False)
            t = first_answer(d, t0) * 1e3
            put("6.first" if n == 0 else "6.restart", t)
            d.stop()
    finally:
        d.close()


# ---- the machine and the report -----------------------------------------

def sh(*argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (p.stdout + p.stderr).strip()
    except OSError:
        return "?"


def machine():
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    head = sh("git", "-C", ROOT, "rev-parse", "--short", "HEAD")
    if sh("git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"):
        head += " with uncommitted changes"
    tmp = os.path.realpath(tempfile.gettempdir())
    fs, best = "?", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            dev, mnt, typ = line.split()[:3]
            if (tmp == mnt or tmp.startswith(mnt.rstrip("/") + "/")) and \
                    len(mnt) >= len(best):
                fs, best = "%s (%s on %s)" % (typ, dev, mnt), mnt
    return {
        "nproc": NCPU,
        "cpu": model,
        "kernel": platform.release(),
        "commit": head,
        "wrk": sh("wrk", "-v").splitlines()[0].split(" Copyright")[0],
        "nginx": sh("nginx", "-v").replace("nginx version: ", ""),
        "fs": fs,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def report(m, started, load0, took):
    note = os.environ.get("BENCH_NOTE", "").strip()
    lines = ["# intaked benchmark results", ""]
    if note:
        lines += ["**%s**" % note, ""]
    lines += [
        "Written by `make bench` (tests/bench/bench.py); see issue 13 for "
        "the targets. Each value is min / median / max over %d rounds "
        "(n= where a row has another count); intaked and nginx took turns "
        "in every round, the order alternating, and ratios are per round."
        % ROUNDS,
        "",
        "- Machine: %d cores (nproc), %s, Linux %s; state directories on %s"
        % (m["nproc"], m["cpu"], m["kernel"], m["fs"]),
        "- Date: %s; commit %s" % (started, m["commit"]),
        "- %s; nginx %s (1 worker, `return 204`); wrk -t1, %d s per load "
        "run, --timeout 10s; RLIMIT_NOFILE %d" % (m["wrk"], m["nginx"],
                                                  SECONDS, m["nofile"]),
        "- Load average at start %s, at end %s; took %.1f min"
        % (load0, loadavg(), took / 60),
        "- intaked: [limits] %s; %s; mail to a Maildir (section 5 also "
        "SMTP) with content = summary" % (LIMITS.replace("\n", ", "), EXTRA),
        "",
        table(),
        "",
    ]
    if failures:
        lines += ["**The run failed:**", ""] + ["- " + f for f in failures]
    else:
        lines.append("Every intaked answer under load was 2xx/3xx (wrk's "
                     "status errors and intaked's own "
                     "intaked_responses_total both checked).")
    return "\n".join(lines) + "\n"


def need(tool):
    if shutil.which(tool) is None:
        sys.exit("bench: %s is missing: make bench-deps installs it" % tool)


def pg_cpu_seconds(pg):
    """utime+stime of every postgres process of the cluster pg."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmd = f.read()
            if b"postgres" not in cmd:
                continue
            total += cpu_seconds(int(pid))
        except (OSError, ValueError):
            continue
    return total


def section7(rnd, scripts):
    """Durable submissions on PostgreSQL: one daemon, then two on one
    database, beside SQLite in the same round."""
    what = "round %d postgresql" % (rnd + 1)
    d = Daemon(limits=LIMITS, extra=EXTRA)
    try:
        wrk(intaked_url(d), scripts.json, 64, 1)
        put("7.sq", load_intaked(d, scripts.json, 64, SECONDS,
                                 what + " sqlite")["rate"])
    finally:
        d.stop()
        d.close()
    keys = tempfile.mkdtemp(prefix="intaked-bench-keys-")
    ds = []
    with Postgres() as pg:
        pg.start()
        storage = ("backend = postgresql\nurl = %s\nspool_key = %s/spool.key"
                   "\naltcha_key = %s/altcha.key\n"
                   % (pg.createdb("bench"), keys, keys))
        try:
            ds.append(Daemon(limits=LIMITS, extra=EXTRA, storage=storage))
            wrk(intaked_url(ds[0]), scripts.json, 64, 1)
            s0 = pg_cpu_seconds(pg)
            r = load_intaked(ds[0], scripts.json, 64, SECONDS, what)
            put("7.pg1", r["rate"])
            put("7.pg1.l", (r["p50_us"] / 1e3, r["p99_us"] / 1e3))
            put("7.pg1.c", r["cpu_us"])
            put("7.pg1.s", (pg_cpu_seconds(pg) - s0) / max(r["ok"], 1) * 1e6)
            ds.append(Daemon(limits=LIMITS, extra=EXTRA, storage=storage,
                             crypto="recipients = %s\n" % ds[0].recipient))
            out = [None, None]

            def one(i):
                out[i] = load_intaked(ds[i], scripts.json, 32, SECONDS,
                                      "%s daemon %d" % (what, i + 1))
            ts = [threading.Thread(target=one, args=(i,)) for i in (0, 1)]
            for t in ts:
                t.start()
            for t in ts:
                t.join(SECONDS + 150)
            if None in out:
                fail("%s: a wrk of the two did not finish" % what)
                return
            both = out[0]["rate"] + out[1]["rate"]
            put("7.pg2", both)
            put("7.pg2.r", both / r["rate"])
            log("%s: 1 daemon %.0f/s, 2 daemons %.0f/s" % (what, r["rate"],
                                                           both))
        finally:
            for d in ds:
                d.stop()
                d.close()
            shutil.rmtree(keys, ignore_errors=True)


def main():
    for tool in ("wrk", "nginx", "age", "age-keygen", "curl"):
        need(tool)
    # 10,000 idle connections and wrk's 1,000 need more descriptors than
    # the usual soft limit of 1024: raise it to the hard limit here, and
    # everything started below (intaked, nginx, wrk) inherits it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    global IDLE_CONNS
    if IDLE_CONNS + 1000 > hard:
        IDLE_CONNS = max(100, hard - 1000)
        log("RLIMIT_NOFILE hard limit %d: %d idle connections"
            % (hard, IDLE_CONNS))
    define_rows()
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load0 = loadavg()
    m = machine()
    tmp = tempfile.mkdtemp(prefix="intaked-bench-")
    ng = smtp = None
    try:
        scripts = Scripts(tmp)
        log("bodies: JSON %d bytes, urlencoded %d bytes"
            % (scripts.sizes["json"], scripts.sizes["form"]))
        files = {}
        if SECTIONS & {"2", "4"}:
            pdf5 = file_of("application/pdf", 5 * MiB)
            files["5m"] = os.path.join(tmp, "r5.pdf")
            files["25m"] = os.path.join(tmp, "all25.bin")
            files["10m"] = os.path.join(tmp, "r10.pdf")
            with open(files["5m"], "wb") as f:
                f.write(pdf5)
            with open(files["25m"], "wb") as f:
                f.write(pdf5 * 5)
            with open(files["10m"], "wb") as f:
                # Just under the form's 10M file_bytes.
                f.write(file_of("application/pdf", 10 * MiB - 64 * KiB))
        ng = Nginx(tmp)
        if "5" in SECTIONS:
            smtp = Smtp(tls=True).start()
        for rnd in range(ROUNDS):
            log("round %d of %d" % (rnd + 1, ROUNDS))
            ref = None
            if "1" in SECTIONS:
                ref = section1(rnd, ng, scripts)
            if "2" in SECTIONS:
                section2(rnd, ng, scripts, ref, files)
            if "3" in SECTIONS:
                x25519()
                if "1" not in SECTIONS:
                    put("3.fs", fdatasync_us(tmp))
            if "5" in SECTIONS:
                section5(rnd, scripts, smtp)
            if "4" in SECTIONS:
                section4(rnd, files)
            if "6" in SECTIONS:
                section6(rnd)
            if "7" in SECTIONS:
                section7(rnd, scripts)
    finally:
        if ng:
            ng.stop()
        if smtp:
            smtp.close()
        shutil.rmtree(tmp, ignore_errors=True)
    took = time.monotonic() - t_start
    text = report(m, started, load0, took)
    print(text)
    if RESULTS != "-":
        with open(RESULTS, "w") as f:
            f.write(text)
        log("written to %s" % os.path.relpath(RESULTS, ROOT))
    if failures:
        print("bench: FAILED:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # SIGTERM (make interrupted, a timeout) unwinds like ^C, so the
    # daemons, nginx and aiosmtpd started above are stopped.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    sys.exit(main())
