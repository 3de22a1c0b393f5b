// A persistent block's (or warp group's) walk over the tiles of a launch, one tile index
// after another `workers` apart, without a division a step. Host-callable, so that its
// arithmetic is tested on the CPU (tests/cpu/test_tile_walk.cpp).
#pragma once

#include <cuda_runtime.h>  // __host__, __device__

namespace dsconv::gemm {

// A persistent worker's walk over the (image, pixel tile) pairs, whose linear index
// img * p_tiles + p_tile steps by `workers`. The step is split once into whole images and
// pixel tiles, so that each advance is two additions and a carry instead of a division.
struct TileStride {
  int step_images, step_p_tiles;  // workers / p_tiles, workers % p_tiles
  int p_tiles;                    // pixel tiles an image
  __host__ __device__ TileStride(int workers, int p_tiles_)
      : step_images(workers / p_tiles_), step_p_tiles(workers % p_tiles_), p_tiles(p_tiles_) {}
};
struct TilePlace {
  int img, p_tile;
  __host__ __device__ TilePlace(int index, const TileStride& s) : img(index / s.p_tiles), p_tile(index % s.p_tiles) {}
  __host__ __device__ void advance(const TileStride& s) {
    img += s.step_images;
    p_tile += s.step_p_tiles;
    if (p_tile >= s.p_tiles) {
      p_tile -= s.p_tiles;
      ++img;
    }
  }
};

}  // namespace dsconv::gemm
