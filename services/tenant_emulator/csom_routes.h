#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_CSOM_ROUTES_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_CSOM_ROUTES_H_

// SharePoint Online's admin surface as the SharePoint Online Management Shell reaches it, on every geo's
// hosts (https://<geo>-admin.sharepoint.com and the geo's root and my-site hosts); the contract is
// docs/sharepoint-admin-protocol.md, the details docs/tenant-emulator.md:
//
//   GET|POST /_vti_bin/client.svc[/ProcessQuery]  without a token: 401 with WWW-Authenticate
//            Bearer realm="<tenant id>",client_id="00000003-0000-0ff1-ce00-000000000000",... (tenant discovery)
//   POST /_vti_bin/client.svc/ProcessQuery        CSOM: an XML <Request> (csom_request.h) run against the
//            Tenant object ({268004ae-ef6b-4e9b-8425-127220d84719}), answered with the JSON array
//            [{"SchemaVersion","LibraryVersion","ErrorInfo","TraceCorrelationId"}, id, value, ...].
//            Tenant methods: GetMySiteHostUrl, GetTenantInstances, NewSPOTenantOrgRelation,
//            VerifySPOTenantOrgRelation, RemoveSPOTenantOrgRelation, GetTenantUserIdentityMappingItem,
//            GetSPOCrossTenantContentMoveState, GetSitePropertiesFromSharePointByFilters, RemoveSite,
//            RemoveDeletedSite; SpoOperation objects are polled through <Identity> paths.
//   POST /_api/contextinfo                        a form digest (X-RequestDigest), odata=nometadata or verbose
//   GET  /_api/MultiGeoApiVersions                the Multi-Geo REST service's versions
//   GET  /_api/XTenantMoveCompatibilityCheck(targetTenantHostUrl='<url>')?api-version=<v>
//
// Server-side failures of ProcessQuery are HTTP 200 with ErrorInfo set (SharePoint's exception type
// names and codes); a request that is not a CSOM request is HTTP 400 with ErrorInfo. Multi-Geo errors
// are OData JSON. Every call needs a SharePoint token of the host's tenant (bearer_auth.h: app-only
// tokens from a certificate with Sites.FullControl.All, or a SharePoint or Global Administrator).

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

class CsomRoutes {
 public:
  explicit CsomRoutes(EmulatorContext& context);
  CsomRoutes(const CsomRoutes&) = delete;
  CsomRoutes& operator=(const CsomRoutes&) = delete;

  void Register(Router& router);

  // A long-running operation (RemoveSite, RemoveDeletedSite), polled by its identity.
  struct Operation {
    int tenant = -1;
    int geo = -1;
    absl::Time complete_at;  // emulated
    absl::Time created;      // real, for eviction
  };
  // Where the next page of GetSitePropertiesFromSharePointByFilters starts.
  struct SitePage {
    int tenant = -1;
    int geo = -1;
    std::string after_url;  // the page holds the sites whose URL sorts after this one
    absl::Time created;     // real, for eviction
  };

  // For the executor of one ProcessQuery (csom_routes.cc).
  EmulatorContext& context() { return c_; }
  std::string NewOperation(int tenant, int geo, const std::string& method, const std::string& url);
  std::optional<Operation> FindOperation(const std::string& identity);
  std::string NewSitePage(int tenant, int geo, const std::string& after_url);
  std::optional<SitePage> FindSitePage(const std::string& token);

 private:
  void ClientService(RequestContext& ctx);
  void ProcessQuery(RequestContext& ctx);
  void ContextInfo(RequestContext& ctx);
  void MultiGeoVersions(RequestContext& ctx);
  void CompatibilityCheck(RequestContext& ctx, const std::vector<std::string>& captures);
  bool Authorize(RequestContext& ctx);
  // True if `digest` came from ContextInfo and has not expired.
  bool KnownDigest(const std::string& digest);

  EmulatorContext& c_;
  absl::Mutex mu_;
  std::map<std::string, absl::Time> digests_ ABSL_GUARDED_BY(mu_);    // FormDigestValue → expiry (real time)
  std::map<std::string, Operation> operations_ ABSL_GUARDED_BY(mu_);  // by _ObjectIdentity_
  std::map<std::string, SitePage> site_pages_ ABSL_GUARDED_BY(mu_);   // by NextStartIndexFromSharePoint
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_CSOM_ROUTES_H_
