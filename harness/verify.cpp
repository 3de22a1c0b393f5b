#include "harness/verify.h"

#include <fmt/format.h>

#include <cmath>
#include <cstring>
#include <limits>

namespace dsconv {

double operand_roundoff(Precision precision) {
  switch (precision) {
    case Precision::fp32: return 0.0;  // fp32 inputs enter fp32 arithmetic exactly
    case Precision::tf32: return 0x1.0p-10;
    case Precision::fp32_3xtf32: return 0x1.0p-21;
  }
  return 0.0;
}

double reduction_length(const Problem& p, Output o) {
  const double taps = double(p.taps()), pixels = double(p.n) * double(p.out_h()) * double(p.out_w());
  const double bias = p.bias ? 1.0 : 0.0;
  switch (o) {
    case Output::y: return taps + bias + double(p.c_in) + bias;    // t, then W_pw t
    case Output::dx: return double(p.c_out) + taps;                // dt = W_pw^T dy, then the taps
    case Output::dw_dw: return pixels + double(p.c_out);           // x * dt over all pixels
    case Output::db_dw: return pixels + double(p.c_out);           // sum of dt
    case Output::dw_pw: return pixels + taps + bias;               // dy * t over all pixels
    case Output::db_pw: return pixels;                             // sum of dy
  }
  return 1.0;
}

int product_stages(Output o) {
  switch (o) {
    case Output::y: return 2;      // x*w_dw, then t*w_pw
    case Output::dx: return 2;     // dy*w_pw, then dt*w_dw
    case Output::dw_dw: return 2;  // dy*w_pw, then x*dt
    case Output::db_dw: return 1;  // dy*w_pw
    case Output::dw_pw: return 2;  // x*w_dw, then dy*t
    case Output::db_pw: return 0;  // a plain sum
  }
  return 2;
}

Bound bound_for(Precision precision) {
  Bound b;
  b.u_in = operand_roundoff(precision);
  return b;
}

double allowed_ratio(const Problem& p, Output o, const Bound& b) {
  const double kappa = 2.0 * product_stages(o);
  return (kappa * b.u_in + b.expected_rounding) / b.u_acc + b.lambda * std::sqrt(reduction_length(p, o));
}

std::string index_string(const Shape& shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::string s = "(";
  for (size_t d = 0; d < index.size(); ++d) s += fmt::format("{}{}", d ? ", " : "", index[d]);
  return s + ")";
}

std::string Comparison::verdict() const {
  if (passed()) return "ok";
  if (unwritten) return fmt::format("{} unwritten, first at {}", unwritten, worst_at);
  if (nonfinite) return fmt::format("{} NaN/Inf, first at {}", nonfinite, worst_at);
  return fmt::format("{} outside the bound, worst at {}", over_bound, worst_at);
}

namespace {
bool is_poison(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return bits == 0xFFFFFFFFu;
}
bool is_poison(double) { return false; }  // the reference writes host memory it owns
}  // namespace

template <class T>
Comparison compare(const Problem& p, Output o, const Bound& bound, const Tensor<T>& out, const Tensor<double>& ref,
                   const Tensor<double>& mag) {
  Comparison c;
  c.output = o;
  c.elements = ref.numel();
  c.u_acc = bound.u_acc;
  c.allowed = allowed_ratio(p, o, bound);
  if (out.numel() != ref.numel() || mag.numel() != ref.numel()) {
    c.unwritten = c.elements;
    c.worst_at = fmt::format("(output has {} elements, expected {})", out.numel(), ref.numel());
    return c;
  }
  int64_t first_bad = -1, worst = -1;
  double err_sq = 0, ref_sq = 0;
  for (int64_t i = 0; i < c.elements; ++i) {
    const T v = out[i];
    const double r = ref[i];
    ref_sq += r * r;
    if (is_poison(v)) {
      if (c.unwritten++ == 0) first_bad = i;
      continue;
    }
    if (!std::isfinite(v)) {
      if (std::isfinite(r) && c.nonfinite++ == 0 && c.unwritten == 0) first_bad = i;
      continue;
    }
    const double err = std::fabs(double(v) - r);
    err_sq += err * err;
    c.max_abs = std::max(c.max_abs, err);
    const double scale = bound.u_acc * mag[i];
    const double ratio = err == 0 ? 0.0 : (scale > 0 ? err / scale : std::numeric_limits<double>::infinity());
    if (ratio > c.allowed) ++c.over_bound;
    if (worst < 0 || ratio > c.worst_ratio) {
      c.worst_ratio = ratio;
      worst = i;
    }
  }
  c.rel_l2 = ref_sq > 0 ? std::sqrt(err_sq / ref_sq) : std::sqrt(err_sq);
  const int64_t at = first_bad >= 0 ? first_bad : worst;
  c.worst_at = at >= 0 ? index_string(ref.shape, at) : "-";
  return c;
}

template Comparison compare(const Problem&, Output, const Bound&, const Tensor<float>&, const Tensor<double>&,
                            const Tensor<double>&);
template Comparison compare(const Problem&, Output, const Bound&, const Tensor<double>&, const Tensor<double>&,
                            const Tensor<double>&);

}  // namespace dsconv
