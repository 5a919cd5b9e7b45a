// A plain-text table with left-aligned columns sized to their widest cell, for `list` and
// `executors` (and the attempts of a task).
//
//   Table table({"ID", "STATE"});
//   table.AddRow({"t-1", "queued"});
//   table.Print(std::cout);
#ifndef TASKWIRE_CLI_TABLE_H_
#define TASKWIRE_CLI_TABLE_H_

#include <ostream>
#include <string>
#include <vector>

namespace taskwire::cli {

class Table {
 public:
  // An empty header prints no header line.
  explicit Table(std::vector<std::string> header, std::string indent = "");

  void AddRow(std::vector<std::string> row);
  bool empty() const { return rows_.empty(); }
  // Columns are two spaces apart; the last one is not padded. Flushes `out`.
  void Print(std::ostream& out) const;

 private:
  void PrintRow(std::ostream& out, const std::vector<std::string>& row,
                const std::vector<size_t>& widths) const;

  std::vector<std::string> header_;
  std::string indent_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace taskwire::cli

#endif  // TASKWIRE_CLI_TABLE_H_
