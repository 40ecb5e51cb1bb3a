#!/usr/bin/env python3
"""Times `latchkey connection import` of N generated lines (issue 15: 100,000
in under a minute).  Run against a started test stack:

    STACK_ENV=build/stack/stack.env python3 bench/import_bench.py [N]

Creates a profile of its own, imports N lines into it, prints the time,
then runs the same file again (every line skipped, expires_at unchanged) and prints that too.
"""
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
import lkflow as f  # noqa: E402
import lkstack as lk  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    p = f.make_profile()
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as out:
        for i in range(n):
            out.write(json.dumps({"profile": p.name, "instance_id": "user_%07d" % i,
                                  "access_token": "at_bench_%d_%s" % (i, "x" * 40),
                                  "refresh_token": "rt_bench_%d_%s" % (i, "y" * 40),
                                  "expires_at": "2099-01-01T00:00:00Z", "scope": "read write",
                                  "metadata": {"site": "acme", "n": i}}) + "\n")
        path = out.name
    try:
        for what in ("first run", "second run (all skipped)"):
            t0 = time.monotonic()
            _, summary, _ = lk.cli("connection", "import", path, timeout=600)
            secs = time.monotonic() - t0
            print("%s: %d lines in %.1f s (%.0f lines/s): %s" % (what, n, secs, n / secs, summary.strip()))
    finally:
        os.unlink(path)
        f.cleanup()


if __name__ == "__main__":
    main()
