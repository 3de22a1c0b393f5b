#!/usr/bin/env python3
"""Google Benchmark's own tools/compare.py must read dsconv's result files.

Runs compare.py (Debian: libbenchmark-tools, /usr/share/benchmark/compare.py) on two real
runs of the seed sweep committed under results/ (the H100's and the H200's: the same
benchmarks on two cards), and checks that it compared every timed benchmark. Exits 77
(CTest: skipped) when compare.py or its numpy/scipy are not installed.
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CANDIDATES = [os.environ.get("GBENCH_COMPARE", ""), "/usr/share/benchmark/compare.py",
              "/usr/local/share/benchmark/compare.py"]
RUNS = [os.path.join(ROOT, "results", gpu, "seed.json") for gpu in ("h100", "h200")]
SKIP = 77


def main():
    compare = next((c for c in CANDIDATES if c and os.path.isfile(c)), None)
    if compare is None:
        print("SKIPPED: Google Benchmark's compare.py is not installed (Debian package libbenchmark-tools)")
        return SKIP
    for module in ("numpy", "scipy"):
        try:
            __import__(module)
        except ImportError:
            print(f"SKIPPED: compare.py needs {module}, which is not installed")
            return SKIP
    result = subprocess.run([sys.executable, compare, "benchmarks", *RUNS], capture_output=True, text=True,
                            timeout=120)
    print(result.stdout[-3000:])
    if result.returncode != 0:
        print(result.stderr[-3000:])
        print(f"FAIL: compare.py exited {result.returncode}")
        return 1
    with open(RUNS[0]) as f:
        names = {b["run_name"] for b in json.load(f)["benchmarks"] if b.get("run_type") == "iteration"}
    common = set()
    with open(RUNS[1]) as f:
        common = names & {b["run_name"] for b in json.load(f)["benchmarks"] if b.get("run_type") == "iteration"}
    missing = [n for n in sorted(common) if n not in result.stdout]
    if not common or missing:
        print(f"FAIL: compare.py's table lacks {missing or 'every benchmark'}")
        return 1
    print(f"ok: compare.py compared {len(common)} benchmarks")
    return 0


if __name__ == "__main__":
    sys.exit(main())
