// Sweep specs (sweeps/*.yaml), Triton-style: an x axis, the lines (implementations), the
// passes, fixed parameters, and either `axes` (a cartesian product) or explicit `points`.
//
//   name: channels                 # default: the file's stem; a plain file name
//   title: Channel count           # shown on reports and plots
//   x_axis: c_in                   # a problem field, or "label" for named points
//   x_label: C_in (= C_out / 2)
//   lines: [cudnn, tiled, fused]   # default: every registered implementation
//   passes: [forward, backward]    # default: both
//   fixed: {n: 16, h: 128, w: 128, k: 3, padding: 1}
//   axes: {c_in: [16, 32, 64]}     # or points: [{label: conv1, c_in: 32, ...}, ...]
//   tie: {c_out: {c_in: 2}}        # optional: c_out = 2 * c_in in every point
//   repetitions: 10                # optional timing settings
//   min_time: 0.05
//   distribution: normal
//
// Problem fields are those of set_problem_field(): n, c_in, c_out, h, w, size, kh, kw, k,
// stride..., pad..., padding, dil..., dilation, bias. Unset fields take the KernelBench
// L1#86 values. A key given twice in one map is refused, and so is an x axis whose value is
// the same in every point.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "harness/problem_data.h"
#include "harness/timing.h"
#include "kernels/kernel.h"

namespace dsconv {

struct SweepPoint {
  size_t index = 0;       // position in the expanded spec, stable across shards
  Problem problem;
  std::string label;      // a point's label, "" for axes
  nlohmann::json x;       // the x value: a number, or the label
};

struct SweepSpec {
  std::string file;
  std::string name;
  std::string title;
  std::string x_axis;
  std::string x_label;
  std::vector<const Kernel*> lines;
  std::vector<Pass> passes;
  std::vector<SweepPoint> points;
  TimingOptions timing;
  Distribution distribution = Distribution::normal;
};

// Parses and expands a spec file. Throws InputError naming the file, the key and the value
// on anything malformed: an unknown key, a wrong type, an empty axis, an unknown
// implementation, an invalid problem in a point.
SweepSpec load_sweep_spec(const std::string& path);
// The same from YAML text (`file` names it in messages).
SweepSpec parse_sweep_spec(const std::string& yaml_text, const std::string& file);

// Shard i of n ("i/n", 0-based): the points whose index % n == i. Throws InputError on a
// malformed or out-of-range shard.
std::vector<SweepPoint> shard_points(const std::vector<SweepPoint>& points, const std::string& shard);
std::pair<int, int> parse_shard(const std::string& shard);

}  // namespace dsconv
