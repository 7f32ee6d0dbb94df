"""The staff inbox's API on the admin listener, against the real daemon:
login by key possession with a key from age-keygen (the challenge opened
by the real age tool), sessions and CSRF, listing and paging, the record's
age file, status changes, erasure, and every access in the audit log,
whose hash chain breaks when a row is altered with sqlite3."""

import base64
import json
import os
import sqlite3
import subprocess

from harness import (INTAKECTL, Daemon, age_decrypt, age_keygen, check, eq,
                     wait_until, write_text)


class Staff:
    """A staff member's browser: the key file, the session cookie and the
    CSRF token, over the admin listener."""

    def __init__(self, d, key, recipient):
        self.d, self.key, self.recipient = d, key, recipient
        self.cookie = None
        self.csrf = None

    def call(self, method, path, doc=None, csrf=True, cookie=True,
             headers=None):
        h = dict(headers or {})
        body = b""
        if doc is not None:
            body = json.dumps(doc).encode()
            h["Content-Type"] = "application/json"
        if cookie and self.cookie:
            h["Cookie"] = self.cookie
        if csrf and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        return self.d.admin(method, path, body, h)

    def challenge(self):
        r = self.call("POST", "/inbox/api/login",
                      {"recipient": self.recipient})
        eq(r.status, 200, "challenge: %r" % r)
        p = age_decrypt(self.key, base64.b64decode(r.json()["challenge"]))
        eq(p.returncode, 0, "the real age opens the challenge")
        return p.stdout.decode()

    def login(self):
        token = self.challenge()
        r = self.call("POST", "/inbox/api/login/verify",
                      {"recipient": self.recipient, "token": token})
        eq(r.status, 200, "verify: %r" % r)
        set_cookie = r.header("set-cookie")
        check("HttpOnly" in set_cookie and "SameSite=Strict" in set_cookie,
              set_cookie)
        check("Secure" not in set_cookie, "plain http: no Secure")
        self.cookie = set_cookie.split(";")[0]
        self.csrf = r.json()["csrf"]
        return token


def staff_of(d):
    return Staff(d, d.key, d.recipient)


def audit(d):
    return json.loads(d.ctl("audit", "--json").stdout)


def test_inbox_routes_are_the_admin_listeners():
    with Daemon() as d:
        for path in ("/inbox/", "/inbox/api/inquiries", "/metrics"):
            eq(d.request("GET", path).status, 404, "public " + path)
        r = d.admin("GET", "/inbox/")
        eq(r.status, 200, "the page")
        check(b"<html" in r.body, "html")
        csp = r.header("content-security-policy")
        check("default-src 'self'" in csp and
              "frame-ancestors 'none'" in csp, csp)
        eq(r.header("referrer-policy"), "no-referrer", "no referrer")
        eq(d.admin("GET", "/inbox/../intaked.conf").status, 404,
           "nothing outside the root")
        eq(d.admin("GET", "/forms/consultation").status, 404,
           "the admin listener has no forms")


def test_login_by_key_possession_and_sessions():
    with Daemon(admin="login_burst = 50\n") as d:
        s = staff_of(d)
        eq(s.call("GET", "/inbox/api/inquiries").status, 401, "no session")
        # An unknown key: 403, the same shape of work, nothing learnt.
        other = os.path.join(d.dir, "other.key")
        stranger = age_keygen(other)
        r = s.call("POST", "/inbox/api/login", {"recipient": stranger})
        eq(r.status, 403, "unknown recipient")
        eq(s.call("POST", "/inbox/api/login",
                  {"recipient": "not-a-key"}).status, 403, "garbage")
        eq(d.admin("POST", "/inbox/api/login", b"nope",
                   {"Content-Type": "application/json"}).status, 400,
           "not JSON")
        # A wrong token, then the right one replayed: both refused.
        s.challenge()
        r = s.call("POST", "/inbox/api/login/verify",
                   {"recipient": s.recipient, "token": "A" * 43})
        eq(r.status, 401, "wrong token")
        token = s.login()
        r = s.call("POST", "/inbox/api/login/verify",
                   {"recipient": s.recipient, "token": token}, cookie=False)
        eq(r.status, 401, "replayed token")
        eq(s.call("GET", "/inbox/api/inquiries").status, 200, "session")
        # Logout needs the CSRF header like any change.
        eq(s.call("POST", "/inbox/api/logout", csrf=False).status, 403,
           "logout without CSRF")
        eq(s.call("POST", "/inbox/api/logout").status, 204, "logout")
        eq(s.call("GET", "/inbox/api/inquiries").status, 401,
           "session over")


def test_late_challenge_and_idle_session_expire():
    with Daemon(admin="session_idle = 1m\n") as d:
        s = staff_of(d)
        token = s.challenge()
        # The challenge is good for 60 s: age its row instead of waiting.
        db = sqlite3.connect(d.db)
        db.execute("UPDATE challenges SET expires = expires - 61000")
        db.commit()
        r = s.call("POST", "/inbox/api/login/verify",
                   {"recipient": s.recipient, "token": token})
        eq(r.status, 401, "late token")
        s.login()
        db.execute("UPDATE sessions SET seen = seen - 61000")
        db.commit()
        db.close()
        eq(s.call("GET", "/inbox/api/inquiries").status, 401, "idle")


def test_https_behind_a_proxy_gets_a_secure_cookie():
    with Daemon(extra="trusted_proxies = 127.0.0.1\n") as d:
        s = staff_of(d)
        token = s.challenge()
        r = s.call("POST", "/inbox/api/login/verify",
                   {"recipient": s.recipient, "token": token},
                   headers={"X-Forwarded-Proto": "https"})
        eq(r.status, 200, "verify")
        check("; Secure" in r.header("set-cookie"), r.header("set-cookie"))


def test_list_read_change_delete_all_audited():
    with Daemon() as d:
        ids = [d.submit(name="Patient %d" % i) for i in range(5)]
        s = staff_of(d)
        s.login()
        r = s.call("GET", "/inbox/api/inquiries?limit=2")
        eq(r.status, 200, "list")
        page = r.json()
        eq([x["id"] for x in page["items"]], ids[::-1][:2], "newest first")
        check(page["next"] == ids[3], "next page marker")
        item = page["items"][0]
        eq(item["status"], "new", "status")
        eq(item["form"], "consultation", "form")
        eq(item["attachments"], 0, "no files")
        r = s.call("GET", "/inbox/api/inquiries?limit=2&before=" +
                   page["next"])
        eq([x["id"] for x in r.json()["items"]], ids[::-1][2:4], "page 2")
        eq(s.call("GET", "/inbox/api/inquiries?form=other").json()["items"],
           [], "form filter")
        eq(s.call("GET", "/inbox/api/inquiries?limit=0").status, 400,
           "bad limit")

        # The record's age file opens with the staff key, by the real age.
        r = s.call("GET", "/inbox/api/inquiries/" + ids[0])
        eq(r.status, 200, "record")
        eq(r.header("content-type"), "application/octet-stream", "bytes")
        p = age_decrypt(d.key, r.body)
        eq(p.returncode, 0, "age -d")
        rec = json.loads(p.stdout)
        eq(rec["id"], ids[0], "the record")
        eq(rec["fields"]["name"], "Patient 0", "its fields")
        eq(r.body, d.ctl("cat", ids[0]).stdout, "the stored age file")

        # Changes need the CSRF header.
        path = "/inbox/api/inquiries/" + ids[1]
        eq(s.call("PATCH", path, {"status": "open"}, csrf=False).status,
           403, "no CSRF")
        eq(s.call("PATCH", path, {"status": "bogus"}).status, 400, "bad")
        r = s.call("PATCH", path, {"status": "answered"})
        eq(r.status, 200, "status")
        eq(r.json()["status"], "answered", "answered")
        eq(s.call("GET", "/inbox/api/inquiries?limit=4").json()["items"][3]
           ["status"], "answered", "listed")
        eq(s.call("DELETE", path, csrf=False).status, 403, "no CSRF")
        eq(s.call("DELETE", path).status, 204, "deleted")
        eq(s.call("GET", path).status, 404, "gone")
        eq(s.call("DELETE", path).status, 404, "already gone")
        check(ids[1] not in d.list_ids(), "gone from the store")
        eq(s.call("GET", "/inbox/api/inquiries/" + ids[0] +
                  "/attachments/1").status, 404, "no such attachment")

        actions = [(e["action"], e.get("inquiry_id")) for e in audit(d)]
        for want in [("login", None), ("view", ids[0]),
                     ("status", ids[1]), ("delete", ids[1])]:
            check(want in actions, "%r audited: %r" % (want, actions))
        entry = [e for e in audit(d) if e["action"] == "status"][0]
        eq(entry["actor"], "staff " + d.recipient, "actor")
        eq(entry["client"], "127.0.0.1", "client")
        eq(entry["detail"], "answered", "detail")
        out = d.ctl("audit", "--verify")
        check(b"intact" in out.stdout, out.stdout)


def test_audit_verify_fails_after_tampering():
    with Daemon() as d:
        i = d.submit()
        s = staff_of(d)
        s.login()
        s.call("GET", "/inbox/api/inquiries/" + i)
        s.call("PATCH", "/inbox/api/inquiries/" + i, {"status": "open"})
        d.ctl("audit", "--verify")
        db = sqlite3.connect(d.db)
        db.execute("UPDATE audit SET action = 'status' WHERE action = "
                   "'view'")
        db.commit()
        db.close()
        p = d.ctl("audit", "--verify", check_rc=False)
        eq(p.returncode, 1, "broken chain")
        check(b"broken at entry 2" in p.stderr, p.stderr)


def test_login_attempts_are_rate_limited():
    with Daemon(admin="login_rate = 1\nlogin_burst = 2\n") as d:
        s = staff_of(d)
        codes = [s.call("POST", "/inbox/api/login",
                        {"recipient": s.recipient}).status
                 for _ in range(4)]
        eq(codes[:2], [200, 200], "the burst")
        eq(codes[2:], [429, 429], "then limited")


def test_intakectl_reads_are_audited_and_refused_when_they_cannot_be():
    import getpass
    import resource
    import signal as sig
    with Daemon() as d:
        iid = d.submit(name="Audited Reader")
        other = d.submit()
        me = "intakectl:" + getpass.getuser()

        # A store that takes no write (here: a file-size limit, with
        # SIGXFSZ ignored so the write fails instead of killing) shows
        # nothing: a read the log cannot record does not happen.
        def no_writes():
            sig.signal(sig.SIGXFSZ, sig.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (1, 1))
        p = subprocess.run([INTAKECTL, "-c", d.config, "show", iid, "-i",
                            d.key], capture_output=True, timeout=30,
                           preexec_fn=no_writes)
        check(p.returncode == 1, "refused: %d %r" % (p.returncode, p.stderr))
        check(b"cannot write the audit log" in p.stderr, p.stderr)
        check(b"Audited Reader" not in p.stdout, "nothing shown")
        eq(audit(d), [], "no entry for what was not shown")

        d.ctl("show", iid, "-i", d.key)
        d.ctl("cat", iid)
        d.ctl("export", "-i", d.key, "--format", "csv")
        d.ctl("delete", other, "--yes")
        d.submit(name="Purged Patient")
        out = d.ctl("purge", "--older-than", "0s", "--yes").stdout
        eq(out, b"purged 2 inquiries\n", "purge of everything")
        got = [(e["actor"], e["action"], e.get("inquiry_id"),
                e.get("detail")) for e in audit(d)]
        for want in ((me, "view", iid, None), (me, "view", iid, "sealed"),
                     (me, "export", None, "2 inquiries, csv"),
                     (me, "delete", other, None)):
            check(want in got, "%r audited: %r" % (want, got))
        check(any(a == me and act == "purge" for a, act, _, _ in got),
              "purge audited: %r" % got)
        d.ctl("audit", "--verify")


def test_a_labelled_key_is_named_in_the_audit_log():
    with Daemon(start=False) as d:
        write_text(os.path.join(d.dir, "staff.recipients"),
                   "# label: Dr. Example (reception)\n%s\n" % d.recipient)
        d.start()
        iid = d.submit()
        s = staff_of(d)
        s.login()
        eq(s.call("GET", "/inbox/api/inquiries/" + iid).status, 200,
           "read")
        actors = {e["action"]: e["actor"] for e in audit(d)}
        want = "staff %s (Dr. Example (reception))" % d.recipient
        eq(actors.get("login"), want, "login's actor")
        eq(actors.get("view"), want, "view's actor")
