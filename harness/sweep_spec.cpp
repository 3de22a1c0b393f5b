#include "harness/sweep_spec.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include "harness/atomic_file.h"
#include "harness/errors.h"

namespace dsconv {

namespace {

const std::set<std::string> kTopLevelKeys = {"name",       "title", "description", "x_axis", "x_label",
                                             "lines",      "passes", "fixed",      "axes",   "points",
                                             "tie",        "repetitions", "min_time", "warmup", "distribution"};

class SpecReader {
 public:
  explicit SpecReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", file_, where, what));
  }

  std::string scalar_text(const YAML::Node& node) const {
    return node.IsScalar() ? node.Scalar() : std::string(node.IsSequence() ? "a list" : node.IsMap() ? "a map" : "null");
  }

  int64_t integer(const YAML::Node& node, const std::string& where) const {
    if (!node.IsScalar()) fail(where, fmt::format("expected an integer, found {}", scalar_text(node)));
    const std::string& s = node.Scalar();
    if (s == "true" || s == "false") return s == "true" ? 1 : 0;  // for bias
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || ptr != s.data() + s.size()) fail(where, fmt::format("expected an integer, found '{}'", s));
    return v;
  }

  double number(const YAML::Node& node, const std::string& where) const {
    if (!node.IsScalar()) fail(where, fmt::format("expected a number, found {}", scalar_text(node)));
    try {
      size_t used = 0;
      const double v = std::stod(node.Scalar(), &used);
      if (used != node.Scalar().size()) throw std::invalid_argument("");
      return v;
    } catch (const std::exception&) {
      fail(where, fmt::format("expected a number, found '{}'", node.Scalar()));
    }
  }

  std::string string(const YAML::Node& node, const std::string& where) const {
    if (!node.IsScalar()) fail(where, fmt::format("expected a string, found {}", scalar_text(node)));
    return node.Scalar();
  }

  std::vector<std::string> string_list(const YAML::Node& node, const std::string& where) const {
    if (node.IsScalar()) return {node.Scalar()};
    if (!node.IsSequence()) fail(where, "expected a list of names");
    std::vector<std::string> out;
    for (size_t i = 0; i < node.size(); ++i) out.push_back(string(node[i], fmt::format("{}[{}]", where, i)));
    if (out.empty()) fail(where, "the list is empty");
    return out;
  }

  // yaml-cpp keeps a repeated key of a map without a word; a spec that gives one twice is
  // ambiguous, so it is refused.
  void check_unique_keys(const YAML::Node& map, const std::string& where) const {
    std::set<std::string> keys;
    for (const auto& kv : map)
      if (!keys.insert(kv.first.as<std::string>()).second)
        fail(where, fmt::format("'{}' is given twice", kv.first.as<std::string>()));
  }

  // Applies a map of problem fields to `p`; `where` names the map in messages.
  void apply_fields(Problem& p, const YAML::Node& map, const std::string& where, std::string* label) const {
    if (!map.IsMap()) fail(where, "expected a map of problem fields");
    check_unique_keys(map, where);
    for (const auto& kv : map) {
      const std::string key = kv.first.as<std::string>();
      const std::string at = fmt::format("{}.{}", where, key);
      if (key == "label" && label) {
        *label = string(kv.second, at);
        continue;
      }
      set_field(p, key, integer(kv.second, at), at);
    }
  }

  // One problem field, its value checked (bias 0 or 1, sizes within int where the field is one).
  void set_field(Problem& p, const std::string& key, int64_t value, const std::string& at) const {
    if (!set_problem_field(p, key, value))
      fail(at, fmt::format("unknown problem field '{}' (fields: {})", key, problem_field_names()));
    if (const std::string error = problem_field_value_error(key, value); !error.empty()) fail(at, error);
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

}  // namespace

SweepSpec parse_sweep_spec(const std::string& yaml_text, const std::string& file) {
  SpecReader r(file);
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    throw InputError(fmt::format("{}: not valid YAML: {}", file, e.what()));
  }
  if (!root.IsMap()) r.fail("top level", "expected a map of sweep settings");
  r.check_unique_keys(root, "top level");
  for (const auto& kv : root) {
    const std::string key = kv.first.as<std::string>();
    if (!kTopLevelKeys.count(key))
      r.fail(key, "unknown key (allowed: name, title, description, x_axis, x_label, lines, passes, fixed, axes, "
                  "points, tie, repetitions, min_time, warmup, distribution)");
  }

  SweepSpec spec;
  spec.file = file;
  spec.name = root["name"] ? r.string(root["name"], "name") : std::filesystem::path(file).stem().string();
  // The name becomes results/<gpu>/NAME.json: a plain file name, nothing that leaves the folder.
  const bool plain =
      !spec.name.empty() && spec.name.front() != '.' && std::all_of(spec.name.begin(), spec.name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
      });
  if (!plain)
    r.fail("name",
           fmt::format("'{}' is not a plain file name: use letters, digits, '_', '-' and '.', not first", spec.name));
  spec.title = root["title"] ? r.string(root["title"], "title") : spec.name;
  if (!root["x_axis"]) r.fail("x_axis", "missing: name the problem field on the x axis, or label");
  spec.x_axis = r.string(root["x_axis"], "x_axis");
  if (spec.x_axis != "label") {
    Problem probe;
    if (!set_problem_field(probe, spec.x_axis, 1))
      r.fail("x_axis", fmt::format("'{}' is not a problem field or label (fields: {})", spec.x_axis, problem_field_names()));
  }
  spec.x_label = root["x_label"] ? r.string(root["x_label"], "x_label") : spec.x_axis;

  // Lines: registered implementations.
  if (root["lines"]) {
    const std::vector<std::string> names = r.string_list(root["lines"], "lines");
    if (names.size() == 1 && names[0] == "all") {
      spec.lines = all_kernels();
    } else {
      for (const std::string& n : names) {
        const Kernel* k = find_kernel(n);
        if (!k) r.fail("lines", fmt::format("unknown implementation '{}' (known: {})", n, kernel_names()));
        spec.lines.push_back(k);
      }
    }
  } else {
    spec.lines = all_kernels();
  }
  if (root["passes"]) {
    for (const std::string& p : r.string_list(root["passes"], "passes")) {
      if (p != "forward" && p != "backward") r.fail("passes", fmt::format("'{}' is not forward or backward", p));
      spec.passes.push_back(parse_pass(p));
    }
  } else {
    spec.passes = {Pass::forward, Pass::backward};
  }

  if (root["repetitions"]) {
    const int64_t reps = r.integer(root["repetitions"], "repetitions");
    if (reps < 1 || reps > 1000) r.fail("repetitions", fmt::format("{} is out of range: allowed 1 to 1000", reps));
    spec.timing.repetitions = int(reps);
  }
  if (root["min_time"]) {
    spec.timing.min_time_s = r.number(root["min_time"], "min_time");
    if (spec.timing.min_time_s <= 0 || spec.timing.min_time_s > 60)
      r.fail("min_time", fmt::format("{} is out of range: allowed (0, 60] seconds", spec.timing.min_time_s));
  }
  if (root["warmup"]) {
    spec.timing.warmup_s = r.number(root["warmup"], "warmup");
    if (spec.timing.warmup_s < 0 || spec.timing.warmup_s > 60)
      r.fail("warmup", fmt::format("{} is out of range: allowed 0 to 60 seconds", spec.timing.warmup_s));
  }
  if (root["distribution"]) {
    const std::string d = r.string(root["distribution"], "distribution");
    if (d != "normal" && d != "uniform" && d != "wide")
      r.fail("distribution", fmt::format("'{}' is not normal, uniform or wide", d));
    spec.distribution = parse_distribution(d);
  }

  Problem base = Problem::kernelbench_l1_86();
  if (root["fixed"]) r.apply_fields(base, root["fixed"], "fixed", nullptr);

  // tie: {c_out: {c_in: 2}} sets c_out = 2 * c_in after each point is built.
  std::vector<std::tuple<std::string, std::string, int64_t>> ties;
  if (root["tie"]) {
    if (!root["tie"].IsMap()) r.fail("tie", "expected a map like {c_out: {c_in: 2}}");
    for (const auto& kv : root["tie"]) {
      const std::string target = kv.first.as<std::string>();
      const std::string at = "tie." + target;
      Problem probe;
      if (!set_problem_field(probe, target, 1)) r.fail(at, fmt::format("unknown problem field '{}'", target));
      if (!kv.second.IsMap() || kv.second.size() != 1) r.fail(at, "expected one {field: factor}");
      const auto source = *kv.second.begin();
      const std::string from = source.first.as<std::string>();
      if (!set_problem_field(probe, from, 1)) r.fail(at, fmt::format("unknown problem field '{}'", from));
      const int64_t factor = r.integer(source.second, at + "." + from);
      if (factor < 1) r.fail(at + "." + from, fmt::format("factor {} must be at least 1", factor));
      ties.emplace_back(target, from, factor);
    }
  }

  struct Pending {
    Problem problem;
    std::string label;
    std::string where;
  };
  std::vector<Pending> pending;
  if (root["axes"] && root["points"]) r.fail("axes", "give either axes or points, not both");
  if (root["axes"]) {
    const YAML::Node axes = root["axes"];
    if (!axes.IsMap() || axes.size() == 0) r.fail("axes", "expected a map of field: [values]");
    r.check_unique_keys(axes, "axes");
    pending.push_back({base, "", "axes"});
    for (const auto& kv : axes) {
      const std::string key = kv.first.as<std::string>();
      const std::string at = "axes." + key;
      Problem probe;
      if (!set_problem_field(probe, key, 1))
        r.fail(at, fmt::format("unknown problem field '{}' (fields: {})", key, problem_field_names()));
      if (!kv.second.IsSequence()) r.fail(at, fmt::format("expected a list of values, found {}", r.scalar_text(kv.second)));
      if (kv.second.size() == 0) r.fail(at, "the axis is empty");
      std::vector<Pending> next;
      for (const Pending& p : pending)
        for (size_t i = 0; i < kv.second.size(); ++i) {
          Pending q = p;
          const std::string value_at = fmt::format("{}[{}]", at, i);
          r.set_field(q.problem, key, r.integer(kv.second[i], value_at), value_at);
          q.where = fmt::format("{} {}={}", q.where, key, kv.second[i].Scalar());
          next.push_back(std::move(q));
        }
      pending = std::move(next);
    }
  } else if (root["points"]) {
    const YAML::Node points = root["points"];
    if (!points.IsSequence() || points.size() == 0) r.fail("points", "expected a non-empty list of maps");
    for (size_t i = 0; i < points.size(); ++i) {
      Pending q{base, "", fmt::format("points[{}]", i)};
      r.apply_fields(q.problem, points[i], q.where, &q.label);
      if (!q.label.empty()) q.where += fmt::format(" ({})", q.label);
      pending.push_back(std::move(q));
    }
  } else {
    pending.push_back({base, "", "fixed"});
  }
  if (spec.x_axis == "label" && !root["points"]) r.fail("x_axis", "label needs explicit points with labels");

  std::set<std::string> seen;
  for (Pending& q : pending) {
    for (const auto& [target, from, factor] : ties)
      set_problem_field(q.problem, target, factor * get_problem_field(q.problem, from));
    if (const std::string reason = q.problem.invalid_reason(); !reason.empty()) r.fail(q.where, reason);
    if (!seen.insert(q.problem.key()).second) r.fail(q.where, fmt::format("repeats the problem {}", q.problem.key()));
    SweepPoint point;
    point.index = spec.points.size();
    point.problem = q.problem;
    point.label = q.label;
    if (spec.x_axis == "label") {
      if (q.label.empty()) r.fail(q.where, "x_axis is label, but this point has none");
      point.x = q.label;
    } else {
      point.x = get_problem_field(q.problem, spec.x_axis);
    }
    spec.points.push_back(std::move(point));
  }
  // A plot against an x that never changes is a spec error (an axis of `size` moves h; one of
  // c_in does not).
  std::set<std::string> xs;
  for (const SweepPoint& point : spec.points) xs.insert(point.x.dump());
  if (spec.x_axis == "label" && xs.size() != spec.points.size()) r.fail("points", "two points have the same label");
  if (spec.points.size() > 1 && xs.size() == 1)
    r.fail("x_axis", fmt::format("'{}' is {} in every point: name the field the {} vary", spec.x_axis,
                                 spec.points.front().x.dump(), root["axes"] ? "axes" : "points"));
  return spec;
}

SweepSpec load_sweep_spec(const std::string& path) { return parse_sweep_spec(read_file(path), path); }

std::pair<int, int> parse_shard(const std::string& shard) {
  int i = -1, n = 0;
  const size_t slash = shard.find('/');
  auto parse = [](const std::string& s, int& v) {
    const auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return ec == std::errc() && ptr == s.data() + s.size();
  };
  if (slash == std::string::npos || !parse(shard.substr(0, slash), i) || !parse(shard.substr(slash + 1), n))
    throw InputError(fmt::format("--shard '{}': expected i/N, for example 0/4", shard));
  if (n < 1 || i < 0 || i >= n)
    throw InputError(fmt::format("--shard '{}': need N >= 1 and 0 <= i < N", shard));
  return {i, n};
}

std::vector<SweepPoint> shard_points(const std::vector<SweepPoint>& points, const std::string& shard) {
  const auto [i, n] = parse_shard(shard);
  std::vector<SweepPoint> out;
  for (const SweepPoint& p : points)
    if (int(p.index % size_t(n)) == i) out.push_back(p);
  return out;
}

}  // namespace dsconv
