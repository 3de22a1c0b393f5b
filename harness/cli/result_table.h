// The terminal table of a result document: one line per row.
#pragma once

#include <nlohmann/json.hpp>

#include <ostream>

namespace dsconv::cli {

void print_result_table(const nlohmann::json& doc, std::ostream& out);

}  // namespace dsconv::cli
