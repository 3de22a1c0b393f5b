// Which taps of one dimension reach an input coordinate in the transposed convolution (dx from
// dt): host-callable, so that the arithmetic is checked against every tap on the CPU
// (tests/cpu/test_transposed_taps.cpp).
#pragma once

#include <cuda_runtime.h>  // __host__, __device__

namespace dsconv::depthwise {

// Tap k reaches input `in` when (in + pad - k * dil) is a multiple of the stride; the quotient
// is the output coordinate it comes from. Those taps are one residue class: k = first,
// first + step, ... with step = stride / gcd(stride, dil), and the output falls by dil /
// gcd(stride, dil) from one to the next. So one division an input row (and one a tile for the
// columns) finds all of them, where testing each tap and output takes a division each: at
// stride 2 the dx pass that did so took 0.567 ms with 3 x 3 taps and 1.748 with 5 x 5, against
// 0.103 and 0.102 at stride 1 (H100, 8 x 64 planes of 256 x 256 inputs).
struct TapStep {
  int step, out_step;             // between two taps that reach an input, and between their outputs
  int stride, dil_quot, dil_rem;  // dil = dil_quot * stride + dil_rem
};
__host__ __device__ inline TapStep tap_step(int stride, int dil) {
  int gcd = stride, b = dil;  // Euclid's: std::gcd is host code
  while (b != 0) {
    const int r = gcd % b;
    gcd = b;
    b = r;
  }
  return {stride / gcd, dil / gcd, stride, dil / stride, dil % stride};
}

constexpr int kNoTap = 1 << 30;  // `first` when no tap reaches the input
struct TapHits {
  int first, out;  // the first tap that reaches the input, and the output it comes from
};

// numerator = in + pad >= 0. Walks k < step with the quotient and remainder of
// (numerator - k * dil) / stride kept by additions.
__host__ __device__ inline TapHits first_tap_hit(int numerator, const TapStep& t) {
  int quot = numerator / t.stride, rem = numerator - quot * t.stride;
  for (int k = 0; k < t.step; ++k) {
    if (rem == 0) return {k, quot};
    quot -= t.dil_quot;
    rem -= t.dil_rem;
    if (rem < 0) {
      rem += t.stride;
      --quot;
    }
  }
  return {kNoTap, 0};
}

#if defined(__CUDACC__)
// fn(k, out) for every tap k < count that reaches the input, in increasing k. kCount > 0: the
// count is known at compile time and k is a constant in fn (taps in registers).
template <int kCount, class Fn>
__device__ __forceinline__ void for_each_tap_hit(int count, TapHits hit, const TapStep& t, Fn&& fn) {
  if constexpr (kCount > 0) {
#pragma unroll
    for (int k = 0; k < kCount; ++k)
      if (k == hit.first) {
        fn(k, hit.out);
        hit.first += t.step;
        hit.out -= t.out_step;
      }
  } else {
    for (int k = hit.first; k < count; k += t.step, hit.out -= t.out_step) fn(k, hit.out);
  }
}
#endif

}  // namespace dsconv::depthwise
