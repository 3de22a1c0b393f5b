#!/usr/bin/env python3
"""The `fused` implementation's performance targets, checked against sweep result files.

  scripts/fused_targets.py results/h100          # its seed.json and mobilenet.json
  scripts/fused_targets.py --seed S.json [--mobilenet M.json]

The seed file must hold one problem (sweeps/seed.yaml: KernelBench L1#86), timed with the
PyTorch baselines, so that every ratio compares rows of one run on one card:

  forward             <= 0.33 x cudnn's forward
  forward             <= 1.3 x the row's floor (the larger of its memory and FFMA floors at
                         the ceilings the sweep measured: the row's floor_ms)
  backward            <= 0.25 x torch_eager's backward
  forward + backward  <= 0.3 x torch_eager's forward + backward (sums of the medians)

and, from the MobileNet file (sweeps/mobilenet.yaml), `fused` forward faster than cudnn's on
every layer. A `fused` row that is not "ok" (an incorrect result, an error) meets no target.

Prints a line a target with the times it compares; exit 0 when every target is met, 1 when
one is not, 2 on bad input (the message names the file and what is missing).
"""
import argparse
import os

from result_file import InputError, exit_with, load_block, positive_time

FUSED = "fused"
# Each ratio of the seed shape (fused over its reference) must be at most its limit.
FORWARD_VS_CUDNN = 0.33
FORWARD_VS_FLOOR = 1.3
BACKWARD_VS_TORCH = 0.25
BOTH_VS_TORCH = 0.3


class Sweep:
    """A result file's rows by (problem, implementation, pass)."""

    def __init__(self, path):
        self.path = path
        block = load_block(path)
        self.device = block["device"].get("gpu", "an unnamed GPU")
        self.commit = block.get("git_commit", "unknown")
        self.rows = {}
        self.problems = []  # in the file's order
        for i, row in enumerate(block["rows"]):
            name, impl, pass_ = row.get("benchmark"), row.get("impl"), row.get("pass")
            if not all(isinstance(v, str) for v in (name, impl, pass_)) or name.count("/") < 2:
                raise InputError(f"{path}: dsconv.rows[{i}]: expected benchmark, impl and pass names")
            problem = name.split("/", 2)[2]
            if problem not in self.problems:
                self.problems.append(problem)
            self.rows[(problem, impl, pass_)] = row

    def label(self, problem):
        row = next(r for (p, _, _), r in self.rows.items() if p == problem)
        return row.get("label") or problem

    def fused(self, problem, pass_):
        """fused's row, or None where it was not ok (its status then says why)."""
        row = self.rows.get((problem, FUSED, pass_))
        if row is None:
            raise InputError(f"{self.path}: no {FUSED} {pass_} row for {self.label(problem)}")
        return row if row.get("status") == "ok" else None

    def median(self, problem, impl, pass_):
        """A reference row's median (ms): it must be there and ok."""
        row = self.rows.get((problem, impl, pass_))
        if row is None or row.get("status") != "ok":
            what = "no" if row is None else f"a {row.get('status')}"
            raise InputError(f"{self.path}: {what} {impl} {pass_} row for {self.label(problem)}; "
                             f"the targets compare against an ok one")
        return self.time(row, "median_ms")

    def time(self, row, field):
        value = row.get(field)
        if not positive_time(value):
            raise InputError(f"{self.path}: {row.get('benchmark')}: {field} is {value!r}, "
                             "expected a positive time in ms")
        return value


def ratio_line(what, numerator, denominator, limit):
    """One target's line and whether it is met; numerator None: fused's row was not ok."""
    if numerator is None:
        return f"{what:<34} {'fused row not ok':>34}  {limit:>5}x  NOT MET", False
    ratio = numerator / denominator
    met = ratio <= limit
    measured = f"{numerator:.3f} / {denominator:.3f} ms = {ratio:.3f}x"
    return f"{what:<34} {measured:>34}  {limit:>5}x  {'met' if met else 'NOT MET'}", met


def seed_targets(sweep):
    if len(sweep.problems) != 1:
        raise InputError(f"{sweep.path}: holds {len(sweep.problems)} problems; the targets are for one "
                         "(the seed sweep's)")
    problem = sweep.problems[0]
    fwd, bwd = sweep.fused(problem, "forward"), sweep.fused(problem, "backward")
    fwd_ms = sweep.time(fwd, "median_ms") if fwd else None
    bwd_ms = sweep.time(bwd, "median_ms") if bwd else None
    torch_fwd = sweep.median(problem, "torch_eager", "forward")
    torch_bwd = sweep.median(problem, "torch_eager", "backward")
    both_ms = fwd_ms + bwd_ms if fwd and bwd else None
    print(f"{sweep.label(problem)} on {sweep.device} ({sweep.path}, commit {sweep.commit})")
    print(f"{'target':<34} {'fused / reference':>34}  {'limit':>6}  verdict")
    return [
        ratio_line("forward vs cudnn forward", fwd_ms, sweep.median(problem, "cudnn", "forward"), FORWARD_VS_CUDNN),
        ratio_line("forward vs its floor", fwd_ms, sweep.time(fwd, "floor_ms") if fwd else None, FORWARD_VS_FLOOR),
        ratio_line("backward vs torch_eager backward", bwd_ms, torch_bwd, BACKWARD_VS_TORCH),
        ratio_line("both vs torch_eager both", both_ms, torch_fwd + torch_bwd, BOTH_VS_TORCH),
    ]


def mobilenet_target(sweep):
    """fused forward faster than cudnn's on every layer: the line, and whether it is met."""
    speedups, losses = {}, []  # speedups: cudnn median / fused median, of the ok fused rows
    layers = [problem for problem in sweep.problems if (problem, FUSED, "forward") in sweep.rows]
    if not layers:
        raise InputError(f"{sweep.path}: no {FUSED} forward row")
    for problem in layers:
        label, fused = sweep.label(problem), sweep.fused(problem, "forward")
        if fused is None:
            losses.append(f"{label} (fused {sweep.rows[(problem, FUSED, 'forward')].get('status')})")
            continue
        speedups[label] = sweep.median(problem, "cudnn", "forward") / sweep.time(fused, "median_ms")
        if speedups[label] <= 1.0:
            losses.append(f"{label} ({speedups[label]:.3f}x)")
    print(f"\nMobileNet layers on {sweep.device} ({sweep.path}, commit {sweep.commit})")
    if speedups:
        least, most = min(speedups, key=speedups.get), max(speedups, key=speedups.get)
        print(f"fused forward against cudnn's: {least} {speedups[least]:.3f}x to {most} {speedups[most]:.3f}x")
    met = not losses
    verdict = "met" if met else "NOT MET: " + ", ".join(losses)
    print(f"{'forward faster than cudnn':<34} {f'{len(layers) - len(losses)} of {len(layers)} layers':>34}  "
          f"{'':>6}  {verdict}")
    return met


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("results", nargs="?", help="a results/<gpu> folder with seed.json and mobilenet.json")
    p.add_argument("--seed", help="the seed sweep's result file")
    p.add_argument("--mobilenet", help="the MobileNet sweep's result file (optional with --seed)")
    a = p.parse_args()
    if a.results and (a.seed or a.mobilenet):
        raise InputError("give a results folder or --seed/--mobilenet, not both")
    if a.results:
        if not os.path.isdir(a.results):
            raise InputError(f"{a.results}: not a folder")
        a.seed, a.mobilenet = (os.path.join(a.results, f"{name}.json") for name in ("seed", "mobilenet"))
    if not a.seed:
        raise InputError("nothing to check: give a results folder or --seed")
    verdicts = []
    for line, met in seed_targets(Sweep(a.seed)):
        print(line)
        verdicts.append(met)
    if a.mobilenet:
        verdicts.append(mobilenet_target(Sweep(a.mobilenet)))
    print(f"\n{sum(verdicts)} of {len(verdicts)} targets met")
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    exit_with(main, "fused_targets")
