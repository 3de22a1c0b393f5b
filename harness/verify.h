// The error bound, and the comparison of one output against the reference.
//
// Element e of an output passes when
//     |out - ref| <= (kappa * u_in + lambda * sqrt(L) * u_acc) * mag
// where mag is the magnitude pass's value for e (the same computation on absolute values),
// L the length of the reduction behind e, u_acc = 2^-24 the fp32 accumulation roundoff,
// u_in the rounding of the operands (0 for fp32; 2^-10 for tf32, whose tensor cores
// truncate the mantissa to 10 bits), kappa = 2 per chained product stage, and
// lambda = 8. The sqrt(L) form is Higham & Mary's probabilistic bound: correct fp32 code
// meets it, while a kernel that drops one term of a short sum does not.
#pragma once

#include <string>

#include "harness/problem_data.h"
#include "kernels/kernel.h"

namespace dsconv {

inline constexpr double kFloatRoundoff = 0x1.0p-24;   // u_acc of fp32 accumulation
inline constexpr double kDoubleRoundoff = 0x1.0p-53;  // u_acc of the reference itself
inline constexpr double kLambda = 8.0;

// The constants of the bound for one comparison.
struct Bound {
  double u_in = 0.0;                // operand rounding
  double u_acc = kFloatRoundoff;    // accumulation roundoff: the unit ratios are reported in
  double lambda = kLambda;
  double expected_rounding = 0.0;   // relative rounding of the expected values themselves
                                    // (2^-24 when a golden case stores them as float32)
};

// The bound for an implementation of this precision class.
Bound bound_for(Precision precision);
// The operand rounding of a precision class.
double operand_roundoff(Precision precision);
// Length of the reduction behind each element of `output` (taps + C_in for y, ...).
double reduction_length(const Problem& problem, Output output);
// Chained product stages behind `output` that round their operands (kappa = 2 per stage).
int product_stages(Output output);
// The allowed error of `output`, in units of u_acc * mag.
double allowed_ratio(const Problem& problem, Output output, const Bound& bound);

struct Comparison {
  Output output = Output::y;
  int64_t elements = 0;
  int64_t unwritten = 0;   // still holding the poison pattern
  int64_t nonfinite = 0;   // NaN or Inf where the reference is finite
  int64_t over_bound = 0;  // finite but outside the bound
  double worst_ratio = 0;  // max |err| / (u_acc * mag); +inf where mag = 0 and err != 0
  double u_acc = kFloatRoundoff;  // the unit of worst_ratio and allowed
  double allowed = 0;      // allowed_ratio(): the bound in the same units
  std::string worst_at;    // "(n, c, h, w)" of the worst element, or of the first bad one
  double rel_l2 = 0;       // ||out - ref|| / ||ref||
  double max_abs = 0;      // max |out - ref| over finite elements

  bool passed() const { return unwritten == 0 && nonfinite == 0 && over_bound == 0; }
  // "ok", or what failed: "12 unwritten, first at (0, 3, 1, 7)".
  std::string verdict() const;
};

// T is float for the GPU implementations and double for the reference's own checks.
template <class T>
Comparison compare(const Problem& problem, Output output, const Bound& bound, const Tensor<T>& out,
                   const Tensor<double>& ref, const Tensor<double>& mag);

// "(n, c, h, w)" for a flat index into a tensor of this shape.
std::string index_string(const Shape& shape, int64_t flat);

}  // namespace dsconv
