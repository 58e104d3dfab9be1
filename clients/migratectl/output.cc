#include "clients/migratectl/output.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/util/json_util.h"

namespace crosstenant::migratectl {
namespace {

// Characters, not bytes, so that names with accents line up.
size_t DisplayWidth(absl::string_view text) {
  size_t width = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

std::string CsvCell(const std::string& cell) {
  if (cell.find_first_of(",\"\r\n") == std::string::npos) return cell;
  return absl::StrCat("\"", absl::StrReplaceAll(cell, {{"\"", "\"\""}}), "\"");
}

std::string JsonKey(const std::string& column) {
  std::string key;
  for (char c : column) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      key.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    } else if (!key.empty() && key.back() != '_') {
      key.push_back('_');
    }
  }
  while (!key.empty() && key.back() == '_') key.pop_back();
  return key;
}

}  // namespace

absl::StatusOr<OutputFormat> ParseOutputFormat(absl::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "csv") return OutputFormat::kCsv;
  if (text == "json") return OutputFormat::kJson;
  return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not an output format; use table, csv or json"));
}

void Table::AddRow(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  rows_.push_back(std::move(cells));
}

std::string RenderTable(const Table& table) {
  const size_t n = table.columns().size();
  std::vector<size_t> widths(n, 0);
  for (size_t i = 0; i < n; ++i) widths[i] = DisplayWidth(table.columns()[i]);
  for (const auto& row : table.rows()) {
    for (size_t i = 0; i < n; ++i) widths[i] = std::max(widths[i], DisplayWidth(row[i]));
  }
  std::string out;
  auto add_line = [&](const std::vector<std::string>& cells) {
    std::string line;
    for (size_t i = 0; i < n; ++i) {
      line += cells[i];
      if (i + 1 < n) line.append(widths[i] - DisplayWidth(cells[i]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  };
  add_line(table.columns());
  for (const auto& row : table.rows()) add_line(row);
  return out;
}

std::string RenderCsv(const Table& table) {
  std::string out;
  auto add_line = [&](const std::vector<std::string>& cells) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out.push_back(',');
      out += CsvCell(cells[i]);
    }
    out.push_back('\n');
  };
  std::vector<std::string> header;
  for (const std::string& column : table.columns()) header.push_back(JsonKey(column));
  add_line(header);
  for (const auto& row : table.rows()) add_line(row);
  return out;
}

nlohmann::json TableToJson(const Table& table) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& row : table.rows()) {
    nlohmann::json object = nlohmann::json::object();
    for (size_t i = 0; i < table.columns().size(); ++i) object[JsonKey(table.columns()[i])] = row[i];
    rows.push_back(std::move(object));
  }
  return rows;
}

nlohmann::json MessageToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text, options).ok()) return nlohmann::json::object();
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string RenderJson(const nlohmann::json& json) { return json.dump(2) + "\n"; }

std::string TimeText(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "";
  return TimeText(absl::FromUnixSeconds(time.seconds()));
}

std::string TimeText(absl::Time time) { return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", time, absl::UTCTimeZone()); }

std::string FormatDurationShort(absl::Duration duration) {
  int64_t seconds = absl::ToInt64Seconds(duration);
  if (seconds < 0) seconds = 0;
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  return absl::StrFormat("%dh%02dm", seconds / 3600, (seconds % 3600) / 60);
}

std::string ShortEnumName(const std::string& name, absl::string_view prefix) {
  std::string shortened = absl::StartsWith(name, prefix) ? name.substr(prefix.size()) : name;
  return shortened == "UNSPECIFIED" ? "" : shortened;
}

}  // namespace crosstenant::migratectl
