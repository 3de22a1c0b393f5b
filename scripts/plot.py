#!/usr/bin/env python3
"""Draw a dsconv sweep, or compare two runs, from the results JSON (docs/results-format.md).

  plot.py results/h200/seed.json                  writes results/h200/seed.png and seed.svg
  plot.py results/h200/seed.json --out /tmp/seed  writes /tmp/seed.png and /tmp/seed.svg
  plot.py --compare results/h200/seed.json results/h100/seed.json
                                                  writes results/h100/seed.vs.seed.png/.svg

A sweep figure has one column per pass (forward, backward) and three rows:
  1. median time (ms) against x for each implementation, log-scale y;
  2. speedup over cuDNN (cudnn median / this median, same pass and problem), line at 1;
  3. roof% (measured floor / median time), 0-100.
Baselines from scripts/torch_baseline.py (implementations named torch_*) are drawn as dashed
reference lines in rows 1 and 2. Only rows with status "ok" are drawn; an implementation with
incorrect rows says so in the legend ("(2 incorrect)").

A comparison (--compare A.json B.json) draws, per pass, B's median / A's median for every
(implementation, problem) that is ok in both files: below 1 means B is faster.

Everything comes from the JSON's dsconv.rows, never from printed text. Exit status: 0 done,
2 bad input (the message names the file and what is wrong). Output files are written under
temporary names and renamed, so a failed run never leaves a partial image.
"""
import argparse
import json
import math
import os
import sys
import tempfile
import textwrap

import matplotlib

matplotlib.use("Agg")  # files only: never needs a display
import matplotlib.pyplot as plt  # noqa: E402  (must follow matplotlib.use)

# Titles, names and labels come from the results file: draw them as written, never as
# mathtext (a "$" in a title would otherwise be parsed, and fail).
if "text.parse_math" in plt.rcParams:  # matplotlib 3.5 and later
    plt.rcParams["text.parse_math"] = False
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullFormatter, NullLocator  # noqa: E402

from result_file import InputError, read_json  # noqa: E402

PASS_ORDER = ("forward", "backward")
BASELINE_PREFIX = "torch_"
CUDNN = "cudnn"
# Implementations get strong colours and markers; baselines muted colours and distinct dashes,
# so a reference line is never mistaken for a kernel.
IMPL_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#e377c2",
                "#8c564b", "#bcbd22", "#393b79", "#637939", "#843c39")
IMPL_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
BASELINE_COLOURS = ("#7f7f7f", "#b08fae", "#a68a64", "#8fa9b8", "#a5a58d")
BASELINE_DASHES = ((5, 2), (6, 2, 1, 2), (1.5, 1.5), (8, 3, 2, 3), (3, 3))
LOG2_X_SPAN = 8.0  # numeric x spanning more than this factor is drawn on a log2 axis

# ----------------------------------------------------------------------------- reading


def load_results(path):
    """Reads a results file and checks the parts the plots use; returns the parsed JSON."""
    doc = read_json(path)
    block = doc.get("dsconv") if isinstance(doc, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("rows"), list):
        raise InputError(f"{path}: no dsconv.rows list: not a dsconv results file "
                         "(see docs/results-format.md)")
    if not block["rows"]:
        raise InputError(f"{path}: dsconv.rows is empty: nothing to plot")
    for field in ("title", "sweep", "x_label", "x_axis", "git_commit"):
        if block.get(field) is not None and not isinstance(block[field], str):
            raise InputError(f"{path}: dsconv.{field} must be a string, found {block[field]!r}")
    if block.get("device") is not None and not isinstance(block["device"], dict):
        raise InputError(f"{path}: dsconv.device must be an object, found {block['device']!r}")
    for i, row in enumerate(block["rows"]):
        check_row(path, i, row)
    return doc


def check_row(path, index, row):
    """Raises InputError naming the row when a field the plots need is missing or mistyped."""
    where = f"{path}: dsconv.rows[{index}]"
    if not isinstance(row, dict):
        raise InputError(f"{where}: expected an object, found {type(row).__name__}")
    for field in ("impl", "pass", "status"):
        if not isinstance(row.get(field), str) or not row[field]:
            raise InputError(f"{where}: '{field}' must be a non-empty string, found {row.get(field)!r}")
    if "x" not in row or not is_number(row["x"]) and not isinstance(row["x"], str):
        raise InputError(f"{where}: 'x' must be a number or a string, found {row.get('x')!r}")
    if row["status"] == "ok":
        median = row.get("median_ms")
        if not is_number(median) or not median > 0:
            raise InputError(f"{where}: status is ok but 'median_ms' is {median!r} (expected a positive number)")
        roof = row.get("roof_pct")
        if roof is not None and not is_number(roof):
            raise InputError(f"{where}: 'roof_pct' must be a number or null, found {roof!r}")


def is_number(value):
    # bool is an int in Python, but never a valid x or time.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def problem_id(row):
    """Identifies a row's problem independently of the implementation and pass."""
    problem = row.get("problem")
    if isinstance(problem, dict):
        return json.dumps(problem, sort_keys=True)
    # "<impl>/<pass>/<problem key>": the key is what remains.
    parts = str(row.get("benchmark", "")).split("/", 2)
    return parts[2] if len(parts) == 3 else f"x={row['x']!r}"


def ok_rows(rows):
    return [r for r in rows if r["status"] == "ok"]


def passes_of(rows):
    """The passes present, forward before backward, any other in order of appearance."""
    seen = unique_in_order(r["pass"] for r in rows)
    return [p for p in PASS_ORDER if p in seen] + [p for p in seen if p not in PASS_ORDER]


def unique_in_order(values):
    seen = {}
    for v in values:
        seen.setdefault(v, None)
    return list(seen)


def is_baseline(impl):
    return impl.startswith(BASELINE_PREFIX)


def run_caption(doc):
    """'NVIDIA H200 · commit 3f2c1e9': which card and code produced a file."""
    block = doc["dsconv"]
    device = block.get("device") if isinstance(block.get("device"), dict) else {}
    gpu = device.get("gpu") or "unknown GPU"
    commit = block.get("git_commit") or "unknown"
    return f"{gpu} · commit {commit}"


# ----------------------------------------------------------------------------- x axis


class XAxis:
    """How x values map to plot positions: numeric (sorted, maybe log2) or categorical."""

    def __init__(self, values):
        values = unique_in_order(values)
        self.numeric = bool(values) and all(is_number(v) for v in values)
        if self.numeric:
            self.values = sorted(values)
            low, high = self.values[0], self.values[-1]
            self.log2 = low > 0 and high / low > LOG2_X_SPAN
        else:
            # Explicit points (e.g. MobileNet layers) keep the sweep's order.
            self.values = [str(v) for v in values]
            self.log2 = False
        self.index = {v: i for i, v in enumerate(self.values)}

    def position(self, x):
        return x if self.numeric else self.index[str(x)]

    def style(self, ax, label, show_ticklabels):
        if self.numeric:
            if self.log2:
                ax.set_xscale("log", base=2)
            # Explicit limits: a column with no drawable rows still shows the sweep's range.
            low, high = self.values[0], self.values[-1]
            if self.log2:
                ax.set_xlim(low / 1.15, high * 1.15)
            else:
                margin = 0.04 * (high - low) or max(abs(low) * 0.1, 1.0)
                ax.set_xlim(low - margin, high + margin)
            if len(self.values) <= 16:
                # Ticks exactly at the measured sizes read better than powers of the base.
                ax.xaxis.set_major_locator(FixedLocator(self.values))
                ax.xaxis.set_minor_locator(NullLocator())
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            elif self.log2:
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            ax.set_xticks(range(len(self.values)))
            ax.set_xticklabels(self.values, rotation=45, ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.5, len(self.values) - 0.5)
        ax.tick_params(axis="x", labelbottom=show_ticklabels)
        if show_ticklabels:
            ax.set_xlabel(label)


def variant_fields(rows, x_axis):
    """Problem fields that vary at a fixed x (a sweep over several axes): each distinct
    combination becomes its own line, labelled with those fields."""
    by_x = {}
    for r in rows:
        problem = r.get("problem")
        if isinstance(problem, dict):
            by_x.setdefault((r["pass"], str(r["x"])), []).append(problem)
    if x_axis == "label":
        return []  # explicit points: each label is one problem
    fields = []
    for problems in by_x.values():
        for name in problems[0]:
            if name not in fields and len({json.dumps(p.get(name)) for p in problems}) > 1:
                fields.append(name)
    return fields


def variant_of(row, fields):
    problem = row.get("problem") if isinstance(row.get("problem"), dict) else {}
    def hashable(value):  # a damaged file may hold a list or an object here
        return value if isinstance(value, (int, float, str, bool, type(None))) else json.dumps(value)
    return tuple((f, hashable(problem.get(f))) for f in fields)


def variant_text(variant):
    return ", ".join(f"{f}={v}" for f, v in variant)


# ----------------------------------------------------------------------------- styles


class Styles:
    """One colour and marker (or dash pattern) per implementation, the same in every panel."""

    def __init__(self, impls):
        self.styles = {}
        n_impl = n_base = 0
        for impl in impls:
            if is_baseline(impl):
                self.styles[impl] = dict(color=BASELINE_COLOURS[n_base % len(BASELINE_COLOURS)],
                                         dashes=BASELINE_DASHES[n_base % len(BASELINE_DASHES)],
                                         linewidth=1.6, marker="None")
                n_base += 1
            else:
                self.styles[impl] = dict(color=IMPL_COLOURS[n_impl % len(IMPL_COLOURS)],
                                         marker=IMPL_MARKERS[n_impl % len(IMPL_MARKERS)],
                                         markersize=5, linewidth=1.6)
                n_impl += 1

    def line(self, impl, variant_index=0):
        style = dict(self.styles[impl])
        if variant_index and is_baseline(impl):
            # Same colour, the dash pattern stretched: still reads as the same baseline.
            stretch = 1 + variant_index
            style["dashes"] = tuple(d * stretch for d in style["dashes"])
            style["linewidth"] = 1.1
        elif variant_index:
            # Several problems per x: same colour, different marker and a lighter line.
            style["marker"] = IMPL_MARKERS[(IMPL_MARKERS.index(style["marker"]) + variant_index)
                                           % len(IMPL_MARKERS)]
            style["linestyle"] = (0, (4, 1.5)) if variant_index % 2 else "-"
        return style


# ----------------------------------------------------------------------------- sweep figure


def series_points(rows, xaxis, value_of):
    """Sorted (position, value) pairs with NaN where x has no value, so gaps stay gaps."""
    values = {}
    for r in rows:
        v = value_of(r)
        if v is not None:
            values[xaxis.position(r["x"])] = v
    positions = [xaxis.position(v) for v in xaxis.values]
    return positions, [values.get(p, math.nan) for p in positions]


def speedup_getter(cudnn_medians):
    def speedup(row):
        base = cudnn_medians.get(problem_id(row))
        return base / row["median_ms"] if base else None
    return speedup


def draw_sweep(doc, source):
    block = doc["dsconv"]
    rows = block["rows"]
    impls = unique_in_order(r["impl"] for r in rows)
    styles = Styles(impls)
    passes = passes_of(rows)
    x_axis = block.get("x_axis") or "x"
    x_label = block.get("x_label") or x_axis
    xaxis = XAxis(r["x"] for r in rows)
    fields = variant_fields(rows, x_axis)
    variants = unique_in_order(variant_of(r, fields) for r in rows)
    incorrect = {impl: sum(1 for r in rows if r["impl"] == impl and r["status"] == "incorrect")
                 for impl in impls}

    width = 6.2 * len(passes) + 0.6
    fig, axes = plt.subplots(3, len(passes), figsize=(width, 11), sharex="col", squeeze=False)
    for col, pass_name in enumerate(passes):
        pass_rows = ok_rows(r for r in rows if r["pass"] == pass_name)
        cudnn_medians = {problem_id(r): r["median_ms"] for r in pass_rows if r["impl"] == CUDNN}
        time_ax, speed_ax, roof_ax = axes[:, col]
        speed_ax.axhline(1.0, color="black", linewidth=0.9, alpha=0.6, zorder=1)
        for impl in impls:
            for vi, variant in enumerate(variants):
                series = [r for r in pass_rows if r["impl"] == impl and variant_of(r, fields) == variant]
                if not series:
                    continue
                style = styles.line(impl, vi)
                if is_baseline(impl) and len(xaxis.values) == 1:
                    # A line through one point draws nothing: show a one-point baseline as a
                    # level across the panel.
                    level = dict(color=style.get("color"), linestyle="--", linewidth=1.2, label=style.get("label"))
                    time_ax.axhline(series[0]["median_ms"], **level)
                    speed = speedup_getter(cudnn_medians)(series[0]) if cudnn_medians else None
                    if speed:
                        speed_ax.axhline(speed, **level)
                    continue
                time_ax.plot(*series_points(series, xaxis, lambda r: r["median_ms"]), **style)
                if impl != CUDNN and cudnn_medians:
                    speed_ax.plot(*series_points(series, xaxis, speedup_getter(cudnn_medians)), **style)
                if not is_baseline(impl):
                    roof_ax.plot(*series_points(series, xaxis, lambda r: r.get("roof_pct")), **style)
        style_log_y(time_ax)
        fit_speedup_axis(speed_ax)
        top = max([100.0] + [line_max(line) * 1.05 for line in roof_ax.get_lines()])
        roof_ax.set_ylim(0, top)
        time_ax.set_title(pass_name, fontsize=13, fontweight="bold")
        for ax, has_data in ((time_ax, bool(pass_rows)), (speed_ax, bool(cudnn_medians)),
                             (roof_ax, any(r.get("roof_pct") is not None for r in pass_rows))):
            ax.grid(True, which="major", alpha=0.3)
            if not has_data:
                reason = "no ok cudnn rows" if ax is speed_ax and pass_rows else "no data"
                ax.text(0.5, 0.5, reason, transform=ax.transAxes, ha="center", va="center", color="gray")
        for row, ax in enumerate((time_ax, speed_ax, roof_ax)):
            xaxis.style(ax, x_label, show_ticklabels=(row == 2))
        if col == 0:
            time_ax.set_ylabel("median time (ms)")
            speed_ax.set_ylabel("speedup over cuDNN (×)")
            roof_ax.set_ylabel("roof (%)")

    handles = legend_handles(impls, variants, fields, styles, incorrect, rows)
    title = block.get("title") or block.get("sweep") or os.path.basename(source)
    subtitle = run_caption(doc)
    if block.get("created"):
        subtitle += f" · {block['created']}"
    finish_figure(fig, title, [subtitle], handles, legend_title="implementation")
    return fig


def legend_handles(impls, variants, fields, styles, incorrect, rows):
    """One entry per implementation (and per problem variant), drawn rows or not, so an
    implementation whose rows all failed still shows up with its count of incorrect rows."""
    handles = []
    for impl in impls:
        label = impl + (f" ({incorrect[impl]} incorrect)" if incorrect[impl] else "")
        present = {variant_of(r, fields) for r in rows if r["impl"] == impl}
        for vi, variant in enumerate(variants):
            if variant not in present:
                continue
            text = label if not variant else f"{label} [{variant_text(variant)}]"
            handles.append(Line2D([], [], label=text, **styles.line(impl, vi)))
    return handles


def style_log_y(ax):
    """Log y labelled 0.2, 0.5, 1, 2, 5, ... in plain numbers: times are read, not exponents."""
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def line_max(line):
    finite = [v for v in line.get_ydata() if is_number(v)]
    return max(finite) if finite else 0.0


def fit_speedup_axis(ax):
    """Log scale when the speedups span more than 10x, so small and large ones both read."""
    values = [v for line in ax.get_lines() for v in line.get_ydata() if is_number(v) and v > 0]
    values.append(1.0)  # the reference line at 1 stays in view
    low, high = min(values), max(values)
    if high / low > 10:
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    else:
        ax.set_ylim(0, high * 1.1)


def finish_figure(fig, title, subtitle_lines, handles, legend_title):
    """Title, subtitle and one shared legend to the right, clear of every panel.

    The header is laid out in inches (not figure fractions), so short and tall figures get
    the same spacing; tight_layout then fits the panels below it."""
    height = fig.get_figheight()
    # About 7 bold 15-point characters per inch: wrap rather than run past the figure.
    title_lines = textwrap.wrap(title, width=max(20, int(fig.get_figwidth() * 7))) or [""]
    title_in, line_in, gap_in = 0.3 * len(title_lines) + 0.04, 0.2, 0.15
    fig.text(0.5, 1 - 0.06 / height, "\n".join(title_lines), ha="center", va="top", fontsize=15,
             fontweight="bold")
    fig.text(0.5, 1 - (0.06 + title_in) / height, "\n".join(subtitle_lines), ha="center", va="top",
             fontsize=10, color="#444444", linespacing=1.3)
    header_in = 0.06 + title_in + line_in * len(subtitle_lines) + gap_in
    fig.tight_layout(rect=(0, 0, 1, 1 - header_in / height))
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False,
                   title=legend_title, fontsize=10, title_fontsize=10, alignment="left")


# ----------------------------------------------------------------------------- comparison


def draw_compare(doc_a, doc_b, path_a, path_b):
    rows_a, rows_b = doc_a["dsconv"]["rows"], doc_b["dsconv"]["rows"]
    medians_a = {(r["impl"], r["pass"], problem_id(r)): r["median_ms"] for r in ok_rows(rows_a)}
    pairs = []  # (row in B, B median / A median)
    for r in ok_rows(rows_b):
        a = medians_a.get((r["impl"], r["pass"], problem_id(r)))
        if a:
            pairs.append((r, r["median_ms"] / a))
    if not pairs:
        raise InputError(f"{path_b}: no (implementation, pass, problem) is ok in both this file and {path_a}")
    matched = [r for r, _ in pairs]
    impls = unique_in_order(r["impl"] for r in matched)
    styles = Styles(impls)
    passes = passes_of(matched)
    block = doc_b["dsconv"]
    x_axis = block.get("x_axis") or "x"
    x_label = block.get("x_label") or x_axis
    xaxis = XAxis(r["x"] for r in matched)
    fields = variant_fields(matched, x_axis)
    variants = unique_in_order(variant_of(r, fields) for r in matched)
    ratio_of = {id(r): ratio for r, ratio in pairs}

    fig, axes = plt.subplots(1, len(passes), figsize=(6.2 * len(passes) + 0.6, 5.2), squeeze=False)
    caption_a, caption_b = run_caption(doc_a), run_caption(doc_b)
    for col, pass_name in enumerate(passes):
        ax = axes[0, col]
        ax.axhline(1.0, color="black", linewidth=0.9, alpha=0.6, zorder=1)
        for impl in impls:
            for vi, variant in enumerate(variants):
                series = [r for r in matched if r["impl"] == impl and r["pass"] == pass_name
                          and variant_of(r, fields) == variant]
                if series:
                    ax.plot(*series_points(series, xaxis, lambda r: ratio_of[id(r)]), **styles.line(impl, vi))
        ratios = [ratio for r, ratio in pairs if r["pass"] == pass_name] + [1.0]
        if max(ratios) / min(ratios) > 4:
            ax.set_yscale("log", base=2)  # symmetric: 2x slower and 2x faster are equally far from 1
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        else:
            spread = max(abs(max(ratios) - 1), abs(1 - min(ratios)), 0.05) * 1.15
            ax.set_ylim(1 - spread, 1 + spread)
        ax.grid(True, alpha=0.3)
        ax.set_title(pass_name, fontsize=13, fontweight="bold")
        xaxis.style(ax, x_label, show_ticklabels=True)
        if col == 0:
            ax.set_ylabel("time ratio B / A  (< 1: B faster)")
    handles = legend_handles(impls, variants, fields, styles, {i: 0 for i in impls}, matched)
    title = f"{block.get('title') or block.get('sweep') or os.path.basename(path_b)}: B vs A"
    subtitle = [f"A = {caption_a}  ({path_a})", f"B = {caption_b}  ({path_b})"]
    finish_figure(fig, title, subtitle, handles, legend_title=f"B: {caption_b}\nA: {caption_a}")
    return fig


# ----------------------------------------------------------------------------- writing


def save_figure(fig, prefix):
    """Writes PREFIX.png and PREFIX.svg, each under a temporary name first, then renamed, so a
    failure leaves neither a partial file nor a stale pair from two different runs."""
    directory = os.path.dirname(os.path.abspath(prefix))
    os.makedirs(directory, exist_ok=True)
    temps = []
    try:
        umask = os.umask(0)
        os.umask(umask)
        for fmt in ("png", "svg"):
            fd, temp = tempfile.mkstemp(prefix=f".{os.path.basename(prefix)}.", suffix=f".{fmt}.tmp", dir=directory)
            os.close(fd)
            os.chmod(temp, 0o666 & ~umask)  # as a plain open() would make it, not mkstemp's 0600
            temps.append((temp, f"{prefix}.{fmt}"))
            fig.savefig(temp, format=fmt, dpi=130, bbox_inches="tight")
        for temp, final in temps:
            os.replace(temp, final)
    finally:
        for temp, _ in temps:
            if os.path.exists(temp):
                os.remove(temp)
    return [final for _, final in temps]


def strip_json(path):
    return path[:-5] if path.endswith(".json") else path


def parse_args(argv):
    parser = argparse.ArgumentParser(
        description="Plot a dsconv sweep results file, or compare two of them.",
        epilog="Examples:\n"
               "  plot.py results/h200/seed.json\n"
               "  plot.py --compare results/h200/seed.json results/h100/seed.json\n",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="?", metavar="RESULTS.json",
                        help="a results file written by 'dsconv sweep' (or 'dsconv merge')")
    parser.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                        help="plot B's median time over A's for every implementation and problem "
                             "ok in both (two commits, or two GPUs)")
    parser.add_argument("--out", metavar="PREFIX",
                        help="write PREFIX.png and PREFIX.svg (default: the results path without "
                             ".json; with --compare, B's path without .json plus '.vs.' and A's stem)")
    args = parser.parse_args(argv)
    if bool(args.results) == bool(args.compare):
        parser.error("give either one RESULTS.json or --compare A.json B.json")
    if args.out is not None and (not args.out or args.out.endswith(os.sep) or os.path.isdir(args.out)):
        parser.error(f"--out {args.out!r}: expected a file prefix (PREFIX.png and PREFIX.svg are written), "
                     "not a folder")
    return args


def main(argv=None):
    args = parse_args(argv)
    prefix = args.out
    try:
        if args.compare:
            path_a, path_b = args.compare
            doc_a, doc_b = load_results(path_a), load_results(path_b)
            prefix = args.out or f"{strip_json(path_b)}.vs.{os.path.basename(strip_json(path_a))}"
            fig = draw_compare(doc_a, doc_b, path_a, path_b)
        else:
            doc = load_results(args.results)
            prefix = args.out or strip_json(args.results)
            fig = draw_sweep(doc, args.results)
        written = save_figure(fig, prefix)
        plt.close(fig)
    except InputError as e:
        print(f"plot.py: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"plot.py: error: cannot write {prefix}.png and .svg: {e.strerror or e}", file=sys.stderr)
        return 2
    except ValueError as e:  # values matplotlib cannot place, e.g. an x of 1e308
        print(f"plot.py: error: cannot draw {args.results or ' vs '.join(args.compare)}: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
