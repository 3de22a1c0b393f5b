#include "harness/atomic_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/errors.h"

namespace dsconv {

namespace fs = std::filesystem;

void write_file_atomically(const std::string& path, std::string_view contents) {
  const fs::path target(path);
  std::error_code ec;
  if (target.has_parent_path()) fs::create_directories(target.parent_path(), ec);
  if (ec) throw InputError(fmt::format("cannot create folder {}: {}", target.parent_path().string(), ec.message()));

  const std::string temporary = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    out.write(contents.data(), std::streamsize(contents.size()));
    out.flush();
    if (!out) {
      fs::remove(temporary, ec);
      throw InputError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    }
  }
  fs::rename(temporary, target, ec);
  if (ec) {
    fs::remove(temporary, ec);
    throw InputError(fmt::format("cannot rename {} to {}: {}", temporary, path, ec.message()));
  }
}

void check_writable(const std::string& path) {
  std::error_code ec;
  const fs::path target = fs::absolute(fs::path(path), ec);
  if (fs::is_directory(target, ec)) throw InputError(fmt::format("cannot write {}: it is a folder", path));
  fs::path folder = target.parent_path();
  while (!folder.empty() && !fs::exists(folder, ec) && folder != folder.parent_path()) folder = folder.parent_path();
  if (!fs::is_directory(folder, ec))
    throw InputError(fmt::format("cannot write {}: {} is not a folder", path, folder.string()));
  if (::access(folder.c_str(), W_OK | X_OK) != 0)
    throw InputError(fmt::format("cannot write {}: {}: {}", path, folder.string(), std::strerror(errno)));
}

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw InputError(fmt::format("cannot read {}: no such file", path));
  if (!fs::is_regular_file(path, ec)) throw InputError(fmt::format("cannot read {}: not a regular file", path));
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read {}: {}", path, std::strerror(errno)));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace dsconv
