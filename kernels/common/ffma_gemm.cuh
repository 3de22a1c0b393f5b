// A block-level fp32 FFMA GEMM engine: 256 threads accumulate a BM x BN tile of
// C += A * B over BK-deep chunks staged in shared memory, each thread owning a TM x TN
// register block. The pointwise convolution and its gradients are all such GEMMs with the
// pixels of an image as one dimension:
//   forward      y_n[co][p]  = sum_ci W[co][ci] t_n[ci][p]      (B rows contiguous in p)
//   backward     dt_n[ci][p] = sum_co W[co][ci] dy_n[co][p]     (B rows contiguous in p)
//   weight grad  dW[co][ci]  = sum_n,p dy_n[co][p] t_n[ci][p]   (both rows contiguous in k)
//
// Shared tiles are k-major: As[k][m], Bs[k][n], so one k step is an outer product of a
// column of As and a row of Bs, read as float4. A thread's TM rows are TM/4 groups of 4
// spread BM/(TM/4) apart (likewise its columns), which keeps both reads conflict-free and
// the epilogue's float4 stores coalesced. Tiles loaded from k-contiguous rows are stored
// transposed with an XOR swizzle on float4 columns, so those stores are conflict-free too.
// Tiles arrive by cp.async, double-buffered.
#pragma once

#include <cstdint>

#include "kernels/common/async_copy.cuh"
#include "kernels/common/tile_walk.cuh"

namespace dsconv::gemm {

constexpr int kThreads = 256;

// Column swizzle of a tile stored transposed: float4 group (col / 4) is XORed with bits 2-4
// of k, which are exactly what distinguishes the lanes of one store instruction.
__device__ __forceinline__ int swizzle(int k, int col) { return col ^ (((k >> 2) & 7) << 2); }

// A BM x BN tile in BK-deep chunks. The 8 (or 4) warps form a WM x WN grid, each owning a
// (BM/WM) x (BN/WN) warp tile; within it the lanes form an LM x LN grid (LM along m varying
// fastest), each owning TM x TN outputs as TM/4 x TN/4 groups of 4 x 4 spread LM*4 rows and
// LN*4 columns apart. A quarter-warp then reads 8 different float4 of As (conflict-free) and
// one of Bs (a broadcast), and the warp's shared-memory traffic per k is small next to its
// TM*TN fused multiply-adds.
//
// kLanesAlongN puts LN varying fastest instead. Where LM = 4 and LN = 8 (16 x 8 or 8 x 8 blocks
// in 64-column warp tiles), a quarter-warp is then 8 consecutive column groups of one row group
// rather than 4 row groups of 2: its float4 reads are 128 contiguous bytes of Bs and one
// broadcast of As (against 32 and 64 bytes), and each float4 store of a row of its register
// block, to a shared tile or to device memory, is one whole 128-byte line. H100, same process,
// against LM first: `fused` forward 1-6% faster (two calls), `fused` backward (whose dt goes
// out through a shared tile) 2-3%, `tiled` forward 2-6% (docs/performance-notes.md).
template <int BM_, int BN_, int BK_, int TM_, int TN_, int WM_, int WN_, bool kLanesAlongN = false>
struct Tile {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_, WM = WM_, WN = WN_;
  static constexpr int kWarpM = BM / WM, kWarpN = BN / WN;  // warp tile
  static constexpr int LM = kWarpM / TM, LN = kWarpN / TN;  // lanes along m and n
  static constexpr int kGroupsM = TM / 4, kGroupsN = TN / 4;
  static constexpr int kWarps = WM * WN;  // 8, or 4 for a group of half a block
  static_assert(kWarps == 8 || kWarps == 4, "8 or 4 warps");
  static_assert(LM * LN == 32, "the lanes of a warp must cover its warp tile exactly");
  static_assert(TM % 4 == 0 && TN % 4 == 0, "register blocks are whole float4 groups");

  __device__ static int warp_m(int tid) { return (tid / 32) % WM; }
  __device__ static int warp_n(int tid) { return (tid / 32) / WM; }
  __device__ static int lane_m(int tid) { return kLanesAlongN ? (tid % 32) / LN : (tid % 32) % LM; }
  __device__ static int lane_n(int tid) { return kLanesAlongN ? (tid % 32) % LN : (tid % 32) / LM; }
  // First row (column) of this thread's group g, within the tile.
  __device__ static int row_group(int tid, int g) { return warp_m(tid) * kWarpM + g * LM * 4 + lane_m(tid) * 4; }
  __device__ static int col_group(int tid, int g) { return warp_n(tid) * kWarpN + g * LN * 4 + lane_n(tid) * 4; }
  // The rows and columns (within the tile) of this thread's register block.
  __device__ static int row(int tid, int i) { return row_group(tid, i / 4) + i % 4; }
  __device__ static int col(int tid, int j) { return col_group(tid, j / 4) + j % 4; }
};

// acc += As[0..BK) (x) Bs[0..BK); As is [BK][BM], Bs is [BK][BN]. kSwizzleA / kSwizzleB say
// whether that tile was stored transposed with swizzle().
// kK, the chunk depth, is a compile-time constant: with the loop unrolled every shared-memory
// address is a register plus an immediate, and each swizzle a constant XOR, which keeps
// the instructions other than FFMA few.
// k steps unrolled per loop trip: 8 on sm_90 (fewer loop branches and address updates),
// 2 on sm_80, where ptxas spills at 8 under the 128-register cap of two blocks a
// multiprocessor.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
constexpr int kChunkUnroll = 8;
#else
constexpr int kChunkUnroll = 2;
#endif

// This thread's TM values of column k of As, as float4.
template <class T, bool kSwizzleA>
__device__ __forceinline__ void load_a_step(const float* __restrict__ As, int k, const int (&a_col)[T::kGroupsM],
                                            float (&a)[T::TM]) {
#pragma unroll
  for (int g = 0; g < T::kGroupsM; ++g)
    *reinterpret_cast<float4*>(&a[4 * g]) =
        *reinterpret_cast<const float4*>(&As[k * T::BM + (kSwizzleA ? swizzle(k, a_col[g]) : a_col[g])]);
}
// One k step of the outer product: this thread's TM values of column k of As and TN values of
// row k of Bs, as float4. kPitchB: floats from one row of Bs to the next (BN, or more where
// the tile's rows are also read along k, as `fused`'s backward reads dy without TMA).
template <class T, bool kSwizzleA, bool kSwizzleB, int kPitchB = T::BN>
__device__ __forceinline__ void load_step(const float* __restrict__ As, const float* __restrict__ Bs, int k,
                                          const int (&a_col)[T::kGroupsM], const int (&b_col)[T::kGroupsN],
                                          float (&a)[T::TM], float (&b)[T::TN]) {
  load_a_step<T, kSwizzleA>(As, k, a_col, a);
#pragma unroll
  for (int g = 0; g < T::kGroupsN; ++g)
    *reinterpret_cast<float4*>(&b[4 * g]) =
        *reinterpret_cast<const float4*>(&Bs[k * kPitchB + (kSwizzleB ? swizzle(k, b_col[g]) : b_col[g])]);
}

template <class T>
__device__ __forceinline__ void operand_columns(int tid, int (&a_col)[T::kGroupsM], int (&b_col)[T::kGroupsN]) {
#pragma unroll
  for (int g = 0; g < T::kGroupsM; ++g) a_col[g] = T::row_group(tid, g);
#pragma unroll
  for (int g = 0; g < T::kGroupsN; ++g) b_col[g] = T::col_group(tid, g);
}

// Where column j of a B row sits in a register block loaded from a tile whose float4 groups
// are stored rotated by one (kRotatedB: group element e holds column (e + 1) % 4 of the group).
// Loaded as float4, b[4g + e] lands in a register of e's parity, and ptxas keeps acc[i][j] in
// aligned quads for the epilogue's float4 stores, that is in a register of j's parity: with
// a[i] from the reuse cache, each FFMA then read its other two sources from one register bank
// (nvdisasm of the wide forward's GEMM loop: 730 of 1,024 FFMA, 71 of them with all three
// sources in one bank). Rotated, b[j] and acc[i][j] are of opposite parity.
__host__ __device__ constexpr int b_slot(bool rotated, int j) { return rotated ? (j & ~3) | ((j + 3) & 3) : j; }

// acc += the outer products of k steps [kBegin, kEnd), kUnroll of them a loop trip.
template <class T, bool kSwizzleA, bool kSwizzleB, int kBegin, int kEnd, int kUnroll, int kPitchB = T::BN,
          bool kRotatedB = false>
__device__ __forceinline__ void multiply_steps(const float* __restrict__ As, const float* __restrict__ Bs,
                                               const int (&a_col)[T::kGroupsM], const int (&b_col)[T::kGroupsN],
                                               float (&acc)[T::TM][T::TN]) {
#pragma unroll kUnroll
  for (int k = kBegin; k < kEnd; ++k) {
    float a[T::TM], b[T::TN];
    load_step<T, kSwizzleA, kSwizzleB, kPitchB>(As, Bs, k, a_col, b_col, a, b);
#pragma unroll
    for (int i = 0; i < T::TM; ++i)
#pragma unroll
      for (int j = 0; j < T::TN; ++j) acc[i][j] = fmaf(a[i], b[b_slot(kRotatedB, j)], acc[i][j]);
  }
}

template <class T, bool kSwizzleA, bool kSwizzleB, int kK = T::BK, int kUnroll = kChunkUnroll, int kPitchB = T::BN>
__device__ __forceinline__ void multiply_chunk(const float* __restrict__ As, const float* __restrict__ Bs,
                                               float (&acc)[T::TM][T::TN], int tid) {
  int a_col[T::kGroupsM], b_col[T::kGroupsN];
  operand_columns<T>(tid, a_col, b_col);
  multiply_steps<T, kSwizzleA, kSwizzleB, 0, kK, kUnroll, kPitchB>(As, Bs, a_col, b_col, acc);
}

// multiply_chunk with B's row k read by load_b(k, b_col, b) (b: this thread's TN values of it,
// b_col[g] the first column of its group g), for a B tile not laid out as rows of floats:
// `fused`'s backward reads dy from a swizzled TMA tile (fused/dy_tile.cuh).
template <class T, bool kSwizzleA, int kK, int kUnroll, class LoadB>
__device__ __forceinline__ void multiply_chunk_loading_b(const float* __restrict__ As, LoadB&& load_b,
                                                         float (&acc)[T::TM][T::TN], int tid) {
  int a_col[T::kGroupsM], b_col[T::kGroupsN];
  operand_columns<T>(tid, a_col, b_col);
#pragma unroll kUnroll
  for (int k = 0; k < kK; ++k) {
    float a[T::TM], b[T::TN];
    load_a_step<T, kSwizzleA>(As, k, a_col, a);
    load_b(k, b_col, b);
#pragma unroll
    for (int i = 0; i < T::TM; ++i)
#pragma unroll
      for (int j = 0; j < T::TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
  }
}

// acc = start (x) 1 + As (x) Bs: the first chunk of a tile, whose first k step adds onto
// start[i] (row i's bias) instead of reading acc. That step replaces both the zeroing of the
// accumulators and the bias additions of the epilogue, 2 * TM * TN instructions a tile.
template <class T, bool kSwizzleA, bool kSwizzleB, int kK = T::BK, int kUnroll = kChunkUnroll, bool kRotatedB = false>
__device__ __forceinline__ void multiply_first_chunk(const float (&start)[T::TM], const float* __restrict__ As,
                                                     const float* __restrict__ Bs, float (&acc)[T::TM][T::TN],
                                                     int tid) {
  int a_col[T::kGroupsM], b_col[T::kGroupsN];
  operand_columns<T>(tid, a_col, b_col);
  float a[T::TM], b[T::TN];
  load_step<T, kSwizzleA, kSwizzleB>(As, Bs, 0, a_col, b_col, a, b);
#pragma unroll
  for (int i = 0; i < T::TM; ++i)
#pragma unroll
    for (int j = 0; j < T::TN; ++j) acc[i][j] = fmaf(a[i], b[b_slot(kRotatedB, j)], start[i]);
  multiply_steps<T, kSwizzleA, kSwizzleB, 1, kK, kUnroll, T::BN, kRotatedB>(As, Bs, a_col, b_col, acc);
}

// All of A, chunks * BK columns of it, as As[k][m] without the swizzle (k past K and m past M
// are zeros), by cp.async in the caller's next copy group: it is copied once per block, so
// the bank conflicts of this transposing copy cost nothing, and the multiply reads it back
// without an XOR per k.
template <class T, bool kAKContiguous>
__device__ __forceinline__ void copy_resident_a(float* __restrict__ As, const float* __restrict__ a, int64_t a_pitch,
                                                int64_t M, int64_t K, int chunks, int tid, int threads) {
  for (int idx = tid; idx < chunks * T::BK * T::BM; idx += threads) {
    const int k = idx / T::BM, m = idx % T::BM;
    const bool valid = k < K && m < M;
    const float* src = kAKContiguous ? a + int64_t(m) * a_pitch + k : a + int64_t(k) * a_pitch + m;
    gemm::copy_async_4(&As[idx], valid ? src : a, valid);
  }
}

// Copies a ROWS x BK slice of a row-major matrix whose rows are contiguous along k
// (G[r][k], row pitch `pitch`) into a transposed, swizzled tile S[k][r] of width ROWS.
// Rows at or past `rows` and k at or past `k_end` become zeros.
template <int ROWS, int BK>
struct KContiguousTile {
  static_assert(BK == 32, "the swizzle assumes 8 float4 per row slice");
  static constexpr int kPasses = ROWS * BK / 4 / kThreads;  // float4 per thread
  static_assert(kPasses >= 1 && ROWS * BK / 4 % kThreads == 0, "whole passes only");

  __device__ static void copy(float* __restrict__ S, const float* __restrict__ g, int64_t pitch, int rows, int64_t k0,
                              int64_t k_end, int tid) {
#pragma unroll
    for (int s = 0; s < kPasses; ++s) {
      const int idx = s * kThreads + tid;
      const int r = idx / (BK / 4), q = idx % (BK / 4);
      const int64_t k = k0 + 4 * q;
      const float* src = g + int64_t(r < rows ? r : 0) * pitch + k;
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool valid = r < rows && k + e < k_end;
        copy_async_4(&S[(4 * q + e) * ROWS + swizzle(4 * q + e, r)], valid ? src + e : g, valid);
      }
    }
  }
};

// Copies a BK x COLS slice of a row-major matrix whose rows are contiguous along the tile's
// columns (G[k][c], row pitch `pitch`) into S[k][c] unchanged, 16 bytes at a time when
// `vector` (pitch % 4 == 0 and an aligned base). k at or past `k_end` and columns at or past
// `cols` become zeros.
template <int COLS, int BK>
struct ColumnContiguousTile {
  static constexpr int kQuads = COLS / 4;                 // float4 per tile row
  static constexpr int kRowsPerPass = kThreads / kQuads;  // a thread's column is the same every pass
  static_assert(kThreads % kQuads == 0 && BK % kRowsPerPass == 0, "whole passes only");

  __device__ static void copy(float* __restrict__ S, const float* __restrict__ g, int64_t pitch, int64_t k0,
                              int64_t k_end, int cols, int tid, bool vector) {
    const int kk0 = tid / kQuads, c = 4 * (tid % kQuads);
    // The source steps down kRowsPerPass rows a pass rather than being recomputed from k: a
    // per-pass 64-bit offset would be hoisted out of the caller's loop, 2 registers a pass.
    const float* src = g + (k0 + kk0) * pitch + c;
    const int64_t step = kRowsPerPass * pitch;
#pragma unroll
    for (int s = 0; s < BK / kRowsPerPass; ++s, src += step) {
      const int kk = kk0 + s * kRowsPerPass;
      const bool row_valid = k0 + kk < k_end;
      float* dst = &S[kk * COLS + c];
      if (vector && (c + 3 < cols || c >= cols)) {
        copy_async_16(dst, row_valid && c < cols ? src : g, row_valid && c < cols);
      } else {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const bool valid = row_valid && c + e < cols;
          copy_async_4(dst + e, valid ? src + e : g, valid);
        }
      }
    }
  }
};

}  // namespace dsconv::gemm
