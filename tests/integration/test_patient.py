"""The patient's side through the real daemon: the form page built from
the schema, the form shown again with its errors beside the fields and
the answers kept, Post/Redirect/Get to the thank-you page, corrections
that never lock anyone out, pages that speak to people, consent kept with
its words, and invisible characters refused where they only disguise."""

import json
import re
import subprocess

from harness import VALID, Daemon, check, eq, urlencode

HTML = {"Accept": "text/html"}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}"


def tag(page, ident):
    """The opening tag of the element with id ident."""
    m = re.search(r'<[a-z]+ [^>]*id="%s"[^>]*>' % re.escape(ident), page)
    check(m, "no element #%s" % ident)
    return m.group(0)


def test_form_page_is_built_from_the_schema():
    with Daemon(form_extra="privacy_url = /privacy.html") as d:
        r = d.request("GET", "/forms/consultation", headers=HTML)
        eq(r.status, 200, "status")
        page = r.body.decode()
        check("Ask our specialists about stem-cell therapy" in page,
              "the form's description")
        phone = tag(page, "f-phone")
        check('type="tel"' in phone and 'autocomplete="tel"' in phone and
              'aria-describedby="h-phone"' in phone, phone)
        check('pattern="^\\+[0-9][0-9 \\(\\)\\-]{6,20}$"' in phone, phone)
        check('id="h-phone">International format' in page, "phone hint")
        check('autocomplete="name"' in tag(page, "f-name"), "name")
        check('autocomplete="country-name"' in tag(page, "f-country"),
              "country")
        check('type="email"' in tag(page, "f-email"), "email input")
        check('<option value="fatty-liver">Fatty liver disease</option>' in
              page, "choices by their titles")
        check('<a href="/privacy.html">Read the privacy notice</a>' in page,
              "the privacy link beside the consent")
        check('class="hp" aria-hidden="true"' in page and
              'tabindex="-1"' in tag(page, "hp-website"), "honeypot hidden")
        check('enctype="multipart/form-data"' in page, "takes files")
        check("<script" not in page, "no script without proof of work")


def test_html_post_goes_to_thanks_and_a_reload_never_posts_twice():
    with Daemon() as d:
        r = d.post_form(VALID, headers=HTML)
        eq(r.status, 303, "See Other")
        where = r.header("location")
        m = re.fullmatch(r"/forms/consultation/thanks\?ref=(%s)" % UUID, where)
        check(m, "Location %r" % where)
        for _ in range(2):      # the page, then a reload of it
            t = d.request("GET", where, headers=HTML)
            eq(t.status, 200, "thanks")
            page = t.body.decode()
            check('<code id="ref">%s</code>' % m.group(1) in page, page)
            check(VALID["email"] not in page, "no field echoed")
        eq(d.list_ids(), [m.group(1)], "stored once")
        t = d.request("GET", "/forms/consultation/thanks?ref=%3Cscript%3E",
                      headers=HTML)
        eq(t.status, 200, "a bad reference")
        check("<code" not in t.body.decode() and
              "script" not in t.body.decode().split("<main>")[1],
              "is not echoed")


def test_errors_beside_their_fields_with_the_answers_kept():
    with Daemon() as d:
        bad = dict(VALID, email="nope", phone="<script>\"'",
                   message="<script>alert(1)</script>\nsecond line",
                   country="Côte d'Ivoire")
        r = d.post_form(bad, headers=HTML)
        eq(r.status, 422, "status")
        check(r.header("content-type").startswith("text/html"), "html")
        page = r.body.decode()
        summary = tag(page, "error-summary")
        check('role="alert"' in summary and "autofocus" in summary, summary)
        check('<a href="#f-email">Email address: ' in page, "summary links")
        email = tag(page, "f-email")
        check('aria-invalid="true"' in email and 'value="nope"' in email and
              "e-email" in email, email)
        phone = tag(page, "f-phone")
        check('aria-invalid="true"' in phone and
              'value="&lt;script&gt;&quot;&#39;"' in phone, phone)
        check('aria-describedby="h-phone e-phone"' in phone, phone)
        check('id="e-phone"' in page, "the phone's message")
        check("<script" not in page, "nothing echoed runs")
        check(">&lt;script&gt;alert(1)&lt;/script&gt;\nsecond line</textarea>"
              in page, "the message kept, escaped, with its line break")
        check('value="Côte d&#39;Ivoire"' in tag(page, "f-country"),
              "unicode and quotes kept")
        check('<option value="liver-cirrhosis" selected>' in page, "choice")
        check(" checked " in tag(page, "f-consent"), "consent kept")
        check('aria-invalid' not in tag(page, "f-name"), "name is fine")
        eq(d.list_ids(), [], "nothing stored")
        # JSON clients still get the list.
        r = d.post_form(bad, headers={"Accept": "application/json"})
        eq(r.status, 422, "json")
        eq(sorted(e["field"] for e in r.json()["errors"]),
           ["email", "phone"], "fields")


def test_ten_quick_corrections_never_lock_a_patient_out():
    with Daemon() as d:     # the default rate: 30 a minute, bursts of 10
        for i in range(10):
            r = d.post_form(dict(VALID, phone="0%d" % i), headers=HTML)
            eq(r.status, 422, "correction %d" % (i + 1))
        r = d.post_form(VALID, headers=HTML)
        eq(r.status, 303, "the corrected form goes through")
        # Accepted ones still cost a whole try.
        for i in range(9):
            d.post_form(VALID)
        r = d.post_form(VALID, headers=HTML)
        eq(r.status, 429, "a flood of accepted ones is still limited")
        page = r.body.decode()
        check("<h1>Too many tries in a short time</h1>" in page, page)
        check(int(r.header("retry-after")) > 0, "Retry-After")


def test_error_pages_speak_to_people():
    with Daemon(limits="body_bytes = 1k\nupload_bytes = 1k") as d:
        cases = [
            (d.request("GET", "/forms/nope", headers=HTML), 404,
             "There is no form here"),
            (d.request("DELETE", "/forms/consultation", headers=HTML), 405,
             "This page cannot do that"),
            (d.request("POST", "/forms/consultation", "x" * 5000,
                       {"Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "text/html"}), 413,
             "The files are too large"),
            (d.request("POST", "/forms/consultation", "a=b",
                       {"Content-Type": "text/csv", "Accept": "text/html"}),
             415, "The form was sent in a way we cannot read"),
        ]
        for r, status, heading in cases:
            eq(r.status, status, heading)
            page = r.body.decode()
            check("<h1>%s</h1>" % heading in page, page)
            check("error %d" % status in page, "the number, small")
            check(not re.search(r"<h1>[^<]*(Not Found|Method Not Allowed|"
                                r"Payload Too Large|Error)", page),
                  "no status text as the headline")


def test_consent_is_recorded_with_its_words_and_time():
    with Daemon() as d:
        iid = d.submit()
        rec = d.decrypt_cat(iid)
        title = json.load(open(d.read_config().split("schema = ")[1]
                               .split("\n")[0]))["properties"]["consent"][
                                   "title"]
        eq(rec["consents"], [{"field": "consent", "text": title,
                              "at": rec["received_at"]}], "consents")


def test_invisible_characters_refused_in_one_line_shown_in_messages():
    with Daemon() as d:
        r = d.post_json(dict(VALID, consent=True,
                             name="Test \u202eTneitap"))
        eq(r.status, 422, "a bidi override in a name")
        eq([(e["field"], e["code"]) for e in r.json()["errors"]],
           [("name", "invisible")], "named")
        r = d.post_json(dict(VALID, consent=True,
                             message="Amount: \u202e0001\u202c euros"))
        eq(r.status, 201, "kept in a message")
        shown = d.ctl("show", r.json()["id"], "-i", d.key).stdout.decode()
        check("Amount: \u27e6U+202E\u27e70001\u27e6U+202C\u27e7 euros" in
              shown, "intakectl show marks them:\n" + shown)
