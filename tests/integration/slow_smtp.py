"""A real SMTP server (aiosmtpd, plain, no TLS) that delivers into a Maildir
like `python3 -m aiosmtpd -c aiosmtpd.handlers.Mailbox OUTDIR`, but behaves
like a troublesome relay:

  --data-delay S   answers the end of DATA only after S seconds (a relay
                   running content filters); the message lands in OUTDIR
                   when the answer goes out
  --silent-quit    never answers QUIT (the connection just hangs)

Prints "DATA received" (flushed) when the end of DATA arrives, so a test
can tell that the client is now waiting for the answer.

Usage: /usr/bin/python3 slow_smtp.py PORT OUTDIR [--data-delay S]
       [--silent-quit]"""

import argparse
import asyncio
import os
import signal
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("outdir")
    p.add_argument("--data-delay", type=float, default=0.0)
    p.add_argument("--silent-quit", action="store_true")
    a = p.parse_args()
    handler = SlowMailbox(a.outdir, a.data_delay, a.silent_quit)
    c = Controller(handler, hostname="127.0.0.1", port=a.port)
    c.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    # A connection parked in handle_QUIT would hold a graceful stop.
    os._exit(0)


if __name__ == "__main__":
    main()
