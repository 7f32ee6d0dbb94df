"""GET /metrics on the admin listener: Prometheus text format 0.0.4, read
by a small parser written here to the format's rules, with the per-form
counters, the store's histograms and the outbox gauges."""

import math
import re

from harness import Daemon, Smtp, check, eq, valid_doc, wait_until

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
SAMPLE = re.compile(r"(%s)(?:\{((?:%s,?)*)\})? (\S+)(?: (-?\d+))?$" %
                    (NAME, LABEL))
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse(text):
    """{family: {"type", "help", "samples": [(name, labels, value)]}};
    raises AssertionError on anything the format does not allow."""
    fams, current = {}, None
    check(text.endswith("\n"), "ends with a newline")
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP "):
            name, _, doc = line[7:].partition(" ")
            check(re.fullmatch(NAME, name), where)
            check("help" not in fams.get(name, {}), "one HELP: " + where)
            fams.setdefault(name, {"samples": []})["help"] = doc
        elif line.startswith("# TYPE "):
            name, _, typ = line[7:].partition(" ")
            check(typ in TYPES, where)
            fam = fams.setdefault(name, {"samples": []})
            check("type" not in fam and not fam["samples"],
                  "TYPE once, before the samples: " + where)
            fam["type"], current = typ, name
        elif line.startswith("#") or line == "":
            check(False, "no stray comment or blank line: " + where)
        else:
            m = SAMPLE.match(line)
            check(m, where)
            name, labels, value = m.group(1), m.group(2) or "", m.group(5)
            fam = family_of(name, fams)
            check(fam is not None and fam == current,
                  "sample in its declared family: " + where)
            lab = dict(re.findall(LABEL, labels))
            v = float(value)          # also +Inf, NaN
            check(not math.isnan(v), where)
            fams[fam]["samples"].append((name, lab, v))
    for name, fam in fams.items():
        check("type" in fam, "a TYPE for " + name)
        if fam["type"] == "histogram":
            check_histogram(name, fam["samples"])
    return fams


def family_of(name, fams):
    if name in fams and fams[name].get("type") != "histogram":
        return name
    for suffix in ("_bucket", "_sum", "_count"):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and fams.get(base, {}).get("type") == \
                "histogram":
            return base
    return None


def check_histogram(name, samples):
    buckets = [(s[1]["le"], s[2]) for s in samples
               if s[0] == name + "_bucket"]
    check(buckets and buckets[-1][0] == "+Inf", name + ": ends with +Inf")
    les = [float(le) for le, _ in buckets]
    eq(les, sorted(les), name + ": le ascending")
    counts = [c for _, c in buckets]
    eq(counts, sorted(counts), name + ": cumulative")
    count = [s[2] for s in samples if s[0] == name + "_count"]
    eq(count, [counts[-1]], name + ": _count is the +Inf bucket")
    check(len([s for s in samples if s[0] == name + "_sum"]) == 1,
          name + ": one _sum")


def value(fams, name, **labels):
    fam = family_of(name, fams) or name
    found = [s[2] for s in fams.get(fam, {}).get("samples", [])
             if s[0] == name and s[1] == labels]
    eq(len(found), 1, "one sample %s%s" % (name, labels))
    return found[0]


def metrics(d):
    r = d.admin("GET", "/metrics")
    eq(r.status, 200, "metrics")
    check(r.header("content-type").startswith("text/plain; version=0.0.4"),
          r.header("content-type"))
    return parse(r.body.decode())


def test_metrics_parse_and_count_what_happened():
    with Smtp() as smtp:       # not started: notifications wait queued
        mail = ("transport = smtp\nurl = smtp://127.0.0.1:%d\ntls = "
                "required\nca_file = %s\nfrom = intaked@example.com\n"
                "to = staff@example.com\ncontent = summary\n" %
                (smtp.port, smtp.cert))
        with Daemon(mail=mail, env={"INTAKED_MAIL_RETRY_MS": "200"}) as d:
            for _ in range(3):
                d.submit()
            bad = valid_doc(email="not an address")
            eq(d.post_json(bad).status, 422, "invalid")
            spam = valid_doc(website="https://spam.example")
            eq(d.post_json(spam).status, 201, "honeypot")
            m = metrics(d)
            sub = "intaked_submissions_total"
            for result, n in (("accepted", 3), ("invalid", 1), ("spam", 1),
                              ("malformed", 0)):
                eq(value(m, sub, form="consultation", result=result), n,
                   result)
            check(value(m, "intaked_responses_total", **{"class": "2xx"})
                  >= 4, "2xx")
            eq(value(m, "intaked_responses_total", **{"class": "4xx"}), 1,
               "the 422")
            # One observation per committed batch; the batches hold the
            # three inquiries and nothing else.
            batches = value(m, "intaked_store_batch_size_count")
            check(1 <= batches <= 3, "batches: %s" % batches)
            eq(value(m, "intaked_store_batch_size_sum"), 3, "inquiries")
            eq(value(m, "intaked_store_commit_seconds_count"), batches,
               "a latency per batch")
            check(value(m, "intaked_store_commit_seconds_sum") > 0,
                  "commits take time")
            eq(m["intaked_store_commit_seconds"]["type"], "histogram", "")
            eq(value(m, "intaked_inquiries_stored"), 3, "stored")
            eq(value(m, "intaked_outbox_pending"), 3, "queued, relay down")
            eq(value(m, "intaked_outbox_failed"), 0, "none failed")
            check(value(m, "intaked_mail_retried_total", transport="smtp")
                  >= 0, "by transport")
            eq(value(m, "intaked_build_info",
                     version=next(iter(s[1]["version"] for s in
                                       m["intaked_build_info"]["samples"]))),
               1, "build info")
            check(value(m, "intaked_connections") >= 0, "connections")
            check(value(m, "intaked_request_memory_budget_bytes") > 0,
                  "budget")
            smtp.start()
            wait_until(lambda: value(metrics(d), "intaked_outbox_pending")
                       == 0, 60, what="the queue drained")
            m = metrics(d)
            eq(value(m, "intaked_mail_sent_total", transport="smtp"), 3,
               "sent")


def test_parser_refuses_what_the_format_forbids():
    """The parser above is the test's instrument: it must fail on the
    mistakes it is there to catch."""
    bad = [
        "intaked_x 1\n",                                  # no TYPE
        "# TYPE a counter\na{l=\"x} 1\n",                 # broken label
        "# TYPE a counter\na 1\n# TYPE a counter\n",      # TYPE twice
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
        "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  # not cumulative
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\n"
        "h_count 3\n",                                    # count != +Inf
        "# TYPE a gauge\na 1",                            # no final newline
    ]
    for text in bad:
        try:
            parse(text)
        except AssertionError:
            continue
        check(False, "accepted: %r" % text)
    parse("# HELP a A thing.\n# TYPE a gauge\na{b=\"c\\\"d\"} 1.5\n")
