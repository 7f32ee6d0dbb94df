"""The store under pressure, through the real daemon: a store that cannot
commit answers 503 and reports unhealthy (and recovers), the write path is
bounded, and the daily retention purge runs by itself."""

import sqlite3
import subprocess
import threading
import time

from harness import (Daemon, check, eq, post_bytes, read_response,
                     valid_body, valid_doc, wait_until)


def test_store_cannot_commit_503_unhealthy_then_recovers():
    with Daemon() as d:
        first = d.post_json(valid_doc())
        eq(first.status, 201, "before")
        # As root, permissions cannot make SQLite fail; a file-size limit
        # can: every write to the database now fails with EFBIG. Only the soft
        # limit moves, so it can be raised again without privileges.
        subprocess.run(["prlimit", "--pid", str(d.proc.pid), "--fsize=1:"],
                       check=True, timeout=10)
        r = d.post_json(valid_doc())
        eq(r.status, 503, "cannot commit: %r" % r)
        check(int(r.header("retry-after")) > 0, "Retry-After")
        check("id" not in r.json(), "no id for what was not stored")
        h = d.request("GET", "/healthz")
        eq(h.status, 503, "unhealthy")
        eq(h.json()["status"], "unhealthy", "healthz body")
        subprocess.run(["prlimit", "--pid", str(d.proc.pid),
                        "--fsize=unlimited:"], check=True, timeout=10)
        r = wait_until(lambda: (lambda x: x if x.status == 201 else None)(
            d.post_json(valid_doc())), 10, 0.2, "recovery")
        eq(d.request("GET", "/healthz").status, 200, "healthy again")
        eq(sorted(d.list_ids()), sorted([first.json()["id"],
                                          r.json()["id"]]),
           "exactly the acknowledged inquiries are stored")


def burst(d, n):
    """n clients send a POST at the same moment; returns the responses."""
    req = post_bytes(valid_body(), b"Connection: close")
    socks = [d.connect() for _ in range(n)]
    gate = threading.Barrier(n)
    out = [None] * n

    def one(i):
        gate.wait(10)
        socks[i].sendall(req)
        out[i], _ = read_response(socks[i])
        socks[i].close()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return out


def test_write_queue_is_bounded_503_quickly():
    with Daemon(limits="pending_writes = 1\nrate = 0") as d:
        seen = []
        for _ in range(10):   # bounded: the first burst nearly always shows it
            seen += burst(d, 48)
            if any(r.status == 503 for r in seen):
                break
        statuses = {r.status for r in seen}
        check(statuses <= {201, 503}, statuses)
        check(503 in statuses, "some submissions turned away")
        for r in seen:
            if r.status == 503:
                check(r.header("retry-after") is not None, "Retry-After")
        acked = sorted(r.json()["id"] for r in seen if r.status == 201)
        check(acked, "some accepted")
        eq(sorted(d.list_ids()), acked, "exactly the accepted are stored")


def test_daily_retention_purge_runs_by_itself():
    with Daemon(storage="retention = 1h",
                env={"INTAKED_RETENTION_FIRST_MS": "300"}) as d:
        keep = d.post_json(valid_doc()).json()["id"]
        d.stop()
        # An inquiry from two hours ago, as an older daemon would have left.
        db = sqlite3.connect(d.db)
        old_ms = int(time.time() * 1000) - 2 * 3600 * 1000
        db.execute("INSERT INTO inquiries(id, form, received_at, size, "
                   "record) SELECT '00000000-0000-7000-8000-000000000001', "
                   "form, ?, size, record FROM inquiries", (old_ms,))
        db.commit()
        db.close()
        eq(len(d.list_ids()), 2, "old one present before")
        d.start()
        wait_until(lambda: d.list_ids() == [keep], 15, 0.1,
                   "the purge of the old inquiry")
