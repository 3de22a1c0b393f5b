// dsconv merge: joins sweep shards, and PyTorch baseline rows, into one result document,
// recomputing every derived number, and writes it with its CSV and markdown.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "harness/cli/commands.h"
#include "harness/errors.h"
#include "harness/report.h"
#include "kernels/kernel.h"

namespace dsconv::cli {

namespace {

struct MergeOptions {
  std::vector<std::string> inputs;
  std::string out;
  bool allow_software_mismatch = false;
};

bool is_baseline(const nlohmann::json& row) { return row.at("impl").get<std::string>().rfind("torch_", 0) == 0; }

// Registered implementations first, in registry order, then the baselines.
int impl_rank(const std::string& impl) {
  const auto& kernels = all_kernels();
  for (size_t i = 0; i < kernels.size(); ++i)
    if (kernels[i]->name() == impl) return int(i);
  return 1000 + (impl == "torch_eager" ? 0 : impl == "torch_eager_tf32" ? 1 : 2);
}

// The shards of the sweep among the inputs that hold rows of dsconv's own implementations
// must all be there, once each: a merge of some of them would read as the whole sweep.
void check_shards_complete(const std::vector<nlohmann::json>& docs, const std::vector<std::string>& paths) {
  int64_t count = -1;
  std::set<int64_t> seen;
  for (size_t i = 0; i < docs.size(); ++i) {
    const nlohmann::json& d = docs[i].at("dsconv");
    const bool ours = std::any_of(d.at("rows").begin(), d.at("rows").end(),
                                  [](const nlohmann::json& row) { return !is_baseline(row); });
    if (!ours) continue;
    const nlohmann::json shard = d.value("shard", nlohmann::json::object());
    const int64_t index = shard.value("index", int64_t(0)), of = shard.value("count", int64_t(1));
    if (of < 1 || index < 0 || index >= of)
      throw InputError(fmt::format("{}: shard {} of {} is not a valid shard", paths[i], index, of));
    if (count >= 0 && of != count)
      throw InputError(fmt::format("{}: a shard of {}, where the other inputs are shards of {}", paths[i], of, count));
    count = of;
    if (!seen.insert(index).second)
      throw InputError(fmt::format("{}: shard {} of {} is given twice", paths[i], index, of));
  }
  for (int64_t index = 0; index < count; ++index)
    if (!seen.count(index))
      throw InputError(fmt::format("shard {} of {} is missing: merge all {} shards (NAME.shard-I-of-{}.json) at once",
                                   index, count, count, count));
}

int run_merge(const MergeOptions& o) {
  check_report_path(o.out);
  std::vector<nlohmann::json> docs;
  for (const std::string& path : o.inputs) docs.push_back(read_result_document(path));

  // The first file that is not only baselines gives the header.
  size_t head = 0;
  for (size_t i = 0; i < docs.size(); ++i) {
    bool ours = false;
    for (const nlohmann::json& row : docs[i].at("dsconv").at("rows")) ours |= !is_baseline(row);
    if (ours) {
      head = i;
      break;
    }
  }
  check_shards_complete(docs, o.inputs);
  nlohmann::json merged = docs[head];
  nlohmann::json& d = merged.at("dsconv");
  const nlohmann::json& device = d.at("device");
  d["rows"] = nlohmann::json::array();
  merged["benchmarks"] = nlohmann::json::array();
  d["shard"] = {{"index", 0}, {"count", 1}, {"merged_from", o.inputs}};

  std::set<std::string> names;
  std::map<std::string, int64_t> point_of_problem;
  for (size_t i = 0; i < docs.size(); ++i) {
    const nlohmann::json& di = docs[i].at("dsconv");
    if (di.value("sweep", "") != d.value("sweep", ""))
      throw InputError(fmt::format("{}: sweep '{}' differs from {}'s '{}'", o.inputs[i], di.value("sweep", ""),
                                   o.inputs[head], d.value("sweep", "")));
    if (di.at("device").value("gpu", "") != device.value("gpu", ""))
      throw InputError(fmt::format("{}: measured on {}, but {} on {}: speedups need one card", o.inputs[i],
                                   di.at("device").value("gpu", ""), o.inputs[head], device.value("gpu", "")));
    for (const char* key : {"driver", "cuda_runtime", "cudnn"})
      if (!o.allow_software_mismatch && di.at("device").value(key, "") != device.value(key, ""))
        throw InputError(fmt::format(
            "{}: {} {}, but {} has {}: times from different software do not compare (--allow-software-mismatch "
            "merges them anyway)",
            o.inputs[i], key, di.at("device").value(key, "?"), o.inputs[head], device.value(key, "?")));
    // Each shard measured its own card's ceilings: its rows keep them for their roof%.
    const bool own_ceilings =
        di.value("ceilings", nlohmann::json::object()) != d.value("ceilings", nlohmann::json::object());
    for (nlohmann::json row : di.at("rows")) {
      if (own_ceilings && !row.contains("ceilings")) row["ceilings"] = di.value("ceilings", nlohmann::json::object());
      if (!names.insert(row.value("benchmark", "")).second)
        throw InputError(fmt::format("{}: row {} appears in more than one input", o.inputs[i], row.value("benchmark", "")));
      if (row.contains("point"))
        point_of_problem[problem_from_json(row.at("problem"), o.inputs[i]).key()] = row.at("point").get<int64_t>();
      d["rows"].push_back(row);
    }
    for (const nlohmann::json& b : docs[i].value("benchmarks", nlohmann::json::array())) merged["benchmarks"].push_back(b);
  }
  // Baseline rows take the point index of the problem they time.
  for (nlohmann::json& row : d["rows"])
    if (!row.contains("point")) {
      const auto it = point_of_problem.find(problem_from_json(row.at("problem"), "row").key());
      row["point"] = it != point_of_problem.end() ? it->second : int64_t(1) << 40;
    }
  std::stable_sort(d["rows"].begin(), d["rows"].end(), [](const nlohmann::json& a, const nlohmann::json& b) {
    const auto key = [](const nlohmann::json& r) {
      return std::tuple(r.at("point").get<int64_t>(), impl_rank(r.at("impl").get<std::string>()),
                        r.at("pass").get<std::string>() != "forward");
    };
    return key(a) < key(b);
  });
  finalize_rows(merged);
  write_reports(merged, o.out);
  std::cerr << fmt::format("merged {} files, {} rows, into {} (and .csv, .md)\n", docs.size(), d["rows"].size(), o.out);
  return kExitOk;
}

}  // namespace

void add_merge_command(CLI::App& app, Action& action) {
  auto o = std::make_shared<MergeOptions>();
  CLI::App* cmd = app.add_subcommand("merge", "Join sweep shards and baseline rows into one result (json, csv, md)");
  cmd->add_option("inputs", o->inputs, "Result files to join")->required()->expected(1, -1);
  cmd->add_option("--out", o->out, "The merged result file (.json); may be one of the inputs")->required();
  cmd->add_flag("--allow-software-mismatch", o->allow_software_mismatch,
                "Merge inputs whose driver, CUDA runtime or cuDNN versions differ");
  cmd->callback([&action, o] { action = [o] { return run_merge(*o); }; });
}

}  // namespace dsconv::cli
