// Deterministic reductions: per-block partial sums are written to scratch memory and added
// in a fixed order by a second kernel, never with float atomics, so results are bitwise
// identical from run to run.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/cuda_check.h"

namespace dsconv {

// Sum over the warp of one value per lane, in a fixed order; lane 0 gets the total.
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

// Sum over the block of one value per thread, in a fixed order (warp shuffles, then the
// warps in index order). Every thread gets the total. `scratch` holds 32 floats.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  v = warp_sum(v);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = (blockDim.x + 31) / 32;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < warps; ++w) total += scratch[w];
  return total;
}

// out[o] = sum over s < count of partials[o * count + s], one block per output o: for long
// sums (thousands of partials).
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

// The same sums one thread per output, in index order: for short sums over many outputs
// (a few partials per output), where a block per output would leave most of it idle.
static __global__ void reduce_partials_by_thread(const float* __restrict__ partials, int64_t count,
                                                 float* __restrict__ out, int64_t outputs) {
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += int64_t(gridDim.x) * blockDim.x) {
    float v = 0.0f;
    for (int64_t s = 0; s < count; ++s) v += partials[o * count + s];
    out[o] = v;
  }
}

// Launches whichever of the two suits `count`. Either order is fixed for a given shape, so
// the result is bitwise reproducible.
inline void launch_reduce_partials(const float* partials, int64_t count, float* out, int64_t outputs,
                                   cudaStream_t stream) {
  constexpr int64_t kShortSum = 64;
  if (count <= kShortSum) {
    const int64_t blocks = (outputs + 255) / 256;
    reduce_partials_by_thread<<<unsigned(blocks < 65535 ? blocks : 65535), 256, 0, stream>>>(partials, count, out,
                                                                                             outputs);
  } else {
    reduce_partials<<<unsigned(outputs < 65535 ? outputs : 65535), 256, 0, stream>>>(partials, count, out, outputs);
  }
  DSCONV_LAUNCH_CHECK();
}

// Several sets of per-block partial sums laid out [output][block] alike (`count` partials an
// output), summed in one launch: a warp an output, its lanes striding over the partials, then
// warp_sum, in a fixed order. For sums of tens to hundreds of partials: the fused backward's
// four (dW_pw, dW_dw, db_pw, db_dw), one a walker block, took four launches of reduce_partials,
// a block an output, one after the other at the end of the pass. One launch took 3.5 to 7.7 us
// off the KernelBench backward (H200, 4.020 against 4.025 ms, builds alternated); with
// thousands of partials and few outputs a warp an output leaves the card idle: reduce_partials.
struct PartialSumSet {
  const float* partials = nullptr;
  float* out = nullptr;
  int64_t outputs = 0;
};
constexpr int kMaxPartialSumSets = 4;
struct PartialSumSets {
  PartialSumSet set[kMaxPartialSumSets];
  int64_t outputs = 0;  // of all the sets: output g of set i is output g - (the sets before's) of set i
};

static __global__ void reduce_partial_sets(const __grid_constant__ PartialSumSets s, int64_t count) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t(gridDim.x) * blockDim.x / 32;
  for (int64_t g = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; g < s.outputs; g += warps) {
    int i = 0;
    int64_t o = g;
    while (o >= s.set[i].outputs) o -= s.set[i++].outputs;
    const float* partials = s.set[i].partials + o * count;
    float v = 0.0f;
    for (int64_t k = lane; k < count; k += 32) v += partials[k];
    v = warp_sum(v);
    if (lane == 0) s.set[i].out[o] = v;
  }
}

// Sets with no outputs are left out (their pointers may be null).
template <size_t N>
inline void launch_reduce_partial_sets(const PartialSumSet (&sets)[N], int64_t count, cudaStream_t stream) {
  static_assert(N <= kMaxPartialSumSets, "at most kMaxPartialSumSets sets a launch");
  PartialSumSets s;
  int used = 0;
  for (const PartialSumSet& set : sets)
    if (set.outputs > 0) s.set[used++] = set, s.outputs += set.outputs;
  if (s.outputs == 0) return;
  constexpr int kThreads = 256, kWarps = kThreads / 32;
  const int64_t blocks = (s.outputs + kWarps - 1) / kWarps;
  reduce_partial_sets<<<unsigned(blocks < 65535 ? blocks : 65535), kThreads, 0, stream>>>(s, count);
  DSCONV_LAUNCH_CHECK();
}

// out[o] = planes[o] + planes[outputs + o] + ... over `count` planes, added in plane order:
// the partial results of a computation split `count` ways, each laid out as the output.
static __global__ void sum_planes(const float* __restrict__ planes, int count, float* __restrict__ out,
                                  int64_t outputs) {
  for (int64_t o = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += int64_t(gridDim.x) * blockDim.x) {
    float v = planes[o];
    for (int p = 1; p < count; ++p) v += planes[p * outputs + o];
    out[o] = v;
  }
}

inline void launch_sum_planes(const float* planes, int count, float* out, int64_t outputs, cudaStream_t stream) {
  const int64_t blocks = (outputs + 255) / 256;
  sum_planes<<<unsigned(blocks < 65535 ? blocks : 65535), 256, 0, stream>>>(planes, count, out, outputs);
  DSCONV_LAUNCH_CHECK();
}

}  // namespace dsconv
