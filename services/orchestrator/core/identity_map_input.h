#ifndef CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_IDENTITY_MAP_INPUT_H_
#define CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_IDENTITY_MAP_INPUT_H_

// The bridge between crosstenant.v1.IdentityMapInput (CSV text or structured rows) and the identity
// map library: parse, validate, summarise.

#include <string>
#include <vector>

#include "crosstenant/v1/identity_map.pb.h"
#include "services/identity_map/identity_map.h"

namespace crosstenant::orchestrator {

struct ParsedIdentityMap {
  identity_map::IdentityMap map;
  std::vector<crosstenant::v1::IdentityMapProblem> problems;  // every problem, in line order
  crosstenant::v1::IdentityMapSummary summary;                // counts and SHA-256 of the canonical CSV
  bool given = false;  // false when the input had neither CSV nor rows (nothing, or a staged upload)
};

ParsedIdentityMap ParseIdentityMapInput(const crosstenant::v1::IdentityMapInput& input,
                                        const std::string& expected_source_tenant_id);

}  // namespace crosstenant::orchestrator

#endif  // CROSSTENANT_SERVICES_ORCHESTRATOR_CORE_IDENTITY_MAP_INPUT_H_
