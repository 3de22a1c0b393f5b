// Sweep specs (sweeps/*.yaml): every shipped spec expands, a malformed one is refused with the
// key and value named, and shards split the points without loss or overlap.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "harness/sweep_spec.h"
#include "test_helpers.h"

namespace dsconv {
namespace {

namespace fs = std::filesystem;
using testing::input_error;

std::string error_of(const std::string& yaml) {
  return input_error([&] { parse_sweep_spec(yaml, "spec.yaml"); });
}

TEST(SweepSpec, EveryShippedSpecExpands) {
  int specs = 0;
  for (const auto& entry : fs::directory_iterator(std::string(DSCONV_SOURCE_DIR) + "/sweeps")) {
    if (entry.path().extension() != ".yaml") continue;
    ++specs;
    const SweepSpec spec = load_sweep_spec(entry.path().string());
    EXPECT_EQ(spec.name, entry.path().stem().string());
    EXPECT_FALSE(spec.points.empty()) << spec.file;
    EXPECT_FALSE(spec.lines.empty()) << spec.file;
  }
  EXPECT_GE(specs, 7);
}

TEST(SweepSpec, AxesExpandAsACartesianProduct) {
  const SweepSpec spec = parse_sweep_spec(
      "x_axis: c_in\nfixed: {n: 2, size: 16}\naxes: {c_in: [8, 16, 32], k: [3, 5]}\n"
      "tie: {c_out: {c_in: 2}}\nlines: [naive]\npasses: forward\n",
      "sweeps/demo.yaml");
  EXPECT_EQ(spec.name, "demo");
  ASSERT_EQ(spec.points.size(), 6u);
  EXPECT_EQ(spec.points[5].problem.c_in, 32);
  EXPECT_EQ(spec.points[5].problem.c_out, 64);
  EXPECT_EQ(spec.points[5].problem.conv.kh, 5);
  EXPECT_EQ(spec.points[5].x, 32);
  EXPECT_EQ(spec.passes, std::vector<Pass>{Pass::forward});
}

TEST(SweepSpec, MalformedSpecsNameTheProblem) {
  const std::pair<const char*, const char*> cases[] = {
      {"x_axis: h\naxes: {size: [8, 16]\n", "not valid YAML"},
      {"x_axis: h\nspeed: 11\n", "speed: unknown key"},
      {"name: ../../elsewhere\nx_axis: h\naxes: {size: [8, 16]}\n", "is not a plain file name"},
      {"name: ''\nx_axis: h\naxes: {size: [8, 16]}\n", "is not a plain file name"},
      {"x_axis: h\nx_axis: w\naxes: {size: [8, 16]}\n", "'x_axis' is given twice"},
      {"x_axis: h\nfixed: {k: 3, k: 5}\naxes: {size: [8, 16]}\n", "fixed: 'k' is given twice"},
      {"x_axis: h\naxes: {c_in: [8, 16]}\n", "x_axis: 'h' is 512 in every point"},
      {"x_axis: h\nfixed: {bias: 7}\naxes: {size: [8, 16]}\n", "fixed.bias: bias = 7: expected 0 or 1"},
      {"x_axis: h\naxes: {size: [8, 0]}\n", "h = 0 is out of range"},
      {"x_axis: h\naxes: {size: []}\n", "axes.size: the axis is empty"},
      {"x_axis: label\npoints: [{label: a, n: 1}, {label: a, n: 2}]\n", "two points have the same label"},
      {"x_axis: h\nlines: [warp_speed]\naxes: {size: [8, 16]}\n", "unknown implementation 'warp_speed'"},
      {"x_axis: h\naxes: {size: [8, 16]}\npoints: [{n: 1}]\n", "give either axes or points"},
  };
  for (const auto& [yaml, expected] : cases) {
    const std::string error = error_of(yaml);
    EXPECT_NE(error.find(expected), std::string::npos) << yaml << "\n-> " << error;
    EXPECT_EQ(error.rfind("spec.yaml: ", 0), 0u) << error;  // names the file
  }
}

TEST(SweepSpec, ShardsSplitThePointsExactly) {
  const SweepSpec spec = load_sweep_spec(std::string(DSCONV_SOURCE_DIR) + "/sweeps/mobilenet.yaml");
  std::multiset<size_t> seen;
  for (int i = 0; i < 5; ++i)
    for (const SweepPoint& p : shard_points(spec.points, std::to_string(i) + "/5")) seen.insert(p.index);
  ASSERT_EQ(seen.size(), spec.points.size());
  for (size_t i = 0; i < spec.points.size(); ++i) EXPECT_EQ(seen.count(i), 1u) << i;
  for (const char* bad : {"5/5", "-1/2", "1", "a/b", "0/0"})
    EXPECT_NE(input_error([&] { parse_shard(bad); }), "no error") << bad;
}

}  // namespace
}  // namespace dsconv
