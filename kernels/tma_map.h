// Host side of the TMA tile loads (common/tma.cuh): tensor maps, and whether they can be used.
#pragma once

#include <cuda.h>

#include <cstdint>
#include <initializer_list>

namespace dsconv::tma {

// A map of a dense fp32 tensor with dims[0] contiguous (innermost first; rank 1 to 5), read
// in boxes of box[0] x box[1] x ... elements. Needs dims[0] % 4 == 0 (TMA strides are whole
// 16 bytes), a 16-byte aligned base and box sides of 1 to 256; throws a DeviceError naming
// the problem otherwise, or when the driver refuses the map. `swizzle`: how a box lands in
// shared memory (CU_TENSOR_MAP_SWIZZLE_128B: each 128-byte row's 16-byte chunks XORed with the
// row's place in its 1024 bytes; box[0] is then at most 32 floats).
CUtensorMap make_box_map(const float* base, std::initializer_list<uint64_t> dims, std::initializer_list<uint32_t> box,
                         CUtensorMapSwizzle swizzle = CU_TENSOR_MAP_SWIZZLE_NONE);

// Whether TMA tile loads can run here: the current device has compute capability 9.0 or
// newer and the driver exports cuTensorMapEncodeTiled.
bool available();

// Whether the current device has compute capability 9.0 or newer and runs this binary's sm_90
// code of `kernel`. A build for older GPUs only would JIT its compute_80 PTX, where code that
// needs sm_90 (TMA, clusters) is left out.
bool sm90_code_runs(const void* kernel);

// Whether `kernel`, a TMA kernel, can run here: available() and sm90_code_runs(kernel) (in
// older GPUs' code such kernels are empty: they trap).
bool kernel_usable(const void* kernel);

}  // namespace dsconv::tma
