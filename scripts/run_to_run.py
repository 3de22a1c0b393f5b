#!/usr/bin/env python3
"""Run-to-run agreement of two result files of the same sweep on the same card.

  scripts/run_to_run.py results/h200/seed.run1.json results/h200/seed.json [--limit 3]

For every row timed in both (same benchmark name), prints the medians and their relative
difference, then the largest one; exits 1 when it is over --limit percent. This is the
noise floor a regression threshold (dsconv gate --max-slowdown) must sit above.
"""
import argparse
import json
import sys


def rows(path):
    try:
        with open(path) as f:
            doc = json.load(f)
        return {r["benchmark"]: r for r in doc["dsconv"]["rows"] if r.get("status") == "ok"}, doc["dsconv"]["device"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        sys.exit(f"run_to_run: {path}: not a dsconv result file ({e})")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--limit", type=float, default=3.0, help="largest allowed difference, percent (default 3)")
    a = p.parse_args()
    first, device_a = rows(a.first)
    second, device_b = rows(a.second)
    if device_a.get("gpu") != device_b.get("gpu"):
        sys.exit(f"run_to_run: {a.first} ran on {device_a.get('gpu')}, {a.second} on {device_b.get('gpu')}")
    common = [name for name in first if name in second]
    if not common:
        sys.exit("run_to_run: no row is timed in both files")
    worst_name, worst = None, 0.0
    print(f"{'benchmark':<70} {'first ms':>10} {'second ms':>10} {'diff':>7}")
    for name in common:
        m1, m2 = first[name]["median_ms"], second[name]["median_ms"]
        diff = 100.0 * (m2 - m1) / m1
        print(f"{name:<70} {m1:>10.4f} {m2:>10.4f} {diff:>+6.2f}%")
        if abs(diff) > abs(worst):
            worst_name, worst = name, diff
    print(f"\nlargest difference: {worst:+.2f}% ({worst_name}) over {len(common)} rows; limit {a.limit}%")
    return 1 if abs(worst) > a.limit else 0


if __name__ == "__main__":
    sys.exit(main())
