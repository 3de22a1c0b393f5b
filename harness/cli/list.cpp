// dsconv list: the registered implementations, one line each.
#include <iostream>

#include "harness/cli/commands.h"
#include "harness/table.h"
#include "kernels/kernel.h"

namespace dsconv::cli {

void add_list_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("list", "List the registered implementations");
  cmd->callback([&action] {
    action = [] {
      TextTable table({"name", "precision", "deterministic", "summary"});
      for (const Kernel* k : all_kernels())
        table.add({std::string(k->name()), std::string(to_string(k->precision())), k->deterministic() ? "yes" : "no",
                   std::string(k->summary())});
      table.print(std::cout);
      return 0;
    };
  });
}

}  // namespace dsconv::cli
