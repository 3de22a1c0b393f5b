// `fused`'s tile planning (kernels/fused/tile_geometry.h): the tile, the x window behind it,
// the tiles that hold two small images side by side, and the forward's splits of C_in on
// small images and the clusters they are launched in.
#include <gtest/gtest.h>

#include "harness/problem.h"
#include "kernels/fused/tile_geometry.h"

namespace dsconv::fused {
namespace {

Geometry forward_geometry(const char* problem) {
  return make_geometry(conv_shape(parse_problem(problem)), kForwardXFloats, kChunk, kForwardRun, true);
}

TEST(FusedGeometry, KernelBenchShapeTakesOneImageA4x32Tile) {
  const Geometry g =
      make_geometry(conv_shape(Problem::kernelbench_l1_86()), kForwardXFloats, kChunk, kForwardRun, true);
  EXPECT_EQ(g.images, 1);
  EXPECT_EQ(g.th * g.tw, kPixels);
  EXPECT_EQ(g.tw, 32);
  EXPECT_EQ(g.win_rows, 6);   // 4 rows + the 3 x 3 halo
  EXPECT_EQ(g.win_cols, 40);  // 34 columns and up to 3 before them, in whole float4
  EXPECT_EQ(g.sub_channels, 32);
  EXPECT_EQ(g.second_image_shift, 0);
  EXPECT_EQ(g.pixel_tiles(16), 16 * (512 / 4) * (512 / 32));
}

// MobileNet's b15 and b14 (7 x 7 outputs at stride 1 and 2): pixel column c of the tile's
// second half reads window column c * stride + second_image_shift, which for its first column
// (c = 8) is where the second image's window starts.
TEST(FusedGeometry, SevenBySevenImagesShareATileInPairs) {
  const Geometry g = forward_geometry("n=32,c_in=960,c_out=160,h=7,w=7,k=3,padding=1");
  EXPECT_EQ(g.images, 2);
  EXPECT_EQ(g.th, 8);
  EXPECT_EQ(g.tw, 16);
  EXPECT_EQ(g.win_rows, 10);
  EXPECT_EQ(g.image_window_cols(), 16);
  EXPECT_EQ(g.win_cols, 32);
  EXPECT_EQ(8 * 1 + g.second_image_shift, g.image_window_cols());
  EXPECT_EQ(g.pixel_tiles(32), 16);
  EXPECT_EQ(g.sub_channels, 16);  // 32 channels of a 10 x 32 window would not fit
  EXPECT_EQ(g.image_of_column(7), 0);
  EXPECT_EQ(g.image_of_column(8), 1);

  const Geometry s2 = forward_geometry("n=32,c_in=576,c_out=160,h=14,w=14,k=3,padding=1,stride=2");
  EXPECT_EQ(s2.images, 2);
  EXPECT_EQ(s2.win_rows, 17);
  EXPECT_EQ(s2.image_window_cols(), 20);
  EXPECT_EQ(8 * 2 + s2.second_image_shift, s2.image_window_cols());
  EXPECT_EQ(s2.sub_channels, 8);
}

// C_out of 160 and 320 (MobileNet b14, b15, b17) take 160-row GEMM tiles, one block a
// multiprocessor, whose larger x buffers stage all of b15's 32-channel chunk at once and half
// of b14's (16 and 8 with 128-row tiles, above).
TEST(FusedGeometry, RowTilesOf160WhereTheyMultiplyFewerRows) {
  EXPECT_EQ(staged_forward_rows(24), 64);
  EXPECT_EQ(staged_forward_rows(64), 64);
  EXPECT_EQ(staged_forward_rows(96), 128);
  EXPECT_EQ(staged_forward_rows(128), 128);
  EXPECT_EQ(staged_forward_rows(136), 160);
  EXPECT_EQ(staged_forward_rows(160), 160);
  EXPECT_EQ(staged_forward_rows(256), 128);
  EXPECT_EQ(staged_forward_rows(320), 160);
  EXPECT_EQ(staged_forward_rows(384), 128);
  const auto rows160 = [](const char* problem) {
    return make_geometry(conv_shape(parse_problem(problem)), kForward160XFloats, kChunk, kForwardRun, true);
  };
  EXPECT_EQ(rows160("n=32,c_in=960,c_out=160,h=7,w=7,k=3,padding=1").sub_channels, 32);
  EXPECT_EQ(rows160("n=32,c_in=576,c_out=160,h=14,w=14,k=3,padding=1,stride=2").sub_channels, 16);
}

// The 64-row tile takes larger x buffers where they stage more channels at once: MobileNet b7
// stages 16 at once, not 8.
TEST(FusedGeometry, RowTilesOf64StageMoreChannelsAtStride2) {
  const ConvShape b7 = conv_shape(parse_problem("n=32,c_in=192,c_out=64,h=28,w=28,k=3,padding=1,stride=2"));
  EXPECT_EQ(staged_forward_rows(b7.c_out), 64);
  EXPECT_EQ(make_geometry(b7, kForwardXFloats, kChunk, kForwardRun, true).sub_channels, 8);
  EXPECT_EQ(staged_forward_x_floats(b7, 64), kForward64XFloats);
  EXPECT_EQ(make_geometry(b7, kForward64XFloats, kChunk, kForwardRun, true).sub_channels, 16);
  // At stride 1 (b1) all 32 channels fit either way: the smaller buffers leave more L1 cache.
  const ConvShape b1 = conv_shape(parse_problem("n=32,c_in=32,c_out=16,h=112,w=112,k=3,padding=1"));
  EXPECT_EQ(staged_forward_x_floats(b1, 64), kForwardXFloats);
  EXPECT_EQ(staged_forward_x_floats(b1, 128), kForwardXFloats);
  EXPECT_EQ(staged_forward_x_floats(b1, 160), kForward160XFloats);
}

TEST(FusedGeometry, EightByEightImagesPairToo) {
  const Geometry g = forward_geometry("n=4,c_in=70,c_out=24,h=8,w=8,k=3,padding=1");
  EXPECT_EQ(g.images, 2);
  EXPECT_EQ(g.image_window_cols(), 16);  // 10 columns and up to 3 before them, in whole float4
  EXPECT_EQ(8 * 1 + g.second_image_shift, g.image_window_cols());
  EXPECT_EQ(g.pixel_tiles(4), 2);
}

TEST(FusedGeometry, AnOddBatchEndsWithAHalfEmptyPair) {
  EXPECT_EQ(forward_geometry("n=5,c_in=70,c_out=40,h=7,w=7,k=3,padding=1").pixel_tiles(5), 3);
}

TEST(FusedGeometry, PairsOnlyForTheForwardOnSmallImagesOfABatch) {
  EXPECT_EQ(forward_geometry("n=1,c_in=70,c_out=40,h=7,w=7,k=3,padding=1").images, 1);
  EXPECT_EQ(forward_geometry("n=4,c_in=70,c_out=40,h=9,w=9,k=3,padding=1").images, 1);  // 9 x 9 outputs
  const ConvShape s = conv_shape(parse_problem("n=4,c_in=70,c_out=40,h=7,w=7,k=3,padding=1"));
  EXPECT_EQ(make_geometry(s, kForwardXFloats, kChunk, kForwardRun).images, 1);  // the backward's
}

TEST(FusedGeometry, PairsFallBackToOneImageWhereTheirWindowsDoNotFit) {
  // One channel's 8 x 16 window at 7 x 7 and 3 x 3 is 10 x 24 floats; a pair's is 10 x 32.
  const ConvShape s = conv_shape(parse_problem("n=4,c_in=70,c_out=40,h=7,w=7,k=3,padding=1"));
  const Geometry g = make_geometry(s, 300, kChunk, kForwardRun, true);
  EXPECT_EQ(g.images, 1);
  EXPECT_EQ(g.win_cols, 24);
  EXPECT_EQ(g.sub_channels, 1);
}

// MobileNet's layers on an H100 (132 multiprocessors; two blocks each for the 64- and 128-row
// tiles, one for the 160-row tile).
TEST(FusedSplits, SmallImagesSplitCInUpToTheResidentBlocks) {
  EXPECT_EQ(forward_k_splits(16, 18, 132), 6);    // b14: 16 pair tiles, 18 chunks, 3 a split
  EXPECT_EQ(forward_k_splits(16, 30, 132), 8);    // b15: 4 chunks a split, the last 2
  EXPECT_EQ(forward_k_splits(32, 30, 132), 4);    // b17: two row tiles of 160
  EXPECT_EQ(forward_k_splits(64, 6, 264), 3);     // b7: 4 would leave a split empty-handed at 2 chunks each
  EXPECT_EQ(forward_k_splits(64, 18, 264), 4);    // b12
  EXPECT_EQ(forward_k_splits(256, 5, 264), 1);    // b4: the tiles fill the device
  EXPECT_EQ(forward_k_splits(32768, 2, 264), 1);  // KernelBench
  EXPECT_EQ(forward_k_splits(1, 11, 264), 11);    // one tile: a split a chunk
}

TEST(FusedSplits, ClustersTakeAllOfATilesSplitsWhereTheyFit) {
  const auto all_fit = [](int) { return true; };
  EXPECT_EQ(split_cluster_blocks(6, false, all_fit), 6);
  EXPECT_EQ(split_cluster_blocks(8, true, all_fit), 8);
  EXPECT_EQ(split_cluster_blocks(1, true, all_fit), 1);
  // More splits than a cluster may have: the largest size that divides them, or none.
  EXPECT_EQ(split_cluster_blocks(10, true, all_fit), 5);
  EXPECT_EQ(split_cluster_blocks(10, false, all_fit), 1);
  EXPECT_EQ(split_cluster_blocks(11, true, all_fit), 1);
}

TEST(FusedSplits, SeveralClustersATileOnlyWhereAllowed) {
  // b15 at one block a multiprocessor: clusters of 8 and 4 do not all fit, of 2 they do.
  const auto up_to_2 = [](int blocks) { return blocks <= 2; };
  EXPECT_EQ(split_cluster_blocks(8, true, up_to_2), 2);
  EXPECT_EQ(split_cluster_blocks(8, false, up_to_2), 1);  // two blocks a multiprocessor: the copies
  const auto none_fit = [](int) { return false; };
  EXPECT_EQ(split_cluster_blocks(4, true, none_fit), 1);
}

}  // namespace
}  // namespace dsconv::fused
