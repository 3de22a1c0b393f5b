// cudnn, cudnn_tf32: the library baseline. cuDNN 9's grouped convolution (groups = C_in)
// for the depthwise stage, then its 1x1 convolution; backward data, backward filter and
// backward bias for the gradients. Bias adds go through cudnnAddTensor.
//
// prepare() searches every algorithm of every stage (cudnnFind*, which runs them) and keeps
// the fastest one that obeys the math restriction, then allocates one workspace large
// enough for all of them:
//  - `cudnn` takes only FMA-math algorithms: honest fp32, no tensor cores.
//  - `cudnn_tf32` allows TF32 tensor-op math, as PyTorch does by default; its precision
//    class is tf32 and its results are verified against the looser tf32 bound.
// Both take only algorithms that sum directly (implicit GEMM, GEMM, direct): the FFT and
// Winograd transforms are fp32 too, but their error scales with the whole tensor's norm
// rather than with each element's own terms. One search picked an algorithm whose dx on a
// stride-3 problem had a relative L2 error of 8e-8 yet put one element 278x over its own
// bound - the mark of such a transform.
// cuDNN's backward filter algorithms may accumulate with atomics, so neither promises
// bitwise determinism; verify reports what it sees.
#include <cudnn.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <limits>
#include <memory>

#include "kernels/cuda_check.h"
#include "kernels/kernel.h"

#define DSCONV_CUDNN_CHECK(call)                                                                        \
  do {                                                                                                  \
    const cudnnStatus_t dsconv_status_ = (call);                                                        \
    if (dsconv_status_ != CUDNN_STATUS_SUCCESS)                                                         \
      throw ::dsconv::DeviceError(fmt::format("cuDNN error {}: {}\n  in {} at {}:{}",                   \
                                              cudnnGetErrorString(dsconv_status_), int(dsconv_status_), \
                                              #call, __FILE__, __LINE__));                              \
  } while (0)

namespace dsconv {
namespace {

// RAII owners of cuDNN handles and descriptors.
template <class T, cudnnStatus_t (*Destroy)(T)>
struct Owned {
  T value{};
  Owned() = default;
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  ~Owned() {
    if (value) Destroy(value);
  }
  operator T() const { return value; }
};
using Handle = Owned<cudnnHandle_t, cudnnDestroy>;
using TensorDesc = Owned<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor>;
using FilterDesc = Owned<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor>;
using ConvDesc = Owned<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor>;

void set_tensor(TensorDesc& d, int64_t n, int64_t c, int64_t h, int64_t w) {
  DSCONV_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d.value));
  DSCONV_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, int(n), int(c), int(h), int(w)));
}
void set_filter(FilterDesc& d, int64_t k, int64_t c, int64_t h, int64_t w) {
  DSCONV_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d.value));
  DSCONV_CUDNN_CHECK(cudnnSetFilter4dDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, int(k), int(c), int(h), int(w)));
}
// One descriptor per operation: each chosen algorithm may carry its own math type.
void set_conv(ConvDesc& d, const Conv2dParams& c, int groups, cudnnMathType_t math) {
  DSCONV_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d.value));
  DSCONV_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(d, c.pad_h, c.pad_w, c.stride_h, c.stride_w, c.dil_h, c.dil_w,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  DSCONV_CUDNN_CHECK(cudnnSetConvolutionGroupCount(d, groups));
  DSCONV_CUDNN_CHECK(cudnnSetConvolutionMathType(d, math));
}

// The chosen algorithm of one stage, and its workspace need.
template <class Algo>
struct Choice {
  Algo algo{};
  size_t memory = 0;
};

// Algorithms that compute in a transformed domain (FFT, Winograd).
bool transform_based(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool transform_based(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD || a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool transform_based(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT || a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// Keeps the fastest successful direct-summation result whose math obeys the restriction.
// cudnnFind* sorts its results by time.
template <class Algo, class Perf>
Choice<Algo> pick(const Perf* results, int count, bool allow_tf32, ConvDesc& desc, const char* stage) {
  for (int i = 0; i < count; ++i) {
    const Perf& r = results[i];
    if (r.status != CUDNN_STATUS_SUCCESS || transform_based(r.algo)) continue;
    if (!allow_tf32 && r.mathType != CUDNN_FMA_MATH) continue;
    DSCONV_CUDNN_CHECK(cudnnSetConvolutionMathType(desc, r.mathType));
    return {r.algo, r.memory};
  }
  throw DeviceError(fmt::format("cuDNN offered no direct-summation{} algorithm for {} ({} tried)",
                                allow_tf32 ? "" : " FMA-math", stage, count));
}

// Everything prepare() decides for one problem.
struct Plan {
  Handle handle;
  TensorDesc x, t, y, bias_dw, bias_pw;
  FilterDesc w_dw, w_pw;
  // Descriptors per stage: depthwise forward / backward data / backward filter, then the same
  // for the pointwise stage.
  ConvDesc dw_fwd, dw_bwd_data, dw_bwd_filter, pw_fwd, pw_bwd_data, pw_bwd_filter;
  Choice<cudnnConvolutionFwdAlgo_t> dw_fwd_algo, pw_fwd_algo;
  Choice<cudnnConvolutionBwdDataAlgo_t> dw_bwd_data_algo, pw_bwd_data_algo;
  Choice<cudnnConvolutionBwdFilterAlgo_t> dw_bwd_filter_algo, pw_bwd_filter_algo;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  float* t_buffer = nullptr;   // depthwise output
  float* dt_buffer = nullptr;  // its gradient
};

constexpr int kMaxAlgos = 16;

class Cudnn final : public Kernel {
 public:
  explicit Cudnn(bool allow_tf32) : allow_tf32_(allow_tf32) {}

  std::string_view name() const override { return allow_tf32_ ? "cudnn_tf32" : "cudnn"; }
  std::string_view summary() const override {
    return allow_tf32_ ? "cuDNN 9 grouped + 1x1 convolution, TF32 tensor-op math allowed (PyTorch's default); "
                         "fastest direct-summation algorithms by search; not promised deterministic"
                       : "cuDNN 9 grouped + 1x1 convolution, FMA math only (strict fp32); fastest direct-summation "
                         "algorithms by search; not promised deterministic";
  }
  Precision precision() const override { return allow_tf32_ ? Precision::tf32 : Precision::fp32; }
  bool deterministic() const override { return false; }

  std::string unsupported_reason(const Problem& p) const override {
    // cuDNN's 4-d descriptors take int dimensions and strides.
    const int64_t limit = std::numeric_limits<int>::max();
    if (p.x_elems() > limit || p.y_elems() > limit)
      return fmt::format("cuDNN's 4-d tensor descriptors address at most 2^31-1 elements; this problem's y has {}",
                         p.y_elems());
    return {};
  }

  void prepare(const Problem& p, Workspace& ws) const override {
    auto plan = std::make_shared<Plan>();
    const int64_t ho = p.out_h(), wo = p.out_w();
    const cudnnMathType_t math = allow_tf32_ ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
    DSCONV_CUDNN_CHECK(cudnnCreate(&plan->handle.value));
    set_tensor(plan->x, p.n, p.c_in, p.h, p.w);
    set_tensor(plan->t, p.n, p.c_in, ho, wo);
    set_tensor(plan->y, p.n, p.c_out, ho, wo);
    set_tensor(plan->bias_dw, 1, p.c_in, 1, 1);
    set_tensor(plan->bias_pw, 1, p.c_out, 1, 1);
    set_filter(plan->w_dw, p.c_in, 1, p.conv.kh, p.conv.kw);
    set_filter(plan->w_pw, p.c_out, p.c_in, 1, 1);
    const Conv2dParams pointwise{1, 1, 1, 1, 0, 0, 1, 1};
    for (ConvDesc* d : {&plan->dw_fwd, &plan->dw_bwd_data, &plan->dw_bwd_filter})
      set_conv(*d, p.conv, int(p.c_in), math);
    for (ConvDesc* d : {&plan->pw_fwd, &plan->pw_bwd_data, &plan->pw_bwd_filter}) set_conv(*d, pointwise, 1, math);

    Plan& q = *plan;
    int count = 0;
    std::array<cudnnConvolutionFwdAlgoPerf_t, kMaxAlgos> fwd{};
    DSCONV_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(q.handle, q.x, q.w_dw, q.dw_fwd, q.t, kMaxAlgos, &count, fwd.data()));
    q.dw_fwd_algo = pick<cudnnConvolutionFwdAlgo_t>(fwd.data(), count, allow_tf32_, q.dw_fwd, "depthwise forward");
    DSCONV_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithm(q.handle, q.t, q.w_pw, q.pw_fwd, q.y, kMaxAlgos, &count, fwd.data()));
    q.pw_fwd_algo = pick<cudnnConvolutionFwdAlgo_t>(fwd.data(), count, allow_tf32_, q.pw_fwd, "pointwise forward");

    std::array<cudnnConvolutionBwdDataAlgoPerf_t, kMaxAlgos> data{};
    DSCONV_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(q.handle, q.w_dw, q.t, q.dw_bwd_data, q.x, kMaxAlgos, &count, data.data()));
    q.dw_bwd_data_algo = pick<cudnnConvolutionBwdDataAlgo_t>(data.data(), count, allow_tf32_, q.dw_bwd_data, "depthwise backward data");
    DSCONV_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithm(q.handle, q.w_pw, q.y, q.pw_bwd_data, q.t, kMaxAlgos, &count, data.data()));
    q.pw_bwd_data_algo = pick<cudnnConvolutionBwdDataAlgo_t>(data.data(), count, allow_tf32_, q.pw_bwd_data, "pointwise backward data");

    std::array<cudnnConvolutionBwdFilterAlgoPerf_t, kMaxAlgos> filter{};
    DSCONV_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(q.handle, q.x, q.t, q.dw_bwd_filter, q.w_dw, kMaxAlgos, &count, filter.data()));
    q.dw_bwd_filter_algo = pick<cudnnConvolutionBwdFilterAlgo_t>(filter.data(), count, allow_tf32_, q.dw_bwd_filter, "depthwise backward filter");
    DSCONV_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithm(q.handle, q.t, q.y, q.pw_bwd_filter, q.w_pw, kMaxAlgos, &count, filter.data()));
    q.pw_bwd_filter_algo = pick<cudnnConvolutionBwdFilterAlgo_t>(filter.data(), count, allow_tf32_, q.pw_bwd_filter, "pointwise backward filter");

    q.workspace_bytes = std::max({q.dw_fwd_algo.memory, q.pw_fwd_algo.memory, q.dw_bwd_data_algo.memory,
                                  q.pw_bwd_data_algo.memory, q.dw_bwd_filter_algo.memory, q.pw_bwd_filter_algo.memory});
    q.workspace = ws.allocate(q.workspace_bytes);
    q.t_buffer = ws.allocate_array<float>(size_t(p.t_elems()));
    q.dt_buffer = ws.allocate_array<float>(size_t(p.t_elems()));
    ws.plan = std::shared_ptr<const Plan>(std::move(plan));
  }

  void forward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t stream) const override {
    const Plan& q = plan_of(ws, stream);
    depthwise_forward(p, q, d, q.t_buffer);
    const float one = 1.0f, zero = 0.0f;
    DSCONV_CUDNN_CHECK(cudnnConvolutionForward(q.handle, &one, q.t, q.t_buffer, q.w_pw, d.w_pw, q.pw_fwd, q.pw_fwd_algo.algo,
                                               q.workspace, q.workspace_bytes, &zero, q.y, d.y));
    if (p.bias) DSCONV_CUDNN_CHECK(cudnnAddTensor(q.handle, &one, q.bias_pw, d.b_pw, &one, q.y, d.y));
  }

  void backward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t stream) const override {
    const Plan& q = plan_of(ws, stream);
    const float one = 1.0f, zero = 0.0f;
    depthwise_forward(p, q, d, q.t_buffer);  // t is recomputed: backward starts from the inputs
    DSCONV_CUDNN_CHECK(cudnnConvolutionBackwardData(q.handle, &one, q.w_pw, d.w_pw, q.y, d.dy, q.pw_bwd_data,
                                                    q.pw_bwd_data_algo.algo, q.workspace, q.workspace_bytes, &zero,
                                                    q.t, q.dt_buffer));
    DSCONV_CUDNN_CHECK(cudnnConvolutionBackwardFilter(q.handle, &one, q.t, q.t_buffer, q.y, d.dy, q.pw_bwd_filter,
                                                      q.pw_bwd_filter_algo.algo, q.workspace, q.workspace_bytes,
                                                      &zero, q.w_pw, d.dw_pw));
    DSCONV_CUDNN_CHECK(cudnnConvolutionBackwardData(q.handle, &one, q.w_dw, d.w_dw, q.t, q.dt_buffer, q.dw_bwd_data,
                                                    q.dw_bwd_data_algo.algo, q.workspace, q.workspace_bytes, &zero,
                                                    q.x, d.dx));
    DSCONV_CUDNN_CHECK(cudnnConvolutionBackwardFilter(q.handle, &one, q.x, d.x, q.t, q.dt_buffer, q.dw_bwd_filter,
                                                      q.dw_bwd_filter_algo.algo, q.workspace, q.workspace_bytes,
                                                      &zero, q.w_dw, d.dw_dw));
    if (p.bias) {
      DSCONV_CUDNN_CHECK(cudnnConvolutionBackwardBias(q.handle, &one, q.y, d.dy, &zero, q.bias_pw, d.db_pw));
      DSCONV_CUDNN_CHECK(cudnnConvolutionBackwardBias(q.handle, &one, q.t, q.dt_buffer, &zero, q.bias_dw, d.db_dw));
    }
  }

 private:
  static const Plan& plan_of(Workspace& ws, cudaStream_t stream) {
    const auto& plan = std::any_cast<const std::shared_ptr<const Plan>&>(ws.plan);
    DSCONV_CUDNN_CHECK(cudnnSetStream(plan->handle, stream));
    return *plan;
  }

  static void depthwise_forward(const Problem& p, const Plan& q, const DeviceTensors& d, float* t) {
    const float one = 1.0f, zero = 0.0f;
    DSCONV_CUDNN_CHECK(cudnnConvolutionForward(q.handle, &one, q.x, d.x, q.w_dw, d.w_dw, q.dw_fwd, q.dw_fwd_algo.algo,
                                               q.workspace, q.workspace_bytes, &zero, q.t, t));
    if (p.bias) DSCONV_CUDNN_CHECK(cudnnAddTensor(q.handle, &one, q.bias_dw, d.b_dw, &one, q.t, t));
  }

  bool allow_tf32_;
};

}  // namespace

const Kernel& cudnn_kernel() {
  static const Cudnn kernel(false);
  return kernel;
}
const Kernel& cudnn_tf32_kernel() {
  static const Cudnn kernel(true);
  return kernel;
}

}  // namespace dsconv
