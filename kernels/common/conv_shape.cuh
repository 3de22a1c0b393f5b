// The problem's shape in a form that crosses to the device by value, with the index
// arithmetic every kernel shares.
#pragma once

#include <cstdint>

#include "harness/problem.h"

namespace dsconv {

struct ConvShape {
  int64_t n, c_in, c_out, h, w, ho, wo;
  int kh, kw, sh, sw, ph, pw, dh, dw;

  __host__ __device__ int64_t pixels() const { return ho * wo; }    // output pixels per image
  __host__ __device__ int64_t in_pixels() const { return h * w; }   // input pixels per image
  __host__ __device__ int taps() const { return kh * kw; }
  __host__ __device__ int64_t y_elems() const { return n * c_out * ho * wo; }  // elements of y
};

inline ConvShape conv_shape(const Problem& p) {
  const Conv2dParams& c = p.conv;
  return {p.n,  p.c_in, p.c_out, p.h, p.w, p.out_h(), p.out_w(), c.kh, c.kw, c.stride_h, c.stride_w,
          c.pad_h, c.pad_w, c.dil_h, c.dil_w};
}

inline unsigned ceil_div(int64_t a, int64_t b) { return unsigned((a + b - 1) / b); }
__host__ __device__ inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

}  // namespace dsconv
