#!/usr/bin/env python3
"""Run-to-run agreement of two result files of the same sweep on the same card.

  scripts/run_to_run.py results/h200/seed.run1.json results/h200/seed.json [--limit 3]

For every row timed in both (same benchmark name), prints the medians and their relative
difference, then the largest one; exits 1 when it is over --limit percent. This is the
noise floor a regression threshold (dsconv gate --max-slowdown) must sit above.

Exit codes: 0 within the limit; 1 over it; 2 bad input (a file that is not a dsconv result
file, results from two different GPUs, no row timed in both).
"""
import argparse
import json
import math

from result_file import InputError, exit_with, load_block, positive_time


def rows(path):
    """The ok rows of a result file by benchmark name, and its device block."""
    block = load_block(path)
    timed = {}
    for i, row in enumerate(block["rows"]):
        if row.get("status") != "ok":
            continue
        where = f"{path}: dsconv.rows[{i}]"
        if not isinstance(row.get("benchmark"), str):
            raise InputError(f"{where}: an ok row needs a benchmark name")
        if not positive_time(row.get("median_ms")):
            raise InputError(f"{where}.median_ms: expected a positive time in ms, got "
                             f"{json.dumps(row.get('median_ms'))}")
        timed[row["benchmark"]] = row
    return timed, block["device"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("first")
    p.add_argument("second")
    p.add_argument("--limit", type=float, default=3.0, help="largest allowed difference, percent (default 3)")
    a = p.parse_args()
    if not (math.isfinite(a.limit) and a.limit >= 0):
        raise InputError(f"--limit {a.limit}: expected a percentage >= 0")
    first, device_a = rows(a.first)
    second, device_b = rows(a.second)
    if device_a.get("gpu") != device_b.get("gpu"):
        raise InputError(f"{a.first} ran on {device_a.get('gpu')}, {a.second} on {device_b.get('gpu')}: "
                         "run-to-run needs one card")
    common = [name for name in first if name in second]
    if not common:
        raise InputError(f"no row is timed in both {a.first} and {a.second}")
    worst_name, worst = None, 0.0
    print(f"{'benchmark':<70} {'first ms':>10} {'second ms':>10} {'diff':>7}")
    for name in common:
        m1, m2 = first[name]["median_ms"], second[name]["median_ms"]
        diff = 100.0 * (m2 - m1) / m1
        print(f"{name:<70} {m1:>10.4f} {m2:>10.4f} {diff:>+6.2f}%")
        if worst_name is None or abs(diff) > abs(worst):
            worst_name, worst = name, diff
    print(f"\nlargest difference: {worst:+.2f}% ({worst_name}) over {len(common)} rows; limit {a.limit}%")
    return 1 if abs(worst) > a.limit else 0


if __name__ == "__main__":
    exit_with(main, "run_to_run")
