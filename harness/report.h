// Result documents (docs/results-format.md): the derived numbers of every row, and the CSV
// and markdown renderings. `dsconv sweep`, `dsconv bench` and `dsconv merge` all write
// through here, so the three agree.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "harness/problem.h"

namespace dsconv {

nlohmann::json problem_to_json(const Problem& problem);
// Throws InputError naming `where` when a field is missing or not an integer.
Problem problem_from_json(const nlohmann::json& j, const std::string& where);

// Recomputes, for every row, the statistics of its samples, GB/s, TFLOP/s, the floor and
// roof%, and the speedups over cudnn and torch_eager for the same pass and problem. Rows
// that are not "ok" get none of these.
void finalize_rows(nlohmann::json& doc);

std::string render_csv(const nlohmann::json& doc);
std::string render_markdown(const nlohmann::json& doc);

// Writes PATH (the JSON), and PATH with .csv and .md in place of .json, each atomically.
void write_reports(const nlohmann::json& doc, const std::string& json_path);
// Throws InputError when write_reports could not write to `json_path` (not .json, or a place
// that cannot be written); creates nothing. For commands to call before their run.
void check_report_path(const std::string& json_path);

// True when some row failed verification or failed while timed: the command exits 1.
bool any_row_failed(const nlohmann::json& doc);

// Reads a result document, checking it has the dsconv block. Throws InputError.
nlohmann::json read_result_document(const std::string& path);

}  // namespace dsconv
