// The one-sided Mann-Whitney U test the regression gate uses: are the CURRENT timings
// stochastically greater (slower) than the BASELINE ones? Rank-based, so one outlier
// repetition (a clock dip, a neighbour on the GPU) cannot make or hide a regression, and it
// assumes no distribution for the timings.
#pragma once

#include <string_view>
#include <vector>

namespace dsconv {

enum class MannWhitneyMethod {
  exact,   // the null distribution of U counted exactly: small samples without ties
  normal,  // normal approximation with tie and continuity corrections
};

std::string_view to_string(MannWhitneyMethod m);

struct MannWhitneyResult {
  double u = 0;        // U of `current`: pairs (c, b) with c > b, ties counting one half
  double p_value = 1;  // P(U >= u) under "both samples come from one distribution"
  MannWhitneyMethod method = MannWhitneyMethod::exact;
};

// Exact samples are limited to this size: beyond it the normal approximation is as good,
// and the exact counts stay far inside 64 bits (C(60, 30) < 2^57).
inline constexpr size_t kMannWhitneyExactMax = 30;

// One-sided test, alternative: `current` is stochastically greater than `baseline`.
// Exact when both samples have at most kMannWhitneyExactMax values and no value occurs
// twice in the pooled sample; otherwise the normal approximation. Matches
// scipy.stats.mannwhitneyu(current, baseline, alternative="greater") with method "exact" or
// "asymptotic" respectively. Throws std::invalid_argument on an empty sample or a value that
// is not finite.
MannWhitneyResult mann_whitney_greater(const std::vector<double>& current, const std::vector<double>& baseline);

}  // namespace dsconv
