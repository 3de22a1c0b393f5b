#!/usr/bin/env python3
"""Checks scripts/ab_builds.py against stand-in dsconv binaries (small scripts that answer
`bench ... --json PATH` with a result file of a chosen time, status, GPU or exit code): its
ratios, the alternated order of the runs, its JSON and its exit codes (0 all timed, 1 a build
incorrect, 2 bad input, 3 no GPU), with a one-line message and no traceback.

Plain Python (no pytest): run it directly, or through CTest as the test `python_ab_builds`.
Exit status 0 when every check passes, 1 otherwise (each failure printed).
"""
import json
import os
import stat
import sys
import tempfile

from script_cases import failures_of, report

# A stand-in for `dsconv bench`: logs its name to LOG, sleeps SLEEP seconds, then writes a result file with one row
# of MEDIAN ms (STATUS) on GPU, or prints a message and exits EXIT.
FAKE = """#!/usr/bin/env python3
import json, sys, time
NAME, MEDIAN, STATUS, GPU, EXIT, LOG = {name!r}, {median!r}, {status!r}, {gpu!r}, {exit!r}, {log!r}
time.sleep({sleep!r})
with open(LOG, "a") as f:
    f.write(NAME + "\\n")
if EXIT:
    print("dsconv: error: no CUDA device" if EXIT == 3 else "dsconv: error: bad --problem", file=sys.stderr)
    sys.exit(EXIT)
args = sys.argv[1:]
assert args[0] == "bench", args
path = args[args.index("--json") + 1]
row = {{"benchmark": "fused/forward/n16", "status": STATUS, "median_ms": MEDIAN, "reason": "",
        "clocks": {{"sm_mhz_median": 1980.0, "limited_pct": 20.0, "limit_reasons": ["power cap"]}}}}
with open(path, "w") as f:
    json.dump({{"dsconv": {{"device": {{"gpu": GPU}}, "rows": [row]}}}}, f)
sys.exit(1 if STATUS in ("incorrect", "error") else 0)
"""


def main():
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "runs.log")

        def fake(name, median=1.0, status="ok", gpu="NVIDIA H200", exit=0, sleep=0.0):
            path = os.path.join(tmp, name)
            with open(path, "w", encoding="utf-8") as f:
                f.write(FAKE.format(name=name, median=median, status=status, gpu=gpu, exit=exit, log=log, sleep=sleep))
            os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
            return f"{name}={path}"

        main_build, faster = fake("main", 1.0), fake("change", 0.9)
        out = os.path.join(tmp, "ab.json")
        expect = [
            ("two builds", (main_build, faster, "--rounds", "2"), 0, "0.900x"),
            ("reference ratio", (main_build, faster), 0, "1.000x"),
            ("clock beside each time", (main_build, faster), 0, "1980 MHz, power cap 20%"),
            ("--out", (main_build, faster, "--rounds", "4", "--out", out), 0, "0.900x"),
            ("incorrect build", (main_build, fake("wrong", 0.5, status="incorrect")), 1,
             "wrong: incorrect or failed, so no speed"),
            ("skipped row", (main_build, faster, fake("skips", status="skipped")), 0, "skips"),
            ("incorrect reference", (fake("wrongref", status="incorrect"), faster), 1,
             "the reference build wrongref has no time"),
            ("no GPU", (fake("nogpu", exit=3), faster), 3, "no CUDA device"),
            ("dsconv refuses input", (fake("refuses", exit=2), faster), 2, "bad --problem"),
            ("other GPU", (main_build, fake("other", gpu="NVIDIA H100")), 2, "an A/B needs one card"),
            ("one build", (main_build,), 2, "expected at least two builds"),
            ("not NAME=PATH", (main_build, "change"), 2, "expected NAME=PATH"),
            ("missing binary", (main_build, f"x={os.path.join(tmp, 'absent')}"), 2, "is not an executable file"),
            ("repeated name", (main_build, main_build), 2, "given twice"),
            ("--rounds 0", (main_build, faster, "--rounds", "0"), 2, "expected 1 to 100"),
            ("--out in a missing folder", (main_build, faster, "--out", os.path.join(tmp, "no", "ab.json")), 2,
             "its folder does not exist"),
            ("--time-limit 0", (main_build, faster, "--time-limit", "0"), 2, "expected a positive number"),
            ("--bench-args unbalanced", (main_build, faster, "--bench-args", '"--warm-cache'), 2, "--bench-args"),
        ]
        failures = failures_of("ab_builds.py", expect)

        # The JSON of the --out case: four rounds of each, the ratio of their medians.
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
        entry = doc["benchmarks"]["fused/forward/n16"]["change"]
        if doc["reference"] != "main" or len(entry["round_medians_ms"]) != 4 or abs(entry["vs_reference"] - 0.9) > 1e-9:
            failures.append(f"--out: unexpected summary {json.dumps(doc)[:300]}")
        # Written as a plain open() would write it (the umask's mode, not a temporary file's
        # 0600), with no temporary file left beside it.
        umask = os.umask(0)
        os.umask(umask)
        mode = os.stat(out).st_mode & 0o777
        if mode != 0o666 & ~umask:
            failures.append(f"--out: mode {mode:o}, expected {0o666 & ~umask:o} under umask {umask:03o}")
        leftovers = [name for name in os.listdir(os.path.dirname(out)) if name.endswith(".tmp")]
        if leftovers:
            failures.append(f"--out: temporary files left: {leftovers}")

        # Alternated order: a round of the two builds, then the same two reversed.
        os.remove(log)
        failures += failures_of("ab_builds.py", [("order", (main_build, faster, "--rounds", "3"), 0, "0.900x")])
        with open(log, encoding="utf-8") as f:
            order = f.read().split()
        if order != ["main", "change", "change", "main", "main", "change"]:
            failures.append(f"order: runs went {order}, expected the order reversed every other round")
        # No partial file: a failed comparison leaves --out unwritten.
        refused = os.path.join(tmp, "refused.json")
        no_gpu_case = ("no file on exit 3", (fake("nogpu2", exit=3), faster, "--out", refused), 3, "no CUDA device")
        failures += failures_of("ab_builds.py", [no_gpu_case])
        if os.path.exists(refused):
            failures.append("no file on exit 3: --out was written")
        # --time-limit: a round of two 0.4 s runs takes about 1 s, so a second would end past
        # 1.5 s and is not started; the summary and the JSON are of the one round done.
        slow_a, slow_b = fake("slow_a", 1.0, sleep=0.4), fake("slow_b", 0.8, sleep=0.4)
        limited = os.path.join(tmp, "limited.json")
        failures += failures_of("ab_builds.py", [("--time-limit", (slow_a, slow_b, "--rounds", "5", "--time-limit",
                                                                   "1.5", "--out", limited), 0, "1 of 5 rounds")])
        if os.path.exists(limited):
            with open(limited, encoding="utf-8") as f:
                doc = json.load(f)
            entry = doc["benchmarks"]["fused/forward/n16"]["slow_b"]
            if doc["rounds"] != 1 or doc["rounds_asked"] != 5 or len(entry["round_medians_ms"]) != 1:
                failures.append(f"--time-limit: unexpected summary {json.dumps(doc)[:300]}")
        else:
            failures.append("--time-limit: --out was not written")
        expect += [("order", None, 0, ""), ("no file on exit 3", None, 3, ""), ("--time-limit", None, 0, "")]
    return report("test_ab_builds", expect, failures)


if __name__ == "__main__":
    sys.exit(main())
