#include "kernels/cuda_check.h"
#include "kernels/kernel.h"

namespace dsconv {

std::string_view to_string(Precision precision) {
  switch (precision) {
    case Precision::fp32: return "fp32";
    case Precision::tf32: return "tf32";
    case Precision::fp32_3xtf32: return "3xtf32";
  }
  return "?";
}

Workspace::~Workspace() {
  for (void* p : allocations_) cudaFree(p);  // never throws from a destructor
}

void* Workspace::allocate(size_t bytes) {
  void* p = nullptr;
  DSCONV_CUDA_CHECK(cudaMalloc(&p, bytes == 0 ? 1 : bytes));
  allocations_.push_back(p);
  bytes_ += bytes;
  return p;
}

}  // namespace dsconv
