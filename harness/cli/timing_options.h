// The timing options shared by `bench` and `sweep`.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>

#include "harness/timing.h"

namespace dsconv::cli {

struct TimingOverrides {
  std::optional<int> repetitions;
  std::optional<double> min_time_s;
  bool warm_cache = false;
  bool cuda_graph = false;
  bool no_interleave = false;

  void add_to(CLI::App& cmd);
  void apply(TimingOptions& timing) const;
};

}  // namespace dsconv::cli
