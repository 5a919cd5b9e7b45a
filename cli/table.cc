#include "cli/table.h"

#include <algorithm>
#include <utility>

namespace taskwire::cli {

Table::Table(std::vector<std::string> header, std::string indent)
    : header_(std::move(header)), indent_(std::move(indent)) {}

void Table::AddRow(std::vector<std::string> row) { rows_.push_back(std::move(row)); }

void Table::Print(std::ostream& out) const {
  std::vector<size_t> widths(header_.size());
  auto widen = [&widths](const std::vector<std::string>& row) {
    if (widths.size() < row.size()) widths.resize(row.size());
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  };
  widen(header_);
  for (const auto& row : rows_) widen(row);
  if (!header_.empty()) PrintRow(out, header_, widths);
  for (const auto& row : rows_) PrintRow(out, row, widths);
  out.flush();
}

void Table::PrintRow(std::ostream& out, const std::vector<std::string>& row,
                     const std::vector<size_t>& widths) const {
  std::string line = indent_;
  for (size_t i = 0; i < row.size(); ++i) {
    line += row[i];
    if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + 2, ' ');
  }
  line.erase(line.find_last_not_of(' ') + 1);  // an empty last cell leaves no padding behind
  out << line << '\n';
}

}  // namespace taskwire::cli
