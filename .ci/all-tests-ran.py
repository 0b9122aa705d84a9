#!/usr/bin/env python3
"""Reads the log of `cargo test --no-fail-fast` and the list of test executables cargo built, and
fails unless every executable ran to its `test result:` line; prints every failed test either way.

A run that stops early (a crash in one binary, cargo giving up) must not pass because the binaries
it never started reported nothing.

usage: all-tests-ran.py LOG EXECUTABLES   (EXECUTABLES: `cargo test --no-run --message-format=json`)
"""
import json
import os
import re
import sys


def main(log_path, executables_path):
    expected = set()
    with open(executables_path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            msg = json.loads(line)
            if msg.get("reason") == "compiler-artifact" and msg.get("profile", {}).get("test") and msg.get("executable"):
                expected.add(os.path.basename(msg["executable"]))
    log = open(log_path, errors="replace").read().splitlines()

    ran, current, failed_tests = {}, None, []
    for line in log:
        m = re.match(r"\s+Running (\S.*) \((.+)\)$", line)
        if m:
            current = os.path.basename(m.group(2))
            ran[current] = None
            continue
        m = re.match(r"\s+Doc-tests (\S+)", line)
        if m:
            current = "doc-tests " + m.group(1)
            ran[current] = None
            continue
        m = re.match(r"test result: (ok|FAILED)\. (\d+) passed; (\d+) failed", line)
        if m and current is not None:
            ran[current] = (m.group(1), int(m.group(2)), int(m.group(3)))
            current = None
            continue
        m = re.match(r"test (\S+) \.\.\. FAILED", line)
        if m:
            failed_tests.append(m.group(1))

    problems = []
    for exe in sorted(expected):
        if exe not in ran:
            problems.append(f"never ran: {exe}")
        elif ran[exe] is None:
            problems.append(f"started but never reported a result (crashed?): {exe}")
    for name, result in ran.items():
        if result is None and name not in expected:
            problems.append(f"started but never reported a result (crashed?): {name}")
        elif result is not None and result[0] == "FAILED":
            problems.append(f"{result[2]} failed in {name}")

    passed = sum(r[1] for r in ran.values() if r)
    print(f"ci: {len(ran)} test binaries ran ({len(expected)} built), {passed} tests passed, "
          f"{len(failed_tests)} failed")
    for t in failed_tests:
        print(f"ci: FAILED {t}")
    for p in problems:
        print(f"ci: {p}")
    return 1 if problems or failed_tests else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
