"""Uploads through the real daemon: files sent by curl -F, staged
encrypted, stored with the inquiry and read back by the reference age
tool; refused types; clients that vanish and daemons that are killed
mid-upload; plaintext nowhere on disk; memory that does not grow with the
files."""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import (VALID, Daemon, Smtp, age_decrypt, check, eq,
                     maildir_files, read_response, run_threads, status_kib,
                     wait_until)

MAGIC = {
    "application/pdf": b"%PDF-1.7\n",
    "image/jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    "image/png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
}
EXT = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
KiB = 1024
MiB = 1024 * KiB
SIZES = [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 5 * MiB]
# Many uploads from one address in a few seconds: the rate limit is
# tested elsewhere.
NO_RATE = "rate = 0"


def file_of(ctype, size, fill=None):
    """size bytes that sniff as ctype (its magic, then random bytes)."""
    data = MAGIC[ctype] + (fill if fill is not None else os.urandom(size))
    return data[:size]


class Files:
    """A directory of files to upload, outside the daemon's own."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="intaked-up-")

    def put(self, name, data):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def curl_form(d, files, fields=None, timeout=60):
    """POSTs the form as multipart with curl -F, each of files (a list of
    (field, path) or (field, path, declared type)) as a file part; returns
    (status, parsed JSON body)."""
    args = ["curl", "-sS", "-o", "-", "-w", "\n%{http_code}",
            "-H", "Accept: application/json", "--max-time", str(timeout)]
    for k, v in (fields if fields is not None else VALID).items():
        args += ["--form-string", "%s=%s" % (k, v)]
    for f in files:
        spec = "%s=@%s" % (f[0], f[1])
        if len(f) > 2:
            spec += ";type=" + f[2]
        args += ["-F", spec]
    args.append("http://127.0.0.1:%d/forms/consultation" % d.port)
    p = subprocess.run(args, capture_output=True, timeout=timeout + 10)
    check(p.returncode == 0, "curl: %s" % p.stderr.decode())
    body, _, code = p.stdout.rpartition(b"\n")
    return int(code), json.loads(body.decode()) if body else None


def staging(d):
    return os.path.join(os.path.dirname(d.db), "staging")


def staged_names(d):
    """The names in the staging directory ([] before the first upload
    made it)."""
    try:
        return os.listdir(staging(d))
    except FileNotFoundError:
        return []


def staged_fds(d):
    """How many files intaked holds open in its staging directory (they
    have no name there, so /proc is where they show)."""
    n = 0
    where = os.path.realpath(staging(d)) + "/"
    fd_dir = "/proc/%d/fd" % d.proc.pid
    for fd in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, fd)).startswith(where):
                n += 1
        except OSError:
            pass
    return n


def rows(d):
    """The inquiries and attachment rows in the store."""
    import sqlite3
    db = sqlite3.connect("file:%s?mode=ro" % d.db, uri=True)
    try:
        return (db.execute("SELECT count(*) FROM inquiries").fetchone()[0],
                db.execute("SELECT count(*) FROM attachments").fetchone()[0],
                db.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        db.close()


def attachment_bytes(d, inquiry_id, n):
    """intakectl cat ID --attachment N | age -d: the file via real age."""
    p = age_decrypt(d.key, d.ctl("cat", inquiry_id, "--attachment",
                                 str(n)).stdout, timeout=60)
    check(p.returncode == 0, "age -d: %s" % p.stderr.decode())
    return p.stdout


def test_pdf_jpeg_png_at_every_edge_size_decrypt_byte_identical():
    with Daemon(limits=NO_RATE) as d, Files() as fs:
        for ctype in MAGIC:
            for size in SIZES:
                data = file_of(ctype, size)
                name = "report-%d.%s" % (size, EXT[ctype])
                status, body = curl_form(d, [("reports", fs.put(name, data))])
                eq(status, 201, "%s of %d B: %r" % (ctype, size, body))
                rec = d.decrypt_cat(body["id"])
                eq(len(rec["attachments"]), 1, "one attachment")
                a = rec["attachments"][0]
                eq(a["field"], "reports", "field")
                eq(a["filename"], name, "filename")
                eq(a["size"], size, "size")
                eq(a["sha256"], hashlib.sha256(data).hexdigest(), "sha256")
                # An empty file has no type to detect.
                eq(a["content_type"], ctype if size else
                   "application/octet-stream", "detected type")
                got = attachment_bytes(d, body["id"], 1)
                check(got == data, "%s of %d B: the decrypted file differs"
                      % (ctype, size))
        eq(rows(d)[:2], (18, 18), "18 inquiries, each with its file")


def test_several_files_in_one_inquiry_shown_and_decrypted_to_a_file():
    with Daemon(limits=NO_RATE) as d, Files() as fs:
        files = [(ctype, file_of(ctype, 100 * KiB + i))
                 for i, ctype in enumerate(MAGIC)]
        paths = [("reports", fs.put("f%d.%s" % (i, EXT[c]), data),
                  "application/octet-stream")
                 for i, (c, data) in enumerate(files)]
        status, body = curl_form(d, paths)
        eq(status, 201, "three files: %r" % body)
        iid = body["id"]
        shown = d.ctl("show", iid, "-i", d.key).stdout.decode()
        for i, (ctype, data) in enumerate(files):
            check(hashlib.sha256(data).hexdigest() in shown,
                  "show lists file %d's sha256:\n%s" % (i + 1, shown))
            check(ctype in shown, "show lists the detected type")
        out = os.path.join(fs.dir, "out.bin")
        d.ctl("attachment", iid, "2", "-i", d.key, "-o", out)
        check(open(out, "rb").read() == files[1][1], "-o writes the file")
        eq(os.stat(out).st_mode & 0o777, 0o600, "written 0600")
        p = d.ctl("attachment", iid, "2", "-i", d.key, "-o", out,
                  check_rc=False)
        check(p.returncode != 0 and b"exists" in p.stderr,
              "refuses to overwrite: %r" % p.stderr)
        out4 = os.path.join(fs.dir, "out4.bin")
        p = d.ctl("attachment", iid, "4", "-i", d.key, "-o", out4,
                  check_rc=False)
        check(p.returncode != 0, "no fourth attachment")
        check(not os.path.exists(out4), "no file left for a refusal")
        exported = [json.loads(l) for l in
                    d.ctl("export", "-i", d.key).stdout.splitlines()]
        mine = [r for r in exported if r.get("id") == iid]
        eq(len(mine), 1, "export has the inquiry")
        eq([a["size"] for a in mine[0]["attachments"]],
           [len(x[1]) for x in files], "export lists attachment metadata")
        d.ctl("cat", iid, "--attachment", "3")
        got = [(e["action"], e.get("inquiry_id"), e.get("detail"))
               for e in json.loads(d.ctl("audit", "--json").stdout)]
        for want in (("attachment", iid, "2"), ("attachment", iid, "3")):
            check(want in got, "%r audited: %r" % (want, got))
        eq(sum(1 for g in got if g[0] == "attachment"), 2,
           "a refused or missing attachment is not audited")
        d.ctl("delete", iid, "--yes")
        eq(rows(d)[:2], (0, 0), "delete takes the files with the record")


def test_renamed_executable_refused_naming_the_field_nothing_stored():
    with Daemon(limits=NO_RATE) as d, Files() as fs:
        elf = open("/bin/true", "rb").read()
        path = fs.put("scan.pdf", elf)
        status, body = curl_form(d, [("reports", path, "application/pdf")])
        check(status in (415, 422), "a renamed ELF: %d %r" % (status, body))
        fields = [e.get("field") for e in body.get("errors", [])]
        check("reports" in fields, "the error names reports: %r" % body)
        script = fs.put("labs.png", b"#!/bin/sh\necho hi\n")
        status, body = curl_form(d, [("reports", script, "image/png")])
        check(status in (415, 422), "a script: %d %r" % (status, body))
        eq(rows(d), (0, 0, 0), "nothing stored, nothing queued")
        eq(staged_names(d), [], "no staging file")
        eq(staged_fds(d), 0, "no staging file open")


def test_text_errors_come_with_the_file_errors_before_anything_is_stored():
    with Daemon(limits=NO_RATE) as d, Files() as fs:
        fields = dict(VALID)
        del fields["email"]
        fields["phone"] = "not a phone"
        path = fs.put("a.pdf", file_of("application/pdf", 2 * MiB))
        bad = fs.put("b.pdf", b"MZ" + os.urandom(1000))
        status, body = curl_form(d, [("reports", path), ("reports", bad)],
                                 fields)
        eq(status, 422, "invalid: %r" % body)
        named = sorted(e.get("field") for e in body["errors"])
        for f in ("email", "phone", "reports"):
            check(f in named, "%s among the errors: %r" % (f, named))
        eq(rows(d), (0, 0, 0), "nothing stored")


def raw_upload_head(d, content_length, boundary=b"XyZ"):
    """The head of a multipart POST and the body's text parts."""
    parts = b"".join(b"--%s\r\nContent-Disposition: form-data; name=\"%s\""
                     b"\r\n\r\n%s\r\n" % (boundary, k.encode(), v.encode())
                     for k, v in VALID.items())
    parts += (b"--%s\r\nContent-Disposition: form-data; name=\"reports\"; "
              b"filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n"
              b"\r\n" % boundary)
    head = (b"POST /forms/consultation HTTP/1.1\r\nHost: x\r\n"
            b"Accept: application/json\r\n"
            b"Content-Type: multipart/form-data; boundary=%s\r\n"
            b"Content-Length: %d\r\n\r\n" % (boundary, content_length))
    return head + parts


def test_over_the_file_limit_413_before_the_rest_is_sent():
    with Daemon(limits=NO_RATE) as d:
        s = d.connect(timeout=15)
        s.sendall(raw_upload_head(d, 24 * MiB))
        s.sendall(b"%PDF-1.7\n")
        chunk = os.urandom(64 * KiB)
        sent = 0
        # Up to the 10 MiB per-file limit and a little over, then stop:
        # the answer must come without the other 13 MiB announced.
        while sent < 10 * MiB + 256 * KiB:
            s.sendall(chunk)
            sent += len(chunk)
        r, _ = read_response(s)
        s.close()
        eq(r.status, 413, "over the file limit: %r" % r)
        eq(rows(d), (0, 0, 0), "nothing stored")
        wait_until(lambda: staged_fds(d) == 0, 10, what="staging closed")
        # Announced over [limits] upload_bytes: refused from the headers.
        r = d.raw(raw_upload_head(d, 40 * MiB))
        eq(r.status, 413, "announced too large")


def test_client_gone_mid_upload_leaves_no_row_no_staging_file():
    with Daemon(limits=NO_RATE) as d:
        s = d.connect()
        s.sendall(raw_upload_head(d, 8 * MiB))
        s.sendall(b"%PDF-1.7\n" + os.urandom(3 * MiB))
        wait_until(lambda: staged_fds(d) == 1, 10, what="a file staged")
        s.close()
        wait_until(lambda: staged_fds(d) == 0, 10,
                   what="the staging file closed")
        eq(staged_names(d), [], "no staging file left")
        eq(rows(d), (0, 0, 0), "no row, nothing in the outbox")
        eq(d.maildir and os.path.isdir(os.path.join(d.maildir, "new")) and
           os.listdir(os.path.join(d.maildir, "new")) or [], [],
           "no notification")
        eq(d.request("GET", "/healthz").status, 200, "still healthy")


def test_sigkill_mid_upload_no_row_staging_swept_at_next_start():
    with Daemon(limits=NO_RATE) as d:
        s = d.connect()
        s.sendall(raw_upload_head(d, 8 * MiB))
        s.sendall(b"%PDF-1.7\n" + os.urandom(2 * MiB))
        wait_until(lambda: staged_fds(d) == 1, 10, what="a file staged")
        # Where O_TMPFILE is missing a staging file has a name for an
        # instant; one a crash left behind must go at the next start.
        left = os.path.join(staging(d), ".stage-Ab12Cd")
        with open(left, "wb") as f:
            f.write(b"age ciphertext an interrupted run left")
        d.kill()
        s.close()
        d.start()
        eq(staged_names(d), [], "the staging directory swept")
        check("removed 1 staging file" in d.logtext(), "the sweep is logged")
        eq(rows(d), (0, 0, 0), "no row")
        eq(d.list_ids(), [], "intakectl lists nothing")


def test_canary_in_a_file_appears_nowhere_on_disk_in_plaintext():
    canary = "CANARY-%s" % os.urandom(8).hex()
    started = time.time()
    with Daemon(limits=NO_RATE) as d, Files() as fs:
        data = file_of("application/pdf", 300 * KiB,
                       (b"%s\n" % canary.encode()) * 10000)
        name = "%s.pdf" % canary
        status, body = curl_form(d, [("reports", fs.put(name, data))])
        eq(status, 201, "upload: %r" % body)
        wait_until(lambda: os.path.isdir(os.path.join(d.maildir, "new")) and
                   os.listdir(os.path.join(d.maildir, "new")), 10,
                   what="the notification")
        d.stop()
        needle = canary.encode()
        seen, scanned = [], set()
        skip = os.path.realpath(fs.dir)
        for top, only_new in ((d.dir, False),
                              (tempfile.gettempdir(), True)):
            for root, dirs, names in os.walk(top):
                if os.path.realpath(root).startswith(skip):
                    continue
                for n in names:
                    p = os.path.join(root, n)
                    try:
                        if only_new and os.stat(p).st_mtime < started - 1:
                            continue
                        if os.path.islink(p) or not os.path.isfile(p):
                            continue
                        scanned.add(os.path.realpath(p))
                        with open(p, "rb") as f:
                            if needle in f.read() or needle in n.encode():
                                seen.append(p)
                    except OSError:
                        pass
        check(os.path.realpath(d.db) in scanned and
              os.path.realpath(d.logpath) in scanned, "the scan saw the "
              "database and the log")
        eq(seen, [], "the canary in plaintext")
        d.start()
        check(attachment_bytes(d, body["id"], 1) == data,
              "the file itself is intact")


def test_memory_20_concurrent_10_mib_uploads_under_64_mib():
    sanitized = "asan" in os.environ.get("INTAKE_BUILD", "")
    with Daemon(limits=NO_RATE + "\nconnections = 64") as d, Files() as fs:
        paths = []
        for i in range(20):
            paths.append(fs.put("m%d.pdf" % i, file_of(
                "application/pdf", 10 * MiB - 64 * KiB)))
        before = status_kib(d.proc.pid, "VmHWM")
        out = [None] * 20
        gate = threading.Barrier(20)

        def one(i):
            gate.wait(10)
            out[i] = curl_form(d, [("reports", paths[i])], timeout=120)
        took = run_threads(one, 20, 150)
        eq([o[0] if o else None for o in out], [201] * 20, "all stored")
        peak = status_kib(d.proc.pid, "VmHWM")
        print("    peak RSS (VmHWM) %.1f MiB after 20 concurrent 10 MiB "
              "uploads (%.1f MiB at rest), %.0f MiB/s overall"
              % (peak / 1024, before / 1024, 200 / took))
        if not sanitized:
            check(peak < 64 * 1024, "VmHWM %d KiB over 64 MiB" % peak)
        eq(rows(d)[:2], (20, 20), "20 inquiries with their files")


def notification(d, timeout=30):
    """The staff notification in d's Maildir, parsed."""
    import email
    import email.policy
    raw = wait_until(lambda: maildir_files(d.maildir), timeout,
                     what="the notification")[0]
    return raw, email.message_from_bytes(raw, policy=email.policy.default)


def text_part(m):
    return m.get_body(preferencelist=("plain",)).get_content()


def test_sealed_mail_attaches_each_encrypted_file_over_smtp():
    with Smtp() as smtp, Files() as fs:
        smtp.start()
        mail = ("transport = smtp\nurl = smtp://127.0.0.1:%d\ntls = required"
                "\nca_file = %s\nfrom = intaked@example.com\n"
                "to = staff@example.com\ncontent = sealed\n"
                % (smtp.port, smtp.cert))
        with Daemon(limits=NO_RATE, mail=mail) as d:
            a = file_of("application/pdf", 300 * KiB)
            b = file_of("image/png", 20 * KiB + 3)
            status, body = curl_form(d, [
                ("reports", fs.put("secret-name-1.pdf", a)),
                ("reports", fs.put("secret-name-2.png", b))])
            eq(status, 201, "upload: %r" % body)
            iid = body["id"]
            raw, m = wait_until(lambda: smtp.messages(), 30,
                                what="the notification")[0]
            check(b"secret-name" not in raw, "no file name in the mail")
            atts = {p.get_filename(): p.get_content()
                    for p in m.iter_attachments()}
            eq(sorted(atts), sorted([iid + ".age", iid + "-1.age",
                                     iid + "-2.age"]), "attachments")
            for name, want in ((iid + "-1.age", a), (iid + "-2.age", b)):
                p = age_decrypt(d.key, atts[name])
                eq(p.returncode, 0, "age -d %s: %s" % (name, p.stderr))
                check(p.stdout == want, "%s decrypts to the file" % name)
            rec = json.loads(age_decrypt(d.key, atts[iid + ".age"]).stdout)
            eq([x["filename"] for x in rec["attachments"]],
               ["secret-name-1.pdf", "secret-name-2.png"],
               "the names are inside the record")
            text = text_part(m)
            check("File 1:   application/pdf, 300.0 KiB (attached as %s-1"
                  ".age)" % iid in text, "listed as attached:\n" + text)


def test_sealed_mail_over_max_attachment_bytes_lists_the_files():
    with Daemon(limits=NO_RATE, content="sealed",
                mail_extra="max_attachment_bytes = 64k\n") as d, \
            Files() as fs:
        status, body = curl_form(d, [("reports", fs.put(
            "x.pdf", file_of("application/pdf", 100 * KiB)))])
        eq(status, 201, "upload: %r" % body)
        raw, m = notification(d)
        eq([p.get_filename() for p in m.iter_attachments()],
           [body["id"] + ".age"], "only the record attached")
        text = text_part(m)
        check("File 1:   application/pdf, 100.0 KiB\n" in text,
              "the file listed:\n" + text)
        check("attached as %s-1.age" % body["id"] not in text, "not attached")


def test_summary_mail_links_the_inbox_and_lists_sizes_not_names():
    with Daemon(limits=NO_RATE,
                admin="public_url = https://staff.example.com/\n") as d, \
            Files() as fs:
        status, body = curl_form(d, [("reports", fs.put(
            "hidden-name.jpg", file_of("image/jpeg", 1500)))])
        eq(status, 201, "upload: %r" % body)
        raw, m = notification(d)
        check(b"hidden-name" not in raw, "no file name in a summary")
        eq(list(m.iter_attachments()), [], "nothing attached")
        text = text_part(m)
        check("https://staff.example.com/inbox/#%s\n" % body["id"] in text,
              "the inbox link:\n" + text)
        check("File 1:   image/jpeg, 1.5 KiB\n" in text, "size listed")
        check("-i YOUR-KEY" not in text.split("age -d")[0] and
              "intakectl show" not in text, "no key on the server")


def test_full_mail_lists_file_names_never_their_bytes():
    canary = b"FILEBYTES-" + os.urandom(6).hex().encode()
    with Daemon(limits=NO_RATE, content="full") as d, Files() as fs:
        status, body = curl_form(d, [("reports", fs.put(
            "liver-scan.pdf", file_of("application/pdf", 4000,
                                      canary * 400)))])
        eq(status, 201, "upload: %r" % body)
        raw, m = notification(d)
        check(canary not in raw, "the file itself is not in the mail")
        eq(list(m.iter_attachments()), [], "nothing attached")
        check("File 1:   liver-scan.pdf, application/pdf, 3.9 KiB\n" in
              text_part(m), "named in full:\n" + text_part(m))
