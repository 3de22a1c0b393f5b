#include "harness/pass_check.h"

#include <cstring>

#include "kernels/cuda_check.h"

namespace dsconv {

ReferenceSet make_reference_set(const Problem& problem, Distribution distribution, uint64_t seed, bool forward,
                                bool backward) {
  ReferenceSet set;
  set.problem = problem;
  set.distribution = distribution;
  set.seed = seed;
  set.inputs = make_inputs(problem, distribution, seed);
  if (forward) set.forward = reference::run_with_magnitude(problem, set.inputs, Pass::forward);
  if (backward) set.backward = reference::run_with_magnitude(problem, set.inputs, Pass::backward);
  return set;
}

std::string_view to_string(CheckStatus status) {
  switch (status) {
    case CheckStatus::ok: return "ok";
    case CheckStatus::failed: return "FAIL";
    case CheckStatus::skipped: return "skipped";
  }
  return "?";
}

const Comparison* PassCheck::worst() const {
  const Comparison* worst = nullptr;
  for (const Comparison& c : outputs) {
    const auto badness = [](const Comparison& x) { return x.passed() ? x.worst_ratio / x.allowed : 1e300; };
    if (!worst || badness(c) > badness(*worst)) worst = &c;
  }
  return worst;
}

template <class T>
PassCheck compare_outputs(std::string_view impl, const Bound& bound, Pass pass, const Problem& problem,
                          const Outputs<T>& outputs, const Outputs<double>& expected,
                          const Outputs<double>& magnitude) {
  PassCheck check;
  check.impl = std::string(impl);
  check.pass = pass;
  for (Output o : outputs_of(pass, problem.bias))
    check.outputs.push_back(compare(problem, o, bound, outputs[o], expected[o], magnitude[o]));
  for (const Comparison& c : check.outputs)
    if (!c.passed()) check.status = CheckStatus::failed;
  return check;
}
template PassCheck compare_outputs(std::string_view, const Bound&, Pass, const Problem&, const Outputs<float>&,
                                   const Outputs<double>&, const Outputs<double>&);
template PassCheck compare_outputs(std::string_view, const Bound&, Pass, const Problem&, const Outputs<double>&,
                                   const Outputs<double>&, const Outputs<double>&);

namespace {
bool bitwise_equal(const Outputs<float>& a, const Outputs<float>& b, Pass pass, bool bias) {
  for (Output o : outputs_of(pass, bias)) {
    const Tensor<float>&ta = a[o], &tb = b[o];
    if (ta.numel() != tb.numel() || std::memcmp(ta.ptr(), tb.ptr(), size_t(ta.numel()) * sizeof(float)) != 0)
      return false;
  }
  return true;
}
}  // namespace

PassCheck check_pass(const Kernel& kernel, Pass pass, const ReferenceSet& reference, DeviceProblem& device,
                     Workspace& workspace, cudaStream_t stream, bool check_determinism) {
  const Problem& p = reference.problem;
  try {
    run_pass(kernel, pass, device, workspace, stream);
    const Outputs<float> first = device.download(pass, stream);
    const reference::Result& expected = reference.of(pass);
    PassCheck check = compare_outputs(kernel.name(), bound_for(kernel.precision()), pass, p, first, expected.value,
                                      expected.magnitude);
    if (check_determinism) {
      run_pass(kernel, pass, device, workspace, stream);
      check.reproducible = bitwise_equal(first, device.download(pass, stream), pass, p.bias);
      if (kernel.deterministic() && !*check.reproducible) {
        check.status = CheckStatus::failed;
        check.reason = "claims determinism, but two runs differ bitwise";
      }
    }
    return check;
  } catch (const DeviceError& e) {
    PassCheck check;
    check.impl = std::string(kernel.name());
    check.pass = pass;
    check.status = CheckStatus::failed;
    check.reason = e.what();
    return check;
  }
}

}  // namespace dsconv
