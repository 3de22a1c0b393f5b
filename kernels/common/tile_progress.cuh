// How far the tile walkers of a persistent launch have got, told to other blocks of the same
// launch that read what the walkers stored by TMA (sm_90+).
//
// Block b of `walkers` takes tiles b, b + walkers, b + 2 walkers, ... in order, and keeps
// progress[b] = the number of its tiles whose results are in device memory. The first tile
// not known to be there is then min over b of (b + walkers * progress[b]): every tile before
// it is done, whichever block made it. A reader waits for that mark to pass the last tile it
// needs, so it waits on no block in particular and never on one flag a tile.
//
// Readers must be resident beside the walkers (a cooperative launch) and walkers must never
// wait for readers: then a waiting reader never holds a multiprocessor a walker needs.
#pragma once

#include <cstdint>

namespace dsconv::tile_progress {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 900
#define DSCONV_PROGRESS_ONLY(...) __trap()
#else
#define DSCONV_PROGRESS_ONLY(...) __VA_ARGS__
#endif

// The issuing thread of a walker's TMA stores: waits until every store it committed has
// written device memory, and orders those writes (the async proxy's) before this block's
// later generic operations, so that a release after the next block barrier covers them.
__device__ __forceinline__ void await_stores() {
  DSCONV_PROGRESS_ONLY(asm volatile("cp.async.bulk.wait_group 0;" ::: "memory"));
  DSCONV_PROGRESS_ONLY(asm volatile("fence.proxy.async.global;" ::: "memory"));
}

// Tells readers that `tiles_done` of this walker's tiles are in device memory. Call it after
// a block barrier that follows await_stores(), from a thread with no stores of its own in
// flight: a release waits for what its thread has in flight, and the store issuer's wait
// there held its whole block back (18% of the backward kernel, H100, in an earlier design).
__device__ __forceinline__ void publish(unsigned* progress, unsigned tiles_done) {
  DSCONV_PROGRESS_ONLY(asm volatile("st.release.gpu.global.u32 [%0], %1;" ::"l"(progress), "r"(tiles_done) : "memory"));
}

// The first tile that may not be done yet, read by a whole warp; every lane gets it. The
// counters are read together (relaxed loads in flight at once, where an acquiring load would
// hold back the next), then each lane's acquiring fence and a proxy fence make what the
// walkers published visible to TMA loads this warp issues after a __syncwarp().
__device__ __forceinline__ unsigned first_unfinished(const unsigned* progress, int walkers) {
  const int lane = threadIdx.x % 32;
  unsigned mark = UINT32_MAX;
  for (int b = lane; b < walkers; b += 32) {
    unsigned done = 0;
    DSCONV_PROGRESS_ONLY(asm volatile("ld.relaxed.gpu.global.u32 %0, [%1];"
                                      : "=r"(done)
                                      : "l"(progress + b)
                                      : "memory"));
    mark = min(mark, unsigned(b) + unsigned(walkers) * done);
  }
  DSCONV_PROGRESS_ONLY(asm volatile("fence.acq_rel.gpu;" ::: "memory"));
  DSCONV_PROGRESS_ONLY(asm volatile("fence.proxy.async.global;" ::: "memory"));
  for (int offset = 16; offset > 0; offset /= 2) mark = min(mark, __shfl_xor_sync(0xffffffffu, mark, offset));
  return mark;
}

#undef DSCONV_PROGRESS_ONLY

}  // namespace dsconv::tile_progress
