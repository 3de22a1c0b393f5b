// The window arithmetic of the depthwise stages: host-callable, so that the tile planning
// built on it is tested on the CPU (tests/cpu/test_fused_geometry.cpp).
#pragma once

#include <cuda_runtime.h>  // __host__, __device__

#include <cstdint>

namespace dsconv::depthwise {

__host__ __device__ inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Rows (or columns) of the source window that `count` consecutive outputs read, for a
// kernel of `k` taps with stride `s` and dilation `d`.
__host__ __device__ constexpr int window(int count, int k, int s, int d) { return (count - 1) * s + (k - 1) * d + 1; }

}  // namespace dsconv::depthwise
