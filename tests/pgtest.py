"""A real PostgreSQL 15 server for tests: a cluster made with initdb in a
temporary directory, listening on a Unix socket there only (no TCP port,
nothing beyond this machine). initdb refuses to run as root, so as root
the server runs as the postgres user of Debian's package.

As a program: pgtest.py run -- COMMAND... starts a server, runs COMMAND
with INTAKE_TEST_PG_URL naming a fresh database on it, and stops the
server (the unit suites' PostgreSQL cases read that variable)."""

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"


def _as_owner(argv):
    """argv as the cluster's owner: postgres when we are root."""
    if os.getuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--"] + argv


class Postgres:
    """One cluster. url(db) is a libpq URI for database db on it. With
    tls, it also listens on a loopback TCP port with a fresh certificate
    (cert: its file, for sslrootcert) and hba lines for password logins
    come first (hba_first)."""

    def __init__(self, tls=False, hba_first=""):
        self.dir = tempfile.mkdtemp(prefix="intaked-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = self.dir
        self.log = os.path.join(self.dir, "log")
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        subprocess.run(_as_owner([BIN + "/initdb", "-A", "trust", "-U",
                                  "postgres", "-E", "UTF8", "--no-locale",
                                  "-D", self.data]),
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)
        self.running = False
        self.tls = tls
        self.port = None
        if tls:
            self._make_cert(hba_first)

    def _make_cert(self, hba_first):
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        key = os.path.join(self.data, "server.key")
        self.cert = os.path.join(self.dir, "server.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                        "-nodes", "-keyout", key, "-out", self.cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba) as f:
            rest = f.read()
        with open(hba, "w") as f:
            f.write(hba_first + rest)
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            for p in (key, hba):
                os.chown(p, pw.pw_uid, pw.pw_gid)
        os.chmod(key, 0o600)

    def start(self):
        # fsync stays on: the durability tests mean it.
        opts = "-k %s -c max_connections=200" % self.sock
        if self.tls:
            opts += (" -c listen_addresses=127.0.0.1 -p %d -c ssl=on"
                     " -c ssl_cert_file=%s -c ssl_key_file=server.key"
                     % (self.port, self.cert))
        else:
            opts += " -c listen_addresses="
        subprocess.run(_as_owner([
            BIN + "/pg_ctl", "-D", self.data, "-w", "-t", "60", "-l",
            self.log, "-o", opts, "start"]), check=True,
            stdout=subprocess.DEVNULL)
        self.running = True
        return self

    def stop(self, mode="fast"):
        if self.running:
            subprocess.run(_as_owner([BIN + "/pg_ctl", "-D", self.data,
                                      "-w", "-m", mode, "stop"]),
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            self.running = False

    def url(self, db="postgres"):
        if self.port:       # the socket file's name carries the port
            return "postgresql:///%s?host=%s&port=%d&user=postgres" % (
                db, self.sock, self.port)
        return "postgresql:///%s?host=%s&user=postgres" % (db, self.sock)

    def psql(self, sql, db="postgres"):
        """Runs sql; returns its output, unaligned and without headers."""
        p = subprocess.run([BIN + "/psql", "-X", "-q", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", "-d", self.url(db), "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           check=True)
        return p.stdout.decode().strip()

    def createdb(self, name):
        self.psql("CREATE DATABASE %s" % name)
        return self.url(name)

    def close(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main(argv):
    if len(argv) < 3 or argv[1] != "run" or argv[2] != "--":
        print("usage: pgtest.py run -- COMMAND...", file=sys.stderr)
        return 2
    t0 = time.monotonic()
    with Postgres() as pg:
        pg.start()
        env = dict(os.environ, INTAKE_TEST_PG_URL=pg.createdb("unit"))
        print("pgtest: PostgreSQL 15 up in %.1f s" %
              (time.monotonic() - t0), flush=True)
        return subprocess.run(argv[3:], env=env).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv))
