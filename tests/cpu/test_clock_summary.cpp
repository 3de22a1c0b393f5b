// The clock summaries that every timed row carries: the median and minimum, the share of
// readings a limit held the clock down, the limits by name, and the short label the tables show.
#include <gtest/gtest.h>

#include "harness/clock_monitor.h"
#include "harness/report.h"

namespace dsconv {
namespace {

constexpr uint64_t kIdle = 0x1, kPowerCap = 0x4, kThermal = 0x20;

TEST(ClockSummary, NoSamplesIsUnknown) {
  const ClockSummary s = summarize_clock({}, 1980);
  EXPECT_EQ(s.samples, 0);
  EXPECT_EQ(clock_label(nlohmann::json()), "");
}

TEST(ClockSummary, MedianMinimumAndLimitedShare) {
  const ClockSummary s = summarize_clock({{1980, 0}, {1755, kPowerCap}, {1845, kPowerCap}, {1530, kPowerCap}}, 1980);
  EXPECT_EQ(s.samples, 4);
  EXPECT_DOUBLE_EQ(s.sm_mhz_median, 0.5 * (1755 + 1845));
  EXPECT_DOUBLE_EQ(s.sm_mhz_min, 1530);
  EXPECT_DOUBLE_EQ(s.limited_pct, 75.0);
  EXPECT_EQ(s.reasons, std::vector<std::string>{"power cap"});
  EXPECT_EQ(s.to_json().at("sm_mhz_rated"), 1980);
}

TEST(ClockSummary, IdleIsNotALimit) {
  EXPECT_FALSE(clock_limited(kIdle));
  EXPECT_TRUE(clock_limited(kIdle | kThermal));
  const ClockSummary s = summarize_clock({{345, kIdle}, {1980, 0}, {1980, 0}}, 0);
  EXPECT_DOUBLE_EQ(s.limited_pct, 0.0);
  EXPECT_TRUE(s.reasons.empty());
  EXPECT_FALSE(s.to_json().contains("sm_mhz_rated"));  // not known
}

TEST(ClockSummary, EveryLimitSeenIsNamed) {
  EXPECT_EQ(limit_reason_names(kPowerCap | kThermal), (std::vector<std::string>{"power cap", "thermal"}));
  const ClockSummary s = summarize_clock({{1900, kPowerCap}, {1800, kThermal}, {1980, 0}}, 1980);
  EXPECT_EQ(s.reasons, (std::vector<std::string>{"power cap", "thermal"}));
}

TEST(ClockSummary, Labels) {
  EXPECT_EQ(clock_label(summarize_clock({{1980, 0}}, 1980).to_json()), "1980 MHz");
  EXPECT_EQ(clock_label(
                summarize_clock({{1845, kPowerCap}, {1845, kPowerCap}, {1980, 0}, {1845, kPowerCap}}, 1980).to_json()),
            "1845 MHz, power cap 75%");
  EXPECT_EQ(clock_label(nlohmann::json{{"sm_mhz_median", "fast"}}), "");  // not a number: no label
  // A malformed file's limits are left out, not thrown at the reader.
  EXPECT_EQ(clock_label(nlohmann::json{{"sm_mhz_median", 1900}, {"limited_pct", "x"}, {"limit_reasons", 7}}),
            "1900 MHz");
}

// A report gets an SM clock column only when some row has a clock, and shows "-" for the rest.
TEST(ClockSummary, ReportColumn) {
  const nlohmann::json problem = {{"n", 1},     {"c_in", 8},  {"c_out", 8},    {"h", 8},        {"w", 8},
                                  {"kh", 3},    {"kw", 3},    {"stride_h", 1}, {"stride_w", 1}, {"pad_h", 1},
                                  {"pad_w", 1}, {"dil_h", 1}, {"dil_w", 1},    {"bias", false}};
  auto row = [&](const char* impl) {
    return nlohmann::json{{"impl", impl},   {"pass", "forward"}, {"x", 8},        {"problem", problem},
                          {"status", "ok"}, {"median_ms", 1.0},  {"min_ms", 1.0}, {"cv", 0.0}};
  };
  nlohmann::json doc = {{"dsconv", {{"device", {{"gpu", "test"}}}, {"rows", {row("fused"), row("cudnn")}}}}};
  EXPECT_EQ(render_markdown(doc).find("SM clock"), std::string::npos);

  doc["dsconv"]["rows"][0]["clocks"] = summarize_clock({{1845, 0x4}, {1845, 0x4}}, 1980).to_json();
  const std::string md = render_markdown(doc);
  EXPECT_NE(md.find("| 8 | fused | 1.000 |  |  |  | - | 1845 MHz, power cap 100% |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 8 | cudnn | 1.000 |  |  |  | - | - |"), std::string::npos) << md;
  const std::string csv = render_csv(doc);
  EXPECT_NE(csv.find("sm_mhz,clock_limited_pct,reason"), std::string::npos);
  EXPECT_NE(csv.find(",1845,100,"), std::string::npos) << csv;
}

}  // namespace
}  // namespace dsconv
