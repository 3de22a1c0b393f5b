// Result files appear whole or not at all: written to a temporary name beside the target,
// then renamed over it. A crash or error midway leaves no partial file.
#pragma once

#include <string>
#include <string_view>

namespace dsconv {

// Writes `contents` to `path` atomically, creating parent folders. Throws InputError
// naming the path when it cannot be written.
void write_file_atomically(const std::string& path, std::string_view contents);

// Throws InputError naming the path when write_file_atomically(path, ...) could not write
// it: the path is a folder, or the nearest folder that exists above it is not writable.
// Creates nothing: a command calls it before a long run, so that a bad output path fails
// at once instead of after the work.
void check_writable(const std::string& path);

// Reads a whole file; throws InputError naming the path when it cannot be read.
std::string read_file(const std::string& path);

}  // namespace dsconv
