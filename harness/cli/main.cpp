// dsconv: verify and benchmark depthwise-separable convolution kernels.
// Exit codes: 0 ok; 1 a check failed; 2 bad input; 3 no usable GPU or library.
#include <fmt/format.h>

#include <iostream>
#include <new>

#include "harness/cli/commands.h"
#include "harness/errors.h"

int main(int argc, char** argv) {
  using namespace dsconv;
  CLI::App app{"dsconv: verify and benchmark depthwise-separable convolution kernels on the GPU.\n"
               "Exit codes: 0 ok, 1 a check failed, 2 bad input, 3 no usable GPU or library."};
  app.require_subcommand(1);
  cli::Action action;
  cli::add_list_command(app, action);
  cli::add_info_command(app, action);
  cli::add_verify_command(app, action);
  cli::add_check_command(app, action);
  cli::add_bench_command(app, action);
  cli::add_sweep_command(app, action);
  cli::add_merge_command(app, action);
  cli::add_roofline_command(app, action);
  cli::add_gate_command(app, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, or the error and a hint
    return code == 0 ? kExitOk : kExitBadInput;
  }
  try {
    return action();
  } catch (const InputError& e) {
    std::cerr << "dsconv: error: " << e.what() << '\n';
    return kExitBadInput;
  } catch (const DeviceError& e) {
    std::cerr << "dsconv: error: " << e.what() << '\n';
    return kExitNoDevice;
  } catch (const std::bad_alloc&) {
    std::cerr << "dsconv: error: out of host memory\n";
    return kExitNoDevice;
  } catch (const std::exception& e) {
    std::cerr << "dsconv: internal error: " << e.what() << '\n';
    return kExitCheckFailed;
  }
}
