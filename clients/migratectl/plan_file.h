#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_PLAN_FILE_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_PLAN_FILE_H_

// The migration plan file of `migratectl migrate start --plan FILE`: a YAML file kept in git that
// declares one migration (deploy/local/demo-plan.yaml is a sample):
//
//   migration: contoso-to-fabrikam      # id, [a-z][a-z0-9-]{0,62}; default: from the file name
//   display_name: Contoso to Fabrikam, wave 1
//   source: contoso                      # source connection (`connections/contoso` also accepted)
//   target: fabrikam                     # target connection
//   identity_map: identity-map.csv       # Microsoft's six-column CSV, relative to this file
//   window:                              # optional, UTC (RFC 3339)
//     begin: 2026-12-05T20:00:00Z
//     end: 2026-12-06T06:00:00Z
//   options:                             # all optional
//     validate_only: false               # rehearsal: -ValidationOnly, nothing moves
//     max_queued_per_source_geo: 4000    # 1..4000
//     remove_trust_when_done: false      # step 7: Remove-SPOCrossTenantRelationship on both sides
//     redirect_cleanup: keep             # keep | remove | remove_permanently
//
// Every problem (unknown key, wrong type, bad value, missing key) is reported at once, each naming the
// file, line and column: "plan.yaml:7:10: window.begin: expected an RFC 3339 UTC time such as
// 2026-12-05T20:00:00Z, got 'tomorrow'".

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "crosstenant/v1/migration.pb.h"

namespace crosstenant::migratectl {

struct PlanFile {
  std::string migration_id;
  std::string display_name;
  std::string source_connection;  // `connections/{connection}`
  std::string target_connection;  // `connections/{connection}`
  std::string identity_map_path;  // resolved against the plan file's directory
  crosstenant::v1::MigrationOptions options;
};

// Parses plan text; `source_name` names it in errors, `base_dir` resolves a relative identity map
// path, `default_id` is the migration id when the file sets none.
absl::StatusOr<PlanFile> ParsePlan(absl::string_view text, absl::string_view source_name, absl::string_view base_dir,
                                   absl::string_view default_id);

// Reads and parses `path`; the default id is the file name without its extension, lower-cased, with
// characters outside [a-z0-9-] turned into '-'.
absl::StatusOr<PlanFile> LoadPlanFile(const std::string& path);

// `contoso` -> `connections/contoso`; names already prefixed are kept.
std::string ConnectionName(absl::string_view name);
// `merger` -> `migrations/merger`.
std::string MigrationName(absl::string_view name);

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_PLAN_FILE_H_
