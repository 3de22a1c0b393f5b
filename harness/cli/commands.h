// The subcommands of `dsconv`. Each add_*_command registers its options on the app and,
// when chosen, stores the action main() runs; actions return the exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>

namespace dsconv::cli {

using Action = std::function<int()>;

// --seed: digits only (CLI11 would read -1 into an unsigned seed as 2^64 - 1).
inline CLI::Validator seed_validator() {
  return CLI::Validator(
      [](const std::string& text) {
        return !text.empty() && text.find_first_not_of("0123456789") == std::string::npos
                   ? std::string()
                   : "'" + text + "' is not a seed: expected an integer from 0 to 2^64 - 1";
      },
      "SEED");
}

void add_list_command(CLI::App& app, Action& action);
void add_info_command(CLI::App& app, Action& action);
void add_verify_command(CLI::App& app, Action& action);
void add_check_command(CLI::App& app, Action& action);
void add_bench_command(CLI::App& app, Action& action);
void add_sweep_command(CLI::App& app, Action& action);
void add_merge_command(CLI::App& app, Action& action);
void add_roofline_command(CLI::App& app, Action& action);
void add_gate_command(CLI::App& app, Action& action);

}  // namespace dsconv::cli
