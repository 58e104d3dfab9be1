#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ADMIN_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ADMIN_H_

// MODELLED SharePoint admin calls. Microsoft publishes no REST contract for the cross-tenant cmdlets
// (Get-SPOCrossTenantHostUrl, Set-/Verify-/Remove-SPOCrossTenantRelationship,
// Get-SPOCrossTenantCompatibilityStatus), for geo locations or for redirect sites: the cmdlets speak
// CSOM. This file is the one place that models them, as SharePoint-style `/_api/` OData JSON calls on
// the geo's admin host, matching the tenant emulator (docs/tenant-emulator.md). Swap this file for a
// CSOM client to reach a real tenant for these operations; everything else (Entra ID, Graph) is the
// documented protocol.

#include <string>

namespace crosstenant::tenant_connector::sharepoint_admin {

// Every path is relative to the geo's admin host `https://<geo>-admin.<suffix>`; the token audience
// is that host. Responses are `odata=nometadata` JSON, mostly `{"value": ...}`.
inline constexpr char kGeoLocations[] = "/_api/SPO.Tenant/GeoLocations";
inline constexpr char kCrossTenantHostUrl[] = "/_api/SPO.Tenant/CrossTenantHostUrl";
inline constexpr char kSetRelationship[] = "/_api/SPO.Tenant/SetCrossTenantRelationship";
inline constexpr char kVerifyRelationship[] = "/_api/SPO.Tenant/VerifyCrossTenantRelationship";
inline constexpr char kRemoveRelationship[] = "/_api/SPO.Tenant/RemoveCrossTenantRelationship";
inline constexpr char kCompatibilityStatus[] = "/_api/SPO.Tenant/CrossTenantCompatibilityStatus";
inline constexpr char kRedirectSites[] = "/_api/SPO.Tenant/RedirectSites";
inline constexpr char kRemoveRedirectSite[] = "/_api/SPO.Tenant/RemoveRedirectSite";
inline constexpr char kMoveStates[] = "/_api/SPO.Tenant/CrossTenantUserContentMoveStates";

}  // namespace crosstenant::tenant_connector::sharepoint_admin

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ADMIN_H_
