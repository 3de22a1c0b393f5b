#include "harness/timing.h"

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <sstream>

#include "harness/device_buffer.h"
#include "kernels/cuda_check.h"

namespace dsconv {

nlohmann::json TimingOptions::to_json() const {
  return {{"repetitions", repetitions}, {"min_time_s", min_time_s}, {"warmup_s", warmup_s},
          {"l2_flush", l2_flush},       {"cuda_graph", cuda_graph}, {"interleaved", interleave}};
}

SampleStats sample_stats(std::vector<double> s) {
  SampleStats st;
  if (s.empty()) return st;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  st.median = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  st.min = s.front();
  st.mean = std::accumulate(s.begin(), s.end(), 0.0) / double(n);
  double var = 0;
  for (double v : s) var += (v - st.mean) * (v - st.mean);
  st.cv = n > 1 && st.mean > 0 ? std::sqrt(var / double(n - 1)) / st.mean : 0.0;
  return st;
}

namespace {

// Google Benchmark reads its flags once per process.
void initialise_benchmark_library(bool interleave) {
  static bool done = false;
  static bool interleaving = false;
  if (done) {
    if (interleave != interleaving)
      throw InputError("the interleaving mode is fixed for the whole process by its first timing call");
    return;
  }
  static std::string arg0 = "dsconv";
  static std::string arg1 = std::string("--benchmark_enable_random_interleaving=") + (interleave ? "true" : "false");
  static char* argv[] = {arg0.data(), arg1.data(), nullptr};
  int argc = 2;
  benchmark::Initialize(&argc, argv);
  done = true;
  interleaving = interleave;
}

// Collects the runs and forwards them to Google Benchmark's own JSON reporter.
class CollectingReporter : public benchmark::BenchmarkReporter {
 public:
  CollectingReporter(std::ostream& json_out, const std::function<void(const std::string&)>& progress)
      : progress_(progress) {
    json_.SetOutputStream(&json_out);
    json_.SetErrorStream(&errors_);
  }
  bool ReportContext(const Context& context) override { return json_.ReportContext(context); }
  void ReportRuns(const std::vector<Run>& runs) override {
    json_.ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.run_type != Run::RT_Iteration) continue;
      const std::string name = run.benchmark_name();
      const double ms = run.GetAdjustedRealTime();  // per iteration, in the benchmark's unit (ms)
      samples_[name].push_back(ms);
      if (progress_) progress_(fmt::format("{}: {:.4g} ms", name, ms));
    }
  }
  void Finalize() override { json_.Finalize(); }

  const std::map<std::string, std::vector<double>>& samples() const { return samples_; }

 private:
  benchmark::JSONReporter json_;
  std::ostringstream errors_;
  std::function<void(const std::string&)> progress_;
  std::map<std::string, std::vector<double>> samples_;
};

// Per-case state shared by the repetitions of one benchmark.
struct CaseState {
  const TimedCase* spec = nullptr;
  cudaGraphExec_t graph = nullptr;
  std::string error;
  ~CaseState() {
    if (graph) cudaGraphExecDestroy(graph);
  }
};

void capture_graph(CaseState& state, cudaStream_t stream) {
  cudaGraph_t graph = nullptr;
  DSCONV_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    state.spec->launch(stream);
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  DSCONV_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  const cudaError_t status = cudaGraphInstantiate(&state.graph, graph, 0);
  cudaGraphDestroy(graph);
  DSCONV_CUDA_CHECK(status);
}

}  // namespace

std::vector<TimedResult> time_cases(const std::vector<TimedCase>& cases, const TimingOptions& options,
                                    cudaStream_t stream, nlohmann::json& gbench,
                                    const std::function<void(const std::string&)>& progress) {
  initialise_benchmark_library(options.interleave);
  std::vector<TimedResult> results(cases.size());
  if (cases.empty()) return results;

  int device = 0, l2_bytes = 0;
  DSCONV_CUDA_CHECK(cudaGetDevice(&device));
  DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));
  const size_t flush_bytes = 2 * size_t(std::max(l2_bytes, 1 << 20));
  DeviceBuffer flush(options.l2_flush ? flush_bytes : 0, "the L2 flush buffer");
  cudaEvent_t start, stop;
  DSCONV_CUDA_CHECK(cudaEventCreate(&start));
  DSCONV_CUDA_CHECK(cudaEventCreate(&stop));
  std::unique_ptr<CUevent_st, decltype(&cudaEventDestroy)> start_owner(start, cudaEventDestroy),
      stop_owner(stop, cudaEventDestroy);

  ClockMonitor clocks(cases.size(), std::chrono::milliseconds(10));
  std::vector<std::unique_ptr<CaseState>> states;
  benchmark::ClearRegisteredBenchmarks();
  for (size_t index = 0; index < cases.size(); ++index) {
    const TimedCase& c = cases[index];
    states.push_back(std::make_unique<CaseState>());
    CaseState* state = states.back().get();
    state->spec = &c;
    auto body = [state, stream, start, stop, &options, &flush, flush_bytes, &clocks, index](benchmark::State& st) {
      double total_ms = 0;
      const ClockMonitor::CurrentCase sampled(clocks, int(index));  // until the body returns
      try {
        if (options.cuda_graph && !state->graph) capture_graph(*state, stream);
        for (auto _ : st) {
          if (options.l2_flush) DSCONV_CUDA_CHECK(cudaMemsetAsync(flush.get(), 0, flush_bytes, stream));
          DSCONV_CUDA_CHECK(cudaEventRecord(start, stream));
          if (state->graph)
            DSCONV_CUDA_CHECK(cudaGraphLaunch(state->graph, stream));
          else
            state->spec->launch(stream);
          DSCONV_CUDA_CHECK(cudaEventRecord(stop, stream));
          DSCONV_CUDA_CHECK(cudaEventSynchronize(stop));
          float ms = 0;
          DSCONV_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
          total_ms += ms;
          st.SetIterationTime(double(ms) * 1e-3);
        }
      } catch (const std::exception& e) {
        state->error = e.what();
        st.SkipWithError(state->error.c_str());
        return;
      }
      const double mean_s = total_ms * 1e-3 / double(std::max<int64_t>(1, int64_t(st.iterations())));
      if (mean_s > 0) {
        st.counters["GB/s"] = state->spec->bytes / mean_s / 1e9;
        st.counters["TFLOP/s"] = state->spec->flops / mean_s / 1e12;
        if (state->spec->floor_ms > 0) st.counters["roof%"] = 100.0 * state->spec->floor_ms / (mean_s * 1e3);
      }
    };
    benchmark::RegisterBenchmark(c.name.c_str(), body)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond)
        ->Repetitions(options.repetitions)
        ->MinTime(options.min_time_s)
        ->MinWarmUpTime(options.warmup_s);
  }

  std::ostringstream json_text;
  CollectingReporter reporter(json_text, progress);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::ClearRegisteredBenchmarks();

  const nlohmann::json run = nlohmann::json::parse(json_text.str());
  if (!gbench.contains("context")) gbench["context"] = run.at("context");
  for (const nlohmann::json& b : run.value("benchmarks", nlohmann::json::array())) gbench["benchmarks"].push_back(b);

  for (size_t i = 0; i < cases.size(); ++i) {
    results[i].error = states[i]->error;
    if (!results[i].error.empty()) continue;
    results[i].clocks = clocks.summary(i);
    // Google Benchmark appends the per-benchmark settings to the name:
    // "<name>/min_time:0.050/min_warmup_time:0.020/repeats:10/manual_time".
    for (const auto& [name, samples] : reporter.samples())
      if (name == cases[i].name || name.rfind(cases[i].name + "/", 0) == 0) results[i].samples_ms = samples;
    if (results[i].samples_ms.empty()) results[i].error = "Google Benchmark reported no repetitions";
  }
  return results;
}

}  // namespace dsconv
