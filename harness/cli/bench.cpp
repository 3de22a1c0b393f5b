// dsconv bench: a quick table for a few implementations on a few problems, with the same
// verification and timing as a sweep.
#include <fmt/format.h>

#include <iostream>

#include "harness/cli/commands.h"
#include "harness/cli/result_table.h"
#include "harness/cli/timing_options.h"
#include "harness/errors.h"
#include "harness/report.h"
#include "harness/sweep.h"

namespace dsconv::cli {

namespace {

struct BenchOptions {
  std::string impl = "all";
  std::vector<std::string> problems = {"seed"};
  std::string pass = "both";
  uint64_t seed = 1;
  std::string json_out;
  bool stages = false;
  TimingOverrides timing;
};

int run_bench(const BenchOptions& o) {
  SweepSpec spec;
  spec.file = "(command line)";
  spec.name = "bench";
  spec.title = "dsconv bench";
  spec.x_axis = "label";
  spec.x_label = "problem";
  spec.lines = select_kernels(o.impl);
  if (o.pass != "backward") spec.passes.push_back(Pass::forward);
  if (o.pass != "forward") spec.passes.push_back(Pass::backward);
  for (const std::string& text : o.problems) {
    SweepPoint point;
    point.index = spec.points.size();
    point.problem = parse_problem(text);
    point.label = text;
    point.x = text;
    spec.points.push_back(point);
  }
  o.timing.apply(spec.timing);
  if (!o.json_out.empty()) check_report_path(o.json_out);  // before the run, not after it

  SweepRunOptions run;
  run.seed = o.seed;
  run.stages = o.stages;
  const nlohmann::json doc = run_sweep(spec, run);
  print_result_table(doc, std::cout);
  if (!o.json_out.empty()) write_reports(doc, o.json_out);
  return any_row_failed(doc) ? kExitCheckFailed : kExitOk;
}

}  // namespace

void add_bench_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Verify and time implementations on a few problems; print a table");
  cmd->add_option("--impl", o->impl, "Implementation name, comma-separated list, or all")->capture_default_str();
  cmd->add_option("--problem", o->problems,
                  "A problem such as n=16,c_in=64,c_out=128,h=512,w=512,k=3,padding=1, or seed; repeatable")
      ->capture_default_str();
  cmd->add_option("--pass", o->pass, "forward, backward or both")
      ->check(CLI::IsMember({"forward", "backward", "both"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the random inputs")->check(seed_validator())->capture_default_str();
  cmd->add_option("--json", o->json_out, "Also write the result document (and .csv, .md beside it)");
  cmd->add_flag("--stages", o->stages, "Also time each implementation's separate stages (e.g. tiled.depthwise)");
  o->timing.add_to(*cmd);
  cmd->callback([&action, o] { action = [o] { return run_bench(*o); }; });
}

}  // namespace dsconv::cli
