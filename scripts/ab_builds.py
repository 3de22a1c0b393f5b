#!/usr/bin/env python3
"""Two or more builds of dsconv timed side by side on one card: an A/B of a kernel change.

  scripts/ab_builds.py main=build-main/harness/dsconv change=build-hopper/harness/dsconv
  scripts/ab_builds.py --impl fused --pass backward --rounds 5 --out ab.json a=A b=B c=C

Each round runs `dsconv bench` once with every build, in turn (the order reversed every
other round, so that no build always runs first or last after the card has warmed), and
reads back its result file. Times of two builds are comparable only this way: in one call on
one card, alternated, with each run's SM clock beside its time (a card held at its power
cap runs slower, and a build that draws less power gains from that; the table shows it).

For every benchmark it prints each build's median over the rounds of its medians, the
spread of those, the ratio to the first build (below 1: faster) and the SM clock. --out
also writes them as JSON (written once, at the end: never a partial file).

Every run verifies before it times (`dsconv bench`): a build whose result is incorrect on a
round has no time, and the script exits 1.

With --time-limit, a round that would end past the limit (judged by the longest round so
far) is not started, and the comparison is of the rounds done: on a GPU session whose call is
killed at a time limit, a summary of two whole rounds is worth more than none of three.

Exit codes: 0 every build verified and timed; 1 a build's result was incorrect (or its
run failed); 2 bad input (a build that is not NAME=PATH to an executable, fewer than two
builds, a repeated name, an --out that cannot be written, builds that ran on different
GPUs, a result file that cannot be read); 3 no usable GPU or library (dsconv's exit 3,
whose message is passed on).
"""
import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

from result_file import InputError, check_writable, exit_with, load_block, positive_time, write_json_atomically

# dsconv's exit codes that end the whole comparison: bad input and no usable GPU are the
# same for every build, so the first one that says so speaks for all.
BAD_INPUT, NO_GPU = 2, 3


class Build:
    def __init__(self, spec):
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise InputError(f"{spec!r}: expected NAME=PATH to a dsconv binary")
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise InputError(f"{name}: {path} is not an executable file")
        self.name, self.path = name, path
        self.rounds = {}  # benchmark -> [its row of each round]
        self.failure = None  # why the build has no time, once it has failed


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("builds", nargs="*", metavar="NAME=PATH", help="the builds; the first is the reference")
    p.add_argument("--impl", default="fused", help="implementation(s), as dsconv bench takes them (default fused)")
    p.add_argument("--pass", dest="pass_", default="forward", choices=["forward", "backward", "both"])
    p.add_argument("--problem", action="append", help="a problem as dsconv bench takes it (default seed); repeatable")
    p.add_argument("--rounds", type=int, default=3, help="runs of every build (default 3)")
    p.add_argument("--repetitions", type=int, default=5, help="repetitions a run (default 5)")
    p.add_argument("--bench-args", default="", help='more dsconv bench options for every run, e.g. "--warm-cache"')
    p.add_argument("--out", help="also write the comparison as JSON")
    p.add_argument("--time-limit", type=float, metavar="SECONDS",
                   help="start no round that would end past this many seconds from the start, judged by the "
                        "longest round so far; the comparison is then of the rounds done (for a time-limited "
                        "GPU session, where a killed run would print nothing)")
    a = p.parse_args()
    if len(a.builds) < 2:
        raise InputError(f"expected at least two builds (NAME=PATH), got {len(a.builds)}")
    if not 1 <= a.rounds <= 100:
        raise InputError(f"--rounds {a.rounds}: expected 1 to 100")
    if not 1 <= a.repetitions <= 1000:
        raise InputError(f"--repetitions {a.repetitions}: expected 1 to 1000")
    if a.time_limit is not None and not a.time_limit > 0:
        raise InputError(f"--time-limit {a.time_limit}: expected a positive number of seconds")
    if a.out:
        if not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
            raise InputError(f"--out {a.out}: its folder does not exist")
        check_writable(a.out)
    try:
        a.bench_args = shlex.split(a.bench_args)
    except ValueError as e:
        raise InputError(f"--bench-args: {e}") from None
    builds = [Build(spec) for spec in a.builds]
    names = [b.name for b in builds]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InputError(f"build name {repeated[0]!r} given twice: names must differ")
    return a, builds


def bench_command(a, build, json_path):
    command = [build.path, "bench", "--impl", a.impl, "--pass", a.pass_, "--repetitions", str(a.repetitions),
               "--json", json_path, *a.bench_args]
    for problem in a.problem or ["seed"]:
        command += ["--problem", problem]
    return command


def clock_text(row):
    clocks = row.get("clocks")
    if not isinstance(clocks, dict) or not isinstance(clocks.get("sm_mhz_median"), (int, float)):
        return "-"
    text = f"{clocks['sm_mhz_median']:.0f} MHz"
    limited = clocks.get("limited_pct")
    if isinstance(limited, (int, float)) and limited > 0:
        reasons = ", ".join(clocks.get("limit_reasons") or []) or "limited"
        text += f", {reasons} {limited:.0f}%"
    return text


def run_once(a, build, round_index, workdir, device):
    """One `dsconv bench` of `build`; its ok rows go into build.rounds. Returns the device
    block of its result file."""
    json_path = os.path.join(workdir, f"{build.name}.round{round_index}.json")
    r = subprocess.run(bench_command(a, build, json_path), capture_output=True, text=True)
    where = f"round {round_index + 1}/{a.rounds}, {build.name}"
    if r.returncode in (BAD_INPUT, NO_GPU):
        message = (r.stderr.strip() or r.stdout.strip()).splitlines()[-1:] or ["(no message)"]
        stop(r.returncode, f"{where}: dsconv bench exit {r.returncode}: {message[0]}")
    # Exit 1 (a check failed) still writes the file, whose rows say which and why.
    if r.returncode not in (0, 1) or not os.path.exists(json_path):
        tail = (r.stderr.strip() or r.stdout.strip())[-300:] or "(no message)"
        build.failure = f"{where}: dsconv bench exit {r.returncode}: {tail}"
        return device
    block = load_block(json_path)
    if device is not None and block["device"].get("gpu") != device.get("gpu"):
        raise InputError(f"{where} ran on {block['device'].get('gpu')}, earlier runs on {device.get('gpu')}: "
                         "an A/B needs one card")
    for i, row in enumerate(block["rows"]):
        name = row.get("benchmark")
        if row.get("status") == "skipped":  # the implementation does not take this problem
            continue
        if row.get("status") != "ok":
            build.failure = f"{where}: {name}: {row.get('status')} {row.get('reason', '')}".rstrip()
            return block["device"]
        if not isinstance(name, str) or not positive_time(row.get("median_ms")):
            raise InputError(f"{json_path}: dsconv.rows[{i}]: an ok row needs a benchmark and a positive median_ms")
        build.rounds.setdefault(name, []).append(row)
        print(f"[{where}] {name}: {row['median_ms']:.4f} ms ({clock_text(row)})", file=sys.stderr, flush=True)
    if r.returncode != 0:
        build.failure = f"{where}: dsconv bench exit {r.returncode} with every row ok"
    return block["device"]


def stop(code, message):
    """Ends the comparison with dsconv's own exit code (bad input, no GPU) and its message."""
    print(f"ab_builds: error: {message}", file=sys.stderr)
    sys.exit(code)


def summarize(builds, reference):
    """Per benchmark and build: the median of its round medians, their spread, the ratio to
    the reference build and the clocks."""
    summary = {}
    for name in reference.rounds:
        entries = {}
        base = statistics.median(row["median_ms"] for row in reference.rounds[name])
        for build in builds:
            rows = build.rounds.get(name)
            if build.failure or not rows:
                entries[build.name] = {"failure": build.failure or "not timed"}
                continue
            medians = [row["median_ms"] for row in rows]
            median = statistics.median(medians)
            entries[build.name] = {
                "median_ms": median,
                "round_medians_ms": medians,
                "spread_pct": 100.0 * (max(medians) - min(medians)) / median,
                "vs_reference": median / base,
                "clocks": [clock_text(row) for row in rows],
            }
        summary[name] = entries
    return summary


def print_table(summary, reference_name):
    print(f"\nmedian of the rounds' medians; ratio to {reference_name} (below 1: faster)")
    for name, entries in summary.items():
        print(f"\n{name}")
        print(f"  {'build':<16} {'ms':>9} {'spread':>7} {'ratio':>7}  SM clock (each round)")
        for build, e in entries.items():
            if "failure" in e:
                print(f"  {build:<16} {'-':>9} {'-':>7} {'-':>7}  no time: {e['failure']}")
                continue
            print(f"  {build:<16} {e['median_ms']:>9.4f} {e['spread_pct']:>6.1f}% {e['vs_reference']:>6.3f}x  "
                  + " | ".join(e["clocks"]))


def main():
    a, builds = parse_args()
    device = None
    rounds_done, longest_round, start = 0, 0.0, time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ab_builds.") as workdir:
        for round_index in range(a.rounds):
            round_start = time.monotonic()
            if a.time_limit is not None and round_start - start + longest_round > a.time_limit:
                print(f"ab_builds: --time-limit {a.time_limit:g} s: stopping after {rounds_done} of {a.rounds} rounds",
                      file=sys.stderr)
                break
            order = builds if round_index % 2 == 0 else builds[::-1]
            for build in order:
                if build.failure is None:
                    device = run_once(a, build, round_index, workdir, device)
            rounds_done += 1
            longest_round = max(longest_round, time.monotonic() - round_start)
    reference = builds[0]
    if reference.failure or not reference.rounds:
        for build in builds:
            if build.failure:
                print(f"{build.name}: no time: {build.failure}")
        print(f"ab_builds: the reference build {reference.name} has no time: nothing to compare against")
        return 1
    summary = summarize(builds, reference)
    rounds_text = f"{a.rounds} rounds"
    if rounds_done < a.rounds:
        rounds_text = f"{rounds_done} of {a.rounds} rounds (--time-limit)"
    print(f"{device.get('gpu', '?')}: {len(builds)} builds, {rounds_text}, "
          f"{a.repetitions} repetitions a run, alternated")
    print_table(summary, reference.name)
    if a.out:
        write_json_atomically(a.out, {"device": device, "reference": reference.name, "rounds": rounds_done,
                                      "rounds_asked": a.rounds, "repetitions": a.repetitions,
                                      "builds": {b.name: b.path for b in builds}, "benchmarks": summary})
    failed = [b for b in builds if b.failure]
    for build in failed:
        print(f"\n{build.name}: incorrect or failed, so no speed: {build.failure}")
    return 1 if failed else 0


if __name__ == "__main__":
    exit_with(main, "ab_builds")
