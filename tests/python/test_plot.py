#!/usr/bin/env python3
"""Checks that scripts/plot.py renders a results file, compares two, and rejects bad input.

Plain Python (no pytest): run it directly, or through CTest as the test `python_plot`:
  python3 tests/python/test_plot.py
It draws tests/data/reports/sweep_fixture.json (two passes; cudnn, cudnn_tf32, naive and
torch_eager; one incorrect and one skipped row) into a temporary folder and checks the files.
Exit status 0 when every check passes, 1 otherwise (each failure printed).
"""
import copy
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PLOT = os.path.join(ROOT, "scripts", "plot.py")
FIXTURE = os.path.join(ROOT, "tests", "data", "reports", "sweep_fixture.json")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_PNG_BYTES = 10_000  # a blank or failed figure is far smaller than three rows of panels


def run_plot(*args):
    return subprocess.run([sys.executable, PLOT, *args], capture_output=True, text=True, timeout=300)


def check_rendered(prefix, failures):
    """The PNG is a real, non-trivial PNG and the SVG exists next to it."""
    png, svg = prefix + ".png", prefix + ".svg"
    if not os.path.isfile(png):
        failures.append(f"{png} was not written")
        return
    with open(png, "rb") as f:
        head = f.read(len(PNG_SIGNATURE))
    if head != PNG_SIGNATURE:
        failures.append(f"{png} does not start with the PNG signature (found {head!r})")
    size = os.path.getsize(png)
    if size <= MIN_PNG_BYTES:
        failures.append(f"{png} is only {size} bytes (expected more than {MIN_PNG_BYTES})")
    if not os.path.isfile(svg) or os.path.getsize(svg) == 0:
        failures.append(f"{svg} was not written (or is empty)")


def expect_success(result, what, failures):
    if result.returncode != 0:
        failures.append(f"{what}: exit status {result.returncode}, stderr:\n{result.stderr}")
        return False
    return True


def test_sweep_plot(tmp, failures):
    prefix = os.path.join(tmp, "sweep")
    if expect_success(run_plot(FIXTURE, "--out", prefix), "plot.py FIXTURE", failures):
        check_rendered(prefix, failures)


def test_default_prefix(tmp, failures):
    # Without --out the images go next to the JSON, named after it.
    copy_path = os.path.join(tmp, "copy.json")
    with open(FIXTURE, encoding="utf-8") as src, open(copy_path, "w", encoding="utf-8") as dst:
        dst.write(src.read())
    if expect_success(run_plot(copy_path), "plot.py copy.json", failures):
        check_rendered(os.path.join(tmp, "copy"), failures)


def test_compare(tmp, failures):
    """B is the fixture on another 'commit' with every cudnn_tf32 time 20% slower."""
    with open(FIXTURE, encoding="utf-8") as f:
        doc = json.load(f)
    changed = copy.deepcopy(doc)
    changed["dsconv"]["git_commit"] = "0123abc-dirty"
    for row in changed["dsconv"]["rows"]:
        if row["impl"] == "cudnn_tf32" and row["status"] == "ok":
            row["median_ms"] *= 1.2
    path_b = os.path.join(tmp, "changed.json")
    with open(path_b, "w", encoding="utf-8") as f:
        json.dump(changed, f)
    prefix = os.path.join(tmp, "cmp")
    if expect_success(run_plot("--compare", FIXTURE, path_b, "--out", prefix), "plot.py --compare", failures):
        check_rendered(prefix, failures)
    # The default name: B's path without .json, ".vs.", A's stem.
    if expect_success(run_plot("--compare", FIXTURE, path_b), "plot.py --compare (default out)", failures):
        check_rendered(os.path.join(tmp, "changed.vs.sweep_fixture"), failures)


def test_bad_input(tmp, failures):
    """Malformed JSON, a file without dsconv.rows and a missing file: exit 2, the file named,
    and no image left behind."""
    with open(FIXTURE, encoding="utf-8") as f:
        numeric_title = json.load(f)
    numeric_title["dsconv"]["title"] = 5
    cases = {
        "malformed.json": '{"dsconv": {"rows": [',
        "no_rows.json": json.dumps({"context": {}, "benchmarks": []}),
        "numeric_title.json": json.dumps(numeric_title),
    }
    for name, text in cases.items():
        path = os.path.join(tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        check_rejected(path, tmp, failures)
    check_rejected(os.path.join(tmp, "does_not_exist.json"), tmp, failures)


def test_text_as_written(tmp, failures):
    """A "$" in a title is drawn as written, not parsed as mathtext; the images are readable
    by others (the umask's mode, not mkstemp's 0600)."""
    with open(FIXTURE, encoding="utf-8") as f:
        doc = json.load(f)
    doc["dsconv"]["title"] = r"cost in $ and $\foo$"
    path = os.path.join(tmp, "dollar.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    umask = os.umask(0o022)
    try:
        result = run_plot(path)
    finally:
        os.umask(umask)
    if result.returncode != 0:
        failures.append(f"a '$' in the title: exit {result.returncode}; stderr:\n{result.stderr}")
        return
    check_rendered(os.path.join(tmp, "dollar"), failures)
    mode = os.stat(os.path.join(tmp, "dollar.png")).st_mode & 0o777
    if mode != 0o644:
        failures.append(f"dollar.png has mode {mode:o}, expected 644 under umask 022")


def check_rejected(path, tmp, failures):
    prefix = os.path.join(tmp, "rejected_" + os.path.basename(path)[:-5])
    result = run_plot(path, "--out", prefix)
    if result.returncode != 2:
        failures.append(f"{path}: expected exit status 2, got {result.returncode}; stderr:\n{result.stderr}")
    if path not in result.stderr:
        failures.append(f"{path}: the error message does not name the file: {result.stderr!r}")
    if "Traceback" in result.stderr:
        failures.append(f"{path}: plot.py printed a stack trace:\n{result.stderr}")
    leftovers = [n for n in os.listdir(tmp) if n.startswith(os.path.basename(prefix)) or n.endswith(".tmp")]
    if leftovers:
        failures.append(f"{path}: output left behind after the error: {leftovers}")


def main():
    failures = []
    with tempfile.TemporaryDirectory(prefix="dsconv_test_plot_") as tmp:
        for test in (test_sweep_plot, test_default_prefix, test_compare, test_bad_input, test_text_as_written):
            before = len(failures)
            test(tmp, failures)
            print(f"{'ok  ' if len(failures) == before else 'FAIL'} {test.__name__}")
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
