// One problem's tensors on the device: inputs uploaded from host Inputs, outputs poisoned
// with NaN before every run so that an element a kernel forgets to write cannot pass, and
// downloaded for verification.
#pragma once

#include <cuda_runtime.h>

#include "harness/device_buffer.h"
#include "harness/problem_data.h"
#include "kernels/kernel.h"

namespace dsconv {

// The bit pattern outputs are filled with before each run: a quiet NaN no arithmetic
// produces, so verification can tell "never written" from "computed NaN".
inline constexpr unsigned char kPoisonByte = 0xFF;

class DeviceProblem {
 public:
  // Allocates every tensor of `problem` (throws DeviceError when it does not fit).
  explicit DeviceProblem(const Problem& problem);

  const Problem& problem() const { return problem_; }
  const DeviceTensors& tensors() const { return tensors_; }

  void upload(const Inputs& inputs, cudaStream_t stream);
  // Fills the outputs of `pass` with the poison pattern.
  void poison(Pass pass, cudaStream_t stream);
  // Copies the outputs of `pass` back (synchronises the stream).
  Outputs<float> download(Pass pass, cudaStream_t stream) const;

 private:
  float* device_output(Output o) const;

  Problem problem_;
  DeviceBuffer x_, w_dw_, b_dw_, w_pw_, b_pw_, y_, dy_, dx_, dw_dw_, db_dw_, dw_pw_, db_pw_;
  DeviceTensors tensors_;
};

// Runs one pass of `kernel` on the device problem, poisoning its outputs first.
void run_pass(const Kernel& kernel, Pass pass, DeviceProblem& device, Workspace& workspace, cudaStream_t stream);

}  // namespace dsconv
