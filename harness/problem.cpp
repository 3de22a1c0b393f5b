#include "harness/problem.h"

#include <fmt/format.h>

#include <charconv>
#include <limits>
#include <map>
#include <vector>

#include "harness/errors.h"

namespace dsconv {

std::string_view to_string(Pass pass) { return pass == Pass::forward ? "forward" : "backward"; }

Pass parse_pass(std::string_view text) {
  if (text == "forward") return Pass::forward;
  if (text == "backward") return Pass::backward;
  throw InputError(fmt::format("unknown pass '{}': expected forward or backward", text));
}

bool Conv2dParams::operator==(const Conv2dParams& o) const {
  return kh == o.kh && kw == o.kw && stride_h == o.stride_h && stride_w == o.stride_w && pad_h == o.pad_h &&
         pad_w == o.pad_w && dil_h == o.dil_h && dil_w == o.dil_w;
}

bool Problem::operator==(const Problem& o) const {
  return n == o.n && c_in == o.c_in && c_out == o.c_out && h == o.h && w == o.w && conv == o.conv && bias == o.bias;
}

Problem Problem::kernelbench_l1_86() {
  Problem p;
  p.n = 16;
  p.c_in = 64;
  p.c_out = 128;
  p.h = 512;
  p.w = 512;
  p.conv = Conv2dParams{};  // 3x3, stride 1, padding 1, dilation 1
  p.bias = false;
  return p;
}

namespace {
int64_t conv_out(int64_t size, int k, int stride, int pad, int dil) {
  const int64_t extent = int64_t{dil} * (k - 1) + 1;
  const int64_t padded = size + 2 * int64_t{pad};
  if (padded < extent || stride <= 0) return 0;
  return (padded - extent) / stride + 1;
}
}  // namespace

int64_t Problem::out_h() const { return conv_out(h, conv.kh, conv.stride_h, conv.pad_h, conv.dil_h); }
int64_t Problem::out_w() const { return conv_out(w, conv.kw, conv.stride_w, conv.pad_w, conv.dil_w); }

double Problem::flops(Pass pass) const {
  const double pixels = double(n) * double(out_h()) * double(out_w());
  const double depthwise = 2.0 * pixels * double(c_in) * double(taps());
  const double pointwise = 2.0 * pixels * double(c_in) * double(c_out);
  const double bias_adds = bias ? pixels * double(c_in + c_out) : 0.0;
  if (pass == Pass::forward) return depthwise + pointwise + bias_adds;
  // dt = W_pw^T dy and dW_pw = dy t^T (two GEMMs); dx and dW_dw (two depthwise-sized passes);
  // bias gradients are sums over pixels.
  return 2.0 * pointwise + 2.0 * depthwise + bias_adds;
}

double Problem::min_bytes(Pass pass) const {
  const double f = sizeof(float);
  const double weights = double(w_dw_elems() + w_pw_elems() + (bias ? c_in + c_out : 0));
  if (pass == Pass::forward) return f * (double(x_elems()) + double(y_elems()) + weights);
  // Reads x, dy and the weights; writes dx and the weight (and bias) gradients.
  return f * (2.0 * double(x_elems()) + double(y_elems()) + 2.0 * weights);
}

double Problem::tensor_bytes() const {
  const double weights = double(w_dw_elems() + w_pw_elems() + (bias ? c_in + c_out : 0));
  return sizeof(float) * (2.0 * double(x_elems()) + 2.0 * double(y_elems()) + 2.0 * weights);
}

std::string Problem::invalid_reason() const {
  struct Range {
    const char* name;
    int64_t value, lo, hi;
  };
  // Generous limits: far past any real layer, small enough that no index arithmetic on
  // them overflows 64 bits.
  const Range ranges[] = {
      {"n", n, 1, 1 << 20},
      {"c_in", c_in, 1, 1 << 20},
      {"c_out", c_out, 1, 1 << 20},
      {"h", h, 1, 1 << 20},
      {"w", w, 1, 1 << 20},
      {"kh", conv.kh, 1, 255},
      {"kw", conv.kw, 1, 255},
      {"stride_h", conv.stride_h, 1, 255},
      {"stride_w", conv.stride_w, 1, 255},
      {"pad_h", conv.pad_h, 0, 4095},
      {"pad_w", conv.pad_w, 0, 4095},
      {"dil_h", conv.dil_h, 1, 255},
      {"dil_w", conv.dil_w, 1, 255},
  };
  for (const Range& r : ranges)
    if (r.value < r.lo || r.value > r.hi)
      return fmt::format("{} = {} is out of range: allowed {} to {}", r.name, r.value, r.lo, r.hi);

  const int64_t extent_h = int64_t{conv.dil_h} * (conv.kh - 1) + 1;
  const int64_t extent_w = int64_t{conv.dil_w} * (conv.kw - 1) + 1;
  if (h + 2 * conv.pad_h < extent_h)
    return fmt::format(
        "kh = {} with dil_h = {} spans {} rows, more than the padded height h + 2*pad_h = {}: "
        "the output would be empty",
        conv.kh, conv.dil_h, extent_h, h + 2 * conv.pad_h);
  if (w + 2 * conv.pad_w < extent_w)
    return fmt::format(
        "kw = {} with dil_w = {} spans {} columns, more than the padded width w + 2*pad_w = {}: "
        "the output would be empty",
        conv.kw, conv.dil_w, extent_w, w + 2 * conv.pad_w);

  // Every tensor must be addressable with 64-bit indices with room to spare, and hold
  // fewer than 2^40 elements (4 TiB of fp32: no device has that).
  const double limit = double(int64_t{1} << 40);
  const struct {
    const char* name;
    double elems;
  } tensors[] = {{"x", double(n) * double(c_in) * double(h) * double(w)},
                 {"y", double(n) * double(c_out) * double(out_h()) * double(out_w())},
                 {"w_pw", double(c_out) * double(c_in)}};
  for (const auto& t : tensors)
    if (t.elems >= limit)
      return fmt::format("tensor {} would hold {:.3g} elements: allowed fewer than 2^40", t.name, t.elems);
  return {};
}

std::string Problem::key() const {
  return fmt::format("n{}_ci{}_co{}_h{}_w{}_k{}x{}_s{}x{}_p{}x{}_d{}x{}{}", n, c_in, c_out, h, w, conv.kh, conv.kw,
                     conv.stride_h, conv.stride_w, conv.pad_h, conv.pad_w, conv.dil_h, conv.dil_w,
                     bias ? "_bias" : "");
}

std::string Problem::describe() const {
  auto pair = [](int a, int b) { return a == b ? fmt::format("{}", a) : fmt::format("{}x{}", a, b); };
  return fmt::format("N={} C_in={} C_out={} {}x{} k={}x{} stride={} pad={} dil={}{}", n, c_in, c_out, h, w, conv.kh,
                     conv.kw, pair(conv.stride_h, conv.stride_w), pair(conv.pad_h, conv.pad_w),
                     pair(conv.dil_h, conv.dil_w), bias ? " bias" : "");
}

namespace {
bool fits_int(int64_t v) { return v >= std::numeric_limits<int>::min() && v <= std::numeric_limits<int>::max(); }

// The fields a key of set_problem_field() sets: a shorthand sets two.
std::vector<std::string_view> fields_set_by(std::string_view key) {
  if (key == "size") return {"h", "w"};
  if (key == "k") return {"kh", "kw"};
  if (key == "stride") return {"stride_h", "stride_w"};
  if (key == "padding") return {"pad_h", "pad_w"};
  if (key == "dilation") return {"dil_h", "dil_w"};
  return {key};
}
int narrow(int64_t v) { return fits_int(v) ? static_cast<int>(v) : (v < 0 ? -1 : std::numeric_limits<int>::max()); }
}  // namespace

bool set_problem_field(Problem& p, std::string_view key, int64_t v) {
  Conv2dParams& c = p.conv;
  const int i = narrow(v);
  if (key == "n") p.n = v;
  else if (key == "c_in") p.c_in = v;
  else if (key == "c_out") p.c_out = v;
  else if (key == "h") p.h = v;
  else if (key == "w") p.w = v;
  else if (key == "size") p.h = p.w = v;
  else if (key == "kh") c.kh = i;
  else if (key == "kw") c.kw = i;
  else if (key == "k") c.kh = c.kw = i;
  else if (key == "stride_h") c.stride_h = i;
  else if (key == "stride_w") c.stride_w = i;
  else if (key == "stride") c.stride_h = c.stride_w = i;
  else if (key == "pad_h") c.pad_h = i;
  else if (key == "pad_w") c.pad_w = i;
  else if (key == "padding") c.pad_h = c.pad_w = i;
  else if (key == "dil_h") c.dil_h = i;
  else if (key == "dil_w") c.dil_w = i;
  else if (key == "dilation") c.dil_h = c.dil_w = i;
  else if (key == "bias") p.bias = v != 0;
  else return false;
  return true;
}

std::string problem_field_value_error(std::string_view key, int64_t v) {
  if (key == "bias") return v == 0 || v == 1 ? "" : fmt::format("bias = {}: expected 0 or 1", v);
  const bool kernel_field =
      key.rfind("k", 0) == 0 || key.rfind("stride", 0) == 0 || key.rfind("pad", 0) == 0 || key.rfind("dil", 0) == 0;
  if (kernel_field && !fits_int(v)) return fmt::format("{} = {} is out of range: allowed at most 2^31 - 1", key, v);
  return "";
}

std::string_view problem_field_names() {
  return "n, c_in, c_out, h, w, size, kh, kw, k, stride_h, stride_w, stride, pad_h, pad_w, padding, dil_h, "
         "dil_w, dilation, bias";
}

int64_t get_problem_field(const Problem& p, std::string_view key) {
  const Conv2dParams& c = p.conv;
  if (key == "n") return p.n;
  if (key == "c_in") return p.c_in;
  if (key == "c_out") return p.c_out;
  if (key == "h" || key == "size") return p.h;
  if (key == "w") return p.w;
  if (key == "kh" || key == "k") return c.kh;
  if (key == "kw") return c.kw;
  if (key == "stride_h" || key == "stride") return c.stride_h;
  if (key == "stride_w") return c.stride_w;
  if (key == "pad_h" || key == "padding") return c.pad_h;
  if (key == "pad_w") return c.pad_w;
  if (key == "dil_h" || key == "dilation") return c.dil_h;
  if (key == "dil_w") return c.dil_w;
  if (key == "bias") return p.bias ? 1 : 0;
  throw InputError(fmt::format("unknown problem field '{}': expected one of {}", key, problem_field_names()));
}

Problem parse_problem(std::string_view text) {
  Problem p = Problem::kernelbench_l1_86();
  if (text == "kernelbench" || text == "seed" || text.empty()) return p;
  std::map<std::string_view, std::string_view> given;  // field -> the key that set it
  size_t pos = 0;
  while (pos <= text.size()) {
    const size_t end = std::min(text.find(',', pos), text.size());
    const std::string_view item = text.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos)
      throw InputError(fmt::format("--problem: '{}' is not key=value (keys: {})", item, problem_field_names()));
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    int64_t v = 0;
    const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    if (ec != std::errc() || ptr != value.data() + value.size())
      throw InputError(fmt::format("--problem: {} = '{}' is not an integer", key, value));
    if (!set_problem_field(p, key, v))
      throw InputError(fmt::format("--problem: unknown key '{}' (keys: {})", key, problem_field_names()));
    if (const std::string error = problem_field_value_error(key, v); !error.empty())
      throw InputError(fmt::format("--problem: {}", error));
    // A field given twice, directly or through a shorthand (k sets kh and kw), is ambiguous.
    for (const std::string_view field : fields_set_by(key))
      if (const auto [at, fresh] = given.emplace(field, key); !fresh)
        throw InputError(fmt::format("--problem: {} is given twice (by {} and {})", field, at->second, key));
  }
  if (const std::string reason = p.invalid_reason(); !reason.empty())
    throw InputError(fmt::format("--problem '{}': {}", text, reason));
  return p;
}

}  // namespace dsconv
