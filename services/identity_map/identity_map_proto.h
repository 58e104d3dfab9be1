#ifndef CROSSTENANT_SERVICES_IDENTITY_MAP_IDENTITY_MAP_PROTO_H_
#define CROSSTENANT_SERVICES_IDENTITY_MAP_IDENTITY_MAP_PROTO_H_

// The bridge between the identity map library and crosstenant.v1 messages, shared by the services
// that take identity maps over gRPC (orchestrator plans, connector uploads).

#include <vector>

#include "crosstenant/v1/identity_map.pb.h"
#include "services/identity_map/identity_map.h"

namespace crosstenant::identity_map {

// Structured rows as a map; a row's `line` is its 1-based position. Rows with neither a user nor a
// group are left out and reported in `problems` (BAD_ROW_KIND).
IdentityMap FromRows(const crosstenant::v1::IdentityMapRows& rows, std::vector<Problem>* problems);

// The map as rows, users first.
std::vector<crosstenant::v1::IdentityMapEntry> ToEntries(const IdentityMap& map);

// Counts and the SHA-256 (lower-case hex) of the map's canonical CSV (ToCsv).
crosstenant::v1::IdentityMapSummary Summarize(const IdentityMap& map);

}  // namespace crosstenant::identity_map

#endif  // CROSSTENANT_SERVICES_IDENTITY_MAP_IDENTITY_MAP_PROTO_H_
