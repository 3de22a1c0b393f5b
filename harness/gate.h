// The CI regression gate: compares a CURRENT results file (docs/results-format.md) with a
// BASELINE one from the same GPU and decides pass or fail. A row fails when it is wrong
// (not "ok"), gone, or slower both beyond the threshold and beyond the noise (a one-sided
// Mann-Whitney U test over the repetitions). Needing both keeps the gate quiet on noisy
// shapes and on tiny significant drifts, and loud on real slowdowns.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness/mann_whitney.h"

namespace dsconv {

struct GateOptions {
  double max_slowdown = 0.05;          // a median ratio above 1 + this may be a regression
  double alpha = 0.05;                 // ... when the one-sided p-value is below this
  bool allow_device_mismatch = false;  // a baseline from another GPU/driver/CUDA/cuDNN: warn, not fail
};

enum class GateVerdict {
  regression,   // fails: slower beyond the threshold, and significant
  incorrect,    // fails: not "ok" in CURRENT (incorrect, error, or newly skipped)
  missing,      // fails: in BASELINE, not in CURRENT
  ok,           // passes, perhaps with a note (slower but within noise or threshold)
  improvement,  // passes: faster beyond the threshold, and significant
  skipped,      // skipped in both files
  added,        // new in CURRENT: reported, never fails
};

std::string_view to_string(GateVerdict v);
bool is_failure(GateVerdict v);

struct GateRow {
  std::string benchmark;
  GateVerdict verdict = GateVerdict::ok;
  std::string note;  // why, in words: the status and reason, the test outcome
  // Timing comparison, present only when the row is ok in both files.
  std::optional<double> baseline_ms, current_ms;  // medians
  std::optional<double> ratio;                    // current / baseline median
  // The one-sided test in the direction of the change: "current is slower" when ratio >= 1,
  // "current is faster" otherwise.
  std::optional<MannWhitneyResult> test;
};

struct GateResult {
  GateOptions options;
  bool passed = true;
  std::vector<GateRow> rows;               // in BASELINE order, then rows new in CURRENT
  std::vector<std::string> device_issues;  // a failure unless allow_device_mismatch, then warnings
  std::string device;                      // CURRENT's device, in words
  std::string baseline_commit, current_commit;
  std::optional<double> max_ratio;  // the largest median ratio among rows ok in both

  size_t count(GateVerdict v) const;
  // The plain-text report for the terminal: one table row per benchmark and a verdict line.
  std::string text() const;
  // The markdown summary for a pull request: verdict, counts, failures, improvements, and the
  // rest folded in a <details> block.
  std::string markdown() const;
};

// Compares the two results documents. Throws InputError when either lacks the structure
// docs/results-format.md promises, naming "baseline" or "current" and the field.
GateResult run_gate(const nlohmann::json& baseline, const nlohmann::json& current, const GateOptions& options = {});

// Reads and parses a results file and checks its structure, so that bad files are reported
// by path: throws InputError naming the path and what is wrong.
nlohmann::json load_results_file(const std::string& path);

}  // namespace dsconv
