#include "harness/device_info.h"

#include <cuda_runtime.h>
#include <cudnn.h>
#include <fmt/format.h>

#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>

#include "kernels/cuda_check.h"

namespace dsconv {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

std::string no_device_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  (void)cudaGetLastError();
  if (status == cudaErrorInsufficientDriver || status == cudaErrorNoDevice) {
    // Without a GPU there is usually no driver at all, which the runtime reports as an old one.
    std::ifstream driver("/proc/driver/nvidia/version");
    if (!driver) return fmt::format("no NVIDIA driver is loaded on this machine ({})", cudaGetErrorName(status));
  }
  if (status != cudaSuccess) return fmt::format("{} ({})", cudaGetErrorString(status), cudaGetErrorName(status));
  return count == 0 ? "the driver reports no devices" : "";
}

std::string gpu_slug(const std::string& name) {
  std::istringstream words(name);
  std::string word, slug;
  while (words >> word) {
    std::string lower;
    for (char c : word)
      if (std::isalnum(static_cast<unsigned char>(c))) lower += char(std::tolower(static_cast<unsigned char>(c)));
    if (lower.empty() || lower == "nvidia" || lower == "geforce" || lower == "tesla" || lower == "quadro") continue;
    slug += slug.empty() ? lower : "_" + lower;
    // "rtx 4090" needs its number; "h100" and "a100" stand alone.
    if (lower != "rtx" && lower != "gtx" && lower != "titan") break;
  }
  return slug.empty() ? "unknown_gpu" : slug;
}

std::string cudnn_version_string() {
  const size_t v = cudnnGetVersion();  // major*10000 + minor*100 + patch for cuDNN 9
  return fmt::format("{}.{}.{}", v / 10000, (v / 100) % 100, v % 100);
}

std::string cuda_runtime_version_string() {
  int v = 0;
  cudaRuntimeGetVersion(&v);
  return fmt::format("{}.{}", v / 1000, (v % 1000) / 10);
}

namespace {
// The kernel module's version ("580.159.04"); the CUDA API level when that is unreadable.
std::string driver_version() {
  std::ifstream in("/proc/driver/nvidia/version");
  std::string line;
  if (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_search(line, m, std::regex(R"((\d+\.\d+(\.\d+)?))"))) return m[1];
  }
  int v = 0;
  cudaDriverGetVersion(&v);
  return fmt::format("CUDA driver API {}.{}", v / 1000, (v % 1000) / 10);
}
}  // namespace

DeviceInfo query_device() {
  if (device_count() == 0) throw DeviceError("no CUDA device: " + no_device_reason());
  DeviceInfo info;
  DSCONV_CUDA_CHECK(cudaGetDevice(&info.ordinal));
  cudaDeviceProp prop{};
  DSCONV_CUDA_CHECK(cudaGetDeviceProperties(&prop, info.ordinal));
  info.gpu = prop.name;
  info.slug = gpu_slug(info.gpu);
  info.compute_capability = fmt::format("{}.{}", prop.major, prop.minor);
  info.multiprocessors = prop.multiProcessorCount;
  info.memory_bytes = static_cast<long long>(prop.totalGlobalMem);
  info.l2_bytes = prop.l2CacheSize;
  info.driver = driver_version();
  info.cuda_runtime = cuda_runtime_version_string();
  info.cudnn = cudnn_version_string();
  return info;
}

}  // namespace dsconv
