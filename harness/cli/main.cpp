// dsconv: verify and benchmark depthwise-separable convolution kernels.
// Exit codes: 0 ok; 1 a check failed; 2 bad input; 3 no usable GPU or library.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>
#include <new>
#include <string>
#include <vector>

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

  // CLI11 would answer an unknown command with "a subcommand is required"; name it instead.
  if (argc > 1 && argv[1][0] != '-') {
    std::vector<std::string> names;
    for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; }))
      names.push_back(command->get_name());
    if (std::find(names.begin(), names.end(), argv[1]) == names.end()) {
      std::cerr << fmt::format("dsconv: error: unknown command '{}': the commands are {} (dsconv --help)\n", argv[1],
                               fmt::join(names, ", "));
      return kExitBadInput;
    }
  }
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
