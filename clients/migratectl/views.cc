#include "clients/migratectl/views.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "crosstenant/v1/common.pb.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;

std::string StateName(v1::ConnectionState state) {
  return ShortEnumName(v1::ConnectionState_Name(state), "CONNECTION_STATE_");
}
std::string RoleName(v1::ConnectionRole role) {
  return ShortEnumName(v1::ConnectionRole_Name(role), "CONNECTION_ROLE_");
}
std::string PhaseName(v1::MigrationPhase phase) {
  return ShortEnumName(v1::MigrationPhase_Name(phase), "MIGRATION_PHASE_");
}
std::string StateName(v1::MigrationState state) {
  return ShortEnumName(v1::MigrationState_Name(state), "MIGRATION_STATE_");
}
std::string StateName(v1::UserMoveState state) {
  return ShortEnumName(v1::UserMoveState_Name(state), "USER_MOVE_STATE_");
}
std::string TrustName(v1::TrustStatus status) { return ShortEnumName(v1::TrustStatus_Name(status), "TRUST_STATUS_"); }
std::string CompatibilityName(v1::CompatibilityStatus status) {
  return ShortEnumName(v1::CompatibilityStatus_Name(status), "COMPATIBILITY_STATUS_");
}

namespace {

std::string CredentialName(const v1::CredentialInfo& credential) {
  std::string kind = ShortEnumName(v1::CredentialKind_Name(credential.kind()), "CREDENTIAL_KIND_");
  for (char& c : kind) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : kind)
    if (c == '_') c = '-';
  return kind;
}

std::string SignedInAs(const v1::Principal& principal) {
  if (!principal.user_principal_name().empty()) return principal.user_principal_name();
  if (!principal.client_id().empty()) return absl::StrCat("app ", principal.client_id());
  return "";
}

std::string Geos(const v1::Connection& connection) {
  std::vector<std::string> codes;
  for (const v1::Geo& geo : connection.geos()) codes.push_back(geo.location_code());
  return absl::StrJoin(codes, ",");
}

std::string Severity(v1::Severity severity) { return ShortEnumName(v1::Severity_Name(severity), "SEVERITY_"); }

bool IsDone(v1::UserMoveState state) {
  switch (state) {
    case v1::USER_MOVE_STATE_BLOCKED:
    case v1::USER_MOVE_STATE_SUCCESS:
    case v1::USER_MOVE_STATE_FAILED:
    case v1::USER_MOVE_STATE_STOPPED:
    case v1::USER_MOVE_STATE_VALIDATED:
      return true;
    default:
      return false;
  }
}

std::string Lower(std::string text) {
  for (char& c : text) {
    c = c == '_' ? ' ' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

}  // namespace

Table ConnectionsTable(const std::vector<v1::Connection>& connections) {
  Table table({"NAME", "ROLE", "STATE", "TENANT", "GEOS", "CREDENTIAL", "SIGNED IN AS", "HELD BY"});
  for (const v1::Connection& c : connections) {
    table.AddRow({c.name(), RoleName(c.role()), StateName(c.state()),
                  c.initial_domain().empty() ? c.admin_url() : c.initial_domain(), Geos(c),
                  CredentialName(c.credential()), SignedInAs(c.principal()), absl::StrJoin(c.holders(), ",")});
  }
  return table;
}

std::string ConnectionDetails(const v1::Connection& c) {
  std::string out = absl::StrCat("name:         ", c.name(), "\n", "role:         ", RoleName(c.role()), "\n",
                                 "state:        ", StateName(c.state()), "\n");
  if (!c.state_reason().empty()) absl::StrAppend(&out, "reason:       ", c.state_reason(), "\n");
  absl::StrAppend(&out, "admin url:    ", c.admin_url(), "\n");
  if (!c.tenant_id().empty()) {
    absl::StrAppend(&out, "tenant:       ", c.initial_domain(), " (", c.tenant_id(), ")\n");
  }
  absl::StrAppend(&out, "credential:   ", CredentialName(c.credential()));
  if (!c.credential().client_id().empty()) absl::StrAppend(&out, ", app ", c.credential().client_id());
  if (!c.credential().fingerprint().empty()) absl::StrAppend(&out, ", fingerprint ", c.credential().fingerprint());
  absl::StrAppend(&out, "\n");
  if (!SignedInAs(c.principal()).empty()) absl::StrAppend(&out, "signed in as: ", SignedInAs(c.principal()), "\n");
  for (const v1::Geo& geo : c.geos()) {
    absl::StrAppend(&out, "geo:          ", geo.location_code(), geo.default_geo() ? " (default) " : " ",
                    geo.admin_url(), "  host ", geo.my_site_host_url(), "\n");
  }
  if (c.has_health() && c.health().has_token_expire_time()) {
    absl::StrAppend(&out, "token until:  ", TimeText(c.health().token_expire_time()), "\n");
  }
  // Why a delete is refused: the live migrations that use the connection.
  for (const std::string& holder : c.holders()) absl::StrAppend(&out, "held by:      ", holder, "\n");
  for (const v1::Finding& warning : c.health().warnings()) {
    absl::StrAppend(&out, "warning:      ", warning.code(), ": ", warning.message(), "\n");
    if (!warning.remedy().empty()) absl::StrAppend(&out, "  fix:        ", warning.remedy(), "\n");
  }
  return out;
}

Table PreflightTable(const v1::PreflightReport& report) {
  Table table({"CHECK", "OUTCOME", "SEVERITY", "SUBJECT", "CODE", "MESSAGE"});
  for (const v1::PreflightCheckResult& result : report.results()) {
    table.AddRow({ShortEnumName(v1::PreflightCheck_Name(result.check()), "PREFLIGHT_CHECK_"),
                  ShortEnumName(v1::CheckOutcome_Name(result.outcome()), "CHECK_OUTCOME_"),
                  Severity(result.finding().severity()), result.finding().subject(), result.finding().code(),
                  result.finding().message()});
  }
  return table;
}

Table MigrationsTable(const std::vector<v1::Migration>& migrations) {
  Table table({"NAME", "DISPLAY NAME", "PHASE", "STATE", "USERS", "DONE", "CREATED (mesh)"});
  for (const v1::Migration& m : migrations) {
    table.AddRow({m.name(), m.display_name(), PhaseName(m.phase()), StateName(m.state()),
                  absl::StrCat(m.counts().total()), absl::StrCat(DoneCount(m.counts())), TimeText(m.create_time())});
  }
  return table;
}

std::string CountsSummary(const v1::UserMoveCounts& counts) {
  std::vector<std::string> parts;
  for (const v1::UserMoveStateCount& count : counts.by_state()) {
    parts.push_back(absl::StrCat(Lower(StateName(count.state())), " ", count.count()));
  }
  return absl::StrJoin(parts, ", ");
}

int DoneCount(const v1::UserMoveCounts& counts) {
  int done = 0;
  for (const v1::UserMoveStateCount& count : counts.by_state()) {
    if (IsDone(count.state())) done += count.count();
  }
  return done;
}

std::string MigrationDetails(const v1::Migration& m) {
  std::string out =
      absl::StrCat("name:      ", m.name(), m.display_name().empty() ? "" : "  (" + m.display_name() + ")", "\n",
                   "plan:      ", m.plan().source_connection(), " -> ", m.plan().target_connection(), ", identity map ",
                   m.identity_map_summary().user_rows(), " users, ", m.identity_map_summary().group_rows(), " groups\n",
                   "phase:     ", PhaseName(m.phase()), "\n", "state:     ", StateName(m.state()), "\n");
  if (!m.state_reason().empty()) absl::StrAppend(&out, "reason:    ", m.state_reason(), "\n");
  if (m.has_next_check_time()) absl::StrAppend(&out, "next check ", TimeText(m.next_check_time()), "\n");
  if (m.has_error()) absl::StrAppend(&out, "error:     ", m.error().code(), ": ", m.error().message(), "\n");
  absl::StrAppend(&out, "users:     ", m.counts().total(), " (", DoneCount(m.counts()),
                  " done): ", CountsSummary(m.counts()), "\n");
  for (const v1::SourceGeoQueue& queue : m.queues()) {
    absl::StrAppend(&out, "queue:     ", queue.source_geo(), "  active ", queue.active(), "/", queue.limit(),
                    ", waiting ", queue.queued(), "\n");
  }
  for (const v1::GeoPair& pair : m.geo_pairs()) {
    absl::StrAppend(&out, "geo pair:  ", pair.source_geo(), " -> ", pair.target_geo(), "  trust ",
                    TrustName(pair.source_trust()), "/", TrustName(pair.target_trust()), ", compatibility ",
                    CompatibilityName(pair.compatibility()), pair.identity_map_uploaded() ? ", map uploaded" : "",
                    "\n");
  }
  for (const v1::Finding& finding : m.findings()) {
    absl::StrAppend(&out, "finding:   ", Severity(finding.severity()), " ", finding.code(), ": ", finding.message(),
                    "\n");
  }
  absl::StrAppend(&out, "created:   ", TimeText(m.create_time()), "\n");
  if (m.has_end_time()) absl::StrAppend(&out, "ended:     ", TimeText(m.end_time()), "\n");
  return out;
}

// A geo as its location code: `NAM` stays, `connections/contoso/geos/nam` becomes `NAM`.
std::string GeoCode(const std::string& geo) {
  const size_t slash = geo.rfind('/');
  std::string code = slash == std::string::npos ? geo : geo.substr(slash + 1);
  for (char& c : code) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return code;
}

absl::StatusOr<ReportClock> ParseReportClock(absl::string_view text) {
  if (text == "mesh") return ReportClock::kMesh;
  if (text == "microsoft") return ReportClock::kMicrosoft;
  return absl::InvalidArgumentError(absl::StrCat("--clock: '", text, "' is not a clock (mesh, microsoft)"));
}

namespace {

// A row's times on one clock, named after it; the other clock's times are left out, so that no row
// mixes them (Microsoft's clock and the mesh's can disagree by any amount).
std::vector<std::pair<std::string, const google::protobuf::Timestamp*>> TimesOf(const v1::MigrationReportRow& row,
                                                                                ReportClock clock) {
  if (clock == ReportClock::kMicrosoft) {
    return {{"microsoft_start_time", &row.microsoft_start_time()}, {"microsoft_end_time", &row.microsoft_end_time()}};
  }
  return {{"mesh_queue_time", &row.queue_time()},
          {"mesh_start_time", &row.start_time()},
          {"mesh_end_time", &row.end_time()}};
}

}  // namespace

Table ReportTable(const std::vector<v1::MigrationReportRow>& rows, ReportClock clock) {
  const bool mesh = clock == ReportClock::kMesh;
  Table table({"SOURCE USER", "TARGET USER", "GEOS", "STATE", "ATTEMPTS",
               mesh ? "STARTED (mesh)" : "STARTED (Microsoft)", mesh ? "ENDED (mesh)" : "ENDED (Microsoft)", "ERROR"});
  for (const v1::MigrationReportRow& row : rows) {
    std::string geos =
        row.source_location_code().empty() && row.target_location_code().empty()
            ? ""
            : absl::StrCat(GeoCode(row.source_location_code()), "->", GeoCode(row.target_location_code()));
    std::string error =
        row.error_code().empty() ? row.error_message() : absl::StrCat(row.error_code(), ": ", row.error_message());
    table.AddRow({row.source_user_principal_name(), row.target_user_principal_name(), geos, StateName(row.state()),
                  absl::StrCat(row.attempts()), TimeText(mesh ? row.start_time() : row.microsoft_start_time()),
                  TimeText(mesh ? row.end_time() : row.microsoft_end_time()), error});
  }
  return table;
}

Table ReportCsvTable(const std::vector<v1::MigrationReportRow>& rows, ReportClock clock) {
  std::vector<std::string> header = {"user_move",
                                     "source_user_principal_name",
                                     "target_user_principal_name",
                                     "source_location_code",
                                     "target_location_code",
                                     "state"};
  for (const auto& [name, time] : TimesOf(v1::MigrationReportRow::default_instance(), clock)) {
    header.push_back(name);
  }
  header.insert(header.end(), {"error_code", "error_message", "attempts", "source_site_url", "target_site_url"});
  Table table(header);
  for (const v1::MigrationReportRow& row : rows) {
    std::vector<std::string> cells = {row.user_move(),
                                      row.source_user_principal_name(),
                                      row.target_user_principal_name(),
                                      row.source_location_code(),
                                      row.target_location_code(),
                                      StateName(row.state())};
    for (const auto& [name, time] : TimesOf(row, clock)) cells.push_back(TimeText(*time));
    cells.insert(cells.end(), {row.error_code(), row.error_message(), absl::StrCat(row.attempts()),
                               row.source_site_url(), row.target_site_url()});
    table.AddRow(cells);
  }
  return table;
}

nlohmann::json ReportJson(const std::string& migration, const v1::GetMigrationReportResponse& summary,
                          const std::vector<v1::MigrationReportRow>& rows, ReportClock clock) {
  nlohmann::json counts = nlohmann::json::object();
  for (const v1::UserMoveStateCount& count : summary.counts().by_state())
    counts[StateName(count.state())] = count.count();
  nlohmann::json json_rows = nlohmann::json::array();
  for (const v1::MigrationReportRow& row : rows) {
    nlohmann::json object = MessageToJson(row);
    object["state"] = StateName(row.state());
    for (const char* field : {"queue_time", "start_time", "end_time", "microsoft_start_time", "microsoft_end_time"}) {
      object.erase(field);
    }
    for (const auto& [name, time] : TimesOf(row, clock)) {
      if (time->seconds() != 0 || time->nanos() != 0) object[name] = TimeText(*time);
    }
    json_rows.push_back(std::move(object));
  }
  return {{"migration", migration},
          {"phase", PhaseName(summary.phase())},
          {"state", StateName(summary.state())},
          {"clock", clock == ReportClock::kMesh ? "mesh" : "microsoft"},
          {"report_time", TimeText(summary.report_time())},
          {"total", summary.counts().total()},
          {"counts", counts},
          {"rows", json_rows}};
}

Table ProblemsTable(const std::string& file, const std::vector<identity_map::Problem>& problems) {
  Table table({"WHERE", "CODE", "FIELD", "MESSAGE"});
  for (const identity_map::Problem& problem : problems) {
    std::string where = problem.line > 0 ? absl::StrCat(file, ":", problem.line) : file;  // line 0: the file
    if (problem.column > 0) absl::StrAppend(&where, ":", problem.column);
    table.AddRow({where, problem.code, problem.field, problem.message});
  }
  return table;
}

}  // namespace crosstenant::migratectl
