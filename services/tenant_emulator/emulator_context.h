#ifndef CROSSTENANT_SERVICES_TENANT_EMULATOR_EMULATOR_CONTEXT_H_
#define CROSSTENANT_SERVICES_TENANT_EMULATOR_EMULATOR_CONTEXT_H_

// Everything a route needs, built once by Emulator and handed to each route family.

#include <set>

#include "services/tenant_emulator/cloud_state.h"
#include "services/tenant_emulator/directory.h"
#include "services/tenant_emulator/faults.h"
#include "services/tenant_emulator/metrics.h"
#include "services/tenant_emulator/move_simulator.h"
#include "services/tenant_emulator/scaled_clock.h"
#include "services/tenant_emulator/token_service.h"

namespace crosstenant::emulator {

struct EmulatorContext {
  const Directory& directory;
  const SeedSettings& settings;
  ScaledClock& clock;
  Faults& faults;
  Accounting& accounting;
  EmulatorMetrics& metrics;
  TokenService& tokens;
  CloudState& cloud;
  MoveSimulator& moves;

  // Indexes of the tenants the current faults make unreachable.
  std::set<int> UnreachableTenants() const {
    std::set<int> out;
    for (const std::string& name : faults.Get().unreachable_tenants) {
      const int index = directory.FindTenant(name);
      if (index >= 0) out.insert(index);
    }
    return out;
  }
};

}  // namespace crosstenant::emulator

#endif  // CROSSTENANT_SERVICES_TENANT_EMULATOR_EMULATOR_CONTEXT_H_
