// The built-in verification suite: small shapes that each corner a different part of the
// index arithmetic, plus the KernelBench L1#86 headline shape.
#pragma once

#include <string>
#include <vector>

#include "harness/problem_data.h"

namespace dsconv {

struct SuiteEntry {
  std::string name;
  Problem problem;
  Distribution distribution = Distribution::normal;
  bool large = false;  // slow on the CPU reference and under compute-sanitizer
};

std::vector<SuiteEntry> verify_suite(bool include_large);

}  // namespace dsconv
