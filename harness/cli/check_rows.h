// Table rows for verification results, shared by `verify` and `check`.
#pragma once

#include <string>
#include <vector>

#include "harness/pass_check.h"

namespace dsconv::cli {

// Columns: impl, pass, result, worst output, err/bound, worst (u*mag), at, rel L2, repro.
std::vector<std::string> check_header();
std::vector<std::string> check_row(const PassCheck& check);
// One row per output, for --verbose.
std::vector<std::vector<std::string>> output_rows(const PassCheck& check);

}  // namespace dsconv::cli
