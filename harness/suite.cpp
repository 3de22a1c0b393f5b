#include "harness/suite.h"

namespace dsconv {

namespace {
// Problem{n, c_in, c_out, h, w, conv, bias}; conv = k(kh, kw, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w)
Conv2dParams k(int kh, int kw, int sh, int sw, int ph, int pw, int dh = 1, int dw = 1) {
  return Conv2dParams{kh, kw, sh, sw, ph, pw, dh, dw};
}
}  // namespace

std::vector<SuiteEntry> verify_suite(bool include_large) {
  using D = Distribution;
  std::vector<SuiteEntry> suite = {
      {"odd_spatial", Problem{2, 3, 5, 17, 13, k(3, 3, 1, 1, 1, 1), false}, D::normal},
      {"odd_channels_bias", Problem{2, 37, 53, 19, 23, k(3, 3, 1, 1, 1, 1), true}, D::uniform},
      {"k1_pad0", Problem{2, 16, 24, 15, 15, k(1, 1, 1, 1, 0, 0), false}, D::normal},
      {"k5", Problem{1, 24, 40, 31, 29, k(5, 5, 1, 1, 2, 2), true}, D::wide},
      {"k7", Problem{2, 8, 12, 20, 20, k(7, 7, 1, 1, 3, 3), false}, D::normal},
      {"rect_3x5", Problem{1, 12, 20, 16, 24, k(3, 5, 1, 1, 1, 2), true}, D::normal},
      {"rect_1x7_7x1_pads", Problem{1, 9, 7, 11, 30, k(1, 7, 1, 1, 0, 3), false}, D::uniform},
      {"stride2", Problem{2, 32, 64, 33, 33, k(3, 3, 2, 2, 1, 1), true}, D::normal},
      {"stride3", Problem{1, 10, 14, 25, 26, k(5, 5, 3, 3, 2, 2), false}, D::wide},
      {"dilation2", Problem{2, 16, 32, 24, 24, k(3, 3, 1, 1, 2, 2, 2, 2), false}, D::normal},
      {"pad0", Problem{1, 8, 16, 12, 14, k(3, 3, 1, 1, 0, 0), true}, D::normal},
      {"pad_over_half_k", Problem{1, 6, 10, 9, 9, k(3, 3, 1, 1, 3, 3), false}, D::normal},
      {"n1_bias", Problem{1, 64, 128, 64, 64, k(3, 3, 1, 1, 1, 1), true}, D::uniform},
      {"wide_channels", Problem{2, 160, 320, 14, 14, k(3, 3, 1, 1, 1, 1), true}, D::normal},
      {"mixed_rect_stride_dil", Problem{2, 20, 33, 30, 31, k(3, 5, 2, 1, 2, 3, 2, 1), true}, D::wide},
      {"mobilenet_like", Problem{4, 96, 24, 56, 56, k(3, 3, 1, 1, 1, 1), false}, D::normal},
      // More tiles than blocks, and an odd number of 32-channel slices of C_in: blocks walk
      // several tiles whose slices alternate buffers (a race once hid here).
      {"many_tiles_odd_slices", Problem{16, 144, 24, 56, 56, k(3, 3, 1, 1, 1, 1), false}, D::normal},
      {"tiny", Problem{1, 1, 1, 1, 1, k(1, 1, 1, 1, 0, 0), true}, D::normal},
      // Planes of more than half a depthwise tile, so that implementations with a separate
      // path for small planes run their staged tiles under non-unit strides, dilation and
      // a run-time kernel size too (with ragged edges).
      {"stride2_large_plane", Problem{1, 8, 16, 130, 98, k(3, 3, 2, 2, 1, 1), true}, D::normal},
      {"stride3_k5_large_plane", Problem{1, 5, 7, 100, 97, k(5, 5, 3, 3, 2, 2), false}, D::wide},
      {"rect_dil_large_plane", Problem{1, 6, 10, 70, 90, k(3, 5, 1, 1, 2, 4, 2, 2), true}, D::uniform},
      // The transposed convolution at column strides that divide a thread's column spacing
      // (16) walks only the taps that reach each input: rows at stride 3 and columns at
      // stride 2 with dilation 2 (every tap or none), and stride 4 with 7 x 7 taps.
      {"stride3x2_dil_large_plane", Problem{1, 6, 10, 90, 100, k(5, 7, 3, 2, 2, 6, 1, 2), false}, D::normal},
      {"stride4_k7_large_plane", Problem{2, 4, 8, 101, 120, k(7, 7, 4, 4, 3, 3), true}, D::wide},
      // Unit-stride planes of whole float4 rows and ragged tiles (not multiples of 32 x 64),
      // for implementations whose windows come by TMA at "same" padding (and its window
      // offset under a wider padding: 5 is 1 mod 4), forward and transposed.
      {"k1_tma_plane", Problem{2, 8, 12, 40, 100, k(1, 1, 1, 1, 0, 0), true}, D::normal},
      {"k5_tma_plane", Problem{1, 6, 10, 45, 76, k(5, 5, 1, 1, 2, 2), true}, D::wide},
      {"k3_pad5_tma_plane", Problem{1, 5, 9, 37, 44, k(3, 3, 1, 1, 5, 5), false}, D::normal},
      // `fused`'s wide forward and TMA backward (4 x 32 tiles, all 64 channels' windows in one
      // TMA box): ragged tiles in both directions, C_in and C_out short of 64 and 128, the
      // window offset of padding 5, and a 1 x 1.
      {"wide_forward_ragged", Problem{2, 48, 100, 22, 92, k(3, 3, 1, 1, 5, 5), true}, D::normal},
      {"wide_forward_k1", Problem{1, 64, 72, 21, 68, k(1, 1, 1, 1, 0, 0), true}, D::uniform},
      // fused's backward with dx made beside the tile walkers (fused/dx_followers.cuh): two
      // waves of tiles on 132 multiprocessors, the last dx row band and tile row ragged.
      {"dx_followers", Problem{2, 64, 128, 68, 512, k(3, 3, 1, 1, 1, 1), true}, D::uniform},
      // Several C_in and C_out slices (ragged), with more tiles than blocks: `fused`'s
      // backward (a launch a C_out slice, a row of blocks a C_in slice) copies the next
      // tile's dy and window while it computes this one, and with dt summed over C_out
      // slices it once waited on the wrong copy - invisible where each block had one tile.
      {"slices_many_tiles", Problem{5, 80, 136, 90, 100, k(3, 3, 1, 1, 1, 1), true}, D::normal},
      // Fewer tiles than a device holds blocks, and many channels (MobileNet's 7 x 7 layers):
      // `fused` splits C_in across blocks in its forward, the splits of a tile added in their
      // cluster's shared memory on sm_90, and runs its backward's C_in slices side by side;
      // stride 2 and a ragged last slice.
      {"small_image_many_channels", Problem{3, 200, 72, 14, 14, k(3, 3, 2, 2, 1, 1), true}, D::normal},
      // One tile and 10 splits, more than a cluster's 8 blocks: on sm_90 two clusters of 5
      // (`fused`'s 160-row tile, one block a multiprocessor), whose sums go through two copies
      // of y in device memory; and 11 splits, which no cluster size divides: each split's sums
      // through its own copy.
      {"splits_in_two_clusters", Problem{1, 300, 150, 7, 7, k(3, 3, 1, 1, 1, 1), true}, D::normal},
      {"splits_beyond_a_cluster", Problem{1, 352, 40, 7, 7, k(3, 3, 1, 1, 1, 1), true}, D::normal},
      {"image_pairs_odd_batch", Problem{5, 70, 40, 7, 7, k(3, 3, 1, 1, 1, 1), true}, D::normal},
      {"image_pairs_k5_dilation", Problem{4, 70, 20, 6, 8, k(5, 5, 1, 1, 4, 4, 2, 2), false}, D::wide},
      {"image_pairs_aligned_rows", Problem{4, 70, 24, 8, 8, k(3, 3, 1, 1, 1, 1), true}, D::uniform},
      // `fused`'s 160-row GEMM tiles (C_out 150 and 300: ragged in the last row tile), with
      // image pairs, stride 2 and splits of C_in, and at a run-time kernel size.
      {"row_tile_160_pairs_stride2", Problem{3, 100, 150, 14, 14, k(3, 3, 2, 2, 1, 1), true}, D::normal},
      {"row_tile_160_k5", Problem{2, 40, 300, 12, 12, k(5, 5, 1, 1, 2, 2), false}, D::wide},
  };
  if (include_large) suite.push_back({"kernelbench_l1_86", Problem::kernelbench_l1_86(), D::uniform, true});
  return suite;
}

}  // namespace dsconv
