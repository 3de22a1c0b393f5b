// The fused backward's dy tile by TMA (sm_90): 128 channels of a 4 x 32 pixel tile, one box
// a tile row, each landing as [channel][32 columns] with the 128-byte swizzle; and the two ways
// its GEMMs read it.
//
// Why: copied by cp.async, each of the block's 256 threads issued sixteen 16-byte copies a tile
// with their addresses and predicates, about 1,300 of a tile's 30,000 cycles, at the top of
// the tile where every warp waits (clock64 phase timings, docs/performance-notes.md). A TMA
// box is issued by one thread. But a box lands dense, and dense rows of 32 floats put every
// channel's pixel k on one bank: the dW_pw GEMM, whose 8 lanes of a quarter-warp read 8
// consecutive channels at one pixel, would take 8 wavefronts a read. The 128-byte swizzle
// XORs a row's 16-byte chunk index with the row's place in its 1024 bytes, here the channel
// mod 8: those 8 reads fall on 8 different chunks. The dt GEMM, whose quarter-warp reads one
// channel's 8 chunks, reads a whole 128-byte row in some order, conflict-free as well. Rows
// are one tile row (not the 4 x 32 pixels of a channel) because the swizzle spans 128 bytes.
#pragma once

#include "kernels/common/tma.cuh"

namespace dsconv {
namespace {

namespace dy_tile {

constexpr int kChannels = 128;                 // of C_out: a slice
constexpr int kRows = 4, kCols = 32;           // a tile's pixels, row-major
constexpr int kRowFloats = kChannels * kCols;  // one box: a tile row of every channel
constexpr int kFloats = kRows * kRowFloats;
constexpr uint32_t kBytes = uint32_t(sizeof(float)) * kFloats;
constexpr int kAlignment = 1024;  // bytes: the swizzle's period, which the tile starts on
static_assert(kCols * sizeof(float) == 128, "a box row is the 128-byte swizzle's span");

// The float offset of pixel px's group of 4 (px % 4 == 0; px = row * kCols + column) of
// channel co, with `key` = co % 8.
__device__ __forceinline__ int place(int co, int px, int key) {
  return (px / kCols) * kRowFloats + co * kCols + ((((px / 4) % 8) ^ key) * 4);
}

// One thread's rows of the tile for the weight-gradient GEMM's multiply_k_span_rows: channel co
// and those a multiple of 8 further on (which have the same key), each read as float4 at pixel k.
struct ChannelRows {
  static constexpr int kRowStride = kCols;
  const float* first;  // channel co's row 0
  int key;
  __device__ ChannelRows(const float* tile, int co) : first(tile + co * kCols), key(co % 8) {}
  __device__ const float* at(int k) const { return first + place(0, k, key); }
};

// One thread's pixel groups of the tile for the dt GEMM, which reads them channel by channel
// (W_pw^T dy: k runs over the channels): groups g = 0, 1, ... of 4 pixels, a tile row apart,
// from the first at px0. Their chunk is the same; its 8 XORs are worked out once, so that in
// a loop unrolled by 8 channels each read is a register plus an offset.
struct PixelGroups {
  int at_key[8];  // by channel % 8: the first group's offset in channel 0's row
  __device__ explicit PixelGroups(int px0) {
#pragma unroll
    for (int key = 0; key < 8; ++key) at_key[key] = place(0, px0, key);
  }
  __device__ int offset(int co, int g) const { return at_key[co % 8] + co * kCols + g * kRowFloats; }
};

// Box r of the tile at (image, first row oh0, first column ow0) of channels co0..co0 + 127
// into `tile`, for r = 0..3, all counted on `full` (one thread issues them). Rows and channels
// outside dy arrive as zeros.
__device__ __forceinline__ void load(float* tile, const CUtensorMap* map, int img, int co0, int oh0, int ow0,
                                     uint64_t* full) {
  tma::barrier_arrive_expect_bytes(full, kBytes);
#pragma unroll
  for (int r = 0; r < kRows; ++r) tma::load_box(tile + r * kRowFloats, map, ow0, oh0 + r, co0, img, full);
}

}  // namespace dy_tile

}  // namespace
}  // namespace dsconv
