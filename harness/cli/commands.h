// The subcommands of `dsconv`. Each add_*_command registers its options on the app and,
// when chosen, stores the action main() runs; actions return the exit code.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>

namespace dsconv::cli {

using Action = std::function<int()>;

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
