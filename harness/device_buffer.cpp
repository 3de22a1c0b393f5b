#include "harness/device_buffer.h"

#include <fmt/format.h>

#include <utility>

#include "kernels/cuda_check.h"

namespace dsconv {

DeviceBuffer::DeviceBuffer(size_t bytes, const std::string& what) : bytes_(bytes) {
  const cudaError_t status = cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes);
  if (status == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    throw DeviceError(fmt::format("out of device memory: {} needs {:.2f} GiB, {:.2f} GiB of {:.2f} GiB free", what,
                                  double(bytes) / (1 << 30), double(free_bytes) / (1 << 30), double(total) / (1 << 30)));
  }
  DSCONV_CUDA_CHECK(status);
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    if (ptr_) cudaFree(ptr_);
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) cudaFree(ptr_);
}

}  // namespace dsconv
