"""RFC 9112 strictness: raw requests and the status each must get. llhttp
(strict mode) refuses some of these itself; intaked refuses what llhttp
8.1 lets through (obs-fold, Host, transfer codings, versions) and takes
absolute-form targets by their path."""

from harness import Daemon, check, eq, read_response, valid_body

BODY = valid_body()
CHUNKED_BODY = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY), BODY)


def get(*headers, target=b"/healthz", version=b"HTTP/1.1"):
    """A raw GET with each of headers (bytes, no CRLF)."""
    return (b"GET %s %s\r\n" % (target, version) +
            b"".join(h + b"\r\n" for h in headers) + b"\r\n")


def post(*headers, body=BODY, target=b"/forms/consultation",
         version=b"HTTP/1.1"):
    """A raw JSON POST of body; headers say how it is framed."""
    return (b"POST %s %s\r\n" % (target, version) +
            b"Content-Type: application/json\r\n" +
            b"".join(h + b"\r\n" for h in headers) + b"\r\n" + body)


def chunked(body):
    return b"Transfer-Encoding: chunked", body


HOST = b"Host: example.com"
CL = b"Content-Length: %d" % len(BODY)

CASES = [
    # What must still work.
    ("plain GET", get(HOST), 200),
    ("HTTP/1.0 without Host", get(version=b"HTTP/1.0"), 200),
    ("HTTP/1.0 with Host", get(HOST, version=b"HTTP/1.0"), 200),
    ("Host with a port", get(b"Host: example.com:8080"), 200),
    ("Host an IPv6 literal", get(b"Host: [::1]:8080"), 200),
    ("empty Host", get(b"Host:"), 200),
    ("empty line before the request line", b"\r\n" + get(HOST), 200),
    ("Content-Length POST", post(HOST, CL), 201),
    ("Content-Length with trailing OWS",
     post(HOST, CL + b" "), 201),
    ("chunked POST", post(HOST, b"Transfer-Encoding: chunked",
                          body=CHUNKED_BODY), 201),
    ("chunked in capitals", post(HOST, b"Transfer-Encoding: CHUNKED",
                                 body=CHUNKED_BODY), 201),
    ("chunked with trailing OWS", post(HOST, b"Transfer-Encoding: chunked ",
                                       body=CHUNKED_BODY), 201),
    ("chunk extension", post(HOST, b"Transfer-Encoding: chunked",
                             body=b"%x;a=b\r\n%s\r\n0\r\n\r\n" %
                             (len(BODY), BODY)), 201),
    ("absolute-form POST", post(HOST, CL, target=b"http://example.com"
                                b"/forms/consultation"), 201),
    ("absolute-form GET with query",
     get(HOST, target=b"http://example.com/healthz?x=1"), 200),
    ("absolute-form https, capitals",
     get(HOST, target=b"HTTPS://EXAMPLE.COM:443/healthz"), 200),
    ("absolute-form empty path is /",
     get(HOST, target=b"http://example.com?x"), 404),
    # 400: malformed.
    ("whitespace before a colon", get(b"Host : example.com"), 400),
    ("tab before a colon", get(HOST, b"X-A\t: 1"), 400),
    ("bare LF line ends", b"GET /healthz HTTP/1.1\nHost: x\n\n", 400),
    ("obs-fold with SP", get(HOST, b"X-A: one", b" two"), 400),
    ("obs-fold with HTAB", get(HOST, b"X-A: one", b"\ttwo"), 400),
    ("obs-fold of an empty value", get(HOST, b"X-A:", b" two"), 400),
    ("obs-fold of Host", get(b"Host: example", b" .com"), 400),
    ("obs-fold in a POST", post(HOST, CL, b"X-A: one", b"\ttwo"), 400),
    ("HTTP/1.1 without Host", get(), 400),
    ("two Host lines", get(HOST, b"Host: example.org"), 400),
    ("two Host lines in HTTP/1.0",
     get(HOST, b"host: example.com", version=b"HTTP/1.0"), 400),
    ("Host with a space", get(b"Host: example.com x"), 400),
    ("Host with a slash", get(b"Host: example.com/x"), 400),
    ("repeated Content-Length", post(HOST, CL, CL), 400),
    ("conflicting Content-Length",
     post(HOST, CL, b"Content-Length: %d" % (len(BODY) + 1)), 400),
    ("Content-Length list", post(HOST, b"Content-Length: %d, %d" %
                                 (len(BODY), len(BODY))), 400),
    ("signed Content-Length", post(HOST, b"Content-Length: +%d"
                                   % len(BODY)), 400),
    ("Content-Length and chunked",
     post(HOST, CL, b"Transfer-Encoding: chunked", body=CHUNKED_BODY), 400),
    ("chunked and Content-Length",
     post(HOST, b"Transfer-Encoding: chunked", CL, body=CHUNKED_BODY), 400),
    ("chunked in HTTP/1.0", post(HOST, b"Transfer-Encoding: chunked",
                                 body=CHUNKED_BODY, version=b"HTTP/1.0"),
     400),
    ("bad chunk size", post(HOST, b"Transfer-Encoding: chunked",
                            body=b"zz\r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk size with a space", post(HOST, b"Transfer-Encoding: chunked",
                                     body=b"3 \r\nabc\r\n0\r\n\r\n"), 400),
    ("chunk size overflow", post(HOST, b"Transfer-Encoding: chunked",
                                 body=b"f" * 17 + b"\r\nabc\r\n0\r\n\r\n"),
     400),
    ("chunk size ended by LF", post(HOST, b"Transfer-Encoding: chunked",
                                    body=b"3\nabc\r\n0\r\n\r\n"), 400),
    ("chunk data not ended by CRLF",
     post(HOST, b"Transfer-Encoding: chunked",
          body=b"3\r\nabcXY0\r\n\r\n"), 400),
    ("chunk data ended by LF", post(HOST, b"Transfer-Encoding: chunked",
                                    body=b"3\r\nabc\n0\r\n\r\n"), 400),
    ("control byte in a chunk extension",
     post(HOST, b"Transfer-Encoding: chunked",
          body=b"3;\x01\r\nabc\r\n0\r\n\r\n"), 400),
    ("absolute-form of another scheme",
     get(HOST, target=b"ftp://example.com/healthz"), 400),
    ("absolute-form without authority",
     get(HOST, target=b"http:///healthz"), 400),
    ("absolute-form with user information",
     get(HOST, target=b"http://user@example.com/healthz"), 400),
    ("relative target", get(HOST, target=b"healthz"), 400),
    ("HTTP/1.10", get(HOST, version=b"HTTP/1.10"), 400),
    ("HTTP/11.1", get(HOST, version=b"HTTP/11.1"), 400),
    # 501: a transfer coding other than chunked, once.
    ("gzip, chunked", post(HOST, b"Transfer-Encoding: gzip, chunked",
                           body=CHUNKED_BODY), 501),
    ("chunked, chunked", post(HOST, b"Transfer-Encoding: chunked, chunked",
                              body=CHUNKED_BODY), 501),
    ("identity", post(HOST, b"Transfer-Encoding: identity"), 501),
    ("chunked, gzip", post(HOST, b"Transfer-Encoding: chunked, gzip",
                           body=CHUNKED_BODY), 501),
    ("chunked on two lines", post(HOST, b"Transfer-Encoding: chunked",
                                  b"Transfer-Encoding: chunked",
                                  body=CHUNKED_BODY), 501),
    ("gzip then chunked on two lines",
     post(HOST, b"Transfer-Encoding: gzip", b"Transfer-Encoding: chunked",
          body=CHUNKED_BODY), 501),
    # 505: versions other than 1.0 and 1.1.
    ("HTTP/2.0", get(HOST, version=b"HTTP/2.0"), 505),
    ("HTTP/0.9 with a version", get(HOST, version=b"HTTP/0.9"), 505),
    ("HTTP/0.9 without one", b"GET /healthz\r\n\r\n", 505),
    ("HTTP/1.2", get(HOST, version=b"HTTP/1.2"), 505),
    ("HTTP/3.0", get(HOST, version=b"HTTP/3.0"), 505),
    ("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
]


def test_raw_requests_get_their_status():
    with Daemon(limits="rate = 0") as d:
        bad = []
        for name, data, want in CASES:
            s = d.connect(timeout=5)
            try:
                s.sendall(data)
                r, _ = read_response(s)
            finally:
                s.close()
            if r.status != want:
                bad.append("%s: got %d, want %d (%r)" % (name, r.status,
                                                          want, r.body[:80]))
                continue
            if want >= 400 and want != 404:
                eq(r.header("connection"), "close", name + ": closes")
            if want in (501, 505):
                check(b"not supported" in r.body, "%s: %r" % (name, r.body))
        check(not bad, "\n".join(bad))
        # Every good POST above was stored, routed by its path alone.
        n201 = sum(1 for _, _, want in CASES if want == 201)
        eq(len(d.list_ids()), n201, "inquiries stored")
        eq(d.request("GET", "/healthz").status, 200, "still serving")


def test_absolute_form_is_recorded_like_origin_form():
    with Daemon(limits="rate = 0") as d:
        s = d.connect()
        s.sendall(post(b"Host: other.example", CL,
                       target=b"http://example.com/forms/consultation"))
        r, _ = read_response(s)
        s.close()
        eq(r.status, 201, "status")
        rec = d.decrypt_cat(r.json()["id"])
        eq(rec["form"], "consultation", "routed by the path")


def test_refusals_from_the_request_line_keep_the_json_shape():
    with Daemon() as d:
        for data, status in ((get(HOST, version=b"HTTP/2.0"), 505),
                             (post(HOST, b"Transfer-Encoding: identity"),
                              501),
                             (get(HOST, b"X-A: one", b" two"), 400)):
            r = d.raw(data)
            eq(r.status, status, "status")
            eq(r.header("content-type"), "application/json", "json")
            check("error" in r.json(), "an error message")
