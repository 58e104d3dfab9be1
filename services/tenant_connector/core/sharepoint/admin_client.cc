#include "services/tenant_connector/core/sharepoint/admin_client.h"

#include <algorithm>
#include <regex>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "services/common/build_info.h"
#include "services/common/errors.h"
#include "services/common/logging.h"
#include "services/common/status_macros.h"
#include "services/tenant_connector/core/json_read.h"
#include "services/tenant_connector/core/sharepoint/enums.h"
#include "services/tenant_connector/core/upstream_error.h"

namespace crosstenant::tenant_connector {

using csom::Parameter;
using sharepoint::EnumNumber;

namespace {

constexpr char kApplicationName[] = "crosstenant";
// The Multi-Geo REST API versions this client knows, newest first (the versions PnP PowerShell knows).
constexpr const char* kMultiGeoVersions[] = {
    "1.6.0",  "1.5.20", "1.5.19", "1.5.18", "1.5.17", "1.5.16", "1.5.15", "1.5.14", "1.5.13", "1.5.12", "1.5.11",
    "1.5.10", "1.5.9",  "1.5.8",  "1.5.7",  "1.5.6",  "1.5.5",  "1.5.4",  "1.5.3",  "1.5.2",  "1.5.1",  "1.5.0",
    "1.4.7",  "1.4.6",  "1.4.5",  "1.4.4",  "1.4.3",  "1.4.2",  "1.4.1",  "1.4.0",  "1.3.11", "1.3.10", "1.3.9",
    "1.3.8",  "1.3.7",  "1.3.6",  "1.3.5",  "1.3.4",  "1.3.2",  "1.3.1",  "1.3.0",  "1.2.2",  "1.1",    "1.0"};
constexpr absl::Duration kApiVersionLifetime = absl::Hours(1);
// SpoOperation polling: SharePoint's own interval, within these bounds.
constexpr absl::Duration kMinPoll = absl::Milliseconds(100);
constexpr absl::Duration kMaxPoll = absl::Seconds(30);

std::string UserAgent() { return absl::StrCat("NONISV|crosstenant|tenant-connector/", kVersion); }

// The CSOM methods that change a tenant (and the operations they start, polled under the same name).
bool ChangesTenant(absl::string_view method) {
  return method == "NewSPOTenantOrgRelation" || method == "RemoveSPOTenantOrgRelation" || method == "RemoveSite" ||
         method == "RemoveDeletedSite";
}

// The child items of a collection answer, or UNAVAILABLE if the answer is not a collection.
absl::StatusOr<const nlohmann::json*> ChildItems(const nlohmann::json* value, const std::string& method) {
  if (value == nullptr || !value->is_object()) {
    return absl::UnavailableError(absl::StrCat("SharePoint answered ", method, " without a collection"));
  }
  auto it = value->find("_Child_Items_");
  if (it == value->end() || !it->is_array()) {
    return absl::UnavailableError(absl::StrCat("SharePoint answered ", method, " without _Child_Items_"));
  }
  return &*it;
}

// A SharePoint URL as the connector keeps it: lower case, with one trailing slash.
std::string HostUrl(std::string url) {
  url = absl::AsciiStrToLower(url);
  if (!url.empty() && !absl::EndsWith(url, "/")) url += "/";
  return url;
}

absl::Status NeedsCertificate(const std::string& target) {
  return WithErrorInfo(
      absl::FailedPreconditionError(absl::StrCat(
          "SharePoint Online at ", target,
          " refuses app-only tokens obtained with a client secret (\"Unsupported app only token\"); add a "
          "certificate to the app registration and reconnect with it (migratectl connect --certificate=FILE), "
          "or connect as a SharePoint administrator (--device-code or --username)")),
      kReasonNeedsCertificate, "crosstenant", {{"admin_url", target}});
}

// Microsoft's "security validation" refusal, which only a form digest answers.
bool AsksForDigest(int status, const std::string& body) {
  return status == 403 && (absl::StrContains(body, "-2130575252") || absl::StrContains(body, "security validation"));
}

}  // namespace

SharePointAdminClient::SharePointAdminClient(HttpTransport* transport, ThrottleGovernors* governors, Clock* clock,
                                             ConnectorMetrics* metrics, sharepoint::WireLog* wire_log)
    : transport_(transport), governors_(governors), clock_(clock), metrics_(metrics), wire_log_(wire_log) {}

// ---------------------------------------------------------------------------------------------------
// Transport.

absl::StatusOr<std::string> SharePointAdminClient::DiscoverTenantId(const std::string& admin_url,
                                                                    const std::string& governor_key,
                                                                    absl::Time deadline) {
  HttpRequest request;
  request.method = "GET";
  request.url = absl::StrCat(admin_url, "/_vti_bin/client.svc");
  request.headers = {{"Authorization", "Bearer"}, {"User-Agent", UserAgent()}};
  request.timeout = std::clamp(deadline - clock_->Now(), absl::Seconds(1), absl::Seconds(30));
  SharePointTarget target;
  target.admin_url = admin_url;
  target.governor_key = governor_key;
  ASSIGN_OR_RETURN(HttpResponse response, Governed(target, request, deadline));
  if (response.status == 429 || response.status >= 500) {
    // Still throttled or down after the governor's attempts: say so, not that the host named no tenant.
    return MapUpstreamError("sharepoint", response.status, nlohmann::json::parse(response.body, nullptr, false),
                            response.body);
  }
  static const auto* realm =
      new std::regex("realm=\"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\"");
  const std::string challenge = response.Header("www-authenticate");
  std::smatch match;
  if (response.status != 401 || !std::regex_search(challenge, match, *realm)) {
    return WithErrorInfo(
        absl::FailedPreconditionError(absl::StrCat(
            admin_url, " did not name its tenant (HTTP ", response.status,
            challenge.empty() ? ", no WWW-Authenticate challenge" : absl::StrCat(", challenge \"", challenge, "\""),
            "); is it a SharePoint Online admin URL of the right cloud?")),
        kReasonNoRealm, "crosstenant", {{"admin_url", admin_url}});
  }
  return absl::AsciiStrToLower(match.str(1));
}

absl::StatusOr<std::string> SharePointAdminClient::Send(const SharePointTarget& target, const std::string& method,
                                                        const std::string& url, const std::string& content_type,
                                                        const std::string& body, absl::Time deadline) {
  std::string digest;
  bool digest_tried = false;
  for (int auth_attempt = 0;;) {
    ASSIGN_OR_RETURN(std::string token, target.token(auth_attempt > 0, deadline));
    HttpRequest request;
    request.method = method;
    request.url = url;
    request.headers = {{"Authorization", absl::StrCat("Bearer ", token)},
                       {"Accept", "application/json;odata=nometadata"},
                       {"User-Agent", UserAgent()}};
    if (!content_type.empty()) request.headers.push_back({"Content-Type", content_type});
    if (!digest.empty()) request.headers.push_back({"X-RequestDigest", digest});
    request.body = body;
    request.timeout = std::clamp(deadline - clock_->Now(), absl::Seconds(1), absl::Seconds(60));
    absl::StatusOr<HttpResponse> response = Governed(target, request, deadline);
    if (!response.ok()) return response.status();
    if (response->status >= 200 && response->status < 300) return std::move(response->body);
    if (response->status == 401) {
      if (absl::StrContains(response->body, "Unsupported app only token")) return NeedsCertificate(target.admin_url);
      if (auth_attempt++ == 0) continue;
      const std::string message =
          absl::StrCat("SharePoint at ", target.admin_url, " rejected a freshly acquired token (HTTP 401): ",
                       UpstreamMessage(nlohmann::json::parse(response->body, nullptr, false), response->body));
      if (target.on_token_rejected) target.on_token_rejected(message);
      return WithErrorInfo(absl::FailedPreconditionError(message), kReasonTokenRejected, "crosstenant",
                           {{"admin_url", target.admin_url}});
    }
    if (AsksForDigest(response->status, response->body) && !digest_tried) {
      digest_tried = true;
      ASSIGN_OR_RETURN(digest, FormDigest(target, token, deadline));
      continue;
    }
    return MapUpstreamError("sharepoint", response->status, nlohmann::json::parse(response->body, nullptr, false),
                            response->body);
  }
}

absl::StatusOr<HttpResponse> SharePointAdminClient::Governed(const SharePointTarget& target, const HttpRequest& request,
                                                             absl::Time deadline) {
  return governors_->For(target.governor_key, UpstreamApi::kSharePoint)
      .Run(
          [&]() -> absl::StatusOr<HttpResponse> {
            absl::StatusOr<HttpResponse> sent = transport_->Send(request);
            if (metrics_) metrics_->UpstreamRequest("sharepoint", sent.ok() ? sent->status : 0);
            if (wire_log_) {
              wire_log_->Write(clock_->Now(), target.connection, request.method, request.url,
                               sent.ok() ? sent->status : 0, request.body,
                               sent.ok() ? sent->body : std::string(sent.status().message()));
            }
            return sent;
          },
          deadline);
}

absl::StatusOr<std::string> SharePointAdminClient::FormDigest(const SharePointTarget& target, const std::string& token,
                                                              absl::Time deadline) {
  HttpRequest request;
  request.method = "POST";
  request.url = absl::StrCat(target.admin_url, "/_api/contextinfo");
  request.headers = {{"Authorization", absl::StrCat("Bearer ", token)},
                     {"Accept", "application/json;odata=nometadata"},
                     {"User-Agent", UserAgent()}};
  request.timeout = std::clamp(deadline - clock_->Now(), absl::Seconds(1), absl::Seconds(60));
  ASSIGN_OR_RETURN(HttpResponse response, Governed(target, request, deadline));
  const nlohmann::json parsed = nlohmann::json::parse(response.body, nullptr, false);
  if (response.status < 200 || response.status >= 300) {
    return MapUpstreamError("sharepoint", response.status, parsed, response.body);
  }
  std::string digest = json_read::Str(parsed, "FormDigestValue");
  if (digest.empty() && parsed.is_object() && parsed.contains("d")) {
    digest = json_read::Str(parsed["d"].value("GetContextWebInformation", nlohmann::json::object()), "FormDigestValue");
  }
  if (digest.empty()) return absl::UnavailableError("SharePoint's /_api/contextinfo answered no FormDigestValue");
  log::Info("SharePoint asked for a form digest", {{"connection", target.connection}, {"admin_url", target.admin_url}});
  return digest;
}

absl::StatusOr<csom::Response> SharePointAdminClient::ProcessQuery(const SharePointTarget& target,
                                                                   const csom::RequestBuilder& request,
                                                                   const std::string& method, absl::Time deadline) {
  ASSIGN_OR_RETURN(std::string body,
                   Send(target, "POST", absl::StrCat(target.admin_url, "/_vti_bin/client.svc/ProcessQuery"), "text/xml",
                        request.Build(), deadline));
  ASSIGN_OR_RETURN(csom::Response response, csom::Response::Parse(body));
  if (response.error()) {
    const csom::ServerError& error = *response.error();
    log::Warning("SharePoint refused a call", {{"connection", target.connection},
                                               {"method", method},
                                               {"error_type_name", error.type_name},
                                               {"error_code", std::to_string(error.code)},
                                               {"trace_correlation_id", error.correlation_id},
                                               {"message", error.message}});
    return response.Status(method);
  }
  // A change is logged with SharePoint's correlation id when it succeeds too: that id is what Microsoft
  // support asks for about one call, and a change that went through can still be the one to ask about.
  log::Write(
      ChangesTenant(method) ? log::Severity::kInfo : log::Severity::kDebug, "SharePoint answered a call",
      {{"connection", target.connection}, {"method", method}, {"trace_correlation_id", response.correlation_id()}});
  return response;
}

absl::StatusOr<std::string> SharePointAdminClient::ApiVersion(const SharePointTarget& target, absl::Time deadline) {
  {
    absl::MutexLock lock(&mu_);
    auto it = api_versions_.find(target.admin_url);
    if (it != api_versions_.end() && it->second.expire_time > clock_->Now()) return it->second.version;
  }
  ASSIGN_OR_RETURN(std::string body,
                   Send(target, "GET", absl::StrCat(target.admin_url, "/_api/MultiGeoApiVersions"), "", "", deadline));
  const nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  std::vector<std::string> supported;
  if (parsed.is_object() && parsed.contains("SupportedVersions") && parsed["SupportedVersions"].is_array()) {
    for (const nlohmann::json& version : parsed["SupportedVersions"]) {
      if (version.is_string()) supported.push_back(version.get<std::string>());
    }
  }
  if (supported.empty()) {
    return absl::UnavailableError(
        absl::StrCat("SharePoint's MultiGeoApiVersions at ", target.admin_url, " listed no version"));
  }
  for (const char* known : kMultiGeoVersions) {
    if (std::find(supported.begin(), supported.end(), known) == supported.end()) continue;
    absl::MutexLock lock(&mu_);
    api_versions_[target.admin_url] = {known, clock_->Now() + kApiVersionLifetime};
    return std::string(known);
  }
  return absl::FailedPreconditionError(absl::StrCat("SharePoint's Multi-Geo API at ", target.admin_url,
                                                    " supports none of the versions this connector knows (it offers ",
                                                    absl::StrJoin(supported, ", "), ")"));
}

absl::StatusOr<nlohmann::json> SharePointAdminClient::MultiGeoGet(const SharePointTarget& target,
                                                                  const std::string& path, absl::Time deadline) {
  ASSIGN_OR_RETURN(std::string version, ApiVersion(target, deadline));
  const std::string url =
      absl::StrCat(target.admin_url, "/_api/", path, absl::StrContains(path, "?") ? "&" : "?", "api-version=", version);
  ASSIGN_OR_RETURN(std::string body, Send(target, "GET", url, "", "", deadline));
  nlohmann::json parsed = nlohmann::json::parse(body, nullptr, false);
  if (!parsed.is_object()) {
    return absl::UnavailableError(absl::StrCat("SharePoint's answer to ", path, " is not a JSON object"));
  }
  return parsed;
}

// ---------------------------------------------------------------------------------------------------
// Tenant methods.

absl::StatusOr<std::string> SharePointAdminClient::GetMySiteHostUrl(const SharePointTarget& target,
                                                                    absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  const int call = request.CallMethod(request.Tenant(), "GetMySiteHostUrl", {});
  ASSIGN_OR_RETURN(csom::Response response, ProcessQuery(target, request, "GetMySiteHostUrl", deadline));
  const nlohmann::json* value = response.Find(call);
  if (value == nullptr || !value->is_string() || value->get<std::string>().empty()) {
    return absl::UnavailableError("SharePoint answered GetMySiteHostUrl without a URL");
  }
  return HostUrl(value->get<std::string>());
}

absl::StatusOr<std::vector<TenantInstance>> SharePointAdminClient::GetTenantInstances(const SharePointTarget& target,
                                                                                      absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  const int instances = request.MethodPath(request.Tenant(), "GetTenantInstances", {});
  const int query = request.Query(instances, {}, /*child_items=*/true);
  ASSIGN_OR_RETURN(csom::Response response, ProcessQuery(target, request, "GetTenantInstances", deadline));
  ASSIGN_OR_RETURN(const nlohmann::json* items, ChildItems(response.Find(query), "GetTenantInstances"));
  std::vector<TenantInstance> out;
  for (const nlohmann::json& item : *items) {
    TenantInstance instance;
    instance.data_location = absl::AsciiStrToUpper(json_read::Str(item, "DataLocation"));
    instance.is_default = json_read::Bool(item, "IsDefaultDataLocation", false);
    instance.tenant_admin_url = HostUrl(json_read::Str(item, "TenantAdminUrl"));
    instance.my_site_host_url = HostUrl(json_read::Str(item, "MySiteHostUrl"));
    instance.root_site_url = HostUrl(json_read::Str(item, "RootSiteUrl"));
    if (instance.tenant_admin_url.empty()) {
      return absl::UnavailableError("SharePoint answered GetTenantInstances with an instance without TenantAdminUrl");
    }
    out.push_back(std::move(instance));
  }
  return out;
}

namespace {

std::vector<Parameter> RelationParameters(const std::string& partner_role, const std::string& partner_host_url) {
  return {Parameter::Enum(EnumNumber("OrgRelationScenario", "MnA")),
          Parameter::Enum(EnumNumber("OrgRelationRole", partner_role)), Parameter::String(partner_host_url)};
}

}  // namespace

absl::Status SharePointAdminClient::NewOrgRelation(const SharePointTarget& target, const std::string& partner_role,
                                                   const std::string& partner_host_url, absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  request.CallMethod(request.Tenant(), "NewSPOTenantOrgRelation", RelationParameters(partner_role, partner_host_url));
  return ProcessQuery(target, request, "NewSPOTenantOrgRelation", deadline).status();
}

absl::StatusOr<int64_t> SharePointAdminClient::VerifyOrgRelation(const SharePointTarget& target,
                                                                 const std::string& partner_role,
                                                                 const std::string& partner_host_url,
                                                                 absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  const int call = request.CallMethod(request.Tenant(), "VerifySPOTenantOrgRelation",
                                      RelationParameters(partner_role, partner_host_url));
  ASSIGN_OR_RETURN(csom::Response response, ProcessQuery(target, request, "VerifySPOTenantOrgRelation", deadline));
  const nlohmann::json* value = response.Find(call);
  if (value == nullptr || !value->is_number_integer()) {
    return absl::UnavailableError(absl::StrCat("SharePoint answered VerifySPOTenantOrgRelation with ",
                                               value == nullptr ? "nothing" : value->dump(), ", not a status number"));
  }
  return value->get<int64_t>();
}

absl::Status SharePointAdminClient::RemoveOrgRelation(const SharePointTarget& target, const std::string& partner_role,
                                                      const std::string& partner_host_url, absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  request.CallMethod(request.Tenant(), "RemoveSPOTenantOrgRelation",
                     RelationParameters(partner_role, partner_host_url));
  return ProcessQuery(target, request, "RemoveSPOTenantOrgRelation", deadline).status();
}

absl::StatusOr<CompatibilityCheck> SharePointAdminClient::CheckCompatibility(const SharePointTarget& target,
                                                                             const std::string& partner_host_url,
                                                                             absl::Time deadline) {
  // An OData string literal doubles its quotes; the URL is then percent-encoded into the path.
  const std::string literal = absl::StrReplaceAll(partner_host_url, {{"'", "''"}});
  ASSIGN_OR_RETURN(
      nlohmann::json body,
      MultiGeoGet(target, absl::StrCat("XTenantMoveCompatibilityCheck(targetTenantHostUrl='", UrlEscape(literal), "')"),
                  deadline));
  CompatibilityCheck check;
  check.source_host_url = json_read::Str(body, "SourceTenantHostUrl");
  check.target_host_url = json_read::Str(body, "TargetTenantHostUrl");
  auto result = body.find("XTenantMoveCompatibilityResult");
  if (result != body.end() && result->is_number_integer()) check.result = result->get<int64_t>();
  return check;
}

absl::StatusOr<SitePage> SharePointAdminClient::ListSites(const SharePointTarget& target,
                                                          const std::string& template_name,
                                                          const std::string& start_index, absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  Parameter filter =
      Parameter::Object(csom::kSitePropertiesFilterTypeId,
                        {{"Filter", Parameter::Null()},
                         {"IncludeDetail", Parameter::Boolean(false)},
                         {"IncludePersonalSite", Parameter::Enum(EnumNumber("PersonalSiteFilter", "Include"))},
                         // The first page starts at "0", as CLI for Microsoft 365 asks for it.
                         {"StartIndex", Parameter::String(start_index.empty() ? "0" : start_index)},
                         {"Template", Parameter::String(template_name)}});
  const int sites = request.MethodPath(request.Tenant(), "GetSitePropertiesFromSharePointByFilters", {filter});
  const int query = request.Query(sites, {}, /*child_items=*/true);
  ASSIGN_OR_RETURN(csom::Response response,
                   ProcessQuery(target, request, "GetSitePropertiesFromSharePointByFilters", deadline));
  ASSIGN_OR_RETURN(const nlohmann::json* items,
                   ChildItems(response.Find(query), "GetSitePropertiesFromSharePointByFilters"));
  SitePage page;
  for (const nlohmann::json& item : *items) {
    SiteRow row;
    row.url = json_read::Str(item, "Url");
    row.template_name = json_read::Str(item, "Template");
    row.title = json_read::Str(item, "Title");
    row.last_content_modified = csom::ParseDate(json_read::Str(item, "LastContentModifiedDate"));
    if (row.url.empty()) {
      return absl::UnavailableError(
          "SharePoint answered GetSitePropertiesFromSharePointByFilters with a site "
          "without Url");
    }
    page.sites.push_back(std::move(row));
  }
  page.next_start_index = json_read::Str(*response.Find(query), "NextStartIndexFromSharePoint");
  if (page.next_start_index == start_index && !start_index.empty()) {
    return absl::UnavailableError("SharePoint answered the same NextStartIndexFromSharePoint twice; paging stopped");
  }
  return page;
}

absl::StatusOr<std::vector<std::string>> SharePointAdminClient::GetSiteLockStates(
    const SharePointTarget& target, const std::vector<std::string>& site_urls, absl::Time deadline) {
  if (site_urls.size() > kMaxSitesPerQuery) {
    return absl::InternalError(
        absl::StrCat("GetSiteLockStates was asked for ", site_urls.size(), " sites, over ", kMaxSitesPerQuery));
  }
  std::vector<std::string> states;
  if (site_urls.empty()) return states;
  csom::RequestBuilder request(kApplicationName);
  const int tenant = request.Tenant();
  std::vector<int> queries;
  for (const std::string& url : site_urls) {
    const int site = request.MethodPath(tenant, "GetSitePropertiesByUrl",
                                        {Parameter::String(url), /*includeDetail=*/Parameter::Boolean(false)});
    queries.push_back(request.Query(site, {"LockState", "Url"}, /*child_items=*/false));
  }
  ASSIGN_OR_RETURN(csom::Response response, ProcessQuery(target, request, "GetSitePropertiesByUrl", deadline));
  for (const int query : queries) {
    const nlohmann::json* site = response.Find(query);
    std::string state = site != nullptr ? json_read::Str(*site, "LockState") : "";
    if (state.empty()) return absl::UnavailableError("SharePoint answered GetSitePropertiesByUrl without a LockState");
    states.push_back(std::move(state));
  }
  return states;
}

absl::Status SharePointAdminClient::WaitForOperation(const SharePointTarget& target, const nlohmann::json& operation,
                                                     const std::string& method, absl::Time deadline) {
  nlohmann::json current = operation;
  while (true) {
    if (!current.is_object() || current.value("_ObjectType_", "").find("SpoOperation") == std::string::npos) {
      return absl::UnavailableError(absl::StrCat("SharePoint answered ", method, " without an SpoOperation"));
    }
    if (json_read::Bool(current, "IsComplete", false)) return absl::OkStatus();
    if (json_read::Bool(current, "HasTimedout", false)) {
      return absl::DeadlineExceededError(absl::StrCat("SharePoint's ", method, " operation timed out on its side"));
    }
    const std::string identity = json_read::Str(current, "_ObjectIdentity_");
    if (identity.empty()) {
      return absl::UnavailableError(absl::StrCat("SharePoint's ", method, " operation has no _ObjectIdentity_"));
    }
    int64_t interval_ms = 0;
    if (auto it = current.find("PollingInterval"); it != current.end() && it->is_number_integer()) {
      interval_ms = it->get<int64_t>();
    }
    const absl::Duration wait = std::clamp(absl::Milliseconds(interval_ms), kMinPoll, kMaxPoll);
    if (clock_->Now() + wait >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat("SharePoint's ", method,
                                                      " operation had not completed when the call's deadline came; it "
                                                      "goes on at SharePoint: call again to see it finished"));
    }
    clock_->SleepFor(wait);
    csom::RequestBuilder request(kApplicationName);
    const int query =
        request.Query(request.IdentityPath(identity), {"IsComplete", "PollingInterval", "HasTimedout"}, false);
    ASSIGN_OR_RETURN(csom::Response response, ProcessQuery(target, request, method, deadline));
    const nlohmann::json* value = response.Find(query);
    if (value == nullptr) return absl::UnavailableError(absl::StrCat("SharePoint answered no ", method, " operation"));
    current = *value;
    if (!current.contains("_ObjectType_")) current["_ObjectType_"] = operation.value("_ObjectType_", "");
    if (!current.contains("_ObjectIdentity_")) current["_ObjectIdentity_"] = identity;
  }
}

absl::Status SharePointAdminClient::RemoveSite(const SharePointTarget& target, const std::string& url, bool permanent,
                                               absl::Time deadline) {
  for (const char* method : {"RemoveSite", "RemoveDeletedSite"}) {
    if (!permanent && std::string(method) == "RemoveDeletedSite") break;
    csom::RequestBuilder request(kApplicationName);
    const int operation = request.MethodPath(request.Tenant(), method, {Parameter::String(url)});
    const int query = request.Query(operation, {"IsComplete", "PollingInterval", "HasTimedout"}, false);
    ASSIGN_OR_RETURN(csom::Response response, ProcessQuery(target, request, method, deadline));
    const nlohmann::json* value = response.Find(query);
    if (value == nullptr) return absl::UnavailableError(absl::StrCat("SharePoint answered no ", method, " operation"));
    RETURN_IF_ERROR(WaitForOperation(target, *value, method, deadline));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<UserIdentityMappingRow>> SharePointAdminClient::GetUserIdentityMapping(
    const SharePointTarget& target, const std::string& source_upn, absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  const int items = request.MethodPath(
      request.Tenant(), "GetTenantUserIdentityMappingItem",
      {Parameter::Enum(EnumNumber("TenantIdentityMappingUserField", "SourceUserKey")), Parameter::String(source_upn)});
  const int query = request.Query(items, {}, /*child_items=*/true);
  ASSIGN_OR_RETURN(csom::Response response,
                   ProcessQuery(target, request, "GetTenantUserIdentityMappingItem", deadline));
  ASSIGN_OR_RETURN(const nlohmann::json* rows, ChildItems(response.Find(query), "GetTenantUserIdentityMappingItem"));
  std::vector<UserIdentityMappingRow> out;
  for (const nlohmann::json& item : *rows) {
    UserIdentityMappingRow row;
    row.source_tenant_company_id = json_read::Str(item, "SourceTenantCompanyId");
    row.source_user_key = json_read::Str(item, "SourceUserKey");
    row.target_user_upn = json_read::Str(item, "TargetUserUpn");
    row.target_user_email = json_read::Str(item, "TargetUserEmail");
    row.target_user_puid = json_read::Str(item, "TargetUserPuid");
    if (auto it = item.find("UserType"); it != item.end() && it->is_number_integer())
      row.user_type = it->get<int64_t>();
    out.push_back(std::move(row));
  }
  return out;
}

absl::StatusOr<std::vector<nlohmann::json>> SharePointAdminClient::GetMoveStates(const SharePointTarget& target,
                                                                                 const std::string& partner_host_url,
                                                                                 const std::string& source_upn,
                                                                                 const std::string& partner_role,
                                                                                 absl::Time deadline) {
  csom::RequestBuilder request(kApplicationName);
  const absl::Time now = clock_->Now();
  const int call = request.CallMethod(
      request.Tenant(), "GetSPOCrossTenantContentMoveState",
      {Parameter::Enum(EnumNumber("MnAWorkManagerContentType", "Odb")), Parameter::String(partner_host_url),
       Parameter::String(source_upn), Parameter::Guid("00000000-0000-0000-0000-000000000000"),
       Parameter::Int32(static_cast<int32_t>(EnumNumber("MoveState", "All"))),
       Parameter::Int32(static_cast<int32_t>(EnumNumber("MoveDirection", "All"))), Parameter::UInt32(0),
       Parameter::DateTime(now - absl::Hours(24 * 365)), Parameter::DateTime(now + absl::Hours(24)),
       Parameter::Enum(EnumNumber("OrgRelationRole", partner_role))});
  ASSIGN_OR_RETURN(csom::Response response,
                   ProcessQuery(target, request, "GetSPOCrossTenantContentMoveState", deadline));
  const nlohmann::json* value = response.Find(call);
  if (value == nullptr || !value->is_string()) {
    return absl::UnavailableError("SharePoint answered GetSPOCrossTenantContentMoveState without a string");
  }
  // The string's format is not published: JSON is expected, as an array of rows or an object holding one.
  nlohmann::json rows = nlohmann::json::parse(value->get<std::string>(), nullptr, false);
  if (rows.is_object()) {
    for (const char* key : {"value", "Value", "Items", "items"}) {
      if (rows.contains(key) && rows[key].is_array()) {
        rows = rows[key];
        break;
      }
    }
  }
  if (value->get<std::string>().empty()) rows = nlohmann::json::array();
  if (!rows.is_array()) {
    return absl::UnavailableError(
        absl::StrCat("SharePoint answered GetSPOCrossTenantContentMoveState with a string "
                     "that is not a JSON list of moves: ",
                     value->get<std::string>().substr(0, 200)));
  }
  std::vector<nlohmann::json> out;
  for (nlohmann::json& row : rows) {
    if (row.is_object()) out.push_back(std::move(row));
  }
  return out;
}

}  // namespace crosstenant::tenant_connector
