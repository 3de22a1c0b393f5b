#include "harness/golden_case.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <filesystem>

#include "harness/atomic_file.h"
#include "harness/errors.h"
#include "harness/npy.h"

namespace dsconv {

namespace fs = std::filesystem;

namespace {

// Reads [a, b] (or a bare integer, meaning both axes) from case.json.
std::pair<int, int> read_pair(const nlohmann::json& j, const char* key, const std::string& file, int fallback) {
  if (!j.contains(key)) return {fallback, fallback};
  const nlohmann::json& v = j.at(key);
  auto as_int = [&](const nlohmann::json& e) {
    if (!e.is_number_integer())
      throw InputError(fmt::format("{}: '{}' must hold integers, found {}", file, key, e.dump()));
    return e.get<int>();
  };
  if (v.is_number_integer()) return {as_int(v), as_int(v)};
  if (!v.is_array() || v.size() != 2)
    throw InputError(fmt::format("{}: '{}' must be [{}_h, {}_w], found {}", file, key, key, key, v.dump()));
  return {as_int(v[0]), as_int(v[1])};
}

void expect_shape(const std::string& file, const Shape& actual, const Shape& expected, const char* meaning) {
  if (actual != expected)
    throw InputError(fmt::format("{}: shape {} does not match {}: expected {}", file, shape_string(actual), meaning,
                                 shape_string(expected)));
}

void expect_rank(const std::string& file, const Shape& shape, size_t rank, const char* layout) {
  if (shape.size() != rank)
    throw InputError(fmt::format("{}: shape {} should be {}", file, shape_string(shape), layout));
}

}  // namespace

GoldenCase load_golden_case(const std::string& folder) {
  if (!fs::is_directory(folder)) throw InputError(fmt::format("{}: no such case folder", folder));
  GoldenCase gc;
  gc.folder = folder;
  auto path = [&](const char* name) { return (fs::path(folder) / name).string(); };
  auto has = [&](const char* name) { return fs::exists(path(name)); };

  const std::string json_file = path("case.json");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(read_file(json_file));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", json_file, e.what()));
  }
  if (!meta.is_object()) throw InputError(fmt::format("{}: expected a JSON object", json_file));
  for (const auto& [key, value] : meta.items())
    if (key != "stride" && key != "padding" && key != "dilation")
      throw InputError(fmt::format("{}: unknown key '{}' (allowed: stride, padding, dilation)", json_file, key));

  Inputs& in = gc.inputs;
  in.x = read_npy_float32(path("x.npy"));
  in.w_dw = read_npy_float32(path("w_dw.npy"));
  in.w_pw = read_npy_float32(path("w_pw.npy"));
  in.dy = read_npy_float32(path("dy.npy"));
  expect_rank(path("x.npy"), in.x.shape, 4, "(N, C_in, H, W)");
  expect_rank(path("w_dw.npy"), in.w_dw.shape, 4, "(C_in, 1, KH, KW)");
  expect_rank(path("w_pw.npy"), in.w_pw.shape, 4, "(C_out, C_in, 1, 1)");
  expect_rank(path("dy.npy"), in.dy.shape, 4, "(N, C_out, HO, WO)");

  Problem& p = gc.problem;
  p.n = in.x.shape[0];
  p.c_in = in.x.shape[1];
  p.h = in.x.shape[2];
  p.w = in.x.shape[3];
  p.c_out = in.w_pw.shape[0];
  p.conv.kh = int(in.w_dw.shape[2]);
  p.conv.kw = int(in.w_dw.shape[3]);
  std::tie(p.conv.stride_h, p.conv.stride_w) = read_pair(meta, "stride", json_file, 1);
  std::tie(p.conv.pad_h, p.conv.pad_w) = read_pair(meta, "padding", json_file, 0);
  std::tie(p.conv.dil_h, p.conv.dil_w) = read_pair(meta, "dilation", json_file, 1);

  const bool has_b_dw = has("b_dw.npy"), has_b_pw = has("b_pw.npy");
  if (has_b_dw != has_b_pw)
    throw InputError(fmt::format("{}: has {} but not {}: biases come in pairs", folder,
                                 has_b_dw ? "b_dw.npy" : "b_pw.npy", has_b_dw ? "b_pw.npy" : "b_dw.npy"));
  p.bias = has_b_dw;

  expect_shape(path("w_dw.npy"), in.w_dw.shape, {p.c_in, 1, p.conv.kh, p.conv.kw}, "C_in of x.npy");
  expect_shape(path("w_pw.npy"), in.w_pw.shape, {p.c_out, p.c_in, 1, 1}, "C_in of x.npy");
  if (const std::string reason = p.invalid_reason(); !reason.empty())
    throw InputError(fmt::format("{}: the case's shape is invalid: {}", folder, reason));
  expect_shape(path("dy.npy"), in.dy.shape, output_shape(p, Output::y), "the output shape of x and case.json");
  if (p.bias) {
    in.b_dw = read_npy_float32(path("b_dw.npy"));
    in.b_pw = read_npy_float32(path("b_pw.npy"));
    expect_shape(path("b_dw.npy"), in.b_dw.shape, {p.c_in}, "C_in");
    expect_shape(path("b_pw.npy"), in.b_pw.shape, {p.c_out}, "C_out");
  }

  for (Pass pass : {Pass::forward, Pass::backward})
    for (Output o : outputs_of(pass, p.bias)) {
      const std::string file = path((std::string(to_string(o)) + ".npy").c_str());
      const NpyArray array = read_npy(file);
      expect_shape(file, array.shape, output_shape(p, o), fmt::format("the shape of {}", to_string(o)).c_str());
      gc.expected_is_float32 |= array.dtype == NpyDtype::float32;
      gc.expected[o].shape = array.shape;
      gc.expected[o].data = array.values;
    }
  return gc;
}

}  // namespace dsconv
