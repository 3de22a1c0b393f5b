#include "harness/gate.h"

#include <fmt/format.h>
#include <fmt/ranges.h>  // fmt::join

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/errors.h"
#include "harness/table.h"

namespace dsconv {

namespace {

using nlohmann::json;

// The device fields that must agree: timings from another GPU, driver, CUDA or cuDNN are
// not comparable (a driver update alone can move kernels by several percent).
constexpr const char* kDeviceFields[] = {"gpu", "driver", "cuda_runtime", "cudnn"};

// One row of a results file, as far as the gate needs it.
struct Row {
  std::string benchmark, impl, status, reason;
  std::vector<double> samples_ms;  // only for "ok" rows
  double median_ms = 0;            // only for "ok" rows
};

struct Results {
  std::map<std::string, std::string> device;  // kDeviceFields
  std::string commit;
  std::vector<Row> rows;  // our implementations only, in file order
};

// Reference implementations (PyTorch, from scripts/torch_baseline.py) are context, not
// code under test: the gate ignores them.
bool is_reference_impl(const std::string& impl) { return impl.rfind("torch_", 0) == 0; }

std::string shown(const json& value) {
  std::string s = value.dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

// Reads the structure docs/results-format.md promises and says exactly what is not there.
class ResultsReader {
 public:
  explicit ResultsReader(std::string source) : source_(std::move(source)) {}

  Results read(const json& doc) const {
    if (!doc.is_object()) fail("", fmt::format("expected a JSON object at the top level, got {}", shown(doc)));
    if (!doc.contains("dsconv"))
      fail("", "no \"dsconv\" block: not a results file written by `dsconv sweep` (docs/results-format.md)");
    const json& block = doc["dsconv"];
    if (!block.is_object()) fail("dsconv", fmt::format("expected an object, got {}", shown(block)));
    if (block.contains("format") && block["format"] != 1)
      fail("dsconv.format",
           fmt::format("format {} is not understood; this dsconv reads format 1", shown(block["format"])));

    Results r;
    const json& device = member(block, "device", "dsconv");
    if (!device.is_object()) fail("dsconv.device", fmt::format("expected an object, got {}", shown(device)));
    for (const char* field : kDeviceFields) r.device[field] = string_member(device, field, "dsconv.device");
    if (block.contains("git_commit") && block["git_commit"].is_string()) r.commit = block["git_commit"];

    const json& rows = member(block, "rows", "dsconv");
    if (!rows.is_array()) fail("dsconv.rows", fmt::format("expected an array, got {}", shown(rows)));
    std::set<std::string> seen;
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string where = fmt::format("dsconv.rows[{}]", i);
      const json& row = rows[i];
      if (!row.is_object()) fail(where, fmt::format("expected an object, got {}", shown(row)));
      Row out;
      out.impl = string_member(row, "impl", where);
      if (is_reference_impl(out.impl)) continue;
      out.benchmark = string_member(row, "benchmark", where);
      if (out.benchmark.empty()) fail(where + ".benchmark", "is empty");
      const std::string named = fmt::format("{} ({})", where, out.benchmark);
      if (!seen.insert(out.benchmark).second) fail(named, "the benchmark occurs twice in this file");
      out.status = string_member(row, "status", named);
      if (out.status != "ok" && out.status != "incorrect" && out.status != "skipped" && out.status != "error")
        fail(named + ".status",
             fmt::format("\"{}\" is not one of \"ok\", \"incorrect\", \"skipped\", \"error\"", out.status));
      if (row.contains("reason") && row["reason"].is_string()) out.reason = row["reason"];
      if (out.status == "ok") {
        out.median_ms = positive_number(member(row, "median_ms", named), named + ".median_ms");
        const json& samples = member(row, "samples_ms", named);
        if (!samples.is_array() || samples.empty())
          fail(named + ".samples_ms", fmt::format("expected a non-empty array of times, got {}", shown(samples)));
        for (size_t k = 0; k < samples.size(); ++k)
          out.samples_ms.push_back(positive_number(samples[k], fmt::format("{}.samples_ms[{}]", named, k)));
      }
      r.rows.push_back(std::move(out));
    }
    return r;
  }

 private:
  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw InputError(where.empty() ? fmt::format("{}: {}", source_, what)
                                   : fmt::format("{}: {}: {}", source_, where, what));
  }
  const json& member(const json& object, const char* key, const std::string& where) const {
    if (!object.contains(key)) fail(where, fmt::format("missing field \"{}\"", key));
    return object[key];
  }
  std::string string_member(const json& object, const char* key, const std::string& where) const {
    const json& value = member(object, key, where);
    if (!value.is_string()) fail(where + "." + key, fmt::format("expected a string, got {}", shown(value)));
    return value.get<std::string>();
  }
  double positive_number(const json& value, const std::string& where) const {
    if (!value.is_number()) fail(where, fmt::format("expected a time in ms (a number), got {}", shown(value)));
    const double v = value.get<double>();
    if (!(v > 0) || !std::isfinite(v)) fail(where, fmt::format("expected a positive time in ms, got {}", shown(value)));
    return v;
  }

  std::string source_;
};

std::string percent(double fraction) { return fmt::format("{:g}%", fraction * 100); }
std::string change(double ratio) { return fmt::format("{:+.1f}%", (ratio - 1) * 100); }
std::string slower_by(double ratio) { return fmt::format("{:.1f}%", (ratio - 1) * 100); }
std::string p_text(double p) { return fmt::format("{:.2g}", p); }
std::string ms_text(double ms) { return fmt::format("{:.4g}", ms); }

std::string status_note(const Row& row) {
  return row.reason.empty() ? row.status : fmt::format("{}: {}", row.status, row.reason);
}

// Both rows ok: the ratio of medians decides the direction and size, the rank test whether
// it is more than noise.
GateRow compare_timings(const Row& base, const Row& cur, const GateOptions& o) {
  GateRow g;
  g.benchmark = cur.benchmark;
  g.baseline_ms = base.median_ms;
  g.current_ms = cur.median_ms;
  const double ratio = cur.median_ms / base.median_ms;
  g.ratio = ratio;
  if (ratio >= 1) {
    const MannWhitneyResult t = mann_whitney_greater(cur.samples_ms, base.samples_ms);
    g.test = t;
    const bool significant = t.p_value < o.alpha;
    if (ratio > 1 + o.max_slowdown && significant) {
      g.verdict = GateVerdict::regression;
      // Notes start with a word: the terminal table right-aligns cells that start like a number.
      g.note = fmt::format("slower by {}, over the {} allowed; significant (p = {} < {:g})", slower_by(ratio),
                           percent(o.max_slowdown), p_text(t.p_value), o.alpha);
    } else if (ratio > 1 + o.max_slowdown) {
      g.note = fmt::format("slower by {} but not significant (p = {} >= {:g}): noisy, rerun or add repetitions",
                           slower_by(ratio), p_text(t.p_value), o.alpha);
    } else if (significant && ratio > 1) {
      g.note = fmt::format("slower by {}, significant (p = {}) but within the {} allowed", slower_by(ratio),
                           p_text(t.p_value), percent(o.max_slowdown));
    }
  } else {
    const MannWhitneyResult t = mann_whitney_greater(base.samples_ms, cur.samples_ms);
    g.test = t;
    if (ratio < 1 - o.max_slowdown && t.p_value < o.alpha) {
      g.verdict = GateVerdict::improvement;
      g.note = fmt::format("faster: {:.2f}x the baseline's speed (p = {})", 1 / ratio, p_text(t.p_value));
    } else if (ratio < 1 - o.max_slowdown) {
      g.note = fmt::format("faster by {:.1f}% but not significant (p = {})", (1 - ratio) * 100, p_text(t.p_value));
    }
  }
  return g;
}

GateRow compare_row(const Row* base, const Row* cur, const GateOptions& o) {
  GateRow g;
  g.benchmark = base ? base->benchmark : cur->benchmark;
  if (!cur) {
    g.verdict = GateVerdict::missing;
    g.note = fmt::format("in the baseline ({}), not in the current results", base->status);
  } else if (cur->status != "ok") {
    if (cur->status == "skipped" && (!base || base->status == "skipped")) {
      g.verdict = base ? GateVerdict::skipped : GateVerdict::added;
      g.note = status_note(*cur);
    } else {
      // Wrong answers fail even on a row the baseline does not have: a new kernel that is
      // wrong is still a wrong kernel.
      g.verdict = GateVerdict::incorrect;
      g.note = status_note(*cur);
      if (base) g.note += fmt::format(" (baseline: {})", base->status);
    }
  } else if (!base) {
    g.verdict = GateVerdict::added;
    g.current_ms = cur->median_ms;
    g.note = "new: not in the baseline";
  } else if (base->status != "ok") {
    g.current_ms = cur->median_ms;
    g.note = fmt::format("no timing comparison: {} in the baseline", base->status);
  } else {
    g = compare_timings(*base, *cur, o);
  }
  return g;
}

std::string verdict_cell(GateVerdict v) {
  std::string s(to_string(v));
  if (is_failure(v)) std::transform(s.begin(), s.end(), s.begin(), [](char c) { return char(std::toupper(c)); });
  return s;
}

std::string counted(size_t n, GateVerdict v) {
  const bool plural = n != 1 && (v == GateVerdict::regression || v == GateVerdict::improvement);
  return fmt::format("{} {}{}", n, to_string(v), plural ? "s" : "");
}

constexpr GateVerdict kAllVerdicts[] = {GateVerdict::regression, GateVerdict::incorrect,   GateVerdict::missing,
                                        GateVerdict::ok,         GateVerdict::improvement, GateVerdict::skipped,
                                        GateVerdict::added};

// "1 regression, 1 missing" for the failures; "4 rows: 2 ok, 1 improvement, ..." for all.
std::string failure_counts(const GateResult& r) {
  std::vector<std::string> parts;
  for (GateVerdict v : kAllVerdicts)
    if (is_failure(v) && r.count(v)) parts.push_back(counted(r.count(v), v));
  if (!r.device_issues.empty() && !r.options.allow_device_mismatch) parts.push_back("device mismatch");
  return fmt::format("{}", fmt::join(parts, ", "));
}

std::string all_counts(const GateResult& r) {
  std::vector<std::string> parts;
  for (GateVerdict v : kAllVerdicts)
    if (r.count(v)) parts.push_back(counted(r.count(v), v));
  return fmt::format("{} rows: {}", r.rows.size(), fmt::join(parts, ", "));
}

std::string ratio_text(const GateResult& r) {
  return r.max_ratio ? fmt::format("largest median ratio {:.3f}", *r.max_ratio) : "no timings compared";
}

std::string criteria(const GateOptions& o) {
  return fmt::format("A regression is a median slower by more than {} with a one-sided Mann-Whitney U p < {:g}",
                     percent(o.max_slowdown), o.alpha);
}

std::vector<std::string> cells(const GateRow& g) {
  return {verdict_cell(g.verdict),
          g.benchmark,
          g.baseline_ms ? ms_text(*g.baseline_ms) : "-",
          g.current_ms ? ms_text(*g.current_ms) : "-",
          g.ratio ? change(*g.ratio) : "-",
          g.test ? p_text(g.test->p_value) : "-",
          g.note};
}

const std::vector<std::string> kHeader = {"verdict", "benchmark", "baseline ms", "current ms", "change", "p", "note"};

std::string markdown_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n')
      out += ' ';
    else
      out += c;
  }
  return out;
}

std::string markdown_table(const std::vector<const GateRow*>& rows) {
  std::string out = "| " + fmt::format("{}", fmt::join(kHeader, " | ")) + " |\n|";
  for (size_t c = 0; c < kHeader.size(); ++c) out += c >= 2 && c <= 5 ? " --: |" : " --- |";
  out += '\n';
  for (const GateRow* g : rows) {
    std::vector<std::string> row = cells(*g);
    row[1] = "`" + row[1] + "`";
    for (std::string& cell : row) cell = markdown_escape(cell);
    out += "| " + fmt::format("{}", fmt::join(row, " | ")) + " |\n";
  }
  return out;
}

}  // namespace

std::string_view to_string(GateVerdict v) {
  switch (v) {
    case GateVerdict::regression:
      return "regression";
    case GateVerdict::incorrect:
      return "incorrect";
    case GateVerdict::missing:
      return "missing";
    case GateVerdict::ok:
      return "ok";
    case GateVerdict::improvement:
      return "improvement";
    case GateVerdict::skipped:
      return "skipped";
    case GateVerdict::added:
      return "new";
  }
  return "?";
}

bool is_failure(GateVerdict v) {
  return v == GateVerdict::regression || v == GateVerdict::incorrect || v == GateVerdict::missing;
}

size_t GateResult::count(GateVerdict v) const {
  return size_t(std::count_if(rows.begin(), rows.end(), [v](const GateRow& g) { return g.verdict == v; }));
}

GateResult run_gate(const nlohmann::json& baseline, const nlohmann::json& current, const GateOptions& options) {
  if (!(options.max_slowdown >= 0) || !std::isfinite(options.max_slowdown))
    throw InputError(fmt::format("max slowdown {} must be a fraction >= 0 (0.05 for 5%)", options.max_slowdown));
  if (!(options.alpha > 0 && options.alpha < 1))
    throw InputError(fmt::format("alpha {} must lie strictly between 0 and 1", options.alpha));
  const Results base = ResultsReader("baseline").read(baseline);
  const Results cur = ResultsReader("current").read(current);
  if (base.rows.empty())
    throw InputError("baseline: dsconv.rows holds no rows of dsconv implementations: nothing to gate against");

  GateResult r;
  r.options = options;
  r.device = fmt::format("{}, driver {}, CUDA {}, cuDNN {}", cur.device.at("gpu"), cur.device.at("driver"),
                         cur.device.at("cuda_runtime"), cur.device.at("cudnn"));
  r.baseline_commit = base.commit;
  r.current_commit = cur.commit;
  for (const char* field : kDeviceFields)
    if (base.device.at(field) != cur.device.at(field))
      r.device_issues.push_back(fmt::format("device.{} differs: baseline \"{}\", current \"{}\"", field,
                                            base.device.at(field), cur.device.at(field)));

  std::map<std::string, const Row*> current_by_name, baseline_by_name;
  for (const Row& row : cur.rows) current_by_name[row.benchmark] = &row;
  for (const Row& row : base.rows) baseline_by_name[row.benchmark] = &row;
  for (const Row& row : base.rows) {
    const auto it = current_by_name.find(row.benchmark);
    r.rows.push_back(compare_row(&row, it == current_by_name.end() ? nullptr : it->second, options));
  }
  for (const Row& row : cur.rows)
    if (!baseline_by_name.count(row.benchmark)) r.rows.push_back(compare_row(nullptr, &row, options));

  for (const GateRow& g : r.rows) {
    if (is_failure(g.verdict)) r.passed = false;
    if (g.ratio) r.max_ratio = std::max(r.max_ratio.value_or(*g.ratio), *g.ratio);
  }
  if (!r.device_issues.empty() && !options.allow_device_mismatch) r.passed = false;
  return r;
}

std::string GateResult::text() const {
  std::string out = fmt::format("gate on {}\n{}.\n", device, criteria(options));
  for (const std::string& issue : device_issues)
    out += fmt::format("{}: {}\n", options.allow_device_mismatch ? "warning" : "FAIL", issue);
  if (!device_issues.empty() && !options.allow_device_mismatch)
    out +=
        "timings from another device are not comparable: gate against a baseline from this device, "
        "or pass --allow-device-mismatch\n";
  out += '\n';
  TextTable table(kHeader);
  for (const GateRow& g : rows) table.add(cells(g));
  std::ostringstream printed;
  table.print(printed);
  out += printed.str();
  out += fmt::format("\ngate: {}{} ({}; {})\n", passed ? "PASS" : "FAIL", passed ? "" : ": " + failure_counts(*this),
                     all_counts(*this), ratio_text(*this));
  return out;
}

std::string GateResult::markdown() const {
  std::string out =
      fmt::format("### {} dsconv gate: {}\n\n", passed ? ":white_check_mark:" : ":x:", passed ? "PASS" : "FAIL");
  if (!passed) out += fmt::format("**{}**\n\n", failure_counts(*this));
  out += fmt::format("{}; {}.\n\n", all_counts(*this), ratio_text(*this));
  out += fmt::format("Device: {}.", device);
  if (!baseline_commit.empty() || !current_commit.empty())
    out += fmt::format(" Baseline commit `{}`, current `{}`.", baseline_commit.empty() ? "?" : baseline_commit,
                       current_commit.empty() ? "?" : current_commit);
  out += fmt::format(" {}.\n\n", criteria(options));
  for (const std::string& issue : device_issues)
    out += fmt::format("> **{}**: {}\n", options.allow_device_mismatch ? "Warning" : "Device mismatch",
                       markdown_escape(issue));
  if (!device_issues.empty()) out += '\n';

  std::vector<const GateRow*> failures, improvements, rest;
  for (const GateRow& g : rows)
    (is_failure(g.verdict) ? failures : g.verdict == GateVerdict::improvement ? improvements : rest).push_back(&g);
  if (!failures.empty()) out += "#### Regressions and failures\n\n" + markdown_table(failures) + '\n';
  if (!improvements.empty()) out += "#### Improvements\n\n" + markdown_table(improvements) + '\n';
  if (!rest.empty())
    out += fmt::format("<details><summary>Other rows ({})</summary>\n\n{}\n</details>\n", rest.size(),
                       markdown_table(rest));
  return out;
}

nlohmann::json load_results_file(const std::string& path) {
  const std::string text = read_file(path);
  if (text.find_first_not_of(" \t\r\n") == std::string::npos)
    throw InputError(fmt::format("{}: the file is empty", path));
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    // nlohmann prefixes its messages with "[json.exception.parse_error.101] ": not for users.
    std::string what = e.what();
    if (const size_t end = what.find("] "); what.rfind("[json.exception", 0) == 0 && end != std::string::npos)
      what = what.substr(end + 2);
    const bool truncated = what.find("end of input") != std::string::npos;
    throw InputError(fmt::format("{}: not valid JSON{}: {}", path, truncated ? " (truncated?)" : "", what));
  }
  ResultsReader(path).read(doc);
  return doc;
}

}  // namespace dsconv
