#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_REQUIRED_ACCESS_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_REQUIRED_ACCESS_H_

// What a connection's principal must hold, written once: the directory roles a signed-in admin needs,
// and the application permissions an app needs, each with the step that needs it. Connecting checks
// the ones needed to connect; preflight checks them all.

#include <set>
#include <string>
#include <vector>

namespace crosstenant::tenant_connector {

inline constexpr char kGlobalAdministratorRole[] = "62e90394-69f5-4237-9190-012177145e10";
inline constexpr char kSharePointAdministratorRole[] = "f28a1f50-f6e7-4571-818b-6a12f2af6b6c";

// A directory role's display name by template id ("" when the connector does not know the role).
std::string DirectoryRoleName(const std::string& template_id);

// True if `roles` (template ids) hold a role that administers SharePoint (SharePoint or Global
// Administrator): what Microsoft's cross-tenant cmdlets require of a signed-in admin.
bool HoldsSharePointAdminRole(const std::set<std::string>& roles);

// One application permission (a `roles` claim value) an app needs.
struct RequiredPermission {
  std::string permission;                    // "Sites.FullControl.All"
  std::vector<std::string> also_granted_by;  // wider permissions that include it
  std::string needed_for;                    // "trust, verification, compatibility and redirects (SharePoint admin)"
  bool needed_to_connect;                    // checked by CreateConnection, not only by preflight
};

// Every application permission a migration app needs.
const std::vector<RequiredPermission>& RequiredApplicationPermissions();

// The permissions of RequiredApplicationPermissions that `held` lacks (only those needed to connect if
// `to_connect`), as "Permission (needed for ...)" texts.
std::vector<std::string> MissingApplicationPermissions(const std::set<std::string>& held, bool to_connect);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_REQUIRED_ACCESS_H_
