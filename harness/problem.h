// One depthwise-separable 2-D convolution: a depthwise KHxKW convolution with groups = C_in
// (channel multiplier 1, optional bias), then a 1x1 pointwise convolution C_in -> C_out
// (optional bias). NCHW, fp32. Everything a kernel, the reference, the verifier and the
// reports need to know about a shape lives here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace dsconv {

enum class Pass { forward, backward };
std::string_view to_string(Pass pass);
// "forward" or "backward"; throws InputError otherwise.
Pass parse_pass(std::string_view text);

struct Conv2dParams {
  int kh = 3, kw = 3;
  int stride_h = 1, stride_w = 1;
  int pad_h = 1, pad_w = 1;
  int dil_h = 1, dil_w = 1;

  bool operator==(const Conv2dParams& o) const;
  bool operator!=(const Conv2dParams& o) const { return !(*this == o); }
};

struct Problem {
  int64_t n = 1, c_in = 1, c_out = 1, h = 1, w = 1;
  Conv2dParams conv;
  bool bias = false;

  // KernelBench level 1 problem 86: the headline shape.
  static Problem kernelbench_l1_86();

  int64_t out_h() const;
  int64_t out_w() const;
  int64_t taps() const { return int64_t{conv.kh} * conv.kw; }

  // Element counts of every tensor.
  int64_t x_elems() const { return n * c_in * h * w; }
  int64_t t_elems() const { return n * c_in * out_h() * out_w(); }  // depthwise output
  int64_t y_elems() const { return n * c_out * out_h() * out_w(); }
  int64_t w_dw_elems() const { return c_in * taps(); }
  int64_t w_pw_elems() const { return c_out * c_in; }

  // Floating-point operations of the algorithm (a multiply-add counts 2), without any
  // recomputation an implementation may choose. Backward counts dx, dW_dw, dW_pw, dt and
  // the bias sums.
  double flops(Pass pass) const;
  // Fewest bytes a perfect implementation moves through device memory: each input read
  // once, each output written once, the intermediate t never stored. The memory floor.
  double min_bytes(Pass pass) const;
  // Device memory the harness allocates for all tensors of this problem (both passes).
  double tensor_bytes() const;

  // "" when valid; otherwise which parameter is wrong, its value and the allowed range.
  std::string invalid_reason() const;

  // A short, stable, unique name: "n16_ci64_co128_h512_w512_k3x3_s1x1_p1x1_d1x1[_bias]".
  std::string key() const;
  // A human-readable one-liner for tables and messages.
  std::string describe() const;

  bool operator==(const Problem& o) const;
  bool operator!=(const Problem& o) const { return !(*this == o); }
};

// Set one named field ("n", "c_in", "c_out", "h", "w", "size", "kh", "kw", "k", "stride_h",
// "stride_w", "stride", "pad_h", "pad_w", "padding", "dil_h", "dil_w", "dilation", "bias").
// "size", "k", "stride", "padding" and "dilation" set both axes. Returns false when the key
// is unknown. Range checks are left to invalid_reason(), which sees the whole problem.
bool set_problem_field(Problem& problem, std::string_view key, int64_t value);
// "" when `value` can be stored in field `key` as given; else why not: bias takes 0 or 1, and
// the kernel's fields (k..., stride..., pad..., dil...) are 32-bit. Range checks beyond that
// are Problem::invalid_reason()'s.
std::string problem_field_value_error(std::string_view key, int64_t value);
// The keys set_problem_field accepts, comma separated, for error messages.
std::string_view problem_field_names();
// The value of a named field, as set_problem_field names them ("size" reads h).
int64_t get_problem_field(const Problem& problem, std::string_view key);

// Parses "n=16,c_in=64,c_out=128,h=512,w=512,k=3,stride=1,padding=1,bias=1", starting from
// the KernelBench shape for keys left out, or a preset name ("kernelbench", "seed").
// Throws InputError naming the field and value on anything malformed or invalid.
Problem parse_problem(std::string_view text);

}  // namespace dsconv
