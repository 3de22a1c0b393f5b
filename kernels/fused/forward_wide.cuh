// `fused`'s warp-specialized forward for the KernelBench case (fused_forward_wide_kernel,
// sm_90a): a producer warp group makes t, two consumer groups multiply it.
#pragma once

#include "kernels/common/depthwise_tma.cuh"
#include "kernels/common/ffma_gemm.cuh"
#include "kernels/common/tma.cuh"
#include "kernels/fused/forward_tma.cuh"
#include "kernels/fused/tile_windows.cuh"

namespace dsconv {
namespace {

// Forward with TMA windows and 16 x 8 register blocks (sm_90a), for the KernelBench case:
// unit stride and dilation, "same" padding, 1 x 1 or 3 x 3, C_in <= 64, C_out <= 128, rows of
// whole float4 and images at least 32 wide.
//
// One block a multiprocessor of three warp groups, warp-specialized:
//  - the producer makes t. Two TMA boxes a 4 x 32 pixel tile bring the x windows of 32
//    channels each (zeros for the padding and past C_in); each thread computes 4 x 4 blocks of
//    outputs of one channel from float4 reads of its window rows (depthwise_tma::for_each_tap,
//    `tiled`'s depthwise arithmetic: 6 x 3 reads for 16 outputs at 3 x 3), the taps and bias
//    from shared memory, into one of four t tiles. A half's next box is issued as soon as the
//    half is read, so it lands while the other half is computed;
//  - two consumers take the t tiles in turn. Each multiplies W_pw^T (resident) by its t tile,
//    64 deep, started from the bias, with the 16 x 8 accumulators of `tiled`'s forward GEMM
//    (128 FFMA for 6 shared-memory loads a k step, where fused_forward_tma_kernel's 8 x 8 does
//    64 for 4), hands the tile back and stores its y from registers.
// mbarriers alone pass the t tiles (full and empty, two a consumer), so a consumer waits only
// for its own next tile: the depthwise arithmetic and the y stores of one warp group run
// beside the other groups' GEMMs instead of between them. The accumulators need more registers
// than 384 threads can share evenly, so the producer hands most of its own to the consumers
// (setmaxnreg, an instruction of sm_90a code).
//
// Before it, two groups of 4 warps each made their own t and then multiplied it, two group
// barriers a tile (234 registers, 8 warps): H100, same process, 1.769 ms against 1.711 for
// this kernel (three runs each). ncu on that kernel (c329e9b's profile, docs/performance-
// notes.md) put 11% of its stall samples in the depthwise loop and 9.6% in the y stores, whose
// burst backs up the load/store unit. Left out, the stores saved 11% there; stored through
// shared memory by TMA, with only the t tile's space free for them, they were slower. With
// 5 x 5 the windows of 64 channels do not fit beside W and the t tiles: fused_forward_tma_kernel.
constexpr int kWideConsumers = 2;       // consumer warp groups
constexpr int kWideGroupThreads = 128;  // a warp group
constexpr int kWideThreads = kWideGroupThreads * (1 + kWideConsumers);
constexpr int kWideTBuffers = 2 * kWideConsumers;  // t tiles: two a consumer
constexpr int kWideHalves = 2;                     // a tile's windows come in two boxes
constexpr int kWideHalfChannels = kTmaK / kWideHalves;
// The block is launched with the register file's 65,536 shared by its threads, rounded down
// to a multiple of 8 (168 a thread for 384); setmaxnreg moves them: the producer's 88 and the
// consumers' 208 use the same 64,512.
constexpr int kWideLaunchRegisters = 65536 / kWideThreads / 8 * 8;
constexpr int kWideProducerRegisters = 88, kWideConsumerRegisters = 208;
static_assert(kWideGroupThreads * (kWideProducerRegisters + kWideConsumers * kWideConsumerRegisters) <=
                  kWideThreads * kWideLaunchRegisters,
              "the warp groups' registers must fit what the block was launched with");
constexpr int kWideRows = 4, kWideCols = 32;  // a tile
constexpr int kWideBlockRows = 4;             // depthwise: a producer thread's block is kWideBlockRows x 4
using WideTile = gemm::Tile<128, kWideRows * kWideCols, kTmaK, 16, 8, 2, 2, true>;
static_assert(WideTile::kWarps * 32 == kWideGroupThreads, "a consumer is one warp group");
static_assert(kWideBlockRows == kWideRows, "one depthwise block a tile column");

// The block's shared memory, in floats from a 128-byte aligned base (the TMA destinations
// first).
template <int KH, int KW>
struct WideLayout {
  using Window = depthwise_tma::Window<KH, KW, kWideRows, kWideCols>;
  static constexpr int kWindowFloats = Window::kRows * Window::kCols;      // a channel's, as the box lands
  static constexpr int kTapStride = StagedTaps<KH, KW>::kStride;           // a channel's taps, then its bias
  static constexpr int kX = 0;                                             // [kTmaK][kWindowFloats]
  static constexpr int kW = kX + kTmaK * kWindowFloats;                    // W_pw^T: [kTmaK][BM]
  static constexpr int kT = kW + kTmaK * WideTile::BM;                     // t: [kWideTBuffers][kTmaK][BN]
  static constexpr int kTaps = kT + kWideTBuffers * kTmaK * WideTile::BN;  // [kTmaK][kTapStride]
  static constexpr int kBias = kTaps + kTmaK * kTapStride;                 // b_pw: [BM]
  static constexpr int kFloats = kBias + WideTile::BM;
  static constexpr size_t bytes() { return sizeof(float) * kFloats; }
  static_assert(kWindowFloats % 4 == 0 && kWideHalfChannels * kWindowFloats % 32 == 0,
                "float4 reads of every channel's window, 128-byte aligned TMA destinations");
};

struct WideArgs {
  int c_in, c_out, ho, wo;
  int tiles, tiles_per_image, tiles_w;  // 4 x 32 pixel tiles
  int ph, pw;
};

// The mbarriers of the producer-consumer pipeline.
struct WideBarriers {
  uint64_t window_full[kWideHalves];  // a half's box has landed (1 arrival + its bytes)
  uint64_t t_full[kWideTBuffers];     // the producer's 128 threads have written the t tile
  uint64_t t_empty[kWideTBuffers];    // the consumer's 128 threads are done reading it
};

// 1 in code built for sm_90a, where fused_forward_wide_kernel is real, 0 elsewhere (it traps
// there): the host reads the copy of the code the device runs (wide_forward_usable).
__device__ int wide_forward_built =
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    1;
#else
    0;
#endif

template <int KH, int KW>
__global__ __launch_bounds__(kWideThreads, 1) void fused_forward_wide_kernel(
    const __grid_constant__ CUtensorMap x_map, const __grid_constant__ WideArgs a, const float* __restrict__ w_dw,
    const float* __restrict__ b_dw, const float* __restrict__ w_pw, const float* __restrict__ b_pw,
    float* __restrict__ y) {
#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
  using T = WideTile;
  using L = WideLayout<KH, KW>;
  using W = typename L::Window;
  using depthwise_tma::kColsPerThread;
  // k steps a GEMM loop trip: 7, so that the 63 steps after the first are 9 whole trips.
  // At 8 the compiler peeled the 7 left over out of the loop, and the GEMM's code was twice
  // as long; ncu put 7% of the GEMM's stall samples on instruction fetch ("no instruction").
  // H100, same process: 1.630 / 1.633 ms at 7 against 1.670 / 1.671 at 8 (and 8 against 4:
  // 1.820 / 1.820 against 1.864 / 1.853; 16: 2.04 against 1.70).
  constexpr int kUnroll = 7;
  static_assert((kTmaK - 1) % kUnroll == 0, "the steps after the first in whole loop trips");
  extern __shared__ __align__(128) float wide_smem[];  // 128: the TMA destinations
  __shared__ WideBarriers bars;
  const int tid = threadIdx.x, role = tid / kWideGroupThreads, gtid = tid % kWideGroupThreads;
  const float* Ws = wide_smem + L::kW;
  float* taps = wide_smem + L::kTaps;
  float* bias_pw = wide_smem + L::kBias;
  auto t_tile = [&](int buffer) { return wide_smem + L::kT + buffer * kTmaK * T::BN; };

  gemm::copy_resident_a<T, true>(wide_smem + L::kW, w_pw, a.c_in, a.c_out, a.c_in, 1, tid, kWideThreads);
  gemm::copy_async_commit();
  // Channels past C_in make t = 0, and meet zero rows of W_pw^T.
  StagedTaps<KH, KW>::stage(taps, w_dw, b_dw, 0, a.c_in, kTmaK, tid, kWideThreads);
  for (int m = tid; m < T::BM; m += kWideThreads) bias_pw[m] = b_pw && m < a.c_out ? b_pw[m] : 0.0f;
  if (tid == 0) {
    for (int h = 0; h < kWideHalves; ++h) tma::barrier_init(&bars.window_full[h], 1);  // the issuer + the bytes
    for (int b = 0; b < kWideTBuffers; ++b) {
      tma::barrier_init(&bars.t_full[b], kWideGroupThreads);
      tma::barrier_init(&bars.t_empty[b], kWideGroupThreads);
    }
    tma::barrier_init_fence();
  }
  gemm::copy_async_wait<0>();
  __syncthreads();

  // The block's tiles: blockIdx.x, + gridDim.x, ...; the i-th goes through t buffer
  // i % kWideTBuffers to consumer i % kWideConsumers.
  const int first = int(blockIdx.x), step = int(gridDim.x);
  if (role == 0) {
    asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;" ::"n"(kWideProducerRegisters));
    // Half h of tile `tile`'s windows, from W::kOffset columns left of its first input column.
    auto issue = [&](int tile, int h) {
      const int rem = tile % a.tiles_per_image;
      tma::barrier_arrive_expect_bytes(&bars.window_full[h],
                                       uint32_t(kWideHalfChannels * L::kWindowFloats * sizeof(float)));
      tma::load_box(wide_smem + L::kX + h * kWideHalfChannels * L::kWindowFloats, &x_map,
                    (rem % a.tiles_w) * kWideCols - a.pw - W::kOffset, (rem / a.tiles_w) * kWideRows - a.ph,
                    h * kWideHalfChannels, tile / a.tiles_per_image, &bars.window_full[h]);
    };
    if (gtid == 0 && first < a.tiles)
      for (int h = 0; h < kWideHalves; ++h) issue(first, h);
    __syncwarp();

    // This thread's 4 x 4 blocks: column group tx of channels channel0, + 16, + 32, + 48.
    constexpr int kBlockCols = kWideCols / kColsPerThread;          // threads a channel
    constexpr int kChannelsAPass = kWideGroupThreads / kBlockCols;  // channels the group does at once
    const int tx = gtid % kBlockCols, channel0 = gtid / kBlockCols;
    const float* window_block = wide_smem + L::kX + kColsPerThread * tx;

    for (int i = 0, tile = first; tile < a.tiles; ++i, tile += step) {
      const int buffer = i % kWideTBuffers, use = i / kWideTBuffers;
      if (use > 0) tma::barrier_wait(&bars.t_empty[buffer], (use - 1) & 1);
      float* t_block = t_tile(buffer) + kColsPerThread * tx;
#pragma unroll 1
      for (int h = 0; h < kWideHalves; ++h) {
        tma::barrier_wait(&bars.window_full[h], i & 1);
#pragma unroll 1
        for (int c = h * kWideHalfChannels + channel0; c < (h + 1) * kWideHalfChannels; c += kChannelsAPass) {
          float wv[L::kTapStride];
          StagedTaps<KH, KW>::read(taps, c, wv);
          float acc[kWideBlockRows][kColsPerThread];
#pragma unroll
          for (int o = 0; o < kWideBlockRows; ++o)
#pragma unroll
            for (int q = 0; q < kColsPerThread; ++q) acc[o][q] = wv[KH * KW];
          depthwise_tma::for_each_tap<W, kWideBlockRows>(
              window_block + c * L::kWindowFloats,
              [&](int o, int k, int q, float x) { acc[o][q] = fmaf(wv[k], x, acc[o][q]); });
#pragma unroll
          for (int o = 0; o < kWideBlockRows; ++o)  // float4 groups rotated by one (gemm::b_slot)
            *reinterpret_cast<float4*>(t_block + c * T::BN + o * kWideCols) =
                make_float4(acc[o][1], acc[o][2], acc[o][3], acc[o][0]);
        }
        tma::sync_threads(1, kWideGroupThreads);  // every producer thread is done with this half's windows
        if (gtid == 0 && tile + step < a.tiles) issue(tile + step, h);
        __syncwarp();  // the issuing lane rejoins its warp
      }
      tma::barrier_arrive(&bars.t_full[buffer]);
    }
  } else {
    asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;" ::"n"(kWideConsumerRegisters));
    const int consumer = role - 1;
    for (int i = consumer, tile = first + consumer * step; tile < a.tiles;
         i += kWideConsumers, tile += kWideConsumers * step) {
      const int buffer = i % kWideTBuffers, use = i / kWideTBuffers;
      tma::barrier_wait(&bars.t_full[buffer], use & 1);
      float start[T::TM];  // row i's bias: the addend of the first k step
#pragma unroll
      for (int g = 0; g < T::kGroupsM; ++g)
        *reinterpret_cast<float4*>(&start[4 * g]) = *reinterpret_cast<const float4*>(&bias_pw[T::row_group(gtid, g)]);
      float acc[T::TM][T::TN];
      gemm::multiply_first_chunk<T, false, false, kTmaK, kUnroll, true>(start, Ws, t_tile(buffer), acc, gtid);
      tma::barrier_arrive(&bars.t_empty[buffer]);

      // y: a float4 a column group (wo % 4 == 0: all in or all out). A thread's rows are
      // groups of 4 consecutive channels: one 64-bit address a column group and row group,
      // the rows a plane apart.
      const int img = tile / a.tiles_per_image, rem = tile % a.tiles_per_image;
      const int oh0 = (rem / a.tiles_w) * kWideRows, ow0 = (rem % a.tiles_w) * kWideCols;
      const int64_t plane = int64_t(a.ho) * a.wo;
      float* const y_image = y + img * a.c_out * plane;
      float* at[T::kGroupsN];  // this thread's column groups in channel 0
      bool inside[T::kGroupsN];
#pragma unroll
      for (int g = 0; g < T::kGroupsN; ++g) {
        const int p = T::col_group(gtid, g), oh = oh0 + p / kWideCols, ow = ow0 + p % kWideCols;
        inside[g] = oh < a.ho && ow < a.wo;
        at[g] = y_image + oh * a.wo + ow;
      }
#pragma unroll
      for (int gm = 0; gm < T::kGroupsM; ++gm) {
        const int co0 = T::row_group(gtid, gm);
#pragma unroll
        for (int g = 0; g < T::kGroupsN; ++g) {
          float* row = at[g] + co0 * plane;
#pragma unroll
          for (int r = 0; r < 4; ++r, row += plane) {
            const float* v = acc[4 * gm + r] + 4 * g;
            if (inside[g] && co0 + r < a.c_out)
              __stcs(reinterpret_cast<float4*>(row), make_float4(v[0], v[1], v[2], v[3]));
          }
        }
      }
    }
  }
#else
  __trap();  // the host launches this only where the binary has sm_90a code
#endif
}

}  // namespace
}  // namespace dsconv
