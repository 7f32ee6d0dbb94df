"""The proof of work through the real daemon ([form] altcha = yes): the
challenge route, a solution accepted once, and every way one fails (a
replay, expiry, a forged signature, a wrong number, none) answered 422
naming altcha, for HTML forms (the form again, answers kept) and JSON
clients alike. The solver here is the protocol itself: SHA-256 over the
salt and each number in turn, as the widget does."""

import base64
import hashlib
import hmac
import json
import os
import re
import signal

from harness import VALID, Daemon, check, eq, urlencode, wait_until

FORM = "altcha = yes\naltcha_maxnumber = 2000\n"
HTML = {"Accept": "text/html",
        "Content-Type": "application/x-www-form-urlencoded"}


def challenge(d):
    r = d.request("GET", "/forms/consultation/altcha")
    eq(r.status, 200, "challenge: %r" % r)
    eq(r.header("cache-control"), "no-store", "never cached")
    c = r.json()
    eq(sorted(c), ["algorithm", "challenge", "maxnumber", "salt",
                   "signature"], "the v1 challenge")
    eq(c["algorithm"], "SHA-256", "algorithm")
    check(re.fullmatch(r"[0-9a-f]+\?expires=\d+&", c["salt"]), c["salt"])
    return c


def solve(c):
    for n in range(c["maxnumber"] + 1):
        if hashlib.sha256((c["salt"] + str(n)).encode()).hexdigest() == \
                c["challenge"]:
            return n
    raise AssertionError("no number solves %r" % c)


def payload(c, number=None, **over):
    doc = {"algorithm": c["algorithm"], "challenge": c["challenge"],
           "number": solve(c) if number is None else number,
           "salt": c["salt"], "signature": c["signature"]}
    doc.update(over)
    return base64.b64encode(json.dumps(doc).encode()).decode()


def post_html(d, token):
    fields = dict(VALID)
    if token is not None:
        fields["altcha"] = token
    return d.request("POST", "/forms/consultation", urlencode(fields), HTML)


def post_json(d, token):
    doc = dict(VALID, consent=True)
    if token is not None:
        doc["altcha"] = token
    return d.post_json(doc)


def test_a_solved_challenge_is_accepted_once():
    with Daemon(form_extra=FORM) as d:
        token = payload(challenge(d))
        r = post_html(d, token)
        eq(r.status, 303, "solved: %r" % r)
        iid = r.header("location").split("ref=")[1]
        eq(d.list_ids(), [iid], "stored")
        rec = d.decrypt_cat(iid)
        check("altcha" not in rec["fields"], "the token is no answer")
        r = post_html(d, token)
        eq(r.status, 422, "a replay")
        page = r.body.decode()
        check('id="e-altcha">Was already used' in page, "said beside it")
        check('value="Test Patient"' in page, "the answers kept")
        check('<altcha-widget challenge="/forms/consultation/altcha"' in page,
              "a fresh widget")
        eq(d.list_ids(), [iid], "nothing more stored")
        # JSON clients: the same rules, the same field.
        r = post_json(d, payload(challenge(d)))
        eq(r.status, 201, "json solved")
        r = post_json(d, None)
        eq(r.status, 422, "json without one")
        eq([(e["field"], e["code"]) for e in r.json()["errors"]],
           [("altcha", "altcha")], "naming altcha")


def test_every_bad_solution_is_422_naming_altcha():
    with Daemon(form_extra=FORM, limits="rate = 0") as d:
        c = challenge(d)
        n = solve(c)
        forged = hmac.new(b"x" * 32, c["challenge"].encode(),
                          hashlib.sha256).hexdigest()
        other = challenge(d)
        cases = {
            "missing": None,
            "empty": "",
            "not base64": "%%%",
            "wrong number": payload(c, number=(n + 1) % (c["maxnumber"] + 1)),
            "forged signature": payload(c, signature=forged),
            "another challenge's signature": payload(
                c, signature=other["signature"]),
            "another algorithm": payload(c, algorithm="SHA-1"),
        }
        for name, token in cases.items():
            r = post_json(d, token)
            eq(r.status, 422, name)
            eq([e["field"] for e in r.json()["errors"]], ["altcha"], name)
        eq(d.list_ids(), [], "nothing stored")
        # The genuine one still works after all of those.
        eq(post_json(d, payload(c)).status, 201, "then the real one")


def test_an_expired_challenge_is_refused():
    with Daemon(form_extra=FORM + "altcha_ttl = 30s\n") as d:
        c = challenge(d)
        token = payload(c)
        expires = int(c["salt"].split("expires=")[1].rstrip("&"))
        import time
        while time.time() <= expires + 1:
            time.sleep(0.2)   # the shortest lifetime is 30 s
        r = post_json(d, token)
        eq(r.status, 422, "expired")
        check("expired" in r.json()["errors"][0]["message"], r.body)


def test_the_page_embeds_the_widget_from_our_origin():
    with Daemon(form_extra=FORM) as d:
        page = d.request("GET", "/forms/consultation").body.decode()
        check('<script type="module" src="/forms/altcha.js"></script>' in
              page, "the widget script")
        check('<altcha-widget challenge="/forms/consultation/altcha" '
              'name="altcha" auto="onload"' in page, "the widget")
        w = d.request("GET", "/forms/altcha.js")
        eq(w.status, 200, "the widget is served")
        check(w.header("content-type").startswith("text/javascript"), "js")
        check(b"altcha" in w.body and len(w.body) > 10000, "the real file")
    with Daemon() as d:     # no proof of work: no widget, no challenge
        page = d.request("GET", "/forms/consultation").body.decode()
        check("altcha" not in page.split("</style>")[1], "no widget")
        eq(d.request("GET", "/forms/consultation/altcha").status, 404, "")
        eq(d.request("GET", "/forms/altcha.js").status, 404, "no file")


def test_the_key_is_made_at_start_or_reload_not_by_a_request():
    """Reading or making altcha.key (a file write and an fsync) happens
    before the daemon serves, or at the reload that turns altcha on, never
    on the event loop while a patient's request waits."""
    with Daemon(form_extra=FORM) as d:
        key = os.path.join(os.path.dirname(d.db), "altcha.key")
        check(os.path.exists(key), "made at start, before any request")
    with Daemon() as d:
        key = os.path.join(os.path.dirname(d.db), "altcha.key")
        eq(d.request("GET", "/forms/consultation/altcha").status, 404,
           "no proof of work on this form")
        check(not os.path.exists(key), "no key while no form asks for it")
        d.write_config(d.read_config().replace(
            "honeypot = website", "honeypot = website\n" + FORM))
        d.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: os.path.exists(key), 10, what="key at reload")
        c = challenge(d)
        eq(post_json(d, payload(c)).status, 201, "solved after the reload")
