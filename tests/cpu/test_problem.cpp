#include <gtest/gtest.h>

#include "harness/errors.h"
#include "harness/problem.h"

namespace dsconv {
namespace {

TEST(Problem, KernelBenchShape) {
  const Problem p = Problem::kernelbench_l1_86();
  EXPECT_EQ(p.out_h(), 512);
  EXPECT_EQ(p.out_w(), 512);
  EXPECT_EQ(p.invalid_reason(), "");
  // Fused forward must read x (1.07 GB) and write y (2.15 GB).
  EXPECT_NEAR(p.min_bytes(Pass::forward) / 1e9, 3.22, 0.01);
  // Pointwise GEMM: 2 * 16 * 262144 * 64 * 128 = 68.7 GFLOP; depthwise adds 4.8 GFLOP.
  EXPECT_NEAR(p.flops(Pass::forward) / 1e9, 68.72 + 4.83, 0.05);
  EXPECT_NEAR(p.flops(Pass::backward) / 1e9, 2 * (68.72 + 4.83), 0.1);
}

TEST(Problem, OutputSizesFollowPyTorch) {
  Problem p;
  p.h = 13;
  p.w = 12;
  p.conv = Conv2dParams{3, 5, 2, 3, 2, 1, 2, 1};  // kh kw sh sw ph pw dh dw
  // floor((13 + 4 - 2*2 - 1) / 2) + 1 = 7;  floor((12 + 2 - 4 - 1) / 3) + 1 = 4
  EXPECT_EQ(p.out_h(), 7);
  EXPECT_EQ(p.out_w(), 4);
}

TEST(Problem, InvalidReasonNamesParameterAndRange) {
  Problem p;
  p.c_in = 0;
  EXPECT_EQ(p.invalid_reason(), "c_in = 0 is out of range: allowed 1 to 1048576");
  p = Problem{};
  p.conv.stride_w = 0;
  EXPECT_NE(p.invalid_reason().find("stride_w = 0"), std::string::npos);
  p = Problem{};
  p.conv.pad_h = -1;
  EXPECT_NE(p.invalid_reason().find("pad_h = -1 is out of range: allowed 0 to 4095"), std::string::npos);
  p = Problem{};
  p.conv.dil_w = 300;
  EXPECT_NE(p.invalid_reason().find("dil_w = 300"), std::string::npos);
}

TEST(Problem, KernelLargerThanPaddedInputIsInvalid) {
  Problem p;
  p.h = 2;
  p.w = 8;
  p.conv = Conv2dParams{5, 3, 1, 1, 0, 1, 1, 1};
  const std::string reason = p.invalid_reason();
  EXPECT_NE(reason.find("kh = 5"), std::string::npos) << reason;
  EXPECT_NE(reason.find("padded height"), std::string::npos) << reason;
}

TEST(Problem, HugeTensorsAreRejected) {
  Problem p;
  p.n = 1 << 20;
  p.c_in = 1 << 20;
  p.h = 1 << 10;
  const std::string reason = p.invalid_reason();
  EXPECT_NE(reason.find("tensor x"), std::string::npos) << reason;
}

TEST(Problem, ParseProblemStartsFromKernelBench) {
  const Problem p = parse_problem("n=2,c_in=8,k=5,padding=2,bias=1");
  EXPECT_EQ(p.n, 2);
  EXPECT_EQ(p.c_in, 8);
  EXPECT_EQ(p.c_out, 128);
  EXPECT_EQ(p.conv.kh, 5);
  EXPECT_EQ(p.conv.kw, 5);
  EXPECT_EQ(p.conv.pad_w, 2);
  EXPECT_TRUE(p.bias);
  EXPECT_EQ(parse_problem("seed"), Problem::kernelbench_l1_86());
}

TEST(Problem, ParseProblemErrorsNameTheField) {
  auto message = [](const char* text) {
    try {
      parse_problem(text);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message("n=abc").find("n = 'abc' is not an integer"), std::string::npos);
  EXPECT_NE(message("colour=3").find("unknown key 'colour'"), std::string::npos);
  EXPECT_NE(message("stride").find("not key=value"), std::string::npos);
  EXPECT_NE(message("h=1,k=3,padding=0").find("kh = 3"), std::string::npos);
  // A field given twice, directly or by a shorthand, is ambiguous; bias is 0 or 1; a value
  // past 32 bits is reported as given, not as what it would be cut to.
  EXPECT_NE(message("k=3,kh=5").find("kh is given twice (by k and kh)"), std::string::npos);
  EXPECT_NE(message("h=9,size=8").find("h is given twice (by h and size)"), std::string::npos);
  EXPECT_NE(message("bias=7").find("bias = 7: expected 0 or 1"), std::string::npos);
  EXPECT_NE(message("k=2147483648").find("k = 2147483648 is out of range"), std::string::npos);
  EXPECT_EQ(message("kh=5,kw=3,stride=2,padding=1,bias=1"), "no error");
}

TEST(Problem, KeyIsUniquePerShape) {
  Problem a = Problem::kernelbench_l1_86(), b = a;
  b.conv.dil_w = 2;
  EXPECT_NE(a.key(), b.key());
  EXPECT_EQ(a.key(), "n16_ci64_co128_h512_w512_k3x3_s1x1_p1x1_d1x1");
}

}  // namespace
}  // namespace dsconv
