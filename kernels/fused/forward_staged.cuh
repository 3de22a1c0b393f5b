// `fused`'s forward for any shape: x windows by `cp.async`, t into shared memory a slice of
// C_in at a time, and the FFMA GEMM engine (fused_forward_kernel).
#pragma once

#include "kernels/common/cluster_sum.cuh"
#include "kernels/common/ffma_gemm.cuh"
#include "kernels/common/fresh_index.cuh"
#include "kernels/fused/tile_windows.cuh"

namespace dsconv {
namespace {

// GEMM k steps unrolled per loop trip: next to the depthwise code, more spills on sm_90.
constexpr int kForwardUnroll = 2;
// XFloats: each x buffer's floats (tile_geometry.h, staged_forward_x_floats).
template <class T, int XFloats>
constexpr size_t forward_smem_bytes() {
  return sizeof(float) * (size_t(2) * kChunk * T::BM + size_t(kChunk) * kPixels + 2 * size_t(XFloats));
}

// Two blocks a multiprocessor; one for the run-time kernel sizes, whose tap loops need more
// registers next to the GEMM's accumulators, and for the 160-row tile, whose 80 accumulators
// spill under two blocks' 128 registers a thread.
template <class T, int KH, int KW>
constexpr int kForwardBlocksPerSM = KH* KW > 0 && T::BM <= 128 ? 2 : 1;

// Where tiles are fewer than the blocks the device holds at once (small images: a 7 x 7
// MobileNet layer has one tile an image), the chunks of C_in are split gridDim.y ways, a row
// of blocks a split, one tile a block. On sm_90 the splits of a tile are one cluster, or
// several of equal size, and add their sums in shared memory (common/cluster_sum.cuh), into
// y or, with several clusters, into one copy of y a cluster in `partial_y`; without clusters
// each split's sums go there. sum_planes adds the copies in order. Either way deterministic,
// with no atomics.
template <class T, int XFloats, int KH, int KW, class Steps>
__global__ __launch_bounds__(kThreads, kForwardBlocksPerSM<T, KH, KW>) void fused_forward_kernel(
    ConvShape s, Geometry g, const float* __restrict__ x, const float* __restrict__ w_dw,
    const float* __restrict__ b_dw, const float* __restrict__ w_pw, const float* __restrict__ b_pw,
    float* __restrict__ y, float* __restrict__ partial_y) {
  static_assert(2 * kChunk * T::BM + kChunk * kPixels + 2 * XFloats >= T::BM * T::BN,
                "a split tile's sums are staged over the buffers");
  extern __shared__ __align__(16) float smem[];
  float* As = smem;                     // [2][kChunk][BM]: W_pw^T slices
  float* Bs = As + 2 * kChunk * T::BM;  // [kChunk][kPixels]: t slice
  float* Xs = Bs + kChunk * kPixels;    // [2][XFloats]: x windows
  const int tid = threadIdx.x;
  const int m_tiles = int((s.c_out + T::BM - 1) / T::BM);
  const int64_t tiles = g.pixel_tiles(s.n) * m_tiles;
  // This block's split of C_in (blockIdx.y): chunks_per_split chunks from first_chunk(), fewer
  // in the last split. The split's index is read where it is used (fresh::block_y), so that
  // it holds no register through the GEMM.
  const int chunks = int((s.c_in + kChunk - 1) / kChunk), subs = kChunk / g.sub_channels;
  const int chunks_per_split = (chunks + int(gridDim.y) - 1) / int(gridDim.y);  // none empty: host-checked
  auto first_chunk = [&] { return fresh::block_y() * chunks_per_split; };
  const int stages_per_tile = min(chunks_per_split, chunks - first_chunk()) * subs;
  if (int64_t(blockIdx.x) >= tiles) return;
  const int64_t my_tiles = (tiles - 1 - blockIdx.x) / gridDim.x + 1;
  const int64_t stages = my_tiles * stages_per_tile;

  // Where a stage works: its tile and, within it, its chunk of C_in and sub-slice of that.
  // Stages are walked in order, so the tile's coordinates - 64-bit divisions - are worked
  // out once a tile, not once a stage.
  struct Where {
    int64_t tile;
    int img, oh0, ow0;  // Problem's limits keep N, H_out and W_out far under 2^31
    int m0, in_tile, chunk, sub;
  };
  const int subs_shift = __ffs(subs) - 1;  // subs is a power of 2
  auto locate = [&](int64_t tile) {
    const int64_t pixel_tile = tile / m_tiles, per_image = g.tiles_h * g.tiles_w, rem = pixel_tile % per_image;
    Where w{};
    w.tile = tile;
    w.img = int(pixel_tile / per_image) * g.images;  // the first of the tile's images
    w.oh0 = int(rem / g.tiles_w) * g.th;
    w.ow0 = int(rem % g.tiles_w) * g.tw;
    w.m0 = int(tile % m_tiles) * T::BM;
    w.chunk = first_chunk();
    return w;
  };
  // Where pixel p of tile w's 128 lies in y: its image (which may be past N in an odd batch's
  // last pair), row and column (which may be past H_out or W_out in a ragged tile).
  struct Pixel {
    int64_t img, oh, ow;
  };
  auto pixel_of = [&](const Where& w, int p) {
    const int col = p & (g.tw - 1), image = g.image_of_column(col);
    return Pixel{w.img + image, w.oh0 + (p >> g.tw_shift), w.ow0 + col - 8 * image};
  };
  auto advance = [&](Where& w) {
    if (++w.in_tile == stages_per_tile) w = locate(w.tile + gridDim.x);
    w.chunk = first_chunk() + (w.in_tile >> subs_shift);
    w.sub = w.in_tile & (subs - 1);
  };
  // The W slice buffer of a stage's chunk. stage / subs counts the block's chunks across
  // tiles, so the buffers alternate over that whole sequence: with an odd chunk count per
  // tile, a tile's first slice must not land in the buffer its predecessor's last slice is
  // still being multiplied from.
  // W resident: when one slice covers C_out and C_in fits the two buffers (C_out <= BM and
  // C_in <= 2 kChunk, as at the KernelBench shape), W is copied once, chunk c into buffer c,
  // and the stages copy only x.
  const bool resident_w = m_tiles == 1 && chunks <= 2;
  auto w_buffer = [&](int64_t stage, int chunk) {
    return As + (resident_w ? chunk : int((stage >> subs_shift) & 1)) * kChunk * T::BM;
  };
  auto copy_w = [&](float* buffer, int m0, int chunk) {
    gemm::KContiguousTile<T::BM, kChunk>::copy(buffer, w_pw + int64_t(m0) * s.c_in, s.c_in,
                                               int(min64(T::BM, s.c_out - m0)), int64_t(chunk) * kChunk, s.c_in, tid);
  };
  // Issues the copies of one stage: its x window and, at a chunk's first stage, the W slice.
  auto copy = [&](int64_t stage, const Where& w) {
    copy_x_window(Xs + (stage & 1) * XFloats, x, s, g, w.img, int64_t(w.chunk) * kChunk + w.sub * g.sub_channels,
                  g.sub_channels, w.oh0, w.ow0, tid);
    if (w.sub == 0 && !resident_w) copy_w(w_buffer(stage, w.chunk), w.m0, w.chunk);
    gemm::copy_async_commit();
  };

  float acc[T::TM][T::TN] = {};
  if (resident_w)  // in the first copy group
    for (int chunk = 0; chunk < chunks; ++chunk) copy_w(w_buffer(0, chunk), 0, chunk);
  Where w = locate(blockIdx.x);  // the stage computed
  copy(0, w);
  for (int64_t stage = 0; stage < stages; ++stage, advance(w)) {
    if (stage + 1 < stages) {
      Where next = w;  // at a tile's last stage, the next tile is located here and again below
      advance(next);
      copy(stage + 1, next);
    } else {
      gemm::copy_async_commit();  // an empty group keeps the wait count uniform
    }
    gemm::copy_async_wait<1>();
    __syncthreads();

    // The depthwise slice: sub_channels channels x 8 runs of 16 pixels.
    const float* window_base = Xs + (stage & 1) * XFloats;
    const int64_t col0 = w.ow0 * s.sw - s.pw;
    const int offset = s.w % 4 == 0 ? int(col0 - depthwise::floor_div(col0, 4) * 4) : 0;
    constexpr int kRuns = kPixels / kForwardRun;
    for (int item = tid; item < g.sub_channels * kRuns; item += kThreads) {
      const int ch = item / kRuns, run = item % kRuns;
      const int k = w.sub * g.sub_channels + ch;  // row of Bs
      const int64_t c = int64_t(w.chunk) * kChunk + k;
      const bool valid = c < s.c_in;
      DepthwiseWeights<KH, KW> wr;
      float t[kForwardRun];
      start_channel(w_dw, b_dw, c, valid, wr, t);
      const float no_dt[kForwardRun] = {};
      depthwise_run<kForwardRun, KH, KW, false, Steps>(window_base + ch * g.window_floats(), g, s, run, offset, wr,
                                                       w_dw + (valid ? c : 0) * s.kh * s.kw, valid, t, no_dt,
                                                       [](int, float) {});
#pragma unroll
      for (int q = 0; q < kForwardRun; ++q) Bs[k * kPixels + run_pixel<kForwardRun>(run, q)] = t[q];
    }
    __syncthreads();

    if (w.sub == subs - 1) {
      gemm::multiply_chunk<T, true, false, kChunk, kForwardUnroll>(w_buffer(stage, w.chunk), Bs, acc, tid);
      // The split's last chunk; a cluster's splits add their sums after the loop.
      if (w.in_tile == stages_per_tile - 1 && cluster_sum::cluster_blocks() == 1) {
        const int split = fresh::block_y();
        float* const out = fresh::grid_y() > 1 ? partial_y + split * s.y_elems() : y;  // the split's copy of y
#pragma unroll
        for (int i = 0; i < T::TM; ++i) {
          const int64_t co = w.m0 + T::row(tid, i);
          if (co < s.c_out) {
            const float bias = b_pw && split == 0 ? __ldg(b_pw + co) : 0.0f;  // split 0's
#pragma unroll
            for (int gq = 0; gq < T::kGroupsN; ++gq) {
              const auto [img, oh, ow] = pixel_of(w, T::col_group(tid, gq));
              if (oh < s.ho && img < s.n) {
                const float v[4] = {acc[i][4 * gq] + bias, acc[i][4 * gq + 1] + bias, acc[i][4 * gq + 2] + bias,
                                    acc[i][4 * gq + 3] + bias};
                float* row = out + ((img * s.c_out + co) * s.ho + oh) * s.wo;
                if (s.wo % 4 == 0 && ow + 3 < s.wo) {
                  __stcs(reinterpret_cast<float4*>(row + ow), make_float4(v[0], v[1], v[2], v[3]));
                } else {
#pragma unroll
                  for (int e = 0; e < 4; ++e)
                    if (ow + e < s.wo) row[ow + e] = v[e];
                }
              }
            }
          }
#pragma unroll
          for (int j = 0; j < T::TN; ++j) acc[i][j] = 0.0f;
        }
      }
      // The next stage's copies refill the W slice buffer read two chunks from now: that is
      // the one just multiplied when a chunk has a single stage.
      __syncthreads();
    }
  }
  gemm::copy_async_wait<0>();
  if (cluster_sum::cluster_blocks() > 1) {
    // A tile's splits of C_in, or each run of cluster_blocks() of them, are one cluster's
    // blocks, one tile a block (host-planned), whose sums are the accumulators now; they add
    // them in shared memory, each block a share of the tile's outputs, into y - or, where the
    // tile has several clusters, into their cluster's copy of y (the bias in the first's), for
    // sum_planes. The loop's last barrier has every warp done with As and Bs, which the staged
    // sums overwrite.
    const Where tile = locate(blockIdx.x);
    const int cluster = fresh::block_y() / cluster_sum::cluster_blocks();
    float* const out = fresh::grid_y() > cluster_sum::cluster_blocks() ? partial_y + cluster * s.y_elems() : y;
    cluster_sum::stage<T>(acc, smem, tid);
    cluster_sum::sum<T>(
        smem, int(min64(T::BM, s.c_out - tile.m0)), kThreads, tid,
        [&](int r, int p) -> float* {
          const auto [img, oh, ow] = pixel_of(tile, p);
          if (img >= s.n || oh >= s.ho || ow >= s.wo) return nullptr;
          return out + ((img * s.c_out + tile.m0 + r) * s.ho + oh) * s.wo + ow;
        },
        [&](int r) { return b_pw && cluster == 0 ? __ldg(b_pw + tile.m0 + r) : 0.0f; });
  }
}

}  // namespace
}  // namespace dsconv
