#include "harness/roofline.h"

#include <cublas_v2.h>
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "harness/device_buffer.h"
#include "kernels/cuda_check.h"

namespace dsconv {

namespace {

constexpr int kChains = 8;  // independent FMA chains per thread: enough to cover FMA latency

__global__ void ffma_peak(float* sink, int iterations, float a, float b) {
  float r[kChains];
#pragma unroll
  for (int k = 0; k < kChains; ++k) r[k] = float(threadIdx.x + k) * 1e-3f;
  for (int i = 0; i < iterations; ++i) {
#pragma unroll
    for (int k = 0; k < kChains; ++k) r[k] = fmaf(r[k], a, b);
  }
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kChains; ++k) sum += r[k];
  if (sum == 1234.5678f) sink[threadIdx.x] = sum;  // never true; keeps the work alive
}

__global__ void fill_random(float* data, size_t count) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < count; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u;
    h ^= h >> 16;
    data[i] = float(h & 0xffff) / 65536.0f - 0.5f;
  }
}

// Median milliseconds of `reps` timed calls of `work`, after one warm-up call.
template <class Work>
double median_ms(cudaStream_t stream, int reps, Work work) {
  cudaEvent_t start, stop;
  DSCONV_CUDA_CHECK(cudaEventCreate(&start));
  DSCONV_CUDA_CHECK(cudaEventCreate(&stop));
  work();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    DSCONV_CUDA_CHECK(cudaEventRecord(start, stream));
    work();
    DSCONV_CUDA_CHECK(cudaEventRecord(stop, stream));
    DSCONV_CUDA_CHECK(cudaEventSynchronize(stop));
    float t = 0;
    DSCONV_CUDA_CHECK(cudaEventElapsedTime(&t, start, stop));
    ms.push_back(t);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw DeviceError(fmt::format("cuBLAS error {} in {}", int(status), call));
}

double gemm_tflops(cudaStream_t stream, cublasComputeType_t compute) {
  constexpr int n = 8192;
  const size_t count = size_t(n) * n;
  DeviceBuffer a(count * sizeof(float), "roofline GEMM A"), b(count * sizeof(float), "roofline GEMM B"),
      c(count * sizeof(float), "roofline GEMM C");
  fill_random<<<1024, 256, 0, stream>>>(a.as<float>(), count);
  fill_random<<<1024, 256, 0, stream>>>(b.as<float>(), count);
  DSCONV_LAUNCH_CHECK();
  cublasHandle_t handle;
  check_cublas(cublasCreate(&handle), "cublasCreate");
  check_cublas(cublasSetStream(handle, stream), "cublasSetStream");
  const float one = 1.0f, zero = 0.0f;
  double ms = 0;
  try {
    ms = median_ms(stream, 5, [&] {
      check_cublas(cublasGemmEx(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a.get(), CUDA_R_32F, n, b.get(),
                                CUDA_R_32F, n, &zero, c.get(), CUDA_R_32F, n, compute, CUBLAS_GEMM_DEFAULT),
                   "cublasGemmEx");
    });
  } catch (...) {
    cublasDestroy(handle);
    throw;
  }
  cublasDestroy(handle);
  return 2.0 * double(n) * n * n / (ms * 1e-3) / 1e12;
}

}  // namespace

Ceilings measure_ceilings(cudaStream_t stream) {
  Ceilings c;
  {
    const size_t bytes = size_t(1) << 31;  // 2 GiB: far past any L2
    DeviceBuffer src(bytes, "roofline copy source"), dst(bytes, "roofline copy destination");
    DSCONV_CUDA_CHECK(cudaMemsetAsync(src.get(), 1, bytes, stream));
    const double ms = median_ms(stream, 10, [&] {
      DSCONV_CUDA_CHECK(cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream));
    });
    c.copy_gbps = 2.0 * double(bytes) / (ms * 1e-3) / 1e9;
  }
  {
    int device = 0, sms = 0;
    DSCONV_CUDA_CHECK(cudaGetDevice(&device));
    DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    DeviceBuffer sink(1024 * sizeof(float), "roofline sink");
    const int blocks = sms * 8, threads = 256, iterations = 1 << 14;
    const double ms = median_ms(stream, 10, [&] {
      ffma_peak<<<blocks, threads, 0, stream>>>(sink.as<float>(), iterations, 0.999f, 1e-3f);
      DSCONV_LAUNCH_CHECK();
    });
    c.ffma_tflops = 2.0 * kChains * double(iterations) * blocks * threads / (ms * 1e-3) / 1e12;
  }
  c.sgemm_tflops = gemm_tflops(stream, CUBLAS_COMPUTE_32F_PEDANTIC);
  c.tf32_tflops = gemm_tflops(stream, CUBLAS_COMPUTE_32F_FAST_TF32);
  return c;
}

double arithmetic_tflops(const Ceilings& c, Precision precision) {
  switch (precision) {
    case Precision::fp32: return c.ffma_tflops;
    case Precision::tf32: return c.tf32_tflops;
    case Precision::fp32_3xtf32: return c.tf32_tflops / 3.0;  // three tensor-core products per product
  }
  return c.ffma_tflops;
}

double floor_ms(const Problem& p, Pass pass, Precision precision, const Ceilings& c) {
  const double memory = c.copy_gbps > 0 ? p.min_bytes(pass) / (c.copy_gbps * 1e9) : 0.0;
  const double rate = arithmetic_tflops(c, precision);
  const double arithmetic = rate > 0 ? p.flops(pass) / (rate * 1e12) : 0.0;
  return 1e3 * std::max(memory, arithmetic);
}

}  // namespace dsconv
