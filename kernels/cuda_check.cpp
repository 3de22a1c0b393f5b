#include "kernels/cuda_check.h"

#include <fmt/format.h>

namespace dsconv {

void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line) {
  // Clear a sticky launch error so that the next, unrelated call does not report it again.
  (void)cudaGetLastError();
  std::string message = fmt::format("CUDA error {} ({}): {}\n  in {} at {}:{}", cudaGetErrorName(status),
                                    static_cast<int>(status), cudaGetErrorString(status), call, file, line);
  if (status == cudaErrorMemoryAllocation) message = "out of device memory: " + message;
  throw DeviceError(message);
}

}  // namespace dsconv
