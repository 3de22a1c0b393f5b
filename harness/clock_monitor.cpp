#include "harness/clock_monitor.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

namespace dsconv {

namespace {

// The few NVML entry points used here, as nvml.h declares them (a stable C ABI). nvml.h
// itself is not needed to build: the library is looked up at run time.
using NvmlReturn = int;  // nvmlReturn_t; 0 is NVML_SUCCESS
using NvmlDevice = void*;
constexpr int kNvmlClockSm = 1;  // NVML_CLOCK_SM

// Bits of nvmlClocksEventReasons (formerly "throttle reasons").
constexpr uint64_t kSwPowerCap = 0x4, kHwSlowdown = 0x8, kSwThermal = 0x20, kHwThermal = 0x40, kHwPowerBrake = 0x80;
constexpr std::pair<uint64_t, const char*> kLimitReasons[] = {{kSwPowerCap, "power cap"},
                                                              {kHwSlowdown, "hardware slowdown"},
                                                              {kSwThermal, "thermal"},
                                                              {kHwThermal, "hardware thermal"},
                                                              {kHwPowerBrake, "power brake"}};

struct Nvml {
  NvmlReturn (*init)() = nullptr;
  NvmlReturn (*handle_by_pci_bus_id)(const char*, NvmlDevice*) = nullptr;
  NvmlReturn (*clock_info)(NvmlDevice, int, unsigned*) = nullptr;
  NvmlReturn (*max_clock_info)(NvmlDevice, int, unsigned*) = nullptr;
  NvmlReturn (*event_reasons)(NvmlDevice, unsigned long long*) = nullptr;
  bool ready = false;

  // Loaded and initialized once a process; never unloaded (the driver keeps its own state).
  static const Nvml& get() {
    static const Nvml nvml = load();
    return nvml;
  }

 private:
  static Nvml load() {
    Nvml n;
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) return n;
    auto find = [lib](auto& fn, const char* name) {
      fn = reinterpret_cast<std::decay_t<decltype(fn)>>(dlsym(lib, name));
    };
    find(n.init, "nvmlInit_v2");
    find(n.handle_by_pci_bus_id, "nvmlDeviceGetHandleByPciBusId_v2");
    find(n.clock_info, "nvmlDeviceGetClockInfo");
    find(n.max_clock_info, "nvmlDeviceGetMaxClockInfo");
    find(n.event_reasons, "nvmlDeviceGetCurrentClocksEventReasons");
    if (!n.event_reasons) find(n.event_reasons, "nvmlDeviceGetCurrentClocksThrottleReasons");  // before NVML 12.2
    n.ready = n.init && n.handle_by_pci_bus_id && n.clock_info && n.max_clock_info && n.event_reasons && n.init() == 0;
    return n;
  }
};

// NVML's handle for the current CUDA device (matched by PCI bus id: the two number devices
// differently when CUDA_VISIBLE_DEVICES is set), or null.
NvmlDevice current_nvml_device() {
  const Nvml& nvml = Nvml::get();
  if (!nvml.ready) return nullptr;
  int device = 0;
  char bus_id[32] = {};
  if (cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetPCIBusId(bus_id, sizeof bus_id, device) != cudaSuccess)
    return nullptr;
  NvmlDevice handle = nullptr;
  return nvml.handle_by_pci_bus_id(bus_id, &handle) == 0 ? handle : nullptr;
}

}  // namespace

bool clock_limited(uint64_t reasons) {
  return std::any_of(std::begin(kLimitReasons), std::end(kLimitReasons),
                     [reasons](const auto& r) { return (reasons & r.first) != 0; });
}

std::vector<std::string> limit_reason_names(uint64_t reasons) {
  std::vector<std::string> names;
  for (const auto& [bit, name] : kLimitReasons)
    if (reasons & bit) names.emplace_back(name);
  return names;
}

nlohmann::json ClockSummary::to_json() const {
  nlohmann::json j = {{"samples", samples},
                      {"sm_mhz_median", sm_mhz_median},
                      {"sm_mhz_min", sm_mhz_min},
                      {"limited_pct", limited_pct},
                      {"limit_reasons", reasons}};
  if (sm_mhz_rated > 0) j["sm_mhz_rated"] = sm_mhz_rated;
  return j;
}

std::string clock_label(const nlohmann::json& clocks) {
  if (!clocks.is_object() || !clocks.contains("sm_mhz_median") || !clocks.at("sm_mhz_median").is_number()) return "";
  std::string label = fmt::format("{:.0f} MHz", clocks.at("sm_mhz_median").get<double>());
  const double limited = clocks.contains("limited_pct") && clocks.at("limited_pct").is_number()
                             ? clocks.at("limited_pct").get<double>()
                             : 0.0;
  std::vector<std::string> reasons;
  for (const nlohmann::json& r : clocks.value("limit_reasons", nlohmann::json::array()))
    if (r.is_string()) reasons.push_back(r.get<std::string>());
  if (limited > 0 && !reasons.empty()) label += fmt::format(", {} {:.0f}%", fmt::join(reasons, " + "), limited);
  return label;
}

ClockSummary summarize_clock(const std::vector<ClockSample>& samples, unsigned sm_mhz_rated) {
  ClockSummary s;
  s.sm_mhz_rated = sm_mhz_rated;
  if (samples.empty()) return s;
  std::vector<unsigned> mhz;
  uint64_t seen = 0;
  int limited = 0;
  for (const ClockSample& c : samples) {
    mhz.push_back(c.sm_mhz);
    seen |= c.reasons;
    limited += clock_limited(c.reasons) ? 1 : 0;
  }
  std::sort(mhz.begin(), mhz.end());
  const size_t n = mhz.size();
  s.samples = int(n);
  s.sm_mhz_median = n % 2 ? mhz[n / 2] : 0.5 * (mhz[n / 2 - 1] + mhz[n / 2]);
  s.sm_mhz_min = mhz.front();
  s.limited_pct = 100.0 * limited / double(n);
  s.reasons = limit_reason_names(seen);
  return s;
}

ClockMonitor::ClockMonitor(size_t cases, std::chrono::milliseconds period) : samples_(cases) {
  device_ = current_nvml_device();
  if (!device_) return;
  if (Nvml::get().max_clock_info(device_, kNvmlClockSm, &sm_mhz_rated_) != 0) sm_mhz_rated_ = 0;
  thread_ = std::thread([this, period] { run(period); });
}

ClockMonitor::~ClockMonitor() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void ClockMonitor::run(std::chrono::milliseconds period) {
  const Nvml& nvml = Nvml::get();
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, period, [this] { return stop_; })) {
    const int current = current_.load(std::memory_order_relaxed);
    if (current < 0 || size_t(current) >= samples_.size()) continue;
    ClockSample s;
    unsigned long long reasons = 0;
    if (nvml.clock_info(device_, kNvmlClockSm, &s.sm_mhz) != 0 || nvml.event_reasons(device_, &reasons) != 0) continue;
    s.reasons = reasons;
    samples_[size_t(current)].push_back(s);
  }
}

ClockSummary ClockMonitor::summary(size_t index) const {
  std::lock_guard lock(mutex_);
  return summarize_clock(index < samples_.size() ? samples_[index] : std::vector<ClockSample>{}, sm_mhz_rated_);
}

}  // namespace dsconv
