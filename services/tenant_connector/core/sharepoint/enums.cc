#include "services/tenant_connector/core/sharepoint/enums.h"

#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/common/logging.h"

namespace crosstenant::tenant_connector::sharepoint {
namespace {

// Sources, by how much they prove.
constexpr char kDeclarationOrder[] =
    "declaration order of the names in Microsoft's CSOM assemblies (numbers not published)";
constexpr char kGeoMoveCheck[] =
    "PnP PowerShell's numbers for the Multi-Geo geo-move compatibility check, assumed the same";
constexpr char kCliForM365[] = "CLI for Microsoft 365 sends Include as 1 in production";
constexpr char kMultiGeoMoveState[] = "PnP PowerShell's Multi-Geo MoveState numbers";

}  // namespace

const std::vector<EnumEntry>& EnumTable() {
  static const auto* table = new std::vector<EnumEntry>{
      {"OrgRelationScenario", "None", 0, kDeclarationOrder, false},
      {"OrgRelationScenario", "MnA", 1, kDeclarationOrder, false},
      {"OrgRelationRole", "None", 0, kDeclarationOrder, false},
      {"OrgRelationRole", "Source", 1, kDeclarationOrder, false},
      {"OrgRelationRole", "Target", 2, kDeclarationOrder, false},
      {"OrgRelationVerificationStatus", "NotEstablished", 0, kDeclarationOrder, false},
      {"OrgRelationVerificationStatus", "NotEstablishedByPartner", 1, kDeclarationOrder, false},
      {"OrgRelationVerificationStatus", "Dormant", 2, kDeclarationOrder, false},
      {"OrgRelationVerificationStatus", "DormantByPartner", 3, kDeclarationOrder, false},
      {"OrgRelationVerificationStatus", "GoodToProceed", 4, kDeclarationOrder, false},
      {"OrgRelationVerificationStatus", "CouldNotContactPartner", 5, kDeclarationOrder, false},
      {"XTenantMoveCompatibilityResult", "Compatible", 0, kGeoMoveCheck, false},
      {"XTenantMoveCompatibilityResult", "Incompatible", 1, kGeoMoveCheck, false},
      {"XTenantMoveCompatibilityResult", "Warning", 2, kGeoMoveCheck, false},
      {"XTenantMoveCompatibilityResult", "Error", 3, kGeoMoveCheck, false},
      {"PersonalSiteFilter", "UseServerDefault", 0, kCliForM365, true},
      {"PersonalSiteFilter", "Include", 1, kCliForM365, true},
      {"PersonalSiteFilter", "Exclude", 2, kCliForM365, true},
      {"TenantIdentityMappingUserField", "SourceUserKey", 0, kDeclarationOrder, false},
      {"TenantIdentityMappingUserField", "TargetUserPuid", 1, kDeclarationOrder, false},
      {"TenantIdentityMappingUserField", "TargetUserUpn", 2, kDeclarationOrder, false},
      {"TenantIdentityMappingUserField", "TargetUserEmail", 3, kDeclarationOrder, false},
      {"TenantIdentityMappingUserType", "None", 0, kDeclarationOrder, false},
      {"TenantIdentityMappingUserType", "RegularUser", 1, kDeclarationOrder, false},
      {"TenantIdentityMappingUserType", "AdminUser", 2, kDeclarationOrder, false},
      {"TenantIdentityMappingUserType", "GuestUser", 3, kDeclarationOrder, false},
      {"MnAWorkManagerContentType", "Odb", 0, kDeclarationOrder, false},
      {"MnAWorkManagerContentType", "Group", 1, kDeclarationOrder, false},
      {"MnAWorkManagerContentType", "RegSite", 2, kDeclarationOrder, false},
      // Move states in GetSPOCrossTenantContentMoveState's rows, when a row gives a number, not a name.
      {"MoveState", "All", -1, kMultiGeoMoveState, false},
      {"MoveState", "NotStarted", 0, kMultiGeoMoveState, false},
      {"MoveState", "InProgress", 1, kMultiGeoMoveState, false},
      {"MoveState", "Success", 2, kMultiGeoMoveState, false},
      {"MoveState", "Failed", 3, kMultiGeoMoveState, false},
      {"MoveState", "Stopped", 4, kMultiGeoMoveState, false},
      {"MoveState", "Queued", 5, kMultiGeoMoveState, false},
      {"MoveState", "NotSupported", 6, kMultiGeoMoveState, false},
      {"MoveState", "Rescheduled", 8, kMultiGeoMoveState, false},
      {"MoveDirection", "MoveOut", 0, kMultiGeoMoveState, false},
      {"MoveDirection", "MoveIn", 1, kMultiGeoMoveState, false},
      {"MoveDirection", "All", 2, kMultiGeoMoveState, false},
  };
  return *table;
}

int64_t EnumNumber(absl::string_view enum_name, absl::string_view value_name) {
  for (const EnumEntry& entry : EnumTable()) {
    if (enum_name == entry.enum_name && value_name == entry.value_name) return entry.number;
  }
  log::Error("no such SharePoint enum value", {{"enum", std::string(enum_name)}, {"value", std::string(value_name)}});
  std::abort();
}

std::optional<std::string> EnumName(absl::string_view enum_name, int64_t number) {
  for (const EnumEntry& entry : EnumTable()) {
    if (enum_name == entry.enum_name && number == entry.number) return std::string(entry.value_name);
  }
  return std::nullopt;
}

std::optional<int64_t> EnumNumberOf(absl::string_view enum_name, absl::string_view value_name) {
  for (const EnumEntry& entry : EnumTable()) {
    if (enum_name == entry.enum_name && absl::EqualsIgnoreCase(value_name, entry.value_name)) return entry.number;
  }
  return std::nullopt;
}

std::string UnknownValue(int64_t number) { return absl::StrCat("Unknown(", number, ")"); }

}  // namespace crosstenant::tenant_connector::sharepoint
