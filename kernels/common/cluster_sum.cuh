// A GEMM tile whose k range is split across the blocks of one thread-block cluster (sm_90),
// summed in the blocks' shared memory: each block stages its accumulators in its own shared
// memory, and each then adds a share of the tile's elements over all the blocks, in block-rank
// order - deterministic, with no float atomics, no scratch copies of the output in device
// memory and no second kernel.
//
// Against the scratch copies and a summing kernel (sum_planes, common/reduce.cuh): the split
// tiles' stores were the register-block layout's, 4 or 16 scattered bytes a lane (a 7 x 7 or
// 14 x 14 plane's rows are not float4-aligned), one copy of y a split; here each element is
// written once, lanes along the pixels of one output row.
#pragma once

#include <cooperative_groups.h>

namespace dsconv::cluster_sum {

// Where element (r, c) of a T::BM x T::BN tile sits in its staged copy: row-major, with each
// row's float4 groups permuted by (r / 4) % 8. A register block's float4 store puts the lanes
// that share its column group on rows 4 apart (8 of them in each of fused_forward_kernel's
// tiles): without the permutation all 8 would hit one group of 4 banks, with it each its own.
// Any permutation within a row is correct; this one only spares the bank conflicts.
template <class T>
__device__ __forceinline__ int slot(int r, int c) {
  static_assert(T::BN % 32 == 0, "a row is whole groups of 8 float4");
  return r * T::BN + ((((c >> 2) ^ (r >> 2)) & 7) | ((c >> 2) & ~7)) * 4 + (c & 3);
}

// Writes this thread's register block into `tile` (T::BM x T::BN floats of shared memory).
template <class T>
__device__ __forceinline__ void stage(const float (&acc)[T::TM][T::TN], float* tile, int tid) {
#pragma unroll
  for (int i = 0; i < T::TM; ++i)
#pragma unroll
    for (int gq = 0; gq < T::kGroupsN; ++gq) {
      const int r = T::row(tid, i), c = T::col_group(tid, gq);
      *reinterpret_cast<float4*>(tile + slot<T>(r, c)) =
          make_float4(acc[i][4 * gq], acc[i][4 * gq + 1], acc[i][4 * gq + 2], acc[i][4 * gq + 3]);
    }
}

// After every block of the cluster has staged its tile: for the elements of rows [0, rows)
// this block takes (every blocks-th run of `threads` elements, from its rank's), the sum over
// the cluster's tiles in rank order, plus addend(r), goes to *where(r, c), unless where gives
// nullptr (an element outside the output). Returns when no block reads this block's tile any
// more.
template <class T, class Where, class Addend>
__device__ __forceinline__ void sum(const float* tile, int rows, int threads, int tid, Where&& where, Addend&& addend) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  namespace cg = cooperative_groups;
  cg::cluster_group cluster = cg::this_cluster();
  cluster.sync();  // every block's tile is staged
  const int blocks = int(cluster.num_blocks()), rank = int(cluster.block_rank());
  for (int e = rank * threads + tid; e < rows * T::BN; e += blocks * threads) {
    const int r = e / T::BN, c = e % T::BN;
    float* const out = where(r, c);
    if (out == nullptr) continue;
    const int at = slot<T>(r, c);
    float v = 0.0f;
    for (int b = 0; b < blocks; ++b) v += cluster.map_shared_rank(tile, b)[at];
    *out = v + addend(r);
  }
  cluster.sync();  // no block leaves while another reads its tile
#else
  __trap();  // the host launches clusters on sm_90 code only
#endif
}

// The blocks of this block's cluster (1 without a cluster, and in code for older GPUs). Read
// through volatile asm where it is used, as common/fresh_index.cuh's indices, so that it
// holds no register through a GEMM loop.
__device__ __forceinline__ int cluster_blocks() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  int v;
  asm volatile("mov.u32 %0, %%cluster_nctarank;" : "=r"(v));
  return v;
#else
  return 1;
#endif
}

}  // namespace dsconv::cluster_sum
