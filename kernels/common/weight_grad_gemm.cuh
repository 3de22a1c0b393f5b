// The pointwise weight gradient as a GEMM reduced over the pixels:
//   partial[(m * N + n) * splits + split] = sum over the split's share of (image, pixel) of
//                                            a_img[m][p] * b_img[n][p]
// with a = dy (M = C_out rows) and b = t (N = C_in rows). The reduction is millions deep and
// the output only C_out x C_in, so blocks split the pixels and a second kernel adds their
// partial sums in a fixed order (reduce.cuh).
//
// Both operands are rows contiguous along the reduction. The engine in ffma_gemm.cuh wants
// k-major tiles, which for these rows means a transposing copy of 4-byte cp.async - 24 a
// thread per 32-deep chunk, and 28% of the FFMA peak at the KernelBench shape. Here the
// tiles are copied as they are, 16 bytes at a time, into rows padded to BK + 4 floats, and
// each thread reads 4 consecutive k of a row as one float4 instead: per 4 k, 8 float4 of
// each operand feed 8 x 8 x 4 fused multiply-adds.
//
// The block, its register tile and its multiply are in weight_grad_tile.cuh; each chunk of
// 64 k goes through it, the halves taking alternate 4-deep slices.
#pragma once

#include <cstdint>

#include "kernels/common/async_copy.cuh"
#include "kernels/common/weight_grad_tile.cuh"

namespace dsconv::gemm {

// Copies rows [0, rows) x k [k0, k0 + BK) of G (row pitch `pitch`, rows contiguous along k)
// into S[r][k - k0] (row pitch kPitch) for ROWS rows; rows at or past `rows` and k at or
// past `k_end` become zeros. `vector`: pitch % 4 == 0 and a 16-byte-aligned base, so every
// float4 is either wholly valid or wholly past the end.
template <int ROWS>
__device__ __forceinline__ void copy_k_rows(float* __restrict__ S, const float* __restrict__ g, int64_t pitch, int rows,
                                            int64_t k0, int64_t k_end, int tid, bool vector) {
  using T = WeightGradTile;
  constexpr int kQuads = T::BK / 4, kRowsPerPass = T::kThreads / kQuads;
  static_assert(ROWS % kRowsPerPass == 0, "whole passes only");
  // The source pointer steps down kRowsPerPass rows a pass instead of being recomputed from
  // the row index: a per-pass 64-bit offset would be hoisted out of the chunk loop and
  // hold 2 registers a pass for the whole kernel.
  const int r0 = tid / kQuads, q = tid % kQuads;
  const int64_t k = k0 + 4 * q;
  const float* src = g + int64_t(r0) * pitch + k;
  const int64_t step = int64_t(kRowsPerPass) * pitch;
#pragma unroll
  for (int s = 0; s < ROWS / kRowsPerPass; ++s, src += step) {
    const int r = r0 + s * kRowsPerPass;
    float* dst = &S[r * T::kPitch + 4 * q];
    if (vector) {
      const bool valid = r < rows && k < k_end;
      copy_async_16(dst, valid ? src : g, valid);
    } else {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool valid = r < rows && k + e < k_end;
        copy_async_4(dst + e, valid ? src + e : g, valid);
      }
    }
  }
}

__global__ __launch_bounds__(WeightGradTile::kThreads,
                             2) void weight_grad_kernel(int64_t M, int64_t N, int64_t P, int64_t images,
                                                        const float* __restrict__ a, const float* __restrict__ b,
                                                        float* __restrict__ partial, int64_t splits, bool vector) {
  using T = WeightGradTile;
  extern __shared__ __align__(16) float smem[];  // [2 stages][kRows][kPitch]
  const int tid = threadIdx.x;
  const int half = tid / (T::kThreads / 2), lane = tid % (T::kThreads / 2);
  const int tm = lane % T::kRowLanes, tn = lane / T::kRowLanes;
  const int64_t n_tiles = (N + T::BN - 1) / T::BN;
  const int64_t tile = blockIdx.x / splits, split = blockIdx.x % splits;
  const int64_t m0 = (tile / n_tiles) * T::BM, n0 = (tile % n_tiles) * T::BN;
  const int rows_a = int(M - m0 < T::BM ? M - m0 : T::BM), rows_b = int(N - n0 < T::BN ? N - n0 : T::BN);
  // Chunk indices fit in 32 bits (the caller checks), which keeps the per-chunk division an
  // inline 32-bit one rather than a 64-bit subroutine call and its registers.
  const int per_image = int((P + T::BK - 1) / T::BK);
  const int64_t total = images * per_image;
  const int first = int(total * split / splits), last = int(total * (split + 1) / splits);

  auto stage = [&](int buf) { return smem + buf * T::kRows * T::kPitch; };
  auto copy = [&](int chunk, int buf) {
    const int64_t img = chunk / per_image, k0 = int64_t(chunk % per_image) * T::BK;
    copy_k_rows<T::BM>(stage(buf), a + (img * M + m0) * P, P, rows_a, k0, P, tid, vector);
    copy_k_rows<T::BN>(stage(buf) + T::BM * T::kPitch, b + (img * N + n0) * P, P, rows_b, k0, P, tid, vector);
    copy_async_commit();
  };

  float acc[T::TM][T::TN] = {};
  if (first < last) copy(first, 0);
  for (int chunk = first; chunk < last; ++chunk) {
    const int buf = (chunk - first) & 1;
    if (chunk + 1 < last) {
      copy(chunk + 1, buf ^ 1);
      copy_async_wait<1>();
    } else {
      copy_async_wait<0>();
    }
    __syncthreads();
    multiply_k_rows<T::kPitch, T::BK>(stage(buf) + tm * T::kPitch, stage(buf) + (T::BM + tn) * T::kPitch, half, acc);
    __syncthreads();
  }

  // The halves' sums meet in shared memory: free now, the last barrier of the loop ended
  // every read of the stages.
  reduce_halves(acc, smem, half, tm, tn, [&](int r, int c, float v) {
    const int64_t m = m0 + r, n = n0 + c;
    if (m < M && n < N) partial[(m * N + n) * splits + split] = v;
  });
}

}  // namespace dsconv::gemm
