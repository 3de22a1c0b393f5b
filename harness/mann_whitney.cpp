#include "harness/mann_whitney.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <utility>

namespace dsconv {

namespace {

void check_sample(const std::vector<double>& sample, const char* name) {
  if (sample.empty()) throw std::invalid_argument(fmt::format("Mann-Whitney U: the {} sample is empty", name));
  for (double v : sample)
    if (!std::isfinite(v)) throw std::invalid_argument(fmt::format("Mann-Whitney U: {} holds {}", name, v));
}

// The pooled sample's ranks (1-based, ties get their mean rank): returns the rank sum of
// the first `n1` values and the tie term sum(t^3 - t) over groups of t equal values.
std::pair<double, double> rank_sum_and_ties(const std::vector<double>& current, const std::vector<double>& baseline) {
  std::vector<std::pair<double, bool>> pooled;  // value, is_current
  pooled.reserve(current.size() + baseline.size());
  for (double v : current) pooled.emplace_back(v, true);
  for (double v : baseline) pooled.emplace_back(v, false);
  std::sort(pooled.begin(), pooled.end(), [](const auto& a, const auto& b) { return a.first < b.first; });

  double rank_sum = 0, tie_term = 0;
  for (size_t i = 0; i < pooled.size();) {
    size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double t = double(j - i);
    const double mid_rank = double(i + 1 + j) / 2;  // mean of ranks i+1 .. j
    for (size_t k = i; k < j; ++k)
      if (pooled[k].second) rank_sum += mid_rank;
    tie_term += t * t * t - t;
    i = j;
  }
  return {rank_sum, tie_term};
}

// P(U >= u) for samples of n1 and n2 distinct values, by counting arrangements:
// N(m, n, u) = N(m - 1, n, u - n) + N(m, n - 1, u), splitting on whether the largest of the
// m + n values belongs to the first sample (it beats all n of the second) or the second.
double exact_upper_tail(size_t n1, size_t n2, long long u) {
  // counts[m][u] = N(m, n, u) for the n of the current pass; starts at n = 0.
  std::vector<std::vector<uint64_t>> previous(n1 + 1, std::vector<uint64_t>{1}), current(n1 + 1);
  for (size_t n = 1; n <= n2; ++n) {
    current[0] = {1};
    for (size_t m = 1; m <= n1; ++m) {
      std::vector<uint64_t>& c = current[m];
      c.assign(m * n + 1, 0);
      for (size_t k = 0; k < previous[m].size(); ++k) c[k] += previous[m][k];
      for (size_t k = 0; k < current[m - 1].size(); ++k) c[k + n] += current[m - 1][k];
    }
    std::swap(previous, current);
  }
  const std::vector<uint64_t>& counts = previous[n1];
  uint64_t total = 0, tail = 0;
  for (size_t k = 0; k < counts.size(); ++k) {
    total += counts[k];
    if (static_cast<long long>(k) >= u) tail += counts[k];
  }
  return double(static_cast<long double>(tail) / static_cast<long double>(total));
}

}  // namespace

std::string_view to_string(MannWhitneyMethod m) { return m == MannWhitneyMethod::exact ? "exact" : "normal"; }

MannWhitneyResult mann_whitney_greater(const std::vector<double>& current, const std::vector<double>& baseline) {
  check_sample(current, "current");
  check_sample(baseline, "baseline");
  const double n1 = double(current.size()), n2 = double(baseline.size());
  const auto [rank_sum, tie_term] = rank_sum_and_ties(current, baseline);

  MannWhitneyResult r;
  r.u = rank_sum - n1 * (n1 + 1) / 2;
  const bool small = current.size() <= kMannWhitneyExactMax && baseline.size() <= kMannWhitneyExactMax;
  if (small && tie_term == 0) {
    r.method = MannWhitneyMethod::exact;
    r.p_value = exact_upper_tail(current.size(), baseline.size(), std::llround(r.u));
  } else {
    r.method = MannWhitneyMethod::normal;
    const double n = n1 + n2;
    const double mean = n1 * n2 / 2;
    const double variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)));
    if (variance <= 0) {
      r.p_value = 1;  // every value equal: no evidence either way
    } else {
      const double z = (r.u - mean - 0.5) / std::sqrt(variance);  // 0.5: continuity correction
      r.p_value = 0.5 * std::erfc(z / std::sqrt(2.0));
    }
  }
  r.p_value = std::clamp(r.p_value, 0.0, 1.0);
  return r;
}

}  // namespace dsconv
