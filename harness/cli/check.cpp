// dsconv check --case DIR: runs a golden case folder through the reference (on the CPU, no
// GPU needed) and/or the GPU implementations, and exits 1 when any result does not match
// the case's expected values.
#include <fmt/format.h>

#include <iostream>

#include "harness/cli/check_rows.h"
#include "harness/cli/commands.h"
#include "harness/cuda_stream.h"
#include "harness/device_info.h"
#include "harness/errors.h"
#include "harness/golden_case.h"
#include "harness/table.h"
#include "reference/reference.h"

namespace dsconv::cli {

namespace {

struct CheckOptions {
  std::vector<std::string> cases;
  std::string impl = "reference";
};

// Expected values stored as float32 carry their own rounding of up to 2^-24 relative.
Bound with_expected_rounding(Bound b, const GoldenCase& gc) {
  if (gc.expected_is_float32) b.expected_rounding = kFloatRoundoff;
  return b;
}

int run_check(const CheckOptions& o) {
  // Resolve the names before touching the device or the files, so typos fail first.
  bool with_reference = false;
  std::vector<const Kernel*> kernels;
  if (o.impl == "all") {
    with_reference = true;
    kernels = all_kernels();
  } else {
    std::string gpu_names;  // the list without "reference"
    for (size_t pos = 0; pos <= o.impl.size();) {
      const size_t end = std::min(o.impl.find(',', pos), o.impl.size());
      const std::string name = o.impl.substr(pos, end - pos);
      pos = end + 1;
      if (name == "reference") with_reference = true;
      else if (!name.empty()) gpu_names += (gpu_names.empty() ? "" : ",") + name;
    }
    if (!gpu_names.empty()) kernels = select_kernels(gpu_names);
    if (!with_reference && kernels.empty()) throw InputError("--impl: no implementation named");
  }

  std::vector<GoldenCase> cases;
  for (const std::string& folder : o.cases) cases.push_back(load_golden_case(folder));

  std::unique_ptr<CudaStream> stream;
  if (!kernels.empty()) {
    const DeviceInfo device = query_device();
    std::cout << fmt::format("on {} (driver {}, cuDNN {})\n", device.gpu, device.driver, device.cudnn);
    stream = std::make_unique<CudaStream>();
  }

  TextTable table([] {
    std::vector<std::string> h = check_header();
    h.insert(h.begin(), "case");
    return h;
  }());
  int failed = 0, skipped = 0, total = 0;
  auto add = [&](const GoldenCase& gc, const PassCheck& c) {
    std::vector<std::string> row = check_row(c);
    row.insert(row.begin(), gc.folder);
    table.add(std::move(row));
    ++total;
    failed += c.status == CheckStatus::failed;
    skipped += c.status == CheckStatus::skipped;
  };

  for (const GoldenCase& gc : cases) {
    std::cerr << fmt::format("{}: {}\n", gc.folder, gc.problem.describe());
    // The magnitudes for the bound come from the magnitude pass on the case's own inputs.
    const Outputs<double> magnitude_fwd = reference::run(gc.problem, absolute(gc.inputs), Pass::forward);
    const Outputs<double> magnitude_bwd = reference::run(gc.problem, absolute(gc.inputs), Pass::backward);
    auto magnitude = [&](Pass pass) -> const Outputs<double>& { return pass == Pass::forward ? magnitude_fwd : magnitude_bwd; };

    if (with_reference) {
      Bound b;
      b.u_acc = kDoubleRoundoff;  // the reference accumulates in double
      b = with_expected_rounding(b, gc);
      for (Pass pass : {Pass::forward, Pass::backward}) {
        const Outputs<double> out = reference::run(gc.problem, gc.inputs, pass);
        add(gc, compare_outputs("reference", b, pass, gc.problem, out, gc.expected, magnitude(pass)));
      }
    }
    if (kernels.empty()) continue;
    DeviceProblem device(gc.problem);
    device.upload(gc.inputs, *stream);
    for (const Kernel* kernel : kernels) {
      for (Pass pass : {Pass::forward, Pass::backward}) {
        PassCheck c;
        c.impl = std::string(kernel->name());
        c.pass = pass;
        if (const std::string reason = kernel->unsupported_reason(gc.problem); !reason.empty()) {
          c.status = CheckStatus::skipped;
          c.reason = reason;
          add(gc, c);
          continue;
        }
        try {
          Workspace workspace;
          kernel->prepare(gc.problem, workspace);
          run_pass(*kernel, pass, device, workspace, *stream);
          const Outputs<float> out = device.download(pass, *stream);
          c = compare_outputs(kernel->name(), with_expected_rounding(bound_for(kernel->precision()), gc), pass,
                              gc.problem, out, gc.expected, magnitude(pass));
        } catch (const DeviceError& e) {
          c.status = CheckStatus::failed;
          c.reason = e.what();
        }
        add(gc, c);
      }
    }
  }
  table.print(std::cout);
  // A skipped check (an implementation that does not support the case's shape) is no pass.
  std::cout << fmt::format("\ncheck: {} of {} passed{}\n", total - failed - skipped, total,
                           skipped ? fmt::format(", {} skipped", skipped) : "");
  return failed ? kExitCheckFailed : kExitOk;
}

}  // namespace

void add_check_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<CheckOptions>();
  CLI::App* cmd = app.add_subcommand("check", "Run golden case folders (see README: Golden cases) and compare");
  cmd->add_option("--case", o->cases, "A case folder; repeatable")->required();
  cmd->add_option("--impl", o->impl, "reference (CPU, no GPU needed), an implementation, a list, or all")
      ->capture_default_str();
  cmd->callback([&action, o] { action = [o] { return run_check(*o); }; });
}

}  // namespace dsconv::cli
