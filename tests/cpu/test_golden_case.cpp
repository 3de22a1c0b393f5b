// Loading golden case folders, and the errors a broken one gets.
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/golden_case.h"
#include "harness/npy.h"
#include "test_helpers.h"

namespace dsconv {
namespace {

namespace fs = std::filesystem;
using testing::input_error;
using testing::TempDir;

// A copy of a committed case that a test may break.
fs::path copy_case(const TempDir& dir, const char* name) {
  const fs::path to = dir.path() / name;
  fs::copy(fs::path(DSCONV_TEST_DATA) / "cases" / name, to, fs::copy_options::recursive);
  return to;
}

TEST(GoldenCase, ShapesComeFromTheFiles) {
  const GoldenCase gc = load_golden_case(std::string(DSCONV_TEST_DATA) + "/cases/k7_rect_stride_dil");
  EXPECT_EQ(gc.problem.n, 2);
  EXPECT_EQ(gc.problem.c_in, 6);
  EXPECT_EQ(gc.problem.c_out, 4);
  EXPECT_EQ(gc.problem.conv.kh, 7);
  EXPECT_EQ(gc.problem.conv.kw, 3);
  EXPECT_EQ(gc.problem.conv.stride_h, 2);
  EXPECT_EQ(gc.problem.conv.dil_w, 2);
  EXPECT_TRUE(gc.problem.bias);
  EXPECT_FALSE(gc.expected_is_float32);
}

TEST(GoldenCase, MissingFolder) {
  EXPECT_NE(input_error([] { load_golden_case("/nonexistent/case"); }).find("no such case folder"), std::string::npos);
}

TEST(GoldenCase, MissingFileIsNamed) {
  TempDir dir;
  const fs::path c = copy_case(dir, "basic_3x3");
  fs::remove(c / "dx.npy");
  const std::string e = input_error([&] { load_golden_case(c.string()); });
  EXPECT_NE(e.find("dx.npy"), std::string::npos) << e;
}

TEST(GoldenCase, ShapeMismatchNamesTheFile) {
  TempDir dir;
  const fs::path c = copy_case(dir, "basic_3x3");
  write_npy((c / "w_pw.npy").string(), Tensor<float>({5, 4, 1, 1}));  // C_in is 3
  const std::string e = input_error([&] { load_golden_case(c.string()); });
  EXPECT_NE(e.find("w_pw.npy"), std::string::npos) << e;
  EXPECT_NE(e.find("(5, 4, 1, 1)"), std::string::npos) << e;
}

TEST(GoldenCase, DyMustMatchTheOutputShape) {
  TempDir dir;
  const fs::path c = copy_case(dir, "basic_3x3");
  testing::write_bytes((c / "case.json").string(), R"({"stride": [2, 2], "padding": [1, 1], "dilation": [1, 1]})");
  const std::string e = input_error([&] { load_golden_case(c.string()); });
  EXPECT_NE(e.find("dy.npy"), std::string::npos) << e;
}

TEST(GoldenCase, BadCaseJson) {
  TempDir dir;
  const fs::path c = copy_case(dir, "basic_3x3");
  testing::write_bytes((c / "case.json").string(), R"({"stride": [1, "x"]})");
  EXPECT_NE(input_error([&] { load_golden_case(c.string()); }).find("'stride' must hold integers"),
            std::string::npos);
  testing::write_bytes((c / "case.json").string(), R"({"strides": [1, 1]})");
  EXPECT_NE(input_error([&] { load_golden_case(c.string()); }).find("unknown key 'strides'"), std::string::npos);
  testing::write_bytes((c / "case.json").string(), "{not json");
  EXPECT_NE(input_error([&] { load_golden_case(c.string()); }).find("not valid JSON"), std::string::npos);
}

TEST(GoldenCase, BiasesComeInPairs) {
  TempDir dir;
  const fs::path c = copy_case(dir, "bias_rect_kernel");
  fs::remove(c / "b_pw.npy");
  EXPECT_NE(input_error([&] { load_golden_case(c.string()); }).find("biases come in pairs"), std::string::npos);
}

}  // namespace
}  // namespace dsconv
