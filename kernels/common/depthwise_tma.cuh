// The depthwise stage on sm_90 for its common case - unit stride and dilation, a kernel of
// 1, 3 or 5 taps a side, "same" padding, rows of whole float4:
//  - correlate_kernel: the forward t = w_dw (*) x + b_dw, and dx, which at unit stride is the
//    same correlation of dt with the kernel turned by 180 degrees and the padding k - 1 - p;
//  - weight_grad_kernel: the dW_dw and db_dw partial sums, from the forward's x windows.
//
// Why it beats the cp.async kernels of depthwise_kernels.cuh, which ncu showed issuing an
// instruction on about 80% of cycles (H100, KernelBench shape) while device memory ran at 73%:
//  - The window comes by TMA (common/tma.cuh): one thread issues one box copy a tile, the TMA
//    unit fills the padding and the ragged edges with zeros, and no thread computes a source
//    address, a bounds test or a predicate. The cp.async copy spent about a quarter of the
//    kernel's instructions on that.
//  - Each thread makes a 2 x 4 block of adjacent outputs. It reads each window row it needs
//    once, as float4, and uses it for both of its output rows and all four columns: a 3 x 3
//    kernel costs 8 or 12 shared-memory loads for 8 outputs, where one output a tap cost 72.
//    The outputs leave as two float4 stores instead of eight scalar ones.
// t is the cp.async kernel's arithmetic, tap for tap in the same order: the same bits either
// way. dx adds its taps in the reverse order of the cp.async transposed kernel, and the dW_dw
// sums in another fixed order: different bits, still the same from run to run.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <optional>

#include "kernels/common/depthwise_kernels.cuh"
#include "kernels/common/depthwise_tile.cuh"
#include "kernels/common/tma.cuh"
#include "kernels/cuda_check.h"
#include "kernels/tma_map.h"

namespace dsconv {
namespace {

namespace depthwise_tma {

constexpr int kTileRows = 32, kTileCols = 64;  // a block's output tile
constexpr int kRowsPerThread = 2, kColsPerThread = 4;
constexpr int kThreadCols = kTileCols / kColsPerThread;  // 16 threads along a row
constexpr int kStages = 3;                               // windows a block holds: two in flight
// Up to 5 x 5: at 7 x 7 the 49 weights in registers spill under the 128-register cap of two
// blocks a multiprocessor, so those keep the cp.async kernels.
constexpr int kMaxTaps = 25;
static_assert(kThreadCols * (kTileRows / kRowsPerThread) == depthwise::kThreads, "one 2 x 4 block a thread");

// A TMA box must start on a 16-byte column (see tma::load_box), so a window starts up to 3
// columns left of the first column the tile reads. With "same" padding, (k - 1) / 2 a side,
// that distance is fixed by the kernel width: a compile-time constant, which keeps every
// shared-memory read an immediate offset.
constexpr int same_padding_offset(int kw) { return tma::lead_columns(-((kw - 1) / 2)); }

// The window of a tile of kOutRows x kOutCols outputs (`fused`'s forward takes 4 x 32 tiles).
template <int KH, int KW, int kOutRows = kTileRows, int kOutCols = kTileCols>
struct Window {
  static constexpr int kH = KH, kW = KW;
  static constexpr int kOffset = same_padding_offset(KW);  // columns before the first one read
  static constexpr int kRows = kOutRows + KH - 1;
  static constexpr int kCols = (kOffset + kOutCols + KW - 1 + 3) / 4 * 4;
  static constexpr int kStride = (kRows * kCols + 31) / 32 * 32;  // floats a stage: 128-byte aligned
  // float4 a thread reads of each window row: columns [4u + kOffset, 4u + kOffset + 3 + KW - 1].
  static constexpr int kQuads = (kOffset + kColsPerThread - 1 + KW - 1) / 4 + 1;
  static_assert(kRows <= 256 && kCols <= 256, "a TMA box side is at most 256");
};

// One depthwise correlation of planes: out[oh][ow] = bias + sum over taps (i, j) of
// w[i][j] in[oh - pad_h + i][ow - pad_w + j], zeros outside the input plane.
struct PlaneConv {
  int in_h, in_w, out_h, out_w, pad_h, pad_w, channels;
};

template <int KH, int KW>
constexpr size_t smem_bytes() {
  return sizeof(float) * size_t(kStages) * Window<KH, KW>::kStride;
}

// Tile `index` (row-major) of a plane: its first output row and column.
__device__ __forceinline__ int2 tile_origin(int index, int tiles_w) {
  return make_int2(index / tiles_w * kTileRows, index % tiles_w * kTileCols);
}

// The input windows of a block's tiles - depthwise::kTilesPerBlock tiles of one plane - in a
// ring of kStages, by TMA. Tile i is in stage i % kStages; each is refilled with the tile
// kStages on once the whole block has released it.
template <int KH, int KW>
struct WindowRing {
  using W = Window<KH, KW>;
  float* windows;  // [kStages][W::kStride], 128-byte aligned
  uint64_t* full;  // [kStages]
  const CUtensorMap* map;
  PlaneConv g;
  TileGroup group;
  int tiles_w, count;

  __device__ WindowRing(float* windows_, uint64_t* full_, const CUtensorMap* map_, const PlaneConv& g_,
                        int tiles_per_plane, int tiles_w_)
      : windows(windows_),
        full(full_),
        map(map_),
        g(g_),
        group(tile_group(tiles_per_plane, depthwise::kTilesPerBlock)),
        tiles_w(tiles_w_),
        count(group.last - group.first) {
    if (threadIdx.x == 0) {
      for (int s = 0; s < kStages; ++s) tma::barrier_init(&full[s], 1);
      tma::barrier_init_fence();
    }
    __syncthreads();
    if (threadIdx.x == 0)
      for (int i = 0; i < kStages && i < count; ++i) issue(i);
  }
  __device__ int plane() const { return int(group.plane); }
  __device__ int2 origin(int i) const { return tile_origin(group.first + i, tiles_w); }
  // One thread: tile i's window, from kOffset columns left of its first input column.
  __device__ void issue(int i) {
    const int stage = i % kStages;
    const int2 o = origin(i);
    tma::barrier_arrive_expect_bytes(&full[stage], W::kRows * W::kCols * sizeof(float));
    tma::load_box(windows + stage * W::kStride, map, o.y - g.pad_w - W::kOffset, o.x - g.pad_h, plane(), &full[stage]);
  }
  // Tile i's window, once it has landed.
  __device__ const float* wait(int i) const {
    tma::barrier_wait(&full[i % kStages], (i / kStages) & 1);
    return windows + i % kStages * W::kStride;
  }
  // Every thread is done with tile i's window: it may be refilled.
  __device__ void release(int i) {
    __syncthreads();
    if (threadIdx.x == 0 && i + kStages < count) issue(i + kStages);
  }
};

// Window row r of a thread's 2 x 4 block: the kQuads float4 from the block's first column.
template <class W>
__device__ __forceinline__ void load_row(const float* src, int r, float (&v)[4 * W::kQuads]) {
#pragma unroll
  for (int u = 0; u < W::kQuads; ++u)
    *reinterpret_cast<float4*>(&v[4 * u]) = *reinterpret_cast<const float4*>(src + r * W::kCols + 4 * u);
}

// Calls tap(o, k, q, x) for output row o, tap k = i * KW + j and column q of a thread's
// kRows x 4 block, x being the window value under that tap, window row by window row (each
// read once) and within one output row in tap order, as the cp.async kernels add them. W: the
// window `src` points into (a Window).
template <class W, int kRows = kRowsPerThread, class Tap>
__device__ __forceinline__ void for_each_tap(const float* src, Tap&& tap) {
  constexpr int KH = W::kH, KW = W::kW;
#pragma unroll
  for (int r = 0; r < kRows + KH - 1; ++r) {
    float v[4 * W::kQuads];
    load_row<W>(src, r, v);
#pragma unroll
    for (int o = 0; o < kRows; ++o) {
      const int i = r - o;  // window row r feeds output row o through kernel row r - o
      if (i < 0 || i >= KH) continue;
#pragma unroll
      for (int j = 0; j < KW; ++j)
#pragma unroll
        for (int q = 0; q < kColsPerThread; ++q) tap(o, i * KW + j, q, v[W::kOffset + q + j]);
    }
  }
}

// kFlip: w is read turned by 180 degrees (dx from dt).
template <int KH, int KW, bool kFlip>
__global__ __launch_bounds__(depthwise::kThreads, depthwise::min_blocks(KH, KW)) void correlate_kernel(
    const __grid_constant__ CUtensorMap in_map, PlaneConv g, int tiles_w, int tiles_per_plane,
    const float* __restrict__ w_dw, const float* __restrict__ bias, float* __restrict__ out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using W = Window<KH, KW>;
  extern __shared__ __align__(128) float windows[];
  __shared__ uint64_t full[kStages];
  WindowRing<KH, KW> ring(windows, full, &in_map, g, tiles_per_plane, tiles_w);
  const int c = ring.plane() % g.channels;
  float weights[KH * KW];
#pragma unroll
  for (int i = 0; i < KH * KW; ++i) weights[i] = __ldg(w_dw + c * KH * KW + (kFlip ? KH * KW - 1 - i : i));
  const float b = bias ? __ldg(bias + c) : 0.0f;

  const int tx = threadIdx.x % kThreadCols, ty = threadIdx.x / kThreadCols;
  for (int i = 0; i < ring.count; ++i) {
    const float* src = ring.wait(i) + kRowsPerThread * ty * W::kCols + kColsPerThread * tx;
    float acc[kRowsPerThread][kColsPerThread];
#pragma unroll
    for (int o = 0; o < kRowsPerThread; ++o)
#pragma unroll
      for (int q = 0; q < kColsPerThread; ++q) acc[o][q] = b;
    for_each_tap<W>(src, [&](int o, int k, int q, float x) { acc[o][q] = fmaf(weights[k], x, acc[o][q]); });
    const int2 origin = ring.origin(i);
    const int ow = origin.y + kColsPerThread * tx;  // out_w % 4 == 0: a float4 is all in or all out
    if (ow < g.out_w) {
#pragma unroll
      for (int o = 0; o < kRowsPerThread; ++o) {
        const int oh = origin.x + kRowsPerThread * ty + o;
        if (oh < g.out_h)
          *reinterpret_cast<float4*>(out + (int64_t(ring.plane()) * g.out_h + oh) * g.out_w + ow) =
              make_float4(acc[o][0], acc[o][1], acc[o][2], acc[o][3]);
      }
    }
    ring.release(i);
  }
#else
  __trap();  // the host launches this only where the binary has sm_90 code (see usable())
#endif
}

// dW_dw and db_dw partial sums of the forward correlation `g`: for each block, the sums over
// its tiles of x * dt under every tap, and of dt, as depthwise_backward_weight_kernel writes
// them - partial[(c * taps + tap) * groups_per_channel + block's group] and
// bias_partial[c * groups_per_channel + ...] - for the same reduce_partials launches. Each
// thread reads its 2 x 4 block of dt with two float4 loads and every window row it needs once.
template <int KH, int KW>
__global__ __launch_bounds__(depthwise::kThreads, depthwise::min_blocks(KH, KW)) void weight_grad_kernel(
    const __grid_constant__ CUtensorMap x_map, PlaneConv g, int tiles_w, int tiles_per_plane, int images,
    const float* __restrict__ dt, float* __restrict__ partial, float* __restrict__ bias_partial) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  using W = Window<KH, KW>;
  extern __shared__ __align__(128) float windows[];
  __shared__ uint64_t full[kStages];
  __shared__ float scratch[32];
  WindowRing<KH, KW> ring(windows, full, &x_map, g, tiles_per_plane, tiles_w);
  const int plane = ring.plane();
  const int tx = threadIdx.x % kThreadCols, ty = threadIdx.x / kThreadCols;
  float acc[KH * KW] = {};
  float bias_acc = 0.0f;
  for (int i = 0; i < ring.count; ++i) {
    // This thread's dt (zeros past the plane), read while the window may still be landing.
    const int2 origin = ring.origin(i);
    const int ow = origin.y + kColsPerThread * tx;
    float d[kRowsPerThread][kColsPerThread] = {};
#pragma unroll
    for (int o = 0; o < kRowsPerThread; ++o) {
      const int oh = origin.x + kRowsPerThread * ty + o;
      if (ow < g.out_w && oh < g.out_h)
        *reinterpret_cast<float4*>(d[o]) =
            __ldg(reinterpret_cast<const float4*>(dt + (int64_t(plane) * g.out_h + oh) * g.out_w + ow));
      bias_acc += (d[o][0] + d[o][1]) + (d[o][2] + d[o][3]);
    }
    const float* src = ring.wait(i) + kRowsPerThread * ty * W::kCols + kColsPerThread * tx;
    for_each_tap<W>(src, [&](int o, int k, int q, float x) { acc[k] = fmaf(x, d[o][q], acc[k]); });
    ring.release(i);
  }
  const int groups_per_plane = (tiles_per_plane + depthwise::kTilesPerBlock - 1) / depthwise::kTilesPerBlock;
  const int64_t groups_per_channel = int64_t(images) * groups_per_plane;
  const int n = plane / g.channels, c = plane % g.channels;
  const int64_t index = int64_t(n) * groups_per_plane + ring.group.first / depthwise::kTilesPerBlock;
#pragma unroll
  for (int tap = 0; tap < KH * KW; ++tap) {
    const float total = block_sum(acc[tap], scratch);
    if (threadIdx.x == 0) partial[(int64_t(c) * KH * KW + tap) * groups_per_channel + index] = total;
  }
  if (bias_partial) {
    const float total = block_sum(bias_acc, scratch);
    if (threadIdx.x == 0) bias_partial[int64_t(c) * groups_per_channel + index] = total;
  }
#else
  __trap();  // the host launches this only where the binary has sm_90 code (see usable())
#endif
}

// Whether the kernels can run here: TMA on the device and sm_90 code for them in this binary.
inline bool usable() { return tma::kernel_usable(reinterpret_cast<const void*>(correlate_kernel<3, 3, false>)); }

// Whether the kernels run `g` over `planes` planes of `in` and `out` (for the weight
// gradient: x and dt): a padding whose window offset is the same-padding one, whole float4
// rows and 16-byte aligned planes (TMA strides and the float4 accesses), and plane indices
// within a TMA coordinate.
template <int KH, int KW>
bool fits(const PlaneConv& g, int64_t planes, const float* in, const float* out) {
  return g.in_w % 4 == 0 && g.out_w % 4 == 0 && tma::lead_columns(-g.pad_w) == Window<KH, KW>::kOffset &&
         planes <= INT32_MAX && reinterpret_cast<uintptr_t>(in) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
}

// What a launch over `planes` planes of `g` takes: the input's TMA map and the tile grid.
struct Launch {
  CUtensorMap map;
  int tiles_w, tiles_per_plane;
  unsigned blocks;  // depthwise::kTilesPerBlock tiles of one plane each
  int64_t groups_per_plane() const {
    return (tiles_per_plane + depthwise::kTilesPerBlock - 1) / depthwise::kTilesPerBlock;
  }
};
template <int KH, int KW>
Launch make_launch(const PlaneConv& g, int64_t planes, const float* in) {
  using W = Window<KH, KW>;
  const int tiles_h = (g.out_h + kTileRows - 1) / kTileRows, tiles_w = (g.out_w + kTileCols - 1) / kTileCols;
  return {tma::make_box_map(in, {uint64_t(g.in_w), uint64_t(g.in_h), uint64_t(planes)},
                            {uint32_t(W::kCols), uint32_t(W::kRows), 1}),
          tiles_w, tiles_h * tiles_w, unsigned(depthwise_blocks(planes, tiles_h, tiles_w))};
}

// Runs out = bias + w (*) in (w turned by 180 degrees when kFlip) on every plane with
// correlate_kernel and returns true, or returns false when it does not fit, for the caller's
// cp.async kernels, as it does for run-time kernel sizes (0 x 0) and those past kMaxTaps.
template <int KH, int KW, bool kFlip>
bool correlate(const PlaneConv& g, int64_t planes, const float* in, const float* w, const float* bias, float* out,
               cudaStream_t st) {
  if constexpr (KH * KW == 0 || KH * KW > kMaxTaps) {
    return false;
  } else {
    if (!fits<KH, KW>(g, planes, in, out)) return false;
    const Launch l = make_launch<KH, KW>(g, planes, in);
    correlate_kernel<KH, KW, kFlip><<<l.blocks, depthwise::kThreads, smem_bytes<KH, KW>(), st>>>(
        l.map, g, l.tiles_w, l.tiles_per_plane, w, bias, out);
    DSCONV_LAUNCH_CHECK();
    return true;
  }
}

// dW_dw and db_dw partials of the forward correlation `g` (x to t) from x and dt by
// weight_grad_kernel, and true; or false when it does not fit, or when its blocks would not be
// the `groups_per_channel` the caller's partials are laid out for, for the caller's cp.async
// kernels.
template <int KH, int KW>
bool weight_grad(const PlaneConv& g, int64_t images, int64_t groups_per_channel, const float* x, const float* dt,
                 float* partial, float* bias_partial, cudaStream_t st) {
  if constexpr (KH * KW == 0 || KH * KW > kMaxTaps) {
    return false;
  } else {
    const int64_t planes = images * g.channels;
    if (!fits<KH, KW>(g, planes, x, dt)) return false;
    const Launch l = make_launch<KH, KW>(g, planes, x);
    if (images * l.groups_per_plane() != groups_per_channel) return false;
    weight_grad_kernel<KH, KW><<<l.blocks, depthwise::kThreads, smem_bytes<KH, KW>(), st>>>(
        l.map, g, l.tiles_w, l.tiles_per_plane, int(images), dt, partial, bias_partial);
    DSCONV_LAUNCH_CHECK();
    return true;
  }
}

// The forward correlation of a problem (x to t), and the one that makes dx from dt, when the
// problem has unit stride and dilation (plane sides fit in an int: Problem keeps them <= 2^20).
inline std::optional<PlaneConv> forward_conv(const ConvShape& s) {
  if (!unit_steps(s)) return std::nullopt;
  return PlaneConv{int(s.h), int(s.w), int(s.ho), int(s.wo), s.ph, s.pw, int(s.c_in)};
}
inline std::optional<PlaneConv> transposed_conv(const ConvShape& s) {
  if (!unit_steps(s)) return std::nullopt;
  return PlaneConv{int(s.ho), int(s.wo), int(s.h), int(s.w), s.kh - 1 - s.ph, s.kw - 1 - s.pw, int(s.c_in)};
}

}  // namespace depthwise_tma
}  // namespace
}  // namespace dsconv
