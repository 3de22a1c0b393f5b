// `fused`: copying a tile's x window into shared memory (copy_x_window; the tile and window
// are planned in tile_geometry.h) and the depthwise arithmetic over a staged window
// (depthwise_run) that its forward and backward kernels share.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/common/conv_shape.cuh"
#include "kernels/common/depthwise_kernels.cuh"
#include "kernels/common/ffma_gemm.cuh"
#include "kernels/fused/tile_geometry.h"

namespace dsconv {
namespace {

constexpr int kThreads = gemm::kThreads;
using fused::Geometry;
using fused::kBackwardRun;
using fused::kChunk;
using fused::kForward160XFloats;
using fused::kForward64XFloats;
using fused::kForwardRun;
using fused::kForwardXFloats;
using fused::kPixels;
using fused::make_geometry;
using fused::staged_forward_rows;
using fused::staged_forward_x_floats;
using fused::window_cols;

// Copies the x window of channels [c0, c0 + count) of image `img` for the tile at
// (oh0, ow0) into X[channel][row][col], zeros for padding, for channels >= C_in and for an
// image past the batch, with 16-byte copies when rows are 4-aligned. Returns the column where
// the window starts. Where a tile holds two images (g.images), the second one's window sits
// g.image_window_cols() to the right of the first's, in the same rows.
// A thread takes one float4 of the window - an (image, row, quad) triple - in every
// `groups`-th channel: where it falls in the plane is worked out once, and each next channel
// only adds a plane to the source and a window to the destination. A walk over (channel,
// row, quad) that worked out every element's place cost 72 instructions a 16-byte copy, 30%
// of the forward's instructions on MobileNet's stride-2 layers (ncu, H100). What a thread
// takes depends on its index and the geometry alone, so in a loop of calls that is worked
// out once.
__device__ inline int copy_x_window(float* __restrict__ X, const float* __restrict__ x, const ConvShape& s,
                                    const Geometry& g, int64_t img, int64_t c0, int count, int64_t oh0, int64_t ow0,
                                    int tid) {
  const int64_t row0 = oh0 * s.sh - s.ph, col0 = ow0 * s.sw - s.pw;
  const bool vector = s.w % 4 == 0;
  const int64_t start = vector ? depthwise::floor_div(col0, 4) * 4 : col0;
  const int quads = g.image_window_cols() / 4, image_quads = g.win_rows * quads, quads_all = g.images * image_quads;
  const int groups = max(1, kThreads / quads_all), lanes = kThreads / groups;
  const int group = int(unsigned(tid) / unsigned(lanes)), first_quad = tid - group * lanes;
  if (group < groups) {
    // The window's first row and column: negative in the padding.
    const int h = int(s.h), w = int(s.w), first_row = int(row0), first_col = int(start);
    const int64_t plane = s.in_pixels();
    const int64_t src_step = groups * plane;  // to the group's next channel
    const int dst_step = groups * g.window_floats();
    for (int quad = first_quad; quad < quads_all; quad += lanes) {
      const int image = quad < image_quads ? 0 : 1, in_image = quad - image * image_quads;  // images <= 2
      const int r = int(unsigned(in_image) / unsigned(quads)), q = in_image - r * quads;
      const int gr = first_row + r, gc = first_col + 4 * q;
      const bool row_in = unsigned(gr) < unsigned(h);
      const int valid_channels = img + image < s.n ? int(min64(count, s.c_in - c0)) : 0;  // the rest are zeros
      // Read only where in the plane.
      const float* src = x + ((img + image) * s.c_in + c0 + group) * plane + (int64_t(gr) * w + gc);
      float* dst = X + group * g.window_floats() + r * g.win_cols + image * g.image_window_cols() + 4 * q;
      if (vector) {
        const bool in_plane = row_in && unsigned(gc) < unsigned(w);  // w % 4 == 0: a quad is all in or all out
        for (int ch = group; ch < count; ch += groups, src += src_step, dst += dst_step) {
          const bool ok = in_plane && ch < valid_channels;
          gemm::copy_async_16(dst, ok ? src : x, ok);
        }
      } else {
        const int first_in = max(0, -gc), end_in = row_in ? min(4, w - gc) : 0;  // the quad's columns in the plane
        for (int ch = group; ch < count; ch += groups, src += src_step, dst += dst_step) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const bool ok = e >= first_in && e < end_in && ch < valid_channels;
            gemm::copy_async_4(dst + e, ok ? src + e : x, ok);
          }
        }
      }
    }
  }
  return int(col0 - start);
}

// The weights of channel c in registers when the kernel size is known at compile time.
template <int KH, int KW>
struct DepthwiseWeights {
  float w[KH * KW > 0 ? KH* KW : 1];
  __device__ void load(const float* __restrict__ w_dw, int64_t c, bool valid) {
    if constexpr (KH * KW > 0) {
#pragma unroll
      for (int i = 0; i < KH * KW; ++i) w[i] = valid ? __ldg(w_dw + c * KH * KW + i) : 0.0f;
    }
  }
};

// Depthwise taps staged in shared memory, a channel's row in whole float4: its KH x KW taps,
// then its bias. Read as float4 into registers where a thread starts a channel's block.
template <int KH, int KW>
struct StagedTaps {
  static constexpr int kStride = (KH * KW + 1 + 3) / 4 * 4;  // floats a channel
  // Rows [0, rows) from channels c0, c0 + 1, ...: zeros past the valid `count` (such channels
  // make t = 0), and for the bias where there is none.
  __device__ static void stage(float* __restrict__ S, const float* __restrict__ w_dw, const float* __restrict__ b_dw,
                               int64_t c0, int count, int rows, int tid, int threads) {
    for (int i = tid; i < rows * kStride; i += threads) {
      const int c = i / kStride, k = i % kStride;
      float v = 0.0f;
      if (c < count && k < KH * KW) v = w_dw[(c0 + c) * KH * KW + k];
      if (c < count && k == KH * KW && b_dw) v = b_dw[c0 + c];
      S[i] = v;
    }
  }
  __device__ static void read(const float* __restrict__ S, int c, float (&w)[kStride]) {
#pragma unroll
    for (int u = 0; u < kStride / 4; ++u)
      *reinterpret_cast<float4*>(&w[4 * u]) = *reinterpret_cast<const float4*>(S + c * kStride + 4 * u);
  }
};

// Channel c's taps into wr, and its run of t started from its bias: how every forward run of
// a channel begins (zeros where !valid, a channel past C_in).
template <int KH, int KW, int kRun, class Index>
__device__ __forceinline__ void start_channel(const float* __restrict__ w_dw, const float* __restrict__ b_dw, Index c,
                                              bool valid, DepthwiseWeights<KH, KW>& wr, float (&t)[kRun]) {
  wr.load(w_dw, c, valid);
  const float bias = b_dw && valid ? __ldg(b_dw + c) : 0.0f;
#pragma unroll
  for (int q = 0; q < kRun; ++q) t[q] = bias;
}

// Pixel q of a thread's run.
template <int kRun>
__device__ __forceinline__ int run_pixel(int run, int q) {
  return run + q * (kPixels / kRun);
}

// A tile whose steps are known at compile time: stride kStride both ways, unit dilation,
// kCols-wide tiles (4 x 32, or 8 x 16 for narrow images; kImagePairs: two images of at most
// 8 x 8 outputs). depthwise_run then finds every element a run reads at a compile-time
// offset from one address. RunTimeSteps: any other.
template <int kStride_, int kCols_, bool kImagePairs = false>
struct FixedSteps {
  static constexpr int kStride = kStride_, kCols = kCols_;
  static_assert(!kImagePairs || kCols == 16, "image pairs: 8 x 16 tiles");
  __host__ __device__ static constexpr int window_cols(int kw) {  // g.win_cols
    return kImagePairs ? 2 * dsconv::window_cols(8, kw, kStride, 1) : dsconv::window_cols(kCols, kw, kStride, 1);
  }
  __host__ __device__ static constexpr int second_image_shift(int kw) {  // g.second_image_shift
    return kImagePairs ? dsconv::window_cols(8, kw, kStride, 1) - 8 * kStride : 0;
  }
};
struct RunTimeSteps {};
template <class Steps>
constexpr bool kFixedSteps = !std::is_same_v<Steps, RunTimeSteps>;

// The kRun outputs of a run of one channel, from the staged window:
// t[q] = bias + sum over taps of w * X[row * sh + i * dh][col * sw + j * dw + offset] for
// pixel (row, col) = run_pixel(run, q) of the tile. With kWeightGrad, also hands
// sink(tap, sum over q of X[...] * dt[q]) each tap's share of dW_dw.
// With FixedSteps, pixel run + q P (P = kPixels / kRun) sits at the window offset of pixel
// run plus that of pixel q P, because P is a multiple of the tile's width or divides it (no
// carry between row and column): one address register for all of a run's reads, each at an
// immediate offset, and an element two taps share (one row apart) is loaded once. At run-time
// steps each read's address is worked out: MobileNet's stride-2 layers (ncu, H100) spent 194
// instructions a run on 36 FFMA.
template <int kRun, int KH, int KW, bool kWeightGrad, class Steps = RunTimeSteps, class Sink>
__device__ __forceinline__ void depthwise_run(const float* __restrict__ window, const Geometry& g, const ConvShape& s,
                                              int run, int offset, const DepthwiseWeights<KH, KW>& wr,
                                              const float* __restrict__ w_global, bool channel_valid, float (&t)[kRun],
                                              const float (&dt)[kRun], Sink&& sink) {
  constexpr bool kFixed = kFixedSteps<Steps>;
  constexpr int kRunStep = kPixels / kRun;
  int base[kRun];  // window offset of each pixel under tap (0, 0)
  int win_cols = g.win_cols;
  if constexpr (kFixed) {
    constexpr int kS = Steps::kStride, kTw = Steps::kCols, kWinCols = Steps::window_cols(KW);
    static_assert(KH * KW > 0 && (kRunStep % kTw == 0 || kTw % kRunStep == 0), "fixed steps: known taps, no carry");
    auto place = [](int p) {
      const int col = p % kTw;
      return p / kTw * kS * kWinCols + col * kS + (col >> 3) * Steps::second_image_shift(KW);
    };
#pragma unroll
    for (int q = 0; q < kRun; ++q) base[q] = place(q * kRunStep);
    window += place(run) + offset;
    win_cols = kWinCols;
  } else {
#pragma unroll
    for (int q = 0; q < kRun; ++q) {
      const int p = run_pixel<kRun>(run, q), row = p >> g.tw_shift, col = p & (g.tw - 1);
      base[q] = row * s.sh * g.win_cols + col * s.sw + offset + (col >> 3) * g.second_image_shift;  // 0 for one image
    }
  }
  auto tap = [&](int i, int j, float wv) {
    const float* src = kFixed ? window + i * win_cols + j : window + i * s.dh * g.win_cols + j * s.dw;
    float grad = 0.0f;
#pragma unroll
    for (int q = 0; q < kRun; ++q) {
      const float xv = src[base[q]];
      t[q] = fmaf(wv, xv, t[q]);
      if constexpr (kWeightGrad) grad = fmaf(xv, dt[q], grad);
    }
    return grad;
  };
  if constexpr (KH * KW > 0) {
#pragma unroll
    for (int i = 0; i < KH; ++i)
#pragma unroll
      for (int j = 0; j < KW; ++j) {
        const float grad = tap(i, j, wr.w[i * KW + j]);
        if constexpr (kWeightGrad) sink(i * KW + j, grad);
      }
  } else {
    for (int i = 0; i < s.kh; ++i)
      for (int j = 0; j < s.kw; ++j) {
        const float grad = tap(i, j, channel_valid ? __ldg(w_global + i * s.kw + j) : 0.0f);
        if constexpr (kWeightGrad) sink(i * s.kw + j, grad);
      }
  }
}

}  // namespace
}  // namespace dsconv
