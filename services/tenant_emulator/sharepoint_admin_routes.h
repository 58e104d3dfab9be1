#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_SHAREPOINT_ADMIN_ROUTES_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_SHAREPOINT_ADMIN_ROUTES_H_

// MODELLED SharePoint admin operations. Microsoft publishes no REST contract for the cross-tenant
// cmdlets (they speak CSOM), so the emulator models each of them here, and only here, in SharePoint's
// /_api/ OData JSON style on every geo's hosts (https://<geo>-admin.sharepoint.com/_api/SPO.Tenant/...):
//
//   GET  CrossTenantHostUrl                     Get-SPOCrossTenantHostUrl
//   POST SetCrossTenantRelationship             Set-SPOCrossTenantRelationship
//   POST VerifyCrossTenantRelationship          Verify-SPOCrossTenantRelationship
//   POST RemoveCrossTenantRelationship          Remove-SPOCrossTenantRelationship
//   GET  CrossTenantRelationships               Get-SPOCrossTenantRelationship
//   GET  CrossTenantCompatibilityStatus         Get-SPOCrossTenantCompatibilityStatus
//   GET  GeoLocations                           the tenant's geos and their URLs
//   GET  RedirectSites                          Get-SPOSite -Template RedirectSite#0 -IncludePersonalSite $true
//   POST RemoveRedirectSite                     Remove-SPOSite (of a redirect site)
//   GET  CrossTenantUserContentMoveStates       Get-SPOCrossTenantUserContentMoveState
//
// Request and response bodies are documented in docs/tenant-emulator.md.

#include <string>
#include <vector>

#include "services/tenant_emulator/emulator_context.h"
#include "services/tenant_emulator/http_util.h"

namespace crosstenant::emulator {

class SharePointAdminRoutes {
 public:
  explicit SharePointAdminRoutes(EmulatorContext& context);

  void Register(Router& router);

 private:
  void HostUrl(RequestContext& ctx);
  void SetRelationship(RequestContext& ctx);
  void VerifyRelationship(RequestContext& ctx);
  void RemoveRelationship(RequestContext& ctx);
  void ListRelationships(RequestContext& ctx);
  void CompatibilityStatus(RequestContext& ctx);
  void GeoLocations(RequestContext& ctx);
  void RedirectSites(RequestContext& ctx);
  void RemoveRedirectSite(RequestContext& ctx);
  void MoveStates(RequestContext& ctx);

  // Parses {"scenario":"MnA","partnerRole":..,"partnerCrossTenantHostUrl":..}; answers 400 and
  // returns false if it is not valid.
  bool ParseRelationshipBody(RequestContext& ctx, std::string* role, std::string* partner_url);
  bool Authorize(RequestContext& ctx);

  EmulatorContext& c_;
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_SHAREPOINT_ADMIN_ROUTES_H_
