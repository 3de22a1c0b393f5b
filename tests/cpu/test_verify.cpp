// The checker itself: the bound, and that every kind of wrong output is caught.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "harness/device_problem.h"
#include "harness/verify.h"

namespace dsconv {
namespace {

Problem small() {
  Problem p;
  p.n = 1;
  p.c_in = 4;
  p.c_out = 3;
  p.h = p.w = 5;
  return p;
}

struct Fixture {
  Problem p = small();
  Tensor<double> ref{{1, 3, 5, 5}}, mag{{1, 3, 5, 5}};
  Tensor<float> out{{1, 3, 5, 5}};
  Fixture() {
    for (int64_t i = 0; i < ref.numel(); ++i) {
      ref[i] = 0.25 * double(i) - 3.0;
      mag[i] = std::fabs(ref[i]) + 1.0;
      out[i] = float(ref[i]);
    }
  }
  Comparison run(Precision precision = Precision::fp32) const {
    return compare(p, Output::y, bound_for(precision), out, ref, mag);
  }
};

TEST(Verify, ExactOutputPasses) {
  const Comparison c = Fixture().run();
  EXPECT_TRUE(c.passed());
  EXPECT_EQ(c.worst_ratio, 0.0);
  EXPECT_EQ(c.rel_l2, 0.0);
}

TEST(Verify, AllowedRatioFollowsTheBound) {
  const Problem p = small();
  // y: L = taps + C_in = 9 + 4; lambda = 8.
  EXPECT_DOUBLE_EQ(allowed_ratio(p, Output::y, bound_for(Precision::fp32)), 8.0 * std::sqrt(13.0));
  // tf32 adds kappa * u_in / u_acc = 4 * 2^-10 / 2^-24 = 2^16.
  EXPECT_DOUBLE_EQ(allowed_ratio(p, Output::y, bound_for(Precision::tf32)), 65536.0 + 8.0 * std::sqrt(13.0));
  // dW_pw reduces over every output pixel of every image.
  EXPECT_DOUBLE_EQ(reduction_length(p, Output::dw_pw), 25.0 + 9.0);
}

TEST(Verify, UnwrittenElementIsCaughtAndLocated) {
  Fixture f;
  unsigned char poison[4] = {kPoisonByte, kPoisonByte, kPoisonByte, kPoisonByte};
  std::memcpy(&f.out[37], poison, 4);
  const Comparison c = f.run();
  EXPECT_FALSE(c.passed());
  EXPECT_EQ(c.unwritten, 1);
  EXPECT_EQ(c.worst_at, "(0, 1, 2, 2)");  // 37 = 1*25 + 2*5 + 2
  EXPECT_NE(c.verdict().find("unwritten"), std::string::npos);
}

TEST(Verify, ComputedNaNIsNotUnwrittenButStillFails) {
  Fixture f;
  f.out[5] = std::numeric_limits<float>::quiet_NaN();
  f.out[6] = std::numeric_limits<float>::infinity();
  const Comparison c = f.run();
  EXPECT_EQ(c.unwritten, 0);
  EXPECT_EQ(c.nonfinite, 2);
  EXPECT_FALSE(c.passed());
}

TEST(Verify, ErrorJustInsideTheBoundPassesJustOutsideFails) {
  Fixture f;
  const double allowed = allowed_ratio(f.p, Output::y, bound_for(Precision::fp32));
  const int64_t i = 10;
  const double unit = kFloatRoundoff * f.mag[i];
  f.ref[i] = double(f.out[i]) + 0.9 * allowed * unit;
  EXPECT_TRUE(f.run().passed());
  f.ref[i] = double(f.out[i]) + 1.1 * allowed * unit;
  const Comparison c = f.run();
  EXPECT_FALSE(c.passed());
  EXPECT_EQ(c.over_bound, 1);
  EXPECT_NEAR(c.worst_ratio, 1.1 * allowed, 1e-6 * allowed);
}

TEST(Verify, ZeroMagnitudeDemandsExactZero) {
  Fixture f;
  f.ref[0] = 0.0;
  f.mag[0] = 0.0;
  f.out[0] = 1e-30f;
  EXPECT_FALSE(f.run().passed());
  f.out[0] = -0.0f;
  EXPECT_TRUE(f.run().passed());
}

TEST(Verify, Tf32BoundIsLooser) {
  Fixture f;
  f.out[3] = float(f.ref[3] + 1e-4 * f.mag[3]);  // about 2^-13 relative: tf32-sized
  EXPECT_FALSE(f.run(Precision::fp32).passed());
  EXPECT_TRUE(f.run(Precision::tf32).passed());
}

TEST(Verify, RelativeL2) {
  Fixture f;
  double ref_sq = 0;
  for (int64_t i = 0; i < f.ref.numel(); ++i) ref_sq += f.ref[i] * f.ref[i];
  f.out[0] = float(f.ref[0] + 0.5);
  EXPECT_NEAR(f.run().rel_l2, 0.5 / std::sqrt(ref_sq), 1e-9);
}

}  // namespace
}  // namespace dsconv
