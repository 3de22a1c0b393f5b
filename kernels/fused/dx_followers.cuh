// dx beside the fused backward, in the same launch: the last blocks of its grid ("followers")
// make dx from the dt that the other blocks ("walkers") store tile by tile, a few tile rows
// behind them (sm_90).
//
// Why: the walkers issue FFMA and move about 1.2 TB/s, while the dx pass after them moved
// 2 GB at the floor of that traffic: 0.78 of the backward's 4.42 ms (H100, KernelBench shape).
// Dividing the multiprocessors - a few make dx, the rest walk the tiles - runs the two at once,
// and the dt a follower reads was written moments before, mostly still in L2. Earlier designs
// that ran dx on the walkers' own multiprocessors ran out of their shared memory and issue
// slots (docs/performance-notes.md).
//
// A follower warp takes depthwise_tma's 32 x 64 dx tiles of one plane, one of every so many in
// (image, row band, channel, column) order, so that all followers work near the walkers'
// front. It waits on common/tile_progress.cuh's mark for the last dt row a tile reads, and
// keeps kWarpStages windows in flight by TMA. Its arithmetic is
// depthwise_tma::correlate_kernel's, tap for tap: dx has the same bits as the second pass's.
#pragma once

#include "kernels/common/depthwise_tma.cuh"
#include "kernels/common/tile_progress.cuh"
#include "kernels/fused/dx_walk.h"
#include "kernels/fused/tile_windows.cuh"

namespace dsconv {
namespace {

// What the fused backward kernel needs to make dx in followers; progress == nullptr: no
// followers, every block walks tiles.
struct DxFollowers {
  int walkers;         // blocks [0, walkers) walk the tiles; the rest of the grid makes dx
  unsigned* progress;  // [walkers]: tiles each has stored dt for (common/tile_progress.cuh)
  float* dx;
  depthwise_tma::PlaneConv conv;  // dt to dx: dt (*) w_dw turned by 180 degrees
  int tiles_w, tiles_h;           // depthwise_tma tiles of a dx plane
  int images;
};

constexpr int kWarpStages = 2;  // windows a follower warp has in flight or in hand
constexpr int kFollowerWarps = kThreads / 32;
constexpr int kFollowerChannels = 64;  // C_in at most: one slice of the walkers'
// Followers a multiprocessor at C_in = 64: the share of the device that dx's work takes
// beside the walkers'. H100 (132 multiprocessors), KernelBench shape, backward in one call:
// 6 followers 6.37 ms, 8 4.81, 10 4.01, 12 4.09, against 4.41 / 4.44 with dx's second pass;
// under 10 the followers, over it the walkers, set the time. And the waves of tiles below
// which dx keeps its second pass.
constexpr double kFollowerShare = 10.0 / 132;
constexpr int kFollowerMinWaves = 2;

// A follower's shared memory, in floats: each warp's windows, then the slice's turned taps,
// then the windows' barriers.
template <int KH, int KW>
struct FollowerLayout {
  using W = depthwise_tma::Window<KH, KW>;
  static constexpr int kTaps = kFollowerWarps * kWarpStages * W::kStride;
  static constexpr int kBarriers = kTaps + (kFollowerChannels * KH * KW + 1) / 2 * 2;  // 8-byte aligned
  static constexpr int kFloats = kBarriers + 2 * kFollowerWarps * kWarpStages;
};

// Follower blockIdx.x - f.walkers of the grid: dx over its warps' tiles. `walk` is the
// walkers' tile geometry (their tiles are `walk.th` rows of dt, `tiles_w` a row, row-major by
// image). Each warp walks its own tiles with its own windows and barriers: no block barrier
// after the first, so that warps drift apart and cover each other's waits (a block-wide ring
// with a barrier a tile made dx at 1.4 us a tile a multiprocessor, H100).
template <int KH, int KW>
__device__ void make_dx_as_follower(const CUtensorMap* dt_windows, const DxFollowers& f, const Geometry& walk,
                                    const float* __restrict__ w_dw, float* smem) {
  using W = depthwise_tma::Window<KH, KW>;
  using L = FollowerLayout<KH, KW>;
  using depthwise_tma::kColsPerThread;
  using depthwise_tma::kRowsPerThread;
  constexpr int kTaps = KH * KW;
  constexpr int kBlockCols = depthwise_tma::kTileCols / kColsPerThread;  // 2 x 4 blocks along a tile row
  constexpr int kPasses = depthwise_tma::kTileRows / kRowsPerThread * kBlockCols / 32;
  float* taps = smem + L::kTaps;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + L::kBarriers) + warp * kWarpStages;
  float* windows = smem + warp * kWarpStages * W::kStride;
  const depthwise_tma::PlaneConv& g = f.conv;

  // The taps turned by 180 degrees, as correlate_kernel<KH, KW, true> reads them.
  for (int i = tid; i < g.channels * kTaps; i += blockDim.x) {
    const int c = i / kTaps, k = i % kTaps;
    taps[i] = w_dw[c * kTaps + kTaps - 1 - k];
  }
  if (lane == 0) {
    for (int s = 0; s < kWarpStages; ++s) tma::barrier_init(&full[s], 1);
    tma::barrier_init_fence();
  }
  __syncthreads();

  // This warp takes tiles first, first + step, ... of all, in (image, row band, channel,
  // column) order: every follower warp works near the walkers' front.
  const int64_t first = int64_t(int(blockIdx.x) - f.walkers) * kFollowerWarps + warp;
  const int64_t step = int64_t(int(gridDim.x) - f.walkers) * kFollowerWarps;
  const int64_t units = int64_t(f.images) * f.tiles_h * g.channels * f.tiles_w;
  const int64_t count = first < units ? (units - first + step - 1) / step : 0;
  const fused::DxTiles tiles{f.tiles_w, f.tiles_h, g.channels};
  const fused::DxPlace stride = fused::DxPlace::of(step, tiles);
  const int walk_per_image = int(walk.tiles_h * walk.tiles_w);
  unsigned mark = 0;  // tiles before it are done
  fused::DxPlace issue_place = fused::DxPlace::of(first, tiles), place = issue_place;
  auto issue = [&](int64_t i) {  // the whole warp: tile i's window into stage i % kWarpStages
    const unsigned needed = fused::last_walker_tile<KH>(issue_place.img, issue_place.band, depthwise_tma::kTileRows,
                                                        g.pad_h, g.in_h, walk, walk_per_image);
    while (needed >= mark) {
      mark = tile_progress::first_unfinished(f.progress, f.walkers);
      if (needed >= mark) __nanosleep(256);
    }
    __syncwarp();  // every lane's acquire before lane 0's read
    if (lane == 0) {
      const int stage = int(i % kWarpStages);
      tma::barrier_arrive_expect_bytes(&full[stage], W::kRows * W::kCols * sizeof(float));
      tma::load_box(windows + stage * W::kStride, dt_windows,
                    issue_place.col * depthwise_tma::kTileCols - g.pad_w - W::kOffset,
                    issue_place.band * depthwise_tma::kTileRows - g.pad_h, issue_place.img * g.channels + issue_place.c,
                    &full[stage]);
    }
    issue_place.advance(stride, tiles);
  };
  for (int64_t i = 0; i < kWarpStages && i < count; ++i) issue(i);

  const int tx = lane % kBlockCols, ty0 = lane / kBlockCols;
  for (int64_t i = 0; i < count; ++i) {
    const int stage = int(i % kWarpStages);
    const float* w = taps + place.c * kTaps;
    float weights[kTaps];
#pragma unroll
    for (int k = 0; k < kTaps; ++k) weights[k] = w[k];
    const int64_t plane = int64_t(place.img) * g.channels + place.c;
    const int row0 = place.band * depthwise_tma::kTileRows,
              ow = place.col * depthwise_tma::kTileCols + kColsPerThread * tx;
    tma::barrier_wait(&full[stage], uint32_t(i / kWarpStages) & 1);
#pragma unroll 2
    for (int pass = 0; pass < kPasses; ++pass) {
      const int ty = ty0 + pass * (32 / kBlockCols);
      const float* src = windows + stage * W::kStride + kRowsPerThread * ty * W::kCols + kColsPerThread * tx;
      float acc[kRowsPerThread][kColsPerThread];
#pragma unroll
      for (int o = 0; o < kRowsPerThread; ++o)
#pragma unroll
        for (int q = 0; q < kColsPerThread; ++q) acc[o][q] = 0.0f;  // correlate's bias: none for dx
      depthwise_tma::for_each_tap<W>(src,
                                     [&](int o, int k, int q, float x) { acc[o][q] = fmaf(weights[k], x, acc[o][q]); });
      if (ow < g.out_w) {  // out_w % 4 == 0: a float4 is all in or all out
#pragma unroll
        for (int o = 0; o < kRowsPerThread; ++o) {
          const int oh = row0 + kRowsPerThread * ty + o;
          if (oh < g.out_h)
            *reinterpret_cast<float4*>(f.dx + (plane * g.out_h + oh) * g.out_w + ow) =
                make_float4(acc[o][0], acc[o][1], acc[o][2], acc[o][3]);
        }
      }
    }
    __syncwarp();  // every lane is done with the stage
    if (i + kWarpStages < count) issue(i + kWarpStages);
    place.advance(stride, tiles);
  }
}

}  // namespace
}  // namespace dsconv
