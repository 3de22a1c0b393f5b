#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "harness/provenance.h"

namespace dsconv {
namespace {

// What a build adds after the commit: nothing, unless an experiment is switched on.
std::string experiment_suffix() {
#if defined(DSCONV_EXPERIMENT_TAG)
  return DSCONV_EXPERIMENT_TAG;
#else
  return "";
#endif
}

TEST(Provenance, GivenCommitIsRecordedWithTheBuildsExperiments) {
  ASSERT_EQ(setenv("DSCONV_GIT_COMMIT", "3f2c1e9", 1), 0);
  EXPECT_EQ(git_commit(), "3f2c1e9" + experiment_suffix());
  ASSERT_EQ(unsetenv("DSCONV_GIT_COMMIT"), 0);
}

TEST(Provenance, CommitOfTheCheckoutOrUnknown) {
  ASSERT_EQ(unsetenv("DSCONV_GIT_COMMIT"), 0);
  const std::string commit = git_commit();
  ASSERT_FALSE(commit.empty());
  const std::string suffix = experiment_suffix();
  ASSERT_GE(commit.size(), suffix.size());
  EXPECT_EQ(commit.substr(commit.size() - suffix.size()), suffix);
  const std::string base = commit.substr(0, commit.size() - suffix.size());
  // "unknown" outside a checkout; else 12 hex digits, maybe "-dirty".
  if (base != "unknown") {
    const std::string hash = base.substr(0, base.find('-'));
    EXPECT_EQ(hash.size(), 12u) << commit;
    EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos) << commit;
    EXPECT_TRUE(base.size() == 12 || base.substr(12) == "-dirty") << commit;
  }
}

TEST(Provenance, UtcTimeIsIso8601) {
  const std::string now = utc_now();
  ASSERT_EQ(now.size(), 20u) << now;
  EXPECT_EQ(now[4], '-');
  EXPECT_EQ(now[10], 'T');
  EXPECT_EQ(now.back(), 'Z');
}

}  // namespace
}  // namespace dsconv
