#ifndef CROSSTENANT_CLIENTS_MIGRATECTL_VIEWS_H_
#define CROSSTENANT_CLIENTS_MIGRATECTL_VIEWS_H_

// What each command shows: crosstenant.v1 messages turned into Tables (output.h) and short texts.
// Pure functions of their arguments, so that the golden-file tests pin every format down.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "clients/migratectl/output.h"
#include "crosstenant/v1/connection.pb.h"
#include "crosstenant/v1/migration.pb.h"
#include "crosstenant/v1/orchestrator.pb.h"
#include "crosstenant/v1/tenant.pb.h"
#include "services/identity_map/identity_map.h"

namespace crosstenant::migratectl {

// Short names of the enums shown everywhere ("CONNECTED", "MOVES", "SUCCESS", "GOOD_TO_PROCEED").
std::string StateName(crosstenant::v1::ConnectionState state);
std::string RoleName(crosstenant::v1::ConnectionRole role);
std::string PhaseName(crosstenant::v1::MigrationPhase phase);
std::string StateName(crosstenant::v1::MigrationState state);
std::string StateName(crosstenant::v1::UserMoveState state);
std::string TrustName(crosstenant::v1::TrustStatus status);
std::string CompatibilityName(crosstenant::v1::CompatibilityStatus status);

// Connections: NAME ROLE STATE TENANT GEOS CREDENTIAL SIGNED-IN-AS.
Table ConnectionsTable(const std::vector<crosstenant::v1::Connection>& connections);
// One connection in detail, "key: value" lines (state reason, sign-in prompt, geos, warnings).
std::string ConnectionDetails(const crosstenant::v1::Connection& connection);

// Preflight results: CHECK OUTCOME SEVERITY SUBJECT CODE MESSAGE, then remedies below the table.
Table PreflightTable(const crosstenant::v1::PreflightReport& report);

// Migrations: NAME DISPLAY-NAME PHASE STATE USERS DONE CREATED (mesh).
Table MigrationsTable(const std::vector<crosstenant::v1::Migration>& migrations);
// One migration in detail: phase, state and reason, counts, queues per source geo, geo pairs, findings.
std::string MigrationDetails(const crosstenant::v1::Migration& migration);

// "success 500, blocked 8, failed 7" in state order; "" for no users.
std::string CountsSummary(const crosstenant::v1::UserMoveCounts& counts);
// Users in a terminal state (BLOCKED, SUCCESS, FAILED, STOPPED, VALIDATED).
int DoneCount(const crosstenant::v1::UserMoveCounts& counts);

// A geo as its location code: `NAM` stays `NAM`, `connections/contoso/geos/nam` becomes `NAM`.
std::string GeoCode(const std::string& geo);

// Whose clock a report's times are on: the mesh's (when the mesh queued, started and saw the end of a
// move; ordered, queued <= started <= ended <= report time) or Microsoft's (what Microsoft reported). A
// report shows one of them, never both in a row. Parsed from `--clock=mesh|microsoft`.
enum class ReportClock { kMesh, kMicrosoft };
absl::StatusOr<ReportClock> ParseReportClock(absl::string_view text);

// The report for people: SOURCE TARGET GEOS STATE ATTEMPTS STARTED ENDED ERROR, each time column
// labelled with its clock: "STARTED (mesh)", or "STARTED (Microsoft)".
Table ReportTable(const std::vector<crosstenant::v1::MigrationReportRow>& rows, ReportClock clock = ReportClock::kMesh);
// The report for spreadsheets: every column of MigrationReportRow in field order, the times of one clock
// named after it (mesh_queue_time, mesh_start_time, mesh_end_time; or microsoft_start_time,
// microsoft_end_time).
Table ReportCsvTable(const std::vector<crosstenant::v1::MigrationReportRow>& rows,
                     ReportClock clock = ReportClock::kMesh);
// The report for scripts: {"migration","phase","state","clock","report_time","counts":{state:n},"total",
// "rows":[...]}, each row's times named as in the CSV.
nlohmann::json ReportJson(const std::string& migration, const crosstenant::v1::GetMigrationReportResponse& summary,
                          const std::vector<crosstenant::v1::MigrationReportRow>& rows,
                          ReportClock clock = ReportClock::kMesh);

// Identity-map problems: WHERE (file:line:column) CODE FIELD MESSAGE.
Table ProblemsTable(const std::string& file, const std::vector<identity_map::Problem>& problems);

}  // namespace crosstenant::migratectl

#endif  // CROSSTENANT_CLIENTS_MIGRATECTL_VIEWS_H_
