// The one interface every GPU implementation sits behind. The CLI, the tests, the
// benchmarks, the reports and the plot labels all take the list of implementations from
// registry.cu; adding one is a file in this folder and a line there.
//
// Contracts:
//  - forward() and backward() are pure launches on the given stream: no allocation, no
//    synchronisation, no host round trip. Whatever must not be timed (algorithm search,
//    workspace allocation) happens in prepare().
//  - backward() starts from the inputs alone (x, the weights, dy) and writes all five
//    gradients; an implementation that needs the depthwise output t recomputes it.
//  - A problem an implementation cannot do gets a reason from unsupported_reason(); it is
//    never handed to another implementation in secret.
#pragma once

#include <cuda_runtime.h>

#include <any>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "harness/problem.h"

namespace dsconv {

// The arithmetic an implementation does; it decides the verification bound.
enum class Precision {
  fp32,         // operands and accumulation in fp32
  tf32,         // tensor-core operands rounded to tf32 (10-bit mantissa), fp32 accumulation
  fp32_3xtf32,  // tf32 tensor cores with split operands: close to fp32
};
std::string_view to_string(Precision precision);

// Device pointers for one problem's tensors; NCHW, contiguous, fp32.
struct DeviceTensors {
  const float* x = nullptr;     // (N, C_in, H, W)
  const float* w_dw = nullptr;  // (C_in, 1, KH, KW)
  const float* b_dw = nullptr;  // (C_in), null without bias
  const float* w_pw = nullptr;  // (C_out, C_in, 1, 1)
  const float* b_pw = nullptr;  // (C_out), null without bias
  float* y = nullptr;           // forward output (N, C_out, HO, WO)
  const float* dy = nullptr;    // backward input (N, C_out, HO, WO)
  float* dx = nullptr;          // backward outputs, shaped as the tensors they belong to
  float* dw_dw = nullptr;
  float* db_dw = nullptr;  // null without bias
  float* dw_pw = nullptr;
  float* db_pw = nullptr;  // null without bias
};

// What prepare() leaves for forward() and backward(): device scratch memory and any
// host-side plan (chosen algorithms, descriptors). Owned by the caller, one per
// (implementation, problem); freed when it goes out of scope.
class Workspace {
 public:
  Workspace() = default;
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace();

  // Device memory that lives as long as the workspace. Throws DeviceError when the device
  // is out of memory.
  void* allocate(size_t bytes);
  template <class T>
  T* allocate_array(size_t count) {
    return static_cast<T*>(allocate(count * sizeof(T)));
  }
  size_t bytes() const { return bytes_; }

  // Host-side state of the implementation that prepared this workspace.
  std::any plan;

 private:
  std::vector<void*> allocations_;
  size_t bytes_ = 0;
};

// One launch of a multi-kernel pass, timed on its own by `dsconv bench --stages` to show
// where the time goes. Stages are not verified alone: their pass is.
struct Stage {
  std::string name;   // "depthwise", "pointwise", ...
  double bytes = 0;   // the fewest bytes this stage must move, for its GB/s
  double flops = 0;
  std::function<void(cudaStream_t)> launch;
};

class Kernel {
 public:
  virtual ~Kernel() = default;
  // The name users type: "naive", "tiled", "fused", "cudnn", ...
  virtual std::string_view name() const = 0;
  // One line for `dsconv list`: what it is, and whether it is deterministic.
  virtual std::string_view summary() const = 0;
  virtual Precision precision() const { return Precision::fp32; }
  // Bitwise-identical results from run to run. Verification fails an implementation that
  // claims this and is not.
  virtual bool deterministic() const { return true; }
  // "" when the implementation handles `problem`; otherwise why not.
  virtual std::string unsupported_reason(const Problem&) const { return {}; }
  // Untimed setup for `problem`: algorithm search, workspace allocation.
  virtual void prepare(const Problem&, Workspace&) const {}
  virtual void forward(const Problem&, const DeviceTensors&, Workspace&, cudaStream_t) const = 0;
  virtual void backward(const Problem&, const DeviceTensors&, Workspace&, cudaStream_t) const = 0;
  // The separately launched stages of a pass, for timing each; empty when the pass is one
  // launch or the implementation does not say. Same contract as forward()/backward().
  virtual std::vector<Stage> stages(const Problem&, Pass, const DeviceTensors&, Workspace&) const { return {}; }
};

// The registry: every implementation, in the order that tells the optimisation story.
const std::vector<const Kernel*>& all_kernels();
// nullptr when unknown.
const Kernel* find_kernel(std::string_view name);
// The registered names, comma separated, for messages.
std::string kernel_names();
// Resolves "all" or a comma-separated list of names; throws InputError naming an unknown
// one and listing the known ones.
std::vector<const Kernel*> select_kernels(std::string_view names);

}  // namespace dsconv
