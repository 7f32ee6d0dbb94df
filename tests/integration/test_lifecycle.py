"""Signals, listeners and systemd: SIGTERM drains in-flight requests,
SIGHUP reloads atomically, Unix and IPv6 listeners, socket activation and
sd_notify READY=1 under the real systemd-socket-activate."""

import os
import signal
import socket
import time

from harness import (ROOT, VALID, Daemon, check, eq, free_port,
                     maildir_files, post_bytes, post_head, read_response,
                     valid_body, valid_doc, wait_until)


def sigterm_with_request_in_flight(d):
    """Sends the first bytes of a POST, then SIGTERM. Returns the socket
    and the body, whose rest (body[10:]) the caller sends later."""
    body = valid_body()
    s = d.connect()
    s.sendall(post_head(b"Content-Length: %d" % len(body)) + body[:10])
    time.sleep(0.2)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    return s, body


def test_sigterm_finishes_inflight_request_then_exits_0():
    with Daemon() as d:
        s, body = sigterm_with_request_in_flight(d)
        # New connections are refused once listeners close...
        def refused():
            try:
                socket.create_connection(("127.0.0.1", d.port), 0.5).close()
                return False
            except OSError:
                return True
        wait_until(refused, 5, what="listener to close")
        # ...but the request in flight completes and is stored.
        s.sendall(body[10:])
        r, _ = read_response(s)
        eq(r.status, 201, "in-flight request answered")
        eq(r.header("connection"), "close", "and told to close")
        s.close()
        eq(d.proc.wait(20), 0, "exit status")
        check(r.json()["id"] in d.ctl("list").stdout.decode(), "stored")


def test_signals_during_the_drain_do_not_kill_it():
    with Daemon() as d:
        s, body = sigterm_with_request_in_flight(d)
        for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            d.proc.send_signal(sig)
        time.sleep(0.2)
        check(d.proc.poll() is None, "still draining")
        s.sendall(body[10:])
        r, _ = read_response(s)
        eq(r.status, 201, "in-flight request answered")
        s.close()
        eq(d.proc.wait(20), 0, "clean exit")


def test_sigterm_idle_exits_promptly():
    with Daemon() as d:
        idle = d.connect()
        d.stop_promptly()   # idle connections do not hold it up
        idle.close()


def test_sighup_reload_applies_good_and_keeps_on_bad():
    with Daemon() as d:
        r = d.request("POST", "/forms/consultation", "a", {
            "Content-Type": "application/x-www-form-urlencoded"})
        eq(r.status, 422, "no redirect yet")
        good = d.read_config()
        d.write_config(good.replace("honeypot = website",
                                    "honeypot = website\nredirect = /done"))
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: d.post_form(VALID).status == 303, 10,
                   what="reload to apply")
        eq(d.post_form(VALID).header("location"), "/done", "new redirect")
        d.write_config(good.replace("[limits]", "[limits]\nbogus = 1"))
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the running configuration" in
                   d.logtext(), 10, what="reload refusal in the log")
        check(d.proc.poll() is None, "still running")
        eq(d.post_form(VALID).header("location"), "/done", "old config kept")


def test_unix_socket_listener():
    with Daemon(start=False) as d:
        path = os.path.join(d.dir, "intaked.sock")
        d.add_listen("unix:%s" % path)
        d.start()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        s.sendall(post_bytes(valid_body(),
                             b"X-Forwarded-For: 203.0.113.5"))
        r, _ = read_response(s)
        s.close()
        eq(r.status, 201, "over the unix socket")
        rec = d.decrypt_cat(r.json()["id"])
        eq(rec["client"]["ip"], "203.0.113.5",
           "the local proxy's X-Forwarded-For is believed")
        # Believed, so not every local user may connect: owner and group.
        eq(os.stat(path).st_mode & 0o777, 0o660, "socket mode")


def test_ipv6_listener():
    try:
        port = free_port(socket.AF_INET6, "::1")
    except OSError:
        return  # no IPv6 loopback on this machine: nothing to test
    with Daemon(start=False) as d:
        d.add_listen("[::1]:%d" % port)
        d.start()
        s = socket.create_connection(("::1", port), timeout=10)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        r, _ = read_response(s)
        s.close()
        eq(r.status, 200, "over IPv6")


def test_socket_activation_and_ready_notification():
    with Daemon(start=False) as d:
        nsock = os.path.join(d.dir, "notify.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        listener.bind(nsock)
        listener.settimeout(15)
        # The config's own listen address is unused: systemd passes one.
        port = free_port()
        d.port = port
        d.env = {"NOTIFY_SOCKET": nsock}
        # systemd-socket-activate execs intaked on the first connection
        # and passes only the environment named with -E.
        d.start(argv_prefix=["systemd-socket-activate", "-E",
                             "NOTIFY_SOCKET", "-l", "127.0.0.1:%d" % port],
                wait=False)
        d.wait_ready()
        eq(d.request("GET", "/healthz").status, 200, "serves the socket")
        msg = listener.recv(4096)
        check(b"READY=1" in msg, msg)
        eq(d.request("GET", "/healthz").status, 200, "and keeps serving")
        eq(d.stop(), 0, "exit status")
        msgs = []
        listener.settimeout(2)
        try:
            while True:
                msgs.append(listener.recv(4096))
        except socket.timeout:
            pass
        check(any(b"STOPPING=1" in m for m in msgs), msgs)
        listener.close()


def maildir_mails(d):
    """Every mail intaked wrote into its Maildir: [(subject, text)]."""
    import email
    import email.policy
    out = []
    for raw in maildir_files(d.maildir):
        m = email.message_from_bytes(raw, policy=email.policy.default)
        out.append((str(m["subject"]), m.get_body(("plain",)).get_content()))
    return out


def mail_of(d, inquiry_id):
    """Waits for the notification of inquiry_id; returns (subject, text)."""
    def find():
        for subj, text in maildir_mails(d):
            if inquiry_id in text:
                return subj, text
        return None
    return wait_until(find, 20, what="the notification of " + inquiry_id)


def test_sighup_reload_applies_mail_subject_and_templates():
    """Everything a reload may change travels with each inquiry: after
    SIGHUP a new [form] subject and a new notify.txt both apply to the
    next inquiry's mail (the subject used to come from the start-up
    config and the mail templates were loaded only at start)."""
    import shutil
    with Daemon(start=False, form_extra="subject = Before {{id}}") as d:
        tdir = os.path.join(d.dir, "templates")
        shutil.copytree(os.path.join(ROOT, "templates"), tdir)
        d.edit_config("templates = %s/templates" % ROOT,
                      "templates = " + tdir)
        d.start()
        r = d.post_json(valid_doc())
        eq(r.status, 201, "first inquiry")
        first = r.json()["id"]
        subj, text = mail_of(d, first)
        eq(subj, "Before " + first, "subject before the reload")
        check("RELOADED-TEMPLATE" not in text, "old template")

        d.edit_config("subject = Before {{id}}", "subject = After {{id}}")
        notify = os.path.join(tdir, "notify.txt")
        with open(notify) as f:
            tpl = f.read()
        with open(notify, "w") as f:
            f.write(tpl.replace("Inquiry:  {{id}}",
                                "RELOADED-TEMPLATE\nInquiry:  {{id}}"))
        mark = d.logtext().count("reloaded")
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: d.logtext().count("reloaded") > mark, 10,
                   what="the reload")
        r = d.post_json(valid_doc())
        eq(r.status, 201, "second inquiry")
        second = r.json()["id"]
        subj, text = mail_of(d, second)
        eq(subj, "After " + second, "subject after the reload")
        check("RELOADED-TEMPLATE" in text, "new notify.txt applied: " + text)
        # The first inquiry's mail stays as it was composed.
        eq(mail_of(d, first)[0], "Before " + first, "earlier mail intact")


def test_socket_activation_with_a_named_admin_socket():
    with Daemon(start=False) as d:
        port = free_port()
        d.port = port
        admin = os.path.join(d.dir, "admin.sock")
        # As intaked.socket and intaked-admin.socket pass them: by name.
        d.start(argv_prefix=["systemd-socket-activate", "-l",
                             "127.0.0.1:%d" % port, "-l", admin,
                             "--fdname=public:admin"], wait=False)
        d.wait_ready()
        eq(d.request("GET", "/healthz").status, 200, "public serves")
        eq(d.request("GET", "/inbox/").status, 404, "no inbox in public")

        def over_admin(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(10)
            s.connect(admin)
            s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close"
                      b"\r\n\r\n" % path)
            r, _ = read_response(s)
            s.close()
            return r
        eq(over_admin(b"/inbox/").status, 200, "the inbox on the socket")
        eq(over_admin(b"/healthz").status, 404, "only the staff side there")
        check("[admin] listen not used" in d.logtext(), "says so")
        try:
            socket.create_connection(("127.0.0.1", d.admin_port),
                                     timeout=1).close()
            raise AssertionError("the config's admin address listens too")
        except OSError:
            pass
        eq(d.stop(), 0, "exit status")
