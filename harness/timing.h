// Timing under Google Benchmark. One benchmark per (implementation, pass, problem), manual
// time from CUDA events around the launch only. Before every iteration L2 is flushed (a
// memset of twice its size, on the stream, outside the timed region). Repetitions give the
// samples; the repetitions of all cases of one call are randomly interleaved, so drift hits
// every implementation alike. Warm-cache timing and CUDA-graph replay are options.
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "harness/clock_monitor.h"

namespace dsconv {

struct TimingOptions {
  int repetitions = 10;
  double min_time_s = 0.05;  // per repetition: iterations are added until this much GPU time
  double warmup_s = 0.02;    // untimed running before the first repetition
  bool l2_flush = true;      // off: warm-cache timing
  bool cuda_graph = false;   // on: the launch is captured once and replayed as a graph
  bool interleave = true;    // random interleaving of repetitions across cases

  nlohmann::json to_json() const;
};

// One thing to time.
struct TimedCase {
  std::string name;                          // the benchmark's name
  std::function<void(cudaStream_t)> launch;  // the pure launch: no allocation, no sync
  double bytes = 0;                          // for the GB/s counter
  double flops = 0;                          // for the TFLOP/s counter
  double floor_ms = 0;                       // for the roof% counter (0: none)
};

struct TimedResult {
  std::vector<double> samples_ms;  // one per repetition: mean time per launch
  std::string error;               // non-empty when the case failed while timed
  ClockSummary clocks;             // the SM clock while it ran (samples == 0: not known)
};

// Times every case on `stream`; returns one result per case, in order, with the SM clock
// sampled every 10 ms while its repetitions ran. Appends Google
// Benchmark's JSON for these runs to `gbench` ("context" set on first use, "benchmarks"
// extended). `progress` is called after each repetition with a one-line description.
std::vector<TimedResult> time_cases(const std::vector<TimedCase>& cases, const TimingOptions& options,
                                    cudaStream_t stream, nlohmann::json& gbench,
                                    const std::function<void(const std::string&)>& progress = {});

struct SampleStats {
  double median = 0, min = 0, mean = 0, cv = 0;  // cv: sample standard deviation / mean
};
SampleStats sample_stats(std::vector<double> samples);

}  // namespace dsconv
