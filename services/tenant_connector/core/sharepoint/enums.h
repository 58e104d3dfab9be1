#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ENUMS_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ENUMS_H_

// Microsoft's enum numbers on the SharePoint admin wire, in one table. No public source gives most of
// them: each row names where its number comes from and whether it has been confirmed on a live tenant
// (docs/sharepoint-admin-protocol.md has the same table for admins, and says how to confirm a row).
//
// Sending: `EnumNumber("OrgRelationRole", "Target")` is 2. Reading: `EnumName("OrgRelationVerificationStatus",
// 4)` is "GoodToProceed", and a number the table does not know is nullopt, which callers turn into an
// explicit UNKNOWN state carrying the raw number, never into success.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace crosstenant::tenant_connector::sharepoint {

// One row: a value of one of Microsoft's enums.
struct EnumEntry {
  const char* enum_name;   // "OrgRelationVerificationStatus"
  const char* value_name;  // "GoodToProceed"
  int64_t number;
  const char* source;  // where the number comes from
  bool confirmed;      // seen on a live tenant
};

// Every row.
const std::vector<EnumEntry>& EnumTable();

// The number of `value_name` of `enum_name`. The names are the connector's own constants: a name the
// table lacks is a programming error, and aborts.
int64_t EnumNumber(absl::string_view enum_name, absl::string_view value_name);

// The name of `number` in `enum_name`, or nullopt if the table does not know it.
std::optional<std::string> EnumName(absl::string_view enum_name, int64_t number);

// The number of a value given by name in `enum_name`, compared without case; nullopt if unknown.
std::optional<int64_t> EnumNumberOf(absl::string_view enum_name, absl::string_view value_name);

// "Unknown(7)": how an unknown number is shown in a raw_* field and in messages.
std::string UnknownValue(int64_t number);

}  // namespace crosstenant::tenant_connector::sharepoint

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_ENUMS_H_
