// The depthwise kernels on shared-memory tiles (see depthwise_tile.cuh for the tiles):
// forward (t = w_dw (*) x + b_dw), backward data (dx, the transposed convolution of dt)
// and backward weight (per-tile partial sums of x * dt and dt). Used by `tiled`, and by
// `fused` for the dx pass.
#pragma once

#include <cstdint>

#include "harness/problem.h"
#include "kernels/common/conv_shape.cuh"
#include "kernels/common/depthwise_tile.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/common/transposed_taps.h"

namespace dsconv {
namespace {

using depthwise::TapHits;
using depthwise::TapStep;
using depthwise::TileShape;

constexpr int kDepthwiseSmemFloats = depthwise::kMaxWindowFloats;

// Every kernel here comes in two forms: any stride and dilation, and kUnit - both 1, known at
// compile time (the common case), where every tap's shared-memory offset folds into an
// immediate and the transposed convolution needs no divisibility tests.
__device__ __forceinline__ ConvShape specialize_unit(ConvShape s) {
  s.sh = s.sw = s.dh = s.dw = 1;
  return s;
}
template <bool kUnit>
__device__ __forceinline__ ConvShape specialize(const ConvShape& s) {
  if constexpr (kUnit) return specialize_unit(s);
  else return s;
}
inline bool unit_steps(const ConvShape& s) { return s.sh == 1 && s.sw == 1 && s.dh == 1 && s.dw == 1; }

// ---------------------------------------------------------------------------------------
// Depthwise forward: t = w_dw (*) x + b_dw.

// Tile `index` (row-major) of a plane: its first output row and column. Tile counts within
// a plane and blocks within a grid fit in 32 bits, and 32-bit division stays inline where
// 64-bit division is a function call that spills registers around it.
struct PlaneTile {
  int64_t row0, col0;
};
__device__ inline PlaneTile plane_tile(int index, int tiles_w, const TileShape& tile) {
  return {int64_t(unsigned(index) / unsigned(tiles_w)) * tile.rows, int64_t(unsigned(index) % unsigned(tiles_w)) * tile.cols};
}

// The 4 outputs of one row that a thread makes (columns 16 apart, so that a warp's reads
// of the window are 16 adjacent floats: no bank conflicts): sum over taps of w * window,
// where `src` points at the window element under tap (0, 0) of the first output.
template <int KH, int KW>
__device__ __forceinline__ void depthwise_row(const float* src, int pitch, const ConvShape& s, int kh, int kw,
                                              const float* weights, const float* w_global, int outputs,
                                              float (&acc)[4]) {
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int i = 0; i < KH; ++i) {
      const float* row = src + i * s.dh * pitch;
#pragma unroll
      for (int j = 0; j < KW; ++j)
#pragma unroll
        for (int q = 0; q < 4; ++q)
          if (q < outputs) acc[q] = fmaf(weights[i * KW + j], row[q * depthwise::kColumnStride * s.sw + j * s.dw], acc[q]);
    }
  } else {
    for (int i = 0; i < kh; ++i) {
      const float* row = src + i * s.dh * pitch;
      for (int j = 0; j < kw; ++j) {
        const float wv = __ldg(w_global + i * kw + j);
#pragma unroll
        for (int q = 0; q < 4; ++q)
          if (q < outputs) acc[q] = fmaf(wv, row[q * depthwise::kColumnStride * s.sw + j * s.dw], acc[q]);
      }
    }
  }
}

// The plane of this block and the tiles [first, last) of it that the block walks.
struct TileGroup {
  int64_t plane;
  int first, last;
};
__device__ inline TileGroup tile_group(int tiles_per_plane, int group) {
  const unsigned groups = unsigned((tiles_per_plane + group - 1) / group);
  const int first = int(blockIdx.x % groups) * group;
  return {int64_t(blockIdx.x / groups), first, min(tiles_per_plane, first + group)};
}

// KH, KW: the kernel size when known at compile time (weights in registers), 0 otherwise.
// Each block walks depthwise::kTilesPerBlock tiles of one plane.
template <int KH, int KW, bool kUnit>
__global__ __launch_bounds__(depthwise::kThreads, depthwise::min_blocks(KH, KW)) void depthwise_forward_kernel(
    ConvShape shape, TileShape tile, int64_t tiles_h, int64_t tiles_w, const float* __restrict__ x,
    const float* __restrict__ w_dw, const float* __restrict__ b_dw, float* __restrict__ t) {
  extern __shared__ __align__(16) float windows[];
  const ConvShape s = specialize<kUnit>(shape);
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw;
  const TileGroup group = tile_group(int(tiles_h * tiles_w), depthwise::kTilesPerBlock);
  const int64_t c = unsigned(group.plane) % unsigned(s.c_in);  // planes < 2^31: the grid says so
  const int pitch = tile.src_cols;
  const float* plane = x + group.plane * s.in_pixels();
  float weights[KH * KW > 0 ? KH * KW : 1];
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int i = 0; i < KH * KW; ++i) weights[i] = __ldg(w_dw + c * KH * KW + i);
  }
  const float bias = b_dw ? __ldg(b_dw + c) : 0.0f;
  const int ty = threadIdx.x / depthwise::kGroupsPerRow, tx = threadIdx.x % depthwise::kGroupsPerRow;

  auto issue = [&](int64_t index, float* window) {
    const PlaneTile pt = plane_tile(int(index), int(tiles_w), tile);
    return depthwise::copy_window_async(plane, s.h, s.w, pt.row0 * s.sh - s.ph, tile.src_rows, pt.col0 * s.sw - s.pw,
                                        depthwise::window(tile.cols, kw, s.sw, s.dw), window, pitch, s.w % 4 == 0);
  };
  auto body = [&](int64_t index, const float* window, int offset) {
    const PlaneTile pt = plane_tile(int(index), int(tiles_w), tile);
    const int64_t ow = pt.col0 + tx;
    if (tx >= tile.cols || ow >= s.wo) return;
    const int outputs = (tile.cols - tx + depthwise::kColumnStride - 1) / depthwise::kColumnStride;
#pragma unroll
    for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
      const int row = ty + r * depthwise::kThreadRows;
      const int64_t oh = pt.row0 + row;
      if (row >= tile.rows || oh >= s.ho) break;
      float acc[4] = {bias, bias, bias, bias};
      depthwise_row<KH, KW>(window + row * s.sh * pitch + offset + tx * s.sw, pitch, s, kh, kw, weights,
                            w_dw + c * kh * kw, outputs, acc);
      depthwise::store_spaced(t + (group.plane * s.ho + oh) * s.wo, ow, s.wo, tx, tile.cols, acc);
    }
  };
  depthwise::pipelined_tiles(group.first, group.last, windows, tile.src_rows * pitch, issue, body);
}

// ---------------------------------------------------------------------------------------
// Depthwise backward data: dx[ih][iw] = sum over taps (i, j) with ih + ph - i*dh = oh*sh and
// iw + pw - j*dw = ow*sw of w_dw[i][j] * dt[oh][ow]. Tiles are in input space; the staged
// window is the part of dt that the tile's inputs feed.

// One tap of the transposed convolution: w times the dt value (if any) that reaches inputs
// (ih, iw + 16 q) through tap (i, j). For the unit form, and for column strides that do not
// divide kColumnStride (elsewhere depthwise::for_each_tap_hit finds the taps). Plane
// coordinates fit in 32 bits (h, w <= 2^20), which keeps the divisibility tests cheap; stride
// 1 needs none.
__device__ __forceinline__ int floor_div32(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

__device__ __forceinline__ void transposed_tap(const ConvShape& s, const float* window, int pitch, int offset,
                                               int oh_lo, int ow_lo, int ih, int iw, int i, int j, float wv,
                                               int outputs, float (&acc)[4]) {
  const int num_h = ih + s.ph - i * s.dh;
  int oh = num_h;
  if (s.sh != 1) {
    oh = floor_div32(num_h, s.sh);
    if (oh * s.sh != num_h) return;  // no output row lands here
  }
  const float* src = window + (oh - oh_lo) * pitch + offset;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    if (q >= outputs) break;
    const int num_w = iw + q * depthwise::kColumnStride + s.pw - j * s.dw;
    if (s.sw == 1) {
      acc[q] = fmaf(wv, src[num_w - ow_lo], acc[q]);
    } else {
      const int ow = floor_div32(num_w, s.sw);
      if (ow * s.sw == num_w) acc[q] = fmaf(wv, src[ow - ow_lo], acc[q]);
    }
  }
}

template <int KH, int KW, bool kUnit>
__global__ __launch_bounds__(depthwise::kThreads, depthwise::min_blocks(KH, KW)) void depthwise_backward_data_kernel(
    ConvShape shape, TileShape tile, int64_t tiles_h, int64_t tiles_w, const float* __restrict__ dt,
    const float* __restrict__ w_dw, float* __restrict__ dx) {
  extern __shared__ __align__(16) float windows[];
  const ConvShape s = specialize<kUnit>(shape);
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw;
  const TileGroup group = tile_group(int(tiles_h * tiles_w), depthwise::kTilesPerBlock);
  const int64_t c = unsigned(group.plane) % unsigned(s.c_in);  // planes < 2^31: the grid says so
  const int pitch = tile.src_cols;
  const float* plane = dt + group.plane * s.pixels();
  float weights[KH * KW > 0 ? KH * KW : 1];
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int i = 0; i < KH * KW; ++i) weights[i] = __ldg(w_dw + c * KH * KW + i);
  }
  const float* wc = w_dw + c * kh * kw;
  const int ty = threadIdx.x / depthwise::kGroupsPerRow, tx = threadIdx.x % depthwise::kGroupsPerRow;
  // At strides that divide kColumnStride a thread's columns share their taps (TapStep); the
  // unit form and other strides test each tap.
  const bool by_tap_hits = !kUnit && depthwise::kColumnStride % s.sw == 0;
  const TapStep row_step = depthwise::tap_step(s.sh, s.dh), col_step = depthwise::tap_step(s.sw, s.dw);
  const int q_cols = depthwise::kColumnStride / s.sw;  // between the dt columns of q and q + 1
  // The first dt row and column any input of the tile at (row0, col0) reads.
  // (Plane coordinates fit in 32 bits, and 32-bit division stays inline.)
  auto lowest_row = [&](int64_t row0) { return -floor_div32(-int(row0 + s.ph - (kh - 1) * s.dh), s.sh); };
  auto lowest_col = [&](int64_t col0) { return -floor_div32(-int(col0 + s.pw - (kw - 1) * s.dw), s.sw); };

  auto issue = [&](int64_t index, float* window) {
    const PlaneTile pt = plane_tile(int(index), int(tiles_w), tile);
    const int oh_lo = lowest_row(pt.row0), ow_lo = lowest_col(pt.col0);
    return depthwise::copy_window_async(plane, s.ho, s.wo, oh_lo, tile.src_rows, ow_lo, tile.src_cols - 8, window,
                                        pitch, s.wo % 4 == 0);
  };
  auto body = [&](int64_t index, const float* window, int offset) {
    const PlaneTile pt = plane_tile(int(index), int(tiles_w), tile);
    const int oh_lo = lowest_row(pt.row0), ow_lo = lowest_col(pt.col0);
    const int64_t iw = pt.col0 + tx;
    if (tx >= tile.cols || iw >= s.w) return;
    const int outputs = (tile.cols - tx + depthwise::kColumnStride - 1) / depthwise::kColumnStride;
    const TapHits col_hits = by_tap_hits ? depthwise::first_tap_hit(int(iw) + s.pw, col_step) : TapHits{};
#pragma unroll
    for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
      const int row = ty + r * depthwise::kThreadRows;
      const int64_t ih = pt.row0 + row;
      if (row >= tile.rows || ih >= s.h) break;
      float acc[4] = {0.f, 0.f, 0.f, 0.f};
      if (by_tap_hits) {
        // The same taps in the same order as transposed_tap's loops below: the same sums.
        auto add_tap_row = [&](int i, int oh) {
          const float* src = window + (oh - oh_lo) * pitch + offset - ow_lo;
          depthwise::for_each_tap_hit<KW>(kw, col_hits, col_step, [&](int j, int ow) {
            float wv;
            if constexpr (KH * KW > 0)
              wv = weights[i * KW + j];
            else
              wv = __ldg(wc + i * kw + j);
#pragma unroll
            for (int q = 0; q < 4; ++q)
              if (q < outputs) acc[q] = fmaf(wv, src[ow + q * q_cols], acc[q]);
          });
        };
        depthwise::for_each_tap_hit<KH>(kh, depthwise::first_tap_hit(int(ih) + s.ph, row_step), row_step, add_tap_row);
      } else if constexpr (KH * KW > 0) {
#pragma unroll
        for (int i = 0; i < KH; ++i)
#pragma unroll
          for (int j = 0; j < KW; ++j)
            transposed_tap(s, window, pitch, offset, int(oh_lo), int(ow_lo), int(ih), int(iw), i, j,
                           weights[i * KW + j], outputs, acc);
      } else {
        for (int i = 0; i < kh; ++i)
          for (int j = 0; j < kw; ++j)
            transposed_tap(s, window, pitch, offset, int(oh_lo), int(ow_lo), int(ih), int(iw), i, j,
                           __ldg(wc + i * kw + j), outputs, acc);
      }
      depthwise::store_spaced(dx + (group.plane * s.h + ih) * s.w, iw, s.w, tx, tile.cols, acc);
    }
  };
  depthwise::pipelined_tiles(group.first, group.last, windows, tile.src_rows * pitch, issue, body);
}

// ---------------------------------------------------------------------------------------
// Depthwise backward weight and bias: a block takes `group` consecutive output-space tiles of
// one plane; each thread sums x[window] * dt for every tap (and dt for the bias) over its
// outputs in all of them, then block reductions write one partial per tap and group,
// partial[(c * taps + tap) * groups_per_channel + n * groups_per_plane + group_index], and,
// when bias_partial is given, one per group for db_dw at bias_partial[c * groups_per_channel
// + ...]. Both are then in the order one reduce_partials launch each turns into dW_dw and
// db_dw.

template <int KH, int KW, bool kUnit>
__global__ __launch_bounds__(depthwise::kThreads, 2) void depthwise_backward_weight_kernel(
    ConvShape shape, TileShape tile, int64_t tiles_h, int64_t tiles_w, int group, const float* __restrict__ x,
    const float* __restrict__ dt, float* __restrict__ partial, float* __restrict__ bias_partial) {
  extern __shared__ __align__(16) float window[];
  const ConvShape s = specialize<kUnit>(shape);
  __shared__ float scratch[32];
  constexpr int kTaps = KH * KW > 0 ? KH * KW : 1;
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw;
  const int64_t tiles_per_plane = tiles_h * tiles_w;
  const int64_t groups_per_plane = (tiles_per_plane + group - 1) / group;
  const int64_t plane = blockIdx.x / unsigned(groups_per_plane), group_index = blockIdx.x % unsigned(groups_per_plane);
  const int64_t n = unsigned(plane) / unsigned(s.c_in), c = unsigned(plane) % unsigned(s.c_in);
  const int pitch = tile.src_cols;
  const int ty = threadIdx.x / depthwise::kGroupsPerRow, tx = threadIdx.x % depthwise::kGroupsPerRow;

  const int64_t groups_per_channel = s.n * groups_per_plane;
  const int64_t index = n * groups_per_plane + group_index;
  const int taps = kh * kw;
  auto emit = [&](float* out, float v) {
    const float total = block_sum(v, scratch);
    if (threadIdx.x == 0) out[index] = total;
  };
  auto emit_tap = [&](int tap, float v) { emit(partial + (c * taps + tap) * groups_per_channel, v); };

  // Templated sizes keep every tap's sum in registers across the group; the generic path
  // takes one tile per block (group == 1) and reduces tap by tap.
  float acc[kTaps] = {};
  float bias_acc = 0.f;
  const int64_t first = group_index * group, last = min64(tiles_per_plane, first + group);
  const float* x_plane = x + plane * s.in_pixels();
  const int window_floats = tile.src_rows * pitch;
  // The pipeline of depthwise::pipelined_tiles, written out: the accumulators stay in
  // registers only when no lambda holds them by reference.
  auto issue = [&](int64_t tile_index, float* win) {
    const PlaneTile pt = plane_tile(int(tile_index), int(tiles_w), tile);
    const int offset = depthwise::copy_window_async(x_plane, s.h, s.w, pt.row0 * s.sh - s.ph, tile.src_rows,
                                                    pt.col0 * s.sw - s.pw, depthwise::window(tile.cols, kw, s.sw, s.dw),
                                                    win, pitch, s.w % 4 == 0);
    gemm::copy_async_commit();
    return offset;
  };
  int offset_even = issue(first, window), offset_odd = 0;
  for (int64_t tile_index = first; tile_index < last; ++tile_index) {
    const int buf = int((tile_index - first) & 1);
    if (tile_index + 1 < last) {
      const int next = issue(tile_index + 1, window + (buf ^ 1) * window_floats);
      if (buf) offset_even = next;
      else offset_odd = next;
      gemm::copy_async_wait<1>();
    } else {
      gemm::copy_async_wait<0>();
    }
    __syncthreads();
    const float* win = window + buf * window_floats;
    const int offset = buf ? offset_odd : offset_even;
    const PlaneTile pt = plane_tile(int(tile_index), int(tiles_w), tile);
    // This thread's dt values (zero outside the tile) and the window under tap (0, 0).
    float g[depthwise::kRowsPerThread][4] = {};
    const float* base[depthwise::kRowsPerThread];
#pragma unroll
    for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
      const int row = ty + r * depthwise::kThreadRows;
      const int64_t oh = pt.row0 + row, ow = pt.col0 + tx;
      if (row < tile.rows && oh < s.ho)
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const int col = q * depthwise::kColumnStride;
          if (tx + col < tile.cols && ow + col < s.wo) g[r][q] = __ldg(dt + (plane * s.ho + oh) * s.wo + ow + col);
        }
      bias_acc += (g[r][0] + g[r][1]) + (g[r][2] + g[r][3]);
      base[r] = win + (row < tile.rows ? row : 0) * s.sh * pitch + offset + (tx < tile.cols ? tx : 0) * s.sw;
    }
    // This thread's share of tap (i, j)'s sum over the tile.
    auto tap_sum = [&](int i, int j) {
      float v = 0.f;
#pragma unroll
      for (int r = 0; r < depthwise::kRowsPerThread; ++r) {
        const float* src = base[r] + i * s.dh * pitch + j * s.dw;
#pragma unroll
        for (int q = 0; q < 4; ++q)
          if (tx + q * depthwise::kColumnStride < tile.cols)
            v = fmaf(src[q * depthwise::kColumnStride * s.sw], g[r][q], v);
      }
      return v;
    };
    if constexpr (KH * KW > 0) {
      // Templated sizes keep every tap's sum in its own register, so the tap index must be
      // known at compile time (a loop over the taps left ptxas a run-time index, and each tap
      // chose its register from all KH x KW by comparisons and branches: 49 of them a tap at
      // 7 x 7). Unrolled whole, 7 x 7 at run-time strides spills (its 49 tap offsets are
      // registers); there the rows stay a loop and the sums rotate by a row each trip, so
      // that row i's are always acc[0, KW), and after KH trips every sum is back in place.
      if constexpr (kUnit || KH * KW <= 25) {
#pragma unroll
        for (int i = 0; i < KH; ++i)
#pragma unroll
          for (int j = 0; j < KW; ++j) acc[i * KW + j] += tap_sum(i, j);
      } else {
#pragma unroll 1
        for (int i = 0; i < KH; ++i) {
#pragma unroll
          for (int j = 0; j < KW; ++j) acc[j] += tap_sum(i, j);
          float row0[KW];
#pragma unroll
          for (int k = 0; k < KW; ++k) row0[k] = acc[k];
#pragma unroll
          for (int k = 0; k + KW < kTaps; ++k) acc[k] = acc[k + KW];
#pragma unroll
          for (int k = 0; k < KW; ++k) acc[kTaps - KW + k] = row0[k];
        }
      }
    } else {
      for (int tap = 0; tap < kh * kw; ++tap)
        emit_tap(tap, tap_sum(tap / kw, tap % kw));  // generic sizes: one tile per block, reduced tap by tap
    }
    __syncthreads();  // this window is refilled two tiles from now
  }
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int tap = 0; tap < KH * KW; ++tap) emit_tap(tap, acc[tap]);
  }
  if (bias_partial) emit(bias_partial + c * groups_per_channel, bias_acc);  // db_dw
}

// ---------------------------------------------------------------------------------------
// Host side.

// Blocks of the forward and backward-data kernels: each walks kTilesPerBlock tiles of a plane.
inline int64_t depthwise_blocks(int64_t planes, int64_t tiles_h, int64_t tiles_w) {
  return planes * ((tiles_h * tiles_w + depthwise::kTilesPerBlock - 1) / depthwise::kTilesPerBlock);
}

inline TileShape input_space_tile(const Problem& p) {
  // dx tile: the staged dt window of r x c inputs spans about (r - 1 + (k - 1) d) / s + 2 rows.
  TileShape t;
  const Conv2dParams& c = p.conv;
  while (true) {
    t.src_rows = (t.rows - 1 + (c.kh - 1) * c.dil_h) / c.stride_h + 2;
    t.src_cols = depthwise::conflict_free_pitch((t.cols - 1 + (c.kw - 1) * c.dil_w) / c.stride_w + 2 + 8);
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
