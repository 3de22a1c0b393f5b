// `fused`'s backward kernel: dt, t, dW_pw, dW_dw and the bias gradients tile by tile, the
// per-block partial sums to scratch memory (fused_backward_kernel); on sm_90, with followers,
// the last blocks of its grid make dx instead (dx_followers.cuh).
#pragma once

#include "kernels/common/depthwise_tma.cuh"
#include "kernels/common/ffma_gemm.cuh"
#include "kernels/common/tma.cuh"
#include "kernels/common/weight_grad_tile.cuh"
#include "kernels/fused/dx_followers.cuh"
#include "kernels/fused/dy_tile.cuh"
#include "kernels/fused/tile_windows.cuh"

namespace dsconv {
namespace {

constexpr int kCiSlice = 64;             // C_in channels per launch
constexpr int kCoSlice = 128;            // C_out channels per launch
constexpr int kBackwardXFloats = 16384;  // 64 KB of x window: all 64 channels' at 3 x 3
constexpr int kMaxWeightSlots = 50;      // taps + 1 (the bias) that the dW_dw accumulator holds: 7 x 7
static_assert(kCiSlice <= kFollowerChannels, "a follower holds the taps of a C_in slice");
using DtTile = gemm::Tile<kCiSlice, kPixels, 32, 4, 8, 2, 4>;  // dt[ci][px] = W^T dy
// tma_blocks splits the block in two halves of 4 warps that work side by side on a tile:
// half 0 makes dt (8 x 8 register blocks) and the db_pw row sums, while half 1 makes t and
// dW_pw (the whole tile's pixels). Neither needs the other's result until the dW_dw pass.
constexpr int kHalfThreads = kThreads / 2;
using SplitDtTile = gemm::Tile<kCiSlice, kPixels, 32, 8, 8, 2, 2, true>;
// dW[co][ci] += dy t^T reads the dy and t tiles along the pixels, 4 at a time, as the
// weight-gradient GEMM reads its rows (common/weight_grad_tile.cuh): one copy of dy serves
// both GEMMs, and t is stored as computed. Their rows are padded to kRowPitch floats, 1 float4
// past a multiple of 32, so that 8 consecutive rows fall on 8 different float4 banks.
using WeightTile = gemm::WeightGradTile;
constexpr int kRowPitch = kPixels + 4;
static_assert(WeightTile::BM == kCoSlice && WeightTile::BN == kCiSlice, "the weight-gradient tile is a slice's W");

// A launch takes one 128-channel slice of C_out and every 64-channel slice of C_in, one a
// blockIdx.y: the C_in slices share nothing (each has its own dt, dW and taps), while a later
// C_out slice adds to the dt of an earlier one and waits for its launch.
struct CoSlice {
  int64_t co0;
  bool first, last, bias_pw;  // bias_pw: the problem has b_pw (db_pw is summed over dy)
};

// A block's pair of slices: its launch's of C_out and blockIdx.y's of C_in.
struct BackwardSlice {
  int64_t ci0, co0;
  bool first_co, last_co, bias_pw;  // bias_pw: this block sums dy for db_pw

  __device__ static BackwardSlice of_block(const CoSlice& co) {
    return {int64_t(blockIdx.y) * kCiSlice, co.co0, co.first, co.last,
            co.bias_pw && blockIdx.y == 0};  // db_pw once a C_out slice
  }
};

// How the backward stages a tile's x window and runs its two depthwise passes over it.
enum class BackwardWindows {
  copied,     // cp.async copies; a thread a run of 16 pixels, window offsets worked out at run time
  unit_tile,  // the same at unit stride and dilation on 4 x 32 tiles: compile-time offsets
  // One TMA box of all 64 channels a tile (sm_90; unit steps, 4 x 32 tiles, "same" padding's
  // window offset, rows of whole float4); a thread a 4 x 4 block of one channel, read as float4
  // rows: 6 x 3 loads for 16 outputs at 3 x 3, where a run of 16 takes 72 scalar ones.
  tma_blocks,
};
constexpr int kUnitRows = 4, kUnitCols = 32;                           // the unit tile
constexpr int kBlockCols = kUnitCols / depthwise_tma::kColsPerThread;  // 4 x 4 blocks along a tile row
constexpr int kBlockPasses = kCiSlice * kBlockCols / kThreads;         // blocks a thread, of fixed channels
static_assert(dy_tile::kChannels == kCoSlice && dy_tile::kRows == kUnitRows && dy_tile::kCols == kUnitCols,
              "tma_blocks' dy tile is a C_out slice of the unit tile");
static_assert(WeightTile::kRowLanes % 8 == 0, "a thread's dW_pw rows of the dy tile share their swizzle key");
static_assert(SplitDtTile::LN * 4 == kUnitCols, "a thread's dt column groups are whole tile rows apart");
// Half 0 is done with dt long before half 1 is done with dW_pw: at 16,500 and 25,800 cycles of
// a 30,100-cycle tile (clock64 phase timings, docs/performance-notes.md), as half 1 first
// waits for the window and makes t. So half 0 then takes dW_pw over the tile's pixels from
// kHalf1Pixels on, in the registers dt has left, once half 1 has made t, and hands its sums
// to half 1 through T at the tile's end: a fixed split and a fixed order of addition, so
// still deterministic. With half 0 taking 16, 24, 32, 40, 48 or 64 of the 128 pixels, the
// fused kernel took 3.804, 3.778, 3.752, 3.751, 3.777 and 3.830 ms against 3.814 to 3.819
// with none (H100, KernelBench shape, two calls; that build signalled t by a named barrier,
// which racecheck cannot follow).
constexpr int kHalf1Pixels = 96;
static_assert(kUnitRows * kUnitCols == kPixels && kCiSlice * kBlockCols % kThreads == 0,
              "whole 4 x 4 blocks, the same number for every thread");
template <int KH, int KW>
using BackwardWindow = depthwise_tma::Window<KH, KW, kUnitRows, kUnitCols>;  // tma_blocks' layout
template <int KH, int KW>                                                    // a channel's
constexpr int kBackwardWindowFloats = BackwardWindow<KH, KW>::kRows* BackwardWindow<KH, KW>::kCols;
static_assert(kCiSlice * kBackwardWindowFloats<3, 3> <= kBackwardXFloats, "a 3 x 3 box fits X");
// The backward block's shared memory, in floats from a 128-byte aligned base. tma_blocks
// gives dt a tile of its own (DT), unpadded as a TMA store reads it, which half 0 fills while
// half 1 still reads t: room made by sizing X to the box and DW to the staged taps (the dW_dw
// sums go to D's space once the loop is over), and D is the dense, swizzled TMA tile of
// dy_tile.cuh. 224 KB of the 227 a block may have (H100). Else dt takes t's place after the
// dW_pw GEMM.
template <int KH, int KW, bool kTma>
struct BackwardLayout {
  static constexpr int kWs = 0;                         // W slice [co][ci]
  static constexpr int kD = kWs + kCoSlice * kCiSlice;  // dy tile [co][px]
  static constexpr int kT = kD + (kTma ? dy_tile::kFloats : kCoSlice * kRowPitch);  // t tile [ci][px]
  static constexpr int kX = kT + kCiSlice * kRowPitch;  // x window
  static constexpr int kXFloats = kTma ? kCiSlice * kBackwardWindowFloats<KH, KW> : kBackwardXFloats;
  static constexpr int kDT = kTma ? kX + kXFloats : kT;  // dt tile [ci][px], rows kDtPitch apart
  static constexpr int kDtPitch = kTma ? kPixels : kRowPitch;
  static constexpr int kDW = kX + kXFloats + (kTma ? kCiSlice * kPixels : 0);  // staged taps, or dW_dw sums
  static constexpr int kDWFloats = kTma ? kCiSlice * StagedTaps<KH, KW>::kStride : kCiSlice * kMaxWeightSlots;
  static constexpr int kFloats = kDW + kDWFloats;
  static constexpr size_t bytes() { return sizeof(float) * kFloats; }
  static_assert(kX % 32 == 0 && kDW % 4 == 0, "X a 128-byte aligned TMA destination, DW rows of whole float4");
  static_assert(!kTma || kD * sizeof(float) % dy_tile::kAlignment == 0, "D starts a period of the swizzle");
  static_assert(!kTma || kCiSlice * kMaxWeightSlots <= dy_tile::kFloats, "the dW_dw sums fit D's space");
  // sm_90 lets a block have 227 KB of shared memory, the kernel's static barriers included.
  static_assert(bytes() + 1024 <= 227 * 1024, "the layout and 1 KB of static shared memory fit a block");
  static_assert(!kTma || KH * KW == 0 || FollowerLayout<KH, KW>::kFloats <= kFloats, "a dx follower fits the block");
};

// tma_blocks' window comes in two boxes of 32 channels, each on its own mbarrier: the dW_dw
// pass frees the first half of X halfway through, and the next tile's first box is issued
// then; the t pass starts on it while the second lands.
constexpr int kWindowParts = 2, kPartChannels = kCiSlice / kWindowParts;
constexpr int kBlockPassesAPart = kBlockPasses / kWindowParts;
static_assert(kBlockPassesAPart * kWindowParts == kBlockPasses, "a pass's channels are all in one box");

// Channel ci's 4 x 4 block at column block tx of the tile, tma_blocks: t into T (bias first,
// then the taps in for_each_tap's order), the taps from `taps` (StagedTaps).
template <int KH, int KW>
__device__ __forceinline__ void t_block(const float* __restrict__ X, float* __restrict__ T, const float* taps, int ci,
                                        int tx) {
  float w[StagedTaps<KH, KW>::kStride];
  StagedTaps<KH, KW>::read(taps, ci, w);
  float t[kUnitRows][depthwise_tma::kColsPerThread];
#pragma unroll
  for (int o = 0; o < kUnitRows; ++o)
#pragma unroll
    for (int q = 0; q < depthwise_tma::kColsPerThread; ++q) t[o][q] = w[KH * KW];
  depthwise_tma::for_each_tap<BackwardWindow<KH, KW>, kUnitRows>(
      X + ci * kBackwardWindowFloats<KH, KW> + depthwise_tma::kColsPerThread * tx,
      [&](int o, int k, int q, float xv) { t[o][q] = fmaf(w[k], xv, t[o][q]); });
#pragma unroll
  for (int o = 0; o < kUnitRows; ++o)
    *reinterpret_cast<float4*>(&T[ci * kRowPitch + o * kUnitCols + depthwise_tma::kColsPerThread * tx]) =
        make_float4(t[o][1], t[o][2], t[o][3], t[o][0]);  // rotated by one (multiply_k_span)
}

// Adds the same block's shares of dW_dw (sum of x * dt under each tap) and of db_dw (sum of
// dt) to grad, tma_blocks: grad[tap] for each tap, then grad[taps] the dt sum.
template <int KH, int KW>
__device__ __forceinline__ void weight_grad_block(const float* __restrict__ X, const float* __restrict__ DT,
                                                  int dt_pitch, int ci, int tx, float (&grad)[KH * KW + 1]) {
  float d[kUnitRows][depthwise_tma::kColsPerThread];
  float dt_sum = 0.0f;
#pragma unroll
  for (int o = 0; o < kUnitRows; ++o) {
    *reinterpret_cast<float4*>(d[o]) =
        *reinterpret_cast<const float4*>(&DT[ci * dt_pitch + o * kUnitCols + depthwise_tma::kColsPerThread * tx]);
    dt_sum += (d[o][0] + d[o][1]) + (d[o][2] + d[o][3]);
  }
  depthwise_tma::for_each_tap<BackwardWindow<KH, KW>, kUnitRows>(
      X + ci * kBackwardWindowFloats<KH, KW> + depthwise_tma::kColsPerThread * tx,
      [&](int o, int k, int q, float xv) { grad[k] = fmaf(xv, d[o][q], grad[k]); });
  grad[KH * KW] += dt_sum;
}

// `a` if kFirst, else `b`: one name for storage that each instantiation places in one of two.
template <bool kFirst, class A, class B>
__device__ __forceinline__ auto& first_if(A& a, B& b) {
  if constexpr (kFirst)
    return a;
  else
    return b;
}

template <int KH, int KW, BackwardWindows kWindows>
__global__ __launch_bounds__(kThreads, 1) void fused_backward_kernel(
    const __grid_constant__ CUtensorMap x_map, const __grid_constant__ CUtensorMap dy_map,
    const __grid_constant__ CUtensorMap dt_map, const __grid_constant__ CUtensorMap dt_windows, DxFollowers followers,
    ConvShape s, Geometry g, CoSlice co_slice, const float* __restrict__ x, const float* __restrict__ w_dw,
    const float* __restrict__ b_dw, const float* __restrict__ w_pw, const float* __restrict__ dy,
    float* __restrict__ dt_out, float* __restrict__ partial_dw_pw, float* __restrict__ partial_db_pw,
    float* __restrict__ partial_dw_dw, float* __restrict__ partial_db_dw) {
  constexpr bool kTma = kWindows == BackwardWindows::tma_blocks;
  using WindowSteps =
      std::conditional_t<kWindows == BackwardWindows::unit_tile, FixedSteps<1, kUnitCols>, RunTimeSteps>;
  // 1024: D is a TMA destination with the 128-byte swizzle, whose pattern repeats every 1024 bytes.
  extern __shared__ __align__(dy_tile::kAlignment) float backward_smem[];
  __shared__ uint64_t window_full[kWindowParts];  // kTma: a box of the tile's window has landed
  __shared__ uint64_t dy_full;                    // kTma: the tile's dy has landed
  // kTma: half 1 has made the tile's t. An mbarrier, which racecheck follows, where a named
  // barrier that half 1 arrives at and half 0 waits on drew false hazards.
  __shared__ uint64_t t_done;
  using L = BackwardLayout<KH, KW, kTma>;
  if constexpr (kTma) {
    if (int(blockIdx.x) >= followers.walkers) {
      make_dx_as_follower<KH, KW>(&dt_windows, followers, g, w_dw, backward_smem);
      return;
    }
  }
  // kTma with followers: this block tells them how many of its tiles' dt are in device memory.
  const bool publishes = kTma && followers.progress != nullptr && co_slice.first;
  unsigned tiles_done = 0;
  float* Ws = backward_smem + L::kWs;
  float* D = backward_smem + L::kD;
  float* T = backward_smem + L::kT;
  float* DT = backward_smem + L::kDT;  // else than kTma t's place: the tile's pixels at the same places
  float* X = backward_smem + L::kX;
  float* DW = backward_smem + L::kDW;
  const int tid = threadIdx.x;
  const BackwardSlice slice = BackwardSlice::of_block(co_slice);
  const int taps = s.kh * s.kw, slots = taps + 1;
  const int co_count = int(min64(kCoSlice, s.c_out - slice.co0)), ci_count = int(min64(kCiSlice, s.c_in - slice.ci0));
  const int64_t per_image = g.tiles_h * g.tiles_w, tiles = s.n * per_image;
  // The x window of all the slice's channels fits at once: it is copied once a tile, during
  // the previous tile's last phase and this tile's dt GEMM. Else each pass over the channels
  // copies it sub_channels at a time. A TMA box is always the whole window.
  const bool whole_window = kTma || g.sub_channels >= kCiSlice;
  const bool dt_vector = s.wo % 4 == 0 && reinterpret_cast<uintptr_t>(dt_out) % 16 == 0;

  // kTma: DW holds the slice's taps (StagedTaps) until the loop is over, as half 1's t pass
  // reads them; it gets the dW_dw sums after. Else it sums them from the first tile on.
  static_assert(!kTma || StagedTaps<KH, KW>::kStride <= kMaxWeightSlots, "the staged taps fit DW's rows");
  if constexpr (kTma)
    StagedTaps<KH, KW>::stage(DW, w_dw, b_dw, slice.ci0, ci_count, kCiSlice, tid, kThreads);
  else
    for (int i = tid; i < kCiSlice * kMaxWeightSlots; i += kThreads) DW[i] = 0.0f;
  // W slice: Ws[co][ci] = W[co0 + co][ci0 + ci], zeros outside.
  for (int idx = tid; idx < kCoSlice * kCiSlice; idx += kThreads) {
    const int co = idx / kCiSlice, ci = idx % kCiSlice;
    const bool ok = co < co_count && ci < ci_count;
    gemm::copy_async_4(&Ws[idx], ok ? w_pw + (slice.co0 + co) * s.c_in + slice.ci0 + ci : w_pw, ok);
  }
  gemm::copy_async_commit();
  if constexpr (kTma) {
    if (tid == 0) {
      for (auto& full : window_full) tma::barrier_init(&full, 1);  // the issuer's arrival + the box's bytes
      tma::barrier_init(&dy_full, 1);
      tma::barrier_init(&t_done, kHalfThreads);                    // every thread of half 1
      tma::barrier_init_fence();
    }
  }

  struct TileOrigin {
    int64_t img, oh0, ow0;
  };
  // The block's walk over the tiles: a tile's place is carried to the next by additions.
  // Placing this tile and the next from scratch took four 64-bit divisions a tile in every
  // warp, at the top of the tile where every warp waits: about 2% of the kernel's samples
  // (H100). One 32-bit division by the tile columns is left.
  const int walkers = followers.walkers;  // the blocks that walk the tiles: all of them but the followers
  const gemm::TileStride stride(walkers, int(per_image));
  auto origin = [&](const gemm::TilePlace& p) {
    const int row = p.p_tile / int(g.tiles_w), col = p.p_tile - row * int(g.tiles_w);
    return TileOrigin{p.img, int64_t(row) * g.th, int64_t(col) * g.tw};
  };
  // dy rows of this slice for the tile at o: D[co][px], zeros outside; 16 bytes a copy when
  // rows are whole float4 (the tile's columns start on multiples of 16, so each float4 of a
  // tile row is then all inside the image or all outside). A thread copies the same pixels
  // (px) of every rows_per_pass-th channel.
  const int vector = s.wo % 4 == 0 && reinterpret_cast<uintptr_t>(dy) % 16 == 0 ? 4 : 1;
  const int64_t plane = s.ho * s.wo;
  const int lanes_per_row = kPixels / vector, rows_per_pass = kThreads / lanes_per_row;
  const int copy_px = vector * (tid % lanes_per_row), copy_row = copy_px >> g.tw_shift, copy_col = copy_px & (g.tw - 1);
  uint32_t dy_phase = 0;  // kTma: the parity of dy_full's phase in hand
  auto copy_dy = [&](TileOrigin o) {
    if constexpr (kTma) {  // one thread; D's readers wait on dy_full
      if (tid == 0) dy_tile::load(D, &dy_map, int(o.img), int(slice.co0), int(o.oh0), int(o.ow0), &dy_full);
      return;
    }
    const bool pixel_in = o.oh0 + copy_row < s.ho && o.ow0 + copy_col < s.wo;
    const int co_first = tid / lanes_per_row;
    const float* src =
        dy + (o.img * s.c_out + slice.co0 + co_first) * plane + (o.oh0 + copy_row) * s.wo + o.ow0 + copy_col;
    if (vector == 4) {
      // The same loop with its step known: unrolled, the source advancing by additions.
      constexpr int kRowsPerPass = kThreads / (kPixels / 4);
      const int64_t step = kRowsPerPass * plane;
#pragma unroll 4
      for (int co = co_first; co < kCoSlice; co += kRowsPerPass, src += step) {
        const bool ok = pixel_in && co < co_count;
        gemm::copy_async_16(&D[co * kRowPitch + copy_px], ok ? src : dy, ok);
      }
    } else {
      for (int co = co_first; co < kCoSlice; co += rows_per_pass, src += rows_per_pass * plane) {
        const bool ok = pixel_in && co < co_count;
        gemm::copy_async_4(&D[co * kRowPitch + copy_px], ok ? src : dy, ok);
      }
    }
    gemm::copy_async_commit();
  };
  auto copy_window = [&](TileOrigin o, int c_first, int count) {
    copy_x_window(X, x, s, g, o.img, slice.ci0 + c_first, count, o.oh0, o.ow0, tid);
    gemm::copy_async_commit();
  };
  // kTma: box `part` of the window of the tile at o, from W::kOffset columns left of its first
  // input column (one thread issues it); window_phase is the parity of the boxes in hand.
  uint32_t window_phase = 0, t_phase = 0;  // t_phase: of t_done, in half 0
  auto issue_window_part = [&](TileOrigin o, int part) {
    if constexpr (kTma) {
      using W = BackwardWindow<KH, KW>;
      constexpr int kPartFloats = kPartChannels * W::kRows * W::kCols;
      tma::barrier_arrive_expect_bytes(&window_full[part], uint32_t(kPartFloats * sizeof(float)));
      tma::load_box(X + part * kPartFloats, &x_map, int(o.ow0) - s.pw - W::kOffset, int(o.oh0) - s.ph,
                    int(slice.ci0) + part * kPartChannels, int(o.img), &window_full[part]);
    }
  };
  auto issue_window = [&](TileOrigin o) {
    for (int part = 0; part < kWindowParts; ++part) issue_window_part(o, part);
  };
  auto await_window_part = [&](int part) { tma::barrier_wait(&window_full[part], window_phase); };
  auto await_dy = [&] {
    if constexpr (kTma) {
      tma::barrier_wait(&dy_full, dy_phase);
      dy_phase ^= 1;
    }
  };
  // kTma: fn(pass, ci, tx) for each 4 x 4 block of the slice's channels, shared by `threads`
  // threads of which this is thread `id`, `passes` blocks each. The 8 blocks of a channel are
  // 8 consecutive lanes, and a thread's pass-th block is of the same channel every tile.
  auto for_each_block = [&](auto passes, int id, int threads, auto&& fn) {
#pragma unroll
    for (int pass = 0; pass < decltype(passes)::value; ++pass) {
      const int item = pass * threads + id;
      fn(pass, item / kBlockCols, item % kBlockCols);
    }
  };
  const int half = tid / kHalfThreads, half_tid = tid % kHalfThreads;
  // kTma: this thread's shares of dW_dw and db_dw for its blocks of the dW_dw pass, summed
  // over all the launch's tiles in registers and reduced across a channel's lanes once, after
  // the loop (a reduction and a shared-memory update a tile took 20 shuffles a block).
  float block_grad[kBlockPasses][KH * KW + 1] = {};
  // fn(ci, run, window) for each run of each channel of the slice, the channel's x window
  // staged; every thread calls it, and it ends on a block barrier. `resident`: the whole
  // window is already in X and visible to all threads.
  constexpr int kRuns = kPixels / kBackwardRun;
  auto for_each_run = [&](TileOrigin o, bool resident, auto&& fn) {
    for (int c_first = 0; c_first < kCiSlice; c_first += g.sub_channels) {
      if (!whole_window) {
        if (c_first > 0) __syncthreads();  // the previous channels' window is no longer read
        copy_window(o, c_first, g.sub_channels);
      }
      if (!resident) {
        gemm::copy_async_wait<0>();
        __syncthreads();
      }
      for (int item = tid; item < g.sub_channels * kRuns; item += kThreads) {
        const int ch = item / kRuns;
        fn(c_first + ch, item % kRuns, X + ch * g.window_floats());
      }
    }
    __syncthreads();
  };

  // dW_pw: each thread an 8 x 8 block (rows tm + 16 i, columns tn + 8 j), summed across all
  // tiles; kTma: half 1's, over a tile's first kHalf1Pixels pixels, with half 0's sums over
  // the rest added at the tile's end (half 0 holds each tile's dt in the same registers
  // first); else the two halves of the block take alternate 4-pixel slices of each tile.
  const int tm = half_tid % WeightTile::kRowLanes, tn = half_tid / WeightTile::kRowLanes;
  float acc_w[WeightTile::TM][WeightTile::TN] = {};
  // kTma: half 0's share of a tile's dW_pw, handed to half 1 through T (free between the
  // tile's dW_pw and the next tile's t pass); each float4 of a thread kHalfThreads float4 apart,
  // so that a warp's stores and loads are contiguous.
  auto share_slot = [&](int i, int jg) {
    return reinterpret_cast<float4*>(T) + (i * (WeightTile::TN / 4) + jg) * kHalfThreads + half_tid;
  };
  auto stash_dw_pw_share = [&] {
#pragma unroll
    for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
      for (int jg = 0; jg < WeightTile::TN / 4; ++jg)
        *share_slot(i, jg) =
            make_float4(acc_w[i][4 * jg], acc_w[i][4 * jg + 1], acc_w[i][4 * jg + 2], acc_w[i][4 * jg + 3]);
  };
  auto take_dw_pw_share = [&] {
#pragma unroll
    for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
      for (int jg = 0; jg < WeightTile::TN / 4; ++jg) {
        const float4 v = *share_slot(i, jg);
        acc_w[i][4 * jg] += v.x, acc_w[i][4 * jg + 1] += v.y, acc_w[i][4 * jg + 2] += v.z, acc_w[i][4 * jg + 3] += v.w;
      }
  };
  static_assert(WeightTile::TM * WeightTile::TN * kHalfThreads <= kCiSlice * kRowPitch, "half 0's share fits T");
  // db_pw: thread tid sums row bias_row of each dy tile over pixels [bias_begin, bias_end), in
  // 4 lanes. kTma: half 0, a whole row a thread, beside half 1's t pass and dW_pw; else both
  // halves, half a row each (one thread a whole row, a chain of 128 dependent additions a
  // tile, kept half the block busy while the other half waited at the barrier).
  static_assert(kThreads == 2 * kCoSlice, "two threads a dy row");
  const int bias_row = tid % kCoSlice, bias_begin = kTma ? 0 : half * kPixels / 2,
            bias_end = kTma ? kPixels : bias_begin + kPixels / 2;
  const bool sums_bias = slice.bias_pw && bias_row < co_count && (!kTma || half == 0);
  float4 bias_pw_sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);

  // dt: the whole block in 4 x 8 register blocks, or (kTma) half 0 in 8 x 8 blocks.
  using Dt = std::conditional_t<kTma, SplitDtTile, DtTile>;
  const bool makes_dt = !kTma || half == 0;
  const int dt_id = kTma ? half_tid : tid;
  // kTma, first C_out slice: dt leaves through DT as one TMA store a tile, which no thread
  // waits for. From registers, half 0's stores took about 6,000 of a tile's 30,000 cycles
  // (clock64 phase timings, docs/performance-notes.md). The later slices add to it from
  // registers.
  const bool dt_by_tma = kTma && slice.first_co;

  // Copies in flight, oldest first: dy of the block's first tile, then its window.
  gemm::TilePlace place(blockIdx.x, stride);
  if (blockIdx.x < tiles) {
    copy_dy(origin(place));
    if constexpr (kTma) {
      if (tid == 0) issue_window(origin(place));
    } else if (whole_window) {
      copy_window(origin(place), 0, kCiSlice);
    }
  }
  for (int64_t tile = blockIdx.x; tile < tiles; tile += walkers) {
    const TileOrigin o = origin(place);
    place.advance(stride);
    const TileOrigin next = origin(place);
    const bool has_next = tile + walkers < tiles;
    const int64_t col0 = o.ow0 * s.sw - s.pw;
    const int offset = s.w % 4 == 0 ? int(col0 - depthwise::floor_div(col0, 4) * 4) : 0;

    // 1. dt = W^T dy, into registers, and out to dt_out with the earlier C_out slices' share
    // (kTma: half 0, while half 1 makes t and dW_pw, steps 2 and 3).
    if (whole_window && !kTma)
      gemm::copy_async_wait<1>();  // dy; the window may still be in flight
    else
      gemm::copy_async_wait<0>();
    if (dt_by_tma && tid == 0) {
      if (publishes)
        tile_progress::await_stores();  // the tiles before are in device memory, as DT is read out
      else
        tma::store_wait_read();  // the last tile's DT is read out
    }
    __syncthreads();
    // By a thread of half 1, which next waits for the window: half 0's store issuer would hold
    // the block at this barrier while its release waits for what it has in flight.
    if (publishes && tid == kHalfThreads) tile_progress::publish(followers.progress + blockIdx.x, tiles_done);
    ++tiles_done;
    if (makes_dt) await_dy();  // kTma: half 1 waits once it has made t
    // kTma: half 0's dt goes in acc_w, which only half 1 sums dW_pw in. One 8 x 8 block a
    // thread instead of two took the kernel from 247 registers to 210, room that ptxas spends
    // on scheduling both GEMMs (4.62 ms against 4.77, H100).
    float acc_own[kTma ? 1 : Dt::TM][Dt::TN] = {};
    auto& acc_dt = first_if<kTma>(acc_w, acc_own);
    static_assert(!kTma || (Dt::TM == WeightTile::TM && Dt::TN == WeightTile::TN), "one register block serves both");
    if (kTma && half == 0)
#pragma unroll
      for (int i = 0; i < Dt::TM; ++i)
#pragma unroll
        for (int j = 0; j < Dt::TN; ++j) acc_dt[i][j] = 0.0f;
    if (makes_dt) {
      if constexpr (kTma) {
        const dy_tile::PixelGroups dy_groups(Dt::col_group(dt_id, 0));
        auto load_dy = [&](int co, const int(&)[Dt::kGroupsN], float(&b)[Dt::TN]) {
#pragma unroll
          for (int g = 0; g < Dt::kGroupsN; ++g)
            *reinterpret_cast<float4*>(&b[4 * g]) = *reinterpret_cast<const float4*>(&D[dy_groups.offset(co, g)]);
        };
        gemm::multiply_chunk_loading_b<Dt, false, kCoSlice, gemm::kChunkUnroll>(Ws, load_dy, acc_dt, dt_id);
      } else {
        gemm::multiply_chunk<Dt, false, false, kCoSlice, gemm::kChunkUnroll, kRowPitch>(Ws, D, acc_dt, dt_id);
      }
    }
    if (makes_dt && !dt_by_tma) {
      // A thread's columns are groups of 4 pixels of one tile row: with rows of whole float4,
      // each group is all inside the image or all outside, and goes out as one float4.
      float* const dt_tile = dt_out + (o.img * s.c_in + slice.ci0) * plane + o.oh0 * s.wo + o.ow0;
#pragma unroll
      for (int jg = 0; jg < Dt::kGroupsN; ++jg) {
        const int px = Dt::col_group(dt_id, jg), row = px >> g.tw_shift, col = px & (g.tw - 1);
        const int64_t cols_in = min64(4, s.wo - o.ow0 - col);  // of the group's 4, inside the image
        const bool row_in = o.oh0 + row < s.ho;
#pragma unroll
        for (int i = 0; i < Dt::TM; ++i) {
          const int ci = Dt::row(dt_id, i);
          float* v = &acc_dt[i][4 * jg];
          float* out = dt_tile + ci * plane + row * s.wo + col;
          const bool in = row_in && ci < ci_count;
          if (dt_vector) {
            if (in && cols_in > 0) {
              float4 sum = make_float4(v[0], v[1], v[2], v[3]);
              if (!slice.first_co) {
                const float4 earlier = *reinterpret_cast<const float4*>(out);
                sum = make_float4(sum.x + earlier.x, sum.y + earlier.y, sum.z + earlier.z, sum.w + earlier.w);
              }
              *reinterpret_cast<float4*>(out) = sum;
              v[0] = sum.x, v[1] = sum.y, v[2] = sum.z, v[3] = sum.w;
            } else {
              v[0] = v[1] = v[2] = v[3] = 0.0f;
            }
          } else {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const bool ok = in && e < cols_in;
              if (ok && !slice.first_co) v[e] += out[e];
              if (ok) out[e] = v[e];
              if (!ok) v[e] = 0.0f;
            }
          }
        }
      }
    }

    // 2. t, recomputed from the x window, into T (kTma: half 1, which goes on to dW_pw, step 3,
    // while half 0 puts dt into DT for the TMA store and the dW_dw pass, then takes step 3's
    // last pixels).
    if constexpr (kTma) {
      if (half == 1) {
        constexpr int kTPasses = 2 * kBlockPasses, kTPassesAPart = kTPasses / kWindowParts;
        for_each_block(std::integral_constant<int, kTPasses>{}, half_tid, kHalfThreads, [&](int pass, int ci, int tx) {
          if (pass % kTPassesAPart == 0) await_window_part(pass / kTPassesAPart);
          t_block<KH, KW>(X, T, DW, ci, tx);
        });
        window_phase ^= 1;
        tma::barrier_arrive(&t_done);        // half 0 may read t (its share of dW_pw)
        tma::sync_threads(1, kHalfThreads);  // t is complete
        // The last C_out slice reads the window again for dW_dw; the others are done with it.
        if (!slice.last_co && has_next && half_tid == 0) issue_window(next);
        __syncwarp();  // the issuing lane rejoins its warp
        await_dy();
        gemm::multiply_k_span_rows<dy_tile::ChannelRows, gemm::PitchedRows<kRowPitch>, true>(
            dy_tile::ChannelRows(D, tm), {T + tn * kRowPitch}, 0, kHalf1Pixels, 4, acc_w);  // step 3
      } else {
        if (slice.last_co || dt_by_tma) {
#pragma unroll
          for (int i = 0; i < Dt::TM; ++i)
#pragma unroll
            for (int jg = 0; jg < Dt::kGroupsN; ++jg)
              *reinterpret_cast<float4*>(&DT[Dt::row(dt_id, i) * L::kDtPitch + Dt::col_group(dt_id, jg)]) =
                  make_float4(acc_dt[i][4 * jg], acc_dt[i][4 * jg + 1], acc_dt[i][4 * jg + 2], acc_dt[i][4 * jg + 3]);
          tma::fence_shared_for_async();  // DT's writes, visible to the TMA store
        }
        // DT is complete. Met every tile, DT or not: with a named barrier a tile in each half,
        // each thread meets as many barriers a tile, without which compute-sanitizer's
        // racecheck (CUDA 13.0) reported hazards across every later block barrier (194, all
        // results correct).
        tma::sync_threads(2, kHalfThreads);
        if (dt_by_tma && half_tid == 0) {
          tma::store_box(&dt_map, DT, int(o.ow0), int(o.oh0), int(slice.ci0), int(o.img));
          tma::store_commit();
        }
        __syncwarp();  // the issuing lane rejoins its warp

        // Step 3 over the last pixels, into the registers dt has left.
#pragma unroll
        for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
          for (int j = 0; j < WeightTile::TN; ++j) acc_w[i][j] = 0.0f;
        tma::barrier_wait(&t_done, t_phase);
        t_phase ^= 1;
        gemm::multiply_k_span_rows<dy_tile::ChannelRows, gemm::PitchedRows<kRowPitch>, true>(
            dy_tile::ChannelRows(D, tm), {T + tn * kRowPitch}, kHalf1Pixels, kPixels, 4, acc_w);
      }
    } else
      for_each_run(o, false, [&](int ci, int run, const float* window) {
        const int64_t c = slice.ci0 + ci;
        const bool valid = ci < ci_count;
        DepthwiseWeights<KH, KW> wr;
        float t[kBackwardRun];
        start_channel<KH, KW>(w_dw, b_dw, c, valid, wr, t);
        depthwise_run<kBackwardRun, KH, KW, false, WindowSteps>(
            window, g, s, run, offset, wr, w_dw + (valid ? c : 0) * taps, valid, t, t, [](int, float) {});
#pragma unroll
        for (int q = 0; q < kBackwardRun; ++q) T[ci * kRowPitch + run_pixel<kBackwardRun>(run, q)] = t[q];
      });

    // 3. dW_pw += dy t^T over the tile's pixels (kTma: both halves, in step 2); db_pw from the same
    // dy, pixel by pixel.
    if constexpr (!kTma)
      gemm::multiply_k_rows<kRowPitch, kPixels, 2>(D + tm * kRowPitch, T + tn * kRowPitch, half, acc_w);
    if (sums_bias)
#pragma unroll 4
      for (int px = bias_begin; px < bias_end; px += 4) {
        const float* row = kTma ? dy_tile::ChannelRows(D, bias_row).at(px) : &D[bias_row * kRowPitch + px];
        const float4 v = *reinterpret_cast<const float4*>(row);
        bias_pw_sum = make_float4(bias_pw_sum.x + v.x, bias_pw_sum.y + v.y, bias_pw_sum.z + v.z, bias_pw_sum.w + v.w);
      }
    __syncthreads();  // D and T are free
    if (kTma && half == 0) stash_dw_pw_share();
    if (has_next) copy_dy(next);  // lands during steps 4 and 5
    if (!slice.last_co) {
      // No dW_dw to make: the window is free too. Copied after dy, like the last slice's,
      // so that step 1's wait for all but the newest group is a wait for dy.
      if (whole_window && !kTma && has_next) copy_window(next, 0, kCiSlice);
      if constexpr (kTma) {
        __syncthreads();  // half 0's share is in T
        if (half == 1) take_dw_pw_share();
      }
      continue;
    }

    // 4. dt into T's place, for dW_dw, a float4 a column group (kTma: DT, in step 2).
    if (makes_dt && !kTma)
#pragma unroll
      for (int i = 0; i < Dt::TM; ++i)
#pragma unroll
        for (int jg = 0; jg < Dt::kGroupsN; ++jg)
          *reinterpret_cast<float4*>(&DT[Dt::row(dt_id, i) * L::kDtPitch + Dt::col_group(dt_id, jg)]) =
              make_float4(acc_dt[i][4 * jg], acc_dt[i][4 * jg + 1], acc_dt[i][4 * jg + 2], acc_dt[i][4 * jg + 3]);
    if (!kTma) __syncthreads();

    // 5. dW_dw and db_dw from the window and dt. The 8 runs of a channel are 8 consecutive
    // lanes, all active together: each tap's sum is reduced there and the first adds it to the
    // block's total (one writer each). The 4 x 4 blocks (kTma) add to block_grad.
    if constexpr (kTma) {
      // Each box is free once every thread is done with its channels.
      if (half == 0) {  // landed before half 1's t pass; awaited for their visibility here
        for (int part = 0; part < kWindowParts; ++part) await_window_part(part);
        window_phase ^= 1;
      }
      for_each_block(std::integral_constant<int, kBlockPasses>{}, tid, kThreads, [&](int pass, int ci, int tx) {
        weight_grad_block<KH, KW>(X, DT, L::kDtPitch, ci, tx, block_grad[pass]);
        if ((pass + 1) % kBlockPassesAPart == 0) {
          __syncthreads();
          if (has_next && tid == 0) issue_window_part(next, pass / kBlockPassesAPart);
        }
      });
      if (half == 1) take_dw_pw_share();  // in T since before the pass's barriers
      continue;
    }
    for_each_run(o, whole_window, [&](int ci, int run, const float* window) {
      const int64_t c = slice.ci0 + ci;
      const bool valid = ci < ci_count;
      DepthwiseWeights<KH, KW> wr;
      wr.load(w_dw, c, valid);
      float t[kBackwardRun], dtv[kBackwardRun];  // t is made again and dropped: the compiler removes it
#pragma unroll
      for (int q = 0; q < kBackwardRun; ++q) {
        t[q] = 0.0f;
        dtv[q] = DT[ci * L::kDtPitch + run_pixel<kBackwardRun>(run, q)];
      }
      const unsigned lanes = __activemask();
      auto add = [&](int slot, float v) {
#pragma unroll
        for (int off = kRuns / 2; off > 0; off /= 2) v += __shfl_down_sync(lanes, v, off, kRuns);
        if (run == 0) DW[ci * kMaxWeightSlots + slot] += v;
      };
      depthwise_run<kBackwardRun, KH, KW, true, WindowSteps>(window, g, s, run, offset, wr,
                                                             w_dw + (valid ? c : 0) * taps, valid, t, dtv, add);
      float dt_sum = 0.f;
#pragma unroll
      for (int q = 0; q < kBackwardRun; ++q) dt_sum += dtv[q];
      add(taps, dt_sum);
    });
    if (whole_window && has_next) copy_window(next, 0, kCiSlice);  // lands during the next dt GEMM
  }
  gemm::copy_async_wait<0>();
  if (dt_by_tma && tid == 0) {
    if (publishes)
      tile_progress::await_stores();
    else
      tma::store_wait_read();
  }
  __syncthreads();
  if (publishes && tid == kHalfThreads) tile_progress::publish(followers.progress + blockIdx.x, tiles_done);

  // Partials of this block, laid out [output][block] for reduce_partials. Else than kTma, the
  // halves' dW_pw sums meet in D's space, free since the loop's last barrier, and the db_pw
  // halves in T's.
  const int64_t blocks = walkers;
  const float bias_sum = (bias_pw_sum.x + bias_pw_sum.y) + (bias_pw_sum.z + bias_pw_sum.w);
  auto write_dw_pw = [&](int co, int ci, float v) {
    if (co < co_count && ci < ci_count)
      partial_dw_pw[((slice.co0 + co) * s.c_in + slice.ci0 + ci) * blocks + blockIdx.x] = v;
  };
  auto write_db_pw = [&](float v) { partial_db_pw[(slice.co0 + bias_row) * blocks + blockIdx.x] = v; };
  if constexpr (kTma) {
    if (half == 1)
#pragma unroll
      for (int i = 0; i < WeightTile::TM; ++i)
#pragma unroll
        for (int j = 0; j < WeightTile::TN; ++j)
          write_dw_pw(tm + i * WeightTile::kRowLanes, tn + j * WeightTile::kColLanes, acc_w[i][j]);
    if (sums_bias) write_db_pw(bias_sum);
  } else {
    if (sums_bias && half == 1) T[bias_row] = bias_sum;
    gemm::reduce_halves(acc_w, D, half, tm, tn, write_dw_pw);
    __syncthreads();  // T holds the second half's db_pw sums
    if (sums_bias && half == 0) write_db_pw(bias_sum + T[bias_row]);
  }
  if (slice.last_co) {
    float* sums = kTma ? D : DW;  // kTma: DW holds only the taps; D is free
    if constexpr (kTma)           // block_grad into sums: a channel's 8 lanes reduced, the first writes
#pragma unroll
      for (int pass = 0; pass < kBlockPasses; ++pass) {
        const int item = pass * kThreads + tid, ci = item / kBlockCols;
#pragma unroll
        for (int slot = 0; slot <= KH * KW; ++slot) {
          float v = block_grad[pass][slot];
#pragma unroll
          for (int off = kBlockCols / 2; off > 0; off /= 2) v += __shfl_down_sync(0xffffffffu, v, off, kBlockCols);
          if (item % kBlockCols == 0) sums[ci * kMaxWeightSlots + slot] = v;
        }
      }
    __syncthreads();
    for (int idx = tid; idx < ci_count * slots; idx += kThreads) {
      const int ci = idx / slots, slot = idx % slots;
      const float v = sums[ci * kMaxWeightSlots + slot];
      if (slot < taps)
        partial_dw_dw[((slice.ci0 + ci) * taps + slot) * blocks + blockIdx.x] = v;
      else if (partial_db_dw)
        partial_db_dw[(slice.ci0 + ci) * blocks + blockIdx.x] = v;
    }
  }
}

}  // namespace
}  // namespace dsconv
