"""intaked's command line: --version, --help, and -t catching a broken
config, schema and template, each with file and line."""

import os
import re
import shutil
import subprocess

import json

from harness import INTAKED, ROOT, SCHEMA, VALID, Daemon, check, eq


def run(*args):
    return subprocess.run([INTAKED] + list(args), capture_output=True,
                          timeout=20)


def test_version_and_help():
    p = run("--version")
    eq(p.returncode, 0, "exit")
    check(re.match(rb"intaked \d+\.\d+\.\d+", p.stdout), p.stdout)
    p = run("--help")
    eq(p.returncode, 0, "exit")
    check(b"-t" in p.stdout and b"-c" in p.stdout, p.stdout)
    p = run("--bogus")
    check(p.returncode != 0, "bad option fails")


def test_t_accepts_good_config():
    with Daemon(start=False) as d:
        p = run("-t", "-c", d.config)
        eq(p.returncode, 0, "exit: %s" % p.stderr.decode())
        check(b"configuration OK" in p.stdout, p.stdout)


def test_t_reports_config_errors_with_line():
    with Daemon(start=False) as d:
        with open(d.config) as f:
            lines = f.read().split("\n")
        # An unknown key and a bad value, at known lines.
        i = lines.index("[limits]")
        lines.insert(i + 1, "connections = lots")
        lines.insert(i + 2, "no_such_key = 1")
        with open(d.config, "w") as f:
            f.write("\n".join(lines))
        p = run("-t", "-c", d.config)
        check(p.returncode != 0, "fails")
        err = p.stderr.decode()
        check("%s:%d:" % (d.config, i + 2) in err, err)
        check("%s:%d:" % (d.config, i + 3) in err, err)
        check("connections" in err and "no_such_key" in err, err)


def test_t_reports_schema_error_with_line():
    with Daemon(start=False) as d:
        bad = os.path.join(d.dir, "bad.schema.json")
        with open(SCHEMA) as f:
            text = f.read()
        # A typo in a keyword: validation would silently weaken.
        text = text.replace('"maxLength"', '"maxLenght"', 1)
        with open(bad, "w") as f:
            f.write(text)
        line = text[:text.index('"maxLenght"')].count("\n") + 1
        with open(d.config) as f:
            conf = f.read().replace(SCHEMA, bad)
        with open(d.config, "w") as f:
            f.write(conf)
        p = run("-t", "-c", d.config)
        check(p.returncode != 0, "fails")
        err = p.stderr.decode()
        check("%s:%d:" % (bad, line) in err, err)
        with open(bad, "w") as f:
            f.write('{\n  "type": "object",\n  "properties": {\n}}}\n')
        p = run("-t", "-c", d.config)
        check(p.returncode != 0, "syntax error fails")
        check(re.search(re.escape(bad) + r":4:", p.stderr.decode()),
              p.stderr.decode())


def test_t_reports_template_error_with_line():
    with Daemon(start=False) as d:
        tdir = os.path.join(d.dir, "templates")
        shutil.copytree(os.path.join(ROOT, "templates"), tdir)
        path = os.path.join(tdir, "thanks.html")
        with open(path) as f:
            text = f.read()
        text = text.replace("{{id}}", "{{idd}}", 1)
        line = text[:text.index("{{idd}}")].count("\n") + 1
        with open(path, "w") as f:
            f.write(text)
        with open(d.config) as f:
            conf = f.read().replace("templates = %s/templates" % ROOT,
                                    "templates = %s" % tdir)
        with open(d.config, "w") as f:
            f.write(conf)
        p = run("-t", "-c", d.config)
        check(p.returncode != 0, "fails")
        err = p.stderr.decode()
        check("%s:%d:" % (path, line) in err, err)
        check("idd" in err, err)


def test_t_requires_a_recipient_and_refuses_identities():
    with Daemon(start=False, crypto="") as d:
        p = run("-t", "-c", d.config)
        check(p.returncode != 0, "no recipient: fails")
        check(b"recipient" in p.stderr, p.stderr)
    with Daemon(start=False) as d:
        # A secret key where a recipient belongs is refused, never used.
        with open(d.key) as f:
            secret = [l for l in f.read().split("\n")
                      if l.startswith("AGE-SECRET-KEY-")][0]
        with open(os.path.join(d.dir, "staff.recipients"), "w") as f:
            f.write(secret + "\n")
        p = run("-t", "-c", d.config)
        check(p.returncode != 0, "identity as recipient fails")
        check(secret.encode() not in p.stderr, "secret never printed")


def test_daemon_refuses_to_start_on_bad_config():
    with Daemon(start=False, limits="header_bytes = 1") as d:
        p = subprocess.run([INTAKED, "-c", d.config], capture_output=True,
                           timeout=20)
        check(p.returncode != 0, "refuses")
        check(b"header_bytes" in p.stderr, p.stderr)


def test_intakectl_keygen_works_with_age_and_the_daemon():
    from harness import INTAKECTL
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
        dec = subprocess.run(["age", "-d", "-i", key], input=enc.stdout,
                             capture_output=True, timeout=20)
        eq(dec.stdout, b"hello", "age -r / age -d -i")
        # And the daemon encrypts records for it.
        with open(d.config) as f:
            conf = f.read()
        with open(d.config, "w") as f:
            f.write(conf.replace("recipients_file = staff.recipients",
                                 "recipients = %s" % recipient))
        d.start()
        doc = dict(VALID)
        doc["consent"] = True
        r = d.post_json(doc)
        eq(r.status, 201, "submit")
        cat = d.ctl("cat", r.json()["id"]).stdout
        dec = subprocess.run(["age", "-d", "-i", key], input=cat,
                             capture_output=True, timeout=20)
        eq(json.loads(dec.stdout)["fields"]["name"], VALID["name"],
           "record decrypts with the keygen identity")
        p = d.ctl("show", r.json()["id"], "-i", d.key, check_rc=False)
        check(p.returncode != 0, "the old staff key no longer matches")


def test_make_install_gives_a_working_config_and_verified_units():
    import tempfile
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
                  "lib/systemd/system/intaked.socket"):
            check(os.path.exists(os.path.join(prefix, f)), f)
        conf = os.path.join(etc, "intaked", "intaked.conf")
        p = subprocess.run([os.path.join(prefix, "sbin/intaked"), "-t", "-c",
                            conf], capture_output=True, timeout=20)
        eq(p.returncode, 0, "installed config: %s" % p.stderr.decode())
        unit = os.path.join(prefix, "lib/systemd/system/intaked.service")
        with open(unit) as f:
            text = f.read()
        check("@PREFIX@" not in text and prefix + "/sbin/intaked" in text,
              "paths substituted")
        p = subprocess.run(["systemd-analyze", "verify", unit,
                            unit.replace(".service", ".socket")],
                           capture_output=True, timeout=60)
        eq(p.returncode, 0, "verify: %s" % p.stderr.decode())
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                            unit], capture_output=True, timeout=60)
        m = re.search(rb"Overall exposure level for intaked.service: "
                      rb"([0-9.]+)", p.stdout + p.stderr)
        check(m, p.stdout)
        check(float(m.group(1)) <= 1.5, "exposure %s" % m.group(1))
    finally:
        shutil.rmtree(root, ignore_errors=True)
