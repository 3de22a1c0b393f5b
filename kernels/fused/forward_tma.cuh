// `fused`'s forward with TMA windows and 8 x 8 register blocks (fused_forward_tma_kernel), for
// C_in <= 64 and C_out <= 128 on sm_90.
#pragma once

#include "kernels/common/ffma_gemm.cuh"
#include "kernels/common/tma.cuh"
#include "kernels/fused/tile_windows.cuh"

namespace dsconv {
namespace {

// Forward with TMA loads (sm_90+), for C_in <= 64 and C_out <= 128 - one GEMM tile deep and
// wide, as at the KernelBench shape - and rows of x a whole number of float4, where
// fused_forward_wide_kernel (forward_wide.cuh) does not apply: strides, dilations, paddings
// whose window offset is not "same" padding's, kernels other than 1 x 1 and 3 x 3, images
// under 32 wide.
//
// A block is two groups of 8 warps sharing one resident copy of W_pw^T; each group walks its
// own 4 x 32 pixel tiles. Per tile the group computes t for all 64 channels into shared
// memory, kTmaXChannels at a time from x windows the TMA unit brings in (padding arrives as
// zeros), then multiplies the 64 x 128 t tile by W_pw in one 64-deep pass. The x windows
// ride a two-buffer ring per group: each warp waits on the barrier of the window it reads,
// and the group's first thread refills a buffer as soon as every warp is done with it, so
// the next tile's first window lands during this tile's GEMM. The depthwise phase and the
// GEMM do not hold registers at the same time (the accumulators start after t is complete),
// so the GEMM keeps its 8-step unrolled inner loop. Against fused_forward_kernel: no copy
// code, two group barriers per tile instead of three block barriers per 32 channels, and
// depthwise taps that reuse each loaded window element across a thread's column of outputs.
constexpr int kTmaGroups = 2;
constexpr int kTmaThreads = kTmaGroups * kThreads;
constexpr int kTmaTileRows = 4, kTmaTileCols = 32;  // th x tw, with run r = column r
constexpr int kTmaK = 64;                           // C_in rows of the t tile
constexpr int kTmaXFloats = 8192;                   // 32 KB per x window buffer
using TmaForwardTile = gemm::Tile<128, kPixels, kTmaK, 8, 8, 2, 4>;
static_assert(kTmaTileRows * kTmaTileCols == kPixels && kPixels / kForwardRun == kTmaTileCols,
              "a run is one column of the tile");

// Per group: the x window ring, the t tile, and the ring's full and empty barriers (4 of 8
// bytes, padded to 128), laid out so that one base address reaches them all. TMA writes
// shared memory only at 128-byte aligned addresses.
constexpr int kTmaGroupFloats = 2 * kTmaXFloats + kTmaK * kPixels + 32;
static_assert(kTmaXFloats % 32 == 0 && kTmaGroupFloats % 32 == 0, "x windows must start 128-byte aligned");
constexpr size_t tma_forward_smem_bytes() {
  return sizeof(float) * (size_t(kTmaK) * TmaForwardTile::BM + size_t(kTmaGroups) * kTmaGroupFloats);
}

// What the TMA forward kernel needs of the problem, as 32-bit values it reads straight from
// the parameter bank: next to the GEMM's accumulators no register is left for hoisting
// them (the host checks that they fit).
struct TmaForwardArgs {
  int c_in, c_out, ho, wo;
  int tiles, tiles_per_image, tiles_w;                        // 4 x 32 pixel tiles
  int steps_per_tile, sub_channels, window_floats, win_cols;  // x windows of sub_channels channels
  int sh, sw, ph, pw;
  // TMA takes a box only from an innermost coordinate on a 16-byte boundary: the window
  // starts col_offset columns left of the tile's first input column (pw and the tile's
  // column origin, a multiple of 32 * sw, fix it for every tile).
  int col_offset;
};

// One column of kForwardRun outputs of a channel under unit stride and dilation, from its
// window: each window element a column reads is loaded once and used by every output it
// feeds - (kForwardRun + KH - 1) * KW loads for kForwardRun * KH * KW taps.
template <int KH, int KW>
__device__ __forceinline__ void depthwise_column(const float* __restrict__ window, int win_cols, int col,
                                                 const DepthwiseWeights<KH, KW>& wr, float (&t)[kForwardRun]) {
#pragma unroll
  for (int j = 0; j < KW; ++j)
#pragma unroll
    for (int r = 0; r < kForwardRun + KH - 1; ++r) {
      const float v = window[r * win_cols + col + j];
#pragma unroll
      for (int q = 0; q < kForwardRun; ++q)
        if (r - q >= 0 && r - q < KH) t[q] = fmaf(wr.w[(r - q) * KW + j], v, t[q]);
    }
}

template <int KH, int KW, bool kUnitSteps>
__global__ __launch_bounds__(kTmaThreads, 1) void fused_forward_tma_kernel(
    const __grid_constant__ CUtensorMap x_map, const __grid_constant__ TmaForwardArgs a, ConvShape s, Geometry g,
    const float* __restrict__ w_dw, const float* __restrict__ b_dw, const float* __restrict__ w_pw,
    const float* __restrict__ b_pw, float* __restrict__ y) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using T = TmaForwardTile;
  extern __shared__ __align__(128) float tma_smem[];  // 128: TMA destinations
  __shared__ float bias_pw_s[T::BM];
  const int tid = threadIdx.x, group = tid / kThreads, gtid = tid % kThreads;
  float* Ws = tma_smem;                                                // [kTmaK][BM]
  float* Xs = tma_smem + kTmaK * T::BM + group * kTmaGroupFloats;      // [2][kTmaXFloats]
  float* Ts = Xs + 2 * kTmaXFloats;                                    // [kTmaK][kPixels]
  uint64_t* full = reinterpret_cast<uint64_t*>(Ts + kTmaK * kPixels);  // [2]
  uint64_t* empty = full + 2;                                          // [2]
  const int worker = int(blockIdx.x) * kTmaGroups + group, workers = int(gridDim.x) * kTmaGroups;

  gemm::copy_resident_a<T, true>(Ws, w_pw, a.c_in, a.c_out, a.c_in, 1, tid, kTmaThreads);
  gemm::copy_async_commit();
  for (int m = tid; m < T::BM; m += kTmaThreads) bias_pw_s[m] = b_pw && m < a.c_out ? b_pw[m] : 0.0f;
  if (gtid == 0) {
    for (int i = 0; i < 2; ++i) {
      tma::barrier_init(&full[i], 1);               // the issuing thread's arrival, plus the bytes
      tma::barrier_init(&empty[i], kThreads / 32);  // one arrival per warp of the group
    }
    tma::barrier_init_fence();
  }
  gemm::copy_async_wait<0>();
  __syncthreads();

  // Step `step` of this group: x window chunk step % steps_per_tile of its tile number
  // step / steps_per_tile, which is tile worker + that * workers.
  auto tile_of = [&](int step) { return worker + (step / a.steps_per_tile) * workers; };
  auto issue = [&](int step) {
    const int tile = tile_of(step), rem = tile % a.tiles_per_image, buffer = step & 1;
    tma::barrier_arrive_expect_bytes(&full[buffer], uint32_t(a.sub_channels * a.window_floats * sizeof(float)));
    tma::load_box(Xs + buffer * kTmaXFloats, &x_map, (rem % a.tiles_w) * kTmaTileCols * a.sw - a.pw - a.col_offset,
                  (rem / a.tiles_w) * kTmaTileRows * a.sh - a.ph, (step % a.steps_per_tile) * a.sub_channels,
                  tile / a.tiles_per_image, &full[buffer]);
  };
  const bool issuer = gtid == 0;
  if (issuer)
    for (int step = 0; step < 2 && tile_of(step) < a.tiles; ++step) issue(step);
  __syncwarp();

  for (int tile = worker, step = 0; tile < a.tiles; tile += workers) {
    // t for all kTmaK channels, a window of sub_channels at a time; channels past C_in come
    // out as zeros (zero x, weights and bias), and so do the W_pw^T rows they meet.
    for (int k0 = 0; k0 < kTmaK; k0 += a.sub_channels, ++step) {
      const int buffer = step & 1;
      tma::barrier_wait(&full[buffer], (step >> 1) & 1);
      const float* window = Xs + buffer * kTmaXFloats;
      for (int item = gtid; item < a.sub_channels * kTmaTileCols; item += kThreads) {
        const int ch = item / kTmaTileCols, run = item % kTmaTileCols, k = k0 + ch;
        const bool valid = k < a.c_in;
        DepthwiseWeights<KH, KW> wr;
        float t[kForwardRun];
        start_channel(w_dw, b_dw, k, valid, wr, t);
        if constexpr (kUnitSteps) {
          depthwise_column<KH, KW>(window + ch * a.window_floats, a.win_cols, run + a.col_offset, wr, t);
        } else {
          const float no_dt[kForwardRun] = {};
          depthwise_run<kForwardRun, KH, KW, false>(window + ch * a.window_floats, g, s, run, a.col_offset, wr,
                                                    w_dw + (valid ? k : 0) * s.kh * s.kw, valid, t, no_dt,
                                                    [](int, float) {});
        }
#pragma unroll
        for (int q = 0; q < kForwardRun; ++q) Ts[k * kPixels + run_pixel<kForwardRun>(run, q)] = t[q];
      }
      __syncwarp();
      if (gtid % 32 == 0) tma::barrier_arrive(&empty[buffer]);
      // Refill this buffer two steps ahead once the whole group has read it.
      if (issuer && tile_of(step + 2) < a.tiles) {
        tma::barrier_wait(&empty[buffer], (step >> 1) & 1);
        issue(step + 2);
      }
      __syncwarp();  // the issuing lane rejoins its warp
    }
    tma::sync_threads(1 + group, kThreads);  // the t tile is complete

    float acc[T::TM][T::TN] = {};
    gemm::multiply_chunk<T, false, false>(Ws, Ts, acc, gtid);
    tma::sync_threads(1 + group, kThreads);  // every warp is done reading it

    const int rem = tile % a.tiles_per_image;
    const int oh0 = (rem / a.tiles_w) * kTmaTileRows, ow0 = (rem % a.tiles_w) * kTmaTileCols;
    float* y_image = y + int64_t(tile / a.tiles_per_image) * a.c_out * a.ho * a.wo;
#pragma unroll
    for (int i = 0; i < T::TM; ++i) {
      const int co = T::row(gtid, i);
      if (co < a.c_out) {
        const float bias = bias_pw_s[co];
#pragma unroll
        for (int gq = 0; gq < T::kGroupsN; ++gq) {
          const int p = T::col_group(gtid, gq);
          const int oh = oh0 + p / kTmaTileCols, ow = ow0 + p % kTmaTileCols;
          if (oh < a.ho) {
            float* row = y_image + (co * a.ho + oh) * a.wo;  // C_out * Ho * Wo < 2^31: host-checked
            const float4 v = make_float4(acc[i][4 * gq] + bias, acc[i][4 * gq + 1] + bias, acc[i][4 * gq + 2] + bias,
                                         acc[i][4 * gq + 3] + bias);
            if (a.wo % 4 == 0 && ow + 3 < a.wo) {
              __stcs(reinterpret_cast<float4*>(row + ow), v);
            } else {
              if (ow < a.wo) row[ow] = v.x;
              if (ow + 1 < a.wo) row[ow + 1] = v.y;
              if (ow + 2 < a.wo) row[ow + 2] = v.z;
              if (ow + 3 < a.wo) row[ow + 3] = v.w;
            }
          }
        }
      }
    }
  }
#else
  __trap();  // the host launches this only where the binary has sm_90 code
#endif
}

}  // namespace
}  // namespace dsconv
