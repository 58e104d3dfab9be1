#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ADMIN_CLIENT_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ADMIN_CLIENT_H_

// The connector's client for SharePoint Online's admin surface, as the SharePoint Online Management
// Shell reaches it: CSOM `ProcessQuery` on `https://<geo>-admin.<suffix>/_vti_bin/client.svc/ProcessQuery`
// and the Multi-Geo REST service on the same host (docs/sharepoint-admin-protocol.md). One method per
// Microsoft call; the business meaning (trust states, findings, paging for callers) is the tenant
// operations' job.
//
// Every request goes through the tenant's throttle governor (429/503 with Retry-After honoured
// exactly), is answered once by a fresh token on a 401, asks for a form digest only when SharePoint
// asks for one, and is written to the wire log when one is configured. Errors:
// - ErrorInfo in the answer: see csom::StatusOfServerError (keeps type, code and correlation id);
// - SharePoint refusing an app-only token from a client secret: FAILED_PRECONDITION with reason
//   kReasonNeedsCertificate;
// - a 401 after a fresh token: FAILED_PRECONDITION with reason kReasonTokenRejected;
// - other HTTP errors: MapUpstreamError; an unreadable 2xx answer: UNAVAILABLE (never an empty result).
// Methods block on HTTP: call them from the connector's executor.
//
//   SharePointAdminClient client(&transport, &governors, Clock::Real(), &metrics, wire_log.get());
//   ASSIGN_OR_RETURN(int64_t status, client.VerifyOrgRelation(target, "Target", partner, deadline));

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"
#include "services/tenant_connector/core/http.h"
#include "services/tenant_connector/core/metrics.h"
#include "services/tenant_connector/core/sharepoint/csom.h"
#include "services/tenant_connector/core/sharepoint/wire_log.h"
#include "services/tenant_connector/core/throttle.h"

namespace crosstenant::tenant_connector {

// ErrorInfo reasons of the statuses this client makes itself.
inline constexpr char kReasonNeedsCertificate[] = "SHAREPOINT_NEEDS_CERTIFICATE";
inline constexpr char kReasonTokenRejected[] = "SHAREPOINT_TOKEN_REJECTED";
inline constexpr char kReasonNoRealm[] = "SHAREPOINT_NO_REALM";

// Who calls, and where.
struct SharePointTarget {
  std::string admin_url;     // "https://contosoeur-admin.sharepoint.com": the geo's admin host, no slash
  std::string governor_key;  // the tenant's throttle key (ThrottleGovernors::For)
  std::string connection;    // "connections/contoso", for logs
  // A bearer token whose audience is `admin_url`; `force` asks for a fresh one (after a 401).
  std::function<absl::StatusOr<std::string>(bool force, absl::Time deadline)> token;
  // Told when SharePoint refuses even a fresh token (the connection needs a new sign-in); may be empty.
  std::function<void(const std::string& message)> on_token_rejected;
};

// An SPOTenantInstance: one geography of the tenant.
struct TenantInstance {
  std::string data_location;  // "EUR"; empty for a tenant that is not Multi-Geo
  bool is_default = false;
  std::string tenant_admin_url;  // "https://contosoeur-admin.sharepoint.com/"
  std::string my_site_host_url;  // "https://contosoeur-my.sharepoint.com/"
  std::string root_site_url;     // "https://contosoeur.sharepoint.com/"
};

// A SiteProperties row of GetSitePropertiesFromSharePointByFilters.
struct SiteRow {
  std::string url;
  std::string template_name;
  std::string title;
  std::optional<absl::Time> last_content_modified;
};
struct SitePage {
  std::vector<SiteRow> sites;
  std::string next_start_index;  // NextStartIndexFromSharePoint; empty on the last page
};

// An SPOTenantUserIdentityMapping row.
struct UserIdentityMappingRow {
  std::string source_tenant_company_id;
  std::string source_user_key;
  std::string target_user_upn;
  std::string target_user_email;
  std::string target_user_puid;
  int64_t user_type = 0;  // TenantIdentityMappingUserType
};

// The Multi-Geo XTenantMoveCompatibilityCheck answer.
struct CompatibilityCheck {
  std::string source_host_url;
  std::string target_host_url;
  std::optional<int64_t> result;  // XTenantMoveCompatibilityResult; nullopt when absent
};

class SharePointAdminClient {
 public:
  // `metrics` and `wire_log` may be null.
  SharePointAdminClient(HttpTransport* transport, ThrottleGovernors* governors, Clock* clock, ConnectorMetrics* metrics,
                        sharepoint::WireLog* wire_log);

  // The tenant id SharePoint announces for `admin_url` in the `realm` of its Bearer challenge to an
  // anonymous request of `/_vti_bin/client.svc`. FAILED_PRECONDITION (reason kReasonNoRealm) when the
  // host answers no realm; UNAVAILABLE when it cannot be reached. The request goes through the
  // throttle governor of `governor_key`, so a 429 or 503 is waited out like any other.
  absl::StatusOr<std::string> DiscoverTenantId(const std::string& admin_url, const std::string& governor_key,
                                               absl::Time deadline);

  // Sends `request` and returns the answer whose ErrorInfo is empty (else the server error's status);
  // `method` names the call in errors and logs.
  absl::StatusOr<csom::Response> ProcessQuery(const SharePointTarget& target, const csom::RequestBuilder& request,
                                              const std::string& method, absl::Time deadline);
  // GET of a Multi-Geo REST `path` (after `/_api/`) with the newest API version both sides support.
  absl::StatusOr<nlohmann::json> MultiGeoGet(const SharePointTarget& target, const std::string& path,
                                             absl::Time deadline);

  // --- Tenant methods (each one ProcessQuery, or REST where noted) ---
  absl::StatusOr<std::string> GetMySiteHostUrl(const SharePointTarget& target, absl::Time deadline);
  absl::StatusOr<std::vector<TenantInstance>> GetTenantInstances(const SharePointTarget& target, absl::Time deadline);
  // `partner_role` is "Source" or "Target"; `partner_host_url` the partner geo's my-site host URL.
  absl::Status NewOrgRelation(const SharePointTarget& target, const std::string& partner_role,
                              const std::string& partner_host_url, absl::Time deadline);
  // The raw OrgRelationVerificationStatus number.
  absl::StatusOr<int64_t> VerifyOrgRelation(const SharePointTarget& target, const std::string& partner_role,
                                            const std::string& partner_host_url, absl::Time deadline);
  absl::Status RemoveOrgRelation(const SharePointTarget& target, const std::string& partner_role,
                                 const std::string& partner_host_url, absl::Time deadline);
  // REST: Get-SPOCrossTenantCompatibilityStatus.
  absl::StatusOr<CompatibilityCheck> CheckCompatibility(const SharePointTarget& target,
                                                        const std::string& partner_host_url, absl::Time deadline);
  // One page of sites with template `template_name` (personal sites included), from `start_index`
  // ("" for the first page).
  absl::StatusOr<SitePage> ListSites(const SharePointTarget& target, const std::string& template_name,
                                     const std::string& start_index, absl::Time deadline);
  // Get-SPOSite -Identity, for at most kMaxSitesPerQuery sites in one ProcessQuery: each site's
  // LockState ("Unlock", "ReadOnly", "NoAccess", "NoAdditions"), in the order of `site_urls`. SharePoint
  // stops at the first site it cannot find and answers NOT_FOUND (SpoNoSiteException) for them all.
  static constexpr size_t kMaxSitesPerQuery = 100;
  absl::StatusOr<std::vector<std::string>> GetSiteLockStates(const SharePointTarget& target,
                                                             const std::vector<std::string>& site_urls,
                                                             absl::Time deadline);
  // Remove-SPOSite: RemoveSite and its SpoOperation polled until complete (then, with `permanent`,
  // RemoveDeletedSite the same way). NOT_FOUND when there is no such site.
  absl::Status RemoveSite(const SharePointTarget& target, const std::string& url, bool permanent, absl::Time deadline);
  // Get-SPOTenantIdentityMappingUser -Field SourceUserKey -Value upn.
  absl::StatusOr<std::vector<UserIdentityMappingRow>> GetUserIdentityMapping(const SharePointTarget& target,
                                                                             const std::string& source_upn,
                                                                             absl::Time deadline);
  // Get-SPOCrossTenantUserContentMoveState: the rows of the JSON string SharePoint answers, for moves
  // with `partner_host_url` (and of `source_upn`, if not empty). `partner_role` "Source" or "Target".
  absl::StatusOr<std::vector<nlohmann::json>> GetMoveStates(const SharePointTarget& target,
                                                            const std::string& partner_host_url,
                                                            const std::string& source_upn,
                                                            const std::string& partner_role, absl::Time deadline);

 private:
  // One HTTP exchange with token, governor, 401 re-acquire, digest fallback and wire log. Returns the
  // 2xx answer's body, or the error status.
  absl::StatusOr<std::string> Send(const SharePointTarget& target, const std::string& method, const std::string& url,
                                   const std::string& content_type, const std::string& body, absl::Time deadline);
  // `request` through the tenant's throttle governor, counted in the metrics and the wire log.
  absl::StatusOr<HttpResponse> Governed(const SharePointTarget& target, const HttpRequest& request,
                                        absl::Time deadline);
  absl::StatusOr<std::string> FormDigest(const SharePointTarget& target, const std::string& token, absl::Time deadline);
  absl::StatusOr<std::string> ApiVersion(const SharePointTarget& target, absl::Time deadline);
  // Polls the SpoOperation `operation` (a Query answer) until IsComplete.
  absl::Status WaitForOperation(const SharePointTarget& target, const nlohmann::json& operation,
                                const std::string& method, absl::Time deadline);

  HttpTransport* const transport_;
  ThrottleGovernors* const governors_;
  Clock* const clock_;
  ConnectorMetrics* const metrics_;
  sharepoint::WireLog* const wire_log_;

  absl::Mutex mu_;
  struct CachedVersion {
    std::string version;
    absl::Time expire_time;
  };
  std::map<std::string, CachedVersion> api_versions_ ABSL_GUARDED_BY(mu_);  // by admin URL
};

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ADMIN_CLIENT_H_
