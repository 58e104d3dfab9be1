// Tenant operations of steps 2-7: trust, compatibility, users, identity map, moves, redirects. Trust,
// compatibility, geos, move states, redirect sites and the identity-map read-back are SharePoint admin
// calls (SharePointAdminClient, CSOM); the rest is Microsoft Graph.

#include <algorithm>
#include <regex>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/error_detail.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/onedrive_url.h"
#include "services/common/status_macros.h"
#include "services/tenant_connector/core/connector.h"
#include "services/tenant_connector/core/connector_internal.h"
#include "services/tenant_connector/core/crypto.h"
#include "services/tenant_connector/core/identity_map.h"
#include "services/tenant_connector/core/sharepoint/csom.h"
#include "services/tenant_connector/core/sharepoint/enums.h"
#include "services/tenant_connector/core/sharepoint/states.h"

namespace crosstenant::tenant_connector {

namespace internal {

bool MoveTaskExists(const absl::Status& status) {
  return status.code() == absl::StatusCode::kFailedPrecondition &&
         ErrorInfoReasonOf(status) == kReasonMigrationTaskExists;
}

}  // namespace internal

using internal::Bool;
using internal::Int;
using internal::ParseIsoTime;
using internal::Str;

namespace {

constexpr char kMigrationsBeta[] = "/beta/solutions/sharePoint/migrations";
constexpr int kMappingDeltaLimit = 50;
// Users looked up by one `$filter=userPrincipalName in (...)`: Graph allows 15 values in a filter.
constexpr int kUsersPerLookup = 15;
constexpr char kCheckedUserFields[] =
    "id,userPrincipalName,mail,displayName,userType,accountEnabled,preferredDataLocation,assignedLicenses";

// A user from its Graph representation.
void SetTenantUser(const nlohmann::json& body, v1::TenantUser* user) {
  user->set_id(Str(body, "id"));
  user->set_user_principal_name(Str(body, "userPrincipalName"));
  user->set_mail(Str(body, "mail"));
  user->set_display_name(Str(body, "displayName"));
  user->set_user_type(Str(body, "userType", "Member"));
  user->set_account_enabled(Bool(body, "accountEnabled", true));
  user->set_preferred_data_location(Str(body, "preferredDataLocation"));
}

// A user Microsoft found, from its Graph representation (kCheckedUserFields).
void SetCheckedUser(const nlohmann::json& body, v1::UserCheck* check) {
  check->set_found(true);
  SetTenantUser(body, check->mutable_user());
  if (body.contains("assignedLicenses") && body["assignedLicenses"].is_array()) {
    check->set_onedrive_licensed(!body["assignedLicenses"].empty());
  } else {
    check->set_onedrive_licensed(true);  // not reported: assume, the move validation checks it
  }
}

// The error of one `$batch` sub-request Microsoft did not answer for good: a 429, or a 503 with
// Retry-After, is THROTTLED (the tenant's governor holds every request back until that Retry-After,
// which GetConnection reports as health.throttling[].retry_after_time); another 5xx is
// UPSTREAM_UNAVAILABLE, anything else UPSTREAM_ERROR.
void SetSubRequestError(int status, const nlohmann::json& item, const nlohmann::json& body, v1::ErrorDetail* error) {
  const bool throttled = IsThrottledSubResponse(item);
  error->set_code(throttled ? "THROTTLED" : status >= 500 ? "UPSTREAM_UNAVAILABLE" : "UPSTREAM_ERROR");
  error->set_message(internal::UpstreamMessage(body, ""));
  error->set_upstream_code(UpstreamCode(body));
  error->set_upstream_http_status(status);
  if (throttled) {
    if (std::optional<absl::Duration> delay = SubResponseRetryAfter(item))
      SetDuration(*delay, error->mutable_retry_delay());
  }
}

// The status of a `$batch` sub-response that is not a 2xx, as Send would have returned it for the
// request alone: a 429, or a 503 with Retry-After, is RESOURCE_EXHAUSTED with Microsoft's delay (the
// governor has already held the tenant back for it); anything else MapUpstreamError's. `what` names
// the sub-request in a throttling message.
absl::Status StatusOfSubResponse(absl::string_view what, const nlohmann::json& item) {
  const int status = static_cast<int>(Int(item, "status", 0));
  const nlohmann::json& body = item.contains("body") ? item["body"] : nlohmann::json::object();
  if (IsThrottledSubResponse(item)) {
    return ResourceExhaustedWithRetry(
        absl::StrCat("Microsoft graph throttled ", what, " (HTTP ", status, "): ", internal::UpstreamMessage(body, "")),
        SubResponseRetryAfter(item).value_or(absl::Seconds(5)));
  }
  return MapUpstreamError("graph", status, body, body.dump());
}

// "https://Fabrikam-my.sharepoint.com" -> "https://fabrikam-my.sharepoint.com/".
absl::StatusOr<std::string> NormaliseHostUrl(const std::string& text, const std::string& field) {
  std::string url = absl::AsciiStrToLower(absl::StripAsciiWhitespace(text));
  if (url.empty()) {
    return InvalidArgumentWithViolations(
        "invalid request", {{field,
                             "is required: the partner geo's cross-tenant host URL, e.g. "
                             "https://fabrikam-my.sharepoint.com/ (GetCrossTenantHostUrl on the partner)"}});
  }
  static const std::regex* pattern = new std::regex("^https://[a-z0-9-]+(\\.[a-z0-9-]+)+/?$");
  if (!std::regex_match(url, *pattern)) {
    return InvalidArgumentWithViolations(
        "invalid request", {{field, absl::StrCat("\"", text,
                                                 "\" is not a cross-tenant host URL; give the partner's "
                                                 "my-site host, e.g. https://fabrikam-my.sharepoint.com/")}});
  }
  if (!absl::EndsWith(url, "/")) url += "/";
  return url;
}

// Escapes a UPN for a URL path segment or an OData string literal in a path: keeps the characters a
// UPN is made of ('@' included) and percent-encodes the rest.
std::string PathEscape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '@' || c == '\'' || c == '+') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::AsciiStrToUpper(absl::StrCat(absl::Hex(c, absl::kZeroPad2))));
    }
  }
  return out;
}

void SetTimeIf(const std::string& text, google::protobuf::Timestamp* out) {
  absl::Time time = ParseIsoTime(text);
  if (time != absl::InfinitePast()) SetTimestamp(time, out);
}

// A Graph sharePointMigrationTask as a UserContentMove.
v1::UserContentMove MoveFromTask(const nlohmann::json& task) {
  v1::UserContentMove move;
  const nlohmann::json& parameters = task.contains("parameters") ? task["parameters"] : nlohmann::json::object();
  if (parameters.contains("sourceUserIdentity")) {
    move.set_source_user_principal_name(Str(parameters["sourceUserIdentity"], "userPrincipalName"));
  }
  if (parameters.contains("targetUserIdentity")) {
    move.set_target_user_principal_name(Str(parameters["targetUserIdentity"], "userPrincipalName"));
  }
  std::string host = absl::AsciiStrToLower(Str(parameters, "targetOrganizationHost"));
  if (!host.empty() && !absl::EndsWith(host, "/")) host += "/";
  move.set_target_host_url(host);
  move.set_target_location_code(Str(parameters, "targetDataLocationCode"));
  move.set_validate_only(Bool(parameters, "validateOnly", false));
  SetTimeIf(Str(parameters, "preferredStartDateTime"), move.mutable_window()->mutable_preferred_begin_time());
  SetTimeIf(Str(parameters, "preferredLatestStartDateTime"), move.mutable_window()->mutable_preferred_end_time());
  if (!move.window().has_preferred_begin_time() && !move.window().has_preferred_end_time()) move.clear_window();
  move.set_raw_state(Str(task, "status"));
  move.set_state(sharepoint::MoveStateOfName(move.raw_state()));
  move.set_task_id(Str(task, "id"));
  SetTimeIf(Str(task, "startedDateTime"), move.mutable_start_time());
  SetTimeIf(Str(task, "lastUpdatedDateTime"), move.mutable_update_time());
  SetTimeIf(Str(task, "finishedDateTime"), move.mutable_end_time());
  if (task.contains("error") && task["error"].is_object()) {
    v1::ErrorDetail* error = move.mutable_error();
    error->set_code(move.state() == v1::MOVE_STATE_FAILED ? "MOVE_FAILED" : "MOVE_ERROR");
    error->set_upstream_code(Str(task["error"], "code"));
    error->set_message(Str(task["error"], "message"));
  }
  return move;
}

v1::ConnectionRole PartnerRoleOf(v1::ConnectionRole own) {
  return own == v1::CONNECTION_ROLE_SOURCE ? v1::CONNECTION_ROLE_TARGET : v1::CONNECTION_ROLE_SOURCE;
}

std::string RoleWord(v1::ConnectionRole role) { return role == v1::CONNECTION_ROLE_SOURCE ? "Source" : "Target"; }

v1::Finding MakeFinding(const std::string& code, v1::Severity severity, const std::string& message,
                        const std::string& remedy, const std::string& subject) {
  v1::Finding finding;
  finding.set_code(code);
  finding.set_severity(severity);
  finding.set_message(message);
  finding.set_remedy(remedy);
  finding.set_subject(subject);
  return finding;
}

}  // namespace

struct Connector::GeoRef {
  std::shared_ptr<Entry> entry;
  v1::Geo geo;
  v1::ConnectionRole role = v1::CONNECTION_ROLE_UNSPECIFIED;
  std::string connection_name;
};

absl::StatusOr<Connector::GeoRef> Connector::ResolveGeo(const std::string& geo_name, const char* field) {
  std::vector<std::string> parts = absl::StrSplit(geo_name, '/');
  if (!((parts.size() == 2 || parts.size() == 4) && parts[0] == "connections" && !parts[1].empty() &&
        (parts.size() == 2 || (parts[2] == "geos" && !parts[3].empty())))) {
    return InvalidArgumentWithViolations(
        "invalid geo", {{field, absl::StrCat("must be connections/{connection} or connections/{connection}/geos/{geo}, "
                                             "got \"",
                                             geo_name, "\"")}});
  }
  std::string connection_name = absl::StrCat("connections/", parts[1]);
  ASSIGN_OR_RETURN(std::shared_ptr<Entry> entry, Find(connection_name));
  GeoRef ref;
  ref.entry = entry;
  ref.connection_name = connection_name;
  absl::MutexLock lock(&entry->mu);
  const v1::Connection& connection = entry->connection;
  if (connection.state() != v1::CONNECTION_STATE_CONNECTED && connection.state() != v1::CONNECTION_STATE_DEGRADED) {
    absl::string_view state = v1::ConnectionState_Name(connection.state());
    absl::ConsumePrefix(&state, "CONNECTION_STATE_");
    return WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            connection_name, " is ", state, connection.state_reason().empty() ? "" : " (", connection.state_reason(),
            connection.state_reason().empty() ? "" : ")", "; it must be CONNECTED or DEGRADED")),
        kReasonConnectionNotUsable, "crosstenant", {{"connection", connection_name}, {"state", std::string(state)}});
  }
  ref.role = connection.role();
  std::string wanted = parts.size() == 2 ? connection.home_geo() : geo_name;
  for (const v1::Geo& geo : connection.geos()) {
    if (geo.name() == wanted) {
      ref.geo = geo;
      return ref;
    }
  }
  std::vector<std::string> names;
  for (const v1::Geo& geo : connection.geos()) names.push_back(geo.name());
  return absl::NotFoundError(absl::StrCat("geo ", geo_name, " does not exist; the geos of ", connection_name, " are ",
                                          absl::StrJoin(names, ", ")));
}

// ---------------------------------------------------------------------------------------------------
// Step 2, 3, 5, 7: trust and compatibility (modelled SharePoint admin calls).

absl::StatusOr<std::string> Connector::GetCrossTenantHostUrl(const std::string& geo, absl::Time deadline) {
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(geo, "geo"));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  ASSIGN_OR_RETURN(std::string host, sharepoint_.GetMySiteHostUrl(target, deadline));
  // Cross-checked with GetTenantInstances (the connection's geos): SharePoint may name the tenant's
  // default my-site host on any geo; Microsoft tells Multi-Geo customers to give each geo's own.
  std::string default_host;
  {
    absl::MutexLock lock(&ref.entry->mu);
    for (const v1::Geo& g : ref.entry->connection.geos()) {
      if (g.default_geo()) default_host = g.my_site_host_url();
    }
  }
  if (host != ref.geo.my_site_host_url() && host != default_host) {
    return absl::FailedPreconditionError(
        absl::StrCat("SharePoint's GetMySiteHostUrl on ", ref.geo.admin_url(), " answered ", host,
                     ", but its GetTenantInstances "
                     "lists ",
                     ref.geo.my_site_host_url(), " for ", ref.geo.name(), "; check the connection (CheckConnection)"));
  }
  return ref.geo.my_site_host_url();
}

namespace {

absl::StatusOr<v1::CrossTenantRelationship> CompleteRelationship(const v1::CrossTenantRelationship& relationship,
                                                                 v1::ConnectionRole own_role) {
  v1::CrossTenantRelationship out = relationship;
  out.set_scenario(v1::RELATIONSHIP_SCENARIO_MNA);
  if (out.partner_role() == v1::CONNECTION_ROLE_UNSPECIFIED) {
    out.set_partner_role(own_role == v1::CONNECTION_ROLE_SOURCE ? v1::CONNECTION_ROLE_TARGET
                                                                : v1::CONNECTION_ROLE_SOURCE);
  }
  ASSIGN_OR_RETURN(std::string host,
                   NormaliseHostUrl(relationship.partner_host_url(), "relationship.partner_host_url"));
  out.set_partner_host_url(host);
  return out;
}

}  // namespace

absl::StatusOr<v1::CrossTenantRelationship> Connector::SetRelationship(const std::string& geo,
                                                                       const v1::CrossTenantRelationship& relationship,
                                                                       absl::Time deadline) {
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(geo, "geo"));
  ASSIGN_OR_RETURN(v1::CrossTenantRelationship complete, CompleteRelationship(relationship, ref.role));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  RETURN_IF_ERROR(
      sharepoint_.NewOrgRelation(target, RoleWord(complete.partner_role()), complete.partner_host_url(), deadline));
  return complete;
}

absl::StatusOr<v1::VerifyCrossTenantRelationshipResponse> Connector::VerifyRelationship(
    const std::string& geo, const v1::CrossTenantRelationship& relationship, absl::Time deadline) {
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(geo, "geo"));
  ASSIGN_OR_RETURN(v1::CrossTenantRelationship complete, CompleteRelationship(relationship, ref.role));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  ASSIGN_OR_RETURN(int64_t number, sharepoint_.VerifyOrgRelation(target, RoleWord(complete.partner_role()),
                                                                 complete.partner_host_url(), deadline));
  v1::VerifyCrossTenantRelationshipResponse response;
  const sharepoint::WireState<v1::TrustStatus> status = sharepoint::TrustStatusFromWire(number);
  response.set_status(status.state);
  response.set_raw_status(status.raw);
  if (status.state == v1::TRUST_STATUS_UNKNOWN) {
    log::Warning("SharePoint answered a trust status the enum table does not know",
                 {{"geo", ref.geo.name()}, {"raw_status", status.raw}});
  }
  SetTimestamp(clock_->Now(), response.mutable_check_time());
  return response;
}

absl::StatusOr<v1::CrossTenantRelationship> Connector::RemoveRelationship(
    const std::string& geo, const v1::CrossTenantRelationship& relationship, absl::Time deadline) {
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(geo, "geo"));
  ASSIGN_OR_RETURN(v1::CrossTenantRelationship complete, CompleteRelationship(relationship, ref.role));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  RETURN_IF_ERROR(
      sharepoint_.RemoveOrgRelation(target, RoleWord(complete.partner_role()), complete.partner_host_url(), deadline));
  return complete;
}

absl::StatusOr<v1::GetCompatibilityStatusResponse> Connector::GetCompatibility(
    const v1::GetCompatibilityStatusRequest& request, absl::Time deadline) {
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  if (ref.role != v1::CONNECTION_ROLE_SOURCE) {
    return InvalidArgumentWithViolations(
        "GetCompatibilityStatus runs on the source tenant only",
        {{"geo", absl::StrCat(ref.connection_name,
                              " is a TARGET connection; ask a SOURCE geo (Microsoft: run "
                              "Get-SPOCrossTenantCompatibilityStatus on the source)")}});
  }
  ASSIGN_OR_RETURN(std::string partner, NormaliseHostUrl(request.partner_host_url(), "partner_host_url"));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  ASSIGN_OR_RETURN(CompatibilityCheck check, sharepoint_.CheckCompatibility(target, partner, deadline));
  v1::GetCompatibilityStatusResponse response;
  const sharepoint::WireState<v1::CompatibilityStatus> status = sharepoint::CompatibilityFromWire(check.result);
  response.set_status(status.state);
  response.set_raw_status(status.raw);
  if (status.state == v1::COMPATIBILITY_STATUS_UNKNOWN) {
    response.set_message(status.raw.empty()
                             ? "SharePoint's XTenantMoveCompatibilityCheck answered no XTenantMoveCompatibilityResult"
                             : absl::StrCat("SharePoint answered compatibility ", status.raw,
                                            ", which is not Compatible, Warning or Incompatible: treated as not "
                                            "compatible until it is known"));
  }
  SetTimestamp(clock_->Now(), response.mutable_check_time());
  return response;
}

// ---------------------------------------------------------------------------------------------------
// Step 4: users.

absl::StatusOr<v1::ListTenantUsersResponse> Connector::ListTenantUsers(const v1::ListTenantUsersRequest& request,
                                                                       absl::Time deadline) {
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.connection(), "connection"));
  if (request.page_size() < 0) {
    return InvalidArgumentWithViolations("invalid request", {{"page_size", "must not be negative"}});
  }
  std::string path;
  if (!request.page_token().empty()) {
    absl::StatusOr<std::string> link = Base64UrlDecode(request.page_token());
    if (!link.ok() || !absl::StartsWith(*link, absl::StrCat("https://", ref.entry->graph_host, "/"))) {
      return InvalidArgumentWithViolations("invalid request",
                                           {{"page_token", "is not a token returned by ListTenantUsers"}});
    }
    path = *link;  // Graph's @odata.nextLink, verbatim
  } else {
    int top = request.page_size() == 0 ? 100 : std::min(request.page_size(), 999);
    path = absl::StrCat("/v1.0/users?$top=", top,
                        "&$select=id,userPrincipalName,mail,displayName,userType,accountEnabled,preferredDataLocation");
    if (request.members_only()) absl::StrAppend(&path, "&$filter=", UrlEscape("userType eq 'Member'"));
  }
  ASSIGN_OR_RETURN(GraphResult result, Graph(*ref.entry, "GET", path, nullptr, deadline));
  v1::ListTenantUsersResponse response;
  for (const auto& user : internal::Array(result.body, "value")) {
    if (request.members_only() && Str(user, "userType", "Member") != "Member") continue;
    SetTenantUser(user, response.add_users());
  }
  if (std::string next = Str(result.body, "@odata.nextLink"); !next.empty()) {
    response.set_next_page_token(Base64UrlEncode(next));
  }
  return response;
}

absl::StatusOr<v1::BatchCheckUsersResponse> Connector::BatchCheckUsers(const v1::BatchCheckUsersRequest& request,
                                                                       absl::Time deadline) {
  if (request.user_principal_names_size() < 1 || request.user_principal_names_size() > 1000) {
    return InvalidArgumentWithViolations("invalid request",
                                         {{"user_principal_names", "give between 1 and 1000 user principal names"}});
  }
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.connection(), "connection"));
  const bool source = ref.role == v1::CONNECTION_ROLE_SOURCE;
  v1::BatchCheckUsersResponse response;
  for (const std::string& upn : request.user_principal_names()) {
    response.add_checks()->set_user_principal_name(upn);
  }
  // One look-up per kUsersPerLookup users (`$filter=userPrincipalName in (...)`) and one drive per user:
  // about half the sub-requests of a user and a drive each, so half the envelopes a throttled tenant
  // makes wait.
  const int count = request.user_principal_names_size();
  std::vector<nlohmann::json> requests;
  for (int first = 0; first < count; first += kUsersPerLookup) {
    std::vector<std::string> quoted;
    for (int i = first; i < std::min(count, first + kUsersPerLookup); ++i) {
      quoted.push_back(absl::StrCat("'", absl::StrReplaceAll(request.user_principal_names(i), {{"'", "''"}}), "'"));
    }
    requests.push_back(
        {{"id", absl::StrCat("u", first / kUsersPerLookup)},
         {"method", "GET"},
         {"url", absl::StrCat("/users?$filter=",
                              UrlEscape(absl::StrCat("userPrincipalName in (", absl::StrJoin(quoted, ","), ")")),
                              "&$select=", kCheckedUserFields)}});
  }
  for (int i = 0; i < count; ++i) {
    requests.push_back({{"id", absl::StrCat("d", i)},
                        {"method", "GET"},
                        {"url", absl::StrCat("/users/", PathEscape(request.user_principal_names(i)), "/drive")}});
  }
  ASSIGN_OR_RETURN(auto answers, graph_.Batch(GraphOf(*ref.entry), "v1.0", std::move(requests), deadline));
  // Users whose look-up Microsoft refused as a query (a 4xx): each looked up alone, as a user's own
  // answer says more than its group's.
  std::vector<int> alone;
  for (const auto& [id, item] : answers) {
    int index = 0;
    if (id.size() < 2 || !absl::SimpleAtoi(id.substr(1), &index) || index < 0) continue;
    const int status = static_cast<int>(Int(item, "status", 0));
    const nlohmann::json& body = item.contains("body") ? item["body"] : nlohmann::json::object();
    if (id[0] == 'u') {
      if (index >= (count + kUsersPerLookup - 1) / kUsersPerLookup) continue;
      const int first = index * kUsersPerLookup;
      const int last = std::min(count, first + kUsersPerLookup);
      if (status == 200 && body.contains("value") && body["value"].is_array()) {
        std::map<std::string, const nlohmann::json*> by_upn;
        for (const nlohmann::json& user : body["value"]) {
          by_upn[absl::AsciiStrToLower(Str(user, "userPrincipalName"))] = &user;
        }
        for (int i = first; i < last; ++i) {
          auto found = by_upn.find(absl::AsciiStrToLower(request.user_principal_names(i)));
          if (found != by_upn.end()) SetCheckedUser(*found->second, response.mutable_checks(i));
        }
      } else if (status == 200 || status == 429 || status >= 500) {
        v1::ErrorDetail error;
        if (status != 200) {
          SetSubRequestError(status, item, body, &error);
        } else {
          error.set_code("UPSTREAM_ERROR");
          error.set_message("Microsoft graph answered the user look-up without a list of users (\"value\")");
          error.set_upstream_http_status(status);
        }
        for (int i = first; i < last; ++i) *response.mutable_checks(i)->mutable_error() = error;
      } else {
        for (int i = first; i < last; ++i) alone.push_back(i);
      }
      continue;
    }
    if (index >= count) continue;
    v1::UserCheck* check = response.mutable_checks(index);
    if (status == 429 || status >= 500) {
      SetSubRequestError(status, item, body, check->mutable_error());
    } else if (status == 200) {
      v1::OneDrive* drive = check->mutable_onedrive();
      drive->set_exists(true);
      drive->set_site_url(PersonalSiteOf(Str(body, "webUrl")));
      if (body.contains("quota") && body["quota"].is_object()) {
        drive->set_used_bytes(Int(body["quota"], "used", 0));
      }
    } else {
      check->mutable_onedrive()->set_exists(false);
    }
  }
  if (!alone.empty()) {
    std::vector<nlohmann::json> look_ups;
    for (int i : alone) {
      look_ups.push_back({{"id", std::to_string(i)},
                          {"method", "GET"},
                          {"url", absl::StrCat("/users/", PathEscape(request.user_principal_names(i)),
                                               "?$select=", kCheckedUserFields)}});
    }
    ASSIGN_OR_RETURN(auto users, graph_.Batch(GraphOf(*ref.entry), "v1.0", std::move(look_ups), deadline));
    for (const auto& [id, item] : users) {
      int i = 0;
      if (!absl::SimpleAtoi(id, &i) || i < 0 || i >= count) continue;
      const int status = static_cast<int>(Int(item, "status", 0));
      const nlohmann::json& body = item.contains("body") ? item["body"] : nlohmann::json::object();
      v1::UserCheck* check = response.mutable_checks(i);
      if (status == 429 || status >= 500) {
        SetSubRequestError(status, item, body, check->mutable_error());
      } else if (status == 200) {
        SetCheckedUser(body, check);
      }
    }
  }
  // With Multi-Geo, a OneDrive lives in its user's preferred data location.
  for (v1::UserCheck& check : *response.mutable_checks()) {
    if (check.onedrive().exists() && check.onedrive().location_code().empty()) {
      check.mutable_onedrive()->set_location_code(check.user().preferred_data_location());
    }
  }
  if (source) CheckSiteLocks(*ref.entry, response, deadline);
  // Findings, by role.
  for (v1::UserCheck& check : *response.mutable_checks()) {
    if (check.has_error()) continue;
    const std::string& upn = check.user_principal_name();
    if (source) {
      if (absl::StrContains(upn, "'")) {
        *check.add_findings() = MakeFinding("APOSTROPHE_IN_UPN", v1::SEVERITY_ERROR,
                                            absl::StrCat(upn,
                                                         " contains an apostrophe; Microsoft fails such moves with "
                                                         "an \"invalid character\" error"),
                                            "Rename the user without the apostrophe before moving", upn);
      }
      if (!check.found()) {
        *check.add_findings() =
            MakeFinding("USER_NOT_FOUND", v1::SEVERITY_ERROR, absl::StrCat(upn, " does not exist in the source tenant"),
                        "Check the user principal name", upn);
      } else if (!check.onedrive().exists()) {
        *check.add_findings() =
            MakeFinding("NO_ONEDRIVE", v1::SEVERITY_ERROR, absl::StrCat(upn, " has no OneDrive in the source tenant"),
                        "Nothing to move for this user", upn);
      } else if (check.onedrive().used_bytes() > (int64_t{5} << 40)) {
        *check.add_findings() =
            MakeFinding("SIZE_LIMIT_EXCEEDED", v1::SEVERITY_ERROR,
                        absl::StrCat(upn, "'s OneDrive holds more than 5 TB"), "Reduce the OneDrive below 5 TB", upn);
      }
    } else {
      if (!check.found()) {
        *check.add_findings() = MakeFinding("TARGET_USER_MISSING", v1::SEVERITY_ERROR,
                                            absl::StrCat(upn, " does not exist in the target tenant"),
                                            "Pre-create the user in the target tenant and license it (step 4)", upn);
      } else if (check.onedrive().exists()) {
        *check.add_findings() = MakeFinding(
            "TARGET_ONEDRIVE_EXISTS", v1::SEVERITY_ERROR,
            absl::StrCat(upn, " already has a OneDrive in the target tenant; Microsoft can not overwrite it"),
            "Delete the target OneDrive and restrict OneDrive creation on the target before the move", upn);
      }
    }
  }
  return response;
}

void Connector::CheckSiteLocks(Entry& entry, v1::BatchCheckUsersResponse& response, absl::Time deadline) {
  std::vector<v1::Geo> geos;
  {
    absl::MutexLock lock(&entry.mu);
    geos.assign(entry.connection.geos().begin(), entry.connection.geos().end());
  }
  auto not_checked = [&](int i, const absl::Status& why) {
    v1::UserCheck& check = *response.mutable_checks(i);
    if (why.code() == absl::StatusCode::kUnavailable || why.code() == absl::StatusCode::kDeadlineExceeded ||
        why.code() == absl::StatusCode::kResourceExhausted) {
      *check.mutable_error() = ErrorDetailOf(why);  // asked again later, as an unanswered look-up
      return;
    }
    *check.add_findings() = MakeFinding(
        "LOCK_STATE_UNKNOWN", v1::SEVERITY_WARNING,
        absl::StrCat("SharePoint did not say whether ", check.user_principal_name(),
                     "'s OneDrive is locked: ", why.message()),
        "Check it with Get-SPOSite -Identity <OneDrive URL>: Microsoft moves only a OneDrive whose LockState is Unlock",
        check.user_principal_name());
  };
  auto apply = [&](int i, const std::string& lock_state) {
    v1::UserCheck& check = *response.mutable_checks(i);
    if (lock_state == "Unlock") return;
    check.mutable_onedrive()->set_read_only(true);
    *check.add_findings() =
        MakeFinding("ONEDRIVE_LOCKED", v1::SEVERITY_ERROR,
                    absl::StrCat(check.user_principal_name(), "'s OneDrive is locked (LockState ", lock_state,
                                 "); Microsoft moves only a OneDrive that is read/write"),
                    absl::StrCat("Unlock it before the move: Set-SPOSite -Identity ", check.onedrive().site_url(),
                                 " -LockState Unlock"),
                    check.user_principal_name());
  };
  // Each OneDrive is asked of the admin of the geo whose my-site host holds it.
  std::vector<std::string> geo_hosts;
  for (const v1::Geo& geo : geos) geo_hosts.push_back(HostOf(geo.my_site_host_url()));
  std::map<size_t, std::vector<int>> checks_by_geo;
  for (int i = 0; i < response.checks_size(); ++i) {
    const v1::UserCheck& check = response.checks(i);
    if (check.has_error() || !check.onedrive().exists() || check.onedrive().site_url().empty()) continue;
    const std::string host = HostOf(check.onedrive().site_url());
    auto geo = std::find_if(geo_hosts.begin(), geo_hosts.end(),
                            [&](const std::string& geo_host) { return absl::EqualsIgnoreCase(geo_host, host); });
    if (geo == geo_hosts.end()) {
      not_checked(i, absl::FailedPreconditionError(
                         absl::StrCat("its host ", host, " is the my-site host of none of the connection's geos")));
    } else {
      checks_by_geo[static_cast<size_t>(geo - geo_hosts.begin())].push_back(i);
    }
  }
  for (const auto& [g, indices] : checks_by_geo) {
    absl::StatusOr<SharePointTarget> target = SharePointOf(entry, geos[g]);
    for (size_t first = 0; first < indices.size(); first += SharePointAdminClient::kMaxSitesPerQuery) {
      const std::vector<int> chunk(
          indices.begin() + first,
          indices.begin() + std::min(indices.size(), first + SharePointAdminClient::kMaxSitesPerQuery));
      std::vector<std::string> urls;
      for (int i : chunk) urls.push_back(response.checks(i).onedrive().site_url());
      absl::StatusOr<std::vector<std::string>> states =
          target.ok() ? sharepoint_.GetSiteLockStates(*target, urls, deadline) : target.status();
      if (states.ok()) {
        for (size_t k = 0; k < chunk.size(); ++k) apply(chunk[k], (*states)[k]);
        continue;
      }
      if (states.status().code() != absl::StatusCode::kNotFound || chunk.size() == 1) {
        for (int i : chunk) not_checked(i, states.status());
        continue;
      }
      // SharePoint stops at the first site it cannot find: the others are asked alone.
      for (size_t k = 0; k < chunk.size(); ++k) {
        absl::StatusOr<std::vector<std::string>> alone = sharepoint_.GetSiteLockStates(*target, {urls[k]}, deadline);
        if (alone.ok()) {
          apply(chunk[k], alone->front());
        } else {
          not_checked(chunk[k], alone.status());
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Step 5: identity map.

absl::StatusOr<v1::UploadIdentityMapResponse> Connector::UploadIdentityMap(const v1::UploadIdentityMapRequest& request,
                                                                           absl::Time deadline) {
  ASSIGN_OR_RETURN(ParsedIdentityMap map,
                   ParseIdentityMap(request.identity_map(), request.remove_source_user_principal_names_size() > 0));
  std::vector<FieldViolation> violations;
  for (const std::string& upn : request.remove_source_user_principal_names()) {
    if (!absl::StrContains(upn, "@")) {
      violations.push_back({"remove_source_user_principal_names", absl::StrCat("\"", upn, "\" is not a UPN")});
    }
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid request", violations);
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  if (ref.role != v1::CONNECTION_ROLE_TARGET) {
    return InvalidArgumentWithViolations(
        "the identity map is uploaded to the target",
        {{"geo", absl::StrCat(ref.connection_name, " is a SOURCE connection; upload to every TARGET geo")}});
  }
  // Each delta body of at most 50 items is built just before it is sent, so the call holds its parsed
  // rows and one body, never a JSON copy of every row (a large map comes in several calls: see the proto).
  v1::UploadIdentityMapResponse response;
  nlohmann::json body;
  auto flush = [&](const char* collection) -> absl::Status {
    if (body.is_null() || body["value"].empty()) return absl::OkStatus();
    RETURN_IF_ERROR(
        Graph(*ref.entry, "PATCH", absl::StrCat(kMigrationsBeta, "/", collection), &body, deadline).status());
    response.set_upstream_request_count(response.upstream_request_count() + 1);
    body = nullptr;
    return absl::OkStatus();
  };
  auto add = [&](nlohmann::json item, const char* collection) -> absl::Status {
    if (body.is_null()) body = {{"@context", "#$delta"}, {"value", nlohmann::json::array()}};
    body["value"].push_back(std::move(item));
    return body["value"].size() >= static_cast<size_t>(kMappingDeltaLimit) ? flush(collection) : absl::OkStatus();
  };
  constexpr const char* kUsers = "crossOrganizationUserMappings";
  constexpr const char* kGroups = "crossOrganizationGroupMappings";
  for (const v1::IdentityMapEntry& entry : map.entries) {
    if (!entry.has_user()) continue;
    const v1::UserIdentityMapping& user = entry.user();
    static const char* kTypes[] = {"regularUser", "regularUser", "adminUser", "guestUser"};
    RETURN_IF_ERROR(add({{"@odata.type", "#microsoft.graph.sharePointUserIdentityMapping"},
                         {"sourceOrganizationId", user.source_tenant_id()},
                         {"userType", kTypes[std::clamp(static_cast<int>(user.user_type()), 0, 3)]},
                         {"sourceUserIdentity", {{"userPrincipalName", user.source_user_principal_name()}}},
                         {"targetUserIdentity", {{"userPrincipalName", user.target_user_principal_name()}}},
                         {"targetUserMigrationData", {{"email", user.target_user_email()}}}},
                        kUsers));
  }
  for (const std::string& upn : request.remove_source_user_principal_names()) {
    RETURN_IF_ERROR(add({{"@odata.type", "#microsoft.graph.sharePointUserIdentityMapping"},
                         {"@removed", {{"reason", "deleted"}}},
                         {"sourceUserIdentity", {{"userPrincipalName", upn}}}},
                        kUsers));
  }
  RETURN_IF_ERROR(flush(kUsers));
  for (const v1::IdentityMapEntry& entry : map.entries) {
    if (!entry.has_group()) continue;
    const v1::GroupIdentityMapping& group = entry.group();
    RETURN_IF_ERROR(
        add({{"@odata.type", "#microsoft.graph.sharePointGroupIdentityMapping"},
             {"sourceOrganizationId", group.source_tenant_id()},
             {"groupType", group.group_type() == v1::IDENTITY_GROUP_TYPE_M365_GROUP ? "m365Group" : "regularGroup"},
             {"sourceGroupObjectId", group.source_group_object_id()},
             {"targetGroupIdentity", {{"id", group.target_group_object_id()}}},
             {"targetGroupMigrationData", {{"mailNickname", group.group_name()}}}},
            kGroups));
  }
  RETURN_IF_ERROR(flush(kGroups));
  *response.mutable_summary() = map.summary;
  response.set_removed_count(request.remove_source_user_principal_names_size());
  return response;
}

absl::StatusOr<v1::GetIdentityMapEntryResponse> Connector::GetIdentityMapEntry(
    const v1::GetIdentityMapEntryRequest& request, absl::Time deadline) {
  if (!absl::StrContains(request.source_user_principal_name(), "@")) {
    return InvalidArgumentWithViolations("invalid request",
                                         {{"source_user_principal_name", "must be a user principal name"}});
  }
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  ASSIGN_OR_RETURN(std::vector<UserIdentityMappingRow> rows,
                   sharepoint_.GetUserIdentityMapping(target, request.source_user_principal_name(), deadline));
  const UserIdentityMappingRow* found = nullptr;
  for (const UserIdentityMappingRow& row : rows) {
    if (absl::EqualsIgnoreCase(row.source_user_key, request.source_user_principal_name())) found = &row;
  }
  if (found == nullptr) {
    return absl::NotFoundError(absl::StrCat("SharePoint at ", ref.geo.admin_url(), " holds no identity-map entry for ",
                                            request.source_user_principal_name()));
  }
  v1::GetIdentityMapEntryResponse response;
  v1::UserIdentityMapping* mapping = response.mutable_mapping();
  mapping->set_source_tenant_id(absl::AsciiStrToLower(found->source_tenant_company_id));
  mapping->set_source_user_principal_name(found->source_user_key);
  mapping->set_target_user_principal_name(found->target_user_upn);
  mapping->set_target_user_email(found->target_user_email);
  std::optional<std::string> type = sharepoint::EnumName("TenantIdentityMappingUserType", found->user_type);
  mapping->set_user_type(type == "AdminUser"     ? v1::IDENTITY_USER_TYPE_ADMIN_USER
                         : type == "GuestUser"   ? v1::IDENTITY_USER_TYPE_GUEST_USER
                         : type == "RegularUser" ? v1::IDENTITY_USER_TYPE_REGULAR_USER
                                                 : v1::IDENTITY_USER_TYPE_UNSPECIFIED);
  return response;
}

// ---------------------------------------------------------------------------------------------------
// Step 6: moves.

namespace {

std::string ByUpnPath(const std::string& upn) {
  std::string quoted = absl::StrReplaceAll(upn, {{"'", "''"}});
  return absl::StrCat(kMigrationsBeta,
                      "/crossOrganizationMigrationTasks/getBySourceUserPrincipalName(sourcePrincipalName='",
                      PathEscape(quoted), "')");
}

bool ActiveOrDone(v1::MoveState state) {
  return state != v1::MOVE_STATE_FAILED && state != v1::MOVE_STATE_STOPPED && state != v1::MOVE_STATE_NOT_SUPPORTED;
}

// What a start's look-up (`task`, the 200 answer of getBySourceUserPrincipalName) decides: the move to
// return as started when it is live or done towards `target_host`, a refusal when it goes to another
// host, nothing (start it) when there is none that counts.
std::optional<absl::StatusOr<v1::StartUserContentMoveResponse>> ExistingStart(const nlohmann::json& task,
                                                                              const std::string& source_upn,
                                                                              const std::string& target_host) {
  v1::UserContentMove move = MoveFromTask(task);
  if (move.validate_only() || !ActiveOrDone(move.state())) return std::nullopt;
  if (!move.target_host_url().empty() && move.target_host_url() != target_host) {
    return absl::FailedPreconditionError(absl::StrCat("a move of ", source_upn, " to ", move.target_host_url(),
                                                      " already exists (", move.raw_state(),
                                                      "); Microsoft allows one move per OneDrive"));
  }
  v1::StartUserContentMoveResponse response;
  *response.mutable_move() = std::move(move);
  response.set_already_started(true);
  return response;
}

}  // namespace

struct Connector::PreparedStart {
  GeoRef ref;
  std::string target_host;  // normalised, ending in "/"
  nlohmann::json body;      // the crossOrganizationMigrationTask to create
};

absl::StatusOr<Connector::GeoRef> Connector::SourceGeo(const std::string& geo) {
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(geo, "geo"));
  if (ref.role != v1::CONNECTION_ROLE_SOURCE) {
    return InvalidArgumentWithViolations("moves start on the source",
                                         {{"geo", absl::StrCat(ref.connection_name, " is a TARGET connection")}});
  }
  return ref;
}

absl::StatusOr<Connector::PreparedStart> Connector::PrepareStart(const v1::StartUserContentMoveRequest& request,
                                                                 const GeoRef* source) {
  std::vector<FieldViolation> violations;
  if (!absl::StrContains(request.source_user_principal_name(), "@")) {
    violations.push_back({"source_user_principal_name", "is required: the OneDrive owner's UPN on the source"});
  }
  if (!absl::StrContains(request.target_user_principal_name(), "@")) {
    violations.push_back({"target_user_principal_name", "is required: the OneDrive owner's UPN on the target"});
  }
  absl::StatusOr<std::string> target_host = NormaliseHostUrl(request.target_host_url(), "target_host_url");
  if (!target_host.ok()) violations.push_back({"target_host_url", std::string(target_host.status().message())});
  if (request.window().has_preferred_begin_time() && request.window().has_preferred_end_time() &&
      TimeOf(request.window().preferred_end_time()) <= TimeOf(request.window().preferred_begin_time())) {
    violations.push_back({"window.preferred_end_time", "must be after window.preferred_begin_time"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid request", violations);
  PreparedStart start;
  if (source != nullptr) {
    start.ref = *source;
  } else {
    ASSIGN_OR_RETURN(start.ref, SourceGeo(request.geo()));
  }
  start.target_host = *std::move(target_host);
  std::string target_tenant_id = request.target_tenant_id();
  if (target_tenant_id.empty()) {
    absl::MutexLock lock(&mu_);
    for (auto& [name, other] : entries_) {
      absl::MutexLock other_lock(&other->mu);
      if (other->connection.role() != v1::CONNECTION_ROLE_TARGET) continue;
      for (const v1::Geo& geo : other->connection.geos()) {
        if (geo.my_site_host_url() == start.target_host) target_tenant_id = other->connection.tenant_id();
      }
    }
  }
  nlohmann::json parameters = {{"@odata.type", "#microsoft.graph.sharePointUserMigrationTaskParameters"},
                               {"targetOrganizationHost", start.target_host.substr(0, start.target_host.size() - 1)},
                               {"sourceUserIdentity", {{"userPrincipalName", request.source_user_principal_name()}}},
                               {"targetUserIdentity", {{"userPrincipalName", request.target_user_principal_name()}}},
                               {"validateOnly", request.validate_only()}};
  if (!target_tenant_id.empty()) parameters["targetOrganizationId"] = target_tenant_id;
  if (!request.target_location_code().empty()) parameters["targetDataLocationCode"] = request.target_location_code();
  if (request.window().has_preferred_begin_time()) {
    parameters["preferredStartDateTime"] =
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", TimeOf(request.window().preferred_begin_time()), absl::UTCTimeZone());
  }
  if (request.window().has_preferred_end_time()) {
    parameters["preferredLatestStartDateTime"] =
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", TimeOf(request.window().preferred_end_time()), absl::UTCTimeZone());
  }
  start.body = {{"parameters", parameters}};
  return start;
}

absl::StatusOr<v1::StartUserContentMoveResponse> Connector::AnswerOfStart(const PreparedStart& start,
                                                                          const std::string& source_upn,
                                                                          absl::StatusOr<GraphResult> created,
                                                                          absl::Time deadline) {
  v1::StartUserContentMoveResponse response;
  if (!created.ok()) {
    if (!internal::MoveTaskExists(created.status())) return created.status();
    ASSIGN_OR_RETURN(GraphResult again, Graph(*start.ref.entry, "GET", ByUpnPath(source_upn), nullptr, deadline));
    *response.mutable_move() = MoveFromTask(again.body);
    response.set_already_started(true);
    return response;
  }
  *response.mutable_move() = MoveFromTask(created->body);
  if (response.move().target_host_url().empty()) response.mutable_move()->set_target_host_url(start.target_host);
  return response;
}

absl::StatusOr<v1::StartUserContentMoveResponse> Connector::StartMove(const v1::StartUserContentMoveRequest& request,
                                                                      absl::Time deadline) {
  ASSIGN_OR_RETURN(PreparedStart start, PrepareStart(request));
  // Idempotency on (source UPN, target host): one-and-done. The look-up protects a start that an earlier
  // attempt may already have sent (Microsoft would refuse the second POST, and the refusal itself counts
  // as a duplicate start against the tenant); on a caller's first attempt nothing can have been sent, so
  // the POST goes at once and a refusal for an existing task still falls back to the look-up.
  if (!request.validate_only() && request.attempt() != 1) {
    absl::StatusOr<GraphResult> looked =
        Graph(*start.ref.entry, "GET", ByUpnPath(request.source_user_principal_name()), nullptr, deadline, true);
    if (!looked.ok() && looked.status().code() != absl::StatusCode::kInvalidArgument) return looked.status();
    // 400 (e.g. a UPN Microsoft refuses): let the start below return Microsoft's reason.
    if (looked.ok() && looked->status == 200) {
      if (auto existing = ExistingStart(looked->body, request.source_user_principal_name(), start.target_host)) {
        return *std::move(existing);
      }
    }
  }
  return AnswerOfStart(start, request.source_user_principal_name(),
                       Graph(*start.ref.entry, "POST",
                             absl::StrCat(kMigrationsBeta, "/crossOrganizationMigrationTasks"), &start.body, deadline),
                       deadline);
}

absl::Status Connector::CheckStartCount(size_t count) {
  if (count >= 1 && count <= kMaxBatchedStarts) return absl::OkStatus();
  return InvalidArgumentWithViolations(
      "invalid request",
      {{"requests", absl::StrCat("give between 1 and ", kMaxBatchedStarts, " starts; got ", count)}});
}

absl::StatusOr<std::vector<absl::StatusOr<v1::StartUserContentMoveResponse>>> Connector::StartMoves(
    const std::string& geo, const std::vector<v1::StartUserContentMoveRequest>& requests, absl::Time deadline) {
  RETURN_IF_ERROR(CheckStartCount(requests.size()));
  ASSIGN_OR_RETURN(const GeoRef ref, SourceGeo(geo));
  // A start that Graph's $batch answer leaves out is one to try again later (looked up first).
  std::vector<absl::StatusOr<v1::StartUserContentMoveResponse>> results(
      requests.size(), absl::UnavailableError("Microsoft graph's $batch answer has no answer for this start"));
  // Each item checked as StartUserContentMove checks it.
  std::vector<std::optional<PreparedStart>> prepared(requests.size());
  std::vector<size_t> to_post;
  std::vector<size_t> to_look_up;
  for (size_t i = 0; i < requests.size(); ++i) {
    const v1::StartUserContentMoveRequest& item = requests[i];
    std::vector<FieldViolation> violations;
    if (!item.geo().empty() && item.geo() != geo) {
      violations.push_back({"geo", absl::StrCat("must be empty or the batch's geo ", geo)});
    }
    // On a resolved geo, only the item's own fields can be refused (INVALID_ARGUMENT).
    absl::StatusOr<PreparedStart> start = PrepareStart(item, &ref);
    if (start.ok() && violations.empty()) {
      prepared[i] = *std::move(start);
    } else {
      if (!start.ok()) {
        for (FieldViolation& violation : FieldViolationsOf(start.status())) violations.push_back(std::move(violation));
      }
      results[i] = InvalidArgumentWithViolations("invalid request", violations);
      continue;
    }
    if (item.validate_only() || item.attempt() == 1) {
      to_post.push_back(i);
    } else {
      to_look_up.push_back(i);
    }
  }
  // A retry's look-up, as StartMove makes it, for all of them in one $batch: a move found is returned
  // (or refused, for another host), the others are started with the first attempts.
  if (!to_look_up.empty()) {
    std::vector<nlohmann::json> look_ups;
    for (size_t i : to_look_up) {
      const std::string full = ByUpnPath(requests[i].source_user_principal_name());
      absl::string_view path = full;
      absl::ConsumePrefix(&path, "/beta");
      look_ups.push_back({{"id", std::to_string(i)}, {"method", "GET"}, {"url", std::string(path)}});
    }
    ASSIGN_OR_RETURN(auto answers, graph_.Batch(GraphOf(*ref.entry), "beta", std::move(look_ups), deadline));
    for (size_t i : to_look_up) {
      const auto answer = answers.find(std::to_string(i));
      if (answer == answers.end()) continue;  // unanswered: UNAVAILABLE, tried again later
      const nlohmann::json& item = answer->second;
      const int status = static_cast<int>(Int(item, "status", 0));
      const nlohmann::json& body = item.contains("body") ? item["body"] : nlohmann::json::object();
      if (status == 200) {
        auto existing = ExistingStart(body, requests[i].source_user_principal_name(), prepared[i]->target_host);
        if (existing) {
          results[i] = *std::move(existing);
          continue;
        }
      } else if (status != 404 && status != 400) {  // 400: the POST gives Microsoft's reason
        results[i] = StatusOfSubResponse("this start's look-up", item);
        continue;
      }
      to_post.push_back(i);
    }
  }
  if (!to_post.empty()) {
    std::vector<nlohmann::json> posts;
    for (size_t i : to_post) {
      posts.push_back({{"id", std::to_string(i)},
                       {"method", "POST"},
                       {"url", "/solutions/sharePoint/migrations/crossOrganizationMigrationTasks"},
                       {"headers", {{"Content-Type", "application/json"}}},
                       {"body", prepared[i]->body}});
    }
    ASSIGN_OR_RETURN(auto answers, graph_.Batch(GraphOf(*ref.entry), "beta", std::move(posts), deadline));
    for (const auto& [id, item] : answers) {
      size_t i = 0;
      if (!absl::SimpleAtoi(id, &i) || i >= requests.size() || !prepared[i]) continue;
      const int status = static_cast<int>(Int(item, "status", 0));
      absl::StatusOr<GraphResult> created =
          status >= 200 && status <= 299
              ? absl::StatusOr<GraphResult>(GraphResult{status, item.value("body", nlohmann::json()), ""})
              : StatusOfSubResponse("this start", item);
      results[i] = AnswerOfStart(*prepared[i], requests[i].source_user_principal_name(), std::move(created), deadline);
    }
  }
  // The connection itself failing fails the call, as it fails StartUserContentMove: the caller must
  // learn it from the status (and retry every start, looking each up first), not from one item.
  for (const auto& result : results) {
    if (!result.ok() && IsConnectionReason(ErrorInfoReasonOf(result.status()))) return result.status();
  }
  return results;
}

absl::StatusOr<v1::UserContentMove> Connector::GetMove(const v1::GetUserContentMoveRequest& request,
                                                       absl::Time deadline) {
  if (request.key_case() == v1::GetUserContentMoveRequest::KEY_NOT_SET) {
    return InvalidArgumentWithViolations("invalid request",
                                         {{"source_user_principal_name", "set source_user_principal_name or task_id"}});
  }
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  if (request.key_case() == v1::GetUserContentMoveRequest::kTaskId) {
    ASSIGN_OR_RETURN(GraphResult result, Graph(*ref.entry, "GET",
                                               absl::StrCat(kMigrationsBeta, "/crossOrganizationMigrationTasks/",
                                                            UrlEscape(request.task_id())),
                                               nullptr, deadline));
    return MoveFromTask(result.body);
  }
  if (!request.partner_host_url().empty()) {
    ASSIGN_OR_RETURN(std::string partner, NormaliseHostUrl(request.partner_host_url(), "partner_host_url"));
    ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
    ASSIGN_OR_RETURN(std::vector<nlohmann::json> rows,
                     sharepoint_.GetMoveStates(target, partner, request.source_user_principal_name(),
                                               RoleWord(PartnerRoleOf(ref.role)), deadline));
    const std::string& target_host = ref.role == v1::CONNECTION_ROLE_SOURCE ? partner : ref.geo.my_site_host_url();
    for (const nlohmann::json& row : rows) {
      v1::UserContentMove move = sharepoint::MoveFromStateRow(row, target_host);
      if (absl::EqualsIgnoreCase(move.source_user_principal_name(), request.source_user_principal_name())) return move;
    }
    return absl::NotFoundError(absl::StrCat("no move of ", request.source_user_principal_name(), " with ", partner));
  }
  ASSIGN_OR_RETURN(GraphResult result,
                   Graph(*ref.entry, "GET", ByUpnPath(request.source_user_principal_name()), nullptr, deadline));
  return MoveFromTask(result.body);
}

absl::StatusOr<v1::BatchGetUserContentMovesResponse> Connector::BatchGetMoves(
    const v1::BatchGetUserContentMovesRequest& request, absl::Time deadline) {
  const int upns = request.source_user_principal_names_size();
  const int total = upns + request.task_ids_size();
  if (total < 1 || total > 1000) {
    return InvalidArgumentWithViolations(
        "invalid request", {{"source_user_principal_names", "give between 1 and 1000 UPNs and task ids together"}});
  }
  std::vector<FieldViolation> violations;
  for (int i = 0; i < request.task_ids_size(); ++i) {
    if (request.task_ids(i).empty()) violations.push_back({absl::StrCat("task_ids[", i, "]"), "must not be empty"});
  }
  if (!violations.empty()) return InvalidArgumentWithViolations("invalid request", violations);
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  v1::BatchGetUserContentMovesResponse response;
  for (const std::string& upn : request.source_user_principal_names()) {
    response.add_results()->set_source_user_principal_name(upn);
  }
  for (const std::string& id : request.task_ids()) response.add_results()->set_task_id(id);
  const std::string prefix = "/beta";
  std::vector<nlohmann::json> requests;
  for (int i = 0; i < total; ++i) {
    const std::string full = i < upns ? ByUpnPath(request.source_user_principal_names(i))
                                      : absl::StrCat(kMigrationsBeta, "/crossOrganizationMigrationTasks/",
                                                     UrlEscape(request.task_ids(i - upns)));
    absl::string_view path = full;
    absl::ConsumePrefix(&path, prefix);
    requests.push_back({{"id", std::to_string(i)}, {"method", "GET"}, {"url", std::string(path)}});
  }
  ASSIGN_OR_RETURN(auto answers, graph_.Batch(GraphOf(*ref.entry), "beta", std::move(requests), deadline));
  for (const auto& [id, item] : answers) {
    int index = 0;
    if (!absl::SimpleAtoi(id, &index) || index < 0 || index >= total) continue;
    v1::UserContentMoveResult* out = response.mutable_results(index);
    const int status = static_cast<int>(Int(item, "status", 0));
    const nlohmann::json& body = item.contains("body") ? item["body"] : nlohmann::json::object();
    if (status == 200) {
      out->set_found(true);
      *out->mutable_move() = MoveFromTask(body);
    } else if (status == 404) {
      out->set_found(false);
    } else {
      SetSubRequestError(status, item, body, out->mutable_error());
    }
  }
  return response;
}

absl::StatusOr<v1::ListUserContentMovesResponse> Connector::ListMoves(const v1::ListUserContentMovesRequest& request,
                                                                      absl::Time deadline) {
  ASSIGN_OR_RETURN(std::string partner, NormaliseHostUrl(request.partner_host_url(), "partner_host_url"));
  if (request.page_size() < 0) return InvalidArgumentWithViolations("invalid request", {{"page_size", "must be >= 0"}});
  int offset = 0;
  if (!request.page_token().empty()) {
    absl::StatusOr<std::string> decoded = Base64UrlDecode(request.page_token());
    if (!decoded.ok() || !absl::SimpleAtoi(*decoded, &offset) || offset < 0) {
      return InvalidArgumentWithViolations("invalid request",
                                           {{"page_token", "is not a token from ListUserContentMoves"}});
    }
  }
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  ASSIGN_OR_RETURN(std::vector<nlohmann::json> rows,
                   sharepoint_.GetMoveStates(target, partner, "", RoleWord(PartnerRoleOf(ref.role)), deadline));
  std::vector<v1::UserContentMove> moves;
  for (const nlohmann::json& row : rows) {
    v1::UserContentMove move = sharepoint::MoveFromStateRow(
        row, ref.role == v1::CONNECTION_ROLE_SOURCE ? partner : ref.geo.my_site_host_url());
    if (request.states_size() > 0 &&
        std::find(request.states().begin(), request.states().end(), move.state()) == request.states().end()) {
      continue;
    }
    moves.push_back(std::move(move));
  }
  std::sort(moves.begin(), moves.end(), [](const v1::UserContentMove& a, const v1::UserContentMove& b) {
    return a.source_user_principal_name() < b.source_user_principal_name();
  });
  int page_size = request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  v1::ListUserContentMovesResponse response;
  for (int i = offset; i < static_cast<int>(moves.size()) && i < offset + page_size; ++i) {
    *response.add_moves() = moves[static_cast<size_t>(i)];
  }
  if (offset + page_size < static_cast<int>(moves.size())) {
    response.set_next_page_token(Base64UrlEncode(std::to_string(offset + page_size)));
  }
  return response;
}

absl::StatusOr<v1::UserContentMove> Connector::StopMove(const v1::StopUserContentMoveRequest& request,
                                                        absl::Time deadline) {
  if (!absl::StrContains(request.source_user_principal_name(), "@")) {
    return InvalidArgumentWithViolations("invalid request", {{"source_user_principal_name", "must be a UPN"}});
  }
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  if (ref.role != v1::CONNECTION_ROLE_SOURCE) {
    return InvalidArgumentWithViolations("moves are stopped on the source",
                                         {{"geo", absl::StrCat(ref.connection_name, " is a TARGET connection")}});
  }
  ASSIGN_OR_RETURN(GraphResult existing,
                   Graph(*ref.entry, "GET", ByUpnPath(request.source_user_principal_name()), nullptr, deadline));
  v1::UserContentMove move = MoveFromTask(existing.body);
  if (move.state() == v1::MOVE_STATE_STOPPED) return move;
  if (move.state() == v1::MOVE_STATE_IN_PROGRESS || move.state() == v1::MOVE_STATE_SUCCESS ||
      move.state() == v1::MOVE_STATE_RESCHEDULED) {
    return absl::FailedPreconditionError(
        absl::StrCat("Cancel is not possible. Current status is ", move.raw_state(), "; the migration continues"));
  }
  absl::StatusOr<GraphResult> cancelled =
      Graph(*ref.entry, "POST",
            absl::StrCat(kMigrationsBeta, "/crossOrganizationMigrationTasks/", UrlEscape(move.task_id()), "/cancel"),
            nullptr, deadline);
  if (!cancelled.ok()) {
    if (cancelled.status().code() == absl::StatusCode::kFailedPrecondition) {
      return absl::FailedPreconditionError(absl::StrCat(cancelled.status().message(), "; the migration continues"));
    }
    return cancelled.status();
  }
  ASSIGN_OR_RETURN(GraphResult after,
                   Graph(*ref.entry, "GET",
                         absl::StrCat(kMigrationsBeta, "/crossOrganizationMigrationTasks/", UrlEscape(move.task_id())),
                         nullptr, deadline));
  return MoveFromTask(after.body);
}

// ---------------------------------------------------------------------------------------------------
// Step 7: redirect sites (modelled SharePoint admin calls).

namespace {

// A ListRedirectSites page token: SharePoint's page (its NextStartIndexFromSharePoint, "" for the first)
// and how many of its sites earlier pages of ours already returned.
struct SitePosition {
  std::string start_index;
  int offset = 0;
};

std::string EncodeSitePosition(const SitePosition& position) {
  return Base64UrlEncode(nlohmann::json{{"s", position.start_index}, {"o", position.offset}}.dump());
}

std::optional<SitePosition> DecodeSitePosition(const std::string& token) {
  absl::StatusOr<std::string> decoded = Base64UrlDecode(token);
  if (!decoded.ok()) return std::nullopt;
  const nlohmann::json parsed = nlohmann::json::parse(*decoded, nullptr, false);
  if (!parsed.is_object() || !parsed.contains("s") || !parsed["s"].is_string() || !parsed.contains("o") ||
      !parsed["o"].is_number_integer() || parsed["o"].get<int64_t>() < 0 || parsed["o"].get<int64_t>() > 1000000) {
    return std::nullopt;
  }
  return SitePosition{parsed["s"].get<std::string>(), static_cast<int>(parsed["o"].get<int64_t>())};
}

}  // namespace

absl::StatusOr<v1::ListRedirectSitesResponse> Connector::ListRedirectSites(const v1::ListRedirectSitesRequest& request,
                                                                           absl::Time deadline) {
  if (request.page_size() < 0) return InvalidArgumentWithViolations("invalid request", {{"page_size", "must be >= 0"}});
  SitePosition position;
  if (!request.page_token().empty()) {
    std::optional<SitePosition> decoded = DecodeSitePosition(request.page_token());
    if (!decoded) {
      return InvalidArgumentWithViolations("invalid request",
                                           {{"page_token", "is not a token from ListRedirectSites"}});
    }
    position = *decoded;
  }
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  const int page_size = request.page_size() == 0 ? 100 : std::min(request.page_size(), 1000);
  v1::ListRedirectSitesResponse response;
  // SharePoint decides its own page size: ours is filled from as many of its pages as it takes.
  while (response.redirect_sites_size() < page_size) {
    ASSIGN_OR_RETURN(SitePage page, sharepoint_.ListSites(target, "RedirectSite#0", position.start_index, deadline));
    int index = position.offset;
    for (; index < static_cast<int>(page.sites.size()) && response.redirect_sites_size() < page_size; ++index) {
      const SiteRow& row = page.sites[static_cast<size_t>(index)];
      v1::RedirectSite* site = response.add_redirect_sites();
      site->set_url(row.url);
      if (row.last_content_modified) SetTimestamp(*row.last_content_modified, site->mutable_create_time());
    }
    if (index < static_cast<int>(page.sites.size())) {
      response.set_next_page_token(EncodeSitePosition({position.start_index, index}));
      break;
    }
    if (page.next_start_index.empty()) break;
    position = {page.next_start_index, 0};
    if (response.redirect_sites_size() == page_size) {
      response.set_next_page_token(EncodeSitePosition(position));
      break;
    }
  }
  return response;
}

absl::Status Connector::RemoveRedirectSite(const v1::RemoveRedirectSiteRequest& request, absl::Time deadline) {
  if (!absl::StartsWith(absl::AsciiStrToLower(request.url()), "https://")) {
    return InvalidArgumentWithViolations("invalid request", {{"url", "must be the https URL of the redirect site"}});
  }
  ASSIGN_OR_RETURN(GeoRef ref, ResolveGeo(request.geo(), "geo"));
  ASSIGN_OR_RETURN(SharePointTarget target, SharePointOf(*ref.entry, ref.geo));
  absl::Status removed = sharepoint_.RemoveSite(target, request.url(), request.permanent(), deadline);
  if (removed.code() == absl::StatusCode::kNotFound) return absl::OkStatus();  // absent: done
  return removed;
}

}  // namespace crosstenant::tenant_connector
