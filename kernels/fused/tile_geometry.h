// `fused`'s tile planning: the pixel tile, the x window behind it and how many channels of it
// are staged at once (Geometry). Host code, tested on the CPU
// (tests/cpu/test_fused_geometry.cpp).
#pragma once

#include <cuda_runtime.h>  // __host__, __device__

#include <cstdint>

#include "kernels/common/conv_shape.cuh"
#include "kernels/common/window_math.h"

namespace dsconv::fused {

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
inline Geometry make_geometry(const ConvShape& s, int max_window_floats, int max_sub_channels, int run,
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

// fused_forward_kernel's GEMM row tile: 64 rows for C_out <= 64; else 160 where that
// multiplies fewer rows than 128. C_out = 160 (MobileNet b14, b15) is then one row tile, not
// two of which the second is a quarter real rows and each makes t again; 320 (b17) two, not three.
constexpr int staged_forward_rows(int64_t c_out) {
  if (c_out <= 64) return 64;
  const auto rows_multiplied = [c_out](int64_t tile_rows) { return (c_out + tile_rows - 1) / tile_rows * tile_rows; };
  return rows_multiplied(160) < rows_multiplied(128) ? 160 : 128;
}

// fused_forward_kernel's x buffers (two a block): as many floats as leave the blocks a
// multiprocessor runs at once within its 228 KB (1 KB of which it keeps a block).
// 128-row GEMM tile, two blocks of 112.6 KB: 32 channels of a 6 x 40 window (3 x 3, stride 1)
// at a stride of 248.
constexpr int kForwardXFloats = 7936;
// 64 rows, two blocks of 113 KB: 16 channels of a 17 x 36 window (8 x 16 outputs at stride 2,
// MobileNet b7) at 612, where 7936 floats hold 8.
constexpr int kForward64XFloats = 10368;
// 160 rows, one block of 141 KB: 16 channels of a 17 x 40 window (two 7 x 7 images side by
// side at stride 2, b14) at 680, or all 32 of a chunk at stride 1 (b15, b17: 10 x 32).
constexpr int kForward160XFloats = 10880;

// The x buffers for a problem and row tile. The 64-row tile takes its larger ones only where
// they stage more channels at once: elsewhere they only take L1 cache from the
// multiprocessor (H100, MobileNet b1 at stride 1: 6% slower; b2, b4 and b7 at stride 2, with
// 16 channels at once instead of 8: 3-6% faster).
inline int staged_forward_x_floats(const ConvShape& s, int rows) {
  if (rows == 160) return kForward160XFloats;
  const auto staged = [&](int floats) { return make_geometry(s, floats, kChunk, kForwardRun, true).sub_channels; };
  if (rows == 64 && staged(kForward64XFloats) > staged(kForwardXFloats)) return kForward64XFloats;
  return kForwardXFloats;
}

// fused_forward_kernel's splits of C_in (gridDim.y) where the output tiles are fewer than the
// blocks the device holds at once: as many as keep the split tiles within those blocks (1
// where the output tiles alone fill it), each of ceil(chunks / splits) chunks but the last,
// and none empty. Splits only where the output tiles are at most half the resident blocks, so
// at most the multiprocessors: the grid is then one block a tile and split.
constexpr int forward_k_splits(int64_t output_tiles, int64_t chunks, int64_t resident_blocks) {
  const int64_t fit = resident_blocks / output_tiles;
  const int64_t most = fit < 1 ? 1 : fit < chunks ? fit : chunks;
  const int64_t per_split = (chunks + most - 1) / most;
  return int((chunks + per_split - 1) / per_split);
}

// The portable cluster size: the most blocks a cluster of a tile's splits has.
constexpr int kMostClusterBlocks = 8;

// The blocks of the clusters that a tile's `splits` splits are launched in (1: no clusters):
// the most that divide the splits, at most kMostClusterBlocks, for which fits(blocks) says
// all the clusters are resident at once. Fewer than `splits` - several clusters a tile, each
// adding into its own copy of y - only where `several_a_tile`.
template <class Fits>
int split_cluster_blocks(int splits, bool several_a_tile, Fits&& fits) {
  for (int blocks = splits < kMostClusterBlocks ? splits : kMostClusterBlocks; blocks >= 2; --blocks)
    if (splits % blocks == 0 && (blocks == splits || several_a_tile) && fits(blocks)) return blocks;
  return 1;
}

}  // namespace dsconv::fused
