"""Scale-out on a real PostgreSQL 15 (tests/pgtest.py: initdb in a
temporary directory, a Unix socket there only): two intaked on one
database, one of them SIGKILLed under load; a login on one daemon used
through the other; an ALTCHA solution spent on one and replayed on the
other; the server stopped under load and started again; the shared keys
a group needs; and intakectl migrate from a SQLite store."""

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from pgtest import Postgres  # noqa: E402
from harness import (Daemon, Smtp, check, eq, valid_doc,  # noqa: E402
                     wait_until, write_text)
import test_altcha as altcha_t  # noqa: E402
import test_inbox as inbox_t  # noqa: E402
import test_intakectl as intakectl_t  # noqa: E402

# Claims of a killed daemon go to the other after this (default 120 s).
LEASE = {"INTAKED_OUTBOX_LEASE_MS": "1500", "INTAKED_MAIL_RETRY_MS": "200"}


class Group:
    """A PostgreSQL server, a database, and the files a group of daemons
    shares: the spool and ALTCHA keys."""

    def __init__(self):
        self.pg = Postgres().start()
        self.url = self.pg.createdb("intake")
        self.keys = tempfile.mkdtemp(prefix="intaked-keys-")
        self.storage = ("backend = postgresql\nurl = %s\n"
                        "spool_key = %s/spool.key\naltcha_key = %s/altcha.key\n"
                        % (self.url, self.keys, self.keys))

    def sql(self, q):
        return self.pg.psql(q, "intake")

    def close(self):
        self.pg.close()
        shutil.rmtree(self.keys, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def daemons(g, n, **kw):
    """n daemons on g's database, all sealing to the first one's key."""
    first = Daemon(storage=g.storage, **kw)
    rest = [Daemon(storage=g.storage, crypto="recipients = %s\n" %
                   first.recipient, **kw) for _ in range(n - 1)]
    return [first] + rest


def smtp_mail(smtp):
    return ("transport = smtp\nurl = smtp://127.0.0.1:%d\ntls = required\n"
            "ca_file = %s\nfrom = intaked@example.com\n"
            "to = staff@example.com\ncontent = summary\ntimeout = 5s\n"
            % (smtp.port, smtp.cert))


def test_pg_two_daemons_one_killed_nothing_lost_notified_once():
    """Four clients alternate between two daemons; one is SIGKILLed five
    times and restarted. Every acknowledged inquiry is stored once and
    decrypts; every stored one is notified, and more than once only when
    a kill caught it in flight."""
    rnd = random.Random(int(os.environ.get("INTAKE_CRASH_SEED",
                                           str(int(time.time())))))
    with Group() as g, Smtp() as smtp:
        smtp.start()
        ds = daemons(g, 2, limits="rate = 0", mail=smtp_mail(smtp), env=LEASE)
        try:
            deadline = time.time() + 12
            outs = [os.path.join(g.keys, "acked.%d" % i) for i in range(4)]
            clients = [subprocess.Popen(
                [sys.executable, os.path.join(HERE, "crash_client.py"),
                 str(ds[i % 2].port), outs[i], str(deadline), str(i)])
                for i in range(4)]
            kills = 0
            while time.time() < deadline - 2 and kills < 5:
                time.sleep(rnd.uniform(0.4, 1.4))
                ds[1].kill()
                kills += 1
                ds[1].start()
            for c in clients:
                eq(c.wait(30), 0, "client exit")
            acked = []
            for o in outs:
                if os.path.exists(o):
                    with open(o) as f:
                        acked += [l.strip() for l in f if l.strip()]
            check(kills >= 3, "killed at least 3 times (%d)" % kills)
            check(len(acked) > 20, "enough acknowledged: %d" % len(acked))
            eq(len(acked), len(set(acked)), "each id acknowledged once")
            exported = ds[0].ctl("export", "-i", ds[0].key).stdout.decode()
            stored = [json.loads(l)["id"] for l in exported.splitlines()]
            eq(len(stored), len(set(stored)), "each stored once")
            eq(sorted(set(acked) - set(stored)), [],
               "acknowledged but lost")
            # Every stored inquiry is notified: the killed daemon's
            # claims expire and the other one sends them.
            wait_until(lambda: g.sql("SELECT count(*) FROM outbox WHERE "
                                     "state <> 'sent'") == "0", 60, 0.2,
                       "every notification sent")
            ids = [m["Message-ID"] for _, m in smtp.messages()]
            per = {i: sum(i in x for x in ids) for i in stored}
            eq([i for i, n in per.items() if n == 0], [], "never notified")
            twice = [i for i, n in per.items() if n > 1]
            # In flight at a kill: at most the mailer's active sends each.
            check(len(twice) <= kills * 8, "duplicates beyond the kills: "
                  "%d for %d kills" % (len(twice), kills))
            print("pg crash test: %d kills, %d acknowledged, %d stored, "
                  "%d notified twice" % (kills, len(acked), len(stored),
                                         len(twice)))
        finally:
            for d in ds:
                d.close()


def test_pg_login_on_one_daemon_inbox_through_the_other():
    with Group() as g:
        a, b = daemons(g, 2)
        try:
            iid = a.post_json(valid_doc()).json()["id"]
            staff = inbox_t.Staff(a, a.key, a.recipient)
            staff.login()
            staff.d = b         # the load balancer sends the next one there
            r = staff.call("GET", "/inbox/api/inquiries")
            eq(r.status, 200, "the session is good on the other: %r" % r)
            eq([x["id"] for x in r.json()["items"]], [iid], "listed")
            r = staff.call("PATCH", "/inbox/api/inquiries/" + iid,
                           {"status": "open"})
            eq(r.status, 200, "a change with the CSRF token: %r" % r)
            eq(staff.call("POST", "/inbox/api/logout").status, 204,
               "logout on b")
            staff.d = a
            eq(staff.call("GET", "/inbox/api/inquiries").status, 401,
               "logged out everywhere")
            # A login challenge issued by one is answered on the other.
            staff = inbox_t.Staff(a, a.key, a.recipient)
            token = staff.challenge()
            staff.d = b
            r = staff.call("POST", "/inbox/api/login/verify",
                           {"recipient": staff.recipient, "token": token})
            eq(r.status, 200, "verified on the other: %r" % r)
            check(b.ctl("audit", "--verify").returncode == 0, "one chain")
        finally:
            a.close()
            b.close()


def test_pg_altcha_spent_on_one_daemon_is_refused_on_the_other():
    with Group() as g:
        a, b = daemons(g, 2, form_extra=altcha_t.FORM)
        try:
            token = altcha_t.payload(altcha_t.challenge(a))
            r = altcha_t.post_json(b, token)
            eq(r.status, 201, "a's challenge, solved, spent on b: %r" % r)
            r = altcha_t.post_json(a, token)
            eq(r.status, 422, "replayed on a: %r" % r)
            eq([(e["field"], e["code"]) for e in r.json()["errors"]],
               [("altcha", "altcha")], "naming altcha")
            eq(g.sql("SELECT count(*) FROM inquiries"), "1",
               "only the first stored")
            eq(g.sql("SELECT count(*) FROM spent"), "1", "spent once")
        finally:
            a.close()
            b.close()


def test_pg_server_stopped_under_load_503_then_201_nothing_lost():
    with Group() as g:
        (d,) = daemons(g, 1, limits="rate = 0")
        try:
            acked, statuses, stop = [], [], threading.Event()

            def client():
                while not stop.is_set():
                    try:
                        r = d.post_json(valid_doc())
                    except OSError:
                        continue
                    statuses.append(r.status)
                    if r.status == 201:
                        acked.append(r.json()["id"])
                    else:
                        eq(r.status, 503, "only 201 or 503: %r" % r)
                        check(int(r.header("retry-after")) > 0,
                              "Retry-After")
            ts = [threading.Thread(target=client) for _ in range(3)]
            for t in ts:
                t.start()
            try:
                wait_until(lambda: len(acked) >= 20, 30, 0.05, "201s")
                # The daemon's connections cut mid-transaction: those
                # batches answer 503, the next ones 201 again.
                n_cut = len(acked)
                g.sql("SELECT pg_terminate_backend(pid) FROM "
                      "pg_stat_activity WHERE application_name = 'intaked'")
                wait_until(lambda: len(acked) > n_cut + 20, 30, 0.05,
                           "201s after the cut connections")
                g.pg.stop("fast")
                wait_until(lambda: statuses[-5:] == [503] * 5, 30, 0.05,
                           "503s while the server is down")
                eq(d.request("GET", "/healthz").status, 503, "unhealthy")
                n_down = len(acked)
                time.sleep(0.5)
                g.pg.start()
                wait_until(lambda: len(acked) > n_down + 20, 30, 0.05,
                           "201s again without a restart")
            finally:
                stop.set()
                for t in ts:
                    t.join(30)
            wait_until(lambda: d.request("GET", "/healthz").status == 200,
                       10, 0.1, "healthy again")
            stored = set(g.sql("SELECT id FROM inquiries").split())
            eq(sorted(set(acked) - stored), [], "acknowledged but lost")
            # Nothing half-written: every inquiry has its notification.
            eq(g.sql("SELECT count(*) FROM inquiries i WHERE NOT EXISTS "
                     "(SELECT 1 FROM outbox o WHERE o.inquiry_id = i.id)"),
               "0", "an inquiry without its outbox row")
            check(d.proc.poll() is None, "no crash")
            check("connected to PostgreSQL again" in d.logtext(),
                  "reconnected by itself")
        finally:
            d.close()


def test_pg_unreachable_at_start_and_after():
    """With the server down the daemon does not start (one line), and an
    idle daemon whose server goes away turns unhealthy by itself and
    healthy again when it returns."""
    with Group() as g:
        (d,) = daemons(g, 1)
        try:
            g.pg.stop("fast")
            wait_until(lambda: d.request("GET", "/healthz").status == 503,
                       15, 0.1, "unhealthy when the server went")
            g.pg.start()
            wait_until(lambda: d.request("GET", "/healthz").status == 200,
                       15, 0.1, "healthy when it is back, with no submission")
            d.stop()
            g.pg.stop("fast")
            p = subprocess.run([os.environ.get("INTAKE_BUILD", "build") +
                                "/intaked", "-c", d.config],
                               capture_output=True, timeout=30)
            check(p.returncode != 0, "does not start without the server")
            check(b"cannot connect to PostgreSQL" in p.stderr, p.stderr)
            check(b"postgresql://" not in p.stderr, "no URL in the log")
        finally:
            d.close()


def test_pg_tls_verify_full_and_a_password_file():
    """Over TCP with sslmode=verify-full and a SCRAM password from
    password_file: the daemon stores over TLS; a wrong password, a
    certificate it cannot verify, or no TLS, and it does not start, with
    neither the password nor the URL in what it says."""
    secret = "example-db-secret"
    hba = ("hostssl all intaked 127.0.0.1/32 scram-sha-256\n"
           "host all intaked 127.0.0.1/32 reject\n")
    with Postgres(tls=True, hba_first=hba) as pg:
        pg.start()
        pg.psql("CREATE ROLE intaked LOGIN PASSWORD '%s'" % secret)
        pg.psql("CREATE DATABASE intake OWNER intaked")
        keys = tempfile.mkdtemp(prefix="intaked-keys-")
        pw = os.path.join(keys, "pg-password")
        write_text(pw, secret + "\n", 0o600)
        base = "postgresql://intaked@127.0.0.1:%d/intake" % pg.port

        def storage(query, password=pw):
            return ("backend = postgresql\nurl = %s?%s\n"
                    "password_file = %s\nspool_key = %s/spool.key\n"
                    "altcha_key = %s/altcha.key\n"
                    % (base, query, password, keys, keys))
        good = "sslmode=verify-full&sslrootcert=%s" % pg.cert
        try:
            with Daemon(storage=storage(good)) as d:
                eq(d.post_json(valid_doc()).status, 201, "stored")
                eq(pg.psql("SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN "
                           "pg_stat_activity a USING (pid) WHERE "
                           "a.usename = 'intaked'"), "t", "over TLS")
            other = os.path.join(keys, "other.crt")
            subprocess.run(["openssl", "req", "-x509", "-newkey",
                            "rsa:2048", "-nodes", "-keyout", other + ".key",
                            "-out", other, "-days", "1", "-subj",
                            "/CN=localhost"], check=True,
                           capture_output=True)
            wrong = os.path.join(keys, "wrong-password")
            write_text(wrong, "not-the-secret\n", 0o600)
            for query, password, what in (
                    (good, wrong, "a wrong password"),
                    ("sslmode=verify-full&sslrootcert=%s" % other, pw,
                     "a certificate from another CA"),
                    ("sslmode=disable", pw, "no TLS")):
                d = Daemon(storage=storage(query, password), start=False)
                try:
                    p = subprocess.run([os.environ.get("INTAKE_BUILD",
                                                       "build") + "/intaked",
                                        "-c", d.config], capture_output=True,
                                       timeout=30)
                    check(p.returncode != 0, "%s: refused" % what)
                    check(b"cannot connect to PostgreSQL" in p.stderr,
                          p.stderr)
                    check(secret.encode() not in p.stderr and
                          b"postgresql://" not in p.stderr, "no secret")
                finally:
                    d.close()
        finally:
            shutil.rmtree(keys, ignore_errors=True)


def test_pg_intakectl_same_commands_rekey_and_erasure():
    """intakectl's commands on PostgreSQL as on SQLite: the rekey and the
    erasure tests of test_intakectl.py, on a daemon whose store is
    there."""
    with Group() as g:
        intakectl_t.rekey_case(storage=g.storage)
    with Group() as g:
        intakectl_t.erasure_case(storage=g.storage)


def test_pg_check_config_needs_the_shared_keys():
    with Group() as g:
        storage = "backend = postgresql\nurl = %s\n" % g.url
        d = Daemon(storage=storage, start=False)
        try:
            p = d.check_config()
            check(p.returncode != 0, "refused")
            err = p.stderr.decode()
            check("[storage] spool_key" in err, err)
            check(err.count("\n") <= 3, "a few lines: %r" % err)
            # A credential will do instead of the file.
            creds = tempfile.mkdtemp(prefix="intaked-creds-")
            write_text(os.path.join(creds, "spool-key"), "k" * 32, 0o400)
            d.env = {"CREDENTIALS_DIRECTORY": creds}
            p = d.check_config()
            eq(p.returncode, 0, p.stderr)
            shutil.rmtree(creds)
            # url is PostgreSQL's, path SQLite's.
            d.edit_config("backend = postgresql\n", "")
            p = d.check_config()
            check(p.returncode != 0 and b"url is for backend = postgresql"
                  in p.stderr, p.stderr)
        finally:
            d.close()


def test_pg_migrate_copies_a_sqlite_store_and_leaves_it_alone():
    """10,000 inquiries with attachments, their outbox and audit log, from
    SQLite into PostgreSQL: identical counts and hashes, source unchanged,
    and the daemon serves the copy."""
    with Group() as g:
        d = Daemon(limits="rate = 0")
        try:
            seed = d.post_json(valid_doc()).json()["id"]
            d.stop()
            fill_sqlite(d.db, seed, 10000)
            before = file_digest(d.db)
            p = d.ctl("migrate", "--to", g.url, check_rc=False, timeout=300)
            eq(p.returncode, 0, p.stderr)
            out = p.stdout.decode()
            check("10001 inquiries" in out, out)
            eq(file_digest(d.db), before, "the source is untouched")
            p = d.ctl("migrate", "--to", g.url, check_rc=False)
            check(p.returncode == 1 and b"migrate only into an empty one"
                  in p.stderr, p.stderr)
            src = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
            for table in ("inquiries", "attachments", "attachment_chunks",
                          "outbox", "audit"):
                n = src.execute("SELECT count(*) FROM %s" % table).fetchone()
                eq(g.sql("SELECT count(*) FROM %s" % table), str(n[0]),
                   table + " count")
            src.close()
            eq(g.sql("SELECT md5(string_agg(id || md5(record), ',' ORDER BY"
                     " id)) FROM inquiries"),
               sqlite_agg(d.db), "every record byte for byte")
            # The same daemon on the copy: it lists and decrypts.
            d.edit_config("[storage]\n", "[storage]\n" + g.storage)
            d.start()
            rec = d.decrypt_cat(seed)
            eq(rec["id"], seed, "decrypts from PostgreSQL")
        finally:
            d.close()


def file_digest(path):
    import hashlib
    h = hashlib.sha256()
    for p in (path, path + "-wal"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def sqlite_agg(db):
    """The same md5 aggregate as the PostgreSQL query, from SQLite."""
    import hashlib
    src = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rows = src.execute("SELECT id, record FROM inquiries ORDER BY id")
    s = ",".join(i + hashlib.md5(r).hexdigest() for i, r in rows)
    src.close()
    return hashlib.md5(s.encode()).hexdigest()


def fill_sqlite(db, seed, n):
    """n copies of the seed inquiry under new ids, each with a 3 KiB
    attachment in two chunks and a sent notification, as a long-running
    single host would have."""
    con = sqlite3.connect(db)
    rec = con.execute("SELECT form, size, record FROM inquiries WHERE id = ?",
                      (seed,)).fetchone()
    base = int(time.time() * 1000) - n
    with con:
        for i in range(n):
            iid = "01900000-0000-7000-8000-%012d" % i
            con.execute("INSERT INTO inquiries(id, form, received_at, size,"
                        " record) VALUES (?, ?, ?, ?, ?)",
                        (iid, rec[0], base + i, rec[1], rec[2]))
            con.execute("INSERT INTO attachments(inquiry_id, n, size) "
                        "VALUES (?, 1, 3072)", (iid,))
            for seq, part in enumerate((os.urandom(2048),
                                        os.urandom(1024))):
                con.execute("INSERT INTO attachment_chunks(inquiry_id, n, "
                            "seq, data) VALUES (?, 1, ?, ?)",
                            (iid, seq, part))
            con.execute("INSERT INTO outbox(inquiry_id, kind, state, "
                        "attempts, created_at, next_try, message) VALUES "
                        "(?, 'notify', 'sent', 1, ?, ?, NULL)",
                        (iid, base + i, base + i))
    con.close()
