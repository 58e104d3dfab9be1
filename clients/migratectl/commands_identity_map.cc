// Steps 4 and 5: the identity map. Generated from both directories, validated before anything reaches
// Microsoft, and uploaded to every target geo.

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "clients/migratectl/commands.h"
#include "clients/migratectl/exit_codes.h"
#include "clients/migratectl/input_file.h"
#include "clients/migratectl/plan_file.h"
#include "clients/migratectl/user_matcher.h"
#include "clients/migratectl/views.h"
#include "services/common/atomic_file.h"
#include "services/common/errors.h"
#include "services/common/status_macros.h"
#include "services/identity_map/identity_map.h"

namespace crosstenant::migratectl {
namespace v1 = crosstenant::v1;

absl::StatusOr<std::string> ReadIdentityMapFile(const std::string& path) {
  return ReadInputFile(path, "identity map", kMaxIdentityMapFileBytes);
}

// INVALID_ARGUMENT naming every problem as `FILE:LINE:COLUMN` (the first 100, like the orchestrator).
absl::Status IdentityMapError(const std::string& path, const std::vector<identity_map::Problem>& problems) {
  std::vector<FieldViolation> violations;
  for (const identity_map::Problem& problem : problems) {
    if (violations.size() == 100) break;
    std::string where = absl::StrCat(path, ":", problem.line);
    if (problem.column > 0) absl::StrAppend(&where, ":", problem.column);
    violations.push_back(
        {where, absl::StrCat(problem.code, problem.field.empty() ? "" : " " + problem.field, ": ", problem.message)});
  }
  return InvalidArgumentWithViolations(
      absl::StrCat(
          path, ": the identity map has ", problems.size(), " problem(s)",
          problems.size() > 100 ? " (the first 100 follow; `migratectl identity-map validate` lists all)" : ""),
      violations);
}

namespace {

absl::StatusOr<std::string> SourceTenantId(Invocation& in, const std::string& source, const std::string& tenant_id) {
  if (!tenant_id.empty()) return tenant_id;
  if (source.empty()) return std::string();
  ASSIGN_OR_RETURN(v1::Connection connection, GetConnection(in, source));
  return connection.tenant_id();
}

absl::StatusOr<std::vector<v1::TenantUser>> ListUsers(Invocation& in, const std::string& connection) {
  std::vector<v1::TenantUser> users;
  v1::ListTenantUsersRequest request;
  request.set_connection(ConnectionName(connection));
  request.set_page_size(999);
  do {
    ASSIGN_OR_RETURN(
        v1::ListTenantUsersResponse response,
        in.Call<v1::ListTenantUsersResponse>(in.connector(), &v1::TenantConnector::Stub::ListTenantUsers, request));
    users.insert(users.end(), response.users().begin(), response.users().end());
    request.set_page_token(response.next_page_token());
  } while (!request.page_token().empty());
  return users;
}

}  // namespace

absl::Status RunIdentityMapValidate(Invocation& in) {
  std::string source, tenant_id;
  int max_problems = 100;
  in.flags().Text("source", &source, "CONNECTION", "check column 2 against this source connection's tenant id");
  in.flags().Text("source-tenant-id", &tenant_id, "GUID", "check column 2 against this tenant id");
  in.flags().Int("max-problems", &max_problems, 1, 1000000, "list at most N problems, then count the rest");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Validates Microsoft's identity-map CSV the way the orchestrator does, and "
                                       "lists its problems at once with their file, line and column (the first "
                                       "--max-problems, then how many more): six columns, "
                                       "no header, User and Group rows, GUIDs, UPNs and e-mails, apostrophes, "
                                       "one source tenant, one-to-one both ways. Exit 3 when there is a problem.",
                                       "the checks Add-SPOTenantIdentityMap does not make", "FILE", ""},
                                      1, 1));
  if (!run) return absl::OkStatus();
  const std::string& path = in.positionals()[0];
  ASSIGN_OR_RETURN(std::string csv, ReadIdentityMapFile(path));
  identity_map::ValidationOptions options;
  options.max_problems = max_problems;
  ASSIGN_OR_RETURN(options.expected_source_tenant_id, SourceTenantId(in, source, tenant_id));
  identity_map::ParseResult parsed = identity_map::ParseCsv(csv, options);
  csv.clear();
  csv.shrink_to_fit();
  // Every problem found: those listed, without the TOO_MANY_PROBLEMS line, and those left out.
  const int64_t problem_count =
      static_cast<int64_t>(parsed.problems.size()) - (parsed.problems_omitted > 0 ? 1 : 0) + parsed.problems_omitted;
  nlohmann::json json = {{"file", path},
                         {"valid", parsed.problems.empty()},
                         {"user_rows", parsed.map.users.size()},
                         {"group_rows", parsed.map.groups.size()},
                         {"problem_count", problem_count},
                         {"problems", TableToJson(ProblemsTable(path, parsed.problems))}};
  if (in.format() == OutputFormat::kJson) {
    in.out() << RenderJson(json);
  } else if (in.format() == OutputFormat::kCsv) {
    in.out() << RenderCsv(ProblemsTable(path, parsed.problems));
  } else if (parsed.problems.empty()) {
    in.out() << path << ": valid: " << parsed.map.users.size() << " users, " << parsed.map.groups.size() << " groups\n";
  } else {
    in.out() << RenderTable(ProblemsTable(path, parsed.problems));
  }
  if (parsed.problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem_count, " problem(s)"));
}

absl::Status RunIdentityMapUpload(Invocation& in) {
  std::string target, geo;
  in.flags().Text("target", &target, "CONNECTION", "the target connection (required)");
  in.flags().Text("geo", &geo, "CODE", "only this target geo (default: every geo, as Microsoft requires)");
  ASSIGN_OR_RETURN(bool run, in.Parse({"Validates the identity map, then uploads it to every geo of the target "
                                       "tenant (Graph crossOrganizationUserMappings, 50 rows a request).",
                                       "Add-SPOTenantIdentityMap -IdentityMapPath <file> (on each target geo)", "FILE",
                                       "Nothing is uploaded when the map has a problem."},
                                      1, 1));
  if (!run) return absl::OkStatus();
  if (target.empty()) return UsageError("--target=CONNECTION is required");
  const std::string& path = in.positionals()[0];
  ASSIGN_OR_RETURN(std::string csv, ReadIdentityMapFile(path));
  identity_map::ParseResult parsed = identity_map::ParseCsv(csv);
  if (!parsed.problems.empty()) return IdentityMapError(path, parsed.problems);
  ASSIGN_OR_RETURN(v1::Connection connection, GetConnection(in, target));
  Table table({"GEO", "USERS", "GROUPS", "REQUESTS", "SHA256"});
  nlohmann::json json = nlohmann::json::array();
  bool any = false;
  for (const v1::Geo& g : AccessibleGeos(connection)) {
    if (!geo.empty() && absl::AsciiStrToLower(g.location_code()) != absl::AsciiStrToLower(geo)) continue;
    any = true;
    v1::UploadIdentityMapRequest request;
    request.set_geo(g.name());
    request.mutable_identity_map()->set_csv(csv);
    request.set_request_id(NewRequestId());
    ASSIGN_OR_RETURN(
        v1::UploadIdentityMapResponse response,
        in.Call<v1::UploadIdentityMapResponse>(in.connector(), &v1::TenantConnector::Stub::UploadIdentityMap, request));
    table.AddRow({g.name(), absl::StrCat(response.summary().user_rows()), absl::StrCat(response.summary().group_rows()),
                  absl::StrCat(response.upstream_request_count()), response.summary().sha256()});
    nlohmann::json row = MessageToJson(response);
    row["geo"] = g.name();
    json.push_back(row);
  }
  if (!any) return absl::NotFoundError(absl::StrCat(connection.name(), " has no geo ", geo));
  in.Print(table, json);
  return absl::OkStatus();
}

absl::Status RunIdentityMapGenerate(Invocation& in) {
  std::string source, target, output;
  bool include_guests = false;
  in.flags().Text("source", &source, "CONNECTION", "the source connection (required)");
  in.flags().Text("target", &target, "CONNECTION", "the target connection (required)");
  in.flags().Text("output", &output, "FILE", "write the CSV here (default: standard output)");
  in.flags().Switch("include-guests", &include_guests, "map guest users too (as GuestUser)");
  ASSIGN_OR_RETURN(bool run,
                   in.Parse({"Reads the users of both tenants and matches each source user to the target user "
                             "pre-created for it: same UPN local part, else same mail. Writes Microsoft's "
                             "six-column CSV and lists the users it could not match, with the reason.",
                             "the identity-map CSV written by hand for Add-SPOTenantIdentityMap", "",
                             "Review the map, then `migratectl identity-map validate` and `upload`, or name it "
                             "in the plan file."}));
  if (!run) return absl::OkStatus();
  if (source.empty() || target.empty()) {
    return UsageError("--source and --target are required");
  }
  ASSIGN_OR_RETURN(v1::Connection source_connection, GetConnection(in, source));
  ASSIGN_OR_RETURN(std::vector<v1::TenantUser> source_users, ListUsers(in, source));
  ASSIGN_OR_RETURN(std::vector<v1::TenantUser> target_users, ListUsers(in, target));
  MatchOptions options;
  options.source_tenant_id = source_connection.tenant_id();
  options.include_guests = include_guests;
  UserMatch match = MatchUsers(source_users, target_users, options);
  const std::string csv = identity_map::ToCsv(match.map);
  // The summary goes where it does not mix with the CSV.
  std::ostream& report = output.empty() ? in.err() : in.out();
  if (output.empty()) {
    in.out() << csv;
  } else {
    RETURN_IF_ERROR(WriteFileAtomically(output, csv));
  }
  int by_upn = 0;
  for (const std::string& how : match.matched_by) by_upn += how == "upn" ? 1 : 0;
  report << "matched " << match.map.users.size() << " of " << source_users.size() << " source users (" << by_upn
         << " by UPN, " << match.map.users.size() - by_upn << " by mail) against " << target_users.size()
         << " target users" << (output.empty() ? "" : "; wrote " + output) << "\n";
  if (!match.unmatched.empty()) {
    Table table({"UNMATCHED SOURCE USER", "REASON"});
    for (const UnmatchedUser& user : match.unmatched) table.AddRow({user.source_upn, user.reason});
    report << RenderTable(table);
  }
  return absl::OkStatus();
}

}  // namespace crosstenant::migratectl
