"""A real SMTP server (aiosmtpd, plain, no TLS) that delivers into a Maildir
like `python3 -m aiosmtpd -c aiosmtpd.handlers.Mailbox OUTDIR`, but behaves
like a troublesome relay:

  --data-delay S   answers the end of DATA only after S seconds (a relay
                   running content filters); the message lands in OUTDIR
                   when the answer goes out
  --silent-quit    never answers QUIT (the connection just hangs)
  --auth USER:PASS with --tlscert/--tlskey: offers STARTTLS and requires
                   AUTH (PLAIN or LOGIN, only after STARTTLS) with exactly
                   these credentials before MAIL FROM

Prints "DATA received" (flushed) when the end of DATA arrives, so a test
can tell that the client is now waiting for the answer.

Usage: /usr/bin/python3 slow_smtp.py PORT OUTDIR [--data-delay S]
       [--silent-quit] [--auth USER:PASS --tlscert C --tlskey K]"""

import argparse
import asyncio
import os
import signal
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword


class SlowMailbox(Mailbox):
    def __init__(self, outdir, delay, silent_quit):
        super().__init__(outdir)
        self.delay = delay
        self.silent_quit = silent_quit

    async def handle_DATA(self, server, session, envelope):
        print("DATA received", flush=True)
        await asyncio.sleep(self.delay)
        return await super().handle_DATA(server, session, envelope)

    async def handle_QUIT(self, server, session, envelope):
        if self.silent_quit:
            print("QUIT received, not answering", flush=True)
            await asyncio.sleep(3600)
        return "221 Bye"


def authenticator(user, password):
    """Accepts exactly user/password; logs the outcome, never the secret."""
    def check(server, session, envelope, mechanism, data):
        ok = (isinstance(data, LoginPassword) and
              data.login == user.encode() and
              data.password == password.encode())
        print("AUTH %s %s" % (mechanism, "ok" if ok else "refused"),
              flush=True)
        # handled=False: aiosmtpd itself answers 535 on a refusal.
        return AuthResult(success=ok, handled=False)
    return check


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("outdir")
    p.add_argument("--data-delay", type=float, default=0.0)
    p.add_argument("--silent-quit", action="store_true")
    p.add_argument("--auth")
    p.add_argument("--tlscert")
    p.add_argument("--tlskey")
    a = p.parse_args()
    handler = SlowMailbox(a.outdir, a.data_delay, a.silent_quit)
    kw = {}
    if a.auth:
        user, _, password = a.auth.partition(":")
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tlscert, a.tlskey)
        kw = dict(tls_context=tls, require_starttls=True, auth_required=True,
                  authenticator=authenticator(user, password))
    c = Controller(handler, hostname="127.0.0.1", port=a.port, **kw)
    c.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    # A connection parked in handle_QUIT would hold a graceful stop.
    os._exit(0)


if __name__ == "__main__":
    main()
