// What the GPU's SM clock did while each case was timed. A card at its power or thermal limit
// lowers its clock, and a kernel's time then says as much about the card's power budget as
// about the kernel: an H100 at its 700 W cap runs a dense FFMA kernel well below its rated
// clock. Every timed row carries the clock it ran at, so a reader can tell.
//
// NVML is loaded at run time (dlopen), not linked: it comes with the driver, and machines that
// only build and run the CPU tests have none. Without it a monitor records nothing and rows
// carry no clock.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace dsconv {

// One reading: the SM clock and NVML's clocks event reasons (why the clock is what it is).
struct ClockSample {
  unsigned sm_mhz = 0;
  uint64_t reasons = 0;
};

// The reasons that mean the card slowed itself down: a power cap, a thermal limit, a hardware
// slowdown or power brake. Idling and clock settings are not limits.
bool clock_limited(uint64_t reasons);
std::vector<std::string> limit_reason_names(uint64_t reasons);

struct ClockSummary {
  int samples = 0;
  double sm_mhz_median = 0, sm_mhz_min = 0;
  unsigned sm_mhz_rated = 0;         // the device's maximum SM clock (0: unknown)
  double limited_pct = 0;            // share of samples with a limit reason set
  std::vector<std::string> reasons;  // every limit reason seen, by name

  nlohmann::json to_json() const;
};

// A row's "clocks" (ClockSummary::to_json) in a few words: "1845 MHz", or "1845 MHz, power cap
// 96%" when a limit held the clock down in some of the samples; "" for anything else.
std::string clock_label(const nlohmann::json& clocks);

// Summary of a case's samples; `samples` == 0 when there are none.
ClockSummary summarize_clock(const std::vector<ClockSample>& samples, unsigned sm_mhz_rated);

// Samples the current CUDA device's clock every `period` on a thread of its own. Each sample
// goes to the case made current by set_current (none: -1). The timing loop synchronizes every
// iteration, so the current case's kernels are what the card is running.
class ClockMonitor {
 public:
  ClockMonitor(size_t cases, std::chrono::milliseconds period);
  ~ClockMonitor();
  ClockMonitor(const ClockMonitor&) = delete;
  ClockMonitor& operator=(const ClockMonitor&) = delete;

  bool available() const { return device_ != nullptr; }
  void set_current(int index) { current_.store(index, std::memory_order_relaxed); }

  // Case `index` is current while this lives; then none is.
  class CurrentCase {
   public:
    CurrentCase(ClockMonitor& monitor, int index) : monitor_(monitor) { monitor_.set_current(index); }
    ~CurrentCase() { monitor_.set_current(-1); }
    CurrentCase(const CurrentCase&) = delete;
    CurrentCase& operator=(const CurrentCase&) = delete;

   private:
    ClockMonitor& monitor_;
  };
  ClockSummary summary(size_t index) const;

 private:
  void run(std::chrono::milliseconds period);

  void* device_ = nullptr;  // nvmlDevice_t
  unsigned sm_mhz_rated_ = 0;
  std::atomic<int> current_{-1};
  mutable std::mutex mutex_;
  std::vector<std::vector<ClockSample>> samples_;  // by case
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dsconv
