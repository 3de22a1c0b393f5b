// Shared-memory tiles for the depthwise stage. A block takes a TH x TW tile of one image
// plane; the input window it needs (the tile's rows and columns widened by the kernel's
// halo, under any stride and dilation) is staged in shared memory with coalesced loads,
// 16 bytes wide when the rows allow it, zeros standing in for the padding.
#pragma once

#include <cstdint>

#include "kernels/common/async_copy.cuh"
#include "kernels/common/conv_shape.cuh"
#include "kernels/common/window_math.h"

namespace dsconv::depthwise {

constexpr int kThreads = 256;
constexpr int kThreadRows = 16;    // threads along the tile's rows
constexpr int kGroupsPerRow = 16;  // threads along a row; thread tx owns columns tx + 16 q, q < 4
constexpr int kColumnStride = kGroupsPerRow;
constexpr int kRowsPerThread = 2;  // each thread makes rows ty and ty + kThreadRows
constexpr int kMaxTileRows = kThreadRows * kRowsPerThread;
constexpr int kMaxTileCols = 4 * kGroupsPerRow;
constexpr int kPipelineStages = 3;  // windows a block holds: two in flight while one is computed
// kPipelineStages windows within the 48 KB a block may take by default (less the weight
// kernel's static reduction scratch).
constexpr int kMaxWindowFloats = 4 * 1024 - 32;
constexpr int kTilesPerBlock = 8;  // tiles a block walks; the first two windows are not hidden

// Blocks per multiprocessor the kernels ask the compiler to fit (it caps registers to match):
// four for the small kernel sizes, so that enough windows are in flight to cover memory
// latency; two for the large and the run-time sizes, whose taps need more registers.
constexpr int min_blocks(int kh, int kw) { return kh * kw > 0 && kh * kw <= 9 ? 4 : 2; }

// Shape of a block's tile: sized so that its source window fits the shared-memory budget.
struct TileShape {
  int rows = kMaxTileRows, cols = kMaxTileCols;  // output tile
  int src_rows = 0, src_cols = 0;                // staged window, cols padded for float4 alignment

  size_t window_bytes() const { return size_t(src_rows) * size_t(src_cols) * sizeof(float); }
};

// A row pitch of at least `cols` floats, whole float4, and 16 floats past a multiple of 32:
// the two rows a warp reads then fall in different halves of the banks.
inline int conflict_free_pitch(int cols) {
  int pitch = (cols + 3) / 4 * 4;
  while (pitch % 32 != 16) pitch += 4;
  return pitch;
}

// The largest tile (halving columns, then rows) whose window fits in `budget_floats`;
// rows == 0 when not even a 1 x 4 tile fits.
inline TileShape choose_tile(int k_h, int k_w, int s_h, int s_w, int d_h, int d_w, int64_t budget_floats) {
  TileShape t;
  while (true) {
    t.src_rows = window(t.rows, k_h, s_h, d_h);
    // + slack for the 16-byte-aligned start, rounded to whole float4 so rows stay aligned.
    t.src_cols = conflict_free_pitch(window(t.cols, k_w, s_w, d_w) + 8);
    if (int64_t(t.src_rows) * t.src_cols <= budget_floats) return t;
    if (t.cols > 4)
      t.cols /= 2;
    else if (t.rows > 1)
      t.rows /= 2;
    else
      return TileShape{0, 0, 0, 0};
  }
}

// Copies rows [row0, row0 + rows) x columns [col0, col0 + cols) of a plane of size
// plane_h x plane_w into smem (pitch `pitch`) with asynchronous copies, zeros outside the
// plane; the caller commits and waits. Returns the column offset at which col0 landed: with
// `vector` (plane_w % 4 == 0) the copied columns start at the 4-aligned column at or below
// col0, so that every global read is one aligned 16-byte copy.
// (One flat index over the window keeps every lane busy; a warp per row, which avoids the
// division, left lanes idle on 64-column tiles and measured 9% slower.)
__device__ inline int copy_window_async(const float* __restrict__ plane, int64_t plane_h, int64_t plane_w, int64_t row0,
                                        int rows, int64_t col0, int cols, float* __restrict__ smem, int pitch,
                                        bool vector) {
  if (vector) {
    const int64_t start = floor_div(col0, 4) * 4;
    const int offset = int(col0 - start);
    const int quads = (offset + cols + 3) / 4;
    for (int idx = threadIdx.x; idx < rows * quads; idx += blockDim.x) {
      const int r = idx / quads, q = idx % quads;
      const int64_t gr = row0 + r, gc = start + 4 * q;
      const bool ok = gr >= 0 && gr < plane_h && gc >= 0 && gc < plane_w;
      gemm::copy_async_16(smem + r * pitch + 4 * q, ok ? plane + gr * plane_w + gc : plane, ok);
    }
    return offset;
  }
  for (int idx = threadIdx.x; idx < rows * cols; idx += blockDim.x) {
    const int r = idx / cols, c = idx % cols;
    const int64_t gr = row0 + r, gc = col0 + c;
    const bool ok = gr >= 0 && gr < plane_h && gc >= 0 && gc < plane_w;
    gemm::copy_async_4(smem + r * pitch + c, ok ? plane + gr * plane_w + gc : plane, ok);
  }
  return 0;
}

// Runs body(tile, window, offset) for tiles [first, last) of a block, with the windows of
// the next two tiles copied (by issue(tile, smem), which returns the window's column offset)
// while the current one is computed: two windows in flight per block is what keeps enough
// bytes moving to cover device-memory latency. `smem` holds kPipelineStages windows of
// `window_floats`.
template <class Issue, class Body>
__device__ __forceinline__ void pipelined_tiles(int64_t first, int64_t last, float* smem, int window_floats,
                                                Issue&& issue, Body&& body) {
  static_assert(kPipelineStages == 3, "the rotation below holds three windows");
  const int count = int(last - first);  // a block's tiles: at most kTilesPerBlock
  // Column offsets of the windows of tiles i, i + 1 and i + 2; every step commits one copy
  // group, empty or not, so that waiting for all but the newest two always means tile i.
  int current = count > 0 ? issue(first, smem) : 0;
  gemm::copy_async_commit();
  int next = count > 1 ? issue(first + 1, smem + window_floats) : 0;
  gemm::copy_async_commit();
  int buf = 0;  // the buffer of tile i; tile i + 2 goes to the one tile i - 1 used
  for (int i = 0; i < count; ++i) {
    const int ahead_buf = buf == 0 ? 2 : buf - 1;
    const int ahead = i + 2 < count ? issue(first + i + 2, smem + ahead_buf * window_floats) : 0;
    gemm::copy_async_commit();
    gemm::copy_async_wait<2>();
    __syncthreads();
    body(first + i, smem + buf * window_floats, current);
    __syncthreads();  // this window is refilled by the next step's copies
    current = next;
    next = ahead;
    buf = buf == 2 ? 0 : buf + 1;
  }
  gemm::copy_async_wait<0>();
}

// Writes a thread's 4 outputs of one row, at columns col + 16 q: a warp's store covers 16
// adjacent columns of two rows.
__device__ inline void store_spaced(float* __restrict__ row, int64_t col, int64_t width, int tile_col, int tile_cols,
                                    const float (&v)[4]) {
#pragma unroll
  for (int q = 0; q < 4; ++q)
    if (tile_col + q * kColumnStride < tile_cols && col + q * kColumnStride < width)
      row[col + q * kColumnStride] = v[q];
}

}  // namespace dsconv::depthwise
