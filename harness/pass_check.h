// Runs one implementation's pass on the device and checks every output against the
// reference: the unit of `dsconv verify`, `dsconv check` and the pre- and post-timing
// checks of the benchmarks.
#pragma once

#include <cuda_runtime.h>

#include <optional>
#include <string>
#include <vector>

#include "harness/device_problem.h"
#include "harness/verify.h"
#include "reference/reference.h"

namespace dsconv {

// A problem's inputs and its reference results for the passes asked for, computed once
// and shared by every implementation checked on it.
struct ReferenceSet {
  Problem problem;
  Distribution distribution = Distribution::normal;
  uint64_t seed = 0;
  Inputs inputs;
  std::optional<reference::Result> forward, backward;

  const reference::Result& of(Pass pass) const { return pass == Pass::forward ? *forward : *backward; }
};

ReferenceSet make_reference_set(const Problem& problem, Distribution distribution, uint64_t seed, bool forward,
                                bool backward);

enum class CheckStatus { ok, failed, skipped };
std::string_view to_string(CheckStatus status);

struct PassCheck {
  std::string impl;
  Pass pass = Pass::forward;
  CheckStatus status = CheckStatus::ok;
  std::string reason;  // why skipped, or the error that stopped the run
  std::vector<Comparison> outputs;
  std::optional<bool> reproducible;  // bitwise equal over two runs; empty when not checked

  // The output closest to (or furthest past) its bound; nullptr when none was compared.
  const Comparison* worst() const;
};

// Poisons, runs and compares. With `check_determinism`, runs the pass a second time and
// compares the two results bitwise; an implementation that claims determinism and is not
// fails. Device errors become a failed check with the error as its reason.
PassCheck check_pass(const Kernel& kernel, Pass pass, const ReferenceSet& reference, DeviceProblem& device,
                     Workspace& workspace, cudaStream_t stream, bool check_determinism);

// Compares already-computed outputs of `pass` against expected values, with magnitudes
// from the magnitude pass. T is float for GPU outputs, double for the reference's own.
template <class T>
PassCheck compare_outputs(std::string_view impl, const Bound& bound, Pass pass, const Problem& problem,
                          const Outputs<T>& outputs, const Outputs<double>& expected,
                          const Outputs<double>& magnitude);

}  // namespace dsconv
