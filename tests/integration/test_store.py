"""The durable store seen from outside: intakectl against a running
intaked, and the crash test (SIGKILL at random moments loses nothing that
was acknowledged)."""

import csv
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time

from harness import Daemon, age_keygen, check, eq

HERE = os.path.dirname(os.path.abspath(__file__))


def test_intakectl_list_show_cat_export_while_running():
    with Daemon() as d:
        doc_a = {"name": "Ærøskøbing Tester",
                 "message": "Zeile eins\nstraße zwei\n\tdrei"}
        a = d.submit(**doc_a)
        b = d.submit(name="Second, \"Quoted\" Tester")
        c = d.submit(message="=HYPERLINK(\"https://x.example\",\"x\")")
        listing = json.loads(d.ctl("list", "--json").stdout)
        eq([x["id"] for x in listing], [c, b, a], "newest first")
        check(all(x["form"] == "consultation" for x in listing), listing)
        text = d.ctl("list").stdout.decode()
        check(a in text and "consultation" in text, text)
        eq(json.loads(d.ctl("list", "--json", "--form", "other").stdout),
           [], "form filter")
        # show: readable, and --json is the record itself
        shown = d.ctl("show", a, "-i", d.key).stdout.decode()
        check("Ærøskøbing Tester" in shown, shown)
        check("straße zwei" in shown, shown)
        rec = json.loads(d.ctl("show", a, "-i", d.key, "--json").stdout)
        eq(rec["fields"]["name"], doc_a["name"], "show --json")
        eq(rec["fields"]["message"], doc_a["message"], "multi-line exact")
        eq(d.decrypt_cat(a), rec, "age -d of cat equals show --json")
        # export: NDJSON and RFC 4180 CSV
        nd = d.ctl("export", "-i", d.key).stdout.decode().splitlines()
        eq(sorted(json.loads(l)["id"] for l in nd), sorted([a, b, c]),
           "ndjson ids")
        out = d.ctl("export", "-i", d.key, "--format", "csv").stdout
        rows = list(csv.reader(io.StringIO(out.decode(), newline="")))
        eq(rows[0][:3], ["id", "form", "received_at"], "csv header")
        eq(len(rows), 4, "csv rows")
        col = rows[0].index("name")
        check("Second, \"Quoted\" Tester" in [r[col] for r in rows[1:]],
              "quoted csv field round-trips")
        col = rows[0].index("message")
        check(doc_a["message"] in [r[col] for r in rows[1:]],
              "multi-line csv field round-trips")
        # Formula-looking values are neutralised for spreadsheets.
        check("'=HYPERLINK(\"https://x.example\",\"x\")" in
              [r[col] for r in rows[1:]], "formula neutralised")
        col = rows[0].index("phone")
        check(all(r[col] == "'+91 00000 00000" for r in rows[1:]),
              "leading + neutralised")


def test_intakectl_delete_purge_and_errors():
    with Daemon() as d:
        a = d.submit()
        b = d.submit()
        d.ctl("delete", a, "--yes")
        eq(d.list_ids(), [b], "deleted")
        p = d.ctl("show", a, "-i", d.key, check_rc=False)
        check(p.returncode != 0, "show deleted fails")
        eq(len(p.stderr.decode().strip().splitlines()), 1, "one line")
        check(a in p.stderr.decode(), p.stderr)
        p = d.ctl("delete", a, "--yes", check_rc=False)
        check(p.returncode != 0, "delete twice fails")
        p = d.ctl("purge", "--older-than", "soon", "--yes", check_rc=False)
        check(p.returncode != 0 and b"duration" in p.stderr, p.stderr)
        out = d.ctl("purge", "--older-than", "90d", "--yes").stdout.decode()
        check("0" in out, out)
        time.sleep(0.05)
        out = d.ctl("purge", "--older-than", "10ms", "--yes").stdout.decode()
        check("1" in out, out)
        eq(d.list_ids(), [], "purged")
        # Wrong identity: a clear error, no plaintext.
        c = d.submit()
        other = os.path.join(d.dir, "other.key")
        age_keygen(other)
        p = d.ctl("show", c, "-i", other, check_rc=False)
        check(p.returncode != 0, "wrong key fails")
        check(b"Test Patient" not in p.stdout + p.stderr, "no plaintext")
        # Several identities: any matching one works.
        p = d.ctl("show", c, "-i", other, "-i", d.key)
        check(b"Test Patient" in p.stdout, "second identity matched")
        p = d.ctl("show", "0190abcd-0000-7000-8000-000000000000", "-i",
                  d.key, check_rc=False)
        check(p.returncode != 0, "unknown id fails")
    with Daemon(start=False) as d:
        p = d.ctl("list", check_rc=False)
        check(p.returncode != 0, "missing database fails")
        eq(len(p.stderr.decode().strip().splitlines()), 1, "one line")


def test_database_files_private():
    with Daemon() as d:
        d.submit()
        eq(os.stat(os.path.dirname(d.db)).st_mode & 0o777, 0o700, "dir")
        eq(os.stat(d.db).st_mode & 0o777, 0o600, "db file")
        db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
        eq(db.execute("PRAGMA journal_mode").fetchone()[0], "wal", "WAL")
        blob = db.execute("SELECT record FROM inquiries").fetchone()[0]
        check(blob.startswith(b"age-encryption.org/v1\n"), "age file")
        check(b"Test Patient" not in blob, "no plaintext in the database")
        db.close()


def test_crash_kill9_loses_nothing_acknowledged():
    """Four client processes submit continuously; intaked is SIGKILLed at
    random moments five times and restarted. Every id that got a 201 must
    be in the store and decrypt; the database must pass integrity_check."""
    rnd = random.Random(int(os.environ.get("INTAKE_CRASH_SEED",
                                           str(int(time.time())))))
    with Daemon(limits="rate = 0") as d:
        deadline = time.time() + 14
        outs = [os.path.join(d.dir, "acked.%d" % i) for i in range(4)]
        clients = [subprocess.Popen([sys.executable,
                                     os.path.join(HERE, "crash_client.py"),
                                     str(d.port), outs[i], str(deadline),
                                     str(i)]) for i in range(4)]
        kills = 0
        while time.time() < deadline - 2 and kills < 5:
            time.sleep(rnd.uniform(0.4, 1.6))
            d.kill()
            kills += 1
            d.start()
        for c in clients:
            eq(c.wait(30), 0, "client exit")
        eq(d.stop(), 0, "clean stop at the end")
        acked = set()
        for o in outs:
            if os.path.exists(o):
                with open(o) as f:
                    acked.update(l.strip() for l in f if l.strip())
        check(kills >= 3, "killed at least 3 times (%d)" % kills)
        check(len(acked) > 20, "enough acknowledged inquiries: %d" %
              len(acked))
        d.start()
        exported = d.ctl("export", "-i", d.key).stdout.decode().splitlines()
        stored = {json.loads(l)["id"] for l in exported}
        missing = acked - stored
        eq(sorted(missing), [], "acknowledged but lost")
        d.stop()
        db = sqlite3.connect(d.db)
        eq(db.execute("PRAGMA integrity_check").fetchone()[0], "ok",
           "integrity")
        db.close()
        print("crash test: %d kills, %d acknowledged, %d stored" %
              (kills, len(acked), len(stored)))
