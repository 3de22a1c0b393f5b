// Shapes `fused` refuses on the host, before any device work: the reason names the limit.
#include <gtest/gtest.h>

#include "harness/problem.h"
#include "kernels/kernel.h"

namespace dsconv {
namespace {

TEST(FusedLimits, RefusesMoreBackwardTilesAnImageThanItsTileWalkCounts) {
  const Kernel& fused = *find_kernel("fused");
  // One channel of 2^20 x 2^19 pixels: a valid problem (2^39 elements), whose dx pass fits a
  // grid (2^29 tiles), but 2^32 backward tiles of 4 x 32 pixels.
  const Problem huge = parse_problem("n=1,c_in=1,c_out=1,h=1048576,w=524288,k=3,padding=1");
  ASSERT_EQ(huge.invalid_reason(), "");
  EXPECT_NE(fused.unsupported_reason(huge).find("32-bit tile walk"), std::string::npos)
      << fused.unsupported_reason(huge);
  // Half as wide: 2^31 tiles, still one too many; a quarter: taken.
  EXPECT_NE(fused.unsupported_reason(parse_problem("n=1,c_in=1,c_out=1,h=1048576,w=262144,k=3,padding=1"))
                .find("32-bit tile walk"),
            std::string::npos);
  EXPECT_EQ(fused.unsupported_reason(parse_problem("n=1,c_in=1,c_out=1,h=1048576,w=131072,k=3,padding=1")), "");
  EXPECT_EQ(fused.unsupported_reason(Problem::kernelbench_l1_86()), "");
}

}  // namespace
}  // namespace dsconv
