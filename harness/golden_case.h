// Golden cases: a folder of .npy files and a case.json, written by scripts/make_cases.py
// with PyTorch in float64 (or captured from a real model). The shapes come from the files;
// case.json gives stride, padding and dilation. See README.md, "Golden cases".
#pragma once

#include <string>

#include "harness/problem_data.h"

namespace dsconv {

struct GoldenCase {
  std::string folder;
  Problem problem;
  Inputs inputs;
  Outputs<double> expected;       // y, dx, dw_dw, dw_pw, and db_dw, db_pw with biases
  bool expected_is_float32 = false;  // any expected file stored as float32
};

// Throws InputError naming the file and what is wrong: a missing file, a malformed .npy, a
// shape that disagrees with the others, a bad case.json.
GoldenCase load_golden_case(const std::string& folder);

}  // namespace dsconv
