// The tile walk of the persistent kernels (kernels/common/tile_walk.cuh): stepping by
// additions must visit exactly the tiles that a division per step would.
#include <gtest/gtest.h>

#include <ostream>

#include "kernels/common/tile_walk.cuh"

namespace dsconv::gemm {
namespace {

struct WalkCase {
  int p_tiles, workers;
};
void PrintTo(const WalkCase& c, std::ostream* os) {
  *os << c.p_tiles << " tiles an image, " << c.workers << " workers";
}

class TileWalk : public testing::TestWithParam<WalkCase> {};

TEST_P(TileWalk, MatchesDivisionAtEveryStep) {
  const auto [p_tiles, workers] = GetParam();
  const TileStride stride(workers, p_tiles);
  const int images = 5, tiles = images * p_tiles;
  for (int worker = 0; worker < workers && worker < 300; ++worker) {
    TilePlace place(worker, stride);
    for (int index = worker; index < tiles + 2 * workers; index += workers) {
      ASSERT_EQ(place.img, index / p_tiles) << "worker " << worker << ", tile " << index;
      ASSERT_EQ(place.p_tile, index % p_tiles) << "worker " << worker << ", tile " << index;
      place.advance(stride);
    }
  }
}

// Fewer and more workers than tiles an image, a step of whole images, one tile an image,
// and the KernelBench shape's backward (2048 tiles an image on 132 multiprocessors).
INSTANTIATE_TEST_SUITE_P(Shapes, TileWalk,
                         testing::Values(WalkCase{1, 1}, WalkCase{1, 132}, WalkCase{7, 3}, WalkCase{7, 7},
                                         WalkCase{7, 15}, WalkCase{49, 264}, WalkCase{2048, 132}, WalkCase{2048, 4096},
                                         WalkCase{97, 1000}));

}  // namespace
}  // namespace dsconv::gemm
