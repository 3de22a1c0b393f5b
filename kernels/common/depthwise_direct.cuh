// Depthwise kernels for small planes, without shared-memory staging: forward, backward data
// and backward weight for planes much smaller than a tile (the late layers of a CNN: 7x7 to
// 28x28). There a staged 32 x 64 tile is mostly padding - a 7x7 plane fills 2% of it - and
// its fixed cost per tile (a window copy and two barriers) is paid for a few dozen outputs.
// Here each block takes whole planes, one thread per output (or input) element, and the taps
// are read through the L1 cache, which holds a small plane whole.
//
// The weight kernel takes one channel per block and sums x * dt per tap (and dt, for the
// bias) over every image and pixel of it, then reduces across the block in a fixed order:
// the result is final, with no partials and no atomics.
#pragma once

#include <cstdint>

#include "kernels/common/conv_shape.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/common/transposed_taps.h"
#include "kernels/cuda_check.h"

namespace dsconv::direct {

constexpr int kThreads = 256;
constexpr int kOutputsPerBlock = 1024;  // about 4 a thread

// Whole planes of `plane_pixels` per block, kOutputsPerBlock outputs or more.
inline int planes_per_block(int64_t plane_pixels) {
  return int(plane_pixels >= kOutputsPerBlock ? 1 : kOutputsPerBlock / plane_pixels);
}
inline unsigned blocks(int64_t planes, int64_t plane_pixels) {
  const int per_block = planes_per_block(plane_pixels);
  return unsigned((planes + per_block - 1) / per_block);
}

// The tap weights of channel c: in registers when the size is a template argument.
template <int KH, int KW>
struct Taps {
  float w[KH * KW > 0 ? KH * KW : 1];
  const float* global;
  __device__ Taps(const float* w_dw, int64_t c, int taps) : global(w_dw + c * taps) {
    if constexpr (KH * KW > 0) {
#pragma unroll
      for (int i = 0; i < KH * KW; ++i) w[i] = __ldg(global + i);
    }
  }
  __device__ float operator[](int tap) const {
    if constexpr (KH * KW > 0) return w[tap];
    else return __ldg(global + tap);
  }
};

// Calls f(plane, pixel) for the elements of this block's planes (`plane_pixels` each),
// with 32-bit arithmetic within the block.
template <class F>
__device__ __forceinline__ void for_block_elements(int64_t planes, int plane_pixels, int per_block, F&& f) {
  const int64_t first = int64_t(blockIdx.x) * per_block;
  const int count = int(min64(per_block, planes - first)) * plane_pixels;
  for (int i = threadIdx.x; i < count; i += kThreads) f(first + i / plane_pixels, i % plane_pixels);
}

template <int KH, int KW>
__global__ __launch_bounds__(kThreads) void forward_kernel(ConvShape s, int per_block, const float* __restrict__ x,
                                                           const float* __restrict__ w_dw,
                                                           const float* __restrict__ b_dw, float* __restrict__ t) {
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw, wo = int(s.wo), h = int(s.h), w = int(s.w);
  for_block_elements(s.n * s.c_in, int(s.pixels()), per_block, [&](int64_t plane, int pixel) {
    const int64_t c = plane % s.c_in;
    const Taps<KH, KW> taps(w_dw, c, kh * kw);
    const int oh = pixel / wo, ow = pixel % wo;
    const float* src = x + plane * s.in_pixels();
    float acc = b_dw ? __ldg(b_dw + c) : 0.0f;
#pragma unroll
    for (int i = 0; i < kh; ++i) {
      const int ih = oh * s.sh - s.ph + i * s.dh;
      if (ih < 0 || ih >= h) continue;
#pragma unroll
      for (int j = 0; j < kw; ++j) {
        const int iw = ow * s.sw - s.pw + j * s.dw;
        if (iw >= 0 && iw < w) acc = fmaf(taps[i * kw + j], __ldg(src + ih * w + iw), acc);
      }
    }
    t[plane * s.pixels() + pixel] = acc;
  });
}

// dx[ih][iw] = sum over the taps (i, j) and outputs (oh, ow) with oh * sh - ph + i * dh = ih
// (and likewise for columns) of w[i][j] * dt[oh][ow].
template <int KH, int KW>
__global__ __launch_bounds__(kThreads) void backward_data_kernel(ConvShape s, int per_block,
                                                                 const float* __restrict__ dt,
                                                                 const float* __restrict__ w_dw,
                                                                 float* __restrict__ dx) {
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw, w = int(s.w), ho = int(s.ho), wo = int(s.wo);
  const depthwise::TapStep row_step = depthwise::tap_step(s.sh, s.dh), col_step = depthwise::tap_step(s.sw, s.dw);
  for_block_elements(s.n * s.c_in, int(s.in_pixels()), per_block, [&](int64_t plane, int pixel) {
    const Taps<KH, KW> taps(w_dw, plane % s.c_in, kh * kw);
    const int ih = pixel / w, iw = pixel % w;
    const float* src = dt + plane * s.pixels();
    const depthwise::TapHits col_hits = depthwise::first_tap_hit(iw + s.pw, col_step);
    float acc = 0.0f;
    // Only the taps that reach (ih, iw), in increasing (i, j) as a test of every tap would
    // take them; the output they come from must lie in dt.
    depthwise::for_each_tap_hit<KH>(kh, depthwise::first_tap_hit(ih + s.ph, row_step), row_step, [&](int i, int oh) {
      if (oh < 0 || oh >= ho) return;
      depthwise::for_each_tap_hit<KW>(kw, col_hits, col_step, [&](int j, int ow) {
        if (ow >= 0 && ow < wo) acc = fmaf(taps[i * kw + j], __ldg(src + oh * wo + ow), acc);
      });
    });
    dx[plane * s.in_pixels() + pixel] = acc;
  });
}

// dW_dw[c][tap] = sum over images and outputs of x[under tap] * dt, and db_dw[c] = sum of dt
// (when db_dw is given): one block per channel. Templated sizes keep every tap's sum in a
// register through one pass; the generic size makes a pass per tap.
template <int KH, int KW>
__global__ __launch_bounds__(kThreads) void backward_weight_kernel(ConvShape s, const float* __restrict__ x,
                                                                   const float* __restrict__ dt,
                                                                   float* __restrict__ dw_dw,
                                                                   float* __restrict__ db_dw) {
  __shared__ float scratch[32];
  const int64_t c = blockIdx.x;
  const int kh = KH ? KH : s.kh, kw = KW ? KW : s.kw, wo = int(s.wo), h = int(s.h), w = int(s.w);
  const int pixels = int(s.pixels()), count = int(s.n) * pixels;  // the host checks it fits
  // Sum over this thread's outputs of term(x plane, dt value, oh, ow).
  auto accumulate = [&](auto&& term) {
    for (int e = threadIdx.x; e < count; e += kThreads) {
      const int64_t n = e / pixels;
      const int pixel = e % pixels;
      const float g = __ldg(dt + (n * s.c_in + c) * pixels + pixel);
      term(x + (n * s.c_in + c) * s.in_pixels(), g, pixel / wo, pixel % wo);
    }
  };
  // x under tap (i, j) of output (oh, ow), zero in the padding.
  auto input = [&](const float* plane, int oh, int ow, int i, int j) {
    const int ih = oh * s.sh - s.ph + i * s.dh, iw = ow * s.sw - s.pw + j * s.dw;
    return ih >= 0 && ih < h && iw >= 0 && iw < w ? __ldg(plane + ih * w + iw) : 0.0f;
  };
  if constexpr (KH * KW > 0) {
    constexpr int kTaps = KH * KW;
    float acc[kTaps + 1] = {};  // the taps, then the bias
    accumulate([&](const float* plane, float g, int oh, int ow) {
      acc[kTaps] += g;
#pragma unroll
      for (int i = 0; i < KH; ++i)
#pragma unroll
        for (int j = 0; j < KW; ++j) acc[i * KW + j] = fmaf(input(plane, oh, ow, i, j), g, acc[i * KW + j]);
    });
    // Every sum at once: warp totals into shared memory, then one thread a sum adds the
    // warps' in index order.
    __shared__ float warp_totals[kThreads / 32][kTaps + 1];
#pragma unroll
    for (int k = 0; k <= kTaps; ++k) {
      const float v = warp_sum(acc[k]);
      if (threadIdx.x % 32 == 0) warp_totals[threadIdx.x / 32][k] = v;
    }
    __syncthreads();
    if (threadIdx.x <= kTaps) {
      float total = 0.0f;
      for (int wp = 0; wp < kThreads / 32; ++wp) total += warp_totals[wp][threadIdx.x];
      if (threadIdx.x < kTaps) dw_dw[c * kTaps + threadIdx.x] = total;
      else if (db_dw) db_dw[c] = total;
    }
  } else {
    for (int tap = 0; tap < kh * kw; ++tap) {
      float acc = 0.0f;
      accumulate([&](const float* plane, float g, int oh, int ow) {
        acc = fmaf(input(plane, oh, ow, tap / kw, tap % kw), g, acc);
      });
      const float total = block_sum(acc, scratch);
      if (threadIdx.x == 0) dw_dw[c * kh * kw + tap] = total;
    }
    if (db_dw) {
      float bias = 0.0f;
      accumulate([&](const float*, float g, int, int) { bias += g; });
      const float total = block_sum(bias, scratch);
      if (threadIdx.x == 0) db_dw[c] = total;
    }
  }
}

// Host side.

// Whether planes of `plane_pixels` take the direct kernels rather than staged tiles of
// `tile_pixels`: where they fill less than half a tile.
inline bool small_planes(int64_t plane_pixels, int64_t tile_pixels) { return 2 * plane_pixels < tile_pixels; }

// dx for every input plane, whole planes a block.
template <int KH, int KW>
void launch_backward_data(const ConvShape& s, const float* dt, const float* w_dw, float* dx, cudaStream_t st) {
  const int64_t planes = s.n * s.c_in;
  backward_data_kernel<KH, KW>
      <<<blocks(planes, s.in_pixels()), kThreads, 0, st>>>(s, planes_per_block(s.in_pixels()), dt, w_dw, dx);
  DSCONV_LAUNCH_CHECK();
}

}  // namespace dsconv::direct
