#include "harness/sweep.h"

#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>

#include "harness/cuda_stream.h"
#include "harness/device_info.h"
#include "harness/errors.h"
#include "harness/pass_check.h"
#include "harness/provenance.h"
#include "harness/report.h"
#include "harness/roofline.h"

namespace dsconv {

namespace {

nlohmann::json device_json(const DeviceInfo& d) {
  return {{"gpu", d.gpu},
          {"slug", d.slug},
          {"driver", d.driver},
          {"cuda_runtime", d.cuda_runtime},
          {"cudnn", d.cudnn},
          {"compute_capability", d.compute_capability},
          {"multiprocessors", d.multiprocessors},
          {"memory_bytes", d.memory_bytes},
          {"l2_bytes", d.l2_bytes}};
}

// The worst output of a check, as a row records it.
nlohmann::json verification_json(const PassCheck& check) {
  nlohmann::json v = {{"passed", check.status == CheckStatus::ok}};
  if (!check.reason.empty()) v["reason"] = check.reason;
  if (const Comparison* w = check.worst()) {
    v["output"] = to_string(w->output);
    v["error_over_bound"] = w->worst_ratio / w->allowed;
    v["rel_l2"] = w->rel_l2;
    v["at"] = w->worst_at;
    if (!w->passed()) v["verdict"] = w->verdict();
  }
  return v;
}

std::string check_failure(const PassCheck& check) {
  if (!check.reason.empty()) return check.reason;
  const Comparison* w = check.worst();
  return w ? fmt::format("{}: {}", to_string(w->output), w->verdict()) : "failed";
}

std::string duration_text(double seconds) {
  if (seconds < 90) return fmt::format("{:.0f}s", seconds);
  return fmt::format("{:.0f}m{:02.0f}s", std::floor(seconds / 60), std::fmod(seconds, 60));
}

// One (implementation, pass) of the current point, on its way to a row.
struct Entry {
  const Kernel* kernel;
  Pass pass;
  nlohmann::json row;
  bool timed = false;
};

}  // namespace

nlohmann::json run_sweep(const SweepSpec& spec, const SweepRunOptions& options) {
  const auto [shard_index, shard_count] = parse_shard(options.shard);
  const std::vector<SweepPoint> points = shard_points(spec.points, options.shard);
  const DeviceInfo device = query_device();
  CudaStream stream;

  std::cerr << fmt::format("sweep {}: {} points{} x {} implementations x {} passes on {}, input seed {}\n", spec.name,
                           points.size(),
                           shard_count > 1 ? fmt::format(" (shard {}/{})", shard_index, shard_count) : "",
                           spec.lines.size(), spec.passes.size(), device.gpu, options.seed);
  std::cerr << "measuring the card's ceilings (copy, FFMA, SGEMM, TF32)...\n";
  const Ceilings ceilings = measure_ceilings(stream);
  std::cerr << fmt::format("  copy {:.0f} GB/s, FFMA {:.1f} TFLOP/s, SGEMM {:.1f} TFLOP/s, TF32 {:.0f} TFLOP/s\n",
                           ceilings.copy_gbps, ceilings.ffma_tflops, ceilings.sgemm_tflops, ceilings.tf32_tflops);

  nlohmann::json doc = {{"benchmarks", nlohmann::json::array()}};
  nlohmann::json& d = doc["dsconv"];
  d = {{"format", 1},
       {"sweep", spec.name},
       {"title", spec.title},
       {"spec", spec.file},
       {"x_axis", spec.x_axis},
       {"x_label", spec.x_label},
       {"git_commit", git_commit()},
       {"created", utc_now()},
       {"device", device_json(device)},
       {"timing", spec.timing.to_json()},
       {"ceilings",
        {{"copy_gbps", ceilings.copy_gbps},
         {"ffma_tflops", ceilings.ffma_tflops},
         {"sgemm_tflops", ceilings.sgemm_tflops},
         {"tf32_tflops", ceilings.tf32_tflops}}},
       {"shard", {{"index", shard_index}, {"count", shard_count}}},
       {"seed", options.seed},
       {"distribution", to_string(spec.distribution)},
       {"rows", nlohmann::json::array()}};

  const bool any_forward = std::count(spec.passes.begin(), spec.passes.end(), Pass::forward) > 0;
  const bool any_backward = std::count(spec.passes.begin(), spec.passes.end(), Pass::backward) > 0;
  const auto started = std::chrono::steady_clock::now();
  for (size_t k = 0; k < points.size(); ++k) {
    const SweepPoint& point = points[k];
    const Problem& p = point.problem;
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::cerr << fmt::format("[{}/{}] {}{}{}\n", k + 1, points.size(), point.label.empty() ? "" : point.label + ": ",
                             p.describe(),
                             k ? fmt::format("  (elapsed {}, ETA {})", duration_text(elapsed),
                                             duration_text(elapsed / double(k) * double(points.size() - k)))
                               : "");

    std::vector<Entry> entries;
    for (const Kernel* kernel : spec.lines)
      for (Pass pass : spec.passes) {
        Entry e{kernel, pass, nlohmann::json::object()};
        e.row = {{"benchmark", fmt::format("{}/{}/{}", kernel->name(), to_string(pass), p.key())},
                 {"impl", kernel->name()},
                 {"pass", to_string(pass)},
                 {"label", point.label},
                 {"x", point.x},
                 {"point", point.index},
                 {"problem", problem_to_json(p)},
                 {"precision", to_string(kernel->precision())},
                 {"status", "ok"},
                 {"reason", ""}};
        entries.push_back(std::move(e));
      }
    auto mark = [](Entry& e, const char* status, const std::string& reason) {
      e.row["status"] = status;
      e.row["reason"] = reason;
      e.timed = false;
    };

    std::unique_ptr<DeviceProblem> device_problem;
    std::unique_ptr<ReferenceSet> reference;
    try {
      device_problem = std::make_unique<DeviceProblem>(p);
      reference = std::make_unique<ReferenceSet>(
          make_reference_set(p, spec.distribution, options.seed + point.index, any_forward, any_backward));
      device_problem->upload(reference->inputs, stream);
    } catch (const DeviceError& e) {
      for (Entry& entry : entries) mark(entry, "skipped", std::string("the problem does not fit: ") + e.what());
      device_problem.reset();
    }

    std::map<const Kernel*, std::unique_ptr<Workspace>> workspaces;
    std::vector<TimedCase> cases;
    std::vector<Entry*> timed_entries;
    if (device_problem) {
      for (Entry& e : entries) {
        if (const std::string why = e.kernel->unsupported_reason(p); !why.empty()) {
          mark(e, "skipped", why);
          continue;
        }
        auto& ws = workspaces[e.kernel];
        if (!ws) {
          ws = std::make_unique<Workspace>();
          try {
            e.kernel->prepare(p, *ws);
          } catch (const DeviceError& err) {
            ws.reset();
            workspaces.erase(e.kernel);
            mark(e, "error", std::string("prepare failed: ") + err.what());
            continue;
          }
        }
        const PassCheck before = check_pass(*e.kernel, e.pass, *reference, *device_problem, *ws, stream, false);
        e.row["verification"]["before"] = verification_json(before);
        if (before.status != CheckStatus::ok) {
          mark(e, "incorrect", "failed verification before timing: " + check_failure(before));
          std::cerr << fmt::format("  {} {}: INCORRECT: {}\n", e.kernel->name(), to_string(e.pass),
                                   e.row["reason"].get<std::string>());
          continue;
        }
        e.timed = true;
        const Kernel* kernel = e.kernel;
        Workspace* workspace = ws.get();
        const DeviceTensors tensors = device_problem->tensors();
        const Pass pass = e.pass;
        TimedCase c;
        c.name = e.row["benchmark"].get<std::string>();
        c.launch = [kernel, workspace, tensors, pass, p](cudaStream_t s) {
          if (pass == Pass::forward)
            kernel->forward(p, tensors, *workspace, s);
          else
            kernel->backward(p, tensors, *workspace, s);
        };
        c.bytes = p.min_bytes(pass);
        c.flops = p.flops(pass);
        c.floor_ms = floor_ms(p, pass, kernel->precision(), ceilings);
        cases.push_back(std::move(c));
        timed_entries.push_back(&e);
      }
    }

    // Stages of implementations that passed verification, timed in the same interleaved run.
    std::vector<nlohmann::json> stage_rows;
    if (options.stages && device_problem) {
      for (Entry* e : std::vector<Entry*>(timed_entries)) {
        for (const Stage& stage : e->kernel->stages(p, e->pass, device_problem->tensors(), *workspaces.at(e->kernel))) {
          const std::string impl = fmt::format("{}.{}", e->kernel->name(), stage.name);
          nlohmann::json row = e->row;
          row["benchmark"] = fmt::format("{}/{}/{}", impl, to_string(e->pass), p.key());
          row["impl"] = impl;
          row["bytes"] = stage.bytes;
          row["flops"] = stage.flops;
          row["reason"] = fmt::format("a stage of {}, verified as a whole", e->kernel->name());
          TimedCase c;
          c.name = row["benchmark"].get<std::string>();
          c.launch = stage.launch;
          c.bytes = stage.bytes;
          c.flops = stage.flops;
          cases.push_back(std::move(c));
          stage_rows.push_back(std::move(row));
        }
      }
    }

    const std::vector<TimedResult> results = time_cases(cases, spec.timing, stream, doc);
    for (size_t i = 0; i < stage_rows.size(); ++i) {
      const TimedResult& r = results[timed_entries.size() + i];
      if (r.error.empty()) {
        stage_rows[i]["samples_ms"] = r.samples_ms;
        if (r.clocks.samples > 0) stage_rows[i]["clocks"] = r.clocks.to_json();
      } else {
        stage_rows[i]["status"] = "error";
        stage_rows[i]["reason"] = "failed while timed: " + r.error;
      }
    }
    for (size_t i = 0; i < timed_entries.size(); ++i) {
      Entry& e = *timed_entries[i];
      if (!results[i].error.empty()) {
        mark(e, "error", "failed while timed: " + results[i].error);
        continue;
      }
      e.row["samples_ms"] = results[i].samples_ms;
      if (results[i].clocks.samples > 0) e.row["clocks"] = results[i].clocks.to_json();
      // Checked again after timing, on the same inputs: the timed launches must not have
      // broken anything (a race, a stale workspace).
      const PassCheck after =
          check_pass(*e.kernel, e.pass, *reference, *device_problem, *workspaces.at(e.kernel), stream, false);
      e.row["verification"]["after"] = verification_json(after);
      if (after.status != CheckStatus::ok) {
        mark(e, "incorrect", "failed verification after timing: " + check_failure(after));
        e.row.erase("samples_ms");
      }
      const SampleStats s = sample_stats(results[i].samples_ms);
      const std::string clock = clock_label(e.row.value("clocks", nlohmann::json()));
      std::cerr << fmt::format("  {:<11} {:<8} {:>10.4f} ms  (min {:.4f}, cv {:.1f}%{}){}\n", e.kernel->name(),
                               to_string(e.pass), s.median, s.min, 100 * s.cv, clock.empty() ? "" : ", SM " + clock,
                               e.row["status"] == "ok" ? "" : "  INCORRECT after timing");
    }
    for (const Entry& e : entries) {
      if (e.row["status"] == "skipped" || e.row["status"] == "error")
        std::cerr << fmt::format("  {:<11} {:<8} {}: {}\n", e.kernel->name(), to_string(e.pass),
                                 e.row["status"].get<std::string>(), e.row["reason"].get<std::string>());
      d["rows"].push_back(e.row);
    }
    for (nlohmann::json& row : stage_rows) d["rows"].push_back(std::move(row));
  }
  finalize_rows(doc);
  return doc;
}

}  // namespace dsconv
