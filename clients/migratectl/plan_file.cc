#include "clients/migratectl/plan_file.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "clients/migratectl/input_file.h"
#include "services/common/config_reader.h"
#include "services/common/status_macros.h"

namespace crosstenant::migratectl {
namespace {

bool ValidId(absl::string_view id) {
  if (id.empty() || id.size() > 63 || !absl::ascii_islower(id[0])) return false;
  for (char c : id) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') return false;
  }
  return true;
}

// Reads an RFC 3339 time under `key` into `out`; records a problem naming the line otherwise.
void ReadTime(ConfigReader& reader, absl::string_view key, google::protobuf::Timestamp* out, bool* present) {
  std::string text;
  reader.Read(key, &text);
  *present = !text.empty();
  if (text.empty()) return;
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    reader.AddError(key, absl::StrCat("expected an RFC 3339 UTC time such as 2026-12-05T20:00:00Z, got '", text, "'"));
    return;
  }
  out->set_seconds(absl::ToUnixSeconds(time));
}

}  // namespace

std::string ConnectionName(absl::string_view name) {
  return absl::StartsWith(name, "connections/") ? std::string(name) : absl::StrCat("connections/", name);
}

std::string MigrationName(absl::string_view name) {
  return absl::StartsWith(name, "migrations/") ? std::string(name) : absl::StrCat("migrations/", name);
}

absl::StatusOr<PlanFile> ParsePlan(absl::string_view text, absl::string_view source_name, absl::string_view base_dir,
                                   absl::string_view default_id) {
  ASSIGN_OR_RETURN(ConfigReader reader, ConfigReader::FromString(text, source_name));
  PlanFile plan;
  plan.migration_id = std::string(default_id);
  reader.Read("migration", &plan.migration_id);
  if (!ValidId(plan.migration_id)) {
    reader.AddError("migration", absl::StrCat("'", plan.migration_id,
                                              "' is not a migration id: 1-63 characters of a-z, 0-9 and '-', "
                                              "starting with a letter"));
  }
  reader.Read("display_name", &plan.display_name);
  if (plan.display_name.size() > 200) reader.AddError("display_name", "at most 200 characters");

  std::string source, target, identity_map;
  reader.Read("source", &source);
  reader.Read("target", &target);
  reader.Read("identity_map", &identity_map);
  if (source.empty()) reader.AddError("source", "required: the source connection, e.g. 'source: contoso'");
  if (target.empty()) reader.AddError("target", "required: the target connection, e.g. 'target: fabrikam'");
  if (!source.empty() && source == target) reader.AddError("target", "must differ from source");
  if (identity_map.empty()) {
    reader.AddError("identity_map", "required: the identity map CSV, e.g. 'identity_map: identity-map.csv'");
  }
  plan.source_connection = source.empty() ? "" : ConnectionName(source);
  plan.target_connection = target.empty() ? "" : ConnectionName(target);
  if (!identity_map.empty()) {
    std::filesystem::path path(identity_map);
    plan.identity_map_path = path.is_absolute() || base_dir.empty()
                                 ? path.string()
                                 : (std::filesystem::path(std::string(base_dir)) / path).string();
  }

  ConfigReader window = reader.Section("window");
  bool has_begin = false, has_end = false;
  ReadTime(window, "begin", plan.options.mutable_window()->mutable_preferred_begin_time(), &has_begin);
  ReadTime(window, "end", plan.options.mutable_window()->mutable_preferred_end_time(), &has_end);
  if (has_begin && has_end &&
      plan.options.window().preferred_end_time().seconds() <= plan.options.window().preferred_begin_time().seconds()) {
    window.AddError("end", "must be after window.begin");
  }
  if (!has_begin) plan.options.mutable_window()->clear_preferred_begin_time();
  if (!has_end) plan.options.mutable_window()->clear_preferred_end_time();
  if (!has_begin && !has_end) plan.options.clear_window();

  ConfigReader options = reader.Section("options");
  bool validate_only = false, remove_trust = false;
  int max_queued = 0;
  std::string cleanup = "keep";
  options.Read("validate_only", &validate_only);
  options.Read("max_queued_per_source_geo", &max_queued, 1, 4000);
  options.Read("remove_trust_when_done", &remove_trust);
  options.Read("redirect_cleanup", &cleanup);
  plan.options.set_validate_only(validate_only);
  plan.options.set_max_queued_per_source_geo(max_queued);
  plan.options.set_remove_trust_when_done(remove_trust);
  if (cleanup == "keep") {
    plan.options.set_redirect_cleanup(crosstenant::v1::REDIRECT_CLEANUP_KEEP);
  } else if (cleanup == "remove") {
    plan.options.set_redirect_cleanup(crosstenant::v1::REDIRECT_CLEANUP_REMOVE);
  } else if (cleanup == "remove_permanently") {
    plan.options.set_redirect_cleanup(crosstenant::v1::REDIRECT_CLEANUP_REMOVE_PERMANENTLY);
  } else {
    options.AddError("redirect_cleanup",
                     absl::StrCat("expected keep, remove or remove_permanently, got '", cleanup, "'"));
  }
  RETURN_IF_ERROR(reader.Finish());
  return plan;
}

absl::StatusOr<PlanFile> LoadPlanFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadInputFile(path, "plan", kMaxPlanFileBytes));
  std::string default_id = std::filesystem::path(path).stem().string();
  for (char& c : default_id) {
    c = absl::ascii_tolower(c);
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c)) c = '-';
  }
  std::string base_dir = std::filesystem::path(path).parent_path().string();
  return ParsePlan(text, path, base_dir, default_id);
}

}  // namespace crosstenant::migratectl
