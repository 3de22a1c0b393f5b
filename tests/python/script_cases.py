"""Runs a script of scripts/ over a list of cases and checks each one's exit code and output,
for the tests of the command-line scripts (plain Python, no pytest)."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def failures_of(script, cases):
    """The failures of `cases`, each (what, args, expected exit code, text the output must hold),
    when scripts/<script> runs with args. A traceback is a failure whatever the exit code: bad
    input must end in a one-line message."""
    failures = []
    for what, args, code, text in cases:
        r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", script), *args], capture_output=True,
                           text=True, timeout=60)
        output = r.stdout + r.stderr
        if r.returncode != code:
            failures.append(f"{what}: exit {r.returncode}, expected {code}: {output[-400:]}")
        if text not in output:
            failures.append(f"{what}: output lacks {text!r}: {output[-400:]}")
        if "Traceback" in output:
            failures.append(f"{what}: a traceback: {output[-400:]}")
    return failures


def report(name, cases, failures):
    """Prints the failures and a summary line; the test's exit status."""
    for failure in failures:
        print("FAIL:", failure)
    print(f"{name}: {len(cases)} cases, {len(failures)} failures")
    return 1 if failures else 0
