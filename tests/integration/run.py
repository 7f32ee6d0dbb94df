"""Runs every test_* function of tests/integration/test_*.py, each with a
time limit, and prints one line per test and a closing
"integration: N passed, N failed" line. Exit status 1 on any failure.

Usage: run.py [PATTERN...]  (substring filters on "file::test")"""

import importlib.util
import os
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

LIMIT = int(os.environ.get("INTAKE_TEST_TIMEOUT", "180"))


class Timeout(Exception):
    pass


def on_alarm(signum, frame):
    raise Timeout("test exceeded %ds" % LIMIT)


def main():
    filters = sys.argv[1:]
    signal.signal(signal.SIGALRM, on_alarm)
    passed = failed = 0
    failures = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith("test_") and fname.endswith(".py")):
            continue
        spec = importlib.util.spec_from_file_location(fname[:-3],
                                                      os.path.join(HERE,
                                                                   fname))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        for name in sorted(n for n in dir(mod) if n.startswith("test_")):
            full = "%s::%s" % (fname, name)
            if filters and not any(f in full for f in filters):
                continue
            t0 = time.monotonic()
            signal.alarm(LIMIT)
            try:
                getattr(mod, name)()
                signal.alarm(0)
                passed += 1
                print("PASS %s (%.1fs)" % (full, time.monotonic() - t0),
                      flush=True)
            except BaseException as e:  # noqa: report and go on
                signal.alarm(0)
                if isinstance(e, KeyboardInterrupt):
                    raise
                failed += 1
                failures.append(full)
                print("FAIL %s (%.1fs): %s" % (full, time.monotonic() - t0,
                                                e), flush=True)
                traceback.print_exc()
    if failures:
        print("failed: " + ", ".join(failures))
    print("integration: %d passed, %d failed" % (passed, failed))
    if os.environ.get("INTAKE_RESULTS"):
        with open(os.environ["INTAKE_RESULTS"], "w") as f:
            f.write("%d %d\n" % (passed, failed))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
