// The reference against golden cases written by PyTorch in float64 (scripts/make_cases.py).
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/golden_case.h"
#include "harness/pass_check.h"
#include "reference/reference.h"

namespace dsconv {
namespace {

std::vector<std::string> case_folders() {
  std::vector<std::string> folders;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(DSCONV_TEST_DATA) + "/cases"))
    if (entry.is_directory()) folders.push_back(entry.path().filename().string());
  std::sort(folders.begin(), folders.end());
  return folders;
}

PassCheck check_reference(const GoldenCase& gc, Pass pass) {
  Bound b;
  b.u_acc = kDoubleRoundoff;
  const Outputs<double> magnitude = reference::run(gc.problem, absolute(gc.inputs), pass);
  return compare_outputs("reference", b, pass, gc.problem, reference::run(gc.problem, gc.inputs, pass), gc.expected,
                         magnitude);
}

class ReferenceGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceGolden, MatchesPyTorchFloat64) {
  const GoldenCase gc = load_golden_case(std::string(DSCONV_TEST_DATA) + "/cases/" + GetParam());
  for (Pass pass : {Pass::forward, Pass::backward}) {
    const PassCheck check = check_reference(gc, pass);
    ASSERT_EQ(check.outputs.size(), outputs_of(pass, gc.problem.bias).size());
    for (const Comparison& c : check.outputs) {
      EXPECT_TRUE(c.passed()) << to_string(c.output) << ": " << c.verdict();
      // Two double computations of the same sums agree to a few ulps.
      EXPECT_LT(c.rel_l2, 1e-13) << to_string(c.output);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ReferenceGolden, ::testing::ValuesIn(case_folders()));

TEST(ReferenceGolden, CoverageOfCommittedCases) {
  // The committed set must cover bias and none, rectangular kernels, stride, dilation,
  // padding 0, K=1 and C > 128.
  bool bias = false, no_bias = false, rect = false, stride = false, dilation = false, pad0 = false, k1 = false,
       wide = false;
  for (const std::string& name : case_folders()) {
    const Problem p = load_golden_case(std::string(DSCONV_TEST_DATA) + "/cases/" + name).problem;
    (p.bias ? bias : no_bias) = true;
    rect |= p.conv.kh != p.conv.kw;
    stride |= p.conv.stride_h > 1 || p.conv.stride_w > 1;
    dilation |= p.conv.dil_h > 1 || p.conv.dil_w > 1;
    pad0 |= p.conv.pad_h == 0 && p.conv.pad_w == 0;
    k1 |= p.conv.kh == 1 && p.conv.kw == 1;
    wide |= p.c_in > 128 && p.c_out > 128;
  }
  EXPECT_TRUE(bias && no_bias && rect && stride && dilation && pad0 && k1 && wide);
}

TEST(ReferenceGolden, AlteredExpectedValueFails) {
  GoldenCase gc = load_golden_case(std::string(DSCONV_TEST_DATA) + "/cases/stride2_dilation2");
  gc.expected.dw_dw[3] *= 1.0 + 1e-9;  // far inside float32 noise, far outside double noise
  const PassCheck check = check_reference(gc, Pass::backward);
  EXPECT_EQ(check.status, CheckStatus::failed);
  const Comparison* worst = check.worst();
  ASSERT_NE(worst, nullptr);
  EXPECT_EQ(worst->output, Output::dw_dw);
  EXPECT_EQ(worst->worst_at, "(0, 0, 1, 0)");  // element 3 of (3, 1, 3, 3)
}

}  // namespace
}  // namespace dsconv
