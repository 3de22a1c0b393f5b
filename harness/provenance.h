// Where a result came from: the commit of the tree it was built from, and when.
#pragma once

#include <string>

namespace dsconv {

// $DSCONV_GIT_COMMIT when set; else "3f2c1e9", or "3f2c1e9-dirty" when tracked files have
// changes, or "unknown" outside a git checkout.
std::string git_commit();
// The current time in UTC, ISO 8601: "2026-11-26T10:00:00Z".
std::string utc_now();

}  // namespace dsconv
