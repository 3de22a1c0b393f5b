// The host-side data of one problem: its inputs (float32, as the kernels see them) and
// its results (the six outputs: y and the five gradients), plus the random inputs that
// every check draws afresh.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
#include <vector>

#include "harness/problem.h"
#include "harness/tensor.h"

namespace dsconv {

enum class Output { y, dx, dw_dw, db_dw, dw_pw, db_pw };
inline constexpr std::array<Output, 6> kAllOutputs = {Output::y,     Output::dx,    Output::dw_dw,
                                                      Output::db_dw, Output::dw_pw, Output::db_pw};
std::string_view to_string(Output output);
// The outputs a pass produces: y for forward; dx, dW_dw, dW_pw (and the bias gradients
// when the problem has biases) for backward.
std::vector<Output> outputs_of(Pass pass, bool bias);
Shape output_shape(const Problem& problem, Output output);

struct Inputs {
  Tensor<float> x;     // (N, C_in, H, W)
  Tensor<float> w_dw;  // (C_in, 1, KH, KW)
  Tensor<float> b_dw;  // (C_in), empty without bias
  Tensor<float> w_pw;  // (C_out, C_in, 1, 1)
  Tensor<float> b_pw;  // (C_out), empty without bias
  Tensor<float> dy;    // (N, C_out, HO, WO): the backward pass's input
};

// Every element replaced by its absolute value: the magnitude pass's inputs.
Inputs absolute(const Inputs& inputs);

template <class T>
struct Outputs {
  Tensor<T> y, dx, dw_dw, db_dw, dw_pw, db_pw;

  Tensor<T>& operator[](Output o) {
    switch (o) {
      case Output::y: return y;
      case Output::dx: return dx;
      case Output::dw_dw: return dw_dw;
      case Output::db_dw: return db_dw;
      case Output::dw_pw: return dw_pw;
      case Output::db_pw: return db_pw;
    }
    return y;
  }
  const Tensor<T>& operator[](Output o) const { return const_cast<Outputs&>(*this)[o]; }
};

// How random inputs are drawn. `normal`: N(0,1). `uniform`: [0,1), as KernelBench draws
// (all positive, so sums never cancel). `wide`: random sign, mantissa in [1,2), exponent
// uniform in [-12,12]: magnitudes over seven decades in one tensor.
enum class Distribution { normal, uniform, wide };
std::string_view to_string(Distribution d);
Distribution parse_distribution(std::string_view text);  // throws InputError

// Fresh inputs for `problem`, a pure function of (problem shape, distribution, seed): the
// same on any machine and thread count, so a printed seed reproduces a failure.
Inputs make_inputs(const Problem& problem, Distribution distribution, uint64_t seed);

}  // namespace dsconv
