#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_ADMIN_URL_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_ADMIN_URL_H_

// Microsoft clouds (the connector's cloud profiles) and the SharePoint admin URL of step 1,
// `Connect-SPOService -Url https://<tenant>-admin.sharepoint.com`.
//
//   ASSIGN_OR_RETURN(AdminUrl url, ParseAdminUrl(" HTTPS://Contoso-Admin.SharePoint.com/ ", Cloud::kUnspecified));
//   url.url          == "https://contoso-admin.sharepoint.com"
//   url.tenant_name  == "contoso"
//   url.MySiteHost() == "https://contoso-my.sharepoint.com/"
//
// Every refusal is INVALID_ARGUMENT whose message says what to type instead, e.g. for a OneDrive URL
// "https://contoso-my.sharepoint.com is the OneDrive (my-site) host; the admin URL is
// https://contoso-admin.sharepoint.com".

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crosstenant::tenant_connector {

// Same numbering as crosstenant.v1.Cloud.
enum class Cloud { kUnspecified = 0, kCommercial = 1, kGcc = 2, kGccHigh = 3, kDod = 4, kChina = 5 };

// The host names of one Microsoft cloud. The connector always speaks to these real names; a
// connect-to map (see HttpClient) may send them elsewhere without changing them.
struct CloudProfile {
  Cloud cloud;
  const char* name;               // "COMMERCIAL"
  const char* login_host;         // Entra ID authority host, "login.microsoftonline.com"
  const char* graph_host;         // Microsoft Graph host, "graph.microsoft.com"
  const char* sharepoint_suffix;  // "sharepoint.com"
  // Microsoft supports cross-tenant OneDrive migration (and its Graph beta APIs) in this cloud.
  bool migration_supported;
};

// The profile of `cloud`; kUnspecified gives the commercial profile.
const CloudProfile& ProfileOf(Cloud cloud);

// A checked, normalised SharePoint admin URL.
struct AdminUrl {
  std::string url;          // "https://contoso-admin.sharepoint.com": lower case, no slash, no path
  std::string host;         // "contoso-admin.sharepoint.com"
  std::string tenant_name;  // "contoso"
  Cloud cloud = Cloud::kCommercial;

  // "https://contoso-my.sharepoint.com/" (the cross-tenant host URL of the geo).
  std::string MySiteHost() const;
  // "https://contoso.sharepoint.com".
  std::string RootSite() const;
  // "contoso.onmicrosoft.com" (or the cloud's equivalent initial domain).
  std::string InitialDomainGuess() const;
};

// Checks `text` as the admin URL of a tenant in `cloud` (kUnspecified: inferred from the suffix).
absl::StatusOr<AdminUrl> ParseAdminUrl(absl::string_view text, Cloud cloud);

// The admin URL of tenant `name` in `cloud`, e.g. for a geo discovered by name.
AdminUrl AdminUrlFor(absl::string_view tenant_name, Cloud cloud);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_ADMIN_URL_H_
