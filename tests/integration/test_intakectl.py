"""intakectl as an administrator meets it: options anywhere on the line,
help per command, erasures that ask first (on a real terminal) or need
--yes, purge --dry-run, retry of a notification still waiting, and the
queue in local time."""

import os
import pty
import select
import subprocess
import time

from harness import INTAKECTL, VALID, Daemon, check, eq, free_port


def run(*args, timeout=30, env=None):
    return subprocess.run([INTAKECTL] + list(args), capture_output=True,
                          timeout=timeout, env=env)


def on_a_terminal(argv, answer, timeout=20):
    """Runs argv with a pseudo-terminal as stdin, stdout and stderr,
    answers answer once it asks; returns (exit status, all it printed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(argv[0], argv)
    out = b""
    asked = False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:     # EIO: the child closed the terminal
            chunk = b""
        if not chunk:
            break
        out += chunk
        if not asked and b"Type yes" in out:
            os.write(fd, answer)
            asked = True
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("no exit on the terminal: %r" % out)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


def test_options_may_follow_the_command_and_help_is_per_command():
    with Daemon() as d:
        iid = d.submit()
        p = run("show", iid, "-i", d.key, "-c", d.config)
        eq(p.returncode, 0, "show ID -i KEY -c FILE: %r" % p.stderr)
        check(b"Test Patient" in p.stdout, "shown")
        p = run("list", "--json", "--config=" + d.config)
        eq(p.returncode, 0, "--config=FILE after the command")
        p = run("list", "-d", d.db)
        eq(p.returncode, 0, "-d after the command")
        for argv in (["help", "purge"], ["purge", "--help"],
                     ["purge", "-h"]):
            p = run(*argv)
            eq(p.returncode, 0, " ".join(argv))
            out = p.stdout.decode()
            check(out.startswith("usage: intakectl") and "--dry-run" in out
                  and "--older-than" in out, out)
        p = run("help")
        eq(p.returncode, 0, "help")
        check(all(c in p.stdout.decode() for c in
                  ("keygen", "show", "export", "purge", "audit")),
              "the overview lists the commands")
        p = run("help", "nosuch")
        eq(p.returncode, 2, "an unknown command's help")
        eq(len(p.stderr.decode().splitlines()), 1, "one line")


def test_erasure_asks_on_a_terminal_and_needs_yes_without_one():
    erasure_case()


def erasure_case(**daemon):
    """Also run on PostgreSQL (test_pg.py): the same commands."""
    with Daemon(**daemon) as d:
        a, b = d.submit(), d.submit()
        p = d.ctl("delete", a, check_rc=False)
        eq(p.returncode, 2, "no terminal, no --yes")
        check(b"--yes" in p.stderr, p.stderr)
        eq(sorted(d.list_ids()), sorted([a, b]), "nothing erased")
        rc, out = on_a_terminal([INTAKECTL, "-c", d.config, "delete", a],
                                b"no\n")
        eq(rc, 1, "answered no: %r" % out)
        check(("Erase inquiry %s for good?" % a).encode() in out, out)
        eq(sorted(d.list_ids()), sorted([a, b]), "kept")
        rc, out = on_a_terminal([INTAKECTL, "-c", d.config, "delete", a],
                                b"yes\n")
        eq(rc, 0, "answered yes: %r" % out)
        eq(d.list_ids(), [b], "erased")
        p = d.ctl("purge", "--older-than", "0s", "--dry-run")
        eq(p.stdout.decode().splitlines()[-1], "would purge 1 inquiries",
           "dry run")
        check(b.encode() in p.stdout, "names what would go")
        eq(d.list_ids(), [b], "a dry run erases nothing")
        p = d.ctl("purge", "--older-than", "0s", check_rc=False)
        eq(p.returncode, 2, "purge needs --yes without a terminal")
        eq(d.list_ids(), [b], "still there")
        d.ctl("purge", "--older-than", "0s", "--yes")
        eq(d.list_ids(), [], "purged")


def test_retry_sends_a_waiting_notification_now_queue_in_local_time():
    dead = free_port()      # nothing listens: the mail stays queued
    mail = ("transport = smtp\nurl = smtp://127.0.0.1:%d\ntls = off\n"
            "from = intaked@example.com\nto = staff@example.com\n" % dead)
    with Daemon(mail=mail) as d:
        iid = d.submit()

        def row():
            import sqlite3
            db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
            try:
                return db.execute("SELECT state, attempts, next_try FROM "
                                  "outbox WHERE inquiry_id = ?",
                                  (iid,)).fetchone()
            finally:
                db.close()
        # Wait until the first attempt failed and the next is in the future.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            r = row()
            if r and r[1] >= 1:
                break
            time.sleep(0.05)
        state, attempts, next_try = row()
        eq(state, "queued", "still queued")
        check(next_try > time.time() * 1000 + 5000, "next try later")
        env = dict(os.environ, TZ="Asia/Kolkata")
        q = run("-c", d.config, "queue", env=env).stdout.decode()
        check("to staff" in q and "IST" in q, "kind and local time:\n" + q)
        p = d.ctl("retry", iid)
        check(b"intaked sends within 30 s" in p.stdout, p.stdout)
        state, attempts2, next_try2 = row()
        eq(state, "queued", "queued")
        eq(attempts2, attempts, "its history kept")
        check(next_try2 <= time.time() * 1000 + 1000, "due now")


def test_rekey_moves_records_and_files_to_the_new_key_resumably():
    rekey_case()


def rekey_case(**daemon):
    """Also run on PostgreSQL (test_pg.py): the same commands."""
    import hashlib
    import json
    import signal as sig
    from harness import age_keygen, write_text
    from test_upload import Files, curl_form, file_of
    with Daemon(limits="rate = 0", **daemon) as d, Files() as fs:
        old_key = d.key
        pdf = file_of("application/pdf", 200 * 1024)
        status, body = curl_form(d, [("reports", fs.put("r.pdf", pdf))])
        eq(status, 201, "with a file")
        ids = [body["id"], d.submit(), d.submit()]
        new_key = os.path.join(d.dir, "new.key")
        new_rcpt = age_keygen(new_key)
        # Rotation: the new staff key replaces the old one in the config.
        write_text(os.path.join(d.dir, "staff.recipients"),
                   "# label: New key\n%s\n" % new_rcpt)
        d.proc.send_signal(sig.SIGHUP)
        p = d.ctl("export", "-i", new_key, check_rc=False)
        eq(p.returncode, 1, "nothing opens with the new key yet")
        check(b"3 of 3 inquiries skipped" in p.stderr, p.stderr)
        out = d.ctl("rekey", "-i", old_key).stdout.decode()
        eq(out.strip(), "rekeyed 3 inquiries and 1 files to 1 recipient",
           "rekey")
        for i in ids:
            p = d.ctl("show", i, "-i", new_key, check_rc=False)
            eq(p.returncode, 0, "the new key opens %s" % i)
            p = d.ctl("show", i, "-i", old_key, check_rc=False)
            eq(p.returncode, 1, "the old key alone no longer does")
        got = d.ctl("attachment", ids[0], "1", "-i", new_key).stdout
        eq(hashlib.sha256(got).hexdigest(), hashlib.sha256(pdf).hexdigest(),
           "the file, re-encrypted")
        audit = json.loads(d.ctl("audit", "--json").stdout)
        eq(sorted(e["inquiry_id"] for e in audit if e["action"] == "rekey"),
           sorted(ids), "one audit entry per inquiry")
        d.ctl("audit", "--verify")
        # Run again (as after an interruption): nothing opens, nothing moves.
        out = d.ctl("rekey", "-i", old_key).stdout.decode()
        check(out.startswith("rekeyed 0 inquiries") and "3 did not open"
              in out, out)
        # A record for yet another key: export prints the rest, exits 1.
        third = os.path.join(d.dir, "third.key")
        write_text(os.path.join(d.dir, "staff.recipients"),
                   "%s\n" % age_keygen(third))
        d.proc.send_signal(sig.SIGHUP)
        import time as t
        deadline = t.monotonic() + 10
        while t.monotonic() < deadline:
            late = d.submit()
            if d.ctl("show", late, "-i", third, check_rc=False).returncode \
                    == 0:
                break
            t.sleep(0.05)
        p = d.ctl("export", "-i", new_key, check_rc=False)
        eq(p.returncode, 1, "one it cannot open")
        lines = p.stdout.decode().splitlines()
        check(len(lines) >= 3 and all(json.loads(l)["id"] != late
                                     for l in lines), "the rest exported")
        check(b"inquiries skipped: no identity given opens them" in
              p.stderr and len(p.stderr.splitlines()) == 1, p.stderr)


# What FHIR R4 allows where the export writes (the subset it uses).
R4_ANSWER_VALUES = {"valueBoolean": bool, "valueDecimal": float,
                    "valueInteger": int, "valueDate": str,
                    "valueDateTime": str, "valueTime": str,
                    "valueString": str, "valueUri": str,
                    "valueAttachment": dict, "valueCoding": dict,
                    "valueQuantity": dict, "valueReference": dict}


def check_r4_response(doc):
    """The R4 rules for a QuestionnaireResponse, as far as the export
    uses them; fails with what is wrong."""
    import re as r
    allowed = {"resourceType", "id", "identifier", "questionnaire",
               "status", "authored", "item", "meta", "subject", "author",
               "source", "basedOn", "partOf", "encounter", "text",
               "contained", "extension", "modifierExtension",
               "implicitRules", "language"}
    check(set(doc) <= allowed, "unknown members: %r" % (set(doc) - allowed))
    eq(doc["resourceType"], "QuestionnaireResponse", "resourceType")
    check(r.fullmatch(r"[A-Za-z0-9\-.]{1,64}", doc["id"]), "id")
    check(doc["status"] in ("in-progress", "completed", "amended",
                            "entered-in-error", "stopped"), "status")
    check(r.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?"
                      r"(Z|[+-]\d\d:\d\d)", doc["authored"]), "dateTime")
    check(set(doc["identifier"]) <= {"system", "value", "use", "type"},
          "Identifier")
    check(r.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+", doc["questionnaire"]),
          "canonical")
    for item in doc["item"]:
        check(set(item) <= {"linkId", "text", "answer", "item",
                            "definition"}, "item members: %r" % item)
        check(isinstance(item["linkId"], str) and item["linkId"], "linkId")
        check(item["answer"], "an item with no answer is left out")
        for a in item["answer"]:
            vals = [k for k in a if k.startswith("value")]
            eq(len(vals), 1, "one value[x] per answer: %r" % a)
            check(vals[0] in R4_ANSWER_VALUES, "value[x] type %s" % vals[0])
            check(isinstance(a[vals[0]], R4_ANSWER_VALUES[vals[0]]),
                  "%s's JSON type" % vals[0])
            if vals[0] == "valueCoding":
                check(set(a["valueCoding"]) <= {"system", "code", "display",
                                                "version", "userSelected"},
                      "Coding")
            if vals[0] == "valueAttachment":
                check(set(a["valueAttachment"]) <= {
                    "contentType", "language", "data", "url", "size",
                    "hash", "title", "creation"}, "Attachment")


def test_export_fhir_questionnaire_responses():
    import base64
    import hashlib
    import json
    from test_upload import Files, curl_form, file_of
    canon = "https://clinic.example/fhir/Questionnaire/consultation"
    with Daemon(limits="rate = 0",
                form_extra="fhir_questionnaire = %s\n" % canon) as d, \
            Files() as fs:
        pdf = file_of("application/pdf", 3000)
        status, body = curl_form(d, [("reports", fs.put("labs.pdf", pdf))])
        eq(status, 201, "with a file")
        with_file = body["id"]
        plain = d.submit(condition="hepatitis")
        out = d.ctl("export", "-i", d.key, "--format", "fhir").stdout
        docs = [json.loads(l) for l in out.decode().splitlines()]
        eq([x["id"] for x in docs], [with_file, plain], "oldest first")
        for doc in docs:
            check_r4_response(doc)
            eq(doc["questionnaire"], canon, "the configured canonical")
            eq(doc["identifier"]["value"], "urn:uuid:" + doc["id"], "id")
        items = {i["linkId"]: i for i in docs[1]["item"]}
        eq(items["name"]["text"], "Full name", "the schema's title")
        eq(items["name"]["answer"], [{"valueString": VALID["name"]}], "text")
        eq(items["consent"]["answer"], [{"valueBoolean": True}], "boolean")
        eq(items["condition"]["answer"], [{"valueCoding": {
            "system": canon + "#condition", "code": "hepatitis",
            "display": "Hepatitis"}}], "a choice as a Coding")
        check("reports" not in items, "no file, no item")
        att = {i["linkId"]: i for i in docs[0]["item"]}["reports"][
            "answer"][0]["valueAttachment"]
        eq(att, {"contentType": "application/pdf", "size": len(pdf),
                 "hash": base64.b64encode(hashlib.sha1(pdf).digest())
                 .decode(), "title": "labs.pdf"}, "the file described")
        out = d.ctl("export", "-i", d.key, "--format", "fhir",
                    "--with-files").stdout
        att = {i["linkId"]: i for i in json.loads(out.splitlines()[0])[
            "item"]}["reports"]["answer"][0]["valueAttachment"]
        eq(base64.b64decode(att["data"]), pdf, "--with-files: its bytes")
        p = d.ctl("export", "-i", d.key, "--with-files", check_rc=False)
        eq(p.returncode, 2, "--with-files only with fhir")
