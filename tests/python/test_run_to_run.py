#!/usr/bin/env python3
"""Checks scripts/run_to_run.py's verdicts and exit codes: 0 within the limit, 1 over it,
2 for bad input, with a one-line message and no traceback.

Plain Python (no pytest): run it directly, or through CTest as the test `python_run_to_run`.
Exit status 0 when every check passes, 1 otherwise (each failure printed).
"""
import copy
import json
import os
import sys
import tempfile

from script_cases import ROOT, failures_of, report

FIXTURE = os.path.join(ROOT, "tests", "data", "reports", "sweep_fixture.json")


def main():
    with open(FIXTURE, encoding="utf-8") as f:
        fixture = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, edit=None, text=None):
            path = os.path.join(tmp, name)
            doc = copy.deepcopy(fixture)
            if edit:
                edit(doc)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text if text is not None else json.dumps(doc))
            return path

        def first_ok(doc):
            return next(r for r in doc["dsconv"]["rows"] if r.get("status") == "ok")

        same = write("same.json")
        slower = write("slower.json", lambda d: first_ok(d).__setitem__("median_ms", first_ok(d)["median_ms"] * 1.1))
        expect = [
            ("same file", (same, same), 0, "largest difference: +0.00%"),
            ("10% slower row", (same, slower), 1, "largest difference: +10.00%"),
            ("10% slower row under --limit 15", (same, slower, "--limit", "15"), 0, "limit 15.0%"),
            ("missing file", (same, os.path.join(tmp, "absent.json")), 2, "cannot read"),
            ("truncated file", (same, write("cut.json", text=json.dumps(fixture)[:500])), 2, "not valid JSON"),
            ("not a result file", (same, write("list.json", text="[1, 2]")), 2, "not a dsconv result file"),
            ("row not an object", (same, write("int.json", lambda d: d["dsconv"]["rows"].append(3))), 2,
             "dsconv.rows[24]: expected an object"),
            ("zero median", (same, write("zero.json", lambda d: first_ok(d).__setitem__("median_ms", 0))), 2,
             "expected a positive time in ms, got 0"),
            ("other GPU", (same, write("gpu.json", lambda d: d["dsconv"]["device"].__setitem__("gpu", "Other"))), 2,
             "run-to-run needs one card"),
            ("no common row", (same, write("none.json", lambda d: d["dsconv"].__setitem__("rows", []))), 2,
             "no row is timed in both"),
            ("--limit nan", (same, same, "--limit", "nan"), 2, "expected a percentage"),
        ]
        failures = failures_of("run_to_run.py", expect)
    return report("test_run_to_run", expect, failures)


if __name__ == "__main__":
    sys.exit(main())
