#include "harness/cli/check_rows.h"

#include <fmt/format.h>

#include <cmath>

namespace dsconv::cli {

namespace {
std::string ratio_text(double r) { return std::isinf(r) ? "inf" : fmt::format("{:.3g}", r); }

std::vector<std::string> comparison_cells(const Comparison& c) {
  return {std::string(to_string(c.output)), fmt::format("{:.1f}%", 100.0 * c.worst_ratio / c.allowed),
          ratio_text(c.worst_ratio), c.worst_at, fmt::format("{:.2e}", c.rel_l2)};
}
}  // namespace

std::vector<std::string> check_header() {
  return {"impl", "pass", "result", "worst", "err/bound", "err/(u*mag)", "at", "rel L2", "repro"};
}

std::vector<std::string> check_row(const PassCheck& check) {
  std::vector<std::string> row = {check.impl, std::string(to_string(check.pass))};
  const Comparison* worst = check.worst();
  std::string result(to_string(check.status));
  if (check.status == CheckStatus::skipped) result += ": " + check.reason;
  else if (!check.reason.empty()) result += ": " + check.reason;
  else if (worst && !worst->passed()) result += ": " + std::string(to_string(worst->output)) + " " + worst->verdict();
  row.push_back(result);
  if (worst) {
    for (std::string& cell : comparison_cells(*worst)) row.push_back(std::move(cell));
  } else {
    row.insert(row.end(), 5, "-");
  }
  row.push_back(check.reproducible ? (*check.reproducible ? "yes" : "NO") : "-");
  return row;
}

std::vector<std::vector<std::string>> output_rows(const PassCheck& check) {
  std::vector<std::vector<std::string>> rows;
  for (const Comparison& c : check.outputs) {
    std::vector<std::string> row = {"", "", "  " + c.verdict()};
    for (std::string& cell : comparison_cells(c)) row.push_back(std::move(cell));
    row.push_back(fmt::format("max abs {:.2e}", c.max_abs));
    rows.push_back(std::move(row));
  }
  return rows;
}

}  // namespace dsconv::cli
