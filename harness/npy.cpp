#include "harness/npy.h"

#include <fmt/format.h>

#include <cctype>
#include <cstring>
#include <limits>

#include "harness/atomic_file.h"
#include "harness/errors.h"

namespace dsconv {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, ".npy I/O copies little-endian data as is");

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLength = 6;

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw InputError(fmt::format("{}: not a usable .npy file: {}", path, what));
}

// The header is a Python dict literal, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// This reads exactly that grammar: string keys; string, bool or int-tuple values.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string& descr, bool& fortran_order, Shape& shape) {
    bool have_descr = false, have_order = false, have_shape = false;
    expect('{');
    while (true) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = quoted();
      expect(':');
      skip_space();
      if (key == "descr") {
        descr = quoted();
        have_descr = true;
      } else if (key == "fortran_order") {
        fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        shape = tuple();
        have_shape = true;
      } else {
        fail(path_, fmt::format("unexpected header key '{}'", key));
      }
      skip_space();
      if (peek() == ',') ++i_;
    }
    if (!have_descr || !have_order || !have_shape)
      fail(path_, "header lacks one of 'descr', 'fortran_order', 'shape'");
  }

 private:
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
  }
  void expect(char c) {
    skip_space();
    if (peek() != c) fail(path_, fmt::format("malformed header: expected '{}' at offset {}", c, i_));
    ++i_;
  }
  std::string quoted() {
    skip_space();
    const char q = peek();
    if (q != '\'' && q != '"') fail(path_, fmt::format("malformed header: expected a string at offset {}", i_));
    const size_t end = s_.find(q, i_ + 1);
    if (end == std::string_view::npos) fail(path_, "malformed header: unterminated string");
    std::string out(s_.substr(i_ + 1, end - i_ - 1));
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.substr(i_, 4) == "True") return i_ += 4, true;
    if (s_.substr(i_, 5) == "False") return i_ += 5, false;
    fail(path_, "malformed header: fortran_order is neither True nor False");
  }
  Shape tuple() {
    expect('(');
    Shape shape;
    while (true) {
      skip_space();
      if (peek() == ')') break;
      if (!std::isdigit(static_cast<unsigned char>(peek())))
        fail(path_, fmt::format("malformed header: bad shape entry at offset {}", i_));
      int64_t v = 0;
      while (std::isdigit(static_cast<unsigned char>(peek()))) {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) fail(path_, "shape entry too large");
        v = v * 10 + (s_[i_++] - '0');
      }
      shape.push_back(v);
      skip_space();
      if (peek() == ',') ++i_;
    }
    ++i_;
    return shape;
  }

  std::string_view s_;
  const std::string& path_;
  size_t i_ = 0;
};

uint32_t read_le(const unsigned char* p, int bytes) {
  uint32_t v = 0;
  for (int b = bytes - 1; b >= 0; --b) v = (v << 8) | p[b];
  return v;
}

template <class T>
std::string encode(const Tensor<T>& tensor, const char* descr) {
  std::string shape;  // Python tuple syntax: (2, 3), (5,), ()
  for (size_t i = 0; i < tensor.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(tensor.shape[i]);
  if (tensor.shape.size() == 1) shape += ",";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, shape);
  // Version 1.0: magic, version, 2-byte header length; data aligned to 64 bytes.
  const size_t unpadded = kMagicLength + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::string out(kMagic, kMagicLength);
  out.push_back('\x01');
  out.push_back('\x00');
  out.push_back(char(header.size() & 0xff));
  out.push_back(char((header.size() >> 8) & 0xff));
  out += header;
  out.append(reinterpret_cast<const char*>(tensor.ptr()), tensor.data.size() * sizeof(T));
  return out;
}

}  // namespace

NpyArray read_npy(const std::string& path) {
  const std::string bytes = read_file(path);
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < kMagicLength + 2 || std::memcmp(bytes.data(), kMagic, kMagicLength) != 0)
    fail(path, "bad magic (expected \\x93NUMPY)");
  const int major = u[6];
  if (major < 1 || major > 3) fail(path, fmt::format("unsupported format version {}.{}", major, int(u[7])));
  const int length_bytes = major == 1 ? 2 : 4;
  const size_t prefix = kMagicLength + 2 + size_t(length_bytes);
  if (bytes.size() < prefix) fail(path, "truncated header");
  const size_t header_length = read_le(u + 8, length_bytes);
  if (bytes.size() < prefix + header_length) fail(path, "truncated header");

  std::string descr;
  bool fortran_order = false;
  NpyArray array;
  HeaderParser(std::string_view(bytes).substr(prefix, header_length), path).parse(descr, fortran_order, array.shape);

  size_t item = 0;
  if (descr == "<f4") {
    array.dtype = NpyDtype::float32;
    item = 4;
  } else if (descr == "<f8") {
    array.dtype = NpyDtype::float64;
    item = 8;
  } else if (descr == ">f4" || descr == ">f8") {
    fail(path, fmt::format("dtype '{}' is big-endian; only little-endian float32/float64 are read", descr));
  } else {
    fail(path, fmt::format("dtype '{}' is not float32 ('<f4') or float64 ('<f8')", descr));
  }
  if (fortran_order) fail(path, "Fortran (column-major) order; save it with np.ascontiguousarray");

  double count = 1;
  for (int64_t d : array.shape) count *= double(d);
  if (count * double(item) > double(bytes.size()))
    fail(path, fmt::format("truncated data: shape {} needs {:.0f} bytes of data, the file has {}",
                           shape_string(array.shape), count * double(item), bytes.size() - prefix - header_length));
  const size_t elems = size_t(element_count(array.shape));
  const size_t data_bytes = bytes.size() - prefix - header_length;
  if (data_bytes != elems * item)
    fail(path, fmt::format("{} data: shape {} needs {} bytes of data, the file has {}",
                           data_bytes < elems * item ? "truncated" : "trailing", shape_string(array.shape),
                           elems * item, data_bytes));

  const char* data = bytes.data() + prefix + header_length;
  array.values.resize(elems);
  for (size_t i = 0; i < elems; ++i) {
    if (array.dtype == NpyDtype::float32) {
      float f;
      std::memcpy(&f, data + i * 4, 4);
      array.values[i] = f;
    } else {
      std::memcpy(&array.values[i], data + i * 8, 8);
    }
  }
  return array;
}

Tensor<float> read_npy_float32(const std::string& path) {
  NpyArray array = read_npy(path);
  if (array.dtype != NpyDtype::float32) fail(path, "dtype is float64; inputs must be float32 ('<f4')");
  Tensor<float> out;
  out.shape = array.shape;
  out.data.assign(array.values.begin(), array.values.end());
  return out;
}

Tensor<double> read_npy_as_double(const std::string& path) {
  NpyArray array = read_npy(path);
  Tensor<double> out;
  out.shape = std::move(array.shape);
  out.data = std::move(array.values);
  return out;
}

void write_npy(const std::string& path, const Tensor<float>& tensor) {
  write_file_atomically(path, encode(tensor, "<f4"));
}
void write_npy(const std::string& path, const Tensor<double>& tensor) {
  write_file_atomically(path, encode(tensor, "<f8"));
}

}  // namespace dsconv
