// dsconv sweep SPEC: runs a sweep spec and writes results/<gpu>/NAME.{json,csv,md}.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "harness/cli/commands.h"
#include "harness/cli/result_table.h"
#include "harness/cli/timing_options.h"
#include "harness/device_info.h"
#include "harness/errors.h"
#include "harness/report.h"
#include "harness/sweep.h"

namespace dsconv::cli {

namespace {

struct SweepOptions {
  std::string spec;
  std::string out = "results";
  std::string impl;
  std::string shard = "0/1";
  uint64_t seed = 1;
  bool quiet = false;
  TimingOverrides timing;
};

int run_sweep_command(const SweepOptions& o) {
  // Everything about the input is checked before the GPU is touched or a file written.
  SweepSpec spec = load_sweep_spec(o.spec);
  if (!o.impl.empty()) spec.lines = select_kernels(o.impl);
  const auto [shard_index, shard_count] = parse_shard(o.shard);
  o.timing.apply(spec.timing);

  const std::string slug = query_device().slug;
  const std::string file = shard_count > 1 ? fmt::format("{}.shard-{}-of-{}.json", spec.name, shard_index, shard_count)
                                           : spec.name + ".json";
  const std::string path = (std::filesystem::path(o.out) / slug / file).string();
  check_report_path(path);  // before the run, not after it

  SweepRunOptions run;
  run.shard = o.shard;
  run.seed = o.seed;
  const nlohmann::json doc = run_sweep(spec, run);
  write_reports(doc, path);
  if (!o.quiet) print_result_table(doc, std::cout);
  std::cerr << fmt::format("wrote {} (and .csv, .md)\n", path);
  return any_row_failed(doc) ? kExitCheckFailed : kExitOk;
}

}  // namespace

void add_sweep_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* cmd = app.add_subcommand("sweep", "Run a sweep spec (sweeps/*.yaml); write results/<gpu>/NAME.{json,csv,md}");
  cmd->add_option("spec", o->spec, "The sweep spec, e.g. sweeps/seed.yaml")->required();
  cmd->add_option("--out", o->out, "Folder that receives <gpu>/NAME.json")->capture_default_str();
  cmd->add_option("--impl", o->impl, "Override the spec's lines: a comma-separated list or all");
  cmd->add_option("--shard", o->shard, "Run shard i of N (0-based) and write NAME.shard-i-of-N.json; join with merge")
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the random inputs")->check(seed_validator())->capture_default_str();
  cmd->add_flag("--quiet", o->quiet, "Do not print the table");
  o->timing.add_to(*cmd);
  cmd->callback([&action, o] { action = [o] { return run_sweep_command(*o); }; });
}

}  // namespace dsconv::cli
