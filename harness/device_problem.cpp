#include "harness/device_problem.h"

#include "kernels/cuda_check.h"

namespace dsconv {

namespace {
DeviceBuffer floats(int64_t count, const char* what) { return DeviceBuffer(size_t(count) * sizeof(float), what); }

void copy_in(const DeviceBuffer& to, const Tensor<float>& from, cudaStream_t stream) {
  if (from.empty()) return;
  DSCONV_CUDA_CHECK(cudaMemcpyAsync(to.get(), from.ptr(), size_t(from.numel()) * sizeof(float),
                                    cudaMemcpyHostToDevice, stream));
}
}  // namespace

DeviceProblem::DeviceProblem(const Problem& p) : problem_(p) {
  x_ = floats(p.x_elems(), "x");
  w_dw_ = floats(p.w_dw_elems(), "w_dw");
  w_pw_ = floats(p.w_pw_elems(), "w_pw");
  y_ = floats(p.y_elems(), "y");
  dy_ = floats(p.y_elems(), "dy");
  dx_ = floats(p.x_elems(), "dx");
  dw_dw_ = floats(p.w_dw_elems(), "dw_dw");
  dw_pw_ = floats(p.w_pw_elems(), "dw_pw");
  if (p.bias) {
    b_dw_ = floats(p.c_in, "b_dw");
    b_pw_ = floats(p.c_out, "b_pw");
    db_dw_ = floats(p.c_in, "db_dw");
    db_pw_ = floats(p.c_out, "db_pw");
  }
  tensors_ = DeviceTensors{x_.as<const float>(),  w_dw_.as<const float>(), b_dw_.as<const float>(),
                           w_pw_.as<const float>(), b_pw_.as<const float>(), y_.as<float>(),
                           dy_.as<const float>(), dx_.as<float>(),       dw_dw_.as<float>(),
                           db_dw_.as<float>(),    dw_pw_.as<float>(),    db_pw_.as<float>()};
}

void DeviceProblem::upload(const Inputs& in, cudaStream_t stream) {
  copy_in(x_, in.x, stream);
  copy_in(w_dw_, in.w_dw, stream);
  copy_in(w_pw_, in.w_pw, stream);
  copy_in(dy_, in.dy, stream);
  if (problem_.bias) {
    copy_in(b_dw_, in.b_dw, stream);
    copy_in(b_pw_, in.b_pw, stream);
  }
}

float* DeviceProblem::device_output(Output o) const {
  switch (o) {
    case Output::y: return tensors_.y;
    case Output::dx: return tensors_.dx;
    case Output::dw_dw: return tensors_.dw_dw;
    case Output::db_dw: return tensors_.db_dw;
    case Output::dw_pw: return tensors_.dw_pw;
    case Output::db_pw: return tensors_.db_pw;
  }
  return nullptr;
}

void DeviceProblem::poison(Pass pass, cudaStream_t stream) {
  for (Output o : outputs_of(pass, problem_.bias)) {
    const size_t bytes = size_t(element_count(output_shape(problem_, o))) * sizeof(float);
    DSCONV_CUDA_CHECK(cudaMemsetAsync(device_output(o), kPoisonByte, bytes, stream));
  }
}

Outputs<float> DeviceProblem::download(Pass pass, cudaStream_t stream) const {
  Outputs<float> out;
  for (Output o : outputs_of(pass, problem_.bias)) {
    Tensor<float>& t = out[o];
    t = Tensor<float>(output_shape(problem_, o));
    DSCONV_CUDA_CHECK(cudaMemcpyAsync(t.ptr(), device_output(o), size_t(t.numel()) * sizeof(float),
                                      cudaMemcpyDeviceToHost, stream));
  }
  DSCONV_CUDA_CHECK(cudaStreamSynchronize(stream));
  return out;
}

void run_pass(const Kernel& kernel, Pass pass, DeviceProblem& device, Workspace& workspace, cudaStream_t stream) {
  device.poison(pass, stream);
  if (pass == Pass::forward)
    kernel.forward(device.problem(), device.tensors(), workspace, stream);
  else
    kernel.backward(device.problem(), device.tensors(), workspace, stream);
}

}  // namespace dsconv
