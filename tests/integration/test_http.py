"""The HTTP interface of a running intaked: every answer of DESIGN.md, the
limits, keep-alive, pipelining, chunked bodies, 100-continue, timeouts and
the connection cap."""

import re
import time

from harness import (SCHEMA, VALID, Daemon, check, eq, post_bytes, post_head,
                     read_response, urlencode, valid_body, valid_doc,
                     wait_until)

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                   r"[0-9a-f]{12}$")


def common_headers(r):
    for h in ("date", "content-length", "connection"):
        check(r.header(h) is not None, "missing %s" % h)
    eq(r.header("x-content-type-options"), "nosniff", "nosniff")
    eq(r.header("cache-control"), "no-store", "cache-control")


def test_201_json_then_listed_and_decrypts():
    with Daemon() as d:
        r = d.post_json(valid_doc())
        eq(r.status, 201, "status")
        common_headers(r)
        eq(r.header("content-type"), "application/json", "type")
        inquiry = r.json()["id"]
        check(UUID7.match(inquiry), "uuidv7 id: %r" % inquiry)
        listing = d.ctl("list").stdout.decode()
        check(inquiry in listing, "id in intakectl list")
        rec = d.decrypt_cat(inquiry)
        eq(rec["id"], inquiry, "record id")
        eq(rec["form"], "consultation", "record form")
        eq(rec["fields"]["name"], VALID["name"], "name")
        eq(rec["fields"]["consent"], True, "consent coerced")
        eq(rec["client"]["ip"], "127.0.0.1", "client ip")


def test_303_to_configured_redirect_only():
    with Daemon(form_extra="redirect = /thank-you.html") as d:
        r = d.post_form(VALID, headers={"Referer": "https://evil.example/"})
        eq(r.status, 303, "status")
        eq(r.header("location"), "/thank-you.html", "location")
        r = d.request("POST", "/forms/consultation?redirect=https://x.example",
                      urlencode(VALID), {"Content-Type":
                                         "application/x-www-form-urlencoded"})
        eq(r.header("location"), "/thank-you.html", "never from request")


def test_201_json_accept_with_urlencoded_body():
    with Daemon() as d:
        r = d.post_form(VALID, headers={"Accept": "application/json"})
        eq(r.status, 201, "status")
        check(UUID7.match(r.json()["id"]), "id")


def test_422_json_collects_all_errors():
    with Daemon() as d:
        r = d.post_json({"email": "not-an-address", "condition": "flu",
                         "consent": False})
        eq(r.status, 422, "status")
        errs = r.json()["errors"]
        fields = {(e["field"], e["code"]) for e in errs}
        for f in ("name", "phone", "country"):
            check((f, "required") in fields, "%s required in %r" %
                  (f, fields))
        check(("email", "format") in fields, "email format")
        check(("condition", "enum") in fields, "condition enum")
        check(("consent", "const") in fields, "consent const")
        for e in errs:
            check(set(e) == {"field", "code", "message"}, "error shape")
            check("not-an-address" not in e["message"], "no echo")
        eq(d.ctl("list", "--json").stdout.decode().strip(), "[]",
           "nothing stored")


def test_422_invalid_and_overlong_utf8():
    with Daemon() as d:
        body = urlencode(VALID).replace("name=Test+Patient", "name=%C0%AF")
        r = d.request("POST", "/forms/consultation", body,
                      {"Content-Type": "application/x-www-form-urlencoded",
                       "Accept": "application/json"})
        eq(r.status, 422, "status")
        check(any(e["field"] == "name" and e["code"] == "utf8"
                  for e in r.json()["errors"]), r.body)


def test_400_malformed_bodies_and_requests():
    with Daemon() as d:
        r = d.request("POST", "/forms/consultation", "name=%G1",
                      {"Content-Type": "application/x-www-form-urlencoded",
                       "Accept": "application/json"})
        eq(r.status, 400, "bad escape")
        check("error" in r.json(), "json error")
        r = d.post_json("{\"name\": ")
        eq(r.status, 400, "bad json")
        r = d.raw(b"HELLO WORLD\r\n\r\n")
        eq(r.status, 400, "garbage request line")
        eq(r.header("connection"), "close", "closes after 400")


def test_404_unknown_form_and_path():
    with Daemon() as d:
        eq(d.post_json(valid_doc(), form="nope").status, 404, "form")
        eq(d.request("GET", "/nope").status, 404, "path")
        eq(d.request("GET", "/forms/consultation/other").status, 404, "sub")


def test_405_with_allow():
    with Daemon() as d:
        r = d.request("PUT", "/forms/consultation", "x",
                      {"Content-Type": "text/plain"})
        eq(r.status, 405, "PUT")
        check("POST" in r.header("allow"), "Allow lists POST")
        r = d.request("POST", "/healthz", "x",
                      {"Content-Type": "application/json"})
        eq(r.status, 405, "POST healthz")
        eq(r.header("allow"), "GET, HEAD", "Allow for healthz")


def test_411_without_length():
    with Daemon() as d:
        r = d.raw(post_head())
        eq(r.status, 411, "status")


def test_413_from_content_length_before_body():
    with Daemon(limits="body_bytes = 1k") as d:
        s = d.connect()
        s.sendall(post_head(b"Content-Length: 5000000"))
        r, _ = read_response(s)   # answered with no body byte sent
        s.close()
        eq(r.status, 413, "status")


def test_413_chunked_over_limit():
    with Daemon(limits="body_bytes = 1k") as d:
        chunk = b"a" * 800
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk)
                        for _ in range(3)) + b"0\r\n\r\n"
        r = d.raw(post_head(b"Transfer-Encoding: chunked") + body)
        eq(r.status, 413, "status")


def test_415_unsupported_types():
    with Daemon() as d:
        r = d.request("POST", "/forms/consultation", "hello",
                      {"Content-Type": "text/plain"})
        eq(r.status, 415, "text/plain")
        r = d.request("POST", "/forms/consultation", "--x--",
                      {"Content-Type": "multipart/mixed; boundary=x"})
        eq(r.status, 415, "multipart, but not form-data")
        r = d.request("POST", "/forms/consultation", "a=b",
                      {"Content-Type": "application/x-www-form-urlencoded;"
                       " charset=iso-8859-1"})
        eq(r.status, 415, "charset")


def test_431_header_too_large():
    with Daemon(limits="header_bytes = 4k") as d:
        r = d.request("GET", "/healthz", headers={"X-Big": "a" * 6000})
        eq(r.status, 431, "status")
        eq(d.request("GET", "/healthz").status, 200, "still serving")


def test_429_rate_limit_with_retry_after():
    with Daemon(limits="rate = 6\nrate_burst = 2") as d:
        eq(d.post_json(valid_doc()).status, 201, "first")
        eq(d.post_json(valid_doc()).status, 201, "second")
        r = d.post_json(valid_doc())
        eq(r.status, 429, "third")
        check(int(r.header("retry-after")) >= 1, "Retry-After")
        eq(d.request("GET", "/healthz").status, 200, "GETs not limited")


def test_honeypot_same_answer_nothing_stored():
    with Daemon() as d:
        doc = valid_doc()
        doc["website"] = "https://spam.example"
        r = d.post_json(doc)
        eq(r.status, 201, "looks like success")
        check(UUID7.match(r.json()["id"]), "an id")
        eq(d.ctl("list", "--json").stdout.decode().strip(), "[]",
           "nothing stored")
        m = d.admin("GET", "/metrics").body.decode()
        check('intaked_submissions_total{form="consultation",result="spam"} 1'
              in m, m)


def test_get_schema_healthz_metrics_demo_head():
    with Daemon() as d:
        r = d.request("GET", "/forms/consultation/schema")
        eq(r.status, 200, "schema")
        with open(SCHEMA, "rb") as f:
            eq(r.body, f.read(), "schema bytes")
        r = d.request("GET", "/healthz")
        eq(r.status, 200, "healthz")
        eq(r.json()["status"], "ok", "healthz body")
        r = d.admin("GET", "/metrics")
        eq(r.status, 200, "metrics")
        check("intaked_connections" in r.body.decode(), "metrics body")
        # The staff side is the admin listener's alone.
        for path in ("/metrics", "/inbox/", "/inbox/api/inquiries"):
            eq(d.request("GET", path).status, 404, "public " + path)
        r = d.request("GET", "/forms/consultation")
        eq(r.status, 200, "demo page")
        page = r.body.decode()
        check("<form" in page and 'name="email"' in page, "a real form")
        check('action="/forms/consultation"' in page, "posts to the form")
        r = d.request("HEAD", "/healthz")
        eq(r.status, 200, "HEAD")
        eq(r.body, b"", "HEAD has no body")
        check(int(r.header("content-length")) > 0, "HEAD length")


def test_cors_preflight_and_post():
    with Daemon(form_extra="cors_origins = https://www.example.com") as d:
        r = d.request("OPTIONS", "/forms/consultation",
                      headers={"Origin": "https://www.example.com",
                               "Access-Control-Request-Method": "POST"})
        eq(r.status, 204, "preflight")
        eq(r.header("access-control-allow-origin"),
           "https://www.example.com", "ACAO")
        check("POST" in r.header("access-control-allow-methods"), "methods")
        r = d.request("OPTIONS", "/forms/consultation",
                      headers={"Origin": "https://evil.example"})
        eq(r.status, 403, "other origin")
        check(r.header("access-control-allow-origin") is None, "no ACAO")
        r = d.post_json(valid_doc(),
                        headers={"Origin": "https://www.example.com"})
        eq(r.status, 201, "post")
        eq(r.header("access-control-allow-origin"),
           "https://www.example.com", "ACAO on POST")


def test_keepalive_and_pipelining_in_order():
    with Daemon() as d:
        reqs = (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" +
                post_bytes(valid_body()) +
                b"GET /forms/consultation/schema HTTP/1.1\r\nHost: x\r\n\r\n"
                b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n")
        s = d.connect()
        s.sendall(reqs)       # all four in one segment
        buf = b""
        statuses = []
        for _ in range(4):
            r, buf = read_response(s, buf)
            statuses.append(r.status)
            eq(r.header("connection"), "keep-alive", "keep-alive")
        eq(statuses, [200, 201, 200, 404], "in order")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                  b"Connection: close\r\n\r\n")
        r, _ = read_response(s, buf)
        eq(r.header("connection"), "close", "closes when asked")
        s.close()


def test_chunked_request_body():
    with Daemon() as d:
        body = valid_body()
        parts = [body[i:i + 17] for i in range(0, len(body), 17)]
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts)
        r = d.raw(post_head(b"Transfer-Encoding: chunked") + chunked +
                  b"0\r\n\r\n")
        eq(r.status, 201, "status")


def test_expect_100_continue():
    with Daemon(limits="body_bytes = 4k") as d:
        body = valid_body()
        s = d.connect()
        s.sendall(post_head(b"Expect: 100-continue",
                            b"Content-Length: %d" % len(body)))
        r, buf = read_response(s)
        eq(r.status, 100, "interim")
        s.sendall(body)
        r, _ = read_response(s, buf)
        eq(r.status, 201, "final")
        s.close()
        s = d.connect()
        s.sendall(post_head(b"Expect: 100-continue",
                            b"Content-Length: 100000"))
        r, _ = read_response(s)
        eq(r.status, 413, "refused before the body, no 100")
        s.close()
        r = d.raw(post_bytes(b"{}", b"Expect: 200-ok"))
        eq(r.status, 417, "unknown expectation")


def test_stalled_client_closed_after_header_timeout_others_served():
    with Daemon(limits="header_timeout = 1s") as d:
        stalled = d.connect()
        stalled.sendall(b"POST /forms/consultation HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        for _ in range(5):
            eq(d.request("GET", "/healthz").status, 200, "others served")
        r, _ = read_response(stalled)
        eq(r.status, 408, "timed out")
        check(time.monotonic() - t0 < 5, "closed within the timeout")
        stalled.settimeout(5)
        eq(stalled.recv(1), b"", "closed")
        stalled.close()
        silent = d.connect()
        silent.settimeout(5)
        eq(silent.recv(1), b"", "silent connection closed")
        silent.close()


def test_connection_cap():
    with Daemon(limits="connections = 2") as d:
        # The readiness probe's connection may still be counted for a
        # moment: retry until two connections are both served (bounded).
        def two_open():
            a, b = d.connect(), d.connect()
            ok = True
            for s in (a, b):
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                r, _ = read_response(s)
                ok = ok and r.status == 200
            if ok:
                return a, b
            a.close()
            b.close()
            return None
        a, b = wait_until(two_open, 5, 0.05, "two connections within cap")
        r = d.raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        eq(r.status, 503, "over the cap")
        check(r.header("retry-after") is not None, "Retry-After")
        eq(r.header("connection"), "close", "closed")
        common_headers(r)
        a.close()
        wait_until(lambda: d.request("GET", "/healthz").status == 200, 5,
                   what="a slot to free up")
        b.close()


def test_client_ip_from_trusted_proxy_only():
    with Daemon(extra="trusted_proxies = 127.0.0.1/32") as d:
        r = d.post_json(valid_doc(),
                        headers={"X-Forwarded-For":
                                 "198.51.100.9, 203.0.113.7"})
        eq(r.status, 201, "status")
        eq(d.decrypt_cat(r.json()["id"])["client"]["ip"], "203.0.113.7",
           "rightmost untrusted")
    with Daemon() as d:
        r = d.post_json(valid_doc(),
                        headers={"X-Forwarded-For": "203.0.113.7"})
        eq(d.decrypt_cat(r.json()["id"])["client"]["ip"], "127.0.0.1",
           "untrusted peer's header ignored")


def test_unicode_and_multiline_round_trip():
    with Daemon() as d:
        doc = valid_doc()
        doc["name"] = "Zoë Ñandú Ärztin 患者"
        doc["message"] = "First line.\nSecond — line.\n\tIndented."
        r = d.post_json(doc)
        eq(r.status, 201, "json")
        rec = d.decrypt_cat(r.json()["id"])
        eq(rec["fields"]["name"], doc["name"], "name")
        eq(rec["fields"]["message"], doc["message"], "message")
        form = dict(VALID)
        form["name"] = doc["name"]
        form["message"] = "Line one.\r\nLine two."
        r = d.post_form(form, headers={"Accept": "application/json"})
        eq(r.status, 201, "urlencoded")
        rec = d.decrypt_cat(r.json()["id"])
        eq(rec["fields"]["name"], doc["name"], "name")
        eq(rec["fields"]["message"], "Line one.\nLine two.", "CRLF to LF")


def test_long_forwarded_for_keeps_the_trusted_tail():
    # A client pads X-Forwarded-For so that the entry our proxy appended
    # would fall off the end of a fixed buffer; the tail must still count.
    with Daemon(extra="trusted_proxies = 127.0.0.1/32") as d:
        for pad in (60, 61, 62, 63, 64, 65):
            spoof = ", ".join("198.51.100.%d" % (i % 250)
                              for i in range(pad))
            r = d.post_json(valid_doc(), headers={
                "X-Forwarded-For": spoof + ", 203.0.113.7"})
            eq(r.status, 201, "status")
            eq(d.decrypt_cat(r.json()["id"])["client"]["ip"], "203.0.113.7",
               "client ip with %d padding entries" % pad)


def test_early_answer_survives_a_large_body_in_flight():
    # 404/415 are decided from the headers; a client already sending a
    # large body must still read the answer, not a connection reset.
    with Daemon() as d:
        for path, ctype, status in ((b"/forms/nope", b"application/json", 404),
                                    (b"/forms/consultation", b"text/plain",
                                     415)):
            for _ in range(3):
                s = d.connect()
                n = 900000
                s.sendall(post_head(b"Content-Length: %d" % n, path=path,
                                    ctype=ctype))
                try:
                    s.sendall(b"a" * n)
                except OSError:
                    pass    # the server may stop draining: the answer counts
                r, _ = read_response(s)
                eq(r.status, status, "answer before the body")
                s.close()


def test_chunked_trailers_are_ignored_safely():
    # Trailers arrive through the header callbacks after the path was set;
    # they must neither move it (this was a use-after-free) nor count.
    with Daemon() as d:
        body = valid_body()
        trailer = b"X-Trailer: " + b"0123456789" * 40 + b"\r\n"
        r = d.raw(post_head(b"Transfer-Encoding: chunked") +
                  b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, trailer * 3))
        eq(r.status, 201, "submission with trailers")
        eq(d.request("GET", "/healthz").status, 200, "still serving")


def test_414_for_an_overlong_uri():
    with Daemon(limits="header_bytes = 4k") as d:
        r = d.request("GET", "/forms/" + "a" * 6000)
        eq(r.status, 414, "status")
