"""Staff notifications end to end: the real daemon, a real SMTP server
(aiosmtpd, STARTTLS with a fresh certificate), the real age tool."""

import json
import os
import shutil
import tempfile
import time

from harness import (Daemon, Smtp, age_decrypt, check, eq, maildir_files,
                     wait_until, write_text)

FAST_RETRY = {"INTAKED_MAIL_RETRY_MS": "200"}
SLOW_SMTP = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                         "slow_smtp.py")


def smtp_mail(smtp, content="summary", tls="required", extra="",
              timeout="5s"):
    conf = ("transport = smtp\nurl = smtp://127.0.0.1:%d\ntls = %s\n"
            "from = intaked@example.com\nto = staff@example.com\n"
            "content = %s\ntimeout = %s\n%s" % (smtp.port, tls, content,
                                               timeout, extra))
    if smtp.tls:
        conf += "ca_file = %s\n" % smtp.cert
    return conf


def relay_login(smtp, password):
    """A mail config that logs in to smtp as intaked-relay with password,
    from a password file (0600) in smtp's directory: (config, file)."""
    pw = os.path.join(smtp.dir, "smtp-password")
    write_text(pw, password + "\n", 0o600)
    return smtp_mail(smtp, extra=("username = intaked-relay\n"
                                  "password_file = %s\n" % pw)), pw


def write_bytes(path, data, mode):
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)


def kill_restart_delivered(d, smtp, ids):
    """SIGKILL d with ids queued, start the relay and d again: each is
    delivered."""
    d.kill()
    smtp.start()
    d.start()
    wait_until(lambda: len(smtp.messages()) >= len(ids), 60,
               what="delivery after restart")
    mids = [m["Message-ID"] for _, m in smtp.messages()]
    for i in ids:
        check(any(i in x for x in mids), "delivered %s" % i)


def queue(d, *args):
    return d.ctl("queue", *args).stdout.decode()


def test_full_content_over_starttls():
    with Smtp() as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp, "full"),
                    form_extra="subject = Neue Anfrage für {{title}}") as d:
            inquiry = d.submit(name="Zoë Tester")
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
            inquiry = d.submit()
            wait_until(lambda: "TLS" in queue(d), 30,
                       what="a TLS error in the queue")
            out = queue(d)
            check(inquiry in out and "queued" in out, out)
            time.sleep(1)
            eq(smtp.messages(), [], "nothing sent in clear")


def test_outage_then_delivered_exactly_once():
    with Smtp() as smtp:
        with Daemon(mail=smtp_mail(smtp), env=FAST_RETRY) as d:
            ids = [d.submit() for _ in range(5)]
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
            metrics = d.admin("GET", "/metrics").body.decode()
            check('intaked_mail_sent_total{transport="smtp"} 5' in metrics,
                  metrics)


def test_queued_mail_survives_kill9_restart():
    with Smtp() as smtp:
        with Daemon(mail=smtp_mail(smtp), env=FAST_RETRY) as d:
            ids = [d.submit() for _ in range(3)]
            kill_restart_delivered(d, smtp, ids)


def test_sealed_attachment_decrypts_with_age():
    with Smtp() as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp, "sealed")) as d:
            inquiry = d.submit(name="Sealed Tester")
            msgs = wait_until(lambda: smtp.messages(), 30,
                              what="the notification")
            raw, m = msgs[0]
            check(b"Sealed Tester" not in raw, "no field in clear")
            atts = [p for p in m.iter_attachments()]
            eq(len(atts), 1, "one attachment")
            eq(atts[0].get_filename(), inquiry + ".age", "filename")
            p = age_decrypt(d.key, atts[0].get_content())
            eq(p.returncode, 0, "age -d: %s" % p.stderr)
            rec = json.loads(p.stdout)
            eq(rec["id"], inquiry, "the record")
            eq(rec["fields"]["name"], "Sealed Tester", "its fields")


def test_maildir_summary_has_no_fields_and_ack_to_patient():
    with Daemon(form_extra="ack = yes") as d:
        inquiry = d.submit(name="Summary Tester", phone="+91 00000 00001")
        wait_until(lambda: len(maildir_files(d.maildir)) >= 2,
                   30, what="notification and ack in the Maildir")
        texts = maildir_files(d.maildir)
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
        d.submit()
        time.sleep(1)
        acks = [t for t in maildir_files(d.maildir)
                if b"To: <patient@example.com>" in t]
        eq(len(acks), 1, "acks are rate limited per address")


class SlowSmtp(Smtp):
    """slow_smtp.py: a plain aiosmtpd into the same Maildir layout, slow
    to answer the end of DATA (data_delay s) or silent on QUIT."""

    def __init__(self, data_delay=0.0, silent_quit=False, auth=None):
        super().__init__(tls=auth is not None)
        self.argv = ["/usr/bin/python3", SLOW_SMTP, str(self.port),
                     self.out, "--data-delay", str(data_delay)]
        if silent_quit:
            self.argv.append("--silent-quit")
        if auth:
            self.argv += ["--auth", auth, "--tlscert", self.cert,
                          "--tlskey", self.keyfile]

    def start(self):
        return self.spawn(self.argv)

    def said(self, what):
        with open(os.path.join(self.dir, "smtp.log"), "rb") as f:
            return what.encode() in f.read()


def healthz_times(d, probes=10, every=0.3):
    """Seconds each of probes GET /healthz took, every s apart."""
    times = []
    for _ in range(probes):
        t0 = time.monotonic()
        r = d.request("GET", "/healthz", timeout=30)
        times.append(time.monotonic() - t0)
        eq(r.status, 200, "healthz")
        time.sleep(every)
    return times


def test_slow_relay_does_not_block_the_loop():
    """libcurl waits for the answer to the end of DATA with a blocking
    poll: on the loop that froze HTTP (and the watchdog) for as long."""
    with SlowSmtp(data_delay=4) as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp, tls="off", timeout="20s")) as d:
            inquiry = d.submit()
            wait_until(lambda: smtp.said("DATA received"), 10,
                       what="the end of DATA at the relay")
            times = healthz_times(d)
            check(max(times) < 0.5, "GET /healthz during the slow send "
                  "took %s s" % ", ".join("%.2f" % x for x in times))
            eq(smtp.messages(), [], "the send was in progress throughout")
            msgs = wait_until(lambda: smtp.messages(), 20,
                              what="the notification")
            check(inquiry in msgs[0][1]["Message-ID"], "the inquiry's")
            wait_until(lambda: "sent" in queue(d, "--all"), 10,
                       what="the row marked sent")


def test_stop_with_silent_relay_is_prompt():
    """At stop curl says QUIT on its cached connection and waited (up to
    120 s) for an answer that never comes."""
    with SlowSmtp(silent_quit=True) as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp, tls="off", timeout="20s")) as d:
            d.submit()
            wait_until(lambda: "sent" in queue(d, "--all"), 20,
                       what="the row marked sent")
            d.stop_promptly(timeout=15)


def test_stop_during_slow_end_of_data_is_prompt():
    """A stop while the relay sits on the end of DATA abandons the
    transfer at once (the row stays queued) instead of waiting for it."""
    with SlowSmtp(data_delay=15) as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp, tls="off", timeout="30s")) as d:
            inquiry = d.submit()
            wait_until(lambda: smtp.said("DATA received"), 10,
                       what="the end of DATA at the relay")
            d.stop_promptly(timeout=25)
            out = d.ctl("queue").stdout.decode()
            check(inquiry in out and "queued" in out, out)


def mapped_libs(d):
    with open("/proc/%d/maps" % d.proc.pid) as f:
        return {os.path.basename(l.split()[-1]) for l in f
                if "/" in l and ".so" in l}


def test_libcurl_is_loaded_only_for_smtp():
    """A Maildir daemon never maps libcurl and its TLS tree (memory it
    would not use); an SMTP daemon loads it and delivers with it."""
    with Daemon() as d:
        d.submit()
        wait_until(lambda: len(maildir_files(d.maildir)) >= 1, 30,
                   what="Maildir delivery")
        libs = mapped_libs(d)
        check(not any(l.startswith(("libcurl", "libgnutls", "libssh2"))
                      for l in libs), sorted(libs))
    with Smtp() as smtp:
        smtp.start()
        with Daemon(mail=smtp_mail(smtp)) as d:
            d.submit()
            wait_until(lambda: len(smtp.messages()) >= 1, 30,
                       what="SMTP delivery")
            check(any(l.startswith("libcurl.so") for l in mapped_libs(d)),
                  "libcurl mapped for SMTP")


def test_smtp_auth_with_password_file_and_systemd_credential():
    secret = "example-relay-secret"
    with SlowSmtp(auth="intaked-relay:" + secret) as smtp:
        smtp.start()
        mail, pw = relay_login(smtp, secret)
        # A password file readable by others is refused at start.
        os.chmod(pw, 0o644)
        with Daemon(start=False, mail=mail) as d:
            p = d.check_config()
            check(p.returncode != 0 and b"password_file" in p.stderr,
                  p.stderr)
        os.chmod(pw, 0o600)
        with Daemon(mail=mail) as d:
            d.submit()
            wait_until(lambda: len(smtp.messages()) >= 1, 30,
                       what="delivery with AUTH from password_file")
            check(d.logtext().find(secret) == -1, "secret never logged")
        # The systemd credential, no password_file in the config.
        creds = os.path.join(smtp.dir, "creds")
        os.mkdir(creds, 0o700)
        write_text(os.path.join(creds, "smtp-password"), secret, 0o600)
        with Daemon(mail=smtp_mail(smtp, extra="username = intaked-relay\n"),
                    env={"CREDENTIALS_DIRECTORY": creds}) as d:
            d.submit()
            wait_until(lambda: len(smtp.messages()) >= 2, 30,
                       what="delivery with AUTH from the credential")
        check(smtp.said("AUTH") and smtp.said("ok"), "server saw AUTH")


def test_spool_key_from_systemd_credential():
    """With the spool-key credential no key is written beside the database,
    queued mail survives a restart with the same credential, and a bad
    credential stops the start with one line that shows no key bytes."""
    with Smtp() as smtp:
        creds = tempfile.mkdtemp(prefix="intaked-creds-")
        try:
            key = bytes(range(0x41, 0x61))      # 32 bytes
            write_bytes(os.path.join(creds, "spool-key"), key, 0o400)
            env = dict(FAST_RETRY, CREDENTIALS_DIRECTORY=creds)
            with Daemon(mail=smtp_mail(smtp), env=env) as d:
                ids = [d.submit() for _ in range(2)]
                state = os.path.dirname(d.db)
                check(not os.path.exists(os.path.join(state, "spool.key")),
                      "no spool.key beside the database")
                check(len(queue(d).strip().splitlines()) >= 2, "queued")
                kill_restart_delivered(d, smtp, ids)
                d.stop()
                write_bytes(os.path.join(creds, "spool-key"), key[:31], 0o400)
                p = d.check_config()
                err = p.stderr.decode()
                check(p.returncode != 0 and "spool key" in err and
                      "not 32 bytes" in err, err)
                check(key[:31].decode() not in err, "no key bytes shown")
        finally:
            shutil.rmtree(creds, ignore_errors=True)


def test_smtp_auth_refused_keeps_the_notification_queued():
    with SlowSmtp(auth="intaked-relay:right-secret") as smtp:
        smtp.start()
        mail, _ = relay_login(smtp, "wrong-secret")
        with Daemon(mail=mail, env=FAST_RETRY) as d:
            inquiry = d.submit()
            wait_until(lambda: "login denied" in queue(d), 30,
                       what="the refusal in the queue")
            out = queue(d)
            check(inquiry in out and "queued" in out, out)
            eq(smtp.messages(), [], "nothing delivered")
            check("wrong-secret" not in d.logtext() + out, "no secret shown")
