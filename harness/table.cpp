#include "harness/table.h"

#include <algorithm>
#include <cctype>

namespace dsconv {

namespace {
bool looks_numeric(const std::string& s) {
  return !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) ||
                        ((s[0] == '-' || s[0] == '+' || s[0] == '.') && s.size() > 1));
}
}  // namespace

void TextTable::print(std::ostream& out) const {
  std::vector<size_t> width(header_.size(), 0);
  for (size_t c = 0; c < header_.size(); ++c) width[c] = header_[c].size();
  for (const auto& row : rows_)
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) width[c] = std::max(width[c], row[c].size());
  auto line = [&](const std::vector<std::string>& row, bool header) {
    std::string s;
    for (size_t c = 0; c < width.size(); ++c) {
      const std::string cell = c < row.size() ? row[c] : "";
      const std::string pad(width[c] - cell.size(), ' ');
      s += (c ? "  " : "") + (!header && looks_numeric(cell) ? pad + cell : cell + pad);
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    out << s << '\n';
  };
  line(header_, true);
  std::string rule;
  for (size_t c = 0; c < width.size(); ++c) rule += (c ? "  " : "") + std::string(width[c], '-');
  out << rule << '\n';
  for (const auto& row : rows_) line(row, false);
}

}  // namespace dsconv
