// The depthwise kernels on shared-memory tiles (see depthwise_tile.cuh for the tiles):
// forward (t = w_dw (*) x + b_dw), backward data (dx, the transposed convolution of dt)
// and backward weight (per-tile partial sums of x * dt and dt). Used by `tiled`, and by
// `fused` for the dx pass.
#pragma once

#include <cstdint>

#include "kernels/common/conv_shape.cuh"
#include "kernels/common/depthwise_tile.cuh"
#include "kernels/common/reduce.cuh"
#include "harness/problem.h"

namespace dsconv {
namespace {

using depthwise::TileShape;

constexpr int kDepthwiseSmemFloats = depthwise::kMaxWindowFloats;

// ---------------------------------------------------------------------------------------
// Depthwise forward: t = w_dw (*) x + b_dw.

// The block's tile within its plane; blocks enumerate (plane, tile row, tile column).
struct PlaneTile {
  int64_t plane, row0, col0;
};
__device__ inline PlaneTile plane_tile(int64_t block, int64_t tiles_h, int64_t tiles_w, const TileShape& tile) {
  const int64_t per_plane = tiles_h * tiles_w, rem = block % per_plane;
  return {block / per_plane, (rem / tiles_w) * tile.rows, (rem % tiles_w) * tile.cols};
}

// The 4 outputs of one row that a thread makes: sum over taps of w * window, where `src`
// points at the window element under tap (0, 0) of the first output.
template <int KH, int KW>
__device__ __forceinline__ void depthwise_row(const float* src, int pitch, const ConvShape& s, int kh, int kw,
                                              const float* weights, const float* w_global, float (&acc)[4]) {
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int i = 0; i < KH; ++i) {
      const float* row = src + i * s.dh * pitch;
#pragma unroll
      for (int j = 0; j < KW; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q) acc[q] = fmaf(weights[i * KW + j], row[q * s.sw + j * s.dw], acc[q]);
    }
  } else {
    for (int i = 0; i < kh; ++i) {
      const float* row = src + i * s.dh * pitch;
      for (int j = 0; j < kw; ++j) {
        const float wv = __ldg(w_global + i * kw + j);
#pragma unroll
        for (int q = 0; q < 4; ++q) acc[q] = fmaf(wv, row[q * s.sw + j * s.dw], acc[q]);
      }
    }
  }
}

// KH, KW: the kernel size when known at compile time (weights in registers), 0 otherwise.
template <int KH, int KW>
__global__ __launch_bounds__(depthwise::kThreads) void depthwise_forward_kernel(ConvShape s, TileShape tile,
                                                                                int64_t tiles_h, int64_t tiles_w,
                                                                                const float* __restrict__ x,
                                                                                const float* __restrict__ w_dw,
                                                                                const float* __restrict__ b_dw,
                                                                                float* __restrict__ t) {
  extern __shared__ __align__(16) float window[];
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw;
  const PlaneTile pt = plane_tile(blockIdx.x, tiles_h, tiles_w, tile);
  const int64_t c = pt.plane % s.c_in;
  const int pitch = tile.src_cols;
  const int offset = depthwise::stage_window(x + pt.plane * s.in_pixels(), s.h, s.w, pt.row0 * s.sh - s.ph,
                                             tile.src_rows, pt.col0 * s.sw - s.pw,
                                             depthwise::window(tile.cols, kw, s.sw, s.dw), window, pitch, s.w % 4 == 0);
  float weights[KH * KW > 0 ? KH * KW : 1];
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int i = 0; i < KH * KW; ++i) weights[i] = __ldg(w_dw + c * KH * KW + i);
  }
  const float bias = b_dw ? __ldg(b_dw + c) : 0.0f;
  __syncthreads();

  const int ty = threadIdx.x / depthwise::kGroupsPerRow, tx = threadIdx.x % depthwise::kGroupsPerRow;
  const int64_t ow = pt.col0 + 4 * tx;
  if (4 * tx >= tile.cols || ow >= s.wo) return;
#pragma unroll
  for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
    const int row = ty + r * depthwise::kThreadRows;
    const int64_t oh = pt.row0 + row;
    if (row >= tile.rows || oh >= s.ho) break;
    float acc[4] = {bias, bias, bias, bias};
    depthwise_row<KH, KW>(window + row * s.sh * pitch + offset + 4 * tx * s.sw, pitch, s, kh, kw, weights,
                          w_dw + c * kh * kw, acc);
    depthwise::store4(t + (pt.plane * s.ho + oh) * s.wo, ow, s.wo, acc, s.wo % 4 == 0);
  }
}

// ---------------------------------------------------------------------------------------
// Depthwise backward data: dx[ih][iw] = sum over taps (i, j) with ih + ph - i*dh = oh*sh and
// iw + pw - j*dw = ow*sw of w_dw[i][j] * dt[oh][ow]. Tiles are in input space; the staged
// window is the part of dt that the tile's inputs feed.

__device__ inline int64_t ceil_div_signed(int64_t a, int64_t b) { return -depthwise::floor_div(-a, b); }

// One tap of the transposed convolution: w times the dt value (if any) that reaches inputs
// (ih, iw + q) through tap (i, j). Plane coordinates fit in 32 bits (h, w <= 2^20), which
// keeps the divisibility tests cheap; stride 1 needs none.
__device__ __forceinline__ int floor_div32(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

__device__ __forceinline__ void transposed_tap(const ConvShape& s, const float* window, int pitch, int offset,
                                               int oh_lo, int ow_lo, int ih, int iw, int i, int j, float wv,
                                               float (&acc)[4]) {
  const int num_h = ih + s.ph - i * s.dh;
  int oh = num_h;
  if (s.sh != 1) {
    oh = floor_div32(num_h, s.sh);
    if (oh * s.sh != num_h) return;  // no output row lands here
  }
  const float* src = window + (oh - oh_lo) * pitch + offset;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int num_w = iw + q + s.pw - j * s.dw;
    if (s.sw == 1) {
      acc[q] = fmaf(wv, src[num_w - ow_lo], acc[q]);
    } else {
      const int ow = floor_div32(num_w, s.sw);
      if (ow * s.sw == num_w) acc[q] = fmaf(wv, src[ow - ow_lo], acc[q]);
    }
  }
}

template <int KH, int KW>
__global__ __launch_bounds__(depthwise::kThreads) void depthwise_backward_data_kernel(
    ConvShape s, TileShape tile, int64_t tiles_h, int64_t tiles_w, const float* __restrict__ dt,
    const float* __restrict__ w_dw, float* __restrict__ dx) {
  extern __shared__ __align__(16) float window[];
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw;
  const PlaneTile pt = plane_tile(blockIdx.x, tiles_h, tiles_w, tile);
  const int64_t c = pt.plane % s.c_in;
  const int64_t oh_lo = ceil_div_signed(pt.row0 + s.ph - int64_t(kh - 1) * s.dh, s.sh);
  const int64_t ow_lo = ceil_div_signed(pt.col0 + s.pw - int64_t(kw - 1) * s.dw, s.sw);
  const int pitch = tile.src_cols;
  const int offset = depthwise::stage_window(dt + pt.plane * s.pixels(), s.ho, s.wo, oh_lo, tile.src_rows, ow_lo,
                                             tile.src_cols - 8, window, pitch, s.wo % 4 == 0);
  float weights[KH * KW > 0 ? KH * KW : 1];
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int i = 0; i < KH * KW; ++i) weights[i] = __ldg(w_dw + c * KH * KW + i);
  }
  __syncthreads();

  const int ty = threadIdx.x / depthwise::kGroupsPerRow, tx = threadIdx.x % depthwise::kGroupsPerRow;
  const int64_t iw = pt.col0 + 4 * tx;
  if (4 * tx >= tile.cols || iw >= s.w) return;
  const float* wc = w_dw + c * kh * kw;
#pragma unroll
  for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
    const int row = ty + r * depthwise::kThreadRows;
    const int64_t ih = pt.row0 + row;
    if (row >= tile.rows || ih >= s.h) break;
    float acc[4] = {0.f, 0.f, 0.f, 0.f};
    if constexpr (KH * KW > 0) {
#pragma unroll
      for (int i = 0; i < KH; ++i)
#pragma unroll
        for (int j = 0; j < KW; ++j)
          transposed_tap(s, window, pitch, offset, int(oh_lo), int(ow_lo), int(ih), int(iw), i, j, weights[i * KW + j],
                         acc);
    } else {
      for (int i = 0; i < kh; ++i)
        for (int j = 0; j < kw; ++j)
          transposed_tap(s, window, pitch, offset, int(oh_lo), int(ow_lo), int(ih), int(iw), i, j,
                         __ldg(wc + i * kw + j), acc);
    }
    depthwise::store4(dx + (pt.plane * s.h + ih) * s.w, iw, s.w, acc, s.w % 4 == 0);
  }
}

// ---------------------------------------------------------------------------------------
// Depthwise backward weight and bias: a block takes `group` consecutive output-space tiles of
// one plane; each thread sums x[window] * dt for every tap (and dt for the bias) over its
// outputs in all of them, then block reductions write one partial per (slot, group):
// partial[(c * slots + slot) * groups_per_channel + n * groups_per_plane + group_index].

template <int KH, int KW>
__global__ __launch_bounds__(depthwise::kThreads) void depthwise_backward_weight_kernel(
    ConvShape s, TileShape tile, int64_t tiles_h, int64_t tiles_w, int group, const float* __restrict__ x,
    const float* __restrict__ dt, float* __restrict__ partial, int slots) {
  extern __shared__ __align__(16) float window[];
  __shared__ float scratch[32];
  constexpr int kTaps = KH * KW > 0 ? KH * KW : 1;
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw;
  const int64_t tiles_per_plane = tiles_h * tiles_w;
  const int64_t groups_per_plane = (tiles_per_plane + group - 1) / group;
  const int64_t plane = blockIdx.x / groups_per_plane, group_index = blockIdx.x % groups_per_plane;
  const int64_t n = plane / s.c_in, c = plane % s.c_in;
  const int pitch = tile.src_cols;
  const int ty = threadIdx.x / depthwise::kGroupsPerRow, tx = threadIdx.x % depthwise::kGroupsPerRow;

  const int64_t groups_per_channel = s.n * groups_per_plane;
  const int64_t index = n * groups_per_plane + group_index;
  auto emit = [&](int slot, float v) {
    const float total = block_sum(v, scratch);
    if (threadIdx.x == 0) partial[(c * slots + slot) * groups_per_channel + index] = total;
  };

  // Templated sizes keep every tap's sum in registers across the group; the generic path
  // takes one tile per block (group == 1) and reduces tap by tap.
  float acc[kTaps] = {};
  float bias_acc = 0.f;
  const int64_t first = group_index * group, last = min64(tiles_per_plane, first + group);
  for (int64_t tile_index = first; tile_index < last; ++tile_index) {
    const PlaneTile pt = plane_tile(plane * tiles_per_plane + tile_index, tiles_h, tiles_w, tile);
    if (tile_index != first) __syncthreads();  // the previous tile's window is no longer read
    const int offset = depthwise::stage_window(x + plane * s.in_pixels(), s.h, s.w, pt.row0 * s.sh - s.ph,
                                               tile.src_rows, pt.col0 * s.sw - s.pw,
                                               depthwise::window(tile.cols, kw, s.sw, s.dw), window, pitch,
                                               s.w % 4 == 0);
    __syncthreads();
    // This thread's dt values (zero outside the tile) and the window under tap (0, 0).
    float g[depthwise::kRowsPerThread][4] = {};
    const float* base[depthwise::kRowsPerThread];
#pragma unroll
    for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
      const int row = ty + r * depthwise::kThreadRows;
      const int64_t oh = pt.row0 + row, ow = pt.col0 + 4 * tx;
      if (row < tile.rows && oh < s.ho)
        for (int q = 0; q < 4; ++q)
          if (4 * tx + q < tile.cols && ow + q < s.wo) g[r][q] = __ldg(dt + (plane * s.ho + oh) * s.wo + ow + q);
      bias_acc += (g[r][0] + g[r][1]) + (g[r][2] + g[r][3]);
      base[r] = window + (row < tile.rows ? row : 0) * s.sh * pitch + offset + 4 * (4 * tx < tile.cols ? tx : 0) * s.sw;
    }
    auto tap_sum = [&](int i, int j, float v) {
#pragma unroll
      for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
        const float* src = base[r] + i * s.dh * pitch + j * s.dw;
#pragma unroll
        for (int q = 0; q < 4; ++q) v = fmaf(src[q * s.sw], g[r][q], v);
      }
      return v;
    };
    if constexpr (KH * KW > 0) {
#pragma unroll
      for (int tap = 0; tap < KH * KW; ++tap) acc[tap] = tap_sum(tap / KW, tap % KW, acc[tap]);
    } else {
      for (int tap = 0; tap < kh * kw; ++tap) emit(tap, tap_sum(tap / kw, tap % kw, 0.f));
    }
  }
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int tap = 0; tap < KH * KW; ++tap) emit(tap, acc[tap]);
  }
  if (slots > kh * kw) emit(kh * kw, bias_acc);  // db_dw
}

// ---------------------------------------------------------------------------------------
// Host side.

inline TileShape input_space_tile(const Problem& p) {
  // dx tile: the staged dt window of r x c inputs spans about (r - 1 + (k - 1) d) / s + 2 rows.
  TileShape t;
  const Conv2dParams& c = p.conv;
  while (true) {
    t.src_rows = (t.rows - 1 + (c.kh - 1) * c.dil_h) / c.stride_h + 2;
    t.src_cols = ((t.cols - 1 + (c.kw - 1) * c.dil_w) / c.stride_w + 2 + 8 + 3) / 4 * 4;
    if (int64_t(t.src_rows) * t.src_cols <= kDepthwiseSmemFloats) return t;
    if (t.cols > 4) t.cols /= 2;
    else if (t.rows > 1) t.rows /= 2;
    else return TileShape{0, 0, 0, 0};
  }
}

inline bool templated_size(int kh, int kw) { return kh == kw && (kh == 1 || kh == 3 || kh == 5 || kh == 7); }

// Dispatches a depthwise kernel template on the common kernel sizes (7 x 7 only where
// `with_7x7`: the transposed kernel's 49 unrolled taps with their stride tests spill).
template <template <int, int> class Launch, bool with_7x7 = true, class... Args>
void dispatch_kernel_size(int kh, int kw, Args&&... args) {
  if (kh == 3 && kw == 3) return Launch<3, 3>::run(args...);
  if (kh == 1 && kw == 1) return Launch<1, 1>::run(args...);
  if (kh == 5 && kw == 5) return Launch<5, 5>::run(args...);
  if constexpr (with_7x7)
    if (kh == 7 && kw == 7) return Launch<7, 7>::run(args...);
  Launch<0, 0>::run(args...);
}

}  // namespace
}  // namespace dsconv
