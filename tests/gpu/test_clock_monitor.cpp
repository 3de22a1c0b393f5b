// The clock monitor on a real device: it reads NVML while a case is current, and only then.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "gpu_test.h"
#include "harness/clock_monitor.h"

namespace dsconv {
namespace {

TEST(ClockMonitor, SamplesOnlyTheCurrentCase) {
  DSCONV_REQUIRE_GPU();
  ClockMonitor monitor(2, std::chrono::milliseconds(5));
  if (!monitor.available()) GTEST_SKIP() << "NVML (libnvidia-ml.so.1) is not usable on this machine";
  {
    const ClockMonitor::CurrentCase current(monitor, 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const ClockSummary none = monitor.summary(0), some = monitor.summary(1);
  EXPECT_EQ(none.samples, 0);
  EXPECT_GE(some.samples, 10);  // 40 periods of 5 ms; a loaded machine may miss some
  EXPECT_GT(some.sm_mhz_median, 0);
  EXPECT_GT(some.sm_mhz_rated, 0u);
  EXPECT_LE(some.sm_mhz_min, some.sm_mhz_rated);
}

}  // namespace
}  // namespace dsconv
