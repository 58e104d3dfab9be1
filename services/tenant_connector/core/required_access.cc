#include "services/tenant_connector/core/required_access.h"

#include "absl/strings/str_cat.h"

namespace crosstenant::tenant_connector {

std::string DirectoryRoleName(const std::string& template_id) {
  if (template_id == kGlobalAdministratorRole) return "Global Administrator";
  if (template_id == kSharePointAdministratorRole) return "SharePoint Administrator";
  if (template_id == "8c8b803f-96e1-4129-9349-20738d9f9652") return "Microsoft 365 Migration Administrator";
  if (template_id == "f2ef992c-3afb-46b9-b7cf-a126ee74c451") return "Global Reader";
  return "";
}

bool HoldsSharePointAdminRole(const std::set<std::string>& roles) {
  return roles.count(kGlobalAdministratorRole) > 0 || roles.count(kSharePointAdministratorRole) > 0;
}

const std::vector<RequiredPermission>& RequiredApplicationPermissions() {
  static const auto* permissions = new std::vector<RequiredPermission>{
      {"Sites.FullControl.All", {}, "SharePoint admin: geos, trust, verification, compatibility, redirect sites", true},
      {"User.Read.All",
       {"User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"},
       "the tenant's users (target users, identity map)",
       true},
      {"SharePointCrossTenantMigration.Manage.All", {}, "the identity-map upload and the moves (Graph)", false},
  };
  return *permissions;
}

std::vector<std::string> MissingApplicationPermissions(const std::set<std::string>& held, bool to_connect) {
  std::vector<std::string> missing;
  for (const RequiredPermission& required : RequiredApplicationPermissions()) {
    if (to_connect && !required.needed_to_connect) continue;
    bool granted = held.count(required.permission) > 0;
    for (const std::string& wider : required.also_granted_by) granted = granted || held.count(wider) > 0;
    if (!granted) missing.push_back(absl::StrCat(required.permission, " (needed for ", required.needed_for, ")"));
  }
  return missing;
}

}  // namespace crosstenant::tenant_connector
