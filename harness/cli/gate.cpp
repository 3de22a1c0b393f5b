// dsconv gate BASELINE.json CURRENT.json: the CI regression gate. Prints a table per
// benchmark and the verdict; --summary writes a markdown summary for the pull request.
// Exit 0 pass, 1 fail (regression, incorrect or missing row, another device), 2 bad input.
#include "harness/gate.h"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <iostream>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/errors.h"

namespace dsconv::cli {

namespace {

struct GateCliOptions {
  std::string baseline, current, summary;
  std::string max_slowdown = "5%";
  double alpha = 0.05;
  bool allow_device_mismatch = false;
};

// "5%" or "0.05" -> 0.05. A bare number must be a fraction below 1, so "5" (meaning 5%,
// or 500%?) is refused instead of silently allowing a 5x slowdown.
double parse_max_slowdown(const std::string& text) {
  const bool is_percent = !text.empty() && text.back() == '%';
  const std::string number = is_percent ? text.substr(0, text.size() - 1) : text;
  char* end = nullptr;
  errno = 0;
  const double value = number.empty() ? NAN : std::strtod(number.c_str(), &end);
  if (number.empty() || errno || end != number.c_str() + number.size() || !std::isfinite(value) || value < 0)
    throw InputError(fmt::format("--max-slowdown \"{}\": expected a percentage like 5% or a fraction like 0.05", text));
  if (!is_percent && value >= 1)
    throw InputError(
        fmt::format("--max-slowdown {}: a bare number is a fraction and must be below 1 (0.05 means 5%); write {}% for "
                    "a percentage",
                    text, text));
  return is_percent ? value / 100 : value;
}

int run_gate_command(const GateCliOptions& o) {
  GateOptions options;
  options.max_slowdown = parse_max_slowdown(o.max_slowdown);
  if (!(o.alpha > 0 && o.alpha < 1))
    throw InputError(fmt::format("--alpha {}: must lie strictly between 0 and 1 (0.05 is usual)", o.alpha));
  options.alpha = o.alpha;
  options.allow_device_mismatch = o.allow_device_mismatch;

  const nlohmann::json baseline = load_results_file(o.baseline);
  const nlohmann::json current = load_results_file(o.current);
  const GateResult result = run_gate(baseline, current, options);
  std::cout << result.text();
  if (!o.summary.empty()) {
    write_file_atomically(o.summary, result.markdown());
    std::cerr << fmt::format("gate: summary written to {}\n", o.summary);
  }
  return result.passed ? kExitOk : kExitCheckFailed;
}

}  // namespace

void add_gate_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<GateCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "gate",
      "Compare CURRENT sweep results with a BASELINE from the same GPU: fail on a significant slowdown "
      "over the threshold, an incorrect or missing row, or another device");
  cmd->add_option("baseline", o->baseline, "Baseline results JSON (e.g. ci/baselines/<gpu>.json)")->required();
  cmd->add_option("current", o->current, "Current results JSON from `dsconv sweep`")->required();
  cmd->add_option("--max-slowdown", o->max_slowdown,
                  "Slowdown of the median allowed before a significant one fails: 5% or 0.05")
      ->capture_default_str();
  cmd->add_option("--alpha", o->alpha, "Significance level of the one-sided Mann-Whitney U test")
      ->capture_default_str();
  cmd->add_flag("--allow-device-mismatch", o->allow_device_mismatch,
                "Warn instead of failing when GPU, driver, CUDA runtime or cuDNN differ");
  cmd->add_option("--summary", o->summary, "Also write a markdown summary for the pull request to this file");
  cmd->callback([&action, o] { action = [o] { return run_gate_command(*o); }; });
}

}  // namespace dsconv::cli
