// dsconv verify: every chosen implementation, forward and backward, on the built-in suite
// (or the problems given), against the Eigen reference. Prints a table; exits 1 on any
// failure.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <random>

#include "harness/atomic_file.h"
#include "harness/cli/check_rows.h"
#include "harness/cli/commands.h"
#include "harness/cuda_stream.h"
#include "harness/device_info.h"
#include "harness/errors.h"
#include "harness/suite.h"
#include "harness/table.h"

namespace dsconv::cli {

namespace {

struct VerifyOptions {
  std::string impl = "all";
  std::vector<std::string> problems;
  std::string pass = "both";
  std::string distribution;
  uint64_t seed = 0;
  bool seed_given = false;
  bool no_large = false;
  bool no_determinism = false;
  bool verbose = false;
  std::string json_out;
};

nlohmann::json comparison_json(const Comparison& c) {
  return {{"output", to_string(c.output)}, {"passed", c.passed()},       {"verdict", c.verdict()},
          {"elements", c.elements},        {"worst_ratio", c.worst_ratio}, {"allowed_ratio", c.allowed},
          {"worst_at", c.worst_at},        {"rel_l2", c.rel_l2},           {"max_abs", c.max_abs}};
}

int run_verify(const VerifyOptions& o) {
  const std::vector<const Kernel*> kernels = select_kernels(o.impl);
  std::vector<Pass> passes;
  if (o.pass == "forward" || o.pass == "both") passes.push_back(Pass::forward);
  if (o.pass == "backward" || o.pass == "both") passes.push_back(Pass::backward);

  std::vector<SuiteEntry> suite;
  if (o.problems.empty()) {
    suite = verify_suite(!o.no_large);
  } else {
    for (const std::string& text : o.problems) suite.push_back({text, parse_problem(text), Distribution::normal});
  }
  if (!o.distribution.empty())
    for (SuiteEntry& e : suite) e.distribution = parse_distribution(o.distribution);

  const DeviceInfo device = query_device();  // throws DeviceError (exit 3) without a GPU
  const uint64_t seed = o.seed_given ? o.seed : std::random_device{}();
  std::cout << fmt::format("dsconv verify on {} (driver {}, CUDA {}, cuDNN {}), seed {}\n", device.gpu, device.driver,
                           device.cuda_runtime, device.cudnn, seed);
  std::cout << fmt::format("bound: |err| <= (2*stages*u_in + {}*sqrt(L)*u_acc) * mag, u_acc = 2^-24\n\n", kLambda);

  CudaStream stream;
  TextTable table([] {
    std::vector<std::string> h = check_header();
    h.insert(h.begin(), "problem");
    return h;
  }());
  nlohmann::json report = nlohmann::json::array();
  int failed = 0, passed = 0, skipped = 0;
  for (size_t i = 0; i < suite.size(); ++i) {
    const SuiteEntry& entry = suite[i];
    const uint64_t entry_seed = seed + i;
    std::cerr << fmt::format("[{}/{}] {}: {} ({} inputs, seed {})\n", i + 1, suite.size(), entry.name,
                             entry.problem.describe(), to_string(entry.distribution), entry_seed);
    const bool fwd = std::count(passes.begin(), passes.end(), Pass::forward) > 0;
    const bool bwd = std::count(passes.begin(), passes.end(), Pass::backward) > 0;
    const ReferenceSet reference = make_reference_set(entry.problem, entry.distribution, entry_seed, fwd, bwd);

    std::unique_ptr<DeviceProblem> device_problem;
    for (const Kernel* kernel : kernels) {
      std::vector<PassCheck> checks;
      const std::string unsupported = kernel->unsupported_reason(entry.problem);
      if (!unsupported.empty()) {
        for (Pass pass : passes) {
          PassCheck c;
          c.impl = std::string(kernel->name());
          c.pass = pass;
          c.status = CheckStatus::skipped;
          c.reason = unsupported;
          checks.push_back(std::move(c));
        }
      } else {
        if (!device_problem) {
          device_problem = std::make_unique<DeviceProblem>(entry.problem);
          device_problem->upload(reference.inputs, stream);
        }
        Workspace workspace;
        std::string prepare_error;
        try {
          kernel->prepare(entry.problem, workspace);
        } catch (const DeviceError& e) {
          prepare_error = std::string("prepare failed: ") + e.what();
        }
        for (Pass pass : passes) {
          if (!prepare_error.empty()) {
            PassCheck c;
            c.impl = std::string(kernel->name());
            c.pass = pass;
            c.status = CheckStatus::failed;
            c.reason = prepare_error;
            checks.push_back(std::move(c));
            continue;
          }
          checks.push_back(check_pass(*kernel, pass, reference, *device_problem, workspace, stream, !o.no_determinism));
        }
      }
      for (const PassCheck& c : checks) {
        std::vector<std::string> row = check_row(c);
        row.insert(row.begin(), entry.name);
        table.add(std::move(row));
        if (o.verbose)
          for (std::vector<std::string>& r : output_rows(c)) {
            r.insert(r.begin(), "");
            table.add(std::move(r));
          }
        failed += c.status == CheckStatus::failed;
        passed += c.status == CheckStatus::ok;
        skipped += c.status == CheckStatus::skipped;
        nlohmann::json outputs = nlohmann::json::array();
        for (const Comparison& cmp : c.outputs) outputs.push_back(comparison_json(cmp));
        report.push_back({{"problem", entry.name},
                          {"shape", entry.problem.key()},
                          {"distribution", to_string(entry.distribution)},
                          {"seed", entry_seed},
                          {"impl", c.impl},
                          {"pass", to_string(c.pass)},
                          {"status", to_string(c.status)},
                          {"reason", c.reason},
                          {"reproducible", c.reproducible ? nlohmann::json(*c.reproducible) : nlohmann::json()},
                          {"outputs", outputs}});
        if (c.status == CheckStatus::failed)
          std::cerr << fmt::format("  FAIL {} {} on {}: {}\n", c.impl, to_string(c.pass), entry.name,
                                   c.reason.empty() && c.worst() ? c.worst()->verdict() : c.reason);
      }
    }
  }
  table.print(std::cout);
  std::cout << fmt::format("\nverify: {} checks, {} passed, {} failed, {} skipped (seed {})\n",
                           passed + failed + skipped, passed, failed, skipped, seed);
  if (!o.json_out.empty()) {
    const nlohmann::json doc = {{"gpu", device.gpu}, {"driver", device.driver}, {"cuda_runtime", device.cuda_runtime},
                                {"cudnn", device.cudnn}, {"seed", seed},     {"checks", report}};
    write_file_atomically(o.json_out, doc.dump(1) + "\n");
  }
  return failed ? kExitCheckFailed : kExitOk;
}

}  // namespace

void add_verify_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<VerifyOptions>();
  CLI::App* cmd = app.add_subcommand("verify", "Check implementations against the CPU reference, forward and backward");
  cmd->add_option("--impl", o->impl, "Implementation name, comma-separated list, or all")->capture_default_str();
  cmd->add_option("--problem", o->problems,
                  "A problem instead of the built-in suite, e.g. n=2,c_in=8,c_out=16,h=9,w=9,k=3,padding=1 "
                  "(unset keys take the KernelBench L1#86 values); repeatable");
  cmd->add_option("--pass", o->pass, "forward, backward or both")
      ->check(CLI::IsMember({"forward", "backward", "both"}))
      ->capture_default_str();
  cmd->add_option("--distribution", o->distribution, "Override the input distribution: normal, uniform or wide")
      ->check(CLI::IsMember({"normal", "uniform", "wide"}));
  cmd->add_option("--seed", o->seed, "Seed of the random inputs (default: fresh, printed)")
      ->check(seed_validator())
      ->each([o](const std::string&) { o->seed_given = true; });
  cmd->add_flag("--no-large", o->no_large, "Leave out the KernelBench L1#86 shape (for compute-sanitizer runs)");
  cmd->add_flag("--no-determinism", o->no_determinism, "Skip the run-twice bitwise comparison");
  cmd->add_flag("--verbose,-v", o->verbose, "One row per output as well");
  cmd->add_option("--json", o->json_out, "Also write the results to this JSON file");
  cmd->callback([&action, o] { action = [o] { return run_verify(*o); }; });
}

}  // namespace dsconv::cli
