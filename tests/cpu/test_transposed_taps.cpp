// The transposed convolution's tap arithmetic (kernels/common/transposed_taps.h), which the dx
// kernels walk instead of testing every tap: against a test of every tap.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "kernels/common/transposed_taps.h"
#include "kernels/common/window_math.h"

namespace dsconv::depthwise {
namespace {

using Hits = std::vector<std::pair<int, int>>;  // (tap, output)

// Every tap k < taps whose (numerator - k * dil) is a multiple of the stride, with its quotient.
Hits every_tap_tested(int numerator, int stride, int dil, int taps) {
  Hits hits;
  for (int k = 0; k < taps; ++k) {
    const int n = numerator - k * dil;
    const int q = int(floor_div(n, stride));
    if (q * stride == n) hits.emplace_back(k, q);
  }
  return hits;
}

// The taps as for_each_tap_hit walks them: from first_tap_hit, step by step.
Hits walked(int numerator, int stride, int dil, int taps) {
  const TapStep t = tap_step(stride, dil);
  Hits hits;
  TapHits hit = first_tap_hit(numerator, t);
  for (int k = hit.first; k < taps; k += t.step, hit.out -= t.out_step) hits.emplace_back(k, hit.out);
  return hits;
}

TEST(TransposedTaps, WalkFindsExactlyTheTapsThatReachEachInput) {
  int checked = 0, with_hits = 0;
  for (int stride = 1; stride <= 16; ++stride)
    for (int dil = 1; dil <= 9; ++dil)
      for (int taps : {1, 3, 5, 7, 11})
        for (int numerator = 0; numerator <= 3 * stride * dil + 40; ++numerator) {
          const Hits expected = every_tap_tested(numerator, stride, dil, taps);
          ASSERT_EQ(walked(numerator, stride, dil, taps), expected)
              << "stride " << stride << ", dilation " << dil << ", " << taps << " taps, in + pad = " << numerator;
          ++checked;
          with_hits += !expected.empty();
        }
  // Both kinds of input occur: the walk is not passing on empty lists alone.
  EXPECT_GT(with_hits, checked / 4);
  EXPECT_LT(with_hits, checked);
}

TEST(TransposedTaps, StrideTwoThreeByThree) {
  // in + pad = 5 at stride 2: taps 1 (output 2); at 4: taps 0 and 2 (outputs 2 and 1).
  EXPECT_EQ(walked(5, 2, 1, 3), (Hits{{1, 2}}));
  EXPECT_EQ(walked(4, 2, 1, 3), (Hits{{0, 2}, {2, 1}}));
  // Dilation 2 at stride 2: every tap or none, by the parity of in + pad.
  EXPECT_EQ(walked(6, 2, 2, 3), (Hits{{0, 3}, {1, 2}, {2, 1}}));
  EXPECT_EQ(walked(7, 2, 2, 3), Hits{});
  EXPECT_EQ(first_tap_hit(7, tap_step(2, 2)).first, kNoTap);
}

}  // namespace
}  // namespace dsconv::depthwise
