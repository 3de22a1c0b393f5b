// Block and grid indices read anew where they are used.
//
// blockIdx and gridDim are special registers; the compiler reads each once and keeps it - and
// whatever is worked out from it - in a register for the rest of the kernel. In a kernel whose
// main loop needs every register, a value used only once a tile (where to store, which slice
// of the channels) then holds registers through that loop and spills. Read through volatile
// asm, the index cannot be hoisted: it costs one special-register read at each use instead.
#pragma once

namespace dsconv::fresh {

__device__ __forceinline__ int block_y() {
  int v;
  asm volatile("mov.u32 %0, %%ctaid.y;" : "=r"(v));
  return v;
}

__device__ __forceinline__ int grid_y() {
  int v;
  asm volatile("mov.u32 %0, %%nctaid.y;" : "=r"(v));
  return v;
}

}  // namespace dsconv::fresh
