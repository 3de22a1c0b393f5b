#include <gtest/gtest.h>

#include "harness/npy.h"
#include "test_helpers.h"

namespace dsconv {
namespace {

using testing::input_error;
using testing::TempDir;

// A version 1.0 .npy file with the given header dict and raw data.
std::string npy_bytes(const std::string& dict, const std::string& data, char major = 1) {
  std::string header = dict;
  const size_t prefix = major == 1 ? 10 : 12;
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out = std::string("\x93NUMPY", 6) + major + '\0';
  const size_t len = header.size();
  out += char(len & 0xff);
  out += char((len >> 8) & 0xff);
  if (major != 1) out += std::string(2, '\0');
  return out + header + data;
}

std::string floats(std::initializer_list<float> values) {
  std::string s;
  for (float v : values) s.append(reinterpret_cast<const char*>(&v), sizeof v);
  return s;
}

TEST(Npy, RoundTripFloat32) {
  TempDir dir;
  Tensor<float> t({2, 3});
  for (int i = 0; i < 6; ++i) t[i] = float(i) * 0.5f - 1.0f;
  write_npy(dir.file("a.npy"), t);
  const Tensor<float> back = read_npy_float32(dir.file("a.npy"));
  EXPECT_EQ(back.shape, t.shape);
  EXPECT_EQ(back.data, t.data);
}

TEST(Npy, RoundTripFloat64AndOneDimensional) {
  TempDir dir;
  Tensor<double> t({5});
  for (int i = 0; i < 5; ++i) t[i] = 1.0 / (i + 1);
  write_npy(dir.file("b.npy"), t);
  const NpyArray back = read_npy(dir.file("b.npy"));
  EXPECT_EQ(back.dtype, NpyDtype::float64);
  EXPECT_EQ(back.shape, Shape{5});
  EXPECT_EQ(back.values, t.data);
  // Our header is what NumPy writes: a one-tuple keeps its comma.
  EXPECT_NE(testing::read_bytes(dir.file("b.npy")).find("'shape': (5,)"), std::string::npos);
}

TEST(Npy, ReadsVersion2Headers) {
  TempDir dir;
  testing::write_bytes(dir.file("v2.npy"),
                       npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", floats({1, 2}), 2));
  EXPECT_EQ(read_npy_float32(dir.file("v2.npy")).data, (std::vector<float>{1, 2}));
}

TEST(Npy, RejectsBadMagic) {
  TempDir dir;
  testing::write_bytes(dir.file("x.npy"), "NOTNUMPY at all, just text");
  EXPECT_NE(input_error([&] { read_npy(dir.file("x.npy")); }).find("bad magic"), std::string::npos);
}

TEST(Npy, RejectsWrongDtype) {
  TempDir dir;
  testing::write_bytes(dir.file("i.npy"),
                       npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", floats({1, 2})));
  const std::string e = input_error([&] { read_npy(dir.file("i.npy")); });
  EXPECT_NE(e.find("dtype '<i4' is not float32"), std::string::npos) << e;
  EXPECT_NE(e.find("i.npy"), std::string::npos) << e;
}

TEST(Npy, RejectsBigEndian) {
  TempDir dir;
  testing::write_bytes(dir.file("be.npy"),
                       npy_bytes("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", floats({1, 2})));
  EXPECT_NE(input_error([&] { read_npy(dir.file("be.npy")); }).find("big-endian"), std::string::npos);
}

TEST(Npy, RejectsFortranOrder) {
  TempDir dir;
  testing::write_bytes(dir.file("f.npy"),
                       npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 2), }", floats({1, 2})));
  EXPECT_NE(input_error([&] { read_npy(dir.file("f.npy")); }).find("Fortran"), std::string::npos);
}

TEST(Npy, RejectsTruncatedData) {
  TempDir dir;
  testing::write_bytes(dir.file("t.npy"),
                       npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", floats({1, 2, 3})));
  const std::string e = input_error([&] { read_npy(dir.file("t.npy")); });
  EXPECT_NE(e.find("truncated data"), std::string::npos) << e;
  EXPECT_NE(e.find("(2, 3)"), std::string::npos) << e;
}

TEST(Npy, RejectsTruncatedHeader) {
  TempDir dir;
  testing::write_bytes(dir.file("h.npy"), npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "")
                                              .substr(0, 20));
  EXPECT_NE(input_error([&] { read_npy(dir.file("h.npy")); }).find("truncated header"), std::string::npos);
}

TEST(Npy, RejectsMalformedHeader) {
  TempDir dir;
  testing::write_bytes(dir.file("m.npy"), npy_bytes("{'descr': '<f4', 'shape': 7}", floats({1})));
  EXPECT_NE(input_error([&] { read_npy(dir.file("m.npy")); }).find("malformed header"), std::string::npos);
}

TEST(Npy, RejectsMissingFile) {
  EXPECT_NE(input_error([] { read_npy("/nonexistent/dsconv/x.npy"); }).find("no such file"), std::string::npos);
}

TEST(Npy, Float32ReaderRejectsFloat64) {
  TempDir dir;
  write_npy(dir.file("d.npy"), Tensor<double>({2}, 1.0));
  EXPECT_NE(input_error([&] { read_npy_float32(dir.file("d.npy")); }).find("inputs must be float32"),
            std::string::npos);
}

}  // namespace
}  // namespace dsconv
