#include "harness/cuda_stream.h"

#include "kernels/cuda_check.h"

namespace dsconv {

CudaStream::CudaStream() { DSCONV_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
CudaStream::~CudaStream() {
  if (stream_) cudaStreamDestroy(stream_);
}

}  // namespace dsconv
