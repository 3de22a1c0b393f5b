// The dx followers' walk (kernels/fused/dx_walk.h): stepping by additions must visit exactly
// the dx tiles a division per step would, and a dx tile must wait for every walker tile whose
// dt its window reads.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/fused/dx_walk.h"

namespace dsconv::fused {
namespace {

TEST(DxWalk, StepsByAdditionsLikeDivisions) {
  for (const DxTiles tiles : {DxTiles{8, 16, 64}, DxTiles{3, 5, 7}, DxTiles{1, 1, 1}, DxTiles{12, 3, 48}}) {
    const int64_t images = 4, count = images * tiles.tiles_h * tiles.channels * tiles.tiles_w;
    for (const int64_t step : {int64_t(1), int64_t(7), int64_t(80), int64_t(97), count - 1, count + 5}) {
      for (int64_t first = 0; first < std::min<int64_t>(step, 9); ++first) {
        DxPlace place = DxPlace::of(first, tiles);
        const DxPlace stride = DxPlace::of(step, tiles);
        for (int64_t u = first; u < count + step; u += step) {
          const DxPlace want = DxPlace::of(u, tiles);
          ASSERT_EQ(place.col, want.col) << "tile " << u << ", step " << step;
          ASSERT_EQ(place.c, want.c) << "tile " << u << ", step " << step;
          ASSERT_EQ(place.band, want.band) << "tile " << u << ", step " << step;
          ASSERT_EQ(place.img, want.img) << "tile " << u << ", step " << step;
          place.advance(stride, tiles);
        }
      }
    }
  }
}

// Every dt row a dx tile's window reads (rows band * tile_rows - pad_h on, tile_rows + KH - 1 of
// them, those inside dt) lies in a walker tile row no later than the one last_walker_tile ends,
// and the last row it reads lies in that very tile row: it waits for all it needs and no more.
template <int KH>
void check_waits(int dt_rows, int pad_h) {
  constexpr int kTileRows = 32;
  Geometry walk;
  walk.th = 4;
  walk.tiles_w = 5;
  walk.tiles_h = (dt_rows + walk.th - 1) / walk.th;
  const int per_image = int(walk.tiles_h * walk.tiles_w), dx_rows = dt_rows + 2 * pad_h - (KH - 1);
  for (int img = 0; img < 3; ++img)
    for (int band = 0; band * kTileRows < dx_rows; ++band) {
      const unsigned last = last_walker_tile<KH>(img, band, kTileRows, pad_h, dt_rows, walk, per_image);
      int last_read = -1;
      for (int r = band * kTileRows - pad_h; r < band * kTileRows - pad_h + kTileRows + KH - 1; ++r) {
        if (r < 0 || r >= dt_rows) continue;
        last_read = r;
        const unsigned row_end = unsigned(img * per_image + (r / walk.th + 1) * walk.tiles_w - 1);
        ASSERT_LE(row_end, last) << "image " << img << ", band " << band << ", dt row " << r;
      }
      if (last_read >= 0) {
        EXPECT_EQ(last, unsigned(img * per_image + (last_read / walk.th + 1) * walk.tiles_w - 1))
            << "image " << img << ", band " << band;
      }
    }
}

TEST(DxWalk, WaitsForEveryWalkerTileItReads) {
  // pad_h here is dx's: KH - 1 minus the forward's padding (same padding, padding 0, padding 5).
  check_waits<3>(512, 1);
  check_waits<3>(68, 1);
  check_waits<3>(30, -3);
  check_waits<3>(22, 2);
  check_waits<1>(21, 0);
  check_waits<1>(64, 0);
}

}  // namespace
}  // namespace dsconv::fused
