#include "services/tenant_emulator/graph_routes.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "services/tenant_emulator/bearer_auth.h"

namespace crosstenant::emulator {
namespace {

constexpr int kMaxBatchRequests = 20;
constexpr int kMaxMappingItems = 50;
constexpr int kMaxPageSize = 999;
// Values in one $filter `in` list (Graph: "requests are limited to 15 expressions in the filter clause").
constexpr std::size_t kMaxFilterValues = 15;

const AccessRule kReadOrganization{{"Organization.Read.All", "Organization.ReadWrite.All", "Directory.Read.All",
                                    "Directory.ReadWrite.All", "User.Read.All"},
                                   {"User.Read", "Organization.Read.All", "Directory.Read.All", "User.Read.All"},
                                   false,
                                   {},
                                   "Authorization_RequestDenied",
                                   "Insufficient privileges to complete the operation."};
const AccessRule kReadUsers{
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadBasic.All"},
    {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadBasic.All"},
    false,
    {},
    "Authorization_RequestDenied",
    "Insufficient privileges to complete the operation."};
const AccessRule kReadDrives{
    {"Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All", "Sites.FullControl.All"},
    {"Files.Read.All", "Files.ReadWrite.All", "Sites.Read.All", "Sites.ReadWrite.All", "Sites.FullControl.All"},
    false,
    {},
    "Authorization_RequestDenied",
    "Insufficient privileges to complete the operation."};
const AccessRule kMe{{},
                     {"User.Read", "Directory.Read.All", "User.Read.All"},
                     true,
                     {},
                     "Authorization_RequestDenied",
                     "Insufficient privileges to complete the operation."};

AccessRule MigrationRule(bool write) {
  std::vector<std::string> permissions = {"SharePointCrossTenantMigration.Manage.All"};
  if (!write) permissions.push_back("SharePointCrossTenantMigration.Read.All");
  // The sharePointMigrationTask pages document 403 "Access denied".
  return {permissions, permissions, false, SharePointAdminRoles(), "accessDenied", "Access denied"};
}

// The quoted argument of an OData function segment: "f(name='a''b')" → "a'b".
std::string QuotedArgument(const std::string& segment) {
  const std::size_t open = segment.find('\'');
  const std::size_t close = segment.rfind('\'');
  if (open == std::string::npos || close <= open) return "";
  std::string value = segment.substr(open + 1, close - open - 1);
  std::string out;
  for (std::size_t i = 0; i < value.size(); ++i) {
    out += value[i];
    if (value[i] == '\'' && i + 1 < value.size() && value[i + 1] == '\'') ++i;
  }
  return out;
}

// The values of an OData `in` list: "('a','b''c')" → {"a", "b'c"}; nullopt when it is not a
// parenthesised, comma-separated list of quoted strings.
std::optional<std::vector<std::string>> QuotedList(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (!absl::ConsumePrefix(&text, "(") || !absl::ConsumeSuffix(&text, ")")) return std::nullopt;
  std::vector<std::string> values;
  while (true) {
    text = absl::StripLeadingAsciiWhitespace(text);
    if (!absl::ConsumePrefix(&text, "'")) return std::nullopt;
    std::string value;
    while (true) {
      const std::size_t quote = text.find('\'');
      if (quote == absl::string_view::npos) return std::nullopt;
      value.append(text.data(), quote);
      text.remove_prefix(quote + 1);
      if (!absl::ConsumePrefix(&text, "'")) break;  // '' is a quote inside the value
      value += '\'';
    }
    values.push_back(std::move(value));
    text = absl::StripLeadingAsciiWhitespace(text);
    if (text.empty()) return values;
    if (!absl::ConsumePrefix(&text, ",")) return std::nullopt;
  }
}

std::string Param(const httplib::Request& request, const char* name) {
  return request.has_param(name) ? request.get_param_value(name) : "";
}

nlohmann::json ParseBody(const httplib::Request& request) {
  return nlohmann::json::parse(request.body, nullptr, false);
}

// Graph v1.0's default properties of a user (the user resource page), and the beta set the emulator
// has always returned.
constexpr const char* kV1UserDefaults[] = {
    "businessPhones", "displayName",       "givenName", "jobTitle",          "mail", "mobilePhone",
    "officeLocation", "preferredLanguage", "surname",   "userPrincipalName", "id"};
constexpr const char* kBetaUserDefaults[] = {"id",   "userPrincipalName", "displayName",
                                             "mail", "accountEnabled",    "preferredDataLocation"};

// The properties named by $select ("id, displayName" → {"id","displayName"}), empty without it.
std::vector<std::string> SelectList(const httplib::Request& request) {
  std::vector<std::string> out;
  for (absl::string_view field : absl::StrSplit(Param(request, "$select"), ',', absl::SkipWhitespace())) {
    out.emplace_back(absl::StripAsciiWhitespace(field));
  }
  return out;
}

// "https://graph.microsoft.com/v1.0/$metadata#users(id,displayName)/$entity", as Graph names a selection.
std::string UsersContext(const std::string& host, const std::string& version, const std::vector<std::string>& select,
                         bool entity) {
  std::string context = absl::StrCat("https://", host, "/", version, "/$metadata#users");
  if (!select.empty()) absl::StrAppend(&context, "(", absl::StrJoin(select, ","), ")");
  if (entity) absl::StrAppend(&context, "/$entity");
  return context;
}

constexpr absl::string_view kMember = "member";  // a user's userType, lowercase as $filter values are compared

bool KnownVersion(absl::string_view version) { return version == "v1.0" || version == "beta"; }

// A $batch request's id as Graph compares them: case-insensitively.
std::string BatchId(const nlohmann::json& id) { return absl::AsciiStrToLower(id.get<std::string>()); }

}  // namespace

GraphRoutes::GraphRoutes(EmulatorContext& context) : c_(context) {}

void GraphRoutes::Register(Router& router) {
  router_ = &router;
  auto bind = [this](auto method) {
    return [this, method](RequestContext& ctx, const std::vector<std::string>& captures) {
      (this->*method)(ctx, captures);
    };
  };
  const std::string migrations = "/beta/solutions/sharePoint/migrations";
  router.Add("GET", "/{version}/organization", "graph.organization", bind(&GraphRoutes::Organization));
  router.Add("GET", "/{version}/users", "graph.users.list", bind(&GraphRoutes::ListUsers));
  router.Add("GET", "/{version}/users/{id}", "graph.users.get", bind(&GraphRoutes::GetUser));
  router.Add("GET", "/{version}/users/{id}/drive", "graph.users.drive", bind(&GraphRoutes::GetDrive));
  router.Add("GET", "/{version}/me", "graph.me", bind(&GraphRoutes::Me));
  router.Add("GET", "/{version}/me/memberOf/microsoft.graph.directoryRole", "graph.me.directory_roles",
             bind(&GraphRoutes::MyDirectoryRoles));
  router.Add("POST", "/{version}/$batch", "graph.batch", bind(&GraphRoutes::Batch));
  router.Add("PATCH", migrations + "/crossOrganizationUserMappings", "graph.user_mappings.patch",
             bind(&GraphRoutes::PatchUserMappings));
  router.Add("GET", migrations + "/crossOrganizationUserMappings(*", "graph.user_mappings.get",
             bind(&GraphRoutes::GetUserMapping));
  router.Add("POST", migrations + "/crossOrganizationMigrationTasks", "graph.migration_tasks.create",
             bind(&GraphRoutes::CreateTask));
  router.Add("GET", migrations + "/crossOrganizationMigrationTasks/getBySourceUserPrincipalName(*",
             "graph.migration_tasks.get_by_upn", bind(&GraphRoutes::GetTaskByUpn));
  router.Add("GET", migrations + "/crossOrganizationMigrationTasks/{id}", "graph.migration_tasks.get",
             bind(&GraphRoutes::GetTask));
  router.Add("POST", migrations + "/crossOrganizationMigrationTasks/{id}/cancel", "graph.migration_tasks.cancel",
             bind(&GraphRoutes::CancelTask));
}

void GraphRoutes::SendUnrouted(const httplib::Request& request, httplib::Response& response,
                               const std::string& path) const {
  const std::vector<std::string> segments = absl::StrSplit(path, '/', absl::SkipEmpty());
  if (segments.empty() || !KnownVersion(segments[0])) {
    return SendGraphError(request, response, 400, "BadRequest", "Invalid version.");
  }
  if (router_->Find(request.method, path).path_known) {
    return SendGraphError(request, response, 405, "Request_BadRequest",
                          "Specified HTTP method is not allowed for the request uri.");
  }
  const std::size_t known = std::min(router_->KnownSegments(path), segments.size() - 1);
  SendGraphError(request, response, 400, "BadRequest",
                 absl::StrCat("Resource not found for the segment '", segments[known], "'."));
}

bool GraphRoutes::CheckVersion(RequestContext& ctx, const std::string& version) {
  if (KnownVersion(version)) return true;
  SendGraphError(ctx.request, ctx.response, 400, "BadRequest", "Invalid version.");
  return false;
}

nlohmann::json GraphRoutes::UserJson(int tenant, int user, const std::string& version,
                                     const std::vector<std::string>& select) const {
  const DirectoryTenant& t = c_.directory.tenant(tenant);
  const DirectoryUser& u = t.users[user];
  // Every property the emulator models (null where the seed says nothing); Graph's other user
  // properties are left out even when selected.
  const nlohmann::json all = {{"id", u.id},
                              {"userPrincipalName", u.upn},
                              {"displayName", u.display_name},
                              {"mail", u.upn},
                              {"businessPhones", nlohmann::json::array()},
                              {"givenName", nullptr},
                              {"surname", nullptr},
                              {"jobTitle", nullptr},
                              {"mobilePhone", nullptr},
                              {"officeLocation", nullptr},
                              {"preferredLanguage", nullptr},
                              {"accountEnabled", true},
                              {"userType", "Member"},
                              {"preferredDataLocation", t.seed.geos[u.geo].location}};
  nlohmann::json out = nlohmann::json::object();
  if (select.empty()) {
    if (version == "beta") {
      for (const char* name : kBetaUserDefaults) out[name] = all[name];
    } else {
      for (const char* name : kV1UserDefaults) out[name] = all[name];
    }
    return out;
  }
  // $select names properties case-insensitively; the answer spells them as Graph does.
  for (const std::string& field : select) {
    for (const auto& [name, value] : all.items()) {
      if (absl::EqualsIgnoreCase(name, field)) out[name] = value;
    }
  }
  return out;
}

void GraphRoutes::RespondUser(RequestContext& ctx, int tenant, int user, const std::string& version) {
  const std::vector<std::string> select = SelectList(ctx.request);
  nlohmann::json body = UserJson(tenant, user, version, select);
  body["@odata.context"] = UsersContext(ctx.host.host, version, select, true);
  SendJson(ctx.response, 200, body);
}

void GraphRoutes::Organization(RequestContext& ctx, const std::vector<std::string>& captures) {
  if (!CheckVersion(ctx, captures[0])) return;
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, kReadOrganization);
  if (!claims) return;
  const SeedTenant& seed = c_.directory.tenant(claims->tenant).seed;
  nlohmann::json organization = {{"id", seed.id},
                                 {"displayName", seed.display_name},
                                 {"tenantType", "AAD"},
                                 {"countryLetterCode", "US"},
                                 {"verifiedDomains",
                                  {{{"name", seed.initial_domain},
                                    {"isInitial", true},
                                    {"isDefault", true},
                                    {"type", "Managed"},
                                    {"capabilities", "Email, OfficeCommunicationsOnline"}}}}};
  SendJson(ctx.response, 200,
           {{"@odata.context", absl::StrCat("https://", ctx.host.host, "/", captures[0], "/$metadata#organization")},
            {"value", nlohmann::json::array({organization})}});
}

void GraphRoutes::ListUsers(RequestContext& ctx, const std::vector<std::string>& captures) {
  const std::string& version = captures[0];
  if (!CheckVersion(ctx, version)) return;
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, kReadUsers);
  if (!claims) return;
  const DirectoryTenant& tenant = c_.directory.tenant(claims->tenant);
  int top = c_.settings.users_page_size;
  if (const std::string text = Param(ctx.request, "$top"); !text.empty()) {
    if (!absl::SimpleAtoi(text, &top) || top < 1 || top > kMaxPageSize) {
      return SendGraphError(
          ctx.request, ctx.response, 400, "Request_BadRequest",
          absl::StrCat("Invalid page size specified: '", text, "'. Must be between 1 and 999 inclusive."));
    }
  }
  int offset = 0;
  if (const std::string token = Param(ctx.request, "$skiptoken"); !token.empty()) {
    std::string decoded;
    absl::string_view rest;
    if (Base64UrlDecode(token, &decoded)) rest = decoded;
    if (!absl::ConsumePrefix(&rest, "offset:") || !absl::SimpleAtoi(rest, &offset) || offset < 0) {
      return SendGraphError(ctx.request, ctx.response, 400, "Request_BadRequest", "Invalid $skiptoken.");
    }
  }
  // $filter: equality (eq) or membership (in, at most 15 values, as Graph allows) on userPrincipalName,
  // mail, id or userType (every seeded user is a Member).
  std::string filter_field;
  std::vector<std::string> filter_values;  // lowercase
  if (const std::string filter = Param(ctx.request, "$filter"); !filter.empty()) {
    std::vector<std::string> parts = absl::StrSplit(filter, absl::MaxSplits(' ', 2));
    const bool known_field = parts.size() == 3 && (parts[0] == "userPrincipalName" || parts[0] == "mail" ||
                                                   parts[0] == "id" || parts[0] == "userType");
    std::optional<std::vector<std::string>> values;
    if (known_field && parts[1] == "eq" && parts[2].size() >= 2 && parts[2].front() == '\'') {
      values = std::vector<std::string>{QuotedArgument(parts[2])};
    } else if (known_field && parts[1] == "in" && !c_.faults.Get().refuse_filter_in) {
      values = QuotedList(parts[2]);
    }
    if (!values) {
      return SendGraphError(ctx.request, ctx.response, 400, "Request_UnsupportedQuery",
                            "Unsupported query: the emulator filters users only by userPrincipalName, mail, id or "
                            "userType with eq or in.");
    }
    if (values->size() > kMaxFilterValues) {
      return SendGraphError(ctx.request, ctx.response, 400, "Request_UnsupportedQuery",
                            absl::StrCat("Too many child clauses specified in search filter expression containing "
                                         "'OR' operators: ",
                                         values->size(), ". Max allowed: ", kMaxFilterValues, "."));
    }
    filter_field = parts[0];
    for (const std::string& value : *values) filter_values.push_back(absl::AsciiStrToLower(value));
  }
  const std::vector<std::string> select = SelectList(ctx.request);

  // By the directory's index for a user principal name or id (a check of many users asks for 15 at a
  // time), by a scan otherwise.
  std::vector<int> matching;
  if (filter_field == "userPrincipalName" || filter_field == "id") {
    for (const std::string& value : filter_values) {
      const int i = tenant.FindUserIndex(value);
      if (i < 0) continue;
      const DirectoryUser& u = tenant.users[i];
      if (absl::AsciiStrToLower(filter_field == "id" ? u.id : u.upn) == value) matching.push_back(i);
    }
    std::sort(matching.begin(), matching.end());
    matching.erase(std::unique(matching.begin(), matching.end()), matching.end());
  } else {
    for (std::size_t i = 0; i < tenant.users.size(); ++i) {
      const absl::string_view field = filter_field == "userType" ? kMember : absl::string_view(tenant.users[i].upn);
      if (!filter_field.empty() &&
          std::find(filter_values.begin(), filter_values.end(), field) == filter_values.end()) {
        continue;
      }
      matching.push_back(static_cast<int>(i));
    }
  }
  nlohmann::json value = nlohmann::json::array();
  const int end = std::min<int>(static_cast<int>(matching.size()), offset + top);
  for (int i = offset; i < end; ++i) {
    value.push_back(UserJson(claims->tenant, matching[i], version, select));
  }
  nlohmann::json body = {{"@odata.context", UsersContext(ctx.host.host, version, select, false)}};
  if (Param(ctx.request, "$count") == "true" && offset == 0) body["@odata.count"] = matching.size();
  if (end < static_cast<int>(matching.size())) {
    std::string link = absl::StrCat("https://", ctx.host.host, "/", version, "/users?$top=", top,
                                    "&$skiptoken=", Base64UrlEncode(absl::StrCat("offset:", end)));
    if (!select.empty()) absl::StrAppend(&link, "&$select=", Param(ctx.request, "$select"));
    if (!filter_field.empty()) {
      absl::StrAppend(&link, "&$filter=", httplib::detail::encode_query_param(Param(ctx.request, "$filter")));
    }
    body["@odata.nextLink"] = link;
  }
  body["value"] = std::move(value);
  SendJson(ctx.response, 200, body);
}

void GraphRoutes::GetUser(RequestContext& ctx, const std::vector<std::string>& captures) {
  if (!CheckVersion(ctx, captures[0])) return;
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, kReadUsers);
  if (!claims) return;
  const int user = c_.directory.tenant(claims->tenant).FindUserIndex(captures[1]);
  if (user < 0) {
    return SendGraphError(ctx.request, ctx.response, 404, "Request_ResourceNotFound",
                          absl::StrCat("Resource '", captures[1],
                                       "' does not exist or one of its queried reference-property objects are not "
                                       "present."));
  }
  RespondUser(ctx, claims->tenant, user, captures[0]);
}

void GraphRoutes::GetDrive(RequestContext& ctx, const std::vector<std::string>& captures) {
  if (!CheckVersion(ctx, captures[0])) return;
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, kReadDrives);
  if (!claims) return;
  const int tenant = claims->tenant;
  const int user = c_.directory.tenant(tenant).FindUserIndex(captures[1]);
  if (user < 0) {
    return SendGraphError(ctx.request, ctx.response, 404, "Request_ResourceNotFound",
                          absl::StrCat("Resource '", captures[1], "' does not exist."));
  }
  c_.moves.Tick();
  OneDriveFacts drive;
  {
    absl::MutexLock lock(&c_.cloud.mu);
    drive = c_.cloud.drives[tenant][user];
  }
  if (!drive.exists) {
    return SendGraphError(ctx.request, ctx.response, 404, "ResourceNotFound", "User's mysite not found.");
  }
  const DirectoryUser& u = c_.directory.tenant(tenant).users[user];
  const int64_t total = int64_t{1} << 40;
  SendJson(ctx.response, 200,
           {{"@odata.context", absl::StrCat("https://", ctx.host.host, "/", captures[0], "/$metadata#drives/$entity")},
            {"id", absl::StrCat("b!", Base64UrlEncode(absl::StrCat(c_.directory.tenant(tenant).seed.id, "/", u.id)))},
            {"driveType", "business"},
            {"name", "OneDrive"},
            {"webUrl", absl::StrCat(c_.directory.PersonalSiteUrl(tenant, u.geo, u.upn), "/Documents")},
            {"owner", {{"user", {{"id", u.id}, {"displayName", u.display_name}, {"email", u.upn}}}}},
            {"quota",
             {{"used", drive.size_bytes},
              {"total", total},
              {"remaining", total - drive.size_bytes},
              {"deleted", 0},
              {"state", "normal"},
              {"fileCount", drive.items}}}});
}

void GraphRoutes::Me(RequestContext& ctx, const std::vector<std::string>& captures) {
  if (!CheckVersion(ctx, captures[0])) return;
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, kMe);
  if (!claims) return;
  const int user = c_.directory.tenant(claims->tenant).FindUserIndex(claims->object_id);
  if (user < 0) return SendGraphError(ctx.request, ctx.response, 404, "Request_ResourceNotFound", "User not found.");
  RespondUser(ctx, claims->tenant, user, captures[0]);
}

void GraphRoutes::MyDirectoryRoles(RequestContext& ctx, const std::vector<std::string>& captures) {
  if (!CheckVersion(ctx, captures[0])) return;
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, kMe);
  if (!claims) return;
  if (!absl::EqualsIgnoreCase(ctx.request.get_header_value("ConsistencyLevel"), "eventual") ||
      Param(ctx.request, "$count") != "true") {
    return SendGraphError(ctx.request, ctx.response, 400, "Request_UnsupportedQuery",
                          "The OData cast on memberOf is an advanced query: send the header ConsistencyLevel: eventual "
                          "and $count=true.");
  }
  const int user = c_.directory.tenant(claims->tenant).FindUserIndex(claims->object_id);
  nlohmann::json value = nlohmann::json::array();
  if (user >= 0) {
    for (const std::string& role : c_.directory.tenant(claims->tenant).users[user].role_template_ids) {
      value.push_back({{"@odata.type", "#microsoft.graph.directoryRole"},
                       {"id", DerivedGuid(c_.directory.tenant(claims->tenant).seed.id, role)},
                       {"displayName", RoleDisplayName(role)},
                       {"description", RoleDisplayName(role)},
                       {"roleTemplateId", role}});
    }
  }
  SendJson(
      ctx.response, 200,
      {{"@odata.context", absl::StrCat("https://", ctx.host.host, "/", captures[0], "/$metadata#directoryObjects")},
       {"@odata.count", value.size()},
       {"value", value}});
}

void GraphRoutes::Batch(RequestContext& ctx, const std::vector<std::string>& captures) {
  const std::string& version = captures[0];
  if (!CheckVersion(ctx, version)) return;
  const nlohmann::json body = ParseBody(ctx.request);
  if (!body.is_object() || !body.contains("requests") || !body["requests"].is_array()) {
    return SendGraphError(ctx.request, ctx.response, 400, "BadRequest",
                          "Invalid batch payload format: a JSON object with a requests array is required.");
  }
  const nlohmann::json& requests = body["requests"];
  if (requests.empty() || requests.size() > kMaxBatchRequests) {
    return SendGraphError(ctx.request, ctx.response, 400, "BadRequest",
                          absl::StrCat("The batch holds ", requests.size(), " requests; between 1 and ",
                                       kMaxBatchRequests, " are allowed."));
  }
  // A malformed batch is refused whole, before any request runs. A dependency must name a request
  // earlier in the batch (Graph refuses forward references), so no batch that passes has a cycle, and
  // running the requests in their order honours every dependsOn.
  absl::flat_hash_set<std::string> seen;
  for (const nlohmann::json& item : requests) {
    if (!item.is_object() || !item.contains("id") || !item["id"].is_string() || item["id"].get<std::string>().empty() ||
        !item.contains("method") || !item["method"].is_string() || !item.contains("url") || !item["url"].is_string()) {
      return SendGraphError(ctx.request, ctx.response, 400, "BadRequest",
                            "Invalid batch payload format: every request needs a string id, method and url.");
    }
    const std::string& id = item["id"].get_ref<const std::string&>();
    // Graph reads a request's body by its Content-Type, which the request must then name.
    if (item.contains("body")) {
      bool typed = false;
      if (item.contains("headers") && item["headers"].is_object()) {
        for (const auto& [name, value] : item["headers"].items()) {
          typed = typed || (absl::EqualsIgnoreCase(name, "Content-Type") && value.is_string());
        }
      }
      if (!typed) {
        return SendGraphError(
            ctx.request, ctx.response, 400, "BadRequest",
            absl::StrCat("Invalid batch payload format: request Id ", id, " has a body but no Content-Type header."));
      }
    }
    if (seen.contains(BatchId(item["id"]))) {
      return SendGraphError(ctx.request, ctx.response, 400, "BadRequest",
                            absl::StrCat("Request Id ", id, " has to be unique in a batch."));
    }
    if (item.contains("dependsOn")) {
      const nlohmann::json& depends_on = item["dependsOn"];
      const bool valid = depends_on.is_array() &&
                         std::all_of(depends_on.begin(), depends_on.end(), [&seen](const nlohmann::json& dependency) {
                           return dependency.is_string() && seen.contains(BatchId(dependency));
                         });
      if (!valid) {
        return SendGraphError(ctx.request, ctx.response, 400, "BadRequest",
                              absl::StrCat("Invalid dependency for request Id ", id,
                                           ": dependsOn must name requests earlier in the batch."));
      }
    }
    seen.insert(BatchId(item["id"]));
  }

  absl::flat_hash_map<std::string, int> status_of;  // by BatchId
  nlohmann::json responses = nlohmann::json::array();
  for (const nlohmann::json& item : requests) {
    std::string url = item["url"].get<std::string>();
    if (!absl::StartsWith(url, "/")) url = "/" + url;
    httplib::Request sub;
    sub.method = item["method"].get<std::string>();
    const std::size_t question = url.find('?');
    sub.path = absl::StrCat("/", version, url.substr(0, question));
    if (question != std::string::npos) httplib::detail::parse_query_text(url.substr(question + 1), sub.params);
    sub.headers = ctx.request.headers;
    sub.headers.erase("Content-Length");
    if (item.contains("headers") && item["headers"].is_object()) {
      for (const auto& [name, value] : item["headers"].items()) {
        if (value.is_string()) {
          sub.headers.erase(name);
          sub.headers.emplace(name, value.get<std::string>());
        }
      }
    }
    if (item.contains("body")) sub.body = item["body"].dump();

    httplib::Response sub_response;
    std::string failed_dependency;
    if (item.contains("dependsOn")) {
      for (const nlohmann::json& dependency : item["dependsOn"]) {
        if (status_of[BatchId(dependency)] >= 400) {
          failed_dependency = dependency.get<std::string>();
          break;
        }
      }
    }
    if (!failed_dependency.empty()) {
      // Not run, not drawn for faults: Graph answers 424 for a request whose dependency failed.
      SendGraphError(sub, sub_response, 424, "FailedDependency",
                     absl::StrCat("The request depends on request ", failed_dependency, ", which failed."));
    } else {
      RunBatchStep(ctx, sub, sub_response);
    }
    status_of[BatchId(item["id"])] = sub_response.status;
    // Graph's sub-responses carry their own headers (Content-Type, Retry-After, Location); the request
    // ids are the envelope's, and each error body's innerError has its own request-id.
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, value] : sub_response.headers) {
      if (!absl::EqualsIgnoreCase(name, "request-id") && !absl::EqualsIgnoreCase(name, "client-request-id")) {
        headers[name] = value;
      }
    }
    nlohmann::json sub_body =
        sub_response.body.empty() ? nlohmann::json(nullptr) : nlohmann::json::parse(sub_response.body, nullptr, false);
    responses.push_back(
        {{"id", item["id"]}, {"status", sub_response.status}, {"headers", headers}, {"body", sub_body}});
  }
  SendJson(ctx.response, 200, {{"responses", responses}});
}

void GraphRoutes::RunBatchStep(RequestContext& ctx, const httplib::Request& sub, httplib::Response& sub_response) {
  const Router::Match match = router_->Find(sub.method, sub.path);
  if (match.name == "graph.batch") {
    return SendGraphError(sub, sub_response, 400, "BadRequest", "A $batch request cannot hold another $batch.");
  }
  if (match.handler == nullptr) return SendUnrouted(sub, sub_response, sub.path);
  c_.accounting.RecordSubRequest(match.name, ctx.tenant >= 0 ? c_.directory.tenant(ctx.tenant).seed.name : "");
  // Graph throttles each request of a batch on its own: a 429, or a 503, with its own Retry-After in
  // the sub-response's headers.
  const InjectedFault fault = c_.faults.Draw();
  if (fault != InjectedFault::kNone) {
    const bool throttle = fault == InjectedFault::kThrottle;
    const int retry_after = c_.faults.DrawRetryAfter();
    sub_response.set_header("Retry-After", std::to_string(retry_after));
    if (throttle) {
      SendGraphError(sub, sub_response, 429, "TooManyRequests", "Too many requests.");
    } else {
      SendGraphError(sub, sub_response, 503, "serviceNotAvailable",
                     "The service is temporarily unavailable. Retry after the time given in Retry-After.");
    }
    c_.accounting.RecordFault(throttle ? "throttled" : "unavailable");
    c_.metrics.RecordFault(throttle ? "throttle" : "unavailable");
    if (!ctx.client.empty()) c_.accounting.NoteRetryAfter(ctx.client, absl::Now(), retry_after);
    return;
  }
  RequestContext sub_ctx{sub, sub_response, ctx.host, sub.path, "", -1, ""};
  (*match.handler)(sub_ctx, match.captures);
}

void GraphRoutes::PatchUserMappings(RequestContext& ctx, const std::vector<std::string>&) {
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, MigrationRule(true));
  if (!claims) return;
  const nlohmann::json body = ParseBody(ctx.request);
  if (!body.is_object() || !body.contains("value") || !body["value"].is_array()) {
    return SendGraphError(ctx.request, ctx.response, 400, "invalidRequest",
                          "Cannot process the request because the required parameter value is missing.");
  }
  const nlohmann::json& items = body["value"];
  if (items.size() > kMaxMappingItems) {
    return SendGraphError(ctx.request, ctx.response, 400, "invalidRequest",
                          absl::StrCat("The request holds ", items.size(), " mappings; at most ", kMaxMappingItems,
                                       " are allowed per request."));
  }
  for (const nlohmann::json& item : items) {
    if (!item.is_object() || !item.contains("sourceUserIdentity") || !item["sourceUserIdentity"].is_object() ||
        !item["sourceUserIdentity"].value("userPrincipalName", "").size()) {
      return SendGraphError(ctx.request, ctx.response, 400, "invalidRequest",
                            "Cannot process the request because the required parameter "
                            "sourceUserIdentity.userPrincipalName is missing.");
    }
    if (!item.contains("@removed") &&
        (!item.contains("targetUserIdentity") || !item["targetUserIdentity"].is_object() ||
         item["targetUserIdentity"].value("userPrincipalName", "").empty())) {
      return SendGraphError(ctx.request, ctx.response, 400, "invalidRequest",
                            "Cannot process the request because the required parameter "
                            "targetUserIdentity.userPrincipalName is missing.");
    }
  }
  nlohmann::json value = nlohmann::json::array();
  absl::MutexLock lock(&c_.cloud.mu);
  auto& mappings = c_.cloud.user_mappings[claims->tenant];
  for (const nlohmann::json& item : items) {
    const std::string upn = absl::AsciiStrToLower(item["sourceUserIdentity"]["userPrincipalName"].get<std::string>());
    if (item.contains("@removed")) {
      mappings.erase(upn);
      value.push_back(item);
      continue;
    }
    nlohmann::json mapping = item;
    mapping["@odata.type"] = "#microsoft.graph.sharePointUserIdentityMapping";
    mapping["id"] = Base64Encode(upn);
    if (!mapping.contains("userType")) mapping["userType"] = "regularUser";
    mappings[upn] = mapping;
    value.push_back(mapping);
  }
  SendJson(
      ctx.response, 200,
      {{"@odata.context",
        "https://graph.microsoft.com/beta/$metadata#solutions/sharePoint/migrations/crossOrganizationUserMappings"},
       {"value", value}});
}

void GraphRoutes::GetUserMapping(RequestContext& ctx, const std::vector<std::string>& captures) {
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, MigrationRule(false));
  if (!claims) return;
  const std::string upn = absl::AsciiStrToLower(QuotedArgument(captures[0]));
  nlohmann::json mapping;
  {
    absl::MutexLock lock(&c_.cloud.mu);
    auto& mappings = c_.cloud.user_mappings[claims->tenant];
    auto it = mappings.find(upn);
    if (it != mappings.end()) mapping = it->second;
  }
  if (mapping.is_null()) {
    return SendGraphError(ctx.request, ctx.response, 404, "itemNotFound",
                          absl::StrCat("No user mapping was found for ", upn, "."));
  }
  mapping["@odata.context"] =
      "https://graph.microsoft.com/beta/$metadata#solutions/sharePoint/migrations/crossOrganizationUserMappings/$entity";
  SendJson(ctx.response, 200, mapping);
}

namespace {
void SendMoveAnswer(RequestContext& ctx, const MoveAnswer& answer) {
  if (!answer.error_code.empty()) {
    return SendGraphError(ctx.request, ctx.response, answer.status, answer.error_code, answer.message);
  }
  if (answer.status == 204) {
    ctx.response.status = 204;
    return;
  }
  SendJson(ctx.response, answer.status, answer.body);
}
}  // namespace

void GraphRoutes::CreateTask(RequestContext& ctx, const std::vector<std::string>&) {
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, MigrationRule(true));
  if (!claims) return;
  const nlohmann::json body = ParseBody(ctx.request);
  SendMoveAnswer(ctx, c_.moves.Start(claims->tenant, body, c_.UnreachableTenants()));
}

void GraphRoutes::GetTask(RequestContext& ctx, const std::vector<std::string>& captures) {
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, MigrationRule(false));
  if (!claims) return;
  SendMoveAnswer(ctx, c_.moves.Get(claims->tenant, captures[0]));
}

void GraphRoutes::GetTaskByUpn(RequestContext& ctx, const std::vector<std::string>& captures) {
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, MigrationRule(false));
  if (!claims) return;
  const std::string upn = QuotedArgument(captures[0]);
  if (upn.empty()) {
    return SendGraphError(ctx.request, ctx.response, 400, "invalidRequest",
                          "Cannot process the request because the required parameter sourcePrincipalName is missing.");
  }
  MoveAnswer answer = c_.moves.GetBySourceUpn(claims->tenant, upn);
  if (answer.error_code.empty() && ctx.request.has_param("$select")) {
    nlohmann::json picked = {{"@odata.context", answer.body["@odata.context"]}};
    for (absl::string_view field : absl::StrSplit(ctx.request.get_param_value("$select"), ',')) {
      const std::string name(field);
      if (answer.body.contains(name)) picked[name] = answer.body[name];
    }
    answer.body = picked;
  }
  SendMoveAnswer(ctx, answer);
}

void GraphRoutes::CancelTask(RequestContext& ctx, const std::vector<std::string>& captures) {
  std::optional<AccessClaims> claims = AuthorizeGraph(c_, ctx, MigrationRule(true));
  if (!claims) return;
  SendMoveAnswer(ctx, c_.moves.Cancel(claims->tenant, captures[0]));
}

}  // namespace crosstenant::emulator
