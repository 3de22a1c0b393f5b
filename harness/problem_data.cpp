#include "harness/problem_data.h"

#include <fmt/format.h>

#include <cmath>

#include "harness/errors.h"

namespace dsconv {

std::string_view to_string(Output o) {
  switch (o) {
    case Output::y: return "y";
    case Output::dx: return "dx";
    case Output::dw_dw: return "dw_dw";
    case Output::db_dw: return "db_dw";
    case Output::dw_pw: return "dw_pw";
    case Output::db_pw: return "db_pw";
  }
  return "?";
}

std::vector<Output> outputs_of(Pass pass, bool bias) {
  if (pass == Pass::forward) return {Output::y};
  if (bias) return {Output::dx, Output::dw_dw, Output::db_dw, Output::dw_pw, Output::db_pw};
  return {Output::dx, Output::dw_dw, Output::dw_pw};
}

Shape output_shape(const Problem& p, Output o) {
  switch (o) {
    case Output::y: return {p.n, p.c_out, p.out_h(), p.out_w()};
    case Output::dx: return {p.n, p.c_in, p.h, p.w};
    case Output::dw_dw: return {p.c_in, 1, p.conv.kh, p.conv.kw};
    case Output::db_dw: return {p.c_in};
    case Output::dw_pw: return {p.c_out, p.c_in, 1, 1};
    case Output::db_pw: return {p.c_out};
  }
  return {};
}

Inputs absolute(const Inputs& in) {
  Inputs out = in;
  for (Tensor<float>* t : {&out.x, &out.w_dw, &out.b_dw, &out.w_pw, &out.b_pw, &out.dy}) {
    float* d = t->ptr();
    const int64_t count = t->numel();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < count; ++i) d[i] = std::fabs(d[i]);
  }
  return out;
}

std::string_view to_string(Distribution d) {
  switch (d) {
    case Distribution::normal: return "normal";
    case Distribution::uniform: return "uniform";
    case Distribution::wide: return "wide";
  }
  return "?";
}

Distribution parse_distribution(std::string_view text) {
  if (text == "normal") return Distribution::normal;
  if (text == "uniform") return Distribution::uniform;
  if (text == "wide") return Distribution::wide;
  throw InputError(fmt::format("unknown distribution '{}': expected normal, uniform or wide", text));
}

namespace {

// A counter-based generator (SplitMix64's finaliser over seed, stream and index): element
// i of a tensor is a pure function of (seed, tensor, i), so filling in parallel gives the
// same values on any thread count.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
double unit(uint64_t bits) { return double(bits >> 11) * 0x1.0p-53; }  // [0, 1)

float draw(Distribution d, uint64_t key) {
  const uint64_t a = mix(key), b = mix(a ^ 0x9e3779b97f4a7c15ull);
  switch (d) {
    case Distribution::uniform: return float(unit(a));
    case Distribution::normal: {  // Box-Muller
      const double u1 = 1.0 - unit(a), u2 = unit(b);
      return float(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
    }
    case Distribution::wide: {
      const double mantissa = 1.0 + unit(a);
      const int exponent = int(b % 25) - 12;
      const double sign = (b >> 32) & 1 ? -1.0 : 1.0;
      return float(sign * std::ldexp(mantissa, exponent));
    }
  }
  return 0.0f;
}

Tensor<float> random_tensor(Shape shape, Distribution d, uint64_t seed, uint64_t stream) {
  Tensor<float> t(std::move(shape));
  float* data = t.ptr();
  const int64_t count = t.numel();
  const uint64_t base = mix(seed * 0x2545f4914f6cdd1dull + stream);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) data[i] = draw(d, base + uint64_t(i) * 0x9e3779b97f4a7c15ull);
  return t;
}

}  // namespace

Inputs make_inputs(const Problem& p, Distribution d, uint64_t seed) {
  Inputs in;
  in.x = random_tensor({p.n, p.c_in, p.h, p.w}, d, seed, 1);
  in.w_dw = random_tensor({p.c_in, 1, p.conv.kh, p.conv.kw}, d, seed, 2);
  in.w_pw = random_tensor({p.c_out, p.c_in, 1, 1}, d, seed, 3);
  in.dy = random_tensor(output_shape(p, Output::y), d, seed, 4);
  if (p.bias) {
    in.b_dw = random_tensor({p.c_in}, d, seed, 5);
    in.b_pw = random_tensor({p.c_out}, d, seed, 6);
  }
  return in;
}

}  // namespace dsconv
