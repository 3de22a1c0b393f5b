// Tensor Memory Accelerator (TMA) tile loads, the shared-memory barriers (mbarrier) that
// say when they have landed, and tile stores; sm_90+.
//
// Why: with cp.async every thread issues its share of a tile's copies - addresses, bounds
// tests and predicates, several hundred instructions a warp per 32 KB tile - and the block
// must meet at a barrier before anyone may read the tile. One thread hands the whole box to
// the TMA unit instead, which fills the edges with zeros, and each warp waits only on the
// barrier of the stage it is about to read: warps drift apart and cover each other's stalls.
// The maps themselves are made on the host: kernels/tma_map.h.
//
// Device code built for older GPUs traps in these functions instead of failing to build, so
// that a kernel may take a TMA path chosen at run time; hosts launch such paths only where
// kernel_usable() (kernels/tma_map.h) says the binary has sm_90 code.
#pragma once

#include <cuda.h>

#include <cstdint>

namespace dsconv::tma {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define DSCONV_TMA_ONLY(...) __trap()
#else
#define DSCONV_TMA_ONLY(...) __VA_ARGS__
#endif

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// A barrier that completes a phase once `count` arrivals (and any expected bytes) are in.
__device__ __forceinline__ void barrier_init(uint64_t* bar, uint32_t count) {
  DSCONV_TMA_ONLY(asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(shared_address(bar)), "r"(count)
                               : "memory"));
}
// Makes initialised barriers visible to the TMA unit; follow with __syncthreads().
__device__ __forceinline__ void barrier_init_fence() {
  DSCONV_TMA_ONLY(asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory"));
  DSCONV_TMA_ONLY(asm volatile("fence.proxy.async.shared::cta;" ::: "memory"));
}
__device__ __forceinline__ void barrier_arrive(uint64_t* bar) {
  DSCONV_TMA_ONLY(asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(shared_address(bar)) : "memory"));
}
// Arrives and tells the barrier to also wait for `bytes` of TMA transfers.
__device__ __forceinline__ void barrier_arrive_expect_bytes(uint64_t* bar, uint32_t bytes) {
  DSCONV_TMA_ONLY(
      asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(shared_address(bar)), "r"(bytes)
                   : "memory"));
}
// Blocks until the phase with parity `parity` has completed (phases alternate 0, 1, 0, ...).
__device__ __forceinline__ void barrier_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done = 0;
  do {
    DSCONV_TMA_ONLY(asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done)
        : "r"(shared_address(bar)), "r"(parity)
        : "memory"));
  } while (!done);
}

// How many columns before column `first` a box must start for c0 to be a multiple of 4
// (see load_box).
__host__ __device__ constexpr int lead_columns(int first) { return (first % 4 + 4) % 4; }

// Loads the box of a rank-3 (or rank-4) `map` whose first element is at coordinates (c0, c1,
// ...) (innermost first; they may be negative) into `dst`, densely packed, and counts its
// bytes on `bar`. Elements outside the tensor arrive as zeros: padding costs nothing. Keep c0
// a multiple of 4 floats (16 bytes): the fused forward's x windows, started at -1, stopped
// the kernel with an illegal instruction, and ran once started at -4 (H100).
__device__ __forceinline__ void load_box(void* dst, const CUtensorMap* map, int c0, int c1, int c2, uint64_t* bar) {
  DSCONV_TMA_ONLY(asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4}], [%5];" ::
          "r"(shared_address(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(shared_address(bar))
      : "memory"));
}

__device__ __forceinline__ void load_box(void* dst, const CUtensorMap* map, int c0, int c1, int c2, int c3,
                                         uint64_t* bar) {
  DSCONV_TMA_ONLY(asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], "
      "[%6];" ::"r"(shared_address(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(shared_address(bar))
      : "memory"));
}

// Makes this thread's shared-memory writes visible to the TMA unit (the async proxy): each
// writer runs it before the barrier after which one thread issues store_box.
__device__ __forceinline__ void fence_shared_for_async() {
  DSCONV_TMA_ONLY(asm volatile("fence.proxy.async.shared::cta;" ::: "memory"));
}

// Stores `src`, densely packed, as the box of a rank-4 `map` whose first element is at (c0,
// c1, c2, c3); elements outside the tensor are not written. The store joins this thread's
// open bulk group: store_commit() closes it.
__device__ __forceinline__ void store_box(const CUtensorMap* map, const void* src, int c0, int c1, int c2, int c3) {
  DSCONV_TMA_ONLY(
      asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.bulk_group [%0, {%2, %3, %4, %5}], [%1];" ::"l"(
                       reinterpret_cast<uint64_t>(map)),
                   "r"(shared_address(src)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
                   : "memory"));
}
__device__ __forceinline__ void store_commit() {
  DSCONV_TMA_ONLY(asm volatile("cp.async.bulk.commit_group;" ::: "memory"));
}
// Waits until every store this thread committed has read its shared memory, which may then
// be written again (the global writes may still be in flight; they are done by the kernel's
// end).
__device__ __forceinline__ void store_wait_read() {
  DSCONV_TMA_ONLY(asm volatile("cp.async.bulk.wait_group.read 0;" ::: "memory"));
}

// A named barrier for `threads` threads (a multiple of 32): lets part of a block meet
// without stopping the rest. Id 0 is __syncthreads()'s. The non-.aligned form: a warp whose
// issuing lane has just run producer code alone need not have reconverged.
__device__ __forceinline__ void sync_threads(int id, int threads) {
  asm volatile("barrier.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

#undef DSCONV_TMA_ONLY

}  // namespace dsconv::tma
