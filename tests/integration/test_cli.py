"""intaked's command line: --version, --help, and -t catching a broken
config, schema and template, each with file and line; make install and
make uninstall, and the manual pages they install."""

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile

from harness import (INTAKECTL, INTAKED, ROOT, SCHEMA, VALID, Daemon,
                     age_decrypt, age_keygen, check, eq, read_text,
                     run_intaked,
                     write_text)


def test_version_and_help():
    p = run_intaked("--version")
    eq(p.returncode, 0, "exit")
    check(re.match(rb"intaked \d+\.\d+\.\d+", p.stdout), p.stdout)
    p = run_intaked("--help")
    eq(p.returncode, 0, "exit")
    check(b"-t" in p.stdout and b"-c" in p.stdout, p.stdout)
    p = run_intaked("--bogus")
    check(p.returncode != 0, "bad option fails")


def test_t_accepts_good_config():
    with Daemon(start=False) as d:
        p = d.check_config()
        eq(p.returncode, 0, "exit: %s" % p.stderr.decode())
        check(b"configuration OK" in p.stdout, p.stdout)


def test_t_reports_config_errors_with_line():
    with Daemon(start=False) as d:
        lines = d.read_config().split("\n")
        # An unknown key and a bad value, at known lines.
        i = lines.index("[limits]")
        lines.insert(i + 1, "connections = lots")
        lines.insert(i + 2, "no_such_key = 1")
        d.write_config("\n".join(lines))
        p = d.check_config()
        check(p.returncode != 0, "fails")
        err = p.stderr.decode()
        check("%s:%d:" % (d.config, i + 2) in err, err)
        check("%s:%d:" % (d.config, i + 3) in err, err)
        check("connections" in err and "no_such_key" in err, err)


def test_t_reports_schema_error_with_line():
    with Daemon(start=False) as d:
        bad = os.path.join(d.dir, "bad.schema.json")
        # A typo in a keyword: validation would silently weaken.
        text = read_text(SCHEMA).replace('"maxLength"', '"maxLenght"', 1)
        write_text(bad, text)
        line = text[:text.index('"maxLenght"')].count("\n") + 1
        d.edit_config(SCHEMA, bad)
        p = d.check_config()
        check(p.returncode != 0, "fails")
        err = p.stderr.decode()
        check("%s:%d:" % (bad, line) in err, err)
        write_text(bad, '{\n  "type": "object",\n  "properties": {\n}}}\n')
        p = d.check_config()
        check(p.returncode != 0, "syntax error fails")
        check(re.search(re.escape(bad) + r":4:", p.stderr.decode()),
              p.stderr.decode())


def test_t_reports_template_error_with_line():
    with Daemon(start=False) as d:
        tdir = os.path.join(d.dir, "templates")
        shutil.copytree(os.path.join(ROOT, "templates"), tdir)
        path = os.path.join(tdir, "thanks.html")
        text = read_text(path).replace("{{id}}", "{{idd}}", 1)
        line = text[:text.index("{{idd}}")].count("\n") + 1
        write_text(path, text)
        d.edit_config("templates = %s/templates" % ROOT,
                      "templates = %s" % tdir)
        p = d.check_config()
        check(p.returncode != 0, "fails")
        err = p.stderr.decode()
        check("%s:%d:" % (path, line) in err, err)
        check("idd" in err, err)


def test_t_requires_a_recipient_and_refuses_identities():
    with Daemon(start=False, crypto="") as d:
        p = d.check_config()
        check(p.returncode != 0, "no recipient: fails")
        check(b"recipient" in p.stderr, p.stderr)
    with Daemon(start=False) as d:
        # A secret key where a recipient belongs is refused, never used.
        secret = [l for l in read_text(d.key).split("\n")
                  if l.startswith("AGE-SECRET-KEY-")][0]
        write_text(os.path.join(d.dir, "staff.recipients"), secret + "\n")
        p = d.check_config()
        check(p.returncode != 0, "identity as recipient fails")
        check(secret.encode() not in p.stdout + p.stderr,
              "secret never printed")
        check(b"this is a secret key; put its public recipient (age1...) "
              b"here; the secret key must stay off the server" in p.stderr,
              p.stderr)
        # In the config itself, and on start (the log) as with -t.
        d.edit_config("recipients_file = staff.recipients",
                      "recipients = " + secret)
        for p in (d.check_config(), run_intaked("-c", d.config)):
            check(p.returncode != 0, "refused")
            check(secret.encode() not in p.stdout + p.stderr, "not echoed")
            check(b"this is a secret key" in p.stderr, p.stderr)


def test_daemon_refuses_to_start_on_bad_config():
    with Daemon(start=False, limits="header_bytes = 1") as d:
        p = run_intaked("-c", d.config)
        check(p.returncode != 0, "refuses")
        check(b"header_bytes" in p.stderr, p.stderr)


def test_storage_path_in_a_missing_directory_is_refused():
    """A typo in [storage] path must not start an empty database
    elsewhere: -t and start refuse it, at its line, and create nothing."""
    with Daemon(start=False) as d:
        typo = os.path.join(d.dir, "stat", "intake.db")
        d.edit_config("path = " + d.db, "path = " + typo)
        line = d.read_config().split("\n").index("path = " + typo) + 1
        for p in (d.check_config(), run_intaked("-c", d.config)):
            check(p.returncode != 0, "refused")
            err = p.stderr.decode()
            check("%s:%d:" % (d.config, line) in err and
                  "does not exist" in err, err)
        check(not os.path.exists(os.path.dirname(typo)), "nothing made")


def test_missing_templates_directory_is_one_problem():
    """Not one line per page and mail the directory would have held."""
    with Daemon(start=False) as d:
        text = d.read_config()
        old = [l for l in text.split("\n") if l.startswith("templates = ")]
        eq(len(old), 1, "one templates line")
        gone = os.path.join(d.dir, "no-templates")
        d.edit_config(old[0], "templates = " + gone)
        p = d.check_config()
        err = p.stderr.decode().strip().split("\n")
        check(p.returncode != 0, "refused")
        eq(len(err), 2, "the problem and the count: %r" % err)
        check("[server] templates: %s: No such file" % gone in err[0], err)


def test_intakectl_keygen_works_with_age_and_the_daemon():
    with Daemon(start=False) as d:
        key = os.path.join(d.dir, "staff2.key")
        p = subprocess.run([INTAKECTL, "keygen", "-o", key],
                           capture_output=True, timeout=20)
        eq(p.returncode, 0, "keygen: %s" % p.stderr)
        recipient = p.stdout.decode().strip()
        check(re.match(r"^age1[02-9ac-hj-np-z]{58}$", recipient), recipient)
        eq(os.stat(key).st_mode & 0o777, 0o600, "identity file mode")
        with open(key, "rb") as f:
            before = f.read()
        check(b"# public key: " + recipient.encode() in before, "header")
        p = subprocess.run([INTAKECTL, "keygen", "-o", key],
                           capture_output=True, timeout=20)
        check(p.returncode != 0, "refuses to overwrite")
        with open(key, "rb") as f:
            eq(f.read(), before, "identity untouched")
        # The reference age tool accepts both halves.
        enc = subprocess.run(["age", "-r", recipient], input=b"hello",
                             capture_output=True, timeout=20)
        dec = age_decrypt(key, enc.stdout, timeout=20)
        eq(dec.stdout, b"hello", "age -r / age -d -i")
        # And the daemon encrypts records for it.
        d.edit_config("recipients_file = staff.recipients",
                      "recipients = %s" % recipient)
        d.start()
        inquiry = d.submit()
        dec = age_decrypt(key, d.ctl("cat", inquiry).stdout, timeout=20)
        eq(json.loads(dec.stdout)["fields"]["name"], VALID["name"],
           "record decrypts with the keygen identity")
        p = d.ctl("show", inquiry, "-i", d.key, check_rc=False)
        check(p.returncode != 0, "the old staff key no longer matches")


def test_make_install_gives_a_working_config_and_verified_units():
    root = tempfile.mkdtemp(prefix="intaked-install-")
    try:
        prefix, etc = root + "/usr", root + "/etc"
        p = subprocess.run(["make", "-s", "install", "PREFIX=" + prefix,
                            "SYSCONFDIR=" + etc,
                            "BUILD=" + os.path.relpath(
                                os.path.dirname(INTAKED), ROOT)],
                           cwd=ROOT, capture_output=True, timeout=300)
        eq(p.returncode, 0, "make install: %s" % p.stderr.decode())
        for f in ("sbin/intaked", "bin/intakectl",
                  "share/intaked/templates/notify.txt",
                  "lib/systemd/system/intaked.service",
                  "lib/systemd/system/intaked.socket",
                  "lib/systemd/system/intaked-admin.socket",
                  "share/man/man8/intaked.8", "share/man/man1/intakectl.1",
                  "share/man/man5/intaked.conf.5",
                  "share/doc/intaked/README.md"):
            check(os.path.exists(os.path.join(prefix, f)), f)
        conf = os.path.join(etc, "intaked", "intaked.conf")
        p = subprocess.run([os.path.join(prefix, "sbin/intaked"), "-t", "-c",
                            conf], capture_output=True, timeout=20)
        # A fresh install holds no recipient: -t says what to do.
        eq(p.returncode, 1, "a fresh install is not ready")
        check(b"intakectl keygen -o staff.key" in p.stderr, p.stderr)
        eq(len(p.stderr.decode().splitlines()), 2, "the hint and the count")
        # Staff's recipient in, as the admin does: configuration OK.
        staff = age_keygen(os.path.join(root, "staff.key"))
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("#recipients = age1...",
                                 "recipients = " + staff))
        p = subprocess.run([os.path.join(prefix, "sbin/intaked"), "-t", "-c",
                            conf], capture_output=True, timeout=20)
        eq(p.returncode, 0, "installed config: %s" % p.stderr.decode())
        unit = os.path.join(prefix, "lib/systemd/system/intaked.service")
        with open(unit) as f:
            text = f.read()
        check("@PREFIX@" not in text and prefix + "/sbin/intaked" in text,
              "paths substituted")
        # Every page and file the unit's Documentation= names is installed.
        docs = " ".join(re.findall(r"^Documentation=(.*)$", text, re.M))
        pages = re.findall(r"man:([\w.-]+)\((\d)\)", docs)
        check(("intaked", "8") in pages, docs)
        for name, sec in pages:
            f = os.path.join(prefix, "share/man/man%s/%s.%s" % (sec, name, sec))
            check(os.path.isfile(f), "Documentation= names %s" % f)
        for f in re.findall(r"file://(\S+)", docs):
            check(os.path.isfile(f), "Documentation= names %s" % f)
        # systemd-analyze verify looks the man: pages up with man(1): let it
        # find the installed ones (where man-db is missing, it cannot).
        env = dict(os.environ, MANPATH=os.path.join(prefix, "share/man"))
        man = [] if shutil.which("man") else ["--man=no"]
        p = subprocess.run(["systemd-analyze", "verify"] + man +
                           [unit, unit.replace(".service", ".socket"),
                            unit.replace(".service", "-admin.socket")],
                           capture_output=True, timeout=60, env=env)
        eq(p.returncode, 0, "verify: %s" % p.stderr.decode())
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                            unit], capture_output=True, timeout=60)
        m = re.search(rb"Overall exposure level for intaked.service: "
                      rb"([0-9.]+)", p.stdout + p.stderr)
        check(m, p.stdout)
        check(float(m.group(1)) <= 1.5, "exposure %s" % m.group(1))
    finally:
        shutil.rmtree(root, ignore_errors=True)


MANPAGES = {"share/man/man8/intaked.8": "INTAKED(8)",
            "share/man/man1/intakectl.1": "INTAKECTL(1)",
            "share/man/man5/intaked.conf.5": "INTAKED.CONF(5)"}


def make(*args):
    """make -s ARGS with BUILD= the tree under test (it is never rebuilt)."""
    return subprocess.run(["make", "-s"] + list(args) +
                          ["BUILD=" + os.path.relpath(os.path.dirname(INTAKED),
                                                      ROOT)],
                          cwd=ROOT, capture_output=True, timeout=300)


def tree(root):
    """The files and the directories under root, relative to it."""
    files, dirs = set(), set()
    for d, subdirs, names in os.walk(root):
        rel = os.path.relpath(d, root)
        if rel != ".":
            dirs.add(rel)
        files.update(os.path.normpath(os.path.join(rel, n)) for n in names)
    return files, dirs


def installed_files(build):
    """What make install with PREFIX=/usr SYSCONFDIR=/etc must lay out."""
    want = {"usr/sbin/intaked", "usr/bin/intakectl",
            "etc/intaked/intaked.conf",
            "usr/share/doc/intaked/README.md"}
    want |= {"usr/lib/systemd/system/" + u for u in
             ("intaked.service", "intaked.socket", "intaked-admin.socket")}
    want |= {"usr/share/intaked/templates/" + f
             for f in os.listdir(os.path.join(ROOT, "templates"))
             if f.endswith((".txt", ".html"))}
    inbox, _ = tree(os.path.join(build, "inbox"))
    want |= {"usr/share/intaked/inbox/" + f for f in inbox}
    want |= {"usr/share/intaked/public/" + f
             for f in ("altcha.js", "altcha.LICENSE.txt")}
    want |= {"etc/intaked/forms/" + f
             for f in os.listdir(os.path.join(ROOT, "config", "forms"))
             if f.endswith(".schema.json")}
    want |= {"usr/share/doc/intaked/docs/" + f
             for f in os.listdir(os.path.join(ROOT, "docs"))
             if f.endswith(".png")}
    want |= {"usr/" + f for f in MANPAGES}
    return want


# The directories of the hierarchy that uninstall leaves (a system comes
# with them); every other one it must remove once empty.
KEPT_DIRS = {"usr", "usr/bin", "usr/sbin", "usr/lib", "usr/share",
             "usr/share/man", "etc"}


def test_make_install_and_uninstall_with_destdir():
    build = os.path.dirname(INTAKED)
    # install copies only: even with a source newer than every object it
    # would not compile (-W: as if daemon/config.c had just changed).
    p = subprocess.run(["make", "-n", "-W", "daemon/config.c", "install",
                        "DESTDIR=/nonexistent", "BUILD=" +
                        os.path.relpath(build, ROOT)],
                       cwd=ROOT, capture_output=True, timeout=60)
    eq(p.returncode, 0, "make -n install: %s" % p.stderr.decode())
    check(b" -c -o " not in p.stdout and b"ar rcs" not in p.stdout and
          b"build-vendor" not in p.stdout, "install compiles: %s" % p.stdout)
    want = installed_files(build)
    conf = "etc/intaked/intaked.conf"
    schema = "etc/intaked/forms/consultation.schema.json"
    # Each round: what the test edits between install and uninstall, and
    # so what uninstall must keep.
    for edited in ((conf,), (), (schema,)):
        dest = tempfile.mkdtemp(prefix="intaked-destdir-")
        try:
            where = ["DESTDIR=" + dest, "PREFIX=/usr", "SYSCONFDIR=/etc"]
            p = make("install", *where)
            eq(p.returncode, 0, "make install: %s" % p.stderr.decode())
            files, _ = tree(dest)
            eq(sorted(files), sorted(want), "installed files")
            for f in ("usr/sbin/intaked", "usr/bin/intakectl"):
                with open(os.path.join(dest, f), "rb") as a, \
                        open(os.path.join(build, os.path.basename(f)),
                             "rb") as b:
                    check(a.read() == b.read(), "%s is the built one" % f)
            with open(os.path.join(dest, conf)) as f:
                text = f.read()
            check("templates = /usr/share/intaked/templates" in text and
                  "public_files = /usr/share/intaked/public" in text and
                  "root = /usr/share/intaked/inbox" in text,
                  "config names the installed templates and page")
            for page, title in MANPAGES.items():
                path = os.path.join(dest, "usr", page)
                eq(stat.S_IMODE(os.stat(path).st_mode), 0o644, page)
                p = subprocess.run(["mandoc", "-Tlint", "-W", "warning",
                                    path], capture_output=True, timeout=30)
                eq((p.returncode, p.stdout + p.stderr), (0, b""),
                   "mandoc -Tlint %s" % page)
                p = subprocess.run(["mandoc", "-Tutf8", path],
                                   capture_output=True, timeout=30)
                eq(p.returncode, 0, "mandoc %s" % page)
                out = re.sub(r".\x08", "", p.stdout.decode())  # overstrike
                check(out.startswith(title) and "\nNAME\n" in out and
                      "\nSEE ALSO\n" in out, "%s renders: %s" % (page, out[:200]))
                if shutil.which("man"):
                    p = subprocess.run(["man", "-l", path], capture_output=True,
                                       timeout=30, env=dict(os.environ,
                                                            MANPAGER="cat",
                                                            PAGER="cat"))
                    eq(p.returncode, 0, "man -l %s: %s" % (page, p.stderr))
                    check(b"NAME" in p.stdout, "man -l %s" % page)
            for f in edited:
                with open(os.path.join(dest, f), "a") as fh:
                    fh.write("\n" if f == schema else "\n# edited\n")
            p = make("uninstall", *where)
            eq(p.returncode, 0, "make uninstall: %s" % p.stderr.decode())
            for f in edited:
                check(("keeping %s/%s" % (dest, f)).encode() in p.stdout,
                      "says it keeps %s: %s" % (f, p.stdout))
            files, dirs = tree(dest)
            eq(sorted(files), sorted(edited), "left after uninstall")
            kept = KEPT_DIRS | {os.path.dirname(f) for f in edited}
            kept |= {os.path.dirname(d) for d in kept if "/" in d}
            eq(sorted(dirs - kept), [], "directories left after uninstall")
            # Uninstalling again finds nothing more to remove, and fails not.
            p = make("uninstall", *where)
            eq(p.returncode, 0, "second uninstall: %s" % p.stderr.decode())
            eq(sorted(tree(dest)[0]), sorted(edited), "second uninstall")
        finally:
            shutil.rmtree(dest, ignore_errors=True)
