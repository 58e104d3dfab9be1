#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_OUTPUT_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_OUTPUT_H_

// How migratectl prints results: aligned tables for people, CSV for spreadsheets, JSON for scripts.
// Every command builds one Table (and, for JSON, the response messages themselves) and prints it in
// the format chosen with --format.
//
//   Table table({"NAME", "STATE"});
//   table.AddRow({"connections/contoso", "CONNECTED"});
//   std::cout << RenderTable(table);
//   // NAME                 STATE
//   // connections/contoso  CONNECTED

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "nlohmann/json.hpp"

namespace crosstenant::migratectl {

enum class OutputFormat { kTable, kCsv, kJson };

// "table", "csv" or "json"; anything else is INVALID_ARGUMENT naming the choices.
absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text);

// Rows of text under column headings.
class Table {
 public:
  explicit Table(std::vector<std::string> columns) : columns_(std::move(columns)) {}
  // A row with as many cells as there are columns (missing cells are empty, extra ones dropped).
  void AddRow(std::vector<std::string> cells);

  const std::vector<std::string>& columns() const { return columns_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }

 private:
  std::vector<std::string> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// Columns padded to their widest cell (counted in UTF-8 characters), two spaces apart, the last column
// not padded; every line ends in '\n'. A table without rows prints only its header.
std::string RenderTable(const Table& table);

// RFC 4180 quoting (a cell with a comma, quote or line break is quoted, quotes doubled): a header row,
// then the rows, lines ending in '\n'.
std::string RenderCsv(const Table& table);

// The table as a JSON array of objects keyed by the column headings in snake_case ("SOURCE USER" ->
// "source_user").
nlohmann::json TableToJson(const Table& table);

// A protobuf message as JSON with the proto field names (`source_user_principal_name`), enums by
// name, and fields at their default value left out.
nlohmann::json MessageToJson(const google::protobuf::Message& message);

// Prints JSON the way every command does: indented by two, with a final newline.
std::string RenderJson(const nlohmann::json& json);

// "2026-11-28T11:40:02Z" (UTC, whole seconds), or "" when unset.
std::string TimeText(const google::protobuf::Timestamp& time);
std::string TimeText(absl::Time time);

// "42s", "3m05s", "1h02m": short, for ETAs and ages.
std::string FormatDurationShort(absl::Duration duration);

// An enum value name without its type prefix, e.g. ("CONNECTION_STATE_CONNECTED", "CONNECTION_STATE_")
// -> "CONNECTED"; "UNSPECIFIED" becomes "".
std::string ShortEnumName(const std::string& name, absl::string_view prefix);

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_OUTPUT_H_
