// The dx followers' walk over dx tiles (fused/dx_followers.cuh), and which walker tile a dx
// tile must wait for. Host-callable, so that its arithmetic is tested on the CPU
// (tests/cpu/test_dx_walk.cpp): a follower that waited for too early a tile would read dt
// that is not written yet, and no verification would see it unless the timing went wrong.
#pragma once

#include <cuda_runtime.h>  // __host__, __device__

#include <algorithm>
#include <cstdint>

#include "kernels/fused/tile_geometry.h"

namespace dsconv::fused {

// The dx tiles of a launch: `tiles_w` x `tiles_h` a plane, `channels` planes an image,
// counted in (image, row band, channel, column) order.
struct DxTiles {
  int tiles_w, tiles_h, channels;
};

// A dx tile's place in that order as mixed-radix digits, walked by additions: a follower
// warp's next tile is `step` tiles on, and a division a digit each time cost more than the
// tile's arithmetic.
struct DxPlace {
  int col, c, band, img;
  __host__ __device__ static DxPlace of(int64_t u, const DxTiles& t) {
    const int64_t bands = u / (int64_t(t.tiles_w) * t.channels);
    return {int(u % t.tiles_w), int(u / t.tiles_w % t.channels), int(bands % t.tiles_h), int(bands / t.tiles_h)};
  }
  // Adds `step`'s digits, carrying (each digit stays below its radix, so one carry at most).
  __host__ __device__ void advance(const DxPlace& step, const DxTiles& t) {
    col += step.col;
    const int c_carry = col >= t.tiles_w;
    col -= c_carry * t.tiles_w;
    c += step.c + c_carry;
    const int band_carry = c >= t.channels;
    c -= band_carry * t.channels;
    band += step.band + band_carry;
    const int img_carry = band >= t.tiles_h;
    band -= img_carry * t.tiles_h;
    img += step.img + img_carry;
  }
};

// The last walker tile - the end of its row of tiles - whose dt a dx tile of `tile_rows`
// output rows at row band `band` of image `img` reads: its window's rows reach KH - 1 - pad_h
// past its last output row, within dt's `dt_rows`. The walkers' tiles are `walk`'s, numbered
// row-major by image, `per_image` an image.
template <int KH>
__host__ __device__ inline unsigned last_walker_tile(int img, int band, int tile_rows, int pad_h, int dt_rows,
                                                     const Geometry& walk, int per_image) {
  const int row = band * tile_rows;
#ifdef __CUDA_ARCH__  // the device's min and max, with which the followers were measured; std's on the host
  const int last_row = max(0, min(dt_rows - 1, row + tile_rows - 1 + KH - 1 - pad_h));
#else
  const int last_row = std::max(0, std::min(dt_rows - 1, row + tile_rows - 1 + KH - 1 - pad_h));
#endif
  return unsigned(img * per_image + (last_row / walk.th + 1) * int(walk.tiles_w) - 1);
}

}  // namespace dsconv::fused
