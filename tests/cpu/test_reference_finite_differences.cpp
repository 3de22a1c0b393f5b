// The reference's gradients against central finite differences of its own forward pass, in
// double. With loss L = sum(y * dy), dL/dx is the backward pass's dx for that dy, and so on.
// The operation is linear in each input separately, so a central difference has no
// truncation error and agrees to double rounding.
#include <gtest/gtest.h>

#include <cmath>

#include "reference/reference.h"

namespace dsconv {
namespace {

double loss(const Problem& p, const Inputs& in) {
  const Tensor<double> y = reference::run(p, in, Pass::forward).y;
  double sum = 0;
  for (int64_t i = 0; i < y.numel(); ++i) sum += y[i] * double(in.dy[i]);
  return sum;
}

// Perturbs `tensor[i]` of the inputs by about +-h and returns the central difference of the
// loss, divided by the perturbation the float input really received.
double central_difference(const Problem& p, Inputs in, Tensor<float> Inputs::*tensor, int64_t i) {
  const float h = 0x1.0p-6f;
  const float original = (in.*tensor)[i];
  const float up = original + h, down = original - h;
  (in.*tensor)[i] = up;
  const double plus = loss(p, in);
  (in.*tensor)[i] = down;
  const double minus = loss(p, in);
  return (plus - minus) / (double(up) - double(down));
}

struct GradientCase {
  const char* name;
  Problem problem;
};

class FiniteDifferences : public ::testing::TestWithParam<GradientCase> {};

TEST_P(FiniteDifferences, GradientsMatch) {
  const Problem& p = GetParam().problem;
  const Inputs in = make_inputs(p, Distribution::normal, 1234);
  const Outputs<double> grad = reference::run(p, in, Pass::backward);
  const Outputs<double> mag = reference::run(p, absolute(in), Pass::backward);

  struct Probe {
    const char* name;
    Tensor<float> Inputs::*input;
    const Tensor<double>* gradient;
    const Tensor<double>* magnitude;
  };
  std::vector<Probe> probes = {{"dx", &Inputs::x, &grad.dx, &mag.dx},
                               {"dw_dw", &Inputs::w_dw, &grad.dw_dw, &mag.dw_dw},
                               {"dw_pw", &Inputs::w_pw, &grad.dw_pw, &mag.dw_pw}};
  if (p.bias) {
    probes.push_back({"db_dw", &Inputs::b_dw, &grad.db_dw, &mag.db_dw});
    probes.push_back({"db_pw", &Inputs::b_pw, &grad.db_pw, &mag.db_pw});
  }
  for (const Probe& probe : probes) {
    const int64_t count = (in.*(probe.input)).numel();
    // Every element of the small tensors; a spread of elements of x.
    const int64_t step = std::max<int64_t>(1, count / 40);
    for (int64_t i = 0; i < count; i += step) {
      const double fd = central_difference(p, in, probe.input, i);
      // The difference quotient's own error is double roundoff of the loss over 2h: about
      // 1e-13 here. A wrong gradient is off by the order of its magnitude.
      const double tolerance = 1e-9 * std::max(1.0, (*probe.magnitude)[i]);
      EXPECT_NEAR(fd, (*probe.gradient)[i], tolerance) << probe.name << "[" << i << "]";
    }
  }
}

std::string case_name(const ::testing::TestParamInfo<GradientCase>& param) { return param.param.name; }

INSTANTIATE_TEST_SUITE_P(
    Shapes, FiniteDifferences,
    ::testing::Values(GradientCase{"k3_bias", Problem{2, 3, 4, 6, 5, {3, 3, 1, 1, 1, 1, 1, 1}, true}},
                      GradientCase{"stride2_dil2_rect", Problem{1, 2, 3, 9, 8, {3, 2, 2, 1, 2, 1, 2, 2}, true}},
                      GradientCase{"k1_pad0", Problem{2, 4, 2, 4, 3, {1, 1, 1, 1, 0, 0, 1, 1}, false}},
                      GradientCase{"k5_stride3_pad_over_half",
                                   Problem{1, 2, 2, 7, 7, {5, 5, 3, 3, 3, 3, 1, 1}, false}}),
    case_name);

}  // namespace
}  // namespace dsconv
