#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "harness/provenance.h"

namespace dsconv {
namespace {

TEST(Provenance, GivenCommitIsRecorded) {
  ASSERT_EQ(setenv("DSCONV_GIT_COMMIT", "3f2c1e9", 1), 0);
  EXPECT_EQ(git_commit(), "3f2c1e9");
  ASSERT_EQ(unsetenv("DSCONV_GIT_COMMIT"), 0);
}

TEST(Provenance, CommitOfTheCheckoutOrUnknown) {
  ASSERT_EQ(unsetenv("DSCONV_GIT_COMMIT"), 0);
  const std::string commit = git_commit();
  // "unknown" outside a checkout; else 12 hex digits, maybe "-dirty".
  if (commit != "unknown") {
    ASSERT_GE(commit.size(), 12u) << commit;
    EXPECT_EQ(commit.substr(0, 12).find_first_not_of("0123456789abcdef"), std::string::npos) << commit;
    EXPECT_TRUE(commit.size() == 12 || commit.substr(12) == "-dirty") << commit;
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
