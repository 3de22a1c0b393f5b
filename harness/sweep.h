// Runs a sweep: for each point, the reference is computed once; each implementation is
// verified on that exact shape, timed (all implementations' repetitions interleaved), and
// verified again. Returns the result document of docs/results-format.md.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "harness/sweep_spec.h"

namespace dsconv {

struct SweepRunOptions {
  std::string shard = "0/1";
  uint64_t seed = 1;
  // Also time each implementation's separate stages (Kernel::stages) as rows of their own,
  // named "<impl>.<stage>".
  bool stages = false;
};

// Throws DeviceError when there is no usable GPU; everything that goes wrong with a single
// point or implementation becomes that row's status instead.
nlohmann::json run_sweep(const SweepSpec& spec, const SweepRunOptions& options);

}  // namespace dsconv
