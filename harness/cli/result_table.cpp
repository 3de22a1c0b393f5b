#include "harness/cli/result_table.h"

#include <fmt/format.h>

#include "harness/clock_monitor.h"
#include "harness/table.h"

namespace dsconv::cli {

void print_result_table(const nlohmann::json& doc, std::ostream& out) {
  const nlohmann::json& d = doc.at("dsconv");
  const nlohmann::json& dev = d.at("device");
  out << fmt::format("{} · driver {} · CUDA {} · cuDNN {} · commit {}\n", dev.value("gpu", "?"),
                     dev.value("driver", "?"), dev.value("cuda_runtime", "?"), dev.value("cudnn", "?"),
                     d.value("git_commit", "?"));
  TextTable table({d.value("x_label", "x"), "impl", "pass", "status", "median ms", "min ms", "cv", "GB/s", "TFLOP/s",
                   "roof%", "vs cudnn", "vs torch", "SM clock"});
  auto num = [](const nlohmann::json& row, const char* key, const char* format) {
    return row.contains(key) && row.at(key).is_number() ? fmt::format(fmt::runtime(format), row.at(key).get<double>())
                                                        : std::string("-");
  };
  auto clock_or_dash = [](const nlohmann::json& row) {
    const std::string clock = clock_label(row.value("clocks", nlohmann::json()));
    return clock.empty() ? std::string("-") : clock;
  };
  for (const nlohmann::json& row : d.at("rows")) {
    const nlohmann::json& x = row.at("x");
    const std::string status = row.value("status", "");
    table.add({x.is_string() ? x.get<std::string>() : x.dump(), row.value("impl", ""), row.value("pass", ""),
               status == "ok" ? status : status + ": " + row.value("reason", "").substr(0, 90),
               num(row, "median_ms", "{:.4f}"), num(row, "min_ms", "{:.4f}"),
               row.contains("cv") ? fmt::format("{:.1f}%", 100 * row.at("cv").get<double>()) : "-",
               num(row, "gbps", "{:.0f}"), num(row, "tflops", "{:.2f}"), num(row, "roof_pct", "{:.1f}"),
               num(row, "speedup_vs_cudnn", "{:.2f}x"), num(row, "speedup_vs_torch_eager", "{:.2f}x"),
               clock_or_dash(row)});
  }
  table.print(out);
}

}  // namespace dsconv::cli
