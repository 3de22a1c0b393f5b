// The regression gate: the Mann-Whitney U test against scipy's numbers, the gate's verdicts
// on CURRENT files made from a committed baseline, bad input, and `dsconv gate` end to end.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "harness/gate.h"
#include "harness/mann_whitney.h"
#include "test_helpers.h"

namespace dsconv {
namespace {

using nlohmann::json;

// ---------------------------------------------------------------------------------------
// Mann-Whitney U. Reference values: scipy.stats.mannwhitneyu(x, y, alternative="greater",
// method="exact" or "asymptotic"), scipy 1.17.

TEST(MannWhitney, ExactSmallSamplesMatchScipy) {
  const MannWhitneyResult r = mann_whitney_greater({1.2, 1.5, 1.7, 2.0, 2.2}, {1.0, 1.1, 1.3, 1.4, 1.6});
  EXPECT_EQ(r.method, MannWhitneyMethod::exact);
  EXPECT_DOUBLE_EQ(r.u, 21);
  EXPECT_NEAR(r.p_value, 0.047619047619047616, 1e-12);  // 12 of the 252 arrangements have U >= 21
}

TEST(MannWhitney, ExactUnequalSizesMatchScipy) {
  const MannWhitneyResult r = mann_whitney_greater({3.1, 4.7, 5.2, 6.0, 7.3, 8.8, 9.9},
                                                   {2.2, 3.3, 4.1, 5.5, 6.1, 6.9, 7.0, 7.7, 8.1, 10.2, 11.5});
  EXPECT_EQ(r.method, MannWhitneyMethod::exact);
  EXPECT_DOUBLE_EQ(r.u, 36);
  EXPECT_NEAR(r.p_value, 0.6042923579688285, 1e-12);
}

TEST(MannWhitney, CompletelySeparatedSamples) {
  std::vector<double> slow, fast;
  for (int i = 1; i <= 10; ++i) {
    fast.push_back(i);
    slow.push_back(i + 10);
  }
  const MannWhitneyResult greater = mann_whitney_greater(slow, fast);
  EXPECT_DOUBLE_EQ(greater.u, 100);
  EXPECT_NEAR(greater.p_value, 1 / 184756.0, 1e-15);  // 1 / C(20, 10) = 5.4125e-06
  const MannWhitneyResult less = mann_whitney_greater(fast, slow);
  EXPECT_DOUBLE_EQ(less.u, 0);
  EXPECT_DOUBLE_EQ(less.p_value, 1);
}

TEST(MannWhitney, ExactAtTheLargestSize) {
  std::vector<double> x, y, shifted;
  for (int i = 0; i < 30; ++i) {
    y.push_back(i);
    x.push_back(i + 0.5);
    shifted.push_back(i + 3.5);
  }
  const MannWhitneyResult a = mann_whitney_greater(x, y);
  EXPECT_EQ(a.method, MannWhitneyMethod::exact);
  EXPECT_DOUBLE_EQ(a.u, 465);
  EXPECT_NEAR(a.p_value, 0.4157502414362295, 1e-12);
  const MannWhitneyResult b = mann_whitney_greater(shifted, y);
  EXPECT_DOUBLE_EQ(b.u, 549);
  EXPECT_NEAR(b.p_value, 0.07311552619479568, 1e-12);
}

TEST(MannWhitney, OneValueEach) {
  const MannWhitneyResult r = mann_whitney_greater({1.5}, {1.0});
  EXPECT_EQ(r.method, MannWhitneyMethod::exact);
  EXPECT_DOUBLE_EQ(r.u, 1);
  EXPECT_DOUBLE_EQ(r.p_value, 0.5);
}

TEST(MannWhitney, TiesUseTheNormalApproximationWithTieCorrection) {
  const MannWhitneyResult r = mann_whitney_greater({1, 2, 2, 3, 4, 5}, {1, 1, 2, 3, 3});
  EXPECT_EQ(r.method, MannWhitneyMethod::normal);
  EXPECT_DOUBLE_EQ(r.u, 20);
  EXPECT_NEAR(r.p_value, 0.19906907986033667, 1e-12);
}

TEST(MannWhitney, LargeSamplesUseTheNormalApproximation) {
  std::vector<double> x, y;
  for (int i = 0; i < 35; ++i) x.push_back(i + 0.5);
  for (int i = 0; i < 31; ++i) y.push_back(i);
  const MannWhitneyResult r = mann_whitney_greater(x, y);
  EXPECT_EQ(r.method, MannWhitneyMethod::normal);
  EXPECT_DOUBLE_EQ(r.u, 620);
  EXPECT_NEAR(r.p_value, 0.1612575966797694, 1e-12);
}

TEST(MannWhitney, AllValuesEqualIsNoEvidence) {
  const MannWhitneyResult r = mann_whitney_greater({2, 2, 2}, {2, 2});
  EXPECT_EQ(r.method, MannWhitneyMethod::normal);
  EXPECT_DOUBLE_EQ(r.u, 3);
  EXPECT_DOUBLE_EQ(r.p_value, 1);
}

TEST(MannWhitney, RejectsEmptyAndNonFiniteSamples) {
  EXPECT_THROW(mann_whitney_greater({}, {1.0}), std::invalid_argument);
  EXPECT_THROW(mann_whitney_greater({1.0}, {}), std::invalid_argument);
  EXPECT_THROW(mann_whitney_greater({1.0, std::nan("")}, {1.0}), std::invalid_argument);
}

// ---------------------------------------------------------------------------------------
// The gate on documents. CURRENT variants are made from the committed baseline.

const std::string kBaselinePath = std::string(DSCONV_TEST_DATA) + "/gate/baseline.json";
const std::string kFusedForward = "fused/forward/n16_ci64_co128_h512_w512_k3x3_s1x1_p1x1_d1x1";
const std::string kNaiveBackward = "naive/backward/n16_ci64_co128_h512_w512_k3x3_s1x1_p1x1_d1x1";

json baseline() { return json::parse(testing::read_bytes(kBaselinePath)); }

json& row_of(json& doc, const std::string& benchmark) {
  for (json& row : doc["dsconv"]["rows"])
    if (row["benchmark"] == benchmark) return row;
  throw std::logic_error("no row " + benchmark);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// Replaces a row's samples by factor[i] * baseline median, and its median to match.
void set_samples(json& doc, const std::string& benchmark, const std::vector<double>& factors) {
  json& row = row_of(doc, benchmark);
  const double base = row["median_ms"];
  std::vector<double> samples;
  for (double f : factors) samples.push_back(f * base);
  row["samples_ms"] = samples;
  row["median_ms"] = median(samples);
}

// Every repetition of a row times `factor`: the same low noise, shifted.
void scale_row(json& doc, const std::string& benchmark, double factor) {
  json& row = row_of(doc, benchmark);
  std::vector<double> samples = row["samples_ms"];
  for (double& s : samples) s *= factor;
  row["samples_ms"] = samples;
  row["median_ms"] = double(row["median_ms"]) * factor;
}

const GateRow& verdict_of(const GateResult& r, const std::string& benchmark) {
  for (const GateRow& g : r.rows)
    if (g.benchmark == benchmark) return g;
  throw std::logic_error("no verdict for " + benchmark);
}

std::vector<std::string> failing(const GateResult& r) {
  std::vector<std::string> names;
  for (const GateRow& g : r.rows)
    if (is_failure(g.verdict)) names.push_back(g.benchmark);
  return names;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(Gate, BaselineFixtureLoads) {
  const json doc = load_results_file(kBaselinePath);
  EXPECT_EQ(doc["dsconv"]["rows"].size(), 5u);
}

TEST(Gate, IdenticalResultsPass) {
  const GateResult r = run_gate(baseline(), baseline());
  EXPECT_TRUE(r.passed) << r.text();
  EXPECT_EQ(r.rows.size(), 4u);  // the torch_eager row is not ours to gate
  EXPECT_EQ(r.count(GateVerdict::ok), 4u);
  ASSERT_TRUE(r.max_ratio.has_value());
  EXPECT_DOUBLE_EQ(*r.max_ratio, 1.0);
  EXPECT_TRUE(contains(r.text(), "gate: PASS")) << r.text();
}

TEST(Gate, TwentyPercentSlowerWithLowNoiseFails) {
  json current = baseline();
  scale_row(current, kFusedForward, 1.20);
  const GateResult r = run_gate(baseline(), current);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(failing(r), std::vector<std::string>{kFusedForward});
  const GateRow& g = verdict_of(r, kFusedForward);
  EXPECT_EQ(g.verdict, GateVerdict::regression);
  ASSERT_TRUE(g.test && g.ratio);
  EXPECT_NEAR(*g.ratio, 1.20, 1e-9);
  EXPECT_EQ(g.test->method, MannWhitneyMethod::exact);
  EXPECT_LT(g.test->p_value, 1e-4);
  EXPECT_NEAR(*r.max_ratio, 1.20, 1e-9);
  const std::string text = r.text();
  EXPECT_TRUE(contains(text, "REGRESSION")) << text;
  EXPECT_TRUE(contains(text, kFusedForward)) << text;
  EXPECT_TRUE(contains(text, "gate: FAIL: 1 regression")) << text;
}

TEST(Gate, ThreePercentSlowerPassesWithANote) {
  json current = baseline();
  scale_row(current, kFusedForward, 1.03);
  const GateResult r = run_gate(baseline(), current);
  EXPECT_TRUE(r.passed) << r.text();
  const GateRow& g = verdict_of(r, kFusedForward);
  EXPECT_EQ(g.verdict, GateVerdict::ok);
  EXPECT_LT(g.test->p_value, 0.05);  // a real but small slowdown: significant, within 5%
  EXPECT_TRUE(contains(g.note, "within the 5% allowed")) << g.note;
}

TEST(Gate, TenPercentSlowerButNoisyPassesWithANote) {
  json current = baseline();
  // Half the repetitions as fast as the baseline, half far slower: median +10%, but the
  // ranks give no evidence of a shift.
  set_samples(current, kFusedForward, {0.95, 0.96, 0.97, 0.98, 0.985, 1.215, 1.25, 1.3, 1.35, 1.4});
  const GateResult r = run_gate(baseline(), current);
  EXPECT_TRUE(r.passed) << r.text();
  const GateRow& g = verdict_of(r, kFusedForward);
  EXPECT_EQ(g.verdict, GateVerdict::ok);
  EXPECT_NEAR(*g.ratio, 1.10, 1e-9);
  EXPECT_GE(g.test->p_value, 0.05);
  EXPECT_TRUE(contains(g.note, "not significant")) << g.note;
}

TEST(Gate, IncorrectRowFails) {
  json current = baseline();
  json& row = row_of(current, kNaiveBackward);
  row["status"] = "incorrect";
  row["reason"] = "dW_dw: error 3.1x the bound at (0, 5, 1, 2)";
  row["samples_ms"] = nullptr;
  row["median_ms"] = nullptr;
  const GateResult r = run_gate(baseline(), current);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(failing(r), std::vector<std::string>{kNaiveBackward});
  const GateRow& g = verdict_of(r, kNaiveBackward);
  EXPECT_EQ(g.verdict, GateVerdict::incorrect);
  EXPECT_TRUE(contains(g.note, "dW_dw: error 3.1x")) << g.note;
}

TEST(Gate, ErrorRowAndNewlySkippedRowFail) {
  json current = baseline();
  row_of(current, kNaiveBackward)["status"] = "error";
  row_of(current, kFusedForward)["status"] = "skipped";
  const GateResult r = run_gate(baseline(), current);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(verdict_of(r, kNaiveBackward).verdict, GateVerdict::incorrect);
  EXPECT_EQ(verdict_of(r, kFusedForward).verdict, GateVerdict::incorrect);
  EXPECT_TRUE(contains(verdict_of(r, kFusedForward).note, "(baseline: ok)"));
}

TEST(Gate, SkippedInBothIsReportedNotFailed) {
  json base = baseline();
  json& b = row_of(base, kFusedForward);
  b["status"] = "skipped";
  b["reason"] = "needs stride 1";
  json current = base;
  const GateResult r = run_gate(base, current);
  EXPECT_TRUE(r.passed) << r.text();
  EXPECT_EQ(verdict_of(r, kFusedForward).verdict, GateVerdict::skipped);
}

TEST(Gate, MissingRowFails) {
  json current = baseline();
  json& rows = current["dsconv"]["rows"];
  rows.erase(
      std::remove_if(rows.begin(), rows.end(), [](const json& row) { return row["benchmark"] == kNaiveBackward; }),
      rows.end());
  const GateResult r = run_gate(baseline(), current);
  EXPECT_FALSE(r.passed);
  EXPECT_EQ(failing(r), std::vector<std::string>{kNaiveBackward});
  EXPECT_EQ(verdict_of(r, kNaiveBackward).verdict, GateVerdict::missing);
  EXPECT_TRUE(contains(r.text(), "MISSING")) << r.text();
}

TEST(Gate, NewRowIsReportedNeverFailed) {
  json current = baseline();
  json row = row_of(current, kFusedForward);
  row["benchmark"] = "tiled/forward/n16_ci64_co128_h512_w512_k3x3_s1x1_p1x1_d1x1";
  row["impl"] = "tiled";
  current["dsconv"]["rows"].push_back(row);
  const GateResult r = run_gate(baseline(), current);
  EXPECT_TRUE(r.passed) << r.text();
  EXPECT_EQ(r.count(GateVerdict::added), 1u);
  EXPECT_EQ(r.rows.back().verdict, GateVerdict::added);
  EXPECT_TRUE(contains(r.text(), "new")) << r.text();
}

TEST(Gate, ImprovementIsReportedNeverFailed) {
  json current = baseline();
  scale_row(current, kNaiveBackward, 0.80);
  const GateResult r = run_gate(baseline(), current);
  EXPECT_TRUE(r.passed) << r.text();
  const GateRow& g = verdict_of(r, kNaiveBackward);
  EXPECT_EQ(g.verdict, GateVerdict::improvement);
  EXPECT_TRUE(contains(g.note, "faster: 1.25x")) << g.note;
  EXPECT_DOUBLE_EQ(*r.max_ratio, 1.0);  // the largest ratio, not the smallest
}

TEST(Gate, ReferenceRowsAreIgnored) {
  json current = baseline();
  row_of(current, "torch_eager/forward/n16_ci64_co128_h512_w512_k3x3_s1x1_p1x1_d1x1")["status"] = "error";
  scale_row(current, "torch_eager/forward/n16_ci64_co128_h512_w512_k3x3_s1x1_p1x1_d1x1", 2.0);
  EXPECT_TRUE(run_gate(baseline(), current).passed);
}

TEST(Gate, AnotherGpuFailsUnlessAllowed) {
  json current = baseline();
  current["dsconv"]["device"]["gpu"] = "NVIDIA H100 80GB HBM3";
  current["dsconv"]["device"]["cudnn"] = "9.10.2";
  const GateResult strict = run_gate(baseline(), current);
  EXPECT_FALSE(strict.passed);
  EXPECT_TRUE(failing(strict).empty());  // every row is fine; the device is not
  ASSERT_EQ(strict.device_issues.size(), 2u);
  EXPECT_TRUE(contains(strict.device_issues[0], "gpu")) << strict.device_issues[0];
  EXPECT_TRUE(contains(strict.device_issues[0], "\"NVIDIA H200\"")) << strict.device_issues[0];
  EXPECT_TRUE(contains(strict.device_issues[0], "\"NVIDIA H100 80GB HBM3\"")) << strict.device_issues[0];
  EXPECT_TRUE(contains(strict.device_issues[1], "cudnn")) << strict.device_issues[1];
  EXPECT_TRUE(contains(strict.text(), "gate: FAIL: device mismatch")) << strict.text();

  GateOptions allow;
  allow.allow_device_mismatch = true;
  const GateResult allowed = run_gate(baseline(), current, allow);
  EXPECT_TRUE(allowed.passed) << allowed.text();
  EXPECT_TRUE(contains(allowed.text(), "warning: device.gpu differs")) << allowed.text();
}

TEST(Gate, ThresholdAndAlphaAreOptions) {
  json current = baseline();
  scale_row(current, kFusedForward, 1.20);
  GateOptions loose;
  loose.max_slowdown = 0.25;
  EXPECT_TRUE(run_gate(baseline(), current, loose).passed);
  GateOptions strict_alpha;
  strict_alpha.alpha = 1e-6;  // below the smallest exact p of 10 vs 10 repetitions
  EXPECT_TRUE(run_gate(baseline(), current, strict_alpha).passed);
  GateOptions bad;
  bad.alpha = 1.5;
  EXPECT_TRUE(contains(testing::input_error([&] { run_gate(baseline(), current, bad); }), "alpha"));
}

TEST(Gate, MarkdownPutsFailuresFirstAndFoldsTheRest) {
  json current = baseline();
  scale_row(current, kFusedForward, 1.20);
  scale_row(current, kNaiveBackward, 0.80);
  const std::string md = run_gate(baseline(), current).markdown();
  const size_t headline = md.find(":x: dsconv gate: FAIL");
  const size_t failures = md.find("#### Regressions and failures");
  const size_t improvements = md.find("#### Improvements");
  const size_t details = md.find("<details><summary>Other rows (2)</summary>");
  ASSERT_NE(headline, std::string::npos) << md;
  ASSERT_NE(failures, std::string::npos) << md;
  ASSERT_NE(improvements, std::string::npos) << md;
  ASSERT_NE(details, std::string::npos) << md;
  EXPECT_LT(headline, failures);
  EXPECT_LT(failures, improvements);
  EXPECT_LT(improvements, details);
  EXPECT_TRUE(contains(md, "</details>")) << md;
  EXPECT_TRUE(contains(md, "**1 regression**")) << md;
  EXPECT_TRUE(contains(md, "4 rows: 1 regression, 2 ok, 1 improvement")) << md;
  EXPECT_TRUE(contains(md, "largest median ratio 1.200")) << md;
  EXPECT_LT(md.find(kFusedForward), improvements);  // the regression is in the first table
}

TEST(Gate, MarkdownOfAPass) {
  const std::string md = run_gate(baseline(), baseline()).markdown();
  EXPECT_TRUE(contains(md, ":white_check_mark: dsconv gate: PASS")) << md;
  EXPECT_FALSE(contains(md, "#### Regressions")) << md;
  EXPECT_TRUE(contains(md, "<details><summary>Other rows (4)</summary>")) << md;
}

// ---------------------------------------------------------------------------------------
// Bad input: the message names the file (or which document) and what is wrong.

TEST(Gate, MalformedDocumentsAreInputErrors) {
  auto error = [](const json& current) { return testing::input_error([&] { run_gate(baseline(), current); }); };
  EXPECT_TRUE(contains(error(json::array()), "current: expected a JSON object"));
  EXPECT_TRUE(contains(error(json{{"benchmarks", json::array()}}), "current: no \"dsconv\" block"));

  json no_rows = baseline();
  no_rows["dsconv"].erase("rows");
  EXPECT_TRUE(contains(error(no_rows), "current: dsconv: missing field \"rows\""));

  json no_device = baseline();
  no_device["dsconv"].erase("device");
  EXPECT_TRUE(contains(error(no_device), "current: dsconv: missing field \"device\""));

  json numeric_driver = baseline();
  numeric_driver["dsconv"]["device"]["driver"] = 580;
  EXPECT_TRUE(contains(error(numeric_driver), "dsconv.device.driver: expected a string, got 580"));

  json string_median = baseline();
  row_of(string_median, kFusedForward)["median_ms"] = "1.5";
  const std::string m = error(string_median);
  EXPECT_TRUE(contains(m, "dsconv.rows[0] (" + kFusedForward + ").median_ms")) << m;
  EXPECT_TRUE(contains(m, "got \"1.5\"")) << m;

  json bad_sample = baseline();
  row_of(bad_sample, kFusedForward)["samples_ms"][3] = -1;
  EXPECT_TRUE(contains(error(bad_sample), "samples_ms[3]: expected a positive time in ms, got -1"));

  json no_samples = baseline();
  row_of(no_samples, kFusedForward).erase("samples_ms");
  EXPECT_TRUE(contains(error(no_samples), "missing field \"samples_ms\""));

  json bad_status = baseline();
  row_of(bad_status, kFusedForward)["status"] = "fine";
  EXPECT_TRUE(contains(error(bad_status), "\"fine\" is not one of"));

  json duplicate = baseline();
  duplicate["dsconv"]["rows"].push_back(row_of(duplicate, kFusedForward));
  EXPECT_TRUE(contains(error(duplicate), "occurs twice"));

  json empty_baseline = baseline();
  empty_baseline["dsconv"]["rows"] = json::array();
  EXPECT_TRUE(contains(testing::input_error([&] { run_gate(empty_baseline, baseline()); }),
                       "baseline: dsconv.rows holds no rows"));
}

TEST(Gate, MalformedFilesAreInputErrorsNamingThePath) {
  testing::TempDir dir;
  const std::string text = testing::read_bytes(kBaselinePath);

  const std::string truncated = dir.file("truncated.json");
  testing::write_bytes(truncated, text.substr(0, text.size() / 2));
  std::string m = testing::input_error([&] { load_results_file(truncated); });
  EXPECT_TRUE(contains(m, truncated + ": not valid JSON (truncated?)")) << m;
  EXPECT_FALSE(contains(m, "json.exception")) << m;

  const std::string garbage = dir.file("garbage.json");
  testing::write_bytes(garbage, "median_ms: 1.5\n");
  m = testing::input_error([&] { load_results_file(garbage); });
  EXPECT_TRUE(contains(m, garbage + ": not valid JSON")) << m;

  const std::string empty = dir.file("empty.json");
  testing::write_bytes(empty, "");
  EXPECT_TRUE(contains(testing::input_error([&] { load_results_file(empty); }), "empty"));

  const std::string wrong_shape = dir.file("wrong_shape.json");
  testing::write_bytes(wrong_shape, R"({"dsconv": {"device": {}, "rows": []}})");
  m = testing::input_error([&] { load_results_file(wrong_shape); });
  EXPECT_TRUE(contains(m, wrong_shape + ": dsconv.device: missing field \"gpu\"")) << m;

  m = testing::input_error([&] { load_results_file(dir.file("absent.json")); });
  EXPECT_TRUE(contains(m, "absent.json")) << m;
}

// ---------------------------------------------------------------------------------------
// `dsconv gate` end to end: exit codes and the summary file.

using testing::CliResult;
using testing::run_dsconv;

class GateCli : public ::testing::Test {
 protected:
  std::string write(const std::string& name, const json& doc) {
    const std::string path = dir.file(name);
    testing::write_bytes(path, doc.dump(1));
    return path;
  }
  testing::TempDir dir;
};

TEST_F(GateCli, IdenticalPassesWithExitZero) {
  const CliResult r = run_dsconv("gate " + kBaselinePath + " " + kBaselinePath);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "gate: PASS")) << r.output;
  EXPECT_TRUE(contains(r.output, kFusedForward)) << r.output;
}

TEST_F(GateCli, RegressionFailsWithExitOneAndTheSummaryNamesIt) {
  json current = baseline();
  scale_row(current, kFusedForward, 1.20);
  const std::string path = write("current.json", current);
  const std::string summary = dir.file("out/summary.md");
  const CliResult r = run_dsconv("gate " + kBaselinePath + " " + path + " --summary " + summary);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(contains(r.output, "REGRESSION")) << r.output;
  const std::string md = testing::read_bytes(summary);
  EXPECT_TRUE(contains(md, ":x: dsconv gate: FAIL")) << md;
  EXPECT_TRUE(contains(md, "`" + kFusedForward + "`")) << md;
}

TEST_F(GateCli, SummaryIsWrittenOnPassToo) {
  const std::string summary = dir.file("summary.md");
  const CliResult r = run_dsconv("gate " + kBaselinePath + " " + kBaselinePath + " --summary " + summary);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(testing::read_bytes(summary), "dsconv gate: PASS"));
}

TEST_F(GateCli, MaxSlowdownTakesPercentOrFraction) {
  json current = baseline();
  scale_row(current, kFusedForward, 1.20);
  const std::string path = write("current.json", current);
  EXPECT_EQ(run_dsconv("gate " + kBaselinePath + " " + path + " --max-slowdown 25%").exit_code, 0);
  EXPECT_EQ(run_dsconv("gate " + kBaselinePath + " " + path + " --max-slowdown 0.25").exit_code, 0);
  EXPECT_EQ(run_dsconv("gate " + kBaselinePath + " " + path + " --max-slowdown 10%").exit_code, 1);
  const CliResult bare = run_dsconv("gate " + kBaselinePath + " " + path + " --max-slowdown 5");
  EXPECT_EQ(bare.exit_code, 2) << bare.output;
  EXPECT_TRUE(contains(bare.output, "write 5%")) << bare.output;
  EXPECT_EQ(run_dsconv("gate " + kBaselinePath + " " + path + " --max-slowdown fast").exit_code, 2);
  EXPECT_EQ(run_dsconv("gate " + kBaselinePath + " " + path + " --alpha 2").exit_code, 2);
}

TEST_F(GateCli, DeviceMismatchFailsUnlessAllowed) {
  json current = baseline();
  current["dsconv"]["device"]["gpu"] = "NVIDIA H100 80GB HBM3";
  const std::string path = write("h100.json", current);
  const CliResult strict = run_dsconv("gate " + kBaselinePath + " " + path);
  EXPECT_EQ(strict.exit_code, 1) << strict.output;
  EXPECT_TRUE(
      contains(strict.output, "device.gpu differs: baseline \"NVIDIA H200\", current \"NVIDIA H100 80GB HBM3\""))
      << strict.output;
  const CliResult allowed = run_dsconv("gate " + kBaselinePath + " " + path + " --allow-device-mismatch");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
  EXPECT_TRUE(contains(allowed.output, "warning:")) << allowed.output;
}

TEST_F(GateCli, BadInputExitsTwoWithAMessage) {
  const std::string text = testing::read_bytes(kBaselinePath);
  const std::string truncated = dir.file("truncated.json");
  testing::write_bytes(truncated, text.substr(0, text.size() - 40));
  const std::string summary = dir.file("summary.md");
  const CliResult r = run_dsconv("gate " + kBaselinePath + " " + truncated + " --summary " + summary);
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_TRUE(contains(r.output, "dsconv: error: " + truncated + ": not valid JSON")) << r.output;
  EXPECT_FALSE(std::filesystem::exists(summary));  // no summary from bad input

  const CliResult missing = run_dsconv("gate " + dir.file("nope.json") + " " + kBaselinePath);
  EXPECT_EQ(missing.exit_code, 2) << missing.output;
  EXPECT_TRUE(contains(missing.output, "nope.json")) << missing.output;

  EXPECT_EQ(run_dsconv("gate " + kBaselinePath).exit_code, 2);  // CURRENT is required
}

}  // namespace
}  // namespace dsconv
