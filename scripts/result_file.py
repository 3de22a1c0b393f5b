"""Reading and writing the result files of `dsconv sweep` and `dsconv bench --json` from the
scripts (the format: docs/results-format.md)."""
import json
import math
import os
import sys
import tempfile


class InputError(Exception):
    """Bad input: the message names the file and what is wrong (the scripts exit 2 with it)."""


def positive_time(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def read_json(path):
    """The parsed file; InputError, naming the file and what is wrong, when it cannot be read
    or is not JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: cannot read: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not valid JSON: {e.msg} at line {e.lineno}, column {e.colno}") from None
    except (ValueError, RecursionError) as e:  # a number too long for int(), nesting too deep
        raise InputError(f"{path}: not valid JSON: {e}") from None


def load_block(path):
    """The file's dsconv block, with its rows (each an object) and its device."""
    doc = read_json(path)
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


def check_writable(path):
    """Raises InputError when write_json_atomically could not write `path` (run before the
    work whose result it is, not after); creates nothing."""
    target = os.path.abspath(path)
    if os.path.isdir(target):
        raise InputError(f"--out {path}: is a folder, expected a .json file name")
    folder = os.path.dirname(target)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(f"--out {path}: cannot write in {folder}")


def write_json_atomically(path, doc):
    """Writes `doc` under a temporary name beside `path`, then renames it: a reader never sees
    a partial file, and a failure leaves none behind."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temp, 0o666 & ~umask)  # as a plain open() would make it, not mkstemp's 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, allow_nan=False)  # strict JSON: C++ readers reject NaN
            f.write("\n")
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
