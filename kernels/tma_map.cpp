#include "kernels/tma_map.h"

#include <cudaTypedefs.h>
#include <cuda_runtime.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <vector>

#include "kernels/cuda_check.h"

namespace dsconv::tma {
namespace {

// The driver's encoder, looked up once through the runtime, so that nothing links libcuda.
PFN_cuTensorMapEncodeTiled_v12000 encoder() {
  static const PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* f = nullptr;
    cudaDriverEntryPointQueryResult found{};
    if (cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &f, 12000, cudaEnableDefault, &found) !=
            cudaSuccess ||
        found != cudaDriverEntryPointSuccess)
      f = nullptr;
    (void)cudaGetLastError();
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(f);
  }();
  return fn;
}

}  // namespace

CUtensorMap make_box_map(const float* base, std::initializer_list<uint64_t> dims, std::initializer_list<uint32_t> box,
                         CUtensorMapSwizzle swizzle) {
  const std::vector<cuuint64_t> d(dims);
  const std::vector<cuuint32_t> b(box);
  const auto describe = [&] {
    return fmt::format("a {} tensor in {} boxes", fmt::join(d, " x "), fmt::join(b, " x "));
  };
  const bool boxes_ok = std::all_of(b.begin(), b.end(), [](cuuint32_t side) { return side >= 1 && side <= 256; });
  if (d.empty() || d.size() > 5 || d.size() != b.size() || d[0] % 4 != 0 ||
      reinterpret_cast<uintptr_t>(base) % 16 != 0 || !boxes_ok)
    throw DeviceError(
        fmt::format("no TMA map for {} (innermost first): needs rank 1 to 5, an innermost side of a "
                    "multiple of 4 floats, a 16-byte aligned base and box sides of 1 to 256",
                    describe()));
  const auto encode = encoder();
  if (!encode) throw DeviceError("the CUDA driver does not export cuTensorMapEncodeTiled (TMA tile loads)");
  std::vector<cuuint64_t> strides;  // bytes, of dims 1 and up
  cuuint64_t stride = sizeof(float);
  for (size_t i = 0; i + 1 < d.size(); ++i) strides.push_back(stride *= d[i]);
  const std::vector<cuuint32_t> element_strides(d.size(), 1);
  CUtensorMap map{};
  const CUresult status =
      encode(&map, CU_TENSOR_MAP_DATA_TYPE_FLOAT32, cuuint32_t(d.size()), const_cast<float*>(base), d.data(),
             strides.data(), b.data(), element_strides.data(), CU_TENSOR_MAP_INTERLEAVE_NONE, swizzle,
             CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (status != CUDA_SUCCESS)
    throw DeviceError(fmt::format("cuTensorMapEncodeTiled refused {} (CUresult {})", describe(), int(status)));
  return map;
}

bool sm90_code_runs(const void* kernel) {
  int device = 0, major = 0;
  DSCONV_CUDA_CHECK(cudaGetDevice(&device));
  DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  if (major < 9) return false;
  cudaFuncAttributes attributes{};
  DSCONV_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
  return attributes.ptxVersion >= 90;
}

bool kernel_usable(const void* kernel) { return available() && sm90_code_runs(kernel); }

bool available() {
  int device = 0, major = 0;
  DSCONV_CUDA_CHECK(cudaGetDevice(&device));
  DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 9 && encoder() != nullptr;
}

}  // namespace dsconv::tma
