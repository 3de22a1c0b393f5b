// Deterministic reductions: per-block partial sums are written to scratch memory and added
// in a fixed order by a second kernel, never with float atomics, so results are bitwise
// identical from run to run.
#pragma once

#include <cstdint>

namespace dsconv {

// Sum over the block of one value per thread, in a fixed order (warp shuffles, then the
// warps in index order). Every thread gets the total. `scratch` holds 32 floats.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = (blockDim.x + 31) / 32;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

// out[o] = sum over s < count of partials[o * count + s], one block per output o.
static __global__ void reduce_partials(const float* __restrict__ partials, int64_t count, float* __restrict__ out,
                                int64_t outputs) {
  __shared__ float scratch[32];
  for (int64_t o = blockIdx.x; o < outputs; o += gridDim.x) {
    float v = 0.0f;
    for (int64_t s = threadIdx.x; s < count; s += blockDim.x) v += partials[o * count + s];
    const float total = block_sum(v, scratch);
    if (threadIdx.x == 0) out[o] = total;
  }
}

}  // namespace dsconv
