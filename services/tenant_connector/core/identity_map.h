#ifndef CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_IDENTITY_MAP_H_
#define CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_IDENTITY_MAP_H_

// Validation of Microsoft's six-column identity map (CSV or structured rows), reporting every problem
// at once as field violations named `identity_map.csv:<line>:<column>` (or `identity_map.rows[<i>]`).

#include <vector>

#include "absl/status/statusor.h"
#include "crosstenant/v1/identity_map.pb.h"

namespace crosstenant::tenant_connector {

struct ParsedIdentityMap {
  std::vector<crosstenant::v1::IdentityMapEntry> entries;
  crosstenant::v1::IdentityMapSummary summary;
};

// `allow_empty`: an empty map is fine (e.g. a call that only removes mappings).
absl::StatusOr<ParsedIdentityMap> ParseIdentityMap(const crosstenant::v1::IdentityMapInput& input, bool allow_empty);

}  // namespace crosstenant::tenant_connector

#endif  // CROSSTENANT_SERVICES_TENANT_CONNECTOR_CORE_IDENTITY_MAP_H_
