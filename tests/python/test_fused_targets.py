#!/usr/bin/env python3
"""Checks scripts/fused_targets.py's verdicts and exit codes on made-up result files: 0 when
every target is met, 1 when one is not, 2 for bad input, with a one-line message and no
traceback.

Plain Python (no pytest): run it directly, or through CTest as the test `python_fused_targets`.
Exit status 0 when every check passes, 1 otherwise (each failure printed).
"""
import json
import os
import sys
import tempfile

from script_cases import failures_of, report


def row(problem, impl, pass_, ms, status="ok", floor_ms=None):
    r = {"benchmark": f"{impl}/{pass_}/{problem}", "impl": impl, "pass": pass_, "label": problem,
         "status": status, "median_ms": ms}
    if floor_ms is not None:
        r["floor_ms"] = floor_ms
    return r


def seed_rows(fused_fwd=1.2, fused_bwd=3.0, cudnn_fwd=4.0, torch_fwd=5.0, torch_bwd=16.0, floor=1.0):
    p = "seed_problem"
    return [row(p, "cudnn", "forward", cudnn_fwd), row(p, "cudnn", "backward", 18.0),
            row(p, "torch_eager", "forward", torch_fwd), row(p, "torch_eager", "backward", torch_bwd),
            row(p, "fused", "forward", fused_fwd, floor_ms=floor), row(p, "fused", "backward", fused_bwd)]


def mobilenet_rows(slow_layer=None):
    rows = []
    for layer in ("b1", "b2", "b3"):
        rows += [row(layer, "cudnn", "forward", 0.1), row(layer, "fused", "forward", 0.2 if layer == slow_layer else 0.08)]
    return rows


def document(rows):
    return {"benchmarks": [], "dsconv": {"format": 1, "git_commit": "abc1234", "device": {"gpu": "Test GPU"},
                                         "rows": rows}}


def main():
    with tempfile.TemporaryDirectory() as tmp:
        def write(name, rows=None, text=None):
            path = os.path.join(tmp, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text if text is not None else json.dumps(document(rows)))
            return path

        def folder(name, seed, mobilenet):
            write(os.path.join(name, "seed.json"), seed)
            write(os.path.join(name, "mobilenet.json"), mobilenet)
            return os.path.join(tmp, name)

        good_seed = write("seed.json", seed_rows())
        good_mobilenet = write("mobilenet.json", mobilenet_rows())
        two_problems = seed_rows() + [row("other", "fused", "forward", 1.0)]
        no_torch = [r for r in seed_rows() if r["impl"] != "torch_eager"]
        no_floor = seed_rows()
        del no_floor[4]["floor_ms"]
        incorrect = seed_rows()
        incorrect[5]["status"] = "incorrect"
        expect = [
            ("every target met", (folder("good", seed_rows(), mobilenet_rows()),), 0, "5 of 5 targets met"),
            ("seed file alone", ("--seed", good_seed), 0, "4 of 4 targets met"),
            # 1.32 / 4.0 is 0.33 exactly (a division by 4): the limit itself is met.
            ("forward at the limit", ("--seed", write("limit.json", seed_rows(fused_fwd=1.32, floor=1.1))), 0,
             "1.320 / 4.000 ms = 0.330x   0.33x  met"),
            ("forward over cudnn's limit", ("--seed", write("fwd.json", seed_rows(fused_fwd=1.33))), 1,
             "forward vs cudnn forward                    1.330 / 4.000 ms = 0.333x   0.33x  NOT MET"),
            ("forward over its floor", ("--seed", write("floor.json", seed_rows(floor=0.9))), 1,
             "1.200 / 0.900 ms = 1.333x    1.3x  NOT MET"),
            ("backward over", ("--seed", write("bwd.json", seed_rows(fused_bwd=4.1))), 1,
             "4.100 / 16.000 ms = 0.256x   0.25x  NOT MET"),
            # Each pass within its own target (the backward at its limit), their sum not.
            ("both over", ("--seed", write("both.json", seed_rows(fused_bwd=4.0, torch_fwd=0.5))), 1,
             "5.200 / 16.500 ms = 0.315x    0.3x  NOT MET"),
            ("incorrect fused backward", ("--seed", write("incorrect.json", incorrect)), 1, "fused row not ok"),
            ("a slower layer", ("--seed", good_seed, "--mobilenet", write("slow.json", mobilenet_rows("b2"))), 1,
             "2 of 3 layers          NOT MET: b2 (0.500x)"),
            ("two problems in the seed file", ("--seed", write("two.json", two_problems)), 2, "holds 2 problems"),
            ("no torch_eager rows", ("--seed", write("notorch.json", no_torch)), 2,
             "no torch_eager forward row for seed_problem"),
            ("no floor", ("--seed", write("nofloor.json", no_floor)), 2, "floor_ms is None"),
            ("no fused rows in MobileNet", ("--seed", good_seed, "--mobilenet",
                                            write("nofused.json", [row("b1", "cudnn", "forward", 0.1)])), 2,
             "no fused forward row"),
            ("truncated file", ("--seed", write("cut.json", text=json.dumps(document(seed_rows()))[:100])), 2,
             "not valid JSON"),
            ("missing file", ("--seed", os.path.join(tmp, "absent.json")), 2, "cannot read"),
            ("not a folder", (os.path.join(tmp, "absent"),), 2, "not a folder"),
            ("folder and files", (tmp, "--seed", good_seed), 2, "not both"),
            ("nothing", (), 2, "nothing to check"),
        ]
        failures = failures_of("fused_targets.py", expect)
    return report("test_fused_targets", expect, failures)


if __name__ == "__main__":
    sys.exit(main())
