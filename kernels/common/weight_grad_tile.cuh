// The register tile of the weight-gradient GEMM (weight_grad_gemm.cuh) and its two steps, for
// any kernel that multiplies two row-major tiles along their rows: `tiled`'s weight gradient,
// and `fused`'s backward, whose dW_pw += dy t^T reads the dy and t tiles along the pixels.
//
// A block has 256 threads on a 128 x 64 tile: two halves of 128 threads, each thread an
// 8 x 8 register block (rows tm, tm + 16, ...; columns tn, tn + 8, ...), the halves taking
// alternate 4-deep slices of k. Each thread reads 4 consecutive k of a row as one float4:
// per 4 k, 8 float4 of each operand feed 8 x 8 x 4 fused multiply-adds. With rows 1 float4
// past a multiple of 32 floats apart, the 8 lanes of a quarter-warp read 8 consecutive rows
// of A on 8 different float4 banks and one row of B (a broadcast).
#pragma once

#include <cstddef>

namespace dsconv::gemm {

// B float4 held at once per 4 k: all 8 of a thread's columns. Groups of 4 (fewer live
// registers, A read twice) measured 2.79 ms against 2.65 at the KernelBench shape (H200).
constexpr int kBGroup = 8;

struct WeightGradTile {
  static constexpr int kThreads = 256;
  static constexpr int BM = 128, BN = 64, BK = 64;
  static constexpr int kPitch = BK + 4;  // floats per shared row
  static constexpr int TM = 8, TN = 8;
  static constexpr int kRowLanes = BM / TM;  // 16 threads along m, 8 along n, per half
  static constexpr int kColLanes = BN / TN;
  static_assert(kRowLanes * kColLanes * 2 == kThreads, "two halves of 128 threads cover the tile");
  static_assert(kPitch % 32 == 4, "a row must start 1 float4 past the previous one's bank");
  static constexpr int kRows = BM + BN;  // shared rows per stage: A's, then B's
  static constexpr size_t kSmemBytes = size_t(2) * kRows * kPitch * sizeof(float);
};

// A tile's rows as multiply_k_span_rows reads them, rows kPitch floats apart and contiguous
// along k: `first` is the thread's first row.
template <int kPitch>
struct PitchedRows {
  static_assert(kPitch % 32 == 4, "a row must start 1 float4 past the previous one's bank");
  static constexpr int kRowStride = kPitch;  // floats from a row to the next
  const float* first;
  __device__ const float* at(int k) const { return first + k; }
};

// acc[i][j] += sum over k of a row i's k times b row j's k, over the 4-deep slices k_begin,
// k_begin + k_step, ... below k_end (multiples of 4). `a` and `b` give the thread's first row
// of each operand at k (at(k): a pointer to its float4 of k..k+3); row i of A is
// i * kRowLanes * ARows::kRowStride floats past A's first row at the same k, row j of B
// likewise with kColLanes.
// kRotatedB: B's float4 groups are stored rotated by one (element e holds k + (e + 1) % 4), so
// that each FFMA's A and B sources, both from float4 loads, sit in registers of opposite
// parity (otherwise the same component of both: one register bank).
template <class ARows, class BRows, bool kRotatedB = false>
__device__ __forceinline__ void multiply_k_span_rows(ARows a, BRows b, int k_begin, int k_end, int k_step,
                                                     float (&acc)[WeightGradTile::TM][WeightGradTile::TN]) {
  using T = WeightGradTile;
#pragma unroll 1
  for (int k = k_begin; k < k_end; k += k_step) {
    const float* A = a.at(k);
    const float* B = b.at(k);
#pragma unroll
    for (int jg = 0; jg < T::TN; jg += kBGroup) {
      float4 bv[kBGroup];
#pragma unroll
      for (int j = 0; j < kBGroup; ++j)
        bv[j] = *reinterpret_cast<const float4*>(&B[(jg + j) * T::kColLanes * BRows::kRowStride]);
#pragma unroll
      for (int i = 0; i < T::TM; ++i) {
        const float4 av = *reinterpret_cast<const float4*>(&A[i * T::kRowLanes * ARows::kRowStride]);
#pragma unroll
        for (int j = 0; j < kBGroup; ++j) {
          float& c = acc[i][jg + j];
          c = fmaf(av.x, kRotatedB ? bv[j].w : bv[j].x, c);
          c = fmaf(av.y, kRotatedB ? bv[j].x : bv[j].y, c);
          c = fmaf(av.z, kRotatedB ? bv[j].y : bv[j].z, c);
          c = fmaf(av.w, kRotatedB ? bv[j].z : bv[j].w, c);
        }
      }
    }
  }
}

// multiply_k_span_rows over two row-major tiles of rows kPitch floats apart: A and B point at
// the thread's first row of each operand (rows tm and tn).
template <int kPitch, bool kRotatedB = false>
__device__ __forceinline__ void multiply_k_span(const float* A, const float* B, int k_begin, int k_end, int k_step,
                                                float (&acc)[WeightGradTile::TM][WeightGradTile::TN]) {
  multiply_k_span_rows<PitchedRows<kPitch>, PitchedRows<kPitch>, kRotatedB>({A}, {B}, k_begin, k_end, k_step, acc);
}

// multiply_k_span over share `share` of the 4-deep slices of [0, kDepth) dealt out to kShares
// (with 2, half 0 takes 0-3, 8-11, ...; half 1 the others; with 1, one half takes them all).
template <int kPitch, int kDepth, int kShares = 2>
__device__ __forceinline__ void multiply_k_rows(const float* A, const float* B, int share,
                                                float (&acc)[WeightGradTile::TM][WeightGradTile::TN]) {
  multiply_k_span<kPitch>(A, B, 4 * share, kDepth, 4 * kShares, acc);
}

// The tile's sums: the second half hands its own to the first through `sums` ([BM][BN] floats
// of shared memory that no thread reads or writes meanwhile), and the first calls
// out(r, c, its sum + the second's) for each output (r, c) of the tile - a fixed order. All
// threads of the block must call it.
template <class Out>
__device__ __forceinline__ void reduce_halves(const float (&acc)[WeightGradTile::TM][WeightGradTile::TN], float* sums,
                                              int half, int tm, int tn, Out&& out) {
  using T = WeightGradTile;
  if (half == 1)
#pragma unroll
    for (int i = 0; i < T::TM; ++i)
#pragma unroll
      for (int j = 0; j < T::TN; ++j) sums[(tm + i * T::kRowLanes) * T::BN + tn + j * T::kColLanes] = acc[i][j];
  __syncthreads();
  if (half == 0)
#pragma unroll
    for (int i = 0; i < T::TM; ++i)
#pragma unroll
      for (int j = 0; j < T::TN; ++j) {
        const int r = tm + i * T::kRowLanes, c = tn + j * T::kColLanes;
        out(r, c, acc[i][j] + sums[r * T::BN + c]);
      }
}

}  // namespace dsconv::gemm
