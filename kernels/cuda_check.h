// Every CUDA and cuDNN call is checked; a failure becomes a DeviceError naming the call,
// the file and the line.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "harness/errors.h"

namespace dsconv {

[[noreturn]] void throw_cuda_error(cudaError_t status, const char* call, const char* file, int line);

}  // namespace dsconv

#define DSCONV_CUDA_CHECK(call)                                                   \
  do {                                                                            \
    const cudaError_t dsconv_status_ = (call);                                    \
    if (dsconv_status_ != cudaSuccess)                                            \
      ::dsconv::throw_cuda_error(dsconv_status_, #call, __FILE__, __LINE__);      \
  } while (0)

// After a kernel launch: catches bad launch configurations at once. Asynchronous faults
// surface at the next checked synchronising call.
#define DSCONV_LAUNCH_CHECK() DSCONV_CUDA_CHECK(cudaGetLastError())
