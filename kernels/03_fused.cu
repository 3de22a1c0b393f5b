// fused: depthwise and pointwise in one pass; the intermediate t never goes to device memory.
//
// Forward. A block takes a tile of 128 output pixels (4 x 32, or 8 x 16 for narrow images)
// of one image - or of two images side by side, 8 x 8 each, where an image has at most 8 x 8
// outputs - and produces y for all C_out channels there (in 128-row slices). For each
// 32-channel slice of C_in it stages the x window the tile reads (the halo included, under
// any stride and dilation) in shared memory with asynchronous copies, computes that slice of
// t straight into shared memory, and multiplies it by the matching W_pw slice with the FFMA
// GEMM engine (common/ffma_gemm.cuh). When all of W_pw fits the two slice buffers
// (C_out <= 128, C_in <= 64) it is copied once per block and stays there. The copies for the
// next slice - of this tile or the next - are in flight while the current one is computed,
// and persistent blocks walk the tiles. Biases are added in registers.
// Where the tiles are fewer than the blocks the device holds at once (small images), the
// chunks of C_in are split across rows of blocks, and a second kernel adds the splits' sums
// in a fixed order (MobileNet's 14 x 14 layers, H100: 0.045-0.107 ms against 0.078-0.215).
// MobileNet's layers (C_in > 64) take this kernel. H100, each change in the same process as
// 083f59b's kernel: a thread's window copies placed once, not once an element, and
// compile-time depthwise offsets at stride 1 and 2 (FixedSteps), 2% (b7) to 18% (b2) off
// the forward of each of the 12 layers; then two 7 x 7 images a tile, b14, b15 and b17 at
// 0.083, 0.087 and 0.122 ms against 0.107, 0.122 and 0.218.
//
// On sm_90, when C_in <= 64 and C_out <= 128 (the KernelBench shape), the forward takes a
// TMA kernel instead, with W_pw^T resident and the x windows brought in by the TMA unit
// (zeros for the padding): at unit stride, "same" padding and 1 x 1 or 3 x 3,
// fused_forward_wide_kernel (one block a multiprocessor: a producer warp group makes t from
// `tiled`'s depthwise arithmetic, two consumer groups multiply it with 16 x 8 register blocks;
// sm_90a code); else fused_forward_tma_kernel (8 x 8 blocks).
//
// Against `tiled`, the forward saves the 1 GB write and the 1 GB read of t and one of the
// two launches: the memory traffic is the floor's, x in and y out, and what remains is
// arithmetic. H100, KernelBench shape, same process: 1.82 ms against cuDNN's 4.81, where
// fused_forward_tma_kernel took 2.29 and `tiled` takes 2.32. With t's float4 groups stored
// rotated by one, so that the GEMM's B and accumulator registers fall in opposite banks
// (gemm::b_slot): 1.78 against 1.81. With the producer and consumer warp groups: 1.71 against
// 1.77.
//
// Backward, per tile of 128 output pixels, in one kernel (launched once per 128-channel slice
// of C_out, with a row of blocks per 64-channel slice of C_in):
//   dt = W_pw^T dy     the dy tile staged in shared memory (16-byte copies), the GEMM
//                      engine, dt held in registers and stored (float4) for the dx pass;
//   t  (recomputed)    from the staged x window, into shared memory;
//   dW_pw += dy t^T    the same dy tile and t, read along the pixels 4 at a time as the
//                      weight-gradient GEMM reads its rows (common/weight_grad_tile.cuh),
//                      the partial sums held in registers across all the block's tiles;
//   dW_dw, db_dw       x * dt and dt summed in a second pass over the window, dt in t's place;
//   db_pw              row sums of the staged dy.
// The copies overlap the arithmetic: the next tile's dy is copied as soon as both GEMMs are
// done with this one's (during the dW_dw pass), and its x window - all 64 channels at once
// when they fit, as at 3 x 3 - as soon as the dW_dw pass is done (during the next dt GEMM).
// H100, KernelBench shape, same process: 6.08 ms with dx, against 7.59 before. Overlapping
// the copies alone took this kernel from 6.86 to 6.74 ms; ablations of that version (ncu
// kernel times) put the copies - their issue, index arithmetic and waits - at a fifth of it
// and the two GEMMs at two fifths. Copies and the dt store without a division per element,
// and compile-time window offsets in the depthwise passes (FixedSteps), brought it to 5.30.
// On sm_90 at unit steps with "same" padding's window offset (BackwardWindows::tma_blocks) the
// window is one TMA box a tile, awaited on an mbarrier, and the two depthwise passes take 4 x 4
// blocks from float4 window rows, as the wide forward's: 4.38 ms for this kernel, 5.15 with dx
// (ncu had put the window copy's instructions at a tenth of the kernel); with each thread's
// taps kept in registers for the whole launch, 4.31 and 5.08; with its dW_dw and db_dw sums
// kept there too, across all its tiles, and db_pw's row sums split over all threads, 4.94
// with dx. The block then splits in two halves of 4 warps for the first part of each tile:
// half 0 makes dt and the db_pw sums while half 1 makes t and dW_pw (each needs only dy and
// its own product), meeting again for the dW_dw pass; the taps, staged in shared memory, no
// longer hold registers for the whole launch: 4.00 ms for this kernel, 4.77 with dx, against
// 4.20 and 4.97 in the same process. One 8 x 8 register block a thread for both halves'
// products (dt in half 0, dW_pw's sums in half 1): 3.85 and 4.62 (b660726). dt out of a
// tile of its own by one TMA store, half 0 no longer stalled on its stores, and the window in
// two boxes of 32 channels, the first issued halfway through the dW_dw pass: 4.58 / 4.59 ms
// with dx against 4.63 / 4.66 in the same process. Half 0, once its dt is out, taking dW_pw
// over the tile's last quarter of pixels: 3.73 / 3.76 for this kernel, 4.49 / 4.52 with dx,
// against 3.82 and 4.57 (c575eb8). t's float4 groups rotated by one, so that dW_pw's A and B
// sources fall in opposite register banks: 3.748 / 3.748 and 4.518 / 4.519, against 3.761 and
// 4.535 / 4.537.
// Before, dW_pw went through the engine, which wanted dy copied a second time, transposed,
// with 4-byte copies: 10.35 ms with dx.
// Per-block partial sums go to scratch memory and are added in a fixed order by a second
// kernel: no float atomics, bitwise reproducible. dt leaves the kernel once (1 GB at the
// KernelBench shape) for dx, the transposed depthwise convolution, which a second pass
// computes with the halo staged from dt (`tiled`'s kernels: common/depthwise_tma.cuh on
// sm_90 at unit stride, else common/depthwise_kernels.cuh); doing dx in the same kernel
// would need dt on a halo around every tile, that is recomputing a third more of the dt
// GEMM. t is never stored, in either pass.
//
// Precision: strict fp32, FFMA only.
#include <fmt/format.h>

#include <algorithm>
#include <type_traits>

#include "kernels/common/conv_shape.cuh"
#include "kernels/common/depthwise_kernels.cuh"
#include "kernels/common/depthwise_tma.cuh"
#include "kernels/common/ffma_gemm.cuh"
#include "kernels/common/fresh_index.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/common/tma.cuh"
#include "kernels/common/weight_grad_tile.cuh"
#include "kernels/cuda_check.h"
#include "kernels/kernel.h"
#include "kernels/tma_map.h"

namespace dsconv {
namespace {

constexpr int kThreads = gemm::kThreads;
constexpr int kPixels = 128;  // pixels per tile
// Depthwise work of a tile: each channel's 128 pixels are split into runs, run r taking pixels
// r, r + runs, r + 2 runs, ...: the lanes of one channel read adjacent window elements at
// each step. The forward pass, next to the GEMM's 64 accumulators, takes short runs (fewer
// registers); the backward pass, with registers to spare, long ones.
constexpr int kForwardRun = 4, kBackwardRun = 16;
constexpr int kChunk = 32;  // C_in channels per GEMM k-chunk (forward)

// The pixel tile and the x window behind it; host-computed, passed by value.
struct Geometry {
  int th = 4, tw = 32;             // tile rows and columns, th * tw == kPixels, tw a power of 2
  int tw_shift = 5;                // log2(tw)
  int win_rows = 0, win_cols = 0;  // x window per channel; win_cols a multiple of 4
  int channel_stride = 0;          // floats from one channel's window to the next
  int64_t tiles_h = 0, tiles_w = 0;
  int sub_channels = 0;  // channels staged at once
  // Images a tile holds side by side: 2 where an image has at most 8 x 8 outputs (the forward
  // on MobileNet's 7 x 7 layers), one in each 8 x 8 half of an 8 x 16 tile, their windows side
  // by side in each window row; else 1.
  int images = 1;
  int second_image_shift = 0;  // window columns from pixel column c's place to its second-image place
  __host__ __device__ int window_floats() const { return channel_stride; }
  __host__ __device__ int image_window_cols() const { return win_cols / images; }
  __host__ __device__ int64_t pixel_tiles(int64_t n) const { return (n + images - 1) / images * tiles_h * tiles_w; }
  // Tile column c's image (0 or 1) in the tile.
  __host__ __device__ int image_of_column(int c) const { return images == 2 ? c >> 3 : 0; }
};

// Floats a row of a channel's x window takes for `count` output columns: + 3 because a
// 16-byte-aligned start may sit up to 3 columns left of the window, rounded up to float4.
__host__ __device__ constexpr int window_cols(int count, int k, int stride, int dilation) {
  return (depthwise::window(count, k, stride, dilation) + 3 + 3) / 4 * 4;
}

// `run`: the pixels per thread run, which sets how many lanes read each channel's window at
// once (kPixels / run) and so the channel stride that keeps those reads conflict-free.
// `image_pairs`: two images of at most 8 x 8 outputs a tile where their windows fit (see
// Geometry::images).
Geometry make_geometry(const ConvShape& s, int max_window_floats, int max_sub_channels, int run,
                       bool image_pairs = false) {
  Geometry g;
  if (s.wo < 32) {  // narrow images waste less of an 8 x 16 tile
    g.th = 8;
    g.tw = 16;
    g.tw_shift = 4;
  }
  g.win_rows = depthwise::window(g.th, s.kh, s.sh, s.dh);
  auto finish = [&](Geometry& f) {
    // The channels a warp's lanes touch at once (16 lanes each on 16 adjacent pixels, or 8 on
    // 8) fall on different banks when a channel's stride is 16 (or 8 or 24) floats past a
    // multiple of 32; with 32 lanes a channel, a warp reads one channel.
    const int lanes = kPixels / run;
    f.channel_stride = f.win_rows * f.win_cols;
    while (lanes < 32 &&
           (lanes == 16 ? f.channel_stride % 32 != 16 : f.channel_stride % 32 != 8 && f.channel_stride % 32 != 24))
      f.channel_stride += 4;
    f.tiles_h = (s.ho + f.th - 1) / f.th;
    f.tiles_w = (s.wo + f.tw - 1) / f.tw;
    f.sub_channels = 0;
    for (int c = max_sub_channels; c >= 1; c /= 2)
      if (int64_t(c) * f.window_floats() <= max_window_floats) {
        f.sub_channels = c;
        break;
      }
  };
  g.win_cols = window_cols(g.tw, s.kw, s.sw, s.dw);
  finish(g);
  if (image_pairs && s.ho <= 8 && s.wo <= 8 && s.n > 1) {
    Geometry pairs = g;  // an 8 x 16 tile
    pairs.images = 2;
    pairs.win_cols = 2 * window_cols(8, s.kw, s.sw, s.dw);
    pairs.second_image_shift = pairs.image_window_cols() - 8 * s.sw;
    finish(pairs);
    if (pairs.sub_channels > 0) return pairs;
  }
  return g;
}

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
      base[q] = row * s.sh * g.win_cols + col * s.sw + offset + (col >> 3) * g.second_image_shift;  // 0: one image
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

// ---------------------------------------------------------------------------------------
// Forward.

// 31 KB per x buffer: 32 channels of a 6 x 40 window (3 x 3, stride 1) at a stride of 248;
// two blocks of 112.6 KB fill the multiprocessor's 228 KB.
constexpr int kForwardXFloats = 7936;
// GEMM k steps unrolled per loop trip: next to the depthwise code, more spills on sm_90.
constexpr int kForwardUnroll = 2;
template <class T>
constexpr size_t forward_smem_bytes() {
  return sizeof(float) * (size_t(2) * kChunk * T::BM + size_t(kChunk) * kPixels + 2 * size_t(kForwardXFloats));
}

// Two blocks a multiprocessor; one for the run-time kernel sizes, whose tap loops need more
// registers next to the GEMM's accumulators.
template <int KH, int KW>
constexpr int kForwardBlocksPerSM = KH* KW > 0 ? 2 : 1;

// Where tiles are fewer than the blocks the device holds at once (small images: a 7 x 7
// MobileNet layer has one tile an image), the chunks of C_in are split gridDim.y ways, a row
// of blocks a split, and the splits' sums go to `partial_y` (one copy of y a split, the bias
// in split 0's) for sum_planes to add in split order: deterministic, no atomics.
template <class T, int KH, int KW, class Steps>
__global__ __launch_bounds__(kThreads, kForwardBlocksPerSM<KH, KW>) void fused_forward_kernel(
    ConvShape s, Geometry g, const float* __restrict__ x, const float* __restrict__ w_dw,
    const float* __restrict__ b_dw, const float* __restrict__ w_pw, const float* __restrict__ b_pw,
    float* __restrict__ y, float* __restrict__ partial_y) {
  extern __shared__ __align__(16) float smem[];
  float* As = smem;                     // [2][kChunk][BM]: W_pw^T slices
  float* Bs = As + 2 * kChunk * T::BM;  // [kChunk][kPixels]: t slice
  float* Xs = Bs + kChunk * kPixels;    // [2][forward_x_floats]: x windows
  const int tid = threadIdx.x;
  const int m_tiles = int((s.c_out + T::BM - 1) / T::BM);
  const int64_t tiles = g.pixel_tiles(s.n) * m_tiles;
  // This block's split of C_in (blockIdx.y): chunks_per_split chunks from first_chunk(), fewer
  // in the last split. The split's index is read where it is used (fresh::block_y), so that
  // it holds no register through the GEMM.
  const int chunks = int((s.c_in + kChunk - 1) / kChunk), subs = kChunk / g.sub_channels;
  const int chunks_per_split = (chunks + int(gridDim.y) - 1) / int(gridDim.y);  // none empty: host-checked
  auto first_chunk = [&] { return fresh::block_y() * chunks_per_split; };
  const int stages_per_tile = min(chunks_per_split, chunks - first_chunk()) * subs;
  if (int64_t(blockIdx.x) >= tiles) return;
  const int64_t my_tiles = (tiles - 1 - blockIdx.x) / gridDim.x + 1;
  const int64_t stages = my_tiles * stages_per_tile;

  // Where a stage works: its tile and, within it, its chunk of C_in and sub-slice of that.
  // Stages are walked in order, so the tile's coordinates - 64-bit divisions - are worked
  // out once a tile, not once a stage.
  struct Where {
    int64_t tile;
    int img, oh0, ow0;  // n, H_out and W_out under 2^31: host-checked
    int m0, in_tile, chunk, sub;
  };
  const int subs_shift = __ffs(subs) - 1;  // subs is a power of 2
  auto locate = [&](int64_t tile) {
    const int64_t pixel_tile = tile / m_tiles, per_image = g.tiles_h * g.tiles_w, rem = pixel_tile % per_image;
    Where w{};
    w.tile = tile;
    w.img = int(pixel_tile / per_image) * g.images;  // the first of the tile's images
    w.oh0 = int(rem / g.tiles_w) * g.th;
    w.ow0 = int(rem % g.tiles_w) * g.tw;
    w.m0 = int(tile % m_tiles) * T::BM;
    w.chunk = first_chunk();
    return w;
  };
  auto advance = [&](Where& w) {
    if (++w.in_tile == stages_per_tile) w = locate(w.tile + gridDim.x);
    w.chunk = first_chunk() + (w.in_tile >> subs_shift);
    w.sub = w.in_tile & (subs - 1);
  };
  // The W slice buffer of a stage's chunk. stage / subs counts the block's chunks across
  // tiles, so the buffers alternate over that whole sequence: with an odd chunk count per
  // tile, a tile's first slice must not land in the buffer its predecessor's last slice is
  // still being multiplied from.
  // W resident: when one slice covers C_out and C_in fits the two buffers (C_out <= BM and
  // C_in <= 2 kChunk, as at the KernelBench shape), W is copied once, chunk c into buffer c,
  // and the stages copy only x.
  const bool resident_w = m_tiles == 1 && chunks <= 2;
  auto w_buffer = [&](int64_t stage, int chunk) {
    return As + (resident_w ? chunk : int((stage >> subs_shift) & 1)) * kChunk * T::BM;
  };
  auto copy_w = [&](float* buffer, int m0, int chunk) {
    gemm::KContiguousTile<T::BM, kChunk>::copy(buffer, w_pw + int64_t(m0) * s.c_in, s.c_in,
                                               int(min64(T::BM, s.c_out - m0)), int64_t(chunk) * kChunk, s.c_in, tid);
  };
  // Issues the copies of one stage: its x window and, at a chunk's first stage, the W slice.
  auto copy = [&](int64_t stage, const Where& w) {
    copy_x_window(Xs + (stage & 1) * kForwardXFloats, x, s, g, w.img,
                  int64_t(w.chunk) * kChunk + w.sub * g.sub_channels, g.sub_channels, w.oh0, w.ow0, tid);
    if (w.sub == 0 && !resident_w) copy_w(w_buffer(stage, w.chunk), w.m0, w.chunk);
    gemm::copy_async_commit();
  };

  float acc[T::TM][T::TN] = {};
  if (resident_w)  // in the first copy group
    for (int chunk = 0; chunk < chunks; ++chunk) copy_w(w_buffer(0, chunk), 0, chunk);
  Where w = locate(blockIdx.x);  // the stage computed
  copy(0, w);
  for (int64_t stage = 0; stage < stages; ++stage, advance(w)) {
    if (stage + 1 < stages) {
      Where next = w;  // at a tile's last stage, the next tile is located here and again below
      advance(next);
      copy(stage + 1, next);
    } else {
      gemm::copy_async_commit();  // an empty group keeps the wait count uniform
    }
    gemm::copy_async_wait<1>();
    __syncthreads();

    // The depthwise slice: sub_channels channels x 8 runs of 16 pixels.
    const float* window_base = Xs + (stage & 1) * kForwardXFloats;
    const int64_t col0 = w.ow0 * s.sw - s.pw;
    const int offset = s.w % 4 == 0 ? int(col0 - depthwise::floor_div(col0, 4) * 4) : 0;
    constexpr int kRuns = kPixels / kForwardRun;
    for (int item = tid; item < g.sub_channels * kRuns; item += kThreads) {
      const int ch = item / kRuns, run = item % kRuns;
      const int k = w.sub * g.sub_channels + ch;  // row of Bs
      const int64_t c = int64_t(w.chunk) * kChunk + k;
      const bool valid = c < s.c_in;
      DepthwiseWeights<KH, KW> wr;
      float t[kForwardRun];
      start_channel(w_dw, b_dw, c, valid, wr, t);
      const float no_dt[kForwardRun] = {};
      depthwise_run<kForwardRun, KH, KW, false, Steps>(window_base + ch * g.window_floats(), g, s, run, offset, wr,
                                                       w_dw + (valid ? c : 0) * s.kh * s.kw, valid, t, no_dt,
                                                       [](int, float) {});
#pragma unroll
      for (int q = 0; q < kForwardRun; ++q) Bs[k * kPixels + run_pixel<kForwardRun>(run, q)] = t[q];
    }
    __syncthreads();

    if (w.sub == subs - 1) {
      gemm::multiply_chunk<T, true, false, kChunk, kForwardUnroll>(w_buffer(stage, w.chunk), Bs, acc, tid);
      if (w.in_tile == stages_per_tile - 1) {  // the split's last chunk
        const int split = fresh::block_y();
        float* const out = fresh::grid_y() > 1 ? partial_y + split * s.y_elems() : y;  // the split's copy of y
#pragma unroll
        for (int i = 0; i < T::TM; ++i) {
          const int64_t co = w.m0 + T::row(tid, i);
          if (co < s.c_out) {
            const float bias = b_pw && split == 0 ? __ldg(b_pw + co) : 0.0f;  // split 0's
#pragma unroll
            for (int gq = 0; gq < T::kGroupsN; ++gq) {
              const int p = T::col_group(tid, gq), col = p & (g.tw - 1), image = g.image_of_column(col);
              const int64_t img = w.img + image, oh = w.oh0 + (p >> g.tw_shift), ow = w.ow0 + col - 8 * image;
              if (oh < s.ho && img < s.n) {
                const float v[4] = {acc[i][4 * gq] + bias, acc[i][4 * gq + 1] + bias, acc[i][4 * gq + 2] + bias,
                                    acc[i][4 * gq + 3] + bias};
                float* row = out + ((img * s.c_out + co) * s.ho + oh) * s.wo;
                if (s.wo % 4 == 0 && ow + 3 < s.wo) {
                  __stcs(reinterpret_cast<float4*>(row + ow), make_float4(v[0], v[1], v[2], v[3]));
                } else {
#pragma unroll
                  for (int e = 0; e < 4; ++e)
                    if (ow + e < s.wo) row[ow + e] = v[e];
                }
              }
            }
          }
#pragma unroll
          for (int j = 0; j < T::TN; ++j) acc[i][j] = 0.0f;
        }
      }
      // The next stage's copies refill the W slice buffer read two chunks from now: that is
      // the one just multiplied when a chunk has a single stage.
      __syncthreads();
    }
  }
  gemm::copy_async_wait<0>();
}

// ---------------------------------------------------------------------------------------
// Forward with TMA loads (sm_90+), for C_in <= 64 and C_out <= 128 - one GEMM tile deep and
// wide, as at the KernelBench shape - and rows of x a whole number of float4, where
// fused_forward_wide_kernel (below) does not apply: strides, dilations, paddings whose window
// offset is not "same" padding's, kernels other than 1 x 1 and 3 x 3, images under 32 wide.
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

// ---------------------------------------------------------------------------------------
// Forward with TMA windows and 16 x 8 register blocks (sm_90a), for the KernelBench case:
// unit stride and dilation, "same" padding, 1 x 1 or 3 x 3, C_in <= 64, C_out <= 128, rows of
// whole float4 and images at least 32 wide.
//
// One block a multiprocessor of three warp groups, warp-specialized:
//  - the producer makes t. Two TMA boxes a 4 x 32 pixel tile bring the x windows of 32
//    channels each (zeros for the padding and past C_in); each thread computes 4 x 4 blocks of
//    outputs of one channel from float4 reads of its window rows (depthwise_tma::for_each_tap,
//    `tiled`'s depthwise arithmetic: 6 x 3 reads for 16 outputs at 3 x 3), the taps and bias
//    from shared memory, into one of four t tiles. A half's next box is issued as soon as the
//    half is read, so it lands while the other half is computed;
//  - two consumers take the t tiles in turn. Each multiplies W_pw^T (resident) by its t tile,
//    64 deep, started from the bias, with the 16 x 8 accumulators of `tiled`'s forward GEMM
//    (128 FFMA for 6 shared-memory loads a k step, where fused_forward_tma_kernel's 8 x 8 does
//    64 for 4), hands the tile back and stores its y from registers.
// mbarriers alone pass the t tiles (full and empty, two a consumer), so a consumer waits only
// for its own next tile: the depthwise arithmetic and the y stores of one warp group run
// beside the other groups' GEMMs instead of between them. The accumulators need more registers
// than 384 threads can share evenly, so the producer hands most of its own to the consumers
// (setmaxnreg, an instruction of sm_90a code).
//
// Before it, two groups of 4 warps each made their own t and then multiplied it, two group
// barriers a tile (234 registers, 8 warps): H100, same process, 1.769 ms against 1.711 for
// this kernel (three runs each). ncu on that kernel (c329e9b's profile, docs/performance-
// notes.md) put 11% of its stall samples in the depthwise loop and 9.6% in the y stores, whose
// burst backs up the load/store unit. Left out, the stores saved 11% there; stored through
// shared memory by TMA, with only the t tile's space free for them, they were slower. With
// 5 x 5 the windows of 64 channels do not fit beside W and the t tiles: fused_forward_tma_kernel.
constexpr int kWideConsumers = 2;       // consumer warp groups
constexpr int kWideGroupThreads = 128;  // a warp group
constexpr int kWideThreads = kWideGroupThreads * (1 + kWideConsumers);
constexpr int kWideTBuffers = 2 * kWideConsumers;  // t tiles: two a consumer
constexpr int kWideHalves = 2;                     // a tile's windows come in two boxes
constexpr int kWideHalfChannels = kTmaK / kWideHalves;
// The block is launched with the register file's 65,536 shared by its threads, rounded down
// to a multiple of 8 (168 a thread for 384); setmaxnreg moves them: the producer's 40 and the
// consumers' 232 use the same 64,512.
constexpr int kWideLaunchRegisters = 65536 / kWideThreads / 8 * 8;
constexpr int kWideProducerRegisters = 40, kWideConsumerRegisters = 232;
static_assert(kWideGroupThreads * (kWideProducerRegisters + kWideConsumers * kWideConsumerRegisters) <=
                  kWideThreads * kWideLaunchRegisters,
              "the warp groups' registers must fit what the block was launched with");
constexpr int kWideRows = 4, kWideCols = 32;  // a tile
constexpr int kWideBlockRows = 4;             // depthwise: a producer thread's block is kWideBlockRows x 4
using WideTile = gemm::Tile<128, kWideRows * kWideCols, kTmaK, 16, 8, 2, 2>;
static_assert(WideTile::kWarps * 32 == kWideGroupThreads, "a consumer is one warp group");
static_assert(kWideBlockRows == kWideRows, "one depthwise block a tile column");

// The block's shared memory, in floats from a 128-byte aligned base (the TMA destinations
// first).
template <int KH, int KW>
struct WideLayout {
  using Window = depthwise_tma::Window<KH, KW, kWideRows, kWideCols>;
  static constexpr int kWindowFloats = Window::kRows * Window::kCols;      // a channel's, as the box lands
  static constexpr int kTapStride = StagedTaps<KH, KW>::kStride;           // a channel's taps, then its bias
  static constexpr int kX = 0;                                             // [kTmaK][kWindowFloats]
  static constexpr int kW = kX + kTmaK * kWindowFloats;                    // W_pw^T: [kTmaK][BM]
  static constexpr int kT = kW + kTmaK * WideTile::BM;                     // t: [kWideTBuffers][kTmaK][BN]
  static constexpr int kTaps = kT + kWideTBuffers * kTmaK * WideTile::BN;  // [kTmaK][kTapStride]
  static constexpr int kBias = kTaps + kTmaK * kTapStride;                 // b_pw: [BM]
  static constexpr int kFloats = kBias + WideTile::BM;
  static constexpr size_t bytes() { return sizeof(float) * kFloats; }
  static_assert(kWindowFloats % 4 == 0 && kWideHalfChannels * kWindowFloats % 32 == 0,
                "float4 reads of every channel's window, 128-byte aligned TMA destinations");
};

struct WideArgs {
  int c_in, c_out, ho, wo;
  int tiles, tiles_per_image, tiles_w;  // 4 x 32 pixel tiles
  int ph, pw;
};

// The mbarriers of the producer-consumer pipeline.
struct WideBarriers {
  uint64_t window_full[kWideHalves];  // a half's box has landed (1 arrival + its bytes)
  uint64_t t_full[kWideTBuffers];     // the producer's 128 threads have written the t tile
  uint64_t t_empty[kWideTBuffers];    // the consumer's 128 threads are done reading it
};

// 1 in code built for sm_90a, where fused_forward_wide_kernel is real, 0 elsewhere (it traps
// there): the host reads the copy of the code the device runs (wide_forward_usable).
__device__ int wide_forward_built =
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    1;
#else
    0;
#endif

template <int KH, int KW>
__global__ __launch_bounds__(kWideThreads, 1) void fused_forward_wide_kernel(
    const __grid_constant__ CUtensorMap x_map, const __grid_constant__ WideArgs a, const float* __restrict__ w_dw,
    const float* __restrict__ b_dw, const float* __restrict__ w_pw, const float* __restrict__ b_pw,
    float* __restrict__ y) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = WideTile;
  using L = WideLayout<KH, KW>;
  using W = typename L::Window;
  using depthwise_tma::kColsPerThread;
  // k steps a GEMM loop trip: 8, where `tiled`'s TMA GEMM takes 4 for this register block
  // (H100, same process: 1.820 / 1.820 ms against 1.864 / 1.853).
  constexpr int kUnroll = 8;
  extern __shared__ __align__(128) float wide_smem[];  // 128: the TMA destinations
  __shared__ WideBarriers bars;
  const int tid = threadIdx.x, role = tid / kWideGroupThreads, gtid = tid % kWideGroupThreads;
  const float* Ws = wide_smem + L::kW;
  float* taps = wide_smem + L::kTaps;
  float* bias_pw = wide_smem + L::kBias;
  auto t_tile = [&](int buffer) { return wide_smem + L::kT + buffer * kTmaK * T::BN; };

  gemm::copy_resident_a<T, true>(wide_smem + L::kW, w_pw, a.c_in, a.c_out, a.c_in, 1, tid, kWideThreads);
  gemm::copy_async_commit();
  // Channels past C_in make t = 0, and meet zero rows of W_pw^T.
  StagedTaps<KH, KW>::stage(taps, w_dw, b_dw, 0, a.c_in, kTmaK, tid, kWideThreads);
  for (int m = tid; m < T::BM; m += kWideThreads) bias_pw[m] = b_pw && m < a.c_out ? b_pw[m] : 0.0f;
  if (tid == 0) {
    for (int h = 0; h < kWideHalves; ++h) tma::barrier_init(&bars.window_full[h], 1);  // the issuer + the bytes
    for (int b = 0; b < kWideTBuffers; ++b) {
      tma::barrier_init(&bars.t_full[b], kWideGroupThreads);
      tma::barrier_init(&bars.t_empty[b], kWideGroupThreads);
    }
    tma::barrier_init_fence();
  }
  gemm::copy_async_wait<0>();
  __syncthreads();

  // The block's tiles: blockIdx.x, + gridDim.x, ...; the i-th goes through t buffer
  // i % kWideTBuffers to consumer i % kWideConsumers.
  const int first = int(blockIdx.x), step = int(gridDim.x);
  if (role == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kWideProducerRegisters));
    // Half h of tile `tile`'s windows, from W::kOffset columns left of its first input column.
    auto issue = [&](int tile, int h) {
      const int rem = tile % a.tiles_per_image;
      tma::barrier_arrive_expect_bytes(&bars.window_full[h],
                                       uint32_t(kWideHalfChannels * L::kWindowFloats * sizeof(float)));
      tma::load_box(wide_smem + L::kX + h * kWideHalfChannels * L::kWindowFloats, &x_map,
                    (rem % a.tiles_w) * kWideCols - a.pw - W::kOffset, (rem / a.tiles_w) * kWideRows - a.ph,
                    h * kWideHalfChannels, tile / a.tiles_per_image, &bars.window_full[h]);
    };
    if (gtid == 0 && first < a.tiles)
      for (int h = 0; h < kWideHalves; ++h) issue(first, h);
    __syncwarp();

    // This thread's 4 x 4 blocks: column group tx of channels channel0, + 16, + 32, + 48.
    constexpr int kBlockCols = kWideCols / kColsPerThread;          // threads a channel
    constexpr int kChannelsAPass = kWideGroupThreads / kBlockCols;  // channels the group does at once
    const int tx = gtid % kBlockCols, channel0 = gtid / kBlockCols;
    const float* window_block = wide_smem + L::kX + kColsPerThread * tx;

    for (int i = 0, tile = first; tile < a.tiles; ++i, tile += step) {
      const int buffer = i % kWideTBuffers, use = i / kWideTBuffers;
      if (use > 0) tma::barrier_wait(&bars.t_empty[buffer], (use - 1) & 1);
      float* t_block = t_tile(buffer) + kColsPerThread * tx;
#pragma unroll 1
      for (int h = 0; h < kWideHalves; ++h) {
        tma::barrier_wait(&bars.window_full[h], i & 1);
#pragma unroll 1
        for (int c = h * kWideHalfChannels + channel0; c < (h + 1) * kWideHalfChannels; c += kChannelsAPass) {
          float wv[L::kTapStride];
          StagedTaps<KH, KW>::read(taps, c, wv);
          float acc[kWideBlockRows][kColsPerThread];
#pragma unroll
          for (int o = 0; o < kWideBlockRows; ++o)
#pragma unroll
            for (int q = 0; q < kColsPerThread; ++q) acc[o][q] = wv[KH * KW];
          depthwise_tma::for_each_tap<W, kWideBlockRows>(
              window_block + c * L::kWindowFloats,
              [&](int o, int k, int q, float x) { acc[o][q] = fmaf(wv[k], x, acc[o][q]); });
#pragma unroll
          for (int o = 0; o < kWideBlockRows; ++o)  // float4 groups rotated by one (gemm::b_slot)
            *reinterpret_cast<float4*>(t_block + c * T::BN + o * kWideCols) =
                make_float4(acc[o][1], acc[o][2], acc[o][3], acc[o][0]);
        }
        tma::sync_threads(1, kWideGroupThreads);  // every producer thread is done with this half's windows
        if (gtid == 0 && tile + step < a.tiles) issue(tile + step, h);
        __syncwarp();  // the issuing lane rejoins its warp
      }
      tma::barrier_arrive(&bars.t_full[buffer]);
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kWideConsumerRegisters));
    const int consumer = role - 1;
    for (int i = consumer, tile = first + consumer * step; tile < a.tiles;
         i += kWideConsumers, tile += kWideConsumers * step) {
      const int buffer = i % kWideTBuffers, use = i / kWideTBuffers;
      tma::barrier_wait(&bars.t_full[buffer], use & 1);
      float start[T::TM];  // row i's bias: the addend of the first k step
#pragma unroll
      for (int g = 0; g < T::kGroupsM; ++g)
        *reinterpret_cast<float4*>(&start[4 * g]) = *reinterpret_cast<const float4*>(&bias_pw[T::row_group(gtid, g)]);
      float acc[T::TM][T::TN];
      gemm::multiply_first_chunk<T, false, false, kTmaK, kUnroll, true>(start, Ws, t_tile(buffer), acc, gtid);
      tma::barrier_arrive(&bars.t_empty[buffer]);

      // y: a float4 a column group (wo % 4 == 0: all in or all out). A thread's rows are
      // groups of 4 consecutive channels: one 64-bit address a column group and row group,
      // the rows a plane apart.
      const int img = tile / a.tiles_per_image, rem = tile % a.tiles_per_image;
      const int oh0 = (rem / a.tiles_w) * kWideRows, ow0 = (rem % a.tiles_w) * kWideCols;
      const int64_t plane = int64_t(a.ho) * a.wo;
      float* const y_image = y + img * a.c_out * plane;
      float* at[T::kGroupsN];  // this thread's column groups in channel 0
      bool inside[T::kGroupsN];
#pragma unroll
      for (int g = 0; g < T::kGroupsN; ++g) {
        const int p = T::col_group(gtid, g), oh = oh0 + p / kWideCols, ow = ow0 + p % kWideCols;
        inside[g] = oh < a.ho && ow < a.wo;
        at[g] = y_image + oh * a.wo + ow;
      }
#pragma unroll
      for (int gm = 0; gm < T::kGroupsM; ++gm) {
        const int co0 = T::row_group(gtid, gm);
#pragma unroll
        for (int g = 0; g < T::kGroupsN; ++g) {
          float* row = at[g] + co0 * plane;
#pragma unroll
          for (int r = 0; r < 4; ++r, row += plane) {
            const float* v = acc[4 * gm + r] + 4 * g;
            if (inside[g] && co0 + r < a.c_out)
              __stcs(reinterpret_cast<float4*>(row), make_float4(v[0], v[1], v[2], v[3]));
          }
        }
      }
    }
  }
#else
  __trap();  // the host launches this only where the binary has sm_90a code
#endif
}

// ---------------------------------------------------------------------------------------
// Backward.

constexpr int kCiSlice = 64;             // C_in channels per launch
constexpr int kCoSlice = 128;            // C_out channels per launch
constexpr int kBackwardXFloats = 16384;  // 64 KB of x window: all 64 channels' at 3 x 3
constexpr int kMaxWeightSlots = 50;      // taps + 1 (the bias) that the dW_dw accumulator holds: 7 x 7
using DtTile = gemm::Tile<kCiSlice, kPixels, 32, 4, 8, 2, 4>;  // dt[ci][px] = W^T dy
// tma_blocks splits the block in two halves of 4 warps that work side by side on a tile:
// half 0 makes dt (8 x 8 register blocks) and the db_pw row sums, while half 1 makes t and
// dW_pw (the whole tile's pixels). Neither needs the other's result until the dW_dw pass.
constexpr int kHalfThreads = kThreads / 2;
using SplitDtTile = gemm::Tile<kCiSlice, kPixels, 32, 8, 8, 2, 2>;
// dW[co][ci] += dy t^T reads the dy and t tiles along the pixels, 4 at a time, as the
// weight-gradient GEMM reads its rows (common/weight_grad_tile.cuh): one copy of dy serves
// both GEMMs, and t is stored as computed. Their rows are padded to kRowPitch floats, 1 float4
// past a multiple of 32, so that 8 consecutive rows fall on 8 different float4 banks.
using WeightTile = gemm::WeightGradTile;
constexpr int kRowPitch = kPixels + 4;
static_assert(WeightTile::BM == kCoSlice && WeightTile::BN == kCiSlice, "the weight-gradient tile is a slice's W");

// A launch takes one 128-channel slice of C_out and every 64-channel slice of C_in, one a
// blockIdx.y: the C_in slices share nothing (each has its own dt, dW and taps), while a later
// C_out slice adds to the dt of an earlier one and waits for its launch.
struct CoSlice {
  int64_t co0;
  bool first, last, bias_pw;  // bias_pw: the problem has b_pw (db_pw is summed over dy)
};

// A block's pair of slices: its launch's of C_out and blockIdx.y's of C_in.
struct BackwardSlice {
  int64_t ci0, co0;
  bool first_co, last_co, bias_pw;  // bias_pw: this block sums dy for db_pw

  __device__ static BackwardSlice of_block(const CoSlice& co) {
    return {int64_t(blockIdx.y) * kCiSlice, co.co0, co.first, co.last,
            co.bias_pw && blockIdx.y == 0};  // db_pw once a C_out slice
  }
};

// How the backward stages a tile's x window and runs its two depthwise passes over it.
enum class BackwardWindows {
  copied,     // cp.async copies; a thread a run of 16 pixels, window offsets worked out at run time
  unit_tile,  // the same at unit stride and dilation on 4 x 32 tiles: compile-time offsets
  // One TMA box of all 64 channels a tile (sm_90; unit steps, 4 x 32 tiles, "same" padding's
  // window offset, rows of whole float4); a thread a 4 x 4 block of one channel, read as float4
  // rows: 6 x 3 loads for 16 outputs at 3 x 3, where a run of 16 takes 72 scalar ones.
  tma_blocks,
};
constexpr int kUnitRows = 4, kUnitCols = 32;                           // the unit tile
constexpr int kBlockCols = kUnitCols / depthwise_tma::kColsPerThread;  // 4 x 4 blocks along a tile row
constexpr int kBlockPasses = kCiSlice * kBlockCols / kThreads;         // blocks a thread, of fixed channels
// Half 0 is done with dt long before half 1 is done with dW_pw: at 16,500 and 25,800 cycles of
// a 30,100-cycle tile (clock64 phase timings, docs/performance-notes.md), as half 1 first
// waits for the window and makes t. So half 0 then takes dW_pw over the tile's pixels from
// kHalf1Pixels on, in the registers dt has left, once half 1 has made t, and hands its sums
// to half 1 through T at the tile's end: a fixed split and a fixed order of addition, so
// still deterministic. With half 0 taking 16, 24, 32, 40, 48 or 64 of the 128 pixels, the
// fused kernel took 3.804, 3.778, 3.752, 3.751, 3.777 and 3.830 ms against 3.814 to 3.819
// with none (H100, KernelBench shape, two calls; that build signalled t by a named barrier,
// which racecheck cannot follow).
constexpr int kHalf1Pixels = 96;
static_assert(kUnitRows * kUnitCols == kPixels && kCiSlice * kBlockCols % kThreads == 0,
              "whole 4 x 4 blocks, the same number for every thread");
template <int KH, int KW>
using BackwardWindow = depthwise_tma::Window<KH, KW, kUnitRows, kUnitCols>;  // tma_blocks' layout
template <int KH, int KW>                                                    // a channel's
constexpr int kBackwardWindowFloats = BackwardWindow<KH, KW>::kRows* BackwardWindow<KH, KW>::kCols;
static_assert(kCiSlice * kBackwardWindowFloats<3, 3> <= kBackwardXFloats, "a 3 x 3 box fits X");
// The backward block's shared memory, in floats from a 128-byte aligned base. tma_blocks
// gives dt a tile of its own (DT), unpadded as a TMA store reads it, which half 0 fills while
// half 1 still reads t: room made by sizing X to the box and DW to the staged taps (the dW_dw
// sums go to D's space once the loop is over). 226 KB of the 227 a block may have (H100).
// Else dt takes t's place after the dW_pw GEMM.
template <int KH, int KW, bool kTma>
struct BackwardLayout {
  static constexpr int kWs = 0;                         // W slice [co][ci]
  static constexpr int kD = kWs + kCoSlice * kCiSlice;  // dy tile [co][px]
  static constexpr int kT = kD + kCoSlice * kRowPitch;  // t tile [ci][px]
  static constexpr int kX = kT + kCiSlice * kRowPitch;  // x window
  static constexpr int kXFloats = kTma ? kCiSlice * kBackwardWindowFloats<KH, KW> : kBackwardXFloats;
  static constexpr int kDT = kTma ? kX + kXFloats : kT;  // dt tile [ci][px], rows kDtPitch apart
  static constexpr int kDtPitch = kTma ? kPixels : kRowPitch;
  static constexpr int kDW = kX + kXFloats + (kTma ? kCiSlice * kPixels : 0);  // staged taps, or dW_dw sums
  static constexpr int kDWFloats = kTma ? kCiSlice * StagedTaps<KH, KW>::kStride : kCiSlice * kMaxWeightSlots;
  static constexpr int kFloats = kDW + kDWFloats;
  static constexpr size_t bytes() { return sizeof(float) * kFloats; }
  static_assert(kX % 32 == 0 && kDW % 4 == 0, "X a 128-byte aligned TMA destination, DW rows of whole float4");
  static_assert(!kTma || kCiSlice * kMaxWeightSlots <= kCoSlice * kRowPitch, "the dW_dw sums fit D's space");
  // sm_90 lets a block have 227 KB of shared memory, the kernel's static barriers included.
  static_assert(bytes() + 1024 <= 227 * 1024, "the layout and 1 KB of static shared memory fit a block");
};

// tma_blocks' window comes in two boxes of 32 channels, each on its own mbarrier: the dW_dw
// pass frees the first half of X halfway through, and the next tile's first box is issued
// then; the t pass starts on it while the second lands.
constexpr int kWindowParts = 2, kPartChannels = kCiSlice / kWindowParts;
constexpr int kBlockPassesAPart = kBlockPasses / kWindowParts;
static_assert(kBlockPassesAPart * kWindowParts == kBlockPasses, "a pass's channels are all in one box");

// Channel ci's 4 x 4 block at column block tx of the tile, tma_blocks: t into T (bias first,
// then the taps in for_each_tap's order), the taps from `taps` (StagedTaps).
template <int KH, int KW>
__device__ __forceinline__ void t_block(const float* __restrict__ X, float* __restrict__ T, const float* taps, int ci,
                                        int tx) {
  float w[StagedTaps<KH, KW>::kStride];
  StagedTaps<KH, KW>::read(taps, ci, w);
  float t[kUnitRows][depthwise_tma::kColsPerThread];
#pragma unroll
  for (int o = 0; o < kUnitRows; ++o)
#pragma unroll
    for (int q = 0; q < depthwise_tma::kColsPerThread; ++q) t[o][q] = w[KH * KW];
  depthwise_tma::for_each_tap<BackwardWindow<KH, KW>, kUnitRows>(
      X + ci * kBackwardWindowFloats<KH, KW> + depthwise_tma::kColsPerThread * tx,
      [&](int o, int k, int q, float xv) { t[o][q] = fmaf(w[k], xv, t[o][q]); });
#pragma unroll
  for (int o = 0; o < kUnitRows; ++o)
    *reinterpret_cast<float4*>(&T[ci * kRowPitch + o * kUnitCols + depthwise_tma::kColsPerThread * tx]) =
        make_float4(t[o][1], t[o][2], t[o][3], t[o][0]);  // rotated by one (multiply_k_span)
}

// Adds the same block's shares of dW_dw (sum of x * dt under each tap) and of db_dw (sum of
// dt) to grad, tma_blocks: grad[tap] for each tap, then grad[taps] the dt sum.
template <int KH, int KW>
__device__ __forceinline__ void weight_grad_block(const float* __restrict__ X, const float* __restrict__ DT,
                                                  int dt_pitch, int ci, int tx, float (&grad)[KH * KW + 1]) {
  float d[kUnitRows][depthwise_tma::kColsPerThread];
  float dt_sum = 0.0f;
#pragma unroll
  for (int o = 0; o < kUnitRows; ++o) {
    *reinterpret_cast<float4*>(d[o]) =
        *reinterpret_cast<const float4*>(&DT[ci * dt_pitch + o * kUnitCols + depthwise_tma::kColsPerThread * tx]);
    dt_sum += (d[o][0] + d[o][1]) + (d[o][2] + d[o][3]);
  }
  depthwise_tma::for_each_tap<BackwardWindow<KH, KW>, kUnitRows>(
      X + ci * kBackwardWindowFloats<KH, KW> + depthwise_tma::kColsPerThread * tx,
      [&](int o, int k, int q, float xv) { grad[k] = fmaf(xv, d[o][q], grad[k]); });
  grad[KH * KW] += dt_sum;
}

// `a` if kFirst, else `b`: one name for storage that each instantiation places in one of two.
template <bool kFirst, class A, class B>
__device__ __forceinline__ auto& first_if(A& a, B& b) {
  if constexpr (kFirst)
    return a;
  else
    return b;
}

template <int KH, int KW, BackwardWindows kWindows>
__global__ __launch_bounds__(kThreads, 1) void fused_backward_kernel(
    const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap dt_map, ConvShape s, Geometry g,
    CoSlice co_slice, const float* __restrict__ x, const float* __restrict__ w_dw, const float* __restrict__ b_dw,
    const float* __restrict__ w_pw, const float* __restrict__ dy, float* __restrict__ dt_out,
    float* __restrict__ partial_dw_pw, float* __restrict__ partial_db_pw, float* __restrict__ partial_dw_dw,
    float* __restrict__ partial_db_dw) {
  constexpr bool kTma = kWindows == BackwardWindows::tma_blocks;
  using WindowSteps =
      std::conditional_t<kWindows == BackwardWindows::unit_tile, FixedSteps<1, kUnitCols>, RunTimeSteps>;
  extern __shared__ __align__(128) float backward_smem[];  // 128: X is a TMA destination
  __shared__ uint64_t window_full[kWindowParts];           // kTma: a box of the tile's window has landed
  // kTma: half 1 has made the tile's t. An mbarrier, which racecheck follows, where a named
  // barrier that half 1 arrives at and half 0 waits on drew false hazards.
  __shared__ uint64_t t_done;
  using L = BackwardLayout<KH, KW, kTma>;
  float* Ws = backward_smem + L::kWs;
  float* D = backward_smem + L::kD;
  float* T = backward_smem + L::kT;
  float* DT = backward_smem + L::kDT;  // else than kTma t's place: the tile's pixels at the same places
  float* X = backward_smem + L::kX;
  float* DW = backward_smem + L::kDW;
  const int tid = threadIdx.x;
  const BackwardSlice slice = BackwardSlice::of_block(co_slice);
  const int taps = s.kh * s.kw, slots = taps + 1;
  const int co_count = int(min64(kCoSlice, s.c_out - slice.co0)), ci_count = int(min64(kCiSlice, s.c_in - slice.ci0));
  const int64_t per_image = g.tiles_h * g.tiles_w, tiles = s.n * per_image;
  // The x window of all the slice's channels fits at once: it is copied once a tile, during
  // the previous tile's last phase and this tile's dt GEMM. Else each pass over the channels
  // copies it sub_channels at a time. A TMA box is always the whole window.
  const bool whole_window = kTma || g.sub_channels >= kCiSlice;
  const bool dt_vector = s.wo % 4 == 0 && reinterpret_cast<uintptr_t>(dt_out) % 16 == 0;

  // kTma: DW holds the slice's taps (StagedTaps) until the loop is over, as half 1's t pass
  // reads them; it gets the dW_dw sums after. Else it sums them from the first tile on.
  static_assert(!kTma || StagedTaps<KH, KW>::kStride <= kMaxWeightSlots, "the staged taps fit DW's rows");
  if constexpr (kTma)
    StagedTaps<KH, KW>::stage(DW, w_dw, b_dw, slice.ci0, ci_count, kCiSlice, tid, kThreads);
  else
    for (int i = tid; i < kCiSlice * kMaxWeightSlots; i += kThreads) DW[i] = 0.0f;
  // W slice: Ws[co][ci] = W[co0 + co][ci0 + ci], zeros outside.
  for (int idx = tid; idx < kCoSlice * kCiSlice; idx += kThreads) {
    const int co = idx / kCiSlice, ci = idx % kCiSlice;
    const bool ok = co < co_count && ci < ci_count;
    gemm::copy_async_4(&Ws[idx], ok ? w_pw + (slice.co0 + co) * s.c_in + slice.ci0 + ci : w_pw, ok);
  }
  gemm::copy_async_commit();
  if constexpr (kTma) {
    if (tid == 0) {
      for (auto& full : window_full) tma::barrier_init(&full, 1);  // the issuer's arrival + the box's bytes
      tma::barrier_init(&t_done, kHalfThreads);                    // every thread of half 1
      tma::barrier_init_fence();
    }
  }

  struct TileOrigin {
    int64_t img, oh0, ow0;
  };
  // The block's walk over the tiles: a tile's place is carried to the next by additions.
  // Placing this tile and the next from scratch took four 64-bit divisions a tile in every
  // warp, at the top of the tile where every warp waits: about 2% of the kernel's samples
  // (H100). One 32-bit division by the tile columns is left.
  const gemm::TileStride stride(gridDim.x, int(per_image));
  auto origin = [&](const gemm::TilePlace& p) {
    const int row = p.p_tile / int(g.tiles_w), col = p.p_tile - row * int(g.tiles_w);
    return TileOrigin{p.img, int64_t(row) * g.th, int64_t(col) * g.tw};
  };
  // dy rows of this slice for the tile at o: D[co][px], zeros outside; 16 bytes a copy when
  // rows are whole float4 (the tile's columns start on multiples of 16, so each float4 of a
  // tile row is then all inside the image or all outside). A thread copies the same pixels
  // (px) of every rows_per_pass-th channel.
  const int vector = s.wo % 4 == 0 && reinterpret_cast<uintptr_t>(dy) % 16 == 0 ? 4 : 1;
  const int64_t plane = s.ho * s.wo;
  const int lanes_per_row = kPixels / vector, rows_per_pass = kThreads / lanes_per_row;
  const int copy_px = vector * (tid % lanes_per_row), copy_row = copy_px >> g.tw_shift, copy_col = copy_px & (g.tw - 1);
  auto copy_dy = [&](TileOrigin o) {
    const bool pixel_in = o.oh0 + copy_row < s.ho && o.ow0 + copy_col < s.wo;
    const int co_first = tid / lanes_per_row;
    const float* src =
        dy + (o.img * s.c_out + slice.co0 + co_first) * plane + (o.oh0 + copy_row) * s.wo + o.ow0 + copy_col;
    if (vector == 4) {
      // The same loop with its step known: unrolled, the source advancing by additions.
      constexpr int kRowsPerPass = kThreads / (kPixels / 4);
      const int64_t step = kRowsPerPass * plane;
#pragma unroll 4
      for (int co = co_first; co < kCoSlice; co += kRowsPerPass, src += step) {
        const bool ok = pixel_in && co < co_count;
        gemm::copy_async_16(&D[co * kRowPitch + copy_px], ok ? src : dy, ok);
      }
    } else {
      for (int co = co_first; co < kCoSlice; co += rows_per_pass, src += rows_per_pass * plane) {
        const bool ok = pixel_in && co < co_count;
        gemm::copy_async_4(&D[co * kRowPitch + copy_px], ok ? src : dy, ok);
      }
    }
    gemm::copy_async_commit();
  };
  auto copy_window = [&](TileOrigin o, int c_first, int count) {
    copy_x_window(X, x, s, g, o.img, slice.ci0 + c_first, count, o.oh0, o.ow0, tid);
    gemm::copy_async_commit();
  };
  // kTma: box `part` of the window of the tile at o, from W::kOffset columns left of its first
  // input column (one thread issues it); window_phase is the parity of the boxes in hand.
  uint32_t window_phase = 0, t_phase = 0;  // t_phase: of t_done, in half 0
  auto issue_window_part = [&](TileOrigin o, int part) {
    if constexpr (kTma) {
      using W = BackwardWindow<KH, KW>;
      constexpr int kPartFloats = kPartChannels * W::kRows * W::kCols;
      tma::barrier_arrive_expect_bytes(&window_full[part], uint32_t(kPartFloats * sizeof(float)));
      tma::load_box(X + part * kPartFloats, &x_map, int(o.ow0) - s.pw - W::kOffset, int(o.oh0) - s.ph,
                    int(slice.ci0) + part * kPartChannels, int(o.img), &window_full[part]);
    }
  };
  auto issue_window = [&](TileOrigin o) {
    for (int part = 0; part < kWindowParts; ++part) issue_window_part(o, part);
  };
  auto await_window_part = [&](int part) { tma::barrier_wait(&window_full[part], window_phase); };
  // kTma: fn(pass, ci, tx) for each 4 x 4 block of the slice's channels, shared by `threads`
  // threads of which this is thread `id`, `passes` blocks each. The 8 blocks of a channel are
  // 8 consecutive lanes, and a thread's pass-th block is of the same channel every tile.
  auto for_each_block = [&](auto passes, int id, int threads, auto&& fn) {
#pragma unroll
    for (int pass = 0; pass < decltype(passes)::value; ++pass) {
      const int item = pass * threads + id;
      fn(pass, item / kBlockCols, item % kBlockCols);
    }
  };
  const int half = tid / kHalfThreads, half_tid = tid % kHalfThreads;
  // kTma: this thread's shares of dW_dw and db_dw for its blocks of the dW_dw pass, summed
  // over all the launch's tiles in registers and reduced across a channel's lanes once, after
  // the loop (a reduction and a shared-memory update a tile took 20 shuffles a block).
  float block_grad[kBlockPasses][KH * KW + 1] = {};
  // fn(ci, run, window) for each run of each channel of the slice, the channel's x window
  // staged; every thread calls it, and it ends on a block barrier. `resident`: the whole
  // window is already in X and visible to all threads.
  constexpr int kRuns = kPixels / kBackwardRun;
  auto for_each_run = [&](TileOrigin o, bool resident, auto&& fn) {
    for (int c_first = 0; c_first < kCiSlice; c_first += g.sub_channels) {
      if (!whole_window) {
        if (c_first > 0) __syncthreads();  // the previous channels' window is no longer read
        copy_window(o, c_first, g.sub_channels);
      }
      if (!resident) {
        gemm::copy_async_wait<0>();
        __syncthreads();
      }
      for (int item = tid; item < g.sub_channels * kRuns; item += kThreads) {
        const int ch = item / kRuns;
        fn(c_first + ch, item % kRuns, X + ch * g.window_floats());
      }
    }
    __syncthreads();
  };

  // dW_pw: each thread an 8 x 8 block (rows tm + 16 i, columns tn + 8 j), summed across all
  // tiles; kTma: half 1's, over a tile's first kHalf1Pixels pixels, with half 0's sums over
  // the rest added at the tile's end (half 0 holds each tile's dt in the same registers
  // first); else the two halves of the block take alternate 4-pixel slices of each tile.
  const int tm = half_tid % WeightTile::kRowLanes, tn = half_tid / WeightTile::kRowLanes;
  float acc_w[WeightTile::TM][WeightTile::TN] = {};
  // kTma: half 0's share of a tile's dW_pw, handed to half 1 through T (free between the
  // tile's dW_pw and the next tile's t pass); each float4 of a thread kHalfThreads float4 apart,
  // so that a warp's stores and loads are contiguous.
  auto share_slot = [&](int i, int jg) {
    return reinterpret_cast<float4*>(T) + (i * (WeightTile::TN / 4) + jg) * kHalfThreads + half_tid;
  };
  auto stash_dw_pw_share = [&] {
#pragma unroll
    for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
      for (int jg = 0; jg < WeightTile::TN / 4; ++jg)
        *share_slot(i, jg) =
            make_float4(acc_w[i][4 * jg], acc_w[i][4 * jg + 1], acc_w[i][4 * jg + 2], acc_w[i][4 * jg + 3]);
  };
  auto take_dw_pw_share = [&] {
#pragma unroll
    for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
      for (int jg = 0; jg < WeightTile::TN / 4; ++jg) {
        const float4 v = *share_slot(i, jg);
        acc_w[i][4 * jg] += v.x, acc_w[i][4 * jg + 1] += v.y, acc_w[i][4 * jg + 2] += v.z, acc_w[i][4 * jg + 3] += v.w;
      }
  };
  static_assert(WeightTile::TM * WeightTile::TN * kHalfThreads <= kCiSlice * kRowPitch, "half 0's share fits T");
  // db_pw: thread tid sums row bias_row of each dy tile over pixels [bias_begin, bias_end), in
  // 4 lanes. kTma: half 0, a whole row a thread, beside half 1's t pass and dW_pw; else both
  // halves, half a row each (one thread a whole row, a chain of 128 dependent additions a
  // tile, kept half the block busy while the other half waited at the barrier).
  static_assert(kThreads == 2 * kCoSlice, "two threads a dy row");
  const int bias_row = tid % kCoSlice, bias_begin = kTma ? 0 : half * kPixels / 2,
            bias_end = kTma ? kPixels : bias_begin + kPixels / 2;
  const bool sums_bias = slice.bias_pw && bias_row < co_count && (!kTma || half == 0);
  float4 bias_pw_sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);

  // dt: the whole block in 4 x 8 register blocks, or (kTma) half 0 in 8 x 8 blocks.
  using Dt = std::conditional_t<kTma, SplitDtTile, DtTile>;
  const bool makes_dt = !kTma || half == 0;
  const int dt_id = kTma ? half_tid : tid;
  // kTma, first C_out slice: dt leaves through DT as one TMA store a tile, which no thread
  // waits for. From registers, half 0's stores took about 6,000 of a tile's 30,000 cycles
  // (clock64 phase timings, docs/performance-notes.md). The later slices add to it from
  // registers.
  const bool dt_by_tma = kTma && slice.first_co;

  // Copies in flight, oldest first: dy of the block's first tile, then its window.
  gemm::TilePlace place(blockIdx.x, stride);
  if (blockIdx.x < tiles) {
    copy_dy(origin(place));
    if constexpr (kTma) {
      if (tid == 0) issue_window(origin(place));
    } else if (whole_window) {
      copy_window(origin(place), 0, kCiSlice);
    }
  }
  for (int64_t tile = blockIdx.x; tile < tiles; tile += gridDim.x) {
    const TileOrigin o = origin(place);
    place.advance(stride);
    const TileOrigin next = origin(place);
    const bool has_next = tile + gridDim.x < tiles;
    const int64_t col0 = o.ow0 * s.sw - s.pw;
    const int offset = s.w % 4 == 0 ? int(col0 - depthwise::floor_div(col0, 4) * 4) : 0;

    // 1. dt = W^T dy, into registers, and out to dt_out with the earlier C_out slices' share
    // (kTma: half 0, while half 1 makes t and dW_pw, steps 2 and 3).
    if (whole_window && !kTma)
      gemm::copy_async_wait<1>();  // dy; the window may still be in flight
    else
      gemm::copy_async_wait<0>();
    if (dt_by_tma && tid == 0) tma::store_wait_read();  // the last tile's DT is read out
    __syncthreads();
    // kTma: half 0's dt goes in acc_w, which only half 1 sums dW_pw in. One 8 x 8 block a
    // thread instead of two took the kernel from 247 registers to 210, room that ptxas spends
    // on scheduling both GEMMs (4.62 ms against 4.77, H100).
    float acc_own[kTma ? 1 : Dt::TM][Dt::TN] = {};
    auto& acc_dt = first_if<kTma>(acc_w, acc_own);
    static_assert(!kTma || (Dt::TM == WeightTile::TM && Dt::TN == WeightTile::TN), "one register block serves both");
    if (kTma && half == 0)
#pragma unroll
      for (int i = 0; i < Dt::TM; ++i)
#pragma unroll
        for (int j = 0; j < Dt::TN; ++j) acc_dt[i][j] = 0.0f;
    if (makes_dt) {
      gemm::multiply_chunk<Dt, false, false, kCoSlice, gemm::kChunkUnroll, kRowPitch>(Ws, D, acc_dt, dt_id);
    }
    if (makes_dt && !dt_by_tma) {
      // A thread's columns are groups of 4 pixels of one tile row: with rows of whole float4,
      // each group is all inside the image or all outside, and goes out as one float4.
      float* const dt_tile = dt_out + (o.img * s.c_in + slice.ci0) * plane + o.oh0 * s.wo + o.ow0;
#pragma unroll
      for (int jg = 0; jg < Dt::kGroupsN; ++jg) {
        const int px = Dt::col_group(dt_id, jg), row = px >> g.tw_shift, col = px & (g.tw - 1);
        const int64_t cols_in = min64(4, s.wo - o.ow0 - col);  // of the group's 4, inside the image
        const bool row_in = o.oh0 + row < s.ho;
#pragma unroll
        for (int i = 0; i < Dt::TM; ++i) {
          const int ci = Dt::row(dt_id, i);
          float* v = &acc_dt[i][4 * jg];
          float* out = dt_tile + ci * plane + row * s.wo + col;
          const bool in = row_in && ci < ci_count;
          if (dt_vector) {
            if (in && cols_in > 0) {
              float4 sum = make_float4(v[0], v[1], v[2], v[3]);
              if (!slice.first_co) {
                const float4 earlier = *reinterpret_cast<const float4*>(out);
                sum = make_float4(sum.x + earlier.x, sum.y + earlier.y, sum.z + earlier.z, sum.w + earlier.w);
              }
              *reinterpret_cast<float4*>(out) = sum;
              v[0] = sum.x, v[1] = sum.y, v[2] = sum.z, v[3] = sum.w;
            } else {
              v[0] = v[1] = v[2] = v[3] = 0.0f;
            }
          } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const bool ok = in && e < cols_in;
              if (ok && !slice.first_co) v[e] += out[e];
              if (ok) out[e] = v[e];
              if (!ok) v[e] = 0.0f;
            }
          }
        }
      }
    }

    // 2. t, recomputed from the x window, into T (kTma: half 1, which goes on to dW_pw, step 3,
    // while half 0 puts dt into DT for the TMA store and the dW_dw pass, then takes step 3's
    // last pixels).
    if constexpr (kTma) {
      if (half == 1) {
        constexpr int kTPasses = 2 * kBlockPasses, kTPassesAPart = kTPasses / kWindowParts;
        for_each_block(std::integral_constant<int, kTPasses>{}, half_tid, kHalfThreads, [&](int pass, int ci, int tx) {
          if (pass % kTPassesAPart == 0) await_window_part(pass / kTPassesAPart);
          t_block<KH, KW>(X, T, DW, ci, tx);
        });
        window_phase ^= 1;
        tma::barrier_arrive(&t_done);        // half 0 may read t (its share of dW_pw)
        tma::sync_threads(1, kHalfThreads);  // t is complete
        // The last C_out slice reads the window again for dW_dw; the others are done with it.
        if (!slice.last_co && has_next && half_tid == 0) issue_window(next);
        __syncwarp();  // the issuing lane rejoins its warp
        gemm::multiply_k_span<kRowPitch, true>(D + tm * kRowPitch, T + tn * kRowPitch, 0, kHalf1Pixels, 4,
                                               acc_w);  // step 3
      } else {
        if (slice.last_co || dt_by_tma) {
#pragma unroll
          for (int i = 0; i < Dt::TM; ++i)
#pragma unroll
            for (int jg = 0; jg < Dt::kGroupsN; ++jg)
              *reinterpret_cast<float4*>(&DT[Dt::row(dt_id, i) * L::kDtPitch + Dt::col_group(dt_id, jg)]) =
                  make_float4(acc_dt[i][4 * jg], acc_dt[i][4 * jg + 1], acc_dt[i][4 * jg + 2], acc_dt[i][4 * jg + 3]);
          tma::fence_shared_for_async();  // DT's writes, visible to the TMA store
        }
        // DT is complete. Met every tile, DT or not: with a named barrier a tile in each half,
        // each thread meets as many barriers a tile, without which compute-sanitizer's
        // racecheck (CUDA 13.0) reported hazards across every later block barrier (194, all
        // results correct).
        tma::sync_threads(2, kHalfThreads);
        if (dt_by_tma && half_tid == 0) {
          tma::store_box(&dt_map, DT, int(o.ow0), int(o.oh0), int(slice.ci0), int(o.img));
          tma::store_commit();
        }
        __syncwarp();  // the issuing lane rejoins its warp

        // Step 3 over the last pixels, into the registers dt has left.
#pragma unroll
        for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
          for (int j = 0; j < WeightTile::TN; ++j) acc_w[i][j] = 0.0f;
        tma::barrier_wait(&t_done, t_phase);
        t_phase ^= 1;
        gemm::multiply_k_span<kRowPitch, true>(D + tm * kRowPitch, T + tn * kRowPitch, kHalf1Pixels, kPixels, 4, acc_w);
      }
    } else
      for_each_run(o, false, [&](int ci, int run, const float* window) {
        const int64_t c = slice.ci0 + ci;
        const bool valid = ci < ci_count;
        DepthwiseWeights<KH, KW> wr;
        float t[kBackwardRun];
        start_channel<KH, KW>(w_dw, b_dw, c, valid, wr, t);
        depthwise_run<kBackwardRun, KH, KW, false, WindowSteps>(
            window, g, s, run, offset, wr, w_dw + (valid ? c : 0) * taps, valid, t, t, [](int, float) {});
#pragma unroll
        for (int q = 0; q < kBackwardRun; ++q) T[ci * kRowPitch + run_pixel<kBackwardRun>(run, q)] = t[q];
      });

    // 3. dW_pw += dy t^T over the tile's pixels (kTma: both halves, in step 2); db_pw from the same
    // dy, pixel by pixel.
    if constexpr (!kTma)
      gemm::multiply_k_rows<kRowPitch, kPixels, 2>(D + tm * kRowPitch, T + tn * kRowPitch, half, acc_w);
    if (sums_bias)
#pragma unroll 4
      for (int px = bias_begin; px < bias_end; px += 4) {
        const float4 v = *reinterpret_cast<const float4*>(&D[bias_row * kRowPitch + px]);
        bias_pw_sum = make_float4(bias_pw_sum.x + v.x, bias_pw_sum.y + v.y, bias_pw_sum.z + v.z, bias_pw_sum.w + v.w);
      }
    __syncthreads();  // D and T are free
    if (kTma && half == 0) stash_dw_pw_share();
    if (has_next) copy_dy(next);  // lands during steps 4 and 5
    if (!slice.last_co) {
      // No dW_dw to make: the window is free too. Copied after dy, like the last slice's,
      // so that step 1's wait for all but the newest group is a wait for dy.
      if (whole_window && !kTma && has_next) copy_window(next, 0, kCiSlice);
      if constexpr (kTma) {
        __syncthreads();  // half 0's share is in T
        if (half == 1) take_dw_pw_share();
      }
      continue;
    }

    // 4. dt into T's place, for dW_dw, a float4 a column group (kTma: DT, in step 2).
    if (makes_dt && !kTma)
#pragma unroll
      for (int i = 0; i < Dt::TM; ++i)
#pragma unroll
        for (int jg = 0; jg < Dt::kGroupsN; ++jg)
          *reinterpret_cast<float4*>(&DT[Dt::row(dt_id, i) * L::kDtPitch + Dt::col_group(dt_id, jg)]) =
              make_float4(acc_dt[i][4 * jg], acc_dt[i][4 * jg + 1], acc_dt[i][4 * jg + 2], acc_dt[i][4 * jg + 3]);
    if (!kTma) __syncthreads();

    // 5. dW_dw and db_dw from the window and dt. The 8 runs of a channel are 8 consecutive
    // lanes, all active together: each tap's sum is reduced there and the first adds it to the
    // block's total (one writer each). The 4 x 4 blocks (kTma) add to block_grad.
    if constexpr (kTma) {
      // Each box is free once every thread is done with its channels.
      if (half == 0) {  // landed before half 1's t pass; awaited for their visibility here
        for (int part = 0; part < kWindowParts; ++part) await_window_part(part);
        window_phase ^= 1;
      }
      for_each_block(std::integral_constant<int, kBlockPasses>{}, tid, kThreads, [&](int pass, int ci, int tx) {
        weight_grad_block<KH, KW>(X, DT, L::kDtPitch, ci, tx, block_grad[pass]);
        if ((pass + 1) % kBlockPassesAPart == 0) {
          __syncthreads();
          if (has_next && tid == 0) issue_window_part(next, pass / kBlockPassesAPart);
        }
      });
      if (half == 1) take_dw_pw_share();  // in T since before the pass's barriers
      continue;
    }
    for_each_run(o, whole_window, [&](int ci, int run, const float* window) {
      const int64_t c = slice.ci0 + ci;
      const bool valid = ci < ci_count;
      DepthwiseWeights<KH, KW> wr;
      wr.load(w_dw, c, valid);
      float t[kBackwardRun], dtv[kBackwardRun];  // t is made again and dropped: the compiler removes it
#pragma unroll
      for (int q = 0; q < kBackwardRun; ++q) {
        t[q] = 0.0f;
        dtv[q] = DT[ci * L::kDtPitch + run_pixel<kBackwardRun>(run, q)];
      }
      const unsigned lanes = __activemask();
      auto add = [&](int slot, float v) {
#pragma unroll
        for (int off = kRuns / 2; off > 0; off /= 2) v += __shfl_down_sync(lanes, v, off, kRuns);
        if (run == 0) DW[ci * kMaxWeightSlots + slot] += v;
      };
      depthwise_run<kBackwardRun, KH, KW, true, WindowSteps>(window, g, s, run, offset, wr,
                                                             w_dw + (valid ? c : 0) * taps, valid, t, dtv, add);
      float dt_sum = 0.f;
#pragma unroll
      for (int q = 0; q < kBackwardRun; ++q) dt_sum += dtv[q];
      add(taps, dt_sum);
    });
    if (whole_window && has_next) copy_window(next, 0, kCiSlice);  // lands during the next dt GEMM
  }
  gemm::copy_async_wait<0>();
  if (dt_by_tma && tid == 0) tma::store_wait_read();
  __syncthreads();

  // Partials of this block, laid out [output][block] for reduce_partials. Else than kTma, the
  // halves' dW_pw sums meet in D's space, free since the loop's last barrier, and the db_pw
  // halves in T's.
  const int64_t blocks = gridDim.x;
  const float bias_sum = (bias_pw_sum.x + bias_pw_sum.y) + (bias_pw_sum.z + bias_pw_sum.w);
  auto write_dw_pw = [&](int co, int ci, float v) {
    if (co < co_count && ci < ci_count)
      partial_dw_pw[((slice.co0 + co) * s.c_in + slice.ci0 + ci) * blocks + blockIdx.x] = v;
  };
  auto write_db_pw = [&](float v) { partial_db_pw[(slice.co0 + bias_row) * blocks + blockIdx.x] = v; };
  if constexpr (kTma) {
    if (half == 1)
#pragma unroll
      for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
        for (int j = 0; j < WeightTile::TN; ++j)
          write_dw_pw(tm + i * WeightTile::kRowLanes, tn + j * WeightTile::kColLanes, acc_w[i][j]);
    if (sums_bias) write_db_pw(bias_sum);
  } else {
    if (sums_bias && half == 1) T[bias_row] = bias_sum;
    gemm::reduce_halves(acc_w, D, half, tm, tn, write_dw_pw);
    __syncthreads();  // T holds the second half's db_pw sums
    if (sums_bias && half == 0) write_db_pw(bias_sum + T[bias_row]);
  }
  if (slice.last_co) {
    float* sums = kTma ? D : DW;  // kTma: DW holds only the taps; D is free
    if constexpr (kTma)           // block_grad into sums: a channel's 8 lanes reduced, the first writes
#pragma unroll
      for (int pass = 0; pass < kBlockPasses; ++pass) {
        const int item = pass * kThreads + tid, ci = item / kBlockCols;
#pragma unroll
        for (int slot = 0; slot <= KH * KW; ++slot) {
          float v = block_grad[pass][slot];
#pragma unroll
          for (int off = kBlockCols / 2; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off, kBlockCols);
          if (item % kBlockCols == 0) sums[ci * kMaxWeightSlots + slot] = v;
        }
      }
    __syncthreads();
    for (int idx = tid; idx < ci_count * slots; idx += kThreads) {
      const int ci = idx / slots, slot = idx % slots;
      const float v = sums[ci * kMaxWeightSlots + slot];
      if (slot < taps)
        partial_dw_dw[((slice.ci0 + ci) * taps + slot) * blocks + blockIdx.x] = v;
      else if (partial_db_dw)
        partial_db_dw[(slice.ci0 + ci) * blocks + blockIdx.x] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------
// Host side.

struct Plan {
  ConvShape s;
  Geometry forward_geometry, backward_geometry;
  TileShape dx_tile;
  int64_t dx_tiles_h = 0, dx_tiles_w = 0;
  int forward_grid = 1, backward_grid = 1;
  int forward_splits = 1;      // fused_forward_kernel's splits of C_in (its grid's y)
  float* partial_y = nullptr;  // their sums, when more than one
  bool small_m = false;
  BackwardWindows backward_windows = BackwardWindows::copied;
  bool wide_forward = false;  // fused_forward_wide_kernel takes the forward
  WideArgs wide_args{};
  int wide_grid = 1;
  bool tma_forward = false;    // else fused_forward_tma_kernel does
  bool tma_depthwise = false;  // depthwise_tma::correlate_kernel can make dx
  Geometry tma_geometry;
  TmaForwardArgs tma_args{};
  int tma_grid = 1;
  float* dt = nullptr;
  float* partial_dw_pw = nullptr;
  float* partial_db_pw = nullptr;
  float* partial_dw_dw = nullptr;
  float* partial_db_dw = nullptr;
};

// fused_forward_kernel's splits of C_in: as many as keep the split tiles within the blocks the
// device holds at once (1 where the output tiles alone fill it), each of ceil(chunks / splits)
// chunks but the last, and none empty.
int forward_k_splits(int64_t output_tiles, int64_t chunks, int64_t resident_blocks) {
  const int64_t most = std::max<int64_t>(1, std::min(chunks, resident_blocks / output_tiles));
  const int64_t per_split = (chunks + most - 1) / most;
  return int((chunks + per_split - 1) / per_split);
}

template <class T, int KH, int KW>
struct LaunchFusedForward {
  template <class Steps>
  static constexpr auto kernel = fused_forward_kernel<T, KH, KW, Steps>;
  static constexpr int blocks_per_sm() { return kForwardBlocksPerSM<KH, KW>; }
  // 3 x 3 at stride 1 or 2 with unit dilation (MobileNet's layers): the kernel whose depthwise
  // reads sit at compile-time offsets.
  static constexpr bool kFixedVariants = KH == 3 && KW == 3;
  static auto pick(const ConvShape& s, const Geometry& g) {
    if constexpr (kFixedVariants)
      if (s.dh == 1 && s.dw == 1 && s.sh == s.sw && (s.sh == 1 || s.sh == 2)) {
        if (g.images == 2) return s.sh == 1 ? kernel<FixedSteps<1, 16, true>> : kernel<FixedSteps<2, 16, true>>;
        if (s.sh == 1) return g.tw == 32 ? kernel<FixedSteps<1, 32>> : kernel<FixedSteps<1, 16>>;
        return g.tw == 32 ? kernel<FixedSteps<2, 32>> : kernel<FixedSteps<2, 16>>;
      }
    return kernel<RunTimeSteps>;
  }
  static void run(const Plan& q, const DeviceTensors& d, cudaStream_t st) {
    const dim3 grid(unsigned(q.forward_grid), unsigned(q.forward_splits));
    pick(q.s, q.forward_geometry)<<<grid, kThreads, forward_smem_bytes<T>(), st>>>(
        q.s, q.forward_geometry, d.x, d.w_dw, d.b_dw, d.w_pw, d.b_pw, d.y, q.partial_y);
    DSCONV_LAUNCH_CHECK();
    if (q.forward_splits > 1) launch_sum_planes(q.partial_y, q.forward_splits, d.y, q.s.y_elems(), st);
  }
  static void prepare() {
    auto allow = [](auto f) {
      DSCONV_CUDA_CHECK(
          cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, int(forward_smem_bytes<T>())));
    };
    allow(kernel<RunTimeSteps>);
    if constexpr (kFixedVariants)
      for (const auto f : {kernel<FixedSteps<1, 32>>, kernel<FixedSteps<1, 16>>, kernel<FixedSteps<1, 16, true>>,
                           kernel<FixedSteps<2, 32>>, kernel<FixedSteps<2, 16>>, kernel<FixedSteps<2, 16, true>>})
        allow(f);
  }
};
template <int KH, int KW>
struct Forward128 : LaunchFusedForward<gemm::Tile<128, kPixels, 32, 8, 8, 2, 4>, KH, KW> {};
template <int KH, int KW>
struct Forward64 : LaunchFusedForward<gemm::Tile<64, kPixels, 32, 4, 8, 2, 4>, KH, KW> {};

template <int KH, int KW>
struct LaunchTmaForward {
  // Unit steps: compile-time tap offsets for the kernel sizes with weights in registers.
  // Other steps: weights in registers up to 5 x 5 (7 x 7's 49 spill next to the run's
  // offsets), else read per tap.
  static constexpr bool kUnitStepVariant = KH * KW > 0;
  static constexpr int kGenericKH = KH <= 5 ? KH : 0, kGenericKW = KH <= 5 ? KW : 0;
  static constexpr auto unit_kernel = fused_forward_tma_kernel<KH, KW, kUnitStepVariant>;
  static constexpr auto generic_kernel = fused_forward_tma_kernel<kGenericKH, kGenericKW, false>;

  static void run(const Plan& q, const DeviceTensors& d, cudaStream_t st) {
    const ConvShape& s = q.s;
    const Geometry& g = q.tma_geometry;
    const CUtensorMap x_map =
        tma::make_box_map(d.x, {uint64_t(s.w), uint64_t(s.h), uint64_t(s.c_in), uint64_t(s.n)},
                          {uint32_t(g.win_cols), uint32_t(g.win_rows), uint32_t(g.sub_channels), 1});
    const auto kernel = kUnitStepVariant && unit_steps(s) ? unit_kernel : generic_kernel;
    kernel<<<unsigned(q.tma_grid), kTmaThreads, tma_forward_smem_bytes(), st>>>(x_map, q.tma_args, s, g, d.w_dw, d.b_dw,
                                                                                d.w_pw, d.b_pw, d.y);
    DSCONV_LAUNCH_CHECK();
  }
  static void prepare() {
    for (const auto kernel : {unit_kernel, generic_kernel})
      DSCONV_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(tma_forward_smem_bytes())));
  }
};

template <int KH, int KW>
struct PrepareTmaForward {
  static void run() { LaunchTmaForward<KH, KW>::prepare(); }
};

// The TMA forward's pixel tile and x window; sub_channels == 0 when no window fits.
Geometry make_tma_geometry(const ConvShape& s) {
  Geometry g;
  g.th = kTmaTileRows;
  g.tw = kTmaTileCols;
  g.tw_shift = 5;
  g.win_rows = depthwise::window(g.th, s.kh, s.sh, s.dh);
  // + 3: the window may start up to 3 columns early (TmaForwardArgs::col_offset); TMA boxes
  // are whole 16 bytes wide.
  g.win_cols = (depthwise::window(g.tw, s.kw, s.sw, s.dw) + 3 + 3) / 4 * 4;
  g.channel_stride = g.win_rows * g.win_cols;
  g.tiles_h = (s.ho + g.th - 1) / g.th;
  g.tiles_w = (s.wo + g.tw - 1) / g.tw;
  g.sub_channels = 0;
  if (g.win_rows <= 256 && g.win_cols <= 256)
    for (int c = 32; c >= 1; c /= 2)
      if (c * g.channel_stride <= kTmaXFloats) {
        g.sub_channels = c;
        break;
      }
  return g;
}

// Whether the TMA forward can take this problem on this device and binary.
bool tma_forward_usable(const ConvShape& s, const Geometry& g) {
  if (s.c_in > kTmaK || s.c_out > TmaForwardTile::BM || s.w % 4 != 0 || s.wo < kTmaTileCols || g.sub_channels == 0)
    return false;
  // Its GEMM is always the whole 128 x 64 of W: below half of that in real channels the
  // other kernels, which size their tiles to C_out, win (H100: 32 -> 64 channels, 0.035 ms
  // against 0.021).
  if (2 * s.c_in * s.c_out < int64_t(kTmaK) * TmaForwardTile::BM) return false;
  const int64_t limit = int64_t(1) << 31;  // its tile and output indices are 32-bit
  if (s.n * g.tiles_h * g.tiles_w >= limit || s.c_out * s.ho * s.wo >= limit || s.h >= limit || s.w >= limit)
    return false;
  return tma::kernel_usable(reinterpret_cast<const void*>(fused_forward_tma_kernel<3, 3, true>));
}

TmaForwardArgs make_tma_args(const ConvShape& s, const Geometry& g) {
  TmaForwardArgs a{};
  a.c_in = int(s.c_in);
  a.c_out = int(s.c_out);
  a.ho = int(s.ho);
  a.wo = int(s.wo);
  a.tiles_w = int(g.tiles_w);
  a.tiles_per_image = int(g.tiles_h * g.tiles_w);
  a.tiles = int(s.n) * a.tiles_per_image;
  a.sub_channels = g.sub_channels;
  a.steps_per_tile = kTmaK / g.sub_channels;
  a.window_floats = g.win_rows * g.win_cols;
  a.win_cols = g.win_cols;
  a.sh = s.sh;
  a.sw = s.sw;
  a.ph = s.ph;
  a.pw = s.pw;
  a.col_offset = tma::lead_columns(-s.pw);  // the tile's column origin is a multiple of 4
  return a;
}

template <int KH, int KW>
struct LaunchWideForward {
  using L = WideLayout<KH, KW>;
  static void run(const Plan& q, const DeviceTensors& d, cudaStream_t st) {
    const ConvShape& s = q.s;
    const CUtensorMap x_map =
        tma::make_box_map(d.x, {uint64_t(s.w), uint64_t(s.h), uint64_t(s.c_in), uint64_t(s.n)},
                          {uint32_t(L::Window::kCols), uint32_t(L::Window::kRows), uint32_t(kWideHalfChannels), 1});
    fused_forward_wide_kernel<KH, KW><<<unsigned(q.wide_grid), kWideThreads, L::bytes(), st>>>(
        x_map, q.wide_args, d.w_dw, d.b_dw, d.w_pw, d.b_pw, d.y);
    DSCONV_LAUNCH_CHECK();
  }
  static void prepare() {
    DSCONV_CUDA_CHECK(cudaFuncSetAttribute(fused_forward_wide_kernel<KH, KW>,
                                           cudaFuncAttributeMaxDynamicSharedMemorySize, int(L::bytes())));
  }
};

// Calls fn(LaunchWideForward<k, k>{}) for the kernel sizes it is built for (wide_forward_usable
// says which).
template <class Fn>
void by_wide_kernel_size(int k, Fn&& fn) {
  if (k == 3) return fn(LaunchWideForward<3, 3>{});
  fn(LaunchWideForward<1, 1>{});
}

// Whether the wide forward can take this problem on this device and binary.
bool wide_forward_usable(const ConvShape& s) {
  if (s.kh != s.kw || (s.kh != 1 && s.kh != 3) || !unit_steps(s) ||
      tma::lead_columns(-s.pw) != depthwise_tma::same_padding_offset(s.kw))
    return false;
  if (s.c_in > kTmaK || s.c_out > WideTile::BM || s.w % 4 != 0 || s.wo % 4 != 0 || s.wo < kWideCols) return false;
  // Its GEMM is always the whole 128 x 64 of W, as the 8 x 8 TMA forward's (tma_forward_usable).
  if (2 * s.c_in * s.c_out < int64_t(kTmaK) * WideTile::BM) return false;
  const int64_t limit = int64_t(1) << 31;  // its tile and output indices are 32-bit
  const int64_t tiles = s.n * ceil_div(s.ho, int64_t(kWideRows)) * ceil_div(s.wo, int64_t(kWideCols));
  if (tiles >= limit || s.c_out * s.ho * s.wo >= limit || s.h >= limit || s.w >= limit) return false;
  if (!tma::kernel_usable(reinterpret_cast<const void*>(fused_forward_wide_kernel<3, 3>))) return false;
  int built = 0;
  DSCONV_CUDA_CHECK(cudaMemcpyFromSymbol(&built, wide_forward_built, sizeof built));
  return built == 1;
}

WideArgs make_wide_args(const ConvShape& s) {
  WideArgs a{};
  a.c_in = int(s.c_in);
  a.c_out = int(s.c_out);
  a.ho = int(s.ho);
  a.wo = int(s.wo);
  a.tiles_w = int(ceil_div(s.wo, int64_t(kWideCols)));
  a.tiles_per_image = int(ceil_div(s.ho, int64_t(kWideRows))) * a.tiles_w;
  a.tiles = int(s.n) * a.tiles_per_image;
  a.ph = s.ph;
  a.pw = s.pw;
  return a;
}

template <int KH, int KW>
struct LaunchFusedBackward {
  // The run-time kernel size has neither unit-tile nor TMA variant.
  static constexpr bool kCompileTimeTaps = KH * KW > 0;
  using Window = BackwardWindow<KH, KW>;
  using Layout = BackwardLayout<KH, KW, false>;
  using TmaLayout = BackwardLayout<KH, KW, true>;
  static void run(const Plan& q, const DeviceTensors& d, CoSlice slice, cudaStream_t st) {
    const ConvShape& s = q.s;
    // A row of blocks a C_in slice: C_in <= 2^20 (a Problem's limit) makes at most 16,384 of
    // the 65,535 rows a grid may have.
    const dim3 grid(unsigned(q.backward_grid), unsigned(ceil_div(s.c_in, int64_t(kCiSlice))));
    CUtensorMap x_map{}, dt_map{};  // read by the TMA variant only
    auto launch = [&](auto kernel, size_t smem) {
      kernel<<<grid, kThreads, smem, st>>>(x_map, dt_map, s, q.backward_geometry, slice, d.x, d.w_dw, d.b_dw, d.w_pw,
                                           d.dy, q.dt, q.partial_dw_pw, q.partial_db_pw, q.partial_dw_dw,
                                           q.partial_db_dw);
      DSCONV_LAUNCH_CHECK();
    };
    if constexpr (kCompileTimeTaps) {
      if (q.backward_windows == BackwardWindows::tma_blocks && reinterpret_cast<uintptr_t>(d.x) % 16 == 0 &&
          reinterpret_cast<uintptr_t>(q.dt) % 16 == 0) {
        x_map = tma::make_box_map(d.x, {uint64_t(s.w), uint64_t(s.h), uint64_t(s.c_in), uint64_t(s.n)},
                                  {uint32_t(Window::kCols), uint32_t(Window::kRows), uint32_t(kPartChannels), 1});
        dt_map = tma::make_box_map(q.dt, {uint64_t(s.wo), uint64_t(s.ho), uint64_t(s.c_in), uint64_t(s.n)},
                                   {uint32_t(kUnitCols), uint32_t(kUnitRows), uint32_t(kCiSlice), 1});
        return launch(fused_backward_kernel<KH, KW, BackwardWindows::tma_blocks>, TmaLayout::bytes());
      }
      if (q.backward_windows != BackwardWindows::copied)
        return launch(fused_backward_kernel<KH, KW, BackwardWindows::unit_tile>, Layout::bytes());
    }
    launch(fused_backward_kernel<KH, KW, BackwardWindows::copied>, Layout::bytes());
  }
  static void prepare() {
    auto allow = [](auto kernel, size_t bytes) {
      DSCONV_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(bytes)));
    };
    allow(fused_backward_kernel<KH, KW, BackwardWindows::copied>, Layout::bytes());
    if constexpr (kCompileTimeTaps) {
      allow(fused_backward_kernel<KH, KW, BackwardWindows::unit_tile>, Layout::bytes());
      allow(fused_backward_kernel<KH, KW, BackwardWindows::tma_blocks>, TmaLayout::bytes());
    }
  }
  // Whether the TMA variant can take s (x's alignment is checked at launch).
  static bool tma_usable(const ConvShape& s) {
    if constexpr (!kCompileTimeTaps) {
      return false;
    } else {
      const int64_t limit = int64_t(1) << 31;  // TMA coordinates are 32-bit
      return unit_steps(s) && s.wo >= kUnitCols && s.w % 4 == 0 && tma::lead_columns(-s.pw) == Window::kOffset &&
             kCiSlice * kBackwardWindowFloats<KH, KW> <= kBackwardXFloats && s.n < limit && s.h < limit &&
             s.w < limit && s.c_in < limit &&
             tma::kernel_usable(
                 reinterpret_cast<const void*>(fused_backward_kernel<KH, KW, BackwardWindows::tma_blocks>));
    }
  }
};

template <int KH, int KW>
struct LaunchDx {
  static void run(const Plan& q, const DeviceTensors& d, cudaStream_t st) {
    const auto conv = depthwise_tma::transposed_conv(q.s);
    if (q.tma_depthwise && conv &&
        depthwise_tma::correlate<KH, KW, true>(*conv, q.s.n * q.s.c_in, q.dt, d.w_dw, nullptr, d.dx, st))
      return;
    // The cp.async kernels only at 1 x 1 and 3 x 3, else at run-time size: the unrolled 5 x 5
    // took the gate's 5 x 5, dilation-2 row 7.6% slower (H100, 47b0c12).
    constexpr int kH = KH * KW <= 9 ? KH : 0, kW = KH * KW <= 9 ? KW : 0;
    const int64_t blocks = depthwise_blocks(q.s.n * q.s.c_in, q.dx_tiles_h, q.dx_tiles_w);
    const auto kernel =
        unit_steps(q.s) ? depthwise_backward_data_kernel<kH, kW, true> : depthwise_backward_data_kernel<kH, kW, false>;
    kernel<<<unsigned(blocks), depthwise::kThreads, depthwise::kPipelineStages * q.dx_tile.window_bytes(), st>>>(
        q.s, q.dx_tile, q.dx_tiles_h, q.dx_tiles_w, q.dt, d.w_dw, d.dx);
    DSCONV_LAUNCH_CHECK();
  }
};

// Calls fn(Launch<KH, KW>{}) for the kernel sizes with weights in registers (1 x 1 and 3 x 3:
// larger ones spill next to the GEMM's accumulators), else fn(Launch<0, 0>{}).
template <template <int, int> class Launch, class Fn>
void by_kernel_size(int kh, int kw, Fn&& fn) {
  if (kh == 3 && kw == 3) return fn(Launch<3, 3>{});
  if (kh == 1 && kw == 1) return fn(Launch<1, 1>{});
  fn(Launch<0, 0>{});
}

class Fused final : public Kernel {
 public:
  std::string_view name() const override { return "fused"; }
  std::string_view summary() const override {
    return "depthwise into shared memory + FFMA GEMM in one kernel, t never in device memory; backward fused "
           "per tile (dt, t, dW_pw, dW_dw), dx in a second pass; deterministic";
  }

  std::string unsupported_reason(const Problem& p) const override {
    const ConvShape s = conv_shape(p);
    if (make_geometry(s, kForwardXFloats, kChunk, kForwardRun).sub_channels == 0 ||
        make_geometry(s, kBackwardXFloats, kCiSlice, kBackwardRun).sub_channels == 0)
      return fmt::format(
          "the x window of one channel under a 128-pixel tile ({} x {} taps, stride {}x{}, dilation "
          "{}x{}) exceeds the shared memory a fused block stages",
          p.conv.kh, p.conv.kw, p.conv.stride_h, p.conv.stride_w, p.conv.dil_h, p.conv.dil_w);
    if (p.n >= (int64_t(1) << 31) || p.out_h() >= (int64_t(1) << 31) || p.out_w() >= (int64_t(1) << 31))
      return "a batch, output height or output width of 2^31 or more (the forward counts them in 32 bits)";
    if (p.taps() + 1 > kMaxWeightSlots)
      return fmt::format("{} taps: the fused backward keeps at most {} per channel", p.taps(), kMaxWeightSlots - 1);
    if (input_space_tile(p).rows == 0) return "the dx pass's dt window exceeds shared memory";
    if (p.n * p.c_in * ((p.h + 15) / 16) * ((p.w + 63) / 64) >= (int64_t(1) << 31))
      return "more dx tiles than a grid holds (2^31 - 1 blocks)";
    const Geometry g = make_geometry(s, kBackwardXFloats, kCiSlice, kBackwardRun);
    if (g.tiles_h * g.tiles_w >= (int64_t(1) << 31))
      return "more backward tiles an image than the backward's 32-bit tile walk counts (2^31 - 1)";
    return {};
  }

  void prepare(const Problem& p, Workspace& ws) const override {
    Plan q;
    q.s = conv_shape(p);
    q.forward_geometry = make_geometry(q.s, kForwardXFloats, kChunk, kForwardRun, true);
    q.backward_geometry = make_geometry(q.s, kBackwardXFloats, kCiSlice, kBackwardRun);
    if (unit_steps(q.s) && q.backward_geometry.tw == kUnitCols) q.backward_windows = BackwardWindows::unit_tile;
    by_kernel_size<LaunchFusedBackward>(p.conv.kh, p.conv.kw, [&](auto launch) {
      if (launch.tma_usable(q.s)) q.backward_windows = BackwardWindows::tma_blocks;
    });
    q.dx_tile = input_space_tile(p);
    q.dx_tiles_h = ceil_div(q.s.h, q.dx_tile.rows);
    q.dx_tiles_w = ceil_div(q.s.w, q.dx_tile.cols);
    q.small_m = p.c_out <= 64;
    int device = 0, sms = 0;
    DSCONV_CUDA_CHECK(cudaGetDevice(&device));
    DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const int64_t pixel_tiles = q.forward_geometry.pixel_tiles(p.n);
    const int64_t m_tiles = (p.c_out + (q.small_m ? 64 : 128) - 1) / (q.small_m ? 64 : 128);
    q.backward_grid =
        int(std::min<int64_t>(p.n * q.backward_geometry.tiles_h * q.backward_geometry.tiles_w, int64_t(sms)));
    q.tma_geometry = make_tma_geometry(q.s);
    q.wide_forward = wide_forward_usable(q.s);
    q.tma_forward = !q.wide_forward && tma_forward_usable(q.s, q.tma_geometry);
    q.tma_depthwise = depthwise_tma::usable();
    if (q.tma_forward) {
      q.tma_args = make_tma_args(q.s, q.tma_geometry);
      q.tma_grid = std::min((q.tma_args.tiles + kTmaGroups - 1) / kTmaGroups, sms);
      dispatch_kernel_size<PrepareTmaForward>(p.conv.kh, p.conv.kw);
    }
    if (q.wide_forward) {
      q.wide_args = make_wide_args(q.s);
      q.wide_grid = std::min((q.wide_args.tiles + kWideConsumers - 1) / kWideConsumers, sms);
      by_wide_kernel_size(p.conv.kh, [](auto launch) { launch.prepare(); });
    }
    if (!q.wide_forward && !q.tma_forward) {
      int blocks_per_sm = 1;
      by_kernel_size<Forward128>(p.conv.kh, p.conv.kw, [&](auto launch) { blocks_per_sm = launch.blocks_per_sm(); });
      q.forward_splits =
          forward_k_splits(pixel_tiles * m_tiles, ceil_div(p.c_in, kChunk), int64_t(sms) * blocks_per_sm);
      if (q.forward_splits > 1) q.partial_y = ws.allocate_array<float>(size_t(p.y_elems()) * q.forward_splits);
    }
    q.forward_grid = int(std::min<int64_t>(pixel_tiles * m_tiles, 2 * int64_t(sms)));
    by_kernel_size<Forward128>(p.conv.kh, p.conv.kw, [](auto launch) { launch.prepare(); });
    by_kernel_size<Forward64>(p.conv.kh, p.conv.kw, [](auto launch) { launch.prepare(); });
    by_kernel_size<LaunchFusedBackward>(p.conv.kh, p.conv.kw, [](auto launch) { launch.prepare(); });

    const size_t blocks = size_t(q.backward_grid);
    q.dt = ws.allocate_array<float>(size_t(p.t_elems()));
    q.partial_dw_pw = ws.allocate_array<float>(size_t(p.c_out * p.c_in) * blocks);
    q.partial_dw_dw = ws.allocate_array<float>(size_t(p.c_in * p.taps()) * blocks);
    if (p.bias) {
      q.partial_db_pw = ws.allocate_array<float>(size_t(p.c_out) * blocks);
      q.partial_db_dw = ws.allocate_array<float>(size_t(p.c_in) * blocks);
    }
    ws.plan = q;
  }

  void forward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t st) const override {
    const Plan& q = std::any_cast<const Plan&>(ws.plan);
    if (q.wide_forward)
      by_wide_kernel_size(p.conv.kh, [&](auto launch) { launch.run(q, d, st); });
    else if (q.tma_forward)
      dispatch_kernel_size<LaunchTmaForward>(p.conv.kh, p.conv.kw, q, d, st);
    else if (q.small_m)
      by_kernel_size<Forward64>(p.conv.kh, p.conv.kw, [&](auto launch) { launch.run(q, d, st); });
    else
      by_kernel_size<Forward128>(p.conv.kh, p.conv.kw, [&](auto launch) { launch.run(q, d, st); });
  }

  void backward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t st) const override {
    for (const Stage& stage : stages(p, Pass::backward, d, ws)) stage.launch(st);
  }

  std::vector<Stage> stages(const Problem& p, Pass pass, const DeviceTensors& d, Workspace& ws) const override {
    if (pass != Pass::backward) return {};
    const Plan* q = &std::any_cast<const Plan&>(ws.plan);
    const double f = sizeof(float), x = double(p.x_elems()), t = double(p.t_elems()), y = double(p.y_elems());
    std::vector<Stage> stages;
    stages.push_back(
        {"fused", f * (x + y + t), 4 * t * double(p.c_out) + 4 * t * double(p.taps()), [p, q, d](cudaStream_t st) {
           for (int64_t co0 = 0; co0 < p.c_out; co0 += kCoSlice) {
             const CoSlice slice{co0, co0 == 0, co0 + kCoSlice >= p.c_out, p.bias};
             by_kernel_size<LaunchFusedBackward>(p.conv.kh, p.conv.kw,
                                                 [&](auto launch) { launch.run(*q, d, slice, st); });
           }
           const int64_t blocks = q->backward_grid;
           launch_reduce_partials(q->partial_dw_pw, blocks, d.dw_pw, p.c_out * p.c_in, st);
           launch_reduce_partials(q->partial_dw_dw, blocks, d.dw_dw, p.c_in * p.taps(), st);
           if (p.bias) {
             launch_reduce_partials(q->partial_db_pw, blocks, d.db_pw, p.c_out, st);
             launch_reduce_partials(q->partial_db_dw, blocks, d.db_dw, p.c_in, st);
           }
         }});
    stages.push_back({"dx", f * (t + x), 2 * t * double(p.taps()), [p, q, d](cudaStream_t st) {
                        dispatch_kernel_size<LaunchDx, false>(p.conv.kh, p.conv.kw, *q, d, st);
                      }});
    return stages;
  }
};

}  // namespace

const Kernel& fused_kernel() {
  static const Fused kernel;
  return kernel;
}

}  // namespace dsconv
