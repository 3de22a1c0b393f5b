// Every registered implementation passes verification, forward and backward, on the
// built-in suite (the KernelBench shape is left to `dsconv verify` and scripts/gpu-check.sh).
#include <gtest/gtest.h>

#include "gpu_test.h"
#include "harness/cuda_stream.h"
#include "harness/pass_check.h"
#include "harness/suite.h"

namespace dsconv {
namespace {

std::vector<std::string> kernel_names_list() {
  std::vector<std::string> names;
  for (const Kernel* k : all_kernels()) names.emplace_back(k->name());
  return names;
}

class KernelVerify : public ::testing::TestWithParam<std::string> {};

TEST_P(KernelVerify, ForwardAndBackwardOnTheSuite) {
  DSCONV_REQUIRE_GPU();
  const Kernel& kernel = *find_kernel(GetParam());
  CudaStream stream;
  const std::vector<SuiteEntry> suite = verify_suite(false);
  for (size_t i = 0; i < suite.size(); ++i) {
    const SuiteEntry& e = suite[i];
    SCOPED_TRACE(e.name + ": " + e.problem.describe());
    if (!kernel.unsupported_reason(e.problem).empty()) continue;
    const ReferenceSet reference = make_reference_set(e.problem, e.distribution, 1000 + i, true, true);
    DeviceProblem device(e.problem);
    device.upload(reference.inputs, stream);
    Workspace workspace;
    kernel.prepare(e.problem, workspace);
    for (Pass pass : {Pass::forward, Pass::backward}) {
      const PassCheck check = check_pass(kernel, pass, reference, device, workspace, stream, true);
      EXPECT_EQ(check.status, CheckStatus::ok)
          << to_string(pass) << ": " << (check.reason.empty() && check.worst() ? check.worst()->verdict() : check.reason);
    }
  }
}

std::string test_name(const ::testing::TestParamInfo<std::string>& param) { return param.param; }

INSTANTIATE_TEST_SUITE_P(Registry, KernelVerify, ::testing::ValuesIn(kernel_names_list()), test_name);

}  // namespace
}  // namespace dsconv
