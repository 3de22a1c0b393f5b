// The Eigen CPU reference for the depthwise-separable convolution, forward and backward,
// accumulated in double. It is the yardstick every GPU implementation is verified against,
// and is itself checked against PyTorch golden cases and finite differences.
//
// The magnitude pass is this same computation on |x|, |w|, |b|, |dy| (see absolute()): it
// gives each output element's scale, sum |a_i * b_i| over everything behind it, for the
// error bound in harness/verify.
#pragma once

#include "harness/problem.h"
#include "harness/problem_data.h"

namespace dsconv::reference {

// Depthwise output t = depthwise(x, w_dw) + b_dw, shape (N, C_in, HO, WO).
Tensor<double> depthwise_forward(const Problem& problem, const Inputs& inputs);

// The outputs of `pass` (outputs_of(pass, bias)); the others stay empty.
Outputs<double> run(const Problem& problem, const Inputs& inputs, Pass pass);

// The reference values and the magnitude pass, for verification.
struct Result {
  Outputs<double> value;
  Outputs<double> magnitude;
};
Result run_with_magnitude(const Problem& problem, const Inputs& inputs, Pass pass);

}  // namespace dsconv::reference
