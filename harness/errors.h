// The error model: every failure a user can cause or meet becomes one of these exceptions,
// and main() turns it into a message on stderr and the documented exit code. No stack
// traces, no partial result files.
#pragma once

#include <stdexcept>
#include <string>

namespace dsconv {

enum ExitCode : int {
  kExitOk = 0,
  kExitCheckFailed = 1,  // a verification, golden case or gate check failed
  kExitBadInput = 2,     // bad arguments, files or shapes: the message says what and where
  kExitNoDevice = 3,     // no usable GPU, driver or library, or out of device memory
};

// Bad input: arguments, files, specs, shapes. Exit code 2.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// No usable GPU or library, or the device ran out of memory. Exit code 3.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace dsconv
