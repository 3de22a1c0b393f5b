#include "harness/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "harness/atomic_file.h"
#include "harness/clock_monitor.h"
#include "harness/errors.h"
#include "harness/roofline.h"
#include "harness/timing.h"

namespace dsconv {

namespace {

const char* const kIntFields[] = {"n",        "c_in",     "c_out", "h",     "w",     "kh",   "kw",
                                  "stride_h", "stride_w", "pad_h", "pad_w", "dil_h", "dil_w"};

std::string problem_key_of(const nlohmann::json& row) {
  return problem_from_json(row.at("problem"), row.value("benchmark", "row")).key();
}

double number_or(const nlohmann::json& j, const char* key, double fallback) {
  return j.contains(key) && j.at(key).is_number() ? j.at(key).get<double>() : fallback;
}

std::string fixed(const nlohmann::json& row, const char* key, const char* format) {
  if (!row.contains(key) || !row.at(key).is_number()) return "";
  return fmt::format(fmt::runtime(format), row.at(key).get<double>());
}

// The measured ceilings of a dsconv block, or of a row that carries its own (0 where absent).
Ceilings ceilings_of(const nlohmann::json& holder) {
  const nlohmann::json ceilings = holder.value("ceilings", nlohmann::json::object());
  Ceilings c;
  c.copy_gbps = number_or(ceilings, "copy_gbps", 0);
  c.ffma_tflops = number_or(ceilings, "ffma_tflops", 0);
  c.sgemm_tflops = number_or(ceilings, "sgemm_tflops", 0);
  c.tf32_tflops = number_or(ceilings, "tf32_tflops", 0);
  return c;
}

Precision precision_of(const std::string& text) {
  if (text == "tf32") return Precision::tf32;
  if (text == "3xtf32") return Precision::fp32_3xtf32;
  return Precision::fp32;
}

std::string shown(const nlohmann::json& value) { return value.dump().substr(0, 120); }

// Every field the commands read from a result document, with the type they read it as, so
// that a damaged file is rejected here, by name, instead of failing deep in a command.
void check_result_fields(nlohmann::json& doc, const std::string& path) {
  nlohmann::json& d = doc.at("dsconv");
  auto fail = [&](const std::string& where, const std::string& what) {
    throw InputError(fmt::format("{}: {}: {}", path, where, what));
  };
  // null counts as absent, and is dropped: the baseline script copies fields the way Python's
  // dict.get gives them, and the commands read absent strings as their defaults.
  auto optional_string = [&](nlohmann::json& object, const char* key, const std::string& where) {
    if (object.contains(key) && object.at(key).is_null()) object.erase(key);
    if (object.contains(key) && !object.at(key).is_string())
      fail(where + "." + key, fmt::format("expected a string, got {}", shown(object.at(key))));
  };
  auto required_string = [&](nlohmann::json& object, const char* key, const std::string& where) {
    if (!object.contains(key) || object.at(key).is_null()) fail(where, fmt::format("missing field \"{}\"", key));
    optional_string(object, key, where);
  };
  auto optional_integer = [&](const nlohmann::json& object, const char* key, const std::string& where) {
    if (object.contains(key) && !object.at(key).is_number_integer())
      fail(where + "." + key, fmt::format("expected an integer, got {}", shown(object.at(key))));
  };
  for (const char* key : {"sweep", "title", "x_axis", "x_label", "git_commit", "spec", "created"})
    optional_string(d, key, "dsconv");
  required_string(d.at("device"), "gpu", "dsconv.device");
  for (const char* key : {"slug", "driver", "cuda_runtime", "cudnn"})
    optional_string(d.at("device"), key, "dsconv.device");
  for (const char* key : {"ceilings", "shard", "timing"})
    if (d.contains(key) && !d.at(key).is_object())
      fail(fmt::format("dsconv.{}", key), fmt::format("expected an object, got {}", shown(d.at(key))));
  if (d.contains("timing")) {
    optional_integer(d.at("timing"), "repetitions", "dsconv.timing");
    for (const char* key : {"l2_flush", "cuda_graph"})
      if (d.at("timing").contains(key) && !d.at("timing").at(key).is_boolean())
        fail(fmt::format("dsconv.timing.{}", key),
             fmt::format("expected true or false, got {}", shown(d.at("timing").at(key))));
  }
  if (d.contains("shard")) {
    optional_integer(d.at("shard"), "index", "dsconv.shard");
    optional_integer(d.at("shard"), "count", "dsconv.shard");
  }
  if (doc.contains("benchmarks") && !doc.at("benchmarks").is_array())
    fail("benchmarks", fmt::format("expected an array, got {}", shown(doc.at("benchmarks"))));
  nlohmann::json& rows = d.at("rows");
  for (size_t i = 0; i < rows.size(); ++i) {
    nlohmann::json& row = rows[i];
    const std::string where = fmt::format("dsconv.rows[{}]", i);
    if (!row.is_object()) fail(where, fmt::format("expected an object, got {}", shown(row)));
    for (const char* key : {"impl", "pass", "status"}) required_string(row, key, where);
    for (const char* key : {"benchmark", "precision", "label", "reason"}) optional_string(row, key, where);
    if (!row.contains("x")) fail(where, "missing field \"x\"");
    if (!row.contains("problem")) fail(where, "missing field \"problem\"");
    optional_integer(row, "point", where);
    for (const char* key : {"ceilings", "clocks"})
      if (row.contains(key) && !row.at(key).is_object())
        fail(fmt::format("{}.{}", where, key), fmt::format("expected an object, got {}", shown(row.at(key))));
    const std::string pass = row.at("pass").get<std::string>();
    if (pass != "forward" && pass != "backward")
      fail(where + ".pass", fmt::format("expected forward or backward, got {}", shown(row.at("pass"))));
    problem_from_json(row.at("problem"), fmt::format("{}: {}.problem", path, where));
    if (row.at("status") != "ok") continue;
    const std::string samples_where = where + ".samples_ms";
    if (!row.contains("samples_ms")) fail(where, "an ok row lacks \"samples_ms\"");
    const nlohmann::json& samples = row.at("samples_ms");
    if (!samples.is_array() || samples.empty())
      fail(samples_where, fmt::format("expected a non-empty array of times, got {}", shown(samples)));
    for (const nlohmann::json& t : samples)
      if (!t.is_number() || !(t.get<double>() > 0) || !std::isfinite(t.get<double>()))
        fail(samples_where, fmt::format("expected positive times in ms, got {}", shown(t)));
  }
}

}  // namespace

nlohmann::json problem_to_json(const Problem& p) {
  return {{"n", p.n},
          {"c_in", p.c_in},
          {"c_out", p.c_out},
          {"h", p.h},
          {"w", p.w},
          {"kh", p.conv.kh},
          {"kw", p.conv.kw},
          {"stride_h", p.conv.stride_h},
          {"stride_w", p.conv.stride_w},
          {"pad_h", p.conv.pad_h},
          {"pad_w", p.conv.pad_w},
          {"dil_h", p.conv.dil_h},
          {"dil_w", p.conv.dil_w},
          {"bias", p.bias}};
}

Problem problem_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw InputError(fmt::format("{}: 'problem' is not an object", where));
  Problem p;
  for (const char* field : kIntFields) {
    if (!j.contains(field) || !j.at(field).is_number_integer())
      throw InputError(fmt::format("{}: problem field '{}' is missing or not an integer", where, field));
    set_problem_field(p, field, j.at(field).get<int64_t>());
  }
  if (j.contains("bias") && !j.at("bias").is_boolean())
    throw InputError(fmt::format("{}: problem field 'bias' is not true or false", where));
  p.bias = j.value("bias", false);
  if (const std::string reason = p.invalid_reason(); !reason.empty())
    throw InputError(fmt::format("{}: invalid problem: {}", where, reason));
  return p;
}

void finalize_rows(nlohmann::json& doc) {
  nlohmann::json& rows = doc.at("dsconv").at("rows");
  const Ceilings document_ceilings = ceilings_of(doc.at("dsconv"));

  // Medians of the baselines, by (impl, pass, problem key).
  std::map<std::string, double> medians;
  for (nlohmann::json& row : rows) {
    const bool ok = row.value("status", "") == "ok";
    // A row merged from another shard keeps the ceilings that shard measured.
    const Ceilings c = row.contains("ceilings") ? ceilings_of(row) : document_ceilings;
    for (const char* key : {"median_ms", "min_ms", "cv", "gbps", "tflops", "floor_ms", "roof_pct", "speedup_vs_cudnn",
                            "speedup_vs_torch_eager"})
      row.erase(key);
    if (!ok) continue;
    const std::vector<double> samples = row.at("samples_ms").get<std::vector<double>>();
    const SampleStats s = sample_stats(samples);
    const Problem p = problem_from_json(row.at("problem"), row.value("benchmark", "row"));
    const Pass pass = parse_pass(row.at("pass").get<std::string>());
    row["median_ms"] = s.median;
    row["min_ms"] = s.min;
    row["cv"] = s.cv;
    // A stage row carries its own byte and flop counts; a whole pass takes the problem's.
    const double bytes = number_or(row, "bytes", p.min_bytes(pass)), flops = number_or(row, "flops", p.flops(pass));
    row["gbps"] = bytes / (s.median * 1e-3) / 1e9;
    row["tflops"] = flops / (s.median * 1e-3) / 1e12;
    if (c.copy_gbps > 0) {
      const double rate = arithmetic_tflops(c, precision_of(row.value("precision", "fp32")));
      const double floor = 1e3 * std::max(bytes / (c.copy_gbps * 1e9), rate > 0 ? flops / (rate * 1e12) : 0.0);
      row["floor_ms"] = floor;
      row["roof_pct"] = 100.0 * floor / s.median;
    }
    medians[row.at("impl").get<std::string>() + "|" + row.at("pass").get<std::string>() + "|" + p.key()] = s.median;
  }
  for (nlohmann::json& row : rows) {
    if (row.value("status", "") != "ok") continue;
    const std::string suffix = "|" + row.at("pass").get<std::string>() + "|" + problem_key_of(row);
    const double median = row.at("median_ms").get<double>();
    for (const auto& [impl, field] :
         {std::pair{"cudnn", "speedup_vs_cudnn"}, {"torch_eager", "speedup_vs_torch_eager"}}) {
      const auto it = medians.find(std::string(impl) + suffix);
      row[field] = it != medians.end() ? nlohmann::json(it->second / median) : nlohmann::json();
    }
  }
}

std::string render_csv(const nlohmann::json& doc) {
  std::ostringstream out;
  out << "sweep,impl,pass,label,x,n,c_in,c_out,h,w,kh,kw,stride_h,stride_w,pad_h,pad_w,dil_h,dil_w,bias,precision,"
         "status,median_ms,min_ms,cv,gbps,tflops,roof_pct,speedup_vs_cudnn,speedup_vs_torch_eager,sm_mhz,"
         "clock_limited_pct,reason\n";
  const std::string sweep = doc.at("dsconv").value("sweep", "");
  auto quote = [](std::string s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char ch : s) q += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return q + "\"";
  };
  for (const nlohmann::json& row : doc.at("dsconv").at("rows")) {
    const nlohmann::json& p = row.at("problem");
    const nlohmann::json& x = row.at("x");
    out << quote(sweep) << ',' << row.at("impl").get<std::string>() << ',' << row.at("pass").get<std::string>() << ','
        << quote(row.value("label", "")) << ',' << quote(x.is_string() ? x.get<std::string>() : x.dump());
    for (const char* f : kIntFields) out << ',' << p.at(f).get<int64_t>();
    out << ',' << (p.value("bias", false) ? 1 : 0) << ',' << row.value("precision", "fp32") << ','
        << row.value("status", "");
    for (const char* f :
         {"median_ms", "min_ms", "cv", "gbps", "tflops", "roof_pct", "speedup_vs_cudnn", "speedup_vs_torch_eager"})
      out << ',' << fixed(row, f, "{:.6g}");
    const nlohmann::json clocks = row.value("clocks", nlohmann::json::object());
    for (const char* f : {"sm_mhz_median", "limited_pct"}) out << ',' << fixed(clocks, f, "{:.6g}");
    out << ',' << quote(row.value("reason", "")) << '\n';
  }
  return out.str();
}

std::string render_markdown(const nlohmann::json& doc) {
  const nlohmann::json& d = doc.at("dsconv");
  const nlohmann::json& dev = d.at("device");
  const nlohmann::json ceilings = d.value("ceilings", nlohmann::json::object());
  std::ostringstream out;
  out << fmt::format("# {}\n\n", d.value("title", d.value("sweep", "results")));
  out << fmt::format("{} · driver {} · CUDA {} · cuDNN {} · commit `{}` · {}\n\n", dev.value("gpu", "?"),
                     dev.value("driver", "?"), dev.value("cuda_runtime", "?"), dev.value("cudnn", "?"),
                     d.value("git_commit", "?"), d.value("created", ""));
  if (!ceilings.empty())
    out << fmt::format(
        "Measured ceilings: copy {:.0f} GB/s · FFMA peak {:.1f} TFLOP/s · SGEMM {:.1f} TFLOP/s · TF32 GEMM {:.0f} "
        "TFLOP/s. roof% = max(min bytes / copy, flops / rate) over the median time; fp32 rows use the FFMA peak.\n\n",
        number_or(ceilings, "copy_gbps", 0), number_or(ceilings, "ffma_tflops", 0),
        number_or(ceilings, "sgemm_tflops", 0), number_or(ceilings, "tf32_tflops", 0));
  if (std::any_of(d.at("rows").begin(), d.at("rows").end(),
                  [](const nlohmann::json& row) { return row.contains("ceilings"); }))
    out << "Some rows were merged from shards that measured other ceilings: their roof% uses their own "
           "(the `ceilings` of those rows in the JSON).\n\n";
  const nlohmann::json timing = d.value("timing", nlohmann::json::object());
  if (!timing.empty())
    out << fmt::format("Median of {} repetitions, {} L2, {}. `torch_*` rows are PyTorch reference lines.\n\n",
                       timing.value("repetitions", 0), timing.value("l2_flush", true) ? "flushed" : "warm",
                       timing.value("cuda_graph", false) ? "CUDA-graph replay" : "plain launches");
  bool any_clock = false;
  for (const nlohmann::json& row : d.at("rows"))
    any_clock |= !clock_label(row.value("clocks", nlohmann::json())).empty();
  if (any_clock)
    out << "SM clock: the median of NVML's readings every 10 ms while the row's repetitions ran; a limit named "
           "beside it (power cap, thermal) held the clock down in that share of the readings.\n\n";

  bool any_torch = false;
  for (const nlohmann::json& row : d.at("rows")) any_torch |= row.at("impl").get<std::string>().rfind("torch_", 0) == 0;
  std::vector<std::string> notes;
  for (const char* pass : {"forward", "backward"}) {
    std::ostringstream table;
    int count = 0;
    table << fmt::format("## {}\n\n", pass);
    table << fmt::format("| {} | impl | ms | GB/s | TFLOP/s | roof% | vs cudnn |{}{}\n", d.value("x_label", "x"),
                         any_torch ? " vs torch_eager |" : "", any_clock ? " SM clock |" : "");
    table << fmt::format("|---|---|--:|--:|--:|--:|--:|{}{}\n", any_torch ? "--:|" : "", any_clock ? "--:|" : "");
    for (const nlohmann::json& row : d.at("rows")) {
      if (row.at("pass") != pass) continue;
      ++count;
      const nlohmann::json& x = row.at("x");
      const std::string xs = x.is_string() ? x.get<std::string>() : x.dump();
      const std::string impl = row.at("impl").get<std::string>();
      const std::string status = row.value("status", "");
      std::string cells;
      if (status == "ok") {
        auto speedup = [&](const char* key) {
          return row.contains(key) && row.at(key).is_number() ? fmt::format("{:.2f}x", row.at(key).get<double>())
                                                              : std::string("-");
        };
        cells = fmt::format("{} | {} | {} | {} | {}{}", fixed(row, "median_ms", "{:.3f}"), fixed(row, "gbps", "{:.0f}"),
                            fixed(row, "tflops", "{:.2f}"), fixed(row, "roof_pct", "{:.1f}"),
                            speedup("speedup_vs_cudnn"), any_torch ? " | " + speedup("speedup_vs_torch_eager") : "");
        if (any_clock) {
          const std::string clock = clock_label(row.value("clocks", nlohmann::json()));
          cells += " | " + (clock.empty() ? std::string("-") : clock);
        }
      } else {
        notes.push_back(fmt::format("- {} {} at {} = {}: **{}**: {}", impl, pass, d.value("x_label", "x"), xs, status,
                                    row.value("reason", "")));
        cells =
            fmt::format("**{}** [{}] | | | |{}{}", status, notes.size(), any_torch ? " |" : "", any_clock ? " |" : "");
      }
      table << fmt::format("| {} | {} | {} |\n", xs, impl, cells);
    }
    if (count) out << table.str() << '\n';
  }
  if (!notes.empty()) {
    out << "## Rows without a time\n\n";
    for (size_t i = 0; i < notes.size(); ++i) out << fmt::format("[{}] {}\n", i + 1, notes[i].substr(2)) << '\n';
  }
  return out.str();
}

void check_report_path(const std::string& json_path) {
  std::filesystem::path base(json_path);
  if (base.extension() != ".json") throw InputError(fmt::format("{}: the result file must end in .json", json_path));
  for (const char* extension : {".json", ".csv", ".md"}) check_writable(base.replace_extension(extension).string());
}

void write_reports(const nlohmann::json& doc, const std::string& json_path) {
  std::filesystem::path base(json_path);
  check_report_path(json_path);
  // Render everything first: a failure leaves no file behind.
  const std::string json_text = doc.dump(1) + "\n", csv = render_csv(doc), md = render_markdown(doc);
  write_file_atomically(base.replace_extension(".csv").string(), csv);
  write_file_atomically(base.replace_extension(".md").string(), md);
  write_file_atomically(json_path, json_text);
}

bool any_row_failed(const nlohmann::json& doc) {
  for (const nlohmann::json& row : doc.at("dsconv").at("rows"))
    if (row.at("status") == "incorrect" || row.at("status") == "error") return true;
  return false;
}

nlohmann::json read_result_document(const std::string& path) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  if (!doc.is_object() || !doc.contains("dsconv") || !doc.at("dsconv").is_object() ||
      !doc.at("dsconv").contains("rows") || !doc.at("dsconv").at("rows").is_array() ||
      !doc.at("dsconv").contains("device") || !doc.at("dsconv").at("device").is_object())
    throw InputError(fmt::format("{}: not a dsconv result file (no dsconv.rows / dsconv.device)", path));
  check_result_fields(doc, path);
  return doc;
}

}  // namespace dsconv
