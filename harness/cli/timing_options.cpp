#include "harness/cli/timing_options.h"

namespace dsconv::cli {

void TimingOverrides::add_to(CLI::App& cmd) {
  cmd.add_option("--repetitions", repetitions, "Repetitions per benchmark (default: the spec's, else 10)")
      ->check(CLI::Range(1, 1000));
  cmd.add_option("--min-time", min_time_s, "Seconds of GPU time per repetition (default: the spec's, else 0.05)")
      ->check(CLI::Range(1e-4, 60.0));
  cmd.add_flag("--warm-cache", warm_cache, "Do not flush L2 before each iteration");
  cmd.add_flag("--cuda-graph", cuda_graph, "Capture each launch once and time graph replays");
  cmd.add_flag("--no-interleave", no_interleave, "Run each benchmark's repetitions back to back");
}

void TimingOverrides::apply(TimingOptions& timing) const {
  if (repetitions) timing.repetitions = *repetitions;
  if (min_time_s) timing.min_time_s = *min_time_s;
  if (warm_cache) timing.l2_flush = false;
  if (cuda_graph) timing.cuda_graph = true;
  if (no_interleave) timing.interleave = false;
}

}  // namespace dsconv::cli
