// The checker itself, on the device: a kernel that leaves one output element unwritten
// must fail as "unwritten", not pass on stale memory.
#include <gtest/gtest.h>

#include "gpu_test.h"
#include "harness/cuda_stream.h"
#include "harness/pass_check.h"
#include "kernels/cuda_check.h"

namespace dsconv {
namespace {

// Computes the right answer with `naive` into scratch memory, then copies all but the last
// element of each output: exactly one element is left as the poison put there.
class ForgetsLastElement final : public Kernel {
 public:
  std::string_view name() const override { return "forgets_last_element"; }
  std::string_view summary() const override { return "test kernel"; }
  void prepare(const Problem& p, Workspace& ws) const override {
    naive().prepare(p, inner_);
    ws.plan = Scratch{ws.allocate_array<float>(size_t(p.y_elems())), ws.allocate_array<float>(size_t(p.x_elems()))};
  }
  void forward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t s) const override {
    const auto scratch = std::any_cast<Scratch>(ws.plan);
    DeviceTensors redirected = d;
    redirected.y = scratch.y;
    naive().forward(p, redirected, inner_, s);
    DSCONV_CUDA_CHECK(cudaMemcpyAsync(d.y, scratch.y, size_t(p.y_elems() - 1) * sizeof(float), cudaMemcpyDeviceToDevice, s));
  }
  void backward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t s) const override {
    const auto scratch = std::any_cast<Scratch>(ws.plan);
    DeviceTensors redirected = d;
    redirected.dx = scratch.dx;
    naive().backward(p, redirected, inner_, s);
    DSCONV_CUDA_CHECK(cudaMemcpyAsync(d.dx, scratch.dx, size_t(p.x_elems() - 1) * sizeof(float), cudaMemcpyDeviceToDevice, s));
  }

 private:
  struct Scratch {
    float* y;
    float* dx;
  };
  static const Kernel& naive() { return *find_kernel("naive"); }
  mutable Workspace inner_;
};

TEST(Checker, CatchesAnUnwrittenOutputElement) {
  DSCONV_REQUIRE_GPU();
  Problem p;
  p.n = 2;
  p.c_in = 5;
  p.c_out = 7;
  p.h = 9;
  p.w = 11;
  const ReferenceSet reference = make_reference_set(p, Distribution::normal, 7, true, true);
  CudaStream stream;
  DeviceProblem device(p);
  device.upload(reference.inputs, stream);

  // First, fill the outputs with the right answer, so that a checker which skipped the
  // poisoning would see correct stale values and pass.
  Workspace naive_ws;
  find_kernel("naive")->prepare(p, naive_ws);
  ASSERT_EQ(check_pass(*find_kernel("naive"), Pass::forward, reference, device, naive_ws, stream, false).status,
            CheckStatus::ok);
  ASSERT_EQ(check_pass(*find_kernel("naive"), Pass::backward, reference, device, naive_ws, stream, false).status,
            CheckStatus::ok);

  ForgetsLastElement forgetful;
  Workspace ws;
  forgetful.prepare(p, ws);
  for (Pass pass : {Pass::forward, Pass::backward}) {
    const PassCheck check = check_pass(forgetful, pass, reference, device, ws, stream, false);
    EXPECT_EQ(check.status, CheckStatus::failed) << to_string(pass);
    const Comparison* worst = check.worst();
    ASSERT_NE(worst, nullptr);
    EXPECT_EQ(worst->unwritten, 1);
    EXPECT_EQ(worst->worst_at, pass == Pass::forward ? "(1, 6, 8, 10)" : "(1, 4, 8, 10)");
  }
}

}  // namespace
}  // namespace dsconv
