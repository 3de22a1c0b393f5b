"""Reading the result files of `dsconv sweep` and `dsconv bench --json` from the scripts
(the format: docs/results-format.md)."""
import json
import math
import sys


class InputError(Exception):
    """Bad input: the message names the file and what is wrong (the scripts exit 2 with it)."""


def positive_time(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def load_block(path):
    """The file's dsconv block, with its rows (each an object) and its device."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except (ValueError, RecursionError) as e:
        raise InputError(f"{path}: not valid JSON: {e}") from None
    block = doc.get("dsconv") if isinstance(doc, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("rows"), list) \
            or not isinstance(block.get("device"), dict):
        raise InputError(f"{path}: not a dsconv result file (no dsconv.rows and dsconv.device)")
    for i, row in enumerate(block["rows"]):
        if not isinstance(row, dict):
            raise InputError(f"{path}: dsconv.rows[{i}]: expected an object, got {json.dumps(row)[:80]}")
    return block


def exit_with(main, prog):
    """Runs a script's main and exits with its status; bad input (InputError) exits 2 with a
    one-line message that names the script, never a traceback."""
    try:
        sys.exit(main())
    except InputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        sys.exit(2)
