#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_STATES_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_STATES_H_

// SharePoint's answers as crosstenant.v1 states. A number or name Microsoft sends that the enum table
// (enums.h) does not know becomes the explicit UNKNOWN state with the raw value beside it ("Unknown(7)"),
// never a success.

#include <cstdint>
#include <optional>
#include <string>

#include "crosstenant/v1/tenant.pb.h"
#include "nlohmann/json.hpp"

namespace crosstenant::tenant_connector::sharepoint {

namespace v1 = ::crosstenant::v1;

// A state and Microsoft's value as it was received, for the API's raw_* fields.
template <typename State>
struct WireState {
  State state;
  std::string raw;
};

// VerifySPOTenantOrgRelation's OrgRelationVerificationStatus number.
WireState<v1::TrustStatus> TrustStatusFromWire(int64_t number);
// XTenantMoveCompatibilityResult; nullopt (SharePoint answered none) is UNKNOWN with an empty raw value.
WireState<v1::CompatibilityStatus> CompatibilityFromWire(std::optional<int64_t> number);

// A move state or stage by Microsoft's name ("InProgress", "Backup"), compared without case; Graph's
// names ("completed") too.
v1::MoveState MoveStateOfName(const std::string& name);
v1::MoveStage MoveStageOfName(const std::string& name);

// One row of GetSPOCrossTenantContentMoveState's JSON string (format not published: field names are
// matched without case, the state is a name or a Multi-Geo MoveState number). `partner_host` is the
// move's target host as the caller knows it.
v1::UserContentMove MoveFromStateRow(const nlohmann::json& row, const std::string& partner_host);

}  // namespace crosstenant::tenant_connector::sharepoint

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_SHAREPOINT_STATES_H_
