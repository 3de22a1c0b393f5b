#!/usr/bin/env python3
"""Time PyTorch on the problems of a dsconv sweep, for reference lines in reports and plots.

  torch_baseline.py results/h200/seed.json --out results/h200/seed.torch.json
  torch_baseline.py results/h200/seed.json --out /tmp/t.json --impls torch_eager --repetitions 5
  dsconv merge results/h200/seed.json results/h200/seed.torch.json ...   (speedups, roof%)

The problems, passes, labels and x values are those of the input's dsconv.rows (one problem per
benchmark name without its implementation part); repetitions, min time and warm-up default to
the input's dsconv.timing. The input must come from the same GPU model (dsconv.device.gpu ==
torch.cuda.get_device_name()): speedups are only meaningful on the same card.

The model is the depthwise-separable pair:
  t = F.conv2d(x, w_dw, b_dw, stride, padding, dilation, groups=C_in);  y = F.conv2d(t, w_pw, b_pw)
on float32 NCHW torch.randn inputs, with x, the weights and the biases requiring grad.
Implementations (all with torch.backends.cudnn.benchmark = True, as a tuned user would run):
  torch_eager        fp32, TF32 off (cudnn.allow_tf32 = cuda.matmul.allow_tf32 = False)
  torch_eager_tf32   TF32 on, PyTorch's own cuDNN default; its rows have precision "tf32"
  torch_compile      torch.compile (default mode, static shapes) of the same module, TF32
                     off; compiled afresh per problem and timed only after compilation

Timing mirrors the C++ harness (docs/results-format.md, DESIGN "Timing"): every measurement
zeroes a buffer of twice the L2 size first (outside the timed region), then a CUDA event pair
brackets the call and the host synchronises. A repetition is the mean of as many measurements
as fit in min_time (at least one); warm-up runs first, so cuDNN autotuning and compilation
are never timed.
  forward   the forward call, with autograd recording as in a training step.
  backward  torch.autograd.grad(y, [x, w_dw, b_dw, w_pw, b_pw], dy, retain_graph=True) with y
            computed once beforehand. So, unlike the C++ implementations, whose backward
            starts from x, the weights and dy alone, this reuses the depthwise output t that
            autograd saved in the forward pass: it is what a PyTorch training step costs,
            which is not quite the same work.
            (For torch_compile, AOTAutograd's donated buffers are switched off: they forbid
            retain_graph=True.)

Correctness before speed: before timing, and again after, the forward output (forward rows)
or every gradient (backward rows) is compared with a float64 computation of the same inputs
on the GPU. The relative L2 error ||out - ref|| / ||ref|| of the worst output must be at most
1e-5 for fp32 rows and 5e-3 for tf32 rows; otherwise the row is "incorrect" (with the reason)
and is not timed. A problem that does not fit in device memory gives "skipped" rows with the
reason "out of device memory"; an exception gives an "error" row; the run goes on.

The output has the schema of docs/results-format.md: Google Benchmark's "benchmarks" entries
(iterations and mean/median/stddev/cv aggregates, names "<impl>/<pass>/<key>/manual_time"),
a "context", and a dsconv block with the input's sweep, device, timing and ceilings and one
row per (impl, pass, problem). GB/s, TFLOP/s, floor, roof% and speedups are left out:
`dsconv merge` computes them for every row. The file is written under a temporary name and
renamed. Progress, with an ETA, goes to stderr.

Exit status: 0 every row ok or skipped; 1 some row incorrect or failed (the file is still
written); 2 bad input or a different GPU; 3 no PyTorch or no CUDA device.
"""
import argparse
import datetime
import gc
import math
import os
import socket
import statistics
import subprocess
import sys
import time

from result_file import InputError, check_writable, read_json, write_json_atomically

# impl -> (precision, TF32 allowed, torch.compile)
IMPLS = {
    "torch_eager": ("fp32", False, False),
    "torch_eager_tf32": ("tf32", True, False),
    "torch_compile": ("fp32", False, True),
}
TOLERANCE = {"fp32": 1e-5, "tf32": 5e-3}  # on the relative L2 error of the worst output
PASSES = ("forward", "backward")
PROBLEM_FIELDS = ("n", "c_in", "c_out", "h", "w", "kh", "kw", "stride_h", "stride_w",
                  "pad_h", "pad_w", "dil_h", "dil_w")
# Gradient names, in the order of the model's inputs (x, w_dw, b_dw, w_pw, b_pw); the same
# names as the C++ verifier's outputs.
GRAD_NAMES = ("dx", "dw_dw", "db_dw", "dw_pw", "db_pw")
OOM_REASON = "out of device memory"
MIN_WARMUP_CALLS = 3  # the first call autotunes (cudnn.benchmark) or compiles; a few more settle
DEFAULT_TIMING = {"repetitions": 10, "min_time_s": 0.05, "warmup_s": 0.02}
NORM_CHUNK_ELEMS = 1 << 24  # float64 temporaries of the error norm stay at 128 MiB a chunk
EXIT_OK, EXIT_CHECK_FAILED, EXIT_BAD_INPUT, EXIT_NO_DEVICE = 0, 1, 2, 3
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class NoDeviceError(Exception):
    """No PyTorch or no CUDA device (exit status 3)."""


# ----------------------------------------------------------------------------- input


def load_input(path):
    doc = read_json(path)
    block = doc.get("dsconv") if isinstance(doc, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("rows"), list) or not block["rows"]:
        raise InputError(f"{path}: no dsconv.rows (or none in it): not a dsconv sweep results file")
    gpu = block.get("device", {}).get("gpu") if isinstance(block.get("device"), dict) else None
    if not isinstance(gpu, str) or not gpu:
        raise InputError(f"{path}: dsconv.device.gpu is missing: cannot confirm the results come from this GPU")
    return doc


def problem_key(problem):
    """The C++ harness's Problem::key(), for rows that carry no benchmark name."""
    p = problem
    return (f"n{p['n']}_ci{p['c_in']}_co{p['c_out']}_h{p['h']}_w{p['w']}_k{p['kh']}x{p['kw']}"
            f"_s{p['stride_h']}x{p['stride_w']}_p{p['pad_h']}x{p['pad_w']}_d{p['dil_h']}x{p['dil_w']}"
            + ("_bias" if p["bias"] else ""))


def output_size(size, kernel, stride, pad, dilation):
    return (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1


def check_problem(where, problem):
    if not isinstance(problem, dict):
        raise InputError(f"{where}: 'problem' must be an object, found {problem!r}")
    for field in PROBLEM_FIELDS:
        value = problem.get(field)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InputError(f"{where}: problem.{field} must be an integer, found {value!r}")
        low = 0 if field.startswith("pad") else 1
        if value < low:
            raise InputError(f"{where}: problem.{field} = {value}: must be >= {low}")
    if not isinstance(problem.get("bias"), bool):
        raise InputError(f"{where}: problem.bias must be true or false, found {problem.get('bias')!r}")
    for axis in ("h", "w"):
        if output_size(problem[axis], problem["k" + axis], problem["stride_" + axis],
                       problem["pad_" + axis], problem["dil_" + axis]) < 1:
            raise InputError(f"{where}: the output would have no {axis.upper()} extent")


def problems_of(doc, path):
    """The distinct problems of the input, in order of first appearance, each with the passes
    the sweep ran on it: [{"key", "problem", "label", "x", "point", "passes"}]."""
    problems = {}
    for i, row in enumerate(doc["dsconv"]["rows"]):
        where = f"{path}: dsconv.rows[{i}]"
        if not isinstance(row, dict):
            raise InputError(f"{where}: expected an object, found {type(row).__name__}")
        pass_name = row.get("pass")
        if pass_name not in PASSES:
            raise InputError(f"{where}: 'pass' must be one of {', '.join(PASSES)}, found {pass_name!r}")
        check_problem(where, row.get("problem"))
        benchmark = row.get("benchmark")
        if isinstance(benchmark, str) and benchmark.count("/") >= 2:
            _, bench_pass, key = benchmark.split("/", 2)
            if bench_pass != pass_name:
                raise InputError(f"{where}: benchmark {benchmark!r} does not match pass {pass_name!r}")
        else:
            key = problem_key(row["problem"])
        entry = problems.setdefault(key, {"key": key, "problem": row["problem"], "label": row.get("label", ""),
                                          "x": row.get("x"), "point": row.get("point"), "passes": []})
        if pass_name not in entry["passes"]:
            entry["passes"].append(pass_name)
    for entry in problems.values():
        entry["passes"].sort(key=PASSES.index)
    return list(problems.values())


def timing_settings(doc, args, path):
    timing = doc["dsconv"].get("timing") if isinstance(doc["dsconv"].get("timing"), dict) else {}
    given_by = {"repetitions": "--repetitions", "min_time_s": "--min-time", "warmup_s": "--warmup"}
    chosen = {"repetitions": args.repetitions, "min_time_s": args.min_time, "warmup_s": args.warmup}

    def source(name):  # where a value came from, for the message
        return given_by[name] if chosen[name] is not None else f"{path}: dsconv.timing.{name}"
    settings = {name: timing.get(name, default) for name, default in DEFAULT_TIMING.items()}
    if args.repetitions is not None:
        settings["repetitions"] = args.repetitions
    if args.min_time is not None:
        settings["min_time_s"] = args.min_time
    if args.warmup is not None:
        settings["warmup_s"] = args.warmup
    repetitions = settings["repetitions"]
    if not isinstance(repetitions, int) or isinstance(repetitions, bool) or repetitions < 1:
        raise InputError(f"{source('repetitions')} = {repetitions!r}: must be an integer >= 1")
    for name in ("min_time_s", "warmup_s"):
        value = settings[name]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                or value < 0 or value > 60:
            raise InputError(f"{source(name)} = {value!r}: must be a number of seconds from 0 to 60")
    return dict(settings, l2_flush=True, cuda_graph=False)


# ----------------------------------------------------------------------------- PyTorch


def import_torch():
    try:
        import torch  # noqa: F401  (imported here so that --help works without PyTorch)
        import torch.nn.functional  # noqa: F401
    except (ImportError, OSError) as e:  # OSError: a CUDA library it links could not be loaded
        raise NoDeviceError(f"PyTorch cannot be imported: {e}") from None
    if not torch.cuda.is_available():
        raise NoDeviceError("PyTorch sees no CUDA device")
    return torch


def make_model_class(torch):
    """The module, built once torch is imported. Weights are call arguments, not parameters,
    so eager, compiled and float64 runs all see exactly the same tensors."""
    functional = torch.nn.functional

    class DepthwiseSeparable(torch.nn.Module):
        def __init__(self, problem):
            super().__init__()
            self.stride = (problem["stride_h"], problem["stride_w"])
            self.padding = (problem["pad_h"], problem["pad_w"])
            self.dilation = (problem["dil_h"], problem["dil_w"])
            self.groups = problem["c_in"]

        def forward(self, x, w_dw, b_dw, w_pw, b_pw):
            t = functional.conv2d(x, w_dw, b_dw, self.stride, self.padding, self.dilation, self.groups)
            return functional.conv2d(t, w_pw, b_pw)

    return DepthwiseSeparable


def is_out_of_memory(torch, error):
    oom_type = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(error, oom_type):
        return True
    return isinstance(error, RuntimeError) and "out of memory" in str(error)


def release_memory(torch):
    # Tracebacks of a caught out-of-memory error keep tensors alive until collected.
    gc.collect()
    torch.cuda.empty_cache()


def make_inputs(torch, problem, seed):
    """(inputs, dy): inputs = [x, w_dw, b_dw, w_pw, b_pw] (biases None without bias)."""
    p = problem
    generator = torch.Generator(device="cuda").manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, device="cuda", dtype=torch.float32, generator=generator)

    ho = output_size(p["h"], p["kh"], p["stride_h"], p["pad_h"], p["dil_h"])
    wo = output_size(p["w"], p["kw"], p["stride_w"], p["pad_w"], p["dil_w"])
    inputs = [randn(p["n"], p["c_in"], p["h"], p["w"]), randn(p["c_in"], 1, p["kh"], p["kw"]),
              randn(p["c_in"]) if p["bias"] else None, randn(p["c_out"], p["c_in"], 1, 1),
              randn(p["c_out"]) if p["bias"] else None]
    for tensor in inputs:
        if tensor is not None:
            tensor.requires_grad_(True)
    return inputs, randn(p["n"], p["c_out"], ho, wo)


def grad_targets(inputs):
    """The inputs that get gradients, with their names."""
    return [(name, t) for name, t in zip(GRAD_NAMES, inputs) if t is not None]


def float64_reference(torch, model, inputs, dy):
    """The forward output and the gradients, computed from the same values in float64."""
    inputs64 = [t.detach().double().requires_grad_(True) if t is not None else None for t in inputs]
    y64 = model(*inputs64)
    targets = grad_targets(inputs64)
    grads = torch.autograd.grad(y64, [t for _, t in targets], dy.double())
    reference = {"y": y64.detach()}
    reference.update({name: g for (name, _), g in zip(targets, grads)})
    return reference


def relative_l2(torch, out, ref):
    """||out - ref|| / ||ref|| in float64, chunked along dim 0 so that the float64 copy of a
    large output never needs its full size at once. NaN when out has NaN or Inf."""
    per_row = out.numel() // max(1, out.shape[0])
    rows_per_chunk = max(1, NORM_CHUNK_ELEMS // max(1, per_row))
    err2 = ref2 = 0.0
    with torch.no_grad():
        for o, r in zip(out.split(rows_per_chunk), ref.split(rows_per_chunk)):
            diff = o.double() - r
            err2 += float(torch.sum(diff * diff))
            ref2 += float(torch.sum(r * r))
    if not math.isfinite(err2):
        return math.nan
    if ref2 == 0.0:
        return 0.0 if err2 == 0.0 else math.inf
    return math.sqrt(err2 / ref2)


def reduction_length(problem, name):
    """Terms behind one element of an output, as the C++ verifier counts them."""
    taps = problem["kh"] * problem["kw"]
    pixels = problem["n"] * out_size(problem, "h") * out_size(problem, "w")
    return {"y": taps + problem["c_in"], "dx": problem["c_out"] + taps}.get(name, pixels + problem["c_out"])


def out_size(problem, axis):
    k, s, p, d = (problem["kh"], problem["stride_h"], problem["pad_h"], problem["dil_h"]) if axis == "h" else \
        (problem["kw"], problem["stride_w"], problem["pad_w"], problem["dil_w"])
    return (problem[axis] + 2 * p - d * (k - 1) - 1) // s + 1


def tolerance_for(precision, problem, name):
    """The fixed tolerance, widened for long sums: fp32 roundoff grows like sqrt(L) * 2^-24,
    and a weight gradient sums over every pixel of every image (4M terms at the seed shape)."""
    return max(TOLERANCE[precision], 8 * 2.0 ** -24 * math.sqrt(reduction_length(problem, name)))


def verify(torch, outputs, reference, precision, problem):
    """{"passed", "output" (the worst one), "rel_l2"} and the reason when it failed."""
    worst_name, worst, tolerance, passed = None, -1.0, TOLERANCE[precision], True
    for name, out in outputs.items():
        error = relative_l2(torch, out, reference[name])
        limit = tolerance_for(precision, problem, name)
        if math.isnan(error) or error / limit > worst / tolerance:
            worst_name, worst, tolerance = name, error, limit
        passed = passed and error <= limit  # False for NaN
        if math.isnan(error):
            break
    result = {"passed": passed, "output": worst_name, "rel_l2": worst if math.isfinite(worst) else None}
    if passed:
        return result, ""
    if math.isfinite(worst):
        return result, f"{worst_name}: relative L2 error {worst:.3g} > {tolerance:g} ({precision})"
    return result, f"{worst_name}: non-finite values (NaN or Inf) against a finite reference"


def set_precision(torch, allow_tf32):
    torch.backends.cudnn.benchmark = True  # a tuned user; autotuning happens in the warm-up
    torch.backends.cudnn.allow_tf32 = allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = allow_tf32


def compile_model(torch, model):
    """A fresh torch.compile of model. The dynamo cache is reset first: otherwise, past its
    recompile limit, later problems would silently run eager (or with dynamic shapes)."""
    import torch._dynamo as dynamo  # a lazily loaded submodule: import it by name
    dynamo.reset()
    try:
        import torch._functorch.config as functorch_config
        if hasattr(functorch_config, "donated_buffer"):
            # Donated buffers let the compiled backward free saved activations, which makes
            # backward(retain_graph=True) an error; the timing calls backward repeatedly.
            functorch_config.donated_buffer = False
    except ImportError:
        pass
    return torch.compile(model, dynamic=False)


class Timer:
    """CUDA-event timing of one call with an L2 flush before it, as the C++ harness does."""

    def __init__(self, torch, flush_bytes):
        self.torch = torch
        self.flush = torch.empty(flush_bytes, dtype=torch.uint8, device="cuda")
        self.start = torch.cuda.Event(enable_timing=True)
        self.stop = torch.cuda.Event(enable_timing=True)

    def once_ms(self, call):
        self.flush.zero_()  # evicts the inputs from L2; enqueued before the start event
        self.start.record()
        call()
        self.stop.record()
        self.stop.synchronize()
        return self.start.elapsed_time(self.stop)

    def measure(self, call, timing):
        """(samples_ms, iterations, cpu_ms): per repetition, the mean of as many measurements
        as fit in min_time_s of measured time (at least one), after the warm-up."""
        self.torch.cuda.synchronize()
        warm_ms, calls = 0.0, 0
        while calls < MIN_WARMUP_CALLS or warm_ms < timing["warmup_s"] * 1e3:
            warm_ms += self.once_ms(call)
            calls += 1
        samples, iterations, cpu_ms = [], [], []
        for _ in range(timing["repetitions"]):
            total_ms, count = 0.0, 0
            cpu_start = time.process_time()
            while count == 0 or total_ms < timing["min_time_s"] * 1e3:
                total_ms += self.once_ms(call)
                count += 1
            samples.append(total_ms / count)
            iterations.append(count)
            cpu_ms.append((time.process_time() - cpu_start) * 1e3 / count)
        return samples, iterations, cpu_ms


def l2_flush_bytes(torch, doc):
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 0) or \
        doc["dsconv"].get("device", {}).get("l2_bytes") or (64 << 20)
    return 2 * int(l2)


# ----------------------------------------------------------------------------- one row


def new_row(impl, pass_name, entry):
    row = {"benchmark": f"{impl}/{pass_name}/{entry['key']}", "impl": impl, "pass": pass_name,
           "label": entry["label"], "x": entry["x"], "problem": entry["problem"],
           "precision": IMPLS[impl][0], "status": "ok", "reason": "", "verification": {},
           "samples_ms": None, "median_ms": None, "min_ms": None, "cv": None}
    if isinstance(entry["point"], int):
        row["point"] = entry["point"]  # the sweep's point index, which 'dsconv merge' orders rows by
    return row


def run_pass(torch, model, pass_name, inputs, dy, reference, row, timer, timing):
    """Verifies, times and verifies again one (implementation, pass) on one problem; fills
    row and returns (iterations, cpu_ms) for the Google Benchmark entries, or None."""
    targets = grad_targets(inputs)
    precision = row["precision"]

    def forward():
        return model(*inputs)

    if pass_name == "forward":
        def check():
            # With autograd on, as timed: under no_grad torch.compile would build (and this
            # would check) a different, inference-only graph.
            return verify(torch, {"y": forward()}, reference, precision, row["problem"])
        call = forward
    else:
        y = forward()  # once: each timed call reuses this graph and its saved tensors

        def backward():
            return torch.autograd.grad(y, [t for _, t in targets], dy, retain_graph=True)

        def check():
            grads = backward()
            return verify(torch, {name: g for (name, _), g in zip(targets, grads)}, reference, precision,
                          row["problem"])
        call = backward

    row["verification"]["before"], reason = check()
    if reason:
        row.update(status="incorrect", reason=reason)
        return None
    samples, iterations, cpu_ms = timer.measure(call, timing)
    row["verification"]["after"], reason = check()
    if reason:
        row.update(status="incorrect", reason=f"after timing: {reason}")
        return None
    mean = statistics.fmean(samples)
    stddev = statistics.stdev(samples) if len(samples) > 1 else 0.0
    row.update(samples_ms=samples, median_ms=statistics.median(samples), min_ms=min(samples),
               cv=stddev / mean if mean > 0 else 0.0)
    return iterations, cpu_ms


def gbench_entries(row, iterations, cpu_ms, family_index):
    """Google Benchmark's JSON for one timed row: one entry per repetition, then aggregates."""
    name = f"{row['benchmark']}/manual_time"
    samples = row["samples_ms"]
    common = {"family_index": family_index, "per_family_instance_index": 0, "run_name": name,
              "repetitions": len(samples), "threads": 1, "time_unit": "ms"}
    entries = [{"name": name, **common, "run_type": "iteration", "repetition_index": i, "iterations": n,
                "real_time": t, "cpu_time": c}
               for i, (t, n, c) in enumerate(zip(samples, iterations, cpu_ms))]
    mean, cpu_mean = statistics.fmean(samples), statistics.fmean(cpu_ms)
    stddev = statistics.stdev(samples) if len(samples) > 1 else 0.0
    cpu_stddev = statistics.stdev(cpu_ms) if len(cpu_ms) > 1 else 0.0
    aggregates = (("mean", "time", mean, cpu_mean),
                  ("median", "time", statistics.median(samples), statistics.median(cpu_ms)),
                  ("stddev", "time", stddev, cpu_stddev),
                  ("cv", "percentage", stddev / mean if mean else 0.0, cpu_stddev / cpu_mean if cpu_mean else 0.0))
    for aggregate, unit, real, cpu in aggregates:
        entries.append({"name": f"{name}_{aggregate}", **common, "run_type": "aggregate",
                        "aggregate_name": aggregate, "aggregate_unit": unit, "iterations": len(samples),
                        "real_time": real, "cpu_time": cpu})
    return entries


# ----------------------------------------------------------------------------- the sweep


class Progress:
    """'[3/24] torch_eager/forward/n16_...: ok, median 1.52 ms (cv 0.4%) | 0:12 elapsed, ETA 1:30'."""

    def __init__(self, total):
        self.total, self.done, self.started = total, 0, time.monotonic()

    def report(self, row):
        self.done += 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done)
        if row["status"] == "ok":
            what = f"ok, median {row['median_ms']:.4g} ms (cv {row['cv']:.1%})"
        else:
            what = f"{row['status']}: {row['reason']}"
        print(f"[{self.done}/{self.total}] {row['benchmark']}: {what} | {clock(elapsed)} elapsed, "
              f"ETA {clock(eta)}", file=sys.stderr, flush=True)


def clock(seconds):
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def first_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def run_problem(torch, model_class, entry, impls, timer, timing, seed, progress, benchmarks):
    """All rows of one problem: inputs and the float64 reference once, then each
    implementation and pass. Returns the rows."""
    rows = [new_row(impl, p, entry) for impl in impls for p in entry["passes"]]
    model = model_class(entry["problem"])
    setup_failed = inputs = dy = reference = None
    try:
        inputs, dy = make_inputs(torch, entry["problem"], seed)
        reference = float64_reference(torch, model, inputs, dy)
    except Exception as e:  # noqa: BLE001  (any failure here only fails this problem's rows)
        setup_failed = OOM_REASON if is_out_of_memory(torch, e) else f"setting up: {first_line(e)}"
    if setup_failed:
        inputs = dy = reference = None  # the inputs may exist when the reference did not fit
        release_memory(torch)
        for row in rows:
            row.update(status="skipped" if setup_failed == OOM_REASON else "error", reason=setup_failed)
            progress.report(row)
        return rows

    for impl in impls:
        _, allow_tf32, compiled = IMPLS[impl]
        set_precision(torch, allow_tf32)
        runnable = compile_model(torch, model) if compiled else model
        for row in (r for r in rows if r["impl"] == impl):
            failure = None
            try:
                timed = run_pass(torch, runnable, row["pass"], inputs, dy, reference, row, timer, timing)
                if timed:
                    family = len({b["run_name"] for b in benchmarks})
                    benchmarks.extend(gbench_entries(row, *timed, family_index=family))
            except Exception as e:  # noqa: BLE001  (one row fails; the sweep goes on)
                failure = ("skipped", OOM_REASON) if is_out_of_memory(torch, e) else ("error", first_line(e))
            if failure:
                row.update(status=failure[0], reason=failure[1], samples_ms=None, median_ms=None,
                           min_ms=None, cv=None)
                release_memory(torch)
            progress.report(row)
    del inputs, dy, reference
    release_memory(torch)
    return rows


def git_commit():
    """$DSCONV_GIT_COMMIT when set (a copy of the tree without .git); else the short hash of
    the checkout, "-dirty" with uncommitted changes, "unknown" without git."""
    if os.environ.get("DSCONV_GIT_COMMIT"):
        return os.environ["DSCONV_GIT_COMMIT"]

    def run(*command):
        return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, check=True,
                              timeout=30).stdout.strip()

    try:
        commit = run("git", "rev-parse", "--short=12", "HEAD")
        dirty = run("git", "status", "--porcelain", "--untracked-files=no")
        return commit + ("-dirty" if dirty else "") if commit else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def build_output(torch, doc, rows, benchmarks, timing):
    source = doc["dsconv"]
    block = {"format": 1}
    for field in ("sweep", "title", "spec", "x_axis", "x_label"):
        block[field] = source.get(field)
    block["git_commit"] = git_commit()
    block["created"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    block["device"] = source["device"]
    block["timing"] = timing
    block["ceilings"] = source.get("ceilings", {})
    if "shard" in source:
        block["shard"] = source["shard"]  # the baseline covers exactly the input's problems
    block["rows"] = rows
    context = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "host_name": socket.gethostname(), "executable": "torch_baseline.py",
               "num_cpus": os.cpu_count(), "library_version": torch.__version__,
               "torch_cuda": torch.version.cuda, "torch_cudnn": str(torch.backends.cudnn.version())}
    return {"context": context, "benchmarks": benchmarks, "dsconv": block}


# ----------------------------------------------------------------------------- main


def parse_impls(text):
    impls = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in impls if name not in IMPLS]
    if unknown or not impls:
        raise argparse.ArgumentTypeError(f"unknown implementation(s) {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(IMPLS)}")
    return list(dict.fromkeys(impls))


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Time PyTorch (eager, eager with TF32, torch.compile) on the problems of a dsconv "
                    "sweep results file, on the same GPU, and write the rows in the same format.",
        epilog="Example: torch_baseline.py results/h200/seed.json --out results/h200/seed.torch.json\n"
               "Then 'dsconv merge' joins the two files and computes speedups and roof%.\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="RESULTS.json",
                        help="a results file from 'dsconv sweep': its problems, passes, labels, x values, "
                             "device and timing are used")
    parser.add_argument("--out", required=True, metavar="FILE", help="the results file to write")
    parser.add_argument("--impls", type=parse_impls, default=list(IMPLS), metavar="LIST",
                        help=f"comma-separated, from {','.join(IMPLS)} (default: all)")
    parser.add_argument("--repetitions", type=int, metavar="N",
                        help="repetitions per row (default: the input's dsconv.timing.repetitions)")
    parser.add_argument("--min-time", type=float, metavar="S",
                        help="seconds of measured time per repetition (default: the input's "
                             "dsconv.timing.min_time_s)")
    parser.add_argument("--warmup", type=float, metavar="S",
                        help="seconds of untimed running before the repetitions, after at least "
                             f"{MIN_WARMUP_CALLS} calls (default: the input's dsconv.timing.warmup_s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the random inputs; problem i uses seed + i (default: 0)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        doc = load_input(args.input)
        problems = problems_of(doc, args.input)
        timing = timing_settings(doc, args, args.input)
        check_writable(args.out)  # before the run, not after it
        torch = import_torch()
        expected, found = doc["dsconv"]["device"]["gpu"], torch.cuda.get_device_name()
        if found != expected:
            raise InputError(f"{args.input} was measured on '{expected}' but this GPU is '{found}': "
                             "speedups need both on the same card; run the sweep here first")
        model_class = make_model_class(torch)
        timer = Timer(torch, l2_flush_bytes(torch, doc))
        total = len(args.impls) * sum(len(entry["passes"]) for entry in problems)
        print(f"torch_baseline: {len(problems)} problems, {total} rows on {found}, PyTorch {torch.__version__}, "
              f"{timing['repetitions']} repetitions of >= {timing['min_time_s']} s", file=sys.stderr)
        progress = Progress(total)
        rows, benchmarks = [], []
        for index, entry in enumerate(problems):
            rows += run_problem(torch, model_class, entry, args.impls, timer, timing, args.seed + index,
                                progress, benchmarks)
        write_json_atomically(args.out, build_output(torch, doc, rows, benchmarks, timing))
    except InputError as e:
        print(f"torch_baseline.py: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NoDeviceError as e:
        print(f"torch_baseline.py: error: {e}", file=sys.stderr)
        return EXIT_NO_DEVICE
    except OSError as e:
        print(f"torch_baseline.py: error: cannot write {args.out}: {e.strerror or e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    failed = [r for r in rows if r["status"] in ("incorrect", "error")]
    print(f"torch_baseline: wrote {args.out}: {len(rows)} rows, "
          f"{sum(r['status'] == 'ok' for r in rows)} ok, {len(failed)} incorrect or failed, "
          f"{sum(r['status'] == 'skipped' for r in rows)} skipped", file=sys.stderr)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
