// An owned, non-blocking CUDA stream.
#pragma once

#include <cuda_runtime.h>

namespace dsconv {

class CudaStream {
 public:
  CudaStream();  // throws DeviceError
  ~CudaStream();
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  operator cudaStream_t() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace dsconv
