"""make bench: uploads through the built intaked. One 25 MiB upload (five
files of 5 MiB, the default limits' worth), several times: MiB/s and the
daemon's peak RSS; then 20 concurrent 10 MiB uploads: peak RSS. Next to
it, in the same run, the reference age tool encrypting the same 25 MiB to
the same recipient: the ratio is what HTTP, multipart parsing, staging
and the durable commit cost over the encryption alone."""

import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                "integration"))
from harness import Daemon, check  # noqa: E402
from test_upload import Files, curl_form, file_of, vm_hwm_kib  # noqa: E402

MiB = 1 << 20
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def best_of(n, fn):
    times = []
    for _ in range(n):
        t0 = time.monotonic()
        fn()
        times.append(time.monotonic() - t0)
    return min(times)


def main():
    limits = "rate = 0\nconnections = 64"
    with Daemon(limits=limits, extra="log_level = warning") as d, \
            Files() as fs:
        five = [("reports", fs.put("r%d.pdf" % i, file_of(
            "application/pdf", 5 * MiB))) for i in range(5)]
        rest = vm_hwm_kib(d.proc.pid)

        def one():
            status, body = curl_form(d, five, timeout=120)
            check(status == 201, "upload: %s %r" % (status, body))
        t = best_of(RUNS, one)
        peak1 = vm_hwm_kib(d.proc.pid)
        blob = fs.put("all.bin", b"".join(open(p, "rb").read()
                                          for _, p in five))

        def age():
            subprocess.run(["age", "-r", d.recipient, "-o", os.devnull,
                            blob], check=True, timeout=120)
        ta = best_of(RUNS, age)
        print("one 25 MiB upload (5 files): %.0f MiB/s (best of %d, "
              "%.2f s); age -r alone: %.0f MiB/s; ratio %.2f"
              % (25 / t, RUNS, t, 25 / ta, t / ta))
        print("peak RSS (VmHWM): %.1f MiB after it (%.1f MiB at rest)"
              % (peak1 / 1024, rest / 1024))
        ten = [fs.put("t%d.pdf" % i, file_of("application/pdf",
                                             10 * MiB - 64 * 1024))
               for i in range(20)]
        out = [None] * 20
        gate = threading.Barrier(20)

        def client(i):
            gate.wait(10)
            out[i] = curl_form(d, [("reports", ten[i])], timeout=120)[0]
        ts = [threading.Thread(target=client, args=(i,)) for i in range(20)]
        t0 = time.monotonic()
        for x in ts:
            x.start()
        for x in ts:
            x.join(180)
        took = time.monotonic() - t0
        check(out == [201] * 20, "concurrent: %r" % out)
        peak = vm_hwm_kib(d.proc.pid)
        print("20 concurrent 10 MiB uploads: %.1f s, %.0f MiB/s in all; "
              "peak RSS %.1f MiB (target < 64 MiB)"
              % (took, 200 / took, peak / 1024))


if __name__ == "__main__":
    main()
