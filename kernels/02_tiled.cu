// tiled: shared-memory tiles for both stages, forward and backward.
//
// Depthwise: a block takes a 32 x 64 output tile of one (image, channel) plane and stages
// the input window it reads - the tile widened by the kernel's halo, under any stride and
// dilation - in shared memory with coalesced loads, 16 bytes wide when the rows are
// 4-aligned, three windows deep so that two are in flight while one is computed. Each
// thread then makes 4 outputs of each of 2 rows from shared memory, with the weights in
// registers for the common kernel sizes (1, 3, 5, 7) and the tap offsets compile-time
// constants for unit stride and dilation. Every input element is read from device memory
// about once, where naive re-reads it for every tap, so the stage runs near copy bandwidth.
// On sm_90, at unit stride with "same" padding, the windows come by TMA instead and each thread
// makes a 2 x 4 block of outputs from float4 reads (common/depthwise_tma.cuh): a third of the
// instructions, for a stage that was issue-bound as much as memory-bound.
// Planes smaller than half a tile (7x7 to 28x28: the late layers of a CNN) would leave most
// of it padding; they take the direct kernels of common/depthwise_direct.cuh instead, whole
// planes per block and the taps read through L1.
//
// Pointwise: a register-blocked fp32 FFMA GEMM (common/ffma_gemm.cuh): 256 threads per
// 128 x 128 tile of (C_out x pixels) - 64 x 256 when C_out <= 64 - each thread an 8 x 8
// block, W resident in shared memory when it is one tile, the pixel operand double-buffered,
// persistent blocks walking the tiles. On sm_90 with W resident, the pixel tiles come by TMA
// into a three-deep ring per warp group instead (pointwise_gemm_tma_kernel); there, when
// K <= 64 (the forward GEMM at the KernelBench shape), a block is one group of 8 warps on a
// 128 x 256 tile, 16 x 8 outputs a thread in up to 255 registers. naive re-reads
// t from device memory for every output channel; here each t element is read once per 128
// output channels and reused 128 times from shared memory.
//
// Backward:
//  - t is recomputed, not stored by forward: the interface's backward starts from the
//    inputs alone, and recomputing t is one depthwise pass (about a tenth of the backward
//    time at the KernelBench shape), cheaper than any contract to keep 1 GB alive between
//    calls.
//  - dt = W_pw^T dy is the same GEMM with W read transposed.
//  - dW_pw = sum over images and pixels of dy t^T: a GEMM reduced over the pixels
//    (common/weight_grad_gemm.cuh), split across blocks; each block writes its partial
//    C_out x C_in sum, and a second kernel adds the partials in a fixed order. No global
//    atomics.
//  - dx is the transposed depthwise convolution of dt, tiled like the forward pass (the
//    window is staged from dt).
//  - dW_dw and db_dw: per-tile block reductions of x * dt and dt, written as partials and
//    added in a fixed order (small planes: one block per channel, reduced in place); db_pw
//    likewise from dy. On sm_90 at unit stride and same padding, dx and the dW_dw sums take
//    the TMA kernels of common/depthwise_tma.cuh, like the forward.
// Every reduction has a fixed order, so results are bitwise identical from run to run.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "kernels/common/conv_shape.cuh"
#include "kernels/common/depthwise_direct.cuh"
#include "kernels/common/depthwise_kernels.cuh"
#include "kernels/common/depthwise_tma.cuh"
#include "kernels/common/ffma_gemm.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/common/tma.cuh"
#include "kernels/common/weight_grad_gemm.cuh"
#include "kernels/cuda_check.h"
#include "kernels/kernel.h"
#include "kernels/tma_map.h"

namespace dsconv {
namespace {

// ---------------------------------------------------------------------------------------
// Channel sums for db_pw: partial[c * chunks_total + n * chunks + k] = sum of chunk k of
// plane (n, c).
constexpr int64_t kSumChunk = 16384;

__global__ __launch_bounds__(256) void channel_sum_kernel(const float* __restrict__ g, int64_t images, int64_t channels,
                                                          int64_t pixels, int64_t chunks, float* __restrict__ partial) {
  __shared__ float scratch[32];
  const int64_t chunk = blockIdx.x % chunks, plane = blockIdx.x / chunks;
  const int64_t n = plane / channels, c = plane % channels;
  const float* src = g + plane * pixels;
  const int64_t begin = chunk * kSumChunk, end = min64(pixels, begin + kSumChunk);
  float v = 0.f;
  for (int64_t p = begin + threadIdx.x; p < end; p += blockDim.x) v += src[p];
  const float total = block_sum(v, scratch);
  if (threadIdx.x == 0) partial[c * images * chunks + n * chunks + chunk] = total;
}

// ---------------------------------------------------------------------------------------
// Pointwise GEMMs.

using NNTile128 = gemm::Tile<128, 128, 32, 8, 8, 2, 4>;
using NNTile64 = gemm::Tile<64, 256, 32, 8, 8, 1, 8>;
// K <= 64 (C_in of the forward GEMM at the KernelBench shape): all of K in one 64-deep
// chunk, so each tile takes one wait, two barriers and one tile lookup instead of two.
using NNTile128Deep = gemm::Tile<128, 128, 64, 8, 8, 2, 4>;
// The same problem on the TMA kernel: one warp group a block, each thread a 16 x 8 block of a
// 128 x 256 tile. With the launch's register cap at 255 rather than 128 a thread can hold
// twice the accumulators, so each k step is 128 FFMA for 6 shared-memory loads (64 for 4 at
// 8 x 8), and a tile's fixed costs - its barrier waits, tile walk and epilogue - are spread
// over twice the FFMA.
using NNTileWide = gemm::Tile<128, 256, 64, 16, 8, 2, 4, true>;
using gemm::WeightGradTile;

// out_n[m][p] = sum_k A(m, k) B_n[k][p] + bias[m] for every image n. A is k-contiguous
// (A(m, k) = a[m * a_pitch + k]: W for y = W t) or m-contiguous (A(m, k) = a[k * a_pitch + m]:
// W read as W^T for dt = W^T dy). Persistent blocks take tiles blockIdx.x, +gridDim.x, ...,
// and the global reads of the next chunk - of this tile or the next - are in flight while
// the current chunk is multiplied.
// kResidentA: A is one tile (M <= BM) of at most kResidentK<T> columns, copied into shared memory
// once per block and kept there, so that only the pixel tiles stream - the common case of
// the 1x1 convolution (W is 32 KB at 128 x 64), and it drops a quarter of the copies and
// their address arithmetic from every step.
template <class T>
constexpr int kResidentK = T::BK >= 64 ? T::BK : 128;

template <class T, bool kAKContiguous, bool kResidentA>
__global__ __launch_bounds__(gemm::kThreads,
                             2) void pointwise_gemm_kernel(int64_t M, int64_t K, int64_t P, int64_t images,
                                                           const float* __restrict__ a, int64_t a_pitch, bool a_vector,
                                                           const float* __restrict__ b, bool b_vector,
                                                           const float* __restrict__ bias, float* __restrict__ out,
                                                           bool streaming_store) {
  extern __shared__ __align__(16) float smem[];
  constexpr int kAChunks = kResidentA ? kResidentK<T> / T::BK : 2;
  float* As = smem;                             // [2][BK][BM], or [kAChunks][BK][BM] when resident
  float* Bs = smem + kAChunks * T::BK * T::BM;  // [2][BK][BN]
  const int tid = threadIdx.x;
  // Tile and chunk counts fit in 32 bits (unsupported_reason checks), which keeps the
  // per-step index arithmetic cheap.
  const int m_tiles = int((M + T::BM - 1) / T::BM), p_tiles = int((P + T::BN - 1) / T::BN);
  const int tiles = int(images) * m_tiles * p_tiles, chunks = int((K + T::BK - 1) / T::BK);
  if (int(blockIdx.x) >= tiles) return;
  const int steps = ((tiles - 1 - int(blockIdx.x)) / int(gridDim.x) + 1) * chunks;

  struct Where {
    int img, m0, p0, k0;
    bool last_chunk;
  };
  auto where = [&](int step) {
    const int tile = int(blockIdx.x) + (step / chunks) * int(gridDim.x), chunk = step % chunks;
    const int rem = tile % (m_tiles * p_tiles);
    return Where{tile / (m_tiles * p_tiles), (rem / p_tiles) * T::BM, (rem % p_tiles) * T::BN, chunk * T::BK,
                 chunk == chunks - 1};
  };
  auto copy_a = [&](int m0, int k0, float* as) {
    const int m_rows = int(min64(T::BM, M - m0));
    if constexpr (kResidentA)
      return;  // copied once, below
    else if constexpr (kAKContiguous)
      gemm::KContiguousTile<T::BM, T::BK>::copy(as, a + int64_t(m0) * a_pitch, a_pitch, m_rows, k0, K, tid);
    else
      gemm::ColumnContiguousTile<T::BM, T::BK>::copy(as, a + m0, a_pitch, k0, K, m_rows, tid, a_vector);
  };
  auto a_chunk = [&](const Where& w, int buf) { return As + (kResidentA ? w.k0 / T::BK : buf) * T::BK * T::BM; };
  auto copy = [&](int step, int buf) {
    const Where w = where(step);
    if constexpr (!kResidentA) copy_a(w.m0, w.k0, a_chunk(w, buf));
    gemm::ColumnContiguousTile<T::BN, T::BK>::copy(Bs + buf * T::BK * T::BN, b + int64_t(w.img) * K * P + w.p0, P, w.k0,
                                                   K, int(min64(T::BN, P - w.p0)), tid, b_vector);
    gemm::copy_async_commit();
  };

  float acc[T::TM][T::TN] = {};
  if constexpr (kResidentA) gemm::copy_resident_a<T, kAKContiguous>(As, a, a_pitch, M, K, chunks, tid, gemm::kThreads);
  copy(0, 0);
  for (int step = 0; step < steps; ++step) {
    const int buf = step & 1;
    const Where w = where(step);
    // The other buffer was last read before the barrier that ended the previous step.
    if (step + 1 < steps) {
      copy(step + 1, buf ^ 1);
      gemm::copy_async_wait<1>();
    } else {
      gemm::copy_async_wait<0>();
    }
    __syncthreads();
    gemm::multiply_chunk<T, kAKContiguous && !kResidentA, false>(a_chunk(w, buf), Bs + buf * T::BK * T::BN, acc, tid);
    if (w.last_chunk) {
#pragma unroll
      for (int i = 0; i < T::TM; ++i) {
        const int m = w.m0 + T::row(tid, i);
        if (m < M) {
          const float bm = bias ? __ldg(bias + m) : 0.0f;
          float* row = out + (int64_t(w.img) * M + m) * P + w.p0;
#pragma unroll
          for (int g = 0; g < T::kGroupsN; ++g) {
            const int p = T::col_group(tid, g);
            const float4 v =
                make_float4(acc[i][4 * g] + bm, acc[i][4 * g + 1] + bm, acc[i][4 * g + 2] + bm, acc[i][4 * g + 3] + bm);
            if (b_vector && w.p0 + p + 3 < P) {
              if (streaming_store)
                __stcs(reinterpret_cast<float4*>(row + p), v);
              else
                *reinterpret_cast<float4*>(row + p) = v;
            } else {
              if (w.p0 + p < P) row[p] = v.x;
              if (w.p0 + p + 1 < P) row[p + 1] = v.y;
              if (w.p0 + p + 2 < P) row[p + 2] = v.z;
              if (w.p0 + p + 3 < P) row[p + 3] = v.w;
            }
          }
        }
#pragma unroll
        for (int j = 0; j < T::TN; ++j) acc[i][j] = 0.0f;
      }
    }
    __syncthreads();
  }
}

// The same GEMM for its common case on sm_90+ - A resident (M <= BM, K <= kResidentK), pixel
// rows a whole number of float4 - with the pixel tiles brought in by the TMA unit
// (common/tma.cuh). A block is one or two groups of 8 warps (kTmaGroups) sharing one copy
// of A; each group walks its own tiles through a ring of kTmaStages chunk buffers. One
// thread of the group issues each chunk's load; each warp waits on that chunk's barrier
// alone and says when it is done with the buffer, and the load that refills it is issued
// one step later. Against pointwise_gemm_kernel: no per-thread copy code and no block-wide
// barriers in the loop (warps drift apart and cover each other's stalls), three chunks in
// flight per group instead of two (the shared A is what makes room for them).
//
// With K = 64 a tile is only 64 k steps, so what a tile costs besides its FFMA (4,096 a warp
// at 8 x 8, 8,192 at 16 x 8) matters: the bias is the first k step's addend
// (multiply_first_chunk), the tile walk advances by additions rather than divisions, and
// the epilogue is one address a row and one float4 store a group, its bounds tests hoisted
// out of the rows.
//
// Register blocks of 8 x 8 run two groups a block (128 registers a thread); larger ones run
// one, whose threads may then use up to 255 registers.
constexpr int kTmaStages = 3;
template <class T>
constexpr int kTmaGroups = (T::TM * T::TN > 64) ? 1 : 2;
// k steps a loop trip: the same number of FFMA a trip for every register block, so the
// loop's code stays the size that fits the instruction cache.
template <class T>
constexpr int kTmaUnroll = std::max(1, gemm::kChunkUnroll * 64 / (T::TM * T::TN));

template <class T>
constexpr size_t tma_gemm_smem_bytes() {
  return sizeof(float) * (size_t(kResidentK<T>) * T::BM + size_t(kTmaGroups<T>) * kTmaStages * T::BK * T::BN) +
         sizeof(uint64_t) * 2 * kTmaGroups<T> * kTmaStages;
}

template <bool kStreaming>
__device__ __forceinline__ void store_float4(float* dst, float4 v) {
  if constexpr (kStreaming)
    __stcs(reinterpret_cast<float4*>(dst), v);
  else
    *reinterpret_cast<float4*>(dst) = v;
}

// out[m][p0 + p] = acc (+ row_bias[m] when kAddBias) for this thread's rows and float4
// columns of the tile; rows at or past M and columns at or past P (whole float4: P % 4 == 0)
// are not written.
template <class T, bool kStreaming, bool kAddBias>
__device__ __forceinline__ void store_tile(const float (&acc)[T::TM][T::TN], const float* row_bias,
                                           float* __restrict__ tile_out, int M, int P, int p0, int gtid) {
  auto value = [&](int i, int g) {
    float4 v = make_float4(acc[i][4 * g], acc[i][4 * g + 1], acc[i][4 * g + 2], acc[i][4 * g + 3]);
    if constexpr (kAddBias) {
      const float b = row_bias[T::row(gtid, i)];
      v = make_float4(v.x + b, v.y + b, v.z + b, v.w + b);
    }
    return v;
  };
  bool column_in[T::kGroupsN];
#pragma unroll
  for (int g = 0; g < T::kGroupsN; ++g) column_in[g] = p0 + T::col_group(gtid, g) < P;
#pragma unroll
  for (int i = 0; i < T::TM; ++i) {
    const int m = T::row(gtid, i);
    if (m >= M) continue;
    float* row = tile_out + int64_t(m) * P;
#pragma unroll
    for (int g = 0; g < T::kGroupsN; ++g)
      if (column_in[g]) store_float4<kStreaming>(row + T::col_group(gtid, g), value(i, g));
  }
}

template <class T, bool kAKContiguous>
__global__ __launch_bounds__(kTmaGroups<T>* gemm::kThreads,
                             1) void pointwise_gemm_tma_kernel(const __grid_constant__ CUtensorMap b_map, int M, int K,
                                                               int P, int images, const float* __restrict__ a,
                                                               int a_pitch, const float* __restrict__ bias,
                                                               float* __restrict__ out, bool streaming_store) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  extern __shared__ __align__(128) float tma_smem[];  // 128: TMA destinations
  __shared__ __align__(16) float bias_s[T::BM];
  constexpr int kGroups = kTmaGroups<T>, kStageFloats = T::BK * T::BN, kWarps = gemm::kThreads / 32;
  const int tid = threadIdx.x, group = tid / gemm::kThreads, gtid = tid % gemm::kThreads;
  float* As = tma_smem;                                                            // [kResidentK][BM]
  float* stages = As + kResidentK<T> * T::BM + group * kTmaStages * kStageFloats;  // this group's [stage][BK][BN]
  uint64_t* full = reinterpret_cast<uint64_t*>(tma_smem + kResidentK<T> * T::BM + kGroups * kTmaStages * kStageFloats);
  uint64_t* empty = full + kGroups * kTmaStages;
  const int chunks = (K + T::BK - 1) / T::BK, p_tiles = (P + T::BN - 1) / T::BN;
  const int worker = int(blockIdx.x) * kGroups + group, workers = int(gridDim.x) * kGroups;

  gemm::copy_resident_a<T, kAKContiguous>(As, a, a_pitch, M, K, chunks, tid, kGroups * gemm::kThreads);
  gemm::copy_async_commit();
  for (int m = tid; m < T::BM; m += kGroups * gemm::kThreads) bias_s[m] = bias && m < M ? bias[m] : 0.0f;
  if (tid == 0) {
    for (int i = 0; i < kGroups * kTmaStages; ++i) {
      tma::barrier_init(&full[i], 1);        // the issuing thread's arrival, plus the bytes
      tma::barrier_init(&empty[i], kWarps);  // one arrival per warp of the group
    }
    tma::barrier_init_fence();
  }
  gemm::copy_async_wait<0>();
  __syncthreads();
  full += group * kTmaStages;
  empty += group * kTmaStages;

  // Chunk `chunk` of tile `at`, into `stage`. Loads go round the ring in order, kTmaStages
  // chunks ahead of the multiply, so the stage a refill goes to is the one just consumed.
  const bool issuer = gtid == 0;
  const gemm::TileStride stride(workers, p_tiles);
  auto issue = [&](const gemm::TilePlace& at, int chunk, int stage) {
    tma::barrier_arrive_expect_bytes(&full[stage], kStageFloats * sizeof(float));
    tma::load_box(stages + stage * kStageFloats, &b_map, at.p_tile * T::BN, chunk * T::BK, at.img, &full[stage]);
  };
  // The chunk `ahead` chunks past chunk `chunk` of tile `at` (derived when needed rather than
  // kept: a cursor of its own would hold registers in every thread for the whole loop).
  auto chunk_ahead = [&](gemm::TilePlace at, int chunk, int ahead, int& at_chunk) {
    for (at_chunk = chunk + ahead; at_chunk >= chunks; at_chunk -= chunks) at.advance(stride);
    return at;
  };
  if (issuer)
    for (int s = 0; s < kTmaStages; ++s) {
      int chunk;
      const gemm::TilePlace at = chunk_ahead(gemm::TilePlace(worker, stride), 0, s, chunk);
      if (at.img < images) issue(at, chunk, s);
    }
  __syncwarp();

  // With W resident in one chunk (the 64-deep tile) every chunk is a tile's first.
  constexpr bool kOneChunk = kResidentK<T> == T::BK;
  float acc[T::TM][T::TN];
  int stage = 0;
  uint32_t phase = 0;
  bool first_step = true;
  for (gemm::TilePlace tile(worker, stride); tile.img < images; tile.advance(stride)) {
    for (int chunk = 0; chunk < (kOneChunk ? 1 : chunks); ++chunk) {
      // Refill the buffer the previous step read once every warp of the group has let it go:
      // by now they are past it, so this seldom waits.
      if (issuer && !first_step) {
        const bool wrapped = stage == 0;
        const int previous_stage = wrapped ? kTmaStages - 1 : stage - 1;
        int load_chunk;
        const gemm::TilePlace load = chunk_ahead(tile, chunk, kTmaStages - 1, load_chunk);
        if (load.img < images) {
          tma::barrier_wait(&empty[previous_stage], wrapped ? phase ^ 1 : phase);
          issue(load, load_chunk, previous_stage);
        }
      }
      first_step = false;
      __syncwarp();  // the issuing lane rejoins its warp before the multiply
      tma::barrier_wait(&full[stage], phase);
      const float* b_chunk = stages + stage * kStageFloats;
      if constexpr (kOneChunk) {
        float start[T::TM];  // row i's bias: the addend of the tile's first k step
#pragma unroll
        for (int g = 0; g < T::kGroupsM; ++g)
          *reinterpret_cast<float4*>(&start[4 * g]) = *reinterpret_cast<const float4*>(&bias_s[T::row_group(gtid, g)]);
        gemm::multiply_first_chunk<T, false, false, T::BK, kTmaUnroll<T>>(start, As, b_chunk, acc, gtid);
      } else {
        // Deeper W: one multiply for every chunk and the bias added by the epilogue keep
        // the loop within the registers.
        if (chunk == 0) {
#pragma unroll
          for (int i = 0; i < T::TM; ++i)
#pragma unroll
            for (int j = 0; j < T::TN; ++j) acc[i][j] = 0.0f;
        }
        gemm::multiply_chunk<T, false, false, T::BK, kTmaUnroll<T>>(As + chunk * T::BK * T::BM, b_chunk, acc, gtid);
      }
      __syncwarp();
      if (tid % 32 == 0) tma::barrier_arrive(&empty[stage]);
      if (++stage == kTmaStages) {
        stage = 0;
        phase ^= 1;
      }
    }
    const int p0 = tile.p_tile * T::BN;
    float* tile_out = out + int64_t(tile.img) * M * P + p0;
    // The one-chunk tile started from the bias; bias_s is zeros when there is none.
    if (streaming_store)
      store_tile<T, true, !kOneChunk>(acc, bias_s, tile_out, M, P, p0, gtid);
    else
      store_tile<T, false, !kOneChunk>(acc, bias_s, tile_out, M, P, p0, gtid);
  }
#else
  __trap();  // the host launches this only where the binary has sm_90 code (see tma_gemm_usable)
#endif
}

// ---------------------------------------------------------------------------------------
// Host side.

template <class T>
constexpr size_t gemm_smem_bytes() {
  return size_t(2) * T::BK * (T::BM + T::BN) * sizeof(float);
}
template <class T>
constexpr size_t resident_gemm_smem_bytes() {
  return (size_t(kResidentK<T>) * T::BM + size_t(2) * T::BK * T::BN) * sizeof(float);
}

struct Plan {
  ConvShape s;
  TileShape forward_tile, data_tile;  // output-space tiles (forward, dW_dw), input-space (dx)
  int64_t fwd_tiles_h, fwd_tiles_w, data_tiles_h, data_tiles_w;
  // Planes that fill less than half a tile take the direct kernels (depthwise_direct.cuh):
  // output planes for the forward and weight passes, input planes for dx.
  bool direct_outputs = false, direct_inputs = false;
  int weight_group = 1;  // output-space tiles per dW_dw block
  int64_t weight_groups_per_channel = 1;
  int blocks_per_sm_gemm = 2, sms = 1;
  bool tma_gemm = false;       // pointwise_gemm_tma_kernel can run here
  bool tma_depthwise = false;  // the depthwise_tma kernels can run here
  int64_t weight_splits = 1;
  int64_t bias_chunks = 1;
  bool bias = false;
  float* t = nullptr;
  float* dt = nullptr;
  float* weight_partial = nullptr;          // dW_pw
  float* depthwise_partial = nullptr;       // dW_dw
  float* depthwise_bias_partial = nullptr;  // db_dw, when the problem has biases
  float* bias_partial = nullptr;            // db_pw
};

template <int KH, int KW>
struct LaunchForward {
  static void run(const Plan& q, const float* x, const float* w, const float* b, float* t, cudaStream_t st) {
    if (q.direct_outputs) {
      const int64_t planes = q.s.n * q.s.c_in;
      direct::forward_kernel<KH, KW><<<direct::blocks(planes, q.s.pixels()), direct::kThreads, 0, st>>>(
          q.s, direct::planes_per_block(q.s.pixels()), x, w, b, t);
      DSCONV_LAUNCH_CHECK();
      return;
    }
    const auto conv = depthwise_tma::forward_conv(q.s);
    if (q.tma_depthwise && conv && depthwise_tma::correlate<KH, KW, false>(*conv, q.s.n * q.s.c_in, x, w, b, t, st))
      return;
    const int64_t blocks = depthwise_blocks(q.s.n * q.s.c_in, q.fwd_tiles_h, q.fwd_tiles_w);
    const auto kernel =
        unit_steps(q.s) ? depthwise_forward_kernel<KH, KW, true> : depthwise_forward_kernel<KH, KW, false>;
    kernel<<<unsigned(blocks), depthwise::kThreads, depthwise::kPipelineStages * q.forward_tile.window_bytes(), st>>>(
        q.s, q.forward_tile, q.fwd_tiles_h, q.fwd_tiles_w, x, w, b, t);
    DSCONV_LAUNCH_CHECK();
  }
};
template <int KH, int KW>
struct LaunchBackwardData {
  static void run(const Plan& q, const float* dt, const float* w, float* dx, cudaStream_t st) {
    if (q.direct_inputs) return direct::launch_backward_data<KH, KW>(q.s, dt, w, dx, st);
    const auto conv = depthwise_tma::transposed_conv(q.s);
    if (q.tma_depthwise && conv &&
        depthwise_tma::correlate<KH, KW, true>(*conv, q.s.n * q.s.c_in, dt, w, nullptr, dx, st))
      return;
    const int64_t blocks = depthwise_blocks(q.s.n * q.s.c_in, q.data_tiles_h, q.data_tiles_w);
    const auto kernel =
        unit_steps(q.s) ? depthwise_backward_data_kernel<KH, KW, true> : depthwise_backward_data_kernel<KH, KW, false>;
    kernel<<<unsigned(blocks), depthwise::kThreads, depthwise::kPipelineStages * q.data_tile.window_bytes(), st>>>(
        q.s, q.data_tile, q.data_tiles_h, q.data_tiles_w, dt, w, dx);
    DSCONV_LAUNCH_CHECK();
  }
};
template <int KH, int KW>
struct LaunchBackwardWeight {
  static void run(const Plan& q, const float* x, const float* dt, cudaStream_t st) {
    const auto conv = depthwise_tma::forward_conv(q.s);
    if (q.tma_depthwise && conv &&
        depthwise_tma::weight_grad<KH, KW>(*conv, q.s.n, q.weight_groups_per_channel, x, dt, q.depthwise_partial,
                                           q.depthwise_bias_partial, st))
      return;
    const int64_t blocks = q.s.n * q.s.c_in * (q.weight_groups_per_channel / q.s.n);
    const auto kernel = unit_steps(q.s) ? depthwise_backward_weight_kernel<KH, KW, true>
                                        : depthwise_backward_weight_kernel<KH, KW, false>;
    kernel<<<unsigned(blocks), depthwise::kThreads, 2 * q.forward_tile.window_bytes(), st>>>(
        q.s, q.forward_tile, q.fwd_tiles_h, q.fwd_tiles_w, q.weight_group, x, dt, q.depthwise_partial,
        q.depthwise_bias_partial);
    DSCONV_LAUNCH_CHECK();
  }
};

template <int KH, int KW>
struct LaunchDirectWeight {
  static void run(const Plan& q, const float* x, const float* dt, float* dw_dw, float* db_dw, cudaStream_t st) {
    direct::backward_weight_kernel<KH, KW>
        <<<unsigned(q.s.c_in), direct::kThreads, 0, st>>>(q.s, x, dt, dw_dw, q.bias ? db_dw : nullptr);
    DSCONV_LAUNCH_CHECK();
  }
};

// The tile the TMA kernel runs a problem with in place of T (same BM and BK, so the same
// problems fit): the deep tile's becomes the wide one, which the cp.async kernel's 128-register
// cap could not hold.
template <class T>
struct TmaTile {
  using type = T;
};
template <>
struct TmaTile<NNTile128Deep> {
  using type = NNTileWide;
};

template <class T, bool kAKContiguous>
void launch_pointwise(const Plan& q, int64_t M, int64_t K, const float* a, int64_t a_pitch, const float* b,
                      const float* bias, float* out, bool streaming, cudaStream_t st) {
  const int64_t P = q.s.pixels();
  const int64_t tiles = q.s.n * ((M + T::BM - 1) / T::BM) * ((P + T::BN - 1) / T::BN);
  const unsigned grid = unsigned(std::min<int64_t>(tiles, int64_t(q.sms) * q.blocks_per_sm_gemm));
  // The TMA kernel's indices are 32-bit, and a TMA map wants rows of whole 16 bytes from a
  // 16-byte aligned base; anything else takes the cp.async kernels.
  const bool tma_fits = q.tma_gemm && P % 4 == 0 && reinterpret_cast<uintptr_t>(b) % 16 == 0 &&
                        P <= std::numeric_limits<int>::max() && a_pitch <= std::numeric_limits<int>::max();
  if (M <= T::BM && K <= kResidentK<T> && tma_fits) {
    using TT = typename TmaTile<T>::type;
    constexpr int kGroups = kTmaGroups<TT>;
    const CUtensorMap b_map = tma::make_box_map(b, {uint64_t(P), uint64_t(K), uint64_t(q.s.n)}, {TT::BN, TT::BK, 1});
    const int64_t tma_tiles = q.s.n * ((P + TT::BN - 1) / TT::BN), blocks = (tma_tiles + kGroups - 1) / kGroups;
    pointwise_gemm_tma_kernel<TT, kAKContiguous>
        <<<unsigned(std::min<int64_t>(blocks, q.sms)), kGroups * gemm::kThreads, tma_gemm_smem_bytes<TT>(), st>>>(
            b_map, int(M), int(K), int(P), int(q.s.n), a, int(a_pitch), bias, out, streaming);
  } else if (M <= T::BM && K <= kResidentK<T>) {
    pointwise_gemm_kernel<T, kAKContiguous, true><<<grid, gemm::kThreads, resident_gemm_smem_bytes<T>(), st>>>(
        M, K, P, q.s.n, a, a_pitch, a_pitch % 4 == 0, b, P % 4 == 0, bias, out, streaming);
  } else if constexpr (T::BK == 32) {  // the deep tile is only ever resident
    pointwise_gemm_kernel<T, kAKContiguous, false><<<grid, gemm::kThreads, gemm_smem_bytes<T>(), st>>>(
        M, K, P, q.s.n, a, a_pitch, a_pitch % 4 == 0, b, P % 4 == 0, bias, out, streaming);
  }
  DSCONV_LAUNCH_CHECK();
}

// out = A B per image, A k-contiguous (W) or m-contiguous (W read as W^T); 64-row tiles when
// A has at most 64 rows, so that small channel counts waste less of each tile.
void pointwise(const Plan& q, int64_t M, int64_t K, const float* a, int64_t a_pitch, bool a_k_contiguous,
               const float* b, const float* bias, float* out, bool streaming, cudaStream_t st) {
  const bool small_m = M <= 64;
  if (a_k_contiguous) {
    if (small_m)
      launch_pointwise<NNTile64, true>(q, M, K, a, a_pitch, b, bias, out, streaming, st);
    else if (M <= NNTile128Deep::BM && K <= NNTile128Deep::BK)
      launch_pointwise<NNTile128Deep, true>(q, M, K, a, a_pitch, b, bias, out, streaming, st);
    else
      launch_pointwise<NNTile128, true>(q, M, K, a, a_pitch, b, bias, out, streaming, st);
  } else {
    if (small_m)
      launch_pointwise<NNTile64, false>(q, M, K, a, a_pitch, b, bias, out, streaming, st);
    else
      launch_pointwise<NNTile128, false>(q, M, K, a, a_pitch, b, bias, out, streaming, st);
  }
}

template <class Kernel>
void allow_dynamic_smem(Kernel kernel, size_t bytes) {
  DSCONV_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
}

template <class T>
void allow_pointwise_smem() {
  using TT = typename TmaTile<T>::type;
  allow_dynamic_smem(pointwise_gemm_tma_kernel<TT, true>, tma_gemm_smem_bytes<TT>());
  allow_dynamic_smem(pointwise_gemm_tma_kernel<TT, false>, tma_gemm_smem_bytes<TT>());
  allow_dynamic_smem(pointwise_gemm_kernel<T, true, true>, resident_gemm_smem_bytes<T>());
  allow_dynamic_smem(pointwise_gemm_kernel<T, false, true>, resident_gemm_smem_bytes<T>());
  if constexpr (T::BK == 32) {
    allow_dynamic_smem(pointwise_gemm_kernel<T, true, false>, gemm_smem_bytes<T>());
    allow_dynamic_smem(pointwise_gemm_kernel<T, false, false>, gemm_smem_bytes<T>());
  }
}

bool tma_gemm_usable() {
  return tma::kernel_usable(reinterpret_cast<const void*>(pointwise_gemm_tma_kernel<NNTileWide, true>));
}

// The launches of each pass, in order, as named stages: forward() and backward() run them
// all; `dsconv bench --stages` times them one by one.
std::vector<Stage> pass_stages(const Problem& p, Pass pass, const DeviceTensors& d, const Plan* q) {
  const double f = sizeof(float);
  const double x = double(p.x_elems()), t = double(p.t_elems()), y = double(p.y_elems());
  const double taps = double(p.taps()), c_in = double(p.c_in), c_out = double(p.c_out);
  const int kh = p.conv.kh, kw = p.conv.kw;
  std::vector<Stage> stages;
  stages.push_back({"depthwise", f * (x + t), 2 * t * taps, [p, q, d, kh, kw](cudaStream_t st) {
                      dispatch_kernel_size<LaunchForward>(kh, kw, *q, d.x, d.w_dw, d.b_dw, q->t, st);
                    }});
  if (pass == Pass::forward) {
    stages.push_back({"pointwise", f * (t + y), 2 * y * c_in, [p, q, d](cudaStream_t st) {
                        pointwise(*q, p.c_out, p.c_in, d.w_pw, p.c_in, true, q->t, d.b_pw, d.y, true, st);
                      }});
    return stages;
  }
  // dt = W^T dy: A(m = ci, k = co) = W[co][ci], m-contiguous with pitch C_in.
  stages.push_back({"dt", f * (y + t), 2 * t * c_out, [p, q, d](cudaStream_t st) {
                      pointwise(*q, p.c_in, p.c_out, d.w_pw, p.c_in, false, d.dy, nullptr, q->dt, false, st);
                    }});
  stages.push_back({"dw_pw", f * (y + t), 2 * t * c_out, [p, q, d](cudaStream_t st) {
                      const int64_t P = q->s.pixels();
                      const int64_t tiles = ((p.c_out + WeightGradTile::BM - 1) / WeightGradTile::BM) *
                                            ((p.c_in + WeightGradTile::BN - 1) / WeightGradTile::BN);
                      const bool vector = P % 4 == 0;  // cudaMalloc'd tensors: 256-byte aligned bases
                      gemm::weight_grad_kernel<<<unsigned(tiles * q->weight_splits), WeightGradTile::kThreads,
                                                 WeightGradTile::kSmemBytes, st>>>(
                          p.c_out, p.c_in, P, p.n, d.dy, q->t, q->weight_partial, q->weight_splits, vector);
                      DSCONV_LAUNCH_CHECK();
                      launch_reduce_partials(q->weight_partial, q->weight_splits, d.dw_pw, p.c_out * p.c_in, st);
                    }});
  stages.push_back({"dx", f * (t + x), 2 * t * taps, [q, d, kh, kw](cudaStream_t st) {
                      dispatch_kernel_size<LaunchBackwardData, false>(kh, kw, *q, q->dt, d.w_dw, d.dx, st);
                    }});
  stages.push_back({"dw_dw", f * (x + t), 2 * t * taps, [p, q, d, kh, kw](cudaStream_t st) {
                      if (q->direct_outputs) {
                        dispatch_kernel_size<LaunchDirectWeight>(kh, kw, *q, d.x, q->dt, d.dw_dw, d.db_dw, st);
                        return;
                      }
                      dispatch_kernel_size<LaunchBackwardWeight>(kh, kw, *q, d.x, q->dt, st);
                      // The partials are in dW_dw's own (C_in, KH*KW) order, and db_dw's (C_in).
                      const int64_t groups = q->weight_groups_per_channel, weights = p.c_in * q->s.taps();
                      launch_reduce_partials(q->depthwise_partial, groups, d.dw_dw, weights, st);
                      if (p.bias) {
                        launch_reduce_partials(q->depthwise_bias_partial, groups, d.db_dw, p.c_in, st);
                      }
                    }});
  if (p.bias)
    stages.push_back({"db_pw", f * y, y, [p, q, d](cudaStream_t st) {
                        const int64_t P = q->s.pixels();
                        channel_sum_kernel<<<unsigned(p.n * p.c_out * q->bias_chunks), 256, 0, st>>>(
                            d.dy, p.n, p.c_out, P, q->bias_chunks, q->bias_partial);
                        DSCONV_LAUNCH_CHECK();
                        launch_reduce_partials(q->bias_partial, p.n * q->bias_chunks, d.db_pw, p.c_out, st);
                      }});
  return stages;
}

class Tiled final : public Kernel {
 public:
  std::string_view name() const override { return "tiled"; }
  std::string_view summary() const override {
    return "shared-memory depthwise tiles + register-blocked FFMA GEMM for the 1x1; t and dt through device "
           "memory; deterministic";
  }

  std::string unsupported_reason(const Problem& p) const override {
    const Conv2dParams& c = p.conv;
    if (depthwise::choose_tile(c.kh, c.kw, c.stride_h, c.stride_w, c.dil_h, c.dil_w, kDepthwiseSmemFloats).rows == 0 ||
        input_space_tile(p).rows == 0)
      return fmt::format(
          "the input window of a 1 x 4 output tile ({} x {} taps, stride {}x{}, dilation {}x{}) "
          "exceeds the 48 KB of shared memory a depthwise block stages",
          c.kh, c.kw, c.stride_h, c.stride_w, c.dil_h, c.dil_w);
    if (p.n * p.c_in * ((p.h + 15) / 16) * ((p.w + 63) / 64) >= (int64_t(1) << 31))
      return "more depthwise tiles than a grid holds (2^31 - 1 blocks)";
    const int64_t gemm_steps = p.n * ((std::max(p.c_in, p.c_out) + 63) / 64) * ((p.out_h() * p.out_w() + 127) / 128) *
                               ((std::max(p.c_in, p.c_out) + 31) / 32);
    if (gemm_steps >= (int64_t(1) << 31)) return "more pointwise GEMM tiles than 32-bit tile indices count";
    if (p.n * ((p.out_h() * p.out_w() + WeightGradTile::BK - 1) / WeightGradTile::BK) >= (int64_t(1) << 31))
      return "more weight-gradient chunks than 32-bit chunk indices count";
    return {};
  }

  void prepare(const Problem& p, Workspace& ws) const override {
    Plan q;
    q.s = conv_shape(p);
    q.bias = p.bias;
    const Conv2dParams& c = p.conv;
    q.forward_tile = depthwise::choose_tile(c.kh, c.kw, c.stride_h, c.stride_w, c.dil_h, c.dil_w, kDepthwiseSmemFloats);
    q.data_tile = input_space_tile(p);
    q.fwd_tiles_h = ceil_div(q.s.ho, q.forward_tile.rows);
    q.fwd_tiles_w = ceil_div(q.s.wo, q.forward_tile.cols);
    q.data_tiles_h = ceil_div(q.s.h, q.data_tile.rows);
    q.data_tiles_w = ceil_div(q.s.w, q.data_tile.cols);
    const int64_t direct_limit = std::numeric_limits<int>::max();
    q.direct_outputs = 2 * q.s.pixels() < int64_t(q.forward_tile.rows) * q.forward_tile.cols &&
                       p.n * q.s.pixels() < direct_limit && q.s.in_pixels() < direct_limit && p.c_in < direct_limit;
    q.direct_inputs = direct::small_planes(q.s.in_pixels(), int64_t(q.data_tile.rows) * q.data_tile.cols);
    q.weight_group = templated_size(c.kh, c.kw) ? 8 : 1;
    q.weight_groups_per_channel = p.n * ((q.fwd_tiles_h * q.fwd_tiles_w + q.weight_group - 1) / q.weight_group);

    int device = 0;
    DSCONV_CUDA_CHECK(cudaGetDevice(&device));
    DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&q.sms, cudaDevAttrMultiProcessorCount, device));
    q.tma_gemm = tma_gemm_usable();
    q.tma_depthwise = depthwise_tma::usable();
    allow_pointwise_smem<NNTile128>();
    allow_pointwise_smem<NNTile64>();
    allow_pointwise_smem<NNTile128Deep>();
    allow_dynamic_smem(gemm::weight_grad_kernel, WeightGradTile::kSmemBytes);

    // dW_pw: enough splits of the pixels to fill the GPU twice over with (C_out x C_in) tiles.
    const int64_t weight_tiles = ((p.c_out + WeightGradTile::BM - 1) / WeightGradTile::BM) *
                                 ((p.c_in + WeightGradTile::BN - 1) / WeightGradTile::BN);
    const int64_t chunks = p.n * ((q.s.pixels() + WeightGradTile::BK - 1) / WeightGradTile::BK);
    q.weight_splits =
        std::max<int64_t>(1, std::min<int64_t>(chunks, 2 * q.sms / std::max<int64_t>(1, weight_tiles) + 1));
    q.bias_chunks = (q.s.pixels() + kSumChunk - 1) / kSumChunk;

    q.t = ws.allocate_array<float>(size_t(p.t_elems()));
    q.dt = ws.allocate_array<float>(size_t(p.t_elems()));
    q.weight_partial = ws.allocate_array<float>(size_t(p.c_out * p.c_in * q.weight_splits));
    if (!q.direct_outputs) {  // the direct weight kernel writes dW_dw and db_dw itself
      q.depthwise_partial = ws.allocate_array<float>(size_t(p.c_in * q.s.taps() * q.weight_groups_per_channel));
      if (p.bias) q.depthwise_bias_partial = ws.allocate_array<float>(size_t(p.c_in * q.weight_groups_per_channel));
    }
    if (p.bias) q.bias_partial = ws.allocate_array<float>(size_t(p.c_out * p.n * q.bias_chunks));
    ws.plan = q;
  }

  void forward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t st) const override {
    for (const Stage& stage : stages(p, Pass::forward, d, ws)) stage.launch(st);
  }
  void backward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t st) const override {
    for (const Stage& stage : stages(p, Pass::backward, d, ws)) stage.launch(st);
  }
  std::vector<Stage> stages(const Problem& p, Pass pass, const DeviceTensors& d, Workspace& ws) const override {
    return pass_stages(p, pass, d, &std::any_cast<const Plan&>(ws.plan));
  }
};

}  // namespace

const Kernel& tiled_kernel() {
  static const Tiled kernel;
  return kernel;
}

}  // namespace dsconv
