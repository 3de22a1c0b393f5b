#include "harness/provenance.h"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace dsconv {

namespace {
// The first line a shell command prints, or "" when it fails.
std::string first_line(const char* command) {
  FILE* pipe = popen(command, "r");
  if (!pipe) return "";
  std::array<char, 256> buffer{};
  std::string line;
  if (fgets(buffer.data(), int(buffer.size()), pipe)) line = buffer.data();
  const int status = pclose(pipe);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  return status == 0 ? line : "";
}
}  // namespace

std::string git_commit() {
  // A copy of the tree without its .git folder (a remote GPU machine, a container) is told
  // its commit by whoever copied it.
  if (const char* given = std::getenv("DSCONV_GIT_COMMIT"); given && *given) return given;
  const std::string commit = first_line("git rev-parse --short=12 HEAD 2>/dev/null");
  if (commit.empty()) return "unknown";
  const std::string changes = first_line("git status --porcelain --untracked-files=no 2>/dev/null");
  return changes.empty() ? commit : commit + "-dirty";
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

}  // namespace dsconv
