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
// On sm_90, where the clusters fit, a tile's splits are one cluster instead and add their
// sums in shared memory (common/cluster_sum.cuh): H100, b7 0.038 -> 0.035 ms, b14 0.062 ->
// 0.050; or, at one block a multiprocessor, several clusters, each summing into a copy of y
// (b15 0.069 -> 0.061, b17 0.104 -> 0.098).
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
// KernelBench shape) for dx, the transposed depthwise convolution, computed with the halo
// staged from dt; making it from the tile's own dt would need dt on a halo around every
// tile, that is recomputing a third more of the dt GEMM. Where the TMA kernel takes the
// problem in one launch with two waves of tiles or more, some of that launch's blocks (10 of
// 132 on an H100) make dx as the others store dt, a few tile rows behind them
// (fused/dx_followers.cuh; a cooperative launch): 4.01 ms against 4.41-4.44 with dx after it
// (H100, KernelBench shape, one call). Else a second pass makes dx (`tiled`'s kernels: common/depthwise_tma.cuh on sm_90
// at unit stride, else common/depthwise_kernels.cuh). t is never stored, in either pass.
//
// Precision: strict fp32, FFMA only.
//
// The device code is in kernels/fused/: tile_windows.cuh (the staged x window and the
// depthwise runs over it), forward_staged.cuh (fused_forward_kernel), forward_tma.cuh,
// forward_wide.cuh, backward.cuh and dx_followers.cuh (its walk: dx_walk.h); tile_geometry.h
// plans the tiles of the first two. This file plans and launches them.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/common/cluster_sum.cuh"
#include "kernels/common/conv_shape.cuh"
#include "kernels/common/depthwise_direct.cuh"
#include "kernels/common/depthwise_kernels.cuh"
#include "kernels/common/depthwise_tma.cuh"
#include "kernels/common/ffma_gemm.cuh"
#include "kernels/common/fresh_index.cuh"
#include "kernels/common/reduce.cuh"
#include "kernels/common/tma.cuh"
#include "kernels/common/weight_grad_tile.cuh"
#include "kernels/cuda_check.h"
#include "kernels/fused/backward.cuh"
#include "kernels/fused/forward_staged.cuh"
#include "kernels/fused/forward_tma.cuh"
#include "kernels/fused/forward_wide.cuh"
#include "kernels/fused/tile_windows.cuh"
#include "kernels/kernel.h"
#include "kernels/tma_map.h"

namespace dsconv {
namespace {

// ---------------------------------------------------------------------------------------
// Host side.

struct Plan {
  ConvShape s;
  Geometry forward_geometry, backward_geometry;
  TileShape dx_tile;
  int64_t dx_tiles_h = 0, dx_tiles_w = 0;
  bool dx_direct = false;  // input planes small enough for depthwise_direct.cuh's dx kernel
  int forward_grid = 1, backward_grid = 1;
  int forward_splits = 1;        // fused_forward_kernel's splits of C_in (its grid's y)
  int forward_cluster_blocks = 1;  // the splits of a tile in clusters of this many, adding their sums there
  float* partial_y = nullptr;      // the copies of y of a tile's clusters (or splits), when more than one
  // The copies of y that sum_planes adds: one a cluster of splits.
  int forward_planes() const { return forward_splits / forward_cluster_blocks; }
  int forward_rows = 128;      // fused_forward_kernel's GEMM tile rows (staged_forward_rows)
  int forward_x_floats = 0;    // and its x buffers' floats (staged_forward_x_floats)
  BackwardWindows backward_windows = BackwardWindows::copied;
  bool wide_forward = false;  // fused_forward_wide_kernel takes the forward
  WideArgs wide_args{};
  int wide_grid = 1;
  bool tma_forward = false;    // else fused_forward_tma_kernel does
  bool tma_depthwise = false;  // depthwise_tma::correlate_kernel can make dx
  // Blocks of the backward's grid, beside its backward_grid walkers, that make dx as the
  // walkers store dt (fused/dx_followers.cuh); 0: dx in a second pass.
  int dx_followers = 0;
  unsigned* progress = nullptr;  // the walkers' (common/tile_progress.cuh), zeroed before each launch
  Geometry tma_geometry;
  TmaForwardArgs tma_args{};
  int tma_grid = 1;
  float* dt = nullptr;
  float* partial_dw_pw = nullptr;
  float* partial_db_pw = nullptr;
  float* partial_dw_dw = nullptr;
  float* partial_db_dw = nullptr;
};

template <class T, int XFloats, int KH, int KW>
struct LaunchFusedForward {
  template <class Steps>
  static constexpr auto kernel = fused_forward_kernel<T, XFloats, KH, KW, Steps>;
  static constexpr int blocks_per_sm() { return kForwardBlocksPerSM<T, KH, KW>; }
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
  // A launch of `splits` rows of `tiles` blocks, a tile's splits in clusters of
  // `cluster_blocks` (the launch's attributes point into `attribute`).
  static cudaLaunchConfig_t config(int64_t tiles, int splits, int cluster_blocks, cudaLaunchAttribute& attribute,
                                   cudaStream_t st) {
    cudaLaunchConfig_t c{};
    c.gridDim = dim3(unsigned(tiles), unsigned(splits));
    c.blockDim = dim3(kThreads);
    c.dynamicSmemBytes = forward_smem_bytes<T, XFloats>();
    c.stream = st;
    if (cluster_blocks > 1) {
      attribute.id = cudaLaunchAttributeClusterDimension;
      attribute.val.clusterDim.x = 1;
      attribute.val.clusterDim.y = unsigned(cluster_blocks);
      attribute.val.clusterDim.z = 1;
      c.attrs = &attribute;
      c.numAttrs = 1;
    }
    return c;
  }
  // Whether all the clusters of `cluster_blocks` over `tiles` tiles of `splits` splits are
  // resident at once. A device that cannot say (the query fails) gets no clusters: the
  // copies' path serves it.
  static bool clusters_fit(const ConvShape& s, const Geometry& g, int64_t tiles, int splits, int cluster_blocks) {
    cudaLaunchAttribute attribute{};
    const cudaLaunchConfig_t c = config(tiles, splits, cluster_blocks, attribute, nullptr);
    int clusters = 0;
    if (cudaOccupancyMaxActiveClusters(&clusters, pick(s, g), &c) != cudaSuccess) {
      (void)cudaGetLastError();  // the failed query's error, not a later launch's
      return false;
    }
    return clusters >= tiles * (splits / cluster_blocks);
  }
  static void run(const Plan& q, const DeviceTensors& d, cudaStream_t st) {
    cudaLaunchAttribute attribute{};
    const cudaLaunchConfig_t c = config(q.forward_grid, q.forward_splits, q.forward_cluster_blocks, attribute, st);
    DSCONV_CUDA_CHECK(cudaLaunchKernelEx(&c, pick(q.s, q.forward_geometry), q.s, q.forward_geometry, d.x, d.w_dw,
                                         d.b_dw, d.w_pw, d.b_pw, d.y, q.partial_y));
    if (q.forward_planes() > 1) launch_sum_planes(q.partial_y, q.forward_planes(), d.y, q.s.y_elems(), st);
  }
  static void prepare() {
    auto allow = [](auto f) {
      DSCONV_CUDA_CHECK(
          cudaFuncSetAttribute(f, cudaFuncAttributeMaxDynamicSharedMemorySize, int(forward_smem_bytes<T, XFloats>())));
    };
    allow(kernel<RunTimeSteps>);
    if constexpr (kFixedVariants)
      for (const auto f : {kernel<FixedSteps<1, 32>>, kernel<FixedSteps<1, 16>>, kernel<FixedSteps<1, 16, true>>,
                           kernel<FixedSteps<2, 32>>, kernel<FixedSteps<2, 16>>, kernel<FixedSteps<2, 16, true>>})
        allow(f);
  }
};
using Tile128 = gemm::Tile<128, kPixels, 32, 8, 8, 2, 4>;
using Tile64 = gemm::Tile<64, kPixels, 32, 4, 8, 2, 4>;
// Each warp all 160 rows and 16 of the columns: 5 float4 of W and one of t a k step, for 80 FFMA.
using Tile160 = gemm::Tile<160, kPixels, 32, 20, 4, 1, 8>;
template <int KH, int KW>
struct Forward128 : LaunchFusedForward<Tile128, kForwardXFloats, KH, KW> {};
template <int KH, int KW>
struct Forward64 : LaunchFusedForward<Tile64, kForwardXFloats, KH, KW> {};
template <int KH, int KW>
struct Forward64WideX : LaunchFusedForward<Tile64, kForward64XFloats, KH, KW> {};
template <int KH, int KW>
struct Forward160 : LaunchFusedForward<Tile160, kForward160XFloats, KH, KW> {};

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
  // Whether the TMA variant's followers make dx in this launch (Plan::dx_followers), and not
  // the second pass: they need it where the plan could not look, dx's alignment.
  static bool followers_make_dx(const Plan& q, const DeviceTensors& d) {
    if constexpr (!kCompileTimeTaps) {
      return false;
    } else {
      const auto conv = depthwise_tma::transposed_conv(q.s);
      return q.dx_followers > 0 && conv && tma_aligned(q, d) &&
             depthwise_tma::fits<KH, KW>(*conv, q.s.n * q.s.c_in, q.dt, d.dx);
    }
  }
  static bool tma_aligned(const Plan& q, const DeviceTensors& d) {
    return reinterpret_cast<uintptr_t>(d.x) % 16 == 0 && reinterpret_cast<uintptr_t>(q.dt) % 16 == 0 &&
           reinterpret_cast<uintptr_t>(d.dy) % 16 == 0;
  }
  static void run(const Plan& q, const DeviceTensors& d, CoSlice slice, cudaStream_t st) {
    const ConvShape& s = q.s;
    // A row of blocks a C_in slice: C_in <= 2^20 (a Problem's limit) makes at most 16,384 of
    // the 65,535 rows a grid may have.
    const dim3 grid(unsigned(q.backward_grid), unsigned(ceil_div(s.c_in, int64_t(kCiSlice))));
    CUtensorMap x_map{}, dy_map{}, dt_map{}, dt_windows{};  // read by the TMA variant only
    DxFollowers followers{};
    followers.walkers = q.backward_grid;
    auto launch = [&](auto kernel, size_t smem) {
      kernel<<<grid, kThreads, smem, st>>>(x_map, dy_map, dt_map, dt_windows, followers, s, q.backward_geometry, slice,
                                           d.x, d.w_dw, d.b_dw, d.w_pw, d.dy, q.dt, q.partial_dw_pw, q.partial_db_pw,
                                           q.partial_dw_dw, q.partial_db_dw);
      DSCONV_LAUNCH_CHECK();
    };
    if constexpr (kCompileTimeTaps) {
      if (q.backward_windows == BackwardWindows::tma_blocks && tma_aligned(q, d)) {
        x_map = tma::make_box_map(d.x, {uint64_t(s.w), uint64_t(s.h), uint64_t(s.c_in), uint64_t(s.n)},
                                  {uint32_t(Window::kCols), uint32_t(Window::kRows), uint32_t(kPartChannels), 1});
        // dy_tile.cuh: a box a tile row, of a C_out slice's channels, swizzled.
        dy_map = tma::make_box_map(d.dy, {uint64_t(s.wo), uint64_t(s.ho), uint64_t(s.c_out), uint64_t(s.n)},
                                   {uint32_t(dy_tile::kCols), 1, uint32_t(dy_tile::kChannels), 1},
                                   CU_TENSOR_MAP_SWIZZLE_128B);
        dt_map = tma::make_box_map(q.dt, {uint64_t(s.wo), uint64_t(s.ho), uint64_t(s.c_in), uint64_t(s.n)},
                                   {uint32_t(kUnitCols), uint32_t(kUnitRows), uint32_t(kCiSlice), 1});
        const auto kernel = fused_backward_kernel<KH, KW, BackwardWindows::tma_blocks>;
        if (!followers_make_dx(q, d)) return launch(kernel, TmaLayout::bytes());
        // Every block resident at once (a cooperative launch): a follower waits on walkers.
        const depthwise_tma::PlaneConv conv = *depthwise_tma::transposed_conv(s);
        const depthwise_tma::Launch dx = depthwise_tma::make_launch<KH, KW>(conv, s.n * s.c_in, q.dt);
        dt_windows = dx.map;
        followers.progress = q.progress;
        followers.dx = d.dx;
        followers.conv = conv;
        followers.tiles_w = dx.tiles_w;
        followers.tiles_h = dx.tiles_per_plane / dx.tiles_w;
        followers.images = int(s.n);
        DSCONV_CUDA_CHECK(cudaMemsetAsync(q.progress, 0, sizeof(unsigned) * size_t(q.backward_grid), st));
        cudaLaunchConfig_t c{};
        c.gridDim = dim3(unsigned(q.backward_grid + q.dx_followers));
        c.blockDim = dim3(kThreads);
        c.dynamicSmemBytes = TmaLayout::bytes();
        c.stream = st;
        cudaLaunchAttribute cooperative{};
        cooperative.id = cudaLaunchAttributeCooperative;
        cooperative.val.cooperative = 1;
        c.attrs = &cooperative;
        c.numAttrs = 1;
        DSCONV_CUDA_CHECK(cudaLaunchKernelEx(&c, kernel, x_map, dy_map, dt_map, dt_windows, followers, s,
                                             q.backward_geometry, slice, d.x, d.w_dw, d.b_dw, d.w_pw, d.dy, q.dt,
                                             q.partial_dw_pw, q.partial_db_pw, q.partial_dw_dw, q.partial_db_dw));
        return;
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
      return unit_steps(s) && s.wo >= kUnitCols && s.w % 4 == 0 && s.wo % 4 == 0 &&
             tma::lead_columns(-s.pw) == Window::kOffset &&
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
    // As `tiled` does: a staged tile on a 14 x 14 plane is mostly padding (MobileNet b14, H100:
    // the staged dx took 0.205 ms, `tiled`'s whole backward with the direct kernel 0.232).
    if (q.dx_direct) return direct::launch_backward_data<KH, KW>(q.s, q.dt, d.w_dw, d.dx, st);
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

// Calls fn(Forward<KH, KW>{}) for the staged forward of `rows` GEMM rows and x buffers of
// `x_floats` (staged_forward_rows, staged_forward_x_floats).
template <class Fn>
void by_forward_tile(int rows, int x_floats, int kh, int kw, Fn&& fn) {
  if (rows == 64 && x_floats == kForward64XFloats) return by_kernel_size<Forward64WideX>(kh, kw, fn);
  if (rows == 64) return by_kernel_size<Forward64>(kh, kw, fn);
  if (rows == 160) return by_kernel_size<Forward160>(kh, kw, fn);
  by_kernel_size<Forward128>(kh, kw, fn);
}

// fused_forward_kernel's splits of C_in (Plan::forward_splits), and how they are added: on
// sm_90 in clusters, as large as divide the splits, fit the portable cluster size (8) and are
// all resident at once; a tile's clusters, or its splits without them, through copies of y.
// Fewer splits, to make whole-tile clusters fit, lost more than the copies cost on three of
// four layers (H100: at 2 blocks a multiprocessor 62 clusters of 4 fit, not 64, and 3 splits
// in clusters instead of 4 through copies took MobileNet b8's forward from 0.042 to 0.045 ms,
// b12's from 0.078 to 0.084 and, at one block, b17's from 0.104 to 0.110; b15's went from 0.069
// to 0.062 with 6 instead of 8).
void plan_forward_splits(Plan& q, int64_t output_tiles, int sms, Workspace& ws) {
  by_forward_tile(q.forward_rows, q.forward_x_floats, q.s.kh, q.s.kw, [&](auto launch) {
    q.forward_splits = fused::forward_k_splits(output_tiles, ceil_div(q.s.c_in, int64_t(kChunk)),
                                               int64_t(sms) * launch.blocks_per_sm());
    q.forward_cluster_blocks = 1;
    const auto kernel = launch.pick(q.s, q.forward_geometry);
    if (q.forward_splits == 1 || !tma::sm90_code_runs(reinterpret_cast<const void*>(kernel))) return;
    // A tile's splits in several clusters, through fewer copies, only at one block a
    // multiprocessor (H100, same process, clusters of 2: b15 0.069 -> 0.061 ms, b17 0.104 ->
    // 0.098; at two blocks b8 0.042 -> 0.043 and b12 0.078 -> 0.080).
    q.forward_cluster_blocks =
        fused::split_cluster_blocks(q.forward_splits, launch.blocks_per_sm() == 1, [&](int blocks) {
          return launch.clusters_fit(q.s, q.forward_geometry, output_tiles, q.forward_splits, blocks);
        });
  });
  // One tile a block (forward_k_splits): a cluster's blocks stage their sums over buffers that
  // no next tile's copies fill.
  if (q.forward_planes() > 1) q.partial_y = ws.allocate_array<float>(size_t(q.s.y_elems()) * q.forward_planes());
}

// Plan::dx_followers: where the TMA backward takes the problem in one launch (one slice of
// C_in and of C_out), dx's TMA kernel fits it, and the tiles are enough that every walker has
// several, some blocks of the grid make dx beside the walkers instead of a second pass, as many
// as the share of a multiprocessor dx's work needs. The walkers are then the rest.
void plan_dx_followers(Plan& q, int sms, Workspace& ws) {
  const ConvShape& s = q.s;
  const auto conv = depthwise_tma::transposed_conv(s);
  if (q.backward_windows != BackwardWindows::tma_blocks || s.c_in > kCiSlice || s.c_out > kCoSlice ||
      !q.tma_depthwise || q.dx_direct || !conv || conv->in_w % 4 != 0 || conv->out_w % 4 != 0)
    return;
  const int64_t tiles = s.n * q.backward_geometry.tiles_h * q.backward_geometry.tiles_w;
  if (tiles < kFollowerMinWaves * int64_t(sms) || tiles >= (int64_t(1) << 31) - 2 * int64_t(sms)) return;
  int device = 0, cooperative = 0;
  DSCONV_CUDA_CHECK(cudaGetDevice(&device));
  DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
  if (!cooperative) return;
  q.dx_followers = std::clamp(int(std::lround(kFollowerShare * sms * double(s.c_in) / kCiSlice)), 1, sms / 4);
  q.backward_grid = sms - q.dx_followers;
  q.progress = ws.allocate_array<unsigned>(size_t(q.backward_grid));
}

class Fused final : public Kernel {
 public:
  std::string_view name() const override { return "fused"; }
  std::string_view summary() const override {
    return "depthwise into shared memory + FFMA GEMM in one kernel, t never in device memory; backward fused "
           "per tile (dt, t, dW_pw, dW_dw), dx beside it in the same launch on large planes, else in a second pass; "
           "deterministic";
  }

  std::string unsupported_reason(const Problem& p) const override {
    const ConvShape s = conv_shape(p);
    if (make_geometry(s, kForwardXFloats, kChunk, kForwardRun).sub_channels == 0 ||
        make_geometry(s, kBackwardXFloats, kCiSlice, kBackwardRun).sub_channels == 0)
      return fmt::format(
          "the x window of one channel under a 128-pixel tile ({} x {} taps, stride {}x{}, dilation "
          "{}x{}) exceeds the shared memory a fused block stages",
          p.conv.kh, p.conv.kw, p.conv.stride_h, p.conv.stride_w, p.conv.dil_h, p.conv.dil_w);
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
    q.forward_rows = staged_forward_rows(p.c_out);
    q.forward_x_floats = staged_forward_x_floats(q.s, q.forward_rows);
    q.forward_geometry = make_geometry(q.s, q.forward_x_floats, kChunk, kForwardRun, true);
    q.backward_geometry = make_geometry(q.s, kBackwardXFloats, kCiSlice, kBackwardRun);
    if (unit_steps(q.s) && q.backward_geometry.tw == kUnitCols) q.backward_windows = BackwardWindows::unit_tile;
    by_kernel_size<LaunchFusedBackward>(p.conv.kh, p.conv.kw, [&](auto launch) {
      if (launch.tma_usable(q.s)) q.backward_windows = BackwardWindows::tma_blocks;
    });
    q.dx_tile = input_space_tile(p);
    q.dx_tiles_h = ceil_div(q.s.h, q.dx_tile.rows);
    q.dx_tiles_w = ceil_div(q.s.w, q.dx_tile.cols);
    q.dx_direct = direct::small_planes(q.s.in_pixels(), int64_t(q.dx_tile.rows) * q.dx_tile.cols);
    int device = 0, sms = 0;
    DSCONV_CUDA_CHECK(cudaGetDevice(&device));
    DSCONV_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    const int64_t pixel_tiles = q.forward_geometry.pixel_tiles(p.n);
    const int64_t m_tiles = ceil_div(p.c_out, int64_t(q.forward_rows));
    // One wave: the rows of blocks (one a C_in slice) share the multiprocessors, each row's
    // blocks walking its tiles, so that a block's next tile is copied while it computes this
    // one and fewer blocks write partial sums. Before, each row had a block a tile (up to one
    // a multiprocessor) and the rows ran in waves: H100, MobileNet's 14 x 14 and 7 x 7 layers'
    // backward 17-36% faster (b17 0.611 -> 0.389 ms), C_in 256 -> 512 on 256 x 256 images 5%.
    const int64_t ci_slices = ceil_div(p.c_in, int64_t(kCiSlice));
    q.backward_grid = int(std::min<int64_t>(p.n * q.backward_geometry.tiles_h * q.backward_geometry.tiles_w,
                                            std::max<int64_t>(1, sms / ci_slices)));
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
    q.forward_grid = int(std::min<int64_t>(pixel_tiles * m_tiles, 2 * int64_t(sms)));
    by_forward_tile(q.forward_rows, q.forward_x_floats, p.conv.kh, p.conv.kw, [](auto launch) { launch.prepare(); });
    if (!q.wide_forward && !q.tma_forward) plan_forward_splits(q, pixel_tiles * m_tiles, sms, ws);
    by_kernel_size<LaunchFusedBackward>(p.conv.kh, p.conv.kw, [](auto launch) { launch.prepare(); });
    plan_dx_followers(q, sms, ws);

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
    else
      by_forward_tile(q.forward_rows, q.forward_x_floats, p.conv.kh, p.conv.kw,
                      [&](auto launch) { launch.run(q, d, st); });
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
           const int64_t bias_pw = p.bias ? p.c_out : 0, bias_dw = p.bias ? p.c_in : 0;
           launch_reduce_partial_sets({{q->partial_dw_pw, d.dw_pw, p.c_out * p.c_in},
                                       {q->partial_dw_dw, d.dw_dw, p.c_in * p.taps()},
                                       {q->partial_db_pw, d.db_pw, bias_pw},
                                       {q->partial_db_dw, d.db_dw, bias_dw}},
                                      q->backward_grid, st);
         }});
    bool followers_make_dx = false;
    by_kernel_size<LaunchFusedBackward>(p.conv.kh, p.conv.kw,
                                        [&](auto launch) { followers_make_dx = launch.followers_make_dx(*q, d); });
    if (followers_make_dx) {  // one launch: the fused stage has dx's bytes and FMA too
      stages.back().name = "fused + dx";
      stages.back().bytes = f * (2 * x + y);  // x and dy in, dx out
      stages.back().flops += 2 * t * double(p.taps());
      return stages;
    }
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
