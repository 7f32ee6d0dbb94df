"""Staff notifications end to end: the real daemon, a real SMTP server
(aiosmtpd, STARTTLS with a fresh certificate), the real age tool."""

import json
import os
import signal
import subprocess
import time

from harness import VALID, Daemon, Smtp, check, eq, wait_until

FAST_RETRY = {"INTAKED_MAIL_RETRY_MS": "200"}


def smtp_mail(smtp, content="summary", tls="required", extra=""):
    conf = ("transport = smtp\nurl = smtp://127.0.0.1:%d\ntls = %s\n"
            "from = intaked@example.com\nto = staff@example.com\n"
            "content = %s\ntimeout = 5s\n%s" % (smtp.port, tls, content,
                                               extra))
    if smtp.tls:
        conf += "ca_file = %s\n" % smtp.cert
    return conf


def submit(d, **over):
    doc = dict(VALID)
    doc["consent"] = True
    doc.update(over)
    r = d.post_json(doc)
    eq(r.status, 201, "submit %r" % r)
    return r.json()["id"]


def queue(d, *args):
    return d.ctl("queue", *args).stdout.decode()


def test_full_content_over_starttls():
    with Smtp() as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp, "full"),
                    form_extra="subject = Neue Anfrage für {{title}}") as d:
            inquiry = submit(d, name="Zoë Tester")
            msgs = wait_until(lambda: smtp.messages(), 30,
                              what="the notification")
            eq(len(msgs), 1, "one message")
            raw, m = msgs[0]
            eq(m["X-RcptTo"], "staff@example.com", "envelope recipient")
            eq(m["X-MailFrom"], "intaked@example.com", "envelope sender")
            check("für" in str(m["Subject"]), "decoded subject: %r" %
                  m["Subject"])
            check(b"=?UTF-8?" in raw.split(b"\r\n\r\n")[0] or
                  b"=?utf-8?" in raw.split(b"\r\n\r\n")[0],
                  "RFC 2047 on the wire")
            eq(m["Reply-To"].addresses[0].addr_spec, "patient@example.com",
               "Reply-To")
            eq(len(m["Reply-To"].addresses), 1, "one Reply-To address")
            check(inquiry in m["Message-ID"], "stable Message-ID")
            eq(m["Auto-Submitted"], "auto-generated", "Auto-Submitted")
            check(m.get_content_type() == "multipart/alternative",
                  m.get_content_type())
            text = m.get_body(("plain",)).get_content()
            html = m.get_body(("html",)).get_content()
            check("Zoë Tester" in text and "Zoë Tester" in html, "fields")
            check("<script" not in html.lower(), "nothing executable")
            out = queue(d, "--all")
            check(inquiry in out and "sent" in out, out)


def test_tls_required_refuses_plain_server_and_keeps_queued():
    with Smtp(tls=False) as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp), env=FAST_RETRY) as d:
            inquiry = submit(d)
            wait_until(lambda: "TLS" in queue(d), 30,
                       what="a TLS error in the queue")
            out = queue(d)
            check(inquiry in out and "queued" in out, out)
            time.sleep(1)
            eq(smtp.messages(), [], "nothing sent in clear")


def test_outage_then_delivered_exactly_once():
    with Smtp() as smtp:
        with Daemon(mail=smtp_mail(smtp), env=FAST_RETRY) as d:
            ids = [submit(d) for _ in range(5)]
            time.sleep(1)
            out = queue(d)
            check(all(i in out for i in ids), out)
            smtp.start()
            wait_until(lambda: len(smtp.messages()) >= 5, 60,
                       what="all five notifications")
            time.sleep(2)   # any duplicate would show up by now
            msgs = smtp.messages()
            mids = [m["Message-ID"] for _, m in msgs]
            eq(len(msgs), 5, "exactly once each")
            eq(len(set(mids)), 5, "distinct Message-IDs")
            for i in ids:
                check(any(i in x for x in mids), "one per inquiry")
            metrics = d.request("GET", "/metrics").body.decode()
            check("intaked_mail_sent_total 5" in metrics, metrics)


def test_queued_mail_survives_kill9_restart():
    with Smtp() as smtp:
        with Daemon(mail=smtp_mail(smtp), env=FAST_RETRY) as d:
            ids = [submit(d) for _ in range(3)]
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.log.close()
            smtp.start()
            d.start()
            wait_until(lambda: len(smtp.messages()) >= 3, 60,
                       what="delivery after restart")
            mids = [m["Message-ID"] for _, m in smtp.messages()]
            for i in ids:
                check(any(i in x for x in mids), "delivered %s" % i)


def test_sealed_attachment_decrypts_with_age():
    with Smtp() as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp, "sealed")) as d:
            inquiry = submit(d, name="Sealed Tester")
            msgs = wait_until(lambda: smtp.messages(), 30,
                              what="the notification")
            raw, m = msgs[0]
            check(b"Sealed Tester" not in raw, "no field in clear")
            atts = [p for p in m.iter_attachments()]
            eq(len(atts), 1, "one attachment")
            eq(atts[0].get_filename(), inquiry + ".age", "filename")
            p = subprocess.run(["age", "-d", "-i", d.key],
                               input=atts[0].get_content(),
                               capture_output=True, timeout=30)
            eq(p.returncode, 0, "age -d: %s" % p.stderr)
            rec = json.loads(p.stdout)
            eq(rec["id"], inquiry, "the record")
            eq(rec["fields"]["name"], "Sealed Tester", "its fields")


def test_maildir_summary_has_no_fields_and_ack_to_patient():
    with Daemon(form_extra="ack = yes") as d:
        inquiry = submit(d, name="Summary Tester", phone="+91 00000 00001")
        new = os.path.join(d.maildir, "new")
        wait_until(lambda: os.path.isdir(new) and len(os.listdir(new)) >= 2,
                   30, what="notification and ack in the Maildir")
        texts = []
        for name in os.listdir(new):
            with open(os.path.join(new, name), "rb") as f:
                texts.append(f.read())
        staff = [t for t in texts if b"staff@example.com" in
                 t.split(b"\n\n")[0]]
        ack = [t for t in texts if b"To: <patient@example.com>" in t]
        eq(len(staff), 1, "staff notification")
        eq(len(ack), 1, "patient acknowledgement")
        check(inquiry.encode() in staff[0], "names the inquiry")
        for t in staff + ack:
            check(b"+91 00000 00001" not in t, "no phone in summary/ack")
        check(b"Summary Tester" not in staff[0], "summary has no fields")
        # A second submission to the same address gets no second ack.
        submit(d)
        time.sleep(1)
        acks = []
        for n in os.listdir(new):
            with open(os.path.join(new, n), "rb") as f:
                if b"To: <patient@example.com>" in f.read():
                    acks.append(n)
        eq(len(acks), 1, "acks are rate limited per address")
