// The card's own ceilings, measured in the same process as the timings they judge:
// copy bandwidth (bytes read plus written), the fp32 FFMA peak, and the GEMM rates cuBLAS
// reaches in strict fp32 (SGEMM) and TF32. A row's floor is the larger of its memory time
// and its arithmetic time at these rates; roof% is floor / measured time.
#pragma once

#include <cuda_runtime.h>

#include "harness/problem.h"
#include "kernels/kernel.h"

namespace dsconv {

struct Ceilings {
  double copy_gbps = 0;     // device-to-device copy, read + written bytes per second / 1e9
  double ffma_tflops = 0;   // independent FFMA chains on every SM: the fp32 arithmetic peak
  double sgemm_tflops = 0;  // cuBLAS 8192^3 SGEMM, FMA math only: what a real fp32 GEMM reaches
  double tf32_tflops = 0;   // cuBLAS 8192^3 GEMM with TF32 tensor cores
};

// About a second of GPU time. Throws DeviceError.
Ceilings measure_ceilings(cudaStream_t stream);

// The arithmetic rate an implementation of this precision is held to. fp32 uses the FFMA
// peak, not the SGEMM rate, so that roof% never passes 100.
double arithmetic_tflops(const Ceilings& ceilings, Precision precision);
// max(min_bytes / copy bandwidth, flops / rate), in milliseconds.
double floor_ms(const Problem& problem, Pass pass, Precision precision, const Ceilings& ceilings);

}  // namespace dsconv
